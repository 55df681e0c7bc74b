//! evapi (and jansson on its messages) against the running binary, with real
//! TCP clients on loopback. Behaviours marked "as Kamailio" were observed on
//! Kamailio 5.6 with the same configs.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A config with an evapi socket on `port`; `PARAMS` and `ROUTES` are replaced.
fn cfg(port: u16, params: &str, routes: &str) -> String {
    r#"
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "evapi.so"
loadmodule "jansson.so"
modparam("evapi", "bind_addr", "127.0.0.1:PORT")
PARAMS
ROUTES
"#
    .replace("PORT", &port.to_string())
    .replace("PARAMS", params)
    .replace("ROUTES", routes)
}

/// An evapi client.
struct Ev {
    s: TcpStream,
    buf: Vec<u8>,
    eof: bool,
}

impl Ev {
    fn connect(port: u16) -> Ev {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect evapi");
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Ev {
            s,
            buf: Vec::new(),
            eof: false,
        }
    }

    fn port(&self) -> u16 {
        self.s.local_addr().unwrap().port()
    }

    fn send(&mut self, b: &[u8]) {
        self.s.write_all(b).expect("evapi write");
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => self.eof = true,
            Err(_) => {}
        }
    }

    /// The next netstring payload, within `timeout`.
    fn frame(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(colon) = self.buf.iter().position(|&b| b == b':') {
                let n: usize = std::str::from_utf8(&self.buf[..colon]).ok()?.parse().ok()?;
                if self.buf.len() > colon + 1 + n {
                    assert_eq!(self.buf[colon + 1 + n], b',', "netstring ends with a comma");
                    let payload =
                        String::from_utf8_lossy(&self.buf[colon + 1..colon + 1 + n]).into_owned();
                    self.buf.drain(..colon + 2 + n);
                    return Some(payload);
                }
            }
            if self.eof || Instant::now() > deadline {
                return None;
            }
            self.fill();
        }
    }

    /// Everything that arrives within `wait`.
    fn raw(&mut self, wait: Duration) -> Vec<u8> {
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && !self.eof {
            self.fill();
        }
        std::mem::take(&mut self.buf)
    }

    /// True when the server closed the connection within `timeout`.
    fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline && !self.eof {
            self.fill();
        }
        self.eof
    }
}

fn options(s: &Siprd, c: &UdpClient, ci: &str) -> String {
    c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), ci, ""),
    )
}

const RELAY: &str = r#"
request_route {
    evapi_relay("{\"ci\":\"$ci\"}");
    sl_send_reply("200", "OK");
}
event_route[evapi:connection-new] {
    xlog("L_ERR", "NEW $evapi(conidx)\n");
}
"#;

