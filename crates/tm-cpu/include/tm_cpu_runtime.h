// tm_cpu_runtime.h: the executor behind the Metal-on-CPU header. Included only by the
// executable include/metal_stdlib, so each compiled kernel library carries its own copy.
//
// One OS thread runs a threadgroup at a time. Without synchronisation (KernelAbi::uses_sync ==
// false) its threads simply run one after another. Otherwise every thread is a fiber with its
// own stack and a scheduler resumes them round-robin; threadgroup_barrier and every simdgroup
// function suspend the calling fiber until all live threads of the group (or simdgroup) have
// arrived, so they behave as on a GPU. Threads that have returned no longer take part.
//
// Memory comes from the Rust side (tm_cpu_launch): scratch for the scheduler state, the
// threadgroup memory, and one stack per thread.
//
// Bounds checks: generated code reaches device memory only through tm_chk(p, n, kind, line,
// slot) (defined at the end of this file), which checks the n elements at p against the byte
// range of buffer `slot` (or of any buffer when slot < 0) before the access happens. Outside,
// the first error of the launch is recorded and the thread stops without touching memory:
// a fiber is abandoned; without fibers, tm_chk returns a zeroed per-thread dummy for this and
// every later access of the thread, and the group's remaining threads do not run.
// `#define TM_CPU_BOUNDS_CHECK 0` (the translation unit says) makes tm_chk the identity.
#pragma once

extern "C" int snprintf(char*, size_t, const char*, ...);
// A fiber that runs into the guard page below its stack comes back here: the executor's
// SIGSEGV handler (src/guard.rs) siglongjmps to the buffer run_launch leaves in jmp_slot.
#if defined(__linux__)
extern "C" int __sigsetjmp(void* env, int savemask) __attribute__((returns_twice));
#define TM_SIGSETJMP(buf) __sigsetjmp((buf), 1)
#else
extern "C" int sigsetjmp(int* env, int savemask) __attribute__((returns_twice));
#define TM_SIGSETJMP(buf) sigsetjmp(reinterpret_cast<int*>(buf), 1)
#endif
extern "C" int fflush(void*);
#if defined(__linux__)
extern "C" int open(const char*, int, ...);
extern "C" long read(int, void*, unsigned long);
extern "C" int close(int);
#endif

#define TM_CPU_ABI_VERSION 3u
#define TM_CPU_EXPORT extern "C" __attribute__((visibility("default")))
#ifndef TM_CPU_BOUNDS_CHECK
#define TM_CPU_BOUNDS_CHECK 1
#endif

// Mirrors `RangeDesc` in src/launch.rs: the bytes [start, start + len) of one buffer slot.
struct tm_cpu_range {
  unsigned long long start;
  unsigned long long len;
};

// Mirrors `LaunchDesc` in src/launch.rs.
struct tm_cpu_launch {
  uint version;
  uint grid[3];
  unsigned long long first_group;
  unsigned long long group_count;
  void* const* bufs;
  const tm_cpu_range* ranges;
  unsigned long long buffer_count;
  const void* args;
  unsigned char* smem;
  unsigned long long smem_bytes;
  unsigned char* scratch;
  unsigned long long scratch_bytes;
  unsigned char* stacks;
  unsigned long long stack_bytes;
  unsigned long long guard_bytes;
  void** jmp_slot;
  char* err;
  unsigned long long err_cap;
};

// float -> bfloat conversion, which clang lowers to a runtime-library call that older libgcc
// versions (before GCC 13) lack. Round to nearest even; NaN stays NaN.
extern "C" __attribute__((visibility("hidden"))) bfloat __truncsfbf2(float f) {
  uint u = __builtin_bit_cast(uint, f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return __builtin_bit_cast(bfloat, ushort((u >> 16) | 0x40u));
  u += 0x7fffu + ((u >> 16) & 1u);
  return __builtin_bit_cast(bfloat, ushort(u >> 16));
}

// ---- context switch ----------------------------------------------------------------------------
// tm_cpu_switch_ctx(save, load) saves the callee-saved registers on the current stack, stores
// the stack pointer in *save and resumes the context whose stack pointer is `load`. A new
// context starts in tm_cpu_fiber_start, which calls fn(arg) with fn and arg taken from two
// callee-saved registers. Written as top-level assembly so the compiler treats the switch as an
// opaque call (it must assume all memory may change across it).
extern "C" void tm_cpu_switch_ctx(void** save, void* load);
extern "C" void tm_cpu_fiber_start();

#define TM_STR2(x) #x
#define TM_STR(x) TM_STR2(x)
#define TM_SYM(name) TM_STR(__USER_LABEL_PREFIX__) #name
#if defined(__APPLE__)
#define TM_HIDE(name) ".private_extern " TM_SYM(name) "\n"
#else
#define TM_HIDE(name) ".hidden " TM_SYM(name) "\n"
#endif

#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl " TM_SYM(tm_cpu_switch_ctx) "\n" TM_HIDE(tm_cpu_switch_ctx)
    TM_SYM(tm_cpu_switch_ctx) ":\n"
    "  pushq %rbp\n"
    "  pushq %rbx\n"
    "  pushq %r12\n"
    "  pushq %r13\n"
    "  pushq %r14\n"
    "  pushq %r15\n"
    "  movq %rsp, (%rdi)\n"
    "  movq %rsi, %rsp\n"
    "  popq %r15\n"
    "  popq %r14\n"
    "  popq %r13\n"
    "  popq %r12\n"
    "  popq %rbx\n"
    "  popq %rbp\n"
    "  ret\n"
    ".p2align 4\n"
    ".globl " TM_SYM(tm_cpu_fiber_start) "\n" TM_HIDE(tm_cpu_fiber_start)
    TM_SYM(tm_cpu_fiber_start) ":\n"
    "  movq %r13, %rdi\n"
    "  callq *%r12\n"
    "  ud2\n");
