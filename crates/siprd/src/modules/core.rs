//! Core functions every config has without `loadmodule`: message flags,
//! rport handling, branches, R-URI rewriting (`seturi`, `sethost`, `strip`
//! ...) and stateless `forward()`.

use crate::context::{Branch, Ctx};
use crate::module::Module;
use crate::modules::args::{int_arg, str_arg};
use siprd_script::registry::{func, Arg, FuncDef, FuncImpl, ParamKind};
use siprd_script::{route_type, Registry, RouteMask};
use siprd_sip::uri::{Scheme, Uri};

/// The always-loaded core "module".
#[derive(Default)]
pub struct Core;

/// Message flags are 32 bits in Kamailio.
pub const MAX_FLAG: i32 = 31;

fn flag_of(ctx: &mut Ctx, a: &Arg<Ctx>) -> Option<u32> {
    match int_arg(ctx, a) {
        Some(f) if (0..=MAX_FLAG).contains(&f) => Some(f as u32),
        other => {
            tracing::error!("invalid flag {other:?} (flags are 0..={MAX_FLAG})");
            None
        }
    }
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    routes: RouteMask,
    call: FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "core",
        params,
        routes,
        call,
    }
}

impl Module for Core {
    fn name(&self) -> &'static str {
        "core"
    }

    fn events(&self) -> Vec<&'static str> {
        vec![
            "core:worker-one-init",
            "core:receive-parse-error",
            "core:pre-routing",
            "core:msg-received",
        ]
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        super::select::register(reg);
        // Kamailio's core actions are checked against no route type, but
        // onsend_route refuses all of them except the flag functions, log()
        // and the set_{forward,reply}_{close,no_connect} family.
        let any = route_type::ANY;
        let not_onsend = route_type::ANY & !route_type::ONSEND;
        // Kamailio runs these as core actions: they leave `$rc` as it was
        for name in [
            "setflag",
            "resetflag",
            "isflagset",
            "force_rport",
            "add_local_rport",
            "revert_uri",
            "forward",
            "forward_udp",
            "forward_tcp",
            "log",
        ] {
            reg.keep_rc(name);
        }
        // R-URI rewriting (literal arguments: no PV is expanded, as Kamailio)
        let rewrites: [(&'static str, Rewrite); 15] = [
            ("seturi", Rewrite::Uri),
            ("rewriteuri", Rewrite::Uri),
            ("sethost", Rewrite::Host),
            ("rewritehost", Rewrite::Host),
            ("sethostport", Rewrite::HostPort),
            ("rewritehostport", Rewrite::HostPort),
            ("sethostporttrans", Rewrite::HostPortTrans),
            ("rewritehostporttrans", Rewrite::HostPortTrans),
            ("setuser", Rewrite::User),
            ("rewriteuser", Rewrite::User),
            ("setuserpass", Rewrite::UserPass),
            ("rewriteuserpass", Rewrite::UserPass),
            ("setport", Rewrite::Port),
            ("rewriteport", Rewrite::Port),
            ("prefix", Rewrite::Prefix),
        ];
        let rw_routes = not_onsend;
        for (name, op) in rewrites {
            reg.keep_rc(name);
            reg.add_function(def(
                name,
                vec![ParamKind::Str],
                rw_routes,
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| match &a[0] {
                    Arg::Str(v) => rewrite_ruri(ctx, op, v),
                    _ => -1,
                }),
            ));
        }
        for (name, op) in [
            ("strip", Rewrite::Strip),
            ("strip_tail", Rewrite::StripTail),
        ] {
            reg.keep_rc(name);
            reg.add_function(def(
                name,
                vec![ParamKind::Int],
                rw_routes,
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| match &a[0] {
                    Arg::Int(n) if *n >= 0 => {
                        let n = n.to_string();
                        rewrite_ruri(ctx, op, n.as_bytes())
                    }
                    _ => -1,
                }),
            ));
        }
        reg.add_function(def(
            "setflag",
            vec![ParamKind::IntOrPv],
            any,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_of(ctx, &a[0]) {
                Some(f) => {
                    ctx.flags |= 1 << f;
                    1
                }
                None => -1,
            }),
        ));
        reg.add_function(def(
            "resetflag",
            vec![ParamKind::IntOrPv],
            any,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_of(ctx, &a[0]) {
                Some(f) => {
                    ctx.flags &= !(1 << f);
                    1
                }
                None => -1,
            }),
        ));
        reg.add_function(def(
            "isflagset",
            vec![ParamKind::IntOrPv],
            any,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_of(ctx, &a[0]) {
                Some(f) if ctx.flags & (1 << f) != 0 => 1,
                _ => -1,
            }),
        ));
        // TCP: close the connection after the reply / the forwarded request,
        // or never open one for it (Kamailio's core functions)
        for (name, bit) in [
            ("set_forward_close", crate::context::TcpFlags::FORWARD_CLOSE),
            ("set_reply_close", crate::context::TcpFlags::REPLY_CLOSE),
            (
                "set_forward_no_connect",
                crate::context::TcpFlags::FORWARD_NO_CONNECT,
            ),
            (
                "set_reply_no_connect",
                crate::context::TcpFlags::REPLY_NO_CONNECT,
            ),
        ] {
            reg.add_function(def(
                name,
                vec![],
                any,
                func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                    ctx.tcp_flags |= bit;
                    1
                }),
            ));
        }
        // our address in the Via / Record-Route of what this message sends
        // (not `$RAi`, not replies); literal arguments, as Kamailio's grammar
        reg.keep_rc("set_advertised_address");
        reg.add_function(def(
            "set_advertised_address",
            vec![ParamKind::Str],
            not_onsend,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match &a[0] {
                Arg::Str(v) if !v.is_empty() => {
                    ctx.adv_address = Some(String::from_utf8_lossy(v).into_owned());
                    1
                }
                _ => -1,
            }),
        ));
        reg.keep_rc("set_advertised_port");
        reg.add_function(def(
            "set_advertised_port",
            vec![ParamKind::Int],
            not_onsend,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match &a[0] {
                Arg::Int(p) => match u16::try_from(*p) {
                    Ok(p) => {
                        ctx.adv_port = Some(p);
                        1
                    }
                    Err(_) => -1,
                },
                _ => -1,
            }),
        ));
        // TCP: what is later sent to the source IP and `port` (else the top
        // Via's port, else 5060) goes on the connection this request came on;
        // nothing to do for UDP (true, as Kamailio)
        for name in ["force_tcp_alias", "add_tcp_alias"] {
            for params in [vec![], vec![ParamKind::Int]] {
                reg.keep_rc(name);
                reg.add_function(def(
                    name,
                    params,
                    not_onsend,
                    func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                        let port = match a.first() {
                            Some(Arg::Int(p)) => match u16::try_from(*p) {
                                Ok(p) if p > 0 => p,
                                _ => return -1,
                            },
                            _ => ctx.msg.via1().ok().and_then(|v| v.port()).unwrap_or(5060),
                        };
                        if ctx.rcv.proto != crate::transport::Proto::Tcp {
                            return 1;
                        }
                        let Some(conn) = ctx.rcv.conn else { return 1 };
                        let addr = std::net::SocketAddr::new(ctx.rcv.src.ip(), port);
                        if ctx.rt.tcp_add_alias(conn, addr) {
                            1
                        } else {
                            -1
                        }
                    }),
                ));
            }
        }
        // SER's `log([level,] text)`: the text as written (no PV), at a
        // numeric level (`L_ALERT` -5 ... `L_DBG` 3); without a level at
        // L_DBG+1, printed only with debug=4 or more
        for params in [vec![ParamKind::Str], vec![ParamKind::Int, ParamKind::Str]] {
            reg.add_function(def(
                "log",
                params,
                any,
                func(|_ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let (level, text) = match a {
                        [Arg::Int(l), Arg::Str(t)] => (*l, t),
                        [Arg::Str(t)] => (crate::log::L_DBG + 1, t),
                        _ => return 1,
                    };
                    if crate::log::enabled(level) {
                        let text = String::from_utf8_lossy(text);
                        crate::log::emit_str(level, "script", &text);
                    }
                    1
                }),
            ));
        }
        reg.add_function(def(
            "force_rport",
            vec![],
            not_onsend,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.force_rport = true;
                1
            }),
        ));
        reg.add_function(def(
            "add_local_rport",
            vec![],
            not_onsend,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.local_rport = true;
                1
            }),
        ));
        reg.add_function(def(
            "revert_uri",
            vec![],
            not_onsend,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.new_uri = None;
                1
            }),
        ));
        // Kamailio's core branch and R-URI actions (`$rc` kept)
        reg.keep_rc("userphone");
        reg.add_function(def(
            "userphone",
            vec![],
            not_onsend,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                let ru = ctx.ruri().to_vec();
                match Uri::parse(&ru) {
                    Ok(u)
                        if u.params().any(|(n, v)| {
                            n.eq_ignore_ascii_case(b"user")
                                && v.is_some_and(|v| v.eq_ignore_ascii_case(b"phone"))
                        }) =>
                    {
                        1
                    }
                    Ok(_) => {
                        // `;user=phone` ends the params, before any `?headers`
                        let at = ru.iter().position(|&c| c == b'?').unwrap_or(ru.len());
                        let mut out = ru[..at].to_vec();
                        out.extend_from_slice(b";user=phone");
                        out.extend_from_slice(&ru[at..]);
                        ctx.new_uri = Some(bytes::Bytes::from(out));
                        1
                    }
                    Err(_) => -1,
                }
            }),
        ));
        reg.keep_rc("remove_branch");
        reg.add_function(def(
            "remove_branch",
            vec![ParamKind::Int],
            not_onsend,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match &a[0] {
                Arg::Int(i) => match usize::try_from(*i) {
                    Ok(i) if i < ctx.branches.len() => {
                        ctx.branches.remove(i);
                        1
                    }
                    _ => -1,
                },
                _ => -1,
            }),
        ));
        reg.keep_rc("clear_branches");
        reg.add_function(def(
            "clear_branches",
            vec![],
            not_onsend,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.branches.clear();
                1
            }),
        ));
        // `force_send_socket(udp:127.0.0.1:5060)`: `$fs` from a listener;
        // without a port 5060, without a protocol UDP
        reg.keep_rc("force_send_socket");
        let fs_fixup: siprd_script::registry::CustomFixup<Ctx> = std::sync::Arc::new(
            |fx: &mut siprd_script::registry::FixupCtx<'_, Ctx>,
             src: &siprd_script::registry::ArgSrc| {
                if src.quoted {
                    return Err(format!(
                        "the socket is written unquoted: force_send_socket({})",
                        src.text
                    ));
                }
                let spec = crate::transport::ListenSpec::parse(&src.text)
                    .map_err(|e| format!("bad socket `{}`: {e}", src.text))?;
                if let Some(h) = fx.host.downcast_ref::<crate::config::LoadHost>() {
                    if !h.listens_on(&spec) {
                        return Err(format!("siprd does not listen on `{}`", src.text));
                    }
                }
                Ok(Arg::Str(bytes::Bytes::from(src.text.clone())))
            },
        );
        reg.add_function(def(
            "force_send_socket",
            vec![ParamKind::Custom(fs_fixup)],
            not_onsend,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Arg::Str(want) = &a[0] else { return -1 };
                let want = String::from_utf8_lossy(want).trim().to_string();
                let found = ctx
                    .rt
                    .listeners()
                    .iter()
                    .map(|l| format!("{}:{}", l.proto, l.addr))
                    .find(|spec| socket_matches(&want, spec));
                match found {
                    Some(f) => {
                        ctx.forced_socket = Some(bytes::Bytes::from(f));
                        1
                    }
                    None => {
                        tracing::warn!("force_send_socket: no listener `{want}`");
                        -1
                    }
                }
            }),
        ));
        reg.add_function(def(
            "append_branch",
            vec![],
            route_type::REQUEST | route_type::FAILURE,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                let uri = bytes::Bytes::copy_from_slice(ctx.ruri());
                let dst_uri = ctx.dst_uri.clone();
                // The R-URI's destination moves into the branch: its branch
                // flags, `$du`, `$fs` and Path are reset (Kamailio 5.6; the
                // R-URI itself stays and is relayed too, to its own host).
                let flags = ctx.ruri_bflags;
                let r = push_branch(
                    ctx,
                    Branch {
                        uri,
                        dst_uri,
                        flags,
                        q: None,
                        instance: None,
                        path: ctx.tm.ruri_path.clone(),
                        socket: ctx.forced_socket.clone(),
                    },
                );
                if r == 1 {
                    ctx.ruri_bflags = 0;
                    ctx.dst_uri = None;
                    ctx.forced_socket = None;
                    ctx.tm.ruri_path = None;
                }
                r
            }),
        ));
        reg.add_function(def(
            "append_branch",
            vec![ParamKind::FormatOrPv],
            route_type::REQUEST | route_type::FAILURE,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match str_arg(ctx, &a[0]) {
                Some(uri) if !uri.is_empty() => append_uri(ctx, uri, None),
                _ => -1,
            }),
        ));
        // corex's append_branch(uri, q): the q value as "0.5", "1", "0.125".
        reg.add_function(def(
            "append_branch",
            vec![ParamKind::FormatOrPv, ParamKind::FormatOrPv],
            route_type::REQUEST | route_type::FAILURE,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let uri = str_arg(ctx, &a[0]).unwrap_or_default();
                let qs = str_arg(ctx, &a[1]).unwrap_or_default();
                let Some(q) = parse_q(&qs) else {
                    tracing::error!(
                        "append_branch: invalid q value `{}`",
                        String::from_utf8_lossy(&qs)
                    );
                    return -1;
                };
                let uri = if uri.is_empty() {
                    bytes::Bytes::copy_from_slice(ctx.ruri())
                } else {
                    uri
                };
                append_uri(ctx, uri, Some(q))
            }),
        ));
        for (name, force) in [
            ("forward", None),
            ("forward_udp", Some(crate::transport::Proto::Udp)),
            ("forward_tcp", Some(crate::transport::Proto::Tcp)),
        ] {
            // forward_udp/forward_tcp need a host, as Kamailio's grammar
            let forms: &[Vec<ParamKind<Ctx>>] = &[
                vec![],
                vec![ParamKind::Format],
                vec![ParamKind::Format, ParamKind::IntFormat],
            ];
            let forms = if force.is_some() { &forms[1..] } else { forms };
            for params in forms.iter().cloned() {
                reg.add_function(def(
                    name,
                    params,
                    not_onsend,
                    func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                        let host = a.first().and_then(|h| str_arg(ctx, h));
                        let port = match a.get(1) {
                            Some(p) => match int_arg(ctx, p).and_then(|p| u16::try_from(p).ok()) {
                                Some(p) => Some(p),
                                None => return -1,
                            },
                            None => None,
                        };
                        if crate::forward::forward_request_as(ctx, host.as_deref(), port, force) {
                            1
                        } else {
                            -1
                        }
                    }),
                ));
            }
        }
    }
}

