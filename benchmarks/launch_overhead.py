"""Launch overhead: what a cached launch costs on the host, from the Python call
``kernel[grid](...)`` to the arguments checked, packed and ready for the device, against the
floor of calling a function of the extension module that does nothing, in the same run.

    python benchmarks/launch_overhead.py [--quick]

The kernel takes 4 pointer and 2 scalar arguments (and a constexpr). Launches run in the
dry-run mode (``TRITON_METAL_DRY_RUN=1``, set here before the first launch): everything a
launch does up to handing the kernel to the device (binding and specialising the arguments,
looking the kernel up, reading the arrays' memory through the buffer protocol, checking the
arguments against the launch ABI and packing the scalars), and nothing after it. Target:
under 3 microseconds per launch. For context, a child process times the same launch run
for real (one program: the CPU executor on Linux, the GPU and the wait for it on a Mac).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import timeit

REAL = "--real" in sys.argv  # the child process that runs the launches for real
if REAL:
    os.environ.pop("TRITON_METAL_DRY_RUN", None)
else:
    os.environ["TRITON_METAL_DRY_RUN"] = "1"  # read once, at the first launch

import numpy as np  # noqa: E402

import triton_metal as triton  # noqa: E402
import triton_metal.language as tl  # noqa: E402
from triton_metal import _core  # noqa: E402

TARGET_US = 3.0


@triton.jit
def axpy2(x_ptr, y_ptr, out_ptr, out2_ptr, n, alpha, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    out = alpha * x + y
    tl.store(out_ptr + offs, out, mask=mask)
    tl.store(out2_ptr + offs, out * out, mask=mask)


def per_call_us(stmt, env, repeat, target_seconds):
    """(median, best) over `repeat` runs of the time of one execution of `stmt`, in
    microseconds. Other work on the machine only ever adds time: best is the cleanest
    figure, median the typical one."""
    timer = timeit.Timer(stmt, globals=env)
    number, elapsed = 1, 0.0
    while elapsed < target_seconds / 5:  # calibrate: each run lasts about target_seconds
        number *= 4
        elapsed = timer.timeit(number)
    number = max(1, int(number * target_seconds / elapsed))
    runs = [t / number * 1e6 for t in timer.repeat(repeat=repeat, number=number)]
    return statistics.median(runs), min(runs)


def real_launch_us(repeat, seconds):
    """One program of the kernel, launched and run (in this process, without the dry run)."""
    n = 1024
    x, y, out, out2 = (np.zeros(n, np.float32) for _ in range(4))
    for _ in range(2):
        axpy2[(1,)](x, y, out, out2, n, 0.5, BLOCK=n)
    env = dict(globals(), x=x, y=y, out=out, out2=out2, n=n)
    return per_call_us("axpy2[(1,)](x, y, out, out2, n, 0.5, BLOCK=n)", env, repeat, seconds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="short runs (a smoke test, not a measurement)")
    p.add_argument("--real", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    repeat, seconds = (3, 0.01) if args.quick else (9, 0.2)
    if args.real:
        print(json.dumps({"us": real_launch_us(repeat, seconds)}))
        return 0
    if not _core.dry_run():
        print("TRITON_METAL_DRY_RUN was not in effect; refusing to measure real launches")
        return 1

    n = 4096
    x, y, out, out2 = (np.zeros(n, np.float32) for _ in range(4))
    block = 1024
    grid = (triton.cdiv(n, block),)
    kernel = axpy2[grid](x, y, out, out2, n, 0.5, BLOCK=block)  # compiles, builds the runtime library
    axpy2[grid](x, y, out, out2, n, 0.5, BLOCK=block)  # the next launches are cached
    buffers = [_core.host_buffer(a) for a in (x, y, out, out2)]
    scalars = [n, 0.5]
    env = dict(globals(), x=x, y=y, out=out, out2=out2, n=n, grid=grid, block=block, kernel=kernel,
               buffers=buffers, scalars=scalars, grid_fn=lambda meta: (triton.cdiv(n, meta["BLOCK"]),),
               noop=_core.noop, launch=axpy2.run)
    rows = [
        ("floor: _core.noop()", "noop()"),
        ("kernel[grid](x, y, out, out2, n, 0.5, BLOCK=1024)", "axpy2[grid](x, y, out, out2, n, 0.5, BLOCK=block)"),
        ("  same, grid = lambda meta: ...", "axpy2[grid_fn](x, y, out, out2, n, 0.5, BLOCK=block)"),
        ("  same, every argument by keyword",
         "axpy2[grid](x_ptr=x, y_ptr=y, out_ptr=out, out2_ptr=out2, n=n, alpha=0.5, BLOCK=block)"),
        ("  of which Rust: Kernel.launch(grid, buffers, scalars)", "kernel.launch((4, 1, 1), buffers, scalars)"),
        ("generic path (Signature.bind, no fast path)",
         "launch(x, y, out, out2, n, 0.5, BLOCK=block, grid=grid, _tm_fast_key=None)"),
    ]
    print(f"launch overhead: a cached launch of a kernel with 4 pointer and 2 scalar arguments, dry run "
          f"(arguments packed, nothing executed); {repeat} runs each")
    print(f"{'what':58s} {'median':>8s} {'best':>8s} {'median':>8s}")
    print(f"{'':58s} {'us/call':>8s} {'us/call':>8s} {'x floor':>8s}")
    results = {}
    for label, stmt in rows:
        results[stmt] = us, best = per_call_us(stmt, env, repeat, seconds)
        floor = results[rows[0][1]][0]
        print(f"{label:58s} {us:8.3f} {best:8.3f} {us / floor:8.0f}")
    floor, (launch, launch_best) = results[rows[0][1]][0], results[rows[1][1]]
    cmd = [sys.executable, __file__, "--real"] + (["--quick"] if args.quick else [])
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    if r.returncode == 0 and r.stdout.strip().startswith("{"):
        real, real_best = json.loads(r.stdout.strip().splitlines()[-1])["us"]
        label = "context: one program launched and run (child process)"
        print(f"{label:58s} {real:8.3f} {real_best:8.3f} {real / floor:8.0f}")
    else:
        print(f"for context: a real launch failed: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    generic = results[rows[-1][1]][0]
    verdict = "met" if launch < TARGET_US else "NOT met"
    print(f"summary: cached launch {launch:.2f} us (best {launch_best:.2f}), floor {floor:.3f} us "
          f"(no-op call into _core): {launch / floor:.0f}x the floor, {launch - floor:.2f} us above it; "
          f"generic path {generic:.2f} us ({generic / launch:.1f}x the fast path); "
          f"target < {TARGET_US:g} us (median): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
