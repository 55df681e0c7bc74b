//! jansson and json: JSON documents in the config.
//!
//! jansson: `jansson_get`, `jansson_get_field`, `jansson_set`, `jansson_append`,
//! `jansson_array_size`, with paths such as `a.b[2].c`. json: `json_get_field`,
//! `json_get_string` and the `{json.parse,path}` transformation.
//! Documents are parsed into an order-preserving tree (objects keep their key
//! order, as jansson does) and written back compactly (`{"a":1}`); json's
//! output follows json-c's spaced style (`{ "a": 1 }`) and escapes `/`.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::str_arg;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::fmt::Write as _;

/// Deepest nesting accepted when parsing.
const MAX_DEPTH: usize = 512;

/// A JSON value; objects keep their key order.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

// ---------------------------------------------------------------- parsing

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    /// jansson refuses an object with a repeated key, an integer beyond 64
    /// bits and a real that overflows; json-c keeps the last value of a key
    /// and reads a too big integer as a real.
    reject_duplicates: bool,
}

/// Parse a whole JSON text as jansson does for Kamailio: an object or an
/// array at the top (a bare string, number or literal is refused), surrounding
/// whitespace allowed, a repeated object key, an integer that does not fit 64
/// bits or a real that overflows is an error.
pub fn parse(text: &[u8]) -> Result<Json, String> {
    match parse_with(text, true)? {
        v @ (Json::Obj(_) | Json::Arr(_)) => Ok(v),
        _ => Err("the top of the document is neither an object nor an array".into()),
    }
}

/// Parse as json-c does: a repeated key replaces the earlier value in place.
pub fn parse_json_c(text: &[u8]) -> Result<Json, String> {
    parse_with(text, false)
}

fn parse_with(text: &[u8], reject_duplicates: bool) -> Result<Json, String> {
    let mut p = Parser {
        s: text,
        pos: 0,
        reject_duplicates,
    };
    p.ws();
    let v = p.value(0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(format!(
            "unexpected data after the value at offset {}",
            p.pos
        ));
    }
    Ok(v)
}

impl Parser<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.pos))
    }

    fn lit(&mut self, word: &[u8], v: Json) -> Result<Json, String> {
        if self.s[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(v)
        } else {
            self.err("invalid token")
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        match self.s.get(self.pos) {
            None => self.err("unexpected end of input"),
            Some(b'{') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                    return Ok(Json::Obj(items));
                }
                loop {
                    self.ws();
                    if self.s.get(self.pos) != Some(&b'"') {
                        return self.err("string or '}' expected");
                    }
                    let key_at = self.pos;
                    let k = self.string()?;
                    self.ws();
                    if self.s.get(self.pos) != Some(&b':') {
                        return self.err("':' expected");
                    }
                    self.pos += 1;
                    self.ws();
                    let v = self.value(depth + 1)?;
                    match items.iter_mut().find(|(key, _)| *key == k) {
                        Some(_) if self.reject_duplicates => {
                            self.pos = key_at;
                            return self.err(&format!("duplicate object key \"{k}\""));
                        }
                        Some(slot) => slot.1 = v,
                        None => items.push((k, v)),
                    }
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Json::Obj(items));
                        }
                        _ => return self.err("',' or '}' expected"),
                    }
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    self.ws();
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.pos) {
                        Some(b',') => self.pos += 1,
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return self.err("',' or ']' expected"),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.lit(b"true", Json::Bool(true)),
            Some(b'f') => self.lit(b"false", Json::Bool(false)),
            Some(b'n') => self.lit(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("invalid token"),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let b = p.pos;
            while p.s.get(p.pos).is_some_and(u8::is_ascii_digit) {
                p.pos += 1;
            }
            p.pos - b
        };
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = digits(self);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return self.err("invalid number");
        }
        let mut real = false;
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            real = true;
            if digits(self) == 0 {
                return self.err("invalid number");
            }
        }
        if let Some(b'e' | b'E') = self.s.get(self.pos) {
            self.pos += 1;
            real = true;
            if let Some(b'+' | b'-') = self.s.get(self.pos) {
                self.pos += 1;
            }
            if digits(self) == 0 {
                return self.err("invalid number");
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.pos]).unwrap_or("0");
        if !real {
            if let Ok(i) = text.parse::<i64>() {
                return Ok(Json::Int(i));
            }
            if self.reject_duplicates {
                return self.err("too big integer");
            }
        }
        match text.parse::<f64>() {
            Ok(f) if f.is_finite() || !self.reject_duplicates => Ok(Json::Real(f)),
            Ok(_) => self.err("real number overflow"),
            Err(_) => self.err("invalid number"),
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or("truncated \\u escape")?;
        let t = std::str::from_utf8(h).map_err(|_| "invalid \\u escape".to_string())?;
        let v = u32::from_str_radix(t, 16)
            .map_err(|_| format!("invalid \\u escape at offset {}", self.pos))?;
        self.pos += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.pos += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.pos) else {
                return self.err("unterminated string");
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return self.err("unterminated string");
                    };
                    self.pos += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let cp = if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                    return self.err("invalid Unicode surrogate");
                                }
                                self.pos += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("invalid Unicode surrogate");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(cp) {
                                Some(c) if cp != 0 => c,
                                _ => return self.err("invalid \\u escape"),
                            }
                        }
                        _ => return self.err("invalid escape"),
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                0..=0x1f => return self.err("control character in string"),
                _ => out.push(b),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("invalid UTF-8 in string"))
    }
}

