//! Program order of device memory inside one program. Triton's semantics are
//! sequential at block level: a load sees every earlier store of the program and
//! none of its later ones, whichever threads hold the elements. Threads of a
//! threadgroup run ahead of each other, so two accesses of the same address by
//! different threads, one of them a write, need a device barrier between them
//! (`threadgroup_barrier(mem_flags::mem_device)`, in uniform control flow: every
//! condition of an `if` or loop is a scalar, hence uniform).
//!
//! The rule: while emitting, the accesses since the last device barrier are
//! pending. A load, store or atomic that conflicts with a pending access gets a
//! barrier first. Two accesses conflict unless neither writes, or each thread
//! provably touches only addresses no other thread touches in the other access:
//! both go through the same per-element address function (same block offsets,
//! same element type, same layout; the same scalar part too when they may be the
//! same buffer), the layout holds each element in one thread (or both accesses
//! are done by first owners only), and no two elements share an address
//! (constancy 1, offsets built from ranges by sums and products only).
//! Distinct pointer arguments may alias (an in-place call passes one array
//! twice); they are assumed to alias exactly or not at all, so their scalar
//! parts (row offsets, strides) are not compared, and arrays of different
//! element types are taken not to overlap. Atomics are not ordered with each
//! other. Loops: at entry, the body's accesses are checked against the pending ones (a
//! barrier before the loop, not in it), and they stay pending inside the body as
//! their previous iteration (the back edge), where values defined in the loop no
//! longer name the same addresses unless recomputed from loop-invariant values;
//! a scalar offset moving with the loop (the induction variable, a multiple of
//! it, a pointer advanced by a constant) still proves iterations disjoint when
//! it moves by more than the block's offsets span. `if` branches start from the
//! same pending set and merge theirs afterwards.
//!
//! So the element-wise case (vector add, a softmax row in place) has no barrier,
//! and `z += tl.load(Z + rows)[:, None]; tl.store(Z + offs2d, z)` has one.

use std::collections::HashSet;
use std::rc::Rc;

use crate::emit::Emitter;
use crate::memory::{buffer_slot, region_arg_owner, yielded};
use tm_ir::{BinOp, DType, Elem, Func, Op, OpKind, ValueDef, ValueId};

/// What one memory op does to device memory, for the ordering rule.
#[derive(Clone, Debug)]
pub(crate) struct Footprint {
    write: bool,
    /// Atomics are not ordered with each other (they are atomic; upstream does
    /// not order them across the threads of a program either).
    atomic: bool,
    /// Stores and block atomics are done by each element's first owner; loads by
    /// every thread holding a copy.
    owner_only: bool,
    /// Buffer slot of the pointer (None: unknown, may be any).
    slot: Option<usize>,
    /// The pointee type.
    elem: Elem,
    /// None when the addresses cannot be compared (a uniform address, duplicates).
    pattern: Option<Pattern>,
    /// Each loop this access is carried out of (an earlier iteration, or a
    /// finished loop).
    across: Vec<Rc<LoopScope>>,
    /// The op, by its pointer and whether it writes (two ops may share it).
    key: (ValueId, bool),
    /// Done by thread 0 alone for the program (a store or atomic at one address).
    single_thread: bool,
    /// A plain load: its result.
    loaded: Option<ValueId>,
    /// A load from one address (every thread reads it) whose value only thread 0's
    /// effects use: the other threads' copies are never observed.
    seen_by_thread0_only: bool,
}

/// What [`Emitter::leave_loop`] needs of a loop's entry.
pub(crate) struct LoopExit {
    before: Vec<Footprint>,
    earlier: Vec<Footprint>,
    scope: Rc<LoopScope>,
}

/// A loop, as the ordering rule sees it.
#[derive(Debug)]
pub(crate) struct LoopScope {
    /// Values defined inside the loop (they may change between iterations).
    inside: HashSet<ValueId>,
    /// The loop's own region arguments (induction variable, carried values).
    args: Vec<ValueId>,
}

