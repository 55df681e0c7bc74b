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
use regex::bytes::Regex;
use siprd_script::posix::PosixRegex;
use siprd_script::registry::{
    func, Arg, ArgSrc, CustomFixup, FixupCtx, FuncDef, FuncImpl, ParamKind,
};
use siprd_script::{route_type, Registry};
use std::ops::Range;
use std::sync::Arc;

#[derive(Default)]
pub struct Textops;

/// Compile a POSIX ERE with Kamailio's textops flags (`REG_EXTENDED|REG_NEWLINE`).
pub fn compile_re(text: &str, icase: bool) -> Result<Regex, String> {
    siprd_script::posix::compile_posix(text, icase, true)
}

fn re_fixup(icase: bool) -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        compile_re(&src.text, icase).map(|r| Arg::Regex(Arc::new(r)))
    });
    ParamKind::Custom(f)
}

/// A regex whose match extent matters (the text replaced or appended to):
/// compiled for POSIX leftmost-longest matching.
fn posix_fixup(icase: bool, newline: bool) -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        PosixRegex::new(&src.text, icase, newline).map(|r| Arg::Custom(Box::new(r)))
    });
    ParamKind::Custom(f)
}

fn posix_of(a: &Arg<Ctx>) -> Option<&PosixRegex> {
    match a {
        Arg::Custom(c) => c.downcast_ref::<PosixRegex>(),
        _ => None,
    }
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
        return Err(format!(
            "no method name in `{text}`: expected e.g. \"INVITE\" or \"INVITE|BYE\""
        ));
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
    Subst::parse(fx, text)
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
    let reps = subst_reps(sub, ctx, s);
    (!reps.is_empty()).then(|| Subst::splice(s, &reps))
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

/// After a body change: Content-Length gets the new body length when the
/// message is sent (as Kamailio computes it when it builds the message).
fn fix_content_length(ctx: &mut Ctx) {
    if !ctx.edits.fix_content_length(&ctx.msg) && ctx.rcv.proto != crate::transport::Proto::Udp {
        tracing::warn!("body changed in a message without Content-Length");
    }
}

/// Whether replacements (ranges relative to `base`) change the body.
fn changes_body(
    body: &std::ops::Range<usize>,
    base: usize,
    reps: &[(std::ops::Range<usize>, Vec<u8>)],
) -> bool {
    reps.iter().any(|(r, _)| base + r.start >= body.start)
}

fn do_subst(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(s) = subst_of(a) else { return -1 };
    let range = headers_and_body(ctx);
    let buf = ctx.msg.buf().clone();
    let reps = subst_reps(s, ctx, buf.get(range.clone()).unwrap_or_default());
    let body_changed = changes_body(&ctx.msg.body_range(), range.start, &reps);
    let rc = record(ctx, range.start, reps);
    if body_changed {
        fix_content_length(ctx);
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
    let reps = subst_reps(s, ctx, buf.get(br.clone()).unwrap_or_default());
    let body_changed = changes_body(&br, br.start, &reps);
    let rc = record(ctx, br.start, reps);
    if body_changed {
        fix_content_length(ctx);
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
    let Some(re) = a.first().and_then(posix_of).cloned() else {
        return -1;
    };
    let Some(txt) = a.get(1).and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    let range = headers_and_body(ctx);
    let buf = ctx.msg.buf().clone();
    let (ranges, failed) = kam_matches(&re, buf.get(range.clone()).unwrap_or_default(), all);
    let reps = ranges.into_iter().map(|r| (r, txt.to_vec())).collect();
    let rc = record_fixing_length(ctx, range.start, reps);
    if failed {
        -1
    } else {
        rc
    }
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

/// `append_hf` (after the last header of that name, else at the end of the
/// headers) and `insert_hf` (before the first, else first).
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
            // Observed on Kamailio 5.6: after the last header of that name,
            // before the first.
            let found = if append {
                ctx.msg.headers_named(&name).last().map(|h| h.line.end)
            } else {
                ctx.msg.headers_named(&name).next().map(|h| h.line.start)
            };
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

/// `search_hf(name, re, flags)`: the regex (case-insensitive) over the
/// values of the headers `name`: `f` the first one only, `l` the last one,
/// anything else every one.
fn search_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(hf), Some(re)) = (a.first(), a.get(1).and_then(regex_of)) else {
        return -1;
    };
    let flag = match a.get(2) {
        Some(Arg::Str(f)) => f.first().copied(),
        _ => None,
    };
    let name = hname(ctx, hf);
    let mut values = ctx.msg.headers_named(&name).map(|h| h.value);
    let hit = match flag {
        Some(b'f') => values.next().is_some_and(|v| re.is_match(v)),
        Some(b'l') => values.last().is_some_and(|v| re.is_match(v)),
        _ => values.any(|v| re.is_match(v)),
    };
    if hit {
        1
    } else {
        -1
    }
}

fn search_append(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = a.first().and_then(posix_of).cloned() else {
        return -1;
    };
    let Some(txt) = a.get(1).and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    // from the first header on, as Kamailio (the request line is not searched)
    let Range { start, end } = headers_and_body(ctx);
    let buf = ctx.msg.buf().clone();
    match re.find_at(buf.get(start..end).unwrap_or_default(), 0) {
        Some(m) => {
            ctx.edits.insert(start + m.end, txt.to_vec());
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

/// `in_list`/`in_list_prefix`: an empty subject is never in the list
/// (observed on Kamailio 5.6, even with an empty item: `in_list("", "a,,c", ",")`).
/// The separator of `in_list`/`in_list_prefix`: one literal character,
/// checked at load (Kamailio 5.6 refuses `""`, `";,"` and a PV at fix-up).
fn list_sep_fixup() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        if src.text.len() == 1 {
            Ok(Arg::Str(Bytes::copy_from_slice(src.text.as_bytes())))
        } else {
            Err(format!(
                "the separator must be one character, got `{}`",
                src.text
            ))
        }
    });
    ParamKind::Custom(f)
}

fn in_list(subject: &[u8], list: &[u8], sep: &[u8], prefix: bool) -> bool {
    let Some(&sep) = sep.first() else {
        return false;
    };
    if subject.is_empty() {
        return false;
    }
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

/// `search_str(text, re)`: 1 on a match, -1 without; as Kamailio 5.6, an
/// empty regex answers 2 (whatever the text) and an empty text -2.
fn search_str(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(text) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let hit = match a.get(1) {
        Some(Arg::Regex(r)) if r.as_str().is_empty() => return 2,
        Some(Arg::Regex(_)) if text.is_empty() => return -2,
        Some(Arg::Regex(r)) => r.is_match(&text),
        Some(other) => {
            let Some(pat) = str_arg(ctx, other) else {
                return -1;
            };
            if pat.is_empty() {
                return 2;
            }
            if text.is_empty() {
                return -2;
            }
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
            Some((s, p)) if s.len() >= p.len() => affix_cmp(&s[..p.len()], &p),
            _ => -1,
        }),
    ));
    reg.add_function(def(
        "ends_with",
        f2(),
        func(|ctx, a| match two_strs(ctx, a) {
            Some((s, p)) if s.len() >= p.len() => affix_cmp(&s[s.len() - p.len()..], &p),
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
            vec![ParamKind::Format, ParamKind::Format, list_sep_fixup()],
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
// Body and header rewrites added for Kamailio 5.6 parity (observed on 5.6.3):
// - `replace_body*`, `replace_hdrs` and `search_append_body` match
//   case-insensitively and take their text literally (no PV expansion);
//   `replace_body_all` works line by line, `replace_body_atonce` over the whole
//   body (`^`/`$` at its ends, `.` crosses lines); empty matches never count;
// - `replace_str` / `replace_body_str` / `replace_hdrs_str` compare exactly
//   (case-sensitive), expand PVs in all three arguments, and answer 1 even
//   when nothing matched (-1 only without a body for the body variant);
// - `subst_hf`, `remove_hf_idx` and `remove_hf_match` select headers by the
//   name as written (case-insensitive; a compact form is another name);
// - `set_body` drops every Content-Type and appends the new one after the
//   last header; an empty text is refused.

/// Lines (whole line, value range, value) of the headers whose name, as
/// written, equals `name` (case-insensitive).
fn exact_named(ctx: &Ctx, name: &[u8]) -> Vec<(Range<usize>, Range<usize>, Vec<u8>)> {
    let name = name.trim_ascii();
    ctx.msg
        .headers()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| (h.line.clone(), h.value_range.clone(), h.value.to_vec()))
        .collect()
}

/// Record `reps` (relative to `base`) and keep Content-Length right when the
/// body changes. -1 when there is nothing to replace.
fn record_fixing_length(ctx: &mut Ctx, base: usize, reps: Vec<(Range<usize>, Vec<u8>)>) -> i32 {
    let body_changed = changes_body(&ctx.msg.body_range(), base, &reps);
    let rc = record(ctx, base, reps);
    if body_changed {
        fix_content_length(ctx);
    }
    rc
}

/// The regex matches in `hay` as Kamailio's replace functions find them:
/// the first one (empty or not) unless `all`; with `all` each search starts
/// where the previous match ended, and a match of the empty string ends the
/// loop as an error (true: the call answers -1, the matches before it are
/// still replaced).
fn kam_matches(re: &PosixRegex, hay: &[u8], all: bool) -> (Vec<Range<usize>>, bool) {
    if !all {
        return (re.find_at(hay, 0).into_iter().collect(), false);
    }
    let mut out = Vec::new();
    let mut at = 0;
    while at < hay.len() {
        let Some(m) = re.find_at(hay, at) else { break };
        if m.is_empty() {
            return (out, true);
        }
        at = m.end;
        out.push(m);
    }
    (out, false)
}

/// The body range, when the message has a body.
fn body_or_none(ctx: &Ctx) -> Option<Range<usize>> {
    let br = ctx.msg.body_range();
    let end = br.end.min(ctx.msg.buf().len());
    (br.start < end).then_some(br.start..end)
}

/// The header section without the empty line: first header to the end of
/// the last header line.
fn header_section(ctx: &Ctx) -> Range<usize> {
    let end = ctx.msg.headers_end().min(ctx.msg.buf().len());
    ctx.msg.headers_start().min(end)..end
}

/// The regex, the text and the body range of a body function; None when
/// the message has no body (or an argument is missing).
fn body_regex_args(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> Option<(PosixRegex, Bytes, Range<usize>)> {
    let re = a.first().and_then(posix_of).cloned()?;
    let txt = a.get(1).and_then(|t| str_arg(ctx, t))?;
    Some((re, txt, body_or_none(ctx)?))
}

/// `replace_body` (first), `replace_body_all` / `replace_body_atonce` (all).
fn do_replace_body(ctx: &mut Ctx, a: &[Arg<Ctx>], all: bool) -> i32 {
    let Some((re, txt, br)) = body_regex_args(ctx, a) else {
        return -1;
    };
    let buf = ctx.msg.buf().clone();
    let (ranges, failed) = kam_matches(&re, buf.get(br.clone()).unwrap_or_default(), all);
    let reps = ranges.into_iter().map(|r| (r, txt.to_vec())).collect();
    let rc = record_fixing_length(ctx, br.start, reps);
    if failed {
        -1
    } else {
        rc
    }
}

/// `replace_hdrs(re, txt)`: the first match in the header section.
fn do_replace_hdrs(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = a.first().and_then(posix_of).cloned() else {
        return -1;
    };
    let Some(txt) = a.get(1).and_then(|t| str_arg(ctx, t)) else {
        return -1;
    };
    let hr = header_section(ctx);
    let buf = ctx.msg.buf().clone();
    let reps = re
        .find_at(buf.get(hr.clone()).unwrap_or_default(), 0)
        .map(|m| (m, txt.to_vec()))
        .into_iter()
        .collect();
    record_fixing_length(ctx, hr.start, reps)
}

/// `search_append_body(re, txt)`: insert `txt` after the first match in the body.
fn do_search_append_body(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some((re, txt, br)) = body_regex_args(ctx, a) else {
        return -1;
    };
    let buf = ctx.msg.buf().clone();
    match re.find_at(buf.get(br.clone()).unwrap_or_default(), 0) {
        Some(m) => {
            let at = br.start + m.end;
            ctx.edits.insert(at, txt.to_vec());
            fix_content_length(ctx);
            1
        }
        None => -1,
    }
}

#[derive(Clone, Copy)]
enum StrArea {
    /// Headers and body (not the first line).
    All,
    Body,
    Headers,
}

/// `replace_str`, `replace_body_str`, `replace_hdrs_str`: exact text.
fn do_replace_str(ctx: &mut Ctx, a: &[Arg<Ctx>], area: StrArea) -> i32 {
    let (Some(needle), Some(repl)) = (
        a.first().and_then(|x| str_arg(ctx, x)),
        a.get(1).and_then(|x| str_arg(ctx, x)),
    ) else {
        return -1;
    };
    let mode = a.get(2).and_then(|x| str_arg(ctx, x)).unwrap_or_default();
    let all = matches!(mode.first(), Some(b'a' | b'A'));
    let range = match area {
        StrArea::All => headers_and_body(ctx),
        StrArea::Headers => header_section(ctx),
        StrArea::Body => match body_or_none(ctx) {
            Some(r) => r,
            None => return -1,
        },
    };
    if needle.is_empty() {
        // Nothing to look for: Kamailio answers true.
        return 1;
    }
    let buf = ctx.msg.buf().clone();
    let hay = buf.get(range.clone()).unwrap_or_default();
    let mut reps = Vec::new();
    for at in memchr::memmem::find_iter(hay, &needle[..]) {
        reps.push((at..at + needle.len(), repl.to_vec()));
        if !all {
            break;
        }
    }
    if !reps.is_empty() {
        record_fixing_length(ctx, range.start, reps);
    }
    // Kamailio answers true whether or not something matched.
    1
}

// ---------------------------------------------------------------------------
// set_body

fn do_set_body(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(body), Some(ct)) = (
        a.first().and_then(|x| str_arg(ctx, x)),
        a.get(1).and_then(|x| str_arg(ctx, x)),
    ) else {
        return -1;
    };
    if body.is_empty() {
        tracing::error!("set_body: empty body text");
        return -1;
    }
    if ct.is_empty() {
        tracing::error!("set_body: empty content type");
        return -1;
    }
    ctx.edits.replace_body(&ctx.msg, &body);
    // As Kamailio: only the first Content-Type counts; one that already says
    // `ct` stays where it is, another is replaced by a line at the end.
    let first_ct = ctx
        .msg
        .headers_named(b"Content-Type")
        .next()
        .map(|h| (h.line, h.value.trim_ascii() == &ct[..]));
    match first_ct {
        Some((_, true)) => return 1,
        Some((line, false)) => ctx.edits.delete(line),
        None => {}
    }
    let mut line = Vec::with_capacity(ct.len() + 16);
    line.extend_from_slice(b"Content-Type: ");
    line.extend_from_slice(&ct);
    line.extend_from_slice(b"\r\n");
    ctx.edits.insert(ctx.msg.headers_end(), line);
    1
}

/// `set_body_multipart([txt, content_type][, boundary])`: the body becomes a
/// one-part `multipart/mixed` body holding `txt` (default: the current body
/// with its Content-Type). As observed on Kamailio 5.6: the Content-Type
/// headers are removed, `Content-Type: multipart/mixed;boundary="B"` and
/// `Mime-Version: 1.0` are added after the last header, the part is
/// `--B CRLF Content-Type: ct CRLF CRLF txt CRLF --B CRLF`; the default
/// boundary is `unique-boundary-1`.
fn do_set_body_multipart(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let mut vals = Vec::with_capacity(a.len());
    for x in a {
        match str_arg(ctx, x) {
            Some(v) => vals.push(v),
            None => return -1,
        }
    }
    let (part, boundary) = match vals.as_slice() {
        [] => (None, None),
        [b] => (None, Some(b.clone())),
        [t, c] => (Some((t.clone(), c.clone())), None),
        [t, c, b, ..] => (Some((t.clone(), c.clone())), Some(b.clone())),
    };
    let boundary = boundary
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| Bytes::from_static(b"unique-boundary-1"));
    // Observed on Kamailio 5.6: an empty text wraps the current body (with
    // its own type, the given one ignored); an empty type is `text/plain`.
    let (txt, ct) = match part.filter(|(t, _)| !t.is_empty()) {
        Some((t, c)) if c.is_empty() => (t.to_vec(), b"text/plain".to_vec()),
        Some((t, c)) => (t.to_vec(), c.to_vec()),
        None => {
            let Some(br) = body_or_none(ctx) else {
                tracing::error!("set_body_multipart: no body to wrap");
                return -1;
            };
            let body = ctx.msg.buf().get(br).unwrap_or_default().to_vec();
            let ct = ctx
                .msg
                .headers_named(b"Content-Type")
                .next()
                .map_or_else(|| b"text/plain".to_vec(), |h| h.value.trim_ascii().to_vec());
            (body, ct)
        }
    };
    let mut body = Vec::with_capacity(txt.len() + ct.len() + 2 * boundary.len() + 32);
    body.extend_from_slice(b"--");
    body.extend_from_slice(&boundary);
    body.extend_from_slice(b"\r\nContent-Type: ");
    body.extend_from_slice(&ct);
    body.extend_from_slice(b"\r\n\r\n");
    body.extend_from_slice(&txt);
    body.extend_from_slice(b"\r\n--");
    body.extend_from_slice(&boundary);
    body.extend_from_slice(b"\r\n");
    let old_ct: Vec<Range<usize>> = ctx
        .msg
        .headers_named(b"Content-Type")
        .map(|h| h.line)
        .collect();
    for l in old_ct {
        ctx.edits.delete(l);
    }
    ctx.edits.replace_body(&ctx.msg, &body);
    let mut hdrs = Vec::with_capacity(boundary.len() + 64);
    hdrs.extend_from_slice(b"Content-Type: multipart/mixed;boundary=\"");
    hdrs.extend_from_slice(&boundary);
    hdrs.extend_from_slice(b"\"\r\nMime-Version: 1.0\r\n");
    ctx.edits.insert(ctx.msg.headers_end(), hdrs);
    1
}

// ---------------------------------------------------------------------------
// regex_substring

/// The regex of `regex_substring`: compiled at load when constant (a bad
/// constant is kept as text and fails at run time, as Kamailio compiles it
/// per call), else a format compiled per call.
fn regex_substring_re() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        if src.text.contains('$') {
            return siprd_script::pv::parse_format(fx, &src.text).map(Arg::Fmt);
        }
        Ok(match PosixRegex::new(&src.text, false, true) {
            Ok(r) => Arg::Custom(Box::new(r)),
            Err(_) => Arg::Str(Bytes::copy_from_slice(src.text.as_bytes())),
        })
    });
    ParamKind::Custom(f)
}

/// `regex_substring(itext, regex, mindex, mcount, dpv)`: match `regex` in
/// `itext` keeping `mcount` match slots and store slot `mindex` (0: the whole
/// match, n: group n) in `dpv`. Observed on Kamailio 5.6: -2 when nothing
/// matches; -1 for an empty text, a bad regex, `mindex` outside
/// `0..mcount`, or a slot the match left unset or empty.
fn do_regex_substring(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(text) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let (Some(mindex), Some(mcount)) = (
        a.get(2).and_then(|x| args::int_arg(ctx, x)),
        a.get(3).and_then(|x| args::int_arg(ctx, x)),
    ) else {
        return -1;
    };
    if text.is_empty() || mindex < 0 || mcount <= 0 || mindex >= mcount {
        return -1;
    }
    let compiled;
    let re = match a.get(1) {
        Some(arg) => match posix_of(arg) {
            Some(r) => r,
            None => {
                let Some(pat) = str_arg(ctx, arg) else {
                    return -1;
                };
                compiled = match PosixRegex::new(&String::from_utf8_lossy(&pat), false, true) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!("regex_substring: {e}");
                        return -1;
                    }
                };
                &compiled
            }
        },
        None => return -1,
    };
    let mut caps = re.create_captures();
    if re.captures_at(&text, 0, &mut caps).is_none() {
        return -2;
    }
    let Some(span) = usize::try_from(mindex)
        .ok()
        .and_then(|i| caps.get_group(i))
        .filter(|m| !m.is_empty())
    else {
        return -1;
    };
    let v = Bytes::copy_from_slice(text.get(span.range()).unwrap_or_default());
    match a.get(4) {
        Some(Arg::Pv(p)) => match p.set(ctx, siprd_script::Value::Str(v)) {
            Ok(()) => 1,
            Err(_) => -1,
        },
        _ => -1,
    }
}

