//! `onsend_route` (KEMI: `ksr_onsend_route`): the last look at a message that
//! was built and is about to leave, as Kamailio runs it.
//!
//! It runs for requests sent by `forward()` and by `t_relay()` (once per
//! branch, serial branches included), and with `onsend_route_reply=yes` for
//! replies relayed statelessly or by tm. Never for local replies (sl, t_reply,
//! tm's 100), retransmissions, or the CANCEL and ACK that tm builds itself.
//! The route runs on the message being routed (the received request, or the
//! received reply); `$snd(...)`, `$sndto(...)`, `$sndfrom(...)` read the
//! outgoing bytes and addresses. `drop` in it stops that send; in KEMI the
//! callback cannot stop it (Kamailio 5.6 ignores `KSR.x.drop()` there).

use crate::context::{Ctx, RcvInfo};
use crate::runtime::{RouteRef, Runtime};
use crate::transport::{Dest, ListenerId, Proto};
use bytes::Bytes;
use siprd_script::route_type;
use siprd_sip::Message;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The outgoing bytes, lent to onsend_route: a worker's reused buffer (no
/// copy) or a shared buffer kept by tm.
pub enum OutBuf {
    Owned(Vec<u8>),
    Shared(Bytes),
}

impl OutBuf {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            OutBuf::Owned(v) => v,
            OutBuf::Shared(b) => b,
        }
    }

    /// The owned buffer back (empty for a shared one).
    pub fn into_vec(self) -> Vec<u8> {
        match self {
            OutBuf::Owned(v) => v,
            OutBuf::Shared(_) => Vec::new(),
        }
    }
}

/// What is being sent, while onsend_route runs.
pub struct SndInfo {
    /// The destination (`$sndto(ip)`, `$sndto(port)`).
    pub to: SocketAddr,
    /// The local socket it leaves from (`$sndfrom(ip)`, `$sndfrom(port)`).
    pub from: SocketAddr,
    pub proto: Proto,
    pub buf: OutBuf,
}

/// The onsend route for a request (`reply` false) or a relayed reply: None
/// when the config has none, or for replies without `onsend_route_reply`
/// (a native config; Kamailio 5.6 runs `ksr_onsend_route` for the replies
/// tm relays whatever that parameter says).
#[inline]
pub fn route_for(rt: &Runtime, reply: bool) -> Option<RouteRef> {
    if reply && !rt.settings.onsend_route_reply && rt.kemi.is_none() {
        return None;
    }
    rt.onsend
}

/// The listener a send to `dest` leaves from, as the transport picks it: the
/// one asked for, else the receiving one when it fits, else the first of that
/// protocol and address family.
fn source(rt: &Runtime, dest: &Dest, own: Option<ListenerId>) -> SocketAddr {
    let listeners = rt.listeners();
    let fits = |l: &&crate::transport::ListenerInfo| {
        l.proto == dest.proto && l.addr.is_ipv4() == dest.addr.is_ipv4()
    };
    dest.listener
        .and_then(|id| listeners.iter().find(|l| l.id == id))
        .or_else(|| {
            own.and_then(|id| listeners.iter().find(|l| l.id == id))
                .filter(fits)
        })
        .or_else(|| listeners.iter().find(fits))
        .map_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0), |l| {
            l.addr
        })
}

/// Run the onsend route on `ctx` for `buf` going to `dest`. True: send it.
/// The calling route's state (`$rc`, drop/exit) is kept: onsend_route runs
/// in the middle of `forward()` / `t_relay()`.
pub fn run(ctx: &mut Ctx, route: RouteRef, dest: &Dest, buf: &mut OutBuf) -> bool {
    let rt = ctx.rt.clone();
    let info = SndInfo {
        to: dest.addr,
        from: source(&rt, dest, ctx.rcv.listener),
        proto: dest.proto,
        buf: std::mem::replace(buf, OutBuf::Owned(Vec::new())),
    };
    let prev = ctx.snd.replace(info);
    let exec = ctx.exec.clone();
    let out = rt.run_nested(ctx, route, route_type::ONSEND, None);
    ctx.exec = exec;
    if let Some(info) = std::mem::replace(&mut ctx.snd, prev) {
        *buf = info.buf;
    }
    // Kamailio's KEMI engines report every onsend callback as "send".
    match route {
        RouteRef::Native(_) => !out.dropped,
        RouteRef::Kemi(_) | RouteRef::Empty => true,
    }
}

/// Like [`run`] for a reply sent where no context of it is at hand (tm's best
/// reply after all branches ended): the route runs on `msg` in a pooled context.
pub fn run_detached(
    rt: &Arc<Runtime>,
    route: RouteRef,
    msg: Message,
    rcv: RcvInfo,
    dest: &Dest,
    buf: &mut OutBuf,
) -> bool {
    rt.with_pooled_ctx(msg, rcv, |ctx| run(ctx, route, dest, buf))
}

/// The log line Kamailio writes when onsend_route drops a reply.
pub fn log_dropped_reply(dest: &Dest) {
    tracing::error!(
        "reply to {}:{}({}) dropped (onsend_route)",
        dest.addr.ip(),
        dest.addr.port(),
        match dest.proto {
            Proto::Udp => 1,
            Proto::Tcp => 2,
        }
    );
}
