//! Blocked layouts: which thread of the threadgroup holds which element of a
//! block, after Triton's `#blocked` encoding. A [`BlockedFamily`] fixes elements
//! per thread, threads per simdgroup, simdgroups per threadgroup and dimension
//! order for a rank; applied to a concrete shape it gives a [`Layout`]. All
//! blocks of one rank share a family, so broadcasting (`[64,1] -> [64,64]`)
//! moves no data: a thread holds the same rows in both.

use tm_abi::SIMD_WIDTH;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlockedFamily {
    pub size_per_thread: Vec<u32>,
    pub threads_per_warp: Vec<u32>,
    pub warps_per_cta: Vec<u32>,
    /// Dimensions from fastest-varying to slowest.
    pub order: Vec<usize>,
}

fn pow2_floor(x: u32) -> u32 {
    if x == 0 {
        1
    } else {
        1 << (31 - x.leading_zeros())
    }
}

impl BlockedFamily {
    /// Triton-like default for `shape` and `num_warps`: up to 4 contiguous
    /// elements per thread along the last dimension (one 16-byte vector of
    /// fp32), lanes then warps spread fastest dimension first.
    pub fn default_for(shape: &[u32], num_warps: u32) -> BlockedFamily {
        BlockedFamily::with_order(shape, num_warps, (0..shape.len()).rev().collect())
    }

    /// As [`BlockedFamily::default_for`], with dimension order `order` (fastest first):
    /// the layout Triton's coalesce pass gives an access contiguous along `order[0]`.
    pub fn with_order(shape: &[u32], num_warps: u32, order: Vec<usize>) -> BlockedFamily {
        BlockedFamily::with_order_vec(shape, num_warps, order, 4)
    }

    /// As [`BlockedFamily::with_order`], with at most `vec` contiguous elements per
    /// thread: an access that cannot be a vector is coalesced with one element per
    /// lane (consecutive lanes, consecutive addresses), as Triton's coalesce pass does.
    pub fn with_order_vec(shape: &[u32], num_warps: u32, order: Vec<usize>, vec: u32) -> BlockedFamily {
        let rank = shape.len();
        let numel: u64 = shape.iter().map(|&s| s as u64).product();
        let threads = (num_warps * SIMD_WIDTH) as u64;
        let fast = order[0];
        let mut spt = vec![1u32; rank];
        spt[fast] = (numel / threads).clamp(1, vec.clamp(1, 4) as u64).min(shape[fast] as u64) as u32;
        let mut remaining: Vec<u32> = shape.iter().zip(&spt).map(|(&s, &p)| (s / p).max(1)).collect();
        let mut tpw = vec![1u32; rank];
        let mut lanes = SIMD_WIDTH;
        for &d in &order {
            let t = pow2_floor(lanes.min(remaining[d]));
            tpw[d] = t;
            lanes /= t;
            remaining[d] = (remaining[d] / t).max(1);
        }
        tpw[order[rank - 1]] *= lanes;
        let mut wpc = vec![1u32; rank];
        let mut warps = num_warps;
        for &d in &order {
            let w = pow2_floor(warps.min(remaining[d]));
            wpc[d] = w;
            warps /= w;
            remaining[d] = (remaining[d] / w).max(1);
        }
        wpc[order[rank - 1]] *= warps;
        BlockedFamily { size_per_thread: spt, threads_per_warp: tpw, warps_per_cta: wpc, order }
    }

    pub fn rank(&self) -> usize {
        self.order.len()
    }
}

/// A family applied to a value: `eshape` is the value's shape embedded in the
/// family's rank (dims the value lacks have size 1), `embed[i]` the family dim
/// of the value's dim `i`. A 1-D value that will be expanded to `[64, 1]` is
/// laid out as family dim 0 of `eshape = [64, 1]` (Triton's slice layout), so
/// `x[:, None]` moves no data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Layout {
    pub family: BlockedFamily,
    pub eshape: Vec<u32>,
    pub embed: Vec<usize>,
}

