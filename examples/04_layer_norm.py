"""Layer normalisation, forward pass (upstream tutorial 05): one program per row computes
the mean and variance in a loop over column blocks, then normalises, scales and shifts,
and stores the mean and 1/std for a backward pass.

Runs on the GPU through Metal on a Mac; on Linux the same Metal code runs on the CPU
executor. Prints the max difference from numpy.
"""

import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def layer_norm_fwd(X, Y, W, B, Mean, Rstd, stride, N, eps, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0)
    Y += row * stride
    X += row * stride
    acc = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        acc += tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
    mean = tl.sum(acc, axis=0) / N
    acc = tl.zeros([BLOCK_SIZE], dtype=tl.float32)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        x = tl.load(X + cols, mask=cols < N, other=0.0).to(tl.float32)
        x = tl.where(cols < N, x - mean, 0.0)
        acc += x * x
    var = tl.sum(acc, axis=0) / N
    rstd = 1 / tl.sqrt(var + eps)
    tl.store(Mean + row, mean)
    tl.store(Rstd + row, rstd)
    for off in range(0, N, BLOCK_SIZE):
        cols = off + tl.arange(0, BLOCK_SIZE)
        mask = cols < N
        w = tl.load(W + cols, mask=mask)
        b = tl.load(B + cols, mask=mask)
        x = tl.load(X + cols, mask=mask, other=0.0).to(tl.float32)
        y = (x - mean) * rstd * w + b
        tl.store(Y + cols, y, mask=mask)


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5):
    M, N = x.shape
    y = np.empty_like(x)
    mean = np.empty(M, np.float32)
    rstd = np.empty(M, np.float32)
    block = min(4096, triton.next_power_of_2(N))
    num_warps = min(max(block // 256, 1), 8)
    layer_norm_fwd[(M,)](x, y, weight, bias, mean, rstd, x.strides[0] // x.itemsize, N, eps,
                         BLOCK_SIZE=block, num_warps=num_warps)
    return y, mean, rstd


def layer_norm_numpy(x, weight, bias, eps=1e-5):
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def main():
    rng = np.random.default_rng(0)
    M, N = 1151, 8192 + 17
    x = (rng.standard_normal((M, N)) * 2 + 0.5).astype(np.float32)
    w = rng.random(N).astype(np.float32)
    b = rng.random(N).astype(np.float32)
    y, _, _ = layer_norm(x, w, b)
    print(f"layer norm of a {M}x{N} float32 matrix")
    print(f"max difference from numpy: {np.max(np.abs(y - layer_norm_numpy(x, w, b)))}")


if __name__ == "__main__":
    main()
