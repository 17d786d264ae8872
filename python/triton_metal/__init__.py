"""triton_metal: Triton kernels on Apple GPUs, with a Rust compiler core.

Use it like Triton::

    import triton_metal as triton
    import triton_metal.language as tl
"""

from ._core import __version__
from . import language
from .compiler.errors import CompilationError, OutOfResources, TritonError
from . import errors
from .runtime.jit import JITFunction, TensorWrapper, jit, reinterpret
from .runtime.autotuner import Config, autotune, heuristics
from .runtime.batch import batch
from .runtime._allocation import set_allocator
from . import testing
from . import backends, compiler, knobs, runtime
from .compiler import compile
from .runtime.jit import KernelInterface
from ._alias import install_alias as _install_alias, wanted_by_environment as _wanted

# TRITON_BACKEND=metal: `import triton` in this process resolves to triton_metal (even when a
# real Triton is installed), from now on. See _alias.py for the other ways to ask for it.
_install_alias("env")

# torch.compile: Inductor learns which tensors a triton_metal kernel writes from our compiler
# (torch's own analysis needs upstream Triton's TTIR), and compiles Triton kernels in this
# process rather than in compile workers. See _torch_hooks.py.
from . import _torch_hooks

_torch_hooks.install()

__all__ = [
    "__version__",
    "jit",
    "JITFunction",
    "autotune",
    "Config",
    "heuristics",
    "batch",
    "set_allocator",
    "testing",
    "compile",
    "knobs",
    "backends",
    "compiler",
    "runtime",
    "KernelInterface",
    "cdiv",
    "next_power_of_2",
    "language",
    "CompilationError",
    "OutOfResources",
    "TritonError",
    "reinterpret",
    "TensorWrapper",
]


def cdiv(x, y):
    """Ceiling division, ``(x + y - 1) // y``."""
    return (x + y - 1) // y


def next_power_of_2(n: int) -> int:
    """The smallest power of two that is >= ``n`` (1 for n <= 1)."""
    n = int(n)
    return 1 if n <= 1 else 1 << (n - 1).bit_length()
