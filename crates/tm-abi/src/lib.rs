//! The launch ABI: how a compiled kernel's arguments reach the device. One
//! definition, used by the MSL lowering (which emits the kernel signature and
//! the argument struct), by the Metal runtime and by the CPU executor, so that
//! what Linux tests is what the Mac runs.
//!
//! Every kernel has this MSL signature (`NAME` is [`KernelAbi::kernel_name`]):
//!
//! ```text
//! kernel void NAME(
//!     device T0* p0 [[buffer(0)]], ...                  // one per pointer parameter, in order
//!     constant NAME_args& args [[buffer(B)]],           // iff there are scalar parameters
//!     threadgroup uchar* tm_smem [[threadgroup(0)]],    // iff threadgroup_bytes > 0
//!     uint3 tm_pid [[threadgroup_position_in_grid]],
//!     uint3 tm_nprog [[threadgroups_per_grid]],
//!     uint tm_tid [[thread_index_in_threadgroup]],
//!     uint tm_lane [[thread_index_in_simdgroup]],
//!     uint tm_sg [[simdgroup_index_in_threadgroup]])
//! ```
//!
//! Scalars are packed into one `constant` struct because Metal has 31 buffer
//! slots and `setBytes` takes at most 4 KiB.

use tm_ir::DType;

mod device;
pub mod entry;
mod launch;

pub use device::{chip_generation, msl_version_for_macos, DeviceInfo, MemoryStats};
pub use launch::{plan_bindings, Binding, BindingPlan, BufferArg, CheckedLaunch, HostBuffer, HostRange};

/// Metal's buffer argument table has 31 entries.
pub const MAX_BUFFER_SLOTS: usize = 31;
/// No array lives in the first page of the address space (unmapped on every OS we run on):
/// a host pointer below it, with memory behind it, is a null or bogus pointer.
pub const MIN_HOST_ADDRESS: usize = 4096;
/// `setBytes` accepts at most 4 KiB.
pub const MAX_SCALAR_BYTES: u32 = 4096;
/// Every Apple GPU allows 1024 threads and 32 KiB of threadgroup memory per threadgroup.
pub const MAX_THREADS_PER_THREADGROUP: u32 = 1024;
pub const MAX_THREADGROUP_BYTES: u32 = 32 * 1024;
/// triton_metal's budget for the per-thread arrays of one kernel ([`KernelAbi::thread_private_bytes`]):
/// 512 KiB, 128 Ki 32-bit values per thread. Far beyond the register file of any Apple GPU
/// (a kernel near it spills nearly everything and crawls); more is refused at compile time
/// (use more warps or smaller blocks).
pub const MAX_THREAD_PRIVATE_BYTES: u64 = 512 * 1024;
/// simdgroup width on every Apple GPU (M1 to M4).
pub const SIMD_WIDTH: u32 = 32;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BufferParam {
    /// The Python parameter name.
    pub name: String,
    /// Element type the kernel addresses the buffer with.
    pub dtype: DType,
    /// Whether the kernel may read through it (a load or atomic through this argument, or
    /// through a pointer whose argument is not known).
    pub read: bool,
    /// Whether the kernel may write through it (a store or atomic through this argument, or
    /// through a pointer whose argument is not known). Read-only buffers can be inputs of
    /// frameworks whose kernels take them `const` (MLX). A read-only array passed for a
    /// written buffer is refused before launch (`check_launch`).
    pub written: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScalarParam {
    pub name: String,
    pub dtype: DType,
    /// Byte offset inside the argument struct.
    pub offset: u32,
}

/// Where each runtime (non-constexpr) parameter of the Python signature goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamSlot {
    /// Index into [`KernelAbi::buffers`] (= Metal buffer slot).
    Buffer(usize),
    /// Index into [`KernelAbi::scalars`].
    Scalar(usize),
    /// Specialised away (an integer equal to 1, or `None`): not passed.
    Elided,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KernelAbi {
    /// The MSL function name.
    pub kernel_name: String,
    /// Pointer parameters, slot `i` is `[[buffer(i)]]`.
    pub buffers: Vec<BufferParam>,
    /// Scalar parameters packed into `NAME_args` at slot `buffers.len()`.
    pub scalars: Vec<ScalarParam>,
    /// `sizeof(NAME_args)`, 0 when there are no scalars.
    pub args_size: u32,
    /// For each runtime parameter of the Python signature, in order.
    pub params: Vec<ParamSlot>,
    pub threads_per_threadgroup: u32,
    pub threadgroup_bytes: u32,
    /// True when the kernel uses barriers or simdgroup functions, i.e. its
    /// threads must run concurrently (the CPU executor's fast path needs false).
    pub uses_sync: bool,
    /// Bytes of per-thread arrays the kernel declares (an upper bound on what each thread
    /// keeps in registers or on its stack); the CPU executor sizes its fiber stacks from it.
    /// At most [`MAX_THREAD_PRIVATE_BYTES`]. 0 from [`KernelAbi::new`]; set by the lowering.
    pub thread_private_bytes: u64,
}

/// The MSL spelling of a scalar type in memory, or `None` where Metal has none (fp64).
pub fn msl_type_name(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::I1 => "bool",
        DType::I8 => "char",
        DType::I16 => "short",
        DType::I32 => "int",
        DType::I64 => "long",
        DType::U8 => "uchar",
        DType::U16 => "ushort",
        DType::U32 => "uint",
        DType::U64 => "ulong",
        DType::F16 => "half",
        DType::BF16 => "bfloat",
        DType::F32 => "float",
        DType::F64 => return None,
        // float8 values are their 8-bit codes; conversions are software (tm-msl).
        DType::F8E4NV | DType::F8E5 | DType::F8E4B15 | DType::F8E4B8 | DType::F8E5B16 => "uchar",
    })
}

