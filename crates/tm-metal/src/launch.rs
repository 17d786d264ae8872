//! Binding and dispatch of one launch: buffers as [`tm_abi::plan_bindings`] says, the scalar
//! struct with `setBytes`, threadgroup memory, `grid` threadgroups; then the wait, the
//! GPU's verdict and the copies back into host memory.
//!
//! Batches ([`batch_begin`], [`batch_end`]): while one is open on a thread, that thread's
//! launches whose memory Metal can use in place (page-aligned host memory, Metal buffers) are
//! encoded into one command buffer, in one serial compute encoder (Metal runs a serial
//! encoder's dispatches in order, each seeing the previous ones' stores), and committed and
//! waited for once, at the end of the batch. A launch that needs a staging copy ends the
//! batch first and runs by itself, so copies never see stale memory.

use std::cell::RefCell;
use std::ffi::c_void;
use std::ptr::NonNull;

use objc2::rc::{autoreleasepool, Retained};
use objc2::runtime::ProtocolObject;
use objc2_metal::{
    MTLBuffer, MTLCommandBuffer, MTLCommandBufferStatus, MTLCommandEncoder, MTLCommandQueue, MTLComputeCommandEncoder,
    MTLDevice, MTLResource, MTLResourceOptions, MTLSize,
};
use tm_abi::{plan_bindings, Binding, BufferArg, CheckedLaunch, HostBuffer};

use crate::{device, Allocation, Device, MetalError, Pipeline};

type Buffer = Retained<ProtocolObject<dyn MTLBuffer>>;

/// The open batch of this thread: its command buffer and encoder, the buffers it uses (kept
/// alive until it completes) and its kernels' names (for errors).
struct Batch {
    depth: u32,
    open: Option<OpenBatch>,
}

struct OpenBatch {
    commands: Retained<ProtocolObject<dyn MTLCommandBuffer>>,
    encoder: Retained<ProtocolObject<dyn MTLComputeCommandEncoder>>,
    keep: Vec<Buffer>,
    kernels: Vec<String>,
}

thread_local! {
    static BATCH: RefCell<Batch> = const { RefCell::new(Batch { depth: 0, open: None }) };
}

/// Starts (or nests in) a batch on this thread: later launches of this thread may be queued
/// and are complete, their stores in host memory, when the outermost [`batch_end`] returns.
pub fn batch_begin() {
    BATCH.with(|b| b.borrow_mut().depth += 1);
}

/// Ends a batch; the outermost end commits the queued launches and waits for them. The error
/// of a failed kernel is returned here. Without an open batch it does nothing.
pub fn batch_end() -> Result<(), MetalError> {
    let last = BATCH.with(|b| {
        let mut b = b.borrow_mut();
        b.depth = b.depth.saturating_sub(1);
        b.depth == 0
    });
    if last {
        batch_flush()
    } else {
        Ok(())
    }
}

/// Commits and waits for this thread's queued launches, if any; the batch stays open.
pub fn batch_flush() -> Result<(), MetalError> {
    let Some(open) = BATCH.with(|b| b.borrow_mut().open.take()) else {
        return Ok(());
    };
    autoreleasepool(|_| {
        open.encoder.endEncoding();
        open.commands.commit();
        open.commands.waitUntilCompleted();
        let names = open.kernels.join(", ");
        drop(open.keep);
        completed(&open.commands, &names)
    })
}

/// The GPU's verdict on a finished command buffer.
fn completed(commands: &ProtocolObject<dyn MTLCommandBuffer>, kernel: &str) -> Result<(), MetalError> {
    if commands.status() == MTLCommandBufferStatus::Completed {
        return Ok(());
    }
    let message = commands
        .error()
        .map(|e| e.localizedDescription().to_string())
        .unwrap_or_else(|| format!("command buffer status {:?}", commands.status()));
    Err(MetalError::Execution {
        kernel: kernel.to_string(),
        message,
    })
}

/// A buffer standing for host memory; `staged` when it holds a copy.
struct HostBinding {
    buffer: Buffer,
    staged: Option<Allocation>,
}

