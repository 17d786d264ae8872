"""The ``triton-metal`` command.

- ``triton-metal check``: a system report (OS, chip, Metal, MLX/PyTorch, the CPU executor's
  compiler, the kernel cache) and a test kernel compiled and run; every item passes or fails
  with a remedy, and the exit code is 1 if anything failed.
- ``triton-metal compile PATH.py:KERNEL --signature "*fp32,*fp32,i32" --constexpr BLOCK=1024
  -o OUT/``: compiles ahead of time and writes ``OUT/KERNEL.metal`` and ``OUT/KERNEL.json``
  (the launch description a native app needs: buffer indices, the packed scalar struct,
  threadgroup size and memory).
- ``triton-metal run SCRIPT.py [ARGS...]``: what ``python -m triton_metal SCRIPT.py`` does.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import platform
import subprocess
import sys

from . import _core
from .runtime.jit import JITFunction, jit
from . import language as tl

# Element sizes in bytes, by Triton's short dtype name.
_DTYPE_BYTES = {
    "i1": 1, "i8": 1, "i16": 2, "i32": 4, "i64": 8,
    "u8": 1, "u16": 2, "u32": 4, "u64": 8,
    "fp16": 2, "bf16": 2, "fp32": 4, "fp64": 8,
}  # fmt: skip


class UsageError(Exception):
    """Bad command-line input; reported without a traceback, exit code 2."""


# ---------------------------------------------------------------- compile


def _short_dtype(text):
    t = text.strip()
    if t in _DTYPE_BYTES:
        return t
    d = getattr(tl, t.removeprefix("tl."), None)
    if isinstance(d, tl.dtype):
        return str(d)
    return None


def parse_signature(text, params):
    """Compile specs for the runtime parameters `params` from a signature like
    ``"*fp32:16, *fp32, i32, 1"``: ``*DTYPE[:ALIGN]`` is a pointer (ALIGN in bytes, default
    the element size), ``DTYPE[:16]`` a scalar (``:16``: a multiple of 16), an integer a
    value the kernel is specialised on. Returns ``[(spec, description)]``."""
    entries = [e.strip() for e in text.split(",")]
    if len(entries) == 1 and not entries[0]:
        entries = []
    if any(not e for e in entries):
        raise UsageError(f"--signature {text!r} has an empty entry")
    types_help = "expected *DTYPE[:ALIGN], DTYPE[:16] or an integer, with DTYPE one of " + ", ".join(_DTYPE_BYTES)
    out = []
    for i, entry in enumerate(entries):
        name = params[i] if i < len(params) else f"entry {i + 1}"
        ty, _, hint = entry.partition(":")
        ty = ty.strip()
        try:
            value = int(ty, 0)
        except ValueError:
            value = None
        if value is not None:
            if hint:
                raise UsageError(f"--signature entry {entry!r} for '{name}': a constant takes no ':' hint")
            out.append((("constexpr", value), {"name": name, "kind": "constant", "value": value}))
            continue
        is_ptr = ty.startswith("*")
        dt = _short_dtype(ty[1:] if is_ptr else ty)
        if dt is None:
            raise UsageError(f"--signature entry {entry!r} for '{name}' is not a type: {types_help}")
        size = _DTYPE_BYTES[dt]
        try:
            div = int(hint) if hint else (min(size, 16) if is_ptr else 1)
        except ValueError:
            raise UsageError(f"--signature entry {entry!r} for '{name}': '{hint}' is not a number") from None
        if is_ptr:
            if div not in (1, 2, 4, 8, 16):
                raise UsageError(
                    f"--signature entry {entry!r} for '{name}': pointer alignment must be 1, 2, 4, 8 or 16 bytes"
                )
            out.append((("ptr", dt, div), {"name": name, "kind": "buffer", "dtype": dt, "alignment": div}))
        elif dt.startswith("fp") or dt == "bf16":
            if hint:
                raise UsageError(f"--signature entry {entry!r} for '{name}': a float takes no ':' hint")
            out.append((("float", dt), {"name": name, "kind": "scalar", "dtype": dt}))
        else:
            if div not in (1, 16):
                raise UsageError(f"--signature entry {entry!r} for '{name}': an integer hint must be :16 (or :1)")
            out.append((("int", dt, div), {"name": name, "kind": "scalar", "dtype": dt, "divisible_by": div}))
    if len(entries) != len(params):
        raise UsageError(
            f"--signature has {len(entries)} entries but the kernel has {len(params)} non-constexpr "
            f"parameters ({', '.join(params) or 'none'}); give one type per parameter, in order"
        )
    return out


def _constexpr_value(text):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        d = getattr(tl, text.strip().removeprefix("tl."), None)
        return d if isinstance(d, tl.dtype) else text


def load_kernel(target):
    """The JITFunction named by ``PATH.py:NAME`` (under any autotune/heuristics wrappers)."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise UsageError(f"expected PATH.py:KERNEL, got {target!r}")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path}")
    from .__main__ import install_alias

    install_alias()  # files written for upstream Triton `import triton`
    modname = "_triton_metal_aot_" + os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    spec = importlib.util.spec_from_file_location(modname, os.path.abspath(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    spec.loader.exec_module(module)
    obj = getattr(module, name, None)
    while obj is not None and not isinstance(obj, JITFunction):
        obj = getattr(obj, "fn", None)
    if obj is None:
        found = [n for n, v in vars(module).items() if isinstance(v, JITFunction) or hasattr(v, "arg_names")]
        raise UsageError(f"{path} has no @triton.jit function '{name}' (found: {', '.join(found) or 'none'})")
    return obj


def compile_kernel(fn, signature, constexprs, num_warps=4):
    """Compiles `fn` for a signature string and a dict of constexpr values; returns
    ``(kernel, arguments)`` where `arguments` describes every parameter in order."""
    runtime = [n for n, c in zip(fn.arg_names, fn._is_constexpr) if not c]
    for n in constexprs:
        if n not in fn.arg_names:
            raise UsageError(f"--constexpr {n}: kernel '{fn.__name__}' has no parameter '{n}'")
        if n in runtime:
            raise UsageError(f"--constexpr {n}: '{n}' is not a tl.constexpr parameter; give its type in --signature")
    parsed = iter(parse_signature(signature, runtime))
    specs, arguments = [], []
    for name, is_constexpr in zip(fn.arg_names, fn._is_constexpr):
        if not is_constexpr:
            spec, desc = next(parsed)
            specs.append(spec)
            arguments.append(desc)
            continue
        if name in constexprs:
            value = constexprs[name]
        else:
            default = fn.signature.parameters[name].default
            if default is fn.signature.empty:
                raise UsageError(f"constexpr parameter '{name}' needs a value: --constexpr {name}=...")
            value = getattr(default, "value", default)
        specs.append(("constexpr", value))
        arguments.append({"name": name, "kind": "constexpr", "value": _json_value(value)})
    kernel = _core.compile(fn._source_tuple(frozenset({id(fn)})), specs, num_warps)
    return kernel, arguments


def _json_value(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (tuple, list)):
        return [_json_value(x) for x in v]
    return str(v)


def launch_description(fn, kernel, arguments, num_warps, metal_file):
    """The JSON a native app needs to bind and dispatch the kernel."""
    abi = kernel.abi
    buffers = {name: i for i, (name, _) in enumerate(abi["buffers"])}
    scalars = {name: (dt, off) for name, dt, off in abi["scalars"]}
    for a in arguments:
        if a["kind"] == "buffer":
            a["index"] = buffers[a["name"]]
        elif a["kind"] == "scalar":
            a["dtype"], a["offset"] = scalars[a["name"]]
    smem = abi["threadgroup_memory_bytes"]
    return {
        "kernel": fn.__name__,
        "function": abi["kernel_name"],
        "source": metal_file,
        "compiler": f"triton_metal {_core.compiler_version()}",
        "num_warps": num_warps,
        "threads_per_threadgroup": abi["threads_per_threadgroup"],
        "threadgroup_memory": {"index": 0, "bytes": smem} if smem else None,
        "scalar_struct": (
            {"name": abi["args_struct"], "buffer_index": len(abi["buffers"]), "size": abi["args_size"]}
            if abi["scalars"]
            else None
        ),
        "arguments": arguments,
        "dispatch": (
            "one threadgroup per Triton program: dispatchThreadgroups(grid, "
            "MTLSizeMake(threads_per_threadgroup, 1, 1)); program_id(axis) is threadgroup_position_in_grid"
        ),
    }


def cmd_compile(args):
    constexprs = {}
    for item in args.constexpr:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--constexpr expects NAME=VALUE, got {item!r}")
        constexprs[name.strip()] = _constexpr_value(value)
    fn = load_kernel(args.target)
    kernel, arguments = compile_kernel(fn, args.signature, constexprs, args.num_warps)
    base = args.name or fn.__name__
    os.makedirs(args.out_dir, exist_ok=True)
    metal = os.path.join(args.out_dir, base + ".metal")
    desc = os.path.join(args.out_dir, base + ".json")
    with open(metal, "w") as f:
        f.write(kernel.asm["msl"])
    with open(desc, "w") as f:
        json.dump(launch_description(fn, kernel, arguments, args.num_warps, base + ".metal"), f, indent=2)
        f.write("\n")
    print(f"wrote {metal}")
    print(f"wrote {desc}")
    return 0


# ---------------------------------------------------------------- check


@jit
def _check_kernel(x_ptr, y_ptr, out_ptr, total_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    z = tl.load(x_ptr + offs, mask=mask, other=0.0) * 2.0 + tl.load(y_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, z, mask=mask)
    tl.store(total_ptr + tl.program_id(0), tl.sum(z, axis=0))


def _run_test_kernel():
    import numpy as np

    n, block = 1000, 256
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = np.zeros(n, np.float32)
    programs = (n + block - 1) // block
    totals = np.zeros(programs, np.float32)
    _check_kernel[(programs,)](x, y, out, totals, n, BLOCK=block)
    expected = x * 2 + y
    if not np.allclose(out, expected, atol=1e-6):
        return False, f"wrong results: max error {np.max(np.abs(out - expected)):.3g}"
    padded = np.zeros(programs * block, np.float32)
    padded[:n] = expected
    if not np.allclose(totals, padded.reshape(programs, block).sum(axis=1), rtol=1e-4, atol=1e-4):
        return False, "wrong reduction results"
    return True, f"element-wise + reduction kernel on {n} elements matches numpy"


def _chip():
    if sys.platform == "darwin":
        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=5).stdout.strip() or platform.machine()
        except (OSError, subprocess.SubprocessError):
            return platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip() + f" ({platform.machine()})"
    except OSError:
        pass
    return platform.machine() or "unknown"


def _version_of(module):
    try:
        m = importlib.import_module(module)
    except Exception:  # an optional framework that fails to import is simply absent
        return None
    return getattr(m, "__version__", "unknown version")


def check_items():
    """Yields ``(status, item, detail, remedy)`` with status "ok", "info", "warn" or "FAIL"."""
    mac = sys.platform == "darwin"
    py = sys.version_info
    yield (("ok" if py >= (3, 9) else "FAIL"), "Python", platform.python_version(), "use Python 3.9 or newer")
    yield "info", "OS", platform.platform(), ""
    yield "info", "chip", _chip(), ""
    info_fn = getattr(_core, "device_info", None)
    try:
        info = info_fn() if info_fn is not None else None
        error = None if info_fn is not None else "this build has no device query"
    except RuntimeError as e:
        info, error = None, str(e)
    if info is not None and info.get("backend") == "metal":
        yield "ok", "Metal", f"{info['device_name']} (MSL {info['msl_version']})", ""
        yield "ok", "GPU family", f"{info['gpu_family']} ({info['chip']})", ""
    elif mac:
        yield "FAIL", "Metal", error or "no Metal device: kernels would run on the CPU executor", \
            "triton_metal needs an Apple Silicon Mac with macOS 13 or newer"
        yield "info", "GPU family", "unknown", ""
    else:
        runs_on = info["device_name"] if info else "the CPU executor"
        yield "info", "Metal", f"not available on this OS; kernels run on {runs_on}", ""
        yield "info", "GPU family", "none (CPU executor)", ""
    yield "ok", "numpy", _version_of("numpy"), ""
    for name, module, remedy in (("MLX", "mlx.core", "pip install mlx"), ("PyTorch", "torch", "pip install torch")):
        v = _version_of(module)
        if v is None:
            yield "info", name, "not installed (optional)", remedy if mac else ""
        else:
            yield "ok", name, v, ""
    try:
        yield "ok", "CPU executor compiler", _core.cpu_compiler(), ""
    except RuntimeError as e:
        yield ("info" if mac else "FAIL"), "CPU executor compiler", str(e), \
            "install clang 17 or newer (e.g. `apt-get install clang-19`) or set TRITON_METAL_CLANG"
    cache = _core.kernel_cache_dir()
    if cache:
        yield "ok", "kernel cache", cache, ""
    else:
        yield "warn", "kernel cache", "not writable: compiled kernels are kept in memory only", \
            "set TRITON_METAL_CACHE_DIR to a writable directory"
    try:
        ok, detail = _run_test_kernel()
        yield ("ok" if ok else "FAIL"), "test kernel", detail, "" if ok else "please report this with the output above"
    except Exception as e:
        yield "FAIL", "test kernel", f"{type(e).__name__}: {e}".strip(), \
            "fix the failed items above; otherwise please report this with the output of `triton-metal check`"


def cmd_check(args):
    print(f"triton_metal {_core.__version__} (compiler {_core.compiler_version()})")
    failed = 0
    for status, item, detail, remedy in check_items():
        lines = str(detail).splitlines() or [""]
        print(f"  [{status:^4}] {item:<22} {lines[0]}")
        for extra in lines[1:12]:
            print(f"  {'':6} {'':<22} {extra}")
        if remedy and status in ("FAIL", "warn"):
            print(f"  {'':6} {'':<22} remedy: {remedy}")
        failed += status == "FAIL"
    print(f"{failed} check{'s' if failed != 1 else ''} failed" if failed else "all checks passed")
    return 1 if failed else 0


# ---------------------------------------------------------------- main


def _parser():
    p = argparse.ArgumentParser(prog="triton-metal", description="Triton kernels on Apple GPUs (triton_metal).")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("check", help="report on this system and run a test kernel")
    c = sub.add_parser("compile", help="compile a kernel ahead of time to .metal + a JSON launch description")
    c.add_argument("target", metavar="PATH.py:KERNEL")
    c.add_argument("-s", "--signature", required=True,
                   help='types of the non-constexpr parameters in order, e.g. "*fp32,*fp32:16,i32:16,1"')
    c.add_argument("-c", "--constexpr", action="append", default=[], metavar="NAME=VALUE",
                   help="value of a tl.constexpr parameter (repeatable)")
    c.add_argument("-w", "--num-warps", type=int, default=4, help="simdgroups per threadgroup (default 4)")
    c.add_argument("-o", "--out-dir", default=".", help="output directory (default: .)")
    c.add_argument("-n", "--name", help="base name of the output files (default: the kernel's name)")
    sub.add_parser("run", help="run a Triton script with `import triton` resolving to triton_metal",
                   add_help=False)
    for name, text in (("install-alias", "make `import triton` resolve to triton_metal in this environment "
                                         "(when no real Triton is installed, or when TRITON_BACKEND=metal)"),
                       ("uninstall-alias", "undo install-alias")):
        a = sub.add_parser(name, help=text)
        a.add_argument("--site-packages", help="where to write the startup hook (default: this environment's)")
    return p


def cmd_alias(args):
    """install-alias / uninstall-alias: the startup hook of _alias.py in site-packages."""
    from . import _alias

    where = args.site_packages
    if args.command == "uninstall-alias":
        removed = _alias.uninstall_hook(where)
        print("removed " + ", ".join(removed) if removed else "no alias was installed here")
        return 0
    try:
        written = _alias.install_hook(where)
    except OSError as e:
        raise UsageError(f"cannot write the startup hook: {e}") from None
    print("wrote " + ", ".join(written))
    real = _alias._real_triton_spec(None)
    if real is not None:
        print(f"note: a real Triton is installed ({real.origin}); it stays what `import triton` finds "
              "unless TRITON_BACKEND=metal is set")
    else:
        print("`import triton` now resolves to triton_metal in this environment "
              "(TRITON_BACKEND=<other> turns it off for a run)")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "run":
        from .__main__ import run

        return run(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        if args.command in ("install-alias", "uninstall-alias"):
            return cmd_alias(args)
        return cmd_check(args) if args.command == "check" else cmd_compile(args)
    except UsageError as e:
        print(f"triton-metal {args.command}: error: {e}", file=sys.stderr)
        return 2
    except (_core.CompilationError, _core.OutOfResources) as e:
        print(f"triton-metal {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def console_main():
    sys.exit(main())


if __name__ == "__main__":
    console_main()
