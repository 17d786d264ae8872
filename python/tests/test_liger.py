"""Liger-Kernel, unmodified, on triton_metal: with TRITON_BACKEND=metal its `import triton`
resolves to triton_metal and its autograd functions (RMSNorm, LayerNorm, SwiGLU, GeGLU, RoPE,
cross-entropy) run forward and backward on CPU tensors, compared with PyTorch references.

scripts/test.sh installs the pinned liger-kernel (without its dependencies: torch is pinned
separately and upstream Triton is not wanted); skipped with a message where it is not installed.
"""

import os
import sys

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/test.sh installs it)")
F = torch.nn.functional


@pytest.fixture(scope="module", autouse=True)
def alias():
    real = sys.modules.get("triton")
    if real is not None and not real.__name__.startswith("triton_metal"):
        pytest.skip("a real Triton was imported earlier in this process")
    old = os.environ.get("TRITON_BACKEND")
    os.environ["TRITON_BACKEND"] = "metal"
    import triton_metal  # noqa: F401  (installs the import hook)

    try:
        import liger_kernel.ops  # noqa: F401
    except ImportError as e:
        pytest.skip(f"liger-kernel is not installed or not importable here ({e}); pip install --no-deps liger-kernel")
    import triton

    assert triton.__name__ == "triton_metal"
    yield
    if old is None:
        os.environ.pop("TRITON_BACKEND", None)
    else:
        os.environ["TRITON_BACKEND"] = old


def leaves(*tensors):
    """Two independent copies of each tensor, requiring grad (Liger's backward may reuse its
    inputs' memory, so the reference gets its own)."""
    a = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in tensors]
    b = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in tensors]
    return a, b


def check(liger_fn, ref_fn, *tensors, tol=1e-4, grads=None):
    ours, ref = leaves(*tensors)
    y = liger_fn(*ours)
    r = ref_fn(*ref)
    ys, rs = (y, r) if isinstance(y, tuple) else ((y,), (r,))
    for a, b in zip(ys, rs):
        torch.testing.assert_close(a.detach(), b.detach(), atol=tol, rtol=tol)
    torch.manual_seed(1)
    upstream = [torch.randn_like(b) for b in rs]
    sum(((a * g).sum() for a, g in zip(ys, upstream)), torch.zeros(())).backward()
    sum(((b * g).sum() for b, g in zip(rs, upstream)), torch.zeros(())).backward()
    for i, (a, b) in enumerate(zip(ours, ref)):
        if b.grad is not None and (grads is None or i in grads):
            torch.testing.assert_close(a.grad, b.grad, atol=tol, rtol=tol, msg=f"gradient of input {i}")


def test_rms_norm():
    from liger_kernel.ops.rms_norm import LigerRMSNormFunction

    torch.manual_seed(0)
    check(lambda x, w: LigerRMSNormFunction.apply(x, w, 1e-6),
          lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w,
          torch.randn(6, 96), torch.randn(96))  # fmt: skip


def test_layer_norm():
    from liger_kernel.ops.layer_norm import LigerLayerNormFunction

    torch.manual_seed(0)
    check(lambda x, w, b: LigerLayerNormFunction.apply(x, w, b, 1e-5),
          lambda x, w, b: F.layer_norm(x, (80,), w, b, 1e-5),
          torch.randn(6, 80) * 2 + 1, torch.randn(80), torch.randn(80))  # fmt: skip


def test_swiglu():
    from liger_kernel.ops.swiglu import LigerSiLUMulFunction

    torch.manual_seed(0)
    check(LigerSiLUMulFunction.apply, lambda a, b: F.silu(a) * b, torch.randn(4, 128), torch.randn(4, 128))


def test_geglu():
    from liger_kernel.ops.geglu import LigerGELUMulFunction

    torch.manual_seed(0)
    check(LigerGELUMulFunction.apply, lambda a, b: F.gelu(a, approximate="tanh") * b,
          torch.randn(4, 128), torch.randn(4, 128))  # fmt: skip


def test_rope():
    from liger_kernel.ops.rope import LigerRopeFunction

    torch.manual_seed(0)
    bsz, heads, seq, dim = 2, 4, 8, 16
    pos = torch.arange(seq, dtype=torch.float32)[:, None]
    inv = 1.0 / (10000 ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    ang = torch.cat([pos * inv, pos * inv], -1)[None]  # (1, seq, dim)
    cos, sin = ang.cos(), ang.sin()

    def rotate_half(x):
        return torch.cat((-x[..., dim // 2 :], x[..., : dim // 2]), -1)

    def ref(q, k):
        c, s = cos[:, None], sin[:, None]
        return q * c + rotate_half(q) * s, k * c + rotate_half(k) * s

    check(lambda q, k: LigerRopeFunction.apply(q, k, cos, sin), ref,
          torch.randn(bsz, heads, seq, dim), torch.randn(bsz, heads, seq, dim))  # fmt: skip


def test_cross_entropy():
    from liger_kernel.ops.cross_entropy import LigerCrossEntropyFunction

    torch.manual_seed(0)
    logits = torch.randn(12, 300) * 3
    target = torch.randint(0, 300, (12,))
    target[3] = -100  # ignored

    def ours(x):
        out = LigerCrossEntropyFunction.apply(x, target, None)
        return out[0] if isinstance(out, tuple) else out

    check(ours, lambda x: F.cross_entropy(x, target, ignore_index=-100), logits)
