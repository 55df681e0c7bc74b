//! The running server: settings, the compiled program, the transport's sender,
//! and the event-route runtime that the core and modules use to run
//! `event_route[...]` blocks from any thread.

use crate::context::{Ctx, RcvInfo};
use crate::rpc::RpcRegistry;
use crate::settings::CoreSettings;
use crate::transport::reverse::AutoAlias;
use crate::transport::{Dest, Sender};
use bytes::Bytes;
use siprd_script::{route_type, Program, Registry, RouteId, RouteMask};
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
    /// Everything modules export to scripts, kept for engines that resolve
    /// names at run time (KEMI's `KSR.*`, `KSR.pv.get("$ru")`).
    pub registry: Arc<Registry<Ctx>>,
    /// The embedded-language engine when `cfgengine` is not native.
    pub kemi: Option<Arc<dyn KemiEngine>>,
    /// The routing entry points, resolved once: native blocks or KEMI functions.
    pub request_route: Option<RouteRef>,
    pub reply_route: Option<RouteRef>,
    /// `onsend_route` / `ksr_onsend_route` (see `crate::onsend`): None costs
    /// one check per send.
    pub onsend: Option<RouteRef>,
    /// (module or event name, function) of the `event_callback*` modparams
    /// (KEMI mode): `event_callback` is per module, except tm's (tm:local-request).
    event_callbacks: Vec<(String, String)>,
    /// The loaded modules, in `loadmodule` order.
    pub load_order: Vec<&'static str>,
    sender: OnceLock<Sender>,
    /// `auto_aliases`: the names the listeners' addresses resolve back to.
    auto_aliases: OnceLock<Vec<AutoAlias>>,
    stopping: AtomicBool,
    faked: Message,
    /// `log_prefix` as a format, evaluated on each received message (see
    /// `crate::log::MsgPrefix`); None when unset or empty.
    pub log_prefix: Option<siprd_script::pv::Format<Ctx>>,
}

/// What runs when a route is taken: a compiled block of the native config, or
/// a function of the KEMI script. Every stored route target (request/reply
/// routes, events, tm's failure/onreply/branch routes, resume targets) is one
/// of these, so a Lua function can stand wherever a route block can.
/// `Copy`: KEMI function names are interned by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteRef {
    Native(RouteId),
    Kemi(KemiFn),
    /// A route named in the config but never defined (`t_on_failure("NOPE")`):
    /// Kamailio accepts it with a warning and runs it as an empty route.
    Empty,
}

impl From<RouteId> for RouteRef {
    fn from(id: RouteId) -> RouteRef {
        RouteRef::Native(id)
    }
}

/// A KEMI function name interned by the engine (`KemiEngine::intern`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KemiFn(pub u32);

/// An embedded-language engine (app_lua), installed by its module when
/// `cfgengine` names it. It runs script functions on the calling thread, on a
/// context prepared like for a native route.
pub trait KemiEngine: Send + Sync {
    /// The engine name (`"lua"`).
    fn name(&self) -> &'static str;
    /// Intern a function name. None when the table of names is full.
    fn intern(&self, name: &str) -> Option<KemiFn>;
    /// The name of an interned function.
    fn fn_name(&self, f: KemiFn) -> Arc<str>;
    /// True when the loaded script defines a global function of that name.
    fn defines(&self, name: &str) -> bool;
    /// Run `f(arg)` (no argument when None). A missing function is skipped
    /// (Kamailio), a runtime error is logged and ends the execution.
    fn call(&self, ctx: &mut Ctx, f: KemiFn, arg: Option<&str>) -> EventOutcome;
}

/// An event route (or, under KEMI, a callback function) resolved at load.
/// Modules resolve their events once in `Module::start` and keep the handle;
/// an event with no handle costs nothing when it happens.
#[derive(Clone, Debug)]
pub struct EventHandle {
    pub name: Arc<str>,
    pub route: RouteRef,
}

