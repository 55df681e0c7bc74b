//! tm and tmx: SIP transactions.
//!
//! * Server transactions for requests handled locally: `t_newtran`, `t_reply`,
//!   `t_check_trans`, `t_release`; request retransmissions are absorbed (the
//!   last reply is sent again), final INVITE replies are retransmitted over UDP
//!   (T1 doubling to T2) until the ACK, for at most `fr_timer`, and the
//!   transaction lingers `wt_timer` after its final reply. `send_reply`
//!   becomes stateful through [`stateful_reply`] (called by sl).
//! * `t_suspend` (tm) / `t_continue` (tmx): a suspended transaction keeps a copy
//!   of its request, flags, URIs and AVPs; `t_continue(index, label, route)`
//!   runs `route[...]` as a failure route from any thread. One never resumed is
//!   ended by `fr_timer`: 408 into the armed failure route, then a local 408.
//! * The state machines are `siprd_sip::transaction` (sans-IO); this module
//!   owns the table ([`table`]) and the timer thread.

pub mod asyncm;
mod knobs;
pub mod relay;
mod replicate;
mod serial;
pub mod table;
pub mod tmx;
mod uac;

use crate::context::{Ctx, RcvInfo};
use crate::forward::Transport;
use crate::module::Module;
use crate::modules::args::{int_arg, int_or_bare_pv, str_arg};
use crate::runtime::{EventHandle, RouteRef, Runtime};
use crate::transport::Proto;
use bytes::Bytes;
use siprd_script::registry::{
    func, Arg, ArgSrc, FixupCtx, FuncDef, ModParamDecl, ModParamType, ParamKind, PvClassDef,
    PvImpl, PvIndex,
};
use siprd_script::{route_type, Registry, RouteId, RouteMask, Value};
use siprd_sip::transaction::{Action, ServerTx, TimerConfig};
use siprd_sip::{Message, Method};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use table::{Saved, SavedAvps, Table, TxEntry, TxInner};

/// tm's parameters.
#[derive(Clone, Debug)]
pub struct TmConfig {
    pub fr: Duration,
    pub fr_inv: Duration,
    pub wt: Duration,
    pub t1: Duration,
    pub t2: Duration,
    pub max_inv_lifetime: Duration,
    pub max_noninv_lifetime: Duration,
    pub auto_inv_100: bool,
    pub auto_inv_100_reason: String,
    pub restart_fr_on_each_reply: bool,
    /// What a new serial forking leg drops of the earlier replies (as a
    /// `t_drop_replies` mode: `n`, `a`, `l`).
    pub failure_reply_mode: u8,
    /// Copy the `Reason` of a received CANCEL into the CANCELs sent (RFC 3326).
    pub e2e_cancel_reason: bool,
    /// Add tm's own `Reason` to CANCELs sent because a branch answered 2xx / 6xx.
    pub local_cancel_reason: bool,
    /// A 6xx is an ordinary reply (no cancelling, no priority).
    pub disable_6xx_block: bool,
    /// A 503 chosen for upstream goes as tm's own 500 (`remap_503_500`).
    pub remap_503_500: bool,
    /// Several 401/407 branch replies: their challenges go up together
    /// (`aggregate_challenges`).
    pub aggregate_challenges: bool,
    /// XAVP names of `t_load_contacts` / `t_next_contacts` (`contacts_avp`)
    /// and of the skipped flows (`contact_flows_avp`).
    pub contacts_avp: Option<Bytes>,
    pub contact_flows_avp: Option<Bytes>,
    /// `fr_timer_avp` / `fr_inv_timer_avp`: AVPs whose value (seconds), when
    /// set as the transaction is created, replaces `fr_timer` / `fr_inv_timer`
    /// for it (unless `t_set_fr` set them).
    pub fr_timer_avp: Option<crate::modules::pv::vars::AvpName>,
    pub fr_inv_timer_avp: Option<crate::modules::pv::vars::AvpName>,
}

impl Default for TmConfig {
    fn default() -> Self {
        TmConfig {
            fr: Duration::from_secs(30),
            fr_inv: Duration::from_secs(120),
            wt: Duration::from_secs(5),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            max_inv_lifetime: Duration::from_secs(180),
            max_noninv_lifetime: Duration::from_secs(32),
            auto_inv_100: true,
            auto_inv_100_reason: "trying -- your call is important to us".into(),
            restart_fr_on_each_reply: true,
            failure_reply_mode: b'a',
            e2e_cancel_reason: true,
            local_cancel_reason: true,
            disable_6xx_block: false,
            remap_503_500: true,
            aggregate_challenges: true,
            contacts_avp: None,
            contact_flows_avp: None,
            fr_timer_avp: None,
            fr_inv_timer_avp: None,
        }
    }
}

impl TmConfig {
    fn timers(&self) -> TimerConfig {
        TimerConfig {
            t1: self.t1,
            t2: self.t2,
            fr: self.fr,
            fr_inv: self.fr_inv,
            wait: self.wt,
        }
    }
}

/// State shared by tm's functions, PVs and the timer thread.
pub struct TmState {
    pub table: Table,
    /// The To-tag prefix of local replies (32 hex digits).
    tag_prefix: String,
    timer: parking_lot::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Resolved at start: `event_route[tm:local-response]`.
    local_response: std::sync::OnceLock<Option<EventHandle>>,
    /// Resolved at start: `event_route[tm:local-request]` (local requests).
    local_request: std::sync::OnceLock<Option<EventHandle>>,
    /// The runtime, for the RPC commands that reply (`tm.reply`, `tm.cancel`).
    rt: std::sync::OnceLock<std::sync::Weak<Runtime>>,
}

/// `event_route[tm:local-response]` after a local stateful reply: it runs on
/// the reply (`$rs`, `$rm` from its CSeq), as Kamailio's.
fn raise_local_response(rt: &Arc<Runtime>, st: &TmState, reply: &[u8], rcv: RcvInfo) {
    let Some(Some(ev)) = st.local_response.get() else {
        return;
    };
    let Ok(msg) = Message::parse(Bytes::copy_from_slice(reply)) else {
        return;
    };
    // Kamailio 5.6: its KEMI callback (`event_callback_lres_sent`) gets
    // "tm:local-response-sent", not the event route's name.
    let arg = Some("tm:local-response-sent");
    rt.raise_with_arg(ev, route_type::EVENT, arg, move |c| {
        c.msg = msg;
        c.faked = false;
        c.rcv = rcv;
    });
}

/// The transaction a script execution works on.
#[derive(Clone)]
pub struct TxRef {
    pub state: Arc<TmState>,
    pub entry: Arc<TxEntry>,
}

/// tm's part of the per-execution context (`Ctx::tm`).
#[derive(Clone, Default)]
pub struct TmCtx {
    /// The transaction of the message (after `t_newtran`, `t_relay`, in
    /// failure routes and resumed routes).
    pub tx: Option<TxRef>,
    /// Armed by `t_on_failure`, `t_on_reply`, `t_on_branch`.
    pub on_failure: Option<RouteRef>,
    pub on_reply: Option<RouteRef>,
    pub on_branch: Option<RouteRef>,
    /// `t_on_branch_failure`: `event_route[tm:branch-failure:NAME]`.
    pub on_branch_failure: Option<RouteRef>,
    /// The R-URI's `+sip.instance`, set by `t_next_contacts`.
    pub ruri_instance: Option<Bytes>,
    /// The Path of the R-URI's branch (`t_next_contacts`: the first
    /// contact's), a Route header after our Via when it is relayed.
    pub ruri_path: Option<Bytes>,
    /// After a relay (request route) or in a failure or branch-failure route
    /// of a relayed transaction: the R-URI and `$du` already used (Kamailio's
    /// "consumed" R-URI): `t_relay()` sends only the appended branches unless
    /// the route assigned one of them since.
    pub ruri_consumed: Option<relay::Consumed>,
    /// `$T_reply_code` / `$T_reply_reason` in failure routes.
    pub reply_code: i32,
    pub reply_reason: Bytes,
    /// `$T_branch_idx`: the branch being created (branch_route), answering
    /// (onreply) or chosen (failure routes).
    pub branch_idx: i32,
    /// `t_set_retr(t1, t2)`: retransmission intervals of what is created
    /// after it (None: the parameter).
    pub retr_override: (Option<Duration>, Option<Duration>),
    /// `t_set_max_lifetime(inv, noninv)`.
    pub lifetime_override: (Option<Duration>, Option<Duration>),
    /// Per-transaction switches set before the transaction exists; copied
    /// into it when it is created.
    pub flags: table::TxFlags,
    /// `t_precheck_trans()`: this message's mark in tmx's in-progress set,
    /// removed when the request's processing ends.
    pub precheck: Option<Arc<tmx::PrecheckMark>>,
}

/// tm parameters accepted without effect (Kamailio tuning knobs).
const IGNORED_PARAMS: &[&str] = &[
    "enable_stats",
    "reparse_invite",
    "on_sl_reply",
    "cancel_b_method",
    "pass_provisional_replies",
    "ruri_matching",
    "via1_matching",
    "callid_matching",
    "noisy_ctimer",
    "fr_inv_timer_next",
    "unix_tx_timeout",
    "blst_503",
    "reparse_on_dns_failure",
    "local_ack_mode",
    "xavp_contact",
];

/// Where Kamailio 5.6 accepts the functions that read or tune the
/// transaction: request, failure, tm onreply and branch routes (not
/// reply_route, onsend_route).
pub(crate) const TX_ROUTES: siprd_script::RouteMask =
    route_type::REQUEST | route_type::FAILURE | route_type::TM_ONREPLY | route_type::BRANCH;

/// Kamailio's answer when no destination of `t_relay` resolves.
const REASON_478: &[u8] = b"Unresolvable destination (478/TM)";
const REASON_500: &[u8] = b"I'm terribly sorry, server error occurred (1/TM)";
const REASON_500_NO_BRANCH: &[u8] = b"I'm terribly sorry, server error occurred (6/TM)";
/// Kamailio's answer when no branch could be sent (onsend_route dropped them).
const REASON_477: &[u8] = b"Unfortunately error on sending to next hop occurred (477/TM)";

pub struct Tm {
    state: Arc<TmState>,
}

impl Default for Tm {
    fn default() -> Self {
        let tag_prefix = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        Tm {
            state: Arc::new(TmState {
                table: Table::new(),
                tag_prefix,
                timer: parking_lot::Mutex::new(None),
                local_response: std::sync::OnceLock::new(),
                local_request: std::sync::OnceLock::new(),
                rt: std::sync::OnceLock::new(),
            }),
        }
    }
}

