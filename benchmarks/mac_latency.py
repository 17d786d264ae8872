"""Launch latency of a memory-bound kernel (z = x + y) per launch, for each way a Mac user
launches one, against the same op done natively by the framework, side by side in one run:

- numpy arrays: ``kernel[grid](...)`` (each launch waits for the GPU) and the same launches
  inside ``triton_metal.batch()`` (one command buffer, one wait);
- PyTorch MPS tensors: ``kernel[grid](...)`` queued on PyTorch's stream through
  ``torch.mps.compile_shader``, against ``torch.add(x, y, out=z)``; one
  ``torch.mps.synchronize()`` after all launches of a series;
- MLX arrays: ``triton_metal.mlx.call`` (lazy, on MLX's graph), against ``x + y``; one
  ``mx.eval`` after all launches of a series.

    python benchmarks/mac_latency.py [--quick] [--size N]

Each row is the median over repeats of (time of a series of launches) / (launches). Parts
whose framework or device is missing are reported as skipped (on Linux only the numpy rows
run, on the CPU executor, which measures the host side and not a GPU).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time

import numpy as np

import triton_metal as triton
import triton_metal.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, z_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(z_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)


BLOCK = 1024


def per_launch_us(series, launches, repeats):
    """Median over `repeats` of the time of `series()` divided by `launches`, in microseconds."""
    series()  # warm-up: compilation, pipeline and library builds
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        series()
        times.append((time.perf_counter() - t0) / launches * 1e6)
    return statistics.median(times)


def numpy_rows(n, launches, repeats):
    x, y = np.random.rand(n).astype(np.float32), np.random.rand(n).astype(np.float32)
    z = np.empty_like(x)
    grid = (triton.cdiv(n, BLOCK),)

    def single():
        for _ in range(launches):
            add_kernel[grid](x, y, z, n, BLOCK=BLOCK)

    def batched():
        with triton.batch():
            for _ in range(launches):
                add_kernel[grid](x, y, z, n, BLOCK=BLOCK)

    def native():
        for _ in range(launches):
            np.add(x, y, out=z)

    t_native = per_launch_us(native, launches, repeats)
    rows = [
        ("numpy", "kernel[grid] (waits each launch)", per_launch_us(single, launches, repeats), t_native),
        ("numpy", "kernel[grid] in triton_metal.batch()", per_launch_us(batched, launches, repeats), t_native),
    ]
    np.testing.assert_allclose(z, x + y, rtol=1e-6)
    return rows


def torch_rows(n, launches, repeats):
    if importlib.util.find_spec("torch") is None:
        return "PyTorch is not installed"
    import torch

    if not torch.backends.mps.is_available():
        return "PyTorch has no MPS device here"
    x, y = torch.rand(n, device="mps"), torch.rand(n, device="mps")
    z = torch.empty_like(x)
    grid = (triton.cdiv(n, BLOCK),)

    def ours():
        for _ in range(launches):
            add_kernel[grid](x, y, z, n, BLOCK=BLOCK)
        torch.mps.synchronize()

    def native():
        for _ in range(launches):
            torch.add(x, y, out=z)
        torch.mps.synchronize()

    t_ours, t_native = per_launch_us(ours, launches, repeats), per_launch_us(native, launches, repeats)
    torch.testing.assert_close(z, x + y)
    how = "compile_shader stream" if callable(getattr(torch.mps, "compile_shader", None)) else "synchronize fallback"
    return [("torch mps", f"kernel[grid] ({how})", t_ours, t_native)]


def mlx_rows(n, launches, repeats):
    if importlib.util.find_spec("mlx") is None:
        return "MLX is not installed"
    import mlx.core as mx

    import triton_metal.mlx as tmx

    if not mx.metal.is_available():
        return "MLX has no Metal device here"
    x, y = mx.random.uniform(shape=(n,)), mx.random.uniform(shape=(n,))
    grid = (triton.cdiv(n, BLOCK),)

    def ours():
        z = x
        for _ in range(launches):
            z = tmx.call(add_kernel, z, y, x, n, BLOCK=BLOCK, grid=grid)
        mx.eval(z)

    def native():
        z = x
        for _ in range(launches):
            z = z + y
        mx.eval(z)

    return [("mlx", "triton_metal.mlx.call (lazy)", per_launch_us(ours, launches, repeats),
             per_launch_us(native, launches, repeats))]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer launches and repeats")
    p.add_argument("--size", type=int, default=1 << 20, help="elements per array (default 2**20)")
    args = p.parse_args(argv)
    launches, repeats = (20, 3) if args.quick else (200, 7)
    d = triton.runtime.driver.active
    print(f"device: {d.device_name} ({d.backend}); {args.size} float32 elements; {launches} launches per series")
    rows, skipped = [], []
    for name, part in (("numpy", numpy_rows), ("torch mps", torch_rows), ("mlx", mlx_rows)):
        r = part(args.size, launches, repeats)
        if isinstance(r, str):
            skipped.append(f"{name}: {r}")
        else:
            rows.extend(r)
    print(f"{'arrays':10} {'launch':42} {'us/launch':>10} {'native us':>10} {'ratio':>7}")
    print("-" * 83)
    for arrays, how, ours, native in rows:
        print(f"{arrays:10} {how:42} {ours:10.1f} {native:10.1f} {ours / native:6.2f}x")
    for s in skipped:
        print(f"skipped {s}")
    best = min(rows, key=lambda r: r[2] / r[3])
    print(f"summary: best {best[0]} path {best[2]:.1f} us per launch, {best[2] / best[3]:.2f}x the native op")
    return 0


if __name__ == "__main__":
    sys.exit(main())
