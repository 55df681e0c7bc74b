//! siputils: checks and edits of URIs and headers, `options_reply`, and the
//! Contact encoders (see docs/modules/siputils.md for what was observed on
//! Kamailio 5.6).
//!
//! Observed on Kamailio 5.6: `uri_param(name)` is true only for a parameter
//! written without a value (`;lr`) or with an empty one, `uri_param(name, value)`
//! compares name and value case-sensitively; `add_uri_param` appends `;param` verbatim (no PV
//! expansion) to `$ru`; `is_e164` and `is_uri_user_e164` take a pseudo-variable
//! only (a constant is refused at load). (`is_uri_host_local` belongs to Kamailio's `domain`
//! module; siprd offers it here against the listen addresses and aliases.)

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::str_arg;
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, FuncImpl, ModParamDecl, ModParamType, ParamKind};
use siprd_script::{route_type, Registry, Value};
use siprd_sip::uri::{Scheme, Uri};

/// The module's parameters (`options_*` for `options_reply`, the separator
/// of `encode_contact`).
pub struct Siputils {
    accept: Bytes,
    accept_encoding: Bytes,
    accept_language: Bytes,
    support: Bytes,
    separator: u8,
}

impl Default for Siputils {
    /// Kamailio's default parameters.
    fn default() -> Self {
        Siputils {
            accept: Bytes::from_static(b"*/*"),
            accept_encoding: Bytes::from_static(b""),
            accept_language: Bytes::from_static(b"en"),
            support: Bytes::from_static(b""),
            separator: b'*',
        }
    }
}

fn ruri(ctx: &Ctx) -> Option<Uri> {
    if !ctx.msg.is_request() {
        return None;
    }
    Uri::parse(ctx.ruri()).ok()
}

/// The `;name[=value]` parameters of a URI's text, read leniently (quoted
/// values may hold spaces, `;` and `?`): from the first `;` after the
/// user part (`@`) to the `?` headers. Values are trimmed and unquoted.
fn raw_uri_params(uri: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    let colon = memchr::memchr(b':', uri).map_or(uri.len(), |i| i + 1);
    let rest = &uri[colon..];
    let host = memchr::memchr(b'@', rest).map_or(rest, |i| &rest[i + 1..]);
    let params = match memchr::memchr(b';', host) {
        Some(i) => &host[i + 1..],
        None => &[][..],
    };
    // Split on `;` outside quotes; stop at `?` outside quotes.
    let mut end = params.len();
    let mut quoted = false;
    for (i, &c) in params.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'?' if !quoted => {
                end = i;
                break;
            }
            _ => {}
        }
    }
    let params = &params[..end];
    let mut quoted = false;
    params
        .split(move |&c| {
            if c == b'"' {
                quoted = !quoted;
            }
            c == b';' && !quoted
        })
        .filter(|p| !p.trim_ascii().is_empty())
        .map(|p| {
            let (n, v) = match memchr::memchr(b'=', p) {
                Some(i) => (&p[..i], p[i + 1..].trim_ascii()),
                None => (p, &[][..]),
            };
            let v = v
                .strip_prefix(b"\"")
                .and_then(|x| x.strip_suffix(b"\""))
                .unwrap_or(v);
            (n.trim_ascii(), v)
        })
}

/// Kamailio's `uri_param(name[, value])` on the R-URI text: the name is
/// compared case-sensitively and a repeated parameter is its last
/// occurrence; without a value the parameter must have no (or an empty)
/// value, with one the (unquoted) value must be equal.
pub(crate) fn ruri_param_matches(uri: &[u8], name: &[u8], value: &[u8]) -> bool {
    raw_uri_params(uri)
        .filter(|(n, _)| *n == name)
        .last()
        .is_some_and(|(_, v)| v == value)
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

/// `d` with Kamailio's route types when they differ from [`def`]'s.
fn routed(routes: siprd_script::RouteMask, d: FuncDef<Ctx>) -> FuncDef<Ctx> {
    FuncDef { routes, ..d }
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

    fn params(&self) -> Vec<ModParamDecl> {
        [
            "options_accept",
            "options_accept_encoding",
            "options_accept_language",
            "options_support",
            "contact_flds_separator",
        ]
        .into_iter()
        .map(|name| ModParamDecl {
            name,
            ty: ModParamType::Str,
        })
        .collect()
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let v = value.to_bytes();
        match name {
            "options_accept" => self.accept = v,
            "options_accept_encoding" => self.accept_encoding = v,
            "options_accept_language" => self.accept_language = v,
            "options_support" => self.support = v,
            "contact_flds_separator" => match v.first() {
                Some(c) => self.separator = *c,
                None => return Err("contact_flds_separator must not be empty".into()),
            },
            _ => return Err(format!("module `siputils` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        register_more(reg);
        extra::register(self, reg);
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
        reg.add_function(routed(
            route_type::REQUEST | route_type::FAILURE | route_type::BRANCH | route_type::LOCAL,
            def(
                "is_uri_host_local",
                vec![],
                func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| match ruri(ctx) {
                    Some(u) => rc(ctx.rt.is_local(u.host(), u.port())),
                    None => -1,
                }),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
            def(
                "uri_param",
                vec![ParamKind::FormatOrPv],
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(name) = str_arg(ctx, &a[0]) else {
                        return -1;
                    };
                    if !ctx.msg.is_request() {
                        return -1;
                    }
                    rc(ruri_param_matches(ctx.ruri(), &name, b""))
                }),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
            def(
                "uri_param",
                vec![ParamKind::FormatOrPv, ParamKind::FormatOrPv],
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(name) = str_arg(ctx, &a[0]) else {
                        return -1;
                    };
                    let Some(value) = str_arg(ctx, &a[1]) else {
                        return -1;
                    };
                    if !ctx.msg.is_request() {
                        return -1;
                    }
                    rc(ruri_param_matches(ctx.ruri(), &name, &value))
                }),
            ),
        ));
        reg.add_function(FuncDef {
            name: "add_uri_param",
            module: "siputils",
            // As Kamailio: quoted text is taken as written (no PVs), a bare
            // pseudo-variable is read at run time.
            params: vec![ParamKind::Custom(std::sync::Arc::new(|fx, src| {
                if !src.quoted && src.text.starts_with('$') {
                    return siprd_script::pv::parse_pv(fx, &src.text)
                        .map(|(p, _)| Arg::Pv(Box::new(p)));
                }
                Ok(Arg::Str(bytes::Bytes::from(src.text.clone())))
            }))],
            routes: route_type::REQUEST,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(p) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                if !ctx.msg.is_request() {
                    return -1;
                }
                // Kamailio: an empty parameter is a success that adds nothing.
                if p.is_empty() {
                    return 1;
                }
                let n = add_param(ctx.ruri(), &p);
                ctx.new_uri = Some(Bytes::from(n));
                1
            }),
        });
        // Kamailio's is_user compares the user of credentials an auth module
        // has authorized; siprd has no auth module, so there never are any
        // (observed: -1 without credentials, whatever the R-URI user).
        reg.add_function(routed(
            route_type::REQUEST | route_type::LOCAL,
            def(
                "is_user",
                vec![ParamKind::Format],
                func(|_ctx: &mut Ctx, _a: &[Arg<Ctx>]| -1),
            ),
        ));
        reg.add_function(routed(
            route_type::REQUEST | route_type::FAILURE | route_type::LOCAL,
            def(
                "is_e164",
                vec![pv_only()],
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match str_arg(ctx, &a[0]) {
                    Some(s) => rc(is_e164(&s)),
                    None => -1,
                }),
            ),
        ));
        reg.add_function(def(
            "is_uri_user_e164",
            vec![pv_only()],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(s) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                rc(uri_user_text(&s).is_some_and(is_e164))
            }),
        ));
    }
}

