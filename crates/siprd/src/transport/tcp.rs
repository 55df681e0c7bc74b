//! TCP: a tokio reactor thread accepts, reads and frames; whole messages go to
//! `tcp_children` worker threads (a connection sticks to one worker, so its
//! messages are handled in order); writes are queued per connection.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use hashbrown::HashMap;
use parking_lot::Mutex;
use siprd_sip::framing::{message_len, FrameError, MissingLength};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use super::{
    guarded, CloseReason, ConnId, Dest, Error, Handler, ListenerId, ListenerInfo, Proto, Received,
    SendError, TransportConfig, WorkerIo,
};
use crate::log::RateLimit;

/// Messages queued per TCP worker before readers wait (back-pressure).
const WORKER_QUEUE: usize = 1024;

pub(crate) enum Job {
    Msg(Received),
    Closed(ConnId, SocketAddr, CloseReason),
    Stop,
}

struct ConnEntry {
    tx: mpsc::UnboundedSender<Bytes>,
    peer: SocketAddr,
    queued: Arc<AtomicUsize>,
    meta: Arc<ConnMeta>,
    /// Other addresses sent on this connection (`force_tcp_alias()`).
    aliases: Vec<SocketAddr>,
}

/// What `core.tcp_list` shows of a connection.
struct ConnMeta {
    /// Our end: the listener's address.
    local: SocketAddr,
    /// Last read or write (ms since the shared epoch).
    last: AtomicU64,
    /// False while an outgoing connection is being set up.
    connected: AtomicBool,
}

/// One TCP connection, as `core.tcp_list` reports it.
#[derive(Debug, Clone)]
pub struct TcpConnInfo {
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub connected: bool,
    /// Time left before the connection is closed for idleness.
    pub idle_left: Duration,
    /// Bytes queued for writing.
    pub queued: usize,
}

/// The TCP side of the transport, for `core.tcp_info` / `core.tcp_list`.
#[derive(Debug, Clone)]
pub struct TcpSnapshot {
    pub workers: usize,
    pub max_connections: usize,
    pub lifetime: Duration,
    pub connect_timeout: Duration,
    pub max_queued: usize,
    pub conns: Vec<TcpConnInfo>,
    pub counters: Arc<TcpCounters>,
}

#[derive(Default)]
struct Table {
    by_id: HashMap<u64, ConnEntry>,
    by_peer: HashMap<SocketAddr, u64>,
}

pub(crate) struct TcpShared {
    table: Mutex<Table>,
    counters: Arc<TcpCounters>,
    next_id: AtomicU64,
    count: AtomicUsize,
    workers: Vec<mpsc::Sender<Job>>,
    rt: tokio::runtime::Handle,
    stop_notify: tokio::sync::Notify,
    stopping: AtomicBool,
    max_conns: usize,
    max_header: usize,
    /// A message without Content-Length: refused (closes) or empty-bodied.
    missing_length: MissingLength,
    max_message: usize,
    lifetime: Duration,
    connect_timeout: Duration,
    max_queued: usize,
    /// Listener addresses by id (for `Received::local` of outgoing connections).
    locals: Mutex<Vec<SocketAddr>>,
    epoch: std::time::Instant,
}

/// The shared state, one job queue per TCP worker, and the reactor to run.
pub(crate) type TcpParts = (Arc<TcpShared>, Vec<mpsc::Receiver<Job>>, Reactor);

pub(crate) struct Reactor {
    rt: tokio::runtime::Runtime,
}

static RL_ACCEPT: RateLimit = RateLimit::new();
static RL_LIMIT: RateLimit = RateLimit::new();
static RL_HDR: RateLimit = RateLimit::new();
static RL_JUNK: RateLimit = RateLimit::new();
static RL_HALF: RateLimit = RateLimit::new();
static RL_CONNECT: RateLimit = RateLimit::new();
static RL_QUEUE: RateLimit = RateLimit::new();

