//! Local requests: `t_uac_send(method, ruri, nexthop, socket, headers, body)`.
//!
//! The request is a transaction of its own, kept local: its replies run no
//! route and go nowhere (a negative reply to an INVITE is ACKed hop by hop, the
//! first 2xx end to end: [`ack_for_2xx`]), it is
//! retransmitted over UDP and times out as any branch. Built as Kamailio 5.6.3
//! writes it (observed with a UDP sink):
//!
//! ```text
//! OPTIONS sip:alice@127.0.0.1:5070 SIP/2.0
//! Via: SIP/2.0/UDP <listener>;branch=z9hG4bK...
//! To: <the To given>
//! From: <the From given>;tag=<32 hex>-<8 hex>   (a tag is added when missing)
//! CSeq: <the number given, else 10> <method>
//! Call-ID: <the one given, else <16 hex>-<pid>@<listener address>>
//! Max-Forwards: 70
//! Content-Length: <body length>
//! User-Agent: <user_agent_header>
//! <the other headers given, in their order>
//! ```
//!
//! `event_route[tm:local-request]` runs on the request before it is sent.
//! Errors (-1): no From or no To among the headers, a body without a
//! Content-Type, an empty method, a bad R-URI or next hop, an unknown socket.

use super::table::{TxInner, Uac};
use super::{TmState, TxEntry};
use crate::context::{Ctx, RcvInfo};
use crate::modules::args::str_arg;
use crate::transport::{Dest, Proto};
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry};
use siprd_sip::transaction::{ClientTx, ServerTx};
use siprd_sip::txkey::ServerTxKey;
use siprd_sip::uri::Uri;
use siprd_sip::{Message, Method};
use std::sync::Arc;
use std::time::Instant;

/// What a local request is made of.
pub struct UacReq<'a> {
    pub method: &'a [u8],
    pub ruri: &'a [u8],
    pub nexthop: &'a [u8],
    pub socket: &'a [u8],
    pub headers: &'a [u8],
    pub body: &'a [u8],
}

/// The header lines given, sorted out.
#[derive(Default)]
struct Given {
    from: Option<String>,
    to: Option<String>,
    call_id: Option<String>,
    cseq: Option<u32>,
    content_type: bool,
    /// Every other line, in order, CRLF-terminated.
    rest: String,
}

fn parse_headers(h: &[u8]) -> Given {
    let mut g = Given::default();
    for line in String::from_utf8_lossy(h).split('\n') {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            g.rest.push_str(line);
            g.rest.push_str("\r\n");
            continue;
        };
        let value = value.trim().to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "from" | "f" => g.from = Some(value),
            "to" | "t" => g.to = Some(value),
            "call-id" | "i" => g.call_id = Some(value),
            "cseq" => g.cseq = value.split_whitespace().next().and_then(|n| n.parse().ok()),
            n => {
                if n == "content-type" || n == "c" {
                    g.content_type = true;
                }
                g.rest.push_str(line);
                g.rest.push_str("\r\n");
            }
        }
    }
    g
}

fn has_tag(v: &str) -> bool {
    // a ;tag= parameter after the URI (not inside <...>)
    let after = v.rfind('>').map_or(v, |i| &v[i..]);
    after.to_ascii_lowercase().contains(";tag=")
}

fn proto_of(u: &Uri) -> Option<Proto> {
    match u.transport() {
        None => Some(Proto::Udp),
        Some(t) if t.eq_ignore_ascii_case(b"udp") => Some(Proto::Udp),
        Some(t) if t.eq_ignore_ascii_case(b"tcp") => Some(Proto::Tcp),
        Some(_) => None,
    }
}

/// Why a local request was not sent: RPC code and text.
pub type UacError = (i32, String);

fn err(code: i32, text: String) -> UacError {
    (code, text)
}

