//! `tl.load` and `tl.store` with masks and `other`, and the element-type
//! checks on pointers.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{DType, Elem, OpKind, Type};

impl Lowerer<'_> {
    pub(crate) fn lower_load(&mut self, args: Args, range: TextRange) -> R<Val> {
        let names = ["pointer", "mask", "other", "boundary_check", "padding_option", "cache_modifier", "eviction_policy", "volatile"];
        let b = self.bind("load", args, &names, 1, range)?;
        let (pv, pr) = b[0].clone().expect("required");
        if let Val::BlockPtr(bp) = &pv {
            if !Self::is_none(&b[1]) || !Self::is_none(&b[2]) {
                return Err(self.err(range, "tl.load of a block pointer takes boundary_check and padding_option, not mask/other"));
            }
            let padding = match &b[4] {
                None | Some((Val::Const(ConstValue::None), _)) => None,
                Some((Val::Const(ConstValue::Str(p)), r)) => match p.as_str() {
                    "" | "zero" => None,
                    "nan" => Some(f64::NAN),
                    other => return Err(self.err(*r, format!("unknown padding_option '{other}'"))),
                },
                Some((_, r)) => return Err(self.err(*r, "padding_option must be a string")),
            };
            return self.block_ptr_access(bp, &b[3], padding, None, range);
        }
        let ptr = self.tensor(&pv, pr)?;
        let pty = self.f.ty(ptr).clone();
        let Elem::Ptr(elem) = pty.elem else {
            return Err(self.err(pr, format!("tl.load needs a pointer, got {}", tm_ir::describe_type(&pty))));
        };
        self.check_dtype_supported(elem, range)?;
        if let Some((bc, r)) = &b[3] {
            if !matches!(bc, Val::Const(ConstValue::Tuple(t)) if t.is_empty()) {
                return Err(self.err(*r, "boundary_check needs block pointers (tl.make_block_ptr), which are not supported yet"));
            }
        }
        let mut operands = vec![ptr];
        let has_mask = !Self::is_none(&b[1]);
        let has_other = !Self::is_none(&b[2]);
        if has_other && !has_mask {
            return Err(self.err(range, "tl.load: `other` cannot be given without `mask`"));
        }
        if has_mask {
            let (mv, mr) = b[1].clone().expect("checked");
            let m = self.mask_for(&pty, mv, mr)?;
            operands.push(m);
        }
        if has_other {
            let (ov, or) = b[2].clone().expect("checked");
            let o = self.operand(&ov, or)?;
            let o = self.materialize(&o, elem, or)?;
            let o = self.broadcast_exact(o, &pty.shape, or)?;
            operands.push(o);
        }
        let ty = pty.with_elem(Elem::Scalar(elem));
        Ok(Val::Tensor(self.emit1(OpKind::Load { has_mask, has_other }, operands, ty)))
    }

    /// Checks a mask is boolean and broadcasts it to the pointer's shape.
    pub(crate) fn mask_for(&mut self, pty: &Type, mv: Val, mr: TextRange) -> R<tm_ir::ValueId> {
        let m = self.tensor(&mv, mr)?;
        let mty = self.f.ty(m).clone();
        if mty.elem != Elem::Scalar(DType::I1) {
            return Err(self.err(mr, format!("mask must be a boolean (int1) value, got {}", tm_ir::describe_type(&mty))));
        }
        if !pty.is_block() && mty.is_block() {
            return Err(self.err(mr, "a block mask needs a block of pointers"));
        }
        self.broadcast_exact(m, &pty.shape, mr)
    }

    pub(crate) fn lower_store(&mut self, args: Args, range: TextRange) -> R<Val> {
        let names = ["pointer", "value", "mask", "boundary_check", "cache_modifier", "eviction_policy"];
        let b = self.bind("store", args, &names, 2, range)?;
        let (pv, pr) = b[0].clone().expect("required");
        if let Val::BlockPtr(bp) = &pv {
            if !Self::is_none(&b[2]) {
                return Err(self.err(range, "tl.store through a block pointer takes boundary_check, not mask"));
            }
            return self.block_ptr_access(bp, &b[3], None, b[1].clone(), range);
        }
        let ptr = self.tensor(&pv, pr)?;
        let pty = self.f.ty(ptr).clone();
        let Elem::Ptr(elem) = pty.elem else {
            return Err(self.err(pr, format!("tl.store needs a pointer, got {}", tm_ir::describe_type(&pty))));
        };
        if self.const_ptrs.contains(&ptr) {
            return Err(self.err(pr, "Cannot store to a constant pointer"));
        }
        self.check_dtype_supported(elem, range)?;
        let (vv, vr) = b[1].clone().expect("required");
        let val = self.operand(&vv, vr)?;
        // As Triton, the value is cast to the pointer's element type (float to int truncates; a
        // pointer stored to int64 memory is its address).
        if let Operand::Value(v) = &val {
            let vs = &self.f.ty(*v).shape;
            if !pty.is_block() && !vs.is_empty() {
                return Err(self.err(vr, "cannot store a block through a single pointer"));
            }
        }
        let v = self.materialize(&val, elem, vr)?;
        let v = self.broadcast_exact(v, &pty.shape, vr)?;
        let mut operands = vec![ptr, v];
        let has_mask = !Self::is_none(&b[2]);
        if has_mask {
            let (mv, mr) = b[2].clone().expect("checked");
            operands.push(self.mask_for(&pty, mv, mr)?);
        }
        self.emit(OpKind::Store { has_mask }, operands, vec![], vec![]);
        Ok(Val::Const(ConstValue::None))
    }
}
