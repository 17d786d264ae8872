"""The fast path of a cached launch: one Python function generated per kernel signature.

``JITFunction.run`` binds the arguments with ``inspect.Signature.bind``, specialises them
one by one and looks the kernel up by a key of tuples: simple and clear, and about 20 us a
launch. A launch that reuses a compiled kernel needs much less. The function generated here
has the kernel's own parameters (plus the launch options as keyword-only parameters), so
Python binds the arguments itself, and its body is unrolled per parameter: the common
argument types (int, float, bool, None, host arrays, plain constexpr values) are handled
inline and everything becomes one flat key of immutable values.

``kernel[grid](...)`` calls it through one small wrapper (``with_grid``). It returns the
launched kernel, or, when it cannot decide, what the slow path must do:
- ``None``: something it does not handle (an argument of another type, a bad grid or
  ``num_warps``, a binding error): ``run`` takes the slow path, which raises the same
  clear errors as always;
- its key (a tuple) on a miss: ``run`` takes the slow path, which compiles or finds the
  kernel in ``JITFunction.cache``, and records the kernel under that key in ``fast``.

The key only needs to determine the slow path's specialisation, never to equal it: for each
parameter it holds a pair (what kind of argument, its specialisation), and type objects tell
the kinds apart from the dtype names of arrays. ``tests/test_launch_fast_path.py`` checks
that both paths agree.
"""

from __future__ import annotations

import keyword

from .. import _core
from ..language import core as _lang

# Launch options accepted as keyword arguments (as in jit.py).
_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg", "enable_fp_fusion")

# Constexpr values the fast path puts in its key as they are (hashable, compared by value).
_PLAIN_CONSTEXPR = frozenset({int, float, bool, str, type(None), _lang.dtype})

_UNSET = object()  # a launch option that was not given


