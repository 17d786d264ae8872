//! The MSL printer: walks the IR once, keeping for every value how per-thread
//! code names one of its elements ([`Repr`]). Layouts are chosen up front
//! (`prefs.rs`); a value needed in another layout is recomputed there when it is
//! cheap and pure, or moved through threadgroup memory (`convert.rs`).

use crate::dialect::{arg_ident, literal, msl_type_name, unsigned_of};
use crate::exprs::{binary_expr, math_expr};
use crate::layout::{BlockedFamily, Layout};
use crate::{MslError, MslKernel, MslOptions};
use std::collections::HashMap;
use std::fmt::Write;
use tm_abi::{BufferParam, KernelAbi, ParamSlot, MAX_THREADGROUP_BYTES, MAX_THREADS_PER_THREADGROUP, MAX_THREAD_PRIVATE_BYTES, SIMD_WIDTH};
use tm_ir::{CastKind, CmpPred, DType, Elem, Func, Loc, Op, OpKind, Type, UnOp, ValueId};
use tm_opt::AxisInfo;

/// How per-thread code refers to a value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Repr {
    /// A scalar (uniform across the threadgroup): a C expression or variable.
    Scalar(String),
    /// A block whose elements all equal a scalar expression.
    Splat(String),
    /// A block held in a per-thread array `name[regs]` in layout `layout`.
    Array { name: String, layout: usize },
}

pub(crate) struct Emitter<'a> {
    pub f: &'a Func,
    pub axis: Vec<AxisInfo>,
    pub num_warps: u32,
    pub families: HashMap<usize, BlockedFamily>,
    pub layouts: Vec<Layout>,
    /// The layout each block value is produced in (see `prefs.rs`).
    pub prefs: HashMap<ValueId, usize>,
    pub reprs: HashMap<ValueId, Repr>,
    /// Values recomputed or converted into another layout, with the nesting
    /// depth they were declared at (they go out of scope with it).
    pub converted: HashMap<(ValueId, usize), (Repr, usize)>,
    pub body: String,
    /// Nesting depth of the code being printed (for indentation and scoping).
    pub depth: usize,
    /// For each enclosing region, the values its `Yield` assigns to.
    pub yield_targets: Vec<Vec<ValueId>>,
    /// Bytes of threadgroup memory the kernel needs (max over its uses).
    pub smem_bytes: u32,
    /// Whether the kernel synchronises threads (barriers, simdgroup functions).
    pub uses_sync: bool,
    pub tmp_counter: u32,
    /// Whether threadgroup memory was written before (a barrier must precede reuse).
    pub smem_touched: bool,
    /// Values some op reads.
    pub used: std::collections::HashSet<ValueId>,
    /// How many operand slots read each value.
    pub use_count: HashMap<ValueId, usize>,
    /// Dot accumulators held in simdgroup matrices (loop-carried across a
    /// K loop): value -> fragment array name.
    pub fragments: HashMap<ValueId, String>,
    /// Bytes of every per-thread array declared so far (an upper bound of what a thread
    /// keeps: clang and Metal may reuse the storage of dead arrays).
    pub private_bytes: u64,
    /// Device-memory accesses since the last device barrier (see `order.rs`).
    pub pending: Vec<crate::order::Footprint>,
    /// While staging a shape op in pieces (`shape.rs`): the piece's size in elements;
    /// the emitted code names the piece's first staging index `lo`.
    pub staging_piece: Option<u64>,
    /// The loops being emitted, innermost last (see `order.rs`).
    pub active_loops: Vec<std::rc::Rc<crate::order::LoopScope>>,
    /// Double-buffered dot staging (see `dot.rs`): which dots (numbered in emission
    /// order) may have it (`None`: all), each candidate's (single, double) bytes,
    /// the double buffers' total, and the dots emitted so far.
    pub dbuf_allow: Option<std::collections::HashSet<u32>>,
    pub dbuf_candidates: Vec<(u32, u32, u32)>,
    pub dbuf_bytes: u32,
    pub dot_seq: u32,
    /// Declarations at the top of the kernel body (state that lives across loops).
    pub prologue: Vec<String>,
}

/// The outcome of one lowering pass: the kernel, or the double-buffered dots that
/// did not fit next to the kernel's other threadgroup memory (`other` bytes).
enum Pass {
    Done(MslKernel),
    Over { other: u32, candidates: Vec<(u32, u32, u32)> },
}

pub(crate) type R<T> = Result<T, MslError>;

