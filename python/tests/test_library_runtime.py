"""Runtime API that kernel libraries build on (learned from FlagGems' generated pointwise
wrappers and its LibEntry launch cache), each checked by running kernels on the CPU
executor: pointer arguments given as any object with data_ptr(), the launch of what
JITFunction.run returns (``kernel[grid](*args)``), ``JITFunction.cache_key``, parameter
defaults and do_not_specialize names, and ``x.type`` inside kernels."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


class StridedView:
    """A view of a numpy array with its own offset, shape and (element) strides, possibly
    negative: the memory a kernel reaches is what the shape and strides span."""

    def __init__(self, base, offset, shape, strides):
        self.base, self.dtype = base, base.dtype
        self.shape, self._strides = tuple(shape), tuple(strides)
        self._ptr = base.ctypes.data + offset * base.itemsize

    def data_ptr(self):
        return self._ptr

    def stride(self):
        return self._strides


@triton.jit
def strided_copy(src, dst, n, s_src, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    tl.store(dst + i, tl.load(src + i * s_src, mask=m), mask=m)


def test_object_with_data_ptr_is_a_pointer():
    a = np.arange(10, dtype=np.float32)
    out = np.zeros(10, np.float32)
    # Reversed: starts at the last element, stride -1 (a view numpy-free code cannot make).
    rev = StridedView(a, 9, (10,), (-1,))
    strided_copy[(1,)](rev, out, 10, -1, BLOCK=16)
    np.testing.assert_array_equal(out, a[::-1])
    # Every other element from the second one.
    out[:] = 0
    strided_copy[(1,)](StridedView(a, 1, (5,), (2,)), out, 5, 2, BLOCK=16)
    np.testing.assert_array_equal(out[:5], a[1::2])


def test_object_with_data_ptr_and_storage():
    torch = pytest.importorskip("torch")

    class TorchView:
        def __init__(self, t, offset):
            self._t, self.dtype, self.device = t, t.dtype, t.device
            self._ptr = t.data_ptr() + offset * t.element_size()

        def data_ptr(self):
            return self._ptr

        def untyped_storage(self):
            return self._t.untyped_storage()

    t = torch.arange(12, dtype=torch.float32)
    out = torch.zeros(12)
    strided_copy[(1,)](TorchView(t, 11), out, 12, -1, BLOCK=16)
    assert torch.equal(out, t.flip(0))


def test_object_without_extent_is_refused():
    class Bare:
        dtype = np.dtype(np.float32)

        def data_ptr(self):
            return 0

    with pytest.raises(TypeError, match="extent of its memory is unknown"):
        strided_copy[(1,)](Bare(), np.zeros(4, np.float32), 4, 1, BLOCK=4)


@triton.jit
def scale_rows(x_ptr, y_ptr, n, factor, BLOCK: tl.constexpr, SQUARE: tl.constexpr = False):
    i = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = i < n
    x = tl.load(x_ptr + i, mask=m)
    if SQUARE:
        x = x * x
    tl.store(y_ptr + i, x * factor, mask=m)


def test_launching_what_run_returns():
    x = np.arange(20, dtype=np.float32)
    y = np.zeros(20, np.float32)
    kernel = scale_rows.run(x, y, 20, 2.0, BLOCK=8, grid=(3,))
    np.testing.assert_allclose(y, x * 2)
    # All parameters in order, constexpr ones included (their values are compiled in) ...
    x2 = np.full(20, 3.0, np.float32)
    kernel[(3,)](x2, y, 20, 0.5, 8, False)
    np.testing.assert_allclose(y, 1.5)
    # ... or only those not declared tl.constexpr, as older launchers took them.
    kernel[(3, 1, 1)](x, y, 20, -1.0)
    np.testing.assert_allclose(y, -x)
    with pytest.raises(TypeError, match="takes 6 arguments"):
        kernel[(3,)](x, y)
    with pytest.raises(TypeError, match=r"compiled for \*fp32"):
        kernel[(3,)](x.astype(np.int32), y, 20, 1.0)


def test_params_defaults_and_do_not_specialize():
    @triton.jit(do_not_specialize=["n", "not_a_parameter"])
    def k(x_ptr, n, BLOCK: tl.constexpr = 4):
        tl.store(x_ptr + tl.arange(0, BLOCK), tl.full((BLOCK,), n, tl.int32))

    names = [p.name for p in k.params]
    assert names == ["x_ptr", "n", "BLOCK"]
    assert [p.do_not_specialize for p in k.params] == [False, True, False]
    assert k.params[2].default == 4 and k.params[2].has_default
    assert not k.params[0].has_default
    x = np.zeros(4, np.int32)
    k[(1,)](x, 16)
    np.testing.assert_array_equal(x, 16)


SCALE = 3


def test_cache_key():
    def make():
        @triton.jit
        def f(x_ptr):
            tl.store(x_ptr, tl.load(x_ptr) * SCALE)

        return f

    a, b = make(), make()
    assert a.cache_key == b.cache_key
    assert isinstance(a.cache_key, str) and len(a.cache_key) == 64

    @triton.jit
    def g(x_ptr):
        tl.store(x_ptr, tl.load(x_ptr) * SCALE + 1)

    assert g.cache_key != a.cache_key


@triton.jit
def typed_copy(in_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(in_ptr + offs)
    # The pointee type through .type, as generated pointwise kernels write it.
    y = x.to(out_ptr.type.element_ty)
    tl.static_assert(y.type.is_block())
    tl.static_assert(y.type.shape == (BLOCK,))
    tl.static_assert(y.type.element_ty == out_ptr.dtype.element_ty)
    tl.static_assert(y.type.scalar == y.dtype)
    tl.static_assert(not out_ptr.type.is_block())
    s = tl.sum(x, axis=0)
    tl.static_assert(s.type == s.dtype)
    tl.store(out_ptr + offs, y + s.to(out_ptr.type.element_ty))


def test_tensor_type_attribute():
    x = np.array([1.5, -2.25, 3.0, 4.0], np.float32)
    out = np.zeros(4, np.int32)
    typed_copy[(1,)](x, out, BLOCK=4)
    np.testing.assert_array_equal(out, x.astype(np.int32) + 6)


@triton.jit
def lowest_of(dtype):
    d = dtype.value  # a compile-time value's .value is itself (upstream's tl.constexpr)
    if d.is_floating():
        v: tl.constexpr = float("-inf")
        return v
    else:
        v: tl.constexpr = -(2 ** (d.int_bitwidth - 1))
        return v


@triton.jit
def optional_weight(X, W, Y, n, BLOCK: tl.constexpr):
    i = tl.arange(0, BLOCK)
    m = i < n
    x = tl.load(X + i, mask=m, other=lowest_of(X.dtype.element_ty))
    # Runtime asserts do nothing unless debug is on, as upstream (masked lanes hold -inf).
    assert x > -1e30 and x < 1e30, "out of range"
    if W:  # a pointer argument is true when not null
        x = x * tl.load(W + i, mask=m, other=0)
    tl.store(Y + i, tl.max(x, 0) + x * 0, mask=m)


def test_pointer_truth_runtime_assert_and_constexpr_value():
    x = np.arange(8, dtype=np.float32)
    y = np.zeros(8, np.float32)
    optional_weight[(1,)](x, np.full(8, 2, np.float32), y, 6, BLOCK=8)
    np.testing.assert_array_equal(y, [10] * 6 + [0, 0])
    optional_weight[(1,)](x, None, y, 6, BLOCK=8)
    np.testing.assert_array_equal(y, [5] * 6 + [0, 0])
    xi = np.arange(8, dtype=np.int32) - 3
    yi = np.zeros(8, np.int32)
    optional_weight[(1,)](xi, None, yi, 6, BLOCK=8)
    np.testing.assert_array_equal(yi, [2] * 6 + [0, 0])
