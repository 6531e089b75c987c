//! Diagnostics: what went wrong in a config file, where, and how to fix it.
//!
//! Every problem found while loading is a [`Diagnostic`] with a grep-friendly
//! first line (`file:line:col: error: message`), the offending source line
//! with the span underlined, and an optional `= help:` line, like rustc:
//!
//! ```text
//! bad.toml:4:1: error: unknown key `adress` in listener "web"
//!    |
//!  4 | adress = "127.0.0.1:80"
//!    | ^^^^^^
//!    = help: did you mean `address`?
//! ```
//!
//! [`Reporter`] turns byte spans (what the TOML parser gives) into these.

use std::fmt::Write as _;
use std::ops::Range;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The configuration is rejected.
    Error,
    /// The configuration loads, but probably does not do what was meant.
    Warning,
    /// Not a problem in itself: what the checker did (it skipped checks).
    Note,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        }
    }
}

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file name as given to the loader.
    pub file: String,
    /// 1-based line; 0 when the problem has no position (unreadable file).
    pub line: usize,
    /// 1-based column, counted in characters; 0 when there is no position.
    pub col: usize,
    /// What is wrong (one line).
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
    /// The text of line `line` (without the line break), for the snippet.
    pub source_line: String,
    /// How many characters from `col` on to underline (at least 1 when the
    /// diagnostic has a position).
    pub width: usize,
}

impl Diagnostic {
    /// A diagnostic that is not tied to a position in the file.
    pub fn without_position(
        severity: Severity,
        file: &str,
        message: String,
        help: Option<String>,
    ) -> Self {
        Diagnostic {
            severity,
            file: file.to_string(),
            line: 0,
            col: 0,
            message,
            help,
            source_line: String::new(),
            width: 0,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic: a `file:line:col: severity: message` line,
    /// then a snippet of the source with the span underlined, then the help.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = self.severity.label();
        if self.line == 0 {
            let _ = writeln!(out, "{}: {label}: {}", self.file, self.message);
            if let Some(help) = &self.help {
                let _ = writeln!(out, "  = help: {help}");
            }
            return out;
        }
        let _ = writeln!(
            out,
            "{}:{}:{}: {label}: {}",
            self.file, self.line, self.col, self.message
        );
        let digits = self.line.to_string().len();
        let gutter = " ".repeat(digits + 1);
        let (shown, caret_at, caret_len) = layout(&self.source_line, self.col, self.width);
        let _ = writeln!(out, "{gutter} |");
        let _ = writeln!(out, " {} | {shown}", self.line);
        let _ = writeln!(
            out,
            "{gutter} | {}{}",
            " ".repeat(caret_at),
            "^".repeat(caret_len.max(1))
        );
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{gutter} = help: {help}");
        }
        out
    }
}

/// Expands tabs (so the carets line up) and strips other control characters;
/// returns the line to show, the caret's display offset and its length.
fn layout(line: &str, col: usize, width: usize) -> (String, usize, usize) {
    let mut shown = String::new();
    let mut caret_at = 0;
    let mut caret_len = 0;
    let start = col.saturating_sub(1);
    let mut chars = 0;
    for (i, c) in line.chars().enumerate() {
        let piece = match c {
            '\t' => "    ".to_string(),
            c if c.is_control() => " ".to_string(),
            c => c.to_string(),
        };
        let w = piece.chars().count();
        if i < start {
            caret_at += w;
        } else if i < start + width {
            caret_len += w;
        }
        shown.push_str(&piece);
        chars = i + 1;
    }
    // A span at the end of the line (e.g. "expected a value") points just
    // past the last character.
    if start > chars {
        caret_at += start - chars;
    }
    (shown, caret_at, caret_len.max(1))
}

/// Renders all diagnostics, then a summary line such as `2 errors, 1 warning`.
pub fn render_all(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&d.render());
        out.push('\n');
    }
    out.push_str(&summary(diags));
    out
}

