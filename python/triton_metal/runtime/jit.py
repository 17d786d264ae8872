"""``@jit`` and kernel launches: binds arguments, computes the specialisation
key, compiles through the Rust core on a cache miss and launches.

Kept thin on purpose: the only work done per launch is binding arguments,
building a small key tuple and one dict lookup.
"""

from __future__ import annotations

import builtins
import inspect
import numbers
import textwrap
import types

from .. import _core
from ..language import core as _lang

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
}

_LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion")


def _alignment(addr: int) -> int:
    """Largest power of two (at most 16) dividing an address."""
    if addr == 0:
        return 16
    return min(16, addr & -addr)


def _pointer_of(name, kernel_name, arg):
    """(address, dtype short name) of an array argument, or None if `arg` is not an array."""
    iface = getattr(arg, "__array_interface__", None)
    if iface is not None:
        dt = _NUMPY_DTYPES.get(arg.dtype.name)
        if dt is None:
            raise TypeError(
                f"argument '{name}' of kernel '{kernel_name}': arrays of dtype {arg.dtype} are not supported"
            )
        return iface["data"][0], dt
    if hasattr(arg, "data_ptr") and hasattr(arg, "dtype"):
        device = getattr(getattr(arg, "device", None), "type", "cpu")
        if device != "cpu":
            raise TypeError(
                f"argument '{name}' of kernel '{kernel_name}' lives on device '{device}', "
                "which the CPU executor cannot reach"
            )
        dt = _NUMPY_DTYPES.get(str(arg.dtype).replace("torch.", ""))
        if dt is None:
            raise TypeError(f"argument '{name}' of kernel '{kernel_name}': tensors of dtype {arg.dtype} are not supported")
        return arg.data_ptr(), dt
    return None


def _int_dtype(v: int) -> str:
    if -(2**31) <= v < 2**31:
        return "i32"
    if -(2**63) <= v < 2**63:
        return "i64"
    if 0 <= v < 2**64:
        return "u64"
    raise ValueError(f"integer argument {v} does not fit in 64 bits")


def _describe_global(value, seen):
    """How the Rust front end should see a global name used by a kernel."""
    import triton_metal

    if isinstance(value, types.ModuleType):
        name = value.__name__
        if name in ("triton_metal", "triton"):
            return ("module", "triton")
        if name in ("triton_metal.language", "triton.language"):
            return ("module", "triton.language")
        if name.endswith(".math") or name.endswith("libdevice"):
            return ("module", "triton.language.math")
        return ("unsupported", f"module {name}")
    if isinstance(value, JITFunction):
        if id(value) in seen:
            return ("unsupported", "recursive jit function")
        return ("jit", value._source_tuple(seen | {id(value)}))
    builtin = getattr(value, "_tm_builtin", None)
    if isinstance(builtin, str):
        return ("builtin", builtin)
    if isinstance(value, _lang.constexpr):
        return ("const", value.value)
    if value is None or isinstance(value, (bool, int, float, str, tuple, _lang.dtype)):
        return ("const", value)
    if value is triton_metal.cdiv or value is triton_metal.next_power_of_2:
        return ("unsupported", "host function (use it outside the kernel, or tl.cdiv inside)")
    return ("unsupported", type(value).__name__)


def _code_names(code):
    names = set(code.co_names) | set(code.co_freevars)
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _code_names(c)
    return names


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
        params = _core.kernel_params(self._source_tuple(frozenset(), with_globals=False))
        self.arg_names = [p for p, _ in params]
        self.constexprs = [i for i, (_, c) in enumerate(params) if c]
        self._is_constexpr = [c for _, c in params]
        self.do_not_specialize = {
            self.arg_names.index(p) if isinstance(p, str) else p for p in (do_not_specialize or ())
        }
        self._globals = None
        self.cache = {}

    def _source_tuple(self, seen, with_globals=True):
        return (
            self.__name__,
            self._src,
            self._filename,
            self._first_line,
            self._col_offset,
            self._collect_globals(seen) if with_globals else {},
        )

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
        for name in _code_names(fn.__code__):
            if name in scope:
                out[name] = _describe_global(scope[name], seen)
            elif not hasattr(builtins, name):
                continue
        return out

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.run(*args, grid=grid, **kwargs)

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
                key.append(("c", value))
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
                dt = _int_dtype(v)
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
                    "expected an array (numpy, torch CPU), an int, a float, a bool or None"
                )
            addr, dt = ptr
            div = _alignment(addr)
            key.append(("p", dt, div))
            specs.append(("ptr", dt, div))
            buffers.append(addr)
        return tuple(key), specs, buffers, scalars

    def run(self, *args, grid, **kwargs):
        options = {k: kwargs.pop(k) for k in _LAUNCH_OPTIONS if k in kwargs}
        num_warps = options.get("num_warps", 4)
        if not isinstance(num_warps, int) or num_warps < 1 or num_warps & (num_warps - 1) or num_warps > 32:
            raise ValueError(f"num_warps must be a power of two between 1 and 32, got {num_warps!r}")
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"kernel '{self.__name__}': {e}") from None
        bound.apply_defaults()
        arguments = bound.arguments
        key, specs, buffers, scalars = self._specialize(arguments)
        kernel = self.cache.get((key, num_warps))
        if kernel is None:
            if self._globals is None:
                self._globals = self._source_tuple(frozenset({id(self)}))
            kernel = _core.compile(self._globals, specs, num_warps)
            self.cache[(key, num_warps)] = kernel
        if callable(grid):
            meta = dict(arguments)
            meta.update(options)
            grid = grid(meta)
        kernel.launch(_normalize_grid(grid, self.__name__), buffers, scalars)
        return kernel

    def __repr__(self):
        return f"JITFunction({self.__module__}:{self.__name__})"


def _normalize_grid(grid, kname):
    if isinstance(grid, int):
        grid = (grid,)
    try:
        dims = tuple(int(g) for g in grid)
    except TypeError:
        raise TypeError(f"kernel '{kname}': grid must be a tuple of 1 to 3 ints or a callable returning one") from None
    if not 1 <= len(dims) <= 3:
        raise ValueError(f"kernel '{kname}': grid must have 1 to 3 dimensions, got {len(dims)}")
    limits = (2**31 - 1, 65535, 65535)
    for d, (g, lim) in enumerate(zip(dims, limits)):
        if g < 0 or g > lim:
            raise ValueError(f"kernel '{kname}': grid dimension {d} is {g}; it must be between 0 and {lim}")
    return dims + (1,) * (3 - len(dims))


def jit(fn=None, **kwargs):
    """Decorator compiling a function with triton_metal (``@triton.jit``)."""
    if fn is None:
        return lambda f: JITFunction(f, **kwargs)
    return JITFunction(fn, **kwargs)
