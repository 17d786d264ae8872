//! `tl.dot_scaled`: the product of two blocks in microscaling (OCP MX) formats.
//!
//! Upstream's rules (`core.py`/`semantic.py` `dot_scaled`: argument checks, packing, scale
//! shapes) with the value of the interpreter and of the software emulation: each operand is
//! decoded exactly (e2m1 nibbles, two per `uint8`, low nibble first, packed along K or along
//! M/N; e4m3/e5m2 codes; bf16/fp16), multiplied by its ue8m0 scale `2^(s - 127)` (one per
//! 16 or 32 elements along K; 0xFF is NaN unless `fast_math`), and the two decoded blocks
//! go to `tl.dot` (`OpKind::Dot`), accumulating in float32. Operands are staged in the
//! narrowest type that holds every decoded value exactly: float16 or bfloat16 when neither
//! is scaled, float32 when a scale may take a value out of the 16-bit ranges.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{BinOp, CmpPred, DType, Elem, OpKind, ValueId};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Fmt {
    E2M1,
    E4M3,
    E5M2,
    BF16,
    FP16,
}

impl Fmt {
    /// The float type of the format's elements (`None`: e2m1, packed in `uint8`).
    fn float_type(self) -> Option<DType> {
        match self {
            Fmt::E2M1 => None,
            Fmt::E4M3 => Some(DType::F8E4NV),
            Fmt::E5M2 => Some(DType::F8E5),
            Fmt::BF16 => Some(DType::BF16),
            Fmt::FP16 => Some(DType::F16),
        }
    }

    /// The types that hold every element of the format exactly.
    fn exact_in(self, t: DType) -> bool {
        match self {
            Fmt::E2M1 | Fmt::E4M3 | Fmt::E5M2 => true,
            Fmt::BF16 => t != DType::F16,
            Fmt::FP16 => t != DType::BF16,
        }
    }
}

/// A dtype as upstream prints it (`uint8`, `int8`, `fp16`, `bf16`, `fp8e4nv`).
fn upstream_name(d: DType) -> &'static str {
    if d.is_float() {
        d.triton_name()
    } else {
        d.language_name()
    }
}

/// One operand as given: the block, its format, its scale, and how it is packed.
struct Side {
    x: ValueId,
    fmt: Fmt,
    scale: Option<(ValueId, TextRange)>,
    k_pack: bool,
    range: TextRange,
}

