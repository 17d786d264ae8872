//! Tensor descriptors made in the kernel (`tl.make_tensor_descriptor`) and
//! their `load`/`store`: a block at given offsets of a strided tensor, with
//! out-of-bounds elements masked (loads read zero), lowered to pointer blocks
//! and masks like any other access.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Descriptor, Val};
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
        let (kv, kr) = b[3].clone().expect("required");
        let block_shape: Vec<u32> = match kv {
            Val::Const(ConstValue::Tuple(t)) => t.iter().map(|c| c.as_int().and_then(|v| u32::try_from(v).ok()).filter(|v| v.is_power_of_two())).collect::<Option<_>>(),
            _ => None,
        }
        .ok_or_else(|| self.err(kr, "block_shape must be a tuple of tl.constexpr powers of 2"))?;
        if shape.len() != block_shape.len() || strides.len() != block_shape.len() {
            return Err(self.err(range, "shape, strides and block_shape must have the same length"));
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
            let lo = self.compare(CmpPred::Ge, Operand::Value(idx), Operand::Weak(ConstValue::Int(0)), range)?;
            let hi = self.compare(CmpPred::Lt, Operand::Value(idx), Operand::Value(d.shape[i]), range)?;
            let m = self.bitwise(BinOp::And, Operand::Value(lo), Operand::Value(hi), range)?;
            mask = Some(match mask {
                None => m,
                Some(prev) => self.bitwise(BinOp::And, Operand::Value(prev), Operand::Value(m), range)?,
            });
        }
        let mask = mask.expect("rank >= 1");
        let Elem::Ptr(e) = self.f.ty(ptr).elem else { unreachable!("descriptor bases are pointers") };
        if name == "load" {
            let zero = self.const_scalar(e, &ConstValue::Int(0), range)?;
            let zero = self.broadcast_to(zero, &shape, range)?;
            let ty = Type::block(Elem::Scalar(e), shape);
            return Ok(Val::Tensor(self.emit1(OpKind::Load { has_mask: true, has_other: true }, vec![ptr, mask, zero], ty)));
        }
        let (vv, vr) = b[1].clone().expect("required");
        let v = self.operand(&vv, vr)?;
        if self.operand_dtype(&v).is_some_and(|vd| vd.is_float() && e.is_int()) {
            return Err(self.err(vr, "storing floats through an integer descriptor needs an explicit cast"));
        }
        let v = self.materialize(&v, e, vr)?;
        let v = self.broadcast_to(v, &shape, vr)?;
        self.emit(OpKind::Store { has_mask: true }, vec![ptr, v, mask], vec![], vec![]);
        Ok(Val::Const(ConstValue::None))
    }
}
