//! Generic (SIP-free) transformations: the `s`, `param`, `line` and `re` classes.
//!
//! Semantics follow Kamailio 5.6 as observed by running it (see the tests, which
//! say which edge cases were checked on Kamailio). Common rules:
//! - a null input makes every transformation of these classes fail (the PV read
//!   then fails: nothing is printed in a format, the value is null elsewhere);
//! - an integer input is used as its decimal string;
//! - parameters are static text or a PV read at run time.

mod line;
mod param;
mod re;
mod string;

use crate::pv::PvSpec;
use crate::registry::{Registry, TrParam, TransformClassDef, TransformImpl};
use crate::value::Value;
use bytes::Bytes;
use std::sync::Arc;

pub use param::{parse_params, Param};
pub use re::Subst;
pub use string::{broken_down, core_hash, strftime, strftime_in};

/// Register the `s`, `param`, `line` and `re` transformation classes.
pub fn register<C: 'static>(reg: &mut Registry<C>) {
    reg.add_transform(TransformClassDef {
        class: "s",
        module: "core",
        parse: Arc::new(|_fx, method, params| string::parse(method, params)),
    });
    reg.add_transform(TransformClassDef {
        class: "param",
        module: "core",
        parse: Arc::new(|_fx, method, params| param::parse(method, params)),
    });
    reg.add_transform(TransformClassDef {
        class: "re",
        module: "core",
        parse: Arc::new(|fx, method, params| re::parse(fx, method, params)),
    });
    reg.add_transform(TransformClassDef {
        class: "line",
        module: "core",
        parse: Arc::new(|_fx, method, params| line::parse(method, params)),
    });
}

/// The string a transformation works on: None for null (the transformation fails).
pub(crate) fn input_bytes(v: &Value) -> Option<Bytes> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(Bytes::from(i.to_string())),
        Value::Str(s) => Some(s.clone()),
    }
}

/// An integer parameter: a constant or a PV read at run time.
pub(crate) enum IntArg<C> {
    Const(i32),
    Pv(Box<PvSpec<C>>),
}

impl<C> IntArg<C> {
    pub(crate) fn eval(&self, ctx: &mut C) -> i32 {
        match self {
            IntArg::Const(i) => *i,
            IntArg::Pv(p) => p.get(ctx).to_int(),
        }
    }
}

/// A string parameter: constant text or a PV read at run time.
pub(crate) enum StrArg<C> {
    Const(Bytes),
    Pv(Box<PvSpec<C>>),
}

impl<C> StrArg<C> {
    /// None when the PV read fails or is null.
    pub(crate) fn eval(&self, ctx: &mut C) -> Option<Bytes> {
        match self {
            StrArg::Const(b) => Some(b.clone()),
            StrArg::Pv(p) => input_bytes(&p.try_get(ctx)?),
        }
    }
}

pub(crate) fn int_arg<C>(p: TrParam<C>, what: &str) -> Result<IntArg<C>, String> {
    match p {
        TrParam::Int(i) => Ok(IntArg::Const(i)),
        TrParam::Pv(pv) => Ok(IntArg::Pv(pv)),
        TrParam::Str(s) => {
            let t = trim_blanks(&s);
            crate::value::parse_int(t)
                .map(IntArg::Const)
                .ok_or_else(|| {
                    format!(
                        "{what} must be an integer or a pseudo-variable, not `{}`",
                        String::from_utf8_lossy(&s)
                    )
                })
        }
    }
}

pub(crate) fn str_arg<C>(p: TrParam<C>) -> StrArg<C> {
    match p {
        TrParam::Int(i) => StrArg::Const(Bytes::from(i.to_string())),
        TrParam::Pv(pv) => StrArg::Pv(pv),
        // Kamailio trims string parameters: one made only of blanks is empty
        TrParam::Str(s) if s.iter().all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n')) => {
            StrArg::Const(Bytes::new())
        }
        TrParam::Str(s) => StrArg::Const(s),
    }
}

/// A single-character separator parameter (`s.select`, `param.*`).
pub(crate) fn sep_arg<C>(p: TrParam<C>, what: &str) -> Result<u8, String> {
    match p {
        TrParam::Str(s) if s.len() == 1 => Ok(s[0]),
        TrParam::Str(s) => Err(format!(
            "{what} must be a single character, not `{}`",
            String::from_utf8_lossy(&s)
        )),
        _ => Err(format!("{what} must be a single character")),
    }
}

/// Trailing blanks after a number are accepted (`{s.substr,1 ,2 }`).
fn trim_blanks(s: &[u8]) -> &[u8] {
    let mut e = s.len();
    while e > 0 && matches!(s[e - 1], b' ' | b'\t' | b'\r' | b'\n') {
        e -= 1;
    }
    &s[..e]
}

pub(crate) fn arity(method: &str, params: usize, min: usize, max: usize) -> Result<(), String> {
    if params < min || params > max {
        let want = if min == max {
            format!("{min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(format!(
            "`{method}` takes {want} parameter(s), {params} given"
        ));
    }
    Ok(())
}

/// Resolve a possibly negative index (counting from the end) into `0..len`.
pub(crate) fn resolve_index(idx: i32, len: usize) -> Option<usize> {
    if idx >= 0 {
        let i = idx as usize;
        (i < len).then_some(i)
    } else {
        let back = idx.unsigned_abs() as usize;
        (back <= len).then(|| len - back)
    }
}

/// A transformation implemented by a closure over its fixed-up parameters.
pub(crate) struct FnTr<F>(pub F);

impl<C, F> TransformImpl<C> for FnTr<F>
where
    F: Fn(&mut C, Value) -> Option<Value> + Send + Sync,
{
    fn apply(&self, ctx: &mut C, v: Value) -> Option<Value> {
        (self.0)(ctx, v)
    }
}

pub(crate) fn boxed<C, F>(f: F) -> Box<dyn TransformImpl<C>>
where
    F: Fn(&mut C, Value) -> Option<Value> + Send + Sync + 'static,
{
    Box::new(FnTr(f))
}

pub(crate) fn did_you_mean_method(class: &str, method: &str, all: &[&'static str]) -> String {
    let mut msg = format!("unknown transformation `{class}.{method}`");
    if let Some(s) = crate::pv::did_you_mean(method, all.iter().copied()) {
        msg.push_str(&format!("; did you mean `{class}.{s}`?"));
    }
    msg
}

#[cfg(test)]
mod tests;