// ---------------------------------------------------------------- output

/// `slash`: json-c's style (`/` escaped, control characters as `\u001f`);
/// otherwise jansson's (`/` as is, `\u001F`).
fn escape_into(s: &str, out: &mut String, slash: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' if slash => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 && slash => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A real as jansson writes it: `%.17g`, the exponent without `+` or leading
/// zeros, and `.0` added when the text would read back as an integer
/// (`0.1` → `0.10000000000000001`, `1e17` → `1e17`, `2.0` → `2.0`).
fn real_text(f: f64) -> String {
    if !f.is_finite() {
        return "null".into();
    }
    let g = fmt_g(f, 17);
    match g.split_once('e') {
        Some((mant, exp)) => {
            let (neg, digits) = match exp.as_bytes().first() {
                Some(b'-') => (true, &exp[1..]),
                Some(b'+') => (false, &exp[1..]),
                _ => (false, exp),
            };
            let digits = digits.trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            format!("{mant}e{}{digits}", if neg { "-" } else { "" })
        }
        None if g.contains('.') => g,
        None => g + ".0",
    }
}

/// Compact output, as jansson's `JSON_COMPACT`.
pub fn dump(v: &Json) -> String {
    let mut out = String::new();
    dump_into(v, &mut out, (",", ":"));
    out
}

/// jansson's default output (no `JSON_COMPACT`, no indent): `{"a": 1, "b": [1, 2]}`.
pub fn dump_jansson_default(v: &Json) -> String {
    let mut out = String::new();
    dump_into(v, &mut out, (", ", ": "));
    out
}

/// `seps`: the item and the key separators.
fn dump_into(v: &Json, out: &mut String, seps: (&str, &str)) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Json::Real(f) => out.push_str(&real_text(*f)),
        Json::Str(s) => escape_into(s, out, false),
        Json::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(seps.0);
                }
                dump_into(x, out, seps);
            }
            out.push(']');
        }
        Json::Obj(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                if i > 0 {
                    out.push_str(seps.0);
                }
                escape_into(k, out, false);
                out.push_str(seps.1);
                dump_into(x, out, seps);
            }
            out.push('}');
        }
    }
}

/// json-c's spaced output: `{ "a": 1 }`, `/` escaped.
pub fn dump_spaced(v: &Json) -> String {
    let mut out = String::new();
    spaced_into(v, &mut out);
    out
}

fn spaced_into(v: &Json, out: &mut String) {
    match v {
        Json::Str(s) => escape_into(s, out, true),
        Json::Real(f) => out.push_str(&fmt_g(*f, 17)),
        Json::Arr(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { " " });
                spaced_into(x, out);
            }
            out.push_str(" ]");
        }
        Json::Obj(o) => {
            out.push('{');
            for (i, (k, x)) in o.iter().enumerate() {
                out.push_str(if i > 0 { ", " } else { " " });
                escape_into(k, out, true);
                out.push_str(": ");
                spaced_into(x, out);
            }
            out.push_str(" }");
        }
        other => dump_into(other, out, (",", ":")),
    }
}

/// C's `%.<prec>g`.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "nan".into()
        } else if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let prec = prec.max(1);
    let sci = format!("{:.*e}", prec - 1, v);
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= prec as i32 {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mant), exp.abs())
    } else {
        let decimals = (prec as i32 - 1 - exp).max(0) as usize;
        trim(&format!("{:.*}", decimals, v))
    }
}

// ---------------------------------------------------------------- paths

#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    Key(String),
    Idx(usize),
}

