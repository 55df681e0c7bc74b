//! The preprocessor: `#!define` & co., `#!ifdef` nesting, `#!subst`, and file
//! inclusion, applied over the token stream so every token keeps its span.

use crate::diag::Diagnostic;
use crate::lexer::{Lexer, Tok, Token};
use crate::source::{SourceMap, Span};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Defines given from outside the config (`-A NAME[=VALUE]` on the command line).
#[derive(Clone, Debug, Default)]
pub struct Defines {
    pub list: Vec<(String, String)>,
}

impl Defines {
    pub fn new() -> Defines {
        Defines::default()
    }
    /// `define("WITH_DEBUG", None)` or `define("PORT", Some("5070"))`.
    pub fn define(&mut self, name: &str, value: Option<&str>) -> &mut Defines {
        self.list
            .push((name.to_string(), value.unwrap_or("").to_string()));
        self
    }
    /// Parse a `-A` argument: `NAME` or `NAME=VALUE`.
    pub fn add_arg(&mut self, arg: &str) -> &mut Defines {
        match arg.split_once('=') {
            Some((n, v)) => self.define(n.trim(), Some(v)),
            None => self.define(arg.trim(), None),
        }
    }
}

struct Subst {
    re: regex::Regex,
    repl: String,
    global: bool,
}

struct Cond {
    active: bool,
    parent_active: bool,
    seen_else: bool,
    span: Span,
}

pub(crate) struct Pp {
    pub sm: SourceMap,
    pub diags: Vec<Diagnostic>,
    pub out: Vec<Token>,
    defines: HashMap<String, String>,
    /// Every name ever defined, in definition order with its last value
    /// (`#!undef` does not remove it): what `core.ppdefines` lists, as Kamailio.
    pub history: Vec<(String, String)>,
    substs: Vec<Subst>,
    conds: Vec<Cond>,
    /// Canonical paths of the files being included (cycle detection) with their display names.
    include_stack: Vec<(PathBuf, String)>,
    depth: u32,
    /// Tokens the current top-level define use may still expand to.
    expansion_budget: usize,
    /// Files included so far (MAX_INCLUDES); past it, once reported.
    includes: usize,
}

const MAX_EXPANSION_DEPTH: u32 = 32;
/// Most tokens one use of a `#!define` may expand to: a define that names
/// another twice doubles at each level (30 levels: a billion tokens).
const MAX_EXPANSION_TOKENS: usize = 100_000;
/// Longest string `#!subst` may produce (each subst applies to the last's result).
const MAX_SUBST_LEN: usize = 1 << 20;
/// Largest config file read (main or included): spans are 32-bit offsets,
/// and `-f /dev/zero` must end with an error, not fill the memory.
const MAX_FILE_SIZE: u64 = 64 << 20;
const MAX_INCLUDE_DEPTH: usize = 64;
/// Most files included in one load: a file that includes the next one twice,
/// 26 levels down, is 2^26 reads.
const MAX_INCLUDES: usize = 10_000;

impl Pp {
    pub fn new(defines: &Defines) -> Pp {
        let mut pp = Pp {
            sm: SourceMap::default(),
            diags: Vec::new(),
            out: Vec::new(),
            defines: HashMap::new(),
            history: Vec::new(),
            substs: Vec::new(),
            conds: Vec::new(),
            include_stack: Vec::new(),
            depth: 0,
            expansion_budget: MAX_EXPANSION_TOKENS,
            includes: 0,
        };
        // Kamailio predefines its version; siprd runs 5.6 configs
        for n in ["KAMAILIO_5", "KAMAILIO_5_6", "KAMAILIO_5_6_3", "SIPRD"] {
            pp.define(n.to_string(), String::new());
        }
        for (n, v) in &defines.list {
            pp.define(n.clone(), v.clone());
        }
        pp
    }

    fn define(&mut self, name: String, value: String) {
        match self.history.iter_mut().find(|(n, _)| *n == name) {
            Some(h) => h.1.clone_from(&value),
            None => self.history.push((name.clone(), value.clone())),
        }
        self.defines.insert(name, value);
    }

    fn active(&self) -> bool {
        self.conds.last().is_none_or(|c| c.active)
    }

