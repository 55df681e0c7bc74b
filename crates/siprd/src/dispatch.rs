//! The life of a received message: from the transport into the routes.
//!
//! ```text
//! datagram / TCP frame
//!   └─ parse (first line + header index) ── error ─→ event_route[core:receive-parse-error]
//!        │                                            (non-SIP data: nosip hook)
//!        ├─ HTTP request (`GET /x HTTP/1.1` + headers) ─→ non-SIP hooks only (xhttp)
//!        ├─ missing Via/From/To/Call-ID/CSeq, or a bad one read first (Message::validate_required) ─→ dropped, no route runs
//!        ├─ event_route[core:pre-routing]  (drop stops here)
//!        ├─ request: module hooks (sl ACK filter, tm) → request_route
//!        │           → end of processing: t_precheck_trans() mark dropped
//!        └─ reply:   reply_route → module hooks (tm matching) → forward by Via
//! ```

use crate::context::{Ctx, RcvInfo};
use crate::log::RateLimit;
use crate::runtime::{EventHandle, HookAction, Runtime};
use crate::transport::{Handler, Proto, Received, WorkerIo};
use parking_lot::{Condvar, Mutex};
use siprd_script::route_type;
use std::cell::RefCell;
use std::sync::Arc;

/// The transport's handler: runs the config for each message.
pub struct Dispatcher {
    rt: Arc<Runtime>,
    pre_routing: Option<EventHandle>,
    parse_error: Option<EventHandle>,
    worker_one_init: Option<EventHandle>,
    /// `event_route[core:msg-received]`, only when `received_route_mode` asks for it.
    msg_received: Option<EventHandle>,
    bad_message_log: RateLimit,
    missing_headers_log: RateLimit,
    /// Start-up gate: workers wait before their first message until the
    /// modules' start-up events have run (`Opened`) and the first worker has
    /// run `core:worker-one-init` (`Serving`).
    ready: (Mutex<Gate>, Condvar),
}

thread_local! {
    /// The context a worker thread reuses for every message it routes.
    static WORKER_CTX: RefCell<Option<Ctx>> = const { RefCell::new(None) };
}

impl Dispatcher {
    pub fn new(rt: Arc<Runtime>) -> Dispatcher {
        Dispatcher {
            pre_routing: rt.event("core:pre-routing"),
            parse_error: rt.event("core:receive-parse-error"),
            worker_one_init: rt.event("core:worker-one-init"),
            msg_received: if rt.settings.received_route_mode > 0 {
                rt.event("core:msg-received")
            } else {
                None
            },
            rt,
            bad_message_log: RateLimit::default(),
            missing_headers_log: RateLimit::default(),
            ready: (Mutex::new(Gate::Closed), Condvar::new()),
        }
    }

    /// Let the workers start (after the modules' start-up events). Without a
    /// `core:worker-one-init` route they take traffic at once.
    pub fn open(&self) {
        let next = if self.worker_one_init.is_some() {
            Gate::Opened
        } else {
            Gate::Serving
        };
        self.set_gate(next);
    }

    fn set_gate(&self, g: Gate) {
        *self.ready.0.lock() = g;
        self.ready.1.notify_all();
    }

    fn wait_for(&self, at_least: Gate) {
        let mut gate = self.ready.0.lock();
        while *gate < at_least && !self.rt.is_stopping() {
            self.ready
                .1
                .wait_for(&mut gate, std::time::Duration::from_millis(100));
        }
    }

    fn with_ctx<R>(&self, f: impl FnOnce(&mut Ctx) -> R) -> R {
        WORKER_CTX.with(|cell| {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(|| Ctx::new(self.rt.clone()));
            f(ctx)
        })
    }

    /// Data that is not routable SIP: non-SIP hooks (nosip) first, then, for
    /// real parse errors, `event_route[core:receive-parse-error]`.
    fn on_parse_error(&self, io: &mut WorkerIo, pkt: Received, refusal: Refusal) {
        let rcv = RcvInfo::of(&pkt);
        for hook in &self.rt.hooks.non_sip {
            if self.with_ctx(|ctx| ctx.with_io(io, |ctx| hook(ctx, &pkt))) == HookAction::Stop {
                return;
            }
        }
        // Another protocol's request line (HTTP) or another SIP version is
        // not a parse error for Kamailio: only non-SIP hooks see it.
        let parse_error = match &refusal {
            Refusal::Unparsable(_) => !looks_like_other_protocol(&pkt.data),
            _ => false,
        };
        if !parse_error {
            return;
        }
        if let Some(ev) = &self.parse_error {
            let data = pkt.data.clone();
            self.rt.raise_with(ev, route_type::EVENT, |ctx| {
                // As Kamailio: the route runs on the received data (its start
                // line did not parse: `$rm`, `$ru`, headers are null), not on
                // a faked request.
                ctx.msg = siprd_sip::Message::unparsed(data.clone());
                ctx.reset_keeping_msg(false, rcv);
                ctx.event = Some(Box::new(crate::modules::pv::RawPacket(data)));
            });
        } else if self.bad_message_log.allow() {
            tracing::warn!(
                "dropping unparsable message from {}:{}: {refusal}",
                pkt.proto,
                pkt.src
            );
        }
        close_stream(&self.rt, &rcv);
    }
}