impl Lowerer<'_> {
    /// `tl.dot_scaled(lhs, lhs_scale, lhs_format, rhs, rhs_scale, rhs_format, acc=None,
    /// fast_math=False, lhs_k_pack=True, rhs_k_pack=True, out_dtype=tl.float32)`.
    pub(crate) fn lower_dot_scaled(&mut self, args: Args, range: TextRange) -> R<Val> {
        let names = [
            "lhs", "lhs_scale", "lhs_format", "rhs", "rhs_scale", "rhs_format", "acc", "fast_math", "lhs_k_pack", "rhs_k_pack",
            "out_dtype",
        ];
        let b = self.bind("dot_scaled", args, &names, 6, range)?;
        let flag = |s: &Self, i: usize, default: bool| -> R<bool> {
            match &b[i] {
                None => Ok(default),
                Some(a) => Ok(s.const_arg("dot_scaled", names[i], a)?.truthy()),
            }
        };
        let (fast_math, lhs_k_pack, rhs_k_pack) = (flag(self, 7, false)?, flag(self, 8, true)?, flag(self, 9, true)?);
        if let Some(a) = &b[10] {
            match self.const_arg("dot_scaled", "out_dtype", a)? {
                ConstValue::DType(DType::F32) => {}
                _ => return Err(self.err(a.1, "Only float32 is supported for out_dtype at the moment")),
            }
        }
        let (lv, lr) = b[0].clone().expect("required");
        let (rv, rr) = b[3].clone().expect("required");
        let (lhs, rhs) = (self.tensor(&lv, lr)?, self.tensor(&rv, rr)?);
        let (lt, rt) = (self.f.ty(lhs).clone(), self.f.ty(rhs).clone());
        if !lt.is_block() || !rt.is_block() {
            return Err(self.err(range, "dot_scaled operands must be block tensors (not scalars)"));
        }
        let rank = lt.rank();
        if !(rank == rt.rank() && (rank == 2 || rank == 3)) {
            return Err(self.err(range, format!("Both inputs must be either 2D or 3D; (lhs: {:?} vs rhs: {:?})", lt.shape, rt.shape)));
        }
        let lf = self.scaled_format(&b[2], "lhs_format")?;
        let rf = self.scaled_format(&b[5], "rhs_format")?;
        let lhs = self.as_format(lhs, lf, lr)?;
        let rhs = self.as_format(rhs, rf, rr)?;
        for (pack, f) in [(lhs_k_pack, lf), (rhs_k_pack, rf)] {
            if !pack && f != Fmt::E2M1 {
                return Err(self.err(range, "only mxfp4 inputs can be packed along a dimension different than K"));
            }
        }
        let packed = |f: Fmt| if f == Fmt::E2M1 { 2 } else { 1 };
        let (mut m, k_lhs) = (lt.shape[rank - 2], lt.shape[rank - 1]);
        let (k_rhs, mut n) = (rt.shape[rank - 2], rt.shape[rank - 1]);
        let k_a = if lhs_k_pack { packed(lf) * k_lhs } else { k_lhs };
        let k_b = if rhs_k_pack { packed(rf) * k_rhs } else { k_rhs };
        if k_a != k_b {
            return Err(self.err(
                range,
                format!("Reduction dimension should pack the same number of elements; (lhs: {:?} vs rhs: {:?})", lt.shape, rt.shape),
            ));
        }
        if rank == 3 && lt.shape[0] != rt.shape[0] {
            return Err(self.err(range, format!("tl.dot_scaled batch dimensions differ: {:?} x {:?}", lt.shape, rt.shape)));
        }
        if !lhs_k_pack {
            m *= packed(lf);
        }
        if !rhs_k_pack {
            n *= packed(rf);
        }
        let k = k_a;
        let mut out_shape = if rank == 3 { vec![lt.shape[0]] } else { vec![] };
        out_shape.extend([m, n]);
        let acc = match &b[6] {
            None | Some((Val::Const(ConstValue::None), _)) => {
                let z = self.const_scalar(DType::F32, &ConstValue::Int(0), range)?;
                self.broadcast_to(z, &out_shape, range)?
            }
            Some((cv, cr)) => {
                let c = self.tensor(cv, *cr)?;
                let ct = self.f.ty(c).clone();
                if ct.shape != out_shape {
                    return Err(self.err(*cr, format!("expected accumulator shape {out_shape:?}, got {:?}", ct.shape)));
                }
                match ct.dtype() {
                    Some(DType::F32) => c,
                    d => {
                        let name = d.map_or("pointer", upstream_name);
                        return Err(self.err(
                            *cr,
                            format!("expected accumulator dtype fp32, got {name}; pass out_dtype={name} to use this accumulator dtype"),
                        ));
                    }
                }
            }
        };
        let lhs_scale = self.scale_arg(&b[1])?;
        let rhs_scale = self.scale_arg(&b[4])?;
        // upstream's deduce_scale_factor / verify_scaled_shape
        let mut factor = None;
        for (side, s, op_k) in [("lhs", lhs_scale, k_a), ("rhs", rhs_scale, k_b)] {
            let Some((s, sr)) = s else { continue };
            let st = self.f.ty(s).clone();
            let f = op_k / st.shape[st.rank() - 1].max(1);
            if f != 16 && f != 32 {
                return Err(self.err(sr, format!("scale factor must be 16 or 32. Got {f}")));
            }
            if let Some(g) = factor.filter(|&g| g != f) {
                return Err(self.err(range, format!("Operands must have the same scale factor; (lhs: {g} vs rhs: {f})")));
            }
            factor = Some(f);
            let rows = if side == "lhs" { m } else { n };
            if st.shape[st.rank() - 2..] != [rows, k / f] || st.rank() != rank || (rank == 3 && st.shape[0] != lt.shape[0]) {
                return Err(self.err(
                    sr,
                    format!("{side}_scale must be a tensor of shape [..., {rows}, {}]. Got {:?}", k / f, st.shape),
                ));
            }
        }
        if m < 16 || n < 16 || k < 16 {
            return Err(self.err(range, format!("tl.dot_scaled needs M, N and K of at least 16 (as tl.dot), got M={m}, N={n}, K={k}")));
        }
        let l = Side { x: lhs, fmt: lf, scale: lhs_scale, k_pack: lhs_k_pack, range: lr };
        let r = Side { x: rhs, fmt: rf, scale: rhs_scale, k_pack: rhs_k_pack, range: rr };
        // The staging type: float16, then bfloat16, then float32, the first that holds both
        // decoded operands exactly (a scaled operand needs float32's exponent and precision).
        let stage = [DType::F16, DType::BF16, DType::F32]
            .into_iter()
            .find(|&t| [&l, &r].iter().all(|s| t == DType::F32 || (s.scale.is_none() && s.fmt.exact_in(t))))
            .unwrap_or(DType::F32);
        let a = self.decode_operand(&l, false, stage, factor.unwrap_or(32), fast_math)?;
        let bb = self.decode_operand(&r, true, stage, factor.unwrap_or(32), fast_math)?;
        let ty = self.f.ty(acc).clone();
        Ok(Val::Tensor(self.emit1(OpKind::Dot, vec![a, bb, acc], ty)))
    }

    fn scaled_format(&self, a: &Option<(Val, TextRange)>, pname: &str) -> R<Fmt> {
        let a = a.as_ref().expect("required");
        let s = match self.const_arg("dot_scaled", pname, a)? {
            ConstValue::Str(s) => s,
            other => return Err(self.err(a.1, format!("Invalid float format: {other}."))),
        };
        Ok(match s.as_str() {
            "e2m1" => Fmt::E2M1,
            "e4m3" => Fmt::E4M3,
            "e5m2" => Fmt::E5M2,
            "bf16" => Fmt::BF16,
            "fp16" => Fmt::FP16,
            "e2m3" | "e3m2" => return Err(self.err(a.1, format!("NYI: {pname} {s}"))),
            _ => return Err(self.err(a.1, format!("Invalid float format: {s}."))),
        })
    }

    /// Upstream's `_bitcast_to_fp_type`: e2m1 must be `uint8`; the other formats are their
    /// float type or the unsigned integer of its width, reinterpreted.
    fn as_format(&mut self, x: ValueId, f: Fmt, range: TextRange) -> R<ValueId> {
        let d = self.f.ty(x).dtype();
        let name = d.map_or("pointer", upstream_name);
        let Some(t) = f.float_type() else {
            if d != Some(DType::U8) {
                return Err(self.err(range, format!("e2m1 format must be packed as uint8. Got {name}")));
            }
            return Ok(x);
        };
        if d == Some(t) {
            return Ok(x);
        }
        let unsigned = if t.bits() == 8 { DType::U8 } else { DType::U16 };
        if d != Some(unsigned) {
            let fname = format!("{f:?}").to_lowercase();
            return Err(self.err(range, format!("Unexpected dtype for {fname}. Got {name}")));
        }
        self.bitcast(x, Elem::Scalar(t), range)
    }

    /// A scale argument: `None` (no scale), or a block of e8m0 codes (`uint8`/`int8`) or of
    /// float values (the float8 scales of nvfp4).
    fn scale_arg(&mut self, a: &Option<(Val, TextRange)>) -> R<Option<(ValueId, TextRange)>> {
        if Self::is_none(a) {
            return Ok(None);
        }
        let (v, r) = a.clone().expect("not none");
        let s = self.tensor(&v, r)?;
        let ty = self.f.ty(s).clone();
        match ty.dtype() {
            Some(d) if ty.rank() >= 2 && (matches!(d, DType::U8 | DType::I8) || (d.is_float() && d != DType::F64)) => Ok(Some((s, r))),
            _ => Err(self.err(
                r,
                format!("a tl.dot_scaled scale must be a block of e8m0 codes (uint8) of shape [..., M or N, K // 32], got {}", tm_ir::describe_type(&ty)),
            )),
        }
    }

    /// The operand as a block of `stage` values, [.., M, K] (lhs) or [.., K, N] (rhs).
    fn decode_operand(&mut self, s: &Side, is_rhs: bool, stage: DType, factor: u32, fast_math: bool) -> R<ValueId> {
        let range = s.range;
        let rank = self.f.ty(s.x).rank();
        let mut v = if s.fmt == Fmt::E2M1 {
            // The packed dim: K of the lhs is its last, of the rhs its second to last.
            let last = (!is_rhs) == s.k_pack;
            self.unpack_e2m1(s.x, last, range)?
        } else {
            s.x
        };
        let Some((scale, sr)) = s.scale else {
            return self.cast(v, stage, range);
        };
        v = self.cast(v, DType::F32, range)?;
        let sf = self.scale_values(scale, fast_math, sr)?;
        // [.., R, S] -> [.., R, K] (lhs) or [.., K, R] (rhs): each scale repeated `factor` times.
        let sf = if is_rhs {
            let mut perm: Vec<u32> = (0..rank as u32).collect();
            perm.swap(rank - 2, rank - 1);
            self.permute_value(sf, perm)
        } else {
            sf
        };
        let st = self.f.ty(sf).clone();
        let axis = if is_rhs { rank - 2 } else { rank - 1 };
        let mut shape = st.shape.clone();
        shape.insert(axis + 1, 1);
        let e = self.emit1(OpKind::ExpandDims(axis as u32 + 1), vec![sf], st.with_shape(shape.clone()));
        shape[axis + 1] = factor;
        let e = self.broadcast_to(e, &shape, sr)?;
        let mut full = st.shape.clone();
        full[axis] *= factor;
        let e = self.emit1(OpKind::Reshape, vec![e], st.with_shape(full));
        let prod = self.arith(BinOp::Mul, Operand::Value(v), Operand::Value(e), false, range)?;
        self.cast(prod, stage, range)
    }

    fn permute_value(&mut self, v: ValueId, perm: Vec<u32>) -> ValueId {
        let ty = self.f.ty(v).clone();
        let shape = perm.iter().map(|&p| ty.shape[p as usize]).collect();
        self.emit1(OpKind::Trans(perm), vec![v], ty.with_shape(shape))
    }

    /// Scale codes to float32 factors: e8m0 `s` is `2^(s - 127)` (0 is `2^-127`, the
    /// subnormal 0x00400000); 0xFF is NaN, or with `fast_math` the infinity its bits make.
    fn scale_values(&mut self, scale: ValueId, fast_math: bool, range: TextRange) -> R<ValueId> {
        let d = self.f.ty(scale).dtype().expect("checked");
        if d.is_float() {
            return self.cast(scale, DType::F32, range);
        }
        let s = self.bitcast(scale, Elem::Scalar(DType::U8), range)?;
        let s = self.cast(s, DType::U32, range)?;
        let bits = self.bitwise(BinOp::Shl, Operand::Value(s), Operand::Weak(ConstValue::Int(23)), range)?;
        let zero = self.compare(CmpPred::Eq, Operand::Value(s), Operand::Weak(ConstValue::Int(0)), range)?;
        let bits = self.select(Operand::Value(zero), Operand::Weak(ConstValue::Int(0x0040_0000)), Operand::Value(bits), range)?;
        let f = self.bitcast(bits, Elem::Scalar(DType::F32), range)?;
        if fast_math {
            return Ok(f);
        }
        let nan = self.compare(CmpPred::Eq, Operand::Value(s), Operand::Weak(ConstValue::Int(255)), range)?;
        self.select(Operand::Value(nan), Operand::Weak(ConstValue::Float(f64::NAN)), Operand::Value(f), range)
    }

    /// e2m1 codes, two per byte (low nibble first), to float32, unpacked along the last dim
    /// (`last`) or the one before it.
    fn unpack_e2m1(&mut self, x: ValueId, last: bool, range: TextRange) -> R<ValueId> {
        let w = self.cast(x, DType::U32, range)?;
        let lo = self.bitwise(BinOp::And, Operand::Value(w), Operand::Weak(ConstValue::Int(0xF)), range)?;
        let hi = self.bitwise(BinOp::Shr, Operand::Value(w), Operand::Weak(ConstValue::Int(4)), range)?;
        let (lo, hi) = (self.e2m1_value(lo, range)?, self.e2m1_value(hi, range)?);
        let ty = self.f.ty(lo).clone();
        let rank = ty.rank();
        let mut shape = ty.shape.clone();
        shape.push(2);
        let j = self.emit1(OpKind::Join, vec![lo, hi], ty.with_shape(shape));
        let j = if last {
            j
        } else {
            // [.., R, C, 2] -> [.., R, 2, C]
            let mut perm: Vec<u32> = (0..=rank as u32).collect();
            perm.swap(rank - 1, rank);
            self.permute_value(j, perm)
        };
        let mut full = ty.shape.clone();
        full[if last { rank - 1 } else { rank - 2 }] *= 2;
        Ok(self.emit1(OpKind::Reshape, vec![j], ty.with_shape(full)))
    }

    /// One e2m1 code (S.EE.M, bias 1, no infinities or NaN) to its float32 value, built
    /// from its bits: 0, 0.5 (the subnormal), or `(1 + M/2) * 2^(E-1)`.
    fn e2m1_value(&mut self, nib: ValueId, range: TextRange) -> R<ValueId> {
        let int = |i: i128| Operand::Weak(ConstValue::Int(i));
        let em = self.bitwise(BinOp::And, Operand::Value(nib), int(7), range)?;
        let e = self.bitwise(BinOp::Shr, Operand::Value(em), int(1), range)?;
        let m = self.bitwise(BinOp::And, Operand::Value(em), int(1), range)?;
        let exp = self.arith(BinOp::Add, Operand::Value(e), int(126), false, range)?;
        let exp = self.bitwise(BinOp::Shl, Operand::Value(exp), int(23), range)?;
        let man = self.bitwise(BinOp::Shl, Operand::Value(m), int(22), range)?;
        let normal = self.bitwise(BinOp::Or, Operand::Value(exp), Operand::Value(man), range)?;
        let is_zero = self.compare(CmpPred::Eq, Operand::Value(em), int(0), range)?;
        let is_half = self.compare(CmpPred::Eq, Operand::Value(em), int(1), range)?;
        let mag = self.select(Operand::Value(is_half), int(0x3F00_0000), Operand::Value(normal), range)?;
        let mag = self.select(Operand::Value(is_zero), int(0), Operand::Value(mag), range)?;
        let sign = self.bitwise(BinOp::And, Operand::Value(nib), int(8), range)?;
        let sign = self.bitwise(BinOp::Shl, Operand::Value(sign), int(28), range)?;
        let bits = self.bitwise(BinOp::Or, Operand::Value(mag), Operand::Value(sign), range)?;
        self.bitcast(bits, Elem::Scalar(DType::F32), range)
    }
}
