"""``import triton`` resolving to triton_metal.

One import hook (`TritonAlias`, placed first on ``sys.meta_path``) maps ``triton`` and every
``triton.X`` submodule to ``triton_metal`` and ``triton_metal.X``. It is used three ways:

- ``python -m triton_metal script.py`` (and ``triton-metal run``) install it for that run,
  unconditionally (`install_alias`);
- ``TRITON_BACKEND=metal`` in the environment, set before the interpreter starts or later in
  the program, before the first ``import triton``: the startup hook (`HOOK_MODULE`, loaded by
  a ``.pth`` file) resolves ``triton`` to triton_metal whenever the variable says so at that
  import, even if a real Triton is installed;
- ``triton-metal install-alias`` (undone by ``uninstall-alias``) writes the startup hook into
  this environment's site-packages with the opt-in set: ``import triton`` then resolves to
  triton_metal when no real Triton is installed. A real Triton always wins unless
  ``TRITON_BACKEND=metal`` asks otherwise; ``TRITON_BACKEND`` set to anything else turns the
  alias off.

The decision is made once, at the first ``import triton`` of a process; the submodules then
follow whichever ``triton`` was chosen.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import sys
import sysconfig

ENV_VAR = "TRITON_BACKEND"
HOOK_MODULE = "_triton_metal_alias"  # the startup hook's module name in site-packages
PTH_FILE = "triton_metal_alias.pth"


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


def _real_triton_spec(finder):
    """The spec of an installed Triton, found by the import machinery without our hook."""
    for f in sys.meta_path:
        if f is finder or type(f).__name__ == "TritonAlias":
            continue
        find = getattr(f, "find_spec", None)
        if find is None:
            continue
        try:
            spec = find("triton", None)
        except Exception:  # noqa: BLE001 - a broken finder must not break `import triton`
            continue
        if spec is not None:
            return spec
    return None


def wanted_by_environment():
    """True, False, or None (not said) from ``TRITON_BACKEND``."""
    value = os.environ.get(ENV_VAR)
    if value is None or value == "":
        return None
    return value.strip().lower() == "metal"


class TritonAlias(importlib.abc.MetaPathFinder):
    """Resolves `triton` and `triton.X.Y` to `triton_metal` and `triton_metal.X.Y`.

    `mode` is ``"always"`` (python -m triton_metal), ``"env"`` (only when TRITON_BACKEND=metal)
    or ``"opt-in"`` (also when no real Triton is installed, unless TRITON_BACKEND says another
    backend)."""

    def __init__(self, mode="always"):
        self.mode = mode

    def _active_for_top_level(self):
        if self.mode == "always":
            return True
        env = wanted_by_environment()
        if env is not None:
            return env
        return self.mode == "opt-in" and _real_triton_spec(self) is None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "triton" and not fullname.startswith("triton."):
            return None
        if fullname == "triton":
            if not self._active_for_top_level():
                return None
        else:
            # Submodules follow the `triton` that was chosen.
            top = sys.modules.get("triton")
            if top is None or getattr(top, "__name__", "") != "triton_metal":
                return None
        real = "triton_metal" + fullname[len("triton") :]
        try:
            module = importlib.import_module(real)
        except ModuleNotFoundError as e:
            if e.name != real:
                raise
            raise ModuleNotFoundError(
                f"No module named '{fullname}': triton_metal has no '{real}' "
                "(`import triton` resolves to triton_metal here)",
                name=fullname,
            ) from None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(module), is_package=hasattr(module, "__path__"))


def _installed():
    return [f for f in sys.meta_path if type(f).__name__ == "TritonAlias"]


def install_alias(mode="always"):
    """Makes `import triton...` resolve to triton_metal in this process (idempotent). With mode
    "always" a `triton` imported earlier is forgotten, so the next import is triton_metal."""
    found = _installed()
    if found:
        rank = {"env": 0, "opt-in": 1, "always": 2}
        for f in found:
            if rank[mode] > rank.get(getattr(f, "mode", "always"), 2):
                f.mode = mode
    else:
        sys.meta_path.insert(0, TritonAlias(mode))
    if mode == "always":
        for name in [n for n in sys.modules if n == "triton" or n.startswith("triton.")]:
            if getattr(sys.modules[name], "__name__", "").startswith("triton_metal"):
                continue
            del sys.modules[name]


# ------------------------------------------------------------------ the startup hook

# The startup hook's source is one file, shipped in the wheel as site-packages/_triton_metal_env.py
# (python/triton_metal.data/purelib/ in a checkout) and imported at every interpreter start by
# triton_metal_env.pth: it acts only when TRITON_BACKEND=metal. `install-alias` writes a copy of
# it with MODE = "opt-in" under another name. It must stay cheap: no triton_metal import until
# `import triton` happens.
ENV_HOOK_MODULE = "_triton_metal_env"


def _env_hook_source():
    import importlib.util

    spec = importlib.util.find_spec(ENV_HOOK_MODULE)
    candidates = [spec.origin] if spec is not None and spec.origin else []
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                   "triton_metal.data", "purelib", ENV_HOOK_MODULE + ".py"))
    for path in candidates:
        if os.path.isfile(path):
            with open(path) as f:
                return f.read()
    raise FileNotFoundError(f"triton_metal's startup hook {ENV_HOOK_MODULE}.py is not installed (reinstall triton-metal-rs)")


def _hook_source(mode="opt-in"):
    src = _env_hook_source()
    assert 'MODE = "env"' in src
    return src.replace('MODE = "env"', f'MODE = "{mode}"', 1)


def site_packages():
    """This environment's site-packages (where pip installed triton_metal)."""
    return sysconfig.get_paths()["purelib"]


def hook_paths(where=None):
    where = where or site_packages()
    return os.path.join(where, PTH_FILE), os.path.join(where, HOOK_MODULE + ".py")


def install_hook(where=None):
    """Writes the startup hook into site-packages; returns the files written."""
    pth, module = hook_paths(where)
    with open(module, "w") as f:
        f.write(_hook_source("opt-in"))
    with open(pth, "w") as f:
        f.write(f"import {HOOK_MODULE}\n")
    return [pth, module]


def uninstall_hook(where=None):
    """Removes the startup hook; returns the files removed."""
    removed = []
    for p in hook_paths(where):
        if os.path.exists(p):
            os.remove(p)
            removed.append(p)
    return removed


def hook_installed(where=None):
    return all(os.path.exists(p) for p in hook_paths(where))
