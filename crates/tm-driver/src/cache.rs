//! The persistent kernel cache: what [`crate::compile`] produced (IR texts, layouts, MSL, ABI)
//! for one request, kept in memory and on disk so that a second process launching the same
//! kernel compiles nothing (the CPU executor keeps its own disk cache of built libraries).
//!
//! - Key: sha256 over the kernel's source and every jit function it calls (recursively, with
//!   the globals each refers to), the specialisation of every parameter, the options
//!   (`num_warps`, whether the address-space check ran) and the compiler's identity (crate
//!   version plus a digest of the compiler crates' sources, made by `build.rs`).
//! - Directory: `$TRITON_METAL_CACHE_DIR/kernels`, else `$XDG_CACHE_HOME/triton_metal/kernels`,
//!   else `~/.cache/triton_metal/kernels`. If it cannot be written, a warning is printed once
//!   and kernels are cached in memory only.
//! - Entries are written to a unique temporary file and renamed into place, so concurrent
//!   processes never read a half-written entry. Each carries a digest of its contents; an entry
//!   that fails to read back (truncated, corrupt, from another format) is a miss and is
//!   overwritten by the recompiled kernel.

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use tm_abi::{BufferParam, KernelAbi, ParamSlot};
use tm_front::{GlobalValue, KernelSource};
use tm_ir::DType;

use crate::CompileRequest;

/// Larger files are not entries (the MSL of the largest kernels is a few MiB).
const MAX_ENTRY_BYTES: u64 = 256 << 20;

/// First bytes of every entry file; bump the number when the layout changes.
const MAGIC: &[u8; 8] = b"TMKC\x00\x00\x00\x03";

/// Identifies this compiler build: a different compiler never reuses another's entries.
pub fn compiler_version() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), "+", env!("TM_COMPILER_DIGEST"))
}

/// A sha256 cache key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key(pub [u8; 32]);

impl Key {
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The products of one compilation that a later process can reuse.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifacts {
    pub ttir: String,
    pub ttir_opt: String,
    pub layouts: String,
    pub msl: String,
    pub abi: KernelAbi,
}

/// Feeds length-prefixed parts into a hash, so part boundaries matter.
struct KeyHasher(Sha256);

impl KeyHasher {
    fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn source(&mut self, s: &KernelSource, seen: &mut HashSet<*const KernelSource>) {
        self.part(s.name.as_bytes());
        self.part(s.source.as_bytes());
        self.part(s.filename.as_bytes());
        self.part(&s.first_line.to_le_bytes());
        self.part(&s.col_offset.to_le_bytes());
        let mut names: Vec<&String> = s.globals.keys().collect();
        names.sort();
        for name in names {
            self.part(name.as_bytes());
            self.global(&s.globals[name], seen);
        }
    }

    fn global(&mut self, g: &GlobalValue, seen: &mut HashSet<*const KernelSource>) {
        match g {
            GlobalValue::JitFunction(callee) => {
                self.part(b"jit");
                if seen.insert(Arc::as_ptr(callee)) {
                    self.source(callee, seen);
                } else {
                    self.part(callee.name.as_bytes());
                }
            }
            GlobalValue::Namespace(ns) => {
                // Hashed by sorted attribute name: map order differs between processes.
                self.part(b"namespace");
                self.part(ns.name.as_bytes());
                let mut attrs: Vec<&String> = ns.attrs.keys().collect();
                attrs.sort();
                for a in attrs {
                    self.part(a.as_bytes());
                    self.global(&ns.attrs[a], seen);
                }
            }
            // Every other kind is plain data whose Debug text is deterministic.
            other => self.part(format!("{other:?}").as_bytes()),
        }
    }
}

/// The key of `req` when compiled with the address-space check on or off.
pub fn key(req: &CompileRequest, syntax_checked: bool) -> Key {
    let mut h = KeyHasher(Sha256::new());
    h.part(compiler_version().as_bytes());
    h.source(&req.source, &mut HashSet::new());
    for spec in &req.specs {
        h.part(format!("{spec:?}").as_bytes());
    }
    h.part(&req.num_warps.to_le_bytes());
    h.part(&[u8::from(syntax_checked)]);
    Key(h.0.finalize().into())
}

/// Where an entry came from, for the debug log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hit {
    Memory,
    Disk,
}

