//! tm behaviour found different from Kamailio 5.6.3 by the differential
//! sweep (tests/kamailio-diff/scen/s25_fr_timeout.py, s26_cancel.py); each
//! test pins what Kamailio was seen doing.

mod common;

use common::*;
use std::time::{Duration, Instant};

/// A relaying config: requests go to the next hop at `HOP`, CANCELs the
/// default-config way (t_check_trans, then t_relay), ACKs through
/// t_check_trans; routes log what they see.
fn cfg(hop: u16, params: &str) -> String {
    tm_cfg(
        1,
        &format!("loadmodule \"corex.so\"\n{params}"),
        &r#"
request_route {
    if (is_method("ACK")) {
        xlog("L_INFO", "ACK $ci tc=$T_reply_code\n");
        if (t_check_trans()) { xlog("L_INFO", "ACK $ci passed\n"); }
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) {
            $var(r) = t_relay();
            xlog("L_INFO", "CANCEL $ci relay r=$var(r)\n");
        } else {
            xlog("L_INFO", "CANCEL $ci nothing\n");
        }
        exit;
    }
    if (t_check_trans()) { exit; }
    if ($rU == "short") { t_set_fr(3000, 500); }
    t_on_failure("F");
    t_on_reply("R");
    $ru = "sip:" + $rU + "@127.0.0.1:HOP";
    t_relay();
}
onreply_route[R] {
    if ($rs == 183 && $ci == "sw-drop") { drop; }
    if (t_is_canceled()) { xlog("L_INFO", "R $ci $rs canceled\n"); }
}
failure_route[F] {
    xlog("L_INFO", "F $ci tc=$T_reply_code g180=$var(g180)\n");
    if (t_grep_status("180")) { xlog("L_INFO", "F $ci grep180\n"); }
    if (t_grep_status("408")) { xlog("L_INFO", "F $ci grep408\n"); }
    if (t_is_canceled()) { xlog("L_INFO", "F $ci canceled\n"); }
}
"#
        .replace("HOP", &hop.to_string()),
    )
}

/// Every datagram's first line within `wait`, with its arrival time.
fn timed(c: &UdpClient, wait: Duration) -> Vec<(Duration, String)> {
    let t0 = Instant::now();
    let end = t0 + wait;
    let mut out = vec![];
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if let Some(m) = c.recv(left) {
            out.push((t0.elapsed(), first_line(&m).to_string()));
        }
    }
    out
}

/// Kamailio 5.6.3: `t_set_fr(fr_inv, fr)` gives the transaction its own
/// `fr_timer`, which also bounds the retransmissions of its final reply: with
/// fr 500 ms the local 408 goes out once (the parameter, 1 s, would resend it
/// at 0.5 s).
#[test]
fn t_set_fr_bounds_the_final_reply_retransmissions() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(
        hop.port(),
        "modparam(\"tm\", \"fr_timer\", 1000)\nmodparam(\"tm\", \"fr_inv_timer\", 2000)",
    ));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:short@127.0.0.1", c.port(), "sw-fr", ""),
    );
    let got = timed(&c, Duration::from_millis(2500));
    let finals: Vec<&(Duration, String)> =
        got.iter().filter(|(_, l)| l.contains(" 408 ")).collect();
    assert_eq!(finals.len(), 1, "{got:?}\n{}", s.log());
    assert!(
        finals[0].0 >= Duration::from_millis(400) && finals[0].0 < Duration::from_millis(900),
        "{got:?}"
    );
}

/// Kamailio 5.6.3: a branch that answered 180 and then timed out has 408 as
/// its last reply: `t_grep_status("408")` is true in the failure route,
/// `t_grep_status("180")` false.
#[test]
fn a_timeout_is_the_last_reply_of_a_ringing_branch() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port(), "modparam(\"tm\", \"fr_inv_timer\", 1000)"));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:ring@127.0.0.1", c.port(), "sw-grep", ""),
    );
    let (req, from) = hop.recv_start("INVITE ", WAIT).expect("INVITE at the hop");
    hop.answer(&req, from, "180 Ringing");
    assert!(s.wait_log("F sw-grep tc=408", WAIT), "{}", s.log());
    std::thread::sleep(Duration::from_millis(200));
    let log = s.log();
    assert!(log.contains("F sw-grep grep408"), "{log}");
    assert!(!log.contains("F sw-grep grep180"), "{log}");
}

/// Kamailio 5.6.3: when the final reply's retransmissions end (`fr_timer`)
/// without an ACK, the transaction still lingers until `wt_timer`: a late
/// ACK is matched (absorbed by t_check_trans) and `$T_reply_code` read in
/// request_route before any tm function finds the INVITE's 408.
#[test]
fn a_late_ack_still_matches_and_reads_the_reply_code() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port(), "modparam(\"tm\", \"fr_timer\", 500)"));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:silent@127.0.0.1", c.port(), "sw-ack", ""),
    );
    let got = timed(&c, Duration::from_millis(1600));
    assert!(got.iter().any(|(_, l)| l.contains(" 408 ")), "{got:?}");
    // 1.1 s after the 408, past fr_timer, within wt_timer
    c.send(
        s.udp_addr(),
        &request("ACK", "sip:silent@127.0.0.1", c.port(), "sw-ack", "")
            .replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=x"),
    );
    assert!(s.wait_log("ACK sw-ack tc=408", WAIT), "{}", s.log());
    std::thread::sleep(Duration::from_millis(200));
    assert!(!s.log().contains("ACK sw-ack passed"), "{}", s.log());
}

