"""torch.compile on triton_metal: PyTorch's Inductor generates Triton kernels for CPU tensors
(``cpu_backend = "triton"``), ``import triton`` resolves to triton_metal (TRITON_BACKEND=metal),
and every kernel runs on the CPU executor. For each model: the output (and for the training
step the loss and the updated parameters) matches eager PyTorch, and every Triton kernel in
Inductor's generated code was compiled and launched by triton_metal (counted through
``triton.knobs.runtime.launch_enter_hook``), so nothing fell back silently.

Needs torch (scripts/test.sh installs the pinned version); skipped with a message without it.
"""

import os
import re
import sys

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/test.sh installs it)")
nn = torch.nn
F = torch.nn.functional


@pytest.fixture(scope="module")
def inductor():
    """Inductor generating Triton for CPU tensors, with `triton` resolving to triton_metal."""
    real = sys.modules.get("triton")
    if real is not None and not real.__name__.startswith("triton_metal"):
        pytest.skip("a real Triton was imported earlier in this process")
    old_env = os.environ.get("TRITON_BACKEND")
    os.environ["TRITON_BACKEND"] = "metal"
    import triton_metal  # noqa: F401  (installs the import hook)
    import triton

    assert triton.__name__ == "triton_metal"
    import torch._inductor.config as ic

    saved = {k: getattr(ic, k) for k in ("cpu_backend", "compile_threads")}
    ic.cpu_backend = "triton"
    ic.compile_threads = 1  # no compile workers: the suite's machine has two cores
    launched = []
    triton.knobs.runtime.launch_enter_hook = lambda md: launched.append(md["name"])
    try:
        yield launched
    finally:
        triton.knobs.runtime.launch_enter_hook = None
        for k, v in saved.items():
            setattr(ic, k, v)
        if old_env is None:
            os.environ.pop("TRITON_BACKEND", None)
        else:
            os.environ["TRITON_BACKEND"] = old_env


def kernel_names(codes):
    """Names of the Triton kernels defined in Inductor's generated code."""
    names = set()
    for code in codes:
        names |= set(re.findall(r"^def (triton_\w+)\(", code, re.M))
    return names


def compiled(inductor, fn, *args):
    """Runs torch.compile(fn)(*args); returns (result, names of the Triton kernels Inductor
    generated), after checking that each of them was launched on triton_metal."""
    from torch._inductor.utils import run_and_get_code

    torch._dynamo.reset()
    inductor.clear()
    result, codes = run_and_get_code(torch.compile(fn), *args)
    names = kernel_names(codes)
    assert names, "Inductor generated no Triton kernel"
    assert names == set(inductor), f"generated {sorted(names)}, launched on triton_metal {sorted(set(inductor))}"
    return result, names


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(32, 64)
        self.fc2 = nn.Linear(64, 16)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Block(nn.Module):
    """A pre-norm transformer block: self-attention and an MLP, each with a residual."""

    def __init__(self, d=32, heads=4):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def forward(self, x):
        h = self.ln1(x)
        x = x + self.attn(h, h, h, need_weights=False, is_causal=False)[0]
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab=64, d=32, layers=1, ctx=16):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList([Block(d) for _ in range(layers)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx):
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x)
        return self.head(self.ln(x))


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def check_inference(inductor, model, *args, tol=1e-5):
    with torch.no_grad():
        expected = model(*args)
        got, names = compiled(inductor, model, *args)
    torch.testing.assert_close(got, expected, atol=tol, rtol=tol)
    return names


def test_mlp(inductor):
    torch.manual_seed(0)
    check_inference(inductor, MLP(), torch.randn(8, 32))


def test_layernorm(inductor):
    torch.manual_seed(0)
    ln = nn.LayerNorm(48)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-0.5, 0.5)
    names = check_inference(inductor, ln, torch.randn(6, 48) * 3 + 1)
    assert any("layer_norm" in n for n in names)


def test_gelu_silu_chain(inductor):
    torch.manual_seed(0)

    def chain(x):
        return F.silu(F.gelu(x) * 1.5 + x) - F.gelu(x, approximate="tanh") * torch.sigmoid(x)

    names = check_inference(inductor, chain, torch.randn(300) * 4)
    assert len(names) == 1, "the chain fuses into one kernel"


