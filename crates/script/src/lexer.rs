//! The lexer: turns one file (or one `#!define` value) into raw tokens.
//! Preprocessor directives come out as `Tok::Directive` tokens holding the rest
//! of their (possibly `\`-continued) line; comments are skipped.

use crate::diag::Diagnostic;
use crate::source::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Semi,
    Comma,
    Assign,
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Match,
    NotMatch,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Pipe,
    Amp,
    Caret,
    Tilde,
    Shl,
    Shr,
    AndAnd,
    OrOr,
    Not,
    Colon,
    Dot,
    ColonAssign,
    PlusAssign,
    At,
    Other(char),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*`
    Ident(String),
    /// A decimal or hex number (kept as written in `Token::text`).
    Int(i64),
    /// A word starting with a digit that is not a number (`5060udp`, `db8`-like pieces).
    Word(String),
    /// A quoted string, unescaped.
    Str(String),
    /// A pseudo-variable as written (`$var(x)`, `$(hdr(Via)[0]{s.len})`).
    Pv(String),
    Punct(P),
    /// `#!name rest-of-line`
    Directive(String, String),
}

#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub span: Span,
    /// The source text (for reassembling unquoted values such as `udp:1.2.3.4:5060`).
    pub text: String,
    /// Whitespace or a comment precedes the token.
    pub space_before: bool,
    /// A newline precedes the token (since the previous one).
    pub nl_before: bool,
}

impl Token {
    pub fn is_p(&self, p: P) -> bool {
        self.tok == Tok::Punct(p)
    }
    pub fn ident(&self) -> Option<&str> {
        match &self.tok {
            Tok::Ident(s) => Some(s),
            _ => None,
        }
    }
    pub fn is_ident(&self, name: &str) -> bool {
        matches!(&self.tok, Tok::Ident(s) if s == name)
    }
}

