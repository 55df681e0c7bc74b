//! tm details where siprd differed from Kamailio 5.6.3: each test encodes what
//! Kamailio did in the same setup (a UAC and a downstream UAS played by the
//! test on loopback, the real binary in between).

mod common;
use common::*;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(400);

/// A tm config with kex and corex too.
fn cfg(routes: &str) -> String {
    tm_cfg(
        2,
        "loadmodule \"kex.so\"\nloadmodule \"corex.so\"\n",
        routes,
    )
}

/// An INVITE to `sip:<port>@127.0.0.1`: the routes relay it to that port.
fn invite_to(hop: &NextHop, client: &UdpClient, call_id: &str) -> String {
    request(
        "INVITE",
        &format!("sip:{}@127.0.0.1", hop.port()),
        client.port(),
        call_id,
        "",
    )
}

trait CallReplies {
    /// The first lines of what arrives within `wait` for Call-ID `call_id`.
    fn collect_call(&self, call_id: &str, wait: Duration) -> Vec<String>;
}

impl CallReplies for UdpClient {
    fn collect_call(&self, call_id: &str, wait: Duration) -> Vec<String> {
        let end = std::time::Instant::now() + wait;
        let mut out = vec![];
        while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
            if let Some(m) = self.recv(left) {
                if header(&m, "Call-ID") == Some(call_id) {
                    out.push(first_line(&m).to_string());
                }
            }
        }
        out
    }
}

/// Every log line of `s` containing `needle`, in order, trimmed of the log prefix.
fn lines_with(s: &Siprd, needle: &str) -> Vec<String> {
    s.log()
        .lines()
        .filter_map(|l| l.find(needle).map(|i| l[i..].to_string()))
        .collect()
}

const STATE: &str = r#"
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    setflag(3);
    $avp(a) = "req";
    $xavp(x=>f) = "xv";
    setbflag(2);
    $du = "sip:127.0.0.1:" + $rU;
    t_on_reply("R"); t_on_failure("F"); t_on_branch("B"); t_on_branch_failure("bf");
    t_relay();
    $avp(a) = "after";
    setflag(5);
}
branch_route[B] {
    xlog("L_INFO", "S B avp=$avp(a) xavp=$xavp(x=>f) mf=$mf bf=$bf\n");
    $avp(b) = "branch";
    setflag(6);
}
onreply_route[R] {
    xlog("L_INFO", "S R $rs avp=$avp(a) b=$avp(b) xavp=$xavp(x=>f) mf=$mf bf=$bf\n");
    $avp(r) = "reply" + $rs;
    setflag(7);
}
event_route[tm:branch-failure:bf] {
    xlog("L_INFO", "S BF $T_reply_code avp=$avp(a) r=$avp(r) mf=$mf\n");
    $avp(bfv) = "bf";
    setflag(8);
}
failure_route[F] {
    xlog("L_INFO", "S F $T_reply_code avp=$avp(a) b=$avp(b) r=$avp(r) bfv=$avp(bfv) xavp=$xavp(x=>f) mf=$mf bf=$bf\n");
}
"#;

#[test]
fn onreply_and_failure_routes_run_on_the_transactions_avps_and_flags() {
    // Kamailio 5.6.3: the transaction owns the AVP list from t_relay on (an AVP
    // the request route sets after t_relay is seen later), message flags are
    // the request's as relayed (flag 5 set after t_relay is not) plus what
    // branch_route set; what onreply_route and the branch-failure route change
    // is kept for the routes after them.
    let s = Siprd::start(&cfg(STATE));
    let c = UdpClient::new();
    let hop = NextHop::new();
    c.send(s.udp_addr(), &invite_to(&hop, &c, "state-1"));
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&inv, from, "180 Ringing");
    assert!(s.wait_log("S R 180", WAIT));
    hop.answer(&inv, from, "486 Busy Here");
    assert!(s.wait_log("S F 486", WAIT));
    assert_eq!(
        lines_with(&s, "S "),
        vec![
            "S B avp=req xavp=xv mf=8 bf=4",
            "S R 180 avp=after b=branch xavp=xv mf=72 bf=4",
            "S R 486 avp=after b=branch xavp=xv mf=200 bf=4",
            "S BF 486 avp=after r=reply486 mf=200",
            "S F 486 avp=after b=branch r=reply486 bfv=bf xavp=xv mf=456 bf=4",
        ]
    );
    let got = c.first_lines(SHORT);
    assert!(
        got.contains(&"SIP/2.0 486 Busy Here".to_string()),
        "{got:?}"
    );
}

/// The Via branch suffixes (`.0`, `.1` ...) of the requests `hop` received
/// within `wait`, in order of first arrival, with each one's R-URI; each is
/// answered `200 OK` (no retransmission reaches a later call).
fn branches_seen(hop: &NextHop, wait: Duration) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![];
    for (m, from) in hop.collect(wait) {
        if m.starts_with("SIP/2.0") || m.starts_with("ACK") {
            continue;
        }
        hop.answer(&m, from, "200 OK");
        let via = header(&m, "Via").unwrap_or("");
        let br = via.split("branch=").nth(1).unwrap_or("");
        let no = br.rsplit('.').next().unwrap_or("").to_string();
        let ruri = first_line(&m).split(' ').nth(1).unwrap_or("").to_string();
        if !out.iter().any(|(n, u)| *n == no && *u == ruri) {
            out.push((no, ruri));
        }
    }
    out
}