fn memory() -> &'static Mutex<HashMap<Key, Arc<Artifacts>>> {
    static MEM: OnceLock<Mutex<HashMap<Key, Arc<Artifacts>>>> = OnceLock::new();
    MEM.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cached artifacts for `key`, from memory or else from disk.
pub fn lookup(key: &Key) -> Option<(Arc<Artifacts>, Hit)> {
    if let Some(a) = lock(memory()).get(key) {
        return Some((a.clone(), Hit::Memory));
    }
    let path = cache_dir()?.join(entry_name(key));
    // Only a plain file of ours, of a size an entry can have.
    tm_cpu::private_file(&path, 40, MAX_ENTRY_BYTES).ok()?;
    let bytes = std::fs::read(&path).ok()?;
    match decode(&bytes) {
        Some(a) => {
            let a = Arc::new(a);
            lock(memory()).insert(*key, a.clone());
            Some((a, Hit::Disk))
        }
        None => {
            if crate::debug_enabled() {
                eprintln!(
                    "[triton_metal] ignoring corrupt kernel cache entry {}; recompiling",
                    path.display()
                );
            }
            None
        }
    }
}

/// Keeps `a` in memory and, when the cache directory is usable, on disk. Never fails: a
/// write error costs only the next process a compile (and prints a warning once).
pub fn store(key: &Key, a: Artifacts) {
    let a = Arc::new(a);
    lock(memory()).insert(*key, a.clone());
    let Some(dir) = cache_dir() else { return };
    let path = dir.join(entry_name(key));
    if let Err(e) = write_atomic(&path, &encode(&a)) {
        warn_once(
            &dir,
            &format!("cannot write kernel cache entry {}: {e}", path.display()),
        );
    }
}

fn entry_name(key: &Key) -> String {
    format!("{}.kernel", key.hex())
}

/// The disk cache directory for the current environment: the preferred one when this user
/// alone can write it, else a private per-user directory under the system temp dir (with a
/// warning, once), else `None` (memory only). Never one another user could have written
/// entries into: an entry's MSL becomes code this process runs.
pub fn cache_dir() -> Option<PathBuf> {
    let var = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    let dir = if let Some(d) = var("TRITON_METAL_CACHE_DIR") {
        Some(PathBuf::from(d).join("kernels"))
    } else if let Some(x) = var("XDG_CACHE_HOME") {
        Some(PathBuf::from(x).join("triton_metal").join("kernels"))
    } else {
        var("HOME").map(|h| PathBuf::from(h).join(".cache").join("triton_metal").join("kernels"))
    };
    // Resolved once per preferred directory and process; the environment may name another later.
    static CHECKED: OnceLock<Mutex<HashMap<Option<OsString>, Option<PathBuf>>>> = OnceLock::new();
    let checked = CHECKED.get_or_init(Default::default);
    let id = dir.clone().map(PathBuf::into_os_string);
    if let Some(known) = lock(checked).get(&id) {
        return known.clone();
    }
    let resolved = match tm_cpu::resolve_cache_dir("kernels", dir.clone(), false) {
        Ok(d) => Some(d),
        Err(e) => {
            warn_once(&dir.unwrap_or_default(), &format!("no usable kernel cache directory ({e})"));
            None
        }
    };
    lock(checked).insert(id, resolved.clone());
    resolved
}

fn warn_once(_dir: &Path, what: &str) {
    tm_cpu::warn_cache_once(&format!(
        "{what}; compiled kernels are cached in memory only (set TRITON_METAL_CACHE_DIR to a \
         directory only you can write)"
    ));
}

