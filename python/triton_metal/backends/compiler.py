"""``triton.backends.compiler``: targets and compiler options.

``GPUTarget(backend, arch, warp_size)`` names what kernels are compiled for;
``MetalBackend`` is the compiler of triton_metal's one backend (``"metal"`` on a Mac,
``"cpu"`` for the CPU executor elsewhere), with Triton's ``parse_options``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from typing import NamedTuple, Union

__all__ = ["BaseBackend", "GPUTarget", "MetalBackend", "MetalOptions"]


class GPUTarget(NamedTuple):
    """What kernels are compiled for, as Triton's ``GPUTarget(backend, arch, warp_size)``."""

    backend: str
    arch: Union[int, str]
    warp_size: int


class BaseBackend:
    def __init__(self, target):
        self.target = target

    @staticmethod
    def supports_target(target):
        raise NotImplementedError


@dataclass(frozen=True)
class MetalOptions:
    """Compiler options (``backend.parse_options``). ``num_warps`` is the number of
    simdgroups of a program (a power of two, 1 to 32); the others are accepted for
    compatibility and change nothing here: Metal has no pipelining knobs (num_stages),
    clusters (num_ctas) or register caps (maxnreg), and fast math stays off."""

    num_warps: int = 4
    num_stages: int = 1
    num_ctas: int = 1
    maxnreg: object = None
    debug: bool = False
    sanitize_overflow: bool = False
    enable_fp_fusion: bool = False
    cluster_dims: tuple = (1, 1, 1)
    backend_name: str = "metal"
    arch: object = None
    warp_size: int = 32
    supported_fp8_dtypes: tuple = ()
    deprecated_fp8_dtypes: tuple = ()
    default_dot_input_precision: str = "ieee"
    allowed_dot_input_precisions: tuple = ("ieee", "tf32", "tf32x3")
    max_num_imprecise_acc_default: int = 0
    extern_libs: object = None

    def hash(self):
        return hashlib.sha256(repr(sorted(self.__dict__.items())).encode()).hexdigest()


class MetalBackend(BaseBackend):
    """The compiler of triton_metal's backend."""

    @staticmethod
    def supports_target(target):
        backend = target[0] if isinstance(target, (tuple, list)) else getattr(target, "backend", None)
        return backend in ("metal", "cpu", "mps")

    def __init__(self, target):
        super().__init__(target)
        self.binary_ext = "metal"

    def parse_options(self, opts):
        known = {f.name for f in fields(MetalOptions)}
        args = {k: v for k, v in opts.items() if k in known and v is not None}
        args["backend_name"] = self.target[0]
        args["arch"] = self.target[1]
        args["warp_size"] = self.target[2]
        nw = args.get("num_warps", 4)
        if not isinstance(nw, int) or nw < 1 or nw & (nw - 1) or nw > 32:
            raise ValueError(f"num_warps must be a power of two between 1 and 32, got {nw!r}")
        return MetalOptions(**args)

    def get_codegen_implementation(self, options=None):
        return {}

    def get_module_map(self):
        return {}

    def hash(self):
        from ..compiler.compiler import triton_key

        return f"{triton_key()}-{self.target}"