/// Send a local request statefully; `rpc`: the RPC's checks (Content-Type
/// always required, as Kamailio's `tm.t_uac_*`). The transaction, or why not.
pub fn start(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    r: &UacReq<'_>,
    rpc: bool,
) -> Result<Arc<TxEntry>, UacError> {
    let method_s = String::from_utf8_lossy(r.method).trim().to_string();
    if method_s.is_empty() || method_s.contains(char::is_whitespace) {
        return Err(err(400, "Invalid method".into()));
    }
    let g = parse_headers(r.headers);
    if (rpc || !r.body.is_empty()) && !g.content_type {
        return Err(err(400, "Content-Type missing".into()));
    }
    let (Some(from), Some(to)) = (g.from.clone(), g.to.clone()) else {
        let which = if g.from.is_none() { "From" } else { "To" };
        return Err(err(400, format!("{which} missing")));
    };
    if Uri::parse(r.ruri).is_err() {
        return Err(err(
            400,
            format!(
                "Invalid request uri \"{}\"",
                String::from_utf8_lossy(r.ruri)
            ),
        ));
    }
    let hop_text = if r.nexthop.is_empty() || r.nexthop == b"." {
        r.ruri
    } else {
        r.nexthop
    };
    let Ok(hop) = Uri::parse(hop_text) else {
        return Err(err(
            400,
            format!("bad next hop `{}`", String::from_utf8_lossy(hop_text)),
        ));
    };
    let Some(proto) = proto_of(&hop) else {
        return Err(err(400, "Unsupported transport".to_string()));
    };
    let Some(addr) = crate::forward::resolve(hop.host_unbracketed(), hop.port().unwrap_or(5060))
    else {
        return Err(err(
            400,
            format!("cannot resolve `{}`", String::from_utf8_lossy(hop.host())),
        ));
    };
    let listeners = ctx.rt.listeners();
    let listener = if r.socket.is_empty() || r.socket == b"." {
        listeners
            .iter()
            .find(|l| l.proto == proto && l.addr.is_ipv4() == addr.is_ipv4())
            .cloned()
    } else {
        let want = String::from_utf8_lossy(r.socket).to_ascii_lowercase();
        listeners
            .iter()
            .find(|l| {
                let name = format!("{}:{}", l.proto.as_str().to_ascii_lowercase(), l.addr);
                name == want
            })
            .cloned()
    };
    let Some(listener) = listener else {
        return Err(err(400, "Invalid send socket".to_string()));
    };
    let (via_host, via_port) = crate::forward::advertised(ctx, &listener);
    let from = if has_tag(&from) {
        from
    } else {
        format!(
            "{from};tag={:016x}{:016x}-{:08x}",
            fastrand::u64(..),
            fastrand::u64(..),
            fastrand::u32(..)
        )
    };
    let call_id = g.call_id.clone().unwrap_or_else(|| {
        format!(
            "{:016x}-{}@{}",
            fastrand::u64(..),
            std::process::id(),
            via_host
        )
    });
    let cseq = g.cseq.unwrap_or(10);
    let ruri = String::from_utf8_lossy(r.ruri).into_owned();
    // Everything after the Via line.
    let mut tail = format!(
        "To: {to}\r\nFrom: {from}\r\nCSeq: {cseq} {method_s}\r\nCall-ID: {call_id}\r\nMax-Forwards: 70\r\nContent-Length: {}\r\n",
        r.body.len()
    );
    let ua = &ctx.rt.settings.user_agent_header;
    if !ua.is_empty() {
        tail.push_str(ua);
        tail.push_str("\r\n");
    }
    tail.push_str(&g.rest);
    tail.push_str("\r\n");
    let first = format!("{method_s} {ruri} SIP/2.0\r\n");
    let mut draft = first.clone().into_bytes();
    draft.extend_from_slice(tail.as_bytes());
    draft.extend_from_slice(r.body);
    let Ok(draft_msg) = Message::parse(Bytes::from(draft)) else {
        return Err(err(400, "Invalid request".to_string()));
    };
    let method = draft_msg.method();
    if method == Method::Ack || method == Method::Cancel {
        return Err(err(400, format!("{method_s} cannot start a transaction")));
    }
    let invite = method == Method::Invite;
    let cfg = st.table.cfg.read().clone();
    let timers = cfg.timers();
    let key = ServerTxKey::Rfc3261 {
        branch: Bytes::from(format!(
            "local.{:016x}{:016x}",
            fastrand::u64(..),
            fastrand::u64(..)
        )),
        sent_by: Bytes::from_static(b"local"),
        method: method.clone().into(),
        bucket: siprd_sip::txkey::bucket_of(call_id.as_bytes(), cseq),
    };
    let dest = Dest {
        proto,
        addr,
        listener: Some(listener.id),
        conn: None,
    };
    let flags = super::table::TxFlags {
        replicate: true,
        local: true,
        ..Default::default()
    };
    let inserted = st.table.insert(key, invite, || {
        TxInner::new(
            ServerTx::new(invite, true, timers),
            draft_msg.buf().clone(),
            RcvInfo::default(),
            dest,
            flags,
        )
    });
    let Ok(entry) = inserted else {
        return Err(err(500, "Transaction creation failed".to_string()));
    };
    let branch = super::relay::branch_param(&entry, &draft_msg, 0);
    let mut out = first.into_bytes();
    out.extend_from_slice(
        format!(
            "Via: SIP/2.0/{} {via_host}:{via_port};branch={branch}\r\n",
            proto.as_str().to_uppercase()
        )
        .as_bytes(),
    );
    out.extend_from_slice(tail.as_bytes());
    out.extend_from_slice(r.body);
    let request = Bytes::from(out);
    register_uac(
        st,
        &entry,
        invite,
        proto,
        request.clone(),
        dest,
        branch,
        &ruri,
        &cfg,
    );
    st.table
        .stats
        .local_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request = match raise_local_request(&ctx.rt, st, &entry, &request, dest, hop_text) {
        Local::Dropped => {
            // Kamailio 5.6: nothing is sent; the RPC answers this fault,
            // t_uac_send logs "UAC error" and still returns 1
            let mut inner = entry.inner.lock();
            inner.freed = true;
            drop(inner);
            st.table.remove(&entry);
            return Err(err(500, DROPPED.into()));
        }
        Local::Edited(req) => {
            let mut inner = entry.inner.lock();
            inner.req = req.clone();
            if let Some(u) = inner.uacs.first_mut() {
                u.request = req.clone();
            }
            req
        }
        Local::Unchanged => request,
    };
    if ctx.send(&dest, &request) {
        Ok(entry)
    } else {
        Err(err(500, "Send failed".into()))
    }
}

