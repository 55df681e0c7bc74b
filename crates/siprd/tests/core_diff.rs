//! Core behaviour checked against Kamailio 5.6 that the kamailio-diff cases
//! cannot express (they send one fixed request): header values as received,
//! replies and Content-Length handling.

mod common;

use common::*;
use std::time::Duration;

const CFG: &str = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "sanity.so"

request_route {
    if ($rU == "fwd") {
        forward("127.0.0.1", "@HOP@");
        exit;
    }
    if ($rU == "san") {
        if (!sanity_check("128")) {
            exit;
        }
        sl_send_reply("200", "sane");
        exit;
    }
    if ($rU == "twice") {
        if (!sl_send_reply("200", "first")) {
            sl_send_reply("500", "first failed");
        }
        exit;
    }
    if ($rU == "auth") {
        sl_send_reply("200", "aa=[$aa] au=$au ad=[$ad] csb=[$csb]");
        exit;
    }
    if ($rU == "body") {
        sl_send_reply("200", "rb=[$rb] bs=$bs cl=$cl");
        exit;
    }
    if ($rU == "ci") {
        sl_send_reply("200", "ci=[$ci]");
        exit;
    }
    if ($rU == "cs") {
        sl_send_reply("200", "cs=$cs");
        exit;
    }
    if ($rU == "hdr") {
        sl_send_reply("200", "h=[$hdr(X-T)] a=[$(hdr(X-T)[*])] l=[$(hdr(X-T)[-1])]");
        exit;
    }
    sl_send_reply("200", "OK");
}
"#;

/// Kamailio 5.6: `$hdr` skips the blanks after the colon but keeps those at
/// the end of the line.
#[test]
fn hdr_keeps_trailing_blanks() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    let req = request(
        "OPTIONS",
        "sip:hdr@127.0.0.1",
        c.port(),
        "hdr1",
        "X-T:   a  \r\nX-T: b\t \r\n",
    );
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 h=[a  ] a=[a  ,b\t ] l=[b\t ]",
        "{r}"
    );
}

/// Kamailio relays a reply with any three-digit status statelessly, but a
/// status line without a reason phrase (no space after the code) does not
/// parse and is dropped.
#[test]
fn stateless_relay_of_odd_status_lines() {
    let hop = NextHop::new();
    let s = Siprd::start(&CFG.replace("@HOP@", &hop.port().to_string()));
    let c = UdpClient::new();
    for (i, (status, relayed)) in [
        ("700 Weird", Some("SIP/2.0 700 Weird")),
        ("099 Low", Some("SIP/2.0 099 Low")),
        ("999 High", Some("SIP/2.0 999 High")),
        ("200 ", Some("SIP/2.0 200 ")),
        ("200", None),
        ("20 Short", None),
    ]
    .into_iter()
    .enumerate()
    {
        let req = request(
            "OPTIONS",
            "sip:fwd@127.0.0.1",
            c.port(),
            &format!("odd{i}"),
            "",
        );
        c.send(s.udp_addr(), &req);
        let (fwd, from) = hop
            .recv_start("OPTIONS", Duration::from_secs(2))
            .expect("forwarded request");
        hop.answer(&fwd, from, status);
        match relayed {
            Some(line) => {
                let r = c.recv(Duration::from_secs(2)).expect("relayed reply");
                assert_eq!(first_line(&r), line);
            }
            None => c.expect_silence(Duration::from_millis(300)),
        }
    }
}

/// A local reply copies the request's SIP-version text as received.
#[test]
fn reply_keeps_the_request_version_text() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    for v in ["sip/2.0", "Sip/2.0", "SIP/2.0"] {
        let req = request("OPTIONS", "sip:x@127.0.0.1", c.port(), "ver", "").replacen(
            "SIP/2.0\r\n",
            &format!("{v}\r\n"),
            1,
        );
        let r = c.request(s.udp_addr(), &req);
        assert_eq!(first_line(&r), format!("{v} 200 OK"));
    }
}

/// Kamailio cannot build a reply to a request whose Content-Length is not a
/// number or is repeated: sl_send_reply returns -1 and sends nothing, and
/// sanity's Content-Length check cannot answer 400 either.
#[test]
fn bad_or_duplicate_content_length_gets_no_reply() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    for (i, ruri) in ["sip:twice@127.0.0.1", "sip:san@127.0.0.1"]
        .iter()
        .enumerate()
    {
        for (j, cl) in [
            "Content-Length: abc\r\n",
            "Content-Length: 0\r\nContent-Length: 0\r\n",
            "Content-Length: 0\r\nl: 5\r\n",
        ]
        .iter()
        .enumerate()
        {
            let req = request("OPTIONS", ruri, c.port(), &format!("cl{i}{j}"), "")
                .replace("Content-Length: 0\r\n", cl);
            c.send(s.udp_addr(), &req);
            c.expect_silence(Duration::from_millis(300));
        }
    }
    // a good one still gets its answer
    let req = request("OPTIONS", "sip:san@127.0.0.1", c.port(), "clok", "");
    c.send(s.udp_addr(), &req);
    let r = c.recv(Duration::from_secs(2)).unwrap_or_default();
    assert_eq!(first_line(&r), "SIP/2.0 200 sane", "{}", s.log());
}