/// `regex_substring`'s output: a writable PV; text that is not a PV at all
/// loads (Kamailio 5.6 resolves it per call) and makes every call fail (-1).
fn regex_substring_out() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let text = src.text.trim();
        if !text.starts_with('$') {
            tracing::warn!("regex_substring: `{text}` is not a pseudo-variable: every call fails");
            return Ok(Arg::Str(Bytes::copy_from_slice(text.as_bytes())));
        }
        match siprd_script::pv::parse_pv(fx, text) {
            Ok((p, _)) if p.writable() => Ok(Arg::Pv(Box::new(p))),
            Ok(_) => Err(format!("regex_substring: `{text}` is read-only")),
            Err(e) => Err(e),
        }
    });
    ParamKind::Custom(f)
}

// ---------------------------------------------------------------------------
// subst_hf, subst_user

/// The replacements of a `subst*` function, none when the expression
/// matched the empty string somewhere (Kamailio fails the whole call then:
/// `/l*/_/g` on `hello`, `/(.*)/x/g` after its first match).
fn subst_reps(sub: &Subst, ctx: &mut Ctx, s: &[u8]) -> Vec<(Range<usize>, Vec<u8>)> {
    sub.run(ctx, s).unwrap_or_default()
}

fn subst_at(a: &[Arg<Ctx>], i: usize) -> Option<&Subst> {
    match a.get(i) {
        Some(Arg::Custom(c)) => c.downcast_ref::<Subst>(),
        _ => None,
    }
}

