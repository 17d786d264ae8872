"""The device kernels run on, as ``triton.runtime.driver.active`` describes it in Triton.

On a Mac the active driver is Metal's GPU; elsewhere it is the CPU executor, with the same
attributes::

    from triton_metal.runtime import driver
    d = driver.active
    d.device_name, d.chip, d.gpu_family        # "Apple M2 Pro", "M2", "Apple8"
    d.max_threads_per_threadgroup, d.max_threadgroup_memory, d.simd_width
    d.unified_memory_bytes, d.msl_version, d.supports_bfloat
    d.memory_stats()                           # {"current_bytes": ..., "peak_bytes": ...}

Triton's own entry points work too: ``get_current_device``, ``get_current_stream``,
``get_current_target``, ``get_active_torch_device``, ``utils.get_device_properties``.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import _core

__all__ = ["ActiveDriver", "GPUTarget", "reset_active", "set_active"]  # and `active`


class GPUTarget(NamedTuple):
    """What kernels are compiled for, as Triton's ``GPUTarget(backend, arch, warp_size)``."""

    backend: str
    arch: str
    warp_size: int


class _Utils:
    def __init__(self, drv):
        self._drv = drv

    def get_device_properties(self, device=0):
        """Triton's device properties, as far as Metal has them. Metal reports no
        core count or register file size: `multiprocessor_count` is the GPU core
        count of the chip variant (from its name; the CPU count for the CPU
        executor) and `max_num_regs` the 32-bit registers a threadgroup may use
        at full occupancy, so upstream's occupancy arithmetic (tutorial 02)
        gives sensible programs counts."""
        d = self._drv
        return {
            "max_shared_mem": d.max_threadgroup_memory,
            "max_threads_per_block": d.max_threads_per_threadgroup,
            "warpSize": d.simd_width,
            "multiprocessor_count": _core_count(d),
            "max_num_regs": 65536,
        }


# GPU cores of each Apple chip variant (the base model's count where the name
# does not say which variant; binned parts may have fewer).
_GPU_CORES = {
    "M1": 8, "M1 Pro": 16, "M1 Max": 32, "M1 Ultra": 64,
    "M2": 10, "M2 Pro": 19, "M2 Max": 38, "M2 Ultra": 76,
    "M3": 10, "M3 Pro": 18, "M3 Max": 40, "M3 Ultra": 80,
    "M4": 10, "M4 Pro": 20, "M4 Max": 40,
}


def _core_count(d):
    if d.backend != "metal":
        import os

        return os.cpu_count() or 1
    name = d.device_name.replace("Apple ", "")
    return _GPU_CORES.get(name) or _GPU_CORES.get(d.chip, 10)


class ActiveDriver:
    """The runtime kernels launch on: ``"metal"`` (the GPU of a Mac) or ``"cpu"`` (the CPU
    executor, which runs the same Metal code on other hosts)."""

    def __init__(self):
        info = _core.device_info()  # RuntimeError if there is no usable device
        self.info = dict(info)
        self.backend = info["backend"]
        self.device_name = info["device_name"]
        self.chip = info["chip"]
        self.gpu_family = info["gpu_family"]
        self.max_threads_per_threadgroup = info["max_threads_per_threadgroup"]
        self.max_threadgroup_memory = info["max_threadgroup_memory"]
        self.simd_width = info["simd_width"]
        self.unified_memory_bytes = info["unified_memory_bytes"]
        self.recommended_working_set_bytes = info["recommended_working_set_bytes"]
        self.msl_version = info["msl_version"]
        self.supports_bfloat = info["supports_bfloat"]
        self.utils = _Utils(self)

    def memory_stats(self):
        """Bytes of device memory triton_metal allocated itself (copies of arrays that could
        not be used in place), now and at most; the caller's arrays are not counted."""
        current, peak = _core.memory_stats()
        return {"current_bytes": current, "peak_bytes": peak}

    def is_active(self):
        return True

    def get_current_device(self):
        return 0

    def set_current_device(self, device):
        if device != 0:
            raise ValueError(f"triton_metal has one device, 0; got {device!r}")

    def get_current_stream(self, device=None):
        """Launches wait for their kernels, so there is no stream to order against: 0."""
        return 0

    def get_current_target(self):
        return GPUTarget(self.backend, self.gpu_family, self.simd_width)

    def get_active_torch_device(self):
        """``torch.device("mps")`` on a Mac, ``torch.device("cpu")`` elsewhere."""
        import torch

        return torch.device("mps" if self.backend == "metal" else "cpu")

    def synchronize(self):
        """Launches complete before they return; nothing is pending."""

    def __repr__(self):
        return f"<triton_metal driver {self.backend}: {self.device_name}>"


_active = None


def set_active(drv):
    global _active
    _active = drv


def reset_active():
    global _active
    _active = None


def __getattr__(name):
    # `active` is created on first use, so importing triton_metal touches no device.
    if name in ("active", "default"):
        global _active
        if _active is None:
            _active = ActiveDriver()
        return _active
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