pub struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    file: u32,
    pub diags: Vec<Diagnostic>,
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}
fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, file: u32) -> Lexer<'a> {
        Lexer {
            src,
            b: src.as_bytes(),
            pos: 0,
            file,
            diags: Vec::new(),
        }
    }

    fn span(&self, lo: usize, hi: usize) -> Span {
        Span::new(self.file, lo, hi)
    }

    /// Lex the whole input.
    pub fn tokenize(mut self) -> (Vec<Token>, Vec<Diagnostic>) {
        let mut out = Vec::new();
        let mut space = false;
        let mut nl = true;
        loop {
            // skip whitespace and comments
            while let Some(&c) = self.b.get(self.pos) {
                let next = self.b.get(self.pos + 1).copied();
                if c == b'\n' {
                    nl = true;
                    space = true;
                    self.pos += 1;
                } else if c.is_ascii_whitespace() {
                    space = true;
                    self.pos += 1;
                } else if (c == b'#' && next != Some(b'!')) || (c == b'/' && next == Some(b'/')) {
                    self.skip_line();
                    space = true;
                } else if c == b'/' && next == Some(b'*') {
                    self.skip_block_comment();
                    space = true;
                } else {
                    break;
                }
            }
            if self.pos >= self.b.len() {
                break;
            }
            let start = self.pos;
            let tok = self.next_tok();
            let Some(tok) = tok else { continue };
            let text = self.src[start..self.pos].to_string();
            out.push(Token {
                tok,
                span: self.span(start, self.pos),
                text,
                space_before: space,
                nl_before: nl,
            });
            space = false;
            nl = false;
        }
        (out, self.diags)
    }

    fn skip_line(&mut self) {
        while let Some(&c) = self.b.get(self.pos) {
            if c == b'\n' {
                break;
            }
            self.pos += 1;
        }
    }

    fn skip_block_comment(&mut self) {
        let start = self.pos;
        self.pos += 2;
        let mut depth = 1;
        while self.pos < self.b.len() {
            if self.b[self.pos] == b'*' && self.b.get(self.pos + 1) == Some(&b'/') {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return;
                }
            } else if self.b[self.pos] == b'/' && self.b.get(self.pos + 1) == Some(&b'*') {
                depth += 1;
                self.pos += 2;
            } else {
                self.pos += 1;
            }
        }
        self.diags.push(
            Diagnostic::error(self.span(start, start + 2), "unterminated comment")
                .label("this `/*` is never closed")
                .help("close the comment with `*/`"),
        );
    }

    fn next_tok(&mut self) -> Option<Tok> {
        let start = self.pos;
        let c = self.b[self.pos];
        // directives: `#!name` or `!!name`
        if (c == b'#' || c == b'!') && self.b.get(self.pos + 1) == Some(&b'!') {
            let is_dir = c == b'#'
                || self
                    .b
                    .get(self.pos + 2)
                    .is_some_and(|c| c.is_ascii_alphabetic());
            if is_dir {
                self.pos += 2;
                let ns = self.pos;
                while self.pos < self.b.len()
                    && (is_ident_char(self.b[self.pos]) || self.b[self.pos] == b'-')
                {
                    self.pos += 1;
                }
                let name = self.src[ns..self.pos].to_string();
                // rest of line with `\` continuations
                let mut rest = String::new();
                loop {
                    let ls = self.pos;
                    self.skip_line();
                    let line = &self.src[ls..self.pos];
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    if let Some(l) = line.strip_suffix('\\') {
                        // joined without the line break, as Kamailio does
                        rest.push_str(l);
                        if self.pos < self.b.len() {
                            self.pos += 1;
                            continue;
                        }
                    } else {
                        rest.push_str(line);
                    }
                    break;
                }
                return Some(Tok::Directive(name, rest));
            }
        }
        if c == b'"' || c == b'\'' {
            return Some(self.string(c));
        }
        if c == b'$' {
            let rest = &self.src[self.pos..];
            if let Some(n) = crate::pv::scan_pv_len(rest) {
                self.pos += n;
                return Some(Tok::Pv(rest[..n].to_string()));
            }
            // bad PV: take `$` plus name chars and any balanced parens so the
            // compiler reports it once.
            self.pos += 1;
            if self.b.get(self.pos) == Some(&b'(')
                || self.b.get(self.pos).is_some_and(|c| is_ident_char(*c))
            {
                while self.pos < self.b.len() && is_ident_char(self.b[self.pos]) {
                    self.pos += 1;
                }
                if self.b.get(self.pos) == Some(&b'(') {
                    let mut depth = 0;
                    while self.pos < self.b.len() {
                        match self.b[self.pos] {
                            b'(' => depth += 1,
                            b')' => {
                                depth -= 1;
                                if depth == 0 {
                                    self.pos += 1;
                                    break;
                                }
                            }
                            b'\n' | b';' => break,
                            _ => {}
                        }
                        self.pos += 1;
                    }
                }
            }
            return Some(Tok::Pv(self.src[start..self.pos].to_string()));
        }
        if is_ident_start(c) {
            while self.pos < self.b.len() && is_ident_char(self.b[self.pos]) {
                self.pos += 1;
            }
            return Some(Tok::Ident(self.src[start..self.pos].to_string()));
        }
        if c.is_ascii_digit() {
            while self.pos < self.b.len() && is_ident_char(self.b[self.pos]) {
                self.pos += 1;
            }
            let t = &self.src[start..self.pos];
            // A leading 0 means octal, as in Kamailio (`mode 0600`); `09` is
            // not a number there either.
            if t.len() > 1 && t.starts_with('0') && t.bytes().all(|c| c.is_ascii_digit()) {
                if let Ok(n) = i64::from_str_radix(&t[1..], 8) {
                    return Some(Tok::Int(n));
                }
                return Some(Tok::Word(t.to_string()));
            }
            if t.bytes().all(|c| c.is_ascii_digit()) {
                let mut n: i64 = 0;
                for d in t.bytes() {
                    n = n.saturating_mul(10).saturating_add(i64::from(d - b'0'));
                }
                return Some(Tok::Int(n));
            }
            // `101b` is binary (Kamailio's `[01]+b`; `0b101` and `2b` are not numbers).
            if let Some(bits) = t.strip_suffix('b') {
                if !bits.is_empty() && bits.bytes().all(|c| c == b'0' || c == b'1') {
                    let n = i64::from_str_radix(bits, 2).unwrap_or(i64::MAX);
                    return Some(Tok::Int(n));
                }
            }
            // Only a lower-case `0x` makes a hex number (`0XFF` is a syntax error).
            if let Some(h) = t.strip_prefix("0x") {
                if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) {
                    let n = i64::from_str_radix(h, 16).unwrap_or(i64::MAX);
                    return Some(Tok::Int(n));
                }
            }
            return Some(Tok::Word(t.to_string()));
        }
        let two = |s: &Self, d: u8| s.b.get(s.pos + 1) == Some(&d);
        let (p, n) = match c {
            b'{' => (P::LBrace, 1),
            b'}' => (P::RBrace, 1),
            b'(' => (P::LParen, 1),
            b')' => (P::RParen, 1),
            b'[' => (P::LBracket, 1),
            b']' => (P::RBracket, 1),
            b';' => (P::Semi, 1),
            b',' => (P::Comma, 1),
            b'=' if two(self, b'=') => (P::Eq, 2),
            b'=' if two(self, b'~') => (P::Match, 2),
            b'=' => (P::Assign, 1),
            b'!' if two(self, b'=') => (P::Ne, 2),
            b'!' if two(self, b'~') => (P::NotMatch, 2),
            b'!' => (P::Not, 1),
            b'<' if two(self, b'=') => (P::Le, 2),
            b'<' if two(self, b'<') => (P::Shl, 2),
            b'<' if two(self, b'>') => (P::Ne, 2),
            b'<' => (P::Lt, 1),
            b'>' if two(self, b'=') => (P::Ge, 2),
            b'>' if two(self, b'>') => (P::Shr, 2),
            b'>' => (P::Gt, 1),
            b'+' if two(self, b'=') => (P::PlusAssign, 2),
            b'+' => (P::Plus, 1),
            b'-' => (P::Minus, 1),
            b'*' => (P::Star, 1),
            b'/' => (P::Slash, 1),
            b'%' => (P::Percent, 1),
            b'|' if two(self, b'|') => (P::OrOr, 2),
            b'|' => (P::Pipe, 1),
            b'&' if two(self, b'&') => (P::AndAnd, 2),
            b'&' => (P::Amp, 1),
            b'^' => (P::Caret, 1),
            b'~' => (P::Tilde, 1),
            b':' if two(self, b'=') => (P::ColonAssign, 2),
            b':' => (P::Colon, 1),
            b'.' => (P::Dot, 1),
            b'@' => (P::At, 1),
            _ => {
                let ch = self.src[self.pos..].chars().next().unwrap_or('?');
                self.pos += ch.len_utf8();
                return Some(Tok::Punct(P::Other(ch)));
            }
        };
        self.pos += n;
        Some(Tok::Punct(p))
    }

    fn string(&mut self, q: u8) -> Tok {
        let start = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                // recover: the string ends at the end of the line where it started
                let line_end =
                    memchr::memchr(b'\n', &self.b[start..]).map_or(self.b.len(), |e| start + e);
                self.diags.push(
                    Diagnostic::error(self.span(start, start + 1), "unterminated string")
                        .label("this string is never closed")
                        .help(format!("add the closing `{}`", q as char)),
                );
                if line_end < self.b.len() {
                    self.pos = line_end;
                    let mut out = out;
                    out.truncate(0);
                    out.extend_from_slice(&self.b[start + 1..line_end]);
                    return Tok::Str(String::from_utf8_lossy(&out).into_owned());
                }
                break;
            };
            if c == q {
                self.pos += 1;
                break;
            }
            // Single-quoted strings are raw, as in Kamailio: a backslash is
            // just a backslash (so JSON escapes survive), and `'` always ends it.
            if c == b'\\' && q == b'"' {
                let Some(&e) = self.b.get(self.pos + 1) else {
                    self.pos += 1;
                    continue;
                };
                self.pos += 2;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'a' => out.push(7),
                    b'\\' => out.push(b'\\'),
                    b'"' => out.push(b'"'),
                    b'\n' => {}
                    // `\xH` / `\xHH`: a byte in hex
                    b'x' if self.b.get(self.pos).is_some_and(u8::is_ascii_hexdigit) => {
                        out.push(self.radix_byte(16, 2));
                    }
                    // `\OO` / `\OOO`: a byte in octal; a lone digit stays as
                    // written, so regex back-references like `\1` survive
                    b'0'..=b'7'
                        if self
                            .b
                            .get(self.pos)
                            .is_some_and(|d| (b'0'..=b'7').contains(d)) =>
                    {
                        self.pos -= 1;
                        out.push(self.radix_byte(8, 3));
                    }
                    _ => {
                        out.push(b'\\');
                        out.push(e);
                    }
                }
                continue;
            }
            out.push(c);
            self.pos += 1;
        }
        Tok::Str(String::from_utf8_lossy(&out).into_owned())
    }

    /// Reads up to `max` digits of `radix` at the cursor as one byte (wrapping,
    /// as a C `char` cast does).
    fn radix_byte(&mut self, radix: u32, max: usize) -> u8 {
        let mut v: u32 = 0;
        for _ in 0..max {
            let Some(d) = self
                .b
                .get(self.pos)
                .and_then(|&c| (c as char).to_digit(radix))
            else {
                break;
            };
            v = v * radix + d;
            self.pos += 1;
        }
        v as u8
    }
}
