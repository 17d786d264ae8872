"""``triton.compile`` and what it takes and returns, as libraries that compile ahead of the
launch use them (PyTorch Inductor, among others)::

    src = ASTSource(fn, signature={"x_ptr": "*fp32", "n": "i32", "BLOCK": "constexpr"},
                    constexprs={"BLOCK": 1024}, attrs={(0,): [["tt.divisibility", 16]]})
    kernel = triton.compile(src, target=GPUTarget("cpu", 0, 32), options={"num_warps": 4})
    kernel[(grid,)](x, n)            # or kernel.run(gx, gy, gz, stream, function, metadata, ...)

The signature, the constexprs and the divisibility attributes become the same specialisation
a ``kernel[grid](...)`` launch would compute, and the kernel is compiled by the Rust core
(through its kernel cache). ``CompiledKernel.run`` takes Triton's launcher arguments and
launches on the active runtime (Metal on a Mac, the CPU executor elsewhere).
"""

from __future__ import annotations

import hashlib
import json
from collections import namedtuple

from .. import _core
from ..runtime.jit import JITFunction, _normalize_grid, _pack_launch
from .errors import CompilationError

__all__ = ["ASTSource", "CompiledKernel", "compile", "make_backend", "triton_key"]

# Short dtype names of the signature, as Triton writes them, to the core's names.
_SCALAR_TYPES = {
    "i1": "i1", "i8": "i8", "i16": "i16", "i32": "i32", "i64": "i64",
    "u1": "i1", "u8": "u8", "u16": "u16", "u32": "u32", "u64": "u64",
    "fp16": "fp16", "bf16": "bf16", "fp32": "fp32", "f32": "fp32", "fp64": "fp64",
    "B": "i1",
}  # fmt: skip


def triton_key():
    """Identifies the compiler (version and a digest of its sources): caches keyed by it
    (Inductor's) are invalidated when the compiler changes."""
    return f"triton_metal-{_core.__version__}-{_core.compiler_version()}"


def _normalize_constexprs(fn, constexprs):
    """{parameter index: value}; keys may be names, indices or 1-tuples of an index."""
    out = {}
    for k, v in (constexprs or {}).items():
        if isinstance(k, tuple):
            if len(k) != 1:
                raise ValueError(f"kernel '{fn.__name__}': nested constexpr key {k!r} is not supported")
            k = k[0]
        if isinstance(k, str):
            if k not in fn.arg_names:
                raise ValueError(f"kernel '{fn.__name__}' has no parameter '{k}' (constexprs: {constexprs})")
            k = fn.arg_names.index(k)
        out[int(k)] = v
    return out


def _divisible_by_16(attrs):
    """Indices of the parameters the attributes say are multiples of 16 (Triton's
    ``{(i,): [["tt.divisibility", 16]]}``, or an object with ``divisible_by_16``)."""
    if attrs is None:
        return set()
    if isinstance(attrs, dict):
        out = set()
        for k, props in attrs.items():
            idx = k[0] if isinstance(k, tuple) else k
            for prop in props:
                name, value = prop[0], prop[1]
                if name == "tt.divisibility" and int(value) % 16 == 0:
                    out.add(int(idx))
        return out
    return {i[0] if isinstance(i, tuple) else i for i in getattr(attrs, "divisible_by_16", ())}


