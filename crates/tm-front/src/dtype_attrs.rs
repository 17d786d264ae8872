//! Attributes and predicates of `tl.dtype` values at compile time, as upstream Triton's
//! Python `dtype` class answers them (`x.dtype.is_floating()`, `X.dtype.element_ty`,
//! `d.primitive_bitwidth`, `d.fp_mantissa_width`, `d.name`, ...).

use crate::value::ConstValue;
use tm_ir::DType;

/// What `d.<attr>` is: a value, or a zero-argument method returning a bool.
pub enum DTypeAttr {
    Value(ConstValue),
    Predicate(bool),
}

/// Upstream's `dtype.name`: `fp16`, `bf16`, `fp32`, `fp64` for floats, `int32`, `uint8`, `int1`
/// for integers.
pub fn upstream_name(d: DType) -> &'static str {
    if d.is_float() {
        d.triton_name()
    } else {
        d.language_name()
    }
}

/// Upstream counts int1 among the unsigned types (`dtype.UINT_TYPES`).
fn is_unsigned(d: DType) -> bool {
    d.is_unsigned_int() || d == DType::I1
}

/// `d.<attr>` for a scalar dtype, None if upstream's dtype has no such attribute (or it is one
/// triton_metal does not model).
pub fn scalar_attr(d: DType, attr: &str) -> Option<DTypeAttr> {
    use DTypeAttr::{Predicate as P, Value as V};
    let int = |v: u32| V(ConstValue::Int(v as i128));
    Some(match attr {
        "element_ty" | "scalar" => V(ConstValue::DType(d)),
        "name" => V(ConstValue::Str(upstream_name(d).to_string())),
        "primitive_bitwidth" => int(d.bits()),
        "itemsize" => int(d.bits() / 8),
        "int_bitwidth" if d.is_int() => int(d.bits()),
        "fp_mantissa_width" if d.is_fp8() => int(d.fp8_format().map_or(0, |f| f.1)),
        "exponent_bias" if d.is_fp8() => V(ConstValue::Int(d.fp8_format().map_or(0, |f| f.2) as i128)),
        "fp_mantissa_width" if d.is_float() => int(match d {
            DType::F16 => 10,
            DType::BF16 => 7,
            DType::F32 => 23,
            _ => 52,
        }),
        "exponent_bias" if d.is_float() => int(match d {
            DType::F16 => 15,
            DType::BF16 | DType::F32 => 127,
            _ => 1023,
        }),
        "is_floating" => P(d.is_float()),
        "is_standard_floating" => P(d.is_float() && !d.is_fp8()),
        "is_fp8" => P(d.is_fp8()),
        "is_fp8e4nv" => P(d == DType::F8E4NV),
        "is_fp8e4b8" => P(d == DType::F8E4B8),
        "is_fp8e4b15" => P(d == DType::F8E4B15),
        "is_fp8e5" => P(d == DType::F8E5),
        "is_fp8e5b16" => P(d == DType::F8E5B16),
        "is_int" => P(d.is_int()),
        "is_int_signed" => P(d.is_signed_int()),
        "is_int_unsigned" => P(is_unsigned(d)),
        "is_bool" | "is_int1" => P(d == DType::I1),
        "is_fp16" => P(d == DType::F16),
        "is_bf16" => P(d == DType::BF16),
        "is_fp32" => P(d == DType::F32),
        "is_fp64" => P(d == DType::F64),
        "is_int8" => P(d == DType::I8),
        "is_int16" => P(d == DType::I16),
        "is_int32" => P(d == DType::I32),
        "is_int64" => P(d == DType::I64),
        "is_uint8" => P(d == DType::U8),
        "is_uint16" => P(d == DType::U16),
        "is_uint32" => P(d == DType::U32),
        "is_uint64" => P(d == DType::U64),
        "is_void" | "is_block" | "is_ptr" | "is_const" => P(false),
        _ => return None,
    })
}

/// `p.<attr>` for a pointer type (`tl.pointer_type(d)`, the `dtype` of a pointer argument).
pub fn pointer_attr(pointee: DType, attr: &str) -> Option<DTypeAttr> {
    use DTypeAttr::{Predicate as P, Value as V};
    Some(match attr {
        "element_ty" => V(ConstValue::DType(pointee)),
        "scalar" => V(ConstValue::PtrType(pointee)),
        "name" => V(ConstValue::Str(format!("pointer<{}>", upstream_name(pointee)))),
        "primitive_bitwidth" => V(ConstValue::Int(64)),
        "address_space" => V(ConstValue::Int(1)),
        "is_ptr" => P(true),
        a if a.starts_with("is_") && scalar_attr(pointee, a).is_some() => P(false),
        _ => return None,
    })
}

/// `x.type` of a tensor as upstream has it: the dtype itself for a scalar, a block type for a
/// block.
pub fn tensor_type(ty: &tm_ir::Type) -> ConstValue {
    let elem = match ty.elem {
        tm_ir::Elem::Scalar(d) => ConstValue::DType(d),
        tm_ir::Elem::Ptr(d) => ConstValue::PtrType(d),
    };
    if ty.shape.is_empty() {
        elem
    } else {
        ConstValue::BlockType(Box::new(elem), ty.shape.clone())
    }
}

/// `t.<attr>` for a block type (`x.type` of a block): its element, shape and size; of the
/// `is_*` predicates only `is_block()` holds, as upstream.
pub fn block_attr(elem: &ConstValue, shape: &[u32], attr: &str) -> Option<DTypeAttr> {
    use DTypeAttr::{Predicate as P, Value as V};
    let numel: i128 = shape.iter().map(|&s| s as i128).product();
    Some(match attr {
        "element_ty" | "scalar" => V(elem.clone()),
        "shape" => V(ConstValue::Tuple(shape.iter().map(|&s| ConstValue::Int(s as i128)).collect())),
        "numel" => V(ConstValue::Int(numel)),
        "is_block" => P(true),
        a if a.starts_with("is_") => P(false),
        _ => return None,
    })
}
