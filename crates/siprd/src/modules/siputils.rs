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
        register_more(reg);
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

/// `is_tel_number`: an optional `+` and at least one digit, nothing else.
pub(crate) fn is_tel_number(s: &[u8]) -> bool {
    let d = s.strip_prefix(b"+").unwrap_or(s);
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

fn port_or(u: &Uri, default: u16) -> u16 {
    u.port().unwrap_or(default)
}

fn default_port(u: &Uri) -> u16 {
    if u.scheme_bytes().eq_ignore_ascii_case(b"sips") {
        5061
    } else {
        5060
    }
}

/// `cmp_uri`: scheme, user and password exactly, host case-insensitively,
/// the port as written (`sip:a@h` differs from `sip:a@h:5060`); a parameter
/// counts only when both URIs have it (observed: `;transport=tcp` on one
/// side alone still compares equal, unlike RFC 3261 §19.1.4).
pub(crate) fn cmp_uri(a: &Uri, b: &Uri) -> bool {
    if !a.scheme_bytes().eq_ignore_ascii_case(b.scheme_bytes())
        || a.user() != b.user()
        || a.password() != b.password()
        || !a.host().eq_ignore_ascii_case(b.host())
        || a.port() != b.port()
    {
        return false;
    }
    a.params().all(|(n, v)| match b.param(n) {
        Some(w) => match (v, w) {
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            (None, None) => true,
            _ => false,
        },
        None => true,
    })
}

/// `cmp_aor`: user exactly, host case-insensitively, ports with the scheme's
/// default (observed: `sip:a@h` equals `sip:a@h:5060`); parameters ignored.
pub(crate) fn cmp_aor(a: &Uri, b: &Uri) -> bool {
    a.user() == b.user()
        && a.host().eq_ignore_ascii_case(b.host())
        && port_or(a, default_port(a)) == port_or(b, default_port(b))
}

/// `uri` without its `;name[=value]` parameter(s) (names case-insensitive).
pub(crate) fn remove_param(uri: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let u = Uri::parse(uri).ok()?;
    // Parameters run from the first `;` after the host to the `?` headers.
    let after_host = u.host_range().end;
    let tail = uri.get(after_host..)?;
    let end = after_host + memchr::memchr(b'?', tail).unwrap_or(tail.len());
    let start = after_host
        + memchr::memchr(b';', tail)
            .unwrap_or(end - after_host)
            .min(end - after_host);
    let params = uri.get(start..end)?;
    let mut out = uri.get(..start)?.to_vec();
    for p in params.split(|b| *b == b';').filter(|p| !p.is_empty()) {
        let n = p.split(|b| *b == b'=').next().unwrap_or_default();
        if !n.trim_ascii().eq_ignore_ascii_case(name) {
            out.push(b';');
            out.extend_from_slice(p);
        }
    }
    out.extend_from_slice(uri.get(end..)?);
    Some(out)
}

fn check(f: fn(&[u8]) -> bool) -> FuncImpl<Ctx> {
    func(
        move |ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first().and_then(|x| str_arg(ctx, x)) {
            Some(s) => rc(f(&s)),
            None => -1,
        },
    )
}

fn two_uris(ctx: &mut Ctx, a: &[Arg<Ctx>], f: fn(&Uri, &Uri) -> bool) -> i32 {
    let (Some(x), Some(y)) = (
        a.first().and_then(|x| str_arg(ctx, x)),
        a.get(1).and_then(|x| str_arg(ctx, x)),
    ) else {
        return -1;
    };
    match (Uri::parse(&x), Uri::parse(&y)) {
        (Ok(x), Ok(y)) => rc(f(&x, &y)),
        _ => -1,
    }
}

fn register_more(reg: &mut Registry<Ctx>) {
    let fmt = || vec![ParamKind::Format];
    reg.add_function(def(
        "is_numeric",
        fmt(),
        check(|s| !s.is_empty() && s.iter().all(u8::is_ascii_digit)),
    ));
    reg.add_function(def(
        "is_alphanum",
        fmt(),
        check(|s| !s.is_empty() && s.iter().all(u8::is_ascii_alphanumeric)),
    ));
    reg.add_function(def(
        "is_alphanumex",
        vec![ParamKind::Format, ParamKind::Format],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let (Some(s), Some(extra)) = (
                a.first().and_then(|x| str_arg(ctx, x)),
                a.get(1).and_then(|x| str_arg(ctx, x)),
            ) else {
                return -1;
            };
            rc(!s.is_empty()
                && s.iter()
                    .all(|b| b.is_ascii_alphanumeric() || extra.contains(b)))
        }),
    ));
    reg.add_function(def("is_tel_number", fmt(), check(is_tel_number)));
    reg.add_function(def("is_uri", fmt(), check(|s| Uri::parse(s).is_ok())));
    reg.add_function(def(
        "is_request",
        vec![],
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| rc(ctx.msg.is_request())),
    ));
    reg.add_function(def(
        "is_reply",
        vec![],
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| rc(!ctx.msg.is_request())),
    ));
    reg.add_function(def(
        "is_first_hop",
        vec![],
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
            // A request that carries a single Via entry.
            let vias: usize = ctx
                .msg
                .headers_named(b"Via")
                .map(|h| 1 + memchr::memchr_iter(b',', h.value).count())
                .sum();
            rc(ctx.msg.is_request() && vias == 1)
        }),
    ));
    reg.add_function(def(
        "cmp_uri",
        vec![ParamKind::Format, ParamKind::Format],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| two_uris(ctx, a, cmp_uri)),
    ));
    reg.add_function(def(
        "cmp_aor",
        vec![ParamKind::Format, ParamKind::Format],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| two_uris(ctx, a, cmp_aor)),
    ));
    reg.add_function(def(
        "uri_param_any",
        fmt(),
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(name) = a.first().and_then(|x| str_arg(ctx, x)) else {
                return -1;
            };
            match ruri(ctx) {
                Some(u) => rc(u.param(&name).is_some()),
                None => -1,
            }
        }),
    ));
    reg.add_function(def(
        "get_uri_param",
        vec![ParamKind::Format, ParamKind::WritablePv],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(name) = a.first().and_then(|x| str_arg(ctx, x)) else {
                return -1;
            };
            let v = match ruri(ctx) {
                Some(u) => match u.param(&name) {
                    Some(v) => Bytes::copy_from_slice(v.unwrap_or_default()),
                    None => return -1,
                },
                None => return -1,
            };
            match a.get(1) {
                Some(Arg::Pv(p)) => rc(p.set(ctx, siprd_script::Value::Str(v)).is_ok()),
                _ => -1,
            }
        }),
    ));
    reg.add_function(FuncDef {
        name: "uri_param_rm",
        module: "siputils",
        params: fmt(),
        routes: route_type::REQUEST,
        call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let Some(name) = a.first().and_then(|x| str_arg(ctx, x)) else {
                return -1;
            };
            if !ctx.msg.is_request() {
                return -1;
            }
            match remove_param(ctx.ruri(), &name) {
                Some(n) => {
                    ctx.new_uri = Some(Bytes::from(n));
                    1
                }
                None => -1,
            }
        }),
    });
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
        assert!(is_tel_number(b"+49123") && is_tel_number(b"49"));
        assert!(!is_tel_number(b"+") && !is_tel_number(b"+49-1") && !is_tel_number(b""));
        let u = |s: &str| Uri::parse(s.as_bytes()).unwrap();
        // K: f_cmp in tests/kamailio-diff.
        assert!(cmp_uri(
            &u("sip:Alice@Example.com;transport=UDP"),
            &u("sip:Alice@example.COM;transport=udp")
        ));
        assert!(!cmp_uri(&u("sip:Alice@h"), &u("sip:alice@h")));
        assert!(cmp_uri(&u("sip:a@h;transport=tcp"), &u("sip:a@h")));
        assert!(!cmp_uri(&u("sip:a@h;x=1"), &u("sip:a@h;x=2")));
        assert!(!cmp_uri(&u("sip:a@h"), &u("sip:a@h:5060")));
        assert!(cmp_uri(&u("sip:a@h;x=1"), &u("sip:a@h")));
        assert!(cmp_aor(&u("sip:a@h;transport=udp"), &u("sip:a@H:5060")));
        assert!(!cmp_aor(&u("sip:a@h"), &u("sip:a@h:5070")));
        assert_eq!(
            remove_param(b"sip:u@h;a=1;b;c=?x=1", b"b").unwrap(),
            b"sip:u@h;a=1;c=?x=1"
        );
        assert_eq!(remove_param(b"sip:u@h;B", b"b").unwrap(), b"sip:u@h");
    }
}
