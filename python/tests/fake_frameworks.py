"""Small fakes of PyTorch's MPS kernel API and MLX's ``mx.fast.metal_kernel``, for testing
triton_metal's launch paths on hosts without Apple GPUs.

They follow the documented signatures and behaviour of the real APIs (read from PyTorch's
torch/csrc/mps/Module.cpp and MLX's mlx/backend/metal/custom_kernel.cpp and fast.cpp) and
raise where the real ones would reject a call, or where a call would be accepted but do the
wrong thing on a Mac (a scalar bound to a parameter of another type, a tensor of another
device). The kernels they receive run, as MSL, on the CPU executor
(``_core.cpu_run_entry``): the fake for PyTorch reads the entry's signature from the MSL as
Metal would; the fake for MLX writes the signature as MLX does and runs what it wrote.
"""

from __future__ import annotations

import re
import struct
import types

import numpy as np

from triton_metal import _core

# MSL type names in signatures -> triton dtype names.
_MSL_TYPES = {
    "float": "fp32", "half": "fp16", "bfloat": "bf16", "bool": "i1",
    "char": "i8", "short": "i16", "int": "i32", "long": "i64",
    "uchar": "u8", "ushort": "u16", "uint": "u32", "ulong": "u64",
    "int8_t": "i8", "int16_t": "i16", "int32_t": "i32", "int64_t": "i64",
    "uint8_t": "u8", "uint16_t": "u16", "uint32_t": "u32", "uint64_t": "u64",
    "float16_t": "fp16", "bfloat16_t": "bf16",
}
_NP = {"fp32": np.float32, "fp16": np.float16, "i1": np.bool_, "i8": np.int8, "i16": np.int16, "i32": np.int32,
       "i64": np.int64, "u8": np.uint8, "u16": np.uint16, "u32": np.uint32, "u64": np.uint64}
_PACK = {"fp32": "f", "fp16": "e", "i1": "?", "i8": "b", "i16": "h", "i32": "i", "i64": "q", "u8": "B", "u16": "H",
         "u32": "I", "u64": "Q"}
_BUILTINS = {"threadgroup_position_in_grid", "threadgroups_per_grid", "thread_index_in_threadgroup",
             "thread_index_in_simdgroup", "simdgroup_index_in_threadgroup"}
_MAX_SMEM = 32 * 1024


def _short(np_dtype):
    return {np.dtype(v): k for k, v in _NP.items()}[np.dtype(np_dtype)]


def pack(values, dtypes):
    """Scalars packed with C layout (each aligned to its size), as setBytes per struct."""
    out = b""
    for v, d in zip(values, dtypes):
        size = struct.calcsize(_PACK[d])
        out += b"\0" * (-len(out) % size)
        out += struct.pack("<" + _PACK[d], v)
    if dtypes:
        align = max(struct.calcsize(_PACK[d]) for d in dtypes)
        out += b"\0" * (-len(out) % align)
    return out


def offsets(dtypes):
    offs, at = [], 0
    for d in dtypes:
        size = struct.calcsize(_PACK[d])
        at += -at % size
        offs.append(at)
        at += size
    return offs


def _host(arr):
    """(address, start, length, flags) of a numpy array's whole memory."""
    base = arr.__array_interface__["data"][0]
    return (base, base, arr.nbytes, 1)


def _run(msl, entry, params, buffers, scalars, scalar_dtypes, group, grid):
    """Runs an entry on the CPU executor. `buffers`: (numpy array, address) per buffer slot."""
    btypes = [(f"b{i}", _short(a.dtype)) for i, (a, _) in enumerate(buffers)]
    offs = offsets(scalar_dtypes)
    entry_params = []
    for p in params:
        if p[0] == "scalar":
            entry_params.append(("scalar", scalar_dtypes[p[1]], offs[p[1]]))
        else:
            entry_params.append(p)
    ranges = []
    for arr, addr in buffers:
        base = arr.__array_interface__["data"][0]
        ranges.append((addr, base, arr.nbytes, 1))
    _core.cpu_run_entry(msl, entry, entry_params, btypes, list(scalar_dtypes), group, _MAX_SMEM, grid, ranges,
                        pack(scalars, scalar_dtypes))