/// How an event route ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventOutcome {
    /// The route executed `drop` (some events use it to veto an action).
    pub dropped: bool,
    /// The route's return code (`$rc` at the end).
    pub retcode: i32,
    /// A native route's value as Kamailio's core reads it
    /// ([`siprd_script::Outcome::value`]); None for KEMI and empty routes.
    pub value: Option<i32>,
}

/// The request Kamailio builds for event routes that have no SIP message.
const FAKED_REQUEST: &[u8] = b"OPTIONS sip:you@kamailio.org SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1\r\n\
From: <sip:you@kamailio.org>;tag=123\r\n\
To: <sip:you@kamailio.org>\r\n\
Call-ID: 123\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

thread_local! {
    /// Contexts kept per thread for event runs; a nested event takes another.
    static EVENT_CTX: RefCell<Vec<Ctx>> = const { RefCell::new(Vec::new()) };
}

/// What a `Runtime` is built from.
pub struct RuntimeParts {
    pub settings: CoreSettings,
    pub program: Program<Ctx>,
    pub hooks: Hooks,
    pub rpc: RpcRegistry,
    pub registry: Arc<Registry<Ctx>>,
    pub kemi: Option<Arc<dyn KemiEngine>>,
    /// (module or event name, function) of the `event_callback*` modparams.
    pub event_callbacks: Vec<(String, String)>,
    /// The loaded modules, in `loadmodule` order.
    pub load_order: Vec<&'static str>,
}