pub(crate) fn unsupported(what: impl Into<String>, loc: Loc) -> MslError {
    MslError::Unsupported { what: what.into(), loc }
}

pub(crate) fn tname(d: DType, loc: Loc) -> R<&'static str> {
    msl_type_name(d).ok_or_else(|| unsupported(format!("{} has no Metal equivalent", d.language_name()), loc))
}

pub(crate) fn elem_decl(e: Elem, loc: Loc) -> R<String> {
    Ok(match e {
        Elem::Scalar(d) => tname(d, loc)?.to_string(),
        Elem::Ptr(d) => format!("device {}*", tname(d, loc)?),
    })
}

/// A read-only declaration: `const T`, or `T* const` for pointers (the pointee stays writable).
pub(crate) fn const_decl(decl: &str) -> String {
    if decl.ends_with('*') {
        format!("{decl} const")
    } else {
        format!("const {decl}")
    }
}

/// Lowers a kernel to MSL and its launch ABI.
pub fn lower(f: &Func, opts: &MslOptions) -> R<MslKernel> {
    // First with every dot in a loop double-buffered; if their buffers do not fit next to
    // the rest, again with those that fit (in emission order), and last with none.
    let (other, candidates) = match lower_pass(f, opts, None)? {
        Pass::Done(k) => return Ok(k),
        Pass::Over { other, candidates } => (other, candidates),
    };
    // The most dots double-buffered (then the fewest bytes) such that their buffers fit
    // above the rest: the other uses, and the single buffers of the dots left out.
    let mut best: Option<(usize, u32, u32)> = None;
    if candidates.len() <= 12 {
        for set in 1u32..(1 << candidates.len()) {
            let chosen = |i: usize| set & (1 << i) != 0;
            let rest = candidates.iter().enumerate().filter(|&(i, _)| !chosen(i)).map(|(_, c)| c.1).max().unwrap_or(0);
            let double: u32 = candidates.iter().enumerate().filter(|&(i, _)| chosen(i)).map(|(_, c)| c.2).sum();
            let total = other.max(rest).next_multiple_of(16) + double;
            let count = set.count_ones() as usize;
            if total <= MAX_THREADGROUP_BYTES && best.is_none_or(|(bc, bt, _)| count > bc || (count == bc && total < bt)) {
                best = Some((count, total, set));
            }
        }
    }
    let allow: std::collections::HashSet<u32> = match best {
        Some((_, _, set)) => candidates.iter().enumerate().filter(|&(i, _)| set & (1 << i) != 0).map(|(_, c)| c.0).collect(),
        None => Default::default(),
    };
    if !allow.is_empty() {
        if let Pass::Done(k) = lower_pass(f, opts, Some(allow))? {
            return Ok(k);
        }
    }
    match lower_pass(f, opts, Some(Default::default()))? {
        Pass::Done(k) => Ok(k),
        Pass::Over { .. } => unreachable!("no double buffers requested"),
    }
}

