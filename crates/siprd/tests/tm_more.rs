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
    let r = c.request(
        s.udp_addr(),
        &req_b("MESSAGE", p, br, "call-aaaa-1111", 1, ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 486 R call-aaaa-1111 1");
    let r = c.request(
        s.udp_addr(),
        &req_b("MESSAGE", p, br, "call-aaaa-1111", 1, ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 486 R call-aaaa-1111 1",
        "a retransmission"
    );
    let r = c.request(
        s.udp_addr(),
        &req_b("MESSAGE", p, br, "call-bbbb-2222", 1, ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 486 R call-bbbb-2222 1",
        "another Call-ID"
    );
    let r = c.request(
        s.udp_addr(),
        &req_b("MESSAGE", p, br, "call-aaaa-1111", 7, ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 486 R call-aaaa-1111 7",
        "another CSeq"
    );
    assert_eq!(s.count_log("NEW MESSAGE call-aaaa-1111 1\n"), 1);
    assert_eq!(s.count_log("NEW MESSAGE call-bbbb-2222 1\n"), 1);
    assert_eq!(s.count_log("NEW MESSAGE call-aaaa-1111 7\n"), 1);
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
    let mut got = vec![];
    while let Some(m) = c.recv(Duration::from_millis(300)) {
        got.push(first_line(&m).to_string());
    }
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
    c.send(
        s.udp_addr(),
        &request(
            "INVITE",
            "sip:bob@127.0.0.1",
            c.port(),
            "tm-empty-routes",
            "",
        ),
    );
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed");
    hop.answer(&inv, from, "486 Busy Here");
    assert!(hop.recv_start("ACK", WAIT).is_some());
    let mut got = vec![];
    while let Some(m) = c.recv(Duration::from_millis(600)) {
        got.push(first_line(&m).to_string());
    }
    assert_eq!(
        got.first().map(String::as_str),
        Some("SIP/2.0 100 trying -- your call is important to us")
    );
    assert!(got.iter().any(|l| l == "SIP/2.0 486 Busy Here"), "{got:?}");
    for l in ["fset", "bset", "rset"] {
        assert!(s.wait_log(l, WAIT), "{l}");
    }
}
