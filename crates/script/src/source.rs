//! Source files and spans: every token and diagnostic points back to
//! (file, byte range), from which line and column are computed on demand.

use std::sync::Arc;

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: u32,
    pub lo: u32,
    pub hi: u32,
}

impl Span {
    pub fn new(file: u32, lo: usize, hi: usize) -> Span {
        Span {
            file,
            lo: lo as u32,
            hi: hi.max(lo) as u32,
        }
    }
    /// The smallest span covering both (same file; otherwise `self`).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            lo: self.lo.min(other.lo),
            hi: self.hi.max(other.hi),
        }
    }
}

/// One loaded file (or the text given directly to the parser).
#[derive(Debug)]
pub struct SourceFile {
    /// The path as displayed in diagnostics.
    pub name: String,
    pub text: Arc<str>,
    line_starts: Vec<u32>,
}

impl SourceFile {
    pub fn new(name: String, text: Arc<str>) -> SourceFile {
        let mut line_starts = vec![0u32];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i as u32 + 1);
            }
        }
        SourceFile {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, off: u32) -> (usize, usize) {
        let off = off.min(self.text.len() as u32);
        let line = match self.line_starts.binary_search(&off) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let mut end = off as usize;
        while end > start && !self.text.is_char_boundary(end) {
            end -= 1;
        }
        let col = self.text[start..end].chars().count() + 1;
        (line + 1, col)
    }

    /// Byte range of the whole line(s) containing `lo..hi` (without the final newline).
    pub fn line_range(&self, lo: u32, hi: u32) -> (usize, usize) {
        let (l1, _) = self.line_col(lo);
        let (l2, _) = self.line_col(hi);
        let start = self.line_starts[l1 - 1] as usize;
        let end = self
            .line_starts
            .get(l2)
            .map(|e| *e as usize - 1)
            .unwrap_or(self.text.len());
        (start, end.max(start))
    }
}

/// All files of one configuration (the main file and its includes).
#[derive(Debug, Default)]
pub struct SourceMap {
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, name: String, text: Arc<str>) -> u32 {
        self.files.push(SourceFile::new(name, text));
        (self.files.len() - 1) as u32
    }
    pub fn file(&self, id: u32) -> Option<&SourceFile> {
        self.files.get(id as usize)
    }
    /// `(file name, line, column)` of the start of a span.
    pub fn location(&self, span: Span) -> (String, usize, usize) {
        match self.file(span.file) {
            Some(f) => {
                let (l, c) = f.line_col(span.lo);
                (f.name.clone(), l, c)
            }
            None => ("<unknown>".into(), 0, 0),
        }
    }
    /// The source text under a span.
    pub fn snippet(&self, span: Span) -> &str {
        self.file(span.file)
            .and_then(|f| f.text.get(span.lo as usize..span.hi as usize))
            .unwrap_or("")
    }
}
