//! Stateful proxying: `t_relay`, client transactions (one per branch), reply
//! matching, best-reply selection, failure and on-reply routes, CANCEL and
//! the hop-by-hop ACK of negative INVITE replies.
//!
//! Our Via branch is `z9hG4bK<index hex>.<label hex>.<branch no>`: a reply's
//! top Via leads straight to its transaction and branch.

use super::table::{CancelTx, Saved, SavedAvps, TxEntry, TxInner, Uac};
use super::{newtran, reply_detached, reply_in_tx, run_on_tx, TmState, TxRef};
use crate::context::Ctx;
use crate::forward::Transport;
use crate::runtime::{HookAction, Runtime};
use crate::transport::{Dest, Proto};
use bytes::Bytes;
use siprd_script::route_type;
use siprd_sip::header::HeaderKind;
use siprd_sip::transaction::{ClientTx, State};
use siprd_sip::uri::Uri;
use siprd_sip::{Message, Method};
use std::sync::Arc;
use std::time::Instant;

const COOKIE: &str = "z9hG4bK";

pub(super) fn branch_param(e: &TxEntry, req: &Message, n: usize) -> String {
    // Kamailio's shape: cookie, hash index, a 32-hex-digit tag, branch number.
    let h = siprd_sip::reply::to_tag(req);
    format!(
        "{COOKIE}{:x}.{:08x}{}{:08x}.{n}",
        e.index,
        e.label,
        String::from_utf8_lossy(&h),
        e.index
    )
}

/// Parse our branch parameter: (index, label, branch number).
fn parse_branch(b: &[u8]) -> Option<(u32, u32, usize)> {
    let rest = b.strip_prefix(COOKIE.as_bytes())?;
    let s = std::str::from_utf8(rest).ok()?;
    let mut it = s.split('.');
    let index = u32::from_str_radix(it.next()?, 16).ok()?;
    let mid = it.next()?;
    if mid.len() != 32 {
        return None;
    }
    let label = u32::from_str_radix(mid.get(..8)?, 16).ok()?;
    let n = it.next()?.parse::<usize>().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((index, label, n))
}

/// One destination of `t_relay`.
#[derive(Clone)]
struct Target {
    ruri: Option<Bytes>,
    host: Vec<u8>,
    port: u16,
    proto: Transport,
    /// Its branch flags (the R-URI's, or the appended branch's).
    flags: u32,
    /// Its `+sip.instance` (`t_next_contacts`).
    instance: Option<Bytes>,
    /// Its Path vector: a Route header after our Via.
    path: Option<Bytes>,
    /// The socket to send from (`$fs`, the branch's send socket).
    socket: Option<Bytes>,
    /// An appended branch's own `$du` (what its branch_route sees).
    du: Option<Option<Bytes>>,
    /// `t_relay(host, port)`: the destination does not follow `$du`/`$ru`.
    explicit: bool,
}

fn target_of(uri_text: &[u8], proto_override: Option<Transport>) -> Option<Target> {
    let Ok(uri) = Uri::parse(uri_text) else {
        tracing::error!(
            "t_relay: bad destination URI `{}`",
            String::from_utf8_lossy(uri_text)
        );
        return None;
    };
    let proto = proto_override.unwrap_or_else(|| Transport::of_uri(&uri));
    Some(Target {
        ruri: None,
        host: uri.host().to_vec(),
        port: uri.port().unwrap_or(5060),
        proto,
        flags: 0,
        instance: None,
        path: None,
        socket: None,
        du: None,
        explicit: false,
    })
}

/// The transaction `t_relay` and `t_replicate` send in: the current one, or
/// one created now. `Err`: what they return instead (1 for a retransmission,
/// absorbed with its last reply resent: Kamailio's t_relay returns 1 and the
/// script goes on).
pub(super) fn relay_tx(st: &Arc<TmState>, ctx: &mut Ctx) -> Result<TxRef, i32> {
    if ctx.tm.tx.is_none() {
        match newtran(st, ctx) {
            1 => {}
            0 => return Err(1),
            r => return Err(r),
        }
    }
    ctx.tm.tx.clone().ok_or(-1)
}

/// The R-URI and `$du` a relay already used (Kamailio's "consumed" R-URI).
#[derive(Clone)]
pub struct Consumed {
    ruri: Bytes,
    du: Option<Bytes>,
    marks: u32,
}

impl Consumed {
    pub fn of(ctx: &Ctx) -> Consumed {
        Consumed {
            ruri: Bytes::copy_from_slice(ctx.ruri()),
            du: ctx.dst_uri.clone(),
            marks: ctx.uri_marks,
        }
    }

    /// Neither `$ru` nor `$du` was assigned since (nor changed otherwise).
    pub fn is_current(&self, ctx: &Ctx) -> bool {
        self.marks == ctx.uri_marks && self.ruri.as_ref() == ctx.ruri() && self.du == ctx.dst_uri
    }
}

/// `t_relay()`, `t_relay(host, port)`, `t_relay_to_udp/tcp(...)`.
pub fn t_relay(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    host: Option<&[u8]>,
    port: Option<u16>,
    proto: Option<Transport>,
) -> i32 {
    relay_with(st, ctx, host, port, proto, false)
}

/// `t_forward_nonack([host, port])`, `t_forward_nonack_udp/tcp(host, port)`,
/// `t_forward_nonack_uri()`: `t_relay` in the transaction the script created
/// (`t_newtran`), without the automatic `100` (Kamailio 5.6: -1 and nothing
/// sent when there is no transaction).
pub fn forward_nonack(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    host: Option<&[u8]>,
    port: Option<u16>,
    proto: Option<Transport>,
) -> i32 {
    if ctx.tm.tx.is_none() {
        tracing::error!("t_forward_nonack: no transaction (t_newtran first)");
        return -1;
    }
    relay_with(st, ctx, host, port, proto, true)
}