/// A scalar argument as it arrives from the host.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScalarValue {
    Int(i128),
    Float(f64),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AbiError {
    #[error("kernel has {0} pointer arguments; Metal allows at most {MAX_BUFFER_SLOTS} buffers (one slot is kept for scalars)")]
    TooManyBuffers(usize),
    #[error("scalar arguments take {0} bytes; Metal's setBytes allows at most {MAX_SCALAR_BYTES}")]
    ScalarsTooLarge(u32),
    #[error("scalar argument '{name}' of type {dtype} cannot hold the value {value}")]
    ScalarOutOfRange { name: String, dtype: DType, value: String },
    #[error("expected {expected} scalar arguments, got {got}")]
    ScalarCount { expected: usize, got: usize },
    #[error("type {0} has no Metal equivalent")]
    NoMetalType(DType),
    #[error("expected {expected} pointer arguments, got {got}")]
    BufferCount { expected: usize, got: usize },
    #[error("pointer argument '{name}' does not point into the memory it was given with")]
    BadRange { name: String },
    #[error("pointer argument '{name}' has address {addr:#x} with {len} bytes of memory, which no array can have (a null or bogus pointer)")]
    BadAddress { name: String, addr: usize, len: usize },
    #[error("pointer argument '{name}' is a read-only array, but the kernel stores to it or updates it atomically; pass a writable array (for numpy: a copy, or `arr.setflags(write=True)` when the memory may be written)")]
    ReadOnly { name: String },
}

impl KernelAbi {
    /// Lays out the argument struct with C rules (each field aligned to its
    /// size), which is what both Metal and clang do for these scalar types.
    pub fn new(
        kernel_name: String,
        buffers: Vec<BufferParam>,
        scalars: Vec<(String, DType)>,
        params: Vec<ParamSlot>,
        threads_per_threadgroup: u32,
        threadgroup_bytes: u32,
        uses_sync: bool,
    ) -> Result<KernelAbi, AbiError> {
        let slots_needed = buffers.len() + usize::from(!scalars.is_empty());
        if slots_needed > MAX_BUFFER_SLOTS {
            return Err(AbiError::TooManyBuffers(buffers.len()));
        }
        let mut offset = 0u32;
        let mut max_align = 1u32;
        let mut laid = Vec::with_capacity(scalars.len());
        for (name, dtype) in scalars {
            msl_type_name(dtype).ok_or(AbiError::NoMetalType(dtype))?;
            let size = dtype.size_bytes();
            max_align = max_align.max(size);
            offset = offset.next_multiple_of(size);
            laid.push(ScalarParam { name, dtype, offset });
            offset += size;
        }
        let args_size = if laid.is_empty() { 0 } else { offset.next_multiple_of(max_align) };
        if args_size > MAX_SCALAR_BYTES {
            return Err(AbiError::ScalarsTooLarge(args_size));
        }
        Ok(KernelAbi {
            kernel_name,
            buffers,
            scalars: laid,
            args_size,
            params,
            threads_per_threadgroup,
            threadgroup_bytes,
            uses_sync,
            thread_private_bytes: 0,
        })
    }

    pub fn args_struct_name(&self) -> String {
        format!("{}_args", self.kernel_name)
    }

