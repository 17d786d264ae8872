//! `tt.dot` on Apple's `simdgroup_matrix` 8x8 multiply-accumulate, the way
//! MLX's Steel GEMM gets its throughput. Operands are staged through threadgroup
//! memory in their own precision (half and bfloat stay 16-bit, loaded as
//! `simdgroup_half8x8` / `simdgroup_bfloat8x8` and multiplied into float
//! accumulators; float32 as float); each simdgroup owns a rectangle of 8x8 output
//! tiles, loads its A and B tiles with `simdgroup_load` and accumulates with
//! `simdgroup_multiply_accumulate`; the result goes back through threadgroup
//! memory into the result's blocked layout. Integer dots (int8 -> int32) stage
//! the operands as bytes and accumulate per element in int32.
//!
//! Threadgroup memory economy: the reduction over K is done chunk by chunk into
//! the same accumulators, so only an [M, KC] slice of A and a [KC, N] slice of B
//! are staged at a time, KC the largest divisor of K (a multiple of 8) whose
//! slices fit in 32 KiB; the accumulators move between simdgroup matrices and
//! registers in row bands that fit likewise. A 3-D (batched) dot runs the same
//! code once per batch index. Only a dot whose single smallest chunk (8 rows of
//! the result, or 8 columns of K) needs more than 32 KiB is refused.
//! `tf32` precision computes in full float32 (documented in the README).

use crate::emit::{unsupported, Emitter, Repr, R};
use tm_abi::MAX_THREADGROUP_BYTES;
use tm_ir::{DType, Op, ValueId};

/// One dimension of a staged window: elements with coordinate in `[lo, lo + len)`
/// (`lo` an MSL expression; `None` = the whole dimension).
#[derive(Clone, Debug)]
pub(crate) struct Win {
    pub lo: Option<String>,
    pub len: u32,
}

impl Win {
    fn all(len: u32) -> Win {
        Win { lo: None, len }
    }
    fn at(lo: impl Into<String>, len: u32) -> Win {
        Win { lo: Some(lo.into()), len }
    }
    /// `[lo, lo + len)` of a dimension of `total`: the whole dimension when it is.
    fn span(lo: &str, len: u32, total: u32) -> Win {
        if lo == "0u" && len == total {
            Win::all(total)
        } else {
            Win::at(lo, len)
        }
    }
}

/// The largest multiple of 8 dividing `total` with `bytes(chunk) <= limit`.
fn chunk_for(total: u32, bytes: impl Fn(u32) -> u32) -> Option<u32> {
    (1..=total / 8).rev().map(|c| c * 8).find(|&c| total.is_multiple_of(c) && bytes(c) <= MAX_THREADGROUP_BYTES)
}

