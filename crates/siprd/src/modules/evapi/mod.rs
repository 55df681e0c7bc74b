//! evapi: a TCP event socket to external applications.
//!
//! A tokio runtime on its own thread accepts clients on `bind_addr`, reads
//! netstrings (or bare reads with `netstring_format=0`) and hands every frame
//! to `workers` script threads, which run `event_route[evapi:message-received]`.
//! `evapi_relay()` and friends, called from any route, only put a frame in the
//! bounded queue of each matching client; the client's writer task drains it.
//! A client that stops reading fills its queue (new events are dropped and
//! counted) and is disconnected once a write stalls for `send_data_timeout`.

pub mod netstring;
mod server;

use crate::context::Ctx;
use crate::module::{CoreSettings, Module};
use crate::modules::args::str_arg;
use crate::runtime::{EventHandle, Runtime};
use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use siprd_script::pv::{parse_format, Format};
use siprd_script::registry::{
    func, Arg, ArgSrc, FixupCtx, FuncDef, FuncImpl, ModParamDecl, ParamKind, PvClassDef, PvImpl,
    PvIndex,
};
use siprd_script::{route_type, Registry, Value};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Longest tag accepted by `evapi_set_tag()` (Kamailio refuses 64 and more).
pub const MAX_TAG_LEN: usize = 63;

/// Default `max_frame_size`: the most Kamailio reads from a client at once
/// (its 32 KiB buffer less the terminating NUL). A netstring longer than this
/// closes the connection; with `netstring_format=0` a read of at most this
/// many bytes is one message.
pub const DEFAULT_MAX_FRAME: usize = 32767;

/// Upper bound of `max_frame_size`.
const MAX_FRAME_LIMIT: usize = 64 << 20;

/// The module's settings after `modparam`.
#[derive(Clone, Debug)]
pub struct Config {
    pub workers: usize,
    pub bind: String,
    pub netstring: bool,
    pub max_clients: usize,
    /// How long one write may make no progress before the client is dropped.
    pub send_timeout: Option<Duration>,
    /// Frames queued per client before new ones are dropped.
    pub max_queue: usize,
    /// Largest incoming frame (a whole netstring, or one bare read) accepted.
    pub max_frame: usize,
    pub event_callback: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            workers: 1,
            bind: "127.0.0.1:8448".into(),
            netstring: true,
            max_clients: 8,
            send_timeout: Some(Duration::from_secs(5)),
            max_queue: 8192,
            max_frame: DEFAULT_MAX_FRAME,
            event_callback: None,
        }
    }
}

/// Data of an evapi event route, read by `$evapi(...)`.
#[derive(Clone, Debug)]
pub struct EvapiEvent {
    pub conidx: usize,
    pub gen: u64,
    pub addr: SocketAddr,
    pub msg: Option<Bytes>,
    /// Set by `evapi_close()`: from then on `$evapi(...)` is `$null` in this
    /// route (as Kamailio, which forgets the connection).
    pub closed: std::cell::Cell<bool>,
}

/// One connected client, shared by its connection task and the relaying threads.
pub struct Client {
    pub idx: usize,
    pub gen: u64,
    pub addr: SocketAddr,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    tag: Mutex<Option<Bytes>>,
    close: tokio::sync::Notify,
    flush: tokio::sync::Notify,
    script_closed: AtomicBool,
    dropped: AtomicU64,
    junk: AtomicU64,
}

/// Counters over the module's life.
#[derive(Default)]
pub struct Stats {
    pub relayed: AtomicU64,
    pub dropped: AtomicU64,
    pub junk: AtomicU64,
    pub received: AtomicU64,
    pub rejected: AtomicU64,
}

/// Events resolved at start.
#[derive(Default, Clone)]
struct Events {
    new: Option<EventHandle>,
    closed: Option<EventHandle>,
    msg: Option<EventHandle>,
}

/// Work for the script threads.
enum Job {
    New(EvapiEvent, tokio::sync::oneshot::Sender<()>),
    Msg(EvapiEvent),
    /// The client keeps its slot while the route runs; the script thread
    /// frees it right after, then answers.
    Closed(EvapiEvent, Arc<Client>, tokio::sync::oneshot::Sender<()>),
    /// Shutdown: the worker ends (it sleeps untimed, so it must be told).
    Stop,
}

