//! The `s` transformation class.

use super::{
    arity, boxed, did_you_mean_method, input_bytes, int_arg, resolve_index, sep_arg, str_arg,
};
use crate::registry::{TrParam, TransformImpl};
use crate::value::Value;
use base64::Engine as _;
use bytes::Bytes;

const METHODS: &[&str] = &[
    "len",
    "int",
    "str",
    "select",
    "substr",
    "tolower",
    "toupper",
    "strip",
    "striptail",
    "stripto",
    "trim",
    "ltrim",
    "rtrim",
    "md5",
    "sha256",
    "encode.hexa",
    "decode.hexa",
    "encode.base64",
    "decode.base64",
    "replace",
    "prefixes",
    "prefixes.quoted",
    "numeric",
    "escape.common",
    "unescape.common",
    "rm",
    "unquote",
    "unbracket",
    "urlencode.param",
    "urldecode.param",
    "escape.user",
    "unescape.user",
    "escape.param",
    "unescape.param",
    "escape.csv",
    "corehash",
    "sha384",
    "sha512",
    "encode.base64t",
    "decode.base64t",
    "encode.base64url",
    "decode.base64url",
    "encode.base64urlt",
    "decode.base64urlt",
    "rmws",
    "count",
    "before",
    "after",
    "rbefore",
    "rafter",
    "decode.base58",
    "ftime",
    "encode.7bit",
    "decode.7bit",
    "encode.base58",
    "fmtlines",
    "fmtlinet",
];

type Tr<C> = Box<dyn TransformImpl<C>>;

fn str_fn<C: 'static>(f: fn(&[u8]) -> Option<Value>) -> Tr<C> {
    boxed(move |_ctx: &mut C, v: Value| f(&input_bytes(&v)?))
}

