"""2-D blocks, loops, runtime `if`, helper functions and math, executed on the
CPU executor and checked against numpy."""

import math

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def copy_2d(x_ptr, y_ptr, M, N, stride_m, stride_n, BM: tl.constexpr, BN: tl.constexpr):
    offs_m = tl.program_id(0) * BM + tl.arange(0, BM)
    offs_n = tl.program_id(1) * BN + tl.arange(0, BN)
    mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    src = x_ptr + offs_m[:, None] * stride_m + offs_n[None, :] * stride_n
    x = tl.load(src, mask=mask, other=0.0)
    tl.store(y_ptr + offs_m[:, None] * N + offs_n[None, :], x * 2.0 + offs_n[None, :], mask=mask)


@pytest.mark.parametrize("M,N", [(1, 1), (5, 7), (33, 70), (64, 64)])
@pytest.mark.parametrize("num_warps", [1, 4])
def test_2d_broadcast_and_strides(M, N, num_warps):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, M)).astype(np.float32).T  # a transposed view: strides (1, M)
    y = np.zeros((M, N), np.float32)
    grid = (triton.cdiv(M, 16), triton.cdiv(N, 32))
    copy_2d[grid](x, y, M, N, x.strides[0] // 4, x.strides[1] // 4, BM=16, BN=32, num_warps=num_warps)
    np.testing.assert_allclose(y, x * 2.0 + np.arange(N)[None, :], rtol=1e-6)


@triton.jit
def row_sums_by_loop(x_ptr, out_ptr, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    for start in range(0, N, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        acc += tl.load(x_ptr + row * N + offs, mask=offs < N, other=0.0)
    tl.store(out_ptr + row * BLOCK + tl.arange(0, BLOCK), acc)


def test_for_loop_with_carried_block():
    rows, n, block = 3, 1000, 128
    x = np.random.default_rng(1).standard_normal((rows, n)).astype(np.float32)
    out = np.zeros((rows, block), np.float32)
    row_sums_by_loop[(rows,)](x, out, n, BLOCK=block)
    padded = np.zeros((rows, triton.cdiv(n, block) * block), np.float32)
    padded[:, :n] = x
    expected = padded.reshape(rows, -1, block).sum(axis=1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@triton.jit
def scalar_loop(out_ptr, n):
    total = 0
    prod = 1.0
    for i in range(n):
        total += i * i
        prod = prod * 0.5
    tl.store(out_ptr, total)
    tl.store(out_ptr + 1, prod.to(tl.int32) + 7)


def test_loop_carried_scalars_take_the_loop_type():
    out = np.zeros(2, np.int32)
    scalar_loop[(1,)](out, 10)
    assert out[0] == sum(i * i for i in range(10))
    assert out[1] == 7


@triton.jit
def swap_loop(out_ptr, n):
    a = 1
    b = 2
    for _ in range(n):
        a, b = b, a + b
    tl.store(out_ptr, a)
    tl.store(out_ptr + 1, b)


def test_loop_swap_reads_old_values():
    out = np.zeros(2, np.int32)
    swap_loop[(1,)](out, 10)
    a, b = 1, 2
    for _ in range(10):
        a, b = b, a + b
    assert list(out) == [a, b]


@triton.jit
def branchy(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    if pid % 3 == 0:
        y = x + 100.0
    elif pid % 3 == 1:
        y = x * -1.0
    else:
        y = x
    tl.store(out_ptr + offs, y, mask=offs < n)


def test_runtime_if_elif_else():
    n, block = 1000, 64
    x = np.random.default_rng(2).standard_normal(n).astype(np.float32)
    out = np.zeros_like(x)
    branchy[(triton.cdiv(n, block),)](x, out, n, BLOCK=block)
    pid = np.arange(n) // block
    expected = np.where(pid % 3 == 0, x + 100.0, np.where(pid % 3 == 1, -x, x))
    np.testing.assert_array_equal(out, expected)


@triton.jit
def static_unrolled(out_ptr, BLOCK: tl.constexpr, REPS: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros((BLOCK,), dtype=tl.int32)
    for k in tl.static_range(REPS):
        acc += offs * k
    tl.store(out_ptr + offs, acc)


def test_static_range_unrolls():
    out = np.zeros(32, np.int32)
    k = static_unrolled[(1,)](out, BLOCK=32, REPS=4)
    np.testing.assert_array_equal(out, np.arange(32) * 6)
    assert "scf.for" not in k.asm["ttir"]


@triton.jit
def _scale_shift(x, scale, SHIFT: tl.constexpr = 1):
    return x * scale + SHIFT, SHIFT


@triton.jit
def uses_helper(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    y, s = _scale_shift(tl.load(x_ptr + offs), 3.0)
    z, _ = _scale_shift(y, scale=2.0, SHIFT=10)
    tl.store(out_ptr + offs, z + s)


def test_jit_function_calls_with_defaults_keywords_and_tuples():
    x = np.arange(16, dtype=np.float32)
    out = np.zeros_like(x)
    uses_helper[(1,)](x, out, BLOCK=16)
    np.testing.assert_array_equal(out, (x * 3 + 1) * 2 + 10 + 1)


MATH = {
    "exp": np.exp,
    "exp2": np.exp2,
    "log": np.log,
    "log2": np.log2,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "sin": np.sin,
    "cos": np.cos,
    "tanh": np.tanh,
    "erf": np.vectorize(math.erf),
    "floor": np.floor,
    "ceil": np.ceil,
    "abs": np.abs,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
}


def _make_math_kernel(name):
    fn = getattr(tl, name)

    @triton.jit
    def k(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        x = tl.load(x_ptr + offs, mask=m, other=1.0)
        tl.store(out_ptr + offs, fn(x), mask=m)

    return k


@pytest.mark.parametrize("name", sorted(MATH))
@pytest.mark.parametrize("dtype", [np.float32])
def test_math_functions(name, dtype):
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, 300)
    if name in ("log", "log2", "sqrt", "rsqrt"):
        x = np.abs(x) + 0.1
    x = x.astype(dtype)
    out = np.zeros_like(x)
    _make_math_kernel(name)[(triton.cdiv(300, 128),)](x, out, 300, BLOCK=128)
    expected = MATH[name](x.astype(np.float64))
    tol = 1e-5 if dtype == np.float32 else 2e-3
    np.testing.assert_allclose(out.astype(np.float64), expected, rtol=tol, atol=tol)


@triton.jit
def fma_clamp(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = tl.fma(x, 2.0, 1.0)
    tl.store(out_ptr + offs, tl.clamp(y, -1.0, 3.0) + tl.maximum(x, 0.5) - tl.minimum(x, 0.0))


def test_fma_clamp_maximum_minimum():
    x = np.linspace(-2, 2, 64).astype(np.float32)
    out = np.zeros_like(x)
    fma_clamp[(1,)](x, out, BLOCK=64)
    np.testing.assert_allclose(out, np.clip(x * 2 + 1, -1, 3) + np.maximum(x, 0.5) - np.minimum(x, 0.0), rtol=1e-6)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "sin", "sigmoid"])
def test_math_on_float16_needs_a_conversion_as_in_triton(name):
    from triton_metal.compiler.errors import CompilationError

    x = np.ones(128, np.float16)
    with pytest.raises(CompilationError, match="expects dtype fp32"):
        _make_math_kernel(name)[(1,)](x, np.zeros_like(x), 128, BLOCK=128)


from triton_metal.language.extra import libdevice  # noqa: E402


@triton.jit
def libdevice_kernel(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    y = libdevice.pow(tl.abs(x) + 1.0, 1.5) + libdevice.log1p(x * 1e-6) * 1e6 + tl.math.expm1(x * 1e-3) * 1e3
    y += libdevice.trunc(x) + libdevice.rint(x) + tl.extra.libdevice.atan2(x, 2.0) + libdevice.tanh(x)
    y += libdevice.isnan(x).to(tl.float32) * 100 + libdevice.isinf(x / 0.0).to(tl.float32) * 1000
    tl.store(out_ptr + offs, y)


def test_libdevice_namespace():
    x = np.linspace(-2.3, 2.7, 64).astype(np.float32)
    x[5] = np.nan
    out = np.zeros_like(x)
    libdevice_kernel[(1,)](x, out, BLOCK=64)
    with np.errstate(all="ignore"):
        ref = (np.power(np.abs(x) + 1, 1.5) + np.log1p(x * 1e-6) * 1e6 + np.expm1(x * 1e-3) * 1e3
               + np.trunc(x) + np.rint(x) + np.arctan2(x, 2.0) + np.tanh(x)
               + np.isnan(x) * 100.0 + np.isinf(x / 0.0) * 1000.0)
    ok = ~np.isnan(x)
    np.testing.assert_allclose(out[ok], ref[ok], rtol=1e-4, atol=1e-3)
    assert np.isnan(out[5])


@triton.jit
def ternary(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    # The load only runs for programs that take the first branch.
    v = tl.load(x_ptr + offs, mask=offs < n) * 2 if pid % 2 == 0 else tl.zeros((BLOCK,), tl.float32) - 1.0
    s = 10 if pid == 1 else pid
    tl.store(out_ptr + offs, v + s, mask=offs < n)


def test_runtime_conditional_expression():
    n, block = 256, 64
    x = np.arange(n, dtype=np.float32)
    out = np.zeros_like(x)
    ternary[(4,)](x, out, n, BLOCK=block)
    pid = np.arange(n) // block
    expected = np.where(pid % 2 == 0, x * 2, -1.0) + np.where(pid == 1, 10, pid)
    np.testing.assert_array_equal(out, expected)