#[test]
fn relay_reaches_clients_as_netstrings() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", RELAY));
    let mut a = Ev::connect(port);
    let mut b = Ev::connect(port);
    assert!(s.wait_log("NEW 1", WAIT));
    let c = UdpClient::new();
    assert!(first_line(&options(&s, &c, "r1")).starts_with("SIP/2.0 200"));
    assert_eq!(a.frame(WAIT).as_deref(), Some(r#"{"ci":"r1"}"#));
    assert_eq!(b.frame(WAIT).as_deref(), Some(r#"{"ci":"r1"}"#));
    options(&s, &c, "r2");
    assert_eq!(a.frame(WAIT).as_deref(), Some(r#"{"ci":"r2"}"#));
}

#[test]
fn relay_bare_with_netstring_format_0() {
    let port = free_port();
    let routes = r#"
request_route {
    evapi_relay("ev-$ci;");
    sl_send_reply("200", "OK");
}
event_route[evapi:connection-new] { xlog("L_ERR", "NEW $evapi(conidx)\n"); }
event_route[evapi:message-received] { xlog("L_ERR", "BARE [$evapi(msg)]\n"); }
"#;
    let s = Siprd::start(&cfg(
        port,
        r#"modparam("evapi", "netstring_format", 0)"#,
        routes,
    ));
    let mut a = Ev::connect(port);
    assert!(s.wait_log("NEW 0", WAIT));
    let c = UdpClient::new();
    options(&s, &c, "b1");
    let got = a.raw(Duration::from_millis(500));
    assert_eq!(String::from_utf8_lossy(&got), "ev-b1;");
    a.send(b"hello there");
    assert!(s.wait_log("BARE [hello there]", WAIT));
}

#[test]
fn multicast_and_unicast_by_tag() {
    let port = free_port();
    let routes = r#"
request_route {
    evapi_multicast("mc-$ci", "blue");
    evapi_unicast("uc-$ci", "blue");
    evapi_multicast("none-$ci", "nosuchtag");
    sl_send_reply("200", "OK");
}
event_route[evapi:message-received] {
    if (evapi_set_tag("$evapi(msg)")) { xlog("L_ERR", "TAG $evapi(conidx) $evapi(msg)\n"); }
}
"#;
    let s = Siprd::start(&cfg(port, "", routes));
    let mut a = Ev::connect(port);
    let mut b = Ev::connect(port);
    let mut c = Ev::connect(port);
    a.send(b"4:blue,");
    assert!(s.wait_log("TAG 0 blue", WAIT));
    b.send(b"3:red,");
    assert!(s.wait_log("TAG 1 red", WAIT));
    c.send(b"4:blue,");
    assert!(s.wait_log("TAG 2 blue", WAIT));
    // a tag longer than 64 characters is refused
    let long = "x".repeat(65);
    b.send(format!("65:{long},").as_bytes());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!s.log().contains(&format!("TAG 1 {long}")));
    let u = UdpClient::new();
    options(&s, &u, "t1");
    assert_eq!(a.frame(WAIT).as_deref(), Some("mc-t1"));
    assert_eq!(
        a.frame(WAIT).as_deref(),
        Some("uc-t1"),
        "unicast goes to the first matching client"
    );
    assert_eq!(c.frame(WAIT).as_deref(), Some("mc-t1"));
    assert!(
        b.raw(Duration::from_millis(300)).is_empty(),
        "red gets nothing"
    );
    assert!(
        c.raw(Duration::from_millis(300)).is_empty(),
        "the unicast went to the first blue client only"
    );
}

#[test]
fn message_received_with_jansson() {
    let port = free_port();
    let routes = r#"
request_route { sl_send_reply("200", "OK"); }
event_route[evapi:message-received] {
    if (jansson_get("cmd", "$evapi(msg)", "$var(cmd)") && jansson_get("data.n[1]", "$evapi(msg)", "$var(n)")) {
        $var(m) = $var(n) + 1;
        evapi_relay("got $var(cmd) m=$var(m) from $evapi(srcaddr) idx=$evapi(conidx)");
    } else {
        evapi_relay("invalid [$evapi(msg)]");
    }
}
"#;
    let s = Siprd::start(&cfg(port, "", routes));
    let mut a = Ev::connect(port);
    let msg = r#"{"cmd":"ping","data":{"n":[1,41]}}"#;
    a.send(format!("{}:{msg},", msg.len()).as_bytes());
    assert_eq!(
        a.frame(WAIT).as_deref(),
        Some("got ping m=42 from 127.0.0.1 idx=0")
    );
    a.send(b"9:{not json,");
    assert_eq!(a.frame(WAIT).as_deref(), Some("invalid [{not json]"));
    // several frames in one write
    let m1 = r#"{"cmd":"a",x}"#;
    a.send(format!("{}:{m1},5:{{bad}},", m1.len()).as_bytes());
    assert_eq!(
        a.frame(WAIT).as_deref(),
        Some("invalid [{\"cmd\":\"a\",x}]")
    );
    assert_eq!(a.frame(WAIT).as_deref(), Some("invalid [{bad}]"));
    drop(s);
}

const EVENTS: &str = r#"
request_route { sl_send_reply("200", "OK"); }
event_route[evapi:connection-new] {
    xlog("L_ERR", "NEW idx=$evapi(conidx) $evapi(srcaddr):$evapi(srcport)\n");
    evapi_relay("welcome $evapi(conidx) $evapi(srcport)");
    if ($evapi(conidx) == 2) { evapi_close(); }
}
event_route[evapi:connection-closed] {
    xlog("L_ERR", "CLOSED idx=$evapi(conidx) $evapi(srcaddr):$evapi(srcport) msg=[$evapi(msg)]\n");
}
event_route[evapi:message-received] {
    xlog("L_ERR", "MSG idx=$evapi(conidx) [$evapi(msg)]\n");
    if ($evapi(msg) == "close") { evapi_close(); }
    if ($evapi(msg) == "ping") { evapi_relay("pong"); }
}
"#;

#[test]
fn connection_events_and_index_reuse() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", EVENTS));
    let mut a = Ev::connect(port);
    // the relay from its own connection-new route is the first thing it gets
    assert_eq!(a.frame(WAIT), Some(format!("welcome 0 {}", a.port())));
    let mut b = Ev::connect(port);
    let bport = b.port();
    assert_eq!(b.frame(WAIT), Some(format!("welcome 1 {bport}")));
    assert_eq!(
        a.frame(WAIT),
        Some(format!("welcome 1 {bport}")),
        "relays reach every client"
    );
    drop(b);
    assert!(s.wait_log(
        &format!("CLOSED idx=1 127.0.0.1:{bport} msg=[<null>]"),
        WAIT
    ));
    // (the slot is released right after the route's last line is logged)
    std::thread::sleep(Duration::from_millis(100));
    // index 1 is free again
    let mut c = Ev::connect(port);
    assert_eq!(c.frame(WAIT), Some(format!("welcome 1 {}", c.port())));
    assert_eq!(a.frame(WAIT), Some(format!("welcome 1 {}", c.port())));
    a.send(b"4:ping,");
    assert_eq!(a.frame(WAIT).as_deref(), Some("pong"));
}

#[test]
fn evapi_close_from_routes_raises_no_closed_event() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", EVENTS));
    let mut a = Ev::connect(port);
    assert!(a.frame(WAIT).is_some());
    let mut b = Ev::connect(port);
    assert!(b.frame(WAIT).is_some());
    // index 2 is closed by its connection-new route, after its welcome
    let mut c = Ev::connect(port);
    let cport = c.port();
    assert_eq!(c.frame(WAIT), Some(format!("welcome 2 {cport}")));
    assert!(c.closed_within(WAIT));
    // closed from message-received
    b.send(b"5:close,");
    assert!(b.closed_within(WAIT));
    std::thread::sleep(Duration::from_millis(300));
    let log = s.log();
    assert!(!log.contains("CLOSED idx=2"), "{log}");
    assert!(!log.contains("CLOSED idx=1"), "{log}");
    // the other client is unaffected
    a.send(b"4:ping,");
    let mut got = Vec::new();
    while let Some(f) = a.frame(WAIT) {
        if f == "pong" {
            break;
        }
        got.push(f);
    }
    assert!(got.iter().all(|f| f.starts_with("welcome")), "{got:?}");
}

#[test]
fn junk_is_ignored_counted_and_logged_once() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", EVENTS));
    let mut a = Ev::connect(port);
    assert!(a.frame(WAIT).is_some());
    a.send(b"garbage!!,\x00\x01\xff,");
    a.send(b"4:ping,");
    assert_eq!(a.frame(WAIT).as_deref(), Some("pong"));
    a.send(b"xx:yy,0:,\r\n4:ping,");
    assert_eq!(a.frame(WAIT).as_deref(), Some("pong"));
    assert_eq!(s.count_log("that is not a netstring"), 1);
    assert!(!s.log().contains("MSG idx=0 [garbage"));
    assert!(
        !s.log().contains("MSG idx=0 []"),
        "empty netstrings raise nothing"
    );
    assert!(!s.log().contains("CLOSED idx=0"));
}

#[test]
fn frames_split_anywhere_are_reassembled() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", EVENTS));
    let mut a = Ev::connect(port);
    assert!(a.frame(WAIT).is_some());
    let gap = Duration::from_millis(60);
    for piece in [&b"1"[..], b"1:hel", b"lo world"] {
        a.send(piece);
        std::thread::sleep(gap);
    }
    // just before the trailing comma
    a.send(b",5:split");
    std::thread::sleep(gap);
    a.send(b",4:pi");
    std::thread::sleep(gap);
    a.send(b"ng");
    std::thread::sleep(gap);
    a.send(b",");
    assert_eq!(a.frame(WAIT).as_deref(), Some("pong"));
    assert!(s.wait_log("MSG idx=0 [hello world]", WAIT));
    assert!(s.wait_log("MSG idx=0 [split]", WAIT));
    assert_eq!(s.count_log("that is not a netstring"), 0);
}

