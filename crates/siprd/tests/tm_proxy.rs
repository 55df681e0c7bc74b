//! tm as a stateful proxy, seen on the wire: the test plays the UAC and two
//! downstream UASes on loopback and checks what siprd sends each side. The
//! expectations were observed with Kamailio 5.6 in the same setup.

mod common;
use common::*;
use std::net::SocketAddr;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(400);

/// A config forking every INVITE/MESSAGE to `a` (branch 0) and `b` (branch 1).
fn fork_cfg(params: &str, a: u16, b: u16, extra_req: &str, routes: &str) -> String {
    tm_cfg(
        1,
        &format!("loadmodule \"corex.so\"\nloadmodule \"kex.so\"\n{params}"),
        &format!(
            r#"
request_route {{
    if (is_method("ACK")) {{ t_relay(); exit; }}
    if (is_method("CANCEL")) {{ t_relay(); exit; }}
    $ru = "sip:a@127.0.0.1:{a}";
    append_branch("sip:b@127.0.0.1:{b}");
    t_on_failure("F");
    t_on_reply("R");
    {extra_req}
    t_relay();
}}
onreply_route[R] {{ xlog("L_INFO", "ONREPLY $rs idx=$T_branch_idx\n"); }}
failure_route[F] {{ xlog("L_INFO", "FAILURE $T_reply_code idx=$T_branch_idx\n"); }}
{routes}
"#
        ),
    )
}

/// The reply a UAS sends to `req`: its Vias, From, Call-ID and CSeq, its To
/// with `;tag=tag`, then the `extra` header lines.
fn uas_reply(req: &str, status: &str, tag: &str, extra: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for l in req.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => {
                out.push_str(l);
                out.push_str("\r\n");
            }
            "to" => out.push_str(&format!("{l};tag={tag}\r\n")),
            _ => {}
        }
    }
    out.push_str(extra);
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

struct Setup {
    s: Siprd,
    uac: UdpClient,
    a: NextHop,
    b: NextHop,
}

impl Setup {
    fn new(params: &str, extra_req: &str, routes: &str) -> Setup {
        let a = NextHop::new();
        let b = NextHop::new();
        let s = Siprd::start(&fork_cfg(params, a.port(), b.port(), extra_req, routes));
        Setup {
            s,
            uac: UdpClient::new(),
            a,
            b,
        }
    }

    /// Send an INVITE (Call-ID `cid`) and return the branch requests A and B got.
    fn invite(&self, cid: &str, extra: &str) -> (String, SocketAddr, String, SocketAddr) {
        let inv = request("INVITE", "sip:bob@127.0.0.1", self.uac.port(), cid, extra);
        self.uac.send(self.s.udp_addr(), &inv);
        let (ia, fa) = self
            .a
            .recv_start("INVITE", WAIT)
            .expect("INVITE on branch a");
        let (ib, fb) = self
            .b
            .recv_start("INVITE", WAIT)
            .expect("INVITE on branch b");
        (ia, fa, ib, fb)
    }

    /// The next reply the UAC gets that is not a 100.
    fn uac_reply(&self, wait: Duration) -> Option<String> {
        let end = std::time::Instant::now() + wait;
        while std::time::Instant::now() < end {
            let r = self.uac.recv(Duration::from_millis(50))?;
            if !r.starts_with("SIP/2.0 100") {
                return Some(r);
            }
        }
        None
    }
}

fn send(hop: &NextHop, to: SocketAddr, msg: &str) {
    hop.sock.send_to(msg.as_bytes(), to).expect("send");
}

/// The header names of a message, in order.
fn header_names(msg: &str) -> Vec<String> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split(':').next().unwrap_or("").trim().to_string())
        .collect()
}

fn top_via(msg: &str) -> &str {
    header(msg, "Via").unwrap_or("")
}

fn to_tag(msg: &str) -> String {
    header(msg, "To")
        .and_then(|t| t.split(";tag=").nth(1))
        .unwrap_or("")
        .to_string()
}

#[test]
fn ack_and_cancel_are_built_from_the_sent_invite() {
    let t = Setup::new(
        "",
        r#"append_hf("Route: <sip:r1@127.0.0.1:9;lr>\r\n"); append_hf("X-H: 1\r\n");"#,
        "",
    );
    let (ia, fa, ib, fb) = t.invite("ac-1", "Route: <sip:r0@127.0.0.1:8;lr>\r\nSubject: s\r\n");
    send(&t.b, fb, &uas_reply(&ib, "180 Ringing", "tb", ""));
    send(&t.a, fa, &uas_reply(&ia, "486 Busy Here", "ta", ""));
    let (ack, _) = t.a.recv_start("ACK", WAIT).expect("ACK for the 486");
    // Kamailio: the INVITE's headers in their order, only top Via,
    // Max-Forwards, From, To (the reply's), Call-ID, CSeq and Route, its
    // Content-Length as `Content-Length: 0` (here between the Routes).
    assert_eq!(
        header_names(&ack),
        [
            "Via",
            "Max-Forwards",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Route",
            "Content-Length",
            "Route"
        ],
        "{ack}"
    );
    assert!(ack.starts_with(&format!("ACK sip:a@127.0.0.1:{} SIP/2.0\r\n", t.a.port())));
    assert_eq!(top_via(&ack), top_via(&ia));
    assert_eq!(to_tag(&ack), "ta");
    assert_eq!(header(&ack, "CSeq"), Some("1 ACK"));
    assert!(
        ack.ends_with("Route: <sip:r1@127.0.0.1:9;lr>\r\n\r\n"),
        "{ack}"
    );

    // CANCEL from upstream: the pending branch b gets its own CANCEL.
    let cancel = request(
        "CANCEL",
        "sip:bob@127.0.0.1",
        t.uac.port(),
        "ac-1",
        "Reason: Q.850;cause=16\r\n",
    );
    t.uac.send(t.s.udp_addr(), &cancel);
    let (c, _) = t.b.recv_start("CANCEL", WAIT).expect("CANCEL on branch b");
    assert!(c.starts_with(&format!(
        "CANCEL sip:b@127.0.0.1:{} SIP/2.0\r\n",
        t.b.port()
    )));
    assert_eq!(
        header_names(&c),
        [
            "Via",
            "Max-Forwards",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Route",
            "Content-Length",
            "Route",
            "Reason"
        ],
        "{c}"
    );
    assert_eq!(top_via(&c), top_via(&ib));
    assert_eq!(to_tag(&c), "");
    assert_eq!(header(&c, "CSeq"), Some("1 CANCEL"));
    assert_eq!(header(&c, "Reason"), Some("Q.850;cause=16"));
}

