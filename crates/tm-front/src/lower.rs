//! Walks the Python AST of a `@triton.jit` function and emits block IR.
//! Constexpr values are evaluated here with Python semantics; everything that
//! runs on the device goes through `semantic.rs`, which owns the type rules.

use crate::diag::{Diagnostic, SourceMap};
use crate::semantic::Operand;
use crate::value::{ConstValue, GlobalValue, KernelSource, Module, Val};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange};
use std::collections::HashMap;
use std::sync::Arc;
use tm_ir::{BinOp, CmpPred, DType, Func, Loc, OpId, OpKind, Region, Type, ValueId};

pub type R<T> = Result<T, Diagnostic>;

/// How a runtime parameter was specialised at launch (Triton's signature + specialisation).
#[derive(Clone, Debug, PartialEq)]
pub enum ParamSpec {
    /// A pointer; `divisibility` is the known alignment of its address in bytes.
    Pointer { dtype: DType, divisibility: u64 },
    /// An integer; `divisibility` is 16 when the value is a multiple of 16, else 1.
    Int { dtype: DType, divisibility: u64 },
    Float { dtype: DType },
    /// A `tl.constexpr` parameter, or a runtime value specialised away (`1`, `None`).
    Constexpr(ConstValue),
}

/// A parameter of the kernel's Python signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    pub constexpr: bool,
    /// Annotated `tl.const`: a pointer the kernel may only read.
    pub const_ptr: bool,
}

/// One function being lowered: the kernel itself, or an inlined jit callee.
struct Frame {
    /// Index of this function's text in `Func::sources`.
    file: u16,
    src: Arc<KernelSource>,
    sm: SourceMap,
    locals: HashMap<String, Val>,
    /// The function's definition (its body is scanned by `static_loop`).
    def: Arc<ast::StmtFunctionDef>,
    /// Values returned so far by `return` statements (callees only).
    returned: Option<Val>,
}

pub struct Lowerer<'a> {
    pub f: Func,
    pub(crate) blocks: Vec<Vec<OpId>>,
    frames: Vec<Frame>,
    pub(crate) loc: Loc,
    _src: &'a KernelSource,
    /// For each loop being lowered, the block pointers it carries (their
    /// offsets travel as synthetic carried names `name.i`).
    pub(crate) carried_bps: Vec<Vec<(String, Arc<crate::value::BlockPtr>)>>,
    /// Pointer values of upstream's `const_pointer` type: parameters annotated
    /// `tl.const` and every pointer computed from one (`emit` propagates it).
    pub(crate) const_ptrs: std::collections::HashSet<ValueId>,
    /// Simdgroups per program, when the caller knows them.
    pub(crate) num_warps: Option<u32>,
    /// The first float64 value (refused once the whole kernel is lowered).
    pub(crate) float64_use: std::cell::RefCell<Option<Diagnostic>>,
}

/// What a statement did to control flow.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Next,
    Return,
}

fn parse_function(src: &KernelSource, sm: &SourceMap) -> R<ast::StmtFunctionDef> {
    let parsed = ruff_python_parser::parse_module(&src.source).map_err(|e| {
        sm.diag(&src.name, e.location.start().to_usize(), format!("invalid Python syntax: {}", e.error))
    })?;
    for stmt in parsed.into_syntax().body {
        if let Stmt::FunctionDef(def) = stmt {
            if def.name.as_str() == src.name {
                return Ok(def);
            }
        }
    }
    Err(sm.diag(&src.name, 0, format!("could not find the definition of '{}' in its source", src.name)))
}

fn is_constexpr_annotation(e: &Expr) -> bool {
    match e {
        Expr::Attribute(a) => a.attr.as_str() == "constexpr",
        Expr::Name(n) => n.id.as_str() == "constexpr",
        Expr::StringLiteral(s) => s.value.to_str().ends_with("constexpr"),
        _ => false,
    }
}

/// `tl.const` (upstream's `const` annotation: a pointer that is only read).
fn is_const_annotation(e: &Expr) -> bool {
    match e {
        Expr::Attribute(a) => a.attr.as_str() == "const",
        Expr::Name(n) => n.id.as_str() == "const",
        _ => false,
    }
}

/// The parameters of a jit function, with their constexpr-ness.
pub fn kernel_params(src: &KernelSource) -> R<Vec<ParamInfo>> {
    let sm = SourceMap::new(&src.filename, &src.source, src.first_line, src.col_offset);
    let def = parse_function(src, &sm)?;
    let p = &def.parameters;
    if p.vararg.is_some() || p.kwarg.is_some() || !p.kwonlyargs.is_empty() {
        return Err(sm.diag(&src.name, p.range.start().to_usize(), "jit functions take plain positional parameters only (no *args, **kwargs or keyword-only parameters)"));
    }
    Ok(p
        .posonlyargs
        .iter()
        .chain(p.args.iter())
        .map(|a| ParamInfo {
            name: a.parameter.name.to_string(),
            constexpr: a.parameter.annotation.as_deref().is_some_and(is_constexpr_annotation),
            const_ptr: a.parameter.annotation.as_deref().is_some_and(is_const_annotation),
        })
        .collect())
}

/// Lowers a kernel specialised by `specs` (one per parameter) to block IR.
pub fn lower_kernel(src: &KernelSource, specs: &[ParamSpec]) -> R<Func> {
    lower_kernel_with(src, specs, None)
}

