//! Forward scans in registers, as Triton lowers `tt.scan`: each thread scans its
//! own contiguous elements along the axis, the lanes along the axis scan their
//! totals with `simd_shuffle_up`, simdgroups along the axis exchange totals
//! through threadgroup memory (one barrier per chunk), and chunks (when the axis
//! is longer than the threads' tile) carry their total into the next. The
//! combine region is inlined with the earlier elements as its left operand, so
//! associative non-commutative combines keep their order.
//!
//! Used where the scan's layout holds each element of the axis once (no
//! replication along it) and the element types are ones Metal shuffles;
//! `scan_smem.rs`'s threadgroup-memory scan covers the rest (reverse scans too).

use crate::emit::{elem_decl, tname, Emitter, Repr, R};
use crate::layout::Layout;
use tm_ir::{DType, Elem, Op};

impl Emitter<'_> {
    /// Emits `op` (a forward `Scan`) in registers; returns false (emitting nothing)
    /// when the layout or the types do not suit (see the module doc).
    pub(crate) fn scan_in_registers(&mut self, op: &Op, axis: usize) -> R<bool> {
        let loc = op.loc;
        let res0 = op.results[0];
        if !self.f.ty(res0).is_block() {
            return Ok(false);
        }
        let mut dtypes = vec![];
        for &v in &op.operands {
            match self.f.ty(v).dtype() {
                Some(d @ (DType::F32 | DType::F16 | DType::I32 | DType::U32 | DType::I16 | DType::U16)) => dtypes.push(d),
                _ => return Ok(false),
            }
        }
        let l = self.layout_for(res0);
        let lay = self.layouts[l].clone();
        let fd = lay.embed[axis];
        let dims = lay.dims();
        let p = dims[fd];
        if p.wraps || lay.eshape[fd] <= 1 {
            return Ok(false);
        }
        let fam = lay.family.clone();
        // Simdgroup totals go through threadgroup memory (see below): where they would not
        // fit, the threadgroup-memory scan takes it, in pieces.
        let wpc = fam.warps_per_cta[fd];
        let numel_out = (self.f.ty(res0).numel() / u64::from(lay.eshape[fd])).max(1);
        let totals: u64 = dtypes.iter().map(|d| (2 * u64::from(wpc) * numel_out * u64::from(d.size_bytes())).next_multiple_of(16)).sum();
        if wpc > 1 && totals > u64::from(tm_abi::MAX_THREADGROUP_BYTES) {
            return Ok(false);
        }
        let n = op.operands.len();
        let region = op.regions[0].clone();
        let id = res0.0;

        // The layout without the axis (Triton's slice): its registers `q` enumerate the
        // other coordinates a thread holds; `base(q)` is q's register in `lay` at axis 0.
        let mut out_eshape = lay.eshape.clone();
        out_eshape[fd] = 1;
        let mut out_embed = lay.embed.clone();
        out_embed.remove(axis);
        let lout = Layout { family: fam.clone(), eshape: out_eshape, embed: out_embed };
        let out_l = self.intern(lout.clone());
        let outd = lout.dims();
        let mut base_terms = vec![];
        for d in 0..lay.eshape.len() {
            if d != fd && dims[d].regs > 1 {
                base_terms.push(format!("((q / {}u) % {}u) * {}u", outd[d].reg_stride, outd[d].regs, dims[d].reg_stride));
            }
        }
        let base = if base_terms.is_empty() { "0u".to_string() } else { base_terms.join(" + ") };
        let (spt, rs) = (p.spt, p.reg_stride);
        let chunks = p.regs / spt;
        let regs_out = lout.regs();
        let tpw = fam.threads_per_warp[fd];
        let lane_div: u32 = fam.order.iter().take_while(|&&o| o != fd).map(|&o| fam.threads_per_warp[o]).product();
        let warp_div: u32 = fam.order.iter().take_while(|&&o| o != fd).map(|&o| fam.warps_per_cta[o]).product();
        let lp = format!("((tm_lane / {lane_div}u) % {tpw}u)");
        let wp = format!("((tm_sg / {warp_div}u) % {wpc}u)");

        // Results start as copies of the inputs, in the scan's layout.
        let outs: Vec<String> = (0..n).map(|i| format!("v{id}_s{i}")).collect();
        for i in 0..n {
            let x = self.get(op.operands[i], l)?;
            let rty = self.f.ty(op.results[i]).clone();
            let regs = self.declare_array(&outs[i], &rty, l, loc)?;
            let e = Self::at(&x, "r");
            self.line(format!("for (uint r = 0; r < {regs}u; ++r) {}[r] = {e};", outs[i]));
        }
        let tn: Vec<String> = dtypes.iter().map(|&d| tname(d, loc).map(str::to_string)).collect::<R<_>>()?;
        let decl = |names: &[String]| -> Vec<String> { names.iter().zip(&tn).map(|(v, t)| format!("{t} {v};")).collect() };
        let set = |dst: &[String], src: &[String]| -> Vec<String> { dst.iter().zip(src).map(|(d, s)| format!("{d} = {s};")).collect() };
        let names = |stem: &str| -> Vec<String> { (0..n).map(|i| format!("v{id}_{stem}{i}")).collect() };
        let at = |j: &str| -> Vec<String> { outs.iter().map(|o| format!("{o}[b + ({j}) * {rs}u]")).collect() };
        let init = |dst: &[String], src: &[String]| -> Vec<String> {
            dst.iter().zip(src).zip(&tn).map(|((d, s), t)| format!("{t} {d} = {s};")).collect()
        };

        // Threadgroup memory for simdgroup totals: two slots (chunk parity), so one
        // barrier per chunk orders both the writes and the next chunk's overwrite.
        let numel_out: u32 = lout.shape().iter().product::<u32>().max(1);
        let mut offsets = vec![];
        if wpc > 1 {
            let mut bytes = 0u32;
            for &d in &dtypes {
                offsets.push(bytes);
                bytes = (bytes + 2 * wpc * numel_out * d.size_bytes()).next_multiple_of(16);
            }
            self.smem_bytes = self.smem_bytes.max(bytes);
            self.barrier_before_smem_write();
        }
        let mut out_idx_terms = vec![];
        let mut stride = 1u32;
        let oshape = lout.shape();
        for i in (0..oshape.len()).rev() {
            out_idx_terms.push(format!("{} * {stride}u", lout.coord_expr(i, "q", &format!("L{out_l}_t{}", lout.embed[i]))));
            stride *= oshape[i];
        }
        let out_idx = if out_idx_terms.is_empty() { "0u".to_string() } else { out_idx_terms.join(" + ") };
        let tg = |i: usize, slot: &str, w: &str| -> R<String> {
            let t = elem_decl(Elem::Scalar(dtypes[i]), loc)?;
            Ok(format!("((threadgroup {t}*)(tm_smem + {}u))[(({slot}) * {wpc}u + ({w})) * {numel_out}u + {out_idx}]", offsets[i]))
        };

        self.uses_sync = true;
        self.line(format!("for (uint q = 0; q < {regs_out}u; ++q) {{"));
        self.depth += 1;
        let carry = names("carry");
        for s in decl(&carry) {
            self.line(s);
        }
        self.line(format!("for (uint c = 0; c < {chunks}u; ++c) {{"));
        self.depth += 1;
        self.line(format!("const uint b = {base} + c * {spt}u * {rs}u;"));
        // 1. The thread's own elements.
        if spt > 1 {
            self.combine_into_elements(&region, 1, spt, &names("a"), &at("j - 1u"), &tn, &at)?;
        }
        // 2. Lanes along the axis: inclusive scan of the thread totals.
        let tot = names("t");
        for s in init(&tot, &at(&format!("{}u", spt - 1))) {
            self.line(s);
        }
        let mut step = 1u32;
        while step < tpw {
            let o = names(&format!("u{step}_"));
            for i in 0..n {
                self.line(format!("const {} {} = simd_shuffle_up({}, (ushort){}u);", tn[i], o[i], tot[i], step * lane_div));
            }
            self.line(format!("if ({lp} >= {step}u) {{"));
            self.depth += 1;
            let acc = names(&format!("m{step}_"));
            for s in init(&acc, &o) {
                self.line(s);
            }
            self.combine_inline(&region, &acc, &tot)?;
            for s in set(&tot, &acc) {
                self.line(s);
            }
            self.depth -= 1;
            self.line("}");
            step *= 2;
        }
        // Exclusive prefix within the simdgroup, and the simdgroup's total.
        let ex = names("e");
        let wt = names("w");
        for i in 0..n {
            self.line(format!("const {} {} = simd_shuffle_up({}, (ushort){lane_div}u);", tn[i], ex[i], tot[i]));
            self.line(format!(
                "const {} {} = simd_shuffle({}, (ushort)(tm_lane + ({}u - {lp}) * {lane_div}u));",
                tn[i],
                wt[i],
                tot[i],
                tpw - 1
            ));
        }
        let pre = names("p");
        for s in decl(&pre) {
            self.line(s);
        }
        self.line("bool hp = c > 0u;");
        self.line("if (hp) {");
        for s in set(&pre, &carry) {
            self.line(format!("    {s}"));
        }
        self.line("}");
        // 3. Simdgroups along the axis.
        let ctot = names("ct");
        if wpc > 1 {
            // One writer per simdgroup and other coordinates (replicas along other dims skip).
            let own: String = outd
                .iter()
                .enumerate()
                .filter(|&(d, od)| d != fd && od.wraps)
                .map(|(d, od)| format!(" && (L{out_l}_t{d} * {}u < {}u)", od.spt, lout.eshape[d]))
                .collect();
            self.line(format!("if ({lp} == {}u{own}) {{", tpw - 1));
            for i in 0..n {
                self.line(format!("    {} = {};", tg(i, "c % 2u", &wp)?, wt[i]));
            }
            self.line("}");
            self.line("threadgroup_barrier(mem_flags::mem_threadgroup);");
            for i in 0..n {
                self.line(format!("{} {} = {};", tn[i], ctot[i], tg(i, "c % 2u", "0u")?));
            }
            self.line(format!("for (uint w = 1; w < {wpc}u; ++w) {{"));
            self.depth += 1;
            self.line(format!("if (w == {wp}) {{"));
            self.depth += 1;
            self.prefix_push(&region, &pre, &ctot)?;
            self.depth -= 1;
            self.line("}");
            let o = names("o");
            for i in 0..n {
                self.line(format!("const {} {} = {};", tn[i], o[i], tg(i, "c % 2u", "w")?));
            }
            self.combine_inline(&region, &ctot, &o)?;
            self.depth -= 1;
            self.line("}");
        } else {
            for i in 0..n {
                self.line(format!("const {} {} = {};", tn[i], ctot[i], wt[i]));
            }
        }
        self.line(format!("if ({lp} > 0u) {{"));
        self.depth += 1;
        self.prefix_push(&region, &pre, &ex)?;
        self.depth -= 1;
        self.line("}");
        // 4. The prefix of everything before this thread's elements, applied.
        self.line("if (hp) {");
        self.depth += 1;
        self.combine_into_elements(&region, 0, spt, &names("f"), &pre, &tn, &at)?;
        self.depth -= 1;
        self.line("}");
        // 5. This chunk's total joins the carry.
        self.line("if (c == 0u) {");
        for s in set(&carry, &ctot) {
            self.line(format!("    {s}"));
        }
        self.line("} else {");
        self.depth += 1;
        self.combine_inline(&region, &carry, &ctot)?;
        self.depth -= 1;
        self.line("}");
        self.depth -= 1;
        self.line("}");
        self.depth -= 1;
        self.line("}");
        for (i, &res) in op.results.iter().enumerate() {
            self.reprs.insert(res, Repr::Array { name: outs[i].clone(), layout: l });
        }
        Ok(true)
    }

    /// `for j in first..spt: acc = src; acc = combine(acc, x[j]); x[j] = acc`, where
    /// `at(j)` names element `j` of the thread's chunk (one name per scanned input).
    #[allow(clippy::too_many_arguments)]
    fn combine_into_elements(
        &mut self,
        region: &tm_ir::Region,
        first: u32,
        spt: u32,
        acc: &[String],
        src: &[String],
        tn: &[String],
        at: &dyn Fn(&str) -> Vec<String>,
    ) -> R<()> {
        self.line(format!("for (uint j = {first}; j < {spt}u; ++j) {{"));
        self.depth += 1;
        for ((d, s), t) in acc.iter().zip(src).zip(tn) {
            self.line(format!("{t} {d} = {s};"));
        }
        self.combine_inline(region, acc, &at("j"))?;
        for (d, s) in at("j").iter().zip(acc) {
            self.line(format!("{d} = {s};"));
        }
        self.depth -= 1;
        self.line("}");
        Ok(())
    }

    /// `pre = hp ? combine(pre, x) : x; hp = true` (the running prefix, earliest first).
    fn prefix_push(&mut self, region: &tm_ir::Region, pre: &[String], x: &[String]) -> R<()> {
        self.line("if (hp) {");
        self.depth += 1;
        self.combine_inline(region, pre, x)?;
        self.depth -= 1;
        self.line("} else {");
        for (p, v) in pre.iter().zip(x) {
            self.line(format!("    {p} = {v};"));
        }
        self.line("}");
        self.line("hp = true;");
        Ok(())
    }
}
