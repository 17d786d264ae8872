"""Runtime pieces: the ``@jit`` decorator and kernel launching."""

from .jit import JITFunction, jit

__all__ = ["JITFunction", "jit"]
