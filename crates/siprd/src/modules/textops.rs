//! textops: regular-expression searches and header/body edits of the message.
//!
//! Behaviour observed on Kamailio 5.6:
//! - regexes are POSIX ERE with `REG_NEWLINE`: `^`/`$` match at line starts/ends
//!   (`$` is before the `\n`, so a CRLF line keeps its `\r`), `.` and `[^...]`
//!   never match `\n`. `search`, `search_body` and `subst*` are case-sensitive
//!   (unless the `i` flag), `replace` / `replace_all` are case-insensitive;
//! - `search` looks at the whole message, `subst` / `replace*` start at the
//!   first header (the first line is left alone), `*_body` at the body;
//! - edits do not change what later reads see: `is_present_hf` is false after
//!   `append_hf`, true after `remove_hf`; `remove_hf` returns 1 when it found a
//!   header (again on a second call), -1 otherwise;
//! - `append_hf` / `insert_hf` / `append_to_reply` add the text verbatim (no CRLF
//!   added); `insert_hf` goes above every header (and above the Via that
//!   `forward()` adds), `append_hf` after the last; with a header name, after /
//!   before the first such header, or at the default place when there is none;
//! - `is_method` takes a list separated by `|` or `,` (spaces allowed), compares
//!   case-insensitively; an unknown method is a load error in a list, allowed
//!   alone; for replies it checks the CSeq method;
//! - `subst` replacement: `\0`..`\9` groups, `\\`, `\n` `\r` `\t`, pseudo-variables.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{self, str_arg};
use bytes::Bytes;
use regex::bytes::{Regex, RegexBuilder};
use siprd_script::registry::{
    func, Arg, ArgSrc, CustomFixup, FixupCtx, FuncDef, FuncImpl, ParamKind,
};
use siprd_script::{route_type, Registry};
use std::sync::Arc;

#[derive(Default)]
pub struct Textops;

/// Make negated bracket expressions of a (Rust-syntax) regex exclude `\n`, as
/// POSIX `REG_NEWLINE` does.
fn newline_safe_classes(re: &str) -> String {
    let b: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 4);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\\' {
            out.push(c);
            if let Some(&n) = b.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if c == '[' {
            out.push('[');
            i += 1;
            if b.get(i) == Some(&'^') {
                out.push_str("^\\n");
                i += 1;
            }
            // copy to the closing bracket (escapes and [:class:] kept)
            if b.get(i) == Some(&']') {
                out.push(']');
                i += 1;
            }
            while i < b.len() && b[i] != ']' {
                if b[i] == '\\' {
                    out.push('\\');
                    if let Some(&n) = b.get(i + 1) {
                        out.push(n);
                    }
                    i += 2;
                    continue;
                }
                if b[i] == '[' && matches!(b.get(i + 1), Some(':' | '.' | '=')) {
                    let d = b[i + 1];
                    while i < b.len() && !(b[i] == d && b.get(i + 1) == Some(&']')) {
                        out.push(b[i]);
                        i += 1;
                    }
                    if i < b.len() {
                        out.push(b[i]);
                        out.push(']');
                        i += 2;
                    }
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            if i < b.len() {
                out.push(']');
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// Compile a POSIX ERE with Kamailio's textops flags (`REG_EXTENDED|REG_NEWLINE`).
pub fn compile_re(text: &str, icase: bool) -> Result<Regex, String> {
    let rust = newline_safe_classes(&siprd_script::compile::posix_to_rust(text));
    RegexBuilder::new(&rust)
        .multi_line(true)
        .case_insensitive(icase)
        .build()
        .map_err(|e| {
            format!(
                "bad regular expression `{text}`: {}",
                e.to_string().lines().last().unwrap_or("")
            )
        })
}

fn re_fixup(icase: bool) -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        compile_re(&src.text, icase).map(|r| Arg::Regex(Arc::new(r)))
    });
    ParamKind::Custom(f)
}

fn regex_of(a: &Arg<Ctx>) -> Option<&Regex> {
    match a {
        Arg::Regex(r) => Some(r),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// is_method

const KNOWN_METHODS: &[&str] = &[
    "INVITE",
    "CANCEL",
    "ACK",
    "BYE",
    "INFO",
    "REGISTER",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "OPTIONS",
    "PRACK",
    "UPDATE",
    "REFER",
    "PUBLISH",
    "KDMQ",
    "GET",
    "POST",
    "PUT",
    "DELETE",
];

struct MethodList(Vec<Vec<u8>>);

/// Parse an `is_method` list: `INVITE|BYE`, `INVITE, BYE`.
pub(crate) fn parse_method_list(text: &str) -> Result<Vec<Vec<u8>>, String> {
    let items: Vec<&str> = text
        .split(['|', ','])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() {
        return Err(format!("no method in `{text}`"));
    }
    if items.iter().any(|m| {
        !m.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c))
    }) {
        return Err(format!("invalid method name in `{text}`"));
    }
    if items.len() > 1 {
        if let Some(u) = items
            .iter()
            .find(|m| !KNOWN_METHODS.iter().any(|k| k.eq_ignore_ascii_case(m)))
        {
            return Err(format!(
                "unknown method `{u}` in list `{text}`: a list may hold only known methods"
            ));
        }
    }
    Ok(items.into_iter().map(|m| m.as_bytes().to_vec()).collect())
}

fn method_fixup() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        if src.text.starts_with('$') {
            return Err("is_method takes a static method list, not a pseudo-variable".into());
        }
        parse_method_list(&src.text).map(|l| Arg::Custom(Box::new(MethodList(l))))
    });
    ParamKind::Custom(f)
}