class ASTSource:
    """A @jit function with its signature: ``{name: "*fp32" | "i32" | "fp32" | "constexpr"}``
    (or the same by parameter index), constexpr values and divisibility attributes."""

    def __init__(self, fn, signature, constexprs=None, attrs=None):
        if not isinstance(fn, JITFunction):
            raise TypeError(f"ASTSource takes a @triton.jit function, got {type(fn).__name__}")
        self.fn = fn
        self.ext = "ttir"
        self.name = fn.__name__
        if not isinstance(signature, dict):
            raise TypeError("ASTSource: signature must be a dict {parameter name: type}")
        self.signature = {(fn.arg_names[k] if isinstance(k, int) else k): v for k, v in signature.items()}
        self.constants = _normalize_constexprs(fn, constexprs)
        self.constexprs = self.constants
        self.attrs = attrs if attrs is not None else {}
        self._divisible = _divisible_by_16(attrs)
        unknown = [n for n in self.signature if n not in fn.arg_names]
        if unknown:
            raise ValueError(f"kernel '{fn.__name__}': signature names unknown parameters {unknown}")

    def specs(self):
        """The core's compile specs, one per parameter, and the runtime parameters' indices."""
        fn = self.fn
        specs, runtime = [], []
        for i, name in enumerate(fn.arg_names):
            ty = self.signature.get(name)
            if i in self.constants:
                specs.append(("constexpr", self.constants[i]))
                continue
            if ty is None:
                if fn._is_constexpr[i]:
                    raise ValueError(f"kernel '{fn.__name__}': tl.constexpr parameter '{name}' has no value")
                raise ValueError(f"kernel '{fn.__name__}': parameter '{name}' is not in the signature")
            ty = ty.strip()
            if ty == "constexpr":
                raise ValueError(f"kernel '{fn.__name__}': parameter '{name}' is a constexpr without a value")
            div = 16 if i in self._divisible else 1
            if ty.startswith("*"):
                dt = _SCALAR_TYPES.get(ty[1:].lstrip("k"))
                if dt is None:
                    raise ValueError(f"kernel '{fn.__name__}': pointer type {ty!r} of '{name}' is not supported")
                specs.append(("ptr", dt, div))
            else:
                dt = _SCALAR_TYPES.get(ty)
                if dt is None:
                    raise ValueError(f"kernel '{fn.__name__}': type {ty!r} of '{name}' is not supported")
                if dt.startswith("fp") or dt == "bf16":
                    specs.append(("float", dt))
                else:
                    specs.append(("int", dt, div))
            runtime.append(i)
        return specs, runtime

    def hash(self):
        key = json.dumps(
            [self.fn.__name__, self.fn._src, sorted(self.signature.items()), repr(sorted(self.constants.items())),
             sorted(self._divisible)],
            default=repr,
        )
        return hashlib.sha256(key.encode()).hexdigest()

    def __repr__(self):
        return f"ASTSource({self.fn.__name__}, signature={self.signature}, constexprs={self.constants})"


KernelMetadata = namedtuple(
    "KernelMetadata",
    ["name", "hash", "target", "num_warps", "num_ctas", "num_stages", "shared", "cluster_dims", "debug",
     "threads_per_threadgroup", "global_scratch_size", "profile_scratch_size"],
)  # fmt: skip


