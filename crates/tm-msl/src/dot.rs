//! `tt.dot` on Apple's `simdgroup_matrix` 8x8 multiply-accumulate, the way
//! MLX's Steel GEMM gets its throughput. Operands are staged (as float) through
//! threadgroup memory; each simdgroup owns a rectangle of 8x8 output tiles,
//! loads its A and B tiles with `simdgroup_load` and accumulates with
//! `simdgroup_multiply_accumulate`; the result goes back through threadgroup
//! memory into the result's blocked layout. Integer dots (int8 -> int32) use a
//! per-element loop over the staged operands.
//!
//! Threadgroup memory: max(M*N, (M+N)*K) * 4 bytes, refused over 32 KiB.
//! `tf32` precision computes in full float32 (documented in the README).

use crate::emit::{unsupported, Emitter, Repr, R};
use tm_ir::{DType, Op};

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
        let bytes = (m * n).max((m + n) * k) * 4;
        if bytes > tm_abi::MAX_THREADGROUP_BYTES {
            return Err(crate::MslError::Resources(format!(
                "tl.dot of [{m}, {k}] x [{k}, {n}] needs {bytes} bytes of threadgroup memory; Metal allows at most {} (32 KiB): use smaller BLOCK sizes",
                tm_abi::MAX_THREADGROUP_BYTES
            )));
        }
        self.smem_bytes = self.smem_bytes.max(bytes);
        let l = self.layout_for(res);
        let regs = self.layouts[l].regs();
        let name = format!("v{}", res.0);
        let c_off = 0u32;
        let a_off = 0u32;
        let b_off = m * k * 4;
        let out_idx = self.linear_index(l, "r");
        if is_int || in_d == DType::U8 {
            // Integer dot: each thread computes its own elements from the staged operands.
            self.barrier_before_smem_write();
            self.stage(a, a_off, st);
            self.stage(b, b_off, st);
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            let accr = self.get(acc, l)?;
            self.line(format!("{out_t} {name}[{regs}];"));
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
            let _ = out_idx;
            self.reprs.insert(res, Repr::Array { name, layout: l });
            return Ok(());
        }
        // simdgroup_matrix path. Warps tile the (M/8) x (N/8) grid of 8x8 tiles.
        let (bm, bn) = (m / 8, n / 8);
        let mut wm = 1u32;
        let mut wn = 1u32;
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
        let (tm, tn) = (bm / wm, bn / wn);
        let active = wm * wn;
        let frags = tm * tn;
        let cn = format!("v{}_c", res.0);
        let cptr = format!("((threadgroup float*)(tm_smem + {c_off}u))");
        let aptr = format!("((threadgroup float*)(tm_smem + {a_off}u))");
        let bptr = format!("((threadgroup float*)(tm_smem + {b_off}u))");
        self.uses_sync = true;
        self.line(format!("simdgroup_float8x8 {cn}[{frags}];"));
        let warp_m = format!("(tm_sg / {wn}u)");
        let warp_n = format!("(tm_sg % {wn}u)");
        let tile = |i: &str, j: &str| format!("(({warp_m} * {tm}u + {i}) * 8u) * {n}u + ({warp_n} * {tn}u + {j}) * 8u");
        // The accumulator: a splat fills the fragments; anything else is loaded from memory.
        match self.repr(acc).clone() {
            Repr::Splat(s) | Repr::Scalar(s) => {
                self.line(format!("for (uint f = 0; f < {frags}u; ++f) {cn}[f] = make_filled_simdgroup_matrix<float, 8, 8>((float)({s}));"));
            }
            Repr::Array { .. } => {
                self.barrier_before_smem_write();
                self.stage(acc, c_off, "float");
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                self.line(format!("if (tm_sg < {active}u) {{"));
                self.line(format!(
                    "    for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_load({cn}[i * {tn}u + j], {cptr} + {}, {n});",
                    tile("i", "j")
                ));
                self.line("}");
            }
        }
        self.barrier_before_smem_write();
        self.stage(a, a_off, "float");
        self.stage(b, b_off, "float");
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.line(format!("if (tm_sg < {active}u) {{"));
        self.depth += 1;
        self.line(format!("for (uint kk = 0; kk < {k}u; kk += 8u) {{"));
        self.depth += 1;
        self.line(format!("simdgroup_float8x8 ma[{tm}];"));
        self.line(format!("simdgroup_float8x8 mb[{tn}];"));
        self.line(format!("for (uint i = 0; i < {tm}u; ++i) simdgroup_load(ma[i], {aptr} + ({warp_m} * {tm}u + i) * 8u * {k}u + kk, {k});"));
        self.line(format!("for (uint j = 0; j < {tn}u; ++j) simdgroup_load(mb[j], {bptr} + kk * {n}u + ({warp_n} * {tn}u + j) * 8u, {n});"));
        self.line(format!(
            "for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_multiply_accumulate({cn}[i * {tn}u + j], ma[i], mb[j], {cn}[i * {tn}u + j]);"
        ));
        self.depth -= 1;
        self.line("}");
        self.depth -= 1;
        self.line("}");
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.line(format!("if (tm_sg < {active}u) {{"));
        self.line(format!(
            "    for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_store({cn}[i * {tn}u + j], {cptr} + {}, {n});",
            tile("i", "j")
        ));
        self.line("}");
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.line(format!("{out_t} {name}[{regs}];"));
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = ({out_t})({cptr}[{out_idx}]);"));
        self.reprs.insert(res, Repr::Array { name, layout: l });
        Ok(())
    }
}
