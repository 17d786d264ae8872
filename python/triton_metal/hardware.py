"""What the hardware kernels run on: ``hardware_capabilities()`` and ``AppleSiliconGeneration``.

On a Mac this describes the Apple GPU (from Metal: device name, GPU family, limits, the MSL
version kernels are compiled with); elsewhere it describes the CPU executor, which runs the
same MSL on the CPU, with ``backend == "cpu"`` and ``generation`` UNKNOWN::

    from triton_metal.hardware import hardware_capabilities, AppleSiliconGeneration
    caps = hardware_capabilities()
    if caps.generation >= AppleSiliconGeneration.M3: ...
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

__all__ = ["AppleSiliconGeneration", "HardwareCapabilities", "hardware_capabilities"]


class AppleSiliconGeneration(enum.IntEnum):
    """The M-series generation of an Apple Silicon GPU (UNKNOWN: another device, a later chip,
    or the CPU executor). Ordered: ``M3 > M2``."""

    UNKNOWN = 0
    M1 = 1
    M2 = 2
    M3 = 3
    M4 = 4
    M5 = 5

    @classmethod
    def from_chip(cls, chip: str) -> "AppleSiliconGeneration":
        """From the driver's chip name ("M1" ... "M5"; anything else is UNKNOWN)."""
        return cls.__members__.get(chip, cls.UNKNOWN)


@dataclass(frozen=True)
class HardwareCapabilities:
    backend: str  # "metal" (an Apple GPU) or "cpu" (the CPU executor)
    device_name: str
    generation: AppleSiliconGeneration
    gpu_family: str  # the highest MTLGPUFamily ("Apple9"), or "cpu"
    core_count: int  # GPU cores of the chip variant; CPU cores for the CPU executor
    max_threads_per_threadgroup: int
    max_threadgroup_memory: int
    simd_width: int
    unified_memory_bytes: int
    recommended_working_set_bytes: int
    msl_version: tuple  # (major, minor) kernels are compiled with
    supports_bfloat: bool


_cached = None


def hardware_capabilities() -> HardwareCapabilities:
    """The capabilities of the device kernels run on (read once per process)."""
    global _cached
    if _cached is None:
        from .runtime import driver

        d = driver.active
        props = d.utils.get_device_properties(0)
        major, _, minor = str(d.msl_version).partition(".")
        _cached = HardwareCapabilities(
            backend=d.backend,
            device_name=d.device_name,
            generation=AppleSiliconGeneration.from_chip(d.chip),
            gpu_family=d.gpu_family,
            core_count=int(props["multiprocessor_count"]) if d.backend == "metal" else (os.cpu_count() or 1),
            max_threads_per_threadgroup=d.max_threads_per_threadgroup,
            max_threadgroup_memory=d.max_threadgroup_memory,
            simd_width=d.simd_width,
            unified_memory_bytes=d.unified_memory_bytes,
            recommended_working_set_bytes=d.recommended_working_set_bytes,
            msl_version=(int(major), int(minor or 0)),
            supports_bfloat=d.supports_bfloat,
        )
    return _cached
