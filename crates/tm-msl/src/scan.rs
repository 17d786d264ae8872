//! Scans, sorting, flipping and histograms, in threadgroup memory:
//! - scans: in registers where they can be (`scan_regs.rs`), otherwise Hillis-Steele, log2(n) double-buffered steps with a barrier each,
//!   the combine region inlined (left operand first, so non-commutative
//!   combines keep their order);
//! - sort: a bitonic network along the last dim;
//! - flip: a staged reversal; histogram: threadgroup atomics.

use crate::emit::{elem_decl, unsupported, Emitter, R};
use tm_ir::{Elem, Op, OpKind};

impl Emitter<'_> {
    pub(crate) fn scan_like_op(&mut self, op: &Op) -> R<()> {
        let loc = op.loc;
        let threads = self.num_warps * 32;
        let x = op.operands[0];
        let ty = self.f.ty(x).clone();
        let numel = ty.numel() as u32;
        let shape = ty.shape.clone();
        match &op.kind {
            OpKind::Scan { axis, reverse } => {
                if !*reverse && self.scan_in_registers(op, *axis as usize)? {
                    return Ok(());
                }
                let n = op.operands.len();
                let axis = *axis as usize;
                let strides = Self::strides(&shape);
                let (len, st) = (shape[axis], strides[axis] as u32);
                let mut bufs = vec![];
                let mut off = 0u32;
                for &v in &op.operands {
                    let d = self.f.ty(v).dtype().ok_or_else(|| unsupported("scanning pointers", loc))?;
                    let t = elem_decl(Elem::Scalar(d), loc)?;
                    let a = format!("((threadgroup {t}*)(tm_smem + {off}u))");
                    off = (off + numel * d.size_bytes()).next_multiple_of(16);
                    let b = format!("((threadgroup {t}*)(tm_smem + {off}u))");
                    off = (off + numel * d.size_bytes()).next_multiple_of(16);
                    bufs.push((a, b, t));
                }
                self.smem_bytes = self.smem_bytes.max(off);
                self.barrier_before_smem_write();
                for (i, &v) in op.operands.iter().enumerate() {
                    let dst = bufs[i].0.clone();
                    self.write_staged_at(v, &dst, &|_, lin| lin.to_string());
                }
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                let region = op.regions[0].clone();
                let mut cur = 0usize;
                let mut step = 1u32;
                while step < len {
                    let (src, dst): (Vec<String>, Vec<String>) =
                        bufs.iter().map(|(a, b, _)| if cur == 0 { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) }).unzip();
                    self.line(format!("for (uint e = tm_tid; e < {numel}u; e += {threads}u) {{"));
                    self.depth += 1;
                    self.line(format!("const uint c = (e / {st}u) % {len}u;"));
                    let (cond, partner) = if *reverse {
                        (format!("c + {step}u < {len}u"), format!("e + {}u", step * st))
                    } else {
                        (format!("c >= {step}u"), format!("e - {}u", step * st))
                    };
                    self.line(format!("if ({cond}) {{"));
                    self.depth += 1;
                    for i in 0..n {
                        self.line(format!("{}[e] = {}[{partner}];", dst[i], src[i]));
                    }
                    let acc: Vec<String> = dst.iter().map(|d| format!("{d}[e]")).collect();
                    let other: Vec<String> = src.iter().map(|s| format!("{s}[e]")).collect();
                    self.combine_inline(&region, &acc, &other)?;
                    self.depth -= 1;
                    self.line("} else {");
                    for i in 0..n {
                        self.line(format!("    {}[e] = {}[e];", dst[i], src[i]));
                    }
                    self.line("}");
                    self.depth -= 1;
                    self.line("}");
                    self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                    cur ^= 1;
                    step *= 2;
                }
                for (i, &res) in op.results.iter().enumerate() {
                    let src = if cur == 0 { bufs[i].0.clone() } else { bufs[i].1.clone() };
                    self.read_staged_at(res, &src, &|lin| lin.to_string(), loc)?;
                }
            }
            OpKind::Sort { .. } | OpKind::Flip => {
                let d = ty.dtype().ok_or_else(|| unsupported("sorting pointers", loc))?;
                let t = elem_decl(Elem::Scalar(d), loc)?;
                let buf = format!("((threadgroup {t}*)tm_smem)");
                let len = *shape.last().expect("blocks have a last dim");
                self.smem_bytes = self.smem_bytes.max((numel * d.size_bytes()).next_multiple_of(16));
                self.barrier_before_smem_write();
                self.write_staged_at(x, &buf, &|_, lin| lin.to_string());
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                if let OpKind::Sort { descending } = op.kind {
                    // Bitonic network: for each (k, j), element i exchanges with i ^ j.
                    let mut k = 2u32;
                    while k <= len {
                        let mut j = k / 2;
                        while j > 0 {
                            self.line(format!("for (uint e = tm_tid; e < {numel}u; e += {threads}u) {{"));
                            self.depth += 1;
                            self.line(format!("const uint i = e % {len}u; const uint p = i ^ {j}u;"));
                            self.line("if (p > i) {");
                            self.line(format!("    const {t} a = {buf}[e]; const {t} b = {buf}[e - i + p];"));
                            let up = if descending { format!("((i & {k}u) != 0u)") } else { format!("((i & {k}u) == 0u)") };
                            self.line(format!("    if ((a > b) == {up}) {{ {buf}[e] = b; {buf}[e - i + p] = a; }}"));
                            self.line("}");
                            self.depth -= 1;
                            self.line("}");
                            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                            j /= 2;
                        }
                        k *= 2;
                    }
                    self.read_staged_at(op.results[0], &buf, &|lin| lin.to_string(), loc)?;
                } else {
                    self.read_staged_at(op.results[0], &buf, &|lin| format!("(({lin}) / {len}u) * {len}u + ({len}u - 1u - ({lin}) % {len}u)"), loc)?;
                }
            }
            OpKind::Histogram { bins } => {
                let bins = *bins;
                let counters = "((threadgroup atomic_int*)tm_smem)";
                self.smem_bytes = self.smem_bytes.max((bins * 4).next_multiple_of(16));
                self.barrier_before_smem_write();
                self.line(format!("for (uint i = tm_tid; i < {bins}u; i += {threads}u) atomic_store_explicit(&{counters}[i], 0, memory_order_relaxed);"));
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                let l = self.layout_for(x);
                let xr = self.get(x, l)?;
                let regs = self.layouts[l].regs();
                let v = Self::at(&xr, "r");
                self.line(format!(
                    "for (uint r = 0; r < {regs}u; ++r) if (L{l}_own && {v} >= 0 && {v} < {bins}) atomic_fetch_add_explicit(&{counters}[{v}], 1, memory_order_relaxed);"
                ));
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                self.read_staged_at(op.results[0], "((threadgroup int*)tm_smem)", &|lin| lin.to_string(), loc)?;
            }
            _ => return Err(unsupported("internal: not a scan-like op", loc)),
        }
        Ok(())
    }
}
