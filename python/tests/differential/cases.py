"""Kernels and inputs run twice by test_differential.py: under upstream Triton's
interpreter (TRITON_INTERPRET=1) and under triton_metal (`python -m
triton_metal`, so `import triton` is triton_metal). Writes every output to the
.npz file named on the command line.

The kernel sources are plain upstream Triton: nothing here knows which
implementation runs them, except the array wrapper the interpreter needs.
"""

import os
import sys

import numpy as np
import triton
import triton.language as tl

UPSTREAM = not hasattr(triton, "_core")


class _Storage:
    def __init__(self, arr):
        self.arr = arr

    def data_ptr(self):
        return self.arr.ctypes.data

    def cpu(self):
        return self

    def copy_(self, other):
        return self


class NumpyTensor:
    """Just enough of a torch tensor for Triton's interpreter, over numpy memory."""

    _TL = None

    def __init__(self, arr):
        if NumpyTensor._TL is None:
            NumpyTensor._TL = {
                np.dtype(np.float32): tl.float32, np.dtype(np.float16): tl.float16, np.dtype(np.int32): tl.int32,
                np.dtype(np.int64): tl.int64, np.dtype(np.uint32): tl.uint32, np.dtype(np.int8): tl.int8,
                np.dtype(np.int16): tl.int16, np.dtype(np.uint8): tl.uint8,
            }
        self.arr = arr
        self.dtype = NumpyTensor._TL[arr.dtype]

    def data_ptr(self):
        return self.arr.ctypes.data

    def untyped_storage(self):
        return _Storage(self.arr)

    def new_empty(self, *a, **k):
        return NumpyTensor(self.arr)

    def set_(self, *a, **k):
        return self

    def storage_offset(self):
        return 0

    def size(self):
        return self.arr.shape

    def stride(self):
        return tuple(s // self.arr.itemsize for s in self.arr.strides)

    def copy_(self, other):
        return self


def W(a):
    return NumpyTensor(a) if UPSTREAM else a


@triton.jit
def elementwise(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=1.0).to(tl.float32)
    y = tl.load(y_ptr + offs, mask=m, other=1.0).to(tl.float32)
    r = tl.exp(x) * 0.25 + tl.sqrt(tl.abs(y)) - tl.sigmoid(x * y) + tl.where(x > y, x, y) + tl.maximum(x, 0.5)
    tl.store(out_ptr + offs, r, mask=m)


@triton.jit
def integers(a_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    a = tl.load(a_ptr + offs, mask=m, other=1)
    b = tl.load(b_ptr + offs, mask=m, other=1)
    r = a // b + a % b * 3 + (a << 2) - (a >> 1) + (a & b) - (a | 7) + (a ^ b) + (a > b).to(tl.int32)
    tl.store(out_ptr + offs, r, mask=m)


@triton.jit
def rows(x_ptr, out_ptr, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * N + cols, mask=cols < N, other=-float("inf"))
    e = tl.exp(x - tl.max(x, axis=0))
    sm = e / tl.sum(e, axis=0)
    tl.store(out_ptr + row * N + cols, sm + tl.cumsum(tl.where(cols < N, x, 0.0), 0) + tl.argmax(x, axis=0), mask=cols < N)


@triton.jit
def matmul(a_ptr, b_ptr, c_ptr, M, N, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    rm = tl.program_id(0) * BM + tl.arange(0, BM)
    rn = tl.program_id(1) * BN + tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :], mask=(rm[:, None] < M) & ((k + rk)[None, :] < K), other=0.0)
        b = tl.load(b_ptr + (k + rk)[:, None] * N + rn[None, :], mask=((k + rk)[:, None] < K) & (rn[None, :] < N), other=0.0)
        acc += tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * N + rn[None, :], acc, mask=(rm[:, None] < M) & (rn[None, :] < N))


@triton.jit
def randoms(out_i, out_f, out_n, seed, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_i + offs, tl.randint(seed, offs), mask=m)
    tl.store(out_f + offs, tl.rand(seed, offs), mask=m)
    tl.store(out_n + offs, tl.randn(seed, offs), mask=m)


@triton.jit
def histogram(x_ptr, bins_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.atomic_add(bins_ptr + tl.load(x_ptr + offs, mask=m, other=0), 1, mask=m)


def main(path):
    rng = np.random.default_rng(0)
    out = {}
    n = 1000
    for dt in (np.float32, np.float16):
        x = rng.standard_normal(n).astype(dt)
        y = rng.standard_normal(n).astype(dt)
        r = np.zeros(n, dt)
        elementwise[(triton.cdiv(n, 256),)](W(x), W(y), W(r), n, BLOCK=256)
        out[f"elementwise_{np.dtype(dt).name}"] = r
    a = rng.integers(-1000, 1000, n).astype(np.int32)
    b = (rng.integers(1, 50, n) * rng.choice([-1, 1], n)).astype(np.int32)
    r = np.zeros(n, np.int32)
    integers[(triton.cdiv(n, 128),)](W(a), W(b), W(r), n, BLOCK=128)
    out["integers"] = r
    x = rng.standard_normal((7, 300)).astype(np.float32)
    r = np.zeros_like(x)
    rows[(7,)](W(x), W(r), 300, BLOCK=512)
    out["rows"] = r
    for dt in (np.float32, np.float16):
        A = rng.standard_normal((50, 40)).astype(dt)
        B = rng.standard_normal((40, 70)).astype(dt)
        C = np.zeros((50, 70), np.float32)
        matmul[(2, 3)](W(A), W(B), W(C), 50, 70, 40, BM=32, BN=32, BK=16)
        out[f"matmul_{np.dtype(dt).name}"] = C
    ri = np.zeros(n, np.int32)
    rf = np.zeros(n, np.float32)
    rn = np.zeros(n, np.float32)
    randoms[(triton.cdiv(n, 256),)](W(ri), W(rf), W(rn), 1234, n, BLOCK=256)
    out["randint"], out["rand"], out["randn"] = ri, rf, rn
    x = rng.integers(0, 32, 5000).astype(np.int32)
    bins = np.zeros(32, np.int32)
    histogram[(triton.cdiv(5000, 512),)](W(x), W(bins), 5000, BLOCK=512)
    out["histogram"] = bins
    np.savez(path, **out)


if __name__ == "__main__":
    main(sys.argv[1])