#[test]
fn best_reply_is_chosen_as_kamailio_ranks_them() {
    let t = Setup::new("", "", "");
    for (i, (ca, cb, want)) in [
        ("404 Not Found", "415 Unsupported Media Type", "415"),
        ("486 Busy Here", "484 Address Incomplete", "484"),
        ("500 Oops", "302 Moved", "302"),
        ("480 Unavailable", "420 Bad Extension", "420"),
        ("699 Nope", "600 Busy Everywhere", "600"),
        ("504 Y", "502 X", "502"),
        ("486 Busy Here", "404 Not Found", "404"),
    ]
    .into_iter()
    .enumerate()
    {
        let cid = format!("rank-{i}");
        let (ia, fa, ib, fb) = t.invite(&cid, "");
        send(&t.a, fa, &uas_reply(&ia, ca, "ta", ""));
        send(
            &t.b,
            fb,
            &uas_reply(&ib, cb, "tb", "Contact: <sip:x@127.0.0.1>\r\n"),
        );
        let r = t.uac_reply(WAIT).expect("final reply");
        assert!(
            first_line(&r).starts_with(&format!("SIP/2.0 {want}")),
            "{ca} + {cb}: got {}",
            first_line(&r)
        );
        assert!(
            t.s.wait_log(&format!("FAILURE {want} idx=2"), WAIT),
            "{}",
            t.s.log()
        );
    }
}

