"""PyTorch MPS tensors: launches queued on PyTorch's own MPS stream.

A launch whose arrays are MPS tensors goes through PyTorch's public API for custom Metal
kernels, ``torch.mps.compile_shader`` (PyTorch 2.6+): the kernel's PyTorch entry
(``_core.Kernel.torch_variant``, generated in Rust: scalars one per buffer slot, threadgroup
memory declared in the kernel) is compiled once into a shader library, and each launch calls
``lib.NAME(*tensors, *scalars, threads=..., group_size=...)``, which encodes the dispatch on
PyTorch's current MPS stream. There is no ``torch.mps.synchronize()`` and no host wait: the
kernel is ordered with PyTorch's own ops by the stream, as a native op is.

Where that API is missing (PyTorch before 2.6), or a kernel cannot take that form, launches
fall back to triton_metal's own command queue after ``torch.mps.synchronize()`` (correct,
but a full GPU round trip per launch), with a one-time warning.

PyTorch compiles the library itself: with safe math (IEEE results, as triton_metal's own
runtime) unless ``PYTORCH_MPS_FAST_MATH=1``, and with the MSL version PyTorch chooses for the
OS (3.0 before macOS 14, so no bfloat there).

Everything is checked before anything is queued: every pointer argument must then be an MPS
tensor (no host arrays or tensors of other devices mixed in); tensors whose memory is not
what they show (conjugate or negative views) and tensors written by the kernel whose elements
share memory (``expand``) are refused.
"""

from __future__ import annotations

import sys
import warnings

__all__ = ["MPSArg", "available", "launch"]


class MPSArg:
    """Stands for an MPS tensor among a launch's buffers (see jit.py's ``_torch_tensor``)."""

    __slots__ = ("name", "tensor")

    def __init__(self, name, tensor):
        self.name = name
        self.tensor = tensor


_warned = set()
_libraries = {}  # compiled kernel -> (library function, threads per threadgroup) or None


def _warn_once(key, message):
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def available():
    """Whether the running PyTorch has ``torch.mps.compile_shader``; warns once if not."""
    mps = getattr(sys.modules.get("torch"), "mps", None)
    if callable(getattr(mps, "compile_shader", None)):
        return True
    _warn_once(
        "api",
        "triton_metal: torch.mps.compile_shader is missing (PyTorch 2.6 or newer has it): kernels on MPS "
        "tensors run on triton_metal's own queue after torch.mps.synchronize(), a full GPU round trip per launch",
    )
    return False


def check_tensor(name, kname, tensor, written):
    """ValueError for an MPS tensor a kernel cannot use in place."""
    for what in ("is_conj", "is_neg"):
        flag = getattr(tensor, what, None)
        if flag is not None and flag():
            raise ValueError(
                f"argument '{name}' of kernel '{kname}' is a lazily {what[3:]}-resolved view whose memory does not "
                f"hold its values; pass tensor.resolve_{what[3:]}()"
            )
    if written:
        for size, stride in zip(tensor.shape, tensor.stride()):
            if size > 1 and stride == 0:
                raise ValueError(
                    f"argument '{name}' of kernel '{kname}' is written by the kernel, but its elements share memory "
                    f"(stride 0, as after expand()); pass tensor.contiguous()"
                )


def _library(kernel):
    """The torch.mps kernel function of a compiled kernel and its threadgroup size, or None
    (with a one-time warning) when the kernel cannot take the PyTorch form."""
    entry = _libraries.get(kernel, _libraries)
    if entry is not _libraries:
        return entry
    try:
        variant = kernel.torch_variant()
    except ValueError as e:
        _warn_once(("variant", kernel.name), f"triton_metal: {e}; it runs after torch.mps.synchronize() instead")
        entry = None
    else:
        lib = sys.modules["torch"].mps.compile_shader(variant["msl"])
        entry = (getattr(lib, variant["entry"]), variant["threads_per_threadgroup"])
    _libraries[kernel] = entry
    return entry


def _scalar(value, dtype):
    """A scalar as PyTorch passes it (int -> int64, float -> float32): bools as ints, and
    uint64 values above int64 as their two's complement (the kernel converts back)."""
    if dtype.startswith("fp") or dtype == "bf16":
        return float(value)
    v = int(value)
    return v - 2**64 if v >= 2**63 else v


def launch(kernel, kname, grid, buffers, scalars):
    """Queues `kernel` on PyTorch's MPS stream. Returns False (nothing done) when the launch
    must take the synchronous path instead."""
    entry = _library(kernel) if available() else None
    if entry is None:
        return False
    written = kernel.written
    tensors = []
    for i, b in enumerate(buffers):
        if type(b) is not MPSArg:
            raise TypeError(
                f"kernel '{kname}': pointer argument {i} is host memory (a numpy array or CPU tensor) while other "
                "arguments are MPS tensors; move it with .to('mps')"
            )
        check_tensor(b.name, kname, b.tensor, written[i])
        tensors.append(b.tensor)
    kernel.check_scalars(scalars)  # range errors as on every other path, before anything is queued
    if 0 in grid:
        return True
    fn, threads = entry
    dtypes = kernel.scalar_dtypes
    args = tensors + [_scalar(v, d) for v, d in zip(scalars, dtypes)]
    fn(*args, threads=[grid[0] * threads, grid[1], grid[2]], group_size=[threads, 1, 1])
    return True
