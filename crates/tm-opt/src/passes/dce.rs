//! Dead-code elimination: drops pure ops whose results nobody uses.

use std::collections::HashSet;
use tm_ir::{Func, OpKind, Region, ValueId};

fn has_side_effects(k: &OpKind) -> bool {
    matches!(
        k,
        OpKind::Store { .. }
            | OpKind::Return
            | OpKind::Yield
            | OpKind::For
            | OpKind::If
            | OpKind::While
            | OpKind::AtomicRmw { .. }
            | OpKind::AtomicCas
            | OpKind::Barrier
            | OpKind::Print { .. }
            | OpKind::Assert { .. }
    )
}

pub fn run(f: &mut Func) {
    loop {
        let mut used: HashSet<ValueId> = HashSet::new();
        f.walk(|id| used.extend(f.op(id).operands.iter().copied()));
        let mut removed = false;
        let mut body = std::mem::take(&mut f.body);
        prune(f, &mut body, &used, &mut removed);
        f.body = body;
        if !removed {
            break;
        }
    }
}

fn prune(f: &mut Func, r: &mut Region, used: &HashSet<ValueId>, removed: &mut bool) {
    r.ops.retain(|&id| {
        let op = f.op(id);
        let keep = has_side_effects(&op.kind) || op.results.iter().any(|v| used.contains(v));
        *removed |= !keep;
        keep
    });
    for &id in &r.ops.clone() {
        let mut regions = std::mem::take(&mut f.op_mut(id).regions);
        for sub in &mut regions {
            prune(f, sub, used, removed);
        }
        f.op_mut(id).regions = regions;
    }
}