/// A q value ("0", "0.5", "1.0", "0.125") in thousandths; None when it is not
/// a number between 0 and 1 (decimals past the third are ignored).
pub fn parse_q(s: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(s).ok()?.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 1 {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: i32 = int.parse().ok()?;
    let mut milli = 0;
    // digits past the third decimal are accepted and ignored (Kamailio: "0.1234")
    for (i, d) in frac.bytes().take(3).enumerate() {
        milli += i32::from(d - b'0') * [100, 10, 1][i];
    }
    let q = whole * 1000 + milli;
    (q <= 1000).then_some(q)
}

/// `append_branch(uri[, q])`: a branch to `uri`, no destination URI, with a
/// copy of the R-URI's branch flags (as Kamailio).
/// `append_branch(uri[, q])`: the new branch takes the R-URI's `$du`,
/// branch flags and send socket along (Kamailio 5.6).
fn append_uri(ctx: &mut Ctx, uri: bytes::Bytes, q: Option<i32>) -> i32 {
    let flags = ctx.ruri_bflags;
    push_branch(
        ctx,
        Branch {
            uri,
            dst_uri: ctx.dst_uri.clone(),
            flags,
            q,
            instance: None,
            path: None,
            socket: ctx.forced_socket.clone(),
        },
    )
}

pub(crate) fn push_branch(ctx: &mut Ctx, b: Branch) -> i32 {
    if ctx.branches.len() + 1 >= ctx.rt.settings.max_branches {
        tracing::error!(
            "too many branches (max_branches={})",
            ctx.rt.settings.max_branches
        );
        return -1;
    }
    ctx.branches.push(b);
    1
}

/// What an R-URI rewriting function replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rewrite {
    /// the whole URI (`seturi`)
    Uri,
    /// the user, keeping a password (`setuser`)
    User,
    /// user and password (`setuserpass`)
    UserPass,
    /// the host (`sethost`)
    Host,
    /// host and port (`sethostport`)
    HostPort,
    /// host and port, and the `transport` parameter is dropped (`sethostporttrans`)
    HostPortTrans,
    /// the port; empty removes it (`setport`)
    Port,
    /// text put before the user (`prefix`)
    Prefix,
    /// the first N bytes of the user removed (`strip`)
    Strip,
    /// the last N bytes of the user removed (`strip_tail`)
    StripTail,
}

