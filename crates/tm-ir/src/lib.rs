//! Block IR of triton-metal: SSA values of scalar and block types, ops that mirror
//! Triton's TTIR (tt, arith, math, scf), structured control flow, and a printer
//! whose output reads like TTIR.
//!
//! Architecture invariant: this crate knows nothing about Python, Metal or the
//! runtime; it is plain data plus a printer.

pub mod dtype;
pub mod func;
pub mod printer;
pub mod types;

pub use dtype::DType;
pub use func::*;
pub use printer::{describe_type, print_func};
pub use types::{Elem, Type};