impl Pipeline {
    /// Runs the launch and waits for it; on return the kernel's stores are in the caller's
    /// memory. GPU errors (faults, timeouts) are returned, not raised later. Inside a batch
    /// ([`batch_begin`]) a launch on memory Metal uses in place is only queued: it completes,
    /// and its errors are returned, at [`batch_end`] (or [`batch_flush`]).
    ///
    /// # Safety
    /// Every [`BufferArg::Host`] range must be valid for reads and writes for the whole call
    /// (inside a batch: until the batch is flushed) and hold everything the kernel touches;
    /// every [`BufferArg::Metal`] must be a live `id<MTLBuffer>` whose memory nothing else
    /// uses during the call.
    pub unsafe fn launch(&self, launch: &CheckedLaunch<'_>) -> Result<(), MetalError> {
        if launch.is_empty() {
            return Ok(());
        }
        let dev = device()?;
        // SAFETY: the caller's contract is this function's.
        autoreleasepool(|_| unsafe { self.run(dev, launch) })
    }

    unsafe fn run(&self, dev: &Device, launch: &CheckedLaunch<'_>) -> Result<(), MetalError> {
        let fail = |message: String| MetalError::Arguments {
            kernel: self.kernel.clone(),
            message,
        };
        let no_memory = |bytes: usize| MetalError::Resources {
            kernel: self.kernel.clone(),
            message: format!("Metal cannot allocate a buffer of {bytes} bytes"),
        };
        let plan = plan_bindings(launch.buffers, dev.page);
        let host = plan
            .host
            .iter()
            // SAFETY: each range lies in caller memory valid for the call.
            .map(|h| unsafe { bind_host(dev, h) }.ok_or_else(|| no_memory(h.len_from_base())))
            .collect::<Result<Vec<_>, _>>()?;
        // Empty arrays get a small buffer of their own (the kernel may not touch it).
        let empty: Option<Buffer> = match plan.slots.contains(&Binding::Empty) {
            true => Some(
                dev.device
                    .newBufferWithLength_options(16, MTLResourceOptions::StorageModeShared)
                    .ok_or_else(|| no_memory(16))?,
            ),
            false => None,
        };
        let mut slots: Vec<(&ProtocolObject<dyn MTLBuffer>, usize)> = Vec::with_capacity(plan.slots.len());
        for (slot, (binding, arg)) in plan.slots.iter().zip(launch.buffers).enumerate() {
            slots.push(match *binding {
                Binding::Host { buffer, offset } => (&*host[buffer].buffer, offset),
                Binding::Metal { buffer, offset } => {
                    // SAFETY: the caller guarantees a live id<MTLBuffer>.
                    let b = unsafe { &*(buffer as *const ProtocolObject<dyn MTLBuffer>) };
                    let BufferArg::Metal { len, .. } = *arg else {
                        unreachable!("plan follows the arguments")
                    };
                    if !std::ptr::eq(Retained::as_ptr(&b.device()), Retained::as_ptr(&dev.device)) {
                        return Err(fail(format!(
                            "pointer argument {slot} is a Metal buffer of another GPU"
                        )));
                    }
                    match offset.checked_add(len) {
                        Some(end) if end <= b.length() => {}
                        _ => {
                            return Err(fail(format!(
                                "pointer argument {slot} reaches past the end of its Metal buffer"
                            )))
                        }
                    }
                    (b, offset)
                }
                Binding::Empty => (empty.as_deref().expect("allocated above"), 0),
            });
        }
        let no_queue = || MetalError::Execution {
            kernel: self.kernel.clone(),
            message: "cannot create a command buffer".into(),
        };
        let batched = BATCH.with(|b| b.borrow().depth > 0);
        let in_place = host.iter().all(|h| h.staged.is_none())
            && !plan.slots.iter().any(|s| matches!(s, Binding::Metal { .. }));
        if batched && in_place {
            // Queued in this thread's batch, completed by batch_end.
            let mut open = match BATCH.with(|b| b.borrow_mut().open.take()) {
                Some(open) => open,
                None => {
                    let commands = dev.queue.commandBuffer().ok_or_else(no_queue)?;
                    let encoder = commands.computeCommandEncoder().ok_or_else(no_queue)?;
                    OpenBatch {
                        commands,
                        encoder,
                        keep: vec![],
                        kernels: vec![],
                    }
                }
            };
            // SAFETY: as `encode`'s; the buffers stay alive in `keep` until the batch completes.
            unsafe { self.encode(&open.encoder, &slots, launch) };
            open.keep.extend(host.into_iter().map(|h| h.buffer));
            open.keep.extend(empty);
            if !open.kernels.contains(&self.kernel) {
                open.kernels.push(self.kernel.clone());
            }
            BATCH.with(|b| b.borrow_mut().open = Some(open));
            return Ok(());
        }
        if batched {
            // This launch uses a copy of host memory (or a caller's Metal buffer, which is only
            // guaranteed alive for the call): everything queued runs first, then this one alone.
            batch_flush()?;
        }
        let commands = dev.queue.commandBuffer().ok_or_else(no_queue)?;
        let encoder = commands.computeCommandEncoder().ok_or_else(no_queue)?;
        // SAFETY: as `encode`'s; the buffers live until the wait below.
        unsafe { self.encode(&encoder, &slots, launch) };
        encoder.endEncoding();
        commands.commit();
        commands.waitUntilCompleted();
        completed(&commands, &self.kernel)?;
        for (h, b) in plan.host.iter().zip(&host) {
            if b.staged.is_some() && h.writable {
                let from = b.buffer.contents().as_ptr().cast::<u8>();
                // SAFETY: the copy made by bind_host, back to where it came from.
                unsafe {
                    std::ptr::copy_nonoverlapping(from.add(h.start - h.base()), h.start as *mut u8, h.end - h.start)
                };
            }
        }
        Ok(())
    }

