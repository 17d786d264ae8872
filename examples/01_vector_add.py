"""Vector add, the "hello world" of Triton (upstream tutorial 01).

Runs on the GPU through Metal on a Mac; on Linux the same Metal code runs on
the CPU executor. Prints the max difference from numpy.
"""

import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, output_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    pid = tl.program_id(axis=0)
    block_start = pid * BLOCK_SIZE
    offsets = block_start + tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.load(y_ptr + offsets, mask=mask)
    output = x + y
    tl.store(output_ptr + offsets, output, mask=mask)


def add(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    output = np.empty_like(x)
    n_elements = output.size
    grid = lambda meta: (triton.cdiv(n_elements, meta["BLOCK_SIZE"]),)
    add_kernel[grid](x, y, output, n_elements, BLOCK_SIZE=1024)
    return output


def main():
    rng = np.random.default_rng(0)
    size = 98432 * 10 + 7  # about a million, not a multiple of the block
    x = rng.random(size, dtype=np.float32)
    y = rng.random(size, dtype=np.float32)
    out = add(x, y)
    expected = x + y
    print(f"vector add of {size} float32 elements")
    print(f"max difference from numpy: {np.max(np.abs(out - expected))}")


if __name__ == "__main__":
    main()
