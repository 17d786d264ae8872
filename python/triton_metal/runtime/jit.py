"""``@jit`` and kernel launches: binds arguments, computes the specialisation
key, compiles through the Rust core on a cache miss and launches.

Kept thin on purpose: the only work done per launch is binding arguments,
building a small key tuple and one dict lookup.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import inspect
import numbers
import operator
import re
import sys
import textwrap
import types

from .. import _core
from ..language import core as _lang
from . import config as _config
from . import launcher as _launcher
from . import mps as _mps

_NUMPY_DTYPES = {
    "bool": "i1",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "float16": "fp16",
    "bfloat16": "bf16",
    "float32": "fp32",
    "float64": "fp64",
    # float8 (PyTorch's and ml_dtypes' names): 8-bit codes, converted in software
    "float8_e4m3fn": "fp8e4nv",
    "float8_e5m2": "fp8e5",
    "float8_e4m3fnuz": "fp8e4b8",
    "float8_e5m2fnuz": "fp8e5b16",
}

class NumWarpsError(ValueError, AssertionError):
    """A num_warps that is not a power of 2 from 1 to 32: a ValueError, and the AssertionError
    upstream's launcher raises."""


_LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion")
_TRY_FAST = object()  # `run` was called directly: try the launch fast path first


def _alignment(addr: int) -> int:
    """Largest power of two (at most 16) dividing an address."""
    if addr == 0:
        return 16
    return min(16, addr & -addr)


# Array arguments. `_pointer_of` finds a handler by the argument's type (cached), so a launch
# costs one dict lookup per array and never imports torch or mlx: a handler runs only for
# objects of its library. Each handler returns (dtype short name, alignment, buffer), where
# buffer is the (address, start, length, flags) tuple `_core.Kernel.launch` takes.
_WRITABLE = 1  # the array may be written (read-only numpy arrays are never written back)
_METAL_BUFFER = 2  # address is an id<MTLBuffer> and start the byte offset in it (PyTorch MPS)
_ON_METAL = sys.platform == "darwin"  # the runtime: Metal on macOS, the CPU executor elsewhere
_RUNTIME_NAME = "the Apple GPU" if _ON_METAL else "the CPU executor"
_ARRAY_HANDLERS = {}
_DTYPE_NAMES = {}


def _pointer_of(name, kernel_name, arg):
    """(dtype short name, alignment, buffer) of an array argument, or None if `arg` is not an array."""
    handler = _ARRAY_HANDLERS.get(type(arg), _pointer_of)
    if handler is _pointer_of:
        handler = _ARRAY_HANDLERS[type(arg)] = _array_handler(arg)
    return None if handler is None else handler(name, kernel_name, arg)


def _array_handler(arg):
    """The handler for arrays of `arg`'s type, or None if it is not an array type."""
    if isinstance(arg, TensorWrapper):
        return _wrapped_array
    module = type(arg).__module__ or ""
    if module.partition(".")[0] == "torch" and hasattr(arg, "data_ptr"):
        return _torch_tensor
    if module.partition(".")[0] == "mlx" and hasattr(arg, "dtype"):
        return _mlx_array
    if hasattr(arg, "__array_interface__"):
        return _host_array
    if hasattr(arg, "__cuda_array_interface__"):
        return _cuda_array
    if hasattr(arg, "data_ptr") and hasattr(arg, "dtype"):
        return _tensor_like
    return None


def _short_dtype(name, kernel_name, dtype):
    """'fp32' and the like for a numpy, torch or mlx dtype; TypeError if kernels cannot use it."""
    try:
        short = _DTYPE_NAMES.get(dtype)
    except TypeError:  # unhashable
        short = None
    if short is None:
        full = getattr(dtype, "name", None) or str(dtype)  # "float32", "torch.float32", "mlx.core.float32"
        # Byte-swapped numpy arrays would be read wrongly: refuse them (isnative is numpy's).
        short = _NUMPY_DTYPES.get(full.rsplit(".", 1)[-1]) if getattr(dtype, "isnative", True) else None
        if short is None:
            supported = ", ".join(_NUMPY_DTYPES)
            raise TypeError(
                f"argument '{name}' of kernel '{kernel_name}': arrays of dtype {dtype} are not supported "
                f"(supported: {supported})"
            )
        try:
            _DTYPE_NAMES[dtype] = short
        except TypeError:
            pass
    return short


