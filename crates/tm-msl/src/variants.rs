//! Entry points of a generated kernel for launchers other than triton_metal's own.
//!
//! Every kernel is lowered once; its MSL is `head` (includes, helpers, the scalar struct),
//! the standard entry ([`standard_entry`], the signature `tm_abi` documents) and `body`.
//! The variants reuse `head` and `body` unchanged and differ only in how arguments arrive:
//!
//! - [`torch_variant`]: a kernel for PyTorch's `torch.mps.compile_shader`, whose launcher
//!   binds the call's arguments to buffer slots in order: tensors with `setBuffer`, each
//!   Python int as a 64-bit and each float as a 32-bit `setBytes`; it dispatches with
//!   `dispatchThreads` and never sets threadgroup memory.
//! - [`mlx_variant`]: the `header` and `source` of MLX's `mx.fast.metal_kernel`, which writes
//!   the signature itself: inputs (`const device T*` arrays, `const constant T&` for 0-d
//!   arrays), then outputs (`device T*`), then the attributes the source names.
//!
//! Neither can give a kernel threadgroup memory from outside, so both entries declare it
//! (its size is known at compile time) with `TM_THREADGROUP_STORAGE`, which the CPU
//! executor's header maps to its own per-threadgroup memory; the scalars are gathered back
//! into the kernel's argument struct; then the body runs as the function `NAME_body`. The
//! same text runs on the CPU executor (`tm_cpu::compile_entry`), which is how Linux tests it.

use std::fmt::Write;

use tm_abi::entry::{pack_layout, torch_scalar_type, Builtin, EntryParam};
use tm_abi::{msl_type_name, KernelAbi, ParamSlot, MAX_BUFFER_SLOTS};
use tm_ir::DType;

use crate::dialect::arg_ident;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("kernel '{kernel}': {reason}")]
pub struct VariantError {
    pub kernel: String,
    pub reason: String,
}

/// A kernel for a framework's launcher, and how to call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameworkEntry {
    /// A complete MSL library.
    pub msl: String,
    /// The kernel function's name in it.
    pub entry: String,
    /// The entry's parameters in order; scalars at their offsets in a struct packed with the
    /// framework's types ([`tm_abi::entry::pack_layout`]), which is how the CPU executor gets them.
    pub params: Vec<EntryParam>,
    /// Size of that packed struct.
    pub args_size: u32,
    pub threads_per_threadgroup: u32,
    /// Threadgroup memory the entry declares itself.
    pub threadgroup_bytes: u32,
}

/// What MLX's `mx.fast.metal_kernel(name, input_names, output_names, source, header)` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlxKernel {
    pub header: String,
    pub source: String,
    /// Inputs, in order: read-only pointer arguments (by buffer slot) and scalars (by index).
    pub inputs: Vec<(String, ParamSlot)>,
    /// Outputs, in order: the pointer arguments the kernel may write (by buffer slot).
    pub outputs: Vec<(String, usize)>,
    pub threads_per_threadgroup: u32,
    pub threadgroup_bytes: u32,
}

/// The C identifier of IR argument `index` (as `emit` names it).
fn ident_at(abi: &KernelAbi, slot: ParamSlot, name: &str) -> String {
    let index = abi.params.iter().position(|p| *p == slot).unwrap_or(0);
    arg_ident(name, index)
}

fn buffer_ident(abi: &KernelAbi, slot: usize) -> String {
    ident_at(abi, ParamSlot::Buffer(slot), &abi.buffers[slot].name)
}

fn elem_type(d: DType) -> &'static str {
    msl_type_name(d).unwrap_or("uchar")
}

