#![cfg(target_vendor = "apple")]
// Metal exists only on Apple platforms. Elsewhere this crate compiles to nothing (its
// dependencies are Apple-only too), so the workspace builds and tests on any host and
// tm-driver launches on the CPU executor there.

//! The Metal runtime: runs the kernels tm-msl generates on an Apple GPU.
//!
//! - One device and one command queue per process ([`device_info`] describes them).
//! - [`pipeline`] compiles MSL at run time with `newLibraryWithSource` (no Xcode needed), with
//!   the newest language version the OS offers ([`tm_abi::msl_version_for_macos`]) and fast
//!   math off, as Triton expects IEEE results; pipelines are cached by MSL text and ABI.
//! - [`Pipeline::launch`] binds a launch checked by [`tm_abi::KernelAbi::check_launch`] exactly
//!   as the ABI says (buffers `0..B`, the scalar struct with `setBytes` at slot `B`, `tm_smem`
//!   with `setThreadgroupMemoryLength` at index 0), dispatches `grid` threadgroups of
//!   `threads_per_threadgroup` threads, and waits for completion, so the caller's memory holds
//!   the results when it returns. Host memory is used in place when it starts on a page
//!   boundary and copied in and out otherwise ([`tm_abi::plan_bindings`]).
//!
//! Architecture invariant: the only crate that links objc2 or talks to Metal.

mod launch;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use objc2::rc::{autoreleasepool, Retained};
use objc2::runtime::{NSObjectProtocol, ProtocolObject};
use objc2::sel;
use objc2_foundation::{NSProcessInfo, NSString};
use objc2_metal::{
    MTLCommandQueue, MTLCompileOptions, MTLComputePipelineState, MTLCreateSystemDefaultDevice, MTLDevice, MTLGPUFamily,
    MTLLanguageVersion, MTLLibrary, MTLMathFloatingPointFunctions, MTLMathMode,
};
use tm_abi::{DeviceInfo, KernelAbi, MemoryStats};

pub use launch::{batch_begin, batch_end, batch_flush};

#[derive(Debug, thiserror::Error)]
pub enum MetalError {
    #[error("no usable Metal device: {0}")]
    NoDevice(String),
    /// Metal refused the generated MSL: a bug in triton_metal.
    #[error("internal error: Metal cannot compile kernel '{kernel}' (please report this): {log}")]
    Compile { kernel: String, log: String },
    /// The kernel needs more than this GPU allows.
    #[error("kernel '{kernel}': {message}")]
    Resources { kernel: String, message: String },
    #[error("kernel '{kernel}': {message}")]
    Arguments { kernel: String, message: String },
    #[error("kernel '{kernel}' failed on the GPU: {message}")]
    Execution { kernel: String, message: String },
}

struct Device {
    device: Retained<ProtocolObject<dyn MTLDevice>>,
    queue: Retained<ProtocolObject<dyn MTLCommandQueue>>,
    info: DeviceInfo,
    language: MTLLanguageVersion,
    page: usize,
}

extern "C" {
    fn getpagesize() -> std::ffi::c_int;
}

fn device() -> Result<&'static Device, MetalError> {
    static DEVICE: OnceLock<Result<Device, String>> = OnceLock::new();
    DEVICE
        .get_or_init(|| autoreleasepool(|_| open_device()))
        .as_ref()
        .map_err(|e| MetalError::NoDevice(e.clone()))
}

fn open_device() -> Result<Device, String> {
    // Generated kernels assume Apple GPUs (32-wide simdgroups); Intel Macs have other GPUs.
    if !cfg!(target_arch = "aarch64") {
        return Err("the Metal runtime needs an Apple Silicon Mac and an arm64 Python (not x86_64 or Rosetta)".into());
    }
    let device = MTLCreateSystemDefaultDevice().ok_or("MTLCreateSystemDefaultDevice returned no device")?;
    let name = device.name().to_string();
    let families = [
        (MTLGPUFamily::Apple10, "Apple10"),
        (MTLGPUFamily::Apple9, "Apple9"),
        (MTLGPUFamily::Apple8, "Apple8"),
        (MTLGPUFamily::Apple7, "Apple7"),
        // Virtual machines' paravirtual GPU may only claim the common family.
        (MTLGPUFamily::Metal3, "Metal3"),
    ];
    let family = families
        .into_iter()
        .find(|(f, _)| device.supportsFamily(*f))
        .map_or("unknown", |(_, n)| n);
    let process = NSProcessInfo::processInfo();
    let os = process.operatingSystemVersion();
    let (major, minor) = tm_abi::msl_version_for_macos(os.majorVersion.max(0) as u32).ok_or_else(|| {
        format!(
            "macOS {}.{} is too old (macOS 11 or newer is needed)",
            os.majorVersion, os.minorVersion
        )
    })?;
    let queue = device.newCommandQueue().ok_or("cannot create a Metal command queue")?;
    let info = DeviceInfo {
        backend: "metal",
        chip: tm_abi::chip_generation(&name).to_string(),
        name,
        gpu_family: family.to_string(),
        max_threads_per_threadgroup: device.maxThreadsPerThreadgroup().width as u32,
        max_threadgroup_memory: device.maxThreadgroupMemoryLength() as u32,
        simd_width: tm_abi::SIMD_WIDTH,
        unified_memory_bytes: process.physicalMemory(),
        recommended_working_set_bytes: device.recommendedMaxWorkingSetSize(),
        msl_version: (major, minor),
        supports_bfloat: (major, minor) >= (3, 1),
    };
    // SAFETY: getpagesize has no preconditions.
    let page = unsafe { getpagesize() }.max(4096) as usize;
    Ok(Device {
        device,
        queue,
        info,
        language: MTLLanguageVersion(((major << 16) + minor) as usize),
        page,
    })
}

