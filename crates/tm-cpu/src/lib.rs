//! tm-cpu runs generated Metal Shading Language (MSL) kernels on the CPU, so the exact code a
//! Mac would run is executed and tested on Linux.
//!
//! - [`compile`] compiles the MSL text with clang++ against our Metal-on-CPU header
//!   (`include/metal_stdlib`) plus a generated wrapper following the `tm_abi` launch ABI, into a
//!   shared library that is cached on disk and loaded with `dlopen`.
//! - [`CpuKernel::launch`] runs a grid of threadgroups over worker threads. Within a
//!   threadgroup the threads run as fibers, so `threadgroup_barrier` and the `simd_*` functions
//!   behave as on a GPU (kernels whose ABI has `uses_sync == false` skip the fibers).
//! - [`syntax_check`] compiles the MSL as C++ for OpenCL against `include/check/metal_stdlib`,
//!   mapping Metal's address spaces onto OpenCL's, so pointers into the wrong address space are
//!   refused as Metal refuses them.
//!
//! Every device-memory access of generated code goes through `tm_chk` (see tm-msl), which the
//! executor checks against the byte range of the buffer it came from ([`Buffer`]): an access
//! outside fails the launch with [`CpuError::Kernel`] and is not performed.
//!
//! Environment: `TRITON_METAL_CLANG` (compiler), `TRITON_METAL_CACHE_DIR` (cache root),
//! `TRITON_METAL_CPU_THREADS` (worker threads per launch), `TRITON_METAL_BOUNDS_CHECK=0`
//! (compile kernels without bounds checks; read once).

mod arena;
mod cache;
mod error;
mod guard;
mod launch;
mod source;
mod toolchain;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tm_abi::KernelAbi;

pub use cache::{clean_stale, private_dir, private_file, resolve as resolve_cache_dir, warn_once as warn_cache_once};
pub use error::CpuError;
pub use toolchain::compiler_path;

use launch::{RunFn, LAUNCH_ABI_VERSION};
use toolchain::lock;

/// How a [`CpuKernel`] was obtained the first time this process asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelOrigin {
    /// clang ran for it in this process.
    Compiled,
    /// It was already in the disk cache.
    DiskCache,
}

/// `TRITON_METAL_BOUNDS_CHECK` (read once): bounds checks are on unless it is `0` (or
/// `false`, `off`, `no`).
pub fn bounds_check_default() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("TRITON_METAL_BOUNDS_CHECK").map_or(true, |v| {
            !matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "0" | "false" | "off" | "no"
            )
        })
    })
}

/// How [`compile_with`] builds a kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// Check every device-memory access made through `tm_chk` against its buffer's range.
    pub bounds_check: bool,
}

impl Default for CompileOptions {
    /// Bounds checks as [`bounds_check_default`] says.
    fn default() -> Self {
        CompileOptions {
            bounds_check: bounds_check_default(),
        }
    }
}

/// One buffer slot of a launch: the kernel's pointer and the bytes `[start, end)` (absolute
/// addresses) it may touch through that argument. `ptr` need not lie inside the range (an
/// empty array, or a view whose strides run backwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub start: usize,
    pub end: usize,
}

impl Buffer {
    pub fn new(ptr: *mut u8, start: usize, end: usize) -> Buffer {
        Buffer { ptr, start, end }
    }

    /// A slice: the kernel may touch exactly its elements.
    pub fn slice<T>(s: &mut [T]) -> Buffer {
        let start = s.as_mut_ptr() as usize;
        Buffer {
            ptr: s.as_mut_ptr().cast(),
            start,
            end: start + std::mem::size_of_val(s),
        }
    }

    /// A pointer whose accesses are not checked (every address passes).
    pub fn unchecked(ptr: *mut u8) -> Buffer {
        Buffer {
            ptr,
            start: 0,
            end: usize::MAX,
        }
    }
}

/// A compiled kernel, ready to launch. `Send + Sync`; launches may run concurrently.
pub struct CpuKernel {
    abi: KernelAbi,
    bounds_check: bool,
    library_path: PathBuf,
    origin: KernelOrigin,
    run: RunFn,
    /// Keeps `run` valid: the library stays loaded as long as the kernel exists.
    _library: libloading::Library,
}