class CompiledKernel:
    """A kernel compiled for one specialisation (``triton.compile``'s result).

    ``run(grid_0, grid_1, grid_2, stream, function, metadata, launch_metadata, enter_hook,
    exit_hook, *args)`` is Triton's launcher entry; ``args`` are the kernel's parameters in
    order, constexpr ones included (their values are ignored: they are compiled in).
    ``kernel[grid](*args)`` does the same with a grid tuple."""

    launch_enter_hook = None
    launch_exit_hook = None

    def __init__(self, src, kernel, specs, runtime, target, options):
        self.src = src
        self.name = kernel.name
        self._specs = specs
        self._runtime = runtime  # indices of the runtime parameters
        self._source = src.fn._compile_source()
        self._kinds = [specs[i][0] for i in runtime]
        self.hash = hashlib.sha256((src.hash() + repr(specs) + repr(options)).encode()).hexdigest()
        self.asm = dict(kernel.asm)
        self.metadata = KernelMetadata(
            name=kernel.name,
            hash=self.hash,
            target=target,
            num_warps=options["num_warps"],
            num_ctas=1,
            num_stages=options.get("num_stages", 1),
            shared=kernel.threadgroup_memory_bytes,
            cluster_dims=(1, 1, 1),
            debug=bool(options.get("debug", False)),
            threads_per_threadgroup=kernel.threads_per_threadgroup,
            global_scratch_size=0,
            profile_scratch_size=0,
        )
        self.packed_metadata = self.metadata
        self.n_regs = None
        self.n_spills = 0
        self.n_max_threads = kernel.threads_per_threadgroup
        self.module = None
        self.function = kernel
        self.run = self._run

    def _init_handles(self):
        """Loads the kernel if it was pickled without it (compile workers send kernels so):
        the kernel cache has it, so nothing is compiled again."""
        if self.function is None:
            self.function = _core.compile(self._source, self._specs, self.metadata.num_warps)
        if getattr(self, "run", None) is None:
            self.run = self._run

    def __getstate__(self):
        state = dict(self.__dict__)
        state["function"] = None
        state["run"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)

    def launch_metadata(self, grid, stream, *args):
        """What Triton gives launch hooks: the kernel's name and grid."""
        return {"name": self.name, "grid": grid, "stream": stream}

    def _arguments(self, args):
        """Buffers and scalars of a launch from all the kernel's parameters, in order (or
        those not declared tl.constexpr, as launchers before Triton 3.3 took them)."""
        return _pack_launch(self.src.fn, self.name, self._specs, args)

    def _run(self, grid_0, grid_1, grid_2, stream, function, metadata, launch_metadata, enter_hook, exit_hook, *args):
        if enter_hook is not None:
            enter_hook(launch_metadata)
        buffers, scalars = self._arguments(args)
        kernel = function if function is not None else self.function
        kernel.launch(_normalize_grid((grid_0, grid_1, grid_2), self.name), buffers, scalars)
        if exit_hook is not None:
            exit_hook(launch_metadata)

    def __getitem__(self, grid):
        def runner(*args, stream=None):
            g = (grid,) if isinstance(grid, int) else tuple(grid)
            g = g + (1,) * (3 - len(g))
            return self.run(g[0], g[1], g[2], stream, self.function, self.packed_metadata, None, None, None, *args)

        return runner

    def __repr__(self):
        return f"<triton_metal CompiledKernel {self.name}>"


def make_backend(target):
    """The compiler backend for `target` (``triton.compiler.make_backend``)."""
    from .. import backends as _backends

    backends = _backends.backends
    for name, backend in backends.items():
        if backend.compiler.supports_target(target):
            return backend.compiler(target)
    raise RuntimeError(f"triton_metal has no backend for target {target!r} (backends: {', '.join(backends)})")


def compile(src, target=None, options=None):
    """Compiles an ``ASTSource`` (``triton.compile``). ``options``: ``num_warps`` (1 to 32,
    a power of two), ``num_stages``, ``debug``; others are accepted and have no effect here.
    Raises ``CompilationError`` naming the kernel and the source line it cannot compile."""
    if isinstance(src, str):
        raise NotImplementedError(
            "triton_metal compiles @triton.jit functions (triton.compile(ASTSource(...))); "
            "compiling IR files is not supported"
        )
    if not isinstance(src, ASTSource):
        raise TypeError(f"triton.compile takes an ASTSource, got {type(src).__name__}")
    from ..runtime.driver import active

    if target is None:
        target = active.get_current_target()
    backend = make_backend(target)
    opts = backend.parse_options(dict(options or {}))
    num_warps = opts.num_warps
    specs, runtime = src.specs()
    fn = src.fn
    try:
        kernel = _core.compile(fn._compile_source(), specs, num_warps, launch_info=(fn, specs))
    except CompilationError as e:
        # The message already names the file and line; say which kernel it was.
        if fn.__name__ not in str(e):
            raise CompilationError(f"kernel '{fn.__name__}': {e}") from None
        raise
    return CompiledKernel(src, kernel, specs, runtime, target, opts.__dict__)