fn lower_pass(f: &Func, opts: &MslOptions, dbuf_allow: Option<std::collections::HashSet<u32>>) -> R<Pass> {
    let threads = opts.num_warps * SIMD_WIDTH;
    if opts.num_warps == 0 || !opts.num_warps.is_power_of_two() || threads > MAX_THREADS_PER_THREADGROUP {
        return Err(MslError::Resources(format!(
            "num_warps={} gives {threads} threads per threadgroup; it must be a power of two and at most {} (Metal's limit of {MAX_THREADS_PER_THREADGROUP} threads)",
            opts.num_warps,
            MAX_THREADS_PER_THREADGROUP / SIMD_WIDTH
        )));
    }
    // One blocked family per rank, chosen from the largest block of that rank,
    // so that broadcasts between blocks of one rank move no data.
    let mut largest: HashMap<usize, Vec<u32>> = HashMap::new();
    for v in &f.values {
        if v.ty.is_block() {
            let e = largest.entry(v.ty.rank()).or_insert_with(|| v.ty.shape.clone());
            if v.ty.numel() > e.iter().map(|&s| s as u64).product() {
                *e = v.ty.shape.clone();
            }
        }
    }
    let families = largest.iter().map(|(&r, s)| (r, BlockedFamily::default_for(s, opts.num_warps))).collect();
    let mut em = Emitter {
        f,
        axis: tm_opt::analyze_axis_info(f),
        num_warps: opts.num_warps,
        families,
        layouts: vec![],
        prefs: HashMap::new(),
        reprs: HashMap::new(),
        converted: HashMap::new(),
        body: String::new(),
        depth: 1,
        yield_targets: vec![],
        smem_bytes: 0,
        uses_sync: false,
        tmp_counter: 0,
        smem_touched: false,
        used: f.ops.iter().flat_map(|o| o.operands.iter().copied()).collect(),
        use_count: {
            let mut c = HashMap::new();
            f.walk(|id| {
                for &o in &f.op(id).operands {
                    *c.entry(o).or_insert(0) += 1;
                }
            });
            c
        },
        fragments: HashMap::new(),
        private_bytes: 0,
        pending: vec![],
        active_loops: vec![],
        staging_piece: None,
        dbuf_allow,
        dbuf_candidates: vec![],
        dbuf_bytes: 0,
        dot_seq: 0,
        prologue: vec![],
    };
    em.assign_prefs();

    // Signature and argument struct, per the launch ABI.
    let mut buffers = vec![];
    let mut scalars = vec![];
    let mut arg_slots = vec![];
    let (read, written) = crate::memory::accessed_args(f);
    for (i, a) in f.args.iter().enumerate() {
        let ident = arg_ident(&a.name, i);
        match f.ty(a.value).elem {
            Elem::Ptr(d) => {
                tname(d, Loc::default())?;
                arg_slots.push(ParamSlot::Buffer(buffers.len()));
                buffers.push(BufferParam { name: a.name.clone(), dtype: d, read: read[i], written: written[i] });
                em.reprs.insert(a.value, Repr::Scalar(ident));
            }
            Elem::Scalar(d) => {
                tname(d, Loc::default())?;
                arg_slots.push(ParamSlot::Scalar(scalars.len()));
                scalars.push((a.name.clone(), d, ident.clone()));
                em.reprs.insert(a.value, Repr::Scalar(format!("args.{ident}")));
            }
        }
    }

    em.region(&f.body.ops)?;

    if em.private_bytes > MAX_THREAD_PRIVATE_BYTES {
        return Err(MslError::Resources(format!(
            "needs {} KiB of per-thread arrays with num_warps={} ({} threads); triton_metal allows at most {} KiB per thread, beyond what any Apple GPU holds in registers: use more warps or smaller blocks",
            em.private_bytes.div_ceil(1024),
            opts.num_warps,
            threads,
            MAX_THREAD_PRIVATE_BYTES / 1024
        )));
    }
    if em.dbuf_bytes > 0 {
        // Double buffers sit above everything else (which all starts at offset 0).
        let base = em.smem_bytes.next_multiple_of(16);
        if base + em.dbuf_bytes > MAX_THREADGROUP_BYTES {
            return Ok(Pass::Over { other: em.smem_bytes, candidates: em.dbuf_candidates });
        }
        em.prologue.insert(0, format!("#define TM_DBUF_BASE {base}u"));
        em.smem_bytes = base + em.dbuf_bytes;
    }
    if em.smem_bytes > MAX_THREADGROUP_BYTES {
        return Err(MslError::Resources(format!(
            "kernel '{}' needs {} bytes of threadgroup memory; Metal allows at most {MAX_THREADGROUP_BYTES} (32 KiB): use smaller blocks",
            f.name, em.smem_bytes
        )));
    }
    let name = crate::dialect::kernel_ident(&f.name);
    // A kernel without block values computes the same scalars on every thread and lets
    // thread 0 alone store, update atomically and print: the other threads have no effect
    // (their loads feed nothing that leaves the thread). One thread per threadgroup then
    // runs it exactly, at 1/threads of the cost, and its barriers order nothing.
    let block_free = !f.values.iter().any(|v| v.ty.is_block());
    let threads = if block_free { 1 } else { threads };
    let mut abi = KernelAbi::new(
        name.clone(),
        buffers.clone(),
        scalars.iter().map(|(n, d, _)| (n.clone(), *d)).collect(),
        arg_slots.clone(),
        threads,
        em.smem_bytes,
        em.uses_sync,
    )?;
    abi.thread_private_bytes = em.private_bytes;

    let mut out = String::new();
    let _ = writeln!(out, "// triton_metal: kernel {name}, num_warps={}", opts.num_warps);
    out.push_str("#include <metal_stdlib>\nusing namespace metal;\n\n");
    out.push_str(PRELUDE);
    if f.values.iter().any(|v| matches!(v.ty.elem, Elem::Scalar(d) | Elem::Ptr(d) if d.is_fp8())) {
        out.push_str(crate::fp8::FP8_PRELUDE);
        out.push('\n');
    }
    if f.ops.iter().any(|o| matches!(o.kind, OpKind::Cast(CastKind::ConvertRtz))) {
        out.push_str(crate::fp8::RTZ_PRELUDE);
        out.push('\n');
    }
    if f.ops.iter().any(|o| matches!(o.kind, OpKind::AtomicRmw { .. } | OpKind::AtomicCas)) {
        out.push_str(crate::atomics::ATOMIC_PRELUDE);
        out.push('\n');
    }
    if !scalars.is_empty() {
        let _ = writeln!(out, "struct {} {{", abi.args_struct_name());
        for (_, d, ident) in &scalars {
            let _ = writeln!(out, "    {} {ident};", tname(*d, Loc::default())?);
        }
        let _ = writeln!(out, "}};");
        let _ = writeln!(out, "static_assert(sizeof({}) == {}, \"argument struct layout\");\n", abi.args_struct_name(), abi.args_size);
    }
    // The standard entry; `variants` splits the source here to give other entries the same body.
    out.push_str(&crate::variants::standard_entry(&abi));
    for (i, l) in em.layouts.iter().enumerate() {
        for d in 0..l.eshape.len() {
            let _ = writeln!(out, "    const uint L{i}_t{d} = {};", l.thread_coord_expr(d, "tm_lane", "tm_sg"));
        }
        let thr: Vec<String> = (0..l.eshape.len()).map(|d| format!("L{i}_t{d}")).collect();
        let own = l.owner_expr(&thr).unwrap_or_else(|| "true".into());
        let _ = writeln!(out, "    const bool L{i}_own = {own};");
    }
    for p in &em.prologue {
        let _ = writeln!(out, "    {p}");
    }
    out.push_str(&em.body);
    out.push_str("}\n");

    let mut layouts = String::new();
    for (i, l) in em.layouts.iter().enumerate() {
        let fam = &l.family;
        let _ = writeln!(
            layouts,
            "#L{i} shape={:?} embedded={:?} sizePerThread={:?} threadsPerWarp={:?} warpsPerCTA={:?} order={:?} regs={}",
            l.shape(), l.eshape, fam.size_per_thread, fam.threads_per_warp, fam.warps_per_cta, fam.order, l.regs()
        );
    }
    Ok(Pass::Done(MslKernel { source: out, abi, arg_slots, layouts }))
}

