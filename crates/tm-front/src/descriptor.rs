//! Tensor descriptors made in the kernel (`tl.make_tensor_descriptor`) and
//! their `load`/`store`: a block at given offsets of a strided tensor, with
//! out-of-bounds elements masked (loads read zero), lowered to pointer blocks
//! and masks like any other access.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{BlockPtr, ConstValue, Descriptor, Val};
use ruff_text_size::TextRange;
use std::sync::Arc;
use tm_ir::{BinOp, CmpPred, DType, Elem, OpKind, Type, ValueId};

impl Lowerer<'_> {
    fn index_tuple_values(&mut self, name: &str, v: &Val, range: TextRange) -> R<Vec<ValueId>> {
        let items: Vec<Val> = match v {
            Val::Tuple(t) => t.clone(),
            Val::Const(ConstValue::Tuple(t)) => t.iter().cloned().map(Val::Const).collect(),
            other => return Err(self.err(range, format!("{name} must be a tuple or list, got a {}", other.kind_name()))),
        };
        let mut out = vec![];
        for it in items {
            let x = self.tensor(&it, range)?;
            match self.f.ty(x).dtype() {
                Some(d) if d.is_int() && !d.is_bool() && !self.f.ty(x).is_block() => out.push(self.cast(x, DType::I64, range)?),
                _ => return Err(self.err(range, format!("{name} must hold integer scalars"))),
            }
        }
        Ok(out)
    }

    /// A `block_shape` argument: a constexpr tuple of powers of two.
    fn block_shape_arg(&self, a: &Option<(Val, TextRange)>) -> R<Vec<u32>> {
        let (kv, kr) = a.clone().expect("required");
        match kv {
            Val::Const(ConstValue::Tuple(t)) => {
                t.iter().map(|c| c.as_int().and_then(|v| u32::try_from(v).ok()).filter(|v| v.is_power_of_two())).collect::<Option<_>>()
            }
            _ => None,
        }
        .ok_or_else(|| self.err(kr, "block_shape must be a tuple of tl.constexpr powers of 2"))
    }

    pub fn lower_make_descriptor(&mut self, args: Args, range: TextRange) -> R<Val> {
        let b = self.bind_args("make_tensor_descriptor", args, &["base", "shape", "strides", "block_shape", "padding_option"], 4, range)?;
        let (bv, br) = b[0].clone().expect("required");
        let base = self.tensor(&bv, br)?;
        if !self.f.ty(base).elem.is_ptr() || self.f.ty(base).is_block() {
            return Err(self.err(br, "make_tensor_descriptor needs a pointer as base"));
        }
        let (sv, sr) = b[1].clone().expect("required");
        let shape = self.index_tuple_values("shape", &sv, sr)?;
        let (tv, tr) = b[2].clone().expect("required");
        let strides = self.index_tuple_values("strides", &tv, tr)?;
        let block_shape = self.block_shape_arg(&b[3])?;
        if shape.len() != block_shape.len() || strides.len() != block_shape.len() {
            return Err(self.err(range, "shape, strides and block_shape must have the same length"));
        }
        // Upstream's rule (its TMA copies move at least 16 bytes per row).
        if let (tm_ir::Elem::Ptr(e), Some(&last)) = (self.f.ty(base).elem, block_shape.last()) {
            let elem_size = e.bits() / 8;
            if last * elem_size < 16 {
                return Err(self.err(
                    range,
                    format!(
                        "Descriptor block shape must have at least 16 bytes in the last dimension, but got {last} * {elem_size} = {} bytes",
                        last * elem_size
                    ),
                ));
            }
        }
        if let Some((Val::Const(ConstValue::Str(p)), r)) = &b[4] {
            if p != "zero" {
                return Err(self.err(*r, format!("padding_option '{p}' is not supported; only 'zero'")));
            }
        }
        Ok(Val::Descriptor(Arc::new(Descriptor { base, shape, strides, block_shape })))
    }

    pub fn descriptor_access(&mut self, d: &Descriptor, name: &str, args: Args, range: TextRange) -> R<Val> {
        let names: &[&str] = if name == "load" { &["offsets"] } else { &["offsets", "value"] };
        let b = self.bind_args(name, args, names, names.len(), range)?;
        let (ov, or) = b[0].clone().expect("required");
        let offsets = self.index_tuple_values("offsets", &ov, or)?;
        let rank = d.block_shape.len();
        if offsets.len() != rank {
            return Err(self.err(or, format!("a rank-{rank} descriptor needs {rank} offsets")));
        }
        let value = b.get(1).cloned().flatten();
        let all: Vec<usize> = (0..rank).collect();
        self.block_access(d, &offsets, &all, None, value, range)
    }

    /// `tl.make_block_ptr(base, shape, strides, offsets, block_shape, order)`.
    pub fn lower_make_block_ptr(&mut self, args: Args, range: TextRange) -> R<Val> {
        let b = self.bind_args("make_block_ptr", args, &["base", "shape", "strides", "offsets", "block_shape", "order"], 6, range)?;
        let (bv, br) = b[0].clone().expect("required");
        let base = self.tensor(&bv, br)?;
        if !self.f.ty(base).elem.is_ptr() || self.f.ty(base).is_block() {
            return Err(self.err(br, "make_block_ptr needs a pointer as base"));
        }
        let (sv, sr) = b[1].clone().expect("required");
        let shape = self.index_tuple_values("shape", &sv, sr)?;
        let (tv, tr) = b[2].clone().expect("required");
        let strides = self.index_tuple_values("strides", &tv, tr)?;
        let (ov, or) = b[3].clone().expect("required");
        let offsets = self.index_tuple_values("offsets", &ov, or)?;
        let block_shape = self.block_shape_arg(&b[4])?;
        let rank = block_shape.len();
        if shape.len() != rank || strides.len() != rank || offsets.len() != rank {
            return Err(self.err(range, "shape, strides, offsets and block_shape must have the same length"));
        }
        // `order` only describes the memory layout for the hardware; it does not change values.
        Ok(Val::BlockPtr(Arc::new(BlockPtr { desc: Descriptor { base, shape, strides, block_shape }, offsets })))
    }

    /// `tl.advance(ptr, offsets)`: the same block pointer moved by `offsets`.
    pub fn lower_advance(&mut self, args: Args, range: TextRange) -> R<Val> {
        let b = self.bind_args("advance", args, &["base", "offsets"], 2, range)?;
        let (pv, pr) = b[0].clone().expect("required");
        let Val::BlockPtr(bp) = pv else {
            return Err(self.err(pr, format!("tl.advance needs a block pointer, got a {}", pv.kind_name())));
        };
        let (ov, or) = b[1].clone().expect("required");
        let delta = self.index_tuple_values("offsets", &ov, or)?;
        if delta.len() != bp.offsets.len() {
            return Err(self.err(or, format!("a rank-{} block pointer needs {} offsets", bp.offsets.len(), bp.offsets.len())));
        }
        let mut offsets = vec![];
        for (&o, &d) in bp.offsets.iter().zip(&delta) {
            offsets.push(self.arith(BinOp::Add, Operand::Value(o), Operand::Value(d), false, range)?);
        }
        Ok(Val::BlockPtr(Arc::new(BlockPtr { desc: bp.desc.clone(), offsets })))
    }

    /// `tl.load`/`tl.store` through a block pointer, bounds-checked on `boundary_check` dims.
    pub fn block_ptr_access(&mut self, bp: &BlockPtr, boundary_check: &Option<(Val, TextRange)>, padding: Option<f64>, value: Option<(Val, TextRange)>, range: TextRange) -> R<Val> {
        let rank = bp.offsets.len();
        let checked: Vec<usize> = match boundary_check {
            None => vec![],
            Some((Val::Const(ConstValue::Tuple(t)), r)) => t
                .iter()
                .map(|c| c.as_int().and_then(|v| usize::try_from(v).ok()).filter(|&v| v < rank))
                .collect::<Option<_>>()
                .ok_or_else(|| self.err(*r, format!("boundary_check must list dims below {rank}")))?,
            Some((Val::Const(c), r)) => vec![c.as_int().and_then(|v| usize::try_from(v).ok()).filter(|&v| v < rank).ok_or_else(|| self.err(*r, "bad boundary_check"))?],
            Some((_, r)) => return Err(self.err(*r, "boundary_check must be a tl.constexpr tuple")),
        };
        self.block_access(&bp.desc, &bp.offsets.clone(), &checked, padding, value, range)
    }

    /// A masked load (value None) or store of the block at `offsets`; only
    /// `checked` dims are bounds-checked; loads pad with `padding` (zero by default).
    fn block_access(&mut self, d: &Descriptor, offsets: &[ValueId], checked: &[usize], padding: Option<f64>, value: Option<(Val, TextRange)>, range: TextRange) -> R<Val> {
        let rank = d.block_shape.len();
        let shape = d.block_shape.clone();
        let mut ptr = d.base;
        let mut mask: Option<ValueId> = None;
        for i in 0..rank {
            let n = shape[i];
            let mut idx = self.emit1(OpKind::MakeRange { start: 0, end: n as i32 }, vec![], Type::block(Elem::Scalar(DType::I32), vec![n]));
            for j in 0..rank {
                if j != i {
                    idx = self.expand_dims(idx, j as u32, range)?;
                }
            }
            let idx = self.arith(BinOp::Add, Operand::Value(idx), Operand::Value(offsets[i]), false, range)?;
            let idx = self.broadcast_to(idx, &shape, range)?;
            let off = self.arith(BinOp::Mul, Operand::Value(idx), Operand::Value(d.strides[i]), false, range)?;
            ptr = self.add_ptr(ptr, &Operand::Value(off), false, range)?;
            if !checked.contains(&i) {
                continue;
            }
            let lo = self.compare(CmpPred::Ge, Operand::Value(idx), Operand::Weak(ConstValue::Int(0)), range)?;
            let hi = self.compare(CmpPred::Lt, Operand::Value(idx), Operand::Value(d.shape[i]), range)?;
            let m = self.bitwise(BinOp::And, Operand::Value(lo), Operand::Value(hi), range)?;
            mask = Some(match mask {
                None => m,
                Some(prev) => self.bitwise(BinOp::And, Operand::Value(prev), Operand::Value(m), range)?,
            });
        }
        let ptr = self.broadcast_to(ptr, &shape, range)?;
        let Elem::Ptr(e) = self.f.ty(ptr).elem else { unreachable!("descriptor bases are pointers") };
        let Some((vv, vr)) = value else {
            let ty = Type::block(Elem::Scalar(e), shape.clone());
            return Ok(Val::Tensor(match mask {
                None => self.emit1(OpKind::Load { has_mask: false, has_other: false }, vec![ptr], ty),
                Some(mask) => {
                    let pad = match padding {
                        Some(x) => ConstValue::Float(x),
                        None => ConstValue::Int(0),
                    };
                    if padding.is_some() && !e.is_float() {
                        return Err(self.err(range, "padding_option='nan' needs a floating-point block"));
                    }
                    let other = self.const_scalar(e, &pad, range)?;
                    let other = self.broadcast_to(other, &shape, range)?;
                    self.emit1(OpKind::Load { has_mask: true, has_other: true }, vec![ptr, mask, other], ty)
                }
            }));
        };
        let v = self.operand(&vv, vr)?;
        if self.operand_dtype(&v).is_some_and(|vd| vd.is_float() && e.is_int()) {
            return Err(self.err(vr, "storing floats through an integer descriptor needs an explicit cast"));
        }
        let v = self.materialize(&v, e, vr)?;
        let v = self.broadcast_to(v, &shape, vr)?;
        match mask {
            Some(m) => self.emit(OpKind::Store { has_mask: true }, vec![ptr, v, m], vec![], vec![]),
            None => self.emit(OpKind::Store { has_mask: false }, vec![ptr, v], vec![], vec![]),
        };
        Ok(Val::Const(ConstValue::None))
    }
}
