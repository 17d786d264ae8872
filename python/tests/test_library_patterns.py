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