fn relay_with(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    host: Option<&[u8]>,
    port: Option<u16>,
    proto: Option<Transport>,
    nonack: bool,
) -> i32 {
    // Kamailio relays from request and failure routes only; elsewhere (a
    // sub-route called from a branch or reply route) it logs and ends the
    // script (0). Relaying from branch_route would run it again, endlessly.
    if ctx.exec.route_type
        & (route_type::REQUEST | route_type::FAILURE | route_type::BRANCH_FAILURE)
        == 0
    {
        tracing::error!("t_relay: unsupported route type");
        return 0;
    }
    if ctx.faked || !ctx.msg.is_request() {
        tracing::error!("t_relay: not a received request");
        return -1;
    }
    match ctx.msg.method() {
        Method::Ack => return relay_ack(st, ctx, host, port),
        Method::Cancel => {
            if let Some(r) = relay_cancel(st, ctx) {
                return r;
            }
        }
        _ => {}
    }
    let tx = match relay_tx(st, ctx) {
        Ok(tx) => tx,
        Err(r) => return r,
    };
    if tx.entry.inner.lock().canceled {
        // Kamailio: no new branch once a CANCEL came (a failure route's
        // serial forking after the caller gave up, a resumed route).
        tracing::error!("t_relay: no forwarding on a canceled transaction");
        return -1;
    }
    if ctx.exec.route_type & route_type::REQUEST != 0 {
        let inner = tx.entry.inner.lock();
        if inner.flags.replicate && !inner.uacs.is_empty() {
            // Kamailio: the replicated transaction takes no other relay
            tracing::error!("t_relay: the transaction was already replicated");
            return -1;
        }
    }
    let cfg = st.table.cfg.read().clone();
    if tx.entry.invite && ctx.exec.route_type & route_type::REQUEST != 0 && !nonack {
        let (replied, auto_100) = {
            let inner = tx.entry.inner.lock();
            let auto = inner.flags.auto_inv_100.unwrap_or(cfg.auto_inv_100);
            (inner.uas.last_code(), auto)
        };
        if replied == 0 && auto_100 {
            reply_in_tx(ctx, &tx, 100, cfg.auto_inv_100_reason.as_bytes(), false);
        }
    }
    // Destinations: the explicit one, else $du / $ru; then append_branch() ones.
    let mut targets = Vec::new();
    // After a relay (a failure route: after the request route's) the R-URI
    // went out already: only an assignment to $ru or $du makes a new branch
    // of it (Kamailio's consumed R-URI).
    let consumed = ctx
        .tm
        .ruri_consumed
        .as_ref()
        .is_some_and(|c| c.is_current(ctx));
    // t_relay(host, port): every branch goes there (Kamailio), keeping the
    // protocol the request came on.
    let explicit = host.map(|h| Target {
        ruri: None,
        host: h.to_vec(),
        port: port.unwrap_or(5060),
        proto: proto.unwrap_or(Transport::Sock(ctx.rcv.proto)),
        flags: 0,
        instance: None,
        path: None,
        socket: None,
        du: None,
        explicit: true,
    });
    let first = match &explicit {
        _ if consumed => None,
        Some(t) => Some(t.clone()),
        None => {
            let t = ctx
                .dst_uri
                .clone()
                .unwrap_or_else(|| Bytes::copy_from_slice(ctx.ruri()));
            target_of(&t, proto)
        }
    };
    match first {
        Some(mut first) => {
            first.flags = ctx.ruri_bflags;
            first.instance = ctx.tm.ruri_instance.clone();
            first.socket = ctx.forced_socket.clone();
            first.path = ctx.tm.ruri_path.clone();
            targets.push(first);
        }
        None if consumed => {}
        None => return -1,
    }
    for b in ctx.branches.clone() {
        let dst = b.dst_uri.clone().unwrap_or_else(|| b.uri.clone());
        let t = match &explicit {
            Some(t) => Some(t.clone()),
            None => target_of(&dst, proto),
        };
        if let Some(mut t) = t {
            t.ruri = Some(b.uri.clone());
            t.flags = b.flags;
            t.instance = b.instance.clone();
            t.path = b.path.clone();
            t.socket = b.socket.clone();
            t.du = Some(b.dst_uri.clone());
            targets.push(t);
        }
    }
    ctx.branches.clear();
    if targets.is_empty() {
        tracing::error!("t_relay: no branches for forwarding");
        tx.entry.inner.lock().relay_no_branch = true;
        return -1;
    }
    // this R-URI is used now
    ctx.tm.ruri_consumed = Some(Consumed::of(ctx));
    ctx.flush();
    // As Kamailio: every branch is built (its branch_route run) before any is
    // sent, and onsend_route sees the request as the route left it.
    let mut built = Vec::with_capacity(targets.len());
    // Why branches could not be built: Kamailio's error codes, the lowest wins
    // (-478 no destination resolves, -7 no socket for the protocol).
    let mut failure = 0;
    for t in targets {
        if let Some(b) = add_branch(st, ctx, &tx, &t, &cfg, &mut failure) {
            built.push(b);
        }
    }
    if built.is_empty() && failure < 0 {
        // Kamailio: no branch could be added; t_relay's transaction in a
        // request route answers at once (478 Unresolvable destination, or
        // `500 ... (7/TM)`), t_forward_nonack's and t_replicate's do not.
        tracing::error!("t_relay: failure to add branches ({failure})");
        let quiet = {
            let flags = &tx.entry.inner.lock().flags;
            flags.disable_internal_reply || flags.replicate
        };
        if ctx.exec.route_type & route_type::FAILURE == 0 && !nonack && !quiet {
            if failure == -478 {
                reply_in_tx(ctx, &tx, 478, super::REASON_478, false);
            } else {
                let reason = format!(
                    "I'm terribly sorry, server error occurred ({}/TM)",
                    -failure
                );
                reply_in_tx(ctx, &tx, 500, reason.as_bytes(), false);
            }
        }
        return failure;
    }
    let (mut sent, mut unsent) = (0, 0);
    for b in built {
        match deliver(ctx, &tx, b) {
            Delivery::Sent => sent += 1,
            Delivery::Dropped | Delivery::Failed => unsent += 1,
        }
    }
    if sent == 0 {
        if unsent > 0 {
            // Kamailio: a send error; the request route's transaction answers
            // 477 at once, a failure route's when the route ends.
            if ctx.exec.route_type & route_type::FAILURE != 0 {
                tx.entry.inner.lock().send_failed = true;
                tracing::error!("t_relay: t_forward_noack failed");
            } else if !tx.entry.inner.lock().flags.disable_internal_reply {
                reply_in_tx(ctx, &tx, 477, super::REASON_477, false);
            }
        } else {
            tracing::error!("t_relay: no branch could be sent");
        }
        return -1;
    }
    1
}

/// A branch built and registered, not sent yet.
struct Built {
    n: usize,
    dest: Dest,
    request: Bytes,
}

enum Delivery {
    Sent,
    /// onsend_route dropped it.
    Dropped,
    /// The transport refused it.
    Failed,
}

/// Send a built branch, after onsend_route when the config has one. A dropped
/// branch keeps its number but is never pending (no retransmission, no timeout).
fn deliver(ctx: &mut Ctx, tx: &TxRef, b: Built) -> Delivery {
    if let Some(route) = crate::onsend::route_for(&ctx.rt, false) {
        let mut buf = crate::onsend::OutBuf::Shared(b.request.clone());
        if !crate::onsend::run(ctx, route, &b.dest, &mut buf) {
            tracing::debug!("t_relay: branch {} dropped by onsend_route", b.n);
            let mut inner = tx.entry.inner.lock();
            if let Some(u) = inner.uacs.get_mut(b.n) {
                u.tx.terminate(&mut Vec::new());
            }
            return Delivery::Dropped;
        }
    }
    if ctx.send(&b.dest, &b.request) {
        Delivery::Sent
    } else {
        // nothing went out (a refused TCP connect): the branch is over
        let mut inner = tx.entry.inner.lock();
        if let Some(u) = inner.uacs.get_mut(b.n) {
            u.tx.terminate(&mut Vec::new());
        }
        Delivery::Failed
    }
}

