"""The PyTorch MPS and MLX launch paths, run against fakes of their APIs
(fake_frameworks.py): the MSL those APIs receive is generated in Rust and runs, unchanged,
on the CPU executor; results are compared with numpy."""

import sys
import warnings

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
import triton_metal.mlx as tmx
from triton_metal import _core
import importlib

_jit = importlib.import_module("triton_metal.runtime.jit")
_mps = importlib.import_module("triton_metal.runtime.mps")

from fake_frameworks import Tensor, fake_mlx, fake_torch


def _cpu_executor_usable():
    try:
        _core.cpu_compiler()
        return True
    except Exception:
        return False


# The fakes run what they receive on the CPU executor (on a Mac too, where it needs clang 17+).
fakes = pytest.mark.skipif(not _cpu_executor_usable(), reason="the CPU executor has no usable clang++ here")


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)


@triton.jit
def scaled_row_sum(x_ptr, out_ptr, stride, alpha, N: tl.constexpr):
    # A block reduction across simdgroups: threadgroup memory.
    row = tl.program_id(0)
    x = tl.load(x_ptr + row * stride + tl.arange(0, N))
    tl.store(out_ptr + row, tl.sum(x, axis=0) * alpha)


@triton.jit
def histogram(x_ptr, bins_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.atomic_add(bins_ptr + tl.load(x_ptr + offs, mask=mask), 1, mask=mask)


@pytest.fixture
def torch_mps(monkeypatch):
    def install(compile_shader=True):
        torch = fake_torch(compile_shader)
        monkeypatch.setitem(sys.modules, "torch", torch)
        monkeypatch.setattr(_jit, "_ON_METAL", True)
        monkeypatch.setattr(_mps, "_libraries", {})
        monkeypatch.setattr(_mps, "_warned", set())
        return torch

    return install


@pytest.fixture
def mx(monkeypatch):
    mlx, core = fake_mlx()
    monkeypatch.setitem(sys.modules, "mlx", mlx)
    monkeypatch.setitem(sys.modules, "mlx.core", core)
    monkeypatch.setattr(tmx, "_kernels", {})
    return core


# ---- PyTorch MPS --------------------------------------------------------------------------


@fakes
def test_mps_launch_is_queued_through_compile_shader_without_synchronize(torch_mps):
    torch = torch_mps()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
    tx, ty, tout = Tensor.from_numpy(x), Tensor.from_numpy(y), Tensor.from_numpy(np.zeros(1000, np.float32))
    add_kernel._fast.clear()
    for _ in range(2):
        add_kernel[(4,)](tx, ty, tout, 1000, BLOCK=256)
    np.testing.assert_array_equal(tout.numpy(), x + y)
    assert torch.mps.synchronize_calls == 0
    assert len(torch.mps.compiled) == 1  # one library per compiled kernel
    assert len(torch.mps.dispatches) == 2
    # The second launch took the launch fast path: its table holds the MPS launcher.
    assert [type(k).__name__ for k in add_kernel._fast.values()] == ["_MPSLaunch"]
    # CPU tensors of the same dtype are not MPS launches (another key); they are host memory.
    cx, cy, cout = (Tensor.from_numpy(a, device="cpu") for a in (x, y, np.zeros(1000, np.float32)))
    with pytest.raises(TypeError, match="host memory"):
        add_kernel[(4,)](tx, cy, tout, 1000, BLOCK=256)
    assert len(torch.mps.dispatches) == 2
    assert torch.mps.dispatches[-1] == ("add_kernel", [4 * 128, 1, 1], [128, 1, 1])


@fakes
def test_mps_entry_declares_threadgroup_memory_and_takes_scalars_one_by_one(torch_mps):
    torch = torch_mps()
    x = np.random.default_rng(1).standard_normal((6, 512)).astype(np.float32)
    tx, tout = Tensor.from_numpy(x), Tensor.from_numpy(np.zeros(6, np.float32))
    k = scaled_row_sum[(6,)](tx, tout, 512, 0.5, N=512)
    np.testing.assert_allclose(tout.numpy(), x.sum(axis=1) * 0.5, rtol=1e-5, atol=1e-5)
    assert k.threadgroup_memory_bytes > 0
    msl = torch.mps.compiled[0]
    assert "[[threadgroup(" not in msl and "TM_THREADGROUP_STORAGE(tm_smem" in msl
    assert "constant long& tm_s0 [[buffer(2)]]" in msl and "constant float& tm_s1 [[buffer(3)]]" in msl
    assert torch.mps.synchronize_calls == 0


@fakes
def test_mps_strided_views_are_bound_at_their_offset(torch_mps):
    torch_mps()
    base = np.arange(4 * 512, dtype=np.float32).reshape(4, 512)
    t = Tensor.from_numpy(base)
    view = Tensor(t._storage, (2, 256), (512, 1), offset=512 + 128)  # rows 1-2, columns 128-383
    out = Tensor.from_numpy(np.zeros(2, np.float32))
    scaled_row_sum[(2,)](view, out, 512, 1.0, N=256)
    np.testing.assert_allclose(out.numpy(), base[1:3, 128:384].sum(axis=1))


@fakes
def test_mps_without_compile_shader_falls_back_with_one_warning(torch_mps):
    torch = torch_mps(compile_shader=False)
    tx = Tensor.from_numpy(np.ones(16, np.float32))
    with pytest.warns(RuntimeWarning, match="compile_shader is missing"):
        with pytest.raises(TypeError, match="Metal buffer"):  # the Metal path exists only on macOS
            add_kernel[(1,)](tx, tx, tx, 16, BLOCK=16)
    assert torch.mps.synchronize_calls == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match="Metal buffer"):
            add_kernel[(1,)](tx, tx, tx, 16, BLOCK=16)