/// Kamailio 5.6.3 matches a CANCEL to any transaction but a CANCEL: a
/// MESSAGE being relayed is cancelled (`200 canceling`, `t_is_canceled()`
/// true after), no CANCEL goes to its branch; when that branch already
/// answered provisionally the CANCEL gets `500 cancel error`; a cancelled
/// MESSAGE that times out is answered 487 (its failure route sees 408).
#[test]
fn a_cancel_matches_a_non_invite_transaction() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port(), "modparam(\"tm\", \"fr_timer\", 1000)"));
    let c = UdpClient::new();
    let addr = s.udp_addr();
    // no reply yet from the hop
    c.send(
        addr,
        &request("MESSAGE", "sip:bob@127.0.0.1", c.port(), "sw-m1", ""),
    );
    let (m1, from) = hop
        .recv_start("MESSAGE ", WAIT)
        .expect("MESSAGE at the hop");
    c.send(
        addr,
        &request("CANCEL", "sip:bob@127.0.0.1", c.port(), "sw-m1", ""),
    );
    let r = c.recv(WAIT).expect("a reply to the CANCEL");
    assert_eq!(first_line(&r), "SIP/2.0 200 canceling", "{r}\n{}", s.log());
    hop.answer(&m1, from, "200 OK");
    let r = c.recv(WAIT).expect("the MESSAGE's 200");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
    assert!(s.wait_log("R sw-m1 200 canceled", WAIT), "{}", s.log());
    assert!(
        hop.collect(Duration::from_millis(300))
            .iter()
            .all(|(m, _)| !m.starts_with("CANCEL")),
        "no CANCEL for a non-INVITE branch"
    );
    // the hop answered 100 before the CANCEL
    c.send(
        addr,
        &request("MESSAGE", "sip:bob@127.0.0.1", c.port(), "sw-m2", ""),
    );
    let (m2, from) = hop
        .recv_start("MESSAGE ", WAIT)
        .expect("MESSAGE at the hop");
    hop.answer(&m2, from, "100 Trying");
    std::thread::sleep(Duration::from_millis(100));
    c.send(
        addr,
        &request("CANCEL", "sip:bob@127.0.0.1", c.port(), "sw-m2", ""),
    );
    let r = c.recv(WAIT).expect("a reply to the CANCEL");
    assert_eq!(first_line(&r), "SIP/2.0 500 cancel error", "{r}");
    hop.answer(&m2, from, "202 Accepted");
    let r = c.recv(WAIT).expect("the MESSAGE's 202");
    assert_eq!(first_line(&r), "SIP/2.0 202 Accepted", "{r}");
    // never answered: 487 at fr_timer
    c.send(
        addr,
        &request("MESSAGE", "sip:bob@127.0.0.1", c.port(), "sw-m3", ""),
    );
    hop.recv_start("MESSAGE ", WAIT)
        .expect("MESSAGE at the hop");
    c.send(
        addr,
        &request("CANCEL", "sip:bob@127.0.0.1", c.port(), "sw-m3", ""),
    );
    let got = c.first_lines(Duration::from_millis(1800));
    assert_eq!(
        got,
        vec!["SIP/2.0 200 canceling", "SIP/2.0 487 Request Terminated"],
        "{}",
        s.log()
    );
    assert!(s.wait_log("F sw-m3 tc=408", WAIT), "{}", s.log());
    assert!(s.wait_log("F sw-m3 canceled", WAIT), "{}", s.log());
}

/// Kamailio 5.6.3: `t_check_trans()` on a retransmitted CANCEL only looks
/// for the transaction it cancels (true) and absorbs nothing; the
/// `t_relay()` after it absorbs the retransmission (its `200` resent) and
/// returns 1, so the script goes on.
#[test]
fn a_retransmitted_cancel_goes_through_t_check_trans() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port(), ""));
    let c = UdpClient::new();
    let addr = s.udp_addr();
    c.send(
        addr,
        &request("INVITE", "sip:bob@127.0.0.1", c.port(), "sw-rc", ""),
    );
    let (inv, from) = hop.recv_start("INVITE ", WAIT).expect("INVITE at the hop");
    hop.answer(&inv, from, "180 Ringing");
    std::thread::sleep(Duration::from_millis(200));
    let cancel = request("CANCEL", "sip:bob@127.0.0.1", c.port(), "sw-rc", "");
    c.send(addr, &cancel);
    assert!(s.wait_log("CANCEL sw-rc relay r=1", WAIT), "{}", s.log());
    c.send(addr, &cancel);
    assert!(
        s.wait_log_count("CANCEL sw-rc relay r=1", 2, WAIT),
        "{}",
        s.log()
    );
    let got = c.first_lines(Duration::from_millis(300));
    assert_eq!(
        got.iter().filter(|l| *l == "SIP/2.0 200 canceling").count(),
        2,
        "{got:?}"
    );
}

