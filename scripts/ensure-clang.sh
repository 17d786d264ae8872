#!/usr/bin/env bash
# Makes sure a clang++ is available for the CPU executor (Linux only; on macOS
# kernels run on Metal and need no compiler). Installs Debian's clang when absent.
set -euo pipefail
if [[ "$(uname)" == "Darwin" ]]; then exit 0; fi
if [[ -n "${TRITON_METAL_CLANG:-}" ]] && command -v "$TRITON_METAL_CLANG" >/dev/null; then exit 0; fi
for c in clang++-19 clang++-18 clang++-17 clang++-16 clang++; do
    if command -v "$c" >/dev/null; then exit 0; fi
done
echo "[triton_metal] clang++ not found: installing Debian's clang-19 for the CPU executor" >&2
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq clang-19 >/dev/null || $SUDO apt-get install -y -qq clang >/dev/null
