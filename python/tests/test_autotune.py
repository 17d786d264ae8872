"""triton.autotune / Config / heuristics and kernel.warmup, on the CPU executor. Which config
wins is driven by a scripted benchmark (no timing claims); results are checked against numpy."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

CONFIGS = [
    triton.Config({"BLOCK": 64}, num_warps=1),
    triton.Config({"BLOCK": 128}, num_warps=2),
    triton.Config({"BLOCK": 256}, num_warps=4),
]


class ScriptedBench:
    """A do_bench that runs the kernel once and reports scripted times, in call order."""

    def __init__(self, times):
        self.times = list(times)
        self.calls = 0

    def __call__(self, kernel_call, quantiles):
        kernel_call()
        t = self.times[self.calls % len(self.times)]
        self.calls += 1
        return [t, t, t]


def grid(meta):
    return (triton.cdiv(meta["n"], meta["BLOCK"]),)


def make_scale_kernel(bench, **kw):
    @triton.autotune(configs=CONFIGS, key=["n"], do_bench=bench, **kw)
    @triton.jit
    def scale(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * 3.0, mask=m)

    return scale


def test_fastest_config_is_chosen_and_cached_per_key():
    bench = ScriptedBench([3.0, 1.0, 2.0])
    kernel = make_scale_kernel(bench)
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    out = np.zeros_like(x)
    kernel[grid](x, out, x.size)
    np.testing.assert_array_equal(out, x * 3.0)
    assert kernel.best_config is CONFIGS[1]
    assert bench.calls == 3
    assert list(kernel.cache.values()) == [CONFIGS[1]]
    (key,) = kernel.cache
    assert key[0] == 1000 and "float32" in key

    out[:] = 0
    kernel[grid](x, out, x.size)  # same key: no benchmarking
    assert bench.calls == 3
    np.testing.assert_array_equal(out, x * 3.0)
    # The chosen config's kernel was compiled with its meta-parameters and warps.
    jit_keys = kernel.fn.cache.keys()
    assert any(("c", int, 128) in k and w == 2 for k, w in jit_keys)

    y = x[:500].copy()
    out2 = np.zeros_like(y)
    kernel[grid](y, out2, y.size)  # new key value: benchmarks again
    assert bench.calls == 6 and len(kernel.cache) == 2
    np.testing.assert_array_equal(out2, y * 3.0)


def test_real_benchmark_picks_a_config_and_prints_it(capsys, monkeypatch):
    monkeypatch.setenv("TRITON_PRINT_AUTOTUNING", "1")

    @triton.autotune(configs=CONFIGS, key=["n"], warmup=1, rep=2)
    @triton.jit
    def add_one(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1.0, mask=m)

    x = np.arange(777, dtype=np.float32)
    out = np.zeros_like(x)
    add_one[grid](x, out, x.size)
    np.testing.assert_array_equal(out, x + 1.0)
    assert add_one.best_config in CONFIGS
    printed = capsys.readouterr().out
    assert "Triton autotuning for function add_one" in printed
    assert f"best config selected: {add_one.best_config};" in printed
    for c in CONFIGS:
        assert f"Autotuning kernel add_one with config {c}" in printed
    add_one[grid](x, out, x.size)
    assert "best config selected" not in capsys.readouterr().out  # cached: nothing printed


@triton.jit
def accumulate(x_ptr, acc_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(acc_ptr + offs, tl.load(acc_ptr + offs, mask=m) + tl.load(x_ptr + offs, mask=m), mask=m)


def test_reset_to_zero_and_restore_value():
    x = np.arange(300, dtype=np.float32)
    acc = np.full_like(x, 5.0)
    tuned = triton.autotune(CONFIGS, key=["n"], reset_to_zero=["acc_ptr"], do_bench=ScriptedBench([1, 2, 3]))(accumulate)
    tuned[grid](x, acc, x.size)
    np.testing.assert_array_equal(acc, x)  # zeroed before each benchmark and before the real launch

    acc = np.full_like(x, 5.0)
    tuned = triton.autotune(CONFIGS, key=["n"], restore_value=["acc_ptr"], do_bench=ScriptedBench([1, 2, 3]))(
        accumulate
    )
    tuned[grid](x, acc, x.size)
    np.testing.assert_array_equal(acc, x + 5.0)  # benchmarks undone: applied exactly once


def test_prune_configs_by():
    seen = {}

    def early(configs, named_args, **kwargs):
        seen["n"] = named_args["n"]
        return [c for c in configs if c.kwargs["BLOCK"] >= 128]

    def perf_model(**kw):
        return -kw["BLOCK"]  # the model prefers the largest block

    bench = ScriptedBench([1.0])
    kernel = make_scale_kernel(bench, prune_configs_by={"early_config_prune": early, "perf_model": perf_model, "top_k": 1})
    x = np.ones(300, np.float32)
    out = np.zeros_like(x)
    kernel[grid](x, out, x.size)
    assert seen["n"] == 300
    assert kernel.best_config is CONFIGS[2] and bench.calls == 0  # one config left: nothing to benchmark
    np.testing.assert_array_equal(out, x * 3.0)


def test_heuristics_compute_meta_parameters():
    @triton.heuristics(values={"BLOCK": lambda args: triton.next_power_of_2(args["n"])})
    @triton.jit
    def whole_row_sum(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        tl.store(out_ptr, tl.sum(tl.load(x_ptr + offs, mask=offs < n, other=0.0), axis=0))

    for n in (5, 100):
        x = np.arange(n, dtype=np.float32)
        out = np.zeros(1, np.float32)
        whole_row_sum[(1,)](x, out, n)
        assert out[0] == x.sum()
    blocks = sorted(entry[-1] for k, _ in whole_row_sum.fn.cache for entry in k if entry[0] == "c" and entry[1] is int)
    assert blocks == [8, 128]


def test_heuristics_over_autotune():
    bench = ScriptedBench([2.0, 1.0])

    @triton.heuristics(values={"EVEN": lambda args: args["n"] % args["BLOCK"] == 0})
    @triton.autotune(configs=CONFIGS[:2], key=["n"], do_bench=bench)
    @triton.jit
    def copy(x_ptr, out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        if EVEN:
            tl.store(out_ptr + offs, tl.load(x_ptr + offs))
        else:
            tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)

    x = np.arange(640, dtype=np.float32)
    out = np.zeros_like(x)
    with pytest.raises(KeyError):  # EVEN needs BLOCK, which only the autotuner sets: as upstream
        copy[grid](x, out, x.size)

    @triton.autotune(configs=CONFIGS[:2], key=["n"], do_bench=bench)
    @triton.heuristics(values={"EVEN": lambda args: args["n"] % args["BLOCK"] == 0})
    @triton.jit
    def copy2(x_ptr, out_ptr, n, BLOCK: tl.constexpr, EVEN: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        if EVEN:
            tl.store(out_ptr + offs, tl.load(x_ptr + offs))
        else:
            tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)

    for n in (640, 650):
        x = np.arange(n, dtype=np.float32)
        out = np.zeros_like(x)
        copy2[grid](x, out, n)
        np.testing.assert_array_equal(out, x)


def test_warmup_compiles_without_launching():
    @triton.jit
    def fill(out_ptr, n, VALUE: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        tl.store(out_ptr + offs, tl.full((BLOCK,), VALUE, tl.float32), mask=offs < n)

    k = fill.warmup(tl.float32, 100, VALUE=2.5, BLOCK=64, grid=(1,))
    assert "kernel void" in k.asm["msl"] and len(fill.cache) == 1
    for dt in (np.float32, "*fp32", np.dtype("float32")):
        fill.warmup(dt, 100, VALUE=2.5, BLOCK=64)
    assert len(fill.cache) == 1  # every spelling of the dtype is the same specialisation
    out = np.zeros(128, np.float32)
    fill[(2,)](out, 100, VALUE=2.5, BLOCK=64)
    assert len(fill.cache) == 1  # the launch reused the warmed-up kernel
    np.testing.assert_array_equal(out, np.r_[np.full(100, 2.5), np.zeros(28)])


def test_autotuner_warmup_compiles_every_config():
    kernel = make_scale_kernel(ScriptedBench([1.0]))
    kernels = kernel.warmup(np.float32, np.float32, 1000)
    assert len(kernels) == 3 and len(kernel.fn.cache) == 3
    assert sorted(k.threads_per_threadgroup for k in kernels) == [32, 64, 128]


def test_config_api():
    c = triton.Config({"BLOCK": 128}, num_warps=8, num_stages=2)
    assert c.all_kwargs() == {"BLOCK": 128, "num_warps": 8, "num_ctas": 1, "num_stages": 2}
    assert str(c) == "BLOCK: 128, num_warps: 8, num_ctas: 1, num_stages: 2, maxnreg: None"
    assert c == triton.Config({"BLOCK": 128}, num_warps=8, num_stages=2) and len({c, c}) == 1


def test_bad_input_is_refused_clearly():
    with pytest.raises(ValueError, match=r"'BLOK', which is not a parameter of the kernel \(parameters: x_ptr"):
        triton.autotune([triton.Config({"BLOK": 64})], key=["n"])(accumulate)
    # A key naming no parameter is ignored, as upstream (flash-linear-attention shares key
    # lists between kernels): the tuning runs and caches under the remaining keys.
    keyed = triton.autotune(CONFIGS, key=["n", "size"], restore_value=["acc_ptr"],
                            do_bench=ScriptedBench([3, 1, 2]))(accumulate)  # fmt: skip
    x, out = np.arange(10, dtype=np.float32), np.zeros(10, np.float32)
    keyed[grid](x, out, 10)
    np.testing.assert_array_equal(out, x)
    assert len(keyed.cache) == 1 and keyed.best_config.kwargs == {"BLOCK": 128}
    with pytest.raises(ValueError, match="reset_to_zero"):
        triton.autotune(CONFIGS, key=["n"], reset_to_zero=["out"])(accumulate)
    with pytest.raises(ValueError, match="heuristics of kernel 'accumulate' names 'B'"):
        triton.heuristics({"B": lambda a: 1})(accumulate)
    with pytest.raises(TypeError, match="triton.Config"):
        triton.autotune([{"BLOCK": 64}], key=["n"])(accumulate)
    tuned = triton.autotune(CONFIGS, key=["n"], do_bench=ScriptedBench([1, 2, 3]))(accumulate)
    x = np.zeros(10, np.float32)
    with pytest.raises(ValueError, match="Conflicting meta-parameters: BLOCK"):
        tuned[grid](x, x.copy(), 10, BLOCK=64)


def test_configs_differing_only_in_stages_are_benchmarked_once():
    """num_stages (and num_ctas, maxnreg) do not change triton_metal's code: configs differing
    only there share one benchmark (libraries list blocks x warps x stages), and the tuned
    result is still right."""
    configs = [triton.Config({"BLOCK": b}, num_warps=w, num_stages=s) for b in (64, 128) for w in (1, 2)
               for s in (1, 2, 3)]  # fmt: skip
    bench = ScriptedBench([4.0, 3.0, 1.0, 2.0])
    tuned = triton.autotune(configs, key=["n"], restore_value=["acc_ptr"], do_bench=bench)(accumulate)
    x, out = np.arange(300, dtype=np.float32), np.zeros(300, np.float32)
    tuned[grid](x, out, 300)
    np.testing.assert_array_equal(out, x)
    assert bench.calls == 4
    best = tuned.best_config
    assert (best.kwargs, best.num_warps, best.num_stages) == ({"BLOCK": 128}, 1, 1)
    assert len(tuned.configs_timings) == 12
