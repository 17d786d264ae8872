"""Conversions between pointers and integers, as upstream's `cast`/`bitcast` define them:
`x.to(tl.pi32_t)` / `tl.cast(i, tl.pointer_type(T))` make a pointer from an integer address
(`tt.int_to_ptr`), a pointer cast to int64 is its address and to int1 whether it is non-null,
and a pointer bitcast is a cast. Run on the CPU executor (whose bounds checker still checks
accesses through such pointers) and checked against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError


@triton.jit
def _where_pointers(C, A, B, Out, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(A + offs, mask=m).to(tl.pi32_t)
    b = tl.load(B + offs, mask=m).to(tl.pi32_t)
    tl.store(Out + offs, tl.where(tl.load(C + offs, mask=m), a, b), mask=m)


def test_int64_to_pointer_select_and_back():
    # upstream's test_where[*int32]: arbitrary 64-bit integers survive int -> pointer -> int64
    rs = np.random.RandomState(3)
    n = 300
    c = rs.rand(n) < 0.5
    a = rs.randint(-(2**62), 2**62, n, dtype=np.int64)
    b = rs.randint(-(2**62), 2**62, n, dtype=np.int64)
    a[:3] = [0, -1, np.iinfo(np.int64).min]
    out = np.zeros(n, np.int64)
    _where_pointers[(3,)](c, a, b, out, n, BLOCK=128)
    np.testing.assert_array_equal(out, np.where(c, a, b))


@triton.jit
def _through_address(X, Out, N: tl.constexpr, SHIFT):
    offs = tl.arange(0, N)
    addr = X.to(tl.int64) + (offs + SHIFT).to(tl.int64) * 4  # byte addresses of float32s
    p = addr.to(tl.pointer_type(tl.float32))
    tl.store(Out + offs, tl.load(p) * 2.0)


def test_load_through_a_pointer_made_from_an_integer():
    x = np.arange(16, dtype=np.float32) + 0.5
    out = np.zeros(8, np.float32)
    _through_address[(1,)](x, out, N=8, SHIFT=4)
    np.testing.assert_array_equal(out, x[4:12] * 2)


def test_bounds_checker_checks_pointers_made_from_integers():
    # A pointer made from an integer may address any memory of the process (as a GPU kernel
    # any device address: Triton's grouped GEMM loads a table of data pointers), so the CPU
    # executor accepts such an access where the memory is mapped, and refuses it elsewhere.
    x = np.arange(16, dtype=np.float32)
    out = np.zeros(8, np.float32)
    shift = 16 - x.ctypes.data // 4  # bytes 64.. of the address space: never mapped
    with pytest.raises(Exception, match="out-of-bounds load .* through a pointer made from an integer"):
        _through_address[(1,)](x, out, N=8, SHIFT=shift)


@triton.jit
def _pointer_to_ints(X, Addr, NonNull):
    offs = tl.arange(0, 4)
    p = X + offs
    tl.store(Addr + offs, p.to(tl.int64) - X.to(tl.int64))
    tl.store(NonNull + offs, p.to(tl.int1))
    q = tl.cast(p, tl.pointer_type(tl.int32), bitcast=True)  # a pointer bitcast: same address
    tl.store(Addr + 4 + offs, q.to(tl.int64, bitcast=True) - X.to(tl.int64))


def test_pointer_to_int64_and_int1():
    x = np.zeros(4, np.float32)
    addr = np.zeros(8, np.int64)
    nonnull = np.zeros(4, np.int8)
    _pointer_to_ints[(1,)](x, addr, nonnull)
    np.testing.assert_array_equal(addr, [0, 4, 8, 12, 0, 4, 8, 12])
    np.testing.assert_array_equal(nonnull, [1, 1, 1, 1])


@triton.jit
def _int32_address(X, Out):
    # an int32 converts zero-extended (LLVM's inttoptr); the address is read back, not used
    p = tl.full((4,), -1, tl.int32).to(tl.pi32_t)
    tl.store(Out + tl.arange(0, 4), p)


def test_narrow_integer_to_pointer_zero_extends():
    out = np.zeros(4, np.int64)
    _int32_address[(1,)](np.zeros(1, np.int32), out)
    np.testing.assert_array_equal(out, [0xFFFFFFFF] * 4)


def test_refused_pointer_conversions():
    @triton.jit
    def float_to_ptr(X):
        tl.store(X, 1.5)
        p = tl.load(X).to(tl.pi32_t)
        tl.store(p, 1)

    @triton.jit
    def ptr_to_int32(X, Out):
        tl.store(Out, X.to(tl.int32))

    with pytest.raises(CompilationError, match=r"cannot cast fp32 to pointer<int32>"):
        float_to_ptr[(1,)](np.zeros(1, np.float32))
    with pytest.raises(CompilationError, match=r"cannot cast pointer<float32> to int32"):
        ptr_to_int32[(1,)](np.zeros(1, np.float32), np.zeros(1, np.int32))