def test_softmax(inductor):
    torch.manual_seed(0)
    names = check_inference(inductor, lambda x: torch.softmax(x, -1), torch.randn(10, 70) * 5)
    assert any("softmax" in n for n in names)
    # Rows longer than one block: a looped (non-persistent) reduction.
    check_inference(inductor, lambda x: torch.log_softmax(x, -1), torch.randn(4, 5000))


def test_transformer_block(inductor):
    torch.manual_seed(0)
    check_inference(inductor, Block().eval(), torch.randn(2, 8, 32), tol=1e-4)


def test_gpt_forward(inductor):
    torch.manual_seed(0)
    check_inference(inductor, GPT().eval(), torch.randint(0, 64, (2, 16)), tol=1e-4)


def test_gpt_training_step(inductor):
    """Forward, cross-entropy, backward (Inductor's backward graph, with atomics for the
    embedding gradients) and an SGD step: losses and parameters match eager."""
    torch.manual_seed(0)
    eager, model = GPT(), GPT()
    model.load_state_dict(eager.state_dict())
    idx = torch.randint(0, 64, (2, 16))
    target = torch.randint(0, 64, (2, 16))

    def loss_of(m):
        return F.cross_entropy(m(idx).flatten(0, 1), target.flatten())

    def step(loss_fn, m, opt):
        opt.zero_grad()
        loss = loss_fn(m)
        loss.backward()
        opt.step()
        return loss.detach()

    opt_e = torch.optim.SGD(eager.parameters(), lr=0.1)
    opt_c = torch.optim.SGD(model.parameters(), lr=0.1)
    torch._dynamo.reset()
    inductor.clear()
    compiled_loss = torch.compile(loss_of)  # the loss (nll_loss reduction) is compiled too
    for _ in range(2):
        expected = step(loss_of, eager, opt_e)
        got = step(compiled_loss, model, opt_c)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    for (name, p), q in zip(model.named_parameters(), eager.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5, msg=name)
    names = set(inductor)
    assert any("backward" in n for n in names), sorted(names)
    assert any("nll_loss" in n for n in names), sorted(names)
    assert len(names) >= 10


def test_conv_batchnorm(inductor):
    torch.manual_seed(0)
    m = ConvBN().eval()
    with torch.no_grad():
        m.bn.running_mean.uniform_(-0.5, 0.5)
        m.bn.running_var.uniform_(0.5, 2.0)
    names = check_inference(inductor, m, torch.randn(2, 3, 8, 8), tol=1e-4)
    assert any("batch_norm" in n for n in names)


def test_unsupported_kernel_is_named(inductor):
    """A kernel triton_metal cannot compile fails the compile with an error naming the
    kernel and its source line; nothing falls back."""
    import triton
    import triton.language as tl
    from triton.compiler import ASTSource, CompilationError

    @triton.jit
    def uses_inline_asm(x_ptr, BLOCK: tl.constexpr):
        x = tl.load(x_ptr + tl.arange(0, BLOCK))
        y = tl.inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", [x], dtype=tl.int32, is_pure=True, pack=1)
        tl.store(x_ptr + tl.arange(0, BLOCK), y)

    src = ASTSource(uses_inline_asm, {"x_ptr": "*i32", "BLOCK": "constexpr"}, {"BLOCK": 16})
    with pytest.raises(CompilationError, match="uses_inline_asm") as e:
        triton.compile(src, options={"num_warps": 1})
    assert "inline_asm_elementwise" in str(e.value)


def test_argmax_sort_cumsum_scatter(inductor):
    """Index reductions (stored as int64 through Triton's implicit cast at tl.store), the
    bitonic sort of Inductor's helpers (tl.core.get_int_dtype, standard._log2), scans and
    atomics."""
    torch.manual_seed(0)
    x = torch.randn(8, 40)
    i = torch.randint(0, 40, (8, 5))

    def fn(x, i):
        return (x.argmax(1), torch.sort(x, 1)[0], torch.cumsum(x, 1),
                torch.zeros(8, 40).scatter_add(1, i, torch.ones(8, 5)))  # fmt: skip

    got, names = compiled(inductor, fn, x, i)
    for g, e in zip(got, fn(x, i)):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)
    assert any("sort" in n for n in names) and any("argmax" in n for n in names)


# ---------------------------------------------------------------- user kernels in a compiled function


