//! Passes and analyses over the block IR. One pass per file in `passes/`, one
//! analysis per file in `analysis/`. Passes rewrite a [`tm_ir::Func`] in place;
//! analyses return side tables indexed by value.
//!
//! Architecture invariant: nothing here knows about Metal or the launch ABI.

pub mod analysis;
pub mod passes;

pub use analysis::axis_info::{analyze_axis_info, AxisInfo};

/// The default pipeline, in order, with each pass's name (for dumps and timing).
pub fn run_default_pipeline(f: &mut tm_ir::Func, mut after_pass: impl FnMut(&str, &tm_ir::Func)) {
    // Only kernels computing on float8 values have this stage (in dumps too).
    if passes::widen_fp8::run(f) {
        after_pass("widen-fp8", f);
    }
    passes::fold::run(f);
    after_pass("fold", f);
    passes::cse::run(f);
    after_pass("cse", f);
    passes::combine_dot::run(f);
    after_pass("combine-dot", f);
    passes::dce::run(f);
    after_pass("dce", f);
}
