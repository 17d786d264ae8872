//! Triton's typing rules, in one place: promotion of operand types (with weak
//! Python scalars), broadcasting, casts, and the ops that implement Python
//! operators on tensors. Mirrors `triton/language/semantic.py`.

use crate::lower::{Lowerer, R};
use crate::value::ConstValue;
use ruff_text_size::TextRange;
use tm_ir::{BinOp, CastKind, CmpPred, Const, DType, Elem, OpKind, Type, UnOp, ValueId};

/// An operand of a binary op before promotion: an IR value, or a Python number
/// whose type is weak (it adapts to the other operand where it fits).
#[derive(Clone, Debug)]
pub enum Operand {
    Value(ValueId),
    Weak(ConstValue),
}

/// Type kind order used for weak-scalar promotion (bool < uint < int < float).
/// Upstream's `dtype.kind()`: boolean < integral (signed and unsigned alike) < floating. A weak
/// Python scalar of a kind no higher than the tensor's takes the tensor's type, so `x % 3` on a
/// uint16 block computes in uint16.
fn kind_rank(d: DType) -> u8 {
    if d.is_bool() {
        0
    } else if d.is_int() {
        1
    } else {
        2
    }
}

/// The type a Python literal gets when it must become a tensor.
pub fn literal_dtype(c: &ConstValue) -> Option<DType> {
    match c {
        ConstValue::Bool(_) => Some(DType::I1),
        ConstValue::Int(i) => Some(if i32::try_from(*i).is_ok() {
            DType::I32
        } else if i64::try_from(*i).is_ok() {
            DType::I64
        } else {
            DType::U64
        }),
        ConstValue::Float(_) => Some(DType::F32),
        _ => None,
    }
}

/// C's usual arithmetic conversions on integers (Triton's `integer_promote_impl`).
pub fn integer_promote(a: DType, b: DType) -> DType {
    let (sa, sb) = (!a.is_unsigned_int(), !b.is_unsigned_int());
    if sa == sb {
        if a.bits() > b.bits() {
            a
        } else {
            b
        }
    } else if !sa {
        if a.bits() >= b.bits() {
            a
        } else {
            b
        }
    } else if b.bits() >= a.bits() {
        b
    } else {
        a
    }
}

/// Triton's `computation_type_impl`: the type both operands convert to.
pub fn computation_type(a: DType, a_weak: bool, b: DType, b_weak: bool, div_or_mod: bool) -> Result<DType, String> {
    if a_weak != b_weak {
        let (scalar, tensor) = if a_weak { (a, b) } else { (b, a) };
        if kind_rank(scalar) <= kind_rank(tensor) {
            if div_or_mod && matches!(tensor, DType::F16 | DType::BF16) {
                return Ok(DType::F32);
            }
            return Ok(tensor);
        }
    }
    if a == DType::F64 || b == DType::F64 {
        return Ok(DType::F64);
    }
    if a == DType::F32 || b == DType::F32 {
        return Ok(DType::F32);
    }
    if a == DType::F16 || b == DType::F16 {
        return Ok(if div_or_mod || b == DType::BF16 || a == DType::BF16 { DType::F32 } else { DType::F16 });
    }
    if a == DType::BF16 || b == DType::BF16 {
        return Ok(if div_or_mod || a != b { DType::F32 } else { DType::BF16 });
    }
    if a.is_fp8() && b.is_fp8() {
        return Ok(if a == b { a } else { DType::F16 });
    }
    if a.is_fp8() || b.is_fp8() {
        return Err(format!("unexpected type {} and {}", a.triton_name(), b.triton_name()));
    }
    if div_or_mod && a.is_unsigned_int() != b.is_unsigned_int() && !a.is_bool() && !b.is_bool() {
        return Err(format!(
            "Cannot use /, // or % with {} and {} because they have different signedness; cast them to the same signedness",
            a.language_name(),
            b.language_name()
        ));
    }
    Ok(integer_promote(a, b))
}

/// Broadcast two shapes NumPy-style (right-aligned, size-1 dims stretch).
pub fn broadcast_shapes(a: &[u32], b: &[u32]) -> Result<Vec<u32>, String> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(format!(
                "cannot broadcast shapes {a:?} and {b:?}: incompatible dimensions at index {i}: {da} and {db}"
            ));
        };
    }
    Ok(out)
}