def _user_helper():
    import triton_metal

    @triton_metal.jit
    def times(x, s):
        return x * s

    return times


times = _user_helper()  # a module global: Inductor copies the kernels a user kernel calls from its globals


def user_kernels():
    """Kernels as a user writes them, defined once the `inductor` fixture made `triton` ours."""
    import triton
    import triton.language as tl

    @triton.jit
    def add_into(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)

    @triton.jit
    def scale_(x_ptr, n, s, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(x_ptr + offs, times(tl.load(x_ptr + offs, mask=m), s), mask=m)

    @triton.autotune(configs=[triton.Config({"BLOCK": 16}), triton.Config({"BLOCK": 64}, num_warps=2)], key=["n"])
    @triton.jit
    def mul_into(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * tl.load(y_ptr + offs, mask=m), mask=m)

    return triton, add_into, scale_, mul_into


def run_user(inductor, fn, *args, **compile_kw):
    """torch.compile(fn, fullgraph=True)(*args) against eager on clones of the arguments
    (inputs mutated in place included); returns the kernel names launched."""
    torch._dynamo.reset()
    eager_args = [a.clone() for a in args]
    expected = fn(*eager_args)
    inductor.clear()
    got = torch.compile(fn, fullgraph=True, **compile_kw)(*args)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-6)
    for a, e in zip(args, eager_args):
        torch.testing.assert_close(a, e, atol=1e-6, rtol=1e-6)
    return set(inductor)


def test_user_kernel_writing_an_out_argument(inductor):
    """The kernel's only effect is its store to `out`: Inductor must keep the call (its
    mutation analysis comes from triton_metal's compiler) and read `out` after it."""
    triton, add_into, _, _ = user_kernels()
    torch.manual_seed(0)

    def fn(x, y):
        out = torch.zeros_like(x)
        add_into[(triton.cdiv(x.numel(), 32),)](x, y, out, x.numel(), BLOCK=32)
        return out * 2 + 1

    names = run_user(inductor, fn, torch.randn(100), torch.randn(100))
    assert "add_into" in names, sorted(names)


def test_user_kernel_in_place(inductor):
    """An in-place kernel (calling another @triton.jit function) on an intermediate and on a
    graph input (which eager mutates too)."""
    triton, _, scale_, _ = user_kernels()
    torch.manual_seed(0)

    def fn(x, w):
        h = torch.sin(x) + 1
        scale_[(triton.cdiv(h.numel(), 64),)](h, h.numel(), 3.0, BLOCK=64)
        scale_[(triton.cdiv(w.numel(), 64),)](w, w.numel(), -2.0, BLOCK=64)
        return h + w

    names = run_user(inductor, fn, torch.randn(70), torch.randn(70))
    assert "scale_" in names, sorted(names)


def test_user_kernel_autotuned_with_grid_lambda(inductor):
    triton, _, _, mul_into = user_kernels()
    torch.manual_seed(0)

    def fn(x, y):
        out = torch.empty_like(x)
        n = x.numel()
        mul_into[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](x, y, out, n)
        return out.relu()

    names = run_user(inductor, fn, torch.randn(150), torch.randn(150))
    assert "mul_into" in names, sorted(names)
    # Dynamic shapes: the element count is symbolic when Inductor analyses the kernel.
    run_user(inductor, fn, torch.randn(90), torch.randn(90), dynamic=True)


def test_user_kernel_that_cannot_compile_fails_loudly(inductor):
    import triton
    import triton.language as tl

    @triton.jit
    def asm_into(x_ptr, out_ptr, BLOCK: tl.constexpr):
        x = tl.load(x_ptr + tl.arange(0, BLOCK))
        y = tl.inline_asm_elementwise("mov.b32 $0, $1;", "=r,r", [x], dtype=tl.int32, is_pure=True, pack=1)
        tl.store(out_ptr + tl.arange(0, BLOCK), y)

    def fn(x):
        out = torch.empty_like(x)
        asm_into[(1,)](x, out, BLOCK=16)
        return out + 1

    torch._dynamo.reset()
    with pytest.raises(Exception, match="asm_into") as e:
        torch.compile(fn, fullgraph=True)(torch.arange(16, dtype=torch.int32))
    assert "inline_asm_elementwise" in str(e.value)


