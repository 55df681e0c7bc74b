//! End-to-end tests of textopsx: what goes on the wire and what the script
//! sees, as recorded on Kamailio 5.6.3 (tests/kamailio-diff cases `tx_*`
//! and probes of the same configs).

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

fn cfg(routes: &str) -> String {
    format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "textopsx.so"
{routes}
"#
    )
}

fn req_cfg(route: &str) -> String {
    cfg(&format!("request_route {{\n{route}\n}}\n"))
}

/// The request the kamailio-diff cases send (headers in that order).
fn diff_request(port: u16, cid: &str, extra: &str, body: &str) -> String {
    format!(
        "OPTIONS sip:{cid}@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{cid};rport\r\n\
         From: \"Alice Smith\" <sip:alice@example.com;x=1>;tag=ftag123\r\n\
         To: <sip:bob@example.org:5070>\r\n\
         Call-ID: cid-{cid}@host\r\n\
         CSeq: 42 OPTIONS\r\n\
         Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires=60\r\n\
         User-Agent: diff-test/1.0\r\n\
         X-Multi: one\r\n\
         X-Multi: two, three\r\n\
         Content-Type: text/plain\r\n\
         {extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Header lines of a message, the top Via (ours) left out.
fn headers_of(msg: &str) -> Vec<&str> {
    msg.split("\r\n")
        .skip(2)
        .take_while(|l| !l.is_empty())
        .collect()
}

fn body_of(msg: &str) -> &str {
    msg.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// Send one request whose script forwards it to the hop: the forwarded
/// message and the reply's reason phrase.
fn forward_case(route: &str, extra: &str, body: &str) -> (String, String) {
    let (h, hp) = hop();
    let s = Siprd::start(&req_cfg(&format!(
        "{route}\n    forward(\"127.0.0.1\", {hp});\n    sl_send_reply(\"200\", \"r=$var(r)\");"
    )));
    let c = UdpClient::new();
    let r = c.request(s.udp_addr(), &diff_request(c.port(), "fw", extra, body));
    (recv(&h), first_line(&r).to_string())
}

/// One request, the reply's first line.
fn reply_case(route: &str, extra: &str, body: &str) -> String {
    let s = Siprd::start(&req_cfg(route));
    let c = UdpClient::new();
    let r = c.request(s.udp_addr(), &diff_request(c.port(), "rc", extra, body));
    first_line(&r).to_string()
}

#[test]
fn hf_values_append_and_insert() {
    let (fwd, line) = forward_case(
        r#"
    append_hf_value("X-Multi", "new");
    append_hf_value("X-Multi[1]", "n1");
    append_hf_value("X-Multi[-1]", "nl");
    append_hf_value("X-Zzz[1]", "z");
    insert_hf_value("X-Multi", "top");
    insert_hf_value("X-Multi[3]", "i3");
    insert_hf_value("X-New", "v");
    $var(r) = "" + $rc;
    insert_hf_value("X-Yyy[2]", "y");
    $var(r) = $var(r) + " " + $rc;"#,
        "",
        "hello",
    );
    assert_eq!(line, "SIP/2.0 200 r=1 -1");
    assert_eq!(
        headers_of(&fwd)[7..],
        [
            "X-Multi: top",
            "X-Multi: one,n1",
            "X-Multi: two,i3, three,nl",
            "Content-Type: text/plain",
            "Content-Length: 5",
            "X-Multi: new",
            "X-Zzz: z",
            "X-New: v",
        ]
    );
}

#[test]
fn hf_values_remove_and_assign() {
    let (fwd, line) = forward_case(
        r#"
    remove_hf_value("X-Multi[2]");
    $var(r) = "" + $rc;
    remove_hf_value("X-Nope");
    $var(r) = $var(r) + " " + $rc;
    remove_hf_value("From.tag");
    assign_hf_value("Contact.expires", "");
    assign_hf_value("Contact.foo", "bar");
    assign_hf_value("X-Multi[3]", "THREE");
    assign_hf_value("X-Q[*].p", "1");
    $var(r) = $var(r) + " " + $rc;
    remove_hf_value("X-P[*].x");
    $var(r) = $var(r) + " " + $rc;
    assign_hf_value("X-Multi[9]", "z");
    $var(r) = $var(r) + " " + $rc;"#,
        "X-Q: a, \"b,c\" <sip:x@y;p=0>;q=2\r\nX-P: a;x=1;y=2;x=3, b;x\r\n",
        "",
    );
    assert_eq!(line, "SIP/2.0 200 r=1 -1 1 1 -1");
    let h = headers_of(&fwd);
    assert!(
        h.contains(&"From: \"Alice Smith\" <sip:alice@example.com;x=1>"),
        "{fwd}"
    );
    assert!(
        h.contains(&"Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires;foo=bar"),
        "{fwd}"
    );
    assert!(h.contains(&"X-Multi:  THREE"), "{fwd}");
    assert!(
        h.contains(&"X-Q: a;p=1, \"b,c\" <sip:x@y;p=0>;q=2;p=1"),
        "{fwd}"
    );
    assert!(h.contains(&"X-P: a;y=2, b"), "{fwd}");
}

#[test]
fn hf_values_whole_headers_and_authorization_params() {
    let (fwd, line) = forward_case(
        r#"
    remove_hf_value2("Authorization.realm");
    $var(r) = "" + $rc;
    assign_hf_value2("Authorization.nonce", "\"NN\"");
    assign_hf_value2("Authorization.qop", "auth");
    remove_hf_value2("X-Multi[2]");
    $var(r) = $var(r) + " " + $rc;
    assign_hf_value("X-Multi[1]", "");
    remove_hf_value("X-Gone[*]");
    $var(r) = $var(r) + " " + $rc;"#,
        "Authorization: Digest username=\"bob\", realm=\"r\", nonce=\"n\", response=\"abc\"\r\nX-Gone: a\r\nX-Gone: b\r\n",
        "",
    );
    assert_eq!(line, "SIP/2.0 200 r=1 1 1");
    let h = headers_of(&fwd);
    assert!(h.contains(&"X-Multi: "), "{fwd}");
    assert!(!fwd.contains("two, three"), "{fwd}");
    assert!(!fwd.contains("X-Gone"), "{fwd}");
    assert!(
        h.contains(
            &"Authorization: Digest username=\"bob\", nonce=\"NN\", response=\"abc\",qop=auth"
        ),
        "{fwd}"
    );
}

#[test]
fn hf_value_sets() {
    let (fwd, line) = forward_case(
        r#"
    $var(r) = "";
    if (hf_value_exists("X-Multi", "THREE")) { $var(r) = $var(r) + "e"; }
    if (hf_value_exists("Supported", "path")) { $var(r) = $var(r) + "k"; }
    if (!hf_value_exists("X-Multi", "four")) { $var(r) = $var(r) + "n"; }
    include_hf_value("X-Multi", "two");
    include_hf_value("X-Multi", "four");
    include_hf_value("X-New", "v");
    exclude_hf_value("X-Multi", "TWO");
    exclude_hf_value("k", "path");
    $var(v) = "timer";
    include_hf_value("Supported", "$var(v)");
    if (!include_hf_value("X-Multi", "")) { $var(r) = $var(r) + "E"; }"#,
        "k: 100rel, path\r\n",
        "",
    );
    assert_eq!(line, "SIP/2.0 200 r=eknE");
    let h = headers_of(&fwd);
    assert!(h.contains(&"X-Multi: one,four"), "{fwd}");
    assert!(h.contains(&"X-Multi:  three"), "{fwd}");
    assert!(h.contains(&"k: 100rel,timer"), "{fwd}");
    assert!(h.contains(&"X-New: v"), "{fwd}");
}

#[test]
fn apply_changes_makes_edits_visible() {
    let line = reply_case(
        r#"
    append_hf("X-New: 1\r\n");
    remove_hf("User-Agent");
    $ru = "sip:zz@example.net";
    replace_body("hello", "bye");
    $var(a) = 0;
    if (is_present_hf("X-New")) { $var(a) = 1; }
    msg_apply_changes();
    $var(r) = "" + $rc;
    $var(s) = 0;
    if (search("^X-New: 1")) { $var(s) = 1; }
    sl_send_reply("200", "r=$var(r) a=$var(a) s=$var(s) new=$hdr(X-New) ua=$hdr(User-Agent) ou=$ou cl=$cl rb=$rb");"#,
        "",
        "hello world",
    );
    assert_eq!(
        line,
        "SIP/2.0 200 r=1 a=0 s=1 new=1 ua=<null> ou=sip:zz@example.net cl=9 rb=bye world"
    );
}

#[test]
fn apply_changes_on_the_wire_and_twice() {
    let (fwd, line) = forward_case(
        r#"
    remove_hf_value("X-Multi[1]");
    remove_body();
    msg_apply_changes();
    $var(r) = "" + $rc;
    remove_hf("X-Multi");
    msg_apply_changes();
    $var(r) = $var(r) + " " + $rc;
    append_hf("X-After: 1\r\n");"#,
        "",
        "hello",
    );
    assert_eq!(line, "SIP/2.0 200 r=1 1");
    let h = headers_of(&fwd);
    assert!(!fwd.contains("X-Multi"), "{fwd}");
    assert!(h.contains(&"Content-Length: 0"), "{fwd}");
    assert_eq!(h.last(), Some(&"X-After: 1"), "{fwd}");
    // the received Via got its received/rport once, when forwarded
    assert_eq!(fwd.matches("received=").count(), 1, "{fwd}");
}

#[test]
fn apply_changes_route_checks() {
    // failure_route: -1 for a request; after record_route: -1
    let h = NextHop::new();
    let routes = format!(
        r#"loadmodule "rr.so"
loadmodule "textopsx.so"
request_route {{
    if ($rU == "rr") {{
        record_route();
        msg_apply_changes();
        sl_send_reply("200", "rr=$rc");
        exit;
    }}
    t_on_failure("F");
    t_relay_to_udp("127.0.0.1", "{}");
}}
failure_route[F] {{
    route(APPLY);
}}
route[APPLY] {{
    msg_apply_changes();
    $var(s) = "apply=" + $rc;
    t_reply("500", "$var(s)");
}}
"#,
        h.port()
    );
    let s = Siprd::start(&tm_cfg(1, "", &routes));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:rr@127.0.0.1", c.port(), "ap-rr", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 rr=-1");
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "ap-f", ""),
    );
    let (inv, from) = h.recv_start("INVITE", WAIT).expect("relayed");
    h.answer(&inv, from, "486 Busy Here");
    let lines = c.first_lines(Duration::from_millis(800));
    assert!(
        lines.iter().any(|l| l == "SIP/2.0 500 apply=-1"),
        "{lines:?}"
    );
}

