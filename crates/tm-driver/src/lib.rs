//! The compile pipeline and launch dispatch. Stages, each named and timed
//! (`TRITON_METAL_DEBUG=1` logs them): `ttir` (front end) -> `fold`, `dce`
//! (passes) -> `msl` (layout + lowering) -> runtime library (CPU executor on
//! Linux; Metal on macOS).
//!
//! Architecture invariant: this crate is the only one that knows every stage;
//! it holds no Python types.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tm_abi::{KernelAbi, ScalarValue};
use tm_front::{Diagnostic, KernelSource, ParamSpec};

pub use tm_front;

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
    #[error("{0}")]
    BadArguments(String),
    #[error("{0}")]
    Runtime(String),
}

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
    cpu: OnceLock<Arc<tm_cpu::CpuKernel>>,
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

pub fn compile(req: &CompileRequest) -> Result<CompiledKernel, CompileError> {
    let name = req.source.name.clone();
    let mut timings = vec![];
    let mut stage = |stage: &str, t0: Instant| {
        let d = t0.elapsed();
        log(&name, stage, d);
        timings.push((stage.to_string(), d));
    };
    let t = Instant::now();
    let mut func = tm_front::lower_kernel(&req.source, &req.specs).map_err(CompileError::Source)?;
    let ttir = tm_ir::print_func(&func);
    stage("ttir", t);
    let t = Instant::now();
    tm_opt::run_default_pipeline(&mut func, |_, _| {});
    let ttir_opt = tm_ir::print_func(&func);
    stage("passes", t);
    let t = Instant::now();
    let msl = tm_msl::lower(&func, &tm_msl::MslOptions { num_warps: req.num_warps }).map_err(|e| match e {
        tm_msl::MslError::Unsupported { what, loc } => CompileError::Source(located(&func, what, loc)),
        other => CompileError::Resources(format!("kernel '{}': {other}", req.source.name)),
    })?;
    stage("msl", t);
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
        cpu: OnceLock::new(),
    })
}

impl CompiledKernel {
    /// The CPU executor's library for this kernel, built on first use.
    fn cpu(&self) -> Result<&Arc<tm_cpu::CpuKernel>, LaunchError> {
        if let Some(k) = self.cpu.get() {
            return Ok(k);
        }
        let t = Instant::now();
        let k = tm_cpu::compile(&self.msl, &self.abi).map_err(|e| LaunchError::Runtime(e.to_string()))?;
        log(&self.name, "cpu-executor build", t.elapsed());
        Ok(self.cpu.get_or_init(|| k))
    }

    /// Builds the runtime library now (ahead of the first launch).
    pub fn prepare(&self) -> Result<(), LaunchError> {
        self.cpu().map(|_| ())
    }

    /// Launches `grid` programs. `buffers` are base addresses of the pointer
    /// arguments and `scalars` the scalar arguments, each in signature order.
    ///
    /// # Safety
    /// Every pointer in `buffers` must be valid for all reads and writes the kernel performs.
    pub unsafe fn launch(&self, grid: [u32; 3], buffers: &[*mut u8], scalars: &[ScalarValue]) -> Result<(), LaunchError> {
        if buffers.len() != self.abi.buffers.len() {
            return Err(LaunchError::BadArguments(format!(
                "kernel '{}' expects {} pointer arguments, got {}",
                self.name,
                self.abi.buffers.len(),
                buffers.len()
            )));
        }
        let mut args = Vec::with_capacity(self.abi.args_size as usize);
        self.abi.pack_scalars(scalars, &mut args).map_err(|e| LaunchError::BadArguments(format!("kernel '{}': {e}", self.name)))?;
        if grid.iter().any(|&g| g == 0) {
            return Ok(());
        }
        // SAFETY: the caller guarantees the buffers, as this function's contract says.
        unsafe { self.cpu()?.launch(grid, buffers, &args) }.map_err(|e| LaunchError::Runtime(e.to_string()))
    }
}