def _signature(source, name):
    """The parameters of `kernel void NAME(...)` / `[[kernel]] void NAME(...)` in `source`:
    (type, name, attribute, index) each, as Metal's compiler would read them."""
    m = re.search(r"(?:\bkernel|\[\[kernel\]\])\s+void\s+" + re.escape(name) + r"\s*\(", source)
    if m is None:
        raise AttributeError(f"the library has no kernel function '{name}'")
    depth, i = 1, m.end()
    start = i
    while depth:
        depth += {"(": 1, ")": -1}.get(source[i], 0)
        i += 1
    params = []
    for p in source[start:i - 1].split(","):
        pm = re.fullmatch(r"\s*(.*?)\s*(\w+)\s*\[\[\s*(\w+)\s*(?:\(\s*(\d+)\s*\))?\s*\]\]\s*", p, re.S)
        if pm is None:
            raise SyntaxError(f"cannot read kernel parameter {p.strip()!r}")
        params.append((pm.group(1), pm.group(2), pm.group(3), None if pm.group(4) is None else int(pm.group(4))))
    return params


# ---- PyTorch ------------------------------------------------------------------------------

class TorchDtype:
    def __init__(self, name):
        self.name = name
        self.itemsize = np.dtype(name if name != "bool" else np.bool_).itemsize

    def __repr__(self):
        return f"torch.{self.name}"


TorchDtype.__module__ = "torch"


class TorchDevice:
    def __init__(self, kind):
        self.type = kind

    def __str__(self):
        return self.type


class _Storage:
    def __init__(self, array):
        self.array = array

    def data_ptr(self):
        return self.array.__array_interface__["data"][0]


