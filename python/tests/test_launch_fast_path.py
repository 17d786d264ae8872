"""The launch fast path (runtime/launcher.py) agrees with the generic path: the same kernel
for every kind of argument, the same errors, callable grids see the same meta-parameters,
and a cleared cache compiles again. Also `_core.host_buffer` against `__array_interface__`."""

import importlib
import inspect

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import _core

jit_module = importlib.import_module("triton_metal.runtime.jit")


@triton.jit
def axpb(x_ptr, out_ptr, n, a, b, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, (x * a + b).to(out_ptr.dtype.element_ty), mask=mask)


def generic_kernel(fn, args, kwargs):
    """The kernel the generic path picks for these arguments (from `fn.cache`)."""
    bound = fn.signature.bind(*args, **{k: v for k, v in kwargs.items() if k != "num_warps"})
    bound.apply_defaults()
    key = fn._specialize(bound.arguments)[0]
    return fn.cache[(key, kwargs.get("num_warps", 4))]


def launch_twice(fn, grid, args, kwargs):
    """Launches through the generic path (a miss) and then the fast path, which must not
    fall back: returns the kernel of the second launch."""
    first = fn[grid](*args, **kwargs)

    def boom(arguments):
        raise AssertionError("the second launch took the generic path")

    fn._specialize = boom
    try:
        second = fn[grid](*args, **kwargs)
    finally:
        del fn._specialize
    assert second is first
    return second


X = np.arange(40, dtype=np.float32) - 7


@pytest.mark.parametrize(
    "x, n, a, b",
    [
        (X, 40, 2.5, 1.0),  # floats
        (X, 32, 3, 16),  # ints (divisible by 16 or not)
        (X, 1, 1, -16),  # ints equal to 1 become constants
        (X, 33, True, False),  # bools
        (X, 20, 2**33, 0),  # int64
        (X[1:], 39, 0.5, 0.25),  # a pointer aligned to 4 bytes only
        (X[2:], 38, 0.5, 0.25),  # to 8 bytes
        (np.arange(40, dtype=np.int32), 40, 2, 3),  # another dtype
    ],
)
def test_fast_path_launches_the_generic_paths_kernel(x, n, a, b):
    out = np.zeros(64, np.float32)
    kernel = launch_twice(axpb, (triton.cdiv(n, 16),), (x, out, n, a, b), {"BLOCK": 16})
    assert kernel is generic_kernel(axpb, (x, out, n, a, b), {"BLOCK": 16})
    ref = (np.asarray(x[:n], np.float64) * a + b).astype(np.float32)
    np.testing.assert_allclose(out[:n], ref, rtol=1e-6)


def test_read_only_arrays_and_num_warps():
    x = X.copy()
    x.setflags(write=False)
    out = np.zeros(40, np.float32)
    kernel = launch_twice(axpb, (3,), (x, out, 40, 2.0, 1.0), {"BLOCK": 16, "num_warps": 2})
    assert kernel is generic_kernel(axpb, (x, out, 40, 2.0, 1.0), {"BLOCK": 16, "num_warps": 2})
    np.testing.assert_allclose(out, X * 2 + 1)


def test_keywords():
    out = np.zeros(40, np.float32)
    kw = dict(x_ptr=X, out_ptr=out, n=40, a=2.0, b=1.0, BLOCK=16)
    launch_twice(axpb, (3,), (), kw)
    np.testing.assert_allclose(out, X * 2 + 1)


@pytest.mark.parametrize("n, a, b", [(np.int64(40), np.float64(2.0), np.int32(1)), (40, np.float32(2.0), np.int64(16))])
def test_numpy_scalars_are_numbers(n, a, b):
    out = np.zeros(40, np.float32)
    kernel = launch_twice(axpb, (3,), (X, out, n, a, b), {"BLOCK": 16})
    assert kernel is generic_kernel(axpb, (X, out, n, a, b), {"BLOCK": 16})
    assert kernel is generic_kernel(axpb, (X, out, int(n), float(a), int(b)), {"BLOCK": 16})
    np.testing.assert_allclose(out, X * float(a) + int(b))


def test_callable_grids_see_the_same_meta_parameters():
    seen = []

    def grid(meta):
        seen.append(dict(meta))
        return (triton.cdiv(meta["n"], meta["BLOCK"]),)

    out = np.zeros(40, np.float32)
    launch_twice(axpb, grid, (X, out, 40, 2.0, 1.0), {"BLOCK": 16, "num_warps": 4})
    names = {"x_ptr", "out_ptr", "n", "a", "b", "BLOCK", "num_warps"}
    assert len(seen) == 2 and seen[0].keys() == seen[1].keys() == names
    assert all(seen[0][k] is seen[1][k] for k in seen[0])