/// Binds a TCP listening socket (not yet registered with the reactor).
/// Kamailio's `tcp:` statistics counters (read by `stats.*`).
/// Kamailio's `tcp:` statistics of this transport.
#[derive(Debug, Default)]
pub struct TcpCounters {
    pub established: AtomicU64,
    pub passive_open: AtomicU64,
    pub connect_success: AtomicU64,
    pub connect_failed: AtomicU64,
    pub local_reject: AtomicU64,
    pub sendq_full: AtomicU64,
    pub con_timeout: AtomicU64,
    pub con_reset: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), Error> {
    let e = |source| Error::Bind {
        proto: Proto::Tcp,
        addr,
        source,
    };
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(e)?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(e)?;
    }
    s.set_reuse_address(true).map_err(e)?;
    s.bind(&SockAddr::from(addr)).map_err(e)?;
    s.listen(1024).map_err(e)?;
    s.set_nonblocking(true).map_err(e)?;
    let bound = s
        .local_addr()
        .map_err(e)?
        .as_socket()
        .ok_or_else(|| e(io::Error::other("not an inet socket")))?;
    Ok((s.into(), bound))
}

impl TcpShared {
    pub(crate) fn new(cfg: &TransportConfig, workers: usize) -> Result<TcpParts, Error> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|source| Error::Io {
                what: "cannot start the tcp reactor".into(),
                source,
            })?;
        let mut txs = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = mpsc::channel(WORKER_QUEUE);
            txs.push(tx);
            rxs.push(rx);
        }
        let shared = Arc::new(TcpShared {
            table: Mutex::new(Table::default()),
            next_id: AtomicU64::new(1),
            count: AtomicUsize::new(0),
            workers: txs,
            rt: rt.handle().clone(),
            stop_notify: tokio::sync::Notify::new(),
            stopping: AtomicBool::new(false),
            max_conns: cfg.tcp_max_connections.max(1),
            max_header: cfg.max_tcp_header.max(256),
            counters: Arc::default(),
            missing_length: if cfg.tcp_accept_no_cl {
                MissingLength::Zero
            } else {
                MissingLength::Refuse
            },
            max_message: cfg.max_tcp_message.max(cfg.max_tcp_header),
            lifetime: cfg.tcp_connection_lifetime.max(Duration::from_millis(10)),
            connect_timeout: cfg.tcp_connect_timeout,
            max_queued: cfg.tcp_max_queued.max(65536),
            locals: Mutex::new(Vec::new()),
            epoch: std::time::Instant::now(),
        });
        Ok((shared, rxs, Reactor { rt }))
    }

    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.stop_notify.notify_one();
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn worker_for(&self, id: u64) -> &mpsc::Sender<Job> {
        &self.workers[(id % self.workers.len() as u64) as usize]
    }

    /// Reserves a connection slot.
    fn acquire(&self) -> bool {
        if self.count.fetch_add(1, Ordering::AcqRel) >= self.max_conns {
            self.count.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// The connections open now (ordered by id) and the TCP settings.
    pub(crate) fn snapshot(&self) -> TcpSnapshot {
        let now = self.now_ms();
        let mut conns: Vec<TcpConnInfo> = self
            .table
            .lock()
            .by_id
            .iter()
            .map(|(id, e)| {
                let idle = now.saturating_sub(e.meta.last.load(Ordering::Relaxed));
                TcpConnInfo {
                    id: *id,
                    peer: e.peer,
                    local: e.meta.local,
                    connected: e.meta.connected.load(Ordering::Relaxed),
                    idle_left: self.lifetime.saturating_sub(Duration::from_millis(idle)),
                    queued: e.queued.load(Ordering::Relaxed),
                }
            })
            .collect();
        conns.sort_by_key(|c| c.id);
        TcpSnapshot {
            workers: self.workers.len(),
            max_connections: self.max_conns,
            lifetime: self.lifetime,
            connect_timeout: self.connect_timeout,
            max_queued: self.max_queued,
            conns,
            counters: self.counters.clone(),
        }
    }

    /// The address of listener `lid` (the peer's, for a listener that is gone).
    fn local_addr(&self, lid: ListenerId, peer: SocketAddr) -> SocketAddr {
        self.locals
            .lock()
            .get(lid.0 as usize)
            .copied()
            .unwrap_or(peer)
    }

    fn register(
        &self,
        peer: SocketAddr,
        lid: ListenerId,
        connected: bool,
    ) -> (u64, mpsc::UnboundedReceiver<Bytes>, Arc<AtomicUsize>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let meta = Arc::new(ConnMeta {
            local: self.local_addr(lid, peer),
            last: AtomicU64::new(self.now_ms()),
            connected: AtomicBool::new(connected),
        });
        let mut t = self.table.lock();
        t.by_id.insert(
            id,
            ConnEntry {
                tx,
                peer,
                queued: queued.clone(),
                meta,
                aliases: Vec::new(),
            },
        );
        t.by_peer.insert(peer, id);
        (id, rx, queued)
    }

    fn unregister(&self, id: u64) {
        let mut t = self.table.lock();
        if let Some(e) = t.by_id.remove(&id) {
            for a in std::iter::once(&e.peer).chain(&e.aliases) {
                if t.by_peer.get(a) == Some(&id) {
                    t.by_peer.remove(a);
                }
            }
        }
        drop(t);
        self.count.fetch_sub(1, Ordering::AcqRel);
    }

    fn queue(&self, e: &ConnEntry, data: Bytes) -> Result<(), SendError> {
        let len = data.len();
        if e.queued.fetch_add(len, Ordering::AcqRel) + len > self.max_queued {
            e.queued.fetch_sub(len, Ordering::AcqRel);
            bump(&self.counters.sendq_full);
            if let Some(s) = RL_QUEUE.check() {
                tracing::warn!(target: "transport", suppressed = s, "tcp send queue to {} full; message dropped", e.peer);
            }
            return Err(SendError::QueueFull);
        }
        e.tx.send(data).map_err(|_| SendError::Stopped)
    }

    /// The entry `to` would be sent on: its connection, else one to its address.
    fn entry_id(&self, t: &Table, to: &Dest) -> Option<u64> {
        to.conn
            .map(|c| c.0)
            .filter(|c| t.by_id.contains_key(c))
            .or_else(|| t.by_peer.get(&to.addr).copied())
    }

    /// Send what goes to `addr` on connection `id` (Kamailio's TCP alias);
    /// false when the connection is gone.
    pub(crate) fn add_alias(&self, id: u64, addr: SocketAddr) -> bool {
        let mut t = self.table.lock();
        let Some(e) = t.by_id.get_mut(&id) else {
            return false;
        };
        if e.peer != addr && !e.aliases.contains(&addr) {
            // a bounded list: a peer cannot grow it without end
            if e.aliases.len() >= 8 {
                let old = e.aliases.remove(0);
                if t.by_peer.get(&old) == Some(&id) {
                    t.by_peer.remove(&old);
                }
            }
            if let Some(e) = t.by_id.get_mut(&id) {
                e.aliases.push(addr);
            }
        }
        t.by_peer.insert(addr, id);
        true
    }

    pub(crate) fn has_conn(&self, to: &Dest) -> bool {
        let t = self.table.lock();
        self.entry_id(&t, to).is_some()
    }

    /// Queue the close marker (an empty buffer) behind what is queued.
    pub(crate) fn close_after(&self, to: &Dest) {
        let t = self.table.lock();
        if let Some(e) = self.entry_id(&t, to).and_then(|id| t.by_id.get(&id)) {
            let _ = e.tx.send(Bytes::new());
        }
    }

    /// Sends on the given connection, else on one to the address, else on a new one.
    pub(crate) fn send(
        self: &Arc<Self>,
        to: &Dest,
        listener: ListenerId,
        data: Bytes,
    ) -> Result<(), SendError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(SendError::Stopped);
        }
        {
            let t = self.table.lock();
            let id = self.entry_id(&t, to);
            if let Some(e) = id.and_then(|id| t.by_id.get(&id)) {
                return self.queue(e, data);
            }
        }
        if !self.acquire() {
            if let Some(s) = RL_LIMIT.check() {
                tracing::warn!(target: "transport", suppressed = s, "tcp_max_connections ({}) reached; cannot connect to {}", self.max_conns, to.addr);
            }
            bump(&self.counters.local_reject);
            return Err(SendError::TooManyConnections);
        }
        let dst = to.addr;
        // The connect starts here, on the sender's thread: a refusal the
        // kernel knows at once (nobody listens on a local port) fails this
        // send, as Kamailio's t_relay fails with 477 at once; the rest of the
        // handshake completes on the reactor.
        let sock = match start_connect(dst) {
            Ok(s) => s,
            Err(e) => {
                self.count.fetch_sub(1, Ordering::AcqRel);
                bump(&self.counters.connect_failed);
                if let Some(s) = RL_CONNECT.check() {
                    tracing::warn!(target: "transport", suppressed = s, "tcp connect to {dst} failed: {e}");
                }
                return Err(SendError::Io(e));
            }
        };
        let (id, rx, queued) = self.register(dst, listener, false);
        queued.fetch_add(data.len(), Ordering::AcqRel);
        if let Some(e) = self.table.lock().by_id.get(&id) {
            let _ = e.tx.send(data);
        }
        let me = self.clone();
        self.rt.spawn(async move {
            let connect = async {
                let stream = TcpStream::from_std(sock)?;
                stream.writable().await?;
                match stream.take_error()? {
                    Some(e) => Err(e),
                    None => Ok(stream),
                }
            };
            match tokio::time::timeout(me.connect_timeout, connect).await {
                Ok(Ok(stream)) => {
                    bump(&me.counters.connect_success);
                    bump(&me.counters.established);
                    me.run_conn(stream, id, dst, listener, rx, queued).await
                }
                Ok(Err(e)) => me.connect_failed(id, dst, &e.to_string()).await,
                Err(_) => me.connect_failed(id, dst, "timeout").await,
            }
        });
        Ok(())
    }

    async fn connect_failed(&self, id: u64, dst: SocketAddr, why: &str) {
        bump(&self.counters.connect_failed);
        if let Some(s) = RL_CONNECT.check() {
            tracing::warn!(target: "transport", suppressed = s, "tcp connect to {dst} failed: {why}");
        }
        self.unregister(id);
        let _ = self
            .worker_for(id)
            .send(Job::Closed(ConnId(id), dst, CloseReason::ConnectFailed))
            .await;
    }

    async fn accept_loop(self: Arc<Self>, listener: tokio::net::TcpListener, lid: ListenerId) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    if let Some(s) = RL_ACCEPT.check() {
                        tracing::error!(target: "transport", suppressed = s, "tcp accept failed: {e}");
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            if !self.acquire() {
                bump(&self.counters.local_reject);
                if let Some(s) = RL_LIMIT.check() {
                    tracing::warn!(target: "transport", suppressed = s,
                        "tcp_max_connections ({}) reached; closing the connection from {peer}", self.max_conns);
                }
                drop(stream);
                continue;
            }
            bump(&self.counters.passive_open);
            bump(&self.counters.established);
            let (id, rx, queued) = self.register(peer, lid, true);
            let me = self.clone();
            tokio::spawn(async move { me.run_conn(stream, id, peer, lid, rx, queued).await });
        }
    }

    async fn run_conn(
        self: Arc<Self>,
        stream: TcpStream,
        id: u64,
        peer: SocketAddr,
        lid: ListenerId,
        mut out: mpsc::UnboundedReceiver<Bytes>,
        queued: Arc<AtomicUsize>,
    ) {
        let _ = stream.set_nodelay(true);
        let local = self.local_addr(lid, peer);
        let (mut rd, mut wr) = stream.into_split();
        let meta = self.table.lock().by_id.get(&id).map(|e| e.meta.clone());
        let meta = meta.unwrap_or_else(|| {
            Arc::new(ConnMeta {
                local,
                last: AtomicU64::new(0),
                connected: AtomicBool::new(true),
            })
        });
        meta.last.store(self.now_ms(), Ordering::Relaxed);
        meta.connected.store(true, Ordering::Relaxed);
        let last = meta;
        // the writer ends on a write error, or (true) on the close marker
        let (wdone_tx, mut wdone_rx) = tokio::sync::oneshot::channel::<bool>();
        let wlast = last.clone();
        let me = self.clone();
        let writer = tokio::spawn(async move {
            let mut asked = false;
            while let Some(b) = out.recv().await {
                if b.is_empty() {
                    let _ = wr.shutdown().await;
                    asked = true;
                    break;
                }
                let n = b.len();
                if wr.write_all(&b).await.is_err() {
                    break;
                }
                queued.fetch_sub(n, Ordering::AcqRel);
                wlast.last.store(me.now_ms(), Ordering::Relaxed);
            }
            let _ = wdone_tx.send(asked);
        });
        let wtx = self.worker_for(id).clone();
        let conn = ConnId(id);
        let mut buf = BytesMut::with_capacity(4096);
        let reason = 'conn: loop {
            // Frame everything buffered.
            loop {
                let k = skip_blank_prefix(&buf);
                if k > 0 {
                    if buf[..k].windows(4).any(|w| w == b"\r\n\r\n") {
                        // RFC 5626 keep-alive ping: answer with a pong.
                        if let Some(e) = self.table.lock().by_id.get(&id) {
                            let _ = self.queue(e, Bytes::from_static(b"\r\n"));
                        }
                    }
                    buf.advance(k);
                }
                if buf.is_empty() {
                    break;
                }
                match message_len(&buf, self.max_header, self.missing_length) {
                    Ok(Some(n)) => {
                        if n > self.max_message {
                            if let Some(s) = RL_HDR.check() {
                                tracing::warn!(target: "transport", suppressed = s, "tcp message of {n} bytes from {peer} is too large; closing");
                            }
                            break 'conn CloseReason::Error;
                        }
                        let data = Bytes::copy_from_slice(&buf[..n]);
                        buf.advance(n);
                        let pkt = Received {
                            data,
                            src: peer,
                            local,
                            proto: Proto::Tcp,
                            listener: lid,
                            conn: Some(conn),
                            framing_error: false,
                        };
                        if wtx.send(Job::Msg(pkt)).await.is_err() {
                            break 'conn CloseReason::Shutdown;
                        }
                    }
                    Ok(None) => {
                        if buf.len() > self.max_message + self.max_header {
                            break 'conn CloseReason::Error;
                        }
                        break;
                    }
                    Err(FrameError::HeadersTooLong) => {
                        if let Some(s) = RL_HDR.check() {
                            tracing::warn!(target: "transport", suppressed = s,
                                "tcp header from {peer} longer than {} bytes; closing the connection", self.max_header);
                        }
                        break 'conn CloseReason::Error;
                    }
                    Err(e) => {
                        if let Some(s) = RL_JUNK.check() {
                            tracing::warn!(target: "transport", suppressed = s, "tcp stream from {peer} cannot be framed ({e}); closing");
                        }
                        let n = buf.len().min(self.max_header);
                        let pkt = Received {
                            data: Bytes::copy_from_slice(&buf[..n]),
                            src: peer,
                            local,
                            proto: Proto::Tcp,
                            listener: lid,
                            conn: Some(conn),
                            framing_error: true,
                        };
                        let _ = wtx.send(Job::Msg(pkt)).await;
                        break 'conn CloseReason::Error;
                    }
                }
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(16 * 1024);
            }
            let idle_for = Duration::from_millis(
                self.now_ms()
                    .saturating_sub(last.last.load(Ordering::Relaxed)),
            );
            let wait = self.lifetime.saturating_sub(idle_for);
            if wait.is_zero() {
                bump(&self.counters.con_timeout);
                break CloseReason::Idle;
            }
            tokio::select! {
                r = tokio::time::timeout(wait, rd.read_buf(&mut buf)) => match r {
                    Err(_) => continue, // re-check idleness (writes count as activity)
                    Ok(Ok(0)) | Ok(Err(_)) => {
                        if let Ok(Err(e)) = &r {
                            if e.kind() == io::ErrorKind::ConnectionReset {
                                bump(&self.counters.con_reset);
                            }
                        }
                        if !buf.is_empty() && skip_blank_prefix(&buf) < buf.len() {
                            if let Some(s) = RL_HALF.check() {
                                tracing::info!(target: "transport", suppressed = s,
                                    "tcp connection from {peer} closed with {} bytes of an incomplete message", buf.len());
                            }
                        }
                        break CloseReason::Peer;
                    }
                    Ok(Ok(_)) => last.last.store(self.now_ms(), Ordering::Relaxed),
                },
                asked = &mut wdone_rx => break match asked {
                    Ok(true) => CloseReason::Local,
                    _ => CloseReason::Error,
                },
            }
        };
        self.unregister(id);
        writer.abort();
        if reason != CloseReason::Shutdown {
            let _ = wtx.send(Job::Closed(conn, peer, reason)).await;
        }
    }
}