/// RFC 3261 §16.11 and Kamailio: a statelessly forwarded request, its
/// retransmission, the CANCEL and the ACK for it get the same Via branch on
/// our Via; a request with another top branch gets another one. (The text
/// differs from Kamailio's `z9hG4bK<x>.<md5>.0`; only these equalities matter.)
#[test]
fn stateless_branch_is_stable() {
    let hop = NextHop::new();
    let s = Siprd::start(&CFG.replace("@HOP@", &hop.port().to_string()));
    let c = UdpClient::new();
    let our_branch = |m: &str| -> String {
        let via = header(m, "Via").unwrap_or_default().to_string();
        via.split(";branch=").nth(1).unwrap_or_default().to_string()
    };
    let mut seen = Vec::new();
    for (method, top, to_tag) in [
        ("INVITE", "z9hG4bK-s1", ""),
        ("INVITE", "z9hG4bK-s1", ""),
        ("CANCEL", "z9hG4bK-s1", ""),
        ("ACK", "z9hG4bK-s1", ";tag=t9"),
        ("INVITE", "z9hG4bK-s2", ""),
    ] {
        let req = request(method, "sip:fwd@127.0.0.1", c.port(), "stable", "")
            .replace("z9hG4bK-stable", top)
            .replace(
                "To: <sip:bob@127.0.0.1>",
                &format!("To: <sip:bob@127.0.0.1>{to_tag}"),
            );
        c.send(s.udp_addr(), &req);
        let (fwd, _) = hop
            .recv_start(method, Duration::from_secs(2))
            .expect("forwarded");
        let b = our_branch(&fwd);
        assert!(b.starts_with("z9hG4bK") && b.len() > 7, "{fwd}");
        seen.push(b);
    }
    assert_eq!(seen[0], seen[1], "retransmission");
    assert_eq!(seen[0], seen[2], "CANCEL");
    assert_eq!(seen[0], seen[3], "ACK");
    assert_ne!(seen[0], seen[4], "another transaction");
}

/// Kamailio's `$cs` is the CSeq number text as received, even when it is
/// not a valid number.
#[test]
fn cs_is_the_number_text() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    for n in ["abc", "-1", "4294967296", "0042"] {
        let req = request("OPTIONS", "sip:cs@127.0.0.1", c.port(), "cs", "")
            .replace("CSeq: 1 OPTIONS", &format!("CSeq: {n} OPTIONS"));
        let r = c.request(s.udp_addr(), &req);
        assert_eq!(first_line(&r), format!("SIP/2.0 200 cs={n}"));
    }
}

const RURI_CFG: &str = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"

request_route {
    sl_send_reply("200", "ru=$ru rU=$rU rd=$rd rp=$rp rz=$rz rP=$rP ou=$ou tu=$(ru{uri.user}) tp=$(ru{uri.port})");
}
"#;

