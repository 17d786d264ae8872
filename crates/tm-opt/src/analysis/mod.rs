//! Analyses over the block IR.

pub mod axis_info;
