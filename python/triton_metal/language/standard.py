"""``triton.language.standard``: the reductions and helpers Triton writes in Triton
(``sum``, ``max``, ``softmax``, ...), compiled by triton_metal inside jit functions."""

from .core import _device_only_functions

globals().update(_device_only_functions())
