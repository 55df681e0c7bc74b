//! corex functions against the running binary; behaviour observed on
//! Kamailio 5.6 with the same config.

mod common;

use common::*;
use std::io::Read;
use std::time::Duration;

#[test]
fn send_data_and_sendx_over_udp_and_tcp() {
    let hop = NextHop::new();
    let tcp_hop = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let tcp_port = tcp_hop.local_addr().expect("addr").port();
    let cfg = format!(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "corex.so"
request_route {{
    if ($rU == "udp") {{
        $var(a) = send_data("sip:127.0.0.1:{udp}", "hello $rU");
        # an unknown socket falls back to a listener of the protocol
        $var(b) = sendx("sip:127.0.0.1:{udp};transport=udp", "udp:10.9.9.9:1", "x $rm");
        $var(c) = send_data("not a uri", "x");
        sl_send_reply("200", "r $var(a) $var(b) $var(c)");
    }}
    if ($rU == "tcp") {{
        $var(a) = send_data("sip:127.0.0.1:{tcp};transport=tcp", "over tcp");
        sl_send_reply("200", "r $var(a)");
    }}
}}
"#,
        udp = hop.port(),
        tcp = tcp_port
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:udp@127.0.0.1", "sd-1");
    assert_eq!(first_line(&r), "SIP/2.0 200 r 1 1 -1", "{r}");
    let got: Vec<String> = hop
        .collect(Duration::from_millis(300))
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(got, ["hello udp", "x OPTIONS"]);

    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:tcp@127.0.0.1", "sd-2");
    assert_eq!(first_line(&r), "SIP/2.0 200 r 1", "{r}");
    tcp_hop.set_nonblocking(false).expect("blocking");
    let (mut conn, _) = tcp_hop.accept().expect("siprd connects");
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).expect("data");
    assert_eq!(&buf[..n], b"over tcp");
}

