"""float8 storage types: 8-bit codes loaded and stored as bytes, converted exactly in software.
Checked exhaustively (all 256 codes) and on many values against ml_dtypes' conversions, with
upstream Triton's saturation (finite values beyond the largest and infinities become the
largest finite value of their sign; NaN stays NaN) where ml_dtypes overflows to inf/NaN."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError

ml_dtypes = pytest.importorskip("ml_dtypes")

# tl dtype -> (ml_dtypes type, scale): float8e4b15 is e4m3 with bias 15, ml_dtypes' e4m3b11fnuz
# scaled by 2**-4 (but with upstream's NaN S.1111.111 and -0 instead of fnuz's NaN 0x80).
FORMATS = {
    "float8e4nv": (ml_dtypes.float8_e4m3fn, 1.0),
    "float8e5": (ml_dtypes.float8_e5m2, 1.0),
    "float8e4b8": (ml_dtypes.float8_e4m3fnuz, 1.0),
    "float8e5b16": (ml_dtypes.float8_e5m2fnuz, 1.0),
    "float8e4b15": (ml_dtypes.float8_e4m3b11fnuz, 2.0**-4),
}
MAX_CODE = {"float8e4nv": 0x7E, "float8e5": 0x7B, "float8e4b8": 0x7F, "float8e5b16": 0x7F, "float8e4b15": 0x7E}
FNUZ = {"float8e4b8", "float8e5b16"}


@triton.jit
def convert_kernel(X, Z, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(X + offs, mask=m)
    tl.store(Z + offs, x.to(Z.dtype.element_ty), mask=m)


def run_convert(x, z):
    convert_kernel[(triton.cdiv(x.shape[0], 256),)](x, z, x.shape[0], BLOCK=256)
    return z


def as_fp8(codes, name):
    return triton.reinterpret(codes, getattr(tl, name))


def reference_decode(name):
    """float32 value of every code per the format's definition (via ml_dtypes)."""
    ml, scale = FORMATS[name]
    codes = np.arange(256, dtype=np.uint8)
    ref = codes.view(ml).astype(np.float32) * np.float32(scale)
    if name == "float8e4b15":
        ref[0x80] = -0.0
        ref[[0x7F, 0xFF]] = np.nan
    return ref


def same_floats(a, b):
    """Equal as values, NaN where the other is NaN, and zeros of the same sign."""
    a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
    nan = np.isnan(a)
    np.testing.assert_array_equal(nan, np.isnan(b))
    np.testing.assert_array_equal(a[~nan].view(np.uint32), b[~nan].view(np.uint32))


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_code_decodes_exactly(name):
    codes = np.arange(256, dtype=np.uint8)
    out = run_convert(as_fp8(codes, name), np.zeros(256, np.float32))
    same_floats(out, reference_decode(name))


@pytest.mark.parametrize("name", list(FORMATS))
@pytest.mark.parametrize("wide", ["float16", "bfloat16"])
def test_every_code_round_trips_through_16_bit_floats(name, wide):
    np_wide = np.float16 if wide == "float16" else ml_dtypes.bfloat16
    codes = np.arange(256, dtype=np.uint8)
    w = run_convert(as_fp8(codes, name), np.zeros(256, np_wide))
    same_floats(w.astype(np.float32), reference_decode(name))  # every float8 value is a 16-bit float
    back = run_convert(w, as_fp8(np.zeros(256, np.uint8), name)).base
    dec = reference_decode(name)
    nan = np.isnan(dec)
    expect = codes.copy()
    inf = np.isinf(dec)  # float8e5's infinities saturate, as upstream's conversions do
    expect[inf] = MAX_CODE[name] | (codes[inf] & 0x80)
    np.testing.assert_array_equal(back[~nan], expect[~nan])
    assert np.isnan(dec[back[nan]]).all()