fn relay_twice_cfg(hop: u16, hop2: u16) -> String {
    cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $var(u) = $rU;
    $du = "sip:127.0.0.1:{hop}";
    $var(r) = t_relay(); xlog("L_INFO", "T $var(u) first $var(r)\n");
    if ($rU == "ru") {{ $ru = "sip:other@127.0.0.1"; }}
    if ($rU == "same") {{ $ru = $ru; }}
    if ($rU == "du") {{ $du = "sip:127.0.0.1:{hop2}"; }}
    $var(r) = t_relay(); xlog("L_INFO", "T $var(u) second $var(r)\n");
}}
"#
    ))
}

#[test]
fn a_second_t_relay_sends_only_what_was_assigned_since() {
    // Kamailio 5.6.3: the R-URI is "consumed" by t_relay; a second t_relay
    // without a new assignment to $ru/$du is -1 ("no branches for
    // forwarding"), while any assignment (even of the same value) makes a new
    // branch of it.
    let hop = NextHop::new();
    let hop2 = NextHop::new();
    let s = Siprd::start(&relay_twice_cfg(hop.port(), hop2.port()));
    let c = UdpClient::new();
    for (user, second, hop_branches, hop2_branches) in [
        ("none", "-1", vec![("0", "sip:none@127.0.0.1")], vec![]),
        (
            "ru",
            "1",
            vec![("0", "sip:ru@127.0.0.1"), ("1", "sip:other@127.0.0.1")],
            vec![],
        ),
        (
            "same",
            "1",
            vec![("0", "sip:same@127.0.0.1"), ("1", "sip:same@127.0.0.1")],
            vec![],
        ),
        (
            "du",
            "1",
            vec![("0", "sip:du@127.0.0.1")],
            vec![("1", "sip:du@127.0.0.1")],
        ),
    ] {
        let ruri = format!("sip:{user}@127.0.0.1");
        c.send(
            s.udp_addr(),
            &request("MESSAGE", &ruri, c.port(), &format!("twice-{user}"), ""),
        );
        assert!(
            s.wait_log(&format!("T {user} second {second}\n"), WAIT),
            "{user}"
        );
        let want = |v: &Vec<(&str, &str)>| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(branches_seen(&hop, SHORT), want(&hop_branches), "{user}");
        assert_eq!(branches_seen(&hop2, SHORT), want(&hop2_branches), "{user}");
        assert!(s.log().contains(&format!("T {user} first 1\n")));
    }
}

fn nonack_cfg(hop: u16) -> String {
    cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{
        $var(r) = t_forward_nonack("127.0.0.1", "{hop}"); xlog("L_INFO", "N ack $var(r)\n");
        exit;
    }}
    $var(c) = $rU;
    if ($var(c) == "notx") {{
        $var(r) = t_forward_nonack("127.0.0.1", "{hop}");
    }} else if ($var(c) == "urinotx") {{
        $var(r) = t_forward_nonack_uri();
    }} else if ($var(c) == "hp") {{
        t_newtran();
        $du = "sip:127.0.0.1:1";
        append_branch("sip:ab@127.0.0.1:2");
        $var(r) = t_forward_nonack("127.0.0.1", "{hop}");
    }} else if ($var(c) == "udp") {{
        t_newtran();
        $var(r) = t_forward_nonack_udp("127.0.0.1", "{hop}");
    }} else if ($var(c) == "tcp") {{
        t_newtran();
        $var(r) = t_forward_nonack_tcp("127.0.0.1", "{hop}");
    }} else if ($var(c) == "relaytcp") {{
        $var(r) = t_relay_to_tcp("127.0.0.1", "{hop}");
    }} else if ($var(c) == "uri") {{
        t_newtran();
        $ru = "sip:u@127.0.0.1:1";
        $du = "sip:127.0.0.1:{hop}";
        $var(r) = t_forward_nonack_uri();
    }} else if ($var(c) == "twice") {{
        t_newtran();
        $var(a) = t_forward_nonack("127.0.0.1", "{hop}");
        $var(b) = t_forward_nonack("127.0.0.1", "{hop}");
        $var(d) = t_relay();
        xlog("L_INFO", "N twice $var(a) $var(b) $var(d)\n");
        exit;
    }}
    xlog("L_INFO", "N $var(c) $var(r)\n");
}}
"#
    ))
}

