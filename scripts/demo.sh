#!/usr/bin/env bash
# Quick start, part 1: install triton_metal and run the vector-add demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-clang.sh
bash scripts/venv.sh
.venv/bin/python examples/01_vector_add.py
