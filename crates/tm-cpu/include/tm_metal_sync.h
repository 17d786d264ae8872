// tm_metal_sync.h: barriers, simdgroup functions, atomics and simdgroup matrices, shared by both
// headers (see tm_metal_types.h).
//
// Every simdgroup function is built on one collective primitive, tm_detail::sg_exchange: each
// lane publishes up to 32 bytes, waits until every live lane of its simdgroup has done the
// same, and then reads what the others published. The executor (tm_cpu_runtime.h) implements
// it with fibers; the check header only needs the declaration.
#pragma once

namespace metal {
enum class mem_flags : uint {
  mem_none = 0,
  mem_device = 1,
  mem_threadgroup = 2,
  mem_texture = 4,
  mem_threadgroup_imageblock = 8,
  mem_object_data = 16,
};
constexpr mem_flags operator|(mem_flags a, mem_flags b) { return mem_flags(uint(a) | uint(b)); }
constexpr mem_flags operator&(mem_flags a, mem_flags b) { return mem_flags(uint(a) & uint(b)); }

// All threads of the threadgroup (simdgroup) that have not returned must call these.
void threadgroup_barrier(mem_flags flags);
void simdgroup_barrier(mem_flags flags);
}  // namespace metal

namespace tm_detail {
// Which collective a lane is in, so lanes of one simdgroup calling different ones is reported.
enum sg_op {
  OP_SIMDGROUP_BARRIER = 1,
  OP_SUM, OP_PRODUCT, OP_MAX, OP_MIN, OP_AND, OP_OR, OP_XOR,
  OP_SHUFFLE, OP_SHUFFLE_XOR, OP_SHUFFLE_UP, OP_SHUFFLE_DOWN, OP_SHUFFLE_ROTATE_UP,
  OP_SHUFFLE_ROTATE_DOWN, OP_BROADCAST, OP_BROADCAST_FIRST,
  OP_PREFIX_INCLUSIVE_SUM, OP_PREFIX_EXCLUSIVE_SUM, OP_PREFIX_INCLUSIVE_PRODUCT,
  OP_PREFIX_EXCLUSIVE_PRODUCT, OP_ALL, OP_ANY, OP_BALLOT, OP_IS_FIRST, OP_ACTIVE_THREADS_MASK,
  OP_MATRIX_LOAD, OP_MATRIX_STORE, OP_MATRIX_MULTIPLY,
  OP_COUNT
};
constexpr uint SLOT_BYTES = 32;

// What a lane sees after an exchange: every lane's slot, which lanes took part, its own lane.
struct sg_view {
  const unsigned char* slots;
  uint mask;
  uint lane;
};
sg_view sg_exchange(const void* value, uint size, int op);
// Reports a kernel error (stops the thread when running on fibers).
void fail(const TM_CONSTANT_AS char* message);
// Fails unless every participating lane published the same `size` bytes.
void require_uniform(const sg_view& v, uint size, const TM_CONSTANT_AS char* what);
// Fails unless all 32 lanes take part.
void require_full(const sg_view& v, const TM_CONSTANT_AS char* what);
// This thread's lane, without synchronising.
uint lane_id();

template <class T> inline sg_view exchange(T x, int op) {
  static_assert(sizeof(T) <= SLOT_BYTES, "simdgroup functions take values of at most 32 bytes");
  return sg_exchange(&x, sizeof(T), op);
}
template <class T> inline T slot(const sg_view& v, uint lane) {
  T t;
  __builtin_memcpy(&t, v.slots + lane * SLOT_BYTES, sizeof(T));
  return t;
}
// The value of lane `src`, or `own` when `src` is out of range or did not take part.
template <class T> inline T pick(const sg_view& v, T own, uint src) {
  return src < 32u && ((v.mask >> src) & 1u) ? slot<T>(v, src) : own;
}
// Folds the participating lanes' values with `f`, for lanes [0, end) in lane order.
template <class T, class F> inline T fold(const sg_view& v, uint end, T empty, F f) {
  bool first = true;
  T r = empty;
  for (uint l = 0; l < end; ++l) {
    if (!((v.mask >> l) & 1u)) continue;
    r = first ? slot<T>(v, l) : T(f(r, slot<T>(v, l)));
    first = false;
  }
  return r;
}
struct f_sum { template <class T> T operator()(T a, T b) const { return T(a + b); } };
struct f_product { template <class T> T operator()(T a, T b) const { return T(a * b); } };
struct f_max { template <class T> T operator()(T a, T b) const { return metal::max(a, b); } };
struct f_min { template <class T> T operator()(T a, T b) const { return metal::min(a, b); } };
struct f_and { template <class T> T operator()(T a, T b) const { return T(a & b); } };
struct f_or { template <class T> T operator()(T a, T b) const { return T(a | b); } };
struct f_xor { template <class T> T operator()(T a, T b) const { return T(a ^ b); } };
}  // namespace tm_detail

