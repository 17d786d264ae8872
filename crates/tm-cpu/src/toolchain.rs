//! Finding clang++ and the flags it is run with.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use crate::CpuError;

/// Names tried on `PATH` when `TRITON_METAL_CLANG` is not set, best first.
const CANDIDATES: &[&str] = &[
    "clang++-19",
    "clang++-18",
    "clang++-17",
    "clang++-20",
    "clang++-21",
    "clang++-22",
    "clang++",
];

/// The oldest clang with `__bf16` arithmetic on x86_64 and aarch64.
const MIN_CLANG_MAJOR: u32 = 17;

/// Flags for the executable build. No fast-math and no FMA contraction: results must not
/// depend on the host CPU. `-fsigned-char` because Metal's `char` is signed (aarch64 Linux's
/// is not). Half and bfloat operations round after every operation, as Metal's do.
const EXEC_FLAGS: &[&str] = &[
    "-std=c++17",
    "-fPIC",
    "-shared",
    "-ffp-contract=off",
    "-fno-fast-math",
    "-fno-math-errno",
    "-fno-strict-aliasing",
    "-fsigned-char",
    "-fno-exceptions",
    "-fno-rtti",
    // Large frames touch their pages in order, so a fiber overflowing its stack hits the
    // guard page below it (and its error is reported) instead of jumping past it.
    "-fstack-clash-protection",
    // A loop without side effects may not be assumed to end (C++'s forward-progress rule):
    // `while True: pass` in a kernel must spin, as on a GPU, not fall through into whatever
    // code follows (which crashed the process).
    "-fno-finite-loops",
    "-fvisibility=hidden",
    "-g0",
    "-w",
    "-Xclang",
    "-ffloat16-excess-precision=none",
    "-Xclang",
    "-fbfloat16-excess-precision=none",
];

/// Linker flags, after the source file. The kernels need the C and math libraries only (no
/// C++ runtime, so no libstdc++ development files either). On Linux undefined symbols are
/// refused when linking rather than when a kernel runs.
#[cfg(target_os = "linux")]
const LINK_FLAGS: &[&str] = &["-nostdlib++", "-Wl,-z,defs", "-lm"];
#[cfg(not(target_os = "linux"))]
const LINK_FLAGS: &[&str] = &["-nostdlib++", "-lm"];

/// Translation units larger than this (kernels with long unrolled loops: hundreds of small
/// loops in one function) are built with [`LARGE_OPT`]: at -O2 clang's loop rotation and
/// unrolling take time superlinear in the function's size (a 170 KiB conv2d with a
/// 196-tap static loop: 277 s at -O2, 13 s here). The test suite's largest kernels are
/// under 25 KiB and keep -O2.
pub(crate) const LARGE_UNIT_BYTES: usize = 48 * 1024;
const SMALL_OPT: &[&str] = &["-O2"];
const LARGE_OPT: &[&str] = &["-O1", "-mllvm", "-rotation-max-header-size=0"];

/// The optimisation flags for a translation unit of `bytes`.
pub(crate) fn opt_flags(bytes: usize) -> &'static [&'static str] {
    if bytes > LARGE_UNIT_BYTES {
        LARGE_OPT
    } else {
        SMALL_OPT
    }
}

/// How long clang may take for one kernel (`TRITON_METAL_CPU_COMPILE_TIMEOUT` seconds,
/// default 300) before the build fails with [`CpuError::CompileTimeout`].
pub(crate) fn compile_timeout() -> std::time::Duration {
    let secs = std::env::var("TRITON_METAL_CPU_COMPILE_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .unwrap_or(300.0);
    std::time::Duration::from_secs_f64(secs)
}

/// All flags of the executable build around `source` and `output`, for a unit of
/// `unit_bytes`.
pub(crate) fn exec_args<'a>(
    include: &'a OsStr,
    source: &'a OsStr,
    output: &'a OsStr,
    unit_bytes: usize,
) -> Vec<&'a OsStr> {
    let mut args: Vec<&OsStr> = EXEC_FLAGS.iter().map(OsStr::new).collect();
    args.extend(opt_flags(unit_bytes).iter().map(OsStr::new));
    args.extend([
        OsStr::new("-I"),
        include,
        OsStr::new("-x"),
        OsStr::new("c++"),
        source,
    ]);
    args.extend([OsStr::new("-o"), output]);
    args.extend(LINK_FLAGS.iter().map(OsStr::new));
    args
}

