"""dtypes, ``constexpr`` and the device-only function names of ``tl``."""


class dtype:
    """A scalar element type, e.g. ``tl.float32``."""

    _BY_NAME = {}

    def __init__(self, name: str, short: str):
        self.name = name
        self._tm_dtype_name = name
        self.short = short
        dtype._BY_NAME[name] = self

    @property
    def primitive_bitwidth(self) -> int:
        return {"int1": 1}.get(self.name) or int("".join(c for c in self.name if c.isdigit()))

    def is_floating(self) -> bool:
        return self.name.startswith(("float", "bfloat"))

    def is_int(self) -> bool:
        return not self.is_floating()

    def __repr__(self):
        return f"triton_metal.language.{self.name}"

    def __str__(self):
        return self.short

    def __eq__(self, other):
        return isinstance(other, dtype) and other.name == self.name

    def __hash__(self):
        return hash(("tl.dtype", self.name))


int1 = dtype("int1", "i1")
int8 = dtype("int8", "i8")
int16 = dtype("int16", "i16")
int32 = dtype("int32", "i32")
int64 = dtype("int64", "i64")
uint8 = dtype("uint8", "u8")
uint16 = dtype("uint16", "u16")
uint32 = dtype("uint32", "u32")
uint64 = dtype("uint64", "u64")
float16 = dtype("float16", "fp16")
bfloat16 = dtype("bfloat16", "bf16")
float32 = dtype("float32", "fp32")
float64 = dtype("float64", "fp64")


class constexpr:
    """Marks a parameter as known at compile time (``BLOCK: tl.constexpr``);
    ``tl.constexpr(v)`` wraps a global value so kernels may read it."""

    def __init__(self, value):
        self.value = value.value if isinstance(value, constexpr) else value

    def __repr__(self):
        return f"constexpr[{self.value!r}]"

    def __eq__(self, other):
        return self.value == (other.value if isinstance(other, constexpr) else other)

    def __hash__(self):
        return hash(self.value)

    def __index__(self):
        return self.value

    def __bool__(self):
        return bool(self.value)


def _device_only_functions():
    def make(name):
        def fn(*args, **kwargs):
            raise RuntimeError(f"tl.{name} can only be called inside a @triton.jit function")

        fn._tm_builtin = name
        fn.__name__ = name
        fn.__qualname__ = name
        fn.__doc__ = f"``tl.{name}``: compiled by triton_metal inside @triton.jit functions."
        return fn

    from .._core import language_functions

    return {name: make(name) for name in language_functions() if name not in ("constexpr",)}


class tensor:
    """The type of block values inside a jit function (for annotations: ``x: tl.tensor``)."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError("tl.tensor values exist only inside a @triton.jit function")


class pointer_type:
    """``tl.pointer_type(tl.float32)``: the type of a pointer to elements of a dtype."""

    def __init__(self, element_ty, address_space=1, const=False):
        self.element_ty = element_ty
        self.address_space = address_space
        self.const = const

    def __repr__(self):
        return f"pointer<{self.element_ty!r}>"

    def __eq__(self, other):
        return isinstance(other, pointer_type) and other.element_ty == self.element_ty

    def __hash__(self):
        return hash(("tl.pointer_type", self.element_ty))


def _unwrap_if_constexpr(o):
    return o.value if isinstance(o, constexpr) else o


# `tl.core.X` names the same device functions as `tl.X` (libraries inspect `tl.core.view`).
globals().update({k: v for k, v in _device_only_functions().items() if k not in globals()})
