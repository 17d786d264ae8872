"""``python -m triton_metal script.py [args...]`` (or ``-m module``): runs an unmodified Triton
program on triton_metal. For that run only, ``import triton`` and every ``triton.X`` submodule
resolve to ``triton_metal`` and ``triton_metal.X`` through an import hook placed first on
``sys.meta_path``; nothing is installed or changed outside this process.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import runpy
import sys

USAGE = """usage: python -m triton_metal SCRIPT.py [ARGS...]
       python -m triton_metal -m MODULE [ARGS...]

Runs a Triton program with `import triton` resolving to triton_metal."""


class _AliasLoader(importlib.abc.Loader):
    """Hands out an already imported triton_metal module under a `triton` name."""

    def __init__(self, module):
        self.module = module
        self.spec = module.__spec__

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        # The import machinery stamped the alias spec on the module; give it its own back.
        module.__spec__ = self.spec


class TritonAlias(importlib.abc.MetaPathFinder):
    """Resolves `triton` and `triton.X.Y` to `triton_metal` and `triton_metal.X.Y`."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "triton" and not fullname.startswith("triton."):
            return None
        real = "triton_metal" + fullname[len("triton"):]
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name != real:
                raise
            raise ModuleNotFoundError(
                f"No module named '{fullname}': triton_metal has no '{real}' "
                "(this program runs under python -m triton_metal)",
                name=fullname,
            ) from None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=hasattr(module, "__path__"))


def install_alias():
    """Makes `import triton...` resolve to triton_metal in this process (idempotent)."""
    if any(type(f).__name__ == "TritonAlias" for f in sys.meta_path):
        return
    for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
        del sys.modules[name]
    sys.meta_path.insert(0, TritonAlias())


def run(argv):
    """Runs `argv[0]` (a script path, or `-m MODULE`) with `argv[1:]` as its arguments; the
    exit status is the script's."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    install_alias()
    if argv[0] == "-m":
        if len(argv) < 2:
            print(USAGE, file=sys.stderr)
            return 2
        sys.argv = [argv[1]] + list(argv[2:])
        sys.path.insert(0, os.getcwd())
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        return 0
    script = argv[0]
    if not os.path.exists(script):
        print(f"triton_metal: cannot run '{script}': no such file", file=sys.stderr)
        return 2
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")
    return 0


def main():
    sys.exit(run(sys.argv[1:]))


if __name__ == "__main__":
    main()