#[test]
fn oversized_frame_closes_the_connection() {
    let port = free_port();
    let s = Siprd::start(&cfg(
        port,
        // a whole netstring: 100 bytes of data with `100:` and `,` make 105
        r#"modparam("evapi", "max_frame_size", 105)"#,
        EVENTS,
    ));
    let mut a = Ev::connect(port);
    assert!(a.frame(WAIT).is_some());
    a.send(b"100:");
    a.send(&[b'x'; 100]);
    a.send(b",");
    assert!(s.wait_log(&format!("MSG idx=0 [{}]", "x".repeat(100)), WAIT));
    // Kamailio 5.6: a frame longer than the read buffer closes the
    // connection once the buffer is full, not when its length is read
    a.send(b"101:xx");
    assert!(!a.closed_within(Duration::from_millis(300)));
    a.send(&[b'x'; 99]);
    assert!(a.closed_within(WAIT));
    assert!(s.wait_log("does not fit max_frame_size (105)", WAIT));
    assert!(s.wait_log("CLOSED idx=0", WAIT));
    std::thread::sleep(Duration::from_millis(100));
    // a huge length prefix (Kamailio wraps it, or crashes on 2147483647)
    let mut b = Ev::connect(port);
    assert!(b.frame(WAIT).is_some());
    b.send(b"99999999999999999999999:");
    assert!(!b.closed_within(Duration::from_millis(200)));
    b.send(&[b'x'; 90]);
    assert!(b.closed_within(WAIT));
    // its slot is free once its connection-closed route has run
    let deadline = Instant::now() + WAIT;
    while s.count_log("CLOSED idx=0") < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // (the slot is released right after the route's last line is logged)
    std::thread::sleep(Duration::from_millis(100));
    // half a frame, then the client goes away: no message, a closed event
    let mut c = Ev::connect(port);
    assert!(c.frame(WAIT).is_some());
    c.send(b"10:abc");
    std::thread::sleep(Duration::from_millis(100));
    drop(c);
    // index 0 was freed each time: this is its third connection-closed
    let deadline = Instant::now() + WAIT;
    while s.count_log("CLOSED idx=0") < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.count_log("CLOSED idx=0"), 3);
    assert!(!s.log().contains("MSG idx=0 [abc"));
}

