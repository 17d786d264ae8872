#!/usr/bin/env bash
# Quick start, part 2: install what the tests need and run the whole suite
# (the Metal runtime type-checked for macOS, Rust tests of every crate, then the Python
# tests on the CPU executor).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-clang.sh
bash scripts/venv.sh pytest ml_dtypes
# PyTorch for the torch.compile tests (Inductor generating Triton kernels that triton_metal
# runs): pinned, from PyPI. Its Linux wheel needs the CUDA libraries it links (about 3 GB, a
# few minutes); upstream Triton, which it also lists, is left out: triton 3.4's interpreter
# fails with numpy 2.4 and would break test_differential. TRITON_METAL_NO_TORCH=1 leaves
# torch out and those tests are skipped.
TORCH_VERSION=2.8.0
if [[ "${TRITON_METAL_NO_TORCH:-0}" != 1 ]] && ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
    echo "== pip install torch==$TORCH_VERSION (without upstream triton) =="
    .venv/bin/python -m pip install -q --no-deps "torch==$TORCH_VERSION"
    .venv/bin/python - > .venv/torch-requirements.txt <<'PY'
import importlib.metadata as md
from packaging.requirements import Requirement
for r in md.requires("torch") or []:
    req = Requirement(r)
    if req.name != "triton" and (req.marker is None or req.marker.evaluate({"extra": ""})):
        print(req)
PY
    .venv/bin/python -m pip install -q -r .venv/torch-requirements.txt
fi
# Liger-Kernel, unmodified, for test_liger.py (its dependencies are torch, above, and the
# upstream Triton that triton_metal stands in for: --no-deps). Skipped when not installable.
if [[ "${TRITON_METAL_NO_TORCH:-0}" != 1 ]] && ! .venv/bin/python -m pip show -q liger-kernel >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q --no-deps "liger-kernel==0.8.5" || echo "liger-kernel could not be installed: test_liger.py is skipped"
fi
echo "== cargo check --target aarch64-apple-darwin (the Metal runtime) =="
# No Mac here: the Apple-only crate is at least type-checked, with everything that uses it.
if rustup target add aarch64-apple-darwin >/dev/null 2>&1; then
    cargo check --quiet --tests --target aarch64-apple-darwin -p tm-metal -p tm-driver -p tm-py
    echo "ok"
else
    echo "SKIPPED: 'rustup target add aarch64-apple-darwin' failed here, so crates/tm-metal is not type-checked in this run"
fi
echo "== cargo test =="
cargo test --workspace --exclude tm-py --quiet
echo "== pytest =="
.venv/bin/python -m pytest -q python/tests "$@"