/// A file name no other thread or process uses at the same time.
fn unique_name(stem: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "{stem}.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Writes `data` under a temporary name in the same directory, then renames it over `path`.
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(unique_name(".tmp"));
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

// ---- entry encoding: MAGIC, sha256 of the payload, payload of length-prefixed fields ----

#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_le_bytes(*head))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        if n > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }
    fn dtype(&mut self) -> Option<DType> {
        DType::parse(&self.str()?)
    }
}

pub fn encode(a: &Artifacts) -> Vec<u8> {
    let mut w = Writer::default();
    for text in [&a.ttir, &a.ttir_opt, &a.layouts, &a.msl] {
        w.str(text);
    }
    let abi = &a.abi;
    w.str(&abi.kernel_name);
    w.u32(abi.buffers.len() as u32);
    for b in &abi.buffers {
        w.str(&b.name);
        w.str(b.dtype.triton_name());
        w.u32(u32::from(b.read));
        w.u32(u32::from(b.written));
    }
    w.u32(abi.scalars.len() as u32);
    for s in &abi.scalars {
        w.str(&s.name);
        w.str(s.dtype.triton_name());
    }
    w.u32(abi.params.len() as u32);
    for p in &abi.params {
        let (tag, i) = match p {
            ParamSlot::Buffer(i) => (0, *i),
            ParamSlot::Scalar(i) => (1, *i),
            ParamSlot::Elided => (2, 0),
        };
        w.u32(tag);
        w.u32(i as u32);
    }
    w.u32(abi.threads_per_threadgroup);
    w.u32(abi.threadgroup_bytes);
    w.u32(u32::from(abi.uses_sync));
    // The stored ABI is rebuilt through `KernelAbi::new` on load; the struct size guards
    // against a layout rule that changed without the compiler digest changing.
    w.u32(abi.args_size);
    w.u32(abi.thread_private_bytes as u32);
    w.u32((abi.thread_private_bytes >> 32) as u32);
    let payload = w.0;
    let mut out = Vec::with_capacity(payload.len() + 40);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&Sha256::digest(&payload));
    out.extend_from_slice(&payload);
    out
}

