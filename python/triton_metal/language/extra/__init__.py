"""``triton.language.extra``: vendor-style math libraries (``libdevice``)."""

from . import libdevice

__all__ = ["libdevice"]
