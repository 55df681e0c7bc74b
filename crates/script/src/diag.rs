//! Diagnostics: errors and warnings with spans, rendered in the rustc style
//! (annotate-snippets) or as one `file:line:col: error: message` line each.

use crate::source::{SourceMap, Span};
use annotate_snippets::{AnnotationKind, Group, Level, Renderer, Snippet};
use std::fmt;
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found in a config.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub span: Option<Span>,
    /// Text shown under the caret.
    pub label: Option<String>,
    /// `help:` lines (did you mean, missing loadmodule, ...).
    pub help: Vec<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            label: None,
            help: Vec::new(),
        }
    }
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            message: message.into(),
            span: Some(span),
            label: None,
            help: Vec::new(),
        }
    }
    /// A problem with no position (e.g. the main file cannot be read).
    pub fn error_nospan(message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: None,
            label: None,
            help: Vec::new(),
        }
    }
    pub fn label(mut self, l: impl Into<String>) -> Diagnostic {
        self.label = Some(l.into());
        self
    }
    pub fn help(mut self, h: impl Into<String>) -> Diagnostic {
        self.help.push(h.into());
        self
    }
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A set of diagnostics with the sources they point into.
#[derive(Clone, Debug)]
pub struct Diagnostics {
    pub sources: Arc<SourceMap>,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(sources: Arc<SourceMap>, items: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics { sources, items }
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count()
    }
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// rustc-style report without colours, with a summary line at the end
    /// when there are errors.
    pub fn render(&self) -> String {
        self.render_with(&Renderer::plain())
    }

    /// rustc-style report with ANSI colours (for terminals).
    pub fn render_styled(&self) -> String {
        self.render_with(&Renderer::styled())
    }

    fn render_with(&self, renderer: &Renderer) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&render_one(&self.sources, d, renderer));
            out.push_str("\n\n");
        }
        let (e, w) = (self.error_count(), self.warning_count());
        if e > 0 {
            out.push_str(&format!(
                "error: the configuration has {e} error{}{}\n",
                if e == 1 { "" } else { "s" },
                if w > 0 {
                    format!(" and {w} warning{}", if w == 1 { "" } else { "s" })
                } else {
                    String::new()
                }
            ));
        } else if w > 0 {
            out.push_str(&format!(
                "warning: {w} warning{} emitted\n",
                if w == 1 { "" } else { "s" }
            ));
        }
        out
    }

    /// One line per problem: `file:line:col: error: message` (help appended after ` -- `).
    pub fn render_short(&self) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&short_line(&self.sources, d));
            out.push('\n');
        }
        out
    }
}

fn sev_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

pub(crate) fn short_line(sources: &SourceMap, d: &Diagnostic) -> String {
    let mut s = match d.span {
        Some(sp) => {
            let (f, l, c) = sources.location(sp);
            format!("{f}:{l}:{c}: {}: {}", sev_name(d.severity), d.message)
        }
        None => format!("{}: {}", sev_name(d.severity), d.message),
    };
    for h in &d.help {
        s.push_str(" -- ");
        s.push_str(h);
    }
    s
}

fn render_one(sources: &SourceMap, d: &Diagnostic, renderer: &Renderer) -> String {
    let level = match d.severity {
        Severity::Error => Level::ERROR,
        Severity::Warning => Level::WARNING,
    };
    let mut group = Group::with_title(level.primary_title(d.message.as_str()));
    if let Some(sp) = d.span {
        if let Some(f) = sources.file(sp.file) {
            let (start, end) = f.line_range(sp.lo, sp.hi);
            let text = &f.text[start..end];
            let (line, _) = f.line_col(sp.lo);
            let mut lo = (sp.lo as usize).clamp(start, end) - start;
            let mut hi = (sp.hi as usize).clamp(start, end) - start;
            while lo > 0 && !text.is_char_boundary(lo) {
                lo -= 1;
            }
            while hi < text.len() && !text.is_char_boundary(hi) {
                hi += 1;
            }
            let mut ann = AnnotationKind::Primary.span(lo..hi.max(lo));
            if let Some(l) = &d.label {
                ann = ann.label(l.as_str());
            }
            group = group.element(
                Snippet::source(text)
                    .line_start(line)
                    .path(f.name.as_str())
                    .annotation(ann),
            );
        }
    }
    for h in &d.help {
        group = group.element(Level::HELP.message(h.as_str()));
    }
    renderer.render(&[group])
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Diagnostics {}