/// Parse a path such as `a.b[2].c` (empty: the whole document). A trailing
/// `.` is ignored, as Kamailio's reading of paths does (`jansson_set` refuses
/// it, see `set`).
pub fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let b = path.as_bytes();
    let mut i = 0;
    let mut key = String::new();
    let mut after_index = false;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if key.is_empty() && !after_index {
                    return Err(format!("empty key in path `{path}`"));
                }
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                after_index = false;
                i += 1;
            }
            b'[' => {
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                let close = path[i..]
                    .find(']')
                    .ok_or_else(|| format!("missing `]` in path `{path}`"))?
                    + i;
                let n: usize = path[i + 1..close]
                    .trim()
                    .parse()
                    .map_err(|_| format!("invalid array index in path `{path}`"))?;
                segs.push(Seg::Idx(n));
                after_index = true;
                i = close + 1;
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b'.' && b[i] != b'[' {
                    i += 1;
                }
                key.push_str(&path[start..i]);
                after_index = false;
            }
        }
    }
    if !key.is_empty() {
        segs.push(Seg::Key(key));
    }
    Ok(segs)
}

/// The value at `path`, if any.
pub fn path_get<'a>(v: &'a Json, path: &[Seg]) -> Option<&'a Json> {
    let mut cur = v;
    for s in path {
        cur = match (s, cur) {
            (Seg::Key(k), Json::Obj(o)) => &o.iter().find(|(key, _)| key == k)?.1,
            (Seg::Idx(i), Json::Arr(a)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// Set (or, with `append`, append to the array at) `path`; missing object
/// keys on the way are created. As Kamailio, appending to a path that ends
/// with an array index replaces that element, and setting the whole
/// document (an empty path) is refused.
pub fn path_set(root: &mut Json, path: &[Seg], value: Json, append: bool) -> Result<(), String> {
    let append = append && !matches!(path.last(), Some(Seg::Idx(_)));
    if path.is_empty() && !append {
        return Err("an empty path cannot be set".into());
    }
    let mut cur = root;
    let n = path.len();
    for (i, s) in path.iter().enumerate() {
        let last = i + 1 == n;
        cur = match (s, cur) {
            (Seg::Key(k), Json::Obj(o)) => {
                let pos = match o.iter().position(|(key, _)| key == k) {
                    Some(p) => p,
                    None => {
                        if append && last {
                            return Err(format!("no array at `{k}` to append to"));
                        }
                        let fresh = if last {
                            Json::Null
                        } else {
                            Json::Obj(Vec::new())
                        };
                        o.push((k.clone(), fresh));
                        o.len() - 1
                    }
                };
                &mut o[pos].1
            }
            (Seg::Idx(idx), Json::Arr(a)) => {
                let len = a.len();
                a.get_mut(*idx)
                    .ok_or_else(|| format!("index {idx} out of range (array of {len})"))?
            }
            (Seg::Key(k), _) => return Err(format!("an object is expected before `{k}`")),
            (Seg::Idx(i), _) => return Err(format!("an array is expected before `[{i}]`")),
        };
    }
    if append {
        match cur {
            Json::Arr(a) => {
                a.push(value);
                Ok(())
            }
            _ => Err("the path does not lead to an array".into()),
        }
    } else {
        *cur = value;
        Ok(())
    }
}

// ---------------------------------------------------------------- script values

/// What `jansson_get` stores: strings bare, integers as ints (as strings when
/// they do not fit 32 bits), reals as `%.15g`, booleans as 1/0, null as null,
/// objects and arrays as compact JSON.
pub fn to_value(v: &Json) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Int(i32::from(*b)),
        Json::Int(i) => match i32::try_from(*i) {
            Ok(i) => Value::Int(i),
            Err(_) => Value::from_string(i.to_string()),
        },
        Json::Real(f) => Value::from_string(fmt_g(*f, 15)),
        Json::Str(s) => Value::from_string(s.clone()),
        other => Value::from_string(dump(other)),
    }
}

/// Build the value of `jansson_set`/`jansson_append` from its type name.
pub fn typed_value(ty: &str, text: &str) -> Result<Json, String> {
    match ty {
        "string" | "str" => Ok(Json::Str(text.to_string())),
        "integer" | "int" => c_strtoll(text)
            .map(Json::Int)
            .ok_or_else(|| format!("parsing int failed for `{text}`")),
        "real" => c_strtod(text)
            .map(Json::Real)
            .ok_or_else(|| format!("parsing real failed for `{text}`")),
        "true" => Ok(Json::Bool(true)),
        "false" => Ok(Json::Bool(false)),
        "null" => Ok(Json::Null),
        "object" | "obj" => match parse(text.as_bytes()) {
            Ok(v @ Json::Obj(_)) => Ok(v),
            _ => Err(format!("`{text}` is not a JSON object")),
        },
        "array" => match parse(text.as_bytes()) {
            Ok(v @ Json::Arr(_)) => Ok(v),
            _ => Err(format!("`{text}` is not a JSON array")),
        },
        _ => Err(format!(
            "unknown type `{ty}` (string, integer, real, true, false, null, object, array)"
        )),
    }
}

/// C's whitespace (`isspace`).
fn c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r')
}

