//! Loads and stores: masked-off elements never touch memory; accesses are
//! vectorised (`float4` and the like) when the axis analysis proves that a
//! thread's contiguous elements are contiguous and aligned in memory and that
//! the mask is uniform over them.
//!
//! Every dereference of a device pointer (here and in `atomics.rs`) goes through
//! `tm_chk(p, elements, kind, line, buffer)`, evaluated exactly where the access
//! is: the identity on Metal (prelude), a bounds check against the buffer the
//! pointer derives from on the CPU executor (tm-cpu's header).

use std::collections::HashMap;

use crate::dialect::literal;
use crate::emit::{tname, unsupported, Emitter, Repr, R};
use tm_ir::{Const, DType, Elem, Func, Loc, Op, OpId, OpKind, ValueDef, ValueId};

/// What a checked access does (`tm_chk`'s `kind`, as tm-cpu's header numbers them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Load = 0,
    Store = 1,
    Atomic = 2,
}

/// Which kernel argument a pointer value derives from, as a lattice: `Any` (nothing known
/// yet: the optimistic start of a loop's fixpoint), one buffer slot, `Unknown`, or `Raw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Any,
    Slot(usize),
    Unknown,
    /// Possibly an address made from an integer (`tt.int_to_ptr`): any memory of the process.
    Raw,
}

impl Source {
    fn meet(self, other: Source) -> Source {
        match (self, other) {
            (Source::Any, x) | (x, Source::Any) => x,
            (Source::Raw, _) | (_, Source::Raw) => Source::Raw,
            (Source::Slot(a), Source::Slot(b)) if a == b => Source::Slot(a),
            _ => Source::Unknown,
        }
    }
}

/// How a value's source follows from other values.
enum Flow {
    Is(Source),
    /// The meet of these values' sources.
    From(Vec<ValueId>),
}

/// The operands of the `Yield` ending `region` (empty if it has none).
pub(crate) fn yielded<'a>(f: &'a Func, op: &'a Op, region: usize) -> &'a [ValueId] {
    op.regions
        .get(region)
        .and_then(|r| r.ops.last())
        .map(|&id| f.op(id))
        .filter(|y| matches!(y.kind, OpKind::Yield))
        .map_or(&[], |y| y.operands.as_slice())
}

/// The op whose region declares region argument `v`: (op, region, argument index).
pub(crate) fn region_arg_owner(f: &Func, v: ValueId) -> Option<(OpId, usize, usize)> {
    let mut found = None;
    f.walk(|id| {
        if found.is_none() {
            for (ri, r) in f.op(id).regions.iter().enumerate() {
                if let Some(ai) = r.args.iter().position(|&a| a == v) {
                    found = Some((id, ri, ai));
                }
            }
        }
    });
    found
}

fn flow(f: &Func, v: ValueId) -> Flow {
    let pick = |vs: &[Option<&ValueId>]| Flow::From(vs.iter().filter_map(|x| x.copied()).collect());
    match f.value(v).def {
        ValueDef::Arg(n) => {
            let n = n as usize;
            if !matches!(f.args.get(n).map(|a| f.ty(a.value).elem), Some(Elem::Ptr(_))) {
                return Flow::Is(Source::Unknown);
            }
            // Pointer arguments take buffer slots in order (tm_abi).
            let slot = f.args[..n].iter().filter(|a| matches!(f.ty(a.value).elem, Elem::Ptr(_))).count();
            Flow::Is(Source::Slot(slot))
        }
        ValueDef::Result(id, i) => {
            let op = f.op(id);
            let i = i as usize;
            match &op.kind {
                OpKind::Cast(tm_ir::CastKind::IntToPtr) => Flow::Is(Source::Raw),
                OpKind::AddPtr
                | OpKind::Splat
                | OpKind::Broadcast
                | OpKind::ExpandDims(_)
                | OpKind::Hint { .. }
                | OpKind::Reshape
                | OpKind::Trans(_)
                | OpKind::Cast(_)
                | OpKind::Split => pick(&[op.operands.first()]),
                OpKind::Select => pick(&[op.operands.get(1), op.operands.get(2)]),
                OpKind::Join | OpKind::Cat => pick(&[op.operands.first(), op.operands.get(1)]),
                OpKind::For => pick(&[op.operands.get(3 + i), yielded(f, op, 0).get(i)]),
                OpKind::While => pick(&[op.operands.get(i), yielded(f, op, 1).get(i)]),
                OpKind::If => pick(&[yielded(f, op, 0).get(i), yielded(f, op, 1).get(i)]),
                _ => Flow::Is(Source::Unknown),
            }
        }
        ValueDef::RegionArg => match region_arg_owner(f, v) {
            Some((id, 0, a)) if matches!(f.op(id).kind, OpKind::For) && a > 0 => {
                let op = f.op(id);
                pick(&[op.operands.get(3 + a - 1), yielded(f, op, 0).get(a - 1)])
            }
            Some((id, _, a)) if matches!(f.op(id).kind, OpKind::While) => {
                let op = f.op(id);
                pick(&[op.operands.get(a), yielded(f, op, 1).get(a)])
            }
            _ => Flow::Is(Source::Unknown),
        },
    }
}