/// `t_uac_send`: 1 sent, -1 error (logged).
pub fn send(st: &Arc<TmState>, ctx: &mut Ctx, r: &UacReq<'_>) -> i32 {
    match start(st, ctx, r, false) {
        Ok(_) => 1,
        Err((_, text)) if text == DROPPED => {
            tracing::error!("t_uac_send: UAC error (dropped in event_route[tm:local-request])");
            1
        }
        Err((_, text)) => {
            tracing::error!("t_uac_send: {text}");
            -1
        }
    }
}

/// The final reply of a local request: (code, reason); a timeout is
/// `408 Request Timeout`. None while it has none.
fn final_reply(entry: &TxEntry) -> Option<(u16, String)> {
    let inner = entry.inner.lock();
    let u = inner.uacs.first()?;
    if u.code < 200 {
        return inner.freed.then(|| (408, "Request Timeout".to_string()));
    }
    let reason = u
        .reply
        .as_ref()
        .and_then(|r| Message::parse(r.clone()).ok())
        .map(|m| String::from_utf8_lossy(m.reason()).into_owned())
        .unwrap_or_else(|| "Request Timeout".into());
    Some((u.code, reason))
}

/// The ACK tm sends itself for the first 2xx to a local INVITE, as Kamailio
/// 5.6.3 writes it (observed with a UDP UAS):
///
/// ```text
/// ACK <Contact URI of the 2xx> SIP/2.0
/// Via: <the INVITE's Via, same branch>
/// From: <the INVITE's>
/// Call-ID: <the INVITE's>
/// To: <the 2xx's, with its tag>
/// CSeq: <n> ACK
/// Route: <the 2xx's Record-Route values reversed, in one line>
/// User-Agent: <user_agent_header>
/// Content-Length: 0
/// ```
///
/// It goes to the first Route when that is a loose router (`;lr`), else to
/// the Contact. A strict first router becomes the Request-URI and the
/// Contact the last Route. A 2xx without Contact is not ACKed (as Kamailio).
pub(super) fn ack_for_2xx(
    request: &Bytes,
    reply: &Message,
    user_agent: &str,
    listener: Option<crate::transport::ListenerId>,
) -> Option<(Dest, Vec<u8>)> {
    use siprd_sip::header::HeaderKind;
    let req = Message::parse(request.clone()).ok()?;
    let contact = reply.contact().ok()??.uri_bytes().to_vec();
    let mut routes: Vec<&[u8]> = reply
        .header_values(HeaderKind::RecordRoute)
        .flat_map(siprd_sip::scan::split_commas)
        .collect();
    routes.reverse();
    let route_uri = |r: &[u8]| {
        siprd_sip::nameaddr::NameAddr::parse(r)
            .ok()
            .map(|n| n.uri_bytes().to_vec())
    };
    let first = routes.first().and_then(|r| route_uri(r));
    let strict = first
        .as_ref()
        .is_some_and(|u| Uri::parse(u).is_ok_and(|u| u.param(b"lr").is_none()));
    let (ruri, target, route_line) = if strict {
        let first = first?;
        let mut rest: Vec<Vec<u8>> = routes[1..].iter().map(|r| r.to_vec()).collect();
        rest.push([b"<", &contact[..], b">"].concat());
        (first.clone(), first, rest.join(&b", "[..]))
    } else {
        let target = first.unwrap_or_else(|| contact.clone());
        (contact, target, routes.join(&b", "[..]))
    };
    let target = Uri::parse(&target).ok()?;
    let proto = proto_of(&target)?;
    let addr = crate::forward::resolve(target.host_unbracketed(), target.port().unwrap_or(5060))?;
    let line = |kind: HeaderKind| {
        req.header_ref(kind)
            .and_then(|h| req.buf().get(h.line))
            .map(<[u8]>::to_vec)
    };
    let cseq = req.cseq_num().ok()?;
    let mut out = Vec::with_capacity(request.len());
    out.extend_from_slice(b"ACK ");
    out.extend_from_slice(&ruri);
    out.extend_from_slice(b" SIP/2.0\r\n");
    out.extend_from_slice(&line(HeaderKind::Via)?);
    out.extend_from_slice(&line(HeaderKind::From)?);
    out.extend_from_slice(&line(HeaderKind::CallId)?);
    let to = reply.header_ref(HeaderKind::To)?;
    out.extend_from_slice(reply.buf().get(to.line)?);
    out.extend_from_slice(format!("CSeq: {cseq} ACK\r\n").as_bytes());
    if !route_line.is_empty() {
        out.extend_from_slice(b"Route: ");
        out.extend_from_slice(&route_line);
        out.extend_from_slice(b"\r\n");
    }
    if !user_agent.is_empty() {
        out.extend_from_slice(user_agent.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let dest = Dest {
        proto,
        addr,
        listener,
        conn: None,
    };
    Some((dest, out))
}

/// `tm.t_uac_start`, `tm.t_uac_wait`, `tm.t_uac_wait_block`: the parameters
/// of `t_uac_send`, `.` for an empty next hop or socket; the body may be left
/// out. `t_uac_start` answers nothing; the waiting ones `{code, text}` of the
/// final reply (500 "No response" after 80 s).
pub fn rpc(st: &Arc<TmState>, rpc: &mut crate::rpc::RpcRegistry) {
    use crate::rpc::RpcError;
    use serde_json::{json, Value as Json};
    for (name, wait) in [
        ("tm.t_uac_start", false),
        ("tm.t_uac_wait", true),
        ("tm.t_uac_wait_block", true),
    ] {
        let s = st.clone();
        let delayed = name == "tm.t_uac_wait";
        rpc.add(name, "Send a local SIP request", move |p: &[Json]| {
            // Kamailio 5.6: t_uac_wait needs a transport with delayed replies
            // (JSON-RPC over HTTP); elsewhere it fails before sending anything
            if delayed && crate::rpc::is_binrpc() {
                return Err(RpcError::new(
                    600,
                    "Reply wait/async mode not supported by this rpc transport",
                ));
            }
            if delayed && !crate::rpc::is_http() {
                return Err(RpcError::new(
                    500,
                    "internal error: failed to create context",
                ));
            }
            let text = |i: usize| -> Option<Vec<u8>> {
                match p.get(i)? {
                    Json::String(t) => Some(t.as_bytes().to_vec()),
                    Json::Number(n) => Some(n.to_string().into_bytes()),
                    _ => None,
                }
            };
            let (Some(method), Some(ruri), Some(nexthop), Some(socket), Some(headers)) =
                (text(0), text(1), text(2), text(3), text(4))
            else {
                return Err(RpcError::bad_params(format!(
                    "too few parameters ({}/5)",
                    p.len()
                )));
            };
            let body = text(5).unwrap_or_default();
            let Some(rt) = s.rt.get().and_then(std::sync::Weak::upgrade) else {
                return Err(RpcError::new(500, "Server not ready"));
            };
            let dot = |v: &[u8]| -> Vec<u8> {
                if v == b"." {
                    Vec::new()
                } else {
                    v.to_vec()
                }
            };
            let (nexthop, socket) = (dot(&nexthop), dot(&socket));
            let msg = rt.faked_message();
            let started = rt.with_pooled_ctx(msg, RcvInfo::default(), |ctx| {
                start(
                    &s,
                    ctx,
                    &UacReq {
                        method: &method,
                        ruri: &ruri,
                        nexthop: &nexthop,
                        socket: &socket,
                        headers: &headers,
                        body: &body,
                    },
                    true,
                )
            });
            let entry = started.map_err(|(c, t)| RpcError::new(c, t))?;
            if !wait {
                return Ok(Json::Null);
            }
            let end = Instant::now() + std::time::Duration::from_secs(80);
            while Instant::now() < end {
                if let Some((code, text)) = final_reply(&entry) {
                    return Ok(json!({ "code": code, "text": text }));
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(RpcError::new(500, "No response"))
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn register_uac(
    st: &Arc<TmState>,
    entry: &Arc<TxEntry>,
    invite: bool,
    proto: Proto,
    request: Bytes,
    dest: Dest,
    branch: String,
    ruri: &str,
    cfg: &super::TmConfig,
) {
    let now = Instant::now();
    let mut inner = entry.inner.lock();
    inner.req = request.clone();
    inner.uacs.push(Uac {
        tx: ClientTx::start(invite, proto != Proto::Udp, cfg.timers(), now),
        request,
        dest,
        branch,
        no: 0,
        code: 0,
        reply: None,
        provisional: false,
        cancel_sent: false,
        cancel: None,
        replied: false,
        last: 0,
        leg: 0,
        dropped: false,
        flags: 0,
        uri: Bytes::from(ruri.to_string()),
        instance: None,
    });
    let life = if invite {
        cfg.max_inv_lifetime
    } else {
        cfg.max_noninv_lifetime
    };
    inner.uas.arm_fr(now, life);
    inner.end_of_life = Some(now + life);
    st.table.schedule(entry, &mut inner);
}

/// The RPC fault of a local request dropped in `event_route[tm:local-request]`
/// (Kamailio 5.6's text).
const DROPPED: &str = "No error (0/RPC/UAC)";

/// What `event_route[tm:local-request]` did to the request.
enum Local {
    Unchanged,
    /// Its header and body edits, applied: what is sent (and retransmitted).
    Edited(Bytes),
    /// `drop`: nothing is sent.
    Dropped,
}

/// `event_route[tm:local-request]` on the request about to be sent. As
/// Kamailio: its receive information is the sending socket (`$si`/`$sp` our
/// address), `$du` the next hop, `$snd(...)` the destination and the bytes,
/// and `$T(...)` its transaction.
fn raise_local_request(
    rt: &Arc<crate::runtime::Runtime>,
    st: &Arc<TmState>,
    entry: &Arc<TxEntry>,
    req: &Bytes,
    dest: Dest,
    next_hop: &[u8],
) -> Local {
    let Some(Some(ev)) = st.local_request.get() else {
        return Local::Unchanged;
    };
    let Ok(msg) = Message::parse(req.clone()) else {
        return Local::Unchanged;
    };
    let local = rt
        .listeners()
        .iter()
        .find(|l| Some(l.id) == dest.listener)
        .or_else(|| {
            rt.listeners()
                .iter()
                .find(|l| l.proto == dest.proto && l.addr.is_ipv4() == dest.addr.is_ipv4())
        })
        .map(|l| l.addr);
    let rcv = RcvInfo {
        src: local.unwrap_or(dest.addr),
        local: local.unwrap_or(dest.addr),
        proto: dest.proto,
        listener: dest.listener,
        ..Default::default()
    };
    let snd = crate::onsend::SndInfo {
        to: dest.addr,
        from: rcv.local,
        proto: dest.proto,
        buf: crate::onsend::OutBuf::Shared(req.clone()),
    };
    let tx = super::TxRef {
        state: st.clone(),
        entry: entry.clone(),
    };
    let du = Bytes::copy_from_slice(next_hop);
    let mut edited = None;
    let out = rt.raise_with_arg_then(
        ev,
        route_type::EVENT,
        Some(&ev.name),
        move |c| {
            c.msg = msg;
            c.faked = false;
            c.rcv = rcv;
            c.dst_uri = Some(du);
            c.snd = Some(snd);
            c.tm.tx = Some(tx);
        },
        |c| {
            // a `$ru` set there is the request line sent (the destination
            // stays: `$du` there is ignored), as Kamailio 5.6
            if let Some(u) = c.new_uri.clone() {
                let msg = c.msg.clone();
                if c.edits.set_ruri(&msg, &u).is_err() {
                    tracing::error!("tm:local-request: cannot rewrite the Request-URI");
                }
            }
            if !c.edits.is_empty() {
                let mut buf = Vec::with_capacity(c.msg.buf().len() + 64);
                c.edits.apply_into(c.msg.buf(), &mut buf);
                edited = Some(Bytes::from(buf));
            }
        },
    );
    if out.dropped {
        Local::Dropped
    } else {
        edited.map_or(Local::Unchanged, Local::Edited)
    }
}

pub fn register(reg: &mut Registry<Ctx>, st: &Arc<TmState>) {
    let s = st.clone();
    reg.add_function(FuncDef {
        name: "t_uac_send",
        module: "tm",
        params: (0..6).map(|_| ParamKind::Format).collect(),
        routes: route_type::ANY,
        call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
            let v: Vec<Bytes> = a
                .iter()
                .map(|x| str_arg(ctx, x).unwrap_or_default())
                .collect();
            let [method, ruri, nexthop, socket, headers, body] = &v[..] else {
                return -1;
            };
            send(
                &s,
                ctx,
                &UacReq {
                    method,
                    ruri,
                    nexthop,
                    socket,
                    headers,
                    body,
                },
            )
        }),
    });
}
