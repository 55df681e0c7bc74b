//! The core's TCP send flags (`set_reply_close` & co) against the running binary.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn set_reply_close_and_set_forward_close_and_no_connect() {
    // set_reply_close(): the connection is closed once the reply is written;
    // set_forward_close(): the same for the forwarded request's connection;
    // set_forward_no_connect(): no new connection is opened for the forward.
    let hop = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hop_port = hop.local_addr().expect("addr").port();
    let cfg = format!(
        r#"
debug=2
children=1
tcp_children=1
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {{
    if ($rU == "close") {{ set_reply_close(); }}
    if ($rU == "fwd") {{
        set_forward_close();
        $du = "sip:127.0.0.1:{hop_port};transport=tcp";
        forward();
        exit;
    }}
    if ($rU == "noconn") {{
        set_forward_no_connect();
        $du = "sip:127.0.0.1:{hop_port};transport=tcp";
        if (!forward()) {{
            sl_send_reply("503", "no connection");
            exit;
        }}
    }}
    sl_send_reply("200", "OK");
}}
"#
    );
    let s = Siprd::start(&cfg);
    let req = |user: &str, port: u16| {
        request(
            "OPTIONS",
            &format!("sip:{user}@127.0.0.1;transport=tcp"),
            port,
            user,
            "",
        )
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP")
    };
    // without the flag the connection stays open; with it, it is closed
    let mut c = TcpClient::connect(s.tcp_addr());
    c.send(req("keep", c.port()).as_bytes());
    assert!(c
        .recv(Duration::from_secs(2))
        .is_some_and(|r| r.starts_with("SIP/2.0 200")));
    assert!(!c.closed_within(Duration::from_millis(300)));
    c.send(req("close", c.port()).as_bytes());
    assert!(c
        .recv(Duration::from_secs(2))
        .is_some_and(|r| r.starts_with("SIP/2.0 200")));
    assert!(c.closed_within(Duration::from_secs(2)));

    // no connection to the hop yet: no_connect makes the forward fail
    let mut c = TcpClient::connect(s.tcp_addr());
    c.send(req("noconn", c.port()).as_bytes());
    let r = c.recv(Duration::from_secs(2)).unwrap_or_default();
    assert!(r.starts_with("SIP/2.0 503 no connection"), "{r}");

    // forward_close: the hop gets the request, then EOF
    c.send(req("fwd", c.port()).as_bytes());
    hop.set_nonblocking(true).expect("nonblocking");
    let end = std::time::Instant::now() + Duration::from_secs(3);
    let mut conn = loop {
        match hop.accept() {
            Ok((c, _)) => break c,
            Err(_) if std::time::Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("siprd did not connect: {e}"),
        }
    };
    conn.set_nonblocking(false).expect("blocking");
    conn.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match std::io::Read::read(&mut conn, &mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no EOF after the forwarded request: {e}"),
        }
    }
    assert!(
        got.starts_with(b"OPTIONS sip:fwd@127.0.0.1"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}