/// Kamailio 5.6.3: a provisional reply dropped in onreply_route does not
/// move its branch to `fr_inv_timer`: the branch still times out at
/// `fr_timer` (408 and the failure route).
#[test]
fn a_dropped_provisional_keeps_fr_timer() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port(), "modparam(\"tm\", \"fr_timer\", 1000)"));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:drop183@127.0.0.1", c.port(), "sw-drop", ""),
    );
    let (inv, from) = hop.recv_start("INVITE ", WAIT).expect("INVITE at the hop");
    hop.answer(&inv, from, "183 Session Progress");
    let got = c.first_lines(Duration::from_millis(1500));
    assert!(
        got.iter().any(|l| l == "SIP/2.0 408 Request Timeout"),
        "{got:?}\n{}",
        s.log()
    );
    assert!(got.iter().all(|l| !l.starts_with("SIP/2.0 183")), "{got:?}");
    assert!(s.wait_log("F sw-drop tc=408", WAIT), "{}", s.log());
    // the dropped 183 is not the branch's reply: no CANCEL on its timeout
    assert!(
        hop.collect(Duration::from_millis(300))
            .iter()
            .all(|(m, _)| !m.starts_with("CANCEL")),
        "no CANCEL after a dropped provisional"
    );
}

/// Kamailio 5.6.3: after a 6xx on one branch the others are cancelled and
/// still waited for; one that first rings after that gets its CANCEL, its
/// 180 is not relayed and does not move it to `fr_inv_timer`: when it never
/// answers the CANCEL it times out at `fr_timer` and the 6xx goes up then.
#[test]
fn a_branch_ringing_after_a_6xx_times_out_at_fr_timer() {
    let a = NextHop::new();
    let b = NextHop::new();
    let s = Siprd::start(&tm_cfg(
        1,
        "modparam(\"tm\", \"fr_timer\", 1000)",
        &r#"
request_route {
    if (is_method("ACK")) { exit; }
    t_on_failure("F");
    $ru = "sip:a@127.0.0.1:PA";
    append_branch("sip:b@127.0.0.1:PB");
    t_relay();
}
failure_route[F] {
    xlog("L_INFO", "F $ci tc=$T_reply_code\n");
}
"#
        .replace("PA", &a.port().to_string())
        .replace("PB", &b.port().to_string()),
    ));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "sw-6xx", ""),
    );
    let (ia, fa) = a.recv_start("INVITE ", WAIT).expect("INVITE at a");
    let (ib, fb) = b.recv_start("INVITE ", WAIT).expect("INVITE at b");
    a.answer(&ia, fa, "603 Decline");
    std::thread::sleep(Duration::from_millis(100));
    b.answer(&ib, fb, "180 Ringing");
    assert!(b.recv_start("CANCEL ", WAIT).is_some(), "CANCEL at b");
    let got = c.first_lines(Duration::from_millis(1500));
    assert!(
        got.iter().any(|l| l == "SIP/2.0 603 Decline"),
        "{got:?}\n{}",
        s.log()
    );
    assert!(got.iter().all(|l| !l.starts_with("SIP/2.0 180")), "{got:?}");
    assert!(s.wait_log("F sw-6xx tc=603", WAIT), "{}", s.log());
}

/// Kamailio 5.6.3: an INVITE retransmitted after the ACK of its local
/// negative reply gets that reply again (the transaction lingers until
/// `wt_timer`); siprd resent nothing once the ACK had come.
#[test]
fn an_invite_retransmitted_after_the_ack_gets_the_final_reply_again() {
    let s = Siprd::start(&tm_cfg(
        1,
        "",
        r#"
request_route {
    if (t_check_trans()) { exit; }
    if (is_method("ACK")) { exit; }
    t_newtran();
    t_reply("486", "Busy Local");
}
"#,
    ));
    let c = UdpClient::new();
    let inv = request("INVITE", "sip:x@127.0.0.1", c.port(), "sw-rtx", "");
    let r = c.request(s.udp_addr(), &inv);
    assert_eq!(first_line(&r), "SIP/2.0 486 Busy Local", "{r}");
    let to = header(&r, "To").unwrap_or_default().to_string();
    c.send(
        s.udp_addr(),
        &request("ACK", "sip:x@127.0.0.1", c.port(), "sw-rtx", "")
            .replace("To: <sip:bob@127.0.0.1>", &format!("To: {to}")),
    );
    std::thread::sleep(Duration::from_millis(700));
    c.drain();
    c.send(s.udp_addr(), &inv);
    let r = c.recv(WAIT).expect("the 486 again");
    assert_eq!(first_line(&r), "SIP/2.0 486 Busy Local", "{r}");
    assert_eq!(header(&r, "To"), Some(to.as_str()), "same To-tag");
}
