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
        let mut v = self.imp.try_get(ctx, idx)?;
        for t in &self.transforms {
            v = t.apply(ctx, v)?;
        }
        Some(v)
    }

    /// Read where an integer is wanted (see `PvImpl::get_int`); a
    /// transformation's result converts.
    pub fn get_int(&self, ctx: &mut C) -> i32 {
        if self.transforms.is_empty() {
            let idx = self.eval_index(ctx);
            return self.imp.get_int(ctx, idx);
        }
        self.get(ctx).to_int()
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

/// As Kamailio's: a `.` belongs to the name (`$ruri.user`), so `"$rU."` in
/// a string names `$rU.` (write `$(rU).`).
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
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
    if b.get(p) == Some(&b'?') {
        // `$?`: Kamailio's short name of `$rc`
        p += 1;
    } else {
        while p < b.len() && is_name_char(b[p]) {
            p += 1;
        }
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
        return Ok(RawPv {
            name,
            inner,
            index: RawIndex::None,
            transforms: Vec::new(),
            len: p,
        });
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
            _ => {
                return Err(format!(
                    "bad index in `$({name}...)`: expected a number, `*` or a pseudo-variable"
                ))
            }
        }
        if b.get(p) != Some(&b']') {
            return Err(format!("missing `]` after the index of `$({name}...)`"));
        }
        p += 1;
    }
    let mut transforms = Vec::new();
    loop {
        // Blanks may follow a transformation (checked on Kamailio), not precede
        // the first one.
        if !transforms.is_empty() {
            while p < b.len() && is_space(b[p]) {
                p += 1;
            }
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
            Some(_) => format!(
                "unexpected `{}` in `$({name}...)`: expected `)`",
                char_at(text, p)
            ),
        });
    }
    p += 1;
    Ok(RawPv {
        name,
        inner,
        index,
        transforms,
        len: p,
    })
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
        return Err(format!(
            "bad transformation `{shown}`: expected `{{class.method}}`"
        ));
    }
    let class = &text[cs..p];
    p += 1;
    let ms = p;
    while p < b.len() && b[p] != b'}' && b[p] != b',' {
        p += 1;
    }
    let method = &text[ms..p];
    let mut params = Vec::new();
    if class == "re" && b.get(p) == Some(&b',') {
        // `{re.subst,/re/repl/flags}`: the expression runs to the closing
        // `}` (commas included); `\}` and `}` inside `(...)` do not close it.
        p += 1;
        let ps = p;
        let mut depth = 0u32;
        while p < b.len() {
            match b[p] {
                b'\\' => p += 1,
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b'}' if depth == 0 => break,
                _ => {}
            }
            p += 1;
        }
        params.push(RawParam::Text(text.get(ps..p).unwrap_or("")));
    }
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
        return Err(format!(
            "missing `}}` to close the transformation `{shown}`"
        ));
    }
    p += 1;
    Ok((
        RawTr {
            text: &text[..p],
            class,
            method,
            params,
        },
        p,
    ))
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
            let head = raw.name.trim_end_matches('.');
            // the longest known name before a dot
            let known = raw
                .name
                .rmatch_indices('.')
                .map(|(i, _)| &raw.name[..i])
                .find(|c| reg.pv_classes.contains_key(c));
            if let Some(cls) = known {
                // `"... $rU."`: Kamailio refuses it the same way
                msg.push_str(&format!(
                    "; a `.` after a name is part of it: write `$({cls})` before the dot"
                ));
            } else if let Some(s) = did_you_mean(head, reg.pv_classes.keys().copied()) {
                msg.push_str(&format!("; did you mean `${s}`?"));
            }
            return Err(msg);
        }
    };
    let imp =
        (class.parse)(fx, raw.inner).map_err(|e| format!("in `{}`: {e}", &text[..raw.len]))?;
    if !matches!(raw.index, RawIndex::None) && !imp.accepts_index() {
        return Err(if raw.name.starts_with("xav") {
            format!(
                "`${}` takes no `[index]` after its name: put the indexes inside, as in `${}(name[0]=>field[1])`",
                raw.name, raw.name
            )
        } else {
            format!("`${}` takes no `[index]`", raw.name)
        });
    }
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
                let mut msg = format!(
                    "unknown transformation class `{}` in `{}`",
                    tr.class, tr.text
                );
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
    Ok(PvSpec {
        imp,
        index,
        transforms,
        text: text[..raw.len].into(),
    })
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