fn is_method(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(Arg::Custom(c)) = a.first() else {
        return -1;
    };
    let Some(list) = c.downcast_ref::<MethodList>() else {
        return -1;
    };
    let m: Bytes = if ctx.msg.is_request() {
        Bytes::copy_from_slice(ctx.msg.method_bytes())
    } else {
        match ctx.msg.cseq() {
            Ok((_, m)) => Bytes::copy_from_slice(m.as_bytes()),
            Err(_) => return -1,
        }
    };
    if list.0.iter().any(|x| x.eq_ignore_ascii_case(&m)) {
        1
    } else {
        -1
    }
}

// ---------------------------------------------------------------------------
// has_body(mime)

struct Mime(Vec<u8>);

fn mime_fixup() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let t = src.text.trim();
        match t.split_once('/') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() && !t.contains(' ') => Ok(Arg::Custom(
                Box::new(Mime(t.to_ascii_lowercase().into_bytes())),
            )),
            _ => Err(format!(
                "unsupported mime type `{}`: expected type/subtype",
                src.text
            )),
        }
    });
    ParamKind::Custom(f)
}

fn has_body(ctx: &Ctx) -> bool {
    !ctx.msg.body().is_empty()
}

fn has_body_mime(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(Arg::Custom(c)) = a.first() else {
        return -1;
    };
    let Some(Mime(want)) = c.downcast_ref::<Mime>() else {
        return -1;
    };
    if !has_body(ctx) {
        return -1;
    }
    // Without Content-Type a body is taken as application/sdp.
    let ct = ctx
        .msg
        .header_by_name(b"Content-Type")
        .unwrap_or(b"application/sdp");
    let ty = ct.split(|&c| c == b';').next().unwrap_or_default();
    let ty: Vec<u8> = ty
        .iter()
        .filter(|c| !c.is_ascii_whitespace())
        .copied()
        .collect();
    if ty.eq_ignore_ascii_case(want) {
        1
    } else {
        -1
    }
}

// ---------------------------------------------------------------------------
// subst

/// A parsed `/re/replacement/flags` expression (the script crate's parser,
/// with textops' multi-line regex).
pub(crate) type Subst = siprd_script::transform::Subst<Ctx>;