/// Rewrite one part of the R-URI as Kamailio's core actions do: the URI is
/// rebuilt from its parsed parts (scheme in lower case, the rest as written)
/// with the new text put in unchecked. 1 when done, -1 when the current
/// R-URI does not parse.
fn rewrite_ruri(ctx: &mut Ctx, op: Rewrite, val: &[u8]) -> i32 {
    // the R-URI is "new" again for tm, even when the value is the same
    ctx.uri_marks = ctx.uri_marks.wrapping_add(1);
    if op == Rewrite::Uri {
        // any text: a URI that does not parse makes `$ru` null
        ctx.new_uri = Some(bytes::Bytes::copy_from_slice(val));
        return 1;
    }
    let Ok(u) = Uri::parse(ctx.ruri()) else {
        tracing::error!("cannot rewrite the R-URI: it does not parse");
        return -1;
    };
    let scheme: &[u8] = match u.scheme() {
        Scheme::Sip => b"sip:",
        Scheme::Sips => b"sips:",
        Scheme::Tel => b"tel:",
        Scheme::Other => {
            tracing::error!("cannot rewrite the R-URI: unsupported scheme");
            return -1;
        }
    };
    let old_user = u.user().unwrap_or(b"");
    let n = match op {
        Rewrite::Strip | Rewrite::StripTail => siprd_script::value::parse_int(val)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
            .min(old_user.len()),
        _ => 0,
    };
    let mut out = Vec::with_capacity(u.as_bytes().len() + val.len() + 8);
    out.extend_from_slice(scheme);
    let user_start = out.len();
    match op {
        Rewrite::User | Rewrite::UserPass => out.extend_from_slice(val),
        Rewrite::Prefix => {
            out.extend_from_slice(val);
            out.extend_from_slice(old_user);
        }
        Rewrite::Strip => out.extend_from_slice(&old_user[n..]),
        Rewrite::StripTail => out.extend_from_slice(&old_user[..old_user.len() - n]),
        _ => out.extend_from_slice(old_user),
    }
    // no user: no password and no `@` either
    if out.len() > user_start {
        if let Some(pw) = u.password().filter(|_| op != Rewrite::UserPass) {
            out.push(b':');
            out.extend_from_slice(pw);
        }
        if !u.host().is_empty() {
            out.push(b'@');
        }
    }
    match op {
        Rewrite::Host | Rewrite::HostPort | Rewrite::HostPortTrans => out.extend_from_slice(val),
        _ => out.extend_from_slice(u.host()),
    }
    match op {
        Rewrite::HostPort | Rewrite::HostPortTrans => {}
        Rewrite::Port => {
            if !val.is_empty() {
                out.push(b':');
                out.extend_from_slice(val);
            }
        }
        _ => {
            if let Some(p) = u.port_bytes() {
                out.push(b':');
                out.extend_from_slice(p);
            }
        }
    }
    let params = u.params_bytes();
    if op == Rewrite::HostPortTrans {
        for p in params.split(|&b| b == b';').filter(|p| !p.is_empty()) {
            let name = p.split(|&b| b == b'=').next().unwrap_or(p);
            if !name.trim_ascii().eq_ignore_ascii_case(b"transport") {
                out.push(b';');
                out.extend_from_slice(p);
            }
        }
    } else {
        out.extend_from_slice(params);
    }
    if let Some(h) = u.headers() {
        out.push(b'?');
        out.extend_from_slice(h);
    }
    ctx.new_uri = Some(bytes::Bytes::from(out));
    1
}