/// An integer as Kamailio reads it for `jansson_set` (`strtoll` that must use
/// the whole text): leading whitespace and a sign allowed, nothing after the
/// digits, an empty text is 0, out-of-range values saturate.
fn c_strtoll(text: &str) -> Option<i64> {
    if text.is_empty() {
        return Some(0);
    }
    let t = text.trim_start_matches(c_space);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i128 = 0;
    for b in digits.bytes() {
        v = (v * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) + 1);
    }
    let v = if neg { -v } else { v };
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// A real as Kamailio reads it for `jansson_set` (`strtod` that must use the
/// whole text; jansson refuses infinities and NaN): leading whitespace
/// allowed, an empty text is 0. Hexadecimal reals are not read.
fn c_strtod(text: &str) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    let t = text.trim_start_matches(c_space);
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    // Rust also reads "inf", "nan" and "infinity"; strtod's only other forms
    // are hexadecimal ones.
    if !body.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

// ---------------------------------------------------------------- script functions

fn set_out(ctx: &mut Ctx, a: &Arg<Ctx>, v: Value, fname: &str) -> i32 {
    match a {
        Arg::Pv(p) => match p.set(ctx, v) {
            Ok(()) => 1,
            Err(e) => {
                tracing::error!("{fname}: cannot set the result variable: {e:?}");
                -1
            }
        },
        _ => -1,
    }
}

fn load(ctx: &mut Ctx, a: &Arg<Ctx>, fname: &str) -> Option<Json> {
    let text = str_arg(ctx, a)?;
    match parse(&text) {
        Ok(j) => Some(j),
        Err(e) => {
            tracing::error!(
                "{fname}: invalid JSON ({e}): {}",
                String::from_utf8_lossy(&text)
            );
            None
        }
    }
}

fn text_arg(ctx: &mut Ctx, a: &Arg<Ctx>) -> Option<String> {
    str_arg(ctx, a).map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn path_arg(ctx: &mut Ctx, a: &Arg<Ctx>, fname: &str) -> Option<Vec<Seg>> {
    let p = text_arg(ctx, a)?;
    match parse_path(&p) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::error!("{fname}: {e}");
            None
        }
    }
}

fn get(ctx: &mut Ctx, path: &Arg<Ctx>, json: &Arg<Ctx>, out: &Arg<Ctx>, fname: &str) -> i32 {
    let Some(doc) = load(ctx, json, fname) else {
        return -1;
    };
    let Some(p) = path_arg(ctx, path, fname) else {
        return -1;
    };
    match path_get(&doc, &p) {
        Some(v) => set_out(ctx, out, to_value(v), fname),
        None => -1,
    }
}

fn set(ctx: &mut Ctx, args: &[Arg<Ctx>], append: bool, fname: &str) -> i32 {
    let (Some(ty), Some(path), Some(val)) = (
        text_arg(ctx, &args[0]),
        text_arg(ctx, &args[1]),
        text_arg(ctx, &args[2]),
    ) else {
        return -1;
    };
    if !append && path.ends_with('.') {
        // Kamailio's jansson_set refuses what jansson_get/append ignore
        tracing::error!("{fname}: path `{path}` ends with `.`");
        return -1;
    }
    let p = match parse_path(&path) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{fname}: {e}");
            return -1;
        }
    };
    let value = match typed_value(&ty, &val) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("{fname}: {e}");
            return -1;
        }
    };
    let Arg::Pv(out) = &args[3] else { return -1 };
    // As Kamailio: a variable that holds no string (unset, $null, an int)
    // starts a new object; a string, even empty, must be a document.
    let mut doc = match out.get(ctx) {
        Value::Null | Value::Int(_) => Json::Obj(Vec::new()),
        v => match parse(&v.to_bytes()) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("{fname}: the result variable holds invalid JSON ({e})");
                return -1;
            }
        },
    };
    if let Err(e) = path_set(&mut doc, &p, value, append) {
        tracing::error!("{fname}: {e}");
        return -1;
    }
    set_out(ctx, &args[3], Value::from_string(dump(&doc)), fname)
}

