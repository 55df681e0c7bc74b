//! The header-value functions (`append_hf_value`, `remove_hf_value2`,
//! `include_hf_value` ...): a selector `NAME[IDX].PARAM` parsed at load, and
//! the edits it makes, as observed on Kamailio 5.6.3:
//! - a header holds comma-separated values (`X: a, b`; commas in quotes do
//!   not count); `[n]` counts values over all the headers of that name from
//!   the top (1 is the first), `[-n]` from the bottom (down to -10), `[*]`
//!   every value. The `*2` variants (`remove_hf_value2`, `assign_hf_value2`)
//!   take a header as one value (`Authorization: Digest a="1", b=2`), `[n]`
//!   counting headers and params being the comma-separated `name=value`s;
//! - a value removed takes its comma with it (the one after it, or before it
//!   when last); a header left with no value goes as a whole;
//! - a new value goes after (`append`) / before (`insert`) the selected one
//!   in the same header; a new header (`NAME: value`) is added after the
//!   last header when no value is selected, `insert_hf_value("NAME", v)`
//!   puts it above the first header of that name;
//! - `.PARAM`: the `;param[=value]` of a value (after its URI);
//!   assigning an empty value leaves `;param`, a missing one is appended.

use crate::context::Ctx;
use std::ops::Range;

/// The oldest value `[-n]` can reach (Kamailio keeps the last 10).
pub const MAX_FROM_BOTTOM: i32 = 10;

/// What a selector names, parsed at load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfSel {
    /// The header name as written (used for new headers).
    pub name: Vec<u8>,
    /// `[...]` was written.
    pub has_idx: bool,
    /// `[*]`.
    pub all: bool,
    /// The index (0 when not given or `[]`).
    pub idx: i32,
    /// `.param`, when given.
    pub param: Option<Vec<u8>>,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Parse `NAME [ "[" (IDX | "*" | "") "]" ] [ "." PARAM ]` (blanks allowed
/// between the parts, none after the param).
pub fn parse_sel(text: &str) -> Result<HfSel, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let skip = |i: &mut usize| {
        while b.get(*i).is_some_and(|&c| is_space(c)) {
            *i += 1;
        }
    };
    skip(&mut i);
    let start = i;
    while b.get(i).is_some_and(|&c| is_name_char(c)) {
        i += 1;
    }
    if i == start {
        return Err(format!(
            "no header name in `{text}`: expected NAME, NAME[IDX] or NAME.PARAM"
        ));
    }
    let mut sel = HfSel {
        name: b[start..i].to_vec(),
        has_idx: false,
        all: false,
        idx: 0,
        param: None,
    };
    let near = |i: usize| String::from_utf8_lossy(b.get(i..).unwrap_or_default()).into_owned();
    skip(&mut i);
    if b.get(i) == Some(&b'[') {
        i += 1;
        skip(&mut i);
        sel.has_idx = true;
        if b.get(i) == Some(&b'*') {
            sel.all = true;
            i += 1;
        } else if b.get(i) != Some(&b']') {
            // strtol: blanks, a sign, digits
            let mut j = i;
            skip(&mut j);
            let neg = match b.get(j) {
                Some(b'-') => {
                    j += 1;
                    true
                }
                Some(b'+') => {
                    j += 1;
                    false
                }
                _ => false,
            };
            let ds = j;
            let mut n: i64 = 0;
            while let Some(d) = b.get(j).filter(|c| c.is_ascii_digit()) {
                n = (n * 10 + i64::from(d - b'0')).min(i64::from(i32::MAX) + 1);
                j += 1;
            }
            if j == ds {
                return Err(format!(
                    "cannot parse the header selector near `{}`",
                    near(i)
                ));
            }
            let n = if neg { -n } else { n };
            sel.idx = n.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            i = j;
        }
        skip(&mut i);
        if b.get(i) != Some(&b']') {
            return Err(format!(
                "cannot parse the header selector near `{}`: expected `]`",
                near(i)
            ));
        }
        i += 1;
    }
    skip(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        skip(&mut i);
        let ps = i;
        while b.get(i).is_some_and(|&c| is_name_char(c)) {
            i += 1;
        }
        if i == ps {
            return Err(format!(
                "cannot parse the header selector near `{}`: expected a parameter name",
                near(i)
            ));
        }
        sel.param = Some(b[ps..i].to_vec());
    }
    if i != b.len() {
        return Err(format!(
            "cannot parse the header selector near `{}`",
            near(i)
        ));
    }
    Ok(sel)
}

