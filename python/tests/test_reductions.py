"""Reductions executed on the CPU executor against numpy: every axis, every
reduction, num_warps from 1 to 16, shapes with one row or column and
non-power-of-two extents (masked)."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def reduce_2d(x_ptr, out_ptr, M, N, OP: tl.constexpr, AXIS: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):
    offs_m = tl.arange(0, BM)
    offs_n = tl.arange(0, BN)
    mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    x = tl.load(x_ptr + offs_m[:, None] * N + offs_n[None, :], mask=mask, other=0.0)
    if OP == "sum":
        r = tl.sum(x, axis=AXIS)
    elif OP == "max":
        r = tl.max(tl.where(mask, x, -float("inf")), axis=AXIS)
    elif OP == "min":
        r = tl.min(tl.where(mask, x, float("inf")), axis=AXIS)
    elif OP == "argmax":
        r = tl.argmax(tl.where(mask, x, -float("inf")), axis=AXIS).to(tl.float32)
    else:
        r = tl.argmin(tl.where(mask, x, float("inf")), axis=AXIS).to(tl.float32)
    if AXIS == 0:
        tl.store(out_ptr + offs_n, r, mask=offs_n < N)
    else:
        tl.store(out_ptr + offs_m, r, mask=offs_m < M)


NUMPY = {"sum": np.sum, "max": np.max, "min": np.min, "argmax": np.argmax, "argmin": np.argmin}


@pytest.mark.parametrize("op", sorted(NUMPY))
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("M,N", [(1, 1), (1, 70), (33, 1), (17, 100), (64, 64)])
@pytest.mark.parametrize("num_warps", [1, 4])
def test_reduce_each_axis(op, axis, M, N, num_warps):
    x = np.random.default_rng(M * N).standard_normal((M, N)).astype(np.float32)
    out = np.zeros(N if axis == 0 else M, np.float32)
    BM, BN = triton.next_power_of_2(M), triton.next_power_of_2(N)
    reduce_2d[(1,)](x, out, M, N, OP=op, AXIS=axis, BM=BM, BN=BN, num_warps=num_warps)
    np.testing.assert_allclose(out, NUMPY[op](x, axis=axis), rtol=1e-5, atol=1e-5)


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_row_stride, out_row_stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(in_ptr + row * in_row_stride + offs, mask=offs < n_cols, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    y = num / tl.sum(num, axis=0)
    tl.store(out_ptr + row * out_row_stride + offs, y, mask=offs < n_cols)


@pytest.mark.parametrize("n_cols", [1, 31, 781, 1024, 3000])
@pytest.mark.parametrize("num_warps", [1, 2, 4, 8, 16])
def test_fused_softmax(n_cols, num_warps):
    x = np.random.default_rng(n_cols).standard_normal((5, n_cols)).astype(np.float32)
    out = np.zeros_like(x)
    softmax_kernel[(5,)](out, x, n_cols, n_cols, n_cols, BLOCK=triton.next_power_of_2(n_cols), num_warps=num_warps)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-6)


@triton.jit
def keep_dims_and_methods(x_ptr, out_ptr, BM: tl.constexpr, BN: tl.constexpr):
    offs = tl.arange(0, BM)[:, None] * BN + tl.arange(0, BN)[None, :]
    x = tl.load(x_ptr + offs)
    centered = x - x.sum(axis=1, keep_dims=True) / BN
    total = tl.sum(centered * centered)  # axis=None: a scalar
    tl.store(out_ptr + offs, centered + x.max(axis=0)[None, :] + total)


def test_keep_dims_axis_none_and_methods():
    x = np.random.default_rng(7).standard_normal((8, 32)).astype(np.float32)
    out = np.zeros_like(x)
    keep_dims_and_methods[(1,)](x, out, BM=8, BN=32)
    c = x - x.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(out, c + x.max(axis=0)[None, :] + (c * c).sum(), rtol=1e-4, atol=1e-4)


@triton.jit
def _mul_combine(a, b):
    return a * b


@triton.jit
def _minmax_combine(lo1, hi1, lo2, hi2):
    return tl.minimum(lo1, lo2), tl.maximum(hi1, hi2)


@triton.jit
def custom_reduce(x_ptr, out_ptr, BLOCK: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, BLOCK))
    prod = tl.reduce(x, 0, _mul_combine)
    lo, hi = tl.reduce((x, x), 0, _minmax_combine)
    tl.store(out_ptr, prod)
    tl.store(out_ptr + 1, lo)
    tl.store(out_ptr + 2, hi)


@pytest.mark.parametrize("num_warps", [1, 4])
def test_reduce_with_user_combine_and_tuples(num_warps):
    x = np.random.default_rng(3).uniform(0.9, 1.1, 256).astype(np.float32)
    out = np.zeros(3, np.float32)
    custom_reduce[(1,)](x, out, BLOCK=256, num_warps=num_warps)
    np.testing.assert_allclose(out, [np.prod(x.astype(np.float64)), x.min(), x.max()], rtol=1e-4)


@triton.jit
def int_reductions(x_ptr, out_ptr, BLOCK: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, BLOCK))
    tl.store(out_ptr, tl.sum(x))
    tl.store(out_ptr + 1, tl.xor_sum(x))
    tl.store(out_ptr + 2, tl.max(x))
    tl.store(out_ptr + 3, tl.argmin(x, axis=0))


def test_integer_reductions_and_tie_break():
    x = np.random.default_rng(4).integers(-50, 50, 512).astype(np.int32)
    x[100] = x[300] = -51  # two equal minima: argmin keeps the first
    out = np.zeros(4, np.int32)
    int_reductions[(1,)](x, out, BLOCK=512)
    assert list(out) == [x.sum(), np.bitwise_xor.reduce(x), x.max(), 100]


@triton.jit
def rms_norm(x_ptr, w_ptr, out_ptr, N, eps, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    m = offs < N
    x = tl.load(x_ptr + row * N + offs, mask=m, other=0.0).to(tl.float32)
    rms = tl.sqrt(tl.sum(x * x, axis=0) / N + eps)
    w = tl.load(w_ptr + offs, mask=m, other=0.0)
    tl.store(out_ptr + row * N + offs, (x / rms * w).to(tl.float16), mask=m)


def test_rms_norm_fp16():
    x = np.random.default_rng(5).standard_normal((4, 300)).astype(np.float16)
    w = np.random.default_rng(6).standard_normal(300).astype(np.float32)
    out = np.zeros_like(x)
    rms_norm[(4,)](x, w, out, 300, 1e-6, BLOCK=512)
    xf = x.astype(np.float32)
    ref = xf / np.sqrt((xf * xf).mean(axis=1, keepdims=True) + 1e-6) * w
    np.testing.assert_allclose(out.astype(np.float32), ref, rtol=2e-3, atol=2e-3)


def test_row_reduction_uses_simdgroup_functions():
    x = np.zeros((1, 1024), np.float32)
    out = np.zeros_like(x)
    k = softmax_kernel[(1,)](out, x, 1024, 1024, 1024, BLOCK=1024, num_warps=4)
    msl = k.asm["msl"]
    assert "simd_sum(" in msl and "simd_max(" in msl


@triton.jit
def reduce_3d(x_ptr, out_ptr, A: tl.constexpr, B: tl.constexpr, C: tl.constexpr, AXIS: tl.constexpr):
    a = tl.arange(0, A)[:, None, None]
    b = tl.arange(0, B)[None, :, None]
    c = tl.arange(0, C)[None, None, :]
    x = tl.load(x_ptr + a * B * C + b * C + c)
    s = tl.sum(x, axis=AXIS, keep_dims=True)
    m = tl.max(x, axis=AXIS, keep_dims=True)
    tl.store(out_ptr + a * B * C + b * C + c, x - s + m)


@pytest.mark.parametrize("axis", [0, 1, 2])
@pytest.mark.parametrize("num_warps", [1, 4])
def test_reduce_any_axis_of_3d_block(axis, num_warps):
    x = np.random.default_rng(11).standard_normal((4, 8, 16)).astype(np.float32)
    out = np.zeros_like(x)
    reduce_3d[(1,)](x, out, A=4, B=8, C=16, AXIS=axis, num_warps=num_warps)
    np.testing.assert_allclose(out, x - x.sum(axis, keepdims=True) + x.max(axis, keepdims=True), rtol=1e-5, atol=1e-5)
