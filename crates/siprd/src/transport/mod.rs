//! Network transport: UDP and TCP listeners, worker threads, sends.
//!
//! The transport knows nothing of SIP semantics or scripts. The server implements
//! [`Handler`]; the transport calls it on worker threads with whole messages
//! ([`Received`]) and a [`WorkerIo`] to send with.
//!
//! * **UDP**: `children` OS threads per UDP listener, sharing its socket. While
//!   traffic is light one of them receives and the others are parked; more get
//!   a turn when batches come back full or when every receiver is stuck in a
//!   route while datagrams wait (a watchdog thread, `udp-watch`, checks every
//!   20 ms while receivers are in routes, less often under light load or
//!   none), and give it back when the socket is empty (`receivers.rs`). Waking
//!   fewer threads per burst is the cheapest thing the UDP path can do. Workers
//!   receive with `recvmmsg` (batches up to [`TransportConfig::udp_batch`],
//!   `SO_RCVTIMEO` 500 ms as a shutdown backstop); UDP sends made while handling a batch are queued
//!   and flushed with `sendmmsg` at the end of the batch (or on
//!   [`WorkerIo::flush`], which the script side calls before anything that may
//!   block).
//! * **TCP**: one tokio reactor thread (`tcp-reactor`) accepts and reads all
//!   connections, frames messages (`Content-Length`) and hands each whole message
//!   to one of `tcp_children` worker threads. A connection sticks to one worker,
//!   so its messages are handled in order. Replies go back on the same
//!   connection ([`Dest::reply`]); a send to an address with no connection opens
//!   one. Limits: `max_tcp_header` (a 100 KB header closes the connection, as
//!   Kamailio), `tcp_max_connections` (extra connections are accepted and closed at
//!   once), `tcp_connection_lifetime` (idle connections are closed).
//! * **Junk on TCP**: when the framer refuses a stream for any reason other than
//!   size (no Content-Length under `tcp_accept_no_cl=no`, a bad one), the bytes
//!   read so far are delivered once as a [`Received`] with `framing_error: true`,
//!   then the connection is closed; the dispatcher raises nothing for them (as
//!   Kamailio's stream reader, which fails before any parsing). The first
//!   Content-Length header frames a message. Oversized headers are never
//!   delivered.
//! * Non-worker threads send through a cloneable, thread-safe [`Sender`]
//!   ([`Transport::sender`]); its UDP sends are immediate.

pub mod listen;
mod outbox;
mod receivers;
pub mod reverse;
mod tcp;
pub use tcp::TcpCounters;
mod udp;
pub(crate) use udp::{grow_rcvbuf, RecvBatch};

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use socket2::Socket;

pub use listen::{Advertise, Endpoint, ExpandOptions, ListenError, ListenHost, ListenSpec};
pub use tcp::{TcpConnInfo, TcpSnapshot};

use crate::log::RateLimit;

/// Transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Index of a listener in [`Transport::listeners`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerId(pub u16);

/// A TCP connection id (like Kamailio's `$conid`); never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A whole message received on a listener.
#[derive(Debug, Clone)]
pub struct Received {
    pub data: Bytes,
    /// The peer.
    pub src: SocketAddr,
    /// The listener address (for an outgoing TCP connection: the listener it
    /// belongs to).
    pub local: SocketAddr,
    pub proto: Proto,
    pub listener: ListenerId,
    /// The TCP connection it came on.
    pub conn: Option<ConnId>,
    /// TCP only: the stream could not be framed as SIP; `data` holds what was
    /// read (at most `max_tcp_header` bytes) and the connection is being closed.
    pub framing_error: bool,
}

/// Where to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    pub proto: Proto,
    pub addr: SocketAddr,
    /// Send from this listener (UDP source socket / TCP listener an outgoing
    /// connection is attributed to). `None`: the worker's own listener when the
    /// address family matches, else the first listener of that proto and family.
    pub listener: Option<ListenerId>,
    /// TCP: use this connection if it is still open (else one to `addr`, else a
    /// new one).
    pub conn: Option<ConnId>,
}

