//! Snapshot tests: each `tests/in/NAME.py` kernel is compiled with the
//! specialisation in its header and its IR and MSL compared with
//! `tests/out/NAME.{ttir,metal}` (committed). `UPDATE_EXPECT=1` rewrites them.
//! Every snapshot must also pass the Metal address-space check. Snapshots are
//! a complement: execution against numpy (python/tests) is the proof.

use std::collections::HashMap;
use std::path::Path;
use tm_driver::tm_front::{ConstValue, GlobalValue, KernelSource, Module, ParamSpec};
use tm_driver::{compile, CompileRequest};
use tm_ir::DType;

fn parse_spec(s: &str) -> ParamSpec {
    let s = s.trim();
    if let Some((_, v)) = s.split_once('=') {
        return ParamSpec::Constexpr(ConstValue::Int(v.trim().parse().expect("constexpr int")));
    }
    let (ty, div) = s.split_once(':').unwrap_or((s, "1"));
    let div: u64 = div.parse().expect("divisibility");
    match ty.strip_prefix('*') {
        Some(d) => ParamSpec::Pointer { dtype: DType::parse(d).expect("dtype"), divisibility: div },
        None => {
            let dtype = DType::parse(ty).expect("dtype");
            if dtype.is_float() {
                ParamSpec::Float { dtype }
            } else {
                ParamSpec::Int { dtype, divisibility: div }
            }
        }
    }
}

fn header<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines().find_map(|l| l.strip_prefix(&format!("# {key}:"))).unwrap_or_else(|| panic!("missing '# {key}:' header")).trim()
}

fn check_snapshot(path: &Path, actual: &str) -> Option<String> {
    if std::env::var("UPDATE_EXPECT").is_ok() {
        std::fs::write(path, actual).expect("write snapshot");
        return None;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    (expected != actual).then(|| format!("{} differs (run with UPDATE_EXPECT=1 to update)", path.display()))
}

#[test]
fn snapshots_match_and_pass_the_address_space_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut failures = vec![];
    let mut entries: Vec<_> = std::fs::read_dir(dir.join("in")).expect("tests/in").flatten().map(|e| e.path()).collect();
    entries.sort();
    assert!(!entries.is_empty());
    for path in entries {
        let text = std::fs::read_to_string(&path).expect("read");
        let name = text
            .lines()
            .find_map(|l| l.strip_prefix("def ").and_then(|r| r.split('(').next()))
            .expect("a def")
            .to_string();
        let specs = header(&text, "signature").split(',').map(parse_spec).collect();
        let num_warps = header(&text, "num_warps").parse().expect("num_warps");
        let mut globals = HashMap::new();
        globals.insert("tl".to_string(), GlobalValue::Module(Module::Language));
        globals.insert("triton".to_string(), GlobalValue::Module(Module::Triton));
        let source = KernelSource { name, source: text.clone(), filename: path.display().to_string(), first_line: 1, col_offset: 0, globals };
        let k = compile(&CompileRequest { source, specs, num_warps }).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let stem = path.file_stem().expect("stem").to_string_lossy().to_string();
        failures.extend(check_snapshot(&dir.join("out").join(format!("{stem}.ttir")), &k.ttir_opt));
        failures.extend(check_snapshot(&dir.join("out").join(format!("{stem}.metal")), &k.msl));
        if let Err(e) = tm_cpu::syntax_check(&k.msl) {
            failures.push(format!("{stem}: address-space check failed: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