#[test]
fn a_503_goes_upstream_as_tms_own_500() {
    let t = Setup::new("", "", "");
    let (ia, fa, ib, fb) = t.invite("r503", "");
    send(
        &t.a,
        fa,
        &uas_reply(
            &ia,
            "503 Service Unavailable",
            "ta",
            "Retry-After: 5\r\nX-Foo: bar\r\n",
        ),
    );
    send(&t.b, fb, &uas_reply(&ib, "503 Overloaded", "tb", ""));
    let r = t.uac_reply(WAIT).expect("final reply");
    // Kamailio's wording whatever the 503 said, its own To-tag, nothing of the reply
    assert_eq!(first_line(&r), "SIP/2.0 500 Service Unavailable");
    assert_ne!(to_tag(&r), "ta");
    assert_ne!(to_tag(&r), "tb");
    assert!(!to_tag(&r).is_empty());
    assert!(header(&r, "Retry-After").is_none(), "{r}");
    assert!(header(&r, "X-Foo").is_none(), "{r}");

    // remap_503_500 = 0: the 503 is relayed as received
    let t = Setup::new(r#"modparam("tm", "remap_503_500", 0)"#, "", "");
    let (ia, fa, ib, fb) = t.invite("r503b", "");
    send(
        &t.a,
        fa,
        &uas_reply(&ia, "503 Service Unavailable", "ta", "Retry-After: 5\r\n"),
    );
    send(&t.b, fb, &uas_reply(&ib, "504 Timeout", "tb", ""));
    let r = t.uac_reply(WAIT).expect("final reply");
    assert_eq!(first_line(&r), "SIP/2.0 503 Service Unavailable");
    assert_eq!(to_tag(&r), "ta");
    assert_eq!(header(&r, "Retry-After"), Some("5"));
}

#[test]
fn challenges_of_several_branches_are_aggregated() {
    let t = Setup::new("", "", "");
    let (ia, fa, ib, fb) = t.invite("auth-1", "");
    send(
        &t.a,
        fa,
        &uas_reply(
            &ia,
            "401 Unauthorized",
            "ta",
            "WWW-Authenticate: Digest realm=\"a\", nonce=\"1\"\r\n",
        ),
    );
    send(
        &t.b,
        fb,
        &uas_reply(
            &ib,
            "407 Proxy Auth",
            "tb",
            "Proxy-Authenticate: Digest realm=\"b\", nonce=\"2\"\r\nWWW-Authenticate: Digest realm=\"b2\", nonce=\"3\"\r\nX-B: 1\r\n",
        ),
    );
    let r = t.uac_reply(WAIT).expect("final reply");
    assert_eq!(first_line(&r), "SIP/2.0 401 Unauthorized");
    let auth: Vec<&str> = r
        .split("\r\n")
        .filter(|l| l.starts_with("WWW-Authenticate") || l.starts_with("Proxy-Authenticate"))
        .collect();
    assert_eq!(
        auth,
        [
            "WWW-Authenticate: Digest realm=\"a\", nonce=\"1\"",
            "Proxy-Authenticate: Digest realm=\"b\", nonce=\"2\"",
            "WWW-Authenticate: Digest realm=\"b2\", nonce=\"3\""
        ],
        "{r}"
    );
    assert!(header(&r, "X-B").is_none());
    assert!(
        !["ta", "tb", ""].contains(&to_tag(&r).as_str()),
        "tm's own To-tag: {r}"
    );

    // two 407s: the standard wording
    let (ia, fa, ib, fb) = t.invite("auth-2", "");
    send(
        &t.a,
        fa,
        &uas_reply(
            &ia,
            "407 PA",
            "ta",
            "Proxy-Authenticate: Digest realm=\"a\"\r\n",
        ),
    );
    send(
        &t.b,
        fb,
        &uas_reply(
            &ib,
            "407 PA",
            "tb",
            "Proxy-Authenticate: Digest realm=\"b\"\r\n",
        ),
    );
    let r = t.uac_reply(WAIT).expect("final reply");
    assert_eq!(first_line(&r), "SIP/2.0 407 Proxy Authentication Required");
    assert_eq!(r.matches("Proxy-Authenticate:").count(), 2, "{r}");

    // one challenge only: relayed as received
    let (ia, fa, ib, fb) = t.invite("auth-3", "");
    send(&t.a, fa, &uas_reply(&ia, "486 Busy Here", "ta", ""));
    send(
        &t.b,
        fb,
        &uas_reply(
            &ib,
            "407 PA",
            "tb",
            "Proxy-Authenticate: Digest realm=\"b\"\r\n",
        ),
    );
    let r = t.uac_reply(WAIT).expect("final reply");
    assert_eq!(first_line(&r), "SIP/2.0 407 PA");
    assert_eq!(to_tag(&r), "tb");
}

#[test]
fn final_replies_after_the_branch_ended() {
    let t = Setup::new("", "", "");
    let (ia, fa, ib, fb) = t.invite("late-1", "");
    send(&t.b, fb, &uas_reply(&ib, "180 Ringing", "tb", ""));
    assert_eq!(
        first_line(&t.uac_reply(WAIT).expect("180")),
        "SIP/2.0 180 Ringing"
    );
    let ok = uas_reply(&ia, "200 OK", "ta", "Contact: <sip:a@127.0.0.1>\r\n");
    send(&t.a, fa, &ok);
    let (c, _) =
        t.b.recv_start("CANCEL", WAIT)
            .expect("CANCEL after the 2xx");
    assert_eq!(
        header(&c, "Reason"),
        Some("SIP;cause=200;text=\"Call completed elsewhere\"")
    );
    send(&t.b, fb, &uas_reply(&c, "200 OK", "tb", ""));
    send(
        &t.b,
        fb,
        &uas_reply(&ib, "487 Request Terminated", "tb", ""),
    );
    assert!(t.b.recv_start("ACK", WAIT).is_some());
    let r = t.uac_reply(WAIT).expect("the 200");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    assert!(t.uac_reply(SHORT).is_none(), "the 487 is not relayed");
    // a retransmitted 2xx is relayed again
    send(&t.a, fa, &ok);
    let r = t.uac_reply(WAIT).expect("the 200 again");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    // a late negative reply on the ended branch: ACKed, seen by onreply_route, not relayed
    send(&t.b, fb, &uas_reply(&ib, "486 Busy Here", "tb2", ""));
    let (ack, _) = t.b.recv_start("ACK", WAIT).expect("late 486 ACKed");
    assert_eq!(to_tag(&ack), "tb2");
    assert!(t.uac_reply(SHORT).is_none(), "the 486 is not relayed");
    assert!(t.s.wait_log("ONREPLY 486 idx=1", WAIT), "{}", t.s.log());
}

#[test]
fn a_provisional_reply_after_cancel_is_not_relayed() {
    let t = Setup::new("", "", "");
    let (ia, fa, ib, fb) = t.invite("c1xx", "");
    send(&t.a, fa, &uas_reply(&ia, "180 Ringing", "ta", ""));
    assert_eq!(
        first_line(&t.uac_reply(WAIT).expect("180")),
        "SIP/2.0 180 Ringing"
    );
    let cancel = request("CANCEL", "sip:bob@127.0.0.1", t.uac.port(), "c1xx", "");
    t.uac.send(t.s.udp_addr(), &cancel);
    assert!(t.a.recv_start("CANCEL", WAIT).is_some());
    // b answers only now: it gets its CANCEL, the 180 stays here
    send(&t.b, fb, &uas_reply(&ib, "180 Ringing", "tb", ""));
    assert!(t.b.recv_start("CANCEL", WAIT).is_some());
    let mut got = Vec::new();
    while let Some(r) = t.uac.recv(SHORT) {
        got.push(first_line(&r).to_string());
    }
    assert_eq!(got, ["SIP/2.0 200 canceling"], "{}", t.s.log());
    assert!(!t.s.log().contains("ONREPLY 180 idx=1"), "{}", t.s.log());
}

#[test]
fn branch_index_in_each_route() {
    let t = Setup::new(
        "",
        r#"xlog("L_INFO", "REQ idx=$T_branch_idx\n"); t_on_branch("B");"#,
        r#"branch_route[B] { xlog("L_INFO", "BRANCH idx=$T_branch_idx\n"); }"#,
    );
    let (ia, fa, ib, fb) = t.invite("idx-1", "");
    send(&t.b, fb, &uas_reply(&ib, "486 Busy Here", "tb", ""));
    send(&t.a, fa, &uas_reply(&ia, "404 Not Found", "ta", ""));
    assert!(t.uac_reply(WAIT).is_some());
    // request_route: the branches appended so far; failure_route: the
    // outgoings so far (Kamailio)
    for l in [
        "REQ idx=1",
        "BRANCH idx=0",
        "BRANCH idx=1",
        "ONREPLY 486 idx=1",
        "ONREPLY 404 idx=0",
        "FAILURE 404 idx=2",
    ] {
        assert!(t.s.wait_log(l, WAIT), "{l}: {}", t.s.log());
    }
}

#[test]
fn route_types_as_kamailio_checks_them_at_load() {
    let wrap = |route: &str, call: &str| {
        let body = format!("\n    {call};\n");
        let routes = match route {
            "request_route" => format!("request_route {{{body}}}"),
            "reply_route" => format!("request_route {{ exit; }}\nreply_route {{{body}}}"),
            "onsend_route" => format!("request_route {{ exit; }}\nonsend_route {{{body}}}"),
            r => format!("request_route {{ exit; }}\n{r}[X] {{{body}}}"),
        };
        tm_cfg(1, "", &routes)
    };
    // (function, route, accepted by Kamailio 5.6)
    for (call, route, ok) in [
        ("t_branch_timeout()", "failure_route", true),
        ("t_branch_timeout()", "onreply_route", false),
        ("t_branch_replied()", "branch_route", false),
        ("t_branch_replied()", "failure_route", true),
        ("t_grep_status(\"486\")", "reply_route", false),
        ("t_grep_status(\"486\")", "onreply_route", true),
        ("t_any_timeout()", "onsend_route", false),
        ("t_is_canceled()", "reply_route", false),
        ("t_check_status(\"4\")", "branch_route", false),
        ("t_check_status(\"4\")", "reply_route", true),
        ("t_reply(\"404\", \"x\")", "onreply_route", true),
        ("t_suspend()", "branch_route", true),
        ("t_release()", "failure_route", false),
        ("t_cancel_branches(\"all\")", "failure_route", false),
        ("t_cancel_branches(\"all\")", "onreply_route", true),
        ("t_get_status_code()", "onsend_route", false),
        ("t_check_trans()", "failure_route", false),
        ("t_set_fr(100)", "reply_route", false),
        ("t_reset_retr()", "onsend_route", false),
        ("t_set_auto_inv_100(1)", "failure_route", false),
        ("t_set_disable_6xx(1)", "branch_route", true),
        ("t_retransmit_reply()", "failure_route", false),
        ("t_is_set(\"failure_route\")", "onsend_route", true),
    ] {
        let (code, out) = check_config(&wrap(route, call));
        assert_eq!(code == 0, ok, "{call} in {route}: {out}");
        if !ok {
            let name = call.split('(').next().unwrap_or("");
            assert!(
                out.contains(&format!("`{name}` cannot be used in")) && out.contains(":5"),
                "{call} in {route}: {out}"
            );
        }
    }
}

#[test]
fn t_reply_in_onreply_route_answers_the_transaction() {
    let a = NextHop::new();
    let b = NextHop::new();
    let s = Siprd::start(&fork_cfg(
        "",
        a.port(),
        b.port(),
        r#"t_on_reply("R2");"#,
        r#"onreply_route[R2] { $var(r) = t_reply("500", "x"); xlog("L_INFO", "TREPLY $var(r)\n"); }"#,
    ));
    let uac = UdpClient::new();
    uac.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "trpl");
    let (ia, fa) = a.recv_start("INVITE", WAIT).expect("INVITE a");
    assert!(b.recv_start("INVITE", WAIT).is_some());
    send(&a, fa, &uas_reply(&ia, "180 Ringing", "ta", ""));
    // Kamailio: tm's own 500 to the INVITE, the 180 not relayed, a CANCEL
    // with tm's Reason to the branch that rang
    let mut r = uac.recv(WAIT).expect("reply");
    if r.starts_with("SIP/2.0 100") {
        r = uac.recv(WAIT).expect("reply");
    }
    assert_eq!(first_line(&r), "SIP/2.0 500 x");
    assert_ne!(to_tag(&r), "ta");
    let (c, _) = a.recv_start("CANCEL", WAIT).expect("CANCEL to a");
    assert_eq!(header(&c, "Reason"), Some("SIP;cause=500"));
    assert!(s.wait_log("TREPLY 1", WAIT), "{}", s.log());
}