/// The standard entry: `kernel void NAME(` ... `) {` with the parameters `tm_abi` documents,
/// followed by a newline. The kernel's body follows it.
pub fn standard_entry(abi: &KernelAbi) -> String {
    let mut params = vec![];
    for (i, b) in abi.buffers.iter().enumerate() {
        params.push(format!("    device {}* {} [[buffer({i})]]", elem_type(b.dtype), buffer_ident(abi, i)));
    }
    if !abi.scalars.is_empty() {
        params.push(format!("    constant {}& args [[buffer({})]]", abi.args_struct_name(), abi.buffers.len()));
    }
    if abi.threadgroup_bytes > 0 {
        params.push("    threadgroup uchar* tm_smem [[threadgroup(0)]]".to_string());
    }
    for (b, name) in Builtin::KERNEL {
        params.push(format!("    {} {name} [[{}]]", b.msl_type(), b.attribute()));
    }
    format!("kernel void {}(\n{}) {{\n", abi.kernel_name, params.join(",\n"))
}

/// `(head, body)` of a kernel's standard MSL: the text before its standard entry and the
/// statements inside it.
pub fn split<'a>(msl: &'a str, abi: &KernelAbi) -> Result<(&'a str, &'a str), VariantError> {
    let entry = standard_entry(abi);
    let fail = |reason: &str| VariantError {
        kernel: abi.kernel_name.clone(),
        reason: format!("internal error: {reason} (please report this)"),
    };
    let at = msl.find(&entry).ok_or_else(|| fail("the MSL does not have the entry its ABI describes"))?;
    if msl[at + 1..].contains(&entry) {
        return Err(fail("the MSL has its entry twice"));
    }
    let body = msl[at + entry.len()..]
        .strip_suffix("}\n")
        .ok_or_else(|| fail("the MSL does not end with its entry's closing brace"))?;
    Ok((&msl[..at], body))
}

/// `head`, the body as the function `NAME_body`, and the storage macro for Metal.
fn with_body_function(abi: &KernelAbi, head: &str, body: &str) -> String {
    let mut params = vec![];
    for (i, b) in abi.buffers.iter().enumerate() {
        params.push(format!("device {}* {}", elem_type(b.dtype), buffer_ident(abi, i)));
    }
    if !abi.scalars.is_empty() {
        params.push(format!("thread const {}& args", abi.args_struct_name()));
    }
    if abi.threadgroup_bytes > 0 {
        params.push("threadgroup uchar* tm_smem".to_string());
    }
    for (b, name) in Builtin::KERNEL {
        params.push(format!("{} {name}", b.msl_type()));
    }
    let mut s = String::with_capacity(head.len() + body.len() + 1024);
    s.push_str(head);
    s.push_str(STORAGE_MACRO);
    let _ = writeln!(s, "// The kernel's body, for entries that bind its arguments their own way.");
    let _ = write!(s, "inline void {}_body({}) {{\n{body}}}\n\n", abi.kernel_name, params.join(", "));
    s
}

/// Threadgroup memory an entry declares itself, 16-byte aligned. The CPU executor's header
/// defines the macro first (as its per-threadgroup memory).
const STORAGE_MACRO: &str = "\
#ifndef TM_THREADGROUP_STORAGE
#define TM_THREADGROUP_STORAGE(name, bytes) \\
    threadgroup uint4 name##_storage[((bytes) + 15) / 16]; \\
    threadgroup uchar* name = (threadgroup uchar*)name##_storage
#endif
";

/// The statements of an entry: declare threadgroup memory, rebuild the argument struct from
/// `scalar_names` (converted to the kernel's types), call the body with `buffers` and the
/// builtins named `builtins`.
fn call_body(abi: &KernelAbi, buffers: &[String], scalar_names: &[String], builtins: &[&str]) -> String {
    let mut s = String::new();
    if abi.threadgroup_bytes > 0 {
        let _ = writeln!(s, "    TM_THREADGROUP_STORAGE(tm_smem, {});", abi.threadgroup_bytes);
    }
    let mut call: Vec<String> = buffers.to_vec();
    if !abi.scalars.is_empty() {
        let fields: Vec<String> = abi
            .scalars
            .iter()
            .zip(scalar_names)
            .map(|(p, n)| format!("{}({n})", elem_type(p.dtype)))
            .collect();
        let _ = writeln!(s, "    const {} args = {{{}}};", abi.args_struct_name(), fields.join(", "));
        call.push("args".into());
    }
    if abi.threadgroup_bytes > 0 {
        call.push("tm_smem".into());
    }
    call.extend(builtins.iter().map(|b| b.to_string()));
    let _ = writeln!(s, "    {}_body({});", abi.kernel_name, call.join(", "));
    s
}

