//! Compile-time (constexpr) arithmetic and comparisons with Python's
//! semantics: floor division, modulo with the divisor's sign, big integers
//! checked for overflow, mixed int/float.

use crate::lower::{Lowerer, R};
use crate::value::ConstValue;
use ruff_python_ast as ast;
use ruff_text_size::TextRange;

/// Python's floor division and modulo on integers.
fn py_floordiv(a: i128, b: i128) -> i128 {
    let q = a / b;
    if (a % b != 0) && ((a < 0) != (b < 0)) {
        q - 1
    } else {
        q
    }
}

impl Lowerer<'_> {
    pub(crate) fn const_binop(&self, op: ast::Operator, a: &ConstValue, b: &ConstValue, range: TextRange) -> R<ConstValue> {
        use ast::Operator as O;
        use ConstValue as C;
        let int_of = |c: &C| c.as_int();
        let float_of = |c: &C| match c {
            C::Float(f) => Some(*f),
            other => other.as_int().map(|i| i as f64),
        };
        let overflow = || self.err(range, "integer overflow in constexpr arithmetic");
        let zero = || self.err(range, "division by zero in constexpr arithmetic");
        if let (Some(x), Some(y)) = (int_of(a), int_of(b)) {
            let both_bool = matches!((a, b), (C::Bool(_), C::Bool(_)));
            return Ok(match op {
                O::Add => C::Int(x.checked_add(y).ok_or_else(overflow)?),
                O::Sub => C::Int(x.checked_sub(y).ok_or_else(overflow)?),
                O::Mult => C::Int(x.checked_mul(y).ok_or_else(overflow)?),
                O::Div if y == 0 => return Err(zero()),
                O::Div => C::Float(x as f64 / y as f64),
                O::FloorDiv if y == 0 => return Err(zero()),
                O::FloorDiv => C::Int(py_floordiv(x, y)),
                O::Mod if y == 0 => return Err(zero()),
                O::Mod => C::Int(x - y * py_floordiv(x, y)),
                O::Pow if y >= 0 => C::Int(x.checked_pow(u32::try_from(y).map_err(|_| overflow())?).ok_or_else(overflow)?),
                O::Pow => C::Float((x as f64).powf(y as f64)),
                O::BitAnd if both_bool => C::Bool(x & y != 0),
                O::BitOr if both_bool => C::Bool(x | y != 0),
                O::BitXor if both_bool => C::Bool(x ^ y != 0),
                O::BitAnd => C::Int(x & y),
                O::BitOr => C::Int(x | y),
                O::BitXor => C::Int(x ^ y),
                O::LShift => C::Int(x.checked_shl(u32::try_from(y).map_err(|_| overflow())?).ok_or_else(overflow)?),
                O::RShift => C::Int(x >> y.clamp(0, 127)),
                O::MatMult => return Err(self.err(range, "@ is not supported on numbers")),
            });
        }
        if let (Some(x), Some(y)) = (float_of(a), float_of(b)) {
            return Ok(match op {
                O::Add => C::Float(x + y),
                O::Sub => C::Float(x - y),
                O::Mult => C::Float(x * y),
                O::Div if y == 0.0 => return Err(zero()),
                O::Div => C::Float(x / y),
                O::FloorDiv if y == 0.0 => return Err(zero()),
                O::FloorDiv => C::Float((x / y).floor()),
                O::Mod if y == 0.0 => return Err(zero()),
                O::Mod => C::Float(x - y * (x / y).floor()),
                O::Pow => C::Float(x.powf(y)),
                _ => return Err(self.err(range, format!("operator {} needs integers", op.as_str()))),
            });
        }
        Err(self.err(range, format!("unsupported operand types for {}: {} and {}", op.as_str(), a.type_name(), b.type_name())))
    }

    pub(crate) fn const_compare(&self, op: ast::CmpOp, a: &ConstValue, b: &ConstValue, range: TextRange) -> R<bool> {
        use ast::CmpOp as C;
        use std::cmp::Ordering;
        let ord = match (a, b) {
            (x, y) if x.as_int().is_some() && y.as_int().is_some() => x.as_int().partial_cmp(&y.as_int()),
            (ConstValue::Float(x), y) if y.as_int().is_some() => x.partial_cmp(&(y.as_int().unwrap_or(0) as f64)),
            (x, ConstValue::Float(y)) if x.as_int().is_some() => (x.as_int().unwrap_or(0) as f64).partial_cmp(y),
            (ConstValue::Float(x), ConstValue::Float(y)) => x.partial_cmp(y),
            _ => None,
        };
        Ok(match op {
            C::Is => a == b,
            C::IsNot => a != b,
            C::Eq => ord.map_or(a == b, |o| o == Ordering::Equal),
            C::NotEq => ord.map_or(a != b, |o| o != Ordering::Equal),
            C::Lt | C::LtE | C::Gt | C::GtE => {
                let Some(o) = ord else {
                    return Err(self.err(range, format!("cannot order {} and {}", a.type_name(), b.type_name())));
                };
                match op {
                    C::Lt => o == Ordering::Less,
                    C::LtE => o != Ordering::Greater,
                    C::Gt => o == Ordering::Greater,
                    _ => o != Ordering::Less,
                }
            }
            C::In | C::NotIn => {
                let ConstValue::Tuple(items) = b else {
                    return Err(self.err(range, "`in` needs a tuple on the right"));
                };
                items.contains(a) == (op == C::In)
            }
        })
    }
}
