//! Scans, sorting, flipping and histograms, in threadgroup memory:
//! - scans: in registers where they can be (`scan_regs.rs`), otherwise through
//!   threadgroup memory, in pieces when the block does not fit (`scan_smem.rs`);
//! - sort: a bitonic network along the last dim;
//! - flip: a staged reversal; histogram: threadgroup atomics;
//! - gather: src staged, each result element read at its index.

use crate::emit::{elem_decl, unsupported, Emitter, Repr, R};
use tm_abi::MAX_THREADGROUP_BYTES;
use tm_ir::{Elem, Op, OpKind, ValueId};

impl Emitter<'_> {
    pub(crate) fn scan_like_op(&mut self, op: &Op) -> R<()> {
        let loc = op.loc;
        let threads = self.num_warps * 32;
        let x = op.operands[0];
        let ty = self.f.ty(x).clone();
        let numel = ty.numel();
        let shape = ty.shape.clone();
        match &op.kind {
            OpKind::Scan { axis, reverse } => {
                if !*reverse && self.scan_in_registers(op, *axis as usize)? {
                    return Ok(());
                }
                self.scan_in_smem(op, *axis as usize, *reverse)?;
            }
            OpKind::Sort { .. } | OpKind::Flip => {
                let d = ty.dtype().ok_or_else(|| unsupported("sorting pointers", loc))?;
                let t = elem_decl(Elem::Scalar(d), loc)?;
                let buf = format!("((threadgroup {t}*)tm_smem)");
                let len = u64::from(*shape.last().expect("blocks have a last dim"));
                // In pieces of the row-major order when the block does not fit: whole rows
                // for a sort (rows sort independently); any range for a flip (each read
                // takes its element from whichever piece holds it).
                let fit = u64::from(MAX_THREADGROUP_BYTES / d.size_bytes());
                let mut piece = numel;
                if matches!(op.kind, OpKind::Sort { .. }) {
                    while piece > len && piece > fit && (piece / len) % 2 == 0 {
                        piece /= 2;
                    }
                } else if piece > fit {
                    piece = fit;
                }
                if piece * u64::from(d.size_bytes()) > u64::from(MAX_THREADGROUP_BYTES) {
                    return Err(crate::MslError::Resources(format!(
                        "tl.sort of rows of {len} {d} elements needs {} bytes of threadgroup memory for one row; Metal allows at most {MAX_THREADGROUP_BYTES} (32 KiB): sort shorter rows (line {})",
                        len * u64::from(d.size_bytes()),
                        loc.line
                    )));
                }
                let pieces = numel.div_ceil(piece);
                self.smem_bytes = self.smem_bytes.max(u32::try_from((piece * u64::from(d.size_bytes())).next_multiple_of(16)).unwrap_or(u32::MAX));
                self.barrier_before_smem_write();
                self.open_pieces(&op.results, piece, pieces, loc)?;
                self.write_staged_at(x, &buf, &|_, lin| lin.to_string());
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                if let OpKind::Sort { descending } = op.kind {
                    // Bitonic network: for each (k, j), element i exchanges with i ^ j.
                    let mut k = 2u64;
                    while k <= len {
                        let mut j = k / 2;
                        while j > 0 {
                            self.line(format!("for (uint e = tm_tid; e < {piece}u; e += {threads}u) {{"));
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
                self.close_pieces(pieces);
            }
            OpKind::Histogram { bins } => {
                // In pieces of the bins when their counters do not fit.
                let bins = u64::from(*bins);
                let piece = bins.min(u64::from(MAX_THREADGROUP_BYTES / 4));
                let pieces = bins.div_ceil(piece);
                let counters = "((threadgroup atomic_int*)tm_smem)";
                self.smem_bytes = self.smem_bytes.max((piece as u32 * 4).next_multiple_of(16));
                self.barrier_before_smem_write();
                let l = self.layout_for(x);
                let xr = self.get(x, l)?;
                self.open_pieces(&op.results, piece, pieces, loc)?;
                self.line(format!("for (uint i = tm_tid; i < {piece}u; i += {threads}u) atomic_store_explicit(&{counters}[i], 0, memory_order_relaxed);"));
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                let regs = self.layouts[l].regs();
                let v = Self::at(&xr, "r");
                let (slot, range) = if pieces > 1 {
                    (format!("(uint)({v}) - lo"), format!(" && (uint)({v}) - lo < {piece}u"))
                } else {
                    (v.clone(), String::new())
                };
                self.line(format!(
                    "for (uint r = 0; r < {regs}u; ++r) if (L{l}_own && {v} >= 0 && {v} < {bins}{range}) atomic_fetch_add_explicit(&{counters}[{slot}], 1, memory_order_relaxed);"
                ));
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                self.read_staged_at(op.results[0], "((threadgroup int*)tm_smem)", &|lin| lin.to_string(), loc)?;
                self.close_pieces(pieces);
            }
            OpKind::Gather { axis } => {
                // src staged row-major (in pieces of that order when it does not fit); each
                // result register reads src at its own coordinates with the index along `axis`.
                let axis = *axis as usize;
                let d = ty.dtype().ok_or_else(|| unsupported("gathering pointers", loc))?;
                let t = elem_decl(Elem::Scalar(d), loc)?;
                let buf = format!("((threadgroup {t}*)tm_smem)");
                let piece = numel.min(u64::from(MAX_THREADGROUP_BYTES / d.size_bytes())).max(1);
                let pieces = numel.div_ceil(piece);
                self.smem_bytes = self.smem_bytes.max((piece as u32 * d.size_bytes()).next_multiple_of(16));
                let res = op.results[0];
                let rty = self.f.ty(res).clone();
                let l = self.layout_for(res);
                let index = self.get(op.operands[1], l)?;
                let name = format!("v{}", res.0);
                let regs = self.declare_array(&name, &rty, l, loc)?;
                let zero = crate::dialect::literal(tm_ir::Const::Int(0), d);
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {zero};"));
                self.reprs.insert(res, Repr::Array { name: name.clone(), layout: l });
                let lay = self.layouts[l].clone();
                let strides = Self::strides(&shape);
                let mut terms = vec![];
                for (i, st) in strides.iter().enumerate() {
                    let c = if i == axis { "(uint)ix".to_string() } else { lay.coord_expr(i, "r", &format!("L{l}_t{}", lay.embed[i])) };
                    terms.push(format!("({c}) * {st}u"));
                }
                let n = shape[axis];
                self.barrier_before_smem_write();
                self.open_pieces(&[], piece, pieces, loc)?;
                self.write_staged_at(x, &buf, &|_, lin| lin.to_string());
                self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
                let ix = Self::at(&index, "r");
                let lo = if pieces > 1 { "lo" } else { "0u" };
                self.line(format!("for (uint r = 0; r < {regs}u; ++r) {{"));
                self.line(format!("    const auto ix = {ix};"));
                self.line(format!(
                    "    if (ix >= 0 && ix < {n}) {{ const uint si = {}; if (si - {lo} < {piece}u) {name}[r] = {buf}[si - {lo}]; }}",
                    terms.join(" + ")
                ));
                self.line("}");
                self.close_pieces(pieces);
            }
            _ => return Err(unsupported("internal: not a scan-like op", loc)),
        }
        Ok(())
    }

    /// Opens the loop over `pieces` pieces of `piece` elements of a staging order (nothing
    /// when there is one): `results` are declared before it, `lo` is the piece's first
    /// index, and the staged writes and reads (`shape.rs`) keep to the piece.
    pub(crate) fn open_pieces(&mut self, results: &[ValueId], piece: u64, pieces: u64, loc: tm_ir::Loc) -> R<()> {
        if pieces <= 1 {
            return Ok(());
        }
        for &r in results {
            let ty = self.f.ty(r).clone();
            let l = self.layout_for(r);
            let name = format!("v{}", r.0);
            self.declare_array(&name, &ty, l, loc)?;
            self.reprs.insert(r, Repr::Array { name, layout: l });
        }
        self.line(format!("for (uint pc = 0; pc < {pieces}u; ++pc) {{"));
        self.depth += 1;
        self.line(format!("const uint lo = pc * {piece}u;"));
        self.line("if (pc > 0u) threadgroup_barrier(mem_flags::mem_threadgroup);");
        self.staging_piece = Some(piece);
        Ok(())
    }

    /// Closes [`Self::open_pieces`].
    pub(crate) fn close_pieces(&mut self, pieces: u64) {
        if pieces > 1 {
            self.staging_piece = None;
            self.depth -= 1;
            self.line("}");
        }
    }
}