/// tmx: `t_continue`, `$T(...)`, route-type tests.
#[derive(Default)]
pub struct Tmx;

fn reliable(rcv: &RcvInfo) -> bool {
    rcv.proto != Proto::Udp
}

fn ms_param(v: &Value, name: &str) -> Result<Duration, String> {
    match v.try_int() {
        Some(n) if n >= 0 => Ok(Duration::from_millis(n as u64)),
        _ => Err(format!("{name} must be a number of milliseconds")),
    }
}

/// The To-tag of tm's local replies: `<32 hex>-<8 hex>`, stable for a request.
fn to_tag(prefix: &str, req: &Message) -> [u8; 41] {
    siprd_sip::reply::local_tag(prefix.as_bytes(), b'-', true, req)
}

/// Build a local reply to `req` (received as `rcv`).
#[allow(clippy::too_many_arguments)]
fn build_local_reply(
    st: &TmState,
    rt: &Runtime,
    req: &Message,
    rcv: &RcvInfo,
    force_rport: bool,
    headers: &[u8],
    body: &[u8],
    code: u16,
    reason: &[u8],
    tag_override: Option<&[u8]>,
    script_code: Option<i32>,
    out: &mut Vec<u8>,
) {
    let computed = to_tag(&st.tag_prefix, req);
    let tag: &[u8] = tag_override.unwrap_or(&computed);
    let mut extra = Vec::new();
    extra.extend_from_slice(headers);
    if rt.settings.server_signature && !rt.settings.server_header.is_empty() {
        extra.extend_from_slice(rt.settings.server_header.as_bytes());
        extra.extend_from_slice(b"\r\n");
    }
    let mut ip_buf = [0u8; 48];
    let src_ip = crate::modules::sl::ip_text(rcv.src.ip(), &mut ip_buf);
    let opts = siprd_sip::reply::ReplyOpts {
        to_tag: Some(tag),
        src_ip: Some(src_ip),
        src_port: Some(rcv.src.port()),
        force_rport,
        extra_headers: &extra,
        body,
        script_code,
        ..Default::default()
    };
    out.clear();
    siprd_sip::reply::build_reply_into(req, code, reason, &opts, out);
}

/// A code given to `t_reply` as tm reads it: any integer, taken unsigned.
/// Returns the three digits sent (the last three of the unsigned 32-bit
/// value: `99` → `099`, `1099` → `099`, `-1` → `295`), the code that decides
/// provisional/final (`-1` and `1000` are final; clamped to 699 past 699),
/// and the value for the To-tag/Record-Route rules when it differs from the
/// digits sent (a negative code counts as huge: tagged).
pub(crate) fn tm_code(given: i32) -> (u16, u16, Option<i32>) {
    let u = given as u32;
    let wire = (u % 1000) as u16;
    let class = if u >= 700 { 699 } else { u as u16 };
    let rule = i32::try_from(u).unwrap_or(i32::MAX);
    (wire, class, (rule != i32::from(wire)).then_some(rule))
}

/// Send a reply inside the transaction of `ctx` (`t_reply`, stateful
/// `send_reply` when `script`; tm's own 100 and `200 canceling` otherwise).
/// Returns 1, or -1 when it cannot be sent.
fn reply_in_tx(ctx: &mut Ctx, tx: &TxRef, given: i32, reason: &[u8], script: bool) -> i32 {
    let (wire, code, script_code) = tm_code(given);
    let st = &tx.state;
    let rt = ctx.rt.clone();
    let headers = std::mem::take(&mut ctx.reply_headers);
    let mut out = std::mem::take(&mut ctx.scratch);
    build_local_reply(
        st,
        &rt,
        &ctx.msg,
        &ctx.rcv,
        ctx.force_rport,
        &headers,
        ctx.reply_body.as_deref().unwrap_or_default(),
        wire,
        reason,
        None,
        script_code,
        &mut out,
    );
    // The auto 100 is not kept: a retransmission gets it built again.
    let auto_100 = code == 100
        && headers.is_empty()
        && reason == st.table.cfg.read().auto_inv_100_reason.as_bytes()
        && ctx.force_rport == rt.settings.force_rport;
    ctx.reply_headers = headers;
    ctx.reply_headers.clear();
    let dest = {
        let mut inner = tx.entry.inner.lock();
        if !inner.uas.on_reply(code, Instant::now()) {
            drop(inner);
            ctx.scratch = out;
            tracing::error!("t_reply: a final reply was already sent for this transaction");
            return -1;
        }
        inner.last_is_auto_100 = auto_100;
        inner.script_replied |= script;
        inner.last_reply = if auto_100 {
            Bytes::new()
        } else {
            Bytes::copy_from_slice(&out)
        };
        if tx.entry.invite && (200..300).contains(&code) {
            remember_2xx(st, &tx.entry, &mut inner, &ctx.msg);
        }
        if code >= 200 {
            inner.suspended = None;
            st.table.stats.final_reply(code);
        }
        st.table.schedule(&tx.entry, &mut inner);
        inner.dest
    };
    let ok = ctx.send(&dest, &out);
    if matches!(st.local_response.get(), Some(Some(_))) {
        ctx.flush();
        raise_local_response(&rt, st, &out, ctx.rcv);
    }
    ctx.scratch = out;
    st.table.stats.local_replies.fetch_add(1, Ordering::Relaxed);
    ctx.replied = true;
    if code >= 200 {
        relay::set_local_cancel_reason(tx, code);
        relay::stop_unanswered_branches(tx);
        relay::cancel_pending(&rt, tx);
    }
    if ok {
        1
    } else {
        -1
    }
}

/// `t_reply` in onreply_route: tm's own reply to the transaction's request,
/// then a CANCEL (with tm's `Reason`) to every pending branch.
fn reply_from_onreply(ctx: &mut Ctx, given: i32, reason: &[u8]) -> i32 {
    let Some(tx) = ctx.tm.tx.clone() else {
        tracing::error!("t_reply: no transaction for this reply");
        return -1;
    };
    let (_, code, _) = tm_code(given);
    let rt = ctx.rt.clone();
    ctx.flush();
    let headers = std::mem::take(&mut ctx.reply_headers);
    let extra = DetachedReply {
        headers: &headers,
        given: Some(given),
        ..Default::default()
    };
    let ok = reply_detached_with(&rt, &tx, code, reason, &extra);
    ctx.reply_headers = headers;
    ctx.reply_headers.clear();
    if !ok {
        tracing::error!("t_reply: a final reply was already sent for this transaction");
        return -1;
    }
    if code >= 200 {
        relay::set_local_cancel_reason(&tx, code);
        relay::cancel_pending(&rt, &tx);
    }
    1
}

/// A local 2xx to an INVITE: index it by Call-ID and To-tag for its ACK.
fn remember_2xx(st: &TmState, e: &Arc<TxEntry>, inner: &mut TxInner, req: &Message) {
    remember_2xx_tag(st, e, inner, req, None);
}

/// [`remember_2xx`] with the To-tag the reply was given (`tm.reply`).
fn remember_2xx_tag(
    st: &TmState,
    e: &Arc<TxEntry>,
    inner: &mut TxInner,
    req: &Message,
    tag: Option<&[u8]>,
) {
    let Some(call_id) = req.call_id() else { return };
    let tag = match (req.to().ok().and_then(|t| t.tag()), tag) {
        (Some(t), _) | (None, Some(t)) => Bytes::copy_from_slice(t),
        (None, None) => Bytes::copy_from_slice(&to_tag(&st.tag_prefix, req)),
    };
    st.table
        .add_local_2xx(e, inner, Bytes::copy_from_slice(call_id), tag);
}

/// The stateful `send_reply`: when the message in `ctx` has a transaction,
/// reply inside it and return Some(return code); None when there is no
/// transaction (sl then replies statelessly).
pub fn stateful_reply(ctx: &mut Ctx, code: i32, reason: &[u8]) -> Option<i32> {
    let tx = ctx.tm.tx.clone()?;
    if ctx.exec.route_type & route_type::BRANCH_FAILURE != 0 {
        // tm's reply is refused there (Kamailio 5.6, as t_reply)
        tracing::error!("send_reply: unsupported in event_route[tm:branch-failure]");
        return Some(-1);
    }
    Some(reply_in_tx(ctx, &tx, code, reason, true))
}