/// The kernel as PyTorch's `torch.mps.compile_shader` launches it: call it as
/// `lib.NAME(*pointer_args, *scalar_args, threads=[grid[0] * T, grid[1], grid[2]],
/// group_size=[T, 1, 1])` with `T` = `threads_per_threadgroup`, Python ints for integer
/// (and bool) scalars, floats for float scalars.
pub fn torch_variant(msl: &str, abi: &KernelAbi) -> Result<FrameworkEntry, VariantError> {
    let (head, body) = split(msl, abi)?;
    let slots = abi.buffers.len() + abi.scalars.len();
    if slots > MAX_BUFFER_SLOTS {
        return Err(VariantError {
            kernel: abi.kernel_name.clone(),
            reason: format!(
                "{} pointer and {} scalar arguments need {slots} buffer slots when each scalar is passed by itself; \
                 Metal has {MAX_BUFFER_SLOTS}",
                abi.buffers.len(),
                abi.scalars.len()
            ),
        });
    }
    let torch_types: Vec<DType> = abi.scalars.iter().map(|p| torch_scalar_type(p.dtype)).collect();
    let (offsets, args_size) = pack_layout(&torch_types);
    let mut src = with_body_function(abi, head, body);
    let mut sig = vec![];
    let mut params = vec![];
    let buffers: Vec<String> = (0..abi.buffers.len()).map(|i| buffer_ident(abi, i)).collect();
    for (i, b) in abi.buffers.iter().enumerate() {
        sig.push(format!("    device {}* {} [[buffer({i})]]", elem_type(b.dtype), buffers[i]));
        params.push(EntryParam::Buffer { slot: i });
    }
    let scalar_names: Vec<String> = (0..abi.scalars.len()).map(|j| format!("tm_s{j}")).collect();
    for (j, d) in torch_types.iter().enumerate() {
        sig.push(format!("    constant {}& {} [[buffer({})]]", elem_type(*d), scalar_names[j], abi.buffers.len() + j));
        params.push(EntryParam::Scalar { dtype: *d, offset: offsets[j] });
    }
    let mut builtins = vec![];
    for (b, name) in Builtin::KERNEL {
        sig.push(format!("    {} {name} [[{}]]", b.msl_type(), b.attribute()));
        params.push(EntryParam::Builtin(b));
        builtins.push(name);
    }
    let _ = writeln!(src, "// Entry for torch.mps.compile_shader: scalars one per slot, threadgroup memory declared here.");
    let _ = write!(
        src,
        "kernel void {}(\n{}) {{\n{}}}\n",
        abi.kernel_name,
        sig.join(",\n"),
        call_body(abi, &buffers, &scalar_names, &builtins)
    );
    Ok(FrameworkEntry {
        msl: src,
        entry: abi.kernel_name.clone(),
        params,
        args_size,
        threads_per_threadgroup: abi.threads_per_threadgroup,
        threadgroup_bytes: abi.threadgroup_bytes,
    })
}

