"""Threadgroup memory and barriers per K step of the tl.dot cases of gpu_proxy_cases.py
(matmul_fp16, attention_fwd), read from the MSL we generate: the numbers issue 13 asks to
track for tl.dot (proxy timings say nothing about Apple's matrix units; these counts do).
Runs the `small` size of each case on the CPU executor, checks it against the case's
reference, and prints per case: threadgroup bytes, barriers inside the K loop, barriers
in the whole kernel.

    .venv/bin/python benchmarks/dot_counts.py
"""
import inspect
import os
import re
import sys

import numpy as np

import triton_metal

sys.modules.setdefault("triton", triton_metal)
sys.modules.setdefault("triton.language", triton_metal.language)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_proxy_cases  # noqa: E402

BARRIER = "threadgroup_barrier("


def loop_body(msl):
    """The text of the first `for` loop over a runtime bound written by the kernel (the K loop)."""
    m = re.search(r"\n(\s*)for \(int v\d+ = ", msl)
    if m is None:
        return ""
    depth, i = 0, msl.index("{", m.end())
    start = i
    while True:
        c = msl[i]
        depth += c == "{"
        depth -= c == "}"
        if depth == 0:
            return msl[start:i]
        i += 1


def main():
    rng = np.random.default_rng(0)
    for case in gpu_proxy_cases.CASES:
        if case["name"] not in ("matmul_fp16", "attention_fwd"):
            continue
        args = case["make"](rng, **case["small"])
        consts = case["constexprs"]
        consts = consts(*args) if callable(consts) else consts
        k = case["kernel"][case["grid"](*args)](*args, **consts, num_warps=case["num_warps"])
        names = list(inspect.signature(getattr(case["kernel"], "fn", case["kernel"])).parameters)
        got = args[names.index(case["outputs"][0])]
        np.testing.assert_allclose(got, case["reference"](*args), rtol=case["tol"], atol=case["tol"])
        msl = k.asm["msl"]
        body = loop_body(msl)
        print(f"{case['name']:15s} threadgroup bytes {k.threadgroup_memory_bytes:6d}   "
              f"barriers per K step {body.count(BARRIER):2d}   barriers in kernel {msl.count(BARRIER):2d}")


if __name__ == "__main__":
    main()
