//! The life of a received message: from the transport into the routes.
//!
//! ```text
//! datagram / TCP frame
//!   └─ parse (first line + header index) ── error ─→ event_route[core:receive-parse-error]
//!        │                                            (non-SIP data: nosip hook)
//!        ├─ missing Via/From/To/Call-ID/CSeq ─→ dropped, no route runs
//!        ├─ event_route[core:pre-routing]  (drop stops here)
//!        ├─ request: module hooks (sl ACK filter, tm) → request_route
//!        └─ reply:   module hooks (tm matching)      → reply_route → forward by Via
//! ```

use crate::context::{Ctx, RcvInfo};
use crate::log::RateLimit;
use crate::runtime::{EventHandle, HookAction, Runtime};
use crate::transport::{Handler, Received, WorkerIo};
use siprd_script::route_type;
use siprd_sip::Message;
use parking_lot::{Condvar, Mutex};
use std::cell::RefCell;
use std::sync::Arc;

/// The transport's handler: runs the config for each message.
pub struct Dispatcher {
    rt: Arc<Runtime>,
    pre_routing: Option<EventHandle>,
    parse_error: Option<EventHandle>,
    worker_one_init: Option<EventHandle>,
    bad_message_log: RateLimit,
    missing_headers_log: RateLimit,
    /// Closed until start-up events have run: workers wait before their first message.
    ready: (Mutex<bool>, Condvar),
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
            rt,
            bad_message_log: RateLimit::default(),
            missing_headers_log: RateLimit::default(),
            ready: (Mutex::new(false), Condvar::new()),
        }
    }

    /// Let the workers take traffic (after the modules' start-up events).
    pub fn open(&self) {
        *self.ready.0.lock() = true;
        self.ready.1.notify_all();
    }

    fn wait_open(&self) {
        let mut open = self.ready.0.lock();
        while !*open && !self.rt.is_stopping() {
            self.ready.1.wait_for(&mut open, std::time::Duration::from_millis(100));
        }
    }

    fn with_ctx<R>(&self, f: impl FnOnce(&mut Ctx) -> R) -> R {
        WORKER_CTX.with(|cell| {
            let mut slot = cell.borrow_mut();
            let ctx = slot.get_or_insert_with(|| Ctx::new(self.rt.clone()));
            f(ctx)
        })
    }

    fn on_parse_error(&self, io: &mut WorkerIo, pkt: Received, reason: &str) {
        let rcv = rcv_info(&pkt);
        for hook in &self.rt.hooks.non_sip {
            if self.with_ctx(|ctx| ctx.with_io(io, |ctx| hook(ctx, &pkt))) == HookAction::Stop {
                return;
            }
        }
        if let Some(ev) = &self.parse_error {
            let data = pkt.data.clone();
            self.rt.raise_with(ev, route_type::EVENT, |ctx| {
                ctx.rcv = rcv;
                ctx.event = Some(Box::new(crate::modules::pv::RawPacket(data)));
            });
            return;
        }
        if self.bad_message_log.allow() {
            tracing::warn!("dropping unparsable message from {}:{}: {reason}", pkt.proto, pkt.src);
        }
    }
}

fn rcv_info(pkt: &Received) -> RcvInfo {
    RcvInfo { src: pkt.src, local: pkt.local, proto: pkt.proto, listener: Some(pkt.listener), conn: pkt.conn }
}

/// True for keep-alive datagrams and other whitespace-only data.
fn is_keepalive(data: &[u8]) -> bool {
    data.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t' | 0))
}

impl Handler for Dispatcher {
    fn on_worker_start(&self, io: &mut WorkerIo) {
        self.wait_open();
        if io.rank() == 0 {
            if let Some(ev) = &self.worker_one_init {
                self.rt.raise(ev, None);
            }
        }
    }

    fn on_message(&self, io: &mut WorkerIo, pkt: Received) {
        if is_keepalive(&pkt.data) {
            return;
        }
        if pkt.framing_error {
            return self.on_parse_error(io, pkt, "stream framing error");
        }
        let msg = match Message::parse(pkt.data.clone()) {
            Ok(m) => m,
            Err(e) => return self.on_parse_error(io, pkt, &e.to_string()),
        };
        if let Err(e) = msg.validate_required() {
            if self.missing_headers_log.allow() {
                tracing::warn!("dropping message from {}:{}: {e}", pkt.proto, pkt.src);
            }
            return;
        }
        let rcv = rcv_info(&pkt);
        self.with_ctx(|ctx| {
            ctx.reset(msg, false, rcv);
            ctx.with_io(io, |ctx| route_message(&self.rt, self.pre_routing.as_ref(), ctx));
        });
    }
}

/// Run the routes for one received message in `ctx`.
pub fn route_message(rt: &Runtime, pre_routing: Option<&EventHandle>, ctx: &mut Ctx) {
    let is_request = ctx.msg.is_request();
    if let Some(ev) = pre_routing {
        let rtype = if is_request { route_type::REQUEST } else { route_type::CORE_ONREPLY };
        let out = rt.run_route(ctx, ev.route, rtype, &ev.name);
        if out.dropped {
            return;
        }
        ctx.exec = Default::default();
    }
    if is_request {
        for hook in &rt.hooks.request {
            if hook(ctx) == HookAction::Stop {
                return;
            }
        }
        if let Some(route) = rt.program.request_route() {
            rt.run_route(ctx, route, route_type::REQUEST, "request_route");
        }
    } else {
        for hook in &rt.hooks.reply {
            if hook(ctx) == HookAction::Stop {
                return;
            }
        }
        if let Some(route) = rt.program.reply_route() {
            let out = rt.run_route(ctx, route, route_type::CORE_ONREPLY, "reply_route");
            if out.dropped {
                return;
            }
        }
        crate::forward::forward_reply(ctx);
    }
}