@fakes
def test_mps_bad_inputs_are_refused_before_anything_is_queued(torch_mps):
    torch = torch_mps()
    a = Tensor.from_numpy(np.ones(16, np.float32))
    host = Tensor.from_numpy(np.ones(16, np.float32), device="cpu")
    with pytest.raises(TypeError, match="host memory"):
        add_kernel[(1,)](a, host, a, 16, BLOCK=16)
    with pytest.raises(TypeError, match="host memory"):
        add_kernel[(1,)](a, np.ones(16, np.float32), a, 16, BLOCK=16)
    with pytest.raises(TypeError, match="device 'cuda'"):
        add_kernel[(1,)](a, Tensor.from_numpy(np.ones(16, np.float32), device="cuda"), a, 16, BLOCK=16)
    expanded = Tensor.from_numpy(np.ones((1, 16), np.float32)).expand(4, 16)
    with pytest.raises(ValueError, match="share memory"):
        add_kernel[(1,)](a, a, expanded, 16, BLOCK=16)
    conj = Tensor(a._storage, a.shape, a.stride(), conj=True)
    with pytest.raises(ValueError, match="conj"):
        add_kernel[(1,)](conj, a, a, 16, BLOCK=16)
    assert torch.mps.dispatches == [] and torch.mps.synchronize_calls == 0


@pytest.mark.skipif(_jit._ON_METAL, reason="MPS tensors are refused only where there is no Metal")
def test_mps_on_linux_is_refused():
    import types

    t = Tensor.from_numpy(np.ones(4, np.float32))
    saved = sys.modules.get("torch")
    sys.modules["torch"] = types.ModuleType("torch")
    try:
        with pytest.raises(TypeError, match="cannot reach"):
            add_kernel[(1,)](t, t, t, 4, BLOCK=16)
    finally:
        if saved is None:
            del sys.modules["torch"]
        else:
            sys.modules["torch"] = saved


# ---- MLX ----------------------------------------------------------------------------------


@fakes
def test_mlx_call_is_lazy_and_returns_new_arrays(mx):
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(1000).astype(np.float32), rng.standard_normal(1000).astype(np.float32)
    ax, ay, like = mx.array(x), mx.array(y), mx.array(np.zeros(1000, np.float32))
    out = tmx.call(add_kernel, ax, ay, like, 1000, BLOCK=256, grid=(4,))
    assert mx.kernel_runs == 0  # nothing evaluated yet
    assert out.shape == (1000,) and out is not like
    np.testing.assert_array_equal(np.asarray(out), x + y)
    assert mx.kernel_runs == 1
    np.testing.assert_array_equal(np.asarray(like), 0)  # the array passed for the output is untouched
    # The kernel MLX compiled: inputs const, the written pointer an output, no threadgroup slot.
    msl = mx.kernels_built[-1]
    assert "const device float* tm_b0 [[buffer(0)]]" in msl and "device float* tm_b2 [[buffer(3)]]" in msl
    assert "const constant int32_t& tm_s0 [[buffer(2)]]" in msl


@fakes
def test_mlx_call_with_threadgroup_memory_and_grid_callable(mx):
    x = np.random.default_rng(3).standard_normal((5, 256)).astype(np.float32)
    out = tmx.call(scaled_row_sum, mx.array(x), mx.array(np.zeros(5, np.float32)), 256, 2.0, N=256,
                   grid=lambda meta: (5,), outputs="out_ptr")
    np.testing.assert_allclose(np.asarray(out), x.sum(axis=1) * 2.0, rtol=1e-5, atol=1e-4)
    assert "TM_THREADGROUP_STORAGE(tm_smem" in mx.kernels_built[-1]


@fakes
def test_mlx_call_init_value_for_accumulating_kernels(mx):
    x = np.random.default_rng(4).integers(0, 6, 300).astype(np.int32)
    bins = tmx.call(histogram, mx.array(x), mx.array(np.zeros(6, np.int32)), 300, BLOCK=128, grid=(3,), init=0)
    np.testing.assert_array_equal(np.asarray(bins), np.bincount(x, minlength=6))


@triton.jit
def scale_in_place(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 2, mask=offs < n)


@fakes
def test_mlx_call_refuses_read_and_written_pointers_without_init(mx):
    a = mx.array(np.ones(16, np.float32))
    with pytest.raises(ValueError, match=r"reads as well as writes \['x_ptr'\]"):
        tmx.call(scale_in_place, a, 16, BLOCK=16, grid=(1,))
    x = np.ones(16, np.float32)
    k = scale_in_place[(1,)](x, 16, BLOCK=16)  # the in-place launch
    assert k.read == [True] and k.written == [True] and x[0] == 2
    assert add_kernel.warmup(tl.float32, tl.float32, tl.float32, 16, BLOCK=16).read == [True, True, False]


