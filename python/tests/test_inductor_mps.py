"""triton_metal.inductor.enable(): Inductor's Triton code generator registered for the ``mps``
device with its public hooks, tested with fakes on Linux (no MPS device here): the scheduling
and wrapper registered, the device interface reporting triton_metal's device properties,
`import triton` resolving to triton_metal, a compile target for ``mps`` accepted by
`triton.compile`, and disable() restoring Inductor's own registration. Compiling MPS graphs
awaits a Mac."""

import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch", reason="torch is not installed (scripts/test.sh installs it)")


def test_enable_registers_triton_codegen_for_mps(tmp_path):
    code = textwrap.dedent(
        """
        import torch
        from torch._inductor.codegen import common
        from torch._inductor.codegen.triton import TritonScheduling
        from torch._inductor.codegen.wrapper import PythonWrapperCodegen
        from torch._dynamo.device_interface import get_interface_for_device

        common.init_backend_registration()
        before = common.get_scheduling_for_device("mps")
        assert before is not TritonScheduling, before  # Inductor's own Metal code generator

        import triton_metal.inductor as ti
        iface = ti.enable()
        assert ti.enabled()
        assert common.get_scheduling_for_device("mps") is TritonScheduling
        assert common.get_wrapper_codegen_for_device("mps") is PythonWrapperCodegen
        assert get_interface_for_device("mps") is iface
        props = iface.Worker.get_device_properties()
        assert props["warpSize"] == 32 and props["max_shared_mem"] > 0 and props["name"]
        assert iface.get_raw_stream(0) == 0

        import triton
        assert triton.__name__ == "triton_metal"
        from triton.backends.compiler import GPUTarget
        import triton.language as tl

        @triton.jit
        def scale(x_ptr, n, BLOCK: tl.constexpr):
            offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            tl.store(x_ptr + offs, tl.load(x_ptr + offs, mask=offs < n) * 2, mask=offs < n)

        # What Inductor compiles for an MPS kernel: a target named "mps".
        src = triton.compiler.ASTSource(scale, {"x_ptr": "*fp32", "n": "i32", "BLOCK": "constexpr"}, {"BLOCK": 64})
        k = triton.compile(src, target=GPUTarget("mps", "", 32), options={"num_warps": 2})
        assert k.metadata.num_warps == 2 and "kernel" in k.asm["msl"]
        x = torch.arange(100, dtype=torch.float32)
        k[(2,)](x, 100, 64)  # every parameter, constexprs too; on a Mac the tensors are MPS ones; here CPU tensors run it
        assert torch.equal(x, torch.arange(100, dtype=torch.float32) * 2)

        ti.disable()
        assert common.get_scheduling_for_device("mps") is before
        print("ok")
        """
    )
    script = tmp_path / "enable_mps.py"  # a file: jit functions need their source
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("ok")
