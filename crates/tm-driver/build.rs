//! Computes `TM_COMPILER_DIGEST`, a digest of the sources of every crate whose code decides
//! what `compile` produces. It is part of every persistent kernel cache key, so a rebuilt
//! compiler never reuses entries written by another build (see `src/cache.rs`).

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Crates (folders under `crates/`) whose sources shape the compiled kernel.
const COMPILER_CRATES: &[&str] = &[
    "tm-ir",
    "tm-abi",
    "tm-front",
    "tm-opt",
    "tm-msl",
    "tm-driver",
];

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    // The checkout this build script runs for, read at run time: `env!` would bake
    // in the directory the script was compiled in, and a target directory copied
    // from another checkout would then digest (and watch) that checkout's sources.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let crates = Path::new(&manifest).join("..");
    let mut hasher = Sha256::new();
    for name in COMPILER_CRATES {
        for sub in ["src", "Cargo.toml"] {
            let root = crates.join(name).join(sub);
            // Relative to the package root, so a copied fingerprint watches its own checkout.
            println!("cargo:rerun-if-changed=../{name}/{sub}");
            let mut files = vec![];
            if root.is_dir() {
                files_under(&root, &mut files);
            } else if root.is_file() {
                files.push(root.clone());
            }
            files.sort();
            for f in files {
                let rel = f
                    .strip_prefix(&crates)
                    .unwrap_or(&f)
                    .to_string_lossy()
                    .replace('\\', "/");
                let data = std::fs::read(&f).unwrap_or_default();
                hasher.update((rel.len() as u64).to_le_bytes());
                hasher.update(rel.as_bytes());
                hasher.update((data.len() as u64).to_le_bytes());
                hasher.update(&data);
            }
        }
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    println!("cargo:rustc-env=TM_COMPILER_DIGEST={digest}");
}