/// `subst_hf(name, subst, flags)`: in the value of the first (`f`), last
/// (`l`) or (any other flag) every header of that name, each on its own
/// (one where the expression matches the empty string is left alone).
fn do_subst_hf(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(name) = a.first().map(|x| hname(ctx, x)) else {
        return -1;
    };
    let flags = a.get(2).and_then(|x| str_arg(ctx, x)).unwrap_or_default();
    let Some(sub) = subst_at(a, 1) else {
        return -1;
    };
    let mut hs = exact_named(ctx, &name);
    match flags.first() {
        Some(b'l') => {
            let n = hs.len();
            hs.drain(..n.saturating_sub(1));
        }
        Some(b'f') => hs.truncate(1),
        _ => {}
    }
    let mut all = Vec::new();
    for (_, vr, value) in hs {
        for (r, t) in subst_reps(sub, ctx, &value) {
            all.push((vr.start + r.start..vr.start + r.end, t));
        }
    }
    record(ctx, 0, all)
}

/// `subst_user(subst)`: on the user part of `$ru`.
fn do_subst_user(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(sub) = subst_of(a) else { return -1 };
    if !ctx.msg.is_request() {
        return -1;
    }
    let uri_text = Bytes::copy_from_slice(ctx.ruri());
    let Ok(uri) = siprd_sip::uri::Uri::parse(&uri_text) else {
        tracing::error!("subst_user: cannot parse the request URI");
        return -1;
    };
    let Some(ur) = uri.user_range() else {
        return -1;
    };
    let user = uri_text.get(ur.clone()).unwrap_or_default().to_vec();
    let Some(new_user) = ({
        let reps = subst_reps(sub, ctx, &user);
        if reps.is_empty() {
            None
        } else {
            let mut out = Vec::with_capacity(user.len() + 16);
            let mut pos = 0;
            for (r, t) in reps {
                out.extend_from_slice(user.get(pos..r.start).unwrap_or_default());
                out.extend_from_slice(&t);
                pos = r.end;
            }
            out.extend_from_slice(user.get(pos..).unwrap_or_default());
            Some(out)
        }
    }) else {
        return -1;
    };
    let mut out = Vec::with_capacity(uri_text.len() + new_user.len());
    out.extend_from_slice(uri_text.get(..ur.start).unwrap_or_default());
    out.extend_from_slice(&new_user);
    let mut rest = uri_text.get(ur.end..).unwrap_or_default();
    if new_user.is_empty() && uri.password().is_none() {
        // No user left: the `@` goes too.
        rest = rest.strip_prefix(b"@").unwrap_or(rest);
    }
    out.extend_from_slice(rest);
    ctx.new_uri = Some(Bytes::from(out));
    1
}