thread_local! {
    /// Set on the evapi script threads: relaying there is done at once and
    /// fails when no client takes the event (as in Kamailio's evapi
    /// dispatcher process), while other threads hand it over and succeed.
    static DIRECT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Shared state of the module.
pub struct EvState {
    pub cfg: Config,
    slots: RwLock<Vec<Option<Arc<Client>>>>,
    next_gen: AtomicU64,
    pub stats: Stats,
    events: OnceLock<Events>,
    /// One queue per script thread; a connection's jobs always go to the
    /// same one (by its index), so its events run in order.
    jobs: OnceLock<Vec<crossbeam_channel::Sender<Job>>>,
    stop: AtomicBool,
    shutdown: tokio::sync::Notify,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    /// The thread that loaded the config and starts the modules (it runs
    /// `htable:mod-init`).
    main: std::thread::ThreadId,
}

impl EvState {
    fn new(cfg: Config) -> EvState {
        EvState {
            cfg,
            slots: RwLock::new(Vec::new()),
            next_gen: AtomicU64::new(1),
            stats: Stats::default(),
            events: OnceLock::new(),
            jobs: OnceLock::new(),
            stop: AtomicBool::new(false),
            shutdown: tokio::sync::Notify::new(),
            threads: Mutex::new(Vec::new()),
            main: std::thread::current().id(),
        }
    }

    /// Whether a relay from this thread reports "no client took it" as a
    /// failure (see [`DIRECT`]). Also while modules start on the main thread
    /// before evapi did (`htable:mod-init` of an htable loaded before evapi):
    /// Kamailio's modules initialise in load order, and before evapi has its
    /// dispatcher pipe a relay is sent at once, to no client.
    fn direct(&self) -> bool {
        DIRECT.with(std::cell::Cell::get)
            || (self.jobs.get().is_none() && std::thread::current().id() == self.main)
    }

    /// The return code of a relay function that matched `n` clients.
    fn relay_code(&self, n: usize) -> i32 {
        if n == 0 && self.direct() {
            tracing::warn!("evapi: message not delivered - no client connected");
            return -1;
        }
        1
    }

    fn events(&self) -> Events {
        self.events.get().cloned().unwrap_or_default()
    }

    /// Encode `data` once for the wire.
    fn frame(&self, data: &[u8]) -> Bytes {
        if self.cfg.netstring {
            let mut v = Vec::with_capacity(data.len() + 12);
            netstring::encode_into(data, &mut v);
            Bytes::from(v)
        } else {
            Bytes::copy_from_slice(data)
        }
    }

    /// Queue a frame for one client without blocking.
    fn enqueue(&self, c: &Client, frame: &Bytes) {
        use tokio::sync::mpsc::error::TrySendError;
        match c.tx.try_send(frame.clone()) {
            Ok(()) => {
                self.stats.relayed.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Full(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                if c.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "evapi: the queue of client {} [{}] is full (max_queue={}): its events are dropped until it reads",
                        c.addr,
                        c.idx,
                        self.cfg.max_queue
                    );
                }
            }
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// Relay to every client (`tag: None`), to those with the tag, or to the
    /// first one with the tag (`unicast`). Answers how many clients matched.
    fn relay(&self, data: &[u8], tag: Option<&[u8]>, unicast: bool) -> usize {
        let slots = self.slots.read();
        if slots.iter().all(Option::is_none) {
            return 0;
        }
        let frame = self.frame(data);
        let mut n = 0;
        for c in slots.iter().flatten() {
            if c.script_closed.load(Ordering::Relaxed) {
                continue;
            }
            if let Some(t) = tag {
                if c.tag.lock().as_deref() != Some(t) {
                    continue;
                }
            }
            self.enqueue(c, &frame);
            n += 1;
            if unicast {
                break;
            }
        }
        n
    }

    fn client(&self, idx: usize, gen: u64) -> Option<Arc<Client>> {
        self.slots
            .read()
            .get(idx)
            .and_then(|s| s.as_ref())
            .filter(|c| c.gen == gen)
            .cloned()
    }

    /// Free a client's slot (when it still holds that client).
    fn release(&self, c: &Client) {
        let mut slots = self.slots.write();
        if let Some(s) = slots.get_mut(c.idx) {
            if s.as_ref().is_some_and(|x| x.gen == c.gen) {
                *s = None;
            }
        }
    }
}

/// The evapi module.
pub struct Evapi {
    cfg: Config,
    pub state: Arc<EvState>,
}

impl Default for Evapi {
    fn default() -> Self {
        Evapi {
            cfg: Config::default(),
            state: Arc::new(EvState::new(Config::default())),
        }
    }
}

fn int_param(name: &str, v: &Value) -> Result<i64, String> {
    v.try_int()
        .map(i64::from)
        .ok_or_else(|| format!("modparam(\"evapi\", \"{name}\") needs an integer, got `{v}`"))
}

/// Parse `bind_addr`: `IP:PORT`, `[IPv6]:PORT`, `IPv6:PORT` or `host:PORT`;
/// without `:PORT` the port is 8448 and port 0 is refused (Kamailio 5.6).
pub fn parse_bind(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(a) = s.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err(format!("evapi: bind_addr `{s}`: invalid port: 0"));
        }
        return Ok(a);
    }
    let err =
        || format!("evapi: bind_addr `{s}` is not `IP:PORT` (e.g. 127.0.0.1:8448 or [::1]:8448)");
    let (host, port) = match s.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| err())?),
        None => (s, 8448),
    };
    if port == 0 {
        return Err(format!("evapi: bind_addr `{s}`: invalid port: 0"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(err)
}

impl Module for Evapi {
    fn name(&self) -> &'static str {
        "evapi"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        let (s, i) = (ModParamDecl::str, ModParamDecl::any);
        vec![
            i("workers"),
            s("bind_addr"),
            i("netstring_format"),
            s("event_callback"),
            i("max_clients"),
            i("wait_idle"),
            i("wait_increase"),
            i("send_data_timeout"),
            i("max_queue"),
            i("max_frame_size"),
        ]
    }

    fn events(&self) -> Vec<&'static str> {
        vec![
            "evapi:connection-new",
            "evapi:connection-closed",
            "evapi:message-received",
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let positive = |v: i64, what: &str| {
            if v > 0 {
                Ok(v)
            } else {
                Err(format!(
                    "modparam(\"evapi\", \"{what}\") must be positive, got {v}"
                ))
            }
        };
        match name {
            "workers" => {
                let v = int_param(name, value)?;
                if v < 0 {
                    return Err(format!(
                        "modparam(\"evapi\", \"workers\") must be 0 or more, got {v}"
                    ));
                }
                // 0 means "in the dispatcher" in Kamailio: siprd uses one script thread.
                self.cfg.workers = (v as usize).clamp(1, 64);
            }
            "bind_addr" => {
                let s = value.to_string();
                parse_bind(&s)?;
                self.cfg.bind = s;
            }
            "netstring_format" => self.cfg.netstring = int_param(name, value)? != 0,
            "event_callback" => {
                // used under KEMI through `Runtime::event` (cfgengine "lua")
                let s = value.to_string();
                self.cfg.event_callback = (!s.is_empty()).then_some(s);
            }
            "max_clients" => {
                // 0 starts and closes every client at once (Kamailio 5.6)
                let v = int_param(name, value)?;
                if v < 0 {
                    return Err(format!("modparam(\"evapi\", \"{name}\") must be >= 0"));
                }
                self.cfg.max_clients = v.min(4096) as usize
            }
            "wait_idle" | "wait_increase" => {
                int_param(name, value)?;
            }
            "send_data_timeout" => {
                let v = int_param(name, value)?;
                self.cfg.send_timeout = (v > 0).then(|| Duration::from_micros(v as u64));
            }
            "max_queue" => self.cfg.max_queue = positive(int_param(name, value)?, name)? as usize,
            "max_frame_size" => {
                self.cfg.max_frame =
                    (positive(int_param(name, value)?, name)? as usize).clamp(16, MAX_FRAME_LIMIT)
            }
            _ => return Err(format!("module `evapi` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        parse_bind(&self.cfg.bind)?;
        self.state = Arc::new(EvState::new(self.cfg.clone()));
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        register(reg, &self.state);
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let st = &self.state;
        let _ = st.events.set(Events {
            new: rt.event("evapi:connection-new"),
            closed: rt.event("evapi:connection-closed"),
            msg: rt.event("evapi:message-received"),
        });
        let addr = parse_bind(&st.cfg.bind)?;
        let listener = std::net::TcpListener::bind(addr)
            .map_err(|e| format!("evapi: cannot listen on {addr}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("evapi: cannot set {addr} non-blocking: {e}"))?;
        let mut txs = Vec::with_capacity(st.cfg.workers);
        let mut rxs = Vec::with_capacity(st.cfg.workers);
        for _ in 0..st.cfg.workers.max(1) {
            let (tx, rx) = crossbeam_channel::bounded::<Job>(4096);
            txs.push(tx);
            rxs.push(rx);
        }
        let _ = st.jobs.set(txs);
        let mut threads = st.threads.lock();
        for (n, rx) in rxs.into_iter().enumerate() {
            let st = st.clone();
            let rt = rt.clone();
            let h = std::thread::Builder::new()
                .name(format!("evapi-worker-{n}"))
                .spawn(move || worker_loop(&st, &rt, &rx))
                .map_err(|e| format!("evapi: cannot start a worker thread: {e}"))?;
            threads.push(h);
        }
        let st2 = st.clone();
        let h = std::thread::Builder::new()
            .name("evapi-io".into())
            .spawn(move || server::run(st2, listener))
            .map_err(|e| format!("evapi: cannot start the network thread: {e}"))?;
        threads.push(h);
        tracing::info!("evapi: listening on {addr}");
        Ok(())
    }

    fn stop(&self) {
        self.state.stop.store(true, Ordering::Relaxed);
        self.state.shutdown.notify_one();
        for tx in self.state.jobs.get().into_iter().flatten() {
            // A full queue: the worker sees the stop flag after its next job.
            let _ = tx.try_send(Job::Stop);
        }
        let threads: Vec<_> = self.state.threads.lock().drain(..).collect();
        for h in threads {
            let _ = h.join();
        }
    }
}

/// A script thread: runs the evapi event routes for frames and connections.
fn worker_loop(st: &Arc<EvState>, rt: &Arc<Runtime>, rx: &crossbeam_channel::Receiver<Job>) {
    DIRECT.with(|d| d.set(true));
    let ev = st.events();
    loop {
        if st.stop.load(Ordering::Relaxed) {
            return;
        }
        let Ok(job) = rx.recv() else { return };
        match job {
            Job::Stop => return,
            Job::New(data, done) => {
                if let Some(h) = &ev.new {
                    rt.raise(h, Some(Box::new(data)));
                }
                let _ = done.send(());
            }
            Job::Msg(data) => {
                if let Some(h) = &ev.msg {
                    rt.raise(h, Some(Box::new(data)));
                }
            }
            Job::Closed(data, client, done) => {
                if let Some(h) = &ev.closed {
                    rt.raise(h, Some(Box::new(data)));
                }
                st.release(&client);
                let _ = done.send(());
            }
        }
    }
}

#[derive(Clone, Copy)]
enum EvField {
    SrcAddr,
    SrcPort,
    Msg,
    ConIdx,
}

struct EvapiPv(EvField);

impl PvImpl<Ctx> for EvapiPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let Some(ev) = ctx.event_data::<EvapiEvent>() else {
            return Value::Null;
        };
        if ev.closed.get() {
            return Value::Null;
        }
        match self.0 {
            EvField::SrcAddr => Value::from_string(ev.addr.ip().to_string()),
            EvField::SrcPort => Value::Int(i32::from(ev.addr.port())),
            EvField::Msg => match &ev.msg {
                Some(m) => Value::Str(m.clone()),
                None => Value::Null,
            },
            EvField::ConIdx => Value::Int(ev.conidx as i32),
        }
    }
}

/// The fixed-up data argument of the `_async_` functions: the format and tm's
/// `t_suspend`, found in the registry when the config is compiled.
struct AsyncData {
    fmt: Format<Ctx>,
    /// None without tm: Kamailio 5.6 starts and the functions are false.
    suspend: Option<FuncImpl<Ctx>>,
}

fn async_fixup() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let suspend = fx
            .registry
            .functions
            .get("t_suspend")
            .and_then(|defs| defs.iter().find(|d| d.params.is_empty()))
            .map(|d| d.call.clone());
        if suspend.is_none() {
            // Kamailio 5.6 starts; the call is false at run time
            fx.warnings.push(
                "tm is not loaded: evapi_async_* will return false (loadmodule \"tm.so\")"
                    .to_string(),
            );
        }
        let fmt = parse_format(fx, &src.text)?;
        Ok(Arg::Custom(Box::new(AsyncData { fmt, suspend })))
    }))
}

