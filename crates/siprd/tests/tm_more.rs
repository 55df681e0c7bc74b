//! tm: transaction matching within Call-ID + CSeq, contacts forking, t_replicate,
//! local requests, undefined route names. The real binary on loopback.

mod common;
use common::*;
use std::time::Duration;

fn cfg(params: &str, routes: &str) -> String {
    tm_cfg(2, params, routes)
}

/// A request with a given branch, Call-ID and CSeq number.
fn req_b(method: &str, port: u16, branch: &str, call_id: &str, cseq: u32, to_tag: &str) -> String {
    let tt = if to_tag.is_empty() {
        String::new()
    } else {
        format!(";tag={to_tag}")
    };
    format!(
        "{method} sip:bob@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=f1\r\n\
         To: <sip:bob@127.0.0.1>{tt}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

const MATCHING: &str = r#"
request_route {
    xlog("L_INFO", "REQ $rm $ci $cs\n");
    if (is_method("ACK")) {
        if (t_check_trans()) { xlog("L_INFO", "ACK matched $ci $cs\n"); } else { xlog("L_INFO", "ACK nomatch $ci $cs\n"); }
        exit;
    }
    if (is_method("CANCEL")) {
        if (t_check_trans()) { xlog("L_INFO", "CANCEL matched $ci $cs\n"); t_relay(); exit; }
        xlog("L_INFO", "CANCEL nomatch $ci $cs\n");
        sl_send_reply("481", "No Transaction");
        exit;
    }
    if (!t_newtran()) { exit; }
    xlog("L_INFO", "NEW $rm $ci $cs\n");
    $var(r) = "R " + $ci + " " + $cs;
    if ($rU == "ring") { t_reply("180", "$var(r)"); exit; }
    t_reply("486", "$var(r)");
}
"#;

#[test]
fn same_branch_other_call_id_or_cseq_is_a_new_request() {
    // Kamailio 5.6: the transaction of a request is looked up among those with its Call-ID
    // and CSeq number; the branch alone does not make a retransmission.
    let s = Siprd::start(&cfg("", MATCHING));
    let c = UdpClient::new();
    let p = c.port();
    let br = "z9hG4bKsame-branch-1";
    // the first line of the final reply to a MESSAGE with this Call-ID and CSeq
    let reply = |call_id: &str, cseq: u32| {
        let r = c.request(s.udp_addr(), &req_b("MESSAGE", p, br, call_id, cseq, ""));
        first_line(&r).to_string()
    };
    assert_eq!(reply("call-aaaa-1111", 1), "SIP/2.0 486 R call-aaaa-1111 1");
    let r = reply("call-aaaa-1111", 1);
    assert_eq!(r, "SIP/2.0 486 R call-aaaa-1111 1", "a retransmission");
    let r = reply("call-bbbb-2222", 1);
    assert_eq!(r, "SIP/2.0 486 R call-bbbb-2222 1", "another Call-ID");
    let r = reply("call-aaaa-1111", 7);
    assert_eq!(r, "SIP/2.0 486 R call-aaaa-1111 7", "another CSeq");
    for l in [
        "NEW MESSAGE call-aaaa-1111 1\n",
        "NEW MESSAGE call-bbbb-2222 1\n",
        "NEW MESSAGE call-aaaa-1111 7\n",
    ] {
        assert!(s.wait_log(l, WAIT), "{l}");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        s.count_log("NEW MESSAGE call-aaaa-1111 1\n"),
        1,
        "one new request"
    );
}

#[test]
fn cancel_and_ack_match_only_their_call_id_and_cseq() {
    let s = Siprd::start(&cfg("", MATCHING));
    let c = UdpClient::new();
    let p = c.port();
    let br = "z9hG4bKinv-branch-1";
    let ring = |ci: &str| {
        format!(
            "INVITE sip:ring@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch={br}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=f1\r\nTo: <sip:ring@127.0.0.1>\r\n\
             Call-ID: {ci}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        )
    };
    c.send(s.udp_addr(), &ring("inv-xxxx-1"));
    let r = c.recv(WAIT).expect("180");
    assert_eq!(first_line(&r), "SIP/2.0 180 R inv-xxxx-1 1");
    c.send(s.udp_addr(), &ring("inv-yyyy-2"));
    let r = c.recv(WAIT).expect("180");
    assert_eq!(
        first_line(&r),
        "SIP/2.0 180 R inv-yyyy-2 1",
        "a second INVITE"
    );
    let r = c.request(s.udp_addr(), &req_b("CANCEL", p, br, "inv-zzzz-3", 1, ""));
    assert_eq!(first_line(&r), "SIP/2.0 481 No Transaction");
    let r = c.request(s.udp_addr(), &req_b("CANCEL", p, br, "inv-yyyy-2", 9, ""));
    assert_eq!(first_line(&r), "SIP/2.0 481 No Transaction");
    c.send(s.udp_addr(), &req_b("CANCEL", p, br, "inv-xxxx-1", 1, ""));
    let mut got = c.first_lines(Duration::from_millis(300));
    got.truncate(2); // the 487 is then retransmitted until ACKed
    assert_eq!(
        got,
        [
            "SIP/2.0 487 Request canceled",
            "SIP/2.0 200 ok -- no more pending branches"
        ]
    );
    assert!(s.wait_log("CANCEL matched inv-xxxx-1 1", WAIT));

    // ACK of a negative reply: only with the INVITE's Call-ID and CSeq number.
    let c = UdpClient::new(); // the 487 above is retransmitted to the first one
    let p = c.port();
    let br3 = "z9hG4bKinv-branch-3";
    let inv = req_b("INVITE", p, br3, "inv3-aaaa", 1, "");
    let r = c.request(s.udp_addr(), &inv);
    assert_eq!(first_line(&r), "SIP/2.0 486 R inv3-aaaa 1");
    let tag = header(&r, "To")
        .and_then(|t| t.split(";tag=").nth(1))
        .unwrap_or("")
        .to_string();
    c.send(s.udp_addr(), &req_b("ACK", p, br3, "inv3-bbbb", 1, &tag));
    assert!(s.wait_log("ACK nomatch inv3-bbbb 1", WAIT));
    c.send(s.udp_addr(), &req_b("ACK", p, br3, "inv3-aaaa", 2, &tag));
    assert!(s.wait_log("ACK nomatch inv3-aaaa 2", WAIT));
    // still retransmitting the 486
    assert!(c.recv(Duration::from_millis(1500)).is_some());
    c.drain();
    c.send(s.udp_addr(), &req_b("ACK", p, br3, "inv3-aaaa", 1, &tag));
    assert!(s.wait_log("REQ ACK inv3-aaaa 1", WAIT));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(s.count_log("ACK nomatch inv3-aaaa 1"), 0, "absorbed");
    c.drain();
    c.expect_silence(Duration::from_millis(2500));
}

#[test]
fn undefined_tm_route_names_load_with_a_warning_and_run_as_empty_routes() {
    let routes = r#"
request_route {
    t_newtran();
    t_on_failure("NOPE");
    t_on_branch("NOPE3");
    t_on_reply("NOPE2");
    t_on_branch_failure("NOPE4");
    if (t_is_set("failure_route")) { xlog("L_INFO", "fset\n"); }
    if (t_is_set("branch_route")) { xlog("L_INFO", "bset\n"); }
    if (t_is_set("onreply_route")) { xlog("L_INFO", "rset\n"); }
    t_relay_to_udp("127.0.0.1", "HOP");
}
"#;
    let hop = NextHop::new();
    let text = cfg("", &routes.replace("HOP", &hop.port().to_string()));
    let (code, out) = check_config(&text);
    assert_eq!(code, 0, "{out}");
    for w in [
        "failure_route[NOPE] is not defined",
        "branch_route[NOPE3] is not defined",
        "onreply_route[NOPE2] is not defined",
        "event_route[tm:branch-failure:NOPE4] is not defined",
    ] {
        assert!(out.contains(w), "{w}: {out}");
    }
    assert!(
        out.contains("siprd.cfg:") || out.contains("test.cfg:"),
        "file:line: {out}"
    );
    let s = Siprd::start(&text);
    let c = UdpClient::new();
    c.send_request(
        s.udp_addr(),
        "INVITE",
        "sip:bob@127.0.0.1",
        "tm-empty-routes",
    );
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed");
    hop.answer(&inv, from, "486 Busy Here");
    assert!(hop.recv_start("ACK", WAIT).is_some());
    let got = c.first_lines(Duration::from_millis(600));
    assert_eq!(
        got.first().map(String::as_str),
        Some("SIP/2.0 100 trying -- your call is important to us")
    );
    assert!(got.iter().any(|l| l == "SIP/2.0 486 Busy Here"), "{got:?}");
    for l in ["fset", "bset", "rset"] {
        assert!(s.wait_log(l, WAIT), "{l}");
    }
}

const SERIAL: &str = r#"
modparam("tm", "contacts_avp", "tm_contacts")
modparam("tm", "contact_flows_avp", "tm_contact_flows")
"#;

/// `cfg` with corex and tm's contacts AVPs (`t_load_contacts`, `t_next_contacts`).
fn serial_cfg(routes: &str) -> String {
    cfg(&format!("loadmodule \"corex.so\"\n{SERIAL}"), routes)
}

#[test]
fn serial_forking_by_q_value_with_t_next_contacts() {
    let busy = NextHop::new();
    let ok = NextHop::new();
    let (b, o) = (busy.port(), ok.port());
    let routes = format!(
        r#"
request_route {{
    if (is_method("ACK")) {{ t_relay(); exit; }}
    $ru = "sip:low@127.0.0.1:{o}";
    append_branch("sip:mid1@127.0.0.1:{b}", "0.5");
    append_branch("sip:mid2@127.0.0.1:{b}", "0.5");
    append_branch("sip:top@127.0.0.1:{b}", "1.0");
    $var(r) = t_load_contacts();
    xlog("L_INFO", "LOAD $var(r) n=$cnt($xavp(tm_contacts)) 0=$xavp(tm_contacts[0]=>uri) q0=$xavp(tm_contacts[0]=>q_flag) 1=$xavp(tm_contacts[1]=>uri) q1=$xavp(tm_contacts[1]=>q_flag) 2=$xavp(tm_contacts[2]=>uri) q2=$xavp(tm_contacts[2]=>q_flag) 3=$xavp(tm_contacts[3]=>uri) q3=$xavp(tm_contacts[3]=>q_flag) f=$xavp(tm_contacts[0]=>flags)\n");
    $var(n) = t_next_contacts();
    xlog("L_INFO", "NEXT $var(n) $ru left=$cnt($xavp(tm_contacts))\n");
    t_on_failure("serial");
    t_relay();
}}
failure_route[serial] {{
    xlog("L_INFO", "FSTART $ru\n");
    $var(n) = t_next_contacts();
    xlog("L_INFO", "FNEXT $var(n) $ru left=$cnt($xavp(tm_contacts))\n");
    if ($var(n) < 0) {{ exit; }}
    t_on_failure("serial");
    t_relay();
}}
"#
    );
    let s = Siprd::start(&serial_cfg(&routes));
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "tm-serial");
    assert!(s.wait_log("LOAD 1 n=4", WAIT), "{}", s.log());
    let l = s.log();
    assert!(
        l.contains(&format!(
            "0=sip:top@127.0.0.1:{b} q0=4 1=sip:mid2@127.0.0.1:{b} q1=0 2=sip:mid1@127.0.0.1:{b} q2=4 3=sip:low@127.0.0.1:{o} q3=0 f=0"
        )),
        "{l}"
    );
    // 1st leg: the highest q alone
    let (inv, from) = busy.recv_start("INVITE", WAIT).expect("top");
    assert!(
        inv.starts_with(&format!("INVITE sip:top@127.0.0.1:{b} ")),
        "{inv}"
    );
    assert!(s.wait_log(&format!("NEXT 1 sip:top@127.0.0.1:{b} left=3"), WAIT));
    busy.answer(&inv, from, "486 Busy Here");
    // 2nd leg: the two q=0.5 contacts in parallel, the one added last first
    let (i1, f1) = busy.recv_start("INVITE sip:mid", WAIT).expect("mid");
    let (i2, f2) = busy.recv_start("INVITE sip:mid", WAIT).expect("mid");
    assert!(i1.starts_with("INVITE sip:mid2@"), "{i1}");
    assert!(i2.starts_with("INVITE sip:mid1@"), "{i2}");
    assert!(s.wait_log(&format!("FNEXT 1 sip:mid2@127.0.0.1:{b} left=1"), WAIT));
    busy.answer(&i1, f1, "486 Busy Here");
    busy.answer(&i2, f2, "486 Busy Here");
    // every failure route starts from the R-URI the request route relayed
    // (Kamailio), not from the one the previous failure route set
    assert!(
        s.wait_log_count(&format!("FSTART sip:top@127.0.0.1:{b}\n"), 2, WAIT),
        "{}",
        s.log()
    );
    // 3rd leg: the R-URI (q unspecified: lowest), which answers 200
    let (i3, f3) = ok.recv_start("INVITE", WAIT).expect("low");
    assert!(
        i3.starts_with(&format!("INVITE sip:low@127.0.0.1:{o} ")),
        "{i3}"
    );
    ok.answer(&i3, f3, "200 OK");
    let got = c.first_lines(Duration::from_millis(700));
    assert!(got.iter().any(|l| l == "SIP/2.0 200 OK"), "{got:?}");
    assert!(!got.iter().any(|l| l.starts_with("SIP/2.0 486")), "{got:?}");
}

#[test]
fn t_load_contacts_return_codes_and_flows() {
    let routes = r#"
request_route {
    if ($rU == "one") {
        $var(r) = t_load_contacts();
        $var(n) = t_next_contacts();
        xlog("L_INFO", "ONE load=$var(r) next=$var(n) ru=$ru\n");
    } else if ($rU == "mode") {
        append_branch("sip:b@127.0.0.1", "0.5");
        $var(m) = 2;
        $var(r) = t_load_contacts("$var(m)");
        xlog("L_INFO", "MODE2 $var(r)\n");
        $var(r) = t_load_contacts("1");
        xlog("L_INFO", "MODE1 $var(r) n=$cnt($xavp(tm_contacts)) 0=$xavp(tm_contacts[0]=>uri) q0=$xavp(tm_contacts[0]=>q_flag) 1=$xavp(tm_contacts[1]=>uri) q1=$xavp(tm_contacts[1]=>q_flag)\n");
    } else if ($rU == "ins") {
        $ru = "sip:a@127.0.0.1";
        append_branch("sip:b@127.0.0.1", "0.5");
        append_branch("sip:c@127.0.0.1", "0.5");
        t_load_contacts();
        $xavp(tm_contacts[0]=>instance) = "i1";
        $xavp(tm_contacts[1]=>instance) = "i1";
        $var(n) = t_next_contacts();
        xlog("L_INFO", "INS next=$var(n) ru=$ru fl=$xavp(tm_contact_flows=>uri) cnt=$cnt($xavp(tm_contacts))\n");
    }
    sl_send_reply("404", "Not Here");
}
"#;
    let s = Siprd::start(&serial_cfg(routes));
    let c = UdpClient::new();
    for (user, ci) in [("one", "tl-1"), ("mode", "tl-2"), ("ins", "tl-3")] {
        let r = c.request_reply(
            s.udp_addr(),
            "MESSAGE",
            &format!("sip:{user}@127.0.0.1"),
            ci,
        );
        assert_eq!(first_line(&r), "SIP/2.0 404 Not Here");
    }
    assert!(
        s.wait_log("ONE load=1 next=-2 ru=sip:one@127.0.0.1\n", WAIT),
        "{}",
        s.log()
    );
    assert!(s.wait_log("MODE2 -1\n", WAIT));
    // proportional: the q > 0 contact first, the unspecified one as backup
    assert!(s.wait_log(
        "MODE1 1 n=2 0=sip:b@127.0.0.1 q0=4 1=sip:mode@127.0.0.1 q1=4\n",
        WAIT
    ));
    assert!(s.wait_log(
        "INS next=1 ru=sip:c@127.0.0.1 fl=sip:b@127.0.0.1 cnt=1\n",
        WAIT
    ));
}

#[test]
fn contacts_avp_without_contact_flows_avp_is_a_load_error() {
    let text = cfg(
        r#"modparam("tm", "contacts_avp", "tm_contacts")"#,
        "request_route { t_load_contacts(); }",
    );
    let (code, out) = check_config(&text);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("contact_flows_avp param has not been defined"),
        "{out}"
    );
    // without contacts_avp the functions fail (-1)
    let s = Siprd::start(&cfg(
        "",
        r#"request_route { $var(r) = t_load_contacts(); $var(n) = t_next_contacts(); xlog("L_INFO", "NOAVP $var(r) $var(n)\n"); sl_send_reply("404", "x"); }"#,
    ));
    let c = UdpClient::new();
    c.request_reply(s.udp_addr(), "MESSAGE", "sip:x@127.0.0.1", "tl-noavp");
    assert!(s.wait_log("NOAVP -1 -1\n", WAIT), "{}", s.log());
}

fn replicate_routes(hop: u16) -> String {
    format!(
        r#"
onreply_route[R1] {{ xlog("L_INFO", "TM REPLY $rs $ci\n"); }}
failure_route[F1] {{ xlog("L_INFO", "FAILURE $T_reply_code $ci\n"); }}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    if ($rU == "a") {{
        t_on_reply("R1"); t_on_failure("F1");
        $var(r) = t_replicate("sip:127.0.0.1:{hop}");
        xlog("L_INFO", "REP a rc=$var(r)\n");
        t_reply("202", "Accepted");
        exit;
    }}
    if ($rU == "b") {{
        t_on_reply("R1"); t_on_failure("F1");
        $var(r) = t_replicate("127.0.0.1", "{hop}");
        xlog("L_INFO", "REP b rc=$var(r)\n");
        exit;
    }}
    if ($rU == "c") {{
        $du = "sip:127.0.0.1:{hop}";
        $var(r) = t_replicate();
        $var(s) = t_relay_to_udp("127.0.0.1", "{hop}");
        xlog("L_INFO", "REP c rc=$var(r) relay=$var(s)\n");
        exit;
    }}
    if ($rU == "d") {{
        $var(r) = t_replicate_to("udp", "127.0.0.1:{hop}");
        $var(s) = t_replicate_udp("127.0.0.1", "{hop}");
        xlog("L_INFO", "REP d rc=$var(r) again=$var(s)\n");
        exit;
    }}
}}
"#
    )
}