#elif defined(__aarch64__)
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl " TM_SYM(tm_cpu_switch_ctx) "\n" TM_HIDE(tm_cpu_switch_ctx)
    TM_SYM(tm_cpu_switch_ctx) ":\n"
    "  sub sp, sp, #160\n"
    "  stp x19, x20, [sp, #0]\n"
    "  stp x21, x22, [sp, #16]\n"
    "  stp x23, x24, [sp, #32]\n"
    "  stp x25, x26, [sp, #48]\n"
    "  stp x27, x28, [sp, #64]\n"
    "  stp x29, x30, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n"
    "  stp d10, d11, [sp, #112]\n"
    "  stp d12, d13, [sp, #128]\n"
    "  stp d14, d15, [sp, #144]\n"
    "  mov x9, sp\n"
    "  str x9, [x0]\n"
    "  mov sp, x1\n"
    "  ldp x19, x20, [sp, #0]\n"
    "  ldp x21, x22, [sp, #16]\n"
    "  ldp x23, x24, [sp, #32]\n"
    "  ldp x25, x26, [sp, #48]\n"
    "  ldp x27, x28, [sp, #64]\n"
    "  ldp x29, x30, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n"
    "  ldp d10, d11, [sp, #112]\n"
    "  ldp d12, d13, [sp, #128]\n"
    "  ldp d14, d15, [sp, #144]\n"
    "  add sp, sp, #160\n"
    "  ret\n"
    ".p2align 4\n"
    ".globl " TM_SYM(tm_cpu_fiber_start) "\n" TM_HIDE(tm_cpu_fiber_start)
    TM_SYM(tm_cpu_fiber_start) ":\n"
    "  mov x0, x20\n"
    "  blr x19\n"
    "  brk #1\n");
#else
#error "tm-cpu fibers support x86_64 and aarch64 only"
#endif
#undef TM_STR2
#undef TM_STR
#undef TM_SYM
#undef TM_HIDE

