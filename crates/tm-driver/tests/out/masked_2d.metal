// triton_metal: kernel scale_rows, num_warps=4
#include <metal_stdlib>
using namespace metal;

#if defined(__METAL_VERSION__)
// Every device-memory access is *(tm_chk(p, elements, kind, line, buffer)): the identity
// here; the CPU executor checks that the access lies inside the buffer's array.
template <typename T> inline device T* tm_chk(device T* p, uint, int, uint, int) { return p; }
#endif
template <typename T, typename U> inline T tm_sdiv(T a, T b) { return b == T(0) ? T(0) : (b == T(-1) ? T(U(0) - U(a)) : T(a / b)); }
template <typename T> inline T tm_srem(T a, T b) { return (b == T(0) || b == T(-1)) ? T(0) : T(a % b); }
template <typename T> inline T tm_udiv(T a, T b) { return b == T(0) ? T(0) : T(a / b); }
template <typename T> inline T tm_urem(T a, T b) { return b == T(0) ? T(0) : T(a % b); }
// Row-major threadgroup index `i` with `pad` elements after every `inner` (bank-conflict padding).
inline uint tm_pad(uint i, uint inner, uint pad) { return i + i / inner * pad; }
// simd_shuffle_xor for every element type (Metal's covers 16- and 32-bit types).
inline float tm_shfl_xor(float x, ushort m) { return simd_shuffle_xor(x, m); }
inline half tm_shfl_xor(half x, ushort m) { return simd_shuffle_xor(x, m); }
inline int tm_shfl_xor(int x, ushort m) { return simd_shuffle_xor(x, m); }
inline uint tm_shfl_xor(uint x, ushort m) { return simd_shuffle_xor(x, m); }
inline short tm_shfl_xor(short x, ushort m) { return simd_shuffle_xor(x, m); }
inline ushort tm_shfl_xor(ushort x, ushort m) { return simd_shuffle_xor(x, m); }
inline char tm_shfl_xor(char x, ushort m) { return (char)simd_shuffle_xor((short)x, m); }
inline uchar tm_shfl_xor(uchar x, ushort m) { return (uchar)simd_shuffle_xor((ushort)x, m); }
inline bool tm_shfl_xor(bool x, ushort m) { return simd_shuffle_xor((ushort)x, m) != 0; }
#if !defined(__METAL_VERSION__) || __METAL_VERSION__ >= 310
// bfloat exists from MSL 3.1 (macOS 14) on.
inline bfloat tm_shfl_xor(bfloat x, ushort m) { return as_type<bfloat>(simd_shuffle_xor(as_type<ushort>(x), m)); }
#endif
inline ulong tm_shfl_xor(ulong x, ushort m) { uint lo = simd_shuffle_xor((uint)x, m); uint hi = simd_shuffle_xor((uint)(x >> 32), m); return ((ulong)hi << 32) | (ulong)lo; }
inline long tm_shfl_xor(long x, ushort m) { return (long)tm_shfl_xor((ulong)x, m); }
// Metal has no log1p/expm1: Goldberg's and Kahan's corrections keep small x exact;
// the correction factor is formed first so that large x (log1p(1e38), expm1(85))
// does not overflow on the way.
inline float tm_log1p(float x) {
    float u = 1.0f + x;
    if (u == 1.0f) return x;
    if (isinf(u)) return u;
    return log(u) * (x / (u - 1.0f));
}
inline float tm_expm1(float x) {
    float u = exp(x);
    if (u == 1.0f) return x;
    float um1 = u - 1.0f;
    if (um1 == -1.0f) return -1.0f;
    return isinf(u) ? u : um1 * (x / log(u));
}
// Float to integer as upstream Triton's code computes it on NVIDIA (cvt.rzi):
// toward zero, saturating; NaN gives 0 (0x8000000000000000 for 64-bit results);
// 8-bit results saturate to 16 bits and keep the low byte. Defined for every input.
inline short tm_f2i16(float x) { return isnan(x) ? (short)0 : (short)(int)fmin(fmax(x, -32768.0f), 32767.0f); }
inline ushort tm_f2u16(float x) { return isnan(x) ? (ushort)0 : (ushort)(uint)fmin(fmax(x, 0.0f), 65535.0f); }
inline char tm_f2i8(float x) { return (char)(uchar)(ushort)tm_f2i16(x); }
inline uchar tm_f2u8(float x) { return (uchar)tm_f2u16(x); }
inline int tm_f2i32(float x) { return isnan(x) ? 0 : x >= 2147483648.0f ? 2147483647 : x <= -2147483648.0f ? (-2147483647 - 1) : (int)x; }
inline uint tm_f2u32(float x) { return (isnan(x) || x <= 0.0f) ? 0u : x >= 4294967296.0f ? 4294967295u : (uint)x; }
inline long tm_f2i64(float x) {
    if (isnan(x) || x <= -9223372036854775808.0f) return (long)(-9223372036854775807L - 1L);
    return x >= 9223372036854775808.0f ? 9223372036854775807L : (long)x;
}
inline ulong tm_f2u64(float x) {
    if (isnan(x)) return 9223372036854775808UL;
    return x <= 0.0f ? 0UL : x >= 18446744073709551616.0f ? 18446744073709551615UL : (ulong)x;
}
// fp32 `/` (Triton's arith.divf) by a divisor that several elements of a thread share: as
// upstream compiles it (PTX div.full.f32: within 2 ulp over the whole range, not correctly
// rounded), x times the reciprocal of y, y first scaled by a power of two into the range where
// that reciprocal is a normal number. The reciprocal depends on y alone, so the compiler forms
// it once per divisor instead of dividing once per element. Other divisions stay `/`.
inline float tm_fdiv(float x, float y) {
    float a = fabs(y);
    float s = a > as_type<float>(0x7e800000u) ? 0.25f : (a < as_type<float>(0x00800000u) ? 16777216.0f : 1.0f);
    return x * (1.0f / (y * s)) * s;
}
// Metal has no erf/erfc: Taylor series near 0, Numerical Recipes' erfc elsewhere (relative
// error ~1e-7, so erfc keeps its precision far into the tail).
inline float tm_erfc_pos(float ax) {
    float t = 1.0f / (1.0f + 0.5f * ax);
    return t * exp(-ax * ax - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f)))))))));
}
inline float tm_erf(float x) {
    float ax = fabs(x);
    if (ax < 0.5f) {
        float x2 = x * x;
        return x * 1.1283791671f * (1.0f + x2 * (-0.3333333333f + x2 * (0.1f + x2 * (-0.0238095238f + x2 * 0.0046296296f))));
    }
    float y = tm_erfc_pos(ax);
    return x >= 0.0f ? 1.0f - y : y - 1.0f;
}
inline float tm_erfc(float x) {
    if (fabs(x) < 0.5f) return 1.0f - tm_erf(x);
    float y = tm_erfc_pos(fabs(x));
    return x >= 0.0f ? y : 2.0f - y;
}
// Metal has no cbrt: a power-of-two estimate refined by one Newton step (written so that
// nothing overflows near FLT_MAX); zeros, infinities and NaN return themselves.
inline float tm_cbrt(float x) {
    float a = fabs(x);
    if (a == 0.0f || isinf(a) || isnan(a)) return x;
    float y = exp2(log2(a) * (1.0f / 3.0f));
    y += (a / (y * y) - y) * (1.0f / 3.0f);
    return copysign(y, x);
}
// Metal has no hypot: the larger magnitude times sqrt(1 + r^2), r <= 1, so that neither
// overflows nor underflows early; an infinite operand wins over NaN, as C's hypot.
inline float tm_hypot(float x, float y) {
    float a = fabs(x), b = fabs(y);
    if (isinf(a) || isinf(b)) return INFINITY;
    if (isnan(a) || isnan(b)) return NAN;
    float m = fmax(a, b), n = fmin(a, b);
    if (m == 0.0f) return 0.0f;
    float r = n / m;
    return m * sqrt(1.0f + r * r);
}

