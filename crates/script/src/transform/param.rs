//! The `param` transformation class: `name=value` lists (`a=1;b="x y";c`).

use super::{
    arity, boxed, did_you_mean_method, input_bytes, int_arg, resolve_index, sep_arg, str_arg,
};
use crate::registry::{TrParam, TransformImpl};
use crate::value::Value;
use bytes::Bytes;

const METHODS: &[&str] = &["value", "valueat", "name", "count", "in"];

/// One parameter of a list: name and value (None when written without `=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: Bytes,
    pub value: Option<Bytes>,
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Parse a parameter list the way Kamailio's transformations do (observed on
/// 5.6): parameters separated by `sep`; a name runs to a blank, `=`, the
/// separator or `,`; blanks may surround `=`; a value is a token or a quoted
/// string (quotes removed, no backslash escapes); an unterminated quote or
/// text after a value fail; `a=` is an empty value at the end of the list
/// (blanks may follow) and fails before a separator; a `,` ends the list; an
/// empty list fails. One separator at the very end is dropped (`a;` has one
/// parameter, `;b=;` two); then a separator followed by nothing but blanks
/// fails (`a;;`, `;`, `a; `); elsewhere a separator adds an empty parameter
/// (`;a=1` has 2 parameters).
pub fn parse_params(s: &Bytes, sep: u8) -> Option<Vec<Param>> {
    let s = match s.last() {
        Some(&c) if c == sep => s.slice(..s.len() - 1),
        _ => s.clone(),
    };
    let b = &s[..];
    if b.iter().all(|&c| is_ws(c)) {
        return None;
    }
    let mut out = Vec::new();
    let mut p = 0;
    let skip_ws = |mut p: usize| {
        while p < b.len() && is_ws(b[p]) {
            p += 1;
        }
        p
    };
    loop {
        let ns = p;
        while p < b.len() && !is_ws(b[p]) && b[p] != b'=' && b[p] != sep && b[p] != b',' {
            p += 1;
        }
        let name = s.slice(ns..p);
        p = skip_ws(p);
        let mut value = None;
        if p < b.len() && b[p] == b'=' {
            p = skip_ws(p + 1);
            if p >= b.len() {
                // `name=` ending the list: an empty value
                value = Some(Bytes::new());
            } else if b[p] == b'"' {
                let vs = p + 1;
                let e = memchr::memchr(b'"', &b[vs..])? + vs;
                value = Some(s.slice(vs..e));
                p = e + 1;
            } else {
                let vs = p;
                while p < b.len() && !is_ws(b[p]) && b[p] != sep && b[p] != b',' && b[p] != b'"' {
                    p += 1;
                }
                if p == vs {
                    return None;
                }
                value = Some(s.slice(vs..p));
            }
            p = skip_ws(p);
        }
        out.push(Param { name, value });
        if p >= b.len() || b[p] == b',' {
            return Some(out);
        }
        if b[p] != sep {
            return None;
        }
        p += 1;
        if skip_ws(p) >= b.len() {
            return None;
        }
    }
}

type Tr<C> = Box<dyn TransformImpl<C>>;

pub(super) fn parse<C: 'static>(method: &str, params: Vec<TrParam<C>>) -> Result<Tr<C>, String> {
    let n = params.len();
    let mut it = params.into_iter();
    // a blank separator is trimmed away by Kamailio: every read then fails (None)
    let sep_at = |p: Option<TrParam<C>>| -> Result<Option<u8>, String> {
        match p {
            None => Ok(Some(b';')),
            Some(p) => sep_arg(p, "the parameter separator").map(|c| (!is_ws(c)).then_some(c)),
        }
    };
    match method {
        "count" => {
            arity(method, n, 0, 1)?;
            let sep = sep_at(it.next())?;
            Ok(boxed(move |_ctx: &mut C, v: Value| {
                let list = parse_params(&input_bytes(&v)?, sep?)?;
                Some(Value::Int(list.len() as i32))
            }))
        }
        "value" => {
            arity(method, n, 1, 2)?;
            let name = str_arg(it.next().unwrap_or(TrParam::Int(0)));
            let sep = sep_at(it.next())?;
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let list = parse_params(&input_bytes(&v)?, sep?)?;
                let want = name.eval(ctx)?;
                // The last parameter of that name wins (as Kamailio); names are
                // compared case-insensitively.
                let found = list
                    .iter()
                    .rev()
                    .find(|p| p.name.eq_ignore_ascii_case(&want));
                Some(Value::Str(
                    found.and_then(|p| p.value.clone()).unwrap_or_default(),
                ))
            }))
        }
        // 1 when a parameter of that name is in the list, else 0.
        "in" => {
            arity(method, n, 1, 2)?;
            let name = str_arg(it.next().unwrap_or(TrParam::Int(0)));
            let sep = sep_at(it.next())?;
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let list = parse_params(&input_bytes(&v)?, sep?)?;
                let want = name.eval(ctx)?;
                let hit = list.iter().any(|p| p.name.eq_ignore_ascii_case(&want));
                Some(Value::Int(i32::from(hit)))
            }))
        }
        "valueat" | "name" => {
            arity(method, n, 1, 2)?;
            let want_name = method == "name";
            let idx = int_arg(it.next().unwrap_or(TrParam::Int(0)), "the parameter index")?;
            let sep = sep_at(it.next())?;
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let list = parse_params(&input_bytes(&v)?, sep?)?;
                let out = match resolve_index(idx.eval(ctx), list.len()) {
                    None => Bytes::new(),
                    Some(i) if want_name => list[i].name.clone(),
                    Some(i) => list[i].value.clone().unwrap_or_default(),
                };
                Some(Value::Str(out))
            }))
        }
        _ => Err(did_you_mean_method("param", method, METHODS)),
    }
}
