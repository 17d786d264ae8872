//! Prints a [`Func`] as text close to Triton's TTIR, for dumps, error reports and
//! snapshot tests. Values are numbered in print order, as MLIR does.

use crate::func::*;
use crate::{DType, Elem, Type};
use std::collections::HashMap;
use std::fmt::Write;

pub fn print_func(f: &Func) -> String {
    let mut p = Printer { f, names: HashMap::new(), next: 0, out: String::new() };
    p.print();
    p.out
}

struct Printer<'a> {
    f: &'a Func,
    names: HashMap<ValueId, String>,
    next: u32,
    out: String,
}

fn cmp_name(pred: CmpPred, d: DType) -> String {
    let p = match pred {
        CmpPred::Eq => "eq",
        CmpPred::Ne => "ne",
        CmpPred::Lt => "lt",
        CmpPred::Le => "le",
        CmpPred::Gt => "gt",
        CmpPred::Ge => "ge",
    };
    match (d.is_float(), pred) {
        (true, CmpPred::Ne) => "arith.cmpf une".into(),
        (true, _) => format!("arith.cmpf o{p}"),
        (false, CmpPred::Eq | CmpPred::Ne) => format!("arith.cmpi {p}"),
        (false, _) if d.is_unsigned_int() || d.is_bool() => format!("arith.cmpi u{p}"),
        (false, _) => format!("arith.cmpi s{p}"),
    }
}

fn binary_name(op: BinOp, d: DType) -> &'static str {
    let float = d.is_float();
    let signed = d.is_signed_int();
    match op {
        BinOp::Add if float => "arith.addf",
        BinOp::Add => "arith.addi",
        BinOp::Sub if float => "arith.subf",
        BinOp::Sub => "arith.subi",
        BinOp::Mul if float => "arith.mulf",
        BinOp::Mul => "arith.muli",
        BinOp::Div if float => "arith.divf",
        BinOp::Div if signed => "arith.divsi",
        BinOp::Div => "arith.divui",
        BinOp::Rem if float => "arith.remf",
        BinOp::Rem if signed => "arith.remsi",
        BinOp::Rem => "arith.remui",
        BinOp::And => "arith.andi",
        BinOp::Or => "arith.ori",
        BinOp::Xor => "arith.xori",
        BinOp::Shl => "arith.shli",
        BinOp::Shr if signed => "arith.shrsi",
        BinOp::Shr => "arith.shrui",
        BinOp::Max if float => "arith.maxnumf",
        BinOp::Max if signed => "arith.maxsi",
        BinOp::Max => "arith.maxui",
        BinOp::Min if float => "arith.minnumf",
        BinOp::Min if signed => "arith.minsi",
        BinOp::Min => "arith.minui",
    }
}

fn convert_name(from: &Type, to: &Type) -> &'static str {
    let (Some(a), Some(b)) = (from.dtype(), to.dtype()) else { return "tt.bitcast" };
    match (a.is_float(), b.is_float()) {
        (true, true) if b.bits() > a.bits() => "arith.extf",
        (true, true) => "arith.truncf",
        (false, true) if a.is_unsigned_int() || a.is_bool() => "arith.uitofp",
        (false, true) => "arith.sitofp",
        (true, false) if b.is_unsigned_int() => "arith.fptoui",
        (true, false) => "arith.fptosi",
        (false, false) if b.bits() > a.bits() && (a.is_signed_int()) => "arith.extsi",
        (false, false) if b.bits() > a.bits() => "arith.extui",
        (false, false) if b.bits() < a.bits() => "arith.trunci",
        (false, false) => "arith.bitcast",
    }
}

impl<'a> Printer<'a> {
    fn name(&mut self, v: ValueId) -> String {
        if let Some(n) = self.names.get(&v) {
            return n.clone();
        }
        let n = format!("%{}", self.next);
        self.next += 1;
        self.names.insert(v, n.clone());
        n
    }

    fn names(&mut self, vs: &[ValueId]) -> String {
        vs.iter().map(|&v| self.name(v)).collect::<Vec<_>>().join(", ")
    }

    fn print(&mut self) {
        let f = self.f;
        let mut args = vec![];
        for (i, a) in f.args.iter().enumerate() {
            let n = format!("%arg{i}");
            self.names.insert(a.value, n.clone());
            let mut s = format!("{n}: {}", f.ty(a.value));
            if a.divisibility > 1 {
                let _ = write!(s, " {{tt.divisibility = {} : i32}}", a.divisibility);
            }
            args.push(s);
        }
        let _ = writeln!(self.out, "tt.func public @{}({}) {{", f.name, args.join(", "));
        self.region(&f.body, 1);
        self.out.push_str("}\n");
    }