#[test]
fn transaction_pvs_and_branch_flags_in_each_route() {
    let dump = |n: &str| {
        format!(
            r#"$var(sc) = t_get_status_code(); xlog("L_INFO", "{n} code=$T_reply_code reason=[$T_reply_reason] rpl=$T_rpl($rs) req=$T_req($rU) type=$T(reply_type) bflags=$T_branch(flags) buri=$T_branch(uri) sc=$var(sc)\n");"#
        )
    };
    let a = NextHop::new();
    let b = NextHop::new();
    let routes = format!(
        r#"branch_route[B] {{ if ($T_branch_idx == 1) {{ setbflag(3); }} {} }}
onreply_route[R2] {{ {} if (isbflagset(3)) {{ xlog("L_INFO", "R2 bflag3 idx=$T_branch_idx\n"); }} }}
event_route[tm:branch-failure:BF] {{ {} }}
failure_route[F2] {{ {} if (isbflagset(3)) {{ xlog("L_INFO", "F2 bflag3\n"); }} }}"#,
        dump("BR"),
        dump("ONREPLY"),
        dump("BF"),
        dump("FAIL")
    );
    let s = Siprd::start(&fork_cfg(
        r#"modparam("tm", "fr_timer", 800)"#,
        a.port(),
        b.port(),
        &format!(
            r#"t_on_branch("B"); t_on_branch_failure("BF"); t_on_reply("R2"); t_on_failure("F2"); t_relay(); {} exit;"#,
            dump("REQ1")
        ),
        &routes,
    ));
    let uac = UdpClient::new();
    uac.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "pvs");
    assert!(a.recv_start("INVITE", WAIT).is_some());
    let (ib, fb) = b.recv_start("INVITE", WAIT).expect("INVITE b");
    send(&b, fb, &uas_reply(&ib, "183 Progress", "tb", ""));
    send(&b, fb, &uas_reply(&ib, "486 Busy", "tb", ""));
    // a never answers: its 408 (tm's own) wins over the 486
    let bu = format!("sip:b@127.0.0.1:{}", b.port());
    for l in [
        "BR code=100 reason=[] rpl=<null> req=<null> type=0 bflags=<null> buri=<null> sc=-1".to_string(),
        "REQ1 code=100 reason=[] rpl=<null> req=<null> type=0 bflags=<null> buri=<null> sc=100".to_string(),
        format!("ONREPLY code=183 reason=[Progress] rpl=<null> req=bob type=0 bflags=8 buri={bu} sc=183"),
        "R2 bflag3 idx=1".to_string(),
        format!("ONREPLY code=486 reason=[Busy] rpl=<null> req=bob type=0 bflags=8 buri={bu} sc=486"),
        "BF code=486 reason=[] rpl=486 req=<null> type=0 bflags=8 buri=<null> sc=486".to_string(),
        "BF code=408 reason=[] rpl=<null> req=<null> type=0 bflags=0 buri=<null> sc=408".to_string(),
        "FAIL code=408 reason=[Request Timeout] rpl=<null> req=<null> type=1 bflags=0 buri=<null> sc=408".to_string(),
    ] {
        assert!(s.wait_log(&l, Duration::from_secs(3)), "{l}\n{}", s.log());
    }
    assert!(!s.log().contains("F2 bflag3"), "{}", s.log());
    let r = uac.recv(WAIT);
    assert!(r.is_some());
}