/// Helpers every kernel may use: integer division and remainder that neither
/// trap nor invoke undefined behaviour (x/0 and INT_MIN/-1 give 0 on the CPU
/// executor and on Metal alike), and `tm_chk`, through which every device
/// memory access goes (see `memory.rs`).
const PRELUDE: &str = "\
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

";

impl<'a> Emitter<'a> {
    /// Index of `l` in the layout table (added if new).
    pub fn intern(&mut self, l: Layout) -> usize {
        if let Some(i) = self.layouts.iter().position(|x| *x == l) {
            return i;
        }
        self.layouts.push(l);
        self.layouts.len() - 1
    }

    /// The default layout of a block type: its rank's family.
    pub fn default_layout(&mut self, ty: &Type) -> usize {
        let fam = self.families.get(&ty.rank()).cloned().unwrap_or_else(|| BlockedFamily::default_for(&ty.shape, self.num_warps));
        self.intern(Layout::new(fam, ty.shape.clone()))
    }

    /// The layout block value `v` is produced in.
    pub fn layout_for(&mut self, v: ValueId) -> usize {
        match self.prefs.get(&v) {
            Some(&l) => l,
            None => {
                let ty = self.f.ty(v).clone();
                self.default_layout(&ty)
            }
        }
    }

    pub fn line(&mut self, s: impl AsRef<str>) {
        for _ in 0..self.depth {
            self.body.push_str("    ");
        }
        self.body.push_str(s.as_ref());
        self.body.push('\n');
    }

    pub fn repr(&self, v: ValueId) -> &Repr {
        self.reprs.get(&v).expect("values are defined before use")
    }

    /// The C expression for element `r` (an expression of register index) of a repr.
    pub fn at(r: &Repr, idx: &str) -> String {
        match r {
            Repr::Scalar(s) | Repr::Splat(s) => s.clone(),
            Repr::Array { name, .. } => format!("{name}[{idx}]"),
        }
    }

