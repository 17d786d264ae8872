"""Differential test: the same upstream-Triton kernel sources (differential/
cases.py) run under Triton's interpreter and under triton_metal must give the
same numbers. Needs a Python with upstream Triton installed: this one, or the
one named by TRITON_METAL_DIFF_PYTHON. Skipped with a message otherwise (it is
not a CI requirement)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CASES = Path(__file__).parent / "differential" / "cases.py"


def _upstream_python():
    candidate = os.environ.get("TRITON_METAL_DIFF_PYTHON", sys.executable)
    probe = subprocess.run([candidate, "-c", "import triton, triton.language; print(triton.__version__)"],
                           capture_output=True, text=True)
    return candidate if probe.returncode == 0 and "triton_metal" not in probe.stdout else None


def test_same_kernels_same_numbers_as_triton_interpreter(tmp_path):
    upstream = _upstream_python()
    if upstream is None:
        pytest.skip("upstream Triton is not installed (pip install triton, or set TRITON_METAL_DIFF_PYTHON)")
    ref_path, ours_path = tmp_path / "upstream.npz", tmp_path / "ours.npz"
    env = dict(os.environ, TRITON_INTERPRET="1")
    r = subprocess.run([upstream, str(CASES), str(ref_path)], env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    r = subprocess.run([sys.executable, "-m", "triton_metal", str(CASES), str(ours_path)], env=env,
                       capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    ref, ours = np.load(ref_path), np.load(ours_path)
    assert sorted(ref.files) == sorted(ours.files)
    exact = {"integers", "randint", "histogram"}
    for name in ref.files:
        a, b = ours[name], ref[name]
        if name in exact:
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            tol = 2e-2 if "float16" in name else 1e-4
            np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol, atol=tol, err_msg=name)