/// Why a received message is not routed as SIP; only non-SIP hooks
/// (nosip, xhttp) may take it. Described only when logged.
enum Refusal {
    Unparsable(siprd_sip::ParseError),
    /// A bare first line.
    NoHeaders,
    /// HTTP on a SIP listener: xhttp may answer it, else it is dropped.
    Http,
    /// A request of another SIP version.
    OtherVersion,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Unparsable(e) => e.fmt(f),
            Refusal::NoHeaders => f.write_str("no headers"),
            Refusal::Http => f.write_str("HTTP request"),
            Refusal::OtherVersion => f.write_str("not SIP/2.0"),
        }
    }
}

/// Stages of start-up, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Gate {
    Closed,
    Opened,
    Serving,
}

/// True for stream keep-alives and other whitespace-only data.
fn is_keepalive(data: &[u8]) -> bool {
    data.iter()
        .all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
}

impl Handler for Dispatcher {
    fn on_worker_start(&self, io: &mut WorkerIo) {
        self.wait_for(Gate::Opened);
        if io.rank() == 1 {
            if let Some(ev) = &self.worker_one_init {
                // Not when the start failed (modules stopping): Kamailio never
                // forks its workers then.
                if !self.rt.is_stopping() && self.rt.raise(ev, None).dropped {
                    // As Kamailio: the worker exits and the server with it.
                    tracing::error!("exit due to 'drop' in event_route[core:worker-one-init]");
                    self.rt.begin_stop();
                    // SAFETY: kill(2) on our own pid with SIGTERM: the main
                    // thread's signal wait then stops the server as usual.
                    unsafe {
                        libc::kill(libc::getpid(), libc::SIGTERM);
                    }
                }
            }
            self.set_gate(Gate::Serving);
        }
        // Kamailio runs worker-one-init before the first worker takes traffic;
        // siprd holds every worker until it finished, so no message is routed first.
        self.wait_for(Gate::Serving);
    }

    fn on_message(&self, io: &mut WorkerIo, pkt: Received) {
        if is_closing(pkt.conn) {
            return;
        }
        // Kamailio ignores datagrams shorter than any SIP message could be
        // (NAT keep-alives, probes); a longer one of blanks, CRLFs or NULs is
        // a parse error like any junk (nosip, receive-parse-error).
        let ignored = if pkt.proto == Proto::Udp {
            pkt.data.len() < MIN_UDP_PACKET
        } else {
            is_keepalive(&pkt.data)
        };
        if ignored {
            return;
        }
        if let Some(ev) = &self.msg_received {
            let (rcv, data) = (RcvInfo::of(&pkt), pkt.data.clone());
            // As Kamailio: the route runs on the faked request (`$si`, `$mb`
            // are its own); `$rcv(...)` reads the received data.
            let out = self.rt.raise_with(ev, route_type::EVENT, |ctx| {
                ctx.event = Some(Box::new(crate::modules::pv::RcvEvent { data, rcv }));
            });
            if out.dropped {
                return;
            }
        }
        // As Kamailio's stream reader: data that cannot be framed (no or a
        // bad Content-Length, a header section too long) closes the
        // connection before any parsing: no nosip, no receive-parse-error.
        if pkt.framing_error {
            if self.bad_message_log.allow() {
                tracing::warn!(
                    "closing {}:{}: the stream cannot be framed as SIP",
                    pkt.proto,
                    pkt.src
                );
            }
            return close_stream(&self.rt, &RcvInfo::of(&pkt));
        }
        // Parsed in place into the worker's context; the checks below only
        // read it, and a message that is not routed is left for the next one.
        let refused = self.with_ctx(|ctx| match ctx.parse_msg(pkt.data.clone()) {
            Err(e) => Some(Refusal::Unparsable(e)),
            Ok(()) if ctx.msg.header_lines() == 0 => Some(Refusal::NoHeaders),
            Ok(()) if ctx.msg.is_http() => Some(Refusal::Http),
            Ok(())
                if ctx.msg.is_request() && !ctx.msg.version().eq_ignore_ascii_case(b"SIP/2.0") =>
            {
                Some(Refusal::OtherVersion)
            }
            Ok(()) => None,
        });
        if let Some(refusal) = refused {
            return self.on_parse_error(io, pkt, refusal);
        }
        let rcv = RcvInfo::of(&pkt);
        self.with_ctx(|ctx| {
            ctx.reset_keeping_msg(false, rcv);
            ctx.with_io(io, |ctx| {
                route_message(
                    &self.rt,
                    self.pre_routing.as_ref(),
                    &self.missing_headers_log,
                    ctx,
                )
            });
            // Two Content-Length headers: the stream was framed with the
            // first, the message was routed, and Kamailio then closes the
            // connection.
            if !ctx.msg.content_length_ok() {
                close_stream(&self.rt, &ctx.rcv);
            }
        });
    }
}

