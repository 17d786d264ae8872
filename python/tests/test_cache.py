"""The persistent kernel cache and TRITON_METAL_DUMP_DIR: a second process compiles nothing;
the key covers called jit functions and constants; corrupt entries are recompiled; an
unusable directory falls back (to a private directory, else memory) with one warning; concurrent writers are safe."""

import os
import subprocess
import sys

import numpy as np

import triton_metal as triton
import triton_metal.language as tl

SCRIPT = """
import numpy as np
import triton_metal as triton
import triton_metal.language as tl

SCALE = {scale}

@triton.jit
def helper(x):
    return x {op} 1.0

@triton.jit
def scaled(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(out_ptr + offs, helper(tl.load(x_ptr + offs, mask=m)) * SCALE, mask=m)

x = np.arange(300, dtype=np.float32)
out = np.zeros_like(x)
k = scaled[(triton.cdiv(300, 128),)](x, out, 300, BLOCK=128)
np.testing.assert_array_equal(out, (x {op} 1.0) * np.float32(SCALE))
print("STAGES", ",".join(s for s, _ in k.timings))
again = triton.jit(scaled.fn)[(3,)](x, out, 300, BLOCK=128)  # a new JITFunction, same kernel
print("AGAIN", ",".join(s for s, _ in again.timings))
"""


def run_script(tmp_path, cache_dir, scale=2.0, op="+", name="k.py", extra_env=None):
    script = tmp_path / name
    script.write_text(SCRIPT.format(scale=scale, op=op))
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(cache_dir), TRITON_METAL_DEBUG="1", **(extra_env or {}))
    env.pop("TRITON_METAL_DUMP_DIR", None)
    r = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.startswith(("STAGES", "AGAIN")))
    return lines["STAGES"].split(","), lines["AGAIN"].split(","), r.stderr


def entries(cache_dir):
    return sorted((cache_dir / "kernels").glob("*.kernel"))


def test_second_process_compiles_nothing(tmp_path):
    cache = tmp_path / "cache"
    first, again, _ = run_script(tmp_path, cache)
    assert first[:3] == ["ttir", "passes", "msl"]
    assert again == ["memory cache hit"]
    assert len(entries(cache)) == 1
    second, _, log = run_script(tmp_path, cache)
    assert second == ["disk cache hit"]
    assert "scaled: disk cache hit" in log
    assert "scaled: ttir" not in log and "scaled: msl" not in log


def test_key_covers_callees_and_global_constants(tmp_path):
    cache = tmp_path / "cache"
    assert run_script(tmp_path, cache)[0][0] == "ttir"
    assert run_script(tmp_path, cache, op="-")[0][0] == "ttir"  # helper's source changed
    assert run_script(tmp_path, cache, op="-", scale=3.0)[0][0] == "ttir"  # a global constant changed
    assert len(entries(cache)) == 3
    assert run_script(tmp_path, cache, op="-")[0] == ["disk cache hit"]


def test_corrupt_entries_are_recompiled(tmp_path):
    cache = tmp_path / "cache"
    run_script(tmp_path, cache)
    (entry,) = entries(cache)
    good = entry.read_bytes()
    for damaged in (b"", good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 1]), b"not a cache entry"):
        entry.write_bytes(damaged)
        stages, _, _ = run_script(tmp_path, cache)
        assert stages[0] == "ttir", damaged[:20]
        assert entry.read_bytes() == good  # rewritten whole
    assert run_script(tmp_path, cache)[0] == ["disk cache hit"]


def test_unwritable_cache_dir_warns_and_uses_memory(tmp_path):
    # Neither the cache directory nor the private fallback under TMPDIR can be created
    # (test_reliability.py covers the fallback itself).
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    stages, again, log = run_script(tmp_path, blocker, extra_env={"TMPDIR": str(blocker)})
    assert stages[0] == "ttir"
    assert again == ["memory cache hit"]
    assert "warning" in log and "memory only" in log and str(blocker) in log
    assert log.count("warning") == 1  # warned once


def test_concurrent_processes_share_the_cache(tmp_path):
    cache = tmp_path / "cache"
    script = tmp_path / "k.py"
    script.write_text(SCRIPT.format(scale=2.0, op="+"))
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    assert len(entries(cache)) == 1
    assert not list((cache / "kernels").glob(".tmp*")), "temporary files left behind"
    assert run_script(tmp_path, cache)[0] == ["disk cache hit"]


@triton.jit
def dumped(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offs, mask=offs < n, other=0.0)
    tl.store(x_ptr + offs, x + tl.sum(x, axis=0), mask=offs < n)


def test_dump_dir_has_ir_after_each_pass_and_msl(tmp_path, monkeypatch):
    monkeypatch.setenv("TRITON_METAL_DUMP_DIR", str(tmp_path / "dump"))
    x = np.arange(10, dtype=np.float32)
    k = triton.jit(dumped.fn)[(1,)](x, 10, BLOCK=16)  # fresh JITFunction: compiles (dumps bypass the disk cache)
    np.testing.assert_allclose(x, np.arange(10) + 45.0)
    (kdir,) = (tmp_path / "dump").iterdir()
    assert kdir.name.startswith("dumped-")
    names = sorted(p.name for p in kdir.iterdir())
    assert names == [
        "00-ttir.ttir", "01-fold.ttir", "02-cse.ttir", "03-combine-dot.ttir", "04-dce.ttir", "05-layout.txt", "06-msl.metal"
    ]
    assert (kdir / "00-ttir.ttir").read_text() == k.asm["ttir"]
    assert (kdir / "04-dce.ttir").read_text() == k.asm["ttir_opt"]
    assert (kdir / "06-msl.metal").read_text() == k.asm["msl"]
    for stage in names[:4]:
        assert (kdir / stage).read_text().startswith("tt.func"), stage


def test_kernel_abi_is_exposed():
    x = np.zeros(16, np.float32)
    k = dumped[(1,)](x, 16, BLOCK=16, num_warps=2)
    abi = k.abi
    assert abi["buffers"] == [("x_ptr", "fp32")]
    assert abi["scalars"] == [("n", "i32", 0)]
    assert abi["args_size"] == 4 and abi["args_struct"] == abi["kernel_name"] + "_args"
    assert abi["threads_per_threadgroup"] == 64
    assert abi["threadgroup_memory_bytes"] == k.threadgroup_memory_bytes
    assert abi["written_buffers"] == ["x_ptr"]  # it stores to x_ptr
    assert 16 // 64 * 4 <= abi["thread_private_bytes"] < 4096


def test_compiler_version_names_the_build():
    v = triton._core.compiler_version()
    assert v.startswith(triton.__version__ + "+") and len(v) > len(triton.__version__) + 8
