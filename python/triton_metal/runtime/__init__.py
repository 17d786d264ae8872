"""Runtime pieces: the ``@jit`` decorator and kernel launching."""

from .autotuner import Autotuner, Config, Heuristics, autotune, heuristics
from .jit import JITFunction, jit
from . import driver  # triton.runtime.driver.active

__all__ = ["Autotuner", "Config", "Heuristics", "JITFunction", "autotune", "driver", "heuristics", "jit"]
