//! ctl's transports and the request → reply step. Streams (unix, TCP) carry
//! any number of packets per connection, one thread per connection
//! (bounded); datagrams (UDP, unix) carry one packet each and get the reply
//! sent back to the sender.

use super::binrpc::{self, Header, Reader, Record};
use super::{Endpoint, Shared};
use crate::rpc::RpcRegistry;
use crate::runtime::Runtime;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bad input is logged at most once per second per cause (each call site
/// is a cause).
macro_rules! limited {
    ($lvl:ident, $($arg:tt)+) => {{
        static RL: crate::log::RateLimit = crate::log::RateLimit::new();
        if RL.allow() {
            tracing::$lvl!($($arg)+);
        }
    }};
}

/// Largest request accepted (a request is a method name and its parameters).
pub const MAX_REQUEST: usize = 64 * 1024;
const MAX_CONNS: usize = 32;
/// A connection idle this long is closed (kamcmd's interactive mode keeps one open).
const IDLE: Duration = Duration::from_secs(300);
const POLL_MS: i32 = 100;

pub struct UnixOpts {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Bind `ep` and serve it on its own thread. `replace`: remove an existing
/// socket file first (an explicitly configured path, as Kamailio does).
pub fn start(
    rt: &Arc<Runtime>,
    sh: &Arc<Shared>,
    ep: &Endpoint,
    opts: &UnixOpts,
    replace: bool,
) -> Result<(), String> {
    let (rt, sh) = (rt.clone(), sh.clone());
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new()
            .name(name.into())
            .spawn(f)
            .map(|_| ())
            .map_err(|e| format!("ctl: cannot start a thread: {e}"))
    };
    match ep {
        Endpoint::Tcp(addr) => {
            let l = TcpListener::bind(addr)
                .map_err(|e| format!("ctl: cannot listen on tcp:{addr}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            tracing::info!("ctl: binrpc on tcp:{addr}");
            spawn(
                "ctl-tcp",
                Box::new(move || {
                    accept_loop(&rt, &sh, "tcp", l.as_raw_fd(), || {
                        let (s, peer) = l.accept().ok()?;
                        let local = s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                        Some((Stream::Tcp(s), peer.to_string(), local))
                    })
                }),
            )
        }
        Endpoint::UnixStream(path) => {
            prepare_path(path, replace, |p| {
                std::os::unix::net::UnixStream::connect(p).is_ok()
            })?;
            let l = UnixListener::bind(path)
                .map_err(|e| format!("ctl: cannot bind {}: {e}", path.display()))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            set_owner(path, opts)?;
            tracing::info!("ctl: binrpc on unix:{}", path.display());
            let local = path.display().to_string();
            spawn(
                "ctl-unix",
                Box::new(move || {
                    accept_loop(&rt, &sh, "unix_stream", l.as_raw_fd(), || {
                        let (s, _) = l.accept().ok()?;
                        Some((
                            Stream::Unix(s),
                            "<anonymous unix socket>".into(),
                            local.clone(),
                        ))
                    })
                }),
            )
        }
        Endpoint::Udp(addr) => {
            let s =
                UdpSocket::bind(addr).map_err(|e| format!("ctl: cannot bind udp:{addr}: {e}"))?;
            s.set_read_timeout(Some(Duration::from_millis(POLL_MS as u64)))
                .map_err(|e| e.to_string())?;
            tracing::info!("ctl: binrpc on udp:{addr}");
            spawn(
                "ctl-udp",
                Box::new(move || {
                    let mut buf = vec![0u8; MAX_REQUEST];
                    while !rt.is_stopping() {
                        let Ok((n, src)) = s.recv_from(&mut buf) else {
                            continue;
                        };
                        if let Some(reply) = datagram(&rt, &sh, buf.get(..n).unwrap_or(&[])) {
                            if let Err(e) = s.send_to(&reply, src) {
                                limited!(error, "ctl: cannot send the reply to {src}: {e}");
                            }
                        }
                    }
                }),
            )
        }
        Endpoint::UnixDgram(path) => {
            prepare_path(path, replace, |p| {
                UnixDatagram::unbound().and_then(|u| u.connect(p)).is_ok()
            })?;
            let s = UnixDatagram::bind(path)
                .map_err(|e| format!("ctl: cannot bind {}: {e}", path.display()))?;
            set_owner(path, opts)?;
            s.set_read_timeout(Some(Duration::from_millis(POLL_MS as u64)))
                .map_err(|e| e.to_string())?;
            // a client that stops reading fills its queue: sending blocks
            s.set_write_timeout(Some(Duration::from_secs(1)))
                .map_err(|e| e.to_string())?;
            tracing::info!("ctl: binrpc on unixd:{}", path.display());
            spawn(
                "ctl-unixd",
                Box::new(move || {
                    let mut buf = vec![0u8; MAX_REQUEST];
                    while !rt.is_stopping() {
                        let Ok((n, src)) = s.recv_from(&mut buf) else {
                            continue;
                        };
                        let Some(reply) = datagram(&rt, &sh, buf.get(..n).unwrap_or(&[])) else {
                            continue;
                        };
                        match src.as_pathname() {
                            Some(p) => {
                                if let Err(e) = s.send_to(&reply, p) {
                                    limited!(
                                        error,
                                        "ctl: cannot send the reply to {}: {e}",
                                        p.display()
                                    );
                                }
                            }
                            None => limited!(
                                warn,
                                "ctl: datagram from an unbound unix socket: no reply possible"
                            ),
                        }
                    }
                }),
            )
        }
    }
}

/// Make room for a unix socket: an explicit path replaces what is there; the
/// default path is only taken over from a dead server.
fn prepare_path(path: &Path, replace: bool, live: impl Fn(&Path) -> bool) -> Result<(), String> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    if !replace && live(path) {
        return Err(format!("{} exists and is in use", path.display()));
    }
    std::fs::remove_file(path).map_err(|e| format!("ctl: cannot remove {}: {e}", path.display()))
}

fn set_owner(path: &Path, o: &UnixOpts) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(o.mode)).map_err(|e| {
        format!(
            "ctl: cannot set mode {:o} on {}: {e}",
            o.mode,
            path.display()
        )
    })?;
    if o.uid.is_some() || o.gid.is_some() {
        std::os::unix::fs::chown(path, o.uid, o.gid)
            .map_err(|e| format!("ctl: cannot change the owner of {}: {e}", path.display()))?;
    }
    Ok(())
}