/// `lower_kernel` for a launch of `num_warps` simdgroups (32 threads each), which
/// `tl.extra.cuda.num_threads()`/`num_warps()` give as constexprs.
pub fn lower_kernel_with(src: &KernelSource, specs: &[ParamSpec], num_warps: Option<u32>) -> R<Func> {
    let src_arc = Arc::new(src.clone());
    let sm = SourceMap::new(&src.filename, &src.source, src.first_line, src.col_offset);
    let def = Arc::new(parse_function(src, &sm)?);
    let params = kernel_params(src)?;
    if params.len() != specs.len() {
        return Err(sm.diag(
            &src.name,
            def.range.start().to_usize(),
            format!("kernel '{}' takes {} parameters but {} were specialised", src.name, params.len(), specs.len()),
        ));
    }
    let mut lw = Lowerer {
        f: Func::new(src.name.clone()),
        blocks: vec![vec![]],
        frames: vec![Frame { file: 0, src: src_arc, sm, locals: HashMap::new(), def: def.clone(), returned: None }],
        loc: Loc::default(),
        _src: src,
        carried_bps: vec![],
        const_ptrs: Default::default(),
        num_warps,
        float64_use: Default::default(),
    };
    lw.f.sources.push(source_file(src));
    for (p, spec) in params.iter().zip(specs) {
        let val = match spec {
            ParamSpec::Pointer { dtype, divisibility } => {
                let v = lw.f.add_arg(p.name.clone(), Type::ptr(*dtype), *divisibility);
                if p.const_ptr {
                    lw.const_ptrs.insert(v);
                }
                Val::Tensor(v)
            }
            ParamSpec::Int { dtype, divisibility } => {
                Val::Tensor(lw.f.add_arg(p.name.clone(), Type::scalar(*dtype), *divisibility))
            }
            ParamSpec::Float { dtype } => {
                lw.check_dtype_supported(*dtype, def.parameters.range)?;
                Val::Tensor(lw.f.add_arg(p.name.clone(), Type::scalar(*dtype), 1))
            }
            ParamSpec::Constexpr(c) => Val::Const(c.clone()),
        };
        lw.frame().locals.insert(p.name.clone(), val);
    }
    lw.body(&def.body)?;
    if let Some(d) = lw.float64_use.take() {
        return Err(d);
    }
    lw.loc = Loc::default();
    lw.emit(OpKind::Return, vec![], vec![], vec![]);
    let ops = lw.blocks.pop().unwrap_or_default();
    lw.f.body = Region { args: vec![], ops };
    Ok(lw.f)
}

fn source_file(src: &KernelSource) -> tm_ir::SourceFile {
    let pad = " ".repeat(src.col_offset as usize);
    tm_ir::SourceFile {
        filename: src.filename.clone(),
        function: src.name.clone(),
        first_line: src.first_line,
        lines: src.source.lines().map(|l| format!("{pad}{l}")).collect(),
    }
}


impl<'a> Lowerer<'a> {
    /// The local names of the function being lowered.
    pub(crate) fn locals(&mut self) -> &mut HashMap<String, Val> {
        &mut self.frame().locals
    }

    /// Whether `name` is a global of the function being lowered.
    pub(crate) fn is_global(&self, name: &str) -> bool {
        self.frame_ref().src.globals.contains_key(name)
    }

    /// The definition of the function being lowered.
    pub(crate) fn function_def(&self) -> Arc<ast::StmtFunctionDef> {
        self.frame_ref().def.clone()
    }

    pub(crate) fn frames_len(&self) -> usize {
        self.frames.len()
    }

    /// Drops the frames above the first `n` (after a failed attempt that left some).
    pub(crate) fn truncate_frames(&mut self, n: usize) {
        self.frames.truncate(n.max(1));
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("a frame is always active")
    }
    fn frame_ref(&self) -> &Frame {
        self.frames.last().expect("a frame is always active")
    }

    /// A diagnostic at `range` of the function being lowered.
    pub fn err(&self, range: TextRange, msg: impl Into<String>) -> Diagnostic {
        let fr = self.frame_ref();
        fr.sm.diag(&fr.src.name, range.start().to_usize(), msg)
    }

    /// (file line, column, line text) of `range` in the function being lowered.
    pub(crate) fn location(&self, range: TextRange) -> (u32, u32, String) {
        self.frame_ref().sm.locate(range.start().to_usize())
    }

    pub(crate) fn filename(&self) -> String {
        self.frame_ref().src.filename.clone()
    }

    fn set_loc(&mut self, range: TextRange) {
        let (line, col, _) = self.frame_ref().sm.locate(range.start().to_usize());
        self.loc = Loc { file: self.frame_ref().file, line, col };
    }

    /// Emits an op into the current block.
    pub fn emit(&mut self, kind: OpKind, operands: Vec<ValueId>, results: Vec<Type>, regions: Vec<Region>) -> OpId {
        let from_const = regions.is_empty() && operands.iter().any(|v| self.const_ptrs.contains(v));
        let id = self.f.create_op(kind, operands, results, regions, self.loc);
        self.blocks.last_mut().expect("a block is always open").push(id);
        if from_const {
            // A pointer computed from a const pointer is const (upstream keeps the type).
            let ptrs: Vec<ValueId> = self.f.op(id).results.iter().copied().filter(|&r| self.f.ty(r).elem.is_ptr()).collect();
            self.const_ptrs.extend(ptrs);
        }
        id
    }

    /// Upstream's name of a value's type, `const_pointer<fp32>` for const pointers.
    pub(crate) fn type_name_of(&self, v: ValueId) -> String {
        let t = tm_ir::describe_type(self.f.ty(v));
        if self.const_ptrs.contains(&v) {
            t.replacen("pointer<", "const_pointer<", 1)
        } else {
            t
        }
    }

