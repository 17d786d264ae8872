"""Matmul throughput: triton_metal's tl.dot kernel (autotuned over the GPU
family's tile configs) against mlx.core.matmul and torch.mm on MPS, measured
side by side in one run, in TFLOP/s, for square and LLM-shaped problems in
float32 and float16, with a plot.

    python benchmarks/matmul.py [--quick] [--out DIR]

Without an Apple GPU (Linux, CI) there is nothing to time: it says so and only
checks that every shape computes the right numbers on the CPU executor.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

import triton_metal as triton
from triton_metal.ops import matmul, matmul_configs
from triton_metal.runtime import driver

SQUARE = [256, 512, 1024, 2048, 4096]
LLM = [(16, 4096, 4096), (128, 4096, 4096), (512, 4096, 11008), (2048, 4096, 4096), (1, 4096, 14336)]


def shapes(quick):
    sq = [(n, n, n) for n in (SQUARE[:2] if quick else SQUARE)]
    return sq + (LLM[:1] if quick else LLM)


def check_correctness(quick):
    """On any machine: every benchmarked shape class, scaled down, matches numpy."""
    rng = np.random.default_rng(0)
    cases = [(64, 64, 64), (100, 70, 33), (16, 256, 128)] if quick else [(128, 128, 128), (100, 70, 33), (16, 512, 256), (1, 256, 384)]
    failures = 0
    for dtype in (np.float32, np.float16):
        for M, N, K in cases:
            a = rng.standard_normal((M, K)).astype(dtype)
            b = rng.standard_normal((K, N)).astype(dtype)
            c = matmul(a, b)
            ref = a.astype(np.float32) @ b.astype(np.float32)
            tol = 1e-3 if dtype == np.float32 else 2e-2
            ok = np.allclose(c.astype(np.float32), ref, rtol=tol, atol=tol)
            failures += not ok
            print(f"  {np.dtype(dtype).name:8s} {M:5d}x{N:5d}x{K:5d}  {'ok' if ok else 'WRONG'}")
    return failures


def bench_mac(quick, out_dir):
    from triton_metal.testing import do_bench

    try:
        import mlx.core as mx
    except ImportError:
        mx = None
    try:
        import torch

        has_mps = torch.backends.mps.is_available()
    except ImportError:
        torch, has_mps = None, False
    rows = []
    for dtype in (np.float32, np.float16):
        for M, N, K in shapes(quick):
            flops = 2.0 * M * N * K
            a = np.random.default_rng(0).standard_normal((M, K)).astype(dtype)
            b = np.random.default_rng(1).standard_normal((K, N)).astype(dtype)
            c = np.empty((M, N), dtype)
            row = {"dtype": np.dtype(dtype).name, "M": M, "N": N, "K": K}
            row["triton_metal"] = flops / do_bench(lambda: matmul(a, b, c)) / 1e9
            if mx is not None:
                ma, mb = mx.array(a), mx.array(b)
                row["mlx"] = flops / do_bench(lambda: mx.eval(mx.matmul(ma, mb))) / 1e9
            if has_mps:
                ta = torch.from_numpy(a).to("mps")
                tb = torch.from_numpy(b).to("mps")

                def run():
                    torch.mm(ta, tb)
                    torch.mps.synchronize()

                row["torch_mps"] = flops / do_bench(run) / 1e9
            rows.append(row)
            others = "  ".join(f"{k} {row[k]:6.2f}" for k in ("mlx", "torch_mps") if k in row)
            print(f"{row['dtype']:8s} {M:5d}x{N:5d}x{K:5d}  triton_metal {row['triton_metal']:6.2f}  {others}  TFLOP/s")
    ratios = []
    for key in ("mlx", "torch_mps"):
        vals = [r["triton_metal"] / r[key] for r in rows if key in r and r[key] > 0]
        if vals:
            ratios.append(f"triton_metal/{key} = {np.exp(np.mean(np.log(vals))):.2f}x (geometric mean)")
    print("summary: " + ("; ".join(ratios) if ratios else "no MLX or PyTorch MPS to compare with"))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 5))
        labels = [f"{r['dtype']}\n{r['M']}x{r['N']}x{r['K']}" for r in rows]
        x = np.arange(len(rows))
        keys = [k for k in ("triton_metal", "mlx", "torch_mps") if any(k in r for r in rows)]
        for i, key in enumerate(keys):
            ax.bar(x + i * 0.8 / len(keys), [r.get(key, 0) for r in rows], 0.8 / len(keys), label=key)
        ax.set_xticks(x + 0.4 - 0.4 / len(keys), labels, fontsize=7)
        ax.set_ylabel("TFLOP/s")
        ax.legend()
        os.makedirs(out_dir, exist_ok=True)
        path = os.path.join(out_dir, "matmul.png")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        print(f"plot: {path}")
    except ImportError:
        print("matplotlib is not installed: no plot")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer shapes")
    p.add_argument("--out", default=os.path.join("benchmarks", "out"))
    args = p.parse_args(argv)
    d = driver.active
    print(f"device: {d.device_name} ({d.backend}, {d.gpu_family}); configs: "
          + ", ".join(f"{c.kwargs['BLOCK_M']}x{c.kwargs['BLOCK_N']}x{c.kwargs['BLOCK_K']}/w{c.num_warps}" for c in matmul_configs()))
    print("correctness:")
    failures = check_correctness(args.quick)
    if d.backend != "metal":
        print("no Apple GPU here: TFLOP/s needs a Mac (the CPU executor's speed says nothing about a GPU)")
        print(f"summary: correctness {'ok' if not failures else f'{failures} FAILED'}; no timings on this machine")
        return 1 if failures else 0
    bench_mac(args.quick, args.out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
