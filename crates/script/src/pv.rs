//! Pseudo-variables and format strings: the sub-language used inside the config
//! (`$ru`, `$hdr(From)`, `$(hdr(Via)[1]{s.len})`, `"text $var(x) more"`),
//! parsed once at load and evaluated at run time without parsing.

use crate::registry::{PvError, PvImpl, PvIndex, TransformImpl};
use crate::value::Value;
use bytes::Bytes;

/// How the `[...]` index of a PV was written.
pub enum IndexSpec<C> {
    None,
    Int(i32),
    All,
    /// `[$var(i)]`: evaluated at run time.
    Pv(Box<PvSpec<C>>),
}

/// A resolved pseudo-variable: class implementation, optional index and
/// transformations, plus its source text for log lines.
pub struct PvSpec<C> {
    pub imp: Box<dyn PvImpl<C>>,
    pub index: IndexSpec<C>,
    pub transforms: Vec<Box<dyn TransformImpl<C>>>,
    pub text: Box<str>,
}

impl<C> PvSpec<C> {
    fn eval_index(&self, ctx: &mut C) -> PvIndex {
        match &self.index {
            IndexSpec::None => PvIndex::None,
            IndexSpec::Int(i) => PvIndex::At(*i),
            IndexSpec::All => PvIndex::All,
            IndexSpec::Pv(p) => PvIndex::At(p.get(ctx).to_int()),
        }
    }

    /// Read the value, applying transformations; a failing transformation gives Null
    /// (as in Kamailio, where assigning a failed read unsets the destination:
    /// `$var` becomes 0, an `$avp` is deleted).
    pub fn get(&self, ctx: &mut C) -> Value {
        self.try_get(ctx).unwrap_or(Value::Null)
    }

    /// Read the value; None when a transformation failed (`{s.int}` on `"ab"`,
    /// any `s.*` on a null value, `{s.substr}` out of range ...). Kamailio prints
    /// a failed read as nothing in a format string, and a null value as `<null>`.
    pub fn try_get(&self, ctx: &mut C) -> Option<Value> {
        let idx = self.eval_index(ctx);
        let mut v = self.imp.get(ctx, idx);
        for t in &self.transforms {
            v = t.apply(ctx, v)?;
        }
        Some(v)
    }

    pub fn set(&self, ctx: &mut C, v: Value) -> Result<(), PvError> {
        let idx = self.eval_index(ctx);
        self.imp.set(ctx, idx, v)
    }

    pub fn writable(&self) -> bool {
        self.transforms.is_empty() && self.imp.writable()
    }
}

/// One piece of a format string.
pub enum FmtPart<C> {
    Text(Bytes),
    Pv(PvSpec<C>),
}

/// Text with embedded PVs (`"From $fu to $ru\n"`).
pub struct Format<C> {
    pub parts: Vec<FmtPart<C>>,
}

