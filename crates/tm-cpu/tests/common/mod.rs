//! Helpers shared by the integration tests: ABI construction, the builtin parameters every
//! kernel ends with, and host-side half/bfloat conversions.
#![allow(dead_code)]

use std::sync::Arc;

use tm_abi::{BufferParam, KernelAbi, ParamSlot, ScalarValue};
use tm_cpu::{Buffer, CpuKernel};
use tm_ir::DType;

/// The trailing builtin parameters of every kernel (see the tm_abi signature).
pub const BUILTINS: &str = "uint3 tm_pid [[threadgroup_position_in_grid]],
    uint3 tm_nprog [[threadgroups_per_grid]],
    uint tm_tid [[thread_index_in_threadgroup]],
    uint tm_lane [[thread_index_in_simdgroup]],
    uint tm_sg [[simdgroup_index_in_threadgroup]]";

/// Builds MSL from a template: `{BUILTINS}` expands to the builtin parameters and every
/// `{key}` of `vars` to its value (kernel bodies keep their braces untouched).
pub fn msl(template: &str, vars: &[(&str, String)]) -> String {
    let mut s = template.replace("{BUILTINS}", BUILTINS);
    for (k, v) in vars {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

pub fn abi(
    name: &str,
    buffers: &[DType],
    scalars: &[(&str, DType)],
    threads: u32,
    smem: u32,
    uses_sync: bool,
) -> KernelAbi {
    let bufs: Vec<BufferParam> = buffers
        .iter()
        .enumerate()
        .map(|(i, d)| BufferParam {
            name: format!("p{i}"),
            dtype: *d,
            read: true,
            written: true,
        })
        .collect();
    let params = (0..bufs.len())
        .map(ParamSlot::Buffer)
        .chain((0..scalars.len()).map(ParamSlot::Scalar))
        .collect();
    KernelAbi::new(
        name.into(),
        bufs,
        scalars.iter().map(|(n, d)| (n.to_string(), *d)).collect(),
        params,
        threads,
        smem,
        uses_sync,
    )
    .expect("valid test ABI")
}

/// Checks the address spaces, then compiles: every test kernel must pass both headers.
pub fn build(msl: &str, abi: &KernelAbi) -> Arc<CpuKernel> {
    if let Err(e) = tm_cpu::syntax_check(msl) {
        panic!("syntax check failed for {}:\n{e}", abi.kernel_name);
    }
    tm_cpu::compile(msl, abi).unwrap_or_else(|e| panic!("{e}"))
}

pub fn pack(abi: &KernelAbi, values: &[ScalarValue]) -> Vec<u8> {
    let mut out = vec![];
    abi.pack_scalars(values, &mut out).expect("scalars fit");
    out
}

/// Buffer slot over `v`: the kernel may touch exactly its elements.
pub fn ptr<T>(v: &mut [T]) -> Buffer {
    Buffer::slice(v)
}

pub fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f32::from(h & 0x3ff);
    match exp {
        0 => sign * man * 2f32.powi(-24),
        0x1f if man == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        e => sign * (1.0 + man / 1024.0) * 2f32.powi(e - 15),
    }
}

pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// Rounds to the nearest half (ties to even), as a float.
pub fn round_f16(x: f32) -> f32 {
    f16_to_f32(tm_abi::f32_to_f16_bits(x))
}

pub fn round_bf16(x: f32) -> f32 {
    bf16_to_f32(tm_abi::f32_to_bf16_bits(x))
}

pub fn assert_close(got: f32, want: f32, rel: f32, what: &str) {
    let tol = rel * want.abs().max(1e-30) + 1e-30;
    assert!((got - want).abs() <= tol, "{what}: got {got}, want {want}");
}
