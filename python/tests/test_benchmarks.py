"""The speed benchmarks run (quick mode) and print their table and summary line; the
instruments they rely on work: the dry-run mode launches nothing, and `cache=False`
compiles from source. No timing is asserted here: the benchmarks are for people and CI logs."""

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import _core

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def run(script, *args):
    cmd = [sys.executable, str(BENCHMARKS / script), *args]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.splitlines()


def test_compile_latency_prints_every_kernel_and_a_summary():
    lines = run("compile_latency.py", "--quick", "--no-upstream")
    header = next(i for i, line in enumerate(lines) if line.startswith("kernel"))
    rows = lines[header + 2 : header + 7]
    for row, kernel in zip(rows, ["vector add", "fused softmax", "matmul", "layer norm", "attention fwd"]):
        assert row.startswith(kernel) and len(row.split()) > 4, row
    assert lines[-1].startswith("summary: triton_metal median ") and "ms per kernel" in lines[-1]
    assert "upstream Triton not timed" in lines[-1]


@pytest.mark.skipif(
    importlib.util.find_spec("triton") is None, reason="upstream Triton is not installed (pip install triton)"
)
def test_compile_latency_compares_with_upstream_triton():
    lines = run("compile_latency.py", "--quick", "--only", "vector add")
    row = next(line for line in lines if line.startswith("vector add"))
    assert row.rstrip().endswith("x"), row  # the speed-up column
    assert "faster than upstream Triton" in lines[-1]


def test_launch_overhead_prints_the_floor_and_a_summary():
    lines = run("launch_overhead.py", "--quick")
    assert any(line.startswith("floor: _core.noop()") for line in lines)
    assert any(line.startswith("kernel[grid](") for line in lines)
    assert lines[-1].startswith("summary: cached launch ") and "floor" in lines[-1]


def test_mac_latency_prints_rows_for_what_is_available():
    lines = run("mac_latency.py", "--quick", "--size", "4096")
    assert any(line.startswith("numpy      kernel[grid] in triton_metal.batch()") for line in lines)
    if importlib.util.find_spec("torch") is None:
        assert "skipped torch mps: PyTorch is not installed" in lines
    assert lines[-1].startswith("summary: best ") and "the native op" in lines[-1]


def test_dry_run_launches_check_arguments_and_run_nothing(tmp_path):
    script = tmp_path / "dry.py"
    script.write_text(textwrap.dedent("""
        import numpy as np
        import triton_metal as triton
        import triton_metal.language as tl
        from triton_metal import _core

        @triton.jit
        def fill(out_ptr, n, BLOCK: tl.constexpr):
            offs = tl.arange(0, BLOCK)
            tl.store(out_ptr + offs, offs + 1, mask=offs < n)

        out = np.zeros(16, np.int32)
        for _ in range(3):  # the generic path, then the fast path
            k = fill[(1,)](out, 16, BLOCK=16)
        assert _core.dry_run()
        assert not out.any(), out
        try:  # arguments are still checked against the launch ABI
            k.launch((1, 1, 1), [_core.host_buffer(out)], [2**40])
        except TypeError as e:
            print("refused:", e)
    """))
    env = dict(os.environ, TRITON_METAL_DRY_RUN="1")
    r = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "refused:" in r.stdout and "cannot hold the value" in r.stdout
    assert not _core.dry_run()  # the test process itself launches for real


@triton.jit
def twice(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) * 2)


def test_compile_without_cache_always_compiles_from_source():
    src = twice._source_tuple(frozenset({id(twice)}))
    specs = [("ptr", "fp32", 16), ("constexpr", 16)]
    _core.compile(src, specs, 4)
    assert _core.compile(src, specs, 4).timings[0][0] == "memory cache hit"
    for _ in range(2):
        k = _core.compile(src, specs, 4, cache=False)
        assert [stage for stage, _ in k.timings][:3] == ["ttir", "passes", "msl"]
        assert "kernel void" in k.asm["msl"]