@pytest.mark.parametrize(
    "args, kwargs",
    [
        ((X, X, 4, 1.0), {"BLOCK": 16}),  # missing b
        ((X, X, 4, 1.0, 2.0, 16, 99), {}),  # too many
        ((X, X, 4, 1.0, 2.0), {"BLOK": 16}),  # unknown keyword
        ((X, X, 4, 1.0, 2.0), {"BLOCK": 16, "x_ptr": X}),  # twice
    ],
)
def test_binding_errors_are_the_generic_ones(args, kwargs):
    out = np.zeros(40, np.float32)
    axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=16)
    axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=16)  # cached: the fast path is armed
    with pytest.raises(TypeError) as expected:
        inspect.signature(axpb.fn).bind(*args, **kwargs)
    with pytest.raises(TypeError) as info:
        axpb[(1,)](*args, **kwargs)
    assert str(info.value) == f"kernel 'axpb': {expected.value}"


def test_bad_values_after_caching_raise_the_generic_errors():
    out = np.zeros(40, np.float32)
    for _ in range(2):
        axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=16)
    with pytest.raises(TypeError, match="argument 'x_ptr' of kernel 'axpb' has unsupported type list"):
        axpb[(3,)]([1.0], out, 40, 2.0, 1.0, BLOCK=16)
    with pytest.raises(TypeError, match="arrays of dtype complex64 are not supported"):
        axpb[(3,)](X.astype(np.complex64), out, 40, 2.0, 1.0, BLOCK=16)
    with pytest.raises(ValueError, match="grid dimension 0 is -1"):
        axpb[(-1,)](X, out, 40, 2.0, 1.0, BLOCK=16)
    with pytest.raises(TypeError, match="grid dimension 0 is None of type NoneType; grid entries must be integers"):
        axpb[(None,)](X, out, 40, 2.0, 1.0, BLOCK=16)
    with pytest.raises(ValueError, match="num_warps must be a power of 2"):
        axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=16, num_warps=3)
    with pytest.raises(ValueError, match="num_warps must be a power of 2"):
        axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=16, num_warps=4.0)
    with pytest.raises(OverflowError, match="does not fit in 64 bits"):
        axpb[(3,)](X, out, 2**70, 2.0, 1.0, BLOCK=16)
    axpb[[3]](X, out, 40, 2.0, 1.0, BLOCK=16)  # a list is a grid too


def test_a_cleared_cache_compiles_again():
    out = np.zeros(40, np.float32)
    launch_twice(axpb, (3,), (X, out, 40, 2.0, 1.0), {"BLOCK": 8})
    axpb.cache.clear()
    assert not axpb._fast
    axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=8)
    assert len(axpb.cache) == 1
    axpb.cache = {}  # replacing the dict forgets too
    axpb[(3,)](X, out, 40, 2.0, 1.0, BLOCK=8)
    assert len(axpb.cache) == 1


@triton.jit(do_not_specialize=["n"])
def copy_n(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n, other=0.0), mask=offs < n)


def test_do_not_specialize_keeps_one_kernel():
    out = np.zeros(16, np.float32)
    for n in (16, 1, 5, 16, 1, np.int64(1)):
        out[:] = 0
        copy_n[(1,)](X, out, n, BLOCK=16)
        np.testing.assert_array_equal(out[:n], X[:n])
    assert len(copy_n.cache) == 1 and len(copy_n._fast) == 1


def extent_from_interface(a):
    iface = a.__array_interface__
    addr, readonly = iface["data"]
    start, length = jit_module._extent(addr, iface["shape"], iface.get("strides"), a.itemsize)
    return addr, start, length, 0 if readonly else 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(24, dtype=np.float32),
        lambda: np.arange(24, dtype=np.float32)[::3],
        lambda: np.arange(24, dtype=np.float32)[::-2],
        lambda: np.arange(24, dtype=np.int16).reshape(4, 6).T,
        lambda: np.arange(24, dtype=np.int8).reshape(2, 3, 4)[:, ::-1, 1:],
        lambda: np.zeros((3, 0), np.float32),
        lambda: np.array(5.0, np.float32),
        lambda: np.broadcast_to(np.arange(4, dtype=np.float32), (3, 4)),  # read-only, stride 0
    ],
)
def test_host_buffer_matches_the_array_interface(make):
    a = make()
    buf = _core.host_buffer(a)
    assert buf.as_tuple() == extent_from_interface(a)
    assert buf.address == a.__array_interface__["data"][0]
    assert buf.alignment == jit_module._alignment(buf.address)


def test_host_buffer_of_objects_without_a_buffer_is_none():
    assert _core.host_buffer([1.0, 2.0]) is None
    assert _core.host_buffer(jit_module._WarmupArray(np.dtype(np.float32))) is None


@triton.jit
def fill(out_ptr, unused, value, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.zeros([BLOCK], tl.float32) + value)


@pytest.mark.parametrize("unused", [None, X, 7])
def test_none_and_arrays_in_the_same_position(unused):
    out = np.zeros(16, np.float32)
    kernel = launch_twice(fill, (1,), (out, unused, 2.5), {"BLOCK": 16})
    assert kernel is generic_kernel(fill, (out, unused, 2.5), {"BLOCK": 16})
    np.testing.assert_array_equal(out, 2.5)