    /// Emits a single-result op and returns its value.
    pub fn emit1(&mut self, kind: OpKind, operands: Vec<ValueId>, ty: Type) -> ValueId {
        let id = self.emit(kind, operands, vec![ty], vec![]);
        self.f.op(id).results[0]
    }

    // ----- statements -----

    pub(crate) fn body(&mut self, stmts: &[Stmt]) -> R<Flow> {
        for (i, s) in stmts.iter().enumerate() {
            // A leading string literal is a docstring.
            if i == 0 {
                if let Stmt::Expr(e) = s {
                    if e.value.is_string_literal_expr() {
                        continue;
                    }
                }
            }
            // An `if` may absorb the statements after it (early `return`).
            if let Stmt::If(ifs) = s {
                self.set_loc(s.range());
                let (flow, consumed) = self.if_stmt(ifs, &stmts[i + 1..])?;
                if flow == Flow::Return || consumed {
                    return Ok(flow);
                }
                continue;
            }
            if self.stmt(s)? == Flow::Return {
                return Ok(Flow::Return);
            }
        }
        Ok(Flow::Next)
    }

    fn stmt(&mut self, s: &Stmt) -> R<Flow> {
        self.set_loc(s.range());
        match s {
            Stmt::Expr(e) => {
                self.expr(&e.value)?;
            }
            Stmt::Pass(_) => {}
            Stmt::Assign(a) => {
                let v = self.expr(&a.value)?;
                for t in &a.targets {
                    self.assign(t, v.clone())?;
                }
            }
            Stmt::AnnAssign(a) => {
                let Some(value) = &a.value else {
                    return Err(self.err(a.range, "an annotated name needs a value"));
                };
                let v = self.expr(value)?;
                if is_constexpr_annotation(&a.annotation) && !matches!(v, Val::Const(_)) {
                    return Err(self.err(value.range(), "a value annotated tl.constexpr must be known at compile time"));
                }
                self.assign(&a.target, v)?;
            }
            Stmt::AugAssign(a) => {
                let cur = self.expr(&a.target)?;
                let rhs = self.expr(&a.value)?;
                let v = self.binop(a.op, cur, rhs, a.range)?;
                self.assign(&a.target, v)?;
            }
            Stmt::If(i) => return self.if_stmt(i, &[]).map(|(f, _)| f),
            Stmt::Return(r) => {
                let v = match &r.value {
                    Some(e) => self.expr(e)?,
                    None => Val::Const(ConstValue::None),
                };
                if self.frames.len() == 1 && !matches!(v, Val::Const(ConstValue::None)) {
                    return Err(self.err(r.range, "a kernel cannot return a value"));
                }
                self.frame().returned = Some(v);
                return Ok(Flow::Return);
            }
            Stmt::For(f) => return self.for_stmt(f),
            Stmt::While(w) => return self.while_stmt(w),
            Stmt::Assert(a) => {
                let v = self.expr(&a.test)?;
                match v {
                    Val::Const(c) if c.truthy() => {}
                    Val::Const(_) => return Err(self.err(a.range, "assertion failed at compile time")),
                    // A runtime condition: upstream lowers it to tl.device_assert, which does
                    // nothing unless the kernel is compiled with debug on (the default is off;
                    // masked-off lanes often fail such checks). Only the message is checked.
                    _ => {
                        if let Some(m) = &a.msg {
                            self.expr(m)?;
                        }
                    }
                }
            }
            other => {
                return Err(self.err(other.range(), format!("unsupported statement: {}", stmt_kind(other))));
            }
        }
        Ok(Flow::Next)
    }

    pub(crate) fn assign(&mut self, target: &Expr, v: Val) -> R<()> {
        match target {
            Expr::Name(n) => {
                self.frame().locals.insert(n.id.to_string(), v);
                Ok(())
            }
            Expr::Tuple(t) => {
                let items = match v {
                    Val::Tuple(items) => items,
                    Val::Const(ConstValue::Tuple(items)) => items.into_iter().map(Val::Const).collect(),
                    other => {
                        return Err(self.err(t.range, format!("cannot unpack a {} into {} names", other.kind_name(), t.elts.len())))
                    }
                };
                if items.len() != t.elts.len() {
                    return Err(self.err(t.range, format!("cannot unpack {} values into {} names", items.len(), t.elts.len())));
                }
                for (e, item) in t.elts.iter().zip(items) {
                    self.assign(e, item)?;
                }
                Ok(())
            }
            other => Err(self.err(other.range(), "unsupported assignment target (only names and tuples of names)")),
        }
    }

    /// An `if`; `rest` are the statements after it in the same block. Returns
    /// the flow and whether `rest` was lowered too (inside the branches, when
    /// a branch returns early).
    fn if_stmt(&mut self, i: &ast::StmtIf, rest: &[Stmt]) -> R<(Flow, bool)> {
        let cond = self.expr(&i.test)?;
        let Val::Const(c) = cond else {
            return self.runtime_if(i, cond, rest);
        };
        if c.as_int().is_some() && (crate::control::contains_return(&i.body) || i.elif_else_clauses.iter().any(|c| crate::control::contains_return(&c.body)))
            && crate::calls::upstream_runtime_name(&self.frame().def, &i.test) {
            return self.runtime_if(i, Val::Const(c), rest);
        }
        if c.truthy() {
            return self.constexpr_branch(&i.body, rest);
        }
        for clause in &i.elif_else_clauses {
            match &clause.test {
                None => return self.constexpr_branch(&clause.body, rest),
                Some(t) => {
                    let Val::Const(c) = self.expr(t)? else {
                        return Err(self.err(t.range(), "`elif` on a runtime value after a constexpr `if` is not supported; nest an `if` in the `else`"));
                    };
                    if c.truthy() {
                        return self.constexpr_branch(&clause.body, rest);
                    }
                }
            }
        }
        Ok((Flow::Next, false))
    }

