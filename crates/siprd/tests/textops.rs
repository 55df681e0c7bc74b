//! End-to-end tests of textops, siputils, maxfwd and the SIP transformations:
//! what goes on the wire after the edits (behaviour checked on Kamailio 5.6).

mod common;

use common::*;
use std::net::UdpSocket;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(3);

fn hop() -> (UdpSocket, u16) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let p = s.local_addr().unwrap().port();
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
loadmodule "siputils.so"
loadmodule "maxfwd.so"
request_route {{
{route}
}}
"#
    )
}

fn body_request(method: &str, ruri: &str, port: u16, cid: &str, extra: &str, body: &str) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{cid}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=from-{cid}\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: {cid}\r\n\
         CSeq: 1 {method}\r\n\
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

#[test]
fn header_edits_go_on_the_wire() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    append_hf("X-A: 1\r\n");
    $var(r) = "";
    if (is_present_hf("X-A")) {{ $var(r) = $var(r) + "a"; }}
    remove_hf("X-Multi");
    if (is_present_hf("X-Multi")) {{ $var(r) = $var(r) + "b"; }}
    if (remove_hf("X-Multi")) {{ $var(r) = $var(r) + "c"; }}
    if (!remove_hf("X-None")) {{ $var(r) = $var(r) + "d"; }}
    append_hf("X-B: 3\r\n", "From");
    insert_hf("X-C: 4\r\n");
    insert_hf("X-D: 5\r\n", "To");
    append_hf("X-G: $rU $var(r)\r\n");
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &body_request(
            "MESSAGE",
            "sip:bob@example.com",
            c.port(),
            "hf1",
            "",
            "hello world",
        ),
    );
    let f = recv(&h);
    let hs = headers_of(&f);
    assert_eq!(hs[0], "X-C: 4", "{f}");
    assert!(hs[1].starts_with("Via: SIP/2.0/UDP"), "{f}");
    let from = hs.iter().position(|l| l.starts_with("From:")).unwrap();
    assert_eq!(hs[from + 1], "X-B: 3", "{f}");
    assert_eq!(hs[from + 2], "X-D: 5", "{f}");
    assert!(hs[from + 3].starts_with("To:"), "{f}");
    assert!(!f.contains("X-Multi"), "{f}");
    let n = hs.len();
    assert_eq!(&hs[n - 2..], &["X-A: 1", "X-G: bob bcd"], "{f}");
    assert!(f.ends_with("\r\n\r\nhello world"), "{f}");
}

#[test]
fn append_to_reply_and_checks() {
    let s = Siprd::start(&cfg(r#"
    $var(r) = "";
    if (is_method("OPTIONS")) { $var(r) = $var(r) + "M"; }
    if (is_method("invite|options")) { $var(r) = $var(r) + "N"; }
    if (!is_method("INVITE")) { $var(r) = $var(r) + "I"; }
    if (search("^User-Agent: diff")) { $var(r) = $var(r) + "S"; }
    if (!search("^user-agent")) { $var(r) = $var(r) + "C"; }
    if (!search("one.X-Multi")) { $var(r) = $var(r) + "L"; }
    if (has_body()) { $var(r) = $var(r) + "B"; }
    if (has_body("text/plain")) { $var(r) = $var(r) + "T"; }
    if (!has_body("application/sdp")) { $var(r) = $var(r) + "D"; }
    if (search_body("^hello")) { $var(r) = $var(r) + "H"; }
    if (!has_totag()) { $var(r) = $var(r) + "t"; }
    if (is_present_hf("x-multi")) { $var(r) = $var(r) + "P"; }
    $var(h) = "User-Agent";
    if (is_present_hf($var(h))) { $var(r) = $var(r) + "V"; }
    $var(h) = "X-Absent";
    if (!is_present_hf($var(h))) { $var(r) = $var(r) + "A"; }
    append_to_reply("X-R: $rm\r\n");
    sl_send_reply("200", "r=$var(r)");
"#));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &body_request(
            "OPTIONS",
            "sip:bob@example.com",
            c.port(),
            "chk1",
            "User-Agent: diff-test\r\n",
            "hello",
        ),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 r=MNISCLBTDHtPVA", "{r}");
    assert_eq!(header(&r, "X-R"), Some("OPTIONS"), "{r}");
}

#[test]
fn subst_replace_and_body() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    subst('/^(X-Multi): (.*)$/\1: new $rU \2/');
    replace("x-other", "X-Repl");
    subst_body('/hello/greetings/');
    subst_uri('/^sip:([a-z]+)@/sip:\1x@/');
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &body_request(
            "MESSAGE",
            "sip:bob@example.com",
            c.port(),
            "sub1",
            "X-Other: z\r\n",
            "hello world",
        ),
    );
    let f = recv(&h);
    assert_eq!(
        first_line(&f),
        "MESSAGE sip:bobx@example.com SIP/2.0",
        "{f}"
    );
    assert!(
        f.contains("X-Multi: new bob one\r\nX-Multi: two\r\n"),
        "{f}"
    );
    assert!(f.contains("X-Repl: z\r\n"), "{f}");
    assert_eq!(header(&f, "Content-Length"), Some("15"), "{f}");
    assert!(f.ends_with("\r\n\r\ngreetings world"), "{f}");
}

