// tm_metal_types.h: Metal's scalar and vector types, shared by the executable header
// (include/metal_stdlib) and the address-space check header (include/check/metal_stdlib).
//
// Everything in the tm_metal_*.h files is written in the subset of C++17 that clang accepts
// both as C++ and as C++ for OpenCL: no standard library, no exceptions. In the check mode an
// unqualified pointer or reference is `__generic`, so a function taking one accepts every
// address space Metal accepts there, while `device` and `threadgroup` pointers stay distinct.
//
// The includer defines TM_EXEC (executable) or TM_CHECK (syntax check) and the types `half`
// (check mode: OpenCL's builtin) and `bfloat`.
#pragma once

typedef unsigned char uchar;
typedef unsigned short ushort;
typedef unsigned int uint;
typedef unsigned long ulong;
typedef __SIZE_TYPE__ size_t;
typedef __PTRDIFF_TYPE__ ptrdiff_t;
typedef __INT8_TYPE__ int8_t;
typedef __INT16_TYPE__ int16_t;
typedef __INT32_TYPE__ int32_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT64_TYPE__ uint64_t;

#ifdef TM_CHECK
#define TM_CONSTANT_AS __constant
#else
#define TM_CONSTANT_AS
#endif

namespace metal {
template <class T, int N> struct vec;
}

// Small type traits: the standard library is not available in both modes.
namespace tm_detail {
template <bool B, class T = void> struct enable_if {};
template <class T> struct enable_if<true, T> { typedef T type; };
template <class T> struct identity { typedef T type; };

template <class T> struct is_int { static constexpr bool value = false; };
template <class T> struct is_float { static constexpr bool value = false; };
#define TM_TRAIT(trait, T) \
  template <> struct trait<T> { static constexpr bool value = true; };
TM_TRAIT(is_int, char)
TM_TRAIT(is_int, signed char)
TM_TRAIT(is_int, unsigned char)
TM_TRAIT(is_int, short)
TM_TRAIT(is_int, unsigned short)
TM_TRAIT(is_int, int)
TM_TRAIT(is_int, unsigned int)
TM_TRAIT(is_int, long)
TM_TRAIT(is_int, unsigned long)
TM_TRAIT(is_int, long long)
TM_TRAIT(is_int, unsigned long long)
TM_TRAIT(is_float, float)
TM_TRAIT(is_float, half)
TM_TRAIT(is_float, bfloat)
#undef TM_TRAIT
template <class T> struct is_scalar {
  static constexpr bool value = is_int<T>::value || is_float<T>::value;
};
template <> struct is_scalar<bool> { static constexpr bool value = true; };

// Number of components a constructor argument contributes.
template <class T> struct ncomp { static constexpr int value = 1; };
template <class T, int N> struct ncomp<metal::vec<T, N>> { static constexpr int value = N; };
template <class... A> constexpr int total_comp() { return (0 + ... + ncomp<A>::value); }

template <class T, class U> inline void put(T* e, int& i, U s) { e[i++] = T(s); }
template <class T, class U, int M> inline void put(T* e, int& i, metal::vec<U, M> v) {
  for (int k = 0; k < M; ++k) e[i++] = T(v.e[k]);
}

// Storage with Metal's layout: size and alignment are those of the 2- or 4-element vector
// (so `float3` takes 16 bytes), and the components have their Metal names.
template <class T, int N> struct vec_storage;
template <class T> struct alignas(2 * sizeof(T)) vec_storage<T, 2> {
  union {
    T e[2];
    struct { T x, y; };
    struct { T r, g; };
  };
};
template <class T> struct alignas(4 * sizeof(T)) vec_storage<T, 3> {
  union {
    T e[4];
    struct { T x, y, z; };
    struct { T r, g, b; };
  };
};
template <class T> struct alignas(4 * sizeof(T)) vec_storage<T, 4> {
  union {
    T e[4];
    struct { T x, y, z, w; };
    struct { T r, g, b, a; };
  };
};
}  // namespace tm_detail

namespace metal {

// Element-wise binary operator with vector/vector, vector/scalar and scalar/vector forms;
// hidden friends, so a scalar argument converts to the element type as in Metal.
#define TM_VEC_BINOP(OP)                                                        \
  friend vec operator OP(vec a, vec b) {                                        \
    vec r;                                                                      \
    for (int i = 0; i < N; ++i) r.e[i] = a.e[i] OP b.e[i];                      \
    return r;                                                                   \
  }                                                                             \
  friend vec operator OP(vec a, T b) {                                          \
    vec r;                                                                      \
    for (int i = 0; i < N; ++i) r.e[i] = a.e[i] OP b;                           \
    return r;                                                                   \
  }                                                                             \
  friend vec operator OP(T a, vec b) {                                          \
    vec r;                                                                      \
    for (int i = 0; i < N; ++i) r.e[i] = a OP b.e[i];                           \
    return r;                                                                   \
  }                                                                             \
  vec& operator OP##=(vec b) {                                                  \
    for (int i = 0; i < N; ++i) this->e[i] = this->e[i] OP b.e[i];              \
    return *this;                                                               \
  }                                                                             \
  vec& operator OP##=(T b) {                                                    \
    for (int i = 0; i < N; ++i) this->e[i] = this->e[i] OP b;                   \
    return *this;                                                               \
  }

