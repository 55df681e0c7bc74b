//! Core event routes, end to end, with the ordering observed on Kamailio 5.6.

mod common;

use common::*;
use std::time::Duration;

const CFG: &str = r#"
children=2
listen=udp:127.0.0.1:0
received_route_mode=1
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"

event_route[core:worker-one-init] {
    xlog("L_ERR", "WORKER-ONE-INIT rm=$rm ru=$ru\n");
    xlog("L_ERR", "FAKED si=$si sp=$sp sas=$sas Ri=$Ri Rp=$Rp Ru=$Ru ml=$ml via=$hdr(Via)\n");
}
event_route[core:receive-parse-error] {
    xlog("L_ERR", "PARSE-ERROR len=$ml [$mb] from $si\n");
    xlog("L_ERR", "PARSE-ERROR-PV rm=$rm ru=$ru rv=[$rv] ci=$ci hdrc=$hdrc(Via) mt=$mt rb=$rb mi=$mi\n");
}
event_route[core:pre-routing] {
    xlog("L_ERR", "PRE-ROUTING $rm $rU\n");
    if ($rU == "blocked") { drop; }
}
event_route[core:msg-received] {
    if ($(rcv(buf){s.len}) > 0 && $rcv(buf) =~ "X-Drop-Me") {
        xlog("L_ERR", "MSG-RECEIVED dropping $rcv(len) bytes from $rcv(srcip)\n");
        xlog("L_ERR", "MSG-RECEIVED-PV proto=$rcv(proto) sproto=$rcv(sproto) af=$rcv(af) rcvport=$rcv(rcvport) si=$si ml=$ml rm=$rm\n");
        drop;
    }
}
request_route {
    xlog("L_ERR", "REQUEST $rm $rU rcv=$rcv(len)\n");
    sl_send_reply("200", "OK");
}
"#;

#[test]
fn worker_one_init_runs_once_before_traffic() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "w1", ""),
    );
    assert_eq!(s.count_log("WORKER-ONE-INIT"), 1, "{}", s.log());
    // The synthetic message is Kamailio's faked OPTIONS.
    assert!(
        s.log()
            .contains("WORKER-ONE-INIT rm=OPTIONS ru=sip:you@kamailio.org"),
        "{}",
        s.log()
    );
    // Its receive info is Kamailio's: no receiving socket, and a source of
    // 127.0.0.1 stored in host byte order (it reads 1.0.0.127:5060).
    assert!(
        s.log().contains(
            "FAKED si=1.0.0.127 sp=5060 sas=udp:1.0.0.127:5060 Ri=<null> Rp=<null> Ru=<null> ml=184 via=SIP/2.0/UDP 127.0.0.1\n"
        ),
        "{}",
        s.log()
    );
    // The reply can arrive before the route's log line is read from stderr.
    assert!(s.wait_log("REQUEST OPTIONS", WAIT), "{}", s.log());
    let init = s.log().find("WORKER-ONE-INIT").unwrap();
    let first_request = s.log().find("REQUEST OPTIONS").unwrap();
    assert!(init < first_request);
}

#[test]
fn parse_errors_raise_the_event_with_the_packet() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    let junk = "hello this is junk data that is longer than 32 bytes";
    c.send(s.udp_addr(), junk);
    assert!(
        s.wait_log(
            &format!("PARSE-ERROR len={} [{junk}] from 127.0.0.1", junk.len()),
            WAIT
        ),
        "{}",
        s.log()
    );
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn short_packets_other_protocols_and_bare_first_lines_raise_nothing() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    c.send(s.udp_addr(), &"Z".repeat(31));
    c.send(s.udp_addr(), "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    c.send(s.udp_addr(), "SIP/3.0 200 OK\r\nVia: SIP/3.0/UDP x\r\n\r\n");
    c.send(
        s.udp_addr(),
        "INVITE sip:someone@example.com SIP/2.0\r\n\r\n",
    );
    // A marker that is processed after the packets above (one client, in order per worker is
    // not guaranteed, so wait for it and then a little more).
    c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:marker@127.0.0.1", c.port(), "m1", ""),
    );
    std::thread::sleep(Duration::from_millis(200));
    let log = s.log();
    assert!(!log.contains("PARSE-ERROR"), "{log}");
    assert!(!log.contains("PRE-ROUTING INVITE"), "{log}");
}

#[test]
fn pre_routing_runs_before_the_header_check_and_drop_stops() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:blocked@127.0.0.1", c.port(), "b1", ""),
    );
    assert!(s.wait_log("PRE-ROUTING OPTIONS blocked", WAIT));
    c.expect_silence(Duration::from_millis(200));
    assert!(!s.log().contains("REQUEST OPTIONS blocked"));
    // Missing Call-ID: pre-routing sees it, request_route does not.
    let no_callid = format!(
        "OPTIONS sip:nocid@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKx\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        c.port()
    );
    c.send(s.udp_addr(), &no_callid);
    assert!(s.wait_log("PRE-ROUTING OPTIONS nocid", WAIT));
    c.expect_silence(Duration::from_millis(200));
    assert!(!s.log().contains("REQUEST OPTIONS nocid"));
}

