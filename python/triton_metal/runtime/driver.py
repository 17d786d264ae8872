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

from .. import _core
from ..backends.compiler import GPUTarget
from ..backends.driver import DriverBase

__all__ = ["ActiveDriver", "GPUTarget", "MPSDriver", "MemoryPool", "driver", "reset_active", "set_active"]  # and `active`


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
    "M5": 10,
}


def _core_count(d):
    if d.backend != "metal":
        import os

        return os.cpu_count() or 1
    name = d.device_name.replace("Apple ", "")
    return _GPU_CORES.get(name) or _GPU_CORES.get(d.chip, 10)


class ActiveDriver(DriverBase):
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

    def set_kernel_config(self, num_warps=None, num_stages=None, max_threads=None, shared_memory=None):
        """Defaults for later launches (``num_warps``, ``num_stages``) and limits they must
        respect (``max_threads`` per program, ``shared_memory``: bytes of threadgroup memory),
        validated against this device; None leaves a setting as it is. A launch's own
        ``num_warps=`` still wins; a kernel over a limit raises OutOfResources at launch.
        Metal has no asynchronous copy pipeline: ``num_stages`` is accepted and recorded, as
        launches accept it, and changes no code. Returns the configuration now in force."""
        from . import config as _config

        new = _config.CONFIG.as_dict()
        limit_threads, limit_smem = self.max_threads_per_threadgroup, self.max_threadgroup_memory
        if max_threads is not None:
            if not isinstance(max_threads, int) or max_threads < self.simd_width or max_threads % self.simd_width:
                raise ValueError(f"max_threads must be a multiple of {self.simd_width}, got {max_threads!r}")
            if max_threads > limit_threads:
                raise ValueError(f"max_threads={max_threads} is over this device's {limit_threads} threads per threadgroup")
            new["max_threads"] = max_threads
        if shared_memory is not None:
            if not isinstance(shared_memory, int) or shared_memory < 0:
                raise ValueError(f"shared_memory must be a number of bytes, got {shared_memory!r}")
            if shared_memory > limit_smem:
                raise ValueError(
                    f"shared_memory={shared_memory} is over this device's {limit_smem} bytes of threadgroup memory"
                )
            new["shared_memory"] = shared_memory
        if num_warps is not None:
            if not isinstance(num_warps, int) or num_warps < 1 or num_warps & (num_warps - 1):
                raise ValueError(f"num_warps must be a power of two, got {num_warps!r}")
            cap = new["max_threads"] or limit_threads
            if num_warps * self.simd_width > cap:
                raise ValueError(
                    f"num_warps={num_warps} gives {num_warps * self.simd_width} threads per program; at most {cap} here"
                )
            new["num_warps"] = num_warps
        if num_stages is not None:
            if not isinstance(num_stages, int) or num_stages < 1:
                raise ValueError(f"num_stages must be a positive int, got {num_stages!r}")
            new["num_stages"] = num_stages
        for k, v in new.items():
            setattr(_config.CONFIG, k, v)
        _config.changed()
        return dict(new)

    def kernel_config(self):
        """The configuration ``set_kernel_config`` set (None: the device's limit)."""
        from . import config as _config

        return _config.CONFIG.as_dict()

    def memory_pool(self):
        """Device memory triton_metal allocated itself (``current_allocated``, ``max_allocated``
        in bytes): staging copies of host arrays Metal cannot use in place. The CPU executor
        works on the caller's arrays and allocates none."""
        return MemoryPool()

    @classmethod
    def is_active(cls):
        """Whether this runtime can run kernels here (a Metal GPU on a Mac, the CPU
        executor elsewhere)."""
        try:
            _core.device_info()
        except RuntimeError:
            return False
        return True

    def get_device_interface(self):
        """The torch device module kernels' tensors live on (``torch.mps`` or ``torch.cpu``)."""
        import torch

        return torch.mps if self.backend == "metal" else torch.cpu

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


class MemoryPool:
    """Bytes of device memory triton_metal allocated, read live at each access."""

    @property
    def current_allocated(self):
        return _core.memory_stats()[0]

    @property
    def max_allocated(self):
        return _core.memory_stats()[1]

    def __repr__(self):
        return f"<MemoryPool current_allocated={self.current_allocated} max_allocated={self.max_allocated}>"


def MPSDriver():
    """The active driver (``driver.active``), by the name Metal ports of Triton give it."""
    return __getattr__("active")


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


class _DriverConfig:
    """``triton.runtime.driver.driver``: the active driver, settable."""

    @property
    def active(self):
        return __getattr__("active")

    @property
    def default(self):
        return __getattr__("active")

    def set_active(self, drv):
        set_active(drv)

    def reset_active(self):
        reset_active()


driver = _DriverConfig()