// Launches from several threads share one kernel.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<CpuKernel>();
};

impl std::fmt::Debug for CpuKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuKernel")
            .field("kernel", &self.abi.kernel_name)
            .field("library_path", &self.library_path)
            .field("origin", &self.origin)
            .finish()
    }
}

impl CpuKernel {
    pub fn abi(&self) -> &KernelAbi {
        &self.abi
    }

    /// The compiled library; its C++ source sits next to it with the extension `.cpp`.
    pub fn library_path(&self) -> &Path {
        &self.library_path
    }

    pub fn origin(&self) -> KernelOrigin {
        self.origin
    }

    /// Whether accesses through `tm_chk` are checked ([`CompileOptions::bounds_check`]).
    pub fn bounds_checked(&self) -> bool {
        self.bounds_check
    }

    /// Runs `grid[0] * grid[1] * grid[2]` threadgroups. `buffers[i]` is buffer slot `i`: the
    /// kernel's pointer and the bytes it may touch; `args` is the packed scalar struct
    /// ([`KernelAbi::pack_scalars`]). Threadgroups are spread over worker threads
    /// (`std::thread::available_parallelism`, or `$TRITON_METAL_CPU_THREADS`).
    ///
    /// The kernel reads and writes through `buffers` as the MSL says, from several threads at
    /// once. In a bounds-checked kernel every access made through `tm_chk` (all of generated
    /// code's) must fall inside its buffer's range, else the launch fails with
    /// [`CpuError::Kernel`] and the access is not made; other accesses (hand-written MSL) are
    /// not checked.
    ///
    /// # Safety
    /// The memory of every buffer's range must be valid for reads and writes and not used
    /// elsewhere during the launch, exactly as for a GPU buffer; accesses that are not checked
    /// (unchecked kernels, [`Buffer::unchecked`], hand-written MSL) must be valid too.
    pub unsafe fn launch(&self, grid: [u32; 3], buffers: &[Buffer], args: &[u8]) -> Result<(), CpuError> {
        let kernel = || self.abi.kernel_name.clone();
        if buffers.len() != self.abi.buffers.len() {
            return Err(CpuError::BufferCount {
                kernel: kernel(),
                expected: self.abi.buffers.len(),
                got: buffers.len(),
            });
        }
        if let Some(i) = buffers.iter().position(|b| b.start > b.end) {
            return Err(CpuError::BadBuffer {
                kernel: kernel(),
                slot: i,
                reason: format!(
                    "its range [{:#x}, {:#x}) ends before it starts",
                    buffers[i].start, buffers[i].end
                ),
            });
        }
        if args.len() != self.abi.args_size as usize {
            return Err(CpuError::ArgsSize {
                kernel: kernel(),
                expected: self.abi.args_size as usize,
                got: args.len(),
            });
        }
        if grid.contains(&0) {
            return Err(CpuError::EmptyGrid {
                kernel: kernel(),
                grid,
            });
        }
        // At most (2^32 - 1)^3 groups; the executor counts them in a u64.
        let total = grid.iter().map(|d| u128::from(*d)).product::<u128>();
        let total = u64::try_from(total)
            .ok()
            .filter(|t| *t < 1 << 62)
            .ok_or_else(|| CpuError::InvalidAbi {
                kernel: kernel(),
                reason: format!("grid {grid:?} has too many threadgroups"),
            })?;
        match launch::run(
            self.run,
            grid,
            total,
            buffers,
            args,
            self.abi.threadgroup_bytes,
            &launch::Threads {
                count: self.abi.threads_per_threadgroup,
                uses_sync: self.abi.uses_sync,
                private_bytes: self.abi.thread_private_bytes,
            },
        )? {
            None => Ok(()),
            Some(message) => Err(CpuError::Kernel {
                kernel: kernel(),
                message,
            }),
        }
    }
}

/// One entry of the in-process map; `lock` serialises building the same kernel twice.
#[derive(Default)]
struct Slot {
    lock: Mutex<()>,
    kernel: OnceLock<Arc<CpuKernel>>,
}

