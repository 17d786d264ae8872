//! Small helpers shared by builtins: float operands, inserting dims.

use crate::lower::{Lowerer, R};
use crate::value::Val;
use ruff_text_size::TextRange;
use tm_ir::OpKind;

impl Lowerer<'_> {
    /// A floating-point operand for a math function (Triton refuses integers).
    pub(crate) fn float_operand(&mut self, fname: &str, v: &Val, r: TextRange) -> R<tm_ir::ValueId> {
        let x = self.tensor(v, r)?;
        match self.f.ty(x).dtype() {
            Some(d) if d.is_float() => {
                self.check_dtype_supported(d, r)?;
                Ok(x)
            }
            Some(d) => Err(self.err(r, format!("{fname}() expects a floating-point argument (fp16, bf16, fp32), got {}", d.language_name()))),
            None => Err(self.err(r, format!("{fname}() of a pointer"))),
        }
    }

    /// Inserts a size-1 dimension at `axis`.
    pub fn expand_dims(&mut self, x: tm_ir::ValueId, axis: u32, range: TextRange) -> R<tm_ir::ValueId> {
        let ty = self.f.ty(x).clone();
        if axis as usize > ty.rank() {
            return Err(self.err(range, format!("expand_dims axis {axis} out of range for a block of rank {}", ty.rank())));
        }
        let mut shape = ty.shape.clone();
        shape.insert(axis as usize, 1);
        if ty.shape.is_empty() {
            return Ok(self.emit1(OpKind::Splat, vec![x], ty.with_shape(shape)));
        }
        Ok(self.emit1(OpKind::ExpandDims(axis), vec![x], ty.with_shape(shape)))
    }

}