#[test]
fn t_forward_nonack_relays_in_the_scripts_transaction() {
    // Kamailio 5.6.3: t_forward_nonack* need a transaction (t_newtran): -1
    // and nothing sent without one; no automatic 100 for an INVITE; an
    // explicit host:port takes every branch there ($du and the appended
    // branch's own URI are ignored); t_forward_nonack_uri follows $du; a
    // second relay is -1; no socket for the protocol: -7, and no reply (while
    // t_relay_to_tcp answers `500 ... (7/TM)`).
    let hop = NextHop::new();
    let s = Siprd::start(&nonack_cfg(hop.port()));
    let c = UdpClient::new();
    let run = |user: &str, method: &str, want: &str| {
        let ruri = format!("sip:{user}@127.0.0.1");
        c.send(
            s.udp_addr(),
            &request(method, &ruri, c.port(), &format!("nonack-{user}"), ""),
        );
        assert!(s.wait_log(&format!("N {user} {want}\n"), WAIT), "{user}");
    };
    for user in ["notx", "urinotx"] {
        run(user, "MESSAGE", "-1");
        assert_eq!(branches_seen(&hop, SHORT), vec![], "{user}");
        let got = c.collect_call(&format!("nonack-{user}"), Duration::from_millis(100));
        assert!(got.is_empty(), "{got:?}");
    }
    run("hp", "INVITE", "1");
    let got = hop.collect(SHORT);
    let mut uris: Vec<&str> = got
        .iter()
        .filter(|(m, _)| m.starts_with("INVITE"))
        .map(|(m, _)| first_line(m))
        .collect();
    uris.dedup();
    assert_eq!(
        uris,
        vec![
            "INVITE sip:hp@127.0.0.1 SIP/2.0",
            "INVITE sip:ab@127.0.0.1:2 SIP/2.0"
        ]
    );
    // no 100 Trying: the client hears only the final reply
    for (m, from) in got.iter().filter(|(m, _)| m.starts_with("INVITE")) {
        hop.answer(m, *from, "404 Not Here");
    }
    let lines = c.first_lines(SHORT);
    assert!(!lines.is_empty());
    assert!(
        lines.iter().all(|l| l == "SIP/2.0 404 Not Here"),
        "{lines:?}"
    );
    run("udp", "MESSAGE", "1");
    assert_eq!(
        branches_seen(&hop, SHORT),
        vec![("0".to_string(), "sip:udp@127.0.0.1".to_string())]
    );
    run("uri", "MESSAGE", "1");
    assert_eq!(
        branches_seen(&hop, SHORT),
        vec![("0".to_string(), "sip:u@127.0.0.1:1".to_string())]
    );
    run("twice", "MESSAGE", "1 -1 -1");
    assert_eq!(branches_seen(&hop, SHORT).len(), 1);
    run("tcp", "MESSAGE", "-7");
    let got = c.collect_call("nonack-tcp", SHORT);
    assert!(got.is_empty(), "{got:?}");
    run("relaytcp", "MESSAGE", "-7");
    assert_eq!(
        c.collect_call("nonack-relaytcp", SHORT),
        vec!["SIP/2.0 500 I'm terribly sorry, server error occurred (7/TM)"]
    );
    c.send(
        s.udp_addr(),
        &request("ACK", "sip:ack@127.0.0.1", c.port(), "nonack-ack", ""),
    );
    assert!(s.wait_log("N ack -1\n", WAIT));
}

fn append_cfg(hop: u16, hop2: u16) -> String {
    cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $var(c) = $rU;
    t_on_branch("BR");
    $du = "sip:127.0.0.1:{hop}";
    setbflag(3);
    if ($var(c) == "noargs") {{
        append_branch();
    }} else if ($var(c) == "uri") {{
        append_branch("sip:ab@127.0.0.1:{hop2}");
    }} else {{
        t_on_failure("F");
    }}
    xlog("L_INFO", "A $var(c) du=$du bf=$bf n=$(branch(uri)[0]) d=$(branch(dst_uri)[0]) f=$(branch(flags)[0])\n");
    t_relay();
}}
branch_route[BR] {{ xlog("L_INFO", "BR $T_branch_idx ru=$ru du=$du\n"); }}
failure_route[F] {{
    $ru = "sip:again@127.0.0.1:9";
    $du = "sip:127.0.0.1:{hop2}";
    append_branch();
    t_on_branch("BR");
    t_relay();
}}
"#
    ))
}

#[test]
fn append_branch_takes_the_destination_along() {
    // Kamailio 5.6.3: append_branch() moves $du (and the branch flags, $fs)
    // into the new branch: $du is null after it and the R-URI's own branch
    // goes to the R-URI's host; append_branch(uri) copies $du, so the new
    // branch goes to $du, not to its URI. Each branch_route sees its
    // branch's $du.
    let hop = NextHop::new();
    let hop2 = NextHop::new();
    let s = Siprd::start(&append_cfg(hop.port(), hop2.port()));
    let c = UdpClient::new();
    let (h1, h2) = (hop.port(), hop2.port());
    c.send(
        s.udp_addr(),
        &request(
            "MESSAGE",
            "sip:noargs@127.0.0.1:9",
            c.port(),
            "ab-noargs",
            "",
        ),
    );
    assert!(s.wait_log("BR 1 ", WAIT));
    assert_eq!(
        branches_seen(&hop, SHORT),
        vec![("1".to_string(), "sip:noargs@127.0.0.1:9".to_string())]
    );
    assert_eq!(
        lines_with(&s, "A noargs"),
        vec![format!(
            "A noargs du=<null> bf=0 n=sip:noargs@127.0.0.1:9 d=sip:127.0.0.1:{h1} f=8"
        )]
    );
    assert_eq!(
        lines_with(&s, "BR "),
        vec![
            "BR 0 ru=sip:noargs@127.0.0.1:9 du=<null>".to_string(),
            format!("BR 1 ru=sip:noargs@127.0.0.1:9 du=sip:127.0.0.1:{h1}"),
        ]
    );

    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:uri@127.0.0.1", c.port(), "ab-uri", ""),
    );
    assert!(s.wait_log("A uri", WAIT));
    assert_eq!(
        branches_seen(&hop, SHORT),
        vec![
            ("0".to_string(), "sip:uri@127.0.0.1".to_string()),
            ("1".to_string(), format!("sip:ab@127.0.0.1:{h2}")),
        ]
    );
    assert_eq!(branches_seen(&hop2, Duration::from_millis(50)), vec![]);
    assert_eq!(
        lines_with(&s, "A uri"),
        vec![format!(
            "A uri du=sip:127.0.0.1:{h1} bf=8 n=sip:ab@127.0.0.1:{h2} d=sip:127.0.0.1:{h1} f=8"
        )]
    );

    // failure_route: the changed R-URI goes to its own host (.1), the
    // appended copy to the $du it took (.2)
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:fail@127.0.0.1", c.port(), "ab-fail", ""),
    );
    let (m, from) = hop.recv_start("MESSAGE", WAIT).expect("first branch");
    hop.answer(&m, from, "404 Not Here");
    assert!(s.wait_log("BR 2 ", WAIT));
    assert_eq!(
        branches_seen(&hop2, SHORT),
        vec![("2".to_string(), "sip:again@127.0.0.1:9".to_string())]
    );
    let br: Vec<String> = lines_with(&s, "BR ").into_iter().skip(4).collect();
    assert_eq!(
        br,
        vec![
            "BR 0 ru=sip:fail@127.0.0.1 du=sip:127.0.0.1:".to_string() + &h1.to_string(),
            "BR 1 ru=sip:again@127.0.0.1:9 du=<null>".to_string(),
            format!("BR 2 ru=sip:again@127.0.0.1:9 du=sip:127.0.0.1:{h2}"),
        ]
    );
}

