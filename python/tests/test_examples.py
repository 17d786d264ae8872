"""Every script in examples/ runs and matches numpy; the backend comparison writes its
tables (and plots when matplotlib is installed)."""

import csv
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

# Largest acceptable |difference from numpy| per example (fp16 output for matmul).
TOLERANCE = {
    "01_vector_add.py": 0.0,
    "02_fused_softmax.py": 1e-6,
    "03_matmul.py": 0.05,
    "04_layer_norm.py": 1e-4,
    "05_conv2d.py": 1e-4,
}


def test_every_example_is_listed():
    scripts = sorted(p.name for p in EXAMPLES.glob("[0-9]*.py"))
    assert scripts == sorted(TOLERANCE) + ["06_compare_backends.py"]


@pytest.mark.parametrize("script", sorted(TOLERANCE))
def test_example_matches_numpy(script):
    r = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    m = re.search(r"max difference from numpy: (\S+)", r.stdout)
    assert m, r.stdout
    assert float(m.group(1)) <= TOLERANCE[script]


def test_compare_backends_writes_tables(tmp_path):
    r = subprocess.run(
        [sys.executable, str(EXAMPLES / "06_compare_backends.py"), "--quick", "--only", "vector-add,conv2d-3x3",
         "--save-path", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert r.returncode == 0, r.stderr
    for name in ("vector-add", "conv2d-3x3"):
        with open(tmp_path / f"{name}.csv") as f:
            rows = list(csv.reader(f))
        assert rows[0][:3] == ["size", "triton_metal", "numpy"]
        assert len(rows) == 3 and all(float(v) > 0 for row in rows[1:] for v in row)
        assert f"{name}:" in r.stdout
    assert not (tmp_path / "fused-softmax.csv").exists()
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "matplotlib is not installed" in r.stdout
    else:
        assert (tmp_path / "vector-add.png").read_bytes().startswith(b"\x89PNG")