    /// Writes the scalar values (in [`KernelAbi::scalars`] order) into `out`,
    /// which is resized to [`KernelAbi::args_size`].
    pub fn pack_scalars(&self, values: &[ScalarValue], out: &mut Vec<u8>) -> Result<(), AbiError> {
        if values.len() != self.scalars.len() {
            return Err(AbiError::ScalarCount { expected: self.scalars.len(), got: values.len() });
        }
        out.clear();
        out.resize(self.args_size as usize, 0);
        for (p, v) in self.scalars.iter().zip(values) {
            let at = p.offset as usize;
            let bytes = encode_scalar(p, *v)?;
            out[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        Ok(())
    }
}

fn encode_scalar(p: &ScalarParam, v: ScalarValue) -> Result<Vec<u8>, AbiError> {
    let out_of_range = || AbiError::ScalarOutOfRange {
        name: p.name.clone(),
        dtype: p.dtype,
        value: match v {
            ScalarValue::Int(i) => i.to_string(),
            ScalarValue::Float(f) => f.to_string(),
        },
    };
    let d = p.dtype;
    if d.is_float() {
        let f = match v {
            ScalarValue::Int(i) => i as f64,
            ScalarValue::Float(f) => f,
        };
        return Ok(match d {
            DType::F32 => (f as f32).to_le_bytes().to_vec(),
            DType::F16 => f32_to_f16_bits(f as f32).to_le_bytes().to_vec(),
            DType::BF16 => f32_to_bf16_bits(f as f32).to_le_bytes().to_vec(),
            _ => return Err(AbiError::NoMetalType(d)),
        });
    }
    let ScalarValue::Int(i) = v else { return Err(out_of_range()) };
    let (lo, hi): (i128, i128) = match d {
        DType::I1 => (0, 1),
        DType::I8 => (i8::MIN.into(), i8::MAX.into()),
        DType::I16 => (i16::MIN.into(), i16::MAX.into()),
        DType::I32 => (i32::MIN.into(), i32::MAX.into()),
        DType::I64 => (i64::MIN.into(), i64::MAX.into()),
        DType::U8 => (0, u8::MAX.into()),
        DType::U16 => (0, u16::MAX.into()),
        DType::U32 => (0, u32::MAX.into()),
        DType::U64 => (0, u64::MAX.into()),
        _ => unreachable!("floats handled above"),
    };
    if i < lo || i > hi {
        return Err(out_of_range());
    }
    let le = (i as u128).to_le_bytes();
    Ok(le[..d.size_bytes() as usize].to_vec())
}

/// IEEE binary16 from binary32, round to nearest even.
pub fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1 << shift) - 1);
        let mut h = m >> shift;
        if rest > half || (rest == half && (h & 1) == 1) {
            h += 1;
        }
        return sign | h as u16;
    }
    let mut h = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) {
        h += 1;
    }
    sign | h as u16
}

/// bfloat16 from binary32, round to nearest even (NaN stays NaN).
pub fn f32_to_bf16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    if x.is_nan() {
        return ((b >> 16) | 0x40) as u16;
    }
    let round = 0x7fff + ((b >> 16) & 1);
    (b.wrapping_add(round) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn abi(scalars: Vec<(&str, DType)>) -> KernelAbi {
        KernelAbi::new(
            "k".into(),
            vec![],
            scalars.into_iter().map(|(n, d)| (n.to_string(), d)).collect(),
            vec![],
            128,
            0,
            false,
        )
        .unwrap()
    }

    #[test]
    fn struct_layout_follows_c_alignment() {
        let a = abi(vec![("a", DType::I1), ("b", DType::I64), ("c", DType::F32), ("d", DType::F16)]);
        let offs: Vec<u32> = a.scalars.iter().map(|s| s.offset).collect();
        assert_eq!(offs, vec![0, 8, 16, 20]);
        assert_eq!(a.args_size, 24);
    }

    #[test]
    fn packing_writes_little_endian_values() {
        let a = abi(vec![("n", DType::I32), ("x", DType::F32)]);
        let mut out = vec![];
        a.pack_scalars(&[ScalarValue::Int(-2), ScalarValue::Float(1.5)], &mut out).unwrap();
        assert_eq!(&out[..4], &(-2i32).to_le_bytes());
        assert_eq!(&out[4..], &1.5f32.to_le_bytes());
    }

    #[test]
    fn out_of_range_scalar_is_refused() {
        let a = abi(vec![("n", DType::I32)]);
        let err = a.pack_scalars(&[ScalarValue::Int(1 << 40)], &mut vec![]).unwrap_err();
        assert!(matches!(err, AbiError::ScalarOutOfRange { .. }));
    }

    #[test]
    fn buffer_slots_are_limited() {
        let bufs = (0..31).map(|i| BufferParam { name: format!("p{i}"), dtype: DType::F32, read: true, written: true }).collect();
        let err = KernelAbi::new("k".into(), bufs, vec![("n".into(), DType::I32)], vec![], 32, 0, false);
        assert_eq!(err.unwrap_err(), AbiError::TooManyBuffers(31));
    }

    #[test]
    fn half_conversions() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
        assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(1e6), 0x7c00);
        assert_eq!(f32_to_f16_bits(5.960_464_5e-8), 0x0001);
        assert_eq!(f32_to_bf16_bits(1.0), 0x3f80);
    }
}