fn loaded() -> &'static Mutex<HashMap<[u8; 32], Arc<Slot>>> {
    static LOADED: OnceLock<Mutex<HashMap<[u8; 32], Arc<Slot>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Compiles `msl` (a kernel following `abi`) for the CPU, or returns it from the in-process map
/// or the disk cache. Compiler diagnostics are in the error when the MSL does not compile.
/// Bounds checks as `TRITON_METAL_BOUNDS_CHECK` says ([`CompileOptions::default`]).
pub fn compile(msl: &str, abi: &KernelAbi) -> Result<Arc<CpuKernel>, CpuError> {
    compile_with(msl, abi, &CompileOptions::default())
}

/// [`compile`] with explicit options.
pub fn compile_with(
    msl: &str,
    abi: &KernelAbi,
    options: &CompileOptions,
) -> Result<Arc<CpuKernel>, CpuError> {
    source::validate(abi)?;
    let unit = source::translation_unit(msl, abi, options.bounds_check);
    compile_unit(unit, abi, options)
}

/// An entry point with its own signature (the framework entries of `tm_msl::variants`, or
/// one MLX writes around them), so that the CPU executor runs exactly the MSL a framework
/// would. `params` is the entry's parameter list in order; buffers and scalars are passed
/// as for [`CpuKernel::launch`], the scalars packed by [`tm_abi::entry::pack_layout`] of
/// `scalar_dtypes`. The entry declares its threadgroup memory (`TM_THREADGROUP_STORAGE`)
/// of at most `threadgroup_bytes`.
pub fn compile_entry(
    msl: &str,
    entry: &str,
    params: &[tm_abi::entry::EntryParam],
    buffers: &[tm_abi::BufferParam],
    scalar_dtypes: &[tm_ir::DType],
    threads_per_threadgroup: u32,
    threadgroup_bytes: u32,
) -> Result<Arc<CpuKernel>, CpuError> {
    let invalid = |reason: String| CpuError::InvalidAbi { kernel: entry.to_string(), reason };
    let scalars = scalar_dtypes.iter().enumerate().map(|(j, d)| (format!("s{j}"), *d)).collect();
    let abi = KernelAbi::new(
        entry.to_string(),
        buffers.to_vec(),
        scalars,
        vec![],
        threads_per_threadgroup,
        threadgroup_bytes,
        true,
    )
    .map_err(|e| invalid(e.to_string()))?;
    source::validate(&abi)?;
    let (offsets, _) = tm_abi::entry::pack_layout(scalar_dtypes);
    for p in params {
        match p {
            tm_abi::entry::EntryParam::Buffer { slot } if *slot >= buffers.len() => {
                return Err(invalid(format!("parameter for buffer slot {slot}, but there are {}", buffers.len())))
            }
            tm_abi::entry::EntryParam::Scalar { offset, .. } if !offsets.contains(offset) => {
                return Err(invalid(format!("no scalar is packed at offset {offset}")))
            }
            _ => {}
        }
    }
    let options = CompileOptions::default();
    let unit = source::entry_translation_unit(msl, entry, params, &abi, options.bounds_check);
    compile_unit(unit, &abi, &options)
}

fn compile_unit(unit: String, abi: &KernelAbi, options: &CompileOptions) -> Result<Arc<CpuKernel>, CpuError> {
    let compiler = toolchain::compiler()?;
    let flags = toolchain::exec_flags_text(unit.len());
    let disk_key = cache::digest([
        cache::headers_digest().as_slice(),
        unit.as_bytes(),
        compiler.version.as_bytes(),
        flags.as_bytes(),
        &LAUNCH_ABI_VERSION.to_le_bytes(),
    ]);
    // The whole ABI is part of the in-process key: `CpuKernel::abi` must be the caller's.
    let abi_text = format!("{abi:?}");
    let key = cache::digest([disk_key.as_slice(), abi_text.as_bytes()]);
    let slot = lock(loaded()).entry(key).or_default().clone();
    if let Some(k) = slot.kernel.get() {
        return Ok(k.clone());
    }
    let _building = lock(&slot.lock);
    if let Some(k) = slot.kernel.get() {
        return Ok(k.clone());
    }
    let kernel = build(&compiler, &unit, abi, &cache::hex(&disk_key), options)?;
    Ok(slot.kernel.get_or_init(|| kernel).clone())
}