    /// The branch a constexpr `if` takes, in place of the `if`. With a `return`
    /// inside (maybe under a runtime `if`), the statements after the `if` follow
    /// the branch's own, so that a runtime early return can take them into the
    /// paths that do not return.
    fn constexpr_branch(&mut self, body: &[Stmt], rest: &[Stmt]) -> R<(Flow, bool)> {
        if rest.is_empty() || !crate::control::contains_return(body) {
            return Ok((self.body(body)?, false));
        }
        let joined: Vec<Stmt> = body.iter().chain(rest).cloned().collect();
        Ok((self.body(&joined)?, true))
    }

    /// The value a `return` of the function being lowered gave, taken.
    pub(crate) fn take_returned(&mut self) -> Option<Val> {
        self.frame().returned.take()
    }

    pub(crate) fn set_returned(&mut self, v: Val) {
        self.frame().returned = Some(v);
    }

    /// The name of the function being lowered.
    pub(crate) fn frame_name(&self) -> String {
        self.frame_ref().src.name.clone()
    }

    // ----- expressions -----

    pub fn expr(&mut self, e: &Expr) -> R<Val> {
        let saved = self.loc;
        self.set_loc(e.range());
        let v = self.expr_inner(e);
        self.loc = saved;
        v
    }

    fn expr_inner(&mut self, e: &Expr) -> R<Val> {
        match e {
            Expr::NumberLiteral(n) => match &n.value {
                ast::Number::Int(i) => {
                    let v = i.as_i64().map(i128::from).or_else(|| i.as_u64().map(i128::from));
                    v.map(|v| Val::Const(ConstValue::Int(v)))
                        .ok_or_else(|| self.err(n.range, "integer literal does not fit in 64 bits"))
                }
                ast::Number::Float(x) => Ok(Val::Const(ConstValue::Float(*x))),
                ast::Number::Complex { .. } => Err(self.err(n.range, "complex numbers are not supported")),
            },
            Expr::BooleanLiteral(b) => Ok(Val::Const(ConstValue::Bool(b.value))),
            Expr::NoneLiteral(_) => Ok(Val::Const(ConstValue::None)),
            Expr::StringLiteral(s) => Ok(Val::Const(ConstValue::Str(s.value.to_str().to_string()))),
            Expr::Name(n) => self.lookup(n.id.as_str(), n.range),
            Expr::Attribute(a) => {
                let base = self.expr(&a.value)?;
                self.attribute(base, a.attr.as_str(), a.range)
            }
            Expr::Tuple(t) => {
                let items = t.elts.iter().map(|e| self.expr(e)).collect::<R<Vec<_>>>()?;
                Ok(tuple_val(items))
            }
            // Lists appear as shapes (`tl.zeros([BLOCK], ...)`); they behave as tuples.
            Expr::List(l) => {
                let items = l.elts.iter().map(|e| self.expr(e)).collect::<R<Vec<_>>>()?;
                Ok(tuple_val(items))
            }
            Expr::BinOp(b) => {
                let l = self.expr(&b.left)?;
                let r = self.expr(&b.right)?;
                self.binop(b.op, l, r, b.range)
            }
            Expr::UnaryOp(u) => {
                let v = self.expr(&u.operand)?;
                self.unaryop(u.op, v, u.range)
            }
            Expr::Compare(c) => {
                if c.ops.len() != 1 {
                    return Err(self.err(c.range, "chained comparisons (a < b < c) are not supported; split them with &"));
                }
                let l = self.expr(&c.left)?;
                let r = self.expr(&c.comparators[0])?;
                self.cmpop(c.ops[0], l, r, c.range)
            }
            Expr::BoolOp(b) => self.boolop(b),
            Expr::If(i) => match self.expr(&i.test)? {
                Val::Const(c) => self.expr(if c.truthy() { &i.body } else { &i.orelse }),
                cond => self.runtime_ternary(i, cond),
            },
            Expr::Call(c) => self.call(c),
            Expr::Subscript(sub) => self.subscript(sub),
            other => Err(self.err(other.range(), format!("unsupported expression: {}", expr_kind(other)))),
        }
    }

    /// `x[:, None]` (insert dims) on tensors, `t[i]` on constexpr tuples.
    fn subscript(&mut self, sub: &ast::ExprSubscript) -> R<Val> {
        let base = self.expr(&sub.value)?;
        let items: Vec<&Expr> = match sub.slice.as_ref() {
            Expr::Tuple(t) => t.elts.iter().collect(),
            e => vec![e],
        };
        match base {
            Val::Tensor(x) => {
                // As upstream's `tensor.__getitem__`: entry `i` that is `None` inserts a
                // dim at `i` (Python's `list.insert`: past the end appends), `:` keeps one;
                // the count of `:` is not checked against the rank.
                let mut v = x;
                for (dim, e) in items.iter().enumerate() {
                    match e {
                        Expr::NoneLiteral(_) => {
                            let at = (dim as u32).min(self.f.ty(v).rank() as u32);
                            v = self.expand_dims(v, at, sub.range)?;
                        }
                        Expr::Slice(s) if s.lower.is_none() && s.upper.is_none() && s.step.is_none() => {}
                        other => {
                            return Err(self.err(other.range(), "unsupported tensor index: only `:` and `None` are supported when indexing a tensor (e.g. x[:, None])"))
                        }
                    }
                }
                Ok(Val::Tensor(v))
            }
            Val::Const(ConstValue::Tuple(t)) if items.len() == 1 => {
                let vals: Vec<Val> = t.into_iter().map(Val::Const).collect();
                self.index_tuple(vals, &sub.slice, sub.range)
            }
            Val::Tuple(t) if items.len() == 1 => self.index_tuple(t, &sub.slice, sub.range),
            other => Err(self.err(sub.range, format!("a {} cannot be indexed", other.kind_name()))),
        }
    }

