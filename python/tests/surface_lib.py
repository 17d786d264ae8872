"""A user module for test_surface.py: kernels there call into it as `surface_lib.helper(x)`,
the way FlagGems and Liger import their utility modules."""

import triton_metal as triton
import triton_metal.language as tl

SCALE = tl.constexpr(3)
OFFSET = 10  # a plain Python int global is a constexpr too


@triton.jit
def program_id(axis: tl.constexpr):
    return tl.program_id(axis)


@triton.jit
def scaled(x):
    # Its own globals (SCALE, OFFSET) resolve in this module.
    return x * SCALE + OFFSET
