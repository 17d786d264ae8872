"""Bounds checks of device memory on the CPU executor: a kernel that reads or writes outside
the arrays it was given fails the launch with a RuntimeError naming the kernel, the kind of
access, the source line and how far outside which argument it fell, and never touches the
memory. TRITON_METAL_BOUNDS_CHECK=0 turns the checks off."""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

CHECKS_OFF = os.environ.get("TRITON_METAL_BOUNDS_CHECK", "").strip().lower() in ("0", "false", "off", "no")
pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bounds checks are a CPU-executor feature"),
    pytest.mark.skipif(CHECKS_OFF, reason="TRITON_METAL_BOUNDS_CHECK=0: kernels run unchecked"),
]

GUARD = -12345.0
PAD = 64  # guard elements on either side of an array


def line_of(marker):
    """The line of this file that ends with `# <marker>`."""
    with open(__file__) as f:
        for i, text in enumerate(f, 1):
            if text.rstrip().endswith(f"# {marker}"):
                return i
    raise AssertionError(marker)


def guarded(n, dtype=np.float32, fill=GUARD, align=64):
    """An array of n elements inside guard zones: (backing buffer, the array view). The view
    starts `align`-byte aligned, so the kernel is specialised as for a fresh array."""
    itemsize = np.dtype(dtype).itemsize
    backing = np.full(n + 2 * PAD + align, fill, dtype=dtype)
    skip = (-backing.ctypes.data % align) // itemsize
    start = PAD + skip
    return backing, backing[start:start + n], start


def assert_guards_intact(backing, start, n, fill=GUARD):
    before, after = backing[:start], backing[start + n:]
    assert np.all(before == fill), "memory before the array was written"
    assert np.all(after == fill), "memory after the array was written"


def run_expecting(kernel_call, kernel, kind, marker, argument):
    with pytest.raises(RuntimeError) as info:
        kernel_call()
    msg = str(info.value)
    assert f"kernel `{kernel}`" in msg, msg
    assert f"out-of-bounds {kind} at line {line_of(marker)}:" in msg, msg
    assert f"of '{argument}'" in msg, msg
    return msg


@triton.jit
def copy_unmasked(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)  # LOAD
    tl.store(out_ptr + offs, x)  # STORE


def test_out_of_bounds_load_fails_and_names_the_argument():
    _, x, _ = guarded(1000)
    x[:] = np.arange(1000, dtype=np.float32)
    out_backing, out, out_start = guarded(2048)
    msg = run_expecting(
        lambda: copy_unmasked[(2,)](x, out, BLOCK=1024),
        "copy_unmasked", "load", "LOAD", "x_ptr",
    )
    assert "which has 1000 elements" in msg, msg
    assert re.search(r"elements? 10\d\d", msg), msg
    assert_guards_intact(out_backing, out_start, 2048)


def test_out_of_bounds_store_fails_and_writes_nothing_outside():
    x = np.arange(2048, dtype=np.float32)
    out_backing, out, out_start = guarded(1000)
    msg = run_expecting(
        lambda: copy_unmasked[(2,)](x, out, BLOCK=1024),
        "copy_unmasked", "store", "STORE", "out_ptr",
    )
    assert "which has 1000 elements" in msg, msg
    assert "past the end" in msg, msg
    assert_guards_intact(out_backing, out_start, 1000)


@triton.jit
def store_at(out_ptr, i):
    tl.store(out_ptr + i, 1.0)  # SCALAR_STORE


def test_scalar_store_reports_the_exact_element():
    backing, out, start = guarded(10)
    msg = run_expecting(lambda: store_at[(1,)](out, 10), "store_at", "store", "SCALAR_STORE", "out_ptr")
    assert "element 10 of 'out_ptr', which has 10 elements (1 element past the end)" in msg, msg
    msg = run_expecting(lambda: store_at[(1,)](out, -3), "store_at", "store", "SCALAR_STORE", "out_ptr")
    assert "element -3 of 'out_ptr', which has 10 elements (3 elements before the start)" in msg, msg
    assert_guards_intact(backing, start, 10)
    store_at[(1,)](out, 9)
    assert out[9] == 1.0 and np.all(out[:9] == GUARD)


