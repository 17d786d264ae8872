"""``triton.backends.driver``: the driver interface (``DriverBase``)."""

from __future__ import annotations

__all__ = ["DriverBase", "GPUDriver"]


class DriverBase:
    """What a runtime driver offers (``triton.backends.driver.DriverBase``)."""

    @classmethod
    def is_active(cls):
        raise NotImplementedError

    def get_current_target(self):
        raise NotImplementedError

    def get_active_torch_device(self):
        raise NotImplementedError

    def get_benchmarker(self):
        from ..testing import do_bench

        return do_bench


GPUDriver = DriverBase
