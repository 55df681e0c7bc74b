//! async and tmx suspend/continue details recorded from Kamailio 5.6.3 (run
//! side by side with the same configs): where async_sleep may stand, the
//! delay limits, the millisecond timer's needs, a CANCEL for a suspended
//! INVITE, and the branch numbers after t_suspend's blind branch.

mod common;
use common::*;
use std::time::{Duration, Instant};

fn cfg(fr: u32, params: &str, routes: &str) -> String {
    tm_cfg(
        2,
        &format!(
            "modparam(\"tm\", \"fr_timer\", {fr})\nmodparam(\"tm\", \"fr_inv_timer\", 1500)\nmodparam(\"tm\", \"wt_timer\", 500)\n{params}"
        ),
        routes,
    )
}

/// Every datagram within `dur`.
fn collect(c: &UdpClient, dur: Duration) -> Vec<String> {
    let end = Instant::now() + dur;
    let mut out = Vec::new();
    while Instant::now() < end {
        if let Some(m) = c.recv(Duration::from_millis(50)) {
            out.push(m);
        }
    }
    out
}

fn lines(got: &[String]) -> Vec<String> {
    got.iter().map(|m| first_line(m).to_string()).collect()
}

const PLACES: &str = r#"
loadmodule "async.so"
request_route {
    if ($rU == "lastinif") {
        if ($rU == "lastinif") {
            async_sleep("1");
        }
        sl_send_reply("200", "after if $rc");
        exit;
    }
    if ($rU == "cond") {
        if (async_sleep("1")) {
            sl_send_reply("200", "cond true $rc");
            exit;
        }
        sl_send_reply("200", "cond false $rc");
        exit;
    }
    if ($rU == "assign") {
        $var(r) = async_ms_sleep("100");
        sl_send_reply("200", "assign $var(r)");
        exit;
    }
    if ($rU == "big") {
        async_route("R", "100");
        sl_send_reply("200", "big $rc");
        exit;
    }
    if ($rU == "ms") {
        async_ms_route("R", "100");
        sl_send_reply("200", "no ms_timer $rc");
        exit;
    }
    if ($rU == "ok") {
        async_sleep("1");
        t_reply("404", "slept");
        exit;
    }
}
route[R] {
    t_reply("404", "resumed R");
}
"#;

/// Kamailio refuses async_sleep inside an expression or as the last action
/// of its block (nothing to resume), a delay of 100 s or more, and the
/// millisecond functions without `ms_timer`: -1, nothing suspended (no 100),
/// the script goes on.
#[test]
fn async_sleep_needs_a_next_action_and_delays_are_bounded() {
    let s = Siprd::start(&cfg(3000, "", PLACES));
    let c = UdpClient::new();
    for (user, want) in [
        ("lastinif", "SIP/2.0 200 after if -1"),
        ("cond", "SIP/2.0 200 cond false -1"),
        ("assign", "SIP/2.0 200 assign -1"),
        ("big", "SIP/2.0 200 big -1"),
        ("ms", "SIP/2.0 200 no ms_timer -1"),
    ] {
        let r = c.request(
            s.udp_addr(),
            &request(
                "INVITE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                user,
                "",
            ),
        );
        assert_eq!(first_line(&r), want, "{}", s.log());
    }
    // a statement with one after it is fine
    let t0 = Instant::now();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:ok@127.0.0.1", c.port(), "ok", ""),
    );
    let trying = c.recv(WAIT).expect("100");
    assert!(first_line(&trying).starts_with("SIP/2.0 100"), "{trying}");
    let r = c.recv(WAIT).expect("404");
    assert_eq!(first_line(&r), "SIP/2.0 404 slept");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(s.log().contains("cannot be executed as last action"));
    assert!(s.log().contains("max sleep time is 100 sec"));
    assert!(s.log().contains("async timer list not initialized"));
}

const MS: &str = r#"
loadmodule "async.so"
modparam("async", "ms_timer", 10)
request_route {
    if (is_method("ACK")) { exit; }
    t_on_failure("F");
    if ($rU == "max") {
        async_ms_route("R", "30000");
        sl_send_reply("200", "max $rc");
        exit;
    }
    async_ms_route("R", "100");
    sl_send_reply("200", "not suspended");
}
route[R] { t_reply("404", "resumed R"); }
failure_route[F] { xlog("L_INFO", "FAILURE $T_reply_code $ci\n"); }
"#;