struct scale_rows_args {
    int M;
    int N;
    int stride;
};
static_assert(sizeof(scale_rows_args) == 12, "argument struct layout");

kernel void scale_rows(
    device half* x_ptr [[buffer(0)]],
    device float* y_ptr [[buffer(1)]],
    constant scale_rows_args& args [[buffer(2)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint3 tm_nprog [[threadgroups_per_grid]],
    uint tm_tid [[thread_index_in_threadgroup]],
    uint tm_lane [[thread_index_in_simdgroup]],
    uint tm_sg [[simdgroup_index_in_threadgroup]]) {
    const uint L0_t0 = (((tm_sg / 2u) % 2u) * 1u + ((tm_lane / 32u) % 1u));
    const uint L0_t1 = (((tm_sg / 1u) % 2u) * 32u + ((tm_lane / 1u) % 32u));
    const bool L0_own = true;
    const uint L1_t0 = (((tm_sg / 2u) % 2u) * 1u + ((tm_lane / 32u) % 1u));
    const uint L1_t1 = (((tm_sg / 1u) % 2u) * 32u + ((tm_lane / 1u) % 32u));
    const bool L1_own = (L1_t1 * 1u < 1u);
    const uint L2_t0 = (((tm_sg / 2u) % 2u) * 1u + ((tm_lane / 32u) % 1u));
    const uint L2_t1 = (((tm_sg / 1u) % 2u) * 32u + ((tm_lane / 1u) % 32u));
    const bool L2_own = (L2_t0 * 1u < 1u);
    const uint L3_t0 = (((tm_sg / 2u) % 2u) * 1u + ((tm_lane / 32u) % 1u));
    const uint L3_t1 = (((tm_sg / 1u) % 2u) * 32u + ((tm_lane / 1u) % 32u));
    const bool L3_own = (L3_t0 * 1u < 1u);
    const uint L4_t0 = (((tm_sg / 2u) % 2u) * 1u + ((tm_lane / 32u) % 1u));
    const uint L4_t1 = (((tm_sg / 1u) % 2u) * 32u + ((tm_lane / 1u) % 32u));
    const bool L4_own = (L4_t1 * 1u < 1u);
    const int v5 = (int)tm_pid.x;
    const int v7 = (int)((uint)v5 * (uint)32);
    int v8[16];
    for (uint r = 0; r < 16u; ++r) v8[r] = 0 + (int)((((r / 1u) % 16u) / 1u) * 2u + L4_t0 * 1u + (((r / 1u) % 16u) % 1u));
    int v10[16];
    for (uint r = 0; r < 16u; ++r) v10[r] = (int)((uint)v7 + (uint)v8[r]);
    int v11[1];
    for (uint r = 0; r < 1u; ++r) v11[r] = 0 + (int)((((r / 1u) % 1u) / 1u) * 64u + L3_t1 * 1u + (((r / 1u) % 1u) % 1u));
    bool v14[16];
    for (uint r = 0; r < 16u; ++r) v14[r] = (v10[r] < args.M);
    bool v17[1];
    for (uint r = 0; r < 1u; ++r) v17[r] = (v11[r] < args.N);
    bool v18[16];
    for (uint r = 0; r < 16u; ++r) v18[r] = v14[((r / 1u) % 16u) * 1u];
    bool v19[16];
    for (uint r = 0; r < 16u; ++r) v19[r] = v17[0u];
    bool v20[16];
    for (uint r = 0; r < 16u; ++r) v20[r] = (v18[r] && v19[r]);
    int v23[16];
    for (uint r = 0; r < 16u; ++r) v23[r] = (int)((uint)v10[r] * (uint)args.stride);
    device half* v25[16];
    for (uint r = 0; r < 16u; ++r) v25[r] = (x_ptr + v23[r]);
    device half* v27[16];
    for (uint r = 0; r < 16u; ++r) v27[r] = v25[((r / 1u) % 16u) * 1u];
    int v28[16];
    for (uint r = 0; r < 16u; ++r) v28[r] = v11[0u];
    device half* v29[16];
    for (uint r = 0; r < 16u; ++r) v29[r] = (v27[r] + v28[r]);
    half v32[16];
    for (uint r = 0; r < 16u; ++r) v32[r] = v20[r] ? *(tm_chk(v29[r], 1u, 0, 8u, 0)) : (half)(0e0f);
    float v54[16];
    for (uint r = 0; r < 16u; ++r) v54[r] = 0e0f;
    for (int v46 = 0; v46 < 3; v46 += 1) {
        float v48[16];
        for (uint r = 0; r < 16u; ++r) v48[r] = (float)(v32[r]);
        float v49[16];
        for (uint r = 0; r < 16u; ++r) v49[r] = exp2(v48[r] * 1.4426950408889634f);
        const float v50 = (float)(v46);
        float v52[16];
        for (uint r = 0; r < 16u; ++r) v52[r] = (v49[r] * v50);
        float v53[16];
        for (uint r = 0; r < 16u; ++r) v53[r] = (v54[r] + v52[r]);
        for (uint r = 0; r < 16u; ++r) v54[r] = v53[r];
    }
    const bool v56 = (args.M > 5);
    float v60[16];
    if (v56) {
        float v59[16];
        for (uint r = 0; r < 16u; ++r) v59[r] = (v54[r] * 2e0f);
        for (uint r = 0; r < 16u; ++r) v60[r] = v59[r];
    } else {
        for (uint r = 0; r < 16u; ++r) v60[r] = v54[r];
    }
    device float* v65[16];
    for (uint r = 0; r < 16u; ++r) v65[r] = (y_ptr + v23[r]);
    device float* v67[16];
    for (uint r = 0; r < 16u; ++r) v67[r] = v65[((r / 1u) % 16u) * 1u];
    device float* v69[16];
    for (uint r = 0; r < 16u; ++r) v69[r] = (v67[r] + v28[r]);
    for (uint r = 0; r < 16u; ++r) if (L0_own && v20[r]) *(tm_chk(v69[r], 1u, 1, 14u, 1)) = v60[r];
}
