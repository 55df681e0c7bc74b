//! Stateless forwarding: requests to `$du`/`$ru` with our Via on top, replies
//! back along their Via headers, and where local replies go.

use crate::context::Ctx;
use crate::onsend::{self, OutBuf};
use crate::transport::{Dest, ListenerInfo, Proto};
use siprd_sip::uri::Uri;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Where a reply to the request in `ctx` goes (RFC 3261 §18.2.2, RFC 3581):
/// TCP replies reuse the connection; UDP ones go to the source IP and the
/// source port with `rport` (or `force_rport()`), else the Via port.
pub fn reply_dest(ctx: &Ctx) -> Option<Dest> {
    let src = ctx.rcv.src;
    if ctx.rcv.proto == Proto::Tcp {
        return Some(ctx.rcv.reply_dest(src));
    }
    let port = siprd_sip::reply_port(&ctx.msg, src.port(), ctx.force_rport).ok()?;
    Some(ctx.rcv.reply_dest(SocketAddr::new(src.ip(), port)))
}

/// Resolve `host:port` to one address (IP literals without DNS). Blocking:
/// callers on a worker flush their batch first.
pub fn resolve(host: &[u8], port: u16) -> Option<SocketAddr> {
    let host = std::str::from_utf8(host).ok()?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    match (bare, port).to_socket_addrs() {
        Ok(mut addrs) => {
            let first = addrs.next();
            if first.is_none() {
                FAILED_DNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            first
        }
        Err(e) => {
            FAILED_DNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::error!("cannot resolve `{bare}`: {e}");
            None
        }
    }
}

/// The transport a destination asks for: one siprd has sockets for, or one
/// it never has (`tls`, `sctp`, `ws`, `wss`; a `sips:` URI is TLS). A
/// message for the latter is not sent at all, as by Kamailio without a
/// listener of that protocol: never downgraded to UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    Sock(Proto),
    Unavailable(&'static str),
}

impl Transport {
    /// A protocol by name (`udp`, `tcp`, `tls`, `sctp`, `ws`, `wss`, any case).
    pub fn named(p: &[u8]) -> Option<Transport> {
        if p.eq_ignore_ascii_case(b"udp") {
            return Some(Transport::Sock(Proto::Udp));
        }
        if p.eq_ignore_ascii_case(b"tcp") {
            return Some(Transport::Sock(Proto::Tcp));
        }
        ["tls", "sctp", "ws", "wss"]
            .into_iter()
            .find(|n| p.eq_ignore_ascii_case(n.as_bytes()))
            .map(Transport::Unavailable)
    }

    /// The transport of a URI: its `transport` parameter (UDP without one,
    /// or with a value Kamailio does not know either), TLS for `sips:`.
    pub fn of_uri(uri: &Uri) -> Transport {
        let named = uri.transport().and_then(Transport::named);
        match named {
            Some(t @ Transport::Unavailable(_)) => t,
            _ if uri.scheme() == siprd_sip::uri::Scheme::Sips => Transport::Unavailable("tls"),
            Some(t) => t,
            None => Transport::Sock(Proto::Udp),
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Transport::Sock(p) => write!(f, "{p}"),
            Transport::Unavailable(n) => f.write_str(n),
        }
    }
}

/// Name lookups that failed (`dns:failed_dns_request`).
pub static FAILED_DNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The listener to put in our Via for a message sent with `proto` to `to`.
fn via_listener(ctx: &Ctx, proto: Proto, to: &SocketAddr) -> Option<ListenerInfo> {
    send_listener(ctx, ctx.forced_socket.as_deref(), proto, to)
}

/// The name of the listener `text` designates (`proto:ip:port`, or `ip:port`
/// for any protocol; case-insensitive), as Kamailio prints a socket:
/// `udp:127.0.0.1:5060`. None (with Kamailio's warning) when none matches.
pub fn socket_name(ctx: &Ctx, text: &[u8]) -> Option<bytes::Bytes> {
    let found = listener_named(ctx.rt.listeners(), text)
        .map(|l| bytes::Bytes::from(format!("{}:{}", l.proto, l.addr)));
    if found.is_none() {
        tracing::warn!(
            "no socket found to match [{}]",
            String::from_utf8_lossy(text)
        );
    }
    found
}

/// The listener `text` names: `proto:ip:port` (case-insensitive) or `ip:port`.
fn listener_named<'a>(listeners: &'a [ListenerInfo], text: &[u8]) -> Option<&'a ListenerInfo> {
    let want = String::from_utf8_lossy(text);
    listeners.iter().find(|l| {
        let addr = l.addr.to_string();
        want.eq_ignore_ascii_case(&format!("{}:{addr}", l.proto)) || *want == addr
    })
}

