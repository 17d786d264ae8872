"""``triton.language.math``: the math functions, usable inside jit functions as
``tl.math.exp(x)`` or after ``from triton.language import math``."""

from .core import _device_only_functions

globals().update(_device_only_functions())
