"""Matrix multiplication in Triton (upstream tutorial 03's kernel) with default
tile configurations per Apple GPU family, exposed to autotuning.

`tl.dot` stages its operands through threadgroup memory as float32 and each
simdgroup owns a rectangle of 8x8 output tiles, so a config needs
max(BM*BN, (BM+BN)*BK) * 4 bytes of the 32 KiB and enough 8x8 tiles for its
simdgroups. The choices below stay within that; `matmul_configs` lists them
for `triton.autotune`.
"""

from __future__ import annotations

import numpy as np

from .. import language as tl
from ..runtime.autotuner import Config, autotune
from ..runtime.jit import jit

# (BLOCK_M, BLOCK_N, BLOCK_K, GROUP_M, num_warps). M1/M2 (Apple7/8) favour 4
# simdgroups on 64x64 tiles; M3 and later (Apple9+, dynamic caching) keep more
# simdgroups busy on the larger tiles.
_FAMILY_CONFIGS = {
    "Apple7": [(64, 64, 32, 8, 4), (32, 64, 32, 8, 4), (64, 32, 32, 8, 4), (32, 32, 32, 8, 2)],
    "Apple8": [(64, 64, 32, 8, 4), (32, 64, 32, 8, 4), (64, 32, 32, 8, 4), (32, 32, 32, 8, 2)],
    "Apple9": [(64, 64, 32, 8, 8), (128, 64, 16, 8, 8), (64, 64, 32, 8, 4), (32, 64, 32, 8, 4)],
}
_DEFAULT = [(64, 64, 32, 8, 4), (32, 32, 32, 8, 4), (32, 64, 16, 8, 2)]


def _fits(bm, bn, bk, warps):
    smem = max(bm * bn, (bm + bn) * bk) * 4
    return smem <= 32 * 1024 and (bm // 8) * (bn // 8) >= warps and min(bm, bn, bk) >= 16


def matmul_configs(gpu_family: str | None = None):
    """`triton.Config`s for the matmul kernel on `gpu_family` ("Apple7", ...;
    the active device's when None)."""
    if gpu_family is None:
        try:
            from ..runtime.driver import active

            gpu_family = active.gpu_family
        except Exception:  # no device information: use the generic list
            gpu_family = ""
    family_rank = 0
    if gpu_family.startswith("Apple") and gpu_family[5:].isdigit():
        family_rank = int(gpu_family[5:])
    key = f"Apple{min(family_rank, 9)}" if family_rank >= 7 else None
    choices = _FAMILY_CONFIGS.get(key, _DEFAULT)
    return [
        Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": g}, num_warps=w)
        for bm, bn, bk, g, w in choices
        if _fits(bm, bn, bk, w)
    ]


@autotune(configs=matmul_configs(), key=["M", "N", "K"])
@jit
def _matmul_kernel(
    a_ptr, b_ptr, c_ptr, M, N, K,
    stride_am, stride_ak, stride_bk, stride_bn, stride_cm, stride_cn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    pid = tl.program_id(axis=0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    num_pid_in_group = GROUP_M * num_pid_n
    group_id = pid // num_pid_in_group
    first_pid_m = group_id * GROUP_M
    group_size_m = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + ((pid % num_pid_in_group) % group_size_m)
    pid_n = (pid % num_pid_in_group) // group_size_m
    offs_am = (pid_m * BLOCK_M + tl.arange(0, BLOCK_M)) % M
    offs_bn = (pid_n * BLOCK_N + tl.arange(0, BLOCK_N)) % N
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + (offs_am[:, None] * stride_am + offs_k[None, :] * stride_ak)
    b_ptrs = b_ptr + (offs_k[:, None] * stride_bk + offs_bn[None, :] * stride_bn)
    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        a = tl.load(a_ptrs, mask=offs_k[None, :] < K - k * BLOCK_K, other=0.0)
        b = tl.load(b_ptrs, mask=offs_k[:, None] < K - k * BLOCK_K, other=0.0)
        acc = tl.dot(a, b, acc)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    offs_cm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_cn = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    c_ptrs = c_ptr + stride_cm * offs_cm[:, None] + stride_cn * offs_cn[None, :]
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=(offs_cm[:, None] < M) & (offs_cn[None, :] < N))


def matmul(a, b, out=None):
    """`a @ b` for 2-D numpy arrays (float16 or float32; float32 accumulation)."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs [M, K] x [K, N] arrays, got {a.shape} and {b.shape}")
    M, K = a.shape
    N = b.shape[1]
    if out is None:
        out = np.empty((M, N), dtype=a.dtype)
    grid = lambda meta: (-(-M // meta["BLOCK_M"]) * -(-N // meta["BLOCK_N"]),)
    item = lambda x: x.itemsize
    _matmul_kernel[grid](
        a, b, out, M, N, K,
        a.strides[0] // item(a), a.strides[1] // item(a),
        b.strides[0] // item(b), b.strides[1] // item(b),
        out.strides[0] // item(out), out.strides[1] // item(out),
    )
    return out
