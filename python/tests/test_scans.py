"""Scans, sort, flip and histogram on the CPU executor against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def _first_nonzero(a, b):
    return tl.where(a != 0, a, b)


@triton.jit
def scan_2d(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, OP: tl.constexpr, AXIS: tl.constexpr, REV: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + offs)
    if OP == "cumsum":
        y = tl.cumsum(x, axis=AXIS, reverse=REV)
    elif OP == "cumprod":
        y = tl.cumprod(x, axis=AXIS, reverse=REV)
    else:
        y = tl.associative_scan(x, AXIS, _first_nonzero, reverse=REV)
    tl.store(out_ptr + offs, y)


def numpy_scan(x, op, axis, rev):
    if rev:
        x = np.flip(x, axis)
    if op == "cumsum":
        y = np.cumsum(x, axis=axis)
    elif op == "cumprod":
        y = np.cumprod(x, axis=axis)
    else:
        y = x.copy()
        idx = [slice(None)] * 2
        for i in range(1, x.shape[axis]):
            cur = [slice(None)] * 2
            prev = [slice(None)] * 2
            cur[axis], prev[axis] = i, i - 1
            y[tuple(cur)] = np.where(y[tuple(prev)] != 0, y[tuple(prev)], y[tuple(cur)])
    return np.flip(y, axis) if rev else y


@pytest.mark.parametrize("op", ["cumsum", "cumprod", "first_nonzero"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("rev", [False, True])
@pytest.mark.parametrize("M,N", [(1, 64), (8, 32), (32, 1)])
def test_scans(op, axis, rev, M, N):
    rng = np.random.default_rng(0)
    if op == "cumprod":
        x = rng.uniform(0.9, 1.1, (M, N)).astype(np.float32)
    elif op == "first_nonzero":
        x = (rng.integers(0, 3, (M, N)) * rng.integers(0, 2, (M, N))).astype(np.float32)
    else:
        x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.zeros_like(x)
    scan_2d[(1,)](x, out, M=M, N=N, OP=op, AXIS=axis, REV=rev)
    np.testing.assert_allclose(out, numpy_scan(x, op, axis, rev), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["cumsum", "first_nonzero"])
@pytest.mark.parametrize("axis,M,N", [(1, 4, 2048), (0, 512, 4), (1, 2, 256)])
def test_long_forward_scans_in_registers(op, axis, M, N):
    # several chunks per thread, several simdgroups along the axis: the register scan's
    # carries between lanes, simdgroups and chunks, in order (first_nonzero does not commute)
    rng = np.random.default_rng(1)
    if op == "first_nonzero":
        x = (rng.integers(0, 3, (M, N)) * (rng.random((M, N)) < 0.01)).astype(np.float32)
    else:
        x = rng.standard_normal((M, N)).astype(np.float32)
    out = np.zeros_like(x)
    k = scan_2d[(1,)](x, out, M=M, N=N, OP=op, AXIS=axis, REV=False)
    assert "simd_shuffle_up" in k.asm["msl"]
    np.testing.assert_allclose(out, numpy_scan(x, op, axis, False), rtol=1e-4, atol=1e-4)


@triton.jit
def int_cumsum(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.cumsum(tl.load(x_ptr + offs), 0))


def test_int8_cumsum_accumulates_in_int32():
    x = np.full(256, 100, np.int8)
    out = np.zeros(256, np.int32)
    int_cumsum[(1,)](x, out, BLOCK=256)
    np.testing.assert_array_equal(out, np.cumsum(x.astype(np.int32)))


@triton.jit
def sort_flip(x_ptr, out_ptr, M: tl.constexpr, N: tl.constexpr, OP: tl.constexpr):
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    x = tl.load(x_ptr + offs)
    if OP == "asc":
        y = tl.sort(x)
    elif OP == "desc":
        y = tl.sort(x, descending=True)
    else:
        y = tl.flip(x)
    tl.store(out_ptr + offs, y)


@pytest.mark.parametrize("op", ["asc", "desc", "flip"])
@pytest.mark.parametrize("M,N", [(1, 128), (4, 16), (16, 2)])
def test_sort_and_flip(op, M, N):
    x = np.random.default_rng(1).standard_normal((M, N)).astype(np.float32)
    out = np.zeros_like(x)
    sort_flip[(1,)](x, out, M=M, N=N, OP=op)
    expected = {"asc": np.sort(x, axis=1), "desc": -np.sort(-x, axis=1), "flip": x[:, ::-1]}[op]
    np.testing.assert_array_equal(out, expected)


@triton.jit
def hist_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr, BINS: tl.constexpr):
    x = tl.load(x_ptr + tl.arange(0, BLOCK))
    tl.store(out_ptr + tl.arange(0, BINS), tl.histogram(x, BINS))


def test_histogram_builtin():
    x = np.random.default_rng(2).integers(-3, 20, 512).astype(np.int32)
    out = np.zeros(16, np.int32)
    hist_kernel[(1,)](x, out, BLOCK=512, BINS=16)
    np.testing.assert_array_equal(out, np.bincount(x[(x >= 0) & (x < 16)], minlength=16))
