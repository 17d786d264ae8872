"""Shape manipulation executed on the CPU executor against numpy: trans,
permute, reshape/view/ravel, join/split, cat, *_like."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def shapes_kernel(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, OP: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + offs)
    if OP == "trans":
        y = tl.trans(x)
        tl.store(out_ptr + tl.arange(0, N)[:, None] * M + tl.arange(0, M)[None, :], y)
    elif OP == "permute":
        y = tl.permute(x, (1, 0))
        tl.store(out_ptr + tl.arange(0, N)[:, None] * M + tl.arange(0, M)[None, :], y)
    elif OP == "reshape":
        y = tl.reshape(x, (N, M))
        tl.store(out_ptr + tl.arange(0, N)[:, None] * M + tl.arange(0, M)[None, :], y)
    elif OP == "ravel":
        y = tl.ravel(x)
        tl.store(out_ptr + tl.arange(0, M * N), y + 1)
    elif OP == "cat":
        y = tl.cat(x, x * 2)
        tl.store(out_ptr + tl.arange(0, 2 * M)[:, None] * N + tl.arange(0, N)[None, :], y)
    else:
        j = tl.join(x, x + 100)
        a, b = tl.split(j)
        tl.store(out_ptr + offs, b - a + tl.zeros_like(x) + tl.full_like(x, 1))


EXPECTED = {
    "trans": lambda x: x.T,
    "permute": lambda x: x.T,
    "reshape": lambda x: x.reshape(x.shape[1], x.shape[0]),
    "ravel": lambda x: x.ravel() + 1,
    "cat": lambda x: np.concatenate([x, x * 2]),
    "join_split": lambda x: np.full_like(x, 101),
}


@pytest.mark.parametrize("op", sorted(EXPECTED))
@pytest.mark.parametrize("M,N", [(16, 32), (64, 8)])
@pytest.mark.parametrize("num_warps", [1, 4])
def test_shape_ops(op, M, N, num_warps):
    x = np.random.default_rng(0).standard_normal((M, N)).astype(np.float32)
    expected = EXPECTED[op](x)
    out = np.zeros(expected.size, np.float32)
    shapes_kernel[(1,)](x, out, M=M, N=N, OP=op, num_warps=num_warps)
    np.testing.assert_allclose(out.reshape(expected.shape), expected, rtol=1e-6)


@triton.jit
def descriptor_copy(x_ptr, y_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    src = tl.make_tensor_descriptor(x_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    dst = tl.make_tensor_descriptor(y_ptr, shape=[M, N], strides=[N, 1], block_shape=[BM, BN])
    pm = tl.program_id(0) * BM
    pn = tl.program_id(1) * BN
    block = src.load([pm, pn])
    dst.store([pm, pn], block * 2 + 1)


def test_in_kernel_tensor_descriptors_mask_out_of_bounds():
    M, N = 37, 50
    x = np.random.default_rng(4).standard_normal((M, N)).astype(np.float32)
    y = np.full((M + 2, N), 7.0, np.float32)  # rows past M must stay untouched
    descriptor_copy[(triton.cdiv(M, 16), triton.cdiv(N, 32))](x, y, M, N, BM=16, BN=32)
    np.testing.assert_allclose(y[:M], x * 2 + 1, rtol=1e-6)
    np.testing.assert_array_equal(y[M:], 7.0)


@triton.jit
def gather_kernel(src_ptr, idx_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, AXIS: tl.constexpr):
    if AXIS == 1:
        src = tl.load(src_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :])
        idx = tl.load(idx_ptr + tl.arange(0, M)[:, None] * K + tl.arange(0, K)[None, :])
        tl.store(out_ptr + tl.arange(0, M)[:, None] * K + tl.arange(0, K)[None, :], tl.gather(src, idx, 1))
    else:
        src = tl.load(src_ptr + tl.arange(0, N)[:, None] * M + tl.arange(0, M)[None, :])
        idx = tl.load(idx_ptr + tl.arange(0, K)[:, None] * M + tl.arange(0, M)[None, :])
        tl.store(out_ptr + tl.arange(0, K)[:, None] * M + tl.arange(0, M)[None, :], tl.gather(src, idx, 0))


@pytest.mark.parametrize("axis", [0, 1])
def test_gather_along_each_axis(axis):
    M, N, K = 8, 16, 32
    rng = np.random.default_rng(9)
    if axis == 1:
        src = rng.standard_normal((M, N)).astype(np.float32)
        idx = rng.integers(0, N, (M, K)).astype(np.int32)
        expected = np.take_along_axis(src, idx, axis=1)
    else:
        src = rng.standard_normal((N, M)).astype(np.float32)
        idx = rng.integers(0, N, (K, M)).astype(np.int32)
        expected = np.take_along_axis(src, idx, axis=0)
    out = np.zeros_like(expected)
    gather_kernel[(1,)](src, idx, out, M=M, N=N, K=K, AXIS=axis)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("dtype, M, N, K", [(np.float32, 64, 256, 128), (np.int64, 16, 512, 64), (np.float16, 4, 32, 8)])
def test_gather_through_threadgroup_memory(axis, dtype, M, N, K):
    # tt.gather stages src in threadgroup memory (in pieces when over 32 KiB: 64 KiB here
    # for float32/int64) and reads each element at its index; indices outside src give 0
    rng = np.random.default_rng(10)
    shape, ishape = ((M, N), (M, K)) if axis == 1 else ((N, M), (K, M))
    src = (rng.standard_normal(shape) * 100).astype(dtype)
    idx = rng.integers(0, N, ishape).astype(np.int32)
    expected = np.take_along_axis(src, idx, axis=axis)
    idx.flat[::7] += N  # out of range
    expected.flat[::7] = 0
    out = np.zeros_like(expected)
    k = gather_kernel[(1,)](src, idx, out, M=M, N=N, K=K, AXIS=axis)
    np.testing.assert_array_equal(out, expected)
    assert k.threadgroup_memory_bytes <= 32 * 1024


@triton.jit
def gather_1d(src_ptr, idx_ptr, out_ptr, N: tl.constexpr):
    o = tl.arange(0, N)
    tl.store(out_ptr + o, tl.gather(tl.load(src_ptr + o), tl.load(idx_ptr + o), 0))


def test_long_1d_gather():
    # a [16384] gather: src 64 KiB in two pieces (it was a one-hot reduction over N x N)
    n = 16384
    rng = np.random.default_rng(11)
    src = rng.standard_normal(n).astype(np.float32)
    idx = rng.integers(0, n, n).astype(np.int64)
    out = np.zeros_like(src)
    k = gather_1d[(1,)](src, idx, out, N=n)
    np.testing.assert_array_equal(out, src[idx])
    assert "tt.gather" in k.asm["ttir"]


@triton.jit
def attrs_kernel(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :])
    tl.static_assert(x.numel == M * N)
    tl.store(out_ptr + tl.arange(0, N)[:, None] * M + tl.arange(0, M)[None, :], x.T + x.numel)


def test_numel_and_T():
    x = np.random.default_rng(1).standard_normal((8, 16)).astype(np.float32)
    out = np.zeros((16, 8), np.float32)
    attrs_kernel[(1,)](x, out, M=8, N=16)
    np.testing.assert_allclose(out, x.T + 128, rtol=1e-6)