    /// Read and process a file. A file that is not UTF-8 outside comments is
    /// reported at its first bad byte (the text is shown lossily); only I/O
    /// errors are returned.
    pub fn run_file(&mut self, path: &Path) -> std::io::Result<()> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)?
            .take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(std::io::Error::other(format!(
                "larger than {} MiB",
                MAX_FILE_SIZE >> 20
            )));
        }
        let name = path.display().to_string();
        // Comments in another encoding (Latin-1 accents) are common in old
        // configs and Kamailio ignores them: blank those bytes.
        blank_non_utf8_in_comments(&mut bytes);
        match String::from_utf8(bytes) {
            Ok(text) => self.run_text(&name, Arc::from(text), Some(path.to_path_buf())),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let file = self.sm.add(name, Arc::from(text));
                // the lossy text has U+FFFD (3 bytes) where the bad byte was
                self.diags.push(
                    Diagnostic::error(Span::new(file, at, at + 3), "the file is not valid UTF-8")
                        .label("this byte is not UTF-8")
                        .help("save the config as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"),
                );
            }
        }
        Ok(())
    }

    /// Process a file's text. `path` is used for includes relative to it.
    pub fn run_text(&mut self, name: &str, text: Arc<str>, path: Option<PathBuf>) {
        let file = self.sm.add(name.to_string(), text.clone());
        let canon = path
            .as_ref()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .unwrap_or_else(|| PathBuf::from(name));
        self.include_stack.push((canon, name.to_string()));
        let (toks, diags) = Lexer::new(&text, file).tokenize();
        self.diags.extend(diags);
        let base = path
            .as_ref()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let depth_at_start = self.conds.len();
        self.process(toks, base.as_deref(), 0);
        while self.conds.len() > depth_at_start {
            let c = self.conds.pop().expect("cond");
            self.diags.push(
                Diagnostic::error(c.span, "`#!ifdef`/`#!ifndef` without a matching `#!endif`")
                    .label("opened here")
                    .help("add `#!endif` before the end of the file"),
            );
        }
        self.include_stack.pop();
    }

    fn process(&mut self, toks: Vec<Token>, base: Option<&Path>, expand_depth: u32) {
        let mut it = toks.into_iter().peekable();
        while let Some(t) = it.next() {
            match &t.tok {
                Tok::Directive(name, rest) => {
                    let (name, rest) = (name.clone(), rest.clone());
                    self.directive(&name, &rest, t.span, base);
                }
                _ if !self.active() => {}
                Tok::Ident(id) if id == "include_file" || id == "import_file" => {
                    let import = id == "import_file";
                    match it.peek() {
                        Some(Token {
                            tok: Tok::Str(p),
                            span,
                            ..
                        }) => {
                            let (p, sp) = (p.clone(), t.span.to(*span));
                            it.next();
                            self.include(&p, sp, base, import);
                        }
                        _ => self.diags.push(
                            Diagnostic::error(t.span, format!("`{id}` needs a quoted file name"))
                                .help(format!("write `{id} \"file.cfg\"`")),
                        ),
                    }
                }
                Tok::Ident(id) if id == "loadmodule" => {
                    // Kamailio defines MOD_<name> for every loaded module
                    if let Some(Token {
                        tok: Tok::Str(p), ..
                    }) = it.peek()
                    {
                        let base = p.rsplit('/').next().unwrap_or(p);
                        let name = base.strip_suffix(".so").unwrap_or(base);
                        self.define(format!("MOD_{name}"), String::new());
                    }
                    self.out.push(t);
                }
                Tok::Ident(id) if self.defines.contains_key(id.as_str()) => {
                    if expand_depth == 0 {
                        self.expansion_budget = MAX_EXPANSION_TOKENS;
                    } else if self.expansion_budget == 0 {
                        continue; // over budget: reported at the top level
                    }
                    if expand_depth >= MAX_EXPANSION_DEPTH {
                        self.diags.push(Diagnostic::error(
                            t.span,
                            format!("`{id}` expands recursively"),
                        ));
                        continue;
                    }
                    let value = self.defines[id.as_str()].clone();
                    let (mut vt, _) = Lexer::new(&value, t.span.file).tokenize();
                    for (i, v) in vt.iter_mut().enumerate() {
                        v.span = t.span;
                        if i == 0 {
                            v.space_before = t.space_before;
                            v.nl_before = t.nl_before;
                        } else {
                            v.nl_before = false;
                        }
                        if matches!(v.tok, Tok::Directive(..)) {
                            v.tok = Tok::Ident(String::new());
                        }
                    }
                    vt.retain(|v| !matches!(&v.tok, Tok::Ident(s) if s.is_empty()));
                    // (an empty expansion still costs one, so that budget 0 means "over")
                    let mark = self.out.len();
                    match self.expansion_budget.checked_sub(vt.len().max(1)) {
                        Some(left) => {
                            self.expansion_budget = left;
                            self.process(vt, base, expand_depth + 1);
                        }
                        None => self.expansion_budget = 0,
                    }
                    if expand_depth == 0 && self.expansion_budget == 0 {
                        self.out.truncate(mark); // no errors about a half expansion
                        self.diags.push(
                            Diagnostic::error(
                                t.span,
                                format!("`{id}` expands to more than {MAX_EXPANSION_TOKENS} tokens"),
                            )
                            .label("expanded here")
                            .help("a `#!define` that uses another define twice doubles the text at each level"),
                        );
                    }
                }
                Tok::Str(s) if !self.substs.is_empty() => {
                    let mut t = t.clone();
                    let mut s = s.clone();
                    let mut too_long = false;
                    for sb in &self.substs {
                        // each `#!subst` can multiply the length: check before replacing
                        let hits = if sb.global {
                            sb.re.find_iter(&s).count()
                        } else {
                            usize::from(sb.re.is_match(&s))
                        };
                        let bound = s.len().saturating_add(hits.saturating_mul(sb.repl.len()));
                        if bound > MAX_SUBST_LEN {
                            too_long = true;
                            break;
                        }
                        s = if sb.global {
                            sb.re.replace_all(&s, sb.repl.as_str()).into_owned()
                        } else {
                            sb.re.replace(&s, sb.repl.as_str()).into_owned()
                        };
                        // (`$1` references can still grow past the bound)
                        if s.len() > MAX_SUBST_LEN {
                            too_long = true;
                            break;
                        }
                    }
                    if too_long {
                        self.diags.push(
                            Diagnostic::error(
                                t.span,
                                format!(
                                    "`#!subst` makes this string longer than {} KiB",
                                    MAX_SUBST_LEN >> 10
                                ),
                            )
                            .help("each `#!subst` applies to the result of the ones before it"),
                        );
                        continue;
                    }
                    t.tok = Tok::Str(s);
                    self.out.push(t);
                }
                _ => self.out.push(t),
            }
        }
    }

    fn directive(&mut self, name: &str, rest: &str, span: Span, base: Option<&Path>) {
        match name {
            "ifdef" | "ifndef" => {
                let id = rest.trim();
                let parent = self.active();
                let defined = self.defines.contains_key(id);
                if parent && id.is_empty() {
                    self.diags
                        .push(Diagnostic::error(span, format!("`#!{name}` needs a name")));
                }
                let active = parent && (defined == (name == "ifdef"));
                self.conds.push(Cond {
                    active,
                    parent_active: parent,
                    seen_else: false,
                    span,
                });
            }
            "else" => match self.conds.last_mut() {
                Some(c) if !c.seen_else => {
                    c.seen_else = true;
                    c.active = c.parent_active && !c.active;
                }
                Some(_) => self.diags.push(Diagnostic::error(
                    span,
                    "a second `#!else` for the same `#!ifdef`",
                )),
                None => self
                    .diags
                    .push(Diagnostic::error(span, "`#!else` without `#!ifdef`")),
            },
            "endif" if self.conds.pop().is_none() => {
                self.diags
                    .push(Diagnostic::error(span, "`#!endif` without `#!ifdef`"));
            }
            "endif" => {}
            _ if !self.active() => {}
            "define" | "trydef" | "redefine" => {
                let rest = rest.trim_start();
                let n = rest
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                let id = &rest[..n];
                if id.is_empty() {
                    self.diags.push(
                        Diagnostic::error(span, format!("`#!{name}` needs a name"))
                            .help(format!("write `#!{name} NAME [value]`")),
                    );
                    return;
                }
                let value = rest[n..].trim().to_string();
                let exists = self.defines.contains_key(id);
                match name {
                    "define" if exists => {
                        self.diags.push(
                            Diagnostic::error(span, format!("`{id}` is already defined"))
                                .help("use `#!redefine` to change it or `#!trydef` to define it only once"),
                        );
                    }
                    "trydef" if exists => {}
                    _ => {
                        self.define(id.to_string(), value);
                    }
                }
            }
            "undef" => {
                self.defines.remove(rest.trim());
            }
            "defenv" | "defenvs" => {
                // `#!defenv NAME=ENVVAR` or `#!defenv ENVVAR`
                let r = rest.trim();
                let (id, var) = r.split_once('=').unwrap_or((r, r));
                let v = std::env::var(var.trim()).unwrap_or_default();
                let v = if name == "defenvs" {
                    format!("\"{v}\"")
                } else {
                    v
                };
                self.define(id.trim().to_string(), v);
            }
            "subst" | "substdef" | "substdefs" => self.subst(name, rest, span),
            "include_file" | "import_file" => {
                let r = rest.trim();
                let p = r.trim_matches(|c| c == '"' || c == '\'');
                if p.is_empty() {
                    self.diags.push(Diagnostic::error(
                        span,
                        format!("`#!{name}` needs a file name"),
                    ));
                    return;
                }
                self.include(p, span, base, name == "import_file");
            }
            // headers and unknown `#!` lines (e.g. `#!/usr/sbin/kamailio`) are comments
            _ => {}
        }
    }

    fn subst(&mut self, name: &str, rest: &str, span: Span) {
        let r = rest.trim();
        let inner = match (r.chars().next(), r.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(e)) if e == q && r.len() >= 2 => &r[1..r.len() - 1],
            _ => {
                self.diags.push(
                    Diagnostic::error(span, format!("`#!{name}` needs a quoted expression"))
                        .help(format!("write `#!{name} \"/regex/replacement/flags\"`")),
                );
                return;
            }
        };
        let Some(delim) = inner.chars().next() else {
            self.diags.push(Diagnostic::error(
                span,
                format!("empty `#!{name}` expression"),
            ));
            return;
        };
        // split on unescaped delimiters
        let mut parts: Vec<String> = vec![String::new()];
        let mut chars = inner[delim.len_utf8()..].chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&delim) {
                parts.last_mut().expect("part").push(delim);
                chars.next();
            } else if c == delim {
                parts.push(String::new());
            } else {
                parts.last_mut().expect("part").push(c);
            }
        }
        if parts.len() != 3 {
            self.diags.push(
                Diagnostic::error(span, format!("bad `#!{name}` expression")).help(format!(
                    "write `#!{name} \"{delim}regex{delim}replacement{delim}flags\"`"
                )),
            );
            return;
        }
        let flags = &parts[2];
        let mut b = regex::RegexBuilder::new(&parts[0]);
        b.case_insensitive(flags.contains('i'));
        let re = match b.build() {
            Ok(r) => r,
            Err(e) => {
                self.diags.push(Diagnostic::error(
                    span,
                    format!("bad regular expression in `#!{name}`: {e}"),
                ));
                return;
            }
        };
        // `\1` back references become `${1}`
        let mut repl = String::new();
        let mut rc = parts[1].chars().peekable();
        while let Some(c) = rc.next() {
            match c {
                '\\' if rc.peek().is_some_and(char::is_ascii_digit) => {
                    repl.push_str(&format!("${{{}}}", rc.next().expect("digit")));
                }
                '\\' if rc.peek().is_some() => repl.push(rc.next().expect("char")),
                '$' => repl.push_str("$$"),
                c => repl.push(c),
            }
        }
        if name != "subst" {
            let id = parts[0].clone();
            let v = if name == "substdefs" {
                format!("\"{}\"", parts[1])
            } else {
                parts[1].clone()
            };
            self.define(id, v);
        }
        self.substs.push(Subst {
            re,
            repl,
            global: flags.contains('g'),
        });
    }

    fn include(&mut self, p: &str, span: Span, base: Option<&Path>, import: bool) {
        let kind = if import {
            "import_file"
        } else {
            "include_file"
        };
        if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags
                .push(Diagnostic::error(span, "files are included too deeply"));
            return;
        }
        self.includes += 1;
        if self.includes > MAX_INCLUDES {
            if self.includes == MAX_INCLUDES + 1 {
                self.diags.push(
                    Diagnostic::error(span, format!("more than {MAX_INCLUDES} files included"))
                        .help("is a file included more than once in a file that is itself included repeatedly?"),
                );
            }
            return;
        }
        let rel = Path::new(p);
        let mut candidates = Vec::new();
        if rel.is_absolute() {
            candidates.push(rel.to_path_buf());
        } else {
            // Kamailio 5.6: the working directory first, then the directory
            // of the including file.
            candidates.push(rel.to_path_buf());
            if let Some(b) = base {
                candidates.push(b.join(rel));
            }
        }
        let Some(found) = candidates.into_iter().find(|c| c.is_file()) else {
            if !import {
                self.diags.push(
                    Diagnostic::error(span, format!("cannot find the included file `{p}`"))
                        .label("included here")
                        .help("a relative path is looked up in the working directory, then next to the including file; use `import_file` for an optional file"),
                );
            }
            return;
        };
        let canon = std::fs::canonicalize(&found).unwrap_or_else(|_| found.clone());
        if let Some(pos) = self.include_stack.iter().position(|(c, _)| *c == canon) {
            let mut chain: Vec<&str> = self.include_stack[pos..]
                .iter()
                .map(|(_, n)| n.as_str())
                .collect();
            let shown = found.display().to_string();
            chain.push(&shown);
            self.diags.push(
                Diagnostic::error(
                    span,
                    format!("include cycle: `{p}` is already being included"),
                )
                .label(format!("{kind} here"))
                .help(format!("the chain is {}", chain.join(" -> "))),
            );
            return;
        }
        self.depth += 1;
        let read = self.run_file(&found);
        self.depth -= 1;
        match read {
            Ok(()) => {}
            Err(e) => {
                if !import {
                    self.diags
                        .push(Diagnostic::error(span, format!("cannot read `{p}`: {e}")));
                }
            }
        }
    }
}

