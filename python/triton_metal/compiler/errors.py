"""Errors raised while compiling a kernel (``triton.compiler.errors``).

Both derive from ``TritonError``. ``CompilationError`` carries ``filename``,
``lineno``, ``col``, ``source_line`` and ``error_message`` (the message without
the location); its text shows the offending line with a caret.
"""

from .._core import CompilationError, OutOfResources, TritonError

__all__ = ["CompilationError", "OutOfResources", "TritonError"]
