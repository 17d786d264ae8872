"""triton_metal's startup hook (installed into site-packages by its wheel, imported by
triton_metal_env.pth; `triton-metal install-alias` writes a copy with MODE = "opt-in").

Puts one cheap finder first on sys.meta_path. It looks at nothing but `import triton`, and only
then: in "env" mode when TRITON_BACKEND=metal, in "opt-in" mode also when no real Triton is
installed (TRITON_BACKEND naming another backend turns it off). triton_metal itself is imported
only at that moment, so processes that never `import triton` pay nothing."""
import os
import sys

MODE = "env"


class TritonAlias:
    mode = MODE

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "triton":
            return None
        if self.mode == "env" and os.environ.get("TRITON_BACKEND", "").strip().lower() != "metal":
            return None
        try:
            from triton_metal import _alias
        except ImportError:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]
        _alias.install_alias(self.mode)
        return _alias._installed()[0].find_spec(fullname, path, target)


if not any(type(f).__name__ == "TritonAlias" for f in sys.meta_path):
    sys.meta_path.insert(0, TritonAlias())
