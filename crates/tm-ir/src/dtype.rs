//! Scalar element types, shared by the IR, the MSL lowering and the launch ABI.

use std::fmt;

/// A scalar element type. Signedness is part of the type (Triton's front end
/// tracks it too; TTIR erases it into the choice of op).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    I1,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F16,
    BF16,
    F32,
    F64,
}

impl DType {
    pub const ALL: [DType; 13] = [
        DType::I1,
        DType::I8,
        DType::I16,
        DType::I32,
        DType::I64,
        DType::U8,
        DType::U16,
        DType::U32,
        DType::U64,
        DType::F16,
        DType::BF16,
        DType::F32,
        DType::F64,
    ];

    /// Triton's short name, as used in signatures (`fp32`, `i32`, `u8`, `i1`).
    pub fn triton_name(self) -> &'static str {
        match self {
            DType::I1 => "i1",
            DType::I8 => "i8",
            DType::I16 => "i16",
            DType::I32 => "i32",
            DType::I64 => "i64",
            DType::U8 => "u8",
            DType::U16 => "u16",
            DType::U32 => "u32",
            DType::U64 => "u64",
            DType::F16 => "fp16",
            DType::BF16 => "bf16",
            DType::F32 => "fp32",
            DType::F64 => "fp64",
        }
    }

    /// The `tl.*` attribute name (`float32`, `int32`, `uint8`, `int1`).
    pub fn language_name(self) -> &'static str {
        match self {
            DType::I1 => "int1",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// Parses either spelling (`fp32`/`float32`, `i32`/`int32`, `bf16`/`bfloat16`, ...).
    pub fn parse(s: &str) -> Option<DType> {
        let s = s.trim();
        DType::ALL.into_iter().find(|d| d.triton_name() == s || d.language_name() == s).or(match s {
            "f16" | "half" => Some(DType::F16),
            "f32" | "float" => Some(DType::F32),
            "f64" | "double" => Some(DType::F64),
            "bool" | "int1" => Some(DType::I1),
            _ => None,
        })
    }

    /// The textual type in the IR printer (TTIR spells both signednesses `iN`;
    /// we keep `uN` so the printed IR says what the front end decided).
    pub fn ir_name(self) -> &'static str {
        match self {
            DType::F16 => "f16",
            DType::BF16 => "bf16",
            DType::F32 => "f32",
            DType::F64 => "f64",
            other => other.triton_name(),
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            DType::I1 => 1,
            DType::I8 | DType::U8 => 8,
            DType::I16 | DType::U16 | DType::F16 | DType::BF16 => 16,
            DType::I32 | DType::U32 | DType::F32 => 32,
            DType::I64 | DType::U64 | DType::F64 => 64,
        }
    }

    /// Bytes one element occupies in memory (`i1` is stored as a byte).
    pub fn size_bytes(self) -> u32 {
        self.bits().div_ceil(8)
    }

    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64)
    }
    pub fn is_int(self) -> bool {
        !self.is_float()
    }
    pub fn is_bool(self) -> bool {
        self == DType::I1
    }
    pub fn is_signed_int(self) -> bool {
        matches!(self, DType::I8 | DType::I16 | DType::I32 | DType::I64)
    }
    pub fn is_unsigned_int(self) -> bool {
        matches!(self, DType::U8 | DType::U16 | DType::U32 | DType::U64)
    }

    /// The integer type of the same width and the given signedness.
    pub fn int_of_bits(bits: u32, signed: bool) -> Option<DType> {
        Some(match (bits, signed) {
            (1, _) => DType::I1,
            (8, true) => DType::I8,
            (16, true) => DType::I16,
            (32, true) => DType::I32,
            (64, true) => DType::I64,
            (8, false) => DType::U8,
            (16, false) => DType::U16,
            (32, false) => DType::U32,
            (64, false) => DType::U64,
            _ => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ir_name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for d in DType::ALL {
            assert_eq!(DType::parse(d.triton_name()), Some(d));
            assert_eq!(DType::parse(d.language_name()), Some(d));
        }
        assert_eq!(DType::parse("float"), Some(DType::F32));
        assert_eq!(DType::parse("nope"), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(DType::I1.size_bytes(), 1);
        assert_eq!(DType::BF16.size_bytes(), 2);
        assert_eq!(DType::U64.size_bytes(), 8);
    }
}
