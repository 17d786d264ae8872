"""CUDA libdevice functions beyond the common math (``triton.language.extra.libdevice``, as
kernel libraries import them): each runs on the CPU executor against numpy, with upstream's
result dtypes. Also the tensor methods ``logical_and`` / ``logical_or`` and a runtime value
passed to a callee parameter annotated ``tl.constexpr`` (libraries' generated wrappers do)."""

import math

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.language.extra import libdevice

N = 64


def run_unary(fn_name, x, out_dtype=np.float32):
    fn = getattr(libdevice, fn_name)

    @triton.jit
    def k(X, Y, BLOCK: tl.constexpr):
        i = tl.arange(0, BLOCK)
        tl.store(Y + i, fn(tl.load(X + i)))

    y = np.zeros(x.shape, out_dtype)
    k[(1,)](x, y, BLOCK=x.size)
    return y


def run_binary(fn_name, x, z):
    fn = getattr(libdevice, fn_name)

    @triton.jit
    def k(X, Z, Y, BLOCK: tl.constexpr):
        i = tl.arange(0, BLOCK)
        tl.store(Y + i, fn(tl.load(X + i), tl.load(Z + i)))

    y = np.zeros(x.shape, np.float32)
    k[(1,)](x, z, y, BLOCK=x.size)
    return y


rng = np.random.default_rng(0)
WIDE = (rng.standard_normal(N) * 4).astype(np.float32)
POS = (rng.random(N) * 50 + 1.0).astype(np.float32)
UNIT = (rng.random(N) * 1.98 - 0.99).astype(np.float32)
erfc = np.vectorize(math.erfc)

UNARY = [
    ("exp10", UNIT * 10, lambda x: 10.0 ** x.astype(np.float64), 2e-6),
    ("log10", POS, np.log10, 1e-6),
    ("acosh", POS, np.arccosh, 1e-6),
    ("asinh", WIDE, np.arcsinh, 1e-6),
    ("atanh", UNIT, np.arctanh, 2e-6),
    ("sinpi", WIDE, lambda x: np.sin(np.pi * x.astype(np.float64)), 2e-6),
    ("cospi", WIDE, lambda x: np.cos(np.pi * x.astype(np.float64)), 2e-6),
    ("cbrt", WIDE * 1e3, np.cbrt, 1e-6),
    ("rcbrt", POS, lambda x: 1 / np.cbrt(x), 1e-6),
    ("erfc", WIDE, lambda x: erfc(x.astype(np.float64)), 1e-6),
    ("normcdf", WIDE, lambda x: 0.5 * erfc(-x.astype(np.float64) / math.sqrt(2)), 1e-6),
    ("fast_log10f", POS, np.log10, 1e-6),
    ("fast_sinf", WIDE, np.sin, 1e-6),
]


@pytest.mark.parametrize("name,x,ref,tol", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float(name, x, ref, tol):
    y = run_unary(name, x)
    np.testing.assert_allclose(y, ref(x), rtol=tol, atol=1e-6)


def test_round_halfway_away_from_zero():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4, -2.6, 3.0] * 8, np.float32)
    np.testing.assert_array_equal(run_unary("round", x), np.where(x >= 0, np.floor(x + 0.5), -np.floor(-x + 0.5)))
    np.testing.assert_array_equal(run_unary("llround", x, np.int64), [int(math.copysign(math.floor(abs(v) + 0.5), v)) for v in x])
    np.testing.assert_array_equal(run_unary("llrint", x, np.int64), np.rint(x).astype(np.int64))


def test_cbrt_edges():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 27.0, -8.0, 3.4e38] * 8, np.float32)
    y = run_unary("cbrt", x)
    np.testing.assert_allclose(y, np.cbrt(x), rtol=1e-6)
    assert np.signbit(y[1]) and y[5] == 3.0 and y[6] == -2.0


BINARY = [
    ("fmod", WIDE * 10, np.where(np.abs(UNIT) < 0.1, 0.5, UNIT).astype(np.float32) * 3, np.fmod),
    ("copysign", WIDE, -WIDE[::-1].copy(), np.copysign),
    ("fdim", WIDE, WIDE[::-1].copy(), lambda a, b: np.maximum(a - b, 0)),
    ("hypot", WIDE * 1e20, WIDE[::-1] * 1e20, np.hypot),
    ("rhypot", WIDE, WIDE[::-1].copy(), lambda a, b: 1 / np.hypot(a, b)),
    ("add_rn", WIDE, POS, np.add),
    ("mul_rn", WIDE, POS, np.multiply),
    ("sub_rn", WIDE, POS, np.subtract),
]


@pytest.mark.parametrize("name,x,z,ref", BINARY, ids=[b[0] for b in BINARY])
def test_binary_float(name, x, z, ref):
    x, z = x.astype(np.float32), z.astype(np.float32)
    np.testing.assert_allclose(run_binary(name, x, z), ref(x, z).astype(np.float32), rtol=2e-6)