/// What looking the request of `ctx` up in the table found.
pub(crate) enum Found {
    /// No transaction.
    None,
    /// A retransmission: handled (last reply resent); the script ends.
    Absorbed,
    /// A transaction exists for it (CANCEL target, ACK to a 2xx ...).
    Tx(#[allow(dead_code)] Arc<TxEntry>),
}

fn resend_last(ctx: &mut Ctx, st: &TmState, e: &TxEntry) {
    let (dest, reply) = {
        let mut inner = e.inner.lock();
        if !inner.uas.on_retransmission() {
            return;
        }
        if inner.last_is_auto_100 {
            // Built again, byte for byte what was sent (same request, source, options).
            let (req, rcv, dest) = (inner.req.clone(), inner.rcv, inner.dest);
            drop(inner);
            let Ok(msg) = Message::parse(req) else { return };
            let rt = ctx.rt.clone();
            let reason = st.table.cfg.read().auto_inv_100_reason.clone();
            let mut out = Vec::new();
            build_local_reply(
                st,
                &rt,
                &msg,
                &rcv,
                rt.settings.force_rport,
                &[],
                &[],
                100,
                reason.as_bytes(),
                None,
                None,
                &mut out,
            );
            (dest, Bytes::from(out))
        } else if inner.last_reply.is_empty() {
            return;
        } else {
            (inner.dest, inner.last_reply.clone())
        }
    };
    st.table
        .stats
        .retransmissions
        .fetch_add(1, Ordering::Relaxed);
    ctx.send(&dest, &reply);
}

/// Match the request in `ctx` against existing transactions.
pub(crate) fn match_request(st: &TmState, ctx: &mut Ctx) -> Found {
    let Ok(key) = siprd_sip::txkey::server_tx_key(&ctx.msg) else {
        return Found::None;
    };
    let found = st.table.lookup(&key).or_else(|| {
        if ctx.msg.method() != Method::Ack {
            return None;
        }
        let tag = ctx.msg.to().ok()?.tag()?;
        st.table.lookup_local_2xx(ctx.msg.call_id()?, tag)
    });
    let Some(e) = found else {
        return Found::None;
    };
    if ctx.msg.method() == Method::Ack {
        let mut inner = e.inner.lock();
        if inner.uas.on_ack(Instant::now()) {
            st.table.schedule(&e, &mut inner);
            return Found::Absorbed;
        }
        drop(inner);
        return Found::Tx(e);
    }
    resend_last(ctx, st, &e);
    Found::Absorbed
}

/// `t_newtran()`: 1 new transaction, 0 retransmission absorbed, -1 error.
fn newtran(st: &Arc<TmState>, ctx: &mut Ctx) -> i32 {
    if ctx.faked || !ctx.msg.is_request() {
        tracing::error!("t_newtran: not a received request");
        return -1;
    }
    if ctx.tm.tx.is_some() {
        return 1;
    }
    let method = ctx.msg.method();
    let Ok(key) = siprd_sip::txkey::server_tx_key(&ctx.msg) else {
        tracing::error!("t_newtran: cannot build the transaction key");
        return -1;
    };
    if method == Method::Ack {
        // An ACK creates no transaction; the ACK for our final reply is absorbed.
        return match match_request(st, ctx) {
            Found::Absorbed => 0,
            _ => 1,
        };
    }
    // Kamailio refuses a request whose (current) R-URI does not parse (`*`,
    // `bob@host`, `<sip:..>`): -400, even with `$du` set
    if crate::modules::pv::msg::parse_known(ctx.ruri()).is_none() {
        tracing::error!("t_newtran: the Request-URI does not parse");
        return -400;
    }
    // as Kamailio, whose full header parse fails on these
    if !ctx.msg.headers_parse_ok() {
        tracing::error!("t_newtran: a header of the request does not parse");
        return -400;
    }
    let Some(dest) = crate::forward::reply_dest(ctx) else {
        tracing::error!("t_newtran: cannot find where replies go");
        return -1;
    };
    let invite = method == Method::Invite;
    knobs::apply_timer_avps(ctx, &st.table.cfg.read());
    let mut cfg = st.table.cfg.read().timers();
    knobs::apply_retr(ctx, &mut cfg);
    cfg.fr = ctx.tm.flags.fr(&st.table.cfg.read());
    let rcv = ctx.rcv;
    let req = ctx.msg.buf().clone();
    let inserted = st.table.insert(key, invite, || {
        TxInner::new(
            ServerTx::new(invite, reliable(&rcv), cfg),
            req,
            rcv,
            dest,
            ctx.tm.flags,
        )
    });
    match inserted {
        Ok(entry) => {
            // A transaction the script neither answers, relays nor suspends is
            // released as Kamailio does at the end of the script: freed after wt_timer.
            {
                let life = st.table.cfg.read().wt;
                let mut inner = entry.inner.lock();
                inner.uas.arm_fr(Instant::now(), life);
                st.table.schedule(&entry, &mut inner);
            }
            ctx.tm.tx = Some(TxRef {
                state: st.clone(),
                entry,
            });
            1
        }
        Err(existing) => {
            resend_last(ctx, st, &existing);
            0
        }
    }
}

/// `t_check_trans()`.
fn check_trans(st: &Arc<TmState>, ctx: &mut Ctx) -> i32 {
    if ctx.faked {
        return -1;
    }
    if !ctx.msg.is_request() {
        // a reply: 1 when it belongs to one of our branches (Kamailio 5.6,
        // in reply_route and onreply_route alike)
        return if relay::reply_branch(st, &ctx.msg).is_some() {
            1
        } else {
            -1
        };
    }
    if ctx.tm.tx.is_some() {
        // in request_route, a transaction already created for this request
        // (t_newtran) makes it a retransmission to Kamailio: 0 (observed)
        return if ctx.exec.route_type == route_type::REQUEST {
            0
        } else {
            1
        };
    }
    if ctx.msg.method() == Method::Cancel {
        return if st.table.lookup_cancel_target(&ctx.msg).is_some() {
            1
        } else {
            -1
        };
    }
    match match_request(st, ctx) {
        Found::None => -1,
        Found::Absorbed => 0,
        Found::Tx(_) => 1,
    }
}

/// Prepare a context for running a route on a transaction's request.
fn prepare_tx_ctx(
    c: &mut Ctx,
    tx: &TxRef,
    req: &Bytes,
    rcv: RcvInfo,
    saved: Option<&Saved>,
) -> bool {
    let Ok(msg) = Message::parse(req.clone()) else {
        return false;
    };
    c.msg = msg;
    c.faked = false;
    c.rcv = rcv;
    if let Some(s) = saved {
        c.flags = s.flags;
        c.xflags = s.xflags;
        c.new_uri = s.new_uri.clone();
        c.dst_uri = s.dst_uri.clone();
        c.avps = s.avps.restore();
        c.force_rport = s.force_rport;
    }
    c.edits = tx.entry.inner.lock().lumps.edits();
    c.tm.tx = Some(tx.clone());
    true
}

/// Run `route` as a failure route on the transaction's request (any thread).
#[allow(clippy::too_many_arguments)]
fn run_on_tx(
    rt: &Arc<Runtime>,
    tx: &TxRef,
    route: RouteRef,
    name: &str,
    saved: Option<&Saved>,
    code: i32,
    reason: &[u8],
    rtype: siprd_script::RouteMask,
) {
    let (req, rcv, best, bflags, relayed) = {
        let inner = tx.entry.inner.lock();
        let u = inner.best.and_then(|b| inner.uacs.get(b));
        (
            inner.req.clone(),
            inner.rcv,
            u.map(|u| u.no),
            u.map_or(0, |u| u.flags),
            !inner.uacs.is_empty(),
        )
    };
    // failure routes after branches went out, and a route resuming a
    // transaction suspended after its branches went out (Kamailio 5.6: a
    // t_relay there finds no new branch)
    let consumed = relayed
        && (name == "failure_route"
            || name == "t_continue"
            || rtype & route_type::BRANCH_FAILURE != 0);
    let ev = EventHandle {
        name: Arc::from(name),
        route,
    };
    let reason = Bytes::copy_from_slice(reason);
    // KEMI failure/onreply/resume functions get no argument (Kamailio)
    let keep = |c: &mut Ctx| keep_script_state(tx, c);
    rt.raise_with_arg_then(
        &ev,
        rtype,
        None,
        |c| {
            if !prepare_tx_ctx(c, tx, &req, rcv, saved) {
                tracing::error!("{name}: the transaction's request no longer parses");
            }
            c.tm.reply_code = code;
            c.tm.reply_reason = reason;
            c.tm.branch_idx = best.map_or(0, |b| b as i32);
            // the branch flags of the branch that ended (Kamailio)
            c.ruri_bflags = bflags;
            if consumed {
                c.tm.ruri_consumed = Some(relay::Consumed::of(c));
            }
        },
        keep,
    );
}

/// The transaction keeps the AVPs and flags a route left (Kamailio runs its
/// request, onreply, branch-failure and failure routes on the transaction's
/// own AVP list and message flags): the routes that run after see them.
pub(crate) fn keep_script_state(tx: &TxRef, c: &Ctx) {
    let mut inner = tx.entry.inner.lock();
    if let Some(s) = inner.saved.as_mut() {
        s.flags = c.flags;
        s.xflags = c.xflags;
        s.avps = SavedAvps::of(&c.avps);
    }
    keep_avps_while_suspended(&mut inner, c);
}

/// A route that suspended the transaction (t_suspend, evapi_async_relay)
/// and went on: its later AVP changes are the transaction's (Kamailio 5.6.3
/// keeps them in the transaction's list, so the route that t_continue runs
/// sees them), while the flags, `$ru` and `$du` stay as they were when
/// suspended.
fn keep_avps_while_suspended(inner: &mut TxInner, c: &Ctx) {
    if let Some(s) = inner.suspended.as_mut() {
        if !(c.avps.is_empty() && s.avps.is_empty()) {
            s.avps = SavedAvps::of(&c.avps);
        }
    }
}

/// Load the AVPs and flags the transaction keeps into `c` (an onreply_route).
pub(crate) fn load_script_state(tx: &TxRef, c: &mut Ctx) {
    let inner = tx.entry.inner.lock();
    if let Some(s) = inner.saved.as_ref() {
        c.flags = s.flags;
        c.xflags = s.xflags;
        c.avps = s.avps.restore();
    }
}

/// The request route that created a transaction ended: the AVPs it changed
/// after relaying are the transaction's (Kamailio moved its AVP list to the
/// transaction; message flags stay as they were when relayed).
pub fn request_route_done(ctx: &mut Ctx) {
    let Some(tx) = ctx.tm.tx.as_ref() else {
        return;
    };
    let mut inner = tx.entry.inner.lock();
    if let Some(s) = inner.saved.as_mut() {
        if !(ctx.avps.is_empty() && s.avps.is_empty()) {
            s.avps = SavedAvps::of(&ctx.avps);
        }
    }
    keep_avps_while_suspended(&mut inner, ctx);
}

/// Send a local reply from outside any script execution (timer thread, after
/// a resumed route).
fn reply_detached(rt: &Arc<Runtime>, tx: &TxRef, code: u16, reason: &[u8]) -> bool {
    reply_detached_with(rt, tx, code, reason, &DetachedReply::default())
}

/// What an RPC reply (`tm.reply`, `tm.reply_callid`) adds to a local reply.
#[derive(Default)]
pub(crate) struct DetachedReply<'a> {
    /// Header lines, each ending in CRLF.
    pub headers: &'a [u8],
    pub body: &'a [u8],
    /// The To-tag; None: tm's own.
    pub to_tag: Option<&'a [u8]>,
    /// The code as the script gave it (see [`tm_code`]); `code` is then the
    /// class it gives.
    pub given: Option<i32>,
}

/// [`reply_detached`] with extra headers, a body and a chosen To-tag.
fn reply_detached_with(
    rt: &Arc<Runtime>,
    tx: &TxRef,
    code: u16,
    reason: &[u8],
    extra: &DetachedReply<'_>,
) -> bool {
    let (wire, script_code) = match extra.given {
        Some(g) => {
            let (w, _, sc) = tm_code(g);
            (w, sc)
        }
        None => (code, None),
    };
    let (req, rcv, force_rport) = {
        let inner = tx.entry.inner.lock();
        if inner.uas.is_final() {
            return false;
        }
        let fr = inner.saved.as_ref().is_some_and(|s| s.force_rport);
        (inner.req.clone(), inner.rcv, fr || rt.settings.force_rport)
    };
    let Ok(msg) = Message::parse(req) else {
        return false;
    };
    let mut out = Vec::new();
    build_local_reply(
        &tx.state,
        rt,
        &msg,
        &rcv,
        force_rport,
        extra.headers,
        extra.body,
        wire,
        reason,
        extra.to_tag,
        script_code,
        &mut out,
    );
    let dest = {
        let mut inner = tx.entry.inner.lock();
        if !inner.uas.on_reply(code, Instant::now()) {
            return false;
        }
        inner.last_reply = Bytes::from(out.clone());
        inner.last_is_auto_100 = false;
        if tx.entry.invite && (200..300).contains(&code) {
            remember_2xx_tag(&tx.state, &tx.entry, &mut inner, &msg, extra.to_tag);
        }
        if code >= 200 {
            inner.suspended = None;
        }
        tx.state.table.schedule(&tx.entry, &mut inner);
        inner.dest
    };
    let stats = &tx.state.table.stats;
    stats.local_replies.fetch_add(1, Ordering::Relaxed);
    if code >= 200 {
        stats.final_reply(code);
    }
    rt.send(&dest, &out);
    raise_local_response(rt, &tx.state, &out, rcv);
    true
}

