//! Bounds checks of device memory (`tm_chk`): an access outside its buffer fails the launch
//! with a message naming the access, and never touches the memory, with and without fibers.

mod common;

use common::*;
use tm_abi::ScalarValue;
use tm_cpu::{Buffer, CompileOptions, CpuError};
use tm_ir::DType;

const GUARD: f32 = -12345.0;

/// `n` floats inside guard zones of 16 on either side: (backing vector, range of the array).
fn guarded(n: usize) -> (Vec<f32>, std::ops::Range<usize>) {
    (vec![GUARD; n + 32], 16..16 + n)
}

fn assert_guards_intact(v: &[f32], inner: &std::ops::Range<usize>) {
    for (i, x) in v.iter().enumerate() {
        if !inner.contains(&i) {
            assert_eq!(*x, GUARD, "guard element {i} was written");
        }
    }
}

fn kernel_message(e: CpuError) -> String {
    match e {
        CpuError::Kernel { kernel, message } => format!("{kernel}: {message}"),
        other => panic!("expected a kernel error, got {other}"),
    }
}

/// Each thread stores its global index, unmasked: the last group runs off the end.
const STORE: &str = r#"#include <metal_stdlib>
using namespace metal;
kernel void oob_store(
    device float* p0 [[buffer(0)]],
    {BUILTINS})
{
    uint i = tm_pid.x * 32u + tm_tid;
    *(tm_chk(p0 + i, 1u, 1, 7u, 0)) = float(i);
}
"#;

#[test]
fn a_store_past_the_end_fails_and_writes_nothing_outside() {
    let abi = abi("oob_store", &[DType::F32], &[], 32, 0, false);
    let kernel = build(&msl(STORE, &[]), &abi);
    assert!(kernel.bounds_checked());
    let (mut v, inner) = guarded(64);
    let buf = Buffer::slice(&mut v[inner.clone()]);
    let e = unsafe { kernel.launch([3, 1, 1], &[buf], &[]) }.unwrap_err();
    let m = kernel_message(e);
    assert!(
        m.contains("threadgroup (2, 0, 0), thread 0: out-of-bounds store at line 7: element 64 of 'p0', which has 64 elements (1 element past the end)"),
        "{m}"
    );
    assert_guards_intact(&v, &inner);
    // The groups inside the array ran normally.
    for i in 0..64 {
        assert_eq!(v[16 + i], i as f32);
    }

    // In bounds, the same kernel is fine.
    let (mut v, inner) = guarded(96);
    let buf = Buffer::slice(&mut v[inner.clone()]);
    unsafe { kernel.launch([3, 1, 1], &[buf], &[]) }.unwrap();
    assert_guards_intact(&v, &inner);
}

/// Thread 3 stores far outside and then inside; the others store their index.
const POISON: &str = r#"#include <metal_stdlib>
using namespace metal;
kernel void poisoned(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    {BUILTINS})
{
    if (tm_tid == 3u) {
        *(tm_chk(p0 + 1000, 1u, 1, 9u, 0)) = 5.0f;
        *(tm_chk(p0, 1u, 1, 10u, 0)) = 7.0f;
        *(tm_chk(p1, 1u, 1, 11u, 1)) = *(tm_chk(p0 + 2000, 1u, 0, 11u, 0)) + 1.0f;
    } else {
        *(tm_chk(p0 + tm_tid, 1u, 1, 13u, 0)) = float(tm_tid + 1u);
    }
}
"#;

#[test]
fn without_fibers_a_failed_thread_touches_nothing_more_and_the_group_stops() {
    let abi = abi("poisoned", &[DType::F32; 2], &[], 32, 0, false);
    let kernel = build(&msl(POISON, &[]), &abi);
    let mut a = vec![0.0f32; 32];
    let mut b = vec![0.0f32; 1];
    let e = unsafe { kernel.launch([1, 1, 1], &[ptr(&mut a), ptr(&mut b)], &[]) }.unwrap_err();
    let m = kernel_message(e);
    assert!(
        m.contains("thread 3: out-of-bounds store at line 9: element 1000 of 'p0', which has 32 elements (969 elements past the end)"),
        "{m}"
    );
    // Threads 0..2 ran; thread 3's later in-bounds stores went nowhere (p0[0] stays 1, p1[0]
    // stays 0); threads 4.. did not run.
    assert_eq!(&a[..3], &[1.0, 2.0, 3.0]);
    assert!(a[3..].iter().all(|x| *x == 0.0), "{a:?}");
    assert_eq!(b[0], 0.0);
}

