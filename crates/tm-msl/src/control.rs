//! `scf.for` and `scf.if`: loop-carried values and `if` results live in
//! mutable storage declared before the construct; `Yield` assigns to it.

use crate::emit::{const_decl, elem_decl, tname, Emitter, Repr, R};
use tm_ir::{DType, Loc, Op, ValueId};

impl Emitter<'_> {
    /// Declares mutable storage for `v` (a variable, or an array for blocks)
    /// and optionally initialises it from `init`.
    fn declare_storage(&mut self, v: ValueId, init: Option<ValueId>, loc: Loc) -> R<()> {
        let ty = self.f.ty(v).clone();
        let name = format!("v{}", v.0);
        if ty.is_block() {
            let l = self.layout_for(v);
            let regs = self.declare_array(&name, &ty, l, loc)?;
            if let Some(i) = init {
                let src = self.get(i, l)?;
                let e = Self::at(&src, "r");
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {e};"));
            }
            self.reprs.insert(v, Repr::Array { name, layout: l });
        } else {
            let decl = elem_decl(ty.elem, loc)?;
            match init {
                Some(i) => {
                    let e = self.elem(i, "0");
                    self.line(format!("{decl} {name} = {e};"));
                }
                None => self.line(format!("{decl} {name};")),
            }
            self.reprs.insert(v, Repr::Scalar(name));
        }
        Ok(())
    }

    fn nested(&mut self, region: &tm_ir::Region, targets: Vec<ValueId>) -> R<()> {
        self.depth += 1;
        self.yield_targets.push(targets);
        let r = self.region(&region.ops);
        self.yield_targets.pop();
        self.leave_scope();
        self.depth -= 1;
        r
    }

    /// For each carried value of a `for`: is it a dot accumulator that can stay
    /// in simdgroup matrices for the whole loop? (Used only as the `acc` of one
    /// float `tl.dot` in the body, whose result is only yielded back.)
    fn mma_carried(&self, op: &Op) -> Vec<bool> {
        let region = &op.regions[0];
        let Some(&yield_id) = region.ops.last() else { return vec![false; op.results.len()] };
        let yields = &self.f.op(yield_id).operands;
        (0..op.results.len())
            .map(|i| {
                let arg = region.args[1 + i];
                let ty = self.f.ty(op.results[i]);
                if ty.rank() != 2 || ty.dtype() != Some(DType::F32) || self.use_count.get(&arg) != Some(&1) {
                    return false;
                }
                region.ops.iter().any(|&id| {
                    let d = self.f.op(id);
                    d.kind == tm_ir::OpKind::Dot
                        && d.operands[2] == arg
                        && self.f.ty(d.operands[0]).dtype().is_some_and(|t| t.is_float())
                        && self.use_count.get(&d.results[0]) == Some(&1)
                        && yields.get(i) == Some(&d.results[0])
                })
            })
            .collect()
    }

    pub(crate) fn for_op(&mut self, op: &Op) -> R<()> {
        let (lb, ub, step) = (op.operands[0], op.operands[1], op.operands[2]);
        let mma = self.mma_carried(op);
        for (i, &res) in op.results.iter().enumerate() {
            if mma[i] {
                let shape = self.f.ty(res).shape.clone();
                let plan = self.mma_plan(shape[0], shape[1]);
                let name = format!("v{}_acc", res.0);
                self.frags_from_value(&name, &plan, op.operands[3 + i], shape[0], shape[1], op.loc)?;
                self.fragments.insert(res, name.clone());
                self.fragments.insert(op.regions[0].args[1 + i], name);
                continue;
            }
            self.declare_storage(res, Some(op.operands[3 + i]), op.loc)?;
        }
        let region = &op.regions[0];
        let iv = region.args[0];
        for (i, (&arg, &res)) in region.args[1..].iter().zip(&op.results).enumerate() {
            if mma[i] {
                continue;
            }
            let r = self.repr(res).clone();
            self.reprs.insert(arg, r);
        }
        let d = self.f.ty(iv).dtype().unwrap_or(DType::I32);
        let t = tname(d, op.loc)?;
        let ivn = format!("v{}", iv.0);
        self.reprs.insert(iv, Repr::Scalar(ivn.clone()));
        let (l, u, s) = (self.elem(lb, "0"), self.elem(ub, "0"), self.elem(step, "0"));
        let after = self.enter_loop(op);
        self.line(format!("for ({t} {ivn} = {l}; {ivn} < {u}; {ivn} += {s}) {{"));
        self.nested(region, op.results.clone())?;
        self.line("}");
        self.leave_loop(after);
        // Accumulators kept in simdgroup matrices come back to registers once.
        for (i, &res) in op.results.iter().enumerate() {
            if mma[i] && self.used.contains(&res) {
                let shape = self.f.ty(res).shape.clone();
                let plan = self.mma_plan(shape[0], shape[1]);
                let name = self.fragments[&res].clone();
                self.frags_to_array(&name, &plan, res, shape[0], shape[1], op.loc)?;
            }
        }
        Ok(())
    }

    /// `while (true) { cond; if (!cond) break; body; next values }`.
    pub(crate) fn while_op(&mut self, op: &Op) -> R<()> {
        for (i, &res) in op.results.iter().enumerate() {
            self.declare_storage(res, Some(op.operands[i]), op.loc)?;
        }
        for region in &op.regions {
            for (&arg, &res) in region.args.iter().zip(&op.results) {
                let r = self.repr(res).clone();
                self.reprs.insert(arg, r);
            }
        }
        let after = self.enter_loop(op);
        self.line("while (true) {");
        self.depth += 1;
        let cond_region = &op.regions[0];
        let (last, init) = cond_region.ops.split_last().expect("a condition region ends with its yield");
        self.region(init)?;
        let c = self.elem(self.f.op(*last).operands[0], "0");
        self.line(format!("if (!({c})) break;"));
        self.yield_targets.push(op.results.clone());
        let body = self.region(&op.regions[1].ops);
        self.yield_targets.pop();
        self.leave_scope();
        self.depth -= 1;
        body?;
        self.line("}");
        self.leave_loop(after);
        Ok(())
    }

    pub(crate) fn if_op(&mut self, op: &Op) -> R<()> {
        for &res in &op.results {
            self.declare_storage(res, None, op.loc)?;
        }
        let c = self.elem(op.operands[0], "0");
        let before = self.pending_snapshot();
        self.line(format!("if ({c}) {{"));
        self.nested(&op.regions[0], op.results.clone())?;
        let then_left = self.switch_branch(before);
        self.line("} else {");
        self.nested(&op.regions[1], op.results.clone())?;
        self.line("}");
        self.merge_branches(then_left);
        Ok(())
    }

    /// Assigns yielded values to the enclosing op's storage, through
    /// temporaries first so that `a, b = b, a` reads the old values.
    pub(crate) fn yield_op(&mut self, op: &Op) -> R<()> {
        let targets = self.yield_targets.last().cloned().unwrap_or_default();
        let mut staged = vec![];
        for (&t, &v) in targets.iter().zip(&op.operands) {
            if self.fragments.contains_key(&t) {
                // The dot already accumulated into the loop's fragments.
                continue;
            }
            let target = self.repr(t).clone();
            let src = match &target {
                Repr::Array { layout, .. } => self.get(v, *layout)?,
                _ => self.repr(v).clone(),
            };
            staged.push((target, src, self.f.ty(v).clone()));
        }
        let storage: Vec<String> = staged
            .iter()
            .map(|(t, _, _)| match t {
                Repr::Scalar(n) | Repr::Splat(n) | Repr::Array { name: n, .. } => n.clone(),
            })
            .collect();
        let reads_storage = staged.iter().any(|(_, s, _)| match s {
            Repr::Scalar(n) | Repr::Array { name: n, .. } => storage.contains(n),
            Repr::Splat(n) => storage.iter().any(|st| n.contains(st.as_str())),
        });
        if reads_storage {
            for (i, (target, src, ty)) in staged.iter_mut().enumerate() {
                self.tmp_counter += 1;
                let tmp = format!("tm_y{}_{i}", self.tmp_counter);
                let decl = elem_decl(ty.elem, op.loc)?;
                if let Repr::Array { layout, .. } = target {
                    let regs = self.layouts[*layout].regs();
                    let e = Self::at(src, "r");
                    self.line(format!("{decl} {tmp}[{regs}];"));
                    self.count_private(regs, ty.elem);
                    self.line(format!("for (uint r = 0; r < {regs}u; ++r) {tmp}[r] = {e};"));
                    *src = Repr::Array { name: tmp, layout: *layout };
                } else {
                    let e = Self::at(src, "0");
                    self.line(format!("{} {tmp} = {e};", const_decl(&decl)));
                    *src = Repr::Scalar(tmp);
                }
            }
        }
        for (target, src, _) in staged {
            match target {
                Repr::Array { name, layout } => {
                    let regs = self.layouts[layout].regs();
                    let e = Self::at(&src, "r");
                    if e != format!("{name}[r]") {
                        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {e};"));
                    }
                }
                Repr::Scalar(name) | Repr::Splat(name) => {
                    let e = Self::at(&src, "0");
                    if e != name {
                        self.line(format!("{name} = {e};"));
                    }
                }
            }
        }
        Ok(())
    }
}
