//! MSL spellings: type names, literals and reserved words, kept in one table so
//! the printer never hard-codes them.

use tm_ir::{Const, DType};

pub use tm_abi::msl_type_name;

/// Names the generated code must not use for arguments.
const RESERVED: &[&str] = &[
    "kernel", "device", "constant", "threadgroup", "thread", "half", "float", "int", "uint", "bool", "char", "uchar",
    "short", "ushort", "long", "ulong", "bfloat", "void", "struct", "args", "metal", "auto", "const", "static", "for",
    "if", "else", "while", "return", "new", "delete", "this", "class", "template", "typename", "using", "namespace",
    "signed", "unsigned", "double", "sizeof", "default", "case", "switch", "do", "break", "continue", "goto", "union",
    "enum", "volatile", "register", "extern", "inline", "operator", "private", "public", "protected", "virtual",
    "friend", "true", "false", "not", "and", "or", "xor", "sampler", "texture", "vertex", "fragment",
];

/// C library and Metal names a kernel function must not take (the CPU executor
/// links libc and libm; Metal has the same math names).
const LIBRARY_NAMES: &[&str] = &[
    "main", "printf", "malloc", "free", "memcpy", "memset", "abs", "exp", "exp2", "log", "log2", "sqrt", "sin", "cos",
    "tan", "tanh", "pow", "floor", "ceil", "round", "fabs", "fmax", "fmin", "max", "min", "select", "clamp", "dot",
    "erf", "fma", "exit", "abort", "signal", "time", "rand", "random", "sort", "index", "strlen",
];

/// The MSL function name of a kernel: its Python name unless that clashes
/// with a keyword or a library function, then with a `_kernel` suffix.
pub fn kernel_ident(name: &str) -> String {
    // Python identifiers may hold any Unicode letter; MSL's are ASCII. Every other character
    // becomes `_u{hex}_`, so distinct names stay distinct and readable.
    let mangled: String;
    let name = if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.is_empty() {
        name
    } else {
        mangled = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_string() } else { format!("_u{:x}_", c as u32) })
            .collect::<String>();
        if mangled.is_empty() || mangled.starts_with(|c: char| c.is_ascii_digit()) {
            return format!("k_{mangled}");
        }
        &mangled
    };
    let clashes = RESERVED.contains(&name) || LIBRARY_NAMES.contains(&name) || name.starts_with("tm_") || name.starts_with("__");
    if clashes {
        format!("{name}_kernel")
    } else {
        name.to_string()
    }
}

/// A C identifier for a Python parameter name, or a positional fallback.
pub fn arg_ident(name: &str, index: usize) -> String {
    let ok = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && !name.starts_with("tm_")
        && !name.starts_with("__")
        && !(name.starts_with('v') && name[1..].chars().all(|c| c.is_ascii_digit()))
        && !RESERVED.contains(&name);
    if ok {
        name.to_string()
    } else {
        format!("arg{index}")
    }
}

/// The suffix of the prelude's float-to-integer conversion to `d` (`tm_f2i32`, ...).
pub fn int_suffix(d: DType) -> &'static str {
    match d {
        DType::I8 => "i8",
        DType::I16 => "i16",
        DType::I64 => "i64",
        DType::U8 => "u8",
        DType::U16 => "u16",
        DType::U32 => "u32",
        DType::U64 => "u64",
        _ => "i32",
    }
}

/// The unsigned type of the same width (for wrapping signed arithmetic).
pub fn unsigned_of(d: DType) -> DType {
    match d {
        DType::I8 => DType::U8,
        DType::I16 => DType::U16,
        DType::I32 => DType::U32,
        DType::I64 => DType::U64,
        other => other,
    }
}

/// A literal of type `d`, valid both in MSL and in C++.
pub fn literal(c: Const, d: DType) -> String {
    let t = msl_type_name(d).unwrap_or("float");
    if d.is_fp8() {
        // The float8 code, encoded here by the rule the kernel's conversions use.
        let v = match c {
            Const::Int(i) => i as f64,
            Const::Float(x) => x,
        };
        return format!("(uchar)0x{:02x}u", d.fp8_encode(v).unwrap_or(0));
    }
    match c {
        Const::Int(i) if d.is_bool() => (if i != 0 { "true" } else { "false" }).to_string(),
        Const::Int(i) if d == DType::I32 && i > i32::MIN as i64 => i.to_string(),
        Const::Int(i) if d == DType::U32 => format!("{}u", i as u32),
        Const::Int(i) if d.is_unsigned_int() => format!("({t})({}ul)", i as u64),
        Const::Int(i64::MIN) if d.is_int() => format!("({t})(-9223372036854775807l - 1l)"),
        Const::Int(i) if d.is_int() => format!("({t})({i}l)"),
        Const::Int(i) => float_literal(i as f64, t),
        Const::Float(x) if d.is_float() => float_literal(x, t),
        Const::Float(x) => format!("({t})({})", x as i64),
    }
}

fn float_literal(x: f64, t: &str) -> String {
    let f = x as f32;
    let body = if f.is_nan() {
        "as_type<float>(0x7fc00000u)".to_string()
    } else if f.is_infinite() {
        format!("as_type<float>({}u)", if f > 0.0 { "0x7f800000" } else { "0xff800000" })
    } else {
        // Exact round trip: hex-free decimal with enough digits, as a float literal.
        let s = format!("{f:e}");
        format!("{s}f")
    };
    if t == "float" {
        body
    } else {
        format!("({t})({body})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(literal(Const::Int(5), DType::I32), "5");
        assert_eq!(literal(Const::Int(5), DType::U32), "5u");
        assert_eq!(literal(Const::Int(-5), DType::I64), "(long)(-5l)");
        assert_eq!(literal(Const::Float(1.5), DType::F32), "1.5e0f");
        assert_eq!(literal(Const::Float(0.0), DType::F16), "(half)(0e0f)");
        assert_eq!(literal(Const::Float(f64::NEG_INFINITY), DType::F32), "as_type<float>(0xff800000u)");
        assert_eq!(literal(Const::Int(1), DType::I1), "true");
    }

    #[test]
    fn non_ascii_kernel_names_are_mangled() {
        assert_eq!(kernel_ident("ядро"), "_u44f__u434__u440__u43e_");
        assert_eq!(kernel_ident("add_é"), "add__ue9_");
        assert_ne!(kernel_ident("aé"), kernel_ident("aè"));
        assert_eq!(kernel_ident("add"), "add");
    }

    #[test]
    fn reserved_names_fall_back() {
        assert_eq!(arg_ident("x_ptr", 0), "x_ptr");
        assert_eq!(arg_ident("half", 2), "arg2");
        assert_eq!(arg_ident("v12", 1), "arg1");
    }
}
