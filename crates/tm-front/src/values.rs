//! Small helpers shared by builtins: float operands, inserting dims.

use crate::lower::{Lowerer, R};
use tm_ir::DType;
use crate::value::Val;
use ruff_text_size::TextRange;
use tm_ir::OpKind;

impl Lowerer<'_> {
    /// A floating-point operand for a math function (Triton refuses integers).
    /// Triton's math functions take float32 only (its `_check_dtype`): half
    /// and bfloat16 inputs must be converted first, e.g. `tl.exp(x.to(tl.float32))`.
    pub(crate) fn float_operand(&mut self, fname: &str, v: &Val, r: TextRange) -> R<tm_ir::ValueId> {
        let x = self.tensor(v, r)?;
        match self.f.ty(x).dtype() {
            Some(DType::F32) => Ok(x),
            Some(DType::F64) => {
                self.check_dtype_supported(DType::F64, r)?;
                Ok(x)
            }
            Some(d) => Err(self.err(
                r,
                format!("{fname}() expects dtype fp32 (as Triton: ['fp32', 'fp64']) but got {}; convert with .to(tl.float32)", d.triton_name()),
            )),
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


    /// `x.logical_and(y)` / `x.logical_or(y)`: as upstream, on int1 operands (others would
    /// need a bitcast to int1, which upstream refuses for wider types).
    pub(crate) fn lower_logical(&mut self, name: &str, args: crate::builtins::Args, range: TextRange) -> R<Val> {
        let b = self.bind(name, args, &["input", "other"], 2, range)?;
        let mut ops = vec![];
        for (v, r) in b.into_iter().map(|a| a.expect("required")) {
            let x = self.tensor(&v, r)?;
            match self.f.ty(x).dtype() {
                Some(DType::I1) => ops.push(crate::semantic::Operand::Value(x)),
                Some(d) => {
                    return Err(self.err(r, format!("{name}() needs int1 operands (Cannot bitcast data-type of size {} to data-type of size 1)", d.bits())))
                }
                None => return Err(self.err(r, format!("{name}() of a pointer"))),
            }
        }
        let op = if name == "logical_and" { tm_ir::BinOp::And } else { tm_ir::BinOp::Or };
        let [a, c]: [crate::semantic::Operand; 2] = ops.try_into().map_err(|_| self.err(range, "two operands"))?;
        Ok(Val::Tensor(self.arith(op, a, c, false, range)?))
    }
}