/// The buffer slot pointer value `ptr` derives from (through pointer arithmetic, shape
/// ops, selects and loop-carried values), or None when it may come from several.
pub(crate) fn buffer_slot(f: &Func, ptr: ValueId) -> Option<usize> {
    match pointer_source(f, ptr) {
        Source::Slot(s) => Some(s),
        _ => None,
    }
}

/// Where pointer value `ptr` points: one buffer slot, several, or (possibly) an address made
/// from an integer.
pub(crate) fn pointer_source(f: &Func, ptr: ValueId) -> Source {
    // The values `ptr`'s source depends on, then a fixpoint over them (loops make cycles).
    let mut flows: HashMap<ValueId, Flow> = HashMap::new();
    let mut stack = vec![ptr];
    while let Some(v) = stack.pop() {
        if flows.contains_key(&v) {
            continue;
        }
        let fl = flow(f, v);
        if let Flow::From(vs) = &fl {
            stack.extend(vs.iter().copied());
        }
        flows.insert(v, fl);
    }
    let mut state: HashMap<ValueId, Source> = flows.keys().map(|&v| (v, Source::Any)).collect();
    let mut changed = true;
    while changed {
        changed = false;
        for (v, fl) in &flows {
            let new = match fl {
                Flow::Is(s) => *s,
                Flow::From(vs) => vs.iter().fold(Source::Any, |acc, u| acc.meet(state[u])),
            };
            if state[v] != new {
                state.insert(*v, new);
                changed = true;
            }
        }
    }
    state[&ptr]
}

/// For each of the kernel's arguments (IR order): whether a load or atomic may read through
/// it, and whether a store or atomic may write through it. An access through a pointer whose
/// argument is not known marks every pointer argument.
pub(crate) fn accessed_args(f: &Func) -> (Vec<bool>, Vec<bool>) {
    let is_ptr = |a: &tm_ir::Arg| matches!(f.ty(a.value).elem, Elem::Ptr(_));
    // `buffer_slot` numbers pointer arguments in order.
    let ptr_args: Vec<usize> = f.args.iter().enumerate().filter(|(_, a)| is_ptr(a)).map(|(i, _)| i).collect();
    let mut read = vec![false; f.args.len()];
    let mut written = vec![false; f.args.len()];
    let (mut read_unknown, mut written_unknown) = (false, false);
    f.walk(|id| {
        let op = f.op(id);
        let (r, w) = match op.kind {
            OpKind::Load { .. } => (true, false),
            OpKind::Store { .. } => (false, true),
            OpKind::AtomicRmw { .. } | OpKind::AtomicCas => (true, true),
            _ => return,
        };
        match op.operands.first().and_then(|&p| buffer_slot(f, p)).and_then(|s| ptr_args.get(s)) {
            Some(&i) => {
                read[i] |= r;
                written[i] |= w;
            }
            None => {
                read_unknown |= r;
                written_unknown |= w;
            }
        }
    });
    for &i in &ptr_args {
        read[i] |= read_unknown;
        written[i] |= written_unknown;
    }
    (read, written)
}