namespace tm_rt {
typedef unsigned long long u64;
typedef __UINTPTR_TYPE__ uptr;

// What the generated wrapper needs to call the kernel for one thread.
struct ThreadCtx {
  void* const* bufs;
  const void* args;
  unsigned char* smem;
  metal::uint3 pid;
  metal::uint3 nprog;
};
typedef void (*Invoke)(const ThreadCtx&, uint tid);

enum FiberState : uint { READY, WAIT_TG, WAIT_SG, DONE, ABORTED };
struct Fiber {
  void* sp;
  unsigned char* stack_lo;
  uint tid, sg, lane, state, wait_gen;
  int op;
};
// Per simdgroup: arrival counting and the exchange slots, double-buffered by generation parity
// so a lane that races ahead to the next collective cannot overwrite values still being read.
struct SgState {
  uint live, arrived, gen;
  uint mask[2];
  int op[2];
  alignas(64) unsigned char slots[2][32 * tm_detail::SLOT_BYTES];
};
struct Group {
  ThreadCtx ctx;
  Invoke invoke;
  Fiber* fibers;
  uint n;
  void* sched_sp;
  Fiber* cur;
  uint tg_live, tg_arrived, tg_gen;
  bool aborted;
  SgState sg[32];
};
// Where a launch reports its first error.
struct Sink {
  char* buf;
  u64 cap;
  bool failed;
  metal::uint3 pid;
  // The running thread when there are no fibers (uses_sync == false), else ~0u.
  uint tid;
};
// Where an access of 2^c bytes through one buffer slot may start: a passes iff
// a - first <= last (unsigned), i.e. one subtraction and one compare. A range too small for
// the size gets first = ~0, last = 0, which no real address passes.
struct Window {
  u64 first, last;
};
constexpr uint SIZE_CLASSES = 5;  // 1, 2, 4, 8, 16 bytes: every scalar and vector access
// What tm_chk checks against: the launch's buffers (at most 31, Metal's limit), as windows per
// size class (next to the thread-local base: a check loads just two words) and as the ranges
// themselves for other sizes and for messages. A thread whose check failed (without fibers)
// closes every window and sets n = 0, so all its later accesses go to the dummy.
struct Bounds {
  Window win[SIZE_CLASSES][32];
  const tm_cpu_range* ranges;
  void* const* bufs;
  const char* const* names;
  uint n;
};

static thread_local Group* tls_group;
static thread_local Sink* tls_sink;
static thread_local Bounds tls_bounds;
// This threadgroup's memory, for entries that declare theirs (TM_THREADGROUP_STORAGE).
static thread_local unsigned char* tls_smem;
static thread_local u64 tls_smem_bytes;
// Where accesses go once a thread without fibers has failed a check (vectors are <= 16 bytes).
alignas(64) static thread_local unsigned char tls_dummy[64];

static const u64 CANARY = 0x5a17c0de7e57f1beULL;

static const char* op_name(int op) {
  static const char* const names[tm_detail::OP_COUNT] = {
      "threadgroup_barrier", "simdgroup_barrier", "simd_sum", "simd_product", "simd_max",
      "simd_min", "simd_and", "simd_or", "simd_xor", "simd_shuffle", "simd_shuffle_xor",
      "simd_shuffle_up", "simd_shuffle_down", "simd_shuffle_rotate_up",
      "simd_shuffle_rotate_down", "simd_broadcast", "simd_broadcast_first",
      "simd_prefix_inclusive_sum", "simd_prefix_exclusive_sum",
      "simd_prefix_inclusive_product", "simd_prefix_exclusive_product", "simd_all", "simd_any",
      "simd_ballot", "simd_is_first", "simd_active_threads_mask", "simdgroup_load",
      "simdgroup_store", "simdgroup_multiply_accumulate"};
  return op >= 0 && op < tm_detail::OP_COUNT ? names[op] : "?";
}

// Records the first error of the launch, prefixed with the threadgroup (and thread).
static void record(const char* msg) {
  Sink* s = tls_sink;
  if (!s || s->failed) return;
  s->failed = true;
  Group* g = tls_group;
  uint tid = g && g->cur ? g->cur->tid : s->tid;
  if (tid != ~0u)
    snprintf(s->buf, s->cap, "threadgroup (%u, %u, %u), thread %u: %s", s->pid.x, s->pid.y,
             s->pid.z, tid, msg);
  else
    snprintf(s->buf, s->cap, "threadgroup (%u, %u, %u): %s", s->pid.x, s->pid.y, s->pid.z, msg);
}

static inline void suspend(Group* g, Fiber* f) { tm_cpu_switch_ctx(&f->sp, g->sched_sp); }

// Stops the current fiber for good; the scheduler abandons the group.
[[noreturn]] static void abort_fiber(Group* g) {
  g->aborted = true;
  g->cur->state = ABORTED;
  suspend(g, g->cur);
  __builtin_trap();
}

static inline void release_sg(SgState& s) {
  s.arrived = 0;
  s.gen++;
}

static void finish(Group* g, Fiber* f) {
  f->state = DONE;
  SgState& s = g->sg[f->sg];
  g->tg_live--;
  s.live--;
  if (g->tg_arrived && g->tg_arrived == g->tg_live) {
    g->tg_arrived = 0;
    g->tg_gen++;
  }
  if (s.arrived && s.arrived == s.live) release_sg(s);
}

static void fiber_entry(void* p) {
  Fiber* f = static_cast<Fiber*>(p);
  Group* g = tls_group;
  g->invoke(g->ctx, f->tid);
  finish(g, f);
  suspend(g, f);
  __builtin_trap();  // a finished fiber is never resumed
}

// Prepares a fresh context at the top of [lo, hi) that enters fiber_entry(f).
static void* init_context(unsigned char* lo, unsigned char* hi, Fiber* f) {
  *reinterpret_cast<u64*>(lo) = CANARY;
  u64* top = reinterpret_cast<u64*>(reinterpret_cast<uptr>(hi) & ~uptr(15));
#if defined(__x86_64__)
  u64* sp = top - 7;  // r15 r14 r13 r12 rbx rbp, return address at top - 1
  for (int i = 0; i < 7; ++i) sp[i] = 0;
  sp[2] = reinterpret_cast<u64>(f);                       // r13: argument
  sp[3] = reinterpret_cast<u64>(&fiber_entry);            // r12: function
  sp[6] = reinterpret_cast<u64>(&tm_cpu_fiber_start);     // return address
#else
  u64* sp = top - 20;  // x19..x30 then d8..d15
  for (int i = 0; i < 20; ++i) sp[i] = 0;
  sp[0] = reinterpret_cast<u64>(&fiber_entry);            // x19: function
  sp[1] = reinterpret_cast<u64>(f);                       // x20: argument
  sp[11] = reinterpret_cast<u64>(&tm_cpu_fiber_start);    // x30: return address
#endif
  return sp;
}

static bool ready(const Group* g, const Fiber& f) {
  switch (f.state) {
    case READY: return true;
    case WAIT_TG: return f.wait_gen != g->tg_gen;
    case WAIT_SG: return f.wait_gen != g->sg[f.sg].gen;
    default: return false;
  }
}

// Explains a deadlock: which collective each live thread is waiting in.
static void report_deadlock(Group* g) {
  char msg[512];
  int len = snprintf(msg, sizeof msg,
                     "deadlock: threads wait in different barriers or simdgroup functions "
                     "(all threads of a threadgroup, or all lanes of a simdgroup, must reach the "
                     "same one):");
  const char* sep = " ";
  for (uint i = 0; i < g->n && len > 0 && len < int(sizeof msg) - 64; ++i) {
    const Fiber& f = g->fibers[i];
    if (f.state != WAIT_TG && f.state != WAIT_SG) continue;
    // One entry per run of consecutive threads waiting in the same place.
    if (i > 0 && g->fibers[i - 1].state == f.state && g->fibers[i - 1].op == f.op) continue;
    len += snprintf(msg + len, sizeof msg - len, "%sthread %u in %s", sep, f.tid, op_name(f.op));
    sep = ", ";
  }
  g->cur = nullptr;
  record(msg);
}

// The error of a fiber that overflowed its stack (found by the guard page or the canary).
static void overflow_error(const tm_cpu_launch* L, Group* g, uint tid) {
  char msg[256];
  snprintf(msg, sizeof msg,
           "stack overflow: GPU thread %u needs more than its %llu KiB stack (the kernel's "
           "per-thread arrays are too large: use more warps or smaller blocks)",
           tid, (unsigned long long)((L->stack_bytes - L->guard_bytes) / 1024));
  if (g) g->cur = nullptr;
  record(msg);
}

static void run_group_fibers(Group* g, const tm_cpu_launch* L, uint threads) {
  g->n = threads;
  g->cur = nullptr;
  g->aborted = false;
  g->tg_live = threads;
  g->tg_arrived = 0;
  g->tg_gen = 0;
  uint nsg = (threads + 31u) / 32u;
  for (uint s = 0; s < nsg; ++s) {
    SgState& st = g->sg[s];
    st.live = s + 1 < nsg || threads % 32u == 0 ? 32u : threads % 32u;
    st.arrived = 0;
    st.gen = 0;
  }
  for (uint t = 0; t < threads; ++t) {
    Fiber& f = g->fibers[t];
    f.tid = t;
    f.sg = t / 32u;
    f.lane = t % 32u;
    f.state = READY;
    f.op = 0;
    f.stack_lo = L->stacks + u64(t) * L->stack_bytes + L->guard_bytes;
    // Stagger the stack tops: at equal offsets in equally spaced stacks, every fiber's saved
    // registers would fall into the same cache sets and evict each other at each switch.
    u64 stagger = (t % 64u) * 64u + (t / 64u % 4u) * 4096u;
    f.sp = init_context(f.stack_lo, f.stack_lo + (L->stack_bytes - L->guard_bytes) - stagger, &f);
  }
  uint remaining = threads;
  while (remaining > 0 && !g->aborted) {
    bool progress = false;
    for (uint t = 0; t < threads; ++t) {
      Fiber& f = g->fibers[t];
      if (!ready(g, f)) continue;
      f.state = READY;
      g->cur = &f;
      tm_cpu_switch_ctx(&g->sched_sp, f.sp);
      g->cur = nullptr;
      progress = true;
      if (f.state == DONE) remaining--;
      if (g->aborted) break;
    }
    if (!progress) {
      report_deadlock(g);
      break;
    }
  }
  for (uint t = 0; t < threads; ++t)
    if (*reinterpret_cast<const u64*>(g->fibers[t].stack_lo) != CANARY) {
      overflow_error(L, g, t);
      break;
    }
}

static u64 scratch_bytes(uint threads) { return sizeof(Group) + u64(threads) * sizeof(Fiber) + 64; }

static void open_windows() {
  Bounds& b = tls_bounds;
  for (uint c = 0; c < SIZE_CLASSES; ++c)
    for (uint i = 0; i < 32u; ++i) {
      u64 bytes = u64(1) << c;
      const tm_cpu_range* r = i < b.n ? &b.ranges[i] : nullptr;
      b.win[c][i] = r && r->len >= bytes ? Window{r->start, r->len - bytes} : Window{~0ull, 0};
    }
}

static int run_launch(const tm_cpu_launch* L, uint threads, bool sync, Invoke invoke,
                      uint nbufs, const char* const* names) {
  Sink sink = {L->err, L->err_cap, false, metal::uint3(0), ~0u};
  tls_sink = &sink;
  tls_group = nullptr;
  tls_bounds.ranges = L->ranges;
  tls_bounds.bufs = L->bufs;
  tls_bounds.names = names;
  tls_bounds.n = nbufs <= 32u && L->ranges ? nbufs : 0u;
  open_windows();
  Group* g = nullptr;
  if (L->version != TM_CPU_ABI_VERSION) {
    record("launch descriptor version mismatch between tm-cpu and the compiled kernel");
  } else if (L->buffer_count != nbufs || (nbufs && !L->ranges)) {
    record("the launch passes a different number of buffers than the kernel takes");
  } else if (sync) {
    uptr base = (reinterpret_cast<uptr>(L->scratch) + 63) & ~uptr(63);
    if (!L->scratch || !L->stacks || L->scratch_bytes < scratch_bytes(threads)) {
      record("executor scratch memory missing or too small");
    } else {
      g = reinterpret_cast<Group*>(base);
      g->fibers = reinterpret_cast<Fiber*>(g + 1);
      g->invoke = invoke;
    }
  }
  tls_smem = L->smem;
  tls_smem_bytes = L->smem_bytes;
  alignas(16) unsigned char jbuf[512];  // sigjmp_buf: 200 bytes (x86_64), 312 (aarch64)
  if (g && L->jmp_slot) {
    if (TM_SIGSETJMP(jbuf) != 0) {
      // Back from a guard page hit: the fiber (tls_group->cur) overflowed its stack.
      *L->jmp_slot = nullptr;
      overflow_error(L, g, g->cur ? g->cur->tid : ~0u);
      tls_group = nullptr;
      tls_sink = nullptr;
      tls_bounds.n = 0;
      fflush(nullptr);
      return 1;
    }
    *L->jmp_slot = jbuf;
  }
  ThreadCtx ctx = {L->bufs, L->args, L->smem, metal::uint3(0),
                   metal::uint3(L->grid[0], L->grid[1], L->grid[2])};
  const u64 gx = L->grid[0], gxy = gx * L->grid[1];
  for (u64 i = 0; i < L->group_count && !sink.failed; ++i) {
    u64 id = L->first_group + i;
    ctx.pid = metal::uint3(uint(id % gx), uint(id / gx % L->grid[1]), uint(id / gxy));
    sink.pid = ctx.pid;
    // Threadgroup memory starts with garbage on a GPU; poison it so kernels that read it
    // before writing fail loudly instead of passing by luck.
    if (L->smem_bytes) __builtin_memset(L->smem, 0xff, L->smem_bytes);
    if (g) {
      g->ctx = ctx;
      tls_group = g;
      run_group_fibers(g, L, threads);
      tls_group = nullptr;
    } else {
      for (uint t = 0; t < threads && !sink.failed; ++t) {
        sink.tid = t;
        invoke(ctx, t);
      }
      sink.tid = ~0u;
    }
  }
  if (L->jmp_slot) *L->jmp_slot = nullptr;
  tls_sink = nullptr;
  tls_bounds.n = 0;
  fflush(nullptr);  // device printf output appears when the launch returns
  return sink.failed ? 1 : 0;
}
}  // namespace tm_rt