    /// Element `idx` of `v` in its own representation (scalars, or arrays read in their own layout).
    pub fn elem(&self, v: ValueId, idx: &str) -> String {
        Self::at(self.repr(v), idx)
    }

    pub fn region(&mut self, ops: &[tm_ir::OpId]) -> R<()> {
        for &id in ops {
            let op = self.f.op(id).clone();
            self.op(&op)?;
        }
        Ok(())
    }

    /// Declares an array for a block of type `ty` in layout `l`.
    pub fn declare_array(&mut self, name: &str, ty: &Type, l: usize, loc: Loc) -> R<u32> {
        let regs = self.layouts[l].regs();
        let decl = elem_decl(ty.elem, loc)?;
        self.line(format!("{decl} {name}[{regs}];"));
        self.count_private(regs, ty.elem);
        Ok(regs)
    }

    /// Counts a per-thread array of `regs` elements of `elem` ([`Emitter::private_bytes`]).
    pub fn count_private(&mut self, regs: u32, elem: Elem) {
        let size = match elem {
            Elem::Scalar(d) => u64::from(d.size_bytes()).max(1),
            Elem::Ptr(_) => 8,
        };
        self.private_bytes += u64::from(regs) * size;
    }

    fn op(&mut self, op: &Op) -> R<()> {
        self.check_fp8_use(op)?;
        match &op.kind {
            OpKind::Return => Ok(()),
            OpKind::For => self.for_op(op),
            OpKind::If => self.if_op(op),
            OpKind::Yield => self.yield_op(op),
            OpKind::Store { has_mask } => self.store(op, *has_mask),
            OpKind::Reduce { axis } => self.reduce_op(op, *axis),
            OpKind::Dot => self.dot_op(op),
            OpKind::AtomicRmw { .. } | OpKind::AtomicCas => self.atomic_op(op),
            OpKind::Barrier => {
                self.device_barrier();
                Ok(())
            }
            OpKind::While => self.while_op(op),
            OpKind::Print { .. } | OpKind::Assert { .. } => self.debug_op(op),
            OpKind::Scan { .. } | OpKind::Sort { .. } | OpKind::Flip | OpKind::Histogram { .. } | OpKind::Gather { .. } => self.scan_like_op(op),
            OpKind::Trans(_) | OpKind::Reshape | OpKind::Join | OpKind::Split | OpKind::Cat => self.shape_op(op),
            _ => {
                let res = op.results[0];
                let l = if self.f.ty(res).is_block() { Some(self.layout_for(res)) } else { None };
                let r = self.value_op(op, l, &format!("v{}", res.0))?;
                self.reprs.insert(res, r);
                Ok(())
            }
        }
    }

    /// float8 values are 8-bit codes: only ops that move them (loads, stores, shape ops,
    /// selects, control flow) and conversions (which decode and encode them exactly) may
    /// touch them; anything that would compute on the codes is refused.
    fn check_fp8_use(&self, op: &Op) -> R<()> {
        let fp8 = op.operands.iter().chain(&op.results).find_map(|&v| match self.f.ty(v).elem {
            Elem::Scalar(d) if d.is_fp8() => Some(d),
            _ => None,
        });
        let Some(d) = fp8 else { return Ok(()) };
        let moves_only = matches!(
            op.kind,
            OpKind::Constant(_)
                | OpKind::Splat
                | OpKind::Broadcast
                | OpKind::ExpandDims(_)
                | OpKind::Cast(_)
                | OpKind::Select
                | OpKind::Hint { .. }
                | OpKind::Load { .. }
                | OpKind::Store { .. }
                | OpKind::Trans(_)
                | OpKind::Reshape
                | OpKind::Join
                | OpKind::Split
                | OpKind::Cat
                | OpKind::Flip
                // Combine regions compute in float32 (tm-opt `widen_fp8`); the op moves codes.
                | OpKind::Reduce { .. }
                | OpKind::Scan { .. }
                | OpKind::Gather { .. }
                | OpKind::For
                | OpKind::If
                | OpKind::While
                | OpKind::Yield
                | OpKind::Return
        );
        if moves_only {
            return Ok(());
        }
        Err(unsupported(
            format!(
                "this operation on {} values (Metal has no float8 arithmetic: float8 types are storage, converted exactly in software; convert with .to(tl.float16) or .to(tl.float32) first)",
                d.language_name()
            ),
            op.loc,
        ))
    }