/// Build and register one branch, running `branch_route` first when one is
/// armed: its changes (R-URI, headers, flags) apply to that branch only, and
/// `drop` in it discards the branch.
fn add_branch(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    tx: &TxRef,
    t: &Target,
    cfg: &super::TmConfig,
    failure: &mut i32,
) -> Option<Built> {
    let on_branch = ctx.tm.on_branch.or_else(|| tx.entry.inner.lock().on_branch);
    let Some(route) = on_branch else {
        let built = build_branch(st, ctx, tx, t, cfg, failure);
        if built.is_some() {
            tx.entry.inner.lock().lumps.save_first(&ctx.edits);
        }
        return built;
    };
    let keep = (
        ctx.new_uri.clone(),
        ctx.dst_uri.clone(),
        ctx.edits.clone(),
        ctx.flags,
        ctx.exec.clone(),
    );
    let keep_bflags = ctx.ruri_bflags;
    ctx.ruri_bflags = t.flags;
    if let Some(r) = &t.ruri {
        ctx.new_uri = Some(r.clone());
    }
    if let Some(du) = &t.du {
        ctx.dst_uri = du.clone();
    }
    let rt = ctx.rt.clone();
    let keep_idx = ctx.tm.branch_idx;
    ctx.tm.branch_idx = tx.entry.inner.lock().next_branch_no() as i32;
    let before = (ctx.new_uri.clone(), ctx.dst_uri.clone(), ctx.uri_marks);
    let out = rt.run_nested(ctx, route, route_type::BRANCH, None);
    ctx.tm.branch_idx = keep_idx;
    let built = if out.dropped {
        tracing::debug!("branch dropped by branch_route");
        None
    } else {
        // $du or $ru set in branch_route: the branch goes there (Kamailio)
        let moved = !t.explicit
            && (before.2 != ctx.uri_marks || before.0 != ctx.new_uri || before.1 != ctx.dst_uri);
        let (host, port) = match moved {
            true => {
                let d = ctx
                    .dst_uri
                    .clone()
                    .unwrap_or_else(|| Bytes::copy_from_slice(ctx.ruri()));
                target_of(&d, None).map_or((t.host.clone(), t.port), |n| (n.host, n.port))
            }
            false => (t.host.clone(), t.port),
        };
        let t2 = Target {
            ruri: ctx.new_uri.clone(),
            host,
            port,
            proto: t.proto,
            // setbflag() & co. in branch_route apply to this branch
            flags: ctx.ruri_bflags,
            instance: t.instance.clone(),
            path: t.path.clone(),
            socket: t.socket.clone(),
            du: t.du.clone(),
            explicit: t.explicit,
        };
        build_branch(st, ctx, tx, &t2, cfg, failure)
    };
    ctx.ruri_bflags = keep_bflags;
    (ctx.new_uri, ctx.dst_uri, ctx.edits, ctx.flags, ctx.exec) = keep;
    if built.is_some() {
        // a failure route sees the request's R-URI and $du as relayed, not
        // those of the last branch built (Kamailio 5.6, with branch routes)
        let mut inner = tx.entry.inner.lock();
        // what later routes see is the request route's changes, not those a
        // branch_route made to its branch
        inner.lumps.save_first(&ctx.edits);
        let from_failure = ctx.exec.route_type & route_type::FAILURE != 0 && inner.failure_runs > 0;
        if let Some(s) = inner.saved.as_mut().filter(|_| !from_failure) {
            s.new_uri = ctx.new_uri.clone();
            s.dst_uri = ctx.dst_uri.clone();
        }
    }
    built
}

fn build_branch(
    st: &Arc<TmState>,
    ctx: &mut Ctx,
    tx: &TxRef,
    t: &Target,
    cfg: &super::TmConfig,
    failure: &mut i32,
) -> Option<Built> {
    let Some(addr) = crate::forward::resolve(&t.host, t.port) else {
        *failure = (*failure).min(-478);
        return None;
    };
    // a transport siprd has no sockets for fails as Kamailio's without a
    // listener of it: never sent over another one
    let listener = match t.proto {
        Transport::Sock(proto) => {
            crate::forward::send_listener(ctx, t.socket.as_deref(), proto, &addr)
        }
        Transport::Unavailable(_) => None,
    };
    let (Some(listener), Transport::Sock(proto)) = (listener, t.proto) else {
        tracing::error!("t_relay: no {} listener to send from", t.proto);
        *failure = (*failure).min(-7);
        return None;
    };
    let (via_host, via_port) = crate::forward::advertised(ctx, &listener);
    let n = tx.entry.inner.lock().next_branch_no();
    let branch = branch_param(&tx.entry, &ctx.msg, n as usize);
    let mut via = format!(
        "Via: SIP/2.0/{} {via_host}:{via_port};branch={branch}",
        proto.as_str().to_uppercase()
    );
    crate::forward::finish_via(ctx, &mut via);
    if let Some(path) = &t.path {
        // Kamailio puts the branch's Path right after its Via.
        via.push_str("Route: ");
        via.push_str(&String::from_utf8_lossy(path));
        via.push_str("\r\n");
    }
    let mut edits = ctx.edits.clone();
    let ruri = t.ruri.clone().or_else(|| ctx.new_uri.clone());
    if let Some(uri) = &ruri {
        if edits.set_ruri(&ctx.msg, uri).is_err() {
            tracing::error!("t_relay: cannot rewrite the Request-URI");
            return None;
        }
    }
    crate::forward::mark_received(ctx, &mut edits);
    crate::forward::resolve_sockets(ctx, &listener, &mut edits);
    edits.add_top_via(&ctx.msg, via.as_bytes());
    if proto == Proto::Tcp {
        // Kamailio adds the Content-Length a stream needs.
        edits.ensure_content_length(&ctx.msg);
    }
    let mut out = Vec::with_capacity(ctx.msg.buf().len() + 128);
    edits.apply_into(ctx.msg.buf(), &mut out);
    let dest = Dest {
        proto,
        addr,
        listener: Some(listener.id),
        conn: None,
    };
    let now = Instant::now();
    let mut timers = cfg.timers();
    super::knobs::apply_retr(ctx, &mut timers);
    let request = Bytes::from(out);
    let index = {
        let mut inner = tx.entry.inner.lock();
        timers.fr = inner.flags.fr(cfg);
        timers.fr_inv = inner.flags.fr_inv(cfg);
        if inner.failure_runs > inner.leg {
            // The first branch of a new serial forking leg: the cancelling
            // a 6xx or t_cancel_branches started ends with the old leg (a
            // received CANCEL refuses new legs).
            inner.cancelling = false;
            if !inner.cancel_reason_e2e {
                inner.cancel_reason = None;
            }
            let mode = inner.drop_mode.take().unwrap_or(cfg.failure_reply_mode);
            drop_replies(&mut inner, mode);
            inner.leg = inner.failure_runs;
        }
        let leg = inner.leg;
        inner.uacs.push(Uac {
            tx: ClientTx::start(tx.entry.invite, proto != Proto::Udp, timers, now),
            request: request.clone(),
            dest,
            branch,
            no: n,
            code: 0,
            reply: None,
            provisional: false,
            cancel_sent: false,
            cancel: None,
            replied: false,
            last: 0,
            leg,
            dropped: false,
            flags: t.flags,
            uri: ruri
                .clone()
                .unwrap_or_else(|| Bytes::copy_from_slice(ctx.msg.ruri_bytes())),
            instance: t.instance.clone(),
        });
        inner.adopt_armed_routes(&ctx.tm);
        // The whole transaction ends at its lifetime at the latest.
        let life = if tx.entry.invite {
            ctx.tm.lifetime_override.0.unwrap_or(cfg.max_inv_lifetime)
        } else {
            ctx.tm
                .lifetime_override
                .1
                .unwrap_or(cfg.max_noninv_lifetime)
        };
        inner.uas.arm_fr(now, life);
        inner.end_of_life.get_or_insert(now + life);
        // A later failure route starts again from the request's R-URI and
        // destination as the request route relayed it: a leg relayed from a
        // failure_route keeps them (Kamailio: $ru in the next failure route
        // is the first relay's, observed with t_next_contacts), while flags
        // and AVPs carry over.
        let keep = (ctx.exec.route_type & route_type::FAILURE != 0 && inner.failure_runs > 0)
            .then(|| {
                inner
                    .saved
                    .as_ref()
                    .map(|s| (s.new_uri.clone(), s.dst_uri.clone()))
            })
            .flatten();
        let (new_uri, dst_uri) = keep.unwrap_or_else(|| (ctx.new_uri.clone(), ctx.dst_uri.clone()));
        inner.saved = Some(Box::new(Saved {
            flags: ctx.flags,
            xflags: ctx.xflags,
            new_uri,
            dst_uri,
            avps: SavedAvps::of(&ctx.avps),
            force_rport: ctx.force_rport,
        }));
        st.table.schedule(&tx.entry, &mut inner);
        inner.uacs.len() - 1
    };
    Some(Built {
        n: index,
        dest,
        request,
    })
}