#[test]
fn max_clients_is_enforced() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, r#"modparam("evapi", "max_clients", 2)"#, EVENTS));
    let mut a = Ev::connect(port);
    let mut b = Ev::connect(port);
    assert!(a.frame(WAIT).is_some());
    assert!(b.frame(WAIT).is_some());
    let mut c = Ev::connect(port);
    assert!(c.closed_within(WAIT));
    assert!(s.wait_log("too many clients (max_clients=2)", WAIT));
    drop(a);
    assert!(s.wait_log("CLOSED idx=0", WAIT));
    // (the slot is released right after the route's last line is logged)
    std::thread::sleep(Duration::from_millis(100));
    let mut d = Ev::connect(port);
    assert_eq!(d.frame(WAIT), Some(format!("welcome 0 {}", d.port())));
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_client_that_never_reads_does_not_slow_sip() {
    let port = free_port();
    let payload = "p".repeat(4000);
    let routes = r#"
request_route {
    evapi_relay("$ci PAYLOAD");
    sl_send_reply("200", "OK");
}
event_route[evapi:connection-new] { xlog("L_ERR", "NEW $evapi(conidx)\n"); }
event_route[evapi:connection-closed] { xlog("L_ERR", "CLOSED idx=$evapi(conidx)\n"); }
"#
    .replace("PAYLOAD", &payload);
    let params = r#"
modparam("evapi", "max_queue", 64)
modparam("evapi", "send_data_timeout", 1500000)
"#;
    let s = Siprd::start(&cfg(port, params, &routes));
    // a client that never reads, with a small receive buffer
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    assert!(s.wait_log("NEW 0", WAIT));
    let rss0 = rss_kb(s.pid());
    let c = UdpClient::new();
    let t = Instant::now();
    for i in 0..2000 {
        let r = options(&s, &c, &format!("slow-{i}"));
        assert!(first_line(&r).starts_with("SIP/2.0 200"));
    }
    let took = t.elapsed();
    assert!(took < Duration::from_secs(20), "2000 OPTIONS took {took:?}");
    assert!(s.wait_log("is full (max_queue=64)", WAIT));
    // stalled for send_data_timeout: disconnected, with the drops counted
    assert!(s.wait_log("did not read for 1500000 us", Duration::from_secs(8)));
    assert!(s.wait_log("events were dropped for client", WAIT));
    assert!(s.wait_log("CLOSED idx=0", WAIT));
    let rss1 = rss_kb(s.pid());
    assert!(
        rss1 < rss0 + 64 * 1024,
        "memory grew from {rss0} kB to {rss1} kB"
    );
    drop(sock);
}

const ASYNC: &str = r#"
request_route {
    if ($rm == "ACK") { t_check_trans(); exit; }
    if ($rm == "INVITE") {
        t_check_trans();
        if (!evapi_async_relay("{\"index\":$T(id_index),\"label\":$T(id_label),\"ci\":\"$ci\"}")) {
            sl_send_reply("503", "No App");
        }
        exit;
    }
    if ($rm == "MESSAGE") {
        if (!evapi_async_unicast("{\"index\":$T(id_index),\"label\":$T(id_label),\"ci\":\"$ci\"}", "app")) {
            sl_send_reply("503", "No Tagged App");
        }
        exit;
    }
    sl_send_reply("200", "OK");
}
event_route[evapi:message-received] {
    if ($evapi(msg) == "tag") { evapi_set_tag("app"); exit; }
    jansson_get("index", "$evapi(msg)", "$var(tindex)");
    jansson_get("label", "$evapi(msg)", "$var(tlabel)");
    jansson_get("code", "$evapi(msg)", "$var(code)");
    t_continue("$var(tindex)", "$var(tlabel)", "RESUME");
}
route[RESUME] {
    t_reply("$var(code)", "From App");
    exit;
}
"#;

fn async_cfg(port: u16) -> String {
    cfg(
        port,
        r#"
loadmodule "tm.so"
loadmodule "tmx.so"
modparam("tm", "fr_timer", 1000)
modparam("tm", "fr_inv_timer", 1000)
"#,
        ASYNC,
    )
}

