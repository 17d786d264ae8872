"""``triton.errors``: the base class of the errors raised about kernels."""

from ._core import TritonError

__all__ = ["TritonError"]
