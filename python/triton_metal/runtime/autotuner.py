"""Autotuning and heuristics (``triton.autotune``, ``triton.Config``, ``triton.heuristics``),
with upstream Triton's signatures and behaviour:

- ``@autotune(configs, key)`` benchmarks every config the first time it sees a new value of
  the ``key`` arguments (and of the arrays' dtypes), keeps the fastest per key value in
  ``kernel.cache``, and launches with it. ``TRITON_PRINT_AUTOTUNING=1`` prints the choice.
- ``@heuristics({"NAME": fn(args)})`` computes meta-parameters from the arguments.

Benchmarks use :func:`triton_metal.testing.do_bench` unless ``do_bench`` is given. Mistakes
that upstream reports late or not at all (a config or key naming an unknown parameter) are
refused when the decorator is applied.
"""

from __future__ import annotations

import builtins
import inspect
import os
import threading
import time
from typing import Dict, List, Optional

from ..compiler.errors import OutOfResources

__all__ = ["Autotuner", "Config", "Heuristics", "autotune", "heuristics"]


class AutotunerError(RuntimeError):
    """Autotuning could not pick a config."""


class KernelInterface:
    """What ``kernel[grid](...)`` needs: a ``run(*args, grid=..., **kwargs)`` method."""

    def __getitem__(self, grid):
        return lambda *args, **kwargs: self.run(*args, grid=grid, warmup=False, **kwargs)


def _jit_function(fn):
    """The JITFunction under any stack of autotune/heuristics wrappers."""
    from .jit import JITFunction

    while not isinstance(fn, JITFunction):
        inner = getattr(fn, "fn", None)
        if inner is None:
            raise TypeError(f"expected a @triton.jit function, got {type(fn).__name__}")
        fn = inner
    return fn


def _check_names(kind, names, fn, arg_names):
    unknown = [n for n in names if n not in arg_names]
    if unknown:
        raise ValueError(
            f"{kind} of kernel '{_jit_function(fn).__name__}' names {', '.join(repr(n) for n in unknown)}, "
            f"which {'is' if len(unknown) == 1 else 'are'} not a parameter of the kernel "
            f"(parameters: {', '.join(arg_names)})"
        )


def _zero_(a):
    if hasattr(a, "zero_"):
        a.zero_()
    else:
        a[...] = 0


def _clone(a):
    return a.clone() if hasattr(a, "clone") else a.copy()


def _copy_into(dst, src):
    if hasattr(dst, "copy_"):
        dst.copy_(src)
    else:
        dst[...] = src


def _key_value(v):
    """A hashable stand-in for an argument value in the tuning key."""
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        return ("array", tuple(v.shape), str(v.dtype))
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