def test_written_arguments(inductor):
    """The mutation analysis itself: only pointers stored to or updated atomically, for the
    constexprs given, over every autotune config; tensors, fake tensors and symbolic sizes."""
    import triton
    import triton.language as tl
    from torch._subclasses.fake_tensor import FakeTensorMode
    from triton_metal._torch_hooks import written_arguments

    @triton.jit
    def acc(x_ptr, y_ptr, z_ptr, n, ATOMIC: tl.constexpr, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        v = tl.load(x_ptr + offs, mask=offs < n)
        if ATOMIC:
            tl.atomic_add(y_ptr + offs, v, mask=offs < n)
        else:
            tl.store(z_ptr + offs, v, mask=offs < n)

    x = torch.zeros(8)
    args = dict(x_ptr=x, y_ptr=x, z_ptr=x, n=8, BLOCK=8)
    assert written_arguments(acc, {**args, "ATOMIC": True}) == ["y_ptr"]
    assert written_arguments(acc, {**args, "ATOMIC": False}) == ["z_ptr"]
    tuned = triton.autotune([triton.Config({"ATOMIC": False}), triton.Config({"ATOMIC": True})], key=[])(acc)
    assert written_arguments(tuned, args) == ["y_ptr", "z_ptr"]
    with FakeTensorMode(shape_env=torch.fx.experimental.symbolic_shapes.ShapeEnv()) as mode:
        f = mode.from_tensor(x, symbolic_context=None)
        assert written_arguments(acc, {**args, "x_ptr": f, "z_ptr": f, "ATOMIC": False}) == ["z_ptr"]
    import sympy

    assert written_arguments(acc, {**args, "n": sympy.Symbol("s0"), "ATOMIC": False}) == ["z_ptr"]
    # Heuristics run on the arguments given; where they cannot (a symbolic size), every
    # tensor argument counts as written.
    by_size = triton.heuristics({"ATOMIC": lambda a: a["n"] > 4})(acc)
    assert written_arguments(by_size, {**args, "n": 8}) == ["y_ptr"]
    assert written_arguments(by_size, {**args, "n": 3}) == ["z_ptr"]
    assert written_arguments(by_size, {**args, "n": sympy.Symbol("s0")}) == ["x_ptr", "y_ptr", "z_ptr"]
    import torch._higher_order_ops.triton_kernel_wrap as tkw

    if hasattr(tkw, "identify_mutated_tensors"):  # torch 2.8
        assert tkw.identify_mutated_tensors(acc, {**args, "ATOMIC": True}, {}) == ["y_ptr"]
    else:  # newer torch (2.15): reads and writes as Inductor dependencies
        accesses = tkw.identify_accessed_tensors(acc, {**args, "ATOMIC": True}, {})
        assert [d.name for d in accesses.read_writes.writes] == ["y_ptr"]
        assert [d.name for d in accesses.read_writes.reads] == ["x_ptr", "y_ptr", "z_ptr"]
        assert not accesses.can_fuse_epilogue


def test_hooks_follow_both_torch_apis(inductor):
    """torch 2.8 asks `identify_mutated_tensors` and has `AsyncCompile.use_process_pool` as a
    method; newer torch (2.15) asks `identify_accessed_tensors` (reads and writes as Inductor
    dependencies) and has it as a classmethod. The hooks patch whichever the module has (a
    crash here broke `import torch._dynamo` for every program using triton_metal)."""
    import dataclasses
    import types

    import triton
    import triton.language as tl

    from triton_metal import _torch_hooks

    @triton.jit
    def copy(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=offs < n), mask=offs < n)

    @dataclasses.dataclass
    class TensorAccesses:
        read_writes: object
        can_fuse_epilogue: bool

    def other_kernels(kernel, kwargs, tma):
        return "torch's own answer"

    new = types.ModuleType("fake_new_triton_kernel_wrap")
    new.TensorAccesses, new.identify_accessed_tensors = TensorAccesses, other_kernels
    _torch_hooks._patch_mutation_analysis(new)
    args = dict(src_ptr=torch.zeros(4), dst_ptr=torch.zeros(4), n=4, BLOCK=4)
    got = new.identify_accessed_tensors(copy, args, {})
    assert [d.name for d in got.read_writes.writes] == ["dst_ptr"]
    assert [d.name for d in got.read_writes.reads] == ["src_ptr", "dst_ptr"] and not got.can_fuse_epilogue
    assert new.identify_accessed_tensors(object(), args, {}) == "torch's own answer"

    old = types.ModuleType("fake_old_triton_kernel_wrap")
    old.identify_mutated_tensors = other_kernels
    _torch_hooks._patch_mutation_analysis(old)
    assert old.identify_mutated_tensors(copy, args, {}) == ["dst_ptr"]

    for kind in (lambda f: f, classmethod):
        class AsyncCompile:
            use_process_pool = kind(lambda self_or_cls: True)
            warm_pool = classmethod(lambda cls: None)

        fake = types.SimpleNamespace(AsyncCompile=AsyncCompile, _pool_set=(), get_compile_threads=lambda: 1)
        _torch_hooks._patch_compile_workers(fake)
        assert AsyncCompile().use_process_pool() is False and AsyncCompile.warm_pool() is None
        if kind is classmethod:
            assert AsyncCompile.use_process_pool() is False