/// Send `method` to user `user`; every first line received within `wait`.
fn exchange(
    c: &UdpClient,
    s: &Siprd,
    method: &str,
    user: &str,
    ci: &str,
    wait: Duration,
) -> Vec<String> {
    c.send_request(s.udp_addr(), method, &format!("sip:{user}@127.0.0.1"), ci);
    let end = std::time::Instant::now() + wait;
    let mut got = vec![];
    while std::time::Instant::now() < end {
        if let Some(m) = c.recv(Duration::from_millis(50)) {
            got.push(first_line(&m).to_string());
        }
    }
    got
}

#[test]
fn t_replicate_keeps_the_replicas_replies() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg("", &replicate_routes(hop.port())));
    let c = UdpClient::new();
    // the script's own reply goes up; the replica's 486 does not
    c.send_request(s.udp_addr(), "MESSAGE", "sip:a@127.0.0.1", "rep-a");
    let (m, from) = hop.recv_start("MESSAGE sip:a@", WAIT).expect("replica");
    assert_eq!(header(&m, "Call-ID"), Some("rep-a"));
    assert_eq!(
        first_line(&c.recv(WAIT).expect("202")),
        "SIP/2.0 202 Accepted"
    );
    hop.answer(&m, from, "486 Busy Here");
    assert!(s.wait_log("TM REPLY 486 rep-a", WAIT));
    c.expect_silence(Duration::from_millis(500));
    assert!(s.wait_log("REP a rc=1", WAIT));
    assert_eq!(s.count_log("FAILURE 486 rep-a"), 0, "already answered");

    // without a script reply: onreply and failure routes run, nothing goes up
    c.send_request(s.udp_addr(), "MESSAGE", "sip:b@127.0.0.1", "rep-b");
    let (m, from) = hop.recv_start("MESSAGE sip:b@", WAIT).expect("replica");
    hop.answer(&m, from, "486 Busy Here");
    assert!(s.wait_log("FAILURE 486 rep-b", WAIT), "{}", s.log());
    c.expect_silence(Duration::from_millis(600));

    // INVITE: the automatic 100, the replica's 200 stays here
    let got = exchange(&c, &s, "INVITE", "b", "rep-inv", Duration::from_millis(300));
    assert_eq!(got, ["SIP/2.0 100 trying -- your call is important to us"]);
    let (m, from) = hop.recv_start("INVITE sip:b@", WAIT).expect("replica");
    hop.answer(&m, from, "200 OK");
    assert!(s.wait_log("TM REPLY 200 rep-inv", WAIT));
    c.expect_silence(Duration::from_millis(600));
}