def make(fn, handlers, host_array, dtype_names, normalize_grid):
    """The fast launcher of JITFunction `fn`, or None when its signature does not allow one.

    `handlers` is jit.py's cache of array handlers by type, `host_array` the handler of host
    arrays (handled inline here), `dtype_names` the cache of dtype short names by dtype
    object, `normalize_grid` jit.py's grid check."""
    sig = fn.signature
    params = list(sig.parameters.values())
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
        "_tm_bool": bool,
        "_tm_tuple": tuple,
        "_tm_callable": callable,
        "_tm_len": len,
        "_tm_plain": _PLAIN_CONSTEXPR,
        "_tm_handlers": handlers,
        "_tm_host_array": host_array,
        "_tm_host_buffer": _core.host_buffer,
        "_tm_dtypes": dtype_names,
        "_tm_unset": _UNSET,
        "_tm_grids": {},
        "_tm_normalize_grid": normalize_grid,
        "_tm_kname": fn.__name__,
        "_tm_fast": {},
    }
    header, seen_star = ["_tm_grid"], False
    for i, p in enumerate(params):
        if p.kind is p.KEYWORD_ONLY and not seen_star:
            header.append("*")
            seen_star = True
        if p.default is p.empty:
            header.append(p.name)
        else:
            env[f"_tm_default{i}"] = p.default
            header.append(f"{p.name}=_tm_default{i}")
        if p.kind is p.POSITIONAL_ONLY and (i + 1 == len(params) or params[i + 1].kind is not p.POSITIONAL_ONLY):
            header.append("/")
    if not seen_star:
        header.append("*")
    header += [f"{o}=_tm_unset" for o in _OPTIONS]

    body, key = [], []
    for i, name in enumerate(names):
        if fn._is_constexpr[i]:
            body.append(f"    if _tm_type({name}) not in _tm_plain: return None")
            key.append(name)
            continue
        k, b = f"_tm_k{i}", f"_tm_b{i}"
        nospec = i in fn.do_not_specialize
        ind = "        "
        body.append(f"    _tm_t = _tm_type({name})")
        body.append(f"    if _tm_t is _tm_int:")
        if not nospec:  # 1 becomes a constant, as in JITFunction._specialize
            body.append(f"        if {name} == 1:")
            body.append(f"            {k} = 1; {b} = None")
            body.append(f"        else:")
            ind = "            "
        body.append(f"{ind}if -2147483648 <= {name} <= 2147483647: {k} = 32")
        body.append(f"{ind}elif -9223372036854775808 <= {name} <= 9223372036854775807: {k} = 64")
        body.append(f"{ind}elif 0 <= {name} <= 18446744073709551615: {k} = 65")
        body.append(f"{ind}else: return None")
        body.append(f"{ind}{b} = " + ("False" if nospec else f"({name} & 15) == 0"))
        body.append(f"{ind}_tm_scalars.append({name})")
        body.append(f"    elif _tm_t is _tm_float:")
        body.append(f"        {k} = _tm_float; {b} = None; _tm_scalars.append({name})")
        body.append(f"    else:")
        body.append(f"        _tm_h = _tm_handlers.get(_tm_t)")
        body.append(f"        if _tm_h is _tm_host_array:")
        body.append(f"            {k} = _tm_dtypes.get({name}.dtype)")
        body.append(f"            _tm_buf = _tm_host_buffer({name})")
        body.append(f"            if {k} is None or _tm_buf is None: return None")
        body.append(f"            _tm_buffers.append(_tm_buf); {b} = _tm_buf.alignment")
        body.append(f"        elif _tm_h is not None:")
        body.append(f"            {k}, {b}, _tm_buf = _tm_h({name!r}, _tm_kname, {name})")
        body.append(f"            _tm_buffers.append(_tm_buf)")
        body.append(f"        elif _tm_t is _tm_bool:")
        body.append(f"            {k} = _tm_bool; {b} = None; _tm_scalars.append(int({name}))")
        body.append(f"        elif {name} is None:")
        body.append(f"            {k} = None; {b} = None")
        body.append(f"        else:")
        body.append(f"            return None")
        key += [k, b]

    src = [f"def _tm_launch({', '.join(header)}):"]
    src.append("    _tm_buffers = []; _tm_scalars = []")
    src += body
    src.append("    _tm_warps = 4 if num_warps is _tm_unset else num_warps")
    src.append("    if _tm_type(_tm_warps) is not _tm_int: return None")
    src.append(f"    _tm_key = ({''.join(k + ', ' for k in key)}_tm_warps)")
    src.append("    _tm_kernel = _tm_fast.get(_tm_key)")
    src.append("    if _tm_kernel is None: return _tm_key")
    src.append("    if _tm_callable(_tm_grid):")
    meta = ", ".join(f"{n!r}: {n}" for n in names)
    src.append(f"        _tm_meta = {{{meta}}}")
    for o in _OPTIONS:
        src.append(f"        if {o} is not _tm_unset: _tm_meta[{o!r}] = {o}")
    src.append("        _tm_grid = _tm_grid(_tm_meta)")
    src.append("    _tm_g = _tm_grids.get(_tm_grid) if _tm_type(_tm_grid) is _tm_tuple else None")
    src.append("    if _tm_g is None:")
    src.append("        _tm_g = _tm_normalize_grid(_tm_grid, _tm_kname)")
    src.append("        if _tm_type(_tm_grid) is _tm_tuple:")
    src.append("            if _tm_len(_tm_grids) > 4096: _tm_grids.clear()")
    src.append("            _tm_grids[_tm_grid] = _tm_g")
    src.append("    _tm_kernel.launch(_tm_g, _tm_buffers, _tm_scalars)")
    src.append("    return _tm_kernel")
    # `kernel[grid]`: one Python frame around the launcher; a miss or anything the launcher
    # leaves to the slow path goes to `JITFunction.run` with the same arguments.
    src.append("")
    src.append("def _tm_with_grid(_tm_grid):")
    src.append("    def _tm_call(*args, **kwargs):")
    src.append("        try:")
    src.append("            _tm_r = _tm_launch(_tm_grid, *args, **kwargs)")
    src.append("        except TypeError:")
    src.append("            _tm_r = None")
    src.append("        if _tm_r is None or _tm_type(_tm_r) is _tm_tuple:")
    src.append("            return _tm_run(*args, grid=_tm_grid, _tm_fast_key=_tm_r, **kwargs)")
    src.append("        return _tm_r")
    src.append("    return _tm_call")
    env["_tm_run"] = fn.run
    code = "\n".join(src) + "\n"
    exec(compile(code, f"<triton_metal launcher of {fn.__name__}>", "exec"), env)
    launch = env["_tm_launch"]
    launch.fast = env["_tm_fast"]
    launch.with_grid = env["_tm_with_grid"]
    launch.source = code
    return launch


class KernelCache(dict):
    """``JITFunction.cache``: compiled kernels by the slow path's key. Removing or replacing
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