/// Edit distance counting a swap of two neighbours as one edit
/// (optimal string alignment), ASCII case-insensitive.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (j, x) in d.iter_mut().enumerate().take(w) {
        *x = j;
    }
    for i in 1..=a.len() {
        d[i * w] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::test_support::{eval, fmt, pv, TestCtx};
    use proptest::prelude::*;

    fn get(text: &str) -> Value {
        let (spec, n) = pv(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(n, text.len(), "{text}");
        spec.get(&mut TestCtx::default())
    }

    #[test]
    fn scan_lengths() {
        let c: &[(&str, Option<usize>)] = &[
            ("$ru", Some(3)),
            ("$ru;", Some(3)),
            ("$rU)", Some(3)),
            ("$T_reply_code == 486", Some(13)),
            ("$var(x) = 1;", Some(7)),
            ("$sht(a=>calls-to::10.10.10.10) + 1", Some(30)),
            ("$sht(a=>$ci) ", Some(12)),
            ("$shv(f(o)o)x", Some(11)),
            ("$(hdr(Via)[1]{s.len})", Some(21)),
            ("$(hdr(Via)[-1])", Some(15)),
            ("$(hdr(Via)[*])", Some(14)),
            ("$(hdr(Via)[$var(i)]{s.len}) + 1", Some(27)),
            ("$(ru{s.select,1,,}{s.len})", Some(26)),
            ("$(ru{s.replace,$var(a),b})", Some(26)),
            ("$(ru)", Some(5)),
            ("$(avp(x){s.toupper} {s.len} )x", Some(29)),
            // Checked on Kamailio: no blank before the first transformation.
            ("$(avp(x) {s.len})", None),
            ("$$", None),
            ("$", None),
            ("$ ", None),
            ("$(", None),
            ("$()", None),
            ("$var(x", None),
            ("$(var(x)", None),
            ("$(var(x)[1)", None),
            ("$(var(x)[a])", None),
            ("$(var(x){s.len)", None),
            ("$(var(x){s.len}", None),
            ("$(var(x)x)", None),
            ("abc", None),
            ("", None),
        ];
        for (t, want) in c {
            assert_eq!(scan_pv_len(t), *want, "{t:?}");
        }
    }

    #[test]
    fn parse_forms_and_inner_text() {
        assert_eq!(get("$ru"), Value::from_static("sip:alice@example.com"));
        assert_eq!(get("$(ru)"), Value::from_static("sip:alice@example.com"));
        assert_eq!(get("$T_reply_code"), Value::Int(486));
        // The class receives the raw balanced inner text.
        assert_eq!(
            get("$sht(a=>calls-to::10.10.10.10)"),
            Value::from_static("a=>calls-to::10.10.10.10")
        );
        assert_eq!(get("$sht(a=>$ci)"), Value::from_static("a=>$ci"));
        assert_eq!(get("$hdr(f(o)o)"), Value::from_static("f(o)o"));
        assert_eq!(get("$hdr( x y )"), Value::from_static(" x y "));
        // Indexes.
        assert_eq!(get("$(hdr(Via)[1])"), Value::from_static("Via[1]"));
        assert_eq!(get("$(hdr(Via)[-2])"), Value::from_static("Via[-2]"));
        assert_eq!(get("$(hdr(Via)[*])"), Value::from_static("Via[*]"));
        assert_eq!(
            get("$(hdr(Via)[$T_reply_code])"),
            Value::from_static("Via[486]")
        );
        assert_eq!(get("$(hdr(Via)[1]{s.len})"), Value::Int(6));
        // Transformations with PV and text parameters.
        assert_eq!(
            get("$(ru{s.select,1,:})"),
            Value::from_static("alice@example.com")
        );
        assert_eq!(
            get("$(ru{s.select,0,@}{s.substr,4,0})"),
            Value::from_static("alice")
        );
        assert_eq!(
            get("$(ru{s.replace,$hdr(alice),bob})"),
            Value::from_static("sip:bob@example.com")
        );
        assert_eq!(
            get("$(ru{s.substr,$(hdr(x){s.len}),3})"),
            Value::from_static("ip:")
        );
        let (spec, _) = pv("$(hdr(Via)[1]{s.len}) + 1").unwrap();
        assert_eq!(&*spec.text, "$(hdr(Via)[1]{s.len})");
        assert!(!spec.writable());
        assert!(pv("$avp(x)").unwrap().0.writable());
    }

    #[test]
    fn parse_errors() {
        let e = pv("$foo").err().unwrap();
        assert_eq!(e, "unknown pseudo-variable class `$foo`");
        let e = pv("$vra(x)").err().unwrap();
        assert!(e.starts_with("unknown pseudo-variable class `$vra`"), "{e}");
        assert!(e.contains("did you mean `$var`?"), "{e}");
        assert!(pv("$$").is_err());
        assert!(pv("$").is_err());
        assert!(pv("$var(x").err().unwrap().contains("missing `)`"));
        assert!(pv("$(var(x){s.len}").err().unwrap().contains("missing `)`"));
        assert!(pv("$(var(x){s.nope})")
            .err()
            .unwrap()
            .contains("unknown transformation `s.nope`"));
        assert!(pv("$(var(x){q.len})")
            .err()
            .unwrap()
            .contains("unknown transformation class `q`"));
        assert!(pv("$(avp(x)[$nope])").err().unwrap().contains("`$nope`"));
        // as Kamailio: `$var` takes no index
        assert!(pv("$(var(x)[0])")
            .err()
            .unwrap()
            .contains("takes no `[index]`"));
        assert!(pv("$(var(x){s.replace,$nope,a})")
            .err()
            .unwrap()
            .contains("`$nope`"));
        assert!(pv("$(avp()").is_err());
        assert!(pv("$avp()").err().unwrap().contains("needs a name"));
    }

    #[test]
    fn formats() {
        let f = fmt("no pv here").unwrap();
        assert_eq!(f.as_static().map(|b| &b[..]), Some(&b"no pv here"[..]));
        let f = fmt("").unwrap();
        assert_eq!(f.as_static().map(|b| &b[..]), Some(&b""[..]));
        // `$$` is a literal `$`, merged with the text around it (checked on Kamailio).
        let f = fmt("cost $$5 or 6$$").unwrap();
        assert_eq!(f.as_static().map(|b| &b[..]), Some(&b"cost $5 or 6$"[..]));
        assert_eq!(eval("R=$ru;"), "R=sip:alice@example.com;");
        assert_eq!(eval("$ru$T_reply_code"), "sip:alice@example.com486");
        assert_eq!(
            eval("[$(ru{s.len})] [$avp(none)] [$$]"),
            "[21] [<null>] [$]"
        );
        // A failed transformation prints nothing (checked on Kamailio), a null
        // prints `<null>`.
        assert_eq!(eval("[$(avp(none){s.len})] [$(ru{s.int})]"), "[] []");
        assert_eq!(fmt("a $ru b $ru c").unwrap().parts.len(), 5);
        // Kamailio refuses a `$` that does not start a PV ("cost 5$", "5$ off").
        for bad in ["cost 5$", "5$ off", "$ ", "x $(", "$nope", "$(ru{s.nope})"] {
            assert!(fmt(bad).is_err(), "{bad:?}");
        }
        assert!(fmt("5$ off").err().unwrap().contains("`$$`"));
    }

    #[test]
    fn var_in_format() {
        crate::builtin::var_reset_thread();
        let f = fmt("$var(fmt_x) is $var(fmt_x)\n").unwrap();
        let (x, _) = pv("$var(fmt_x)").unwrap();
        let mut ctx = TestCtx::default();
        assert_eq!(&f.eval(&mut ctx)[..], b"0 is 0\n");
        x.set(&mut ctx, Value::from_static("v")).unwrap();
        assert_eq!(&f.eval(&mut ctx)[..], b"v is v\n");
    }

    #[test]
    fn deep_nesting_is_refused_not_a_crash() {
        let mut t = String::from("$var(x)");
        for _ in 0..200 {
            t = format!("$(var(a)[{t}])");
        }
        assert!(scan_pv_len(&t).is_none());
        assert!(pv(&t).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn never_panics_on_arbitrary_text(s in "\\PC{0,60}") {
            let _ = scan_pv_len(&s);
            let _ = fmt(&s);
            let d = format!("${s}");
            let _ = scan_pv_len(&d);
            let _ = pv(&d);
        }

        #[test]
        fn never_panics_on_pv_like_text(s in "[$()\\[\\]{}.,a-z0-9_: *=>-]{0,40}") {
            let _ = scan_pv_len(&s);
            let _ = fmt(&s);
            if let Some(n) = scan_pv_len(&s) {
                prop_assert!(n <= s.len() && s.is_char_boundary(n));
            }
            let d = format!("$({s}");
            let _ = scan_pv_len(&d);
            let _ = fmt(&d);
        }
    }
}