#[test]
fn extended_flags_and_set_send_socket() {
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "corex.so"
request_route {
    $var(a) = setxflag("40");
    $var(b) = isxflagset("40");
    $var(c) = resetxflag("40");
    $var(d) = isxflagset("40");
    $var(e) = setxflag("64");
    $var(f) = set_send_socket("udp:10.1.1.1:5060");
    $var(g) = $fs;
    set_send_socket("udp:$Ri:$Rp");
    sl_send_reply("200", "r $var(a) $var(b) $var(c) $var(d) $var(e) $var(f) $var(g) $fs");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:x@127.0.0.1", "xf-1");
    let port = s.udp_addr().port();
    assert_eq!(
        first_line(&r),
        format!("SIP/2.0 200 r 1 1 1 -1 -1 1 0 udp:127.0.0.1:{port}"),
        "{r}"
    );
}

#[test]
fn socket_names() {
    // listen=... name "x": $Rn, is_socket_name, set_send_socket_name (an
    // unknown name is true and leaves $fs alone), as Kamailio 5.6
    let port = free_udp_port();
    let cfg = format!(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0 name "s1"
listen=udp:127.0.0.1:{port} name "s2"
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "corex.so"
request_route {{
    $var(a) = is_socket_name("s1");
    $var(b) = is_socket_name("zz");
    $var(c) = set_send_socket_name("s2");
    $var(d) = set_send_socket_name("zz");
    sl_send_reply("200", "r $var(a) $var(b) $var(c) $var(d) $fs $Rn");
}}
"#
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:x@127.0.0.1", "sn-1");
    assert_eq!(
        first_line(&r),
        format!("SIP/2.0 200 r 1 -1 1 1 udp:127.0.0.1:{port} s1"),
        "{r}"
    );
}

/// `msg_iflag_*`: the names Kamailio 5.6 knows (`USE_UAC_FROM`, `USE_UAC_TO`,
/// `UAC_AUTH`, any case, also from a variable); each flag on its own, for
/// this message only; an unknown name is false for `is_set`/`reset`.
#[test]
fn msg_iflags_by_name() {
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "corex.so"
request_route {
    $var(r) = "";
    if (msg_iflag_is_set("USE_UAC_TO")) { $var(r) = $var(r) + "stale;"; }
    if ($rU == "set") {
        msg_iflag_set("use_uac_from");
        $var(f) = "USE_UAC_TO";
        msg_iflag_set("$var(f)");
        msg_iflag_set("UAC_AUTH");
        msg_iflag_reset("UAC_AUTH");
    }
    if (msg_iflag_is_set("USE_UAC_FROM")) { $var(r) = $var(r) + "from;"; }
    if (msg_iflag_is_set("USE_UAC_TO")) { $var(r) = $var(r) + "to;"; }
    if (msg_iflag_is_set("UAC_AUTH")) { $var(r) = $var(r) + "auth;"; }
    if (msg_iflag_is_set("FOO")) { $var(r) = $var(r) + "foo;"; }
    msg_iflag_reset("FOO");
    $var(rc) = $rc;
    sl_send_reply("200", "r=$var(r) rc=$var(rc)");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:set@127.0.0.1", "if1");
    assert_eq!(first_line(&r), "SIP/2.0 200 r=from;to; rc=-1");
    // the flags do not carry over to the next message
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:get@127.0.0.1", "if2");
    assert_eq!(first_line(&r), "SIP/2.0 200 r= rc=-1");
}

/// `send_udp` / `send_tcp` send the request exactly as received (no Via of
/// ours, none of the script's changes) to `host[:port]`, or without a target
/// to `$du`; observed on Kamailio 5.6.3 with the same config.
#[test]
fn send_udp_and_send_tcp_send_the_received_message() {
    let hop = NextHop::new();
    let tcp_hop = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let tcp_port = tcp_hop.local_addr().expect("addr").port();
    let cfg = format!(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "corex.so"
request_route {{
    append_hf("X-Added: 1\r\n");
    $ru = "sip:changed@example.net";
    $du = "sip:127.0.0.1:{udp}";
    $var(a) = send_udp();
    $var(b) = send_udp("127.0.0.1:{udp}");
    $var(c) = send_udp("udp:127.0.0.1:{udp}");
    $var(d) = send_tcp("127.0.0.1:{tcp}");
    sl_send_reply("200", "r $var(a) $var(b) $var(c) $var(d)");
}}
"#,
        udp = hop.port(),
        tcp = tcp_port
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let req = request("OPTIONS", "sip:bob@127.0.0.1", c.port(), "sudp-1", "");
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&r), "SIP/2.0 200 r 1 1 -1 1", "{r}");
    let got: Vec<String> = hop
        .collect(Duration::from_millis(300))
        .into_iter()
        .map(|(m, _)| m)
        .collect();
    assert_eq!(got, [req.clone(), req.clone()]);
    tcp_hop.set_nonblocking(false).expect("blocking");
    let (mut conn, _) = tcp_hop.accept().expect("siprd connects");
    conn.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while got.len() < req.len() {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), req);
}

/// corex `forward_reply()` in reply_route sends the reply on at once, and
/// the core forwards it again after the route unless it drops (observed).
#[test]
fn forward_reply_forwards_at_once() {
    let up = NextHop::new();
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "corex.so"
request_route { sl_send_reply("200", "ok"); }
reply_route {
    forward_reply();
    if ($rs == 180) { drop; }
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let me = s.udp_addr();
    for (code, copies) in [(180, 1), (200, 2)] {
        let reply = format!(
            "SIP/2.0 {code} X\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-fr1\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-up1\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n\
             Call-ID: fr-1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
            up.port()
        );
        c.send(me, &reply);
        let got = up.collect(Duration::from_millis(400));
        assert_eq!(got.len(), copies, "{code}: {got:?}");
        for (m, _) in got {
            assert!(m.starts_with(&format!("SIP/2.0 {code} X")), "{m}");
            assert_eq!(m.matches("Via:").count(), 1, "{m}");
        }
    }
}