def test_compile_threads_above_one_compiles_in_process(inductor, caplog):
    """compile_threads > 1: Inductor's compile workers (fresh interpreters, whose `import
    triton` is not triton_metal) are not used; the kernels compile in this process, the
    reason is logged, and the numbers are right."""
    import logging

    import torch._inductor.async_compile as ac
    import torch._inductor.config as ic

    from triton_metal import _torch_hooks

    ic.compile_threads = 2  # the fixture restores it
    _torch_hooks._told = False
    torch.manual_seed(0)
    x = torch.randn(6, 50)
    with caplog.at_level(logging.INFO, logger="triton_metal._torch_hooks"):
        got, names = compiled(inductor, lambda x: torch.softmax(F.gelu(x) * 2, -1) + x.sum(), x)
    torch.testing.assert_close(got, torch.softmax(F.gelu(x) * 2, -1) + x.sum(), atol=1e-5, rtol=1e-5)
    assert not ac.AsyncCompile().use_process_pool() and not ac._pool_set
    assert "compiles Triton kernels in this process although compile_threads=2" in caplog.text


def test_max_autotune_triton_gemm_templates(inductor):
    """mode="max-autotune" with Triton GEMM templates only: Inductor benchmarks its template
    configs on triton_metal (two, to keep the test short) and the chosen template kernel,
    with the fused epilogue, gives eager's numbers."""
    import torch._inductor.config as ic

    torch.manual_seed(0)
    a, b = torch.randn(24, 40), torch.randn(40, 20)

    def fn(a, b):
        return torch.relu(a @ b) + 1

    torch._dynamo.reset()
    inductor.clear()
    opts = {"max_autotune_gemm_backends": "TRITON", "test_configs.max_mm_configs": 2,
            "force_disable_caches": True}  # benchmark now, not from an earlier run's cache  # fmt: skip
    with ic.patch(opts):
        got = torch.compile(fn, mode="max-autotune", fullgraph=True)(a, b)
    torch.testing.assert_close(got, fn(a, b), atol=1e-5, rtol=1e-5)
    names = set(inductor)
    assert "triton_mm" in names, sorted(names)  # the template, benchmarked per config
    assert any(n.startswith("triton_tem_fused") for n in names), sorted(names)  # the chosen kernel


def test_autotune_in_subprocess(inductor, monkeypatch):
    """Inductor's benchmarking subprocess imports `triton` afresh: with TRITON_BACKEND=metal in
    the environment (the fixture sets it) that is triton_metal and the templates are
    benchmarked there; without it the option is refused by name, not left to end in
    NoValidChoicesError."""
    import torch._inductor.config as ic

    a, b = torch.randn(16, 24), torch.randn(24, 8)
    opts = {"max_autotune_gemm_backends": "TRITON", "test_configs.max_mm_configs": 2, "autotune_in_subproc": True,
            "force_disable_caches": True}  # fmt: skip
    torch._dynamo.reset()
    with ic.patch(opts):
        got = torch.compile(lambda a, b: a @ b, mode="max-autotune")(a, b)
    torch.testing.assert_close(got, a @ b, atol=1e-5, rtol=1e-5)
    monkeypatch.delenv("TRITON_BACKEND")
    torch._dynamo.reset()
    with ic.patch(opts), pytest.raises(Exception, match="autotune_in_subproc=True needs TRITON_BACKEND=metal"):
        torch.compile(lambda a, b: a @ b + 1, mode="max-autotune")(a, b)