/// Starts the reactor thread: registers the listeners and serves until stopped.
pub(crate) fn start_reactor(
    reactor: Reactor,
    shared: Arc<TcpShared>,
    binds: Vec<(ListenerId, SocketAddr, std::net::TcpListener)>,
    listeners: Vec<ListenerInfo>,
    done: super::DoneGuard,
) -> io::Result<std::thread::JoinHandle<()>> {
    *shared.locals.lock() = listeners.iter().map(|l| l.addr).collect();
    std::thread::Builder::new().name("tcp-reactor".into()).spawn(move || {
        let _done = done;
        let rt = reactor.rt;
        rt.block_on(async {
            for (lid, addr, l) in binds {
                match tokio::net::TcpListener::from_std(l) {
                    Ok(l) => {
                        tokio::spawn(shared.clone().accept_loop(l, lid));
                    }
                    Err(e) => tracing::error!(target: "transport", "tcp:{addr}: cannot register listener: {e}"),
                }
            }
            shared.stop_notify.notified().await;
        });
        // Cancels every connection task (closing the sockets).
        rt.shutdown_timeout(Duration::from_millis(100));
        let mut t = shared.table.lock();
        t.by_id.clear();
        t.by_peer.clear();
        drop(t);
        for w in &shared.workers {
            let _ = w.try_send(Job::Stop);
        }
    })
}

