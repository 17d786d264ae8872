//! The executor's error type.

use std::path::PathBuf;

/// Everything that can go wrong when compiling, checking or launching a kernel on the CPU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CpuError {
    #[error(
        "no clang++ found (looked for {tried}); the CPU executor needs clang 17 or newer: \
         install it (`apt-get install clang-19`, or `apt-get install clang` where that is 17+) \
         or set TRITON_METAL_CLANG to a clang++ binary"
    )]
    CompilerNotFound { tried: String },

    #[error("cannot use the C++ compiler {path}: {reason}")]
    CompilerUnusable { path: PathBuf, reason: String },

    #[error("clang failed to compile kernel `{kernel}` (source: {source_path}):\n{diagnostics}")]
    Compile {
        kernel: String,
        source_path: PathBuf,
        diagnostics: String,
    },

    #[error(
        "clang did not finish compiling kernel `{kernel}` for the CPU executor within {seconds} s \
         (source: {source_path}, {bytes} bytes): the kernel is very large, typically from long \
         tl.static_range loops unrolled because their body needs the index as a compile-time \
         constant (every iteration is a copy of the body) or huge constexpr blocks; \
         TRITON_METAL_CPU_COMPILE_TIMEOUT raises the limit"
    )]
    CompileTimeout {
        kernel: String,
        seconds: f64,
        bytes: usize,
        source_path: PathBuf,
    },

    #[error("Metal address-space check failed:\n{diagnostics}")]
    SyntaxCheck { diagnostics: String },

    #[error("invalid launch ABI for kernel `{kernel}`: {reason}")]
    InvalidAbi { kernel: String, reason: String },

    #[error("cannot load the compiled kernel library {path}: {reason}")]
    Load { path: PathBuf, reason: String },

    #[error("{context} {path}: {source}")]
    Io {
        context: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("kernel `{kernel}` takes {expected} buffers, got {got}")]
    BufferCount {
        kernel: String,
        expected: usize,
        got: usize,
    },

    #[error("kernel `{kernel}` takes {expected} bytes of scalar arguments, got {got}")]
    ArgsSize {
        kernel: String,
        expected: usize,
        got: usize,
    },

    #[error("kernel `{kernel}`: buffer {slot}: {reason}")]
    BadBuffer {
        kernel: String,
        slot: usize,
        reason: String,
    },

    #[error("kernel `{kernel}`: grid {grid:?} has a zero dimension")]
    EmptyGrid { kernel: String, grid: [u32; 3] },

    /// The kernel itself misbehaved: an access outside its buffers (bounds-checked kernels), a
    /// failed `device_assert`, a deadlock between barriers, simdgroup functions called
    /// divergently, a stack overflow, or sync functions in a kernel whose ABI says it has none.
    #[error("kernel `{kernel}` failed on the CPU: {message}")]
    Kernel { kernel: String, message: String },

    #[error("cannot allocate executor memory ({bytes} bytes)")]
    OutOfMemory { bytes: usize },

    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

impl CpuError {
    pub(crate) fn io(
        context: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        CpuError::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
