"""dtypes, ``constexpr`` and the device-only function names of ``tl``."""

from enum import Enum


class dtype:
    """A scalar element type, e.g. ``tl.float32``, with upstream Triton's Python API: ``name``
    (``'fp32'``, ``'int32'``), the bit widths, the ``is_*()`` predicates and the type lists.
    ``tl.dtype('fp32') is tl.float32``. Inside kernels the Rust front end answers the same
    attributes and predicates at compile time."""

    SINT_TYPES = ["int8", "int16", "int32", "int64"]
    UINT_TYPES = ["int1", "uint8", "uint16", "uint32", "uint64"]
    FP_TYPES = ["fp8e4b15", "fp8e4nv", "fp8e4b8", "fp8e5", "fp8e5b16", "fp16", "bf16", "fp32", "fp64"]
    STANDARD_FP_TYPES = ["fp16", "bf16", "fp32", "fp64"]
    OTHER_TYPES = ["void"]

    class SIGNEDNESS(Enum):
        SIGNED = 0
        UNSIGNED = 1

    class KIND(Enum):
        BOOLEAN = 0
        INTEGRAL = 1
        FLOATING = 2

    # upstream name -> (language attribute, triton_metal's short name, mantissa bits, exponent bias)
    _INFO = {
        "int1": ("int1", "i1", 0, 0),
        "int8": ("int8", "i8", 0, 0),
        "int16": ("int16", "i16", 0, 0),
        "int32": ("int32", "i32", 0, 0),
        "int64": ("int64", "i64", 0, 0),
        "uint8": ("uint8", "u8", 0, 0),
        "uint16": ("uint16", "u16", 0, 0),
        "uint32": ("uint32", "u32", 0, 0),
        "uint64": ("uint64", "u64", 0, 0),
        "fp16": ("float16", "fp16", 10, 15),
        "bf16": ("bfloat16", "bf16", 7, 127),
        "fp32": ("float32", "fp32", 23, 127),
        "fp64": ("float64", "fp64", 52, 1023),
        # float8 storage types (8-bit codes, converted exactly in software; no arithmetic)
        "fp8e4nv": ("float8e4nv", "fp8e4nv", 3, 7),
        "fp8e5": ("float8e5", "fp8e5", 2, 15),
        "fp8e4b15": ("float8e4b15", "fp8e4b15", 3, 15),
        "fp8e4b8": ("float8e4b8", "fp8e4b8", 3, 8),
        "fp8e5b16": ("float8e5b16", "fp8e5b16", 2, 16),
    }
    _ALIASES = {info[0]: name for name, info in _INFO.items()}
    _INSTANCES = {}

    def __new__(cls, name):
        name = getattr(name, "name", name)
        name = cls._ALIASES.get(name, name)
        if name in cls._INSTANCES:
            return cls._INSTANCES[name]
        if name not in cls._INFO:
            if name in cls.FP_TYPES or name == "void":
                raise TypeError(f"triton_metal does not support the {name} dtype (no {name} arithmetic on Apple GPUs)")
            raise TypeError(f"unknown dtype {name!r}")
        self = super().__new__(cls)
        self.name = name
        lang, short, mantissa, bias = cls._INFO[name]
        self._tm_dtype_name = lang
        self._tm_short = short
        self._lang_name = lang
        if name in cls.SINT_TYPES or name in cls.UINT_TYPES:
            self.int_signedness = cls.SIGNEDNESS.SIGNED if name in cls.SINT_TYPES else cls.SIGNEDNESS.UNSIGNED
            self.int_bitwidth = 1 if name == "int1" else int(name.lstrip("uint"))
            self.primitive_bitwidth = self.int_bitwidth
        else:
            self.fp_mantissa_width = mantissa
            self.exponent_bias = bias
            self.primitive_bitwidth = 8 if name.startswith("fp8") else int(name[-2:])
        cls._INSTANCES[name] = self
        return self

    def __getnewargs__(self):
        return (self.name,)

    @property
    def itemsize(self) -> int:
        return self.primitive_bitwidth // 8

    @property
    def scalar(self):
        return self

    def kind(self):
        if self.is_bool():
            return dtype.KIND.BOOLEAN
        return dtype.KIND.FLOATING if self.is_floating() else dtype.KIND.INTEGRAL

    def is_fp8(self):
        return self.name.startswith("fp8")

    def is_fp8e4nv(self):
        return self.name == "fp8e4nv"

    def is_fp8e4b8(self):
        return self.name == "fp8e4b8"

    def is_fp8e4b15(self):
        return self.name == "fp8e4b15"

    def is_fp8e5(self):
        return self.name == "fp8e5"

    def is_fp8e5b16(self):
        return self.name == "fp8e5b16"

    def is_fp16(self):
        return self.name == "fp16"

    def is_bf16(self):
        return self.name == "bf16"

    def is_fp32(self):
        return self.name == "fp32"

    def is_fp64(self):
        return self.name == "fp64"

    def is_int1(self):
        return self.name == "int1"

    def is_int8(self):
        return self.name == "int8"

    def is_int16(self):
        return self.name == "int16"

    def is_int32(self):
        return self.name == "int32"

    def is_int64(self):
        return self.name == "int64"

    def is_uint8(self):
        return self.name == "uint8"

    def is_uint16(self):
        return self.name == "uint16"

    def is_uint32(self):
        return self.name == "uint32"

    def is_uint64(self):
        return self.name == "uint64"

    def is_floating(self):
        return self.name in dtype.FP_TYPES

    def is_standard_floating(self):
        return self.name in dtype.STANDARD_FP_TYPES

    def is_int_signed(self):
        return self.name in dtype.SINT_TYPES

    def is_int_unsigned(self):
        return self.name in dtype.UINT_TYPES

    def is_int(self):
        return self.name in dtype.SINT_TYPES + dtype.UINT_TYPES

    def is_bool(self):
        return self.is_int1()

    def is_void(self):
        return False

    def is_block(self):
        return False

    def is_ptr(self):
        return False

    def is_const(self):
        return False

    def __repr__(self):
        return f"triton.language.{self._lang_name}"

    def __str__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, constexpr):
            other = other.value
        return type(other) is type(self) and other.name == self.name

    def __hash__(self):
        return hash(("tl.dtype", self.name))


