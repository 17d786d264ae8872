// tm_metal_math.h: Metal's math and integer functions (`metal::`, `metal::precise::`,
// `metal::fast::`) and constants, shared by both headers (see tm_metal_types.h).
//
// Float functions call clang builtins, i.e. the C library, which is at least as accurate as
// Metal's precise variants; `half` and `bfloat` versions compute in float and round once.
#pragma once

#ifndef INFINITY
#define INFINITY __builtin_inff()
#endif
#ifndef NAN
#define NAN __builtin_nanf("")
#endif
#define MAXFLOAT 0x1.fffffep+127f
#define HUGE_VALF __builtin_huge_valf()
#define FLT_MAX 0x1.fffffep+127f
#define FLT_MIN 0x1p-126f
#define FLT_EPSILON 0x1p-23f
#define HALF_MAX ((half)65504.0f)
#define HALF_MIN ((half)0x1p-14f)
#define HALF_EPSILON ((half)0x1p-10f)
#define CHAR_BIT 8
#define SCHAR_MAX 127
#define SCHAR_MIN (-128)
#define UCHAR_MAX 255
#define CHAR_MAX SCHAR_MAX
#define CHAR_MIN SCHAR_MIN
#define SHRT_MAX 32767
#define SHRT_MIN (-32768)
#define USHRT_MAX 65535
#define INT_MAX 2147483647
#define INT_MIN (-2147483647 - 1)
#define UINT_MAX 0xffffffffu
#define LONG_MAX 0x7fffffffffffffffL
#define LONG_MIN (-0x7fffffffffffffffL - 1)
#define ULONG_MAX 0xffffffffffffffffUL
#define M_E_F 2.71828182845904523536f
#define M_LOG2E_F 1.44269504088896340736f
#define M_LOG10E_F 0.434294481903251827651f
#define M_LN2_F 0.693147180559945309417f
#define M_LN10_F 2.30258509299404568402f
#define M_PI_F 3.14159265358979323846f
#define M_PI_2_F 1.57079632679489661923f
#define M_PI_4_F 0.785398163397448309616f
#define M_1_PI_F 0.318309886183790671538f
#define M_2_PI_F 0.636619772367581343076f
#define M_2_SQRTPI_F 1.12837916709551257390f
#define M_SQRT2_F 1.41421356237309504880f
#define M_SQRT1_2_F 0.707106781186547524401f