/// What Kamailio 5.6 does with odd Request-URIs: any token without blanks is
/// taken at the start line and the route runs; a URI its parser refuses
/// (no scheme, `<...>`, `*`, an unknown scheme, `sip:@h`, a bad port) reads
/// as null everywhere. `urn:` parses with `:` splitting user and host,
/// `$rz` is the scheme in lower case, `$rP` is `UDP` without a transport.
#[test]
fn request_uri_forms() {
    let s = Siprd::start(RURI_CFG);
    let c = UdpClient::new();
    let null = "ru=<null> rU=<null> rd=<null> rp=<null> rz=<null> rP=<null> ou=<null> tu= tp=";
    let cases: &[(&str, &str)] = &[
        ("bob@127.0.0.1", null),
        ("<sip:bob@127.0.0.1>", null),
        ("*", null),
        ("1sip:bob@x", null),
        ("im:bob@x.com", null),
        ("http://example.com/x", null),
        ("tels:+1;a=b", null),
        ("sip:", null),
        ("tel:", null),
        ("sip:@host", null),
        ("sip:bob@", null),
        ("sip:a@b@c", null),
        ("sip:bob@127.0.0.1:99999", null),
        ("urn:nena:service:sos", null),
        ("urn:service:sos;a=b", null),
        ("urn:service:sos?x=y", null),
        (
            "urn:service:sos",
            "ru=urn:service:sos rU=service rd=sos rp=5060 rz=urn rP=UDP ou=urn:service:sos tu=service tp=",
        ),
        (
            "URN:service:sos",
            "ru=URN:service:sos rU=service rd=sos rp=5060 rz=urn rP=UDP ou=URN:service:sos tu=service tp=",
        ),
        (
            "urn:service:5070",
            "ru=urn:service:5070 rU=<null> rd=service rp=5070 rz=urn rP=UDP ou=urn:service:5070 tu= tp=5070",
        ),
        (
            "urn:x",
            "ru=urn:x rU=<null> rd=x rp=5060 rz=urn rP=UDP ou=urn:x tu= tp=",
        ),
        (
            "urn:a:b@c:5070;x=y",
            "ru=urn:a:b@c:5070;x=y rU=a rd=c rp=5070 rz=urn rP=UDP ou=urn:a:b@c:5070;x=y tu=a tp=5070",
        ),
        (
            "tel:+1@x",
            "ru=tel:+1@x rU=x rd=<null> rp=5060 rz=tel rP=UDP ou=tel:+1@x tu=x tp=",
        ),
        (
            "TEL:+1",
            "ru=TEL:+1 rU=+1 rd=<null> rp=5060 rz=tel rP=UDP ou=TEL:+1 tu=+1 tp=",
        ),
        (
            "sIp:bob@host:;transport=TCP",
            "ru=sIp:bob@host:;transport=TCP rU=bob rd=host rp= rz=sip rP=TCP ou=sIp:bob@host:;transport=TCP tu=bob tp=",
        ),
        (
            "sip:b%41b!*@127.0.0.1;x=\"y\"",
            "ru=sip:b%41b!*@127.0.0.1;x=\"y\" rU=b%41b!* rd=127.0.0.1 rp=5060 rz=sip rP=UDP ou=sip:b%41b!*@127.0.0.1;x=\"y\" tu=b%41b!* tp=",
        ),
    ];
    for (i, (ru, want)) in cases.iter().enumerate() {
        let req = request("OPTIONS", ru, c.port(), &format!("ruf{i}"), "");
        let r = c.request(s.udp_addr(), &req);
        assert_eq!(first_line(&r), format!("SIP/2.0 200 {want}"), "{ru}");
    }
    // blanks inside the URI: not a request line, dropped
    let req = request("OPTIONS", "sip:bob smith@127.0.0.1", c.port(), "rufsp", "");
    c.send(s.udp_addr(), &req);
    c.expect_silence(Duration::from_millis(400));
}

const CODES_CFG: &str = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"

request_route {
    $var(c) = $hdr(X-Code);
    if ($hdr(X-Int) == "1") {
        $var(c) = $(hdr(X-Code){s.int});
    }
    if ($hdr(X-Fn) == "send_reply") {
        send_reply("$var(c)", "x");
    } else {
        sl_send_reply("$var(c)", "x");
    }
}
"#;

/// Kamailio's sl_send_reply/send_reply take any integer code and send the last
/// three digits of its unsigned 32-bit form; a value that is no integer sends
/// 500. The To tag is added when the given code is 180 or more.
#[test]
fn reply_codes_as_given() {
    let s = Siprd::start(CODES_CFG);
    let c = UdpClient::new();
    let cases: &[(&str, bool, &str, bool)] = &[
        // (X-Code, as integer, status line, To tag)
        ("abc", false, "SIP/2.0 500 x", true),
        ("404", false, "SIP/2.0 500 x", true),
        // a failed {s.int} assigns 0
        ("200x", true, "SIP/2.0 000 x", false),
        ("99", true, "SIP/2.0 099 x", false),
        ("0", true, "SIP/2.0 000 x", false),
        ("101", true, "SIP/2.0 101 x", false),
        ("179", true, "SIP/2.0 179 x", false),
        ("180", true, "SIP/2.0 180 x", true),
        ("700", true, "SIP/2.0 700 x", true),
        ("1000", true, "SIP/2.0 000 x", true),
        ("1099", true, "SIP/2.0 099 x", true),
        ("-1", true, "SIP/2.0 295 x", false),
        ("-200", true, "SIP/2.0 096 x", false),
    ];
    for (i, (code, int, line, tag)) in cases.iter().enumerate() {
        for f in ["sl_send_reply", "send_reply"] {
            let extra = format!(
                "X-Code: {code}\r\nX-Int: {}\r\nX-Fn: {f}\r\n",
                u8::from(*int)
            );
            let req = request(
                "OPTIONS",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("code{i}{f}"),
                &extra,
            );
            c.send(s.udp_addr(), &req);
            let r = c
                .recv(Duration::from_secs(2))
                .unwrap_or_else(|| panic!("{code} {f}: no reply"));
            assert_eq!(first_line(&r), *line, "{code} {f}");
            let to = header(&r, "To").unwrap_or_default();
            assert_eq!(to.contains(";tag="), *tag, "{code} {f}: {to}");
        }
    }
}

