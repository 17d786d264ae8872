//! The compile pipeline and launch dispatch. Stages, each named and timed
//! (`TRITON_METAL_DEBUG=1` logs them): `ttir` (front end) -> `fold`, `dce`
//! (passes) -> `msl` (layout + lowering) -> runtime library (CPU executor on
//! Linux; Metal on macOS).
//!
//! Architecture invariant: this crate is the only one that knows every stage;
//! it holds no Python types.

pub mod cache;
mod dump;
mod runtime;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tm_abi::{BufferArg, KernelAbi, ScalarValue};
use tm_front::{Diagnostic, KernelSource, ParamSpec};

pub use runtime::{batch_begin, batch_end, batch_flush, device_info, memory_stats};
pub use tm_msl::variants::{FrameworkEntry, MlxKernel, VariantError};
pub use tm_front;
/// The clang++ the CPU executor would use (for system reports).
pub use tm_cpu::compiler_path as cpu_compiler_path;

/// What to compile.
#[derive(Clone, Debug)]
pub struct CompileRequest {
    pub source: KernelSource,
    /// One per parameter of the Python signature.
    pub specs: Vec<ParamSpec>,
    pub num_warps: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// An error in the kernel's source: unsupported or ill-typed code.
    #[error("{0}")]
    Source(Diagnostic),
    /// The kernel needs more than Metal allows (threads, memory, buffer slots).
    #[error("{0}")]
    Resources(String),
    /// A bug in triton_metal (generated code that Metal would reject).
    #[error("{0}")]
    Internal(String),
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Arguments of the wrong kind or number (Python's TypeError).
    #[error("{0}")]
    BadArguments(String),
    /// An argument of the right kind whose value cannot be used: a null or bogus pointer, a
    /// read-only array where the kernel writes (Python's ValueError).
    #[error("{0}")]
    BadValue(String),
    #[error("{0}")]
    Runtime(String),
    /// The kernel needs more than this device allows (found when its runtime pipeline is built).
    #[error("{0}")]
    Resources(String),
}

/// The largest Metal source a kernel may have. Kernels of hundreds of KiB come from long
/// unrolled loops; Metal's compiler and clang (the CPU executor) take minutes on them.
pub const MAX_MSL_BYTES: usize = 256 * 1024;

/// A kernel compiled for one specialisation.
pub struct CompiledKernel {
    pub name: String,
    /// IR straight from the front end.
    pub ttir: String,
    /// IR after the pass pipeline.
    pub ttir_opt: String,
    /// Layout of every block value.
    pub layouts: String,
    pub msl: String,
    pub abi: KernelAbi,
    /// (stage, duration) in pipeline order.
    pub timings: Vec<(String, Duration)>,
    runtime: OnceLock<runtime::Loaded>,
}

pub fn debug_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TRITON_METAL_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// `TRITON_METAL_SYNTAX_CHECK=1` checks every generated kernel's address spaces
/// (the test suite turns it on).
fn syntax_check_enabled() -> bool {
    std::env::var("TRITON_METAL_SYNTAX_CHECK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `TRITON_METAL_DRY_RUN=1` (read once, at the first launch): launches stop once the
/// arguments are checked and packed and the kernel's runtime library is ready, and run
/// nothing. `benchmarks/launch_overhead.py` measures launch overhead this way.
pub fn dry_run_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TRITON_METAL_DRY_RUN").is_ok_and(|v| !v.is_empty() && v != "0"))
}

fn log(kernel: &str, stage: &str, d: Duration) {
    if debug_enabled() {
        eprintln!("[triton_metal] {kernel}: {stage} {:.3} ms", d.as_secs_f64() * 1e3);
    }
}

/// Turns a lowering error with a location into a source diagnostic.
fn located(f: &tm_ir::Func, what: String, loc: tm_ir::Loc) -> Diagnostic {
    let src = f.sources.get(loc.file as usize).cloned().unwrap_or_default();
    Diagnostic {
        filename: src.filename.clone(),
        line: loc.line,
        col: loc.col,
        message: what,
        source_line: src.line_text(loc.line).unwrap_or("").to_string(),
        function: src.function.clone(),
    }
}

/// Compiles `req`, or returns it from the kernel cache (memory, then disk; see [`cache`]).
/// With `TRITON_METAL_DUMP_DIR` set the cache is bypassed so every stage is dumped.
pub fn compile(req: &CompileRequest) -> Result<CompiledKernel, CompileError> {
    let t = Instant::now();
    let key = cache::key(req, syntax_check_enabled());
    let mut dump = dump::Dump::from_env(&req.source.name, &key);
    if dump.is_none() {
        if let Some((a, hit)) = cache::lookup(&key) {
            let stage = if hit == cache::Hit::Memory { "memory cache hit" } else { "disk cache hit" };
            log(&req.source.name, stage, t.elapsed());
            let a = Arc::unwrap_or_clone(a);
            return Ok(CompiledKernel {
                name: req.source.name.clone(),
                ttir: a.ttir,
                ttir_opt: a.ttir_opt,
                layouts: a.layouts,
                msl: a.msl,
                abi: a.abi,
                timings: vec![(stage.to_string(), t.elapsed())],
                runtime: OnceLock::new(),
            });
        }
        log(&req.source.name, "cache miss", t.elapsed());
    }
    let k = compile_uncached(req, dump.as_mut())?;
    let (ttir, ttir_opt, layouts, msl) = (k.ttir.clone(), k.ttir_opt.clone(), k.layouts.clone(), k.msl.clone());
    cache::store(&key, cache::Artifacts { ttir, ttir_opt, layouts, msl, abi: k.abi.clone() });
    Ok(k)
}

/// Compiles `req` from its source every time: the kernel cache (memory and disk) is neither
/// read nor written. For measuring compile latency (`benchmarks/compile_latency.py`).
pub fn compile_without_cache(req: &CompileRequest) -> Result<CompiledKernel, CompileError> {
    compile_uncached(req, None)
}

fn compile_uncached(req: &CompileRequest, mut dump: Option<&mut dump::Dump>) -> Result<CompiledKernel, CompileError> {
    let name = req.source.name.clone();
    let mut timings = vec![];
    let mut stage = |stage: &str, t0: Instant| {
        let d = t0.elapsed();
        log(&name, stage, d);
        timings.push((stage.to_string(), d));
    };
    let t = Instant::now();
    let mut func = tm_front::lower_kernel_with(&req.source, &req.specs, Some(req.num_warps)).map_err(CompileError::Source)?;
    let ttir = tm_ir::print_func(&func);
    stage("ttir", t);
    let t = Instant::now();
    if let Some(d) = dump.as_deref_mut() {
        d.write("ttir", "ttir", &ttir);
    }
    tm_opt::run_default_pipeline(&mut func, |pass, f| {
        if let Some(d) = dump.as_deref_mut() {
            d.write(pass, "ttir", &tm_ir::print_func(f));
        }
    });
    let ttir_opt = tm_ir::print_func(&func);
    stage("passes", t);
    let t = Instant::now();
    let msl = tm_msl::lower(&func, &tm_msl::MslOptions { num_warps: req.num_warps }).map_err(|e| match e {
        tm_msl::MslError::Unsupported { what, loc } => CompileError::Source(located(&func, what, loc)),
        other => CompileError::Resources(format!("kernel '{}': {other}", req.source.name)),
    })?;
    stage("msl", t);
    if msl.source.len() > MAX_MSL_BYTES {
        return Err(CompileError::Resources(format!(
            "kernel '{}': its Metal source is {} KiB, over triton_metal's budget of {} KiB (compilers take minutes on such kernels); \
             a tl.static_range loop whose body needs its index as a compile-time constant is unrolled, one copy of the body per iteration",
            req.source.name,
            msl.source.len() / 1024,
            MAX_MSL_BYTES / 1024
        )));
    }
    if let Some(d) = dump.as_deref_mut() {
        d.write("layout", "txt", &msl.layouts);
        d.write("msl", "metal", &msl.source);
    }
    if syntax_check_enabled() {
        // The address-space check Metal would do (clang in C++-for-OpenCL mode).
        let t = Instant::now();
        tm_cpu::syntax_check(&msl.source).map_err(|e| {
            CompileError::Internal(format!("internal error: kernel '{}' fails the Metal address-space check: {e}", req.source.name))
        })?;
        stage("address-space check", t);
    }
    Ok(CompiledKernel {
        name: req.source.name.clone(),
        ttir,
        ttir_opt,
        layouts: msl.layouts,
        msl: msl.source,
        abi: msl.abi,
        timings,
        runtime: OnceLock::new(),
    })
}

impl CompiledKernel {
    /// This kernel on the host's runtime (Metal pipeline or CPU executor library), built on first use.
    fn runtime(&self) -> Result<&runtime::Loaded, LaunchError> {
        if let Some(k) = self.runtime.get() {
            return Ok(k);
        }
        let t = Instant::now();
        let k = runtime::load(&self.msl, &self.abi)?;
        log(&self.name, runtime::BUILD_STAGE, t.elapsed());
        Ok(self.runtime.get_or_init(|| k))
    }

    /// This kernel as PyTorch's `torch.mps.compile_shader` launches it (`tm_msl::variants`).
    pub fn torch_variant(&self) -> Result<FrameworkEntry, VariantError> {
        tm_msl::variants::torch_variant(&self.msl, &self.abi)
    }

    /// This kernel as MLX's `mx.fast.metal_kernel` takes it (`tm_msl::variants`).
    pub fn mlx_variant(&self) -> Result<MlxKernel, VariantError> {
        tm_msl::variants::mlx_variant(&self.msl, &self.abi)
    }

    /// Builds the runtime library now (ahead of the first launch).
    pub fn prepare(&self) -> Result<(), LaunchError> {
        self.runtime().map(|_| ())
    }

    /// Launches `grid` programs and waits for them. `buffers` (the memory of the pointer
    /// arguments) and `scalars` are in signature order. Arguments are checked against the ABI
    /// before anything runs; a grid with a zero dimension runs nothing. In a dry run
    /// ([`dry_run_enabled`]) it returns once they are packed and the runtime library is built.
    /// On the CPU executor every access of the kernel is checked against its argument's extent
    /// (unless `TRITON_METAL_BOUNDS_CHECK=0`): one outside fails the launch with
    /// [`LaunchError::Runtime`] and is not made.
    ///
    /// # Safety
    /// The memory of every buffer must be valid for all reads and writes the kernel performs
    /// and not used elsewhere during the call; a [`BufferArg::Metal`] must be a live
    /// `id<MTLBuffer>`.
    pub unsafe fn launch(&self, grid: [u32; 3], buffers: &[BufferArg], scalars: &[ScalarValue]) -> Result<(), LaunchError> {
        let launch = self
            .abi
            .check_launch(grid, buffers, scalars)
            .map_err(|e| {
                let m = format!("kernel '{}': {e}", self.name);
                match e {
                    tm_abi::AbiError::BadAddress { .. } | tm_abi::AbiError::ReadOnly { .. } => {
                        LaunchError::BadValue(m)
                    }
                    _ => LaunchError::BadArguments(m),
                }
            })?;
        if launch.is_empty() {
            return Ok(());
        }
        if dry_run_enabled() {
            return self.runtime().map(|_| ());
        }
        // SAFETY: the caller guarantees the buffers, as this function's contract says.
        unsafe { runtime::launch(self.runtime()?, &launch) }
    }
}

/// A kernel entry with its own signature, described by `params` (`tm_abi::entry`), run on
/// the CPU executor on every host: how the MSL given to a framework's launcher (a variant of
/// `tm_msl::variants`, or MLX's kernel around one) is executed without that framework. The
/// scalars arrive packed (`tm_abi::entry::pack_layout` of `scalar_dtypes`).
///
/// # Safety
/// As [`CompiledKernel::launch`]: every buffer must be valid for everything the kernel does
/// (accesses of generated code are bounds-checked unless `TRITON_METAL_BOUNDS_CHECK=0`).
#[allow(clippy::too_many_arguments)]
pub unsafe fn run_entry_on_cpu(
    msl: &str,
    entry: &str,
    params: &[tm_abi::entry::EntryParam],
    buffer_types: &[tm_abi::BufferParam],
    scalar_dtypes: &[tm_ir::DType],
    threads_per_threadgroup: u32,
    threadgroup_bytes: u32,
    grid: [u32; 3],
    buffers: &[tm_abi::HostRange],
    args: &[u8],
) -> Result<(), LaunchError> {
    let k = tm_cpu::compile_entry(msl, entry, params, buffer_types, scalar_dtypes, threads_per_threadgroup, threadgroup_bytes)
        .map_err(|e| LaunchError::Runtime(e.to_string()))?;
    if grid.contains(&0) {
        return Ok(());
    }
    let bufs: Vec<tm_cpu::Buffer> = buffers.iter().map(|h| tm_cpu::Buffer::new(h.addr as *mut u8, h.start, h.end())).collect();
    // SAFETY: the caller's contract.
    unsafe { k.launch(grid, &bufs, args) }.map_err(|e| LaunchError::Runtime(e.to_string()))
}
