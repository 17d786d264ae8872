//! float8 arithmetic as upstream types it (`computation_type_impl`: two float8 operands of
//! one format compute in that format), done exactly: each op that computes on float8 values
//! (binary, comparison, unary, math) takes its float8 operands converted to float32 (exact)
//! and its float8 results converted back (rounded to nearest even, as every conversion to
//! float8), so an op on float8 values is the exact result rounded once to float8. This runs
//! inside combine regions too (`tl.sum` / `tl.max` of float8 blocks round at every step).
//! float8 values otherwise only move (loads, stores, shape ops, selects, control flow).

use tm_ir::{CastKind, DType, Elem, Func, Op, OpId, OpKind, Region, ValueDef};

fn is_fp8(f: &Func, v: tm_ir::ValueId) -> bool {
    matches!(f.ty(v).elem, Elem::Scalar(d) if d.is_fp8())
}

fn computes(kind: &OpKind) -> bool {
    matches!(kind, OpKind::Binary(_) | OpKind::Cmp(_) | OpKind::Unary(_) | OpKind::Math(_))
}

/// Returns whether anything changed.
pub fn run(f: &mut Func) -> bool {
    if !f.values.iter().any(|v| matches!(v.ty.elem, Elem::Scalar(d) if d.is_fp8())) {
        return false;
    }
    let n = f.ops.len();
    let mut body = std::mem::take(&mut f.body);
    widen_region(f, &mut body);
    f.body = body;
    f.ops.len() != n
}

fn widen_region(f: &mut Func, region: &mut Region) {
    let mut out = Vec::with_capacity(region.ops.len());
    for &id in &region.ops {
        let mut regions = std::mem::take(&mut f.op_mut(id).regions);
        for r in &mut regions {
            widen_region(f, r);
        }
        f.op_mut(id).regions = regions;
        let op = f.op(id).clone();
        if !computes(&op.kind) || !(op.operands.iter().chain(&op.results).any(|&v| is_fp8(f, v))) {
            out.push(id);
            continue;
        }
        for (i, &v) in op.operands.iter().enumerate() {
            if is_fp8(f, v) {
                let ty = f.ty(v).with_elem(Elem::Scalar(DType::F32));
                let c = f.create_op(OpKind::Cast(CastKind::Convert), vec![v], vec![ty], vec![], op.loc);
                out.push(c);
                let wide = f.op(c).results[0];
                f.op_mut(id).operands[i] = wide;
            }
        }
        out.push(id);
        for (i, &r) in op.results.iter().enumerate() {
            if is_fp8(f, r) {
                // The op now yields float32; `r` keeps its uses and is the conversion's result.
                let wide = f.new_value(f.ty(r).with_elem(Elem::Scalar(DType::F32)), ValueDef::Result(id, i as u32));
                f.op_mut(id).results[i] = wide;
                let c = OpId(f.ops.len() as u32);
                f.ops.push(Op { kind: OpKind::Cast(CastKind::Convert), operands: vec![wide], results: vec![r], regions: vec![], loc: op.loc });
                f.values[r.0 as usize].def = ValueDef::Result(c, 0);
                out.push(c);
            }
        }
    }
    region.ops = out;
}