def _extent(addr, shape, strides, itemsize):
    """(start, length) of the bytes an array spans; strides in bytes, None for C-contiguous."""
    if strides is None:
        n = itemsize
        for d in shape:
            n *= d
        return addr, n
    lo = hi = 0
    for d, s in zip(shape, strides):
        if d == 0:
            return addr, 0
        if s > 0:
            hi += (d - 1) * s
        else:
            lo += (d - 1) * s
    return addr + lo, hi - lo + itemsize


def _host_array(name, kernel_name, arg):
    """numpy arrays and anything with ``__array_interface__``: host memory, used in place."""
    dt = _short_dtype(name, kernel_name, arg.dtype)
    buf = _core.host_buffer(arg)  # through the buffer protocol, as the launch fast path does
    if buf is not None:
        return dt, buf.alignment, buf
    iface = arg.__array_interface__
    addr, readonly = iface["data"]
    itemsize = int(iface["typestr"][2:] or 0)
    start, length = _extent(addr, iface["shape"], iface.get("strides"), itemsize)
    return dt, _alignment(addr), (addr, start, length, 0 if readonly else _WRITABLE)


class TensorWrapper:
    """An array seen by kernels as another dtype of the same width (``triton.reinterpret``), as
    upstream's: ``reinterpret(torch.empty(n, dtype=torch.int8), tl.float8e5)``."""

    def __init__(self, base, dtype):
        self.base = base
        self.dtype = dtype
        self.shape = getattr(base, "shape", None)
        self.device = getattr(base, "device", None)

    def data_ptr(self):
        return self.base.data_ptr()

    def stride(self, *args):
        return self.base.stride(*args)

    def element_size(self):
        return self.base.element_size()

    def numel(self):
        return self.base.numel()

    def cpu(self):
        return TensorWrapper(self.base.cpu(), self.dtype)

    def to(self, device):
        return TensorWrapper(self.base.to(device), self.dtype)

    def clone(self):
        return TensorWrapper(self.base.clone(), self.dtype)

    def copy_(self, other):
        self.base.copy_(other.base if isinstance(other, TensorWrapper) else other)
        return self

    def new_empty(self, sizes):
        return TensorWrapper(self.base.new_empty(sizes), self.dtype)

    def __str__(self):
        return f"TensorWrapper[{self.dtype}]({self.base})"


def reinterpret(tensor, dtype):
    """``triton.reinterpret``: `tensor`'s memory as an array of `dtype` (a ``tl.dtype``)."""
    if isinstance(tensor, TensorWrapper):
        tensor = tensor.base
    if getattr(tensor, "dtype", None) == dtype:
        return tensor
    if not (hasattr(tensor, "data_ptr") or hasattr(tensor, "__array_interface__")):
        raise TypeError(f"cannot reinterpret an object of type {type(tensor).__name__}")
    return TensorWrapper(tensor, dtype)


def _wrapped_array(name, kernel_name, arg):
    """A ``triton.reinterpret``ed array: its base's memory with the wrapper's dtype."""
    _, align, buf = _pointer_of(name, kernel_name, arg.base)
    short = getattr(arg.dtype, "_tm_short", None) or _short_dtype(name, kernel_name, arg.dtype)
    return short, align, buf


def _mlx_array(name, kernel_name, arg):
    """MLX arrays: their memory, which is shared with the GPU on Apple Silicon. The buffer
    protocol evaluates the array first (waiting for MLX's pending work on it), and the launch
    waits for the kernel, so MLX sees the stores in its next operation."""
    import numpy as np

    dt = _short_dtype(name, kernel_name, arg.dtype)
    if dt == "bf16":  # numpy has no bfloat16: the same memory as uint16
        arg = arg.view(sys.modules["mlx.core"].uint16)
    _, align, buf = _host_array(name, kernel_name, np.asarray(arg))
    return dt, align, buf