    /// `t[i]` with a constexpr integer `i` (negative counts from the end).
    fn index_tuple(&mut self, t: Vec<Val>, index: &Expr, range: TextRange) -> R<Val> {
        let idx = match self.expr(index)? {
            Val::Const(c) => c.as_int(),
            _ => None,
        }
        .ok_or_else(|| self.err(index.range(), "tuple indices must be constexpr integers"))?;
        let n = t.len() as i128;
        let i = if idx < 0 { idx + n } else { idx };
        t.get(usize::try_from(i).unwrap_or(usize::MAX))
            .cloned()
            .ok_or_else(|| self.err(range, format!("tuple index {idx} out of range")))
    }

    fn lookup(&mut self, name: &str, range: TextRange) -> R<Val> {
        if let Some(v) = self.frame_ref().locals.get(name) {
            return Ok(v.clone());
        }
        if let Some(g) = self.frame_ref().src.globals.get(name) {
            let g = g.clone();
            return self.global_val(name, &g, range);
        }
        match name {
            "range" | "min" | "max" | "len" | "int" | "float" | "bool" | "abs" | "print" | "isinstance" | "getattr"
            | "hasattr" | "tuple" | "str" => {
                Ok(Val::Builtin(crate::builtins::python_builtin(name)))
            }
            _ => Err(self.err(range, format!("name '{name}' is not defined"))),
        }
    }

    pub(crate) fn attribute_pub(&mut self, base: Val, attr: &str, range: TextRange) -> R<Val> {
        self.attribute(base, attr, range)
    }

    /// The value of a global (or of a member of a user module) named `name`.
    fn global_val(&self, name: &str, g: &GlobalValue, range: TextRange) -> R<Val> {
        match g {
            GlobalValue::Module(m) => Ok(Val::Module(*m)),
            GlobalValue::Const(c) => Ok(Val::Const(c.clone())),
            GlobalValue::JitFunction(k) => Ok(Val::JitFunction(k.clone())),
            GlobalValue::Namespace(ns) => Ok(Val::Namespace(ns.clone())),
            GlobalValue::Builtin(b) => crate::builtins::language_attr(b)
                .ok_or_else(|| self.err(range, format!("tl.{b} is not supported by triton_metal yet"))),
            GlobalValue::Unsupported(t) => Err(self.err(
                range,
                format!("cannot use global '{name}' of type {t} inside a jit function; only tl.constexpr values, modules and @triton.jit functions"),
            )),
        }
    }