impl Emitter<'_> {
    /// Per register `r` of layout `l`: the coordinates `c0, c1, ...` of the value, a
    /// guard `if (inside the window) ` (empty for the whole block) and the row-major
    /// index inside the window.
    fn window_terms(&self, l: usize, win: &[Win]) -> (String, String, String) {
        let lay = &self.layouts[l];
        let mut decl = vec![];
        let mut conds = vec![];
        let mut terms = vec![];
        let mut stride = 1u64;
        for i in (0..win.len()).rev() {
            let thr = format!("L{l}_t{}", lay.embed[i]);
            decl.push(format!("const uint c{i} = {};", lay.coord_expr(i, "r", &thr)));
            let rel = match &win[i].lo {
                Some(lo) => {
                    conds.push(format!("(uint)(c{i} - ({lo})) < {}u", win[i].len));
                    format!("(c{i} - ({lo}))")
                }
                None => format!("c{i}"),
            };
            terms.push(format!("{rel} * {stride}u"));
            stride *= win[i].len as u64;
        }
        decl.reverse();
        let cond = if conds.is_empty() { String::new() } else { format!("if ({}) ", conds.join(" && ")) };
        (decl.join(" "), cond, terms.join(" + "))
    }

    /// Writes the elements of `v` inside `win` to threadgroup memory at byte offset
    /// `off`, row-major in the window's shape, converted to `t`.
    fn stage(&mut self, v: ValueId, off: &str, t: &str, win: &[Win]) {
        let threads = self.num_warps * 32;
        let dst = format!("((threadgroup {t}*)(tm_smem + {off}))");
        match self.repr(v).clone() {
            Repr::Array { name, layout } => {
                let regs = self.layouts[layout].regs();
                let (decl, cond, idx) = self.window_terms(layout, win);
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) if (L{layout}_own) {{ {decl} {cond}{dst}[{idx}] = ({t})({name}[r]); }}"));
            }
            Repr::Splat(s) | Repr::Scalar(s) => {
                let numel: u32 = win.iter().map(|w| w.len).product();
                self.line(format!("for (uint i = tm_tid; i < {numel}u; i += {threads}u) {dst}[i] = ({t})({s});"));
            }
        }
    }

    /// `name[r] = src[...]` for the registers of layout `l` inside `win`, from the
    /// window staged row-major at the start of threadgroup memory as `src_t`.
    fn unstage(&mut self, name: &str, l: usize, out_t: &str, src_t: &str, win: &[Win]) {
        let regs = self.layouts[l].regs();
        let (decl, cond, idx) = self.window_terms(l, win);
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {{ {decl} {cond}{name}[r] = ({out_t})(((threadgroup {src_t}*)tm_smem)[{idx}]); }}"));
    }

    /// After the barrier that follows staging `values` whole (each element written by
    /// its one owner): the device loads they were computed from have completed in
    /// every thread (see `order.rs`), so later stores need no barrier against them.
    fn retire_staged(&mut self, values: &[ValueId]) {
        let whole: Vec<ValueId> = values
            .iter()
            .copied()
            .filter(|&v| match self.repr(v) {
                Repr::Array { layout, .. } => !self.layouts[*layout].dims().iter().any(|d| d.wraps),
                _ => false,
            })
            .collect();
        if !whole.is_empty() {
            self.retire_loads_feeding(&whole);
        }
    }

    /// A barrier before threadgroup memory is written again (earlier readers done).
    fn smem_barrier(&mut self) {
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.smem_touched = true;
        self.uses_sync = true;
    }

    /// Opens `for (uint VAR = 0; VAR < total; VAR += chunk)` when there is more than
    /// one chunk; returns the window start expression.
    fn open_chunks(&mut self, var: &str, total: u32, chunk: u32) -> String {
        if chunk == total {
            return "0u".into();
        }
        self.line(format!("for (uint {var} = 0; {var} < {total}u; {var} += {chunk}u) {{"));
        self.depth += 1;
        var.into()
    }

    fn close_chunks(&mut self, total: u32, chunk: u32) {
        if chunk != total {
            self.depth -= 1;
            self.line("}");
        }
    }

    pub(crate) fn dot_op(&mut self, op: &Op) -> R<()> {
        let loc = op.loc;
        let (a, b, acc) = (op.operands[0], op.operands[1], op.operands[2]);
        let res = op.results[0];
        let ashape = self.f.ty(a).shape.clone();
        let rank = ashape.len();
        let (m, k) = (ashape[rank - 2], ashape[rank - 1]);
        let n = self.f.ty(b).shape[rank - 1];
        let batch = if rank == 3 { ashape[0] } else { 1 };
        let in_d = self.f.ty(a).dtype().ok_or_else(|| unsupported("tl.dot of pointers", loc))?;
        let b_d = self.f.ty(b).dtype().unwrap_or(in_d);
        let out_d = self.f.ty(res).dtype().ok_or_else(|| unsupported("tl.dot of pointers", loc))?;
        let out_t = crate::emit::tname(out_d, loc)?;
        if !(k.is_multiple_of(8) && m.is_multiple_of(8) && n.is_multiple_of(8)) {
            return Err(unsupported(format!("tl.dot of [{m}, {k}] x [{k}, {n}]: M, N and K must be multiples of 8"), loc));
        }
        let is_int = in_d.is_int();
        let (at, ab) = if is_int { int_operand(in_d) } else { mma_operand(in_d) };
        let (bt, bb) = if is_int { int_operand(b_d) } else { mma_operand(b_d) };
        let kc = chunk_for(k, |c| (m * c * ab).next_multiple_of(16) + c * n * bb);
        let rc = chunk_for(m, |c| c * n * 4);
        let (Some(kc), Some(rc)) = (kc, if is_int { Some(m) } else { rc }) else {
            let need = ((m * 8 * ab).next_multiple_of(16) + 8 * n * bb).max(if is_int { 0 } else { 8 * n * 4 });
            return Err(crate::MslError::Resources(format!(
                "tl.dot of [{m}, {k}] x [{k}, {n}] needs {need} bytes of threadgroup memory even staged 8 rows or 8 columns of K at a time; Metal allows at most {MAX_THREADGROUP_BYTES} (32 KiB): use smaller BLOCK sizes (line {})",
                loc.line
            )));
        };
        self.uses_sync = true;
        // A dot outside a batch loop may keep its accumulator in the loop's fragments.
        if rank == 2 && !is_int {
            let plan = self.mma_plan(m, n);
            if let Some(frag) = self.fragments.get(&acc).cloned() {
                // A loop-carried accumulator already lives in simdgroup matrices.
                self.mma_k_loop(&frag, &plan, a, b, None, m, n, k, kc, None)?;
                self.fragments.insert(res, frag);
                return Ok(());
            }
        }
        let l = self.layout_for(res);
        let regs = self.layouts[l].regs();
        let name = format!("v{}", res.0);
        self.line(format!("{out_t} {name}[{regs}];"));
        self.count_private(regs, self.f.ty(res).elem);
        if is_int {
            // Each thread accumulates its own elements in int32, K chunk by K chunk.
            let accr = self.get(acc, l)?;
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = ({out_t})({});", Self::at(&accr, "r")));
        }
        let bvar = if rank == 3 { Some(self.open_chunks("tm_b", batch, 1)) } else { None };
        let bw = |bv: &Option<String>| bv.iter().map(|v| Win::at(v.clone(), 1)).collect::<Vec<_>>();
        if is_int {
            let b_off = (m * kc * ab).next_multiple_of(16);
            self.smem_bytes = self.smem_bytes.max(b_off + kc * n * bb);
            let k0 = self.open_chunks("tm_k0", k, kc);
            self.barrier_before_smem_write();
            let mut wa = bw(&bvar);
            wa.extend([Win::all(m), Win::span(&k0, kc, k)]);
            let mut wb = bw(&bvar);
            wb.extend([Win::span(&k0, kc, k), Win::all(n)]);
            self.stage(a, "0u", at, &wa);
            self.stage(b, &format!("{b_off}u"), bt, &wb);
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            let mut wr = bw(&bvar);
            wr.extend([Win::all(m), Win::all(n)]);
            let (decl, cond, _) = self.window_terms(l, &wr);
            let (ri, ci) = (rank - 2, rank - 1);
            self.line(format!(
                "for (uint r = 0; r < {regs}u; ++r) {{ {decl} {cond}{{ int s = 0; for (uint kk = 0; kk < {kc}u; ++kk) s += (int)((threadgroup {at}*)tm_smem)[c{ri} * {kc}u + kk] * (int)((threadgroup {bt}*)(tm_smem + {b_off}u))[kk * {n}u + c{ci}]; {name}[r] += s; }} }}"
            ));
            self.close_chunks(k, kc);
        } else {
            let plan = self.mma_plan(m, n);
            let cn = format!("v{}_c", res.0);
            if matches!(self.repr(acc), Repr::Array { .. }) && kc == k && rc == m {
                self.line(format!("simdgroup_float8x8 {cn}[{}];", plan.tm * plan.tn));
                self.mma_k_loop(&cn, &plan, a, b, bvar.as_deref(), m, n, k, kc, Some(acc))?;
            } else {
                self.frags_in(&cn, &plan, acc, bvar.as_deref(), m, n, rc)?;
                self.mma_k_loop(&cn, &plan, a, b, bvar.as_deref(), m, n, k, kc, None)?;
            }
            self.frags_out(&cn, &plan, &name, l, out_t, bvar.as_deref(), m, n, rc);
        }
        if rank == 3 {
            self.close_chunks(batch, 1);
        }
        self.reprs.insert(res, Repr::Array { name, layout: l });
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

    /// Row band of `rows` rows of the result that fits in threadgroup memory as float.
    fn row_chunk(&self, m: u32, n: u32, loc: tm_ir::Loc) -> R<u32> {
        chunk_for(m, |c| c * n * 4).ok_or_else(|| {
            crate::MslError::Resources(format!(
                "tl.dot result [{m}, {n}] needs {} bytes of threadgroup memory even 8 rows at a time; Metal allows at most {MAX_THREADGROUP_BYTES} (32 KiB): use smaller BLOCK sizes (line {})",
                8 * n * 4,
                loc.line
            ))
        })
    }

    /// Declares the fragments `name[tm * tn]` and fills them from block `v` [M, N]
    /// (a 2-D value outside any batch loop).
    pub(crate) fn frags_from_value(&mut self, name: &str, plan: &MmaPlan, v: ValueId, m: u32, n: u32, loc: tm_ir::Loc) -> R<()> {
        let rc = self.row_chunk(m, n, loc)?;
        self.frags_in(name, plan, v, None, m, n, rc)
    }

    /// Declares the fragments `name[tm * tn]` and fills them from `v` ([M, N], or
    /// batch `bvar` of [B, M, N]), `rc` rows at a time.
    #[allow(clippy::too_many_arguments)]
    fn frags_in(&mut self, name: &str, plan: &MmaPlan, v: ValueId, bvar: Option<&str>, m: u32, n: u32, rc: u32) -> R<()> {
        let frags = plan.tm * plan.tn;
        self.line(format!("simdgroup_float8x8 {name}[{frags}];"));
        self.frags_fill(name, plan, v, bvar, m, n, rc)
    }

    /// Fills the declared fragments `name` from `v` (see [`Self::frags_in`]).
    #[allow(clippy::too_many_arguments)]
    fn frags_fill(&mut self, name: &str, plan: &MmaPlan, v: ValueId, bvar: Option<&str>, m: u32, n: u32, rc: u32) -> R<()> {
        let frags = plan.tm * plan.tn;
        match self.repr(v).clone() {
            Repr::Splat(s) | Repr::Scalar(s) => {
                self.line(format!("for (uint f = 0; f < {frags}u; ++f) {name}[f] = make_filled_simdgroup_matrix<float, 8, 8>((float)({s}));"));
            }
            Repr::Array { .. } => {
                self.smem_bytes = self.smem_bytes.max(rc * n * 4);
                let r0 = self.open_chunks("tm_r0", m, rc);
                self.barrier_before_smem_write();
                let mut win: Vec<Win> = bvar.iter().map(|b| Win::at(b.to_string(), 1)).collect();
                win.extend([Win::span(&r0, rc, m), Win::all(n)]);
                self.stage(v, "0u", "float", &win);
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                if rc == m && bvar.is_none() {
                    self.retire_staged(&[v]);
                }
                self.frags_load(name, plan, &r0, n, rc);
                self.close_chunks(m, rc);
            }
        }
        Ok(())
    }

    /// Loads the fragments `name` in rows `[r0, r0 + rc)` from the float band staged
    /// row-major at the start of threadgroup memory.
    fn frags_load(&mut self, name: &str, plan: &MmaPlan, r0: &str, n: u32, rc: u32) {
        let (wn, tm, tn, active) = (plan.wn, plan.tm, plan.tn, plan.active);
        self.line(format!(
            "if (tm_sg < {active}u) for (uint i = 0; i < {tm}u; ++i) {{ const uint tr = ((tm_sg / {wn}u) * {tm}u + i) * 8u - {r0}; if (tr < {rc}u) for (uint j = 0; j < {tn}u; ++j) simdgroup_load({name}[i * {tn}u + j], ((threadgroup float*)tm_smem) + tr * {n}u + ((tm_sg % {wn}u) * {tn}u + j) * 8u, {n}); }}"
        ));
    }

    /// `c += a @ b` on the fragments `c` (batch `bvar` of 3-D operands), with a
    /// and b staged in their own precision (see [`mma_operand`]) `kc` columns of K
    /// at a time. `acc_in`: a block accumulator [M, N] (whole K in one chunk) to
    /// fill `c` from first, staged in the same phase as the operands where they fit
    /// together (one barrier pair less than staging it on its own).
    #[allow(clippy::too_many_arguments)]
    fn mma_k_loop(&mut self, c: &str, plan: &MmaPlan, a: ValueId, b: ValueId, bvar: Option<&str>, m: u32, n: u32, k: u32, kc: u32, acc_in: Option<ValueId>) -> R<()> {
        let (wn, tm, tn, active) = (plan.wn, plan.tm, plan.tn, plan.active);
        let (at, ab) = mma_operand(self.f.ty(a).dtype().unwrap_or(DType::F32));
        let (bt, bb) = mma_operand(self.f.ty(b).dtype().unwrap_or(DType::F32));
        let acc_in_requested = acc_in;
        // The B slice starts 16-byte aligned after the A slice.
        let b_off = (m * kc * ab).next_multiple_of(16);
        let single = (b_off + kc * n * bb).next_multiple_of(16);
        // Double buffering: a dot that stages more than once (in a loop, or K in
        // chunks) alternates between two buffers of its own above the rest of
        // threadgroup memory, so a staging needs no barrier before it: the readers
        // of this buffer's previous contents (two stagings ago) all passed the
        // barrier after the staging in between. One barrier per K step.
        let seq = self.dot_seq;
        self.dot_seq += 1;
        // The accumulator goes at the start, the operands after it (or in their double buffers).
        let acc_bytes = (m * n * 4).next_multiple_of(16);
        let merged_single = acc_in.is_some() && kc == k && acc_bytes + single <= MAX_THREADGROUP_BYTES;
        let candidate = !self.active_loops.is_empty() || kc < k;
        if candidate {
            self.dbuf_candidates.push((seq, if merged_single { acc_bytes + single } else { single }, 2 * single));
        }
        let dbuf = candidate && self.dbuf_allow.as_ref().is_none_or(|a| a.contains(&seq));
        let dbuf_at = self.dbuf_bytes;
        let acc_in = acc_in.filter(|_| kc == k && (dbuf || acc_bytes + single <= MAX_THREADGROUP_BYTES));
        if acc_in.is_none() {
            if let Some(v) = acc_in_requested {
                self.frags_fill(c, plan, v, bvar, m, n, m)?;
            }
        }
        let base = if dbuf {
            self.dbuf_bytes += 2 * single;
            self.prologue.push(format!("uint tm_db{seq} = 0u;"));
            format!("tm_o{seq}")
        } else if acc_in.is_some() {
            self.smem_bytes = self.smem_bytes.max(acc_bytes + single);
            format!("{acc_bytes}u")
        } else {
            self.smem_bytes = self.smem_bytes.max(b_off + kc * n * bb);
            "0u".to_string()
        };
        if let Some(v) = acc_in {
            self.smem_bytes = self.smem_bytes.max(acc_bytes);
            self.barrier_before_smem_write();
            let mut win: Vec<Win> = bvar.iter().map(|b| Win::at(b.to_string(), 1)).collect();
            win.extend([Win::all(m), Win::all(n)]);
            self.stage(v, "0u", "float", &win);
        }
        let aptr = format!("((threadgroup {at}*)(tm_smem + {base}))");
        let bptr = format!("((threadgroup {bt}*)(tm_smem + {base} + {b_off}u))");
        let k0 = self.open_chunks("tm_k0", k, kc);
        if dbuf {
            self.line(format!("const uint tm_o{seq} = TM_DBUF_BASE + {dbuf_at}u + tm_db{seq} * {single}u;"));
            self.uses_sync = true;
        } else if acc_in.is_none() {
            self.barrier_before_smem_write();
        }
        let mut wa: Vec<Win> = bvar.iter().map(|v| Win::at(v.to_string(), 1)).collect();
        let mut wb = wa.clone();
        wa.extend([Win::all(m), Win::span(&k0, kc, k)]);
        wb.extend([Win::span(&k0, kc, k), Win::all(n)]);
        self.stage(a, &base, at, &wa);
        self.stage(b, &format!("{base} + {b_off}u"), bt, &wb);
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        if kc == k && bvar.is_none() {
            let staged: Vec<ValueId> = [a, b].into_iter().chain(acc_in).collect();
            self.retire_staged(&staged);
        }
        if acc_in.is_some() {
            self.frags_load(c, plan, "0u", n, m);
        }
        self.line(format!("if (tm_sg < {active}u) {{"));
        self.depth += 1;
        self.line(format!("for (uint kk = 0; kk < {kc}u; kk += 8u) {{"));
        self.depth += 1;
        self.line(format!("simdgroup_matrix<{at}, 8, 8> ma[{tm}];"));
        self.line(format!("simdgroup_matrix<{bt}, 8, 8> mb[{tn}];"));
        self.line(format!("for (uint i = 0; i < {tm}u; ++i) simdgroup_load(ma[i], {aptr} + ((tm_sg / {wn}u) * {tm}u + i) * 8u * {kc}u + kk, {kc});"));
        self.line(format!("for (uint j = 0; j < {tn}u; ++j) simdgroup_load(mb[j], {bptr} + kk * {n}u + ((tm_sg % {wn}u) * {tn}u + j) * 8u, {n});"));
        self.line(format!(
            "for (uint i = 0; i < {tm}u; ++i) for (uint j = 0; j < {tn}u; ++j) simdgroup_multiply_accumulate({c}[i * {tn}u + j], ma[i], mb[j], {c}[i * {tn}u + j]);"
        ));
        self.depth -= 1;
        self.line("}");
        self.depth -= 1;
        self.line("}");
        if dbuf {
            self.line(format!("tm_db{seq} ^= 1u;"));
        }
        self.close_chunks(k, kc);
        Ok(())
    }

    /// Moves the fragments `c` into a new register array for `res` (its layout).
    pub(crate) fn frags_to_array(&mut self, c: &str, plan: &MmaPlan, res: ValueId, m: u32, n: u32, loc: tm_ir::Loc) -> R<()> {
        let rc = self.row_chunk(m, n, loc)?;
        let out_d = self.f.ty(res).dtype().ok_or_else(|| unsupported("tl.dot of pointers", loc))?;
        let out_t = crate::emit::tname(out_d, loc)?;
        let l = self.layout_for(res);
        let regs = self.layouts[l].regs();
        let name = format!("v{}", res.0);
        self.line(format!("{out_t} {name}[{regs}];"));
        self.count_private(regs, self.f.ty(res).elem);
        self.frags_out(c, plan, &name, l, out_t, None, m, n, rc);
        self.reprs.insert(res, Repr::Array { name, layout: l });
        Ok(())
    }

    /// Stores the fragments `c` into the register array `name` (layout `l`; batch
    /// `bvar` of a 3-D result), `rc` rows at a time through threadgroup memory.
    #[allow(clippy::too_many_arguments)]
    fn frags_out(&mut self, c: &str, plan: &MmaPlan, name: &str, l: usize, out_t: &str, bvar: Option<&str>, m: u32, n: u32, rc: u32) {
        let (wn, tm, tn, active) = (plan.wn, plan.tm, plan.tn, plan.active);
        self.smem_bytes = self.smem_bytes.max(rc * n * 4);
        let r0 = self.open_chunks("tm_r0", m, rc);
        self.smem_barrier();
        self.line(format!(
            "if (tm_sg < {active}u) for (uint i = 0; i < {tm}u; ++i) {{ const uint tr = ((tm_sg / {wn}u) * {tm}u + i) * 8u - {r0}; if (tr < {rc}u) for (uint j = 0; j < {tn}u; ++j) simdgroup_store({c}[i * {tn}u + j], ((threadgroup float*)tm_smem) + tr * {n}u + ((tm_sg % {wn}u) * {tn}u + j) * 8u, {n}); }}"
        ));
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        let mut win: Vec<Win> = bvar.iter().map(|b| Win::at(b.to_string(), 1)).collect();
        win.extend([Win::span(&r0, rc, m), Win::all(n)]);
        self.unstage(name, l, out_t, "float", &win);
        self.close_chunks(m, rc);
    }
}

/// The MSL type and byte size a float `tl.dot` operand of type `d` is staged and
/// multiplied in: half and bfloat stay 16-bit (Apple's matrix units multiply them
/// into float accumulators, as Triton's fp16/bf16 dot with fp32 accumulation);
/// anything else is float.
fn mma_operand(d: DType) -> (&'static str, u32) {
    match d {
        DType::F16 => ("half", 2),
        DType::BF16 => ("bfloat", 2),
        _ => ("float", 4),
    }
}

/// The MSL type and byte size an integer `tl.dot` operand is staged in (its own).
fn int_operand(d: DType) -> (&'static str, u32) {
    match d {
        DType::I8 => ("char", 1),
        DType::U8 => ("uchar", 1),
        DType::I16 => ("short", 2),
        DType::U16 => ("ushort", 2),
        _ => ("int", 4),
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