/// ACK: the one for our (relayed or local) negative reply is absorbed; an
/// end-to-end ACK (for a 2xx) is forwarded statelessly.
fn relay_ack(st: &Arc<TmState>, ctx: &mut Ctx, host: Option<&[u8]>, port: Option<u16>) -> i32 {
    if let super::Found::Absorbed = super::match_request(st, ctx) {
        return 0;
    }
    if crate::forward::forward_request(ctx, host, port) {
        1
    } else {
        -1
    }
}

/// CANCEL: `200 canceling`, CANCEL to every branch that answered provisionally
/// (the others are cancelled when they do). As Kamailio 5.6: when nothing is
/// left to cancel the reply is `200 ok -- no more pending branches`, and an
/// INVITE whose branches were all cancelled already (`t_cancel_branches`)
/// gets a local `487 Request canceled` first. None when no INVITE matches:
/// the CANCEL is relayed like any other request.
pub(super) fn relay_cancel(st: &Arc<TmState>, ctx: &mut Ctx) -> Option<i32> {
    let target = st.table.lookup_cancel_target(&ctx.msg)?;
    let target_lock = target.clone();
    if ctx.tm.tx.is_none() {
        match newtran(st, ctx) {
            1 => {}
            // A retransmitted CANCEL: its own transaction resent its reply;
            // t_relay() is 1, as for any retransmission (Kamailio 5.6).
            0 => return Some(1),
            r => return Some(r),
        }
    }
    let tx = ctx.tm.tx.clone()?;
    let mut cancels = Vec::new();
    let e2e_reason = st.table.cfg.read().e2e_cancel_reason;
    // Seen at once by a route running on the INVITE (t_is_canceled)...
    target.inner.lock().canceled = true;
    // ...but, as Kamailio, the CANCEL waits for a resumed route (t_continue,
    // an async task) running on it to end: a final reply it sends wins over
    // the 487.
    let _resumed = target_lock.reply_lock.lock();
    // Kamailio cancels any transaction a CANCEL matches, but cannot send a
    // CANCEL on a non-INVITE branch: one that answered provisionally makes
    // the CANCEL's reply `500 cancel error` (the others are only marked).
    let mut cancel_error = false;
    let (invite_final, left) = {
        let mut inner = target.inner.lock();
        inner.cancelling = true;
        let copy_reason = inner
            .flags
            .no_e2e_cancel_reason
            .map_or(e2e_reason, |no| !no);
        if copy_reason && inner.cancel_reason.is_none() {
            inner.cancel_reason = reason_lines(&ctx.msg).map(Box::new);
            inner.cancel_reason_e2e = inner.cancel_reason.is_some();
        }
        let now = Instant::now();
        let mut left = false;
        let reason = inner.cancel_reason.as_deref().cloned();
        for u in inner.uacs.iter_mut() {
            if u.code < 200 && !u.cancel_sent && u.tx.state() != State::Terminated {
                left = true;
                if u.provisional && target.invite {
                    cancels.extend(start_cancel(st, u, now, reason.as_ref()));
                } else if u.provisional {
                    u.cancel_sent = true;
                    cancel_error = true;
                }
            }
        }
        st.table.schedule(&target, &mut inner);
        (inner.uas.is_final(), left)
    };
    // Nothing left to cancel, also for an INVITE without branches (suspended,
    // or not relayed yet): Kamailio 5.6 answers it `487` itself (its blind
    // branch is not pending), which ends a suspension. A branch that has not
    // answered yet is still pending after a 2xx went upstream ("canceling").
    let done = !left;
    if done && !invite_final {
        ctx.flush();
        let rt = ctx.rt.clone();
        let invite = TxRef {
            state: st.clone(),
            entry: target,
        };
        reply_detached(&rt, &invite, 487, b"Request canceled");
    }
    let (code, reason): (i32, &[u8]) = if cancel_error {
        (500, b"cancel error")
    } else if done {
        (200, b"ok -- no more pending branches")
    } else {
        (200, b"canceling")
    };
    reply_in_tx(ctx, &tx, code, reason, false);
    for (d, c) in cancels {
        ctx.send(&d, &c);
    }
    Some(1)
}

/// Start the CANCEL of branch `u`: a non-INVITE client transaction of its
/// own, retransmitted over UDP (T1 doubling to T2) until answered, as
/// Kamailio's. Returns what to send now; the caller reschedules the
/// transaction.
fn start_cancel(
    st: &TmState,
    u: &mut Uac,
    now: Instant,
    reason: Option<&Bytes>,
) -> Option<(Dest, Bytes)> {
    u.cancel_sent = true;
    let request = Bytes::from(build_cancel(
        &u.request,
        reason.map_or(&[][..], |r| &r[..]),
    )?);
    let timers = st.table.cfg.read().timers();
    u.cancel = Some(Box::new(CancelTx {
        tx: ClientTx::start(false, u.dest.proto != Proto::Udp, timers, now),
        request: request.clone(),
    }));
    Some((u.dest, request))
}

/// The `Reason` header lines of a received CANCEL, as written.
fn reason_lines(msg: &Message) -> Option<Bytes> {
    let mut out = Vec::new();
    for h in msg.headers() {
        if h.name.eq_ignore_ascii_case(b"Reason") {
            out.extend_from_slice(msg.buf().get(h.line.clone()).unwrap_or_default());
        }
    }
    (!out.is_empty()).then(|| Bytes::from(out))
}

/// tm's own `Reason` for the CANCELs a final `code` on another branch causes
/// (`local_cancel_reason`), as Kamailio words it.
pub(crate) fn set_local_cancel_reason(tx: &TxRef, code: u16) {
    if !tx.state.table.cfg.read().local_cancel_reason {
        return;
    }
    let mut inner = tx.entry.inner.lock();
    if inner.cancel_reason.is_none() {
        let line = if (200..300).contains(&code) {
            format!("Reason: SIP;cause={code};text=\"Call completed elsewhere\"\r\n")
        } else {
            format!("Reason: SIP;cause={code}\r\n")
        };
        inner.cancel_reason = Some(Box::new(Bytes::from(line)));
    }
}

/// The `Reason` of a CANCEL that waited for its branch's first provisional
/// reply. Kamailio 5.6 words it anew: the received CANCEL's own lines, else
/// after a 2xx went upstream `SIP;cause=<code>` without the text, else none
/// (not after a 6xx, nor for `t_cancel_branches`/`t_cancel_callid`).
fn deferred_cancel_reason(inner: &TxInner, local_reason: bool) -> Option<Bytes> {
    if inner.cancel_reason_e2e {
        return inner.cancel_reason.as_deref().cloned();
    }
    let code = inner.uas.last_code();
    (local_reason && (200..300).contains(&code))
        .then(|| Bytes::from(format!("Reason: SIP;cause={code}\r\n")))
}

