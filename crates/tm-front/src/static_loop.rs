//! `tl.static_range` loops: unrolled where the body needs the index as a compile-time
//! constant, kept as a loop (an `scf.for`, a `for` in the MSL) where it does not.
//!
//! Upstream Triton unrolls every static loop; the result of a static loop kept as a loop is
//! the same as long as every use of the index gives the same value and type with a runtime
//! index as with a Python integer. The index is bound as a [`Val::LoopIndex`], which only the
//! operations below accept, and each gives what the unrolled loop would:
//!
//! - `i + c`, `i - c`, `i * c`, `i // c`, `i % c` with Python integers (or another static
//!   index), while every value stays inside int32 (the bounds are tracked) and `//`, `%` see
//!   no negative operand (where C's and Python's rounding agree): another `LoopIndex`;
//! - `i op t` with a tensor `t` whose type a weak Python integer adapts to in the same way an
//!   int32 scalar does (int32, int64, uint32/64 when `i >= 0`, float16/32/64, pointers): the
//!   tensor result; comparisons likewise (with Python integers: an i1 `LoopIndex`);
//! - `-i`, `+i`; `if`/ternary conditions; arguments of jit helpers (followed inside).
//!
//! Anything else (a tuple index, a shape, a `tl.constexpr` parameter, `tl.static_assert`,
//! `range(i)`, a cast, a store of `i` itself...) is an error in the loop attempt, and the loop
//! is unrolled instead, as before. So is a loop whose body assigns a name that holds a
//! compile-time value before the loop (the unrolled loop would keep it one) or shadows a
//! global, whose new names or index are read after the loop, or that calls `print`/`tl.static_print`. Loops whose
//! unrolled size is small (`UNROLL_BUDGET`) are unrolled too, as upstream does, since the
//! constants help later passes.

use crate::lower::{Flow, Lowerer, R};
use crate::value::{ConstValue, LoopIndex, Val};
use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::TextRange;
use std::collections::{HashMap, HashSet};
use tm_ir::{DType, Elem, Type};

/// Iterations times syntax nodes of the body up to which a static loop is unrolled without
/// trying it as a loop.
const UNROLL_NODES: usize = 256;
/// Iterations times IR ops of the body (as a loop, nested loops included) up to which a static
/// loop is unrolled anyway.
const UNROLL_OPS: usize = 1024;

/// What the lowerer had before a loop attempt, to put back if the attempt fails.
struct Snapshot {
    frames: usize,
    blocks: usize,
    block_ops: usize,
    carried_bps: usize,
    locals: HashMap<String, Val>,
    loc: tm_ir::Loc,
}

/// Counts syntax nodes; notes names read (with where) and calls of `print`/`static_print`.
#[derive(Default)]
struct Scan<'a> {
    nodes: usize,
    prints: bool,
    reads: Vec<(&'a str, TextRange)>,
}

impl<'a> Visitor<'a> for Scan<'a> {
    fn visit_stmt(&mut self, s: &'a Stmt) {
        self.nodes += 1;
        visitor::walk_stmt(self, s);
    }
    fn visit_expr(&mut self, e: &'a Expr) {
        self.nodes += 1;
        match e {
            Expr::Name(n) if n.ctx == ast::ExprContext::Load => self.reads.push((n.id.as_str(), n.range)),
            Expr::Call(c) => {
                let callee = match c.func.as_ref() {
                    Expr::Name(n) => n.id.as_str(),
                    Expr::Attribute(a) => a.attr.as_str(),
                    _ => "",
                };
                if matches!(callee, "print" | "static_print") {
                    self.prints = true;
                }
            }
            _ => {}
        }
        visitor::walk_expr(self, e);
    }
}

fn scan(stmts: &[Stmt]) -> Scan<'_> {
    let mut s = Scan::default();
    for st in stmts {
        s.visit_stmt(st);
    }
    s
}

/// `[lo, hi]` of `a op b` for integer intervals, where the result stays an exact integer of
/// the same sign conventions in C and Python (None otherwise).
fn interval(op: ast::Operator, a: (i64, i64), b: (i64, i64)) -> Option<(i64, i64)> {
    use ast::Operator as O;
    let (al, ah, bl, bh) = (a.0 as i128, a.1 as i128, b.0 as i128, b.1 as i128);
    let (lo, hi) = match op {
        O::Add => (al + bl, ah + bh),
        O::Sub => (al - bh, ah - bl),
        O::Mult => {
            let c = [al * bl, al * bh, ah * bl, ah * bh];
            (*c.iter().min()?, *c.iter().max()?)
        }
        // C truncates, Python floors: they agree on non-negative operands.
        O::FloorDiv if al >= 0 && bl > 0 => (al / bh, ah / bl),
        O::Mod if al >= 0 && bl > 0 => (0, ah.min(bh - 1)),
        _ => return None,
    };
    let fits = |x: i128| i32::try_from(x).is_ok();
    (fits(lo) && fits(hi)).then_some((lo as i64, hi as i64))
}