const TM_CODES_CFG: &str = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"

request_route {
    $var(c) = $hdr(X-Code);
    if ($hdr(X-Int) == "1") {
        $var(c) = $(hdr(X-Code){s.int});
    }
    if ($hdr(X-Fn) == "t_send_reply") {
        t_send_reply("$var(c)", "x");
    } else {
        t_newtran();
        t_reply("$var(c)", "x");
    }
}
"#;

/// tm's `t_reply`/`t_send_reply` (Kamailio 5.6.3) send any integer code as the
/// last three digits of its unsigned 32-bit value, as sl does, but take the
/// code unsigned for the To tag: `-1` goes out as `295` with a tag. A value
/// that is no integer sends 500.
#[test]
fn tm_reply_codes_as_given() {
    let s = Siprd::start(TM_CODES_CFG);
    let c = UdpClient::new();
    let cases: &[(&str, bool, &str, bool)] = &[
        ("abc", false, "SIP/2.0 500 x", true),
        ("404", false, "SIP/2.0 500 x", true),
        ("99", true, "SIP/2.0 099 x", false),
        ("0", true, "SIP/2.0 000 x", false),
        ("179", true, "SIP/2.0 179 x", false),
        ("180", true, "SIP/2.0 180 x", true),
        ("700", true, "SIP/2.0 700 x", true),
        ("1000", true, "SIP/2.0 000 x", true),
        ("1099", true, "SIP/2.0 099 x", true),
        ("-1", true, "SIP/2.0 295 x", true),
        ("-200", true, "SIP/2.0 096 x", true),
    ];
    for (i, (code, int, line, tag)) in cases.iter().enumerate() {
        for f in ["t_reply", "t_send_reply"] {
            let extra = format!(
                "X-Code: {code}\r\nX-Int: {}\r\nX-Fn: {f}\r\n",
                u8::from(*int)
            );
            let req = request(
                "OPTIONS",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("tmcode{i}{f}"),
                &extra,
            );
            c.send(s.udp_addr(), &req);
            let r = c
                .recv(Duration::from_secs(2))
                .unwrap_or_else(|| panic!("{code} {f}: no reply"));
            assert_eq!(first_line(&r), *line, "{code} {f}");
            let to = header(&r, "To").unwrap_or_default();
            assert_eq!(to.contains(";tag="), *tag, "{code} {f}: {to}");
        }
    }
}

/// Kamailio drops a message whose CSeq is not two tokens (`5`, `OPTIONS`,
/// `5 OPTIONS x`) while the number itself is not checked; `$ci` keeps the
/// blanks that end the Call-ID line.
#[test]
fn cseq_shape_and_call_id_text() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    for cs in ["5", "5 ", "OPTIONS", "5 OPTIONS extra", ""] {
        let req = request("OPTIONS", "sip:cs@127.0.0.1", c.port(), "csbad", "")
            .replace("CSeq: 1 OPTIONS", &format!("CSeq: {cs}"));
        c.send(s.udp_addr(), &req);
        c.expect_silence(Duration::from_millis(300));
    }
    for cs in ["5  \t OPTIONS  ", "abc INVITE", "99999999999 OPTIONS"] {
        let req = request("OPTIONS", "sip:cs@127.0.0.1", c.port(), "csok", "")
            .replace("CSeq: 1 OPTIONS", &format!("CSeq: {cs}"));
        let r = c.request(s.udp_addr(), &req);
        assert!(first_line(&r).starts_with("SIP/2.0 200 cs="), "{cs}: {r}");
    }
    let req = request("OPTIONS", "sip:ci@127.0.0.1", c.port(), "x", "")
        .replace("Call-ID: x\r\n", "Call-ID:   abc  \r\n");
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&r), "SIP/2.0 200 ci=[abc  ]");
}

