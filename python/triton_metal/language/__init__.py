"""``triton_metal.language`` (``tl``): the names Triton kernels are written with.

Inside a ``@triton.jit`` function these names are compiled by the Rust front
end; the Python objects here only exist so that kernels import, annotate and
pass dtypes and constexprs the way they do with upstream Triton.
"""

from .core import (
    block_type,
    const,
    const_pointer_type,
    constexpr,
    dtype,
    pi32_t,
    pointer_type,
    tensor,
    int1,
    int8,
    int16,
    int32,
    int64,
    uint8,
    uint16,
    uint32,
    uint64,
    float16,
    bfloat16,
    float32,
    float64,
    float8e4nv,
    float8e5,
    float8e4b15,
    float8e4b8,
    float8e5b16,
)
from .core import _device_only_functions

_DEVICE_ONLY = {k: v for k, v in _device_only_functions().items() if k not in globals()}
globals().update(_DEVICE_ONLY)

from . import core, extra, math, standard  # noqa: E402,F401

__all__ = [
    "block_type",
    "const",
    "const_pointer_type",
    "constexpr",
    "dtype",
    "pi32_t",
    "pointer_type",
    "tensor",
    "int1",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "float8e4nv",
    "float8e5",
    "float8e4b15",
    "float8e4b8",
    "float8e5b16",
] + sorted(_DEVICE_ONLY)