    fn region(&mut self, r: &Region, depth: usize) {
        for &id in &r.ops {
            self.op(id, depth);
        }
    }

    fn op(&mut self, id: OpId, depth: usize) {
        let f = self.f;
        let op = f.op(id);
        let ind = "  ".repeat(depth);
        let res = if op.results.is_empty() { String::new() } else { format!("{} = ", self.names(&op.results)) };
        let ops = self.names(&op.operands);
        let rty = op.results.first().map(|&r| f.ty(r).to_string()).unwrap_or_default();
        let oty = |i: usize| f.ty(op.operands[i]).to_string();
        let dt = |v: ValueId| f.ty(v).dtype().unwrap_or(DType::I64);
        let body = match &op.kind {
            OpKind::Constant(c) => {
                let lit = match c {
                    Const::Int(i) => i.to_string(),
                    Const::Float(x) => format!("{x:e}"),
                };
                if f.ty(op.results[0]).is_block() {
                    format!("arith.constant dense<{lit}> : {rty}")
                } else {
                    format!("arith.constant {lit} : {rty}")
                }
            }
            OpKind::ProgramId(a) => format!("tt.get_program_id {} : i32", ["x", "y", "z"][*a as usize]),
            OpKind::NumPrograms(a) => format!("tt.get_num_programs {} : i32", ["x", "y", "z"][*a as usize]),
            OpKind::MakeRange { start, end } => {
                format!("tt.make_range {{end = {end} : i32, start = {start} : i32}} : {rty}")
            }
            OpKind::Splat => format!("tt.splat {ops} : {} -> {rty}", oty(0)),
            OpKind::Broadcast => format!("tt.broadcast {ops} : {} -> {rty}", oty(0)),
            OpKind::ExpandDims(a) => format!("tt.expand_dims {ops} {{axis = {a} : i32}} : {} -> {rty}", oty(0)),
            OpKind::Binary(b) => format!("{} {ops} : {rty}", binary_name(*b, dt(op.results[0]))),
            OpKind::Cmp(p) => format!("{}, {ops} : {}", cmp_name(*p, dt(op.operands[0])), oty(0)),
            OpKind::Unary(UnOp::Neg) if dt(op.operands[0]).is_float() => format!("arith.negf {ops} : {rty}"),
            OpKind::Unary(UnOp::Neg) => format!("arith.negi {ops} : {rty}"),
            OpKind::Unary(UnOp::Not) => format!("arith.noti {ops} : {rty}"),
            OpKind::Math(m) => format!("math.{} {ops} : {rty}", m.name()),
            OpKind::MulHi => format!("tt.mulhiui {ops} : {rty}"),
            OpKind::Cast(k) => {
                let name = match k {
                    CastKind::Convert => convert_name(f.ty(op.operands[0]), f.ty(op.results[0])),
                    CastKind::ConvertRtz => "tt.fp_to_fp(rtz)",
                    CastKind::Bitcast | CastKind::PtrCast => "tt.bitcast",
                    CastKind::PtrToInt => "tt.ptr_to_int",
                    CastKind::IntToPtr => "tt.int_to_ptr",
                };
                format!("{name} {ops} : {} to {rty}", oty(0))
            }
            OpKind::Select => format!("arith.select {ops} : {}, {rty}", oty(0)),
            OpKind::AddPtr => format!("tt.addptr {ops} : {}, {}", oty(0), oty(1)),
            OpKind::Load { .. } => format!("tt.load {ops} : {}", oty(0)),
            OpKind::Store { .. } => format!("tt.store {ops} : {}", oty(0)),
            OpKind::Return => "tt.return".to_string(),
            OpKind::Yield => {
                let tys: Vec<String> = (0..op.operands.len()).map(oty).collect();
                if tys.is_empty() {
                    "scf.yield".to_string()
                } else {
                    format!("scf.yield {ops} : {}", tys.join(", "))
                }
            }
            OpKind::For => {
                let r = &op.regions[0];
                let iv = self.name(r.args[0]);
                let (lb, ub, st) = (self.name(op.operands[0]), self.name(op.operands[1]), self.name(op.operands[2]));
                let mut s = format!("scf.for {iv} = {lb} to {ub} step {st}");
                if op.operands.len() > 3 {
                    let carried: Vec<String> = r.args[1..]
                        .iter()
                        .zip(&op.operands[3..])
                        .map(|(&a, &i)| format!("{} = {}", self.name(a), self.name(i)))
                        .collect();
                    let tys: Vec<String> = op.results.iter().map(|&v| f.ty(v).to_string()).collect();
                    let _ = write!(s, " iter_args({}) -> ({})", carried.join(", "), tys.join(", "));
                }
                s
            }
            OpKind::Trans(perm) => format!("tt.trans {ops} {{order = array<i32: {}>}} : {} -> {rty}", perm.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "), oty(0)),
            OpKind::Reshape => format!("tt.reshape {ops} : {} -> {rty}", oty(0)),
            OpKind::Join => format!("tt.join {ops} : {} -> {rty}", oty(0)),
            OpKind::Split => format!("tt.split {ops} : {} -> {rty}", oty(0)),
            OpKind::Cat => format!("tt.cat {ops} : {} -> {rty}", oty(0)),
            OpKind::AtomicRmw { op: a, .. } => format!("tt.atomic_rmw {}, acq_rel, gpu, {ops} : {} -> {rty}", a.name(), oty(0)),
            OpKind::AtomicCas => format!("tt.atomic_cas acq_rel, gpu, {ops} : {} -> {rty}", oty(0)),
            OpKind::Barrier => "gpu.barrier".to_string(),
            OpKind::Print { prefix, hex } => format!("tt.print {ops} {{hex = {hex}, prefix = {prefix:?}}}"),
            OpKind::Assert { message } => format!("tt.assert {ops}, {message:?}"),
            OpKind::Scan { axis, reverse } => {
                let args: Vec<String> = op.regions[0].args.iter().map(|&a| self.name(a)).collect();
                format!("\"tt.scan\"({ops}) <{{axis = {axis} : i32, reverse = {reverse}}}> ({}) : {}", args.join(", "), oty(0))
            }
            OpKind::Sort { descending } => format!("tt.sort {ops} {{descending = {descending}}} : {rty}"),
            OpKind::Flip => format!("tt.flip {ops} : {rty}"),
            OpKind::Histogram { bins } => format!("tt.histogram {ops} {{bins = {bins}}} : {} -> {rty}", oty(0)),
            OpKind::Gather { axis } => format!("tt.gather {ops} {{axis = {axis} : i32}} : ({}, {}) -> {rty}", oty(0), oty(1)),
            OpKind::While => {
                let tys: Vec<String> = op.results.iter().map(|&v| f.ty(v).to_string()).collect();
                let args: Vec<String> = op.regions[0].args.iter().map(|&a| self.name(a)).collect();
                format!("scf.while ({}) : ({}) -> ({})", args.iter().zip(op.operands.iter()).map(|(a, &i)| format!("{a} = {}", self.name(i))).collect::<Vec<_>>().join(", "), tys.join(", "), tys.join(", "))
            }
            OpKind::Hint { kind, values } => {
                let attr = match kind {
                    HintKind::MultipleOf => "tt.divisibility",
                    HintKind::MaxContiguous => "tt.contiguity",
                    HintKind::MaxConstancy => "tt.constancy",
                };
                let v: Vec<String> = values.iter().map(|x| x.to_string()).collect();
                format!("tt.assume {ops} {{{attr} = dense<[{}]>}} : {rty}", v.join(", "))
            }
            OpKind::Dot => format!("tt.dot {ops} : {} * {} -> {rty}", oty(0), oty(1)),
            OpKind::Reduce { axis } => {
                let args: Vec<String> = op.regions[0].args.iter().map(|&a| self.name(a)).collect();
                let tys: Vec<String> = (0..op.operands.len()).map(oty).collect();
                format!("\"tt.reduce\"({ops}) <{{axis = {axis} : i32}}> ({}) : ({})", args.join(", "), tys.join(", "))
            }
            OpKind::If => {
                let tys: Vec<String> = op.results.iter().map(|&v| f.ty(v).to_string()).collect();
                if tys.is_empty() {
                    format!("scf.if {ops}")
                } else {
                    format!("scf.if {ops} -> ({})", tys.join(", "))
                }
            }
        };
        let _ = write!(self.out, "{ind}{res}{body}");
        if op.regions.is_empty() {
            let _ = writeln!(self.out, "  loc({}:{})", op.loc.line, op.loc.col);
            return;
        }
        for (i, r) in op.regions.iter().enumerate() {
            self.out.push_str(if i == 0 { " {\n" } else { " else {\n" });
            self.region(r, depth + 1);
            let _ = write!(self.out, "{ind}}}");
        }
        self.out.push('\n');
    }
}

/// Short type text used in error messages (`block of 1024 fp32`, `pointer to fp16`).
pub fn describe_type(t: &Type) -> String {
    let e = match t.elem {
        Elem::Scalar(d) => d.language_name().to_string(),
        Elem::Ptr(d) => format!("pointer<{}>", d.language_name()),
    };
    if t.shape.is_empty() {
        e
    } else {
        format!("block[{}] of {e}", t.shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", "))
    }
}
