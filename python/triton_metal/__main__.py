"""``python -m triton_metal script.py [args...]`` (or ``-m module``): runs an unmodified Triton
program on triton_metal. For that run only, ``import triton`` and every ``triton.X`` submodule
resolve to ``triton_metal`` and ``triton_metal.X`` through an import hook placed first on
``sys.meta_path``; nothing is installed or changed outside this process.
"""

from __future__ import annotations

import os
import runpy
import sys

from ._alias import TritonAlias, install_alias  # noqa: F401  (the one import hook)

USAGE = """usage: python -m triton_metal SCRIPT.py [ARGS...]
       python -m triton_metal -m MODULE [ARGS...]

Runs a Triton program with `import triton` resolving to triton_metal."""


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