pub(super) fn parse<C: 'static>(method: &str, params: Vec<TrParam<C>>) -> Result<Tr<C>, String> {
    let n = params.len();
    let none = |t: Tr<C>| -> Result<Tr<C>, String> {
        arity(method, n, 0, 0)?;
        Ok(t)
    };
    match method {
        "len" => none(str_fn(|s| Some(Value::Int(s.len() as i32)))),
        "int" => none(boxed(|_ctx: &mut C, v: Value| match v {
            Value::Null => None,
            Value::Int(i) => Some(Value::Int(i)),
            Value::Str(s) => str_to_int(&s).map(Value::Int),
        })),
        // Not in Kamailio 5.6 (listed by later versions): the string form.
        "str" => none(boxed(|_ctx: &mut C, v: Value| {
            input_bytes(&v).map(Value::Str)
        })),
        "tolower" => none(str_fn(|s| Some(Value::from_vec(s.to_ascii_lowercase())))),
        "toupper" => none(str_fn(|s| Some(Value::from_vec(s.to_ascii_uppercase())))),
        "trim" => none(str_fn(|s| Some(sub(trim_end(trim_start(s)))))),
        "ltrim" => none(str_fn(|s| Some(sub(trim_start(s))))),
        "rtrim" => none(str_fn(|s| Some(sub(trim_end(s))))),
        "md5" => none(str_fn(|s| {
            use md5::Digest;
            Some(Value::from_vec(hex(&md5::Md5::digest(s))))
        })),
        "sha256" => none(str_fn(|s| {
            use sha2::Digest;
            Some(Value::from_vec(hex(&sha2::Sha256::digest(s))))
        })),
        "encode.hexa" => none(str_fn(|s| Some(Value::from_vec(hex(s))))),
        "decode.hexa" => none(str_fn(|s| unhex(s).map(Value::from_vec))),
        "encode.base64" => none(str_fn(|s| {
            Some(Value::from_string(
                base64::engine::general_purpose::STANDARD.encode(s),
            ))
        })),
        "decode.base64" => none(str_fn(|s| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()
                .map(Value::from_vec)
        })),
        "numeric" => none(str_fn(|s| {
            Some(Value::from_vec(
                s.iter().copied().filter(u8::is_ascii_digit).collect(),
            ))
        })),
        "escape.common" => none(str_fn(|s| Some(Value::from_vec(escape_common(s))))),
        "unescape.common" => none(str_fn(|s| Some(Value::from_vec(unescape_common(s))))),
        "unquote" => none(str_fn(|s| Some(sub(unquote(s))))),
        "unbracket" => none(str_fn(|s| Some(sub(unbracket(s))))),
        "urlencode.param" => none(str_fn(|s| Some(Value::from_vec(pct_encode(s, b"-_.~"))))),
        "urldecode.param" => none(str_fn(|s| pct_decode(s, true).map(Value::from_vec))),
        "escape.user" => none(str_fn(|s| {
            Some(Value::from_vec(pct_encode(s, b"-_.!~*'()&=+$;?,")))
        })),
        "escape.param" => none(str_fn(|s| {
            Some(Value::from_vec(pct_encode(s, b"-_.!~*'()[]/:&+$")))
        })),
        "unescape.user" | "unescape.param" => {
            none(str_fn(|s| pct_decode(s, false).map(Value::from_vec)))
        }
        "escape.csv" => none(str_fn(|s| Some(Value::from_vec(escape_csv(s))))),
        "sha384" => none(str_fn(|s| {
            use sha2::Digest;
            Some(Value::from_vec(hex(&sha2::Sha384::digest(s))))
        })),
        "sha512" => none(str_fn(|s| {
            use sha2::Digest;
            Some(Value::from_vec(hex(&sha2::Sha512::digest(s))))
        })),
        "encode.base64t" => none(str_fn(|s| Some(b64_enc(&B64_STD_T, s)))),
        "encode.base64url" => none(str_fn(|s| Some(b64_enc(&B64_URL, s)))),
        "encode.base64urlt" => none(str_fn(|s| Some(b64_enc(&B64_URL_T, s)))),
        // Observed: the trimmed and URL decoders take text with or without padding.
        "decode.base64t" => none(str_fn(|s| b64_dec(&B64_STD_T, s))),
        "decode.base64url" | "decode.base64urlt" => none(str_fn(|s| b64_dec(&B64_URL_T, s))),
        "rmws" => none(str_fn(|s| {
            Some(Value::from_vec(
                s.iter().copied().filter(|b| !is_ws(*b)).collect(),
            ))
        })),
        "encode.7bit" => none(str_fn(|s| {
            Some(Value::from_vec(hex(&pack_7bit(s)).to_ascii_uppercase()))
        })),
        "decode.7bit" => none(str_fn(|s| {
            unhex(s).map(|b| Value::from_vec(unpack_7bit(&b)))
        })),
        "encode.base58" => none(str_fn(|s| Some(Value::from_vec(base58(s))))),
        "corehash" => {
            arity(method, n, 0, 1)?;
            let size = match params.into_iter().next() {
                None => None,
                Some(p) => Some(int_arg(p, "the s.corehash size")?),
            };
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let size = size.as_ref().map_or(0, |m| m.eval(ctx));
                let h = core_hash(&s, None, u32::try_from(size).unwrap_or(0), false);
                // The full 32-bit hash is unsigned: past i32 it stays text.
                Some(match i32::try_from(h) {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::from_string(h.to_string()),
                })
            }))
        }
        "decode.base58" => none(str_fn(|s| unbase58(s).map(Value::from_vec))),
        "ftime" => {
            arity(method, n, 1, 1)?;
            let fmt = str_arg(params.into_iter().next().unwrap_or(TrParam::Int(0)));
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let t = match v {
                    Value::Int(i) => i64::from(i),
                    Value::Str(s) => i64::from(str_to_int(&s)?),
                    Value::Null => return None,
                };
                let f = fmt.eval(ctx)?;
                Some(Value::from_vec(strftime(&f, t)?))
            }))
        }
        "count" | "before" | "after" | "rbefore" | "rafter" => {
            // `{s.count,,}`: the character is the comma itself (as Kamailio,
            // which reads one character after the method's comma)
            let comma = n == 2
                && params
                    .iter()
                    .all(|p| matches!(p, TrParam::Str(s) if s.is_empty()));
            let params = if comma {
                vec![TrParam::Str(Bytes::from_static(b","))]
            } else {
                params
            };
            let n = params.len();
            arity(method, n, 1, 1)?;
            // a parameter of blanks only is empty once Kamailio trims it: a
            // character that is never found
            let c = match params.into_iter().next().unwrap_or(TrParam::Int(0)) {
                TrParam::Str(s) if !s.is_empty() && s.iter().all(|b| is_ws(*b)) => None,
                p => Some(sep_arg(p, "the character")?),
            };
            let find = move |s: &[u8]| c.and_then(|c| memchr::memchr(c, s));
            let rfind = move |s: &[u8]| c.and_then(|c| memchr::memrchr(c, s));
            let which = method.as_bytes()[0];
            let before = method.ends_with("before");
            let last = method.starts_with('r');
            Ok(boxed(move |_ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                if last {
                    // Kamailio 5.6.3's rbefore/rafter print garbage; siprd cuts
                    // at the last occurrence (the documented meaning).
                    return Some(Value::Str(match rfind(&s) {
                        Some(p) if before => s.slice(..p),
                        Some(p) => s.slice(p + 1..),
                        None if before => s,
                        None => Bytes::new(),
                    }));
                }
                match which {
                    b'c' => Some(Value::Int(
                        s.iter().filter(|b| Some(**b) == c).count() as i32
                    )),
                    b'b' => Some(Value::Str(match find(&s) {
                        Some(p) => s.slice(..p),
                        None => s,
                    })),
                    _ => Some(Value::Str(match find(&s) {
                        Some(p) => s.slice(p + 1..),
                        None => Bytes::new(),
                    })),
                }
            }))
        }
        "fmtlines" | "fmtlinet" => {
            // `{s.fmtlines,N,M}`: as Kamailio 5.6.3 does it, a line break and
            // M spaces (fmtlinet: tabs) after each of the first N-1
            // characters but the last; N of 0 gives a null value (and a
            // negative N, which crashes Kamailio, too)
            arity(method, n, 2, 2)?;
            let mut it = params.into_iter();
            let width = int_arg(it.next().unwrap_or(TrParam::Int(0)), "the line width")?;
            let indent = int_arg(it.next().unwrap_or(TrParam::Int(0)), "the indentation")?;
            let fill = if method == "fmtlines" { b' ' } else { b'\t' };
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let w = width.eval(ctx);
                let m = usize::try_from(indent.eval(ctx)).unwrap_or(0);
                if w <= 0 {
                    return Some(Value::Null);
                }
                let breaks = (w as usize - 1).min(s.len().saturating_sub(1));
                let len = s.len() + breaks.saturating_mul(m.saturating_add(2));
                if len > MAX_TR_OUTPUT {
                    return None;
                }
                let mut out = Vec::with_capacity(len);
                for (i, c) in s.iter().enumerate() {
                    out.push(*c);
                    if i < breaks {
                        out.extend_from_slice(b"\r\n");
                        out.resize(out.len() + m, fill);
                    }
                }
                Some(Value::from_vec(out))
            }))
        }
        "select" => {
            arity(method, n, 2, 3)?;
            let mut it = params.into_iter();
            let idx = int_arg(it.next().unwrap_or(TrParam::Int(0)), "the s.select index")?;
            let sep = match (it.next(), it.next()) {
                // `{s.select,1,,}`: the separator is a comma.
                (Some(TrParam::Str(a)), Some(TrParam::Str(b))) if a.is_empty() && b.is_empty() => {
                    b','
                }
                (Some(p), None) => sep_arg(p, "the s.select separator")?,
                _ => return Err("the s.select separator must be a single character".into()),
            };
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let i = idx.eval(ctx);
                Some(Value::Str(select(&s, i, sep)))
            }))
        }
        "substr" => {
            arity(method, n, 2, 2)?;
            let mut it = params.into_iter();
            let off = int_arg(it.next().unwrap_or(TrParam::Int(0)), "the s.substr offset")?;
            let len = int_arg(it.next().unwrap_or(TrParam::Int(0)), "the s.substr length")?;
            if let super::IntArg::Const(l) = len {
                if l < 0 {
                    return Err("the s.substr length must not be negative".into());
                }
            }
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let o = off.eval(ctx);
                let l = len.eval(ctx);
                substr(&s, o, l).map(Value::Str)
            }))
        }
        "strip" | "striptail" => {
            arity(method, n, 1, 1)?;
            let tail = method == "striptail";
            let k = int_arg(
                params.into_iter().next().unwrap_or(TrParam::Int(0)),
                "the count",
            )?;
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let k = k.eval(ctx);
                if k <= 0 {
                    return Some(Value::Str(s));
                }
                let k = (k as usize).min(s.len());
                Some(Value::Str(if tail {
                    s.slice(..s.len() - k)
                } else {
                    s.slice(k..)
                }))
            }))
        }
        "stripto" => {
            // Observed on Kamailio 5.6: the text from the first occurrence of
            // the parameter's first character on (`abc;d` → `;d`); empty
            // when it does not occur.
            arity(method, n, 1, 1)?;
            let to = str_arg(params.into_iter().next().unwrap_or(TrParam::Int(0)));
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let t = to.eval(ctx)?;
                Some(Value::Str(
                    match t.first().and_then(|c| memchr::memchr(*c, &s)) {
                        Some(p) => s.slice(p..),
                        None => Bytes::new(),
                    },
                ))
            }))
        }
        "replace" => {
            arity(method, n, 2, 2)?;
            let mut it = params.into_iter();
            let from = str_arg(it.next().unwrap_or(TrParam::Int(0)));
            let to = str_arg(it.next().unwrap_or(TrParam::Int(0)));
            // an empty match string (also `{s.replace, ,x}`: Kamailio trims
            // it) replaces nothing
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let f = from.eval(ctx)?;
                let t = to.eval(ctx)?;
                Some(Value::Str(replace(&s, &f, &t)))
            }))
        }
        "rm" => {
            arity(method, n, 1, 1)?;
            let from = str_arg(params.into_iter().next().unwrap_or(TrParam::Int(0)));
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let f = from.eval(ctx)?;
                Some(Value::Str(replace(&s, &f, b"")))
            }))
        }
        "prefixes" | "prefixes.quoted" => {
            arity(method, n, 0, 1)?;
            let quoted = method == "prefixes.quoted";
            let max = match params.into_iter().next() {
                None => None,
                Some(p) => Some(int_arg(p, "the s.prefixes length")?),
            };
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let s = input_bytes(&v)?;
                let m = max.as_ref().map(|m| m.eval(ctx)).unwrap_or(0);
                prefixes(&s, m, quoted).map(Value::from_vec)
            }))
        }
        _ => Err(did_you_mean_method("s", method, METHODS)),
    }
}

