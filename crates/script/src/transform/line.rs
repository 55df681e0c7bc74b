//! The `line` transformation class.

use super::{arity, boxed, did_you_mean_method, input_bytes, int_arg, resolve_index, str_arg};
use crate::registry::{TrParam, TransformImpl};
use crate::value::Value;
use bytes::Bytes;

const METHODS: &[&str] = &["count", "at", "sw"];

/// Lines of a text: split on LF, a CR before the LF is dropped, a final LF
/// does not start another line; empty text has no lines (the transformation
/// fails), as observed on Kamailio 5.6.
fn lines(s: &Bytes) -> Option<Vec<Bytes>> {
    if s.is_empty() {
        return None;
    }
    let body = if s.ends_with(b"\n") {
        s.slice(..s.len() - 1)
    } else {
        s.clone()
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut push = |a: usize, b: usize| {
        let b = if b > a && body[b - 1] == b'\r' {
            b - 1
        } else {
            b
        };
        out.push(body.slice(a..b));
    };
    for i in memchr::memchr_iter(b'\n', &body) {
        push(start, i);
        start = i + 1;
    }
    push(start, body.len());
    Some(out)
}

type Tr<C> = Box<dyn TransformImpl<C>>;

pub(super) fn parse<C: 'static>(method: &str, params: Vec<TrParam<C>>) -> Result<Tr<C>, String> {
    let n = params.len();
    match method {
        "count" => {
            arity(method, n, 0, 0)?;
            Ok(boxed(|_ctx: &mut C, v: Value| {
                Some(Value::Int(lines(&input_bytes(&v)?)?.len() as i32))
            }))
        }
        "at" => {
            arity(method, n, 1, 1)?;
            let idx = int_arg(
                params.into_iter().next().unwrap_or(TrParam::Int(0)),
                "the line index",
            )?;
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let ls = lines(&input_bytes(&v)?)?;
                Some(Value::Str(match resolve_index(idx.eval(ctx), ls.len()) {
                    Some(i) => ls[i].clone(),
                    None => Bytes::new(),
                }))
            }))
        }
        // The first line starting with the prefix; empty when none does.
        "sw" => {
            arity(method, n, 1, 1)?;
            let prefix = str_arg(params.into_iter().next().unwrap_or(TrParam::Int(0)));
            Ok(boxed(move |ctx: &mut C, v: Value| {
                let ls = lines(&input_bytes(&v)?)?;
                let want = prefix.eval(ctx)?;
                Some(Value::Str(
                    ls.into_iter()
                        .find(|l| l.starts_with(&want))
                        .unwrap_or_default(),
                ))
            }))
        }
        _ => Err(did_you_mean_method("line", method, METHODS)),
    }
}