#[test]
fn set_buffer() {
    let s = Siprd::start(&req_cfg(
        r#"
    if ($rU == "bad") {
        msg_set_buffer("garbage");
        sl_send_reply("200", "after $rc");
        exit;
    }
    if ($rU == "empty") {
        msg_set_buffer("");
        sl_send_reply("200", "empty $rc");
        exit;
    }
    msg_set_buffer("OPTIONS sip:other@h SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:$sp;branch=z9hG4bK-sb\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: $ci\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n");
    sl_send_reply("200", "r=$rc ru=$rU fu=$fU cs=$cs");"#,
    ));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:good@127.0.0.1", c.port(), "sb-1", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 r=1 ru=other fu=a cs=7");
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:empty@127.0.0.1", c.port(), "sb-2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 empty -1");
    // a buffer that does not parse ends the script: no reply
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:bad@127.0.0.1", c.port(), "sb-3", ""),
    );
    assert_eq!(c.recv(Duration::from_millis(400)), None);
}

/// (reply from the hop, function call in reply_route) -> relayed status line, log
fn status_case(
    s: &Siprd,
    hop: &UdpSocket,
    c: &UdpClient,
    n: usize,
    st: &str,
    call: &str,
) -> String {
    let cid = format!("crs-{n}");
    c.send(
        s.udp_addr(),
        &request(
            "OPTIONS",
            "sip:x@127.0.0.1",
            c.port(),
            &cid,
            &format!("X-Call: {call}\r\n"),
        ),
    );
    let mut buf = vec![0u8; 65536];
    let (k, from) = hop.recv_from(&mut buf).expect("forwarded");
    let req = String::from_utf8_lossy(&buf[..k]).into_owned();
    let mut rep = hop_reply(&req, st);
    rep = rep.replacen("\r\n\r\n", &format!("\r\nX-Call: {call}\r\n\r\n"), 1);
    hop.send_to(rep.as_bytes(), from).unwrap();
    let r = c.recv(WAIT).expect("relayed reply");
    format!("{} {}", first_line(&r), header(&r, "X-Rc").unwrap_or("-"))
}

