//! The on-disk cache: where compiled kernels and the embedded headers live, cache keys, and
//! atomic file creation (write under a unique temporary name, fsync, then rename), so
//! concurrent processes never see a half-written file.
//!
//! Nothing in the cache is trusted blindly:
//! - a directory is used only if this user owns it and no other user can write to it
//!   ([`private_dir`]); otherwise the executor falls back, with one warning, to a private
//!   per-user directory under the system temp dir, then to a fresh per-process directory
//!   (under `/dev/shm` when there is one, so a full disk does not stop it);
//! - a compiled library carries a trailer (magic and sha256 of its bytes) that is checked
//!   before it is loaded ([`read_library`]): a truncated or damaged one is rebuilt;
//! - the headers are compared with the embedded ones once per process and rewritten when
//!   they differ or are missing;
//! - temporary files left by killed processes are removed when a directory is first used.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use sha2::{Digest, Sha256};

use crate::toolchain::lock;
use crate::CpuError;

/// The headers, embedded so the crate works from anywhere; written out under the cache dir.
pub(crate) const HEADERS: &[(&str, &str)] = &[
    ("metal_stdlib", include_str!("../include/metal_stdlib")),
    (
        "tm_metal_types.h",
        include_str!("../include/tm_metal_types.h"),
    ),
    (
        "tm_metal_math.h",
        include_str!("../include/tm_metal_math.h"),
    ),
    (
        "tm_metal_sync.h",
        include_str!("../include/tm_metal_sync.h"),
    ),
    (
        "tm_cpu_runtime.h",
        include_str!("../include/tm_cpu_runtime.h"),
    ),
    (
        "check/metal_stdlib",
        include_str!("../include/check/metal_stdlib"),
    ),
];

/// The last bytes of every cached library: this magic, then the sha256 of everything before.
const LIBRARY_MAGIC: &[u8; 8] = b"TMCPUSUM";
const TRAILER_BYTES: usize = 8 + 32;
/// Larger files in the cache are not libraries we wrote.
const MAX_LIBRARY_BYTES: u64 = 256 << 20;

/// A sha256 over a sequence of length-prefixed parts (so part boundaries matter).
pub(crate) fn digest<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Digest of all header files, names included.
pub(crate) fn headers_digest() -> &'static [u8; 32] {
    static D: OnceLock<[u8; 32]> = OnceLock::new();
    D.get_or_init(|| {
        digest(
            HEADERS
                .iter()
                .flat_map(|(name, text)| [name.as_bytes(), text.as_bytes()]),
        )
    })
}

/// Directories found unusable in this process (a write failed: disk full, permissions).
fn unusable() -> &'static Mutex<HashSet<PathBuf>> {
    static BAD: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    BAD.get_or_init(Default::default)
}

type Resolved = Option<(Vec<Option<std::ffi::OsString>>, PathBuf)>;
static RESOLVED: Mutex<Resolved> = Mutex::new(None);

/// The cache directory: `$TRITON_METAL_CACHE_DIR/cpu`, else `$XDG_CACHE_HOME/triton_metal/cpu`,
/// else `~/.cache/triton_metal/cpu`. When that cannot be used (not writable, not private to
/// this user, or found full), a private per-user directory under the system temp dir, then a
/// fresh directory of this process, with one warning. Resolved again whenever the
/// environment changes.
pub(crate) fn cache_dir() -> Result<PathBuf, CpuError> {
    let vars = ["TRITON_METAL_CACHE_DIR", "XDG_CACHE_HOME", "HOME"];
    let env: Vec<_> = vars
        .iter()
        .map(|v| std::env::var_os(v).filter(|s| !s.is_empty()))
        .collect();
    let mut resolved = lock(&RESOLVED);
    if let Some((seen, dir)) = resolved.as_ref() {
        if *seen == env {
            return Ok(dir.clone());
        }
    }
    let preferred = match (&env[0], &env[1], &env[2]) {
        (Some(d), _, _) => Some(PathBuf::from(d).join("cpu")),
        (None, Some(x), _) => Some(PathBuf::from(x).join("triton_metal").join("cpu")),
        (None, None, Some(h)) => Some(
            PathBuf::from(h)
                .join(".cache")
                .join("triton_metal")
                .join("cpu"),
        ),
        _ => None,
    };
    let dir = resolve("cpu", preferred, true)?;
    *resolved = Some((env, dir.clone()));
    Ok(dir)
}

