//! Front end: turns the Python source of a `@triton.jit` function, specialised
//! on its arguments, into block IR. Parsing is ruff's; the rest (constexpr
//! evaluation, Triton's promotion and broadcasting rules, inlining of jit
//! callees) is here.
//!
//! Architecture invariant: no Python objects cross into this crate; the Python
//! side describes globals and arguments as plain data ([`GlobalValue`],
//! [`ParamSpec`]).

mod atomics;
mod calls;
mod builtins;
mod constexpr;
mod descriptor;
mod dtype_attrs;
mod dot;
mod dot_scaled;
mod memory;
mod shapes;
mod static_loop;
mod values;
pub use builtins::LANGUAGE as LANGUAGE_FUNCTIONS;
pub use libdevice::NAMES as LIBDEVICE_FUNCTIONS;
mod control;
pub mod diag;
mod libdevice;
mod lower;
mod random;
mod reduce;
mod semantic;
pub mod value;

pub use diag::Diagnostic;
pub use lower::{kernel_params, lower_kernel, lower_kernel_with, ParamInfo, ParamSpec};
pub use semantic::{computation_type, integer_promote};
pub use value::{ConstValue, GlobalValue, KernelSource, Module, Namespace};