#[test]
fn maxfwd_and_uri_params() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    $var(r) = "";
    if (uri_param("lr")) {{ $var(r) = $var(r) + "l"; }}
    if (!uri_param("transport")) {{ $var(r) = $var(r) + "t"; }}
    if (uri_param("transport", "udp")) {{ $var(r) = $var(r) + "u"; }}
    add_uri_param("x=1");
    append_hf("X-R: $var(r) $(ru{{uri.params}})\r\n");
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    let req = request(
        "MESSAGE",
        "sip:bob@example.com;transport=udp;lr",
        c.port(),
        "mf1",
        "",
    )
    .replace("Max-Forwards: 70", "Max-Forwards: 10");
    c.send(s.udp_addr(), &req);
    let f = recv(&h);
    assert_eq!(
        first_line(&f),
        "MESSAGE sip:bob@example.com;transport=udp;lr;x=1 SIP/2.0",
        "{f}"
    );
    assert!(f.contains("\r\nMax-Forwards:  9\r\n"), "{f}");
    assert_eq!(header(&f, "X-R"), Some("ltu transport=udp;lr;x=1"), "{f}");

    // no header: added first, and Max-Forwards 0 is refused
    let req = request("MESSAGE", "sip:bob@example.com", c.port(), "mf2", "")
        .replace("Max-Forwards: 70\r\n", "");
    c.send(s.udp_addr(), &req);
    let f = recv(&h);
    assert_eq!(headers_of(&f)[0], "Max-Forwards: 10", "{f}");
    let req = request("MESSAGE", "sip:bob@example.com", c.port(), "mf3", "")
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&r), "SIP/2.0 483 Too Many Hops");
}

#[test]
fn sip_transformations() {
    let s = Siprd::start(&cfg(r#"
    $var(u) = "sip:dave@10.1.2.3:5062;transport=tcp;lr";
    $var(n) = "\"Eve X\" <sip:eve@x.org>;tag=t1";
    sl_send_reply("200", "u=$(var(u){uri.user}) h=$(var(u){uri.host}) p=$(var(u){uri.port}) ps=$(var(u){uri.params}) t=$(var(u){uri.transport}) n=[$(var(n){nameaddr.name})] nu=$(var(n){nameaddr.uri}) tt=$(var(n){tobody.tag}) fu=$(fu{uri.user}) tu=$(tu{tobody.host})");
"#));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "tr1", ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 u=dave h=10.1.2.3 p=5062 ps=transport=tcp;lr t=tcp n=[\"Eve X\" ] nu=sip:eve@x.org tt=t1 fu=alice tu=127.0.0.1"
    );
}

#[test]
fn bad_arguments_are_load_errors() {
    for bad in [
        r#"is_method("INVITE|FOO");"#,
        r#"has_body("text");"#,
        r#"subst('/a/b');"#,
        r#"subst('/(a)/\2/');"#,
        r#"search("a(");"#,
        // Kamailio takes a bare variable as the header name, not a quoted one
        r#"is_present_hf("$var(h)");"#,
    ] {
        let (code, out) = check_config(&cfg(bad));
        assert_ne!(code, 0, "{bad} should be refused: {out}");
    }
}
