"""``triton.runtime.cache``: hash encodings libraries use for cache paths.

Kernels themselves are cached by the Rust core (``TRITON_METAL_CACHE_DIR``)."""

from __future__ import annotations

import base64

__all__ = ["_base32", "_base64", "default_cache_dir"]


def _base64(key):
    """A hex digest as URL-safe base64 without padding (Triton's file names)."""
    return base64.urlsafe_b64encode(bytes.fromhex(key)).decode("utf-8").rstrip("=")


def _base32(key):
    return base64.b32encode(bytes.fromhex(key)).decode("utf-8").rstrip("=")


def default_cache_dir():
    from .. import _core

    return _core.kernel_cache_dir()
