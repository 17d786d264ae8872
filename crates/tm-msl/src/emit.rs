//! The MSL printer: walks the IR once, keeping for every value how to name one
//! of its elements in the per-thread code.

use crate::dialect::{arg_ident, literal, msl_type_name, unsigned_of};
use crate::layout::{BlockedFamily, Layout};
use crate::{MslError, MslKernel, MslOptions};
use std::collections::HashMap;
use std::fmt::Write;
use tm_abi::{BufferParam, KernelAbi, ParamSlot, MAX_THREADS_PER_THREADGROUP, SIMD_WIDTH};
use tm_ir::{BinOp, CastKind, CmpPred, DType, Elem, Func, Loc, Op, OpKind, Type, UnOp, ValueId};
use tm_opt::AxisInfo;

/// How per-thread code refers to a value.
#[derive(Clone, Debug)]
enum Repr {
    /// A scalar (uniform across the threadgroup): a C expression or variable.
    Scalar(String),
    /// A block whose elements all equal a scalar expression.
    Splat(String),
    /// A block held in a per-thread array `name[regs]` in layout `layout`.
    Array { name: String, layout: usize },
}

struct Emitter<'a> {
    f: &'a Func,
    axis: Vec<AxisInfo>,
    num_warps: u32,
    families: HashMap<usize, BlockedFamily>,
    layouts: Vec<Layout>,
    reprs: HashMap<ValueId, Repr>,
    body: String,
}

type R<T> = Result<T, MslError>;

fn unsupported(what: impl Into<String>, loc: Loc) -> MslError {
    MslError::Unsupported { what: what.into(), loc }
}

fn tname(d: DType, loc: Loc) -> R<&'static str> {
    msl_type_name(d).ok_or_else(|| unsupported(format!("{} has no Metal equivalent", d.language_name()), loc))
}

fn elem_decl(e: Elem, loc: Loc) -> R<String> {
    Ok(match e {
        Elem::Scalar(d) => tname(d, loc)?.to_string(),
        Elem::Ptr(d) => format!("device {}*", tname(d, loc)?),
    })
}