fn build(
    compiler: &toolchain::Compiler,
    unit: &str,
    abi: &KernelAbi,
    name: &str,
    options: &CompileOptions,
) -> Result<Arc<CpuKernel>, CpuError> {
    // A directory that fails mid-way (disk full, permissions changed) is given up for the
    // next fallback ([`cache::resolve`]); a few attempts cover the whole chain.
    let mut attempt = 0;
    loop {
        let dir = cache::cache_dir()?;
        match build_in(&dir, compiler, unit, abi, name, options) {
            Err(BuildError::Dir(e)) if attempt < 3 => {
                cache::mark_unusable(&dir, &e.to_string());
                attempt += 1;
            }
            Err(BuildError::Dir(e) | BuildError::Other(e)) => return Err(e),
            Ok(k) => return Ok(k),
        }
    }
}

/// A failure of the cache directory (worth a fallback) or of anything else.
enum BuildError {
    Dir(CpuError),
    Other(CpuError),
}

/// Whether clang's diagnostics say it could not write its output (rather than the kernel
/// failing to compile).
fn output_failed(diagnostics: &str) -> bool {
    [
        "No space left on device",
        "Disk quota exceeded",
        "Read-only file system",
        "unable to open output file",
        "Permission denied",
    ]
    .iter()
    .any(|m| diagnostics.contains(m))
}

fn build_in(
    dir: &Path,
    compiler: &toolchain::Compiler,
    unit: &str,
    abi: &KernelAbi,
    name: &str,
    options: &CompileOptions,
) -> Result<Arc<CpuKernel>, BuildError> {
    let library = dir.join(format!("{name}.so"));
    if std::fs::symlink_metadata(&library).is_ok() {
        // Loaded only when intact; anything else (damaged, truncated, planted, or failing
        // to load) is rebuilt in its place.
        match cache::check_library(&library) {
            Ok(()) => {
                if let Ok(k) = load(&library, abi, KernelOrigin::DiskCache, options) {
                    return Ok(k);
                }
            }
            Err(why) => {
                if debug_enabled() {
                    eprintln!(
                        "[triton_metal] rebuilding cached library {}: {why}",
                        library.display()
                    );
                }
            }
        }
        let _ = match std::fs::symlink_metadata(&library) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&library),
            _ => std::fs::remove_file(&library),
        };
    }
    let include = cache::include_dir(dir, false).map_err(BuildError::Dir)?;
    let source_path = dir.join(format!("{name}.cpp"));
    cache::write_atomic(&source_path, unit.as_bytes()).map_err(BuildError::Dir)?;
    let tmp = dir.join(cache::unique_name(&format!("{name}.so.tmp")));
    let args = toolchain::exec_args(
        include.as_os_str(),
        source_path.as_os_str(),
        tmp.as_os_str(),
        unit.len(),
    );
    let timeout = toolchain::compile_timeout();
    let clang = || match toolchain::run_in(compiler, &args, None, Some(dir), Some(timeout)) {
        Ok(Some(r)) => Ok(r),
        Ok(None) => {
            let _ = std::fs::remove_file(&tmp);
            Err(BuildError::Other(CpuError::CompileTimeout {
                kernel: abi.kernel_name.clone(),
                seconds: timeout.as_secs_f64(),
                bytes: unit.len(),
                source_path: source_path.clone(),
            }))
        }
        Err(e) => Err(BuildError::Other(e)),
    };
    let (mut ok, mut diagnostics) = clang()?;
    if !ok && cache::repair_headers(&include).map_err(BuildError::Dir)? {
        // The headers were damaged meanwhile: once more with intact ones.
        (ok, diagnostics) = clang()?;
    }
    if !ok {
        let _ = std::fs::remove_file(&tmp);
        let error = CpuError::Compile {
            kernel: abi.kernel_name.clone(),
            source_path,
            diagnostics,
        };
        return Err(match &error {
            CpuError::Compile { diagnostics, .. } if output_failed(diagnostics) => BuildError::Dir(error),
            _ => BuildError::Other(error),
        });
    }
    cache::seal_library(&tmp, &library).map_err(BuildError::Dir)?;
    load(&library, abi, KernelOrigin::Compiled, options).map_err(BuildError::Other)
}

