#!/usr/bin/env python3
"""Mutation fuzzing of triton_metal: mutates seed kernels (operators, constants, names, calls,
axes, shapes, lines), compiles and launches every mutant in worker processes, and checks that

- no process dies (a signal, an abort) and no compile hangs past the timeout (a compiled
  kernel that runs forever, such as `while True: pass`, is reported but hangs as on a GPU),
- no Rust panic reaches Python (`internal error` in a RuntimeError),
- every error names where it happened: a CompilationError carries file:line:col, a failed
  launch on the CPU executor names the kernel.

    python scripts/fuzz_kernels.py --count 3000 --jobs 2 --seed 1

Prints a summary and exits non-zero if any check failed; mutants that failed a check are
written to --out (default: fuzz-failures/) to be replayed with `--replay FILE`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path

# Seeds: kernels with a launcher. Each is run as `launch(kernel)` by the worker, which
# supplies numpy; `n` elements per array, arrays big enough for the unmutated kernel.
SEEDS = {
    "add": '''
@triton.jit
def kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=0.0)
    y = tl.load(y_ptr + offs, mask=mask, other=1.0)
    tl.store(out_ptr + offs, x + y * 2.0, mask=mask)

def launch(kernel):
    x = np.arange(1000, dtype=np.float32); y = np.ones_like(x); out = np.zeros_like(x)
    kernel[(triton.cdiv(1000, 128),)](x, y, out, 1000, BLOCK=128)
''',
    "softmax": '''
@triton.jit
def kernel(out_ptr, in_ptr, stride, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    mask = offs < n_cols
    x = tl.load(in_ptr + row * stride + offs, mask=mask, other=-float("inf"))
    x = x - tl.max(x, axis=0)
    num = tl.exp(x)
    y = num / tl.sum(num, axis=0)
    tl.store(out_ptr + row * stride + offs, y, mask=mask)

def launch(kernel):
    x = np.random.default_rng(0).standard_normal((8, 100)).astype(np.float32); y = np.empty_like(x)
    kernel[(8,)](y, x, 100, 100, BLOCK=128, num_warps=2)
''',
    "loop": '''
@triton.jit
def kernel(x_ptr, out_ptr, n, K: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    acc = tl.zeros([BLOCK], dtype=tl.float32)
    for k in range(0, n, BLOCK):
        m = (k + offs) < n
        acc += tl.load(x_ptr + k + offs, mask=m, other=0.0)
    for i in tl.static_range(K):
        acc = acc * 0.5 + i
    tl.store(out_ptr + offs, acc)

def launch(kernel):
    x = np.arange(500, dtype=np.float32); out = np.zeros(64, np.float32)
    kernel[(1,)](x, out, 500, K=3, BLOCK=64)
''',
    "matrix": '''
@triton.jit
def kernel(a_ptr, out_ptr, M, N, BM: tl.constexpr, BN: tl.constexpr):
    pid = tl.program_id(0)
    rm = pid * BM + tl.arange(0, BM)
    rn = tl.arange(0, BN)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    a = tl.load(a_ptr + rm[:, None] * N + rn[None, :], mask=mask, other=0.0)
    s = tl.sum(a, axis=1)
    t = tl.trans(a)
    b = a + s[:, None] - tl.max(t, axis=0)[:, None]
    tl.store(out_ptr + rm[:, None] * N + rn[None, :], b, mask=mask)

def launch(kernel):
    a = np.arange(32 * 16, dtype=np.float32).reshape(32, 16); out = np.zeros_like(a)
    kernel[(2,)](a, out, 32, 16, BM=16, BN=16)
''',
    "dot": '''
@triton.jit
def kernel(a_ptr, b_ptr, c_ptr, K, BM: tl.constexpr, BN: tl.constexpr, BK: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    rk = tl.arange(0, BK)
    acc = tl.zeros((BM, BN), dtype=tl.float32)
    for k in range(0, K, BK):
        a = tl.load(a_ptr + rm[:, None] * K + (k + rk)[None, :])
        b = tl.load(b_ptr + (k + rk)[:, None] * BN + rn[None, :])
        acc += tl.dot(a, b)
    tl.store(c_ptr + rm[:, None] * BN + rn[None, :], acc)

def launch(kernel):
    a = np.ones((16, 32), np.float32); b = np.ones((32, 16), np.float32); c = np.zeros((16, 16), np.float32)
    kernel[(1,)](a, b, c, 32, BM=16, BN=16, BK=16)
''',
    "atomics_int": '''
@triton.jit
def kernel(x_ptr, hist_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    v = tl.load(x_ptr + offs, mask=m, other=0)
    v = (v * 7 + 3) % 16
    v = tl.where(v < 0, -v, v)
    tl.atomic_add(hist_ptr + v, 1, mask=m)
    tl.atomic_max(hist_ptr + 16, v, mask=m)

def launch(kernel):
    x = np.arange(700, dtype=np.int32); hist = np.zeros(17, np.int32)
    kernel[(triton.cdiv(700, 64),)](x, hist, 700, BLOCK=64)
''',
    "while_cast": '''
@triton.jit
def kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    x = tl.load(x_ptr + offs, mask=m, other=0).to(tl.float32)
    i = 0
    while i < 4:
        x = tl.where(x > 10.0, x / 2.0, x + 1.0)
        i += 1
    y = tl.cumsum(x.to(tl.int32), axis=0)
    z = tl.sqrt(tl.abs(x)) + tl.log(x * x + 1.0)
    tl.store(out_ptr + offs, (y.to(tl.float32) + z).to(tl.float16), mask=m)

def launch(kernel):
    x = np.arange(100, dtype=np.int32); out = np.zeros(100, np.float16)
    kernel[(1,)](x, out, 100, BLOCK=128)
''',
}

_BINOPS = ["+", "-", "*", "/", "//", "%", "<<", ">>", "&", "|", "^", "<", ">", "==", "!=", "<=", ">="]
_CONSTS = ["0", "1", "-1", "2", "3", "7", "16", "31", "32", "33", "64", "100", "1024", "4096", "65536",
           "2**31", "2**31 - 1", "2**32", "2**63", "-2**31", "0.5", "1e38", "-1e38", "1e-45", "float('nan')",
           "float('inf')", "True", "False", "None", "'a'", "(1, 2)", "[]", "tl.float16", "tl.int8", "tl.int64",
           "tl.float64", "tl.bfloat16", "tl.uint8", "tl.int1", "1.5"]
_FUNCS = ["tl.sum", "tl.max", "tl.min", "tl.argmax", "tl.cumsum", "tl.exp", "tl.log", "tl.sqrt", "tl.abs",
          "tl.sigmoid", "tl.softmax", "tl.ravel", "tl.trans", "tl.sort", "tl.flip", "tl.program_id",
          "tl.num_programs", "tl.arange", "tl.zeros", "tl.full", "tl.load", "tl.store", "tl.where",
          "tl.atomic_add", "tl.atomic_xchg", "tl.atomic_cas", "tl.reshape", "tl.broadcast_to", "tl.expand_dims",
          "tl.dot", "tl.cdiv", "tl.static_range", "range", "tl.device_print", "tl.static_assert",
          "tl.device_assert", "tl.multiple_of", "tl.max_contiguous", "tl.minimum", "tl.umulhi", "tl.fma",
          "tl.clamp", "tl.join", "tl.split", "tl.cat", "tl.histogram", "tl.erf", "tl.log1p", "tl.rand"]
_SUFFIXES = ["", "[:, None]", "[None, :]", "[None]", ".to(tl.int32)", ".to(tl.float16)", ".to(tl.int8)",
             ".to(tl.float32, bitcast=True)", ".T", ".dtype", "[0]", " * 0", " + 2**31"]
_LINES = ["pass", "return", "x = x", "tl.static_assert(False)", "tl.debug_barrier()", "BLOCK = 3",
          "offs = offs * 1000000", "mask = offs < 0", "n = n * 2**20", "tl.device_assert(offs < 0, 'boom')",
          "z = tl.zeros([2**20], dtype=tl.float32)", "q = tl.arange(0, 3)", "for _q in range(10): pass",
          "while True: pass", "k = tl.program_id(3)", "raise ValueError('x')", "import os", "x = undefined_name",
          "y = lambda q: q", "assert False", "del n", "global g", "print('hi')", "yield 1"]


def mutate(src: str, rng: random.Random) -> tuple[str, str]:
    """One random mutation of `src`'s kernel body (the `def launch` part stays) and its name."""
    head, sep, tail = src.partition("\ndef launch")
    lines = head.split("\n")
    body = [i for i, line in enumerate(lines) if line.startswith("    ") and line.strip()]
    i = rng.choice(body)
    line = lines[i]
    # Mostly mutations that keep the source parseable, so the compiler and the executor are
    # what gets exercised; a few that break the syntax.
    kind = rng.choices(
        ["binop", "const", "func", "name", "suffix", "axis", "del", "dup", "insert", "swap", "char", "indent", "number"],
        weights=[4, 4, 4, 3, 3, 1, 2, 1, 3, 1, 1, 1, 2],
    )[0]
    if kind == "binop":
        ops = [m for m in re.finditer(r"(?<=\s)(\+|-|\*|/|//|%|<|>|==|&|\|)(?=\s)", line)]
        if ops:
            m = rng.choice(ops)
            line = line[: m.start()] + rng.choice(_BINOPS) + line[m.end():]
    elif kind in ("const", "number"):
        nums = list(re.finditer(r"(?<![\w.])\d+(\.\d+)?(?![\w.])", line))
        if nums:
            m = rng.choice(nums)
            line = line[: m.start()] + rng.choice(_CONSTS) + line[m.end():]
    elif kind == "func":
        calls = list(re.finditer(r"\btl\.\w+|\brange\b", line))
        if calls:
            m = rng.choice(calls)
            line = line[: m.start()] + rng.choice(_FUNCS) + line[m.end():]
    elif kind == "name":
        names = sorted(set(re.findall(r"\b[a-z_][a-z_0-9]*\b", head)) - {"def", "for", "in", "tl", "if", "while",
                                                                           "triton", "jit", "kernel", "dtype"})
        found = list(re.finditer(r"\b[a-z_][a-z_0-9]*\b", line))
        if found and names:
            m = rng.choice(found)
            line = line[: m.start()] + rng.choice(names) + line[m.end():]
    elif kind == "suffix":
        found = list(re.finditer(r"\b[a-z_][a-z_0-9]*\b(?!\()", line))
        if found:
            m = rng.choice(found)
            line = line[: m.end()] + rng.choice(_SUFFIXES) + line[m.end():]
    elif kind == "axis":
        line = re.sub(r"axis=\d", f"axis={rng.choice(['0', '1', '2', '-1', 'None'])}", line)
    elif kind == "del":
        line = ""
    elif kind == "dup":
        line = line + "\n" + line
    elif kind == "insert":
        indent = line[: len(line) - len(line.lstrip())]
        line = indent + rng.choice(_LINES) + "\n" + line
    elif kind == "swap":
        j = rng.choice(body)
        lines[j], line = line, lines[j]
    elif kind == "char":
        pos = rng.randrange(len(line) + 1)
        line = line[:pos] + rng.choice("()[]:,.+-*/=<>\"'#\\ \té0") + line[pos:]
    elif kind == "indent":
        line = rng.choice(["", "  ", "        "]) + line.lstrip()
    lines[i] = line
    return "\n".join(lines) + sep + tail, kind


