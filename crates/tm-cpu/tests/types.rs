//! half and bfloat arithmetic and conversions, vectors, math and integer functions.

mod common;

use common::*;
use tm_ir::DType;

#[test]
fn half_and_bfloat_arithmetic_round_after_every_operation() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void small_floats(
    device half* p0 [[buffer(0)]],
    device bfloat* p1 [[buffer(1)]],
    device float* p2 [[buffer(2)]],
    device half* p3 [[buffer(3)]],
    device bfloat* p4 [[buffer(4)]],
    device float* p5 [[buffer(5)]],
    {BUILTINS})
{
    uint i = tm_tid;
    half h = p0[i];
    bfloat b = p1[i];
    float f = p2[i];
    p3[i] = h * h + h;
    p4[i] = b * b + b;
    device float* o = p5 + i * 8;
    o[0] = float(half(f));
    o[1] = float(bfloat(f));
    half one = half(1.0f), tiny = half(0.0004f);
    o[2] = float((one + tiny) - one);
    bfloat bone = bfloat(1.0f), btiny = bfloat(0.003f);
    o[3] = float((bone + btiny) - bone);
    o[4] = float(as_type<ushort>(h));
    half4 hv = half4(h, h, 1.0h, 2.0h);
    o[5] = float(hv.x + hv.w);
    o[6] = float(int(h));
    o[7] = float(bfloat(float(h))) + float(h < 0.0h);
}
"#;
    let abi = abi(
        "small_floats",
        &[
            DType::F16,
            DType::BF16,
            DType::F32,
            DType::F16,
            DType::BF16,
            DType::F32,
        ],
        &[],
        64,
        0,
        false,
    );
    let kernel = build(&msl(src, &[]), &abi);
    let fs: Vec<f32> = (0..64)
        .map(|i| (i as f32 - 20.0) * 0.37 + 0.001 * i as f32)
        .collect();
    let mut h: Vec<u16> = fs.iter().map(|f| tm_abi::f32_to_f16_bits(*f)).collect();
    let mut b: Vec<u16> = fs
        .iter()
        .map(|f| tm_abi::f32_to_bf16_bits(*f * 3.0))
        .collect();
    let mut f = fs.clone();
    let mut oh = vec![0u16; 64];
    let mut ob = vec![0u16; 64];
    let mut o = vec![0f32; 64 * 8];
    let bufs = [
        ptr(&mut h),
        ptr(&mut b),
        ptr(&mut f),
        ptr(&mut oh),
        ptr(&mut ob),
        ptr(&mut o),
    ];
    unsafe { kernel.launch([1, 1, 1], &bufs, &[]) }.unwrap();
    for i in 0..64 {
        let hv = f16_to_f32(h[i]);
        let bv = bf16_to_f32(b[i]);
        // Products and sums of these values are exact in f32, so this is per-op rounding.
        assert_eq!(
            f16_to_f32(oh[i]),
            round_f16(round_f16(hv * hv) + hv),
            "half h*h+h at {i}"
        );
        assert_eq!(
            bf16_to_f32(ob[i]),
            round_bf16(round_bf16(bv * bv) + bv),
            "bfloat b*b+b at {i}"
        );
        let r = &o[i * 8..][..8];
        assert_eq!(r[0], round_f16(fs[i]), "float->half at {i}");
        assert_eq!(r[1], round_bf16(fs[i]), "float->bfloat at {i}");
        assert_eq!(r[2], 0.0, "half (1 + 0.0004) - 1 rounds per operation");
        assert_eq!(r[3], 0.0, "bfloat (1 + 0.003) - 1 rounds per operation");
        assert_eq!(r[4], f32::from(h[i]), "as_type bits at {i}");
        assert_eq!(r[5], round_f16(hv + 2.0), "half4 at {i}");
        assert_eq!(r[6], hv.trunc(), "half->int at {i}");
        assert_eq!(
            r[7],
            round_bf16(hv) + if hv < 0.0 { 1.0 } else { 0.0 },
            "half->bfloat at {i}"
        );
    }
}