/// A CANCEL for a branch request (RFC 3261 §9.1); `extra` header lines (the
/// `Reason`) go at the end, after the copied headers, as Kamailio puts them.
fn build_cancel(request: &Bytes, extra: &[u8]) -> Option<Vec<u8>> {
    build_local_req(request, b"CANCEL", None, extra)
}

/// The hop-by-hop ACK for a negative final reply to a branch INVITE
/// (§17.1.1.3): the To (and its tag) of the reply.
fn build_ack(request: &Bytes, reply: &Message) -> Option<Vec<u8>> {
    build_local_req(request, b"ACK", Some(reply), b"")
}

/// A CANCEL or ACK built from the branch INVITE as it was sent (Kamailio's
/// way): its Request-URI, then its header lines in their order, keeping only
/// the top Via, Max-Forwards, From, To (the reply's for an ACK), Call-ID,
/// CSeq (method replaced) and Route, with `Content-Length: 0` where the
/// INVITE had its Content-Length; `extra` after them.
fn build_local_req(
    request: &Bytes,
    method: &[u8],
    reply: Option<&Message>,
    extra: &[u8],
) -> Option<Vec<u8>> {
    let req = Message::parse(request.clone()).ok()?;
    let cseq = req.cseq_num().ok()?;
    let mut out = Vec::with_capacity(request.len().min(1024) + extra.len());
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(req.ruri_bytes());
    out.extend_from_slice(b" SIP/2.0\r\n");
    let mut via_seen = false;
    for h in req.headers() {
        let line = req.buf().get(h.line.clone()).unwrap_or_default();
        match h.kind {
            HeaderKind::Via if !via_seen => {
                via_seen = true;
                // A combined Via line keeps only its first value.
                match first_via_value(line) {
                    Some(first) => {
                        out.extend_from_slice(first);
                        out.extend_from_slice(b"\r\n");
                    }
                    None => out.extend_from_slice(line),
                }
            }
            HeaderKind::To => match reply.and_then(|r| r.header_ref(HeaderKind::To)) {
                Some(t) => out.extend_from_slice(reply?.buf().get(t.line)?),
                None => out.extend_from_slice(line),
            },
            HeaderKind::MaxForwards | HeaderKind::From | HeaderKind::CallId | HeaderKind::Route => {
                out.extend_from_slice(line)
            }
            HeaderKind::CSeq => {
                out.extend_from_slice(b"CSeq: ");
                out.extend_from_slice(cseq.to_string().as_bytes());
                out.push(b' ');
                out.extend_from_slice(method);
                out.extend_from_slice(b"\r\n");
            }
            HeaderKind::ContentLength => out.extend_from_slice(b"Content-Length: 0\r\n"),
            _ => {}
        }
    }
    out.extend_from_slice(extra);
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// The first value of a Via header line holding several (`Via: a, b`), without
/// its line end; None when the line holds one value.
fn first_via_value(line: &[u8]) -> Option<&[u8]> {
    let mut quoted = false;
    for (i, &c) in line.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b',' if !quoted => return line.get(..i).map(|v| v.trim_ascii_end()),
            _ => {}
        }
    }
    None
}

/// tm's reply hook: replies to our branches are consumed here.
/// The transaction and branch number (as on the wire) a reply's top Via names.
pub(super) fn reply_branch(st: &TmState, msg: &Message) -> Option<(Arc<TxEntry>, usize)> {
    let via = msg.via1().ok()?;
    let (index, label, n) = via.branch().and_then(parse_branch)?;
    let entry = st.table.find_id(index, label)?;
    let known = entry.inner.lock().uacs.iter().any(|u| u.no as usize == n);
    known.then_some((entry, n))
}