/// `jansson_xdecode(json, xavp)`: each object (the root, or each element of a
/// root array) becomes a new `$xavp(name)` item, one field per key in document
/// order; a non-object array element gives an empty item. Values convert as
/// `jansson_get` stores them, null stays null.
fn xdecode(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    const FNAME: &str = "jansson_xdecode";
    let Some(doc) = load(ctx, &a[0], FNAME) else {
        return -1;
    };
    let Some(name) = str_arg(ctx, &a[1]).filter(|n| !n.is_empty()) else {
        tracing::error!("{FNAME}: empty xavp name");
        return -1;
    };
    let fields = |v: &Json| match v {
        Json::Obj(o) => o
            .iter()
            .map(|(k, v)| (bytes::Bytes::copy_from_slice(k.as_bytes()), to_value(v)))
            .collect(),
        _ => Vec::new(),
    };
    match &doc {
        Json::Obj(_) => ctx.avps.xavp_push_fields(&name, fields(&doc)),
        Json::Arr(items) => {
            for item in items {
                ctx.avps.xavp_push_fields(&name, fields(item));
            }
        }
        _ => {
            tracing::error!("{FNAME}: the JSON root is neither an object nor an array");
            return -1;
        }
    }
    1
}

/// `jansson_xencode(xavp, pv)`: the newest `$xavp(name)` item as one JSON
/// object, fields taken newest first (a repeated name keeps its first place
/// and its oldest value, as jansson's set-by-key gives), printed in jansson's
/// default style.
fn xencode(ctx: &mut Ctx, a: &[Arg<Ctx>]) -> i32 {
    const FNAME: &str = "jansson_xencode";
    let Some(name) = str_arg(ctx, &a[0]) else {
        return -1;
    };
    let Some(fields) = ctx.avps.xavp_fields(&name) else {
        tracing::error!(
            "{FNAME}: no xavp `{}` with fields",
            String::from_utf8_lossy(&name)
        );
        return -1;
    };
    let mut obj: Vec<(String, Json)> = Vec::with_capacity(fields.len());
    for (k, v) in fields.iter().rev() {
        let k = String::from_utf8_lossy(k);
        let v = match v {
            Value::Null => Json::Null,
            Value::Int(i) => Json::Int(i64::from(*i)),
            Value::Str(s) => Json::Str(String::from_utf8_lossy(s).into_owned()),
        };
        match obj.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = v,
            None => obj.push((k.into_owned(), v)),
        }
    }
    let text = dump_jansson_default(&Json::Obj(obj));
    set_out(ctx, &a[1], Value::from_string(text), FNAME)
}

fn def(
    name: &'static str,
    module: &'static str,
    params: Vec<ParamKind<Ctx>>,
    call: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module,
        params,
        routes: route_type::ANY,
        call,
    }
}

/// `json_get_field` / `json_get_string`: a top-level field, printed as json-c
/// does (`json_get_string`: strings without quotes).
fn json_field(ctx: &mut Ctx, a: &[Arg<Ctx>], raw_strings: bool, fname: &str) -> i32 {
    let Some(text) = str_arg(ctx, &a[0]) else {
        return -1;
    };
    let Some(field) = text_arg(ctx, &a[1]) else {
        return -1;
    };
    let doc = match parse_json_c(&text) {
        Ok(d) => d,
        Err(_) => {
            tracing::error!("{fname}: empty or invalid JSON");
            return -1;
        }
    };
    let Json::Obj(o) = &doc else { return -1 };
    match o.iter().find(|(k, _)| *k == field) {
        Some((_, Json::Null)) | None => -1,
        Some((_, Json::Str(s))) if raw_strings => {
            set_out(ctx, &a[2], Value::from_string(s.clone()), fname)
        }
        Some((_, v)) => set_out(ctx, &a[2], Value::from_string(dump_spaced(v)), fname),
    }
}

/// The jansson module.
#[derive(Default)]
pub struct Jansson;

/// The json module (`json_get_field`, `json_get_string`).
#[derive(Default)]
pub struct JsonModule;

