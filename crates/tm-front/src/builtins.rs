//! `tl.*` functions, tensor methods and the few Python builtins a kernel may call.
//! Name tables first, then one lowering per builtin.

use crate::lower::{Lowerer, R};
use crate::semantic::Operand;
use crate::value::{ConstValue, Val};
use ruff_text_size::TextRange;
use crate::semantic::broadcast_shapes;
use tm_ir::{BinOp, DType, Elem, MathFn, OpKind, Type};

/// Call arguments: positional, then keyword, each with its source range.
#[derive(Default)]
pub struct Args {
    pub pos: Vec<(Val, TextRange)>,
    pub kw: Vec<(String, Val, TextRange)>,
}

type Bound = Vec<Option<(Val, TextRange)>>;

/// Every `tl.*` function the front end implements.
pub const LANGUAGE: &[&str] = &[
    "program_id",
    "num_programs",
    "arange",
    "load",
    "store",
    "where",
    "maximum",
    "minimum",
    "zeros",
    "full",
    "cdiv",
    "_log2",
    "get_int_dtype",
    "_unwrap_if_constexpr",
    "constexpr",
    "static_assert",
    "multiple_of",
    "range",
    "static_range",
    "max_contiguous",
    "max_constancy",
    "exp",
    "exp2",
    "log",
    "log2",
    "sqrt",
    "sqrt_rn",
    "rsqrt",
    "sin",
    "cos",
    "tan",
    "tanh",
    "erf",
    "floor",
    "ceil",
    "abs",
    "fma",
    "sigmoid",
    "fdiv",
    "div_rn",
    "umulhi",
    "clamp",
    "expand_dims",
    "broadcast_to",
    "broadcast",
    "sum",
    "max",
    "min",
    "argmax",
    "argmin",
    "xor_sum",
    "reduce",
    "dot",
    "dot_scaled",
    "pointer_type",
    "trans",
    "permute",
    "reshape",
    "view",
    "ravel",
    "join",
    "split",
    "cat",
    "zeros_like",
    "full_like",
    "atomic_add",
    "atomic_max",
    "atomic_min",
    "atomic_and",
    "atomic_or",
    "atomic_xor",
    "atomic_xchg",
    "atomic_cas",
    "debug_barrier",
    "cumsum",
    "cumprod",
    "associative_scan",
    "sort",
    "flip",
    "histogram",
    "softmax",
    "static_print",
    "device_print",
    "device_assert",
    "PropagateNan",
    "randint",
    "randint4x",
    "rand",
    "rand4x",
    "randn",
    "randn4x",
    "log1p",
    "expm1",
    "trunc",
    "rint",
    "nearbyint",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "pow",
    "atan2",
    "isnan",
    "isinf",
    "signbit",
    "fast_expf",
    "fast_logf",
    "fast_dividef",
    "div_rz",
    "make_tensor_descriptor",
    "make_block_ptr",
    "advance",
    "cast",
    "interleave",
    "swizzle2d",
    "assume",
    "uint_to_uniform_float",
    "pair_uniform_to_normal",
    "gather",
    // Types, usable in `isinstance(x, tl.tensor)` (and in annotations, which kernels ignore).
    "tensor",
    "dtype",
];

/// `tl.<name>` as a builtin, if supported.
pub fn language_attr(name: &str) -> Option<Val> {
    LANGUAGE.iter().chain(crate::libdevice::NAMES).find(|&&n| n == name).map(|&n| Val::Builtin(n))
}

/// `triton.<name>` as a builtin, if supported.
pub fn triton_attr(name: &str) -> Option<Val> {
    match name {
        "cdiv" => Some(Val::Builtin("cdiv")),
        "next_power_of_2" => Some(Val::Builtin("next_power_of_2")),
        _ => None,
    }
}

/// Tensor methods (`x.to(...)`).
pub fn tensor_method(name: &str) -> Option<&'static str> {
    // Triton's `_tensor_member_fn`s: `x.exp()` is `tl.exp(x)`.
    const METHODS: &[&str] = &[
        "to", "sum", "max", "min", "argmax", "argmin", "xor_sum", "reduce", "trans", "permute", "reshape", "view", "ravel",
        "split", "cumsum", "cumprod", "sort", "flip", "histogram", "abs", "exp", "exp2", "log", "log2", "sqrt", "rsqrt", "sin",
        "cos", "erf", "floor", "ceil", "sigmoid", "softmax", "expand_dims", "broadcast_to", "associative_scan", "cast",
        "logical_and", "logical_or",
    ];
    METHODS.iter().find(|&&m| m == name).copied()
}

pub fn python_builtin(name: &str) -> &'static str {
    match name {
        "range" => "range",
        "min" => "py_min",
        "max" => "py_max",
        "len" => "len",
        "int" => "int",
        "float" => "float",
        "bool" => "bool",
        "abs" => "abs",
        "isinstance" => "isinstance",
        "getattr" => "getattr",
        "hasattr" => "hasattr",
        "tuple" => "tuple",
        "str" => "str",
        // Python's print in a kernel is tl.device_print, as in Triton.
        _ => "device_print",
    }
}

pub(crate) fn shape_of(c: &ConstValue) -> Option<Vec<u32>> {
    let items = match c {
        ConstValue::Tuple(t) => t.clone(),
        ConstValue::Int(_) => vec![c.clone()],
        _ => return None,
    };
    items.iter().map(|i| i.as_int().and_then(|v| u32::try_from(v).ok())).collect()
}

