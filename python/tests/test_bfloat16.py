"""bfloat16 (ml_dtypes arrays): loads, arithmetic, stores and tl.dot, compared
with numpy results rounded to bfloat16."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

ml_dtypes = pytest.importorskip("ml_dtypes", reason="ml_dtypes provides numpy's bfloat16")
bf16 = ml_dtypes.bfloat16


@triton.jit
def bf16_ops(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0.0)
    y = tl.load(y_ptr + offs, mask=m, other=0.0)
    z = x * y + x
    tl.store(out_ptr + offs, z, mask=m)


def test_bfloat16_elementwise():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(1000).astype(bf16)
    y = rng.standard_normal(1000).astype(bf16)
    out = np.zeros(1000, bf16)
    bf16_ops[(triton.cdiv(1000, 256),)](x, y, out, 1000, BLOCK=256)
    # Triton computes bf16 * bf16 in bf16: round after each operation.
    expected = ((x.astype(np.float32) * y.astype(np.float32)).astype(bf16).astype(np.float32) + x.astype(np.float32)).astype(bf16)
    np.testing.assert_array_equal(out.astype(np.float32), expected.astype(np.float32))


@triton.jit
def bf16_dot(a_ptr, b_ptr, c_ptr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rm = tl.arange(0, M)
    rn = tl.arange(0, N)
    rk = tl.arange(0, K)
    a = tl.load(a_ptr + rm[:, None] * K + rk[None, :])
    b = tl.load(b_ptr + rk[:, None] * N + rn[None, :])
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], tl.dot(a, b).to(tl.bfloat16))


def test_bfloat16_dot_accumulates_in_float32():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((32, 64)).astype(bf16)
    b = rng.standard_normal((64, 16)).astype(bf16)
    c = np.zeros((32, 16), bf16)
    k = bf16_dot[(1,)](a, b, c, M=32, N=16, K=64)
    assert "simdgroup_multiply_accumulate" in k.asm["msl"]
    ref = (a.astype(np.float32) @ b.astype(np.float32)).astype(bf16).astype(np.float32)
    np.testing.assert_allclose(c.astype(np.float32), ref, rtol=1e-2, atol=1e-2)


@triton.jit
def convert_16(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs).to(out_ptr.dtype.element_ty))


@pytest.mark.parametrize("src, dst", [(bf16, np.float16), (np.float16, bf16)])
def test_bfloat16_float16_conversions(src, dst):
    """bfloat16 <-> float16 (no direct MSL conversion): rounded once to nearest even, with
    float16's overflow to infinity and its subnormals."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(1024) * 2.0 ** rng.integers(-30, 20, 1024)).astype(src)
    x[:4] = [np.inf, -np.inf, np.nan, 0.0]
    out = np.zeros(1024, dst)
    convert_16[(1,)](x, out, BLOCK=1024)
    expected = x.astype(np.float32).astype(dst)
    np.testing.assert_array_equal(out.astype(np.float32), expected.astype(np.float32))