/// The user part of a `sip:`/`sips:` URI as Kamailio's `is_uri_user_e164`
/// reads it: everything between the scheme and the first `@` (a password
/// included, so `sip:+49123:pw@h` is not E.164); other schemes have none.
fn uri_user_text(uri: &[u8]) -> Option<&[u8]> {
    let colon = memchr::memchr(b':', uri)?;
    let scheme = &uri[..colon];
    if !scheme.eq_ignore_ascii_case(b"sip") && !scheme.eq_ignore_ascii_case(b"sips") {
        return None;
    }
    let rest = &uri[colon + 1..];
    memchr::memchr(b'@', rest).map(|at| &rest[..at])
}

/// `is_tel_number`: an optional `+` and at least one digit, nothing else.
pub(crate) fn is_tel_number(s: &[u8]) -> bool {
    let d = s.strip_prefix(b"+").unwrap_or(s);
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

/// The URI type Kamailio compares: the scheme, where a `sip`/`sips` URI
/// with `;user=phone` (exactly that value) counts as a telephone URI.
fn uri_kind(u: &Uri) -> (Scheme, bool) {
    let phone = matches!(u.scheme(), Scheme::Sip | Scheme::Sips)
        && u.param(b"user").flatten() == Some(&b"phone"[..]);
    (u.scheme(), phone)
}

/// A parameter Kamailio looks at when only one URI has parameters.
fn has_special_param(u: &Uri) -> bool {
    u.params().any(|(n, _)| {
        [&b"user"[..], b"ttl", b"method", b"maddr"]
            .iter()
            .any(|s| n.eq_ignore_ascii_case(s))
    })
}

/// `cmp_uri` (observed on Kamailio 5.6): the same type (scheme; `user=phone`
/// makes a telephone URI), user, password and port exactly as written
/// (`sip:a@h` differs from `sip:a@h:5060`, `5060` from `05060`), host
/// case-insensitively. When only one URI has parameters, it must not have
/// `user`, `ttl`, `method` or `maddr`; otherwise a parameter counts only when
/// both have it, its values compared case-insensitively (`;transport=tcp` on
/// one side alone still compares equal). Headers are ignored.
pub(crate) fn cmp_uri(a: &Uri, b: &Uri) -> bool {
    if uri_kind(a) != uri_kind(b)
        || a.user().unwrap_or_default() != b.user().unwrap_or_default()
        || a.password().unwrap_or_default() != b.password().unwrap_or_default()
        || a.port_bytes().unwrap_or_default() != b.port_bytes().unwrap_or_default()
        || !a.host().eq_ignore_ascii_case(b.host())
    {
        return false;
    }
    let (pa, pb) = (a.params_bytes().len() > 1, b.params_bytes().len() > 1);
    match (pa, pb) {
        (false, false) => return true,
        (false, true) if has_special_param(b) => return false,
        (true, false) if has_special_param(a) => return false,
        _ => {}
    }
    a.params().all(|(n, v)| {
        b.params()
            .filter(|(m, _)| m.eq_ignore_ascii_case(n))
            .all(|(_, w)| {
                v.unwrap_or_default()
                    .eq_ignore_ascii_case(w.unwrap_or_default())
            })
    })
}

/// `cmp_aor` (observed on Kamailio 5.6): user exactly, host
/// case-insensitively; ports written differently match unless one URI has
/// none and the other's is not 5060 (`sip:a@h` equals `sip:a@h:5060` but not
/// `sip:a@h:5061`, whatever the scheme). Scheme, password and parameters
/// are ignored.
pub(crate) fn cmp_aor(a: &Uri, b: &Uri) -> bool {
    if a.user().unwrap_or_default() != b.user().unwrap_or_default()
        || !a.host().eq_ignore_ascii_case(b.host())
    {
        return false;
    }
    if a.port_bytes() != b.port_bytes() {
        if a.port_bytes().is_none() && b.port() != Some(5060) {
            return false;
        }
        if b.port_bytes().is_none() && a.port() != Some(5060) {
            return false;
        }
    }
    true
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

/// A string check with Kamailio's return codes: -2 for an empty string,
/// `bad` when a character is not allowed, 1 when all are (-1 when the
/// argument cannot be read).
fn check(f: fn(&[u8]) -> bool, bad: i32) -> FuncImpl<Ctx> {
    func(
        move |ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first().and_then(|x| str_arg(ctx, x)) {
            Some(s) if s.is_empty() => -2,
            Some(s) if f(&s) => 1,
            Some(_) => bad,
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
    // Kamailio: 1 equal, -1 different, -2 when either is not a URI.
    match (Uri::parse(&x), Uri::parse(&y)) {
        (Ok(x), Ok(y)) => rc(f(&x, &y)),
        _ => -2,
    }
}

/// `is_first_hop([mode])`: a request with a single Via entry; a reply
/// without Record-Route, or whose top Record-Route URI is ours — with mode 0
/// only when that URI holds an IP address and the reply did not come from
/// one of our own sockets (a local loop).
fn is_first_hop(ctx: &Ctx, mode: i32) -> bool {
    if ctx.msg.is_request() {
        let vias: usize = ctx
            .msg
            .headers_named(b"Via")
            .map(|h| 1 + memchr::memchr_iter(b',', h.value).count())
            .sum();
        return vias == 1;
    }
    // Kamailio 5.6: a reply without Record-Route counts as first hop
    let Some(rr) = ctx.msg.headers_named(b"Record-Route").next() else {
        return true;
    };
    let first = rr.value.split(|&b| b == b',').next().unwrap_or_default();
    let inner = match (memchr::memchr(b'<', first), memchr::memchr(b'>', first)) {
        (Some(a), Some(b)) if a < b => &first[a + 1..b],
        _ => first.trim_ascii(),
    };
    let Ok(uri) = Uri::parse(inner) else {
        return false;
    };
    if uri.host().is_empty() || !ctx.rt.is_local(uri.host(), uri.port()) {
        return false;
    }
    if mode != 0 {
        return true;
    }
    let host = String::from_utf8_lossy(uri.host());
    let is_ip = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .is_ok();
    let src = ctx.rcv.src;
    is_ip && !ctx.rt.listeners().iter().any(|l| l.addr == src)
}

fn register_more(reg: &mut Registry<Ctx>) {
    let fmt = || vec![ParamKind::Format];
    reg.add_function(def(
        "is_numeric",
        fmt(),
        check(|s| s.iter().all(u8::is_ascii_digit), -2),
    ));
    reg.add_function(def(
        "is_alphanum",
        fmt(),
        check(|s| s.iter().all(u8::is_ascii_alphanumeric), -3),
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
            if s.is_empty() {
                return -2;
            }
            if s.iter()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(b))
            {
                1
            } else {
                -3
            }
        }),
    ));
    reg.add_function(def("is_tel_number", fmt(), check(is_tel_number, -2)));
    reg.add_function(def(
        "is_uri",
        fmt(),
        func(
            |ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first().and_then(|x| str_arg(ctx, x)) {
                Some(s) => rc(Uri::parse(&s).is_ok()),
                None => -1,
            },
        ),
    ));
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
        func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| rc(is_first_hop(ctx, 0))),
    ));
    reg.add_function(def(
        "is_first_hop",
        vec![ParamKind::IntOrPv],
        func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let mode = crate::modules::args::int_arg(ctx, &a[0]).unwrap_or(0);
            rc(is_first_hop(ctx, mode))
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
    reg.add_function(routed(
        route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
        def(
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
        ),
    ));
    reg.add_function(routed(
        route_type::REQUEST | route_type::LOCAL,
        def(
            "get_uri_param",
            vec![ParamKind::Format, ParamKind::WritablePv],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(name) = a.first().and_then(|x| str_arg(ctx, x)) else {
                    return -1;
                };
                if !ctx.msg.is_request() {
                    return -1;
                }
                // Observed on Kamailio 5.6: the name is compared case-sensitively,
                // a repeated parameter reads as its last occurrence.
                let found = raw_uri_params(ctx.ruri())
                    .filter(|(n, _)| *n == &name[..])
                    .last()
                    .map(|(_, v)| Bytes::copy_from_slice(v));
                let Some(v) = found else {
                    return -1;
                };
                match a.get(1) {
                    Some(Arg::Pv(p)) => rc(p.set(ctx, siprd_script::Value::Str(v)).is_ok()),
                    _ => -1,
                }
            }),
        ),
    ));
    reg.add_function(FuncDef {
        name: "uri_param_rm",
        module: "siputils",
        params: fmt(),
        routes: route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
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

/// The functions of Kamailio 5.6's siputils beyond the URI checks above:
/// `options_reply`, the URI part setters, `is_supported`, `cmp_hdr_name`,
/// `tel2sip`, `is_gruu`, `hdr_date_check` and the Contact encoders.
mod extra {
    use super::*;
    use crate::modules::args::{int_arg, int_or_bare_pv};
    use siprd_sip::header::HeaderKind;
    use siprd_sip::uri::Scheme;
    use siprd_sip::Method;
    use std::ops::Range;

    /// The writable pseudo-variable a function writes its result to
    /// (refused at load otherwise, as Kamailio). `bare`: an unquoted variable
    /// is accepted too.
    fn target_pv(bare: bool) -> ParamKind<Ctx> {
        ParamKind::Custom(std::sync::Arc::new(move |fx, src| {
            let t = src.text.trim();
            if !src.quoted && !bare {
                return Err(format!("`{t}` must be quoted"));
            }
            if t.starts_with('$') {
                let (spec, n) = siprd_script::pv::parse_pv(fx, t)?;
                if n == t.len() && spec.writable() {
                    return Ok(Arg::Pv(Box::new(spec)));
                }
            }
            Err(format!("`{t}` must be a writable pseudo-variable"))
        }))
    }

    pub(super) fn register(m: &Siputils, reg: &mut Registry<Ctx>) {
        register_contact_params(reg);
        register_contact_encoding(m, reg);
        let hdrs = options_headers(m);
        reg.add_function(FuncDef {
            name: "options_reply",
            module: "siputils",
            params: vec![],
            routes: route_type::REQUEST,
            call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| options_reply(ctx, &hdrs)),
        });
        // Both arguments must be pseudo-variables (a constant is refused at
        // load, as Kamailio's fixup does); the first one is written.
        for (name, host) in [("set_uri_user", false), ("set_uri_host", true)] {
            reg.add_function(def(
                name,
                vec![target_pv(true), pv_only()],
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| set_uri_part(ctx, a, host)),
            ));
        }
        reg.add_function(def(
            "is_supported",
            // A known option tag, resolved at load (Kamailio refuses others).
            vec![ParamKind::Custom(std::sync::Arc::new(|_fx, src| {
                match option_tag(src.text.as_bytes()) {
                    0 => Err(format!(
                        "unknown option `{}` (known: path, 100rel, timer, eventlist, gruu, outbound)",
                        src.text
                    )),
                    bit => Ok(Arg::Int(bit)),
                }
            }))],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first() {
                Some(Arg::Int(bit)) => rc(supported_bits(ctx) & *bit != 0),
                _ => -1,
            }),
        ));
        reg.add_function(def(
            "cmp_hdr_name",
            vec![ParamKind::FormatOrPv, ParamKind::FormatOrPv],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(x), Some(y)) = (
                    a.first().and_then(|x| str_arg(ctx, x)),
                    a.get(1).and_then(|x| str_arg(ctx, x)),
                ) else {
                    return -1;
                };
                cmp_hdr_name(&x, &y)
            }),
        ));
        reg.add_function(FuncDef {
            name: "tel2sip",
            module: "siputils",
            // Quoted arguments only, as Kamailio's fixup.
            params: vec![ParamKind::Format, ParamKind::Format, target_pv(false)],
            routes: route_type::REQUEST
                | route_type::FAILURE
                | route_type::BRANCH
                | route_type::ONREPLY,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(uri), Some(host)) = (
                    a.first().and_then(|x| str_arg(ctx, x)),
                    a.get(1).and_then(|x| str_arg(ctx, x)),
                ) else {
                    return -1;
                };
                let Some(sip) = tel_to_sip(&uri, &host) else {
                    return 2;
                };
                match a.get(2) {
                    Some(Arg::Pv(p)) => rc(p.set(ctx, Value::Str(Bytes::from(sip))).is_ok()),
                    _ => -1,
                }
            }),
        });
        reg.add_function(def(
            "is_gruu",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                if !ctx.msg.is_request() {
                    return -1;
                }
                gruu_kind(ctx.ruri())
            }),
        ));
        reg.add_function(def(
            "is_gruu",
            vec![ParamKind::FormatOrPv],
            func(
                |ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first().and_then(|x| str_arg(ctx, x)) {
                    Some(u) => gruu_kind(&u),
                    None => -1,
                },
            ),
        ));
        reg.add_function(def(
            "hdr_date_check",
            vec![int_or_bare_pv()],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(tdiff) = a.first().and_then(|x| int_arg(ctx, x)) else {
                    tracing::error!("hdr_date_check: the time difference is not a number");
                    return -1;
                };
                let Some(v) = ctx.msg.header(HeaderKind::Date) else {
                    return -1;
                };
                let Some(t) = parse_sip_date(v) else {
                    tracing::error!("hdr_date_check: cannot parse the Date header");
                    return -1;
                };
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                if t + i64::from(tdiff) < now {
                    tracing::error!("hdr_date_check: the Date header is outdated");
                    return -4;
                }
                1
            }),
        ));
    }

    /// The Contact functions that keep the received URI in a parameter of
    /// a local one, Base64URL-encoded.
    pub(super) fn register_contact_params(reg: &mut Registry<Ctx>) {
        let both = route_type::REQUEST | route_type::ONREPLY;
        reg.add_function(FuncDef {
            name: "contact_param_encode",
            module: "siputils",
            params: vec![ParamKind::FormatOrPv, ParamKind::FormatOrPv],
            routes: both,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(pname), Some(saddr)) = (
                    a.first().and_then(|x| str_arg(ctx, x)),
                    a.get(1).and_then(|x| str_arg(ctx, x)),
                ) else {
                    return -1;
                };
                if pname.is_empty() || Uri::parse(&saddr).is_err() {
                    tracing::error!("contact_param_encode: bad parameter name or address");
                    return -1;
                }
                edit_contacts(ctx, |uri| {
                    let mut out = add_param(&saddr, &pname);
                    out.push(b'=');
                    out.extend_from_slice(&base64url_encode(uri));
                    Some(out)
                })
            }),
        });
        reg.add_function(FuncDef {
            name: "contact_param_decode",
            module: "siputils",
            params: vec![ParamKind::FormatOrPv],
            routes: both,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(pname) = a.first().and_then(|x| str_arg(ctx, x)) else {
                    return -1;
                };
                edit_contacts(ctx, |uri| decode_param(uri, &pname))
            }),
        });
        reg.add_function(FuncDef {
            name: "contact_param_decode_ruri",
            module: "siputils",
            params: vec![ParamKind::FormatOrPv],
            routes: route_type::REQUEST,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(pname) = a.first().and_then(|x| str_arg(ctx, x)) else {
                    return -1;
                };
                if !ctx.msg.is_request() {
                    return -1;
                }
                match decode_param(ctx.ruri(), &pname) {
                    Some(u) if u.is_empty() => -1,
                    Some(u) => {
                        ctx.new_uri = Some(Bytes::from(u));
                        1
                    }
                    // Without the parameter the R-URI stays.
                    None if Uri::parse(ctx.ruri()).is_ok_and(|u| u.param(&pname).is_none()) => 1,
                    None => {
                        tracing::error!("contact_param_decode_ruri: cannot decode the R-URI");
                        -1
                    }
                }
            }),
        });
        reg.add_function(FuncDef {
            name: "contact_param_rm",
            module: "siputils",
            params: vec![ParamKind::FormatOrPv],
            routes: both,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(pname) = a.first().and_then(|x| str_arg(ctx, x)) else {
                    return -1;
                };
                edit_contacts(ctx, |uri| {
                    let u = Uri::parse(uri).ok()?;
                    u.param(&pname)?;
                    remove_param(uri, &pname)
                })
            }),
        });
    }

    /// The decoded URI held in parameter `pname` of `uri`: `None` when the
    /// parameter is absent (nothing to do); `Some(empty)` when its value does
    /// not decode (an error).
    fn decode_param(uri: &[u8], pname: &[u8]) -> Option<Vec<u8>> {
        let u = Uri::parse(uri).ok()?;
        let v = u.param(pname)?.unwrap_or_default();
        Some(base64url_decode(v).unwrap_or_default())
    }

    /// Rewrite the URIs of the first Contact header: `f` gives a new URI, or
    /// `None` to leave one as it is (an empty one is an error: -1). A URI
    /// written without `<>` gets them, so header parameters stay outside.
    fn edit_contacts(ctx: &mut Ctx, f: impl Fn(&[u8]) -> Option<Vec<u8>>) -> i32 {
        rewrite_contacts(ctx, 1, true, |uri| match f(uri) {
            None => Ok(None),
            Some(new) if new.is_empty() => {
                tracing::error!("cannot decode the Contact URI");
                Err(-1)
            }
            Some(new) => Ok(Some(new)),
        })
    }

    /// Rewrite the URIs of the first Contact header, all or nothing: `f`
    /// gives a new URI, `Ok(None)` to leave one, or an error code that is
    /// returned with nothing changed. `brackets`: a URI written without `<>`
    /// gets them. Without a Contact header: `no_contact`.
    fn rewrite_contacts(
        ctx: &mut Ctx,
        no_contact: i32,
        brackets: bool,
        f: impl Fn(&[u8]) -> Result<Option<Vec<u8>>, i32>,
    ) -> i32 {
        let Some(h) = ctx.msg.headers_of(HeaderKind::Contact).next() else {
            return no_contact;
        };
        let base = h.value_range.start;
        let value = h.value;
        let mut edits = Vec::new();
        for one in siprd_sip::CommaSplit::new(value) {
            // The element's offset in the value (it is a slice of it).
            let a = one.as_ptr() as usize - value.as_ptr() as usize;
            if one.trim_ascii() == b"*" {
                continue;
            }
            let Ok(na) = siprd_sip::NameAddr::parse(one) else {
                tracing::error!("cannot parse the Contact header");
                return -1;
            };
            let new = match f(na.uri_bytes()) {
                Ok(Some(new)) => new,
                Ok(None) => continue,
                Err(rc) => return rc,
            };
            let r = na.uri_range();
            let text = if na.has_angle_brackets() || !brackets {
                new
            } else {
                [&b"<"[..], &new, b">"].concat()
            };
            edits.push((base + a + r.start..base + a + r.end, text));
        }
        for (r, t) in edits {
            ctx.edits.replace(r, t);
        }
        1
    }

    /// `encode_contact`, `decode_contact`, `decode_contact_header`: the
    /// parts of a Contact URI carried in the user part of a local one,
    /// `sip:PREFIX*user*password*host*port*transport@hostpart`.
    pub(super) fn register_contact_encoding(m: &Siputils, reg: &mut Registry<Ctx>) {
        let sep = m.separator;
        reg.add_function(FuncDef {
            name: "encode_contact",
            module: "siputils",
            params: vec![ParamKind::FormatOrPv, ParamKind::FormatOrPv],
            routes: route_type::REQUEST | route_type::ONREPLY,
            call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(prefix), Some(host)) = (
                    a.first().and_then(|x| str_arg(ctx, x)),
                    a.get(1).and_then(|x| str_arg(ctx, x)),
                ) else {
                    return -1;
                };
                rewrite_contacts(ctx, -1, false, |uri| {
                    encode_uri(uri, &prefix, &host, sep).map(Some)
                })
            }),
        });
        reg.add_function(FuncDef {
            name: "decode_contact",
            module: "siputils",
            params: vec![],
            routes: route_type::REQUEST,
            call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                if !ctx.msg.is_request() {
                    return -1;
                }
                match decode_uri(ctx.ruri(), sep) {
                    Ok(u) => {
                        ctx.new_uri = Some(Bytes::from(u));
                        1
                    }
                    Err(rc) => rc,
                }
            }),
        });
        reg.add_function(FuncDef {
            name: "decode_contact_header",
            module: "siputils",
            params: vec![],
            routes: route_type::REQUEST | route_type::ONREPLY | route_type::FAILURE,
            call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                rewrite_contacts(ctx, -1, false, |uri| decode_uri(uri, sep).map(Some))
            }),
        });
    }

    /// `sip:user:pw@host:port;transport=t;...` →
    /// `sip:PREFIX*user*pw*host*port*t@hostpart` (other parameters and
    /// headers dropped). A `sips:` URI is refused (-509, as Kamailio);
    /// a `tel:` number counts as the user.
    pub(crate) fn encode_uri(
        uri: &[u8],
        prefix: &[u8],
        host: &[u8],
        sep: u8,
    ) -> Result<Vec<u8>, i32> {
        let u = Uri::parse(uri).map_err(|_| -1)?;
        let colon = memchr::memchr(b':', uri).ok_or(-1)?;
        let fields: [&[u8]; 5] = match u.scheme() {
            Scheme::Sip => [
                u.user().unwrap_or_default(),
                u.password().unwrap_or_default(),
                u.host(),
                u.port_bytes().unwrap_or_default(),
                u.transport().unwrap_or_default(),
            ],
            Scheme::Tel => {
                let rest = uri.get(colon + 1..).unwrap_or_default();
                let end = rest
                    .iter()
                    .position(|b| *b == b';' || *b == b'?')
                    .unwrap_or(rest.len());
                [&rest[..end], b"", b"", b"", b""]
            }
            Scheme::Sips | Scheme::Other => return Err(-509),
        };
        let mut out = Vec::with_capacity(uri.len() + prefix.len() + host.len() + 8);
        out.extend_from_slice(&uri[..=colon]);
        out.extend_from_slice(prefix);
        for f in fields {
            out.push(sep);
            out.extend_from_slice(f);
        }
        out.push(b'@');
        out.extend_from_slice(host);
        Ok(out)
    }

    /// The reverse of [`encode_uri`]; the parameters and headers of the
    /// encoded URI are kept when it has parameters. Errors as observed on
    /// Kamailio: -23 without a user part, -26 with fewer than six fields,
    /// -24 with more, -2 with an empty host.
    pub(crate) fn decode_uri(uri: &[u8], sep: u8) -> Result<Vec<u8>, i32> {
        let colon = memchr::memchr(b':', uri).ok_or(-1)?;
        let at = colon + 1 + memchr::memchr(b'@', &uri[colon + 1..]).ok_or(-23)?;
        let fields: Vec<&[u8]> = uri[colon + 1..at].split(|b| *b == sep).collect();
        match fields.len() {
            n if n < 6 => return Err(-26),
            n if n > 6 => return Err(-24),
            _ => {}
        }
        let (user, pass, host, port, proto) =
            (fields[1], fields[2], fields[3], fields[4], fields[5]);
        if host.is_empty() {
            return Err(-2);
        }
        let mut out = Vec::with_capacity(uri.len());
        out.extend_from_slice(&uri[..=colon]);
        if !user.is_empty() || !pass.is_empty() {
            out.extend_from_slice(user);
            if !pass.is_empty() {
                out.push(b':');
                out.extend_from_slice(pass);
            }
            out.push(b'@');
        }
        out.extend_from_slice(host);
        if !port.is_empty() {
            out.push(b':');
            out.extend_from_slice(port);
        }
        if !proto.is_empty() {
            out.extend_from_slice(b";transport=");
            out.extend_from_slice(proto);
        }
        if let Some(p) = memchr::memchr(b';', &uri[at..]) {
            out.extend_from_slice(&uri[at + p..]);
        }
        Ok(out)
    }

    /// URL-safe Base64 without padding; decoding takes what `=` padding is
    /// given and lax trailing bits (Kamailio's decoder is lenient there).
    const B64URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );

    /// Base64URL without padding.
    pub(crate) fn base64url_encode(data: &[u8]) -> Vec<u8> {
        use base64::Engine as _;
        B64URL.encode(data).into_bytes()
    }

    /// Base64URL, padding optional; `None` on any other character.
    pub(crate) fn base64url_decode(text: &[u8]) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let unpadded = match text.iter().position(|c| *c == b'=') {
            Some(p) if text[p..].iter().all(|c| *c == b'=') => &text[..p],
            Some(_) => return None,
            None => text,
        };
        B64URL.decode(unpadded).ok()
    }

    /// The header lines `options_reply` adds, from the module parameters
    /// (an empty parameter still gives its header, with an empty value).
    fn options_headers(m: &Siputils) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, v) in [
            (&b"Accept: "[..], &m.accept),
            (b"Accept-Encoding: ", &m.accept_encoding),
            (b"Accept-Language: ", &m.accept_language),
            (b"Supported: ", &m.support),
        ] {
            out.extend_from_slice(name);
            out.extend_from_slice(v);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// `options_reply()`: a stateless 200 with the capability headers to an
    /// OPTIONS whose (current) R-URI has no user part; -1 otherwise.
    fn options_reply(ctx: &mut Ctx, hdrs: &[u8]) -> i32 {
        if !ctx.msg.is_request() || ctx.msg.method() != Method::Options {
            tracing::error!("options_reply: the request is not an OPTIONS");
            return -1;
        }
        let for_server = match Uri::parse(ctx.ruri()) {
            Ok(u) => u.scheme() != Scheme::Tel && u.user().is_none_or(|x| x.is_empty()),
            Err(_) => {
                tracing::error!("options_reply: cannot parse the R-URI");
                return -1;
            }
        };
        if !for_server {
            tracing::error!("options_reply: the R-URI has a user part");
            return -1;
        }
        crate::modules::sl::reply_with_headers(ctx, 200, b"OK", hdrs)
    }

    fn set_uri_part(ctx: &mut Ctx, a: &[Arg<Ctx>], host: bool) -> i32 {
        let (Some(Arg::Pv(target)), Some(Arg::Pv(part))) = (a.first(), a.get(1)) else {
            tracing::error!(
                "set_uri_{}: the URI is not a pseudo-variable",
                if host { "host" } else { "user" }
            );
            return -1;
        };
        let uri = target.get(ctx).to_bytes();
        let part = part.get(ctx).to_bytes();
        let new = if host {
            with_host(&uri, &part)
        } else {
            with_user(&uri, &part)
        };
        match new {
            Some(n) => rc(target.set(ctx, Value::Str(Bytes::from(n))).is_ok()),
            None => {
                tracing::error!(
                    "set_uri_{}: cannot set it in `{}`",
                    if host { "host" } else { "user" },
                    String::from_utf8_lossy(&uri)
                );
                -1
            }
        }
    }

    /// Where the host is, as Kamailio sees it: for `tel:` the number is the host.
    fn host_span(uri: &[u8]) -> Option<Range<usize>> {
        let u = Uri::parse(uri).ok()?;
        match u.scheme() {
            Scheme::Sip | Scheme::Sips => Some(u.host_range()),
            Scheme::Tel => {
                let start = memchr::memchr(b':', uri)? + 1;
                let rest = uri.get(start..)?;
                let end = start
                    + rest
                        .iter()
                        .position(|b| *b == b';' || *b == b'?')
                        .unwrap_or(rest.len());
                Some(start..end)
            }
            Scheme::Other => None,
        }
    }

    /// `uri` with its user part set to `user` (removed when empty); the
    /// password goes away either way (observed on Kamailio).
    pub(crate) fn with_user(uri: &[u8], user: &[u8]) -> Option<Vec<u8>> {
        let host = host_span(uri)?;
        let colon = memchr::memchr(b':', uri)?;
        let mut out = Vec::with_capacity(uri.len() + user.len() + 1);
        out.extend_from_slice(uri.get(..=colon)?);
        if !user.is_empty() {
            out.extend_from_slice(user);
            out.push(b'@');
        }
        out.extend_from_slice(uri.get(host.start..)?);
        Some(out)
    }

    /// `uri` with its host replaced by `host` (which must not be empty).
    pub(crate) fn with_host(uri: &[u8], host: &[u8]) -> Option<Vec<u8>> {
        if host.is_empty() {
            return None;
        }
        let span = host_span(uri)?;
        let mut out = Vec::with_capacity(uri.len() + host.len());
        out.extend_from_slice(uri.get(..span.start)?);
        out.extend_from_slice(host);
        out.extend_from_slice(uri.get(span.end..)?);
        Some(out)
    }

    /// The option tags `is_supported` knows, one bit each.
    const OPTION_TAGS: [&[u8]; 6] = [
        b"path",
        b"100rel",
        b"timer",
        b"eventlist",
        b"gruu",
        b"outbound",
    ];

    /// The bit of an option tag (case-insensitive); 0 for an unknown one.
    fn option_tag(name: &[u8]) -> i32 {
        OPTION_TAGS
            .iter()
            .position(|t| t.eq_ignore_ascii_case(name.trim_ascii()))
            .map_or(0, |i| 1 << i)
    }

    /// The known option tags listed in the Supported headers of the message.
    fn supported_bits(ctx: &Ctx) -> i32 {
        let mut bits = 0;
        for h in ctx.msg.headers_of(HeaderKind::Supported) {
            for tag in h.value.split(|b| *b == b',') {
                bits |= option_tag(tag);
            }
        }
        bits
    }

    /// `cmp_hdr_name`: 1 when both name the same header (compact forms count,
    /// case-insensitive, trailing blanks ignored), -2 when not. Asymmetric as
    /// observed on Kamailio: a colon in the first name is an error (-1); the
    /// second is read up to a colon to find a known header (`From:x` is From),
    /// while two unknown names are compared whole (`X-Foo` ≠ `X-Foo:`).
    pub(crate) fn cmp_hdr_name(a: &[u8], b: &[u8]) -> i32 {
        if a.contains(&b':') {
            return -1;
        }
        let trim = |s: &[u8]| -> Vec<u8> {
            let n = s
                .iter()
                .rposition(|c| *c != b' ' && *c != b'\t')
                .map_or(0, |i| i + 1);
            s[..n].to_vec()
        };
        let (a, b) = (trim(a), trim(b));
        if a.is_empty() || b.is_empty() {
            return -2;
        }
        let b_name = trim(b.split(|c| *c == b':').next().unwrap_or_default());
        let (ka, kb) = (HeaderKind::from_name(&a), HeaderKind::from_name(&b_name));
        let same = if ka != HeaderKind::Other || kb != HeaderKind::Other {
            ka == kb
        } else {
            a.eq_ignore_ascii_case(&b)
        };
        if same {
            1
        } else {
            -2
        }
    }

    /// RFC 3261 §19.1.6: `tel:NUMBER;params` → `sip:NUMBER;params@HOST;user=phone`,
    /// visual separators dropped from the number, the parameters lowercased.
    /// `None` when `uri` is not a tel URI.
    pub(crate) fn tel_to_sip(uri: &[u8], host: &[u8]) -> Option<Vec<u8>> {
        if !uri.get(..4)?.eq_ignore_ascii_case(b"tel:") {
            return None;
        }
        let rest = uri.get(4..)?;
        let semi = memchr::memchr(b';', rest).unwrap_or(rest.len());
        let (number, params) = rest.split_at(semi);
        let mut out = Vec::with_capacity(uri.len() + host.len() + 16);
        out.extend_from_slice(b"sip:");
        out.extend(
            number
                .iter()
                .filter(|c| !matches!(c, b'-' | b'.' | b'(' | b')')),
        );
        out.extend(params.iter().map(u8::to_ascii_lowercase));
        out.push(b'@');
        out.extend_from_slice(host);
        out.extend_from_slice(b";user=phone");
        Some(out)
    }

    /// `is_gruu`: 1 for a public GRUU (`;gr=value`), 2 for a temporary one
    /// (`;gr` without a value), -1 when not a GRUU or not a URI.
    pub(crate) fn gruu_kind(uri: &[u8]) -> i32 {
        match Uri::parse(uri) {
            Ok(u) => match u.param(b"gr") {
                Some(Some(v)) if !v.is_empty() => 1,
                Some(_) => 2,
                None => -1,
            },
            Err(_) => -1,
        }
    }

    /// An RFC 1123 date as SIP's Date header writes it
    /// (`Sat, 13 Nov 2010 23:29:00 GMT`), as Unix seconds.
    pub(crate) fn parse_sip_date(v: &[u8]) -> Option<i64> {
        const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
        const MONTHS: [&[u8]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        if v.len() != 29
            || v.get(3..5)? != b", "
            || v.get(7) != Some(&b' ')
            || v.get(11) != Some(&b' ')
            || v.get(16) != Some(&b' ')
            || v.get(19) != Some(&b':')
            || v.get(22) != Some(&b':')
            || v.get(25..)? != b" GMT"
        {
            return None;
        }
        if !DAYS.contains(&v.get(..3)?) {
            return None;
        }
        let num = |r: Range<usize>| -> Option<i64> {
            let d = v.get(r)?;
            if !d.iter().all(u8::is_ascii_digit) {
                return None;
            }
            Some(d.iter().fold(0i64, |n, c| n * 10 + i64::from(c - b'0')))
        };
        let day = num(5..7)?;
        let mname = v.get(8..11)?;
        let month = MONTHS.iter().position(|m| *m == mname)? as i64 + 1;
        let year = num(12..16)?;
        let (h, mi, s) = (num(17..19)?, num(20..22)?, num(23..25)?);
        if !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        Some(days_from_civil(year, month, day) * 86400 + h * 3600 + mi * 60 + s)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date.
    fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146097 + doe - 719468
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        let u = Uri::parse(b"sip:a@h;transport=udp;lr").unwrap();
        let _ = u;
        let r = b"sip:a@h;transport=udp;lr;E=;q=\"x;y\"?h=1";
        assert!(!ruri_param_matches(r, b"transport", b""));
        assert!(ruri_param_matches(r, b"transport", b"udp"));
        assert!(!ruri_param_matches(r, b"transport", b"UDP"));
        assert!(ruri_param_matches(r, b"lr", b""));
        assert!(ruri_param_matches(r, b"E", b"") && !ruri_param_matches(r, b"e", b""));
        assert!(ruri_param_matches(r, b"q", b"x;y"));
        assert!(!ruri_param_matches(r, b"h", b"1"));
        // a repeated parameter is its last occurrence
        let d = b"sip:a@h;x=1;y;x=2;X=3";
        assert!(!ruri_param_matches(d, b"x", b"1") && ruri_param_matches(d, b"x", b"2"));
        assert!(!ruri_param_matches(r, b"nope", b""));
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

    #[test]
    fn uri_parts() {
        use extra::{with_host, with_user};
        // K: su1..su9, sh1..sh6 in /tmp/h_siputils/a.cases and d.cases.
        assert_eq!(
            with_user(b"sip:bob@example.com;x=1", b"alice").unwrap(),
            b"sip:alice@example.com;x=1"
        );
        assert_eq!(
            with_user(b"sip:example.com;x=1", b"alice").unwrap(),
            b"sip:alice@example.com;x=1"
        );
        assert_eq!(
            with_user(b"sip:bob:pw@example.com:5070;x=1?h=1", b"").unwrap(),
            b"sip:example.com:5070;x=1?h=1"
        );
        assert_eq!(
            with_user(b"sip:bob:pw@example.com", b"x").unwrap(),
            b"sip:x@example.com"
        );
        assert_eq!(
            with_user(b"tel:+1234;p=1", b"x").unwrap(),
            b"tel:x@+1234;p=1"
        );
        assert!(with_user(b"garbage", b"x").is_none());
        assert_eq!(
            with_host(b"sip:bob:pw@example.com:5070;x=1?a=b", b"h").unwrap(),
            b"sip:bob:pw@h:5070;x=1?a=b"
        );
        assert_eq!(with_host(b"sip:example.com", b"h").unwrap(), b"sip:h");
        assert!(with_host(b"sip:bob@example.com", b"").is_none());
    }

    #[test]
    fn tel_gruu_header_names_dates() {
        use extra::{cmp_hdr_name, gruu_kind, parse_sip_date, tel_to_sip};
        assert_eq!(
            tel_to_sip(b"tel:+(34)-999-888-777", b"foo.com").unwrap(),
            b"sip:+34999888777@foo.com;user=phone"
        );
        assert_eq!(
            tel_to_sip(b"tel:+12-(34)-56-78;Ext=200;ISUB=+123-456", b"foo.com").unwrap(),
            b"sip:+12345678;ext=200;isub=+123-456@foo.com;user=phone"
        );
        assert_eq!(
            tel_to_sip(b"TEL:555.1234", b"h").unwrap(),
            b"sip:5551234@h;user=phone"
        );
        assert!(tel_to_sip(b"sip:a@b", b"h").is_none());
        assert!(tel_to_sip(b"tel", b"h").is_none());
        assert_eq!(gruu_kind(b"sip:a@b;gr=urn:uuid:1"), 1);
        assert_eq!(gruu_kind(b"sip:a@b;GR"), 2);
        assert_eq!(gruu_kind(b"sip:a@b;gr="), 2);
        assert_eq!(gruu_kind(b"sip:a@b"), -1);
        assert_eq!(gruu_kind(b"<sip:a@b;gr>"), -1);
        assert_eq!(cmp_hdr_name(b"f", b"From"), 1);
        assert_eq!(cmp_hdr_name(b"X-Foo ", b"x-foo"), 1);
        assert_eq!(cmp_hdr_name(b"Fro m", b"fro m"), 1);
        assert_eq!(cmp_hdr_name(b" From", b"From"), -2);
        assert_eq!(cmp_hdr_name(b"", b""), -2);
        assert_eq!(cmp_hdr_name(b"X-Foo:", b"X-Foo"), -1);
        assert_eq!(cmp_hdr_name(b"X-Foo", b"X-Foo:"), -2);
        assert_eq!(cmp_hdr_name(b"From", b"From:x"), 1);
        assert_eq!(cmp_hdr_name(b"Via ", b" Via"), -2);
        assert_eq!(
            parse_sip_date(b"Sat, 13 Nov 2010 23:29:00 GMT"),
            Some(1_289_690_940)
        );
        assert_eq!(parse_sip_date(b"Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_sip_date(b"Tue, 29 Feb 2000 12:00:00 GMT"),
            Some(951_825_600)
        );
        assert_eq!(parse_sip_date(b"Sat, 13 Nov 2010 23:29:00 UTC"), None);
        assert_eq!(parse_sip_date(b"Sat, 13 nov 2010 23:29:00 GMT"), None);
        assert_eq!(parse_sip_date(b"Sat, 13 Nov 2010 23:29:00 GMT "), None);
        assert_eq!(parse_sip_date(b"garbage"), None);
    }

    #[test]
    fn contact_encodings() {
        use extra::{base64url_decode, base64url_encode, decode_uri, encode_uri};
        let uri = b"sip:alice@192.0.2.1:5080;transport=tcp";
        let enc = base64url_encode(uri);
        assert_eq!(enc, b"c2lwOmFsaWNlQDE5Mi4wLjIuMTo1MDgwO3RyYW5zcG9ydD10Y3A");
        assert_eq!(base64url_decode(&enc).unwrap(), uri);
        for n in 0..8 {
            let data: Vec<u8> = (0..n).map(|i| (i * 77 + 250) as u8).collect();
            assert_eq!(base64url_decode(&base64url_encode(&data)).unwrap(), data);
        }
        assert_eq!(
            base64url_decode(b"c2lwOmFsaWNlQDE5Mi4wLjIuMQ==").unwrap(),
            b"sip:alice@192.0.2.1"
        );
        assert!(base64url_decode(b"!!!").is_none());
        assert!(base64url_decode(b"a").is_none());
        assert!(base64url_decode(b"ab=c").is_none());
        assert_eq!(
            encode_uri(
                b"sip:bob:pw@10.0.0.1:5062;transport=tls;lr?h=1",
                b"enc",
                b"1.2.3.4",
                b'*'
            )
            .unwrap(),
            b"sip:enc*bob*pw*10.0.0.1*5062*tls@1.2.3.4"
        );
        assert_eq!(
            encode_uri(b"sip:10.0.0.1", b"enc", b"h", b'*').unwrap(),
            b"sip:enc***10.0.0.1**@h"
        );
        assert_eq!(
            encode_uri(b"tel:+123", b"enc", b"h", b'*').unwrap(),
            b"tel:enc*+123****@h"
        );
        assert_eq!(encode_uri(b"sips:a@h", b"enc", b"h", b'*'), Err(-509));
        assert_eq!(
            decode_uri(b"sip:enc*carol**10.0.0.2**@1.2.3.4;x=1", b'*').unwrap(),
            b"sip:carol@10.0.0.2;x=1"
        );
        assert_eq!(
            decode_uri(b"sip:enc***10.0.0.1**@1.2.3.4", b'*').unwrap(),
            b"sip:10.0.0.1"
        );
        assert_eq!(decode_uri(b"sip:enc*a@h", b'*'), Err(-26));
        assert_eq!(decode_uri(b"sip:e*a*b*c*d*e*f@h", b'*'), Err(-24));
        assert_eq!(decode_uri(b"sip:h", b'*'), Err(-23));
        assert_eq!(decode_uri(b"sip:e*a*b**d*e@h", b'*'), Err(-2));
        assert_eq!(decode_uri(b"nothing", b'*'), Err(-1));
    }
}