/// The operations, each with the selector checks of its function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Append,
    Insert,
    Remove,
    Assign,
    Remove2,
    Assign2,
    Include,
    Exclude,
    Exists,
}

/// Parse and check a selector for `op` (the function's load-time checks),
/// with the default index filled in.
pub fn sel_for(op: Op, text: &str) -> Result<HfSel, String> {
    let mut s = parse_sel(text)?;
    let low = |s: &HfSel| {
        if s.idx < -MAX_FROM_BOTTOM {
            Err(format!(
                "index cannot be lower than -{MAX_FROM_BOTTOM} in `{text}`"
            ))
        } else {
            Ok(())
        }
    };
    match op {
        Op::Append | Op::Insert => {
            if s.all {
                return Err(format!("`[*]` is not supported here: `{text}`"));
            }
            if s.idx == 0 {
                s.idx = if op == Op::Append { -1 } else { 1 };
            }
            low(&s)?;
            if s.param.is_some() {
                return Err(format!("a parameter is not supported here: `{text}`"));
            }
        }
        Op::Remove | Op::Remove2 | Op::Assign | Op::Assign2 => {
            if matches!(op, Op::Assign | Op::Assign2) && s.all && s.param.is_none() {
                return Err(format!(
                    "`[*]` is supported only with a parameter here: `{text}`"
                ));
            }
            if !s.has_idx || s.idx == 0 {
                s.idx = 1;
                s.has_idx = true;
            }
            low(&s)?;
        }
        Op::Include | Op::Exclude | Op::Exists => {
            if s.has_idx || s.param.is_some() {
                return Err(format!(
                    "neither an index nor a parameter may be given here: `{text}`"
                ));
            }
        }
    }
    Ok(s)
}

/// One header of the selected name: whole line and value range.
#[derive(Clone)]
struct Hf {
    line: Range<usize>,
    body: Range<usize>,
}

/// One value of a header: the value (blanks trimmed) and the range a
/// removal takes (from the end of the previous comma to after its own).
#[derive(Clone)]
struct Val {
    hf: usize,
    val: Range<usize>,
    lump: Range<usize>,
}

fn headers(ctx: &Ctx, name: &[u8]) -> Vec<Hf> {
    ctx.msg
        .headers_named(name)
        .map(|h| Hf {
            line: h.line,
            body: h.value_range,
        })
        .collect()
}

/// The values of one header body (`buf[body]`), in order.
fn values(buf: &[u8], hf: usize, body: &Range<usize>, out: &mut Vec<Val>) {
    let end = body.end.min(buf.len());
    let mut p = body.start.min(end);
    loop {
        let lump_start = p;
        while p < end && is_space(buf[p]) {
            p += 1;
        }
        let vs = p;
        let mut quoted = false;
        while p < end && (buf[p] != b',' || quoted) {
            if buf[p] == b'"' && (!quoted || buf[p - 1] != b'\\') {
                quoted = !quoted;
            }
            p += 1;
        }
        let mut ve = p;
        while ve > vs && is_space(buf[ve - 1]) {
            ve -= 1;
        }
        if p < end {
            p += 1; // the comma
        }
        out.push(Val {
            hf,
            val: vs..ve,
            lump: lump_start..p,
        });
        if p >= end {
            return;
        }
    }
}

