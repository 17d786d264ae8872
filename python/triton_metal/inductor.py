"""torch.compile for MPS tensors through triton_metal (opt-in)::

    import triton_metal.inductor
    triton_metal.inductor.enable()          # once, before torch.compile
    torch.compile(model)(x.to("mps"))

`enable()` makes `import triton` resolve to triton_metal in this process and registers, with
Inductor's public hooks, the Triton code generator (`TritonScheduling` with the Python wrapper)
for the ``mps`` device in place of Inductor's own Metal code generator
(`register_backend_for_device`), and a device interface (`register_interface_for_device`)
whose properties come from triton_metal's driver. Inductor then emits Triton kernels for MPS
tensors; they compile through `triton.compile` and launch on the MPS tensors' Metal buffers
(after PyTorch's queued work, see runtime/jit.py). `disable()` restores Inductor's own
registration.

On Linux there is no MPS device: the registration is tested with fakes
(python/tests/test_inductor_mps.py); compiling and running MPS graphs awaits a Mac.
"""

from __future__ import annotations

_saved = None


def _interface_class():
    import torch
    from torch._dynamo.device_interface import MpsInterface

    class TritonMetalMpsInterface(MpsInterface):
        """Inductor's MPS device interface, with device properties from triton_metal's driver
        (the values `triton.runtime.driver.active.utils.get_device_properties` reports)."""

        class Worker(MpsInterface.Worker):
            @staticmethod
            def get_device_properties(device=None):
                from .runtime.driver import active

                props = dict(active.utils.get_device_properties(0))
                props.setdefault("name", active.device_name)
                return props

        @staticmethod
        def get_raw_stream(device_idx=0):
            # triton_metal launches order themselves on PyTorch's MPS stream: no handle needed.
            return 0

        @staticmethod
        def is_available() -> bool:
            return torch.backends.mps.is_available()

    return TritonMetalMpsInterface


def enable(device: str = "mps"):
    """Registers triton_metal as Inductor's code generator for `device` (``"mps"``). Returns
    the interface class registered."""
    global _saved
    from torch._dynamo import device_interface as di
    from torch._inductor.codegen import common
    from torch._inductor.codegen.triton import TritonScheduling
    from torch._inductor.codegen.wrapper import PythonWrapperCodegen

    from ._alias import install_alias

    install_alias("always")  # asked for explicitly: `import triton` is triton_metal from now on
    common.init_backend_registration()  # Inductor's defaults first, so ours replaces them
    di.get_interface_for_device("cpu")  # the same for device interfaces (registered lazily)
    if _saved is None:
        _saved = (device, common.device_codegens.get(device), common.custom_backend_passes.get(device),
                  di.device_interfaces.get(device))  # fmt: skip
    iface = _interface_class()
    common.register_backend_for_device(device, TritonScheduling, PythonWrapperCodegen)
    di.register_interface_for_device(device, iface)
    return iface


def disable():
    """Restores Inductor's own code generator and device interface for the device."""
    global _saved
    if _saved is None:
        return
    from torch._dynamo import device_interface as di
    from torch._inductor.codegen import common

    device, codegen, custom_pass, iface = _saved
    if codegen is None:
        common.device_codegens.pop(device, None)
    else:
        common.device_codegens[device] = codegen
    common.custom_backend_passes[device] = custom_pass
    if iface is not None:
        di.register_interface_for_device(device, iface)
    _saved = None


def enabled(device: str = "mps") -> bool:
    from torch._inductor.codegen import common
    from torch._inductor.codegen.triton import TritonScheduling

    return common.get_scheduling_for_device(device) is TritonScheduling
