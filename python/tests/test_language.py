"""Language features on the CPU executor: early return, hints that feed the
axis analysis, softmax, NaN propagation, types and casts, debugging builtins."""

import os
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def early_exit(x_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    if pid * BLOCK >= n:
        return
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    if pid == 1:
        tl.store(x_ptr + offs, offs * 10, mask=offs < n)
        return
    tl.store(x_ptr + offs, offs, mask=offs < n)


def test_early_return_inside_runtime_if():
    x = np.full(200, -1, np.int32)
    early_exit[(10,)](x, 100, BLOCK=32)
    expected = np.arange(200)
    expected[32:64] *= 10
    expected[100:] = -1
    np.testing.assert_array_equal(x, expected)


@triton.jit
def hinted_copy(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    offs = tl.max_contiguous(tl.multiple_of(offs, BLOCK), BLOCK)
    n = tl.multiple_of(n, 16)
    m = offs < n
    tl.store(y_ptr + offs, tl.load(x_ptr + offs, mask=m), mask=m)


def test_hints_enable_vector_access():
    x = np.arange(4096, dtype=np.float32)
    y = np.zeros_like(x)
    # n = 4000 is a multiple of 16, passed with do_not_specialize-like kernels;
    # the hint states it, so loads can be float4.
    k = hinted_copy[(4,)](x, y, 4000, BLOCK=1024)
    assert "float4" in k.asm["msl"]
    np.testing.assert_array_equal(y[:4000], x[:4000])


@triton.jit
def looped_row_scale(x_ptr, y_ptr, n, stride, BLOCK: tl.constexpr):
    # the loop's induction variable is a multiple of BLOCK (lb 0, step BLOCK) and the row
    # pointer carried through the second loop advances by BLOCK: both allow float4 access
    row = tl.program_id(0)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for off in range(0, n, BLOCK):
        cols = off + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + row * stride + cols, mask=cols < n, other=0.0)
    total = tl.sum(acc, axis=0)
    src = x_ptr + row * stride + tl.arange(0, BLOCK)
    dst = y_ptr + row * stride + tl.arange(0, BLOCK)
    for off in range(0, n, BLOCK):
        m = off + tl.arange(0, BLOCK) < n
        tl.store(dst, tl.load(src, mask=m) / total, mask=m)
        src += BLOCK
        dst += BLOCK


def test_loop_induction_and_carried_pointers_vectorise():
    rng = np.random.default_rng(3)
    x = rng.random((3, 1040), dtype=np.float32)  # 1040 = 16 * 65: masks uniform per float4
    y = np.zeros_like(x)
    k = looped_row_scale[(3,)](x, y, 1040, 1040, BLOCK=512)
    msl = k.asm["msl"]
    assert msl.count("float4") >= 3, msl  # the loads of both loops and the store
    np.testing.assert_allclose(y, x / x.sum(axis=1, keepdims=True), rtol=1e-5)
    # n not a multiple of 16: masks may change inside a float4, scalar accesses, same values
    y2 = np.zeros_like(x)
    k2 = looped_row_scale[(3,)](x, y2, 1039, 1040, BLOCK=512)
    np.testing.assert_allclose(y2[:, :1039], x[:, :1039] / x[:, :1039].sum(axis=1, keepdims=True), rtol=1e-5)


@triton.jit
def softmax_builtin(x_ptr, y_ptr, N: tl.constexpr):
    offs = tl.arange(0, N)
    tl.store(y_ptr + offs, tl.softmax(tl.load(x_ptr + offs)))


def test_tl_softmax():
    x = np.random.default_rng(0).standard_normal(64).astype(np.float32)
    y = np.zeros_like(x)
    softmax_builtin[(1,)](x, y, N=64)
    e = np.exp(x - x.max())
    np.testing.assert_allclose(y, e / e.sum(), rtol=1e-5)


@triton.jit
def nan_max(x_ptr, y_ptr, out_ptr, PROP: tl.constexpr):
    offs = tl.arange(0, 4)
    x = tl.load(x_ptr + offs)
    y = tl.load(y_ptr + offs)
    if PROP:
        r = tl.maximum(x, y, propagate_nan=tl.PropagateNan.ALL)
    else:
        r = tl.maximum(x, y)
    tl.store(out_ptr + offs, r)


def test_propagate_nan_flag():
    x = np.array([1, np.nan, 3, np.nan], np.float32)
    y = np.array([2, 5, np.nan, np.nan], np.float32)
    out = np.zeros(4, np.float32)
    nan_max[(1,)](x, y, out, PROP=True)
    np.testing.assert_array_equal(np.isnan(out), [False, True, True, True])
    nan_max[(1,)](x, y, out, PROP=False)
    np.testing.assert_array_equal(out[:3], [2, 5, 3])


@triton.jit
def casts(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    bits = x.to(tl.int32, bitcast=True)
    back = (bits ^ 0).to(tl.float32, bitcast=True)
    small = x.to(tl.int8)
    u = (x * -1.0).to(tl.int16).to(tl.uint16).to(tl.int32)
    tl.store(out_ptr + offs, back + small.to(tl.float32) + u.to(tl.float32) + (x > 1.5).to(tl.float32))


def test_casts_and_bitcast():
    x = np.linspace(-3, 3, 32).astype(np.float32)
    out = np.zeros_like(x)
    casts[(1,)](x, out, BLOCK=32)
    u = (x * -1).astype(np.int16).astype(np.uint16).astype(np.int32)
    np.testing.assert_allclose(out, x + x.astype(np.int8) + u + (x > 1.5), rtol=1e-6)


@triton.jit
def int_semantics(a_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    a = tl.load(a_ptr + offs)
    r = (a << 3) + (a >> 1) + (~a) + (-a) + tl.abs(a) + (a % 7) + (a // -3)
    tl.store(out_ptr + offs, r)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.int64])
def test_integer_semantics_per_type(dtype):
    a = np.arange(-64, 64).astype(dtype)
    out = np.zeros_like(a)
    int_semantics[(1,)](a, out, BLOCK=128)
    a64 = a.astype(np.int64)
    q = np.trunc(a64 / -3).astype(np.int64)
    rem = a64 - np.trunc(a64 / 7).astype(np.int64) * 7
    expected = ((a64 << 3) + (a64 >> 1) + (~a64) + (-a64) + np.abs(a64) + rem + q).astype(dtype)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, expected)


@triton.jit
def unsigned_ops(a_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    a = tl.load(a_ptr + offs)
    three = tl.full((BLOCK,), 3, tl.uint32)
    tl.store(out_ptr + offs, (a >> 1) + a // three + tl.umulhi(a, a))


def test_unsigned_shift_division_and_umulhi():
    a = np.array([0, 1, 7, 2**31, 2**32 - 1] + [12345] * 11, np.uint32)
    out = np.zeros_like(a)
    unsigned_ops[(1,)](a, out, BLOCK=16)
    hi = ((a.astype(np.uint64) * a.astype(np.uint64)) >> 32).astype(np.uint32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(out, (a >> 1) + a // 3 + hi)


SCRIPT = '''
import numpy as np
import triton_metal as triton
import triton_metal.language as tl

@triton.jit
def k(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.static_print("BLOCK is", BLOCK)
    tl.device_print("x=", x)
    tl.device_assert(x < 3, "x must be small")

x = np.arange(4, dtype=np.int32)
try:
    k[(1,)](x, BLOCK=4)
except RuntimeError as e:
    print("ERROR:", e)
'''


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="device_print/device_assert run on the CPU executor only")
def test_static_print_device_print_and_device_assert(tmp_path):
    script = tmp_path / "dbg.py"
    script.write_text(SCRIPT)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "BLOCK is 4" in r.stdout
    assert "x=3" in r.stdout and "idx (2)" in r.stdout
    assert "ERROR:" in r.stdout and "x must be small" in r.stdout and "dbg.py:12" in r.stdout


@triton.jit
def member_functions(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = x.exp() + x.abs().sqrt() + x.sigmoid() + tl.cast(x, tl.int32).to(tl.float32) + x.cast(tl.float16).to(tl.float32)
    z = tl.interleave(y, y * 0)
    a, b = tl.split(tl.reshape(z, (BLOCK, 2)))
    i, j = tl.swizzle2d(offs // 8, offs % 8, BLOCK // 8, 8, 4)
    tl.assume(BLOCK > 0)
    tl.store(out_ptr + offs, a + b + (i * 8 + j).to(tl.float32) * 0)


def test_tensor_member_functions_cast_interleave_swizzle():
    x = np.linspace(-2, 2, 64).astype(np.float32)
    out = np.zeros_like(x)
    member_functions[(1,)](x, out, BLOCK=64)
    ref = np.exp(x) + np.sqrt(np.abs(x)) + 1 / (1 + np.exp(-x)) + x.astype(np.int32) + x.astype(np.float16).astype(np.float32)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@triton.jit
def swizzle_kernel(out_ptr, SI: tl.constexpr, SJ: tl.constexpr, SG: tl.constexpr):
    i = tl.arange(0, SI)[:, None] + tl.zeros((SI, SJ), tl.int32)
    j = tl.arange(0, SJ)[None, :] + tl.zeros((SI, SJ), tl.int32)
    ni, nj = tl.swizzle2d(i, j, SI, SJ, SG)
    tl.store(out_ptr + i * SJ + j, ni * SJ + nj)


def test_swizzle2d_is_a_permutation_in_groups():
    out = np.zeros((8, 4), np.int32)
    swizzle_kernel[(1,)](out, SI=8, SJ=4, SG=2)
    ref = np.zeros_like(out)
    for i in range(8):
        for j in range(4):
            ij = i * 4 + j
            gid = ij // (2 * 4)
            off_i = gid * 2
            size_g = min(8 - off_i, 2)
            ref[i, j] = (off_i + (ij % (2 * 4)) % size_g) * 4 + (ij % (2 * 4)) // size_g
    np.testing.assert_array_equal(out, ref)
    assert sorted(out.ravel()) == list(range(32))


@triton.jit
def tiled_transpose(X, Y, M, N, stride_x, stride_y, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = (rows[:, None] < M) & (cols[None, :] < N)
    x = tl.load(X + rows[:, None] * stride_x + cols[None, :], mask=mask)
    tl.store(Y + cols[None, :] * stride_y + rows[:, None], x, mask=mask)


@pytest.mark.parametrize("M,N", [(128, 256), (70, 100)])
def test_transposed_store_is_coalesced_through_padded_threadgroup_memory(M, N):
    # the store's pointer is contiguous along dim 0: it gets its own layout (Triton's
    # coalesce), the tile moves through threadgroup memory with padded rows
    x = np.random.default_rng(5).standard_normal((M, N)).astype(np.float32)
    y = np.full((N, M), np.nan, np.float32)
    k = tiled_transpose[(triton.cdiv(M, 64), triton.cdiv(N, 64))](x, y, M, N, N, M, BLOCK_M=64, BLOCK_N=64)
    msl = k.asm["msl"]
    assert "tm_pad(" in msl.split("kernel void")[1]
    if M % 16 == 0 and N % 16 == 0:
        assert "*((device float4*)" in msl  # float4 stores as well as loads
    np.testing.assert_array_equal(y, x.T)