#[test]
fn t_replicate_forms_and_second_relay() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg("", &replicate_routes(hop.port())));
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "MESSAGE", "sip:c@127.0.0.1", "rep-c");
    assert!(s.wait_log("REP c rc=1 relay=-1", WAIT), "{}", s.log());
    let (m, from) = hop.recv_start("MESSAGE", WAIT).expect("replica");
    assert!(m.starts_with("MESSAGE sip:c@127.0.0.1 "), "$ru kept: {m}");
    hop.answer(&m, from, "200 OK");
    c.send_request(s.udp_addr(), "MESSAGE", "sip:d@127.0.0.1", "rep-d");
    assert!(s.wait_log("REP d rc=1 again=-1", WAIT), "{}", s.log());
    let (m, from) = hop.recv_start("MESSAGE", WAIT).expect("replica");
    assert_eq!(header(&m, "Call-ID"), Some("rep-d"));
    hop.answer(&m, from, "200 OK");
    assert!(
        hop.recv_start("MESSAGE", Duration::from_millis(300))
            .is_none(),
        "one copy"
    );
    c.expect_silence(Duration::from_millis(300));
    // request_route only
    let (code, out) = check_config(&cfg(
        "",
        "request_route { t_on_failure(\"F\"); t_relay(); }\nfailure_route[F] { t_replicate(\"sip:127.0.0.1:5\"); }",
    ));
    assert_ne!(code, 0, "{out}");
}