#[test]
fn msg_received_sees_raw_data_and_can_drop() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request(
            "OPTIONS",
            "sip:dropme@127.0.0.1",
            c.port(),
            "d1",
            "X-Drop-Me: 1\r\n",
        ),
    );
    assert!(s.wait_log("MSG-RECEIVED dropping", WAIT), "{}", s.log());
    // Kamailio 5.6: the route runs on the faked request ($si, $ml, $rm are its
    // own); $rcv(proto) and $rcv(af) are numbers, $rcv(sproto) the name
    let port = s.udp_addr().port();
    assert!(
        s.wait_log(
            &format!("MSG-RECEIVED-PV proto=1 sproto=udp af=2 rcvport={port} si=1.0.0.127 ml=184 rm=OPTIONS"),
            WAIT
        ),
        "{}",
        s.log()
    );
    c.expect_silence(Duration::from_millis(200));
    assert!(!s.log().contains("PRE-ROUTING OPTIONS dropme"));
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:keep@127.0.0.1", c.port(), "d2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    // $rcv(...) is null outside core:msg-received
    assert!(
        s.wait_log("REQUEST OPTIONS keep rcv=<null>", WAIT),
        "{}",
        s.log()
    );
}

/// Kamailio 5.6: core:receive-parse-error runs on the received data, not on a
/// faked request: the start line did not parse, so `$rm`, `$ru`, `$ci`, `$rb`
/// are null, no header is seen (even a `Via:` line after the junk line), `$mt`
/// is 0, `$rv` the first word of the line, and `$mi` counts the message.
#[test]
fn receive_parse_error_sees_the_received_data() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        "hello junk line\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCall-ID: abc\r\n\r\n",
    );
    assert!(
        s.wait_log(
            "PARSE-ERROR-PV rm=<null> ru=<null> rv=[hello] ci=<null> hdrc=0 mt=0 rb=<null> mi=",
            WAIT
        ),
        "{}",
        s.log()
    );
    assert!(!s.log().contains("mi=0\n"), "{}", s.log());
}

/// Kamailio 5.6: sl:local-response runs on the reply just sent, not on the
/// request nor a faked one: `$rs`/`$rr` are the reply's, `$rm`/`$ci` come from
/// its copied headers, `$ru` and the request's own headers are null, `$mt` is
/// 2, and `$snd(ip|port|buf)` tell where it went. `$var` of the request
/// survives (same worker).
#[test]
fn sl_local_response_sees_the_reply() {
    let s = Siprd::start(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
event_route[sl:local-response] {
    xlog("L_ERR", "LOCALRESP rm=[$rm] ci=[$ci] rs=[$rs] rr=[$rr] mt=$mt ru=[$ru] hdr=[$hdr(X-A)] snd=[$snd(ip):$snd(port)] len=[$(snd(buf){s.len})] ml=[$ml] var=[$var(x)]\n");
}
request_route {
    $var(x) = "req";
    append_hf("X-A: a\r\n");
    sl_send_reply("404", "Nope");
}
"#,
    );
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "lr1", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 404 Nope");
    let want = format!(
        "LOCALRESP rm=[INVITE] ci=[lr1] rs=[404] rr=[Nope] mt=2 ru=[<null>] hdr=[<null>] snd=[127.0.0.1:{}] len=[{}] ml=[{}] var=[req]",
        c.port(),
        r.len(),
        r.len()
    );
    assert!(s.wait_log(&want, WAIT), "{want}\n{}", s.log());
}

/// Kamailio 5.6: `drop` in event_route[core:worker-one-init] ends that
/// worker ("exit due to 'drop' in event route") and the server with it.
#[test]
fn drop_in_worker_one_init_stops_the_server() {
    let mut s = Siprd::start(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "xlog.so"
event_route[core:worker-one-init] { xlog("L_ERR", "W1\n"); drop; }
request_route { drop; }
"#,
    );
    let deadline = std::time::Instant::now() + WAIT;
    while s.is_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!s.is_running(), "{}", s.log());
    assert!(s.log().contains("exit due to 'drop'"), "{}", s.log());
}

/// Kamailio 5.6 numbers faked requests per process (`$mi`), from what the
/// main process built before forking: htable:mod-init reads 1, the first
/// event of a worker 2; received messages have their own numbers.
#[test]
fn faked_requests_are_numbered_per_thread() {
    let s = Siprd::start(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "htable.so"
event_route[htable:mod-init] { xlog("L_ERR", "MI modinit=$mi\n"); }
event_route[core:worker-one-init] { xlog("L_ERR", "MI w1=$mi\n"); }
request_route { xlog("L_ERR", "MI req=$mi\n"); sl_send_reply("200", "OK"); }
"#,
    );
    let c = UdpClient::new();
    c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "mi1", ""),
    );
    assert!(s.wait_log("MI req=1", WAIT), "{}", s.log());
    assert!(s.log().contains("MI modinit=1"), "{}", s.log());
    assert!(s.log().contains("MI w1=2"), "{}", s.log());
}
