//! tm / tmx end to end: the real binary on loopback, short timers.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn cfg(params: &str, routes: &str) -> String {
    format!(
        r#"
debug=2
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
{params}
{routes}
"#
    )
}

/// Every datagram received within `dur`, with its arrival time since `t0`.
fn collect(c: &UdpClient, t0: Instant, dur: Duration) -> Vec<(u128, String)> {
    let end = Instant::now() + dur;
    let mut out = Vec::new();
    while Instant::now() < end {
        if let Some(m) = c.recv(end.saturating_duration_since(Instant::now()).max(Duration::from_millis(1))) {
            out.push((t0.elapsed().as_millis(), m));
        }
    }
    out
}

fn to_tag(msg: &str) -> String {
    header(msg, "To").and_then(|t| t.split(";tag=").nth(1)).unwrap_or("").to_string()
}

const LOCAL: &str = r#"
request_route {
    xlog("L_INFO", "RR $rm $ci\n");
    if (is_method("ACK")) {
        if (t_check_trans()) { xlog("L_INFO", "ACK passes $ci\n"); }
        exit;
    }
    if ($rU == "check") {
        if (t_check_trans()) { xlog("L_INFO", "check true\n"); } else { xlog("L_INFO", "check false $rc\n"); }
    }
    t_newtran();
    xlog("L_INFO", "after newtran $ci\n");
    t_reply("486", "Busy Here");
}
"#;

#[test]
fn t_reply_is_stateful_and_retransmissions_are_absorbed() {
    let s = Siprd::start(&cfg("", LOCAL));
    let c = UdpClient::new();
    let req = request("MESSAGE", "sip:bob@127.0.0.1", c.port(), "tm-abs", "");
    let first = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&first), "SIP/2.0 486 Busy Here");
    let tag = to_tag(&first);
    assert_eq!(tag.len(), 41, "Kamailio-style tm To-tag: {first}");
    assert_eq!(&tag[32..33], "-");
    let again = c.request(s.udp_addr(), &req);
    assert_eq!(again, first, "the stored reply is sent again");
    assert!(s.wait_log("RR MESSAGE tm-abs", WAIT));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.count_log("RR MESSAGE tm-abs"), 2, "the route runs for the retransmission");
    assert_eq!(s.count_log("after newtran tm-abs"), 1, "t_newtran ends the script of a retransmission");
    // non-INVITE final replies are not retransmitted by the timer
    c.expect_silence(Duration::from_millis(1200));
}

#[test]
fn t_check_trans_false_without_transaction() {
    let s = Siprd::start(&cfg("", LOCAL));
    let c = UdpClient::new();
    let r = c.request(s.udp_addr(), &request("OPTIONS", "sip:check@127.0.0.1", c.port(), "tm-chk", ""));
    assert_eq!(first_line(&r), "SIP/2.0 486 Busy Here");
    assert!(s.wait_log("check false -1", WAIT));
    // the retransmission: t_check_trans absorbs it (script ends, reply resent)
    let r2 = c.request(s.udp_addr(), &request("OPTIONS", "sip:check@127.0.0.1", c.port(), "tm-chk", ""));
    assert_eq!(r2, r);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.count_log("check false"), 1);
    assert_eq!(s.count_log("after newtran tm-chk"), 1);
}

#[test]
fn invite_final_reply_retransmitted_until_ack() {
    let params = r#"modparam("tm", "retr_timer1", 200)
modparam("tm", "retr_timer2", 800)
modparam("tm", "fr_timer", 5000)
modparam("tm", "wt_timer", 5000)"#;
    let s = Siprd::start(&cfg(params, LOCAL));
    let c = UdpClient::new();
    let t0 = Instant::now();
    c.send(s.udp_addr(), &request("INVITE", "sip:bob@127.0.0.1", c.port(), "tm-inv", ""));
    let got = collect(&c, t0, Duration::from_millis(1100));
    let times: Vec<u128> = got.iter().map(|(t, _)| *t).collect();
    assert!(got.iter().all(|(_, m)| first_line(m) == "SIP/2.0 486 Busy Here"), "{got:?}");
    // 0, 200, 600 (T1 doubling), next at 1400
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(times[1] >= 180 && times[1] < 350, "{times:?}");
    assert!(times[2] >= 560 && times[2] < 800, "{times:?}");
    assert!(got.iter().all(|(_, m)| *m == got[0].1), "identical retransmissions");
    let tag = to_tag(&got[0].1);
    let ack = request("ACK", "sip:bob@127.0.0.1", c.port(), "tm-inv", "")
        .replace("To: <sip:bob@127.0.0.1>", &format!("To: <sip:bob@127.0.0.1>;tag={tag}"));
    c.send(s.udp_addr(), &ack);
    c.expect_silence(Duration::from_millis(1500));
    // the ACK for a local negative reply is absorbed: t_check_trans ends the script
    assert!(s.wait_log("RR ACK tm-inv", WAIT));
    assert_eq!(s.count_log("ACK passes tm-inv"), 0);
}

