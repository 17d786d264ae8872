//! The on-disk cache: where compiled kernels and the embedded headers live, cache keys, and
//! atomic file creation (write under a unique temporary name, then rename), so concurrent
//! processes never see a half-written file.

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

/// The cache directory: `$TRITON_METAL_CACHE_DIR/cpu`, else `$XDG_CACHE_HOME/triton_metal/cpu`,
/// else `~/.cache/triton_metal/cpu`; a directory under the system temp dir if that is not
/// writable. Resolved again whenever the environment changes.
pub(crate) fn cache_dir() -> Result<PathBuf, CpuError> {
    static RESOLVED: Mutex<Option<(Vec<Option<std::ffi::OsString>>, PathBuf)>> = Mutex::new(None);
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
    let fallback = std::env::temp_dir().join("triton_metal_cache").join("cpu");
    let mut last_err = None;
    for dir in preferred.into_iter().chain([fallback]) {
        match ensure_writable(&dir) {
            Ok(()) => {
                *resolved = Some((env, dir.clone()));
                return Ok(dir);
            }
            Err(e) => last_err = Some(CpuError::io("cannot use cache directory", dir, e)),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        CpuError::io(
            "cannot use cache directory",
            std::env::temp_dir(),
            std::io::ErrorKind::NotFound.into(),
        )
    }))
}

fn ensure_writable(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(unique_name(".probe"));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(&probe)
}

/// The include directory holding the headers of this build (keyed by their digest), written
/// once and shared by every kernel and process using the same headers.
pub(crate) fn include_dir(cache: &Path) -> Result<PathBuf, CpuError> {
    let dir = cache.join(format!("include-{}", &hex(headers_digest())[..16]));
    let marker = dir.join(".complete");
    if marker.exists() {
        return Ok(dir);
    }
    let tmp = cache.join(unique_name("include.tmp"));
    let write = || -> std::io::Result<()> {
        for (name, text) in HEADERS {
            let path = tmp.join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(path, text)?;
        }
        std::fs::write(tmp.join(".complete"), b"")
    };
    write().map_err(|e| CpuError::io("cannot write headers to", &tmp, e))?;
    // Losing the race to another process is fine: its directory has the same content.
    let renamed = std::fs::rename(&tmp, &dir);
    if renamed.is_err() || !marker.exists() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if marker.exists() {
        Ok(dir)
    } else {
        Err(CpuError::io(
            "cannot install headers in",
            &dir,
            renamed
                .err()
                .unwrap_or_else(|| std::io::ErrorKind::NotFound.into()),
        ))
    }
}

/// A name no other thread or process uses at the same time.
pub(crate) fn unique_name(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{stem}.{}.{n}", std::process::id())
}

/// Writes `data` to `path` atomically.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<(), CpuError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp"));
    std::fs::write(&tmp, data).map_err(|e| CpuError::io("cannot write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        CpuError::io("cannot write", path, e)
    })
}