/// The value of `"key":` (a number) in a flat JSON text.
fn json_num(text: &str, key: &str) -> String {
    let k = format!("\"{key}\":");
    let rest = &text[text.find(&k).expect("key") + k.len()..];
    rest.trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect()
}

fn final_reply(c: &UdpClient) -> Option<String> {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Some(r) = c.recv(Duration::from_millis(200)) {
            if !r.starts_with("SIP/2.0 1") {
                return Some(r);
            }
        }
    }
    None
}

#[test]
fn async_relay_round_trip_with_t_continue() {
    let port = free_port();
    let s = Siprd::start(&async_cfg(port));
    let c = UdpClient::new();
    // no client: suspended all the same (as Kamailio), ended by fr_inv_timer
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "a0", ""),
    );
    let r = c.recv(WAIT).expect("100 Trying");
    assert!(first_line(&r).starts_with("SIP/2.0 100"), "{r}");
    assert_eq!(
        first_line(&final_reply(&c).expect("408 from the timer")),
        "SIP/2.0 408 Request Timeout"
    );
    let mut app = Ev::connect(port);
    std::thread::sleep(Duration::from_millis(100));
    for i in 0..20 {
        c.send(
            s.udp_addr(),
            &request(
                "INVITE",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("a{}", i + 1),
                "",
            ),
        );
        let ev = app.frame(WAIT).expect("event for the suspended INVITE");
        assert!(ev.contains(&format!("\"ci\":\"a{}\"", i + 1)), "{ev}");
        let answer = format!(
            r#"{{"index":{},"label":{},"code":404}}"#,
            json_num(&ev, "index"),
            json_num(&ev, "label")
        );
        app.send(format!("{}:{answer},", answer.len()).as_bytes());
        let r = final_reply(&c).expect("final reply");
        assert_eq!(first_line(&r), "SIP/2.0 404 From App");
        assert_eq!(header(&r, "Call-ID"), Some(format!("a{}", i + 1).as_str()));
    }
    // unicast by tag: no tagged client yet, suspended all the same (a new
    // client: the INVITEs' 404s are retransmitted to the first, never ACKed)
    let c2 = UdpClient::new();
    c2.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:x@127.0.0.1", c2.port(), "m0", ""),
    );
    assert_eq!(
        first_line(&final_reply(&c2).expect("408 from the timer")),
        "SIP/2.0 408 Request Timeout"
    );
    assert!(app.frame(Duration::from_millis(200)).is_none());
    app.send(b"3:tag,");
    std::thread::sleep(Duration::from_millis(200));
    c2.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:x@127.0.0.1", c2.port(), "m1", ""),
    );
    let ev = app.frame(WAIT).expect("event for the suspended MESSAGE");
    let answer = format!(
        r#"{{"index":{},"label":{},"code":202}}"#,
        json_num(&ev, "index"),
        json_num(&ev, "label")
    );
    app.send(format!("{}:{answer},", answer.len()).as_bytes());
    assert_eq!(
        first_line(&final_reply(&c2).expect("reply")),
        "SIP/2.0 202 From App"
    );
}

#[test]
fn app_gone_while_transactions_wait_ends_them_by_timer() {
    let port = free_port();
    let s = Siprd::start(&async_cfg(port));
    let c = UdpClient::new();
    let mut app = Ev::connect(port);
    std::thread::sleep(Duration::from_millis(100));
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "gone1", ""),
    );
    assert!(app.frame(WAIT).is_some());
    drop(app);
    // fr_inv_timer (1 s) ends the suspended transaction with a 408
    let r = final_reply(&c).expect("final reply from the timer");
    assert!(first_line(&r).starts_with("SIP/2.0 408"), "{r}");
}

/// The examples in etc/examples, on free ports.
fn example(name: &str, port: u16) -> String {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc/examples")
        .join(name);
    std::fs::read_to_string(path)
        .expect("example")
        .replace(
            "listen=udp:127.0.0.1:5060",
            "debug=2\nlog_stderror=yes\nlisten=udp:127.0.0.1:0",
        )
        .replace("127.0.0.1:8448", &format!("127.0.0.1:{port}"))
}