namespace metal {

// ---- simdgroup functions -----------------------------------------------------------------------
#define TM_SIMD_REDUCE(NAME, OP, F)                                             \
  template <class T> inline T NAME(T x) {                                       \
    tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP);               \
    return tm_detail::fold(v, 32u, x, tm_detail::F());                          \
  }
TM_SIMD_REDUCE(simd_sum, OP_SUM, f_sum)
TM_SIMD_REDUCE(simd_product, OP_PRODUCT, f_product)
TM_SIMD_REDUCE(simd_max, OP_MAX, f_max)
TM_SIMD_REDUCE(simd_min, OP_MIN, f_min)
TM_SIMD_REDUCE(simd_and, OP_AND, f_and)
TM_SIMD_REDUCE(simd_or, OP_OR, f_or)
TM_SIMD_REDUCE(simd_xor, OP_XOR, f_xor)
#undef TM_SIMD_REDUCE

#define TM_SIMD_PREFIX(NAME, OP, F, INCLUSIVE, EMPTY)                           \
  template <class T> inline T NAME(T x) {                                       \
    tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP);               \
    return tm_detail::fold(v, v.lane + (INCLUSIVE), T(EMPTY), tm_detail::F());  \
  }
TM_SIMD_PREFIX(simd_prefix_inclusive_sum, OP_PREFIX_INCLUSIVE_SUM, f_sum, 1u, 0)
TM_SIMD_PREFIX(simd_prefix_exclusive_sum, OP_PREFIX_EXCLUSIVE_SUM, f_sum, 0u, 0)
TM_SIMD_PREFIX(simd_prefix_inclusive_product, OP_PREFIX_INCLUSIVE_PRODUCT, f_product, 1u, 1)
TM_SIMD_PREFIX(simd_prefix_exclusive_product, OP_PREFIX_EXCLUSIVE_PRODUCT, f_product, 0u, 1)
#undef TM_SIMD_PREFIX

// Shuffles: a lane reading from a lane out of range (or one that has returned) gets its own value.
template <class T> inline T simd_shuffle(T x, ushort lane) {
  return tm_detail::pick(tm_detail::exchange(x, tm_detail::OP_SHUFFLE), x, lane);
}
template <class T> inline T simd_shuffle_xor(T x, ushort mask) {
  tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP_SHUFFLE_XOR);
  return tm_detail::pick(v, x, v.lane ^ mask);
}
template <class T> inline T simd_shuffle_down(T x, ushort delta) {
  tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP_SHUFFLE_DOWN);
  return tm_detail::pick(v, x, v.lane + delta);
}
template <class T> inline T simd_shuffle_up(T x, ushort delta) {
  tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP_SHUFFLE_UP);
  return tm_detail::pick(v, x, delta <= v.lane ? v.lane - delta : 32u);
}
template <class T> inline T simd_shuffle_rotate_down(T x, ushort delta) {
  tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP_SHUFFLE_ROTATE_DOWN);
  return tm_detail::pick(v, x, (v.lane + delta) & 31u);
}
template <class T> inline T simd_shuffle_rotate_up(T x, ushort delta) {
  tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP_SHUFFLE_ROTATE_UP);
  return tm_detail::pick(v, x, (v.lane + 32u - (delta & 31u)) & 31u);
}
template <class T> inline T simd_broadcast(T x, ushort lane) {
  return tm_detail::pick(tm_detail::exchange(x, tm_detail::OP_BROADCAST), x, lane);
}
template <class T> inline T simd_broadcast_first(T x) {
  tm_detail::sg_view v = tm_detail::exchange(x, tm_detail::OP_BROADCAST_FIRST);
  return tm_detail::slot<T>(v, uint(__builtin_ctz(v.mask)));
}

