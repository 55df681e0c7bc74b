//! The evapi network side: one tokio runtime on its own thread, one task per
//! client reading frames, and one writer task per client draining its queue.

use super::netstring::{self, Step};
use super::{Client, EvState, EvapiEvent, Job};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

/// How long a busy client's writer waits for more frames before writing.
const COALESCE: Duration = Duration::from_micros(500);

/// The network thread: serve until shutdown.
pub(super) fn run(st: Arc<EvState>, listener: std::net::TcpListener) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("evapi: cannot start the network runtime: {e}");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!("evapi: cannot use the listening socket: {e}");
                return;
            }
        };
        loop {
            tokio::select! {
                _ = st.shutdown.notified() => break,
                r = listener.accept() => match r {
                    Ok((stream, addr)) => accept(&st, stream, addr),
                    Err(e) => {
                        tracing::error!("evapi: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                },
            }
        }
    });
    // Dropping the runtime cancels the connection tasks (sockets close).
    runtime.shutdown_timeout(Duration::from_millis(200));
}

fn accept(st: &Arc<EvState>, stream: TcpStream, addr: SocketAddr) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(st.cfg.max_queue);
    let client = {
        let mut slots = st.slots.write();
        if slots.len() < st.cfg.max_clients {
            slots.resize(st.cfg.max_clients, None);
        }
        let Some(idx) = slots.iter().position(Option::is_none) else {
            drop(slots);
            st.stats.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::error!(
                "evapi: too many clients (max_clients={}): closing the connection from {addr}",
                st.cfg.max_clients
            );
            return;
        };
        let c = Arc::new(Client {
            idx,
            gen: st.next_gen.fetch_add(1, Ordering::Relaxed),
            addr,
            tx,
            tag: parking_lot::Mutex::new(None),
            close: tokio::sync::Notify::new(),
            flush: tokio::sync::Notify::new(),
            script_closed: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            junk: AtomicU64::new(0),
        });
        slots[idx] = Some(c.clone());
        c
    };
    tracing::debug!("evapi: new connection [{}] from {addr}", client.idx);
    tokio::spawn(connection(st.clone(), client, stream, rx));
}

/// Why a connection ended.
enum End {
    Script,
    Eof,
    ReadError(std::io::Error),
    TooBig(u64),
    Write(WriteEnd),
    Stopping,
}

enum WriteEnd {
    Error(std::io::Error),
    Stalled,
    Closed,
}

fn event(c: &Client, msg: Option<Bytes>) -> EvapiEvent {
    EvapiEvent {
        conidx: c.idx,
        gen: c.gen,
        addr: c.addr,
        msg,
        closed: std::cell::Cell::new(false),
    }
}

/// Hand a job to the script threads, waiting (on this task only) while their
/// queue is full. False when the module is stopping.
async fn submit(st: &EvState, job: Job) -> bool {
    let Some(txs) = st.jobs.get().filter(|t| !t.is_empty()) else {
        return false;
    };
    let conidx = match &job {
        Job::New(e, _) | Job::Msg(e) | Job::Closed(e, _, _) => e.conidx,
        Job::Stop => 0,
    };
    let tx = &txs[conidx % txs.len()];
    let mut job = job;
    loop {
        match tx.try_send(job) {
            Ok(()) => return true,
            Err(crossbeam_channel::TrySendError::Full(j)) => {
                if st.stop.load(Ordering::Relaxed) {
                    return false;
                }
                job = j;
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => return false,
        }
    }
}

async fn connection(
    st: Arc<EvState>,
    client: Arc<Client>,
    stream: TcpStream,
    rx: tokio::sync::mpsc::Receiver<Bytes>,
) {
    let _ = stream.set_nodelay(true);
    let (mut rd, wr) = stream.into_split();
    let mut writer = tokio::spawn(write_loop(wr, rx, st.cfg.send_timeout, client.clone()));
    let events = st.events();
    // connection-new runs before anything from this client is read.
    if events.new.is_some() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if submit(&st, Job::New(event(&client, None), done_tx)).await {
            let _ = done_rx.await;
        }
    }
    let want_msgs = events.msg.is_some();
    let bare = !st.cfg.netstring;
    let mut buf = BytesMut::with_capacity(if bare { st.cfg.max_frame } else { 8192 });
    let end = loop {
        if bare {
            // One read of at most max_frame_size bytes is one message (as
            // Kamailio's single read into its buffer).
            buf.reserve(st.cfg.max_frame);
        } else if buf.capacity() - buf.len() < 4096 {
            buf.reserve(8192);
        }
        let limit = if bare { st.cfg.max_frame } else { usize::MAX };
        let mut limited = bytes::BufMut::limit(&mut buf, limit);
        tokio::select! {
            biased;
            _ = client.close.notified() => break End::Script,
            w = &mut writer => break End::Write(w.unwrap_or(WriteEnd::Closed)),
            r = rd.read_buf(&mut limited) => match r {
                Ok(0) => break End::Eof,
                Err(e) => break End::ReadError(e),
                Ok(_) => {
                    if st.stop.load(Ordering::Relaxed) {
                        break End::Stopping;
                    }
                    if let Err(end) = process(&st, &client, &mut buf, want_msgs).await {
                        break end;
                    }
                }
            }
        }
    };
    if matches!(end, End::Script) {
        // Closed by the script: what it relayed before closing still goes out.
        client.flush.notify_one();
        let _ = tokio::time::timeout(Duration::from_millis(250), &mut writer).await;
    }
    writer.abort();
    let script = matches!(end, End::Script) || client.script_closed.load(Ordering::Relaxed);
    let raise_closed = !script && !matches!(end, End::Stopping) && events.closed.is_some();
    if raise_closed {
        // As Kamailio: the client keeps its slot (and its tag) while
        // connection-closed runs; relays there count it.
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if submit(
            &st,
            Job::Closed(event(&client, None), client.clone(), done_tx),
        )
        .await
        {
            let _ = done_rx.await;
        }
    }
    st.release(&client);
    let addr = client.addr;
    let dropped = client.dropped.load(Ordering::Relaxed);
    match &end {
        End::Script | End::Eof | End::Stopping => {}
        End::ReadError(e) => tracing::info!("evapi: connection [{}] from {addr} failed: {e}", client.idx),
        End::TooBig(len) => tracing::error!(
            "evapi: a frame of {len} bytes from {addr} does not fit max_frame_size ({}): closing the connection",
            st.cfg.max_frame
        ),
        End::Write(WriteEnd::Stalled) => tracing::error!(
            "evapi: client {addr} did not read for {} us (send_data_timeout): disconnected",
            st.cfg.send_timeout.map_or(0, |d| d.as_micros())
        ),
        End::Write(WriteEnd::Error(e)) => tracing::info!("evapi: writing to {addr} failed: {e}"),
        End::Write(WriteEnd::Closed) => {}
    }
    if dropped > 0 {
        tracing::warn!(
            "evapi: {dropped} events were dropped for client {addr} (its queue was full)"
        );
    }
    let junk = client.junk.load(Ordering::Relaxed);
    if junk > 1 {
        tracing::warn!("evapi: {junk} pieces of invalid data were ignored from client {addr}");
    }
}