/// `$aa` is the credentials' algorithm (empty when they have none, null
/// without credentials); `$csb` the CSeq value.
#[test]
fn auth_algorithm_and_cseq_body() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    for (i, (extra, want)) in [
        (
            "Authorization: Digest username=\"bob@x.com\", realm=\"x.com\", nonce=\"n\", uri=\"sip:x.com\", response=\"r\", algorithm=MD5\r\n",
            "aa=[MD5] au=bob ad=[x.com] csb=[1 OPTIONS]",
        ),
        (
            "Authorization: Digest username=\"bob\", realm=\"x.com\", nonce=\"n\", uri=\"sip:x.com\", response=\"r\"\r\n",
            "aa=[] au=bob ad=[] csb=[1 OPTIONS]",
        ),
        ("", "aa=[<null>] au=<null> ad=[<null>] csb=[1 OPTIONS]"),
    ]
    .iter()
    .enumerate()
    {
        let req = request("OPTIONS", "sip:auth@127.0.0.1", c.port(), &format!("auth{i}"), extra);
        let r = c.request(s.udp_addr(), &req);
        assert_eq!(first_line(&r), format!("SIP/2.0 200 {want}"));
    }
}

/// `$?` is `$rc` (also in expressions and with transformations); the core
/// `set_advertised_address()`/`set_advertised_port()` change our Via in what
/// this message forwards, each on its own, but not `$RAi`/`$RAp`.
#[test]
fn rc_short_name_and_advertised_per_message() {
    let hop = NextHop::new();
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
route[FIVE] { return 5; }
request_route {
    if ($rU == "rc") {
        route(FIVE);
        if ($? == 5) { $var(a) = "five"; }
        $var(b) = $? + 1;
        sl_send_reply("200", "a=$var(a) b=$var(b) c=$(?{s.len}) d=$?");
        exit;
    }
    if ($rU == "both") {
        set_advertised_address("1.2.3.4");
        set_advertised_port(5099);
    }
    if ($rU == "addr") { set_advertised_address("example.net"); }
    if ($rU == "port") { set_advertised_port(6000); }
    if ($rU == "ra") {
        set_advertised_address("1.2.3.4");
        sl_send_reply("200", "RAi=$RAi rc=$rc");
        exit;
    }
    forward("127.0.0.1", "@HOP@");
}
"#
    .replace("@HOP@", &hop.port().to_string());
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:rc@127.0.0.1", "rc1");
    assert_eq!(first_line(&r), "SIP/2.0 200 a=five b=6 c=1 d=5");
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:ra@127.0.0.1", "ra1");
    assert_eq!(first_line(&r), "SIP/2.0 200 RAi=127.0.0.1 rc=0");
    let sp = s.udp_addr().port();
    for (user, via) in [
        ("both", "1.2.3.4:5099".to_string()),
        ("addr", format!("example.net:{sp}")),
        ("port", "127.0.0.1:6000".to_string()),
        ("none", format!("127.0.0.1:{sp}")),
    ] {
        let req = request(
            "OPTIONS",
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            user,
            "",
        );
        c.send(s.udp_addr(), &req);
        let (fwd, _) = hop
            .recv_start("OPTIONS", Duration::from_secs(2))
            .expect("forwarded");
        let top = header(&fwd, "Via").unwrap_or_default();
        assert!(
            top.starts_with(&format!("SIP/2.0/UDP {via};branch=")),
            "{user}: {top}"
        );
    }
}

/// A request whose R-URI does not parse (Kamailio 5.6): `forward()` fails
/// without `$du` and relays it as received with one; `t_relay()` (and
/// `t_newtran()`) fail with -400 even with `$du`, and work once `$ru` is set.
#[test]
fn unparsable_ruri_forward_and_relay() {
    let hop = NextHop::new();
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
request_route {
    if ($ci == "u-a") { if (!forward()) { sl_send_reply("500", "fwd failed"); } exit; }
    if ($ci == "u-b") { $du = "sip:127.0.0.1:@HOP@"; forward(); exit; }
    if ($ci == "u-c") { $du = "sip:127.0.0.1:@HOP@"; if (!t_relay()) { sl_send_reply("500", "relay failed $rc"); } exit; }
    if ($ci == "u-d") { $ru = "sip:x@127.0.0.1:@HOP@"; if (!t_relay()) { sl_send_reply("500", "relay failed $rc"); } exit; }
}
"#
    .replace("@HOP@", &hop.port().to_string());
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "*", "u-a");
    assert_eq!(first_line(&r), "SIP/2.0 500 fwd failed");
    c.send_request(s.udp_addr(), "OPTIONS", "<sip:x@y>", "u-b");
    let (fwd, _) = hop
        .recv_start("OPTIONS", Duration::from_secs(2))
        .expect("forwarded");
    assert_eq!(first_line(&fwd), "OPTIONS <sip:x@y> SIP/2.0");
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "*", "u-c");
    assert_eq!(first_line(&r), "SIP/2.0 500 relay failed -400");
    assert!(hop.collect(Duration::from_millis(200)).is_empty());
    c.send_request(s.udp_addr(), "OPTIONS", "*", "u-d");
    let (fwd, _) = hop
        .recv_start("OPTIONS", Duration::from_secs(2))
        .expect("relayed");
    assert_eq!(
        first_line(&fwd),
        format!("OPTIONS sip:x@127.0.0.1:{} SIP/2.0", hop.port())
    );
}

