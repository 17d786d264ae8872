//! Layout assignment: decides the layout each block value is produced in, from
//! what its consumers need (Triton's layout propagation, backwards). `x[:, None]`
//! makes `x` take the slice of the 2-D layout; element-wise operands follow
//! their result; stores anchor their pointer's default layout; loop-carried
//! values take one layout for init, iteration argument, yield and result.
//!
//! Coalescing (Triton's coalesce pass) comes first: a rank's family holds no
//! more contiguous elements per thread than its narrowest access can load or
//! store as one vector (an unaligned row: one element per lane, so consecutive
//! lanes read consecutive addresses); a block load or store whose pointer is
//! contiguous along a dimension other than its family's fastest (a transposed
//! store) gets a family ordered by its pointer's contiguity. Once one access does, every block load and store anchors its own coalesced layout, so a
//! producer and a consumer that disagree meet in a conversion of the value
//! (through threadgroup memory, `convert.rs`) instead of one access going strided.

use std::collections::HashMap;

use crate::emit::Emitter;
use crate::layout::{BlockedFamily, Layout};
use tm_ir::{OpKind, ValueId};

impl Emitter<'_> {
    fn want(&mut self, v: ValueId, l: usize, changed: &mut bool) {
        if self.f.ty(v).is_block() && !self.prefs.contains_key(&v) {
            self.prefs.insert(v, l);
            *changed = true;
        }
    }

    fn anchor(&mut self, v: ValueId, changed: &mut bool) -> usize {
        match self.prefs.get(&v) {
            Some(&l) => l,
            None => {
                let l = self.layout_for(v);
                self.prefs.insert(v, l);
                *changed = true;
                l
            }
        }
    }

    /// How block pointer `ptr` (with `mask`) is accessed best: the dimension order by
    /// the pointer's contiguity (largest first; ties keep the rank family's order) and
    /// the contiguous elements one vector access can take along the fastest dim
    /// (contiguity, alignment and mask constancy, at most 16 bytes).
    fn access_plan(&self, ptr: ValueId, mask: Option<ValueId>) -> Option<(Vec<usize>, u32)> {
        let ty = self.f.ty(ptr).clone();
        let bytes = match ty.elem {
            tm_ir::Elem::Ptr(d) if ty.rank() >= 1 => d.size_bytes().max(1) as u64,
            _ => return None,
        };
        let def_order = match self.families.get(&ty.rank()) {
            Some(f) => f.order.clone(),
            None => (0..ty.rank()).rev().collect(),
        };
        let info = self.axis[ptr.0 as usize].clone();
        let mut order = def_order.clone();
        // Stable: equal contiguity keeps the default order.
        order.sort_by_key(|&d| std::cmp::Reverse(if ty.shape[d] > 1 { info.contiguity[d] } else { 0 }));
        if info.contiguity[order[0]] <= 1 {
            order = def_order;
        }
        let fast = order[0];
        let mut vec = info.contiguity[fast].min((info.divisibility[fast] / bytes).max(1)).min(16 / bytes);
        if let Some(m) = mask.filter(|&m| self.f.ty(m).is_block()) {
            vec = vec.min(self.axis[m.0 as usize].constancy[fast]);
        }
        Some((order, 1u32 << (63 - vec.max(1).leading_zeros())))
    }

    /// A layout already chosen for `v` or, through element-wise ops, for one of the
    /// same-shaped blocks it is computed from (Triton's forward propagation from loads).
    fn forward_pref(&self, v: ValueId, depth: u32) -> Option<usize> {
        if let Some(&l) = self.prefs.get(&v) {
            return Some(l);
        }
        let id = self.f.def_op(v)?;
        let op = self.f.op(id);
        if depth > 16 || !op.kind.is_elementwise() {
            return None;
        }
        let shape = &self.f.ty(v).shape;
        op.operands.iter().filter(|&&o| &self.f.ty(o).shape == shape).find_map(|&o| self.forward_pref(o, depth + 1))
    }

    /// Coalescing, before the propagation (see the module doc): a rank's family holds
    /// no more elements per thread than its narrowest access can take as one vector,
    /// so that scalar accesses give consecutive lanes consecutive addresses and every
    /// block of the rank still shares one family (no conversions); an access whose
    /// pointer is contiguous along another dim than the family's fastest gets a family
    /// of its own order, and then every block load and store anchors its own layout.
    fn coalesce(&mut self, order: &[tm_ir::OpId]) {
        let mut accesses = vec![];
        for &id in order {
            let op = self.f.op(id);
            match op.kind {
                OpKind::Load { has_mask, .. } if self.f.ty(op.results[0]).is_block() => {
                    accesses.push((op.results[0], op.operands[0], has_mask.then(|| op.operands[1])))
                }
                OpKind::Store { has_mask } => accesses.push((op.operands[0], op.operands[0], has_mask.then(|| op.operands[2]))),
                _ => {}
            }
        }
        // 1. The narrowest vector per rank, among accesses in the family's order.
        let mut narrowest: HashMap<usize, u32> = HashMap::new();
        let mut plans = vec![];
        for &(_, ptr, mask) in &accesses {
            let plan = self.access_plan(ptr, mask);
            if let Some((order, vec)) = &plan {
                let rank = order.len();
                let fam = self.families.get(&rank).cloned();
                if fam.as_ref().is_some_and(|f| &f.order == order) {
                    let e = narrowest.entry(rank).or_insert(*vec);
                    *e = (*e).min(*vec);
                }
            }
            plans.push(plan);
        }
        for (rank, vec) in narrowest {
            let Some(fam) = self.families.get(&rank).cloned() else { continue };
            let fast = fam.order[0];
            if vec < fam.size_per_thread[fast] {
                let shape = self.largest_block(rank);
                self.families.insert(rank, BlockedFamily::with_order_vec(&shape, self.num_warps, fam.order.clone(), vec));
            }
        }
        // 2. Accesses in another order than their family's.
        let mut anchors = vec![];
        let mut any = false;
        for (&(target, ptr, _), plan) in accesses.iter().zip(plans) {
            let Some((order, vec)) = plan else { continue };
            let ty = self.f.ty(ptr).clone();
            let default = self.default_layout(&ty);
            if self.layouts[default].family.order == order {
                anchors.push((target, default));
            } else {
                let fam = BlockedFamily::with_order_vec(&ty.shape, self.num_warps, order, vec);
                anchors.push((target, self.intern(Layout::new(fam, ty.shape.clone()))));
                any = true;
            }
        }
        if any {
            for (v, l) in anchors {
                self.prefs.entry(v).or_insert(l);
            }
        }
    }

    /// The largest block shape of rank `rank` (the one its family is built for).
    fn largest_block(&self, rank: usize) -> Vec<u32> {
        let mut best: Vec<u32> = vec![];
        for v in &self.f.values {
            if v.ty.is_block() && v.ty.rank() == rank && (best.is_empty() || v.ty.numel() > best.iter().map(|&s| s as u64).product()) {
                best = v.ty.shape.clone();
            }
        }
        best
    }

    pub(crate) fn assign_prefs(&mut self) {
        let mut order = vec![];
        self.f.walk(|id| order.push(id));
        self.coalesce(&order);
        // Iterate to a fixed point: loop results feed yields defined earlier.
        for _ in 0..8 {
            let mut changed = false;
            for &id in order.iter().rev() {
                let op = self.f.op(id);
                match &op.kind {
                    OpKind::Store { .. } | OpKind::AtomicRmw { .. } | OpKind::AtomicCas if self.f.ty(op.operands[0]).is_block() => {
                        let l = self.anchor(op.operands[0], &mut changed);
                        for &o in &op.operands[1..] {
                            self.want(o, l, &mut changed);
                        }
                    }
                    OpKind::For => {
                        let region = &op.regions[0];
                        for (i, &res) in op.results.iter().enumerate() {
                            if !self.f.ty(res).is_block() {
                                continue;
                            }
                            let arg = region.args[1 + i];
                            let yv = region.ops.last().and_then(|&y| self.f.op(y).operands.get(i).copied());
                            let l = match (self.prefs.get(&res), self.prefs.get(&arg)) {
                                (Some(&l), _) | (None, Some(&l)) => l,
                                (None, None) => match yv.and_then(|y| self.forward_pref(y, 0)) {
                                    Some(l) if self.layouts[l].shape() == self.f.ty(res).shape => l,
                                    _ => self.layout_for(res),
                                },
                            };
                            self.want(res, l, &mut changed);
                            self.want(arg, l, &mut changed);
                            self.want(op.operands[3 + i], l, &mut changed);
                            if let Some(&y) = region.ops.last() {
                                let yv = self.f.op(y).operands[i];
                                self.want(yv, l, &mut changed);
                            }
                        }
                    }
                    OpKind::Reduce { axis } => {
                        // Inputs keep their layout; the result is its slice along the axis.
                        let l = self.anchor(op.operands[0], &mut changed);
                        for &o in &op.operands[1..] {
                            self.want(o, l, &mut changed);
                        }
                        let lin = self.layouts[l].clone();
                        let fd = lin.embed[*axis as usize];
                        let mut eshape = lin.eshape.clone();
                        eshape[fd] = 1;
                        let mut embed = lin.embed.clone();
                        embed.remove(*axis as usize);
                        let out = self.intern(Layout { family: lin.family, eshape, embed });
                        for &r in &op.results {
                            self.want(r, out, &mut changed);
                        }
                    }
                    OpKind::While => {
                        for (i, &res) in op.results.iter().enumerate() {
                            if !self.f.ty(res).is_block() {
                                continue;
                            }
                            let l = self.anchor(res, &mut changed);
                            self.want(op.operands[i], l, &mut changed);
                            for r in &op.regions {
                                self.want(r.args[i], l, &mut changed);
                            }
                            if let Some(&y) = op.regions[1].ops.last() {
                                let yv = self.f.op(y).operands[i];
                                self.want(yv, l, &mut changed);
                            }
                        }
                    }
                    OpKind::If => {
                        for (i, &res) in op.results.iter().enumerate() {
                            if !self.f.ty(res).is_block() {
                                continue;
                            }
                            let l = self.anchor(res, &mut changed);
                            for r in &op.regions {
                                if let Some(&y) = r.ops.last() {
                                    let yv = self.f.op(y).operands[i];
                                    self.want(yv, l, &mut changed);
                                }
                            }
                        }
                    }
                    kind => {
                        let Some(&res) = op.results.first() else { continue };
                        let Some(&l) = self.prefs.get(&res) else { continue };
                        let operands = op.operands.clone();
                        match kind {
                            OpKind::ExpandDims(axis) => {
                                let sl: Layout = self.layouts[l].without_dim(*axis as usize);
                                let sl = self.intern(sl);
                                self.want(operands[0], sl, &mut changed);
                            }
                            OpKind::Broadcast => {
                                let (s, o) = (self.f.ty(operands[0]).shape.clone(), self.f.ty(res).shape.clone());
                                let ones: Vec<usize> = (0..o.len()).filter(|&i| s[i] == 1 && o[i] != 1).collect();
                                let sl = self.layouts[l].with_unit_dims(&ones);
                                let sl = self.intern(sl);
                                self.want(operands[0], sl, &mut changed);
                            }
                            k if k.is_elementwise() || matches!(k, OpKind::Load { .. }) => {
                                for o in operands {
                                    self.want(o, l, &mut changed);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }
}
