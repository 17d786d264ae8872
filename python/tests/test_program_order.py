"""Program order of device memory inside a program (Triton's block semantics):
a load sees the program's earlier stores and none of its later ones, whichever
threads hold the elements. Executed on the CPU executor against numpy; the
barrier-free element-wise cases are checked on the generated MSL."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

DEVICE_BARRIER = "threadgroup_barrier(mem_flags::mem_device"


@triton.jit
def add_rows_in_place(Z, M: tl.constexpr, N: tl.constexpr, ADD_COLS: tl.constexpr):
    m = tl.arange(0, M)
    n = tl.arange(0, N)
    offs = m[:, None] * N + n[None, :]
    z = tl.load(Z + offs)
    if ADD_COLS:
        z += tl.load(Z + n)[None, :]
    else:
        z += tl.load(Z + m * N)[:, None]
    tl.store(Z + offs, z)


@pytest.mark.parametrize("add_cols", [False, True])
@pytest.mark.parametrize("M,N,num_warps", [(16, 16, 4), (64, 32, 4), (8, 128, 2), (32, 32, 1)])
def test_load_then_store_of_elements_other_threads_loaded(M, N, num_warps, add_cols):
    rng = np.random.default_rng(0)
    z = rng.integers(-100, 100, (M, N)).astype(np.float32)
    ref = z + (z[0, :][None, :] if add_cols else z[:, 0][:, None])
    k = add_rows_in_place[(1,)](z, M=M, N=N, ADD_COLS=add_cols, num_warps=num_warps)
    np.testing.assert_array_equal(z, ref)
    assert DEVICE_BARRIER in k.asm["msl"]


@triton.jit
def rotate_in_loop(X, STEPS: tl.constexpr, N: tl.constexpr):
    offs = tl.arange(0, N)
    for _ in range(STEPS):
        x = tl.load(X + offs)
        # each element moves to the next thread's position; the next iteration's
        # load must see every thread's store of this one
        tl.store(X + (offs + 1) % N, x)


@pytest.mark.parametrize("N,num_warps", [(128, 4), (1024, 4), (64, 1)])
def test_store_then_load_across_loop_iterations(N, num_warps):
    x = np.arange(N, dtype=np.int32)
    rotate_in_loop[(1,)](x, STEPS=5, N=N, num_warps=num_warps)
    np.testing.assert_array_equal(x, np.roll(np.arange(N, dtype=np.int32), 5))


@triton.jit
def store_then_reversed_load(X, Y, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(X + offs, offs * 3)
    y = tl.load(X + (N - 1 - offs))
    tl.store(Y + offs, y)


def test_load_sees_an_earlier_store_by_other_threads():
    x = np.zeros(256, np.int32)
    y = np.zeros(256, np.int32)
    store_then_reversed_load[(1,)](x, y, N=256, num_warps=4)
    np.testing.assert_array_equal(y, (np.arange(256) * 3)[::-1])


@triton.jit
def two_stores_same_address(X, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(X + offs, offs)
    tl.store(X + (N - 1 - offs), offs + 1000)


def test_a_later_store_wins_over_an_earlier_one_from_another_thread():
    x = np.zeros(512, np.int32)
    two_stores_same_address[(1,)](x, N=512, num_warps=4)
    np.testing.assert_array_equal(x, (np.arange(512) + 1000)[::-1])


@triton.jit
def scalar_then_block(X, N: tl.constexpr):
    s = tl.load(X)
    offs = tl.arange(0, N)
    tl.store(X + offs, offs + s)


def test_block_store_after_a_scalar_load_of_one_of_its_elements():
    x = np.full(256, 7, np.int32)
    scalar_then_block[(1,)](x, N=256, num_warps=4)
    np.testing.assert_array_equal(x, np.arange(256) + 7)


@triton.jit
def add_kernel(X, Y, Out, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(Out + offs, tl.load(X + offs, mask=m) + tl.load(Y + offs, mask=m), mask=m)


@triton.jit
def softmax_rows(X, Y, stride, n, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(X + row * stride + cols, mask=cols < n, other=-float("inf"))
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(Y + row * stride + cols, e / tl.sum(e, axis=0), mask=cols < n)


@triton.jit
def scale_rows_loop(X, Y, stride, n, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    for off in range(0, n, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(X + row * stride + cols, mask=cols < n)
        tl.store(Y + row * stride + cols, x * 2.0, mask=cols < n)


def test_element_wise_kernels_stay_barrier_free_even_in_place():
    x = np.arange(1000, dtype=np.float32)
    k = add_kernel[(4,)](x, x, x, 1000, BLOCK=256)
    np.testing.assert_array_equal(x, 2 * np.arange(1000, dtype=np.float32))
    assert "threadgroup_barrier" not in k.asm["msl"]

    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 300)).astype(np.float32)
    ref = np.exp(a - a.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    k = softmax_rows[(3,)](a, a, 300, 300, BLOCK=512)
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    assert DEVICE_BARRIER not in k.asm["msl"]

    b = rng.standard_normal((2, 700)).astype(np.float32)
    ref = b * 2
    k = scale_rows_loop[(2,)](b, b, 700, 700, BLOCK=128)
    np.testing.assert_array_equal(b, ref)
    assert DEVICE_BARRIER not in k.asm["msl"]


@triton.jit
def carried_pointer_loop(X, Y, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x_ptrs = X + offs
    y_ptrs = Y + offs
    for _ in range(0, n, BLOCK):
        tl.store(y_ptrs, tl.load(x_ptrs) + 1)
        x_ptrs += BLOCK
        y_ptrs += BLOCK


@triton.jit
def overlapping_windows(X, n, STEP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in range(0, n - BLOCK + 1, STEP):
        p = X + i + offs
        tl.store(p, tl.load(p) + 1)


def test_loops_over_disjoint_blocks_stay_barrier_free_and_overlapping_ones_are_ordered():
    x = np.arange(1024, dtype=np.int32)
    k = carried_pointer_loop[(1,)](x, x, 1024, BLOCK=128)
    np.testing.assert_array_equal(x, np.arange(1024) + 1)
    assert DEVICE_BARRIER not in k.asm["msl"]

    # windows of 128 moving by 32: each iteration reads what the previous one wrote
    x = np.zeros(512, np.int32)
    k = overlapping_windows[(1,)](x, 512, STEP=32, BLOCK=128)
    ref = np.zeros(512, np.int32)
    for i in range(0, 512 - 128 + 1, 32):
        ref[i:i + 128] += 1
    np.testing.assert_array_equal(x, ref)
    assert DEVICE_BARRIER in k.asm["msl"]
    x = np.zeros(512, np.int32)
    k = overlapping_windows[(1,)](x, 512, STEP=128, BLOCK=128)
    np.testing.assert_array_equal(x, np.ones(512, np.int32))
    assert DEVICE_BARRIER not in k.asm["msl"]


@triton.jit
def repeated_addresses(X, N: tl.constexpr):
    p = X + tl.arange(0, N) % 4
    tl.store(p, tl.load(p) + 1)


def test_elements_sharing_an_address_are_ordered_too():
    # every copy loads the old value before any copy stores: each address gets +1 once
    x = np.zeros(8, np.int32)
    k = repeated_addresses[(1,)](x, N=256, num_warps=4)
    assert x.tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    assert DEVICE_BARRIER in k.asm["msl"]


@triton.jit
def normalize_in_place(X, Stats, N, BLOCK: tl.constexpr):
    # a row's statistics, stored by one thread after reductions over the row, then the row
    # rewritten from a loop that reads Stats back (layer norm's shape, Stats may be X itself)
    row = tl.program_id(0)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        acc += tl.load(X + row * N + cols, mask=cols < N, other=0.0)
    mean = tl.sum(acc, axis=0) / N
    tl.store(Stats + 2 * row, mean)
    tl.store(Stats + 2 * row + 1, tl.max(acc, axis=0))
    for off in range(0, N, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        m = cols < N
        x = tl.load(X + row * N + cols, mask=m)
        tl.store(X + row * N + cols, x - tl.load(Stats + 2 * row), mask=m)


@pytest.mark.parametrize("in_place", [False, True])
def test_stores_after_reductions_need_no_barrier_and_reads_of_them_do(in_place):
    rng = np.random.default_rng(5)
    rows, n = 3, 300
    x = rng.standard_normal((rows, n)).astype(np.float32)
    want = x.astype(np.float64)
    acc = np.pad(want, ((0, 0), (0, 384 - n))).reshape(rows, 3, 128).sum(axis=1)  # acc per row
    mean, top = want.mean(axis=1), acc.max(axis=1)
    if in_place:
        # Stats is the row itself: its first two elements are overwritten after the row
        # was summed, and the second loop reads them back.
        buf = x[0].copy()
        k = normalize_in_place[(1,)](buf, buf, n, BLOCK=128)
        row = want[0].copy()
        row[0], row[1] = mean[0], top[0]
        for off in range(0, n, 128):  # in program order: later blocks read the rewritten row[0]
            row[off:off + 128] -= row[0]
        np.testing.assert_allclose(buf, row, rtol=1e-5, atol=1e-5)
    else:
        stats = np.empty(2 * rows, np.float32)
        k = normalize_in_place[(rows,)](x, stats, n, BLOCK=128)
        np.testing.assert_allclose(stats[0::2], mean, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(stats[1::2], top, rtol=1e-5)
        np.testing.assert_allclose(x, want - mean[:, None], rtol=1e-5, atol=1e-5)
    msl = k.asm["msl"]
    # The loads of the first loop completed in every thread before the reductions'
    # barriers, and one thread's two stores are in its own order: no device barrier
    # before or between them. The second loop reads what thread 0 stored (Stats may
    # be X): one barrier before it. (Inside it, Stats read by every thread while
    # other threads store X, which Stats may be, stays ordered.)
    body = msl[msl.index("kernel void"):]
    last_store = body.rindex("if (tm_tid == 0)")
    second_loop = body.index("for (int", last_store)
    assert DEVICE_BARRIER not in body[:last_store]
    assert body[:second_loop].count(DEVICE_BARRIER) == 1
