"""The fast path of a cached launch: one Python function generated per kernel signature.

``JITFunction.run``'s generic path binds the arguments with ``inspect.Signature.bind``,
specialises them one by one through ``numbers`` ABCs and builds a key of tuples: simple, and
about 10 us a launch. The function generated here has the kernel's own parameters (plus the
launch options, keyword-only), so Python binds the arguments itself, and its body is
unrolled per parameter: ints, floats, bools, None, plain constexpr values and host arrays
(their memory read through the buffer protocol, ``_core.host_buffer``) are handled inline,
other arrays through jit.py's handlers, and everything becomes one flat key of immutable
values, looked up in its own table (``fast``).

``kernel[grid](...)`` calls it through one small wrapper (``with_grid``). It returns the
launched kernel or, when it cannot finish, what the generic path must do:
- ``None``: something it does not handle (an argument of another type, an unknown dtype,
  a binding error, a bad ``num_warps``): the generic path runs and raises the same clear
  errors as always;
- its key (a tuple) on a miss: the generic path compiles the kernel or finds it in
  ``JITFunction.cache``, launches it, and records it under that key in ``fast``.

The key never needs to equal the generic path's, only to determine it: for each runtime
parameter it holds a pair (kind of argument, specialisation), where type objects and small
ints tell the kinds apart from the dtype names of arrays. Removing anything from
``JITFunction.cache`` empties ``fast`` (``KernelCache``). python/tests/test_launch_fast_path.py
checks that both paths pick the same kernel and raise the same errors.
"""

from __future__ import annotations

import keyword
import numbers

from .. import _core
from ..language import core as _lang
from .config import CONFIG as _CONFIG
from .mps import MPSArg as _MPSArg

# Launch options accepted as keyword arguments (as in jit.py).
_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion")

# Constexpr values the fast path puts in its key as they are (hashable, compared by value).
_PLAIN_CONSTEXPR = frozenset({int, float, bool, str, type(None), _lang.dtype})

_UNSET = object()  # a launch option that was not given


class _GenericPath(TypeError):
    """Raised inside the fast launcher to hand the launch to the generic path (the wrapper
    catches TypeError: binding errors and bad arguments go there too)."""


def _all_int(grid):
    """Whether every entry of a grid tuple is exactly an int."""
    return _INT_ONLY.issuperset(map(type, grid))


_INT_ONLY = frozenset((int,))


def _wide_int(v):
    """The key of an int argument outside int32 (the generic path types it i64 or u64)."""
    if -(2**63) <= v < 2**63:
        return 64
    if 0 <= v < 2**64:
        return 65
    raise _GenericPath  # the generic path reports it


def _other_argument(name, kname, value, nospec, buffers, scalars, pointer_of, handlers):
    """Key pair of an argument that is not an int, a float or a host array: a bool, None, an
    array of another library (through jit.py's handlers), or a number of another type (numpy
    scalars), all as the generic path (JITFunction._specialize) takes them."""
    t = type(value)
    if t is bool:
        scalars.append(int(value))
        return bool, None
    if value is None:
        return None, None
    handler = handlers.get(t)
    if handler is not None:
        dt, align, buf = handler(name, kname, value)
    elif isinstance(value, numbers.Integral):
        v = int(value)
        if v == 1 and not nospec:
            return 1, None
        scalars.append(v)
        return (32 if -(2**31) <= v < 2**31 else _wide_int(v)), (not nospec and v % 16 == 0)
    elif isinstance(value, numbers.Real):
        scalars.append(float(value))
        return float, None
    elif isinstance(value, (numbers.Number, _lang.constexpr)):
        raise _GenericPath  # complex numbers, constexpr wrappers
    else:
        ptr = pointer_of(name, kname, value)  # a type seen for the first time
        if ptr is None:
            raise _GenericPath
        dt, align, buf = ptr
    buffers.append(buf)
    if type(buf) is _MPSArg:
        # Queued on PyTorch's stream (mps.py): a key of its own, so the table's entry for it
        # (jit.py's _MPSLaunch) is never used for CPU tensors of the same dtype.
        return ("mps", dt), align
    return dt, align


