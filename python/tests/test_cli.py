"""The `triton-metal` command (check, compile, run) and `python -m triton_metal script.py`."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import triton_metal as triton

KERNELS = '''
import triton
import triton.language as tl


@triton.jit
def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=mask) + tl.load(y_ptr + offs, mask=mask), mask=mask)


@triton.jit
def row_max(x_ptr, out_ptr, stride, scale, n_cols, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * stride + offs, mask=offs < n_cols, other=-float("inf"))
    tl.store(out_ptr + row, tl.max(x, axis=0) * scale)


@triton.autotune(configs=[triton.Config({"BLOCK": 64})], key=["n"])
@triton.jit
def tuned(x_ptr, n, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    tl.store(x_ptr + offs, offs, mask=offs < n)
'''


def command():
    """How to invoke the console script installed with the package."""
    exe = Path(sys.executable).parent / "triton-metal"
    if exe.exists():
        return [str(exe)]
    found = shutil.which("triton-metal")
    return [found] if found else [sys.executable, "-m", "triton_metal.cli"]


def run(args, env=None, cwd=None):
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture
def kernels(tmp_path):
    path = tmp_path / "kernels.py"
    path.write_text(KERNELS)
    return path


def test_console_script_is_installed():
    exe = Path(sys.executable).parent / "triton-metal"
    if not exe.exists() and shutil.which("triton-metal") is None:
        pytest.skip("triton_metal is not installed as a package here (no console scripts)")
    r = run(command() + ["--help"])
    assert r.returncode == 0 and "check" in r.stdout and "compile" in r.stdout and "run" in r.stdout


def test_check_passes_here(tmp_path):
    env = dict(os.environ, TRITON_METAL_CACHE_DIR=str(tmp_path / "cache"))
    r = run(command() + ["check"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    for item in ("Python", "OS", "chip", "Metal", "GPU family", "numpy", "MLX", "PyTorch", "CPU executor compiler"):
        assert f"] {item} " in r.stdout
    assert "[ ok ] test kernel" in r.stdout
    assert f"[ ok ] kernel cache           {tmp_path / 'cache' / 'kernels'}" in r.stdout
    assert r.stdout.rstrip().endswith("all checks passed")


def test_check_reports_failures_with_remedies(tmp_path):
    env = dict(os.environ, TRITON_METAL_CLANG=str(tmp_path / "no-such-clang"), TRITON_METAL_CACHE_DIR=str(tmp_path))
    r = run(command() + ["check"], env=env)
    assert r.returncode == 1
    assert "[FAIL] CPU executor compiler" in r.stdout
    assert "[FAIL] test kernel" in r.stdout
    assert "remedy: install clang 17 or newer" in r.stdout
    assert r.stdout.rstrip().endswith("2 checks failed")


def test_compile_writes_metal_and_launch_description(kernels, tmp_path):
    out = tmp_path / "out"
    r = run(command() + ["compile", f"{kernels}:add_kernel", "--signature", "*fp32:16, *fp32:16, *fp32:16, i32",
                         "--constexpr", "BLOCK=256", "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["wrote", str(out / "add_kernel.metal"), "wrote", str(out / "add_kernel.json")]
    desc = json.loads((out / "add_kernel.json").read_text())
    assert desc["kernel"] == "add_kernel" and desc["source"] == "add_kernel.metal"
    assert desc["threads_per_threadgroup"] == 128 and desc["num_warps"] == 4
    assert desc["threadgroup_memory"] is None
    assert desc["scalar_struct"] == {"name": desc["function"] + "_args", "buffer_index": 3, "size": 4}
    args = desc["arguments"]
    assert [(a["name"], a["kind"]) for a in args] == [
        ("x_ptr", "buffer"), ("y_ptr", "buffer"), ("out_ptr", "buffer"), ("n", "scalar"), ("BLOCK", "constexpr")
    ]
    assert [a.get("index") for a in args[:3]] == [0, 1, 2]
    assert args[3]["offset"] == 0 and args[3]["dtype"] == "i32" and args[4]["value"] == 256
    msl = (out / "add_kernel.metal").read_text()
    assert f"kernel void {desc['function']}(" in msl

    # The JIT compiles the same source for the same specialisation (16-byte aligned arrays).
    jit_script = tmp_path / "jit_launch.py"
    jit_script.write_text(textwrap.dedent(f"""
        import numpy as np
        from kernels import add_kernel
        x = np.arange(1000, dtype=np.float32)
        y, o = np.ones_like(x), np.zeros_like(x)
        assert x.ctypes.data % 16 == 0 and y.ctypes.data % 16 == 0 and o.ctypes.data % 16 == 0
        k = add_kernel[(4,)](x, y, o, 1000, BLOCK=256)
        np.testing.assert_array_equal(o, x + 1)
        open({str(tmp_path / "jit.metal")!r}, "w").write(k.asm["msl"])
    """))
    r = run([sys.executable, "-m", "triton_metal", str(jit_script)], cwd=kernels.parent)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "jit.metal").read_text() == msl


def test_compile_reduction_kernel_with_threadgroup_memory(kernels, tmp_path):
    r = run(command() + ["compile", f"{kernels}:row_max", "-s", "*fp32,*fp32,i32:16,fp32,i32", "-c", "BLOCK=1024",
                         "-w", "8", "-o", str(tmp_path), "-n", "rowmax8"])
    assert r.returncode == 0, r.stderr
    desc = json.loads((tmp_path / "rowmax8.json").read_text())
    assert desc["threads_per_threadgroup"] == 256
    assert desc["threadgroup_memory"]["index"] == 0 and desc["threadgroup_memory"]["bytes"] > 0
    scalars = [a for a in desc["arguments"] if a["kind"] == "scalar"]
    assert [(a["name"], a["dtype"], a["offset"]) for a in scalars] == [("stride", "i32", 0), ("scale", "fp32", 4),
                                                                      ("n_cols", "i32", 8)]
    assert scalars[0]["divisible_by"] == 16
    assert "threadgroup" in (tmp_path / "rowmax8.metal").read_text()


def test_compile_unwraps_autotune_and_specialises_constants(kernels, tmp_path):
    r = run(command() + ["compile", f"{kernels}:tuned", "-s", "*i32, 1", "-c", "BLOCK=16", "-o", str(tmp_path)])
    assert r.returncode == 0, r.stderr
    desc = json.loads((tmp_path / "tuned.json").read_text())
    assert desc["arguments"][1] == {"name": "n", "kind": "constant", "value": 1}
    assert desc["scalar_struct"] is None


@pytest.mark.parametrize(
    "args,message",
    [
        (["-s", "*fp33,*fp32,*fp32,i32", "-c", "BLOCK=64"], "entry '*fp33' for 'x_ptr' is not a type: expected"),
        (["-s", "*fp32,*fp32,i32", "-c", "BLOCK=64"], "3 entries but the kernel has 4 non-constexpr parameters"),
        (["-s", "*fp32,,*fp32,i32", "-c", "BLOCK=64"], "has an empty entry"),
        (["-s", "*fp32:3,*fp32,*fp32,i32", "-c", "BLOCK=64"], "pointer alignment must be 1, 2, 4, 8 or 16"),
        (["-s", "*fp32,*fp32,*fp32,i32:8", "-c", "BLOCK=64"], "an integer hint must be :16"),
        (["-s", "*fp32,*fp32,*fp32,i32"], "constexpr parameter 'BLOCK' needs a value"),
        (["-s", "*fp32,*fp32,*fp32,i32", "-c", "BLOCK=64", "-c", "BLOK=1"], "has no parameter 'BLOK'"),
        (["-s", "*fp32,*fp32,*fp32,i32", "-c", "BLOCK=64", "-c", "n=5"], "'n' is not a tl.constexpr parameter"),
        (["-s", "*fp32,*fp32,*fp32,i32", "-c", "BLOCK"], "--constexpr expects NAME=VALUE"),
    ],
)
def test_compile_bad_input(kernels, tmp_path, args, message):
    r = run(command() + ["compile", f"{kernels}:add_kernel", "-o", str(tmp_path / "o")] + args)
    assert r.returncode == 2
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_compile_bad_target_and_compile_errors(kernels, tmp_path):
    r = run(command() + ["compile", f"{kernels}:nope", "-s", "*fp32"])
    assert r.returncode == 2 and "has no @triton.jit function 'nope' (found: add_kernel, row_max, tuned)" in r.stderr
    r = run(command() + ["compile", str(tmp_path / "missing.py:k"), "-s", "*fp32"])
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run(command() + ["compile", "kernels.py", "-s", "*fp32"])
    assert r.returncode == 2 and "expected PATH.py:KERNEL" in r.stderr
    r = run(command() + ["compile", f"{kernels}:add_kernel", "-s", "*fp32,*fp32,*fp32,i32", "-c", "BLOCK=100",
                         "-o", str(tmp_path)])
    assert r.returncode == 1
    assert "CompilationError" in r.stderr and "power of 2" in r.stderr and "kernels.py" in r.stderr


UPSTREAM_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import triton
    import triton.language as tl
    from triton.testing import assert_close
    from triton.runtime import autotuner

    @triton.jit
    def add_kernel(x_ptr, y_ptr, out_ptr, n, BLOCK_SIZE: tl.constexpr):
        offs = tl.program_id(0) * BLOCK_SIZE + tl.arange(0, BLOCK_SIZE)
        m = offs < n
        tl.store(out_ptr + offs, tl.load(x_ptr + offs, mask=m) + tl.load(y_ptr + offs, mask=m), mask=m)

    x = np.arange(100, dtype=np.float32)
    out = np.empty_like(x)
    add_kernel[(triton.cdiv(100, 64),)](x, x, out, 100, BLOCK_SIZE=64)
    assert_close(out, 2 * x)
    assert triton.Config is autotuner.Config
    print("ran", triton.__name__, tl.__name__, sys.argv, __name__)
    sys.exit(int(sys.argv[-1]))
    """
)