// Metal's ballot result: explicitly convertible to the lane mask (bit i = lane i).
struct simd_vote {
  typedef ulong vote_t;
  explicit constexpr simd_vote(vote_t v = 0, vote_t active = 0xffffffffUL)
      : tm_bits(v), tm_active(active) {}
  explicit constexpr operator vote_t() const { return tm_bits; }
  constexpr bool all() const { return (tm_bits & tm_active) == tm_active; }
  constexpr bool any() const { return tm_bits != 0; }
  vote_t tm_bits;
  vote_t tm_active;
};
namespace tm_simd_detail {
inline uint votes(const tm_detail::sg_view& v) {
  uint bits = 0;
  for (uint l = 0; l < 32u; ++l)
    if (((v.mask >> l) & 1u) && tm_detail::slot<bool>(v, l)) bits |= 1u << l;
  return bits;
}
}  // namespace tm_simd_detail
inline bool simd_all(bool b) {
  tm_detail::sg_view v = tm_detail::exchange(b, tm_detail::OP_ALL);
  return tm_simd_detail::votes(v) == v.mask;
}
inline bool simd_any(bool b) {
  return tm_simd_detail::votes(tm_detail::exchange(b, tm_detail::OP_ANY)) != 0;
}
inline simd_vote simd_ballot(bool b) {
  tm_detail::sg_view v = tm_detail::exchange(b, tm_detail::OP_BALLOT);
  return simd_vote(tm_simd_detail::votes(v), v.mask);
}
inline simd_vote simd_active_threads_mask() {
  tm_detail::sg_view v = tm_detail::exchange(true, tm_detail::OP_ACTIVE_THREADS_MASK);
  return simd_vote(v.mask, v.mask);
}
inline bool simd_is_first() {
  tm_detail::sg_view v = tm_detail::exchange(true, tm_detail::OP_IS_FIRST);
  return v.lane == uint(__builtin_ctz(v.mask));
}

// ---- atomics -----------------------------------------------------------------------------------
// On the CPU every atomic operation is sequentially consistent whatever order is requested:
// Metal code commonly builds locks from relaxed atomics, which a GPU's coherence makes work.
enum memory_order {
  memory_order_relaxed,
  memory_order_acquire,
  memory_order_release,
  memory_order_acq_rel,
  memory_order_seq_cst,
};
enum thread_scope {
  thread_scope_thread,
  thread_scope_simdgroup,
  thread_scope_threadgroup,
  thread_scope_device,
};
template <class T> struct atomic {
  T tm_value;
};
#ifdef TM_CHECK
// C++ for OpenCL predeclares atomic_int & co. as global _Atomic types; the check header maps
// these names onto ours with macros.
#define TM_ATOMIC_TYPE(T, NAME) typedef atomic<T> tm_##NAME;
#else
#define TM_ATOMIC_TYPE(T, NAME) typedef atomic<T> NAME;
#endif
TM_ATOMIC_TYPE(int, atomic_int)
TM_ATOMIC_TYPE(uint, atomic_uint)
TM_ATOMIC_TYPE(bool, atomic_bool)
TM_ATOMIC_TYPE(float, atomic_float)
TM_ATOMIC_TYPE(long, atomic_long)
TM_ATOMIC_TYPE(ulong, atomic_ulong)
#undef TM_ATOMIC_TYPE