/// The kernel as MLX's `mx.fast.metal_kernel` takes it. Pointer arguments the kernel never
/// writes are inputs `tm_bI` (I its buffer slot), scalars are 0-d inputs `tm_sJ` of the
/// kernel's own dtype, written pointer arguments are outputs `tm_bI`; launch with
/// `grid=(grid[0] * T, grid[1], grid[2])`, `threadgroup=(T, 1, 1)`.
pub fn mlx_variant(msl: &str, abi: &KernelAbi) -> Result<MlxKernel, VariantError> {
    let (head, body) = split(msl, abi)?;
    let header = with_body_function(abi, head, body);
    let mut inputs = vec![];
    let mut outputs = vec![];
    let mut buffers = vec![];
    for (i, b) in abi.buffers.iter().enumerate() {
        let name = format!("tm_b{i}");
        // MLX passes inputs as `const device T*` (the kernel never writes those), with its own
        // names for some types (`bfloat16_t`): the body gets the kernel's pointer type.
        buffers.push(format!("(device {}*){name}", elem_type(b.dtype)));
        if b.written {
            outputs.push((name, i));
        } else {
            inputs.push((name, ParamSlot::Buffer(i)));
        }
    }
    let scalar_names: Vec<String> = (0..abi.scalars.len()).map(|j| format!("tm_s{j}")).collect();
    for (j, n) in scalar_names.iter().enumerate() {
        inputs.push((n.clone(), ParamSlot::Scalar(j)));
    }
    let builtins: Vec<&str> = Builtin::KERNEL.iter().map(|(b, _)| b.attribute()).collect();
    let source = call_body(abi, &buffers, &scalar_names, &builtins);
    Ok(MlxKernel {
        header,
        source,
        inputs,
        outputs,
        threads_per_threadgroup: abi.threads_per_threadgroup,
        threadgroup_bytes: abi.threadgroup_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tm_abi::BufferParam;

    fn abi(buffers: usize, scalars: usize, smem: u32) -> KernelAbi {
        let bufs = (0..buffers)
            .map(|i| BufferParam { name: format!("p{i}"), dtype: DType::F32, read: true, written: i == 0 })
            .collect();
        let sc = (0..scalars).map(|j| (format!("n{j}"), DType::I32)).collect();
        let params = (0..buffers).map(ParamSlot::Buffer).chain((0..scalars).map(ParamSlot::Scalar)).collect();
        KernelAbi::new("k".into(), bufs, sc, params, 128, smem, true).unwrap()
    }

    fn msl(abi: &KernelAbi) -> String {
        format!("HEAD\n{}    BODY;\n}}\n", standard_entry(abi))
    }

    #[test]
    fn split_finds_the_standard_entry() {
        let a = abi(2, 1, 64);
        let src = msl(&a);
        assert_eq!(split(&src, &a).unwrap(), ("HEAD\n", "    BODY;\n"));
        assert!(split("HEAD\n    BODY;\n}\n", &a).is_err());
    }

    #[test]
    fn torch_entry_passes_scalars_by_slot_and_declares_threadgroup_memory() {
        let a = abi(2, 2, 64);
        let v = torch_variant(&msl(&a), &a).unwrap();
        assert!(v.msl.contains("constant long& tm_s0 [[buffer(2)]]"));
        assert!(v.msl.contains("constant long& tm_s1 [[buffer(3)]]"));
        assert!(v.msl.contains("TM_THREADGROUP_STORAGE(tm_smem, 64);"));
        assert!(v.msl.contains("const k_args args = {int(tm_s0), int(tm_s1)};"));
        assert!(!v.msl.contains("[[threadgroup(0)]]"));
        assert_eq!(v.args_size, 16);
        assert_eq!(v.params[2], EntryParam::Scalar { dtype: DType::I64, offset: 0 });
    }

    #[test]
    fn torch_entry_needs_a_slot_per_scalar() {
        let a = abi(20, 12, 0);
        let e = torch_variant(&msl(&a), &a).unwrap_err();
        assert!(e.reason.contains("32 buffer slots"), "{e}");
    }

    #[test]
    fn mlx_form_splits_inputs_and_outputs_by_writes() {
        let a = abi(2, 1, 0);
        let m = mlx_variant(&msl(&a), &a).unwrap();
        assert_eq!(m.outputs, vec![("tm_b0".to_string(), 0)]);
        assert_eq!(
            m.inputs,
            vec![("tm_b1".to_string(), ParamSlot::Buffer(1)), ("tm_s0".to_string(), ParamSlot::Scalar(0))]
        );
        assert!(m.source.contains("k_body((device float*)tm_b0, (device float*)tm_b1, args, threadgroup_position_in_grid"));
        assert!(m.header.contains("inline void k_body(device float* p0, device float* p1, thread const k_args& args"));
    }
}
