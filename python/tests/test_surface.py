"""Triton's Python-level API surface: the error hierarchy, dtype objects and their
predicates (in Python and inside kernels), type objects in annotations and isinstance,
getattr on compile-time values. Kernels run on the CPU executor."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl


# ---- errors ---------------------------------------------------------------------------


def test_error_hierarchy():
    assert issubclass(triton.CompilationError, triton.TritonError)
    assert issubclass(triton.OutOfResources, triton.TritonError)
    assert issubclass(triton.TritonError, Exception)
    from triton_metal.errors import TritonError
    from triton_metal.runtime.errors import InterpreterError, OutOfResources

    assert TritonError is triton.TritonError
    assert OutOfResources is triton.OutOfResources
    assert issubclass(InterpreterError, TritonError)


def test_compilation_error_is_a_triton_error():
    @triton.jit
    def bad(X):
        tl.store(X, undefined_name)  # noqa: F821

    with pytest.raises(triton.TritonError, match="undefined_name"):
        bad[(1,)](np.zeros(1, np.float32))


def test_runtime_errors_reachable_as_attributes():
    # `triton.runtime.errors.OutOfResources` without importing the submodule first, as
    # unsloth's grouped GEMM tuning code does.
    assert triton.runtime.errors.OutOfResources is triton.OutOfResources
    assert triton.runtime.OutOfResources is triton.OutOfResources


def test_set_allocator_kept_per_context_and_kernels_still_run():
    from triton_metal.runtime._allocation import get_allocator

    calls = []

    def alloc(size, alignment, stream):
        calls.append(size)
        return np.empty(size, np.int8)

    with pytest.raises(TypeError, match="callable"):
        triton.set_allocator(42)
    import contextvars

    def inside():
        triton.set_allocator(alloc)
        assert get_allocator() is alloc

        @triton.jit
        def copy(X, Y, N: tl.constexpr):
            o = tl.arange(0, N)
            tl.store(Y + o, tl.load(X + o) * 2)

        x = np.arange(16, dtype=np.float32)
        y = np.zeros_like(x)
        copy[(1,)](x, y, N=16)
        np.testing.assert_array_equal(y, x * 2)

    contextvars.copy_context().run(inside)
    # triton_metal kernels need no global scratch memory: the allocator is never called,
    # and outside the context the default is back.
    assert calls == []
    assert get_allocator() is not alloc


# ---- dtype objects in Python ----------------------------------------------------------


def test_dtype_names_and_repr():
    assert repr(tl.int8) == "triton.language.int8"
    assert repr(tl.float32) == "triton.language.float32"
    assert repr(tl.bfloat16) == "triton.language.bfloat16"
    assert (tl.float32.name, tl.int32.name, tl.uint8.name, tl.int1.name) == ("fp32", "int32", "uint8", "int1")
    assert str(tl.float16) == "fp16"
    assert tl.dtype("fp32") is tl.float32
    assert tl.dtype("float32") is tl.float32
    assert tl.dtype(tl.int16) is tl.int16
    assert tl.dtype.SINT_TYPES == ["int8", "int16", "int32", "int64"]
    assert "int1" in tl.dtype.UINT_TYPES
    assert [tl.dtype(n) for n in tl.dtype.STANDARD_FP_TYPES] == [tl.float16, tl.bfloat16, tl.float32, tl.float64]
    assert tl.dtype("fp8e4nv") is tl.float8e4nv and repr(tl.float8e5) == "triton.language.float8e5"
    with pytest.raises(TypeError, match="fp4"):
        tl.dtype("fp4")


def test_dtype_predicates_and_widths():
    assert tl.float32.is_floating() and not tl.float32.is_int()
    assert tl.int8.is_int_signed() and not tl.int8.is_int_unsigned()
    assert tl.uint16.is_int_unsigned() and tl.int1.is_int_unsigned() and tl.int1.is_bool()
    assert tl.float16.is_fp16() and tl.bfloat16.is_bf16() and not tl.float32.is_fp16()
    assert tl.int64.int_bitwidth == 64 and tl.uint8.primitive_bitwidth == 8
    assert (tl.float16.fp_mantissa_width, tl.bfloat16.fp_mantissa_width, tl.float32.fp_mantissa_width) == (10, 7, 23)
    assert (tl.float16.exponent_bias, tl.float64.exponent_bias) == (15, 1023)
    assert tl.int32.int_signedness == tl.dtype.SIGNEDNESS.SIGNED
    assert tl.float32.kind() == tl.dtype.KIND.FLOATING


def test_pointer_and_block_types():
    p = tl.pointer_type(tl.int8)
    assert p.element_ty is tl.int8 and p.is_ptr() and not p.is_floating()
    assert p == tl.pointer_type(tl.int8) and p != tl.pointer_type(tl.int16) and p != tl.int8
    assert tl.pi32_t == tl.pointer_type(tl.int32)
    b = tl.block_type(tl.float32, [4, 8])
    assert b.is_block() and b.scalar is tl.float32 and b.numel == 32
    with pytest.raises(TypeError):
        tl.tensor()


# ---- the same inside kernels ----------------------------------------------------------


@triton.jit
def _scale(x) -> tl.tensor:
    # Compile-time dtype predicates choose the code, as in upstream kernels.
    if x.dtype.is_floating():
        return x * 2
    elif x.dtype.is_int_unsigned():
        return x + 100
    else:
        return x - 1


@triton.jit
def dtype_dispatch(X, Y, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(Y + offs, _scale(tl.load(X + offs)))


@pytest.mark.parametrize("dt", [np.float32, np.float16, np.int32, np.uint8, np.int8])
def test_dtype_predicates_in_kernel(dt):
    x = (np.arange(16) % 7).astype(dt)
    y = np.zeros_like(x)
    dtype_dispatch[(1,)](x, y, BLOCK=16)
    if np.issubdtype(dt, np.floating):
        ref = x * 2
    elif np.issubdtype(dt, np.unsignedinteger):
        ref = x + 100
    else:
        ref = x - 1
    np.testing.assert_array_equal(y, ref.astype(dt))


@triton.jit
def dtype_facts(X, Out):
    ty: tl.constexpr = X.dtype.element_ty
    tl.static_assert(X.dtype.is_ptr())
    tl.static_assert(not ty.is_ptr())
    tl.store(Out + 0, ty.primitive_bitwidth)
    tl.store(Out + 1, ty.is_floating())
    tl.store(Out + 2, ty.is_int_signed())
    tl.store(Out + 3, ty.is_int_unsigned())
    if ty.is_floating():
        tl.store(Out + 4, ty.fp_mantissa_width)
        tl.store(Out + 5, ty.exponent_bias)
    else:
        tl.store(Out + 4, ty.int_bitwidth)
        tl.store(Out + 5, -1)
    tl.store(Out + 6, ty.is_fp16() or ty.is_bf16())
    tl.store(Out + 7, ty == tl.dtype("fp32"))


@pytest.mark.parametrize(
    "dt, expected",
    [
        (np.float32, [32, 1, 0, 0, 23, 127, 0, 1]),
        (np.float16, [16, 1, 0, 0, 10, 15, 1, 0]),
        (np.int16, [16, 0, 1, 0, 16, -1, 0, 0]),
        (np.uint64, [64, 0, 0, 1, 64, -1, 0, 0]),
    ],
)
def test_dtype_attributes_in_kernel(dt, expected):
    out = np.zeros(8, np.int32)
    dtype_facts[(1,)](np.zeros(4, dt), out)
    assert out.tolist() == expected


@triton.jit
def type_tests(X, Out, N: tl.constexpr, F: tl.constexpr, T: tl.constexpr):
    x = tl.load(X + tl.arange(0, 4))
    tl.static_assert(isinstance(x, tl.tensor))
    tl.static_assert(not isinstance(N, tl.tensor))
    tl.static_assert(isinstance(N, tl.constexpr) and isinstance(N, int))
    tl.static_assert(isinstance(F, float) and not isinstance(F, int))
    tl.static_assert(isinstance(T, tl.dtype) and isinstance(x.dtype, tl.dtype))
    tl.static_assert(isinstance(N, (float, int)))
    width: tl.constexpr = getattr(T, "primitive_bitwidth")
    missing: tl.constexpr = getattr(T, "no_such_attribute", 7)
    tl.static_assert(hasattr(T, "is_floating") and not hasattr(T, "no_such_attribute"))
    tl.store(Out + tl.arange(0, 4), x + width + missing)


def test_isinstance_getattr_in_kernel():
    x = np.arange(4, dtype=np.int32)
    out = np.zeros(4, np.int32)
    type_tests[(1,)](x, out, 3, 1.5, tl.float16)
    np.testing.assert_array_equal(out, x + 16 + 7)


@triton.jit
def pointer_type_global(X, Y):
    # A tl.pointer_type value from Python reaches the kernel as a constexpr.
    tl.static_assert(PTR_T.element_ty == tl.int32)
    tl.store(Y, tl.load(X.to(PTR_T)))


PTR_T = tl.pointer_type(tl.int32)


def test_pointer_type_global():
    x = np.array([-7], np.int32)
    y = np.zeros(1, np.int32)
    pointer_type_global[(1,)](x, y)
    assert y[0] == -7


# ---- globals from the user's own modules ------------------------------------------------

import surface_lib  # noqa: E402
import surface_lib as utils  # noqa: E402
from surface_lib import scaled  # noqa: E402


@triton.jit
def uses_module(X, Y, BLOCK: tl.constexpr):
    pid = utils.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(X + offs)
    tl.store(Y + offs, utils.scaled(x) + surface_lib.OFFSET + scaled(x) * utils.SCALE)


def test_module_globals():
    x = np.arange(64, dtype=np.float32)
    y = np.zeros_like(x)
    uses_module[(4,)](x, y, BLOCK=16)
    np.testing.assert_array_equal(y, (x * 3 + 10) + 10 + (x * 3 + 10) * 3)


@triton.jit
def missing_member(X):
    tl.store(X, utils.no_such_helper(1))


def test_module_missing_member_is_a_clear_error():
    with pytest.raises(triton.CompilationError, match="module 'surface_lib' has no attribute 'no_such_helper'"):
        missing_member[(1,)](np.zeros(1, np.float32))


# ---- Python numbers and runtime scalars as values ----------------------------------------


@triton.jit
def full_runtime(Out, val, dtype: tl.constexpr, BLOCK: tl.constexpr):
    # tl.full with a runtime value: the scalar argument cast to dtype, splat.
    a = tl.full([BLOCK], val, dtype)
    tl.static_assert(a.dtype == dtype)
    tl.store(Out + tl.arange(0, BLOCK), a)


@pytest.mark.parametrize("dt, tdt, val", [(np.int16, tl.int16, 7), (np.float32, tl.float32, 2.5), (np.uint8, tl.uint8, 200)])
def test_full_with_runtime_value(dt, tdt, val):
    out = np.zeros(32, dt)
    full_runtime[(1,)](out, val, tdt, BLOCK=32)
    np.testing.assert_array_equal(out, np.full(32, val, dt))


@triton.jit
def number_locals(Out, BLOCK: tl.constexpr):
    value = 1
    tl.static_assert(value.dtype == tl.int32)
    big = 2**40
    tl.static_assert(big.dtype == tl.int64)
    scale = 0.5
    tl.static_assert(scale.dtype == tl.float32)
    acc = 0
    acc = acc.to(tl.int64)
    for i in range(3):
        acc += i
    tl.static_assert(acc.dtype == tl.int64)
    ones = tl.full([BLOCK], value=value, dtype=value.dtype)
    tl.store(Out + tl.arange(0, BLOCK), ones + acc + scale.to(tl.int32))


def test_dtype_and_to_on_python_numbers():
    out = np.zeros(8, np.int64)
    number_locals[(1,)](out, BLOCK=8)
    np.testing.assert_array_equal(out, np.full(8, 1 + 3, np.int64))


# ---- launch arguments --------------------------------------------------------------------


@pytest.mark.parametrize("value, ok", [(2**64 - 1, True), (2**64, False), (-(2**63), True), (-(2**63) - 1, False)])
def test_integer_argument_out_of_range_is_overflow_error(value, ok):
    x = np.zeros(1, np.float32)
    if ok:
        _int_kernel[(1,)](value, x)
    else:
        with pytest.raises(OverflowError, match="does not fit in 64 bits"):
            _int_kernel[(1,)](value, x)


@triton.jit
def _int_kernel(V, X):
    pass


@triton.heuristics({"num_warps": lambda args: 2 if args["n"] < 64 else 8, "BLOCK": lambda args: 32})
@triton.jit
def heuristic_warps(X, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(X + offs, offs, mask=offs < n)


def test_heuristics_set_num_warps():
    x = np.zeros(100, np.int32)
    kernel = heuristic_warps[(4,)](x, 100)
    np.testing.assert_array_equal(x, np.arange(100))
    assert any(k[1] == 8 for k in heuristic_warps.fn.cache)
    heuristic_warps[(1,)](x, 10)
    assert any(k[1] == 2 for k in heuristic_warps.fn.cache)
    del kernel


@triton.jit
def static_range_steps(Out, N: tl.constexpr, STEP: tl.constexpr):
    acc = 0
    for i in tl.static_range(0, N, step=STEP):
        acc += i
    acc2 = 0
    for j in tl.static_range(N, step=STEP):
        acc2 += j
    acc3 = 0
    for k in tl.range(1, N, step=STEP):
        acc3 += k
    tl.store(Out, acc)
    tl.store(Out + 1, acc2)
    tl.store(Out + 2, acc3)


def test_range_step_keyword():
    out = np.zeros(3, np.int32)
    static_range_steps[(1,)](out, N=100, STEP=7)
    assert out.tolist() == [sum(range(0, 100, 7)), sum(range(0, 100, 7)), sum(range(1, 100, 7))]


@triton.jit
def clamp_nan(X, Lo, Hi, Out, PROPAGATE: tl.constexpr):
    offs = tl.arange(0, 4)
    x = tl.load(X + offs)
    y = getattr(tl, "clamp")(x, tl.load(Lo + offs), tl.load(Hi + offs), propagate_nan=getattr(tl.PropagateNan, PROPAGATE))
    tl.store(Out + offs, y)


@pytest.mark.parametrize("propagate", ["NONE", "ALL"])
def test_clamp_propagate_nan(propagate):
    x = np.array([np.nan, -5, 0.5, 9], np.float32)
    lo = np.full(4, -1, np.float32)
    hi = np.full(4, 1, np.float32)
    out = np.zeros(4, np.float32)
    clamp_nan[(1,)](x, lo, hi, out, PROPAGATE=propagate)
    np.testing.assert_array_equal(out[1:], [-1, 0.5, 1])
    assert np.isnan(out[0]) == (propagate == "ALL")


@triton.jit
def true_div(X, Y, Z):
    offs = tl.arange(0, 4)
    tl.store(Z + offs, tl.load(X + offs) / tl.load(Y + offs))


@triton.jit
def true_div_scalar(X, Z, s: tl.constexpr):
    offs = tl.arange(0, 4)
    tl.store(Z + offs, tl.load(X + offs) / s)


def test_true_division_refuses_mixed_signedness():
    # Upstream checks `/` on integers like `//` and `%`.
    x = np.array([1, 2, 3, 4], np.int32)
    with pytest.raises(triton.TritonError, match="Cannot use .* because they have different signedness"):
        true_div[(1,)](x, np.array([1, 2, 3, 4], np.uint32), np.zeros(4, np.float32))
    z = np.zeros(4, np.float32)
    true_div[(1,)](x, np.array([2, 2, 2, 2], np.int32), z)
    np.testing.assert_allclose(z, x / 2)
    # A weak Python int takes the block's type: uint / 2 is fine.
    true_div_scalar[(1,)](np.array([1, 2, 3, 4], np.uint16), z, 2)
    np.testing.assert_allclose(z, np.array([1, 2, 3, 4]) / 2)