    /// Emits a single-result op producing its value in layout `l` (None for
    /// scalars) as variable/array `name`, and returns its representation.
    pub fn value_op(&mut self, op: &Op, l: Option<usize>, name: &str) -> R<Repr> {
        let f = self.f;
        let loc = op.loc;
        let res = op.results[0];
        let ty = f.ty(res).clone();
        let dt = |v: ValueId| f.ty(v).dtype();
        match &op.kind {
            OpKind::Constant(c) => {
                let d = dt(res).ok_or_else(|| unsupported("pointer constants", loc))?;
                let lit = literal(*c, d);
                Ok(if ty.is_block() { Repr::Splat(lit) } else { Repr::Scalar(lit) })
            }
            OpKind::ProgramId(a) | OpKind::NumPrograms(a) => {
                let src = if matches!(op.kind, OpKind::ProgramId(_)) { "tm_pid" } else { "tm_nprog" };
                let comp = ["x", "y", "z"][*a as usize];
                self.line(format!("const int {name} = (int){src}.{comp};"));
                Ok(Repr::Scalar(name.to_string()))
            }
            OpKind::MakeRange { start, .. } => {
                let l = l.expect("blocks have layouts");
                let regs = self.declare_array(name, &ty, l, loc)?;
                let coord = self.layouts[l].coord_expr(0, "r", &format!("L{l}_t{}", self.layouts[l].embed[0]));
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {start} + (int){coord};"));
                Ok(Repr::Array { name: name.to_string(), layout: l })
            }
            OpKind::Splat => Ok(Repr::Splat(self.elem(op.operands[0], "0"))),
            OpKind::Hint { .. } => match l {
                Some(l) if self.f.ty(op.operands[0]).is_block() => self.get(op.operands[0], l),
                _ => Ok(self.repr(op.operands[0]).clone()),
            },
            OpKind::ExpandDims(axis) => {
                let l = l.expect("blocks have layouts");
                let src_l = self.layouts[l].without_dim(*axis as usize);
                let src_l = self.intern(src_l);
                Ok(match self.get(op.operands[0], src_l)? {
                    Repr::Array { name, .. } => Repr::Array { name, layout: l },
                    other => Repr::Splat(Self::at(&other, "0")),
                })
            }
            OpKind::Broadcast => self.broadcast(op, l.expect("blocks have layouts"), name),
            OpKind::Binary(b) => {
                let d = dt(op.operands[0]).ok_or_else(|| unsupported("arithmetic on pointers", loc))?;
                let b = *b;
                if b == tm_ir::BinOp::Div && d == DType::F32 && self.shared_per_thread(op.operands[1]) {
                    return self.elementwise(op, l, name, |a| format!("tm_fdiv({}, {})", a[0], a[1]));
                }
                self.elementwise(op, l, name, |a| binary_expr(b, d, &a[0], &a[1]))
            }
            OpKind::Cmp(p) => {
                let sym = match p {
                    CmpPred::Eq => "==",
                    CmpPred::Ne => "!=",
                    CmpPred::Lt => "<",
                    CmpPred::Le => "<=",
                    CmpPred::Gt => ">",
                    CmpPred::Ge => ">=",
                };
                self.elementwise(op, l, name, |a| format!("({} {sym} {})", a[0], a[1]))
            }
            OpKind::Unary(u) => {
                let d = dt(op.operands[0]).ok_or_else(|| unsupported("unary op on pointers", loc))?;
                let t = tname(d, loc)?;
                let u = *u;
                self.elementwise(op, l, name, |a| match u {
                    UnOp::Neg if d.is_float() => format!("(-{})", a[0]),
                    UnOp::Neg => {
                        let ut = msl_type_name(unsigned_of(d)).unwrap_or("uint");
                        format!("({t})(({ut})0 - ({ut}){})", a[0])
                    }
                    UnOp::Not if d.is_bool() => format!("(!{})", a[0]),
                    UnOp::Not => format!("({t})(~{})", a[0]),
                })
            }
            OpKind::Math(m) => {
                let d = dt(res).ok_or_else(|| unsupported("math on pointers", loc))?;
                let m = *m;
                self.elementwise(op, l, name, |a| math_expr(m, d, a))
            }
            OpKind::MulHi => self.elementwise(op, l, name, |a| format!("mulhi({}, {})", a[0], a[1])),
            OpKind::Cast(kind) => {
                let to = ty.elem;
                let from = f.ty(op.operands[0]).elem;
                let decl = elem_decl(to, loc)?;
                let expr: Box<dyn Fn(&[String]) -> String> = match (kind, from, to) {
                    // float8 codes: decoded to float and encoded from float, exactly (FP8_PRELUDE).
                    (CastKind::Convert, Elem::Scalar(fd), Elem::Scalar(td)) if fd.is_fp8() || td.is_fp8() => {
                        let decl = decl.clone();
                        Box::new(move |a: &[String]| {
                            let x = if fd.is_fp8() { format!("tm_{}_to_f32({})", fd.triton_name(), a[0]) } else { format!("(float)({})", a[0]) };
                            if td.is_fp8() {
                                format!("tm_f32_to_{}({x})", td.triton_name())
                            } else if td == DType::I1 {
                                format!("({x} != 0.0f)")
                            } else if td.is_int() {
                                format!("tm_f2{}({x})", crate::dialect::int_suffix(td))
                            } else {
                                format!("({decl})({x})")
                            }
                        })
                    }
                    // Round toward zero in software, from the value as float (exact for any source).
                    (CastKind::ConvertRtz, Elem::Scalar(_), Elem::Scalar(td)) => {
                        let (e, m, bias, kind) = crate::fp8::narrow_format(td).ok_or_else(|| unsupported("internal: rtz to a wide type", loc))?;
                        let decl = decl.clone();
                        let fd = from;
                        Box::new(move |a: &[String]| {
                            let x = match fd {
                                Elem::Scalar(d) if d.is_fp8() => format!("tm_{}_to_f32({})", d.triton_name(), a[0]),
                                _ => format!("(float)({})", a[0]),
                            };
                            let code = format!("tm_f32_rtz({x}, {e}u, {m}u, {bias}, {kind}u)");
                            if td.is_fp8() { format!("(uchar)({code})") } else { format!("as_type<{decl}>((ushort)({code}))") }
                        })
                    }
                    (CastKind::ConvertRtz, _, _) => return Err(unsupported("internal: rtz of a pointer", loc)),
                    (CastKind::Convert, _, Elem::Scalar(DType::I1)) => Box::new(|a: &[String]| format!("({} != 0)", a[0])),
                    // bfloat <-> half has no direct conversion in MSL: through float, exact, then
                    // one rounding (to nearest even), as a direct conversion would round.
                    (CastKind::Convert, Elem::Scalar(DType::BF16 | DType::F16), Elem::Scalar(DType::BF16 | DType::F16)) => {
                        Box::new(move |a: &[String]| format!("({decl})((float)({}))", a[0]))
                    }
                    (CastKind::Convert, Elem::Scalar(fd), Elem::Scalar(td)) if fd.is_float() && td.is_int() => {
                        let suffix = crate::dialect::int_suffix(td);
                        Box::new(move |a: &[String]| format!("tm_f2{suffix}((float)({}))", a[0]))
                    }
                    (CastKind::Convert, _, _) | (CastKind::PtrCast, _, _) => Box::new(move |a: &[String]| format!("({decl})({})", a[0])),
                    (CastKind::Bitcast, _, _) => Box::new(move |a: &[String]| format!("as_type<{decl}>({})", a[0])),
                    // A device pointer is its 64-bit address (MSL converts `device T*` to and from
                    // `ulong`); a narrower integer is zero-extended first, as LLVM's inttoptr.
                    (CastKind::PtrToInt, _, _) => Box::new(move |a: &[String]| format!("({decl})(ulong)({})", a[0])),
                    (CastKind::IntToPtr, Elem::Scalar(fd), _) => {
                        let u = msl_type_name(unsigned_of(fd)).unwrap_or("ulong");
                        let u = if fd.is_bool() { "uchar" } else { u };
                        Box::new(move |a: &[String]| format!("({decl})(ulong)({u})({})", a[0]))
                    }
                    (CastKind::IntToPtr, _, _) => return Err(unsupported("internal: int_to_ptr of a pointer", loc)),
                };
                self.elementwise(op, l, name, |a| expr(a))
            }
            OpKind::Select => self.elementwise(op, l, name, |a| format!("({} ? {} : {})", a[0], a[1], a[2])),
            OpKind::AddPtr => self.elementwise(op, l, name, |a| format!("({} + {})", a[0], a[1])),
            OpKind::Load { has_mask, has_other } => self.load(op, l, name, *has_mask, *has_other),
            OpKind::Return | OpKind::For | OpKind::If | OpKind::Yield | OpKind::Store { .. } | OpKind::Reduce { .. } | OpKind::Dot | OpKind::Trans(_) | OpKind::Reshape | OpKind::Join | OpKind::Split | OpKind::Cat
            | OpKind::AtomicRmw { .. } | OpKind::AtomicCas | OpKind::Barrier | OpKind::While
            | OpKind::Scan { .. } | OpKind::Sort { .. } | OpKind::Flip | OpKind::Histogram { .. } | OpKind::Gather { .. }
            | OpKind::Print { .. } | OpKind::Assert { .. } => {
                Err(unsupported("internal: not a value op", loc))
            }
        }
    }