#define TM_SEQ __ATOMIC_SEQ_CST
template <class T>
inline void atomic_store_explicit(volatile atomic<T>* obj, typename tm_detail::identity<T>::type desired,
                                  memory_order order) {
  __atomic_store(&obj->tm_value, &desired, TM_SEQ);
}
template <class T> inline T atomic_load_explicit(const volatile atomic<T>* obj, memory_order order) {
  T r;
  __atomic_load(&obj->tm_value, &r, TM_SEQ);
  return r;
}
template <class T>
inline T atomic_exchange_explicit(volatile atomic<T>* obj, typename tm_detail::identity<T>::type desired,
                                  memory_order order) {
  T r;
  __atomic_exchange(&obj->tm_value, &desired, &r, TM_SEQ);
  return r;
}
template <class T>
inline bool atomic_compare_exchange_weak_explicit(volatile atomic<T>* obj,
                                                  typename tm_detail::identity<T>::type* expected,
                                                  typename tm_detail::identity<T>::type desired,
                                                  memory_order success, memory_order failure) {
  return __atomic_compare_exchange(&obj->tm_value, expected, &desired, true, TM_SEQ, TM_SEQ);
}
#define TM_ATOMIC_FETCH(NAME, BUILTIN)                                          \
  template <class T>                                                            \
  inline T NAME(volatile atomic<T>* obj, typename tm_detail::identity<T>::type arg, \
                memory_order order) {                                           \
    return BUILTIN(&obj->tm_value, arg, TM_SEQ);                                \
  }
TM_ATOMIC_FETCH(atomic_fetch_add_explicit, __atomic_fetch_add)
TM_ATOMIC_FETCH(atomic_fetch_sub_explicit, __atomic_fetch_sub)
TM_ATOMIC_FETCH(atomic_fetch_and_explicit, __atomic_fetch_and)
TM_ATOMIC_FETCH(atomic_fetch_or_explicit, __atomic_fetch_or)
TM_ATOMIC_FETCH(atomic_fetch_xor_explicit, __atomic_fetch_xor)
#undef TM_ATOMIC_FETCH
// min/max through a compare-exchange loop, which also covers float.
#define TM_ATOMIC_MINMAX(NAME, BETTER)                                          \
  template <class T>                                                            \
  inline T NAME(volatile atomic<T>* obj, typename tm_detail::identity<T>::type arg, \
                memory_order order) {                                           \
    T cur;                                                                      \
    __atomic_load(&obj->tm_value, &cur, TM_SEQ);                                \
    while (BETTER(arg, cur) &&                                                  \
           !__atomic_compare_exchange(&obj->tm_value, &cur, &arg, true, TM_SEQ, TM_SEQ)) {  \
    }                                                                           \
    return cur;                                                                 \
  }
#define TM_LESS(a, b) ((a) < (b))
#define TM_GREATER(a, b) ((a) > (b))
TM_ATOMIC_MINMAX(atomic_fetch_min_explicit, TM_LESS)
TM_ATOMIC_MINMAX(atomic_fetch_max_explicit, TM_GREATER)
#undef TM_ATOMIC_MINMAX
#undef TM_LESS
#undef TM_GREATER
inline void atomic_thread_fence(mem_flags flags, memory_order order,
                                thread_scope scope = thread_scope_device) {
  __atomic_thread_fence(TM_SEQ);
}
#undef TM_SEQ

// ---- simdgroup matrices ------------------------------------------------------------------------
// An 8x8 matrix owned by a whole simdgroup. Lane l holds the elements with row-major flat index
// l and l + 32 (the real distribution is opaque in Metal, so any fixed one will do). load, store
// and multiply are collectives: all 32 lanes call them with the same arguments.
template <class T, int Cols, int Rows> struct simdgroup_matrix {
  static_assert(Cols == 8 && Rows == 8, "Metal's simdgroup matrices are 8x8");
  T tm_e[2];
  simdgroup_matrix() = default;
  // Metal: a diagonal matrix with `dval` on the diagonal.
  simdgroup_matrix(T dval) {
    uint lane = tm_detail::lane_id();
    for (uint k = 0; k < 2u; ++k) {
      uint f = lane + 32u * k;
      tm_e[k] = f / 8u == f % 8u ? dval : T(0);
    }
  }
};
typedef simdgroup_matrix<float, 8, 8> simdgroup_float8x8;
typedef simdgroup_matrix<half, 8, 8> simdgroup_half8x8;
typedef simdgroup_matrix<bfloat, 8, 8> simdgroup_bfloat8x8;