/// The value (or, `by_header`, the header as one value) the index selects.
fn find_idx(buf: &[u8], hs: &[Hf], idx: i32, by_header: bool) -> Option<Val> {
    let mut all = Vec::new();
    for (i, h) in hs.iter().enumerate() {
        if by_header {
            all.push(Val {
                hf: i,
                val: h.body.clone(),
                lump: h.body.clone(),
            });
        } else {
            values(buf, i, &h.body, &mut all);
        }
    }
    let n = all.len();
    let at = if idx > 0 {
        usize::try_from(idx - 1).ok()?
    } else {
        n.checked_sub(usize::try_from(idx.unsigned_abs()).ok()?)?
    };
    all.into_iter().nth(at)
}

/// A value being removed as the last of its header takes the comma before it.
fn widen_last(hf: &Hf, lump: Range<usize>) -> Range<usize> {
    if lump.end == hf.body.end && lump.start > hf.body.start {
        lump.start - 1..lump.end
    } else {
        lump
    }
}

/// Delete `r`; the whole header line when it is the header's whole value.
fn delete_value(ctx: &mut Ctx, hf: Option<&Hf>, r: Range<usize>) {
    match hf {
        Some(h) if r == h.body => ctx.edits.delete(h.line.clone()),
        _ => ctx.edits.delete(r),
    }
}

/// `NAME: value CRLF` at `at`.
fn insert_header(ctx: &mut Ctx, at: usize, name: &[u8], val: &[u8]) -> i32 {
    let mut t = Vec::with_capacity(name.len() + val.len() + 4);
    t.extend_from_slice(name);
    t.extend_from_slice(b": ");
    t.extend_from_slice(val);
    t.extend_from_slice(b"\r\n");
    ctx.edits.insert(at, t);
    1
}

/// A value inserted at `at` inside header `hf`: `,v` at the end of its
/// value, `v,` elsewhere.
fn insert_value(ctx: &mut Ctx, hf: &Hf, at: usize, val: &[u8]) -> i32 {
    let mut t = Vec::with_capacity(val.len() + 1);
    if at == hf.body.end {
        t.push(b',');
        t.extend_from_slice(val);
    } else {
        t.extend_from_slice(val);
        t.push(b',');
    }
    ctx.edits.insert(at, t);
    1
}