#[test]
fn change_reply_status_in_reply_route() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
request_route {{ forward("127.0.0.1", {hp}); exit; }}
reply_route {{
    $var(c) = $(hdr(X-Call){{s.select,0,/}}{{s.int}});
    $var(w) = $(hdr(X-Call){{s.select,1,/}});
    if ($var(w) == "") {{ change_reply_status_code("$var(c)"); }}
    else {{ change_reply_status("$var(c)", "$var(w)"); }}
    append_hf("X-Rc: $rc $rs $rr\r\n");
}}
"#
    )));
    let c = UdpClient::new();
    for (n, (st, call, want)) in [
        (
            "404 Not Found",
            "486/Busy",
            "SIP/2.0 486 Busy 1 486 Not Found",
        ),
        (
            "404 Not Found",
            "200/OK",
            "SIP/2.0 404 Not Found -1 404 Not Found",
        ),
        (
            "180 Ringing",
            "183/Progress",
            "SIP/2.0 183 Progress 1 183 Ringing",
        ),
        (
            "180 Ringing",
            "200/OK",
            "SIP/2.0 180 Ringing -1 180 Ringing",
        ),
        ("200 OK", "202/Accepted", "SIP/2.0 202 Accepted 1 202 OK"),
        ("500 Error", "180/R", "SIP/2.0 500 Error -1 500 Error"),
        (
            "404 Not Found",
            "700/X",
            "SIP/2.0 404 Not Found -1 404 Not Found",
        ),
        (
            "404 Not Found",
            "99/X",
            "SIP/2.0 404 Not Found -1 404 Not Found",
        ),
        (
            "404 Not Found",
            "301/Moved Away",
            "SIP/2.0 301 Moved Away 1 301 Not Found",
        ),
        (
            "404 Not Found",
            "499",
            "SIP/2.0 499 Not Found 1 499 Not Found",
        ),
        (
            "404 Not Found",
            "200",
            "SIP/2.0 404 Not Found -1 404 Not Found",
        ),
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(status_case(&s, &h, &c, n, st, call), want, "{st} {call}");
    }
}