#[test]
fn seed003_examples_run() {
    let port = free_port();
    let s = Siprd::start(&example("seed003-evapi-relay.cfg", port));
    let mut app = Ev::connect(port);
    std::thread::sleep(Duration::from_millis(100));
    let c = UdpClient::new();
    assert!(first_line(&options(&s, &c, "e1")).starts_with("SIP/2.0 200"));
    assert_eq!(
        app.frame(WAIT).as_deref(),
        Some("{ \"event\": \"test\",\n \"data\": { \"fU\": \"alice\" }\n}")
    );
    app.send(b"17:{\"event\":\"hello\"},");
    assert!(s.wait_log("evapi event [hello] from connection 0", WAIT));
    drop(s);

    let port = free_port();
    let s = Siprd::start(&example("seed003-evapi-async.cfg", port));
    // no application: the INVITE waits for fr_inv_timer, as on Kamailio
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "e2", ""),
    );
    let r = c.recv(WAIT).expect("100 Trying");
    assert!(first_line(&r).starts_with("SIP/2.0 100"), "{r}");
    assert_eq!(
        first_line(&final_reply(&c).expect("408 from the timer")),
        "SIP/2.0 408 Request Timeout"
    );
    let mut app = Ev::connect(port);
    std::thread::sleep(Duration::from_millis(100));
    // (on a loaded machine the server may take the connection after the
    // INVITE's event went out to nobody: that INVITE times out, try again)
    let mut ev = None;
    for attempt in 0..4 {
        c.send(
            s.udp_addr(),
            &request(
                "INVITE",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("e3-{attempt}"),
                "",
            ),
        );
        ev = app.frame(WAIT);
        if ev.is_some() {
            break;
        }
        final_reply(&c);
    }
    let ev = ev.expect("event");
    let answer = format!(
        r#"{{"index":{},"label":{},"code":486}}"#,
        json_num(&ev, "index"),
        json_num(&ev, "label")
    );
    app.send(format!("{}:{answer},", answer.len()).as_bytes());
    assert_eq!(
        first_line(&final_reply(&c).expect("reply")),
        "SIP/2.0 486 Answered by the application"
    );
}

const TAGS: &str = r#"
request_route {
    if ($hdr(X-Op) == "uni") { evapi_unicast("U:$ci", "$hdr(X-T)"); $var(r) = $rc; }
    else if ($hdr(X-Op) == "multi") { evapi_multicast("M:$ci", "$hdr(X-T)"); $var(r) = $rc; }
    else if ($hdr(X-Op) == "uni0") { $var(e) = ""; evapi_unicast("U:$ci", "$var(e)"); $var(r) = $rc; }
    else if ($hdr(X-Op) == "multi0") { $var(e) = ""; evapi_multicast("M:$ci", "$var(e)"); $var(r) = $rc; }
    else if ($hdr(X-Op) == "relay0") { $var(e) = ""; evapi_relay("$var(e)"); $var(r) = $rc; }
    else { evapi_relay("$hdr(X-D)"); $var(r) = $rc; }
    sl_send_reply("200", "rc=$var(r)");
}
event_route[evapi:message-received] {
    if ($evapi(msg) =~ "^tag:") {
        evapi_set_tag("$(evapi(msg){s.substr,4,0})");
        evapi_relay("tagrc=$rc");
    } else if ($evapi(msg) == "close") {
        evapi_close(); $var(c1) = $rc;
        evapi_set_tag("x"); $var(t) = $rc;
        evapi_close(); $var(c2) = $rc;
        evapi_relay("closed c1=$var(c1) t=$var(t) c2=$var(c2) idx=$evapi(conidx) addr=$evapi(srcaddr) port=$evapi(srcport) msg=$evapi(msg)");
    }
}
event_route[evapi:connection-closed] {
    $var(i) = $evapi(conidx);
    evapi_set_tag("x"); $var(t) = $rc;
    evapi_close(); $var(c) = $rc;
    xlog("L_ERR", "CLOSED idx=$var(i) t=$var(t) c=$var(c) after=$evapi(conidx)\n");
}
"#;