def _torch_tensor(name, kernel_name, arg):
    """PyTorch tensors: CPU tensors as host memory; MPS tensors (on a Mac) as their own Metal
    buffer and offset, after PyTorch's MPS stream has finished the work queued on it."""
    dt = _short_dtype(name, kernel_name, arg.dtype)
    device = arg.device.type
    isz = arg.element_size()
    strides = [s * isz for s in arg.stride()]
    if device == "cpu":
        addr = arg.data_ptr()
        start, length = _extent(addr, arg.shape, strides, isz)
        return dt, _alignment(addr), (addr, start, length, _WRITABLE)
    if device == "mps" and _ON_METAL:
        # Bound at launch (runtime/mps.py): queued on PyTorch's stream, or after its
        # synchronize. The buffer's base is page-aligned: the offset's alignment is the pointer's.
        return dt, _alignment(arg.storage_offset() * isz), _mps.MPSArg(name, arg)
    hint = "move it with .to('mps') or .cpu()" if _ON_METAL else "move it with .cpu()"
    raise TypeError(
        f"argument '{name}' of kernel '{kernel_name}' is a tensor on device '{arg.device}', "
        f"which {_RUNTIME_NAME} cannot reach; {hint}"
    )


def _tensor_like(name, kernel_name, arg):
    """Any other object with ``data_ptr()`` and ``dtype`` (Triton takes those as pointers:
    libraries pass views with their own pointer, shape and strides). Its memory: the storage
    behind it where it names one (``untyped_storage()``), else what its shape and strides span."""
    dt = getattr(arg.dtype, "_tm_short", None) or _short_dtype(name, kernel_name, arg.dtype)
    device = getattr(getattr(arg, "device", None), "type", "cpu")
    if device != "cpu":
        raise TypeError(
            f"argument '{name}' of kernel '{kernel_name}' ({type(arg).__name__}) is on device '{device}'; "
            f"{_RUNTIME_NAME} takes objects with data_ptr() on the CPU only (pass the tensor itself)"
        )
    addr = int(arg.data_ptr())
    storage = getattr(arg, "untyped_storage", None)
    if storage is not None:
        st = storage()
        start, length = int(st.data_ptr()), int(st.nbytes())
        if not start <= addr <= start + length:
            raise ValueError(f"argument '{name}' of kernel '{kernel_name}': data_ptr() lies outside its storage")
    elif hasattr(arg, "shape") and callable(getattr(arg, "stride", None)):
        isz = getattr(arg.dtype, "itemsize", None) or arg.element_size()
        start, length = _extent(addr, tuple(arg.shape), [s * isz for s in arg.stride()], isz)
    else:
        raise TypeError(
            f"argument '{name}' of kernel '{kernel_name}' ({type(arg).__name__}) has data_ptr() but neither "
            "untyped_storage() nor shape and stride(): the extent of its memory is unknown"
        )
    return dt, _alignment(addr), (addr, start, length, _WRITABLE)


def _metal_buffer(tensor):
    """An MPS tensor as its own Metal buffer and offset (the path without
    torch.mps.compile_shader, after torch.mps.synchronize())."""
    isz = tensor.element_size()
    offset = tensor.storage_offset() * isz
    _, length = _extent(offset, tensor.shape, [s * isz for s in tensor.stride()], isz)
    return (tensor.untyped_storage().data_ptr(), offset, length, _WRITABLE | _METAL_BUFFER)


def _cuda_array(name, kernel_name, arg):
    raise TypeError(
        f"argument '{name}' of kernel '{kernel_name}' ({type(arg).__name__}) lives on a CUDA device, "
        f"which {_RUNTIME_NAME} cannot reach; pass a numpy, MLX or PyTorch array"
    )


def _int_dtype(v: int) -> str:
    if -(2**31) <= v < 2**31:
        return "i32"
    if -(2**63) <= v < 2**63:
        return "i64"
    if 0 <= v < 2**64:
        return "u64"
    raise OverflowError(f"the integer {v} does not fit in 64 bits (int64 or uint64)")