// ---------------------------------------------------------------------------
// Date headers, append_urihf

/// `Date: Sat, 05 Dec 2026 07:09:55 GMT\r\n` for a Unix time.
fn date_header(secs: u64) -> Vec<u8> {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "Date: {}, {:02} {} {} {:02}:{:02}:{:02} GMT\r\n",
        DAYS[(days % 7) as usize],
        day,
        MONTHS[((month - 1).clamp(0, 11)) as usize],
        year,
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
    .into_bytes()
}

fn now_date_header() -> Vec<u8> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    date_header(secs)
}

// ---------------------------------------------------------------------------
// is_privacy

const PRIVACY_VALUES: &[&str] = &[
    "user", "header", "session", "none", "critical", "id", "history",
];

struct Privacy(usize);

fn privacy_fixup() -> ParamKind<Ctx> {
    let f: CustomFixup<Ctx> = Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let t = src.text.trim();
        PRIVACY_VALUES
            .iter()
            .position(|v| v.eq_ignore_ascii_case(t))
            .map(|i| Arg::Custom(Box::new(Privacy(i))))
            .ok_or_else(|| format!("invalid privacy value `{}`", src.text))
    });
    ParamKind::Custom(f)
}

/// The privacy values of the first Privacy header; None when it holds an
/// unknown value (Kamailio's parser then fails).
fn privacy_values(v: &[u8]) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for item in v.split(|&c| c == b';') {
        let item = item.trim_ascii();
        let i = PRIVACY_VALUES
            .iter()
            .position(|p| p.as_bytes().eq_ignore_ascii_case(item))?;
        out.push(i);
    }
    Some(out)
}

fn is_privacy(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(Arg::Custom(c)) = a.first() else {
        return -1;
    };
    let Some(Privacy(want)) = c.downcast_ref::<Privacy>() else {
        return -1;
    };
    let Some(v) = ctx.msg.headers_named(b"Privacy").next().map(|h| h.value) else {
        return -1;
    };
    match privacy_values(v) {
        Some(vals) if vals.contains(want) => 1,
        _ => -1,
    }
}

// ---------------------------------------------------------------------------
// Header removal by index / value, *_pv variants

/// `remove_hf_idx(name, idx)`: 0 is the first such header, -1 the last.
/// Answers 2 (still true) when a non-negative index finds no header; a
/// negative one past the first header removes nothing and answers 1
/// (Kamailio 5.6, wire case `remove_hf_idx_out_of_range`).
fn do_remove_hf_idx(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(name) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let Some(idx) = a.get(1).and_then(|x| args::int_arg(ctx, x)) else {
        tracing::error!("remove_hf_idx: the index is not an integer");
        return -1;
    };
    let hs = exact_named(ctx, &name);
    let n = hs.len() as i64;
    let i = if idx < 0 {
        n + i64::from(idx)
    } else {
        i64::from(idx)
    };
    match usize::try_from(i).ok().and_then(|i| hs.get(i)) {
        Some((line, _, _)) => {
            ctx.edits.delete(line.clone());
            1
        }
        None if idx < 0 => 1,
        None => 2,
    }
}

/// `remove_hf_match(name, op, expr)`: `eq` / `ne` on the value, `in`
/// (substring), `re` (case-insensitive regex). -2 when no header was
/// removed (none by that name either), -1 for an unknown operator, as 5.6.
fn do_remove_hf_match(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(name), Some(op), Some(expr)) = (
        a.first().and_then(|x| str_arg(ctx, x)),
        a.get(1).and_then(|x| str_arg(ctx, x)),
        a.get(2).and_then(|x| str_arg(ctx, x)),
    ) else {
        return -1;
    };
    let re = if op.eq_ignore_ascii_case(b"re") {
        match compile_re(&String::from_utf8_lossy(&expr), true) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::error!("remove_hf_match: {e}");
                return -1;
            }
        }
    } else {
        None
    };
    let op = op.to_ascii_lowercase();
    if !matches!(op.as_slice(), b"eq" | b"ne" | b"in" | b"re") {
        // refused before any header is looked at (-1 even when none has the name)
        tracing::error!(
            "remove_hf_match: unknown operator `{}`",
            String::from_utf8_lossy(&op)
        );
        return -1;
    }
    let test = |v: &[u8]| match op.as_slice() {
        b"eq" => v == &expr[..],
        b"ne" => v != &expr[..],
        b"in" => !expr.is_empty() && memchr::memmem::find(v, &expr).is_some(),
        _ => re.as_ref().is_some_and(|r| r.is_match(v)),
    };
    let mut hit = false;
    for (line, _, value) in exact_named(ctx, &name) {
        if test(&value) {
            ctx.edits.delete(line);
            hit = true;
        }
    }
    if hit {
        1
    } else {
        -2
    }
}

