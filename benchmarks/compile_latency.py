"""Compile latency: Python kernel source to Metal Shading Language, side by side with
upstream Triton compiling the same source for a CUDA GPU.

    python benchmarks/compile_latency.py [--quick] [--reps N] [--no-upstream]

The kernels are the ones the examples run (vector add, fused softmax, matmul, layer norm)
and the flash-attention forward kernel of python/tests/test_dot.py, read from those files.
Each is compiled in fresh processes (the first compile of a process, median of 3), then
repeatedly in one of them (the median); both kernel caches are bypassed
(``_core.compile(..., cache=False)``: neither the in-memory nor the disk cache is read or
written). What is timed: the
kernel's globals collected in Python, then the Rust pipeline (parse, front end, passes,
layouts, MSL), until the MSL text is in Python's hands.

Where upstream Triton is importable (``pip install triton``, Linux x86_64), the same source
goes through ``triton.compile`` for ``GPUTarget("cuda", 80, 32)`` (TTIR -> TTGIR -> LLVM IR
-> PTX -> cubin; no GPU needed) with its cache bypassed (``TRITON_ALWAYS_COMPILE=1`` and a
fresh ``TRITON_CACHE_DIR``), in the same run. Targets: under 2 ms median per kernel, at
least 100 times faster than upstream.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name, file, function, signature (upstream's spelling), constexprs, num_warps.
# Pointers are specialised as 16-byte aligned (as upstream's `tt.divisibility` 16); integers
# carry no divisibility hint.
KERNELS = [
    ("vector add", "examples/01_vector_add.py", "add_kernel",
     "*fp32, *fp32, *fp32, i32", {"BLOCK_SIZE": 1024}, 4),
    ("fused softmax", "examples/02_fused_softmax.py", "softmax_kernel",
     "*fp32, *fp32, i32, i32, i32", {"BLOCK_SIZE": 1024}, 4),
    ("matmul", "examples/03_matmul.py", "matmul_kernel",
     "*fp16, *fp16, *fp16, i32, i32, i32, i32, i32, i32, i32, i32, i32",
     {"BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32, "GROUP_M": 8}, 4),
    ("layer norm", "examples/04_layer_norm.py", "layer_norm_fwd",
     "*fp32, *fp32, *fp32, *fp32, *fp32, *fp32, i32, i32, fp32", {"BLOCK_SIZE": 1024}, 4),
    ("attention fwd", "python/tests/test_dot.py", "attn_fwd",
     "*fp16, *fp16, *fp16, *fp16, fp32, i32, i32, i32",
     {"HEAD_DIM": 64, "BLOCK_M": 32, "BLOCK_N": 32, "CAUSAL": True}, 4),
]

UPSTREAM_TARGET = ("cuda", 80, 32)


def kernel_source(path, name):
    """The text of function `name` in `path`, without its decorators."""
    text = (ROOT / path).read_text()
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = text.splitlines()[node.lineno - 1 : node.end_lineno]
            return "\n".join(lines) + "\n"
    raise SystemExit(f"{path} has no function {name}")


def write_module(directory, lib):
    """A module holding every kernel, written for `lib` ("triton_metal" or "triton")."""
    parts = [f"import {lib} as triton\nimport {lib}.language as tl\n"]
    for _, path, fn, *_ in KERNELS:
        parts.append(f"\n@triton.jit\n{kernel_source(path, fn)}")
    module = Path(directory) / f"compile_latency_kernels_{lib}.py"
    module.write_text("".join(parts))
    return module


def import_file(path):
    spec = importlib.util.spec_from_file_location(Path(path).stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def entry(kernel):
    return next(k for k in KERNELS if k[2] == kernel)


def ours_specs(fn, signature, constexprs):
    from triton_metal.cli import parse_signature

    runtime = [n for n, c in zip(fn.arg_names, fn._is_constexpr) if not c]
    sig = ", ".join(f"{e}:16" if e.strip().startswith("*") else e for e in signature.split(","))
    parsed = iter(spec for spec, _ in parse_signature(sig, runtime))
    return [("constexpr", constexprs[n]) if c else next(parsed) for n, c in zip(fn.arg_names, fn._is_constexpr)]


def child_ours(module, kernel, reps):
    from triton_metal import _core

    _, _, name, signature, constexprs, num_warps = entry(kernel)
    fn = getattr(import_file(module), name)
    specs = ours_specs(fn, signature, constexprs)

    def once():
        t = time.perf_counter()
        src = fn._source_tuple(frozenset({id(fn)}))  # the kernel's globals, as a launch collects them
        k = _core.compile(src, specs, num_warps, cache=False)
        msl = k.asm["msl"]
        elapsed = time.perf_counter() - t
        assert "kernel void" in msl
        return elapsed, dict(k.timings)

    first, _ = once()
    runs = [once() for _ in range(reps)]
    stages = {s: statistics.median(t[s] for _, t in runs) for s in (runs[0][1] if runs else ())}
    return {"first": first, "times": [t for t, _ in runs], "stages": stages}


def child_upstream(module, kernel, reps):
    import triton

    if not hasattr(triton, "compile") or "triton_metal" in (getattr(triton, "__file__", "") or ""):
        return {"absent": "`import triton` is not upstream Triton"}
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    _, _, name, signature, constexprs, num_warps = entry(kernel)
    fn = getattr(import_file(module), name)
    runtime = iter(t.strip() for t in signature.split(","))
    sig, attrs = {}, {}
    for i, arg in enumerate(fn.arg_names):
        sig[arg] = "constexpr" if arg in constexprs else next(runtime)
        if sig[arg].startswith("*"):
            attrs[(i,)] = [["tt.divisibility", 16]]
    target = GPUTarget(*UPSTREAM_TARGET)

    def once():
        t = time.perf_counter()
        k = triton.compile(ASTSource(fn, sig, constexprs, attrs), target=target, options={"num_warps": num_warps})
        elapsed = time.perf_counter() - t
        assert k.asm.get("ptx")
        return elapsed

    first = once()
    return {"first": first, "times": [once() for _ in range(reps)], "version": triton.__version__}


def run_child(which, module, kernel, reps, env):
    cmd = [sys.executable, __file__, "--child", which, "--module", str(module), "--kernel", kernel, "--reps", str(reps)]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
    if r.returncode != 0 or not lines:
        last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"exit {r.returncode}: {last}"}
    return json.loads(lines[-1])


def measure(which, module, kernel, reps, processes, env):
    """`reps` compiles after the first in one fresh process; the first compile is the median
    over `processes` fresh processes."""
    result = run_child(which, module, kernel, reps, env)
    firsts = [result.get("first")]
    for _ in range(processes - 1):
        if "error" in result:
            break
        firsts.append(run_child(which, module, kernel, 0, env).get("first"))
    if "error" not in result:
        if None in firsts:
            return {"error": "a fresh process failed to compile"}
        result["first"] = statistics.median(firsts)
    return result


def upstream_available():
    """Whether `import triton` would find upstream Triton (a `triton` alias of ours does not count)."""
    spec = importlib.util.find_spec("triton")
    return spec is not None and "triton_metal" not in (spec.origin or "")


def ms(x, digits=3):
    return f"{x * 1e3:.{digits}f}"


def geomean(values):
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few repetitions (a smoke test, not a measurement)")
    p.add_argument("--reps", type=int, help="repetitions per kernel (default 50 for ours, 10 for upstream)")
    p.add_argument("--no-upstream", action="store_true", help="do not time upstream Triton even if installed")
    p.add_argument("--only", help="comma-separated kernel names (default: all)")
    p.add_argument("--child", choices=("ours", "upstream"), help=argparse.SUPPRESS)
    p.add_argument("--module", help=argparse.SUPPRESS)
    p.add_argument("--kernel", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        run = child_ours if args.child == "ours" else child_upstream
        print(json.dumps(run(args.module, args.kernel, args.reps)))
        return 0

    reps_ours = args.reps or (3 if args.quick else 50)
    reps_up = args.reps or (1 if args.quick else 10)
    processes = 1 if args.quick else 3
    with_upstream = not args.no_upstream and upstream_available()
    tmp = tempfile.mkdtemp(prefix="tm-compile-latency-")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRITON_")}
    env["TRITON_METAL_CACHE_DIR"] = os.path.join(tmp, "tm-cache")  # never written (cache=False)
    up_env = dict(env, TRITON_CACHE_DIR=os.path.join(tmp, "triton-cache"), TRITON_ALWAYS_COMPILE="1",
                  TRITON_DEFAULT_FP_FUSION="1")
    ours_module = write_module(tmp, "triton_metal")
    up_module = write_module(tmp, "triton") if with_upstream else None

    import triton_metal

    print(f"compile latency: Python source -> MSL text, kernel caches bypassed (triton_metal "
          f"{triton_metal.__version__}); first: a fresh process's first compile (median of {processes} processes), "
          f"median: of {reps_ours} compiles after it")
    if with_upstream:
        print(f"upstream: triton.compile for GPUTarget{UPSTREAM_TARGET} (source -> cubin), median of {reps_up}, "
              "its cache bypassed")
    header = (f"{'kernel':15s} {'first':>8s} {'median':>8s}  {'front/passes/msl':>18s}  "
              f"{'upstream first':>14s} {'upstream median':>15s} {'speed-up':>9s}")
    print(header)
    print(f"{'':15s} {'(ms)':>8s} {'(ms)':>8s}  {'(ms)':>18s}  {'(ms)':>14s} {'(ms)':>15s} {'(median)':>9s}")
    rows, version, problems, failed = [], None, [], False
    only = [k.strip() for k in args.only.split(",")] if args.only else None
    for label, _, name, *_ in KERNELS:
        if only and label not in only and name not in only:
            continue
        ours = measure("ours", ours_module, name, reps_ours, processes, env)
        if "error" in ours:
            failed = True
            print(f"{label:15s} failed: {ours['error']}")
            continue
        med = statistics.median(ours["times"])
        st = ours["stages"]
        stages = " / ".join(ms(st.get(s, 0.0)) for s in ("ttir", "passes", "msl"))
        up = measure("upstream", up_module, name, reps_up, processes, up_env) if with_upstream else None
        row = {"kernel": label, "first": ours["first"], "median": med}
        if up and "times" in up:
            version = up.get("version")
            row["up_first"], row["up_median"] = up["first"], statistics.median(up["times"])
            row["ratio"] = row["up_median"] / med
            tail = f"{ms(row['up_first'], 1):>14s} {ms(row['up_median'], 1):>15s} {row['ratio']:>8.0f}x"
        elif up:
            problems.append(f"upstream {label}: {up.get('error') or up.get('absent')}")
            tail = f"{'failed':>14s} {'':>15s} {'':>9s}"
        else:
            tail = f"{'-':>14s} {'-':>15s} {'-':>9s}"
        rows.append(row)
        print(f"{label:15s} {ms(row['first']):>8s} {ms(med):>8s}  {stages:>18s}  {tail}")
    for problem in problems:
        print(f"  note: {problem}")
    if not rows:
        print("summary: no kernel compiled")
        return 1
    worst = max(r["median"] for r in rows)
    summary = (f"summary: triton_metal median {ms(min(r['median'] for r in rows))}-{ms(worst)} ms per kernel "
               f"(target < 2 ms: {'met' if worst < 2e-3 else 'NOT met'}; first compile at most "
               f"{ms(max(r['first'] for r in rows))} ms)")
    ratios = [r["ratio"] for r in rows if "ratio" in r]
    if ratios:
        verdict = "met" if min(ratios) >= 100 else "NOT met"
        summary += (f"; {min(ratios):.0f}x-{max(ratios):.0f}x faster than upstream Triton {version} "
                    f"(geometric mean {geomean(ratios):.0f}x; target >= 100x: {verdict})")
    elif with_upstream:
        summary += "; upstream Triton failed to compile (see notes)"
    elif args.no_upstream:
        summary += "; upstream Triton not timed (--no-upstream)"
    else:
        summary += "; upstream Triton absent (pip install triton, Linux x86_64, to compare)"
    print(summary)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