#[test]
fn t_uac_send_sends_a_local_request() {
    let hop = NextHop::new();
    let p = hop.port();
    let routes = format!(
        r#"
event_route[tm:local-request] {{
    xlog("L_INFO", "LOCALREQ $rm $ru $ci $cs $rb\n");
    xlog("L_INFO", "LOCALREQ-PV si=$si sp=$sp du=$du snd=$snd(ip):$snd(port) len=$(snd(buf){{s.len}}) ml=$ml tx=$(T(id_index){{s.len}})\n");
}}
request_route {{
    if ($rU == "opt") {{
        $var(r) = t_uac_send("OPTIONS", "sip:alice@127.0.0.1:{p}", "", "", "From: <sip:bob@example.org>;tag=2w3e\r\nTo: <sip:alice@example.org>\r\n", "");
        xlog("L_INFO", "UAC1 $var(r)\n");
    }} else if ($rU == "msg") {{
        $var(r) = t_uac_send("MESSAGE", "sip:alice@example.org", "sip:127.0.0.1:{p}", "", "From: <sip:bob@example.org>\r\nTo: <sip:alice@example.org>\r\nCall-ID: mycallid\r\nCSeq: 7 MESSAGE\r\nContent-Type: text/plain\r\n", "hello");
        xlog("L_INFO", "UAC2 $var(r)\n");
    }} else if ($rU == "inv") {{
        $var(r) = t_uac_send("INVITE", "sip:alice@127.0.0.1:{p}", "", "", "From: <sip:bob@example.org>;tag=x\r\nTo: <sip:alice@example.org>\r\n", "");
        xlog("L_INFO", "UAC3 $var(r)\n");
    }} else {{
        $var(a) = t_uac_send("OPTIONS", "sip:alice@127.0.0.1:{p}", "", "", "To: <sip:alice@example.org>\r\n", "");
        $var(b) = t_uac_send("MESSAGE", "sip:alice@127.0.0.1:{p}", "", "", "From: <sip:b@x>\r\nTo: <sip:a@x>\r\n", "no type");
        xlog("L_INFO", "UACERR $var(a) $var(b)\n");
    }}
    sl_send_reply("200", "ok");
}}
"#
    );
    let s = Siprd::start(&cfg("", &routes));
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "MESSAGE", "sip:opt@127.0.0.1", "uac-1");
    assert_eq!(first_line(&r), "SIP/2.0 200 ok");
    let (m, from) = hop.recv_start("OPTIONS", WAIT).expect("local request");
    let lines: Vec<&str> = m.split("\r\n").collect();
    assert_eq!(lines[0], format!("OPTIONS sip:alice@127.0.0.1:{p} SIP/2.0"));
    assert!(lines[1].starts_with("Via: SIP/2.0/UDP 127.0.0.1:"), "{m}");
    assert!(lines[1].contains(";branch=z9hG4bK"), "{m}");
    assert_eq!(lines[2], "To: <sip:alice@example.org>");
    assert_eq!(lines[3], "From: <sip:bob@example.org>;tag=2w3e");
    assert_eq!(lines[4], "CSeq: 10 OPTIONS");
    assert!(
        lines[5].starts_with("Call-ID: ") && lines[5].contains('@'),
        "{m}"
    );
    assert_eq!(lines[6], "Max-Forwards: 70");
    assert_eq!(lines[7], "Content-Length: 0");
    assert!(lines[8].starts_with("User-Agent: "), "{m}");
    assert_eq!(lines[9], "");
    // retransmitted over UDP until answered; the answer goes nowhere
    let (again, _) = hop
        .recv_start("OPTIONS", Duration::from_millis(1200))
        .expect("retransmission");
    assert_eq!(again, m);
    hop.answer(&m, from, "200 OK");
    assert!(s.wait_log("UAC1 1", WAIT));
    let ci = header(&m, "Call-ID").unwrap_or("").to_string();
    assert!(
        s.wait_log(
            &format!("LOCALREQ OPTIONS sip:alice@127.0.0.1:{p} {ci} 10 \n"),
            WAIT
        ),
        "{}",
        s.log()
    );
    // Kamailio 5.6: the route's receive info is our sending socket, $du the
    // next hop, $snd(...) the destination and the bytes, $T its transaction
    let sport = s.udp_addr().port();
    let want = format!(
        "LOCALREQ-PV si=127.0.0.1 sp={sport} du=sip:alice@127.0.0.1:{p} snd=127.0.0.1:{p} len={n} ml={n} tx=",
        n = m.len()
    );
    assert!(s.wait_log(&want, WAIT), "{want}\n{}", s.log());
    assert!(!s.log().contains("tx=0\n"), "{}", s.log());
    assert!(
        hop.recv_start("OPTIONS", Duration::from_millis(1200))
            .is_none(),
        "answered"
    );
    c.expect_silence(Duration::from_millis(100));

    c.request_reply(s.udp_addr(), "MESSAGE", "sip:msg@127.0.0.1", "uac-2");
    let (m, from) = hop.recv_start("MESSAGE", WAIT).expect("local request");
    assert!(
        m.starts_with("MESSAGE sip:alice@example.org SIP/2.0\r\n"),
        "{m}"
    );
    assert!(
        m.contains("\r\nCSeq: 7 MESSAGE\r\nCall-ID: mycallid\r\n"),
        "{m}"
    );
    assert!(m.contains("\r\nContent-Length: 5\r\n"), "{m}");
    assert!(
        m.ends_with("\r\nContent-Type: text/plain\r\n\r\nhello"),
        "{m}"
    );
    let from_hdr = header(&m, "From").unwrap_or("");
    let tag = from_hdr.split(";tag=").nth(1).unwrap_or("");
    assert_eq!(tag.len(), 41, "generated From tag: {from_hdr}");
    hop.answer(&m, from, "202 Accepted");
    assert!(s.wait_log(
        "LOCALREQ MESSAGE sip:alice@example.org mycallid 7 hello",
        WAIT
    ));

    // a negative reply to a local INVITE is ACKed
    c.request_reply(s.udp_addr(), "MESSAGE", "sip:inv@127.0.0.1", "uac-3");
    let (m, from) = hop.recv_start("INVITE", WAIT).expect("local INVITE");
    hop.answer(&m, from, "486 Busy Here");
    let (ack, _) = hop.recv_start("ACK", WAIT).expect("ACK");
    assert!(ack.contains("\r\nCSeq: 10 ACK\r\n"), "{ack}");
    assert!(ack.contains(";tag=hoptag"), "{ack}");

    c.request_reply(s.udp_addr(), "MESSAGE", "sip:err@127.0.0.1", "uac-4");
    assert!(s.wait_log("UACERR -1 -1", WAIT));
    assert!(hop
        .recv_start("OPTIONS", Duration::from_millis(300))
        .is_none());
}

