"""Numerics at the edges, defined for every input and equal to what upstream
Triton's compiled code gives on NVIDIA (measured on an H200 with Triton 3.6):
shifts by the bit width or more, `signed >> unsigned`, float-to-integer casts
of NaN and out-of-range values, int1 sums, log1p/expm1 of large values; plus
front-end semantics upstream's tests rely on (early return under a constexpr
`if`, interleaving scalars). Executed on the CPU executor against numpy."""

import math

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

INT_TYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]


@triton.jit
def shift_kernel(X, Y, Z, n, LEFT: tl.constexpr, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    x = tl.load(X + o, mask=m)
    y = tl.load(Y + o, mask=m)
    if LEFT:
        z = x << y
    else:
        z = x >> y
    tl.store(Z + o, z, mask=m)


def shift_ref(x, y, left, dtype):
    """PTX's clamped shifts: the amount is unsigned; from the bit width on, the result
    is 0, or the sign bits for >> of a signed value."""
    bits = np.dtype(dtype).itemsize * 8
    signed = np.dtype(dtype).kind == "i"
    out = []
    for a, b in zip(x.tolist(), y.tolist()):
        b = b % (1 << bits)  # the amount, unsigned
        if left:
            r = (a << b) if b < bits else 0
        elif signed:
            r = a >> min(b, bits - 1)
        else:
            r = (a >> b) if b < bits else 0
        r &= (1 << bits) - 1
        if signed and r >> (bits - 1):
            r -= 1 << bits
        out.append(r)
    return np.array(out, dtype=dtype)


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("dtype", INT_TYPES)
def test_shifts_by_the_bit_width_or_more_are_defined(dtype, left):
    bits = np.dtype(dtype).itemsize * 8
    signed = np.dtype(dtype).kind == "i"
    xs = [-5, 5, -128, 1, -1, 3, 100, -100] if signed else [5, 200, 1, 255, 3, 100, 77, 0]
    ys = list(range(0, 2 * bits + 3)) + ([-1, -2, -bits] if signed else [])
    x = np.array([a for a in xs for _ in ys], dtype=dtype)
    y = np.array([b for _ in xs for b in ys], dtype=dtype)
    z = np.zeros_like(x)
    shift_kernel[(1,)](x, y, z, len(x), LEFT=left, BLOCK=triton.next_power_of_2(len(x)))
    np.testing.assert_array_equal(z, shift_ref(x, y, left, dtype))


@triton.jit
def mixed_shift(X, Y, Z, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    tl.store(Z + o, tl.load(X + o) >> tl.load(Y + o))


@pytest.mark.parametrize("tx,ty", [("int32", "uint32"), ("int8", "uint8"), ("int16", "uint32"), ("int64", "uint64"), ("int8", "uint64")])
def test_signed_shifted_right_by_unsigned_is_arithmetic(tx, ty):
    # upstream: `>>` is arithmetic when the left operand is signed, whatever the
    # promoted type (test_shift_op: numpy's x.astype(int) >> y)
    bw = max(np.dtype(tx).itemsize, np.dtype(ty).itemsize) * 8
    x = np.array([-16, 16, -1, -128, 127, -3, 0, -100], dtype=tx)
    y = np.array([2, 2, bw - 1, 7, 3, 1, 5, 4], dtype=ty)
    z = np.zeros(8, dtype=f"uint{bw}")
    mixed_shift[(1,)](x, y, z, BLOCK=8)
    np.testing.assert_array_equal(z.view(f"int{bw}"), x.astype(f"int{bw}") >> y.astype(f"int{bw}"))


@triton.jit
def cast_kernel(X, Y, n, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    m = o < n
    tl.store(Y + o, tl.load(X + o, mask=m).to(Y.dtype.element_ty), mask=m)


CAST_INPUTS = [math.nan, math.inf, -math.inf, 1e10, -1e10, 3e9, -3e9, 300.5, -300.5, 200.7, -200.7,
               70000.0, -70000.0, 1e20, -1.5, 2.5, 4294967296.0, 9.3e18, -9.3e18, 1.8e19, 65535.9, 128.0,
               -129.0, 255.9, 256.0, 40000.0, -40000.0, 32768.0, -32769.0, 2147483648.0, -2147483904.0,
               -0.9, 0.9, 1e-30]


def cast_ref(values, dtype):
    """NVIDIA's cvt.rzi as Triton's code uses it: toward zero, saturating; NaN gives 0
    (0x8000000000000000 for 64-bit results); 8-bit results saturate to 16 bits and
    keep the low byte."""
    info = np.iinfo(dtype)
    bits = info.bits
    out = []
    for v in values:
        if math.isnan(v):
            r = 1 << 63 if bits == 64 else 0
        else:
            lo, hi = (info.min, info.max) if bits > 8 else ((-(1 << 15), (1 << 15) - 1) if info.min < 0 else (0, (1 << 16) - 1))
            r = min(max(v, lo), hi)
            r = int(r) if math.isfinite(r) else int(lo if r < 0 else hi)
            r = min(max(r, lo), hi)
        out.append(r & ((1 << bits) - 1))
    return np.array(out, dtype=f"uint{bits}").view(dtype)


@pytest.mark.parametrize("src", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("dtype", INT_TYPES)
def test_float_to_int_casts_saturate_as_on_nvidia(src, dtype):
    if src == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        sdt = ml_dtypes.bfloat16
    else:
        sdt = np.dtype(src)
    with np.errstate(over="ignore", invalid="ignore"):
        x = np.array(CAST_INPUTS, dtype=np.float32).astype(sdt)
    y = np.zeros(len(x), dtype=dtype)
    cast_kernel[(1,)](x, y, len(x), BLOCK=64)
    np.testing.assert_array_equal(y, cast_ref(x.astype(np.float64).tolist(), dtype))


def test_float_to_int_casts_match_values_measured_on_an_h200():
    x = np.array(CAST_INPUTS, dtype=np.float32)
    measured = {  # Triton 3.6 on an NVIDIA H200, first 16 inputs
        "int8": [0, -1, 0, -1, 0, -1, 0, 44, -44, -56, 56, -1, 0, -1, -1, 2],
        "uint8": [0, 255, 0, 255, 0, 255, 0, 44, 0, 200, 0, 255, 0, 255, 0, 2],
        "int32": [0, 2147483647, -2147483648, 2147483647, -2147483648, 2147483647, -2147483648, 300, -300, 200, -200,
                  70000, -70000, 2147483647, -1, 2],
        "int64": [-2**63, 2**63 - 1, -2**63, 10000000000, -10000000000, 3000000000, -3000000000, 300, -300, 200, -200,
                  70000, -70000, 2**63 - 1, -1, 2],
        "uint32": [0, 4294967295, 0, 4294967295, 0, 3000000000, 0, 300, 0, 200, 0, 70000, 0, 4294967295, 0, 2],
    }
    for dtype, want in measured.items():
        y = np.zeros(len(x), dtype=dtype)
        cast_kernel[(1,)](x, y, len(x), BLOCK=64)
        assert y[:16].tolist() == want, dtype


@triton.jit
def log1p_expm1(X, A, B, BLOCK: tl.constexpr):
    o = tl.arange(0, BLOCK)
    x = tl.load(X + o)
    tl.store(A + o, tl.math.log1p(x))
    tl.store(B + o, tl.math.expm1(x))


def test_log1p_and_expm1_of_large_values_are_finite():
    x = np.array([1e38, 3e38, 85.0, 88.0, 88.7, 89.0, -100.0, 1e-8, -1e-8, 0.5, -0.5, 20.0, 1e30, -0.999999, np.inf, 0.0],
                 np.float32)
    a = np.zeros_like(x)
    b = np.zeros_like(x)
    log1p_expm1[(1,)](x, a, b, BLOCK=16)
    with np.errstate(over="ignore", invalid="ignore"):
        ra = np.log1p(x.astype(np.float64)).astype(np.float32)
        rb = np.expm1(x.astype(np.float64)).astype(np.float32)
    np.testing.assert_allclose(a, ra, rtol=2e-6)
    np.testing.assert_allclose(b, rb, rtol=2e-6)
    assert np.isfinite(a[0]) and np.isfinite(b[2]) and np.isfinite(b[4])


@triton.jit
def sum_bools(X, Z, BLOCK: tl.constexpr):
    x = tl.load(X + tl.arange(0, BLOCK)) != 0
    tl.store(Z, tl.sum(x, axis=0, dtype=tl.int1).to(tl.int32))
    tl.store(Z + 1, tl.sum(x, axis=0))
    a = x.to(tl.int1)
    tl.store(Z + 2, (tl.sum(a.to(tl.int32), axis=0) > 0).to(tl.int32))


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 8, 31, 32, 64])
@pytest.mark.parametrize("num_warps", [1, 2])
def test_int1_sum_wraps_modulo_2(count, num_warps):
    # upstream's compiled code adds int1 values in int1: the sum is the parity
    x = np.zeros(64, np.int32)
    x[np.random.default_rng(count).permutation(64)[:count]] = 1
    z = np.zeros(3, np.int32)
    sum_bools[(1,)](x, z, BLOCK=64, num_warps=num_warps)
    assert z.tolist() == [count % 2, count, int(count > 0)]


@triton.jit
def if_return_kernel(ExitEarly, Out, cond: tl.constexpr, mode: tl.constexpr):
    if mode == 0:
        if cond:
            if tl.load(ExitEarly):
                return
        tl.store(Out, 5)
    else:
        if cond:
            return
    tl.store(Out + 1, 1)


@pytest.mark.parametrize("exit_early", [0, 1])
@pytest.mark.parametrize("cond", [True, False])
def test_runtime_return_inside_a_constexpr_if_keeps_the_code_after_it(exit_early, cond):
    # upstream's test_if_return[dynamic]: the store after the outer `if` must run
    out = np.zeros(2, np.int32)
    if_return_kernel[(1,)](np.array([exit_early], np.int32), out, cond=cond, mode=0)
    returned = cond and exit_early
    assert out.tolist() == ([0, 0] if returned else [5, 1])
    out[:] = 0
    if_return_kernel[(1,)](np.array([exit_early], np.int32), out, cond=cond, mode=1)
    assert out.tolist() == ([0, 0] if cond else [0, 1])


@triton.jit
def interleave_scalars(X, Out):
    a = tl.load(X)
    b = tl.load(X + 1)
    c = tl.interleave(a, b)
    tl.static_assert(c.shape[0] == 2)
    tl.store(Out + tl.arange(0, 2), c)


def test_interleave_of_two_scalars_has_shape_2():
    out = np.zeros(2, np.int32)
    interleave_scalars[(1,)](np.array([3, 9], np.int32), out)
    assert out.tolist() == [3, 9]


@triton.jit
def scalars_from_blocks(X, Out):
    a, b = tl.split(tl.load(X + tl.arange(0, 2)))
    tl.store(Out, a * 10 + b)
    c, d = tl.split(tl.join(tl.load(X), tl.load(X + 1)))
    tl.store(Out + 1, c * 10 + d)
    tl.store(Out + 2, tl.reshape(tl.load(X + 1 + tl.arange(0, 1)), ()))


def test_split_of_a_pair_and_reshape_to_a_scalar_give_scalars():
    # upstream: split of shape [2] returns two scalars; no internal error
    out = np.zeros(3, np.int32)
    scalars_from_blocks[(1,)](np.array([3, 4], np.int32), out)
    assert out.tolist() == [34, 34, 4]