@triton.jit
def histogram_unmasked(idx_ptr, counts_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    idx = tl.load(idx_ptr + offs)
    tl.atomic_add(counts_ptr + idx, 1)  # ATOMIC


def test_out_of_bounds_atomic_fails_and_changes_nothing_outside():
    backing, counts, start = guarded(8, dtype=np.int32, fill=-7)
    counts[:] = 0
    idx = np.arange(64, dtype=np.int32) % 8
    histogram_unmasked[(1,)](idx, counts, BLOCK=64)
    np.testing.assert_array_equal(counts, np.full(8, 8))

    idx[13] = 8
    counts[:] = 0
    msg = run_expecting(
        lambda: histogram_unmasked[(1,)](idx, counts, BLOCK=64),
        "histogram_unmasked", "atomic", "ATOMIC", "counts_ptr",
    )
    assert "element 8 of 'counts_ptr', which has 8 elements (1 element past the end)" in msg, msg
    assert_guards_intact(backing, start, 8, fill=-7)


@triton.jit
def copy_masked(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask, other=-1.0)
    tl.store(out_ptr + offs, x, mask=mask)
    # Masked-off single addresses far outside are fine too.
    far = tl.load(x_ptr + n + 1_000_000, mask=n < 0, other=0.0)
    tl.store(out_ptr + n + 1_000_000, far, mask=n < 0)
    tl.atomic_add(out_ptr + offs + 1_000_000, 1.0, mask=offs < 0)


@pytest.mark.parametrize("n", [1, 7, 1000, 1025])
def test_masked_accesses_outside_the_array_stay_fine(n):
    x_backing, x, x_start = guarded(n)
    x[:] = np.arange(n, dtype=np.float32)
    out_backing, out, out_start = guarded(n)
    copy_masked[(triton.cdiv(n, 256),)](x, out, n, BLOCK=256)
    np.testing.assert_array_equal(out, x)
    assert_guards_intact(out_backing, out_start, n)


@triton.jit
def masked_rows(x_ptr, out_ptr, M, N, stride, BM: tl.constexpr, BN: tl.constexpr):
    rm = tl.arange(0, BM)
    rn = tl.arange(0, BN)
    mask = (rm[:, None] < M) & (rn[None, :] < N)
    x = tl.load(x_ptr + rm[:, None] * stride + rn[None, :], mask=mask)
    tl.store(out_ptr + rm[:, None] * stride + rn[None, :], x * 2, mask=mask)


def test_masked_2d_tiles_over_a_smaller_matrix_stay_fine():
    x = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    out = np.zeros_like(x)
    masked_rows[(1,)](x, out, 5, 7, 7, BM=16, BN=16)
    np.testing.assert_array_equal(out, x * 2)


@triton.jit
def load_tile(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(out_ptr + offs, tl.load(x_ptr + offs))  # VECTOR


def test_vector_accesses_at_the_end_are_checked_whole():
    # 1002 floats, 16-byte aligned: the kernel reads float4s; the one at 1000..1003 is half
    # inside the array and must fail as a whole.
    _, x, _ = guarded(1002)
    out = np.zeros(1024, dtype=np.float32)
    msg = run_expecting(lambda: load_tile[(1,)](x, out, BLOCK=1024), "load_tile", "load", "VECTOR", "x_ptr")
    assert (
        "elements 1000..1003 of 'x_ptr' (one 4-element vector access), which has 1002 elements "
        "(2 elements past the end)" in msg
    ), msg
    # The same for the store side: out has 1002 elements.
    x = np.arange(1024, dtype=np.float32)
    out_backing, out, out_start = guarded(1002)
    msg = run_expecting(lambda: load_tile[(1,)](x, out, BLOCK=1024), "load_tile", "store", "VECTOR", "out_ptr")
    assert "elements 1000..1003 of 'out_ptr' (one 4-element vector access)" in msg, msg
    assert_guards_intact(out_backing, out_start, 1002)
    # Elements 1000 and 1001 are inside, but the vector holding them was not stored.
    assert np.all(out[1000:] == GUARD)


@triton.jit
def row_sums(x_ptr, out_ptr, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    acc = tl.zeros((BLOCK,), dtype=tl.float32)
    ptrs = x_ptr + row * n_cols + tl.arange(0, BLOCK)
    for _ in range(0, n_cols, BLOCK):
        acc += tl.load(ptrs)  # LOOP_LOAD
        ptrs += BLOCK
    tl.store(out_ptr + row, tl.sum(acc))


def test_loop_carried_pointers_and_fibers():
    # A reduction (threads synchronise, so they run as fibers) whose loop-carried pointer
    # runs off the end of the last row when n_cols is not a multiple of BLOCK.
    x = np.ones((4, 96), dtype=np.float32)
    out = np.zeros(4, dtype=np.float32)
    row_sums[(4,)](x, out, 96, BLOCK=32)
    np.testing.assert_array_equal(out, np.full(4, 96.0))
    x = np.ones((4, 100), dtype=np.float32)
    msg = run_expecting(lambda: row_sums[(4,)](x, out, 100, BLOCK=32), "row_sums", "load", "LOOP_LOAD", "x_ptr")
    assert "which has 400 elements" in msg, msg


def test_the_error_names_threadgroup_and_thread():
    backing, out, start = guarded(10)
    with pytest.raises(RuntimeError, match=r"threadgroup \(0, 0, 0\), thread 0: out-of-bounds store"):
        store_at[(1,)](out, 12)


def test_bounds_checks_can_be_turned_off(tmp_path):
    # In a fresh process (the variable is read once), with an in-bounds kernel: it runs, and
    # the library the executor built says it has no checks.
    script = textwrap.dedent(
        """
        import numpy as np
        import triton_metal as triton
        import triton_metal.language as tl

        @triton.jit
        def add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            mask = offs < n
            tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)

        x = np.arange(1000, dtype=np.float32)
        out = np.zeros_like(x)
        add[(4,)](x, x, out, 1000, BLOCK=256)
        assert np.array_equal(out, 2 * x)
        print("ok")
        """
    )
    path = tmp_path / "add.py"
    path.write_text(script)
    env = dict(os.environ, TRITON_METAL_BOUNDS_CHECK="0", TRITON_METAL_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    sources = list((tmp_path / "cpu").glob("*.cpp"))
    assert sources, list(tmp_path.rglob("*"))
    texts = [p.read_text() for p in sources]
    assert all(t.startswith("#define TM_CPU_BOUNDS_CHECK 0\n") for t in texts)
    # The same kernel with checks on (the default) builds a checked library.
    env.pop("TRITON_METAL_BOUNDS_CHECK")
    done = subprocess.run([sys.executable, str(path)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    texts = [p.read_text() for p in (tmp_path / "cpu").glob("*.cpp")]
    assert any(t.startswith("#define TM_CPU_BOUNDS_CHECK 1\n") for t in texts)


@triton.jit
def pick_load(x_ptr, y_ptr, out_ptr, use_x, i):
    # The pointer comes from either argument: checked against every array of the launch.
    p = tl.where(use_x != 0, x_ptr, y_ptr)
    tl.store(out_ptr, tl.load(p + i))  # EITHER


def test_pointers_from_either_argument_are_checked_against_all_arrays():
    x = np.full(4, 1.0, dtype=np.float32)
    y = np.full(8, 2.0, dtype=np.float32)
    out = np.zeros(1, dtype=np.float32)
    pick_load[(1,)](x, y, out, 1, 3)
    assert out[0] == 1.0
    pick_load[(1,)](x, y, out, 0, 7)
    assert out[0] == 2.0
    with pytest.raises(RuntimeError) as info:
        pick_load[(1,)](x, y, out, 0, 1000)
    msg = str(info.value)
    assert f"out-of-bounds load at line {line_of('EITHER')}: 4 bytes at 0x" in msg, msg
    assert "outside every array passed to the kernel; nearest: '" in msg, msg
