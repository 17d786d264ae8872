"""Test-suite settings: every kernel the tests compile also passes the Metal
address-space syntax check."""

import os

os.environ.setdefault("TRITON_METAL_SYNTAX_CHECK", "1")
