//! Rewriting passes.

pub mod combine_dot;
pub mod cse;
pub mod dce;
pub mod fold;
pub mod widen_fp8;

use std::collections::HashMap;
use tm_ir::{Func, OpId, ValueId};

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

/// Uses replaced as a pass visits ops in program order (definitions before uses): each op's
/// operands are renamed when it is reached, so a pass costs linear time however many values
/// it replaces (`replace_uses` per value was quadratic on long unrolled loops).
#[derive(Default)]
pub(crate) struct Renames(HashMap<ValueId, ValueId>);

impl Renames {
    /// Later uses of `from` become uses of `to` (itself never renamed: it is defined earlier
    /// and its uses were renamed when reached).
    pub(crate) fn insert(&mut self, from: ValueId, to: ValueId) {
        self.0.insert(from, to);
    }

    /// Renames the operands of `op`.
    pub(crate) fn apply(&self, f: &mut Func, op: OpId) {
        if self.0.is_empty() {
            return;
        }
        for o in &mut f.op_mut(op).operands {
            if let Some(&to) = self.0.get(o) {
                *o = to;
            }
        }
    }
}
