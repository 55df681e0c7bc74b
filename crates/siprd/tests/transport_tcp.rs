//! TCP transport: framing (pipelined, split), replies on the same connection,
//! junk, oversized headers, half messages, connection limit, idle lifetime,
//! keep-alive pong, outgoing connections, shutdown. Loopback only; every wait is
//! bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender as ChanTx};
use siprd::transport::{
    CloseReason, ConnId, Dest, Handler, ListenSpec, Proto, Received, Transport, TransportConfig,
    WorkerIo,
};

#[derive(Debug)]
enum Ev {
    Msg(usize, Received),
    Closed(ConnId, SocketAddr, CloseReason),
}

struct Rec {
    tx: ChanTx<Ev>,
}

impl Handler for Rec {
    fn on_message(&self, io: &mut WorkerIo, pkt: Received) {
        assert!(io.is_tcp());
        if !pkt.framing_error && pkt.data.starts_with(b"OPTIONS") {
            let mut reply = b"ECHO ".to_vec();
            reply.extend_from_slice(&pkt.data);
            io.send(&Dest::reply(&pkt), &reply).unwrap();
        }
        let _ = self.tx.send(Ev::Msg(io.worker_index(), pkt));
    }
    fn on_tcp_closed(&self, _io: &mut WorkerIo, c: ConnId, p: SocketAddr, r: CloseReason) {
        let _ = self.tx.send(Ev::Closed(c, p, r));
    }
}

fn msg(tag: &str, body: &str) -> String {
    format!(
        "OPTIONS sip:{tag}@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn start_with(cfg: TransportConfig) -> (Transport, Receiver<Ev>, SocketAddr) {
    let _ = siprd::log::init(&siprd::log::LogOptions {
        stderr: true,
        ..Default::default()
    });
    let (tx, rx) = unbounded();
    let eps = ListenSpec::parse("tcp:127.0.0.1:0")
        .unwrap()
        .expand(&Default::default())
        .unwrap();
    let t = Transport::start(&eps, cfg, Arc::new(Rec { tx })).unwrap();
    let addr = t.listeners()[0].addr;
    assert_eq!(t.listeners()[0].proto, Proto::Tcp);
    (t, rx, addr)
}

fn start() -> (Transport, Receiver<Ev>, SocketAddr) {
    start_with(TransportConfig {
        children: 2,
        ..Default::default()
    })
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s
}

fn next_msg(rx: &Receiver<Ev>) -> Received {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Ev::Msg(w, p)) => {
                assert!(w < 4, "worker index {w}");
                return p;
            }
            Ok(Ev::Closed(..)) | Err(_) => {}
        }
    }
    panic!("no message");
}

fn next_closed(rx: &Receiver<Ev>) -> (ConnId, CloseReason) {
    next_closed_peer(rx)
        .map(|(c, _, r)| (c, r))
        .expect("no close event")
}

fn next_closed_peer(rx: &Receiver<Ev>) -> Option<(ConnId, SocketAddr, CloseReason)> {
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if let Ok(Ev::Closed(c, p, r)) = rx.recv_timeout(Duration::from_millis(100)) {
            return Some((c, p, r));
        }
    }
    None
}

/// Reads exactly `n` bytes (bounded by the read timeout).
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).unwrap();
    v
}

