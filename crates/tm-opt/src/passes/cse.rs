//! Common-subexpression elimination of pure ops within a region (and from
//! enclosing regions into nested ones), so `x[:, None] * stride` written twice
//! is computed once.

use super::Renames;
use std::collections::HashMap;
use tm_ir::{Func, OpKind, Region, Type, ValueId};

fn is_pure(k: &OpKind) -> bool {
    !matches!(
        k,
        OpKind::Load { .. }
            | OpKind::Store { .. }
            | OpKind::For
            | OpKind::If
            | OpKind::While
            | OpKind::Yield
            | OpKind::Return
            | OpKind::AtomicRmw { .. }
            | OpKind::AtomicCas
            | OpKind::Barrier
            | OpKind::Print { .. }
            | OpKind::Assert { .. }
    )
}

/// Key of an op: its kind (printed, which includes attributes), operands and result types.
type Key = (String, Vec<ValueId>, Vec<Type>);

pub fn run(f: &mut Func) {
    let body = std::mem::take(&mut f.body);
    let mut scopes: Vec<HashMap<Key, Vec<ValueId>>> = vec![];
    let body = visit(f, body, &mut scopes, &mut Renames::default());
    f.body = body;
}

fn visit(f: &mut Func, mut r: Region, scopes: &mut Vec<HashMap<Key, Vec<ValueId>>>, renames: &mut Renames) -> Region {
    scopes.push(HashMap::new());
    let mut kept = vec![];
    for id in std::mem::take(&mut r.ops) {
        renames.apply(f, id);
        let regions = std::mem::take(&mut f.op_mut(id).regions);
        let regions = regions.into_iter().map(|sub| visit(f, sub, scopes, renames)).collect();
        f.op_mut(id).regions = regions;
        let op = f.op(id);
        if !is_pure(&op.kind) || op.results.is_empty() || !op.regions.is_empty() {
            kept.push(id);
            continue;
        }
        let key: Key = (format!("{:?}", op.kind), op.operands.clone(), op.results.iter().map(|&v| f.ty(v).clone()).collect());
        let existing = scopes.iter().rev().find_map(|s| s.get(&key)).cloned();
        match existing {
            Some(prev) => {
                let results = op.results.clone();
                for (a, b) in results.into_iter().zip(prev) {
                    renames.insert(a, b);
                }
            }
            None => {
                let results = op.results.clone();
                scopes.last_mut().expect("pushed above").insert(key, results);
                kept.push(id);
            }
        }
    }
    scopes.pop();
    r.ops = kept;
    r
}