class Autotuner(KernelInterface):
    """A kernel whose meta-parameters are picked by benchmarking ``configs``."""

    def __init__(self, fn, arg_names, configs, key, reset_to_zero=None, restore_value=None, pre_hook=None,
                 post_hook=None, prune_configs_by: Optional[Dict] = None, warmup=None, rep=None,
                 use_cuda_graph=False, do_bench=None, cache_results=False):
        self.configs = list(configs) if configs else [Config({}, num_warps=4, num_stages=3, num_ctas=1)]
        for c in self.configs:
            if not isinstance(c, Config):
                raise TypeError(f"autotune configs must be triton.Config objects, got {type(c).__name__}")
            _check_names(f"autotune config {{{c}}}", c.kwargs, fn, arg_names)
        # A key naming no parameter is ignored, as upstream does (its values are looked up
        # among the launch's arguments only); libraries share key lists between kernels.
        self.keys = [key] if isinstance(key, str) else list(key or [])
        self.reset_to_zero = list(reset_to_zero or [])
        _check_names("autotune reset_to_zero", self.reset_to_zero, fn, arg_names)
        self.restore_value = list(restore_value or [])
        _check_names("autotune restore_value", self.restore_value, fn, arg_names)
        self.arg_names = arg_names
        self.cache: Dict[tuple, Config] = {}
        self.configs_timings = {}
        self.cache_results = cache_results
        self.best_config = None
        self.bench_time = 0.0
        # Launches may come from several threads: the arguments of the launch in progress
        # (`nargs`, `restore_copies`) are per thread, and one thread at a time benchmarks.
        self._local = threading.local()
        self._tuning = threading.RLock()

        self.user_defined_pre_hook = pre_hook is not None
        self.user_defined_post_hook = post_hook is not None
        self.pre_hook = pre_hook or self._default_pre_hook
        self.post_hook = post_hook or self._default_post_hook

        prune = prune_configs_by or {}
        self.perf_model = prune.get("perf_model")
        self.configs_top_k = prune.get("top_k", 1.0)
        self.early_config_prune = prune.get("early_config_prune")

        self.fn = fn
        self.base_fn = fn
        while not inspect.isfunction(self.base_fn):
            self.base_fn = self.base_fn.fn

        if do_bench is None:
            from .. import testing

            def do_bench(kernel_call, quantiles):
                return testing.do_bench(
                    kernel_call,
                    warmup=25 if warmup is None else warmup,
                    rep=100 if rep is None else rep,
                    quantiles=quantiles,
                )

        self.do_bench = do_bench
        self.num_warmups = warmup
        self.num_reps = rep
        self.use_cuda_graph = use_cuda_graph

    @property
    def nargs(self):
        """The arguments, by name, of this thread's launch in progress (None between launches)."""
        return getattr(self._local, "nargs", None)

    @nargs.setter
    def nargs(self, value):
        self._local.nargs = value

    @property
    def restore_copies(self):
        """Copies of the ``restore_value`` arrays of this thread's benchmarked launch."""
        copies = getattr(self._local, "restore_copies", None)
        if copies is None:
            copies = self._local.restore_copies = {}
        return copies

    @restore_copies.setter
    def restore_copies(self, value):
        self._local.restore_copies = value

    def _default_pre_hook(self, kwargs, reset_only=False):
        for name in self.reset_to_zero:
            if kwargs.get(name) is not None:
                _zero_(kwargs[name])
        if not reset_only:
            self.restore_copies = {n: _clone(kwargs[n]) for n in self.restore_value if kwargs.get(n) is not None}

    def _default_post_hook(self, kwargs, exception):
        for name, value in self.restore_copies.items():
            _copy_into(kwargs[name], value)
        self.restore_copies = {}

    def _bench(self, *args, config, **meta):
        verbose = _print_autotuning()
        if verbose:
            print(f"Autotuning kernel {self.base_fn.__name__} with config {config}")
        conflicts = meta.keys() & config.kwargs.keys()
        if conflicts:
            raise ValueError(
                f"Conflicting meta-parameters: {', '.join(sorted(conflicts))}."
                " Make sure that you don't re-define auto-tuned symbols."
            )
        current = dict(meta, **config.all_kwargs())
        full_nargs = {**self.nargs, **current}

        def kernel_call():
            if config.pre_hook:
                config.pre_hook(full_nargs)
            self.pre_hook(full_nargs)
            try:
                self.fn.run(*args, **current)
            except Exception as e:
                self.post_hook(full_nargs, exception=e)
                raise
            self.post_hook(full_nargs, exception=None)

        try:
            return self.do_bench(kernel_call, quantiles=(0.5, 0.2, 0.8))
        except OutOfResources as e:
            if verbose:
                print(f"Autotuning failed with {e}")
            return [float("inf"), float("inf"), float("inf")]

    def _tuning_key(self, args, kwargs):
        all_args = {**self.nargs, **kwargs}
        named = {k: v for k, v in all_args.items() if k in self.arg_names}
        key = [_key_value(named[k]) for k in self.keys if k in named]
        key += [str(v.dtype) for v in named.values() if hasattr(v, "dtype")]
        return tuple(key)

    def run(self, *args, **kwargs):
        self.nargs = dict(zip(self.arg_names, args))
        used_cached_result = True
        key = None
        if len(self.configs) > 1:
            key = self._tuning_key(args, kwargs)
            config = self.cache.get(key)
            if config is None:
                with self._tuning:  # another thread may have tuned this key meanwhile
                    config = self.cache.get(key)
                    if config is None:
                        used_cached_result = False
                        config = self._tune(key, args, kwargs)
        else:
            config = self.configs[0]
        self.best_config = config
        if _print_autotuning() and not used_cached_result:
            print(
                f"Triton autotuning for function {self.base_fn.__name__},\nwith key as {key},\n"
                f"finished after {self.bench_time:.2f}s,\nbest config selected: {config};"
            )
        nargs = self.nargs
        if config.pre_hook is not None:
            config.pre_hook({**nargs, **kwargs, **config.all_kwargs()})
        try:
            return self.fn.run(*args, **kwargs, **config.all_kwargs())
        finally:
            self.nargs = None

    def _tune(self, key, args, kwargs):
        """Benchmarks the pruned configs for `key` and records the fastest in `cache`."""
        pruned = self.prune_configs(kwargs)
        if len(pruned) == 1:
            self.cache[key] = pruned[0]
            self.bench_time = 0.0
            return pruned[0]
        start = time.perf_counter()
        # Configs that differ only in options triton_metal's code does not depend on
        # (num_stages, num_ctas, maxnreg) launch the same compiled kernel: benchmarked once.
        # Libraries list stages x warps x blocks (48 configs, 12 distinct kernels, is common).
        timings, measured = {}, {}
        for c in pruned:
            same = (tuple(sorted(c.kwargs.items(), key=lambda kv: kv[0])), c.num_warps,
                    getattr(c, "ir_override", None), id(c.pre_hook))  # fmt: skip
            try:
                hash(same)
            except TypeError:
                same = object()  # an unhashable meta-parameter value: benchmark it on its own
            if same not in measured:
                measured[same] = self._bench(*args, config=c, **kwargs)
            timings[c] = measured[same]
        self.bench_time = time.perf_counter() - start
        best = builtins.min(timings, key=timings.get)
        if _as_list(timings[best])[0] == float("inf"):
            raise AutotunerError(
                f"autotuning kernel '{self.base_fn.__name__}': no config fits the device "
                f"(every config ran out of resources)"
            )
        self.configs_timings = timings
        self.pre_hook({**self.nargs, **kwargs, **best.all_kwargs()}, reset_only=True)
        self.cache[key] = best
        return best

    def prune_configs(self, kwargs: Dict) -> List[Config]:
        pruned = self.configs
        if self.early_config_prune:
            pruned = self.early_config_prune(self.configs, self.nargs, **kwargs)
            if not pruned:
                raise AutotunerError(
                    "No valid autotuner configs after pruning. `early_config_prune` should return at least one config."
                )
        if self.perf_model:
            top_k = self.configs_top_k
            if isinstance(top_k, float) and top_k <= 1.0:
                top_k = max(1, int(len(pruned) * top_k))
            elif not isinstance(top_k, int):
                raise TypeError("Error while pruning configs, top_k must be either 1) a float <= 1.0 or 2) an int")
            if len(pruned) > top_k:
                est = {c: self.perf_model(**self.nargs, **kwargs, **c.all_kwargs()) for c in pruned}
                pruned = sorted(est, key=est.get)[:top_k]
        return list(pruned)

    def warmup(self, *args, **kwargs):
        """Compiles the kernel for every (pruned) config, launching nothing."""
        self.nargs = dict(zip(self.arg_names, args))
        ret = [self.fn.warmup(*args, **kwargs, **c.all_kwargs()) for c in self.prune_configs(kwargs)]
        self.nargs = None
        return ret


