//! Forking behaviour found different from Kamailio 5.6.3 by the random
//! forking sweep (tests/kamailio-diff/fork_sweep.py); each test pins what
//! Kamailio was seen doing. All branches go to one next hop, told apart by
//! their R-URI user.

mod common;

use common::*;
use std::net::SocketAddr;
use std::time::Duration;

/// Branches named by the X-B0/X-B1 headers, a serial branch (X-S) added by
/// the failure route, which also logs what it sees.
fn cfg(hop: u16) -> String {
    tm_cfg(
        1,
        "loadmodule \"siputils.so\"\nloadmodule \"corex.so\"",
        &r#"
request_route {
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    if (t_check_trans()) { exit; }
    $ru = "sip:" + $hdr(X-B0) + "@127.0.0.1:HOP";
    if (is_present_hf("X-B1")) {
        $var(u) = "sip:" + $hdr(X-B1) + "@127.0.0.1:HOP";
        append_branch("$var(u)");
    }
    t_on_failure("F");
    t_on_branch("B");
    t_relay();
}
branch_route[B] {
    append_hf("X-Br: $T_branch_idx\r\n");
}
failure_route[F] {
    xlog("L_INFO", "F $ci tc=$T_reply_code\n");
    if (t_any_replied()) { xlog("L_INFO", "F $ci replied\n"); }
    if (is_present_hf("X-Br")) { xlog("L_INFO", "F $ci sees X-Br\n"); }
    if (is_present_hf("X-S")) {
        $ru = "sip:" + $hdr(X-S) + "@127.0.0.1:HOP";
        $var(r) = t_relay();
        xlog("L_INFO", "F $ci serial r=$var(r)\n");
    }
}
"#
        .replace("HOP", &hop.to_string()),
    )
}

fn invite(c: &UdpClient, call_id: &str, headers: &str) -> String {
    request("INVITE", "sip:x@127.0.0.1", c.port(), call_id, headers)
}

/// The next request for `user` at the hop, skipping others.
fn request_for(hop: &NextHop, method: &str, user: &str) -> (String, SocketAddr) {
    let start = format!("{method} sip:{user}@");
    hop.recv_start(&start, WAIT)
        .unwrap_or_else(|| panic!("no {method} for {user}"))
}

const WAIT: Duration = Duration::from_secs(3);

/// A CANCEL that had to wait for its branch's first provisional reply is
/// worded anew: after a 2xx `Reason: SIP;cause=200` without the text the
/// immediate CANCELs carry, after a 6xx no `Reason` at all.
#[test]
fn a_deferred_cancel_has_its_own_reason() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    for (n, (code, want)) in [("200 OK", Some("SIP;cause=200")), ("603 Decline", None)]
        .into_iter()
        .enumerate()
    {
        let id = format!("fk-defer-{n}");
        c.send(s.udp_addr(), &invite(&c, &id, "X-B0: a\r\nX-B1: b\r\n"));
        let (a, fa) = request_for(&hop, "INVITE", "a");
        let (b, fb) = request_for(&hop, "INVITE", "b");
        hop.answer(&a, fa, code);
        std::thread::sleep(Duration::from_millis(100));
        // b had no provisional reply: its CANCEL goes after this one
        hop.answer(&b, fb, "180 Ringing");
        let (cancel, _) = request_for(&hop, "CANCEL", "b");
        assert_eq!(header(&cancel, "Reason"), want, "{cancel}");
        hop.answer(&cancel, fb, "200 OK");
        hop.answer(&b, fb, "487 Request Terminated");
        c.drain();
    }
}