/// `t_suspend()`: park the transaction (creating it first when needed).
/// Returns 1 when suspended, 0 for an absorbed retransmission, -1 on error.
pub fn suspend(st: &Arc<TmState>, ctx: &mut Ctx) -> i32 {
    if ctx.faked || !ctx.msg.is_request() {
        tracing::error!("t_suspend: cannot suspend a synthetic or non-request message");
        return -1;
    }
    if ctx.msg.method() == Method::Ack {
        tracing::error!("t_suspend: cannot suspend an ACK");
        return -1;
    }
    if ctx.tm.tx.is_none() {
        match newtran(st, ctx) {
            1 => {}
            r => return r,
        }
    }
    let Some(tx) = ctx.tm.tx.clone() else {
        return -1;
    };
    let cfg = st.table.cfg.read().clone();
    let (invite, replied, auto_100) = {
        let inner = tx.entry.inner.lock();
        let auto_100 = inner.flags.auto_inv_100.unwrap_or(cfg.auto_inv_100);
        (tx.entry.invite, inner.uas.last_code(), auto_100)
    };
    if replied >= 200 {
        tracing::error!("t_suspend: the transaction already has a final reply");
        return -1;
    }
    if invite && replied == 0 && auto_100 {
        reply_in_tx(ctx, &tx, 100, cfg.auto_inv_100_reason.as_bytes(), false);
    }
    let mut inner = tx.entry.inner.lock();
    inner.blind = inner.blind.saturating_add(1);
    if inner.suspended.is_some() {
        return 1;
    }
    inner.suspended = Some(Box::new(Saved {
        flags: ctx.flags,
        xflags: ctx.xflags,
        new_uri: ctx.new_uri.clone(),
        dst_uri: ctx.dst_uri.clone(),
        avps: SavedAvps::of(&ctx.avps),
        force_rport: ctx.force_rport,
    }));
    inner.lumps.save_first(&ctx.edits);
    // Routes armed before the suspension belong to the transaction (Kamailio
    // keeps t_on_failure/t_on_reply/t_on_branch* across t_continue).
    inner.adopt_armed_routes(&ctx.tm);
    if ctx.tm.on_branch.is_some() {
        inner.on_branch = ctx.tm.on_branch;
    }
    let fr = if invite && inner.uas.last_code() > 100 {
        inner.flags.fr_inv(&cfg)
    } else {
        inner.flags.fr(&cfg)
    };
    inner.uas.arm_fr(Instant::now(), fr);
    st.table.schedule(&tx.entry, &mut inner);
    1
}

/// `t_continue(index, label, route)`.
/// What a resumed transaction runs.
#[derive(Clone, Copy, Debug)]
pub enum Resume {
    /// `route[NAME]` (t_continue, async_route).
    Route(RouteRef),
    /// The rest of the block after a suspending call (async_sleep).
    Cursor(siprd_script::Cursor),
}

thread_local! {
    /// The context a thread reuses to resume "the rest of a block".
    static RESUME_CTX: std::cell::RefCell<Option<Ctx>> = const { std::cell::RefCell::new(None) };
}

/// Run the rest of a block (`Cursor`) on the transaction's request.
fn resume_cursor(rt: &Arc<Runtime>, tx: &TxRef, cursor: siprd_script::Cursor, saved: &Saved) {
    let (req, rcv) = {
        let inner = tx.entry.inner.lock();
        (inner.req.clone(), inner.rcv)
    };
    let Ok(msg) = Message::parse(req) else { return };
    RESUME_CTX.with(|cell| {
        let Ok(mut slot) = cell.try_borrow_mut() else {
            // Nested resume on this thread: a fresh context.
            let mut c = Ctx::new(rt.clone());
            run_cursor(rt, &mut c, tx, msg, rcv, cursor, saved);
            return;
        };
        let c = slot.get_or_insert_with(|| Ctx::new(rt.clone()));
        if !Arc::ptr_eq(&c.rt, rt) {
            *c = Ctx::new(rt.clone());
        }
        run_cursor(rt, c, tx, msg, rcv, cursor, saved);
    });
}

fn run_cursor(
    rt: &Arc<Runtime>,
    c: &mut Ctx,
    tx: &TxRef,
    msg: Message,
    rcv: RcvInfo,
    cursor: siprd_script::Cursor,
    saved: &Saved,
) {
    c.reset(msg, false, rcv);
    c.flags = saved.flags;
    c.xflags = saved.xflags;
    c.new_uri = saved.new_uri.clone();
    c.dst_uri = saved.dst_uri.clone();
    c.avps = saved.avps.restore();
    c.force_rport = saved.force_rport;
    c.edits = tx.entry.inner.lock().lumps.edits();
    c.tm.tx = Some(tx.clone());
    c.exec.route_type = route_type::FAILURE;
    if !tx.entry.inner.lock().uacs.is_empty() {
        // suspended after its branches went out: the R-URI is used up
        c.tm.ruri_consumed = Some(relay::Consumed::of(c));
    }
    rt.program.resume(c, cursor);
    c.finish_execution("resumed route");
    c.tm = TmCtx::default();
}

/// Resume a suspended transaction (t_continue, async). The caller flushed its
/// own batched sends. 1 on success, -1 (logged) when there is nothing to resume.
pub fn continue_tx(
    st: &Arc<TmState>,
    rt: &Arc<Runtime>,
    index: i32,
    label: i32,
    what: Resume,
) -> i32 {
    let entry = match (u32::try_from(index), u32::try_from(label)) {
        (Ok(i), Ok(l)) => st.table.find_id(i, l),
        _ => None,
    };
    let Some(entry) = entry else {
        tracing::warn!("t_continue: active transaction not found [{index}:{label}]");
        return -1;
    };
    let saved = {
        let mut inner = entry.inner.lock();
        if inner.uas.is_final() || inner.freed {
            None
        } else {
            let s = inner.suspended.take();
            if s.is_some() {
                inner.resumed = true;
                inner.uas.disarm_fr();
            }
            s
        }
    };
    let Some(saved) = saved else {
        tracing::warn!("t_continue: transaction [{index}:{label}] is not suspended (resumed twice or already answered)");
        return -1;
    };
    let rt = rt.clone();
    let tx = TxRef {
        state: st.clone(),
        entry,
    };
    let _g = tx.entry.reply_lock.lock();
    {
        let mut inner = tx.entry.inner.lock();
        inner.saved = Some(Box::new(Saved {
            flags: saved.flags,
            xflags: saved.xflags,
            new_uri: saved.new_uri.clone(),
            dst_uri: saved.dst_uri.clone(),
            avps: saved.avps.clone(),
            force_rport: saved.force_rport,
        }));
    }
    {
        let mut inner = tx.entry.inner.lock();
        inner.send_failed = false;
        inner.relay_no_branch = false;
    }
    match what {
        Resume::Route(route) => run_on_tx(
            &rt,
            &tx,
            route,
            "t_continue",
            Some(&saved),
            0,
            b"",
            route_type::FAILURE,
        ),
        Resume::Cursor(cursor) => resume_cursor(&rt, &tx, cursor, &saved),
    }
    // Nothing answered and nothing relayed: tm's 500 (477 when onsend_route
    // dropped what the route relayed).
    let (pending, send_failed, no_branch) = {
        let inner = tx.entry.inner.lock();
        let pending = !inner.uas.is_final()
            && inner.uacs.iter().all(|u| {
                u.code >= 200 || u.tx.state() == siprd_sip::transaction::State::Terminated
            })
            && inner.suspended.is_none();
        (pending, inner.send_failed, inner.relay_no_branch)
    };
    if pending && send_failed {
        reply_detached(&rt, &tx, 477, REASON_477);
    } else if pending && no_branch {
        reply_detached(&rt, &tx, 500, REASON_500_NO_BRANCH);
    } else if pending {
        reply_detached(&rt, &tx, 500, REASON_500);
    }
    1
}

/// The "no final reply" timer fired (a suspended transaction was never resumed).
fn on_fr_timeout(rt: &Arc<Runtime>, tx: &TxRef) {
    let _g = tx.entry.reply_lock.lock();
    let (saved, on_failure) = {
        let mut inner = tx.entry.inner.lock();
        if inner.uas.is_final() {
            return;
        }
        if inner.suspended.is_none() && !inner.uacs.is_empty() {
            // The lifetime of a relayed transaction ended: every pending branch times out.
            drop(inner);
            drop(_g);
            relay::cancel_pending(rt, tx);
            let n = tx.entry.inner.lock().uacs.len();
            for i in 0..n {
                relay::branch_timeout(rt, tx, i);
            }
            return;
        }
        if inner.suspended.is_none() && !inner.resumed {
            // Created, never answered, relayed or suspended: freed silently.
            inner.freed = true;
            drop(inner);
            tx.state.table.remove(&tx.entry);
            return;
        }
        let s = inner.suspended.take();
        inner.resumed = true;
        let s = s.or_else(|| inner.saved.take());
        if let Some(s) = &s {
            inner.saved = Some(Box::new(Saved {
                flags: s.flags,
                xflags: s.xflags,
                new_uri: s.new_uri.clone(),
                dst_uri: s.dst_uri.clone(),
                avps: s.avps.clone(),
                force_rport: s.force_rport,
            }));
        }
        (s, inner.on_failure.take())
    };
    if let Some(route) = on_failure {
        run_on_tx(
            rt,
            tx,
            route,
            "failure_route",
            saved.as_deref(),
            408,
            b"Request Timeout",
            route_type::FAILURE,
        );
    }
    reply_detached(rt, tx, 408, b"Request Timeout");
}