impl Dest {
    pub fn udp(addr: SocketAddr) -> Dest {
        Dest {
            proto: Proto::Udp,
            addr,
            listener: None,
            conn: None,
        }
    }
    pub fn tcp(addr: SocketAddr) -> Dest {
        Dest {
            proto: Proto::Tcp,
            addr,
            listener: None,
            conn: None,
        }
    }
    /// Back to the sender of `r`: same proto, listener and connection.
    pub fn reply(r: &Received) -> Dest {
        Dest {
            proto: r.proto,
            addr: r.src,
            listener: Some(r.listener),
            conn: r.conn,
        }
    }
}

/// Why a TCP connection closed (for [`Handler::on_tcp_closed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed (EOF) or reset.
    Peer,
    /// Idle longer than `tcp_connection_lifetime`.
    Idle,
    /// Framing error, oversized header or message, or a write error.
    Error,
    /// An outgoing connection could not be established.
    ConnectFailed,
    /// Closed by us after a send, as the script asked (`set_reply_close`,
    /// `set_forward_close`).
    Local,
    Shutdown,
}

/// What the server implements. All callbacks run on worker threads and may block
/// (blocking stalls only that worker).
pub trait Handler: Send + Sync + 'static {
    fn on_message(&self, io: &mut WorkerIo, pkt: Received);
    /// Once per worker thread, before its first message.
    fn on_worker_start(&self, _io: &mut WorkerIo) {}
    /// Once per worker thread when it stops (if it stops within the deadline).
    fn on_worker_stop(&self, _io: &mut WorkerIo) {}
    /// A TCP connection closed; runs on the TCP worker that owned it, after its
    /// messages.
    fn on_tcp_closed(
        &self,
        _io: &mut WorkerIo,
        _conn: ConnId,
        _peer: SocketAddr,
        _reason: CloseReason,
    ) {
    }
}

/// Transport parameters (Kamailio global parameter names).
#[derive(Debug, Clone)]
pub struct TransportConfig {
    /// UDP workers per UDP listener (`children`, default 8).
    pub children: usize,
    /// TCP workers in total (`tcp_children`; `None` = `children`, as Kamailio).
    pub tcp_children: Option<usize>,
    /// `tcp_max_connections` (default 2048), incoming and outgoing together.
    pub tcp_max_connections: usize,
    /// Largest header block accepted on TCP before the connection is closed.
    pub max_tcp_header: usize,
    /// Largest whole message (header + body) on TCP.
    pub max_tcp_message: usize,
    /// `tcp_accept_no_cl` (default no): a TCP message without Content-Length
    /// has an empty body instead of closing the connection (as Kamailio).
    pub tcp_accept_no_cl: bool,
    /// `tcp_connection_lifetime` (default 120 s): idle connections are closed.
    pub tcp_connection_lifetime: Duration,
    /// `tcp_connect_timeout` (default 10 s).
    pub tcp_connect_timeout: Duration,
    /// Unsent bytes allowed per TCP connection; beyond, sends to it fail with
    /// [`SendError::QueueFull`] (a slow reader never blocks a worker).
    pub tcp_max_queued: usize,
    /// recvmmsg batch size (1..=64, default 64).
    pub udp_batch: usize,
    /// Requested SO_RCVBUF for UDP sockets (capped by the OS).
    pub udp_rcvbuf: Option<usize>,
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            children: 8,
            tcp_children: None,
            tcp_max_connections: 2048,
            max_tcp_header: 65535,
            max_tcp_message: 1 << 20,
            tcp_accept_no_cl: false,
            tcp_connection_lifetime: Duration::from_secs(120),
            tcp_connect_timeout: Duration::from_secs(10),
            tcp_max_queued: 4 << 20,
            udp_batch: 64,
            udp_rcvbuf: Some(4 << 20),
        }
    }
}

/// How a UDP listener's workers share the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Steering {
    /// One worker, one socket.
    Single,
    /// All workers share one socket and take turns receiving
    /// (see `transport/receivers.rs`).
    Shared,
    /// TCP listener.
    Tcp,
}

/// A bound listener.
#[derive(Debug, Clone)]
pub struct ListenerInfo {
    pub id: ListenerId,
    pub proto: Proto,
    /// The bound address (port 0 resolved).
    pub addr: SocketAddr,
    pub advertise: Option<Advertise>,
    pub name: Option<String>,
    pub host_name: Option<String>,
    pub steering: Steering,
}

