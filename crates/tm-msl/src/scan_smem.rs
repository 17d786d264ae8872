//! Scans through threadgroup memory: reverse scans, and forward ones the register
//! scan (`scan_regs.rs`) does not take. Each line along the axis is scanned
//! Hillis-Steele style, log2(n) double-buffered steps with a barrier each, the
//! combine region inlined with the earlier elements (in scan order) as its left
//! operand, so non-commutative combines keep their order.
//!
//! A block whose buffers do not fit in Metal's 32 KiB is scanned in pieces: a
//! group of lines at a time, and when even one line does not fit, a segment of
//! the axis at a time, in scan order (the last segment first for a reverse
//! scan). Each segment's scan is combined with the carry of the segments before
//! it (one element per line, kept in threadgroup memory), then the carry becomes
//! the segment's last element. The pieces are ranges of a staging order
//! (group, segment in scan order, line in group, position in segment), so the
//! same guarded writes and reads as `shape.rs`'s staging move them.

use crate::emit::{elem_decl, unsupported, Emitter, R};
use tm_ir::{Elem, Op};

/// Threadgroup memory of one piece of `k` lines by `g` positions: per operand
/// (buffer a, buffer b, carry) offsets, and the total bytes.
fn piece_layout(sizes: &[u32], k: u64, g: u64, carries: bool) -> (Vec<(u64, u64, u64)>, u64) {
    let mut off = 0u64;
    let mut offsets = vec![];
    for &s in sizes {
        let a = off;
        off = (off + k * g * u64::from(s)).next_multiple_of(16);
        let b = off;
        off = (off + k * g * u64::from(s)).next_multiple_of(16);
        let c = off;
        if carries {
            off = (off + k * u64::from(s)).next_multiple_of(16);
        }
        offsets.push((a, b, c));
    }
    (offsets, off)
}

