//! End-to-end tests of the sanity module: each expected reply below was
//! observed on Kamailio 5.6.3 with the same config and request.

mod common;

use common::*;
use std::time::Duration;

/// A request built by hand (the cases break what `common::request` keeps
/// valid). `{port}` and `{id}` are filled in by [`send`].
struct Req {
    method: &'static str,
    ruri: &'static str,
    cseq: &'static str,
    from: &'static str,
    to: &'static str,
    extra: Vec<&'static str>,
    body: &'static str,
    clen: Option<usize>,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            method: "OPTIONS",
            ruri: "sip:bob@127.0.0.1",
            cseq: "1 OPTIONS",
            from: "<sip:alice@127.0.0.1>;tag=a1",
            to: "<sip:bob@127.0.0.1>",
            extra: vec![],
            body: "",
            clen: None,
        }
    }
}

fn build(r: &Req, port: u16, id: &str) -> String {
    let mut s = format!(
        "{} {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{id}\r\n\
         From: {}\r\nTo: {}\r\nCall-ID: {id}\r\nCSeq: {}\r\nMax-Forwards: 70\r\n",
        r.method, r.ruri, r.from, r.to, r.cseq
    );
    for h in &r.extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str(&format!(
        "Content-Length: {}\r\n\r\n{}",
        r.clen.unwrap_or(r.body.len()),
        r.body
    ));
    s
}

/// The reply (whole) to `r`, or None when nothing came back.
fn send(s: &Siprd, c: &UdpClient, r: &Req, id: &str) -> Option<String> {
    c.send(s.udp_addr(), &build(r, c.port(), id));
    c.recv(Duration::from_millis(700))
}

fn status(s: &Siprd, c: &UdpClient, r: Req, id: &str) -> String {
    send(s, c, &r, id)
        .map(|m| first_line(&m).to_string())
        .unwrap_or_else(|| "(no reply)".into())
}

/// The checks come from the X-C header, the URI checks from X-U; with
/// autodrop off the route answers `200 pass` when the checks pass.
fn cfg(modparams: &str) -> String {
    format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
{modparams}
request_route {{
    $var(c) = $(hdr(X-C){{s.int}});
    $var(u) = $(hdr(X-U){{s.int}});
    if ($hdr(X-Mode) == "reply") {{
        if (!sanity_check("$var(c)")) {{ sanity_reply(); exit; }}
        sl_send_reply("200", "pass");
        exit;
    }}
    if ($hdr(X-C) == $null) {{
        $var(r) = sanity_check();
    }} else if ($hdr(X-U) == $null) {{
        $var(r) = sanity_check("$var(c)");
    }} else {{
        $var(r) = sanity_check("$var(c)", "$var(u)");
    }}
    if ($var(r) > 0) {{ sl_send_reply("200", "pass"); exit; }}
    xlog("L_ERR", "failed rc=$var(r)\n");
}}
"#
    )
}