fn release_cfg(hop: u16) -> String {
    cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $var(c) = $rU;
    if ($var(c) == "notx") {{
        $var(r) = t_release(); xlog("L_INFO", "X notx $var(r)\n");
        sl_send_reply("200", "ok");
    }} else if ($var(c) == "newtran") {{
        t_newtran();
        $var(a) = t_release();
        $var(b) = t_release();
        $var(d) = t_reply("404", "after release");
        xlog("L_INFO", "X newtran $var(a) $var(b) $var(d)\n");
    }} else if ($var(c) == "replied") {{
        t_newtran();
        t_reply("486", "busy");
        $var(r) = t_release(); xlog("L_INFO", "X replied $var(r)\n");
    }} else if ($var(c) == "relayed") {{
        $du = "sip:127.0.0.1:{hop}";
        t_relay();
        $var(r) = t_release(); xlog("L_INFO", "X relayed $var(r)\n");
    }}
}}
"#
    ))
}

#[test]
fn t_release_stops_retransmissions_and_keeps_the_transaction() {
    // Kamailio 5.6.3: t_release() is 1 (also without a transaction); the
    // transaction stays (wt_timer): a later t_reply still answers and a
    // retransmission gets the last reply; nothing is retransmitted any more
    // (the INVITE's 486, the relayed INVITE, the relayed 486), and a branch
    // reply is still relayed.
    let hop = NextHop::new();
    let s = Siprd::start(&release_cfg(hop.port()));
    let c = UdpClient::new();
    let msg = |user: &str, method: &str| {
        request(
            method,
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            &format!("rel-{user}-{method}"),
            "",
        )
    };
    let m = msg("notx", "MESSAGE");
    c.send(s.udp_addr(), &m);
    assert_eq!(
        c.collect_call("rel-notx-MESSAGE", SHORT),
        vec!["SIP/2.0 200 ok"]
    );
    assert!(s.wait_log("X notx 1\n", WAIT));

    let m = msg("newtran", "MESSAGE");
    c.send(s.udp_addr(), &m);
    let want = vec!["SIP/2.0 404 after release"];
    assert_eq!(c.collect_call("rel-newtran-MESSAGE", SHORT), want);
    assert!(s.wait_log("X newtran 1 1 1\n", WAIT));
    c.send(s.udp_addr(), &m);
    assert_eq!(
        c.collect_call("rel-newtran-MESSAGE", SHORT),
        want,
        "retransmission"
    );
    assert_eq!(s.count_log("X newtran"), 1);

    // an INVITE's local 486 is not retransmitted after t_release (it would be
    // at 0.5 s)
    let m = msg("replied", "INVITE");
    c.send(s.udp_addr(), &m);
    assert_eq!(
        c.collect_call("rel-replied-INVITE", Duration::from_millis(1200)),
        vec!["SIP/2.0 486 busy"]
    );
    c.send(s.udp_addr(), &m);
    assert_eq!(
        c.collect_call("rel-replied-INVITE", SHORT),
        vec!["SIP/2.0 486 busy"]
    );
    assert_eq!(s.count_log("X replied 1\n"), 1);

    let m = msg("relayed", "INVITE");
    c.send(s.udp_addr(), &m);
    let got = hop.collect(Duration::from_millis(1200));
    let invites: Vec<_> = got
        .iter()
        .filter(|(m, _)| m.starts_with("INVITE"))
        .collect();
    assert_eq!(invites.len(), 1, "not retransmitted after t_release");
    let (inv, from) = invites[0];
    hop.answer(inv, *from, "180 Ringing");
    hop.answer(inv, *from, "486 Busy Here");
    assert_eq!(
        c.collect_call("rel-relayed-INVITE", Duration::from_millis(1200)),
        vec![
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 486 Busy Here"
        ]
    );
    assert!(s.log().contains("X relayed 1\n"));
}

fn queries_cfg(hop: u16, hop2: u16) -> String {
    cfg(&format!(
        r#"
reply_route {{
    $var(r) = t_check_trans();
    xlog("L_INFO", "Q RR $rs $ci $var(r)\n");
}}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    if ($rU == "to") {{
        t_set_fr(1000, 300);
        $du = "sip:127.0.0.1:{hop}";
        t_on_failure("F");
        t_relay();
        exit;
    }}
    $var(a) = t_branch_replied();
    $var(b) = t_grep_status("486");
    $var(d) = t_any_replied();
    xlog("L_INFO", "Q REQ $var(a) $var(b) $var(d)\n");
    append_branch("sip:b2@127.0.0.1:{hop2}");
    $du = "sip:127.0.0.1:{hop}";
    t_on_failure("F"); t_on_reply("R"); t_on_branch_failure("bf");
    t_relay();
}}
onreply_route[R] {{
    $var(a) = t_check_trans();
    $var(b) = t_grep_status("486");
    $var(d) = t_grep_status("180");
    $var(e) = t_any_replied();
    xlog("L_INFO", "Q R $rs check=$var(a) g486=$var(b) g180=$var(d) any=$var(e)\n");
}}
event_route[tm:branch-failure:bf] {{
    $var(a) = t_branch_replied();
    $var(b) = t_grep_status("486");
    $var(d) = t_check_trans();
    xlog("L_INFO", "Q BF $T_reply_code br=$var(a) g486=$var(b) check=$var(d)\n");
}}
failure_route[F] {{
    $var(a) = t_branch_replied();
    $var(b) = t_grep_status("486");
    $var(d) = t_grep_status("404");
    $var(e) = t_grep_status("408");
    xlog("L_INFO", "Q F $T_reply_code br=$var(a) g486=$var(b) g404=$var(d) g408=$var(e)\n");
}}
"#
    ))
}