impl Emitter<'_> {
    /// `p` (pointing at `n` elements of pointer value `ptr`) checked for an access of `kind`
    /// by the op at `loc`: `tm_chk(p, n, kind, line, slot)`, slot -1 when unknown, -2 when the
    /// pointer may be an address made from an integer (the CPU executor then also accepts
    /// memory the process has mapped, as a GPU kernel may read any device address).
    pub(crate) fn checked(&self, p: &str, n: u32, kind: Access, ptr: ValueId, loc: Loc) -> String {
        let slot = match pointer_source(self.f, ptr) {
            Source::Slot(s) => s as i64,
            Source::Raw => -2,
            _ => -1,
        };
        format!("tm_chk({p}, {n}u, {}, {}u, {slot})", kind as u8, loc.line)
    }

    /// Elements per vector access through `ptr` in layout `l` (1 = scalar).
    fn vector_width(&self, ptr: ValueId, ptr_repr: &Repr, mask: Option<(ValueId, &Repr)>, l: usize, elem: DType) -> u32 {
        if !matches!(ptr_repr, Repr::Array { .. }) || matches!(elem, DType::I1 | DType::BF16) {
            return 1;
        }
        let lay = &self.layouts[l];
        let fast = lay.family.order[0];
        // The value dim laid along the family's fastest dim, if any.
        let Some(dim) = lay.embed.iter().position(|&d| d == fast) else { return 1 };
        let plan = lay.dims()[fast];
        let info = &self.axis[ptr.0 as usize];
        let bytes = elem.size_bytes() as u64;
        let mut w = (plan.spt as u64).min(info.contiguity[dim]).min(info.divisibility[dim] / bytes).min(16 / bytes);
        if let Some((m, mr)) = mask {
            if matches!(mr, Repr::Array { .. }) {
                w = w.min(self.axis[m.0 as usize].constancy[dim]);
            }
        }
        let w = if w == 0 { 1 } else { 1u64 << (63 - w.leading_zeros()) };
        if w >= 2 {
            w as u32
        } else {
            1
        }
    }

    pub(crate) fn load(&mut self, op: &Op, l: Option<usize>, name: &str, has_mask: bool, has_other: bool) -> R<Repr> {
        let res = op.results[0];
        let d = self.f.ty(res).dtype().ok_or_else(|| unsupported("loading pointers", op.loc))?;
        let t = tname(d, op.loc)?;
        let fetch = |s: &mut Self, v: ValueId| match l {
            Some(l) => s.get(v, l),
            None => Ok(s.repr(v).clone()),
        };
        let ptr = fetch(self, op.operands[0])?;
        let mask = if has_mask { Some(fetch(self, op.operands[1])?) } else { None };
        let other = if has_other { Some(fetch(self, op.operands[2])?) } else { None };
        // After the operands' code (a conversion through threadgroup memory may retire loads).
        self.order_access(op);
        let zero = literal(Const::Int(0), d);
        let other_at = |r: &str| other.as_ref().map_or(zero.clone(), |o| Self::at(o, r));
        let uniform = |r: &Repr| !matches!(r, Repr::Array { .. });
        if uniform(&ptr) && mask.as_ref().is_none_or(uniform) {
            // Every thread reads the same address.
            let p = self.checked(&Self::at(&ptr, "0"), 1, Access::Load, op.operands[0], op.loc);
            let expr = match &mask {
                Some(m) => format!("({} ? *({p}) : {})", Self::at(m, "0"), other_at("0")),
                None => format!("*({p})"),
            };
            self.line(format!("const {t} {name} = {expr};"));
            return Ok(if self.f.ty(res).is_block() { Repr::Splat(name.to_string()) } else { Repr::Scalar(name.to_string()) });
        }
        let l = l.expect("a block load has a layout");
        let w = self.vector_width(op.operands[0], &ptr, has_mask.then(|| (op.operands[1], mask.as_ref().expect("mask"))), l, d);
        let ty = self.f.ty(res).clone();
        let regs = self.declare_array(name, &ty, l, op.loc)?;
        let p = Self::at(&ptr, "r");
        if w == 1 {
            let load = format!("*({})", self.checked(&p, 1, Access::Load, op.operands[0], op.loc));
            let expr = match &mask {
                Some(m) => format!("{} ? {load} : {}", Self::at(m, "r"), other_at("r")),
                None => load,
            };
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {expr};"));
            return Ok(Repr::Array { name: name.to_string(), layout: l });
        }
        let vt = format!("{t}{w}");
        self.line(format!("for (uint r = 0; r < {regs}u; r += {w}u) {{"));
        match &mask {
            Some(m) => self.line(format!("    if ({}) {{", Self::at(m, "r"))),
            None => self.line("    {"),
        }
        let p = self.checked(&p, w, Access::Load, op.operands[0], op.loc);
        self.line(format!("        const {vt} t = *((device const {vt}*)({p}));"));
        for i in 0..w {
            self.line(format!("        {name}[r + {i}u] = t[{i}];"));
        }
        if mask.is_some() {
            self.line("    } else {");
            for i in 0..w {
                let o = other_at(&format!("(r + {i}u)"));
                self.line(format!("        {name}[r + {i}u] = {o};"));
            }
        }
        self.line("    }");
        self.line("}");
        Ok(Repr::Array { name: name.to_string(), layout: l })
    }

    pub(crate) fn store(&mut self, op: &Op, has_mask: bool) -> R<()> {
        let ptr_v = op.operands[0];
        let Elem::Ptr(d) = self.f.ty(ptr_v).elem else { return Err(unsupported("store through a non-pointer", op.loc)) };
        let t = tname(d, op.loc)?;
        if !self.f.ty(ptr_v).is_block() || !matches!(self.repr(ptr_v), Repr::Array { .. }) {
            // One address for the whole program: one thread writes, as Triton stores a scalar once.
            let p = self.checked(&self.elem(ptr_v, "0"), 1, Access::Store, ptr_v, op.loc);
            let mut cond = "tm_tid == 0".to_string();
            if has_mask {
                match self.repr(op.operands[2]) {
                    Repr::Array { .. } => return Err(unsupported("a store to a single address with a per-element mask", op.loc)),
                    m => cond = format!("{cond} && {}", Self::at(m, "0")),
                }
            }
            // A one-element block (e.g. a [1, 1] reduction result) is replicated in every
            // thread's registers: thread 0 stores its copy.
            if matches!(self.repr(op.operands[1]), Repr::Array { .. }) && self.f.ty(op.operands[1]).numel() != 1 {
                return Err(unsupported("storing different values through one address", op.loc));
            }
            let v = self.elem(op.operands[1], "0");
            self.order_access(op);
            // Thread 0 stores for the program; `order.rs` orders it with every
            // thread's accesses of memory it may share.
            self.line(format!("if ({cond}) *({p}) = {v};"));
            return Ok(());
        }
        let l = self.layout_for(ptr_v);
        let ptr = self.get(ptr_v, l)?;
        let val = self.get(op.operands[1], l)?;
        let mask = if has_mask { Some(self.get(op.operands[2], l)?) } else { None };
        // After the operands' code (a conversion through threadgroup memory may retire loads).
        self.order_access(op);
        let regs = self.layouts[l].regs();
        let w = self.vector_width(ptr_v, &ptr, has_mask.then(|| (op.operands[2], mask.as_ref().expect("mask"))), l, d);
        let cond = match &mask {
            Some(m) => format!("L{l}_own && {}", Self::at(m, "r")),
            None => format!("L{l}_own"),
        };
        let p = self.checked(&Self::at(&ptr, "r"), w, Access::Store, ptr_v, op.loc);
        if w == 1 {
            let v = Self::at(&val, "r");
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) if ({cond}) *({p}) = {v};"));
            return Ok(());
        }
        let vt = format!("{t}{w}");
        self.line(format!("for (uint r = 0; r < {regs}u; r += {w}u) if ({cond}) {{"));
        self.line(format!("    {vt} t;"));
        for i in 0..w {
            let v = Self::at(&val, &format!("(r + {i}u)"));
            self.line(format!("    t[{i}] = {v};"));
        }
        self.line(format!("    *((device {vt}*)({p})) = t;"));
        self.line("}");
        Ok(())
    }
}
