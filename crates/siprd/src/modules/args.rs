//! Reading fixed-up function arguments at run time, one function per
//! Kamailio fix-up family, shared by every module.

use crate::context::Ctx;
use bytes::Bytes;
use siprd_script::registry::Arg;
use siprd_script::value::parse_int;

/// Read an int argument: a constant, a PV holding an int, or an int format.
pub fn int_arg(ctx: &mut Ctx, a: &Arg<Ctx>) -> Option<i32> {
    match a {
        Arg::Int(i) => Some(*i),
        Arg::Pv(p) => match p.get(ctx) {
            siprd_script::Value::Int(i) => Some(i),
            _ => None,
        },
        Arg::IntFmt(f) => parse_int(&f.eval(ctx)),
        Arg::Str(s) => parse_int(s),
        Arg::Fmt(f) => parse_int(&f.eval(ctx)),
        _ => None,
    }
}

/// Read a string argument: a constant, a format, or a single PV (null fails).
pub fn str_arg(ctx: &mut Ctx, a: &Arg<Ctx>) -> Option<Bytes> {
    match a {
        Arg::Str(s) => Some(s.clone()),
        Arg::Fmt(f) => Some(f.eval(ctx)),
        Arg::Pv(p) => match p.get(ctx) {
            siprd_script::Value::Null => None,
            v => Some(v.to_bytes()),
        },
        Arg::Int(i) => Some(Bytes::from(i.to_string())),
        Arg::IntFmt(f) => Some(f.eval(ctx)),
        _ => None,
    }
}

/// The text of an argument, formats evaluated; a null PV prints `<null>`
/// and a missing argument is empty.
pub fn text(ctx: &mut Ctx, a: Option<&Arg<Ctx>>) -> Bytes {
    match a {
        Some(Arg::Str(s)) => s.clone(),
        Some(Arg::Fmt(f)) | Some(Arg::IntFmt(f)) => f.eval(ctx),
        Some(Arg::Int(i)) => Bytes::from(i.to_string()),
        Some(Arg::Pv(p)) => p.get(ctx).to_bytes(),
        _ => Bytes::new(),
    }
}

/// An integer given as text (`"10"`, `"$var(x)"`), converted as Kamailio's
/// str2int does: a PV holding a numeric string counts.
pub fn int_text(ctx: &mut Ctx, a: Option<&Arg<Ctx>>) -> Option<i32> {
    match a {
        Some(Arg::Int(i)) => Some(*i),
        Some(Arg::Pv(p)) => p.get(ctx).try_int(),
        other => parse_int(&text(ctx, other)),
    }
}

/// A regex module parameter where empty means "not set" (nosip's
/// `msg_match`, xhttp's `url_skip` ...), compiled at load.
pub fn optional_regex(name: &str, re: &str) -> Result<Option<regex::bytes::Regex>, String> {
    if re.is_empty() {
        return Ok(None);
    }
    regex::bytes::Regex::new(re)
        .map(Some)
        .map_err(|e| format!("bad regular expression in `{name}`: {e}"))
}

/// An integer argument that may also be a pseudo-variable written with or
/// without quotes (Kamailio's `fixup_igp` family: `t_set_fr($var(t))`,
/// `is_maxfwd_lt($var(l))`), where most functions want constants; other
/// text is refused at load. Read it with [`int_arg`].
pub fn int_or_bare_pv() -> siprd_script::registry::ParamKind<Ctx> {
    use siprd_script::registry::{ArgSrc, FixupCtx, ParamKind};
    ParamKind::Custom(std::sync::Arc::new(
        |fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
            let t = src.text.trim();
            if let Some(i) = src.int.or_else(|| parse_int(t.as_bytes())) {
                return Ok(Arg::Int(i));
            }
            if t.starts_with('$') {
                let (spec, n) = siprd_script::pv::parse_pv(fx, t)?;
                if n == t.len() {
                    return Ok(Arg::Pv(Box::new(spec)));
                }
            }
            Err(format!("`{t}` is not an integer or a pseudo-variable"))
        },
    ))
}

/// A string argument that may also be a pseudo-variable written with or
/// without quotes (a leading PV is the value, other text is taken as
/// written). Read it with [`str_arg`].
pub fn str_or_bare_pv() -> siprd_script::registry::ParamKind<Ctx> {
    use siprd_script::registry::{ArgSrc, FixupCtx, ParamKind};
    ParamKind::Custom(std::sync::Arc::new(
        |fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
            let t = src.text.as_str();
            if t.starts_with('$') && siprd_script::pv::scan_pv_len(t).is_some() {
                return siprd_script::pv::parse_pv(fx, t).map(|(p, _)| Arg::Pv(Box::new(p)));
            }
            Ok(Arg::Str(Bytes::from(src.text.clone())))
        },
    ))
}
