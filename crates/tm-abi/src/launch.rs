//! One launch, checked against the ABI before any runtime sees it, and the plan by which a
//! runtime with its own buffer objects (Metal) binds host memory.
//!
//! Every runtime starts from [`KernelAbi::check_launch`], so a launch that the CPU executor
//! accepts on Linux is a launch that Metal accepts on a Mac, and bad arguments fail the same
//! way on both, before anything is dispatched.

use crate::{AbiError, KernelAbi, ScalarValue};

/// Host memory behind a pointer argument (numpy, MLX, PyTorch CPU tensors): the kernel's
/// pointer is `addr` and it may touch bytes `[start, start + len)`. The range is the array's
/// extent, which holds `addr` unless the array is empty (`len == 0`); it starts below
/// `addr` when a stride is negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostRange {
    pub addr: usize,
    pub start: usize,
    pub len: usize,
    /// False for read-only arrays: their memory is never written back.
    pub writable: bool,
}

impl HostRange {
    pub fn end(&self) -> usize {
        self.start + self.len
    }
}

/// Where the memory behind one pointer argument lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferArg {
    Host(HostRange),
    /// An `id<MTLBuffer>` (PyTorch MPS tensors): the kernel's pointer is at byte `offset`, and
    /// it may touch `len` bytes from there. Only the Metal runtime can bind it.
    Metal {
        buffer: usize,
        offset: usize,
        len: usize,
    },
}

/// A launch that passed [`KernelAbi::check_launch`].
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedLaunch<'a> {
    pub grid: [u32; 3],
    /// One per buffer slot, in slot order.
    pub buffers: &'a [BufferArg],
    /// The packed scalar struct ([`KernelAbi::pack_scalars`]); empty when there are no scalars.
    pub args: Vec<u8>,
}

impl CheckedLaunch<'_> {
    /// A grid with a zero dimension runs nothing (as in Triton).
    pub fn is_empty(&self) -> bool {
        self.grid.contains(&0)
    }
}

impl KernelAbi {
    /// Checks the pointer and scalar arguments of a launch against the ABI and packs the
    /// scalars. This is the one check every runtime relies on.
    pub fn check_launch<'a>(
        &self,
        grid: [u32; 3],
        buffers: &'a [BufferArg],
        scalars: &[ScalarValue],
    ) -> Result<CheckedLaunch<'a>, AbiError> {
        if buffers.len() != self.buffers.len() {
            return Err(AbiError::BufferCount {
                expected: self.buffers.len(),
                got: buffers.len(),
            });
        }
        for (b, p) in buffers.iter().zip(&self.buffers) {
            if let BufferArg::Host(h) = b {
                let bogus = h.len > 0
                    && (h.start < crate::MIN_HOST_ADDRESS
                        || h.len > isize::MAX as usize
                        || h.start.checked_add(h.len).is_none());
                if bogus {
                    return Err(AbiError::BadAddress { name: p.name.clone(), addr: h.addr, len: h.len });
                }
                let inside = h.len == 0 || (h.start <= h.addr && h.addr < h.end());
                if !inside || h.start.checked_add(h.len).is_none() {
                    return Err(AbiError::BadRange { name: p.name.clone() });
                }
                if p.written && !h.writable && h.len > 0 {
                    return Err(AbiError::ReadOnly { name: p.name.clone() });
                }
            }
        }
        let mut args = Vec::with_capacity(self.args_size as usize);
        self.pack_scalars(scalars, &mut args)?;
        Ok(CheckedLaunch { grid, buffers, args })
    }
}

/// How a runtime that binds buffer objects (Metal) turns the host-memory arguments of one
/// launch into buffers: arguments whose memory overlaps share one buffer (so a kernel that
/// reads one view and writes another sees one memory, and copies back cannot undo each
/// other's writes), and every argument keeps its address modulo 16, which the kernel was
/// specialised on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindingPlan {
    pub host: Vec<HostBuffer>,
    /// One per buffer slot.
    pub slots: Vec<Binding>,
}

/// Host memory `[start, end)` that becomes one buffer. Offset 0 of the buffer stands for
/// address [`HostBuffer::base`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostBuffer {
    pub start: usize,
    pub end: usize,
    /// `start` is page-aligned: the memory itself can become the buffer (no copy), over
    /// [`HostBuffer::wrap_len`] bytes. Otherwise `[start, end)` is copied into a new buffer
    /// at offset `start - base` before the kernel and, if `writable`, back after it.
    pub page_aligned: bool,
    /// Some argument in it is writable.
    pub writable: bool,
}

impl HostBuffer {
    /// `start` rounded down to 16 bytes: a buffer's own memory is at least 16-byte aligned, so
    /// binding an argument at `addr - base` keeps `addr % 16`.
    pub fn base(&self) -> usize {
        self.start & !15
    }

