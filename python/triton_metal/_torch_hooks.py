"""What torch.compile needs to know about triton_metal that PyTorch asks upstream Triton for.

1. Which tensors a user's ``@triton.jit`` kernel writes. A user kernel called inside a
   ``torch.compile``'d function becomes Inductor's ``triton_kernel_wrapper_mutation``;
   Inductor keeps the call (and orders it against the reads and writes around it) only for
   the tensors ``identify_mutated_tensors`` in ``torch._higher_order_ops.triton_kernel_wrap``
   names (``identify_accessed_tensors`` in newer torch, e.g. 2.15, which also answers reads: for
   triton_metal kernels every tensor argument counts as read). Upstream answers from Triton's TTIR (``triton._C``, absent here); its fallback,
   "every Tensor argument", sees no Tensor at Inductor's lowering (the arguments are
   ``TensorBox`` nodes there), so the kernel's writes would be dropped with its call. For
   triton_metal kernels the answer comes from our compiler instead: the kernel is compiled
   with the given constexprs (tensors stand in by dtype, symbolic integers by an
   unspecialised value) and the pointer parameters its ABI records as stored to or updated
   atomically are the mutated tensors, over every autotune config. A kernel that does not
   compile raises its CompilationError (it could not run either); where the kernel's
   meta-parameters cannot be worked out (``triton.heuristics`` on symbolic arguments or on
   arguments it cannot read), every tensor argument counts as mutated, which costs copies
   but never drops a write. Other kernels
   (a real Triton's) go to torch's own function unchanged.

2. Where Inductor compiles Triton kernels. With ``compile_threads > 1`` Inductor compiles
   them in worker processes started with a fresh interpreter, whose ``import triton`` sees
   this process's alias only through TRITON_BACKEND=metal, and which return each kernel by
   pickling its ``JITFunction`` (with upstream's unpicklable parts removed), which
   triton_metal's does not support. While ``triton`` is triton_metal, Inductor's subprocess
   pool is therefore not used: Triton kernels compile in this process (in milliseconds
   each), the pool Inductor starts at import is shut down, and the reason is logged once
   (logger ``triton_metal._torch_hooks``, INFO).
   ``compile_threads`` keeps its meaning for Inductor's thread pool (C++ kernels).

3. Inductor's benchmarking subprocess (``autotune_in_subproc=True``, for max-autotune) is a
   fresh interpreter too, but it receives only source files and timings, so it works where
   its ``import triton`` is triton_metal: with TRITON_BACKEND=metal in the environment (the
   package's ``triton_metal_env.pth`` acts on it at start). Otherwise it is refused with an
   error naming the option and the fix (every template would fail there, and Inductor would
   end in NoValidChoicesError). In-process benchmarking, the default, always works.

`install()` (run when triton_metal is imported) applies these to torch's modules once they
are imported, now or later.
"""

from __future__ import annotations

import importlib.abc
import logging
import os
import sys

log = logging.getLogger(__name__)

MUTATION_MODULE = "torch._higher_order_ops.triton_kernel_wrap"
COMPILE_MODULE = "torch._inductor.async_compile"
TUNING_MODULE = "torch._inductor.autotune_process"


def _tensor_dtype(arg):
    """The torch dtype of a tensor-like argument (Tensor, FakeTensor, Inductor IR node), or None."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    if isinstance(arg, torch.Tensor):
        return arg.dtype
    ir = sys.modules.get("torch._inductor.ir")
    if ir is not None and isinstance(arg, ir.IRNode):
        return arg.get_dtype()
    return None


def _plain_value(arg):
    """A Python value standing for a symbolic scalar: one that no specialisation folds (not 1,
    not a multiple of 16), so the kernel compiled is the general one, whose writes include
    those of every specialisation."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(arg, torch.SymBool):
            return True
        if isinstance(arg, torch.SymFloat):
            return 2.0
        if isinstance(arg, torch.SymInt):
            return 2
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(arg, sympy.Expr):
        return 2
    return arg


def _base_kernel(kernel):
    """(JITFunction, [meta-parameter dicts to analyse], [Heuristics wrappers]) for a JITFunction,
    Autotuner or Heuristics chain."""
    from .runtime.autotuner import Autotuner, Heuristics
    from .runtime.jit import JITFunction

    configs = [{}]
    heuristics = []
    while not isinstance(kernel, JITFunction):
        if isinstance(kernel, Autotuner):
            configs = [{**outer, **c.kwargs} for outer in configs for c in kernel.configs] or configs
        elif isinstance(kernel, Heuristics):
            heuristics.append(kernel)
        else:
            raise TypeError(f"not a triton_metal kernel: {type(kernel).__name__}")
        kernel = kernel.fn
    return kernel, configs, heuristics