#[test]
fn each_check_replies_as_kamailio() {
    let s = Siprd::start(&cfg(r#"modparam("sanity", "autodrop", 0)
modparam("sanity", "proxy_require", "foo, zap")"#));
    let c = UdpClient::new();
    let cases: Vec<(&str, Req, &str)> = vec![
        ("default_ok", Req::default(), "SIP/2.0 200 pass"),
        (
            "default_cseq",
            Req {
                cseq: "1 INVITE",
                ..Req::default()
            },
            "SIP/2.0 400 CSeq method does not match request method",
        ),
        (
            "scheme_http",
            Req {
                ruri: "http://bob.example",
                extra: vec!["X-C: 2"],
                ..Req::default()
            },
            "SIP/2.0 400 Bad Request URI",
        ),
        (
            "scheme_tel",
            Req {
                ruri: "tel:+123",
                extra: vec!["X-C: 2"],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "scheme_urn",
            Req {
                ruri: "urn:service:sos",
                extra: vec!["X-C: 2"],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "cseq_case",
            Req {
                cseq: "1 options",
                extra: vec!["X-C: 32"],
                ..Req::default()
            },
            "SIP/2.0 400 CSeq method does not match request method",
        ),
        (
            "cseq_alpha",
            Req {
                cseq: "abc OPTIONS",
                extra: vec!["X-C: 64"],
                ..Req::default()
            },
            "SIP/2.0 400 CSeq number is illegal",
        ),
        (
            "cseq_bound",
            Req {
                cseq: "4294967296 OPTIONS",
                extra: vec!["X-C: 64"],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "cseq_over",
            Req {
                cseq: "4294967297 OPTIONS",
                extra: vec!["X-C: 64"],
                ..Req::default()
            },
            "SIP/2.0 400 CSeq number is illegal",
        ),
        (
            "cl_short",
            Req {
                body: "hello",
                clen: Some(3),
                extra: vec!["X-C: 128"],
                ..Req::default()
            },
            "SIP/2.0 400 Content-Length mis-match",
        ),
        (
            "expires_empty",
            Req {
                extra: vec!["X-C: 256", "Expires: "],
                ..Req::default()
            },
            "SIP/2.0 400 Bad Expires Header",
        ),
        (
            "expires_alpha",
            Req {
                extra: vec!["X-C: 256", "Expires: 12abc"],
                ..Req::default()
            },
            "SIP/2.0 400 Expires value is illegal",
        ),
        (
            "expires_second_ignored",
            Req {
                extra: vec!["X-C: 256", "Expires: 5", "Expires: x"],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "proxy_require_known",
            Req {
                extra: vec!["X-C: 512", "Proxy-Require: foo"],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "proxy_require_case",
            Req {
                extra: vec!["X-C: 512", "Proxy-Require: FOO"],
                ..Req::default()
            },
            "SIP/2.0 420 Bad Proxy Require Extension",
        ),
        (
            "proxy_require_empty",
            Req {
                extra: vec!["X-C: 512", "Proxy-Require: "],
                ..Req::default()
            },
            "SIP/2.0 400 Bad Proxy Require Header",
        ),
        (
            "uri_to",
            Req {
                to: "<sip:bob@:abc>",
                extra: vec!["X-C: 1024"],
                ..Req::default()
            },
            "SIP/2.0 400 Ivalid To Header",
        ),
        (
            "uri_contact_needs_bit_8",
            Req {
                extra: vec!["X-C: 1024", "Contact: <sip:@:x>"],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "uri_contact",
            Req {
                extra: vec!["X-C: 1024", "X-U: 8", "Contact: <sip:@:x>"],
                ..Req::default()
            },
            "SIP/2.0 400 Bad Contact URI",
        ),
        (
            "digest_missing_realm",
            Req {
                extra: vec![
                    "X-C: 2048",
                    r#"Authorization: Digest username="a", nonce="n", uri="sip:x", response="0a""#,
                ],
                ..Req::default()
            },
            "SIP/2.0 400 Bad Auth Credentials",
        ),
        (
            "digest_empty_nonce",
            Req {
                extra: vec![
                    "X-C: 2048",
                    r#"Proxy-Authorization: Digest username="a", realm="r", nonce="", uri="sip:x", response="0a""#,
                ],
                ..Req::default()
            },
            "SIP/2.0 400 Auth Empty Nonce",
        ),
        (
            "digest_basic",
            Req {
                extra: vec!["X-C: 2048", "Authorization: Basic YWxhZGRpbg=="],
                ..Req::default()
            },
            "(no reply)",
        ),
        (
            "authorization_basic",
            Req {
                extra: vec!["X-C: 8192", "Authorization: Basic YWxhZGRpbg=="],
                ..Req::default()
            },
            "SIP/2.0 200 pass",
        ),
        (
            "dup_tags",
            Req {
                from: "<sip:a@x>;tag=1;TAG=2",
                extra: vec!["X-C: 4096"],
                ..Req::default()
            },
            "SIP/2.0 400 Many From Tag Params",
        ),
        (
            "order",
            Req {
                cseq: "1 INVITE",
                extra: vec!["X-C: 544", "Proxy-Require: q"],
                ..Req::default()
            },
            "SIP/2.0 400 CSeq method does not match request method",
        ),
        (
            "checks_out_of_range",
            Req {
                extra: vec!["X-C: 32768"],
                ..Req::default()
            },
            "(no reply)",
        ),
    ];
    let mut wrong = Vec::new();
    for (name, req, want) in cases {
        let got = status(&s, &c, req, name);
        if got != want {
            wrong.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert!(s.wait_log("failed rc=-1", Duration::from_secs(2)));
}

#[test]
fn proxy_require_reply_names_the_extension() {
    let s = Siprd::start(&cfg(""));
    let c = UdpClient::new();
    let req = Req {
        extra: vec!["X-C: 512", "Proxy-Require: x1, x2"],
        ..Req::default()
    };
    let reply = send(&s, &c, &req, "pr").expect("a reply");
    assert_eq!(
        first_line(&reply),
        "SIP/2.0 420 Bad Proxy Require Extension"
    );
    assert_eq!(header(&reply, "Unsupported"), Some("x1"));
    // Kamailio's place for it: after CSeq, before Server.
    let unsupported = reply.find("Unsupported:").unwrap_or(0);
    assert!(reply.find("CSeq:").unwrap_or(usize::MAX) < unsupported);
    if let Some(server) = reply.find("Server:") {
        assert!(unsupported < server);
    }
}

#[test]
fn autodrop_ends_the_script_and_noreply_defers_the_reply() {
    // autodrop (default): the failing request gets sanity's reply and the
    // route ends (no "failed" log line).
    let s = Siprd::start(&cfg(""));
    let c = UdpClient::new();
    let bad = || Req {
        cseq: "1 INVITE",
        extra: vec!["X-C: 32"],
        ..Req::default()
    };
    assert_eq!(
        status(&s, &c, bad(), "drop"),
        "SIP/2.0 400 CSeq method does not match request method"
    );
    c.expect_silence(Duration::from_millis(200));
    assert_eq!(s.count_log("failed rc="), 0);

    // noreply + autodrop: nothing is sent and the script ends.
    let s = Siprd::start(&cfg(r#"modparam("sanity", "noreply", 1)"#));
    assert_eq!(status(&s, &c, bad(), "silent"), "(no reply)");

    // noreply without autodrop: sanity_reply() sends the recorded reply,
    // with its extra header.
    let s = Siprd::start(&cfg(r#"modparam("sanity", "noreply", 1)
modparam("sanity", "autodrop", 0)"#));
    let req = Req {
        extra: vec!["X-Mode: reply", "X-C: 512", "Proxy-Require: x1"],
        ..Req::default()
    };
    let reply = send(&s, &c, &req, "deferred").expect("a reply");
    assert_eq!(
        first_line(&reply),
        "SIP/2.0 420 Bad Proxy Require Extension"
    );
    assert_eq!(header(&reply, "Unsupported"), Some("x1"));
    let ok = Req {
        extra: vec!["X-Mode: reply", "X-C: 512"],
        ..Req::default()
    };
    assert_eq!(status(&s, &c, ok, "fine"), "SIP/2.0 200 pass");
}

#[test]
fn sanity_reply_without_a_failure_sends_500() {
    let s = Siprd::start(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "sl.so"
loadmodule "sanity.so"
modparam("sanity", "noreply", 1)
request_route {
    sanity_reply();
}
"#,
    );
    let c = UdpClient::new();
    assert_eq!(
        status(&s, &c, Req::default(), "none"),
        "SIP/2.0 500 Server Sanity Failure"
    );
}

#[test]
fn a_request_of_another_sip_version_is_not_routed() {
    // Kamailio hands "SIP/3.0" requests to non-SIP handlers only.
    let s = Siprd::start(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "sl.so"
request_route {
    sl_send_reply("200", "routed");
}
"#,
    );
    let c = UdpClient::new();
    let req = build(&Req::default(), c.port(), "v3").replacen("SIP/2.0", "SIP/3.0", 1);
    c.send(s.udp_addr(), &req);
    c.expect_silence(Duration::from_millis(500));
    // lower case "sip/2.0" is SIP 2.0 and routed
    let req = build(&Req::default(), c.port(), "v2").replacen("SIP/2.0", "sip/2.0", 1);
    c.send(s.udp_addr(), &req);
    let reply = c.recv(Duration::from_secs(2)).expect("a reply");
    assert!(reply.contains("200 routed"), "{reply}");
}
