"""Errors raised while compiling a kernel (``triton.compiler.errors``).

``CompilationError`` carries ``filename``, ``lineno``, ``col`` and
``source_line``; its message shows the offending line with a caret.
"""

from .._core import CompilationError, OutOfResources

__all__ = ["CompilationError", "OutOfResources"]
