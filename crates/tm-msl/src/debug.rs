//! `tl.device_print` and `tl.device_assert`. Both run on the CPU executor
//! (printf, and a failed launch reported as a Python exception naming the
//! source line). Metal has no printf before shader logging (MSL 3.2), so on
//! a Mac they compile to nothing (documented in the README).

use crate::emit::{Emitter, Repr, R};
use tm_ir::{Op, OpKind};

/// Only the CPU executor compiles what is inside this guard.
const CPU_ONLY: &str = "#if !defined(__METAL_VERSION__) && !defined(TM_CHECK)";

fn c_string(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' => "\\\"".to_string(),
            '\\' => "\\\\".to_string(),
            '%' => "%%".to_string(),
            '\n' => "\\n".to_string(),
            c if c.is_ascii() && !c.is_ascii_control() => c.to_string(),
            _ => "?".to_string(),
        })
        .collect()
}

impl Emitter<'_> {
    pub(crate) fn debug_op(&mut self, op: &Op) -> R<()> {
        self.line(CPU_ONLY);
        match &op.kind {
            OpKind::Print { prefix, hex } => {
                for &v in &op.operands {
                    let d = self.f.ty(v).dtype().unwrap_or(tm_ir::DType::F32);
                    let (fmt, cast) = match (d.is_float(), hex) {
                        (true, false) => ("%f", "(double)"),
                        (true, true) => ("0x%llx", "(unsigned long long)"),
                        (false, true) => ("0x%llx", "(unsigned long long)"),
                        (false, false) if d.is_unsigned_int() => ("%llu", "(unsigned long long)"),
                        (false, false) => ("%lld", "(long long)"),
                    };
                    let prefix = c_string(prefix);
                    match self.repr(v).clone() {
                        Repr::Array { name, layout } => {
                            let lay = self.layouts[layout].clone();
                            let regs = lay.regs();
                            let coords: Vec<String> = (0..lay.embed.len())
                                .map(|i| format!("(unsigned)({})", lay.coord_expr(i, "r", &format!("L{layout}_t{}", lay.embed[i]))))
                                .collect();
                            let idx_fmt = vec!["%u"; coords.len()].join(", ");
                            self.line(format!(
                                "for (uint r = 0; r < {regs}u; ++r) if (L{layout}_own) printf(\"pid (%u, %u, %u) idx ({idx_fmt}) {prefix}{fmt}\\n\", tm_pid.x, tm_pid.y, tm_pid.z, {}, {cast}({name}[r]));",
                                coords.join(", ")
                            ));
                        }
                        r => {
                            let e = Self::at(&r, "0");
                            self.line(format!(
                                "if (tm_tid == 0u) printf(\"pid (%u, %u, %u) idx () {prefix}{fmt}\\n\", tm_pid.x, tm_pid.y, tm_pid.z, {cast}({e}));"
                            ));
                        }
                    }
                }
            }
            OpKind::Assert { message } => {
                let msg = c_string(message).replace("%%", "%");
                match self.repr(op.operands[0]).clone() {
                    Repr::Array { name, layout } => {
                        let regs = self.layouts[layout].regs();
                        self.line(format!("for (uint r = 0; r < {regs}u; ++r) if (!{name}[r]) tm_detail::fail(\"{msg}\");"));
                    }
                    r => {
                        let e = Self::at(&r, "0");
                        self.line(format!("if (!({e})) tm_detail::fail(\"{msg}\");"));
                    }
                }
            }
            _ => {}
        }
        self.line("#endif");
        Ok(())
    }
}