/// How each thread's addresses follow from the elements it holds.
#[derive(Clone, Debug, PartialEq)]
struct Pattern {
    layout: usize,
    elem: DType,
    /// Whether the layout holds some elements in several threads.
    replicated: bool,
    /// The scalar pointer the offsets are added to.
    root: Option<ValueId>,
    /// Scalar offsets (sorted).
    uniform: Vec<ValueId>,
    /// Per-element offsets (sorted).
    block: Vec<Term>,
}

/// A per-element offset: a block value, and the `expand_dims` axes that took it
/// to the accessed shape (outermost first); broadcasts to a given shape are unique.
type Term = (ValueId, Vec<u32>);

#[derive(Default)]
struct Parts {
    root: Option<ValueId>,
    uniform: Vec<ValueId>,
    block: Vec<Term>,
}

fn pointer_parts(f: &Func, v: ValueId, path: &[u32], parts: &mut Parts) {
    if let Some((init, _)) = carried_pointer(f, v) {
        // A pointer a `for` advances by a constant: its start, plus itself as a
        // scalar term that moves by the step each iteration.
        pointer_parts(f, init, path, parts);
        parts.uniform.push(v);
        return;
    }
    if let Some(id) = f.def_op(v) {
        let op = f.op(id);
        match op.kind {
            OpKind::AddPtr => {
                pointer_parts(f, op.operands[0], path, parts);
                offset_parts(f, op.operands[1], path, parts);
                return;
            }
            OpKind::Splat | OpKind::Hint { .. } | OpKind::Broadcast => {
                pointer_parts(f, op.operands[0], path, parts);
                return;
            }
            OpKind::ExpandDims(axis) => {
                let deeper: Vec<u32> = path.iter().copied().chain([axis]).collect();
                pointer_parts(f, op.operands[0], &deeper, parts);
                return;
            }
            _ => {}
        }
    }
    if f.ty(v).is_block() {
        parts.block.push((v, path.to_vec()));
    } else {
        parts.root = Some(v);
    }
}

fn offset_parts(f: &Func, v: ValueId, path: &[u32], parts: &mut Parts) {
    if !f.ty(v).is_block() {
        parts.uniform.push(v);
        return;
    }
    if let Some(id) = f.def_op(v) {
        let op = f.op(id);
        match op.kind {
            OpKind::Splat => return parts.uniform.push(op.operands[0]),
            OpKind::Constant(_) => return parts.uniform.push(v),
            OpKind::Hint { .. } | OpKind::Broadcast => return offset_parts(f, op.operands[0], path, parts),
            OpKind::ExpandDims(axis) => {
                let deeper: Vec<u32> = path.iter().copied().chain([axis]).collect();
                return offset_parts(f, op.operands[0], &deeper, parts);
            }
            OpKind::Binary(BinOp::Add) => {
                offset_parts(f, op.operands[0], path, parts);
                offset_parts(f, op.operands[1], path, parts);
                return;
            }
            _ => {}
        }
    }
    parts.block.push((v, path.to_vec()));
}

/// A scalar integer constant, splatted or not.
fn constant(f: &Func, v: ValueId) -> Option<i64> {
    let c = f.as_const(v).or_else(|| {
        let op = f.op(f.def_op(v)?);
        matches!(op.kind, OpKind::Splat).then(|| f.as_const(op.operands[0])).flatten()
    })?;
    match c {
        tm_ir::Const::Int(i) => Some(i),
        tm_ir::Const::Float(_) => None,
    }
}

/// For a pointer carried by a `for` and advanced by a constant each iteration
/// (`p += BLOCK`): its initial value and the increment, in elements.
fn carried_pointer(f: &Func, v: ValueId) -> Option<(ValueId, i64)> {
    if !matches!(f.value(v).def, ValueDef::RegionArg) || !matches!(f.ty(v).elem, Elem::Ptr(_)) {
        return None;
    }
    let (id, 0, a) = region_arg_owner(f, v)? else { return None };
    let op = f.op(id);
    if !matches!(op.kind, OpKind::For) || a == 0 {
        return None;
    }
    let next = *yielded(f, op, 0).get(a - 1)?;
    let inc = f.op(f.def_op(next)?);
    if !matches!(inc.kind, OpKind::AddPtr) || inc.operands[0] != v {
        return None;
    }
    Some((*op.operands.get(3 + a - 1)?, constant(f, inc.operands[1])?))
}