/// A regex given as a format (`*_re_pv`), compiled per call, case-insensitive.
fn runtime_re(ctx: &mut Ctx, a: Option<&Arg<Ctx>>, what: &str) -> Option<Regex> {
    let text = str_arg(ctx, a?)?;
    match compile_re(&String::from_utf8_lossy(&text), true) {
        Ok(r) => Some(r),
        Err(e) => {
            tracing::error!("{what}: {e}");
            None
        }
    }
}

fn delete_lines(ctx: &mut Ctx, lines: Vec<Range<usize>>) -> i32 {
    if lines.is_empty() {
        return -1;
    }
    for l in lines {
        ctx.edits.delete(l);
    }
    1
}

fn remove_hf_re_pv(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = runtime_re(ctx, a.first(), "remove_hf_re_pv") else {
        return -1;
    };
    let lines = ctx
        .msg
        .headers()
        .filter(|h| re.is_match(h.name))
        .map(|h| h.line)
        .collect();
    delete_lines(ctx, lines)
}

fn remove_hf_exp_pv(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = runtime_re(ctx, a.first(), "remove_hf_exp_pv") else {
        return -1;
    };
    let Some(skip) = runtime_re(ctx, a.get(1), "remove_hf_exp_pv") else {
        return -1;
    };
    let lines = ctx
        .msg
        .headers()
        .filter(|h| re.is_match(h.name) && !skip.is_match(h.name))
        .map(|h| h.line)
        .collect();
    delete_lines(ctx, lines)
}

fn is_present_hf_re_pv(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(re) = runtime_re(ctx, a.first(), "is_present_hf_re_pv") else {
        return -1;
    };
    if ctx.msg.headers().any(|h| re.is_match(h.name)) {
        1
    } else {
        -1
    }
}

// ---------------------------------------------------------------------------
// is_audio_on_hold (observed: only an application/sdp body is looked at; the
// direction counts first, session level included; then a 0.0.0.0 address)

/// The type/subtype of the first Content-Type, lower-case, without params.
fn content_type_of(ctx: &Ctx) -> Option<Vec<u8>> {
    let ct = ctx.msg.headers_named(b"Content-Type").next()?.value;
    let ty = ct.split(|&c| c == b';').next().unwrap_or_default();
    Some(
        ty.iter()
            .filter(|c| !c.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect(),
    )
}

#[derive(Default)]
struct SdpStream {
    audio: bool,
    addr: Option<Vec<u8>>,
    hold: bool,
}

/// 2 when an audio stream is sendonly/inactive (at stream or session level),
/// 1 when its connection address is 0.0.0.0, -1 otherwise.
fn sdp_audio_hold(sdp: &[u8]) -> i32 {
    let mut sess = SdpStream::default();
    let mut streams: Vec<SdpStream> = Vec::new();
    for line in sdp.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line).trim_ascii_end();
        if let Some(m) = line.strip_prefix(b"m=") {
            let media = m.split(|&c| c == b' ').next().unwrap_or_default();
            streams.push(SdpStream {
                audio: media.eq_ignore_ascii_case(b"audio"),
                ..Default::default()
            });
            continue;
        }
        let cur = match streams.last_mut() {
            Some(s) => s,
            None => &mut sess,
        };
        if let Some(c) = line.strip_prefix(b"c=") {
            let addr = c
                .split(|&c| c == b' ')
                .filter(|t| !t.is_empty())
                .nth(2)
                .unwrap_or_default();
            // `IP4 0.0.0.0/127` (multicast TTL) keeps only the address.
            let addr = addr.split(|&c| c == b'/').next().unwrap_or_default();
            cur.addr = Some(addr.to_vec());
        } else if line == b"a=sendonly" || line == b"a=inactive" {
            cur.hold = true;
        }
    }
    for s in streams.iter().filter(|s| s.audio) {
        if s.hold || sess.hold {
            return 2;
        }
        if s.addr.as_ref().or(sess.addr.as_ref()).map(Vec::as_slice) == Some(b"0.0.0.0") {
            return 1;
        }
    }
    -1
}

fn is_audio_on_hold(ctx: &mut Ctx, _a: &[Arg<Ctx>]) -> i32 {
    let Some(br) = body_or_none(ctx) else {
        return -1;
    };
    if content_type_of(ctx).as_deref() != Some(b"application/sdp") {
        return -1;
    }
    let buf = ctx.msg.buf().clone();
    sdp_audio_hold(buf.get(br).unwrap_or_default())
}

// ---------------------------------------------------------------------------
// Multipart bodies (observed on Kamailio 5.6.3): delimiters are recognised on
// CRLF lines only; a part is selected by its Content-Type value compared whole
// (case-insensitive, so a part with parameters is not matched by the bare
// type). Kamailio takes a part's content to start right after its
// Content-Type line (part headers below it are kept) and to end with the CRLF
// before the next delimiter.

/// One part of a multipart body, offsets relative to the body.
struct Part {
    /// Start of the delimiter line opening the part.
    delim: usize,
    /// Part headers start (after the delimiter line).
    start: usize,
    /// End of the part's Content-Type line (CRLF included); None without one.
    ct_end: Option<usize>,
    /// The part's Content-Type value.
    ct: Vec<u8>,
    /// Start of the next delimiter (the CRLF before it belongs to the part).
    next: usize,
    /// End of the next delimiter line (its CRLF included).
    next_line_end: usize,
}

/// The `boundary` parameter of a multipart Content-Type, and whether it is
/// multipart/mixed.
fn multipart_boundary(ctx: &Ctx) -> Option<(Vec<u8>, bool)> {
    let ct = ctx.msg.headers_named(b"Content-Type").next()?.value;
    let mut it = ct.split(|&c| c == b';');
    let ty = it.next()?.trim_ascii();
    if ty.len() < 10 || !ty[..10].eq_ignore_ascii_case(b"multipart/") {
        return None;
    }
    let mixed = ty.eq_ignore_ascii_case(b"multipart/mixed");
    for p in it {
        let (n, v) = match p.iter().position(|&c| c == b'=') {
            Some(i) => (&p[..i], &p[i + 1..]),
            None => continue,
        };
        if n.trim_ascii().eq_ignore_ascii_case(b"boundary") {
            let v = v.trim_ascii();
            let v = v
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .unwrap_or(v);
            if v.is_empty() {
                return None;
            }
            return Some((v.to_vec(), mixed));
        }
    }
    None
}