// Element-wise comparison or logical operator returning a bool vector.
#define TM_VEC_CMPOP(OP)                                                        \
  friend vec<bool, N> operator OP(vec a, vec b) {                               \
    vec<bool, N> r;                                                             \
    for (int i = 0; i < N; ++i) r.e[i] = a.e[i] OP b.e[i];                      \
    return r;                                                                   \
  }                                                                             \
  friend vec<bool, N> operator OP(vec a, T b) {                                 \
    vec<bool, N> r;                                                             \
    for (int i = 0; i < N; ++i) r.e[i] = a.e[i] OP b;                           \
    return r;                                                                   \
  }                                                                             \
  friend vec<bool, N> operator OP(T a, vec b) {                                 \
    vec<bool, N> r;                                                             \
    for (int i = 0; i < N; ++i) r.e[i] = a OP b.e[i];                           \
    return r;                                                                   \
  }

// Metal's vector type `vec<T, N>` (`float4` is `vec<float, 4>`): constructors from a scalar
// (splat), from components and sub-vectors (`float4(a.xy... )` style, e.g. `float4(f2, 0, 1)`),
// explicit conversion between element types, `.x/.y/.z/.w`, `.r/.g/.b/.a`, `[i]`, and the
// element-wise operators. Swizzles of more than one component (`.xy`) are not provided.
template <class T, int N> struct vec : tm_detail::vec_storage<T, N> {
  typedef T value_type;
  vec() = default;
  vec(const vec&) = default;
  vec& operator=(const vec&) = default;
  template <class U, class = typename tm_detail::enable_if<tm_detail::is_scalar<U>::value>::type>
  vec(U s) {
    for (int i = 0; i < N; ++i) this->e[i] = T(s);
  }
  template <class A0, class A1, class... As,
            class = typename tm_detail::enable_if<tm_detail::total_comp<A0, A1, As...>() == N>::type>
  vec(A0 a0, A1 a1, As... as) {
    int i = 0;
    tm_detail::put(this->e, i, a0);
    tm_detail::put(this->e, i, a1);
    (tm_detail::put(this->e, i, as), ...);
  }
  template <class U> explicit vec(vec<U, N> o) {
    for (int i = 0; i < N; ++i) this->e[i] = T(o.e[i]);
  }
#ifdef TM_CHECK
  // C++ for OpenCL: the implicit copy operations take `__generic` references, which cannot
  // bind to `constant` memory; Metal copies vectors out of `constant` memory freely.
  vec(const __constant vec& o) {
    for (int i = 0; i < N; ++i) this->e[i] = o.e[i];
  }
  vec& operator=(const __constant vec& o) {
    for (int i = 0; i < N; ++i) this->e[i] = o.e[i];
    return *this;
  }
  T operator[](int i) const __constant { return this->e[i]; }
#endif
  T& operator[](int i) { return this->e[i]; }
  const T& operator[](int i) const { return this->e[i]; }

  TM_VEC_BINOP(+)
  TM_VEC_BINOP(-)
  TM_VEC_BINOP(*)
  TM_VEC_BINOP(/)
  TM_VEC_BINOP(%)
  TM_VEC_BINOP(&)
  TM_VEC_BINOP(|)
  TM_VEC_BINOP(^)
  TM_VEC_BINOP(<<)
  TM_VEC_BINOP(>>)
  TM_VEC_CMPOP(==)
  TM_VEC_CMPOP(!=)
  TM_VEC_CMPOP(<)
  TM_VEC_CMPOP(<=)
  TM_VEC_CMPOP(>)
  TM_VEC_CMPOP(>=)
  TM_VEC_CMPOP(&&)
  TM_VEC_CMPOP(||)

  friend vec operator-(vec a) {
    for (int i = 0; i < N; ++i) a.e[i] = -a.e[i];
    return a;
  }
  friend vec operator+(vec a) { return a; }
  friend vec operator~(vec a) {
    for (int i = 0; i < N; ++i) a.e[i] = ~a.e[i];
    return a;
  }
  friend vec<bool, N> operator!(vec a) {
    vec<bool, N> r;
    for (int i = 0; i < N; ++i) r.e[i] = !a.e[i];
    return r;
  }
};
#undef TM_VEC_BINOP
#undef TM_VEC_CMPOP

#define TM_VEC_TYPES(T, NAME)      \
  typedef vec<T, 2> NAME##2;       \
  typedef vec<T, 3> NAME##3;       \
  typedef vec<T, 4> NAME##4;
TM_VEC_TYPES(float, float)
TM_VEC_TYPES(half, half)
TM_VEC_TYPES(bfloat, bfloat)
TM_VEC_TYPES(int, int)
TM_VEC_TYPES(uint, uint)
TM_VEC_TYPES(short, short)
TM_VEC_TYPES(ushort, ushort)
TM_VEC_TYPES(char, char)
TM_VEC_TYPES(uchar, uchar)
TM_VEC_TYPES(long, long)
TM_VEC_TYPES(ulong, ulong)
TM_VEC_TYPES(bool, bool)
#undef TM_VEC_TYPES

inline bool all(bool b) { return b; }
inline bool any(bool b) { return b; }
template <int N> inline bool all(vec<bool, N> v) {
  for (int i = 0; i < N; ++i)
    if (!v.e[i]) return false;
  return true;
}
template <int N> inline bool any(vec<bool, N> v) {
  for (int i = 0; i < N; ++i)
    if (v.e[i]) return true;
  return false;
}

// Reinterprets the bits of `x` as a `T` of the same size.
template <class T, class U> inline T as_type(U x) {
  static_assert(sizeof(T) == sizeof(U), "as_type: source and destination sizes differ");
  return __builtin_bit_cast(T, x);
}

}  // namespace metal