#[test]
fn invite_final_reply_retransmission_ends_at_fr_timer_without_ack() {
    let params = r#"modparam("tm", "retr_timer1", 100)
modparam("tm", "retr_timer2", 400)
modparam("tm", "fr_timer", 1000)
modparam("tm", "wt_timer", 3000)"#;
    let s = Siprd::start(&cfg(params, LOCAL));
    let c = UdpClient::new();
    let t0 = Instant::now();
    c.send(s.udp_addr(), &request("INVITE", "sip:bob@127.0.0.1", c.port(), "tm-h", ""));
    let got = collect(&c, t0, Duration::from_millis(2000));
    let times: Vec<u128> = got.iter().map(|(t, _)| *t).collect();
    // 0, 100, 300, 700, then 1100 > fr_timer: stopped
    assert_eq!(times.len(), 4, "{times:?}");
    assert!(times[3] < 1000, "{times:?}");
    // after wt_timer the transaction is gone: a retransmission is a new transaction
    std::thread::sleep(Duration::from_millis(1300));
    let again = c.request(s.udp_addr(), &request("INVITE", "sip:bob@127.0.0.1", c.port(), "tm-h", ""));
    assert_eq!(first_line(&again), "SIP/2.0 486 Busy Here");
    assert!(s.wait_log("after newtran tm-h", WAIT));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.count_log("after newtran tm-h"), 2);
}

const SUSPEND: &str = r#"
modparam("tm", "fr_timer", 1000)
modparam("tm", "wt_timer", 1000)
request_route {
    xlog("L_INFO", "RR $rm $rU $ci\n");
    if ($rU == "suspend" || $rU == "suspendnf") {
        if ($rU == "suspend") { t_on_failure("F"); }
        setflag(3);
        $avp(a) = "kept";
        $du = "sip:du.example.com";
        t_suspend();
        xlog("L_INFO", "suspended $T(id_index) $T(id_label)\n");
        $shv(i) = $T(id_index);
        $shv(l) = $T(id_label);
        exit;
    }
    if ($rU == "resume") {
        $var(i) = $shv(i); $var(l) = $shv(l);
        t_continue("$var(i)", "$var(l)", "RES");
        xlog("L_INFO", "continue1 $rc\n");
        t_continue("$var(i)", "$var(l)", "RES");
        xlog("L_INFO", "continue2 $rc\n");
        $var(l) = $var(l) + 7;
        t_continue("$var(i)", "$var(l)", "RES");
        xlog("L_INFO", "continue3 $rc\n");
        $var(s) = "12";
        t_continue("$var(s)", "$var(l)", "RES");
        xlog("L_INFO", "continue4 $rc\n");
        sl_send_reply("200", "resumed");
        exit;
    }
    if ($rU == "resumenothing") {
        $var(i) = $shv(i); $var(l) = $shv(l);
        t_continue("$var(i)", "$var(l)", "NOTHING");
        xlog("L_INFO", "continue $rc\n");
        sl_send_reply("200", "resumed");
        exit;
    }
    sl_send_reply("404", "x");
}
route[RES] {
    xlog("L_INFO", "RES $rm $ci du=$du avp=$avp(a) code=$T_reply_code\n");
    if (isflagset(3)) { xlog("L_INFO", "flag kept\n"); }
    if (t_is_failure_route()) { xlog("L_INFO", "as failure route\n"); }
    t_reply("486", "Busy from resume");
}
route[NOTHING] {
    xlog("L_INFO", "NOTHING $rm\n");
}
failure_route[F] {
    xlog("L_INFO", "failure $T_reply_code $T(reply_code) avp=$avp(a) $ci\n");
}
"#;

