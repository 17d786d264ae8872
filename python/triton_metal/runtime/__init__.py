"""Runtime pieces: the ``@jit`` decorator and kernel launching."""

from .autotuner import Autotuner, Config, Heuristics, autotune, heuristics
from .jit import JITFunction, jit
from . import driver  # triton.runtime.driver.active
from . import errors
from .errors import InterpreterError, OutOfResources
from ._allocation import set_allocator

__all__ = ["Autotuner", "Config", "Heuristics", "InterpreterError", "JITFunction", "OutOfResources", "autotune", "driver",
           "errors", "heuristics", "jit", "set_allocator"]
