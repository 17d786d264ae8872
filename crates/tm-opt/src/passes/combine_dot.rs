//! `acc + tl.dot(a, b)` becomes `tl.dot(a, b, acc)` (Triton's combine pattern),
//! so the accumulator feeds the matrix unit directly and a loop-carried
//! accumulator can stay in simdgroup matrices across iterations.

use super::replace_uses;
use std::collections::HashMap;
use tm_ir::{BinOp, Const, Func, OpId, OpKind, Region, ValueDef, ValueId};

pub fn run(f: &mut Func) {
    // Position of every op in its region, and which region it is in.
    let mut pos: HashMap<OpId, (usize, usize)> = HashMap::new();
    let mut region_id = 0usize;
    fn index(f: &Func, r: &Region, pos: &mut HashMap<OpId, (usize, usize)>, next: &mut usize) {
        let me = *next;
        *next += 1;
        for (i, &id) in r.ops.iter().enumerate() {
            pos.insert(id, (me, i));
            for sub in &f.op(id).regions {
                index(f, sub, pos, next);
            }
        }
    }
    index(f, &f.body, &mut pos, &mut region_id);
    let mut uses: HashMap<ValueId, usize> = HashMap::new();
    f.walk(|id| {
        for &o in &f.op(id).operands {
            *uses.entry(o).or_default() += 1;
        }
    });
    let mut ids = vec![];
    f.walk(|id| ids.push(id));
    for add in ids {
        let op = f.op(add).clone();
        if op.kind != OpKind::Binary(BinOp::Add) || !f.ty(op.results[0]).dtype().is_some_and(|d| d.is_float()) {
            continue;
        }
        for (dot_side, other) in [(0usize, 1usize), (1, 0)] {
            let (dv, ov) = (op.operands[dot_side], op.operands[other]);
            let Some(dot) = f.def_op(dv) else { continue };
            if f.op(dot).kind != OpKind::Dot || uses.get(&dv) != Some(&1) || f.ty(dv) != f.ty(ov) {
                continue;
            }
            let acc = f.op(dot).operands[2];
            let zero = f.def_op(acc).is_some_and(|c| {
                let k = &f.op(c).kind;
                matches!(k, OpKind::Constant(Const::Float(x)) if *x == 0.0)
                    || (*k == OpKind::Splat && matches!(f.as_const(f.op(c).operands[0]), Some(Const::Float(x)) if x == 0.0))
            });
            if !zero {
                continue;
            }
            // The other addend must be available where the dot runs.
            let (dot_region, dot_index) = pos[&dot];
            let available = match f.value(ov).def {
                ValueDef::Arg(_) | ValueDef::RegionArg => true,
                ValueDef::Result(def, _) => {
                    let (r, i) = pos[&def];
                    r != dot_region || i < dot_index
                }
            };
            if !available {
                continue;
            }
            f.op_mut(dot).operands[2] = ov;
            replace_uses(f, op.results[0], dv);
            break;
        }
    }
}