#[test]
fn t_relay_and_t_newtran_return_codes() {
    let a = NextHop::new();
    let s = Siprd::start(&tm_cfg(
        1,
        "",
        &format!(
            r#"
request_route {{
    if (is_method("ACK")) {{ $var(s) = t_suspend(); xlog("L_INFO", "ACK suspend=$var(s)\n"); exit; }}
    if ($rU == "nt") {{
        $var(a) = t_newtran(); $var(b) = t_newtran();
        xlog("L_INFO", "NEWTRAN $var(a) $var(b)\n");
        t_reply("200", "ok");
        exit;
    }}
    if ($rU == "bad") {{
        $du = "sip:nonexistent.invalid";
        $var(r) = t_relay();
        xlog("L_INFO", "BAD relay=$var(r)\n");
        exit;
    }}
    $ru = "sip:a@127.0.0.1:{}";
    $var(r) = t_relay();
    xlog("L_INFO", "RELAY $var(r) $ci\n");
}}
"#,
            a.port()
        ),
    ));
    let uac = UdpClient::new();
    // a second t_newtran for the same request: -10
    let r = uac.request_reply(s.udp_addr(), "MESSAGE", "sip:nt@127.0.0.1", "rc-nt");
    assert_eq!(first_line(&r), "SIP/2.0 200 ok");
    assert!(s.wait_log("NEWTRAN 1 -10", WAIT), "{}", s.log());
    // no destination resolves: tm answers 478, t_relay returns -478
    let r = uac.request_reply(s.udp_addr(), "MESSAGE", "sip:bad@127.0.0.1", "rc-bad");
    assert_eq!(
        first_line(&r),
        "SIP/2.0 478 Unresolvable destination (478/TM)"
    );
    assert!(s.wait_log("BAD relay=-478", WAIT), "{}", s.log());
    // a retransmission: absorbed (not relayed again), t_relay returns 1
    let m = request("MESSAGE", "sip:x@127.0.0.1", uac.port(), "rc-rtx", "");
    uac.send(s.udp_addr(), &m);
    assert!(a.recv_start("MESSAGE", WAIT).is_some());
    uac.send(s.udp_addr(), &m);
    assert!(s.wait_log_count("RELAY 1 rc-rtx", 2, WAIT), "{}", s.log());
    assert!(
        a.recv_start("MESSAGE", SHORT).is_none(),
        "the retransmission is absorbed"
    );
    // t_suspend on an ACK: -1
    uac.send_request(s.udp_addr(), "ACK", "sip:x@127.0.0.1", "rc-ack");
    assert!(s.wait_log("ACK suspend=-1", WAIT), "{}", s.log());
}