// ---- the collective primitives declared in tm_metal_sync.h -------------------------------------
namespace tm_detail {
void fail(const char* message) {
  tm_rt::record(message);
  if (tm_rt::Group* g = tm_rt::tls_group) tm_rt::abort_fiber(g);
}

// Outside fibers (the kernel's ABI says uses_sync = false) collectives cannot work: report it
// and let the thread continue as a simdgroup of one.
static void no_sync(int op) {
  char msg[200];
  snprintf(msg, sizeof msg,
           "the kernel calls %s but its KernelAbi has uses_sync = false; set it so threads run "
           "concurrently",
           tm_rt::op_name(op));
  tm_rt::record(msg);
}

sg_view sg_exchange(const void* value, uint size, int op) {
  tm_rt::Group* g = tm_rt::tls_group;
  if (!g) {
    alignas(64) static thread_local unsigned char own[SLOT_BYTES];
    __builtin_memcpy(own, value, size);
    no_sync(op);
    return sg_view{own, 1u, 0u};
  }
  tm_rt::Fiber* f = g->cur;
  tm_rt::SgState& s = g->sg[f->sg];
  uint gen = s.gen, par = gen & 1u;
  if (s.arrived == 0) {
    s.mask[par] = 0;
    s.op[par] = op;
  } else if (s.op[par] != op) {
    char msg[256];
    snprintf(msg, sizeof msg,
             "lanes of simdgroup %u call different simdgroup functions at the same time (%s and "
             "%s); all lanes must call the same one",
             f->sg, tm_rt::op_name(s.op[par]), tm_rt::op_name(op));
    fail(msg);
  }
  __builtin_memcpy(s.slots[par] + f->lane * SLOT_BYTES, value, size);
  s.mask[par] |= 1u << f->lane;
  if (++s.arrived == s.live) {
    tm_rt::release_sg(s);
  } else {
    f->state = tm_rt::WAIT_SG;
    f->wait_gen = gen;
    f->op = op;
    tm_rt::suspend(g, f);
  }
  return sg_view{s.slots[par], s.mask[par], f->lane};
}

void require_uniform(const sg_view& v, uint size, const char* what) {
  const unsigned char* mine = v.slots + v.lane * SLOT_BYTES;
  for (uint l = 0; l < 32u; ++l)
    if (((v.mask >> l) & 1u) && __builtin_memcmp(mine, v.slots + l * SLOT_BYTES, size) != 0) {
      char msg[200];
      snprintf(msg, sizeof msg,
               "%s: lanes %u and %u pass different pointers or strides; the arguments must be "
               "the same in every lane",
               what, v.lane, l);
      fail(msg);
    }
}

void require_full(const sg_view& v, const char* what) {
  if (v.mask != 0xffffffffu && tm_rt::tls_group) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s needs all 32 lanes of the simdgroup (active mask 0x%08x)", what,
             v.mask);
    fail(msg);
  }
}