/// tm's timer thread: retransmissions, timeouts, freeing.
fn timer_loop(st: Arc<TmState>, rt: Arc<Runtime>) {
    let mut actions = Vec::new();
    while !rt.is_stopping() {
        let Some((entry, at)) = st.table.next_due(|| rt.is_stopping()) else {
            continue;
        };
        let mut inner = entry.inner.lock();
        if inner.scheduled != Some(at) || inner.freed {
            continue;
        }
        inner.scheduled = None;
        actions.clear();
        inner.uas.poll(Instant::now(), &mut actions);
        let mut resend = false;
        let mut no_final = false;
        let mut terminated = false;
        for a in &actions {
            match a {
                Action::ResendReply => resend = true,
                Action::NoFinalReply => no_final = true,
                Action::Terminated => terminated = true,
                _ => {}
            }
        }
        // An empty last reply: onsend_route dropped it (nothing to resend).
        let resend = resend
            .then(|| (inner.dest, inner.last_reply.clone()))
            .filter(|(_, r)| !r.is_empty());
        let now = Instant::now();
        let mut branch_resends = Vec::new();
        let mut branch_timeouts = Vec::new();
        for (i, u) in inner.uacs.iter_mut().enumerate() {
            let mut acts = Vec::new();
            u.tx.poll(now, &mut acts);
            for a in acts {
                match a {
                    Action::ResendRequest => branch_resends.push((u.dest, u.request.clone())),
                    Action::Timeout => branch_timeouts.push(i),
                    _ => {}
                }
            }
            if let Some(c) = u.cancel.as_mut() {
                let mut acts = Vec::new();
                c.tx.poll(now, &mut acts);
                if acts.contains(&Action::ResendRequest) {
                    branch_resends.push((u.dest, c.request.clone()));
                }
            }
        }
        if terminated {
            inner.freed = true;
            inner.suspended = None;
            inner.saved = None;
            drop(inner);
            st.table.remove(&entry);
        } else {
            st.table.schedule(&entry, &mut inner);
            drop(inner);
        }
        if let Some((dest, reply)) = resend {
            st.table
                .stats
                .retransmissions
                .fetch_add(1, Ordering::Relaxed);
            rt.send(&dest, &reply);
        }
        for (dest, req) in branch_resends {
            rt.send(&dest, &req);
        }
        if !terminated {
            for i in branch_timeouts {
                relay::branch_timeout(
                    &rt,
                    &TxRef {
                        state: st.clone(),
                        entry: entry.clone(),
                    },
                    i,
                );
            }
        }
        if no_final && !terminated {
            on_fr_timeout(
                &rt,
                &TxRef {
                    state: st.clone(),
                    entry,
                },
            );
        }
    }
}

// ------------------------------------------------------------------ fixups

/// A route name given as a static string, resolved at load.
fn route_fixup(kind: &'static str) -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(move |fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let name = src.text.trim();
        let map = match kind {
            "failure_route" => &fx.routes.failure,
            "onreply_route" => &fx.routes.onreply,
            "branch_route" => &fx.routes.branch,
            _ => &fx.routes.route,
        };
        if name.is_empty() || name == "0" {
            // Kamailio: "" or "0" disarms (no route)
            return Ok(Arg::Custom(Box::new(None::<RouteRef>)));
        }
        match map.get(name) {
            Some(id) => Ok(Arg::Custom(Box::new(Some(RouteRef::Native(*id))))),
            None => Ok(undefined_route(fx, kind, name)),
        }
    }))
}

/// A route name with no block: Kamailio 5.6 loads the config with a warning
/// ("empty/non existing route") and arms an empty route, so `t_is_set` is true
/// and nothing runs. The warning carries the argument's file:line.
fn undefined_route(fx: &mut FixupCtx<'_, Ctx>, kind: &str, name: &str) -> Arg<Ctx> {
    fx.warnings.push(format!(
        "{kind}[{name}] is not defined: armed as an empty route"
    ));
    Arg::Custom(Box::new(Some(RouteRef::Empty)))
}

/// The route a `t_on_*` argument arms; `Some(None)` disarms.
fn route_arg(a: &Arg<Ctx>) -> Option<Option<RouteRef>> {
    match a {
        Arg::Custom(b) => b.downcast_ref::<Option<RouteRef>>().copied(),
        _ => None,
    }
}

/// tm's state for another module, resolved at load from one of its fixups
/// (evapi_async_relay, async): `let tm = tm::tm_api(fx)?;`, then
/// [`suspend`] / [`continue_tx`] at run time. Err when tm is not loaded.
pub fn tm_api(fx: &mut FixupCtx<'_, Ctx>) -> Result<Arc<TmState>, String> {
    let registry = fx.registry;
    let fix = registry
        .functions
        .get(API_FUNC)
        .and_then(|v| v.first())
        .and_then(|f| match f.params.first() {
            Some(ParamKind::Custom(fix)) => Some(fix.clone()),
            _ => None,
        })
        .ok_or_else(|| "tm is not loaded: add loadmodule \"tm.so\"".to_string())?;
    let src = ArgSrc {
        text: String::new(),
        quoted: true,
        int: None,
    };
    match fix(fx, &src)? {
        Arg::Custom(b) => b
            .downcast::<Arc<TmState>>()
            .map(|b| *b)
            .map_err(|_| "tm API mismatch".to_string()),
        _ => Err("tm API mismatch".into()),
    }
}

pub(crate) const API_FUNC: &str = "__tm_api";

/// What `t_continue`'s route argument fixes up to.
struct ContinueTarget {
    state: Arc<TmState>,
    route: ContinueRoute,
}

/// The route `t_continue` resumes in: resolved at load, or (when the name holds
/// pseudo-variables, as in `t_continue("$var(i)", "$var(l)", "$var(rname)")`)
/// looked up by name when the call runs.
enum ContinueRoute {
    Static(RouteId),
    Dynamic(siprd_script::pv::Format<Ctx>),
}

// ------------------------------------------------------------------ PVs

#[derive(Clone, Copy)]
enum TField {
    IdIndex,
    IdLabel,
    ReplyCode,
    ReplyReason,
    BranchIndex,
    ReplyType,
    BranchFlags,
    BranchUri,
}

struct TPv(TField);

/// `$T_reply_ruid`: the usrloc record id of the branch a reply (onreply) or
/// the winning reply (failure route) came from: empty, since siprd has no
/// usrloc to give branches one; elsewhere the read fails, as Kamailio.
struct TPvReplyRuid;

impl PvImpl<Ctx> for TPvReplyRuid {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        self.try_get(ctx, idx).unwrap_or(Value::Null)
    }

    fn try_get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Option<Value> {
        let in_reply_route = ctx.exec.route_type & (route_type::ONREPLY | route_type::FAILURE) != 0;
        (in_reply_route && ctx.tm.tx.is_some()).then(|| Value::Str(Bytes::new()))
    }
}

/// `$T_reply_last`: the code of the reply being handled in an onreply
/// route; elsewhere the read fails (Kamailio 5.6.3 prints nothing for it in
/// a failure route too, observed).
struct TPvReplyLast;

impl PvImpl<Ctx> for TPvReplyLast {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        self.try_get(ctx, idx).unwrap_or(Value::Null)
    }

    fn try_get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Option<Value> {
        if ctx.exec.route_type & route_type::ONREPLY == 0 {
            return None;
        }
        ctx.msg.status().map(|s| Value::Int(i32::from(s)))
    }
}

/// `$T_reply_code`, `$T(reply_code)`: in request_route, before the script
/// took the request into a transaction, Kamailio looks the transaction up
/// for the read: a retransmission reads the last code sent, an ACK its
/// INVITE's, a retransmitted CANCEL its own `200`. siprd reads it the same
/// without keeping the transaction for the message (Kamailio keeps it, and
/// a `t_relay()` after the read then relays a retransmission again).
struct TPvReplyCode {
    st: Arc<TmState>,
}

impl PvImpl<Ctx> for TPvReplyCode {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        if ctx.tm.tx.is_none()
            && ctx.msg.is_request()
            && !ctx.faked
            && ctx.exec.route_type == route_type::REQUEST
        {
            let found = siprd_sip::txkey::server_tx_key(&ctx.msg)
                .ok()
                .and_then(|k| self.st.table.lookup(&k));
            if let Some(e) = found {
                return Value::Int(i32::from(e.inner.lock().uas.last_code()));
            }
        }
        TPv(TField::ReplyCode).get(ctx, idx)
    }
}

/// `$T(id_index_n)` / `$T(id_label_n)`.
struct TPvCreate {
    st: Arc<TmState>,
    label: bool,
}

impl PvImpl<Ctx> for TPvCreate {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        if ctx.tm.tx.is_none()
            && ctx.msg.is_request()
            && !ctx.faked
            && ctx.exec.route_type == route_type::REQUEST
        {
            newtran(&self.st, ctx);
        }
        ctx.tm.tx.as_ref().map_or(Value::Null, |t| {
            Value::Int(if self.label {
                t.entry.label as i32
            } else {
                t.entry.index as i32
            })
        })
    }
}

impl PvImpl<Ctx> for TPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        match self.0 {
            TField::IdIndex => ctx
                .tm
                .tx
                .as_ref()
                .map_or(Value::Null, |t| Value::Int(t.entry.index as i32)),
            TField::IdLabel => ctx
                .tm
                .tx
                .as_ref()
                .map_or(Value::Null, |t| Value::Int(t.entry.label as i32)),
            // request and branch routes: the last reply sent upstream
            TField::ReplyCode
                if ctx.msg.is_request()
                    && ctx.exec.route_type & (route_type::REQUEST | route_type::BRANCH) != 0 =>
            {
                Value::Int(
                    ctx.tm
                        .tx
                        .as_ref()
                        .map_or(0, |t| i32::from(t.entry.inner.lock().uas.last_code())),
                )
            }
            // The core reply_route runs before tm matches the reply: Kamailio
            // reads the reply itself, and no branch (-1).
            TField::ReplyCode if ctx.exec.route_type == route_type::CORE_ONREPLY => {
                Value::Int(ctx.msg.status().map_or(0, i32::from))
            }
            TField::ReplyReason if ctx.exec.route_type == route_type::CORE_ONREPLY => {
                Value::Str(Bytes::copy_from_slice(ctx.msg.reason()))
            }
            TField::BranchIndex if ctx.exec.route_type == route_type::CORE_ONREPLY => {
                Value::Int(-1)
            }
            TField::ReplyCode => Value::Int(ctx.tm.reply_code),
            // Kamailio: only onreply and failure routes have one; elsewhere
            // an empty value
            TField::ReplyReason => Value::Str(
                if ctx.exec.route_type & (route_type::ONREPLY | route_type::FAILURE) != 0 {
                    ctx.tm.reply_reason.clone()
                } else {
                    Bytes::new()
                },
            ),
            // 1: the failure route's reply is tm's own (a timeout), else 0
            TField::ReplyType => match &ctx.tm.tx {
                None => Value::Null,
                Some(_) if ctx.exec.route_type != route_type::FAILURE => Value::Int(0),
                Some(t) => {
                    let inner = t.entry.inner.lock();
                    let faked = inner
                        .best
                        .and_then(|b| inner.uacs.get(b))
                        .is_some_and(|u| u.reply.is_none());
                    Value::Int(i32::from(faked))
                }
            },
            TField::BranchFlags | TField::BranchUri => t_branch(ctx, self.0),
            // Kamailio: -1 in onsend_route, whatever is being sent.
            TField::BranchIndex if ctx.exec.route_type == route_type::ONSEND => Value::Int(-1),
            // A reply, branch_route and tm:branch-failure: the branch's own
            // index; request_route: the branches added so far; failure_route:
            // the outgoings so far plus the branches added in it (the index
            // the next new branch gets); elsewhere -1 (as Kamailio).
            TField::BranchIndex if !ctx.msg.is_request() => Value::Int(ctx.tm.branch_idx),
            TField::BranchIndex => match ctx.exec.route_type {
                route_type::BRANCH | route_type::BRANCH_FAILURE => Value::Int(ctx.tm.branch_idx),
                route_type::REQUEST => Value::Int(ctx.branches.len() as i32),
                route_type::FAILURE => match ctx.tm.tx.as_ref() {
                    Some(t) => Value::Int(
                        t.entry.inner.lock().next_branch_no() as i32 + ctx.branches.len() as i32,
                    ),
                    None => Value::Null,
                },
                _ => Value::Int(-1),
            },
        }
    }
}

