//! Fiber stack overflows become launch errors instead of crashes. Every fiber stack of a
//! kernel with large per-thread arrays has an inaccessible guard page below it (see
//! `arena.rs`). A SIGSEGV handler (Linux) recognises a fault inside a guard page of the
//! faulting thread's own arena and jumps back (`siglongjmp`) into the kernel library's
//! `run_launch`, which reports the overflow as the launch's error. Any other fault goes to the
//! handler installed before ours (Python's faulthandler, or the default action).
//!
//! The handler runs on an alternate signal stack (the overflowed stack has no room), which
//! each worker thread gets for the launch if it has none ([`AltStack`]).

use std::ffi::c_void;

/// The guard pages of one worker's arena: stack `i` spans `[lo + i * stride, lo + (i + 1) *
/// stride)` and its lowest `guard` bytes are the guard. `jmp` is where the kernel library
/// stores its jump buffer (null outside a launch).
#[repr(C)]
pub(crate) struct Region {
    pub lo: usize,
    pub hi: usize,
    pub stride: usize,
    pub guard: usize,
    pub jmp: *mut *mut c_void,
}

#[cfg(target_os = "linux")]
mod imp {
    use super::Region;
    use std::cell::Cell;
    use std::ffi::c_void;
    use std::sync::Mutex;

    thread_local! {
        // Const-initialised, no destructor: read from the signal handler without allocating.
        static ACTIVE: Cell<*const Region> = const { Cell::new(std::ptr::null()) };
    }

    /// The handler that was installed before ours (called for faults that are not ours).
    static mut PREVIOUS: Option<libc::sigaction> = None;
    static INSTALL: Mutex<()> = Mutex::new(());

    extern "C" {
        fn siglongjmp(env: *mut c_void, val: libc::c_int) -> !;
    }

    unsafe extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
        // SAFETY: the kernel passes a valid siginfo for SIGSEGV.
        let addr = unsafe { (*info).si_addr() } as usize;
        let region = ACTIVE.with(Cell::get);
        if !region.is_null() {
            // SAFETY: set by `Active` for the duration of a launch on this thread.
            let r = unsafe { &*region };
            if addr >= r.lo && addr < r.hi && (addr - r.lo) % r.stride < r.guard {
                // SAFETY: `jmp` points to the worker's slot; the library fills it before
                // running fibers and clears it before `run_launch` returns.
                let env = unsafe { *r.jmp };
                if !env.is_null() {
                    // SAFETY: the buffer was filled by sigsetjmp in a frame that is still
                    // live (run_launch, below the fibers on this thread's own stack).
                    unsafe { siglongjmp(env, 1) };
                }
            }
        }
        // SAFETY: PREVIOUS is written under INSTALL before our handler is installed.
        let prev = unsafe { (*std::ptr::addr_of!(PREVIOUS)).as_ref() };
        match prev {
            Some(p) if p.sa_sigaction == libc::SIG_IGN => {}
            Some(p) if p.sa_sigaction != libc::SIG_DFL => {
                if p.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                        // SAFETY: an SA_SIGINFO handler has this signature.
                        unsafe { std::mem::transmute(p.sa_sigaction) };
                    // SAFETY: forwarding the signal as the kernel delivered it.
                    unsafe { f(sig, info, ctx) };
                } else {
                    // SAFETY: a plain handler takes the signal number.
                    let f: unsafe extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
                    unsafe { f(sig) };
                }
            }
            _ => {
                // The default action: restore it and return; the fault repeats and kills the
                // process as it would have without us.
                // SAFETY: a zeroed sigaction with SIG_DFL is valid.
                unsafe {
                    let mut dfl: libc::sigaction = std::mem::zeroed();
                    dfl.sa_sigaction = libc::SIG_DFL;
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
                }
            }
        }
    }

    /// Makes sure our handler is the current SIGSEGV handler (someone may have replaced it
    /// since: it is then chained to).
    pub(crate) fn install() {
        let _g = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: querying and setting a signal action with valid structs.
        unsafe {
            let mut cur: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGSEGV, std::ptr::null(), &mut cur);
            if cur.sa_sigaction == handler as *const () as usize {
                return;
            }
            *std::ptr::addr_of_mut!(PREVIOUS) = Some(cur);
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = handler as *const () as usize;
            ours.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut ours.sa_mask);
            libc::sigaction(libc::SIGSEGV, &ours, std::ptr::null_mut());
        }
    }

    /// While alive, faults in `region`'s guard pages on this thread are launch errors.
    pub(crate) struct Active(());

    impl Active {
        pub(crate) fn new(region: &Region) -> Active {
            ACTIVE.with(|a| a.set(region));
            Active(())
        }
    }

    impl Drop for Active {
        fn drop(&mut self) {
            ACTIVE.with(|a| a.set(std::ptr::null()));
        }
    }

    /// An alternate signal stack for this thread, for as long as it lives, unless the thread
    /// has one already.
    pub(crate) struct AltStack {
        mem: *mut c_void,
        len: usize,
    }

    impl AltStack {
        pub(crate) fn ensure() -> Option<AltStack> {
            // SAFETY: sigaltstack/mmap with valid arguments.
            unsafe {
                let mut old: libc::stack_t = std::mem::zeroed();
                if libc::sigaltstack(std::ptr::null(), &mut old) != 0 || old.ss_flags & libc::SS_DISABLE == 0 {
                    return None;
                }
                let len = 64 * 1024;
                let mem = libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                );
                if mem == libc::MAP_FAILED {
                    return None;
                }
                let st = libc::stack_t { ss_sp: mem, ss_flags: 0, ss_size: len };
                if libc::sigaltstack(&st, std::ptr::null_mut()) != 0 {
                    libc::munmap(mem, len);
                    return None;
                }
                Some(AltStack { mem, len })
            }
        }
    }

    impl Drop for AltStack {
        fn drop(&mut self) {
            // SAFETY: disables the stack installed by `ensure` on this thread, then frees it.
            unsafe {
                let st = libc::stack_t { ss_sp: std::ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
                libc::sigaltstack(&st, std::ptr::null_mut());
                libc::munmap(self.mem, self.len);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::Region;

    /// Elsewhere a guard page hit stays a crash (at a clear place, not a corrupted neighbour).
    pub(crate) fn install() {}

    pub(crate) struct Active(());

    impl Active {
        pub(crate) fn new(_region: &Region) -> Active {
            Active(())
        }
    }

    pub(crate) struct AltStack;

    impl AltStack {
        pub(crate) fn ensure() -> Option<AltStack> {
            None
        }
    }
}

pub(crate) use imp::{install, Active, AltStack};

/// Whether overflows are caught ([`install`] does something) on this platform.
pub(crate) const CATCHES_OVERFLOW: bool = cfg!(target_os = "linux");
