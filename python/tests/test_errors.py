"""Bad input: clear Python exceptions with locations, and nothing crashes."""

import os
import subprocess
import sys

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl
from triton_metal.compiler.errors import CompilationError


@triton.jit
def uses_list(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    bad = {1: 2}
    tl.store(x_ptr + offs, offs)


def test_unsupported_syntax_names_file_line_and_source():
    x = np.zeros(16, np.int32)
    with pytest.raises(CompilationError) as info:
        uses_list[(1,)](x, BLOCK=16)
    e = info.value
    assert e.filename.endswith("test_errors.py")
    assert e.source_line.strip() == "bad = {1: 2}"
    assert e.lineno == uses_list._first_line + 3
    msg = str(e)
    assert "bad = {1: 2}" in msg and "^" in msg and "dict" in msg


@triton.jit
def non_pow2(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, offs)


def test_non_power_of_two_block_is_refused():
    x = np.zeros(100, np.int32)
    with pytest.raises(CompilationError, match="power of 2"):
        non_pow2[(1,)](x, BLOCK=100)


@triton.jit
def float_into_int(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, offs.to(tl.float32) * 0.5 + 0.25)


def test_storing_float_through_int_pointer_casts_as_triton():
    # Triton's tl.store casts the value to the pointer's element type (float to int truncates).
    out = np.zeros(16, np.int32)
    float_into_int[(1,)](out, BLOCK=16)
    np.testing.assert_array_equal(out, (np.arange(16, dtype=np.float32) * 0.5 + 0.25).astype(np.int32))


@triton.jit
def loads_f64(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) * 2)


def test_float64_is_refused_loudly():
    with pytest.raises(CompilationError, match="float64"):
        loads_f64[(1,)](np.zeros(16, np.float64), BLOCK=16)


@triton.jit
def simple(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n, other=0) + 1, mask=offs < n)


def test_missing_argument_names_the_parameter():
    with pytest.raises(TypeError, match="'n'"):
        simple[(1,)](np.zeros(16, np.int32), BLOCK=16)


def test_too_many_arguments():
    with pytest.raises(TypeError, match="too many"):
        simple[(1,)](np.zeros(16, np.int32), 16, 3, 4)


def test_unknown_keyword():
    with pytest.raises(TypeError, match="BLOK"):
        simple[(1,)](np.zeros(16, np.int32), 16, BLOCK=16, BLOK=16)


def test_wrong_argument_kind_names_the_parameter():
    with pytest.raises(TypeError, match="'x_ptr'.*list"):
        simple[(1,)]([1, 2, 3], 16, BLOCK=16)


def test_runtime_value_where_constexpr_expected():
    x = np.zeros(16, np.int32)
    with pytest.raises(TypeError, match="'BLOCK'.*hashable"):
        simple[(1,)](x, 16, BLOCK=[16])


def test_unsupported_array_dtype():
    with pytest.raises(TypeError, match="complex"):
        simple[(1,)](np.zeros(16, np.complex64), 16, BLOCK=16)


@pytest.mark.parametrize("grid", [(-1,), (1, 2, 3, 4), (2**31,), ("a",)])
def test_bad_grids(grid):
    with pytest.raises((ValueError, TypeError)):
        simple[grid](np.zeros(16, np.int32), 16, BLOCK=16)


@pytest.mark.parametrize("num_warps", [0, 3, 64])
def test_bad_num_warps(num_warps):
    with pytest.raises(ValueError, match="num_warps"):
        simple[(1,)](np.zeros(16, np.int32), 16, BLOCK=16, num_warps=num_warps)


def test_scalar_out_of_range_for_its_type():
    with pytest.raises(OverflowError, match="64 bits"):
        simple[(1,)](np.zeros(16, np.int32), 2**70, BLOCK=16)


def test_calling_a_kernel_directly_is_an_error():
    with pytest.raises(RuntimeError, match=r"simple\[grid\]"):
        simple(np.zeros(16, np.int32), 16, 16)


@triton.jit
def double(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.load(x_ptr + offs) * 2)


def test_kernel_named_like_a_keyword():
    x = np.arange(8, dtype=np.int32)
    k = double[(1,)](x, BLOCK=8)
    assert "kernel void double_kernel(" in k.asm["msl"]
    np.testing.assert_array_equal(x, np.arange(8) * 2)


def test_empty_grid_launches_nothing():
    x = np.zeros(16, np.int32)
    simple[(0,)](x, 16, BLOCK=16)
    assert not x.any()


def test_debug_env_logs_compile_steps(tmp_path):
    script = tmp_path / "k.py"
    script.write_text(
        "import numpy as np\n"
        "import triton_metal as triton\n"
        "import triton_metal.language as tl\n"
        "@triton.jit\n"
        "def k(x, BLOCK: tl.constexpr):\n"
        "    o = tl.arange(0, BLOCK)\n"
        "    tl.store(x + o, o)\n"
        "x = np.zeros(8, np.int32)\n"
        "k[(1,)](x, BLOCK=8)\n"
        "assert list(x) == list(range(8))\n"
    )
    env = dict(os.environ, TRITON_METAL_DEBUG="1", TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for stage in ("ttir", "passes", "msl"):
        assert f"k: {stage}" in r.stderr
    assert " ms" in r.stderr


@triton.jit
def big_sort(x_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, tl.sort(tl.load(x_ptr + offs)))


def test_threadgroup_memory_over_32_kib_is_refused():
    with pytest.raises(triton.OutOfResources, match="32 KiB"):
        big_sort[(1,)](np.zeros(16384, np.float32), BLOCK=16384)


def _not_jit(a, b):
    return a + b


@triton.jit
def bad_reduce(x_ptr, AXIS: tl.constexpr, FN: tl.constexpr):
    offs = tl.arange(0, 16)
    x = tl.load(x_ptr + offs)
    if FN:
        y = tl.reduce(x, AXIS, _not_jit)
    else:
        y = tl.sum(x, axis=AXIS)
    tl.store(x_ptr + offs, y + x)


def test_combine_function_must_be_jit():
    with pytest.raises(CompilationError, match="@triton.jit function") as info:
        bad_reduce[(1,)](np.zeros(16, np.float32), AXIS=0, FN=True)
    assert "tl.reduce(x, AXIS, _not_jit)" in info.value.source_line


def test_reduction_axis_out_of_range():
    with pytest.raises(CompilationError, match="axis 1 is out of range"):
        bad_reduce[(1,)](np.zeros(16, np.float32), AXIS=1, FN=False)


@triton.jit
def runtime_arange(x_ptr, n):
    offs = tl.arange(0, n)
    tl.store(x_ptr + offs, offs)


def test_runtime_value_where_constexpr_is_required():
    with pytest.raises(CompilationError, match="constexpr") as info:
        runtime_arange[(1,)](np.zeros(16, np.int32), 16)
    assert "tl.arange(0, n)" in info.value.source_line


@triton.jit
def mismatched(x_ptr):
    a = tl.arange(0, 16)
    b = tl.arange(0, 32)
    tl.store(x_ptr + a, a + b)


def test_mismatched_shapes():
    with pytest.raises(CompilationError, match="cannot broadcast") as info:
        mismatched[(1,)](np.zeros(32, np.int32))
    assert info.value.col > 0 and "a + b" in info.value.source_line