impl Module for Jansson {
    fn name(&self) -> &'static str {
        "jansson"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        // Kamailio accepts a bare PV for these (`jansson_get("a", $var(j), "$var(o)")`).
        use ParamKind::{FormatOrPv as Format, WritablePv};
        reg.add_function(def(
            "jansson_get",
            "jansson",
            vec![Format, Format, WritablePv],
            func(|ctx, a| get(ctx, &a[0], &a[1], &a[2], "jansson_get")),
        ));
        reg.add_function(def(
            "jansson_get_field",
            "jansson",
            vec![Format, Format, WritablePv],
            func(|ctx, a| get(ctx, &a[1], &a[0], &a[2], "jansson_get_field")),
        ));
        reg.add_function(def(
            "jansson_set",
            "jansson",
            vec![Format, Format, Format, WritablePv],
            func(|ctx, a| set(ctx, a, false, "jansson_set")),
        ));
        reg.add_function(def(
            "jansson_append",
            "jansson",
            vec![Format, Format, Format, WritablePv],
            func(|ctx, a| set(ctx, a, true, "jansson_append")),
        ));
        reg.add_function(def(
            "jansson_xdecode",
            "jansson",
            vec![Format, Format],
            func(xdecode),
        ));
        reg.add_function(def(
            "jansson_xencode",
            "jansson",
            vec![Format, WritablePv],
            func(xencode),
        ));
        reg.add_function(def(
            "jansson_array_size",
            "jansson",
            vec![Format, Format, WritablePv],
            func(|ctx, a| {
                let Some(doc) = load(ctx, &a[1], "jansson_array_size") else {
                    return -1;
                };
                let Some(p) = path_arg(ctx, &a[0], "jansson_array_size") else {
                    return -1;
                };
                match path_get(&doc, &p) {
                    Some(Json::Arr(v)) => set_out(
                        ctx,
                        &a[2],
                        Value::Int(v.len().min(i32::MAX as usize) as i32),
                        "jansson_array_size",
                    ),
                    _ => {
                        tracing::error!(
                            "jansson_array_size: the value at the path is not an array"
                        );
                        -1
                    }
                }
            }),
        ));
    }
}

impl Module for JsonModule {
    fn name(&self) -> &'static str {
        "json"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        // Kamailio accepts a bare PV for these (`jansson_get("a", $var(j), "$var(o)")`).
        use ParamKind::{FormatOrPv as Format, WritablePv};
        for (name, raw_strings) in [("json_get_field", false), ("json_get_string", true)] {
            reg.add_function(def(
                name,
                "json",
                vec![Format, Format, WritablePv],
                func(move |ctx, a| json_field(ctx, a, raw_strings, name)),
            ));
        }
        reg.add_transform(siprd_script::registry::TransformClassDef {
            class: "json",
            module: "json",
            parse: std::sync::Arc::new(|_fx, method: &str, params| json_parse_tr(method, params)),
        });
    }
}

