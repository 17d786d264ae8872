"""Layer norm forward and backward (upstream tutorial 05's structure: partial
weight gradients accumulated across programs under an atomic_cas spin lock),
and cross entropy, on the CPU executor against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def _layer_norm_fwd(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    Y += row * stride
    X += row * stride
    mean = 0
    _mean = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        a = tl.load(X + cols, mask=cols < N, other=0.).to(tl.float32)
        _mean += a
    mean = tl.sum(_mean, axis=0) / N
    _var = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        x = tl.load(X + cols, mask=cols < N, other=0.).to(tl.float32)
        x = tl.where(cols < N, x - mean, 0.)
        _var += x * x
    var = tl.sum(_var, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        mask = cols < N
        w = tl.load(W + cols, mask=mask)
        b = tl.load(B + cols, mask=mask)
        x = tl.load(X + cols, mask=mask, other=0.).to(tl.float32)
        x_hat = (x - mean) * rstd
        y = x_hat * w + b
        tl.store(Y + cols, y, mask=mask)


@triton.jit
def _layer_norm_bwd_dx_fused(DX, DY, DW, DB, X, W, Mean, Rstd, Lock, stride, N,
                             GROUP_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_SIZE_N)
    mask = cols < N
    X += row * stride
    DY += row * stride
    DX += row * stride
    lock_id = row % GROUP_SIZE_M
    Lock += lock_id
    Count = Lock + GROUP_SIZE_M
    DW = DW + lock_id * N + cols
    DB = DB + lock_id * N + cols
    x = tl.load(X + cols, mask=mask, other=0).to(tl.float32)
    dy = tl.load(DY + cols, mask=mask, other=0).to(tl.float32)
    w = tl.load(W + cols, mask=mask).to(tl.float32)
    mean = tl.load(Mean + row)
    rstd = tl.load(Rstd + row)
    xhat = (x - mean) * rstd
    wdy = w * dy
    xhat = tl.where(mask, xhat, 0.)
    wdy = tl.where(mask, wdy, 0.)
    c1 = tl.sum(xhat * wdy, axis=0) / N
    c2 = tl.sum(wdy, axis=0) / N
    dx = (wdy - (xhat * c1 + c2)) * rstd
    tl.store(DX + cols, dx, mask=mask)
    partial_dw = (dy * xhat).to(w.dtype)
    partial_db = (dy).to(w.dtype)
    while tl.atomic_cas(Lock, 0, 1) == 1:
        pass
    count = tl.load(Count)
    if count == 0:
        tl.atomic_xchg(Count, 1)
    else:
        partial_dw += tl.load(DW, mask=mask)
        partial_db += tl.load(DB, mask=mask)
    tl.store(DW, partial_dw, mask=mask)
    tl.store(DB, partial_db, mask=mask)
    tl.atomic_xchg(Lock, 0)


@triton.jit
def _layer_norm_bwd_dwdb(DW, DB, FINAL_DW, FINAL_DB, M, N, BLOCK_SIZE_M: tl.constexpr, BLOCK_SIZE_N: tl.constexpr):
    pid = tl.program_id(0)
    cols = pid * BLOCK_SIZE_N + tl.arange(0, BLOCK_SIZE_N)
    dw = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    db = tl.zeros((BLOCK_SIZE_M, BLOCK_SIZE_N), dtype=tl.float32)
    for i in range(0, M, BLOCK_SIZE_M):
        rows = i + tl.arange(0, BLOCK_SIZE_M)
        mask = (rows[:, None] < M) & (cols[None, :] < N)
        offs = rows[:, None] * N + cols[None, :]
        dw += tl.load(DW + offs, mask=mask, other=0.)
        db += tl.load(DB + offs, mask=mask, other=0.)
    sum_dw = tl.sum(dw, axis=0)
    sum_db = tl.sum(db, axis=0)
    tl.store(FINAL_DW + cols, sum_dw, mask=cols < N)
    tl.store(FINAL_DB + cols, sum_db, mask=cols < N)


@pytest.mark.parametrize("M,N", [(1, 100), (37, 300), (64, 1024)])
def test_layer_norm_forward_and_backward(M, N):
    rng = np.random.default_rng(M + N)
    x = rng.standard_normal((M, N)).astype(np.float32)
    w = rng.standard_normal(N).astype(np.float32)
    b = rng.standard_normal(N).astype(np.float32)
    dy = rng.standard_normal((M, N)).astype(np.float32)
    eps = 1e-5
    y = np.zeros_like(x)
    mean = np.zeros(M, np.float32)
    rstd = np.zeros(M, np.float32)
    BLOCK = min(1024, triton.next_power_of_2(N))
    _layer_norm_fwd[(M,)](x, y, w, b, mean, rstd, N, N, eps, BLOCK_SIZE=BLOCK, num_warps=4)
    mu = x.mean(axis=1, keepdims=True)
    rs = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mu) * rs
    np.testing.assert_allclose(y, xhat * w + b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(rstd, rs[:, 0], rtol=1e-4)

    GROUP = 8 if N <= 256 else 4
    locks = np.zeros(2 * GROUP, np.int32)
    dw_part = np.zeros((GROUP, N), np.float32)
    db_part = np.zeros((GROUP, N), np.float32)
    dx = np.zeros_like(x)
    _layer_norm_bwd_dx_fused[(M,)](dx, dy, dw_part, db_part, x, w, mean, rstd, locks, N, N,
                                   GROUP_SIZE_M=GROUP, BLOCK_SIZE_N=triton.next_power_of_2(N), num_warps=4)
    dw = np.zeros(N, np.float32)
    db = np.zeros(N, np.float32)
    _layer_norm_bwd_dwdb[(triton.cdiv(N, 64),)](dw_part, db_part, dw, db, min(GROUP, M), N, BLOCK_SIZE_M=8, BLOCK_SIZE_N=64)

    wdy = w * dy
    c1 = (xhat * wdy).sum(axis=1, keepdims=True) / N
    c2 = wdy.sum(axis=1, keepdims=True) / N
    np.testing.assert_allclose(dx, (wdy - (xhat * c1 + c2)) * rs, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dw, (dy * xhat).sum(axis=0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(db, dy.sum(axis=0), rtol=1e-3, atol=1e-3)
    assert not locks[:GROUP].any()


@triton.jit
def cross_entropy_fwd(logits_ptr, labels_ptr, loss_ptr, n_cols, stride, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    logits = tl.load(logits_ptr + row * stride + cols, mask=cols < n_cols, other=-float("inf")).to(tl.float32)
    label = tl.load(labels_ptr + row)
    m = tl.max(logits, axis=0)
    lse = m + tl.log(tl.sum(tl.exp(logits - m), axis=0))
    target = tl.sum(tl.where(cols == label, logits, 0.0), axis=0)
    tl.store(loss_ptr + row, lse - target)


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_cross_entropy_forward(dtype):
    rows, vocab = 9, 1000
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((rows, vocab)).astype(dtype)
    labels = rng.integers(0, vocab, rows).astype(np.int32)
    loss = np.zeros(rows, np.float32)
    cross_entropy_fwd[(rows,)](logits, labels, loss, vocab, vocab, BLOCK=1024, num_warps=8)
    lf = logits.astype(np.float64)
    lse = np.log(np.exp(lf - lf.max(1, keepdims=True)).sum(1)) + lf.max(1)
    np.testing.assert_allclose(loss, lse - lf[np.arange(rows), labels], rtol=1e-4, atol=1e-4)


@triton.jit
def argmax_rows(x_ptr, out_ptr, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * N + cols, mask=cols < N, other=-float("inf"))
    tl.store(out_ptr + row, tl.argmax(x, axis=0))


def test_argmax_per_row():
    x = np.random.default_rng(9).standard_normal((13, 777)).astype(np.float32)
    out = np.zeros(13, np.int32)
    argmax_rows[(13,)](x, out, 777, BLOCK=1024)
    np.testing.assert_array_equal(out, x.argmax(axis=1))