def _describe_global(value, seen, names=frozenset()):
    """How the Rust front end should see a global name used by a kernel. `names` are the
    names the kernel's code uses (attribute names included): the members of a user module
    that are described."""
    import triton_metal

    if isinstance(value, types.ModuleType):
        name = value.__name__
        if name in ("triton_metal", "triton"):
            return ("module", "triton")
        if name in ("triton_metal.language", "triton.language", "triton_metal.language.core", "triton.language.core",
                    "triton_metal.language.standard", "triton.language.standard"):
            return ("module", "triton.language")
        if name.endswith(".math") or name.endswith("libdevice"):
            return ("module", "triton.language.math")
        if name.startswith(("triton.", "triton_metal.")):
            return ("unsupported", f"module {name}")
        if id(value) in seen:
            return ("unsupported", f"module {name} (it refers to itself)")
        # Another module (the user's `from mylib import utils`, a library's helpers such as
        # Inductor's triton_helpers): the attributes the kernel's code names, each described
        # like a global.
        members = {}
        for attr in names:
            try:
                member = getattr(value, attr)
            except AttributeError:
                continue
            members[attr] = _describe_global(member, seen | {id(value)}, names)
        return ("namespace", (name, members))
    if isinstance(value, JITFunction):
        if id(value) in seen:
            return ("unsupported", "recursive jit function")
        return ("jit", value._source_tuple(seen | {id(value)}))
    if isinstance(value, _lang.constexpr):
        return ("const", value.value)
    if value is None or isinstance(value, (bool, int, float, str, tuple, _lang.dtype)):
        return ("const", value)
    builtin = getattr(value, "_tm_builtin", None)
    if isinstance(builtin, str):
        return ("builtin", builtin)
    if value is triton_metal.cdiv or value is triton_metal.next_power_of_2:
        return ("unsupported", "host function (use it outside the kernel, or tl.cdiv inside)")
    return ("unsupported", type(value).__name__)


def _canonical(value):
    """repr() with dict items sorted, so that the text does not depend on hash order."""
    if isinstance(value, dict):
        items = sorted((repr(k), _canonical(v)) for k, v in value.items())
        return "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ",".join(_canonical(v) for v in value) + ")"
    return repr(value)


def _code_names(code):
    names = set(code.co_names) | set(code.co_freevars)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


