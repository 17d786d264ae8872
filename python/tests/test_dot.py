"""tl.dot on simdgroup matrices, executed on the CPU executor against numpy:
tutorial-03-style matmul (grouped ordering, ragged masks, pointer increments
in the K loop, fused activation), batched matmul, flash attention forward."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def leaky_relu(x):
    return tl.where(x >= 0, x, 0.01 * x)


@triton.jit
def matmul_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K,
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    GROUP_M: tl.constexpr, ACTIVATION: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m

    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    accumulator = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        accumulator = tl.dot(a, b, accumulator)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    if ACTIVATION == "leaky_relu":
        accumulator = leaky_relu(accumulator)
    c = accumulator.to(c_ptr.dtype.element_ty)
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    c_mask = (offs_cm[:, None] < M) & (offs_cn[None, :] < N)
    tl.store(c_ptrs, c, mask=c_mask)


def matmul(a, b, out_dtype, activation="", BM=32, BN=32, BK=16, num_warps=4):
    M, K = a.shape
    _, N = b.shape
    c = np.zeros((M, N), out_dtype)
    grid = lambda meta: (triton.cdiv(M, meta["BLOCK_M"]) * triton.cdiv(N, meta["BLOCK_N"]),)
    k = matmul_kernel[grid](
        a, b, c, M, N, K,
        a.strides[0] // a.itemsize, a.strides[1] // a.itemsize,
        b.strides[0] // b.itemsize, b.strides[1] // b.itemsize,
        c.strides[0] // c.itemsize, c.strides[1] // c.itemsize,
        BLOCK_M=BM, BLOCK_N=BN, BLOCK_K=BK, GROUP_M=4, ACTIVATION=activation, num_warps=num_warps,
    )
    return c, k


@pytest.mark.parametrize("M,N,K", [(32, 32, 16), (64, 48, 40), (100, 70, 33), (17, 130, 64)])
def test_matmul_fp16_in_fp32_acc_fp16_out(M, N, K):
    rng = np.random.default_rng(M + N + K)
    a = rng.standard_normal((M, K)).astype(np.float16)
    b = rng.standard_normal((K, N)).astype(np.float16)
    c, k = matmul(a, b, np.float16)
    ref = a.astype(np.float32) @ b.astype(np.float32)
    np.testing.assert_allclose(c.astype(np.float32), ref, rtol=1e-2, atol=1e-2)
    assert "simdgroup_multiply_accumulate" in k.asm["msl"]


@pytest.mark.parametrize("num_warps", [1, 2, 4, 8])
@pytest.mark.parametrize("BM,BN,BK", [(16, 16, 16), (64, 32, 32), (32, 64, 16)])
def test_matmul_fp32_tiles_and_warps(num_warps, BM, BN, BK):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((70, 45)).astype(np.float32)
    b = rng.standard_normal((45, 90)).astype(np.float32)
    c, _ = matmul(a, b, np.float32, BM=BM, BN=BN, BK=BK, num_warps=num_warps)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_matmul_transposed_operand_and_leaky_relu():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((48, 40)).astype(np.float32)
    bt = rng.standard_normal((56, 40)).astype(np.float32)
    b = bt.T  # a strided view: stride_bk = 1, stride_bn = 40
    c, _ = matmul(a, b, np.float32, activation="leaky_relu")
    ref = a @ b
    np.testing.assert_allclose(c, np.where(ref >= 0, ref, 0.01 * ref), rtol=1e-4, atol=1e-4)


@triton.jit
def int8_dot(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b))


def test_int8_dot_accumulates_in_int32():
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (32, 64)).astype(np.int8)
    b = rng.integers(-128, 128, (64, 16)).astype(np.int8)
    c = np.zeros((32, 16), np.int32)
    int8_dot[(1,)](a, b, c, M=32, N=16, K=64)
    np.testing.assert_array_equal(c, a.astype(np.int32) @ b.astype(np.int32))


@triton.jit
def batched_matmul(a_ptr, b_ptr, c_ptr, M, N, K, sab, sam, sak, sbb, sbk, sbn, scb, scm, scn,
                   BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    batch = tl.program_id(2)
    rm = pid_m * BM + tl.arange(0, BM)
    rn = pid_n * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k0 in range(0, K, BK):
        a = tl.load(a_ptr + batch * sab + rm[:, None] * sam + (k0 + rk)[None, :] * sak,
                    mask=(rm[:, None] < M) & ((k0 + rk)[None, :] < K), other=0.0)
        b = tl.load(b_ptr + batch * sbb + (k0 + rk)[:, None] * sbk + rn[None, :] * sbn,
                    mask=((k0 + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)
    tl.store(c_ptr + batch * scb + rm[:, None] * scm + rn[None, :] * scn, acc,
             mask=(rm[:, None] < M) & (rn[None, :] < N))


def test_batched_matmul_over_program_id_2():
    rng = np.random.default_rng(4)
    a = rng.standard_normal((3, 40, 24)).astype(np.float32)
    b = rng.standard_normal((3, 24, 36)).astype(np.float32)
    c = np.zeros((3, 40, 36), np.float32)
    s = lambda x: [st // 4 for st in x.strides]
    batched_matmul[(2, 2, 3)](a, b, c, 40, 36, 24, *s(a), *s(b), *s(c), BM=32, BN=32, BK=16)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_dot_shape_errors():
    from triton_metal.compiler.errors import CompilationError

    @triton.jit
    def small(a_ptr, c_ptr):
        r = tl.arange(0, 8)
        a = tl.load(a_ptr + r[:, None] * 8 + r[None, :])
        tl.store(c_ptr + r[:, None] * 8 + r[None, :], tl.dot(a, a))

    with pytest.raises(CompilationError, match="at least 16"):
        small[(1,)](np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32))


@triton.jit
def attn_fwd(Q, K, V, Out, sm_scale, stride_h, stride_m, N_CTX,
             HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr):
    start_m = tl.program_id(0)
    off_h = tl.program_id(1)
    offs_m = start_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, HEAD_DIM)
    base = off_h * stride_h
    q = tl.load(Q + base + offs_m[:, None] * stride_m + offs_d[None, :], mask=offs_m[:, None] < N_CTX, other=0.0)
    m_i = tl.zeros([BLOCK_M], dtype=tl.float32) - float("inf")
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)
    qk_scale = sm_scale * 1.44269504
    if CAUSAL:
        hi = min((start_m + 1) * BLOCK_M, N_CTX)
    else:
        hi = N_CTX
    for start_n in range(0, hi, BLOCK_N):
        cols = start_n + offs_n
        k = tl.load(K + base + cols[None, :] * stride_m + offs_d[:, None], mask=cols[None, :] < N_CTX, other=0.0)
        qk = tl.dot(q, k) * qk_scale
        mask = cols[None, :] < N_CTX
        if CAUSAL:
            mask = mask & (offs_m[:, None] >= cols[None, :])
        qk = tl.where(mask, qk, -1.0e6)
        m_ij = tl.maximum(m_i, tl.max(qk, 1))
        p = tl.math.exp2(qk - m_ij[:, None])
        alpha = tl.math.exp2(m_i - m_ij)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(V + base + cols[:, None] * stride_m + offs_d[None, :], mask=cols[:, None] < N_CTX, other=0.0)
        acc = tl.dot(p.to(v.dtype), v, acc * alpha[:, None])
        m_i = m_ij
    acc = acc / l_i[:, None]
    tl.store(Out + base + offs_m[:, None] * stride_m + offs_d[None, :], acc.to(Out.dtype.element_ty),
             mask=offs_m[:, None] < N_CTX)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n_ctx", [64, 100])
def test_flash_attention_forward(causal, n_ctx):
    heads, d = 2, 64
    rng = np.random.default_rng(n_ctx)
    q, k, v = (rng.standard_normal((heads, n_ctx, d)).astype(np.float16) for _ in range(3))
    out = np.zeros_like(q)
    scale = 1.0 / np.sqrt(d)
    attn_fwd[(triton.cdiv(n_ctx, 32), heads)](q, k, v, out, scale, n_ctx * d, d, n_ctx,
                                              HEAD_DIM=d, BLOCK_M=32, BLOCK_N=32, CAUSAL=causal)
    qf, kf, vf = (x.astype(np.float32) for x in (q, k, v))
    s = qf @ kf.transpose(0, 2, 1) * scale
    if causal:
        s = np.where(np.tril(np.ones((n_ctx, n_ctx), bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    ref = (p / p.sum(-1, keepdims=True)) @ vf
    np.testing.assert_allclose(out.astype(np.float32), ref, rtol=2e-2, atol=2e-2)


@triton.jit
def dot_trans(a_ptr, bt_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    bt = tl.load(bt_ptr + rn[:, None] * K + rk[None, :])  # B stored as [N, K]
    c = tl.dot(a, tl.trans(bt), input_precision="tf32")
    c = tl.dot(tl.trans(tl.trans(a)), tl.trans(bt), c, allow_tf32=True)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], c)


def test_dot_with_trans_operands():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((32, 16)).astype(np.float32)
    bt = rng.standard_normal((64, 16)).astype(np.float32)
    c = np.zeros((32, 64), np.float32)
    dot_trans[(1,)](a, bt, c, M=32, N=64, K=16)
    np.testing.assert_allclose(c, 2 * a @ bt.T, rtol=1e-4, atol=1e-4)


@triton.jit
def block_ptr_matmul(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    a_bp = tl.make_block_ptr(base=a_ptr, shape=(M, K), strides=(K, 1), offsets=(pid_m * BM, 0),
                             block_shape=(BM, BK), order=(1, 0))
    b_bp = tl.make_block_ptr(base=b_ptr, shape=(K, N), strides=(N, 1), offsets=(0, pid_n * BN),
                             block_shape=(BK, BN), order=(1, 0))
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for _ in range(0, K, BK):
        a = tl.load(a_bp, boundary_check=(0, 1), padding_option="zero")
        b = tl.load(b_bp, boundary_check=(0, 1))
        acc += tl.dot(a, b)
        a_bp = tl.advance(a_bp, (0, BK))
        b_bp = tl.advance(b_bp, (BK, 0))
    c_bp = tl.make_block_ptr(base=c_ptr, shape=(M, N), strides=(N, 1), offsets=(pid_m * BM, pid_n * BN),
                             block_shape=(BM, BN), order=(1, 0))
    tl.store(c_bp, acc, boundary_check=(0, 1))


def test_block_pointer_matmul_with_advance_in_the_loop():
    rng = np.random.default_rng(6)
    M, N, K = 50, 70, 45
    a = rng.standard_normal((M, K)).astype(np.float32)
    b = rng.standard_normal((K, N)).astype(np.float32)
    c = np.zeros((M, N), np.float32)
    block_ptr_matmul[(triton.cdiv(M, 32), triton.cdiv(N, 32))](a, b, c, M, N, K, BM=32, BN=32, BK=16)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


# ---- threadgroup-memory economy: K staged in chunks, results moved in row bands ----

@triton.jit
def dot_epilogue(X, Y, Z, W, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, ADD: tl.constexpr,
                 CHAIN: tl.constexpr, OUT: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    x = tl.load(X + rm[:, None] * K + rk[None, :])
    y = tl.load(Y + rk[:, None] * N + rn[None, :])
    z = tl.dot(x, y, out_dtype=OUT)
    if ADD:
        z += tl.load(Z + rm[:, None] * N + rn[None, :])
    if CHAIN:
        w = tl.load(W + rn[:, None] * N + rn[None, :])
        z = tl.dot(z.to(w.dtype), w, out_dtype=OUT)
    tl.store(Z + rm[:, None] * N + rn[None, :], z)


def _ref_dot(x, y):
    return x.astype(np.float64) @ y.astype(np.float64)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16", "int8"])
@pytest.mark.parametrize("M,N,K,num_warps", [(128, 128, 64, 4), (64, 128, 128, 2), (128, 256, 32, 8), (32, 128, 64, 4)])
def test_dot_larger_than_threadgroup_memory(dtype, M, N, K, num_warps):
    """Tiles whose operands and result exceed 32 KiB when staged whole: K goes in chunks
    into the same accumulators and the result comes back in row bands (exact for int8)."""
    rng = np.random.default_rng(M + N + K)
    if dtype == "int8":
        x = rng.integers(-128, 128, (M, K)).astype(np.int8)
        y = rng.integers(-128, 128, (K, N)).astype(np.int8)
        z = rng.integers(-1000, 1000, (M, N)).astype(np.int32)
        out = tl.int8  # upstream: integer dots give int32 whatever out_dtype says
    else:
        npd = {"float32": np.float32, "float16": np.float16}.get(dtype)
        xf = (rng.standard_normal((M, K)) * 0.1).astype(np.float32)
        yf = (rng.standard_normal((K, N)) * 0.1).astype(np.float32)
        if dtype == "bfloat16":
            import ml_dtypes
            x, y = xf.astype(ml_dtypes.bfloat16), yf.astype(ml_dtypes.bfloat16)
        else:
            x, y = xf.astype(npd), yf.astype(npd)
        z = rng.standard_normal((M, N)).astype(np.float32)
        out = tl.float32
    expect = _ref_dot(x, y) + z
    k = dot_epilogue[(1,)](x, y, z, x, M=M, N=N, K=K, ADD=True, CHAIN=False, OUT=out, num_warps=num_warps)
    assert k.threadgroup_memory_bytes <= 32 * 1024
    if dtype == "float32" and M * K * 4 + K * N * 4 > 32 * 1024:
        assert "tm_k0" in k.asm["msl"]  # K staged in chunks
    if dtype == "int8":
        np.testing.assert_array_equal(z, expect.astype(np.int32))
    else:
        tol = {"float32": 1e-4, "float16": 2e-3, "bfloat16": 2e-2}[dtype]
        np.testing.assert_allclose(z, expect, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_chained_large_dots(dtype):
    """dot -> dot with [64, 128] x [128, 128] tiles (upstream's chain-dot epilogue shape class)."""
    M, N, K = 64, 128, 128
    rng = np.random.default_rng(7)
    npd = np.float16 if dtype == "float16" else np.float32
    x = (rng.standard_normal((M, K)) * 0.1).astype(npd)
    y = (rng.standard_normal((K, N)) * 0.1).astype(npd)
    w = (rng.standard_normal((N, N)) * 0.1).astype(npd)
    z = np.zeros((M, N), np.float32)
    dot_epilogue[(1,)](x, y, z, w, M=M, N=N, K=K, ADD=False, CHAIN=True, OUT=tl.float32, num_warps=4)
    expect = (_ref_dot(x, y).astype(npd).astype(np.float64)) @ w.astype(np.float64)
    np.testing.assert_allclose(z, expect, rtol=1e-2, atol=1e-2)


def test_matmul_large_tiles_k_tail_accumulates():
    """acc += dot in a K loop with 128x128x64 tiles (chunked inside each step) and a K that
    is not a multiple of BLOCK_K (masked tail)."""
    rng = np.random.default_rng(11)
    for M, N, K in [(200, 150, 100), (128, 128, 72)]:
        a = rng.standard_normal((M, K)).astype(np.float16)
        b = rng.standard_normal((K, N)).astype(np.float16)
        c, k = matmul(a, b, np.float32, BM=128, BN=128, BK=64, num_warps=4)
        # whole: 128x64 + 64x128 halves (32 KiB) + 128x128 floats (64 KiB) would not fit
        assert k.threadgroup_memory_bytes <= 32 * 1024
        assert "tm_r0" in k.asm["msl"]  # the result comes back in row bands
        np.testing.assert_allclose(c, a.astype(np.float32) @ b.astype(np.float32), rtol=2e-3, atol=2e-3)


def test_dot_refused_only_when_a_minimal_chunk_does_not_fit():
    from triton_metal import OutOfResources  # noqa: F401  (exported name)

    @triton.jit
    def wide(a_ptr, c_ptr, N: tl.constexpr):
        r = tl.arange(0, 16)
        n = tl.arange(0, N)
        a = tl.load(a_ptr + r[:, None] * 16 + r[None, :])
        b = tl.load(a_ptr + r[:, None] * 0 + n[None, :] * 0)
        tl.store(c_ptr + r[:, None] * N + n[None, :], tl.dot(a, b))

    with pytest.raises(Exception, match="32 KiB"):
        wide[(1,)](np.zeros((16, 16), np.float32), np.zeros((16, 2048), np.float32), N=2048)


# ---- 3-D (batched) tl.dot and upstream's result types ----

@triton.jit
def dot3d(X, Y, Z, B: tl.constexpr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr, ACC: tl.constexpr):
    rb = tl.arange(0, B)
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    x = tl.load(X + rb[:, None, None] * M * K + rm[None, :, None] * K + rk[None, None, :])
    y = tl.load(Y + rb[:, None, None] * K * N + rk[None, :, None] * N + rn[None, None, :])
    zp = Z + rb[:, None, None] * M * N + rm[None, :, None] * N + rn[None, None, :]
    if ACC:
        z = tl.dot(x, y, acc=tl.load(zp))
    else:
        z = tl.dot(x, y)
    tl.store(zp, z)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8"])
@pytest.mark.parametrize("B,M,N,K,acc", [(2, 16, 16, 16, False), (4, 32, 16, 64, True), (2, 64, 128, 64, True)])
def test_dot_3d(dtype, B, M, N, K, acc):
    rng = np.random.default_rng(B * M + K)
    if dtype == "int8":
        x = rng.integers(-128, 128, (B, M, K)).astype(np.int8)
        y = rng.integers(-128, 128, (B, K, N)).astype(np.int8)
        z = rng.integers(-100, 100, (B, M, N)).astype(np.int32)
    else:
        npd = np.float16 if dtype == "float16" else np.float32
        x = (rng.standard_normal((B, M, K)) * 0.2).astype(npd)
        y = (rng.standard_normal((B, K, N)) * 0.2).astype(npd)
        z = rng.standard_normal((B, M, N)).astype(np.float32)
    expect = np.matmul(x.astype(np.float64), y.astype(np.float64)) + (z if acc else 0)
    dot3d[(1,)](x, y, z, B=B, M=M, N=N, K=K, ACC=acc, num_warps=4)
    if dtype == "int8":
        np.testing.assert_array_equal(z, expect.astype(np.int32))
    else:
        np.testing.assert_allclose(z, expect, rtol=2e-3, atol=2e-3)


def test_dot_result_types_follow_upstream():
    from triton_metal.compiler.errors import CompilationError

    @triton.jit
    def f32_f16(x_ptr, z_ptr):
        r = tl.arange(0, 16)
        x = tl.load(x_ptr + r[:, None] * 16 + r[None, :])
        z = tl.dot(x, x, out_dtype=tl.float16)  # float32 operands: float32 result
        tl.static_assert(z.dtype == tl.float32)
        tl.store(z_ptr + r[:, None] * 16 + r[None, :], z)

    x = np.random.default_rng(0).standard_normal((16, 16)).astype(np.float32)
    z = np.zeros((16, 16), np.float32)
    f32_f16[(1,)](x, z)
    np.testing.assert_allclose(z, x @ x, rtol=1e-4, atol=1e-4)

    @triton.jit
    def bf16_out(x_ptr, z_ptr):
        r = tl.arange(0, 16)
        x = tl.load(x_ptr + r[:, None] * 16 + r[None, :])
        tl.store(z_ptr + r[:, None] * 16 + r[None, :], tl.dot(x, x, out_dtype=tl.bfloat16))

    with pytest.raises(CompilationError, match="out_dtype=bfloat16 is unsupported"):
        bf16_out[(1,)](x, z)


def _k_loop_body(msl):
    """The text of the kernel's first `for` loop over a runtime bound (its K loop)."""
    import re
    m = re.search(r"\n\s*for \(int v\d+ = ", msl)
    depth, i = 0, msl.index("{", m.end())
    start = i
    while True:
        depth += msl[i] == "{"
        depth -= msl[i] == "}"
        if depth == 0:
            return msl[start:i]
        i += 1


def test_k_loop_dot_is_double_buffered_with_one_barrier_per_step():
    """A dot in a K loop alternates between two staging buffers of its own: one barrier
    per K step (the one after staging), and the numbers stay right."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((100, 90)).astype(np.float16)
    b = rng.standard_normal((90, 70)).astype(np.float16)
    c, k = matmul(a, b, np.float32, BM=64, BN=64, BK=32, num_warps=4)
    np.testing.assert_allclose(c, a.astype(np.float32) @ b.astype(np.float32), rtol=2e-3, atol=2e-3)
    body = _k_loop_body(k.asm["msl"])
    assert body.count("threadgroup_barrier(") == 1
    assert "TM_DBUF_BASE" in k.asm["msl"]
    # 16 KiB for the result's way back to registers, then 2 x 8 KiB of half operands
    assert k.threadgroup_memory_bytes == 16384 + 2 * 8192


def test_dot_accumulating_a_loaded_block_stored_back_needs_no_device_barrier():
    """z = dot(x, y) + load(Z); store(Z, z): the loaded block is staged whole as the dot's
    accumulator before a threadgroup barrier, so every thread's load of Z has completed and
    the store needs no device-memory barrier (program order kept, numbers right)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 16)).astype(np.float16)
    y = rng.standard_normal((16, 32)).astype(np.float16)
    z = rng.standard_normal((32, 32)).astype(np.float32)
    expect = x.astype(np.float32) @ y.astype(np.float32) + z
    k = dot_epilogue[(1,)](x, y, z, x, M=32, N=32, K=16, ADD=True, CHAIN=False, OUT=tl.float32)
    np.testing.assert_allclose(z, expect, rtol=1e-3, atol=1e-3)
    assert "mem_flags::mem_device" not in k.asm["msl"]