/// True if the server closed the connection within the read timeout.
fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut b = [0u8; 4096];
    loop {
        match s.read(&mut b) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn pipelined_messages_in_one_write_and_replies_on_same_connection() {
    let (mut t, rx, addr) = start();
    let mut c = connect(addr);
    let (a, b) = (msg("a", "body-a"), msg("b", ""));
    c.write_all(format!("{a}{b}").as_bytes()).unwrap();
    let p1 = next_msg(&rx);
    let p2 = next_msg(&rx);
    assert_eq!(p1.data.as_ref(), a.as_bytes());
    assert_eq!(p2.data.as_ref(), b.as_bytes());
    assert_eq!(p1.conn, p2.conn);
    assert!(p1.conn.is_some());
    assert_eq!(p1.src, c.local_addr().unwrap());
    assert_eq!(p1.local, addr);
    assert_eq!(p1.proto, Proto::Tcp);
    let e1 = read_n(&mut c, 5 + a.len());
    assert_eq!(e1, format!("ECHO {a}").as_bytes());
    let e2 = read_n(&mut c, 5 + b.len());
    assert_eq!(e2, format!("ECHO {b}").as_bytes());
    // A send by address (no conn id) also reuses the connection.
    t.sender()
        .send(&Dest::tcp(c.local_addr().unwrap()), b"by-addr")
        .unwrap();
    assert_eq!(read_n(&mut c, 7), b"by-addr");
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn message_split_in_three_writes() {
    let (mut t, rx, addr) = start();
    let mut c = connect(addr);
    let m = msg("split", "0123456789");
    let bytes = m.as_bytes();
    for part in [&bytes[..10], &bytes[10..60], &bytes[60..]] {
        c.write_all(part).unwrap();
        c.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    let p = next_msg(&rx);
    assert_eq!(p.data.as_ref(), bytes);
    assert!(
        rx.recv_timeout(Duration::from_millis(100)).is_err(),
        "exactly one message"
    );
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn half_message_then_disconnect_does_not_stall() {
    let (mut t, rx, addr) = start();
    let half_peer = {
        let mut c = connect(addr);
        let m = msg("half", "abcdef");
        c.write_all(&m.as_bytes()[..m.len() - 3]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        c.local_addr().unwrap()
    }; // dropped: vanishes mid-message
    let (_, p, r) = next_closed_peer(&rx).expect("close event");
    assert_eq!((p, r), (half_peer, CloseReason::Peer));
    // Both workers still serve other connections.
    for i in 0..4 {
        let mut c = connect(addr);
        let m = msg(&format!("next{i}"), "");
        c.write_all(m.as_bytes()).unwrap();
        assert_eq!(next_msg(&rx).data.as_ref(), m.as_bytes());
        assert_eq!(read_n(&mut c, 5 + m.len())[..5], *b"ECHO ");
    }
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn header_of_100kb_closes_the_connection() {
    let (mut t, rx, addr) = start();
    let mut c = connect(addr);
    let mut m =
        String::from("OPTIONS sip:big@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1\r\n");
    while m.len() < 100 * 1024 {
        m.push_str(
            "X-Filler: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
        );
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    // The server may close before everything is written.
    let _ = c.write_all(m.as_bytes());
    assert!(closed_by_server(&mut c));
    let (_, r) = next_closed(&rx);
    assert_eq!(r, CloseReason::Error);
    // Nothing was delivered.
    while let Ok(ev) = rx.try_recv() {
        assert!(!matches!(ev, Ev::Msg(..)), "{ev:?}");
    }
    // A 60 KB header is fine (limit 65535 by default).
    let mut c = connect(addr);
    let mut m = String::from("OPTIONS sip:ok@example.com SIP/2.0\r\n");
    while m.len() < 60 * 1024 {
        m.push_str(
            "X-Filler: 0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
        );
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    c.write_all(m.as_bytes()).unwrap();
    assert_eq!(next_msg(&rx).data.len(), m.len());
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn connections_beyond_tcp_max_connections_are_refused() {
    let (mut t, rx, addr) = start_with(TransportConfig {
        children: 2,
        tcp_max_connections: 2,
        ..Default::default()
    });
    let mut keep = Vec::new();
    for i in 0..2 {
        let mut c = connect(addr);
        let m = msg(&format!("k{i}"), "");
        c.write_all(m.as_bytes()).unwrap();
        next_msg(&rx);
        read_n(&mut c, 5 + m.len());
        keep.push(c);
    }
    let mut extra = connect(addr);
    let _ = extra.write_all(msg("extra", "").as_bytes());
    assert!(
        closed_by_server(&mut extra),
        "third connection must be closed"
    );
    // Free a slot: a new connection works again.
    drop(keep.pop());
    next_closed(&rx);
    let mut c = connect(addr);
    let m = msg("again", "");
    c.write_all(m.as_bytes()).unwrap();
    assert_eq!(next_msg(&rx).data.as_ref(), m.as_bytes());
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn junk_is_delivered_once_flagged_then_closed() {
    let (mut t, rx, addr) = start();
    let mut c = connect(addr);
    let junk = b"\x00\x01\xffjunk\r\nContent-Length: lots\r\n\r\nmore";
    c.write_all(junk).unwrap();
    let p = next_msg(&rx);
    assert!(p.framing_error);
    assert_eq!(p.data.as_ref(), &junk[..]);
    assert!(closed_by_server(&mut c));
    // Binary noise without an end of headers: nothing delivered until the limit;
    // the connection stays open and the server is not stalled.
    let mut n = connect(addr);
    n.write_all(&[0u8, 1, 2, 3, 0xfe, 0xff, 7, 7]).unwrap();
    let mut c = connect(addr);
    let m = msg("after-junk", "");
    c.write_all(m.as_bytes()).unwrap();
    assert_eq!(next_msg(&rx).data.as_ref(), m.as_bytes());
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn crlf_keepalive_ping_gets_pong() {
    let (mut t, rx, addr) = start();
    let mut c = connect(addr);
    c.write_all(b"\r\n\r\n").unwrap();
    assert_eq!(read_n(&mut c, 2), b"\r\n");
    let m = msg("after-ping", "");
    c.write_all(format!("\r\n\r\n{m}").as_bytes()).unwrap();
    assert_eq!(next_msg(&rx).data.as_ref(), m.as_bytes());
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn idle_connection_closed_after_lifetime() {
    let (mut t, rx, addr) = start_with(TransportConfig {
        children: 1,
        tcp_connection_lifetime: Duration::from_millis(300),
        ..Default::default()
    });
    let mut c = connect(addr);
    let m = msg("idle", "");
    c.write_all(m.as_bytes()).unwrap();
    next_msg(&rx);
    read_n(&mut c, 5 + m.len());
    let start = Instant::now();
    assert!(closed_by_server(&mut c));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(next_closed(&rx).1, CloseReason::Idle);
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn outgoing_connection_is_opened_and_answers_come_back() {
    let (mut t, rx, _addr) = start();
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let peer_addr = peer.local_addr().unwrap();
    t.sender()
        .send(&Dest::tcp(peer_addr), msg("out", "").as_bytes())
        .unwrap();
    peer.set_nonblocking(false).unwrap();
    let (mut s, _) = peer.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let m = msg("out", "");
    assert_eq!(read_n(&mut s, m.len()), m.as_bytes());
    let answer = "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    s.write_all(answer.as_bytes()).unwrap();
    let p = next_msg(&rx);
    assert_eq!(p.data.as_ref(), answer.as_bytes());
    assert_eq!(p.src, peer_addr);
    assert!(p.conn.is_some());
    drop(peer);
    drop(s);
    next_closed(&rx);
    // A closed local port refuses the connect at once: the send fails then
    // (tm answers 477 at once, as Kamailio), no connection is left behind.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let err = t.sender().send(&Dest::tcp(dead), b"x").unwrap_err();
    assert!(
        matches!(&err, siprd::transport::SendError::Io(e) if e.kind() == ErrorKind::ConnectionRefused),
        "{err:?}"
    );
    assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
    assert_eq!(t.shutdown(), 0);
}

#[test]
fn shutdown_with_open_connections_is_fast() {
    let (mut t, rx, addr) = start();
    let mut conns = Vec::new();
    for i in 0..10 {
        let mut c = connect(addr);
        c.write_all(msg(&format!("s{i}"), "").as_bytes()).unwrap();
        next_msg(&rx);
        conns.push(c);
    }
    let half = connect(addr);
    let _ = (&half).write_all(b"OPTIONS sip:x SIP/2.0\r\nVia:");
    let start = Instant::now();
    assert_eq!(t.shutdown(), 0);
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert!(closed_by_server(&mut conns[0]));
}
