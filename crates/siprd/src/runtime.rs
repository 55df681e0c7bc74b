//! The running server: settings, the compiled program, the transport's sender,
//! and the event-route runtime that the core and modules use to run
//! `event_route[...]` blocks from any thread.

use crate::context::{Ctx, RcvInfo};
use crate::rpc::RpcRegistry;
use crate::settings::CoreSettings;
use crate::transport::{Dest, Sender};
use bytes::Bytes;
use siprd_script::{route_type, Program, RouteId, RouteMask};
use siprd_sip::Message;
use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// What a hook tells the dispatcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookAction {
    /// Go on with the next hook and the routes.
    Continue,
    /// The message was handled (or must be dropped): run no route.
    Stop,
}

/// A module callback on every received request or reply, before the routes.
pub type MessageHook = Arc<dyn Fn(&mut Ctx) -> HookAction + Send + Sync>;

/// A module callback on received data that is not SIP (nosip).
pub type NonSipHook =
    Arc<dyn Fn(&mut Ctx, &crate::transport::Received) -> HookAction + Send + Sync>;

/// Callbacks that modules install on the message path (sl's ACK filter, tm's
/// reply matching ...), collected once at start-up.
#[derive(Default, Clone)]
pub struct Hooks {
    /// Before `request_route`.
    pub request: Vec<MessageHook>,
    /// Before `reply_route` and stateless reply forwarding.
    pub reply: Vec<MessageHook>,
    /// On data that does not parse as SIP, before `core:receive-parse-error`.
    pub non_sip: Vec<NonSipHook>,
}

/// Shared state of a running server.
pub struct Runtime {
    pub settings: CoreSettings,
    pub program: Program<Ctx>,
    pub hooks: Hooks,
    pub rpc: RpcRegistry,
    sender: OnceLock<Sender>,
    stopping: AtomicBool,
    faked: Message,
}

/// An event route (or, under KEMI, a callback function) resolved at load.
/// Modules resolve their events once in `Module::start` and keep the handle;
/// an event with no handle costs nothing when it happens.
#[derive(Clone, Debug)]
pub struct EventHandle {
    pub name: Arc<str>,
    pub route: RouteId,
}

/// How an event route ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventOutcome {
    /// The route executed `drop` (some events use it to veto an action).
    pub dropped: bool,
    /// The route's return code (`$rc` at the end).
    pub retcode: i32,
}

/// The request Kamailio builds for event routes that have no SIP message.
const FAKED_REQUEST: &[u8] = b"OPTIONS sip:you@kamailio.org SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKfaked\r\n\
From: <sip:you@kamailio.org>;tag=123\r\n\
To: <sip:you@kamailio.org>\r\n\
Call-ID: 123\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

thread_local! {
    /// Contexts kept per thread for event runs; a nested event takes another.
    static EVENT_CTX: RefCell<Vec<Ctx>> = const { RefCell::new(Vec::new()) };
}

impl Runtime {
    pub fn new(
        settings: CoreSettings,
        program: Program<Ctx>,
        hooks: Hooks,
        rpc: RpcRegistry,
    ) -> Runtime {
        let faked = Message::parse(Bytes::from_static(FAKED_REQUEST))
            .expect("the built-in faked request parses");
        Runtime {
            settings,
            program,
            hooks,
            rpc,
            sender: OnceLock::new(),
            stopping: AtomicBool::new(false),
            faked,
        }
    }

    /// The synthetic request used by event routes: a clone of the one parsed
    /// at start-up (its buffer is shared, nothing is parsed again).
    pub fn faked_message(&self) -> Message {
        self.faked.clone()
    }

    /// Install the transport's sender once it is up.
    pub fn set_sender(&self, sender: Sender) {
        let _ = self.sender.set(sender);
    }

