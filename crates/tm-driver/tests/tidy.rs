//! Repository hygiene, run as a test: every Rust file opens with a `//!` doc,
//! no test is ignored or expects a panic, files stay small, and every crate
//! appears in ARCHITECTURE.md.

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 1000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("readable dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "target") {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn rust_files_are_documented_small_and_never_ignore_tests() {
    let mut files = vec![];
    rust_files(&root().join("crates"), &mut files);
    assert!(files.len() > 20);
    let mut problems = vec![];
    let ignore = ["#[", "ignore]"].concat();
    let should_panic = ["#[", "should_panic"].concat();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("utf-8 source");
        let name = f.strip_prefix(root()).unwrap_or(f).display().to_string();
        if name.ends_with("build.rs") {
            continue;
        }
        if !text.trim_start().starts_with("//!") && !text.trim_start().starts_with("#![cfg") {
            problems.push(format!("{name}: missing a //! module doc"));
        }
        if text.contains(&ignore) || text.contains(&should_panic) {
            problems.push(format!("{name}: ignored or should_panic test"));
        }
        let lines = text.lines().count();
        if lines > MAX_LINES {
            problems.push(format!("{name}: {lines} lines (at most {MAX_LINES})"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_crate_is_in_the_architecture_doc() {
    let arch = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for e in std::fs::read_dir(root().join("crates")).expect("crates/").flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        assert!(arch.contains(&format!("crates/{name}")), "ARCHITECTURE.md does not describe crates/{name}");
    }
}