/// The GPU kernels run on, or why there is none.
pub fn device_info() -> Result<DeviceInfo, MetalError> {
    device().map(|d| d.info.clone())
}

static CURRENT_BYTES: AtomicU64 = AtomicU64::new(0);
static PEAK_BYTES: AtomicU64 = AtomicU64::new(0);

/// Bytes of the buffers triton_metal allocated (staging copies), now and at most.
pub fn memory_stats() -> MemoryStats {
    MemoryStats {
        current_bytes: CURRENT_BYTES.load(Ordering::Relaxed),
        peak_bytes: PEAK_BYTES.load(Ordering::Relaxed),
    }
}

/// Counts `bytes` as allocated while it lives.
struct Allocation(u64);

impl Allocation {
    fn new(bytes: usize) -> Allocation {
        let now = CURRENT_BYTES.fetch_add(bytes as u64, Ordering::Relaxed) + bytes as u64;
        PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
        Allocation(bytes as u64)
    }
}

impl Drop for Allocation {
    fn drop(&mut self) {
        CURRENT_BYTES.fetch_sub(self.0, Ordering::Relaxed);
    }
}

/// A compiled compute pipeline for one kernel. `Send + Sync`: launches may come from any thread.
pub struct Pipeline {
    state: Retained<ProtocolObject<dyn MTLComputePipelineState>>,
    kernel: String,
    threads: u32,
    /// `KernelAbi::threadgroup_bytes` rounded up to 16, as Metal requires.
    threadgroup_bytes: usize,
}

// Launches from several threads share one pipeline.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Pipeline>();
};

type PipelineKey = (String, u32, u32);

/// The pipeline for `msl` (a kernel following `abi`), compiled on first use and then cached.
pub fn pipeline(msl: &str, abi: &KernelAbi) -> Result<Arc<Pipeline>, MetalError> {
    static CACHE: OnceLock<Mutex<HashMap<PipelineKey, Arc<Pipeline>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (msl.to_string(), abi.threads_per_threadgroup, abi.threadgroup_bytes);
    if let Some(p) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(p.clone());
    }
    let p = Arc::new(autoreleasepool(|_| build_pipeline(device()?, msl, abi))?);
    Ok(cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key)
        .or_insert(p)
        .clone())
}

fn build_pipeline(dev: &Device, msl: &str, abi: &KernelAbi) -> Result<Pipeline, MetalError> {
    let kernel = abi.kernel_name.clone();
    let compile_error = |log: String| MetalError::Compile {
        kernel: kernel.clone(),
        log,
    };
    let options = MTLCompileOptions::new();
    options.setLanguageVersion(dev.language);
    // Triton expects IEEE arithmetic and accurate math functions: no fast math.
    #[allow(deprecated)]
    options.setFastMathEnabled(false);
    if options.respondsToSelector(sel!(setMathMode:)) {
        options.setMathMode(MTLMathMode::Safe);
    }
    if options.respondsToSelector(sel!(setMathFloatingPointFunctions:)) {
        options.setMathFloatingPointFunctions(MTLMathFloatingPointFunctions::Precise);
    }
    let library = dev
        .device
        .newLibraryWithSource_options_error(&NSString::from_str(msl), Some(&options))
        .map_err(|e| compile_error(e.localizedDescription().to_string()))?;
    let function = library
        .newFunctionWithName(&NSString::from_str(&kernel))
        .ok_or_else(|| compile_error(format!("the library has no function '{kernel}'")))?;
    let state = dev
        .device
        .newComputePipelineStateWithFunction_error(&function)
        .map_err(|e| compile_error(e.localizedDescription().to_string()))?;
    let resources = |message: String| MetalError::Resources {
        kernel: kernel.clone(),
        message,
    };
    let width = state.threadExecutionWidth();
    if width != tm_abi::SIMD_WIDTH as usize {
        return Err(resources(format!(
            "this GPU runs simdgroups of {width} threads; generated kernels need 32"
        )));
    }
    let max_threads = state.maxTotalThreadsPerThreadgroup();
    if abi.threads_per_threadgroup as usize > max_threads {
        return Err(resources(format!(
            "needs {} threads per program (num_warps={}), but this GPU runs at most {max_threads} of this kernel's \
             threads per threadgroup; use a smaller num_warps",
            abi.threads_per_threadgroup,
            abi.threads_per_threadgroup / tm_abi::SIMD_WIDTH
        )));
    }
    let threadgroup_bytes = (abi.threadgroup_bytes as usize).next_multiple_of(16);
    let total = threadgroup_bytes + state.staticThreadgroupMemoryLength();
    if total > dev.info.max_threadgroup_memory as usize {
        return Err(resources(format!(
            "needs {total} bytes of threadgroup memory; this GPU has {}",
            dev.info.max_threadgroup_memory
        )));
    }
    Ok(Pipeline {
        state,
        kernel,
        threads: abi.threads_per_threadgroup,
        threadgroup_bytes,
    })
}