def _default_names(src):
    """Global names that the parameters' default values read (`flip: tl.constexpr =
    tl.core.CONSTEXPR_0`): the compiler evaluates defaults from the source, and they are not
    among the code object's names (Python evaluates them when the `def` runs)."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return set()
    fn = next((n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None:
        return set()
    defaults = [d for d in fn.args.defaults + fn.args.kw_defaults if d is not None]
    return {n.id for d in defaults for n in ast.walk(d) if isinstance(n, ast.Name)}


class JITFunction:
    """A function compiled by triton_metal; ``kernel[grid](*args)`` launches it."""

    def __init__(self, fn, *, do_not_specialize=(), debug=None, noinline=None, repr=None, launch_metadata=None):
        self.fn = fn
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self.__module__ = fn.__module__
        self.__wrapped__ = fn
        lines, first_line = inspect.getsourcelines(fn)
        self._col_offset = len(lines[0]) - len(lines[0].lstrip())
        self._src = textwrap.dedent("".join(lines))
        self._first_line = first_line
        self._filename = inspect.getsourcefile(fn) or "<unknown>"
        self.signature = inspect.signature(fn)
        # Triton's name for the source, from `def` on (decorators stripped, as upstream): libraries
        # log it, and Inductor re-emits it under its own @triton.jit for user kernels.
        start = re.search(r"^def\s+\w+\s*\(", self._src, re.MULTILINE)
        self.src = self._src[start.start() :] if start else self._src
        self.__globals__ = fn.__globals__
        self.used_global_vals = {}
        self.repr = (lambda _: fn.__name__) if repr is None else repr
        self.launch_metadata = launch_metadata
        self.debug = debug
        self.noinline = noinline
        params = _core.kernel_params(self._source_tuple(frozenset(), with_globals=False))
        self.arg_names = [p for p, _ in params]
        self.constexprs = [i for i, (_, c) in enumerate(params) if c]
        self._is_constexpr = [c for _, c in params]
        # By index or by name; a name that is no parameter is ignored, as in Triton.
        dns = set(do_not_specialize or ())
        self.do_not_specialize = {i for i, n in enumerate(self.arg_names) if i in dns or n in dns}
        self._globals = None
        self._fast = {}  # kernels of the launch fast path (launcher.py), by its own key
        self._fast_launch = self._with_grid = None  # made at the first launch
        self.cache = {}
        _config.FUNCTIONS.add(self)
        sig = self.signature.parameters
        self.params = [
            _Param(i, n, c, sig.get(n), i in self.do_not_specialize) for i, (n, c) in enumerate(params)
        ]

    def _make_fast_path(self):
        """Generates the launch fast path (launcher.py; a millisecond or so, so not before
        the first launch) and returns what ``kernel[grid]`` calls with the grid."""
        launch = _launcher.make(
            self, self._fast, _pointer_of, _ARRAY_HANDLERS, _host_array, _DTYPE_NAMES, _normalize_grid
        )
        self._fast_launch = launch
        if launch is None:
            self._with_grid = lambda grid: lambda *args, **kwargs: self.run(*args, grid=grid, **kwargs)
        else:
            self._with_grid = launch.with_grid
        return self._with_grid

    @property
    def cache(self):
        """Compiled kernels by specialisation key (and num_warps)."""
        return self._cache

    @cache.setter
    def cache(self, value):
        self._cache = _launcher.KernelCache(self._fast, value)

    def _source_tuple(self, seen, with_globals=True):
        return (
            self.__name__,
            self._src,
            self._filename,
            self._first_line,
            self._col_offset,
            self._collect_globals(seen) if with_globals else {},
        )

    @property
    def cache_key(self):
        """A hex digest of the source and of everything it uses (constants, called @triton.jit
        functions, their globals): equal for equal programs, stable across processes.
        Libraries name their generated files and tuning caches by it, as with Triton's."""
        text = _canonical(self._source_tuple(frozenset({id(self)})))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _compile_source(self):
        """The source tuple the core compiles (globals collected at the first compile)."""
        if self._globals is None:
            self._globals = self._source_tuple(frozenset({id(self)}))
        return self._globals

    def _collect_globals(self, seen):
        fn = self.fn
        scope = dict(fn.__globals__)
        if fn.__closure__:
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                try:
                    scope[name] = cell.cell_contents
                except ValueError:
                    pass
        out = {}
        names = frozenset(_code_names(fn.__code__) | _default_names(self._src))
        for name in names:
            if name in scope:
                out[name] = _describe_global(scope[name], seen, names)
            elif not hasattr(builtins, name):
                continue
        return out

    def __getitem__(self, grid):
        return (self._with_grid or self._make_fast_path())(grid)

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            f"'{self.__name__}' is a @triton.jit function: launch it with {self.__name__}[grid](...) "
            "or call it from another @triton.jit function"
        )

    def _specialize(self, bound):
        """Specialisation key, compile specs, and the launch arguments."""
        key, specs, buffers, scalars = [], [], [], []
        kname = self.__name__
        for i, (name, arg) in enumerate(bound.items()):
            if self._is_constexpr[i] or isinstance(arg, _lang.constexpr):
                value = arg.value if isinstance(arg, _lang.constexpr) else arg
                try:
                    hash(value)
                except TypeError:
                    raise TypeError(
                        f"argument '{name}' of kernel '{kname}' is a tl.constexpr and must be hashable, "
                        f"got {type(value).__name__}"
                    ) from None
                # The type is part of the key: 1, 1.0 and True are equal but compile differently.
                key.append(("c", type(value), value))
                specs.append(("constexpr", value))
                continue
            if arg is None:
                key.append(("c", None))
                specs.append(("constexpr", None))
                continue
            if isinstance(arg, bool):
                key.append(("i", "i1"))
                specs.append(("int", "i1", 1))
                scalars.append(int(arg))
                continue
            if isinstance(arg, numbers.Integral):
                v = int(arg)
                if v == 1 and i not in self.do_not_specialize:
                    key.append(("c", 1))
                    specs.append(("constexpr", 1))
                    continue
                try:
                    dt = _int_dtype(v)
                except OverflowError as e:
                    raise OverflowError(f"argument '{name}' of kernel '{kname}': {e}") from None
                div = 16 if (v % 16 == 0 and i not in self.do_not_specialize) else 1
                key.append(("i", dt, div))
                specs.append(("int", dt, div))
                scalars.append(v)
                continue
            if isinstance(arg, numbers.Real):
                key.append(("f",))
                specs.append(("float", "fp32"))
                scalars.append(float(arg))
                continue
            ptr = _pointer_of(name, kname, arg)
            if ptr is None:
                raise TypeError(
                    f"argument '{name}' of kernel '{kname}' has unsupported type {type(arg).__name__}; "
                    "expected an array (numpy, MLX, PyTorch), an int, a float, a bool or None"
                )
            dt, div, buf = ptr
            key.append(("p", dt, div))
            specs.append(("ptr", dt, div))
            buffers.append(buf)
        return tuple(key), specs, buffers, scalars

    def run(self, *args, grid, warmup=False, _tm_fast_key=_TRY_FAST, **kwargs):
        fast_key = _tm_fast_key
        if fast_key is _TRY_FAST:
            fast_key = None
            if not warmup and self._with_grid is None:
                self._make_fast_path()
            if not warmup and self._fast_launch is not None:
                # A cached launch of common argument types (see launcher.py); anything else,
                # and every error, takes the path below.
                try:
                    kernel = self._fast_launch(grid, *args, **kwargs)
                except TypeError:
                    kernel = None
                if type(kernel) is tuple:
                    fast_key = kernel
                elif kernel is not None:
                    return kernel
        options, num_warps, arguments = self._bind_arguments(args, kwargs)
        key, specs, buffers, scalars = self._specialize(arguments)
        kernel = self.cache.get((key, num_warps))
        if kernel is None:
            kernel = _core.compile(self._compile_source(), specs, num_warps, launch_info=(self, specs))
            self.cache[(key, num_warps)] = kernel
        _config.check_limits(kernel, self.__name__)
        if warmup:
            kernel.prepare()
            return kernel
        if callable(grid):
            meta = dict(arguments)
            meta.update(options)
            grid = grid(meta)
        grid = _normalize_grid(grid, self.__name__)
        if buffers and _mps.MPSArg in map(type, buffers):
            launcher = _MPSLaunch(kernel, self.__name__)
            launcher.launch(grid, buffers, scalars)
            if fast_key is not None:
                self._fast[fast_key] = launcher
            return kernel
        kernel.launch(grid, buffers, scalars)
        if fast_key is not None:
            self._fast[fast_key] = kernel
        return kernel

    def _bind_arguments(self, args, kwargs):
        """Launch options (popped from kwargs), the validated num_warps and the bound arguments."""
        options = {k: kwargs.pop(k) for k in _LAUNCH_OPTIONS if k in kwargs}
        num_warps = options.get("num_warps", _config.CONFIG.num_warps)
        if not isinstance(num_warps, int) or num_warps < 1 or num_warps & (num_warps - 1) or num_warps > 32:
            raise NumWarpsError(f"num_warps must be a power of 2 between 1 and 32, got {num_warps!r}")
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"kernel '{self.__name__}': {e}") from None
        bound.apply_defaults()
        return options, num_warps, bound.arguments

    def _bind_for(self, args, kwargs, arrays):
        """(compiled kernel, bound arguments, scalars, options) for a launch made by another
        launcher (triton_metal.mlx): arrays are specialised by `arrays(name, arg)`, which
        returns a stand-in host array (dtype and alignment) or None, and read no memory."""
        options, num_warps, arguments = self._bind_arguments(args, kwargs)
        stand_ins = {}
        for i, (name, arg) in enumerate(arguments.items()):
            if not self._is_constexpr[i]:
                s = arrays(name, arg)
                if s is not None:
                    stand_ins[name] = s
        key, specs, _, scalars = self._specialize({**arguments, **stand_ins})
        kernel = self.cache.get((key, num_warps))
        if kernel is None:
            if self._globals is None:
                self._globals = self._source_tuple(frozenset({id(self)}))
            kernel = _core.compile(self._globals, specs, num_warps, launch_info=(self, specs))
            self.cache[(key, num_warps)] = kernel
        _config.check_limits(kernel, self.__name__)
        return kernel, arguments, scalars, options

    def warmup(self, *args, grid=None, **kwargs):
        """Compiles the kernel for these arguments and builds its runtime library, without
        launching it (Triton's ``kernel.warmup``). Array arguments may be given as dtypes:
        ``tl.float32``, ``np.float32``, ``torch.float32`` or ``"*fp32"``."""
        args = [a if self._constexpr_at(i) else _warmup_array(a) for i, a in enumerate(args)]
        kwargs = {k: v if self._constexpr_at(k) else _warmup_array(v) for k, v in kwargs.items()}
        return self.run(*args, grid=(1,) if grid is None else grid, warmup=True, **kwargs)

    def _constexpr_at(self, param):
        """Whether parameter `param` (index or name) is a tl.constexpr; launch options count as one."""
        if isinstance(param, str):
            if param not in self.arg_names:
                return True
            param = self.arg_names.index(param)
        return param >= len(self._is_constexpr) or self._is_constexpr[param]

    def __repr__(self):
        return f"JITFunction({self.__module__}:{self.__name__})"


