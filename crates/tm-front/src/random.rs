//! `tl.randint`, `tl.randint4x`, `tl.rand`, `tl.rand4x`, `tl.randn`, `tl.randn4x`:
//! the Philox 4x32 counter-based generator with Triton's constants, key
//! schedule, counter layout (offset, 0, 0, 0), seed split (low word, high word)
//! and float conversions, so the same seed and offsets give the same numbers
//! as upstream Triton.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{BinOp, CmpPred, DType, Elem, MathFn, OpKind, ValueId};

const KEY_A: i128 = 0x9E37_79B9;
const KEY_B: i128 = 0xBB67_AE85;
const ROUND_A: i128 = 0xD251_1F53;
const ROUND_B: i128 = 0xCD9E_8D57;

impl Lowerer<'_> {
    fn u32_const(&mut self, v: i128, range: TextRange) -> R<ValueId> {
        self.const_scalar(DType::U32, &ConstValue::Int(v), range)
    }

    fn u32_op(&mut self, op: BinOp, a: ValueId, b: ValueId, range: TextRange) -> R<ValueId> {
        match op {
            BinOp::Xor => self.bitwise(op, Operand::Value(a), Operand::Value(b), range),
            _ => self.arith(op, Operand::Value(a), Operand::Value(b), false, range),
        }
    }

    fn mulhi(&mut self, a: ValueId, b: ValueId, range: TextRange) -> R<ValueId> {
        let (a, b, shape) = self.unify(&Operand::Value(a), &Operand::Value(b), DType::U32, range)?;
        Ok(self.emit1(OpKind::MulHi, vec![a, b], tm_ir::Type::block(Elem::Scalar(DType::U32), shape)))
    }

    /// Four blocks of uint32 from Philox(seed, counters (offset, 0, 0, 0)).
    fn philox4x(&mut self, seed: &Val, offset: ValueId, rounds: u32, range: TextRange) -> R<[ValueId; 4]> {
        let od = self.f.ty(offset).dtype().filter(|d| d.is_int() && !d.is_bool());
        match od {
            Some(d) if d.bits() == 32 => {}
            Some(d) => return Err(self.err(range, format!("random offsets must be 32-bit integers, got {} (64-bit Philox is not supported yet)", d.language_name()))),
            None => return Err(self.err(range, "random offsets must be an integer block")),
        }
        let seed = self.operand(seed, range)?;
        let seed = match &seed {
            Operand::Weak(c) => {
                let d = crate::semantic::literal_dtype(c).unwrap_or(DType::I64);
                self.const_scalar(d, c, range)?
            }
            Operand::Value(v) => *v,
        };
        if !self.f.ty(seed).dtype().is_some_and(|d| d.is_int()) || self.f.ty(seed).is_block() {
            return Err(self.err(range, "the seed must be an integer scalar"));
        }
        let seed = self.cast(seed, DType::U64, range)?;
        let mask = self.const_scalar(DType::U64, &ConstValue::Int(0xffff_ffff), range)?;
        let lo = self.bitwise(BinOp::And, Operand::Value(seed), Operand::Value(mask), range)?;
        let mut k0 = self.cast(lo, DType::U32, range)?;
        let hi = self.bitwise(BinOp::Shr, Operand::Value(seed), Operand::Weak(ConstValue::Int(32)), range)?;
        let mut k1 = self.cast(hi, DType::U32, range)?;
        let mut c0 = self.bitcast(offset, Elem::Scalar(DType::U32), range)?;
        let zero = self.u32_const(0, range)?;
        let shape = self.f.ty(c0).shape.clone();
        let zero = self.broadcast_to(zero, &shape, range)?;
        let (mut c1, mut c2, mut c3) = (zero, zero, zero);
        let (a, b) = (self.u32_const(ROUND_A, range)?, self.u32_const(ROUND_B, range)?);
        let (ka, kb) = (self.u32_const(KEY_A, range)?, self.u32_const(KEY_B, range)?);
        for _ in 0..rounds {
            let (old0, old2) = (c0, c2);
            let h = self.mulhi(b, old2, range)?;
            let t = self.u32_op(BinOp::Xor, h, c1, range)?;
            c0 = self.u32_op(BinOp::Xor, t, k0, range)?;
            let h = self.mulhi(a, old0, range)?;
            let t = self.u32_op(BinOp::Xor, h, c3, range)?;
            c2 = self.u32_op(BinOp::Xor, t, k1, range)?;
            c1 = self.u32_op(BinOp::Mul, b, old2, range)?;
            c3 = self.u32_op(BinOp::Mul, a, old0, range)?;
            k0 = self.u32_op(BinOp::Add, k0, ka, range)?;
            k1 = self.u32_op(BinOp::Add, k1, kb, range)?;
        }
        Ok([c0, c1, c2, c3])
    }

    /// uint32 to a float in [0, 1): as int32, negative values fold onto
    /// non-negative ones, scaled so the largest stays below 1.
    fn uniform(&mut self, x: ValueId, range: TextRange) -> R<ValueId> {
        let i = self.bitcast(x, Elem::Scalar(DType::I32), range)?;
        let neg = self.compare(CmpPred::Lt, Operand::Value(i), Operand::Weak(ConstValue::Int(0)), range)?;
        let m = self.negate(i, range)?;
        let m = self.arith(BinOp::Sub, Operand::Value(m), Operand::Weak(ConstValue::Int(1)), false, range)?;
        let folded = self.select(Operand::Value(neg), Operand::Value(m), Operand::Value(i), range)?;
        self.arith(BinOp::Mul, Operand::Value(folded), Operand::Weak(ConstValue::Float(4.6566127342e-10)), false, range)
    }

    /// Box-Muller on two uniforms: (r cos th, r sin th).
    fn box_muller(&mut self, u1: ValueId, u2: ValueId, range: TextRange) -> R<(ValueId, ValueId)> {
        let u1 = self.arith(BinOp::Max, Operand::Weak(ConstValue::Float(1.0e-7)), Operand::Value(u1), false, range)?;
        let th = self.arith(BinOp::Mul, Operand::Weak(ConstValue::Float(6.283185307179586)), Operand::Value(u2), false, range)?;
        let ty = self.f.ty(u1).clone();
        let lg = self.emit1(OpKind::Math(MathFn::Log), vec![u1], ty.clone());
        let t = self.arith(BinOp::Mul, Operand::Weak(ConstValue::Float(-2.0)), Operand::Value(lg), false, range)?;
        let r = self.emit1(OpKind::Math(MathFn::Sqrt), vec![t], ty.clone());
        let c = self.emit1(OpKind::Math(MathFn::Cos), vec![th], ty.clone());
        let s = self.emit1(OpKind::Math(MathFn::Sin), vec![th], ty);
        Ok((self.arith(BinOp::Mul, Operand::Value(r), Operand::Value(c), false, range)?, self.arith(BinOp::Mul, Operand::Value(r), Operand::Value(s), false, range)?))
    }

    /// `tl.uint_to_uniform_float(x)` and `tl.pair_uniform_to_normal(u1, u2)`.
    pub fn lower_random_helper(&mut self, name: &str, args: Args, range: TextRange) -> R<Val> {
        if name == "uint_to_uniform_float" {
            let b = self.bind_args(name, args, &["x"], 1, range)?;
            let (xv, xr) = b[0].clone().expect("required");
            let x = self.tensor(&xv, xr)?;
            return match self.f.ty(x).dtype() {
                Some(DType::U32 | DType::I32) => Ok(Val::Tensor(self.uniform(x, range)?)),
                _ => Err(self.err(xr, "uint_to_uniform_float supports 32-bit integers")),
            };
        }
        let b = self.bind_args(name, args, &["u1", "u2"], 2, range)?;
        let (u1, r1) = b[0].clone().expect("required");
        let (u2, r2) = b[1].clone().expect("required");
        let (u1, u2) = (self.tensor(&u1, r1)?, self.tensor(&u2, r2)?);
        let (n1, n2) = self.box_muller(u1, u2, range)?;
        Ok(Val::Tuple(vec![Val::Tensor(n1), Val::Tensor(n2)]))
    }

    pub fn lower_random(&mut self, name: &str, args: Args, range: TextRange) -> R<Val> {
        let b = self.bind_args(name, args, &["seed", "offset", "n_rounds"], 2, range)?;
        let (seed, _) = b[0].clone().expect("required");
        let (ov, or) = b[1].clone().expect("required");
        let offset = self.tensor(&ov, or)?;
        let rounds = match &b[2] {
            None => 10,
            Some((Val::Const(c), r)) => c.as_int().and_then(|v| u32::try_from(v).ok()).filter(|&v| v <= 64).ok_or_else(|| self.err(*r, "n_rounds must be a small non-negative integer"))?,
            Some((_, r)) => return Err(self.err(*r, "n_rounds must be a tl.constexpr")),
        };
        let [c0, c1, c2, c3] = self.philox4x(&seed, offset, rounds, range)?;
        let tup = |v: Vec<ValueId>| Val::Tuple(v.into_iter().map(Val::Tensor).collect());
        Ok(match name {
            "randint" => Val::Tensor(c0),
            "randint4x" => tup(vec![c0, c1, c2, c3]),
            "rand" => Val::Tensor(self.uniform(c0, range)?),
            "rand4x" => {
                let u = [self.uniform(c0, range)?, self.uniform(c1, range)?, self.uniform(c2, range)?, self.uniform(c3, range)?];
                tup(u.to_vec())
            }
            "randn" => {
                let (u1, u2) = (self.uniform(c0, range)?, self.uniform(c1, range)?);
                Val::Tensor(self.box_muller(u1, u2, range)?.0)
            }
            _ => {
                let u = [self.uniform(c0, range)?, self.uniform(c1, range)?, self.uniform(c2, range)?, self.uniform(c3, range)?];
                let (n1, n2) = self.box_muller(u[0], u[1], range)?;
                let (n3, n4) = self.box_muller(u[2], u[3], range)?;
                tup(vec![n1, n2, n3, n4])
            }
        })
    }
}