pub fn on_reply(st: &Arc<TmState>, ctx: &mut Ctx) -> HookAction {
    let Ok(via) = ctx.msg.via1() else {
        return HookAction::Continue;
    };
    let Some((index, label, n)) = via.branch().and_then(parse_branch) else {
        return HookAction::Continue;
    };
    let Some(entry) = st.table.find_id(index, label) else {
        return HookAction::Continue;
    };
    // The wire's branch number → our branch index (they differ after blind
    // branches).
    let wire_no = n;
    let n = {
        let inner = entry.inner.lock();
        match inner.uacs.get(n) {
            Some(u) if u.no as usize == n => n,
            _ => match inner.uacs.iter().position(|u| u.no as usize == n) {
                Some(i) => i,
                None => return HookAction::Stop,
            },
        }
    };
    let Some(code) = ctx.msg.status() else {
        return HookAction::Stop;
    };
    st.table
        .stats
        .received_replies
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if entry.invite && ctx.msg.cseq().is_ok_and(|(_, m)| m == Method::Cancel) {
        // The answer to our CANCEL: it stops the CANCEL's retransmissions.
        let mut inner = entry.inner.lock();
        if let Some(c) = inner.uacs.get_mut(n).and_then(|u| u.cancel.as_mut()) {
            c.tx.on_reply(code, Instant::now());
        }
        return HookAction::Stop;
    }
    let tx = TxRef {
        state: st.clone(),
        entry,
    };
    let rt = ctx.rt.clone();
    let _g = tx.entry.reply_lock.lock();
    let now = Instant::now();
    let mut late = false;
    let mut seen_only = false;
    let mut cancelled_1xx = false;
    let fr_before;
    let before: (bool, u16);
    let (r, ack, cancel, on_reply) = {
        let mut inner = tx.entry.inner.lock();
        if inner.freed {
            return HookAction::Stop;
        }
        let cancelling = inner.cancelling;
        let reason = deferred_cancel_reason(&inner, st.table.cfg.read().local_cancel_reason);
        let restart = st.table.cfg.read().restart_fr_on_each_reply;
        let on_reply = inner.on_reply;
        let local = inner.flags.local;
        let Some(u) = inner.uacs.get_mut(n) else {
            return HookAction::Stop;
        };
        fr_before = u.tx.fr_at();
        before = (u.provisional, u.last);
        let mut r = u.tx.on_reply(code, now);
        let provisional = r.pass_up && code < 200;
        if (u.cancel_sent || cancelling) && code < 200 {
            // A provisional reply on a branch we cancel (a CANCEL sent or
            // about to be) is neither seen by onreply_route nor relayed (as
            // Kamailio 5.6); its final reply still is. Nor does it move the
            // branch to fr_inv_timer: it still times out at fr_timer.
            r.pass_up = false;
            u.tx.restore_fr(fr_before);
            cancelled_1xx = true;
        }
        if tx.entry.invite && u.code >= 200 && code >= 200 && !r.pass_up {
            // A final reply on a branch that already ended (as Kamailio):
            // onreply_route sees it; a 2xx is relayed upstream (§16.7 p.5),
            // any other is ACKed here and goes no further.
            late = true;
            if code >= 300 {
                r.send_ack = true;
            } else {
                r.pass_up = true;
            }
        }
        // A branch with its final reply is not cancelled when the others
        // are (after its 2xx, or a CANCEL from upstream).
        let ended = u.code >= 200 && !u.cancel_sent;
        if ended && !r.pass_up && !late {
            // Any other reply on a branch that already ended (a 1xx after
            // its final reply, even a 2xx, a non-INVITE final retransmitted):
            // onreply_route sees it and it goes no further (as Kamailio 5.6).
            seen_only = true;
        }
        // Kamailio's `last_received`: the latest reply of the branch; once
        // it has a final one, only a 2xx to an INVITE replaces it.
        let prev = u.last;
        if prev < 200 || (tx.entry.invite && (200..300).contains(&code)) {
            u.last = code;
        }
        // fr_inv restarts on each provisional reply, or (without
        // restart_fr_on_each_reply) on the first one and on a higher one
        // from 180 on.
        if r.pass_up
            && code < 200
            && tx.entry.invite
            && (restart || (prev < code && (code >= 180 || prev == 0)))
        {
            u.tx.restart_fr_inv(now);
        }
        let ack = if r.send_ack {
            build_ack(&u.request, &ctx.msg).map(|a| (u.dest, a))
        } else if local && tx.entry.invite && (200..300).contains(&code) && u.code < 200 {
            // The first 2xx of a local INVITE (later ones are not ACKed
            // again, as Kamailio).
            let ua = &ctx.rt.settings.user_agent_header;
            super::uac::ack_for_2xx(&u.request, &ctx.msg, ua, u.dest.listener)
        } else {
            None
        };
        let mut cancel = None;
        if provisional {
            u.provisional = true;
            if cancelling && !u.cancel_sent {
                if tx.entry.invite {
                    cancel = start_cancel(st, u, now, reason.as_ref());
                } else {
                    // no CANCEL for a non-INVITE branch (Kamailio)
                    u.cancel_sent = true;
                }
            }
        }
        st.table.schedule(&tx.entry, &mut inner);
        (r, ack, cancel, on_reply)
    };
    if let Some((d, a)) = ack {
        ctx.send(&d, &a);
    }
    if let Some((d, c)) = cancel {
        ctx.send(&d, &c);
    }
    // A reply marks its branch replied once processed (after its
    // onreply_route, and after the failure route a final reply starts: that
    // route does not see its own branch replied), as Kamailio; not a
    // provisional reply that only lets a waiting CANCEL go.
    let mark_replied = |tx: &TxRef| {
        if !cancelled_1xx {
            if let Some(u) = tx.entry.inner.lock().uacs.get_mut(n) {
                u.replied = true;
            }
        }
    };
    if !r.pass_up && !late && !seen_only {
        mark_replied(&tx);
        return HookAction::Stop;
    }
    ctx.tm.tx = Some(tx.clone());
    ctx.tm.reply_code = i32::from(code);
    ctx.tm.reply_reason = Bytes::copy_from_slice(ctx.msg.reason());
    ctx.tm.branch_idx = wire_no as i32;
    // onreply_route sees the flags of the branch that answered (Kamailio)
    if let Some(u) = tx.entry.inner.lock().uacs.get(n) {
        ctx.ruri_bflags = u.flags;
    }
    if let Some(route) = on_reply {
        // It runs on the transaction's AVPs and flags, and they keep its changes.
        super::load_script_state(&tx, ctx);
        let out = rt.run_route(ctx, route, route_type::TM_ONREPLY, "onreply_route");
        super::keep_script_state(&tx, ctx);
        if out.dropped && code < 200 {
            // Kamailio switches the branch to fr_inv_timer only for a
            // provisional reply the script kept: a dropped one leaves the
            // branch's timer as it was.
            {
                let mut inner = tx.entry.inner.lock();
                if let Some(u) = inner.uacs.get_mut(n) {
                    // nor does it count as the branch's reply (no CANCEL
                    // on its timeout, t_grep_status)
                    u.tx.restore_fr(fr_before);
                    (u.provisional, u.last) = before;
                }
                tx.state.table.schedule(&tx.entry, &mut inner);
            }
            mark_replied(&tx);
            return HookAction::Stop;
        }
    }
    if code < 200 || !r.pass_up {
        mark_replied(&tx);
    }
    if !r.pass_up {
        return HookAction::Stop;
    }
    // The reply as relayed upstream: our Via removed.
    let mut edits = ctx.edits.clone();
    if edits.remove_top_via(&ctx.msg).is_err() {
        return HookAction::Stop;
    }
    if tx.entry.inner.lock().dest.proto == Proto::Tcp {
        // Kamailio adds the Content-Length a stream needs.
        edits.ensure_content_length(&ctx.msg);
    }
    let mut out = Vec::with_capacity(ctx.msg.buf().len());
    edits.apply_into(ctx.msg.buf(), &mut out);
    let out = Bytes::from(out);
    if code < 200 {
        if code > 100 {
            relay_reply(&rt, ctx, &tx, code, out);
        }
        return HookAction::Stop;
    }
    {
        let mut inner = tx.entry.inner.lock();
        if let Some(u) = inner.uacs.get_mut(n) {
            u.code = code;
            u.reply = Some(out.clone());
        }
    }
    if (200..300).contains(&code) {
        relay_reply(&rt, ctx, &tx, code, out);
        set_local_cancel_reason(&tx, code);
        cancel_others(&rt, &tx);
        mark_replied(&tx);
        return HookAction::Stop;
    }
    if code >= 600 && !six_xx_disabled(&tx) {
        set_local_cancel_reason(&tx, code);
        cancel_others(&rt, &tx);
    }
    ctx.flush();
    let reason = Bytes::copy_from_slice(ctx.msg.reason());
    if !branch_failure(&rt, &tx, n, code, &reason) {
        branches_done(&rt, &tx);
    }
    mark_replied(&tx);
    HookAction::Stop
}

/// A replicated transaction (`t_replicate`) keeps the replies of its
/// branches: true when `tx` is one, after recording a final `code` as its
/// status without sending anything (it then lingers `wt_timer`, as `t_drop`).
fn replica_keeps(tx: &TxRef, code: u16) -> bool {
    let mut inner = tx.entry.inner.lock();
    if !inner.flags.replicate {
        return false;
    }
    if code >= 200 {
        let now = Instant::now();
        if inner.uas.on_relayed_2xx(code, now) {
            inner.last_reply = Bytes::new();
            inner.last_is_auto_100 = false;
        } else if inner.uas.is_final() {
            // The script answered already: the replica's final reply ends
            // the transaction, whose reply is no longer retransmitted (as
            // Kamailio puts it on wait).
            inner.uas.on_ack(now);
        }
        tx.state.table.schedule(&tx.entry, &mut inner);
    }
    true
}

/// Relay a reply upstream (provisional, 2xx, or the chosen best reply).
fn relay_reply(rt: &Arc<Runtime>, ctx: &mut Ctx, tx: &TxRef, code: u16, reply: Bytes) {
    if replica_keeps(tx, code) {
        return;
    }
    let dest = {
        let mut inner = tx.entry.inner.lock();
        let invite_2xx = tx.entry.invite && (200..300).contains(&code);
        let ok = if invite_2xx {
            inner.uas.on_relayed_2xx(code, Instant::now()) || inner.uas.last_code() / 100 == 2
        } else {
            inner.uas.on_reply(code, Instant::now())
        };
        if ok {
            inner.last_reply = reply.clone();
            inner.last_is_auto_100 = false;
            tx.state.table.schedule(&tx.entry, &mut inner);
        } else if !invite_2xx {
            // Too late for anything but an INVITE's 2xx, which is relayed even
            // after another final reply went upstream (§16.7 p.5, as Kamailio).
            return;
        }
        inner.dest
    };
    let stats = &tx.state.table.stats;
    stats
        .relayed_replies
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    if code >= 200 {
        stats.final_reply(code);
    }
    let _ = rt;
    if let Some(route) = crate::onsend::route_for(&ctx.rt, true) {
        let mut buf = crate::onsend::OutBuf::Shared(reply.clone());
        if !crate::onsend::run(ctx, route, &dest, &mut buf) {
            reply_dropped(tx, &dest);
            return;
        }
    }
    ctx.send(&dest, &reply);
}