/// Start-up errors.
#[derive(Debug)]
pub enum Error {
    Bind {
        proto: Proto,
        addr: SocketAddr,
        source: io::Error,
    },
    Io {
        what: String,
        source: io::Error,
    },
    Config(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Bind {
                proto,
                addr,
                source,
            } => write!(f, "cannot bind {proto}:{addr}: {}", io_msg(source)),
            Error::Io { what, source } => write!(f, "{what}: {}", io_msg(source)),
            Error::Config(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } | Error::Io { source, .. } => Some(source),
            Error::Config(_) => None,
        }
    }
}

/// `Address already in use` without Rust's ` (os error 98)` suffix.
fn io_msg(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// Send errors.
#[derive(Debug)]
pub enum SendError {
    /// No listener of that proto and address family to send from.
    NoListener {
        proto: Proto,
        addr: SocketAddr,
    },
    /// The given listener is not usable for this destination.
    BadListener(ListenerId),
    /// A UDP datagram larger than the protocol allows.
    TooLarge(usize),
    /// TCP: too many connections to open another one.
    TooManyConnections,
    /// TCP: the connection's send queue is over `tcp_max_queued`.
    QueueFull,
    Stopped,
    Io(io::Error),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NoListener { proto, addr } => {
                write!(f, "no {proto} listener to send to {addr} from")
            }
            SendError::BadListener(l) => {
                write!(f, "listener {} cannot send to this destination", l.0)
            }
            SendError::TooLarge(n) => write!(f, "datagram of {n} bytes is too large"),
            SendError::TooManyConnections => f.write_str("tcp_max_connections reached"),
            SendError::QueueFull => f.write_str("tcp send queue full"),
            SendError::Stopped => f.write_str("transport stopped"),
            SendError::Io(e) => write!(f, "{}", io_msg(e)),
        }
    }
}

impl std::error::Error for SendError {}

/// State shared by workers, senders and the transport handle.
struct Inner {
    listeners: Vec<ListenerInfo>,
    /// Per listener id: the UDP socket used to send from it.
    udp_send: Vec<Option<Arc<Socket>>>,
    tcp: Option<Arc<tcp::TcpShared>>,
    stop: AtomicBool,
}

impl Inner {
    /// Picks the UDP listener to send from.
    fn pick(
        &self,
        proto: Proto,
        dst: &SocketAddr,
        want: Option<ListenerId>,
        own: Option<ListenerId>,
    ) -> Result<ListenerId, SendError> {
        let ok = |id: ListenerId| {
            self.listeners
                .get(id.0 as usize)
                .is_some_and(|l| l.proto == proto && l.addr.is_ipv4() == dst.is_ipv4())
        };
        if let Some(w) = want {
            return if ok(w) {
                Ok(w)
            } else {
                Err(SendError::BadListener(w))
            };
        }
        if let Some(o) = own.filter(|&o| ok(o)) {
            return Ok(o);
        }
        self.listeners
            .iter()
            .find(|l| ok(l.id))
            .map(|l| l.id)
            .ok_or(SendError::NoListener { proto, addr: *dst })
    }
}

fn check_udp_size(dst: &SocketAddr, len: usize) -> Result<(), SendError> {
    let max = if dst.is_ipv4() { 65507 } else { 65527 };
    if len > max {
        Err(SendError::TooLarge(len))
    } else {
        Ok(())
    }
}

