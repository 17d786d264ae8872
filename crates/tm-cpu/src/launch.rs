//! Launching: threadgroups are handed out in chunks to worker threads, each of which calls the
//! kernel library's `tm_cpu_run` entry point with its own executor memory.

use std::ffi::c_char;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::arena::{self, PAGE, SCRATCH_BYTES};
use crate::guard;
use crate::toolchain::lock;
use crate::{Buffer, CpuError};

/// Version of [`LaunchDesc`]; the header's `TM_CPU_ABI_VERSION` must match.
pub(crate) const LAUNCH_ABI_VERSION: u32 = 3;

/// Mirrors `struct tm_cpu_range` in include/tm_cpu_runtime.h: the bytes a buffer slot's
/// accesses may touch.
#[repr(C)]
#[derive(Clone, Copy)]
struct RangeDesc {
    start: u64,
    len: u64,
}

/// Mirrors `struct tm_cpu_launch` in include/tm_cpu_runtime.h.
#[repr(C)]
pub(crate) struct LaunchDesc {
    version: u32,
    grid: [u32; 3],
    first_group: u64,
    group_count: u64,
    bufs: *const *mut u8,
    /// One per buffer slot.
    ranges: *const RangeDesc,
    buffer_count: u64,
    args: *const u8,
    smem: *mut u8,
    smem_bytes: u64,
    scratch: *mut u8,
    scratch_bytes: u64,
    stacks: *mut u8,
    /// Bytes of one stack slot; its first `guard_bytes` are the guard page, not stack.
    stack_bytes: u64,
    guard_bytes: u64,
    /// Where the library stores the jump buffer a stack overflow returns through (`guard.rs`);
    /// null when overflows are not caught.
    jmp_slot: *mut *mut std::ffi::c_void,
    err: *mut c_char,
    err_cap: u64,
}

/// `tm_cpu_run`: runs `group_count` threadgroups from `first_group`; non-zero on a kernel error,
/// described in `err`.
pub(crate) type RunFn = unsafe extern "C" fn(*const LaunchDesc) -> i32;

/// Worker threads per launch: `$TRITON_METAL_CPU_THREADS`, else the available parallelism
/// (asked once: on Linux it reads cgroup files, about 25 us, which small launches would pay).
pub(crate) fn worker_count() -> usize {
    static AVAILABLE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    std::env::var("TRITON_METAL_CPU_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or_else(|| {
            *AVAILABLE.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        })
}

/// What every worker of one launch shares.
struct Shared<'a> {
    run: RunFn,
    grid: [u32; 3],
    buffers: &'a [*mut u8],
    ranges: &'a [RangeDesc],
    args: *const u8,
    smem_bytes: u64,
    /// Stack slot per fiber, and whether its guard pages are made inaccessible.
    stack_bytes: usize,
    guard_threads: Option<usize>,
    total: u64,
    chunk: u64,
    keep_arenas: usize,
    next: AtomicU64,
    failed: AtomicBool,
    error: Mutex<Option<String>>,
}

// SAFETY: the raw pointers are only handed to the kernel, which may use them from any thread:
// the caller of `CpuKernel::launch` vouches for the memory they point to for the launch.
unsafe impl Sync for Shared<'_> {}

/// How the threads of one kernel run: fibers need stacks sized from its per-thread arrays.
pub(crate) struct Threads {
    pub count: u32,
    pub uses_sync: bool,
    pub private_bytes: u64,
}