/// `$T_branch(flags)` / `$T_branch(uri)`: the branch that answered
/// (onreply_route) or ended (failure routes; flags only, as Kamailio).
fn t_branch(ctx: &Ctx, f: TField) -> Value {
    let Some(t) = &ctx.tm.tx else {
        return Value::Null;
    };
    let inner = t.entry.inner.lock();
    let reply = !ctx.msg.is_request() && ctx.exec.route_type & route_type::TM_ONREPLY != 0;
    let u = if reply {
        inner.uacs.iter().find(|u| u.no as i32 == ctx.tm.branch_idx)
    } else if ctx.exec.route_type & (route_type::FAILURE | route_type::BRANCH_FAILURE) != 0 {
        inner.best.and_then(|b| inner.uacs.get(b))
    } else {
        None
    };
    match (u, f) {
        (Some(u), TField::BranchFlags) => Value::Int(u.flags as i32),
        (Some(u), TField::BranchUri) if reply => Value::Str(u.uri.clone()),
        _ => Value::Null,
    }
}

/// `$T_req(pv)` / `$T_rpl(pv)`: a PV read on the transaction's request or on
/// its winning reply.
struct TMsgPv {
    spec: siprd_script::pv::PvSpec<Ctx>,
    reply: bool,
}

impl PvImpl<Ctx> for TMsgPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        // As Kamailio: $T_req only while a reply is being processed
        // (onreply_route), $T_rpl only in failure_route and
        // tm:branch-failure; null elsewhere.
        if self.reply {
            if ctx.exec.route_type & (route_type::FAILURE | route_type::BRANCH_FAILURE) == 0 {
                return Value::Null;
            }
        } else if ctx.msg.is_request() || ctx.faked {
            return Value::Null;
        }
        let Some(tx) = ctx.tm.tx.clone() else {
            return Value::Null;
        };
        let bytes = {
            let inner = tx.entry.inner.lock();
            if self.reply {
                inner
                    .best
                    .and_then(|b| inner.uacs.get(b))
                    .and_then(|u| u.reply.clone())
            } else {
                Some(inner.req.clone())
            }
        };
        let Some(msg) = bytes.and_then(|b| Message::parse(b).ok()) else {
            return Value::Null;
        };
        // Read on a context of its own: the current message, its edits and
        // URIs stay untouched (the PV may cache parsed headers in the context).
        let rcv = tx.entry.inner.lock().rcv;
        let read = |c: &mut Ctx| {
            c.reset(msg, false, rcv);
            c.tm.tx = Some(tx.clone());
            let v = self.spec.get(c);
            c.tm = TmCtx::default();
            v
        };
        PV_CTX.with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => {
                let c = slot.get_or_insert_with(|| Ctx::new(ctx.rt.clone()));
                if !Arc::ptr_eq(&c.rt, &ctx.rt) {
                    *c = Ctx::new(ctx.rt.clone());
                }
                read(c)
            }
            Err(_) => read(&mut Ctx::new(ctx.rt.clone())),
        })
    }
}

thread_local! {
    /// The context `$T_req` / `$T_rpl` read their message in.
    static PV_CTX: std::cell::RefCell<Option<Ctx>> = const { std::cell::RefCell::new(None) };
}