/// A cloneable, thread-safe send handle for non-worker threads (timers, module
/// threads). UDP sends are immediate (`sendto`); TCP sends are queued on the
/// connection's writer.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    pub fn send(&self, to: &Dest, data: &[u8]) -> Result<(), SendError> {
        self.send_from(to, data, None)
    }

    fn send_from(&self, to: &Dest, data: &[u8], own: Option<ListenerId>) -> Result<(), SendError> {
        if self.inner.stop.load(Ordering::Relaxed) {
            return Err(SendError::Stopped);
        }
        match to.proto {
            Proto::Udp => {
                check_udp_size(&to.addr, data.len())?;
                let id = self.inner.pick(Proto::Udp, &to.addr, to.listener, own)?;
                let sock = self.inner.udp_send[id.0 as usize]
                    .as_ref()
                    .ok_or(SendError::BadListener(id))?;
                let sa = socket2::SockAddr::from(to.addr);
                loop {
                    match sock.send_to(data, &sa) {
                        Ok(_) => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(SendError::Io(e)),
                    }
                }
            }
            Proto::Tcp => {
                let tcp = self.inner.tcp.as_ref().ok_or(SendError::NoListener {
                    proto: Proto::Tcp,
                    addr: to.addr,
                })?;
                let id = self.inner.pick(Proto::Tcp, &to.addr, to.listener, own)?;
                tcp.send(to, id, Bytes::copy_from_slice(data))
            }
        }
    }

    /// TCP: close the connection `to` would use once what is queued on it
    /// is written (nothing when there is none).
    pub fn tcp_close_after(&self, to: &Dest) {
        if let Some(tcp) = &self.inner.tcp {
            tcp.close_after(to);
        }
    }

    /// TCP: what is sent to `addr` goes on connection `conn`.
    pub fn tcp_add_alias(&self, conn: ConnId, addr: SocketAddr) -> bool {
        self.inner
            .tcp
            .as_ref()
            .is_some_and(|t| t.add_alias(conn.0, addr))
    }

    /// TCP: whether a connection `to` would use is open (or opening).
    pub fn tcp_has_conn(&self, to: &Dest) -> bool {
        self.inner.tcp.as_ref().is_some_and(|t| t.has_conn(to))
    }

    /// The bound listeners.
    pub fn listeners(&self) -> &[ListenerInfo] {
        &self.inner.listeners
    }

    /// TCP connections and settings; None without a TCP listener.
    pub fn tcp_snapshot(&self) -> Option<tcp::TcpSnapshot> {
        self.inner.tcp.as_ref().map(|t| t.snapshot())
    }
}

/// Which kind of worker a [`WorkerIo`] belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerKind {
    Udp { listener: ListenerId },
    Tcp,
}

/// A worker's send side, passed to every [`Handler`] callback.
pub struct WorkerIo {
    sender: Sender,
    outbox: outbox::Outbox,
    batching: bool,
    index: usize,
    rank: usize,
    kind: WorkerKind,
}

impl fmt::Debug for WorkerIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerIo")
            .field("index", &self.index)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

static RL_PANIC: RateLimit = RateLimit::new();

impl WorkerIo {
    fn new(sender: Sender, index: usize, rank: usize, kind: WorkerKind) -> WorkerIo {
        WorkerIo {
            sender,
            outbox: outbox::Outbox::new(),
            batching: false,
            index,
            rank,
            kind,
        }
    }

    /// Sends `data`. UDP sends made while a batch is being handled are queued
    /// and flushed with `sendmmsg` when the batch ends (or on [`flush`]); errors
    /// of queued sends are logged (rate-limited), not returned.
    ///
    /// [`flush`]: WorkerIo::flush
    pub fn send(&mut self, to: &Dest, data: &[u8]) -> Result<(), SendError> {
        let own = match self.kind {
            WorkerKind::Udp { listener } => Some(listener),
            WorkerKind::Tcp => None,
        };
        if to.proto == Proto::Udp && self.batching {
            if self.sender.inner.stop.load(Ordering::Relaxed) {
                return Err(SendError::Stopped);
            }
            check_udp_size(&to.addr, data.len())?;
            let id = self
                .sender
                .inner
                .pick(Proto::Udp, &to.addr, to.listener, own)?;
            let sock = self.sender.inner.udp_send[id.0 as usize]
                .as_ref()
                .ok_or(SendError::BadListener(id))?;
            use std::os::fd::AsRawFd;
            if self.outbox.push(sock.as_raw_fd(), &to.addr, data) {
                self.outbox.flush();
            }
            return Ok(());
        }
        self.sender.send_from(to, data, own)
    }

    /// Sends everything queued. Call before anything that may block.
    pub fn flush(&mut self) {
        self.outbox.flush();
    }

    /// Index among workers of the same kind (UDP: 0.. over all UDP listeners;
    /// TCP: 0..tcp_children).
    pub fn worker_index(&self) -> usize {
        self.index
    }

    /// Rank among all worker threads, 1-based (Kamailio's process number; 0 is
    /// the main thread).
    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn kind(&self) -> WorkerKind {
        self.kind
    }

    pub fn is_tcp(&self) -> bool {
        self.kind == WorkerKind::Tcp
    }