pub(crate) fn parse_subst(fx: &mut FixupCtx<'_, Ctx>, text: &str) -> Result<Subst, String> {
    Subst::parse_with(fx, text, compile_re)
}

fn subst_fixup() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        parse_subst(fx, &src.text).map(|s| Arg::Custom(Box::new(s)))
    });
    ParamKind::Custom(f)
}

fn subst_of(a: &[Arg<Ctx>]) -> Option<&Subst> {
    match a.first() {
        Some(Arg::Custom(c)) => c.downcast_ref::<Subst>(),
        _ => None,
    }
}

/// Apply to a standalone string (for `subst_uri`); None when nothing matched.
fn subst_str(sub: &Subst, ctx: &mut Ctx, s: &[u8]) -> Option<Vec<u8>> {
    let reps = sub.replacements(ctx, s);
    if reps.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() + 16);
    let mut pos = 0;
    for (r, t) in reps {
        out.extend_from_slice(s.get(pos..r.start).unwrap_or_default());
        out.extend_from_slice(&t);
        pos = r.end;
    }
    out.extend_from_slice(s.get(pos..).unwrap_or_default());
    Some(out)
}

/// The part of the message buffer that `subst`/`replace` work on: from the
/// first header to the end of the body.
fn headers_and_body(ctx: &Ctx) -> std::ops::Range<usize> {
    let end = ctx.msg.body_range().end.min(ctx.msg.buf().len());
    ctx.msg.headers_start().min(end)..end
}

/// Record the replacements of `reps` (ranges relative to `base`).
fn record(ctx: &mut Ctx, base: usize, reps: Vec<(std::ops::Range<usize>, Vec<u8>)>) -> i32 {
    if reps.is_empty() {
        return -1;
    }
    for (r, t) in reps {
        ctx.edits.replace(base + r.start..base + r.end, t);
    }
    1
}

/// After a body change: set Content-Length to the new body length (Kamailio
/// does this when it sends a message whose body was changed). `delta` is the
/// length change made by this call. Only the first length-changing edit can
/// update the header (edits are not revisable); a later one logs a warning.
fn fix_content_length(ctx: &mut Ctx, delta: isize) {
    let old = ctx.msg.body().len();
    let new_len = old.saturating_add_signed(delta).to_string().into_bytes();
    match ctx
        .msg
        .headers_named(b"Content-Length")
        .next()
        .map(|h| h.value_range)
    {
        Some(vr) if ctx.msg.buf().get(vr.clone()) == Some(&new_len[..]) => {}
        Some(vr) if !ctx.edits.touches(vr.clone()) => ctx.edits.replace(vr, new_len),
        Some(_) => tracing::warn!("body changed again: Content-Length could not be updated"),
        None => {
            if ctx.rcv.proto != crate::transport::Proto::Udp {
                tracing::warn!("body changed in a message without Content-Length");
            }
        }
    }
}

/// The body length change of replacements (ranges absolute in the buffer).
fn body_delta(
    body: &std::ops::Range<usize>,
    base: usize,
    reps: &[(std::ops::Range<usize>, Vec<u8>)],
) -> isize {
    let mut d = 0isize;
    for (r, t) in reps {
        let (s, e) = (base + r.start, base + r.end);
        if s >= body.start && e <= body.end {
            d += t.len() as isize - r.len() as isize;
        }
    }
    d
}

fn do_subst(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(s) = subst_of(a) else { return -1 };
    let range = headers_and_body(ctx);
    let buf = ctx.msg.buf().clone();
    let reps = s.replacements(ctx, buf.get(range.clone()).unwrap_or_default());
    let delta = body_delta(&ctx.msg.body_range(), range.start, &reps);
    let rc = record(ctx, range.start, reps);
    if delta != 0 {
        fix_content_length(ctx, delta);
    }
    rc
}

