"""torch.compile through triton_metal: for each model of the zoo (the models of
python/tests/test_torch_compile.py), the number of Triton kernels Inductor generated, how
many of them were launched on triton_metal (all of them, or the run fails), the compile time
(first call, Dynamo + Inductor + triton_metal) and the steady-state time of a call, and the
largest difference from eager PyTorch.

    python benchmarks/torch_compile.py            # every model
    python benchmarks/torch_compile.py mlp gpt    # some of them

On Linux Inductor generates Triton kernels for CPU tensors (``cpu_backend = "triton"``) and
they run on the CPU executor; set TRITON_METAL_CACHE_DIR to an empty directory to measure
compile times without the kernel cache.
"""

from __future__ import annotations

import os
import re
import sys
import time

os.environ["TRITON_BACKEND"] = "metal"

import triton_metal  # noqa: E402,F401  (installs the import hook)

import torch  # noqa: E402
import torch._inductor.config as inductor_config  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch._inductor.utils import run_and_get_code  # noqa: E402

import triton  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "tests"))
import test_torch_compile as zoo  # noqa: E402

inductor_config.cpu_backend = "triton"
inductor_config.compile_threads = 1


def models():
    torch.manual_seed(0)
    gpt = zoo.GPT()
    idx = torch.randint(0, 64, (2, 16))
    target = torch.randint(0, 64, (2, 16))

    def train_step(m):
        loss = F.cross_entropy(m(idx).flatten(0, 1), target.flatten())
        loss.backward()
        return loss.detach()

    return {
        "mlp": (zoo.MLP(), (torch.randn(8, 32),), False),
        "layernorm": (torch.nn.LayerNorm(48), (torch.randn(6, 48),), False),
        "gelu_silu": (lambda x: F.silu(F.gelu(x) * 1.5 + x) - F.gelu(x, approximate="tanh") * torch.sigmoid(x),
                      (torch.randn(300),), False),
        "softmax": (lambda x: torch.softmax(x, -1), (torch.randn(10, 70),), False),
        "transformer_block": (zoo.Block().eval(), (torch.randn(2, 8, 32),), False),
        "gpt_forward": (gpt.eval(), (idx,), False),
        "gpt_train_step": (train_step, (zoo.GPT(),), True),
        "conv_batchnorm": (zoo.ConvBN().eval(), (torch.randn(2, 3, 8, 8),), False),
    }  # fmt: skip


def main(names):
    launched = []
    triton.knobs.runtime.launch_enter_hook = lambda md: launched.append(md["name"])
    rows = []
    for name, (fn, args, grad) in models().items():
        if names and name not in names:
            continue
        torch._dynamo.reset()
        launched.clear()
        compiled = torch.compile(fn)
        with torch.set_grad_enabled(grad):
            t0 = time.perf_counter()
            out, codes = run_and_get_code(compiled, *args)
            compile_s = time.perf_counter() - t0
            generated = set()
            for code in codes:
                generated |= set(re.findall(r"^def (triton_\w+)\(", code, re.M))
            ran = set(launched)
            missing = generated - ran
            if missing:
                raise SystemExit(f"{name}: kernels generated but not launched on triton_metal: {sorted(missing)}")
            reps = 5
            t0 = time.perf_counter()
            for _ in range(reps):
                compiled(*args)
            call_ms = (time.perf_counter() - t0) / reps * 1e3
            err = 0.0 if grad else (out - fn(*args)).abs().max().item()
        rows.append((name, len(generated), len(ran), compile_s, call_ms, err))
        print(f"{name:18s} kernels {len(generated):3d}  on triton_metal {len(ran):3d}  "
              f"compile {compile_s:6.1f} s  call {call_ms:7.2f} ms  max|diff| {err:.1e}", flush=True)  # fmt: skip
    total = sum(r[1] for r in rows)
    print(f"{len(rows)} models, {total} Triton kernels, all launched on triton_metal "
          f"({triton_metal.runtime.driver.active.device_name})")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
