//! Rewriting passes.

pub mod combine_dot;
pub mod cse;
pub mod dce;
pub mod fold;

use tm_ir::{Func, ValueId};

/// Replaces every use of `from` by `to` in all ops.
pub(crate) fn replace_uses(f: &mut Func, from: ValueId, to: ValueId) {
    for op in &mut f.ops {
        for o in &mut op.operands {
            if *o == from {
                *o = to;
            }
        }
    }
}