/// `add_tcp_alias()`/`force_tcp_alias([port])`: what is later sent to the
/// source IP and the Via port (or the given one) goes on the connection the
/// request came on; true and nothing done for UDP.
#[test]
fn tcp_alias_reuses_the_connection() {
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    if ($rU == "alias") {
        if (add_tcp_alias()) { $var(a) = "t"; }
        if (force_tcp_alias(@P2@)) { $var(b) = "t"; }
        sl_send_reply("200", "alias $var(a)$var(b)");
        exit;
    }
    if ($rU == "fwd") {
        $du = "sip:127.0.0.1:" + $hdr(X-Port) + ";transport=tcp";
        forward();
        exit;
    }
}
"#;
    let p1 = free_tcp_port();
    let p2 = free_tcp_port();
    let s = Siprd::start(&cfg.replace("@P2@", &p2.to_string()));
    let mut t = TcpClient::connect(s.tcp_addr());
    let req = request("OPTIONS", "sip:alias@127.0.0.1", p1, "ta1", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    t.send(req.as_bytes());
    let r = t.recv(Duration::from_secs(2)).expect("reply on tcp");
    assert_eq!(first_line(&r), "SIP/2.0 200 alias tt");
    let c = UdpClient::new();
    // over UDP the alias functions are true and do nothing
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:alias@127.0.0.1", "ta2");
    assert_eq!(first_line(&r), "SIP/2.0 200 alias tt");
    for (i, port) in [p1, p2].into_iter().enumerate() {
        let req = request(
            "OPTIONS",
            "sip:fwd@127.0.0.1",
            c.port(),
            &format!("taf{i}"),
            &format!("X-Port: {port}\r\n"),
        );
        c.send(s.udp_addr(), &req);
        let got = t
            .recv(Duration::from_secs(2))
            .expect("forwarded on the aliased connection");
        assert!(
            got.starts_with("OPTIONS sip:fwd@127.0.0.1 SIP/2.0"),
            "{got}"
        );
        assert!(got.contains(&format!("Call-ID: taf{i}")), "{got}");
    }
}

/// Over UDP, `$rb`/`$bs` are all the datagram holds after the headers, also
/// past a Content-Length that is too short (Kamailio 5.6).
#[test]
fn body_is_the_rest_of_the_datagram() {
    let s = Siprd::start(&CFG.replace("@HOP@", "9"));
    let c = UdpClient::new();
    for (i, (cl, want)) in [
        ("2", "rb=[abcd] bs=4 cl=2"),
        ("10", "rb=[abcd] bs=4 cl=10"),
        ("4", "rb=[abcd] bs=4 cl=4"),
    ]
    .iter()
    .enumerate()
    {
        let req = request(
            "OPTIONS",
            "sip:body@127.0.0.1",
            c.port(),
            &format!("body{i}"),
            "",
        )
        .replace(
            "Content-Length: 0\r\n\r\n",
            &format!("Content-Length: {cl}\r\n\r\nabcd"),
        );
        let r = c.request(s.udp_addr(), &req);
        assert_eq!(first_line(&r), format!("SIP/2.0 200 {want}"));
    }
}

/// Kamailio trims transformation string parameters: one made only of blanks
/// is empty (`{s.replace, ,x}` replaces nothing, `{s.replace,b, }` deletes,
/// `{s.before, }` finds nothing), while a separator (`{s.select,1, }`) is a
/// blank as written.
#[test]
fn blank_transformation_parameters() {
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    $var(s) = "a b c";
    $var(r1) = $(var(s){s.replace,b, });
    $var(r2) = $(var(s){s.rm, });
    $var(r3) = $(var(s){s.before, });
    $var(r4) = $(var(s){s.after, });
    $var(r5) = $(var(s){s.replace, ,x});
    $var(r6) = $(var(s){s.replace,,x});
    $var(r7) = $(var(s){s.count, });
    sl_send_reply("200", "[$var(r1)] [$var(r2)] [$var(r3)] [$var(r4)] [$var(r5)] [$var(r6)] [$var(r7)] [$(var(s){s.select, 1 , })] [$(var(s){s.replace, a , Y })]");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:x@127.0.0.1", "blank");
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 [a  c] [a b c] [a b c] [] [a b c] [a b c] [0] [b] [Y b c]"
    );
}