/// The flags for a unit of `unit_bytes` as text, for cache keys.
pub(crate) fn exec_flags_text(unit_bytes: usize) -> String {
    EXEC_FLAGS
        .iter()
        .chain(opt_flags(unit_bytes))
        .chain(LINK_FLAGS)
        .copied()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Flags for the address-space check: C++ for OpenCL, our header instead of OpenCL's, and no
/// fp64 (Metal has no double). Only errors matter. The target is fixed because the OpenCL
/// features clang enables depend on it (x86_64 has all we need, aarch64 lacks program-scope
/// variables); no code is generated, so any host can use it.
pub(crate) const CHECK_FLAGS: &[&str] = &[
    "--target=x86_64-unknown-linux-gnu",
    "-x",
    "clcpp",
    "-cl-std=clc++2021",
    "-cl-no-stdinc",
    "-Xclang",
    "-cl-ext=-cl_khr_fp64,-__opencl_c_fp64",
    "-fsyntax-only",
    "-fsigned-char",
    "-w",
];

/// A usable clang++ and its version string (part of every cache key).
#[derive(Clone, Debug)]
pub(crate) struct Compiler {
    pub path: PathBuf,
    pub version: String,
}

/// The clang++ the executor uses: `$TRITON_METAL_CLANG` if set (a path, or a name looked up on
/// `PATH`), else the first of clang++-19, clang++-18, clang++-17, newer versioned names and
/// plain clang++ found on `PATH`.
pub fn compiler_path() -> Result<PathBuf, CpuError> {
    if let Some(v) = std::env::var_os("TRITON_METAL_CLANG").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(&v);
        let found = if p.components().count() > 1 {
            is_executable(&p).then_some(p)
        } else {
            find_on_path(&v)
        };
        return found.ok_or_else(|| CpuError::CompilerNotFound {
            tried: format!("TRITON_METAL_CLANG={}", v.to_string_lossy()),
        });
    }
    CANDIDATES
        .iter()
        .find_map(|name| find_on_path(OsStr::new(name)))
        .ok_or_else(|| CpuError::CompilerNotFound {
            tried: CANDIDATES.join(", ") + " on PATH",
        })
}

/// The compiler with its version, found and checked once per environment and process (a
/// repeated `compile` of the same kernel must stay cheap).
pub(crate) fn compiler() -> Result<Compiler, CpuError> {
    type Key = (Option<OsString>, Option<OsString>);
    static FOUND: OnceLock<Mutex<HashMap<Key, Compiler>>> = OnceLock::new();
    let key = (
        std::env::var_os("TRITON_METAL_CLANG"),
        std::env::var_os("PATH"),
    );
    let found = FOUND.get_or_init(Default::default);
    if let Some(c) = lock(found).get(&key) {
        return Ok(c.clone());
    }
    let path = compiler_path()?;
    let out =
        Command::new(&path)
            .arg("--version")
            .output()
            .map_err(|e| CpuError::CompilerUnusable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !version.contains("clang") {
        return Err(CpuError::CompilerUnusable {
            path,
            reason: format!("`--version` did not identify clang: {version}"),
        });
    }
    if let Some(major) = clang_major(&version).filter(|m| *m < MIN_CLANG_MAJOR) {
        return Err(CpuError::CompilerUnusable {
            path,
            reason: format!(
                "clang {major} is too old; tm-cpu needs clang {MIN_CLANG_MAJOR} or newer \
                 (e.g. `apt-get install clang-19`)"
            ),
        });
    }
    let compiler = Compiler { path, version };
    lock(found).insert(key, compiler.clone());
    Ok(compiler)
}

/// Runs the compiler with `args`, feeding `stdin` if given; returns (success, stderr).
pub(crate) fn run(
    compiler: &Compiler,
    args: &[&OsStr],
    stdin: Option<&str>,
) -> Result<(bool, String), CpuError> {
    // Without a timeout `run_in` always answers.
    run_in(compiler, args, stdin, None, None).map(|r| r.unwrap_or_default())
}

/// [`run`], with clang's temporary files in `tmpdir` when given (the system temp dir may be
/// unusable when the cache had to fall back), killed after `timeout` (then `Ok(None)`).
pub(crate) fn run_in(
    compiler: &Compiler,
    args: &[&OsStr],
    stdin: Option<&str>,
    tmpdir: Option<&Path>,
    timeout: Option<std::time::Duration>,
) -> Result<Option<(bool, String)>, CpuError> {
    let unusable = |e: std::io::Error| CpuError::CompilerUnusable {
        path: compiler.path.clone(),
        reason: e.to_string(),
    };
    let mut command = Command::new(&compiler.path);
    if let Some(t) = tmpdir {
        command.env("TMPDIR", t);
    }
    let mut child = command
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(unusable)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // clang reads all of stdin before writing much, so writing first cannot deadlock;
        // a write error shows up as a failed compile with clang's own message.
        let _ = pipe.write_all(text.as_bytes());
    }
    let Some(limit) = timeout else {
        let out = child.wait_with_output().map_err(unusable)?;
        return Ok(Some((out.status.success(), diagnostics(&out.stdout, &out.stderr))));
    };
    // Read the pipes on threads (a full pipe would block clang) and wait for the deadline.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = vec![];
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let err = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(unusable)? {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let (out, err) = (out.join().unwrap_or_default(), err.join().unwrap_or_default());
    Ok(status.map(|s| (s.success(), diagnostics(&out, &err))))
}

/// clang's stderr, or its stdout when stderr is empty.
fn diagnostics(stdout: &[u8], stderr: &[u8]) -> String {
    let diag = String::from_utf8_lossy(stderr).into_owned();
    if diag.trim().is_empty() {
        String::from_utf8_lossy(stdout).into_owned()
    } else {
        diag
    }
}

/// Recovers the guard of a mutex whose holder panicked: the maps it protects stay consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn clang_major(version: &str) -> Option<u32> {
    let rest = &version[version.find("clang version ")? + "clang version ".len()..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn find_on_path(name: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(p) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_clang_major() {
        assert_eq!(
            clang_major("Debian clang version 19.1.7 (3~deb12u1)\nTarget: x"),
            Some(19)
        );
        assert_eq!(clang_major("Apple clang version 15.0.0"), Some(15));
        assert_eq!(clang_major("gcc"), None);
    }
}