fn debug_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TRITON_METAL_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0"))
}

fn load(
    path: &Path,
    abi: &KernelAbi,
    origin: KernelOrigin,
    options: &CompileOptions,
) -> Result<Arc<CpuKernel>, CpuError> {
    let fail = |reason: String| CpuError::Load {
        path: path.to_path_buf(),
        reason,
    };
    // SAFETY: the library is one we compiled from our header; its initialisers are trivial.
    let library = unsafe { open_library(path) }.map_err(|e| fail(e.to_string()))?;
    // SAFETY: the symbols are defined by include/tm_cpu_runtime.h and the generated wrapper
    // with exactly these C signatures.
    let (version, scratch, run) = unsafe {
        let version = *library
            .get::<unsafe extern "C" fn() -> u32>(b"tm_cpu_abi_version\0".as_slice())
            .map_err(|e| fail(e.to_string()))?;
        let scratch = *library
            .get::<unsafe extern "C" fn(u32) -> u64>(b"tm_cpu_scratch_bytes\0".as_slice())
            .map_err(|e| fail(e.to_string()))?;
        let run = *library
            .get::<RunFn>(b"tm_cpu_run\0".as_slice())
            .map_err(|e| fail(e.to_string()))?;
        (version(), scratch(tm_abi::MAX_THREADS_PER_THREADGROUP), run)
    };
    if version != LAUNCH_ABI_VERSION {
        return Err(fail(format!(
            "launch ABI version {version}, expected {LAUNCH_ABI_VERSION}"
        )));
    }
    if scratch > arena::SCRATCH_BYTES as u64 {
        return Err(fail(format!(
            "needs {scratch} bytes of scheduler scratch, have {}",
            arena::SCRATCH_BYTES
        )));
    }
    Ok(Arc::new(CpuKernel {
        abi: abi.clone(),
        bounds_check: options.bounds_check,
        library_path: path.to_path_buf(),
        origin,
        run,
        _library: library,
    }))
}

/// Binds every symbol now, so a missing one fails here rather than in the middle of a launch.
#[cfg(unix)]
unsafe fn open_library(path: &Path) -> Result<libloading::Library, libloading::Error> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    Library::open(Some(path.as_os_str()), RTLD_NOW | RTLD_LOCAL).map(Into::into)
}

#[cfg(not(unix))]
unsafe fn open_library(path: &Path) -> Result<libloading::Library, libloading::Error> {
    libloading::Library::new(path.as_os_str())
}

/// Checks the address spaces of `msl` the way Metal does (passing a `device` pointer where a
/// `threadgroup` one is expected fails), by compiling it as C++ for OpenCL against
/// `include/check/metal_stdlib`. The error carries clang's diagnostics.
pub fn syntax_check(msl: &str) -> Result<(), CpuError> {
    static PASSED: OnceLock<Mutex<HashSet<[u8; 32]>>> = OnceLock::new();
    let compiler = toolchain::compiler()?;
    let text = format!(
        "#line 1 \"kernel.metal\"\n{}\n",
        source::rewrite_attributes(msl)
    );
    let key = cache::digest([
        cache::headers_digest().as_slice(),
        text.as_bytes(),
        compiler.version.as_bytes(),
    ]);
    let passed = PASSED.get_or_init(Default::default);
    if lock(passed).contains(&key) {
        return Ok(());
    }
    let headers = cache::include_dir(&cache::cache_dir()?, false)?;
    let include = headers.join("check");
    let mut args: Vec<&OsStr> = toolchain::CHECK_FLAGS.iter().map(OsStr::new).collect();
    args.extend([OsStr::new("-I"), include.as_os_str(), OsStr::new("-")]);
    let (mut ok, mut diagnostics) = toolchain::run(&compiler, &args, Some(&text))?;
    if !ok && cache::repair_headers(&headers)? {
        (ok, diagnostics) = toolchain::run(&compiler, &args, Some(&text))?;
    }
    if !ok {
        return Err(CpuError::SyntaxCheck { diagnostics });
    }
    lock(passed).insert(key);
    Ok(())
}

#[cfg(test)]
fn forget_loaded_kernels() {
    lock(loaded()).clear();
}

#[cfg(test)]
mod tests;