def _side_table_configs(jit_fn):
    """Meta-parameters of every autotuner over `jit_fn` that torch.compile recorded: Inductor's
    lowering asks about the bare kernel with the first config only, and a write may depend on
    a meta-parameter, so every config is analysed."""
    mod = sys.modules.get(MUTATION_MODULE)
    table = getattr(getattr(mod, "kernel_side_table", None), "id_to_kernel", None) or {}
    from .runtime.autotuner import Autotuner

    found = []
    for k in list(table.values()):
        if isinstance(k, Autotuner):
            base, configs, _ = _base_kernel(k)
            if base is jit_fn:
                found.extend(configs)
    return found


def is_triton_metal_kernel(kernel):
    from .runtime.autotuner import Autotuner, Heuristics
    from .runtime.jit import JITFunction

    return isinstance(kernel, (JITFunction, Autotuner, Heuristics))


def written_arguments(kernel, kwargs):
    """Names of the tensor arguments in `kwargs` (parameter name -> value, as torch passes
    them: tensors, fake tensors, Inductor IR nodes, symbolic or plain scalars, constexprs)
    that `kernel` (a triton_metal JITFunction, Autotuner or Heuristics) may write, in
    parameter order. CompilationError when the kernel does not compile for them."""
    from .runtime.jit import _warmup_array

    jit_fn, configs, heuristics = _base_kernel(kernel)
    configs = configs + [c for c in _side_table_configs(jit_fn) if c not in configs]
    tensors = {k: d for k, v in kwargs.items() if (d := _tensor_dtype(v)) is not None}
    plain = {k: _plain_value(v) for k, v in kwargs.items() if k not in tensors}
    params = set(jit_fn.arg_names)
    written = set()
    symbolic = any(plain[k] is not kwargs[k] for k in plain)
    for config in configs:
        args = {**plain, **config}
        if heuristics:
            # A heuristic may read any argument: it runs on the arguments as given, and where
            # one is symbolic or cannot be read, which meta-parameters (and so which writes)
            # the launch has is unknown: every tensor argument counts as written.
            try:
                if symbolic:
                    raise ValueError("symbolic arguments")
                for h in heuristics:
                    args.update(h._with_values((), {**kwargs, **config, **args}))
            except Exception as e:  # noqa: BLE001 - any failure of user code means "unknown"
                log.info("kernel '%s': its heuristics cannot be evaluated here (%s); every tensor argument counts "
                         "as written", jit_fn.__name__, e)  # fmt: skip
                return [k for k in jit_fn.arg_names if k in tensors]
        # Launch options and anything else that is no parameter are not the kernel's business.
        args = {k: v for k, v in args.items() if k in params}
        args.update(tensors)  # dtypes: _bind_for's stand-ins below
        compiled, *_ = jit_fn._bind_for(
            (), args, lambda name, a: _warmup_array(a) if name in tensors else None
        )
        abi = compiled.abi
        written.update(abi["written_buffers"])
    return [k for k in jit_fn.arg_names if k in written and k in tensors]


def _accessed_tensors(module, kernel, kwargs):
    """The answer of newer torch's (e.g. 2.15) ``identify_accessed_tensors`` for a triton_metal kernel:
    every tensor argument read (conservatively), the ones our compiler finds stored to written,
    no epilogue fusion."""
    from torch._inductor.dependencies import ReadWrites, StarDep
    from torch.utils._ordered_set import OrderedSet

    tensors = [k for k, v in kwargs.items() if _tensor_dtype(v) is not None]
    written = written_arguments(kernel, kwargs)
    read_writes = ReadWrites(
        reads=OrderedSet(StarDep(k) for k in tensors),
        writes=OrderedSet(StarDep(k) for k in written),
        index_exprs=OrderedSet(),
    )
    return module.TensorAccesses(read_writes=read_writes, can_fuse_epilogue=False)


def _patch_mutation_analysis(module):
    """Answers torch's question "which tensors does this kernel write" for triton_metal kernels.
    torch 2.8 asks ``identify_mutated_tensors`` (a list of names); newer versions (2.15) ask
    ``identify_accessed_tensors`` (reads and writes as Inductor dependencies). Both are
    looked up on the module at call time, so replacing the module attribute suffices."""
    if hasattr(module, "identify_accessed_tensors") and hasattr(module, "TensorAccesses"):
        name, answer = "identify_accessed_tensors", lambda kernel, kwargs: _accessed_tensors(module, kernel, kwargs)
    elif hasattr(module, "identify_mutated_tensors"):
        name, answer = "identify_mutated_tensors", written_arguments
    else:
        log.warning("triton_metal: %s has neither identify_accessed_tensors nor identify_mutated_tensors; "
                    "torch.compile cannot be told which tensors a user's triton_metal kernel writes",
                    module.__name__)  # fmt: skip
        return
    original = getattr(module, name)
    if getattr(original, "_triton_metal", False):
        return

    def patched(kernel, kwargs, *args, **kw):
        if is_triton_metal_kernel(kernel):
            return answer(kernel, kwargs)
        return original(kernel, kwargs, *args, **kw)

    patched._triton_metal = True
    patched.__wrapped__ = original
    patched.__doc__ = original.__doc__
    patched.__name__ = name
    setattr(module, name, patched)


