"""``triton.language.extra.cuda``: kept for kernels that import
``triton.language.extra.cuda.libdevice``; the functions are Metal's."""

from .. import libdevice

__all__ = ["libdevice"]
