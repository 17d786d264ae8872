//! Structured control flow: `for` over `range`/`tl.range` (an `scf.for` with
//! loop-carried values), `tl.static_range` (unrolled at compile time), and
//! `if` on a runtime scalar (an `scf.if` yielding the names both branches set).

use crate::lower::{Flow, Lowerer, R};
use crate::semantic::Operand;
use crate::value::{BlockPtr, ConstValue, Val};
use std::sync::Arc;
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use std::collections::HashMap;
use tm_ir::{DType, OpKind, Region, Type, ValueDef, ValueId};

/// The name under which a runtime `if` merges the value its branches return
/// (not a Python identifier, so no local can clash with it).
const RET: &str = "<return value>";

/// Whether two front-end values are the same value (identity for block pointers
/// and descriptors).
pub(crate) fn same_val(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Tensor(x), Val::Tensor(y)) => x == y,
        (Val::Const(x), Val::Const(y)) => x == y,
        (Val::BlockPtr(x), Val::BlockPtr(y)) => Arc::ptr_eq(x, y),
        (Val::Descriptor(x), Val::Descriptor(y)) => Arc::ptr_eq(x, y),
        (Val::Tuple(x), Val::Tuple(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_val(p, q)),
        (Val::JitFunction(x), Val::JitFunction(y)) => Arc::ptr_eq(x, y),
        (Val::Module(x), Val::Module(y)) => x == y,
        (Val::Namespace(x), Val::Namespace(y)) => Arc::ptr_eq(x, y),
        (Val::Builtin(x), Val::Builtin(y)) => x == y,
        (Val::LoopIndex(x), Val::LoopIndex(y)) => x == y,
        _ => false,
    }
}

/// Whether a `return` appears in `stmts` outside loops.
pub(crate) fn contains_return(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Return(_) => true,
        Stmt::If(i) => contains_return(&i.body) || i.elif_else_clauses.iter().any(|c| contains_return(&c.body)),
        _ => false,
    })
}

/// Names assigned anywhere in `stmts` (in first-assignment order).
pub(crate) fn assigned_names(stmts: &[Stmt], out: &mut Vec<String>) {
    fn targets(e: &Expr, out: &mut Vec<String>) {
        match e {
            Expr::Name(n) => {
                if !out.iter().any(|x| x == n.id.as_str()) {
                    out.push(n.id.to_string());
                }
            }
            Expr::Tuple(t) => t.elts.iter().for_each(|e| targets(e, out)),
            _ => {}
        }
    }
    for s in stmts {
        match s {
            Stmt::Assign(a) => a.targets.iter().for_each(|t| targets(t, out)),
            Stmt::AugAssign(a) => targets(&a.target, out),
            Stmt::AnnAssign(a) => targets(&a.target, out),
            Stmt::For(f) => {
                targets(&f.target, out);
                assigned_names(&f.body, out);
            }
            Stmt::While(w) => assigned_names(&w.body, out),
            Stmt::If(i) => {
                assigned_names(&i.body, out);
                for c in &i.elif_else_clauses {
                    assigned_names(&c.body, out);
                }
            }
            _ => {}
        }
    }
}