def _as_list(t):
    return list(t) if isinstance(t, (list, tuple)) else [t]


def _print_autotuning():
    return os.environ.get("TRITON_PRINT_AUTOTUNING", "0") not in ("", "0")


class Config:
    """A configuration for the autotuner to try: meta-parameters (``kwargs``) and launch options.

    ``num_warps`` sets the threads of each program (``num_warps * 32``). ``num_stages``,
    ``num_ctas`` and ``maxnreg`` are accepted for compatibility; Metal has no equivalent and
    they do not change the compiled kernel. ``pre_hook(args)`` runs before each launch.
    """

    def __init__(self, kwargs, num_warps=4, num_stages=3, num_ctas=1, maxnreg=None, pre_hook=None,
                 ir_override=None):
        self.kwargs = kwargs
        self.num_warps = num_warps
        self.num_ctas = num_ctas
        self.num_stages = num_stages
        self.maxnreg = maxnreg
        self.pre_hook = pre_hook
        self.ir_override = ir_override

    def all_kwargs(self):
        options = (
            ("num_warps", self.num_warps),
            ("num_ctas", self.num_ctas),
            ("num_stages", self.num_stages),
            ("maxnreg", self.maxnreg),
        )
        return {**self.kwargs, **{k: v for k, v in options if v is not None}}

    def __str__(self):
        res = [f"{k}: {v}" for k, v in self.kwargs.items()]
        res += [
            f"num_warps: {self.num_warps}",
            f"num_ctas: {self.num_ctas}",
            f"num_stages: {self.num_stages}",
            f"maxnreg: {self.maxnreg}",
        ]
        return ", ".join(res)

    def __repr__(self):
        return f"Config({self})"

    def __hash__(self):
        return hash((*self.all_kwargs().items(), self.pre_hook))

    def __eq__(self, other):
        if not isinstance(other, Config):
            return NotImplemented
        return (tuple(self.all_kwargs().items()), self.pre_hook) == (tuple(other.all_kwargs().items()), other.pre_hook)