/// Split `body` on `--boundary` lines. Also answers the offset of the
/// closing delimiter, when there is one.
fn split_parts(body: &[u8], boundary: &[u8]) -> (Vec<Part>, Option<usize>) {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let mut crlf_delim = b"\r\n".to_vec();
    crlf_delim.extend_from_slice(&delim);
    let mut parts = Vec::new();
    // The first delimiter: at the very start or after a CRLF (preamble).
    let mut d = if body.starts_with(&delim) {
        0
    } else {
        match memchr::memmem::find(body, &crlf_delim) {
            Some(i) => i + 2,
            None => return (parts, None),
        }
    };
    loop {
        let after = d + delim.len();
        if body.get(after..after + 2) == Some(b"--") {
            return (parts, Some(d));
        }
        let Some(eol) = memchr::memmem::find(body.get(after..).unwrap_or_default(), b"\r\n") else {
            return (parts, None);
        };
        let start = after + eol + 2;
        let Some(n) = memchr::memmem::find(body.get(start..).unwrap_or_default(), &crlf_delim)
        else {
            return (parts, None);
        };
        let next = start + n + 2;
        let nafter = next + delim.len();
        let next_line_end = memchr::memmem::find(body.get(nafter..).unwrap_or_default(), b"\r\n")
            .map_or(body.len(), |i| nafter + i + 2);
        // Part headers: lines up to the first empty one.
        let mut ct_end = None;
        let mut ct = Vec::new();
        let mut pos = start;
        while pos < next {
            let Some(e) = memchr::memmem::find(body.get(pos..next).unwrap_or_default(), b"\r\n")
            else {
                break;
            };
            let line = body.get(pos..pos + e).unwrap_or_default();
            if line.is_empty() {
                break;
            }
            if let Some(i) = line.iter().position(|&c| c == b':') {
                let name = line[..i].trim_ascii();
                if ct_end.is_none()
                    && (name.eq_ignore_ascii_case(b"Content-Type")
                        || name.eq_ignore_ascii_case(b"c"))
                {
                    ct_end = Some(pos + e + 2);
                    ct = line[i + 1..].trim_ascii().to_vec();
                }
            }
            pos += e + 2;
        }
        parts.push(Part {
            delim: d,
            start,
            ct_end,
            ct,
            next,
            next_line_end,
        });
        d = next;
    }
}

/// The body, its absolute start, and its parts (None when not multipart).
struct Multipart {
    body: Bytes,
    base: usize,
    boundary: Vec<u8>,
    mixed: bool,
    parts: Vec<Part>,
    closing: Option<usize>,
}

fn multipart(ctx: &Ctx) -> Option<Multipart> {
    let br = body_or_none(ctx)?;
    let (boundary, mixed) = multipart_boundary(ctx)?;
    let body = ctx.msg.buf().slice(br.clone());
    let (parts, closing) = split_parts(&body, &boundary);
    Some(Multipart {
        body,
        base: br.start,
        boundary,
        mixed,
        parts,
        closing,
    })
}

impl Multipart {
    fn find(&self, ct: &[u8]) -> Option<&Part> {
        let ct = ct.trim_ascii();
        self.parts
            .iter()
            .find(|p| p.ct_end.is_some() && p.ct.eq_ignore_ascii_case(ct))
    }
}

/// `filter_body(type)`: keep only the first part of that type (the
/// Content-Type header is left for the script to change).
fn do_filter_body(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(ct) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let Some(mp) = multipart(ctx) else {
        return -1;
    };
    if !mp.mixed {
        return -1;
    }
    let Some(p) = mp.find(&ct) else {
        return -1;
    };
    let mut from = p.ct_end.unwrap_or(p.start);
    if mp.body.get(from..from + 2) == Some(b"\r\n") {
        from += 2;
    }
    // The CRLF before the next delimiter is not content.
    let to = p.next.saturating_sub(2).max(from);
    let old_len = mp.body.len();
    let mut reps = Vec::new();
    if from > 0 {
        reps.push((0..from, Vec::new()));
    }
    if to < old_len {
        reps.push((to..old_len, Vec::new()));
    }
    record_fixing_length(ctx, mp.base, reps);
    1
}

/// `get_body_part(type, pv)` / `get_body_part_raw(type, pv)`.
fn do_get_body_part(ctx: &mut Ctx, a: &[Arg<Ctx>], raw: bool) -> i32 {
    let Some(ct) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let Some(Arg::Pv(out)) = a.get(1) else {
        return -1;
    };
    let value = match multipart(ctx) {
        Some(mp) => {
            let Some(p) = mp.find(&ct) else {
                return -1;
            };
            let r = if raw {
                p.start..p.next_line_end
            } else {
                p.ct_end.unwrap_or(p.start)..p.next
            };
            Bytes::copy_from_slice(mp.body.get(r).unwrap_or_default())
        }
        None => {
            // Not multipart: the whole body, whatever its type.
            let Some(br) = body_or_none(ctx) else {
                return -1;
            };
            if ctx.msg.headers_named(b"Content-Type").next().is_none() {
                return -1;
            }
            ctx.msg.buf().slice(br)
        }
    };
    if out.set(ctx, siprd_script::Value::Str(value)).is_ok() {
        1
    } else {
        -1
    }
}

/// `remove_body_part(type)`: the first part of that type, delimiter included.
fn do_remove_body_part(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let Some(ct) = a.first().and_then(|x| str_arg(ctx, x)) else {
        return -1;
    };
    let Some(mp) = multipart(ctx) else {
        return -1;
    };
    let Some(p) = mp.find(&ct) else {
        return -1;
    };
    let base = mp.base;
    record_fixing_length(ctx, base, vec![(p.delim..p.next, Vec::new())])
}

/// `append_body_part(txt, type[, disposition])`: a new part before the
/// closing delimiter of a multipart body.
fn do_append_body_part(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(txt), Some(ct)) = (
        a.first().and_then(|x| str_arg(ctx, x)),
        a.get(1).and_then(|x| str_arg(ctx, x)),
    ) else {
        return -1;
    };
    let cd = match a.get(2) {
        Some(x) => str_arg(ctx, x),
        None => None,
    };
    append_part(ctx, &txt, &ct, cd)
}

/// `append_body_part_hex(txt, ct[, cd])`: the part's content is `txt`
/// decoded from hex; text that is not hex (or of odd length) is -1.
fn do_append_body_part_hex(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    let (Some(hex), Some(ct)) = (
        a.first().and_then(|x| str_arg(ctx, x)),
        a.get(1).and_then(|x| str_arg(ctx, x)),
    ) else {
        return -1;
    };
    let cd = match a.get(2) {
        Some(x) => str_arg(ctx, x),
        None => None,
    };
    if hex.is_empty() {
        return -1;
    }
    let digit = |b: u8| (b as char).to_digit(16);
    let mut txt = Vec::with_capacity(hex.len() / 2);
    for pair in hex.chunks(2) {
        match pair {
            [h, l] => match (digit(*h), digit(*l)) {
                (Some(h), Some(l)) => txt.push((h * 16 + l) as u8),
                _ => {
                    tracing::error!("append_body_part_hex: the text is not hex");
                    return -1;
                }
            },
            _ => {
                tracing::error!("append_body_part_hex: odd number of hex digits");
                return -1;
            }
        }
    }
    append_part(ctx, &txt, &ct, cd)
}

fn append_part(ctx: &mut Ctx, txt: &[u8], ct: &[u8], cd: Option<bytes::Bytes>) -> i32 {
    let Some(mp) = multipart(ctx) else {
        tracing::error!("append_body_part: the body is not multipart");
        return -1;
    };
    let Some(closing) = mp.closing else {
        tracing::error!("append_body_part: no closing delimiter in the body");
        return -1;
    };
    let mut part = Vec::with_capacity(txt.len() + ct.len() + 64);
    part.extend_from_slice(b"--");
    part.extend_from_slice(&mp.boundary);
    part.extend_from_slice(b"\r\nContent-Type: ");
    part.extend_from_slice(ct);
    part.extend_from_slice(b"\r\n");
    if let Some(cd) = cd.filter(|c| !c.is_empty()) {
        part.extend_from_slice(b"Content-Disposition: ");
        part.extend_from_slice(&cd);
        part.extend_from_slice(b"\r\n");
    }
    part.extend_from_slice(b"\r\n");
    part.extend_from_slice(txt);
    part.extend_from_slice(b"\r\n");
    ctx.edits.insert(mp.base + closing, part);
    fix_content_length(ctx);
    1
}

const MSG_ROUTES: siprd_script::RouteMask =
    route_type::REQUEST | route_type::ONREPLY | route_type::FAILURE | route_type::BRANCH;