impl Lowerer<'_> {
    /// The element type a carried value gets: its own, or for a Python number the
    /// type it would have as a literal.
    pub(crate) fn carried_type(&self, v: &Val) -> Option<Type> {
        match v {
            Val::Tensor(t) => Some(self.f.ty(*t).clone()),
            Val::Const(c @ (ConstValue::Int(_) | ConstValue::Float(_) | ConstValue::Bool(_))) => {
                crate::semantic::literal_dtype(c).map(Type::scalar)
            }
            _ => None,
        }
    }

    /// Lowers `body` into a fresh block, returning its ops and the names it changed.
    fn lower_region(&mut self, body: &[Stmt], range: TextRange) -> R<(Vec<tm_ir::OpId>, HashMap<String, Val>)> {
        self.lower_region_ret(body, range, false).map(|(ops, locals, _)| (ops, locals))
    }

    /// Like `lower_region`; `allow_return` accepts an early `return` ending the
    /// region, for `if` branches that absorbed the following code. Also returns
    /// the value the region returns (`None` when it falls through).
    fn lower_region_ret(
        &mut self,
        body: &[Stmt],
        range: TextRange,
        allow_return: bool,
    ) -> R<(Vec<tm_ir::OpId>, HashMap<String, Val>, Option<Val>)> {
        self.blocks.push(vec![]);
        let flow = self.body(body).and_then(|f| self.export_block_ptrs(range).map(|_| f));
        let ops = self.blocks.pop().unwrap_or_default();
        let returned = self.take_returned();
        if flow? == Flow::Return {
            if !allow_return {
                return Err(self.err(range, "`return` inside a loop is not supported"));
            }
            return Ok((ops, self.locals().clone(), Some(returned.unwrap_or(Val::Const(ConstValue::None)))));
        }
        Ok((ops, self.locals().clone(), None))
    }

    pub(crate) fn for_stmt(&mut self, f: &ast::StmtFor) -> R<Flow> {
        if !f.orelse.is_empty() {
            return Err(self.err(f.range, "`for ... else` is not supported"));
        }
        let Expr::Call(call) = f.iter.as_ref() else {
            return Err(self.err(f.iter.range(), "only `for` over range(), tl.range() or tl.static_range() is supported"));
        };
        let callee = self.expr(&call.func)?;
        let Val::Builtin(kind @ ("range" | "static_range")) = callee else {
            return Err(self.err(f.iter.range(), "only `for` over range(), tl.range() or tl.static_range() is supported"));
        };
        let Expr::Name(target) = f.target.as_ref() else {
            return Err(self.err(f.target.range(), "the loop variable must be a single name"));
        };
        let mut pos = vec![];
        for a in call.arguments.args.iter() {
            pos.push((self.expr(a)?, a.range()));
        }
        // The bounds by keyword, as upstream's tl.range/tl.static_range(arg1, arg2=None, step=None).
        let mut by_name: [Option<(Val, TextRange)>; 3] = [None, None, None];
        for k in call.arguments.keywords.iter() {
            // tl.range hints (num_stages, loop_unroll_factor, ...) do not change results.
            let name = k.arg.as_ref().map(|n| n.as_str()).unwrap_or("");
            let slot = match name {
                "arg1" => 0,
                "arg2" => 1,
                "step" => 2,
                "num_stages" | "loop_unroll_factor" | "disallow_acc_multi_buffer" | "flatten" | "warp_specialize" | "disable_licm" => continue,
                _ => return Err(self.err(k.range, format!("range() got an unexpected keyword argument '{name}'"))),
            };
            if slot < pos.len() {
                return Err(self.err(k.range, format!("range() got multiple values for argument '{name}'")));
            }
            by_name[slot] = Some((self.expr(&k.value)?, k.value.range()));
        }
        let [a1, a2, step_kw] = by_name;
        for (i, v) in [a1, a2].into_iter().enumerate() {
            match v {
                Some(v) if pos.len() == i => pos.push(v),
                Some((_, r)) => return Err(self.err(r, "range(): arg2 given without arg1")),
                None => {}
            }
        }
        if let Some(st) = step_kw {
            match pos.len() {
                // range(end, step=s) counts from 0, as upstream's (arg1, arg2=None, step).
                1 => pos.insert(0, (Val::Const(ConstValue::Int(0)), call.range)),
                2 => {}
                _ => return Err(self.err(st.1, "range() got multiple values for argument 'step'")),
            }
            pos.push(st);
        }
        let (start, end, step) = match pos.len() {
            1 => ((Val::Const(ConstValue::Int(0)), call.range), pos[0].clone(), (Val::Const(ConstValue::Int(1)), call.range)),
            2 => (pos[0].clone(), pos[1].clone(), (Val::Const(ConstValue::Int(1)), call.range)),
            3 => (pos[0].clone(), pos[1].clone(), pos[2].clone()),
            _ => return Err(self.err(call.range, "range() takes 1 to 3 arguments")),
        };
        if kind == "static_range" {
            return self.static_for(f, target.id.as_str(), &start, &end, &step);
        }
        // A negative constant step counts down, as upstream lowers it: the loop runs
        // from `end` up to `start` by `-step`, and the body sees `start + end - iv`.
        let mut step = step;
        let mut reverse = false;
        if let (Val::Const(c), r) = &step {
            match c.as_int() {
                Some(0) => return Err(self.err(*r, "range() arg 3 must not be zero")),
                Some(s) if s < 0 => {
                    step = (Val::Const(ConstValue::Int(-s)), *r);
                    reverse = true;
                }
                _ => {}
            }
        }
        // The induction variable's type: int32 unless a bound needs int64.
        let mut iv_ty = DType::I32;
        for (v, r) in [&start, &end, &step] {
            match v {
                Val::Tensor(t) => match self.f.ty(*t).dtype() {
                    Some(d) if d.is_int() && !d.is_bool() && !self.f.ty(*t).is_block() => {
                        iv_ty = crate::semantic::integer_promote(iv_ty, d)
                    }
                    _ => return Err(self.err(*r, "range() bounds must be integer scalars")),
                },
                Val::Const(c) => match c.as_int() {
                    Some(i) if i32::try_from(i).is_err() => iv_ty = DType::I64,
                    Some(_) => {}
                    None => return Err(self.err(*r, "range() bounds must be integers")),
                },
                _ => return Err(self.err(*r, "range() bounds must be integers")),
            }
        }
        let mut bounds = vec![];
        for (v, r) in [&start, &end, &step] {
            let o = self.operand(v, *r)?;
            bounds.push(self.materialize(&o, iv_ty, *r)?);
        }
        let reverse = reverse.then(|| {
            let (s, e) = (bounds[0], bounds[1]);
            bounds.swap(0, 1);
            (s, e)
        });

        // Loop-carried values: names the body assigns that exist before the loop.
        let mut names = vec![];
        assigned_names(&f.body, &mut names);
        let mut before = self.locals().clone();
        let mut carried: Vec<(String, Type)> = vec![];
        for n in &names {
            if n == target.id.as_str() {
                continue;
            }
            if let Some(v) = before.get(n) {
                if let Some(t) = self.carried_type(v) {
                    carried.push((n.clone(), t));
                }
            }
        }
        let templates = self.block_ptr_templates(&names, &mut before, &mut carried);
        self.carried_bps.push(templates.clone());
        let r = self.for_loop_body(f, target.id.as_str(), iv_ty, None, bounds, reverse, before, carried, &templates);
        self.carried_bps.pop();
        r
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_loop_body(
        &mut self,
        f: &ast::StmtFor,
        iv_name: &str,
        iv_ty: DType,
        index: Option<(i64, i64)>,
        bounds: Vec<ValueId>,
        reverse: Option<(ValueId, ValueId)>,
        before: HashMap<String, Val>,
        mut carried: Vec<(String, Type)>,
        templates: &[(String, Arc<BlockPtr>)],
    ) -> R<Flow> {
        // A dry run finds the types the body gives carried names (a Python
        // number before the loop takes the type the loop computes, as in Triton).
        self.discover_carried_types(&f.body, f.range, &before, &mut carried, &mut |s, c| {
            s.bind_loop_args(iv_name, iv_ty, index, c);
        })?;
        // The real lowering.
        let inits = self.carried_inits(&before, &carried, f.range)?;
        let (iv, args) = self.bind_loop_args(iv_name, iv_ty, index, &carried);
        self.carry_const(&inits, &args);
        // Counting down: the body's variable is `(start - iv) + end`.
        let mut prologue = vec![];
        if let Some((start, end)) = reverse {
            let t = Type::scalar(iv_ty);
            let d = self.f.create_op(OpKind::Binary(tm_ir::BinOp::Sub), vec![start, iv], vec![t.clone()], vec![], self.loc);
            let dv = self.f.op(d).results[0];
            let a = self.f.create_op(OpKind::Binary(tm_ir::BinOp::Add), vec![dv, end], vec![t], vec![], self.loc);
            let av = self.f.op(a).results[0];
            prologue = vec![d, a];
            self.locals().insert(iv_name.to_string(), Val::Tensor(av));
        }
        let (body_ops, after) = self.lower_region(&f.body, f.range)?;
        let mut ops = prologue;
        ops.extend(body_ops);
        let yields = self.carried_yields(&carried, &args, &after, f.range, index.is_some())?;
        let y = self.f.create_op(OpKind::Yield, yields, vec![], vec![], self.loc);
        ops.push(y);
        let mut region_args = vec![iv];
        region_args.extend(&args);
        let region = Region { args: region_args, ops };
        let mut operands = bounds;
        operands.extend(inits);
        let result_types: Vec<Type> = carried.iter().map(|(_, t)| t.clone()).collect();
        let op = self.emit(OpKind::For, operands, result_types, vec![region]);
        let results = self.f.op(op).results.clone();
        self.carry_const(&args, &results);
        // After the loop: names as before, carried ones bound to the results.
        *self.locals() = before;
        for ((n, _), r) in carried.iter().zip(results) {
            self.locals().insert(n.clone(), Val::Tensor(r));
        }
        let _ = templates;
        self.rebind_block_ptrs();
        Ok(Flow::Next)
    }

    /// `to[i]` is a const pointer when `from[i]` is (loop arguments and results).
    fn carry_const(&mut self, from: &[ValueId], to: &[ValueId]) {
        for (a, b) in from.iter().zip(to) {
            if self.const_ptrs.contains(a) {
                self.const_ptrs.insert(*b);
            }
        }
    }

    /// Creates region arguments for the induction variable and carried values and binds them.
    /// `index`: the bounds of a static loop's index, which is bound as a [`Val::LoopIndex`].
    fn bind_loop_args(&mut self, iv_name: &str, iv_ty: DType, index: Option<(i64, i64)>, carried: &[(String, Type)]) -> (ValueId, Vec<ValueId>) {
        let iv = self.f.new_value(Type::scalar(iv_ty), ValueDef::RegionArg);
        let v = match index {
            Some((lo, hi)) => Val::LoopIndex(crate::value::LoopIndex { v: iv, lo, hi }),
            None => Val::Tensor(iv),
        };
        self.locals().insert(iv_name.to_string(), v);
        (iv, self.bind_carried(carried))
    }

    /// The values carried names start a loop with, converted to their carried types.
    fn carried_inits(&mut self, before: &HashMap<String, Val>, carried: &[(String, Type)], range: TextRange) -> R<Vec<ValueId>> {
        let mut inits = vec![];
        for (n, t) in carried {
            let v = before.get(n).cloned().expect("carried names exist before the loop");
            let x = if t.elem.is_ptr() {
                self.tensor(&v, range)?
            } else {
                let o = self.operand(&v, range)?;
                self.materialize(&o, t.dtype().unwrap_or(DType::I32), range)?
            };
            inits.push(self.broadcast_to(x, &t.shape, range)?);
        }
        Ok(inits)
    }

    /// The values a loop body yields for its carried names (unchanged names
    /// yield their region argument); a change of type is an error. A Python number
    /// (or a static loop's index) assigned to a carried name takes its literal type, as
    /// upstream's loop-carried values do; `tensors_only` (a static loop kept as a loop,
    /// whose unrolled form would carry the number itself) refuses it instead.
    fn carried_yields(
        &mut self,
        carried: &[(String, Type)],
        args: &[ValueId],
        after: &HashMap<String, Val>,
        range: TextRange,
        tensors_only: bool,
    ) -> R<Vec<ValueId>> {
        let mut yields = vec![];
        for ((n, t), &arg) in carried.iter().zip(args) {
            let v = match after.get(n) {
                Some(Val::Tensor(v)) => *v,
                None => arg,
                Some(Val::LoopIndex(li)) if !tensors_only => li.v,
                Some(c @ Val::Const(ConstValue::Int(_) | ConstValue::Float(_) | ConstValue::Bool(_))) if !tensors_only => {
                    self.tensor(c, range)?
                }
                Some(other) => {
                    return Err(self.err(range, format!("loop-carried variable '{n}' becomes a {} inside the loop", other.kind_name())))
                }
            };
            if self.f.ty(v) != t || self.const_ptrs.contains(&v) != self.const_ptrs.contains(&arg) {
                return Err(self.err(
                    range,
                    format!(
                        "Loop-carried variable {n} has initial type {} but is re-assigned to {} in loop! Please make sure that the type stays consistent.",
                        self.type_name_of(arg),
                        self.type_name_of(v)
                    ),
                ));
            }
            yields.push(v);
        }
        Ok(yields)
    }

    /// `for name in tl.static_range(start, end, step)`: kept as a loop where the body allows
    /// it (`static_loop.rs`), unrolled otherwise.
    fn static_for(&mut self, f: &ast::StmtFor, name: &str, start: &(Val, TextRange), end: &(Val, TextRange), step: &(Val, TextRange)) -> R<Flow> {
        let get = |s: &Self, (v, r): &(Val, TextRange)| match v {
            Val::Const(c) => c.as_int().ok_or_else(|| s.err(*r, "tl.static_range bounds must be tl.constexpr integers")),
            _ => Err(s.err(*r, "tl.static_range bounds must be tl.constexpr integers")),
        };
        let (a, b, s) = (get(self, start)?, get(self, end)?, get(self, step)?);
        if s == 0 {
            return Err(self.err(step.1, "range() step must not be zero"));
        }
        let count = if s > 0 { (b - a + s - 1).max(0) / s } else { (a - b - s - 1).max(0) / -s };
        if let Some(flow) = self.static_loop(f, name, a, s, count)? {
            return Ok(flow);
        }
        if count > 4096 {
            return Err(self.err(f.range, format!("tl.static_range would unroll {count} iterations (at most 4096; the body needs the index as a compile-time constant)")));
        }
        let mut i = a;
        for _ in 0..count {
            self.locals().insert(name.to_string(), Val::Const(ConstValue::Int(i)));
            if self.body(&f.body)? == Flow::Return {
                return Err(self.err(f.range, "`return` inside a loop is not supported"));
            }
            i += s;
        }
        Ok(Flow::Next)
    }

    pub(crate) fn while_stmt(&mut self, w: &ast::StmtWhile) -> R<Flow> {
        if !w.orelse.is_empty() {
            return Err(self.err(w.range, "`while ... else` is not supported"));
        }
        let mut names = vec![];
        assigned_names(&w.body, &mut names);
        let mut before = self.locals().clone();
        let mut carried: Vec<(String, Type)> = vec![];
        for n in &names {
            if let Some(t) = before.get(n).and_then(|v| self.carried_type(v)) {
                carried.push((n.clone(), t));
            }
        }
        let templates = self.block_ptr_templates(&names, &mut before, &mut carried);
        self.carried_bps.push(templates);
        let r = self.while_loop_body(w, before, carried);
        self.carried_bps.pop();
        r
    }

    fn while_loop_body(&mut self, w: &ast::StmtWhile, before: HashMap<String, Val>, mut carried: Vec<(String, Type)>) -> R<Flow> {
        // Dry run: find the types the body gives carried names.
        self.discover_carried_types(&w.body, w.range, &before, &mut carried, &mut |s, c| {
            s.bind_carried(c);
        })?;
        let inits = self.carried_inits(&before, &carried, w.range)?;
        // The condition region.
        let cond_args = self.bind_carried(&carried);
        self.blocks.push(vec![]);
        let cond = (|| {
            let c = self.expr(&w.test)?;
            let c = self.tensor(&c, w.test.range())?;
            if self.f.ty(c).is_block() {
                return Err(self.err(w.test.range(), "`while` needs a scalar condition, not a block"));
            }
            self.to_bool(c, w.test.range())
        })();
        let mut cond_ops = self.blocks.pop().unwrap_or_default();
        let c = cond?;
        cond_ops.push(self.f.create_op(OpKind::Yield, vec![c], vec![], vec![], self.loc));
        *self.locals() = before.clone();
        // The body region.
        let body_args = self.bind_carried(&carried);
        self.carry_const(&inits, &cond_args);
        self.carry_const(&inits, &body_args);
        let (mut body_ops, after) = self.lower_region(&w.body, w.range)?;
        let yields = self.carried_yields(&carried, &body_args, &after, w.range, false)?;
        body_ops.push(self.f.create_op(OpKind::Yield, yields, vec![], vec![], self.loc));
        let types: Vec<Type> = carried.iter().map(|(_, t)| t.clone()).collect();
        let op = self.emit(
            OpKind::While,
            inits,
            types,
            vec![Region { args: cond_args, ops: cond_ops }, Region { args: body_args.clone(), ops: body_ops }],
        );
        let results = self.f.op(op).results.clone();
        self.carry_const(&body_args, &results);
        *self.locals() = before;
        for ((n, _), r) in carried.iter().zip(results) {
            self.locals().insert(n.clone(), Val::Tensor(r));
        }
        self.rebind_block_ptrs();
        Ok(Flow::Next)
    }

    /// Lowers `body` on a scratch block (its ops are dropped) with the carried
    /// names bound by `bind`, and updates `carried` with the types the body
    /// gives them: a Python number before the loop takes the loop's type;
    /// any other change of type is an error.
    fn discover_carried_types(
        &mut self,
        body: &[Stmt],
        range: TextRange,
        before: &HashMap<String, Val>,
        carried: &mut [(String, Type)],
        bind: &mut dyn FnMut(&mut Self, &[(String, Type)]),
    ) -> R<()> {
        for _attempt in 0..2 {
            bind(self, carried);
            let (_, after) = self.lower_region(body, range)?;
            *self.locals() = before.clone();
            let mut changed = false;
            for (n, t) in carried.iter_mut() {
                let Some(Val::Tensor(v)) = after.get(n) else { continue };
                let nt = self.f.ty(*v).clone();
                if nt == *t {
                    continue;
                }
                if matches!(before.get(n), Some(Val::Const(_))) && !t.is_block() {
                    *t = nt;
                    changed = true;
                } else {
                    return Err(self.err(
                        range,
                        format!(
                            "loop-carried variable '{n}' has type {} before the loop but {} at the end of an iteration",
                            tm_ir::describe_type(t),
                            tm_ir::describe_type(&nt)
                        ),
                    ));
                }
            }
            if !changed {
                break;
            }
        }
        Ok(())
    }

    /// Block pointers assigned in a loop body become their offsets, carried as
    /// int64 scalars under synthetic names `name.i` (added to `before` and `carried`).
    pub(crate) fn block_ptr_templates(&mut self, names: &[String], before: &mut HashMap<String, Val>, carried: &mut Vec<(String, Type)>) -> Vec<(String, Arc<BlockPtr>)> {
        let mut out = vec![];
        for n in names {
            if let Some(Val::BlockPtr(bp)) = before.get(n).cloned() {
                for (i, &o) in bp.offsets.iter().enumerate() {
                    let key = format!("{n}.{i}");
                    before.insert(key.clone(), Val::Tensor(o));
                    self.locals().insert(key.clone(), Val::Tensor(o));
                    carried.push((key, Type::scalar(DType::I64)));
                }
                out.push((n.clone(), bp));
            }
        }
        out
    }

    /// Rebuilds the carried block pointers of the innermost loop from their
    /// offset names.
    fn rebind_block_ptrs(&mut self) {
        let Some(templates) = self.carried_bps.last().cloned() else { return };
        for (n, bp) in templates {
            let offsets: Option<Vec<ValueId>> = (0..bp.offsets.len())
                .map(|i| match self.locals().get(&format!("{n}.{i}")) {
                    Some(Val::Tensor(v)) => Some(*v),
                    _ => None,
                })
                .collect();
            if let Some(offsets) = offsets {
                self.locals().insert(n.clone(), Val::BlockPtr(Arc::new(BlockPtr { desc: bp.desc.clone(), offsets })));
            }
        }
    }

    /// At the end of a loop body: the offsets of each carried block pointer
    /// as it is now, under the synthetic names.
    fn export_block_ptrs(&mut self, range: TextRange) -> R<()> {
        let Some(templates) = self.carried_bps.last().cloned() else { return Ok(()) };
        for (n, bp) in templates {
            match self.locals().get(&n).cloned() {
                Some(Val::BlockPtr(cur)) if cur.desc.base == bp.desc.base && cur.offsets.len() == bp.offsets.len() => {
                    for (i, &o) in cur.offsets.iter().enumerate() {
                        let o = self.cast(o, DType::I64, range)?;
                        self.locals().insert(format!("{n}.{i}"), Val::Tensor(o));
                    }
                }
                _ => {
                    return Err(self.err(range, format!("block pointer '{n}' must stay a block pointer over the same tensor inside the loop (move it with tl.advance)")))
                }
            }
        }
        Ok(())
    }

    /// Fresh region arguments for carried values, bound to their names.
    fn bind_carried(&mut self, carried: &[(String, Type)]) -> Vec<ValueId> {
        let mut args = vec![];
        for (n, t) in carried {
            let a = self.f.new_value(t.clone(), ValueDef::RegionArg);
            self.locals().insert(n.clone(), Val::Tensor(a));
            args.push(a);
        }
        self.rebind_block_ptrs();
        args
    }

    /// `a if cond else b` on a runtime scalar: an `scf.if` whose branches each
    /// compute one side (so a load in the untaken branch never runs).
    pub(crate) fn runtime_ternary(&mut self, i: &ast::ExprIf, cond: Val) -> R<Val> {
        let cond = crate::static_loop::runtime(cond);
        let c = self.tensor(&cond, i.test.range())?;
        if self.f.ty(c).is_block() {
            return Err(self.err(i.test.range(), "a conditional expression needs a scalar condition; use tl.where for blocks"));
        }
        let c = self.to_bool(c, i.test.range())?;
        self.blocks.push(vec![]);
        let tv = self.expr(&i.body);
        let mut then_ops = self.blocks.pop().unwrap_or_default();
        let tv = tv?;
        self.blocks.push(vec![]);
        let ev = self.expr(&i.orelse);
        let mut else_ops = self.blocks.pop().unwrap_or_default();
        let ev = ev?;
        // Both sides are calls for their effects (`tl.store(..) if c else tl.store(..)`).
        if matches!((&tv, &ev), (Val::Const(ConstValue::None), Val::Const(ConstValue::None))) {
            then_ops.push(self.f.create_op(OpKind::Yield, vec![], vec![], vec![], self.loc));
            else_ops.push(self.f.create_op(OpKind::Yield, vec![], vec![], vec![], self.loc));
            self.emit(OpKind::If, vec![c], vec![], vec![Region { args: vec![], ops: then_ops }, Region { args: vec![], ops: else_ops }]);
            return Ok(tv);
        }
        let (Some(ta), Some(tb)) = (self.carried_type(&tv), self.carried_type(&ev)) else {
            return Err(self.err(i.range, "both sides of a conditional expression must be numbers or tensors"));
        };
        let want = match (&tv, &ev) {
            (Val::Const(_), _) => tb.clone(),
            (_, Val::Const(_)) => ta.clone(),
            (Val::Tensor(a), Val::Tensor(b)) if ta == tb && self.const_ptrs.contains(a) == self.const_ptrs.contains(b) => ta.clone(),
            (Val::Tensor(a), Val::Tensor(b)) => {
                return Err(self.err(
                    i.range,
                    format!(
                        "Ternary expression with dynamic condition has inconsistent types {} and {}",
                        self.type_name_of(*a),
                        self.type_name_of(*b)
                    ),
                ))
            }
            _ => ta.clone(),
        };
        let a = self.value_in(&mut then_ops, &tv, &want, i.range)?;
        let b = self.value_in(&mut else_ops, &ev, &want, i.range)?;
        then_ops.push(self.f.create_op(OpKind::Yield, vec![a], vec![], vec![], self.loc));
        else_ops.push(self.f.create_op(OpKind::Yield, vec![b], vec![], vec![], self.loc));
        let op = self.emit(OpKind::If, vec![c], vec![want], vec![Region { args: vec![], ops: then_ops }, Region { args: vec![], ops: else_ops }]);
        let r = self.f.op(op).results[0];
        if self.const_ptrs.contains(&a) {
            self.const_ptrs.insert(r);
        }
        Ok(Val::Tensor(r))
    }

    pub(crate) fn runtime_if(&mut self, i: &ast::StmtIf, cond: Val, rest: &[Stmt]) -> R<(Flow, bool)> {
        let cond = crate::static_loop::runtime(cond);
        let c = self.tensor(&cond, i.test.range())?;
        if self.f.ty(c).is_block() {
            return Err(self.err(i.test.range(), "`if` needs a scalar condition, not a block; use tl.where for element-wise choices"));
        }
        let c = self.to_bool(c, i.test.range())?;
        // `elif` chains nest as an `if` inside the `else` region.
        let else_body: Vec<Stmt> = match i.elif_else_clauses.split_first() {
            None => vec![],
            Some((first, rest)) => match &first.test {
                None => first.body.clone(),
                Some(t) => vec![Stmt::If(ast::StmtIf {
                    node_index: Default::default(),
                    range: first.range,
                    test: Box::new(t.clone()),
                    body: first.body.clone(),
                    elif_else_clauses: rest.to_vec(),
                })],
            },
        };
        // An early `return` in a branch: the code after the `if` belongs to the
        // paths that do not return, so it moves into those branches.
        let early = contains_return(&i.body) || contains_return(&else_body);
        let (then_body, else_body) = if early {
            let extend = |b: &[Stmt]| -> Vec<Stmt> {
                let mut v = b.to_vec();
                if !matches!(b.last(), Some(Stmt::Return(_))) {
                    v.extend(rest.iter().cloned());
                }
                v
            };
            (extend(&i.body), extend(&else_body))
        } else {
            (i.body.clone(), else_body)
        };
        let before = self.locals().clone();
        let (mut then_ops, mut then_locals, then_ret) = self.lower_region_ret(&then_body, i.range, early)?;
        *self.locals() = before.clone();
        let (mut else_ops, mut else_locals, else_ret) = self.lower_region_ret(&else_body, i.range, early)?;
        *self.locals() = before.clone();
        // Results: names either branch changed, defined on both paths.
        let mut names = vec![];
        assigned_names(&then_body, &mut names);
        assigned_names(&else_body, &mut names);
        // A value returned on both paths (a branch that falls through reaches the end
        // of the function, as the code after the `if` moved into the branches) is
        // one more result, merged as a name is.
        let none = Val::Const(ConstValue::None);
        let (then_ret, else_ret) = (then_ret.unwrap_or(none.clone()), else_ret.unwrap_or(none.clone()));
        let returns_value = early && !(same_val(&then_ret, &none) && same_val(&else_ret, &none));
        if returns_value {
            // A path that falls off the end returns upstream's poison (an undefined value:
            // zero here); one that returns nothing explicitly is upstream's type error.
            let poison = Val::Const(ConstValue::Int(0));
            let (then_ret, else_ret) = match (same_val(&then_ret, &none), same_val(&else_ret, &none)) {
                (true, _) if crate::calls::contains_bare_return(&then_body) => return Err(self.inconsistent_return(i.range)),
                (_, true) if crate::calls::contains_bare_return(&else_body) => return Err(self.inconsistent_return(i.range)),
                (true, _) => (poison, else_ret),
                (_, true) => (then_ret, poison),
                _ => (then_ret, else_ret),
            };
            then_locals.insert(RET.to_string(), then_ret);
            else_locals.insert(RET.to_string(), else_ret);
            names.push(RET.to_string());
        }
        let mut results: Vec<(String, ValueId, ValueId)> = vec![];
        let mut dropped = vec![];
        for n in names {
            let (Some(tv), Some(ev)) = (then_locals.get(&n), else_locals.get(&n)) else {
                dropped.push(n);
                continue;
            };
            if let (Val::Const(a), Val::Const(b)) = (tv, ev) {
                if a == b {
                    self.locals().insert(n, tv.clone());
                    continue;
                }
            }
            if !matches!(tv, Val::Tensor(_) | Val::Const(_)) || !matches!(ev, Val::Tensor(_) | Val::Const(_)) {
                // Block pointers, descriptors and tuples cannot merge across
                // branches: refuse a change instead of silently keeping the old one.
                if !same_val(tv, ev) {
                    let what = if n == RET { "the value returned".to_string() } else { format!("'{n}'") };
                    return Err(self.err(
                        i.range,
                        format!("{what} ({}) differs between the branches of a runtime `if`; this is not supported", tv.kind_name()),
                    ));
                }
                self.locals().insert(n, tv.clone());
                continue;
            }
            // Numbers assigned in a branch take the other branch's type.
            let (ta, tb) = (self.carried_type(tv), self.carried_type(ev));
            let (Some(ta), Some(tb)) = (ta, tb) else { continue };
            let want = if matches!(tv, Val::Const(_)) { tb.clone() } else { ta.clone() };
            let mismatch = |s: &Self, a: ValueId, b: ValueId| {
                let (a, b) = (s.type_name_of(a), s.type_name_of(b));
                if n == RET {
                    s.err(i.range, format!("Inconsistent return types {a} and {b}"))
                } else {
                    s.err(i.range, format!("Mismatched type for {n} between then block ({a}) and else block ({b})"))
                }
            };
            if let (Val::Tensor(a), Val::Tensor(b)) = (tv, ev) {
                if ta != tb || self.const_ptrs.contains(a) != self.const_ptrs.contains(b) {
                    return Err(mismatch(self, *a, *b));
                }
            }
            let tvv = self.value_in(&mut then_ops, tv, &want, i.range)?;
            let evv = self.value_in(&mut else_ops, ev, &want, i.range)?;
            results.push((n, tvv, evv));
        }
        let ty = |s: &Self, v: ValueId| s.f.ty(v).clone();
        let y1 = self.f.create_op(OpKind::Yield, results.iter().map(|r| r.1).collect(), vec![], vec![], self.loc);
        then_ops.push(y1);
        let y2 = self.f.create_op(OpKind::Yield, results.iter().map(|r| r.2).collect(), vec![], vec![], self.loc);
        else_ops.push(y2);
        let types: Vec<Type> = results.iter().map(|r| ty(self, r.1)).collect();
        let op = self.emit(
            OpKind::If,
            vec![c],
            types,
            vec![Region { args: vec![], ops: then_ops }, Region { args: vec![], ops: else_ops }],
        );
        let vals = self.f.op(op).results.clone();
        for ((n, a, _), v) in results.into_iter().zip(vals) {
            if self.const_ptrs.contains(&a) {
                self.const_ptrs.insert(v);
            }
            self.locals().insert(n, Val::Tensor(v));
        }
        for n in dropped {
            if !before.contains_key(&n) {
                self.locals().remove(&n);
            }
        }
        if early {
            let ret = if returns_value { self.locals().remove(RET).unwrap_or(none) } else { none };
            self.set_returned(ret);
        }
        Ok((if early { Flow::Return } else { Flow::Next }, early))
    }

    /// `v` as a value of type `want`, emitting any conversion into `ops`.
    fn value_in(&mut self, ops: &mut Vec<tm_ir::OpId>, v: &Val, want: &Type, range: TextRange) -> R<ValueId> {
        self.blocks.push(std::mem::take(ops));
        let r = (|| {
            let o = self.operand(v, range)?;
            let x = match (&o, want.dtype()) {
                (_, Some(d)) => self.materialize(&o, d, range)?,
                (Operand::Value(x), None) => *x,
                (Operand::Weak(_), None) => return Err(self.err(range, "a number cannot become a pointer")),
            };
            self.broadcast_to(x, &want.shape, range)
        })();
        *ops = self.blocks.pop().unwrap_or_default();
        r
    }
}
