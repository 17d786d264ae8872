//! Tests that need the crate's internals: the disk cache behind the in-process map.

use super::*;
use tm_abi::BufferParam;
use tm_ir::DType;

/// Tests that empty the in-process map run one at a time.
static MAP: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn second_compile_hits_the_disk_cache() {
    let _map = lock(&MAP);
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

fn probe_kernel(tag: &str) -> (String, KernelAbi) {
    let nonce = format!("{tag} {:?} {}", std::time::SystemTime::now(), std::process::id());
    let msl = format!(
        r#"#include <metal_stdlib>
using namespace metal;
// nonce: {nonce}
kernel void damage_probe(
    device int* p0 [[buffer(0)]],
    uint3 tm_pid [[threadgroup_position_in_grid]],
    uint3 tm_nprog [[threadgroups_per_grid]],
    uint tm_tid [[thread_index_in_threadgroup]],
    uint tm_lane [[thread_index_in_simdgroup]],
    uint tm_sg [[simdgroup_index_in_threadgroup]])
{{
    p0[tm_tid] = int(tm_tid * 3);
}}
"#
    );
    let abi = KernelAbi::new(
        "damage_probe".into(),
        vec![BufferParam { name: "p".into(), dtype: DType::I32, read: true, written: true }],
        vec![],
        vec![],
        32,
        0,
        false,
    )
    .unwrap();
    (msl, abi)
}

fn runs(k: &CpuKernel) {
    let mut out = vec![0i32; 32];
    unsafe { k.launch([1, 1, 1], &[Buffer::slice(&mut out)], &[]) }.unwrap();
    assert_eq!(out, (0..32).map(|i| i * 3).collect::<Vec<_>>());
}

/// Replaces `p` by a file holding `bytes` (a new inode: the loaded library stays mapped).
fn replace(p: &std::path::Path, bytes: &[u8]) {
    let tmp = p.with_extension("damage");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(&tmp, p).unwrap();
}

#[test]
fn damaged_libraries_are_rebuilt_not_loaded() {
    type Damage = fn(&std::path::Path);
    let damages: [(&str, Damage); 5] = [
        ("truncated", |p| {
            let b = std::fs::read(p).unwrap();
            replace(p, &b[..b.len() / 3]);
        }),
        ("flipped", |p| {
            let mut b = std::fs::read(p).unwrap();
            for i in (64..b.len()).step_by(97) {
                b[i] ^= 0x5a;
            }
            replace(p, &b);
        }),
        ("empty", |p| replace(p, b"")),
        ("directory", |p| {
            std::fs::remove_file(p).unwrap();
            std::fs::create_dir(p).unwrap();
        }),
        ("link", |p| {
            std::fs::remove_file(p).unwrap();
            std::os::unix::fs::symlink("/bin/true", p).unwrap();
        }),
    ];
    let _map = lock(&MAP);
    for (what, damage) in damages {
        let (msl, abi) = probe_kernel(what);
        let first = compile(&msl, &abi).unwrap();
        runs(&first);
        let path = first.library_path().to_path_buf();
        damage(&path);
        forget_loaded_kernels();
        let again = compile(&msl, &abi).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(again.origin(), KernelOrigin::Compiled, "{what}: rebuilt, not loaded");
        runs(&again);
        assert!(cache::check_library(&path).is_ok(), "{what}: the rebuilt library is sealed");
    }
}

#[test]
fn damaged_headers_are_restored() {
    let cache = std::env::temp_dir().join(cache::unique_name("tm-headers-test"));
    cache::private_dir(&cache).unwrap();
    let include = cache::include_dir(&cache, false).unwrap();
    std::fs::write(include.join("tm_metal_types.h"), "#error damaged\n").unwrap();
    std::fs::remove_file(include.join("tm_cpu_runtime.h")).unwrap();
    std::fs::remove_dir_all(include.join("check")).unwrap();
    // Checked once per process: the next look (or a failed compile) verifies and repairs.
    assert!(cache::repair_headers(&include).unwrap());
    assert!(!cache::repair_headers(&include).unwrap(), "intact now");
    for (name, text) in cache::HEADERS {
        assert_eq!(std::fs::read_to_string(include.join(name)).unwrap(), *text, "{name}");
    }
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn temp_files_of_dead_processes_are_removed() {
    let dir = std::env::temp_dir().join(cache::unique_name("tm-stale-test"));
    std::fs::create_dir_all(&dir).unwrap();
    // pid 2^22 + 1 is above Linux's pid_max default range for a live process here.
    let dead = dir.join("abc.so.tmp.4194305.0");
    let mine = dir.join(cache::unique_name("x.so.tmp"));
    let stale_dir = dir.join("include.tmp.4194305.3");
    let keep = dir.join("abc.so");
    for f in [&dead, &mine, &keep] {
        std::fs::write(f, b"x").unwrap();
    }
    std::fs::create_dir_all(stale_dir.join("check")).unwrap();
    cache::clean_stale(&dir);
    assert!(!dead.exists() && !stale_dir.exists());
    assert!(mine.exists() && keep.exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn directories_other_users_can_write_are_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(cache::unique_name("tm-private-test"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    // Ours: made private.
    cache::private_dir(&dir).unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o022, 0);
    // A path under a file cannot be a directory: the fallback is used, with a warning.
    let file = dir.join("f");
    std::fs::write(&file, b"").unwrap();
    let used = cache::resolve("cpu", Some(file.join("cpu")), true).unwrap();
    assert_ne!(used, file.join("cpu"));
    cache::private_dir(&used).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn large_units_are_built_at_a_bounded_optimisation_level() {
    assert_eq!(toolchain::opt_flags(20_000), ["-O2"]);
    assert_eq!(toolchain::opt_flags(toolchain::LARGE_UNIT_BYTES + 1)[0], "-O1");
    assert_ne!(toolchain::exec_flags_text(1), toolchain::exec_flags_text(1 << 20));
}
