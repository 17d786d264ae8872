"""triton_metal.ops: the autotuned matmul and its per-family configs; the
matmul benchmark's correctness mode (what runs without a GPU)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from triton_metal.ops import matmul, matmul_configs


@pytest.mark.parametrize("family", ["Apple7", "Apple8", "Apple9", "Apple10", "cpu", ""])
def test_configs_fit_threadgroup_memory_and_simdgroups(family):
    configs = matmul_configs(family)
    assert configs
    for c in configs:
        bm, bn, bk = c.kwargs["BLOCK_M"], c.kwargs["BLOCK_N"], c.kwargs["BLOCK_K"]
        assert max(bm * bn, (bm + bn) * bk) * 4 <= 32 * 1024
        assert (bm // 8) * (bn // 8) >= c.num_warps


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_autotuned_matmul(dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((70, 90)).astype(dtype)
    b = rng.standard_normal((90, 50)).astype(dtype)
    ref = a.astype(np.float32) @ b.astype(np.float32)
    tol = 1e-4 if dtype == np.float32 else 2e-2
    np.testing.assert_allclose(matmul(a, b).astype(np.float32), ref, rtol=tol, atol=tol)


def test_matmul_benchmark_checks_correctness_without_a_gpu():
    script = Path(__file__).resolve().parents[2] / "benchmarks" / "matmul.py"
    r = subprocess.run([sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WRONG" not in r.stdout and "summary:" in r.stdout