/// With fibers (a barrier): thread 40 loads before the start of p0.
const LOAD_SYNC: &str = r#"#include <metal_stdlib>
using namespace metal;
kernel void oob_load_sync(
    device int* p0 [[buffer(0)]],
    device int* p1 [[buffer(1)]],
    {BUILTINS})
{
    int off = tm_tid == 40u ? -3 : int(tm_tid);
    int x = *(tm_chk(p0 + off, 1u, 0, 21u, 0));
    threadgroup_barrier(mem_flags::mem_device);
    *(tm_chk(p1 + tm_tid, 1u, 1, 23u, 1)) = x + 1;
}
"#;

#[test]
fn with_fibers_a_failed_load_abandons_the_group() {
    let abi = abi("oob_load_sync", &[DType::I32; 2], &[], 64, 0, true);
    let kernel = build(&msl(LOAD_SYNC, &[]), &abi);
    let mut x: Vec<i32> = (0..64).collect();
    let mut out = vec![-1i32; 64];
    let e = unsafe { kernel.launch([1, 1, 1], &[ptr(&mut x), ptr(&mut out)], &[]) }.unwrap_err();
    let m = kernel_message(e);
    assert!(
        m.contains("thread 40: out-of-bounds load at line 21: element -3 of 'p0', which has 64 elements (3 elements before the start)"),
        "{m}"
    );
    // Nobody got past the barrier.
    assert!(out.iter().all(|v| *v == -1));
}

/// Vector accesses are checked whole: a float4 store whose last two lanes fall off the end.
const VEC: &str = r#"#include <metal_stdlib>
using namespace metal;
kernel void oob_vec(
    device float* p0 [[buffer(0)]],
    {BUILTINS})
{
    uint i = (tm_pid.x * 32u + tm_tid) * 4u;
    *((device float4*)(tm_chk(p0 + i, 4u, 1, 5u, 0))) = float4(1.0f);
}
"#;

#[test]
fn vector_accesses_are_checked_whole() {
    let abi = abi("oob_vec", &[DType::F32], &[], 32, 0, false);
    let kernel = build(&msl(VEC, &[]), &abi);
    // 32 threads x 4 floats = 128; the array has 126: thread 31's vector is half outside.
    let (mut v, inner) = guarded(126);
    let buf = Buffer::slice(&mut v[inner.clone()]);
    let e = unsafe { kernel.launch([1, 1, 1], &[buf], &[]) }.unwrap_err();
    let m = kernel_message(e);
    assert!(
        m.contains("thread 31: out-of-bounds store at line 5: elements 124..127 of 'p0' (one 4-element vector access), which has 126 elements (2 elements past the end)"),
        "{m}"
    );
    assert_guards_intact(&v, &inner);
    // Elements 124 and 125 are inside, but the vector was not stored.
    assert_eq!(v[16 + 124], GUARD);
    assert_eq!(v[16 + 123], 1.0);
}

/// Atomics, and an access whose buffer is unknown (slot -1: any buffer will do).
const ATOMIC: &str = r#"#include <metal_stdlib>
using namespace metal;
struct oob_atomic_args { int off; };
kernel void oob_atomic(
    device int* p0 [[buffer(0)]],
    device int* p1 [[buffer(1)]],
    constant oob_atomic_args& args [[buffer(2)]],
    {BUILTINS})
{
    atomic_fetch_add_explicit((device atomic_int*)tm_chk(p0 + args.off, 1u, 2, 3u, 0), 1, memory_order_relaxed);
    atomic_fetch_add_explicit((device atomic_int*)tm_chk(p1 + args.off, 1u, 2, 4u, -1), 1, memory_order_relaxed);
}
"#;

#[test]
fn atomics_and_accesses_of_unknown_buffers_are_checked() {
    let abi = abi("oob_atomic", &[DType::I32; 2], &[("off", DType::I32)], 32, 0, false);
    let kernel = build(&msl(ATOMIC, &[]), &abi);
    let mut a = vec![0i32; 8];
    let mut b = vec![0i32; 8];
    let run = |off: i128, a: &mut [i32], b: &mut [i32]| unsafe {
        kernel.launch([1, 1, 1], &[ptr(a), ptr(b)], &pack(&abi, &[ScalarValue::Int(off)]))
    };
    run(7, &mut a, &mut b).unwrap();
    assert_eq!((a[7], b[7]), (32, 32));

    let m = kernel_message(run(8, &mut a, &mut b).unwrap_err());
    assert!(
        m.contains("thread 0: out-of-bounds atomic at line 3: element 8 of 'p0', which has 8 elements (1 element past the end)"),
        "{m}"
    );
    assert_eq!(a.iter().sum::<i32>(), 32);

    // Slot -1 accepts any buffer of the launch: p1 + 7 lands in p0's memory and passes, while
    // p0's own accesses are checked against p0 only.
    let mut both = vec![0i32; 16];
    let (lo, hi) = both.split_at_mut(8);
    run(7, hi, &mut lo[1..]).unwrap();
    assert_eq!(both[8 + 7], 32);
    assert_eq!(both[8], 32);
    let m = kernel_message(run(-1000, &mut a, &mut b).unwrap_err());
    assert!(m.contains("out-of-bounds atomic at line 3: element -1000 of 'p0', which has 8 elements (1000 elements before the start)"), "{m}");
}

