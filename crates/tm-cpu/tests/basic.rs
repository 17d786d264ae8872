//! Kernels without synchronisation (the fast path), grids, large launches and API errors.

mod common;

use common::*;
use tm_abi::ScalarValue;
use tm_cpu::CpuError;
use tm_ir::DType;

const VADD: &str = r#"#include <metal_stdlib>
using namespace metal;

struct vadd_args {
    int n;
    float alpha;
};

kernel void vadd(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    device float* p2 [[buffer(2)]],
    constant vadd_args& args [[buffer(3)]],
    {BUILTINS})
{
    int i = int(tm_pid.x) * 128 + int(tm_tid);
    if (i < args.n) {
        p2[i] = p0[i] + args.alpha * p1[i];
    }
}
"#;

#[test]
fn vector_add_with_scalars_and_a_masked_tail() {
    let abi = abi(
        "vadd",
        &[DType::F32; 3],
        &[("n", DType::I32), ("alpha", DType::F32)],
        128,
        0,
        false,
    );
    let kernel = build(&msl(VADD, &[]), &abi);
    let n = 1000usize;
    let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.25).collect();
    let y: Vec<f32> = (0..n).map(|i| (i % 7) as f32 - 3.0).collect();
    let (mut x, mut y) = (x, y);
    let mut out = vec![-7.0f32; 1024];
    let args = pack(
        &abi,
        &[ScalarValue::Int(n as i128), ScalarValue::Float(1.5)],
    );
    let grid = [n.div_ceil(128) as u32, 1, 1];
    unsafe { kernel
        .launch(grid, &[ptr(&mut x), ptr(&mut y), ptr(&mut out)], &args) }
        .unwrap();
    for i in 0..n {
        assert_eq!(out[i], x[i] + 1.5 * y[i], "element {i}");
    }
    assert!(
        out[n..].iter().all(|v| *v == -7.0),
        "masked-off tail was written"
    );
}

#[test]
fn three_dimensional_grid_builtins() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void grid_ids(
    device uint* p0 [[buffer(0)]],
    {BUILTINS})
{
    uint g = (tm_pid.z * tm_nprog.y + tm_pid.y) * tm_nprog.x + tm_pid.x;
    device uint* o = p0 + (g * 64 + tm_tid) * 8;
    o[0] = tm_pid.x; o[1] = tm_pid.y; o[2] = tm_pid.z;
    o[3] = tm_nprog.x; o[4] = tm_nprog.y; o[5] = tm_nprog.z;
    o[6] = tm_lane; o[7] = tm_sg;
}
"#;
    let abi = abi("grid_ids", &[DType::U32], &[], 64, 0, false);
    let kernel = build(&msl(src, &[]), &abi);
    let grid = [3u32, 2, 4];
    let mut out = vec![0u32; 24 * 64 * 8];
    unsafe { kernel.launch(grid, &[ptr(&mut out)], &[]) }.unwrap();
    for z in 0..4 {
        for y in 0..2 {
            for x in 0..3 {
                let g = (z * 2 + y) * 3 + x;
                for t in 0..64u32 {
                    let o = &out[((g * 64 + t) * 8) as usize..][..8];
                    assert_eq!(
                        o,
                        [x, y, z, 3, 2, 4, t % 32, t / 32],
                        "group ({x},{y},{z}) thread {t}"
                    );
                }
            }
        }
    }
}

#[test]
fn a_million_threads_of_a_trivial_kernel() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void iota3(
    device uint* p0 [[buffer(0)]],
    {BUILTINS})
{
    uint i = tm_pid.x * 256 + tm_tid;
    p0[i] = i * 3u;
}
"#;
    let abi = abi("iota3", &[DType::U32], &[], 256, 0, false);
    let kernel = build(&msl(src, &[]), &abi);
    let mut out = vec![0u32; 1 << 20];
    let start = std::time::Instant::now();
    unsafe { kernel
        .launch([(1 << 20) / 256, 1, 1], &[ptr(&mut out)], &[]) }
        .unwrap();
    eprintln!("1M threads (no sync): {:?}", start.elapsed());
    assert!(out.iter().enumerate().all(|(i, v)| *v == 3 * i as u32));
}

#[test]
fn a_million_threads_with_barriers() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void rev(
    device uint* p0 [[buffer(0)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup uint* s = (threadgroup uint*)tm_smem;
    s[tm_tid] = tm_pid.x * 256 + tm_tid;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    p0[tm_pid.x * 256 + tm_tid] = s[255 - tm_tid];
}
"#;
    let abi = abi("rev", &[DType::U32], &[], 256, 1024, true);
    let kernel = build(&msl(src, &[]), &abi);
    let mut out = vec![0u32; 1 << 20];
    let start = std::time::Instant::now();
    unsafe { kernel
        .launch([(1 << 20) / 256, 1, 1], &[ptr(&mut out)], &[]) }
        .unwrap();
    eprintln!("1M threads (fibers): {:?}", start.elapsed());
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, v)| *v as usize == (i / 256) * 256 + 255 - i % 256));
}