#[test]
fn a_non_invite_branch_is_never_cancelled_and_waits_t2_after_a_100() {
    let t = Setup::new(r#"modparam("tm", "fr_timer", 700)"#, "", "");
    let m = request("MESSAGE", "sip:bob@127.0.0.1", t.uac.port(), "ni-1", "");
    t.uac.send(t.s.udp_addr(), &m);
    let (ia, fa) = t.a.recv_start("MESSAGE", WAIT).expect("MESSAGE a");
    let (ib, fb) = t.b.recv_start("MESSAGE", WAIT).expect("MESSAGE b");
    send(&t.a, fa, &uas_reply(&ia, "404 Nope", "ta", ""));
    send(&t.b, fb, &hop_reply(&ib, "100 Trying"));
    // Kamailio: after the 100 the next retransmission is T2 (4 s) away, and
    // the branch's timeout sends no CANCEL
    let got: Vec<String> =
        t.b.collect(Duration::from_millis(1300))
            .into_iter()
            .map(|(m, _)| first_line(&m).to_string())
            .collect();
    assert!(got.is_empty(), "{got:?}");
    let r = t.uac_reply(WAIT).expect("final reply");
    assert_eq!(first_line(&r), "SIP/2.0 404 Nope");
}

#[test]
fn core_reply_route_runs_before_tm_and_can_drop() {
    // Kamailio: reply_route sees every reply before tm matches it ($T_reply_code
    // is the reply's code, no branch yet); its edits travel with the relayed
    // reply and `drop` keeps tm from ever seeing it.
    let t = Setup::new(
        "",
        "",
        r#"reply_route {
    xlog("L_INFO", "CORE-REPLY $rs $T_reply_code [$T_reply_reason] $T_branch_idx\n");
    append_hf("X-Core: $rs\r\n");
    if ($rs == 183) { drop; }
}"#,
    );
    let (ia, fa, ib, fb) = t.invite("crr-1", "");
    send(&t.a, fa, &uas_reply(&ia, "183 Progress", "ta", ""));
    send(&t.b, fb, &uas_reply(&ib, "180 Ringing", "tb", ""));
    let r = t.uac_reply(WAIT).expect("the 180");
    assert!(r.starts_with("SIP/2.0 180 Ringing\r\n"), "{r}");
    assert_eq!(header(&r, "X-Core"), Some("180"), "{r}");
    assert!(
        t.s.wait_log("CORE-REPLY 180 180 [Ringing] -1", WAIT),
        "{}",
        t.s.log()
    );
    assert!(t.s.wait_log("ONREPLY 180 idx=1", WAIT), "{}", t.s.log());
    // The dropped 183 reached neither tm (no onreply_route) nor the UAC.
    assert!(
        t.s.log().contains("CORE-REPLY 183 183 [Progress] -1"),
        "{}",
        t.s.log()
    );
    assert!(!t.s.log().contains("ONREPLY 183"), "{}", t.s.log());
    assert!(t.uac_reply(SHORT).is_none());
}

/// Kamailio 5.6: `forward(host, port)` and `t_relay(host, port)` keep the
/// protocol the request came on (TCP here, while `$du` without `transport`
/// means UDP), and a request received over TCP gets `;i=<connection id in
/// hex>` in our Via, before `;rport`.
#[test]
fn tcp_requests_relayed_to_host_port_stay_on_tcp_with_the_i_param() {
    let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let pp = peer.local_addr().expect("addr").port();
    peer.set_nonblocking(true).expect("nonblocking");
    let cfg = format!(
        r#"
debug=2
children=1
tcp_children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
request_route {{
    if ($rU == "fwd") {{ forward("127.0.0.1", {pp}); exit; }}
    add_local_rport();
    t_relay("127.0.0.1", {pp});
}}
"#
    );
    let s = Siprd::start(&cfg);
    for (user, rport) in [("relay", ";rport"), ("fwd", "")] {
        let mut t = TcpClient::connect(s.tcp_addr());
        let req = request(
            "INVITE",
            &format!("sip:{user}@127.0.0.1"),
            t.port(),
            user,
            "",
        )
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        t.send(req.as_bytes());
        let conn = accept_within(&peer, WAIT).expect("siprd connects over TCP");
        let mut hop = TcpClient::from_stream(conn);
        let m = hop.recv(WAIT).expect("relayed request");
        let via = m.split("\r\n").nth(1).unwrap_or("");
        assert!(via.starts_with("Via: SIP/2.0/TCP 127.0.0.1:"), "{m}");
        let params: Vec<&str> = via.split(';').skip(2).collect();
        let id = params
            .first()
            .and_then(|p| p.strip_prefix("i="))
            .unwrap_or("");
        assert!(
            !id.is_empty() && u64::from_str_radix(id, 16).is_ok(),
            "{via}"
        );
        assert!(via.ends_with(&format!(";i={id}{rport}")), "{via}");
    }
}

