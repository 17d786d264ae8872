//! The C++ translation unit compiled for a kernel: its MSL followed by a generated wrapper that
//! exports the entry point running a range of threadgroups, following `tm_abi`'s signature.

use std::fmt::Write;

use tm_abi::entry::{Builtin, EntryParam};
use tm_abi::{KernelAbi, MAX_THREADGROUP_BYTES, MAX_THREADS_PER_THREADGROUP};

use crate::CpuError;

/// Makes Metal's `[[threadgroup(N)]]` parameter attribute survive our headers, where
/// `threadgroup` is a macro (an address space): it becomes the unknown, ignored attribute
/// `[[tm_threadgroup(N)]]`. The only textual change made to the MSL.
pub(crate) fn rewrite_attributes(msl: &str) -> String {
    let mut out = String::with_capacity(msl.len() + 16);
    let mut rest = msl;
    while let Some(at) = rest.find("[[") {
        let (head, tail) = rest.split_at(at + 2);
        out.push_str(head);
        let inner = tail.trim_start();
        if let Some(after) = inner.strip_prefix("threadgroup") {
            if after.trim_start().starts_with('(') {
                out.push_str(&tail[..tail.len() - inner.len()]);
                out.push_str("tm_threadgroup");
                rest = after;
                continue;
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Refuses ABIs the executor (or Metal) cannot run.
pub(crate) fn validate(abi: &KernelAbi) -> Result<(), CpuError> {
    let bad = |reason: String| {
        Err(CpuError::InvalidAbi {
            kernel: abi.kernel_name.clone(),
            reason,
        })
    };
    let name = &abi.kernel_name;
    let ident = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ident {
        return bad(format!("kernel name `{name}` is not a C identifier"));
    }
    if abi.threads_per_threadgroup == 0 || abi.threads_per_threadgroup > MAX_THREADS_PER_THREADGROUP
    {
        return bad(format!(
            "{} threads per threadgroup (must be 1..={MAX_THREADS_PER_THREADGROUP})",
            abi.threads_per_threadgroup
        ));
    }
    if abi.threadgroup_bytes > MAX_THREADGROUP_BYTES {
        return bad(format!(
            "{} bytes of threadgroup memory (at most {MAX_THREADGROUP_BYTES})",
            abi.threadgroup_bytes
        ));
    }
    if abi.scalars.is_empty() != (abi.args_size == 0) {
        return bad(format!(
            "{} scalars but args_size {}",
            abi.scalars.len(),
            abi.args_size
        ));
    }
    for b in &abi.buffers {
        if tm_abi::msl_type_name(b.dtype).is_none() {
            return bad(format!(
                "buffer `{}` has type {}, which Metal lacks",
                b.name, b.dtype
            ));
        }
    }
    Ok(())
}

/// The full source: whether `tm_chk` checks bounds, the MSL (attributes rewritten, `#line` so
/// diagnostics point into the kernel) and the wrapper. `validate` must have accepted `abi`.
pub(crate) fn translation_unit(msl: &str, abi: &KernelAbi, bounds_check: bool) -> String {
    let mut s = String::with_capacity(msl.len() + 2048);
    let _ = writeln!(s, "#define TM_CPU_BOUNDS_CHECK {}", u8::from(bounds_check));
    s.push_str("#line 1 \"kernel.metal\"\n");
    s.push_str(&rewrite_attributes(msl));
    s.push_str("\n#line 1 \"tm_cpu_wrapper.cpp\"\n");
    s.push_str(&wrapper(abi));
    s
}

/// [`translation_unit`] for an entry point with its own signature (`params`, see
/// `tm_abi::entry`); `abi` describes the launch's buffers, packed scalars and threadgroup memory.
pub(crate) fn entry_translation_unit(
    msl: &str,
    entry: &str,
    params: &[EntryParam],
    abi: &KernelAbi,
    bounds_check: bool,
) -> String {
    let mut s = String::with_capacity(msl.len() + 2048);
    let _ = writeln!(s, "#define TM_CPU_BOUNDS_CHECK {}", u8::from(bounds_check));
    s.push_str("#define TM_CPU_ANY_SLOT 1\n");
    s.push_str("#line 1 \"kernel.metal\"\n");
    s.push_str(&rewrite_attributes(msl));
    s.push_str("\n#line 1 \"tm_cpu_wrapper.cpp\"\n");
    let mut w = String::new();
    let _ = writeln!(w, "namespace {{\nvoid tm_cpu_invoke(const tm_rt::ThreadCtx& c, uint tid) {{");
    let args: Vec<String> = params
        .iter()
        .map(|p| match p {
            EntryParam::Buffer { slot } => {
                let ty = abi.buffers.get(*slot).and_then(|b| tm_abi::msl_type_name(b.dtype)).unwrap_or("uchar");
                format!("({ty}*)c.bufs[{slot}]")
            }
            EntryParam::Scalar { dtype, offset } => {
                let ty = tm_abi::msl_type_name(*dtype).unwrap_or("uchar");
                format!("*(const {ty}*)((const unsigned char*)c.args + {offset})")
            }
            EntryParam::Builtin(b) => match b {
                Builtin::ThreadgroupPositionInGrid => "c.pid".into(),
                Builtin::ThreadgroupsPerGrid => "c.nprog".into(),
                Builtin::ThreadIndexInThreadgroup => "tid".into(),
                Builtin::ThreadIndexInSimdgroup => "tid % 32u".into(),
                Builtin::SimdgroupIndexInThreadgroup => "tid / 32u".into(),
            },
        })
        .collect();
    let _ = writeln!(w, "  {entry}({});\n}}\n}}  // namespace", args.join(", "));
    let names: Vec<String> = abi.buffers.iter().map(|b| c_string(&b.name)).collect();
    let _ = writeln!(
        w,
        "static const char* const tm_cpu_buffer_names[] = {{{}}};",
        if names.is_empty() { "nullptr".to_string() } else { names.join(", ") }
    );
    let _ = writeln!(
        w,
        "TM_CPU_EXPORT int tm_cpu_run(const tm_cpu_launch* l) {{\n  return tm_rt::run_launch(l, {}u, true, &tm_cpu_invoke, {}u, tm_cpu_buffer_names);\n}}",
        abi.threads_per_threadgroup,
        abi.buffers.len()
    );
    s.push_str(&w);
    s
}

fn wrapper(abi: &KernelAbi) -> String {
    let name = &abi.kernel_name;
    let mut w = String::new();
    // `write!` into a String cannot fail.
    let _ = writeln!(
        w,
        "// Generated by tm-cpu: runs `{name}` for one thread of a threadgroup."
    );
    let _ = writeln!(w, "namespace {{");
    let _ = writeln!(
        w,
        "void tm_cpu_invoke(const tm_rt::ThreadCtx& c, uint tid) {{"
    );
    let _ = writeln!(w, "  {name}(");
    for (i, b) in abi.buffers.iter().enumerate() {
        let ty = tm_abi::msl_type_name(b.dtype).unwrap_or("uchar");
        let _ = writeln!(w, "    ({ty}*)c.bufs[{i}],");
    }
    if !abi.scalars.is_empty() {
        let _ = writeln!(w, "    *(const {}*)c.args,", abi.args_struct_name());
    }
    if abi.threadgroup_bytes > 0 {
        let _ = writeln!(w, "    (uchar*)c.smem,");
    }
    let _ = writeln!(w, "    c.pid, c.nprog, tid, tid % 32u, tid / 32u);");
    let _ = writeln!(w, "}}\n}}  // namespace");
    if !abi.scalars.is_empty() {
        let _ = writeln!(
            w,
            "static_assert(sizeof({s}) == {n}, \"{s} in the MSL does not have the size KernelAbi::args_size = {n}\");",
            s = abi.args_struct_name(),
            n = abi.args_size
        );
    }
    // Argument names, for the messages of failed bounds checks.
    let names: Vec<String> = abi.buffers.iter().map(|b| c_string(&b.name)).collect();
    let _ = writeln!(
        w,
        "static const char* const tm_cpu_buffer_names[] = {{{}}};",
        if names.is_empty() { "nullptr".to_string() } else { names.join(", ") }
    );
    let _ = writeln!(
        w,
        "TM_CPU_EXPORT int tm_cpu_run(const tm_cpu_launch* l) {{\n  return tm_rt::run_launch(l, {}u, {}, &tm_cpu_invoke, {}u, tm_cpu_buffer_names);\n}}",
        abi.threads_per_threadgroup,
        abi.uses_sync,
        abi.buffers.len()
    );
    w
}

/// A C string literal for `s` (printable ASCII kept, everything else escaped).
fn c_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                // Octal escapes end after three digits, unlike hex ones.
                let _ = write!(out, "\\{b:03o}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_strings_escape_quotes_and_non_ascii() {
        assert_eq!(c_string("out_ptr"), "\"out_ptr\"");
        assert_eq!(c_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(c_string("é"), "\"\\303\\251\"");
    }

    #[test]
    fn rewrites_only_the_threadgroup_attribute() {
        let src = "threadgroup uchar* s [[threadgroup(0)]], uint t [[thread_index_in_threadgroup]], \
                   threadgroup float* q [[ threadgroup (1) ]], uint3 p [[threadgroup_position_in_grid]]";
        let out = rewrite_attributes(src);
        assert_eq!(
            out,
            "threadgroup uchar* s [[tm_threadgroup(0)]], uint t [[thread_index_in_threadgroup]], \
             threadgroup float* q [[ tm_threadgroup (1) ]], uint3 p [[threadgroup_position_in_grid]]"
        );
    }
}