    /// Element-wise op: a scalar when every input is uniform, else a loop over registers of `l`.
    fn elementwise(&mut self, op: &Op, l: Option<usize>, name: &str, expr: impl Fn(&[String]) -> String) -> R<Repr> {
        let res = op.results[0];
        let ty = self.f.ty(res).clone();
        let mut ins = vec![];
        for &v in &op.operands {
            ins.push(match l {
                Some(l) if self.f.ty(v).is_block() => self.get(v, l)?,
                _ => self.repr(v).clone(),
            });
        }
        if ins.iter().all(|r| !matches!(r, Repr::Array { .. })) {
            let args: Vec<String> = ins.iter().map(|r| Self::at(r, "0")).collect();
            let decl = elem_decl(ty.elem, op.loc)?;
            self.line(format!("{} {name} = {};", const_decl(&decl), expr(&args)));
            return Ok(if ty.is_block() { Repr::Splat(name.to_string()) } else { Repr::Scalar(name.to_string()) });
        }
        let l = l.expect("a block result when an input is a block");
        let regs = self.declare_array(name, &ty, l, op.loc)?;
        let args: Vec<String> = ins.iter().map(|r| Self::at(r, "r")).collect();
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {};", expr(&args)));
        Ok(Repr::Array { name: name.to_string(), layout: l })
    }