/// Per-family-dimension facts of a [`Layout`].
#[derive(Clone, Copy, Debug)]
pub struct DimPlan {
    /// Contiguous elements per thread (the family's, clipped to the dim size).
    pub spt: u32,
    /// Threads spanning the dim (lanes x warps).
    pub threads: u32,
    /// Registers per thread along the dim.
    pub regs: u32,
    /// Stride of this dim in the register index.
    pub reg_stride: u32,
    /// True when the dim is smaller than the threads' tile, so threads repeat elements.
    pub wraps: bool,
}

impl Layout {
    /// The family applied to a value of the family's rank.
    pub fn new(family: BlockedFamily, shape: Vec<u32>) -> Layout {
        let embed = (0..shape.len()).collect();
        Layout { family, eshape: shape, embed }
    }

    /// The value's own shape.
    pub fn shape(&self) -> Vec<u32> {
        self.embed.iter().map(|&d| self.eshape[d]).collect()
    }

    pub fn dims(&self) -> Vec<DimPlan> {
        let f = &self.family;
        let mut plans = vec![DimPlan { spt: 1, threads: 1, regs: 1, reg_stride: 1, wraps: false }; self.eshape.len()];
        let mut stride = 1;
        for &d in &f.order {
            let s = self.eshape[d];
            let spt = f.size_per_thread[d].min(s);
            let threads = f.threads_per_warp[d] * f.warps_per_cta[d];
            let tile = spt * threads;
            let (regs, wraps) = if s >= tile { (s / threads, false) } else { (spt, true) };
            plans[d] = DimPlan { spt, threads, regs, reg_stride: stride, wraps };
            stride *= regs;
        }
        plans
    }

    /// Registers (elements) each thread holds.
    pub fn regs(&self) -> u32 {
        self.dims().iter().map(|p| p.regs).product()
    }

    /// MSL expression (of `uint`) for the thread's position along family dim
    /// `d` among `threads_per_warp[d] * warps_per_cta[d]` threads.
    pub fn thread_coord_expr(&self, d: usize, lane: &str, warp: &str) -> String {
        let f = &self.family;
        let (mut lane_div, mut warp_div) = (1, 1);
        for &o in &f.order {
            if o == d {
                break;
            }
            lane_div *= f.threads_per_warp[o];
            warp_div *= f.warps_per_cta[o];
        }
        let (tpw, wpc) = (f.threads_per_warp[d], f.warps_per_cta[d]);
        format!("((({warp} / {warp_div}u) % {wpc}u) * {tpw}u + (({lane} / {lane_div}u) % {tpw}u))")
    }

    /// MSL expression for the coordinate along family dim `d` of register `r`,
    /// given the thread's position `thr` along `d`.
    pub fn family_coord_expr(&self, d: usize, r: &str, thr: &str) -> String {
        let p = self.dims()[d];
        let k = format!("(({r} / {}u) % {}u)", p.reg_stride, p.regs);
        if p.wraps {
            format!("(({thr} * {}u + {k}) % {}u)", p.spt, self.eshape[d])
        } else {
            let tile = p.spt * p.threads;
            format!("(({k} / {spt}u) * {tile}u + {thr} * {spt}u + ({k} % {spt}u))", spt = p.spt)
        }
    }

    /// Coordinate along the value's dim `i` (see [`Layout::family_coord_expr`]).
    pub fn coord_expr(&self, i: usize, r: &str, thr: &str) -> String {
        self.family_coord_expr(self.embed[i], r, thr)
    }

    /// MSL boolean: does this thread hold the first copy of its elements?
    /// (Only first copies store, so replicated elements are written once.)
    pub fn owner_expr(&self, thr: &[String]) -> Option<String> {
        let conds: Vec<String> = self
            .dims()
            .iter()
            .enumerate()
            .filter(|(_, p)| p.wraps)
            .map(|(d, p)| format!("({} * {}u < {}u)", thr[d], p.spt, self.eshape[d]))
            .collect();
        (!conds.is_empty()).then(|| conds.join(" && "))
    }

    /// The layout a value must have so that inserting a size-1 dim at `axis`
    /// gives `self` without moving data.
    pub fn without_dim(&self, axis: usize) -> Layout {
        let mut embed = self.embed.clone();
        embed.remove(axis);
        Layout { family: self.family.clone(), eshape: self.eshape.clone(), embed }
    }

