//! Loads and stores: masked-off elements never touch memory; accesses are
//! vectorised (`float4` and the like) when the axis analysis proves that a
//! thread's contiguous elements are contiguous and aligned in memory and that
//! the mask is uniform over them.

use crate::dialect::literal;
use crate::emit::{tname, unsupported, Emitter, Repr, R};
use tm_ir::{Const, DType, Elem, Op, ValueId};

impl Emitter<'_> {
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
        let zero = literal(Const::Int(0), d);
        let other_at = |r: &str| other.as_ref().map_or(zero.clone(), |o| Self::at(o, r));
        let uniform = |r: &Repr| !matches!(r, Repr::Array { .. });
        if uniform(&ptr) && mask.as_ref().is_none_or(uniform) {
            // Every thread reads the same address.
            let p = Self::at(&ptr, "0");
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
            let load = format!("*({p})");
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
            let p = self.elem(ptr_v, "0");
            let mut cond = "tm_tid == 0".to_string();
            if has_mask {
                match self.repr(op.operands[2]) {
                    Repr::Array { .. } => return Err(unsupported("a store to a single address with a per-element mask", op.loc)),
                    m => cond = format!("{cond} && {}", Self::at(m, "0")),
                }
            }
            if matches!(self.repr(op.operands[1]), Repr::Array { .. }) {
                return Err(unsupported("storing different values through one address", op.loc));
            }
            let v = self.elem(op.operands[1], "0");
            // Thread 0 stores for the program; when the program also reads memory,
            // barriers keep that store ordered with every thread's accesses.
            let reads = self.f.ops.iter().any(|o| matches!(o.kind, tm_ir::OpKind::Load { .. }));
            if reads {
                self.uses_sync = true;
                self.line("threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);");
            }
            self.line(format!("if ({cond}) *({p}) = {v};"));
            if reads {
                self.line("threadgroup_barrier(mem_flags::mem_device | mem_flags::mem_threadgroup);");
            }
            return Ok(());
        }
        let l = self.layout_for(ptr_v);
        let ptr = self.get(ptr_v, l)?;
        let val = self.get(op.operands[1], l)?;
        let mask = if has_mask { Some(self.get(op.operands[2], l)?) } else { None };
        let regs = self.layouts[l].regs();
        let w = self.vector_width(ptr_v, &ptr, has_mask.then(|| (op.operands[2], mask.as_ref().expect("mask"))), l, d);
        let cond = match &mask {
            Some(m) => format!("L{l}_own && {}", Self::at(m, "r")),
            None => format!("L{l}_own"),
        };
        let p = Self::at(&ptr, "r");
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