def autotune(configs, key, prune_configs_by=None, reset_to_zero=None, restore_value=None, pre_hook=None,
             post_hook=None, warmup=None, rep=None, use_cuda_graph=False, do_bench=None, cache_results=False):
    """Decorator auto-tuning a ``@triton.jit`` function over ``configs``.

    .. code-block:: python

        @triton.autotune(configs=[triton.Config({"BLOCK": 128}, num_warps=4),
                                  triton.Config({"BLOCK": 1024}, num_warps=8)],
                         key=["n"])   # benchmark again whenever n changes
        @triton.jit
        def kernel(x_ptr, n, BLOCK: tl.constexpr): ...

    :param configs: list of :class:`Config`.
    :param key: argument names whose values select a tuning result.
    :param prune_configs_by: dict with ``perf_model``, ``top_k`` and/or ``early_config_prune``.
    :param reset_to_zero: argument names (arrays) zeroed before each benchmarked launch.
    :param restore_value: argument names (arrays) restored after each benchmarked launch.
    :param pre_hook: ``pre_hook(args, reset_only)``, replacing the reset/restore pre hook.
    :param post_hook: ``post_hook(args, exception)``, replacing the restore post hook.
    :param warmup: warmup time in ms per config (default 25).
    :param rep: measured time in ms per config (default 100).
    :param do_bench: ``do_bench(kernel_call, quantiles)`` replacing the benchmark.
    :param cache_results: accepted for compatibility; results are cached in memory per process.
    """

    def decorator(fn):
        return Autotuner(fn, fn.arg_names, configs, key, reset_to_zero, restore_value, pre_hook=pre_hook,
                         post_hook=post_hook, prune_configs_by=prune_configs_by, warmup=warmup, rep=rep,
                         use_cuda_graph=use_cuda_graph, do_bench=do_bench, cache_results=cache_results)

    return decorator


class Heuristics(KernelInterface):
    """A kernel whose meta-parameters ``values`` are computed from its arguments."""

    def __init__(self, fn, arg_names, values) -> None:
        # Besides meta-parameters, a heuristic may set a launch option (num_warps, num_stages, ...).
        from .jit import _LAUNCH_OPTIONS

        _check_names("heuristics", [n for n in values if n not in _LAUNCH_OPTIONS], fn, arg_names)
        self.fn = fn
        self.values = values
        self.arg_names = arg_names

    def _with_values(self, args, kwargs):
        for name, heur in self.values.items():
            kwargs[name] = heur({**dict(zip(self.arg_names, args)), **kwargs})
        return kwargs

    def run(self, *args, **kwargs):
        return self.fn.run(*args, **self._with_values(args, kwargs))

    def warmup(self, *args, **kwargs):
        return self.fn.warmup(*args, **self._with_values(args, kwargs))


def heuristics(values):
    """Decorator computing meta-parameters from the arguments.

    .. code-block:: python

        @triton.heuristics(values={"BLOCK": lambda args: triton.next_power_of_2(args["n"])})
        @triton.jit
        def kernel(x_ptr, n, BLOCK: tl.constexpr): ...

    :param values: meta-parameter name -> function of the dict of all arguments, by name.
    """

    def decorator(fn):
        return Heuristics(fn, fn.arg_names, values)

    return decorator