fn sub(s: &[u8]) -> Value {
    Value::from_vec(s.to_vec())
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim_start(s: &[u8]) -> &[u8] {
    let i = s.iter().position(|b| !is_ws(*b)).unwrap_or(s.len());
    &s[i..]
}

fn trim_end(s: &[u8]) -> &[u8] {
    let e = s.iter().rposition(|b| !is_ws(*b)).map_or(0, |p| p + 1);
    &s[..e]
}

/// `{s.int}`: an optional sign and decimal digits, nothing else (no blanks);
/// a lone sign is 0; values outside 32 bits fail (all checked on Kamailio).
pub(crate) fn str_to_int(s: &[u8]) -> Option<i32> {
    // Kamailio reads "" as 0 but keeps printing "" (a number with the text
    // beside it); failing here prints as Kamailio does and reads 0 in integer
    // comparisons and assignments, only `== $null` differs
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
        if n > i64::from(i32::MAX) + 1 {
            return None;
        }
    }
    let n = if neg { -n } else { n };
    i32::try_from(n).ok()
}

pub(crate) fn hex(s: &[u8]) -> Vec<u8> {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(s.len() * 2);
    for b in s {
        out.push(D[usize::from(b >> 4)]);
        out.push(D[usize::from(b & 15)]);
    }
    out
}

