//! `tl.dot`: shape, dtype and accumulator rules (Triton's), producing a `Dot` op.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{DType, OpKind};

impl Lowerer<'_> {
    /// `tl.dot(a, b, acc=None, input_precision=None, allow_tf32=None, max_num_imprecise_acc=None, out_dtype=tl.float32)`.
    pub(crate) fn lower_dot(&mut self, args: Args, range: TextRange) -> R<Val> {
        let names = ["input", "other", "acc", "input_precision", "allow_tf32", "max_num_imprecise_acc", "out_dtype"];
        let b = self.bind("dot", args, &names, 2, range)?;
        let (av, ar) = b[0].clone().expect("required");
        let (bv, br) = b[1].clone().expect("required");
        let (a, bb) = (self.tensor(&av, ar)?, self.tensor(&bv, br)?);
        let (at, bt) = (self.f.ty(a).clone(), self.f.ty(bb).clone());
        let rank = at.rank();
        if !(rank == 2 || rank == 3) || bt.rank() != rank {
            return Err(self.err(range, format!("tl.dot needs two 2-D blocks or two 3-D (batched) blocks, got {} and {}", tm_ir::describe_type(&at), tm_ir::describe_type(&bt))));
        }
        let (m, k, k2, n) = (at.shape[rank - 2], at.shape[rank - 1], bt.shape[rank - 2], bt.shape[rank - 1]);
        if k != k2 || (rank == 3 && at.shape[0] != bt.shape[0]) {
            return Err(self.err(range, format!("tl.dot shapes do not match: {:?} x {:?}", at.shape, bt.shape)));
        }
        if m < 16 || n < 16 || k < 16 {
            return Err(self.err(range, format!("tl.dot needs M, N and K of at least 16, got M={m}, N={n}, K={k}")));
        }
        let out_shape: Vec<u32> = if rank == 3 { vec![at.shape[0], m, n] } else { vec![m, n] };
        let (Some(da), Some(db)) = (at.dtype(), bt.dtype()) else {
            return Err(self.err(range, "tl.dot of pointers"));
        };
        let requested_early = match &b[6] {
            Some((Val::Const(ConstValue::DType(d)), _)) => Some(*d),
            _ => None,
        };
        // float8 x float8 (any two formats, as upstream): every float8 value is a float16
        // value, so the operands convert exactly and the product accumulates in float32.
        let (a, bb, da, db) = if da.is_fp8() && db.is_fp8() {
            if let Some(o) = requested_early.filter(|&o| o != DType::F32) {
                return Err(self.err(range, format!("tl.dot of float8 operands produces float32, not {}", o.language_name())));
            }
            (self.cast(a, DType::F16, ar)?, self.cast(bb, DType::F16, br)?, DType::F16, DType::F16)
        } else {
            (a, bb, da, db)
        };
        if da != db {
            return Err(self.err(range, format!("tl.dot operands must have the same dtype, got {} and {}", da.language_name(), db.language_name())));
        }
        if let Some((Val::Const(ConstValue::Str(p)), r)) = &b[3] {
            if !matches!(p.as_str(), "tf32" | "tf32x3" | "ieee" | "bf16x3" | "bf16x6") {
                return Err(self.err(*r, format!("unknown input_precision '{p}' (expected tf32, tf32x3 or ieee)")));
            }
        }
        let requested = match &b[6] {
            Some((Val::Const(ConstValue::DType(d)), _)) => Some(*d),
            Some((Val::Const(ConstValue::None), _)) | None => None,
            Some((_, r)) => return Err(self.err(*r, "out_dtype must be a tl dtype")),
        };
        // Triton's result types: integer operands always give int32 (out_dtype is not
        // consulted); float32 and bfloat16 operands give float32; float16 operands
        // give out_dtype (float32 or float16); out_dtype=bfloat16 is an error.
        if requested == Some(DType::BF16) {
            return Err(self.err(range, "out_dtype=bfloat16 is unsupported. Please use out_dtype=float32/float16 and cast with `.to(tl.bfloat16)`"));
        }
        let out = match da {
            DType::F32 | DType::BF16 => DType::F32,
            DType::F16 => match requested {
                None | Some(DType::F32) => DType::F32,
                Some(DType::F16) => DType::F16,
                Some(o) => return Err(self.err(range, format!("tl.dot of {} cannot produce {}", da.language_name(), o.language_name()))),
            },
            DType::I8 | DType::U8 => DType::I32,
            other => return Err(self.err(ar, format!("tl.dot supports float16, bfloat16, float32, float8 and int8 operands, not {}", other.language_name()))),
        };
        let acc = match &b[2] {
            None | Some((Val::Const(ConstValue::None), _)) => {
                let z = self.const_scalar(out, &ConstValue::Int(0), range)?;
                self.broadcast_to(z, &out_shape, range)?
            }
            Some((cv, cr)) => {
                let c = self.tensor(cv, *cr)?;
                let ct = self.f.ty(c).clone();
                if ct.shape != out_shape {
                    return Err(self.err(*cr, format!("tl.dot acc must have shape {out_shape:?}, got {:?}", ct.shape)));
                }
                match ct.dtype() {
                    Some(d) if d == out || (requested.is_none() && d.is_float() && out.is_float()) => c,
                    Some(d) => return Err(self.err(*cr, format!("tl.dot acc has dtype {} but the product is {}", d.language_name(), out.language_name()))),
                    None => return Err(self.err(*cr, "tl.dot acc of pointers")),
                }
            }
        };
        let ty = self.f.ty(acc).clone();
        Ok(Val::Tensor(self.emit1(OpKind::Dot, vec![a, bb, acc], ty)))
    }

}