class _Param:
    """One parameter of a jit function (Triton's ``KernelParam``)."""

    def __init__(self, num, name, is_constexpr, param=None, do_not_specialize=False):
        self.num = num
        self.name = name
        self.is_constexpr = is_constexpr
        self.do_not_specialize = do_not_specialize
        self._param = param

    @property
    def default(self):
        return inspect.Parameter.empty if self._param is None else self._param.default

    @property
    def has_default(self):
        return self.default is not inspect.Parameter.empty

    @property
    def annotation(self):
        return inspect.Parameter.empty if self._param is None else self._param.annotation

    def __repr__(self):
        return f"KernelParam({self.num}, {self.name!r}, constexpr={self.is_constexpr})"


class _MPSLaunch:
    """A compiled kernel launched on MPS tensors: queued on PyTorch's stream (mps.py), or,
    where that is not possible, run after torch.mps.synchronize(). Stands for the kernel in
    the launch fast path's table (its attributes are the kernel's)."""

    __slots__ = ("kernel", "kname")

    def __init__(self, kernel, kname):
        self.kernel, self.kname = kernel, kname

    def launch(self, grid, buffers, scalars):
        if _mps.launch(self.kernel, self.kname, grid, buffers, scalars):
            return
        sys.modules["torch"].mps.synchronize()  # PyTorch's queued work on these tensors is done
        self.kernel.launch(grid, [_metal_buffer(b.tensor) if type(b) is _mps.MPSArg else b for b in buffers], scalars)

    def __getattr__(self, name):
        return getattr(self.kernel, name)


