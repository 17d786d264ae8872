"""What an adversarial user tries at the launch boundary and on the caches (issue 12): nothing
kills the process, nothing is trusted blindly, nothing is silently wrong. Cases that used to
crash run in a subprocess, so a regression fails a test instead of killing pytest."""

import os
import subprocess
import sys
import tempfile
import textwrap
import threading

import numpy as np
import pytest

import triton_metal as triton
import triton_metal.language as tl

ON_CPU = sys.platform != "darwin"


def run_py(code, env=None, timeout=300, where=None):
    """Runs `code` in a fresh Python, from `where`/script.py (kernels need a source file, and
    its path is part of the kernel cache key), or a temporary directory."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("TRITON_METAL_DUMP_DIR", None)
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(where or d, "script.py")
        with open(script, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(code))
        return subprocess.run(
            [sys.executable, script], env=full_env, capture_output=True, text=True, timeout=timeout
        )


def ok(r):
    assert r.returncode == 0, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


ADD = """
import numpy as np
import triton_metal as triton
import triton_metal.language as tl

@triton.jit
def add_{tag}(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)

x = np.arange(1000, dtype=np.float32)
out = np.zeros_like(x)
k = add_{tag}[(8,)](x, x, out, 1000, BLOCK=128)
np.testing.assert_array_equal(out, 2 * x)
print("OK", ",".join(s for s, _ in k.timings))
"""


# ---- the CPU executor's disk cache --------------------------------------------------------------


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's library cache")
@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_damaged_compiled_libraries_are_rebuilt(tmp_path, damage):
    env = {"TRITON_METAL_CACHE_DIR": str(tmp_path / "c")}
    ok(run_py(ADD.format(tag="lib"), env))
    libs = sorted((tmp_path / "c" / "cpu").glob("*.so"))
    assert libs
    for lib in libs:
        b = lib.read_bytes()
        if damage == "truncate":
            lib.write_bytes(b[: len(b) // 2])
        elif damage == "flip":
            lib.write_bytes(bytes(c ^ 0xA5 if i % 61 == 7 else c for i, c in enumerate(b)))
        else:
            lib.write_bytes(b"")
    r = ok(run_py(ADD.format(tag="lib"), env))
    assert "OK" in r.stdout
    for lib in libs:  # rebuilt, whole
        assert lib.stat().st_size > 1000
    ok(run_py(ADD.format(tag="lib"), env))


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's headers")
def test_damaged_or_deleted_headers_are_restored(tmp_path):
    env = {"TRITON_METAL_CACHE_DIR": str(tmp_path / "c")}
    ok(run_py(ADD.format(tag="h1"), env))
    (include,) = (tmp_path / "c" / "cpu").glob("include-*")
    good = (include / "tm_metal_types.h").read_text()
    (include / "tm_metal_types.h").write_text("#error damaged header\n")
    (include / "tm_cpu_runtime.h").unlink()
    ok(run_py(ADD.format(tag="h2"), env))  # a kernel never compiled before
    assert (include / "tm_metal_types.h").read_text() == good
    assert (include / "tm_cpu_runtime.h").exists()


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's cache")
def test_unusable_cache_dir_falls_back_to_a_private_dir_with_one_warning(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TRITON_METAL_CACHE_DIR": str(blocker), "TMPDIR": str(tmp)}
    r = ok(run_py(ADD.format(tag="fb"), env, where=tmp_path))
    assert r.stderr.count("warning") == 1, r.stderr
    assert str(blocker) in r.stderr
    (root,) = tmp.glob("triton_metal-*")
    assert root.stat().st_mode & 0o077 == 0, oct(root.stat().st_mode)
    assert list((root / "cpu").glob("*.so")) and list((root / "kernels").glob("*.kernel"))
    # The next process finds everything there.
    r = ok(run_py(ADD.format(tag="fb"), env, where=tmp_path))
    assert "disk cache hit" in r.stdout


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's cache")
def test_no_usable_directory_at_all_still_runs(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    env = {"TRITON_METAL_CACHE_DIR": str(blocker), "TMPDIR": str(blocker)}
    r = ok(run_py(ADD.format(tag="mem"), env))
    assert r.stderr.count("warning") == 1, r.stderr


@pytest.mark.skipif(not ON_CPU or os.geteuid() != 0, reason="planting files as another user needs root")
def test_directories_another_user_controls_are_never_used(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    # Another user (nobody) got there first and planted the per-user fallback directory.
    planted = tmp / f"triton_metal-{os.geteuid()}"
    (planted / "cpu").mkdir(parents=True)
    (planted / "kernels").mkdir()
    for d in (planted, planted / "cpu", planted / "kernels"):
        os.chown(d, 65534, 65534)
        d.chmod(0o777)
    shared = tmp_path / "shared"
    (shared / "cpu").mkdir(parents=True)
    os.chown(shared / "cpu", 65534, 65534)
    env = {"TRITON_METAL_CACHE_DIR": str(shared), "TMPDIR": str(tmp)}
    r = ok(run_py(ADD.format(tag="plant"), env))
    assert not list(planted.rglob("*.so")) and not list(planted.rglob("*.kernel"))
    assert not list((shared / "cpu").glob("*.so"))
    assert r.stderr.count("warning") == 1, r.stderr


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's cache")
def test_temp_files_of_killed_processes_are_removed(tmp_path):
    env = {"TRITON_METAL_CACHE_DIR": str(tmp_path / "c")}
    ok(run_py(ADD.format(tag="t1"), env))
    cpu = tmp_path / "c" / "cpu"
    # Names as a process killed while writing leaves them (pid above any real one).
    stale = [cpu / "0123.so.tmp.4194305.0", cpu / ".tmp.4194305.1", tmp_path / "c" / "kernels" / ".tmp.4194305.2"]
    for f in stale:
        f.write_bytes(b"half a file")
    (cpu / "include.tmp.4194305.3").mkdir()
    ok(run_py(ADD.format(tag="t2"), env))
    assert not any(f.exists() for f in stale)
    assert not (cpu / "include.tmp.4194305.3").exists()


# ---- the launch boundary ---------------------------------------------------------------------


@triton.jit
def copy_kernel(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    m = offs < n
    tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=m), mask=m)


@triton.jit
def count_kernel(counter_ptr, BLOCK: tl.constexpr):
    tl.atomic_add(counter_ptr + tl.arange(0, BLOCK) * 0, 1)


def test_null_and_tiny_array_addresses_are_refused():
    r = run_py(
        """
        import numpy as np, triton_metal as triton, triton_metal.language as tl

        class Fake:
            def __init__(self, addr):
                self.dtype = np.dtype(np.float32)
                self.__array_interface__ = {"data": (addr, False), "shape": (64,), "typestr": "<f4", "version": 3}

        @triton.jit
        def k(src_ptr, dst_ptr, n, BLOCK: tl.constexpr):
            offs = tl.arange(0, BLOCK)
            tl.store(dst_ptr + offs, tl.load(src_ptr + offs, mask=offs < n), mask=offs < n)

        out = np.zeros(64, np.float32)
        for addr in (0, 16, 4095):
            for args in ((Fake(addr), out), (np.ones(64, np.float32), Fake(addr))):
                try:
                    k[(1,)](*args, 64, BLOCK=64)
                except ValueError as e:
                    name = "src_ptr" if isinstance(args[0], Fake) else "dst_ptr"
                    assert f"'{name}'" in str(e) and "address" in str(e), e
                else:
                    raise AssertionError(f"address {addr} accepted")
        print("REFUSED")
        """
    )
    ok(r)
    assert "REFUSED" in r.stdout


def test_read_only_arrays_are_refused_where_the_kernel_writes():
    src = np.arange(32, dtype=np.float32)
    src.setflags(write=False)
    dst = np.zeros(32, np.float32)
    copy_kernel[(1,)](src, dst, 32, BLOCK=32)  # reading a read-only array is fine
    np.testing.assert_array_equal(dst, src)
    frozen = np.zeros(32, np.float32)
    frozen.setflags(write=False)
    with pytest.raises(ValueError, match="'dst_ptr'.*read-only"):
        copy_kernel[(1,)](src, frozen, 32, BLOCK=32)
    assert not frozen.any()
    immutable = np.frombuffer(bytes(128), dtype=np.float32)  # memory of a bytes object
    with pytest.raises(ValueError, match="'dst_ptr'.*read-only"):
        copy_kernel[(1,)](src, immutable, 32, BLOCK=32)
    assert not immutable.any()
    counter = np.zeros(1, np.int32)
    counter.setflags(write=False)
    with pytest.raises(ValueError, match="'counter_ptr'.*read-only"):
        count_kernel[(1,)](counter, BLOCK=32)
    assert counter[0] == 0


@pytest.mark.parametrize(
    "grid, match",
    [
        ((4.0,), "grid dimension 0 is 4.0 of type float.*cdiv"),
        ((1.7,), "grid dimension 0 is 1.7"),
        (("1",), "grid dimension 0 is '1' of type str"),
        ((1, 2.0), "grid dimension 1 is 2.0"),
        (2.5, "grid must be a tuple"),
        (None, "grid must be a tuple"),
        (lambda meta: None, "got NoneType"),
        (lambda meta: (meta["n"] / 32,), "grid dimension 0 is 1.0"),
        (lambda meta: "12", "got str '12'"),
    ],
)
def test_grids_must_be_integers(grid, match):
    src = np.arange(32, dtype=np.float32)
    dst = np.zeros_like(src)
    for _ in range(2):  # the launch fast path (cached kernel) and the first launch alike
        with pytest.raises(TypeError, match=match):
            copy_kernel[grid](src, dst, 32, BLOCK=32)
        copy_kernel[(1,)](src, dst, 32, BLOCK=32)  # cache the kernel and the int grid (1,)
    assert not isinstance(grid, tuple) or not dst[:0].size


def test_integer_like_grids_are_accepted():
    src = np.arange(32, dtype=np.float32)
    dst = np.zeros_like(src)
    for grid in [(np.int64(1),), [1], 1, (True,), lambda meta: (np.int32(1), 1)]:
        dst[:] = 0
        copy_kernel[grid](src, dst, 32, BLOCK=32)
        np.testing.assert_array_equal(dst, src)


def test_out_of_range_integers_and_bools_for_pointers_name_the_parameter():
    src = np.arange(32, dtype=np.float32)
    dst = np.zeros_like(src)
    # OverflowError, as upstream's launcher raises for integers beyond 64 bits
    with pytest.raises(OverflowError, match="argument 'n' of kernel 'copy_kernel'.*64 bits"):
        copy_kernel[(1,)](src, dst, 2**64, BLOCK=32)
    with pytest.raises(OverflowError, match="argument 'n' of kernel 'copy_kernel'.*64 bits"):
        copy_kernel[(1,)](src, dst, -(2**63) - 1, BLOCK=32)
    with pytest.raises((TypeError, ValueError, triton.CompilationError)) as e:
        copy_kernel[(1,)](src, np.bool_(True), 32, BLOCK=32)
    assert "dst_ptr" in str(e.value)


def test_autotuned_kernels_launch_from_many_threads():
    @triton.autotune(
        configs=[triton.Config({"BLOCK": 32}, num_warps=1), triton.Config({"BLOCK": 64}, num_warps=2)],
        key=["n"],
        do_bench=lambda fn, quantiles: [float(fn() or 1.0)] * 3,
    )
    @triton.jit
    def scale(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) * 2.0, mask=m)

    errors = []

    def worker(i):
        try:
            for j in range(20):
                n = 100 + (i * 7 + j) % 5
                x = np.arange(n, dtype=np.float32)
                out = np.zeros_like(x)
                scale[lambda meta: (triton.cdiv(n, meta["BLOCK"]),)](x, out, n)
                np.testing.assert_array_equal(out, 2 * x)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert scale.nargs is None


def test_non_ascii_kernel_names_compile_and_run():
    r = ok(
        run_py(
            """
            import numpy as np, triton_metal as triton, triton_metal.language as tl

            @triton.jit
            def удвоить_é(x_ptr, y_ptr, BLOCK: tl.constexpr):
                offs = tl.arange(0, BLOCK)
                tl.store(y_ptr + offs, tl.load(x_ptr + offs) * 2)

            x = np.arange(64, dtype=np.int32)
            y = np.zeros_like(x)
            k = удвоить_é[(1,)](x, y, BLOCK=64)
            assert (y == 2 * x).all()
            assert "kernel void _u" in k.asm["msl"]
            print("RAN")
            """
        )
    )
    assert "RAN" in r.stdout


# ---- kernels with large per-thread arrays -----------------------------------------------------


def test_row_softmax_with_a_million_element_block_runs():
    # 8,192 elements per thread with 4 warps: fiber stacks are sized from the kernel's arrays
    # (it used to overflow a fixed stack and kill the process).
    r = ok(
        run_py(
            """
            import numpy as np, triton_metal as triton, triton_metal.language as tl

            @triton.jit
            def softmax(out_ptr, in_ptr, n_cols, BLOCK: tl.constexpr):
                row = tl.program_id(0)
                offs = tl.arange(0, BLOCK)
                mask = offs < n_cols
                x = tl.load(in_ptr + row * n_cols + offs, mask=mask, other=-float("inf"))
                x = x - tl.max(x, axis=0)
                num = tl.exp(x)
                tl.store(out_ptr + row * n_cols + offs, num / tl.sum(num, axis=0), mask=mask)

            n = 2**20
            x = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
            y = np.empty_like(x)
            softmax[(2,)](y, x, n, BLOCK=n, num_warps=4)
            e = np.exp(x - x.max(1, keepdims=True))
            np.testing.assert_allclose(y, e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-12)
            print("RAN")
            """
        )
    )
    assert "RAN" in r.stdout


@triton.jit
def huge_rows(x_ptr, out_ptr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs)
    tl.store(out_ptr + offs, tl.exp(x - tl.max(x, axis=0)))


def test_per_thread_arrays_beyond_the_budget_are_refused_at_compile_time():
    x = np.zeros(2**20, np.float32)
    with pytest.raises(triton.OutOfResources, match="kernel 'huge_rows': needs .* KiB of per-thread arrays.*512 KiB"):
        huge_rows[(1,)](x, np.empty_like(x), BLOCK=2**20, num_warps=1)


# ---- compile time stays bounded ----------------------------------------------------------------


@triton.jit
def long_static_loop(x_ptr, y_ptr, N: tl.constexpr, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    for i in tl.static_range(N):
        x = tl.load(x_ptr + offs + i) * (i + 1)
        # `acc` is first assigned in the first iteration: the loop must be unrolled.
        if i == 0:
            acc = x
        else:
            acc += x
    tl.store(y_ptr + offs, acc)


def test_kernels_over_the_size_budget_are_refused_with_a_clear_error():
    x = np.ones(4000, np.float32)
    with pytest.raises(triton.OutOfResources, match=r"kernel 'long_static_loop': its Metal source is \d+ KiB.*static_range"):
        long_static_loop[(1,)](x, np.zeros(32, np.float32), N=3000, BLOCK=32)


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's compiler")
def test_a_compile_past_the_time_limit_is_an_error_not_a_hang(tmp_path):
    r = run_py(
        ADD.format(tag="slow"),
        {"TRITON_METAL_CACHE_DIR": str(tmp_path / "c"), "TRITON_METAL_CPU_COMPILE_TIMEOUT": "0.01"},
    )
    assert r.returncode != 0
    assert "did not finish compiling kernel `add_slow`" in r.stderr, r.stderr[-2000:]
    assert not list((tmp_path / "c" / "cpu").glob("*.so*")), "no library or temp file left"


@pytest.mark.skipif(not ON_CPU, reason="the CPU executor's compiler")
def test_conv2d_with_a_hundred_tap_static_loop_compiles_in_bounded_time(tmp_path):
    # 100 taps: the outer static loop stays a loop (its body uses the index as a runtime
    # value), the inner one is unrolled; built at -O1 (it took minutes at -O2, unrolled).
    r = ok(
        run_py(
            """
            import sys, time, numpy as np
            sys.path.insert(0, %r)
            import importlib
            conv = importlib.import_module("05_conv2d")
            x = np.random.default_rng(0).standard_normal((1, 2, 12, 12)).astype(np.float32)
            w = np.random.default_rng(1).standard_normal((2, 2, 10, 10)).astype(np.float32)
            t = time.time()
            y = conv.conv2d(x, w, pad=4)
            np.testing.assert_allclose(y, conv.conv2d_numpy(x, w, pad=4), rtol=1e-4, atol=1e-4)
            print("SECONDS", time.time() - t)
            """
            % os.path.join(os.path.dirname(__file__), "..", "..", "examples"),
            {"TRITON_METAL_CACHE_DIR": str(tmp_path / "c"), "TRITON_METAL_CPU_COMPILE_TIMEOUT": "600"},
            timeout=900,
        )
    )
    assert "SECONDS" in r.stdout


def test_fuzz_harness_finds_no_crash_in_a_small_run(tmp_path):
    # scripts/fuzz_kernels.py mutates seed kernels and runs every mutant in worker processes;
    # the full run (a few thousand mutants) is `python scripts/fuzz_kernels.py`.
    script = os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "fuzz_kernels.py")
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(tmp_path / "c"))
    r = subprocess.run(
        [sys.executable, script, "--count", "40", "--jobs", "1", "--seed", "3", "--timeout", "30", "--out", str(tmp_path / "f")],
        env=env, capture_output=True, text=True, timeout=900,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "process deaths: 0, hangs: 0, panics: 0, errors without location: 0" in r.stdout