/// onsend_route dropped a relayed reply: it is not retransmitted either.
fn reply_dropped(tx: &TxRef, dest: &Dest) {
    crate::onsend::log_dropped_reply(dest);
    tx.entry.inner.lock().last_reply = Bytes::new();
}

/// Relay the best reply (received from `from`) once every branch ended.
fn relay_detached(rt: &Arc<Runtime>, tx: &TxRef, code: u16, reply: Bytes, from: Dest) {
    if replica_keeps(tx, code) {
        return;
    }
    let (remap_503, aggregate) = {
        let c = tx.state.table.cfg.read();
        (c.remap_503_500, c.aggregate_challenges)
    };
    // RFC 3261 §16.7 p.6: a 503 goes upstream as tm's own 500 (Kamailio keeps
    // the 503's wording, "Service Unavailable", and nothing of the reply).
    if code == 503 && remap_503 {
        super::reply_detached(rt, tx, 500, b"Service Unavailable");
        return;
    }
    // §16.7 p.7: with more than one 401/407 among the branches, the challenges
    // of all of them go upstream together in tm's own reply.
    if (code == 401 || code == 407) && aggregate {
        if let Some(headers) = challenges(tx) {
            let reason: &[u8] = if code == 401 {
                b"Unauthorized"
            } else {
                b"Proxy Authentication Required"
            };
            let extra = super::DetachedReply {
                headers: &headers,
                ..Default::default()
            };
            super::reply_detached_with(rt, tx, code, reason, &extra);
            return;
        }
    }
    let dest = {
        let mut inner = tx.entry.inner.lock();
        if !inner.uas.on_reply(code, Instant::now()) {
            return;
        }
        inner.last_reply = reply.clone();
        inner.last_is_auto_100 = false;
        tx.state.table.schedule(&tx.entry, &mut inner);
        inner.dest
    };
    let stats = &tx.state.table.stats;
    stats
        .relayed_replies
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    stats.final_reply(code);
    if let Some(route) = crate::onsend::route_for(rt, true) {
        // The route runs on the reply as received from the branch.
        if let Ok(msg) = Message::parse(reply.clone()) {
            let rcv = crate::context::RcvInfo {
                src: from.addr,
                proto: from.proto,
                listener: from.listener,
                ..Default::default()
            };
            let mut buf = crate::onsend::OutBuf::Shared(reply.clone());
            if !crate::onsend::run_detached(rt, route, msg, rcv, &dest, &mut buf) {
                reply_dropped(tx, &dest);
                return;
            }
        }
    }
    rt.send(&dest, &reply);
}

/// The WWW-Authenticate and Proxy-Authenticate lines of every 401/407 branch
/// reply still counted, in branch order; None when fewer than two branches
/// answered 401/407.
fn challenges(tx: &TxRef) -> Option<Vec<u8>> {
    let inner = tx.entry.inner.lock();
    let auth = |u: &&super::table::Uac| !u.dropped && (u.code == 401 || u.code == 407);
    if inner.uacs.iter().filter(auth).count() < 2 {
        return None;
    }
    let mut out = Vec::new();
    for u in inner.uacs.iter().filter(auth) {
        let Some(m) = u
            .reply
            .as_ref()
            .and_then(|r| Message::parse(r.clone()).ok())
        else {
            continue;
        };
        for h in m.headers() {
            if matches!(
                h.kind,
                HeaderKind::WwwAuthenticate | HeaderKind::ProxyAuthenticate
            ) {
                out.extend_from_slice(m.buf().get(h.line.clone()).unwrap_or_default());
            }
        }
    }
    Some(out)
}

/// CANCEL every branch of an INVITE still pending (a local final reply,
/// t_cancel_branches, t_cancel_callid).
pub fn cancel_pending(rt: &Arc<Runtime>, tx: &TxRef) {
    if tx.entry.invite {
        cancel_others(rt, tx);
    }
}

/// The branches still pending after a relayed 2xx or 6xx: CANCELled, or for
/// a non-INVITE only marked so (Kamailio 5.6 marks them for any method).
fn cancel_others(rt: &Arc<Runtime>, tx: &TxRef) {
    let mut cancels = Vec::new();
    {
        let mut inner = tx.entry.inner.lock();
        // Not a received CANCEL: t_is_canceled() stays false (as Kamailio's
        // after t_cancel_branches). A non-INVITE branch gets no CANCEL, but
        // is marked as one would be: its later provisional replies are
        // dropped (Kamailio 5.6).
        inner.cancelling = true;
        let now = Instant::now();
        let reason = inner.cancel_reason.as_deref().cloned();
        let invite = tx.entry.invite;
        for u in inner.uacs.iter_mut() {
            if u.code < 200 && u.provisional && !u.cancel_sent {
                if invite {
                    cancels.extend(start_cancel(&tx.state, u, now, reason.as_ref()));
                } else {
                    u.cancel_sent = true;
                }
            }
        }
        tx.state.table.schedule(&tx.entry, &mut inner);
    }
    for (d, c) in cancels {
        rt.send(&d, &c);
    }
}

/// A local final reply went out while branches had no reply yet: as
/// Kamailio, they are no longer retransmitted nor timed out (a late reply is
/// still taken and, when final, ACKed). No CANCEL can go before a 1xx.
pub fn stop_unanswered_branches(tx: &TxRef) {
    let mut inner = tx.entry.inner.lock();
    for u in inner.uacs.iter_mut() {
        if u.code < 200 && !u.provisional {
            u.tx.release();
        }
    }
}

fn pending(inner: &TxInner) -> bool {
    inner
        .uacs
        .iter()
        .any(|u| u.code < 200 && u.tx.state() != State::Terminated)
}

/// Drop the replies received so far from the best-reply choice
/// (`t_drop_replies`, `failure_reply_mode`): `a` all, `l` the last leg's,
/// `n` none.
pub(crate) fn drop_replies(inner: &mut TxInner, mode: u8) {
    let last = inner.leg;
    for u in inner.uacs.iter_mut() {
        match mode {
            b'a' => u.dropped = true,
            b'l' if u.leg == last => u.dropped = true,
            _ => {}
        }
    }
}

/// Best final reply among the branches: a 6xx wins, else the lowest class,
/// lowest code.
/// A 6xx is an ordinary reply for this transaction (`disable_6xx_block`,
/// `t_set_disable_6xx`).
fn six_xx_disabled(tx: &TxRef) -> bool {
    tx.entry.inner.lock().flags.disable_6xx || tx.state.table.cfg.read().disable_6xx_block
}

fn best(inner: &TxInner, disable_6xx: bool) -> Option<usize> {
    let _ = disable_6xx;
    let mut best: Option<(usize, u32)> = None;
    for (i, u) in inner.uacs.iter().enumerate() {
        if u.code < 200 || u.dropped {
            continue;
        }
        let rank = reply_rank(u.code);
        if best.is_none_or(|(_, r)| rank < r) {
            best = Some((i, rank));
        }
    }
    best.map(|(i, _)| i)
}