class _WarmupArray:
    """Stands for an array of one dtype in ``warmup``: address 0 (so 16-byte aligned), no data."""

    def __init__(self, numpy_dtype):
        self.dtype = numpy_dtype
        self.shape = (0,)
        self.__array_interface__ = {"data": (0, False), "shape": (0,), "typestr": "|V0", "version": 3}


def _warmup_array(arg):
    """A `_WarmupArray` for a dtype given to `warmup`, else `arg` unchanged."""
    short = None
    if isinstance(arg, _lang.dtype):
        short = getattr(arg, "_tm_short", None)
    elif isinstance(arg, str) and arg.startswith("*"):
        short = arg[1:].strip()
    elif type(arg).__name__ == "dtype" and type(arg).__module__ == "torch":
        short = _NUMPY_DTYPES.get(str(arg).replace("torch.", ""))
    else:
        np = sys.modules.get("numpy")
        if np is not None and (isinstance(arg, np.dtype) or (isinstance(arg, type) and issubclass(arg, np.generic))):
            short = _NUMPY_DTYPES.get(np.dtype(arg).name)
    if short is None:
        return arg
    names = {v: k for k, v in _NUMPY_DTYPES.items()}
    if short not in names:
        raise TypeError(f"warmup: unknown array dtype {arg!r}")
    return _WarmupArray(types.SimpleNamespace(name=names[short]))


