"""MLX's functional form of a launch: lazy, on MLX's graph, composable with ``mx.compile``.

::

    import triton_metal.mlx as tmx
    out = tmx.call(add_kernel, x, y, out_like, n, BLOCK=1024, grid=(triton.cdiv(n, 1024),))

``call`` launches a ``@triton.jit`` kernel through MLX's ``mx.fast.metal_kernel`` and returns
**new arrays** for the pointer arguments the kernel writes (one array, or a tuple in
signature order); the arrays passed for them give only the shape and dtype. Nothing is
evaluated: the result is a node of MLX's graph, computed when MLX evaluates it, on MLX's
stream, ordered with MLX's own ops.

The kernel's MLX form is generated in Rust (``_core.Kernel.mlx_variant``): the kernel body as
a function in ``header``, and a ``source`` that declares its threadgroup memory, gathers the
scalars (passed as 0-d arrays of the kernel's scalar types) and calls it. Pointer arguments
the kernel never writes are MLX inputs; written ones are outputs.

What differs from the in-place launch (``kernel[grid](...)`` on MLX arrays, which evaluates
its arrays and waits):

- a written pointer's new array starts uninitialised, as ``metal_kernel`` outputs do, unless
  ``init=`` gives a value for every element (``init=0`` for a kernel accumulating with
  atomics); a kernel that reads a pointer it writes (``x += ...``) is refused without
  ``init=`` (the compiler records which pointers are read and written): it needs the
  in-place launch;
- arrays are passed row-contiguous (MLX copies other views first), so strides the kernel
  receives should be those of a contiguous array;
- pointer arguments are specialised as aligned to their element size only (MLX may bind an
  array at an offset in its buffer).

MLX compiles the kernel with its own options (its math mode and MSL version), which may
differ from triton_metal's runtime (safe math, the newest MSL the OS has).

Errors come before anything is queued: arguments that are not MLX arrays, a stream or device
that is not the GPU (``metal_kernel`` runs only there), an ``outputs=`` list that does not
name exactly the written pointers, a grid MLX cannot dispatch.
"""

from __future__ import annotations

import sys
import types

import importlib

_jit = importlib.import_module("triton_metal.runtime.jit")

__all__ = ["call"]

_kernels = {}  # compiled kernel -> (mx.fast.metal_kernel object, its MLX form)


def _mx():
    mx = sys.modules.get("mlx.core")
    if mx is None:
        try:
            import mlx.core as mx
        except ImportError:
            raise ImportError("triton_metal.mlx.call needs MLX (pip install mlx)") from None
    return mx


def _is_mlx_array(x):
    return (type(x).__module__ or "").partition(".")[0] == "mlx" and hasattr(x, "dtype") and hasattr(x, "shape")


def _dtype_name(dtype):
    return (getattr(dtype, "name", None) or str(dtype)).rsplit(".", 1)[-1]


class _StandIn:
    """Stands for an MLX array while specialising: its dtype, aligned to its element size."""

    def __init__(self, dtype_name, itemsize):
        self.dtype = types.SimpleNamespace(name=dtype_name)
        self.shape = (0,)
        self.__array_interface__ = {"data": (itemsize, False), "shape": (0,), "typestr": "|V0", "version": 3}


def _check_stream(mx, stream):
    if stream is None:
        return
    device = getattr(stream, "device", stream)
    dtype = getattr(device, "type", device)
    if dtype != mx.gpu:
        raise ValueError(
            f"triton_metal.mlx.call: stream {stream!r} is not on the GPU; mx.fast.metal_kernel runs only there"
        )


def _mlx_form(kernel):
    entry = _kernels.get(kernel)
    if entry is None:
        mx = _mx()
        form = kernel.mlx_variant()
        fast = mx.fast.metal_kernel(
            name=kernel.name,
            input_names=[n for n, _, _ in form["inputs"]],
            output_names=[n for n, _ in form["outputs"]],
            source=form["source"],
            header=form["header"],
            ensure_row_contiguous=True,
        )
        entry = _kernels[kernel] = (fast, form)
    return entry


