//! Kernel entry points other than the standard one: the signatures the framework variants
//! (`tm_msl::variants`) give a kernel so that PyTorch's `torch.mps.compile_shader` and MLX's
//! `mx.fast.metal_kernel` can launch it, described as data so that the CPU executor can run
//! any of them (`tm_cpu::compile_entry`) and the Python side knows what to pass.
//!
//! Those APIs bind each argument to its own buffer slot (`setBuffer` for arrays, `setBytes`
//! for each scalar) and never call `setThreadgroupMemoryLength`, so such an entry takes its
//! scalars one by one and declares its threadgroup memory itself.

use tm_ir::DType;

/// A value Metal gives a kernel through a parameter attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `uint3 [[threadgroup_position_in_grid]]` (`tm_pid`).
    ThreadgroupPositionInGrid,
    /// `uint3 [[threadgroups_per_grid]]` (`tm_nprog`).
    ThreadgroupsPerGrid,
    /// `uint [[thread_index_in_threadgroup]]` (`tm_tid`).
    ThreadIndexInThreadgroup,
    /// `uint [[thread_index_in_simdgroup]]` (`tm_lane`).
    ThreadIndexInSimdgroup,
    /// `uint [[simdgroup_index_in_threadgroup]]` (`tm_sg`).
    SimdgroupIndexInThreadgroup,
}

impl Builtin {
    /// The builtins every generated kernel takes, in the order of its standard signature,
    /// with the parameter names the kernel body uses.
    pub const KERNEL: [(Builtin, &'static str); 5] = [
        (Builtin::ThreadgroupPositionInGrid, "tm_pid"),
        (Builtin::ThreadgroupsPerGrid, "tm_nprog"),
        (Builtin::ThreadIndexInThreadgroup, "tm_tid"),
        (Builtin::ThreadIndexInSimdgroup, "tm_lane"),
        (Builtin::SimdgroupIndexInThreadgroup, "tm_sg"),
    ];

    /// The MSL attribute (and, in MLX's `metal_kernel`, the variable name).
    pub fn attribute(self) -> &'static str {
        match self {
            Builtin::ThreadgroupPositionInGrid => "threadgroup_position_in_grid",
            Builtin::ThreadgroupsPerGrid => "threadgroups_per_grid",
            Builtin::ThreadIndexInThreadgroup => "thread_index_in_threadgroup",
            Builtin::ThreadIndexInSimdgroup => "thread_index_in_simdgroup",
            Builtin::SimdgroupIndexInThreadgroup => "simdgroup_index_in_threadgroup",
        }
    }

    pub fn msl_type(self) -> &'static str {
        match self {
            Builtin::ThreadgroupPositionInGrid | Builtin::ThreadgroupsPerGrid => "uint3",
            _ => "uint",
        }
    }

    pub fn from_attribute(attr: &str) -> Option<Builtin> {
        Builtin::KERNEL.iter().map(|(b, _)| *b).find(|b| b.attribute() == attr)
    }
}

/// One parameter of an entry point, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EntryParam {
    /// A pointer argument: buffer slot `slot` of the kernel's ABI.
    Buffer { slot: usize },
    /// A scalar passed by itself (`constant T&`), `dtype` as the framework passes it, read
    /// at byte `offset` of the launch's packed scalars.
    Scalar { dtype: DType, offset: u32 },
    Builtin(Builtin),
}

/// How the scalars of a framework entry are packed for the CPU executor: C layout of the
/// framework types, in order (the same rule as [`crate::KernelAbi::new`]).
pub fn pack_layout(dtypes: &[DType]) -> (Vec<u32>, u32) {
    let mut offset = 0u32;
    let mut max_align = 1u32;
    let mut offsets = Vec::with_capacity(dtypes.len());
    for d in dtypes {
        let size = d.size_bytes();
        max_align = max_align.max(size);
        offset = offset.next_multiple_of(size);
        offsets.push(offset);
        offset += size;
    }
    (offsets, if dtypes.is_empty() { 0 } else { offset.next_multiple_of(max_align) })
}

/// The type a scalar of kernel type `d` travels as through PyTorch's `compile_shader`: Python
/// ints as 64-bit integers, floats as 32-bit floats (`MetalKernelFunction::setArg` of an
/// `int64_t` or a `float`), whatever the kernel's own type.
pub fn torch_scalar_type(d: DType) -> DType {
    if d.is_float() {
        DType::F32
    } else {
        DType::I64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_round_trip_through_their_attribute() {
        for (b, _) in Builtin::KERNEL {
            assert_eq!(Builtin::from_attribute(b.attribute()), Some(b));
        }
        assert_eq!(Builtin::from_attribute("thread_position_in_grid"), None);
    }

    #[test]
    fn framework_scalars_pack_with_c_layout() {
        assert_eq!(pack_layout(&[DType::F32, DType::I64, DType::F32]), (vec![0, 8, 16], 24));
        assert_eq!(pack_layout(&[]), (vec![], 0));
        assert_eq!(torch_scalar_type(DType::I32), DType::I64);
        assert_eq!(torch_scalar_type(DType::F16), DType::F32);
    }
}