/// Where the `;params` of a value start: the first `;` outside quotes and
/// outside `<...>` (the value's end when none).
fn params_start(buf: &[u8], v: &Range<usize>) -> usize {
    let (mut quoted, mut angle) = (false, false);
    let mut i = v.start;
    while i < v.end {
        let c = buf[i];
        if quoted {
            if c == b'"' && buf[i - 1] != b'\\' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if angle {
            if c == b'>' {
                angle = false;
            }
        } else if c == b'<' {
            angle = true;
        } else if c == b';' {
            return i;
        }
        i += 1;
    }
    v.end
}

enum Found {
    /// `del`: the whole `;name=value` (with blanks before it), `upd`: what
    /// follows the name (`=value`).
    Yes {
        del: Range<usize>,
        upd: Range<usize>,
    },
    /// Not there: where a new one goes.
    No(usize),
}

/// Find `;name[=value]` in `buf[from..end]`.
fn find_param(buf: &[u8], from: usize, end: usize, name: &[u8]) -> Found {
    let mut i = from;
    loop {
        let del_s = i;
        while i < end && is_space(buf[i]) {
            i += 1;
        }
        if i >= end || buf[i] != b';' {
            return Found::No(del_s);
        }
        i += 1;
        while i < end && is_space(buf[i]) {
            i += 1;
        }
        let ns = i;
        while i < end && !is_space(buf[i]) && buf[i] != b'=' && buf[i] != b';' {
            i += 1;
        }
        let found = buf[ns..i].eq_ignore_ascii_case(name);
        let upd_s = i;
        while i < end && is_space(buf[i]) {
            i += 1;
        }
        if i < end && buf[i] == b'=' {
            i += 1;
            while i < end && is_space(buf[i]) {
                i += 1;
            }
            if i < end && buf[i] == b'"' {
                i += 1;
                while i < end {
                    i += 1;
                    if buf[i - 1] == b'"' {
                        break;
                    }
                }
            } else {
                while i < end && !is_space(buf[i]) && buf[i] != b';' {
                    i += 1;
                }
            }
        }
        if found {
            return Found::Yes {
                del: del_s..i,
                upd: upd_s..i,
            };
        }
    }
}

/// Find `name=value` in an Authorization-like body (`Digest a=1, b="2"`).
/// Also answers the separator a new one takes: `,` once a `name=value` was
/// seen, a blank after a lone token (`Digest`), none in an empty body.
fn find_param2(buf: &[u8], body: &Range<usize>, name: &[u8]) -> (Found, Option<u8>) {
    let end = body.end.min(buf.len());
    let mut i = body.start.min(end);
    let mut delim = None;
    let skip = |i: &mut usize| {
        while *i < end && is_space(buf[*i]) {
            *i += 1;
        }
    };
    while i < end {
        let del_s = i;
        skip(&mut i);
        let comma = i < end && buf[i] == b',';
        if comma {
            i += 1;
        }
        skip(&mut i);
        if i < end && is_name_char(buf[i]) {
            let ns = i;
            delim.get_or_insert(b' ');
            while i < end && is_name_char(buf[i]) {
                i += 1;
            }
            let ne = i;
            skip(&mut i);
            let upd_s = i;
            if i < end && buf[i] == b'=' {
                delim = Some(b',');
                i += 1;
                let found = buf[ns..ne].eq_ignore_ascii_case(name);
                skip(&mut i);
                if i < end && buf[i] == b'"' {
                    i += 1;
                    while i < end {
                        i += 1;
                        if buf[i - 1] == b'"' {
                            break;
                        }
                    }
                } else {
                    while i < end && !is_space(buf[i]) && buf[i] != b',' {
                        i += 1;
                    }
                }
                if found {
                    let upd = upd_s..i;
                    let mut del = del_s..i;
                    skip(&mut i);
                    if !comma && i < end && buf[i] == b',' {
                        del = del_s..i + 1;
                    }
                    return (Found::Yes { del, upd }, delim);
                }
            }
            skip(&mut i);
        } else if i < end {
            // something else (commas, a stray quote): step over it
            i += 1;
        }
    }
    (Found::No(i), delim)
}

/// Make the change for one lookup: set (`value` Some) or delete the param.
fn param_edit(
    ctx: &mut Ctx,
    found: &Found,
    name: &[u8],
    value: Option<&[u8]>,
    delim: Option<u8>,
) -> i32 {
    match (found, value) {
        (Found::Yes { upd, .. }, Some(v)) => {
            if !upd.is_empty() {
                ctx.edits.delete(upd.clone());
            }
            if !v.is_empty() {
                let mut t = Vec::with_capacity(v.len() + 1);
                t.push(b'=');
                t.extend_from_slice(v);
                ctx.edits.insert(upd.start, t);
            }
            1
        }
        (Found::Yes { del, .. }, None) => {
            if !del.is_empty() {
                ctx.edits.delete(del.clone());
            }
            1
        }
        (Found::No(_), None) => -1,
        (Found::No(at), Some(v)) => {
            let mut t = Vec::with_capacity(name.len() + v.len() + 2);
            if let Some(d) = delim {
                t.push(d);
            }
            t.extend_from_slice(name);
            if !v.is_empty() {
                t.push(b'=');
                t.extend_from_slice(v);
            }
            ctx.edits.insert(*at, t);
            1
        }
    }
}

/// The params of one value: set the first `param` (or remove every one).
fn value_params(
    ctx: &mut Ctx,
    buf: &[u8],
    v: &Range<usize>,
    param: &[u8],
    value: Option<&[u8]>,
) -> i32 {
    let mut from = params_start(buf, v);
    let mut first = None;
    loop {
        let f = find_param(buf, from, v.end, param);
        let r = param_edit(ctx, &f, param, value, Some(b';'));
        first.get_or_insert(r);
        match (f, value) {
            (Found::Yes { del, .. }, None) => from = del.end,
            _ => break,
        }
    }
    first.unwrap_or(-1)
}

/// The params of an Authorization-like header.
fn header_params2(
    ctx: &mut Ctx,
    buf: &[u8],
    body: &Range<usize>,
    param: &[u8],
    value: Option<&[u8]>,
) -> i32 {
    let mut area = body.clone();
    let mut first = None;
    loop {
        let (f, delim) = find_param2(buf, &area, param);
        let r = param_edit(ctx, &f, param, value, delim);
        first.get_or_insert(r);
        match (f, value) {
            (Found::Yes { del, .. }, None) => area = del.end..area.end,
            _ => break,
        }
    }
    first.unwrap_or(-1)
}

/// Run `op` with selector `sel` and value `val` (None for the removals).
pub fn run(ctx: &mut Ctx, op: Op, sel: &HfSel, val: Option<&[u8]>) -> i32 {
    let buf = ctx.msg.buf().clone();
    let hs = headers(ctx, &sel.name);
    let v = val.unwrap_or_default();
    let eoh = ctx.msg.headers_end();
    match op {
        Op::Append => {
            if !sel.has_idx {
                return insert_header(ctx, eoh, &sel.name, v);
            }
            match find_idx(&buf, &hs, sel.idx, false) {
                Some(f) => {
                    let hf = hs[f.hf].clone();
                    insert_value(ctx, &hf, f.lump.end, v)
                }
                None => insert_header(ctx, eoh, &sel.name, v),
            }
        }
        Op::Insert => {
            let found = find_idx(&buf, &hs, sel.idx, false);
            match found {
                Some(f) if !sel.has_idx => {
                    let at = hs[f.hf].line.start;
                    insert_header(ctx, at, &sel.name, v)
                }
                None if sel.idx == 1 => insert_header(ctx, eoh, &sel.name, v),
                Some(f) => {
                    let hf = hs[f.hf].clone();
                    insert_value(ctx, &hf, f.lump.start, v)
                }
                None => -1,
            }
        }
        Op::Remove | Op::Assign | Op::Remove2 | Op::Assign2 => {
            let two = matches!(op, Op::Remove2 | Op::Assign2);
            let assign = matches!(op, Op::Assign | Op::Assign2);
            let value = if assign { Some(v) } else { None };
            if sel.all {
                let mut rc = -1;
                for h in &hs {
                    match &sel.param {
                        None => {
                            rc = 1;
                            ctx.edits.delete(h.line.clone());
                        }
                        Some(p) if two => {
                            if header_params2(ctx, &buf, &h.body, p, value) > 0 {
                                rc = 1;
                            }
                        }
                        Some(p) => {
                            let mut vals = Vec::new();
                            values(&buf, 0, &h.body, &mut vals);
                            for x in vals {
                                if value_params(ctx, &buf, &x.val, p, value) > 0 {
                                    rc = 1;
                                }
                            }
                        }
                    }
                }
                return rc;
            }
            let Some(f) = find_idx(&buf, &hs, sel.idx, two) else {
                return -1;
            };
            let hf = hs[f.hf].clone();
            match &sel.param {
                Some(p) if two => header_params2(ctx, &buf, &hf.body, p, value),
                Some(p) => value_params(ctx, &buf, &f.val, p, value),
                None if !assign => {
                    let r = if two {
                        hf.body.clone()
                    } else {
                        widen_last(&hf, f.lump.clone())
                    };
                    delete_value(ctx, Some(&hf), r);
                    1
                }
                None => {
                    if !f.val.is_empty() {
                        ctx.edits.delete(f.val.clone());
                    }
                    if !v.is_empty() {
                        ctx.edits.insert(f.val.start, v.to_vec());
                    }
                    1
                }
            }
        }
        Op::Include | Op::Exclude | Op::Exists => {
            if v.is_empty() {
                return -1;
            }
            let mut vals = Vec::new();
            for (i, h) in hs.iter().enumerate() {
                values(&buf, i, &h.body, &mut vals);
            }
            for x in &vals {
                let text = buf.get(x.val.clone()).unwrap_or_default();
                if !text.is_empty() && text.eq_ignore_ascii_case(v) {
                    match op {
                        Op::Exists | Op::Include => return 1,
                        _ => {
                            let hf = hs[x.hf].clone();
                            let r = widen_last(&hf, x.lump.clone());
                            delete_value(ctx, Some(&hf), r);
                        }
                    }
                }
            }
            match op {
                Op::Exists => -1,
                Op::Include => match hs.first().cloned() {
                    Some(h) => insert_value(ctx, &h, h.body.end, v),
                    None => insert_header(ctx, eoh, &sel.name, v),
                },
                _ => 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let s = parse_sel("Supported").unwrap();
        assert_eq!(
            (s.name.as_slice(), s.has_idx, s.idx),
            (&b"Supported"[..], false, 0)
        );
        let s = parse_sel(" X [ -2 ] . p").unwrap();
        assert_eq!((s.idx, s.param.as_deref()), (-2, Some(&b"p"[..])));
        let s = parse_sel("Route[*]").unwrap();
        assert!(s.all && s.has_idx);
        let s = parse_sel("X[]").unwrap();
        assert!(s.has_idx && s.idx == 0);
        assert_eq!(parse_sel("X_Y").unwrap().name, b"X_Y");
        for bad in [
            "", "$var(h)", "X[1", "X[a]", "X:Y", "X.", "X.p.q", "X.p ", ".p",
        ] {
            assert!(parse_sel(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn per_function_checks() {
        // as Kamailio 5.6.3 refuses them at load
        assert!(sel_for(Op::Append, "X[*]").is_err());
        assert!(sel_for(Op::Append, "X.p").is_err());
        assert!(sel_for(Op::Append, "X[-11]").is_err());
        assert_eq!(sel_for(Op::Append, "X[-10]").unwrap().idx, -10);
        assert_eq!(sel_for(Op::Append, "X[0]").unwrap().idx, -1);
        assert!(sel_for(Op::Insert, "X[*]").is_err());
        assert_eq!(sel_for(Op::Insert, "X").unwrap().idx, 1);
        assert!(sel_for(Op::Assign, "X[*]").is_err());
        assert!(sel_for(Op::Assign2, "X[*]").is_err());
        assert!(sel_for(Op::Assign, "X[*].p").is_ok());
        assert!(sel_for(Op::Remove, "X[*]").is_ok());
        assert!(sel_for(Op::Remove, "X[-11]").is_err());
        let r = sel_for(Op::Remove, "X").unwrap();
        assert!(r.has_idx && r.idx == 1);
        assert!(sel_for(Op::Include, "X[1]").is_err());
        assert!(sel_for(Op::Exists, "X.p").is_err());
        assert!(sel_for(Op::Exclude, "X").is_ok());
    }

    fn vals(s: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        values(s.as_bytes(), 0, &(0..s.len()), &mut out);
        out.into_iter()
            .map(|v| (s[v.val].to_string(), s[v.lump].to_string()))
            .collect()
    }

    #[test]
    fn value_splitting() {
        assert_eq!(
            vals("two, three"),
            [
                ("two".into(), "two,".into()),
                ("three".into(), " three".into())
            ]
        );
        assert_eq!(vals("\"a,b\" <x>, c").len(), 2);
        assert_eq!(vals(""), [(String::new(), String::new())]);
    }

    #[test]
    fn params() {
        let b = b"<sip:a@b;lr>;expires=60 ;x";
        let v = 0..b.len();
        assert_eq!(params_start(b, &v), 12);
        match find_param(b, 12, b.len(), b"x") {
            Found::Yes { del, upd } => assert_eq!((del, upd), (23..26, 26..26)),
            Found::No(_) => panic!("x not found"),
        }
        match find_param(b, 12, b.len(), b"lr") {
            Found::No(at) => assert_eq!(at, b.len()),
            Found::Yes { .. } => panic!("lr is a URI param"),
        }
        let a = br#"Digest username="bob", realm="r", nonce="n""#;
        match find_param2(a, &(0..a.len()), b"realm") {
            (Found::Yes { del, .. }, _) => assert_eq!(&a[del], br#", realm="r""#),
            _ => panic!("realm not found"),
        }
        assert!(
            matches!(find_param2(a, &(0..a.len()), b"qop"), (Found::No(n), Some(b',')) if n == a.len())
        );
    }
}
