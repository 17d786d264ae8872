"""``triton.compiler``: ``compile``, ``ASTSource``, ``CompiledKernel`` and the errors."""

from .errors import CompilationError, OutOfResources
from .compiler import ASTSource, CompiledKernel, compile, make_backend, triton_key

__all__ = ["ASTSource", "CompilationError", "CompiledKernel", "OutOfResources", "compile", "make_backend", "triton_key"]
