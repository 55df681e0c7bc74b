//! `t_replicate([uri])`, `t_replicate(host, port)`, `t_replicate_udp/tcp(host,
//! port)`, `t_replicate_to(proto, "host:port")`: a stateful copy of the request
//! to another destination whose replies stay in tm.
//!
//! Observed on Kamailio 5.6.3 and reproduced: request_route only; the
//! transaction is created as by `t_relay` (an INVITE gets the automatic
//! `100`); return codes as `t_relay`'s (1 sent). The replica's replies run
//! `onreply_route`/`t_on_reply` and, for a negative final one, `failure_route`
//! (a negative reply to an INVITE is ACKed), but none goes upstream and tm
//! sends no reply of its own (no 408/500) for it: the client only gets what
//! the script answers (`t_reply`). A second `t_replicate` or a `t_relay` on
//! the replicated transaction returns -1.

use super::{relay, TmState};
use crate::context::Ctx;
use crate::forward::Transport;
use crate::modules::args::{int_arg, str_arg};
use crate::transport::Proto;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry};
use siprd_sip::uri::Uri;
use std::sync::Arc;

/// Replicate to `host:port` over `proto` (None: `$du`/`$ru`).
fn replicate(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    host: Option<&[u8]>,
    port: Option<u16>,
    proto: Option<Transport>,
) -> i32 {
    // Only from request and failure routes (a sub-route called from a branch
    // route would replicate, and so run the branch route, endlessly).
    if ctx.exec.route_type & (route_type::REQUEST | route_type::FAILURE) == 0 {
        tracing::error!("t_replicate: not in a request or failure route");
        return -1;
    }
    if ctx.faked || !ctx.msg.is_request() {
        tracing::error!("t_replicate: not a received request");
        return -1;
    }
    let tx = match relay::relay_tx(st, ctx) {
        Ok(tx) => tx,
        Err(r) => return r,
    };
    {
        let mut inner = tx.entry.inner.lock();
        if !inner.uacs.is_empty() {
            tracing::error!("t_replicate: the transaction was already relayed or replicated");
            return -1;
        }
        inner.flags.replicate = true;
    }
    relay::t_relay(st, ctx, host, port, proto)
}

/// `t_replicate(uri)`: host, port and `;transport=` of a SIP URI.
fn replicate_uri(st: &Arc<TmState>, ctx: &mut Ctx, uri: &[u8]) -> i32 {
    let Ok(u) = Uri::parse(uri) else {
        tracing::error!("t_replicate: bad URI `{}`", String::from_utf8_lossy(uri));
        return -1;
    };
    let proto = Transport::of_uri(&u);
    let host = u.host().to_vec();
    replicate(
        st,
        ctx,
        Some(&host),
        Some(u.port().unwrap_or(5060)),
        Some(proto),
    )
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    call: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    super::def(name, "tm", params, route_type::REQUEST, call)
}

pub fn register(reg: &mut Registry<Ctx>, st: &Arc<TmState>) {
    let s = st.clone();
    reg.add_function(def(
        "t_replicate",
        vec![],
        func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| replicate(&s, ctx, None, None, None)),
    ));
    let s = st.clone();
    reg.add_function(def(
        "t_replicate",
        vec![ParamKind::Format],
        func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let uri = str_arg(ctx, &a[0]).unwrap_or_default();
            if uri.is_empty() {
                return replicate(&s, ctx, None, None, None);
            }
            replicate_uri(&s, ctx, &uri)
        }),
    ));
    for (name, proto) in [
        ("t_replicate", None),
        ("t_replicate_udp", Some(Transport::Sock(Proto::Udp))),
        ("t_replicate_tcp", Some(Transport::Sock(Proto::Tcp))),
        ("t_replicate_tls", Some(Transport::Unavailable("tls"))),
        ("t_replicate_sctp", Some(Transport::Unavailable("sctp"))),
    ] {
        let s = st.clone();
        reg.add_function(def(
            name,
            vec![ParamKind::StrOrPv, ParamKind::IntOrPv],
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(host) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                let Some(port) = int_arg(ctx, &a[1]).and_then(|p| u16::try_from(p).ok()) else {
                    tracing::error!("{name}: bad port");
                    return -1;
                };
                replicate(
                    &s,
                    ctx,
                    Some(&host),
                    Some(port),
                    Some(proto.unwrap_or(Transport::Sock(Proto::Udp))),
                )
            }),
        ));
    }
    let s = st.clone();
    reg.add_function(def(
        "t_replicate_to",
        vec![ParamKind::Format, ParamKind::Format],
        func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let p = str_arg(ctx, &a[0]).unwrap_or_default();
            let hp = str_arg(ctx, &a[1]).unwrap_or_default();
            let Some(proto) = Transport::named(&p) else {
                tracing::error!(
                    "t_replicate_to: unsupported protocol `{}`",
                    String::from_utf8_lossy(&p)
                );
                return -1;
            };
            let text = String::from_utf8_lossy(&hp).into_owned();
            let (host, port) = match text.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') && !p.contains(']') => match p.parse::<u16>() {
                    Ok(port) => (h.to_string(), port),
                    Err(_) => {
                        tracing::error!("t_replicate_to: bad port in `{text}`");
                        return -1;
                    }
                },
                _ => (text.clone(), 5060),
            };
            if host.is_empty() {
                tracing::error!("t_replicate_to: no host in `{text}`");
                return -1;
            }
            replicate(&s, ctx, Some(host.as_bytes()), Some(port), Some(proto))
        }),
    ));
}
