"""Atomics and locks executed on the CPU executor (threadgroups run on several
OS threads at once, so races are real) and checked against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError


@triton.jit
def histogram_kernel(x_ptr, bins_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0)
    tl.atomic_add(bins_ptr + x, 1, mask=m)


def test_histogram_with_atomic_add():
    n = 20000
    x = np.random.default_rng(0).integers(0, 37, n).astype(np.int32)
    bins = np.zeros(37, np.int32)
    histogram_kernel[(triton.cdiv(n, 256),)](x, bins, n, BLOCK=256)
    np.testing.assert_array_equal(bins, np.bincount(x, minlength=37))


@triton.jit
def float_max_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=-float("inf"))
    tl.atomic_max(out_ptr, tl.max(x, axis=0))
    tl.atomic_min(out_ptr + 1, tl.min(tl.where(offs < n, x, float("inf")), axis=0))
    tl.atomic_add(out_ptr + 2, tl.sum(tl.where(offs < n, x, 0.0), axis=0))


def test_float_atomic_max_min_add_across_programs():
    n = 10000
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    out = np.array([-np.inf, np.inf, 0.0], np.float32)
    float_max_kernel[(triton.cdiv(n, 128),)](x, out, n, BLOCK=128)
    assert out[0] == x.max() and out[1] == x.min()
    np.testing.assert_allclose(out[2], x.sum(), rtol=1e-4)


@triton.jit
def rmw_kernel(p_ptr, old_ptr, v_ptr, OP: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    v = tl.load(v_ptr + offs)
    if OP == "and":
        old = tl.atomic_and(p_ptr + offs, v)
    elif OP == "or":
        old = tl.atomic_or(p_ptr + offs, v)
    elif OP == "xor":
        old = tl.atomic_xor(p_ptr + offs, v)
    elif OP == "xchg":
        old = tl.atomic_xchg(p_ptr + offs, v)
    elif OP == "max":
        old = tl.atomic_max(p_ptr + offs, v, sem="relaxed", scope="gpu")
    elif OP == "min":
        old = tl.atomic_min(p_ptr + offs, v)
    else:
        old = tl.atomic_cas(p_ptr + offs, v & 3, v)
    tl.store(old_ptr + offs, old)


@pytest.mark.parametrize("op", ["and", "or", "xor", "xchg", "max", "min", "cas"])
@pytest.mark.parametrize("dtype", [np.int32, np.uint32])
def test_block_atomics_return_old_values(op, dtype):
    rng = np.random.default_rng(2)
    p = rng.integers(0, 8, 64).astype(dtype)
    v = rng.integers(0, 8, 64).astype(dtype)
    old = np.zeros_like(p)
    before = p.copy()
    rmw_kernel[(1,)](p, old, v, OP=op, BLOCK=64)
    np.testing.assert_array_equal(old, before)
    expected = {
        "and": before & v, "or": before | v, "xor": before ^ v, "xchg": v,
        "max": np.maximum(before, v), "min": np.minimum(before, v),
        "cas": np.where(before == (v & 3), v, before),
    }[op]
    np.testing.assert_array_equal(p, expected)


@triton.jit
def locked_accumulate(lock_ptr, count_ptr, acc_ptr, x_ptr, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + pid * BLOCK + offs)
    while tl.atomic_cas(lock_ptr, 0, 1) == 1:
        pass
    count = tl.load(count_ptr)
    if count == 0:
        tl.atomic_xchg(count_ptr, 1)
    else:
        x += tl.load(acc_ptr + offs)
    tl.store(acc_ptr + offs, x)
    tl.debug_barrier()
    tl.atomic_xchg(lock_ptr, 0)


def test_spin_lock_with_atomic_cas_serialises_programs():
    programs, block = 64, 128
    x = np.random.default_rng(3).standard_normal((programs, block)).astype(np.float32)
    lock = np.zeros(1, np.int32)
    count = np.zeros(1, np.int32)
    acc = np.full(block, 1234.0, np.float32)
    locked_accumulate[(programs,)](lock, count, acc, x, BLOCK=block)
    np.testing.assert_allclose(acc, x.sum(axis=0), rtol=1e-5, atol=1e-5)
    assert lock[0] == 0 and count[0] == 1


def test_unsupported_atomic_type_is_refused():
    from triton_metal.compiler.errors import CompilationError

    @triton.jit
    def k(p):
        tl.atomic_add(p, 1)

    with pytest.raises(CompilationError, match="int64"):
        k[(1,)](np.zeros(1, np.int64))


# ---- float16 / bfloat16 atomic_add: compare-and-swap on the aligned 32-bit word ----------------

@triton.jit
def half_counter_kernel(out_ptr, NCOUNT: tl.constexpr, BLOCK: tl.constexpr):
    # Every element of every program adds 1 to one of NCOUNT adjacent 16-bit counters: the
    # two halves of each 32-bit word are updated concurrently by many threads.
    offs = tl.arange(0, BLOCK)
    one = tl.full((BLOCK,), 1.0, out_ptr.dtype.element_ty)
    tl.atomic_add(out_ptr + offs % NCOUNT, one)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_16bit_atomic_add_loses_no_update(dtype):
    import ml_dtypes

    np_dtype = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    programs = 64 if dtype == "float16" else 8  # totals stay exact integers (2048, 256)
    out = np.zeros(5, np_dtype)  # 5 counters: the last word is half outside the counters
    half_counter_kernel[(programs,)](out, NCOUNT=4, BLOCK=128)
    np.testing.assert_array_equal(out.astype(np.float32), [programs * 32] * 4 + [0])


@triton.jit
def half_rmw_kernel(p_ptr, old_ptr, v_ptr, m_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    inside = offs < n
    v = tl.load(v_ptr + offs, mask=inside)
    m = tl.load(m_ptr + offs, mask=inside) != 0
    old = tl.atomic_add(p_ptr + offs, v, mask=m & inside, sem="acq_rel", scope="gpu")
    tl.store(old_ptr + offs, old, mask=m & inside)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize("n", [64, 37])
def test_16bit_block_atomic_add_returns_old_values(dtype, n):
    import ml_dtypes

    np_dtype = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    rng = np.random.default_rng(4)
    p = rng.standard_normal(n).astype(np_dtype)
    v = (rng.standard_normal(n) * 100).astype(np_dtype)
    m = rng.integers(0, 2, n).astype(np.int32)
    before = p.copy()
    old = np.zeros(n, np_dtype)
    half_rmw_kernel[(1,)](p, old, v, m, n, BLOCK=64)
    # One rounding of the exact sum (a float32 sum of two 16-bit floats is exact enough).
    expected = np.where(m != 0, (before.astype(np.float32) + v.astype(np.float32)).astype(np_dtype), before)
    np.testing.assert_array_equal(p.view(np.uint16), expected.view(np.uint16))
    np.testing.assert_array_equal(old[m != 0].view(np.uint16), before[m != 0].view(np.uint16))


@triton.jit
def half_ticket_kernel(counter_ptr, tickets_ptr):
    # Scalar form: each program takes a ticket; the old values are 0..programs-1 exactly once.
    old = tl.atomic_add(counter_ptr + 1, 1.0)
    tl.store(tickets_ptr + tl.program_id(0), old)


def test_16bit_scalar_atomic_add_old_values_are_tickets():
    counter = np.zeros(2, np.float16)
    tickets = np.zeros(200, np.float16)
    half_ticket_kernel[(200,)](counter, tickets)
    assert counter[1] == 200 and counter[0] == 0
    np.testing.assert_array_equal(np.sort(tickets.astype(np.float32)), np.arange(200, dtype=np.float32))


@triton.jit
def cas16_kernel(p_ptr, old_ptr, cmp_ptr, v_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    old = tl.atomic_cas(p_ptr + offs, tl.load(cmp_ptr + offs), tl.load(v_ptr + offs))
    tl.store(old_ptr + offs, old)


@pytest.mark.parametrize("dtype", [np.float16, np.int16, np.uint16])
def test_16bit_atomic_cas(dtype):
    rng = np.random.default_rng(5)
    p = rng.integers(0, 3, 64).astype(dtype)
    cmp = rng.integers(0, 3, 64).astype(dtype)
    v = rng.integers(10, 20, 64).astype(dtype)
    before, old = p.copy(), np.zeros_like(p)
    cas16_kernel[(1,)](p, old, cmp, v, BLOCK=64)
    np.testing.assert_array_equal(old, before)
    np.testing.assert_array_equal(p, np.where(before == cmp, v, before))


def test_16bit_atomic_refusals_name_the_rule():
    from triton_metal.compiler.errors import CompilationError

    @triton.jit
    def k(p, OP: tl.constexpr):
        if OP == "max":
            tl.atomic_max(p, 1.0)
        elif OP == "xchg":
            tl.atomic_xchg(p, 1.0)
        else:
            tl.atomic_add(p, 1)

    with pytest.raises(CompilationError, match="atomic_max does not support fp16"):
        k[(1,)](np.zeros(2, np.float16), OP="max")
    with pytest.raises(CompilationError, match="atomic_xchg does not support fp16"):
        k[(1,)](np.zeros(2, np.float16), OP="xchg")
    with pytest.raises(CompilationError, match="atomic_add does not support int16"):
        k[(1,)](np.zeros(2, np.int16), OP="add")
    with pytest.raises(CompilationError, match="atomic_add does not support int8"):
        k[(1,)](np.zeros(2, np.int8), OP="add")
    with pytest.raises(CompilationError, match="uint64 is not supported on Metal.*64-bit"):
        k[(1,)](np.zeros(2, np.uint64), OP="add")
    # A float16 array that starts in the middle of a 32-bit word: refused, not miscomputed.
    with pytest.raises(CompilationError, match="4-byte aligned"):
        k[(1,)](np.zeros(4, np.float16)[1:], OP="add")


# ----- upstream's shape and type rules for value and mask (`_atomic_typechecking_impl`) -----


@triton.jit
def _atomic_value_of_higher_rank(X):
    offs = tl.arange(0, 4)
    tl.atomic_add(X + offs, tl.full((2, 4), 1, tl.int32))


@triton.jit
def _atomic_block_value_single_pointer(X):
    tl.atomic_max(X, tl.arange(0, 4))


@triton.jit
def _atomic_block_mask_single_pointer(X):
    tl.atomic_add(X, 1, mask=tl.arange(0, 4) < 2)


@triton.jit
def _atomic_lower_rank_value_and_mask(X):
    offs = tl.arange(0, 4)[None, :] + 4 * tl.arange(0, 2)[:, None]
    tl.atomic_add(X + offs, tl.arange(0, 4), mask=tl.arange(0, 4) < 3)


@triton.jit
def _atomic_float_value_int_location(X):
    tl.atomic_add(X + tl.arange(0, 4), 2.7)
    tl.atomic_add(X + tl.arange(0, 4), tl.full((4,), -1.5, tl.float32))


def test_atomic_value_may_not_grow_the_pointer_block():
    with pytest.raises(CompilationError, match=r"Expected pointer argument to have shape \[2, 4\] but got \[4\]"):
        _atomic_value_of_higher_rank[(1,)](np.zeros(8, np.int32))
    with pytest.raises(CompilationError, match="Value argument cannot be block type if pointer argument is not a block"):
        _atomic_block_value_single_pointer[(1,)](np.zeros(1, np.int32))
    with pytest.raises(CompilationError, match="Mask argument cannot be block type if pointer argument is not a block"):
        _atomic_block_mask_single_pointer[(1,)](np.zeros(1, np.int32))


def test_atomic_lower_rank_value_and_mask_broadcast():
    x = np.zeros(8, np.int32)
    _atomic_lower_rank_value_and_mask[(1,)](x)
    np.testing.assert_array_equal(x, [0, 1, 2, 0, 0, 1, 2, 0])


def test_atomic_value_is_cast_to_the_element_type():
    # upstream casts the value (float to int truncates toward zero): 2 + (-1)
    x = np.zeros(4, np.int32)
    _atomic_float_value_int_location[(1,)](x)
    np.testing.assert_array_equal(x, [1, 1, 1, 1])
