//! A missing compiler gives a clear error. Alone in its test binary because it sets an
//! environment variable (no other test thread may read the environment meanwhile).

#[test]
fn missing_compiler_names_the_fix() {
    std::env::set_var("TRITON_METAL_CLANG", "/nonexistent/clang++");
    let e = tm_cpu::compiler_path().unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(e, tm_cpu::CpuError::CompilerNotFound { .. }),
        "{text}"
    );
    assert!(
        text.contains("apt-get install clang") && text.contains("/nonexistent/clang++"),
        "{text}"
    );
    let e = tm_cpu::syntax_check("kernel void k() {}").unwrap_err();
    assert!(
        matches!(e, tm_cpu::CpuError::CompilerNotFound { .. }),
        "{e}"
    );
}