uint lane_id() {
  tm_rt::Group* g = tm_rt::tls_group;
  return g && g->cur ? g->cur->lane : 0u;
}
}  // namespace tm_detail

namespace metal {
void threadgroup_barrier(mem_flags) {
  tm_rt::Group* g = tm_rt::tls_group;
  if (!g) {
    tm_detail::no_sync(0);
    return;
  }
  tm_rt::Fiber* f = g->cur;
  if (++g->tg_arrived == g->tg_live) {
    g->tg_arrived = 0;
    g->tg_gen++;
  } else {
    f->state = tm_rt::WAIT_TG;
    f->wait_gen = g->tg_gen;
    f->op = 0;
    tm_rt::suspend(g, f);
  }
}
void simdgroup_barrier(mem_flags) {
  tm_detail::exchange(0, tm_detail::OP_SIMDGROUP_BARRIER);
}
}  // namespace metal

TM_CPU_EXPORT uint tm_cpu_abi_version() { return TM_CPU_ABI_VERSION; }
TM_CPU_EXPORT unsigned long long tm_cpu_scratch_bytes(uint threads) {
  return tm_rt::scratch_bytes(threads);
}

// ---- bounds checks of device memory (tm_chk) ---------------------------------------------------
namespace tm_rt {
// Is [a, a + bytes) inside range r? (Unsigned: an address below the start wraps to a huge
// offset; the second test cannot wrap once the first holds.)
static inline bool inside(const tm_cpu_range& r, uptr a, u64 bytes) {
  u64 off = u64(a) - r.start;
  return off < r.len && r.len - off >= bytes;
}

// Accesses of other sizes (slot >= 0), or whose buffer tm-msl could not tell (slot < 0: inside
// any buffer of the launch will do).
__attribute__((noinline)) static bool inside_slow(uptr a, u64 bytes, int slot) {
  const Bounds& b = tls_bounds;
  if (slot >= 0) return uint(slot) < b.n && inside(b.ranges[slot], a, bytes);
  for (uint i = 0; i < b.n; ++i)
    if (inside(b.ranges[i], a, bytes)) return true;
  return false;
}

static const char* plural(long long n) { return n == 1 || n == -1 ? "" : "s"; }

// Explains an access of n elements of esize bytes at address a through buffer `slot`: which
// elements of the argument it touches and how far outside the argument's memory they reach.
static void describe(char* msg, u64 cap, const char* what, uptr a, u64 n, u64 esize, int slot) {
  const Bounds& b = tls_bounds;
  const char* name = b.names && b.names[slot] ? b.names[slot] : "?";
  const tm_cpu_range& r = b.ranges[slot];
  const long long es = (long long)esize;
  // Byte offsets from the kernel's pointer for this argument (element 0).
  long long off = (long long)(a - uptr(b.bufs[slot]));
  long long lo = (long long)(r.start - u64(uptr(b.bufs[slot])));
  long long hi = lo + (long long)r.len;
  int len;
  if (off % es != 0 || lo % es != 0 || hi % es != 0) {
    // Not whole elements (a pointer cast to a wider type): in bytes.
    long long last_byte = off + (long long)(n * esize) - 1;
    if (hi <= lo)
      snprintf(msg, cap, "%s bytes %lld..%lld of '%s', which is empty", what, off, last_byte, name);
    else
      snprintf(msg, cap, "%s bytes %lld..%lld of '%s', whose memory is bytes %lld..%lld", what,
               off, last_byte, name, lo, hi - 1);
    return;
  }
  long long i = off / es, first = lo / es, end = hi / es, last = i + (long long)n - 1;
  if (n == 1)
    len = snprintf(msg, cap, "%s element %lld of '%s'", what, i, name);
  else
    len = snprintf(msg, cap, "%s elements %lld..%lld of '%s' (one %llu-element vector access)",
                   what, i, last, name, (unsigned long long)n);
  if (len < 0 || u64(len) >= cap) return;
  msg += len;
  cap -= u64(len);
  if (end <= first) {
    snprintf(msg, cap, ", which is empty");
    return;
  }
  if (first == 0)
    len = snprintf(msg, cap, ", which has %lld element%s", end, plural(end));
  else
    len = snprintf(msg, cap, ", whose elements are %lld..%lld", first, end - 1);
  if (len < 0 || u64(len) >= cap) return;
  msg += len;
  cap -= u64(len);
  if (last >= end) {
    long long d = last - end + 1;
    snprintf(msg, cap, " (%lld element%s past the end)", d, plural(d));
  } else if (i < first) {
    long long d = first - i;
    snprintf(msg, cap, " (%lld element%s before the start)", d, plural(d));
  }
}

// An access no buffer contains (slot < 0): names the nearest buffer.
static void describe_any(char* msg, u64 cap, const char* what, uptr a, u64 bytes) {
  const Bounds& b = tls_bounds;
  int best = -1;
  u64 best_d = ~0ull;
  bool after = false;
  for (uint s = 0; s < b.n; ++s) {
    const tm_cpu_range& r = b.ranges[s];
    if (!r.len) continue;
    bool past = u64(a) >= r.start;
    u64 d = past ? u64(a) + bytes - (r.start + r.len) : r.start - u64(a);
    if (d < best_d) {
      best_d = d;
      best = int(s);
      after = past;
    }
  }
  if (best < 0) {
    snprintf(msg, cap, "%s %llu bytes at %p, but every array passed to the kernel is empty", what,
             (unsigned long long)bytes, (void*)a);
    return;
  }
  snprintf(msg, cap, "%s %llu bytes at %p, outside every array passed to the kernel; nearest: "
           "'%s', %llu bytes %s", what, (unsigned long long)bytes, (void*)a,
           b.names && b.names[best] ? b.names[best] : "?", (unsigned long long)best_d,
           after ? "past its end" : "before its start");
}

// An access through a pointer that may be an address made from an integer (tt.int_to_ptr,
// slot -2) that no array of the launch contains: allowed where the process has that memory
// mapped with the access's permission (another tensor's storage: a GPU kernel may read any
// device address), per /proc/self/maps; the mapping found last is remembered per thread.
struct RawMapping {
  u64 lo, hi;
  bool writable;
};
static thread_local RawMapping tls_raw = {0, 0, false};

static bool raw_mapped(u64 a, u64 bytes, bool write) {
#if defined(__linux__)
  if (a >= tls_raw.lo && a + bytes <= tls_raw.hi && (!write || tls_raw.writable)) return true;
  int fd = open("/proc/self/maps", 0);
  if (fd < 0) return false;
  char buf[4096], line[160];
  int len = 0;
  bool ok = false, found = false;
  long got;
  while (!found && (got = read(fd, buf, sizeof buf)) > 0) {
    for (long i = 0; i < got && !found; ++i) {
      if (buf[i] != '\n') {
        if (len < int(sizeof line) - 1) line[len++] = buf[i];
        continue;
      }
      line[len] = 0;
      len = 0;
      // "lo-hi perms ...", addresses in hex
      u64 lo = 0, hi = 0;
      const char* c = line;
      auto hex = [&](u64& v) {
        for (;; ++c) {
          int d = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
          if (d < 0) break;
          v = v * 16 + u64(d);
        }
      };
      hex(lo);
      if (*c++ != '-') continue;
      hex(hi);
      if (*c++ != ' ' || !(a >= lo && a + bytes <= hi)) continue;
      found = true;
      ok = c[0] == 'r' && (!write || c[1] == 'w');
      if (ok) tls_raw = {lo, hi, c[1] == 'w'};
    }
  }
  close(fd);
  return ok;
#else
  (void)a, (void)bytes, (void)write;
  return false;
#endif
}

// One failed access, packed into a constant so the many call sites stay small: n elements of
// esize bytes, kind 0 load / 1 store / 2 atomic, buffer slot (-1: unknown), Triton line.
static constexpr u64 access_code(u64 n, u64 esize, int kind, int slot, uint line) {
  return (n & 0xff) | (esize & 0xff) << 8 | u64(kind & 0xf) << 16 | u64((slot + 1) & 0xff) << 20 |
         u64(line) << 32;
}

// A failed check: records the first error of the launch and stops the thread. On a fiber the
// fiber is abandoned (this never returns); without fibers the thread continues on a zeroed
// dummy for this and all its later accesses (see Bounds), and the launch then fails.
// preserve_most: the hot paths around the call need not save their registers.
__attribute__((noinline, cold, preserve_most)) static void* check_failed(const void* p, u64 code) {
  const u64 n = code & 0xff, esize = (code >> 8) & 0xff;
  const int kind = int((code >> 16) & 0xf), slot = int((code >> 20) & 0xff) - 1;
  const uint line = uint(code >> 32);
  const bool raw = slot == 0xfe;  // slot -2: a pointer that may be made from an integer
  if (raw && raw_mapped(u64(uptr(p)), n * esize, kind != 0)) return const_cast<void*>(p);
  Sink* s = tls_sink;
  if (s && !s->failed) {
    static const char* const kinds[] = {"load", "store", "atomic"};
    char what[96];
    char msg[512];
    const char* k = kind < 3 ? kinds[kind] : "access";
    if (line)
      snprintf(what, sizeof what, "out-of-bounds %s at line %u:", k, line);
    else
      snprintf(what, sizeof what, "out-of-bounds %s:", k);
    if (raw)
      snprintf(msg, sizeof msg, "%s %llu bytes at %p through a pointer made from an integer: no array "
               "of the launch contains them and the process has no %s memory there", what,
               (unsigned long long)(n * esize), p, kind == 0 ? "readable" : "writable");
    else if (slot >= 0 && uint(slot) < tls_bounds.n)
      describe(msg, sizeof msg, what, uptr(p), n, esize, slot);
    else
      describe_any(msg, sizeof msg, what, uptr(p), n * esize);
    record(msg);
  }
  if (Group* g = tls_group) abort_fiber(g);
  tls_bounds.n = 0;
  open_windows();  // with n = 0: all closed
  __builtin_memset(tls_dummy, 0, sizeof tls_dummy);
  return tls_dummy;
}
}  // namespace tm_rt