#[test]
fn rpc_t_uac_start_and_wait_block() {
    let hop = NextHop::new();
    let p = hop.port();
    let rpc_port = free_udp_port();
    let params = format!(
        r#"loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")"#
    );
    let s = Siprd::start(&cfg(&params, "request_route { drop; }"));
    let call = |params: serde_json::Value| {
        let req = serde_json::json!({"jsonrpc": "2.0", "method": params[0], "params": params[1], "id": 1});
        rpc_datagram(rpc_port, req.to_string().as_bytes(), Duration::from_secs(5))
            .expect("rpc reply")
    };
    let ruri = format!("sip:alice@127.0.0.1:{p}");
    let hdrs = "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nContent-Type: text/plain\r\n";
    // start: no result, the request goes out
    let r = call(serde_json::json!([
        "tm.t_uac_start",
        ["OPTIONS", ruri, ".", ".", hdrs, ""]
    ]));
    assert!(r.get("error").is_none(), "{r}");
    let (m, from) = hop.recv_start("OPTIONS", WAIT).expect("request");
    assert!(m.contains("\r\nFrom: <sip:a@x>;tag=1\r\n"), "{m}");
    hop.answer(&m, from, "200 OK");
    // errors, as Kamailio's
    let r = call(serde_json::json!([
        "tm.t_uac_start",
        [
            "OPTIONS",
            ruri,
            ".",
            ".",
            "From: <sip:a@x>\r\nTo: <sip:b@x>\r\n",
            ""
        ]
    ]));
    assert_eq!(r["error"]["code"], 400, "{r}");
    assert_eq!(r["error"]["message"], "Content-Type missing", "{r}");
    let r = call(serde_json::json!([
        "tm.t_uac_start",
        [
            "OPTIONS",
            ruri,
            ".",
            ".",
            "To: <sip:b@x>\r\nContent-Type: a/b\r\n",
            ""
        ]
    ]));
    assert_eq!(r["error"]["message"], "From missing", "{r}");
    let r = call(serde_json::json!([
        "tm.t_uac_start",
        ["OPTIONS", "bad uri", ".", ".", hdrs, ""]
    ]));
    assert_eq!(
        r["error"]["message"], "Invalid request uri \"bad uri\"",
        "{r}"
    );
    let r = call(serde_json::json!(["tm.t_uac_start", ["OPTIONS"]]));
    assert_eq!(r["error"]["code"], 400, "{r}");
    // wait_block: the final reply's code and text
    let first_ci = header(&m, "Call-ID").unwrap_or("").to_string();
    let h = std::thread::spawn(move || loop {
        // (skipping a late retransmission of the first request)
        let (m, from) = hop.recv_start("OPTIONS", WAIT).expect("request");
        if header(&m, "Call-ID") != Some(first_ci.as_str()) {
            hop.answer(&m, from, "486 Busy");
            break;
        }
    });
    let r = call(serde_json::json!([
        "tm.t_uac_wait_block",
        ["OPTIONS", ruri, ".", ".", hdrs, ""]
    ]));
    h.join().expect("hop");
    assert_eq!(r["result"]["code"], 486, "{r}");
    assert_eq!(r["result"]["text"], "Busy", "{r}");
    drop(s);
}

#[test]
fn t_cancel_callid_cancels_with_reason_and_sets_the_flag() {
    let hop = NextHop::new();
    let routes = format!(
        r#"
failure_route[F] {{
    if (isflagset(5)) {{ xlog("L_INFO", "FAILURE flag5 $T_reply_code\n"); }} else {{ xlog("L_INFO", "FAILURE noflag $T_reply_code\n"); }}
}}
request_route {{
    if (is_method("ACK")) {{ t_relay(); exit; }}
    if (is_method("MESSAGE")) {{
        $var(r) = t_cancel_callid("$hdr(X-CI)", "1", "5", "200");
        $var(n) = t_cancel_callid("nope", "1", "5");
        $var(u) = t_use_uac_headers();
        $var(c) = t_clean();
        xlog("L_INFO", "CANCELCALLID $var(r) $var(n) $var(u) $var(c)\n");
        sl_send_reply("200", "ok");
        exit;
    }}
    t_on_failure("F");
    t_relay_to_udp("127.0.0.1", "{}");
}}
"#,
        hop.port()
    );
    let s = Siprd::start(&cfg("", &routes));
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "cc-1");
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("INVITE");
    hop.answer(&inv, from, "180 Ringing");
    assert!(c.recv_from(WAIT).is_some());
    c.drain();
    let r = c.request(
        s.udp_addr(),
        &request(
            "MESSAGE",
            "sip:x@127.0.0.1",
            c.port(),
            "cc-m",
            "X-CI: cc-1\r\n",
        ),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 ok");
    assert!(s.wait_log("CANCELCALLID 1 -1 1 1", WAIT), "{}", s.log());
    let (cancel, from) = hop.recv_start("CANCEL", WAIT).expect("CANCEL");
    assert!(
        cancel.ends_with(
            "Content-Length: 0\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n\r\n"
        ),
        "{cancel}"
    );
    hop.answer(&cancel, from, "200 OK");
    hop.answer(&inv, from, "487 Request Terminated");
    assert!(s.wait_log("FAILURE flag5 487", WAIT), "{}", s.log());
}

#[test]
fn t_reuse_branch_takes_the_failed_branch() {
    let a = NextHop::new();
    let b = NextHop::new();
    let routes = format!(
        r#"
event_route[tm:branch-failure:bf] {{
    xlog("L_INFO", "BF before $ru\n");
    $var(r) = t_reuse_branch();
    xlog("L_INFO", "BF after $var(r) $ru\n");
}}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $var(r) = t_reuse_branch();
    xlog("L_INFO", "RQ $var(r)\n");
    $ru = "sip:a@127.0.0.1:{}";
    append_branch("sip:b@127.0.0.1:{}");
    t_on_branch_failure("bf");
    t_relay();
}}
"#,
        a.port(),
        b.port()
    );
    let s = Siprd::start(&cfg("", &routes));
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "reuse-1");
    assert!(s.wait_log("RQ -1", WAIT));
    let (ia, fa) = a.recv_start("INVITE", WAIT).expect("a");
    let (ib, fb) = b.recv_start("INVITE", WAIT).expect("b");
    b.answer(&ib, fb, "486 Busy Here");
    assert!(
        s.wait_log(&format!("BF after 1 sip:b@127.0.0.1:{}", b.port()), WAIT),
        "{}",
        s.log()
    );
    a.answer(&ia, fa, "486 Busy Here");
}

