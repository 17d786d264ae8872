//! Launch dispatch: Metal (tm-metal) on Apple platforms, the CPU executor (tm-cpu) elsewhere.
//! Both receive a launch checked by [`tm_abi::KernelAbi::check_launch`], so bad arguments fail
//! the same way, before anything runs, on every host.

use std::sync::Arc;

use tm_abi::{CheckedLaunch, DeviceInfo, KernelAbi, MemoryStats};

use crate::LaunchError;

/// A kernel ready to launch on this host's runtime.
#[cfg(target_vendor = "apple")]
pub(crate) type Loaded = Arc<tm_metal::Pipeline>;
#[cfg(not(target_vendor = "apple"))]
pub(crate) type Loaded = Arc<tm_cpu::CpuKernel>;

/// The name of the stage that builds a [`Loaded`] (for `TRITON_METAL_DEBUG`).
pub(crate) const BUILD_STAGE: &str = if cfg!(target_vendor = "apple") {
    "metal pipeline build"
} else {
    "cpu-executor build"
};

#[cfg(target_vendor = "apple")]
fn metal_error(e: tm_metal::MetalError) -> LaunchError {
    use tm_metal::MetalError as E;
    match e {
        E::Resources { .. } => LaunchError::Resources(e.to_string()),
        E::Arguments { .. } => LaunchError::BadArguments(e.to_string()),
        _ => LaunchError::Runtime(e.to_string()),
    }
}

#[cfg(target_vendor = "apple")]
pub(crate) fn load(msl: &str, abi: &KernelAbi) -> Result<Loaded, LaunchError> {
    tm_metal::pipeline(msl, abi).map_err(metal_error)
}

#[cfg(not(target_vendor = "apple"))]
pub(crate) fn load(msl: &str, abi: &KernelAbi) -> Result<Loaded, LaunchError> {
    tm_cpu::compile(msl, abi).map_err(|e| LaunchError::Runtime(e.to_string()))
}

/// # Safety
/// As [`crate::CompiledKernel::launch`].
#[cfg(target_vendor = "apple")]
pub(crate) unsafe fn launch(kernel: &Loaded, launch: &CheckedLaunch<'_>) -> Result<(), LaunchError> {
    // SAFETY: the caller's contract is tm_metal's.
    unsafe { kernel.launch(launch) }.map_err(metal_error)
}

/// # Safety
/// As [`crate::CompiledKernel::launch`].
#[cfg(not(target_vendor = "apple"))]
pub(crate) unsafe fn launch(kernel: &Loaded, launch: &CheckedLaunch<'_>) -> Result<(), LaunchError> {
    use tm_abi::BufferArg;
    let mut bufs = Vec::with_capacity(launch.buffers.len());
    for (b, p) in launch.buffers.iter().zip(&kernel.abi().buffers) {
        match b {
            // The array's extent bounds the kernel's accesses through this argument.
            BufferArg::Host(h) => bufs.push(tm_cpu::Buffer::new(h.addr as *mut u8, h.start, h.end())),
            BufferArg::Metal { .. } => {
                return Err(LaunchError::BadArguments(format!(
                    "argument '{}' is a Metal buffer, which only the Metal runtime (macOS) can use",
                    p.name
                )))
            }
        }
    }
    // SAFETY: the caller guarantees the host memory; the executor only uses the pointers.
    unsafe { kernel.launch(launch.grid, &bufs, &launch.args) }.map_err(|e| LaunchError::Runtime(e.to_string()))
}

/// The device kernels run on: the GPU on a Mac, the CPU executor elsewhere.
#[cfg(target_vendor = "apple")]
pub fn device_info() -> Result<DeviceInfo, LaunchError> {
    tm_metal::device_info().map_err(metal_error)
}

/// The device kernels run on: the GPU on a Mac, the CPU executor elsewhere.
#[cfg(not(target_vendor = "apple"))]
pub fn device_info() -> Result<DeviceInfo, LaunchError> {
    // /proc/meminfo's "MemTotal:   16318412 kB"; 0 where there is none.
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let line = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kib| kib * 1024);
    Ok(DeviceInfo {
        backend: "cpu",
        name: format!("triton_metal CPU executor ({})", std::env::consts::ARCH),
        chip: "cpu".into(),
        gpu_family: "cpu".into(),
        max_threads_per_threadgroup: tm_abi::MAX_THREADS_PER_THREADGROUP,
        max_threadgroup_memory: tm_abi::MAX_THREADGROUP_BYTES,
        simd_width: tm_abi::SIMD_WIDTH,
        unified_memory_bytes: memory,
        recommended_working_set_bytes: memory,
        // The Metal-on-CPU header provides what MSL 3.1 does for generated code, bfloat included.
        msl_version: (3, 1),
        supports_bfloat: true,
    })
}

/// Memory triton_metal allocated for launches. The CPU executor runs on the caller's arrays
/// in place and allocates none.
pub fn memory_stats() -> MemoryStats {
    #[cfg(target_vendor = "apple")]
    return tm_metal::memory_stats();
    #[cfg(not(target_vendor = "apple"))]
    MemoryStats::default()
}

/// Starts (or nests in) a batch of this thread's launches: on Metal, launches on memory it
/// uses in place are queued in one command buffer until the outermost [`batch_end`]. The CPU
/// executor completes every launch at once, so there a batch changes nothing.
pub fn batch_begin() {
    #[cfg(target_vendor = "apple")]
    tm_metal::batch_begin();
}

/// Ends a batch; the outermost end waits for the queued launches and reports their errors.
pub fn batch_end() -> Result<(), LaunchError> {
    #[cfg(target_vendor = "apple")]
    return tm_metal::batch_end().map_err(metal_error);
    #[cfg(not(target_vendor = "apple"))]
    Ok(())
}

/// Waits for the launches queued in this thread's batch so far; the batch stays open.
pub fn batch_flush() -> Result<(), LaunchError> {
    #[cfg(target_vendor = "apple")]
    return tm_metal::batch_flush().map_err(metal_error);
    #[cfg(not(target_vendor = "apple"))]
    Ok(())
}
