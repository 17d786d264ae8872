//! Tests that need the crate's internals: the disk cache behind the in-process map.

use super::*;
use tm_abi::BufferParam;
use tm_ir::DType;

#[test]
fn second_compile_hits_the_disk_cache() {
    // A fresh kernel text every run, so the first compile really compiles.
    let nonce = format!("{:?} {}", std::time::SystemTime::now(), std::process::id());
    let msl = format!(
        r#"#include <metal_stdlib>
using namespace metal;
// nonce: {nonce}
kernel void cache_probe(
    device int* p0 [[buffer(0)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint3 tm_nprog [[threadgroups_per_grid]],
    uint tm_tid [[thread_index_in_threadgroup]],
    uint tm_lane [[thread_index_in_simdgroup]],
    uint tm_sg [[simdgroup_index_in_threadgroup]])
{{
    p0[tm_pid.x * 32 + tm_tid] = int(tm_pid.x * 1000 + tm_tid);
}}
"#
    );
    let abi = KernelAbi::new(
        "cache_probe".into(),
        vec![BufferParam {
            name: "p".into(),
            dtype: DType::I32,
            read: true,
            written: true,
        }],
        vec![],
        vec![],
        32,
        0,
        false,
    )
    .unwrap();

    let first = compile(&msl, &abi).unwrap();
    assert_eq!(first.origin(), KernelOrigin::Compiled);
    assert!(first.library_path().exists());
    assert!(first.library_path().with_extension("cpp").exists());

    // Same process: the in-process map answers with the very same kernel.
    let again = compile(&msl, &abi).unwrap();
    assert!(Arc::ptr_eq(&first, &again));

    // As if in a new process: the library comes from disk, without clang.
    forget_loaded_kernels();
    let cached = compile(&msl, &abi).unwrap();
    assert_eq!(cached.origin(), KernelOrigin::DiskCache);
    assert_eq!(cached.library_path(), first.library_path());

    let mut out = vec![0i32; 64];
    unsafe { cached
        .launch([2, 1, 1], &[Buffer::slice(&mut out)], &[]) }
        .unwrap();
    let expected: Vec<i32> = (0..64).map(|i| (i / 32) * 1000 + i % 32).collect();
    assert_eq!(out, expected);
}
