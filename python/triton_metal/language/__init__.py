"""``triton_metal.language`` (``tl``): the names Triton kernels are written with.

Inside a ``@triton.jit`` function these names are compiled by the Rust front
end; the Python objects here only exist so that kernels import, annotate and
pass dtypes and constexprs the way they do with upstream Triton.
"""

from .core import (
    constexpr,
    dtype,
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
)
from .core import _device_only_functions

globals().update(_device_only_functions())

from .core import tensor, pointer_type  # noqa: E402  (classes, after the device functions)
from . import core, extra, math, standard  # noqa: E402,F401

__all__ = [
    "constexpr",
    "dtype",
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
    "tensor",
    "pointer_type",
] + sorted(_device_only_functions())
