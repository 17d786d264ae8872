//! The address-space check: Metal's rules about device, threadgroup, constant and thread
//! pointers, enforced by compiling the MSL as C++ for OpenCL.

mod common;

use common::*;
use tm_cpu::CpuError;

const GOOD: &str = r#"#include <metal_stdlib>
using namespace metal;

struct good_args {
    int n;
    float scale;
};

static float load_tg(threadgroup const float* s, uint i) { return s[i]; }
static float load_dev(device const float* p, uint i) { return p[i]; }
static float sum_private(thread const float* v, uint n) {
    float t = 0.0f;
    for (uint i = 0; i < n; ++i) t += v[i];
    return t;
}
static int get_n(constant good_args& a) { return a.n; }

kernel void good(
    device float* p0 [[buffer(0)]],
    constant good_args& args [[buffer(1)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup float* s = (threadgroup float*)tm_smem;
    float regs[4] = {1.0f, 2.0f, 3.0f, 4.0f};
    s[tm_tid] = load_dev(p0, tm_tid) * args.scale + sum_private(regs, 4);
    threadgroup_barrier(mem_flags::mem_threadgroup);
    float4 v = *(device float4*)(p0 + 4 * tm_tid);
    simdgroup_float8x8 m;
    simdgroup_load(m, s, 8);
    simdgroup_store(m, p0, 8);
    atomic_fetch_add_explicit((threadgroup atomic_int*)tm_smem, 1, memory_order_relaxed);
    atomic_fetch_add_explicit((device atomic_float*)p0, 1.0f, memory_order_relaxed);
    if (int(tm_tid) < get_n(args)) {
        p0[tm_tid] = load_tg(s, tm_tid) + v.x + simd_sum(v.y);
    }
}
"#;

/// A variant of a small kernel with one statement that Metal refuses.
fn bad(helper: &str, statement: &str) -> String {
    let src = r#"#include <metal_stdlib>
using namespace metal;
{HELPER}
kernel void bad(
    device float* p0 [[buffer(0)]],
    threadgroup uchar* tm_smem [[threadgroup(0)]],
    {BUILTINS})
{
    threadgroup float* s = (threadgroup float*)tm_smem;
    s[tm_tid] = 0.0f;
    {STATEMENT}
}
"#;
    msl(
        src,
        &[("HELPER", helper.into()), ("STATEMENT", statement.into())],
    )
}

/// Asserts the check refuses `src` at the statement under test (line 15) for a reason
/// mentioning `why`.
fn refused(src: &str, why: &str) {
    match tm_cpu::syntax_check(src) {
        Err(CpuError::SyntaxCheck { diagnostics }) => {
            let first = diagnostics
                .lines()
                .find(|l| l.contains("error:"))
                .unwrap_or_default();
            assert!(
                first.contains("kernel.metal:15:") && first.contains(why),
                "{diagnostics}"
            );
        }
        other => panic!("expected the check to refuse:\n{src}\ngot {other:?}"),
    }
}

#[test]
fn accepts_correct_address_spaces() {
    let good = msl(GOOD, &[]);
    tm_cpu::syntax_check(&good).unwrap();
    // The executable header accepts the same code.
    let abi = abi(
        "good",
        &[tm_ir::DType::F32],
        &[("n", tm_ir::DType::I32), ("scale", tm_ir::DType::F32)],
        32,
        256,
        true,
    );
    tm_cpu::compile(&good, &abi).unwrap();
    // The control kernel of the refusals below is fine too.
    tm_cpu::syntax_check(&bad("", "p0[tm_tid] = s[tm_tid];")).unwrap();
}

#[test]
fn refuses_a_device_pointer_where_a_threadgroup_pointer_is_expected() {
    let helper = "static void zero_tg(threadgroup float* t) { t[0] = 0.0f; }";
    refused(
        &bad(helper, "zero_tg(p0);"),
        "no matching function for call to 'zero_tg'",
    );
    refused(
        &bad("", "threadgroup float* t = p0; t[0] = 1.0f;"),
        "__local float",
    );
    refused(
        &bad("", "device float* d = s; d[0] = 1.0f;"),
        "__global float",
    );
}

#[test]
fn refuses_other_address_space_errors() {
    // A private (thread) pointer passed as a device pointer.
    let helper = "static void store_dev(device float* d) { d[0] = 1.0f; }";
    // (`local` is an OpenCL keyword but a plain identifier in Metal.)
    refused(
        &bad(helper, "float local[2]; store_dev(local);"),
        "store_dev",
    );
    // Atomics live in device or threadgroup memory, never in constant memory.
    let atomic = "atomic_fetch_add_explicit((constant atomic_int*)p0, 1, memory_order_relaxed);";
    refused(&bad("", atomic), "mismatching address spaces");
    // Metal has no double.
    refused(&bad("", "double d = 1.0; p0[0] = float(d);"), "double");
}
