"""Times each example kernel against the reference implementations of this machine and
saves a plot per example (plus CSV tables) with `triton.testing.perf_report`:

- Linux: triton_metal (its Metal code on the CPU executor) against numpy;
- Mac: triton_metal on the GPU against numpy, MLX and PyTorch MPS, where installed.

    python examples/06_compare_backends.py [--save-path DIR] [--quick] [--only NAME,...]

(default DIR: examples/out/compare_backends)

Times are milliseconds (median, with the 20th-80th percentile band in the plots); lower is
better. Every implementation's result is checked against numpy before it is timed.
matplotlib is optional: without it the tables and CSV files are still written.
"""

import argparse
import importlib.util
import os
import sys

import numpy as np

import triton_metal as triton

HERE = os.path.dirname(os.path.abspath(__file__))


def load(stem):
    spec = importlib.util.spec_from_file_location(stem, os.path.join(HERE, stem + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


vector_add = load("01_vector_add")
softmax = load("02_fused_softmax")
matmul = load("03_matmul")
layer_norm = load("04_layer_norm")
conv2d = load("05_conv2d")


def mlx_core():
    if sys.platform != "darwin":
        return None
    try:
        import mlx.core as mx
    except ImportError:
        return None
    return mx


def torch_mps():
    if sys.platform != "darwin":
        return None
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.backends.mps.is_available() else None


class Case:
    """One example: how to make inputs of a size, and each provider's implementation."""

    def __init__(self, name, sizes, quick_sizes, make, triton_fn, numpy_fn, mlx_fn=None, torch_fn=None, atol=1e-4):
        self.name, self.sizes, self.quick_sizes = name, sizes, quick_sizes
        self.make, self.atol = make, atol
        self.impls = {"triton_metal": triton_fn, "numpy": numpy_fn}
        mx, torch = mlx_core(), torch_mps()
        if mx is not None and mlx_fn is not None:
            self.impls["mlx"] = lambda *a: mlx_fn(mx, *a)
        if torch is not None and torch_fn is not None:
            self.impls["torch-mps"] = lambda *a: torch_fn(torch, *a)


def _rng():
    return np.random.default_rng(0)


def mlx_run(mx, f, *arrays):
    out = f(*[mx.array(a) for a in arrays])
    mx.eval(out)
    return np.array(out)


def torch_run(torch, f, *arrays):
    out = f(*[torch.from_numpy(a).to("mps") for a in arrays])
    torch.mps.synchronize()
    return out.cpu().numpy()


CASES = [
    Case(
        "vector-add", [2**k for k in range(12, 25, 2)], [2**12, 2**16],
        lambda n: (_rng().random(n, dtype=np.float32), _rng().random(n, dtype=np.float32)),
        vector_add.add, np.add,
        lambda mx, a, b: mlx_run(mx, lambda x, y: x + y, a, b),
        lambda torch, a, b: torch_run(torch, lambda x, y: x + y, a, b),
    ),
    Case(
        "fused-softmax", [128 * k for k in (1, 2, 4, 8, 16, 32)], [128, 512],
        lambda n: (_rng().standard_normal((1024, n)).astype(np.float32),),
        softmax.softmax, softmax.softmax_numpy,
        lambda mx, x: mlx_run(mx, lambda t: mx.softmax(t, axis=-1), x),
        lambda torch, x: torch_run(torch, lambda t: torch.softmax(t, dim=-1), x),
    ),
    Case(
        "matmul-fp16", [128, 256, 512, 1024], [64, 128],
        lambda n: (_rng().standard_normal((n, n)).astype(np.float16), _rng().standard_normal((n, n)).astype(np.float16)),
        matmul.matmul, lambda a, b: (a.astype(np.float32) @ b.astype(np.float32)).astype(np.float16),
        lambda mx, a, b: mlx_run(mx, lambda x, y: x @ y, a, b),
        lambda torch, a, b: torch_run(torch, lambda x, y: x @ y, a, b),
        atol=0.25,
    ),
    Case(
        "layer-norm", [512 * k for k in (1, 2, 4, 8, 16)], [512, 2048],
        lambda n: (
            _rng().standard_normal((1024, n)).astype(np.float32),
            _rng().random(n, dtype=np.float32),
            _rng().random(n, dtype=np.float32),
        ),
        lambda x, w, b: layer_norm.layer_norm(x, w, b)[0], layer_norm.layer_norm_numpy,
        lambda mx, x, w, b: mlx_run(mx, lambda t, tw, tb: mx.fast.layer_norm(t, tw, tb, 1e-5), x, w, b),
        lambda torch, x, w, b: torch_run(
            torch, lambda t, tw, tb: torch.nn.functional.layer_norm(t, t.shape[-1:], tw, tb, 1e-5), x, w, b
        ),
        atol=1e-3,
    ),
    Case(
        "conv2d-3x3", [16, 32, 64, 128], [16, 32],
        lambda n: (
            _rng().standard_normal((4, 16, n, n)).astype(np.float32),
            _rng().standard_normal((32, 16, 3, 3)).astype(np.float32),
        ),
        conv2d.conv2d, conv2d.conv2d_numpy,
        # MLX convolves channels-last: NHWC input, (K, R, S, C) filters.
        lambda mx, x, w: mlx_run(
            mx, lambda t, f: mx.conv2d(t, f, padding=1).transpose(0, 3, 1, 2),
            x.transpose(0, 2, 3, 1).copy(), w.transpose(0, 2, 3, 1).copy(),
        ),
        lambda torch, x, w: torch_run(torch, lambda t, f: torch.nn.functional.conv2d(t, f, padding=1), x, w),
        atol=1e-3,
    ),
]


def benchmark(case, quick):
    providers = list(case.impls)

    @triton.testing.perf_report(
        triton.testing.Benchmark(
            x_names=["size"], x_vals=case.quick_sizes if quick else case.sizes, line_arg="provider",
            line_vals=providers, line_names=providers, plot_name=case.name, args={},
            xlabel="size", ylabel="time (ms)", x_log=True, y_log=True,
        )
    )
    def bench(size, provider):
        inputs = case.make(size)
        fn = case.impls[provider]
        expected = case.impls["numpy"](*inputs)
        got = fn(*inputs)
        np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(expected, np.float32), atol=case.atol,
                                   rtol=1e-3, err_msg=f"{case.name} {provider} size {size}")
        return triton.testing.do_bench(lambda: fn(*inputs), warmup=5 if quick else 25, rep=20 if quick else 100,
                                       quantiles=[0.5, 0.2, 0.8])

    return bench


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--save-path", default=os.path.join(HERE, "out", "compare_backends"),
                   help="where plots and CSVs go (default: examples/out/compare_backends)")
    p.add_argument("--quick", action="store_true", help="two small sizes per example, short timings")
    p.add_argument("--only", help="comma-separated example names (e.g. fused-softmax,conv2d-3x3)")
    args = p.parse_args(argv)
    wanted = set(args.only.split(",")) if args.only else None
    for case in CASES:
        if wanted is None or case.name in wanted:
            benchmark(case, args.quick).run(print_data=True, save_path=args.save_path)
    print(f"tables and plots in {os.path.abspath(args.save_path)}")


if __name__ == "__main__":
    main()