/// The first usable ([`private_dir`]) directory among `preferred`, `$TMPDIR/triton_metal-<uid>/<leaf>`
/// and, with `per_process`, a fresh directory of this process (under `/dev/shm` first).
/// Warns once per process when it is not `preferred`. Temporary files of dead processes in
/// it are removed ([`clean_stale`]).
pub fn resolve(leaf: &str, preferred: Option<PathBuf>, per_process: bool) -> Result<PathBuf, CpuError> {
    let bad = lock(unusable()).clone();
    let mut reasons = vec![];
    let mut candidates: Vec<PathBuf> = preferred.iter().cloned().collect();
    candidates.push(user_temp_root().join(leaf));
    for dir in candidates {
        if bad.contains(&dir) {
            reasons.push(format!("{}: found unusable earlier", dir.display()));
            continue;
        }
        let parent_ok = match dir.parent() {
            Some(p) if dir != preferred.clone().unwrap_or_default() => private_dir(p),
            _ => Ok(()),
        };
        match parent_ok.and_then(|()| private_dir(&dir)) {
            Ok(()) => {
                if Some(&dir) != preferred.as_ref() {
                    warn_fallback(&dir, &reasons);
                }
                clean_stale(&dir);
                return Ok(dir);
            }
            Err(e) => reasons.push(format!("{}: {e}", dir.display())),
        }
    }
    // Last resort: a directory only this process knows (created, never reused, removed at
    // exit or, after a kill, by the next process that gets here).
    let stem = format!("triton_metal-{}", uid());
    for root in process_roots().into_iter().filter(|_| per_process) {
        remove_dead(&root, |name| name.strip_prefix(stem.as_str()).is_some_and(|r| r.starts_with('.')));
        let dir = root.join(unique_name(&stem));
        match create_private(&dir).and_then(|()| private_dir(&dir.join(leaf))) {
            Ok(()) => {
                remove_at_exit(&dir);
                let dir = dir.join(leaf);
                warn_fallback(&dir, &reasons);
                return Ok(dir);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                reasons.push(format!("{}: {e}", dir.display()))
            }
        }
    }
    Err(CpuError::io(
        "no usable cache directory; tried",
        PathBuf::from(reasons.join("; ")),
        std::io::ErrorKind::PermissionDenied.into(),
    ))
}

/// Marks `dir` unusable for the rest of the process (a write in it failed) and forgets the
/// resolved directory, so the next [`cache_dir`] falls back.
pub(crate) fn mark_unusable(dir: &Path, why: &str) {
    if lock(unusable()).insert(dir.to_path_buf()) {
        warn_once(&format!(
            "the cache directory {} failed ({why}); using a fallback directory",
            dir.display()
        ));
    }
    *lock(&RESOLVED) = None;
}

/// Removes the per-process directories at exit.
fn remove_at_exit(dir: &Path) {
    static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    extern "C" fn cleanup() {
        for d in lock(&DIRS).drain(..) {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    extern "C" {
        fn atexit(f: extern "C" fn()) -> i32;
    }
    let mut dirs = lock(&DIRS);
    if dirs.is_empty() {
        // SAFETY: registers a function without preconditions; it runs once, at exit.
        unsafe { atexit(cleanup) };
    }
    dirs.push(dir.to_path_buf());
}

/// The first time a fallback directory is used: one warning per process.
fn warn_fallback(used: &Path, reasons: &[String]) {
    warn_once(&format!(
        "cannot use the cache directory ({}); using {} instead (set TRITON_METAL_CACHE_DIR \
         to a directory only you can write)",
        reasons.join("; "),
        used.display()
    ));
}

/// Prints `[triton_metal] warning: <what>` unless a cache warning was printed already in this
/// process (the kernel cache and the executor's share it: one warning, not one per directory).
pub fn warn_once(what: &str) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("[triton_metal] warning: {what}");
    }
}

/// `$TMPDIR/triton_metal-<uid>`: the per-user fallback root.
fn user_temp_root() -> PathBuf {
    std::env::temp_dir().join(format!("triton_metal-{}", uid()))
}

/// Where a per-process directory may go: memory first (`/dev/shm`), then the temp dir.
fn process_roots() -> Vec<PathBuf> {
    let mut roots = vec![];
    if cfg!(target_os = "linux") && Path::new("/dev/shm").is_dir() {
        roots.push(PathBuf::from("/dev/shm"));
    }
    roots.push(std::env::temp_dir());
    roots
}

#[cfg(unix)]
fn uid() -> u32 {
    extern "C" {
        fn getuid() -> u32;
    }
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { getuid() }
}

#[cfg(not(unix))]
fn uid() -> u32 {
    0
}