/// `{json.parse,path}`: the value at `path` (`a.b[1]`) of a JSON document,
/// as json-c prints it (a string without its quotes). Observed on Kamailio
/// 5.6.3: invalid JSON, a missing path and `null` give an empty string.
fn json_parse_tr(
    method: &str,
    mut params: Vec<siprd_script::registry::TrParam<Ctx>>,
) -> Result<Box<dyn siprd_script::registry::TransformImpl<Ctx>>, String> {
    use siprd_script::registry::TrParam;
    if method != "parse" {
        return Err(format!(
            "unknown transformation `json.{method}`; did you mean `json.parse`?"
        ));
    }
    let path = match (params.pop(), params.is_empty()) {
        (Some(p), true) => p,
        _ => return Err("`json.parse` takes one parameter: the path of the field".into()),
    };
    struct JsonParse(TrParam<Ctx>);
    impl siprd_script::registry::TransformImpl<Ctx> for JsonParse {
        fn apply(&self, ctx: &mut Ctx, v: Value) -> Option<Value> {
            let text = match v {
                Value::Str(b) => b,
                Value::Int(i) => bytes::Bytes::from(i.to_string()),
                Value::Null => return None,
            };
            let path = match &self.0 {
                TrParam::Str(b) => String::from_utf8_lossy(b).into_owned(),
                TrParam::Int(i) => i.to_string(),
                TrParam::Pv(p) => p.try_get(ctx)?.to_string(),
            };
            let empty = || Some(Value::Str(bytes::Bytes::new()));
            let Ok(doc) = parse_json_c(&text) else {
                return empty();
            };
            let Ok(path) = parse_path(&path) else {
                return empty();
            };
            match path_get(&doc, &path) {
                None | Some(Json::Null) => empty(),
                Some(Json::Str(s)) => Some(Value::from_string(s.clone())),
                Some(v) => Some(Value::from_string(dump_spaced(v))),
            }
        }
    }
    Ok(Box::new(JsonParse(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"a":{"b":[1,2,{"c":"x"}]},"i":5,"s":"str","r":1.5,"t":true,"n":null,"o":{"k":1,"z":[1,2]}}"#;

    fn get_path(doc: &str, p: &str) -> Option<Value> {
        let d = parse(doc.as_bytes()).ok()?;
        path_get(&d, &parse_path(p).ok()?).map(to_value)
    }

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("a.b[2].c").unwrap(),
            vec![
                Seg::Key("a".into()),
                Seg::Key("b".into()),
                Seg::Idx(2),
                Seg::Key("c".into())
            ]
        );
        assert_eq!(parse_path("").unwrap(), vec![]);
        assert_eq!(
            parse_path("[0][1]").unwrap(),
            vec![Seg::Idx(0), Seg::Idx(1)]
        );
        assert!(parse_path("a[x]").is_err());
        assert!(parse_path("a[1").is_err());
        assert!(parse_path("a..b").is_err());
        // a trailing dot is ignored (jansson_set refuses it separately)
        assert_eq!(parse_path("a.").unwrap(), vec![Seg::Key("a".into())]);
    }

    #[test]
    fn get_values_as_kamailio() {
        assert_eq!(get_path(DOC, "i"), Some(Value::Int(5)));
        assert_eq!(get_path(DOC, "s"), Some(Value::from_static("str")));
        assert_eq!(get_path(DOC, "a.b[2].c"), Some(Value::from_static("x")));
        assert_eq!(get_path(DOC, "r"), Some(Value::from_static("1.5")));
        assert_eq!(get_path(DOC, "t"), Some(Value::Int(1)));
        assert_eq!(get_path(DOC, "n"), Some(Value::Null));
        assert_eq!(
            get_path(DOC, "o"),
            Some(Value::from_static(r#"{"k":1,"z":[1,2]}"#))
        );
        assert_eq!(get_path(DOC, ""), Some(Value::from_string(DOC.to_string())));
        assert_eq!(get_path(DOC, "missing"), None);
        assert_eq!(get_path(DOC, "a.b[7]"), None);
        assert_eq!(
            get_path(r#"{"big":3000000000}"#, "big"),
            Some(Value::from_static("3000000000"))
        );
        assert_eq!(
            get_path(r#"{"r":3.0,"q":0.1}"#, "r"),
            Some(Value::from_static("3"))
        );
        assert_eq!(
            get_path(r#"{"r":3.0,"q":0.1}"#, "q"),
            Some(Value::from_static("0.1"))
        );
        assert_eq!(
            get_path(r#"{"u":"caf\u00e9 \"q\""}"#, "u"),
            Some(Value::from_string("café \"q\"".into()))
        );
    }

    #[test]
    fn invalid_json() {
        for bad in [
            "{bad json",
            "[1,2",
            "",
            "{\"a\":}",
            "01",
            "{\"a\":1}x",
            "\"\\x\"",
            "[\u{1}]",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        let deep = "[".repeat(2000);
        assert!(parse(deep.as_bytes()).is_err());
        // a repeated key: jansson refuses the document, json-c keeps the last value in place
        let dup = br#"{"a":1,"b":2,"a":3}"#;
        assert!(parse(dup).unwrap_err().contains("duplicate object key"));
        assert_eq!(dump(&parse_json_c(dup).unwrap()), r#"{"a":3,"b":2}"#);
    }

    #[test]
    fn set_and_append() {
        let mut d = Json::Obj(Vec::new());
        path_set(
            &mut d,
            &parse_path("x").unwrap(),
            Json::Str("hello".into()),
            false,
        )
        .unwrap();
        path_set(&mut d, &parse_path("y.z").unwrap(), Json::Int(42), false).unwrap();
        path_set(
            &mut d,
            &parse_path("r").unwrap(),
            typed_value("real", "2.5").unwrap(),
            false,
        )
        .unwrap();
        path_set(
            &mut d,
            &parse_path("arr").unwrap(),
            typed_value("array", "[1,2]").unwrap(),
            false,
        )
        .unwrap();
        path_set(&mut d, &parse_path("arr").unwrap(), Json::Int(3), true).unwrap();
        path_set(&mut d, &parse_path("arr[0]").unwrap(), Json::Int(9), false).unwrap();
        assert!(path_set(&mut d, &parse_path("newarr").unwrap(), Json::Int(1), true).is_err());
        assert!(path_set(&mut d, &parse_path("arr[9]").unwrap(), Json::Int(1), false).is_err());
        assert_eq!(
            dump(&d),
            r#"{"x":"hello","y":{"z":42},"r":2.5,"arr":[9,2,3]}"#
        );
        assert!(typed_value("int", "abc").is_err());
        assert!(typed_value("bogus", "1").is_err());
        // appending to an index replaces the element; the root cannot be set
        path_set(&mut d, &parse_path("arr[1]").unwrap(), Json::Int(7), true).unwrap();
        assert!(path_set(&mut d, &[], Json::Int(1), false).is_err());
        let mut a = Json::Arr(vec![Json::Int(1)]);
        path_set(&mut a, &[], Json::Int(2), true).unwrap();
        assert_eq!(dump(&a), "[1,2]");
        assert_eq!(
            dump(&d),
            r#"{"x":"hello","y":{"z":42},"r":2.5,"arr":[9,7,3]}"#
        );
    }

    #[test]
    fn typed_values_as_kamailio() {
        let int = |t: &str| typed_value("int", t).ok();
        assert_eq!(int(""), Some(Json::Int(0)));
        assert_eq!(int(" +12"), Some(Json::Int(12)));
        assert_eq!(int("010"), Some(Json::Int(10)));
        assert_eq!(int("99999999999999999999"), Some(Json::Int(i64::MAX)));
        assert_eq!(int("-99999999999999999999"), Some(Json::Int(i64::MIN)));
        for bad in ["12 ", "1.5", "0x10", " ", "+", "abc"] {
            assert_eq!(int(bad), None, "{bad}");
        }
        let real = |t: &str| typed_value("real", t).ok();
        assert_eq!(real(""), Some(Json::Real(0.0)));
        assert_eq!(real(" .5"), Some(Json::Real(0.5)));
        assert_eq!(real("5."), Some(Json::Real(5.0)));
        for bad in ["inf", "nan", "-infinity", "1e400", "12 ", "abc"] {
            assert_eq!(real(bad), None, "{bad}");
        }
        assert!(typed_value("float", "1").is_err());
        assert!(typed_value("arr", "[]").is_err());
        assert!(typed_value("INT", "1").is_err());
    }

    #[test]
    fn jansson_documents() {
        for scalar in ["5", "\"s\"", "null", "true", " 1 "] {
            assert!(parse(scalar.as_bytes()).is_err(), "{scalar}");
        }
        assert!(parse(b"{\"a\":12345678901234567890}").is_err());
        assert!(parse(b"{\"a\":1e400}").is_err());
        // json-c reads both
        assert!(parse_json_c(b"{\"a\":12345678901234567890}").is_ok());
    }

    #[test]
    fn reals_as_jansson_writes_them() {
        let w = |f: f64| dump(&Json::Arr(vec![Json::Real(f)]));
        assert_eq!(w(0.1), "[0.10000000000000001]");
        assert_eq!(w(2.0), "[2.0]");
        assert_eq!(w(-0.0), "[-0.0]");
        assert_eq!(w(1e15), "[1000000000000000.0]");
        assert_eq!(w(1e17), "[1e17]");
        assert_eq!(w(1e-5), "[1.0000000000000001e-5]");
        assert_eq!(w(5e-324), "[4.9406564584124654e-324]");
        assert_eq!(w(1.7976931348623157e308), "[1.7976931348623157e308]");
        assert_eq!(dump(&Json::Str("\u{1f}".into())), r#""\u001F""#);
        assert_eq!(dump_spaced(&Json::Str("\u{1f}".into())), r#""\u001f""#);
    }

    #[test]
    fn json_c_style() {
        let d = parse(DOC.as_bytes()).unwrap();
        let o = path_get(&d, &parse_path("o").unwrap()).unwrap();
        assert_eq!(dump_spaced(o), r#"{ "k": 1, "z": [ 1, 2 ] }"#);
        assert_eq!(dump_spaced(&Json::Str("a/b".into())), r#""a\/b""#);
    }

    #[test]
    fn g_format() {
        assert_eq!(fmt_g(1.5, 15), "1.5");
        assert_eq!(fmt_g(3.0, 15), "3");
        assert_eq!(fmt_g(0.1, 15), "0.1");
        assert_eq!(fmt_g(1e20, 15), "1e+20");
        assert_eq!(fmt_g(1.25e-7, 15), "1.25e-07");
        assert_eq!(fmt_g(123456.789, 15), "123456.789");
    }
}