def probe_values(name, rng):
    ml, scale = FORMATS[name]
    reps = np.unique(np.abs(reference_decode(name)[np.isfinite(reference_decode(name))]))
    mids = (reps[:-1] + reps[1:]) / 2  # exact ties: round to even
    anchors = np.concatenate([reps, mids]).astype(np.float32)
    near = np.concatenate([anchors, np.nextafter(anchors, np.float32(np.inf)), np.nextafter(anchors, np.float32(0))])
    maxv = reps[-1]
    rand = np.concatenate([
        rng.standard_normal(4000) * maxv / 4,
        np.exp(rng.uniform(np.log(2.0**-30), np.log(maxv * 4), 4000)),  # denormals and overflow
    ]).astype(np.float32)
    specials = np.array([0.0, 1e-40, 2.0**-126, np.inf, np.nan, maxv * 1.01, maxv * 8, 3e38], np.float32)
    v = np.concatenate([near, rand, specials])
    return np.concatenate([v, -v]).astype(np.float32)


def expected_codes(name, x):
    """ml_dtypes' round-to-nearest-even codes, with upstream's saturation and NaN rules."""
    ml, scale = FORMATS[name]
    with np.errstate(over="ignore"):
        rounded = (x / np.float32(scale)).astype(ml)
    exp = rounded.view(np.uint8).copy()
    value = rounded.astype(np.float32) * np.float32(scale)  # ml_dtypes' value of its code
    maxv = reference_decode(name)[MAX_CODE[name]]
    # Rounded beyond the largest finite value (ml_dtypes: inf or NaN): saturate.
    sat = ~np.isnan(x) & (np.isnan(value) | np.isinf(value) | (np.abs(value) > maxv))
    exp[sat] = MAX_CODE[name] | np.where(np.signbit(x[sat]), 0x80, 0)
    sign = np.signbit(x)
    if name == "float8e4b15":  # -0 exists (not fnuz); the largest finite value is 1.75
        exp[(exp == 0) & sign] = 0x80
    return exp


@pytest.mark.parametrize("name", list(FORMATS))
def test_float32_to_fp8_rounds_to_nearest_even_and_saturates(name):
    x = probe_values(name, np.random.default_rng(7))
    got = run_convert(x, as_fp8(np.zeros(x.shape[0], np.uint8), name)).base
    exp = expected_codes(name, x)
    nan = np.isnan(x)
    dec = reference_decode(name)
    assert np.isnan(dec[got[nan]]).all()
    bad = np.nonzero(got[~nan] != exp[~nan])[0]
    assert bad.size == 0, [(float(x[~nan][i]), hex(got[~nan][i]), hex(exp[~nan][i])) for i in bad[:5]]
    if name in FNUZ:
        assert not (got == 0x80)[~nan].any()  # no -0: 0x80 is NaN


@pytest.mark.parametrize("name", ["float8e4nv", "float8e5", "float8e4b8"])
@pytest.mark.parametrize("wide", ["float16", "bfloat16"])
def test_16_bit_floats_to_fp8(name, wide):
    np_wide = np.float16 if wide == "float16" else ml_dtypes.bfloat16
    x32 = probe_values(name, np.random.default_rng(8))
    with np.errstate(over="ignore"):
        xw = x32.astype(np_wide)
    got = run_convert(xw, as_fp8(np.zeros(xw.shape[0], np.uint8), name)).base
    x = xw.astype(np.float32)  # exact: the kernel converts the 16-bit value
    nan = np.isnan(x)
    np.testing.assert_array_equal(got[~nan], expected_codes(name, x)[~nan])


def test_ml_dtypes_arrays_are_fp8_arguments():
    x = np.array([0.5, -1.25, 448.0, 3.0], ml_dtypes.float8_e4m3fn)
    z = run_convert(x, np.zeros(4, np.float32))
    np.testing.assert_array_equal(z, x.astype(np.float32))
    y = run_convert(np.array([1.0, 1000.0, -0.3], np.float32), np.zeros(3, ml_dtypes.float8_e5m2))
    np.testing.assert_array_equal(y.astype(np.float32), [1.0, 1024.0, -0.3125])