#[test]
fn reply_queries_count_branches_with_a_provisional_reply() {
    // Kamailio 5.6.3: t_check_trans() is 1 on a reply of one of our branches
    // (reply_route, onreply_route) and -1 on a stray one; a branch counts as
    // replied (t_branch_replied, t_any_replied, t_grep_status) only once a
    // provisional reply of it was processed (after its onreply_route), and
    // t_grep_status matches the highest code it received (set before
    // onreply_route); a final reply alone or a timeout leaves it unreplied.
    let hop = NextHop::new();
    let hop2 = NextHop::new();
    let s = Siprd::start(&queries_cfg(hop.port(), hop2.port()));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:q@127.0.0.1", c.port(), "q-1", ""),
    );
    let (i1, a1) = hop.recv_start("INVITE", WAIT).expect("branch 0");
    let (i2, a2) = hop2.recv_start("INVITE", WAIT).expect("branch 1");
    hop.answer(&i1, a1, "180 Ringing");
    assert!(s.wait_log("Q R 180", WAIT));
    hop.answer(&i1, a1, "486 Busy Here");
    assert!(s.wait_log("Q BF 486", WAIT));
    hop2.sock
        .send_to(
            hop_reply(&i2, "404 Not Here")
                .replace("tag=hoptag", "tag=t2")
                .as_bytes(),
            a2,
        )
        .expect("send");
    assert!(s.wait_log("Q F ", WAIT));
    let stray = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP {};branch=z9hG4bKnope.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bKx\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: stray\r\n\
         CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n",
        s.udp_addr(),
        c.port()
    );
    c.send(s.udp_addr(), &stray);
    assert!(s.wait_log("Q RR 200 stray", WAIT));
    assert_eq!(
        lines_with(&s, "Q "),
        vec![
            "Q REQ -1 -1 -1",
            "Q RR 180 q-1 1",
            "Q R 180 check=1 g486=-1 g180=-1 any=-1",
            "Q RR 486 q-1 1",
            "Q R 486 check=1 g486=1 g180=-1 any=1",
            "Q BF 486 br=1 g486=1 check=1",
            "Q RR 404 q-1 1",
            "Q R 404 check=1 g486=1 g180=-1 any=1",
            "Q BF 404 br=-1 g486=1 check=1",
            "Q F 404 br=-1 g486=1 g404=-1 g408=-1",
            "Q RR 200 stray -1",
        ]
    );
    // a branch that timed out: not replied, t_grep_status("408") false
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:to@127.0.0.1", c.port(), "q-to", ""),
    );
    assert!(s.wait_log("Q F 408", WAIT));
    assert!(s.log().contains("Q F 408 br=-1 g486=-1 g404=-1 g408=-1\n"));
}

#[test]
fn t_reply_in_branch_failure_route_is_refused() {
    // Kamailio 5.6.3: t_reply() in event_route[tm:branch-failure] logs
    // "unsupported mode" and returns -1 (so do t_send_reply() and sl's
    // send_reply(), which goes through tm there); nothing is sent, the failure route
    // runs and the branch's 486 goes upstream.
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $du = "sip:127.0.0.1:{}";
    t_on_failure("F"); t_on_branch_failure("bf");
    t_relay();
}}
event_route[tm:branch-failure:bf] {{
    $var(r) = t_reply("503", "from bf");
    $var(s) = t_send_reply("503", "from bf");
    $var(t) = send_reply("503", "from bf");
    xlog("L_INFO", "Z BF $T_reply_code t_reply=$var(r) t_send_reply=$var(s) send_reply=$var(t)\n");
}}
failure_route[F] {{ xlog("L_INFO", "Z F $T_reply_code\n"); }}
"#,
        hop.port()
    )));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:bf@127.0.0.1", c.port(), "bf-reply", ""),
    );
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&inv, from, "486 Busy Here");
    assert!(s.wait_log("Z F 486", WAIT));
    let got = c.collect_call("bf-reply", SHORT);
    assert_eq!(
        got.first().map(String::as_str),
        Some("SIP/2.0 100 trying -- your call is important to us")
    );
    assert!(got.len() > 1, "{got:?}");
    assert!(
        got[1..].iter().all(|l| l == "SIP/2.0 486 Busy Here"),
        "{got:?}"
    );
    assert_eq!(
        lines_with(&s, "Z "),
        vec![
            "Z BF 486 t_reply=-1 t_send_reply=-1 send_reply=-1",
            "Z F 486"
        ]
    );
}