/// Start a KEMI config: pv, sl, `mods`, then app_lua with `lua` as its script.
fn start_lua(mods: &str, lua: &str) -> Siprd {
    let text = format!(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
{mods}
loadmodule "app_lua.so"
modparam("app_lua", "load", "kemi.lua")
cfgengine "lua"
"#
    );
    Siprd::start_with(&text, &[("kemi.lua", lua)], &[])
}

#[test]
fn kemi_t_relay_to_proto_and_tm_names() {
    let hop = NextHop::new();
    let lua = format!(
        r#"
function ksr_request_route()
  if KSR.pv.get("$rU") == "bad" then
    KSR.xlog.xinfo("PROTO " .. KSR.tm.t_relay_to_proto("sctp") .. "\n")
    KSR.sl.send_reply(500, "no")
    return
  end
  KSR.setdsturi("sip:127.0.0.1:{port}")
  if KSR.tm.t_relay_to_proto("udp") < 0 then
    KSR.sl.send_reply(500, "relay failed")
  end
end
"#,
        port = hop.port()
    );
    let s = start_lua(
        "loadmodule \"xlog.so\"\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"",
        &lua,
    );
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "MESSAGE", "sip:b@example.org", "kemi-proto");
    let (req, from) = hop.recv_start("MESSAGE", WAIT).expect("relayed");
    hop.answer(&req, from, "200 OK");
    assert_eq!(first_line(&c.recv(WAIT).expect("reply")), "SIP/2.0 200 OK");
    let r = c.request_reply(
        s.udp_addr(),
        "MESSAGE",
        "sip:bad@example.org",
        "kemi-proto-2",
    );
    assert_eq!(first_line(&r), "SIP/2.0 500 no");
    assert!(s.wait_log("PROTO -1", WAIT), "{}", s.log());
    // Kamailio 5.6's KEMI names of the functions added here
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siprd"))
        .arg("--kemi-list")
        .output()
        .expect("kemi list");
    let list = String::from_utf8_lossy(&out.stdout).into_owned();
    for name in [
        "KSR.tm.t_load_contacts`",
        "KSR.tm.t_next_contacts`",
        "KSR.tm.t_next_contact_flow`",
        "KSR.tm.t_replicate`",
        "KSR.tm.t_uac_send`",
        "KSR.tm.t_use_uac_headers`",
        "KSR.tm.t_clean`",
        "KSR.tm.t_lookup_cancel_flags`",
        "KSR.tm.t_drop_replies_all`",
        "KSR.tmx.t_cancel_callid`",
        "KSR.tmx.t_cancel_callid_reason`",
        "KSR.tmx.t_drop_rcode`",
        "KSR.tmx.t_reuse_branch`",
        "KSR.tm.t_relay_to_proto(proto)",
    ] {
        assert!(list.contains(name), "{name} missing from --kemi-list");
    }
}

#[test]
fn t_next_contact_flow_in_branch_failure() {
    let first = NextHop::new();
    let flow = NextHop::new();
    let (p1, p2) = (first.port(), flow.port());
    let routes = format!(
        r#"
event_route[tm:branch-failure:bf] {{
    xlog("L_INFO", "BF $T_reply_code $ru flows=$cnt($xavp(tm_contact_flows))\n");
    $var(r) = t_next_contact_flow();
    xlog("L_INFO", "FLOW $var(r) flows=$cnt($xavp(tm_contact_flows))\n");
    if ($var(r) == 1) {{ t_relay(); }}
    $var(r) = t_next_contact_flow();
    xlog("L_INFO", "FLOW2 $var(r)\n");
}}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $var(r) = t_next_contact_flow();
    xlog("L_INFO", "RQFLOW $var(r)\n");
    $ru = "sip:low@127.0.0.1:9";
    append_branch("sip:a1@127.0.0.1:{p2}", "0.5");
    append_branch("sip:a2@127.0.0.1:{p1}", "0.5");
    t_load_contacts();
    $xavp(tm_contacts[0]=>instance) = "i1";
    $xavp(tm_contacts[1]=>instance) = "i1";
    $var(n) = t_next_contacts();
    xlog("L_INFO", "NEXT $var(n) $ru flows=$xavp(tm_contact_flows=>uri)\n");
    t_on_branch_failure("bf");
    t_relay();
}}
"#
    );
    let s = Siprd::start(&serial_cfg(&routes));
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "flow-1");
    assert!(s.wait_log("RQFLOW -2", WAIT), "{}", s.log());
    assert!(s.wait_log(
        &format!("NEXT 1 sip:a2@127.0.0.1:{p1} flows=sip:a1@127.0.0.1:{p2}"),
        WAIT
    ));
    // the contact with the same instance went to the flows, not out
    let (i1, f1) = first.recv_start("INVITE", WAIT).expect("a2");
    assert!(i1.starts_with("INVITE sip:a2@"), "{i1}");
    assert!(flow
        .recv_start("INVITE", Duration::from_millis(200))
        .is_none());
    first.answer(&i1, f1, "486 Busy Here");
    assert!(s.wait_log("FLOW 1 flows=0", WAIT), "{}", s.log());
    assert!(s.wait_log("FLOW2 -2", WAIT));
    // the flow's branch alone (the failed R-URI is not sent again)
    let (i2, f2) = flow.recv_start("INVITE", WAIT).expect("a1");
    assert!(i2.starts_with("INVITE sip:a1@"), "{i2}");
    assert!(first
        .recv_start("INVITE", Duration::from_millis(300))
        .is_none());
    flow.answer(&i2, f2, "200 OK");
    let got = c.first_lines(Duration::from_millis(500));
    assert!(got.iter().any(|l| l == "SIP/2.0 200 OK"), "{got:?}");
}

#[test]
fn failure_route_relays_only_new_branches_unless_the_ruri_changed() {
    let first = NextHop::new();
    let second = NextHop::new();
    let (p1, p2) = (first.port(), second.port());
    let routes = format!(
        r#"
failure_route[F] {{
    xlog("L_INFO", "FAILURE $T_reply_code $ru\n");
    if ($ru =~ "first" && $T_reply_code == 486) {{
        if ($hdr(X-Mode) == "du") {{ $du = "sip:127.0.0.1:{p2}"; }}
        else if ($hdr(X-Mode) == "none") {{ xlog("L_INFO", "none\n"); }}
        else {{ append_branch("sip:second@127.0.0.1:{p2}"); }}
        $var(r) = t_relay();
        xlog("L_INFO", "FRELAY $var(r)\n");
    }}
}}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $ru = "sip:first@127.0.0.1:{p1}";
    t_on_failure("F");
    t_relay();
}}
"#
    );
    let s = Siprd::start(&cfg("", &routes));
    let c = UdpClient::new();
    for (ci, extra) in [("fr-plain", ""), ("fr-du", "X-Mode: du\r\n")] {
        c.send(
            s.udp_addr(),
            &request("INVITE", "sip:bob@127.0.0.1", c.port(), ci, extra),
        );
        let (i1, f1) = first.recv_start("INVITE", WAIT).expect("first");
        first.answer(&i1, f1, "486 Busy Here");
        let (i2, f2) = second.recv_start("INVITE", WAIT).expect("second");
        if ci == "fr-plain" {
            assert!(i2.starts_with("INVITE sip:second@"), "{i2}");
            // the failed R-URI is not tried again
            assert!(first
                .recv_start("INVITE", Duration::from_millis(300))
                .is_none());
        } else {
            // a new $du makes the R-URI a branch again
            assert!(i2.starts_with("INVITE sip:first@"), "{i2}");
        }
        second.answer(&i2, f2, "200 OK");
        assert!(s.wait_log_count("FRELAY 1", if ci == "fr-plain" { 1 } else { 2 }, WAIT));
        while c.recv(Duration::from_millis(300)).is_some() {}
    }
    // nothing new to send: -1 (Kamailio: "no branches for forwarding")
    c.send(
        s.udp_addr(),
        &request(
            "INVITE",
            "sip:bob@127.0.0.1",
            c.port(),
            "fr-none",
            "X-Mode: none\r\n",
        ),
    );
    let (i1, f1) = first.recv_start("INVITE", WAIT).expect("first");
    first.answer(&i1, f1, "486 Busy Here");
    assert!(s.wait_log("FRELAY -1", WAIT), "{}", s.log());
    let got = c.first_lines(Duration::from_millis(500));
    assert!(got.iter().any(|l| l == "SIP/2.0 486 Busy Here"), "{got:?}");
}

