//! Getting a value in a layout other than the one it was produced in: cheap
//! pure values (ranges, arithmetic on them, pointer offsets) are recomputed in
//! the wanted layout, as Triton rematerialises them; anything else goes through
//! threadgroup memory with barriers.

use crate::emit::{elem_decl, unsupported, Emitter, Repr, R};
use tm_ir::{OpKind, ValueDef, ValueId};

impl Emitter<'_> {
    /// `v` in layout `l`; uniform values are layout-free.
    pub(crate) fn get(&mut self, v: ValueId, l: usize) -> R<Repr> {
        let r = self.repr(v).clone();
        match &r {
            Repr::Scalar(_) | Repr::Splat(_) => return Ok(r),
            Repr::Array { layout, .. } if *layout == l => return Ok(r),
            _ => {}
        }
        if let Some((c, _)) = self.converted.get(&(v, l)) {
            return Ok(c.clone());
        }
        let name = format!("v{}_L{l}", v.0);
        let out = if self.rematerializable(v, 0) {
            let op = self.f.op(self.f.def_op(v).expect("rematerializable values have a defining op")).clone();
            self.value_op(&op, Some(l), &name)?
        } else {
            self.convert_through_smem(v, &r, l, &name)?
        };
        self.converted.insert((v, l), (out.clone(), self.depth));
        Ok(out)
    }

    fn rematerializable(&self, v: ValueId, depth: u32) -> bool {
        if depth > 64 {
            return false;
        }
        let ValueDef::Result(id, _) = self.f.value(v).def else { return !self.f.ty(v).is_block() };
        let op = self.f.op(id);
        let pure = op.kind.is_elementwise()
            || matches!(
                op.kind,
                OpKind::Constant(_)
                    | OpKind::MakeRange { .. }
                    | OpKind::Splat
                    | OpKind::Broadcast
                    | OpKind::ExpandDims(_)
                    | OpKind::ProgramId(_)
                    | OpKind::NumPrograms(_)
            );
        pure && op.operands.iter().all(|&o| !self.f.ty(o).is_block() || self.rematerializable(o, depth + 1))
    }

    /// Row-major index of each register of simdgroup 0's lanes in layout `l`, per register.
    fn warp_indices(&self, l: usize) -> Vec<Vec<u64>> {
        let lay = &self.layouts[l];
        let shape = lay.shape();
        let per_lane: Vec<Vec<Vec<u32>>> = (0..tm_abi::SIMD_WIDTH).map(|t| lay.coords(t)).collect();
        (0..lay.regs() as usize)
            .map(|r| {
                per_lane
                    .iter()
                    .map(|c| lay.embed.iter().zip(&shape).fold(0u64, |acc, (&fd, &s)| acc * s as u64 + c[r][fd] as u64))
                    .collect()
            })
            .collect()
    }

    /// Elements of padding after each row (last-dim run) of a row-major threadgroup
    /// buffer written in layout `from` and read in layout `to` of element size `bytes`:
    /// the candidate with the fewest bank conflicts (32 banks of 4 bytes, counted over
    /// simdgroup 0's accesses), the smallest on a tie. Padding changes nothing but
    /// addresses; a transpose through memory needs it (a column read would hit one bank).
    fn smem_row_pad(&self, from: usize, to: usize, bytes: u32, inner: u64) -> u64 {
        if inner <= 1 || self.layouts[from].shape().len() < 2 {
            return 0;
        }
        let (w, r) = (self.warp_indices(from), self.warp_indices(to));
        let cost = |pad: u64| -> usize {
            w.iter()
                .chain(&r)
                .map(|lanes| {
                    let mut banks: Vec<Vec<u64>> = vec![vec![]; 32];
                    for &i in lanes {
                        let word = (i + i / inner * pad) * bytes as u64 / 4;
                        let b = &mut banks[(word % 32) as usize];
                        if !b.contains(&word) {
                            b.push(word);
                        }
                    }
                    banks.iter().map(|b| b.len()).max().unwrap_or(1)
                })
                .sum()
        };
        let mut best = (cost(0), 0);
        for pad in [1u64, 2, 4, 8] {
            let c = cost(pad * 4 / bytes as u64);
            if c < best.0 {
                best = (c, pad * 4 / bytes as u64);
            }
        }
        best.1
    }

    /// Writes each element once (by its first owner) to threadgroup memory in
    /// row-major order (rows padded where that avoids bank conflicts), then reads it
    /// back in the wanted layout.
    fn convert_through_smem(&mut self, v: ValueId, from: &Repr, l: usize, name: &str) -> R<Repr> {
        let ty = self.f.ty(v).clone();
        let loc = self.f.def_op(v).map(|o| self.f.op(o).loc).unwrap_or_default();
        let Some(d) = ty.dtype() else {
            return Err(unsupported("moving a block of pointers between layouts (computed in a loop or loaded)", loc));
        };
        let Repr::Array { name: src, layout: fl } = from else { unreachable!("uniform values never convert") };
        let elem_bytes = d.size_bytes();
        let inner = *ty.shape.last().unwrap_or(&1) as u64;
        let limit = u64::from(tm_abi::MAX_THREADGROUP_BYTES);
        let mut pad = self.smem_row_pad(*fl, l, elem_bytes, inner);
        if inner * u64::from(elem_bytes) <= limit && (inner + pad) * u64::from(elem_bytes) > limit {
            pad = 0; // a row that fits only unpadded
        }
        let numel = ty.numel();
        let row_bytes = (inner + pad) * u64::from(elem_bytes);
        // Whole rows at a time, as many as fit in threadgroup memory (all of them when the
        // block fits): a block larger than Metal's 32 KiB moves in pieces of rows, and a
        // row larger than that in pieces of the row (unpadded; each read takes its element
        // from whichever piece holds it).
        let rows = numel / inner.max(1);
        let mut piece_rows = rows.max(1);
        while piece_rows > 1 && piece_rows * row_bytes > limit {
            piece_rows /= 2;
        }
        let piece = if row_bytes > limit {
            pad = 0;
            limit / u64::from(elem_bytes)
        } else {
            (piece_rows * inner).min(numel.max(1))
        };
        let pieces = numel.div_ceil(piece);
        let padded = piece + piece / inner.max(1) * pad;
        self.smem_bytes = self.smem_bytes.max((padded as u32 * elem_bytes).next_multiple_of(16));
        self.uses_sync = true;
        let t = elem_decl(ty.elem, loc)?;
        let (from_regs, to_regs) = (self.layouts[*fl].regs(), self.layouts[l].regs());
        let (wl, rl) = (self.linear_index(*fl, "r"), self.linear_index(l, "r"));
        let at = |lin: &str| if pad > 0 { format!("tm_pad({lin}, {inner}u, {pad}u)") } else { lin.to_string() };
        let unreplicated = !self.layouts[*fl].dims().iter().any(|d| d.wraps);
        self.barrier_before_smem_write();
        if pieces == 1 {
            let (wi, ri) = (at(&wl), at(&rl));
            self.line(format!(
                "for (uint r = 0; r < {from_regs}u; ++r) if (L{fl}_own) ((threadgroup {t}*)tm_smem)[{wi}] = {src}[r];"
            ));
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            self.line(format!("{t} {name}[{to_regs}];"));
            self.line(format!("for (uint r = 0; r < {to_regs}u; ++r) {name}[r] = ((threadgroup {t}*)tm_smem)[{ri}];"));
        } else {
            // Piece `c` holds the elements of row-major index [c * piece, (c + 1) * piece).
            let (wi, ri) = (at("(i - lo)"), at("(i - lo)"));
            self.line(format!("{t} {name}[{to_regs}];"));
            self.line(format!("for (uint c = 0; c < {pieces}u; ++c) {{"));
            self.line(format!("    const uint lo = c * {piece}u;"));
            self.line("    if (c > 0u) threadgroup_barrier(mem_flags::mem_threadgroup);");
            self.line(format!(
                "    for (uint r = 0; r < {from_regs}u; ++r) {{ const uint i = {wl}; if (L{fl}_own && i - lo < {piece}u) ((threadgroup {t}*)tm_smem)[{wi}] = {src}[r]; }}"
            ));
            self.line("    threadgroup_barrier(mem_flags::mem_threadgroup);");
            self.line(format!(
                "    for (uint r = 0; r < {to_regs}u; ++r) {{ const uint i = {rl}; if (i - lo < {piece}u) {name}[r] = ((threadgroup {t}*)tm_smem)[{ri}]; }}"
            ));
            self.line("}");
        }
        if unreplicated {
            // Each element has one owner, which wrote it before a barrier: every register
            // of `v` was used.
            self.retire_loads_feeding(&[v]);
        }
        Ok(Repr::Array { name: name.to_string(), layout: l })
    }

    /// Row-major index, in the value's own shape, of register `r` of layout `layout`.
    pub(crate) fn linear_index(&self, layout: usize, r: &str) -> String {
        let lay = &self.layouts[layout];
        let shape = lay.shape();
        let mut terms = vec![];
        let mut stride = 1u64;
        for i in (0..shape.len()).rev() {
            let thr = format!("L{layout}_t{}", lay.embed[i]);
            terms.push(format!("{} * {stride}u", lay.coord_expr(i, r, &thr)));
            stride *= shape[i] as u64;
        }
        if terms.is_empty() {
            "0u".to_string()
        } else {
            terms.join(" + ")
        }
    }

    /// Forgets conversions declared inside a region being closed.
    pub(crate) fn leave_scope(&mut self) {
        let depth = self.depth;
        self.converted.retain(|_, (_, d)| *d < depth);
    }
}