/// Runs all `total` threadgroups of `grid`. `Ok(Some(msg))` is a kernel error.
pub(crate) fn run(
    run: RunFn,
    grid: [u32; 3],
    total: u64,
    buffers: &[Buffer],
    args: &[u8],
    smem_bytes: u32,
    threads: &Threads,
) -> Result<Option<String>, CpuError> {
    let ptrs: Vec<*mut u8> = buffers.iter().map(|b| b.ptr).collect();
    let ranges: Vec<RangeDesc> = buffers
        .iter()
        .map(|b| RangeDesc {
            start: b.start as u64,
            len: (b.end - b.start) as u64,
        })
        .collect();
    // The argument struct is read in place by the kernel: give it 8-byte alignment.
    let mut words = vec![0u64; args.len().div_ceil(8).max(1)];
    // SAFETY: `words` holds at least `args.len()` bytes and does not overlap `args`.
    unsafe {
        std::ptr::copy_nonoverlapping(args.as_ptr(), words.as_mut_ptr().cast::<u8>(), args.len())
    };

    let configured = worker_count();
    let workers = configured
        .min(usize::try_from(total).unwrap_or(usize::MAX))
        .max(1);
    let shared = Shared {
        run,
        grid,
        buffers: &ptrs,
        ranges: &ranges,
        args: words.as_ptr().cast(),
        smem_bytes: u64::from(smem_bytes),
        stack_bytes: arena::stack_bytes_for(threads.private_bytes),
        guard_threads: (threads.uses_sync && threads.private_bytes >= arena::GUARD_FROM_BYTES)
            .then_some(threads.count as usize),
        total,
        // Several chunks per worker balance uneven groups; chunks amortise the atomic.
        chunk: (total / (workers as u64 * 8)).clamp(1, 1024),
        keep_arenas: configured.max(2) * 2,
        next: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        error: Mutex::new(None),
    };
    if shared.guard_threads.is_some() {
        guard::install();
    }
    // Kernels without fibers run on the worker's own stack: make it hold their arrays.
    let os_stack = (2 << 20).max(shared.stack_bytes + (1 << 20));
    let own_thread = threads.uses_sync || shared.stack_bytes <= arena::MIN_STACK_BYTES;
    if workers == 1 && own_thread {
        work(&shared)?;
    } else {
        std::thread::scope(|scope| -> Result<(), CpuError> {
            let mut handles = Vec::with_capacity(workers - 1);
            let first = if own_thread { 1 } else { 0 };
            for i in first..workers {
                let sh = &shared;
                let handle = std::thread::Builder::new()
                    .name(format!("tm-cpu-{i}"))
                    .stack_size(os_stack)
                    .spawn_scoped(scope, move || work(sh))
                    .map_err(CpuError::Thread);
                match handle {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        shared.failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                }
            }
            let mut result = if own_thread { work(&shared) } else { Ok(()) };
            for h in handles {
                let r = h.join().unwrap_or_else(|_| {
                    Err(CpuError::Thread(std::io::Error::other(
                        "a tm-cpu worker thread panicked",
                    )))
                });
                if result.is_ok() {
                    result = r;
                }
            }
            result
        })?;
    }
    let error = lock(&shared.error).take();
    Ok(error)
}

fn work(sh: &Shared) -> Result<(), CpuError> {
    let mut arena = match arena::acquire(sh.stack_bytes) {
        Ok(a) => a,
        Err(e) => {
            sh.failed.store(true, Ordering::Relaxed);
            return Err(e);
        }
    };
    // Guard pages and the fault handler's view of them, for kernels with large arrays.
    let mut jmp: *mut std::ffi::c_void = std::ptr::null_mut();
    let catching = guard::CATCHES_OVERFLOW && sh.guard_threads.is_some_and(|t| arena.guard(t));
    let region = guard::Region {
        lo: arena.stacks() as usize,
        hi: arena.stacks_end(),
        stride: arena.stack_bytes(),
        guard: PAGE,
        jmp: &mut jmp,
    };
    let _alt = catching.then(guard::AltStack::ensure);
    let _active = catching.then(|| guard::Active::new(&region));
    let mut err = [0u8; 2048];
    let mut desc = LaunchDesc {
        version: LAUNCH_ABI_VERSION,
        grid: sh.grid,
        first_group: 0,
        group_count: 0,
        bufs: sh.buffers.as_ptr(),
        ranges: sh.ranges.as_ptr(),
        buffer_count: sh.buffers.len() as u64,
        args: sh.args,
        smem: arena.smem(),
        smem_bytes: sh.smem_bytes,
        scratch: arena.scratch(),
        scratch_bytes: SCRATCH_BYTES as u64,
        stacks: arena.stacks(),
        stack_bytes: arena.stack_bytes() as u64,
        guard_bytes: PAGE as u64,
        jmp_slot: if catching { &mut jmp } else { std::ptr::null_mut() },
        err: err.as_mut_ptr().cast(),
        err_cap: err.len() as u64,
    };
    while !sh.failed.load(Ordering::Relaxed) {
        let start = sh.next.fetch_add(sh.chunk, Ordering::Relaxed);
        if start >= sh.total {
            break;
        }
        desc.first_group = start;
        desc.group_count = sh.chunk.min(sh.total - start);
        // SAFETY: `desc` describes memory owned by this worker (arena, error buffer) and the
        // caller's buffers and arguments, which outlive the launch.
        let rc = unsafe { (sh.run)(&desc) };
        if rc != 0 {
            let len = err.iter().position(|b| *b == 0).unwrap_or(err.len());
            let msg = String::from_utf8_lossy(&err[..len]).into_owned();
            let mut slot = lock(&sh.error);
            if slot.is_none() {
                *slot = Some(msg);
            }
            sh.failed.store(true, Ordering::Relaxed);
            break;
        }
    }
    drop(_active);
    arena::release(arena, sh.keep_arenas);
    Ok(())
}