    /// Bytes from `base` to the end of the memory.
    pub fn len_from_base(&self) -> usize {
        self.end - self.base()
    }

    /// Length of a no-copy buffer over this memory: whole pages from `start` (which is
    /// page-aligned, so `base == start`); the last page holds array bytes, so it is mapped.
    pub fn wrap_len(&self, page: usize) -> usize {
        (self.end - self.start).next_multiple_of(page)
    }
}

/// How one buffer slot is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binding {
    /// `BindingPlan::host[buffer]` at byte `offset`.
    Host { buffer: usize, offset: usize },
    /// A Metal buffer object at byte `offset`.
    Metal { buffer: usize, offset: usize },
    /// An empty array: any small buffer (the kernel may not touch it).
    Empty,
}

/// Plans the bindings of `buffers`; `page` is the host page size.
pub fn plan_bindings(buffers: &[BufferArg], page: usize) -> BindingPlan {
    let mut ranges: Vec<(usize, &HostRange)> = buffers
        .iter()
        .enumerate()
        .filter_map(|(i, b)| match b {
            BufferArg::Host(h) if h.len > 0 => Some((i, h)),
            _ => None,
        })
        .collect();
    ranges.sort_by_key(|(_, h)| h.start);
    let mut host: Vec<HostBuffer> = vec![];
    let mut group_of = vec![usize::MAX; buffers.len()];
    for (i, h) in ranges {
        match host.last_mut() {
            Some(g) if h.start < g.end => {
                g.end = g.end.max(h.end());
                g.writable |= h.writable;
            }
            _ => host.push(HostBuffer {
                start: h.start,
                end: h.end(),
                page_aligned: h.start % page == 0,
                writable: h.writable,
            }),
        }
        group_of[i] = host.len() - 1;
    }
    let slots = buffers
        .iter()
        .zip(&group_of)
        .map(|(b, &g)| match *b {
            BufferArg::Host(h) if h.len > 0 => Binding::Host {
                buffer: g,
                offset: h.addr - host[g].base(),
            },
            BufferArg::Host(_) => Binding::Empty,
            BufferArg::Metal { buffer, offset, .. } => Binding::Metal { buffer, offset },
        })
        .collect();
    BindingPlan { host, slots }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BufferParam, ScalarValue};
    use tm_ir::DType;

    fn host(addr: usize, len: usize) -> BufferArg {
        BufferArg::Host(HostRange {
            addr,
            start: addr,
            len,
            writable: true,
        })
    }

    fn abi(buffers: usize, scalars: &[DType]) -> KernelAbi {
        let bufs = (0..buffers)
            .map(|i| BufferParam {
                name: format!("p{i}"),
                dtype: DType::F32,
                read: true,
                written: true,
            })
            .collect();
        let sc = scalars.iter().enumerate().map(|(i, d)| (format!("s{i}"), *d)).collect();
        KernelAbi::new("k".into(), bufs, sc, vec![], 128, 0, false).unwrap()
    }

    #[test]
    fn check_launch_packs_scalars() {
        let a = abi(1, &[DType::I32, DType::I64]);
        let bufs = [host(0x1000, 64)];
        let l = a
            .check_launch([2, 1, 1], &bufs, &[ScalarValue::Int(7), ScalarValue::Int(-1)])
            .unwrap();
        assert_eq!(l.args.len(), 16);
        assert_eq!(&l.args[..4], &7i32.to_le_bytes());
        assert_eq!(&l.args[8..], &(-1i64).to_le_bytes());
        assert!(!l.is_empty());
        assert!(a
            .check_launch([0, 1, 1], &bufs, &[ScalarValue::Int(7), ScalarValue::Int(0)])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn check_launch_refuses_wrong_counts_and_ranges() {
        let a = abi(2, &[DType::I32]);
        let err = a
            .check_launch([1; 3], &[host(0x1000, 4)], &[ScalarValue::Int(1)])
            .unwrap_err();
        assert_eq!(err, AbiError::BufferCount { expected: 2, got: 1 });
        let err = a
            .check_launch([1; 3], &[host(0x1000, 4), host(0x2000, 4)], &[])
            .unwrap_err();
        assert_eq!(err, AbiError::ScalarCount { expected: 1, got: 0 });
        let outside = BufferArg::Host(HostRange {
            addr: 0x3000,
            start: 0x1000,
            len: 16,
            writable: true,
        });
        let err = a
            .check_launch([1; 3], &[host(0x1000, 4), outside], &[ScalarValue::Int(1)])
            .unwrap_err();
        assert_eq!(err, AbiError::BadRange { name: "p1".into() });
    }

    #[test]
    fn scalars_over_4_kib_are_refused_at_compile_time() {
        let err = KernelAbi::new(
            "k".into(),
            vec![],
            (0..513).map(|i| (format!("s{i}"), DType::I64)).collect(),
            vec![],
            32,
            0,
            false,
        );
        assert_eq!(err.unwrap_err(), AbiError::ScalarsTooLarge(4104));
        assert!(KernelAbi::new(
            "k".into(),
            vec![],
            (0..512).map(|i| (format!("s{i}"), DType::I64)).collect(),
            vec![],
            32,
            0,
            false
        )
        .is_ok());
    }

    #[test]
    fn thirty_pointers_and_scalars_fit_thirty_one_do_not() {
        let bufs = |n| {
            (0..n)
                .map(|i| BufferParam {
                    name: format!("p{i}"),
                    dtype: DType::F32,
                    read: true,
                    written: true,
                })
                .collect()
        };
        assert!(KernelAbi::new(
            "k".into(),
            bufs(30),
            vec![("n".into(), DType::I32)],
            vec![],
            32,
            0,
            false
        )
        .is_ok());
        assert!(KernelAbi::new("k".into(), bufs(31), vec![], vec![], 32, 0, false).is_ok());
        assert_eq!(
            KernelAbi::new(
                "k".into(),
                bufs(31),
                vec![("n".into(), DType::I32)],
                vec![],
                32,
                0,
                false
            )
            .unwrap_err(),
            AbiError::TooManyBuffers(31)
        );
    }

    #[test]
    fn disjoint_arrays_get_their_own_buffers() {
        let page = 16384;
        let plan = plan_bindings(&[host(8 * page, 100), host(0x1_0008, 40)], page);
        assert_eq!(plan.host.len(), 2);
        // Sorted by address: the second argument's memory comes first.
        assert_eq!(
            plan.slots,
            vec![
                Binding::Host { buffer: 1, offset: 0 },
                Binding::Host { buffer: 0, offset: 8 }
            ]
        );
        assert!(!plan.host[0].page_aligned);
        assert_eq!(plan.host[0].base(), 0x1_0000);
        assert!(plan.host[1].page_aligned);
        assert_eq!(plan.host[1].wrap_len(page), page);
    }

    #[test]
    fn overlapping_views_share_one_buffer_and_keep_alignment() {
        // x and x[1:] of a float32 array at 0x1004, and the same array passed twice.
        let x = host(0x1004, 400);
        let tail = BufferArg::Host(HostRange {
            addr: 0x1008,
            start: 0x1008,
            len: 396,
            writable: false,
        });
        let plan = plan_bindings(&[x, tail, x], 4096);
        assert_eq!(
            plan.host,
            vec![HostBuffer {
                start: 0x1004,
                end: 0x1004 + 400,
                page_aligned: false,
                writable: true
            }]
        );
        assert_eq!(
            plan.slots,
            vec![
                Binding::Host { buffer: 0, offset: 4 },
                Binding::Host { buffer: 0, offset: 8 },
                Binding::Host { buffer: 0, offset: 4 },
            ]
        );
        for (slot, addr) in plan.slots.iter().zip([0x1004usize, 0x1008, 0x1004]) {
            let Binding::Host { offset, .. } = slot else {
                unreachable!()
            };
            assert_eq!((plan.host[0].base() + offset) % 16, addr % 16);
        }
        assert_eq!(plan.host[0].len_from_base(), 404);
    }

    #[test]
    fn negative_strides_and_empty_and_metal_arguments() {
        // A reversed view: the pointer is its last byte's element, the extent lies below it.
        let rev = BufferArg::Host(HostRange {
            addr: 0x2000 + 36,
            start: 0x2000,
            len: 40,
            writable: true,
        });
        let empty = BufferArg::Host(HostRange {
            addr: 0,
            start: 0,
            len: 0,
            writable: true,
        });
        let mps = BufferArg::Metal {
            buffer: 0xdead0,
            offset: 64,
            len: 128,
        };
        let plan = plan_bindings(&[rev, empty, mps], 4096);
        assert_eq!(plan.host.len(), 1);
        assert!(plan.host[0].page_aligned);
        assert_eq!(
            plan.slots,
            vec![
                Binding::Host { buffer: 0, offset: 36 },
                Binding::Empty,
                Binding::Metal {
                    buffer: 0xdead0,
                    offset: 64
                }
            ]
        );
    }

    #[test]
    fn touching_ranges_stay_separate() {
        let plan = plan_bindings(&[host(0x1000, 16), host(0x1010, 16)], 4096);
        assert_eq!(plan.host.len(), 2);
    }
}
