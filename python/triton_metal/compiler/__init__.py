"""Compiler-facing names mirroring ``triton.compiler``."""

from .errors import CompilationError, OutOfResources

__all__ = ["CompilationError", "OutOfResources"]