def triton_is_triton_metal():
    return getattr(sys.modules.get("triton"), "__name__", None) == "triton_metal"


_told = False


def _in_process(module):
    """True (logging why, once) when Inductor must compile Triton kernels in this process."""
    global _told
    if not triton_is_triton_metal():
        return False
    if not _told and module.get_compile_threads() > 1:
        _told = True
        log.info(
            "triton_metal: Inductor compiles Triton kernels in this process although compile_threads=%d: its "
            "compile workers are fresh interpreters (triton_metal there only with TRITON_BACKEND=metal) that "
            "return each kernel by pickling its JITFunction, which triton_metal's does not support",
            module.get_compile_threads())  # fmt: skip
    return True


def _patch_compile_workers(module):
    cls = module.AsyncCompile
    if getattr(cls.use_process_pool, "_triton_metal", False):
        return
    # use_process_pool is a method in torch 2.8 and a classmethod in newer torch (2.15):
    # both are called with their first argument (instance or class) and keep their kind.
    use_kind = type(cls.__dict__["use_process_pool"])
    use_process_pool = cls.__dict__["use_process_pool"]
    use_process_pool = getattr(use_process_pool, "__func__", use_process_pool)
    warm_pool = cls.warm_pool.__func__

    def use_process_pool_(self_or_cls):
        return False if _in_process(module) else use_process_pool(self_or_cls)

    def warm_pool_(klass):
        if not _in_process(module):
            warm_pool(klass)

    use_process_pool_._triton_metal = True
    cls.use_process_pool = classmethod(use_process_pool_) if use_kind is classmethod else use_process_pool_
    cls.warm_pool = classmethod(warm_pool_)
    if _in_process(module) and module._pool_set:
        module.shutdown_compile_workers()  # started when the module was imported


def fresh_interpreters_resolve_triton():
    """Whether a new interpreter started with this environment resolves `import triton` to
    triton_metal: TRITON_BACKEND=metal, and triton_metal's startup file (the package's
    triton_metal_env.pth, or the hook of `triton-metal install-alias`) in site-packages."""
    import site

    from . import _alias

    if _alias.wanted_by_environment() is not True:
        return False
    dirs = list(site.getsitepackages()) + [site.getusersitepackages(), _alias.site_packages()]
    return _alias.hook_installed() or any(os.path.exists(os.path.join(d, "triton_metal_env.pth")) for d in dirs)


def _patch_tuning_process(module):
    original = module.get_tuning_process_pool
    if getattr(original, "_triton_metal", False):
        return

    def get_tuning_process_pool():
        if triton_is_triton_metal() and not fresh_interpreters_resolve_triton():
            raise RuntimeError(
                "torch._inductor.config.autotune_in_subproc=True needs TRITON_BACKEND=metal in the environment "
                "with triton_metal: Inductor's benchmarking subprocess is a fresh interpreter, whose `import triton` "
                "is triton_metal only then (through the triton_metal_env.pth the package installs), so no Triton "
                "template could be benchmarked there; set TRITON_BACKEND=metal, or autotune_in_subproc = False (the "
                "default) to benchmark in this process"
            )
        return original()

    get_tuning_process_pool._triton_metal = True
    get_tuning_process_pool.__wrapped__ = original
    module.get_tuning_process_pool = get_tuning_process_pool


_PATCHES = {
    MUTATION_MODULE: _patch_mutation_analysis,
    COMPILE_MODULE: _patch_compile_workers,
    TUNING_MODULE: _patch_tuning_process,
}


class _Loader(importlib.abc.Loader):
    """The module's own loader (get_source and the rest delegate to it), patching after exec."""

    def __init__(self, loader, patch):
        self.loader, self.patch = loader, patch

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.patch(module)


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Patches torch's modules as they are imported."""

    def find_spec(self, fullname, path=None, target=None):
        patch = _PATCHES.get(fullname)
        if patch is None:
            return None
        for f in sys.meta_path:
            if f is self or not hasattr(f, "find_spec"):
                continue
            spec = f.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, patch)
                return spec
        return None


def install():
    pending = False
    for name, patch in _PATCHES.items():
        module = sys.modules.get(name)
        if module is not None:
            patch(module)
        else:
            pending = True
    if pending and not any(type(f).__name__ == "_PatchOnImport" for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
