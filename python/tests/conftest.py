"""Test-suite settings: on Linux, every kernel the tests compile also passes the
Metal address-space syntax check (it needs the CPU executor's clang; on a Mac
the Metal compiler itself checks every kernel)."""

import os
import sys

if sys.platform.startswith("linux"):
    os.environ.setdefault("TRITON_METAL_SYNTAX_CHECK", "1")
