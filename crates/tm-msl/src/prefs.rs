//! Layout assignment: decides the layout each block value is produced in, from
//! what its consumers need (Triton's layout propagation, backwards). `x[:, None]`
//! makes `x` take the slice of the 2-D layout; element-wise operands follow
//! their result; stores anchor their pointer's default layout; loop-carried
//! values take one layout for init, iteration argument, yield and result.
//!
//! Coalescing (Triton's coalesce pass) comes first: a block load or store whose
//! pointer is contiguous along a dimension other than its rank's family's fastest
//! (a transposed store) gets a family ordered by its pointer's contiguity. Once one
//! access does, every block load and store anchors its own coalesced layout, so a
//! producer and a consumer that disagree meet in a conversion of the value
//! (through threadgroup memory, `convert.rs`) instead of one access going strided.

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

    /// The layout block pointer `ptr` is accessed best in: the family ordered by the
    /// pointer's contiguity (largest first; ties keep the default order), and whether
    /// that order differs from the rank's default family.
    fn coalesced(&mut self, ptr: ValueId) -> Option<(usize, bool)> {
        let ty = self.f.ty(ptr).clone();
        if ty.rank() < 2 {
            return None;
        }
        let default = self.default_layout(&ty);
        let def_order = self.layouts[default].family.order.clone();
        let contig = &self.axis[ptr.0 as usize].contiguity;
        let mut order = def_order.clone();
        // Stable: equal contiguity keeps the default order.
        order.sort_by_key(|&d| std::cmp::Reverse(if ty.shape[d] > 1 { contig[d] } else { 0 }));
        if contig[order[0]] <= 1 || order[0] == def_order[0] {
            return Some((default, false));
        }
        let fam = BlockedFamily::with_order(&ty.shape, self.num_warps, order);
        Some((self.intern(Layout::new(fam, ty.shape.clone())), true))
    }

    /// Anchors block loads and stores to their coalesced layouts when one of them
    /// needs another order than its rank's family (see the module doc).
    fn coalesce(&mut self, order: &[tm_ir::OpId]) {
        let mut anchors = vec![];
        let mut any = false;
        for &id in order {
            let op = self.f.op(id);
            let target = match op.kind {
                OpKind::Load { .. } if self.f.ty(op.results[0]).is_block() => op.results[0],
                OpKind::Store { .. } => op.operands[0],
                _ => continue,
            };
            if let Some((l, deviates)) = self.coalesced(op.operands[0]) {
                anchors.push((target, l));
                any |= deviates;
            }
        }
        if any {
            for (v, l) in anchors {
                self.prefs.entry(v).or_insert(l);
            }
        }
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
                            let l = match (self.prefs.get(&res), self.prefs.get(&arg)) {
                                (Some(&l), _) | (None, Some(&l)) => l,
                                (None, None) => self.layout_for(res),
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
