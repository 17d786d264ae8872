"""gpu-proxy cases (../shared/gpu-proxy/README.md): our generated MSL on an NVIDIA GPU next to
upstream Triton compiling the same kernel text, plus compute-sanitizer over a small launch.

Prepare here, run there (README.md, "GPU proxy"):

    .venv/bin/python ../shared/gpu-proxy/prepare.py benchmarks/gpu_proxy_cases.py --cpu-check
    bash .gpu-proxy/run.sh --sanitize        # on the GPU machine, in a copy holding .gpu-proxy/

The file imports `triton` only: prepare runs it under triton_metal, the GPU side under upstream
Triton. Every function of a case takes the kernel's runtime arguments in parameter order. Sizes
move far more than the H200's 50 MB L2; the `small` sizes have masked edges. The matmul and
attention cases use `tl.dot` (simdgroup_matrix, emulated there): checked and sanitized, not timed.
"""
import numpy as np
import triton
import triton.language as tl


def f32(rng, *shape):
    return rng.standard_normal(shape, dtype=np.float32)


# ---------------------------------------------------------------- element-wise

@triton.jit
def vector_add(a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    inside = offs < n
    a = tl.load(a_ptr + offs, mask=inside)
    b = tl.load(b_ptr + offs, mask=inside)
    tl.store(out_ptr + offs, a + b, mask=inside)


def make_add(rng, n):
    return [f32(rng, n), f32(rng, n), np.empty(n, np.float32), n]


# ---------------------------------------------------------------- softmax

@triton.jit
def softmax_row(x_ptr, y_ptr, n_cols, stride, COLS: tl.constexpr):
    # one program per row, the whole row in registers
    row = tl.program_id(0)
    cols = tl.arange(0, COLS)
    inside = cols < n_cols
    x = tl.load(x_ptr + row * stride + cols, mask=inside, other=-float("inf"))
    e = tl.exp(x - tl.max(x, axis=0))
    tl.store(y_ptr + row * stride + cols, e / tl.sum(e, axis=0), mask=inside)


@triton.jit
def softmax_looped(x_ptr, y_ptr, n_cols, stride, BLOCK: tl.constexpr):
    # online softmax: one pass for the running max and sum, one pass to normalise
    row = tl.program_id(0)
    x_row = x_ptr + row * stride
    y_row = y_ptr + row * stride
    m = tl.full([BLOCK], -float("inf"), tl.float32)
    s = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, n_cols, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(x_row + cols, mask=cols < n_cols, other=-float("inf"))
        m_new = tl.maximum(m, x)
        s = s * tl.exp(m - m_new) + tl.exp(x - m_new)
        s = tl.where(m_new == -float("inf"), 0.0, s)
        m = m_new
    m_row = tl.max(m, axis=0)
    s_row = tl.sum(s * tl.exp(m - m_row), axis=0)
    for off in range(0, n_cols, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        inside = cols < n_cols
        x = tl.load(x_row + cols, mask=inside, other=-float("inf"))
        tl.store(y_row + cols, tl.exp(x - m_row) / s_row, mask=inside)


def make_softmax(rng, rows, cols):
    return [f32(rng, rows, cols), np.empty((rows, cols), np.float32), cols, cols]


def softmax_reference(x, y, n_cols, stride):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- norms

@triton.jit
def layer_norm_fwd(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK_SIZE: tl.constexpr):
    # upstream tutorial 05
    row = tl.program_id(0)
    Y += row * stride
    X += row * stride
    acc = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        acc += tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
    mean = tl.sum(acc, axis=0) / N
    acc = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        x = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        x = tl.where(cols < N, x - mean, 0.0)
        acc += x * x
    var = tl.sum(acc, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        mask = cols < N
        w = tl.load(W + cols, mask=mask)
        b = tl.load(B + cols, mask=mask)
        x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * w + b
        tl.store(Y + cols, y, mask=mask)


def make_ln_fwd(rng, M, N):
    x = f32(rng, M, N) * 2 + 0.5
    return [x, np.empty_like(x), rng.random(N, dtype=np.float32), rng.random(N, dtype=np.float32),
            np.empty(M, np.float32), np.empty(M, np.float32), N, N, 1e-5]


def ln_fwd_reference(X, Y, W, B, Mean, Rstd, stride, N, eps):
    x = X.astype(np.float64)
    mean = x.mean(axis=1)
    rstd = 1 / np.sqrt(((x - mean[:, None]) ** 2).mean(axis=1) + eps)
    return [(x - mean[:, None]) * rstd[:, None] * W + B, mean, rstd]


@triton.jit
def layer_norm_bwd(X, DY, W, Mean, Rstd, DX, DW_part, DB_part, M, N, stride,
                   ROWS_PER_PROGRAM: tl.constexpr, BLOCK_N: tl.constexpr):
    # dx of a block of rows, and this block's partial sums of dw and db (no atomics: a second
    # reduction over the partials, done by the caller, gives dw and db)
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    cmask = cols < N
    w = tl.load(W + cols, mask=cmask, other=0.0)
    dw = tl.zeros([BLOCK_N], dtype=tl.float32)
    db = tl.zeros([BLOCK_N], dtype=tl.float32)
    for i in range(0, ROWS_PER_PROGRAM):
        row = pid * ROWS_PER_PROGRAM + i
        if row < M:
            x = tl.load(X + row * stride + cols, mask=cmask, other=0.0)
            dy = tl.load(DY + row * stride + cols, mask=cmask, other=0.0)
            mean = tl.load(Mean + row)
            rstd = tl.load(Rstd + row)
            xhat = tl.where(cmask, (x - mean) * rstd, 0.0)
            wdy = tl.where(cmask, w * dy, 0.0)
            c1 = tl.sum(xhat * wdy, axis=0) / N
            c2 = tl.sum(wdy, axis=0) / N
            tl.store(DX + row * stride + cols, (wdy - (xhat * c1 + c2)) * rstd, mask=cmask)
            dw += dy * xhat
            db += dy
    tl.store(DW_part + pid * N + cols, dw, mask=cmask)
    tl.store(DB_part + pid * N + cols, db, mask=cmask)


LN_BWD_ROWS = 16


def make_ln_bwd(rng, M, N):
    x = f32(rng, M, N) * 2 + 0.5
    mean = x.astype(np.float64).mean(axis=1)
    rstd = 1 / np.sqrt(((x - mean[:, None]) ** 2).mean(axis=1) + 1e-5)
    parts = (M + LN_BWD_ROWS - 1) // LN_BWD_ROWS
    return [x, f32(rng, M, N), rng.random(N, dtype=np.float32), mean.astype(np.float32),
            rstd.astype(np.float32), np.empty_like(x), np.empty((parts, N), np.float32),
            np.empty((parts, N), np.float32), M, N, N]


def ln_bwd_reference(X, DY, W, Mean, Rstd, DX, DW_part, DB_part, M, N, stride):
    x, dy = X.astype(np.float64), DY.astype(np.float64)
    xhat = (x - Mean.astype(np.float64)[:, None]) * Rstd.astype(np.float64)[:, None]
    wdy = W * dy
    c1 = (xhat * wdy).sum(axis=1, keepdims=True) / N
    c2 = wdy.sum(axis=1, keepdims=True) / N
    dx = (wdy - (xhat * c1 + c2)) * Rstd.astype(np.float64)[:, None]
    parts = DW_part.shape[0]
    pad = parts * LN_BWD_ROWS - M
    blocks = lambda a: np.concatenate([a, np.zeros((pad, N))]).reshape(parts, LN_BWD_ROWS, N).sum(axis=1)
    return [dx, blocks(dy * xhat), blocks(dy)]


@triton.jit
def rms_norm(X, Y, W, stride, N, eps, BLOCK_N: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    x = tl.load(X + row * stride + cols, mask=mask, other=0.0)
    rstd = 1 / tl.sqrt(tl.sum(x * x, axis=0) / N + eps)
    w = tl.load(W + cols, mask=mask)
    tl.store(Y + row * stride + cols, x * rstd * w, mask=mask)


def make_rms(rng, M, N):
    x = f32(rng, M, N)
    return [x, np.empty_like(x), rng.random(N, dtype=np.float32), N, N, 1e-6]


def rms_reference(X, Y, W, stride, N, eps):
    x = X.astype(np.float64)
    return x / np.sqrt((x * x).mean(axis=1, keepdims=True) + eps) * W


# ---------------------------------------------------------------- cross entropy

@triton.jit
def cross_entropy_fwd(logits, labels, loss, n_cols, stride, BLOCK: tl.constexpr):
    # loss = logsumexp(row) - row[label], online over column blocks (a vocabulary-sized row)
    row = tl.program_id(0)
    base = logits + row * stride
    m = tl.full([BLOCK], -float("inf"), tl.float32)
    s = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, n_cols, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        x = tl.load(base + cols, mask=cols < n_cols, other=-float("inf"))
        m_new = tl.maximum(m, x)
        s = s * tl.exp(m - m_new) + tl.exp(x - m_new)
        s = tl.where(m_new == -float("inf"), 0.0, s)
        m = m_new
    m_row = tl.max(m, axis=0)
    lse = m_row + tl.log(tl.sum(s * tl.exp(m - m_row), axis=0))
    label = tl.load(labels + row)
    tl.store(loss + row, lse - tl.load(base + label))


def make_ce(rng, rows, vocab):
    return [f32(rng, rows, vocab) * 3, rng.integers(0, vocab, rows).astype(np.int32),
            np.empty(rows, np.float32), vocab, vocab]


def ce_reference(logits, labels, loss, n_cols, stride):
    x = logits.astype(np.float64)
    m = x.max(axis=1)
    lse = m + np.log(np.exp(x - m[:, None]).sum(axis=1))
    return lse - x[np.arange(x.shape[0]), labels]


# ---------------------------------------------------------------- reductions and scans

@triton.jit
def row_sum(X, Out, M, N, stride, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # BLOCK_M rows per program, columns in a loop
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for off in range(0, N, BLOCK_N):
        cols = off + tl.arange(0, BLOCK_N)
        mask = (rows[:, None] < M) & (cols[None, :] < N)
        acc += tl.load(X + rows[:, None] * stride + cols[None, :], mask=mask, other=0.0)
    tl.store(Out + rows, tl.sum(acc, axis=1), mask=rows < M)


@triton.jit
def col_sum(X, Out, M, N, stride, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # BLOCK_N columns per program, rows in a loop
    cols = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for off in range(0, M, BLOCK_M):
        rows = off + tl.arange(0, BLOCK_M)
        mask = (rows[:, None] < M) & (cols[None, :] < N)
        acc += tl.load(X + rows[:, None] * stride + cols[None, :], mask=mask, other=0.0)
    tl.store(Out + cols, tl.sum(acc, axis=0), mask=cols < N)


def make_reduce(rng, M, N):
    return [f32(rng, M, N), np.empty(M, np.float32), M, N, N]


def make_col_reduce(rng, M, N):
    return [f32(rng, M, N), np.empty(N, np.float32), M, N, N]


@triton.jit
def cumsum_rows(X, Y, N, stride, BLOCK_N: tl.constexpr, REVERSE: tl.constexpr):
    # REVERSE over rows too long for 32 KiB of threadgroup memory: scanned in segments
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    x = tl.load(X + row * stride + cols, mask=mask, other=0.0)
    tl.store(Y + row * stride + cols, tl.cumsum(x, axis=0, reverse=REVERSE), mask=mask)


def make_cumsum(rng, M, N):
    x = f32(rng, M, N)
    return [x, np.empty_like(x), N, N]


def reverse_cumsum_reference(X, Y, N, s):
    return np.cumsum(X.astype(np.float64)[:, ::-1], axis=1)[:, ::-1]


@triton.jit
def gather_rows(X, Idx, Y, N, stride, BLOCK_N: tl.constexpr):
    # out[r, i] = x[r, idx[r, i]] within one row (tl.gather stages the source in pieces)
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK_N)
    mask = cols < N
    x = tl.load(X + row * stride + cols, mask=mask, other=0.0)
    idx = tl.load(Idx + row * stride + cols, mask=mask, other=0)
    tl.store(Y + row * stride + cols, tl.gather(x, idx, axis=0), mask=mask)


def make_gather(rng, M, N):
    x = f32(rng, M, N)
    return [x, rng.integers(0, N, size=(M, N)).astype(np.int32), np.empty_like(x), N, N]


# ---------------------------------------------------------------- data movement

@triton.jit
def transpose(X, Y, M, N, stride_x, stride_y, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # Y[n, m] = X[m, n] by tiles
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    x = tl.load(X + rows[:, None] * stride_x + cols[None, :], mask=mask)
    tl.store(Y + cols[None, :] * stride_y + rows[:, None], x, mask=mask)


def make_transpose(rng, M, N):
    return [f32(rng, M, N), np.empty((N, M), np.float32), M, N, N, M]


@triton.jit
def permute_021(X, Y, B, M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # Y[b, n, m] = X[b, m, n]: a [1, BM, BN] tile loaded contiguous in n, tl.permute'd to
    # [1, BN, BM] and stored contiguous in m
    b = tl.program_id(2)
    m = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    src = X + b * M * N + m[None, :, None] * N + n[None, None, :]
    x = tl.load(src, mask=(m[None, :, None] < M) & (n[None, None, :] < N))
    y = tl.permute(x, (0, 2, 1))
    dst = Y + b * M * N + n[None, :, None] * M + m[None, None, :]
    tl.store(dst, y, mask=(n[None, :, None] < N) & (m[None, None, :] < M))


def make_permute(rng, B, M, N):
    return [f32(rng, B, M, N), np.empty((B, N, M), np.float32), B, M, N]


@triton.jit
def embedding_gather(Ids, Weight, Out, n_tokens, D, BLOCK_T: tl.constexpr, BLOCK_D: tl.constexpr):
    # Out[t, :] = Weight[Ids[t], :]
    t = tl.program_id(0) * BLOCK_T + tl.arange(0, BLOCK_T)
    tmask = t < n_tokens
    ids = tl.load(Ids + t, mask=tmask, other=0)
    for off in range(0, D, BLOCK_D):
        d = off + tl.arange(0, BLOCK_D)
        mask = tmask[:, None] & (d[None, :] < D)
        rows = tl.load(Weight + ids[:, None] * D + d[None, :], mask=mask)
        tl.store(Out + t[:, None] * D + d[None, :], rows, mask=mask)


def make_embedding(rng, tokens, vocab, D):
    return [rng.integers(0, vocab, tokens).astype(np.int32), f32(rng, vocab, D),
            np.empty((tokens, D), np.float32), tokens, D]


# ---------------------------------------------------------------- tl.dot (sanitizers only)

@triton.jit
def matmul(A, B, C, M, N, K, stride_am, stride_bk, stride_cm,
           BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    rn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    rk = tl.arange(0, BLOCK_K)
    acc = tl.zeros([BLOCK_M, BLOCK_N], dtype=tl.float32)
    for k in range(0, K, BLOCK_K):
        a = tl.load(A + rm[:, None] * stride_am + (k + rk)[None, :],
                    mask=(rm[:, None] < M) & ((k + rk)[None, :] < K), other=0.0)
        b = tl.load(B + (k + rk)[:, None] * stride_bk + rn[None, :],
                    mask=((k + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)
    tl.store(C + rm[:, None] * stride_cm + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


def make_matmul(rng, M, N, K):
    return [f32(rng, M, K).astype(np.float16), f32(rng, K, N).astype(np.float16),
            np.empty((M, N), np.float32), M, N, K, K, N, N]


@triton.jit
def attention_fwd(Q, K, V, O, seq, scale, HEAD: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    # one (batch*head, query block) per program; Q, K, V, O are [BH, seq, HEAD] fp16
    bh = tl.program_id(1)
    qm = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    d = tl.arange(0, HEAD)
    base = bh * seq * HEAD
    q = tl.load(Q + base + qm[:, None] * HEAD + d[None, :], mask=qm[:, None] < seq, other=0.0)
    m_i = tl.full([BLOCK_M], -float("inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD], dtype=tl.float32)
    for start in range(0, seq, BLOCK_N):
        kn = start + tl.arange(0, BLOCK_N)
        k = tl.load(K + base + kn[None, :] * HEAD + d[:, None], mask=kn[None, :] < seq, other=0.0)
        s = tl.dot(q, k) * scale
        s = tl.where(kn[None, :] < seq, s, -float("inf"))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        p = tl.exp(s - m_new[:, None])
        alpha = tl.exp(m_i - m_new)
        l_i = l_i * alpha + tl.sum(p, axis=1)
        v = tl.load(V + base + kn[:, None] * HEAD + d[None, :], mask=kn[:, None] < seq, other=0.0)
        acc = acc * alpha[:, None] + tl.dot(p.to(tl.float16), v)
        m_i = m_new
    tl.store(O + base + qm[:, None] * HEAD + d[None, :], acc / l_i[:, None], mask=qm[:, None] < seq)


def make_attention(rng, BH, seq, head):
    q, k, v = (f32(rng, BH, seq, head).astype(np.float16) for _ in range(3))
    return [q, k, v, np.empty((BH, seq, head), np.float32), seq, float(head) ** -0.5]


def attention_reference(Q, K, V, O, seq, scale):
    q, k, v = (a.astype(np.float64) for a in (Q, K, V))
    s = q @ k.transpose(0, 2, 1) * scale
    p = np.exp(s - s.max(axis=2, keepdims=True))
    return (p / p.sum(axis=2, keepdims=True)) @ v


# ---------------------------------------------------------------- the cases

CASES = [
    dict(name="vector_add", kernel=vector_add, make=make_add,
         size=dict(n=1 << 26), small=dict(n=5000),
         grid=lambda a, b, out, n: (triton.cdiv(n, 1024),), constexprs=dict(BLOCK=1024), num_warps=4,
         outputs=["out_ptr"], reference=lambda a, b, out, n: a.astype(np.float64) + b,
         bytes=lambda a, b, out, n: 12 * n),
    dict(name="softmax_row", kernel=softmax_row, make=make_softmax,
         size=dict(rows=16384, cols=3000), small=dict(rows=6, cols=700),
         grid=lambda x, y, n, s: (x.shape[0],),
         constexprs=lambda x, y, n, s: dict(COLS=triton.next_power_of_2(n)), num_warps=8,
         outputs=["y_ptr"], reference=softmax_reference, bytes=lambda x, y, n, s: 2 * x.nbytes),
    dict(name="softmax_looped", kernel=softmax_looped, make=make_softmax,
         size=dict(rows=4096, cols=16384 + 100), small=dict(rows=5, cols=2100),
         grid=lambda x, y, n, s: (x.shape[0],), constexprs=dict(BLOCK=1024), num_warps=4,
         outputs=["y_ptr"], reference=softmax_reference, bytes=lambda x, y, n, s: 3 * x.nbytes),
    dict(name="layer_norm_fwd", kernel=layer_norm_fwd, make=make_ln_fwd,
         size=dict(M=8192, N=8192), small=dict(M=5, N=1500),
         grid=lambda X, *a: (X.shape[0],), constexprs=dict(BLOCK_SIZE=1024), num_warps=4,
         outputs=["Y", "Mean", "Rstd"], reference=ln_fwd_reference,
         bytes=lambda X, *a: 4 * X.nbytes),
    dict(name="layer_norm_bwd", kernel=layer_norm_bwd, make=make_ln_bwd,
         size=dict(M=16384, N=4096), small=dict(M=37, N=700),
         grid=lambda X, *a: (triton.cdiv(X.shape[0], LN_BWD_ROWS),),
         constexprs=lambda X, DY, W, Mean, Rstd, DX, DWp, DBp, M, N, s: dict(
             ROWS_PER_PROGRAM=LN_BWD_ROWS, BLOCK_N=triton.next_power_of_2(N)),
         num_warps=8, outputs=["DX", "DW_part", "DB_part"], reference=ln_bwd_reference,
         bytes=lambda X, DY, W, Mean, Rstd, DX, DWp, DBp, *a: 3 * X.nbytes + 2 * DWp.nbytes),
    dict(name="rms_norm", kernel=rms_norm, make=make_rms,
         size=dict(M=16384, N=4096), small=dict(M=4, N=1000),
         grid=lambda X, *a: (X.shape[0],),
         constexprs=lambda X, Y, W, s, N, e: dict(BLOCK_N=triton.next_power_of_2(N)), num_warps=8,
         outputs=["Y"], reference=rms_reference, bytes=lambda X, *a: 2 * X.nbytes),
    dict(name="cross_entropy", kernel=cross_entropy_fwd, make=make_ce,
         size=dict(rows=4096, vocab=32000), small=dict(rows=4, vocab=3000),
         grid=lambda x, *a: (x.shape[0],), constexprs=dict(BLOCK=2048), num_warps=8,
         outputs=["loss"], reference=ce_reference, bytes=lambda x, *a: x.nbytes),
    dict(name="row_sum", kernel=row_sum, make=make_reduce,
         size=dict(M=16384, N=8192), small=dict(M=37, N=1000),
         grid=lambda X, O, M, N, s: (triton.cdiv(M, 4),), constexprs=dict(BLOCK_M=4, BLOCK_N=512),
         num_warps=4, outputs=["Out"], reference=lambda X, O, M, N, s: X.astype(np.float64).sum(axis=1),
         bytes=lambda X, *a: X.nbytes),
    dict(name="col_sum", kernel=col_sum, make=make_col_reduce,
         size=dict(M=16384, N=8192), small=dict(M=100, N=300),
         grid=lambda X, O, M, N, s: (triton.cdiv(N, 128),), constexprs=dict(BLOCK_M=32, BLOCK_N=128),
         num_warps=4, outputs=["Out"], reference=lambda X, O, M, N, s: X.astype(np.float64).sum(axis=0),
         bytes=lambda X, *a: X.nbytes),
    dict(name="cumsum", kernel=cumsum_rows, make=make_cumsum,
         size=dict(M=65536, N=1024), small=dict(M=3, N=1000),
         grid=lambda X, *a: (X.shape[0],),
         constexprs=lambda X, Y, N, s: dict(BLOCK_N=triton.next_power_of_2(N), REVERSE=False), num_warps=4,
         outputs=["Y"], reference=lambda X, Y, N, s: np.cumsum(X.astype(np.float64), axis=1),
         bytes=lambda X, *a: 2 * X.nbytes),
    dict(name="transpose", kernel=transpose, make=make_transpose,
         size=dict(M=8192, N=8192), small=dict(M=70, N=100),
         grid=lambda X, Y, M, N, sx, sy: (triton.cdiv(M, 64), triton.cdiv(N, 64)),
         constexprs=dict(BLOCK_M=64, BLOCK_N=64), num_warps=4,
         outputs=["Y"], reference=lambda X, *a: X.T, bytes=lambda X, *a: 2 * X.nbytes),
    dict(name="permute_021", kernel=permute_021, make=make_permute,
         size=dict(B=16, M=2048, N=2048), small=dict(B=2, M=40, N=70),
         grid=lambda X, Y, B, M, N: (triton.cdiv(M, 32), triton.cdiv(N, 32), B),
         constexprs=dict(BLOCK_M=32, BLOCK_N=32), num_warps=4,
         outputs=["Y"], reference=lambda X, *a: X.transpose(0, 2, 1), bytes=lambda X, *a: 2 * X.nbytes),
    dict(name="embedding_gather", kernel=embedding_gather, make=make_embedding,
         size=dict(tokens=65536, vocab=32000, D=1024), small=dict(tokens=37, vocab=50, D=300),
         grid=lambda ids, *a: (triton.cdiv(ids.shape[0], 16),), constexprs=dict(BLOCK_T=16, BLOCK_D=256),
         num_warps=4, outputs=["Out"], reference=lambda ids, w, *a: w[ids],
         bytes=lambda ids, w, out, *a: 2 * out.nbytes + ids.nbytes),
    dict(name="matmul_fp16", kernel=matmul, make=make_matmul,
         size=dict(M=2048, N=2048, K=2048), small=dict(M=70, N=50, K=90),
         grid=lambda A, B, C, M, N, K, *s: (triton.cdiv(M, 64), triton.cdiv(N, 64)),
         constexprs=dict(BLOCK_M=64, BLOCK_N=64, BLOCK_K=32), num_warps=4,
         outputs=["C"], reference=lambda A, B, *a: A.astype(np.float64) @ B.astype(np.float64),
         flops=lambda A, B, C, M, N, K, *s: 2 * M * N * K, tol=2e-3),
    dict(name="attention_fwd", kernel=attention_fwd, make=make_attention,
         size=dict(BH=32, seq=1024, head=64), small=dict(BH=2, seq=100, head=64),
         grid=lambda Q, K, V, O, seq, sc: (triton.cdiv(seq, 64), Q.shape[0]),
         constexprs=lambda Q, *a: dict(HEAD=Q.shape[2], BLOCK_M=64, BLOCK_N=32), num_warps=4,
         outputs=["O"], reference=attention_reference,
         flops=lambda Q, K, V, O, seq, sc: 4 * Q.shape[0] * seq * seq * Q.shape[2], tol=1e-2),
    dict(name="cumsum_reverse_long", kernel=cumsum_rows, make=make_cumsum,
         size=dict(M=8192, N=16384), small=dict(M=3, N=9000),
         grid=lambda X, *a: (X.shape[0],),
         constexprs=lambda X, Y, N, s: dict(BLOCK_N=triton.next_power_of_2(N), REVERSE=True), num_warps=8,
         outputs=["Y"], reference=reverse_cumsum_reference, bytes=lambda X, *a: 2 * X.nbytes),
    dict(name="gather_rows", kernel=gather_rows, make=make_gather,
         size=dict(M=8192, N=4096), small=dict(M=3, N=3000),
         grid=lambda X, *a: (X.shape[0],),
         constexprs=lambda X, I, Y, N, s: dict(BLOCK_N=triton.next_power_of_2(N)), num_warps=8,
         outputs=["Y"], reference=lambda X, I, *a: np.take_along_axis(X, I.astype(np.int64), axis=1),
         bytes=lambda X, I, Y, *a: X.nbytes + I.nbytes + Y.nbytes),
]