impl Runtime {
    /// A fix-up context for resolving config-language text at run time (a
    /// PV name from KEMI, `pv_evalx`, a module's API), as at load.
    pub fn fixup_ctx(&self) -> siprd_script::registry::FixupCtx<'_, Ctx> {
        siprd_script::registry::FixupCtx {
            registry: &self.registry,
            routes: self.program.route_names(),
            host: &(),
            warnings: Vec::new(),
            at: None,
        }
    }

    pub fn build(p: RuntimeParts) -> Runtime {
        let faked = Message::parse(Bytes::from_static(FAKED_REQUEST))
            .expect("the built-in faked request parses");
        let (request_route, reply_route, onsend) = match &p.kemi {
            None => (
                p.program.request_route().map(RouteRef::Native),
                p.program.reply_route().map(RouteRef::Native),
                p.program.onsend_route().map(RouteRef::Native),
            ),
            Some(k) => {
                // The function a `kemi.*_callback` names; None when "none"/empty.
                let name_of = |param: &str, default: &'static str| {
                    let name = p
                        .settings
                        .kemi_callbacks
                        .iter()
                        .rev()
                        .find(|(n, _)| n == param)
                        .map_or(default, |(_, f)| f.as_str());
                    (!name.is_empty() && name != "none").then_some(name)
                };
                let cb = |param: &str, default: &'static str| {
                    name_of(param, default)
                        .and_then(|name| k.intern(name))
                        .map(RouteRef::Kemi)
                };
                // Kamailio skips a missing onsend callback silently: resolve it
                // only when the script defines it, so that sends cost nothing
                // else. With the callback off, a native `onsend_route` block runs.
                let onsend = match name_of("kemi.onsend_route_callback", "ksr_onsend_route") {
                    Some(name) if k.defines(name) => k.intern(name).map(RouteRef::Kemi),
                    Some(_) => None,
                    None => p.program.onsend_route().map(RouteRef::Native),
                };
                (
                    cb("kemi.request_route_callback", "ksr_request_route"),
                    cb("kemi.reply_route_callback", "ksr_reply_route"),
                    onsend,
                )
            }
        };
        let mut rt = Runtime {
            settings: p.settings,
            program: p.program,
            hooks: p.hooks,
            rpc: p.rpc,
            registry: p.registry,
            kemi: p.kemi,
            request_route,
            reply_route,
            onsend,
            event_callbacks: p.event_callbacks,
            load_order: p.load_order,
            sender: OnceLock::new(),
            auto_aliases: OnceLock::new(),
            stopping: AtomicBool::new(false),
            faked,
            log_prefix: None,
        };
        if !rt.settings.log_prefix.is_empty() {
            let text = rt.settings.log_prefix.clone();
            let mut fx = rt.fixup_ctx();
            let parsed = siprd_script::pv::parse_format(&mut fx, &text);
            drop(fx);
            match parsed {
                Ok(f) => rt.log_prefix = Some(f),
                Err(e) => tracing::error!("log_prefix: bad format `{text}`: {e}"),
            }
        }
        rt
    }

    /// The synthetic request used by event routes: a clone of the one parsed
    /// at start-up (its buffer is shared, nothing is parsed again).
    pub fn faked_message(&self) -> Message {
        self.faked.clone()
    }

    /// Whether `msg` is the faked request (the same buffer: its content, and
    /// so its parse caches, are the same).
    pub fn is_faked_message(&self, msg: &Message) -> bool {
        let (a, b) = (msg.buf(), self.faked.buf());
        a.as_ptr() == b.as_ptr() && a.len() == b.len()
    }

    /// Install the transport's sender once it is up.
    pub fn set_sender(&self, sender: Sender) {
        let aliases = if self.settings.auto_aliases {
            crate::transport::reverse::auto_aliases(sender.listeners())
        } else {
            Vec::new()
        };
        let _ = self.auto_aliases.set(aliases);
        let _ = self.sender.set(sender);
    }

    /// Every alias as Kamailio lists it (newest first: the listeners'
    /// automatic ones, TCP before UDP, then `alias=` from the last one up):
    /// (protocol or `*`, host, port).
    pub fn alias_list(&self) -> Vec<(&str, &str, Option<u16>)> {
        let mut auto: Vec<&AutoAlias> = self.auto_aliases().iter().collect();
        auto.sort_by_key(|a| a.proto != crate::transport::Proto::Udp);
        let auto = auto
            .into_iter()
            .rev()
            .map(|a| (a.proto.as_str(), a.name.as_str(), Some(a.port)));
        let configured = self
            .settings
            .aliases
            .iter()
            .rev()
            .map(|a| (a.proto.as_deref().unwrap_or("*"), a.host.as_str(), a.port));
        auto.chain(configured).collect()
    }

    /// The `auto_aliases` names, in listener order.
    pub fn auto_aliases(&self) -> &[AutoAlias] {
        self.auto_aliases.get().map_or(&[], Vec::as_slice)
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

    /// TCP: close the connection `dest` uses once its queued data is written.
    pub fn tcp_close_after(&self, dest: &Dest) {
        if let Some(s) = self.sender.get() {
            s.tcp_close_after(dest);
        }
    }

    /// TCP: what is sent to `addr` goes on connection `conn` (`force_tcp_alias`).
    pub fn tcp_add_alias(
        &self,
        conn: crate::transport::ConnId,
        addr: std::net::SocketAddr,
    ) -> bool {
        self.sender
            .get()
            .is_some_and(|s| s.tcp_add_alias(conn, addr))
    }

    /// TCP: whether a connection `dest` would use is open.
    pub fn tcp_has_conn(&self, dest: &Dest) -> bool {
        self.sender.get().is_some_and(|s| s.tcp_has_conn(dest))
    }

    /// TCP connections and settings (None before the transport starts or
    /// without a TCP listener).
    pub fn tcp_snapshot(&self) -> Option<crate::transport::TcpSnapshot> {
        self.sender.get().and_then(Sender::tcp_snapshot)
    }

    /// The bound listeners (empty before the transport starts).
    pub fn listeners(&self) -> &[crate::transport::ListenerInfo] {
        match self.sender.get() {
            Some(s) => s.listeners(),
            None => &[],
        }
    }

    /// Kamailio's `myself`: is `host[:port]` one of our listeners, advertised
    /// addresses, their host names or aliases (`alias=`, `auto_aliases`)?
    /// A missing port means 5060.
    pub fn is_local(&self, host: &[u8], port: Option<u16>) -> bool {
        let port = port.unwrap_or(5060);
        let host = trim_brackets(host);
        let matches = |h: &[u8], p: u16| p == port && trim_brackets(h).eq_ignore_ascii_case(host);
        for l in self.listeners() {
            let ip = l.addr.ip().to_string();
            if matches(ip.as_bytes(), l.addr.port()) {
                return true;
            }
            if let Some(name) = &l.host_name {
                if matches(name.as_bytes(), l.addr.port()) {
                    return true;
                }
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
        if self
            .auto_aliases()
            .iter()
            .any(|a| matches(a.name.as_bytes(), a.port))
        {
            return true;
        }
        self.settings.aliases.iter().any(|a| {
            trim_brackets(a.host.as_bytes()).eq_ignore_ascii_case(host)
                && a.port.is_none_or(|p| p == port)
        })
    }

    /// True once shutdown started: module threads must end promptly.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// True when module `a` was loaded before module `b` (both loaded).
    pub fn loaded_before(&self, a: &str, b: &str) -> bool {
        let pos = |n: &str| self.load_order.iter().position(|m| *m == n);
        matches!((pos(a), pos(b)), (Some(x), Some(y)) if x < y)
    }

    /// Resolve an event by name (`"htable:mod-init"`): Some when the config
    /// defines `event_route[name]`, or under KEMI when a callback takes it:
    /// the raising module's `event_callback` (`kemi.event_route_callback` for
    /// `core:*`), else a script function of that very name (evrexec tasks).
    pub fn event(&self, name: &str) -> Option<EventHandle> {
        let Some(k) = &self.kemi else {
            return self.program.event_route(name).map(|route| EventHandle {
                name: Arc::from(name),
                route: RouteRef::Native(route),
            });
        };
        let module = name.split_once(':').map(|(m, _)| m);
        let callback = match module {
            Some("core") => {
                let param = match name {
                    "core:pre-routing" => "kemi.pre_routing_callback",
                    "core:msg-received" => "kemi.received_route_callback",
                    _ => "kemi.event_route_callback",
                };
                self.settings
                    .kemi_callbacks
                    .iter()
                    .rev()
                    .find(|(n, _)| n == param)
                    .map(|(_, f)| f.as_str())
            }
            Some(m) => self
                .event_callbacks
                .iter()
                .rev()
                .find(|(key, _)| key == m || key == name)
                .map(|(_, f)| f.as_str()),
            None => None,
        };
        let func = match callback {
            Some(f) if !f.is_empty() => f,
            _ if k.defines(name) => name,
            // no callback: a native `event_route[name]` block of the config
            // runs, as Kamailio's modules look it up then (nosip has no
            // `event_callback` in 5.6)
            _ => {
                return self.program.event_route(name).map(|route| EventHandle {
                    name: Arc::from(name),
                    route: RouteRef::Native(route),
                })
            }
        };
        k.intern(func).map(|f| EventHandle {
            name: Arc::from(name),
            route: RouteRef::Kemi(f),
        })
    }

    /// A KEMI function as a route target (`KSR.tm.t_on_failure("fn")`).
    pub fn kemi_route(&self, name: &str) -> Option<RouteRef> {
        self.kemi.as_ref()?.intern(name).map(RouteRef::Kemi)
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
        self.raise_with_arg(ev, rtype, Some(&ev.name), prepare)
    }

    /// Like `raise_with`, with the argument a KEMI callback gets instead of
    /// the event name (evrexec: the worker index or the RPC data; tm: none).
    pub fn raise_with_arg(
        self: &Arc<Self>,
        ev: &EventHandle,
        rtype: RouteMask,
        arg: Option<&str>,
        prepare: impl FnOnce(&mut Ctx),
    ) -> EventOutcome {
        self.raise_with_arg_then(ev, rtype, arg, prepare, |_| {})
    }

    /// Like `raise_with_arg`, and `after` sees the context once the route ran
    /// (tm keeps what a failure route left in AVPs and flags).
    pub fn raise_with_arg_then(
        self: &Arc<Self>,
        ev: &EventHandle,
        rtype: RouteMask,
        arg: Option<&str>,
        prepare: impl FnOnce(&mut Ctx),
        after: impl FnOnce(&mut Ctx),
    ) -> EventOutcome {
        self.with_pooled_ctx_of(None, true, RcvInfo::default(), |ctx| {
            prepare(ctx);
            let out = self.run_route_arg(ctx, ev.route, rtype, &ev.name, arg);
            after(ctx);
            out
        })
    }

    /// Run `f` on a context of this thread's pool, reset for `msg` (a real
    /// message: e.g. a reply tm relays from its timer).
    pub fn with_pooled_ctx<R>(
        self: &Arc<Self>,
        msg: Message,
        rcv: RcvInfo,
        f: impl FnOnce(&mut Ctx) -> R,
    ) -> R {
        self.with_pooled_ctx_of(Some(msg), false, rcv, f)
    }

    /// `msg` None: the faked request.
    fn with_pooled_ctx_of<R>(
        self: &Arc<Self>,
        msg: Option<Message>,
        faked: bool,
        rcv: RcvInfo,
        f: impl FnOnce(&mut Ctx) -> R,
    ) -> R {
        let mut ctx = EVENT_CTX
            .with(|pool| pool.borrow_mut().pop())
            .filter(|c| Arc::ptr_eq(&c.rt, self))
            .unwrap_or_else(|| Ctx::new(self.clone()));
        match msg {
            Some(msg) => ctx.reset(msg, faked, rcv),
            None => ctx.reset_faked(rcv),
        }
        let out = f(&mut ctx);
        ctx.event = None;
        EVENT_CTX.with(|pool| pool.borrow_mut().push(ctx));
        out
    }

    /// Run an event on a prepared context: a KEMI callback gets the event
    /// name as its argument.
    pub fn run_event(&self, ctx: &mut Ctx, ev: &EventHandle, rtype: RouteMask) -> EventOutcome {
        self.run_route_arg(ctx, ev.route, rtype, &ev.name, Some(&ev.name))
    }

    /// Run one route on a prepared context and close the execution.
    pub fn run_route(
        &self,
        ctx: &mut Ctx,
        route: RouteRef,
        rtype: RouteMask,
        name: &str,
    ) -> EventOutcome {
        self.run_route_arg(ctx, route, rtype, name, None)
    }

    /// Like `run_route`, with the argument a KEMI function gets.
    pub fn run_route_arg(
        &self,
        ctx: &mut Ctx,
        route: RouteRef,
        rtype: RouteMask,
        name: &str,
        arg: Option<&str>,
    ) -> EventOutcome {
        let out = self.run_nested(ctx, route, rtype, arg);
        ctx.finish_execution(name);
        out
    }

    /// Run a route without closing the execution (a route run from inside
    /// another one, as tm's branch routes).
    pub fn run_nested(
        &self,
        ctx: &mut Ctx,
        route: RouteRef,
        rtype: RouteMask,
        arg: Option<&str>,
    ) -> EventOutcome {
        match route {
            RouteRef::Native(id) => {
                let outcome = self.program.run_route(ctx, id, rtype);
                EventOutcome {
                    dropped: outcome.dropped,
                    retcode: outcome.retcode,
                    value: Some(outcome.value),
                }
            }
            RouteRef::Kemi(f) => match &self.kemi {
                Some(k) => {
                    let st = &mut ctx.exec;
                    st.route_type = rtype;
                    st.exited = false;
                    st.dropped = false;
                    k.call(ctx, f, arg)
                }
                None => EventOutcome::default(),
            },
            RouteRef::Empty => {
                let st = &mut ctx.exec;
                st.route_type = rtype;
                st.exited = false;
                st.dropped = false;
                EventOutcome::default()
            }
        }
    }
}

fn trim_brackets(h: &[u8]) -> &[u8] {
    h.strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(h)
}