#[test]
fn t_continue_to_an_undefined_route_returns_minus_one() {
    let s = Siprd::start(&cfg(
        "",
        r#"request_route { $var(r) = t_continue("1", "2", "NOPE"); xlog("L_INFO", "CONT $var(r)\n"); sl_send_reply("200", "ok"); }"#,
    ));
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "MESSAGE", "sip:x@127.0.0.1", "cont-nope");
    assert_eq!(first_line(&r), "SIP/2.0 200 ok");
    assert!(s.wait_log("CONT -1", WAIT), "{}", s.log());
}

#[test]
fn kemi_t_on_failure_empty_name_disarms() {
    let lua = r#"
function ksr_request_route()
  KSR.tm.t_on_failure("ksr_failure")
  local a = KSR.tm.t_is_set("failure_route")
  local r = KSR.tm.t_on_failure("")
  local b = KSR.tm.t_is_set("failure_route")
  KSR.sl.send_reply(200, "set " .. a .. " " .. r .. " " .. b)
end
function ksr_failure() end
"#;
    let s = start_lua("loadmodule \"tm.so\"", lua);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "MESSAGE", "sip:x@127.0.0.1", "kemi-disarm");
    assert_eq!(first_line(&r), "SIP/2.0 200 set 1 1 -1", "{}", s.log());
}

#[test]
fn t_load_contacts_in_failure_route_leaves_out_the_used_ruri() {
    let hop = NextHop::new();
    let p = hop.port();
    let routes = format!(
        r#"
failure_route[F] {{
    if ($hdr(X-Mode) == "one") {{
        append_branch("sip:b1@127.0.0.1:9", "0.5");
    }} else {{
        append_branch("sip:b1@127.0.0.1:9", "0.5");
        append_branch("sip:b2@127.0.0.1:9", "1.0");
    }}
    $var(r) = t_load_contacts();
    xlog("L_INFO", "FLOAD $var(r) n=$cnt($xavp(tm_contacts)) 0=$xavp(tm_contacts[0]=>uri) 1=$xavp(tm_contacts[1]=>uri)\n");
    $var(n) = t_next_contacts();
    xlog("L_INFO", "FNEXT $var(n) $ru\n");
}}
request_route {{
    if (is_method("ACK")) {{ exit; }}
    $ru = "sip:first@127.0.0.1:{p}";
    t_on_failure("F");
    t_relay();
}}
"#
    );
    let s = Siprd::start(&serial_cfg(&routes));
    let c = UdpClient::new();
    for (ci, extra) in [("fl-two", ""), ("fl-one", "X-Mode: one\r\n")] {
        c.send(
            s.udp_addr(),
            &request("INVITE", "sip:bob@127.0.0.1", c.port(), ci, extra),
        );
        let (i, f) = hop.recv_start("INVITE", WAIT).expect("first");
        hop.answer(&i, f, "486 Busy Here");
        assert!(s.wait_log("FNEXT", WAIT));
        while c.recv(Duration::from_millis(300)).is_some() {}
    }
    assert!(
        s.wait_log(
            "FLOAD 1 n=2 0=sip:b2@127.0.0.1:9 1=sip:b1@127.0.0.1:9\n",
            WAIT
        ),
        "{}",
        s.log()
    );
    assert!(s.wait_log("FNEXT 1 sip:b2@127.0.0.1:9\n", WAIT));
    assert!(
        s.wait_log("FLOAD 1 n=0 0=<null> 1=<null>\n", WAIT),
        "{}",
        s.log()
    );
    assert!(s.wait_log(&format!("FNEXT -2 sip:first@127.0.0.1:{p}\n"), WAIT));
}

/// Kamailio 5.6 ACKs the first 2xx to a local INVITE itself: R-URI the
/// Contact, the INVITE's Via (same branch), From and Call-ID, the 2xx's To,
/// the Record-Route set reversed into one Route line, sent to the first loose
/// route (else the Contact); a strict first route becomes the R-URI with the
/// Contact last in Route. No Contact, no ACK; a retransmitted 2xx is not ACKed
/// again.
#[test]
fn a_2xx_to_a_local_invite_is_acked_as_kamailio() {
    let hop = NextHop::new();
    let p = hop.port();
    let (router, contact) = (NextHop::new(), NextHop::new());
    let routes = format!(
        r#"
request_route {{
    t_uac_send("INVITE", "sip:alice@127.0.0.1:{p}", "", "", "From: <sip:bob@example.org>;tag=x\r\nTo: <sip:alice@example.org>\r\nContact: <sip:bob@127.0.0.1>\r\n", "");
    sl_send_reply("200", "ok");
}}
"#
    );
    let s = Siprd::start(&cfg("", &routes));
    let c = UdpClient::new();
    let answer = |extra: &str, id: &str| {
        c.request_reply(s.udp_addr(), "MESSAGE", "sip:inv@127.0.0.1", id);
        let (m, from) = hop.recv_start("INVITE", WAIT).expect("local INVITE");
        let ok = hop_reply(&m, "200 OK").replacen(
            "Content-Length: 0\r\n",
            &format!("{extra}Content-Length: 0\r\n"),
            1,
        );
        hop.sock.send_to(ok.as_bytes(), from).expect("send");
        (m, ok, from)
    };
    let line = |m: &str, name: &str| {
        m.split("\r\n")
            .find(|l| l.starts_with(name))
            .unwrap_or("")
            .to_string()
    };

    // Loose routing: to the router, Request-URI the Contact.
    let (cp, rp) = (contact.port(), router.port());
    let (inv, ok, from) = answer(
        &format!(
            "Record-Route: <sip:10.0.0.9:5099;lr>, <sip:10.0.0.8;lr>\r\nRecord-Route: <sip:127.0.0.1:{rp};lr;foo=bar>\r\nContact: \"U\" <sip:uas@127.0.0.1:{cp};x=1>;expires=5\r\n"
        ),
        "ack-1",
    );
    let (ack, _) = router.recv_start("ACK", WAIT).expect("ACK to the router");
    let lines: Vec<&str> = ack.split("\r\n").collect();
    assert_eq!(lines[0], format!("ACK sip:uas@127.0.0.1:{cp};x=1 SIP/2.0"));
    assert_eq!(lines[1], line(&inv, "Via:"));
    assert_eq!(lines[2], line(&inv, "From:"));
    assert_eq!(lines[3], line(&inv, "Call-ID:"));
    assert_eq!(lines[4], "To: <sip:alice@example.org>;tag=hoptag");
    assert_eq!(lines[5], "CSeq: 10 ACK");
    assert_eq!(
        lines[6],
        format!(
            "Route: <sip:127.0.0.1:{rp};lr;foo=bar>, <sip:10.0.0.8;lr>, <sip:10.0.0.9:5099;lr>"
        )
    );
    assert!(lines[7].starts_with("User-Agent: "), "{ack}");
    assert_eq!(&lines[8..], ["Content-Length: 0", "", ""]);
    // the 2xx again: no second ACK
    hop.sock.send_to(ok.as_bytes(), from).expect("send");
    assert!(router
        .recv_start("ACK", Duration::from_millis(300))
        .is_none());

    // No Record-Route: to the Contact.
    answer(&format!("Contact: <sip:uas@127.0.0.1:{cp}>\r\n"), "ack-2");
    let (ack, _) = contact.recv_start("ACK", WAIT).expect("ACK to the Contact");
    assert!(
        ack.starts_with(&format!("ACK sip:uas@127.0.0.1:{cp} SIP/2.0\r\n")),
        "{ack}"
    );
    assert!(!ack.contains("Route:"), "{ack}");

    // A strict router: it is the Request-URI, the Contact the last Route.
    answer(
        &format!("Record-Route: <sip:127.0.0.1:{rp}>\r\nContact: <sip:uas@127.0.0.1:{cp}>\r\n"),
        "ack-3",
    );
    let (ack, _) = router
        .recv_start("ACK", WAIT)
        .expect("ACK to the strict router");
    assert!(
        ack.starts_with(&format!("ACK sip:127.0.0.1:{rp} SIP/2.0\r\n")),
        "{ack}"
    );
    assert_eq!(
        line(&ack, "Route:"),
        format!("Route: <sip:uas@127.0.0.1:{cp}>")
    );

    // No Contact: no ACK anywhere.
    answer("", "ack-4");
    for h in [&hop, &router, &contact] {
        assert!(h.recv_start("ACK", Duration::from_millis(200)).is_none());
    }
}