WORKER = r'''
import json, sys, traceback, signal
import numpy as np
import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError, OutOfResources

def classify(e):
    msg = str(e)
    if isinstance(e, CompilationError):
        located = getattr(e, "lineno", None) is not None or bool(__import__("re").search(r":\d+:\d+", msg))
        return "compile_error", located, msg
    if isinstance(e, OutOfResources):
        return "out_of_resources", "kernel" in msg, msg
    if isinstance(e, RuntimeError) and "internal error" in msg:
        return "panic", False, msg
    if isinstance(e, RuntimeError):
        return "runtime_error", "kernel" in msg, msg
    if isinstance(e, (TypeError, ValueError)) and ("kernel" in msg or "argument" in msg):
        return "launch_error", True, msg
    # Raised by the mutant's own Python (its launcher), with a Python traceback as location.
    return "python_error", True, f"{type(e).__name__}: {msg}"

import triton_metal._core as _core
_compile = _core.compile

def _compile_and_build(*args, **kwargs):
    # Builds the runtime library too, then tells the parent the kernel is compiled: a hang
    # after this is the kernel itself running (a `while True`), as it would on a GPU.
    k = _compile(*args, **kwargs)
    k.prepare()
    print(json.dumps({"phase": "run"}), flush=True)
    return k

_core.compile = _compile_and_build

for line in sys.stdin:
    job = json.loads(line)
    ns = {"np": np, "triton": triton, "tl": tl}
    path = job["path"]
    try:
        code = compile(open(path).read(), path, "exec")
        exec(code, ns)
        ns["launch"](ns["kernel"])
        result = ("ok", True, "")
    except SyntaxError as e:
        result = ("syntax_error", e.lineno is not None, str(e))
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        result = classify(e)
    print(json.dumps({"id": job["id"], "outcome": result[0], "located": result[1], "msg": result[2][:400]}), flush=True)
'''


