"""Process-wide launch defaults set by ``MPSDriver().set_kernel_config`` (runtime/driver.py):
read by both launch paths (jit.py, launcher.py)."""

from __future__ import annotations

import weakref


class KernelConfig:
    """Defaults for launches that do not say otherwise, and limits every launch must respect."""

    __slots__ = ("num_warps", "num_stages", "max_threads", "shared_memory")

    def __init__(self):
        self.num_warps = 4
        self.num_stages = 3
        self.max_threads = None  # None: the device's limit
        self.shared_memory = None

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


CONFIG = KernelConfig()

# Every JITFunction, so that a new configuration empties their launch fast-path tables.
FUNCTIONS = weakref.WeakSet()


def changed():
    for fn in list(FUNCTIONS):
        fn._fast.clear()


def check_limits(kernel, kname):
    """OutOfResources when a compiled kernel exceeds the configured limits."""
    c = CONFIG
    if c.max_threads is None and c.shared_memory is None:
        return
    from ..compiler.errors import OutOfResources

    if c.max_threads is not None and kernel.threads_per_threadgroup > c.max_threads:
        raise OutOfResources(
            f"kernel '{kname}' needs {kernel.threads_per_threadgroup} threads per program, over the "
            f"max_threads={c.max_threads} set by set_kernel_config; use a smaller num_warps"
        )
    if c.shared_memory is not None and kernel.threadgroup_memory_bytes > c.shared_memory:
        raise OutOfResources(
            f"kernel '{kname}' needs {kernel.threadgroup_memory_bytes} bytes of threadgroup memory, over the "
            f"shared_memory={c.shared_memory} set by set_kernel_config; use smaller blocks"
        )
