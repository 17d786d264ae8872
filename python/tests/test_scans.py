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


# Scans of blocks whose threadgroup buffers exceed Metal's 32 KiB run in pieces: groups of
# lines, and segments of the axis (carried in scan order) when one line does not fit.
LIMIT = 32 * 1024


@triton.jit
def _cummax(v0, i0, v1, i1):
    gt = v0 > v1
    return tl.where(gt, v0, v1), tl.where(gt, i0, i1)


@triton.jit
def _linear_recurrence(a1, b1, a2, b2):
    return a1 * a2, b1 * a2 + b2


@triton.jit
def _roll(a1, b1_last, b1_cur, a2, b2_last, b2_cur):
    return a1 + a2, tl.where(a2 == 1, b1_cur, 0) + b2_last, b2_cur


@triton.jit
def big_scan(X, Y, Z, M: tl.constexpr, N: tl.constexpr, OP: tl.constexpr, AXIS: tl.constexpr, REV: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    offs = rm[:, None] * N + rn[None, :]
    x = tl.load(X + offs)
    y = tl.load(Y + offs)
    if OP == "cumsum":
        z = tl.cumsum(x, axis=AXIS, reverse=REV)
    elif OP == "first_nonzero":
        z = tl.associative_scan(x, AXIS, _first_nonzero, reverse=REV)
    elif OP == "cummax":
        if AXIS == 0:
            idx = tl.broadcast_to(rm[:, None].to(tl.int64), [M, N])
        else:
            idx = tl.broadcast_to(rn[None, :].to(tl.int64), [M, N])
        _, z = tl.associative_scan((x, idx), AXIS, _cummax, reverse=REV)
    elif OP == "linear_recurrence":
        _, z = tl.associative_scan((x, y), AXIS, _linear_recurrence, reverse=REV)
    else:
        _, z, _ = tl.associative_scan((1 + 0 * x, 0 * x, x), AXIS, _roll, reverse=REV)
    tl.store(Z + offs, z)


def _sequential(x, y, op, axis, rev):
    """The scan, element by element along the axis, in numpy."""
    x, y = np.moveaxis(x, axis, -1), np.moveaxis(y, axis, -1)
    if rev:
        x, y = x[..., ::-1], y[..., ::-1]
    z = np.empty(x.shape, np.int64 if op == "cummax" else x.dtype)
    acc = None
    for j in range(x.shape[-1]):
        xj, yj = x[..., j], y[..., j]
        if j == 0:
            acc = {"cumsum": xj, "first_nonzero": xj, "cummax": (xj, np.full(xj.shape, j if not rev else x.shape[-1] - 1)),
                   "linear_recurrence": (xj, yj), "roll": (np.ones_like(xj), np.zeros_like(xj), xj)}[op]
        elif op == "cumsum":
            acc = acc + xj
        elif op == "first_nonzero":
            acc = np.where(acc != 0, acc, xj)
        elif op == "cummax":
            pos = j if not rev else x.shape[-1] - 1 - j
            gt = acc[0] > xj
            acc = (np.where(gt, acc[0], xj), np.where(gt, acc[1], pos))
        elif op == "linear_recurrence":
            acc = (acc[0] * xj, acc[1] * xj + yj)
        else:
            acc = (acc[0] + 1, acc[2], xj)  # a2 == 1 for every element after the first
        z[..., j] = acc if op in ("cumsum", "first_nonzero") else acc[1]
    if rev:
        z = z[..., ::-1]
    return np.moveaxis(z, -1, axis)


@pytest.mark.parametrize("op, dtype", [("cumsum", np.float32), ("cumsum", np.int32), ("first_nonzero", np.int64),
                                       ("cummax", np.float32), ("linear_recurrence", np.int32), ("roll", np.int32),
                                       ("roll", np.float16)])
@pytest.mark.parametrize("axis, M, N", [(1, 2, 1024), (0, 1024, 2), (0, 64, 64), (1, 16, 512)])
@pytest.mark.parametrize("rev", [True, False])
def test_scan_larger_than_threadgroup_memory(op, dtype, axis, M, N, rev):
    rng = np.random.default_rng(3)
    if op == "linear_recurrence":
        x, y = (rng.integers(-1, 2, (M, N)).astype(dtype) for _ in range(2))
    elif op == "first_nonzero":
        x = (rng.integers(1, 9, (M, N)) * (rng.random((M, N)) < 0.05)).astype(dtype)
        y = x
    elif np.issubdtype(dtype, np.integer):
        x, y = (rng.integers(-50, 50, (M, N)).astype(dtype) for _ in range(2))
    else:
        x, y = (rng.integers(-8, 8, (M, N)).astype(dtype) for _ in range(2))  # exact float sums
    zt = np.zeros((M, N), dtype)
    k = big_scan[(1,)](x, y, zt, M=M, N=N, OP=op, AXIS=axis, REV=rev, num_warps=4)
    z = _sequential(x, y, op, axis, rev).astype(dtype)
    np.testing.assert_array_equal(zt, z)
    assert k.threadgroup_memory_bytes <= LIMIT


@triton.jit
def scan_1d(X, Z, BLOCK: tl.constexpr, REV: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    _, z, _ = tl.associative_scan((1 + 0 * x, 0 * x, x), 0, _roll, reverse=REV)
    tl.store(Z + o, z + tl.cumsum(x, 0, reverse=REV))


@pytest.mark.parametrize("rev", [True, False])
def test_1d_scan_in_segments(rev):
    # one line of 8,192 elements, 3 x 4 bytes each, double-buffered: 192 KiB, so the axis is
    # scanned in segments whose carries (one per line) join in scan order
    n = 8192
    x = np.random.default_rng(4).integers(-9, 9, n).astype(np.int32)
    z = np.zeros(n, np.int32)
    k = scan_1d[(1,)](x, z, BLOCK=n, REV=rev)
    roll = np.concatenate([[0], x[:-1]]) if not rev else np.concatenate([x[1:], [0]])
    cs = np.cumsum(x) if not rev else np.cumsum(x[::-1])[::-1]
    np.testing.assert_array_equal(z, roll + cs)
    assert k.threadgroup_memory_bytes <= LIMIT


@pytest.mark.parametrize("op", ["first_nonzero", "cummax", "linear_recurrence"])
@pytest.mark.parametrize("axis, M, N", [(1, 1, 8192), (0, 4096, 2)])
@pytest.mark.parametrize("rev", [True, False])
def test_2d_scan_in_segments(op, axis, M, N, rev):
    # lines too long for threadgroup memory even one at a time: segments of the axis, each
    # combined with the carry of the segments before it in scan order (non-commutative ops)
    rng = np.random.default_rng(5)
    if op == "first_nonzero":
        x = (rng.integers(1, 9, (M, N)) * (rng.random((M, N)) < 0.001)).astype(np.int64)
        y = x
    else:
        x, y = (rng.integers(-1, 2, (M, N)).astype(np.int32) for _ in range(2))
    zt = np.zeros((M, N), x.dtype)
    k = big_scan[(1,)](x, y, zt, M=M, N=N, OP=op, AXIS=axis, REV=rev, num_warps=4)
    np.testing.assert_array_equal(zt, _sequential(x, y, op, axis, rev).astype(x.dtype))
    assert k.threadgroup_memory_bytes <= LIMIT
    if rev or op != "linear_recurrence":  # (forward int32 scans stay in registers)
        assert "pc % " in k.asm["msl"]


@pytest.mark.parametrize("op, M, N", [("asc", 256, 64), ("desc", 64, 256), ("flip", 1, 16384), ("flip", 128, 128)])
def test_sort_and_flip_larger_than_threadgroup_memory(op, M, N):
    # sorts in pieces of whole rows; flips in pieces of any range (each read finds its piece)
    x = np.random.default_rng(6).standard_normal((M, N)).astype(np.float32)
    out = np.zeros_like(x)
    k = sort_flip[(1,)](x, out, M=M, N=N, OP=op)
    expected = {"asc": np.sort(x, axis=1), "desc": -np.sort(-x, axis=1), "flip": x[:, ::-1]}[op]
    np.testing.assert_array_equal(out, expected)
    assert x.nbytes > LIMIT >= k.threadgroup_memory_bytes


def test_sort_of_a_row_larger_than_threadgroup_memory_is_refused():
    x = np.zeros((1, 16384), np.float32)
    with pytest.raises(triton.OutOfResources, match=r"tl.sort of rows of 16384 f32 elements needs 65536 bytes .* \(line \d+\)"):
        sort_flip[(1,)](x, np.zeros_like(x), M=1, N=16384, OP="asc")


def test_histogram_with_more_counters_than_threadgroup_memory():
    # 16,384 bins of 4 bytes: counted in pieces of the bins
    x = np.random.default_rng(7).integers(-100, 17000, 4096).astype(np.int32)
    out = np.zeros(16384, np.int32)
    k = hist_kernel[(1,)](x, out, BLOCK=4096, BINS=16384)
    np.testing.assert_array_equal(out, np.bincount(x[(x >= 0) & (x < 16384)], minlength=16384))
    assert k.threadgroup_memory_bytes <= LIMIT


@triton.jit
def scan_3d_in_loop(X, Z, A: tl.constexpr, B: tl.constexpr, C: tl.constexpr, AXIS: tl.constexpr):
    offs = tl.arange(0, A)[:, None, None] * (B * C) + tl.arange(0, B)[None, :, None] * C + tl.arange(0, C)[None, None, :]
    x = tl.load(X + offs)
    for _ in range(2):  # the pieces' threadgroup memory reused across iterations
        _, x, _ = tl.associative_scan((1 + 0 * x, 0 * x, x), AXIS, _roll, reverse=True)
    tl.store(Z + offs, x)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_3d_reverse_scan_in_pieces_in_a_loop(axis):
    shape = (8, 64, 32)  # 16,384 elements x 3 operands x 4 bytes, double-buffered: 384 KiB
    x = np.random.default_rng(8).integers(-9, 9, shape).astype(np.int32)
    z = np.zeros_like(x)
    k = scan_3d_in_loop[(1,)](x, z, A=shape[0], B=shape[1], C=shape[2], AXIS=axis, num_warps=8)
    ref = x
    for _ in range(2):  # a reverse roll: element i takes element i + 1, the last 0
        nxt = np.zeros_like(ref)
        src = [slice(None)] * 3
        dst = [slice(None)] * 3
        src[axis], dst[axis] = slice(1, None), slice(0, -1)
        nxt[tuple(dst)] = ref[tuple(src)]
        ref = nxt
    np.testing.assert_array_equal(z, ref)
    assert k.threadgroup_memory_bytes <= LIMIT
