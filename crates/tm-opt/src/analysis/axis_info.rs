//! Axis analysis, after Triton's `AxisInfo`: for each value and each dimension,
//! - `contiguity`: values come in aligned runs of this length increasing by 1;
//! - `divisibility`: the first value of each run is a multiple of this power of
//!   two (in elements for integers, bytes for pointers);
//! - `constancy`: values come in aligned runs of this length that are equal.
//!
//! The lowering uses it to emit vector loads and stores (`float4`) only where
//! addresses are provably contiguous and aligned and masks are uniform.

use std::collections::HashMap;

use tm_ir::{BinOp, CastKind, CmpPred, Const, Elem, Func, OpId, OpKind, ValueId};

/// Cap on tracked divisibility, as Triton does (large enough for any alignment).
const MAX_DIV: u64 = 1 << 30;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AxisInfo {
    pub contiguity: Vec<u64>,
    pub divisibility: Vec<u64>,
    pub constancy: Vec<u64>,
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Largest power of two dividing `v` (capped; 0 is divisible by everything).
pub fn pow2_divisor(v: i64) -> u64 {
    if v == 0 {
        MAX_DIV
    } else {
        (1u64 << v.unsigned_abs().trailing_zeros()).min(MAX_DIV)
    }
}

impl AxisInfo {
    fn uniform(rank: usize, contig: u64, div: u64, constancy: u64) -> AxisInfo {
        let n = rank.max(1);
        AxisInfo { contiguity: vec![contig; n], divisibility: vec![div; n], constancy: vec![constancy; n] }
    }
    fn unknown(rank: usize) -> AxisInfo {
        AxisInfo::uniform(rank, 1, 1, 1)
    }
    /// Divisibility that holds for every element along `d` (not just run starts).
    fn element_div(&self, d: usize) -> u64 {
        if self.contiguity[d] > 1 {
            1
        } else {
            self.divisibility[d]
        }
    }
    /// What holds for both (Triton's join: the gcd of every property).
    fn meet(&self, other: &AxisInfo) -> AxisInfo {
        let g = |a: &[u64], b: &[u64]| a.iter().zip(b).map(|(&x, &y)| gcd(x, y)).collect();
        AxisInfo {
            contiguity: g(&self.contiguity, &other.contiguity),
            divisibility: g(&self.divisibility, &other.divisibility),
            constancy: g(&self.constancy, &other.constancy),
        }
    }
}

/// Rounds of the loop fixpoint before giving up on carried values (each round only
/// weakens some assumption, so real kernels settle in two or three).
const MAX_ROUNDS: usize = 8;

/// Computes axis info for every value of `f` (indexed by `ValueId.0`).
///
/// `scf.for` induction variables get the divisibility of `gcd(lb, step)` (Triton's
/// AxisInfo for `for off in range(0, N, BLOCK)`); carried values and loop results get
/// the meet of their initial value and what the body yields, found by iterating from the
/// optimistic assumption "as the initial value" until nothing changes. `while` and `if`
/// results and region arguments stay unknown.
pub fn analyze_axis_info(f: &Func) -> Vec<AxisInfo> {
    let mut assumed: HashMap<(OpId, usize), AxisInfo> = HashMap::new();
    for _ in 0..MAX_ROUNDS {
        let (info, weakened) = analyze_round(f, &mut assumed, false);
        if !weakened {
            return info;
        }
    }
    analyze_round(f, &mut assumed, true).0
}

/// One pass over `f` under the carried-value assumptions `assumed` (keyed by `for` op and
/// carried index; missing: the initial value's info). Returns the info and whether some
/// assumption was weakened (then another round is needed). `pessimistic`: carried values
/// unknown, for when the rounds run out.
fn analyze_round(f: &Func, assumed: &mut HashMap<(OpId, usize), AxisInfo>, pessimistic: bool) -> (Vec<AxisInfo>, bool) {
    let mut info: Vec<AxisInfo> = f.values.iter().map(|v| AxisInfo::unknown(v.ty.rank())).collect();
    for a in &f.args {
        info[a.value.0 as usize] = AxisInfo::uniform(0, 1, a.divisibility.clamp(1, MAX_DIV), 1);
    }
    let mut order = vec![];
    f.walk(|id| order.push(id));
    for id in order {
        let op = f.op(id);
        if op.kind == OpKind::For {
            let region = &op.regions[0];
            let (lb, step) = (&info[op.operands[0].0 as usize], &info[op.operands[2].0 as usize]);
            info[region.args[0].0 as usize] = AxisInfo::uniform(0, 1, gcd(lb.divisibility[0], step.divisibility[0]), 1);
            for (i, &res) in op.results.iter().enumerate() {
                let rank = f.ty(res).rank();
                let init = info[op.operands[3 + i].0 as usize].clone();
                // Always within the initial value's info (it may have weakened this round).
                let a = match assumed.get(&(id, i)) {
                    _ if pessimistic => AxisInfo::unknown(rank),
                    Some(a) => a.meet(&init),
                    None => init,
                };
                info[region.args[1 + i].0 as usize] = a.clone();
                info[res.0 as usize] = a;
            }
            continue;
        }
        if op.results.len() != 1 {
            continue;
        }
        let res = op.results[0];
        let shape: Vec<u64> = f.ty(res).shape.iter().map(|&s| s as u64).collect();
        let rank = shape.len();
        let full = |d: usize| if rank == 0 { 1 } else { shape[d] };
        let get = |v: ValueId| info[v.0 as usize].clone();
        let dims = rank.max(1);
        let mut out = AxisInfo::unknown(rank);
        match &op.kind {
            OpKind::Constant(c) => {
                let div = match c {
                    Const::Int(i) => pow2_divisor(*i),
                    Const::Float(_) => 1,
                };
                out = AxisInfo { contiguity: vec![1; dims], divisibility: vec![div; dims], constancy: (0..dims).map(full).collect() };
            }
            OpKind::MakeRange { start, .. } => {
                out = AxisInfo { contiguity: vec![shape[0]], divisibility: vec![pow2_divisor(*start as i64)], constancy: vec![1] };
            }
            OpKind::Splat => {
                let s = get(op.operands[0]);
                out = AxisInfo { contiguity: vec![1; dims], divisibility: vec![s.divisibility[0]; dims], constancy: (0..dims).map(full).collect() };
            }
            OpKind::ExpandDims(axis) => {
                let s = get(op.operands[0]);
                let axis = *axis as usize;
                let src_rank = f.ty(op.operands[0]).rank();
                let elem_div = (0..src_rank.max(1)).map(|d| s.element_div(d)).min().unwrap_or(1);
                out = s.clone();
                if src_rank == 0 {
                    out = AxisInfo::uniform(0, 1, s.divisibility[0], 1);
                    out.contiguity.clear();
                    out.divisibility.clear();
                    out.constancy.clear();
                }
                out.contiguity.insert(axis, 1);
                out.divisibility.insert(axis, elem_div);
                out.constancy.insert(axis, 1);
            }
            OpKind::Broadcast => {
                let s = get(op.operands[0]);
                let src_shape = &f.ty(op.operands[0]).shape;
                out = s.clone();
                for d in 0..rank {
                    if src_shape[d] == 1 && shape[d] > 1 {
                        out.contiguity[d] = 1;
                        out.constancy[d] = shape[d];
                    }
                }
            }
            OpKind::Binary(b) => {
                let (x, y) = (get(op.operands[0]), get(op.operands[1]));
                out = AxisInfo::unknown(rank);
                for d in 0..dims {
                    let cst = gcd(x.constancy[d], y.constancy[d]);
                    out.constancy[d] = cst;
                    match b {
                        BinOp::Add | BinOp::Sub => {
                            let c1 = gcd(x.contiguity[d], y.constancy[d]);
                            let c2 = if *b == BinOp::Add { gcd(y.contiguity[d], x.constancy[d]) } else { 1 };
                            out.contiguity[d] = c1.max(c2);
                            out.divisibility[d] = gcd(x.divisibility[d], y.divisibility[d]);
                        }
                        BinOp::Mul => {
                            out.divisibility[d] = x.element_div(d).saturating_mul(y.element_div(d)).min(MAX_DIV);
                        }
                        _ => {}
                    }
                }
            }
            OpKind::AddPtr => {
                let (p, o) = (get(op.operands[0]), get(op.operands[1]));
                let elem_bytes = match f.ty(res).elem {
                    Elem::Ptr(d) => d.size_bytes() as u64,
                    Elem::Scalar(_) => 1,
                };
                for d in 0..dims {
                    out.constancy[d] = gcd(p.constancy[d], o.constancy[d]);
                    out.contiguity[d] = gcd(p.contiguity[d], o.constancy[d]).max(gcd(o.contiguity[d], p.constancy[d]));
                    out.divisibility[d] = gcd(p.divisibility[d], o.divisibility[d].saturating_mul(elem_bytes).min(MAX_DIV));
                }
            }
            OpKind::Cmp(pred) => {
                let (x, y) = (get(op.operands[0]), get(op.operands[1]));
                for d in 0..dims {
                    let mut cst = gcd(x.constancy[d], y.constancy[d]);
                    let ordering = !matches!(pred, CmpPred::Eq | CmpPred::Ne);
                    if ordering && y.constancy[d] == full(d) && x.contiguity[d] > 1 {
                        cst = cst.max(gcd(x.contiguity[d], gcd(x.divisibility[d], y.divisibility[d])));
                    }
                    if ordering && x.constancy[d] == full(d) && y.contiguity[d] > 1 {
                        cst = cst.max(gcd(y.contiguity[d], gcd(y.divisibility[d], x.divisibility[d])));
                    }
                    out.constancy[d] = cst;
                }
            }
            OpKind::Select => {
                let (c, x, y) = (get(op.operands[0]), get(op.operands[1]), get(op.operands[2]));
                for d in 0..dims {
                    out.constancy[d] = gcd(c.constancy[d], gcd(x.constancy[d], y.constancy[d]));
                    out.divisibility[d] = gcd(x.element_div(d), y.element_div(d));
                }
            }
            OpKind::Hint { kind, values } => {
                out = get(op.operands[0]);
                for d in 0..dims {
                    let v = values.get(d).or(values.last()).copied().unwrap_or(1).max(1);
                    match kind {
                        tm_ir::HintKind::MultipleOf => out.divisibility[d] = out.divisibility[d].max(v.min(MAX_DIV)),
                        tm_ir::HintKind::MaxContiguous => out.contiguity[d] = out.contiguity[d].max(v),
                        tm_ir::HintKind::MaxConstancy => out.constancy[d] = out.constancy[d].max(v),
                    }
                }
            }
            OpKind::Math(_) | OpKind::MulHi => {
                let mut cst = get(op.operands[0]).constancy;
                for &o in &op.operands[1..] {
                    let oc = get(o).constancy;
                    for d in 0..dims {
                        cst[d] = gcd(cst[d], oc[d]);
                    }
                }
                out.constancy = cst;
            }
            OpKind::Unary(_) => {
                let s = get(op.operands[0]);
                out.constancy = s.constancy;
            }
            OpKind::Cast(kind) => {
                let s = get(op.operands[0]);
                let (from, to) = (f.ty(op.operands[0]).elem, f.ty(res).elem);
                let int_widen = matches!((from, to), (Elem::Scalar(a), Elem::Scalar(b)) if a.is_int() && b.is_int() && !a.is_bool() && b.bits() >= a.bits());
                if int_widen || matches!(kind, CastKind::PtrCast) {
                    out = s;
                } else {
                    out.constancy = s.constancy;
                }
            }
            OpKind::Load { has_mask, has_other } => {
                let p = get(op.operands[0]);
                let mut cst = p.constancy.clone();
                for extra in op.operands.iter().skip(1).take(*has_mask as usize + *has_other as usize) {
                    let m = get(*extra);
                    for d in 0..dims {
                        cst[d] = gcd(cst[d], m.constancy[d]);
                    }
                }
                out.constancy = cst;
            }
            _ => {}
        }
        for d in 0..rank {
            out.contiguity[d] = out.contiguity[d].min(shape[d]).max(1);
            out.constancy[d] = out.constancy[d].min(shape[d]).max(1);
        }
        info[res.0 as usize] = out;
    }
    // Each carried value's assumption must hold for what the body yields as well.
    let mut weakened = false;
    let mut fors = vec![];
    f.walk(|id| {
        if f.op(id).kind == OpKind::For {
            fors.push(id);
        }
    });
    for id in fors {
        let op = f.op(id);
        let Some(&y) = op.regions[0].ops.last() else { continue };
        let yields = &f.op(y).operands;
        for (i, &res) in op.results.iter().enumerate() {
            let Some(&yv) = yields.get(i) else { continue };
            let cur = info[res.0 as usize].clone();
            let next = cur.meet(&info[yv.0 as usize]);
            if next != cur {
                assumed.insert((id, i), next);
                weakened = true;
            }
        }
    }
    (info, weakened)
}
