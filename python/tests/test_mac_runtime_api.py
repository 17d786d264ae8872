"""Seed APIs for Mac users: MPSDriver().set_kernel_config / memory_pool and
triton_metal.hardware, with their real behaviour on the CPU executor."""

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal import hardware
from triton_metal.runtime import config as _config


@triton.jit
def copy_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=offs < n), mask=offs < n)


@triton.jit
def block_sum(x_ptr, out_ptr, N: tl.constexpr):
    tl.store(out_ptr, tl.sum(tl.load(x_ptr + tl.arange(0, N)), axis=0))


@pytest.fixture
def drv():
    saved = _config.CONFIG.as_dict()
    d = triton.runtime.driver.MPSDriver()
    yield d
    for k, v in saved.items():
        setattr(_config.CONFIG, k, v)
    _config.changed()


def test_mps_driver_is_the_active_driver(drv):
    assert drv is triton.runtime.driver.active
    assert drv.kernel_config() == {"num_warps": 4, "num_stages": 3, "max_threads": None, "shared_memory": None}


def test_set_kernel_config_is_validated_against_the_device(drv):
    with pytest.raises(ValueError, match="power of two"):
        drv.set_kernel_config(num_warps=3)
    with pytest.raises(ValueError, match="at most 1024"):
        drv.set_kernel_config(num_warps=64)
    with pytest.raises(ValueError, match="over this device"):
        drv.set_kernel_config(max_threads=2048)
    with pytest.raises(ValueError, match="multiple of 32"):
        drv.set_kernel_config(max_threads=100)
    with pytest.raises(ValueError, match="over this device"):
        drv.set_kernel_config(shared_memory=drv.max_threadgroup_memory + 1)
    with pytest.raises(ValueError, match="at most 64"):
        drv.set_kernel_config(max_threads=64, num_warps=4)
    with pytest.raises(ValueError, match="num_stages"):
        drv.set_kernel_config(num_stages=0)
    assert drv.kernel_config()["num_warps"] == 4  # nothing changed by refused calls


def test_kernel_config_sets_defaults_for_later_launches(drv):
    x = np.arange(100, dtype=np.float32)
    out = np.zeros_like(x)
    assert copy_kernel[(1,)](x, out, 100, BLOCK=128).threads_per_threadgroup == 128
    assert copy_kernel[(1,)](x, out, 100, BLOCK=128).threads_per_threadgroup == 128  # the fast path
    drv.set_kernel_config(num_warps=2, num_stages=2)
    k = copy_kernel[(1,)](x, out, 100, BLOCK=128)
    assert k.threads_per_threadgroup == 64
    assert copy_kernel[(1,)](x, out, 100, BLOCK=128, num_warps=8).threads_per_threadgroup == 256
    np.testing.assert_array_equal(out, x)


def test_kernel_config_limits_are_enforced_at_launch(drv):
    x = np.ones(256, np.float32)
    out = np.zeros(1, np.float32)
    block_sum[(1,)](x, out, N=256)
    drv.set_kernel_config(shared_memory=0)
    with pytest.raises(triton.OutOfResources, match="shared_memory=0"):
        block_sum[(1,)](x, out, N=256)
    drv.set_kernel_config(shared_memory=drv.max_threadgroup_memory, max_threads=64, num_warps=1)
    with pytest.raises(triton.OutOfResources, match="max_threads=64"):
        block_sum[(1,)](x, out, N=256, num_warps=4)
    block_sum[(1,)](x, out, N=256)
    assert out[0] == 256


def test_memory_pool(drv):
    pool = drv.memory_pool()
    assert isinstance(pool.current_allocated, int) and isinstance(pool.max_allocated, int)
    assert pool.max_allocated >= pool.current_allocated >= 0
    if drv.backend == "cpu":
        assert pool.max_allocated == 0  # the CPU executor uses the caller's arrays in place


def test_hardware_capabilities():
    caps = hardware.hardware_capabilities()
    d = triton.runtime.driver.active
    assert caps.backend == d.backend and caps.max_threadgroup_memory == d.max_threadgroup_memory
    assert caps.simd_width == 32 and caps.core_count >= 1 and len(caps.msl_version) == 2
    if caps.backend == "cpu":
        assert caps.generation is hardware.AppleSiliconGeneration.UNKNOWN and caps.gpu_family == "cpu"
    G = hardware.AppleSiliconGeneration
    assert [G.from_chip(c) for c in ("M1", "M3", "M5", "newer", "cpu")] == [G.M1, G.M3, G.M5, G.UNKNOWN, G.UNKNOWN]
    assert G.M4 > G.M2 > G.UNKNOWN


def test_batch_leaves_results_in_the_arrays_when_it_ends():
    x = np.arange(300, dtype=np.float32)
    a, b = np.zeros_like(x), np.zeros_like(x)
    with triton.batch():
        copy_kernel[(3,)](x, a, 300, BLOCK=128)
        with triton.batch():  # nested: the outermost batch waits
            copy_kernel[(3,)](a, b, 300, BLOCK=128)
    np.testing.assert_array_equal(b, x)
    with pytest.raises(ZeroDivisionError):
        with triton.batch():
            copy_kernel[(3,)](x, a, 300, BLOCK=128)
            1 / 0
    # The batch ended on the exception: later launches are not left queued.
    copy_kernel[(3,)](x, b, 300, BLOCK=128)
    np.testing.assert_array_equal(b, x)
