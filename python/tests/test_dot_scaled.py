"""`tl.dot_scaled`: microscaling (OCP MX) operands decoded exactly, scaled by their ue8m0
scales, then multiplied with `tl.dot` (float32 accumulation). The references decode every
code by the formats' definitions (written out here, independent of the compiler and of
ml_dtypes) and compute in float64."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError

ml_dtypes = pytest.importorskip("ml_dtypes")


def e2m1_value(c):
    """S.EE.M, bias 1: 0, 0.5, 1, 1.5, 2, 3, 4, 6."""
    mag = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])[c & 7]
    return np.where(c & 8, -mag, mag)


def e4m3_value(c):
    """S.EEEE.MMM, bias 7, no infinities, NaN S.1111.111."""
    c = c.astype(np.int64)
    s, e, m = c >> 7, (c >> 3) & 15, c & 7
    v = np.where(e == 0, m / 8 * 2.0**-6, (1 + m / 8) * 2.0 ** (e - 7))
    v = np.where((e == 15) & (m == 7), np.nan, v)
    return np.where(s == 1, -v, v)


def e5m2_value(c):
    """S.EEEEE.MM, bias 15, IEEE-like: infinities and NaNs at exponent 31."""
    c = c.astype(np.int64)
    s, e, m = c >> 7, (c >> 2) & 31, c & 3
    v = np.where(e == 0, m / 4 * 2.0**-14, (1 + m / 4) * 2.0 ** (e - 15))
    v = np.where(e == 31, np.where(m == 0, np.inf, np.nan), v)
    return np.where(s == 1, -v, v)


def unpack_e2m1(packed, axis):
    """Two codes per byte, the low nibble first, along `axis`."""
    lo, hi = packed & 0xF, packed >> 4
    out = np.stack([lo, hi], axis=axis + 1)
    shape = list(packed.shape)
    shape[axis] *= 2
    return e2m1_value(out.reshape(shape))


def scale_value(s, fast_math=False):
    v = 2.0 ** (s.astype(np.float64) - 127)
    return np.where(s == 255, np.inf if fast_math else np.nan, v)


def decode(x, fmt, pack_axis):
    if fmt == "e2m1":
        return unpack_e2m1(x, pack_axis)
    if fmt == "e4m3":
        return e4m3_value(x)
    if fmt == "e5m2":
        return e5m2_value(x)
    return x.astype(np.float64)


@triton.jit
def dot_scaled_kernel(A, sa0, sa1, AS, B, sb0, sb1, BS, C, Out,
                      AR: tl.constexpr, AC: tl.constexpr, BR: tl.constexpr, BC: tl.constexpr,
                      M: tl.constexpr, N: tl.constexpr, SK: tl.constexpr,
                      fa: tl.constexpr, fb: tl.constexpr, A_PACK: tl.constexpr, B_PACK: tl.constexpr,
                      FAST: tl.constexpr, HAS_ACC: tl.constexpr):
    a = tl.load(A + tl.arange(0, AR)[:, None] * sa0 + tl.arange(0, AC)[None, :] * sa1)
    b = tl.load(B + tl.arange(0, BR)[:, None] * sb0 + tl.arange(0, BC)[None, :] * sb1)
    a_scale = AS
    if AS is not None:
        a_scale = tl.load(AS + tl.arange(0, M)[:, None] * SK + tl.arange(0, SK)[None, :])
    b_scale = BS
    if BS is not None:
        b_scale = tl.load(BS + tl.arange(0, N)[:, None] * SK + tl.arange(0, SK)[None, :])
    offs = tl.arange(0, M)[:, None] * N + tl.arange(0, N)[None, :]
    acc = None
    if HAS_ACC:
        acc = tl.load(C + offs)
    c = tl.dot_scaled(a, a_scale, fa, b, b_scale, fb, acc=acc, fast_math=FAST, lhs_k_pack=A_PACK,
                      rhs_k_pack=B_PACK)
    tl.store(Out + offs, c)


NP_TYPES = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16}


def make_operand(rng, fmt, shape):
    if fmt in NP_TYPES:
        return rng.standard_normal(shape).astype(NP_TYPES[fmt])
    return rng.integers(0, 256, shape, dtype=np.uint8)


def finite_codes(x, fmt):
    """Replaces NaN/inf codes (e4m3 S.1111.111, e5m2 exponent 31) by other codes."""
    if fmt == "e4m3":
        return np.where((x & 0x7F) == 0x7F, x ^ 0x01, x).astype(np.uint8)
    if fmt == "e5m2":
        return np.where((x & 0x7C) == 0x7C, x & 0x83, x).astype(np.uint8)
    return x


def run(fa, fb, M, N, K, scaled=(True, True), pack=(True, True), fast_math=False, acc=False, factor=32,
        seed=0, scales=None, finite=True, col_major=(False, False)):
    rng = np.random.default_rng(seed)
    a_shape = (M, K // 2) if fa == "e2m1" and pack[0] else (M // 2, K) if fa == "e2m1" else (M, K)
    b_shape = (K // 2, N) if fb == "e2m1" and pack[1] else (K, N // 2) if fb == "e2m1" else (K, N)
    a, b = make_operand(rng, fa, a_shape), make_operand(rng, fb, b_shape)
    if finite:
        a, b = finite_codes(a, fa), finite_codes(b, fb)
    sa = rng.integers(110, 140, (M, K // factor), dtype=np.uint8) if scaled[0] else None
    sb = rng.integers(110, 140, (N, K // factor), dtype=np.uint8) if scaled[1] else None
    if scales is not None:
        scales(sa, sb)
    c = rng.standard_normal((M, N)).astype(np.float32)
    out = np.full((M, N), -7.0, np.float32)
    # operands in memory row- or column-major (strides passed to the kernel)
    ak = np.asfortranarray(a) if col_major[0] else a
    bk = np.asfortranarray(b) if col_major[1] else b
    isz = a.itemsize, b.itemsize
    dot_scaled_kernel[(1,)](ak, ak.strides[0] // isz[0], ak.strides[1] // isz[0], sa,
                            bk, bk.strides[0] // isz[1], bk.strides[1] // isz[1], sb, c, out,
                            a_shape[0], a_shape[1], b_shape[0], b_shape[1], M, N, K // factor,
                            fa, fb, pack[0], pack[1], fast_math, acc)
    av = decode(a, fa, 1 if pack[0] else 0)
    bv = decode(b, fb, 0 if pack[1] else 1)
    with np.errstate(invalid="ignore", over="ignore"):
        if sa is not None:
            av = av * np.repeat(scale_value(sa, fast_math), factor, axis=1)
        if sb is not None:
            bv = bv * np.repeat(scale_value(sb, fast_math), factor, axis=1).T
        ref = av @ bv + (c if acc else 0)
        mag = np.abs(av) @ np.abs(bv) + (np.abs(c) if acc else 0)
    return out, ref, mag


def check(out, ref, mag):
    np.testing.assert_array_equal(np.isnan(out), np.isnan(ref))
    fin = np.isfinite(ref)
    np.testing.assert_array_equal(out[~fin & ~np.isnan(ref)], ref[~fin & ~np.isnan(ref)])
    # float32 accumulation of exactly decoded products: errors of a few ulp of the magnitude
    err = np.abs(out[fin].astype(np.float64) - ref[fin])
    assert (err <= 1e-6 * mag[fin] + 1e-30).all(), err.max()


@pytest.mark.parametrize("fa, fb", [("e4m3", "e4m3"), ("e5m2", "e4m3"), ("e4m3", "bf16"), ("bf16", "e5m2"),
                                    ("fp16", "e4m3"), ("e2m1", "fp16")])
def test_scaled_formats(fa, fb):
    """Each operand scaled when it is a microscaling format (fp16/bf16 operands are not)."""
    scaled = (fa not in NP_TYPES, fb not in NP_TYPES)
    check(*run(fa, fb, 32, 32, 64, scaled=scaled))


@pytest.mark.parametrize("fa, fb", [("e4m3", "e5m2"), ("bf16", "e4m3"), ("fp16", "e5m2"), ("bf16", "fp16"),
                                    ("e2m1", "e4m3")])
def test_unscaled(fa, fb):
    """No scales: the decoded values themselves (staged in float16, bfloat16 or float32)."""
    check(*run(fa, fb, 32, 16, 64, scaled=(False, False)))


@pytest.mark.parametrize("pack", [(True, True), (False, True), (True, False), (False, False)])
def test_e2m1_packing(pack):
    """e2m1 packed two per byte along K, or along M (lhs) / N (rhs)."""
    check(*run("e2m1", "e2m1", 32, 32, 64, pack=pack))


def test_col_major_operands():
    check(*run("e2m1", "e4m3", 32, 64, 64, col_major=(True, True)))


def set_special_scales(sa, sb):
    sa[0, 0] = 255  # NaN: row 0 of the result
    sa[1, :] = 0  # 2**-127 (subnormal in float32)
    sa[2, 1] = 200  # 2**73: beyond float16/bfloat16 products, fine in float32
    sb[3, 0] = 60


def test_special_scales():
    out, ref, mag = run("e4m3", "e5m2", 32, 32, 64, scales=set_special_scales)
    assert np.isnan(out[0]).all() and np.isfinite(out[1:]).all()
    assert np.abs(out[2]).max() > 1e15
    check(out, ref, mag)


def test_fast_math_scale_255_is_infinity():
    """With fast_math, 0xFF is not masked to NaN: its bits make an infinity."""
    def scales(sa, sb):
        sa[0, :] = 255

    out, ref, mag = run("e4m3", "e4m3", 32, 32, 64, fast_math=True, scales=scales)
    assert not np.isnan(out[1:]).any()
    check(out, ref, mag)


def test_nan_and_inf_elements():
    """e4m3 NaN codes and e5m2 infinities propagate through the product."""
    out, ref, mag = run("e5m2", "e4m3", 32, 32, 64, finite=False, seed=3)
    assert np.isnan(ref).any()
    check(out, ref, mag)


def test_accumulator_and_scale_factor_16():
    check(*run("e4m3", "e2m1", 32, 32, 64, acc=True, factor=16))


def test_large_blocks_fit_threadgroup_memory():
    """128x128x128 with float32 staging (128 KiB of operands) is staged in pieces of K."""
    check(*run("e2m1", "e5m2", 128, 128, 128, acc=True))


@triton.jit
def error_kernel(A, B, S, Out, CASE: tl.constexpr):
    r32 = tl.arange(0, 32)
    a = tl.load(A + r32[:, None] * 32 + r32[None, :])
    b = tl.load(B + r32[:, None] * 32 + r32[None, :])
    s = tl.load(S + r32[:, None] + tl.arange(0, 1)[None, :])
    if CASE == 0:
        c = tl.dot_scaled(a, s, "e4m3", b, None, "e4m3", out_dtype=tl.float16)
    elif CASE == 1:
        c = tl.dot_scaled(a, s, "e9m9", b, None, "e4m3")
    elif CASE == 2:
        c = tl.dot_scaled(a, s, "e2m3", b, None, "e4m3")
    elif CASE == 3:
        c = tl.dot_scaled(a, s, "e4m3", b, None, "e4m3", lhs_k_pack=False)
    elif CASE == 4:
        c = tl.dot_scaled(a, s, "e4m3", b, None, "e2m1")
    elif CASE == 5:
        c = tl.dot_scaled(a.to(tl.int8, bitcast=True), s, "e4m3", b, None, "e4m3")
    elif CASE == 6:
        c = tl.dot_scaled(a, s, "e4m3", b, None, "e4m3", acc=tl.zeros((32, 32), tl.float16))
    else:
        c = tl.dot_scaled(a, s + tl.zeros((32, 4), tl.uint8), "e4m3", b, None, "e4m3")
    tl.store(Out + r32[:, None] * 32 + r32[None, :], c)


@pytest.mark.parametrize("case, message", [
    (0, "Only float32 is supported for out_dtype at the moment"),
    (1, "Invalid float format: e9m9."),
    (2, "NYI: lhs_format e2m3"),
    (3, "only mxfp4 inputs can be packed along a dimension different than K"),
    (4, "Reduction dimension should pack the same number of elements"),
    (5, "Unexpected dtype for e4m3. Got int8"),
    (6, "expected accumulator dtype fp32, got fp16"),
    (7, "scale factor must be 16 or 32. Got 8"),
])
def test_errors(case, message):
    x = np.zeros((32, 32), np.uint8)
    s = np.full(32, 127, np.uint8)
    with pytest.raises(CompilationError, match=message.replace("(", r"\(").replace("[", r"\[")):
        error_kernel[(1,)](x, x, s, np.zeros((32, 32), np.float32), CASE=case)


@triton.jit
def batched_kernel(A, AS, B, Out, NB: tl.constexpr, M: tl.constexpr, N: tl.constexpr, K: tl.constexpr):
    rb = tl.arange(0, NB)[:, None, None]
    rm = tl.arange(0, M)[None, :, None]
    rn = tl.arange(0, N)[None, None, :]
    rk2 = tl.arange(0, K // 2)
    a = tl.load(A + rb * (M * K // 2) + rm * (K // 2) + rk2[None, None, :])
    a_scale = tl.load(AS + rb * (M * K // 32) + rm * (K // 32) + tl.arange(0, K // 32)[None, None, :])
    b = tl.load(B + rb * (K * N) + tl.arange(0, K)[None, :, None] * N + rn)
    c = tl.dot_scaled(a, a_scale, "e2m1", b, None, "bf16")
    tl.store(Out + rb * (M * N) + rm * N + rn, c)


def test_batched():
    """3-D operands: [B, M, K] (e2m1, scaled per batch) x [B, K, N] (bf16)."""
    rng = np.random.default_rng(5)
    nb, M, N, K = 2, 16, 32, 64
    a = rng.integers(0, 256, (nb, M, K // 2), dtype=np.uint8)
    sa = rng.integers(115, 135, (nb, M, K // 32), dtype=np.uint8)
    b = rng.standard_normal((nb, K, N)).astype(ml_dtypes.bfloat16)
    out = np.zeros((nb, M, N), np.float32)
    batched_kernel[(1,)](a, sa, b, out, nb, M, N, K)
    for i in range(nb):
        av = unpack_e2m1(a[i], 1) * np.repeat(scale_value(sa[i]), 32, axis=1)
        bv = b[i].astype(np.float64)
        check(out[i], av @ bv, np.abs(av) @ np.abs(bv))