def _pack_launch(fn, kname, specs, args):
    """Buffers and scalars of a launch of a compiled kernel from positional arguments, as
    Triton's compiled-kernel launcher takes them: every parameter in order (constexpr ones
    included, their values ignored: they are compiled in), or the parameters not declared
    tl.constexpr only (what libraries pass for Triton versions before 3.3)."""
    if len(args) != len(specs):
        runtime = [i for i, c in enumerate(fn._is_constexpr) if not c]
        if len(args) != len(runtime):
            raise TypeError(
                f"kernel '{kname}' takes {len(specs)} arguments ({', '.join(fn.arg_names)}), "
                f"or its {len(runtime)} not declared tl.constexpr; got {len(args)}"
            )
        full = [None] * len(specs)
        for i, a in zip(runtime, args):
            full[i] = a
        args = full
    buffers, scalars = [], []
    for i, spec in enumerate(specs):
        kind, arg, name = spec[0], args[i], fn.arg_names[i]
        if kind == "ptr":
            ptr = _pointer_of(name, kname, arg)
            if ptr is None:
                raise TypeError(f"argument '{name}' of kernel '{kname}' must be an array, got {type(arg).__name__}")
            dt, align, buf = ptr
            if dt != spec[1] and not (spec[1] == "i1" and dt in ("i8", "u8")):
                raise TypeError(f"argument '{name}' of kernel '{kname}' was compiled for *{spec[1]}, got an array of {dt}")
            if align < spec[2]:
                raise ValueError(
                    f"argument '{name}' of kernel '{kname}' was compiled for {spec[2]}-byte alignment, "
                    f"got an array aligned to {align} bytes"
                )
            buffers.append(buf)
        elif kind == "int":
            v = int(arg)
            if spec[2] == 16 and v % 16:
                raise ValueError(f"argument '{name}' of kernel '{kname}' was compiled as a multiple of 16, got {v}")
            scalars.append(v)
        elif kind == "float":
            scalars.append(float(arg))
    return buffers, scalars


def _compiled_runner(kernel, grid):
    """``kernel[grid](*args)`` on a kernel ``JITFunction.run`` returned (``_core.Kernel``
    calls this), as on Triton's ``CompiledKernel``: launches it once with these arguments."""
    info = kernel.launch_info
    if info is None:
        raise TypeError(f"kernel '{kernel.name}' was not compiled by a @triton.jit function: launch it with .launch()")
    fn, specs = info

    def runner(*args, stream=None):
        buffers, scalars = _pack_launch(fn, kernel.name, specs, args)
        g = _normalize_grid(grid, kernel.name)
        if buffers and _mps.MPSArg in map(type, buffers):
            _MPSLaunch(kernel, kernel.name).launch(g, buffers, scalars)
        else:
            kernel.launch(g, buffers, scalars)

    return runner


def _normalize_grid(grid, kname):
    """The (x, y, z) grid of a launch. Entries must be integers (anything with ``__index__``,
    as upstream's launcher takes them): ``n / BLOCK`` is a float and refused, where truncating
    it would silently launch too few programs."""
    if isinstance(grid, (tuple, list)):
        dims = grid
    else:
        try:
            dims = (operator.index(grid),)
        except TypeError:
            raise TypeError(
                f"kernel '{kname}': grid must be a tuple of 1 to 3 ints or a callable returning one, "
                f"got {type(grid).__name__} {_short_repr(grid)}"
            ) from None
    if not 1 <= len(dims) <= 3:
        raise ValueError(f"kernel '{kname}': grid must have 1 to 3 dimensions, got {len(dims)}")
    out = []
    limits = (2**31 - 1, 65535, 65535)
    for d, (g, lim) in enumerate(zip(dims, limits)):
        try:
            g = operator.index(g)
        except TypeError:
            hint = " (use triton.cdiv(n, BLOCK), not n / BLOCK)" if isinstance(g, float) else ""
            raise TypeError(
                f"kernel '{kname}': grid dimension {d} is {_short_repr(g)} of type {type(g).__name__}; "
                f"grid entries must be integers{hint}"
            ) from None
        if g < 0 or g > lim:
            raise ValueError(f"kernel '{kname}': grid dimension {d} is {g}; it must be between 0 and {lim}")
        out.append(g)
    return tuple(out) + (1,) * (3 - len(out))


def _short_repr(v):
    r = repr(v)
    return r if len(r) <= 60 else r[:57] + "..."


def jit(fn=None, **kwargs):
    """Decorator compiling a function with triton_metal (``@triton.jit``)."""
    if fn is None:
        return lambda f: JITFunction(f, **kwargs)
    return JITFunction(fn, **kwargs)


from .autotuner import KernelInterface  # noqa: E402  (Triton exports it from runtime.jit)
