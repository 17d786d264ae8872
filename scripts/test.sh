#!/usr/bin/env bash
# Quick start, part 2: install what the tests need and run the whole suite
# (Rust tests of every crate, then the Python tests on the CPU executor).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-clang.sh
bash scripts/venv.sh pytest
echo "== cargo test =="
cargo test --workspace --exclude tm-py --quiet
echo "== pytest =="
.venv/bin/python -m pytest -q python/tests "$@"
