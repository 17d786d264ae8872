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
    /// float8 storage types, as upstream Triton defines them (`core.py`): 8-bit codes
    /// converted in software (`tm-msl` `FP8_PRELUDE`); no arithmetic of their own.
    /// e4m3, bias 7, no infinities, NaN S.1111.111 (`float8_e4m3fn`).
    F8E4NV,
    /// e5m2, bias 15, IEEE-like with infinities (`float8_e5m2`).
    F8E5,
    /// e4m3, bias 15, no infinities, NaN S.1111.111 (Triton's own format).
    F8E4B15,
    /// e4m3, bias 8, no infinities, no -0, NaN 0x80 (`float8_e4m3fnuz`).
    F8E4B8,
    /// e5m2, bias 16, no infinities, no -0, NaN 0x80 (`float8_e5m2fnuz`).
    F8E5B16,
}

impl DType {
    pub const ALL: [DType; 18] = [
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
        DType::F8E4NV,
        DType::F8E5,
        DType::F8E4B15,
        DType::F8E4B8,
        DType::F8E5B16,
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
            DType::F8E4NV => "fp8e4nv",
            DType::F8E5 => "fp8e5",
            DType::F8E4B15 => "fp8e4b15",
            DType::F8E4B8 => "fp8e4b8",
            DType::F8E5B16 => "fp8e5b16",
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
            DType::F8E4NV => "float8e4nv",
            DType::F8E5 => "float8e5",
            DType::F8E4B15 => "float8e4b15",
            DType::F8E4B8 => "float8e4b8",
            DType::F8E5B16 => "float8e5b16",
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
            DType::F8E4NV => "f8E4M3FN",
            DType::F8E5 => "f8E5M2",
            DType::F8E4B15 => "f8E4M3B11FNUZ",
            DType::F8E4B8 => "f8E4M3FNUZ",
            DType::F8E5B16 => "f8E5M2FNUZ",
            other => other.triton_name(),
        }
    }

    pub fn bits(self) -> u32 {
        match self {
            DType::I1 => 1,
            DType::I8 | DType::U8 => 8,
            DType::F8E4NV | DType::F8E5 | DType::F8E4B15 | DType::F8E4B8 | DType::F8E5B16 => 8,
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
        matches!(self, DType::F16 | DType::BF16 | DType::F32 | DType::F64) || self.is_fp8()
    }
    pub fn is_fp8(self) -> bool {
        matches!(self, DType::F8E4NV | DType::F8E5 | DType::F8E4B15 | DType::F8E4B8 | DType::F8E5B16)
    }
    /// Exponent bits, mantissa bits and exponent bias of a float8 type.
    pub fn fp8_format(self) -> Option<(u32, u32, i32)> {
        Some(match self {
            DType::F8E4NV => (4, 3, 7),
            DType::F8E5 => (5, 2, 15),
            DType::F8E4B15 => (4, 3, 15),
            DType::F8E4B8 => (4, 3, 8),
            DType::F8E5B16 => (5, 2, 16),
            _ => return None,
        })
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

    /// How a float8 type marks special values: 0 no infinities, NaN S.1111.111; 1 IEEE-like
    /// with infinities; 2 no infinities and no -0, NaN 0x80 (the `fnuz` formats).
    pub fn fp8_kind(self) -> Option<u32> {
        Some(match self {
            DType::F8E4NV | DType::F8E4B15 => 0,
            DType::F8E5 => 1,
            DType::F8E4B8 | DType::F8E5B16 => 2,
            _ => return None,
        })
    }

    /// The float8 code nearest `x` (ties to even), saturating as upstream Triton's
    /// conversions do (beyond the largest finite value, infinities included: that value of
    /// the same sign; NaN: NaN). The same rule as the MSL `tm_f32_to_f8`, here from a double.
    pub fn fp8_encode(self, x: f64) -> Option<u8> {
        let (_, m, bias) = self.fp8_format()?;
        let kind = self.fp8_kind()?;
        let (e_bits, m) = (self.fp8_format()?.0, m as i64);
        let sign: u8 = if x.is_sign_negative() { 0x80 } else { 0 };
        if x.is_nan() {
            return Some(if kind == 2 { 0x80 } else { sign | 0x7f });
        }
        let maxc: u64 = match kind {
            0 => 0x7e,
            1 => (((1u64 << e_bits) - 2) << m) | ((1u64 << m) - 1),
            _ => 0x7f,
        };
        let a = x.abs();
        let code: u64 = if a.is_infinite() {
            maxc
        } else if a == 0.0 {
            0
        } else {
            let bits = a.to_bits();
            let ex = (bits >> 52) as i64;
            let (sig, ex) = if ex == 0 { (bits & ((1 << 52) - 1), -1022) } else { ((bits & ((1 << 52) - 1)) | (1 << 52), ex - 1023) };
            // value = sig * 2^(ex - 52); the float8 biased exponent when normal:
            let te = ex + bias as i64;
            let shift = 52 - m + if te >= 1 { 0 } else { 1 - te };
            if shift > 64 {
                0
            } else {
                let (q, rem, half) = if shift == 64 {
                    (0u64, sig as u128, 1u128 << 63)
                } else {
                    (sig >> shift, (sig & ((1u64 << shift) - 1)) as u128, 1u128 << (shift - 1))
                };
                let q = if rem > half || (rem == half && q & 1 == 1) { q + 1 } else { q };
                if te >= 1 {
                    (((te - 1) as u64) << m).saturating_add(q).min(maxc)
                } else {
                    q
                }
            }
        };
        if code == 0 && kind == 2 {
            return Some(0);
        }
        Some(sign | code as u8)
    }

    /// The value of a float8 code (NaN codes give NaN).
    pub fn fp8_decode(self, c: u8) -> Option<f64> {
        let (e_bits, m_bits, bias) = self.fp8_format()?;
        let kind = self.fp8_kind()?;
        let s = if c & 0x80 != 0 { -1.0 } else { 1.0 };
        let e = ((c >> m_bits) as u32) & ((1 << e_bits) - 1);
        let m = (c as u32) & ((1 << m_bits) - 1);
        let all_ones = e == (1 << e_bits) - 1;
        if (kind == 2 && c == 0x80) || (kind == 0 && c & 0x7f == 0x7f) || (kind == 1 && all_ones && m != 0) {
            return Some(f64::NAN);
        }
        if kind == 1 && all_ones {
            return Some(s * f64::INFINITY);
        }
        let mag = if e == 0 {
            m as f64 * 2f64.powi(1 - bias - m_bits as i32)
        } else {
            (m + (1 << m_bits)) as f64 * 2f64.powi(e as i32 - bias - m_bits as i32)
        };
        Some(s * mag)
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
    fn fp8_codes_round_trip_and_saturate() {
        let fp8 = [DType::F8E4NV, DType::F8E5, DType::F8E4B15, DType::F8E4B8, DType::F8E5B16];
        for d in fp8 {
            assert!(d.is_fp8() && d.is_float() && d.size_bytes() == 1);
            assert_eq!(DType::parse(d.triton_name()), Some(d));
            for c in 0..=255u8 {
                let v = d.fp8_decode(c).unwrap();
                let back = d.fp8_encode(v).unwrap();
                if v.is_nan() {
                    assert!(d.fp8_decode(back).unwrap().is_nan());
                } else if v.is_infinite() {
                    // infinities saturate (upstream's satfinite conversions)
                    assert_eq!(back & 0x7f, 0x7b, "{d:?} {c:#x}");
                } else {
                    assert_eq!(back, c, "{d:?} {c:#x} = {v}");
                }
            }
        }
        assert_eq!(DType::F8E4NV.fp8_decode(0x7e), Some(448.0));
        assert_eq!(DType::F8E4NV.fp8_encode(1e9), Some(0x7e));
        assert_eq!(DType::F8E4NV.fp8_encode(-f64::INFINITY), Some(0xfe));
        assert_eq!(DType::F8E5.fp8_decode(0x7b), Some(57344.0));
        assert_eq!(DType::F8E4B8.fp8_encode(-0.0), Some(0)); // fnuz: no -0
        assert_eq!(DType::F8E4B8.fp8_encode(f64::NAN), Some(0x80));
        assert_eq!(DType::F8E4B15.fp8_decode(0x7e), Some(1.75));
        // ties to even: 1.0625 lies halfway between 1.0 (0x38) and 1.125 (0x39) in e4m3
        assert_eq!(DType::F8E4NV.fp8_encode(1.0625), Some(0x38));
        assert_eq!(DType::F8E4NV.fp8_encode(1.0625 + 1e-9), Some(0x39));
        // half the smallest subnormal (2^-10) rounds to 0, just above it to the subnormal
        assert_eq!(DType::F8E4NV.fp8_encode(2f64.powi(-10)), Some(0));
        assert_eq!(DType::F8E4NV.fp8_encode(2f64.powi(-10) * 1.0001), Some(1));
    }

    #[test]
    fn sizes() {
        assert_eq!(DType::I1.size_bytes(), 1);
        assert_eq!(DType::BF16.size_bytes(), 2);
        assert_eq!(DType::U64.size_bytes(), 8);
    }
}
