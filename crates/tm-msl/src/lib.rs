//! Lowering of the block IR to Metal Shading Language: one Triton program is one
//! threadgroup of `num_warps * 32` threads; every block value is spread over
//! the threads by a blocked layout ([`layout`]) and held in small per-thread
//! arrays; element-wise ops become loops over those arrays (the Metal compiler
//! unrolls them); loads and stores are vectorised where the axis analysis
//! proves contiguity, alignment and a uniform mask.
//!
//! The output is MSL text plus the launch ABI ([`tm_abi::KernelAbi`]). The same
//! text runs on a Mac (Metal) and on Linux (the CPU executor).
//!
//! Architecture invariant: this crate emits text; it never runs anything.

pub mod dialect;
mod atomics;
mod control;
mod convert;
mod debug;
mod dot;
mod emit;
mod exprs;
mod fp8;
mod memory;
mod order;
mod prefs;
mod reduce;
mod scan;
mod scan_regs;
mod scan_smem;
mod shape;
pub mod layout;
pub mod variants;

pub use emit::lower;

use tm_ir::Loc;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct MslOptions {
    pub num_warps: u32,
}

/// The generated kernel.
#[derive(Clone, Debug)]
pub struct MslKernel {
    pub source: String,
    pub abi: tm_abi::KernelAbi,
    /// For each IR argument (in order): where it is passed.
    pub arg_slots: Vec<tm_abi::ParamSlot>,
    /// Description of the layout of every block value, for dumps (`asm["layout"]`).
    pub layouts: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MslError {
    #[error("{what}")]
    Unsupported { what: String, loc: Loc },
    #[error("{0}")]
    Abi(#[from] tm_abi::AbiError),
    #[error("{0}")]
    Resources(String),
}