    /// Encodes the dispatch: pipeline, buffers `slots` at their offsets, the scalar struct,
    /// threadgroup memory, `grid` threadgroups.
    ///
    /// # Safety
    /// Every buffer in `slots` must stay alive until the command buffer completes, with the
    /// offsets inside them (checked by `run`).
    unsafe fn encode(
        &self,
        encoder: &ProtocolObject<dyn MTLComputeCommandEncoder>,
        slots: &[(&ProtocolObject<dyn MTLBuffer>, usize)],
        launch: &CheckedLaunch<'_>,
    ) {
        encoder.setComputePipelineState(&self.state);
        for (index, (buffer, offset)) in slots.iter().enumerate() {
            // SAFETY: index < 31 (checked by the ABI); offset is inside the buffer.
            unsafe { encoder.setBuffer_offset_atIndex(Some(buffer), *offset, index) };
        }
        if !launch.args.is_empty() {
            let bytes = NonNull::new(launch.args.as_ptr() as *mut c_void).expect("a Vec's pointer is not null");
            // SAFETY: at most 4 KiB (checked by the ABI), at slot B as the kernel signature says.
            unsafe { encoder.setBytes_length_atIndex(bytes, launch.args.len(), slots.len()) };
        }
        if self.threadgroup_bytes > 0 {
            // SAFETY: index 0 is `tm_smem`; the length was checked against the device.
            unsafe { encoder.setThreadgroupMemoryLength_atIndex(self.threadgroup_bytes, 0) };
        }
        let [x, y, z] = launch.grid.map(|g| g as usize);
        encoder.dispatchThreadgroups_threadsPerThreadgroup(
            MTLSize {
                width: x,
                height: y,
                depth: z,
            },
            MTLSize {
                width: self.threads as usize,
                height: 1,
                depth: 1,
            },
        );
    }
}

/// A buffer over host memory: the memory itself when it starts on a page boundary and Metal
/// accepts it, otherwise a new buffer holding a copy (at the same address modulo 16).
/// `None` when Metal cannot allocate the copy.
///
/// # Safety
/// `[h.start, h.end)` must be valid for reads for the call.
unsafe fn bind_host(dev: &Device, h: &HostBuffer) -> Option<HostBinding> {
    if h.page_aligned {
        let start = NonNull::new(h.start as *mut c_void)?;
        // SAFETY: start is page-aligned and the pages up to wrap_len hold the array's bytes, so
        // they are mapped; the buffer is dropped (no deallocator) before the caller's array.
        let wrapped = unsafe {
            dev.device.newBufferWithBytesNoCopy_length_options_deallocator(
                start,
                h.wrap_len(dev.page),
                MTLResourceOptions::StorageModeShared,
                None,
            )
        };
        if let Some(buffer) = wrapped {
            return Some(HostBinding { buffer, staged: None });
        }
    }
    let len = h.len_from_base();
    let buffer = dev
        .device
        .newBufferWithLength_options(len, MTLResourceOptions::StorageModeShared)?;
    let to = buffer.contents().as_ptr().cast::<u8>();
    // SAFETY: the buffer has len bytes and start - base + (end - start) == len.
    unsafe { std::ptr::copy_nonoverlapping(h.start as *const u8, to.add(h.start - h.base()), h.end - h.start) };
    Some(HostBinding {
        buffer,
        staged: Some(Allocation::new(len)),
    })
}