#[test]
fn vectors_math_and_integer_functions() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void mathfns(
    device float* p0 [[buffer(0)]],
    device int* p1 [[buffer(1)]],
    {BUILTINS})
{
    float x = 0.25f + float(tm_tid) * 0.125f;
    device float* o = p0 + tm_tid * 24;
    o[0] = exp(x);
    o[1] = log(x);
    o[2] = sqrt(x);
    o[3] = rsqrt(x);
    o[4] = tanh(x - 1.0f);
    o[5] = erf(x - 1.0f);
    o[6] = precise::exp2(x);
    o[7] = fast::sin(x);
    o[8] = pow(x, 1.5f);
    o[9] = atan2(x, 2.0f);
    o[10] = fma(x, 3.0f, -1.0f);
    o[11] = clamp(x * 4.0f - 3.0f, -1.0f, 1.0f);
    o[12] = select(1.0f, 2.0f, x > 1.0f);
    o[13] = fmax(x, NAN) + fmin(NAN, x);
    o[14] = sign(x - 1.0f) + copysign(2.0f, -x) + fmod(x * 10.0f, 3.0f);
    o[15] = floor(-x) + ceil(x) + round(x * 3.0f) + trunc(-x * 3.0f) + rint(2.5f);
    float4 v = float4(x, 2.0f, float2(3.0f, -x));
    float4 w = v * 2.0f + float4(1.0f);
    o[16] = w.x + w.y + w.z + w.w;
    float4 m = max(v, float4(0.0f));
    o[17] = dot(m, float4(1.0f, 1.0f, 1.0f, 1.0f));
    int4 iv = int4(v * 4.0f);
    o[18] = float(iv.x + iv[3]);
    bool4 gt = v > 1.0f;
    o[19] = float(any(gt)) + float(all(gt)) * 10.0f + float(select(float4(0.0f), float4(1.0f), gt).y);
    float3 t3 = float3(1.0f, 2.0f, 3.0f);
    o[20] = float(sizeof(float3)) + t3.z + float(sizeof(half3));
    o[21] = float(isnan(NAN)) + float(isinf(INFINITY)) * 2.0f + float(isnan(x)) * 4.0f;
    o[22] = abs(-x) + fabs(-2.0f) + mix(1.0f, 3.0f, 0.25f);
    o[23] = as_type<float>(as_type<uint>(x)) - x;

    int k = int(tm_tid) - 30;
    device int* q = p1 + tm_tid * 10;
    q[0] = abs(k);
    q[1] = max(k, 3) + min(k, -3);
    q[2] = clamp(k, -5, 5);
    q[3] = int(clz(uint(tm_tid)));
    q[4] = int(popcount(uint(tm_tid * 37u)));
    q[5] = int(ctz(uint(tm_tid + 64u)));
    q[6] = mulhi(k * 100000, 300000);
    q[7] = int(mulhi(uint(tm_tid) * 0x10000000u, 0x30u));
    q[8] = (k / 7) * 10 + k % 7;
    char c = char(k);
    q[9] = int(c >> 1) + int(uchar(200) / uchar(3));
}
"#;
    let abi = abi("mathfns", &[DType::F32, DType::I32], &[], 64, 0, false);
    let kernel = build(&msl(src, &[]), &abi);
    let mut o = vec![0f32; 64 * 24];
    let mut q = vec![0i32; 64 * 10];
    unsafe { kernel
        .launch([1, 1, 1], &[ptr(&mut o), ptr(&mut q)], &[]) }
        .unwrap();
    let rel = 2e-6;
    for t in 0..64usize {
        let x = 0.25 + t as f32 * 0.125;
        let r = &o[t * 24..][..24];
        assert_close(r[0], x.exp(), rel, "exp");
        assert_close(r[1], x.ln(), rel, "log");
        assert_close(r[2], x.sqrt(), rel, "sqrt");
        assert_close(r[3], 1.0 / x.sqrt(), rel, "rsqrt");
        assert_close(r[4], (x - 1.0).tanh(), rel, "tanh");
        let want_erf = if x - 1.0 < 2.0 { erf(x - 1.0) } else { 1.0 };
        assert_close(
            r[5],
            want_erf,
            if x - 1.0 < 2.0 { 1e-5 } else { 5e-3 },
            "erf",
        );
        assert_close(r[6], x.exp2(), rel, "exp2");
        assert_close(r[7], x.sin(), rel, "sin");
        assert_close(r[8], x.powf(1.5), rel, "pow");
        assert_close(r[9], x.atan2(2.0), rel, "atan2");
        assert_eq!(r[10], x * 3.0 - 1.0, "fma");
        assert_eq!(r[11], (x * 4.0 - 3.0).clamp(-1.0, 1.0), "clamp");
        assert_eq!(r[12], if x > 1.0 { 2.0 } else { 1.0 }, "select");
        assert_eq!(r[13], 2.0 * x, "fmax/fmin ignore NaN");
        let sign = if x > 1.0 {
            1.0
        } else if x < 1.0 {
            -1.0
        } else {
            0.0
        };
        assert_close(
            r[14],
            sign - 2.0 + (x * 10.0) % 3.0,
            rel,
            "sign/copysign/fmod",
        );
        let rounds = (-x).floor() + x.ceil() + (x * 3.0).round() + (-x * 3.0).trunc() + 2.0;
        assert_eq!(r[15], rounds, "rounding at t{t}");
        assert_eq!(
            r[16],
            (2.0 * x + 1.0) + 5.0 + 7.0 + (-2.0 * x + 1.0),
            "vector arithmetic"
        );
        assert_eq!(r[17], x + 2.0 + 3.0, "vector max/dot");
        assert_eq!(
            r[18],
            ((x * 4.0) as i32 + (-x * 4.0) as i32) as f32,
            "vector conversion"
        );
        assert_eq!(
            r[19],
            1.0 + 0.0 + 1.0,
            "bool vectors (the last lane is never > 1)"
        );
        assert_eq!(r[20], 16.0 + 3.0 + 8.0, "float3/half3 have Metal's sizes");
        assert_eq!(r[21], 3.0, "isnan/isinf");
        assert_eq!(r[22], x + 2.0 + 1.5, "abs/mix");
        assert_eq!(r[23], 0.0, "as_type round trip");

        let k = t as i32 - 30;
        let s = &q[t * 10..][..10];
        assert_eq!(s[0], k.abs());
        assert_eq!(s[1], k.max(3) + k.min(-3));
        assert_eq!(s[2], k.clamp(-5, 5));
        assert_eq!(s[3], (t as u32).leading_zeros() as i32);
        assert_eq!(s[4], (t as u32 * 37).count_ones() as i32);
        assert_eq!(s[5], (t as u32 + 64).trailing_zeros() as i32);
        assert_eq!(
            s[6],
            ((i64::from(k * 100_000) * 300_000) >> 32) as i32,
            "mulhi int at t{t}"
        );
        assert_eq!(
            s[7],
            ((u64::from((t as u32).wrapping_mul(0x1000_0000)) * 0x30) >> 32) as i32,
            "mulhi uint"
        );
        assert_eq!(s[8], (k / 7) * 10 + k % 7, "C division");
        assert_eq!(s[9], i32::from(k as i8 >> 1) + 66, "signed char");
    }
}

/// erf by its series (for |x| < 2), to compare against without a libm binding.
fn erf(x: f32) -> f32 {
    let x = f64::from(x);
    let (mut term, mut sum, mut n) = (x, x, 0.0);
    while term.abs() > 1e-17 {
        n += 1.0;
        term *= -x * x / n;
        sum += term / (2.0 * n + 1.0);
    }
    (sum * 2.0 / std::f64::consts::PI.sqrt()) as f32
}