const REQ_ROUTES: siprd_script::RouteMask =
    route_type::REQUEST | route_type::FAILURE | route_type::BRANCH;

fn def_in(
    name: &'static str,
    routes: siprd_script::RouteMask,
    params: Vec<ParamKind<Ctx>>,
    call: FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "textops",
        params,
        routes,
        call,
    }
}

fn register_more(reg: &mut Registry<Ctx>) {
    let re_lit = || vec![posix_fixup(true, true), ParamKind::Str];
    reg.add_function(def_in(
        "set_reply_body",
        REQ_ROUTES,
        vec![ParamKind::Format, ParamKind::Format],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let (Some(body), Some(ct)) = (
                a.first().and_then(|x| str_arg(ctx, x)),
                a.get(1).and_then(|x| str_arg(ctx, x)),
            ) else {
                return -1;
            };
            // Observed on Kamailio 5.6: an empty body or content type fails
            // and adds nothing.
            if body.is_empty() || ct.is_empty() {
                return -1;
            }
            // Kamailio adds the Content-Type as a reply header at call time:
            // it sits among the append_to_reply() / append_time() lines.
            ctx.reply_headers.extend_from_slice(b"Content-Type: ");
            ctx.reply_headers.extend_from_slice(&ct);
            ctx.reply_headers.extend_from_slice(b"\r\n");
            // a second call adds its Content-Type but the first body stays,
            // as observed on Kamailio 5.6.3
            ctx.reply_body.get_or_insert(body);
            1
        }),
    ));
    reg.add_function(def_in(
        "regex_substring",
        MSG_ROUTES,
        vec![
            ParamKind::Format,
            regex_substring_re(),
            ParamKind::IntOrPv,
            ParamKind::IntOrPv,
            regex_substring_out(),
        ],
        func(do_regex_substring),
    ));
    for n in 0..=3 {
        reg.add_function(def_in(
            "set_body_multipart",
            REQ_ROUTES,
            (0..n).map(|_| ParamKind::Format).collect(),
            func(do_set_body_multipart),
        ));
    }
    reg.add_function(def_in(
        "set_body",
        MSG_ROUTES,
        vec![ParamKind::Format, ParamKind::Format],
        func(do_set_body),
    ));
    reg.add_function(def_in(
        "replace_body",
        route_type::ANY,
        re_lit(),
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace_body(ctx, a, false)),
    ));
    reg.add_function(def_in(
        "replace_body_all",
        route_type::ANY,
        re_lit(),
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace_body(ctx, a, true)),
    ));
    reg.add_function(def_in(
        "replace_body_atonce",
        route_type::ANY,
        // `^`/`$` at the ends of the body only, `.` crossing lines
        vec![posix_fixup(true, false), ParamKind::Str],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace_body(ctx, a, true)),
    ));
    reg.add_function(def("replace_hdrs", re_lit(), func(do_replace_hdrs)));
    reg.add_function(def_in(
        "search_append_body",
        route_type::ANY,
        re_lit(),
        func(do_search_append_body),
    ));
    for (name, area) in [
        ("replace_str", StrArea::All),
        ("replace_body_str", StrArea::Body),
        ("replace_hdrs_str", StrArea::Headers),
    ] {
        reg.add_function(def(
            name,
            vec![ParamKind::Format, ParamKind::Format, ParamKind::Format],
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace_str(ctx, a, area)),
        ));
    }
    reg.add_function(def_in(
        "subst_hf",
        route_type::ANY,
        vec![hname_fixup(), subst_fixup(), ParamKind::Format],
        reads_all_headers(func(do_subst_hf)),
    ));
    reg.add_function(def_in(
        "subst_user",
        MSG_ROUTES,
        vec![subst_fixup()],
        func(do_subst_user),
    ));
    reg.add_function(def_in(
        "append_time",
        REQ_ROUTES,
        vec![],
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            let h = now_date_header();
            ctx.reply_headers.extend_from_slice(&h);
            1
        }),
    ));
    reg.add_function(def_in(
        "append_time_to_request",
        route_type::ANY,
        vec![],
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            // below the first header, as Kamailio anchors it
            let at = ctx
                .msg
                .headers()
                .next()
                .map_or(ctx.msg.headers_start(), |h| h.line.end);
            ctx.edits.insert(at, now_date_header());
            1
        }),
    ));
    reg.add_function(def_in(
        "append_urihf",
        REQ_ROUTES,
        vec![ParamKind::Str, ParamKind::Str],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let (Some(pre), Some(suf)) = (
                a.first().and_then(|x| str_arg(ctx, x)),
                a.get(1).and_then(|x| str_arg(ctx, x)),
            ) else {
                return -1;
            };
            if !ctx.msg.is_request() {
                return -1;
            }
            // The Request-URI as received, not `$ru`.
            let mut t = pre.to_vec();
            t.extend_from_slice(ctx.msg.ruri_bytes());
            t.extend_from_slice(&suf);
            ctx.edits.insert(ctx.msg.headers_end(), t);
            1
        }),
    ));
    reg.add_function(def_in(
        "is_audio_on_hold",
        route_type::ANY,
        vec![],
        func(is_audio_on_hold),
    ));
    reg.add_function(def_in(
        "filter_body",
        route_type::ANY,
        vec![ParamKind::Format],
        func(do_filter_body),
    ));
    reg.add_function(def_in(
        "get_body_part",
        MSG_ROUTES,
        vec![ParamKind::Format, ParamKind::WritablePv],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_get_body_part(ctx, a, false)),
    ));
    reg.add_function(def_in(
        "get_body_part_raw",
        MSG_ROUTES,
        vec![ParamKind::Format, ParamKind::WritablePv],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_get_body_part(ctx, a, true)),
    ));
    reg.add_function(def_in(
        "remove_body_part",
        REQ_ROUTES,
        vec![ParamKind::Format],
        func(do_remove_body_part),
    ));
    for params in [
        vec![ParamKind::Format, ParamKind::Format],
        vec![ParamKind::Format, ParamKind::Format, ParamKind::Format],
    ] {
        reg.add_function(def_in(
            "append_body_part",
            REQ_ROUTES,
            params.clone(),
            func(do_append_body_part),
        ));
        reg.add_function(def_in(
            "append_body_part_hex",
            REQ_ROUTES,
            params,
            func(do_append_body_part_hex),
        ));
    }
    reg.add_function(def_in(
        "is_privacy",
        route_type::ANY,
        vec![privacy_fixup()],
        func(is_privacy),
    ));
    reg.add_function(def(
        "remove_hf_idx",
        vec![ParamKind::Format, ParamKind::IntOrPv],
        func(do_remove_hf_idx),
    ));
    reg.add_function(def(
        "remove_hf_match",
        vec![ParamKind::Format, ParamKind::Format, ParamKind::Format],
        func(do_remove_hf_match),
    ));
    reg.add_function(def(
        "remove_hf_pv",
        vec![ParamKind::Format],
        reads_all_headers(func(remove_hf)),
    ));
    reg.add_function(def(
        "remove_hf_re_pv",
        vec![ParamKind::Format],
        reads_all_headers(func(remove_hf_re_pv)),
    ));
    reg.add_function(def(
        "remove_hf_exp_pv",
        vec![ParamKind::Format, ParamKind::Format],
        reads_all_headers(func(remove_hf_exp_pv)),
    ));
    reg.add_function(def(
        "is_present_hf_pv",
        vec![ParamKind::Format],
        reads_all_headers(func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let name = a.first().and_then(|x| str_arg(ctx, x)).unwrap_or_default();
            let name = name.trim_ascii();
            if !name.is_empty() && ctx.msg.has_header(name) {
                1
            } else {
                -1
            }
        })),
    ));
    reg.add_function(def(
        "is_present_hf_re_pv",
        vec![ParamKind::Format],
        reads_all_headers(func(is_present_hf_re_pv)),
    ));
}

