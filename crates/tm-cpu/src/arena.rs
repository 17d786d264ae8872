//! Per-worker executor memory: scheduler scratch, one threadgroup's memory, and a fiber stack
//! for each of up to 1024 threads. Reserved once (lazily committed by the OS: pages cost
//! nothing until a fiber touches them), pooled and reused by later launches.
//!
//! Stacks are sized from the kernel ([`stack_bytes_for`]: its per-thread arrays plus
//! headroom). Each stack slot starts with a guard page (made inaccessible for kernels with
//! large per-thread arrays, where an overflow is plausible: see `guard.rs`), then the stack,
//! which grows down towards it.

use std::ptr::NonNull;
use std::sync::Mutex;

use tm_abi::{MAX_THREADGROUP_BYTES, MAX_THREADS_PER_THREADGROUP};

use crate::toolchain::lock;
use crate::CpuError;

/// The smallest fiber stack (guard page included). Kernels with small per-thread arrays use
/// a few KiB; 256 KiB is ample.
pub(crate) const MIN_STACK_BYTES: usize = 256 * 1024;
/// Stack beyond the kernel's arrays: spilled registers, the runtime's own frames (printf).
const HEADROOM_BYTES: u64 = 128 * 1024;
/// Per-thread arrays from which the guard pages are made inaccessible. Below, the stack is
/// at least 8 times what the arrays need and the canary check suffices; guard pages cost two
/// memory mappings per stack, of which a process has a limited number.
pub(crate) const GUARD_FROM_BYTES: u64 = 16 * 1024;
pub(crate) const PAGE: usize = 4096;
/// Room for the scheduler state (`tm_cpu_scratch_bytes(1024)` is about 120 KiB).
pub(crate) const SCRATCH_BYTES: usize = 256 * 1024;
const SMEM_BYTES: usize = MAX_THREADGROUP_BYTES as usize;
const THREADS: usize = MAX_THREADS_PER_THREADGROUP as usize;

/// The stack slot (guard page included) for a kernel with `private` bytes of per-thread
/// arrays: the arrays with a quarter more, plus headroom, in whole pages.
pub(crate) fn stack_bytes_for(private: u64) -> usize {
    let need = private + private / 4 + HEADROOM_BYTES + PAGE as u64;
    (usize::try_from(need).unwrap_or(usize::MAX).next_multiple_of(64 * 1024)).max(MIN_STACK_BYTES)
}

pub(crate) struct Arena {
    base: NonNull<u8>,
    /// Bytes of one stack slot, guard page included.
    stack_bytes: usize,
    /// Stacks `0..guarded` have an inaccessible guard page.
    guarded: usize,
}

// SAFETY: the arena is plain memory owned by whoever holds it; nothing in it is thread-bound.
unsafe impl Send for Arena {}

impl Arena {
    fn new(stack_bytes: usize) -> Result<Arena, CpuError> {
        let len = Self::len(stack_bytes);
        sys::reserve(len)
            .map(|base| Arena { base, stack_bytes, guarded: 0 })
            .ok_or(CpuError::OutOfMemory { bytes: len })
    }
    fn len(stack_bytes: usize) -> usize {
        SCRATCH_BYTES + SMEM_BYTES + THREADS * stack_bytes
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
    pub fn stack_bytes(&self) -> usize {
        self.stack_bytes
    }
    /// The guard region's description for the fault handler.
    pub fn stacks_end(&self) -> usize {
        self.stacks() as usize + THREADS * self.stack_bytes
    }
    /// Makes the guard pages of the first `threads` stacks inaccessible. False if the OS
    /// refused (the launch then goes on with canaries only).
    pub fn guard(&mut self, threads: usize) -> bool {
        while self.guarded < threads.min(THREADS) {
            // SAFETY: the page starts a stack slot inside the reservation.
            let page = unsafe { self.stacks().add(self.guarded * self.stack_bytes) };
            if !sys::protect_none(page, PAGE) {
                return false;
            }
            self.guarded += 1;
        }
        true
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        sys::release(self.base, Self::len(self.stack_bytes));
    }
}

static POOL: Mutex<Vec<Arena>> = Mutex::new(Vec::new());

/// Takes an arena whose stacks hold `stack_bytes` from the pool (the smallest such), or
/// reserves a new one.
pub(crate) fn acquire(stack_bytes: usize) -> Result<Arena, CpuError> {
    let mut pool = lock(&POOL);
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, a)| a.stack_bytes >= stack_bytes && a.stack_bytes <= stack_bytes.saturating_mul(4))
        .min_by_key(|(_, a)| a.stack_bytes)
        .map(|(i, _)| i);
    match best {
        Some(i) => Ok(pool.swap_remove(i)),
        None => {
            drop(pool);
            Arena::new(stack_bytes)
        }
    }
}

/// Returns an arena to the pool, keeping at most `keep` of them (the newest).
pub(crate) fn release(arena: Arena, keep: usize) {
    let mut pool = lock(&POOL);
    pool.push(arena);
    while pool.len() > keep {
        pool.remove(0);
    }
}

#[cfg(unix)]
mod sys {
    use std::ptr::NonNull;

    #[cfg(target_os = "linux")]
    const FLAGS: i32 = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
    #[cfg(not(target_os = "linux"))]
    const FLAGS: i32 = libc::MAP_PRIVATE | libc::MAP_ANON;

    pub fn reserve(len: usize) -> Option<NonNull<u8>> {
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing.
        let p = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, FLAGS, -1, 0) };
        if p == libc::MAP_FAILED {
            return None;
        }
        NonNull::new(p.cast())
    }

    pub fn protect_none(page: *mut u8, len: usize) -> bool {
        // SAFETY: `page` is page-aligned inside a mapping of ours that no one uses now.
        unsafe { libc::mprotect(page.cast(), len, libc::PROT_NONE) == 0 }
    }

    pub fn release(base: NonNull<u8>, len: usize) {
        // SAFETY: `base` came from `reserve(len)` and is no longer used.
        unsafe { libc::munmap(base.as_ptr().cast(), len) };
    }
}

#[cfg(not(unix))]
mod sys {
    use std::alloc::{alloc, dealloc, Layout};
    use std::ptr::NonNull;

    pub fn reserve(len: usize) -> Option<NonNull<u8>> {
        let layout = Layout::from_size_align(len, 4096).ok()?;
        // SAFETY: the layout has a non-zero size.
        NonNull::new(unsafe { alloc(layout) })
    }

    pub fn protect_none(_page: *mut u8, _len: usize) -> bool {
        false
    }

    pub fn release(base: NonNull<u8>, len: usize) {
        if let Ok(layout) = Layout::from_size_align(len, 4096) {
            // SAFETY: allocated by `reserve` with this layout.
            unsafe { dealloc(base.as_ptr(), layout) };
        }
    }
}