impl Lowerer<'_> {
    /// Matches arguments to parameter names like Python does.
    pub(crate) fn bind_args(&self, fname: &str, args: Args, names: &[&str], required: usize, range: TextRange) -> R<Bound> {
        self.bind(fname, args, names, required, range)
    }

    pub(crate) fn bind(&self, fname: &str, args: Args, names: &[&str], required: usize, range: TextRange) -> R<Bound> {
        let mut out: Bound = vec![None; names.len()];
        if args.pos.len() > names.len() {
            return Err(self.err(range, format!("{fname}() takes at most {} arguments ({} given)", names.len(), args.pos.len())));
        }
        for (i, a) in args.pos.into_iter().enumerate() {
            out[i] = Some(a);
        }
        for (k, v, r) in args.kw {
            let Some(i) = names.iter().position(|n| *n == k) else {
                return Err(self.err(r, format!("{fname}() got an unexpected keyword argument '{k}'")));
            };
            if out[i].is_some() {
                return Err(self.err(r, format!("{fname}() got multiple values for argument '{k}'")));
            }
            out[i] = Some((v, r));
        }
        for (i, n) in names.iter().enumerate().take(required) {
            if out[i].is_none() {
                return Err(self.err(range, format!("{fname}() missing required argument '{n}'")));
            }
        }
        Ok(out)
    }

    /// `fp_downcast_rounding` (upstream's rule): only for a narrowing float conversion, where
    /// "rtne" (the default) rounds to nearest even and "rtz" toward zero; returns whether rtz.
    fn downcast_rounding(&self, fname: &str, a: &Option<(Val, TextRange)>, x: tm_ir::ValueId, d: DType) -> R<bool> {
        let Some(a) = a else { return Ok(false) };
        let mode = match self.const_arg(fname, "fp_downcast_rounding", a)? {
            ConstValue::None => return Ok(false),
            ConstValue::Str(m) if m == "rtne" || m == "rtz" => m,
            other => return Err(self.err(a.1, format!("fp_downcast_rounding must be 'rtne' or 'rtz', got {other}"))),
        };
        match self.f.ty(x).dtype() {
            Some(s) if s.is_float() && d.is_float() && d.bits() < s.bits() => Ok(mode == "rtz"),
            s => Err(self.err(
                a.1,
                format!(
                    "fp_downcast_rounding should be set only for truncating fp conversions. Source scalar type is {} and destination type is {}",
                    s.map_or("pointer", crate::dtype_attrs::upstream_name),
                    crate::dtype_attrs::upstream_name(d)
                ),
            )),
        }
    }

    pub(crate) fn const_arg(&self, fname: &str, pname: &str, a: &(Val, TextRange)) -> R<ConstValue> {
        match &a.0 {
            Val::Const(c) => Ok(c.clone()),
            other => Err(self.err(
                a.1,
                format!("argument '{pname}' of {fname}() must be a tl.constexpr (known at compile time), got a runtime {}", other.kind_name()),
            )),
        }
    }

    pub(crate) fn int_arg(&self, fname: &str, pname: &str, a: &(Val, TextRange)) -> R<i128> {
        let c = self.const_arg(fname, pname, a)?;
        c.as_int().ok_or_else(|| self.err(a.1, format!("argument '{pname}' of {fname}() must be an integer, got {}", c.type_name())))
    }

    pub(crate) fn dtype_arg(&self, fname: &str, pname: &str, a: &(Val, TextRange)) -> R<DType> {
        match self.const_arg(fname, pname, a)? {
            ConstValue::DType(d) => Ok(d),
            other => Err(self.err(a.1, format!("argument '{pname}' of {fname}() must be a dtype such as tl.float32, got {other}"))),
        }
    }

    pub(crate) fn is_none(a: &Option<(Val, TextRange)>) -> bool {
        matches!(a, None | Some((Val::Const(ConstValue::None), _)))
    }

    pub fn call_builtin(&mut self, name: &'static str, recv: Option<tm_ir::ValueId>, mut args: Args, range: TextRange) -> R<Val> {
        let t = |v: tm_ir::ValueId| Ok(Val::Tensor(v));
        // A method call passes the tensor as the first argument, except where
        // the lowering takes the receiver itself.
        let takes_receiver = matches!(
            name,
            "to" | "sum" | "max" | "min" | "argmax" | "argmin" | "xor_sum" | "reduce" | "trans" | "permute" | "reshape"
                | "view" | "ravel" | "split" | "cumsum" | "cumprod" | "associative_scan" | "sort" | "flip" | "histogram"
        );
        let recv = match recv {
            Some(r) if !takes_receiver => {
                args.pos.insert(0, (Val::Tensor(r), range));
                None
            }
            other => other,
        };
        match (name, recv) {
            ("sum" | "max" | "min" | "argmax" | "argmin" | "xor_sum" | "reduce", _) => {
                self.lower_reduction(name, recv, args, range)
            }
            ("to", Some(x)) => {
                let b = self.bind("to", args, &["dtype", "fp_downcast_rounding", "bitcast"], 1, range)?;
                let bitcast = match &b[2] {
                    Some(a) => self.const_arg("to", "bitcast", a)?.truthy(),
                    None => false,
                };
                if let ConstValue::PtrType(p) = self.const_arg("to", "dtype", b[0].as_ref().expect("required"))? {
                    return t(self.bitcast(x, Elem::Ptr(p), range)?);
                }
                let d = self.dtype_arg("to", "dtype", b[0].as_ref().expect("required"))?;
                let rtz = self.downcast_rounding("to", &b[1], x, d)?;
                if bitcast {
                    t(self.bitcast(x, Elem::Scalar(d), range)?)
                } else if rtz {
                    t(self.cast_rtz(x, d))
                } else {
                    t(self.cast(x, d, range)?)
                }
            }
            ("num_threads" | "num_warps", _) => {
                self.bind(name, args, &[], 0, range)?;
                let w = self.num_warps.ok_or_else(|| self.err(range, format!("tl.extra.cuda.{name}() needs the launch's num_warps")))?;
                let n = if name == "num_threads" { w * 32 } else { w };
                Ok(Val::Const(ConstValue::Int(n as i128)))
            }
            ("program_id" | "num_programs", _) => {
                let b = self.bind(name, args, &["axis"], 1, range)?;
                let a = b[0].as_ref().expect("required");
                let axis = self.int_arg(name, "axis", a)?;
                if !(0..3).contains(&axis) {
                    return Err(self.err(a.1, format!("{name} axis must be 0, 1, or 2 but got {axis}")));
                }
                let kind = if name == "program_id" { OpKind::ProgramId(axis as u8) } else { OpKind::NumPrograms(axis as u8) };
                t(self.emit1(kind, vec![], Type::scalar(DType::I32)))
            }
            ("arange", _) => {
                let b = self.bind(name, args, &["start", "end"], 2, range)?;
                let start = self.int_arg(name, "start", b[0].as_ref().expect("required"))?;
                let end = self.int_arg(name, "end", b[1].as_ref().expect("required"))?;
                if i32::try_from(start).is_err() || i32::try_from(end).is_err() {
                    return Err(self.err(range, "arange's start and end must fit in int32"));
                }
                if end <= start {
                    return Err(self.err(range, format!("arange's end ({end}) must be greater than start ({start})")));
                }
                let n = end - start;
                if (n as u128).count_ones() != 1 {
                    return Err(self.err(range, format!("arange's range must be a power of 2, got {n} ({start}..{end})")));
                }
                if n > 1 << 20 {
                    return Err(self.err(range, format!("arange of {n} elements is too large (at most 2**20)")));
                }
                let ty = Type::block(Elem::Scalar(DType::I32), vec![n as u32]);
                t(self.emit1(OpKind::MakeRange { start: start as i32, end: end as i32 }, vec![], ty))
            }
            ("load", _) => self.lower_load(args, range),
            ("store", _) => self.lower_store(args, range),
            ("where", _) => {
                let b = self.bind(name, args, &["condition", "x", "y"], 3, range)?;
                let ops: Vec<Operand> =
                    b.iter().map(|a| a.as_ref().expect("required")).map(|(v, r)| self.operand(v, *r)).collect::<R<_>>()?;
                let [c, x, y] = <[Operand; 3]>::try_from(ops).map_err(|_| self.err(range, "where takes 3 arguments"))?;
                t(self.select(c, x, y, range)?)
            }
            ("maximum" | "minimum", _) => {
                let b = self.bind(name, args, &["x", "y", "propagate_nan"], 2, range)?;
                let x = self.operand(&b[0].as_ref().expect("required").0, range)?;
                let y = self.operand(&b[1].as_ref().expect("required").0, range)?;
                let op = if name == "maximum" { BinOp::Max } else { BinOp::Min };
                let propagate = match &b[2] {
                    Some((Val::Const(c), _)) => c.truthy(),
                    Some((_, r)) => return Err(self.err(*r, "propagate_nan must be a tl.PropagateNan constant")),
                    None => false,
                };
                let m = self.arith(op, x.clone(), y.clone(), false, range)?;
                if !propagate || !self.f.ty(m).dtype().is_some_and(|d| d.is_float()) {
                    return t(m);
                }
                // PropagateNan.ALL: a NaN in either operand gives NaN.
                let d = self.f.ty(m).dtype().expect("float");
                let (xv, yv, _) = self.unify(&x, &y, d, range)?;
                let y_nan = self.compare(tm_ir::CmpPred::Ne, Operand::Value(yv), Operand::Value(yv), range)?;
                let m = self.select(Operand::Value(y_nan), Operand::Value(yv), Operand::Value(m), range)?;
                let x_nan = self.compare(tm_ir::CmpPred::Ne, Operand::Value(xv), Operand::Value(xv), range)?;
                t(self.select(Operand::Value(x_nan), Operand::Value(xv), Operand::Value(m), range)?)
            }
            ("PropagateNan", _) => Err(self.err(range, "tl.PropagateNan is a namespace: use tl.PropagateNan.ALL or .NONE")),
            ("softmax", _) => {
                let b = self.bind(name, args, &["x", "dim", "keep_dims", "ieee_rounding"], 1, range)?;
                let (xv, xr) = b[0].clone().expect("required");
                let x = self.tensor(&xv, xr)?;
                let dim = match &b[1] {
                    None | Some((Val::Const(ConstValue::None), _)) => 0,
                    Some((Val::Const(c), r)) => c.as_int().ok_or_else(|| self.err(*r, "dim must be an integer"))?,
                    Some((_, r)) => return Err(self.err(*r, "dim must be a tl.constexpr")),
                };
                let keep = matches!(&b[2], Some((Val::Const(c), _)) if c.truthy());
                let mx = self.reduce(vec![x], Some(dim), true, crate::reduce::Combine::Binary(BinOp::Max), range)?[0];
                let z = self.arith(BinOp::Sub, Operand::Value(x), Operand::Value(mx), false, range)?;
                let ty = self.f.ty(z).clone();
                let num = self.emit1(OpKind::Math(MathFn::Exp), vec![z], ty);
                let den = self.reduce(vec![num], Some(dim), true, crate::reduce::Combine::Binary(BinOp::Add), range)?[0];
                let out = self.arith(BinOp::Div, Operand::Value(num), Operand::Value(den), true, range)?;
                let _ = keep;
                t(out)
            }
            ("static_print", _) => {
                let parts: Vec<String> = args.pos.iter().map(|(v, _)| match v {
                    Val::Const(ConstValue::Str(s)) => s.clone(),
                    Val::Const(c) => c.to_string(),
                    Val::Tensor(x) => tm_ir::describe_type(self.f.ty(*x)),
                    other => other.kind_name().to_string(),
                }).collect();
                println!("{}", parts.join(" "));
                Ok(Val::Const(ConstValue::None))
            }
            ("device_print", _) => {
                let mut pos = args.pos.into_iter();
                let prefix = match pos.next() {
                    Some((Val::Const(ConstValue::Str(s)), _)) => s,
                    _ => return Err(self.err(range, "device_print's first argument must be a string prefix")),
                };
                let hex = args.kw.iter().any(|(k, v, _)| k == "hex" && matches!(v, Val::Const(c) if c.truthy()));
                let mut vals = vec![];
                for (v, r) in pos {
                    let x = self.tensor(&v, r)?;
                    if self.f.ty(x).elem.is_ptr() {
                        return Err(self.err(r, "device_print of pointers is not supported"));
                    }
                    vals.push(x);
                }
                self.emit(OpKind::Print { prefix, hex }, vals, vec![], vec![]);
                Ok(Val::Const(ConstValue::None))
            }
            ("device_assert", _) => {
                let b = self.bind(name, args, &["cond", "msg", "mask"], 1, range)?;
                let (cv, cr) = b[0].clone().expect("required");
                let msg = match &b[1] {
                    Some((Val::Const(ConstValue::Str(s)), _)) => s.clone(),
                    _ => String::new(),
                };
                if let Val::Const(c) = &cv {
                    if !c.truthy() {
                        return Err(self.err(cr, format!("device_assert of a constant false: {msg}")));
                    }
                    return Ok(Val::Const(ConstValue::None));
                }
                let c = self.tensor(&cv, cr)?;
                let c = self.to_bool(c, cr)?;
                let (line, _, text) = self.location(range);
                let message = format!("{}:{line}: device_assert failed: {} ({})", self.filename(), if msg.is_empty() { text.trim().to_string() } else { msg }, text.trim());
                self.emit(OpKind::Assert { message }, vec![c], vec![], vec![]);
                Ok(Val::Const(ConstValue::None))
            }
            ("zeros" | "full", _) => {
                let (shape_a, value, dtype_a) = if name == "zeros" {
                    let b = self.bind(name, args, &["shape", "dtype"], 2, range)?;
                    (b[0].clone(), ConstValue::Int(0), b[1].clone())
                } else {
                    let b = self.bind(name, args, &["shape", "value", "dtype"], 3, range)?;
                    let va = b[1].clone().expect("required");
                    if let Val::Tensor(v) = va.0 {
                        // A runtime scalar value (upstream: splat of the value cast to dtype).
                        if self.f.ty(v).is_block() {
                            return Err(self.err(va.1, "tl.full: value must be a scalar, got a block"));
                        }
                        let sa = b[0].clone().expect("required");
                        let shape = shape_of(&self.const_arg(name, "shape", &sa)?)
                            .ok_or_else(|| self.err(sa.1, "shape must be a tuple of integers"))?;
                        if shape.iter().any(|s| !s.is_power_of_two()) {
                            return Err(self.err(sa.1, format!("block shapes must be powers of 2, got {shape:?}")));
                        }
                        let d = self.dtype_arg(name, "dtype", b[2].as_ref().expect("required"))?;
                        self.check_dtype_supported(d, range)?;
                        let s = self.cast(v, d, range)?;
                        return t(self.broadcast_to(s, &shape, range)?);
                    }
                    let v = self.const_arg(name, "value", &va)?;
                    (b[0].clone(), v, b[2].clone())
                };
                let sa = shape_a.expect("required");
                let shape = shape_of(&self.const_arg(name, "shape", &sa)?)
                    .ok_or_else(|| self.err(sa.1, "shape must be a tuple of integers"))?;
                if shape.iter().any(|s| !s.is_power_of_two()) {
                    return Err(self.err(sa.1, format!("block shapes must be powers of 2, got {shape:?}")));
                }
                let d = self.dtype_arg(name, "dtype", dtype_a.as_ref().expect("required"))?;
                self.check_dtype_supported(d, range)?;
                let s = self.const_scalar(d, &value, range)?;
                t(self.broadcast_to(s, &shape, range)?)
            }
            ("_unwrap_if_constexpr", _) => {
                let b = self.bind(name, args, &["o"], 1, range)?;
                Ok(b[0].clone().expect("required").0)
            }
            ("get_int_dtype", _) => {
                let b = self.bind(name, args, &["bitwidth", "signed"], 2, range)?;
                let (bits, br) = b[0].clone().expect("required");
                let (signed, sr) = b[1].clone().expect("required");
                let bits = match bits {
                    Val::Const(c) => c.as_int(),
                    _ => None,
                }
                .ok_or_else(|| self.err(br, "get_int_dtype: bitwidth must be a constexpr integer"))?;
                let signed = match signed {
                    Val::Const(ConstValue::Bool(s)) => s,
                    _ => return Err(self.err(sr, "get_int_dtype: signed must be a constexpr bool")),
                };
                DType::int_of_bits(u32::try_from(bits).unwrap_or(0), signed)
                    .map(|d| Val::Const(ConstValue::DType(d)))
                    .ok_or_else(|| self.err(br, format!("get_int_dtype: no integer type of {bits} bits")))
            }
            ("_log2", _) => {
                // triton.language.standard._log2: floor(log2(i)) of a compile-time integer.
                let b = self.bind(name, args, &["i"], 1, range)?;
                let (v, r) = b[0].clone().expect("required");
                match v {
                    Val::Const(c) if c.as_int().is_some_and(|i| i > 0) => {
                        let i = c.as_int().expect("checked");
                        Ok(Val::Const(ConstValue::Int(127 - i.leading_zeros() as i128)))
                    }
                    _ => Err(self.err(r, "_log2 needs a positive tl.constexpr integer")),
                }
            }
            ("cdiv", _) => {
                let b = self.bind(name, args, &["x", "div"], 2, range)?;
                let (x, d) = (b[0].clone().expect("required"), b[1].clone().expect("required"));
                if let (Val::Const(a), Val::Const(c)) = (&x.0, &d.0) {
                    let (Some(a), Some(c)) = (a.as_int(), c.as_int()) else {
                        return Err(self.err(range, "cdiv needs integers"));
                    };
                    if c == 0 {
                        return Err(self.err(range, "cdiv by zero"));
                    }
                    return Ok(Val::Const(ConstValue::Int((a + c - 1).div_euclid(c))));
                }
                // (x + div - 1) // div on device values, with Triton's C-style division.
                let xo = self.operand(&x.0, x.1)?;
                let dop = self.operand(&d.0, d.1)?;
                let s = self.arith(BinOp::Add, xo, dop.clone(), false, range)?;
                let s = self.arith(BinOp::Sub, Operand::Value(s), Operand::Weak(ConstValue::Int(1)), false, range)?;
                t(self.arith(BinOp::Div, Operand::Value(s), dop, false, range)?)
            }
            ("exp" | "exp2" | "log" | "log2" | "sqrt" | "sqrt_rn" | "rsqrt" | "sin" | "cos" | "tan" | "tanh" | "erf" | "floor"
            | "ceil" | "log1p" | "expm1" | "trunc" | "rint" | "nearbyint" | "asin" | "acos" | "atan" | "sinh" | "cosh"
            | "fast_expf" | "fast_logf", _) => {
                let b = self.bind(name, args, &["x"], 1, range)?;
                let (x, r) = b[0].clone().expect("required");
                let m = match name {
                    "exp" => MathFn::Exp,
                    "exp2" => MathFn::Exp2,
                    "log" => MathFn::Log,
                    "log2" => MathFn::Log2,
                    "sqrt" | "sqrt_rn" => MathFn::Sqrt,
                    "rsqrt" => MathFn::Rsqrt,
                    "sin" => MathFn::Sin,
                    "cos" => MathFn::Cos,
                    "tan" => MathFn::Tan,
                    "tanh" => MathFn::Tanh,
                    "erf" => MathFn::Erf,
                    "floor" => MathFn::Floor,
                    "ceil" => MathFn::Ceil,
                    "log1p" => MathFn::Log1p,
                    "expm1" => MathFn::Expm1,
                    "trunc" => MathFn::Trunc,
                    "rint" | "nearbyint" => MathFn::Rint,
                    "asin" => MathFn::Asin,
                    "acos" => MathFn::Acos,
                    "atan" => MathFn::Atan,
                    "sinh" => MathFn::Sinh,
                    "cosh" => MathFn::Cosh,
                    "fast_expf" => MathFn::Exp,
                    _ => MathFn::Log,
                };
                let x = self.float_operand(name, &x, r)?;
                t(self.emit1(OpKind::Math(m), vec![x], self.f.ty(x).clone()))
            }
            ("abs", _) if recv.is_none() && !matches!(args.pos.first(), Some((Val::Const(_), _))) => {
                let b = self.bind(name, args, &["x"], 1, range)?;
                let (x, r) = b[0].clone().expect("required");
                let x = self.tensor(&x, r)?;
                match self.f.ty(x).dtype() {
                    Some(d) if d.is_bool() || d.is_unsigned_int() => t(x),
                    Some(d) if d.is_fp8() => {
                        // float8 is storage: |x| in float32, exact, and back.
                        let wide = self.cast(x, DType::F32, r)?;
                        let a = self.emit1(OpKind::Math(MathFn::Abs), vec![wide], self.f.ty(wide).clone());
                        t(self.cast(a, d, r)?)
                    }
                    Some(_) => t(self.emit1(OpKind::Math(MathFn::Abs), vec![x], self.f.ty(x).clone())),
                    None => Err(self.err(r, "abs() of a pointer")),
                }
            }
            ("fma", _) => {
                let b = self.bind(name, args, &["x", "y", "z"], 3, range)?;
                let ops: Vec<Operand> =
                    b.iter().map(|a| a.as_ref().expect("required")).map(|(v, r)| self.operand(v, *r)).collect::<R<_>>()?;
                // Promote like x * y + z, then require floats.
                let xy = self.arith(BinOp::Mul, ops[0].clone(), ops[1].clone(), false, range)?;
                let d = self.f.ty(xy).dtype().unwrap_or(DType::F32);
                if !d.is_float() {
                    return Err(self.err(range, format!("fma needs floating-point operands, got {}", d.language_name())));
                }
                let (x, y, _) = self.unify(&ops[0], &ops[1], d, range)?;
                let z = self.materialize(&ops[2], d, range)?;
                let shape = broadcast_shapes(&self.f.ty(x).shape, &self.f.ty(z).shape).map_err(|m| self.err(range, m))?;
                let (x, y, z) = (self.broadcast_to(x, &shape, range)?, self.broadcast_to(y, &shape, range)?, self.broadcast_to(z, &shape, range)?);
                t(self.emit1(OpKind::Math(MathFn::Fma), vec![x, y, z], self.f.ty(x).clone()))
            }
            ("sigmoid", _) => {
                let b = self.bind(name, args, &["x"], 1, range)?;
                let (x, r) = b[0].clone().expect("required");
                let x = self.float_operand(name, &x, r)?;
                let n = self.negate(x, range)?;
                let e = self.emit1(OpKind::Math(MathFn::Exp), vec![n], self.f.ty(x).clone());
                let one = Operand::Weak(ConstValue::Float(1.0));
                let den = self.arith(BinOp::Add, one.clone(), Operand::Value(e), false, range)?;
                t(self.arith(BinOp::Div, one, Operand::Value(den), true, range)?)
            }
            ("pow" | "atan2", _) => {
                let b = self.bind(name, args, &["x", "y"], 2, range)?;
                let (xv, xr) = b[0].clone().expect("required");
                let (yv, yr) = b[1].clone().expect("required");
                let x = self.float_operand(name, &xv, xr)?;
                let y = self.operand(&yv, yr)?;
                let (x, y, _) = self.unify(&Operand::Value(x), &y, DType::F32, range)?;
                let m = if name == "pow" { MathFn::Pow } else { MathFn::Atan2 };
                t(self.emit1(OpKind::Math(m), vec![x, y], self.f.ty(x).clone()))
            }
            ("isnan" | "isinf" | "signbit", _) => {
                let b = self.bind(name, args, &["x"], 1, range)?;
                let (xv, xr) = b[0].clone().expect("required");
                let x = self.float_operand(name, &xv, xr)?;
                t(match name {
                    "isnan" => self.compare(tm_ir::CmpPred::Ne, Operand::Value(x), Operand::Value(x), range)?,
                    "isinf" => {
                        let ty = self.f.ty(x).clone();
                        let a = self.emit1(OpKind::Math(MathFn::Abs), vec![x], ty);
                        self.compare(tm_ir::CmpPred::Eq, Operand::Value(a), Operand::Weak(ConstValue::Float(f64::INFINITY)), range)?
                    }
                    _ => {
                        let bits = self.bitcast(x, Elem::Scalar(DType::I32), range)?;
                        self.compare(tm_ir::CmpPred::Lt, Operand::Value(bits), Operand::Weak(ConstValue::Int(0)), range)?
                    }
                })
            }
            ("fdiv" | "div_rn" | "fast_dividef" | "div_rz", _) => {
                let b = self.bind(name, args, &["x", "y", "ieee_rounding"], 2, range)?;
                let x = self.operand(&b[0].as_ref().expect("required").0, range)?;
                let y = self.operand(&b[1].as_ref().expect("required").0, range)?;
                let q = self.arith(BinOp::Div, x, y, true, range)?;
                // `/`, `tl.fdiv` (upstream ignores ieee_rounding) and `fast_dividef` are
                // Triton's arith.divf, approximate on NVIDIA (div.full.f32); `div_rn` is
                // tt.precise_divf, correctly rounded.
                if name == "div_rn" {
                    if let Some(id) = self.f.def_op(q) {
                        if self.f.op(id).kind == OpKind::Binary(BinOp::Div) && self.f.dtype(q).is_some_and(|d| d.is_float()) {
                            self.f.op_mut(id).kind = OpKind::Math(MathFn::DivRn);
                        }
                    }
                }
                t(q)
            }
            ("umulhi", _) => {
                let b = self.bind(name, args, &["x", "y"], 2, range)?;
                let x = self.operand(&b[0].as_ref().expect("required").0, range)?;
                let y = self.operand(&b[1].as_ref().expect("required").0, range)?;
                let (Some(dx), Some(dy)) = (self.operand_dtype(&x), self.operand_dtype(&y)) else {
                    return Err(self.err(range, "umulhi needs integers"));
                };
                if !dx.is_int() || !dy.is_int() || dx.is_bool() || dy.is_bool() {
                    return Err(self.err(range, "umulhi needs integer operands"));
                }
                let d = crate::semantic::integer_promote(dx, dy);
                let (a, c, shape) = self.unify(&x, &y, d, range)?;
                t(self.emit1(OpKind::MulHi, vec![a, c], Type::block(Elem::Scalar(d), shape)))
            }
            ("clamp", _) => {
                let b = self.bind(name, args, &["x", "min", "max", "propagate_nan"], 3, range)?;
                let x = self.operand(&b[0].as_ref().expect("required").0, range)?;
                let lo = self.operand(&b[1].as_ref().expect("required").0, range)?;
                let hi = self.operand(&b[2].as_ref().expect("required").0, range)?;
                let propagate = match &b[3] {
                    Some((Val::Const(c), _)) => c.truthy(),
                    Some((_, r)) => return Err(self.err(*r, "propagate_nan must be a tl.PropagateNan constant")),
                    None => false,
                };
                let m = self.arith(BinOp::Max, x.clone(), lo, false, range)?;
                let c = self.arith(BinOp::Min, Operand::Value(m), hi, false, range)?;
                if !propagate || !self.f.ty(c).dtype().is_some_and(|d| d.is_float()) {
                    return t(c);
                }
                // PropagateNan.ALL applies to x only (as upstream): a NaN x gives NaN.
                let d = self.f.ty(c).dtype().expect("float");
                let xv = self.materialize(&x, d, range)?;
                let x_nan = self.compare(tm_ir::CmpPred::Ne, Operand::Value(xv), Operand::Value(xv), range)?;
                t(self.select(Operand::Value(x_nan), Operand::Value(xv), Operand::Value(c), range)?)
            }
            ("expand_dims", _) => {
                let b = self.bind(name, args, &["input", "axis"], 2, range)?;
                let (x, r) = b[0].clone().expect("required");
                let x = self.tensor(&x, r)?;
                let axes = match self.const_arg(name, "axis", b[1].as_ref().expect("required"))? {
                    ConstValue::Tuple(t) => t.iter().map(|a| a.as_int()).collect::<Option<Vec<_>>>(),
                    c => c.as_int().map(|a| vec![a]),
                }
                .ok_or_else(|| self.err(range, "expand_dims axis must be an int or a tuple of ints"))?;
                // Upstream's rules: each axis in -new_rank..new_rank, no axis twice.
                let new_rank = (self.f.ty(x).rank() + axes.len()) as i128;
                let mut norm = vec![];
                for &a in &axes {
                    if !(-new_rank..new_rank).contains(&a) {
                        return Err(self.err(range, format!("invalid axis {a}. Expected {} <= axis < {new_rank}", -new_rank)));
                    }
                    norm.push(if a < 0 { a + new_rank } else { a });
                }
                let mut seen = norm.clone();
                seen.sort_unstable();
                seen.dedup();
                if seen.len() != norm.len() {
                    let list = norm.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(", ");
                    return Err(self.err(range, format!("expand_dims received duplicate axes, normalized axes = [{list}]")));
                }
                let mut axes: Vec<u32> = norm.iter().map(|&a| a as u32).collect();
                axes.sort_unstable();
                let mut v = x;
                for a in axes {
                    v = self.expand_dims(v, a, range)?;
                }
                t(v)
            }
            ("broadcast_to", _) => self.lower_broadcast_to(args, range),
            ("broadcast", _) => {
                let b = self.bind(name, args, &["input", "other"], 2, range)?;
                let (x, xr) = b[0].clone().expect("required");
                let (y, yr) = b[1].clone().expect("required");
                let (x, y) = (self.tensor(&x, xr)?, self.tensor(&y, yr)?);
                let shape = broadcast_shapes(&self.f.ty(x).shape, &self.f.ty(y).shape).map_err(|m| self.err(range, m))?;
                let (x, y) = (self.broadcast_to(x, &shape, range)?, self.broadcast_to(y, &shape, range)?);
                Ok(crate::lower::tuple_val(vec![Val::Tensor(x), Val::Tensor(y)]))
            }
            ("dot", _) => self.lower_dot(args, range),
            ("dot_scaled", _) => self.lower_dot_scaled(args, range),
            ("gather", _) => self.lower_gather(args, range),
            ("make_tensor_descriptor", _) => self.lower_make_descriptor(args, range),
            ("make_block_ptr", _) => self.lower_make_block_ptr(args, range),
            ("cast", _) => {
                let b = self.bind(name, args, &["input", "dtype", "fp_downcast_rounding", "bitcast"], 2, range)?;
                let (xv, xr) = b[0].clone().expect("required");
                let x = self.tensor(&xv, xr)?;
                let bitcast = match &b[3] {
                    Some(a) => self.const_arg(name, "bitcast", a)?.truthy(),
                    None => false,
                };
                if let ConstValue::PtrType(p) = self.const_arg(name, "dtype", b[1].as_ref().expect("required"))? {
                    return t(self.bitcast(x, Elem::Ptr(p), range)?);
                }
                let d = self.dtype_arg(name, "dtype", b[1].as_ref().expect("required"))?;
                let rtz = self.downcast_rounding(name, &b[2], x, d)?;
                if bitcast {
                    t(self.bitcast(x, Elem::Scalar(d), range)?)
                } else if rtz {
                    t(self.cast_rtz(x, d))
                } else {
                    t(self.cast(x, d, range)?)
                }
            }
            ("interleave", _) => {
                // join then flatten the new last dim: a0 b0 a1 b1 ...
                let j = self.lower_shape_op("join", None, args, range)?;
                let Val::Tensor(j) = j else { return Err(self.err(range, "interleave needs two tensors")) };
                let mut shape = self.f.ty(j).shape.clone();
                if shape.len() < 2 {
                    // Two scalars: the join, of shape [2], is already interleaved.
                    return t(j);
                }
                let two = shape.pop().unwrap_or(2);
                if let Some(last) = shape.last_mut() {
                    *last *= two;
                }
                let ty = self.f.ty(j).with_shape(shape);
                t(self.emit1(OpKind::Reshape, vec![j], ty))
            }
            ("swizzle2d", _) => {
                // Triton's grouped ordering: (i, j) of a size_i x size_j grid in groups of size_g rows.
                let b = self.bind(name, args, &["i", "j", "size_i", "size_j", "size_g"], 5, range)?;
                let ops: Vec<Operand> =
                    b.iter().map(|a| a.as_ref().expect("required")).map(|(v, r)| self.operand(v, *r)).collect::<R<_>>()?;
                let (i, j, si, sj, sg) = (ops[0].clone(), ops[1].clone(), ops[2].clone(), ops[3].clone(), ops[4].clone());
                let ij = self.arith(BinOp::Mul, i, sj.clone(), false, range)?;
                let ij = self.arith(BinOp::Add, Operand::Value(ij), j, false, range)?;
                let size_gj = self.arith(BinOp::Mul, sg.clone(), sj, false, range)?;
                let group_id = self.arith(BinOp::Div, Operand::Value(ij), Operand::Value(size_gj), false, range)?;
                let off_i = self.arith(BinOp::Mul, Operand::Value(group_id), sg.clone(), false, range)?;
                let rest = self.arith(BinOp::Sub, si, Operand::Value(off_i), false, range)?;
                let size_g = self.arith(BinOp::Min, Operand::Value(rest), sg, false, range)?;
                let ij_mod = self.arith(BinOp::Rem, Operand::Value(ij), Operand::Value(size_gj), false, range)?;
                let new_i = self.arith(BinOp::Rem, Operand::Value(ij_mod), Operand::Value(size_g), false, range)?;
                let new_i = self.arith(BinOp::Add, Operand::Value(off_i), Operand::Value(new_i), false, range)?;
                let new_j = self.arith(BinOp::Div, Operand::Value(ij_mod), Operand::Value(size_g), false, range)?;
                Ok(Val::Tuple(vec![Val::Tensor(new_i), Val::Tensor(new_j)]))
            }
            ("assume", _) => {
                // A promise to the optimiser; nothing to compute.
                let _ = self.bind(name, args, &["cond"], 1, range)?;
                Ok(Val::Const(ConstValue::None))
            }
            ("uint_to_uniform_float" | "pair_uniform_to_normal", _) => self.lower_random_helper(name, args, range),
            ("advance", _) => self.lower_advance(args, range),
            ("randint" | "randint4x" | "rand" | "rand4x" | "randn" | "randn4x", _) => self.lower_random(name, args, range),
            ("cumsum" | "cumprod" | "associative_scan", _) => self.lower_scan(name, recv, args, range),
            ("sort" | "flip" | "histogram", _) => self.lower_sort_like(name, recv, args, range),
            (n, _) if n.starts_with("atomic_") => self.lower_atomic(n, args, range),
            ("debug_barrier", _) => Ok(self.lower_debug_barrier()),
            ("trans" | "permute" | "reshape" | "view" | "ravel" | "join" | "split" | "cat" | "zeros_like" | "full_like", _) => {
                self.lower_shape_op(name, recv, args, range)
            }
            ("pointer_type", _) => {
                let b = self.bind(name, args, &["element_ty", "address_space", "const"], 1, range)?;
                let d = self.dtype_arg(name, "element_ty", b[0].as_ref().expect("required"))?;
                Ok(Val::Const(ConstValue::PtrType(d)))
            }
            ("next_power_of_2", _) => {
                let b = self.bind(name, args, &["n"], 1, range)?;
                let n = self.int_arg(name, "n", b[0].as_ref().expect("required"))?;
                let p = if n <= 1 { 1 } else { 1i128 << (128 - (n - 1).leading_zeros()) };
                Ok(Val::Const(ConstValue::Int(p)))
            }
            ("constexpr", _) => {
                let b = self.bind(name, args, &["value"], 1, range)?;
                Ok(Val::Const(self.const_arg(name, "value", b[0].as_ref().expect("required"))?))
            }
            ("static_assert", _) => {
                let b = self.bind(name, args, &["cond", "msg"], 1, range)?;
                let c = self.const_arg(name, "cond", b[0].as_ref().expect("required"))?;
                if !c.truthy() {
                    let msg = match &b[1] {
                        Some((Val::Const(ConstValue::Str(s)), _)) => s.clone(),
                        _ => String::new(),
                    };
                    return Err(self.err(range, format!("static_assert failed: {msg}")));
                }
                Ok(Val::Const(ConstValue::None))
            }
            // Promises about a value that feed the axis analysis (vectorisation).
            ("multiple_of" | "max_contiguous" | "max_constancy", _) => {
                let b = self.bind(name, args, &["input", "values"], 2, range)?;
                let (xv, xr) = b[0].clone().expect("required");
                let values: Vec<u64> = match self.const_arg(name, "values", b[1].as_ref().expect("required"))? {
                    ConstValue::Tuple(t) => t.iter().map(|c| c.as_int().and_then(|v| u64::try_from(v).ok())).collect::<Option<_>>(),
                    c => c.as_int().and_then(|v| u64::try_from(v).ok()).map(|v| vec![v]),
                }
                .ok_or_else(|| self.err(range, format!("{name}() values must be non-negative integers")))?;
                let Val::Tensor(x) = xv else { return Ok(xv) };
                let _ = xr;
                let kind = match name {
                    "multiple_of" => tm_ir::HintKind::MultipleOf,
                    "max_contiguous" => tm_ir::HintKind::MaxContiguous,
                    _ => tm_ir::HintKind::MaxConstancy,
                };
                let ty = self.f.ty(x).clone();
                t(self.emit1(OpKind::Hint { kind, values }, vec![x], ty))
            }
            ("py_min" | "py_max", _) => {
                let name = &name[3..];
                if !args.kw.is_empty() || args.pos.len() < 2 {
                    return Err(self.err(range, format!("{name}() in a kernel takes two or more positional arguments")));
                }
                let all_const = args.pos.iter().all(|(v, _)| matches!(v, Val::Const(_)));
                if !all_const {
                    // Python's min/max on device values mean tl.minimum/tl.maximum, as in Triton.
                    let op = if name == "min" { BinOp::Min } else { BinOp::Max };
                    let mut acc = self.operand(&args.pos[0].0, args.pos[0].1)?;
                    for (v, r) in &args.pos[1..] {
                        let o = self.operand(v, *r)?;
                        acc = Operand::Value(self.arith(op, acc, o, false, range)?);
                    }
                    return match acc {
                        Operand::Value(v) => t(v),
                        Operand::Weak(c) => Ok(Val::Const(c)),
                    };
                }
                let mut best = args.pos[0].clone();
                for cand in &args.pos[1..] {
                    let (Val::Const(a), Val::Const(c)) = (&best.0, &cand.0) else { unreachable!("checked") };
                    let lt = match (a, c) {
                        (ConstValue::Float(_), _) | (_, ConstValue::Float(_)) => {
                            let f = |x: &ConstValue| match x {
                                ConstValue::Float(f) => *f,
                                o => o.as_int().unwrap_or(0) as f64,
                            };
                            f(c) < f(a)
                        }
                        _ => c.as_int() < a.as_int(),
                    };
                    if lt == (name == "min") {
                        best = cand.clone();
                    }
                }
                Ok(best.0)
            }
            ("int" | "float" | "bool" | "abs" | "len", _) => {
                let b = self.bind(name, args, &["x"], 1, range)?;
                let c = self.const_arg(name, "x", b[0].as_ref().expect("required"))?;
                let r = match (name, &c) {
                    ("int", ConstValue::Float(f)) => ConstValue::Int(f.trunc() as i128),
                    ("int", c) if c.as_int().is_some() => ConstValue::Int(c.as_int().unwrap_or(0)),
                    ("float", ConstValue::Float(f)) => ConstValue::Float(*f),
                    ("float", ConstValue::Str(text)) => match text.trim().to_ascii_lowercase().as_str() {
                        "inf" | "+inf" | "infinity" => ConstValue::Float(f64::INFINITY),
                        "-inf" | "-infinity" => ConstValue::Float(f64::NEG_INFINITY),
                        "nan" | "+nan" | "-nan" => ConstValue::Float(f64::NAN),
                        other => ConstValue::Float(
                            other.parse().map_err(|_| self.err(range, format!("could not convert string to float: {text:?}")))?,
                        ),
                    },
                    ("float", c) if c.as_int().is_some() => ConstValue::Float(c.as_int().unwrap_or(0) as f64),
                    ("bool", c) => ConstValue::Bool(c.truthy()),
                    ("abs", ConstValue::Float(f)) => ConstValue::Float(f.abs()),
                    ("abs", c) if c.as_int().is_some() => ConstValue::Int(c.as_int().unwrap_or(0).abs()),
                    ("len", ConstValue::Tuple(t)) => ConstValue::Int(t.len() as i128),
                    _ => return Err(self.err(range, format!("{name}() of a {} is not supported", c.type_name()))),
                };
                Ok(Val::Const(r))
            }
            ("dtype", None) => {
                let b = self.bind(name, args, &["name"], 1, range)?;
                let a = b[0].as_ref().expect("required");
                match self.const_arg(name, "name", a)? {
                    c @ ConstValue::DType(_) => Ok(Val::Const(c)),
                    ConstValue::Str(n) => DType::parse(&n)
                        .map(|d| Val::Const(ConstValue::DType(d)))
                        .ok_or_else(|| self.err(a.1, format!("tl.dtype({n:?}): unknown or unsupported dtype"))),
                    other => Err(self.err(a.1, format!("tl.dtype() takes a dtype name, got {other}"))),
                }
            }
            ("isinstance", _) => {
                let b = self.bind(name, args, &["obj", "classinfo"], 2, range)?;
                let (obj, _) = b[0].clone().expect("required");
                let (cls, crange) = b[1].clone().expect("required");
                let classes = match cls {
                    Val::Tuple(t) => t,
                    other => vec![other],
                };
                let mut found = false;
                for c in &classes {
                    found |= self.is_instance(&obj, c, crange)?;
                }
                Ok(Val::Const(ConstValue::Bool(found)))
            }
            ("getattr" | "hasattr", _) => {
                let names: &[&str] = if name == "getattr" { &["obj", "name", "default"] } else { &["obj", "name"] };
                let b = self.bind(name, args, names, 2, range)?;
                let (obj, _) = b[0].clone().expect("required");
                let attr = match self.const_arg(name, "name", b[1].as_ref().expect("required"))? {
                    ConstValue::Str(s) => s,
                    other => return Err(self.err(range, format!("{name}(): attribute name must be a string, got {other}"))),
                };
                let got = self.attribute_pub(obj, &attr, range);
                match (name, got) {
                    ("hasattr", r) => Ok(Val::Const(ConstValue::Bool(r.is_ok()))),
                    (_, Ok(v)) => Ok(v),
                    (_, Err(e)) => match b.get(2).cloned().flatten() {
                        Some((default, _)) => Ok(default),
                        None => Err(e),
                    },
                }
            }
            (n, None) if crate::libdevice::NAMES.contains(&n) => self.lower_libdevice(n, args, range),
            ("logical_and" | "logical_or", None) => self.lower_logical(name, args, range),
            _ => Err(self.err(range, format!("{name}() is not supported in kernels by triton_metal yet"))),
        }
    }

    /// `isinstance(obj, cls)` for the classes a kernel can name: `tl.tensor`, `tl.constexpr`,
    /// `tl.dtype`, `tl.pointer_type` and Python's `int`, `float`, `bool`, `str`, `tuple`.
    /// Compile-time values are constexprs (their Python value answers `int` and the like), as
    /// upstream's code generator unwraps them for Python builtins.
    fn is_instance(&self, obj: &Val, cls: &Val, range: TextRange) -> R<bool> {
        let Val::Builtin(c) = cls else {
            return Err(self.err(range, format!("isinstance(): a {} is not a class a kernel can test", cls.kind_name())));
        };
        Ok(match (*c, obj) {
            ("tensor", v) => matches!(v, Val::Tensor(_)),
            ("constexpr", v) => matches!(v, Val::Const(_)),
            ("dtype", v) => matches!(v, Val::Const(ConstValue::DType(_) | ConstValue::PtrType(_))),
            ("pointer_type", v) => matches!(v, Val::Const(ConstValue::PtrType(_))),
            ("int", v) => matches!(v, Val::Const(ConstValue::Int(_) | ConstValue::Bool(_))),
            ("float", v) => matches!(v, Val::Const(ConstValue::Float(_))),
            ("bool", v) => matches!(v, Val::Const(ConstValue::Bool(_))),
            ("str", v) => matches!(v, Val::Const(ConstValue::Str(_))),
            ("tuple", v) => matches!(v, Val::Tuple(_) | Val::Const(ConstValue::Tuple(_))),
            (other, _) => return Err(self.err(range, format!("isinstance(): cannot test against {other} in a kernel"))),
        })
    }

}