/// The artifacts in `bytes`, or `None` for anything but an intact entry of this format.
pub fn decode(bytes: &[u8]) -> Option<Artifacts> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let (digest, payload) = rest.split_first_chunk::<32>()?;
    if Sha256::digest(payload).as_slice() != digest {
        return None;
    }
    let mut r = Reader(payload);
    let (ttir, ttir_opt, layouts, msl) = (r.str()?, r.str()?, r.str()?, r.str()?);
    let kernel_name = r.str()?;
    let mut buffers = vec![];
    for _ in 0..r.u32()? {
        buffers.push(BufferParam {
            name: r.str()?,
            dtype: r.dtype()?,
            read: r.u32()? != 0,
            written: r.u32()? != 0,
        });
    }
    let mut scalars = vec![];
    for _ in 0..r.u32()? {
        scalars.push((r.str()?, r.dtype()?));
    }
    let mut params = vec![];
    for _ in 0..r.u32()? {
        let (tag, i) = (r.u32()?, r.u32()? as usize);
        params.push(match tag {
            0 => ParamSlot::Buffer(i),
            1 => ParamSlot::Scalar(i),
            2 => ParamSlot::Elided,
            _ => return None,
        });
    }
    let (threads, tg_bytes, uses_sync, args_size) = (r.u32()?, r.u32()?, r.u32()? != 0, r.u32()?);
    let private = u64::from(r.u32()?) | u64::from(r.u32()?) << 32;
    if !r.0.is_empty() || private > tm_abi::MAX_THREAD_PRIVATE_BYTES {
        return None;
    }
    let mut abi = KernelAbi::new(
        kernel_name,
        buffers,
        scalars,
        params,
        threads,
        tg_bytes,
        uses_sync,
    )
    .ok()?;
    abi.thread_private_bytes = private;
    (abi.args_size == args_size).then_some(Artifacts {
        ttir,
        ttir_opt,
        layouts,
        msl,
        abi,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Artifacts {
        let abi = KernelAbi::new(
            "k".into(),
            vec![BufferParam {
                name: "x_ptr".into(),
                dtype: DType::F32,
                read: true,
                written: true,
            }],
            vec![("n".into(), DType::I32), ("scale".into(), DType::F16)],
            vec![
                ParamSlot::Buffer(0),
                ParamSlot::Scalar(0),
                ParamSlot::Scalar(1),
            ],
            128,
            64,
            true,
        )
        .unwrap();
        let abi = KernelAbi { thread_private_bytes: 5 << 16, ..abi };
        Artifacts {
            ttir: "ir".into(),
            ttir_opt: "opt".into(),
            layouts: "l".into(),
            msl: "kernel void k()".into(),
            abi,
        }
    }

    fn request(body: &str, callee_body: &str, block: i128, num_warps: u32) -> CompileRequest {
        use tm_front::{ConstValue, ParamSpec};
        let callee = KernelSource {
            name: "helper".into(),
            source: callee_body.into(),
            filename: "k.py".into(),
            first_line: 1,
            col_offset: 0,
            globals: HashMap::new(),
        };
        let mut globals = HashMap::new();
        globals.insert(
            "helper".to_string(),
            GlobalValue::JitFunction(Arc::new(callee)),
        );
        globals.insert(
            "SCALE".to_string(),
            GlobalValue::Const(ConstValue::Float(0.5)),
        );
        let source = KernelSource {
            name: "k".into(),
            source: body.into(),
            filename: "k.py".into(),
            first_line: 5,
            col_offset: 0,
            globals,
        };
        let specs = vec![
            ParamSpec::Pointer {
                dtype: DType::F32,
                divisibility: 16,
            },
            ParamSpec::Constexpr(ConstValue::Int(block)),
        ];
        CompileRequest {
            source,
            specs,
            num_warps,
        }
    }

    #[test]
    fn key_covers_source_callees_specialisation_and_options() {
        let base = key(
            &request("def k(): pass", "def helper(): pass", 64, 4),
            false,
        );
        assert!(
            base == key(
                &request("def k(): pass", "def helper(): pass", 64, 4),
                false
            ),
            "deterministic"
        );
        let changed = [
            key(&request("def k(): 1", "def helper(): pass", 64, 4), false),
            key(&request("def k(): pass", "def helper(): 1", 64, 4), false),
            key(
                &request("def k(): pass", "def helper(): pass", 128, 4),
                false,
            ),
            key(
                &request("def k(): pass", "def helper(): pass", 64, 8),
                false,
            ),
            key(&request("def k(): pass", "def helper(): pass", 64, 4), true),
        ];
        for (i, k) in changed.iter().enumerate() {
            assert!(*k != base, "variant {i} must change the key");
        }
        let mut req = request("def k(): pass", "def helper(): pass", 64, 4);
        req.source.globals.insert(
            "SCALE".into(),
            GlobalValue::Const(tm_front::ConstValue::Float(0.25)),
        );
        assert!(
            key(&req, false) != base,
            "a global constant's value is part of the key"
        );
    }

    #[test]
    fn entries_round_trip() {
        let a = sample();
        assert_eq!(decode(&encode(&a)), Some(a));
    }

    #[test]
    fn damaged_entries_are_rejected() {
        let bytes = encode(&sample());
        for cut in [0, 7, 8, 40, bytes.len() - 1] {
            assert_eq!(decode(&bytes[..cut]), None, "truncated at {cut}");
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 5;
        flipped[last] ^= 1;
        assert_eq!(decode(&flipped), None);
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(decode(&longer), None);
    }
}
