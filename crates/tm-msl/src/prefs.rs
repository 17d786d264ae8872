//! Layout assignment: decides the layout each block value is produced in, from
//! what its consumers need (Triton's layout propagation, backwards). `x[:, None]`
//! makes `x` take the slice of the 2-D layout; element-wise operands follow
//! their result; stores anchor their pointer's default layout; loop-carried
//! values take one layout for init, iteration argument, yield and result.

use crate::emit::Emitter;
use crate::layout::Layout;
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

    pub(crate) fn assign_prefs(&mut self) {
        let mut order = vec![];
        self.f.walk(|id| order.push(id));
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
