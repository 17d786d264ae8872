"""Float division with upstream Triton's semantics: `/` (arith.divf) may be approximate, as
NVIDIA's div.full.f32 is (within 2 ulp over the whole range); `tl.math.div_rn` is
correctly rounded. A divisor that several elements of a thread share (a row's sum, a
scalar) is divided through its reciprocal, formed once (`tm_fdiv`). Executed on the CPU
executor against numpy, over the whole float32 range and its special values."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def divide_by_row(X, D, Y, ROWS: tl.constexpr, COLS: tl.constexpr, RN: tl.constexpr):
    r = tl.arange(0, ROWS)
    c = tl.arange(0, COLS)
    x = tl.load(X + r[:, None] * COLS + c[None, :])
    d = tl.load(D + r)[:, None]
    if RN:
        y = tl.math.div_rn(x, d)
    else:
        y = x / d
    tl.store(Y + r[:, None] * COLS + c[None, :], y)


@triton.jit
def divide_by_scalar(X, Y, d, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    tl.store(Y + o, tl.load(X + o, mask=o < n) / d, mask=o < n)


@triton.jit
def divide_elementwise(X, D, Y, BLOCK: tl.constexpr, RN: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    d = tl.load(D + o)
    if RN:
        tl.store(Y + o, tl.math.div_rn(x, d))
    else:
        tl.store(Y + o, x / d)


def reciprocal_used(k):
    """Whether the kernel divides through `tm_fdiv` (the prelude defines it in every kernel)."""
    return k.asm["msl"].count("tm_fdiv(") > 1


def ulps(got, want):
    """Distance in units of the last place of float32 (0 where both are the same special)."""
    got, want = got.astype(np.float32), want.astype(np.float32)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    def ordered(a):
        i = a.view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)
    return np.where(same, 0, np.abs(ordered(got) - ordered(want)))


def divisors():
    """Every binade of float32, both signs, subnormals, zeros, infinities and NaN."""
    rng = np.random.default_rng(7)
    e = np.arange(-149, 128, dtype=np.float64)
    normal = (1 + rng.random(e.size)) * 2.0 ** e
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 2.0 ** 126, 2.0 ** 127 * 1.5, 2.0 ** -126, 2.0 ** -149,
               float(np.finfo(np.float32).max)]
    d = np.concatenate([normal, -normal, special]).astype(np.float32)
    return d[: d.size // 64 * 64]


def dividends(cols):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(cols) * 2.0 ** rng.integers(-140, 127, cols)).astype(np.float32)
    x[:6] = [0.0, -0.0, np.inf, np.nan, np.finfo(np.float32).max, 2.0 ** -149]
    return x


@pytest.mark.parametrize("rn", [False, True])
def test_division_by_a_shared_divisor_is_within_two_ulp_over_the_whole_range(rn):
    d = divisors()
    rows, cols = d.size, 16
    x = np.tile(dividends(cols), (rows, 1))
    y = np.empty_like(x)
    k = divide_by_row[(1,)](x, d, y, ROWS=rows, COLS=cols, RN=rn, num_warps=4)
    with np.errstate(all="ignore"):
        exact = (x.astype(np.float64) / d.astype(np.float64)[:, None]).astype(np.float32)
    if rn:
        # div_rn: correctly rounded, whatever the divisor
        assert not reciprocal_used(k)
        np.testing.assert_array_equal(y, exact)
    else:
        assert reciprocal_used(k)
        err = ulps(y, exact)
        # within 2 ulp wherever the quotient is a normal float32 (a subnormal result keeps
        # fewer bits, as on NVIDIA); special values exactly as IEEE division gives them
        normal_result = np.abs(exact) >= np.finfo(np.float32).tiny
        assert err[normal_result].max() <= 2, np.argwhere(err * normal_result > 2)[:5]
        special = ~np.isfinite(exact) | (exact == 0)
        np.testing.assert_array_equal(y[special], exact[special])


def test_division_by_a_scalar_argument_uses_its_reciprocal():
    z = np.random.default_rng(3).standard_normal(1000)
    for d in [3.0, -7.25, 1e-30, 3e38, 1e-40]:
        x = (z * min(abs(d), 1e37)).astype(np.float32)  # quotients near 1, the divisor anywhere
        y = np.empty_like(x)
        k = divide_by_scalar[(1,)](x, y, d, x.size, BLOCK=1024)
        exact = (x.astype(np.float64) / np.float32(d)).astype(np.float32)
        assert ulps(y, exact).max() <= 2, d
    assert reciprocal_used(k)


@pytest.mark.parametrize("rn", [False, True])
def test_element_wise_division_is_correctly_rounded(rn):
    d = divisors()
    n = d.size
    x = np.resize(dividends(64), n)
    y = np.empty_like(x)
    k = divide_elementwise[(1,)](x, d, y, BLOCK=n, RN=rn)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(y, x / d)
    assert not reciprocal_used(k)