    fn attribute(&mut self, base: Val, attr: &str, range: TextRange) -> R<Val> {
        match base {
            // Upstream wraps compile-time values in tl.constexpr: `c.value` unwraps one.
            Val::Const(_) if attr == "value" => Ok(base),
            Val::Namespace(ns) => match ns.attrs.get(attr) {
                Some(g) => self.global_val(&format!("{}.{attr}", ns.name), g, range),
                None => Err(self.err(range, format!("module '{}' has no attribute '{attr}' usable in a jit function", ns.name))),
            },
            Val::Descriptor(d) => match attr {
                "load" => Ok(Val::DescriptorMethod(d, "load")),
                "store" => Ok(Val::DescriptorMethod(d, "store")),
                "block_shape" => Ok(Val::Const(ConstValue::Tuple(d.block_shape.iter().map(|&b| ConstValue::Int(b as i128)).collect()))),
                "dtype" => match self.f.ty(d.base).elem {
                    tm_ir::Elem::Ptr(e) => Ok(Val::Const(ConstValue::DType(e))),
                    _ => Err(self.err(range, "descriptor without a pointer base")),
                },
                _ => Err(self.err(range, format!("tensor descriptors have no attribute '{attr}' in triton_metal"))),
            },
            Val::Module(Module::Triton) => match attr {
                "language" => Ok(Val::Module(Module::Language)),
                _ => crate::builtins::triton_attr(attr).ok_or_else(|| self.err(range, format!("triton.{attr} is not supported in kernels"))),
            },
            Val::Builtin("PropagateNan") => match attr {
                "ALL" => Ok(Val::Const(ConstValue::Int(0xFFFF))),
                "NONE" => Ok(Val::Const(ConstValue::Int(0))),
                _ => Err(self.err(range, format!("tl.PropagateNan has no member '{attr}'"))),
            },
            Val::Module(Module::Language | Module::Math) => {
                // tl.math, tl.extra.libdevice, tl.extra.cuda.libdevice: one namespace of math.
                if matches!(attr, "math" | "extra" | "libdevice" | "cuda") {
                    return Ok(Val::Module(Module::Math));
                }
                if attr == "pi32_t" {
                    return Ok(Val::Const(ConstValue::PtrType(DType::I32)));
                }
                if matches!(attr, "core" | "standard") {
                    return Ok(Val::Module(Module::Language));
                }
                if let Some(n) = attr.strip_prefix("CONSTEXPR_").and_then(|n| n.parse::<i128>().ok()).filter(|n| *n <= 1) {
                    return Ok(Val::Const(ConstValue::Int(n))); // upstream's tl.core.CONSTEXPR_0 / _1
                }
                if matches!(attr, "num_threads" | "num_warps") {
                    return Ok(Val::Builtin(if attr == "num_threads" { "num_threads" } else { "num_warps" }));
                }
                if let Some(d) = DType::parse(attr).filter(|_| attr.len() > 3 || attr == "int1") {
                    return Ok(Val::Const(ConstValue::DType(d)));
                }
                crate::builtins::language_attr(attr)
                    .ok_or_else(|| self.err(range, format!("tl.{attr} is not supported by triton_metal yet")))
            }
            Val::Tensor(v) => match attr {
                "dtype" => match self.f.ty(v).elem {
                    tm_ir::Elem::Scalar(d) => Ok(Val::Const(ConstValue::DType(d))),
                    tm_ir::Elem::Ptr(d) => Ok(Val::Const(ConstValue::PtrType(d))),
                },
                "numel" => Ok(Val::Const(ConstValue::Int(self.f.ty(v).numel() as i128))),
                "type" => Ok(Val::Const(crate::dtype_attrs::tensor_type(self.f.ty(v)))),
                "T" => {
                    let rank = self.f.ty(v).rank();
                    if rank != 2 {
                        return Err(self.err(range, format!(".T needs a 2-D block, got rank {rank}")));
                    }
                    let ty = self.f.ty(v).clone();
                    let shape = vec![ty.shape[1], ty.shape[0]];
                    Ok(Val::Tensor(self.emit1(tm_ir::OpKind::Trans(vec![1, 0]), vec![v], ty.with_shape(shape))))
                }
                "shape" => Ok(Val::Const(ConstValue::Tuple(
                    self.f.ty(v).shape.iter().map(|&s| ConstValue::Int(s as i128)).collect(),
                ))),
                _ => crate::builtins::tensor_method(attr)
                    .map(|m| Val::Method(v, m))
                    .ok_or_else(|| self.err(range, format!("tensors have no attribute '{attr}' in triton_metal"))),
            },
            // A Python number in a kernel has the type upstream gives its tensor (int32, int64,
            // fp32, int1): `value.dtype`, `acc.to(tl.int64)`, `x.cast(...)`.
            Val::Const(c @ (ConstValue::Int(_) | ConstValue::Float(_) | ConstValue::Bool(_))) => {
                if attr == "dtype" {
                    return crate::semantic::literal_dtype(&c)
                        .map(|d| Val::Const(ConstValue::DType(d)))
                        .ok_or_else(|| self.err(range, format!("{c} is out of range for every integer type")));
                }
                match crate::builtins::tensor_method(attr) {
                    Some(m) => {
                        let v = self.literal_value(&c, range)?;
                        Ok(Val::Method(v, m))
                    }
                    None => Err(self.err(range, format!("'{}' object has no attribute '{attr}'", c.type_name()))),
                }
            }
            Val::Const(c @ (ConstValue::DType(_) | ConstValue::PtrType(_) | ConstValue::BlockType(..))) => {
                use crate::dtype_attrs::{block_attr, pointer_attr, scalar_attr, DTypeAttr};
                let found = match &c {
                    ConstValue::DType(d) => scalar_attr(*d, attr),
                    ConstValue::PtrType(d) => pointer_attr(*d, attr),
                    ConstValue::BlockType(e, shape) => block_attr(e, shape, attr),
                    _ => None,
                };
                match found {
                    Some(DTypeAttr::Value(v)) => Ok(Val::Const(v)),
                    Some(DTypeAttr::Predicate(b)) => Ok(Val::ConstMethod(c, b)),
                    None => Err(self.err(range, format!("'dtype' object has no attribute '{attr}' ({c})"))),
                }
            }
            other => Err(self.err(range, format!("a {} has no attribute '{attr}'", other.kind_name()))),
        }
    }

    /// An operand for a device op: IR values stay, Python numbers become weak scalars.
    pub fn operand(&self, v: &Val, range: TextRange) -> R<Operand> {
        match v {
            Val::Tensor(t) => Ok(Operand::Value(*t)),
            Val::Const(c @ (ConstValue::Int(_) | ConstValue::Float(_) | ConstValue::Bool(_))) => Ok(Operand::Weak(c.clone())),
            other => Err(self.err(range, format!("expected a tensor or a number, got a {}", other.kind_name()))),
        }
    }

    /// An IR value for `v` (Python numbers get their default type).
    pub fn tensor(&mut self, v: &Val, range: TextRange) -> R<ValueId> {
        match v {
            Val::Tensor(t) => Ok(*t),
            Val::Const(c) => self.literal_value(c, range),
            other => Err(self.err(range, format!("expected a tensor, got a {}", other.kind_name()))),
        }
    }