/// Kamailio's integer fixups refuse a quoted number with blanks around it.
#[test]
fn quoted_int_with_blanks_is_refused_at_load() {
    for code in ["\" 200\"", "\"200 \""] {
        let cfg =
            format!("loadmodule \"sl.so\"\nrequest_route {{ sl_send_reply({code}, \"x\"); }}\n");
        let (rc, out) = check_config(&cfg);
        assert_ne!(rc, 0, "{code}: {out}");
        assert!(out.contains("must be an integer"), "{out}");
    }
    let (rc, out) =
        check_config("loadmodule \"sl.so\"\nrequest_route { sl_send_reply(\"200\", \"x\"); }\n");
    assert_eq!(rc, 0, "{out}");
}

/// `$def(NAME)` is a `#!define`'s value as written (quotes kept, null when
/// never defined, still there after `#!undef`); `$defn(NAME)` the same as an
/// integer (0 when never defined).
#[test]
fn def_and_defn() {
    let cfg = r#"
#!define DSTR "bar baz"
#!define DNUM 42
#!define DEMPTY
#!define DU 5
#!undef DU
#!define DR 1
#!redefine DR 2
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    $var(a) = $defn(DNUM) + 1;
    $var(b) = $def(DNUM) + 1;
    sl_send_reply("200", "s=[$def(DSTR)] e=[$def(DEMPTY)] x=[$def(NOPE)] xn=[$defn(NOPE)] u=[$def(DU)] r=[$def(DR)] k=[$def(KAMAILIO_5)] a=$var(a) b=$var(b)");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:x@127.0.0.1", "def");
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 s=[\"bar baz\"] e=[] x=[<null>] xn=[0] u=[5] r=[2] k=[] a=43 b=421"
    );
}

/// Kamailio takes a `[index]` only on a few classes (`$hdr`, `$avp`); on the
/// others (`$(ru[0])`, `$(var(x)[0])`, `$(hdrc(X)[0])`) the config does not load.
#[test]
fn index_only_where_kamailio_takes_one() {
    let load = |pv: &str| {
        check_config(&format!(
            "loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nrequest_route {{ sl_send_reply(\"200\", \"x=$({pv})\"); }}\n"
        ))
    };
    for pv in [
        "ru[0]",
        "var(x)[0]",
        "hdrc(Via)[0]",
        "ct[*]",
        "ci[1]",
        "fu[-1]",
    ] {
        let (rc, out) = load(pv);
        assert_ne!(rc, 0, "{pv}: {out}");
        assert!(out.contains("takes no `[index]`"), "{pv}: {out}");
    }
    for pv in ["hdr(Via)[0]", "hdr(Via)[*]", "avp(x)[-1]", "avp(x)[*]"] {
        let (rc, out) = load(pv);
        assert_eq!(rc, 0, "{pv}: {out}");
    }
}

/// `$mi` numbers the messages a worker receives, from 1 (Kamailio's
/// per-process counter): the same value all through a message's routes.
#[test]
fn message_id() {
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
route[SUB] { $var(b) = $mi; }
request_route {
    $var(a) = $mi;
    route(SUB);
    if ($var(a) == $var(b) && $var(a) == $mi) {
        sl_send_reply("200", "mi=$mi");
    } else {
        sl_send_reply("500", "changed");
    }
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let mut seen = Vec::new();
    for i in 0..3 {
        let r = c.request(
            s.udp_addr(),
            &request(
                "OPTIONS",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("mi{i}"),
                "",
            ),
        );
        let line = first_line(&r).to_string();
        // one worker (children=1): its received messages counted from 1
        assert_eq!(line, format!("SIP/2.0 200 mi={}", i + 1));
        assert!(!seen.contains(&line), "{line} seen twice");
        seen.push(line);
    }
}

/// `$conid` is the TCP connection's id, counted from 1 per new connection
/// (as Kamailio 5.6: 1, 1, 2, 2, 3 for two requests on each of three
/// connections); null over UDP (where Kamailio 5.6.3 crashes).
#[test]
fn conid_per_tcp_connection() {
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    sl_send_reply("200", "conid=[$conid] len=$(conid{s.len})");
}
"#;
    let s = Siprd::start(cfg);
    for k in 1..=3 {
        let mut t = TcpClient::connect(s.tcp_addr());
        for i in 0..2 {
            let req = request(
                "OPTIONS",
                "sip:c@127.0.0.1",
                t.port(),
                &format!("cid{k}{i}"),
                "",
            )
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
            t.send(req.as_bytes());
            let r = t.recv(Duration::from_secs(2)).expect("reply on tcp");
            assert_eq!(first_line(&r), format!("SIP/2.0 200 conid=[{k}] len=1"));
        }
    }
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:c@127.0.0.1", "cidu");
    assert!(
        first_line(&r).starts_with("SIP/2.0 200 conid=[<null>]"),
        "{r}"
    );
}

