//! float8 storage types (`tl.float8e4nv`, `float8e5`, `float8e4b15`, `float8e4b8`,
//! `float8e5b16`): values are their 8-bit codes (`uchar` in MSL); conversions to and from
//! float are exact software routines, emitted only into kernels that use float8. The
//! emitter refuses any other computation on float8 values (`Emitter::check_fp8_use`);
//! constants are encoded at compile time by `DType::fp8_encode`, the same rule.

use tm_ir::DType;

// float8 conversions (DType::F8*): a float8 value is its 8-bit code (`uchar`); Metal has no
// float8 arithmetic, so codes are converted to and from float exactly in software. `kind`:
// 0 no infinities, NaN S.1111.111 (float8e4nv, float8e4b15); 1 IEEE-like with infinities
// (float8e5); 2 no infinities and no -0, NaN 0x80 (float8e4b8, float8e5b16). Encoding rounds
// to nearest even and saturates as upstream Triton's conversions do: a finite value beyond
// the largest, and an infinity, become the largest finite value of its sign; NaN stays NaN.
/// The conversions (see the module comment).
pub(crate) const FP8_PRELUDE: &str = "\
inline float tm_f8_to_f32(uint c, uint E, uint M, int bias, uint kind) {
    uint s = (c >> 7) << 31, e = (c >> M) & ((1u << E) - 1u), m = c & ((1u << M) - 1u);
    if ((kind == 2u && c == 0x80u) || (kind == 0u && (c & 0x7fu) == 0x7fu) || (kind == 1u && e == (1u << E) - 1u && m != 0u)) return as_type<float>(s | 0x7fc00000u);
    if (kind == 1u && e == (1u << E) - 1u) return as_type<float>(s | 0x7f800000u);
    if (e != 0u) return as_type<float>(s | ((uint)((int)e - bias + 127) << 23) | (m << (23u - M)));
    // Subnormal: m units of 2^(1 - bias - M), an exact product.
    return as_type<float>(s | as_type<uint>((float)m * as_type<float>((uint)(127 + 1 - bias - (int)M) << 23)));
}
inline uchar tm_f32_to_f8(float x, uint E, uint M, int bias, uint kind) {
    uint b = as_type<uint>(x), s = (b >> 31) << 7, a = b & 0x7fffffffu;
    if (a > 0x7f800000u) return (uchar)(kind == 2u ? 0x80u : (s | 0x7fu));
    uint maxc = kind == 0u ? 0x7eu : kind == 1u ? (((1u << E) - 2u) << M) | ((1u << M) - 1u) : 0x7fu;
    int ex = (int)(a >> 23);
    uint code = 0u;
    if (ex != 0) {  // a float32 subnormal is far below half the smallest float8 subnormal: 0
        uint sig = (a & 0x7fffffu) | 0x800000u;
        int te = ex - 127 + bias;  // the float8 biased exponent when normal
        int shift = 23 - (int)M + (te >= 1 ? 0 : 1 - te);
        if (shift <= 24) {
            uint q = sig >> shift, rem = sig & ((1u << shift) - 1u), halfway = 1u << (shift - 1);
            if (rem > halfway || (rem == halfway && (q & 1u) != 0u)) q += 1u;
            // A carry out of the significand moves to the next exponent by itself.
            uint c = te >= 1 ? ((uint)(te - 1) << M) + q : q;
            code = c > maxc ? maxc : c;
        }
    }
    if (code == 0u && kind == 2u) return (uchar)0;  // no -0: 0x80 is NaN
    return (uchar)(s | code);
}
inline float tm_fp8e4nv_to_f32(uchar c) { return tm_f8_to_f32(c, 4u, 3u, 7, 0u); }
inline float tm_fp8e5_to_f32(uchar c) { return tm_f8_to_f32(c, 5u, 2u, 15, 1u); }
inline float tm_fp8e4b15_to_f32(uchar c) { return tm_f8_to_f32(c, 4u, 3u, 15, 0u); }
inline float tm_fp8e4b8_to_f32(uchar c) { return tm_f8_to_f32(c, 4u, 3u, 8, 2u); }
inline float tm_fp8e5b16_to_f32(uchar c) { return tm_f8_to_f32(c, 5u, 2u, 16, 2u); }
inline uchar tm_f32_to_fp8e4nv(float x) { return tm_f32_to_f8(x, 4u, 3u, 7, 0u); }
inline uchar tm_f32_to_fp8e5(float x) { return tm_f32_to_f8(x, 5u, 2u, 15, 1u); }
inline uchar tm_f32_to_fp8e4b15(float x) { return tm_f32_to_f8(x, 4u, 3u, 15, 0u); }
inline uchar tm_f32_to_fp8e4b8(float x) { return tm_f32_to_f8(x, 4u, 3u, 8, 2u); }
inline uchar tm_f32_to_fp8e5b16(float x) { return tm_f32_to_f8(x, 5u, 2u, 16, 2u); }
";