def call(kernel, *args, grid, outputs=None, init=None, stream=None, **kwargs):
    """Launches `kernel` over `grid` through ``mx.fast.metal_kernel``, lazily, and returns new
    MLX arrays for the pointer arguments it writes (one array, or a tuple in signature
    order, or in the order of `outputs`: parameter names, which must be exactly the written
    pointer arguments). `init`: initial value of every element of those arrays (MLX's
    ``init_value``); uninitialised otherwise. `stream`: an MLX GPU stream or device.
    Constexpr and launch options (``num_warps``) are keyword arguments as for
    ``kernel[grid](...)``."""
    if not isinstance(kernel, _jit.JITFunction):
        raise TypeError(f"triton_metal.mlx.call: expected a @triton.jit kernel, got {type(kernel).__name__}")
    mx = _mx()
    kname = kernel.__name__
    metal = getattr(mx, "metal", None)
    if metal is not None and not metal.is_available():
        raise RuntimeError(
            f"kernel '{kname}': this MLX has no Metal back-end (mlx[cpu] on Linux, say), so mx.fast.metal_kernel "
            "cannot run; launch in place with kernel[grid](...) on MLX arrays instead"
        )
    _check_stream(mx, stream)

    def stand_in(name, arg):
        if _is_mlx_array(arg):
            return _StandIn(_dtype_name(arg.dtype), arg.itemsize)
        if _is_array_like(arg):
            raise TypeError(
                f"argument '{name}' of kernel '{kname}' is a {type(arg).__name__}; triton_metal.mlx.call takes MLX "
                "arrays (convert with mx.array)"
            )
        return None

    compiled, arguments, scalars, options = kernel._bind_for(args, dict(kwargs), stand_in)
    if callable(grid):
        meta = dict(arguments)
        meta.update(options)
        grid = grid(meta)
    grid = _jit._normalize_grid(grid, kname)
    if 0 in grid:
        raise ValueError(f"kernel '{kname}': grid {grid} is empty; mx.fast.metal_kernel cannot dispatch it")
    compiled.check_scalars(scalars)
    fast, form = _mlx_form(compiled)
    threads = form["threads_per_threadgroup"]
    if grid[0] * threads >= 2**31:
        raise ValueError(
            f"kernel '{kname}': {grid[0]} programs of {threads} threads exceed the 2**31 - 1 threads per grid "
            "dimension mx.fast.metal_kernel can dispatch"
        )
    # Arrays by buffer slot: the runtime parameters that are arrays, in order.
    arrays = [a for i, (n, a) in enumerate(arguments.items()) if not kernel._is_constexpr[i] and _is_mlx_array(a)]
    names = [n for i, (n, a) in enumerate(arguments.items()) if not kernel._is_constexpr[i] and _is_mlx_array(a)]
    written = [names[slot] for _, slot in form["outputs"]]
    if outputs is not None:
        wanted = [outputs] if isinstance(outputs, str) else list(outputs)
        if sorted(wanted) != sorted(written):
            raise ValueError(
                f"kernel '{kname}' writes {written or 'no pointer argument'}; outputs={wanted!r} must name exactly "
                "those (MLX inputs are immutable, and an output is a new array)"
            )
    else:
        wanted = written
    if not written:
        raise ValueError(f"kernel '{kname}' writes no pointer argument, so there is nothing for it to return")
    read = compiled.read
    rmw = [names[slot] for _, slot in form["outputs"] if read[slot]]
    if rmw and init is None:
        raise ValueError(
            f"kernel '{kname}' reads as well as writes {rmw}; in the functional form a written pointer is a new "
            "array, which starts uninitialised: pass init= (the value every element starts with, such as 0 for "
            "atomic accumulation), or use the in-place launch kernel[grid](...)"
        )
    dtypes = compiled.scalar_dtypes
    inputs = []
    for _, kind, index in form["inputs"]:
        if kind == "buffer":
            a = arrays[index]
            if a.size < 8:
                # MLX passes arrays of fewer than 8 elements in the constant address space;
                # padding keeps every input a device pointer (the kernel reads its own extent).
                a = mx.concatenate([a.reshape(-1), mx.zeros((8 - a.size,), dtype=a.dtype)])
            inputs.append(a)
        else:
            inputs.append(mx.array(scalars[index], dtype=getattr(mx, _MLX_SCALAR[dtypes[index]])))
    out_arrays = [arrays[slot] for _, slot in form["outputs"]]
    extra = {} if init is None else {"init_value": init}
    if stream is not None:
        extra["stream"] = stream
    results = fast(
        inputs=inputs,
        output_shapes=[a.shape for a in out_arrays],
        output_dtypes=[a.dtype for a in out_arrays],
        grid=(grid[0] * threads, grid[1], grid[2]),
        threadgroup=(threads, 1, 1),
        **extra,
    )
    by_name = dict(zip(written, results))
    out = tuple(by_name[n] for n in wanted)
    return out[0] if len(out) == 1 else out


def _is_array_like(arg):
    return hasattr(arg, "__array_interface__") or hasattr(arg, "data_ptr") or hasattr(arg, "__cuda_array_interface__")


# The MLX dtype of each kernel scalar type (0-d inputs are `const constant T&`).
_MLX_SCALAR = {
    "i1": "bool_",
    "i8": "int8",
    "i16": "int16",
    "i32": "int32",
    "i64": "int64",
    "u8": "uint8",
    "u16": "uint16",
    "u32": "uint32",
    "u64": "uint64",
    "fp16": "float16",
    "bf16": "bfloat16",
    "fp32": "float32",
}