class pointer_type(dtype):
    """``tl.pointer_type(tl.float32)``: the type of a pointer argument (``X.dtype``); kernels
    may cast to one (``x.to(tl.pointer_type(tl.int8))``)."""

    def __new__(cls, element_ty, address_space=1, const=False):
        if isinstance(element_ty, constexpr):
            element_ty = element_ty.value
        if not isinstance(element_ty, dtype):
            raise TypeError(f"pointer_type: element_ty must be a tl.dtype, got {element_ty!r}")
        self = object.__new__(cls)
        self.element_ty = element_ty
        self.address_space = address_space
        self.const = const
        self.name = f"pointer<{element_ty}>" if not const else f"const_pointer<{element_ty}>"
        self._tm_pointer_to = element_ty._tm_dtype_name
        self.primitive_bitwidth = 64
        return self

    def __getnewargs__(self):
        return (self.element_ty, self.address_space, self.const)

    def is_ptr(self):
        return True

    def is_const(self):
        return self.const

    def is_floating(self):
        return False

    def is_int(self):
        return False

    def is_int_signed(self):
        return False

    def is_int_unsigned(self):
        return False

    def is_standard_floating(self):
        return False

    @property
    def scalar(self):
        return self

    def __repr__(self):
        return self.name

    def __eq__(self, other):
        if isinstance(other, constexpr):
            other = other.value
        return isinstance(other, pointer_type) and other.element_ty == self.element_ty and other.const == self.const

    def __hash__(self):
        return hash(("tl.pointer_type", self.element_ty.name, self.const))


class const_pointer_type(pointer_type):
    def __new__(cls, element_ty, address_space=1):
        return pointer_type.__new__(cls, element_ty, address_space, True)


class block_type(dtype):
    """``tl.block_type(element_ty, shape)``, the type of a block (for annotations and
    ``isinstance``); blocks themselves exist only inside kernels."""

    def __new__(cls, element_ty, shape):
        self = object.__new__(cls)
        self.element_ty = element_ty
        self.shape = tuple(getattr(s, "value", s) for s in shape)
        self.numel = 1
        for s in self.shape:
            self.numel *= s
        self.name = f"<{self.shape}, {element_ty}>"
        return self

    def __getnewargs__(self):
        return (self.element_ty, self.shape)

    def is_block(self):
        return True

    @property
    def scalar(self):
        return self.element_ty

    def __repr__(self):
        return self.name

    def __eq__(self, other):
        return isinstance(other, block_type) and (other.element_ty, other.shape) == (self.element_ty, self.shape)

    def __hash__(self):
        return hash(("tl.block_type", self.element_ty.name, self.shape))


class tensor:
    """``tl.tensor``: the type of values inside a kernel, for annotations (``-> tl.tensor``) and
    ``isinstance(x, tl.tensor)`` in kernels. Tensors exist only while a kernel is compiled."""

    def __init__(self, *args, **kwargs):
        raise TypeError("tl.tensor values exist only inside @triton.jit functions")


class const:
    """``tl.const``: annotation of a pointer argument the kernel must not store through
    (``in_ptr: tl.const``)."""






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


# Upstream's shared constants, used as parameter defaults (`descending: tl.constexpr = tl.core.CONSTEXPR_0`).
CONSTEXPR_0 = constexpr(0)
CONSTEXPR_1 = constexpr(1)


int1 = dtype("int1")
int8 = dtype("int8")
int16 = dtype("int16")
int32 = dtype("int32")
int64 = dtype("int64")
uint8 = dtype("uint8")
uint16 = dtype("uint16")
uint32 = dtype("uint32")
uint64 = dtype("uint64")
float16 = dtype("fp16")
bfloat16 = dtype("bf16")
float32 = dtype("fp32")
float64 = dtype("fp64")
float8e4nv = dtype("fp8e4nv")
float8e5 = dtype("fp8e5")
float8e4b15 = dtype("fp8e4b15")
float8e4b8 = dtype("fp8e4b8")
float8e5b16 = dtype("fp8e5b16")
pi32_t = pointer_type(int32)


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


def _unwrap_if_constexpr(o):
    return o.value if isinstance(o, constexpr) else o


# `tl.core.X` names the same device functions as `tl.X` (libraries inspect `tl.core.view`).
globals().update({k: v for k, v in _device_only_functions().items() if k not in globals()})
