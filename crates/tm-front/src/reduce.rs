//! Reductions (`tl.sum`, `tl.max`, `tl.argmax`, `tl.reduce`, ...): a `Reduce`
//! op whose combine region is built here, either from a known operator or by
//! inlining the user's `@triton.jit` combine function. Type rules follow
//! Triton's `standard.py`.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, KernelSource, Val};
use ruff_text_size::TextRange;
use std::sync::Arc;
use tm_ir::{BinOp, CmpPred, DType, Elem, OpKind, Region, Type, ValueDef, ValueId};

/// How two partial results combine.
#[derive(Clone)]
pub enum Combine {
    Binary(BinOp),
    /// (value, index) pairs: keep the larger (`max`) or smaller value.
    ArgBest { max: bool, tie_break_left: bool },
    Jit(Arc<KernelSource>),
}

impl Lowerer<'_> {
    pub(crate) fn norm_axis_pub(&self, axis: i128, rank: usize, range: TextRange) -> R<u32> {
        self.norm_axis(axis, rank, range)
    }

    /// Normalises `axis` for a block of `rank` dims.
    fn norm_axis(&self, axis: i128, rank: usize, range: TextRange) -> R<u32> {
        let a = if axis < 0 { axis + rank as i128 } else { axis };
        if a < 0 || a >= rank as i128 {
            return Err(self.err(range, format!("axis {axis} is out of range for a block of rank {rank}")));
        }
        Ok(a as u32)
    }

    /// Reduces `inputs` (same shape) along `axis` (None: all axes).
    pub fn reduce(&mut self, inputs: Vec<ValueId>, axis: Option<i128>, keep_dims: bool, combine: Combine, range: TextRange) -> R<Vec<ValueId>> {
        let shape = self.f.ty(inputs[0]).shape.clone();
        if shape.is_empty() {
            return Err(self.err(range, "cannot reduce a scalar; reductions need a block"));
        }
        for &i in &inputs {
            if self.f.ty(i).shape != shape {
                return Err(self.err(range, "all inputs of a reduction must have the same shape"));
            }
            if self.f.ty(i).elem.is_ptr() {
                return Err(self.err(range, "cannot reduce a block of pointers"));
            }
        }
        let axes: Vec<u32> = match axis {
            Some(a) => vec![self.norm_axis(a, shape.len(), range)?],
            None if shape.len() == 1 => vec![0],
            None if matches!(combine, Combine::Binary(_)) => (0..shape.len() as u32).rev().collect(),
            None => {
                return Err(self.err(range, "axis=None on a block of rank > 1 is supported for sum/max/min/xor_sum only; pass an axis"))
            }
        };
        let mut vals = inputs;
        for &a in &axes {
            vals = self.reduce_axis(vals, a, &combine, range)?;
        }
        if keep_dims {
            let mut sorted = axes.clone();
            sorted.sort_unstable();
            for a in sorted {
                vals = vals.into_iter().map(|v| self.expand_dims(v, a, range)).collect::<R<_>>()?;
            }
        }
        Ok(vals)
    }

    fn reduce_axis(&mut self, inputs: Vec<ValueId>, axis: u32, combine: &Combine, range: TextRange) -> R<Vec<ValueId>> {
        let dtypes: Vec<DType> = inputs.iter().map(|&v| self.f.ty(v).dtype().expect("checked: not pointers")).collect();
        let n = inputs.len();
        self.blocks.push(vec![]);
        let built = (|| {
            let a: Vec<ValueId> = dtypes.iter().map(|&d| self.f.new_value(Type::scalar(d), ValueDef::RegionArg)).collect();
            let b: Vec<ValueId> = dtypes.iter().map(|&d| self.f.new_value(Type::scalar(d), ValueDef::RegionArg)).collect();
            let outs = self.combine_body(combine, &a, &b, &dtypes, range)?;
            Ok::<_, crate::Diagnostic>((a, b, outs))
        })();
        let mut ops = self.blocks.pop().unwrap_or_default();
        let (a, b, outs) = built?;
        let y = self.f.create_op(OpKind::Yield, outs, vec![], vec![], self.loc);
        ops.push(y);
        let mut args = a;
        args.extend(b);
        let mut out_shape = self.f.ty(inputs[0]).shape.clone();
        out_shape.remove(axis as usize);
        let result_types = dtypes.iter().map(|&d| Type::block(Elem::Scalar(d), out_shape.clone())).collect();
        let op = self.emit(OpKind::Reduce { axis }, inputs, result_types, vec![Region { args, ops }]);
        let results = self.f.op(op).results.clone();
        debug_assert_eq!(results.len(), n);
        Ok(results)
    }

    /// Emits the combine of accumulated values `a` and new values `b`.
    fn combine_body(&mut self, combine: &Combine, a: &[ValueId], b: &[ValueId], dtypes: &[DType], range: TextRange) -> R<Vec<ValueId>> {
        match combine {
            Combine::Binary(op) => Ok(vec![self.arith_or_bitwise(*op, a[0], b[0], range)?]),
            Combine::ArgBest { max, tie_break_left } => {
                let pred = if *max { CmpPred::Gt } else { CmpPred::Lt };
                let mut better = self.compare(pred, Operand::Value(a[0]), Operand::Value(b[0]), range)?;
                if *tie_break_left {
                    let eq = self.compare(CmpPred::Eq, Operand::Value(a[0]), Operand::Value(b[0]), range)?;
                    let lt = self.compare(CmpPred::Lt, Operand::Value(a[1]), Operand::Value(b[1]), range)?;
                    let tie = self.bitwise(BinOp::And, Operand::Value(eq), Operand::Value(lt), range)?;
                    better = self.bitwise(BinOp::Or, Operand::Value(better), Operand::Value(tie), range)?;
                }
                let v = self.select(Operand::Value(better), Operand::Value(a[0]), Operand::Value(b[0]), range)?;
                let i = self.select(Operand::Value(better), Operand::Value(a[1]), Operand::Value(b[1]), range)?;
                Ok(vec![v, i])
            }
            Combine::Jit(k) => {
                let mut args = Args::default();
                for &v in a.iter().chain(b) {
                    args.pos.push((Val::Tensor(v), range));
                }
                let out = self.call_jit_pub(k.clone(), args, range)?;
                let vals: Vec<Val> = match out {
                    Val::Tuple(t) => t,
                    Val::Const(ConstValue::Tuple(t)) => t.into_iter().map(Val::Const).collect(),
                    other => vec![other],
                };
                if vals.len() != dtypes.len() {
                    return Err(self.err(
                        range,
                        format!("combine function {}() returned {} values for {} reduced inputs", k.name, vals.len(), dtypes.len()),
                    ));
                }
                vals.iter()
                    .zip(dtypes)
                    .map(|(v, &d)| {
                        let o = self.operand(v, range)?;
                        let x = self.materialize(&o, d, range)?;
                        if self.f.ty(x).is_block() {
                            return Err(self.err(range, format!("combine function {}() must return scalars", k.name)));
                        }
                        Ok(x)
                    })
                    .collect()
            }
        }
    }

    fn arith_or_bitwise(&mut self, op: BinOp, a: ValueId, b: ValueId, range: TextRange) -> R<ValueId> {
        match op {
            BinOp::And | BinOp::Or | BinOp::Xor => self.bitwise(op, Operand::Value(a), Operand::Value(b), range),
            _ => self.arith(op, Operand::Value(a), Operand::Value(b), false, range),
        }
    }

    /// `tl.cumsum`, `tl.cumprod`, `tl.associative_scan`.
    pub fn lower_scan(&mut self, name: &'static str, recv: Option<ValueId>, mut args: Args, range: TextRange) -> R<Val> {
        if let Some(r) = recv {
            args.pos.insert(0, (Val::Tensor(r), range));
        }
        let names: &[&str] = if name == "associative_scan" { &["input", "axis", "combine_fn", "reverse"] } else { &["input", "axis", "reverse", "dtype"] };
        let b = self.bind_args(name, args, names, if name == "associative_scan" { 3 } else { 1 }, range)?;
        let get = |key: &str| names.iter().position(|n| *n == key).and_then(|i| b[i].clone());
        let axis = match get("axis") {
            None => 0,
            Some((Val::Const(c), r)) => c.as_int().ok_or_else(|| self.err(r, "axis must be an integer"))?,
            Some((_, r)) => return Err(self.err(r, "axis must be a tl.constexpr integer")),
        };
        let reverse = match get("reverse") {
            None => false,
            Some((Val::Const(c), _)) => c.truthy(),
            Some((_, r)) => return Err(self.err(r, "reverse must be a tl.constexpr")),
        };
        let (iv, ir) = get("input").expect("required");
        let inputs: Vec<ValueId> = match &iv {
            Val::Tuple(t) if name == "associative_scan" => t.iter().map(|v| self.tensor(v, ir)).collect::<R<_>>()?,
            v => vec![self.tensor(v, ir)?],
        };
        let shape = self.f.ty(inputs[0]).shape.clone();
        if shape.is_empty() {
            return Err(self.err(ir, "scans need a block"));
        }
        for &i in &inputs {
            if self.f.ty(i).shape != shape || self.f.ty(i).elem.is_ptr() {
                return Err(self.err(ir, "all inputs of a scan must be numeric blocks of the same shape"));
            }
        }
        let axis = self.norm_axis(axis, shape.len(), range)?;
        let (inputs, combine) = match name {
            "associative_scan" => {
                let (cv, cr) = get("combine_fn").expect("required");
                let Val::JitFunction(k) = cv else {
                    return Err(self.err(cr, format!("the combine function of tl.associative_scan must be a @triton.jit function, got a {}", cv.kind_name())));
                };
                (inputs, Combine::Jit(k))
            }
            _ => {
                let d = self.f.ty(inputs[0]).dtype().expect("checked");
                let target = match get("dtype") {
                    Some((Val::Const(ConstValue::DType(t)), _)) => t,
                    _ => match d {
                        DType::BF16 => DType::F32,
                        DType::I1 | DType::I8 | DType::I16 => DType::I32,
                        DType::U8 | DType::U16 => DType::U32,
                        other => other,
                    },
                };
                let x = self.cast(inputs[0], target, range)?;
                (vec![x], Combine::Binary(if name == "cumsum" { BinOp::Add } else { BinOp::Mul }))
            }
        };
        let dtypes: Vec<DType> = inputs.iter().map(|&v| self.f.ty(v).dtype().expect("checked")).collect();
        self.blocks.push(vec![]);
        let built = (|| {
            let a: Vec<ValueId> = dtypes.iter().map(|&d| self.f.new_value(Type::scalar(d), ValueDef::RegionArg)).collect();
            let b: Vec<ValueId> = dtypes.iter().map(|&d| self.f.new_value(Type::scalar(d), ValueDef::RegionArg)).collect();
            let outs = self.combine_body(&combine, &a, &b, &dtypes, range)?;
            Ok::<_, crate::Diagnostic>((a, b, outs))
        })();
        let mut ops = self.blocks.pop().unwrap_or_default();
        let (a, bargs, outs) = built?;
        ops.push(self.f.create_op(OpKind::Yield, outs, vec![], vec![], self.loc));
        let mut region_args = a;
        region_args.extend(bargs);
        let types = inputs.iter().map(|&v| self.f.ty(v).clone()).collect();
        let op = self.emit(OpKind::Scan { axis, reverse }, inputs.clone(), types, vec![Region { args: region_args, ops }]);
        let res = self.f.op(op).results.clone();
        Ok(if matches!(iv, Val::Tuple(_)) { Val::Tuple(res.into_iter().map(Val::Tensor).collect()) } else { Val::Tensor(res[0]) })
    }

    /// `tl.sort`, `tl.flip` (last dimension) and `tl.histogram`.
    pub fn lower_sort_like(&mut self, name: &'static str, recv: Option<ValueId>, mut args: Args, range: TextRange) -> R<Val> {
        if let Some(r) = recv {
            args.pos.insert(0, (Val::Tensor(r), range));
        }
        if name == "histogram" {
            let b = self.bind_args(name, args, &["input", "num_bins", "mask"], 2, range)?;
            let (iv, ir) = b[0].clone().expect("required");
            let x = self.tensor(&iv, ir)?;
            let ty = self.f.ty(x).clone();
            if ty.rank() != 1 || !ty.dtype().is_some_and(|d| d.is_int() && !d.is_bool()) {
                return Err(self.err(ir, format!("tl.histogram needs a 1-D integer block, got {}", tm_ir::describe_type(&ty))));
            }
            if b[2].is_some() {
                return Err(self.err(range, "tl.histogram's mask argument is not supported yet"));
            }
            let (bv, br) = b[1].clone().expect("required");
            let bins = match bv {
                Val::Const(c) => c.as_int().and_then(|v| u32::try_from(v).ok()).filter(|v| v.is_power_of_two()),
                _ => None,
            }
            .ok_or_else(|| self.err(br, "num_bins must be a tl.constexpr power of 2"))?;
            let x = self.cast(x, DType::I32, range)?;
            let out = Type::block(Elem::Scalar(DType::I32), vec![bins]);
            return Ok(Val::Tensor(self.emit1(OpKind::Histogram { bins }, vec![x], out)));
        }
        let names: &[&str] = if name == "sort" { &["x", "dim", "descending"] } else { &["x", "dim"] };
        let b = self.bind_args(name, args, names, 1, range)?;
        let (xv, xr) = b[0].clone().expect("required");
        let x = self.tensor(&xv, xr)?;
        let ty = self.f.ty(x).clone();
        if ty.rank() == 0 || ty.elem.is_ptr() {
            return Err(self.err(xr, format!("tl.{name} needs a numeric block")));
        }
        match &b[1] {
            None | Some((Val::Const(ConstValue::None), _)) => {}
            Some((Val::Const(c), r)) => {
                let d = c.as_int().ok_or_else(|| self.err(*r, "dim must be an integer"))?;
                if self.norm_axis(d, ty.rank(), *r)? as usize != ty.rank() - 1 {
                    return Err(self.err(*r, format!("tl.{name} supports only the last dimension, as Triton does")));
                }
            }
            Some((_, r)) => return Err(self.err(*r, "dim must be a tl.constexpr")),
        }
        let kind = if name == "sort" {
            let descending = match b.get(2).cloned().flatten() {
                None => false,
                Some((Val::Const(c), _)) => c.truthy(),
                Some((_, r)) => return Err(self.err(r, "descending must be a tl.constexpr")),
            };
            OpKind::Sort { descending }
        } else {
            OpKind::Flip
        };
        Ok(Val::Tensor(self.emit1(kind, vec![x], ty)))
    }

    /// `tl.gather(src, index, axis)`: `out[..., i, ...] = src[..., index[..., i, ...], ...]`
    /// along `axis` (`tt.gather`; indices outside src give 0).
    pub fn lower_gather(&mut self, args: Args, range: TextRange) -> R<Val> {
        let b = self.bind_args("gather", args, &["src", "index", "axis"], 3, range)?;
        let (sv, sr) = b[0].clone().expect("required");
        let (iv, ir) = b[1].clone().expect("required");
        let (src, idx) = (self.tensor(&sv, sr)?, self.tensor(&iv, ir)?);
        let (st, it) = (self.f.ty(src).clone(), self.f.ty(idx).clone());
        if st.rank() == 0 || st.rank() != it.rank() || st.elem.is_ptr() || !it.dtype().is_some_and(|d| d.is_int() && !d.is_bool()) {
            return Err(self.err(range, "tl.gather needs a numeric block and an integer index block of the same rank"));
        }
        let axis = match &b[2] {
            Some((Val::Const(c), r)) => self.norm_axis(c.as_int().ok_or_else(|| self.err(*r, "axis must be an integer"))?, st.rank(), *r)? as usize,
            Some((_, r)) => return Err(self.err(*r, "axis must be a tl.constexpr")),
            None => unreachable!("required"),
        };
        for d in 0..st.rank() {
            if d != axis && st.shape[d] != it.shape[d] {
                return Err(self.err(range, format!("tl.gather: index shape {:?} must match src shape {:?} except along axis {axis}", it.shape, st.shape)));
            }
        }
        let ty = Type::block(st.elem, it.shape.clone());
        let out = self.emit1(OpKind::Gather { axis: axis as u32 }, vec![src, idx], ty);
        Ok(Val::Tensor(out))
    }

    /// `arange` along `axis` broadcast to `shape` (the index operand of argmax).
    fn axis_indices(&mut self, shape: &[u32], axis: u32, range: TextRange) -> R<ValueId> {
        let n = shape[axis as usize];
        let mut v = self.emit1(OpKind::MakeRange { start: 0, end: n as i32 }, vec![], Type::block(Elem::Scalar(DType::I32), vec![n]));
        for d in 0..shape.len() as u32 {
            if d != axis {
                v = self.expand_dims(v, d, range)?;
            }
        }
        self.broadcast_to(v, shape, range)
    }

    /// `tl.sum`, `tl.max`, `tl.min`, `tl.xor_sum`, `tl.argmax`, `tl.argmin`, `tl.reduce`
    /// (and their method forms, with `recv` the tensor).
    pub fn lower_reduction(&mut self, name: &'static str, recv: Option<ValueId>, mut args: Args, range: TextRange) -> R<Val> {
        if let Some(r) = recv {
            args.pos.insert(0, (Val::Tensor(r), range));
        }
        let names: &[&str] = match name {
            "sum" => &["input", "axis", "keep_dims", "dtype"],
            "max" | "min" => &["input", "axis", "return_indices", "return_indices_tie_break_left", "keep_dims"],
            "argmax" | "argmin" => &["input", "axis", "tie_break_left", "keep_dims"],
            "xor_sum" => &["input", "axis", "keep_dims"],
            _ => &["input", "axis", "combine_fn", "keep_dims"],
        };
        let required = if matches!(name, "argmax" | "argmin") { 2 } else if name == "reduce" { 3 } else { 1 };
        let b = self.bind_args(name, args, names, required, range)?;
        let get = |key: &str| names.iter().position(|n| *n == key).and_then(|i| b[i].clone());
        let flag = |s: &Self, key: &str, default: bool| -> R<bool> {
            match get(key) {
                Some((Val::Const(c), _)) => Ok(c.truthy()),
                Some((_, r)) => Err(s.err(r, format!("'{key}' must be a tl.constexpr"))),
                None => Ok(default),
            }
        };
        let axis = match get("axis") {
            None | Some((Val::Const(ConstValue::None), _)) => None,
            Some((Val::Const(c), r)) => Some(c.as_int().ok_or_else(|| self.err(r, "axis must be an integer"))?),
            Some((_, r)) => return Err(self.err(r, "axis must be a tl.constexpr integer")),
        };
        let keep_dims = flag(self, "keep_dims", false)?;
        let (iv, ir) = get("input").expect("required");
        let inputs: Vec<ValueId> = match &iv {
            Val::Tuple(t) if name == "reduce" => t.iter().map(|v| self.tensor(v, ir)).collect::<R<_>>()?,
            v => vec![self.tensor(v, ir)?],
        };
        let first = inputs[0];
        let d = self.f.ty(first).dtype().ok_or_else(|| self.err(ir, "cannot reduce a block of pointers"))?;
        match name {
            "reduce" => {
                let (cv, cr) = get("combine_fn").expect("required");
                let Val::JitFunction(k) = cv else {
                    return Err(self.err(cr, format!("the combine function of tl.reduce must be a @triton.jit function, got a {}", cv.kind_name())));
                };
                let outs = self.reduce(inputs, axis, keep_dims, Combine::Jit(k), range)?;
                Ok(if matches!(iv, Val::Tuple(_)) {
                    Val::Tuple(outs.into_iter().map(Val::Tensor).collect())
                } else {
                    Val::Tensor(outs[0])
                })
            }
            "sum" | "xor_sum" => {
                if name == "xor_sum" && !d.is_int() {
                    return Err(self.err(ir, format!("xor_sum needs integers, got {}", d.language_name())));
                }
                let target = match get("dtype") {
                    Some((Val::Const(ConstValue::DType(t)), _)) => t,
                    Some((Val::Const(ConstValue::None), _)) | None => match d {
                        DType::BF16 => DType::F32,
                        DType::I1 | DType::I8 | DType::I16 => DType::I32,
                        DType::U8 | DType::U16 => DType::U32,
                        other => other,
                    },
                    Some((_, r)) => return Err(self.err(r, "dtype must be a tl dtype")),
                };
                let x = self.cast(first, target, range)?;
                let op = if name == "sum" { BinOp::Add } else { BinOp::Xor };
                Ok(Val::Tensor(self.reduce(vec![x], axis, keep_dims, Combine::Binary(op), range)?[0]))
            }
            _ => {
                let is_max = name.contains("max");
                let with_indices = matches!(name, "argmax" | "argmin") || flag(self, "return_indices", false)?;
                if !with_indices {
                    let x = match d {
                        DType::BF16 | DType::F16 => self.cast(first, DType::F32, range)?,
                        d if d.is_int() && d.bits() < 32 => self.cast(first, DType::I32, range)?,
                        _ => first,
                    };
                    let op = if is_max { BinOp::Max } else { BinOp::Min };
                    return Ok(Val::Tensor(self.reduce(vec![x], axis, keep_dims, Combine::Binary(op), range)?[0]));
                }
                let x = if d == DType::BF16 { self.cast(first, DType::F32, range)? } else { first };
                let shape = self.f.ty(x).shape.clone();
                let ax = match axis {
                    Some(a) => self.norm_axis(a, shape.len(), range)?,
                    None if shape.len() == 1 => 0,
                    None => return Err(self.err(range, format!("{name} with axis=None on a block of rank > 1 is not supported yet; pass an axis"))),
                };
                let idx = self.axis_indices(&shape, ax, range)?;
                let tie = flag(self, if name.starts_with("arg") { "tie_break_left" } else { "return_indices_tie_break_left" }, true)?;
                let outs = self.reduce(vec![x, idx], Some(ax as i128), keep_dims, Combine::ArgBest { max: is_max, tie_break_left: tie }, range)?;
                Ok(if name.starts_with("arg") {
                    Val::Tensor(outs[1])
                } else {
                    Val::Tuple(vec![Val::Tensor(outs[0]), Val::Tensor(outs[1])])
                })
            }
        }
    }
}