#[test]
fn change_reply_status_in_tm_onreply_route() {
    let h = NextHop::new();
    let routes = format!(
        r#"loadmodule "textopsx.so"
request_route {{
    t_on_reply("R");
    t_relay_to_udp("127.0.0.1", "{}");
}}
onreply_route[R] {{
    if ($rs == 486) {{ change_reply_status(404, "Nobody Here"); }}
    if ($rs == 180) {{ change_reply_status(200, "No"); xlog("L_INFO", "CRS 180 $rc\n"); }}
}}
"#,
        h.port()
    );
    let s = Siprd::start(&tm_cfg(1, "", &routes));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "crs-tm", ""),
    );
    let (inv, from) = h.recv_start("INVITE", WAIT).expect("relayed");
    h.answer(&inv, from, "180 Ringing");
    h.answer(&inv, from, "486 Busy Here");
    let lines = c.first_lines(Duration::from_millis(800));
    assert!(
        lines.iter().any(|l| l == "SIP/2.0 180 Ringing"),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "SIP/2.0 404 Nobody Here"),
        "{lines:?}"
    );
    assert!(s.wait_log("CRS 180 -1", WAIT), "{}", s.log());
}

#[test]
fn remove_body_and_keep_hf() {
    let (fwd, line) = forward_case(
        r#"
    remove_body();
    $var(r) = "" + $rc;
    keep_hf("^x-m");
    $var(r) = $var(r) + " " + $rc;"#,
        "Max-Forwards: 10\r\nRoute: <sip:r@h;lr>\r\nX-Other: 1\r\n",
        "hello",
    );
    assert_eq!(line, "SIP/2.0 200 r=1 -1");
    let names: Vec<&str> = headers_of(&fwd)
        .iter()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        names,
        [
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Contact",
            "X-Multi",
            "X-Multi",
            "Content-Type",
            "Max-Forwards",
            "Route",
            "Content-Length"
        ],
        "{fwd}"
    );
    assert_eq!(header(&fwd, "Content-Length"), Some("0"));
    assert_eq!(body_of(&fwd), "");
    // no body: still 1
    assert_eq!(
        reply_case(
            r#"remove_body(); remove_body(); sl_send_reply("200", "r=$rc");"#,
            "",
            ""
        ),
        "SIP/2.0 200 r=1"
    );
}