impl Emitter<'_> {
    pub(crate) fn scan_in_smem(&mut self, op: &Op, axis: usize, reverse: bool) -> R<()> {
        let loc = op.loc;
        let threads = u64::from(self.num_warps * 32);
        let shape: Vec<u64> = self.f.ty(op.operands[0]).shape.iter().map(|&d| u64::from(d)).collect();
        let numel: u64 = shape.iter().product();
        let len = shape[axis].max(1);
        let lines = (numel / len).max(1);
        let mut types = vec![];
        let mut sizes = vec![];
        for &v in &op.operands {
            let d = self.f.ty(v).dtype().ok_or_else(|| unsupported("scanning pointers", loc))?;
            types.push(elem_decl(Elem::Scalar(d), loc)?);
            sizes.push(d.size_bytes());
        }
        // Whole lines while they fit (fewer lines per piece first), then segments of the axis.
        let limit = u64::from(tm_abi::MAX_THREADGROUP_BYTES);
        let (mut k, mut g) = (lines, len);
        while piece_layout(&sizes, k, g, g < len).1 > limit {
            if k % 2 == 0 {
                k /= 2;
            } else if g % 2 == 0 {
                g /= 2;
            } else {
                break; // odd extents: refused below with the whole need
            }
        }
        let nseg = len / g;
        let piece = k * g;
        let pieces = (lines / k) * nseg;
        let (offsets, bytes) = piece_layout(&sizes, k, g, nseg > 1);
        if bytes > limit {
            return Err(crate::MslError::Resources(format!(
                "scan of a {shape:?} block along an axis of odd length {g} needs {bytes} bytes of threadgroup memory; Metal allows at most {} (32 KiB) (line {})",
                tm_abi::MAX_THREADGROUP_BYTES,
                loc.line
            )));
        }
        self.smem_bytes = self.smem_bytes.max(u32::try_from(bytes).unwrap_or(u32::MAX));
        let buf = |i: usize, off: u64| format!("((threadgroup {}*)(tm_smem + {off}u))", types[i]);
        let bufs: Vec<(String, String, String)> =
            offsets.iter().enumerate().map(|(i, &(a, b, c))| (buf(i, a), buf(i, b), buf(i, c))).collect();

        // Staging index of the element at `coords`: (group, segment in scan order) picks the
        // piece, (line in group, position in segment) the place in it.
        let rank = shape.len();
        let mut line_terms = vec![];
        let mut stride = 1u64;
        for i in (0..rank).rev() {
            if i != axis {
                line_terms.push((i, stride));
                stride *= shape[i];
            }
        }
        let stage_index = move |c: &[String]| -> String {
            let m = if line_terms.is_empty() {
                "0u".to_string()
            } else {
                line_terms.iter().map(|&(i, s)| format!("({}) * {s}u", c[i])).collect::<Vec<_>>().join(" + ")
            };
            let pos = &c[axis];
            let mut terms = vec![];
            if k < lines || nseg > 1 {
                let seg = if nseg == 1 {
                    "0u".to_string()
                } else if reverse {
                    format!("({}u - ({pos}) / {g}u)", nseg - 1)
                } else {
                    format!("(({pos}) / {g}u)")
                };
                terms.push(format!("((({m}) / {k}u) * {nseg}u + {seg}) * {piece}u"));
            }
            let within = if k < lines { format!("(({m}) % {k}u)") } else { format!("({m})") };
            terms.push(format!("{within} * {g}u"));
            terms.push(if nseg > 1 { format!("(({pos}) % {g}u)") } else { format!("({pos})") });
            terms.join(" + ")
        };
        let strides = Self::strides(&self.f.ty(op.operands[0]).shape);
        let shape_of = shape.clone();
        let from_linear = move |lin: &str| -> Vec<String> {
            (0..rank).map(|i| format!("(({lin}) / {}u) % {}u", strides[i], shape_of[i])).collect()
        };

        self.barrier_before_smem_write();
        self.open_pieces(&op.results, piece, pieces, loc)?;
        let scanned = self.scan_piece(op, &bufs, (piece, g, nseg, threads), reverse, &stage_index, &from_linear);
        self.close_pieces(pieces);
        scanned
    }

    /// One piece of [`Self::scan_in_smem`] (the whole block when it fits): staged writes,
    /// the scan of each segment, the carry in, the reads and the carry out.
    #[allow(clippy::too_many_arguments)]
    fn scan_piece(
        &mut self,
        op: &Op,
        bufs: &[(String, String, String)],
        (piece, g, nseg, threads): (u64, u64, u64, u64),
        reverse: bool,
        stage_index: &dyn Fn(&[String]) -> String,
        from_linear: &dyn Fn(&str) -> Vec<String>,
    ) -> R<()> {
        let loc = op.loc;
        let n = op.operands.len();
        for (i, &v) in op.operands.iter().enumerate() {
            self.write_staged_at(v, &bufs[i].0, &|c, _| stage_index(c));
        }
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        let region = op.regions[0].clone();
        let mut cur = 0usize;
        let mut step = 1u64;
        while step < g {
            let (src, dst): (Vec<String>, Vec<String>) =
                bufs.iter().map(|(a, b, _)| if cur == 0 { (a.clone(), b.clone()) } else { (b.clone(), a.clone()) }).unzip();
            self.line(format!("for (uint e = tm_tid; e < {piece}u; e += {threads}u) {{"));
            self.depth += 1;
            self.line(format!("const uint cc = e % {g}u;"));
            let (cond, partner) =
                if reverse { (format!("cc + {step}u < {g}u"), format!("e + {step}u")) } else { (format!("cc >= {step}u"), format!("e - {step}u")) };
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
        let result: Vec<String> = bufs.iter().map(|(a, b, _)| if cur == 0 { a.clone() } else { b.clone() }).collect();
        let id = op.results[0].0;
        if nseg > 1 {
            // The segments before this one (in scan order) come first: carry = their scan.
            self.line(format!("if (pc % {nseg}u != 0u) {{"));
            self.depth += 1;
            self.line(format!("for (uint e = tm_tid; e < {piece}u; e += {threads}u) {{"));
            self.depth += 1;
            let acc: Vec<String> = (0..n).map(|i| format!("v{id}_k{i}")).collect();
            for i in 0..n {
                let t = elem_decl(Elem::Scalar(self.f.ty(op.operands[i]).dtype().expect("checked")), loc)?;
                self.line(format!("{t} {} = {}[e / {g}u];", acc[i], bufs[i].2));
            }
            let other: Vec<String> = result.iter().map(|r| format!("{r}[e]")).collect();
            self.combine_inline(&region, &acc, &other)?;
            for i in 0..n {
                self.line(format!("{}[e] = {};", result[i], acc[i]));
            }
            self.depth -= 1;
            self.line("}");
            self.depth -= 1;
            self.line("}");
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        }
        for (i, &res) in op.results.iter().enumerate() {
            self.read_staged_at(res, &result[i], &|lin| stage_index(&from_linear(lin)), loc)?;
        }
        if nseg > 1 {
            // Read only above; the next piece's barrier orders these writes before their use.
            let last = if reverse { 0 } else { g - 1 };
            let lines = piece / g;
            for i in 0..n {
                self.line(format!(
                    "for (uint e = tm_tid; e < {lines}u; e += {threads}u) {}[e] = {}[e * {g}u + {last}u];",
                    bufs[i].2, result[i]
                ));
            }
        }
        Ok(())
    }
}