/// `2 errors, 1 warning`, `1 error`, `3 warnings` or `no problems`.
pub fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let warnings = diags
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    match (errors, warnings) {
        (0, 0) => "no problems".to_string(),
        (e, 0) => plural(e, "error"),
        (0, w) => plural(w, "warning"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// Maps byte offsets in the source text to lines and columns.
#[derive(Debug)]
pub(crate) struct SourceMap<'a> {
    text: &'a str,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl<'a> SourceMap<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceMap { text, line_starts }
    }

    pub(crate) fn text(&self) -> &'a str {
        self.text
    }

    /// Clamps `at` into the text and back onto a character boundary.
    fn clamp(&self, at: usize) -> usize {
        let mut at = at.min(self.text.len());
        while !self.text.is_char_boundary(at) {
            at -= 1;
        }
        at
    }

    /// 0-based line index of byte offset `at`.
    fn line_index(&self, at: usize) -> usize {
        self.line_starts
            .partition_point(|&s| s <= at)
            .saturating_sub(1)
    }

    /// Byte range of line `index` without its line break; a leading byte
    /// order mark is not part of the first line.
    fn line_range(&self, index: usize) -> Range<usize> {
        let mut start = self.line_starts.get(index).copied().unwrap_or(0);
        if start == 0 && self.text.starts_with('\u{feff}') {
            start = '\u{feff}'.len_utf8();
        }
        let mut end = self
            .line_starts
            .get(index + 1)
            .map(|&s| s - 1)
            .unwrap_or(self.text.len());
        if end > start && self.text.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        start..end.max(start)
    }

    /// 1-based line of byte offset `at`.
    pub(crate) fn line_of(&self, at: usize) -> usize {
        self.line_index(self.clamp(at)) + 1
    }

    /// Line, column (1-based, in characters), source line and underline
    /// width (in characters, at least 1) for a byte span.
    pub(crate) fn locate(&self, span: Range<usize>) -> (usize, usize, String, usize) {
        let start = self.clamp(span.start);
        let end = self.clamp(span.end.max(span.start));
        let index = self.line_index(start);
        let line = self.line_range(index);
        let start = start.max(line.start);
        let col = self.text[line.start..start.min(line.end)].chars().count()
            + 1
            + start.saturating_sub(line.end);
        let under_end = end.clamp(start, line.end.max(start));
        let width = self
            .text
            .get(start.min(under_end)..under_end)
            .map_or(0, |s| s.chars().count())
            .max(1);
        let source = self.text[line].to_string();
        (index + 1, col, source, width)
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub(crate) struct Reporter<'a> {
    pub(crate) file: String,
    pub(crate) map: SourceMap<'a>,
    pub(crate) diags: Vec<Diagnostic>,
    /// TOML syntax errors; other diagnostics on their lines are dropped
    /// (they are consequences of the syntax error).
    syntax: Vec<Diagnostic>,
    /// What an unclosed bracket swallowed: from its (line, col) to the
    /// line where the parser gave up. Other diagnostics in there are
    /// dropped too: they are about text read as the bracket's contents.
    swallowed: Vec<((usize, usize), usize)>,
    /// Said after everything else.
    notes: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(file: &str, text: &'a str) -> Self {
        Reporter {
            file: file.to_string(),
            map: SourceMap::new(text),
            diags: Vec::new(),
            syntax: Vec::new(),
            swallowed: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn make(
        &self,
        severity: Severity,
        span: Range<usize>,
        message: impl Into<String>,
        help: Option<String>,
    ) -> Diagnostic {
        let (line, col, source_line, width) = self.map.locate(span);
        Diagnostic {
            severity,
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
            help,
            source_line,
            width,
        }
    }

    /// Records an error at `span` with a help text saying how to fix it.
    pub(crate) fn error(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = self.make(Severity::Error, span, message, Some(help.into()));
        self.diags.push(d);
    }

    /// Records a warning at `span`.
    pub(crate) fn warning(
        &mut self,
        span: Range<usize>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let d = self.make(Severity::Warning, span, message, Some(help.into()));
        self.diags.push(d);
    }

    /// Records a TOML syntax error.
    pub(crate) fn syntax_error(&mut self, span: Range<usize>, message: String, help: String) {
        let d = self.make(Severity::Error, span, message, Some(help));
        self.syntax.push(d);
    }

    /// The bytes from `open` (an unclosed bracket) to `end` were read as
    /// its contents: see the `swallowed` field.
    pub(crate) fn swallowed(&mut self, open: usize, end: usize) {
        let (line, col, _, _) = self.map.locate(open..open + 1);
        self.swallowed.push(((line, col), self.line_of(end)));
    }

    /// A note without a position, shown after every other diagnostic.
    pub(crate) fn note(&mut self, message: impl Into<String>, help: impl Into<String>) {
        self.notes.push(Diagnostic::without_position(
            Severity::Note,
            &self.file,
            message.into(),
            Some(help.into()),
        ));
    }

    /// Errors recorded so far (syntax errors included).
    pub(crate) fn error_count(&self) -> usize {
        self.syntax.len() + self.diags.iter().filter(|d| d.is_error()).count()
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.syntax.is_empty() || self.diags.iter().any(Diagnostic::is_error)
    }

    /// 1-based line of a byte offset (for "first defined at line N").
    pub(crate) fn line_of(&self, at: usize) -> usize {
        self.map.line_of(at)
    }

    /// The diagnostics in source order (stable for equal positions).
    pub(crate) fn finish(self) -> Vec<Diagnostic> {
        let lines: std::collections::HashSet<usize> = self.syntax.iter().map(|d| d.line).collect();
        let swallowed = &self.swallowed;
        let mut all = self.syntax;
        all.extend(self.diags.into_iter().filter(|d| {
            !lines.contains(&d.line)
                && !swallowed
                    .iter()
                    .any(|&(open, end)| (d.line, d.col) > open && d.line <= end)
        }));
        all.sort_by_key(|d| (d.line, d.col));
        all.extend(self.notes);
        all
    }
}
