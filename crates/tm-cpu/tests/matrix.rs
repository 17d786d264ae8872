//! simdgroup_matrix: collective loads, stores and multiply-accumulate against naive products.

mod common;

use common::*;
use tm_ir::DType;

fn matmul(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
    let mut c = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
    c
}

fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols * rows)
        .map(|i| a[(i % rows) * cols + i / rows])
        .collect()
}

#[test]
fn eight_by_eight_multiply_accumulate_and_transposed_load() {
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void mma8(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    device float* p2 [[buffer(2)]],
    device float* p3 [[buffer(3)]],
    device float* p4 [[buffer(4)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup float* sa = (threadgroup float*)tm_smem;
    threadgroup float* sb = sa + 64;
    for (uint i = tm_tid; i < 64; i += 32) {
        sa[i] = p0[i];
        sb[i] = p1[i];
    }
    threadgroup_barrier(mem_flags::mem_threadgroup);
    simdgroup_float8x8 a, b, c, d;
    simdgroup_load(a, sa, 8);
    simdgroup_load(b, sb);
    simdgroup_load(c, p2, 8);
    simdgroup_multiply_accumulate(d, a, b, c);
    simdgroup_store(d, p3, 8);
    simdgroup_float8x8 bt;
    simdgroup_load(bt, sb, 8, ulong2(0, 0), true);
    simdgroup_multiply(d, a, bt);
    simdgroup_store(d, p4, 8);
}
"#;
    let abi = abi("mma8", &[DType::F32; 5], &[], 32, 512, true);
    let kernel = build(&msl(src, &[]), &abi);
    let mut a: Vec<f32> = (0..64).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
    let mut b: Vec<f32> = (0..64).map(|i| ((i * 3) % 7) as f32 - 2.0).collect();
    let mut c: Vec<f32> = (0..64).map(|i| i as f32).collect();
    let mut d = vec![0f32; 64];
    let mut d2 = vec![0f32; 64];
    unsafe { kernel
        .launch(
            [1, 1, 1],
            &[
                ptr(&mut a),
                ptr(&mut b),
                ptr(&mut c),
                ptr(&mut d),
                ptr(&mut d2),
            ],
            &[],
        ) }
        .unwrap();
    let ab = matmul(&a, &b, 8, 8, 8);
    let want: Vec<f32> = ab.iter().zip(&c).map(|(x, y)| x + y).collect();
    assert_eq!(d, want, "A*B + C");
    assert_eq!(d2, matmul(&a, &transpose(&b, 8, 8), 8, 8, 8), "A*B^T");
}

#[test]
fn origin_stride_and_mixed_precision() {
    // Reads the 8x8 block at column 8, row 4 of a 16x16 half matrix, multiplies it by the
    // identity (diagonal constructor) with a float accumulator and writes it to column 0,
    // row 8 of a 16x16 float matrix.
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void mma_origin(
    device half* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    {BUILTINS})
{
    simdgroup_half8x8 block;
    simdgroup_load(block, p0, 16, ulong2(8, 4));
    simdgroup_half8x8 eye = simdgroup_half8x8(1.0h);
    simdgroup_float8x8 acc = make_filled_simdgroup_matrix<float, 8, 8>(0.5f);
    simdgroup_multiply_accumulate(acc, block, eye, acc);
    simdgroup_store(acc, p1, 16, ulong2(0, 8));
}
"#;
    let abi = abi("mma_origin", &[DType::F16, DType::F32], &[], 32, 0, true);
    let kernel = build(&msl(src, &[]), &abi);
    let m: Vec<f32> = (0..256).map(|i| (i % 37) as f32 - 18.0).collect();
    let mut mh: Vec<u16> = m.iter().map(|v| tm_abi::f32_to_f16_bits(*v)).collect();
    let mut out = vec![-1f32; 256];
    unsafe { kernel
        .launch([1, 1, 1], &[ptr(&mut mh), ptr(&mut out)], &[]) }
        .unwrap();
    for r in 0..16 {
        for c in 0..16 {
            let want = if (8..16).contains(&r) && c < 8 {
                m[(r - 8 + 4) * 16 + c + 8] + 0.5
            } else {
                -1.0
            };
            assert_eq!(out[r * 16 + c], want, "row {r} col {c}");
        }
    }
}

#[test]
fn tiled_gemm_with_four_simdgroups() {
    // C[64x64] = A[64x48] * B[48x64]. Each threadgroup computes a 32x32 tile; each of its four
    // simdgroups a 16x16 quarter (2x2 fragments). B is staged through threadgroup memory.
    let src = r#"#include <metal_stdlib>
using namespace metal;
kernel void gemm(
    device float* p0 [[buffer(0)]],
    device float* p1 [[buffer(1)]],
    device float* p2 [[buffer(2)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    const uint K = 48, N = 64;
    threadgroup float* sb = (threadgroup float*)tm_smem;   // 8 x 32 slice of B
    uint row0 = tm_pid.y * 32 + (tm_sg / 2) * 16;
    uint col0 = (tm_sg % 2) * 16;
    simdgroup_float8x8 acc[2][2];
    for (uint i = 0; i < 2; ++i)
        for (uint j = 0; j < 2; ++j)
            acc[i][j] = make_filled_simdgroup_matrix<float, 8, 8>(0.0f);
    for (uint k = 0; k < K; k += 8) {
        for (uint e = tm_tid; e < 8 * 32; e += 128) {
            sb[e] = p1[(k + e / 32) * N + tm_pid.x * 32 + e % 32];
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
        for (uint i = 0; i < 2; ++i) {
            simdgroup_float8x8 a;
            simdgroup_load(a, p0 + (row0 + 8 * i) * K, K, ulong2(k, 0));
            for (uint j = 0; j < 2; ++j) {
                simdgroup_float8x8 b;
                simdgroup_load(b, sb + col0 + 8 * j, 32);
                simdgroup_multiply_accumulate(acc[i][j], a, b, acc[i][j]);
            }
        }
        threadgroup_barrier(mem_flags::mem_threadgroup);
    }
    for (uint i = 0; i < 2; ++i)
        for (uint j = 0; j < 2; ++j)
            simdgroup_store(acc[i][j], p2 + (row0 + 8 * i) * N + tm_pid.x * 32 + col0 + 8 * j, N);
}
"#;
    let abi = abi("gemm", &[DType::F32; 3], &[], 128, 8 * 32 * 4, true);
    let kernel = build(&msl(src, &[]), &abi);
    let mut a: Vec<f32> = (0..64 * 48).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
    let mut b: Vec<f32> = (0..48 * 64).map(|i| ((i * 5) % 9) as f32 - 4.0).collect();
    let mut c = vec![f32::NAN; 64 * 64];
    unsafe { kernel
        .launch([2, 2, 1], &[ptr(&mut a), ptr(&mut b), ptr(&mut c)], &[]) }
        .unwrap();
    assert_eq!(c, matmul(&a, &b, 64, 48, 64));
}
