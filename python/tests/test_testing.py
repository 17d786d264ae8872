"""triton.testing: do_bench's contract (no timing claims), assert_close, and perf_report's
table, CSV, HTML and plot (plots skipped with a message when matplotlib is absent)."""

import csv
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import testing


@triton.jit
def add_one(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=m) + 1, mask=m)


def test_do_bench_times_a_kernel():
    x = np.zeros(4096, np.int32)
    calls = []

    def fn():
        calls.append(1)
        add_one[(4,)](x, x.size, BLOCK=1024)

    t = testing.do_bench(fn, warmup=1, rep=3)
    assert isinstance(t, float) and t > 0
    assert len(calls) >= 1 + 5 + 1 + 1  # first call, estimate, warmup, measured
    assert (x == len(calls)).all()  # every call really launched the kernel
    q = testing.do_bench(fn, warmup=1, rep=3, quantiles=(0.2, 0.5, 0.8))
    assert len(q) == 3 and q[0] <= q[1] <= q[2]
    assert isinstance(testing.do_bench(fn, warmup=1, rep=3, quantiles=[0.5]), float)
    everything = testing.do_bench(fn, warmup=1, rep=3, return_mode="all")
    assert len(everything) >= 1 and all(v > 0 for v in everything)
    assert testing.do_bench(fn, warmup=1, rep=3, return_mode="min") <= max(everything) * 100
    with pytest.raises(ValueError, match="return_mode"):
        testing.do_bench(fn, return_mode="p99")


def test_do_bench_resets_grads():
    class T:
        grad = "set"

    t = T()
    seen = []
    testing.do_bench(lambda: seen.append(t.grad), warmup=0, rep=0, grad_to_none=[t])
    assert seen[-1] is None


def test_assert_close():
    testing.assert_close(np.array([1.0, 2.0]), np.array([1.005, 2.0]))  # default atol 1e-2
    with pytest.raises(AssertionError):
        testing.assert_close(np.array([1.0, 2.0]), np.array([1.05, 2.0]))
    testing.assert_close(np.array([1.0, 2.0]), np.array([1.05, 2.0]), atol=0.1)
    testing.assert_close(np.array([100.0, 1.0]), np.array([101.0, 1.0]), atol=0, rtol=0.02)
    testing.assert_close(np.array([np.nan, 1.0]), np.array([np.nan, 1.0]))
    testing.assert_close(np.float32(1.0), 1.001, atol=lambda dtype: 1e-2 if dtype == np.float32 else 0)
    with pytest.raises(AssertionError, match="boom 1.0 is not close to 2.0"):
        testing.assert_close(1.0, 2.0, err_msg="boom")
    torch = pytest.importorskip("torch")
    testing.assert_close(torch.tensor([1.0, 2.0], dtype=torch.bfloat16), np.array([1.0, 2.0]))


def make_report(plot_name="vector-op"):
    @testing.perf_report(
        testing.Benchmark(
            x_names=["size"],
            x_vals=[2, 4, 8],
            line_arg="provider",
            line_vals=["a", "b"],
            line_names=["A", "B"],
            plot_name=plot_name,
            args={"scale": 10},
            ylabel="GB/s",
            x_log=True,
        )
    )
    def bench(size, provider, scale):
        base = size * scale if provider == "a" else size
        return float(base), float(base - 1), float(base + 1)

    return bench


def test_perf_report_writes_table_csv_plot_and_html(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    df = make_report().run(print_data=True, save_path=str(tmp_path), return_df=True)
    printed = capsys.readouterr().out
    assert printed.startswith("vector-op:")
    assert "size" in printed and "80.000000" in printed
    with open(tmp_path / "vector-op.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["size", "A", "B"]
    assert [[float(v) for v in r] for r in rows[1:]] == [[2, 20, 2], [4, 40, 4], [8, 80, 8]]
    png = (tmp_path / "vector-op.png").read_bytes()
    assert png.startswith(b"\x89PNG")
    assert '<image src="vector-op.png"/>' in (tmp_path / "results.html").read_text()
    assert list(df.columns) == ["size", "A", "B"]


def test_perf_report_without_matplotlib(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    monkeypatch.setattr(testing, "_warned_matplotlib", False)
    make_report("no-plot").run(save_path=str(tmp_path))
    assert "matplotlib is not installed; skipping plots" in capsys.readouterr().out
    assert (tmp_path / "no-plot.csv").exists() and not (tmp_path / "no-plot.png").exists()


def test_benchmark_with_several_x_names_and_extra_kwargs():
    @testing.perf_report(
        [
            testing.Benchmark(["M", "N"], [(1, 2), 3], "p", ["x"], ["X"], "two-d", {}),
        ]
    )
    def bench(M, N, p, offset):
        return M * N + offset

    (table,) = bench.run(return_df=True, offset=0.5)
    rows = table.values.tolist() if hasattr(table, "values") else table.rows
    assert rows == [[1, 2, 2.5], [3, 3, 9.5]]
    with pytest.raises(ValueError, match="line_names"):
        testing.Benchmark(["M"], [1], "p", ["x", "y"], ["X"], "bad", {})