class Tensor:
    """An MPS (or other device) tensor over a numpy storage: shape, strides in elements and
    a storage offset, as torch.Tensor exposes them."""

    def __init__(self, storage, shape, strides, offset=0, device="mps", conj=False):
        self._storage = storage
        self.shape = tuple(shape)
        self._strides = tuple(strides)
        self._offset = offset
        self.device = TorchDevice(device)
        self.dtype = TorchDtype(storage.dtype.name)
        self._conj = conj

    @classmethod
    def from_numpy(cls, a, device="mps"):
        a = np.ascontiguousarray(a)
        return cls(a.reshape(-1).copy(), a.shape, [s // a.itemsize for s in a.strides], 0, device)

    def stride(self):
        return self._strides

    def storage_offset(self):
        return self._offset

    def element_size(self):
        return self._storage.itemsize

    def untyped_storage(self):
        return _Storage(self._storage)

    def data_ptr(self):
        return self.untyped_storage().data_ptr() + self._offset * self.element_size()

    def numel(self):
        return int(np.prod(self.shape))

    def is_conj(self):
        return self._conj

    def is_neg(self):
        return False

    def numpy(self):
        isz = self.element_size()
        return np.lib.stride_tricks.as_strided(
            self._storage[self._offset:], self.shape, [s * isz for s in self._strides]
        ).copy()

    def t(self):
        return Tensor(self._storage, self.shape[::-1], self._strides[::-1], self._offset, self.device.type)

    def expand(self, *shape):
        strides = [0 if s != d else st for s, d, st in zip(shape, self.shape, self._strides)]
        return Tensor(self._storage, shape, strides, self._offset, self.device.type)


Tensor.__module__ = "torch"


class _KernelFunction:
    """`lib.NAME`: `__call__(*args, threads=None, group_size=None)` as PyTorch 2.6 binds it."""

    def __init__(self, mps, source, name):
        self._mps, self._source, self._name = mps, source, name
        self._params = _signature(source, name)

    def __call__(self, *args, threads=None, group_size=None):
        vec = lambda v: None if v is None else ([v] if isinstance(v, int) else list(v))  # noqa: E731
        threads, group_size = vec(threads), vec(group_size)
        if threads is None:
            threads = next(([a.numel()] for a in args if isinstance(a, Tensor)), None)
        if threads is None or not 0 < len(threads) < 4:
            raise RuntimeError("Number of threads is undefined or has wrong dimension")
        if group_size is not None and len(group_size) != len(threads):
            raise RuntimeError("threads and group_size must have the same dimension")
        slots = [p for p in self._params if p[2] == "buffer"]
        if len(slots) != len(args):
            raise TypeError(f"kernel '{self._name}' takes {len(slots)} buffer arguments, got {len(args)}")
        buffers, scalars, sdtypes, params = [], [], [], []
        for ty, pname, attr, index in self._params:
            if attr != "buffer":
                if attr not in _BUILTINS:
                    raise TypeError(f"fake Metal does not emulate attribute [[{attr}]]")
                params.append(("builtin", attr))
                continue
            arg = args[index]
            words = ty.replace("*", " * ").replace("&", " & ").split()
            base = _MSL_TYPES.get(next((w for w in words if w in _MSL_TYPES), ""), None)
            if isinstance(arg, Tensor):
                if arg.device.type != "mps":
                    raise RuntimeError(f"argument {index} is a tensor on {arg.device}, not MPS")
                if "*" not in words or "device" not in words or base != _short(arg._storage.dtype):
                    raise TypeError(f"argument {index}: a {arg.dtype} tensor bound to parameter '{ty} {pname}'")
                params.append(("buffer", len(buffers)))
                buffers.append((arg._storage, arg.data_ptr()))
            elif isinstance(arg, (int, float)):
                want = "i64" if isinstance(arg, int) else "fp32"  # setArg(int64_t) / setArg(float)
                if "&" not in words or "constant" not in words or base != want:
                    raise TypeError(f"argument {index}: Python {type(arg).__name__} is passed as {want}, "
                                    f"but the parameter is '{ty} {pname}'")
                params.append(("scalar", len(scalars)))
                scalars.append(arg)
                sdtypes.append(want)
            else:
                raise RuntimeError("Unsupported argument type")
        group = group_size or [1] * len(threads)
        threads3 = threads + [1] * (3 - len(threads))
        group3 = group + [1] * (3 - len(group))
        if group3[1:] != [1, 1] or any(t % g for t, g in zip(threads3, group3)):
            raise NotImplementedError("the fake runs whole one-dimensional threadgroups only")
        grid = tuple(t // g for t, g in zip(threads3, group3))
        self._mps.dispatches.append((self._name, threads, group_size))
        _run(self._source, self._name, params, buffers, scalars, sdtypes, group3[0], grid)


class _Library:
    def __init__(self, mps, source):
        self._mps, self._source = mps, source

    def __getattr__(self, name):
        return _KernelFunction(self._mps, self._source, name)


class FakeMPS:
    def __init__(self, compile_shader=True):
        self.synchronize_calls = 0
        self.compiled = []
        self.dispatches = []
        if compile_shader:
            self.compile_shader = self._compile_shader

    def synchronize(self):
        self.synchronize_calls += 1

    def _compile_shader(self, source):
        if not isinstance(source, str):
            raise TypeError("compile_shader(source: str)")
        self.compiled.append(source)
        return _Library(self, source)


def fake_torch(compile_shader=True):
    torch = types.ModuleType("torch")
    torch.mps = FakeMPS(compile_shader)
    torch.Tensor = Tensor
    for n in ("float32", "float16", "int32", "int64", "uint8", "bool"):
        setattr(torch, n, TorchDtype(n))
    return torch


# ---- MLX ----------------------------------------------------------------------------------

class MlxDtype:
    def __init__(self, name, np_dtype, msl):
        self.name, self.np, self.msl = name, np.dtype(np_dtype), msl
        self.size = self.np.itemsize

    def __repr__(self):
        return f"mlx.core.{self.name}"


MlxDtype.__module__ = "mlx.core"
_MLX_DTYPES = {
    "float32": MlxDtype("float32", np.float32, "float"),
    "float16": MlxDtype("float16", np.float16, "float16_t"),
    "int32": MlxDtype("int32", np.int32, "int32_t"),
    "int64": MlxDtype("int64", np.int64, "int64_t"),
    "uint32": MlxDtype("uint32", np.uint32, "uint32_t"),
    "uint64": MlxDtype("uint64", np.uint64, "uint64_t"),
    "int8": MlxDtype("int8", np.int8, "int8_t"),
    "uint8": MlxDtype("uint8", np.uint8, "uint8_t"),
    "bool_": MlxDtype("bool", np.bool_, "bool"),
}


class DeviceType:
    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"DeviceType.{self.name}"


class Device:
    def __init__(self, type):
        self.type = type


class Stream:
    def __init__(self, device):
        self.device = device


class array:
    """An MLX array: a lazy node (a thunk giving a numpy array) evaluated at most once."""

    def __init__(self, value=None, dtype=None, *, _thunk=None, _shape=None):
        if _thunk is None:
            a = np.asarray(value, dtype=None if dtype is None else dtype.np)
            _thunk, _shape = (lambda a=a: a), a.shape
            dtype = dtype or next(d for d in _MLX_DTYPES.values() if d.np == a.dtype)
        self._thunk, self._value = _thunk, None
        self.shape = tuple(_shape)
        self.dtype = dtype

    @property
    def size(self):
        return int(np.prod(self.shape))

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def itemsize(self):
        return self.dtype.size

    def _eval(self):
        if self._value is None:
            self._value = np.ascontiguousarray(self._thunk(), dtype=self.dtype.np)
        return self._value

    def __array__(self, dtype=None, copy=None):
        return self._eval()

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        n = self.size
        shape = tuple(n // -int(np.prod(shape)) if s == -1 else s for s in shape) if -1 in shape else tuple(shape)
        return array(_thunk=lambda: self._eval().reshape(shape), _shape=shape, dtype=self.dtype)


array.__module__ = "mlx.core"


class _FakeMetalKernel:
    """What `mx.fast.metal_kernel(...)` returns: called with keyword arguments only."""

    def __init__(self, mx, name, input_names, output_names, source, header, ensure_row_contiguous, atomic_outputs):
        self._mx, self.name, self.source, self.header = mx, name, source, header
        self.input_names, self.output_names = list(input_names), list(output_names)
        self.ensure_row_contiguous, self.atomic_outputs = ensure_row_contiguous, atomic_outputs
        if not self.output_names:
            raise ValueError("[metal_kernel] Must specify at least one output.")

    def __call__(self, *, inputs, output_shapes, output_dtypes, grid, threadgroup, template=None, init_value=None,
                 verbose=False, stream=None):
        if len(inputs) != len(self.input_names):
            raise ValueError(f"[metal_kernel] Expected `inputs` to have size {len(self.input_names)}")
        if len(output_shapes) != len(self.output_names) or len(output_dtypes) != len(self.output_names):
            raise ValueError("[metal_kernel] Expected `output_shapes` and `output_dtypes` per output")
        if not all(isinstance(a, array) for a in inputs):
            raise TypeError("[metal_kernel] inputs must be arrays")
        if len(grid) != 3 or len(threadgroup) != 3 or not all(isinstance(g, int) for g in (*grid, *threadgroup)):
            raise TypeError("[metal_kernel] grid and threadgroup are tuples of three ints")
        if any(not 0 <= g < 2**31 for g in grid):
            raise TypeError("[metal_kernel] grid dimensions are C ints")
        if template:
            raise NotImplementedError("the fake does not emulate template arguments")
        device = getattr(stream, "device", stream)
        if stream is not None and getattr(device, "type", device) is not self._mx.gpu:
            raise ValueError("[metal_kernel] Only supports the GPU.")
        msl, params, entry = self._write(inputs, output_dtypes)
        self._mx.kernels_built.append(msl)
        cell = {}

        def run():
            if "out" not in cell:
                cell["out"] = self._execute(msl, entry, params, inputs, output_shapes, output_dtypes, grid,
                                            threadgroup, init_value)
            return cell["out"]

        return [array(_thunk=lambda i=i: run()[i], _shape=s, dtype=d)
                for i, (s, d) in enumerate(zip(output_shapes, output_dtypes))]

    def _write(self, inputs, output_dtypes):
        """The kernel source as MLX's write_signature writes it, and its parameters."""
        entry = "custom_kernel_" + self.name + "".join(
            "_" + a.dtype.msl + ("s" if a.ndim == 0 else "c" if a.size < 8 else "") for a in inputs
        ) + "".join("_" + d.msl for d in output_dtypes)
        sig, params, index = [], [], 0
        for name, a in zip(self.input_names, inputs):
            space = "constant" if a.size < 8 else "device"
            ref = "&" if a.ndim == 0 else "*"
            sig.append(f"  const {space} {a.dtype.msl}{ref} {name} [[buffer({index})]]")
            params.append(("scalar" if a.ndim == 0 else "buffer", name))
            index += 1
            for suffix in ("_shape", "_strides", "_ndim"):
                if a.ndim > 0 and name + suffix in self.source:
                    raise NotImplementedError("the fake does not pass shapes, strides or ndim")
        for name, d in zip(self.output_names, output_dtypes):
            atomic = f"atomic<{d.msl}>" if self.atomic_outputs else d.msl
            sig.append(f"  device {atomic}* {name} [[buffer({index})]]")
            params.append(("output", name))
            index += 1
        attributes = ["dispatch_quadgroups_per_threadgroup", "dispatch_simdgroups_per_threadgroup",
                      "dispatch_threads_per_threadgroup", "grid_origin", "grid_size", "quadgroup_index_in_threadgroup",
                      "quadgroups_per_threadgroup", "simdgroup_index_in_threadgroup", "simdgroups_per_threadgroup",
                      "thread_execution_width", "thread_index_in_quadgroup", "thread_index_in_simdgroup",
                      "thread_index_in_threadgroup", "thread_position_in_grid", "thread_position_in_threadgroup",
                      "threadgroup_position_in_grid", "threadgroups_per_grid", "threads_per_grid",
                      "threads_per_simdgroup", "threads_per_threadgroup"]
        for attr in attributes:
            if attr in self.source:
                if attr not in _BUILTINS:
                    raise NotImplementedError(f"the fake does not emulate [[{attr}]]")
                ty = "uint3" if attr in ("threadgroup_position_in_grid", "threadgroups_per_grid") else "uint"
                sig.append(f"  {ty} {attr} [[{attr}]]")
                params.append(("builtin", attr))
        # MLX prepends its utils header (metal_stdlib and its type names) to header + kernel.
        utils = "#include <metal_stdlib>\nusing namespace metal;\ntypedef half float16_t;\n"
        msl = utils + self.header + "[[kernel]] void " + entry + "(\n" + ",\n".join(sig) + ") {\n" + self.source + "\n}\n"
        return msl, params, entry

    def _execute(self, msl, entry, params, inputs, output_shapes, output_dtypes, grid, threadgroup, init_value):
        self._mx.kernel_runs += 1
        values = [np.ascontiguousarray(np.asarray(a)) for a in inputs]
        outs = []
        for s, d in zip(output_shapes, output_dtypes):
            if init_value is None:
                o = np.frombuffer(b"\xff" * (int(np.prod(s)) * d.size), dtype=d.np).reshape(s).copy()  # garbage
            else:
                o = np.full(s, init_value, dtype=d.np)
            outs.append(o)
        buffers, scalars, sdtypes, entry_params = [], [], [], []
        it_in, it_out = iter(values), iter(outs)
        for kind, name in params:
            if kind == "builtin":
                entry_params.append(("builtin", name))
            elif kind == "scalar":
                v = next(it_in)
                entry_params.append(("scalar", len(scalars)))
                scalars.append(v.item())
                sdtypes.append(_short(v.dtype))
            else:
                a = next(it_in) if kind == "buffer" else next(it_out)
                entry_params.append(("buffer", len(buffers)))
                buffers.append((a.reshape(-1), a.__array_interface__["data"][0]))
        tx = threadgroup[0]
        if threadgroup[1:] != (1, 1) or grid[0] % tx:
            raise NotImplementedError("the fake runs whole one-dimensional threadgroups only")
        _run(msl, entry, entry_params, buffers, scalars, sdtypes, tx, (grid[0] // tx, grid[1], grid[2]))
        return outs


def fake_mlx():
    """`mlx` and `mlx.core` modules with arrays, dtypes, devices and `fast.metal_kernel`."""
    mlx = types.ModuleType("mlx")
    mx = types.ModuleType("mlx.core")
    mlx.core = mx
    mx.array = array
    for k, v in _MLX_DTYPES.items():
        setattr(mx, k, v)
    mx.gpu, mx.cpu = DeviceType("gpu"), DeviceType("cpu")
    mx.metal = types.SimpleNamespace(is_available=lambda: True)
    mx.Device, mx.Stream = Device, Stream
    mx.kernels_built, mx.kernel_runs = [], 0
    mx.eval = lambda *arrays: [a._eval() for a in arrays]
    mx.zeros = lambda shape, dtype=None: array(np.zeros(shape, (dtype or mx.float32).np), dtype or mx.float32)

    def concatenate(arrays, axis=0):
        shape = (sum(a.shape[0] for a in arrays),) + tuple(arrays[0].shape[1:])
        return array(_thunk=lambda: np.concatenate([a._eval() for a in arrays], axis), _shape=shape,
                     dtype=arrays[0].dtype)

    mx.concatenate = concatenate
    fast = types.ModuleType("mlx.core.fast")

    def metal_kernel(name, input_names, output_names, source, header="", ensure_row_contiguous=True,
                     atomic_outputs=False):
        return _FakeMetalKernel(mx, name, input_names, output_names, source, header, ensure_row_contiguous,
                                atomic_outputs)

    fast.metal_kernel = metal_kernel
    mx.fast = fast
    return mlx, mx