/// Does `want` (`proto:ip:port`, `ip:port`, `proto:ip` or `ip`) name the
/// listener written `spec` (`udp:127.0.0.1:5060`)?
fn socket_matches(want: &str, spec: &str) -> bool {
    if want.eq_ignore_ascii_case(spec) {
        return true;
    }
    let lower = want.to_ascii_lowercase();
    let has_proto = ["udp:", "tcp:", "tls:", "sctp:", "ws:", "wss:"]
        .iter()
        .any(|p| lower.starts_with(p));
    let with_proto = if has_proto {
        lower
    } else {
        format!("udp:{lower}")
    };
    let host_port = with_proto.split_once(':').map_or("", |(_, r)| r);
    let has_port = match host_port.strip_prefix('[') {
        // `[v6]:port`
        Some(r) => r.split_once("]:").is_some(),
        // `v4:port` (a bare IPv6 address has several colons and no port)
        None => host_port.matches(':').count() == 1,
    };
    let full = if has_port {
        with_proto
    } else {
        format!("{with_proto}:5060")
    };
    full.eq_ignore_ascii_case(spec)
}

#[cfg(test)]
mod tests {
    use super::{parse_q, socket_matches};

    #[test]
    fn q_values_as_kamailio() {
        // observed with corex append_branch(uri, q) on Kamailio 5.6.3
        assert_eq!(parse_q(b"0.5"), Some(500));
        assert_eq!(parse_q(b"1"), Some(1000));
        assert_eq!(parse_q(b"1.0"), Some(1000));
        assert_eq!(parse_q(b"0.1234"), Some(123));
        assert_eq!(parse_q(b"0"), Some(0));
        assert_eq!(parse_q(b"abc"), None);
        assert_eq!(parse_q(b"1.5"), None);
        assert_eq!(parse_q(b""), None);
        assert_eq!(parse_q(b"-0.5"), None);
    }

    #[test]
    fn socket_forms_match_listeners() {
        let l = "udp:127.0.0.1:5060";
        assert!(socket_matches("udp:127.0.0.1:5060", l));
        assert!(socket_matches("UDP:127.0.0.1:5060", l));
        assert!(socket_matches("127.0.0.1:5060", l));
        assert!(socket_matches("127.0.0.1", l));
        assert!(socket_matches("udp:127.0.0.1", l));
        assert!(!socket_matches("tcp:127.0.0.1:5060", l));
        assert!(!socket_matches("udp:127.0.0.1:5061", l));
        assert!(socket_matches("udp:[::1]:5060", "udp:[::1]:5060"));
        assert!(socket_matches("udp:[::1]", "udp:[::1]:5060"));
    }
}