@pytest.mark.parametrize("how", ["python -m", "triton-metal run"])
def test_run_unmodified_triton_script(tmp_path, how):
    script = tmp_path / "upstream.py"
    script.write_text(UPSTREAM_SCRIPT)
    prefix = [sys.executable, "-m", "triton_metal"] if how == "python -m" else command() + ["run"]
    r = run(prefix + [str(script), "--flag", "0"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ran triton_metal triton_metal.language ['{script}', '--flag', '0'] __main__"
    r = run(prefix + [str(script), "3"], cwd=tmp_path)
    assert r.returncode == 3  # the script's exit status


def test_run_module_and_missing_pieces(tmp_path):
    (tmp_path / "mod_script.py").write_text("import triton\nprint(triton.cdiv(7, 2))\n")
    r = run([sys.executable, "-m", "triton_metal", "-m", "mod_script"], cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "4", r.stderr
    (tmp_path / "missing.py").write_text("import triton.nonexistent\n")
    r = run([sys.executable, "-m", "triton_metal", "missing.py"], cwd=tmp_path)
    assert r.returncode == 1
    assert "No module named 'triton.nonexistent': triton_metal has no 'triton_metal.nonexistent'" in r.stderr
    r = run([sys.executable, "-m", "triton_metal", "nowhere.py"], cwd=tmp_path)
    assert r.returncode == 2 and "no such file" in r.stderr
    r = run([sys.executable, "-m", "triton_metal"], cwd=tmp_path)
    assert r.returncode == 2 and "usage" in r.stdout


def test_alias_is_only_for_that_run():
    import importlib.util

    # Importing triton_metal adds only the TRITON_BACKEND=metal hook, inert without it.
    assert all(f.mode == "env" for f in sys.meta_path if type(f).__name__ == "TritonAlias")
    spec = importlib.util.find_spec("triton")
    assert spec is None or "triton_metal" not in (spec.origin or "")
    assert triton.__spec__.name == "triton_metal"