    /// A handle for other threads.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    pub fn listeners(&self) -> &[ListenerInfo] {
        &self.sender.inner.listeners
    }
}

/// Runs a handler callback, containing panics (logged, rate-limited).
fn guarded(what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        if let Some(n) = RL_PANIC.check() {
            tracing::error!(target: "transport", suppressed = n, "handler panicked in {what}; worker continues");
        }
    }
}

/// A running transport.
pub struct Transport {
    inner: Arc<Inner>,
    threads: Vec<std::thread::JoinHandle<()>>,
    done_rx: crossbeam_channel::Receiver<()>,
    udp_socks: Vec<Arc<Socket>>,
    receivers: Vec<Arc<receivers::Receivers>>,
    stopped: bool,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("listeners", &self.inner.listeners)
            .finish_non_exhaustive()
    }
}

/// Signals thread exit even on panic.
struct DoneGuard(crossbeam_channel::Sender<()>);
impl Drop for DoneGuard {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

impl Transport {
    /// Binds every endpoint (errors name the address) and starts the workers.
    pub fn start(
        endpoints: &[Endpoint],
        cfg: TransportConfig,
        handler: Arc<dyn Handler>,
    ) -> Result<Transport, Error> {
        if endpoints.is_empty() {
            return Err(Error::Config("no listen address".into()));
        }
        if endpoints.len() > u16::MAX as usize {
            return Err(Error::Config("too many listen addresses".into()));
        }
        let children = cfg.children.max(1);
        let mut listeners = Vec::new();
        let mut udp_groups = Vec::new();
        let mut tcp_binds = Vec::new();
        let mut udp_send = Vec::new();
        for (i, ep) in endpoints.iter().enumerate() {
            let id = ListenerId(i as u16);
            match ep.proto {
                Proto::Udp => {
                    let g = udp::bind_group(ep.addr, children, &cfg)?;
                    listeners.push(ListenerInfo {
                        id,
                        proto: Proto::Udp,
                        addr: g.addr,
                        advertise: ep.advertise.clone(),
                        name: ep.name.clone(),
                        host_name: ep.host_name.clone(),
                        steering: g.steering,
                    });
                    udp_send.push(Some(g.sock.clone()));
                    udp_groups.push((id, g));
                }
                Proto::Tcp => {
                    let (sock, addr) = tcp::bind(ep.addr)?;
                    listeners.push(ListenerInfo {
                        id,
                        proto: Proto::Tcp,
                        addr,
                        advertise: ep.advertise.clone(),
                        name: ep.name.clone(),
                        host_name: ep.host_name.clone(),
                        steering: Steering::Tcp,
                    });
                    udp_send.push(None);
                    tcp_binds.push((id, addr, sock));
                }
            }
        }
        let (done_tx, done_rx) = crossbeam_channel::unbounded();
        let mut threads = Vec::new();
        let tcp_children = cfg.tcp_children.unwrap_or(children).max(1);
        let (tcp_shared, tcp_rxs, reactor) = if tcp_binds.is_empty() {
            (None, Vec::new(), None)
        } else {
            let (s, rxs, r) = tcp::TcpShared::new(&cfg, tcp_children)?;
            (Some(s), rxs, Some(r))
        };
        let inner = Arc::new(Inner {
            listeners,
            udp_send,
            tcp: tcp_shared.clone(),
            stop: AtomicBool::new(false),
        });
        let sender = Sender {
            inner: inner.clone(),
        };
        let mut udp_socks = Vec::new();
        let mut rank = 1;
        let mut udp_index = 0;
        let spawn_err = |e: io::Error| Error::Io {
            what: "cannot start worker thread".into(),
            source: e,
        };
        let mut transport_threads = Vec::new();
        let mut receivers = Vec::new();
        for (id, g) in udp_groups {
            udp_socks.push(g.sock.clone());
            if children > 1 {
                receivers.push(g.receivers.clone());
            }
            for w in 0..children {
                let recv = udp::WorkerRecv {
                    sock: g.sock.clone(),
                    receivers: g.receivers.clone(),
                    first: w == 0,
                    local: g.addr,
                    listener: id,
                    batch: cfg.udp_batch.clamp(1, 64),
                };
                let mut io = WorkerIo::new(
                    sender.clone(),
                    udp_index,
                    rank,
                    WorkerKind::Udp { listener: id },
                );
                let h = handler.clone();
                let done = DoneGuard(done_tx.clone());
                let stop_inner = inner.clone();
                let t = std::thread::Builder::new()
                    .name(format!("udp-w{udp_index}"))
                    .spawn(move || {
                        let _done = done;
                        crate::log::set_thread_rank(io.rank);
                        guarded("on_worker_start", || h.on_worker_start(&mut io));
                        io.flush();
                        udp::worker_loop(&recv, &mut io, &*h, &stop_inner.stop);
                        guarded("on_worker_stop", || h.on_worker_stop(&mut io));
                        io.flush();
                    })
                    .map_err(spawn_err)?;
                transport_threads.push(t);
                udp_index += 1;
                rank += 1;
            }
        }
        if !receivers.is_empty() {
            let done = DoneGuard(done_tx.clone());
            let stop_inner = inner.clone();
            let groups = receivers.clone();
            let t = std::thread::Builder::new()
                .name("udp-watch".into())
                .spawn(move || {
                    let _done = done;
                    receivers::watchdog(groups, &stop_inner.stop);
                })
                .map_err(spawn_err)?;
            transport_threads.push(t);
        }
        threads.extend(transport_threads);
        if let (Some(shared), Some(reactor)) = (tcp_shared, reactor) {
            for (w, rx) in tcp_rxs.into_iter().enumerate() {
                let mut io = WorkerIo::new(sender.clone(), w, rank, WorkerKind::Tcp);
                let h = handler.clone();
                let done = DoneGuard(done_tx.clone());
                let stop_inner = inner.clone();
                let t = std::thread::Builder::new()
                    .name(format!("tcp-w{w}"))
                    .spawn(move || {
                        let _done = done;
                        crate::log::set_thread_rank(io.rank);
                        guarded("on_worker_start", || h.on_worker_start(&mut io));
                        io.flush();
                        tcp::worker_loop(rx, &mut io, &*h, &stop_inner.stop);
                        guarded("on_worker_stop", || h.on_worker_stop(&mut io));
                        io.flush();
                    })
                    .map_err(spawn_err)?;
                threads.push(t);
                rank += 1;
            }
            let done = DoneGuard(done_tx.clone());
            let t = tcp::start_reactor(reactor, shared, tcp_binds, inner.listeners.clone(), done)
                .map_err(spawn_err)?;
            threads.push(t);
        }
        Ok(Transport {
            inner,
            threads,
            done_rx,
            udp_socks,
            receivers,
            stopped: false,
        })
    }

