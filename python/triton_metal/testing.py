"""Benchmarking and checking helpers mirroring ``triton.testing``: :func:`do_bench`,
:func:`assert_close`, and :func:`perf_report` with :class:`Benchmark`, which print a table and
write a CSV and a matplotlib plot as upstream's do.

Times are in milliseconds. On the CPU executor (Linux) launches are synchronous and
``do_bench`` measures wall time per call; there is no cache flush between calls (clearing a
256 MB buffer on the CPU would cost more than most kernels). matplotlib and pandas are optional:
without matplotlib plots are skipped with a message; without pandas ``return_df`` gives a
:class:`Table`.
"""

from __future__ import annotations

import csv
import os
import time

import numpy as np

from . import _core

__all__ = ["Benchmark", "Mark", "Table", "assert_close", "do_bench", "perf_report"]


def _synchronize():
    """Waits for every launched kernel (a no-op where launches are synchronous)."""
    sync = getattr(_core, "synchronize", None)
    if sync is not None:
        sync()


def _summarize(times, quantiles, return_mode):
    times = np.asarray(times, dtype=np.float64)
    if quantiles is not None:
        ret = [float(q) for q in np.quantile(times, list(quantiles))]
        return ret[0] if len(ret) == 1 else ret
    if return_mode == "all":
        return times.tolist()
    return float(getattr(np, return_mode)(times))


def do_bench(fn, warmup=25, rep=100, grad_to_none=None, quantiles=None, return_mode="mean"):
    """Runtime of ``fn()`` in ms: the ``return_mode`` ("mean", "median", "min", "max" or "all")
    of the measured calls, or their ``quantiles`` if given.

    :param warmup: time in ms spent calling ``fn`` before measuring.
    :param rep: time in ms spent measuring.
    :param grad_to_none: tensors whose ``.grad`` is reset before each call.
    """
    if return_mode not in ("min", "max", "mean", "median", "all"):
        raise ValueError(f"return_mode must be one of min, max, mean, median, all; got {return_mode!r}")
    fn()
    _synchronize()
    start = time.perf_counter()
    for _ in range(5):
        fn()
    _synchronize()
    estimate_ms = max((time.perf_counter() - start) * 1e3 / 5, 1e-4)
    n_warmup = max(1, int(warmup / estimate_ms))
    n_repeat = max(1, int(rep / estimate_ms))
    for _ in range(n_warmup):
        fn()
    times = []
    for _ in range(n_repeat):
        if grad_to_none is not None:
            for x in grad_to_none:
                x.grad = None
        _synchronize()
        t0 = time.perf_counter()
        fn()
        _synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return _summarize(times, quantiles, return_mode)


def _to_numpy(x):
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch
        x = x.detach().cpu()
        if str(x.dtype) == "torch.bfloat16":
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def assert_close(x, y, atol=None, rtol=None, err_msg=""):
    """Asserts ``|x - y| <= atol + rtol * |y|`` elementwise (NaNs equal). ``atol`` defaults to
    1e-2 and ``rtol`` to 0, as upstream; either may be a function of x's dtype. Accepts numpy
    arrays, torch tensors, MLX arrays and Python scalars."""
    x, y = _to_numpy(x), _to_numpy(y)
    atol = 1e-2 if atol is None else atol
    atol = atol(x.dtype) if callable(atol) else atol
    rtol = 0.0 if rtol is None else rtol
    rtol = rtol(x.dtype) if callable(rtol) else rtol
    if x.size > 1 or y.size > 1:
        np.testing.assert_allclose(x, y, atol=atol, rtol=rtol, equal_nan=True, err_msg=err_msg)
        return
    if not np.allclose(x, y, atol=atol, rtol=rtol, equal_nan=True):
        raise AssertionError(f"{err_msg} {x} is not close to {y} (atol={atol}, rtol={rtol})".strip())


class Benchmark:
    """One plot of :func:`perf_report`: ``x_names`` take each of ``x_vals``; one line per
    ``line_vals`` entry of ``line_arg`` (labelled ``line_names``); ``args`` stay fixed."""

    def __init__(self, x_names, x_vals, line_arg, line_vals, line_names, plot_name, args, xlabel="", ylabel="",
                 x_log=False, y_log=False, styles=None):
        self.x_names = list(x_names)
        self.x_vals = list(x_vals)
        self.x_log = x_log
        self.line_arg = line_arg
        self.line_vals = list(line_vals)
        self.line_names = list(line_names)
        if len(self.line_names) != len(self.line_vals):
            raise ValueError(
                f"Benchmark '{plot_name}': {len(self.line_vals)} line_vals but {len(self.line_names)} line_names"
            )
        self.y_log = y_log
        self.styles = styles
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.plot_name = plot_name
        self.args = dict(args)


