//! Atomics. Block atomics run once per element, by the element's first owner;
//! the pointer goes through `tm_chk` (see `memory.rs`) where the atomic runs.
//! a single-address atomic runs on thread 0 and its old value reaches the other
//! threads through threadgroup memory. Metal device atomics are relaxed;
//! float max/min and every compare-and-swap are loops over
//! `atomic_compare_exchange_weak_explicit` (see `ATOMIC_PRELUDE`), and so are
//! 16-bit ones (float16/bfloat16 add, 16-bit compare-and-swap), on the aligned
//! 32-bit word that holds the element, replacing only its half.

use crate::dialect::literal;
use crate::emit::{tname, unsupported, Emitter, Repr, R};
use crate::memory::{buffer_slot, Access};
use tm_ir::{Const, Elem, Loc, Op, OpKind, ValueId};

impl Emitter<'_> {
    pub(crate) fn atomic_op(&mut self, op: &Op) -> R<()> {
        let loc = op.loc;
        let res = op.results[0];
        let used = self.used.contains(&res);
        let ptr_v = op.operands[0];
        let Elem::Ptr(d) = self.f.ty(ptr_v).elem else { return Err(unsupported("atomic on a non-pointer", loc)) };
        let t = tname(d, loc)?;
        // 16-bit elements are updated through the aligned 32-bit word holding them, found
        // from the element's byte offset to its array argument's start (known 4-byte aligned).
        let base = if d.bits() == 16 { format!(", (device char*){}", self.word_base(ptr_v, loc)?) } else { String::new() };
        let (call, has_mask): (Box<dyn Fn(&[String]) -> String>, bool) = match &op.kind {
            OpKind::AtomicRmw { op: a, has_mask } => {
                let f = format!("tm_atomic_{}", a.name());
                (Box::new(move |x: &[String]| format!("{f}({}, {}{base})", x[0], x[1])), *has_mask)
            }
            OpKind::AtomicCas => (Box::new(move |x: &[String]| format!("tm_atomic_cas({}, {}, {}{base})", x[0], x[1], x[2])), false),
            _ => return Err(unsupported("internal: not an atomic", loc)),
        };
        let n_vals = if matches!(op.kind, OpKind::AtomicCas) { 3 } else { 2 };
        let zero = literal(Const::Int(0), d);
        let name = format!("v{}", res.0);
        let smem = format!("((threadgroup {t}*)tm_smem)");
        self.uses_sync |= used;
        if !self.f.ty(ptr_v).is_block() || !matches!(self.repr(ptr_v), Repr::Array { .. }) {
            // One address: thread 0 performs it once for the program.
            let mut args: Vec<String> = op.operands[..n_vals].iter().map(|&v| self.elem(v, "0")).collect();
            args[0] = self.checked(&args[0], 1, Access::Atomic, ptr_v, loc);
            let mut cond = "tm_tid == 0u".to_string();
            if has_mask {
                match self.repr(op.operands[2]) {
                    Repr::Array { .. } => return Err(unsupported("an atomic on a single address with a per-element mask", loc)),
                    m => cond = format!("{cond} && {}", Self::at(m, "0")),
                }
            }
            // Thread 0 acts for the whole program: `order.rs` orders it after every thread's
            // earlier accesses it may conflict with, and every later one after it.
            self.order_access(op);
            if used {
                self.smem_bytes = self.smem_bytes.max(16);
                self.barrier_before_smem_write();
                self.line(format!("if ({cond}) {smem}[0] = {};", call(&args)));
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                self.line(format!("const {t} {name} = {smem}[0];"));
                let repr = if self.f.ty(res).is_block() { Repr::Splat(name) } else { Repr::Scalar(name) };
                self.reprs.insert(res, repr);
            } else {
                self.line(format!("if ({cond}) (void){};", call(&args)));
                self.reprs.insert(res, Repr::Scalar(zero));
            }
            return Ok(());
        }
        self.order_access(op);
        let l = self.layout_for(ptr_v);
        let mut ins = vec![];
        for &v in &op.operands {
            ins.push(self.get(v, l)?);
        }
        let regs = self.layouts[l].regs();
        let mut args: Vec<String> = ins[..n_vals].iter().map(|r| Self::at(r, "r")).collect();
        args[0] = self.checked(&args[0], 1, Access::Atomic, ptr_v, loc);
        let mut cond = format!("L{l}_own");
        if has_mask {
            cond = format!("{cond} && {}", Self::at(&ins[2], "r"));
        }
        let ty = self.f.ty(res).clone();
        self.declare_array(&name, &ty, l, loc)?;
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = ({cond}) ? {} : {zero};", call(&args)));
        let replicated = self.layouts[l].dims().iter().any(|p| p.wraps);
        if used && replicated {
            // Copies of an element held by other threads take the owner's result.
            let numel = ty.numel() as u32;
            self.smem_bytes = self.smem_bytes.max((numel * d.size_bytes()).next_multiple_of(16));
            let idx = self.linear_index(l, "r");
            self.barrier_before_smem_write();
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) if (L{l}_own) {smem}[{idx}] = {name}[r];"));
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {smem}[{idx}];"));
        }
        self.reprs.insert(res, Repr::Array { name, layout: l });
        Ok(())
    }

    /// The array argument a 16-bit atomic's pointer derives from, which must be known
    /// 4-byte aligned (launch specialisation): Metal's atomics take 32-bit words only.
    fn word_base(&self, ptr: ValueId, loc: Loc) -> R<String> {
        let Some(slot) = buffer_slot(self.f, ptr) else {
            return Err(unsupported(
                "an atomic on 16-bit elements through a pointer that may come from several arguments (Metal updates them through the aligned 32-bit word that holds them, found from their array argument)",
                loc,
            ));
        };
        let arg = self.f.args.iter().filter(|a| matches!(self.f.ty(a.value).elem, Elem::Ptr(_))).nth(slot).expect("buffer slot of an argument");
        if arg.divisibility < 4 {
            return Err(unsupported(
                format!(
                    "an atomic on 16-bit elements of argument '{}', which is not known to be 4-byte aligned (Metal updates 16-bit elements through the aligned 32-bit word that holds them)",
                    arg.name
                ),
                loc,
            ));
        }
        match self.reprs.get(&arg.value) {
            Some(Repr::Scalar(s)) => Ok(s.clone()),
            _ => Err(unsupported("internal: array argument without a name", loc)),
        }
    }
}

