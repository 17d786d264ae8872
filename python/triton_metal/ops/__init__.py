"""Ready-made kernels written in Triton: matmul with per-GPU-family tile configs."""

from .matmul import matmul, matmul_configs

__all__ = ["matmul", "matmul_configs"]