    /// Send from any thread (not batched).
    pub fn send(&self, dest: &Dest, data: &[u8]) -> bool {
        match self.sender.get() {
            Some(s) => match s.send(dest, data) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!("send to {}:{} failed: {e}", dest.proto, dest.addr);
                    false
                }
            },
            None => {
                tracing::error!(
                    "send to {}:{} before the transport started",
                    dest.proto,
                    dest.addr
                );
                false
            }
        }
    }

    /// The bound listeners (empty before the transport starts).
    pub fn listeners(&self) -> &[crate::transport::ListenerInfo] {
        match self.sender.get() {
            Some(s) => s.listeners(),
            None => &[],
        }
    }

    /// Kamailio's `myself`: is `host[:port]` one of our listeners, advertised
    /// addresses or aliases? A missing port means 5060.
    pub fn is_local(&self, host: &[u8], port: Option<u16>) -> bool {
        let port = port.unwrap_or(5060);
        let host = trim_brackets(host);
        let matches = |h: &[u8], p: u16| p == port && trim_brackets(h).eq_ignore_ascii_case(host);
        for l in self.listeners() {
            let ip = l.addr.ip().to_string();
            if matches(ip.as_bytes(), l.addr.port()) {
                return true;
            }
            if let Some(a) = &l.advertise {
                if matches(a.host.as_bytes(), a.port.unwrap_or(l.addr.port())) {
                    return true;
                }
            }
            if let Some(a) = &self.settings.advertised_address {
                if matches(
                    a.as_bytes(),
                    self.settings.advertised_port.unwrap_or(l.addr.port()),
                ) {
                    return true;
                }
            }
        }
        self.settings.aliases.iter().any(|alias| {
            let spec = alias
                .split_once(':')
                .filter(|(p, _)| matches!(*p, "udp" | "tcp" | "tls" | "sctp" | "ws" | "wss"));
            let rest = spec.map_or(alias.as_str(), |(_, r)| r);
            let (h, p) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => {
                    (h, p.parse::<u16>().ok())
                }
                _ => (rest, None),
            };
            trim_brackets(h.as_bytes()).eq_ignore_ascii_case(host) && p.is_none_or(|p| p == port)
        })
    }

    /// True once shutdown started: module threads must end promptly.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Resolve an event by name (`"htable:mod-init"`): Some when the config
    /// defines `event_route[name]`.
    pub fn event(&self, name: &str) -> Option<EventHandle> {
        self.program.event_route(name).map(|route| EventHandle {
            name: Arc::from(name),
            route,
        })
    }

    /// Run an event on the calling thread with a synthetic message (method
    /// OPTIONS, like Kamailio's faked request) and the given event data, which
    /// the raising module's PVs read through `Ctx::event_data`.
    pub fn raise(
        self: &Arc<Self>,
        ev: &EventHandle,
        data: Option<Box<dyn Any + Send>>,
    ) -> EventOutcome {
        self.raise_with(ev, route_type::EVENT, |ctx| ctx.event = data)
    }

    /// Run an event with a context prepared by the caller (e.g. nosip puts the
    /// received packet in it) and the given route type.
    pub fn raise_with(
        self: &Arc<Self>,
        ev: &EventHandle,
        rtype: RouteMask,
        prepare: impl FnOnce(&mut Ctx),
    ) -> EventOutcome {
        let mut ctx = EVENT_CTX
            .with(|pool| pool.borrow_mut().pop())
            .filter(|c| Arc::ptr_eq(&c.rt, self))
            .unwrap_or_else(|| Ctx::new(self.clone()));
        ctx.reset(self.faked_message(), true, RcvInfo::default());
        prepare(&mut ctx);
        let out = self.run_route(&mut ctx, ev.route, rtype, &ev.name);
        ctx.event = None;
        EVENT_CTX.with(|pool| pool.borrow_mut().push(ctx));
        out
    }

    /// Run one route on a prepared context and close the execution.
    pub fn run_route(
        &self,
        ctx: &mut Ctx,
        route: RouteId,
        rtype: RouteMask,
        name: &str,
    ) -> EventOutcome {
        let outcome = self.program.run_route(ctx, route, rtype);
        ctx.finish_execution(name);
        EventOutcome {
            dropped: outcome.dropped,
            retcode: outcome.retcode,
        }
    }
}

fn trim_brackets(h: &[u8]) -> &[u8] {
    h.strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(h)
}