/// Lowers a kernel to MSL and its launch ABI.
pub fn lower(f: &Func, opts: &MslOptions) -> R<MslKernel> {
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
        reprs: HashMap::new(),
        body: String::new(),
    };

    // Signature and argument struct, per the launch ABI.
    let mut buffers = vec![];
    let mut scalars = vec![];
    let mut arg_slots = vec![];
    let mut params = vec![];
    for (i, a) in f.args.iter().enumerate() {
        let ident = arg_ident(&a.name, i);
        let ty = f.ty(a.value);
        match ty.elem {
            Elem::Ptr(d) => {
                params.push(format!("    device {}* {ident} [[buffer({})]]", tname(d, Loc::default())?, buffers.len()));
                arg_slots.push(ParamSlot::Buffer(buffers.len()));
                buffers.push(BufferParam { name: a.name.clone(), dtype: d });
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
    let name = f.name.clone();
    let abi = KernelAbi::new(
        name.clone(),
        buffers.clone(),
        scalars.iter().map(|(n, d, _)| (n.clone(), *d)).collect(),
        arg_slots.clone(),
        threads,
        0,
        false,
    )?;

    em.region(&f.body.ops)?;

    let mut out = String::new();
    let _ = writeln!(out, "// triton_metal: kernel {name}, num_warps={}", opts.num_warps);
    out.push_str("#include <metal_stdlib>\nusing namespace metal;\n\n");
    out.push_str(PRELUDE);
    if !scalars.is_empty() {
        let _ = writeln!(out, "struct {} {{", abi.args_struct_name());
        for (_, d, ident) in &scalars {
            let _ = writeln!(out, "    {} {ident};", tname(*d, Loc::default())?);
        }
        let _ = writeln!(out, "}};");
        let _ = writeln!(out, "static_assert(sizeof({}) == {}, \"argument struct layout\");\n", abi.args_struct_name(), abi.args_size);
        params.push(format!("    constant {}& args [[buffer({})]]", abi.args_struct_name(), buffers.len()));
    }
    for p in [
        "uint3 tm_pid [[threadgroup_position_in_grid]]",
        "uint3 tm_nprog [[threadgroups_per_grid]]",
        "uint tm_tid [[thread_index_in_threadgroup]]",
        "uint tm_lane [[thread_index_in_simdgroup]]",
        "uint tm_sg [[simdgroup_index_in_threadgroup]]",
    ] {
        params.push(format!("    {p}"));
    }
    let _ = writeln!(out, "kernel void {name}(\n{}) {{", params.join(",\n"));
    for (i, l) in em.layouts.iter().enumerate() {
        for d in 0..l.shape.len() {
            let _ = writeln!(out, "    const uint L{i}_t{d} = {};", l.thread_coord_expr(d, "tm_lane", "tm_sg"));
        }
        let thr: Vec<String> = (0..l.shape.len()).map(|d| format!("L{i}_t{d}")).collect();
        let own = l.owner_expr(&thr).unwrap_or_else(|| "true".into());
        let _ = writeln!(out, "    const bool L{i}_own = {own};");
    }
    out.push_str(&em.body);
    out.push_str("}\n");

    let mut layouts = String::new();
    for (i, l) in em.layouts.iter().enumerate() {
        let fam = &l.family;
        let _ = writeln!(
            layouts,
            "#L{i} shape={:?} sizePerThread={:?} threadsPerWarp={:?} warpsPerCTA={:?} order={:?} regs={}",
            l.shape, fam.size_per_thread, fam.threads_per_warp, fam.warps_per_cta, fam.order, l.regs()
        );
    }
    Ok(MslKernel { source: out, abi, arg_slots, layouts })
}

/// Helpers every kernel may use: integer division and remainder that neither
/// trap nor invoke undefined behaviour (x/0 and INT_MIN/-1 give 0 on the CPU
/// executor and on Metal alike).
const PRELUDE: &str = "\
template <typename T, typename U> inline T tm_sdiv(T a, T b) { return b == T(0) ? T(0) : (b == T(-1) ? T(U(0) - U(a)) : T(a / b)); }
template <typename T> inline T tm_srem(T a, T b) { return (b == T(0) || b == T(-1)) ? T(0) : T(a % b); }
template <typename T> inline T tm_udiv(T a, T b) { return b == T(0) ? T(0) : T(a / b); }
template <typename T> inline T tm_urem(T a, T b) { return b == T(0) ? T(0) : T(a % b); }

";

impl<'a> Emitter<'a> {
    fn layout_of(&mut self, ty: &Type) -> usize {
        let fam = self.families.get(&ty.rank()).cloned().unwrap_or_else(|| BlockedFamily::default_for(&ty.shape, self.num_warps));
        let l = Layout::new(fam, ty.shape.clone());
        if let Some(i) = self.layouts.iter().position(|x| *x == l) {
            return i;
        }
        self.layouts.push(l);
        self.layouts.len() - 1
    }

    fn line(&mut self, s: impl AsRef<str>) {
        self.body.push_str("    ");
        self.body.push_str(s.as_ref());
        self.body.push('\n');
    }

    fn repr(&self, v: ValueId) -> &Repr {
        self.reprs.get(&v).expect("values are defined before use")
    }

    /// The C expression for element `r` (an expression of register index) of `v`.
    fn elem(&self, v: ValueId, r: &str) -> String {
        match self.repr(v) {
            Repr::Scalar(s) | Repr::Splat(s) => s.clone(),
            Repr::Array { name, .. } => format!("{name}[{r}]"),
        }
    }

    fn region(&mut self, ops: &[tm_ir::OpId]) -> R<()> {
        for &id in ops {
            let op = self.f.op(id).clone();
            self.op(&op)?;
        }
        Ok(())
    }

    /// Declares the array for block `v` and returns its layout index and register count.
    fn declare_block(&mut self, v: ValueId, loc: Loc) -> R<(String, usize, u32)> {
        let ty = self.f.ty(v).clone();
        let l = self.layout_of(&ty);
        let regs = self.layouts[l].regs();
        let name = format!("v{}", v.0);
        let decl = elem_decl(ty.elem, loc)?;
        self.line(format!("{decl} {name}[{regs}];"));
        self.reprs.insert(v, Repr::Array { name: name.clone(), layout: l });
        Ok((name, l, regs))
    }

    /// Defines `res` element-wise from `expr(r)`, as a scalar when all inputs are uniform.
    fn elementwise(&mut self, res: ValueId, inputs: &[ValueId], loc: Loc, expr: impl Fn(&[String]) -> String) -> R<()> {
        let ty = self.f.ty(res).clone();
        let uniform = inputs.iter().all(|&i| !matches!(self.repr(i), Repr::Array { .. }));
        if uniform {
            let args: Vec<String> = inputs.iter().map(|&i| self.elem(i, "0")).collect();
            let name = format!("v{}", res.0);
            let decl = elem_decl(ty.elem, loc)?;
            self.line(format!("const {decl} {name} = {};", expr(&args)));
            let repr = if ty.is_block() { Repr::Splat(name) } else { Repr::Scalar(name) };
            self.reprs.insert(res, repr);
            return Ok(());
        }
        let (name, _, regs) = self.declare_block(res, loc)?;
        let args: Vec<String> = inputs.iter().map(|&i| self.elem(i, "r")).collect();
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {};", expr(&args)));
        Ok(())
    }

    fn op(&mut self, op: &Op) -> R<()> {
        let f = self.f;
        let loc = op.loc;
        let res = op.results.first().copied();
        let dt = |v: ValueId| f.ty(v).dtype();
        match &op.kind {
            OpKind::Constant(c) => {
                let res = res.expect("constant has a result");
                let d = dt(res).ok_or_else(|| unsupported("pointer constants", loc))?;
                let lit = literal(*c, d);
                let repr = if f.ty(res).is_block() { Repr::Splat(lit) } else { Repr::Scalar(lit) };
                self.reprs.insert(res, repr);
            }
            OpKind::ProgramId(a) | OpKind::NumPrograms(a) => {
                let res = res.expect("result");
                let src = if matches!(op.kind, OpKind::ProgramId(_)) { "tm_pid" } else { "tm_nprog" };
                let comp = ["x", "y", "z"][*a as usize];
                self.line(format!("const int v{} = (int){src}.{comp};", res.0));
                self.reprs.insert(res, Repr::Scalar(format!("v{}", res.0)));
            }
            OpKind::MakeRange { start, .. } => {
                let res = res.expect("result");
                let (name, l, regs) = self.declare_block(res, loc)?;
                let coord = self.layouts[l].coord_expr(0, "r", &format!("L{l}_t0"));
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {start} + (int){coord};"));
            }
            OpKind::Splat => {
                let res = res.expect("result");
                let s = self.elem(op.operands[0], "0");
                self.reprs.insert(res, Repr::Splat(s));
            }
            OpKind::Broadcast => self.broadcast(op)?,
            OpKind::ExpandDims(_) => {
                let res = res.expect("result");
                match self.repr(op.operands[0]).clone() {
                    Repr::Splat(s) | Repr::Scalar(s) => {
                        self.reprs.insert(res, Repr::Splat(s));
                    }
                    Repr::Array { .. } => {
                        return Err(unsupported(
                            "expand_dims of a non-uniform block (x[:, None]) needs layout conversion, which is not supported yet",
                            loc,
                        ))
                    }
                }
            }
            OpKind::Binary(b) => {
                let d = dt(op.operands[0]).ok_or_else(|| unsupported("arithmetic on pointers", loc))?;
                let b = *b;
                self.elementwise(res.expect("result"), &op.operands, loc, |a| binary_expr(b, d, &a[0], &a[1]))?;
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
                self.elementwise(res.expect("result"), &op.operands, loc, |a| format!("({} {sym} {})", a[0], a[1]))?;
            }
            OpKind::Unary(u) => {
                let d = dt(op.operands[0]).ok_or_else(|| unsupported("unary op on pointers", loc))?;
                let t = tname(d, loc)?;
                let u = *u;
                self.elementwise(res.expect("result"), &op.operands, loc, |a| match u {
                    UnOp::Neg if d.is_float() => format!("(-{})", a[0]),
                    UnOp::Neg => {
                        let ut = msl_type_name(unsigned_of(d)).unwrap_or("uint");
                        format!("({t})(({ut})0 - ({ut}){})", a[0])
                    }
                    UnOp::Not if d.is_bool() => format!("(!{})", a[0]),
                    UnOp::Not => format!("({t})(~{})", a[0]),
                })?;
            }
            OpKind::Cast(kind) => {
                let res = res.expect("result");
                let to = f.ty(res).elem;
                let from = f.ty(op.operands[0]).elem;
                let decl = elem_decl(to, loc)?;
                let expr: Box<dyn Fn(&[String]) -> String> = match (kind, from, to) {
                    (CastKind::Convert, _, Elem::Scalar(DType::I1)) => Box::new(|a: &[String]| format!("({} != 0)", a[0])),
                    (CastKind::Convert, Elem::Scalar(fd), Elem::Scalar(td)) if fd == DType::BF16 && td.is_int() => {
                        Box::new(move |a: &[String]| format!("({decl})(float)({})", a[0]))
                    }
                    (CastKind::Convert, _, _) | (CastKind::PtrCast, _, _) => {
                        Box::new(move |a: &[String]| format!("({decl})({})", a[0]))
                    }
                    (CastKind::Bitcast, _, _) => Box::new(move |a: &[String]| format!("as_type<{decl}>({})", a[0])),
                    (CastKind::PtrToInt | CastKind::IntToPtr, _, _) => {
                        return Err(unsupported("converting between pointers and integers", loc))
                    }
                };
                self.elementwise(res, &op.operands, loc, |a| expr(a))?;
            }
            OpKind::Select => {
                self.elementwise(res.expect("result"), &op.operands, loc, |a| format!("({} ? {} : {})", a[0], a[1], a[2]))?;
            }
            OpKind::AddPtr => {
                self.elementwise(res.expect("result"), &op.operands, loc, |a| format!("({} + {})", a[0], a[1]))?;
            }
            OpKind::Load { has_mask, has_other } => self.load(op, *has_mask, *has_other)?,
            OpKind::Store { has_mask } => self.store(op, *has_mask)?,
            OpKind::Return => {}
            OpKind::For | OpKind::If | OpKind::Yield => {
                return Err(unsupported("structured control flow (for/if on runtime values) is not supported yet", loc))
            }
        }
        Ok(())
    }

    fn broadcast(&mut self, op: &Op) -> R<()> {
        let res = op.results[0];
        let src = op.operands[0];
        let Repr::Array { name: sname, layout: sl } = self.repr(src).clone() else {
            let s = self.elem(src, "0");
            self.reprs.insert(res, Repr::Splat(s));
            return Ok(());
        };
        let (name, l, regs) = self.declare_block(res, op.loc)?;
        let (out_l, src_l) = (self.layouts[l].clone(), self.layouts[sl].clone());
        if out_l.family != src_l.family {
            return Err(unsupported("broadcast between blocks of different layouts is not supported yet", op.loc));
        }
        // Same family: a thread holds the source element of each of its output
        // elements; only the register index changes (size-1 dims collapse).
        let (od, sd) = (out_l.dims(), src_l.dims());
        let terms: Vec<String> = (0..out_l.shape.len())
            .filter(|&d| src_l.shape[d] != 1)
            .map(|d| format!("((r / {}u) % {}u) * {}u", od[d].reg_stride, od[d].regs, sd[d].reg_stride))
            .collect();
        let idx = if terms.is_empty() { "0u".to_string() } else { terms.join(" + ") };
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {sname}[{idx}];"));
        Ok(())
    }

    /// Elements per vector access for a load/store through `ptr` (1 = scalar).
    fn vector_width(&self, ptr: ValueId, mask: Option<ValueId>, elem: DType) -> u32 {
        let Repr::Array { layout, .. } = self.repr(ptr) else { return 1 };
        if matches!(elem, DType::I1 | DType::BF16) {
            return 1;
        }
        let l = &self.layouts[*layout];
        let fast = l.family.order[0];
        let plan = l.dims()[fast];
        let info = &self.axis[ptr.0 as usize];
        let bytes = elem.size_bytes() as u64;
        let mut w = (plan.spt as u64).min(info.contiguity[fast]).min(info.divisibility[fast] / bytes).min(16 / bytes);
        if let Some(m) = mask {
            if matches!(self.repr(m), Repr::Array { .. }) {
                w = w.min(self.axis[m.0 as usize].constancy[fast]);
            }
        }
        let w = if w == 0 { 1 } else { 1u64 << (63 - w.leading_zeros()) };
        if w >= 2 { w as u32 } else { 1 }
    }

    fn load(&mut self, op: &Op, has_mask: bool, has_other: bool) -> R<()> {
        let res = op.results[0];
        let ptr = op.operands[0];
        let mask = has_mask.then(|| op.operands[1]);
        let other = has_other.then(|| op.operands[2]);
        let d = self.f.ty(res).dtype().ok_or_else(|| unsupported("loading pointers", op.loc))?;
        let t = tname(d, op.loc)?;
        let zero = literal(tm_ir::Const::Int(0), d);
        let other_at = |s: &Self, r: &str| other.map_or(zero.clone(), |o| s.elem(o, r));
        if !matches!(self.repr(ptr), Repr::Array { .. }) {
            // Every thread reads the same address (scalar or splatted pointer).
            let p = self.elem(ptr, "0");
            let expr = match mask {
                Some(m) if !matches!(self.repr(m), Repr::Array { .. }) => {
                    format!("({} ? *({p}) : {})", self.elem(m, "0"), other_at(self, "0"))
                }
                None => format!("*({p})"),
                Some(_) => String::new(),
            };
            if !expr.is_empty() {
                let name = format!("v{}", res.0);
                self.line(format!("const {t} {name} = {expr};"));
                let repr = if self.f.ty(res).is_block() { Repr::Splat(name) } else { Repr::Scalar(name) };
                self.reprs.insert(res, repr);
                return Ok(());
            }
        }
        let w = self.vector_width(ptr, mask, d);
        let (name, _, regs) = self.declare_block(res, op.loc)?;
        let p = self.elem(ptr, "r");
        if w == 1 {
            let load = format!("*({p})");
            let expr = match mask {
                Some(m) => format!("{} ? {load} : {}", self.elem(m, "r"), other_at(self, "r")),
                None => load,
            };
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {expr};"));
            return Ok(());
        }
        let vt = format!("{t}{w}");
        self.line(format!("for (uint r = 0; r < {regs}u; r += {w}u) {{"));
        let cond = mask.map(|m| self.elem(m, "r"));
        if let Some(c) = &cond {
            self.line(format!("    if ({c}) {{"));
        } else {
            self.line("    {");
        }
        self.line(format!("        const {vt} t = *((device const {vt}*)({p}));"));
        for i in 0..w {
            self.line(format!("        {name}[r + {i}u] = t[{i}];"));
        }
        if cond.is_some() {
            self.line("    } else {");
            for i in 0..w {
                let o = other_at(self, &format!("(r + {i}u)"));
                self.line(format!("        {name}[r + {i}u] = {o};"));
            }
        }
        self.line("    }");
        self.line("}");
        Ok(())
    }

    fn store(&mut self, op: &Op, has_mask: bool) -> R<()> {
        let (ptr, val) = (op.operands[0], op.operands[1]);
        let mask = has_mask.then(|| op.operands[2]);
        let Elem::Ptr(d) = self.f.ty(ptr).elem else { return Err(unsupported("store through a non-pointer", op.loc)) };
        let t = tname(d, op.loc)?;
        let Repr::Array { layout, .. } = self.repr(ptr).clone() else {
            // A single address: one thread writes, as Triton stores a scalar once.
            let p = self.elem(ptr, "0");
            let mut cond = "tm_tid == 0".to_string();
            if let Some(m) = mask {
                if matches!(self.repr(m), Repr::Array { .. }) {
                    return Err(unsupported("a store to a single address with a per-element mask", op.loc));
                }
                cond = format!("{cond} && {}", self.elem(m, "0"));
            }
            if matches!(self.repr(val), Repr::Array { .. }) {
                return Err(unsupported("storing a block through a single pointer", op.loc));
            }
            let v = self.elem(val, "0");
            self.line(format!("if ({cond}) *({p}) = {v};"));
            return Ok(());
        };
        let regs = self.layouts[layout].regs();
        let w = self.vector_width(ptr, mask, d);
        let own = format!("L{layout}_own");
        let cond = |s: &Self| match mask {
            Some(m) => format!("{own} && {}", s.elem(m, "r")),
            None => own.clone(),
        };
        let p = self.elem(ptr, "r");
        if w == 1 {
            let v = self.elem(val, "r");
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) if ({}) *({p}) = {v};", cond(self)));
            return Ok(());
        }
        let vt = format!("{t}{w}");
        self.line(format!("for (uint r = 0; r < {regs}u; r += {w}u) if ({}) {{", cond(self)));
        self.line(format!("    {vt} t;"));
        for i in 0..w {
            let v = self.elem(val, &format!("(r + {i}u)"));
            self.line(format!("    t[{i}] = {v};"));
        }
        self.line(format!("    *((device {vt}*)({p})) = t;"));
        self.line("}");
        Ok(())
    }
}

/// C expression for a binary op on element type `d`, with Triton's semantics:
/// integer overflow wraps, integer `/` and `%` truncate toward zero.
fn binary_expr(b: BinOp, d: DType, x: &str, y: &str) -> String {
    let t = msl_type_name(d).unwrap_or("float");
    let wide_signed = d.is_signed_int() && d.bits() >= 32;
    let ut = msl_type_name(unsigned_of(d)).unwrap_or("uint");
    let wrap = |sym: &str| {
        if wide_signed {
            format!("({t})(({ut}){x} {sym} ({ut}){y})")
        } else if d.is_int() && !d.is_bool() {
            format!("({t})({x} {sym} {y})")
        } else {
            format!("({x} {sym} {y})")
        }
    };
    match b {
        BinOp::Add => wrap("+"),
        BinOp::Sub => wrap("-"),
        BinOp::Mul => wrap("*"),
        BinOp::Div if d.is_float() => format!("({x} / {y})"),
        BinOp::Div if d.is_signed_int() => format!("tm_sdiv<{t}, {ut}>({x}, {y})"),
        BinOp::Div => format!("tm_udiv<{t}>({x}, {y})"),
        BinOp::Rem if d.is_float() => format!("fmod({x}, {y})"),
        BinOp::Rem if d.is_signed_int() => format!("tm_srem<{t}>({x}, {y})"),
        BinOp::Rem => format!("tm_urem<{t}>({x}, {y})"),
        BinOp::And if d.is_bool() => format!("({x} && {y})"),
        BinOp::Or if d.is_bool() => format!("({x} || {y})"),
        BinOp::Xor if d.is_bool() => format!("({x} != {y})"),
        BinOp::And => format!("({t})({x} & {y})"),
        BinOp::Or => format!("({t})({x} | {y})"),
        BinOp::Xor => format!("({t})({x} ^ {y})"),
        BinOp::Shl if wide_signed => format!("({t})(({ut}){x} << {y})"),
        BinOp::Shl => format!("({t})({x} << {y})"),
        BinOp::Shr => format!("({t})({x} >> {y})"),
        BinOp::Max if d.is_float() => format!("fmax({x}, {y})"),
        BinOp::Min if d.is_float() => format!("fmin({x}, {y})"),
        BinOp::Max => format!("max({x}, {y})"),
        BinOp::Min => format!("min({x}, {y})"),
    }
}
