//! Diagnostics with a source position, shown like Triton's `CompilationError`.

use std::fmt;

/// A compile error located in the kernel's Python source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub filename: String,
    /// 1-based line in the file.
    pub line: u32,
    /// 1-based column.
    pub col: u32,
    pub message: String,
    /// The text of the offending line (without trailing newline).
    pub source_line: String,
    /// Name of the jit function being compiled when the error happened.
    pub function: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "at {}:{} in {} ({}:{}):", self.line, self.col, self.function, self.filename, self.line)?;
        writeln!(f, "{}", self.source_line)?;
        let caret_at = self.col.saturating_sub(1) as usize;
        let pad: String =
            self.source_line.chars().take(caret_at).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
        writeln!(f, "{pad}^")?;
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Maps byte offsets of a source text to line/column, shifted to file coordinates.
#[derive(Clone, Debug)]
pub struct SourceMap {
    pub filename: String,
    text: String,
    line_starts: Vec<usize>,
    /// File line of the first line of `text`, minus one.
    line_offset: u32,
    /// Columns removed by dedenting.
    col_offset: u32,
}

impl SourceMap {
    pub fn new(filename: &str, text: &str, first_line: u32, col_offset: u32) -> SourceMap {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap {
            filename: filename.to_string(),
            text: text.to_string(),
            line_starts,
            line_offset: first_line.saturating_sub(1),
            col_offset,
        }
    }

    /// (file line, file column, line text) of a byte offset.
    pub fn locate(&self, offset: usize) -> (u32, u32, String) {
        let idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[idx];
        let end = self.text[start..].find('\n').map_or(self.text.len(), |e| start + e);
        let line_text = &self.text[start..end];
        let col = self.text[start..offset.min(end).max(start)].chars().count() as u32;
        (
            idx as u32 + 1 + self.line_offset,
            col + 1 + self.col_offset,
            format!("{}{}", " ".repeat(self.col_offset as usize), line_text),
        )
    }

    pub fn diag(&self, function: &str, offset: usize, message: impl Into<String>) -> Diagnostic {
        let (line, col, source_line) = self.locate(offset);
        Diagnostic {
            filename: self.filename.clone(),
            line,
            col,
            message: message.into(),
            source_line,
            function: function.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_offsets_in_file_coordinates() {
        let sm = SourceMap::new("k.py", "def f(x):\n    y = x +\n", 10, 4);
        let (line, col, text) = sm.locate(18);
        assert_eq!((line, col), (11, 13));
        assert_eq!(text, "        y = x +");
    }
}