impl<C> Format<C> {
    /// The constant text when the format has no PV (no run-time work at all).
    pub fn as_static(&self) -> Option<&Bytes> {
        match self.parts.as_slice() {
            [FmtPart::Text(t)] => Some(t),
            _ => None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Evaluate into a buffer (nulls print as `<null>`).
    pub fn eval_into(&self, ctx: &mut C, out: &mut Vec<u8>) {
        for p in &self.parts {
            match p {
                FmtPart::Text(t) => out.extend_from_slice(t),
                FmtPart::Pv(pv) => {
                    if let Some(v) = pv.try_get(ctx) {
                        v.write_to(out)
                    }
                }
            }
        }
    }

    /// Evaluate to a string; a static or single-PV format allocates nothing new.
    pub fn eval(&self, ctx: &mut C) -> Bytes {
        match self.parts.as_slice() {
            [] => Bytes::new(),
            [FmtPart::Text(t)] => t.clone(),
            [FmtPart::Pv(pv)] => pv.try_get(ctx).map(|v| v.to_bytes()).unwrap_or_default(),
            _ => {
                let mut out = Vec::with_capacity(64);
                self.eval_into(ctx, &mut out);
                Bytes::from(out)
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Parsing (load time only).
//
// Syntax, as Kamailio reads it:
//   `$name`                       name = ASCII letters, digits, `_`
//   `$name(inner)`                inner with balanced `(` `)`, passed raw to the class
//   `$(name)` `$(name(inner))`    the long form, which alone allows
//   `...[index]`                  an int (may be negative), `*`, or a PV
//   `...{tr.a}{tr.b,p1,p2}`       transformations; a parameter is a PV or text up
//                                 to the next `,` or `}` (no escapes, as Kamailio)
//   `$$`                          not a PV: a literal `$` inside a format
// ---------------------------------------------------------------------------

use crate::registry::{FixupCtx, TrParam};

/// The syntactic form of one PV, before name resolution.
struct RawPv<'a> {
    name: &'a str,
    inner: Option<&'a str>,
    index: RawIndex<'a>,
    transforms: Vec<RawTr<'a>>,
    len: usize,
}

enum RawIndex<'a> {
    None,
    Int(i32),
    All,
    Pv(&'a str),
}

struct RawTr<'a> {
    /// Whole `{...}` text for messages.
    text: &'a str,
    class: &'a str,
    method: &'a str,
    params: Vec<RawParam<'a>>,
}

enum RawParam<'a> {
    Text(&'a str),
    Pv(&'a str),
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t' || b == b'\n' || b == b'\r'
}

/// Nesting depth limit: nested PVs in indexes and transformation parameters
/// recurse; a hostile input must not overflow the stack.
const MAX_DEPTH: u32 = 32;

/// Position just after the `)` matching an already-consumed `(` whose content
/// starts at `start`; None when unbalanced.
fn balanced_end(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0u32;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            b'(' => depth += 1,
            b')' => {
                if depth == 0 {
                    return Some(i);
                }
                depth -= 1;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn scan_raw(text: &str, depth: u32) -> Result<RawPv<'_>, String> {
    if depth > MAX_DEPTH {
        return Err("pseudo-variables nested too deeply".into());
    }
    let b = text.as_bytes();
    if b.first() != Some(&b'$') {
        return Err("a pseudo-variable must start with `$`".into());
    }
    let mut p = 1;
    let long = b.get(p) == Some(&b'(');
    if long {
        p += 1;
    }
    if b.get(p) == Some(&b'$') {
        return Err("`$$` is a literal `$`, not a pseudo-variable".into());
    }
    let name_start = p;
    while p < b.len() && is_name_char(b[p]) {
        p += 1;
    }
    let name = &text[name_start..p];
    if name.is_empty() {
        return Err(match b.get(p) {
            None => "`$` at the end of the text must start a pseudo-variable (write `$$` for a literal `$`)"
                .to_string(),
            Some(_) => format!(
                "`$` followed by `{}` does not start a pseudo-variable (write `$$` for a literal `$`)",
                char_at(text, p)
            ),
        });
    }
    let mut inner = None;
    if b.get(p) == Some(&b'(') {
        let s = p + 1;
        let e = balanced_end(b, s).ok_or_else(|| format!("missing `)` after `${name}(`"))?;
        inner = Some(&text[s..e]);
        p = e + 1;
    }
    if !long {
        return Ok(RawPv { name, inner, index: RawIndex::None, transforms: Vec::new(), len: p });
    }
    let mut index = RawIndex::None;
    if b.get(p) == Some(&b'[') {
        p += 1;
        match b.get(p) {
            Some(b'$') => {
                let r = scan_raw(&text[p..], depth + 1)?;
                index = RawIndex::Pv(&text[p..p + r.len]);
                p += r.len;
            }
            Some(b'*') => {
                index = RawIndex::All;
                p += 1;
            }
            Some(c) if *c == b'-' || c.is_ascii_digit() => {
                let s = p;
                p += 1;
                while p < b.len() && b[p].is_ascii_digit() {
                    p += 1;
                }
                let n = crate::value::parse_int(&b[s..p])
                    .ok_or_else(|| format!("bad index `{}` in `${name}`", &text[s..p]))?;
                index = RawIndex::Int(n);
            }
            _ => return Err(format!("bad index in `$({name}...)`: expected a number, `*` or a pseudo-variable")),
        }
        if b.get(p) != Some(&b']') {
            return Err(format!("missing `]` after the index of `$({name}...)`"));
        }
        p += 1;
    }
    let mut transforms = Vec::new();
    loop {
        while p < b.len() && is_space(b[p]) {
            p += 1;
        }
        if b.get(p) != Some(&b'{') {
            break;
        }
        let (tr, n) = scan_tr(&text[p..], depth)?;
        transforms.push(tr);
        p += n;
    }
    if b.get(p) != Some(&b')') {
        return Err(match b.get(p) {
            None => format!("missing `)` to close `$({name}...`"),
            Some(_) => format!("unexpected `{}` in `$({name}...)`: expected `)`", char_at(text, p)),
        });
    }
    p += 1;
    Ok(RawPv { name, inner, index, transforms, len: p })
}

fn char_at(text: &str, p: usize) -> char {
    text.get(p..).and_then(|s| s.chars().next()).unwrap_or('?')
}

/// Scan one `{class.method,params}` at the start of `text`.
fn scan_tr(text: &str, depth: u32) -> Result<(RawTr<'_>, usize), String> {
    let b = text.as_bytes();
    let mut p = 1;
    let cs = p;
    while p < b.len() && b[p] != b'.' && b[p] != b'}' && b[p] != b',' {
        p += 1;
    }
    if b.get(p) != Some(&b'.') {
        let shown: String = text.chars().take(40).collect();
        return Err(format!("bad transformation `{shown}`: expected `{{class.method}}`"));
    }
    let class = &text[cs..p];
    p += 1;
    let ms = p;
    while p < b.len() && b[p] != b'}' && b[p] != b',' {
        p += 1;
    }
    let method = &text[ms..p];
    let mut params = Vec::new();
    while b.get(p) == Some(&b',') {
        p += 1;
        let ps = p;
        let mut q = p;
        while q < b.len() && is_space(b[q]) {
            q += 1;
        }
        if b.get(q) == Some(&b'$') && b.get(q + 1) != Some(&b'$') {
            let r = scan_raw(&text[q..], depth + 1)?;
            params.push(RawParam::Pv(&text[q..q + r.len]));
            p = q + r.len;
            while p < b.len() && is_space(b[p]) {
                p += 1;
            }
        } else {
            while p < b.len() && b[p] != b',' && b[p] != b'}' {
                p += 1;
            }
            let raw = &text[ps..p];
            // Kamailio skips blanks before a parameter; a parameter made only of
            // blanks is kept as written (`{s.select,1, }` splits on spaces).
            let t = raw.trim_start_matches([' ', '\t', '\n', '\r']);
            params.push(RawParam::Text(if t.is_empty() { raw } else { t }));
        }
        if b.get(p) != Some(&b',') && b.get(p) != Some(&b'}') {
            break;
        }
    }
    if b.get(p) != Some(&b'}') {
        let shown: String = text.chars().take(40).collect();
        return Err(format!("missing `}}` to close the transformation `{shown}`"));
    }
    p += 1;
    Ok((RawTr { text: &text[..p], class, method, params }, p))
}

/// The byte length of the pseudo-variable at the start of `text`, without
/// resolving names; None when `text` does not start with a well-formed PV
/// (including `$$`, which is not a PV).
pub fn scan_pv_len(text: &str) -> Option<usize> {
    scan_raw(text, 0).ok().map(|r| r.len)
}

/// Parse one pseudo-variable at the start of `text` (which starts with `$`),
/// resolving its class and transformations in the registry. Returns the PV and
/// the number of bytes consumed.
pub fn parse_pv<C>(fx: &mut FixupCtx<'_, C>, text: &str) -> Result<(PvSpec<C>, usize), String> {
    let raw = scan_raw(text, 0)?;
    let spec = resolve(fx, text, &raw)?;
    Ok((spec, raw.len))
}

fn resolve<C>(fx: &mut FixupCtx<'_, C>, text: &str, raw: &RawPv<'_>) -> Result<PvSpec<C>, String> {
    let reg = fx.registry;
    let class = match reg.pv_classes.get(raw.name) {
        Some(c) => c,
        None => {
            let mut msg = format!("unknown pseudo-variable class `${}`", raw.name);
            if let Some(s) = did_you_mean(raw.name, reg.pv_classes.keys().copied()) {
                msg.push_str(&format!("; did you mean `${s}`?"));
            }
            return Err(msg);
        }
    };
    let imp = (class.parse)(fx, raw.inner).map_err(|e| format!("in `{}`: {e}", &text[..raw.len]))?;
    let index = match raw.index {
        RawIndex::None => IndexSpec::None,
        RawIndex::Int(i) => IndexSpec::Int(i),
        RawIndex::All => IndexSpec::All,
        RawIndex::Pv(t) => IndexSpec::Pv(Box::new(parse_pv(fx, t)?.0)),
    };
    let mut transforms = Vec::with_capacity(raw.transforms.len());
    for tr in &raw.transforms {
        let def = match reg.transforms.get(tr.class) {
            Some(d) => d,
            None => {
                let mut msg = format!("unknown transformation class `{}` in `{}`", tr.class, tr.text);
                if let Some(s) = did_you_mean(tr.class, reg.transforms.keys().copied()) {
                    msg.push_str(&format!("; did you mean `{s}`?"));
                }
                return Err(msg);
            }
        };
        let mut params = Vec::with_capacity(tr.params.len());
        for p in &tr.params {
            params.push(match p {
                RawParam::Text(t) => TrParam::Str(Bytes::copy_from_slice(t.as_bytes())),
                RawParam::Pv(t) => TrParam::Pv(Box::new(parse_pv(fx, t)?.0)),
            });
        }
        let t = (def.parse)(fx, tr.method, params).map_err(|e| format!("in `{}`: {e}", tr.text))?;
        transforms.push(t);
    }
    Ok(PvSpec { imp, index, transforms, text: text[..raw.len].into() })
}

/// Parse a format string: text with PVs, `$$` for a literal `$`. As in
/// Kamailio, any other `$` must start a valid PV (`"cost 5$"` is an error).
pub fn parse_format<C>(fx: &mut FixupCtx<'_, C>, text: &str) -> Result<Format<C>, String> {
    let b = text.as_bytes();
    let mut parts: Vec<FmtPart<C>> = Vec::new();
    let mut lit: Vec<u8> = Vec::new();
    let mut p = 0;
    while p < b.len() {
        match memchr::memchr(b'$', &b[p..]) {
            None => {
                lit.extend_from_slice(&b[p..]);
                break;
            }
            Some(off) => {
                lit.extend_from_slice(&b[p..p + off]);
                p += off;
            }
        }
        if b.get(p + 1) == Some(&b'$') {
            lit.push(b'$');
            p += 2;
            continue;
        }
        let (spec, n) = parse_pv(fx, &text[p..])?;
        if !lit.is_empty() {
            parts.push(FmtPart::Text(Bytes::from(std::mem::take(&mut lit))));
        }
        parts.push(FmtPart::Pv(spec));
        p += n;
    }
    if !lit.is_empty() || parts.is_empty() {
        parts.push(FmtPart::Text(Bytes::from(lit)));
    }
    Ok(Format { parts })
}

/// The closest candidate by edit distance, when close enough to be a likely typo.
pub fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = edit_distance(name, c);
        if d <= limit && best.is_none_or(|(bd, bs)| d < bd || (d == bd && c < bs)) {
            best = Some((d, c));
        }
    }
    best.map(|(_, s)| s)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(!a[i - 1].eq_ignore_ascii_case(&b[j - 1]));
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}