fn add_msg_pv(reg: &mut Registry<Ctx>, name: &'static str, reply: bool) {
    reg.add_pv(PvClassDef {
        name,
        module: "tm",
        parse: Arc::new(move |fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let text = inner
                .map(str::trim)
                .filter(|t| t.starts_with('$'))
                .ok_or_else(|| format!("`${name}` needs a pseudo-variable: ${name}($rs)"))?;
            let (spec, _) = siprd_script::pv::parse_pv(fx, text)?;
            Ok(Box::new(TMsgPv { spec, reply }) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}

fn add_simple_pv(reg: &mut Registry<Ctx>, name: &'static str, module: &'static str, field: TField) {
    reg.add_pv(PvClassDef {
        name,
        module,
        parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            if inner.is_some() {
                return Err(format!("`${name}` takes no name"));
            }
            Ok(Box::new(TPv(field)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}

fn def(
    name: &'static str,
    module: &'static str,
    params: Vec<ParamKind<Ctx>>,
    routes: RouteMask,
    call: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module,
        params,
        routes,
        call,
    }
}

impl Module for Tm {
    fn name(&self) -> &'static str {
        "tm"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        let int = |name| ModParamDecl {
            name,
            ty: ModParamType::Int,
        };
        let mut v = vec![
            int("fr_timer"),
            int("fr_inv_timer"),
            int("wt_timer"),
            int("retr_timer1"),
            int("retr_timer2"),
            int("max_inv_lifetime"),
            int("max_noninv_lifetime"),
            int("auto_inv_100"),
            ModParamDecl {
                name: "auto_inv_100_reason",
                ty: ModParamType::Str,
            },
            int("restart_fr_on_each_reply"),
            int("failure_reply_mode"),
            int("e2e_cancel_reason"),
            int("local_cancel_reason"),
            int("disable_6xx_block"),
            int("remap_503_500"),
            int("aggregate_challenges"),
            ModParamDecl {
                name: "event_callback",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "event_callback_lres_sent",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "contacts_avp",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "contact_flows_avp",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "fr_timer_avp",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "fr_inv_timer_avp",
                ty: ModParamType::Str,
            },
        ];
        // Accepted for compatibility; siprd's behaviour does not depend on them.
        v.extend(IGNORED_PARAMS.iter().map(|&name| ModParamDecl {
            name,
            ty: ModParamType::Any,
        }));
        v
    }

    fn events(&self) -> Vec<&'static str> {
        vec![
            "tm:local-request",
            "tm:local-response",
            "tm:branch-failure:",
        ]
    }

    fn set_param(&mut self, name: &str, v: &Value) -> Result<(), String> {
        let mut c = self.state.table.cfg.write();
        match name {
            "fr_timer" => c.fr = ms_param(v, name)?,
            "fr_timer_avp" | "fr_inv_timer_avp" => {
                let spec = String::from_utf8_lossy(&v.to_bytes()).into_owned();
                let avp = if spec.trim().is_empty() {
                    None
                } else {
                    Some(
                        crate::modules::pv::vars::AvpName::from_spec(&spec)
                            .ok_or_else(|| format!("tm: {name} `{spec}` is not an $avp(name)"))?,
                    )
                };
                if name == "fr_timer_avp" {
                    c.fr_timer_avp = avp;
                } else {
                    c.fr_inv_timer_avp = avp;
                }
            }
            "fr_inv_timer" => c.fr_inv = ms_param(v, name)?,
            "wt_timer" => c.wt = ms_param(v, name)?,
            "retr_timer1" => c.t1 = ms_param(v, name)?,
            "retr_timer2" => c.t2 = ms_param(v, name)?,
            "max_inv_lifetime" => c.max_inv_lifetime = ms_param(v, name)?,
            "max_noninv_lifetime" => c.max_noninv_lifetime = ms_param(v, name)?,
            "auto_inv_100" => c.auto_inv_100 = v.to_int() != 0,
            "auto_inv_100_reason" => {
                c.auto_inv_100_reason = String::from_utf8_lossy(&v.to_bytes()).into_owned()
            }
            "restart_fr_on_each_reply" => c.restart_fr_on_each_reply = v.to_int() != 0,
            "e2e_cancel_reason" => c.e2e_cancel_reason = v.to_int() != 0,
            "local_cancel_reason" => c.local_cancel_reason = v.to_int() != 0,
            "disable_6xx_block" => c.disable_6xx_block = v.to_int() != 0,
            "remap_503_500" => c.remap_503_500 = v.to_int() != 0,
            "aggregate_challenges" => c.aggregate_challenges = v.to_int() != 0,
            "failure_reply_mode" => {
                c.failure_reply_mode = match v.try_int() {
                    Some(0) => b'n',
                    Some(1) | Some(3) => b'a',
                    Some(2) => b'l',
                    _ => return Err("failure_reply_mode must be 0, 1, 2 or 3".into()),
                }
            }
            "contacts_avp" | "contact_flows_avp" => {
                let b = v.to_bytes();
                let b = (!b.is_empty()).then_some(b);
                if name == "contacts_avp" {
                    c.contacts_avp = b;
                } else {
                    c.contact_flows_avp = b;
                }
            }
            // KEMI: read from the config by `Runtime::event` (tm:* events)
            "event_callback" | "event_callback_lres_sent" => {}
            n if IGNORED_PARAMS.contains(&n) => {
                tracing::debug!("tm: parameter `{n}` accepted and ignored");
            }
            _ => return Err(format!("module `tm` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &crate::module::CoreSettings) -> Result<(), String> {
        let c = self.state.table.cfg.read();
        if c.t1.is_zero() || c.t2 < c.t1 {
            return Err("retr_timer1 must be > 0 and <= retr_timer2".into());
        }
        if c.contacts_avp.is_some() && c.contact_flows_avp.is_none() {
            return Err("contact_flows_avp param has not been defined".into());
        }
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let req_fail = route_type::REQUEST | route_type::FAILURE;
        serial::register(reg, &self.state);
        replicate::register(reg, &self.state);
        uac::register(reg, &self.state);
        let st = self.state.clone();
        reg.add_function(def(
            API_FUNC,
            "tm",
            vec![ParamKind::Custom(Arc::new(
                move |_fx: &mut FixupCtx<'_, Ctx>, _s: &ArgSrc| {
                    Ok(Arg::Custom(Box::new(st.clone())))
                },
            ))],
            0,
            func(|_c: &mut Ctx, _a: &[Arg<Ctx>]| -1),
        ));

        let st = self.state.clone();
        reg.add_function(def(
            "t_newtran",
            "tm",
            vec![],
            route_type::REQUEST,
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                if ctx.tm.tx.is_some() && ctx.msg.is_request() && !ctx.faked {
                    // Kamailio: a second t_newtran for the same request fails (-10)
                    tracing::error!("t_newtran: the transaction already exists");
                    return -10;
                }
                newtran(&st, ctx)
            }),
        ));

        let st = self.state.clone();
        reg.add_function(def(
            "t_check_trans",
            "tm",
            vec![],
            route_type::REQUEST | route_type::BRANCH | route_type::ONREPLY,
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| check_trans(&st, ctx)),
        ));

        let t_reply = |create: bool, st: Arc<TmState>| {
            func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                // a code that is no integer sends 500 (as Kamailio, which
                // logs the failed conversion and replies anyway)
                let code = int_arg(ctx, &a[0]).unwrap_or_else(|| {
                    tracing::error!("t_reply: the code is not an integer: 500 sent");
                    500
                });
                let reason = str_arg(ctx, &a[1]).unwrap_or_default();
                if ctx.exec.route_type & route_type::BRANCH_FAILURE != 0 {
                    // Kamailio 5.6: refused there ("unsupported mode"), nothing
                    // sent; the transaction goes on (its failure route runs)
                    tracing::error!("t_reply: unsupported in event_route[tm:branch-failure]");
                    return -1;
                }
                if !ctx.msg.is_request() {
                    // onreply_route: the transaction's request is answered
                    // and its pending branches cancelled (as Kamailio)
                    return reply_from_onreply(ctx, code, &reason);
                }
                if ctx.tm.tx.is_none() && create {
                    let r = newtran(&st, ctx);
                    if r != 1 {
                        return r;
                    }
                }
                match ctx.tm.tx.clone() {
                    Some(tx) => reply_in_tx(ctx, &tx, code, &reason, true),
                    None => {
                        tracing::error!("t_reply: cannot send a t_reply to a message for which no transaction has been established");
                        -1
                    }
                }
            })
        };
        reg.add_function(def(
            "t_reply",
            "tm",
            vec![ParamKind::IntOrPv, ParamKind::PvOrStr],
            req_fail | route_type::ONREPLY,
            t_reply(false, self.state.clone()),
        ));
        reg.add_function(def(
            "t_send_reply",
            "tm",
            vec![ParamKind::IntOrPv, ParamKind::PvOrStr],
            req_fail | route_type::ONREPLY,
            t_reply(true, self.state.clone()),
        ));

        reg.add_function(def(
            "t_release",
            "tm",
            vec![],
            route_type::REQUEST,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                // Kamailio: -1 and the transaction kept anywhere but in a
                // request route (a sub-route called from failure, reply or
                // branch routes)
                if ctx.exec.route_type != route_type::REQUEST {
                    return -1;
                }
                // Kamailio 5.6: 1 without a transaction too. A released
                // transaction stops retransmitting (its reply, its branches)
                // and waiting (no timeout), then lingers wt_timer: it still
                // absorbs retransmissions, takes a t_reply and relays a late
                // branch reply.
                let Some(tx) = ctx.tm.tx.clone() else {
                    return 1;
                };
                let now = Instant::now();
                let mut inner = tx.entry.inner.lock();
                inner.uas.release(now);
                for u in inner.uacs.iter_mut() {
                    u.tx.release();
                    if let Some(c) = u.cancel.as_mut() {
                        c.tx.release();
                    }
                }
                tx.state.table.schedule(&tx.entry, &mut inner);
                1
            }),
        ));

        let st = self.state.clone();
        reg.add_function(def(
            "t_suspend",
            "tm",
            vec![],
            route_type::ANY,
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                if ctx.exec.route_type & (route_type::BRANCH | route_type::ONSEND) != 0 {
                    tracing::error!("t_suspend: not in branch_route or onsend_route");
                    return -1;
                }
                suspend(&st, ctx)
            }),
        ));

        for (name, kind) in [
            ("t_on_failure", "failure_route"),
            ("t_on_reply", "onreply_route"),
            ("t_on_branch", "branch_route"),
        ] {
            reg.add_function(def(
                name,
                "tm",
                vec![route_fixup(kind)],
                // Kamailio 5.6: t_on_branch in request and failure routes,
                // the others also in tm onreply and branch routes
                if kind == "branch_route" {
                    route_type::REQUEST | route_type::FAILURE
                } else {
                    TX_ROUTES
                },
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(route) = route_arg(&a[0]) else {
                        return -1;
                    };
                    match kind {
                        "failure_route" => ctx.tm.on_failure = route,
                        "onreply_route" => ctx.tm.on_reply = route,
                        _ => ctx.tm.on_branch = route,
                    }
                    if let Some(tx) = &ctx.tm.tx {
                        let mut inner = tx.entry.inner.lock();
                        match kind {
                            "failure_route" => inner.on_failure = route,
                            "onreply_route" => inner.on_reply = route,
                            _ => inner.on_branch = route,
                        }
                    }
                    1
                }),
            ));
        }

        reg.add_function(def(
            "t_on_branch_failure",
            "tm",
            vec![ParamKind::Custom(Arc::new(
                |fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
                    let short = src.text.trim();
                    if short.is_empty() || short == "0" {
                        return Ok(Arg::Custom(Box::new(None::<RouteRef>)));
                    }
                    let name = format!("tm:branch-failure:{short}");
                    match fx.routes.event.get(&name) {
                        Some(id) => Ok(Arg::Custom(Box::new(Some(RouteRef::Native(*id))))),
                        None => Ok(undefined_route(fx, "event_route", &name)),
                    }
                },
            ))],
            TX_ROUTES,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(route) = route_arg(&a[0]) else {
                    return -1;
                };
                ctx.tm.on_branch_failure = route;
                if let Some(tx) = &ctx.tm.tx {
                    tx.entry.inner.lock().on_branch_failure = route;
                }
                1
            }),
        ));
        reg.add_function(def(
            "t_check_status",
            "tm",
            vec![ParamKind::Regex],
            route_type::REQUEST | route_type::FAILURE | route_type::ONREPLY,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Arg::Regex(re) = &a[0] else { return -1 };
                let code = if ctx.tm.reply_code > 0 {
                    ctx.tm.reply_code
                } else if !ctx.msg.is_request() {
                    ctx.msg.status().map_or(0, i32::from)
                } else {
                    ctx.tm
                        .tx
                        .as_ref()
                        .map_or(0, |t| i32::from(t.entry.inner.lock().uas.last_code()))
                };
                if re.is_match(code.to_string().as_bytes()) {
                    1
                } else {
                    -1
                }
            }),
        ));

        let relay_routes = route_type::REQUEST | route_type::FAILURE;
        let st = self.state.clone();
        reg.add_function(def(
            "t_relay",
            "tm",
            vec![],
            relay_routes,
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| relay::t_relay(&st, ctx, None, None, None)),
        ));
        // tls and sctp: siprd has no such sockets, so the branch fails (-7,
        // tm answers 500) as in Kamailio without such a listener
        for (name, proto) in [
            ("t_relay", None),
            ("t_relay_to_udp", Some(Transport::Sock(Proto::Udp))),
            ("t_relay_to_tcp", Some(Transport::Sock(Proto::Tcp))),
            ("t_relay_to_tls", Some(Transport::Unavailable("tls"))),
            ("t_relay_to_sctp", Some(Transport::Unavailable("sctp"))),
        ] {
            let st = self.state.clone();
            reg.add_function(def(
                name,
                "tm",
                vec![ParamKind::StrOrPv, ParamKind::IntOrPv],
                relay_routes,
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(host) = str_arg(ctx, &a[0]) else {
                        return -1;
                    };
                    let port = int_arg(ctx, &a[1]).and_then(|p| u16::try_from(p).ok());
                    relay::t_relay(&st, ctx, Some(&host), port, proto)
                }),
            ));
            if name != "t_relay" {
                let st = self.state.clone();
                reg.add_function(def(
                    name,
                    "tm",
                    vec![],
                    relay_routes,
                    func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                        relay::t_relay(&st, ctx, None, None, proto)
                    }),
                ));
            }
        }

        // t_forward_nonack*: request_route only, host and port constants
        // (Kamailio resolves them at load).
        for (name, proto) in [
            ("t_forward_nonack", None),
            ("t_forward_nonack_udp", Some(Transport::Sock(Proto::Udp))),
            ("t_forward_nonack_tcp", Some(Transport::Sock(Proto::Tcp))),
            ("t_forward_nonack_tls", Some(Transport::Unavailable("tls"))),
            (
                "t_forward_nonack_sctp",
                Some(Transport::Unavailable("sctp")),
            ),
        ] {
            let st = self.state.clone();
            reg.add_function(def(
                name,
                "tm",
                vec![ParamKind::Str, ParamKind::Int],
                route_type::REQUEST,
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(host) = str_arg(ctx, &a[0]) else {
                        return -1;
                    };
                    let port = int_arg(ctx, &a[1]).and_then(|p| u16::try_from(p).ok());
                    relay::forward_nonack(&st, ctx, Some(&host), port, proto)
                }),
            ));
        }
        let st = self.state.clone();
        reg.add_function(def(
            "t_forward_nonack_uri",
            "tm",
            vec![],
            route_type::REQUEST,
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                relay::forward_nonack(&st, ctx, None, None, None)
            }),
        ));

        self.register_queries(reg);
        knobs::register(&self.state, reg);
        tmx::register_tm(&self.state, reg);

        add_msg_pv(reg, "T_req", false);
        add_msg_pv(reg, "T_rpl", true);
        let st = self.state.clone();
        reg.add_pv(PvClassDef {
            name: "T_reply_code",
            module: "tm",
            parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                if inner.is_some() {
                    return Err("`$T_reply_code` takes no name".into());
                }
                Ok(Box::new(TPvReplyCode { st: st.clone() }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
        add_simple_pv(reg, "T_reply_reason", "tm", TField::ReplyReason);
        reg.add_pv(PvClassDef {
            name: "T_reply_last",
            module: "tmx",
            parse: Arc::new(
                |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| match inner {
                    None => Ok(Box::new(TPvReplyLast) as Box<dyn PvImpl<Ctx>>),
                    Some(_) => Err("`$T_reply_last` takes no name".into()),
                },
            ),
        });
        reg.add_pv(PvClassDef {
            name: "T_reply_ruid",
            module: "tmx",
            parse: Arc::new(
                |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| match inner {
                    None => Ok(Box::new(TPvReplyRuid) as Box<dyn PvImpl<Ctx>>),
                    Some(_) => Err("`$T_reply_ruid` takes no name".into()),
                },
            ),
        });
        add_simple_pv(reg, "T_branch_idx", "tm", TField::BranchIndex);
        reg.add_pv(PvClassDef {
            name: "T_branch",
            module: "tmx",
            parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let f = match inner.map(str::trim) {
                    Some("flags") => TField::BranchFlags,
                    Some("uri") => TField::BranchUri,
                    other => {
                        return Err(format!(
                            "unknown $T_branch field `{}` (flags, uri)",
                            other.unwrap_or_default()
                        ))
                    }
                };
                Ok(Box::new(TPv(f)) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }

    fn rpc(&self, rpc: &mut crate::rpc::RpcRegistry) {
        uac::rpc(&self.state, rpc);
        tmx::rpc(&self.state, rpc);
    }

    fn hooks(&self, hooks: &mut crate::runtime::Hooks) {
        let st = self.state.clone();
        hooks
            .reply
            .push(Arc::new(move |ctx: &mut Ctx| relay::on_reply(&st, ctx)));
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.state.local_response.set(rt.event("tm:local-response"));
        let _ = self.state.local_request.set(rt.event("tm:local-request"));
        let _ = self.state.rt.set(Arc::downgrade(rt));
        let (st, rt) = (self.state.clone(), rt.clone());
        let h = std::thread::Builder::new()
            .name("tm-timer".into())
            .spawn(move || timer_loop(st, rt))
            .map_err(|e| format!("cannot start the tm timer thread: {e}"))?;
        *self.state.timer.lock() = Some(h);
        Ok(())
    }

    fn stop(&self) {
        self.state.table.wake();
        if let Some(h) = self.state.timer.lock().take() {
            let _ = h.join();
        }
    }
}

/// Read something of the context's transaction (false without one).
fn with_inner(ctx: &Ctx, f: impl FnOnce(&TxInner) -> bool) -> i32 {
    match &ctx.tm.tx {
        Some(tx) if f(&tx.entry.inner.lock()) => 1,
        _ => -1,
    }
}

impl Tm {
    /// The functions that ask about the transaction's state.
    fn register_queries(&self, reg: &mut Registry<Ctx>) {
        let any = TX_ROUTES;
        type Query = fn(&TxInner) -> bool;
        let queries: [(&'static str, Query); 6] = [
            ("t_is_canceled", |i| i.canceled),
            ("t_is_expired", |i| {
                i.end_of_life.is_some_and(|t| Instant::now() >= t)
            }),
            ("t_branch_timeout", |i| {
                i.best
                    .and_then(|b| i.uacs.get(b))
                    .is_some_and(|u| u.code == 408 && u.reply.is_none())
            }),
            ("t_branch_replied", |i| {
                i.best
                    .and_then(|b| i.uacs.get(b))
                    .is_some_and(|u| u.replied)
            }),
            ("t_any_timeout", |i| {
                i.uacs.iter().any(|u| u.code == 408 && u.reply.is_none())
            }),
            ("t_any_replied", |i| i.uacs.iter().any(|u| u.replied)),
        ];
        for (name, q) in queries {
            // the branch that ended: request and failure routes (Kamailio
            // 5.6.3 exports them with bit 0x200 too, a route type its core
            // never uses)
            let routes = if name.starts_with("t_branch_") {
                route_type::REQUEST | route_type::FAILURE | 0x200
            } else {
                any
            };
            reg.add_function(def(
                name,
                "tm",
                vec![],
                routes,
                func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| with_inner(ctx, q)),
            ));
        }
        reg.add_function(def(
            "t_grep_status",
            "tm",
            vec![int_or_bare_pv()],
            TX_ROUTES,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(code) = int_arg(ctx, &a[0]) else {
                    return -1;
                };
                // a branch whose last reply has that code, among the branches
                // that had a provisional reply (Kamailio 5.6)
                with_inner(ctx, |i| {
                    i.uacs
                        .iter()
                        .any(|u| u.replied && i32::from(u.last) == code)
                })
            }),
        ));
        let st = self.state.clone();
        reg.add_function(def(
            "t_lookup_request",
            "tm",
            vec![],
            route_type::REQUEST,
            func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                let Ok(key) = siprd_sip::txkey::server_tx_key(&ctx.msg) else {
                    return -1;
                };
                if st.table.lookup(&key).is_some() {
                    1
                } else {
                    -1
                }
            }),
        ));
        for params in [
            vec![int_or_bare_pv()],
            vec![int_or_bare_pv(), int_or_bare_pv()],
        ] {
            reg.add_function(def(
                "t_set_fr",
                "tm",
                params,
                any,
                func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    // 0 leaves that timer to its parameter (Kamailio 5.6.3:
                    // `t_set_fr(0, 2000)` gives a 2 s fr_timer).
                    let ms = |v: Option<i32>| {
                        v.filter(|v| *v > 0)
                            .map(|v| Duration::from_millis(v as u64))
                    };
                    let Some(inv) = int_arg(ctx, &a[0]).filter(|v| *v >= 0) else {
                        tracing::error!("t_set_fr: invalid fr_inv_timeout");
                        return -1;
                    };
                    let fr = match a.get(1) {
                        Some(x) => ms(int_arg(ctx, x)),
                        None => None,
                    };
                    let fr_inv = ms(Some(inv));
                    if fr_inv.is_none() && fr.is_none() {
                        knobs::set_fr(ctx, None, None);
                    } else {
                        knobs::set_fr(ctx, fr_inv, fr);
                    }
                    1
                }),
            ));
        }
        reg.add_function(def(
            "t_reset_fr",
            "tm",
            vec![],
            any,
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                knobs::set_fr(ctx, None, None);
                1
            }),
        ));
    }
}