/// Tags, empty data and tags, evapi_close() and the PVs after it, and the
/// return codes of each: every frame and code below is what Kamailio 5.6.3
/// gives for the same config and client steps.
#[test]
fn tags_close_and_return_codes_as_kamailio() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", TAGS));
    let c = UdpClient::new();
    let sip = |ci: &str, hdrs: &str| -> String {
        let r = c.request(
            s.udp_addr(),
            &request("OPTIONS", "sip:x@127.0.0.1", c.port(), ci, hdrs),
        );
        first_line(&r).to_string()
    };
    let mut a = Ev::connect(port);
    let mut b = Ev::connect(port);
    std::thread::sleep(Duration::from_millis(100));
    a.send(b"6:tag:t1,");
    assert_eq!(a.frame(WAIT).as_deref(), Some("tagrc=1"));
    b.send(b"6:tag:t1,");
    assert_eq!(b.frame(WAIT).as_deref(), Some("tagrc=1"));
    assert_eq!(b.frame(WAIT).as_deref(), Some("tagrc=1"));
    assert_eq!(a.frame(WAIT).as_deref(), Some("tagrc=1"));
    // unicast: the first client with the tag; multicast: all of them
    assert_eq!(sip("u1", "X-Op: uni\r\nX-T: t1\r\n"), "SIP/2.0 200 rc=1");
    assert_eq!(a.frame(WAIT).as_deref(), Some("U:u1"));
    assert_eq!(sip("m1", "X-Op: multi\r\nX-T: t1\r\n"), "SIP/2.0 200 rc=1");
    assert_eq!(a.frame(WAIT).as_deref(), Some("M:m1"));
    assert_eq!(b.frame(WAIT).as_deref(), Some("M:m1"), "b got no unicast");
    // an empty tag removes the client's tag
    a.send(b"4:tag:,");
    assert_eq!(a.frame(WAIT).as_deref(), Some("tagrc=1"));
    assert_eq!(b.frame(WAIT).as_deref(), Some("tagrc=1"));
    assert_eq!(sip("m2", "X-Op: multi\r\nX-T: t1\r\n"), "SIP/2.0 200 rc=1");
    assert_eq!(b.frame(WAIT).as_deref(), Some("M:m2"));
    // empty tag or data: false, nothing sent
    assert_eq!(sip("u3", "X-Op: uni0\r\n"), "SIP/2.0 200 rc=-1");
    assert_eq!(sip("m3", "X-Op: multi0\r\n"), "SIP/2.0 200 rc=-1");
    assert_eq!(sip("r3", "X-Op: relay0\r\n"), "SIP/2.0 200 rc=-1");
    assert_eq!(sip("r4", "X-D: data\r\n"), "SIP/2.0 200 rc=1");
    assert_eq!(
        a.frame(WAIT).as_deref(),
        Some("data"),
        "a got nothing before"
    );
    assert_eq!(
        b.frame(WAIT).as_deref(),
        Some("data"),
        "b got nothing before"
    );
    // tags up to 63 characters
    a.send(format!("67:tag:{},", "y".repeat(63)).as_bytes());
    assert_eq!(a.frame(WAIT).as_deref(), Some("tagrc=1"));
    a.send(format!("68:tag:{},", "z".repeat(64)).as_bytes());
    assert_eq!(a.frame(WAIT).as_deref(), Some("tagrc=-1"));
    let y63 = format!("X-Op: uni\r\nX-T: {}\r\n", "y".repeat(63));
    assert_eq!(sip("u4", &y63), "SIP/2.0 200 rc=1");
    assert_eq!(a.frame(WAIT).as_deref(), Some("U:u4"));
    // after evapi_close() the connection is forgotten: PVs null, a second close -2
    a.send(b"5:close,");
    assert!(a.closed_within(WAIT));
    for want in ["tagrc=1", "tagrc=-1"] {
        assert_eq!(b.frame(WAIT).as_deref(), Some(want));
    }
    assert_eq!(
        b.frame(WAIT).as_deref(),
        Some("closed c1=1 t=-1 c2=-2 idx=<null> addr=<null> port=<null> msg=<null>")
    );
    // in connection-closed, evapi_set_tag() and evapi_close() are true
    drop(b);
    assert!(
        s.wait_log("CLOSED idx=1 t=1 c=1 after=<null>", WAIT),
        "{}",
        s.log()
    );
}

const ECHO_LEN: &str = r#"
request_route { sl_send_reply("200", "OK"); }
event_route[evapi:message-received] {
    evapi_relay("len=$(evapi(msg){s.len})");
}
event_route[evapi:connection-closed] {
    xlog("L_ERR", "CLOSED idx=$evapi(conidx)\n");
}
"#;

/// Kamailio reads at most 32767 bytes at once: a longer netstring closes the
/// connection (with evapi:connection-closed), and with netstring_format=0 a
/// longer write arrives as several messages.
#[test]
fn default_frame_limit_as_kamailio() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, "", ECHO_LEN));
    let mut a = Ev::connect(port);
    // 32760 bytes of data: `32760:` and `,` make 32767
    let mut f = b"32760:".to_vec();
    f.extend(std::iter::repeat_n(b'y', 32760));
    f.push(b',');
    a.send(&f);
    assert_eq!(a.frame(WAIT).as_deref(), Some("len=32760"));
    let mut f = b"40000:".to_vec();
    f.extend(std::iter::repeat_n(b'y', 40000));
    f.push(b',');
    a.send(&f);
    assert!(a.closed_within(WAIT));
    assert!(s.wait_log("CLOSED idx=0", WAIT));
    assert!(s.wait_log("does not fit max_frame_size (32767)", WAIT));
    drop(s);

    let port = free_port();
    let s = Siprd::start(&cfg(
        port,
        r#"modparam("evapi", "netstring_format", 0)"#,
        ECHO_LEN,
    ));
    let mut a = Ev::connect(port);
    std::thread::sleep(Duration::from_millis(100));
    a.send(&[b'x'; 40000]);
    let got = a.raw(Duration::from_millis(700));
    assert_eq!(String::from_utf8_lossy(&got), "len=32767len=7233");
    assert!(!s.log().contains("CLOSED"));
}

