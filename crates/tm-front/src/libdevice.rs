//! CUDA libdevice functions (`triton.language.extra.libdevice`, `tl.extra.cuda.libdevice`,
//! `tl.math`) beyond the common ones in builtins.rs: float32 math mapped to Metal's (or to the
//! MSL prelude where Metal has none), classification, reinterpretation, and the conversions
//! and arithmetic whose rounding is round-to-nearest (Metal's own). As upstream, the float
//! functions take float32 (float64 is refused) and results have upstream's dtypes
//! (`finitef` is int32, `float_as_uint` int32, `float2ull_rn` int64, ...). Variants with
//! directed rounding (`_rz`, `_rd`, `_ru` arithmetic) are not here: Metal has no rounding
//! modes, so they stay refused as unknown functions.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{BinOp, CmpPred, DType, Elem, MathFn, OpKind, ValueId};

/// The libdevice names this module lowers.
pub const NAMES: &[&str] = &[
    "exp10", "log10", "acosh", "asinh", "atanh", "sinpi", "cospi", "round", "cbrt", "rcbrt", "erfc", "normcdf",
    "fast_sinf", "fast_cosf", "fast_tanf", "fast_log2f", "fast_log10f", "fast_exp10f", "fast_powf", "rsqrt_rn",
    "fmod", "copysign", "fdim", "hypot", "rhypot", "finitef", "isfinited", "llrint", "llround", "rcp_rn", "add_rn",
    "sub_rn", "mul_rn", "fma_rn", "saturatef", "int_as_float", "float_as_int", "uint_as_float", "float_as_uint",
    "float2int_rn", "float2int_rz", "float2int_rd", "float2int_ru", "float2uint_rn", "float2uint_rz", "float2uint_rd",
    "float2uint_ru", "float2ll_rn", "float2ll_rz", "float2ll_rd", "float2ll_ru", "float2ull_rn", "float2ull_rz",
    "float2ull_rd", "float2ull_ru", "int2float_rn", "uint2float_rn", "ll2float_rn", "ull2float_rn", "mulhi",
];

const ARGS: &[&str] = &["arg0", "arg1", "arg2"];