/// The encoding of a float type narrower than float32, as the conversions take it:
/// (exponent bits, mantissa bits, bias, kind) with the kinds of `FP8_PRELUDE`.
pub(crate) fn narrow_format(d: DType) -> Option<(u32, u32, i32, u32)> {
    Some(match d {
        DType::F16 => (5, 10, 15, 1),
        DType::BF16 => (8, 7, 127, 1),
        DType::F8E4NV | DType::F8E4B15 => (4, 3, d.fp8_format()?.2, 0),
        DType::F8E5 => (5, 2, 15, 1),
        DType::F8E4B8 | DType::F8E5B16 => (d.fp8_format()?.0, d.fp8_format()?.1, d.fp8_format()?.2, 2),
        _ => return None,
    })
}

/// Conversion from float32 rounding toward zero (`fp_downcast_rounding="rtz"`) into a format
/// of E exponent and M mantissa bits (float16, bfloat16, float8): the bits below the
/// format's precision are dropped (subnormals too), a finite value beyond the largest becomes
/// the largest finite value (IEEE round-toward-zero overflow), an infinity stays infinite in a
/// format that has infinities (kind 1) and saturates otherwise, NaN stays NaN (a quiet NaN of
/// the format). Returns the code, sign at bit E + M.
pub(crate) const RTZ_PRELUDE: &str = "\
inline uint tm_f32_rtz(float x, uint E, uint M, int bias, uint kind) {
    uint b = as_type<uint>(x), s = (b >> 31) << (E + M), a = b & 0x7fffffffu;
    uint expo = ((1u << E) - 1u) << M;
    if (a > 0x7f800000u) return kind == 2u ? (1u << (E + M)) : kind == 1u ? (s | expo | (1u << (M - 1u))) : (s | ((1u << (E + M)) - 1u));
    if (a == 0x7f800000u && kind == 1u) return s | expo;
    uint maxc = kind == 0u ? (1u << (E + M)) - 2u : kind == 1u ? (expo - (1u << M)) | ((1u << M) - 1u) : (1u << (E + M)) - 1u;
    int ex = (int)(a >> 23);
    uint code = 0u;
    if (a == 0x7f800000u) {
        code = maxc;
    } else if (a != 0u) {
        // A float32 subnormal has no implicit bit and the exponent of the smallest normal.
        uint sig = (a & 0x7fffffu) | (ex != 0 ? 0x800000u : 0u);
        int te = (ex != 0 ? ex : 1) - 127 + bias;  // the biased exponent when normal
        int shift = 23 - (int)M + (te >= 1 ? 0 : 1 - te);
        if (shift < 32) {
            uint q = sig >> shift;
            uint c = te >= 1 ? ((uint)(te - 1) << M) + q : q;
            code = c > maxc ? maxc : c;
        }
    }
    if (code == 0u && kind == 2u) return 0u;  // no -0 (its code is NaN)
    return s | code;
}
";