class Worker:
    def __init__(self, env):
        self.env = env
        self.start()

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=self.env, bufsize=1)

    def run(self, job, timeout):
        """The worker's answer for `job`, or ("died", rc) / ("timeout", None)."""
        import selectors

        try:
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return self.restart("died")
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.time() + timeout
        phase = "compile"
        while True:
            if not sel.select(max(0.0, deadline - time.time())):
                # A kernel that loops forever hangs as on a GPU; a compiler that does not
                # finish is a bug.
                return self.restart("kernel_runs_forever" if phase == "run" else "timeout")
            line = self.proc.stdout.readline()
            if not line:
                return self.restart("died")
            msg = json.loads(line)
            if "phase" in msg:
                phase = msg["phase"]
                continue
            return msg

    def restart(self, what):
        rc = self.proc.poll()
        if rc is None:
            self.proc.kill()
            rc = self.proc.wait()
        self.start()
        return {"outcome": what, "located": False, "msg": f"worker exit status {rc}"}

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant before it counts as a hang")
    ap.add_argument("--max-mutations", type=int, default=3, help="mutations applied to each mutant (1..N)")
    ap.add_argument("--out", default="fuzz-failures")
    ap.add_argument("--start", type=int, default=0,
                    help="run mutants start..count-1 of the seed's sequence (to split one run over processes)")
    ap.add_argument("--time-limit", type=float, default=None,
                    help="seconds after which no new mutant starts; the summary covers those that ran")
    ap.add_argument("--replay", help="run one mutant file and print its outcome")
    args = ap.parse_args(argv)

    env = dict(os.environ)
    env.setdefault("TRITON_METAL_CPU_THREADS", "1")
    tmp = Path(tempfile.mkdtemp(prefix="tm-fuzz-"))
    if args.replay:
        w = Worker(env)
        print(w.run({"id": 0, "path": str(Path(args.replay).resolve())}, args.timeout))
        return 0

    rng = random.Random(args.seed)
    header = "import numpy as np\nimport triton_metal as triton\nimport triton_metal.language as tl\n"
    jobs = []
    for n in range(args.count):
        name = rng.choice(sorted(SEEDS))
        src = textwrap.dedent(SEEDS[name])
        kinds = []
        for _ in range(rng.randint(1, args.max_mutations)):
            src, kind = mutate(src, rng)
            kinds.append(kind)
        if n < args.start:
            continue
        path = tmp / f"m{n:05d}_{name}.py"
        path.write_text(header + src)
        jobs.append({"id": len(jobs), "path": str(path), "seed": name, "kinds": kinds})

    import concurrent.futures as cf

    workers = [Worker(env) for _ in range(args.jobs)]
    free = list(workers)
    import threading

    lock = threading.Lock()
    results = [None] * len(jobs)
    t0 = time.time()

    def run(job):
        if args.time_limit is not None and time.time() - t0 > args.time_limit:
            return job, None
        with lock:
            w = free.pop()
        try:
            return job, w.run({"id": job["id"], "path": job["path"]}, args.timeout)
        finally:
            with lock:
                free.append(w)

    done = 0
    with cf.ThreadPoolExecutor(args.jobs) as ex:
        for job, res in ex.map(run, jobs):
            results[job["id"]] = res
            done += 1
            if done % 200 == 0:
                print(f"  {done}/{len(jobs)} mutants, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    for w in workers:
        try:
            w.close()
        except Exception:  # noqa: BLE001
            w.proc.kill()
    ran = [i for i, r in enumerate(results) if r is not None]
    if len(ran) < len(jobs):
        print(f"time limit reached: {len(jobs) - len(ran)} of {len(jobs)} mutants not run")
        jobs = [jobs[i] for i in ran]
        results = [results[i] for i in ran]

    outcomes = Counter(r["outcome"] for r in results)
    expected = ("kernel_runs_forever",)
    bad = [
        (j, r)
        for j, r in zip(jobs, results)
        if r["outcome"] in ("died", "timeout", "panic") or (not r["located"] and r["outcome"] not in expected)
    ]
    print(f"{len(jobs)} mutants in {time.time() - t0:.0f} s (seed {args.seed}, from mutant {args.start}, {args.jobs} workers)")
    for k, v in outcomes.most_common():
        print(f"  {k:18s} {v}")
    deaths = outcomes["died"]
    hangs = outcomes["timeout"]
    panics = outcomes["panic"]
    unlocated = sum(1 for _, r in bad if r["outcome"] not in ("died", "timeout", "panic"))
    print(f"process deaths: {deaths}, hangs: {hangs}, panics: {panics}, errors without location: {unlocated}")
    if outcomes["kernel_runs_forever"]:
        print(f"  ({outcomes['kernel_runs_forever']} compiled kernels ran past the timeout, e.g. `while True`; "
              "as on a GPU, not counted as failures)")
    if bad:
        out = Path(args.out)
        out.mkdir(exist_ok=True)
        for j, r in bad:
            dest = out / Path(j["path"]).name
            dest.write_text(Path(j["path"]).read_text())
            print(f"  {r['outcome']}: {dest} ({'+'.join(j['kinds'])}): {r['msg'][:200]}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
