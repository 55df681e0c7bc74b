//! textops on the wire, as observed on Kamailio 5.6 (same script, same
//! request, forwarded request compared): where `append_hf`/`insert_hf` put
//! a header next to a named one, `set_body_multipart`, and substitutions
//! that stop at an empty match.

mod common;

use common::*;
use std::net::UdpSocket;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(3);

fn hop() -> (UdpSocket, u16) {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind the next hop");
    s.set_read_timeout(Some(WAIT)).expect("timeout");
    let p = s.local_addr().expect("local addr").port();
    (s, p)
}

fn recv(s: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65536];
    let (n, _) = s.recv_from(&mut buf).expect("forwarded request");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn cfg(route: &str) -> String {
    format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
request_route {{
{route}
}}
"#
    )
}

fn req(port: u16, cid: &str, body: &str, extra: &str) -> String {
    format!(
        "OPTIONS sip:bob@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{cid}\r\n\
         From: <sip:alice@127.0.0.1>;tag=f-{cid}\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: {cid}\r\n\
         CSeq: 1 OPTIONS\r\n\
         X-Multi: one\r\n\
         X-Multi: two\r\n\
         {extra}Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn headers_of(msg: &str) -> Vec<&str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

fn body_of(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn append_hf_goes_after_the_last_header_of_that_name() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    append_hf("X-A: 1\r\n", "X-Multi");
    append_hf("X-B: 1\r\n", "x-multi");
    append_hf("X-C: 1\r\n", "v");
    insert_hf("X-D: 1\r\n", "Via");
    insert_hf("X-E: 1\r\n", "X-Multi");
    append_hf("X-F: 1\r\n", "X-Nothere");
    insert_hf("X-G: 1\r\n", "X-Nothere");
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    c.send(s.udp_addr(), &req(c.port(), "ahf1", "hello world", ""));
    let f = recv(&h);
    let hs = headers_of(&f);
    // Kamailio 5.6: X-D: 1, X-G: 1 (call order), Via (ours), Via, X-C,
    // ..., X-E, X-Multi: one, X-Multi: two, X-A, X-B, ..., X-F.
    assert_eq!(&hs[..2], &["X-D: 1", "X-G: 1"], "{f}");
    let via = hs
        .iter()
        .rposition(|l| l.starts_with("Via:"))
        .expect("a Via");
    assert_eq!(hs[via + 1], "X-C: 1", "{f}");
    let one = hs
        .iter()
        .position(|l| *l == "X-Multi: one")
        .expect("X-Multi");
    assert_eq!(
        &hs[one - 1..one + 4],
        &["X-E: 1", "X-Multi: one", "X-Multi: two", "X-A: 1", "X-B: 1"],
        "{f}"
    );
    assert_eq!(hs.last(), Some(&"X-F: 1"), "{f}");
}

#[test]
fn set_body_multipart_wraps_the_body() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    if ($rU == "none") {{ $var(r) = set_body_multipart(); }}
    else if ($rU == "three") {{ $var(r) = set_body_multipart("txt", "text/x", "BND"); }}
    else if ($rU == "one") {{ $var(r) = set_body_multipart("BND2"); }}
    else if ($rU == "emptytxt") {{ $var(r) = set_body_multipart("", "text/x", "B"); }}
    else if ($rU == "emptyct") {{ $var(r) = set_body_multipart("t", "", ""); }}
    else {{ $var(r) = set_body_multipart("a", "b/c"); }}
    append_hf("X-R: $var(r)\r\n");
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    let send = |user: &str, body: &str, extra: &str| {
        let r = req(c.port(), &format!("mp-{user}"), body, extra)
            .replace("sip:bob@example.com", &format!("sip:{user}@example.com"));
        c.send(s.udp_addr(), &r);
        recv(&h)
    };

    // No argument: the current body and its type become the one part.
    let f = send("none", "hello world", "");
    let hs = headers_of(&f);
    let n = hs.len();
    assert_eq!(
        &hs[n - 4..],
        &[
            "Content-Length: 83",
            "Content-Type: multipart/mixed;boundary=\"unique-boundary-1\"",
            "Mime-Version: 1.0",
            "X-R: 1"
        ],
        "{f}"
    );
    assert!(
        !f.contains("Content-Type: text/plain\r\nContent-Length"),
        "{f}"
    );
    assert_eq!(
        body_of(&f),
        "--unique-boundary-1\r\nContent-Type: text/plain\r\n\r\nhello world\r\n--unique-boundary-1\r\n"
    );

    // Text, type and boundary.
    let f = send("three", "hello world", "");
    assert!(
        f.contains("Content-Type: multipart/mixed;boundary=\"BND\"\r\n"),
        "{f}"
    );
    assert_eq!(
        body_of(&f),
        "--BND\r\nContent-Type: text/x\r\n\r\ntxt\r\n--BND\r\n"
    );
    assert!(f.contains("Content-Length: 43\r\n"), "{f}");

    // One argument is the boundary.
    let f = send("one", "hello world", "");
    assert_eq!(
        body_of(&f),
        "--BND2\r\nContent-Type: text/plain\r\n\r\nhello world\r\n--BND2\r\n"
    );

    // An empty text wraps the body with its own type; an empty type is
    // text/plain, an empty boundary the default.
    let f = send("emptytxt", "hello world", "");
    assert_eq!(
        body_of(&f),
        "--B\r\nContent-Type: text/plain\r\n\r\nhello world\r\n--B\r\n"
    );
    let f = send("emptyct", "hello world", "");
    assert_eq!(
        body_of(&f),
        "--unique-boundary-1\r\nContent-Type: text/plain\r\n\r\nt\r\n--unique-boundary-1\r\n"
    );

    // A Mime-Version already there stays, another one is added.
    let f = send("two", "hello world", "Mime-Version: 1.0\r\n");
    assert_eq!(f.matches("Mime-Version: 1.0\r\n").count(), 2, "{f}");
    assert_eq!(
        body_of(&f),
        "--unique-boundary-1\r\nContent-Type: b/c\r\n\r\na\r\n--unique-boundary-1\r\n"
    );

    // Nothing to wrap: -1, message unchanged.
    let f = send("none", "", "");
    assert!(f.contains("Content-Type: text/plain\r\n"), "{f}");
    assert!(f.contains("X-R: -1\r\n"), "{f}");
    assert!(!f.contains("multipart"), "{f}");
}

#[test]
fn substitutions_stop_at_an_empty_match() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    $var(r) = "";
    subst_body("/l*/_/g"); $var(r) = $var(r) + $rc + ",";
    subst_body("/d*$/!/"); $var(r) = $var(r) + $rc + ",";
    subst_body("/^/>/"); $var(r) = $var(r) + $rc + ",";
    subst("/z*/_/g"); $var(r) = $var(r) + $rc + ",";
    append_hf("X-R: $var(r)\r\n");
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    c.send(s.udp_addr(), &req(c.port(), "sub1", "hello world", ""));
    let f = recv(&h);
    assert!(f.contains("X-R: -1,1,-1,-1,\r\n"), "{f}");
    assert_eq!(body_of(&f), "hello worl!");
}
