"""`import triton` resolving to triton_metal, each way of asking for it in its own process:
TRITON_BACKEND=metal (before start or set by the program), the opt-in startup hook written by
`triton-metal install-alias` (used only when no real Triton is installed), and never a real
Triton shadowed unless TRITON_BACKEND=metal says so."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

import triton_metal
from triton_metal import _alias

REAL_TRITON = None
for _f in sys.meta_path:
    if type(_f).__name__ != "TritonAlias" and hasattr(_f, "find_spec"):
        _s = _f.find_spec("triton", None)
        if _s is not None:
            REAL_TRITON = _s
            break

SUBMODULES = [
    "triton.language",
    "triton.language.extra.libdevice",
    "triton.runtime",
    "triton.runtime.driver",
    "triton.runtime.autotuner",
    "triton.runtime.jit",
    "triton.testing",
    "triton.compiler",
    "triton.compiler.compiler",
    "triton.backends",
    "triton.backends.compiler",
    "triton.knobs",
]


def py(code, env_extra=None, unset=("TRITON_BACKEND",), args=()):
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, *args, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=120)
    return r


def isolated_site(tmp_path, with_hook=True):
    """A site directory holding only triton_metal and numpy (links), and the startup hook:
    an environment where no real Triton is installed."""
    site = tmp_path / "site"
    site.mkdir()
    pkg = os.path.dirname(triton_metal.__file__)
    import numpy

    np_dir = os.path.dirname(numpy.__file__)
    for src in (pkg, np_dir, np_dir + ".libs"):
        if os.path.exists(src):
            os.symlink(src, site / os.path.basename(src))
    if with_hook:
        _alias.install_hook(str(site))
    return site


PRINT_TRITON = """
import sys
sys.path[:] = [p for p in sys.path if 'site-packages' not in p]
import site
site.addsitedir({site!r})
{before}
import triton
print(triton.__name__)
"""


def test_env_var_set_by_the_program_after_start():
    r = py(
        """
        import os
        os.environ["TRITON_BACKEND"] = "metal"
        import triton_metal
        import triton, triton.language as tl
        print(triton.__name__, tl.__name__)
        """
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["triton_metal", "triton_metal.language"]


def test_all_submodules_resolve():
    code = "import triton_metal, importlib\n" + "".join(
        f"m = importlib.import_module({name!r}); print(m.__name__)\n" for name in SUBMODULES
    )
    r = py(code, {"TRITON_BACKEND": "metal"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [n.replace("triton", "triton_metal", 1) for n in SUBMODULES]


SHIPPED = os.path.join(os.path.dirname(os.path.dirname(triton_metal.__file__)), "triton_metal.data", "purelib")


def _installed_env_pth():
    """The .pth the wheel (and `maturin develop`) installs into site-packages, if this
    environment has it."""
    import site

    for d in site.getsitepackages() + [site.getusersitepackages()]:
        p = os.path.join(d, "triton_metal_env.pth")
        if os.path.exists(p):
            return p
    return None


def test_wheel_installs_the_env_startup_line():
    """`TRITON_BACKEND=metal python app.py` works right after `pip install`, with no opt-in:
    the wheel puts a one-line .pth into site-packages that imports triton_metal at start only
    when the variable asks for it."""
    pth = _installed_env_pth()
    assert pth is not None, "triton_metal_env.pth is not in site-packages: was the package installed by pip/maturin?"
    for name in ("triton_metal_env.pth", "_triton_metal_env.py"):
        with open(os.path.join(os.path.dirname(pth), name)) as f, open(os.path.join(SHIPPED, name)) as g:
            assert f.read() == g.read(), name
    # Before start, no import of triton_metal by the program: `import triton` is triton_metal,
    # even where torch installed upstream Triton beside it.
    r = py("import triton, triton.language as tl; print(triton.__name__, tl.__name__)", {"TRITON_BACKEND": "metal"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["triton_metal", "triton_metal.language"]
    assert "Error processing" not in r.stderr, r.stderr
    # Without the variable the hook does nothing: triton_metal is not even imported.
    r = py("import sys; print('triton_metal' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"
    r = py("import sys; print('triton_metal' in sys.modules)", {"TRITON_BACKEND": "cuda"})
    assert r.stdout.strip() == "False"


def test_hook_with_env_var_before_start(tmp_path):
    site = isolated_site(tmp_path)
    r = py(PRINT_TRITON.format(site=str(site), before=""), {"TRITON_BACKEND": "metal"}, args=("-S",))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "triton_metal"


def test_opt_in_hook_when_no_real_triton(tmp_path):
    site = isolated_site(tmp_path)
    r = py(PRINT_TRITON.format(site=str(site), before=""), args=("-S",))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "triton_metal"
    # TRITON_BACKEND naming another backend turns the alias off.
    r = py(PRINT_TRITON.format(site=str(site), before=""), {"TRITON_BACKEND": "cuda"}, args=("-S",))
    assert r.returncode != 0 and "No module named 'triton'" in r.stderr


def test_without_hook_nothing_changes(tmp_path):
    site = isolated_site(tmp_path, with_hook=False)
    r = py(PRINT_TRITON.format(site=str(site), before=""), args=("-S",))
    assert r.returncode != 0 and "No module named 'triton'" in r.stderr
    # Importing triton_metal alone does not alias either, unless TRITON_BACKEND=metal.
    r = py(PRINT_TRITON.format(site=str(site), before="import triton_metal"), args=("-S",))
    assert r.returncode != 0 and "No module named 'triton'" in r.stderr


def test_real_triton_wins_unless_asked(tmp_path):
    """With the opt-in hook installed, an installed Triton (here a stand-in package named
    `triton` in the same site directory) is what `import triton` finds, unless
    TRITON_BACKEND=metal asks for triton_metal."""
    site = isolated_site(tmp_path)
    (site / "triton").mkdir()
    (site / "triton" / "__init__.py").write_text("UPSTREAM = True\n")
    code = PRINT_TRITON.format(site=str(site), before="") + "print(getattr(triton, 'UPSTREAM', False))\n"
    r = py(code, args=("-S",))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["triton", "True"]
    r = py(code, {"TRITON_BACKEND": "metal"}, args=("-S",))
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["triton_metal", "False"]


@pytest.mark.skipif(REAL_TRITON is None, reason="upstream Triton is not installed here")
def test_installed_upstream_triton_wins_unless_asked(tmp_path):
    where = tmp_path / "hook"
    where.mkdir()
    _alias.install_hook(str(where))
    code = "import site; site.addsitedir({!r}); import triton_metal, triton; print(triton.__name__, triton.__file__)"
    r = py(code.format(str(where)))
    assert r.returncode == 0, r.stderr
    name, path = r.stdout.split()
    assert name == "triton" and "triton_metal" not in path
    r = py(code.format(str(where)), {"TRITON_BACKEND": "metal"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "triton_metal"


def test_install_and_uninstall_alias_commands(tmp_path):
    cli = [sys.executable, "-m", "triton_metal.cli"]
    r = subprocess.run(cli + ["install-alias", "--site-packages", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    assert _alias.hook_installed(str(tmp_path))
    assert (tmp_path / "triton_metal_alias.pth").read_text().strip() == "import _triton_metal_alias"
    r = subprocess.run(cli + ["uninstall-alias", "--site-packages", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0 and "removed" in r.stdout
    assert not _alias.hook_installed(str(tmp_path)) and not list(tmp_path.iterdir())
    r = subprocess.run(cli + ["uninstall-alias", "--site-packages", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 0 and "no alias" in r.stdout


def test_in_process_hook_is_inert_without_env_var(monkeypatch):
    monkeypatch.delenv("TRITON_BACKEND", raising=False)
    finders = [f for f in sys.meta_path if type(f).__name__ == "TritonAlias"]
    assert finders and all(f.find_spec("triton") is None for f in finders if f.mode == "env")
    spec = importlib.util.find_spec("triton") if "triton" not in sys.modules else None
    assert spec is None or "triton_metal" not in (spec.origin or "")