fn const_fits(c: &ConstValue, d: DType) -> bool {
    let Some(i) = c.as_int() else { return true };
    match d {
        DType::I1 => (0..=1).contains(&i),
        DType::I8 => i8::try_from(i).is_ok(),
        DType::I16 => i16::try_from(i).is_ok(),
        DType::I32 => i32::try_from(i).is_ok(),
        DType::I64 => i64::try_from(i).is_ok(),
        DType::U8 => u8::try_from(i).is_ok(),
        DType::U16 => u16::try_from(i).is_ok(),
        DType::U32 => u32::try_from(i).is_ok(),
        DType::U64 => u64::try_from(i).is_ok(),
        _ => true,
    }
}

impl Lowerer<'_> {
    /// A scalar constant of type `d`.
    pub fn const_scalar(&mut self, d: DType, c: &ConstValue, range: TextRange) -> R<ValueId> {
        if !const_fits(c, d) {
            return Err(self.err(range, format!("value {c} is out of range for {}", d.language_name())));
        }
        let payload = match c {
            ConstValue::Bool(b) if d.is_float() => Const::Float(*b as i64 as f64),
            ConstValue::Bool(b) => Const::Int(*b as i64),
            ConstValue::Int(i) if d.is_float() => Const::Float(*i as f64),
            // u64 values above i64::MAX keep their bit pattern.
            ConstValue::Int(i) => Const::Int(*i as i64),
            ConstValue::Float(x) if d.is_float() => Const::Float(*x),
            ConstValue::Float(x) if d.is_bool() => Const::Int((*x != 0.0) as i64),
            ConstValue::Float(x) => Const::Int(*x as i64),
            other => return Err(self.err(range, format!("cannot use {} value {other} as a number", other.type_name()))),
        };
        Ok(self.emit1(OpKind::Constant(payload), vec![], Type::scalar(d)))
    }

    /// Materialises a Python literal with its default (strong) type.
    pub fn literal_value(&mut self, c: &ConstValue, range: TextRange) -> R<ValueId> {
        let Some(d) = literal_dtype(c) else {
            return Err(self.err(range, format!("a {} value cannot be used as a tensor", c.type_name())));
        };
        self.const_scalar(d, c, range)
    }

    pub fn operand_dtype(&self, o: &Operand) -> Option<DType> {
        match o {
            Operand::Value(v) => self.f.ty(*v).dtype(),
            Operand::Weak(c) => literal_dtype(c),
        }
    }

    /// Turns an operand into a value of scalar type `d` (the shape is unchanged).
    pub fn materialize(&mut self, o: &Operand, d: DType, range: TextRange) -> R<ValueId> {
        match o {
            Operand::Weak(c) => self.const_scalar(d, c, range),
            Operand::Value(v) => self.cast(*v, d, range),
        }
    }

    /// Value conversion to element type `d` (no-op when already `d`).
    pub fn cast(&mut self, v: ValueId, d: DType, range: TextRange) -> R<ValueId> {
        let ty = self.f.ty(v).clone();
        match ty.elem {
            Elem::Scalar(s) if s == d => Ok(v),
            Elem::Scalar(_) => {
                self.check_dtype_supported(d, range)?;
                Ok(self.emit1(OpKind::Cast(CastKind::Convert), vec![v], ty.with_elem(Elem::Scalar(d))))
            }
            // Upstream's `cast`: a pointer becomes its 64-bit address, or whether it is non-null.
            Elem::Ptr(_) if d == DType::I64 => {
                Ok(self.emit1(OpKind::Cast(CastKind::PtrToInt), vec![v], ty.with_elem(Elem::Scalar(d))))
            }
            Elem::Ptr(_) if d == DType::I1 => {
                let addr = self.emit1(OpKind::Cast(CastKind::PtrToInt), vec![v], ty.with_elem(Elem::Scalar(DType::I64)));
                self.cast(addr, d, range)
            }
            Elem::Ptr(_) => Err(self.err(
                range,
                format!("cannot cast {} to {} (a pointer converts to int64 or int1 only)", self.type_name_of(v), crate::dtype_attrs::upstream_name(d)),
            )),
        }
    }

    /// A narrowing float conversion rounding toward zero (`fp_downcast_rounding="rtz"`).
    pub fn cast_rtz(&mut self, v: ValueId, d: DType) -> ValueId {
        let ty = self.f.ty(v).with_elem(Elem::Scalar(d));
        self.emit1(OpKind::Cast(CastKind::ConvertRtz), vec![v], ty)
    }

    /// Upstream's `cast` to a pointer type: an integer becomes the pointer at that address
    /// (`tt.int_to_ptr`), a pointer a pointer to another element type.
    pub fn cast_to_ptr(&mut self, v: ValueId, p: DType, range: TextRange) -> R<ValueId> {
        let ty = self.f.ty(v).clone();
        let to = ty.with_elem(Elem::Ptr(p));
        match ty.elem {
            Elem::Ptr(q) if q == p => Ok(v),
            Elem::Ptr(_) => Ok(self.emit1(OpKind::Cast(CastKind::PtrCast), vec![v], to)),
            Elem::Scalar(d) if d.is_int() || d.is_bool() => Ok(self.emit1(OpKind::Cast(CastKind::IntToPtr), vec![v], to)),
            Elem::Scalar(d) => Err(self.err(
                range,
                format!("cannot cast {} to pointer<{}>", crate::dtype_attrs::upstream_name(d), crate::dtype_attrs::upstream_name(p)),
            )),
        }
    }

    /// Reinterprets the bits of `v` as `d` (same width), or a pointer as a pointer to `d`.
    pub fn bitcast(&mut self, v: ValueId, to: Elem, range: TextRange) -> R<ValueId> {
        let ty = self.f.ty(v).clone();
        match (ty.elem, to) {
            (a, b) if a == b => Ok(v),
            (Elem::Scalar(a), Elem::Scalar(b)) if a.bits() == b.bits() => {
                self.check_dtype_supported(b, range)?;
                Ok(self.emit1(OpKind::Cast(CastKind::Bitcast), vec![v], ty.with_elem(to)))
            }
            // Upstream's `bitcast` of or to a pointer is its `cast`.
            (_, Elem::Ptr(p)) => self.cast_to_ptr(v, p, range),
            (Elem::Ptr(_), Elem::Scalar(d)) => self.cast(v, d, range),
            (a, b) => Err(self.err(range, format!("cannot bitcast {a} to {b}: the bit widths differ"))),
        }
    }

    /// fp64 has no Metal equivalent: refuse it where it would be computed.
    ///
    /// The refusal is reported when the kernel has been lowered (`lower_kernel`), at the
    /// first float64 value, unless an error upstream also raises (e.g. "invalid operands
    /// of type fp64 and int32" for `&`) came first: the errors come in upstream's order.
    pub fn check_dtype_supported(&self, d: DType, range: TextRange) -> R<()> {
        if d == DType::F64 {
            let mut first = self.float64_use.borrow_mut();
            if first.is_none() {
                *first = Some(self.err(range, "float64 is not supported on Metal (Apple GPUs have no double precision); use float32"));
            }
        }
        Ok(())
    }

    /// Broadcasts `v` to `shape` (splatting scalars, expanding leading dims).
    /// Upstream's `broadcast_impl_shape` (store values, masks, `other`, `tl.broadcast_to`):
    /// a scalar splats; a block keeps its rank and only its size-1 dims grow.
    pub fn broadcast_exact(&mut self, v: ValueId, shape: &[u32], range: TextRange) -> R<ValueId> {
        let src = self.f.ty(v).shape.clone();
        if !src.is_empty() {
            if src.len() != shape.len() {
                return Err(self.err(range, format!("Cannot broadcast, rank mismatch: {src:?}, {shape:?}")));
            }
            if let Some(i) = (0..src.len()).find(|&i| src[i] != shape[i] && src[i] != 1) {
                return Err(self.err(
                    range,
                    format!(
                        "Cannot broadcast, the expanded size of the tensor ({}) must match the existing size ({}) in non-singleton dimension {i}: {src:?}, {shape:?}",
                        shape[i], src[i]
                    ),
                ));
            }
        }
        self.broadcast_to(v, shape, range)
    }

    pub fn broadcast_to(&mut self, v: ValueId, shape: &[u32], range: TextRange) -> R<ValueId> {
        let ty = self.f.ty(v).clone();
        if ty.shape == shape {
            return Ok(v);
        }
        if ty.shape.is_empty() {
            return Ok(self.emit1(OpKind::Splat, vec![v], ty.with_shape(shape.to_vec())));
        }
        broadcast_shapes(&ty.shape, shape)
            .ok()
            .filter(|s| s == shape)
            .ok_or_else(|| self.err(range, format!("cannot broadcast a block of shape {:?} to {:?}", ty.shape, shape)))?;
        let mut cur = v;
        let mut cur_shape = ty.shape.clone();
        while cur_shape.len() < shape.len() {
            cur_shape.insert(0, 1);
            cur = self.emit1(OpKind::ExpandDims(0), vec![cur], ty.with_shape(cur_shape.clone()));
        }
        if cur_shape == shape {
            return Ok(cur);
        }
        Ok(self.emit1(OpKind::Broadcast, vec![cur], ty.with_shape(shape.to_vec())))
    }

    fn operand_shape(&self, o: &Operand) -> Vec<u32> {
        match o {
            Operand::Value(v) => self.f.ty(*v).shape.clone(),
            Operand::Weak(_) => vec![],
        }
    }

    /// Converts both operands to dtype `d` and a common shape.
    pub fn unify(&mut self, a: &Operand, b: &Operand, d: DType, range: TextRange) -> R<(ValueId, ValueId, Vec<u32>)> {
        let shape = broadcast_shapes(&self.operand_shape(a), &self.operand_shape(b)).map_err(|m| self.err(range, m))?;
        let va = self.materialize(a, d, range)?;
        let vb = self.materialize(b, d, range)?;
        let va = self.broadcast_to(va, &shape, range)?;
        let vb = self.broadcast_to(vb, &shape, range)?;
        Ok((va, vb, shape))
    }

    fn is_ptr_operand(&self, o: &Operand) -> bool {
        matches!(o, Operand::Value(v) if self.f.ty(*v).elem.is_ptr())
    }

    /// `ptr + offset` (offset in elements).
    pub fn add_ptr(&mut self, ptr: ValueId, off: &Operand, negate: bool, range: TextRange) -> R<ValueId> {
        let od = self.operand_dtype(off).unwrap_or(DType::F32);
        if !od.is_int() || od.is_bool() {
            return Err(self.err(range, format!("pointer offsets must be integers, not {}", od.language_name())));
        }
        let mut o = match off {
            Operand::Weak(c) => {
                let d = literal_dtype(c).unwrap_or(DType::I32);
                self.const_scalar(d, c, range)?
            }
            Operand::Value(v) => *v,
        };
        if negate {
            o = self.emit1(OpKind::Unary(UnOp::Neg), vec![o], self.f.ty(o).clone());
        }
        let pty = self.f.ty(ptr).clone();
        let shape = broadcast_shapes(&pty.shape, &self.f.ty(o).shape).map_err(|m| self.err(range, m))?;
        let p = self.broadcast_to(ptr, &shape, range)?;
        let o = self.broadcast_to(o, &shape, range)?;
        Ok(self.emit1(OpKind::AddPtr, vec![p, o], pty.with_shape(shape)))
    }

    /// `a + b`, `a - b`, `a * b`, `a % b`, `a // b`, `a / b`.
    pub fn arith(&mut self, op: BinOp, a: Operand, b: Operand, true_div: bool, range: TextRange) -> R<ValueId> {
        let (ap, bp) = (self.is_ptr_operand(&a), self.is_ptr_operand(&b));
        if ap || bp {
            return match (op, ap, bp, &a, &b) {
                (BinOp::Add, true, false, Operand::Value(p), off) => self.add_ptr(*p, &off.clone(), false, range),
                (BinOp::Add, false, true, off, Operand::Value(p)) => self.add_ptr(*p, &off.clone(), false, range),
                (BinOp::Sub, true, false, Operand::Value(p), off) => self.add_ptr(*p, &off.clone(), true, range),
                _ => Err(self.err(range, "unsupported arithmetic on pointers (only pointer + integer and pointer - integer)")),
            };
        }
        let (Some(da), Some(db)) = (self.operand_dtype(&a), self.operand_dtype(&b)) else {
            return Err(self.err(range, "operands are not numbers"));
        };
        let (aw, bw) = (matches!(a, Operand::Weak(_)), matches!(b, Operand::Weak(_)));
        let d = if true_div {
            match (da.is_float(), db.is_float()) {
                (false, false) => {
                    // Upstream checks `/` like `//` and `%`: integers of different signedness
                    // are refused (a weak Python int takes the other operand's type).
                    computation_type(da, aw, db, bw, true).map_err(|m| self.err(range, m))?;
                    DType::F32
                }
                (true, false) => da,
                (false, true) => db,
                (true, true) => computation_type(da, false, db, false, false).map_err(|m| self.err(range, m))?,
            }
        } else {
            let div_or_mod = matches!(op, BinOp::Div | BinOp::Rem);
            if op == BinOp::Div && (da.is_float() || db.is_float()) {
                return Err(self.err(range, "floor division (//) needs integer operands; use / for floats"));
            }
            computation_type(da, aw, db, bw, div_or_mod).map_err(|m| self.err(range, m))?
        };
        self.check_dtype_supported(d, range)?;
        let (va, vb, shape) = self.unify(&a, &b, d, range)?;
        Ok(self.emit1(OpKind::Binary(op), vec![va, vb], Type::block(Elem::Scalar(d), shape)))
    }

    /// `&`, `|`, `^`, `<<`, `>>`: integers (and booleans) only.
    pub fn bitwise(&mut self, op: BinOp, a: Operand, b: Operand, range: TextRange) -> R<ValueId> {
        let (Some(da), Some(db)) = (self.operand_dtype(&a), self.operand_dtype(&b)) else {
            return Err(self.err(range, "operands are not numbers"));
        };
        if !da.is_int() || !db.is_int() {
            return Err(self.err(
                range,
                format!(
                    "invalid operands of type {} and {}: bitwise operators need integer operands",
                    da.language_name(),
                    db.language_name()
                ),
            ));
        }
        let d = match (&a, &b) {
            (Operand::Weak(_), Operand::Value(_)) if !matches!(op, BinOp::Shl | BinOp::Shr) => db,
            (Operand::Value(_), Operand::Weak(_)) => da,
            _ => integer_promote(da, db),
        };
        let (va, vb, shape) = self.unify(&a, &b, d, range)?;
        if op == BinOp::Shr && d.bits() > 1 {
            // Upstream shifts arithmetically when the tensor operand on the left is
            // signed (for `number >> tensor`, the right one's signedness decides),
            // whatever the promoted type: `Shr` on the type of that signedness.
            let arithmetic = match (&a, da, db) {
                (Operand::Weak(_), _, db) => db.is_signed_int(),
                (_, da, _) => da.is_signed_int(),
            };
            if arithmetic != d.is_signed_int() {
                let s = DType::int_of_bits(d.bits(), arithmetic).expect("an integer width");
                let (xa, xb) = (self.bitcast(va, Elem::Scalar(s), range)?, self.bitcast(vb, Elem::Scalar(s), range)?);
                let r = self.emit1(OpKind::Binary(op), vec![xa, xb], Type::block(Elem::Scalar(s), shape));
                return self.bitcast(r, Elem::Scalar(d), range);
            }
        }
        Ok(self.emit1(OpKind::Binary(op), vec![va, vb], Type::block(Elem::Scalar(d), shape)))
    }

    /// Comparison; the result is `i1`.
    pub fn compare(&mut self, pred: CmpPred, a: Operand, b: Operand, range: TextRange) -> R<ValueId> {
        let (ap, bp) = (self.is_ptr_operand(&a), self.is_ptr_operand(&b));
        let d = if ap || bp {
            if !(ap && bp) {
                return Err(self.err(range, "cannot compare a pointer with a number"));
            }
            let (Operand::Value(x), Operand::Value(y)) = (&a, &b) else { unreachable!("both pointers") };
            let (x, y) = (self.cast(*x, DType::I64, range)?, self.cast(*y, DType::I64, range)?);
            return self.compare(pred, Operand::Value(x), Operand::Value(y), range);
        } else {
            let (Some(da), Some(db)) = (self.operand_dtype(&a), self.operand_dtype(&b)) else {
                return Err(self.err(range, "operands are not numbers"));
            };
            let (aw, bw) = (matches!(a, Operand::Weak(_)), matches!(b, Operand::Weak(_)));
            computation_type(da, aw, db, bw, false).map_err(|m| self.err(range, m))?
        };
        self.check_dtype_supported(d, range)?;
        let (va, vb, shape) = self.unify(&a, &b, d, range)?;
        Ok(self.emit1(OpKind::Cmp(pred), vec![va, vb], Type::block(Elem::Scalar(DType::I1), shape)))
    }

    /// `x != 0` as `i1` (truthiness of a tensor).
    pub fn to_bool(&mut self, v: ValueId, range: TextRange) -> R<ValueId> {
        match self.f.ty(v).elem {
            Elem::Scalar(DType::I1) => Ok(v),
            Elem::Scalar(_) => self.compare(CmpPred::Ne, Operand::Value(v), Operand::Weak(ConstValue::Int(0)), range),
            // As upstream's cast of a pointer to int1: whether it is not null.
            Elem::Ptr(_) => {
                let i = self.cast(v, DType::I64, range)?;
                self.compare(CmpPred::Ne, Operand::Value(i), Operand::Weak(ConstValue::Int(0)), range)
            }
        }
    }

    pub fn negate(&mut self, v: ValueId, range: TextRange) -> R<ValueId> {
        let ty = self.f.ty(v).clone();
        match ty.elem {
            Elem::Scalar(DType::I1) => {
                // -True == -1 in Triton too (bool promotes to int32 first).
                let w = self.cast(v, DType::I32, range)?;
                Ok(self.emit1(OpKind::Unary(UnOp::Neg), vec![w], ty.with_elem(Elem::Scalar(DType::I32))))
            }
            Elem::Scalar(_) => Ok(self.emit1(OpKind::Unary(UnOp::Neg), vec![v], ty)),
            Elem::Ptr(_) => Err(self.err(range, "cannot negate a pointer")),
        }
    }

    pub fn invert(&mut self, v: ValueId, range: TextRange) -> R<ValueId> {
        let ty = self.f.ty(v).clone();
        match ty.elem {
            Elem::Scalar(d) if d.is_int() => Ok(self.emit1(OpKind::Unary(UnOp::Not), vec![v], ty)),
            _ => Err(self.err(range, format!("~ needs an integer operand, got {}", tm_ir::describe_type(&ty)))),
        }
    }

    /// `tl.where(cond, a, b)`.
    pub fn select(&mut self, cond: Operand, a: Operand, b: Operand, range: TextRange) -> R<ValueId> {
        let c = match &cond {
            Operand::Weak(c) => {
                let c = ConstValue::Bool(c.truthy());
                self.const_scalar(DType::I1, &c, range)?
            }
            Operand::Value(v) => self.to_bool(*v, range)?,
        };
        let (ap, bp) = (self.is_ptr_operand(&a), self.is_ptr_operand(&b));
        let (va, vb, shape) = if ap || bp {
            let (Operand::Value(x), Operand::Value(y)) = (&a, &b) else {
                return Err(self.err(range, "tl.where with a pointer needs two pointers"));
            };
            if self.f.ty(*x).elem != self.f.ty(*y).elem {
                return Err(self.err(range, "tl.where: the two pointer operands have different types"));
            }
            let shape = broadcast_shapes(&self.f.ty(*x).shape, &self.f.ty(*y).shape).map_err(|m| self.err(range, m))?;
            (*x, *y, shape)
        } else {
            let (Some(da), Some(db)) = (self.operand_dtype(&a), self.operand_dtype(&b)) else {
                return Err(self.err(range, "tl.where operands are not numbers"));
            };
            let (aw, bw) = (matches!(a, Operand::Weak(_)), matches!(b, Operand::Weak(_)));
            let d = computation_type(da, aw, db, bw, false).map_err(|m| self.err(range, m))?;
            self.unify(&a, &b, d, range)?
        };
        let shape = broadcast_shapes(&shape, &self.f.ty(c).shape.clone()).map_err(|m| self.err(range, m))?;
        let c = self.broadcast_to(c, &shape, range)?;
        let va = self.broadcast_to(va, &shape, range)?;
        let vb = self.broadcast_to(vb, &shape, range)?;
        let ty = self.f.ty(va).with_shape(shape);
        Ok(self.emit1(OpKind::Select, vec![c, va, vb], ty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotion_follows_triton() {
        use DType::*;
        assert_eq!(computation_type(I32, false, F32, false, false), Ok(F32));
        assert_eq!(computation_type(F16, false, F32, false, false), Ok(F32));
        assert_eq!(computation_type(I32, false, I64, false, false), Ok(I64));
        assert_eq!(computation_type(F16, false, F32, true, false), Ok(F16));
        assert_eq!(computation_type(I8, false, I32, true, false), Ok(I8));
        assert_eq!(computation_type(I32, false, F32, true, false), Ok(F32));
        assert_eq!(computation_type(F16, false, F16, false, true), Ok(F32));
        assert_eq!(computation_type(U32, false, I32, false, false), Ok(U32));
        assert!(computation_type(U32, false, I32, false, true).is_err());
        assert_eq!(computation_type(F16, false, BF16, false, false), Ok(F32));
    }

    #[test]
    fn broadcasting() {
        assert_eq!(broadcast_shapes(&[4, 1], &[8]), Ok(vec![4, 8]));
        assert!(broadcast_shapes(&[4], &[8]).is_err());
    }
}
