//! `tl.atomic_*` and `tl.debug_barrier`. Metal updates 32-bit integers and
//! float add atomically; float max/min, float16/bfloat16 add and 16-bit
//! compare-and-swap become compare-and-swap loops in the lowering. Upstream's
//! element-type rules are checked here with its messages; 64-bit atomics are
//! refused (Metal has none).

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{AtomicOp, DType, Elem, OpKind};

impl Lowerer<'_> {
    pub fn lower_atomic(&mut self, name: &str, args: Args, range: TextRange) -> R<Val> {
        let is_cas = name == "atomic_cas";
        let names: &[&str] = if is_cas { &["pointer", "cmp", "val", "sem", "scope"] } else { &["pointer", "val", "mask", "sem", "scope"] };
        let b = self.bind_args(name, args, names, if is_cas { 3 } else { 2 }, range)?;
        for (i, what, allowed) in [(3, "sem", &["acquire", "release", "acq_rel", "relaxed"][..]), (4, "scope", &["gpu", "cta", "sys"][..])] {
            match &b[i] {
                None | Some((Val::Const(ConstValue::None), _)) => {}
                Some((Val::Const(ConstValue::Str(s)), r)) if !allowed.contains(&s.as_str()) => {
                    return Err(self.err(*r, format!("{what} must be one of {allowed:?}, got '{s}'")));
                }
                Some((Val::Const(ConstValue::Str(_)), _)) => {}
                Some((_, r)) => return Err(self.err(*r, format!("{what} must be a string constant"))),
            }
        }
        let (pv, pr) = b[0].clone().expect("required");
        let ptr = self.tensor(&pv, pr)?;
        let pty = self.f.ty(ptr).clone();
        let Elem::Ptr(d) = pty.elem else {
            return Err(self.err(pr, format!("{name} needs a pointer, got {}", tm_ir::describe_type(&pty))));
        };
        let op = match name {
            "atomic_add" => Some(AtomicOp::Add),
            "atomic_max" => Some(AtomicOp::Max),
            "atomic_min" => Some(AtomicOp::Min),
            "atomic_and" => Some(AtomicOp::And),
            "atomic_or" => Some(AtomicOp::Or),
            "atomic_xor" => Some(AtomicOp::Xor),
            "atomic_xchg" => Some(AtomicOp::Xchg),
            _ => None,
        };
        // Upstream's element-type rules (semantic.py): 16-bit floats only add, no other
        // 16-bit or narrower types, compare-and-swap on 16, 32 and 64 bits. Metal then
        // updates 32-bit words only: 16-bit elements through the aligned word that holds
        // them (tm-msl `atomics.rs`); 64-bit elements not at all.
        let upstream_refusal = match op {
            None if !matches!(d.bits(), 16 | 32 | 64) => Some("atomic_cas only supports elements with width {16, 32, 64}".to_string()),
            None => None,
            Some(a) => {
                let opname = &name["atomic_".len()..];
                match d {
                    DType::F16 if a != AtomicOp::Add => Some(format!("atomic_{opname} does not support fp16")),
                    DType::BF16 if a != AtomicOp::Add => Some(format!("atomic_{opname} does not support bf16")),
                    DType::I16 | DType::U16 => Some(format!("atomic_{opname} does not support {}", d.language_name())),
                    _ if d.bits() < 16 => Some(format!("atomic_{opname} does not support {}", crate::dtype_attrs::upstream_name(d))),
                    _ => None,
                }
            }
        };
        if let Some(msg) = upstream_refusal {
            return Err(self.err(range, msg));
        }
        let ok = matches!(
            (op, d),
            (_, DType::I32 | DType::U32)
                | (Some(AtomicOp::Add | AtomicOp::Max | AtomicOp::Min | AtomicOp::Xchg) | None, DType::F32)
                | (Some(AtomicOp::Add) | None, DType::F16 | DType::BF16)
                | (None, DType::I16 | DType::U16)
        );
        if !ok {
            let why = if d.bits() == 64 {
                "Metal has no 64-bit atomic read-modify-write on device memory"
            } else {
                "atomics update int32, uint32 and float32, add also float16 and bfloat16; bitwise ones only integers"
            };
            return Err(self.err(range, format!("{name} on {} is not supported on Metal ({why})", d.language_name())));
        }
        // Upstream's `_atomic_typechecking_impl`: the value is cast to the element type; with a
        // block of pointers, value and mask broadcast with it but may not grow it (a value of
        // higher rank or larger shape is refused); with one pointer they must be scalars.
        let value = |s: &mut Self, i: usize| -> R<tm_ir::ValueId> {
            let (v, r) = b[i].clone().expect("required");
            let o = s.operand(&v, r)?;
            let x = s.materialize(&o, d, r)?;
            s.atomic_operand_shape(x, &pty.shape, "Value", r)
        };
        let ty = pty.with_elem(Elem::Scalar(d));
        if is_cas {
            let cmp = value(self, 1)?;
            let val = value(self, 2)?;
            return Ok(Val::Tensor(self.emit1(OpKind::AtomicCas, vec![ptr, cmp, val], ty)));
        }
        let val = value(self, 1)?;
        let mut operands = vec![ptr, val];
        let has_mask = !matches!(&b[2], None | Some((Val::Const(ConstValue::None), _)));
        if has_mask {
            let (mv, mr) = b[2].clone().expect("checked");
            let m = self.tensor(&mv, mr)?;
            if self.f.ty(m).elem != Elem::Scalar(DType::I1) {
                return Err(self.err(mr, "Mask must have boolean scalar type"));
            }
            operands.push(self.atomic_operand_shape(m, &pty.shape, "Mask", mr)?);
        }
        let op = op.expect("not cas");
        Ok(Val::Tensor(self.emit1(OpKind::AtomicRmw { op, has_mask }, operands, ty)))
    }

    pub fn lower_debug_barrier(&mut self) -> Val {
        self.emit(OpKind::Barrier, vec![], vec![], vec![]);
        Val::Const(ConstValue::None)
    }

    /// An atomic's value or mask `x` shaped like the pointer block `shape` (upstream's rules,
    /// with its messages).
    fn atomic_operand_shape(&mut self, x: tm_ir::ValueId, shape: &[u32], what: &str, r: TextRange) -> R<tm_ir::ValueId> {
        let xs = self.f.ty(x).shape.clone();
        if shape.is_empty() && !xs.is_empty() {
            return Err(self.err(r, format!("{what} argument cannot be block type if pointer argument is not a block")));
        }
        let n = xs.len().max(shape.len());
        let pad = |s: &[u32]| -> Vec<u32> { std::iter::repeat_n(1, n - s.len()).chain(s.iter().copied()).collect() };
        let (a, b) = (pad(shape), pad(&xs));
        let mut out = vec![];
        for i in 0..n {
            if a[i] != b[i] && a[i] != 1 && b[i] != 1 {
                return Err(self.err(r, format!("Cannot make_shape_compatible: incompatible dimensions at index {i}: {} and {}", a[i], b[i])));
            }
            out.push(a[i].max(b[i]));
        }
        if out != shape {
            return Err(self.err(r, format!("Expected pointer argument to have shape {out:?} but got {shape:?}")));
        }
        self.broadcast_to(x, shape, r)
    }
}