/// `evapi_async_*`: suspend the transaction, then relay (the data may use
/// `$T(id_index)` / `$T(id_label)`). False, without suspending, when no client
/// would receive it.
fn async_relay(st: &EvState, ctx: &mut Ctx, args: &[Arg<Ctx>], unicast: Option<bool>) -> i32 {
    let Arg::Custom(c) = &args[0] else { return -1 };
    let Some(ad) = c.downcast_ref::<AsyncData>() else {
        return -1;
    };
    let Some(suspend) = &ad.suspend else {
        tracing::error!("evapi: evapi async relay is disabled - tm module not loaded");
        return -1;
    };
    let tag = match unicast {
        Some(_) => match args.get(1).and_then(|a| str_arg(ctx, a)) {
            Some(t) if !t.is_empty() => Some(t),
            _ => {
                tracing::error!("evapi: empty tag: the transaction is not suspended");
                return -1;
            }
        },
        None => None,
    };
    // As Kamailio: suspended even when no client would receive the event
    // (tm's timers end the transaction then).
    if suspend(ctx, &[]) <= 0 {
        tracing::error!("evapi: cannot suspend the transaction");
        return -1;
    }
    let data = ad.fmt.eval(ctx);
    if data.is_empty() {
        // As Kamailio: false, and the transaction stays suspended.
        tracing::error!("evapi: no data to relay");
        return -1;
    }
    // From a SIP worker the event is handed over: true even with no client.
    let _ = st.relay(&data, tag.as_deref(), unicast.unwrap_or(false));
    1
}