/// A BINRPC request (kamcmd's protocol) of string parameters.
fn binrpc_request(method: &str, params: &[&str]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in std::iter::once(&method).chain(params.iter()) {
        let l = p.len() + 1;
        body.push(0x80 | (4 << 4) | 1); // a string, its length on 4 bytes
        body.extend_from_slice(&(l as u32).to_be_bytes());
        body.extend_from_slice(p.as_bytes());
        body.push(0);
    }
    let mut pkt = vec![0xa1, 0x0f];
    pkt.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pkt.extend_from_slice(&0x0102u32.to_be_bytes());
    pkt.extend_from_slice(&body);
    pkt
}

/// A BINRPC fault's (code, text), None for anything else.
fn binrpc_fault(buf: &[u8]) -> Option<(u32, String)> {
    let be = |b: &[u8]| b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x));
    if buf.len() < 2 || buf[0] != 0xa1 || buf[1] >> 4 != 3 {
        return None;
    }
    let ll = ((buf[1] >> 2) & 3) as usize + 1;
    let cl = (buf[1] & 3) as usize + 1;
    let mut pos = 2 + ll + cl;
    let mut rec = || -> Option<(u8, Vec<u8>)> {
        let h = *buf.get(pos)?;
        pos += 1;
        let size = ((h >> 4) & 7) as usize;
        let len = if h & 0x80 != 0 {
            let l = be(buf.get(pos..pos + size)?) as usize;
            pos += size;
            l
        } else {
            size
        };
        let v = buf.get(pos..pos + len)?.to_vec();
        pos += len;
        Some((h & 0xf, v))
    };
    let (t1, code) = rec()?;
    let (t2, text) = rec()?;
    (t1 == 0 && t2 == 1).then(|| {
        let text = text.strip_suffix(&[0]).unwrap_or(&text);
        (be(&code), String::from_utf8_lossy(text).into_owned())
    })
}

fn local_request_cfg(hop: u16, ctl: u16, js: u16) -> String {
    cfg(&format!(
        r#"
loadmodule "ctl.so"
loadmodule "jsonrpcs.so"
modparam("ctl", "binrpc", "udp:127.0.0.1:{ctl}")
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{js}")
modparam("jsonrpcs", "transport", 4)
request_route {{
    $var(r) = t_uac_send("OPTIONS", "sip:$rU@127.0.0.1:{hop}", "", "", "From: <sip:a@127.0.0.1>;tag=ft1\r\nTo: <sip:x@127.0.0.1>\r\nX-Orig: 1\r\n", "");
    xlog("L_INFO", "Y uac $rU $var(r)\n");
    sl_send_reply("200", "r=$var(r)");
}}
event_route[tm:local-request] {{
    xlog("L_INFO", "Y LR $rm $ru\n");
    if ($rU == "drop") {{ drop; }}
    if ($rU == "ru") {{ $ru = "sip:changed@127.0.0.1:{hop}"; $du = "sip:127.0.0.1:1"; }}
    if ($rU == "edit") {{
        append_hf("X-Added: yes\r\n");
        remove_hf("X-Orig");
    }}
}}
"#
    ))
}

#[test]
fn local_request_route_drops_and_edits_what_is_sent() {
    // Kamailio 5.6.3: `drop` in event_route[tm:local-request] sends nothing
    // (t_uac_send logs "UAC error" and still returns 1; tm.t_uac_start answers
    // 500 "No error (0/RPC/UAC)"); header edits there are in what is sent and
    // retransmitted, a `$ru` set there is the request line sent.
    let hop = NextHop::new();
    let (ctl, js) = (free_udp_port(), free_udp_port());
    let s = Siprd::start(&local_request_cfg(hop.port(), ctl, js));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:drop@127.0.0.1", c.port(), "lr-drop", ""),
    );
    assert_eq!(c.collect_call("lr-drop", SHORT), vec!["SIP/2.0 200 r=1"]);
    assert!(s.wait_log("Y LR OPTIONS sip:drop@", WAIT));
    assert!(hop.collect(Duration::from_millis(700)).is_empty());

    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:edit@127.0.0.1", c.port(), "lr-edit", ""),
    );
    assert_eq!(c.collect_call("lr-edit", SHORT), vec!["SIP/2.0 200 r=1"]);
    let got = hop.collect(Duration::from_millis(800));
    assert!(got.len() >= 2, "sent and retransmitted: {}", got.len());
    for (m, _) in &got {
        assert!(m.starts_with("OPTIONS sip:edit@"), "{m}");
        assert_eq!(header(m, "X-Added"), Some("yes"), "{m}");
        assert_eq!(header(m, "X-Orig"), None, "{m}");
    }
    hop.answer(&got[0].0, got[0].1, "200 OK");

    // $ru set there is the request line; $du there changes nothing
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:ru@127.0.0.1", c.port(), "lr-ru", ""),
    );
    assert_eq!(c.collect_call("lr-ru", SHORT), vec!["SIP/2.0 200 r=1"]);
    let (m, from) = hop.recv_start("OPTIONS", WAIT).expect("sent to the hop");
    assert_eq!(
        first_line(&m),
        format!("OPTIONS sip:changed@127.0.0.1:{} SIP/2.0", hop.port())
    );
    hop.answer(&m, from, "200 OK");
    let _ = hop.collect(Duration::from_millis(100));

    let hdrs =
        "From: <sip:a@127.0.0.1>;tag=ft1\r\nTo: <sip:x@127.0.0.1>\r\nContent-Type: text/plain\r\n";
    let ruri = format!("sip:drop@127.0.0.1:{}", hop.port());
    let req = serde_json::json!({"jsonrpc": "2.0", "method": "tm.t_uac_start",
        "params": ["OPTIONS", ruri, ".", ".", hdrs], "id": 1});
    let r = rpc_datagram(js, req.to_string().as_bytes(), WAIT).expect("jsonrpc reply");
    assert_eq!(r["error"]["code"], 500, "{r}");
    assert_eq!(r["error"]["message"], "No error (0/RPC/UAC)", "{r}");
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    u.set_read_timeout(Some(WAIT)).expect("timeout");
    u.send_to(
        &binrpc_request("tm.t_uac_start", &["OPTIONS", &ruri, ".", ".", hdrs]),
        ("127.0.0.1", ctl),
    )
    .expect("send");
    let mut buf = vec![0u8; 65536];
    let n = u.recv(&mut buf).expect("binrpc reply");
    assert_eq!(
        binrpc_fault(&buf[..n]),
        Some((500, "No error (0/RPC/UAC)".to_string()))
    );
    assert!(hop.collect(SHORT).is_empty());
}