# The code of one runtime parameter `{name}` in the launcher: its key pair ({k}, {b}), and
# its value appended to the launch's buffers or scalars.
_RUNTIME_PARAM = """\
    _tm_t = _tm_type({name})
    if _tm_t is _tm_int:
{int_case}
    elif _tm_t is _tm_float:
        {k} = _tm_float; {b} = None; _tm_scalars.append({name})
    elif _tm_handlers.get(_tm_t) is _tm_host_array:
        {k} = _tm_dtypes.get({name}.dtype); _tm_buf = _tm_host_buffer({name})
        if {k} is None or _tm_buf is None:
            {k}, {b}, _tm_buf = _tm_host_array({name!r}, _tm_kname, {name})
        else:
            {b} = _tm_buf.alignment
        _tm_buffers.append(_tm_buf)
    else:
        {k}, {b} = _tm_other({name!r}, _tm_kname, {name}, {nospec}, _tm_buffers, _tm_scalars)
"""
# Ints as JITFunction._specialize takes them: 1 becomes a constant; int32 or wider;
# divisible by 16 or not. With do_not_specialize, only the width.
_INT = """\
        if {name} == 1: {k} = 1; {b} = None
        else:
            {k} = 32 if -2147483648 <= {name} <= 2147483647 else _tm_wide_int({name})
            {b} = ({name} & 15) == 0
            _tm_scalars.append({name})"""
_INT_NOT_SPECIALIZED = """\
        {k} = 32 if -2147483648 <= {name} <= 2147483647 else _tm_wide_int({name})
        {b} = False
        _tm_scalars.append({name})"""

_TAIL = """\
    _tm_warps = _tm_config.num_warps if num_warps is _tm_unset else num_warps
    if _tm_type(_tm_warps) is not _tm_int: return None
    _tm_key = ({key}_tm_warps,)
    _tm_kernel = _tm_fast.get(_tm_key)
    if _tm_kernel is None: return _tm_key
    if _tm_callable(_tm_grid):
        _tm_meta = {{{meta}}}
{options}
        _tm_grid = _tm_grid(_tm_meta)
    # Grids of plain ints, normalised once. (4.0,) == (4,) as a dict key: a hit counts only
    # for a grid whose entries are all of type int.
    _tm_g = _tm_grids.get(_tm_grid) if _tm_type(_tm_grid) is _tm_tuple else None
    if _tm_g is None or not _tm_all_int(_tm_grid):
        _tm_g = _tm_normalize_grid(_tm_grid, _tm_kname)
        if _tm_type(_tm_grid) is _tm_tuple and _tm_all_int(_tm_grid):
            if _tm_len(_tm_grids) > 4096: _tm_grids.clear()
            _tm_grids[_tm_grid] = _tm_g
    _tm_kernel.launch(_tm_g, _tm_buffers, _tm_scalars)
    return _tm_kernel

def _tm_with_grid(_tm_grid):
    def _tm_call(*args, **kwargs):
        try:
            _tm_r = _tm_launch(_tm_grid, *args, **kwargs)
        except TypeError:
            _tm_r = None
        if _tm_r is None or _tm_type(_tm_r) is _tm_tuple:
            return _tm_fn.run(*args, grid=_tm_grid, _tm_fast_key=_tm_r, **kwargs)
        return _tm_r
    return _tm_call
"""