enum Stream {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn io(&mut self) -> &mut dyn ReadWrite {
        match self {
            Stream::Tcp(s) => s,
            Stream::Unix(s) => s,
        }
    }
    fn set_timeouts(&self) -> std::io::Result<()> {
        let t = Some(Duration::from_millis(POLL_MS as u64));
        match self {
            Stream::Tcp(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(t)?;
                s.set_write_timeout(Some(Duration::from_secs(5)))
            }
            Stream::Unix(s) => {
                s.set_nonblocking(false)?;
                s.set_read_timeout(t)?;
                s.set_write_timeout(Some(Duration::from_secs(5)))
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn accept_loop(
    rt: &Arc<Runtime>,
    sh: &Arc<Shared>,
    proto: &'static str,
    fd: i32,
    mut accept: impl FnMut() -> Option<(Stream, String, String)>,
) {
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    while !rt.is_stopping() {
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, POLL_MS) } <= 0 {
            continue;
        }
        let Some((stream, peer, local)) = accept() else {
            continue;
        };
        if sh.conns.lock().len() >= MAX_CONNS {
            limited!(
                error,
                "ctl: {MAX_CONNS} connections open, {proto} connection from {peer} refused"
            );
            continue;
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        sh.conns.lock().push((id, proto, peer, local));
        let (rt2, sh2) = (rt.clone(), sh.clone());
        let spawned = std::thread::Builder::new()
            .name("ctl-conn".into())
            .spawn(move || {
                serve_stream(&rt2, &sh2, stream);
                sh2.conns.lock().retain(|c| c.0 != id);
            });
        if spawned.is_err() {
            sh.conns.lock().retain(|c| c.0 != id);
            limited!(error, "ctl: cannot start a connection thread");
        }
    }
}

/// Serve one stream connection until the peer closes, an error, or idleness.
fn serve_stream(rt: &Runtime, sh: &Shared, mut stream: Stream) {
    if stream.set_timeouts().is_err() {
        return;
    }
    let mut pending: Vec<u8> = Vec::with_capacity(512);
    let mut buf = vec![0u8; 16 * 1024];
    let mut last = Instant::now();
    while !rt.is_stopping() {
        // every complete packet at the front
        loop {
            match next_packet(&pending) {
                Ok(None) => break,
                Ok(Some((h, used))) => {
                    let body = pending.get(h.len..used).unwrap_or(&[]);
                    let reply = handle(&rt.rpc, sh, &h, body);
                    pending.drain(..used);
                    if let Err(e) = stream.io().write_all(&reply) {
                        tracing::debug!("ctl: cannot write the reply: {e}");
                        return;
                    }
                }
                Err(Bad::Corrupt(e)) => {
                    limited!(error, "ctl: bad binrpc packet ({e}): connection closed");
                    let _ = stream
                        .io()
                        .write_all(&fault(0, 400, "bad request: corrupted packet"));
                    return;
                }
                Err(Bad::TooLarge(n)) => {
                    limited!(
                        error,
                        "ctl: binrpc request of {n} bytes exceeds the {MAX_REQUEST} byte limit: connection closed"
                    );
                    return;
                }
            }
        }
        match stream.io().read(&mut buf) {
            Ok(0) => {
                if !pending.is_empty() {
                    limited!(
                        warn,
                        "ctl: connection closed in the middle of a request ({} bytes dropped)",
                        pending.len()
                    );
                }
                return;
            }
            Ok(n) => {
                pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                last = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                if last.elapsed() > IDLE {
                    tracing::debug!("ctl: idle connection closed");
                    return;
                }
            }
            Err(e) => {
                tracing::debug!("ctl: read error: {e}");
                return;
            }
        }
    }
}

enum Bad {
    Corrupt(binrpc::Error),
    TooLarge(usize),
}

/// A whole packet at the front of `buf`: its header and total length.
fn next_packet(buf: &[u8]) -> Result<Option<(Header, usize)>, Bad> {
    let h = match binrpc::parse_header(buf) {
        Ok(Some(h)) => h,
        Ok(None) => return Ok(None),
        Err(e) => return Err(Bad::Corrupt(e)),
    };
    if h.body_len > MAX_REQUEST {
        return Err(Bad::TooLarge(h.body_len));
    }
    let total = h.len + h.body_len;
    Ok((buf.len() >= total).then_some((h, total)))
}

/// One datagram: the reply to send, if any.
fn datagram(rt: &Runtime, sh: &Shared, pkt: &[u8]) -> Option<Vec<u8>> {
    match next_packet(pkt) {
        Ok(Some((h, used))) => Some(handle(&rt.rpc, sh, &h, pkt.get(h.len..used)?)),
        Ok(None) => {
            limited!(
                error,
                "ctl: truncated binrpc datagram ({} bytes)",
                pkt.len()
            );
            None
        }
        Err(Bad::TooLarge(n)) => {
            limited!(error, "ctl: binrpc datagram announces {n} bytes: dropped");
            None
        }
        Err(Bad::Corrupt(e)) => {
            limited!(error, "ctl: bad binrpc datagram ({e})");
            Some(fault(0, 400, "bad request: corrupted packet"))
        }
    }
}

fn fault(cookie: u32, code: i32, msg: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(msg.len() + 8);
    binrpc::encode(&Record::Int(code), &mut body);
    binrpc::encode(&Record::Str(msg.as_bytes().to_vec()), &mut body);
    binrpc::packet(binrpc::FAULT, cookie, &body)
}

/// One structure within `binrpc_struct_max_body_size`: its own plain
/// members count against the limit (later ones are dropped), a nested
/// structure does not — it has its own limit (Kamailio builds each in its
/// own buffer: kamcmd prints the hundreds of small structures
/// `app_lua.api_list` nests). Returns the number of members dropped.
fn encode_struct(members: &[(Option<Vec<u8>>, Record)], max: usize, out: &mut Vec<u8>) -> usize {
    let mut dropped = 0;
    let mut own = 2; // the start and end markers
    out.push(binrpc::STRUCT_START);
    for (n, (name, v)) in members.iter().enumerate() {
        let mark = out.len();
        if let Some(name) = name {
            binrpc::encode_name(name, out);
        }
        let size = match v {
            Record::Struct(inner) => {
                dropped += encode_struct(inner, max, out);
                0
            }
            other => {
                binrpc::encode(other, out);
                out.len() - mark
            }
        };
        if own + size > max {
            out.truncate(mark);
            dropped += members.len() - n;
            break;
        }
        own += size;
    }
    out.push(binrpc::STRUCT_END);
    dropped
}

/// A request packet → the reply packet (same cookie).
pub(super) fn handle(rpc: &RpcRegistry, sh: &Shared, h: &Header, body: &[u8]) -> Vec<u8> {
    if h.kind != binrpc::REQUEST {
        return fault(h.cookie, 400, "bad request: corrupted packet");
    }
    let mut rd = Reader::new(body);
    let method = match rd.next_record() {
        Ok(Record::Str(m)) => String::from_utf8_lossy(&m).into_owned(),
        Ok(_) => {
            limited!(
                error,
                "ctl: bad rpc request method: record doesn't match type"
            );
            return fault(
                h.cookie,
                400,
                "bad request method: record doesn't match type",
            );
        }
        Err(binrpc::Error::Incomplete) if body.is_empty() => {
            limited!(
                error,
                "ctl: bad rpc request method: end of packet encountered"
            );
            return fault(
                h.cookie,
                400,
                "bad request method: end of packet encountered",
            );
        }
        Err(e) => {
            limited!(error, "ctl: bad rpc request method: {e}");
            return fault(h.cookie, 400, "bad request: corrupted packet");
        }
    };
    let mut params = Vec::new();
    while !rd.at_end() {
        match rd.next_record() {
            Ok(r) => params.push(binrpc::to_json(&r)),
            Err(e) => {
                limited!(error, "ctl: {method}: bad parameter {}: {e}", params.len());
                return fault(
                    h.cookie,
                    400,
                    &format!("error at parameter {}: {e}", params.len()),
                );
            }
        }
    }
    if !rpc.has(&method) {
        return fault(h.cookie, 500, &format!("command {method} not found"));
    }
    match crate::rpc::as_binrpc(|| rpc.call_with_system(&method, &params)) {
        Ok(v) => {
            let body = reply_body(&method, &binrpc::reply_records(&v), sh);
            binrpc::packet(binrpc::REPLY, h.cookie, &body)
        }
        Err(e) => fault(h.cookie, e.code, &e.message),
    }
}

/// Encode the reply's values within Kamailio's limits: values past
/// `binrpc_max_body_size` are dropped, and struct members past
/// `binrpc_struct_max_body_size` (with an error log, as Kamailio).
fn reply_body(method: &str, records: &[Record], sh: &Shared) -> Vec<u8> {
    let mut body = Vec::with_capacity(256);
    let mut one = Vec::new();
    let mut dropped = 0usize;
    let mut plain = 0usize;
    for r in records {
        one.clear();
        match r {
            Record::Struct(members) => {
                dropped += encode_struct(members, sh.max_struct, &mut one);
            }
            other => binrpc::encode(other, &mut one),
        }
        // structures are built apart (each within its own limit, above):
        // only the plain values count against binrpc_max_body_size
        if !matches!(r, Record::Struct(_)) {
            if plain + one.len() > sh.max_body {
                dropped += 1;
                continue;
            }
            plain += one.len();
        }
        body.extend_from_slice(&one);
    }
    if dropped > 0 {
        limited!(
            error,
            "ctl: reply to {method} too large for binrpc_max_body_size/binrpc_struct_max_body_size: {dropped} values dropped"
        );
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value as Json};

    fn shared(max_body: usize, max_struct: usize) -> Shared {
        Shared {
            max_body,
            max_struct,
            conns: Default::default(),
            listening: Default::default(),
        }
    }

    fn request(cookie: u32, recs: &[Record]) -> (Header, Vec<u8>) {
        let mut body = Vec::new();
        for r in recs {
            binrpc::encode(r, &mut body);
        }
        let pkt = binrpc::packet(binrpc::REQUEST, cookie, &body);
        let h = binrpc::parse_header(&pkt).unwrap().unwrap();
        (h, body)
    }

    fn reply(pkt: &[u8]) -> (u8, u32, Vec<Record>) {
        let h = binrpc::parse_header(pkt).unwrap().unwrap();
        assert_eq!(pkt.len(), h.len + h.body_len);
        (h.kind, h.cookie, binrpc::decode_all(&pkt[h.len..]).unwrap())
    }

    fn s(v: &str) -> Record {
        Record::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn requests_and_faults() {
        let mut rpc = RpcRegistry::default();
        rpc.add("t.echo", "", |p| Ok(Json::Array(p.to_vec())));
        rpc.add("t.fail", "", |_| {
            Err(crate::rpc::RpcError::new(404, "nope"))
        });
        rpc.add("t.big", "", |_| {
            Ok(json!({"a": "x".repeat(600), "b": "y".repeat(600)}))
        });
        let sh = shared(4096, 1024);
        let (h, b) = request(0x26ff7ee0, &[s("t.echo"), s("a"), Record::Int(1)]);
        assert_eq!(
            reply(&handle(&rpc, &sh, &h, &b)),
            (binrpc::REPLY, 0x26ff7ee0, vec![s("a"), Record::Int(1)])
        );
        let (h, b) = request(7, &[s("no.such")]);
        assert_eq!(
            reply(&handle(&rpc, &sh, &h, &b)),
            (
                binrpc::FAULT,
                7,
                vec![Record::Int(500), s("command no.such not found")]
            )
        );
        let (h, b) = request(7, &[s("t.fail")]);
        assert_eq!(
            reply(&handle(&rpc, &sh, &h, &b)).2,
            vec![Record::Int(404), s("nope")]
        );
        let (h, b) = request(7, &[Record::Int(3)]);
        assert_eq!(
            reply(&handle(&rpc, &sh, &h, &b)).2,
            vec![
                Record::Int(400),
                s("bad request method: record doesn't match type")
            ]
        );
        let (h, b) = request(7, &[]);
        assert_eq!(
            reply(&handle(&rpc, &sh, &h, &b)).2,
            vec![
                Record::Int(400),
                s("bad request method: end of packet encountered")
            ]
        );
        let (h, mut b) = request(7, &[s("t.echo")]);
        b.extend_from_slice(&[0x1f, 0]);
        assert_eq!(reply(&handle(&rpc, &sh, &h, &b)).0, binrpc::FAULT);
        // a struct over the struct limit loses the members that do not fit
        let (h, b) = request(7, &[s("t.big")]);
        let (_, _, recs) = reply(&handle(&rpc, &sh, &h, &b));
        let [Record::Struct(m)] = &recs[..] else {
            panic!("{recs:?}")
        };
        assert_eq!(m.len(), 1);
        // values past the body limit are dropped
        let sh = shared(10, 1024);
        let (h, b) = request(7, &[s("t.echo"), s("abc"), s("defgh"), s("i")]);
        assert_eq!(reply(&handle(&rpc, &sh, &h, &b)).2, vec![s("abc"), s("i")]);
    }

    #[test]
    fn framing() {
        let (_, b) = request(1, &[s("x")]);
        let pkt = binrpc::packet(binrpc::REQUEST, 1, &b);
        assert!(matches!(next_packet(&pkt[..3]), Ok(None)));
        assert!(matches!(next_packet(&pkt), Ok(Some((_, n))) if n == pkt.len()));
        assert!(matches!(next_packet(b"junk"), Err(Bad::Corrupt(_))));
        let huge = [0xa1, 0x0f, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4];
        assert!(matches!(next_packet(&huge), Err(Bad::TooLarge(_))));
    }
}