    pub fn binop(&mut self, op: ast::Operator, l: Val, r: Val, range: TextRange) -> R<Val> {
        use ast::Operator as O;
        if let (Val::Const(a), Val::Const(b)) = (&l, &r) {
            return self.const_binop(op, a, b, range).map(Val::Const);
        }
        if matches!(l, Val::LoopIndex(_)) || matches!(r, Val::LoopIndex(_)) {
            return self.loop_index_binop(op, l, r, range);
        }
        let (a, b) = (self.operand(&l, range)?, self.operand(&r, range)?);
        let v = match op {
            O::Add => self.arith(BinOp::Add, a, b, false, range)?,
            O::Sub => self.arith(BinOp::Sub, a, b, false, range)?,
            O::Mult => self.arith(BinOp::Mul, a, b, false, range)?,
            O::Div => self.arith(BinOp::Div, a, b, true, range)?,
            O::FloorDiv => self.arith(BinOp::Div, a, b, false, range)?,
            O::Mod => self.arith(BinOp::Rem, a, b, false, range)?,
            O::BitAnd => self.bitwise(BinOp::And, a, b, range)?,
            O::BitOr => self.bitwise(BinOp::Or, a, b, range)?,
            O::BitXor => self.bitwise(BinOp::Xor, a, b, range)?,
            O::LShift => self.bitwise(BinOp::Shl, a, b, range)?,
            O::RShift => self.bitwise(BinOp::Shr, a, b, range)?,
            O::Pow | O::MatMult => {
                return Err(self.err(range, format!("operator {} is not supported on tensors", op.as_str())))
            }
        };
        Ok(Val::Tensor(v))
    }

    pub(crate) fn unaryop(&mut self, op: ast::UnaryOp, v: Val, range: TextRange) -> R<Val> {
        use ast::UnaryOp as U;
        if let Val::LoopIndex(li) = v {
            return self.loop_index_unary(op, li, range);
        }
        if let Val::Const(c) = &v {
            return Ok(Val::Const(match (op, c) {
                (U::Not, c) => ConstValue::Bool(!c.truthy()),
                (U::USub, ConstValue::Float(f)) => ConstValue::Float(-f),
                (U::USub, c) if c.as_int().is_some() => ConstValue::Int(-c.as_int().unwrap_or(0)),
                (U::UAdd, c @ (ConstValue::Float(_) | ConstValue::Int(_))) => c.clone(),
                (U::Invert, ConstValue::Int(i)) => ConstValue::Int(!i),
                _ => return Err(self.err(range, format!("bad operand type for unary {}: {}", op.as_str(), c.type_name()))),
            }));
        }
        let t = self.tensor(&v, range)?;
        Ok(Val::Tensor(match op {
            U::USub => self.negate(t, range)?,
            U::UAdd => t,
            U::Invert => self.invert(t, range)?,
            U::Not => {
                let b = self.to_bool(t, range)?;
                self.compare(CmpPred::Eq, Operand::Value(b), Operand::Weak(ConstValue::Bool(false)), range)?
            }
        }))
    }

    pub(crate) fn cmpop(&mut self, op: ast::CmpOp, l: Val, r: Val, range: TextRange) -> R<Val> {
        use ast::CmpOp as C;
        if let (Val::Const(a), Val::Const(b)) = (&l, &r) {
            return self.const_compare(op, a, b, range).map(|b| Val::Const(ConstValue::Bool(b)));
        }
        // `is` / `is not` is Python identity, decided at compile time (as upstream):
        // `x is None` is False for a tensor, `x is x` True.
        if matches!(op, C::Is | C::IsNot) {
            let same = crate::control::same_val(&l, &r);
            return Ok(Val::Const(ConstValue::Bool(same == (op == C::Is))));
        }
        if matches!(l, Val::LoopIndex(_)) || matches!(r, Val::LoopIndex(_)) {
            return self.loop_index_compare(op, l, r, range);
        }
        let pred = match op {
            C::Eq => CmpPred::Eq,
            C::NotEq => CmpPred::Ne,
            C::Lt => CmpPred::Lt,
            C::LtE => CmpPred::Le,
            C::Gt => CmpPred::Gt,
            C::GtE => CmpPred::Ge,
            other => return Err(self.err(range, format!("comparison '{}' is not supported on tensors", other.as_str()))),
        };
        let (a, b) = (self.operand(&l, range)?, self.operand(&r, range)?);
        Ok(Val::Tensor(self.compare(pred, a, b, range)?))
    }

    fn boolop(&mut self, b: &ast::ExprBoolOp) -> R<Val> {
        // Constexpr operands short-circuit like Python; runtime ones become i1 logic.
        let is_and = b.op == ast::BoolOp::And;
        let mut acc: Option<ValueId> = None;
        for e in &b.values {
            let v = self.expr(e)?;
            match v {
                Val::Const(c) => {
                    if c.truthy() != is_and {
                        return Ok(Val::Const(ConstValue::Bool(!is_and)));
                    }
                }
                other => {
                    let t = self.tensor(&other, e.range())?;
                    let t = self.to_bool(t, e.range())?;
                    acc = Some(match acc {
                        None => t,
                        Some(a) => {
                            let op = if is_and { BinOp::And } else { BinOp::Or };
                            self.bitwise(op, Operand::Value(a), Operand::Value(t), b.range)?
                        }
                    });
                }
            }
        }
        Ok(match acc {
            Some(v) => Val::Tensor(v),
            None => Val::Const(ConstValue::Bool(is_and)),
        })
    }

    fn call(&mut self, c: &ast::ExprCall) -> R<Val> {
        let callee = self.expr(&c.func)?;
        let mut args = crate::builtins::Args::default();
        for a in c.arguments.args.iter() {
            if let Expr::Starred(s) = a {
                return Err(self.err(s.range, "*args in calls is not supported"));
            }
            let v = self.expr(a)?;
            args.pos.push((v, a.range()));
        }
        for k in c.arguments.keywords.iter() {
            let Some(name) = &k.arg else {
                return Err(self.err(k.range, "**kwargs in calls is not supported"));
            };
            let v = self.expr(&k.value)?;
            args.kw.push((name.to_string(), v, k.range));
        }
        match callee {
            Val::Builtin(name) => self.call_builtin(name, None, args, c.range),
            Val::Method(recv, name) => self.call_builtin(name, Some(recv), args, c.range),
            Val::DescriptorMethod(d, name) => self.descriptor_access(&d, name, args, c.range),
            Val::JitFunction(k) => self.call_jit(k, args, c.range),
            Val::ConstMethod(_, result) => {
                if !args.pos.is_empty() || !args.kw.is_empty() {
                    return Err(self.err(c.range, "this dtype method takes no arguments"));
                }
                Ok(Val::Const(ConstValue::Bool(result)))
            }
            other => Err(self.err(c.func.range(), format!("a {} is not callable in a kernel", other.kind_name()))),
        }
    }

