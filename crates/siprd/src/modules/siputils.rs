//! siputils: checks and edits of the Request-URI and dialog state.
//!
//! Observed on Kamailio 5.6: `uri_param(name)` is true only for a parameter
//! written without a value (`;lr`), `uri_param(name, value)` compares the value
//! case-sensitively; `add_uri_param` appends `;param` verbatim (no PV
//! expansion) to `$ru`; `is_e164` and `is_uri_user_e164` take a pseudo-variable
//! only (a constant is refused at load). (`is_uri_host_local` belongs to Kamailio's `domain`
//! module; siprd offers it here against the listen addresses and aliases.)

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::str_arg;
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, FuncImpl, ParamKind};
use siprd_script::{route_type, Registry};
use siprd_sip::uri::Uri;

#[derive(Default)]
pub struct Siputils;

fn ruri(ctx: &Ctx) -> Option<Uri> {
    if !ctx.msg.is_request() {
        return None;
    }
    Uri::parse(ctx.ruri()).ok()
}

/// `uri_param` on one URI: `value` None means "present without a value".
pub(crate) fn uri_has_param(uri: &Uri, name: &[u8], value: Option<&[u8]>) -> bool {
    uri.params().any(|(n, v)| {
        n.eq_ignore_ascii_case(name)
            && match (value, v) {
                (None, None) => true,
                (None, Some(v)) => v.is_empty(),
                (Some(want), Some(v)) => v == want,
                (Some(_), None) => false,
            }
    })
}

/// `uri` with `;param` added before any `?headers`.
pub(crate) fn add_param(uri: &[u8], param: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(uri.len() + param.len() + 1);
    let q = memchr::memchr(b'?', uri).unwrap_or(uri.len());
    out.extend_from_slice(&uri[..q]);
    out.push(b';');
    out.extend_from_slice(param);
    out.extend_from_slice(&uri[q..]);
    out
}

/// E.164: `+` and 2 to 15 digits.
pub(crate) fn is_e164(s: &[u8]) -> bool {
    s.len() >= 3 && s.len() <= 16 && s[0] == b'+' && s[1..].iter().all(u8::is_ascii_digit)
}

/// Kamailio's `fixup_pvar_null`: the argument must be one pseudo-variable
/// (quoted or bare); a constant is refused at load.
fn pv_only() -> ParamKind<Ctx> {
    ParamKind::Custom(std::sync::Arc::new(|fx, src| {
        let t = src.text.trim();
        if t.starts_with('$') {
            let (spec, n) = siprd_script::pv::parse_pv(fx, t)?;
            if n == t.len() {
                return Ok(Arg::Pv(Box::new(spec)));
            }
        }
        Err(format!(
            "`{t}` must be a pseudo-variable (Kamailio takes no constant here)"
        ))
    }))
}

fn def(name: &'static str, params: Vec<ParamKind<Ctx>>, call: FuncImpl<Ctx>) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "siputils",
        params,
        routes: route_type::ANY,
        call,
    }
}

fn rc(b: bool) -> i32 {
    if b {
        1
    } else {
        -1
    }
}

impl Module for Siputils {
    fn name(&self) -> &'static str {
        "siputils"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_function(def(
            "has_totag",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                rc(ctx
                    .msg
                    .to()
                    .ok()
                    .and_then(|t| t.tag())
                    .is_some_and(|t| !t.is_empty()))
            }),
        ));
        reg.add_function(def(
            "is_uri_host_local",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| match ruri(ctx) {
                Some(u) => rc(ctx.rt.is_local(u.host(), u.port())),
                None => -1,
            }),
        ));
        reg.add_function(def(
            "uri_param",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(name) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                match ruri(ctx) {
                    Some(u) => rc(uri_has_param(&u, &name, None)),
                    None => -1,
                }
            }),
        ));
        reg.add_function(def(
            "uri_param",
            vec![ParamKind::Format, ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(name) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                let Some(value) = str_arg(ctx, &a[1]) else {
                    return -1;
                };
                match ruri(ctx) {
                    Some(u) => rc(uri_has_param(&u, &name, Some(&value))),
                    None => -1,
                }
            }),
        ));
        reg.add_function(FuncDef {
            name: "add_uri_param",
            module: "siputils",
            params: vec![ParamKind::Str],
            routes: route_type::REQUEST,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(p) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                if p.is_empty() || !ctx.msg.is_request() {
                    return -1;
                }
                let n = add_param(ctx.ruri(), &p);
                ctx.new_uri = Some(Bytes::from(n));
                1
            }),
        });
        reg.add_function(def(
            "is_user",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(want) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                match ruri(ctx) {
                    Some(u) => rc(u.user().is_some_and(|x| x == &want[..])),
                    None => -1,
                }
            }),
        ));
        reg.add_function(def(
            "is_e164",
            vec![pv_only()],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match str_arg(ctx, &a[0]) {
                Some(s) => rc(is_e164(&s)),
                None => -1,
            }),
        ));
        reg.add_function(def(
            "is_uri_user_e164",
            vec![pv_only()],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(s) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                match Uri::parse(&s) {
                    Ok(u) => rc(u.user().is_some_and(is_e164)),
                    Err(_) => -1,
                }
            }),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        let u = Uri::parse(b"sip:a@h;transport=udp;lr").unwrap();
        assert!(!uri_has_param(&u, b"transport", None));
        assert!(uri_has_param(&u, b"transport", Some(b"udp")));
        assert!(!uri_has_param(&u, b"transport", Some(b"UDP")));
        assert!(uri_has_param(&u, b"lr", None));
        assert!(!uri_has_param(&u, b"nope", None));
        assert_eq!(add_param(b"sip:a@h", b"lr"), b"sip:a@h;lr");
        assert_eq!(add_param(b"sip:a@h?X=1", b"lr"), b"sip:a@h;lr?X=1");
        assert!(is_e164(b"+49123"));
        assert!(!is_e164(b"49123"));
        assert!(!is_e164(b"+1"));
    }
}
