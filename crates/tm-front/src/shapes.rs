//! Shape builtins: trans/permute, reshape/view/ravel, join/split, cat, zeros_like/full_like.

use crate::builtins::Args;
use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use tm_ir::{DType, Elem, OpKind, Type};

impl Lowerer<'_> {
    /// Shape manipulation: trans/permute, reshape/view/ravel, join/split, cat, *_like.
    pub(crate) fn lower_shape_op(&mut self, name: &str, recv: Option<tm_ir::ValueId>, mut args: Args, range: TextRange) -> R<Val> {
        if let Some(r) = recv {
            args.pos.insert(0, (Val::Tensor(r), range));
        }
        let t = |v| Ok(Val::Tensor(v));
        match name {
            "trans" | "permute" => {
                let (x, r) = args.pos.first().cloned().ok_or_else(|| self.err(range, format!("{name}() needs a tensor")))?;
                let x = self.tensor(&x, r)?;
                let rank = self.f.ty(x).rank();
                let rest: Vec<ConstValue> = args.pos[1..]
                    .iter()
                    .chain(args.kw.iter().filter(|(k, _, _)| k == "dims").map(|(_, v, r)| (v, r)).map(|(v, r)| (v.clone(), *r)).collect::<Vec<_>>().iter())
                    .map(|(v, r)| match v {
                        Val::Const(c) => Ok(c.clone()),
                        _ => Err(self.err(*r, "permutation dims must be tl.constexpr")),
                    })
                    .collect::<R<_>>()?;
                let dims: Vec<i128> = match rest.as_slice() {
                    [] if name == "trans" => (0..rank as i128).rev().collect(),
                    [ConstValue::Tuple(t)] => t.iter().map(|c| c.as_int()).collect::<Option<_>>().ok_or_else(|| self.err(range, "dims must be integers"))?,
                    items => items.iter().map(|c| c.as_int()).collect::<Option<_>>().ok_or_else(|| self.err(range, "dims must be integers"))?,
                };
                let mut seen = vec![false; rank];
                let mut perm = vec![];
                for d in dims {
                    let a = self.norm_axis_pub(d, rank, range)?;
                    if seen[a as usize] {
                        return Err(self.err(range, format!("{name}(): dims must be a permutation of 0..{rank}")));
                    }
                    seen[a as usize] = true;
                    perm.push(a);
                }
                if perm.len() != rank {
                    return Err(self.err(range, format!("{name}(): expected {rank} dims, got {}", perm.len())));
                }
                let ty = self.f.ty(x).clone();
                if perm.iter().enumerate().all(|(i, &p)| i as u32 == p) {
                    return t(x);
                }
                let shape = perm.iter().map(|&p| ty.shape[p as usize]).collect();
                t(self.emit1(OpKind::Trans(perm), vec![x], ty.with_shape(shape)))
            }
            "reshape" | "view" | "ravel" => {
                let (x, r) = args.pos.first().cloned().ok_or_else(|| self.err(range, format!("{name}() needs a tensor")))?;
                let x = self.tensor(&x, r)?;
                let ty = self.f.ty(x).clone();
                let shape: Vec<u32> = if name == "ravel" {
                    vec![ty.numel() as u32]
                } else {
                    let spec: Vec<ConstValue> = args.pos[1..]
                        .iter()
                        .map(|(v, _)| v.clone())
                        .chain(args.kw.iter().filter(|(k, _, _)| k == "shape").map(|(_, v, _)| v.clone()))
                        .map(|v| match v {
                            Val::Const(c) => Ok(c),
                            _ => Err(self.err(range, "shape must be tl.constexpr")),
                        })
                        .collect::<R<_>>()?;
                    let items = match spec.as_slice() {
                        [ConstValue::Tuple(t)] => t.clone(),
                        other => other.to_vec(),
                    };
                    items.iter().map(|c| c.as_int().and_then(|i| u32::try_from(i).ok())).collect::<Option<_>>().ok_or_else(|| self.err(range, "shape must be positive integers"))?
                };
                if shape.iter().map(|&s| s as u64).product::<u64>() != ty.numel() || shape.iter().any(|s| !s.is_power_of_two()) {
                    return Err(self.err(range, format!("cannot reshape a block of shape {:?} to {shape:?}", ty.shape)));
                }
                if shape == ty.shape {
                    return t(x);
                }
                t(self.emit1(OpKind::Reshape, vec![x], ty.with_shape(shape)))
            }
            "join" => {
                let b = self.bind(name, args, &["a", "b"], 2, range)?;
                let (av, ar) = b[0].clone().expect("required");
                let (bv, br) = b[1].clone().expect("required");
                let (a, c) = (self.operand(&av, ar)?, self.operand(&bv, br)?);
                let (da, db) = (self.operand_dtype(&a), self.operand_dtype(&c));
                let d = crate::semantic::computation_type(da.unwrap_or(DType::I32), matches!(a, Operand::Weak(_)), db.unwrap_or(DType::I32), matches!(c, Operand::Weak(_)), false)
                    .map_err(|m| self.err(range, m))?;
                let (x, y, shape) = self.unify(&a, &c, d, range)?;
                let mut out = shape.clone();
                out.push(2);
                t(self.emit1(OpKind::Join, vec![x, y], Type::block(Elem::Scalar(d), out)))
            }
            "split" => {
                let (x, r) = args.pos.first().cloned().ok_or_else(|| self.err(range, "split() needs a tensor"))?;
                let x = self.tensor(&x, r)?;
                let ty = self.f.ty(x).clone();
                if ty.shape.last() != Some(&2) {
                    return Err(self.err(range, format!("split() needs a block whose last dimension is 2, got {:?}", ty.shape)));
                }
                let shape = ty.shape[..ty.rank() - 1].to_vec();
                let id = self.emit(OpKind::Split, vec![x], vec![ty.with_shape(shape.clone()), ty.with_shape(shape)], vec![]);
                let res = self.f.op(id).results.clone();
                Ok(Val::Tuple(vec![Val::Tensor(res[0]), Val::Tensor(res[1])]))
            }
            "cat" => {
                let b = self.bind(name, args, &["input", "other", "can_reorder"], 2, range)?;
                let (av, ar) = b[0].clone().expect("required");
                let (bv, br) = b[1].clone().expect("required");
                let (a, c) = (self.tensor(&av, ar)?, self.tensor(&bv, br)?);
                let (ta, tc) = (self.f.ty(a).clone(), self.f.ty(c).clone());
                if ta != tc || ta.rank() == 0 {
                    return Err(self.err(range, "cat() needs two blocks of the same shape and dtype"));
                }
                let mut shape = ta.shape.clone();
                shape[0] *= 2;
                t(self.emit1(OpKind::Cat, vec![a, c], ta.with_shape(shape)))
            }
            _ => {
                // zeros_like / full_like
                let names: &[&str] = if name == "zeros_like" { &["input", "dtype"] } else { &["input", "value", "dtype"] };
                let b = self.bind(name, args, names, if name == "zeros_like" { 1 } else { 2 }, range)?;
                let (xv, xr) = b[0].clone().expect("required");
                let x = self.tensor(&xv, xr)?;
                let ty = self.f.ty(x).clone();
                let value = if name == "zeros_like" { ConstValue::Int(0) } else { self.const_arg(name, "value", b[1].as_ref().expect("required"))? };
                let di = names.len() - 1;
                let d = match &b[di] {
                    Some(a) if !matches!(a.0, Val::Const(ConstValue::None)) => self.dtype_arg(name, "dtype", a)?,
                    _ => ty.dtype().ok_or_else(|| self.err(range, format!("{name}() of pointers")))?,
                };
                let s = self.const_scalar(d, &value, range)?;
                t(self.broadcast_to(s, &ty.shape, range)?)
            }
        }
    }

    /// `broadcast_to(input, *shape)`, as upstream: the shape as one tuple
    /// (`broadcast_to(x, (32, 32))`, `shape=`) or as separate integers (`x.broadcast_to(32, 32)`).
    pub(crate) fn lower_broadcast_to(&mut self, args: Args, range: TextRange) -> R<Val> {
        let (x, r) = args.pos.first().cloned().ok_or_else(|| self.err(range, "broadcast_to() needs a tensor"))?;
        let x = self.tensor(&x, r)?;
        let mut spec: Vec<(Val, TextRange)> = args.pos[1..].to_vec();
        for (k, v, kr) in &args.kw {
            if k != "shape" {
                return Err(self.err(*kr, format!("broadcast_to() got an unexpected keyword argument '{k}'")));
            }
            spec.push((v.clone(), *kr));
        }
        let shape = match spec.as_slice() {
            [] => return Err(self.err(range, "broadcast_to() needs a shape")),
            [one] => {
                let c = self.const_arg("broadcast_to", "shape", one)?;
                crate::builtins::shape_of(&c).or_else(|| c.as_int().and_then(|i| u32::try_from(i).ok()).map(|i| vec![i]))
            }
            many => many
                .iter()
                .map(|a| self.const_arg("broadcast_to", "shape", a).ok().and_then(|c| c.as_int()).and_then(|i| u32::try_from(i).ok()))
                .collect::<Option<Vec<u32>>>(),
        }
        .ok_or_else(|| self.err(range, "shape must be a tuple of integers"))?;
        Ok(Val::Tensor(self.broadcast_exact(x, &shape, range)?))
    }
}
