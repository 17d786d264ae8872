//! Data movement between threads for ops that reorder elements: `trans`,
//! `reshape`, `join`, `split`, `cat`. Sources are written to threadgroup
//! memory at their position in a row-major staging order, then each thread
//! reads the elements its result layout gives it. Uniform (splat) values need
//! no movement.

use crate::emit::{elem_decl, unsupported, Emitter, Repr, R};
use tm_ir::{Op, OpKind, ValueId};

impl Emitter<'_> {
    /// Row-major strides of a shape.
    pub(crate) fn strides(shape: &[u32]) -> Vec<u64> {
        let mut s = vec![1u64; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * shape[i + 1] as u64;
        }
        s
    }

    /// Writes every element of `v` to staging memory at `index(coords or linear)`.
    /// `index` receives, for each of v's dims, the coordinate expression, and the
    /// row-major linear index expression.
    fn write_staged(&mut self, v: ValueId, t: &str, index: &dyn Fn(&[String], &str) -> String) {
        self.write_staged_at(v, &format!("((threadgroup {t}*)tm_smem)"), index)
    }

    /// [`Self::write_staged`] into the threadgroup array `dst`.
    pub(crate) fn write_staged_at(&mut self, v: ValueId, dst: &str, index: &dyn Fn(&[String], &str) -> String) {
        let ty = self.f.ty(v).clone();
        match self.repr(v).clone() {
            Repr::Array { name, layout } => {
                let lay = self.layouts[layout].clone();
                let regs = lay.regs();
                let coords: Vec<String> =
                    (0..ty.rank()).map(|i| lay.coord_expr(i, "r", &format!("L{layout}_t{}", lay.embed[i]))).collect();
                let lin = self.linear_index(layout, "r");
                let idx = index(&coords, &lin);
                match self.staging_piece {
                    Some(p) => self.line(format!(
                        "for (uint r = 0; r < {regs}u; ++r) {{ const uint si = {idx}; if (L{layout}_own && si - lo < {p}u) {dst}[si - lo] = {name}[r]; }}"
                    )),
                    None => self.line(format!("for (uint r = 0; r < {regs}u; ++r) if (L{layout}_own) {dst}[{idx}] = {name}[r];")),
                }
            }
            Repr::Splat(s) | Repr::Scalar(s) => {
                let threads = self.num_warps * 32;
                let numel = ty.numel();
                let strides = Self::strides(&ty.shape);
                let coords: Vec<String> = (0..ty.rank())
                    .map(|i| format!("((i / {}u) % {}u)", strides[i], ty.shape[i]))
                    .collect();
                let idx = index(&coords, "i");
                match self.staging_piece {
                    Some(p) => self.line(format!(
                        "for (uint i = tm_tid; i < {numel}u; i += {threads}u) {{ const uint si = {idx}; if (si - lo < {p}u) {dst}[si - lo] = {s}; }}"
                    )),
                    None => self.line(format!("for (uint i = tm_tid; i < {numel}u; i += {threads}u) {dst}[{idx}] = {s};")),
                }
            }
        }
    }

    /// Reads result `res` from staging memory: register `r` takes element `index(lin)`.
    fn read_staged(&mut self, res: ValueId, t: &str, index: &dyn Fn(&str) -> String, loc: tm_ir::Loc) -> R<()> {
        self.read_staged_at(res, &format!("((threadgroup {t}*)tm_smem)"), index, loc)
    }

    /// [`Self::read_staged`] from the threadgroup array `src`.
    pub(crate) fn read_staged_at(&mut self, res: ValueId, src: &str, index: &dyn Fn(&str) -> String, loc: tm_ir::Loc) -> R<()> {
        let ty = self.f.ty(res).clone();
        let name = format!("v{}", res.0);
        if !ty.is_block() {
            // A scalar result (`split` of a block of 2, a reshape to `()`): every thread reads it.
            let decl = elem_decl(ty.elem, loc)?;
            let idx = index("0u");
            self.line(format!("const {decl} {name} = {src}[{idx}];"));
            self.reprs.insert(res, Repr::Scalar(name));
            return Ok(());
        }
        let l = self.layout_for(res);
        let lin = self.linear_index(l, "r");
        let idx = index(&lin);
        if let Some(p) = self.staging_piece {
            // Declared before the loop over pieces (`shape_op`).
            let regs = self.layouts[l].regs();
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {{ const uint si = {idx}; if (si - lo < {p}u) {name}[r] = {src}[si - lo]; }}"));
            return Ok(());
        }
        let regs = self.declare_array(&name, &ty, l, loc)?;
        self.line(format!("for (uint r = 0; r < {regs}u; ++r) {name}[r] = {src}[{idx}];"));
        self.reprs.insert(res, Repr::Array { name, layout: l });
        Ok(())
    }

    pub(crate) fn shape_op(&mut self, op: &Op) -> R<()> {
        let loc = op.loc;
        // Uniform inputs stay uniform for reorderings of one value.
        if matches!(op.kind, OpKind::Trans(_) | OpKind::Reshape | OpKind::Split) {
            if let Repr::Splat(s) | Repr::Scalar(s) = self.repr(op.operands[0]).clone() {
                for &r in &op.results {
                    let repr = if self.f.ty(r).is_block() { Repr::Splat(s.clone()) } else { Repr::Scalar(s.clone()) };
                    self.reprs.insert(r, repr);
                }
                return Ok(());
            }
        }
        let ty = self.f.ty(op.operands[0]).clone();
        let d = ty.dtype().ok_or_else(|| unsupported("moving blocks of pointers between threads (trans/reshape/join/cat of pointers)", loc))?;
        let t = elem_decl(tm_ir::Elem::Scalar(d), loc)?;
        let total: u64 = op.operands.iter().map(|&v| self.f.ty(v).numel()).sum();
        // Staged in pieces of the staging order when it does not fit in threadgroup memory:
        // each piece written, read back by the threads whose elements it holds, then the next.
        let fit = u64::from(tm_abi::MAX_THREADGROUP_BYTES / d.size_bytes());
        let blocks = op.results.iter().all(|&r| self.f.ty(r).is_block());
        let piece = if total > fit && blocks { fit } else { total };
        let pieces = total.div_ceil(piece.max(1));
        self.smem_bytes = self.smem_bytes.max((piece as u32 * d.size_bytes()).next_multiple_of(16));
        self.barrier_before_smem_write();
        if pieces > 1 {
            for &r in &op.results {
                let ty = self.f.ty(r).clone();
                let l = self.layout_for(r);
                let name = format!("v{}", r.0);
                self.declare_array(&name, &ty, l, loc)?;
                self.reprs.insert(r, Repr::Array { name, layout: l });
            }
            self.line(format!("for (uint c = 0; c < {pieces}u; ++c) {{"));
            self.depth += 1;
            self.line(format!("const uint lo = c * {piece}u;"));
            self.line("if (c > 0u) threadgroup_barrier(mem_flags::mem_threadgroup);");
            self.staging_piece = Some(piece);
        }
        let staged = self.stage_shape_op(op, &t, &ty);
        if pieces > 1 {
            self.staging_piece = None;
            self.depth -= 1;
            self.line("}");
        }
        staged
    }

    /// The writes, barrier and reads of [`Self::shape_op`] (of one piece, in pieces).
    fn stage_shape_op(&mut self, op: &Op, t: &str, ty: &tm_ir::Type) -> R<()> {
        let loc = op.loc;
        let t = t.to_string();
        match &op.kind {
            OpKind::Trans(perm) => {
                let out_shape = self.f.ty(op.results[0]).shape.clone();
                let strides = Self::strides(&out_shape);
                let perm = perm.clone();
                self.write_staged(op.operands[0], &t, &|c, _| {
                    perm.iter().enumerate().map(|(i, &p)| format!("{} * {}u", c[p as usize], strides[i])).collect::<Vec<_>>().join(" + ")
                });
            }
            OpKind::Reshape | OpKind::Split => self.write_staged(op.operands[0], &t, &|_, lin| lin.to_string()),
            OpKind::Join => {
                self.write_staged(op.operands[0], &t, &|_, lin| format!("({lin}) * 2u"));
                self.write_staged(op.operands[1], &t, &|_, lin| format!("({lin}) * 2u + 1u"));
            }
            OpKind::Cat => {
                let n = ty.numel();
                self.write_staged(op.operands[0], &t, &|_, lin| lin.to_string());
                self.write_staged(op.operands[1], &t, &|_, lin| format!("({lin}) + {n}u"));
            }
            _ => return Err(unsupported("internal: not a shape op", loc)),
        }
        self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
        match &op.kind {
            OpKind::Split => {
                self.read_staged(op.results[0], &t, &|lin| format!("({lin}) * 2u"), loc)?;
                self.read_staged(op.results[1], &t, &|lin| format!("({lin}) * 2u + 1u"), loc)?;
            }
            _ => self.read_staged(op.results[0], &t, &|lin| lin.to_string(), loc)?,
        }
        Ok(())
    }
}
