"""Vector add end to end: Python source -> Rust compiler -> MSL -> CPU executor,
checked against numpy over sizes, block sizes, warps and dtypes."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(axis=0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, x + y, mask=mask)


def launch_add(x, y, block, num_warps=4):
    out = np.full_like(x, 7)  # sentinel-filled so unwritten elements show
    n = x.size
    add_kernel[(triton.cdiv(n, block),)](x, y, out, n, BLOCK=block, num_warps=num_warps)
    return out


def rand(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(n).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), n).astype(dtype)


@pytest.mark.parametrize("n", [1, 17, 128, 1000, 1024, 4099, 1_000_003])
def test_sizes(n):
    x, y = rand(n, np.float32, 1), rand(n, np.float32, 2)
    np.testing.assert_array_equal(launch_add(x, y, 1024), x + y)


@pytest.mark.parametrize("block", [16, 64, 256, 1024, 4096])
@pytest.mark.parametrize("num_warps", [1, 4, 8])
def test_blocks_and_warps(block, num_warps):
    n = 3 * block + 5
    x, y = rand(n, np.float32, 3), rand(n, np.float32, 4)
    np.testing.assert_array_equal(launch_add(x, y, block, num_warps), x + y)


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float16, np.int32, np.int8, np.int16, np.int64, np.uint8, np.uint16, np.uint32, np.uint64]
)
@pytest.mark.parametrize("n", [1000, 4096])
def test_dtypes(dtype, n):
    x, y = rand(n, dtype, 5), rand(n, dtype, 6)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(launch_add(x, y, 256), x + y)


@triton.jit
def int64_bounds(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0).to(tl.int64)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    m = offs < n  # n does not fit in int32: the comparison happens in int64
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1, mask=m & (offs < 256))


def test_int64_scalars_and_offsets():
    x = np.arange(256, dtype=np.int32)
    out = np.zeros_like(x)
    k = int64_bounds[(2,)](x, out, 2**33, BLOCK=128)
    assert "%arg2: i64" in k.asm["ttir"]
    np.testing.assert_array_equal(out, x + 1)


def test_int32_overflow_wraps():
    x = np.array([2**31 - 1, -(2**31), 5], dtype=np.int32)
    y = np.array([1, -1, 6], dtype=np.int32)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(launch_add(x, y, 16), x + y)


@triton.jit
def masked_copy(src, dst, n, fill, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(src + offs, mask=offs < n, other=fill)
    tl.store(dst + offs, v)


def test_mask_with_other_fills_masked_lanes():
    n, block = 100, 128
    src = rand(n, np.float32)
    dst = np.zeros(block, dtype=np.float32)
    masked_copy[(1,)](src, dst, n, -3.5, BLOCK=block)
    np.testing.assert_array_equal(dst[:n], src)
    np.testing.assert_array_equal(dst[n:], np.full(block - n, -3.5, np.float32))


@triton.jit
def masked_load_no_other(src, dst, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    v = tl.load(src + offs, mask=m)
    tl.store(dst + offs, v, mask=m)


def test_mask_without_other_touches_nothing_outside():
    n, block = 37, 64
    src = rand(n, np.float32)
    dst = np.full(block, 9.0, dtype=np.float32)
    masked_load_no_other[(1,)](src, dst, n, BLOCK=block)
    np.testing.assert_array_equal(dst[:n], src)
    np.testing.assert_array_equal(dst[n:], 9.0)


@triton.jit
def axpby(x_ptr, y_ptr, out_ptr, n, alpha, beta, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = (offs < n) & (offs >= 0)
    x = tl.load(x_ptr + offs, mask=m, other=0.0)
    y = tl.load(y_ptr + offs, mask=m, other=0.0)
    tl.store(out_ptr + offs, alpha * x + beta * y, mask=m)


def test_scalar_arguments():
    n = 5000
    x, y = rand(n, np.float32, 7), rand(n, np.float32, 8)
    out = np.zeros_like(x)
    axpby[(triton.cdiv(n, 512),)](x, y, out, n, 2.5, -0.5, BLOCK=512)
    np.testing.assert_allclose(out, np.float32(2.5) * x + np.float32(-0.5) * y, rtol=1e-6)


@triton.jit
def int_ops(a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m, other=0)
    b = tl.load(b_ptr + offs, mask=m, other=1)
    r = (a // b) * 3 + (a % b) - (a | 1) + (a & b) + ((a == b) | (a > 0)).to(tl.int32)
    tl.store(out_ptr + offs, r, mask=m)


def test_c_style_integer_division_and_logic():
    n = 300
    rng = np.random.default_rng(9)
    a = rng.integers(-100, 100, n).astype(np.int32)
    b = rng.integers(1, 20, n).astype(np.int32) * rng.choice([-1, 1], n).astype(np.int32)
    out = np.zeros(n, np.int32)
    int_ops[(triton.cdiv(n, 128),)](a, b, out, n, BLOCK=128)
    q = np.trunc(a / b).astype(np.int32)  # C semantics, not Python's floor
    r = a - q * b
    expected = q * 3 + r - (a | 1) + (a & b) + ((a == b) | (a > 0)).astype(np.int32)
    np.testing.assert_array_equal(out, expected)


def test_asm_exposes_ir_and_msl():
    x = rand(64, np.float32)
    out = np.empty_like(x)
    k = add_kernel[(1,)](x, x, out, 64, BLOCK=64)
    assert "tt.load" in k.asm["ttir"] and "tt.func public @add_kernel" in k.asm["ttir"]
    assert "kernel void add_kernel(" in k.asm["msl"]
    assert "[[threadgroup_position_in_grid]]" in k.asm["msl"]


def test_loads_are_vectorised_when_provably_aligned():
    x = rand(4096, np.float32)
    out = np.empty_like(x)
    k = add_kernel[(4,)](x, x, out, 4096, BLOCK=1024)  # n % 16 == 0: masks uniform per float4
    assert "float4" in k.asm["msl"]
    np.testing.assert_array_equal(out, x + x)
    k2 = add_kernel[(4,)](x, x, out, 4095, BLOCK=1024)  # n odd: scalar accesses
    assert "float4" not in k2.asm["msl"]


def test_specialisations_are_cached():
    x = rand(256, np.float32)
    out = np.empty_like(x)
    k1 = add_kernel[(1,)](x, x, out, 256, BLOCK=256)
    k2 = add_kernel[(1,)](x, x, out, 256, BLOCK=256)
    k3 = add_kernel[(2,)](x, x, out, 256, BLOCK=128)
    assert k1 is k2 and k1 is not k3


def test_grid_callable_gets_meta_parameters():
    n = 3000
    x, y = rand(n, np.float32), rand(n, np.float32)
    out = np.zeros_like(x)
    seen = {}

    def grid(meta):
        seen.update(meta)
        return (triton.cdiv(n, meta["BLOCK"]),)

    add_kernel[grid](x, y, out, n, BLOCK=512)
    assert seen["BLOCK"] == 512 and seen["n"] == n
    np.testing.assert_array_equal(out, x + y)


def test_helpers():
    assert triton.cdiv(10, 3) == 4
    assert [triton.next_power_of_2(v) for v in (0, 1, 2, 3, 1000)] == [1, 1, 2, 4, 1024]


@triton.jit
def constexpr_kind(out_ptr, V: tl.constexpr):
    tl.store(out_ptr + tl.arange(0, 2), tl.full((2,), V, tl.float32) / 2)


def test_constexpr_int_float_and_bool_specialise_separately():
    out = np.zeros(2, np.float32)
    constexpr_kind[(1,)](out, V=1)
    k_int = constexpr_kind[(1,)](out, V=1)
    k_float = constexpr_kind[(1,)](out, V=1.0)
    k_bool = constexpr_kind[(1,)](out, V=True)
    assert len({id(k_int), id(k_float), id(k_bool)}) == 3
    np.testing.assert_array_equal(out, [0.5, 0.5])