#[test]
fn fnmatch_as_kamailio() {
    let line = reply_case(
        r#"
    $var(r) = "";
    if (fnmatch("abc123", "abc*")) { $var(r) = $var(r) + "1"; }
    if (fnmatch("ABC123", "abc*", "i")) { $var(r) = $var(r) + "2"; }
    if (fnmatch("a/b", "a*b")) { $var(r) = $var(r) + "3"; }
    if (fnmatch(".x", "*x")) { $var(r) = $var(r) + "4"; }
    if (fnmatch("db", "[!a-c]b")) { $var(r) = $var(r) + "5"; }
    if (fnmatch("ab", "[^a]b")) { $var(r) = $var(r) + "6"; }
    if (fnmatch("[a", "[a")) { $var(r) = $var(r) + "7"; }
    if (fnmatch("$rU", "r*")) { $var(r) = $var(r) + "8"; }
    if (fnmatch("$null", "<null>")) { $var(r) = $var(r) + "9"; }
    if (fnmatch("a\\", "a\\")) { $var(r) = $var(r) + "A"; }
    $var(p) = "*c";
    if (fnmatch("abc", "$var(p)")) { $var(r) = $var(r) + "B"; }
    if (fnmatch("x" + "y", "x?")) { $var(r) = $var(r) + "C"; }
    sl_send_reply("200", "r=$var(r)");"#,
        "",
        "",
    );
    assert_eq!(line, "SIP/2.0 200 r=1345789BC");
}

#[test]
fn header_iterator() {
    let line = reply_case(
        r#"
    $var(r) = "";
    hf_iterator_start("i1");
    while (hf_iterator_next("i1")) { $var(r) = $var(r) + $hfitname(i1) + ","; }
    $var(n) = $rc;
    hf_iterator_prev("i1");
    $var(p) = $rc;
    hf_iterator_end("i1");
    $var(e) = $rc;
    $var(z) = 0;
    if ($hfitname(i1) == $null) { $var(z) = 1; }
    hf_iterator_next("i1");
    hf_iterator_next("i1");
    hf_iterator_next("i1");
    hf_iterator_prev("i1");
    $var(q) = $hfitname(i1);
    hf_iterator_prev("i1");
    hf_iterator_next("i1");
    sl_send_reply("200", "r=$var(r) n=$var(n) p=$var(p) e=$var(e) z=$var(z) q=$var(q) first=$hfitname(i1) b=$hfitbody(i1) nope=$hfitname(nope)");"#,
        "",
        "",
    );
    assert!(line.starts_with("SIP/2.0 200 r=Via,From,To,Call-ID,CSeq,Contact,User-Agent,X-Multi,X-Multi,Content-Type,Content-Length, n=-1 p=-1 e=1 z=1 q=From first=Via b=SIP/2.0/UDP 127.0.0.1:"), "{line}");
    assert!(
        line.ends_with(";branch=z9hG4bK-rc;rport nope=<null>"),
        "{line}"
    );
}

