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
