"""``triton.runtime.errors``: errors raised when a kernel is launched."""

from .._core import OutOfResources, TritonError


class InterpreterError(TritonError):
    """Upstream raises it from its interpreter (``TRITON_INTERPRET=1``); triton_metal has no
    interpreter and never raises it. Defined so that code catching it imports."""


__all__ = ["InterpreterError", "OutOfResources", "TritonError"]