fn do_subst_body(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(s) = subst_of(a) else { return -1 };
    let br = ctx.msg.body_range();
    if br.is_empty() {
        return -1;
    }
    let buf = ctx.msg.buf().clone();
    let reps = s.replacements(ctx, buf.get(br.clone()).unwrap_or_default());
    let delta = body_delta(&br, br.start, &reps);
    let rc = record(ctx, br.start, reps);
    if delta != 0 {
        fix_content_length(ctx, delta);
    }
    rc
}

fn do_subst_uri(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(s) = subst_of(a) else { return -1 };
    if !ctx.msg.is_request() {
        return -1;
    }
    let uri = Bytes::copy_from_slice(ctx.ruri());
    match subst_str(s, ctx, &uri) {
        Some(n) => {
            ctx.new_uri = Some(Bytes::from(n));
            1
        }
        None => -1,
    }
}

/// `replace` / `replace_all`: literal replacement text (PVs expanded).
fn do_replace(ctx: &mut Ctx, a: &[Arg<Ctx>], all: bool) -> i32 {
    let Some(re) = a.first().and_then(regex_of).cloned() else {
        return -1;
    };
    let Some(txt) = a.get(1).and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    let range = headers_and_body(ctx);
    let buf = ctx.msg.buf().clone();
    let hay = buf.get(range.clone()).unwrap_or_default();
    let mut reps = Vec::new();
    for m in re.find_iter(hay) {
        reps.push((m.range(), txt.to_vec()));
        if !all {
            break;
        }
    }
    let delta = body_delta(&ctx.msg.body_range(), range.start, &reps);
    let rc = record(ctx, range.start, reps);
    if delta != 0 {
        fix_content_length(ctx, delta);
    }
    rc
}

// ---------------------------------------------------------------------------
// headers

/// A header name, or (unquoted, as Kamailio allows) a single pseudo-variable
/// holding one: `is_present_hf($var(h))`. A quoted `"$var(h)"` is refused, as
/// Kamailio refuses it.
fn hname_fixup() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let t = src.text.trim();
        if !src.quoted && t.starts_with('$') {
            let (spec, used) = siprd_script::pv::parse_pv(fx, t)?;
            if used != t.len() {
                return Err(format!("unexpected text after the variable in `{t}`"));
            }
            return Ok(Arg::Pv(Box::new(spec)));
        }
        if t.is_empty()
            || !t
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&c))
        {
            return Err(format!("invalid header name `{}`", src.text));
        }
        Ok(Arg::Str(Bytes::copy_from_slice(t.as_bytes())))
    });
    ParamKind::Custom(f)
}

/// The header name an `hname_fixup` argument gives (empty: no header matches).
fn hname(ctx: &mut Ctx, a: &Arg<Ctx>) -> Bytes {
    match a {
        Arg::Str(s) => s.clone(),
        _ => args::text(ctx, Some(a)),
    }
}

/// `append_hf` (after the named header, else at the end of the headers) and
/// `insert_hf` (before it, else first).
fn add_hf(ctx: &mut Ctx, a: &[Arg<Ctx>], append: bool) -> i32 {
    let Some(text) = a.first().and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    let default = if append {
        ctx.msg.headers_end()
    } else {
        ctx.msg.headers_start()
    };
    let at = match a.get(1) {
        Some(h) => {
            let name = hname(ctx, h);
            let found = ctx.msg.headers_named(&name).next().map(|h| {
                if append {
                    h.line.end
                } else {
                    h.line.start
                }
            });
            found.unwrap_or(default)
        }
        None => default,
    };
    ctx.edits.insert(at, text.to_vec());
    1
}

fn append_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    add_hf(ctx, a, true)
}

fn insert_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    add_hf(ctx, a, false)
}

fn remove_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(name) = a.first().and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    let name = siprd_sip::scan::trim(&name).to_vec();
    let lines: Vec<std::ops::Range<usize>> = ctx.msg.headers_named(&name).map(|h| h.line).collect();
    if lines.is_empty() {
        return -1;
    }
    for l in lines {
        ctx.edits.delete(l);
    }
    1
}