def test_fmod_is_exact():
    x = np.resize(np.array([5.5, -5.5, 1e10, 7.0, -0.0, 3.0], np.float32), N)
    z = np.resize(np.array([2.0, 2.0, 3.0, -2.5, 1.0, np.inf], np.float32), N)
    y = run_binary("fmod", x, z)
    np.testing.assert_array_equal(y, np.fmod(x, z))
    assert np.signbit(y[4])


def test_hypot_edges():
    x = np.resize(np.array([np.inf, np.nan, 0.0, 3e38, 1e-30], np.float32), N)
    z = np.resize(np.array([np.nan, 1.0, 0.0, 3e38, 1e-30], np.float32), N)
    np.testing.assert_allclose(run_binary("hypot", x, z), np.hypot(x, z), rtol=2e-6)


def test_classification_and_saturate():
    x = np.array([1.0, np.inf, -np.inf, np.nan, -3.0, 0.25, 2.0, 0.0] * 8, np.float32)
    np.testing.assert_array_equal(run_unary("finitef", x, np.int32), np.isfinite(x).astype(np.int32))
    np.testing.assert_array_equal(run_unary("isfinited", x, np.int32), np.isfinite(x).astype(np.int32))
    sat = run_unary("saturatef", x)
    np.testing.assert_array_equal(sat, [1, 1, 0, 0, 0, 0.25, 1, 0] * 8)


def test_reinterpret_and_convert():
    x = np.array([1.0, -2.5, 0.1, 3.7, -3.5, 2.5, 1e10, -1e10] * 8, np.float32)
    bits = run_unary("float_as_int", x, np.int32)
    np.testing.assert_array_equal(bits, x.view(np.int32))
    np.testing.assert_array_equal(run_unary("int_as_float", bits), x)
    np.testing.assert_array_equal(run_unary("float_as_uint", x, np.int32), x.view(np.int32))
    small = x[:6].tolist() * 10 + [1.0, 2.0, 3.0, 4.0]
    s = np.array(small, np.float32)
    for mode, f in (("rn", np.rint), ("rz", np.trunc), ("rd", np.floor), ("ru", np.ceil)):
        np.testing.assert_array_equal(run_unary(f"float2int_{mode}", s, np.int32), f(s).astype(np.int32))
        np.testing.assert_array_equal(run_unary(f"float2ll_{mode}", s, np.int64), f(s).astype(np.int64))
    # Unsigned results are typed int32 / int64 as upstream; negative values saturate to 0.
    np.testing.assert_array_equal(run_unary("float2uint_rn", s, np.int32), np.maximum(np.rint(s), 0).astype(np.int32))
    ints = np.arange(-32, 32, dtype=np.int32) * 1000003
    np.testing.assert_array_equal(run_unary("int2float_rn", ints), ints.astype(np.float32))
    big = np.arange(64, dtype=np.int64) * 123456789012345
    np.testing.assert_array_equal(run_unary("ll2float_rn", big), big.astype(np.float32))


def test_half_input_is_refused():
    x = np.ones(N, np.float16)
    with pytest.raises(triton.CompilationError, match=r"exp10\(\) expects dtype fp32"):
        run_unary("exp10", x, np.float16)


@triton.jit
def close_to(x, y, tol, allow_nan: tl.constexpr):
    close = tl.abs(x - y) <= tol
    if allow_nan:  # a runtime value when the caller passes one
        close = close | ((x != x) & (y != y))
    return close


@triton.jit
def logical_kernel(X, Y, OUT_AND, OUT_OR, OUT_CLOSE, allow_nan, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    x = tl.load(X + i)
    y = tl.load(Y + i)
    a = x > 0
    b = y > 0
    tl.store(OUT_AND + i, a.logical_and(b).to(tl.int8))
    tl.store(OUT_OR + i, a.logical_or(b).to(tl.int8))
    tl.store(OUT_CLOSE + i, close_to(x, y, 0.5, allow_nan).to(tl.int8))


def test_logical_methods_and_runtime_value_for_constexpr_parameter():
    x = np.array([1.0, -1.0, 2.0, np.nan, -3.0, 0.5, np.nan, 1.0], np.float32)
    y = np.array([1.2, 1.0, -2.0, np.nan, -3.0, -0.5, 1.0, 3.0], np.float32)
    outs = [np.zeros(8, np.int8) for _ in range(3)]
    for allow_nan in (False, True):
        logical_kernel[(1,)](x, y, *outs, allow_nan, BLOCK=8)
        np.testing.assert_array_equal(outs[0], (x > 0) & (y > 0))
        np.testing.assert_array_equal(outs[1], (x > 0) | (y > 0))
        expect = (np.abs(x - y) <= 0.5) | (allow_nan & np.isnan(x) & np.isnan(y))
        np.testing.assert_array_equal(outs[2], expect)