def make(fn, fast, pointer_of, handlers, host_array, dtype_names, normalize_grid):
    """The fast launcher of JITFunction `fn`, or None when its signature does not allow one.
    It finds kernels in `fast` (which `JITFunction.run` fills).

    From jit.py: `pointer_of` finds an array argument's handler (and caches it in `handlers`
    by type), `host_array` is the handler of host arrays (inlined here), `dtype_names` the
    cache of dtype short names by dtype object, `normalize_grid` the grid check."""
    params = list(fn.signature.parameters.values())
    names = [p.name for p in params]
    if (
        any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
        or any(n.startswith("_tm_") or n in _OPTIONS or keyword.iskeyword(n) for n in names)
        or len(names) != len(fn._is_constexpr)
    ):
        return None
    env = {
        "_tm_type": type,
        "_tm_int": int,
        "_tm_float": float,
        "_tm_tuple": tuple,
        "_tm_callable": callable,
        "_tm_len": len,
        "_tm_plain": _PLAIN_CONSTEXPR,
        "_tm_wide_int": _wide_int,
        "_tm_other": lambda name, kname, value, nospec, buffers, scalars: _other_argument(
            name, kname, value, nospec, buffers, scalars, pointer_of, handlers
        ),
        "_tm_handlers": handlers,
        "_tm_host_array": host_array,
        "_tm_host_buffer": _core.host_buffer,
        "_tm_dtypes": dtype_names,
        "_tm_unset": _UNSET,
        "_tm_config": _CONFIG,
        "_tm_grids": {},  # normalised grids by the tuple given
        "_tm_all_int": _all_int,
        "_tm_normalize_grid": normalize_grid,
        "_tm_kname": fn.__name__,
        "_tm_fast": fast,
        "_tm_fn": fn,
    }
    # The kernel's parameters, defaults included, then the launch options.
    header, star = ["_tm_grid"], False
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not star:
            header.append("*")
            star = True
        if p.default is p.empty:
            header.append(p.name)
        else:
            env[f"_tm_default{i}"] = p.default
            header.append(f"{p.name}=_tm_default{i}")
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY):
            header.append("/")
    header += ([] if star else ["*"]) + [f"{o}=_tm_unset" for o in _OPTIONS]

    code = [f"def _tm_launch({', '.join(header)}):", "    _tm_buffers = []; _tm_scalars = []"]
    key = []
    for i, name in enumerate(names):
        if fn._is_constexpr[i]:
            code.append(f"    if _tm_type({name}) not in _tm_plain: return None")
            # The type is part of the key: 1, 1.0 and True are equal but compile differently.
            key += [f"_tm_type({name})", name]
            continue
        nospec = i in fn.do_not_specialize
        fields = {"name": name, "k": f"_tm_k{i}", "b": f"_tm_b{i}", "nospec": nospec}
        int_case = (_INT_NOT_SPECIALIZED if nospec else _INT).format(**fields)
        code.append(_RUNTIME_PARAM.format(int_case=int_case, **fields).rstrip("\n"))
        key += [fields["k"], fields["b"]]
    options = [f"        if {o} is not _tm_unset: _tm_meta[{o!r}] = {o}" for o in _OPTIONS]
    meta = ", ".join(f"{n!r}: {n}" for n in names)
    code.append(_TAIL.format(key="".join(k + ", " for k in key), meta=meta, options="\n".join(options)))
    source = "\n".join(code)
    exec(compile(source, f"<triton_metal launcher of {fn.__name__}>", "exec"), env)
    launch = env["_tm_launch"]
    launch.with_grid = env["_tm_with_grid"]
    launch.source = source
    return launch


class KernelCache(dict):
    """``JITFunction.cache``: compiled kernels by the generic path's key. Removing or replacing
    an entry also empties the fast launcher's table (`fast`), so a cleared cache compiles
    (or finds in the Rust kernel cache) again, as it always did."""

    __slots__ = ("fast",)

    def __init__(self, fast, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fast = fast
        fast.clear()

    def __setitem__(self, key, value):
        if key in self:
            self.fast.clear()
        super().__setitem__(key, value)

    def __delitem__(self, key):
        self.fast.clear()
        super().__delitem__(key)

    def clear(self):
        self.fast.clear()
        super().clear()

    def pop(self, *args):
        self.fast.clear()
        return super().pop(*args)

    def popitem(self):
        self.fast.clear()
        return super().popitem()

    def update(self, *args, **kwargs):
        self.fast.clear()
        super().update(*args, **kwargs)

    def __ior__(self, other):
        self.update(other)
        return self