/// After a CANCEL from the caller, a failure route's `t_relay()` is -1 and
/// sends nothing; the best reply of the branches goes upstream.
#[test]
fn no_serial_branch_after_a_cancel() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    c.send(s.udp_addr(), &invite(&c, "fk-cxl", "X-B0: a\r\nX-S: s\r\n"));
    let (a, fa) = request_for(&hop, "INVITE", "a");
    hop.answer(&a, fa, "180 Ringing");
    std::thread::sleep(Duration::from_millis(100));
    c.send(
        s.udp_addr(),
        &request("CANCEL", "sip:x@127.0.0.1", c.port(), "fk-cxl", ""),
    );
    let (cancel, _) = request_for(&hop, "CANCEL", "a");
    hop.answer(&cancel, fa, "200 OK");
    hop.answer(&a, fa, "487 Request Terminated");
    assert!(s.wait_log("F fk-cxl serial r=-1", WAIT), "{}", s.log());
    assert!(hop
        .recv_start("INVITE sip:s@", Duration::from_millis(300))
        .is_none());
    let lines = c.first_lines(Duration::from_millis(300));
    assert!(
        lines.iter().any(|l| l.starts_with("SIP/2.0 487")),
        "{lines:?}"
    );
}

/// What a branch_route adds belongs to its branch: the failure route and
/// the serial branch it relays see the request as the request route left it.
#[test]
fn branch_route_changes_stay_in_their_branch() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &invite(&c, "fk-leak", "X-B0: a\r\nX-S: s\r\n"),
    );
    let (a, fa) = request_for(&hop, "INVITE", "a");
    assert_eq!(header(&a, "X-Br"), Some("0"), "{a}");
    hop.answer(&a, fa, "486 Busy Here");
    let (serial, _) = request_for(&hop, "INVITE", "s");
    assert_eq!(header(&serial, "X-Br"), None, "{serial}");
    assert!(s.wait_log("F fk-leak serial r=1", WAIT), "{}", s.log());
    assert!(!s.log().contains("F fk-leak sees X-Br"), "{}", s.log());
}

/// `t_any_replied()`: a branch is replied once its reply was processed, a
/// final reply after the failure route it starts: alone, it does not show
/// there; an earlier branch's final reply does. A provisional reply on a
/// branch being cancelled does not count; a 100 does.
#[test]
fn what_counts_as_replied() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    // a final reply alone
    c.send(s.udp_addr(), &invite(&c, "fk-rep-1", "X-B0: a\r\n"));
    let (a, fa) = request_for(&hop, "INVITE", "a");
    hop.answer(&a, fa, "486 Busy Here");
    // 100, then a final reply
    c.send(s.udp_addr(), &invite(&c, "fk-rep-2", "X-B0: b\r\n"));
    let (b, fb) = request_for(&hop, "INVITE", "b");
    hop.answer(&b, fb, "100 Trying");
    hop.answer(&b, fb, "486 Busy Here");
    // CANCEL before any reply: the 180 that follows only lets the CANCEL go
    c.send(s.udp_addr(), &invite(&c, "fk-rep-3", "X-B0: d\r\n"));
    let (d, fd) = request_for(&hop, "INVITE", "d");
    c.send(
        s.udp_addr(),
        &request("CANCEL", "sip:x@127.0.0.1", c.port(), "fk-rep-3", ""),
    );
    std::thread::sleep(Duration::from_millis(100));
    hop.answer(&d, fd, "180 Ringing");
    let (cancel, _) = request_for(&hop, "CANCEL", "d");
    hop.answer(&cancel, fd, "200 OK");
    hop.answer(&d, fd, "487 Request Terminated");
    // two branches with final replies only
    c.send(
        s.udp_addr(),
        &invite(&c, "fk-rep-4", "X-B0: e\r\nX-B1: f\r\n"),
    );
    let (e, fe) = request_for(&hop, "INVITE", "e");
    let (f, ff) = request_for(&hop, "INVITE", "f");
    hop.answer(&e, fe, "503 Service Unavailable");
    std::thread::sleep(Duration::from_millis(100));
    hop.answer(&f, ff, "404 Not Found");
    for id in ["fk-rep-1", "fk-rep-2", "fk-rep-3", "fk-rep-4"] {
        assert!(s.wait_log(&format!("F {id} tc="), WAIT), "{}", s.log());
    }
    std::thread::sleep(Duration::from_millis(100));
    let log = s.log();
    assert!(!log.contains("F fk-rep-1 replied"), "{log}");
    assert!(log.contains("F fk-rep-2 replied"), "{log}");
    assert!(!log.contains("F fk-rep-3 replied"), "{log}");
    assert!(log.contains("F fk-rep-4 replied"), "{log}");
}

