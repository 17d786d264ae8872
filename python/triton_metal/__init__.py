"""triton_metal: Triton kernels on Apple GPUs, with a Rust compiler core.

Use it like Triton::

    import triton_metal as triton
    import triton_metal.language as tl
"""

from ._core import __version__
from . import language
from .compiler.errors import CompilationError, OutOfResources
from .runtime.jit import JITFunction, jit
from .runtime.autotuner import Config, autotune, heuristics
from .runtime.batch import batch
from . import testing

__all__ = [
    "__version__",
    "jit",
    "JITFunction",
    "autotune",
    "Config",
    "heuristics",
    "batch",
    "testing",
    "cdiv",
    "next_power_of_2",
    "language",
    "CompilationError",
    "OutOfResources",
]


def cdiv(x, y):
    """Ceiling division, ``(x + y - 1) // y``."""
    return (x + y - 1) // y


def next_power_of_2(n: int) -> int:
    """The smallest power of two that is >= ``n`` (1 for n <= 1)."""
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()