/// The listener a message to `to` goes out of: `forced` (`$fs`, a branch's
/// send socket) when it names one, else the receiving one when its protocol
/// and address family fit, else the first that fits.
pub fn send_listener(
    ctx: &Ctx,
    forced: Option<&[u8]>,
    proto: Proto,
    to: &SocketAddr,
) -> Option<ListenerInfo> {
    let listeners = ctx.rt.listeners();
    // `$fs = "udp:127.0.0.1:5060"`: the script chose the socket.
    if let Some(fs) = forced {
        match listener_named(listeners, fs) {
            Some(l) => return Some(l.clone()),
            None => tracing::warn!(
                "$fs = {}: no such listener, choosing one",
                String::from_utf8_lossy(fs)
            ),
        }
    }
    if ctx.rcv.proto == proto {
        if let Some(l) = listeners.iter().find(|l| Some(l.id) == ctx.rcv.listener) {
            if l.addr.is_ipv4() == to.is_ipv4() {
                return Some(l.clone());
            }
        }
    }
    listeners
        .iter()
        .find(|l| l.proto == proto && l.addr.is_ipv4() == to.is_ipv4())
        .cloned()
}

/// Our Via's parameters after the branch, in Kamailio's order: `;i=<hex id>`
/// of the TCP connection the request came on (so that its replies can go
/// back on it), then `;rport` (`add_local_rport()`), then `;srvid=`
/// (`via_add_srvid()`); and the line end.
pub fn finish_via(ctx: &Ctx, via: &mut String) {
    if ctx.rcv.proto == Proto::Tcp {
        if let Some(conn) = ctx.rcv.conn {
            use std::fmt::Write;
            let _ = write!(via, ";i={:x}", conn.0);
        }
    }
    if ctx.local_rport {
        via.push_str(";rport");
    }
    if ctx.via_srvid {
        use std::fmt::Write;
        let _ = write!(via, ";srvid={}", ctx.rt.settings.server_id);
    }
    via.push_str("\r\n");
}

/// The branch of a stateless forward: the same for a retransmission.
fn stateless_branch(ctx: &Ctx) -> String {
    let h = siprd_sip::reply::to_tag(&ctx.msg);
    format!("z9hG4bKsl{}", String::from_utf8_lossy(&h))
}

/// Forward the request in `ctx` statelessly (`forward()`): to `host:port` when
/// given, else to `$du`, else to the Request-URI.
pub fn forward_request(ctx: &mut Ctx, host: Option<&[u8]>, port: Option<u16>) -> bool {
    forward_request_as(ctx, host, port, None)
}

