//! `tt.dot` on Apple's `simdgroup_matrix` 8x8 multiply-accumulate, the way
//! MLX's Steel GEMM gets its throughput. Operands are staged through threadgroup
//! memory in their own precision (half stays half, loaded as `simdgroup_half8x8`
//! and multiplied into float accumulators; other float types as float); each simdgroup owns a rectangle of 8x8 output tiles,
//! loads its A and B tiles with `simdgroup_load` and accumulates with
//! `simdgroup_multiply_accumulate`; the result goes back through threadgroup
//! memory into the result's blocked layout. Integer dots (int8 -> int32) use a
//! per-element loop over the staged operands.
//!
//! Threadgroup memory: max(M*N*4, (M*K + K*N) * operand bytes), refused over 32 KiB.
//! `tf32` precision computes in full float32 (documented in the README).

use crate::emit::{unsupported, Emitter, Repr, R};
use tm_ir::{DType, Op, ValueId};

impl Emitter<'_> {
    /// Writes every element of `v` (any representation) to threadgroup memory at
    /// byte offset `off`, row-major in `v`'s shape, converted to `t`.
    fn stage(&mut self, v: tm_ir::ValueId, off: u32, t: &str) {
        let numel = self.f.ty(v).numel();
        let threads = self.num_warps * 32;
        let dst = format!("((threadgroup {t}*)(tm_smem + {off}u))");
        match self.repr(v).clone() {
            Repr::Array { name, layout } => {
                let regs = self.layouts[layout].regs();
                let idx = self.linear_index(layout, "r");
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) if (L{layout}_own) {dst}[{idx}] = ({t})({name}[r]);"));
            }
            Repr::Splat(s) | Repr::Scalar(s) => {
                self.line(format!("for (uint i = tm_tid; i < {numel}u; i += {threads}u) {dst}[i] = ({t})({s});"));
            }
        }
    }

    pub(crate) fn dot_op(&mut self, op: &Op) -> R<()> {
        let loc = op.loc;
        let (a, b, acc) = (op.operands[0], op.operands[1], op.operands[2]);
        let res = op.results[0];
        let (m, k) = (self.f.ty(a).shape[0], self.f.ty(a).shape[1]);
        let n = self.f.ty(b).shape[1];
        let in_d = self.f.ty(a).dtype().ok_or_else(|| unsupported("tl.dot of pointers", loc))?;
        let out_d = self.f.ty(res).dtype().ok_or_else(|| unsupported("tl.dot of pointers", loc))?;
        let out_t = crate::emit::tname(out_d, loc)?;
        let is_int = in_d.is_int();
        let st = if is_int { "int" } else { "float" };
        let staged = |d: DType| if is_int || d == DType::U8 { 4 } else { mma_operand(d).1 };
        let b_d = self.f.ty(b).dtype().unwrap_or(in_d);
        let bytes = (m * n * 4).max(m * k * staged(in_d) + k * n * staged(b_d));
        if bytes > tm_abi::MAX_THREADGROUP_BYTES {
            return Err(crate::MslError::Resources(format!(
                "tl.dot of [{m}, {k}] x [{k}, {n}] needs {bytes} bytes of threadgroup memory; Metal allows at most {} (32 KiB): use smaller BLOCK sizes",
                tm_abi::MAX_THREADGROUP_BYTES
            )));
        }
        self.smem_bytes = self.smem_bytes.max(bytes);
        if is_int || in_d == DType::U8 {
            let l = self.layout_for(res);
            let regs = self.layouts[l].regs();
            let name = format!("v{}", res.0);
            let (a_off, b_off) = (0u32, m * k * 4);
            // Integer dot: each thread computes its own elements from the staged operands.
            self.barrier_before_smem_write();
            self.stage(a, a_off, st);
            self.stage(b, b_off, st);
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            let accr = self.get(acc, l)?;
            self.line(format!("{out_t} {name}[{regs}];"));
            self.count_private(regs, self.f.ty(res).elem);
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {{"));
            self.depth += 1;
            let lay = self.layouts[l].clone();
            let row = lay.coord_expr(0, "r", &format!("L{l}_t{}", lay.embed[0]));
            let col = lay.coord_expr(1, "r", &format!("L{l}_t{}", lay.embed[1]));
            self.line(format!("const uint row = {row}; const uint col = {col};"));
            self.line(format!("int s = (int)({});", Self::at(&accr, "r")));
            self.line(format!(
                "for (uint kk = 0; kk < {k}u; ++kk) s += ((threadgroup int*)(tm_smem + {a_off}u))[row * {k}u + kk] * ((threadgroup int*)(tm_smem + {b_off}u))[kk * {n}u + col];"
            ));
            self.line(format!("{name}[r] = ({out_t})s;"));
            self.depth -= 1;
            self.line("}");
            self.reprs.insert(res, Repr::Array { name, layout: l });
            return Ok(());
        }
        // simdgroup_matrix path.
        let plan = self.mma_plan(m, n);
        self.uses_sync = true;
        if let Some(frag) = self.fragments.get(&acc).cloned() {
            // A loop-carried accumulator already lives in simdgroup matrices.
            self.mma_k_loop(&frag, &plan, a, b, m, n, k)?;
            self.fragments.insert(res, frag);
            return Ok(());
        }
        let cn = format!("v{}_c", res.0);
        self.frags_from_value(&cn, &plan, acc, m, n)?;
        self.mma_k_loop(&cn, &plan, a, b, m, n, k)?;
        self.frags_to_array(&cn, &plan, res, m, n, loc)?;
        Ok(())
    }

    /// How simdgroups tile the (M/8) x (N/8) grid of 8x8 output tiles.
    pub(crate) fn mma_plan(&self, m: u32, n: u32) -> MmaPlan {
        let (bm, bn) = (m / 8, n / 8);
        let (mut wm, mut wn) = (1u32, 1u32);
        while wm * wn < self.num_warps {
            if bm / wm >= bn / wn && wm < bm {
                wm *= 2;
            } else if wn < bn {
                wn *= 2;
            } else if wm < bm {
                wm *= 2;
            } else {
                break;
            }
        }
        MmaPlan { wn, tm: bm / wm, tn: bn / wn, active: wm * wn }
    }

    fn tile_offset(plan: &MmaPlan, n: u32, i: &str, j: &str) -> String {
        let (wn, tm, tn) = (plan.wn, plan.tm, plan.tn);
        format!("(((tm_sg / {wn}u) * {tm}u + {i}) * 8u) * {n}u + ((tm_sg % {wn}u) * {tn}u + {j}) * 8u")
    }

    /// Declares the fragments `name[tm * tn]` and fills them from block `v` [M, N].
    pub(crate) fn frags_from_value(&mut self, name: &str, plan: &MmaPlan, v: ValueId, m: u32, n: u32) -> R<()> {
        let frags = plan.tm * plan.tn;
        self.smem_bytes = self.smem_bytes.max(m * n * 4);
        self.line(format!("simdgroup_float8x8 {name}[{frags}];"));
        match self.repr(v).clone() {
            Repr::Splat(s) | Repr::Scalar(s) => {
                self.line(format!("for (uint f = 0; f < {frags}u; ++f) {name}[f] = make_filled_simdgroup_matrix<float, 8, 8>((float)({s}));"));
            }
            Repr::Array { .. } => {
                self.barrier_before_smem_write();
                self.stage(v, 0, "float");
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                let (tm, tn, active) = (plan.tm, plan.tn, plan.active);
                let off = Self::tile_offset(plan, n, "i", "j");
                self.line(format!(
                    "if (tm_sg < {active}u) for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_load({name}[i * {tn}u + j], ((threadgroup float*)tm_smem) + {off}, {n});"
                ));
            }
        }
        Ok(())
    }

    /// `c += a @ b` on the fragments `c`, with a and b staged in their own precision
    /// (see [`mma_operand`]).
    fn mma_k_loop(&mut self, c: &str, plan: &MmaPlan, a: ValueId, b: ValueId, m: u32, n: u32, k: u32) -> R<()> {
        let (wn, tm, tn, active) = (plan.wn, plan.tm, plan.tn, plan.active);
        let (at, ab) = mma_operand(self.f.ty(a).dtype().unwrap_or(DType::F32));
        let (bt, bb) = mma_operand(self.f.ty(b).dtype().unwrap_or(DType::F32));
        // The B tile starts 16-byte aligned after the A tile.
        let b_off = (m * k * ab).next_multiple_of(16);
        self.smem_bytes = self.smem_bytes.max(b_off + k * n * bb);
        let aptr = format!("((threadgroup {at}*)tm_smem)");
        let bptr = format!("((threadgroup {bt}*)(tm_smem + {b_off}u))");
        self.barrier_before_smem_write();
        self.stage(a, 0, at);
        self.stage(b, b_off, bt);
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.line(format!("if (tm_sg < {active}u) {{"));
        self.depth += 1;
        self.line(format!("for (uint kk = 0; kk < {k}u; kk += 8u) {{"));
        self.depth += 1;
        self.line(format!("simdgroup_matrix<{at}, 8, 8> ma[{tm}];"));
        self.line(format!("simdgroup_matrix<{bt}, 8, 8> mb[{tn}];"));
        self.line(format!("for (uint i = 0; i < {tm}u; ++i) simdgroup_load(ma[i], {aptr} + ((tm_sg / {wn}u) * {tm}u + i) * 8u * {k}u + kk, {k});"));
        self.line(format!("for (uint j = 0; j < {tn}u; ++j) simdgroup_load(mb[j], {bptr} + kk * {n}u + ((tm_sg % {wn}u) * {tn}u + j) * 8u, {n});"));
        self.line(format!(
            "for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_multiply_accumulate({c}[i * {tn}u + j], ma[i], mb[j], {c}[i * {tn}u + j]);"
        ));
        self.depth -= 1;
        self.line("}");
        self.depth -= 1;
        self.line("}");
        Ok(())
    }

    /// Moves the fragments `c` into a register array for `res` (its layout).
    pub(crate) fn frags_to_array(&mut self, c: &str, plan: &MmaPlan, res: ValueId, m: u32, n: u32, loc: tm_ir::Loc) -> R<()> {
        let (tm, tn, active) = (plan.tm, plan.tn, plan.active);
        self.smem_bytes = self.smem_bytes.max(m * n * 4);
        let out_d = self.f.ty(res).dtype().ok_or_else(|| unsupported("tl.dot of pointers", loc))?;
        let out_t = crate::emit::tname(out_d, loc)?;
        let off = Self::tile_offset(plan, n, "i", "j");
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.line(format!(
            "if (tm_sg < {active}u) for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_store({c}[i * {tn}u + j], ((threadgroup float*)tm_smem) + {off}, {n});"
        ));
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        let l = self.layout_for(res);
        let regs = self.layouts[l].regs();
        let name = format!("v{}", res.0);
        let idx = self.linear_index(l, "r");
        self.line(format!("{out_t} {name}[{regs}];"));
        self.count_private(regs, self.f.ty(res).elem);
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = ({out_t})(((threadgroup float*)tm_smem)[{idx}]);"));
        self.reprs.insert(res, Repr::Array { name, layout: l });
        Ok(())
    }
}

/// The MSL type and byte size a float `tl.dot` operand of type `d` is staged and
/// multiplied in: half stays half (Apple's matrix units multiply half into float
/// accumulators, as Triton's fp16 dot with fp32 accumulation); anything else is float.
fn mma_operand(d: DType) -> (&'static str, u32) {
    match d {
        DType::F16 => ("half", 2),
        _ => ("float", 4),
    }
}

/// How the simdgroups of a threadgroup share the 8x8 tiles of a dot's output:
/// `wn` simdgroups across N, each owning `tm` x `tn` tiles; simdgroups at or
/// past `active` have no tiles.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MmaPlan {
    pub wn: u32,
    pub tm: u32,
    pub tn: u32,
    pub active: u32,
}