fn remove_hf_re(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = a.first().and_then(regex_of) else {
        return -1;
    };
    let lines: Vec<std::ops::Range<usize>> = ctx
        .msg
        .headers()
        .filter(|h| re.is_match(h.name))
        .map(|h| h.line)
        .collect();
    if lines.is_empty() {
        return -1;
    }
    for l in lines {
        ctx.edits.delete(l);
    }
    1
}

/// `remove_hf_exp(match, skip)`: remove headers whose name matches `match`
/// but not `skip` (both case-insensitive, compiled at load).
fn remove_hf_exp(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(re), Some(skip)) = (a.first().and_then(regex_of), a.get(1).and_then(regex_of)) else {
        return -1;
    };
    let lines: Vec<std::ops::Range<usize>> = ctx
        .msg
        .headers()
        .filter(|h| re.is_match(h.name) && !skip.is_match(h.name))
        .map(|h| h.line)
        .collect();
    if lines.is_empty() {
        return -1;
    }
    for l in lines {
        ctx.edits.delete(l);
    }
    1
}

fn search_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(hf), Some(re)) = (a.first(), a.get(1).and_then(regex_of)) else {
        return -1;
    };
    let name = hname(ctx, hf);
    if ctx.msg.headers_named(&name).any(|h| re.is_match(h.value)) {
        1
    } else {
        -1
    }
}

fn search_append(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = a.first().and_then(regex_of).cloned() else {
        return -1;
    };
    let Some(txt) = a.get(1).and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    let start = ctx.msg.start_offset();
    let end = ctx.msg.body_range().end.min(ctx.msg.buf().len());
    let buf = ctx.msg.buf().clone();
    match re.find(buf.get(start..end).unwrap_or_default()) {
        Some(m) => {
            ctx.edits.insert(start + m.end(), txt.to_vec());
            1
        }
        None => -1,
    }
}

// ---------------------------------------------------------------------------
// String checks (observed on Kamailio 5.6): case-sensitive unless `i`;
// `str_find` answers the 1-based position, `cmp_str` 1 when equal, -2 when
// the first sorts before the second, -1 after; `in_list` trims blanks around
// items; `in_list_prefix` is true when the subject starts with an item.

fn two_strs(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> Option<(Bytes, Bytes)> {
    Some((str_arg(ctx, a.first()?)?, str_arg(ctx, a.get(1)?)?))
}

fn find_at(hay: &[u8], needle: &[u8], icase: bool) -> i32 {
    if needle.is_empty() {
        // Observed: an empty needle is "found" just past the end.
        return hay.len() as i32 + 1;
    }
    if needle.len() > hay.len() {
        return -1;
    }
    let hit = if icase {
        hay.windows(needle.len())
            .position(|w| w.eq_ignore_ascii_case(needle))
    } else {
        memchr::memmem::find(hay, needle)
    };
    hit.map_or(-1, |p| p as i32 + 1)
}

fn cmp_rc(a: &[u8], b: &[u8], icase: bool) -> i32 {
    let ord = if icase {
        a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase())
    } else {
        a.cmp(b)
    };
    match ord {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Less => -2,
        std::cmp::Ordering::Greater => -1,
    }
}

fn in_list(subject: &[u8], list: &[u8], sep: &[u8], prefix: bool) -> bool {
    let Some(&sep) = sep.first() else {
        return false;
    };
    list.split(|b| *b == sep).any(|item| {
        let item = item.trim_ascii();
        if prefix {
            !item.is_empty() && subject.starts_with(item)
        } else {
            item == subject
        }
    })
}

/// A regex argument: compiled at load when constant, else per call.
fn re_or_fmt() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        if src.text.contains('$') {
            siprd_script::pv::parse_format(fx, &src.text).map(Arg::Fmt)
        } else {
            compile_re(&src.text, false).map(|r| Arg::Regex(Arc::new(r)))
        }
    });
    ParamKind::Custom(f)
}