fn def(name: &'static str, params: Vec<ParamKind<Ctx>>, call: FuncImpl<Ctx>) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "evapi",
        params,
        routes: route_type::ANY,
        call,
    }
}

fn register(reg: &mut Registry<Ctx>, st: &Arc<EvState>) {
    reg.add_pv(PvClassDef {
        name: "evapi",
        module: "evapi",
        parse: Arc::new(|_fx, inner| {
            // names are exact: no blanks, as Kamailio
            let f = match inner {
                Some("srcaddr") => EvField::SrcAddr,
                Some("srcport") => EvField::SrcPort,
                Some("msg") => EvField::Msg,
                Some("conidx") => EvField::ConIdx,
                other => {
                    return Err(format!(
                        "unknown `$evapi({})`: expected srcaddr, srcport, msg or conidx",
                        other.unwrap_or("")
                    ))
                }
            };
            Ok(Box::new(EvapiPv(f)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    let s = st.clone();
    reg.add_function(def(
        "evapi_relay",
        vec![ParamKind::Format],
        func(move |ctx, args| {
            let Some(data) = str_arg(ctx, &args[0]).filter(|d| !d.is_empty()) else {
                tracing::error!("evapi_relay: no data to relay");
                return -1;
            };
            let n = s.relay(&data, None, false);
            s.relay_code(n)
        }),
    ));
    for (name, unicast) in [("evapi_multicast", false), ("evapi_unicast", true)] {
        let s = st.clone();
        reg.add_function(def(
            name,
            vec![ParamKind::Format, ParamKind::Format],
            func(move |ctx, args| {
                let (Some(data), Some(tag)) = (str_arg(ctx, &args[0]), str_arg(ctx, &args[1]))
                else {
                    return -1;
                };
                if data.is_empty() || tag.is_empty() {
                    tracing::error!("{name}: empty data or tag");
                    return -1;
                }
                let n = s.relay(&data, Some(&tag), unicast);
                s.relay_code(n)
            }),
        ));
    }
    let s = st.clone();
    reg.add_function(FuncDef {
        routes: route_type::REQUEST,
        ..def(
            "evapi_async_relay",
            vec![async_fixup()],
            func(move |ctx: &mut Ctx, args: &[Arg<Ctx>]| async_relay(&s, ctx, args, None)),
        )
    });
    for (name, unicast) in [
        ("evapi_async_multicast", false),
        ("evapi_async_unicast", true),
    ] {
        let s = st.clone();
        reg.add_function(FuncDef {
            routes: route_type::REQUEST,
            ..def(
                name,
                vec![async_fixup(), ParamKind::Format],
                func(move |ctx: &mut Ctx, args: &[Arg<Ctx>]| {
                    async_relay(&s, ctx, args, Some(unicast))
                }),
            )
        });
    }
    let s = st.clone();
    reg.add_function(def(
        "evapi_close",
        vec![],
        func(move |ctx: &mut Ctx, _args: &[Arg<Ctx>]| {
            let Some(ev) = ctx.event_data::<EvapiEvent>() else {
                tracing::error!("evapi_close: not running for an evapi connection");
                return -1;
            };
            if ev.closed.get() {
                // as Kamailio: the connection was already forgotten
                return -2;
            }
            ev.closed.set(true);
            // Already gone (evapi:connection-closed): nothing to do, true as Kamailio.
            let Some(c) = s.client(ev.conidx, ev.gen) else {
                return 1;
            };
            c.script_closed.store(true, Ordering::Relaxed);
            s.release(&c);
            c.close.notify_one();
            1
        }),
    ));
    let s = st.clone();
    reg.add_function(def(
        "evapi_set_tag",
        vec![ParamKind::FormatOrPv],
        func(move |ctx, args| {
            let Some(tag) = str_arg(ctx, &args[0]) else {
                return -1;
            };
            if tag.len() > MAX_TAG_LEN {
                tracing::error!(
                    "evapi_set_tag: the tag must be at most {MAX_TAG_LEN} characters, got {}",
                    tag.len()
                );
                return -1;
            }
            let Some(ev) = ctx.event_data::<EvapiEvent>() else {
                tracing::error!("evapi_set_tag: not running for an evapi connection");
                return -1;
            };
            if ev.closed.get() {
                return -1;
            }
            // Already gone (evapi:connection-closed): no effect, true as Kamailio.
            let Some(c) = s.client(ev.conidx, ev.gen) else {
                return 1;
            };
            // An empty tag removes the client's tag.
            *c.tag.lock() = (!tag.is_empty()).then_some(tag);
            1
        }),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses() {
        assert_eq!(
            parse_bind("127.0.0.1:8448").unwrap(),
            "127.0.0.1:8448".parse().unwrap()
        );
        assert_eq!(
            parse_bind("[::1]:9000").unwrap(),
            "[::1]:9000".parse().unwrap()
        );
        assert_eq!(
            parse_bind("::1:9000").unwrap(),
            "[::1]:9000".parse().unwrap()
        );
        // Kamailio 5.6: no port is 8448, port 0 is refused
        assert_eq!(
            parse_bind("127.0.0.1").unwrap(),
            "127.0.0.1:8448".parse().unwrap()
        );
        assert!(parse_bind("127.0.0.1:0").is_err());
        assert!(parse_bind("127.0.0.1:x").is_err());
    }

    #[test]
    fn params() {
        let mut m = Evapi::default();
        m.set_param("max_clients", &Value::Int(2)).unwrap();
        m.set_param("send_data_timeout", &Value::Int(250_000))
            .unwrap();
        m.set_param("netstring_format", &Value::Int(0)).unwrap();
        m.set_param("bind_addr", &Value::from_static("[::1]:8448"))
            .unwrap();
        assert!(m
            .set_param("bind_addr", &Value::from_static("nope"))
            .is_err());
        assert!(m.set_param("max_queue", &Value::Int(0)).is_err());
        assert!(m.set_param("bogus", &Value::Int(0)).is_err());
        m.init(&CoreSettings::default()).unwrap();
        assert_eq!(m.state.cfg.max_clients, 2);
        assert_eq!(
            m.state.cfg.send_timeout,
            Some(Duration::from_micros(250_000))
        );
        assert!(!m.state.cfg.netstring);
    }
}