#[test]
fn an_unknown_buffer_outside_every_array_names_the_nearest() {
    const SRC: &str = r#"#include <metal_stdlib>
using namespace metal;
kernel void oob_any(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    {BUILTINS})
{
    if (tm_tid == 0u) *(tm_chk(p1 + 10, 1u, 1, 8u, -1)) = 1.0f;
}
"#;
    let abi = abi("oob_any", &[DType::F32; 2], &[], 32, 0, false);
    let kernel = build(&msl(SRC, &[]), &abi);
    let mut a = vec![0.0f32; 4];
    let mut b = vec![0.0f32; 8];
    let e = unsafe { kernel.launch([1, 1, 1], &[ptr(&mut a), ptr(&mut b)], &[]) }.unwrap_err();
    let m = kernel_message(e);
    assert!(m.contains("out-of-bounds store at line 8: 4 bytes at 0x"), "{m}");
    assert!(m.contains("outside every array passed to the kernel; nearest: 'p1', 12 bytes past its end"), "{m}");
}

#[test]
fn negative_strides_and_empty_arrays_are_described() {
    const SRC: &str = r#"#include <metal_stdlib>
using namespace metal;
struct oob_view_args { int off; };
kernel void oob_view(
    device float* p0 [[buffer(0)]],
    constant oob_view_args& args [[buffer(1)]],
    {BUILTINS})
{
    if (tm_tid == 0u) *(tm_chk(p0 + args.off, 1u, 1, 9u, 0)) = 1.0f;
}
"#;
    let abi = abi("oob_view", &[DType::F32], &[("off", DType::I32)], 32, 0, false);
    let kernel = build(&msl(SRC, &[]), &abi);
    let mut v = vec![0.0f32; 10];
    // A reversed view: the kernel's pointer is the last element, elements -9..0 are valid.
    let base = v.as_mut_ptr() as usize;
    let view = Buffer::new(unsafe { v.as_mut_ptr().add(9) }.cast(), base, base + 40);
    let run = |b: Buffer, off: i128| unsafe { kernel.launch([1, 1, 1], &[b], &pack(&abi, &[ScalarValue::Int(off)])) };
    run(view, -9).unwrap();
    run(view, 0).unwrap();
    let m = kernel_message(run(view, 1).unwrap_err());
    assert!(m.contains("element 1 of 'p0', whose elements are -9..0 (1 element past the end)"), "{m}");
    let m = kernel_message(run(view, -12).unwrap_err());
    assert!(m.contains("element -12 of 'p0', whose elements are -9..0 (3 elements before the start)"), "{m}");

    let empty = Buffer::new(v.as_mut_ptr().cast(), base, base);
    let m = kernel_message(run(empty, 0).unwrap_err());
    assert!(m.contains("store at line 9: element 0 of 'p0', which is empty"), "{m}");
    assert_eq!(v, vec![1.0; 1].into_iter().chain([0.0; 8]).chain([1.0]).collect::<Vec<_>>());

    // Unchecked buffers accept anything (here: still inside the vector).
    run(Buffer::unchecked(v.as_mut_ptr().cast()), 5).unwrap();
    assert_eq!(v[5], 1.0);

    // A range that ends before it starts is refused before anything runs.
    let bad = Buffer::new(v.as_mut_ptr().cast(), base + 8, base);
    assert!(matches!(run(bad, 0), Err(CpuError::BadBuffer { slot: 0, .. })));
}

#[test]
fn unchecked_kernels_compile_tm_chk_away() {
    let abi = abi("oob_store", &[DType::F32], &[], 32, 0, false);
    let kernel = tm_cpu::compile_with(&msl(STORE, &[]), &abi, &CompileOptions { bounds_check: false }).unwrap();
    assert!(!kernel.bounds_checked());
    let checked = tm_cpu::compile_with(&msl(STORE, &[]), &abi, &CompileOptions { bounds_check: true }).unwrap();
    assert_ne!(kernel.library_path(), checked.library_path());
    // In bounds only: an unchecked kernel would really write outside.
    let mut v = vec![0.0f32; 64];
    unsafe { kernel.launch([2, 1, 1], &[Buffer::slice(&mut v)], &[]) }.unwrap();
    assert_eq!(v[63], 63.0);
}