/// How much scalar offset `v` grows from one iteration of the loop with region
/// arguments `args` to the next: its induction variable (a constant step), a
/// multiple of it, or a pointer it advances by a constant. None otherwise.
fn induction_step(f: &Func, v: ValueId, args: &[ValueId]) -> Option<i64> {
    if args.first() == Some(&v) {
        let (id, _, _) = region_arg_owner(f, v)?;
        let op = f.op(id);
        return if matches!(op.kind, OpKind::For) { constant(f, op.operands[2]) } else { None };
    }
    if args.contains(&v) {
        return carried_pointer(f, v).map(|(_, inc)| inc);
    }
    let op = f.op(f.def_op(v)?);
    match op.kind {
        OpKind::Binary(BinOp::Mul) => {
            let (x, y) = (op.operands[0], op.operands[1]);
            match (constant(f, x), constant(f, y)) {
                (_, Some(c)) => induction_step(f, x, args)?.checked_mul(c),
                (Some(c), _) => induction_step(f, y, args)?.checked_mul(c),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Largest difference between two elements of integer block `v` (None: unknown).
fn span(f: &Func, v: ValueId) -> Option<i64> {
    if !f.ty(v).is_block() {
        return Some(0);
    }
    let op = f.op(f.def_op(v)?);
    match op.kind {
        OpKind::MakeRange { start, end } => Some(i64::from(end) - i64::from(start) - 1),
        OpKind::Splat | OpKind::Constant(_) => Some(0),
        OpKind::Broadcast | OpKind::ExpandDims(_) | OpKind::Hint { .. } => span(f, op.operands[0]),
        OpKind::Binary(BinOp::Add) => span(f, op.operands[0])?.checked_add(span(f, op.operands[1])?),
        OpKind::Binary(BinOp::Mul) => match (constant(f, op.operands[0]), constant(f, op.operands[1])) {
            (_, Some(c)) => span(f, op.operands[0])?.checked_mul(c.checked_abs()?),
            (Some(c), _) => span(f, op.operands[1])?.checked_mul(c.checked_abs()?),
            _ => None,
        },
        _ => None,
    }
}

/// Whether two elements of block offset (or pointer) `v` may be equal although
/// nothing shows it: `v` is not built from ranges by sums and products alone
/// (a remainder, a shift, a value read from memory...). Scalars are leaves: they
/// move every element alike.
fn may_repeat(f: &Func, v: ValueId, seen: &mut HashSet<ValueId>) -> bool {
    if !f.ty(v).is_block() || !seen.insert(v) {
        return false;
    }
    let follow = |vs: Vec<ValueId>, seen: &mut HashSet<ValueId>| vs.into_iter().any(|u| may_repeat(f, u, seen));
    match f.value(v).def {
        ValueDef::Arg(_) => false,
        ValueDef::RegionArg => match region_arg_owner(f, v) {
            Some((id, 0, a)) if matches!(f.op(id).kind, OpKind::For) => {
                let op = f.op(id);
                a > 0 && follow(op.operands.get(3 + a - 1).into_iter().chain(yielded(f, op, 0).get(a - 1)).copied().collect(), seen)
            }
            Some((id, _, a)) if matches!(f.op(id).kind, OpKind::While) => {
                let op = f.op(id);
                follow(op.operands.get(a).into_iter().chain(yielded(f, op, 1).get(a)).copied().collect(), seen)
            }
            _ => true,
        },
        ValueDef::Result(id, i) => {
            let op = f.op(id);
            let i = i as usize;
            match op.kind {
                OpKind::MakeRange { .. }
                | OpKind::Splat
                | OpKind::Constant(_)
                | OpKind::Broadcast
                | OpKind::ExpandDims(_)
                | OpKind::Hint { .. }
                | OpKind::AddPtr
                | OpKind::Binary(BinOp::Add | BinOp::Sub | BinOp::Mul)
                | OpKind::Cast(tm_ir::CastKind::Convert | tm_ir::CastKind::ConvertRtz | tm_ir::CastKind::PtrCast) => follow(op.operands.clone(), seen),
                OpKind::For => follow(op.operands.get(3 + i).into_iter().chain(yielded(f, op, 0).get(i)).copied().collect(), seen),
                OpKind::While => follow(op.operands.get(i).into_iter().chain(yielded(f, op, 1).get(i)).copied().collect(), seen),
                OpKind::If => follow(yielded(f, op, 0).get(i).into_iter().chain(yielded(f, op, 1).get(i)).copied().collect(), seen),
                _ => true,
            }
        }
    }
}

/// Whether `v` names the same value in every iteration of a loop defining `inside`.
fn invariant(f: &Func, v: ValueId, inside: &HashSet<ValueId>) -> bool {
    if !inside.contains(&v) {
        return true;
    }
    let ValueDef::Result(id, _) = f.value(v).def else { return false };
    let op = f.op(id);
    let pure = op.kind.is_elementwise()
        || matches!(
            op.kind,
            OpKind::Constant(_) | OpKind::MakeRange { .. } | OpKind::Splat | OpKind::Broadcast | OpKind::ExpandDims(_) | OpKind::ProgramId(_) | OpKind::NumPrograms(_)
        );
    pure && op.regions.is_empty() && op.operands.iter().all(|&o| invariant(f, o, inside))
}

/// The values defined inside `op`'s regions (arguments and results, nested too).
fn defined_inside(f: &Func, op: &Op) -> HashSet<ValueId> {
    fn go(f: &Func, r: &tm_ir::Region, out: &mut HashSet<ValueId>) {
        out.extend(r.args.iter().copied());
        for &id in &r.ops {
            let op = f.op(id);
            out.extend(op.results.iter().copied());
            for r in &op.regions {
                go(f, r, out);
            }
        }
    }
    let mut out = HashSet::new();
    for r in &op.regions {
        go(f, r, &mut out);
    }
    out
}

/// The memory ops inside `op`'s regions, nested ones included.
fn memory_ops_inside(f: &Func, op: &Op) -> Vec<Op> {
    fn go(f: &Func, r: &tm_ir::Region, out: &mut Vec<Op>) {
        for &id in &r.ops {
            let op = f.op(id);
            if matches!(op.kind, OpKind::Load { .. } | OpKind::Store { .. } | OpKind::AtomicRmw { .. } | OpKind::AtomicCas) {
                out.push(op.clone());
            }
            for r in &op.regions {
                go(f, r, out);
            }
        }
    }
    let mut out = vec![];
    for r in &op.regions {
        go(f, r, &mut out);
    }
    out
}

/// Whether `b`, after `a` in program order, may touch an address `a` touched from
/// another thread, one of them writing it.
fn conflict(f: &Func, a: &Footprint, b: &Footprint) -> bool {
    if (!a.write && !b.write) || (a.atomic && b.atomic) {
        return false;
    }
    // One thread's accesses are in its program order; and a one-address load whose
    // other copies nobody observes only matters in thread 0, which runs both in order.
    let thread0 = |x: &Footprint| x.single_thread || x.seen_by_thread0_only;
    if thread0(a) && thread0(b) {
        return false;
    }
    let distinct_buffers = matches!((a.slot, b.slot), (Some(x), Some(y)) if x != y);
    if distinct_buffers && a.elem != b.elem {
        return false; // arrays of different element types are taken not to overlap
    }
    let (Some(pa), Some(pb)) = (&a.pattern, &b.pattern) else { return true };
    if pa.layout != pb.layout || pa.elem != pb.elem || pa.block != pb.block {
        return true;
    }
    if pa.replicated && !(a.owner_only && b.owner_only) {
        return true;
    }
    let same_buffer = a.slot.is_none() || b.slot.is_none() || a.slot == b.slot;
    if same_buffer && (pa.root != pb.root || pa.uniform != pb.uniform) {
        return true;
    }
    // Compared by identity, the terms must mean the same in both dynamic
    // instances: block terms loop-invariant; scalar terms (compared for one
    // buffer only) invariant, or moving with the loop by more than the block spans.
    a.across.iter().chain(&b.across).any(|scope| {
        if !pa.block.iter().all(|(v, _)| invariant(f, *v, &scope.inside)) {
            return true;
        }
        if !same_buffer {
            return false;
        }
        let mut step = 0i64;
        for &v in pa.uniform.iter().chain(&pa.root) {
            if invariant(f, v, &scope.inside) {
                continue;
            }
            match induction_step(f, v, &scope.args) {
                Some(s) if s > 0 => step = step.saturating_add(s),
                _ => return true,
            }
        }
        if step == 0 {
            return false;
        }
        let spans: Option<i64> = pa.block.iter().try_fold(0i64, |acc, (v, _)| acc.checked_add(span(f, *v)?));
        !spans.is_some_and(|sp| step > sp)
    })
}

/// Whether block pointer `v` is one address splatted (every element the same).
fn pointer_is_uniform(f: &Func, v: ValueId) -> bool {
    match f.def_op(v).map(|id| f.op(id)) {
        Some(op) if matches!(op.kind, OpKind::Splat) => true,
        Some(op) if matches!(op.kind, OpKind::Hint { .. } | OpKind::Broadcast | OpKind::ExpandDims(_)) => pointer_is_uniform(f, op.operands[0]),
        _ => false,
    }
}

/// The values whose every computed copy a thread necessarily read to compute `v`
/// (into `out`): operands of ops without regions, inputs of reductions and scans, the
/// initial and yielded values of a `for`'s carried values. Not through `if`/`while`
/// (a branch not taken reads nothing).
fn consumed_from(f: &Func, v: ValueId, out: &mut HashSet<ValueId>) {
    if !out.insert(v) {
        return;
    }
    match f.value(v).def {
        ValueDef::Result(id, i) => {
            let op = f.op(id);
            match op.kind {
                OpKind::For => {
                    let i = i as usize;
                    let from: Vec<ValueId> = op.operands.get(3 + i).into_iter().chain(yielded(f, op, 0).get(i)).copied().collect();
                    for u in from {
                        consumed_from(f, u, out);
                    }
                }
                OpKind::If | OpKind::While => {}
                _ => {
                    for &u in &op.operands {
                        consumed_from(f, u, out);
                    }
                }
            }
        }
        ValueDef::RegionArg => {
            if let Some((id, 0, a)) = region_arg_owner(f, v) {
                let op = f.op(id);
                if matches!(op.kind, OpKind::For) && a > 0 {
                    let from: Vec<ValueId> = op.operands.get(3 + a - 1).into_iter().chain(yielded(f, op, 0).get(a - 1)).copied().collect();
                    for u in from {
                        consumed_from(f, u, out);
                    }
                }
            }
        }
        ValueDef::Arg(_) => {}
    }
}

/// Whether scalar `v` is used only by what thread 0 alone does for the program: the
/// value, address or mask of a store or atomic at one address, or scalars that are
/// themselves used so. Not by blocks, loop bounds or
/// conditions, which every thread computes from its own copy.
fn thread0_only(f: &Func, v: ValueId, seen: &mut HashSet<ValueId>) -> bool {
    if !seen.insert(v) {
        return true;
    }
    let mut ok = true;
    f.walk(|id| {
        if !ok {
            return;
        }
        let op = f.op(id);
        if !op.operands.contains(&v) {
            return;
        }
        ok = match op.kind {
            OpKind::Store { .. } | OpKind::AtomicRmw { .. } | OpKind::AtomicCas => {
                let ptr = op.operands[0];
                let one = !f.ty(ptr).is_block() || pointer_is_uniform(f, ptr);
                let unused = op.results.first().is_none_or(|r| !f.ops.iter().any(|o| o.operands.contains(r)));
                one && (matches!(op.kind, OpKind::Store { .. }) || unused)
            }
            // (Not an address of another load: a value thread 0 overwrote could be out of bounds.)
            OpKind::Binary(_) | OpKind::Unary(_) | OpKind::Cmp(_) | OpKind::Math(_) | OpKind::Cast(_) | OpKind::Select | OpKind::AddPtr | OpKind::MulHi => {
                op.results.iter().all(|&r| !f.ty(r).is_block() && thread0_only(f, r, seen))
            }
            _ => false,
        };
    });
    ok
}

impl Emitter<'_> {
    /// How memory op `op` touches device memory (None for other ops).
    fn footprint(&mut self, op: &Op) -> Option<Footprint> {
        let (write, owner_only) = match op.kind {
            OpKind::Load { .. } => (false, false),
            OpKind::Store { .. } | OpKind::AtomicRmw { .. } | OpKind::AtomicCas => (true, true),
            _ => return None,
        };
        let ptr = op.operands[0];
        let slot = buffer_slot(self.f, ptr);
        let elem = self.f.ty(ptr).elem;
        let atomic = matches!(op.kind, OpKind::AtomicRmw { .. } | OpKind::AtomicCas);
        // One address for the whole program: stores and atomics are done by thread 0 (memory.rs,
        // atomics.rs), loads by every thread.
        let one_address = !self.f.ty(ptr).is_block() || pointer_is_uniform(self.f, ptr);
        let loaded = matches!(op.kind, OpKind::Load { .. }).then(|| op.results[0]);
        let seen_by_thread0_only = one_address && loaded.is_some_and(|v| !self.f.ty(v).is_block() && thread0_only(self.f, v, &mut HashSet::new()));
        Some(Footprint {
            write,
            atomic,
            owner_only,
            slot,
            elem,
            pattern: self.pattern(op, ptr),
            across: vec![],
            key: (ptr, write),
            single_thread: write && one_address,
            loaded,
            seen_by_thread0_only,
        })
    }

    /// After a threadgroup barrier that every thread reached having used its registers of
    /// `values` (a reduction's partial results, a block written to threadgroup memory by
    /// unreplicated owners): the pending loads whose values those registers were computed
    /// from have completed in every thread, so no later store can reach them. They leave
    /// the pending set (loads only; stores still need a device barrier to be seen).
    pub(crate) fn retire_loads_feeding(&mut self, values: &[ValueId]) {
        if !self.pending.iter().any(|p| p.loaded.is_some()) {
            return;
        }
        let mut deps = HashSet::new();
        for &v in values {
            consumed_from(self.f, v, &mut deps);
        }
        let loaded: Vec<Option<ValueId>> = self.pending.iter().map(|p| p.loaded).collect();
        let unreplicated: Vec<bool> = loaded
            .into_iter()
            .map(|v| match v {
                Some(v) if self.f.ty(v).is_block() => {
                    let l = self.layout_for(v);
                    !self.layouts[l].dims().iter().any(|d| d.wraps)
                }
                _ => true,
            })
            .collect();
        // Inside a loop, an earlier iteration's copy of a load stays: this iteration's use
        // says nothing of it. After a loop, every iteration used its own.
        let active = &self.active_loops;
        let mut keep = unreplicated.into_iter();
        self.pending.retain(|p| {
            let unreplicated = keep.next().unwrap_or(false);
            let current = !p.across.iter().any(|s| active.iter().any(|a| Rc::ptr_eq(a, s)));
            !(unreplicated && !p.write && current && p.loaded.is_some_and(|v| deps.contains(&v)))
        });
    }

    fn pattern(&mut self, op: &Op, ptr: ValueId) -> Option<Pattern> {
        let ty = self.f.ty(ptr).clone();
        let Elem::Ptr(elem) = ty.elem else { return None };
        if !ty.is_block() {
            return None;
        }
        let mut parts = Parts::default();
        pointer_parts(self.f, ptr, &[], &mut parts);
        if parts.block.is_empty() {
            return None; // every thread touches the same address
        }
        let info = &self.axis[ptr.0 as usize];
        if ty.shape.iter().zip(&info.constancy).any(|(&s, &c)| s > 1 && c > 1) {
            return None; // elements sharing an address
        }
        let mut seen = HashSet::new();
        if parts.block.iter().any(|(b, _)| may_repeat(self.f, *b, &mut seen)) {
            return None;
        }
        let layout = match op.kind {
            OpKind::Load { .. } => self.layout_for(op.results[0]),
            _ => self.layout_for(ptr),
        };
        parts.uniform.sort();
        parts.block.sort();
        let replicated = self.layouts[layout].dims().iter().any(|p| p.wraps);
        Some(Pattern { layout, elem, replicated, root: parts.root, uniform: parts.uniform, block: parts.block })
    }

    /// A barrier ordering every device access before it with every one after it.
    pub(crate) fn device_barrier(&mut self) {
        self.uses_sync = true;
        self.line("threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);");
        self.pending.clear();
    }

    /// Called where memory op `op` is emitted, before its code: a device barrier
    /// first if it conflicts with a pending access.
    pub(crate) fn order_access(&mut self, op: &Op) {
        let Some(fp) = self.footprint(op) else { return };
        if self.pending.iter().any(|p| conflict(self.f, p, &fp)) {
            self.device_barrier();
        }
        self.pending.push(fp);
    }

    /// Before a loop (`for`/`while` op `op`): a barrier if its body conflicts with
    /// what is pending, then the body's accesses pending as an earlier iteration's.
    /// Returns those, for [`Emitter::leave_loop`].
    pub(crate) fn enter_loop(&mut self, op: &Op) -> LoopExit {
        let args = op.regions.first().map(|r| r.args.clone()).unwrap_or_default();
        let inside = Rc::new(LoopScope { inside: defined_inside(self.f, op), args });
        let body: Vec<Footprint> = memory_ops_inside(self.f, op).iter().filter_map(|o| self.footprint(o)).collect();
        if body.iter().any(|b| self.pending.iter().any(|p| conflict(self.f, p, b))) {
            self.device_barrier();
        }
        let earlier: Vec<Footprint> = body
            .into_iter()
            .map(|mut fp| {
                fp.across.push(inside.clone());
                fp
            })
            .collect();
        let before = std::mem::take(&mut self.pending);
        self.pending = before.iter().cloned().chain(earlier.iter().cloned()).collect();
        self.active_loops.push(inside.clone());
        LoopExit { before, earlier, scope: inside }
    }

    /// After a loop: what was pending before it (the loop may not run), and the body's
    /// accesses that were still pending at the end of its last iteration (the body's own
    /// copies: one retired or ordered by a barrier in every iteration is not).
    pub(crate) fn leave_loop(&mut self, exit: LoopExit) {
        self.active_loops.retain(|a| !Rc::ptr_eq(a, &exit.scope));
        let end = std::mem::take(&mut self.pending);
        let still = |e: &Footprint| end.iter().any(|p| p.key == e.key && !p.across.iter().any(|s| Rc::ptr_eq(s, &exit.scope)));
        let kept: Vec<Footprint> = exit.earlier.iter().filter(|e| still(e)).cloned().collect();
        self.pending = exit.before.into_iter().chain(kept).collect();
    }

    /// The pending accesses, to start the other branch of an `if` from.
    pub(crate) fn pending_snapshot(&self) -> Vec<Footprint> {
        self.pending.clone()
    }

    /// Starts the `else` branch from `before`, keeping what the `then` branch left.
    pub(crate) fn switch_branch(&mut self, before: Vec<Footprint>) -> Vec<Footprint> {
        std::mem::replace(&mut self.pending, before)
    }

    /// After an `if`: what either branch left pending.
    pub(crate) fn merge_branches(&mut self, then_left: Vec<Footprint>) {
        self.pending.extend(then_left);
    }
}