/// A connection to `l` (non-blocking) accepted within `wait`.
fn accept_within(l: &std::net::TcpListener, wait: Duration) -> Option<std::net::TcpStream> {
    let end = std::time::Instant::now() + wait;
    while std::time::Instant::now() < end {
        if let Ok((c, _)) = l.accept() {
            c.set_nonblocking(false).ok()?;
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// Kamailio 5.6: a reply to a request forwarded statelessly from a TCP
/// connection goes back on that connection (found by our Via's `;i=`), even
/// when the client's Via names a port nobody listens on.
#[test]
fn stateless_reply_returns_on_the_tcp_connection_of_the_request() {
    let uas = NextHop::new();
    let cfg = format!(
        r#"
debug=2
children=1
tcp_children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {{
    $du = "sip:127.0.0.1:{}";
    forward();
}}
"#,
        uas.port()
    );
    let s = Siprd::start(&cfg);
    let mut t = TcpClient::connect(s.tcp_addr());
    let dead_port = free_udp_port();
    let req = request("OPTIONS", "sip:bob@127.0.0.1", dead_port, "i-param-1", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    t.send(req.as_bytes());
    let (m, from) = uas.recv_start("OPTIONS", WAIT).expect("forwarded");
    assert!(m.split("\r\n").nth(1).unwrap_or("").contains(";i="), "{m}");
    uas.answer(&m, from, "200 OK");
    let r = t.recv(WAIT).expect("the reply on the client's connection");
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert!(
        r.contains(&format!("Via: SIP/2.0/TCP 127.0.0.1:{dead_port};")),
        "{r}"
    );
}

/// Kamailio 5.6 adds the Content-Length a stream needs: a request without
/// one relayed over TCP (stateful or not) gets `Content-Length: <body>` as
/// its last header; so does a reply without one going back over TCP.
#[test]
fn messages_without_content_length_get_one_on_tcp() {
    let peer = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let pp = peer.local_addr().expect("addr").port();
    peer.set_nonblocking(true).expect("nonblocking");
    let uas = NextHop::new();
    let cfg = format!(
        r#"
debug=2
children=1
tcp_children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
request_route {{
    if ($rU == "back") {{ $du = "sip:127.0.0.1:{}"; forward(); exit; }}
    $du = "sip:127.0.0.1:{pp};transport=tcp";
    if ($rU == "sl") {{ forward(); exit; }}
    t_relay();
}}
"#,
        uas.port()
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let mut hop: Option<TcpClient> = None;
    for user in ["tm", "sl"] {
        let req = request(
            "MESSAGE",
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            user,
            "",
        )
        .replace("Content-Length: 0\r\n\r\n", "\r\nhello");
        assert!(!req.contains("Content-Length"), "{req}");
        c.send(s.udp_addr(), &req);
        if hop.is_none() {
            let conn = accept_within(&peer, WAIT).expect("siprd connects");
            hop = Some(TcpClient::from_stream(conn));
        }
        let m = hop.as_mut().and_then(|h| h.recv(WAIT)).expect("relayed");
        assert!(m.ends_with("\r\nContent-Length: 5\r\n\r\nhello"), "{m}");
    }
    // a reply without Content-Length, back to a TCP client
    let mut t = TcpClient::connect(s.tcp_addr());
    let req = request("OPTIONS", "sip:back@127.0.0.1", t.port(), "back", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    t.send(req.as_bytes());
    let (m, from) = uas.recv_start("OPTIONS", WAIT).expect("forwarded");
    let reply = hop_reply(&m, "200 OK").replace("Content-Length: 0\r\n", "");
    uas.sock.send_to(reply.as_bytes(), from).expect("send");
    let r = t.recv(WAIT).expect("reply");
    assert!(r.ends_with("\r\nContent-Length: 0\r\n\r\n"), "{r}");
}

/// Kamailio 5.6: a relayed request whose Via has `received` already gets the
/// value of its last one replaced in place (not a new one in front).
#[test]
fn an_old_received_is_replaced_in_place_when_relaying() {
    let hop = NextHop::new();
    let cfg = format!(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {{ forward("127.0.0.1", {}); }}
"#,
        hop.port()
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let p = c.port();
    for (via, want) in [
        (
            format!("127.0.0.1:{p};branch=z9hG4bK-o1;received=1.1.1.1;received=2.2.2.2;rport"),
            format!(
                "127.0.0.1:{p};branch=z9hG4bK-o1;received=1.1.1.1;received=127.0.0.1;rport={p}"
            ),
        ),
        (
            format!("127.0.0.1:{p};received=1.2.3.4;branch=z9hG4bK-o2"),
            format!("127.0.0.1:{p};received=127.0.0.1;branch=z9hG4bK-o2"),
        ),
    ] {
        let req = format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\nFrom: <sip:a@b>;tag=1\r\n\
             To: <sip:c@d>\r\nCall-ID: {via}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        c.send(s.udp_addr(), &req);
        let (m, _) = hop.recv_start("OPTIONS", WAIT).expect("forwarded");
        let second = m
            .split("\r\n")
            .filter(|l| l.starts_with("Via: "))
            .nth(1)
            .unwrap_or("")
            .to_string();
        assert_eq!(second, format!("Via: SIP/2.0/UDP {want}"), "{m}");
    }
}

#[test]
fn a_refused_tcp_connect_fails_t_relay_with_477_at_once() {
    // a port nobody listens on: the kernel refuses the connect at once
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let s = Siprd::start(&tm_cfg(
        1,
        "listen=tcp:127.0.0.1:0",
        &format!(
            r#"
request_route {{
    $du = "sip:127.0.0.1:{closed};transport=tcp";
    $var(r) = t_relay();
    xlog("L_INFO", "REFUSED relay=$var(r) $rm\n");
}}
"#
        ),
    ));
    let uac = UdpClient::new();
    // Kamailio 5.6: t_relay returns -1 and tm answers 477 itself, without
    // waiting for fr_timer (an INVITE gets its 100 first)
    let started = std::time::Instant::now();
    let r = uac.request_reply(s.udp_addr(), "MESSAGE", "sip:x@127.0.0.1", "tcpref-m");
    assert_eq!(
        first_line(&r),
        "SIP/2.0 477 Unfortunately error on sending to next hop occurred (477/TM)"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s.wait_log("REFUSED relay=-1 MESSAGE", WAIT), "{}", s.log());
    uac.send_request(s.udp_addr(), "INVITE", "sip:x@127.0.0.1", "tcpref-i");
    let first = uac.recv(WAIT).expect("a reply");
    assert!(first_line(&first).starts_with("SIP/2.0 100"), "{first}");
    let fin = uac.recv(WAIT).expect("the final reply");
    assert!(first_line(&fin).starts_with("SIP/2.0 477"), "{fin}");
    assert!(s.wait_log("REFUSED relay=-1 INVITE", WAIT), "{}", s.log());
}

/// A destination over a transport siprd has no sockets for (`tls`, `sctp`,
/// `ws`, a `sips:` URI, `t_relay_to_tls()`) is never sent over another one:
/// the branch fails as Kamailio 5.6.3's does without such a listener (-7,
/// `500 ... (7/TM)`; t_replicate answers nothing, stateless forward() sends
/// nothing), while an unknown `transport=` value still goes over UDP.
#[test]
fn transports_without_sockets_fail_like_kamailio() {
    let hop = NextHop::new();
    let s = Siprd::start(&tm_cfg(
        1,
        "",
        &format!(
            r#"
request_route {{
    if ($rU == "tls") {{ $du = "sip:127.0.0.1:{p};transport=tls"; }}
    if ($rU == "sctp") {{ $du = "sip:127.0.0.1:{p};transport=SCTP"; }}
    if ($rU == "ws") {{ $du = "sip:127.0.0.1:{p};transport=ws"; }}
    if ($rU == "sips") {{ $du = "sips:127.0.0.1:{p}"; }}
    if ($rU == "foo") {{ $du = "sip:127.0.0.1:{p};transport=foo"; }}
    if ($rU == "totls") {{
        t_relay_to_tls("127.0.0.1", "{p}");
        xlog("L_INFO", "TOTLS rc=$rc\n");
        exit;
    }}
    if ($rU == "rtls") {{
        t_replicate_tls("127.0.0.1", "{p}");
        xlog("L_INFO", "RTLS rc=$rc\n");
        exit;
    }}
    if ($rU == "fwd") {{
        $du = "sip:127.0.0.1:{p};transport=tls";
        forward();
        sl_send_reply("200", "after forward");
        exit;
    }}
    t_relay();
    xlog("L_INFO", "RELAY $rU rc=$rc\n");
}}
"#,
            p = hop.port()
        ),
    ));
    let c = UdpClient::new();
    let failed = "SIP/2.0 500 I'm terribly sorry, server error occurred (7/TM)";
    for user in ["tls", "sctp", "ws", "sips"] {
        let r = c.request_reply(
            s.udp_addr(),
            "OPTIONS",
            &format!("sip:{user}@127.0.0.1"),
            &format!("tr-{user}"),
        );
        assert_eq!(first_line(&r), failed, "{user}");
        assert!(
            s.wait_log(&format!("RELAY {user} rc=-7"), WAIT),
            "{}",
            s.log()
        );
    }
    // an INVITE gets its 100 first (its own client: the 500 is resent
    // until an ACK)
    let inv = UdpClient::new();
    inv.send_request(s.udp_addr(), "INVITE", "sip:totls@127.0.0.1", "tr-totls");
    let lines = inv.first_lines(SHORT);
    assert_eq!(
        lines,
        ["SIP/2.0 100 trying -- your call is important to us", failed]
    );
    assert!(s.wait_log("TOTLS rc=-7", WAIT), "{}", s.log());
    c.send_request(s.udp_addr(), "OPTIONS", "sip:rtls@127.0.0.1", "tr-rtls");
    assert!(s.wait_log("RTLS rc=-7", WAIT), "{}", s.log());
    let after = c.first_lines(SHORT);
    assert!(after.is_empty(), "{after:?}");
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:fwd@127.0.0.1", "tr-fwd");
    assert_eq!(first_line(&r), "SIP/2.0 200 after forward");
    assert!(hop.collect(SHORT).is_empty(), "nothing goes out over UDP");
    // an unknown transport value is UDP, as in Kamailio
    c.send_request(s.udp_addr(), "OPTIONS", "sip:foo@127.0.0.1", "tr-foo");
    let (m, _) = hop.recv_start("OPTIONS", WAIT).expect("relayed over UDP");
    assert!(m.contains("Via: SIP/2.0/UDP "), "{m}");
}
