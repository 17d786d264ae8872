//! Tests on a real GPU (they run on a Mac: `cargo test -p tm-metal`, part of
//! `scripts/mac-smoke-test`; elsewhere they are type-checked only). A hand-written kernel
//! following the tm-abi signature: `out[i] = x[i] * a + tg` for `i < n`, where `tg` is read
//! back from threadgroup memory, so buffers, the scalar struct and `tm_smem` are all exercised.

use std::alloc::{alloc_zeroed, dealloc, Layout};

use tm_abi::{BufferArg, BufferParam, HostRange, KernelAbi, ScalarValue};
use tm_ir::DType;

use crate::{memory_stats, pipeline, MetalError};

const MSL: &str = r#"
#include <metal_stdlib>
using namespace metal;
struct scale_args { int n; float a; };
kernel void scale(device const float* x [[buffer(0)]], device float* out [[buffer(1)]],
                  constant scale_args& args [[buffer(2)]],
                  threadgroup uchar* tm_smem [[threadgroup(0)]],
                  uint3 tm_pid [[threadgroup_position_in_grid]],
                  uint3 tm_nprog [[threadgroups_per_grid]],
                  uint tm_tid [[thread_index_in_threadgroup]],
                  uint tm_lane [[thread_index_in_simdgroup]],
                  uint tm_sg [[simdgroup_index_in_threadgroup]]) {
    threadgroup float* t = (threadgroup float*)tm_smem;
    if (tm_tid == 0) t[0] = 0.5f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    int i = int(tm_pid.x) * 64 + int(tm_tid);
    int n = args.n;
    if (i < n) out[i] = x[i] * args.a + t[0];
}
"#;

fn abi(threads: u32) -> KernelAbi {
    let buf = |name: &str| BufferParam {
        name: name.into(),
        dtype: DType::F32,
        read: true,
        written: true,
    };
    let scalars = vec![("n".to_string(), DType::I32), ("a".to_string(), DType::F32)];
    KernelAbi::new(
        "scale".into(),
        vec![buf("x"), buf("out")],
        scalars,
        vec![],
        threads,
        16,
        true,
    )
    .unwrap()
}

/// Page-aligned zeroed memory, so both the no-copy and the copying paths can be chosen.
struct Pages(*mut u8, Layout);

impl Pages {
    fn new(bytes: usize) -> Pages {
        let layout = Layout::from_size_align(bytes, 16384).unwrap();
        // SAFETY: non-zero size.
        Pages(unsafe { alloc_zeroed(layout) }, layout)
    }
    fn floats(&mut self, at: usize, n: usize) -> &mut [f32] {
        // SAFETY: inside the allocation (callers stay within), aligned for f32.
        unsafe { std::slice::from_raw_parts_mut(self.0.add(at).cast::<f32>(), n) }
    }
    fn range(&self, at: usize, n: usize) -> BufferArg {
        let addr = self.0 as usize + at;
        BufferArg::Host(HostRange {
            addr,
            start: addr,
            len: n * 4,
            writable: true,
        })
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: allocated with this layout.
        unsafe { dealloc(self.0, self.1) }
    }
}

fn run(x_at: usize, out_at: usize, n: usize) {
    let mut mem = Pages::new(4 * 16384);
    for (i, v) in mem.floats(x_at, n).iter_mut().enumerate() {
        *v = i as f32;
    }
    let abi = abi(64);
    let p = pipeline(MSL, &abi).unwrap();
    let bufs = [mem.range(x_at, n), mem.range(out_at, n)];
    let launch = abi
        .check_launch(
            [n.div_ceil(64) as u32, 1, 1],
            &bufs,
            &[ScalarValue::Int(n as i128), ScalarValue::Float(2.0)],
        )
        .unwrap();
    // SAFETY: both ranges lie in `mem`, alive for the call.
    unsafe { p.launch(&launch) }.unwrap();
    let out = mem.floats(out_at, n);
    for (i, v) in out.iter().enumerate() {
        assert_eq!(*v, i as f32 * 2.0 + 0.5, "element {i}");
    }
}

#[test]
fn page_aligned_memory_is_used_in_place() {
    run(0, 16384, 1000);
}

#[test]
fn unaligned_memory_is_copied_in_and_out() {
    run(4, 16384 + 8, 1000);
    assert!(memory_stats().peak_bytes >= 4000);
}

#[test]
fn the_same_memory_twice_is_one_buffer() {
    // In place: x and out are the same array, copied once and written back once.
    run(4, 4, 500);
    run(0, 0, 500);
}

#[test]
fn too_many_threads_are_refused_before_launch() {
    match pipeline(MSL, &abi(4096)) {
        Err(MetalError::Resources { message, .. }) => assert!(message.contains("4096 threads"), "{message}"),
        other => panic!("expected a resources error, got {:?}", other.err()),
    }
}

#[test]
fn invalid_msl_is_a_compile_error() {
    match pipeline("kernel void scale(", &abi(64)) {
        Err(MetalError::Compile { kernel, .. }) => assert_eq!(kernel, "scale"),
        other => panic!("expected a compile error, got {:?}", other.err()),
    }
}

#[test]
fn a_batch_completes_its_launches_in_order_at_its_end() {
    // out = x * 2 + 0.5, then out2 = out * 2 + 0.5 reading the first launch's stores: both
    // in place (page-aligned), queued in one command buffer, visible after batch_end.
    let n = 1000;
    let mut mem = Pages::new(4 * 16384);
    for (i, v) in mem.floats(0, n).iter_mut().enumerate() {
        *v = i as f32;
    }
    let abi = abi(64);
    let p = pipeline(MSL, &abi).unwrap();
    let scalars = [ScalarValue::Int(n as i128), ScalarValue::Float(2.0)];
    let first = [mem.range(0, n), mem.range(16384, n)];
    let second = [mem.range(16384, n), mem.range(2 * 16384, n)];
    let grid = [n.div_ceil(64) as u32, 1, 1];
    crate::batch_begin();
    for bufs in [&first, &second] {
        let launch = abi.check_launch(grid, bufs, &scalars).unwrap();
        // SAFETY: the ranges lie in `mem`, alive until batch_end below.
        unsafe { p.launch(&launch) }.unwrap();
    }
    crate::batch_end().unwrap();
    for (i, v) in mem.floats(2 * 16384, n).iter().enumerate() {
        assert_eq!(*v, (i as f32 * 2.0 + 0.5) * 2.0 + 0.5, "element {i}");
    }
}