#[test]
fn header_iterator_edits_and_limits() {
    let (fwd, line) = forward_case(
        r#"
    hf_iterator_start("ie");
    while (hf_iterator_next("ie")) {
        if ($hfitname(ie) == "X-Multi") { hf_iterator_rm("ie"); }
        if ($hfitname(ie) == "CSeq") { hf_iterator_append("ie", "X-After: 1\r\n"); }
        if ($hfitname(ie) == "To") { hf_iterator_insert("ie", "X-Before: $rU\r\n"); }
    }
    hf_iterator_rm("ie");
    $var(r) = "" + $rc;
    hf_iterator_rm("unknown");
    $var(r) = $var(r) + " " + $rc;
    hf_iterator_start("i2"); hf_iterator_start("i3"); hf_iterator_start("i4");
    hf_iterator_start("i5");
    $var(r) = $var(r) + " " + $rc;
    hf_iterator_end("i2");
    hf_iterator_start("i5");
    $var(r) = $var(r) + " " + $rc;
    hf_iterator_start("i" + "4");
    $var(r) = $var(r) + " " + $rc;"#,
        "",
        "",
    );
    assert_eq!(line, "SIP/2.0 200 r=-1 -1 -1 -1 1");
    let h = headers_of(&fwd);
    assert_eq!(
        h[2..9],
        [
            "X-Before: fw",
            "To: <sip:bob@example.org:5070>",
            "Call-ID: cid-fw@host",
            "CSeq: 42 OPTIONS",
            "X-After: 1",
            "Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires=60",
            "User-Agent: diff-test/1.0",
        ],
        "{fwd}"
    );
    assert!(!fwd.contains("X-Multi"), "{fwd}");
}

#[test]
fn body_line_iterator() {
    let line = reply_case(
        r#"
    $var(r) = "";
    bl_iterator_start("b1");
    bl_iterator_rm("b1");
    $var(r) = "rm" + $rc;
    while (bl_iterator_next("b1")) { $var(r) = $var(r) + "|" + $(blitval(b1){s.len}); }
    bl_iterator_end("b1");
    bl_iterator_next("b1");
    $var(r) = $var(r) + " n" + $rc;
    $var(z) = 0;
    if ($blitval(b1) == $null) { $var(z) = 1; }
    sl_send_reply("200", "r=$var(r) z=$var(z) nope=$blitval(nope)");"#,
        "",
        "a\nb\n\nc",
    );
    assert_eq!(line, "SIP/2.0 200 r=rm-1|2|2|1|2 n-1 z=1 nope=<null>");
    let (fwd, line) = forward_case(
        r#"
    bl_iterator_start("b1");
    while (bl_iterator_next("b1")) {
        if ($blitval(b1) =~ "line2") { bl_iterator_rm("b1"); $var(r) = $rc; }
        if ($blitval(b1) =~ "line1") { bl_iterator_append("b1", "after1\r\n"); }
        if ($blitval(b1) =~ "line3") { bl_iterator_insert("b1", "before3\r\n"); bl_iterator_append("b1", "lost\r\n"); }
    }"#,
        "",
        "line1\r\nline2\r\nline3",
    );
    assert_eq!(line, "SIP/2.0 200 r=1");
    assert_eq!(body_of(&fwd), "line1\r\nafter1\r\nbefore3\r\nline3");
    assert_eq!(header(&fwd, "Content-Length"), Some("29"));
}