impl Module for Tmx {
    fn name(&self) -> &'static str {
        "tmx"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let target = ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
            let name = src.text.trim().to_string();
            let route = if name.contains('$') {
                ContinueRoute::Dynamic(siprd_script::pv::parse_format(fx, &name)?)
            } else {
                match fx.routes.route.get(&name).copied() {
                    Some(id) => ContinueRoute::Static(id),
                    None => {
                        // Kamailio loads it and fails at run time (-1, the
                        // transaction untouched): looked up when called.
                        fx.warnings.push(format!(
                            "route[{name}] is not defined: t_continue will fail (-1)"
                        ));
                        ContinueRoute::Dynamic(siprd_script::pv::parse_format(fx, &name)?)
                    }
                }
            };
            let registry = fx.registry;
            let api = registry
                .functions
                .get(API_FUNC)
                .and_then(|v| v.first())
                .and_then(|f| match f.params.first() {
                    Some(ParamKind::Custom(fix)) => Some(fix.clone()),
                    _ => None,
                });
            let Some(fix) = api else {
                return Err("t_continue needs loadmodule \"tm.so\"".into());
            };
            let state = match fix(fx, src)? {
                Arg::Custom(b) => b
                    .downcast::<Arc<TmState>>()
                    .map_err(|_| "tm API mismatch".to_string())?,
                _ => return Err("tm API mismatch".into()),
            };
            Ok(Arg::Custom(Box::new(ContinueTarget {
                state: *state,
                route,
            })))
        }));
        reg.add_function(def(
            "t_continue",
            "tmx",
            vec![ParamKind::IntOrPv, ParamKind::IntOrPv, target],
            route_type::ANY,
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Arg::Custom(b) = &a[2] else { return -1 };
                let Some(t) = b.downcast_ref::<ContinueTarget>() else {
                    return -1;
                };
                let (Some(index), Some(label)) = (int_arg(ctx, &a[0]), int_arg(ctx, &a[1])) else {
                    tracing::error!("t_continue: the transaction index and label must be integers");
                    return -1;
                };
                let route = match &t.route {
                    ContinueRoute::Static(id) => RouteRef::Native(*id),
                    ContinueRoute::Dynamic(f) => {
                        let name = f.eval(ctx);
                        let name = String::from_utf8_lossy(&name);
                        match ctx
                            .rt
                            .program
                            .route(siprd_script::ast::RouteKind::Route, &name)
                        {
                            Some(id) => RouteRef::Native(id),
                            None => {
                                tracing::error!("t_continue: route[{name}] is not defined");
                                return -1;
                            }
                        }
                    }
                };
                ctx.flush();
                let rt = ctx.rt.clone();
                continue_tx(&t.state, &rt, index, label, Resume::Route(route))
            }),
        ));
        tmx::register_tmx(reg);
        for (name, mask) in [
            ("t_is_failure_route", route_type::FAILURE),
            ("t_is_branch_route", route_type::BRANCH),
            ("t_is_reply_route", route_type::ONREPLY),
            ("t_is_request_route", route_type::REQUEST),
        ] {
            reg.add_function(def(
                name,
                "tmx",
                vec![],
                route_type::ANY,
                func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                    if ctx.exec.route_type & mask != 0 {
                        1
                    } else {
                        -1
                    }
                }),
            ));
        }
        reg.add_pv(PvClassDef {
            name: "T",
            module: "tmx",
            parse: Arc::new(move |fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                // `_n`: the transaction is created when there is none yet
                // (Kamailio 5.6: a t_newtran after it is then -10)
                let mut create = |label: bool| {
                    Ok(Box::new(TPvCreate {
                        st: tm_api(fx)?,
                        label,
                    }) as Box<dyn PvImpl<Ctx>>)
                };
                let f = match inner.map(str::trim) {
                    Some("id_index_n") => return create(false),
                    Some("id_label_n") => return create(true),
                    Some("id_index") => TField::IdIndex,
                    Some("id_label") => TField::IdLabel,
                    Some("reply_code") => {
                        return Ok(Box::new(TPvReplyCode { st: tm_api(fx)? }) as Box<dyn PvImpl<Ctx>>)
                    }
                    Some("reply_reason") => TField::ReplyReason,
                    Some("branch_index") => TField::BranchIndex,
                    Some("reply_type") => TField::ReplyType,
                    other => return Err(format!("unknown $T field `{}` (id_index, id_label, id_index_n, id_label_n, reply_code, reply_reason, branch_index, reply_type)", other.unwrap_or_default())),
                };
                Ok(Box::new(TPv(f)) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
}