/// How Kamailio ranks final replies when it picks the one to relay (lower
/// wins; the earlier branch on a tie): 6xx, then 3xx, 4xx, 5xx, each by code,
/// except that 401, 407, 415, 420 and 484 come before the other 4xx (the
/// client can act on them); codes of unknown classes last.
fn reply_rank(code: u16) -> u32 {
    let xx = u32::from(code % 100);
    match code / 100 {
        6 => 1000 + xx,
        2 => xx,
        3 => 3000 + xx,
        4 if matches!(xx, 1 | 7 | 15 | 20 | 84) => 4000 + xx,
        4 => 4100 + xx,
        5 => 5000 + xx,
        1 => 11000 + xx,
        _ => 10000 + u32::from(code),
    }
}

/// Every branch has a final answer (or timed out): failure route, then the
/// best reply upstream unless the route answered or relayed again.
pub fn branches_done(rt: &Arc<Runtime>, tx: &TxRef) {
    let (code, from, reason, reply, on_failure, saved, canceled) = {
        let mut inner = tx.entry.inner.lock();
        let no_6xx = inner.flags.disable_6xx || tx.state.table.cfg.read().disable_6xx_block;
        if inner.uas.is_final() || pending(&inner) || inner.uacs.is_empty() {
            return;
        }
        let Some(i) = best(&inner, no_6xx) else {
            return;
        };
        inner.best = Some(i);
        let Some(u) = inner.uacs.get(i) else { return };
        let (code, from) = (u.code, u.dest);
        let reply = u.reply.clone();
        let reason = reply
            .as_ref()
            .and_then(|r| Message::parse(r.clone()).ok())
            .map(|m| Bytes::copy_from_slice(m.reason()))
            .unwrap_or_else(|| Bytes::from_static(b"Request Timeout"));
        let saved = inner.saved.as_ref().map(|s| Saved {
            flags: s.flags,
            xflags: s.xflags,
            new_uri: s.new_uri.clone(),
            dst_uri: s.dst_uri.clone(),
            avps: s.avps.clone(),
            force_rport: s.force_rport,
        });
        (
            code,
            from,
            reason,
            reply,
            inner.on_failure.take(),
            saved,
            inner.canceled,
        )
    };
    if code >= 300 {
        if let Some(route) = on_failure {
            let blind = {
                let mut inner = tx.entry.inner.lock();
                // as t_on_failure, t_on_branch_failure is armed again in the
                // failure route for the branches it adds (Kamailio 5.6;
                // t_on_reply stays)
                inner.on_branch_failure = None;
                inner.failure_runs = inner.failure_runs.wrapping_add(1);
                inner.drop_mode = None;
                inner.send_failed = false;
                inner.blind
            };
            run_on_tx(
                rt,
                tx,
                route,
                "failure_route",
                saved.as_ref(),
                i32::from(code),
                &reason,
                route_type::FAILURE,
            );
            let inner = tx.entry.inner.lock();
            // suspended by the failure route (t_suspend, async_*; each adds a
            // blind branch): the resumed route decides, maybe already running
            // (Kamailio 5.6)
            if inner.uas.is_final() || pending(&inner) || inner.blind != blind {
                return;
            }
            if inner.send_failed {
                drop(inner);
                if !replica_keeps(tx, 477) {
                    reply_detached(rt, tx, 477, super::REASON_477);
                }
                return;
            }
            if best(&inner, true).is_none() {
                // t_drop_replies() with no new branch: nothing left to relay.
                drop(inner);
                if !replica_keeps(tx, 500) {
                    reply_detached(rt, tx, 500, super::REASON_500);
                }
                return;
            }
        }
    }
    if reply.is_none() && replica_keeps(tx, code) {
        return;
    }
    match reply {
        Some(r) => relay_detached(rt, tx, code, r, from),
        // A cancelled transaction whose branch timed out: Kamailio answers 487
        // (its failure route still saw the 408).
        None if canceled => {
            reply_detached(rt, tx, 487, b"Request Terminated");
        }
        None => {
            reply_detached(rt, tx, code, &reason);
        }
    }
}

/// `event_route[tm:branch-failure:NAME]` for a branch that failed (negative
/// reply or timeout), before the failure route of the whole transaction.
/// True when the route suspended the transaction (an async function): as
/// Kamailio 5.6, the failure route then does not run and the resumed route
/// answers.
fn branch_failure(rt: &Arc<Runtime>, tx: &TxRef, n: usize, code: u16, reason: &[u8]) -> bool {
    let (route, saved, blind) = {
        let mut inner = tx.entry.inner.lock();
        let Some(route) = inner.on_branch_failure else {
            return false;
        };
        inner.best = Some(n);
        let saved = inner.saved.as_ref().map(|s| Saved {
            flags: s.flags,
            xflags: s.xflags,
            new_uri: s.new_uri.clone(),
            dst_uri: s.dst_uri.clone(),
            avps: s.avps.clone(),
            force_rport: s.force_rport,
        });
        (route, saved, inner.blind)
    };
    run_on_tx(
        rt,
        tx,
        route,
        "tm:branch-failure",
        saved.as_ref(),
        i32::from(code),
        reason,
        route_type::BRANCH_FAILURE,
    );
    tx.entry.inner.lock().blind != blind
}

/// Timer thread: branch `n` got no (final) reply in time.
pub fn branch_timeout(rt: &Arc<Runtime>, tx: &TxRef, n: usize) {
    let _g = tx.entry.reply_lock.lock();
    let cancel = {
        let mut inner = tx.entry.inner.lock();
        let Some(u) = inner.uacs.get_mut(n) else {
            return;
        };
        if u.code >= 200 {
            return;
        }
        u.code = 408;
        // the timeout is the branch's last reply (t_grep_status), as Kamailio
        u.last = 408;
        // only an INVITE branch is cancelled (RFC 3261 §9.1)
        let cancel = if tx.entry.invite && u.provisional && !u.cancel_sent {
            start_cancel(&tx.state, u, Instant::now(), None)
        } else {
            None
        };
        tx.state.table.schedule(&tx.entry, &mut inner);
        cancel
    };
    if let Some((d, c)) = cancel {
        rt.send(&d, &c);
    }
    if !branch_failure(rt, tx, n, 408, b"Request Timeout") {
        branches_done(rt, tx);
    }
}

/// Timer thread: retransmit branch `n`'s request.
pub fn resend_branch(rt: &Arc<Runtime>, inner: &TxInner, n: usize) -> Option<(Dest, Bytes)> {
    let _ = rt;
    inner.uacs.get(n).map(|u| (u.dest, u.request.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_roundtrip_and_junk() {
        assert_eq!(
            parse_branch(b"z9hG4bK6966.0000002a0123456789abcdef00006966.3"),
            Some((0x6966, 42, 3))
        );
        assert_eq!(parse_branch(b"z9hG4bK6966.c8ba1829.0"), None);
        assert_eq!(
            parse_branch(b"z9hG4bKzz.0000002a0123456789abcdef00006966.3"),
            None
        );
        assert_eq!(
            parse_branch(b"z9hG4bK1.0000002a0123456789abcdef00006966.1.2"),
            None
        );
        assert_eq!(parse_branch(b"abc"), None);
    }
}