#[test]
fn launch_arguments_are_validated() {
    let abi = abi(
        "vadd",
        &[DType::F32; 3],
        &[("n", DType::I32), ("alpha", DType::F32)],
        128,
        0,
        false,
    );
    let kernel = build(&msl(VADD, &[]), &abi);
    let mut v = vec![0f32; 4];
    let p = ptr(&mut v);
    let args = pack(&abi, &[ScalarValue::Int(4), ScalarValue::Float(1.0)]);
    let e = unsafe { kernel.launch([1, 1, 1], &[p, p], &args) }.unwrap_err();
    assert!(
        matches!(
            e,
            CpuError::BufferCount {
                expected: 3,
                got: 2,
                ..
            }
        ),
        "{e}"
    );
    let e = unsafe { kernel
        .launch([1, 1, 1], &[p, p, p], &args[..4]) }
        .unwrap_err();
    assert!(
        matches!(
            e,
            CpuError::ArgsSize {
                expected: 8,
                got: 4,
                ..
            }
        ),
        "{e}"
    );
    let e = unsafe { kernel.launch([1, 0, 1], &[p, p, p], &args) }.unwrap_err();
    assert!(matches!(e, CpuError::EmptyGrid { .. }), "{e}");
    assert!(e.to_string().contains("zero dimension"));
}

#[test]
fn compiler_errors_carry_clang_diagnostics() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void broken(
    device float* p0 [[buffer(0)]],
    {BUILTINS})
{
    p0[tm_tid] = undefined_variable * 2.0f;
}
"#;
    let abi = abi("broken", &[DType::F32], &[], 32, 0, false);
    let e = tm_cpu::compile(&msl(src, &[]), &abi).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, CpuError::Compile { .. }), "{text}");
    assert!(text.contains("undefined_variable"), "{text}");
    assert!(
        text.contains("kernel.metal:11:"),
        "diagnostics should point into the MSL: {text}"
    );
}

#[test]
fn args_struct_size_must_match_the_abi() {
    // The MSL struct has one field, the ABI two scalars: the wrapper's static_assert refuses.
    let src = r#"#include <metal_stdlib>
using namespace metal;
struct bad_args_args { int n; };
kernel void bad_args(
    device float* p0 [[buffer(0)]],
    constant bad_args_args& args [[buffer(1)]],
    {BUILTINS})
{
    p0[tm_tid] = float(args.n);
}
"#;
    let abi = abi(
        "bad_args",
        &[DType::F32],
        &[("n", DType::I32), ("m", DType::I32)],
        32,
        0,
        false,
    );
    let e = tm_cpu::compile(&msl(src, &[]), &abi).unwrap_err();
    assert!(e.to_string().contains("args_size"), "{e}");
}

#[test]
fn invalid_abis_are_refused() {
    let mut bad = abi("k", &[DType::F32], &[], 32, 0, false);
    bad.threads_per_threadgroup = 2048;
    let e = tm_cpu::compile("", &bad).unwrap_err();
    assert!(matches!(e, CpuError::InvalidAbi { .. }), "{e}");
    let mut bad = abi("k", &[DType::F32], &[], 32, 0, false);
    bad.threadgroup_bytes = 64 * 1024;
    assert!(matches!(
        tm_cpu::compile("", &bad),
        Err(CpuError::InvalidAbi { .. })
    ));
    let bad = abi("not an identifier", &[DType::F32], &[], 32, 0, false);
    assert!(matches!(
        tm_cpu::compile("", &bad),
        Err(CpuError::InvalidAbi { .. })
    ));
    let bad = abi("k", &[DType::F64], &[], 32, 0, false);
    assert!(matches!(
        tm_cpu::compile("", &bad),
        Err(CpuError::InvalidAbi { .. })
    ));
}

#[test]
fn compiler_is_found() {
    let path = tm_cpu::compiler_path().unwrap();
    assert!(path.exists(), "{}", path.display());
}

#[test]
fn concurrent_compiles_share_one_kernel_and_launches_run_in_parallel() {
    let src = msl(
        r#"#include <metal_stdlib>
using namespace metal;
struct scale_args {
    uint k;
};
kernel void scale(
    device uint* p0 [[buffer(0)]],
    constant scale_args& args [[buffer(1)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup uint* s = (threadgroup uint*)tm_smem;
    s[tm_tid] = tm_pid.x * 64 + tm_tid;
    threadgroup_barrier(mem_flags::mem_threadgroup);
    p0[tm_pid.x * 64 + tm_tid] = s[63 - tm_tid] * args.k + simd_sum(1u);
}
"#,
        &[],
    );
    let abi = abi("scale", &[DType::U32], &[("k", DType::U32)], 64, 256, true);
    let kernels: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| tm_cpu::compile(&src, &abi).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(kernels
        .iter()
        .all(|k| std::sync::Arc::ptr_eq(k, &kernels[0])));
    std::thread::scope(|s| {
        for k in 1..=4u32 {
            let kernel = &kernels[0];
            let abi = &abi;
            s.spawn(move || {
                let mut out = vec![0u32; 64 * 50];
                let args = pack(abi, &[ScalarValue::Int(k.into())]);
                unsafe { kernel.launch([50, 1, 1], &[ptr(&mut out)], &args) }.unwrap();
                for (i, v) in out.iter().enumerate() {
                    let mirrored = (i / 64 * 64 + 63 - i % 64) as u32;
                    assert_eq!(*v, mirrored * k + 32, "k {k} element {i}");
                }
            });
        }
    });
}
