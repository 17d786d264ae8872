//! Constant folding and algebraic identities (`x * 1`, `x + 0`), so that launch
//! specialisation (an integer argument equal to 1) reaches the axis analysis.

use super::Renames;
use tm_ir::{BinOp, Const, DType, Func, OpKind, ValueId};

/// Wraps an integer result to the width and signedness of `d`, as the device would.
fn wrap(v: i128, d: DType) -> i64 {
    let bits = d.bits();
    if bits >= 64 {
        return v as i64;
    }
    let m = (v as u128) & ((1u128 << bits) - 1);
    if d.is_signed_int() && (m >> (bits - 1)) & 1 == 1 {
        (m as i128 - (1i128 << bits)) as i64
    } else {
        m as i64
    }
}

fn fold_int(op: BinOp, a: i64, b: i64, d: DType) -> Option<i64> {
    let (a, b) = if d.is_unsigned_int() && d.bits() == 64 {
        (a as u64 as i128, b as u64 as i128)
    } else {
        (a as i128, b as i128)
    };
    let r = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a.wrapping_mul(b),
        // Division by zero is left to the device, which defines it.
        BinOp::Div if b != 0 => a / b,
        BinOp::Rem if b != 0 => a % b,
        BinOp::And => a & b,
        BinOp::Or => a | b,
        BinOp::Xor => a ^ b,
        BinOp::Max => a.max(b),
        BinOp::Min => a.min(b),
        _ => return None,
    };
    Some(wrap(r, d))
}

pub fn run(f: &mut Func) {
    let mut ids = vec![];
    f.walk(|id| ids.push(id));
    let mut renames = Renames::default();
    for id in ids {
        renames.apply(f, id);
        let op = f.op(id).clone();
        let OpKind::Binary(b) = op.kind else { continue };
        let (x, y) = (op.operands[0], op.operands[1]);
        let res = op.results[0];
        let Some(d) = f.ty(res).dtype() else { continue };
        let splat_const = |v: ValueId| -> Option<Const> {
            if let Some(c) = f.as_const(v) {
                return Some(c);
            }
            let def = f.op(f.def_op(v)?);
            match def.kind {
                OpKind::Splat => f.as_const(def.operands[0]),
                _ => None,
            }
        };
        let (cx, cy) = (splat_const(x), splat_const(y));
        if d.is_int() {
            if let (Some(Const::Int(a)), Some(Const::Int(c))) = (cx, cy) {
                if let Some(v) = fold_int(b, a, c, d) {
                    let o = f.op_mut(id);
                    o.kind = OpKind::Constant(Const::Int(v));
                    o.operands.clear();
                }
                continue;
            }
            let identity = |c: Option<Const>, other: ValueId| -> Option<ValueId> {
                let Some(Const::Int(k)) = c else { return None };
                let same_shape = f.ty(other) == f.ty(res);
                let ok = match b {
                    BinOp::Mul => k == 1,
                    BinOp::Add | BinOp::Or | BinOp::Xor => k == 0,
                    _ => false,
                };
                (ok && same_shape).then_some(other)
            };
            if let Some(keep) = identity(cy, x).or_else(|| identity(cx, y)) {
                renames.insert(res, keep);
            } else if matches!(b, BinOp::Sub | BinOp::Shl | BinOp::Shr | BinOp::Div)
                && matches!(cy, Some(Const::Int(k)) if k == (b == BinOp::Div) as i64)
                && f.ty(x) == f.ty(res)
            {
                renames.insert(res, x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_like_the_device() {
        assert_eq!(wrap(i32::MAX as i128 + 1, DType::I32), i32::MIN as i64);
        assert_eq!(wrap(-1, DType::U8), 255);
        assert_eq!(fold_int(BinOp::Div, -7, 2, DType::I32), Some(-3));
        assert_eq!(fold_int(BinOp::Rem, -7, 2, DType::I32), Some(-1));
        assert_eq!(fold_int(BinOp::Div, 1, 0, DType::I32), None);
    }
}