#[test]
fn t_uac_wait_is_refused_by_transports_without_delayed_replies() {
    // Kamailio 5.6.3: over BINRPC tm.t_uac_wait answers 600 "Reply
    // wait/async mode not supported by this rpc transport", over jsonrpcs'
    // datagram socket 500 "internal error: failed to create context"; neither
    // sends the request.
    let hop = NextHop::new();
    let (ctl, js) = (free_udp_port(), free_udp_port());
    let s = Siprd::start(&local_request_cfg(hop.port(), ctl, js));
    let hdrs =
        "From: <sip:a@127.0.0.1>;tag=ft1\r\nTo: <sip:x@127.0.0.1>\r\nContent-Type: text/plain\r\n";
    let ruri = format!("sip:go@127.0.0.1:{}", hop.port());
    let req = serde_json::json!({"jsonrpc": "2.0", "method": "tm.t_uac_wait",
        "params": ["OPTIONS", ruri, ".", ".", hdrs], "id": 1});
    let r = rpc_datagram(js, req.to_string().as_bytes(), WAIT).expect("jsonrpc reply");
    assert_eq!(r["error"]["code"], 500, "{r}");
    assert_eq!(
        r["error"]["message"], "internal error: failed to create context",
        "{r}"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    u.set_read_timeout(Some(WAIT)).expect("timeout");
    u.send_to(
        &binrpc_request("tm.t_uac_wait", &["OPTIONS", &ruri, ".", ".", hdrs]),
        ("127.0.0.1", ctl),
    )
    .expect("send");
    let mut buf = vec![0u8; 65536];
    let n = u.recv(&mut buf).expect("binrpc reply");
    assert_eq!(
        binrpc_fault(&buf[..n]),
        Some((
            600,
            "Reply wait/async mode not supported by this rpc transport".to_string()
        ))
    );
    assert!(hop.collect(SHORT).is_empty());
    assert_eq!(s.count_log("Y LR"), 0);
}

#[test]
fn t_id_index_n_creates_the_transaction() {
    // Kamailio 5.6.3: $T(id_index_n) / $T(id_label_n) create the transaction
    // when there is none ($T(id_index) is null before): t_lookup_request()
    // then finds it and t_newtran() is -10; elsewhere they read the existing
    // one. The other $T keys as Kamailio prints them at each step.
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    xlog("L_INFO", "V pre ii=$T(id_index) rc=$T(reply_code) rr=$T(reply_reason) bi=$T(branch_index) rt=$T(reply_type)\n");
    if ($rU == "n") {{
        $var(i) = $T(id_index_n);
        $var(l) = $T(id_label_n);
        if ($var(i) == $T(id_index) && $var(l) == $T(id_label)) {{ xlog("L_INFO", "V n same\n"); }}
        if (t_lookup_request()) {{ xlog("L_INFO", "V n lookup yes\n"); }}
        $var(r) = t_newtran(); xlog("L_INFO", "V n newtran $var(r)\n");
        sl_send_reply("200", "ok");
        exit;
    }}
    t_newtran();
    $var(i) = $T(id_index);
    xlog("L_INFO", "V post rc=$T(reply_code) bi=$T(branch_index) rt=$T(reply_type)\n");
    $du = "sip:127.0.0.1:{}";
    t_on_reply("R"); t_on_failure("F"); t_on_branch("B");
    t_relay();
    xlog("L_INFO", "V relayed rc=$T(reply_code) bi=$T(branch_index)\n");
}}
branch_route[B] {{ xlog("L_INFO", "V B rc=$T(reply_code) bi=$T(branch_index) rt=$T(reply_type)\n"); }}
onreply_route[R] {{ xlog("L_INFO", "V R $rs rc=$T(reply_code) rr=$T(reply_reason) bi=$T(branch_index) rt=$T(reply_type)\n"); }}
failure_route[F] {{
    if ($T(id_index_n) == $T(id_index)) {{ xlog("L_INFO", "V F same\n"); }}
    xlog("L_INFO", "V F rc=$T(reply_code) rr=$T(reply_reason) bi=$T(branch_index) rt=$T(reply_type)\n");
}}
"#,
        hop.port()
    )));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:n@127.0.0.1", c.port(), "tn-1", ""),
    );
    assert!(s.wait_log("V n newtran", WAIT));
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "tn-2", ""),
    );
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&inv, from, "180 Ringing");
    assert!(s.wait_log("V R 180", WAIT));
    hop.answer(&inv, from, "486 Busy Here");
    assert!(s.wait_log("V F rc", WAIT));
    assert_eq!(
        lines_with(&s, "V "),
        vec![
            "V pre ii=<null> rc=0 rr= bi=0 rt=<null>",
            "V n same",
            "V n lookup yes",
            "V n newtran -10",
            "V pre ii=<null> rc=0 rr= bi=0 rt=<null>",
            "V post rc=0 bi=0 rt=0",
            "V B rc=100 bi=0 rt=0",
            "V relayed rc=100 bi=0",
            "V R 180 rc=180 rr=Ringing bi=0 rt=0",
            "V R 486 rc=486 rr=Busy Here bi=0 rt=0",
            "V F same",
            "V F rc=486 rr=Busy Here bi=1 rt=0",
        ]
    );
}