/// [`forward_request`] over a given transport (`forward_udp`, `forward_tcp`).
pub fn forward_request_as(
    ctx: &mut Ctx,
    host: Option<&[u8]>,
    port: Option<u16>,
    force: Option<Proto>,
) -> bool {
    if !ctx.msg.is_request() || ctx.faked {
        tracing::error!("forward: not a received request");
        return false;
    }
    let (dest_host, mut dest_port, mut proto) = match host {
        // Kamailio: forward(host, port) keeps the protocol it received on.
        Some(h) => (h.to_vec(), port.unwrap_or(5060), ctx.rcv.proto),
        None => {
            let target = match &ctx.dst_uri {
                Some(d) => d.clone(),
                None => bytes::Bytes::copy_from_slice(ctx.ruri()),
            };
            let Ok(uri) = Uri::parse(&target) else {
                tracing::error!(
                    "forward: bad destination URI `{}`",
                    String::from_utf8_lossy(&target)
                );
                return false;
            };
            let proto = match Transport::of_uri(&uri) {
                Transport::Sock(p) => p,
                Transport::Unavailable(name) => {
                    tracing::error!("forward: no {name} listener to send from");
                    return false;
                }
            };
            (uri.host().to_vec(), uri.port().unwrap_or(5060), proto)
        }
    };
    if let Some(p) = port {
        dest_port = p;
    }
    if let Some(p) = force {
        proto = p;
    }
    ctx.flush();
    let Some(addr) = resolve(&dest_host, dest_port) else {
        return false;
    };
    let Some(listener) = via_listener(ctx, proto, &addr) else {
        tracing::error!("forward: no {proto} listener to send from");
        return false;
    };
    let (via_host, via_port) = advertised(ctx, &listener);
    let mut via = format!(
        "Via: SIP/2.0/{} {via_host}:{via_port};branch={}",
        proto.as_str().to_uppercase(),
        stateless_branch(ctx)
    );
    finish_via(ctx, &mut via);
    let mut edits = ctx.edits.clone();
    if let Some(uri) = &ctx.new_uri {
        if edits.set_ruri(&ctx.msg, uri).is_err() {
            tracing::error!("forward: cannot rewrite the Request-URI");
            return false;
        }
    }
    mark_received(ctx, &mut edits);
    resolve_sockets(ctx, &listener, &mut edits);
    edits.add_top_via(&ctx.msg, via.as_bytes());
    if proto == Proto::Tcp {
        // Kamailio adds the Content-Length a stream needs.
        edits.ensure_content_length(&ctx.msg);
    }
    let mut out = std::mem::take(&mut ctx.scratch);
    out.clear();
    edits.apply_into(ctx.msg.buf(), &mut out);
    let dest = Dest {
        proto,
        addr,
        listener: Some(listener.id),
        conn: None,
    };
    if let Some(route) = onsend::route_for(&ctx.rt, false) {
        let mut buf = OutBuf::Owned(out);
        let send = onsend::run(ctx, route, &dest, &mut buf);
        out = buf.into_vec();
        if !send {
            tracing::debug!("forward: dropped by onsend_route");
            ctx.scratch = out;
            return false;
        }
    }
    let ok = ctx.send(&dest, &out);
    ctx.scratch = out;
    ok
}

/// corex `send_data(uri, data)` / `sendx(uri, socket, data)`: `data` as it
/// is to the address of a SIP URI (port 5060 by default, `;transport=tcp`
/// for TCP), from `socket` (`proto:ip:port`) when given, else from a
/// listener of that protocol.
pub fn send_data(ctx: &mut Ctx, uri: &[u8], socket: Option<&[u8]>, data: &[u8]) -> bool {
    let Ok(u) = Uri::parse(uri) else {
        tracing::error!("send_data: bad URI `{}`", String::from_utf8_lossy(uri));
        return false;
    };
    let proto = match u.transport() {
        Some(t) if t.eq_ignore_ascii_case(b"tcp") => Proto::Tcp,
        _ => Proto::Udp,
    };
    let Some(addr) = resolve(u.host(), u.port().unwrap_or(5060)) else {
        return false;
    };
    // an unknown socket falls back to the usual choice (as Kamailio)
    let chosen = socket.and_then(|sock| {
        let want = String::from_utf8_lossy(sock);
        let found = ctx
            .rt
            .listeners()
            .iter()
            .find(|l| want.eq_ignore_ascii_case(&format!("{}:{}", l.proto, l.addr)))
            .cloned();
        if found.is_none() {
            tracing::warn!("sendx: no listener `{want}`, choosing one");
        }
        found
    });
    let Some(listener) = chosen.or_else(|| via_listener(ctx, proto, &addr)) else {
        tracing::error!("send_data: no {proto} listener to send from");
        return false;
    };
    let dest = Dest {
        proto: listener.proto,
        addr,
        listener: Some(listener.id),
        conn: None,
    };
    ctx.send(&dest, data)
}