// ---------------------------------------------------------------------------

/// Kamailio's header functions read every header first: when one does not
/// parse (a bad name, a cut line, a repeated To ...) they fail (5.6.3).
pub(crate) fn reads_all_headers(f: FuncImpl<Ctx>) -> FuncImpl<Ctx> {
    func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
        if ctx.msg.headers_parse_ok() {
            f(ctx, a)
        } else {
            -1
        }
    })
}

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
        register_more(reg);
        reg.add_function(def("is_method", vec![method_fixup()], func(is_method)));
        reg.add_function(def(
            "search",
            vec![re_fixup(true)],
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
            vec![re_fixup(true)],
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
            vec![posix_fixup(true, true), ParamKind::Str],
            func(search_append),
        ));
        reg.add_function(def(
            "search_hf",
            vec![hname_fixup(), re_fixup(true), ParamKind::Str],
            reads_all_headers(func(search_hf)),
        ));
        reg.add_function(def(
            "has_body",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| if has_body(ctx) { 1 } else { -1 }),
        ));
        reg.add_function(def("has_body", vec![mime_fixup()], func(has_body_mime)));
        reg.add_function(def(
            "append_hf",
            vec![ParamKind::Format],
            reads_all_headers(func(append_hf)),
        ));
        reg.add_function(def(
            "append_hf",
            vec![ParamKind::Format, hname_fixup()],
            reads_all_headers(func(append_hf)),
        ));
        reg.add_function(def(
            "insert_hf",
            vec![ParamKind::Format],
            reads_all_headers(func(insert_hf)),
        ));
        reg.add_function(def(
            "insert_hf",
            vec![ParamKind::Format, hname_fixup()],
            reads_all_headers(func(insert_hf)),
        ));
        reg.add_function(def(
            "remove_hf",
            vec![ParamKind::FormatOrPv],
            reads_all_headers(func(remove_hf)),
        ));
        reg.add_function(def(
            "remove_hf_re",
            vec![re_fixup(true)],
            reads_all_headers(func(remove_hf_re)),
        ));
        reg.add_function(def(
            "remove_hf_exp",
            vec![re_fixup(true), re_fixup(true)],
            reads_all_headers(func(remove_hf_exp)),
        ));
        reg.add_function(def(
            "is_present_hf",
            vec![hname_fixup()],
            reads_all_headers(func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let name = a.first().map(|h| hname(ctx, h)).unwrap_or_default();
                if ctx.msg.has_header(&name) {
                    1
                } else {
                    -1
                }
            })),
        ));
        reg.add_function(def(
            "is_present_hf_re",
            vec![re_fixup(true)],
            reads_all_headers(func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(re) = a.first().and_then(regex_of) else {
                    return -1;
                };
                if ctx.msg.headers().any(|h| re.is_match(h.name)) {
                    1
                } else {
                    -1
                }
            })),
        ));
        reg.add_function(FuncDef {
            name: "append_to_reply",
            module: "textops",
            params: vec![ParamKind::FormatOrPv],
            routes: REQ_ROUTES,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(text) = a.first().and_then(|t| str_arg(ctx, t)) else {
                    return -1;
                };
                // Observed on Kamailio 5.6: empty text fails.
                if text.is_empty() {
                    return -1;
                }
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
            routes: MSG_ROUTES,
            call: func(do_subst_uri),
        });
        reg.add_function(def(
            "replace",
            vec![posix_fixup(true, true), ParamKind::Str],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace(ctx, a, false)),
        ));
        reg.add_function(def(
            "replace_all",
            vec![posix_fixup(true, true), ParamKind::Str],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| do_replace(ctx, a, true)),
        ));
    }
}

/// `starts_with`/`ends_with` on a part as long as the affix: 1 when equal,
/// else the byte comparison's sign as Kamailio returns it (-2 when the text
/// sorts before the affix, -1 after).
fn affix_cmp(part: &[u8], affix: &[u8]) -> i32 {
    match part.cmp(affix) {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Less => -2,
        std::cmp::Ordering::Greater => -1,
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
    }

    #[test]
    fn date_headers() {
        assert_eq!(
            date_header(0),
            b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n".to_vec()
        );
        // 2026-12-05 07:09:55 UTC, a Saturday
        assert_eq!(
            date_header(1_796_454_595),
            b"Date: Sat, 05 Dec 2026 07:09:55 GMT\r\n".to_vec()
        );
        // leap day
        assert_eq!(
            date_header(951_782_400),
            b"Date: Tue, 29 Feb 2000 00:00:00 GMT\r\n".to_vec()
        );
    }

    #[test]
    fn sdp_hold_detection() {
        let sdp = |c: &str, tail: &str| {
            format!("v=0\r\nc=IN IP4 {c}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n{tail}")
        };
        assert_eq!(sdp_audio_hold(sdp("1.2.3.4", "").as_bytes()), -1);
        assert_eq!(sdp_audio_hold(sdp("0.0.0.0", "").as_bytes()), 1);
        assert_eq!(
            sdp_audio_hold(sdp("0.0.0.0", "a=sendonly\r\n").as_bytes()),
            2
        );
        assert_eq!(sdp_audio_hold(sdp("1.2.3.4", "a=inactive\n").as_bytes()), 2);
        assert_eq!(
            sdp_audio_hold(sdp("1.2.3.4", "a=recvonly\r\n").as_bytes()),
            -1
        );
        assert_eq!(
            sdp_audio_hold(sdp("0.0.0.0", "c=IN IP4 1.2.3.4\r\n").as_bytes()),
            -1
        );
        assert_eq!(
            sdp_audio_hold(sdp("1.2.3.4", "m=video 2 RTP/AVP 31\r\na=sendonly\r\n").as_bytes()),
            -1
        );
        assert_eq!(sdp_audio_hold(b"garbage"), -1);
    }

    #[test]
    fn multipart_split() {
        let body = b"pre\r\n--b\r\nContent-Type: a/b\r\n\r\nx\r\n--b\r\nc: c/d\r\nX: y\r\n\r\nz\r\n--b--\r\n";
        let (parts, closing) = split_parts(body, b"b");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].ct, b"a/b");
        assert_eq!(parts[1].ct, b"c/d");
        assert_eq!(&body[parts[0].delim..parts[0].start], b"--b\r\n");
        assert_eq!(
            &body[parts[1].ct_end.unwrap()..parts[1].next],
            b"X: y\r\n\r\nz\r\n"
        );
        assert_eq!(&body[closing.unwrap()..], b"--b--\r\n");
        // truncated bodies give what was complete, never panic
        for n in 0..body.len() {
            let _ = split_parts(&body[..n], b"b");
        }
        assert!(split_parts(b"--b\n", b"b").0.is_empty());
    }

    #[test]
    fn privacy_parsing() {
        assert_eq!(privacy_values(b"id; header").unwrap().len(), 2);
        assert!(privacy_values(b"id;foo").is_none());
        assert_eq!(privacy_values(b"NONE").unwrap(), vec![3]);
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