@triton.jit
def gather_rows(out_ptr, idx_ptr, table_ptr, n, D: tl.constexpr):
    # The written pointer comes first: MLX's buffer order (inputs, then outputs) differs
    # from the kernel's slots.
    i = tl.program_id(0)
    row = tl.load(idx_ptr + i)
    tl.store(out_ptr + i * D + tl.arange(0, D), tl.load(table_ptr + row * D + tl.arange(0, D)))


@fakes
def test_mlx_buffer_order_differs_from_the_kernels(mx):
    table = np.random.default_rng(5).standard_normal((50, 32)).astype(np.float32)
    idx = np.array([3, 49, 0, 7, 7, 12], np.int32)
    out = tmx.call(gather_rows, mx.array(np.zeros((6, 32), np.float32)), mx.array(idx), mx.array(table), 6, D=32,
                   grid=(6,))
    np.testing.assert_array_equal(np.asarray(out), table[idx])


@fakes
def test_mlx_small_inputs_stay_device_pointers(mx):
    x = np.arange(3, dtype=np.float32)
    out = tmx.call(add_kernel, mx.array(x), mx.array(x), mx.array(np.zeros(3, np.float32)), 3, BLOCK=16, grid=(1,))
    np.testing.assert_array_equal(np.asarray(out), 2 * x)


@fakes
def test_mlx_call_bad_inputs(mx):
    a = mx.array(np.ones(16, np.float32))
    with pytest.raises(ValueError, match="not on the GPU"):
        tmx.call(add_kernel, a, a, a, 16, BLOCK=16, grid=(1,), stream=mx.Stream(mx.Device(mx.cpu)))
    with pytest.raises(TypeError, match="takes MLX arrays"):
        tmx.call(add_kernel, a, np.ones(16, np.float32), a, 16, BLOCK=16, grid=(1,))
    with pytest.raises(ValueError, match="must name exactly"):
        tmx.call(add_kernel, a, a, a, 16, BLOCK=16, grid=(1,), outputs=["x_ptr"])
    with pytest.raises(ValueError, match="empty"):
        tmx.call(add_kernel, a, a, a, 16, BLOCK=16, grid=(0,))
    assert mx.kernels_built == []
    out = tmx.call(add_kernel, a, a, a, 16, BLOCK=16, grid=(1,), stream=mx.Stream(mx.Device(mx.gpu)))
    np.testing.assert_array_equal(np.asarray(out), 2)
    mx.metal.is_available = lambda: False  # mlx[cpu]: no Metal back-end
    with pytest.raises(RuntimeError, match="no Metal back-end"):
        tmx.call(add_kernel, a, a, a, 16, BLOCK=16, grid=(1,))


# ---- the real frameworks (on a Mac: scripts/mac-smoke-test --with-torch --with-mlx) ---------


def test_real_torch_mps_launch_matches_torch():
    torch = pytest.importorskip("torch")
    if not (_jit._ON_METAL and torch.backends.mps.is_available()):
        pytest.skip("needs PyTorch with an MPS device (a Mac)")
    x, y = torch.rand(5000, device="mps"), torch.rand(5000, device="mps")
    out = torch.empty_like(x)
    add_kernel[(triton.cdiv(5000, 1024),)](x, y, out, 5000, BLOCK=1024)
    z = out * 2  # ordered after the kernel by PyTorch's stream, with no synchronize of ours
    torch.testing.assert_close(z, (x + y) * 2)
    rows = torch.rand(6, 512, device="mps")
    sums = torch.empty(6, device="mps")
    scaled_row_sum[(6,)](rows, sums, 512, 0.5, N=512)
    torch.testing.assert_close(sums, rows.sum(dim=1) * 0.5, rtol=1e-5, atol=1e-4)


def test_real_mlx_call_matches_mlx():
    mx_real = pytest.importorskip("mlx.core")
    if not (hasattr(mx_real, "fast") and hasattr(mx_real.fast, "metal_kernel") and mx_real.metal.is_available()):
        pytest.skip("needs MLX with Metal (a Mac)")
    x, y = mx_real.random.uniform(shape=(5000,)), mx_real.random.uniform(shape=(5000,))
    z = tmx.call(add_kernel, x, y, x, 5000, BLOCK=1024, grid=(5,))
    f = mx_real.compile(lambda a, b: tmx.call(add_kernel, a, b, a, 5000, BLOCK=1024, grid=(5,)) * 2)
    assert mx_real.allclose(z, x + y).item() and mx_real.allclose(f(x, y), (x + y) * 2).item()
    rows = mx_real.random.uniform(shape=(6, 512))
    sums = tmx.call(scaled_row_sum, rows, mx_real.zeros((6,)), 512, 0.5, N=512, grid=(6,))
    assert mx_real.allclose(sums, rows.sum(axis=1) * 0.5, rtol=1e-5, atol=1e-4).item()
