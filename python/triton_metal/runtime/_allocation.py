"""``triton.set_allocator``: the allocator upstream's launcher calls for a kernel's global
scratch memory (on-device tensor-descriptor creation, profiling buffers).

triton_metal kernels never need global scratch memory: in-kernel tensor descriptors are plain
pointer/shape/stride values, so no launch ever calls the allocator. It is kept (per context,
as upstream does) so that programs that install one run unchanged and can read it back.
"""

from __future__ import annotations

import contextvars


class NullAllocator:
    """Upstream's default: fails when a kernel asks for scratch memory (ours never do)."""

    def __call__(self, size: int, alignment: int, stream):
        raise RuntimeError("Kernel requires a runtime memory allocation, but no allocator was set. "
                           "Use triton.set_allocator to specify an allocator.")


_NULL_ALLOCATOR = NullAllocator()
_allocator: contextvars.ContextVar = contextvars.ContextVar("_allocator", default=_NULL_ALLOCATOR)


def set_allocator(allocator) -> None:
    """Installs `allocator(size, alignment, stream)` for this context."""
    if not callable(allocator):
        raise TypeError(f"set_allocator expects a callable (size, alignment, stream) -> buffer, got {type(allocator).__name__}")
    _allocator.set(allocator)


def get_allocator():
    return _allocator.get()
