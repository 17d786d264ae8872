#!/usr/bin/env bash
# Quick start, part 2: install what the tests need and run the whole suite
# (the Metal runtime type-checked for macOS, Rust tests of every crate, then the Python
# tests on the CPU executor).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-clang.sh
bash scripts/venv.sh pytest ml_dtypes
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