#[test]
fn t_suspend_then_t_continue_from_another_request() {
    let s = Siprd::start(&cfg("", SUSPEND));
    let c = UdpClient::new();
    c.send(s.udp_addr(), &request("INVITE", "sip:suspend@127.0.0.1", c.port(), "tm-s1", ""));
    let trying = c.recv(WAIT).expect("100 trying");
    assert_eq!(first_line(&trying), "SIP/2.0 100 trying -- your call is important to us");
    assert!(s.wait_log("suspended ", WAIT));
    // a retransmission while suspended gets the 100 again and no route beyond t_suspend
    c.send(s.udp_addr(), &request("INVITE", "sip:suspend@127.0.0.1", c.port(), "tm-s1", ""));
    let again = c.recv(WAIT).expect("100 again");
    assert_eq!(first_line(&again), "SIP/2.0 100 trying -- your call is important to us");
    let r = c.request(s.udp_addr(), &request("OPTIONS", "sip:resume@127.0.0.1", c.port(), "tm-r1", ""));
    // the INVITE's 486 comes first, then the OPTIONS' 200
    assert_eq!(first_line(&r), "SIP/2.0 486 Busy from resume", "{r}");
    assert_eq!(header(&r, "Call-ID"), Some("tm-s1"));
    let r2 = c.recv(WAIT).expect("200 resumed");
    assert_eq!(first_line(&r2), "SIP/2.0 200 resumed");
    assert!(s.wait_log("continue4", WAIT), "{}", s.log());
    let log = s.log();
    assert!(log.contains("RES INVITE tm-s1 du=sip:du.example.com avp=kept code=0"), "{log}");
    assert!(log.contains("flag kept"), "{log}");
    assert!(log.contains("as failure route"), "{log}");
    assert!(log.contains("continue1 1"), "{log}");
    assert!(log.contains("continue2 -1"), "resuming twice fails: {log}");
    assert!(log.contains("continue3 -1"), "wrong label fails: {log}");
    assert!(log.contains("continue4 -1"), "a string index fails: {log}");
    assert_eq!(log.matches("suspended ").count(), 1);
    // the 486 is retransmitted until ACK (T1 = 500 ms)
    let got = collect(&c, Instant::now(), Duration::from_millis(800));
    assert!(got.iter().any(|(_, m)| first_line(m) == "SIP/2.0 486 Busy from resume"), "{got:?}");
}

#[test]
fn t_continue_to_a_route_that_does_nothing_answers_500() {
    let s = Siprd::start(&cfg("", SUSPEND));
    let c = UdpClient::new();
    c.send(s.udp_addr(), &request("INVITE", "sip:suspend@127.0.0.1", c.port(), "tm-s2", ""));
    assert_eq!(first_line(&c.recv(WAIT).expect("100")), "SIP/2.0 100 trying -- your call is important to us");
    assert!(s.wait_log("suspended ", WAIT));
    let r = c.request(s.udp_addr(), &request("OPTIONS", "sip:resumenothing@127.0.0.1", c.port(), "tm-r2", ""));
    assert_eq!(first_line(&r), "SIP/2.0 500 I'm terribly sorry, server error occurred (1/TM)", "{r}");
    assert!(s.wait_log("NOTHING INVITE", WAIT));
    assert!(s.wait_log("continue 1", WAIT));
}

#[test]
fn suspended_transaction_never_resumed_gets_408_via_failure_route() {
    let s = Siprd::start(&cfg("", SUSPEND));
    let c = UdpClient::new();
    let t0 = Instant::now();
    c.send(s.udp_addr(), &request("INVITE", "sip:suspend@127.0.0.1", c.port(), "tm-s3", ""));
    let got = collect(&c, t0, Duration::from_millis(1800));
    let lines: Vec<(u128, &str)> = got.iter().map(|(t, m)| (*t, first_line(m))).collect();
    assert_eq!(lines[0].1, "SIP/2.0 100 trying -- your call is important to us");
    let first408 = lines.iter().find(|(_, l)| *l == "SIP/2.0 408 Request Timeout").expect("408");
    assert!(first408.0 >= 950 && first408.0 < 1400, "{lines:?}");
    assert!(s.wait_log("failure 408 408 avp=kept tm-s3", WAIT), "{}", s.log());
    // the transaction is freed: resuming it now fails
    std::thread::sleep(Duration::from_millis(1200));
    let r = c.request(s.udp_addr(), &request("OPTIONS", "sip:resume@127.0.0.1", c.port(), "tm-r3", ""));
    assert_eq!(first_line(&r), "SIP/2.0 200 resumed");
    assert!(s.wait_log("continue1 -1", WAIT));
}

#[test]
fn unknown_failure_route_is_a_load_error() {
    let (code, out) = check_config(&cfg("", "request_route { t_on_failure(\"NOPE\"); }"));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("NOPE"), "{out}");
    let (code, out) = check_config(&cfg("", "request_route { t_continue(\"1\", \"2\", \"NOPE\"); }"));
    assert_ne!(code, 0, "{out}");
}
