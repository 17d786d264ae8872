"""``triton.knobs``: runtime settings libraries read and set.

- ``knobs.runtime.launch_enter_hook`` / ``launch_exit_hook``: called around every launch
  made through ``CompiledKernel.run`` with the launch's metadata (name, grid, stream).
- ``knobs.cache.dir``: the kernel cache directory (``TRITON_METAL_CACHE_DIR``), read-only.
- ``knobs.autotuning.print``: print each autotuning choice (``TRITON_PRINT_AUTOTUNING``).
"""

from __future__ import annotations

import os


class _Runtime:
    def __init__(self):
        self.launch_enter_hook = None
        self.launch_exit_hook = None
        self.interpret = False
        self.debug = False


class _Cache:
    @property
    def dir(self):
        from . import _core

        return _core.kernel_cache_dir()


class _Autotuning:
    @property
    def print(self):
        return os.environ.get("TRITON_PRINT_AUTOTUNING", "0") == "1"

    @print.setter
    def print(self, value):
        os.environ["TRITON_PRINT_AUTOTUNING"] = "1" if value else "0"


runtime = _Runtime()
cache = _Cache()
autotuning = _Autotuning()

__all__ = ["autotuning", "cache", "runtime"]
