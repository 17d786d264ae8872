"""The runtime: array arguments (numpy, MLX, PyTorch), the shared launch ABI's checks, Metal's
limits as clear exceptions before anything runs, and ``triton.runtime.driver.active``.

On Linux this runs on the CPU executor; on a Mac the same tests run on the GPU. MLX and
PyTorch are optional: their tests are skipped when the library is not installed."""

import importlib.util
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import OutOfResources


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)


@triton.jit
def strided_copy(x_ptr, out_ptr, n, x_stride, out_stride, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs * out_stride, tl.load(x_ptr + offs * x_stride, mask=mask), mask=mask)


def add(x, y, out, n, block=128):
    add_kernel[(triton.cdiv(n, block),)](x, y, out, n, BLOCK=block)
    return out


def kernel_from_source(tmp_path, name, source):
    """A jit kernel defined in a generated module (``@jit`` needs a source file)."""
    path = tmp_path / f"{name}.py"
    path.write_text("import triton_metal as triton\nimport triton_metal.language as tl\n\n" + source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


# ---- the driver ---------------------------------------------------------------------------


def test_driver_describes_the_device():
    d = triton.runtime.driver.active
    assert d is triton.runtime.driver.active
    assert d.backend == ("metal" if sys.platform == "darwin" else "cpu")
    assert isinstance(d.device_name, str) and d.device_name
    assert d.chip in ("M1", "M2", "M3", "M4", "newer", "unknown", "cpu")
    assert d.gpu_family.startswith("Apple") or d.gpu_family in ("Metal3", "unknown", "cpu")  # VMs: Metal3
    assert d.max_threads_per_threadgroup >= 1024
    assert d.max_threadgroup_memory >= 32 * 1024
    assert d.simd_width == 32
    assert d.unified_memory_bytes >= 0 and d.recommended_working_set_bytes >= 0
    major, minor = map(int, d.msl_version.split("."))
    assert (major, minor) >= (2, 3)
    assert d.supports_bfloat == ((major, minor) >= (3, 1))
    assert set(d.info) >= {"device_name", "chip", "gpu_family", "msl_version", "supports_bfloat"}


def test_driver_mirrors_tritons_entry_points():
    d = triton.runtime.driver.active
    assert d.get_current_device() == 0
    assert d.get_current_stream() == 0
    target = d.get_current_target()
    assert target.backend == d.backend and target.warp_size == 32 and target.arch == d.gpu_family
    props = d.utils.get_device_properties(d.get_current_device())
    assert props["max_shared_mem"] == d.max_threadgroup_memory and props["warpSize"] == 32
    with pytest.raises(ValueError):
        d.set_current_device(1)


def test_memory_stats_count_only_what_triton_metal_allocates():
    x = np.arange(1000, dtype=np.float32)
    add(x, x, np.empty_like(x), x.size)
    stats = triton.runtime.driver.active.memory_stats()
    assert stats["current_bytes"] == 0  # staging copies live only during a launch
    assert stats["peak_bytes"] >= 0
    if sys.platform != "darwin":
        assert stats["peak_bytes"] == 0  # the CPU executor works on the arrays in place


# ---- numpy ----------------------------------------------------------------------------------


def test_strided_and_reversed_views():
    x = np.arange(64, dtype=np.float32)
    out = np.zeros(32, np.float32)
    strided_copy[(1,)](x[::2], out, 32, 2, 1, BLOCK=32)
    np.testing.assert_array_equal(out, x[::2])
    rev = x[::-1]  # its pointer is x's last element; the kernel walks down with stride -1
    out = np.zeros(64, np.float32)
    strided_copy[(1,)](rev, out, 64, -1, 1, BLOCK=64)
    np.testing.assert_array_equal(out, rev)
    out2d = np.zeros((8, 8), np.float32)
    strided_copy[(1,)](x, out2d.T, 64, 1, 1, BLOCK=64)  # a transposed output, written in memory order
    np.testing.assert_array_equal(out2d.ravel(), x)


def test_the_same_array_as_input_and_output():
    x = np.arange(100, dtype=np.int32)
    add(x, x, x, 100)
    np.testing.assert_array_equal(x, 2 * np.arange(100))


def test_overlapping_views_see_one_memory():
    x = np.arange(101, dtype=np.float32)
    expected = x[1:] + x[:-1]
    add(x[1:], x[:-1], x[:-1], 100)
    np.testing.assert_array_equal(x[:-1], expected)


def test_read_only_inputs():
    x = np.arange(100, dtype=np.float32)
    x.setflags(write=False)
    out = add(x, x, np.zeros(100, np.float32), 100)
    np.testing.assert_array_equal(out, 2 * x)


def test_unaligned_and_page_aligned_arrays():
    raw = np.zeros(2 * 16384 + 64, np.uint8)
    for start in (4, 8, (-raw.ctypes.data) % 16384):  # page-aligned when the runtime can wrap memory
        x = raw[start : start + 400].view(np.float32)
        x[:] = np.arange(100)
        out = np.zeros(100, np.float32)
        add(x, x, out, 100)
        np.testing.assert_array_equal(out, 2 * np.arange(100, dtype=np.float32))


def test_empty_arrays_and_empty_grid():
    e = np.zeros(0, np.float32)
    add(e, e, e, 0)
    x = np.arange(10, dtype=np.float32)
    out = np.full(10, 7, np.float32)
    add_kernel[(0,)](x, x, out, 10, BLOCK=16)
    np.testing.assert_array_equal(out, 7)


# ---- bad arrays -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.complex64, ">f4", "datetime64[ns]"])
def test_unsupported_dtypes_are_refused(dtype):
    x = np.zeros(16, dtype)
    with pytest.raises(TypeError, match=r"argument 'x_ptr' of kernel 'add_kernel': arrays of dtype .* are not supported"):
        add(x, x, x, 16)


def test_non_arrays_are_refused():
    with pytest.raises(TypeError, match="argument 'x_ptr' of kernel 'add_kernel' has unsupported type list"):
        add([1.0, 2.0], np.zeros(2, np.float32), np.zeros(2, np.float32), 2)


class FakeCudaArray:
    dtype = np.dtype(np.float32)
    __cuda_array_interface__ = {"data": (0, False), "shape": (4,), "typestr": "<f4", "version": 3}


def test_arrays_on_a_cuda_device_are_refused():
    with pytest.raises(TypeError, match="lives on a CUDA device"):
        add(FakeCudaArray(), np.zeros(4, np.float32), np.zeros(4, np.float32), 4)


def test_launch_arguments_are_checked_by_the_shared_abi():
    x = np.arange(16, dtype=np.float32)
    k = add_kernel[(1,)](x, x, np.empty_like(x), 16, BLOCK=16)
    addr = x.__array_interface__["data"][0]
    good = (addr, addr, 64, 1)
    with pytest.raises(TypeError, match="expected 3 pointer arguments, got 2"):
        k.launch((1, 1, 1), [good, good], [16])
    with pytest.raises(TypeError, match="does not point into the memory"):
        k.launch((1, 1, 1), [good, good, (addr + 64, addr, 64, 1)], [16])
    with pytest.raises(TypeError, match="cannot hold the value"):
        k.launch((1, 1, 1), [good, good, good], [2**40])
    if sys.platform != "darwin":
        with pytest.raises(TypeError, match="only the Metal runtime"):
            k.launch((1, 1, 1), [good, good, (0x1000, 0, 64, 3)], [16])


# ---- Metal's limits, refused before anything is dispatched ---------------------------------


def test_too_many_pointer_arguments(tmp_path):
    params = ", ".join(f"p{i}" for i in range(31))
    k = kernel_from_source(tmp_path, "many_ptrs", f"@triton.jit\ndef many_ptrs({params}, n):\n    tl.store(p0, n)\n")
    arrays = [np.zeros(1, np.int32) for _ in range(31)]
    with pytest.raises(OutOfResources, match="31 pointer arguments; Metal allows at most 31 buffers"):
        k[(1,)](*arrays, 5)
    assert arrays[0][0] == 0


def test_scalars_over_setbytes_limit(tmp_path):
    params = ", ".join(f"s{i}" for i in range(513))
    k = kernel_from_source(tmp_path, "many_scalars", f"@triton.jit\ndef many_scalars(out, {params}):\n    tl.store(out, s0)\n")
    out = np.zeros(1, np.int64)
    with pytest.raises(OutOfResources, match="scalar arguments take 4104 bytes; Metal's setBytes allows at most 4096"):
        k[(1,)](out, *([2**40] * 513))
    assert out[0] == 0


# ---- the launch path stays thin -------------------------------------------------------------


def test_numpy_launches_import_neither_torch_nor_mlx():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        import triton_metal as triton
        sys.path.insert(0, {here!r})
        from test_runtime import add
        x = np.arange(8, dtype=np.float32)
        out = add(x, x, np.empty_like(x), 8)
        assert (out == 2 * x).all()
        assert "torch" not in sys.modules and "mlx" not in sys.modules, sorted(sys.modules)
        """
    ).format(here=str(__import__("pathlib").Path(__file__).parent))
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- MLX ------------------------------------------------------------------------------------


def test_mlx_arrays():
    mx = pytest.importorskip("mlx.core", reason="MLX is not installed (pip install mlx, or mlx[cpu] on Linux)")
    x = mx.arange(1000, dtype=mx.float32)
    y = x * 3  # lazy: evaluated before the kernel reads it
    out = mx.zeros((1000,), dtype=mx.float32)
    add(x, y, out, 1000)
    assert mx.array_equal(out, mx.arange(1000, dtype=mx.float32) * 4).item()
    assert mx.array_equal(out + 1, mx.arange(1000, dtype=mx.float32) * 4 + 1).item()  # MLX sees the stores


def test_mlx_bfloat16_and_views():
    mx = pytest.importorskip("mlx.core", reason="MLX is not installed")
    x = mx.arange(256, dtype=mx.bfloat16)
    out = mx.zeros((256,), dtype=mx.bfloat16)
    add(x, x, out, 256)
    assert mx.array_equal(out, x * 2).item()
    m = mx.arange(64, dtype=mx.float32).reshape(8, 8)
    flat = mx.zeros((64,), dtype=mx.float32)
    strided_copy[(1,)](m.T, flat, 8, 8, 1, BLOCK=8)  # first row of m.T is m's first column
    assert mx.array_equal(flat[:8], m[:, 0]).item()


def test_mlx_unsupported_dtype():
    mx = pytest.importorskip("mlx.core", reason="MLX is not installed")
    z = mx.zeros((4,), dtype=mx.complex64)
    with pytest.raises(TypeError, match="arrays of dtype mlx.core.complex64 are not supported"):
        add(z, z, z, 4)


# ---- PyTorch --------------------------------------------------------------------------------


def test_torch_cpu_tensors():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    x = torch.arange(1000, dtype=torch.float32)
    out = torch.zeros(1000)
    add(x, x, out, 1000)
    assert torch.equal(out, 2 * x)
    # A view with a storage offset: its own address (4-byte aligned) is what the kernel gets.
    add(x[1:], x[1:], out[1:], 999)
    assert torch.equal(out[1:], 2 * x[1:])
    h = torch.arange(64, dtype=torch.bfloat16)
    hout = torch.zeros(64, dtype=torch.bfloat16)
    add(h, h, hout, 64)
    assert torch.equal(hout, 2 * h)


def test_torch_tensors_on_unreachable_devices():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    meta = torch.empty(16, device="meta")
    with pytest.raises(TypeError, match="is a tensor on device 'meta', which .* cannot reach"):
        add(meta, meta, meta, 16)
    with pytest.raises(TypeError, match="arrays of dtype torch.complex64 are not supported"):
        c = torch.zeros(4, dtype=torch.complex64)
        add(c, c, c, 4)


@pytest.mark.skipif(sys.platform != "darwin", reason="MPS tensors exist only on a Mac")
def test_torch_mps_tensors():
    torch = pytest.importorskip("torch", reason="PyTorch is not installed")
    if not torch.backends.mps.is_available():
        pytest.skip("PyTorch has no MPS device here")
    x = torch.arange(1000, dtype=torch.float32, device="mps")
    y = x * 3  # queued on PyTorch's MPS stream: finished before the kernel reads it
    out = torch.zeros(1000, device="mps")
    add(x, y, out, 1000)
    assert torch.equal((out + 1).cpu(), (4 * torch.arange(1000, dtype=torch.float32)) + 1)
    add(x[2:], x[2:], out[2:], 998)  # a storage offset inside the same Metal buffer
    assert torch.equal(out[2:].cpu(), 2 * x[2:].cpu())


def test_device_properties_support_upstream_occupancy_arithmetic():
    from triton_metal.runtime import driver

    props = driver.active.utils.get_device_properties(driver.active.get_current_device())
    assert props["multiprocessor_count"] >= 1 and props["max_num_regs"] > 0 and props["warpSize"] == 32


@triton.jit
def _scalar_in_place_double(p, counter):
    pid = tl.program_id(0)
    x = tl.load(p + pid)
    tl.store(p + pid, x * 2)
    tl.atomic_add(counter, 1)


def test_block_free_kernel_runs_one_thread_per_program():
    # Without block values every thread computes the same scalars and thread 0 alone has
    # effects: one thread per threadgroup is exact (also on Metal) and makes a large grid of
    # num_warps=32 programs cheap on the CPU executor (upstream's test_load_store_same_ptr).
    x = np.ones(65536, np.float32)
    counter = np.zeros(1, np.int32)
    k = _scalar_in_place_double[(65536,)](x, counter, num_warps=32)
    assert k.threads_per_threadgroup == 1
    for _ in range(3):
        _scalar_in_place_double[(65536,)](x, counter, num_warps=32)
    np.testing.assert_array_equal(x, np.full(65536, 16, np.float32))
    assert counter[0] == 4 * 65536


def test_kernel_with_blocks_keeps_its_threads():
    x = np.arange(256, dtype=np.float32)
    y = np.zeros_like(x)

    @triton.jit
    def copy(x_ptr, y_ptr, BLOCK: tl.constexpr):
        offs = tl.arange(0, BLOCK)
        tl.store(y_ptr + offs, tl.load(x_ptr + offs))

    k = copy[(1,)](x, y, BLOCK=256, num_warps=2)
    assert k.threads_per_threadgroup == 64
    np.testing.assert_array_equal(x, y)