fn search_str(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(text) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let hit = match a.get(1) {
        Some(Arg::Regex(r)) => r.is_match(&text),
        Some(other) => {
            let Some(pat) = str_arg(ctx, other) else {
                return -1;
            };
            match compile_re(&String::from_utf8_lossy(&pat), false) {
                Ok(r) => r.is_match(&text),
                Err(e) => {
                    tracing::error!("search_str: {e}");
                    return -1;
                }
            }
        }
        None => return -1,
    };
    if hit {
        1
    } else {
        -1
    }
}

fn register_string_checks(reg: &mut Registry<Ctx>) {
    let f2 = || vec![ParamKind::Format, ParamKind::Format];
    reg.add_function(def(
        "starts_with",
        f2(),
        func(|ctx, a| match two_strs(ctx, a) {
            Some((s, p)) if s.starts_with(&p) => 1,
            _ => -1,
        }),
    ));
    reg.add_function(def(
        "ends_with",
        f2(),
        func(|ctx, a| match two_strs(ctx, a) {
            Some((s, p)) if s.ends_with(&p) => 1,
            _ => -1,
        }),
    ));
    for (name, icase) in [("str_find", false), ("str_ifind", true)] {
        reg.add_function(def(
            name,
            f2(),
            func(move |ctx, a| match two_strs(ctx, a) {
                Some((s, n)) => find_at(&s, &n, icase),
                None => -1,
            }),
        ));
    }
    for (name, icase) in [("cmp_str", false), ("cmp_istr", true)] {
        reg.add_function(def(
            name,
            f2(),
            func(move |ctx, a| match two_strs(ctx, a) {
                Some((x, y)) => cmp_rc(&x, &y, icase),
                None => -1,
            }),
        ));
    }
    reg.add_function(def(
        "search_str",
        vec![ParamKind::Format, re_or_fmt()],
        func(search_str),
    ));
    for (name, prefix) in [("in_list", false), ("in_list_prefix", true)] {
        reg.add_function(def(
            name,
            vec![ParamKind::Format, ParamKind::Format, ParamKind::Format],
            func(move |ctx, a| {
                let Some((subject, list)) = two_strs(ctx, a) else {
                    return -1;
                };
                let sep = a.get(2).and_then(|x| str_arg(ctx, x)).unwrap_or_default();
                if in_list(&subject, &list, &sep, prefix) {
                    1
                } else {
                    -1
                }
            }),
        ));
    }
}

// ---------------------------------------------------------------------------

fn def(name: &'static str, params: Vec<ParamKind<Ctx>>, call: FuncImpl<Ctx>) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "textops",
        params,
        routes: route_type::ANY,
        call,
    }
}