/// Atomic helpers for the element types Metal can update (int, uint, float).
pub(crate) const ATOMIC_PRELUDE: &str = "\
inline int tm_atomic_add(device int* p, int v) { return atomic_fetch_add_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_add(device uint* p, uint v) { return atomic_fetch_add_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
#if !defined(__METAL_VERSION__) || __METAL_VERSION__ >= 300
inline float tm_atomic_add(device float* p, float v) { return atomic_fetch_add_explicit((device atomic_float*)p, v, memory_order_relaxed); }
#else
// atomic_float arrived in MSL 3.0: before it, add through compare-and-swap on the bits.
inline float tm_atomic_add(device float* p, float v) {
    device atomic_uint* a = (device atomic_uint*)p;
    uint old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, as_type<uint>(as_type<float>(old) + v), memory_order_relaxed, memory_order_relaxed)) {}
    return as_type<float>(old);
}
#endif
inline int tm_atomic_max(device int* p, int v) { return atomic_fetch_max_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_max(device uint* p, uint v) { return atomic_fetch_max_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
inline int tm_atomic_min(device int* p, int v) { return atomic_fetch_min_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_min(device uint* p, uint v) { return atomic_fetch_min_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
inline int tm_atomic_and(device int* p, int v) { return atomic_fetch_and_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_and(device uint* p, uint v) { return atomic_fetch_and_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
inline int tm_atomic_or(device int* p, int v) { return atomic_fetch_or_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_or(device uint* p, uint v) { return atomic_fetch_or_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
inline int tm_atomic_xor(device int* p, int v) { return atomic_fetch_xor_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_xor(device uint* p, uint v) { return atomic_fetch_xor_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
inline int tm_atomic_xchg(device int* p, int v) { return atomic_exchange_explicit((device atomic_int*)p, v, memory_order_relaxed); }
inline uint tm_atomic_xchg(device uint* p, uint v) { return atomic_exchange_explicit((device atomic_uint*)p, v, memory_order_relaxed); }
inline float tm_atomic_xchg(device float* p, float v) { return as_type<float>(atomic_exchange_explicit((device atomic_uint*)p, as_type<uint>(v), memory_order_relaxed)); }
// Metal has no float max/min atomics: compare-and-swap on the bits until the
// stored value is no longer improved by v.
inline float tm_atomic_max(device float* p, float v) {
    device atomic_uint* a = (device atomic_uint*)p;
    uint old = atomic_load_explicit(a, memory_order_relaxed);
    while (v > as_type<float>(old) || isnan(as_type<float>(old))) {
        if (atomic_compare_exchange_weak_explicit(a, &old, as_type<uint>(v), memory_order_relaxed, memory_order_relaxed)) break;
    }
    return as_type<float>(old);
}
inline float tm_atomic_min(device float* p, float v) {
    device atomic_uint* a = (device atomic_uint*)p;
    uint old = atomic_load_explicit(a, memory_order_relaxed);
    while (v < as_type<float>(old) || isnan(as_type<float>(old))) {
        if (atomic_compare_exchange_weak_explicit(a, &old, as_type<uint>(v), memory_order_relaxed, memory_order_relaxed)) break;
    }
    return as_type<float>(old);
}
// Strong compare-and-swap from the weak one: retry spurious failures.
inline uint tm_atomic_cas_bits(device atomic_uint* a, uint cmp, uint val) {
    uint expected = cmp;
    while (!atomic_compare_exchange_weak_explicit(a, &expected, val, memory_order_relaxed, memory_order_relaxed)) {
        if (expected != cmp) break;
    }
    return expected;
}
inline uint tm_atomic_cas(device uint* p, uint cmp, uint val) { return tm_atomic_cas_bits((device atomic_uint*)p, cmp, val); }
inline int tm_atomic_cas(device int* p, int cmp, int val) { return as_type<int>(tm_atomic_cas_bits((device atomic_uint*)p, as_type<uint>(cmp), as_type<uint>(val))); }
inline float tm_atomic_cas(device float* p, float cmp, float val) { return as_type<float>(tm_atomic_cas_bits((device atomic_uint*)p, as_type<uint>(cmp), as_type<uint>(val))); }
// 16-bit elements: Metal's atomics take 32-bit words, so update the aligned word holding the
// element (`b`: the start of its array, 4-byte aligned) by compare-and-swap, replacing only the
// element's half (little-endian: the lower address is the low half). `sh`: the half's bit shift.
template <typename T> inline device atomic_uint* tm_word16(device T* p, device char* b, thread uint& sh) {
    long o = (long)((device char*)p - b);
    sh = (uint)(o & 2) * 8u;
    return (device atomic_uint*)(b + (o - (o & 3)));
}
inline ushort tm_half_of(uint w, uint sh) { return (ushort)(w >> sh); }
inline uint tm_with_half(uint w, uint sh, ushort h) { return (w & ~(0xffffu << sh)) | ((uint)h << sh); }
inline half tm_atomic_add(device half* p, half v, device char* b) {
    uint sh;
    device atomic_uint* a = tm_word16(p, b, sh);
    uint old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, tm_with_half(old, sh, as_type<ushort>((half)(as_type<half>(tm_half_of(old, sh)) + v))), memory_order_relaxed, memory_order_relaxed)) {}
    return as_type<half>(tm_half_of(old, sh));
}
inline ushort tm_atomic_cas16(device atomic_uint* a, uint sh, ushort cmp, ushort val) {
    uint old = atomic_load_explicit(a, memory_order_relaxed);
    while (tm_half_of(old, sh) == cmp) {
        if (atomic_compare_exchange_weak_explicit(a, &old, tm_with_half(old, sh, val), memory_order_relaxed, memory_order_relaxed)) break;
    }
    return tm_half_of(old, sh);
}
inline ushort tm_atomic_cas(device ushort* p, ushort cmp, ushort val, device char* b) { uint sh; device atomic_uint* a = tm_word16(p, b, sh); return tm_atomic_cas16(a, sh, cmp, val); }
inline short tm_atomic_cas(device short* p, short cmp, short val, device char* b) { uint sh; device atomic_uint* a = tm_word16(p, b, sh); return as_type<short>(tm_atomic_cas16(a, sh, as_type<ushort>(cmp), as_type<ushort>(val))); }
inline half tm_atomic_cas(device half* p, half cmp, half val, device char* b) { uint sh; device atomic_uint* a = tm_word16(p, b, sh); return as_type<half>(tm_atomic_cas16(a, sh, as_type<ushort>(cmp), as_type<ushort>(val))); }
#if !defined(__METAL_VERSION__) || __METAL_VERSION__ >= 310
// bfloat exists from MSL 3.1 on; the sum is formed in float and rounded once (exact for bfloat).
inline bfloat tm_atomic_add(device bfloat* p, bfloat v, device char* b) {
    uint sh;
    device atomic_uint* a = tm_word16(p, b, sh);
    uint old = atomic_load_explicit(a, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(a, &old, tm_with_half(old, sh, as_type<ushort>((bfloat)((float)as_type<bfloat>(tm_half_of(old, sh)) + (float)v))), memory_order_relaxed, memory_order_relaxed)) {}
    return as_type<bfloat>(tm_half_of(old, sh));
}
inline bfloat tm_atomic_cas(device bfloat* p, bfloat cmp, bfloat val, device char* b) { uint sh; device atomic_uint* a = tm_word16(p, b, sh); return as_type<bfloat>(tm_atomic_cas16(a, sh, as_type<ushort>(cmp), as_type<ushort>(val))); }
#endif
";
