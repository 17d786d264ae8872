//! Threadgroup barriers and simdgroup functions: threads of a threadgroup run concurrently.

mod common;

use common::*;
use tm_abi::ScalarValue;
use tm_cpu::CpuError;
use tm_ir::DType;

const TREE_SUM: &str = r#"#include <metal_stdlib>
using namespace metal;

struct tree_sum_{T}_args {
    int n;
};

kernel void tree_sum_{T}(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    constant tree_sum_{T}_args& args [[buffer(2)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup float* s = (threadgroup float*)tm_smem;
    int i = int(tm_pid.x * {T}u + tm_tid);
    s[tm_tid] = i < args.n ? p0[i] : 0.0f;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    for (uint stride = {T}u / 2; stride > 0; stride /= 2) {
        if (tm_tid < stride) {
            s[tm_tid] += s[tm_tid + stride];
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    if (tm_tid == 0) {
        p1[tm_pid.x] = s[0];
    }
}
"#;

#[test]
fn threadgroup_memory_tree_reduction() {
    for num_warps in [1u32, 4, 8] {
        let threads = 32 * num_warps;
        let src = msl(TREE_SUM, &[("T", threads.to_string())]);
        let name = format!("tree_sum_{threads}");
        let abi = abi(
            &name,
            &[DType::F32, DType::F32],
            &[("n", DType::I32)],
            threads,
            threads * 4,
            true,
        );
        let kernel = build(&src, &abi);
        let n = 5 * threads as usize + 17;
        let groups = n.div_ceil(threads as usize);
        let mut x: Vec<f32> = (0..n).map(|i| (i % 17) as f32 - 4.0).collect();
        let mut out = vec![f32::NAN; groups];
        let args = pack(&abi, &[ScalarValue::Int(n as i128)]);
        unsafe { kernel
            .launch([groups as u32, 1, 1], &[ptr(&mut x), ptr(&mut out)], &args) }
            .unwrap();
        for g in 0..groups {
            let want: f32 = x[g * threads as usize..n.min((g + 1) * threads as usize)]
                .iter()
                .sum();
            assert_eq!(out[g], want, "num_warps {num_warps}, group {g}");
        }
    }
}

#[test]
fn simd_sum_then_threadgroup_memory_across_simdgroups() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void two_level_sum(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup float* partial = (threadgroup float*)tm_smem;
    float v = p0[tm_pid.x * 256 + tm_tid];
    v = simd_sum(v);
    if (tm_lane == 0) {
        partial[tm_sg] = v;
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    if (tm_sg == 0) {
        float w = tm_lane < 8 ? partial[tm_lane] : 0.0f;
        w = simd_sum(w);
        if (tm_lane == 0) {
            p1[tm_pid.x] = w;
        }
    }
}
"#;
    let abi = abi(
        "two_level_sum",
        &[DType::F32, DType::F32],
        &[],
        256,
        32,
        true,
    );
    let kernel = build(&msl(src, &[]), &abi);
    let groups = 40;
    let mut x: Vec<f32> = (0..groups * 256).map(|i| ((i * 7) % 23) as f32).collect();
    let mut out = vec![0f32; groups];
    unsafe { kernel
        .launch([groups as u32, 1, 1], &[ptr(&mut x), ptr(&mut out)], &[]) }
        .unwrap();
    for g in 0..groups {
        assert_eq!(
            out[g],
            x[g * 256..(g + 1) * 256].iter().sum::<f32>(),
            "group {g}"
        );
    }
}

#[test]
fn simdgroup_functions() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void simd_ops(
    device int* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    {BUILTINS})
{
    int x = int(tm_tid) * 3 + 1;
    float f = float(tm_tid) * 0.5f - 7.0f;
    device int* o = p0 + tm_tid * 16;
    o[0] = simd_sum(x);
    o[1] = simd_max(x);
    o[2] = simd_min(x);
    o[3] = simd_shuffle_xor(x, 1);
    o[4] = simd_shuffle_xor(x, 16);
    o[5] = simd_prefix_exclusive_sum(x);
    o[6] = simd_prefix_inclusive_sum(x);
    o[7] = simd_shuffle_down(x, 3);
    o[8] = simd_shuffle_up(x, 2);
    o[9] = simd_broadcast(x, 5);
    o[10] = simd_shuffle(x, ushort(31 - tm_lane));
    o[11] = int(uint(ulong(simd_ballot(tm_lane % 3 == 0))));
    o[12] = (simd_all(x > 0) ? 1 : 0) + (simd_all(x > 40) ? 2 : 0);
    o[13] = (simd_any(tm_lane == 7) ? 1 : 0) + (simd_any(x < 0) ? 2 : 0);
    o[14] = simd_or(1 << tm_lane) ^ simd_xor(int(tm_lane)) ^ simd_and(x | 1);
    o[15] = simd_broadcast_first(x) + (simd_is_first() ? 1000 : 0);
    device float* of = p1 + tm_tid * 6;
    of[0] = simd_sum(f);
    of[1] = simd_max(f);
    of[2] = simd_shuffle_xor(f, 2);
    of[3] = float(simd_sum(half(f)));
    float2 pair = simd_sum(float2(f, 1.0f));
    of[4] = pair.y;
    of[5] = simd_prefix_exclusive_product(tm_lane < 4 ? 2.0f : 1.0f);
}
"#;
    let abi = abi("simd_ops", &[DType::I32, DType::F32], &[], 64, 0, true);
    let kernel = build(&msl(src, &[]), &abi);
    let mut ints = vec![0i32; 64 * 16];
    let mut floats = vec![0f32; 64 * 6];
    unsafe { kernel
        .launch([1, 1, 1], &[ptr(&mut ints), ptr(&mut floats)], &[]) }
        .unwrap();
    for t in 0..64usize {
        let sg = t / 32 * 32;
        let lane = t % 32;
        let x = |l: usize| (sg + l) as i32 * 3 + 1;
        let f = |l: usize| (sg + l) as f32 * 0.5 - 7.0;
        let o = &ints[t * 16..][..16];
        let all: Vec<i32> = (0..32).map(x).collect();
        assert_eq!(o[0], all.iter().sum::<i32>(), "sum t{t}");
        assert_eq!(o[1], x(31), "max t{t}");
        assert_eq!(o[2], x(0), "min t{t}");
        assert_eq!(o[3], x(lane ^ 1), "xor1 t{t}");
        assert_eq!(o[4], x(lane ^ 16), "xor16 t{t}");
        assert_eq!(o[5], all[..lane].iter().sum::<i32>(), "exclusive t{t}");
        assert_eq!(o[6], all[..=lane].iter().sum::<i32>(), "inclusive t{t}");
        assert_eq!(
            o[7],
            if lane + 3 < 32 { x(lane + 3) } else { x(lane) },
            "down t{t}"
        );
        assert_eq!(
            o[8],
            if lane >= 2 { x(lane - 2) } else { x(lane) },
            "up t{t}"
        );
        assert_eq!(o[9], x(5), "broadcast t{t}");
        assert_eq!(o[10], x(31 - lane), "shuffle t{t}");
        let ballot = (0..32).filter(|l| l % 3 == 0).fold(0u32, |m, l| m | 1 << l);
        assert_eq!(o[11] as u32, ballot, "ballot t{t}");
        assert_eq!(o[12], if sg == 0 { 1 } else { 3 }, "all t{t}");
        assert_eq!(o[13], 1, "any t{t}");
        let xor = (0..32).fold(0, |a, l| a ^ l);
        let and = (0..32).fold(-1, |a, l| a & (x(l) | 1));
        assert_eq!(o[14], -1 ^ xor ^ and, "or/xor/and t{t}");
        assert_eq!(o[15], x(0) + if lane == 0 { 1000 } else { 0 }, "first t{t}");
        let of = &floats[t * 6..][..6];
        let fs: Vec<f32> = (0..32).map(f).collect();
        assert_eq!(of[0], fs.iter().sum::<f32>(), "fsum t{t}");
        assert_eq!(of[1], f(31), "fmax t{t}");
        assert_eq!(of[2], f(lane ^ 2), "fxor t{t}");
        assert_eq!(of[3], fs.iter().sum::<f32>(), "half sum t{t}");
        assert_eq!(of[4], 32.0, "float2 sum t{t}");
        assert_eq!(
            of[5],
            2f32.powi(lane.min(4) as i32),
            "exclusive product t{t}"
        );
    }
}

#[test]
fn threads_that_returned_leave_barriers_and_simdgroups() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void early_exit(
    device int* p0 [[buffer(0)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    if (tm_tid >= 40) {
        return;
    }
    threadgroup int* s = (threadgroup int*)tm_smem;
    s[tm_tid] = int(tm_tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    int v = s[39 - tm_tid] + simd_sum(1) * 1000;
    p0[tm_tid] = v;
}
"#;
    let abi = abi("early_exit", &[DType::I32], &[], 64, 256, true);
    let kernel = build(&msl(src, &[]), &abi);
    let mut out = vec![-1i32; 64];
    unsafe { kernel.launch([1, 1, 1], &[ptr(&mut out)], &[]) }.unwrap();
    for t in 0..64 {
        let want = if t >= 40 {
            -1
        } else {
            (39 - t) + if t < 32 { 32_000 } else { 8_000 }
        };
        assert_eq!(out[t as usize], want, "thread {t}");
    }
}

fn kernel_error(src: &str, name: &str, uses_sync: bool) -> String {
    let abi = abi(name, &[DType::I32], &[], 64, 0, uses_sync);
    let kernel = build(&msl(src, &[]), &abi);
    let mut out = vec![0i32; 64];
    match unsafe { kernel.launch([3, 1, 1], &[ptr(&mut out)], &[]) } {
        Err(e @ CpuError::Kernel { .. }) => {
            eprintln!("{e}");
            e.to_string()
        }
        other => panic!("expected a kernel error, got {other:?}"),
    }
}

#[test]
fn deadlocks_are_reported() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void deadlock(
    device int* p0 [[buffer(0)]],
    {BUILTINS})
{
    int x = 1;
    if (tm_tid < 16) {
        threadgroup_barrier(mem_flags::mem_threadgroup);
    } else {
        x = simd_sum(x);
    }
    p0[tm_tid] = x;
}
"#;
    let msg = kernel_error(src, "deadlock", true);
    assert!(msg.contains("deadlock"), "{msg}");
    assert!(
        msg.contains("threadgroup_barrier") && msg.contains("simd_sum"),
        "{msg}"
    );
}

#[test]
fn divergent_simdgroup_functions_are_reported() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void divergent(
    device int* p0 [[buffer(0)]],
    {BUILTINS})
{
    int x = int(tm_tid);
    x = tm_lane < 16 ? simd_sum(x) : simd_max(x);
    p0[tm_tid] = x;
}
"#;
    let msg = kernel_error(src, "divergent", true);
    assert!(msg.contains("different simdgroup functions"), "{msg}");
}

#[test]
fn sync_in_a_kernel_declared_without_sync_is_reported() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void undeclared_sync(
    device int* p0 [[buffer(0)]],
    {BUILTINS})
{
    p0[tm_tid] = int(tm_tid);
    threadgroup_barrier(mem_flags::mem_device);
}
"#;
    let msg = kernel_error(src, "undeclared_sync", false);
    assert!(msg.contains("uses_sync = false"), "{msg}");
}

/// A fiber whose arrays need more stack than the kernel's ABI says: it runs into the guard
/// page below its stack, and the launch fails with an error instead of the process dying.
/// Later launches in the process work.
#[cfg(target_os = "linux")]
#[test]
fn stack_overflow_is_a_launch_error() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void overflow(
    device int* p0 [[buffer(0)]],
    {BUILTINS})
{
    volatile int big[400000];  // 1.6 MB, far beyond the stack sized for 32 KiB of arrays
    for (uint i = 0; i < 400000u; i += 1024u) big[i] = int(i + tm_tid);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    int s = 0;
    for (uint i = 0; i < 400000u; i += 1024u) s += big[i];
    p0[tm_tid] = s;
}
"#;
    let mut abi = abi("overflow", &[DType::I32], &[], 64, 0, true);
    abi.thread_private_bytes = 32 * 1024; // a lie: guard pages on, stack far too small
    let kernel = build(&msl(src, &[]), &abi);
    for _ in 0..3 {
        let mut out = vec![0i32; 64];
        match unsafe { kernel.launch([2, 1, 1], &[ptr(&mut out)], &[]) } {
            Err(e @ CpuError::Kernel { .. }) => {
                let msg = e.to_string();
                eprintln!("{msg}");
                assert!(msg.contains("stack overflow"), "{msg}");
                assert!(msg.contains("threadgroup (") && msg.contains("GPU thread 0 "), "{msg}");
            }
            other => panic!("expected a stack overflow error, got {other:?}"),
        }
    }
    // An honest ABI gets a stack that holds the array.
    abi.thread_private_bytes = 1_600_000;
    abi.kernel_name = "overflow".into();
    let kernel = build(&msl(&src.replace("1.6 MB", "1.6 MB "), &[]), &abi);
    let mut out = vec![0i32; 64];
    unsafe { kernel.launch([2, 1, 1], &[ptr(&mut out)], &[]) }.unwrap();
    let expect = |t: i32| (0..400000).step_by(1024).map(|i| i + t).sum::<i32>();
    assert_eq!(out[5], expect(5));
}
