//! Device and threadgroup atomics across threadgroups that run on several OS threads.

mod common;

use common::*;
use tm_ir::DType;

#[test]
fn float_atomic_add_and_a_compare_exchange_spin_lock() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void atomics(
    device float* p0 [[buffer(0)]],
    device int* p1 [[buffer(1)]],
    device int* p2 [[buffer(2)]],
    device uint* p3 [[buffer(3)]],
    {BUILTINS})
{
    atomic_fetch_add_explicit((device atomic_float*)p0, 0.5f, memory_order_relaxed);
    if (tm_tid == 0) {
        // A spin lock guarding plain (non-atomic) reads and writes.
        device atomic_int* lock = (device atomic_int*)p1;
        int expected = 0;
        while (!atomic_compare_exchange_weak_explicit(lock, &expected, 1, memory_order_relaxed,
                                                      memory_order_relaxed)) {
            expected = 0;
        }
        p2[0] = p2[0] + 1;
        p2[1] = max(p2[1], int(tm_pid.x));
        atomic_store_explicit(lock, 0, memory_order_relaxed);
    }
    atomic_fetch_max_explicit((device atomic_int*)(p2 + 2), int(tm_pid.x * 64 + tm_tid),
                              memory_order_relaxed);
    atomic_fetch_min_explicit((device atomic_int*)(p2 + 3), -int(tm_pid.x), memory_order_relaxed);
    atomic_fetch_sub_explicit((device atomic_int*)(p2 + 4), 2, memory_order_relaxed);
    atomic_fetch_or_explicit((device atomic_uint*)p3, 1u << (tm_pid.x % 32), memory_order_relaxed);
    atomic_fetch_xor_explicit((device atomic_uint*)(p3 + 1), 1u, memory_order_relaxed);
    atomic_fetch_and_explicit((device atomic_uint*)(p3 + 2), ~(1u << (tm_tid % 32)), memory_order_relaxed);
    uint old = atomic_exchange_explicit((device atomic_uint*)(p3 + 3), tm_tid, memory_order_relaxed);
    if (old >= 64u) {
        atomic_fetch_add_explicit((device atomic_uint*)(p3 + 4), 1u, memory_order_relaxed);
    }
}
"#;
    let abi = abi(
        "atomics",
        &[DType::F32, DType::I32, DType::I32, DType::U32],
        &[],
        64,
        0,
        false,
    );
    let kernel = build(&msl(src, &[]), &abi);
    let groups = 3000u32;
    let mut sum = vec![0f32];
    let mut lock = vec![0i32];
    let mut ints = vec![0i32, -1, i32::MIN, 0, 0];
    let mut uints = vec![0u32, 0, u32::MAX, 999, 0];
    unsafe { kernel
        .launch(
            [groups, 1, 1],
            &[
                ptr(&mut sum),
                ptr(&mut lock),
                ptr(&mut ints),
                ptr(&mut uints),
            ],
            &[],
        ) }
        .unwrap();
    assert_eq!(sum[0], 0.5 * 64.0 * groups as f32);
    assert_eq!(lock[0], 0);
    assert_eq!(ints[0], groups as i32, "lock-protected counter");
    assert_eq!(ints[1], groups as i32 - 1, "lock-protected max");
    assert_eq!(ints[2], (groups * 64 - 1) as i32, "atomic max");
    assert_eq!(ints[3], -(groups as i32 - 1), "atomic min");
    assert_eq!(ints[4], -2 * 64 * groups as i32, "atomic sub");
    assert_eq!(uints[0], u32::MAX, "atomic or");
    assert_eq!(uints[1], (64 * groups) % 2, "atomic xor");
    assert_eq!(uints[2], 0, "atomic and");
    assert!(uints[3] < 64, "atomic exchange");
    assert_eq!(uints[4], 1, "exactly one thread saw the initial value");
}

#[test]
fn threadgroup_atomics_with_barriers() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void tg_atomics(
    device uint* p0 [[buffer(0)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup atomic_uint* count = (threadgroup atomic_uint*)tm_smem;
    if (tm_tid == 0) {
        atomic_store_explicit(count, 0u, memory_order_relaxed);
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    uint ticket = atomic_fetch_add_explicit(count, 1u, memory_order_relaxed);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    p0[tm_pid.x * 128 + ticket] = atomic_load_explicit(count, memory_order_relaxed) * 1000u + tm_tid;
}
"#;
    let abi = abi("tg_atomics", &[DType::U32], &[], 128, 16, true);
    let kernel = build(&msl(src, &[]), &abi);
    let mut out = vec![0u32; 128 * 10];
    unsafe { kernel.launch([10, 1, 1], &[ptr(&mut out)], &[]) }.unwrap();
    for g in 0..10 {
        let mut tids: Vec<u32> = out[g * 128..(g + 1) * 128]
            .iter()
            .map(|v| v - 128_000)
            .collect();
        tids.sort_unstable();
        assert_eq!(
            tids,
            (0..128).collect::<Vec<u32>>(),
            "group {g}: every ticket taken once"
        );
    }
}