    /// Whether a thread's registers of `v` repeat values (a scalar, a splat, or a broadcast
    /// that gives a thread several copies of each source element), so that a function of
    /// `v` alone, written per element, is computed once per distinct value after the MSL
    /// compiler's common-subexpression elimination.
    fn shared_per_thread(&mut self, mut v: ValueId) -> bool {
        loop {
            if !self.f.ty(v).is_block() {
                return true;
            }
            let Some(id) = self.f.def_op(v) else { return false };
            let op = self.f.op(id);
            match op.kind {
                OpKind::Hint { .. } => v = op.operands[0],
                OpKind::Splat | OpKind::Constant(_) => return true,
                OpKind::Broadcast => {
                    let (src, res) = (op.operands[0], op.results[0]);
                    let (src_shape, out_shape) = (&self.f.ty(src).shape, &self.f.ty(res).shape);
                    let ones: Vec<usize> = (0..out_shape.len()).filter(|&i| src_shape[i] == 1 && out_shape[i] != 1).collect();
                    let l = self.layout_for(res);
                    return self.layouts[l].with_unit_dims(&ones).regs() < self.layouts[l].regs();
                }
                _ => return false,
            }
        }
    }

    fn broadcast(&mut self, op: &Op, l: usize, name: &str) -> R<Repr> {
        let src = op.operands[0];
        let (src_shape, out_shape) = (self.f.ty(src).shape.clone(), self.f.ty(op.results[0]).shape.clone());
        let ones: Vec<usize> = (0..out_shape.len()).filter(|&i| src_shape[i] == 1 && out_shape[i] != 1).collect();
        let src_l = self.layouts[l].with_unit_dims(&ones);
        let src_l = self.intern(src_l);
        let r = self.get(src, src_l)?;
        let Repr::Array { name: sname, .. } = r else { return Ok(Repr::Splat(Self::at(&r, "0"))) };
        let ty = self.f.ty(op.results[0]).clone();
        let regs = self.declare_array(name, &ty, l, op.loc)?;
        // Same family: a thread holds the source element of each of its output
        // elements; only the register index changes (size-1 dims collapse).
        let (od, sd) = (self.layouts[l].dims(), self.layouts[src_l].dims());
        let terms: Vec<String> = (0..od.len())
            .filter(|&d| sd[d].regs > 1)
            .map(|d| format!("((r / {}u) % {}u) * {}u", od[d].reg_stride, od[d].regs, sd[d].reg_stride))
            .collect();
        let idx = if terms.is_empty() { "0u".to_string() } else { terms.join(" + ") };
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {sname}[{idx}];"));
        Ok(Repr::Array { name: name.to_string(), layout: l })
    }
}