impl Module for Textops {
    fn name(&self) -> &'static str {
        "textops"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        register_string_checks(reg);
        reg.add_function(def("is_method", vec![method_fixup()], func(is_method)));
        reg.add_function(def(
            "search",
            vec![re_fixup(false)],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(re) = a.first().and_then(regex_of) else {
                    return -1;
                };
                let start = ctx.msg.start_offset();
                let end = ctx.msg.body_range().end.min(ctx.msg.buf().len());
                if re.is_match(ctx.msg.buf().get(start..end).unwrap_or_default()) {
                    1
                } else {
                    -1
                }
            }),
        ));
        reg.add_function(def(
            "search_body",
            vec![re_fixup(false)],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(re) = a.first().and_then(regex_of) else {
                    return -1;
                };
                let body = ctx.msg.body();
                if !body.is_empty() && re.is_match(body) {
                    1
                } else {
                    -1
                }
            }),
        ));
        reg.add_function(def(
            "search_append",
            vec![re_fixup(false), ParamKind::Format],
            func(search_append),
        ));
        reg.add_function(def(
            "search_hf",
            vec![hname_fixup(), re_fixup(false)],
            func(search_hf),
        ));
        reg.add_function(def(
            "has_body",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| if has_body(ctx) { 1 } else { -1 }),
        ));
        reg.add_function(def("has_body", vec![mime_fixup()], func(has_body_mime)));
        reg.add_function(def("append_hf", vec![ParamKind::Format], func(append_hf)));
        reg.add_function(def(
            "append_hf",
            vec![ParamKind::Format, hname_fixup()],
            func(append_hf),
        ));
        reg.add_function(def("insert_hf", vec![ParamKind::Format], func(insert_hf)));
        reg.add_function(def(
            "insert_hf",
            vec![ParamKind::Format, hname_fixup()],
            func(insert_hf),
        ));
        reg.add_function(def(
            "remove_hf",
            vec![ParamKind::FormatOrPv],
            func(remove_hf),
        ));
        reg.add_function(def(
            "remove_hf_re",
            vec![re_fixup(true)],
            func(remove_hf_re),
        ));
        reg.add_function(def(
            "remove_hf_exp",
            vec![re_fixup(true), re_fixup(true)],
            func(remove_hf_exp),
        ));
        reg.add_function(def(
            "is_present_hf",
            vec![hname_fixup()],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let name = a.first().map(|h| hname(ctx, h)).unwrap_or_default();
                if ctx.msg.has_header(&name) {
                    1
                } else {
                    -1
                }
            }),
        ));
        reg.add_function(def(
            "is_present_hf_re",
            vec![re_fixup(true)],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(re) = a.first().and_then(regex_of) else {
                    return -1;
                };
                if ctx.msg.headers().any(|h| re.is_match(h.name)) {
                    1
                } else {
                    -1
                }
            }),
        ));
        reg.add_function(FuncDef {
            name: "append_to_reply",
            module: "textops",
            params: vec![ParamKind::FormatOrPv],
            routes: route_type::REQUEST
                | route_type::FAILURE
                | route_type::BRANCH
                | route_type::ERROR,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(text) = a.first().and_then(|t| str_arg(ctx, t)) else {
                    return -1;
                };
                ctx.reply_headers.extend_from_slice(&text);
                1
            }),
        });
        reg.add_function(def("subst", vec![subst_fixup()], func(do_subst)));
        reg.add_function(def("subst_body", vec![subst_fixup()], func(do_subst_body)));
        reg.add_function(FuncDef {
            name: "subst_uri",
            module: "textops",
            params: vec![subst_fixup()],
            routes: route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
            call: func(do_subst_uri),
        });
        reg.add_function(def(
            "replace",
            vec![re_fixup(true), ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace(ctx, a, false)),
        ));
        reg.add_function(def(
            "replace_all",
            vec![re_fixup(true), ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace(ctx, a, true)),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_posix_newline() {
        let re = compile_re("one[^a]+X-Multi", false).unwrap();
        assert!(!re.is_match(b"X-Multi: one\r\nX-Multi: two"));
        let re = compile_re("one.X", false).unwrap();
        assert!(!re.is_match(b"one\nX"));
        let re = compile_re("^User-Agent: diff", false).unwrap();
        assert!(re.is_match(b"OPTIONS x SIP/2.0\r\nUser-Agent: diff\r\n"));
        let re = compile_re("diff$", false).unwrap();
        assert!(!re.is_match(b"User-Agent: diff\r\nX: y"));
        let re = compile_re("^user-agent", true).unwrap();
        assert!(re.is_match(b"a\nUser-Agent"));
        assert_eq!(newline_safe_classes("[^]a]"), "[^\\n]a]");
        assert_eq!(newline_safe_classes("\\[^a]"), "\\[^a]");
        assert_eq!(newline_safe_classes("[^[:alpha:]]x"), "[^\\n[:alpha:]]x");
    }

    #[test]
    fn method_lists() {
        assert_eq!(parse_method_list("INVITE|OPTIONS").unwrap().len(), 2);
        assert_eq!(parse_method_list("INVITE , options").unwrap().len(), 2);
        assert_eq!(parse_method_list("OPTIONS|").unwrap().len(), 1);
        assert!(parse_method_list("FOO").is_ok());
        assert!(parse_method_list("INVITE|FOO").is_err());
        assert!(parse_method_list("").is_err());
    }
}
