"""Fused softmax (upstream tutorial 02): one program per row reads the row once, and
computes max, exp, sum and the division in registers.

Runs on the GPU through Metal on a Mac; on Linux the same Metal code runs on the CPU
executor. Prints the max difference from numpy.
"""

import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def softmax_kernel(out_ptr, in_ptr, in_row_stride, out_row_stride, n_cols, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    offsets = tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_cols
    x = tl.load(in_ptr + row * in_row_stride + offsets, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    numerator = tl.exp(x)
    y = numerator / tl.sum(numerator, axis=0)
    tl.store(out_ptr + row * out_row_stride + offsets, y, mask=mask)


def softmax(x: np.ndarray) -> np.ndarray:
    n_rows, n_cols = x.shape
    block = triton.next_power_of_2(n_cols)
    num_warps = 4 if block < 2048 else (8 if block < 4096 else 16)
    y = np.empty_like(x)
    softmax_kernel[(n_rows,)](
        y, x, x.strides[0] // x.itemsize, y.strides[0] // y.itemsize, n_cols, BLOCK_SIZE=block, num_warps=num_warps
    )
    return y


def softmax_numpy(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def main():
    x = np.random.default_rng(0).standard_normal((1823, 781)).astype(np.float32)
    y = softmax(x)
    print(f"softmax of a {x.shape[0]}x{x.shape[1]} float32 matrix")
    print(f"max difference from numpy: {np.max(np.abs(y - softmax_numpy(x)))}")


if __name__ == "__main__":
    main()