/// The loop of one TCP worker.
pub(crate) fn worker_loop(
    mut rx: mpsc::Receiver<Job>,
    io: &mut WorkerIo,
    h: &dyn Handler,
    stop: &AtomicBool,
) {
    while let Some(job) = rx.blocking_recv() {
        io.batching = true;
        let mut next = Some(job);
        let mut n = 0;
        while let Some(job) = next.take() {
            match job {
                Job::Msg(pkt) => guarded("on_message", || h.on_message(io, pkt)),
                Job::Closed(c, p, r) => guarded("on_tcp_closed", || h.on_tcp_closed(io, c, p, r)),
                Job::Stop => {
                    io.batching = false;
                    io.flush();
                    return;
                }
            }
            n += 1;
            if n < 32 && !stop.load(Ordering::Relaxed) {
                next = rx.try_recv().ok();
            }
        }
        io.batching = false;
        io.flush();
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
}

/// Bytes to drop before a message on a stream: CR, LF, blanks and tabs
/// (Kamailio 5.6's reader skips them all; a `"\r\n\r\n"` among them is a
/// keep-alive ping answered with a pong).
fn skip_blank_prefix(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| matches!(b, b'\r' | b'\n' | b' ' | b'\t'))
        .count()
}

/// Start a non-blocking connect to `dst`: the socket, connected or
/// connecting, or the error the kernel knows at once (a refusal on loopback,
/// which Kamailio's first send sees too).
fn start_connect(dst: SocketAddr) -> io::Result<std::net::TcpStream> {
    let sock = Socket::new(Domain::for_address(dst), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    match sock.connect(&dst.into()) {
        Ok(()) => {}
        // in progress; on loopback a refusal is already known by now
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
            if let Some(e) = sock.take_error()? {
                return Err(e);
            }
        }
        Err(e) => return Err(e),
    }
    Ok(sock.into())
}