template <class T, int Cols, int Rows>
inline simdgroup_matrix<T, Cols, Rows> make_filled_simdgroup_matrix(T value) {
  simdgroup_matrix<T, Cols, Rows> m;
  m.tm_e[0] = value;
  m.tm_e[1] = value;
  return m;
}

namespace tm_matrix_detail {
struct where {
  const void* ptr;
  ulong elements_per_row;
};
// Offset of element (r, c) of the (possibly transposed) matrix. `origin` is (column, row) of the
// matrix as loaded; a transposed matrix reads row c, column r of the memory.
inline ulong offset(uint r, uint c, ulong epr, ulong2 origin, bool transpose) {
  return transpose ? (origin.x + c) * epr + origin.y + r : (origin.y + r) * epr + origin.x + c;
}
}  // namespace tm_matrix_detail

template <class T, int Cols, int Rows>
inline void simdgroup_load(simdgroup_matrix<T, Cols, Rows>& d,
                           const typename tm_detail::identity<T>::type* src,
                           ulong elements_per_row = Cols, ulong2 matrix_origin = ulong2(0),
                           bool transpose_matrix = false) {
  tm_matrix_detail::where w = {src, elements_per_row};
  tm_detail::sg_view v = tm_detail::exchange(w, tm_detail::OP_MATRIX_LOAD);
  tm_detail::require_uniform(v, sizeof(w), "simdgroup_load");
  for (uint k = 0; k < 2u; ++k) {
    uint f = v.lane + 32u * k;
    d.tm_e[k] = src[tm_matrix_detail::offset(f / 8u, f % 8u, elements_per_row, matrix_origin,
                                             transpose_matrix)];
  }
}
template <class T, int Cols, int Rows>
inline void simdgroup_store(simdgroup_matrix<T, Cols, Rows> a,
                            typename tm_detail::identity<T>::type* dst,
                            ulong elements_per_row = Cols, ulong2 matrix_origin = ulong2(0),
                            bool transpose_matrix = false) {
  tm_matrix_detail::where w = {dst, elements_per_row};
  tm_detail::sg_view v = tm_detail::exchange(w, tm_detail::OP_MATRIX_STORE);
  tm_detail::require_uniform(v, sizeof(w), "simdgroup_store");
  for (uint k = 0; k < 2u; ++k) {
    uint f = v.lane + 32u * k;
    dst[tm_matrix_detail::offset(f / 8u, f % 8u, elements_per_row, matrix_origin,
                                 transpose_matrix)] = a.tm_e[k];
  }
}
// d = a * b + c, accumulated in float in k order starting from c, rounded once to d's type.
template <class TD, class TA, class TB, class TC>
inline void simdgroup_multiply_accumulate(simdgroup_matrix<TD, 8, 8>& d, simdgroup_matrix<TA, 8, 8> a,
                                          simdgroup_matrix<TB, 8, 8> b, simdgroup_matrix<TC, 8, 8> c) {
  struct operands {
    float a[2];
    float b[2];
  } mine = {{float(a.tm_e[0]), float(a.tm_e[1])}, {float(b.tm_e[0]), float(b.tm_e[1])}};
  tm_detail::sg_view v = tm_detail::exchange(mine, tm_detail::OP_MATRIX_MULTIPLY);
  tm_detail::require_full(v, "simdgroup_multiply_accumulate");
  for (uint k = 0; k < 2u; ++k) {
    uint f = v.lane + 32u * k, row = f / 8u, col = f % 8u;
    float acc = float(c.tm_e[k]);
    for (uint i = 0; i < 8u; ++i) {
      uint fa = row * 8u + i, fb = i * 8u + col;
      acc += tm_detail::slot<operands>(v, fa % 32u).a[fa / 32u] *
             tm_detail::slot<operands>(v, fb % 32u).b[fb / 32u];
    }
    d.tm_e[k] = TD(acc);
  }
}
template <class TD, class TA, class TB>
inline void simdgroup_multiply(simdgroup_matrix<TD, 8, 8>& d, simdgroup_matrix<TA, 8, 8> a,
                               simdgroup_matrix<TB, 8, 8> b) {
  simdgroup_multiply_accumulate(d, a, b, make_filled_simdgroup_matrix<TD, 8, 8>(TD(0)));
}

}  // namespace metal
