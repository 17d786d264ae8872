#!/usr/bin/env bash
# Makes sure a clang++ (17 or newer: bf16 arithmetic) is available for the CPU
# executor. Linux only; on macOS kernels run on Metal and need no compiler.
# Installs Debian's clang-19 when none is found.
set -euo pipefail
if [[ "$(uname)" == "Darwin" ]]; then exit 0; fi
major() { "$1" --version 2>/dev/null | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1; }
if [[ -n "${TRITON_METAL_CLANG:-}" ]] && command -v "$TRITON_METAL_CLANG" >/dev/null; then exit 0; fi
for c in clang++-19 clang++-18 clang++-17 clang++-20 clang++-21 clang++; do
    if command -v "$c" >/dev/null && [[ "$(major "$c")" -ge 17 ]]; then exit 0; fi
done
echo "[triton_metal] no clang++ >= 17 found: installing Debian's clang-19 for the CPU executor" >&2
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq clang-19 >/dev/null