/// A CANCEL after a 2xx went upstream: a branch that never answered is
/// still pending (`200 canceling`); once every branch answered or was
/// cancelled, `200 ok -- no more pending branches`.
#[test]
fn a_silent_branch_is_pending_after_a_2xx() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    for (id, first) in [("fk-2xx-1", None), ("fk-2xx-2", Some("100 Trying"))] {
        c.send(s.udp_addr(), &invite(&c, id, "X-B0: a\r\nX-B1: b\r\n"));
        let (a, fa) = request_for(&hop, "INVITE", "a");
        let (b, fb) = request_for(&hop, "INVITE", "b");
        if let Some(st) = first {
            hop.answer(&a, fa, st);
        }
        hop.answer(&b, fb, "200 OK");
        let lines = c.first_lines(Duration::from_millis(300));
        assert!(lines.iter().any(|l| l == "SIP/2.0 200 OK"), "{lines:?}");
        c.send(
            s.udp_addr(),
            &request("CANCEL", "sip:x@127.0.0.1", c.port(), id, ""),
        );
        let r = c.recv(WAIT).expect("the CANCEL's reply");
        let want = match first {
            None => "SIP/2.0 200 canceling",
            Some(_) => "SIP/2.0 200 ok -- no more pending branches",
        };
        assert_eq!(first_line(&r), want);
    }
}

/// A 6xx cancels the other branches of its leg only: the serial branch the
/// failure route adds next is not cancelled, and its 183 goes upstream.
#[test]
fn a_6xx_does_not_cancel_the_next_leg() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &invite(&c, "fk-6xx", "X-B0: a\r\nX-B1: b\r\nX-S: s\r\n"),
    );
    let (a, fa) = request_for(&hop, "INVITE", "a");
    let (b, fb) = request_for(&hop, "INVITE", "b");
    hop.answer(&b, fb, "180 Ringing");
    hop.answer(&a, fa, "603 Decline");
    let (cancel, _) = request_for(&hop, "CANCEL", "b");
    hop.answer(&cancel, fb, "200 OK");
    hop.answer(&b, fb, "487 Request Terminated");
    let (serial, fs) = request_for(&hop, "INVITE", "s");
    hop.answer(&serial, fs, "183 Session Progress");
    std::thread::sleep(Duration::from_millis(150));
    let cancels = hop
        .collect(Duration::from_millis(300))
        .into_iter()
        .filter(|(m, _)| m.starts_with("CANCEL sip:s@"))
        .count();
    assert_eq!(cancels, 0);
    hop.answer(&serial, fs, "404 Not Found");
    let lines = c.first_lines(Duration::from_millis(400));
    assert!(
        lines.iter().any(|l| l.starts_with("SIP/2.0 183")),
        "{lines:?}"
    );
}

/// A 6xx to a forked MESSAGE: no CANCEL can go to the other branches, but
/// they are marked as cancelled, so a provisional reply they send later is
/// not relayed (one sent before the 6xx was).
#[test]
fn a_6xx_to_a_message_silences_later_provisional_replies() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(hop.port()));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request(
            "MESSAGE",
            "sip:x@127.0.0.1",
            c.port(),
            "fk-msg",
            "X-B0: a\r\nX-B1: b\r\n",
        ),
    );
    let (a, fa) = request_for(&hop, "MESSAGE", "a");
    let (b, fb) = request_for(&hop, "MESSAGE", "b");
    hop.answer(&b, fb, "183 Session Progress");
    std::thread::sleep(Duration::from_millis(100));
    hop.answer(&a, fa, "603 Decline");
    std::thread::sleep(Duration::from_millis(100));
    hop.answer(&b, fb, "180 Ringing");
    std::thread::sleep(Duration::from_millis(100));
    hop.answer(&b, fb, "404 Not Found");
    let lines = c.first_lines(Duration::from_millis(400));
    assert_eq!(
        lines,
        ["SIP/2.0 183 Session Progress", "SIP/2.0 603 Decline"],
        "{}",
        s.log()
    );
    assert!(hop
        .collect(Duration::from_millis(200))
        .iter()
        .all(|(m, _)| !m.starts_with("CANCEL")));
}
