//! Per-worker executor memory: scheduler scratch, one threadgroup's memory, and a fiber stack
//! for each of up to 1024 threads. Reserved once (lazily committed by the OS: pages cost
//! nothing until a fiber touches them), pooled and reused by later launches.

use std::ptr::NonNull;
use std::sync::Mutex;

use tm_abi::{MAX_THREADGROUP_BYTES, MAX_THREADS_PER_THREADGROUP};

use crate::toolchain::lock;
use crate::CpuError;

/// Stack of one GPU thread. Generated kernels keep small per-thread arrays; 256 KiB is ample.
pub(crate) const STACK_BYTES: usize = 256 * 1024;
/// Room for the scheduler state (`tm_cpu_scratch_bytes(1024)` is about 120 KiB).
pub(crate) const SCRATCH_BYTES: usize = 256 * 1024;
const SMEM_BYTES: usize = MAX_THREADGROUP_BYTES as usize;
const ARENA_BYTES: usize =
    SCRATCH_BYTES + SMEM_BYTES + MAX_THREADS_PER_THREADGROUP as usize * STACK_BYTES;

pub(crate) struct Arena {
    base: NonNull<u8>,
}

// SAFETY: the arena is plain memory owned by whoever holds it; nothing in it is thread-bound.
unsafe impl Send for Arena {}

impl Arena {
    fn new() -> Result<Arena, CpuError> {
        sys::reserve(ARENA_BYTES)
            .map(|base| Arena { base })
            .ok_or(CpuError::OutOfMemory { bytes: ARENA_BYTES })
    }
    pub fn scratch(&self) -> *mut u8 {
        self.base.as_ptr()
    }
    pub fn smem(&self) -> *mut u8 {
        // SAFETY: within the reservation.
        unsafe { self.base.as_ptr().add(SCRATCH_BYTES) }
    }
    pub fn stacks(&self) -> *mut u8 {
        // SAFETY: within the reservation.
        unsafe { self.base.as_ptr().add(SCRATCH_BYTES + SMEM_BYTES) }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        sys::release(self.base, ARENA_BYTES);
    }
}

static POOL: Mutex<Vec<Arena>> = Mutex::new(Vec::new());

/// Takes an arena from the pool (or reserves a new one).
pub(crate) fn acquire() -> Result<Arena, CpuError> {
    match lock(&POOL).pop() {
        Some(a) => Ok(a),
        None => Arena::new(),
    }
}

/// Returns an arena to the pool, keeping at most `keep` of them.
pub(crate) fn release(arena: Arena, keep: usize) {
    let mut pool = lock(&POOL);
    if pool.len() < keep {
        pool.push(arena);
    }
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
mod sys {
    use std::ffi::c_void;
    use std::ptr::NonNull;

    extern "C" {
        fn mmap(
            addr: *mut c_void,
            len: usize,
            prot: i32,
            flags: i32,
            fd: i32,
            offset: i64,
        ) -> *mut c_void;
        fn munmap(addr: *mut c_void, len: usize) -> i32;
    }
    const PROT_READ_WRITE: i32 = 0x1 | 0x2;
    #[cfg(target_os = "linux")]
    const FLAGS: i32 = 0x02 | 0x20 | 0x4000; // MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE
    #[cfg(target_os = "macos")]
    const FLAGS: i32 = 0x0002 | 0x1000; // MAP_PRIVATE | MAP_ANON

    pub fn reserve(len: usize) -> Option<NonNull<u8>> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
        let p = unsafe { mmap(std::ptr::null_mut(), len, PROT_READ_WRITE, FLAGS, -1, 0) };
        if p as isize == -1 {
            return None;
        }
        NonNull::new(p.cast())
    }

    pub fn release(base: NonNull<u8>, len: usize) {
        // SAFETY: `base` came from `reserve(len)` and is no longer used.
        unsafe { munmap(base.as_ptr().cast(), len) };
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod sys {
    use std::alloc::{alloc, dealloc, Layout};
    use std::ptr::NonNull;

    pub fn reserve(len: usize) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(len, 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { alloc(layout) })
    }

    pub fn release(base: NonNull<u8>, len: usize) {
        if let Ok(layout) = Layout::from_size_align(len, 4096) {
            // SAFETY: allocated by `reserve` with this layout.
            unsafe { dealloc(base.as_ptr(), layout) };
        }
    }
}
