//! Rules of calls to other jit functions that are not about inlining itself.

use crate::lower::{Lowerer, R};
use crate::value::Val;
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::TextRange;

/// Whether a function is declared `@triton.jit(noinline=True)` (or `@jit(noinline=True)`).
pub(crate) fn is_noinline(def: &ast::StmtFunctionDef) -> bool {
    def.decorator_list.iter().any(|d| match &d.expression {
        Expr::Call(c) => c.arguments.keywords.iter().any(|k| {
            k.arg.as_ref().is_some_and(|a| a.as_str() == "noinline")
                && matches!(&k.value, Expr::BooleanLiteral(b) if b.value)
        }),
        _ => false,
    })
}

impl Lowerer<'_> {
    /// Upstream's rule for `noinline` functions (its code generator's `_check_fn_args`):
    /// they are real calls, so every argument that is not a constexpr must be a scalar (a block of one element counts as one).
    /// triton_metal inlines every call, but refuses what upstream refuses.
    pub(crate) fn check_noinline_args(&self, name: &str, param: &str, v: &Val, r: TextRange) -> R<()> {
        if let Val::Tensor(t) = v {
            let ty = self.f.ty(*t);
            if ty.is_block() && ty.shape.iter().product::<u32>() != 1 {
                return Err(self.err(
                    r,
                    format!(
                        "Function {name} is marked noinline, but was called with non-scalar argument {param}:{}",
                        self.type_name_of(*t)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `stmts` hold a `return` without a value (or `return None`) outside loops: a path
/// that returns nothing explicitly, which upstream refuses to mix with a value
/// ("Inconsistent return types"), unlike a path that falls off the end (a poison value).
pub(crate) fn contains_bare_return(stmts: &[Stmt]) -> bool {
    stmts.iter().any(|s| match s {
        Stmt::Return(r) => r.value.as_deref().is_none_or(|v| v.is_none_literal_expr()),
        Stmt::If(i) => contains_bare_return(&i.body) || i.elif_else_clauses.iter().any(|c| contains_bare_return(&c.body)),
        _ => false,
    })
}

/// Whether upstream evaluates the condition `test` at run time although it is a known
/// number here: a local name given a number by a plain assignment (`a = False`), which
/// upstream's code generator turns into a tensor (only `tl.constexpr`-annotated locals,
/// constexpr parameters and globals stay compile-time values).
pub(crate) fn upstream_runtime_name(def: &ast::StmtFunctionDef, test: &Expr) -> bool {
    fn assigns(stmts: &[Stmt], name: &str) -> bool {
        stmts.iter().any(|s| match s {
            Stmt::Assign(a) => a.targets.iter().any(|t| matches!(t, Expr::Name(n) if n.id.as_str() == name)),
            Stmt::AugAssign(a) => matches!(a.target.as_ref(), Expr::Name(n) if n.id.as_str() == name),
            Stmt::If(i) => assigns(&i.body, name) || i.elif_else_clauses.iter().any(|c| assigns(&c.body, name)),
            Stmt::For(f) => assigns(&f.body, name),
            Stmt::While(w) => assigns(&w.body, name),
            _ => false,
        })
    }
    let Expr::Name(n) = test else { return false };
    let name = n.id.as_str();
    let is_param = def.parameters.posonlyargs.iter().chain(&def.parameters.args).any(|p| p.parameter.name.as_str() == name);
    let annotated = def.body.iter().any(|s| matches!(s, Stmt::AnnAssign(a) if matches!(a.target.as_ref(), Expr::Name(t) if t.id.as_str() == name)));
    !is_param && !annotated && assigns(&def.body, name)
}

impl Lowerer<'_> {
    /// A function returning a value on one path and `return` / `return None` on another.
    pub(crate) fn inconsistent_return(&self, range: TextRange) -> crate::diag::Diagnostic {
        self.err(range, format!("Inconsistent return types in {}(): a value on some paths and None on others", self.frame_name()))
    }
}
