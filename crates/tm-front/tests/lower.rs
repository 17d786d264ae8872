//! Front-end tests: source to printed IR, and diagnostics with their positions.

use std::collections::HashMap;
use tm_front::{lower_kernel, ConstValue, GlobalValue, KernelSource, Module, ParamSpec};
use tm_ir::DType;

fn src(name: &str, text: &str) -> KernelSource {
    let mut globals = HashMap::new();
    globals.insert("tl".to_string(), GlobalValue::Module(Module::Language));
    globals.insert("triton".to_string(), GlobalValue::Module(Module::Triton));
    KernelSource { name: name.into(), source: text.into(), filename: "k.py".into(), first_line: 1, col_offset: 0, globals }
}

const ADD: &str = "@triton.jit
def add(x_ptr, y_ptr, out_ptr, n, BLOCK: tl.constexpr):
    pid = tl.program_id(axis=0)
    offs = pid * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask, other=0.0)
    tl.store(out_ptr + offs, x + y, mask=mask)
";

fn add_specs() -> Vec<ParamSpec> {
    let p = ParamSpec::Pointer { dtype: DType::F32, divisibility: 16 };
    vec![p.clone(), p.clone(), p, ParamSpec::Int { dtype: DType::I32, divisibility: 1 }, ParamSpec::Constexpr(ConstValue::Int(256))]
}

#[test]
fn vector_add_lowers_to_ttir_like_ir() {
    let f = lower_kernel(&src("add", ADD), &add_specs()).unwrap();
    let text = tm_ir::print_func(&f);
    assert!(text.starts_with("tt.func public @add(%arg0: !tt.ptr<f32> {tt.divisibility = 16 : i32}"), "{text}");
    for needle in [
        "tt.get_program_id x : i32",
        "tt.make_range {end = 256 : i32, start = 0 : i32} : tensor<256xi32>",
        "arith.cmpi slt",
        "tt.addptr",
        "tt.load",
        "arith.addf",
        "tt.store",
        "tt.return",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

fn err_of(text: &str, specs: &[ParamSpec]) -> tm_front::Diagnostic {
    lower_kernel(&src("k", text), specs).unwrap_err()
}

#[test]
fn unsupported_syntax_is_located() {
    let e = err_of("def k(x):\n    y = {1: 2}\n", &[ParamSpec::Constexpr(ConstValue::Int(1))]);
    assert_eq!((e.line, e.col), (2, 9));
    assert!(e.message.contains("dict"), "{e}");
    assert!(e.to_string().contains("    y = {1: 2}\n        ^"), "{e}");
}

#[test]
fn non_power_of_two_arange_is_refused() {
    let e = err_of("def k(x):\n    r = tl.arange(0, 100)\n", &[ParamSpec::Constexpr(ConstValue::None)]);
    assert!(e.message.contains("power of 2"), "{e}");
    assert_eq!(e.line, 2);
}

#[test]
fn float_store_through_int_pointer_casts_as_triton() {
    // Triton casts a stored value to the pointer's element type (Inductor relies on it).
    let text = "def k(p):\n    tl.store(p + tl.arange(0, 4), tl.zeros((4,), tl.float32))\n";
    let f = lower_kernel(&src("k", text), &[ParamSpec::Pointer { dtype: DType::I32, divisibility: 16 }]).unwrap();
    assert!(tm_ir::print_func(&f).contains("arith.fptosi"), "{}", tm_ir::print_func(&f));
}

#[test]
fn fp64_is_refused_loudly() {
    let e = err_of("def k(p):\n    x = tl.load(p)\n", &[ParamSpec::Pointer { dtype: DType::F64, divisibility: 16 }]);
    assert!(e.message.contains("float64"), "{e}");
}

#[test]
fn undefined_names_are_reported() {
    let e = err_of("def k(p):\n    x = foo + 1\n", &[ParamSpec::Constexpr(ConstValue::None)]);
    assert!(e.message.contains("'foo' is not defined"), "{e}");
}

#[test]
fn constexpr_arithmetic_uses_python_semantics() {
    // -7 // 2 == -4 and -7 % 2 == 1 in Python; both fold before reaching the IR.
    let text = "def k(p, A: tl.constexpr):\n    tl.static_assert(A // 2 == -4)\n    tl.static_assert(A % 2 == 1)\n";
    let specs = [ParamSpec::Pointer { dtype: DType::F32, divisibility: 16 }, ParamSpec::Constexpr(ConstValue::Int(-7))];
    lower_kernel(&src("k", text), &specs).unwrap();
}

fn ir(text: &str, specs: &[ParamSpec]) -> String {
    tm_ir::print_func(&lower_kernel(&src("k", text), specs).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn signed_shifted_right_by_unsigned_is_arithmetic() {
    let specs = [ParamSpec::Int { dtype: DType::I32, divisibility: 1 }, ParamSpec::Int { dtype: DType::U32, divisibility: 1 }, ParamSpec::Pointer { dtype: DType::U32, divisibility: 16 }];
    let text = ir("def k(x, y, out):\n    tl.store(out, x >> y)\n", &specs);
    // promoted to uint32, shifted as int32
    assert!(text.contains("arith.shrsi") && !text.contains("arith.shrui") && text.contains("tt.bitcast"), "{text}");
    let specs = [ParamSpec::Int { dtype: DType::U32, divisibility: 1 }, ParamSpec::Int { dtype: DType::I32, divisibility: 1 }, ParamSpec::Pointer { dtype: DType::U32, divisibility: 16 }];
    let text = ir("def k(x, y, out):\n    tl.store(out, x >> y)\n", &specs);
    assert!(text.contains("arith.shrui") && !text.contains("arith.shrsi"), "{text}");
}

#[test]
fn a_runtime_return_under_a_constexpr_if_keeps_the_statements_after_it() {
    let specs = [ParamSpec::Pointer { dtype: DType::I32, divisibility: 16 }, ParamSpec::Constexpr(ConstValue::Bool(true))];
    let text = ir("def k(out, C: tl.constexpr):\n    if C:\n        if tl.load(out) > 0:\n            return\n    tl.store(out, 7)\n", &specs);
    // the store moved into the branch that does not return
    assert!(text.contains("scf.if") && text.contains("tt.store"), "{text}");
}

#[test]
fn interleaving_two_scalars_gives_a_block_of_two() {
    let specs = [ParamSpec::Pointer { dtype: DType::I32, divisibility: 16 }];
    let text = ir("def k(out):\n    c = tl.interleave(tl.load(out), tl.load(out + 1))\n    tl.static_assert(c.shape[0] == 2)\n    tl.store(out + tl.arange(0, 2), c)\n", &specs);
    assert!(text.contains("tt.join") && !text.contains("tt.reshape"), "{text}");
}