/// Replace with spaces the bytes that are not UTF-8 inside comments (`#`,
/// `//`, `/* */`), leaving every other byte as it is. The scan follows the
/// lexer's rules on the raw bytes: every byte that structures the config is
/// ASCII, and no byte of a multi-byte UTF-8 sequence is.
fn blank_non_utf8_in_comments(bytes: &mut [u8]) {
    if std::str::from_utf8(bytes).is_ok() {
        return;
    }
    let mut comments: Vec<std::ops::Range<usize>> = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let next = bytes.get(i + 1).copied();
        let line_end =
            |from: usize| memchr::memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |k| from + k);
        if c == b'"' || c == b'\'' {
            // a string; in `"..."` a backslash escapes the next byte
            i += 1;
            while let Some(&b) = bytes.get(i) {
                i += if b == b'\\' && c == b'"' { 2 } else { 1 };
                if b == c {
                    break;
                }
            }
        } else if (c == b'#' || c == b'!') && next == Some(b'!') {
            i = line_end(i); // a directive
        } else if c == b'#' || (c == b'/' && next == Some(b'/')) {
            let end = line_end(i);
            comments.push(i..end);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            let (start, mut depth) = (i, 1);
            i += 2;
            while i < bytes.len() && depth > 0 {
                match (bytes[i], bytes.get(i + 1)) {
                    (b'*', Some(b'/')) => (depth, i) = (depth - 1, i + 2),
                    (b'/', Some(b'*')) => (depth, i) = (depth + 1, i + 2),
                    _ => i += 1,
                }
            }
            comments.push(start..i.min(bytes.len()));
        } else {
            i += 1;
        }
    }
    let mut pos = 0;
    while let Err(e) = std::str::from_utf8(&bytes[pos..]) {
        let bad = pos + e.valid_up_to();
        let len = e.error_len().unwrap_or(bytes.len() - bad);
        if !comments.iter().any(|r| r.contains(&bad)) {
            return; // reported by the caller
        }
        bytes[bad..bad + len].fill(b' ');
        pos = bad + len;
    }
}
