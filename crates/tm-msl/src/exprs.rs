//! C expressions for element-wise ops, shared by MSL and the CPU header.

use crate::dialect::{msl_type_name, unsigned_of};
use tm_ir::{BinOp, DType, MathFn};

/// C expression for a binary op on element type `d`, with Triton's semantics:
/// integer overflow wraps, integer `/` and `%` truncate toward zero.
pub fn binary_expr(b: BinOp, d: DType, x: &str, y: &str) -> String {
    let t = msl_type_name(d).unwrap_or("float");
    let wide_signed = d.is_signed_int() && d.bits() >= 32;
    let ut = msl_type_name(unsigned_of(d)).unwrap_or("uint");
    let wrap = |sym: &str| {
        if wide_signed {
            format!("({t})(({ut}){x} {sym} ({ut}){y})")
        } else if d.is_int() && !d.is_bool() {
            format!("({t})({x} {sym} {y})")
        } else {
            format!("({x} {sym} {y})")
        }
    };
    match b {
        // i1 arithmetic wraps modulo 2, as LLVM's: + and - are xor, * is and.
        BinOp::Add | BinOp::Sub if d.is_bool() => format!("({x} != {y})"),
        BinOp::Mul if d.is_bool() => format!("({x} && {y})"),
        BinOp::Add => wrap("+"),
        BinOp::Sub => wrap("-"),
        BinOp::Mul => wrap("*"),
        BinOp::Div if d.is_float() => format!("({x} / {y})"),
        BinOp::Div if d.is_signed_int() => format!("tm_sdiv<{t}, {ut}>({x}, {y})"),
        BinOp::Div => format!("tm_udiv<{t}>({x}, {y})"),
        BinOp::Rem if d.is_float() => format!("fmod({x}, {y})"),
        BinOp::Rem if d.is_signed_int() => format!("tm_srem<{t}>({x}, {y})"),
        BinOp::Rem => format!("tm_urem<{t}>({x}, {y})"),
        BinOp::And if d.is_bool() => format!("({x} && {y})"),
        BinOp::Or if d.is_bool() => format!("({x} || {y})"),
        BinOp::Xor if d.is_bool() => format!("({x} != {y})"),
        BinOp::And => format!("({t})({x} & {y})"),
        BinOp::Or => format!("({t})({x} | {y})"),
        BinOp::Xor => format!("({t})({x} ^ {y})"),
        // Shift amounts are unsigned; from the bit width on, a shift gives 0 (or
        // the sign bits, `>>` of a signed value), as PTX's clamped shifts do on
        // NVIDIA, instead of C's undefined behaviour.
        BinOp::Shl | BinOp::Shr if d.is_bool() => format!("(({y}) ? false : {x})"),
        BinOp::Shl => format!("(({ut}){y} < {bits}u ? ({t})(({ut}){x} << ({ut}){y}) : ({t})0)", bits = d.bits()),
        BinOp::Shr if d.is_signed_int() => {
            format!("({t})({x} >> (({ut}){y} < {bits}u ? ({ut}){y} : ({ut}){last}))", bits = d.bits(), last = d.bits() - 1)
        }
        BinOp::Shr => format!("(({ut}){y} < {bits}u ? ({t})({x} >> {y}) : ({t})0)", bits = d.bits()),
        BinOp::Max if d.is_float() => format!("fmax({x}, {y})"),
        BinOp::Min if d.is_float() => format!("fmin({x}, {y})"),
        BinOp::Max => format!("max({x}, {y})"),
        BinOp::Min => format!("min({x}, {y})"),
    }
}

/// C expression for a math function on element type `d`. Half and bfloat
/// inputs are computed in float and rounded back, as Triton's libdevice calls do.
/// `exp` is `exp2(x * log2 e)`, as Triton computes it.
pub fn math_expr(m: MathFn, d: DType, a: &[String]) -> String {
    let t = msl_type_name(d).unwrap_or("float");
    if m == MathFn::Abs && d.is_int() {
        let ut = msl_type_name(unsigned_of(d)).unwrap_or("uint");
        return format!("({x} < 0 ? ({t})(({ut})0 - ({ut}){x}) : {x})", x = a[0]);
    }
    let f = |x: &str| if d == DType::F32 { x.to_string() } else { format!("(float)({x})") };
    let call = match m {
        MathFn::Fma => format!("fma({}, {}, {})", f(&a[0]), f(&a[1]), f(&a[2])),
        MathFn::Erf => format!("tm_erf({})", f(&a[0])),
        MathFn::Log1p => format!("tm_log1p({})", f(&a[0])),
        MathFn::Expm1 => format!("tm_expm1({})", f(&a[0])),
        MathFn::Pow | MathFn::Atan2 | MathFn::Copysign | MathFn::Fdim => {
            format!("{}({}, {})", m.name(), f(&a[0]), f(&a[1]))
        }
        MathFn::Hypot => format!("tm_hypot({}, {})", f(&a[0]), f(&a[1])),
        MathFn::Cbrt => format!("tm_cbrt({})", f(&a[0])),
        MathFn::Erfc => format!("tm_erfc({})", f(&a[0])),
        MathFn::Abs => format!("fabs({})", f(&a[0])),
        // Metal's `/` without fast math (how triton_metal compiles) is correctly rounded.
        MathFn::DivRn => format!("({} / {})", f(&a[0]), f(&a[1])),
        // As Triton lowers fp32 `exp` (ex2.approx of x * log2 e): the hardware's base-2
        // exponential, not a range-reduced library exp.
        MathFn::Exp => format!("exp2({} * 1.4426950408889634f)", f(&a[0])),
        other => format!("{}({})", other.name(), f(&a[0])),
    };
    if d == DType::F32 {
        call
    } else {
        format!("({t})({call})")
    }
}
