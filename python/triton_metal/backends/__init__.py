"""``triton.backends``: the compiler and driver of each target, as Triton lists its plugins.

triton_metal has one backend, named after the runtime kernels run on: ``"metal"`` on a Mac,
``"cpu"`` elsewhere (the CPU executor, which runs the same Metal code). PyTorch's Inductor
looks for ``"cpu"`` here before generating Triton kernels for CPU tensors.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .compiler import BaseBackend, MetalBackend
from .driver import DriverBase

__all__ = ["Backend", "backends"]


@dataclass(frozen=True)
class Backend:
    compiler: type = BaseBackend
    driver: type = DriverBase


def _discover():
    from ..runtime.driver import ActiveDriver

    name = "metal" if sys.platform == "darwin" else "cpu"
    return {name: Backend(compiler=MetalBackend, driver=ActiveDriver)}


_backends = None


def __getattr__(name):
    # Made on first use: the driver module imports this package's compiler module.
    global _backends
    if name == "backends":
        if _backends is None:
            _backends = _discover()
        return _backends
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
