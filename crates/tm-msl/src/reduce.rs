//! `Reduce`: within each thread over its registers along the axis, then across
//! the lanes of a simdgroup (`simd_sum`-style functions when one simdgroup
//! spans the axis, `simd_shuffle_xor` butterflies otherwise), then across
//! simdgroups through threadgroup memory. The result has the input's layout
//! with the axis removed (Triton's slice layout): every thread that held part
//! of a row holds the row's result, so `x.sum(1)[:, None]` moves no data.

use crate::emit::{elem_decl, tname, unsupported, Emitter, Repr, R};
use crate::layout::Layout;
use tm_ir::{BinOp, DType, Op, OpKind, Region, ValueId};

/// Values the yield of a combine region assigns to (synthetic ids, far from real ones).
fn slot(i: usize) -> ValueId {
    ValueId(u32::MAX - 1 - i as u32)
}

impl Emitter<'_> {
    /// Emits `acc_i = combine(acc_i, other_i)` (for scans).
    pub(crate) fn combine_inline(&mut self, region: &Region, acc: &[String], other: &[String]) -> R<()> {
        self.combine(region, acc, other)
    }

    /// Emits `acc_i = combine(acc_i, other_i)` for all operands, in its own scope.
    fn combine(&mut self, region: &Region, acc: &[String], other: &[String]) -> R<()> {
        let n = acc.len();
        for i in 0..n {
            self.reprs.insert(region.args[i], Repr::Scalar(acc[i].clone()));
            self.reprs.insert(region.args[n + i], Repr::Scalar(other[i].clone()));
            self.reprs.insert(slot(i), Repr::Scalar(acc[i].clone()));
        }
        self.line("{");
        self.depth += 1;
        self.yield_targets.push((0..n).map(slot).collect());
        let r = self.region(&region.ops);
        self.yield_targets.pop();
        self.leave_scope();
        self.depth -= 1;
        self.line("}");
        r
    }

    /// The simdgroup function for a combine that is a single supported binary op.
    fn simd_function(&self, region: &Region, d: DType) -> Option<&'static str> {
        if region.ops.len() != 2 || !matches!(d, DType::F32 | DType::F16 | DType::I32 | DType::U32) {
            return None;
        }
        let op = self.f.op(region.ops[0]);
        let n = region.args.len() / 2;
        if n != 1 || op.operands != [region.args[0], region.args[1]] {
            return None;
        }
        let y = self.f.op(region.ops[1]);
        if y.operands != op.results {
            return None;
        }
        match op.kind {
            OpKind::Binary(BinOp::Add) => Some("simd_sum"),
            OpKind::Binary(BinOp::Max) => Some("simd_max"),
            OpKind::Binary(BinOp::Min) => Some("simd_min"),
            OpKind::Binary(BinOp::And) if d.is_int() => Some("simd_and"),
            OpKind::Binary(BinOp::Or) if d.is_int() => Some("simd_or"),
            OpKind::Binary(BinOp::Xor) if d.is_int() => Some("simd_xor"),
            _ => None,
        }
    }

    /// A barrier before writing threadgroup memory, unless nothing can have used it yet.
    pub(crate) fn barrier_before_smem_write(&mut self) {
        if self.smem_touched || self.depth > 1 {
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        }
        self.smem_touched = true;
        self.uses_sync = true;
    }

    pub(crate) fn reduce_op(&mut self, op: &Op, axis: u32) -> R<()> {
        let loc = op.loc;
        let n = op.operands.len();
        let region = &op.regions[0];
        let in_l = self.layout_for(op.operands[0]);
        let lin = self.layouts[in_l].clone();
        let fd = lin.embed[axis as usize];
        let mut out_eshape = lin.eshape.clone();
        out_eshape[fd] = 1;
        let mut out_embed = lin.embed.clone();
        out_embed.remove(axis as usize);
        let lout = Layout { family: lin.family.clone(), eshape: out_eshape, embed: out_embed };
        let out_l = self.intern(lout.clone());
        let (ind, outd) = (lin.dims(), lout.dims());
        let regs_out = lout.regs();
        let fam = &lin.family;

        let mut inputs = vec![];
        let mut dtypes = vec![];
        for &v in &op.operands {
            inputs.push(self.get(v, in_l)?);
            dtypes.push(self.f.ty(v).dtype().ok_or_else(|| unsupported("reducing pointers", loc))?);
        }
        let id = op.results[0].0;
        let accs: Vec<String> = (0..n).map(|i| format!("v{id}_acc{i}")).collect();

        // 1. Within the thread: registers along the axis.
        let rin = |k: &str| -> String {
            let mut terms = vec![];
            for d in 0..lin.eshape.len() {
                if d == fd {
                    if ind[d].regs > 1 {
                        terms.push(format!("{k} * {}u", ind[d].reg_stride));
                    }
                } else if ind[d].regs > 1 {
                    terms.push(format!("((q / {}u) % {}u) * {}u", outd[d].reg_stride, outd[d].regs, ind[d].reg_stride));
                }
            }
            if terms.is_empty() {
                "0u".to_string()
            } else {
                terms.join(" + ")
            }
        };
        for i in 0..n {
            let t = tname(dtypes[i], loc)?;
            self.line(format!("{t} {}[{regs_out}];", accs[i]));
        }
        self.line(format!("for (uint q = 0; q < {regs_out}u; ++q) {{"));
        self.depth += 1;
        for i in 0..n {
            let first = Self::at(&inputs[i], &rin("0u"));
            self.line(format!("{}[q] = {first};", accs[i]));
        }
        if ind[fd].regs > 1 {
            self.line(format!("for (uint k = 1; k < {}u; ++k) {{", ind[fd].regs));
            self.depth += 1;
            let acc_q: Vec<String> = accs.iter().map(|a| format!("{a}[q]")).collect();
            let others: Vec<String> = inputs.iter().map(|x| Self::at(x, &rin("k"))).collect();
            self.combine(region, &acc_q, &others)?;
            self.depth -= 1;
            self.line("}");
        }
        self.depth -= 1;
        self.line("}");

        // Distinct thread positions along the axis (fewer than the threads when they wrap).
        let distinct = (lin.eshape[fd] / ind[fd].spt).min(ind[fd].threads).max(1);
        let tpw = fam.threads_per_warp[fd];
        let lane_steps = tpw.min(distinct).trailing_zeros();
        let lane_div: u32 = fam.order.iter().take_while(|&&o| o != fd).map(|&o| fam.threads_per_warp[o]).product();

        // 2. Across lanes.
        if lane_steps > 0 {
            self.uses_sync = true;
            let simd = if n == 1 && tpw == 32 && distinct >= 32 { self.simd_function(region, dtypes[0]) } else { None };
            self.line(format!("for (uint q = 0; q < {regs_out}u; ++q) {{"));
            self.depth += 1;
            match simd {
                Some(func) => self.line(format!("{a}[q] = {func}({a}[q]);", a = accs[0])),
                None => {
                    for s in 0..lane_steps {
                        let mask = lane_div << s;
                        let mut others = vec![];
                        for i in 0..n {
                            let t = tname(dtypes[i], loc)?;
                            let o = format!("v{id}_o{i}_{s}");
                            self.line(format!("const {t} {o} = tm_shfl_xor({}[q], (ushort){mask});", accs[i]));
                            others.push(o);
                        }
                        let acc_q: Vec<String> = accs.iter().map(|a| format!("{a}[q]")).collect();
                        self.combine(region, &acc_q, &others)?;
                    }
                }
            }
            self.depth -= 1;
            self.line("}");
        }

        // 3. Across simdgroups, through threadgroup memory.
        let warps = (distinct / tpw.min(distinct)).min(fam.warps_per_cta[fd]);
        if warps > 1 {
            let warp_div: u32 = fam.order.iter().take_while(|&&o| o != fd).map(|&o| fam.warps_per_cta[o]).product();
            let out_shape = lout.shape();
            let numel_out: u32 = out_shape.iter().product::<u32>().max(1);
            // Row-major index of output register q.
            let mut lin_terms = vec![];
            let mut stride = 1u32;
            for i in (0..out_shape.len()).rev() {
                let thr = format!("L{out_l}_t{}", lout.embed[i]);
                lin_terms.push(format!("{} * {stride}u", lout.coord_expr(i, "q", &thr)));
                stride *= out_shape[i];
            }
            let full_idx = if lin_terms.is_empty() { "0u".to_string() } else { lin_terms.join(" + ") };
            // The partial results of `piece` output elements at a time: all of them when they
            // fit in threadgroup memory, else pieces of the output's row-major order.
            let layout_bytes = |count: u32| -> (Vec<u32>, u32) {
                let mut offsets = vec![];
                let mut bytes = 0u32;
                for &d in &dtypes {
                    offsets.push(bytes);
                    bytes = (bytes + warps * count * d.size_bytes()).next_multiple_of(16);
                }
                (offsets, bytes)
            };
            let mut piece = numel_out;
            while piece > 1 && layout_bytes(piece).1 > tm_abi::MAX_THREADGROUP_BYTES {
                piece /= 2;
            }
            let pieces = numel_out.div_ceil(piece);
            let (offsets, bytes) = layout_bytes(piece);
            self.smem_bytes = self.smem_bytes.max(bytes);
            let (out_idx, guard) =
                if pieces > 1 { (format!("({full_idx} - lo)"), format!("if ({full_idx} - lo < {piece}u) ")) } else { (full_idx, String::new()) };
            let numel_out = piece;
            let warp_pos = format!("((tm_sg / {warp_div}u) % {}u)", fam.warps_per_cta[fd]);
            let lane_pos = format!("((tm_lane / {lane_div}u) % {tpw}u)");
            self.barrier_before_smem_write();
            if pieces > 1 {
                self.line(format!("for (uint c = 0; c < {pieces}u; ++c) {{"));
                self.depth += 1;
                self.line(format!("const uint lo = c * {piece}u;"));
                self.line("if (c > 0u) threadgroup_barrier(mem_flags::mem_threadgroup);");
            }
            self.line(format!("if ({lane_pos} == 0u && {warp_pos} < {warps}u) {{"));
            self.depth += 1;
            self.line(format!("for (uint q = 0; q < {regs_out}u; ++q) {guard}{{"));
            for i in 0..n {
                let t = elem_decl(tm_ir::Elem::Scalar(dtypes[i]), loc)?;
                self.line(format!(
                    "    ((threadgroup {t}*)(tm_smem + {}))[{warp_pos} * {numel_out}u + {out_idx}] = {}[q];",
                    offsets[i], accs[i]
                ));
            }
            self.line("}");
            self.depth -= 1;
            self.line("}");
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            // Every thread used all its registers of the inputs (within-thread and simdgroup steps).
            self.retire_loads_feeding(&op.operands);
            self.line(format!("for (uint q = 0; q < {regs_out}u; ++q) {guard}{{"));
            self.depth += 1;
            let read = |i: usize, w: &str| -> R<String> {
                let t = elem_decl(tm_ir::Elem::Scalar(dtypes[i]), loc)?;
                Ok(format!("((threadgroup {t}*)(tm_smem + {}))[{w} * {numel_out}u + {out_idx}]", offsets[i]))
            };
            for i in 0..n {
                let r0 = read(i, "0u")?;
                self.line(format!("{}[q] = {r0};", accs[i]));
            }
            self.line(format!("for (uint w = 1; w < {warps}u; ++w) {{"));
            self.depth += 1;
            let mut others = vec![];
            for i in 0..n {
                let t = tname(dtypes[i], loc)?;
                let o = format!("v{id}_w{i}");
                let r = read(i, "w")?;
                self.line(format!("const {t} {o} = {r};"));
                others.push(o);
            }
            let acc_q: Vec<String> = accs.iter().map(|a| format!("{a}[q]")).collect();
            self.combine(region, &acc_q, &others)?;
            self.depth -= 1;
            self.line("}");
            self.depth -= 1;
            self.line("}");
            if pieces > 1 {
                self.depth -= 1;
                self.line("}");
            }
        }

        for (i, &res) in op.results.iter().enumerate() {
            let repr = if self.f.ty(res).is_block() {
                Repr::Array { name: accs[i].clone(), layout: out_l }
            } else {
                Repr::Scalar(format!("{}[0]", accs[i]))
            };
            self.reprs.insert(res, repr);
        }
        Ok(())
    }
}