impl Lowerer<'_> {
    fn snapshot(&mut self) -> Snapshot {
        Snapshot {
            frames: self.frames_len(),
            blocks: self.blocks.len(),
            block_ops: self.blocks.last().map_or(0, |b| b.len()),
            carried_bps: self.carried_bps.len(),
            locals: self.locals().clone(),
            loc: self.loc,
        }
    }

    fn restore(&mut self, s: Snapshot) {
        self.truncate_frames(s.frames);
        self.blocks.truncate(s.blocks);
        if let Some(b) = self.blocks.last_mut() {
            b.truncate(s.block_ops);
        }
        self.carried_bps.truncate(s.carried_bps);
        *self.locals() = s.locals;
        self.loc = s.loc;
    }

    /// A `tl.static_range(a, .., s)` loop of `count` iterations over `name` kept as a loop,
    /// when its body allows it (see the module documentation); None: unroll it.
    pub(crate) fn static_loop(&mut self, f: &ast::StmtFor, name: &str, a: i128, s: i128, count: i128) -> R<Option<Flow>> {
        let last = a + (count - 1) * s;
        if count < 2 || s <= 0 || i32::try_from(a).is_err() || i32::try_from(last).is_err() || i32::try_from(a + count * s).is_err() {
            return Ok(None);
        }
        let body = scan(&f.body);
        if body.prints || (count as usize).saturating_mul(body.nodes) <= UNROLL_NODES || crate::control::contains_return(&f.body) {
            return Ok(None);
        }
        // Names the body assigns: those bound before the loop are carried and must be
        // tensors (or block pointers); new ones, and the index, must not be read outside
        // the loop (the unrolled loop leaves them bound after it).
        let mut names = vec![];
        crate::control::assigned_names(&f.body, &mut names);
        let mut before = self.locals().clone();
        let mut carried: Vec<(String, Type)> = vec![];
        let mut fresh: HashSet<&str> = HashSet::from([name]);
        for n in &names {
            match before.get(n) {
                _ if n == name => {}
                Some(v @ Val::Tensor(_)) => match self.carried_type(v) {
                    Some(t) => carried.push((n.clone(), t)),
                    None => return Ok(None),
                },
                Some(Val::BlockPtr(_)) => {}
                Some(_) => return Ok(None),
                // A global of that name is what the first iteration would read.
                None if self.is_global(n) => return Ok(None),
                None => {
                    fresh.insert(n.as_str());
                }
            }
        }
        let def = self.function_def();
        let outside = scan(&def.body);
        if outside.reads.iter().any(|(n, r)| fresh.contains(n) && !f.range.contains_range(*r)) {
            return Ok(None);
        }

        let snap = self.snapshot();
        let templates = self.block_ptr_templates(&names, &mut before, &mut carried);
        self.carried_bps.push(templates.clone());
        let attempt = (|| {
            let mut bounds = vec![];
            for c in [a, a + count * s, s] {
                bounds.push(self.const_scalar(DType::I32, &ConstValue::Int(c), f.range)?);
            }
            self.for_loop_body(f, name, DType::I32, Some((a as i64, last as i64)), bounds, None, before, carried, &templates)
        })();
        self.carried_bps.truncate(snap.carried_bps);
        match attempt {
            Ok(flow) => {
                let for_op = self.blocks.last().and_then(|b| b.iter().rev().find(|&&o| matches!(self.f.op(o).kind, tm_ir::OpKind::For))).copied();
                let ops = for_op.map_or(0, |o| self.count_ops(&self.f.op(o).regions[0].ops));
                if (count as usize).saturating_mul(ops) <= UNROLL_OPS {
                    self.restore(snap);
                    return Ok(None);
                }
                Ok(Some(flow))
            }
            Err(_) => {
                self.restore(snap);
                Ok(None)
            }
        }
    }

    /// Whether a tensor of type `t` meets a weak Python integer of values `lo..=hi` in `op`
    /// as it meets an int32 scalar (same result type and values).
    fn index_meets_like_int32(&self, t: &Type, op_is_ptr_arith: bool, lo: i64) -> bool {
        match t.elem {
            Elem::Ptr(_) => op_is_ptr_arith,
            Elem::Scalar(d) => match d {
                DType::I32 | DType::I64 | DType::F16 | DType::F32 | DType::F64 => true,
                DType::U32 | DType::U64 => lo >= 0,
                _ => false,
            },
        }
    }

    /// `l op r` where one side is a [`Val::LoopIndex`]; an error where the unrolled loop
    /// could give something else (the loop is then unrolled).
    pub(crate) fn loop_index_binop(&mut self, op: ast::Operator, l: Val, r: Val, range: TextRange) -> R<Val> {
        let need = |s: &Self| s.err(range, "the tl.static_range index is used where its value must be known at compile time");
        let int_index = |s: &Self, v: &Val| match v {
            Val::LoopIndex(li) if s.f.ty(li.v).dtype() == Some(DType::I32) => Some((li.lo, li.hi)),
            Val::Const(ConstValue::Int(c)) => i32::try_from(*c).ok().map(|c| (c as i64, c as i64)),
            _ => None,
        };
        if let (Some(a), Some(b)) = (int_index(self, &l), int_index(self, &r)) {
            let (lo, hi) = interval(op, a, b).ok_or_else(|| need(self))?;
            let v = self.binop(op, runtime(l), runtime(r), range)?;
            return match v {
                Val::Tensor(v) if self.f.ty(v).dtype() == Some(DType::I32) && !self.f.ty(v).is_block() => {
                    Ok(Val::LoopIndex(LoopIndex { v, lo, hi }))
                }
                _ => Err(need(self)),
            };
        }
        let (index, other) = match (&l, &r) {
            (Val::LoopIndex(li), Val::Tensor(t)) | (Val::Tensor(t), Val::LoopIndex(li)) => (*li, *t),
            _ => return Err(need(self)),
        };
        let ptr_arith = matches!(op, ast::Operator::Add) || matches!(op, ast::Operator::Sub) && matches!(l, Val::Tensor(_));
        let ty = self.f.ty(other).clone();
        if self.f.ty(index.v).dtype() != Some(DType::I32) || !self.index_meets_like_int32(&ty, ptr_arith, index.lo) {
            return Err(need(self));
        }
        self.binop(op, runtime(l), runtime(r), range)
    }

    /// A comparison where one side is a [`Val::LoopIndex`] (see `loop_index_binop`).
    pub(crate) fn loop_index_compare(&mut self, op: ast::CmpOp, l: Val, r: Val, range: TextRange) -> R<Val> {
        let need = |s: &Self| s.err(range, "the tl.static_range index is used where its value must be known at compile time");
        let is_int = |s: &Self, v: &Val| match v {
            Val::LoopIndex(li) => s.f.ty(li.v).dtype() == Some(DType::I32),
            Val::Const(ConstValue::Int(c)) => i32::try_from(*c).is_ok(),
            _ => false,
        };
        if is_int(self, &l) && is_int(self, &r) {
            return match self.cmpop(op, runtime(l), runtime(r), range)? {
                Val::Tensor(v) => Ok(Val::LoopIndex(LoopIndex { v, lo: 0, hi: 1 })),
                _ => Err(need(self)),
            };
        }
        let (index, other) = match (&l, &r) {
            (Val::LoopIndex(li), Val::Tensor(t)) | (Val::Tensor(t), Val::LoopIndex(li)) => (*li, *t),
            _ => return Err(need(self)),
        };
        let ty = self.f.ty(other).clone();
        if self.f.ty(index.v).dtype() != Some(DType::I32) || !self.index_meets_like_int32(&ty, false, index.lo) {
            return Err(need(self));
        }
        self.cmpop(op, runtime(l), runtime(r), range)
    }

    /// `-i` and `+i` of a [`Val::LoopIndex`].
    pub(crate) fn loop_index_unary(&mut self, op: ast::UnaryOp, li: LoopIndex, range: TextRange) -> R<Val> {
        let int = self.f.ty(li.v).dtype() == Some(DType::I32);
        match op {
            ast::UnaryOp::UAdd if int => Ok(Val::LoopIndex(li)),
            ast::UnaryOp::USub if int && li.lo > i32::MIN as i64 => match self.unaryop(op, Val::Tensor(li.v), range)? {
                Val::Tensor(v) => Ok(Val::LoopIndex(LoopIndex { v, lo: -li.hi, hi: -li.lo })),
                _ => Err(self.err(range, "the tl.static_range index is used where its value must be known at compile time")),
            },
            _ => Err(self.err(range, "the tl.static_range index is used where its value must be known at compile time")),
        }
    }
}

impl Lowerer<'_> {
    /// Ops of a region, nested regions included.
    fn count_ops(&self, ops: &[tm_ir::OpId]) -> usize {
        ops.iter().map(|&o| 1 + self.f.op(o).regions.iter().map(|r| self.count_ops(&r.ops)).sum::<usize>()).sum()
    }
}

/// The runtime value a [`Val::LoopIndex`] stands for (other values unchanged).
pub(crate) fn runtime(v: Val) -> Val {
    match v {
        Val::LoopIndex(li) => Val::Tensor(li.v),
        v => v,
    }
}