    /// Inlines a call to another `@triton.jit` function (for combine functions).
    pub(crate) fn call_jit_pub(&mut self, k: Arc<KernelSource>, args: crate::builtins::Args, range: TextRange) -> R<Val> {
        self.call_jit(k, args, range)
    }

    /// Inlines a call to another `@triton.jit` function.
    fn call_jit(&mut self, k: Arc<KernelSource>, args: crate::builtins::Args, range: TextRange) -> R<Val> {
        if self.frames.len() > 64 {
            return Err(self.err(range, "jit functions nest more than 64 deep (recursion is not supported)"));
        }
        let sm = SourceMap::new(&k.filename, &k.source, k.first_line, k.col_offset);
        let def = Arc::new(parse_function(&k, &sm)?);
        let params = kernel_params(&k)?;
        let mut bound: Vec<Option<Val>> = vec![None; params.len()];
        if args.pos.len() > params.len() {
            return Err(self.err(range, format!("{}() takes {} arguments but {} were given", k.name, params.len(), args.pos.len())));
        }
        for (i, (v, _)) in args.pos.into_iter().enumerate() {
            bound[i] = Some(v);
        }
        for (name, v, r) in args.kw {
            let Some(i) = params.iter().position(|p| p.name == name) else {
                return Err(self.err(r, format!("{}() got an unexpected keyword argument '{name}'", k.name)));
            };
            if bound[i].is_some() {
                return Err(self.err(r, format!("{}() got multiple values for argument '{name}'", k.name)));
            }
            bound[i] = Some(v);
        }
        let all_params: Vec<&ast::ParameterWithDefault> =
            def.parameters.posonlyargs.iter().chain(def.parameters.args.iter()).collect();
        let mut locals = HashMap::new();
        let mut defaults = vec![];
        let noinline = crate::calls::is_noinline(&def);
        for (i, p) in params.iter().enumerate() {
            match bound[i].take() {
                Some(v) => {
                    if noinline && !p.constexpr {
                        self.check_noinline_args(&k.name, &p.name, &v, range)?;
                    }
                    // A runtime value may be bound to a parameter annotated tl.constexpr: as
                    // upstream, the annotation only matters for kernel parameters.
                    locals.insert(p.name.clone(), v);
                }
                None => match &all_params[i].default {
                    Some(d) => defaults.push((p.name.clone(), d.clone())),
                    None => return Err(self.err(range, format!("{}() missing required argument '{}'", k.name, p.name))),
                },
            }
        }
        let file = match self.f.sources.iter().position(|s| s.function == k.name && s.filename == k.filename) {
            Some(i) => i as u16,
            None => {
                self.f.sources.push(source_file(&k));
                (self.f.sources.len() - 1) as u16
            }
        };
        self.frames.push(Frame { file, src: k.clone(), sm, locals, def: def.clone(), returned: None });
        let result = (|| {
            for (name, d) in defaults {
                let v = self.expr(&d)?;
                self.frame().locals.insert(name, v);
            }
            self.body(&def.body)
        })();
        let frame = self.frames.pop().expect("pushed above");
        result?;
        Ok(frame.returned.unwrap_or(Val::Const(ConstValue::None)))
    }
}

/// A tuple value: constant when every item is.
pub fn tuple_val(items: Vec<Val>) -> Val {
    if items.iter().all(|v| matches!(v, Val::Const(_))) {
        Val::Const(ConstValue::Tuple(
            items.into_iter().map(|v| if let Val::Const(c) = v { c } else { ConstValue::None }).collect(),
        ))
    } else {
        Val::Tuple(items)
    }
}

fn stmt_kind(s: &Stmt) -> &'static str {
    match s {
        Stmt::FunctionDef(_) => "nested function definition",
        Stmt::ClassDef(_) => "class definition",
        Stmt::Delete(_) => "del",
        Stmt::With(_) => "with",
        Stmt::Match(_) => "match",
        Stmt::Raise(_) => "raise",
        Stmt::Try(_) => "try",
        Stmt::Import(_) | Stmt::ImportFrom(_) => "import",
        Stmt::Global(_) => "global",
        Stmt::Nonlocal(_) => "nonlocal",
        Stmt::Break(_) => "break",
        Stmt::Continue(_) => "continue",
        _ => "statement",
    }
}

fn expr_kind(e: &Expr) -> &'static str {
    match e {
        Expr::Lambda(_) => "lambda",
        Expr::Dict(_) => "dict",
        Expr::Set(_) => "set",
        Expr::ListComp(_) | Expr::SetComp(_) | Expr::DictComp(_) | Expr::Generator(_) => "comprehension",
        Expr::List(_) => "list",
        Expr::Subscript(_) => "subscript (indexing) expression",
        Expr::Slice(_) => "slice",
        Expr::Starred(_) => "starred expression",
        Expr::FString(_) => "f-string",
        Expr::Named(_) => "assignment expression (:=)",
        Expr::Await(_) | Expr::Yield(_) | Expr::YieldFrom(_) => "await/yield",
        _ => "expression",
    }
}

