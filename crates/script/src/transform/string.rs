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
        "replace" => {
            arity(method, n, 2, 2)?;
            let mut it = params.into_iter();
            let from = str_arg(it.next().unwrap_or(TrParam::Int(0)));
            let to = str_arg(it.next().unwrap_or(TrParam::Int(0)));
            if let super::StrArg::Const(f) = &from {
                if f.is_empty() {
                    return Err("the s.replace match string must not be empty".into());
                }
            }
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
                Some(Value::from_vec(prefixes(&s, m, quoted)))
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

fn prefixes(s: &[u8], max: i32, quoted: bool) -> Vec<u8> {
    let n = if max <= 0 {
        s.len()
    } else {
        (max as usize).min(s.len())
    };
    let mut out = Vec::new();
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
    out
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