/// textops `append_body_part_hex` (Kamailio 5.6.3): the part's content is the
/// hex text decoded (either case); empty, odd-length or non-hex text is -1.
#[test]
fn append_body_part_hex_decodes() {
    let hop = NextHop::new();
    let cfg = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
request_route {
    if ($rU == "a") { $var(r) = append_body_part_hex("4142", "application/x"); }
    if ($rU == "c") { $var(r) = append_body_part_hex("4a4B", "text/plain", "render"); }
    if ($rU == "d") { $var(r) = append_body_part_hex("414", "text/x"); }
    if ($rU == "e") { $var(r) = append_body_part_hex("", "text/x"); }
    if ($rU == "f") { $var(r) = append_body_part_hex("4x", "text/x"); }
    append_hf("X-R: $var(r)\r\n");
    forward("127.0.0.1", "@HOP@");
}
"#
    .replace("@HOP@", &hop.port().to_string());
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let body = "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n";
    let head = "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n";
    for (u, r, part) in [
        (
            "a",
            "1",
            "--b1\r\nContent-Type: application/x\r\n\r\nAB\r\n",
        ),
        (
            "c",
            "1",
            "--b1\r\nContent-Type: text/plain\r\nContent-Disposition: render\r\n\r\nJK\r\n",
        ),
        ("d", "-1", ""),
        ("e", "-1", ""),
        ("f", "-1", ""),
    ] {
        let req = request("MESSAGE", &format!("sip:{u}@127.0.0.1"), c.port(), u, "").replace(
            "Content-Length: 0\r\n\r\n",
            &format!(
                "Content-Type: multipart/mixed;boundary=\"b1\"\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        c.send(s.udp_addr(), &req);
        let got = hop.collect(Duration::from_millis(500));
        let (m, _) = got
            .first()
            .unwrap_or_else(|| panic!("{u}: nothing forwarded"));
        assert_eq!(header(m, "X-R"), Some(r), "{u}");
        let (_, b) = m.split_once("\r\n\r\n").expect("body");
        assert_eq!(b, format!("{head}{part}--b1--\r\n"), "{u}");
    }
}

/// The core `log([level,] text)` (Kamailio 5.6.3): the text as written (no
/// PV expanded) at the numeric level; without a level at L_DBG+1, printed
/// only with `debug=4`; `$rc` is left alone.
#[test]
fn core_log_function() {
    let cfg = r#"
debug=4
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
route[NEG] { return -3; }
request_route {
    route(NEG);
    log(1, "L1 notice $rm\n");
    log(2, "L2 info\n");
    log("L3 default\n");
    sl_send_reply("200", "rc=$rc");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:l@127.0.0.1", "log1");
    assert_eq!(first_line(&r), "SIP/2.0 200 rc=-3");
    assert!(
        s.wait_log("NOTICE: <script>: L1 notice $rm", Duration::from_secs(2)),
        "{}",
        s.log()
    );
    assert!(s.wait_log("INFO: <script>: L2 info", Duration::from_secs(2)));
    assert!(s.wait_log("DEBUG: <script>: L3 default", Duration::from_secs(2)));
}

/// `xlogl`/`xdbgl` put the config line of the call before the message, as
/// Kamailio 5.6 (`<script>: 14:text`); `xlog` does not.
#[test]
fn xlogl_prints_the_config_line() {
    let cfg = "debug=3\nchildren=1\nlisten=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"xlog.so\"\n\nrequest_route {\n    xlogl(\"L_ERR\", \"XL1 $rm\\n\");\n    xdbgl(\"XL2\\n\");\n    xlogl(\"LOG_LOCAL0\", \"L_INFO\", \"XL3\\n\");\n    xlog(\"L_ERR\", \"XL4\\n\");\n    sl_send_reply(\"200\", \"ok\");\n}\n";
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    c.request_reply(s.udp_addr(), "OPTIONS", "sip:l@127.0.0.1", "xlogl1");
    assert!(
        s.wait_log("ERROR: <script>: 9:XL1 OPTIONS", Duration::from_secs(2)),
        "{}",
        s.log()
    );
    assert!(s.wait_log("DEBUG: <script>: 10:XL2", Duration::from_secs(2)));
    assert!(s.wait_log("INFO: <script>: 11:XL3", Duration::from_secs(2)));
    assert!(s.wait_log("ERROR: <script>: XL4", Duration::from_secs(2)));
}