/// Odd length: the last digit is ignored; a non-hex digit fails (as Kamailio).
fn unhex(s: &[u8]) -> Option<Vec<u8>> {
    fn nib(c: u8) -> Option<u8> {
        (c as char).to_digit(16).map(|d| d as u8)
    }
    s.chunks_exact(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

fn select(s: &Bytes, idx: i32, sep: u8) -> Bytes {
    let fields: Vec<(usize, usize)> = {
        let mut v = Vec::new();
        let mut start = 0;
        for (i, b) in s.iter().enumerate() {
            if *b == sep {
                v.push((start, i));
                start = i + 1;
            }
        }
        v.push((start, s.len()));
        v
    };
    match resolve_index(idx, fields.len()) {
        Some(i) => s.slice(fields[i].0..fields[i].1),
        None => Bytes::new(),
    }
}

fn substr(s: &Bytes, off: i32, len: i32) -> Option<Bytes> {
    let l = s.len();
    let o = if off < 0 {
        let back = off.unsigned_abs() as usize;
        if back > l {
            return None;
        }
        l - back
    } else {
        off as usize
    };
    if o >= l || len < 0 {
        return None;
    }
    let end = if len == 0 {
        l
    } else {
        (o + len as usize).min(l)
    };
    Some(s.slice(o..end))
}

fn replace(s: &Bytes, from: &[u8], to: &[u8]) -> Bytes {
    if from.is_empty() {
        return s.clone();
    }
    let finder = memchr::memmem::Finder::new(from);
    let mut it = finder.find_iter(s).peekable();
    if it.peek().is_none() {
        return s.clone();
    }
    let mut out = Vec::with_capacity(s.len());
    let mut last = 0;
    for p in it {
        // find_iter yields non-overlapping matches
        out.extend_from_slice(&s[last..p]);
        out.extend_from_slice(to);
        last = p + from.len();
    }
    out.extend_from_slice(&s[last..]);
    Bytes::from(out)
}

/// Longest `s.prefixes` (and `s.fmtlines`) result: the output grows with
/// the square of the input, so a long header would otherwise ask for
/// gigabytes. Kamailio fails too ("prefixes buffer too short") past its
/// 64 KiB buffer.
const MAX_TR_OUTPUT: usize = 65535;

fn prefixes(s: &[u8], max: i32, quoted: bool) -> Option<Vec<u8>> {
    let n = if max <= 0 {
        s.len()
    } else {
        (max as usize).min(s.len())
    };
    // n prefixes of 1..=n bytes, n-1 commas, 2n quotes
    let per_prefix = if quoted { 3 } else { 1 };
    let len = (n.checked_mul(n + 1)? / 2 + n * per_prefix).saturating_sub(1);
    if len > MAX_TR_OUTPUT {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    for i in 1..=n {
        if i > 1 {
            out.push(b',');
        }
        if quoted {
            out.push(b'\'');
        }
        out.extend_from_slice(&s[..i]);
        if quoted {
            out.push(b'\'');
        }
    }
    Some(out)
}

fn escape_common(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 4);
    for &b in s {
        match b {
            b'\'' | b'"' | b'\\' => {
                out.push(b'\\');
                out.push(b);
            }
            0 => out.extend_from_slice(b"\\0"),
            _ => out.push(b),
        }
    }
    out
}

fn unescape_common(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 1 < s.len() {
            match s[i + 1] {
                c @ (b'\'' | b'"' | b'\\') => {
                    out.push(c);
                    i += 2;
                    continue;
                }
                b'0' => {
                    out.push(0);
                    i += 2;
                    continue;
                }
                _ => {}
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn unquote(s: &[u8]) -> &[u8] {
    if s.len() >= 2 {
        let (f, l) = (s[0], s[s.len() - 1]);
        if (f == b'"' && l == b'"') || (f == b'\'' && l == b'\'') {
            return &s[1..s.len() - 1];
        }
    }
    s
}

/// `<...>` loses its brackets when both are there (`<>` gives empty).
fn unbracket(s: &[u8]) -> &[u8] {
    if s.len() >= 2 && s[0] == b'<' && s[s.len() - 1] == b'>' {
        return &s[1..s.len() - 1];
    }
    s
}

/// Percent-encoding with lowercase hex: ASCII alphanumerics and `keep` stay.
fn pct_encode(s: &[u8], keep: &[u8]) -> Vec<u8> {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(s.len() + 8);
    for &b in s {
        if b.is_ascii_alphanumeric() || keep.contains(&b) {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(D[usize::from(b >> 4)]);
            out.push(D[usize::from(b & 15)]);
        }
    }
    out
}

/// `%XX` decoding; `plus` turns `+` into a space (URL form). A bad escape fails.
fn pct_decode(s: &[u8], plus: bool) -> Option<Vec<u8>> {
    let nib = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'%' => {
                let h = nib(*s.get(i + 1)?)?;
                let l = nib(*s.get(i + 2)?)?;
                out.push(h << 4 | l);
                i += 3;
            }
            b'+' if plus => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// Always quoted, inner quotes doubled (observed: `plain` gives `"plain"`).
fn escape_csv(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &b in s {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;

const B64_LAX: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_encode_padding(false)
    .with_decode_padding_mode(DecodePaddingMode::Indifferent);
const B64_STD_T: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, B64_LAX);
const B64_URL_T: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, B64_LAX);
const B64_URL: GeneralPurpose = base64::engine::general_purpose::URL_SAFE;

fn b64_enc(e: &GeneralPurpose, s: &[u8]) -> Value {
    Value::from_string(e.encode(s))
}

fn b64_dec(e: &GeneralPurpose, s: &[u8]) -> Option<Value> {
    e.decode(s).ok().map(Value::from_vec)
}

/// GSM 03.38 packing of 7-bit characters, 8 characters in 7 bytes.
fn pack_7bit(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in s {
        acc |= u32::from(b & 0x7f) << bits;
        bits += 7;
        while bits >= 8 {
            out.push((acc & 0xff) as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push((acc & 0xff) as u8);
    }
    out
}

fn unpack_7bit(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() + b.len() / 7);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &x in b {
        acc |= u32::from(x) << bits;
        bits += 8;
        while bits >= 7 {
            out.push((acc & 0x7f) as u8);
            acc >>= 7;
            bits -= 7;
        }
    }
    // Seven bytes carry eight characters; a final zero septet is padding.
    if b.len().is_multiple_of(7) && out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// Base58 with the Bitcoin alphabet (leading zero bytes become `1`).
fn base58(s: &[u8]) -> Vec<u8> {
    const A: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let zeros = s.iter().take_while(|b| **b == 0).count();
    let mut digits: Vec<u8> = Vec::new(); // base-58 digits, least significant first
    for &b in &s[zeros..] {
        let mut carry = u32::from(b);
        for d in digits.iter_mut() {
            carry += u32::from(*d) << 8;
            *d = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let mut out = vec![b'1'; zeros];
    out.extend(digits.iter().rev().map(|d| A[usize::from(*d)]));
    out
}

/// Kamailio's `core_hash()` (and `core_case_hash()` when `icase`): a simple
/// 32-bit hash over up to two strings. Bytes are sign-extended as C `char`
/// on x86. `size` (a power of two, 0 for none) masks the result.
pub fn core_hash(s1: &[u8], s2: Option<&[u8]>, size: u32, icase: bool) -> u32 {
    let ch = |b: u8| -> u32 {
        let b = if icase && b.is_ascii_uppercase() {
            b | 0x20
        } else {
            b
        };
        (b as i8) as i32 as u32
    };
    let mut h: u32 = 0;
    let mut feed = |s: &[u8]| {
        let mut chunks = s.chunks_exact(4);
        for c in &mut chunks {
            let v = (ch(c[0]) << 24)
                .wrapping_add(ch(c[1]) << 16)
                .wrapping_add(ch(c[2]) << 8)
                .wrapping_add(ch(c[3]));
            h = h.wrapping_add(v ^ (v >> 3));
        }
        let mut v: u32 = 0;
        for &b in chunks.remainder() {
            v = (v << 8).wrapping_add(ch(b));
        }
        h = h.wrapping_add(v ^ (v >> 3));
    };
    feed(s1);
    if let Some(s2) = s2 {
        feed(s2);
    }
    h = h
        .wrapping_add(h >> 11)
        .wrapping_add((h >> 13).wrapping_add(h >> 23));
    if size != 0 {
        h & size.wrapping_sub(1)
    } else {
        h
    }
}

fn unbase58(s: &[u8]) -> Option<Vec<u8>> {
    const A: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let zeros = s.iter().take_while(|b| **b == b'1').count();
    let mut bytes: Vec<u8> = Vec::new(); // least significant first
    for &c in &s[zeros..] {
        let mut carry = A.iter().position(|a| *a == c)? as u32;
        for b in bytes.iter_mut() {
            carry += u32::from(*b) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let mut out = vec![0u8; zeros];
    out.extend(bytes.iter().rev());
    Some(out)
}

/// `strftime` in local time (`{s.ftime,fmt}`, `$timef`); None for a bad format.
pub fn strftime(fmt: &[u8], t: i64) -> Option<Vec<u8>> {
    strftime_in(fmt, t, false)
}

/// The broken-down time of `t`, in UTC or local time.
pub fn broken_down(t: i64, utc: bool) -> Option<libc::tm> {
    // SAFETY: zeroed `tm` is a valid value; gmtime_r/localtime_r only write into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let tt: libc::time_t = t as libc::time_t;
    // SAFETY: valid pointers to locals.
    let ok = unsafe {
        if utc {
            libc::gmtime_r(&tt, &mut tm)
        } else {
            libc::localtime_r(&tt, &mut tm)
        }
    };
    (!ok.is_null()).then_some(tm)
}

/// `strftime` in UTC (`utc`: `$utimef`) or local time.
pub fn strftime_in(fmt: &[u8], t: i64, utc: bool) -> Option<Vec<u8>> {
    let cfmt = std::ffi::CString::new(fmt).ok()?;
    let tm = broken_down(t, utc)?;
    let mut buf = vec![0u8; 512];
    // SAFETY: buf is writable for its length; cfmt is NUL-terminated.
    let n = unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm) };
    buf.truncate(n);
    Some(buf)
}