#[test]
fn load_time_checks() {
    for (route, want) in [
        ("keep_hf();", "keep_hf"),
        ("keep_hf(\"[\");", "bad regular expression"),
        (
            "append_hf_value(\"X[*]\", \"v\");",
            "`[*]` is not supported",
        ),
        (
            "append_hf_value(\"X.p\", \"v\");",
            "a parameter is not supported",
        ),
        ("append_hf_value(\"X[1\", \"v\");", "expected `]`"),
        (
            "append_hf_value(\"X[a]\", \"v\");",
            "cannot parse the header selector near `a]`",
        ),
        (
            "append_hf_value(\"X[-11]\", \"v\");",
            "index cannot be lower than -10",
        ),
        ("append_hf_value(\"\", \"v\");", "no header name"),
        ("append_hf_value(\"X:Y\", \"v\");", "near `:Y`"),
        ("remove_hf_value(\"X.p.q\");", "near `.q`"),
        ("assign_hf_value(\"X[*]\", \"v\");", "only with a parameter"),
        (
            "include_hf_value(\"X[1]\", \"v\");",
            "neither an index nor a parameter",
        ),
        (
            "hf_value_exists(\"X.p\", \"v\");",
            "neither an index nor a parameter",
        ),
        ("remove_hf_value(\"$var(h)\");", "no header name"),
        (
            "change_reply_status(\"abc\", \"x\");",
            "change_reply_status",
        ),
        (
            "change_reply_status_code(\"4$var(c)\");",
            "change_reply_status_code",
        ),
    ] {
        let (code, out) = check_config(&cfg(&format!(
            "request_route {{ exit; }}\nreply_route {{\n    {route}\n}}\n"
        )));
        assert_ne!(code, 0, "{route}: loaded");
        assert!(out.contains(want), "{route}: {out}");
        assert!(out.contains(":11:"), "{route}: no line: {out}");
    }
    // change_reply_status only in reply routes
    let (code, out) = check_config(&req_cfg("change_reply_status(404, \"x\");"));
    assert_ne!(code, 0);
    assert!(
        out.contains("`change_reply_status` cannot be used in `request_route`"),
        "{out}"
    );
    // what Kamailio 5.6.3 accepts
    let (code, out) = check_config(&cfg(
        "request_route {\n    append_hf_value(\" X [ 2 ] \", \"$var(v)\");\n    \
         remove_hf_value(\"X . p\");\n    append_hf_value(\"X[0]\", \"v\");\n    \
         append_hf_value(\"X[]\", \"v\");\n    remove_hf_value(\"1X\");\n    \
         keep_hf(\"$var(x)\");\n    fnmatch(\"$var(a)\", \"$var(b)\", \"$var(c)\");\n    \
         hf_iterator_start(\"$var(i)\");\n    msg_set_buffer(\"$var(x)\");\n}\n\
         reply_route {\n    change_reply_status(\"$var(c)\", \"x $var(r)\");\n    \
         change_reply_status(\"404\", \"x\");\n    change_reply_status(999, \"x\");\n    \
         change_reply_status_code($var(c));\n}\n",
    ));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn kemi_exports() {
    // recorded on Kamailio 5.6.3 with the same script (its KEMI fnmatch
    // answers 0 on a match)
    let lua = r#"
function ksr_request_route()
  local r = {}
  KSR.textopsx.hf_iterator_start("i")
  r[#r+1] = tostring(KSR.textopsx.hf_iterator_hname("i"))
  KSR.textopsx.hf_iterator_next("i")
  r[#r+1] = tostring(KSR.textopsx.hf_iterator_hname("i"))
  r[#r+1] = tostring(KSR.textopsx.hf_iterator_hbody("i"))
  r[#r+1] = tostring(KSR.textopsx.hf_iterator_hname("zz"))
  KSR.textopsx.bl_iterator_start("b")
  r[#r+1] = tostring(KSR.textopsx.bl_iterator_value("b"))
  KSR.textopsx.bl_iterator_next("b")
  r[#r+1] = (string.gsub(tostring(KSR.textopsx.bl_iterator_value("b")), "\r\n", "CRLF"))
  r[#r+1] = tostring(KSR.textopsx.keep_hf())
  r[#r+1] = tostring(KSR.textopsx.keep_hf_re("^X"))
  r[#r+1] = tostring(KSR.textopsx.fnmatch_ex("ABC", "abc", "i"))
  r[#r+1] = tostring(KSR.textopsx.fnmatch("abc", "a*"))
  r[#r+1] = tostring(KSR.textopsx.fnmatch_ex("abc", "a*", "i"))
  r[#r+1] = tostring(KSR.textopsx.remove_hf_value2("X-A", "zz"))
  KSR.textopsx.msg_apply_changes()
  r[#r+1] = tostring(KSR.pv.get("$hdr(X-A)")) .. "/" .. tostring(KSR.pv.get("$hdr(User-Agent)"))
  KSR.sl.sl_send_reply(200, table.concat(r, " "))
end
"#;
    let cfg = r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textopsx.so"
loadmodule "app_lua.so"
modparam("app_lua", "load", "kemi.lua")
cfgengine "lua"
"#;
    let s = Siprd::start_with(cfg, &[("kemi.lua", lua)], &[]);
    let c = UdpClient::new();
    let body = "l1\r\nl2";
    let req = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-kx\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: kx\r\nCSeq: 1 OPTIONS\r\n\
         X-A: 1, 2\r\nUser-Agent: u\r\nContent-Length: {}\r\n\r\n{body}",
        c.port(),
        body.len()
    );
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(
        first_line(&r),
        format!(
            "SIP/2.0 200 nil Via SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-kx nil nil l1CRLF -1 -1 -1 0 0 1 nil/nil",
            c.port()
        )
    );
}
