"""Compile time of kernels with long `tl.static_range` loops: the front end (Python source to
MSL) and the CPU executor's build of the MSL (clang), for loops of N iterations.

    python benchmarks/static_loop_compile.py [--sizes 100,1000,4000] [--no-build] [--conv2d 10x20]

A static loop whose body uses its induction variable only as a runtime value is kept as a
loop in the MSL (see ARCHITECTURE.md, "Static loops"), so both times stay flat in N; a loop
whose body needs the variable as a compile-time constant (here: `acc` first assigned under `if k == 0`) is unrolled
and grows with N (long ones are refused by the MSL size budget; the time shown is until that
refusal). Unless --no-run, a 200-tap conv1d and a conv2d are also run on the CPU executor and
compared with numpy.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import textwrap
import time

import numpy as np

KERNELS = textwrap.dedent('''
import triton_metal as triton
import triton_metal.language as tl

@triton.jit
def conv1d(x_ptr, w_ptr, out_ptr, n, K: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for k in tl.static_range(K):
        x = tl.load(x_ptr + offs + k, mask=offs + k < n, other=0.0)
        acc += x * tl.load(w_ptr + k)
    tl.store(out_ptr + offs, acc, mask=offs < n)

@triton.jit
def conv2d(x_ptr, w_ptr, out_ptr, H, W, KH: tl.constexpr, KW: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for i in tl.static_range(KH):
        for j in tl.static_range(KW):
            m = (cols + j < W) & (row + i < H)
            x = tl.load(x_ptr + (row + i) * W + cols + j, mask=m, other=0.0)
            acc += x * tl.load(w_ptr + i * KW + j)
    tl.store(out_ptr + row * W + cols, acc, mask=cols < W)

@triton.jit
def unrolled(x_ptr, out_ptr, K: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for k in tl.static_range(K):
        x = tl.load(x_ptr + offs + k)
        # `acc` exists from the first iteration on: which statement runs must be known at
        # compile time, so the loop is unrolled.
        if k == 0:
            acc = x
        else:
            acc = acc * 0.5 + x
    tl.store(out_ptr + offs, acc)
''')


def load_module(tmp):
    path = os.path.join(tmp, "static_loop_kernels.py")
    with open(path, "w") as f:
        f.write(KERNELS)
    spec = importlib.util.spec_from_file_location("static_loop_kernels", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def timed(fn, specs, build):
    from triton_metal import _core

    t = time.perf_counter()
    try:
        k = _core.compile(fn._source_tuple(frozenset({id(fn)})), specs, 4, cache=False)
    except Exception as e:  # e.g. the MSL size budget: the time until the refusal
        return time.perf_counter() - t, float("nan"), f"{type(e).__name__}: {str(e)[:60]}"
    front = time.perf_counter() - t
    t = time.perf_counter()
    if build:
        k.prepare()
    return front, (time.perf_counter() - t) if build else float("nan"), k.asm["msl"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,4000")
    ap.add_argument("--no-build", action="store_true", help="time the front end only (no clang)")
    ap.add_argument("--conv2d", default="10x20", help="KHxKW of the conv2d case")
    ap.add_argument("--no-run", action="store_true", help="skip the runs against numpy")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    os.environ["TRITON_METAL_CACHE_DIR"] = os.path.join(tmp, "cache")
    mod = load_module(tmp)
    build = not args.no_build
    ptr = ("ptr", "fp32", 16)
    print(f"{'kernel':<10} {'N':>6} {'front end s':>12} {'clang s':>9} {'MSL KiB':>8}")
    for n in [int(s) for s in args.sizes.split(",")]:
        for name, fn, specs in [
            ("conv1d", mod.conv1d, [ptr, ptr, ptr, ("int", "i32", 1), ("constexpr", n), ("constexpr", 128)]),
            ("unrolled", mod.unrolled, [ptr, ptr, ("constexpr", n), ("constexpr", 128)]),
        ]:
            front, cl, msl = timed(fn, specs, build)
            size = f"{len(msl) / 1024:>8.1f}" if "kernel void" in msl else f"  ({msl})"
            print(f"{name:<10} {n:>6} {front:>12.3f} {cl:>9.2f} {size}", flush=True)
    if args.no_run:
        return
    # Results on the CPU executor, against numpy.
    n = 1000
    x = np.random.default_rng(0).standard_normal(n + 300).astype(np.float32)
    w = np.random.default_rng(1).standard_normal(200).astype(np.float32)
    out = np.zeros(n, np.float32)
    mod.conv1d[(triton.cdiv(n, 128),)](x, w, out, n, K=200, BLOCK=128)
    xs = np.where(np.arange(n + 200) < n, x[: n + 200], 0.0)
    ref = sum(xs[k: k + n] * w[k] for k in range(200))
    print("conv1d K=200 max |diff| vs numpy:", float(np.abs(out - ref).max()))
    kh, kw = (int(s) for s in args.conv2d.split("x"))
    H, W = 40, 100
    img = np.random.default_rng(2).standard_normal((H, W)).astype(np.float32)
    wt = np.random.default_rng(3).standard_normal((kh, kw)).astype(np.float32)
    out2 = np.zeros((H, W), np.float32)
    specs = [ptr, ptr, ptr, ("int", "i32", 1), ("int", "i32", 1), ("constexpr", kh), ("constexpr", kw), ("constexpr", 128)]
    front, cl, _ = timed(mod.conv2d, specs, build)
    t = time.perf_counter()
    mod.conv2d[(H,)](img, wt, out2, H, W, KH=kh, KW=kw, BLOCK=128)
    launch = time.perf_counter() - t
    pad = np.zeros((H + kh, W + kw), np.float32)
    pad[:H, :W] = img
    ref2 = sum(pad[i: i + H, j: j + W] * wt[i, j] for i in range(kh) for j in range(kw))
    print(f"conv2d {kh}x{kw}: front end {front:.3f} s, clang {cl:.2f} s, first launch {launch:.2f} s, "
          f"max |diff| vs numpy: {float(np.abs(out2 - ref2).max()):.2e}")


import triton_metal as triton  # noqa: E402

if __name__ == "__main__":
    main()