/// corex `send_udp` / `send_tcp`: the message exactly as received (no Via of
/// ours, none of the script's changes, no onsend_route) to `host[:port]`
/// (5060 by default) or, without a target, to `$du`, else the R-URI's host
/// and port, as Kamailio 5.6.3.
pub fn send_received(ctx: &mut Ctx, proto: Proto, target: Option<&[u8]>) -> bool {
    let hostport = match target {
        Some(t) => split_host_port(t),
        None => {
            let uri = match &ctx.dst_uri {
                Some(du) => du.clone(),
                None => bytes::Bytes::copy_from_slice(ctx.ruri()),
            };
            Uri::parse(&uri)
                .ok()
                .map(|u| (u.host().to_vec(), u.port().unwrap_or(5060)))
        }
    };
    let Some((host, port)) = hostport else {
        tracing::error!(
            "send_{proto}: bad destination `{}` (host or host:port)",
            String::from_utf8_lossy(target.unwrap_or_default())
        );
        return false;
    };
    let Some(addr) = resolve(&host, port) else {
        return false;
    };
    let Some(listener) = via_listener(ctx, proto, &addr) else {
        tracing::error!("send_{proto}: no {proto} listener to send from");
        return false;
    };
    let data = ctx.msg.buf().clone();
    let dest = Dest {
        proto,
        addr,
        listener: Some(listener.id),
        conn: None,
    };
    ctx.send(&dest, &data)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` (port 5060 by default).
fn split_host_port(t: &[u8]) -> Option<(Vec<u8>, u16)> {
    let t = t.trim_ascii();
    let (host, port) = if t.first() == Some(&b'[') {
        let close = memchr::memchr(b']', t)?;
        let rest = &t[close + 1..];
        let port = match rest {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return None,
        };
        (&t[..=close], port)
    } else {
        match memchr::memrchr(b':', t) {
            Some(i) if memchr::memchr(b':', &t[..i]).is_none() => (&t[..i], Some(&t[i + 1..])),
            // several colons: an IPv6 address without a port
            Some(_) => (t, None),
            None => (t, None),
        }
    };
    let port = match port {
        Some(p) => std::str::from_utf8(p).ok()?.parse::<u16>().ok()?,
        None => 5060,
    };
    (!host.is_empty()).then(|| (host.to_vec(), port))
}

/// `received` / `rport` on the top Via of a request we forward, from where
/// it came (see [`siprd_sip::Edits::mark_received`]).
pub fn mark_received(ctx: &Ctx, edits: &mut siprd_sip::Edits) {
    let ip = ctx.rcv.src.ip().to_string();
    edits.mark_received(&ctx.msg, ip.as_bytes(), ctx.rcv.src.port(), ctx.force_rport);
}

/// A socket as Record-Route names it: the advertised `host:port`, with
/// `;transport=` for anything but UDP.
pub fn sock_text(ctx: &Ctx, l: &ListenerInfo) -> Vec<u8> {
    let (host, port) = advertised(ctx, l);
    let mut t = format!("{host}:{port}");
    if l.proto != Proto::Udp {
        t.push_str(";transport=");
        t.push_str(l.proto.as_str());
    }
    t.into_bytes()
}

/// The socket the message in `ctx` arrived on, as [`sock_text`] names it
/// (the local address when no listener is known: synthetic messages).
pub fn rcv_sock_text(ctx: &Ctx) -> Vec<u8> {
    match ctx
        .rt
        .listeners()
        .iter()
        .find(|l| Some(l.id) == ctx.rcv.listener)
    {
        Some(l) => sock_text(ctx, l),
        None => {
            let mut t = match ctx.rcv.local.ip() {
                IpAddr::V6(ip) => format!("[{ip}]:{}", ctx.rcv.local.port()),
                IpAddr::V4(ip) => format!("{ip}:{}", ctx.rcv.local.port()),
            };
            if ctx.rcv.proto != Proto::Udp {
                t.push_str(";transport=");
                t.push_str(ctx.rcv.proto.as_str());
            }
            t.into_bytes()
        }
    }
}

/// Render the socket-dependent edits (Record-Route) for a request leaving
/// from `out`; "another socket" means another listener than the receiving one.
pub fn resolve_sockets(ctx: &Ctx, out: &ListenerInfo, edits: &mut siprd_sip::Edits) {
    if !edits.has_sock() {
        return;
    }
    let snd = sock_text(ctx, out);
    let rcv = rcv_sock_text(ctx);
    edits.resolve_sockets(&snd, &rcv, ctx.rcv.listener != Some(out.id));
}

/// Our address as it must appear in headers: the listener's advertised
/// address, else `advertised_address`, else the bound address.
/// `set_advertised_address()`/`set_advertised_port()` of the message come
/// first, each on its own.
pub fn advertised(ctx: &Ctx, l: &ListenerInfo) -> (String, u16) {
    let (host, port) = match &l.advertise {
        Some(a) => (a.host.clone(), a.port.unwrap_or(l.addr.port())),
        None => {
            let s = &ctx.rt.settings;
            let host = match &s.advertised_address {
                Some(h) => h.clone(),
                None => match l.addr.ip() {
                    IpAddr::V6(ip) => format!("[{ip}]"),
                    IpAddr::V4(ip) => ip.to_string(),
                },
            };
            (host, s.advertised_port.unwrap_or(l.addr.port()))
        }
    };
    (
        ctx.adv_address.clone().unwrap_or(host),
        ctx.adv_port.unwrap_or(port),
    )
}

/// Forward the reply in `ctx` back along its Via headers (the default action
/// after `reply_route`).
pub fn forward_reply(ctx: &mut Ctx) -> bool {
    forward_reply_with(ctx, None, None)
}

/// Forward the reply, optionally with another status code and reason
/// (`sl_forward_reply`).
pub fn forward_reply_with(ctx: &mut Ctx, code: Option<i32>, reason: Option<&[u8]>) -> bool {
    if ctx.msg.is_request() {
        tracing::error!("sl_forward_reply: not a reply");
        return false;
    }
    // The top Via must be ours; the next one says where the reply goes.
    let Ok(top) = ctx.msg.via1() else {
        return false;
    };
    if !ctx.rt.is_local(top.host(), top.port()) {
        tracing::debug!("reply with a foreign top Via dropped");
        return false;
    }
    let Some(Ok(next)) = ctx.msg.vias().nth(1) else {
        tracing::debug!("reply for us: nowhere to forward it");
        return false;
    };
    let host = next.received().unwrap_or(next.host()).to_vec();
    let port = match next.rport() {
        Some(Some(p)) => p,
        _ => next.port().unwrap_or(5060),
    };
    let proto = match Transport::named(next.transport()) {
        Some(Transport::Sock(p)) => p,
        // TLS & co: no such socket to send from, as Kamailio without one
        Some(Transport::Unavailable(name)) => {
            tracing::error!("reply forward: no {name} listener to send from");
            return false;
        }
        None => Proto::Udp,
    };
    // Our Via's `;i=` names the TCP connection the request came on: the
    // reply goes back on it while it is open (Kamailio does the same).
    let conn = top
        .param(b"i")
        .flatten()
        .filter(|_| proto == Proto::Tcp)
        .and_then(|id| std::str::from_utf8(id).ok())
        .and_then(|id| u64::from_str_radix(id, 16).ok())
        .map(crate::transport::ConnId);
    ctx.flush();
    let Some(addr) = resolve(&host, port) else {
        return false;
    };
    let status = match code {
        Some(c) => match u16::try_from(c) {
            Ok(c) if (100..=699).contains(&c) => Some(c),
            _ => {
                tracing::error!("sl_forward_reply: invalid code {c}");
                return false;
            }
        },
        None => None,
    };
    let mut edits = ctx.edits.clone();
    if edits.remove_top_via(&ctx.msg).is_err() {
        return false;
    }
    if proto == Proto::Tcp {
        edits.ensure_content_length(&ctx.msg);
    }
    if status.is_some() || reason.is_some() {
        // "SIP/2.0 CODE REASON": replace what follows the version.
        let start = ctx.msg.start_offset() + ctx.msg.version().len() + 1;
        let end = ctx.msg.start_offset() + ctx.msg.first_line().len();
        let code = status.or(ctx.msg.status()).unwrap_or(500);
        let reason = reason.unwrap_or(ctx.msg.reason());
        let mut line = code.to_string().into_bytes();
        line.push(b' ');
        line.extend_from_slice(reason);
        edits.replace(start..end, line);
    }
    let mut out = std::mem::take(&mut ctx.scratch);
    out.clear();
    edits.apply_into(ctx.msg.buf(), &mut out);
    let dest = Dest {
        proto,
        addr,
        listener: None,
        conn,
    };
    if let Some(route) = onsend::route_for(&ctx.rt, true) {
        let mut buf = OutBuf::Owned(out);
        let send = onsend::run(ctx, route, &dest, &mut buf);
        out = buf.into_vec();
        if !send {
            onsend::log_dropped_reply(&dest);
            ctx.scratch = out;
            return false;
        }
    }
    let ok = ctx.send(&dest, &out);
    ctx.scratch = out;
    ok
}
