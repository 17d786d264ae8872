"""Patterns found in real libraries' Triton kernels (Triton tutorials, vLLM/SGLang, flash-linear-
attention, mamba), each as a small kernel of our own run on the CPU executor against numpy.

A library kernel that failed on triton_metal gave each test here: the test keeps the pattern,
not the library's code.
"""

import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def _maybe_negate(x, negate: tl.constexpr = tl.core.CONSTEXPR_0):
    if negate:
        return -x
    return x


@triton.jit
def _constexpr_default_kernel(x_ptr, out_ptr, NEGATE: tl.constexpr, SCALE: tl.constexpr = tl.core.CONSTEXPR_1):
    offs = tl.arange(0, 16)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, _maybe_negate(x) * SCALE + _maybe_negate(x, NEGATE) * 10)


def test_parameter_defaults_read_language_constants():
    """Parameter defaults are evaluated by the compiler from the source: the globals they name
    (`tl` here) are collected like the body's, and upstream's tl.core.CONSTEXPR_0/_1 exist
    (flash-linear-attention's sorting helpers default `descending` to CONSTEXPR_0)."""
    x = np.arange(16, dtype=np.float32) - 5
    out = np.zeros_like(x)
    _constexpr_default_kernel[(1,)](x, out, True)
    np.testing.assert_array_equal(out, x - 10 * x)
    _constexpr_default_kernel[(1,)](x, out, False, SCALE=3)
    np.testing.assert_array_equal(out, 3 * x + 10 * x)
    assert tl.core.CONSTEXPR_0 == 0 and tl.core.CONSTEXPR_1.value == 1


@triton.jit
def _gather_rows_by_address(addrs_ptr, out_addrs_ptr, n, BLOCK: tl.constexpr):
    g = tl.program_id(0)
    src = tl.load(addrs_ptr + g).to(tl.pointer_type(tl.float32))
    dst = tl.load(out_addrs_ptr + g).to(tl.pointer_type(tl.float32))
    offs = tl.arange(0, BLOCK)
    tl.store(dst + offs, tl.load(src + offs, mask=offs < n, other=0.0) * 2 + g, mask=offs < n)


def test_pointers_made_from_addresses_of_arrays_not_passed():
    """A table of data pointers (Triton's grouped-GEMM tutorial, pointer-array kernels): the
    kernel reads and writes arrays it receives only as integer addresses. The CPU executor
    accepts such accesses where the process has the memory mapped (as a GPU kernel may use any
    device address), and refuses unmapped addresses with an error naming the access."""
    import pytest

    srcs = [np.arange(20, dtype=np.float32) * (i + 1) for i in range(3)]
    dsts = [np.zeros(20, np.float32) for _ in range(3)]
    addrs = np.array([a.ctypes.data for a in srcs], np.int64)
    out_addrs = np.array([a.ctypes.data for a in dsts], np.int64)
    _gather_rows_by_address[(3,)](addrs, out_addrs, 20, BLOCK=32)
    for g in range(3):
        np.testing.assert_array_equal(dsts[g], srcs[g] * 2 + g)
    bad = np.array([64, 64, 64], np.int64)  # the first page is never mapped
    with pytest.raises(RuntimeError, match=r"out-of-bounds load at line \d+: .* through a pointer made from an "
                                           r"integer: .* no readable memory there"):  # fmt: skip
        _gather_rows_by_address[(3,)](bad, out_addrs, 20, BLOCK=32)