@triton.jit
def moves_kernel(X, Z, Y, B, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(X + offs, mask=offs < BLOCK - 2, other=1.5)  # `other` encoded at compile time
    c = tl.full((BLOCK,), -2.0, X.dtype.element_ty)
    z = tl.where(offs % 2 == 0, x, c)
    z = tl.reshape(tl.trans(tl.reshape(z, (2, BLOCK // 2))), (BLOCK,))
    tl.store(Z + offs, tl.abs(z))
    tl.store(Y + offs, x.to(tl.int8, bitcast=True))
    tl.store(B + offs, tl.load(Y + offs).to(tl.float8e5, bitcast=True).to(tl.float32))


def test_fp8_values_move_select_bitcast_and_abs():
    block = 16
    x = np.arange(block, dtype=np.float32).astype(ml_dtypes.float8_e4m3fn) * -1
    z = np.zeros(block, ml_dtypes.float8_e4m3fn)
    y = np.zeros(block, np.int8)
    b = np.zeros(block, np.float32)
    moves_kernel[(1,)](x, z, y, b, BLOCK=block)
    xl = x.astype(np.float32)
    xl[-2:] = 1.5
    w = np.where(np.arange(block) % 2 == 0, xl, -2.0)
    np.testing.assert_array_equal(z.astype(np.float32), np.abs(w.reshape(2, block // 2).T.reshape(-1)))
    np.testing.assert_array_equal(y.view(np.uint8), xl.astype(ml_dtypes.float8_e4m3fn).view(np.uint8))
    np.testing.assert_array_equal(b, y.view(ml_dtypes.float8_e5m2).astype(np.float32))


@triton.jit
def fp8_arith_kernel(X, Y, Z, C, N: tl.constexpr):
    offs = tl.arange(0, N)
    x = tl.load(X + offs)
    y = tl.load(Y + offs)
    tl.store(Z + 0 * N + offs, x + y)
    tl.store(Z + 1 * N + offs, x - y)
    tl.store(Z + 2 * N + offs, x * y)
    tl.store(Z + 3 * N + offs, x / y)
    tl.store(Z + 4 * N + offs, tl.maximum(x, y))
    tl.store(Z + 5 * N + offs, -x)
    tl.store(Z + 6 * N + offs, tl.where(x < y, x * 2, y))
    tl.store(C + 0 * N + offs, (x < y).to(tl.int8))
    tl.store(C + 1 * N + offs, (x == y).to(tl.int8))
    tl.store(C + 2 * N + offs, (x >= 1.5).to(tl.int8))


@pytest.mark.parametrize("name", list(FORMATS))
def test_fp8_arithmetic_is_exact_then_rounded_once(name):
    # upstream types x op y of one float8 format as that format; here each op is computed
    # exactly (in float32, from the exact values) and rounded to nearest even, saturating.
    rng = np.random.default_rng(2)
    n = 256
    dec = reference_decode(name)
    finite = np.nonzero(np.isfinite(dec))[0].astype(np.uint8)
    xc, yc = rng.choice(finite, n), rng.choice(finite, n)
    xc[:4], yc[:4] = finite[-1], finite[-1]  # the largest value: sums overflow and saturate
    z = as_fp8(np.zeros(7 * n, np.uint8), name)
    c = np.zeros(3 * n, np.int8)
    fp8_arith_kernel[(1,)](as_fp8(xc, name), as_fp8(yc, name), z, c, N=n)
    x, y = dec[xc], dec[yc]
    with np.errstate(all="ignore"):
        want = [x + y, x - y, x * y, x / y, np.maximum(x, y), -x, None]
    enc = lambda v: expected_codes(name, v.astype(np.float32))
    got = z.base.reshape(7, n)
    for k, w in enumerate(want[:6]):
        e = enc(w)
        nan = np.isnan(w)
        assert np.isnan(dec[got[k][nan]]).all()
        bad = np.nonzero(got[k][~nan] != e[~nan])[0]
        assert bad.size == 0, (k, [(float(x[~nan][i]), float(y[~nan][i]), hex(got[k][~nan][i]), hex(e[~nan][i])) for i in bad[:4]])
    two = dec[enc(np.array([2.0], np.float32))][0]  # the constant in the format (1.75 in float8e4b15)
    sel = np.where(x < y, dec[enc(x * two)], y)
    same_floats(dec[got[6]], sel)
    np.testing.assert_array_equal(c.reshape(3, n), [x < y, x == y, x >= np.float32(dec[enc(np.float32(1.5) + np.zeros(1, np.float32))][0])])


@triton.jit
def fp8_reduce_kernel(X, S, M, P, N: tl.constexpr):
    x = tl.load(X + tl.arange(0, N))
    tl.store(S, tl.sum(x, axis=0))
    tl.store(M, tl.max(x, axis=0))
    tl.store(P + tl.arange(0, N), tl.cumsum(x, axis=0))


@pytest.mark.parametrize("name", ["float8e4nv", "float8e5", "float8e4b8"])
def test_fp8_reductions_and_scans(name):
    # small integers keep every partial sum exact in float8, whatever the order
    n = 16
    vals = np.array([0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0], np.float32)  # sums up to 7
    codes = expected_codes(name, vals)
    s = as_fp8(np.zeros(1, np.uint8), name)
    m = as_fp8(np.zeros(1, np.uint8), name)
    p = as_fp8(np.zeros(n, np.uint8), name)
    fp8_reduce_kernel[(1,)](as_fp8(codes, name), s, m, p, N=n)
    dec = reference_decode(name)
    assert dec[s.base[0]] == vals.sum() and dec[m.base[0]] == 1.0
    np.testing.assert_array_equal(dec[p.base], np.cumsum(vals))


def test_fp8_mixed_with_other_types_follows_upstream():
    @triton.jit
    def mixed(X, F, Z):
        offs = tl.arange(0, 16)
        x = tl.load(X + offs)
        tl.store(Z + offs, x + tl.load(F + offs))  # float8 + float32 computes in float32

    x = (np.arange(16) / 4).astype(ml_dtypes.float8_e5m2)
    f = np.full(16, 0.1, np.float32)
    z = np.zeros(16, np.float32)
    mixed[(1,)](x, f, z)
    np.testing.assert_array_equal(z, x.astype(np.float32) + f)

    @triton.jit
    def with_int(X, I, Z):
        offs = tl.arange(0, 16)
        tl.store(Z + offs, tl.load(X + offs) + tl.load(I + offs))

    with pytest.raises(CompilationError, match="unexpected type"):
        with_int[(1,)](x, np.zeros(16, np.int32), z)


def test_fp8_dtype_attributes():
    assert tl.float8e5.primitive_bitwidth == 8 and tl.float8e5.fp_mantissa_width == 2
    assert tl.float8e4nv.exponent_bias == 7 and tl.float8e4b15.exponent_bias == 15
    assert tl.float8e4nv.is_fp8() and tl.float8e4nv.is_fp8e4nv() and not tl.float8e4nv.is_fp8e5()
    assert tl.float8e5b16.is_floating() and not tl.float8e5b16.is_standard_floating()

    @triton.jit
    def k(X, Z):
        d = X.dtype.element_ty
        tl.static_assert(d.is_fp8() and d.is_fp8e5b16() and d.fp_mantissa_width == 2)
        tl.static_assert(d.primitive_bitwidth == 8 and d.exponent_bias == 16)
        tl.store(Z, 1)

    k[(1,)](np.zeros(1, ml_dtypes.float8_e5m2fnuz), np.zeros(1, np.int32))


# ----- fp_downcast_rounding="rtz": round toward zero, exactly -----

def _wide_decode(np_type):
    codes = np.arange(1 << 15, dtype=np.uint16)
    return codes.view(np_type).astype(np.float32)


# name -> (sign bit, largest positive finite code, has infinities, no -0)
RTZ_FORMATS = {
    "float16": (15, 0x7BFF, True, False),
    "bfloat16": (15, 0x7F7F, True, False),
    "float8e4nv": (7, 0x7E, False, False),
    "float8e5": (7, 0x7B, True, False),
    "float8e4b15": (7, 0x7E, False, False),
    "float8e4b8": (7, 0x7F, False, True),
    "float8e5b16": (7, 0x7F, False, True),
}


def rtz_reference(name, x):
    """The code of the largest-magnitude finite value not above |x|, with x's sign (IEEE
    round toward zero: overflow gives the largest finite value); infinities stay infinite in
    formats that have them, else saturate. NaN is checked separately."""
    sign_bit, max_code, has_inf, fnuz = RTZ_FORMATS[name]
    if name == "float16":
        pos = _wide_decode(np.float16)[: max_code + 1]
    elif name == "bfloat16":
        pos = _wide_decode(ml_dtypes.bfloat16)[: max_code + 1]
    else:
        pos = reference_decode(name)[: max_code + 1]
    a = np.abs(x.astype(np.float64))
    code = np.searchsorted(pos.astype(np.float64), a, side="right") - 1
    code = np.minimum(code, max_code).astype(np.uint32)
    if has_inf:
        code[np.isinf(a)] = max_code + 1  # the infinity's code follows the largest finite one
    neg = np.signbit(x) & ~((code == 0) & fnuz)
    return code | np.where(neg, 1 << sign_bit, 0).astype(np.uint32)


def rtz_probe(name, rng):
    sign_bit, max_code, _, _ = RTZ_FORMATS[name]
    if name.startswith("float8"):
        reps = reference_decode(name)[: max_code + 1]
    else:
        # every 37th code, plus the subnormals, smallest normals and the largest values
        codes = np.unique(np.concatenate([np.arange(0, max_code + 1, 37), np.arange(0, 2100), np.arange(max_code - 2100, max_code + 1)]))
        reps = (_wide_decode(np.float16) if name == "float16" else _wide_decode(ml_dtypes.bfloat16))[codes]
    reps = reps.astype(np.float32)
    near = np.concatenate([reps, np.nextafter(reps, np.float32(np.inf)), np.nextafter(reps, np.float32(0))])
    maxv = float(reps.max())
    rand = np.concatenate([
        rng.standard_normal(4000) * maxv / 4,
        np.exp(rng.uniform(np.log(1e-38), np.log(min(maxv * 64, 3e38)), 4000)),
    ]).astype(np.float32)
    with np.errstate(over="ignore"):
        specials = np.array([0.0, 1e-40, 1e-45, 2.0**-126, np.inf, maxv * 1.01, maxv * 8, 3.4e38], np.float32)
    v = np.concatenate([near, rand, specials])
    return np.concatenate([v, -v, [np.nan, -np.nan]]).astype(np.float32)


@triton.jit
def rtz_kernel(X, Z, n, BLOCK: tl.constexpr, CAST: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(X + offs, mask=m)
    if CAST:
        y = tl.cast(x, Z.dtype.element_ty, fp_downcast_rounding="rtz")
    else:
        y = x.to(Z.dtype.element_ty, fp_downcast_rounding="rtz")
    tl.store(Z + offs, y, mask=m)


def _codes(name, z):
    return z.view(np.uint16 if not name.startswith("float8") else np.uint8).astype(np.uint32)


def _out_array(name, n):
    if name == "float16":
        return np.zeros(n, np.float16)
    if name == "bfloat16":
        return np.zeros(n, ml_dtypes.bfloat16)
    return as_fp8(np.zeros(n, np.uint8), name)


def _check_rtz(name, x, got):
    nan = np.isnan(x.astype(np.float32))
    exp = rtz_reference(name, x[~nan])
    g = got[~nan]
    bad = np.nonzero(g != exp)[0]
    assert bad.size == 0, [(float(x[~nan][i]), hex(g[i]), hex(exp[i])) for i in bad[:5]]
    sign_bit, max_code, has_inf, fnuz = RTZ_FORMATS[name]
    nan_codes = got[nan]
    if fnuz:
        assert (nan_codes == 0x80).all()
    else:
        mag = nan_codes & ((1 << sign_bit) - 1)
        assert (mag > (max_code + 1 if has_inf else max_code)).all()  # NaN codes only


@pytest.mark.parametrize("name", list(RTZ_FORMATS))
@pytest.mark.parametrize("cast", [False, True])
def test_float32_rtz_downcast_is_exact(name, cast):
    x = rtz_probe(name, np.random.default_rng(11))
    z = _out_array(name, x.shape[0])
    rtz_kernel[(triton.cdiv(x.shape[0], 256),)](x, z, x.shape[0], BLOCK=256, CAST=cast)
    got = _codes(name, z.base if name.startswith("float8") else z)
    _check_rtz(name, x, got)


@pytest.mark.parametrize("name", [n for n in RTZ_FORMATS if n.startswith("float8")])
@pytest.mark.parametrize("wide", ["float16", "bfloat16"])
def test_16_bit_rtz_downcast_to_fp8_is_exact(name, wide):
    np_wide = np.float16 if wide == "float16" else ml_dtypes.bfloat16
    x32 = rtz_probe(name, np.random.default_rng(5))
    with np.errstate(over="ignore"):
        x = x32.astype(np_wide)
    z = _out_array(name, x.shape[0])
    rtz_kernel[(triton.cdiv(x.shape[0], 256),)](x, z, x.shape[0], BLOCK=256, CAST=False)
    _check_rtz(name, x.astype(np.float32), _codes(name, z.base))


def test_rtz_on_a_conversion_that_does_not_narrow_is_upstreams_error():
    @triton.jit
    def k(X, Z):
        x = tl.load(X + tl.arange(0, 16))
        tl.store(Z + tl.arange(0, 16), x.to(tl.float32, fp_downcast_rounding="rtz"))

    with pytest.raises(CompilationError, match="fp_downcast_rounding should be set only for truncating fp conversions"):
        k[(1,)](np.zeros(16, np.float16), np.zeros(16, np.float32))


@triton.jit
def fp8_dot_kernel(A, B, C, N: tl.constexpr):
    r = tl.arange(0, N)
    a = tl.load(A + r[:, None] * N + r[None, :])
    b = tl.load(B + r[:, None] * N + r[None, :])
    tl.store(C + r[:, None] * N + r[None, :], tl.dot(a, b))


@pytest.mark.parametrize("fa, fb", [("float8e4nv", "float8e4nv"), ("float8e5", "float8e5"), ("float8e4nv", "float8e5"),
                                    ("float8e4b15", "float8e4b15")])
def test_fp8_dot_is_exact_through_float16(fa, fb):
    n = 32
    rng = np.random.default_rng(9)
    a = rng.integers(0, 256, n * n).astype(np.uint8)
    b = rng.integers(0, 256, n * n).astype(np.uint8)
    for codes, name in ((a, fa), (b, fb)):
        codes[np.isnan(reference_decode(name)[codes]) | np.isinf(reference_decode(name)[codes])] = 0
    c = np.zeros(n * n, np.float32)
    fp8_dot_kernel[(1,)](as_fp8(a, fa), as_fp8(b, fb), c, N=n)
    ra = reference_decode(fa)[a].reshape(n, n).astype(np.float64)
    rb = reference_decode(fb)[b].reshape(n, n).astype(np.float64)
    np.testing.assert_allclose(c.reshape(n, n), ra @ rb, rtol=1e-5, atol=1e-5 * np.abs(ra).max() * np.abs(rb).max() * n)
