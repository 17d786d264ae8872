"""``triton.language.extra.libdevice``: CUDA libdevice-style names (``exp``,
``pow``, ``tanh``, ``isnan``, ``log1p``, ``fast_expf``, ...) compiled to Metal
math by triton_metal. Device-only: call them inside ``@triton.jit``."""

from ..core import _device_only_functions

globals().update(_device_only_functions())