// Every device-memory access of generated code: `*(tm_chk(p, n, kind, line, slot))` with n
// elements at p (a vector access is checked whole), kind 0 load, 1 store, 2 atomic, the Triton
// source line, and the buffer slot p derives from (-1: unknown, any buffer will do). Returns p,
// or after a failed check a dummy (without fibers; a fiber never returns). The Metal prelude
// defines it as the identity.
template <class T>
__attribute__((always_inline)) inline T* tm_chk(T* p, uint n, int kind, uint line, int slot) {
#if TM_CPU_BOUNDS_CHECK
#if defined(TM_CPU_ANY_SLOT) && TM_CPU_ANY_SLOT
  // An entry point with its own signature (tm_cpu::compile_entry) may order the buffers
  // otherwise than the kernel's slots: an access must lie inside one of the launch's buffers
  // (or, through a pointer made from an integer, slot -2, in mapped memory).
  if (slot != -2) slot = -1;
#endif
  // After inlining, n, slot and hence the size class are constants.
  const tm_rt::u64 a = reinterpret_cast<tm_rt::uptr>(p);
  const tm_rt::u64 bytes = tm_rt::u64(n) * sizeof(T);
  if (slot >= 0 && slot < 32 && bytes && (bytes & (bytes - 1)) == 0 &&
      bytes <= (1u << (tm_rt::SIZE_CLASSES - 1))) {
    const tm_rt::Window& w = tm_rt::tls_bounds.win[__builtin_ctzll(bytes)][slot];
    if (__builtin_expect(a - w.first <= w.last, 1)) return p;
  } else if (__builtin_expect(tm_rt::inside_slow(a, bytes, slot), 1)) {
    return p;
  }
  return static_cast<T*>(tm_rt::check_failed(p, tm_rt::access_code(n, sizeof(T), kind, slot, line)));
#else
  (void)n, (void)kind, (void)line, (void)slot;
  return p;
#endif
}

// Threadgroup memory an entry point declares itself (`TM_THREADGROUP_STORAGE`, used by the
// framework entries of tm_msl::variants): the memory the executor gives each threadgroup,
// which all fibers of the group share, as Metal's `threadgroup` variables are shared.
inline unsigned char* tm_threadgroup_storage(unsigned long long bytes) {
  if (bytes > tm_rt::tls_smem_bytes)
    tm_detail::fail("the kernel declares more threadgroup memory than the launch provides");
  return tm_rt::tls_smem;
}