/// Kamailio 5.6: `$fs` chooses the socket of the R-URI's branch,
/// `append_branch` copies it into the new branch, and `$branch(send_socket)`
/// / `$branch(path)` change a branch: it goes out of that socket (its Via
/// says so) with its Path as a Route header right after the Via. Sockets
/// read as `udp:ip:port`; one naming no listener leaves none.
#[test]
fn branch_send_socket_and_path_as_kamailio() {
    let second = free_udp_port();
    let (hop, other) = (NextHop::new(), NextHop::new());
    let (hp, op) = (hop.port(), other.port());
    let cfg = tm_cfg(
        1,
        &format!("listen=udp:127.0.0.1:{second}"),
        &format!(
            r#"
request_route {{
    $fs = "127.0.0.1:{second}";
    $ru = "sip:b@127.0.0.1:{op}";
    append_branch();
    $fs = "udp:9.9.9.9:1";
    xlog("L_INFO", "FS [$fs] [$(branch(send_socket)[0])]\n");
    $(branch(path)[0]) = "<sip:127.0.0.1:1;lr>, <sip:127.0.0.1:2;lr>";
    $(branch(path)[0]) = 5;
    $ru = "sip:main@127.0.0.1:{hp}";
    t_relay();
    exit;
}}
"#
        ),
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "bss-1", ""),
    );
    assert!(
        s.wait_log(&format!("FS [<null>] [udp:127.0.0.1:{second}]"), WAIT),
        "{}",
        s.log()
    );
    assert!(s.wait_log("str value required to set branch path", WAIT));
    // the R-URI's branch: the receiving socket, no Route
    let (main, from) = hop.recv_start("INVITE", WAIT).expect("main branch");
    assert_eq!(from, s.udp_addr(), "{main}");
    assert!(!main.contains("\r\nRoute:"), "{main}");
    // the appended branch: its socket, its Path after its Via
    let (b, from) = other.recv_start("INVITE", WAIT).expect("appended branch");
    assert_eq!(from.port(), second, "{b}");
    let lines: Vec<&str> = b.split("\r\n").collect();
    assert_eq!(lines[0], format!("INVITE sip:b@127.0.0.1:{op} SIP/2.0"));
    assert!(
        lines[1].starts_with(&format!("Via: SIP/2.0/UDP 127.0.0.1:{second};branch=")),
        "{b}"
    );
    assert!(lines[1].ends_with(".1"), "{b}");
    assert_eq!(
        lines[2],
        "Route: <sip:127.0.0.1:1;lr>, <sip:127.0.0.1:2;lr>"
    );
    assert!(lines[3].starts_with("Via: SIP/2.0/UDP 127.0.0.1:"), "{b}");
}

/// `fr_timer_avp` / `fr_inv_timer_avp`: an AVP holding seconds (an int or
/// digits) when the transaction is created gives it that timer; `t_set_fr`
/// wins over it (both observed on Kamailio 5.6.3). The defaults (30 s / 120 s)
/// would outlast the waits below.
#[test]
fn timer_avps_set_the_transaction_timers() {
    let hop = NextHop::new();
    let s = Siprd::start(&tm_cfg(
        1,
        r#"modparam("tm", "fr_timer_avp", "$avp(callee_fr_timer)")
modparam("tm", "fr_inv_timer_avp", "$avp(s:callee_fr_inv_timer)")"#,
        &format!(
            r#"
request_route {{
    if ($rU == "avp") {{ $avp(callee_fr_timer) = 1; }}
    if ($rU == "setfr") {{
        $avp(callee_fr_timer) = 60;
        t_set_fr(0, 1000);
    }}
    if ($rU == "inv") {{ $avp(callee_fr_inv_timer) = "1"; }}
    $du = "sip:127.0.0.1:{}";
    t_relay();
}}
"#,
            hop.port()
        ),
    ));
    let c = UdpClient::new();
    for user in ["avp", "setfr"] {
        let r = c.request_reply(
            s.udp_addr(),
            "OPTIONS",
            &format!("sip:{user}@127.0.0.1"),
            &format!("fra-{user}"),
        );
        assert_eq!(first_line(&r), "SIP/2.0 408 Request Timeout", "{user}");
    }
    // fr_inv_timer runs once a provisional reply came
    let inv = UdpClient::new();
    inv.send_request(s.udp_addr(), "INVITE", "sip:inv@127.0.0.1", "fra-inv");
    let (req, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&req, from, "180 Ringing");
    let deadline = std::time::Instant::now() + WAIT;
    let mut finals = Vec::new();
    while finals.is_empty() && std::time::Instant::now() < deadline {
        if let Some(r) = inv.recv(Duration::from_millis(200)) {
            if !r.starts_with("SIP/2.0 1") {
                finals.push(first_line(&r).to_string());
            }
        }
    }
    assert_eq!(finals, ["SIP/2.0 408 Request Timeout"]);
}
