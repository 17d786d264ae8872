//! Functions, ops and regions: the SSA structure of the block IR.
//!
//! Values and ops live in arenas owned by the [`Func`]; regions hold op ids in
//! order. Structured control flow (`scf.for`, `scf.if`) nests regions whose
//! terminator is a `Yield`.

use crate::{DType, Type};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId(pub u32);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u32);

/// A source position in the kernel's Python file (1-based line and column).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Index into [`Func::sources`].
    pub file: u16,
    pub line: u32,
    pub col: u32,
}

/// A source file (one jit function's text) that locations point into.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceFile {
    pub filename: String,
    pub function: String,
    /// File line number of `lines[0]`.
    pub first_line: u32,
    pub lines: Vec<String>,
}

impl SourceFile {
    /// The text of file line `line`, if it is inside this function.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        let i = line.checked_sub(self.first_line)? as usize;
        self.lines.get(i).map(|s| s.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    /// Float division, or integer division truncating toward zero (C, not Python).
    Div,
    /// Float `fmod`, or integer remainder with the sign of the dividend (C, not Python).
    Rem,
    And,
    Or,
    Xor,
    Shl,
    /// Arithmetic for signed, logical for unsigned element types.
    Shr,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CmpPred {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    Neg,
    /// Bitwise not (`~`); logical not on `i1`.
    Not,
}

/// Floating-point math functions (`math.*` in TTIR). Operands and result share
/// one float type; `Fma` takes three operands, the rest one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathFn {
    Exp,
    Exp2,
    Log,
    Log2,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    Erf,
    Floor,
    Ceil,
    Abs,
    Fma,
    Log1p,
    Expm1,
    Trunc,
    Rint,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    /// Binary: `pow(x, y)`.
    Pow,
    /// Binary: `atan2(y, x)`.
    Atan2,
    /// Binary: `x / y` correctly rounded (`tl.math.div_rn`, Triton's `tt.precise_divf`);
    /// a float `Binary(Div)` is Triton's `arith.divf`, which may be approximate.
    DivRn,
    // libdevice functions (`tl.extra.libdevice`), float32.
    Exp10,
    Log10,
    Acosh,
    Asinh,
    Atanh,
    Sinpi,
    Cospi,
    /// Rounds halfway cases away from zero (`roundf`); `Rint` rounds them to even.
    Round,
    Cbrt,
    Erfc,
    /// Binary: `copysign(x, y)`.
    Copysign,
    /// Binary: `fdim(x, y)` = max(x - y, 0).
    Fdim,
    /// Binary: `hypot(x, y)` without undue overflow or underflow.
    Hypot,
}

impl MathFn {
    pub fn name(self) -> &'static str {
        match self {
            MathFn::Exp => "exp",
            MathFn::Exp2 => "exp2",
            MathFn::Log => "log",
            MathFn::Log2 => "log2",
            MathFn::Sqrt => "sqrt",
            MathFn::Rsqrt => "rsqrt",
            MathFn::Sin => "sin",
            MathFn::Cos => "cos",
            MathFn::Tan => "tan",
            MathFn::Tanh => "tanh",
            MathFn::Erf => "erf",
            MathFn::Floor => "floor",
            MathFn::Ceil => "ceil",
            MathFn::Abs => "absf",
            MathFn::Fma => "fma",
            MathFn::Log1p => "log1p",
            MathFn::Expm1 => "expm1",
            MathFn::Trunc => "trunc",
            MathFn::Rint => "rint",
            MathFn::Asin => "asin",
            MathFn::Acos => "acos",
            MathFn::Atan => "atan",
            MathFn::Sinh => "sinh",
            MathFn::Cosh => "cosh",
            MathFn::Pow => "pow",
            MathFn::Atan2 => "atan2",
            MathFn::DivRn => "precise_divf",
            MathFn::Exp10 => "exp10",
            MathFn::Log10 => "log10",
            MathFn::Acosh => "acosh",
            MathFn::Asinh => "asinh",
            MathFn::Atanh => "atanh",
            MathFn::Sinpi => "sinpi",
            MathFn::Cospi => "cospi",
            MathFn::Round => "round",
            MathFn::Cbrt => "cbrt",
            MathFn::Erfc => "erfc",
            MathFn::Copysign => "copysign",
            MathFn::Fdim => "fdim",
            MathFn::Hypot => "hypot",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HintKind {
    MultipleOf,
    MaxContiguous,
    MaxConstancy,
}

/// Read-modify-write atomics (`tt.atomic_rmw`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    Add,
    Max,
    Min,
    And,
    Or,
    Xor,
    Xchg,
}

impl AtomicOp {
    pub fn name(self) -> &'static str {
        match self {
            AtomicOp::Add => "add",
            AtomicOp::Max => "max",
            AtomicOp::Min => "min",
            AtomicOp::And => "and",
            AtomicOp::Or => "or",
            AtomicOp::Xor => "xor",
            AtomicOp::Xchg => "xchg",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CastKind {
    /// Value conversion (int<->float, widen, narrow, to/from bool).
    Convert,
    /// Narrowing float conversion rounding toward zero (`fp_downcast_rounding="rtz"`):
    /// finite values beyond the largest become the largest finite value, infinities stay
    /// infinite where the format has them, NaN stays NaN.
    ConvertRtz,
    /// Reinterpret the bits (same width).
    Bitcast,
    /// Pointer to pointer of another element type.
    PtrCast,
    /// Pointer to `i64` address.
    PtrToInt,
    IntToPtr,
}

/// A compile-time constant's payload; its type is the result type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Const {
    Int(i64),
    Float(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum OpKind {
    /// `arith.constant`, scalar or splatted block.
    Constant(Const),
    /// `tt.get_program_id` along axis 0..2.
    ProgramId(u8),
    /// `tt.get_num_programs`.
    NumPrograms(u8),
    /// `tt.make_range {start, end}`: `tensor<(end-start)xi32>`.
    MakeRange { start: i32, end: i32 },
    /// Scalar to block of the result shape.
    Splat,
    /// Block with size-1 dims to the result shape.
    Broadcast,
    /// Insert a size-1 dim at `axis`.
    ExpandDims(u32),
    Binary(BinOp),
    Cmp(CmpPred),
    Unary(UnOp),
    Math(MathFn),
    /// High 32/64 bits of the full product of two unsigned or signed integers.
    MulHi,
    Cast(CastKind),
    /// `arith.select`/`tl.where`: cond, true value, false value.
    Select,
    /// `tt.addptr`: pointer, integer offset in elements.
    AddPtr,
    /// `tt.load`: ptr [, mask [, other]].
    Load { has_mask: bool, has_other: bool },
    /// `tt.store`: ptr, value [, mask].
    Store { has_mask: bool },
    /// `tt.trans`: result dim `i` is operand dim `perm[i]`.
    Trans(Vec<u32>),
    /// `tt.reshape`: same elements in row-major order, another shape.
    Reshape,
    /// `tt.join`: two blocks of one shape to one with a new last dim of 2.
    Join,
    /// `tt.split`: a block whose last dim is 2 to two blocks without it.
    Split,
    /// `tt.cat`: two blocks concatenated along dim 0.
    Cat,
    /// Identity carrying a programmer's promise about the value, per dim
    /// (`tl.multiple_of`, `tl.max_contiguous`, `tl.max_constancy`).
    Hint { kind: HintKind, values: Vec<u64> },
    /// `tt.dot`: a `[M, K]` times b `[K, N]` plus acc `[M, N]`; the result has acc's type.
    Dot,
    /// `tt.reduce` along `axis` of N same-shape blocks: one region with 2N
    /// scalar arguments (accumulated values, then new values) yielding N values.
    Reduce { axis: u32 },
    /// `tt.scan` along `axis` (inclusive; from the end when `reverse`), with a
    /// combine region like `Reduce`'s (left value first).
    Scan { axis: u32, reverse: bool },
    /// Sort along the last dim.
    Sort { descending: bool },
    /// Reverse the order along the last dim.
    Flip,
    /// `tt.histogram`: counts of each value in `[0, bins)` of an integer block.
    Histogram { bins: u32 },
    /// `tt.gather`: src, index (same rank, same shape except along `axis`);
    /// `out[.., i, ..] = src[.., index[.., i, ..], ..]` (0 where the index is outside src).
    Gather { axis: u32 },
    /// `tt.atomic_rmw`: ptr, val [, mask]; the result is the old value.
    AtomicRmw { op: AtomicOp, has_mask: bool },
    /// `tt.atomic_cas`: ptr, cmp, val; the result is the old value.
    AtomicCas,
    /// `tt.print` (`tl.device_print`): prints every element of the operands.
    Print { prefix: String, hex: bool },
    /// `tt.assert` (`tl.device_assert`): fails the launch where the condition is false.
    Assert { message: String },
    /// `gpu.barrier` (`tl.debug_barrier`).
    Barrier,
    /// `scf.while`: operands are the initial carried values; region 0 computes
    /// the condition (its `Yield` carries one i1), region 1 is the body (its
    /// `Yield` carries the next values). Both regions take the carried values
    /// as arguments; the results are the values when the condition fails.
    While,
    /// Structured `for` over `[lb, ub)` by `step`: operands lb, ub, step, inits...;
    /// region args: induction variable then carried values; results: carried values.
    For,
    /// `scf.if`: operand cond; regions then, else; results yielded by both.
    If,
    /// Region terminator carrying the yielded values.
    Yield,
    /// `tt.return` (kernels return nothing).
    Return,
}

impl OpKind {
    /// Ops computed element by element from same-shape operands (their
    /// operands take the result's layout; they are cheap to recompute).
    pub fn is_elementwise(&self) -> bool {
        matches!(
            self,
            OpKind::Binary(_)
                | OpKind::Cmp(_)
                | OpKind::Unary(_)
                | OpKind::Cast(_)
                | OpKind::Select
                | OpKind::AddPtr
                | OpKind::Hint { .. }
                | OpKind::Math(_)
                | OpKind::MulHi
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    pub kind: OpKind,
    pub operands: Vec<ValueId>,
    pub results: Vec<ValueId>,
    pub regions: Vec<Region>,
    pub loc: Loc,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Region {
    pub args: Vec<ValueId>,
    pub ops: Vec<OpId>,
}

/// Where a value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueDef {
    /// The n-th kernel argument.
    Arg(u32),
    /// A region argument (loop induction variable or carried value).
    RegionArg,
    /// The n-th result of an op.
    Result(OpId, u32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ValueData {
    pub ty: Type,
    pub def: ValueDef,
}

/// A kernel argument as the IR sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    pub name: String,
    pub value: ValueId,
    /// Known divisibility of the value (elements for ints, bytes for pointers);
    /// 1 when nothing is known. Comes from launch specialisation.
    pub divisibility: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Func {
    pub name: String,
    pub args: Vec<Arg>,
    pub values: Vec<ValueData>,
    pub ops: Vec<Op>,
    pub body: Region,
    /// Sources that op locations refer to (the kernel and inlined callees).
    pub sources: Vec<SourceFile>,
}

impl Func {
    pub fn new(name: impl Into<String>) -> Func {
        Func { name: name.into(), ..Default::default() }
    }

    pub fn ty(&self, v: ValueId) -> &Type {
        &self.values[v.0 as usize].ty
    }
    pub fn value(&self, v: ValueId) -> &ValueData {
        &self.values[v.0 as usize]
    }
    pub fn op(&self, id: OpId) -> &Op {
        &self.ops[id.0 as usize]
    }
    pub fn op_mut(&mut self, id: OpId) -> &mut Op {
        &mut self.ops[id.0 as usize]
    }

    pub fn new_value(&mut self, ty: Type, def: ValueDef) -> ValueId {
        let id = ValueId(self.values.len() as u32);
        self.values.push(ValueData { ty, def });
        id
    }

    pub fn add_arg(&mut self, name: impl Into<String>, ty: Type, divisibility: u64) -> ValueId {
        let v = self.new_value(ty, ValueDef::Arg(self.args.len() as u32));
        self.args.push(Arg { name: name.into(), value: v, divisibility });
        v
    }

    /// Creates an op (not yet placed in a region) with fresh result values.
    pub fn create_op(
        &mut self,
        kind: OpKind,
        operands: Vec<ValueId>,
        result_types: Vec<Type>,
        regions: Vec<Region>,
        loc: Loc,
    ) -> OpId {
        let id = OpId(self.ops.len() as u32);
        let results =
            result_types.into_iter().enumerate().map(|(i, t)| self.new_value(t, ValueDef::Result(id, i as u32))).collect();
        self.ops.push(Op { kind, operands, results, regions, loc });
        id
    }

    /// The op that defines `v`, if any.
    pub fn def_op(&self, v: ValueId) -> Option<OpId> {
        match self.value(v).def {
            ValueDef::Result(op, _) => Some(op),
            _ => None,
        }
    }

    /// The constant payload of `v` if it is defined by a `Constant` op.
    pub fn as_const(&self, v: ValueId) -> Option<Const> {
        let op = self.op(self.def_op(v)?);
        match op.kind {
            OpKind::Constant(c) => Some(c),
            _ => None,
        }
    }

    /// Visits every op id reachable from the body, parents before children.
    pub fn walk(&self, mut f: impl FnMut(OpId)) {
        fn go(func: &Func, region: &Region, f: &mut dyn FnMut(OpId)) {
            for &id in &region.ops {
                f(id);
                for r in &func.op(id).regions {
                    go(func, r, f);
                }
            }
        }
        go(self, &self.body, &mut f);
    }

    /// Scalar element type of `v` (panics on pointers; callers check first).
    pub fn dtype(&self, v: ValueId) -> Option<DType> {
        self.ty(v).dtype()
    }
}