/// With `ms_timer` but without the core's `async_workers`, Kamailio's
/// millisecond timer has nobody to hand the resumption to: the transaction
/// stays suspended until fr_timer (failure route, 408). 30000 ms is too long.
#[test]
fn async_ms_route_without_core_workers_is_never_resumed() {
    let s = Siprd::start(&cfg(1000, "", MS));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("MESSAGE", "sip:max@127.0.0.1", c.port(), "ms-max", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 max -1");
    let t0 = Instant::now();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:x@127.0.0.1", c.port(), "ms-1", ""),
    );
    let r = c.recv(Duration::from_secs(3)).expect("408");
    assert_eq!(first_line(&r), "SIP/2.0 408 Request Timeout", "{}", s.log());
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
    assert!(s.wait_log("FAILURE 408 ms-1", WAIT), "{}", s.log());
    assert!(s.log().contains("no async workers"), "{}", s.log());

    // with the core workers, it resumes
    let s = Siprd::start(&cfg(1000, "async_workers=1", MS));
    let t0 = Instant::now();
    let r = c.request(
        s.udp_addr(),
        &request("MESSAGE", "sip:x@127.0.0.1", c.port(), "ms-2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 404 resumed R", "{}", s.log());
    assert!(
        t0.elapsed() < Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
}

const SUSPEND: &str = r#"
loadmodule "async.so"
modparam("pv", "shvset", "idx=i:0")
modparam("pv", "shvset", "lbl=i:0")
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (is_method("CANCEL")) {
        if (t_check_trans()) { t_relay(); }
        exit;
    }
    if ($rU == "cont") {
        $shv(port) = $hdr(X-P);
        $var(r) = t_continue("$shv(idx)", "$shv(lbl)", "$hdr(X-R)");
        sl_send_reply("200", "cont $var(r)");
        exit;
    }
    if ($rU == "sleep") {
        async_sleep("1");
        t_reply("404", "slept");
        exit;
    }
    if ($rU == "twice") { t_suspend(); }
    t_suspend();
    $shv(idx) = $T(id_index);
    $shv(lbl) = $T(id_label);
    exit;
}
route[RELAY] {
    $du = "sip:127.0.0.1:" + $shv(port);
    t_relay();
}
route[RESUMED] {
    t_reply("404", "resumed");
}
"#;

fn cont(s: &Siprd, c: &UdpClient, route: &str, extra: &str) -> String {
    c.request(
        s.udp_addr(),
        &request(
            "MESSAGE",
            "sip:cont@127.0.0.1",
            c.port(),
            &format!("cont-{route}"),
            &format!("X-R: {route}\r\n{extra}"),
        ),
    )
}

/// A CANCEL for a suspended INVITE: the INVITE gets tm's `487 Request
/// canceled` at once and the CANCEL `200 ok -- no more pending branches`
/// (the blind branch is not pending); the suspension is over, so a later
/// t_continue fails and an async resumption does nothing.
#[test]
fn cancel_of_a_suspended_invite_ends_the_suspension_with_487() {
    let s = Siprd::start(&cfg(3000, "", SUSPEND));
    let c = UdpClient::new();
    let inv = request("INVITE", "sip:bob@127.0.0.1", c.port(), "cx-1", "");
    c.send(s.udp_addr(), &inv);
    let trying = c.recv(WAIT).expect("100");
    assert!(first_line(&trying).starts_with("SIP/2.0 100"));
    let cancel = inv
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    c.send(s.udp_addr(), &cancel);
    let got = collect(&c, Duration::from_millis(400));
    let l = lines(&got);
    assert!(
        l.contains(&"SIP/2.0 487 Request canceled".to_string()),
        "{l:?}"
    );
    assert!(
        l.contains(&"SIP/2.0 200 ok -- no more pending branches".to_string()),
        "{l:?}"
    );
    let r = cont(&s, &c, "RESUMED", "");
    // the 487's retransmission may come first
    let r = if first_line(&r).starts_with("SIP/2.0 487") {
        c.recv(WAIT).expect("200 cont")
    } else {
        r
    };
    assert_eq!(first_line(&r), "SIP/2.0 200 cont -1");

    // async_sleep: the resumption finds nothing to resume
    let inv = request("INVITE", "sip:sleep@127.0.0.1", c.port(), "cx-2", "");
    c.send(s.udp_addr(), &inv);
    let trying = c.recv(WAIT).expect("100");
    assert!(first_line(&trying).starts_with("SIP/2.0 100"));
    let cancel = inv
        .replacen("INVITE sip:", "CANCEL sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL");
    c.send(s.udp_addr(), &cancel);
    let got = collect(&c, Duration::from_millis(1500));
    let l = lines(&got);
    assert!(
        l.contains(&"SIP/2.0 487 Request canceled".to_string()),
        "{l:?}"
    );
    assert!(!l.iter().any(|x| x.contains("404")), "{l:?}");
}

/// Kamailio's t_suspend adds a blind branch (one per call), so the branches
/// relayed after a resumption are numbered after it: `.1` after one
/// t_suspend, `.2` after two.
#[test]
fn branches_relayed_after_t_suspend_count_its_blind_branch() {
    let s = Siprd::start(&cfg(3000, "", SUSPEND));
    let hop = NextHop::new();
    let c = UdpClient::new();
    for (user, no) in [("bob", ".1"), ("twice", ".2")] {
        c.send(
            s.udp_addr(),
            &request(
                "INVITE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &format!("bl-{user}"),
                "",
            ),
        );
        let trying = c.recv(WAIT).expect("100");
        assert!(first_line(&trying).starts_with("SIP/2.0 100"));
        let r = cont(&s, &c, "RELAY", &format!("X-P: {}\r\n", hop.port()));
        assert_eq!(first_line(&r), "SIP/2.0 200 cont 1");
        let (m, from) = hop.recv_start("INVITE ", WAIT).expect("relayed INVITE");
        let via = header(&m, "Via").unwrap_or("");
        let branch = via.split("branch=").nth(1).unwrap_or("");
        assert!(branch.ends_with(no), "{via}");
        // its reply is matched by that number
        hop.answer(&m, from, "486 Busy Here");
        let r = c.recv(WAIT).expect("486 relayed");
        assert_eq!(first_line(&r), "SIP/2.0 486 Busy Here", "{}", s.log());
        let _ = hop.collect(Duration::from_millis(100));
        c.drain();
    }
}