fn create_private(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Creates `dir` (and its missing parents, readable and writable by this user only) and
/// checks that it can hold code this process will load: a directory owned by this user that
/// no other user may write to, in which a file can be created.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other("not a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != uid() {
            return Err(std::io::Error::other(format!(
                "owned by user id {}, not by this user ({})",
                meta.uid(),
                uid()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            // Ours, but group- or world-writable (a umask of 002): make it private.
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.mode() & 0o7755;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(|e| {
                std::io::Error::other(format!(
                    "other users may write to it (mode {:o}) and it cannot be changed: {e}",
                    meta.mode() & 0o7777
                ))
            })?;
        }
    }
    let probe = dir.join(unique_name(".probe"));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// Removes temporary files and directories of processes that no longer run (killed while
/// writing), and any older than a day. Names end in `.<pid>.<n>` ([`unique_name`]).
pub fn clean_stale(dir: &Path) {
    static CLEANED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    if lock(CLEANED.get_or_init(Default::default)).insert(dir.to_path_buf()) {
        remove_dead(dir, |name| name.contains(".tmp") || name.starts_with(".probe"));
    }
}

/// Removes the entries of `dir` whose name `matches` and ends in `.<pid>.<n>` of a process
/// that no longer runs, or that are older than a day.
fn remove_dead(dir: &Path, matches: impl Fn(&str) -> bool) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        if !matches(name) {
            continue;
        }
        let mut parts = name.rsplit('.');
        let (Some(n), Some(pid)) = (parts.next(), parts.next()) else {
            continue;
        };
        let (Ok(_), Ok(pid)) = (n.parse::<u64>(), pid.parse::<u32>()) else {
            continue;
        };
        let old = e
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > day);
        if pid == std::process::id() || (!old && process_alive(pid)) {
            continue;
        }
        let path = e.path();
        let _ = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            _ => std::fs::remove_file(&path),
        };
    }
}

#[cfg(unix)]
fn process_alive(pid: u32) -> bool {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks whether the process exists.
    if unsafe { kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists but belongs to another user.
    std::io::Error::last_os_error().raw_os_error() == Some(1)
}

#[cfg(not(unix))]
fn process_alive(_pid: u32) -> bool {
    true
}

/// The include directory holding the headers of this build (keyed by their digest), shared
/// by every kernel and process using the same headers. Checked against the embedded headers
/// once per process (or again with `verify`), and repaired where a file is missing or
/// differs.
pub(crate) fn include_dir(cache: &Path, verify: bool) -> Result<PathBuf, CpuError> {
    static VERIFIED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let dir = cache.join(format!("include-{}", &hex(headers_digest())[..16]));
    let verified = VERIFIED.get_or_init(Default::default);
    if !verify && lock(verified).contains(&dir) {
        return Ok(dir);
    }
    repair_headers(&dir)?;
    lock(verified).insert(dir.clone());
    Ok(dir)
}

/// Writes every header of `dir` that is missing or differs from the embedded one; whether
/// any was.
pub(crate) fn repair_headers(dir: &Path) -> Result<bool, CpuError> {
    let mut repaired = false;
    for (name, text) in HEADERS {
        let path = dir.join(name);
        let intact = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file())
            && std::fs::read(&path).is_ok_and(|b| b == text.as_bytes());
        if intact {
            continue;
        }
        if let Some(parent) = path.parent() {
            private_dir(parent).map_err(|e| CpuError::io("cannot write headers to", parent, e))?;
        }
        // A directory or link in the file's place is moved out of the way first.
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
        }
        write_atomic(&path, text.as_bytes())?;
        repaired = true;
    }
    Ok(repaired)
}

/// A name no other thread or process uses at the same time.
pub(crate) fn unique_name(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}.{}.{n}", std::process::id())
}

/// Writes `data` to `path` atomically: a temporary file, flushed to disk, renamed.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), CpuError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CpuError::io("cannot write", &tmp, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CpuError::io("cannot write", path, e)
    })
}

/// Appends the checksum trailer to the library clang wrote at `tmp`, flushes it to disk and
/// renames it to `library`.
pub(crate) fn seal_library(tmp: &Path, library: &Path) -> Result<(), CpuError> {
    let seal = || -> std::io::Result<()> {
        let bytes = std::fs::read(tmp)?;
        let mut f = std::fs::OpenOptions::new().append(true).open(tmp)?;
        f.write_all(LIBRARY_MAGIC)?;
        f.write_all(&Sha256::digest(&bytes))?;
        f.sync_all()?;
        std::fs::rename(tmp, library)
    };
    seal().map_err(|e| {
        let _ = std::fs::remove_file(tmp);
        CpuError::io("cannot write", library, e)
    })
}

/// Why the cache file at `path` must not be read, or `Ok(())`: it must be a regular file (not
/// a link, directory or device) of `min..=max` bytes, owned by this user and not writable by
/// others.
pub fn private_file(path: &Path, min: u64, max: u64) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".into());
    }
    if meta.len() < min || meta.len() > max {
        return Err(format!("implausible size ({} bytes)", meta.len()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != uid() || meta.mode() & 0o022 != 0 {
            return Err("owned or writable by another user".into());
        }
    }
    Ok(())
}

/// Why the cached library at `path` must not be loaded, or `Ok(())` when it is intact: a
/// regular file of this user's, of sane size, not writable by others, whose trailer matches.
pub(crate) fn check_library(path: &Path) -> Result<(), String> {
    private_file(path, TRAILER_BYTES as u64 + 1, MAX_LIBRARY_BYTES)?;
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_BYTES);
    let (magic, sum) = trailer.split_at(8);
    if magic != LIBRARY_MAGIC || Sha256::digest(body).as_slice() != sum {
        return Err("checksum mismatch (truncated or damaged)".into());
    }
    Ok(())
}