    /// The bound listeners, in the order of the endpoints given to `start`.
    pub fn listeners(&self) -> &[ListenerInfo] {
        &self.inner.listeners
    }

    /// A thread-safe send handle.
    pub fn sender(&self) -> Sender {
        Sender {
            inner: self.inner.clone(),
        }
    }

    /// Stops all workers and the reactor. Returns within about one second even
    /// if a handler is blocked (such threads are left detached); returns the
    /// number of threads that did not stop in time.
    pub fn shutdown(&mut self) -> usize {
        self.shutdown_within(Duration::from_millis(900))
    }

    pub fn shutdown_within(&mut self, limit: Duration) -> usize {
        if self.stopped {
            return 0;
        }
        self.stopped = true;
        let deadline = Instant::now() + limit;
        self.inner.stop.store(true, Ordering::SeqCst);
        for s in &self.udp_socks {
            // Wakes receivers blocked in recvmmsg at once (SO_RCVTIMEO is the backstop).
            let _ = s.shutdown(std::net::Shutdown::Read);
        }
        for r in &self.receivers {
            r.wake_all();
        }
        if let Some(t) = &self.inner.tcp {
            t.stop();
        }
        let total = self.threads.len();
        let mut done = 0;
        while done < total {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done_rx.recv_timeout(left) {
                Ok(()) => done += 1,
                Err(_) => break,
            }
        }
        let all_done = done == total;
        for t in self.threads.drain(..) {
            // A thread signals just before it returns: when all signalled, join all.
            if all_done || t.is_finished() {
                let _ = t.join();
            } else {
                tracing::warn!(target: "transport", "thread {} did not stop in time; leaving it", t.thread().name().unwrap_or("?"));
            }
        }
        total - done
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.shutdown();
    }
}