/// A stream that carried a message Kamailio cannot take (unparsable, or
/// without Via/From/To/Call-ID/CSeq) is closed, as Kamailio closes it.
fn close_stream(rt: &Runtime, rcv: &RcvInfo) {
    if let Some(conn) = rcv.conn {
        rt.tcp_close_after(&rcv.reply_dest(rcv.src));
        CLOSING.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= CLOSING_KEPT {
                c.pop_front();
            }
            c.push_back(conn);
        });
    }
}

/// Connections this worker closed: messages of theirs still queued behind
/// the one that closed them are not routed (Kamailio stops reading the
/// stream at once). A connection's messages always go to the same worker,
/// and ids are never reused.
const CLOSING_KEPT: usize = 64;

thread_local! {
    static CLOSING: std::cell::RefCell<std::collections::VecDeque<crate::transport::ConnId>> =
        const { std::cell::RefCell::new(std::collections::VecDeque::new()) };
}

fn is_closing(conn: Option<crate::transport::ConnId>) -> bool {
    conn.is_some_and(|id| CLOSING.with(|c| c.borrow().contains(&id)))
}

/// Shorter UDP datagrams are ignored, as Kamailio does.
const MIN_UDP_PACKET: usize = 32;

/// A first line of another protocol (`GET / HTTP/1.1`, `SIP/3.0 200 OK`).
fn looks_like_other_protocol(data: &[u8]) -> bool {
    let line_end = memchr::memchr(b'\n', data).unwrap_or(data.len());
    let line = &data[..line_end];
    memchr::memmem::find(line, b"HTTP/").is_some()
        || (line.starts_with(b"SIP/") && !line.starts_with(b"SIP/2.0"))
}

/// Run the routes for one received message in `ctx`. As in Kamailio,
/// `core:pre-routing` runs before the check for mandatory headers.
pub fn route_message(
    rt: &Runtime,
    pre_routing: Option<&EventHandle>,
    missing_log: &RateLimit,
    ctx: &mut Ctx,
) {
    let _prefix = rt
        .log_prefix
        .as_ref()
        .map(|f| crate::log::MsgPrefix::set(&f.eval(ctx)));
    let is_request = ctx.msg.is_request();
    if let Some(ev) = pre_routing {
        let rtype = if is_request {
            route_type::REQUEST
        } else {
            route_type::CORE_ONREPLY
        };
        let out = rt.run_event(ctx, ev, rtype);
        if out.dropped {
            return;
        }
        ctx.exec = Default::default();
    }
    if let Err(e) = ctx.msg.validate_required() {
        if missing_log.allow() {
            tracing::warn!(
                "dropping message from {}:{}: {e}",
                ctx.rcv.proto,
                ctx.rcv.src
            );
        }
        rt.rpc.core_stats.bad_msg_hdr.inc();
        close_stream(rt, &ctx.rcv);
        return;
    }
    if is_request {
        rt.rpc.core_stats.request(&ctx.msg.method());
        for hook in &rt.hooks.request {
            if hook(ctx) == HookAction::Stop {
                return;
            }
        }
        if let Some(route) = rt.request_route {
            rt.run_route(ctx, route, route_type::REQUEST, "request_route");
        }
        crate::modules::tm::request_route_done(ctx);
        // The request is processed: t_precheck_trans() no longer sees it.
        ctx.tm.precheck = None;
    } else {
        let stats = &rt.rpc.core_stats;
        stats.reply(
            ctx.msg.status().unwrap_or(0),
            ctx.msg.cseq_ref().ok().map(|c| &c.method),
        );
        // As Kamailio: the core reply_route sees every reply first (and may
        // drop it); then the modules (tm) take theirs; the rest is forwarded.
        // A route whose value is 0 (`return 0`) or negative (its last
        // function failed, `return -1`) drops the reply too (5.6.3).
        if let Some(route) = rt.reply_route {
            let out = rt.run_route(ctx, route, route_type::CORE_ONREPLY, "reply_route");
            static FAILED_LOG: RateLimit = RateLimit::new();
            if let Some(v) = out.value.filter(|&v| v < 0) {
                if let Some(suppressed) = FAILED_LOG.check() {
                    tracing::warn!(
                        suppressed,
                        "reply_route ended with value {v} (its last action failed): reply \
                         dropped, as Kamailio does; end the route with `exit;` to relay it"
                    );
                }
            }
            if out.dropped || out.value.is_some_and(|v| v <= 0) {
                stats.drop_replies.inc();
                return;
            }
        }
        for hook in &rt.hooks.reply {
            if hook(ctx) == HookAction::Stop {
                return;
            }
        }
        if crate::forward::forward_reply(ctx) {
            stats.fwd_replies.inc();
        }
    }
}