impl Lowerer<'_> {
    /// Lowers libdevice function `name` (one of `NAMES`).
    pub(crate) fn lower_libdevice(&mut self, name: &'static str, args: Args, range: TextRange) -> R<Val> {
        let t = |v: ValueId| Ok(Val::Tensor(v));
        match name {
            "mulhi" => return self.call_builtin("umulhi", None, args, range),
            "fma_rn" => return self.call_builtin("fma", None, args, range),
            "fast_powf" => return self.call_builtin("pow", None, args, range),
            "rcp_rn" => {
                let b = self.bind(name, args, ARGS, 1, range)?;
                let x = b[0].clone().expect("required");
                self.float_operand(name, &x.0, x.1)?;
                let one = (Val::Const(ConstValue::Float(1.0)), range);
                return self.call_builtin("div_rn", None, Args { pos: vec![one, x], kw: vec![] }, range);
            }
            _ => {}
        }
        let arity = match name {
            "fmod" | "copysign" | "fdim" | "hypot" | "rhypot" | "add_rn" | "sub_rn" | "mul_rn" => 2,
            _ => 1,
        };
        let b = self.bind(name, args, &ARGS[..arity], arity, range)?;
        let (v0, r0) = b[0].clone().expect("required");
        // Reinterpretations and integer-to-float conversions take integers.
        if let Some((from, to)) = match name {
            "int_as_float" => Some((Some(DType::I32), Elem::Scalar(DType::F32))),
            "uint_as_float" => Some((Some(DType::U32), Elem::Scalar(DType::F32))),
            "float_as_int" | "float_as_uint" => Some((None, Elem::Scalar(DType::I32))),
            _ => None,
        } {
            let x = match from {
                Some(d) => self.int_operand(name, &v0, r0, d)?,
                None => self.float_operand(name, &v0, r0)?,
            };
            return t(self.bitcast(x, to, range)?);
        }
        if let Some(from) = match name {
            "int2float_rn" => Some(DType::I32),
            "uint2float_rn" => Some(DType::U32),
            "ll2float_rn" => Some(DType::I64),
            "ull2float_rn" => Some(DType::U64),
            _ => None,
        } {
            let x = self.int_operand(name, &v0, r0, from)?;
            return t(self.cast(x, DType::F32, range)?);
        }
        let x = self.float_operand(name, &v0, r0)?;
        let unary = |m: MathFn, s: &mut Self| s.emit1(OpKind::Math(m), vec![x], s.f.ty(x).clone());
        if arity == 2 {
            let (v1, r1) = b[1].clone().expect("required");
            let y = self.float_operand(name, &v1, r1)?;
            let (x, y, _) = self.unify(&Operand::Value(x), &Operand::Value(y), DType::F32, range)?;
            let op = |s: &mut Self, o: BinOp| s.arith(o, Operand::Value(x), Operand::Value(y), true, range);
            let math = |s: &mut Self, m: MathFn| s.emit1(OpKind::Math(m), vec![x, y], s.f.ty(x).clone());
            return t(match name {
                // Float `%` is C's fmod, as upstream's frem.
                "fmod" => op(self, BinOp::Rem)?,
                "copysign" => math(self, MathFn::Copysign),
                "fdim" => math(self, MathFn::Fdim),
                "hypot" => math(self, MathFn::Hypot),
                "rhypot" => {
                    let h = math(self, MathFn::Hypot);
                    self.reciprocal(h, range)?
                }
                "add_rn" => op(self, BinOp::Add)?,
                "sub_rn" => op(self, BinOp::Sub)?,
                _ => op(self, BinOp::Mul)?,
            });
        }
        let m = match name {
            "exp10" | "fast_exp10f" => Some(MathFn::Exp10),
            "log10" | "fast_log10f" => Some(MathFn::Log10),
            "acosh" => Some(MathFn::Acosh),
            "asinh" => Some(MathFn::Asinh),
            "atanh" => Some(MathFn::Atanh),
            "sinpi" => Some(MathFn::Sinpi),
            "cospi" => Some(MathFn::Cospi),
            "round" => Some(MathFn::Round),
            "cbrt" => Some(MathFn::Cbrt),
            "erfc" => Some(MathFn::Erfc),
            "fast_sinf" => Some(MathFn::Sin),
            "fast_cosf" => Some(MathFn::Cos),
            "fast_tanf" => Some(MathFn::Tan),
            "fast_log2f" => Some(MathFn::Log2),
            "rsqrt_rn" => Some(MathFn::Rsqrt),
            _ => None,
        };
        if let Some(m) = m {
            return t(unary(m, self));
        }
        match name {
            "rcbrt" => {
                let c = unary(MathFn::Cbrt, self);
                t(self.reciprocal(c, range)?)
            }
            "normcdf" => {
                // Phi(x) = erfc(-x / sqrt(2)) / 2
                let s = self.arith(BinOp::Mul, Operand::Value(x), Operand::Weak(ConstValue::Float(-std::f64::consts::FRAC_1_SQRT_2)), false, range)?;
                let e = self.emit1(OpKind::Math(MathFn::Erfc), vec![s], self.f.ty(s).clone());
                t(self.arith(BinOp::Mul, Operand::Value(e), Operand::Weak(ConstValue::Float(0.5)), false, range)?)
            }
            "finitef" | "isfinited" => {
                let a = unary(MathFn::Abs, self);
                let c = self.compare(CmpPred::Lt, Operand::Value(a), Operand::Weak(ConstValue::Float(f64::INFINITY)), range)?;
                t(self.cast(c, DType::I32, range)?)
            }
            "saturatef" => {
                // fmax(NaN, 0) is 0, as CUDA's saturatef(NaN).
                let lo = self.arith(BinOp::Max, Operand::Value(x), Operand::Weak(ConstValue::Float(0.0)), false, range)?;
                t(self.arith(BinOp::Min, Operand::Value(lo), Operand::Weak(ConstValue::Float(1.0)), false, range)?)
            }
            _ => {
                // Float to integer with a rounding: round in float, then convert (exact).
                let (to, bits_as) = match name.split('_').next().unwrap_or("") {
                    "float2int" => (DType::I32, None),
                    "float2uint" => (DType::U32, Some(DType::I32)),
                    "float2ll" | "llrint" | "llround" => (DType::I64, None),
                    _ => (DType::U64, Some(DType::I64)),
                };
                let m = match name {
                    "llround" => MathFn::Round,
                    "llrint" => MathFn::Rint,
                    n if n.ends_with("_rz") => MathFn::Trunc,
                    n if n.ends_with("_rd") => MathFn::Floor,
                    n if n.ends_with("_ru") => MathFn::Ceil,
                    _ => MathFn::Rint,
                };
                let rounded = unary(m, self);
                let v = self.cast(rounded, to, range)?;
                // Upstream types the unsigned results as signed integers of the same width.
                t(match bits_as {
                    Some(d) => self.bitcast(v, Elem::Scalar(d), range)?,
                    None => v,
                })
            }
        }
    }

    /// An integer operand of dtype `d` for `name` (libdevice has one overload per type).
    fn int_operand(&mut self, name: &str, v: &Val, r: TextRange, d: DType) -> R<ValueId> {
        let x = self.tensor(v, r)?;
        match self.f.ty(x).dtype() {
            Some(got) if got == d => Ok(x),
            Some(got) if got.is_int() && !got.is_bool() && got.bits() == d.bits() => self.bitcast(x, Elem::Scalar(d), r),
            Some(got) => Err(self.err(r, format!("{name}() expects {} but got {}", d.triton_name(), got.triton_name()))),
            None => Err(self.err(r, format!("{name}() of a pointer"))),
        }
    }

    /// 1 / v, correctly rounded.
    fn reciprocal(&mut self, v: ValueId, range: TextRange) -> R<ValueId> {
        let q = self.arith(BinOp::Div, Operand::Weak(ConstValue::Float(1.0)), Operand::Value(v), true, range)?;
        if let Some(id) = self.f.def_op(q) {
            if self.f.op(id).kind == OpKind::Binary(BinOp::Div) {
                self.f.op_mut(id).kind = OpKind::Math(MathFn::DivRn);
            }
        }
        Ok(q)
    }
}