const DIRECT: &str = r#"
route[T] {
    $var(r) = evapi_relay("r-$var(ev)");
    $var(m) = evapi_multicast("m-$var(ev)", "t1");
    $var(u) = evapi_unicast("u-$var(ev)", "nope");
    xlog("L_ERR", "$var(ev) relay=$var(r) multi=$var(m) uni=$var(u)\n");
}
event_route[htable:mod-init] { $var(ev) = "init"; route(T); }
event_route[evapi:connection-new] { $var(ev) = "new"; route(T); evapi_set_tag("t1"); }
event_route[evapi:message-received] {
    if ($evapi(msg) == "close") { evapi_close(); }
    $var(ev) = "msg"; route(T);
}
event_route[evapi:connection-closed] { $var(ev) = "closed"; route(T); }
request_route { $var(ev) = "sip"; route(T); sl_send_reply("200", "OK"); }
"#;

/// Kamailio 5.6: the evapi event routes run in the evapi dispatcher, which
/// sends at once and answers -1 ("message not delivered - no client
/// connected") when no client takes the event; a SIP worker only hands the
/// event over and always gets 1. The client that is going away still counts
/// in evapi:connection-closed (relay, its tag); after evapi_close() it does
/// not. htable:mod-init gets 1 when evapi is loaded first, -1 when htable is
/// (modules initialise in load order: evapi's hand-over does not exist yet).
#[test]
fn relays_from_evapi_routes_fail_when_no_client_takes_them() {
    let port = free_port();
    let htable_first = cfg(port, "", DIRECT).replace(
        "loadmodule \"evapi.so\"",
        "loadmodule \"htable.so\"\nloadmodule \"evapi.so\"",
    );
    let s = Siprd::start(&htable_first);
    assert!(
        s.wait_log("init relay=-1 multi=-1 uni=-1", WAIT),
        "{}",
        s.log()
    );
    drop(s);
    let s = Siprd::start(&cfg(port, "loadmodule \"htable.so\"", DIRECT));
    assert!(
        s.wait_log("init relay=1 multi=1 uni=1", WAIT),
        "{}",
        s.log()
    );
    let c = UdpClient::new();
    assert_eq!(first_line(&options(&s, &c, "d1")), "SIP/2.0 200 OK");
    assert!(s.wait_log("sip relay=1 multi=1 uni=1", WAIT), "{}", s.log());
    let mut a = Ev::connect(port);
    assert!(
        s.wait_log("new relay=1 multi=-1 uni=-1", WAIT),
        "{}",
        s.log()
    );
    assert_eq!(a.frame(WAIT).as_deref(), Some("r-new"));
    a.send(b"1:x,");
    assert!(
        s.wait_log("msg relay=1 multi=1 uni=-1", WAIT),
        "{}",
        s.log()
    );
    let b = Ev::connect(port);
    assert!(
        s.wait_log("new relay=1 multi=1 uni=-1", WAIT),
        "{}",
        s.log()
    );
    // b goes away: in its connection-closed it still takes the tagged event
    drop(b);
    assert!(
        s.wait_log("closed relay=1 multi=1 uni=-1", WAIT),
        "{}",
        s.log()
    );
    // the last client closes itself: nobody takes the events any more
    a.send(b"5:close,");
    assert!(
        s.wait_log("msg relay=-1 multi=-1 uni=-1", WAIT),
        "{}",
        s.log()
    );
    assert!(a.closed_within(WAIT));
}

const ORDER: &str = r#"
event_route[evapi:connection-new] { xlog("L_ERR", "EV new $evapi(conidx)\n"); }
event_route[evapi:message-received] { xlog("L_ERR", "EV msg $evapi(conidx) $evapi(msg)\n"); }
event_route[evapi:connection-closed] { xlog("L_ERR", "EV closed $evapi(conidx)\n"); }
request_route { exit; }
"#;

/// Kamailio 5.6 runs every evapi route in its dispatcher, whatever `workers`
/// says: a client's connection-new, messages and connection-closed run in
/// order. siprd keeps each client on one script thread.
#[test]
fn a_clients_events_run_in_order_with_several_workers() {
    let port = free_port();
    let s = Siprd::start(&cfg(port, r#"modparam("evapi", "workers", 4)"#, ORDER));
    let mut want = Vec::new();
    for round in 0..3 {
        let mut a = Ev::connect(port);
        let mut frames = Vec::new();
        want.push("EV new 0".to_string());
        for i in 0..20 {
            let m = format!("r{round}m{i}");
            frames.extend_from_slice(format!("{}:{m},", m.len()).as_bytes());
            want.push(format!("EV msg 0 {m}"));
        }
        a.send(&frames);
        drop(a);
        want.push("EV closed 0".to_string());
        let deadline = Instant::now() + WAIT;
        while s.count_log("EV closed 0") <= round && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let got: Vec<String> = s
        .log()
        .lines()
        .filter_map(|l| l.find("EV ").map(|i| l[i..].to_string()))
        .collect();
    assert_eq!(got, want);
}