/// Hand out the complete frames in `buf`.
async fn process(st: &EvState, c: &Client, buf: &mut BytesMut, want: bool) -> Result<(), End> {
    if !st.cfg.netstring {
        // Bare mode: each read is one message.
        let msg = buf.split().freeze();
        if want && !msg.is_empty() {
            st.stats.received.fetch_add(1, Ordering::Relaxed);
            if !submit(st, Job::Msg(event(c, Some(msg)))).await {
                return Err(End::Stopping);
            }
        }
        return Ok(());
    }
    loop {
        match netstring::step(buf, st.cfg.max_frame) {
            Step::Frame {
                start,
                end,
                consumed,
            } => {
                let frame = buf.split_to(consumed).freeze();
                st.stats.received.fetch_add(1, Ordering::Relaxed);
                if want && !submit(st, Job::Msg(event(c, Some(frame.slice(start..end))))).await {
                    return Err(End::Stopping);
                }
            }
            Step::Skip { consumed } => {
                let _ = buf.split_to(consumed);
            }
            Step::Junk { consumed } => {
                let _ = buf.split_to(consumed);
                st.stats.junk.fetch_add(1, Ordering::Relaxed);
                if c.junk.fetch_add(1, Ordering::Relaxed) == 0 {
                    tracing::warn!(
                        "evapi: ignoring data from {} that is not a netstring (LEN:DATA,); further invalid data from it is counted silently",
                        c.addr
                    );
                }
            }
            Step::NeedMore => return Ok(()),
            // As Kamailio, whose read buffer holds max_frame bytes: the
            // connection is closed once that much is buffered without a
            // whole frame, not as soon as the length is read.
            Step::TooBig { len } if buf.len() >= st.cfg.max_frame => return Err(End::TooBig(len)),
            Step::TooBig { .. } => return Ok(()),
        }
    }
}

/// Drain a client's queue into its socket; partial writes resume where they
/// stopped, and a write that makes no progress for `stall` ends the client.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut rx: tokio::sync::mpsc::Receiver<Bytes>,
    stall: Option<Duration>,
    client: Arc<Client>,
) -> WriteEnd {
    let mut out: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut last = false;
    let mut last_write = Instant::now()
        .checked_sub(COALESCE)
        .unwrap_or_else(Instant::now);
    loop {
        let first = tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(m) => m,
                None => return WriteEnd::Closed,
            },
            _ = client.flush.notified() => {
                last = true;
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(_) => return WriteEnd::Closed,
                }
            }
        };
        // Under load (the previous write was less than a millisecond ago),
        // let frames gather for a moment: one write and no wake-ups instead
        // of one of each per frame. An idle client gets its frame at once.
        if !last && last_write.elapsed() < COALESCE && rx.len() < 64 {
            tokio::time::sleep(COALESCE).await;
        }
        out.clear();
        out.extend_from_slice(&first);
        while last || out.len() < 256 * 1024 {
            match rx.try_recv() {
                Ok(b) => out.extend_from_slice(&b),
                Err(_) => break,
            }
        }
        let mut pos = 0;
        while pos < out.len() {
            let w = wr.write(&out[pos..]);
            let r = match stall {
                Some(t) => match tokio::time::timeout(t, w).await {
                    Ok(r) => r,
                    Err(_) => return WriteEnd::Stalled,
                },
                None => w.await,
            };
            match r {
                Ok(0) => return WriteEnd::Closed,
                Ok(n) => pos += n,
                Err(e) => return WriteEnd::Error(e),
            }
        }
        last_write = Instant::now();
        if last {
            let _ = wr.shutdown().await;
            return WriteEnd::Closed;
        }
        if out.capacity() > 1 << 20 {
            out = Vec::with_capacity(64 * 1024);
        }
    }
}