namespace metal {

// ---- floating point: scalar overloads for float, half and bfloat ----------------------------
#define TM_F1(NAME, EXPR)                                                       \
  inline float NAME(float x) { return EXPR; }                                   \
  inline half NAME(half x) { return half(NAME(float(x))); }                     \
  inline bfloat NAME(bfloat x) { return bfloat(NAME(float(x))); }
#define TM_F2(NAME, EXPR)                                                       \
  inline float NAME(float x, float y) { return EXPR; }                          \
  inline half NAME(half x, half y) { return half(NAME(float(x), float(y))); }   \
  inline bfloat NAME(bfloat x, bfloat y) { return bfloat(NAME(float(x), float(y))); }
#define TM_F3(NAME, EXPR)                                                       \
  inline float NAME(float x, float y, float z) { return EXPR; }                 \
  inline half NAME(half x, half y, half z) {                                    \
    return half(NAME(float(x), float(y), float(z)));                            \
  }                                                                             \
  inline bfloat NAME(bfloat x, bfloat y, bfloat z) {                            \
    return bfloat(NAME(float(x), float(y), float(z)));                          \
  }
#define TM_FPRED(NAME, EXPR)                                                    \
  inline bool NAME(float x) { return EXPR; }                                    \
  inline bool NAME(half x) { return NAME(float(x)); }                           \
  inline bool NAME(bfloat x) { return NAME(float(x)); }

TM_F1(exp, __builtin_expf(x))
TM_F1(exp2, __builtin_exp2f(x))
TM_F1(exp10, __builtin_powf(10.0f, x))
TM_F1(log, __builtin_logf(x))
TM_F1(log2, __builtin_log2f(x))
TM_F1(log10, __builtin_log10f(x))
TM_F1(sqrt, __builtin_sqrtf(x))
TM_F1(rsqrt, 1.0f / __builtin_sqrtf(x))
TM_F1(cbrt, __builtin_cbrtf(x))
TM_F1(sin, __builtin_sinf(x))
TM_F1(cos, __builtin_cosf(x))
TM_F1(tan, __builtin_tanf(x))
TM_F1(asin, __builtin_asinf(x))
TM_F1(acos, __builtin_acosf(x))
TM_F1(atan, __builtin_atanf(x))
TM_F1(sinh, __builtin_sinhf(x))
TM_F1(cosh, __builtin_coshf(x))
TM_F1(tanh, __builtin_tanhf(x))
TM_F1(asinh, __builtin_asinhf(x))
TM_F1(acosh, __builtin_acoshf(x))
TM_F1(atanh, __builtin_atanhf(x))
// sinpi/cospi/tanpi: x reduced exactly (fmod, then Sterbenz-exact reflections) into
// [-0.5, 0.5] before multiplying by pi, so the result is accurate at any |x|
// (sinf(M_PI_F * x) loses ~|x| ulps); exact zeros where the value is 0.
inline float tm_sinpi_f(float x) {
  float r = __builtin_fmodf(x, 2.0f);
  if (r > 1.0f) r -= 2.0f; else if (r < -1.0f) r += 2.0f;
  if (r > 0.5f) r = 1.0f - r; else if (r < -0.5f) r = -1.0f - r;
  return r == 0.0f ? __builtin_copysignf(0.0f, x) : __builtin_sinf(M_PI_F * r);
}
inline float tm_cospi_f(float x) {
  float a = __builtin_fabsf(__builtin_fmodf(x, 2.0f));
  if (a > 1.0f) a = 2.0f - a;
  if (a <= 0.25f) return __builtin_cosf(M_PI_F * a);
  float s = 0.5f - a;
  return s == 0.0f ? 0.0f : __builtin_sinf(M_PI_F * s);
}
TM_F1(sinpi, tm_sinpi_f(x))
TM_F1(cospi, tm_cospi_f(x))
TM_F1(tanpi, tm_sinpi_f(x) / tm_cospi_f(x))
TM_F1(erf, __builtin_erff(x))
TM_F1(erfc, __builtin_erfcf(x))
TM_F1(fabs, __builtin_fabsf(x))
TM_F1(abs, __builtin_fabsf(x))
TM_F1(floor, __builtin_floorf(x))
TM_F1(ceil, __builtin_ceilf(x))
TM_F1(round, __builtin_roundf(x))
TM_F1(trunc, __builtin_truncf(x))
TM_F1(rint, __builtin_rintf(x))
TM_F1(fract, __builtin_fminf(x - __builtin_floorf(x), 0x1.fffffep-1f))
TM_F1(saturate, __builtin_fminf(__builtin_fmaxf(x, 0.0f), 1.0f))
TM_F1(sign, x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x == x ? x : 0.0f)
TM_F2(pow, __builtin_powf(x, y))
TM_F2(powr, __builtin_powf(x, y))
TM_F2(atan2, __builtin_atan2f(x, y))
TM_F2(fmod, __builtin_fmodf(x, y))
TM_F2(fmax, __builtin_fmaxf(x, y))
TM_F2(fmin, __builtin_fminf(x, y))
TM_F2(max, __builtin_fmaxf(x, y))
TM_F2(min, __builtin_fminf(x, y))
TM_F2(copysign, __builtin_copysignf(x, y))
TM_F2(fdim, __builtin_fdimf(x, y))
TM_F2(step, y < x ? 0.0f : 1.0f)
TM_F2(nextafter, __builtin_nextafterf(x, y))
TM_F3(fma, __builtin_fmaf(x, y, z))
TM_F3(mad, x * y + z)
TM_F3(clamp, __builtin_fminf(__builtin_fmaxf(x, y), z))
TM_F3(mix, x + (y - x) * z)
TM_F3(smoothstep, (z <= x ? 0.0f : z >= y ? 1.0f
                   : ((z - x) / (y - x)) * ((z - x) / (y - x)) * (3.0f - 2.0f * ((z - x) / (y - x)))))
TM_FPRED(isnan, __builtin_isnan(x))
TM_FPRED(isinf, __builtin_isinf(x))
TM_FPRED(isfinite, __builtin_isfinite(x))
TM_FPRED(isnormal, __builtin_isnormal(x))
TM_FPRED(signbit, __builtin_signbit(x))
#undef TM_F1
#undef TM_F2
#undef TM_F3
#undef TM_FPRED

// ---- integers: overloads for every integer type -----------------------------------------------
typedef __int128 tm_i128;
typedef unsigned __int128 tm_u128;
// `W` is a type wide enough for the full product (for mulhi).
#define TM_INT_FNS(T, U, W, BITS)                                               \
  inline T abs(T x) { return x < 0 ? T(-x) : x; }                               \
  inline U absdiff(T x, T y) { return x > y ? U(U(x) - U(y)) : U(U(y) - U(x)); } \
  inline T max(T x, T y) { return x > y ? x : y; }                              \
  inline T min(T x, T y) { return x < y ? x : y; }                              \
  inline T clamp(T x, T lo, T hi) { return min(max(x, lo), hi); }              \
  inline T mulhi(T x, T y) { return T((W(x) * W(y)) >> BITS); }                 \
  inline T clz(T x) {                                                           \
    return x == 0 ? T(BITS) : T(__builtin_clzll((unsigned long long)U(x)) - (64 - BITS)); \
  }                                                                             \
  inline T ctz(T x) { return x == 0 ? T(BITS) : T(__builtin_ctzll((unsigned long long)U(x))); } \
  inline T popcount(T x) { return T(__builtin_popcountll((unsigned long long)U(x))); } \
  inline T rotate(T x, T n) {                                                   \
    U u = U(x), s = U(U(n) & U(BITS - 1));                                      \
    return s == 0 ? x : T(U(u << s) | U(u >> (BITS - s)));                      \
  }
TM_INT_FNS(char, uchar, short, 8)
TM_INT_FNS(uchar, uchar, ushort, 8)
TM_INT_FNS(short, ushort, int, 16)
TM_INT_FNS(ushort, ushort, uint, 16)
TM_INT_FNS(int, uint, long, 32)
TM_INT_FNS(uint, uint, ulong, 32)
TM_INT_FNS(long, ulong, tm_i128, 64)
TM_INT_FNS(ulong, ulong, tm_u128, 64)
#undef TM_INT_FNS

// ---- vectors: element-wise versions of all of the above ---------------------------------------
#define TM_V1(NAME)                                                             \
  template <class T, int N> inline vec<T, N> NAME(vec<T, N> x) {                \
    vec<T, N> r;                                                                \
    for (int i = 0; i < N; ++i) r.e[i] = NAME(x.e[i]);                          \
    return r;                                                                   \
  }
#define TM_V2(NAME)                                                             \
  template <class T, int N> inline vec<T, N> NAME(vec<T, N> x, vec<T, N> y) {   \
    vec<T, N> r;                                                                \
    for (int i = 0; i < N; ++i) r.e[i] = NAME(x.e[i], y.e[i]);                  \
    return r;                                                                   \
  }                                                                             \
  template <class T, int N>                                                     \
  inline vec<T, N> NAME(vec<T, N> x, typename tm_detail::identity<T>::type y) { \
    return NAME(x, vec<T, N>(y));                                               \
  }
#define TM_V3(NAME)                                                             \
  template <class T, int N>                                                     \
  inline vec<T, N> NAME(vec<T, N> x, vec<T, N> y, vec<T, N> z) {                \
    vec<T, N> r;                                                                \
    for (int i = 0; i < N; ++i) r.e[i] = NAME(x.e[i], y.e[i], z.e[i]);          \
    return r;                                                                   \
  }
#define TM_VPRED(NAME)                                                          \
  template <class T, int N> inline vec<bool, N> NAME(vec<T, N> x) {             \
    vec<bool, N> r;                                                             \
    for (int i = 0; i < N; ++i) r.e[i] = NAME(x.e[i]);                          \
    return r;                                                                   \
  }
TM_V1(exp) TM_V1(exp2) TM_V1(exp10) TM_V1(log) TM_V1(log2) TM_V1(log10) TM_V1(sqrt)
TM_V1(rsqrt) TM_V1(cbrt) TM_V1(sin) TM_V1(cos) TM_V1(tan) TM_V1(asin) TM_V1(acos) TM_V1(atan)
TM_V1(sinh) TM_V1(cosh) TM_V1(tanh) TM_V1(asinh) TM_V1(acosh) TM_V1(atanh) TM_V1(sinpi)
TM_V1(cospi) TM_V1(tanpi) TM_V1(erf) TM_V1(erfc) TM_V1(fabs) TM_V1(abs) TM_V1(floor) TM_V1(ceil)
TM_V1(round) TM_V1(trunc) TM_V1(rint) TM_V1(fract) TM_V1(saturate) TM_V1(sign) TM_V1(clz)
TM_V1(ctz) TM_V1(popcount)
TM_V2(pow) TM_V2(powr) TM_V2(atan2) TM_V2(fmod) TM_V2(fmax) TM_V2(fmin) TM_V2(max) TM_V2(min)
TM_V2(copysign) TM_V2(fdim) TM_V2(step) TM_V2(nextafter) TM_V2(mulhi) TM_V2(rotate)
TM_V3(fma) TM_V3(mad) TM_V3(clamp) TM_V3(mix) TM_V3(smoothstep)
TM_VPRED(isnan) TM_VPRED(isinf) TM_VPRED(isfinite) TM_VPRED(isnormal) TM_VPRED(signbit)
#undef TM_V1
#undef TM_V2
#undef TM_V3
#undef TM_VPRED

template <class T, int N>
inline vec<T, N> clamp(vec<T, N> x, typename tm_detail::identity<T>::type lo,
                       typename tm_detail::identity<T>::type hi) {
  return clamp(x, vec<T, N>(lo), vec<T, N>(hi));
}
template <class T, int N>
inline vec<T, N> mix(vec<T, N> x, vec<T, N> y, typename tm_detail::identity<T>::type a) {
  return mix(x, y, vec<T, N>(a));
}

// select(a, b, c): c ? b : a, element-wise for vectors.
template <class T> inline T select(T a, T b, bool c) { return c ? b : a; }
template <class T, int N> inline vec<T, N> select(vec<T, N> a, vec<T, N> b, vec<bool, N> c) {
  vec<T, N> r;
  for (int i = 0; i < N; ++i) r.e[i] = c.e[i] ? b.e[i] : a.e[i];
  return r;
}

template <class T, int N> inline T dot(vec<T, N> x, vec<T, N> y) {
  T r = x.e[0] * y.e[0];
  for (int i = 1; i < N; ++i) r += x.e[i] * y.e[i];
  return r;
}

// Metal's `precise::` and `fast::` variants; on the CPU every variant is the precise one.
namespace precise {
using metal::acos; using metal::acosh; using metal::asin; using metal::asinh; using metal::atan;
using metal::atan2; using metal::atanh; using metal::cbrt; using metal::ceil; using metal::clamp;
using metal::copysign; using metal::cos; using metal::cosh; using metal::cospi; using metal::erf;
using metal::erfc; using metal::exp; using metal::exp10; using metal::exp2; using metal::fabs;
using metal::fdim; using metal::floor; using metal::fma; using metal::fmax; using metal::fmin;
using metal::fmod; using metal::fract; using metal::log; using metal::log10; using metal::log2;
using metal::max; using metal::min; using metal::pow; using metal::powr; using metal::rint;
using metal::round; using metal::rsqrt; using metal::saturate; using metal::sin; using metal::sinh;
using metal::sinpi; using metal::sqrt; using metal::tan; using metal::tanh; using metal::tanpi;
using metal::trunc;
}  // namespace precise
namespace fast {
using namespace precise;
}

// numeric_limits for the scalar types Metal has.
template <class T> struct numeric_limits;
#define TM_LIMITS(T, LO, HI, MINV)                                              \
  template <> struct numeric_limits<T> {                                        \
    static constexpr bool is_specialized = true;                                \
    static constexpr T min() { return MINV; }                                   \
    static constexpr T lowest() { return LO; }                                  \
    static constexpr T max() { return HI; }                                     \
  };
TM_LIMITS(char, char(-128), char(127), char(-128))
TM_LIMITS(uchar, uchar(0), uchar(255), uchar(0))
TM_LIMITS(short, short(-32768), short(32767), short(-32768))
TM_LIMITS(ushort, ushort(0), ushort(65535), ushort(0))
TM_LIMITS(int, INT_MIN, INT_MAX, INT_MIN)
TM_LIMITS(uint, 0u, UINT_MAX, 0u)
TM_LIMITS(long, LONG_MIN, LONG_MAX, LONG_MIN)
TM_LIMITS(ulong, 0ul, ULONG_MAX, 0ul)
#undef TM_LIMITS
#define TM_FLIMITS(T, BITS_MAX, BITS_MIN, BITS_EPS, BITS_INF, BITS_NAN, UT)    \
  template <> struct numeric_limits<T> {                                        \
    static constexpr bool is_specialized = true;                                \
    static constexpr bool has_infinity = true;                                  \
    static constexpr bool has_quiet_NaN = true;                                 \
    static T min() { return __builtin_bit_cast(T, (UT)BITS_MIN); }              \
    static T max() { return __builtin_bit_cast(T, (UT)BITS_MAX); }              \
    static T lowest() { return -max(); }                                        \
    static T epsilon() { return __builtin_bit_cast(T, (UT)BITS_EPS); }          \
    static T infinity() { return __builtin_bit_cast(T, (UT)BITS_INF); }         \
    static T quiet_NaN() { return __builtin_bit_cast(T, (UT)BITS_NAN); }        \
  };
TM_FLIMITS(float, 0x7f7fffffu, 0x00800000u, 0x34000000u, 0x7f800000u, 0x7fc00000u, uint)
TM_FLIMITS(half, 0x7bffu, 0x0400u, 0x1400u, 0x7c00u, 0x7e00u, ushort)
TM_FLIMITS(bfloat, 0x7f7fu, 0x0080u, 0x3c00u, 0x7f80u, 0x7fc0u, ushort)
#undef TM_FLIMITS

}  // namespace metal