    /// The layout of a source broadcast to `self` (its size-1 dims `ones`).
    pub fn with_unit_dims(&self, ones: &[usize]) -> Layout {
        let mut eshape = self.eshape.clone();
        for &i in ones {
            eshape[self.embed[i]] = 1;
        }
        Layout { family: self.family.clone(), eshape, embed: self.embed.clone() }
    }
}

impl Layout {
    /// The family coordinates of each register of thread `tid`, evaluated in Rust exactly
    /// as the emitted expressions compute them (used to plan threadgroup-memory layouts).
    pub fn coords(&self, tid: u32) -> Vec<Vec<u32>> {
        let l = self;
        let f = &l.family;
        let (lane, warp) = (tid % 32, tid / 32);
        let dims = l.dims();
        let thr: Vec<u32> = (0..l.eshape.len())
            .map(|d| {
                let (mut ld, mut wd) = (1, 1);
                for &o in &f.order {
                    if o == d {
                        break;
                    }
                    ld *= f.threads_per_warp[o];
                    wd *= f.warps_per_cta[o];
                }
                ((warp / wd) % f.warps_per_cta[d]) * f.threads_per_warp[d] + (lane / ld) % f.threads_per_warp[d]
            })
            .collect();
        (0..l.regs())
            .map(|r| {
                (0..l.eshape.len())
                    .map(|d| {
                        let p = dims[d];
                        let k = (r / p.reg_stride) % p.regs;
                        if p.wraps {
                            (thr[d] * p.spt + k) % l.eshape[d]
                        } else {
                            (k / p.spt) * p.spt * p.threads + thr[d] * p.spt + k % p.spt
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coords(l: &Layout, tid: u32) -> Vec<Vec<u32>> {
        l.coords(tid)
    }

    #[test]
    fn ordered_family_puts_threads_along_its_fastest_dim() {
        let f = BlockedFamily::with_order(&[64, 64], 4, vec![0, 1]);
        assert_eq!(f.size_per_thread, vec![4, 1]);
        assert_eq!(f.threads_per_warp, vec![16, 2]);
        for shape in [vec![64, 64], vec![16, 128], vec![128, 8]] {
            for warps in [1, 4, 8] {
                let l = Layout::new(BlockedFamily::with_order(&shape, warps, vec![0, 1]), shape.clone());
                let mut seen = vec![0u32; (shape[0] * shape[1]) as usize];
                for t in 0..warps * 32 {
                    for c in coords(&l, t) {
                        seen[(c[0] * shape[1] + c[1]) as usize] += 1;
                    }
                }
                assert!(seen.iter().all(|&s| s == seen[0] && s >= 1), "{shape:?} w={warps}");
            }
        }
    }

    fn check_covers(shape: &[u32], warps: u32) {
        let l = Layout::new(BlockedFamily::default_for(shape, warps), shape.to_vec());
        let numel: u32 = shape.iter().product();
        let mut seen = vec![0u32; numel as usize];
        for t in 0..warps * 32 {
            for c in coords(&l, t) {
                let lin = c.iter().zip(shape).fold(0, |acc, (&x, &s)| acc * s + x);
                seen[lin as usize] += 1;
            }
        }
        let first = seen[0];
        assert!(first >= 1 && seen.iter().all(|&s| s == first), "{shape:?} w={warps}: uneven coverage {seen:?}");
    }

    #[test]
    fn every_element_is_held_equally_often() {
        for shape in [vec![1], vec![16], vec![64], vec![128], vec![1024], vec![4096], vec![64, 64], vec![16, 128], vec![1, 32], vec![128, 1], vec![8, 4, 2]] {
            for warps in [1, 2, 4, 8] {
                check_covers(&shape, warps);
            }
        }
    }

    #[test]
    fn default_1d_layout_is_four_contiguous_per_thread() {
        let f = BlockedFamily::default_for(&[1024], 4);
        assert_eq!(f.size_per_thread, vec![4]);
        assert_eq!(f.threads_per_warp, vec![32]);
        assert_eq!(f.warps_per_cta, vec![4]);
        assert_eq!(Layout::new(f, vec![1024]).regs(), 8);
    }
}