class Table:
    """Benchmark results: ``columns`` and ``rows`` (lists), printable and writable as CSV."""

    def __init__(self, columns, rows):
        self.columns = list(columns)
        self.rows = [list(r) for r in rows]

    def column(self, name):
        i = self.columns.index(name)
        return [r[i] for r in self.rows]

    def select(self, names):
        idx = [self.columns.index(n) for n in names]
        return Table(names, [[r[i] for i in idx] for r in self.rows])

    def to_csv(self, path, precision=6):
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(self.columns)
            for r in self.rows:
                w.writerow([_fmt(v, precision) for v in r])

    def __str__(self):
        cells = [[""] + self.columns] + [[str(i)] + [_fmt(v, 6) for v in r] for i, r in enumerate(self.rows)]
        widths = [max(len(row[c]) for row in cells) for c in range(len(cells[0]))]
        return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells)

    __repr__ = __str__


def _fmt(v, precision):
    if isinstance(v, float):
        return f"{v:.{precision}f}"
    return "" if v is None else str(v)


_warned_matplotlib = False


def _pyplot():
    """matplotlib.pyplot, or None (after printing a message once) when it is not installed."""
    global _warned_matplotlib
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        if not _warned_matplotlib:
            print("triton_metal.testing: matplotlib is not installed; skipping plots (pip install matplotlib)")
            _warned_matplotlib = True
        return None
    return plt


class Mark:
    """A function marked by :func:`perf_report`; ``.run(...)`` executes its benchmarks."""

    def __init__(self, fn, benchmarks):
        self.fn = fn
        self.benchmarks = benchmarks

    def _run(self, bench, save_path, show_plots, print_data, save_precision=6, **kwargs):
        y_min = [f"{n}-min" for n in bench.line_names]
        y_max = [f"{n}-max" for n in bench.line_names]
        columns = bench.x_names + bench.line_names + y_min + y_max
        rows = []
        for x in bench.x_vals:
            if not isinstance(x, (list, tuple)):
                x = [x for _ in bench.x_names]
            if len(x) != len(bench.x_names):
                raise ValueError(f"Benchmark '{bench.plot_name}': expected {len(bench.x_names)} values in {x}")
            x_args = dict(zip(bench.x_names, x))
            means, mins, maxs = [], [], []
            for y in bench.line_vals:
                ret = self.fn(**x_args, **{bench.line_arg: y}, **bench.args, **kwargs)
                try:
                    m, lo, hi = ret
                except TypeError:
                    m, lo, hi = ret, None, None
                means.append(m)
                mins.append(lo)
                maxs.append(hi)
            rows.append(list(x) + means + mins + maxs)
        table = Table(columns, rows)
        if bench.plot_name and (save_path or show_plots):
            plt = _pyplot()
            if plt is not None:
                self._plot(plt, bench, table, save_path, show_plots)
        table = table.select(bench.x_names + bench.line_names)
        if print_data:
            print(bench.plot_name + ":")
            print(table)
        if save_path:
            table.to_csv(os.path.join(save_path, f"{bench.plot_name}.csv"), precision=save_precision)
        return table

    @staticmethod
    def _plot(plt, bench, table, save_path, show_plots):
        fig = plt.figure()
        ax = plt.subplot()
        xs = table.column(bench.x_names[0])
        for i, name in enumerate(bench.line_names):
            col = bench.styles[i][0] if bench.styles else None
            sty = bench.styles[i][1] if bench.styles else None
            ax.plot(xs, table.column(name), label=name, color=col, ls=sty)
            lo, hi = table.column(f"{name}-min"), table.column(f"{name}-max")
            if not any(v is None for v in lo + hi):
                ax.fill_between(xs, lo, hi, alpha=0.15, color=col)
        ax.legend()
        ax.set_xlabel(bench.xlabel or " = ".join(bench.x_names))
        ax.set_ylabel(bench.ylabel)
        ax.set_xscale("log" if bench.x_log else "linear")
        ax.set_yscale("log" if bench.y_log else "linear")
        if show_plots:
            plt.show()
        if save_path:
            fig.savefig(os.path.join(save_path, f"{bench.plot_name}.png"))
        plt.close(fig)

    def run(self, show_plots=False, print_data=False, save_path="", return_df=False, **kwargs):
        """Runs every benchmark: prints the tables (``print_data``), writes ``NAME.csv``,
        ``NAME.png`` and ``results.html`` under ``save_path``, and returns the tables
        (pandas DataFrames if pandas is installed) when ``return_df``."""
        single = isinstance(self.benchmarks, Benchmark)
        benchmarks = [self.benchmarks] if single else self.benchmarks
        if save_path:
            os.makedirs(save_path, exist_ok=True)
        tables = [self._run(b, save_path, show_plots, print_data, **kwargs) for b in benchmarks]
        if save_path:
            with open(os.path.join(save_path, "results.html"), "w") as html:
                html.write("<html><body>\n")
                for b in benchmarks:
                    html.write(f'<image src="{b.plot_name}.png"/>\n')
                html.write("</body></html>\n")
        if return_df:
            try:
                import pandas as pd

                tables = [pd.DataFrame(t.rows, columns=t.columns) for t in tables]
            except ImportError:
                pass
            return tables[0] if single else tables
        return None


def perf_report(benchmarks):
    """Marks a function for benchmarking; run it with ``.run(print_data=True, save_path=...)``.

    :param benchmarks: a :class:`Benchmark` or a list of them.
    """
    return lambda fn: Mark(fn, benchmarks)