#[test]
fn failure_route_rearms_branch_failure_and_branch_route_moves_the_branch() {
    // Kamailio 5.6.3: a branch added by a failure route runs the
    // branch-failure route only when the failure route armed it again
    // (onreply_route stays armed); `$du` set in branch_route sends the branch
    // there.
    let hop = NextHop::new();
    let hop2 = NextHop::new();
    let s = Siprd::start(&cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $du = "sip:127.0.0.1:{h}";
    t_on_failure("F"); t_on_branch_failure("bf"); t_on_reply("R");
    if ($rU == "bdu") {{ t_on_branch("B"); }}
    t_relay();
}}
branch_route[B] {{ $du = "sip:127.0.0.1:{h2}"; }}
event_route[tm:branch-failure:bf] {{ xlog("L_INFO", "W $ci BF $T_reply_code\n"); }}
onreply_route[R] {{ xlog("L_INFO", "W $ci R $rs\n"); }}
failure_route[F] {{
    xlog("L_INFO", "W $ci F $T_reply_code\n");
    if ($avp(again) == $null) {{
        $avp(again) = 1;
        $du = "sip:127.0.0.1:{h}";
        if ($rU == "rearm") {{ t_on_branch_failure("bf"); }}
        t_relay();
    }}
}}
"#,
        h = hop.port(),
        h2 = hop2.port()
    )));
    let c = UdpClient::new();
    for user in ["ser", "rearm"] {
        let ci = format!("fr-{user}");
        c.send(
            s.udp_addr(),
            &request(
                "MESSAGE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &ci,
                "",
            ),
        );
        for code in ["404 Nope", "480 Gone"] {
            let (m, from) = hop.recv_start("MESSAGE", WAIT).expect("a branch");
            hop.answer(&m, from, code);
        }
        assert_eq!(c.collect_call(&ci, SHORT), vec!["SIP/2.0 480 Gone"]);
        let mut want = vec![
            format!("W {ci} R 404"),
            format!("W {ci} BF 404"),
            format!("W {ci} F 404"),
            format!("W {ci} R 480"),
        ];
        if user == "rearm" {
            want.push(format!("W {ci} BF 480"));
        }
        assert_eq!(lines_with(&s, &format!("W {ci} ")), want);
    }
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bdu@127.0.0.1", c.port(), "fr-bdu", ""),
    );
    assert_eq!(
        branches_seen(&hop2, SHORT),
        vec![("0".to_string(), "sip:bdu@127.0.0.1".to_string())]
    );
    assert_eq!(branches_seen(&hop, Duration::from_millis(50)), vec![]);
}

#[test]
fn retransmissions_get_the_last_relayed_reply() {
    // Kamailio 5.6.3 (siprd already did this): a retransmitted MESSAGE gets
    // the last relayed reply again (the 180 while ringing, then the 404) and
    // is not relayed again; a retransmitted INVITE after its 486 gets the 486.
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(&format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ t_check_trans(); exit; }}
    $du = "sip:127.0.0.1:{}";
    t_relay();
}}
"#,
        hop.port()
    )));
    let c = UdpClient::new();
    let m = request("MESSAGE", "sip:r@127.0.0.1", c.port(), "rx-msg", "");
    c.send(s.udp_addr(), &m);
    let (req, from) = hop.recv_start("MESSAGE", WAIT).expect("relayed");
    hop.answer(&req, from, "180 Ringing");
    assert_eq!(c.collect_call("rx-msg", SHORT), vec!["SIP/2.0 180 Ringing"]);
    c.send(s.udp_addr(), &m);
    assert_eq!(c.collect_call("rx-msg", SHORT), vec!["SIP/2.0 180 Ringing"]);
    hop.answer(&req, from, "404 Not Here");
    assert_eq!(
        c.collect_call("rx-msg", SHORT),
        vec!["SIP/2.0 404 Not Here"]
    );
    c.send(s.udp_addr(), &m);
    assert_eq!(
        c.collect_call("rx-msg", SHORT),
        vec!["SIP/2.0 404 Not Here"]
    );
    let again: Vec<_> = hop
        .collect(Duration::from_millis(100))
        .into_iter()
        .filter(|(m, _)| m.starts_with("MESSAGE") && header(m, "Call-ID") == Some("rx-msg"))
        .collect();
    // what the hop got after answering: at most timer retransmissions that
    // crossed the 180, never a new branch
    assert!(again
        .iter()
        .all(|(m, _)| header(m, "Via") == header(&req, "Via")));

    let m = request("INVITE", "sip:r@127.0.0.1", c.port(), "rx-inv", "");
    c.send(s.udp_addr(), &m);
    let (req, from) = hop.recv_start("INVITE", WAIT).expect("relayed");
    hop.answer(&req, from, "486 Busy Here");
    let got = c.collect_call("rx-inv", SHORT);
    assert_eq!(
        got,
        vec![
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 486 Busy Here"
        ]
    );
    c.send(s.udp_addr(), &m);
    let got = c.collect_call("rx-inv", Duration::from_millis(300));
    assert!(!got.is_empty());
    assert!(got.iter().all(|l| l == "SIP/2.0 486 Busy Here"), "{got:?}");
    assert!(hop
        .recv_start("INVITE", Duration::from_millis(200))
        .is_none());
}
