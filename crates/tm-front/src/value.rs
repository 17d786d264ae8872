//! What a name can denote while a kernel is lowered: an IR value, a compile-time
//! constant (`tl.constexpr`), a module such as `tl`, or a callable.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use tm_ir::{DType, ValueId};

/// A compile-time value with Python semantics.
#[derive(Clone, Debug, PartialEq)]
pub enum ConstValue {
    None,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    DType(DType),
    /// `tl.pointer_type(d)`, e.g. the `dtype` of a pointer argument.
    PtrType(DType),
    /// `x.type` of a block: upstream's `tl.block_type(element_ty, shape)`; the element is a
    /// `DType` or `PtrType`.
    BlockType(Box<ConstValue>, Vec<u32>),
    Tuple(Vec<ConstValue>),
}

impl ConstValue {
    pub fn type_name(&self) -> &'static str {
        match self {
            ConstValue::None => "None",
            ConstValue::Bool(_) => "bool",
            ConstValue::Int(_) => "int",
            ConstValue::Float(_) => "float",
            ConstValue::Str(_) => "str",
            ConstValue::DType(_) | ConstValue::PtrType(_) => "dtype",
            ConstValue::BlockType(..) => "block_type",
            ConstValue::Tuple(_) => "tuple",
        }
    }

    /// Python truthiness.
    pub fn truthy(&self) -> bool {
        match self {
            ConstValue::None => false,
            ConstValue::Bool(b) => *b,
            ConstValue::Int(i) => *i != 0,
            ConstValue::Float(f) => *f != 0.0,
            ConstValue::Str(s) => !s.is_empty(),
            ConstValue::DType(_) | ConstValue::PtrType(_) | ConstValue::BlockType(..) => true,
            ConstValue::Tuple(t) => !t.is_empty(),
        }
    }

    pub fn as_int(&self) -> Option<i128> {
        match self {
            ConstValue::Int(i) => Some(*i),
            ConstValue::Bool(b) => Some(*b as i128),
            _ => None,
        }
    }
}

impl fmt::Display for ConstValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConstValue::None => f.write_str("None"),
            ConstValue::Bool(b) => f.write_str(if *b { "True" } else { "False" }),
            ConstValue::Int(i) => write!(f, "{i}"),
            ConstValue::Float(x) => write!(f, "{x:?}"),
            ConstValue::Str(s) => write!(f, "{s:?}"),
            ConstValue::DType(d) => write!(f, "tl.{}", d.language_name()),
            ConstValue::PtrType(d) => write!(f, "tl.pointer_type(tl.{})", d.language_name()),
            ConstValue::BlockType(e, shape) => write!(f, "tl.block_type({e}, {shape:?})"),
            ConstValue::Tuple(t) => {
                f.write_str("(")?;
                for (i, v) in t.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                if t.len() == 1 {
                    f.write_str(",")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Python modules the front end understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Module {
    /// `triton`
    Triton,
    /// `triton.language` (`tl`)
    Language,
    /// `triton.language.math` / `libdevice`-style namespaces
    Math,
}

/// A global name seen by the kernel, resolved by the Python side.
#[derive(Clone, Debug)]
pub enum GlobalValue {
    Module(Module),
    Const(ConstValue),
    /// A `tl.*` function imported under another name (`from triton.language import load`).
    Builtin(String),
    /// Another `@triton.jit` function.
    JitFunction(Arc<KernelSource>),
    /// Any other Python module (e.g. a library's module of `@triton.jit` helpers): the
    /// attributes the kernel may read, each resolved like a global.
    Namespace(Arc<Namespace>),
    /// Anything else; the string names its Python type, for the error message.
    Unsupported(String),
}

/// A Python module other than triton's own, as the kernel sees it.
#[derive(Clone, Debug)]
pub struct Namespace {
    /// The module's name (`torch._inductor.runtime.triton_helpers`), for messages.
    pub name: String,
    /// Its attributes named in the kernel's code, by name.
    pub attrs: HashMap<String, GlobalValue>,
}

/// Source of one `@triton.jit` function and the globals its body refers to.
#[derive(Clone, Debug)]
pub struct KernelSource {
    pub name: String,
    /// Dedented source of the function (decorators included).
    pub source: String,
    pub filename: String,
    /// File line of the first line of `source`.
    pub first_line: u32,
    /// Columns removed by dedenting.
    pub col_offset: u32,
    pub globals: HashMap<String, GlobalValue>,
}

/// A name's meaning during lowering.
#[derive(Clone, Debug)]
pub enum Val {
    /// An IR value (scalar or block).
    Tensor(ValueId),
    Const(ConstValue),
    Module(Module),
    /// A module of helpers (see [`GlobalValue::Namespace`]).
    Namespace(Arc<Namespace>),
    /// A function or attribute of a module, e.g. `tl.load` is `Builtin("load")`.
    Builtin(&'static str),
    /// A method bound to a tensor, e.g. `x.to`.
    Method(ValueId, &'static str),
    JitFunction(Arc<KernelSource>),
    /// A tuple of values (e.g. returned by a helper or written as `(a, b)`).
    Tuple(Vec<Val>),
    /// A tensor descriptor made in the kernel (`tl.make_tensor_descriptor`).
    Descriptor(Arc<Descriptor>),
    /// A method bound to a descriptor (`desc.load`, `desc.store`).
    DescriptorMethod(Arc<Descriptor>, &'static str),
    /// A block pointer (`tl.make_block_ptr`, moved by `tl.advance`).
    BlockPtr(Arc<BlockPtr>),
    /// A zero-argument method of a compile-time value answered at compile time, e.g.
    /// `x.dtype.is_floating` (called, it is `Const(Bool(..))`).
    ConstMethod(ConstValue, bool),
    /// The index of a `tl.static_range` loop kept as a loop, or an integer computed from it
    /// and Python integers (see `static_loop.rs`): what the unrolled loop would have as a
    /// compile-time integer, here a runtime scalar. Only the operations that give the same
    /// result either way accept it; any other use makes the loop unroll.
    LoopIndex(LoopIndex),
}

/// A runtime int32 scalar (an i1 after a comparison) standing for a compile-time integer
/// of an unrolled `tl.static_range` loop, with the bounds `lo..=hi` of its values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoopIndex {
    pub v: ValueId,
    pub lo: i64,
    pub hi: i64,
}

/// A descriptor plus the offsets of the block it points at (int64 scalars).
#[derive(Clone, Debug)]
pub struct BlockPtr {
    pub desc: Descriptor,
    pub offsets: Vec<ValueId>,
}

/// A block view of a strided tensor: where it starts, its extent and strides
/// (elements), and the block shape its loads and stores move.
#[derive(Clone, Debug)]
pub struct Descriptor {
    pub base: ValueId,
    pub shape: Vec<ValueId>,
    pub strides: Vec<ValueId>,
    pub block_shape: Vec<u32>,
}

impl Val {
    pub fn kind_name(&self) -> &'static str {
        match self {
            Val::Tensor(_) => "tensor",
            Val::Const(c) => c.type_name(),
            Val::Module(_) | Val::Namespace(_) => "module",
            Val::Builtin(_) => "builtin function",
            Val::Method(..) => "method",
            Val::JitFunction(_) => "jit function",
            Val::Tuple(_) => "tuple",
            Val::Descriptor(_) => "tensor descriptor",
            Val::DescriptorMethod(..) => "method",
            Val::BlockPtr(_) => "block pointer",
            Val::ConstMethod(..) => "method",
            Val::LoopIndex(_) => "tl.static_range index",
        }
    }
}
