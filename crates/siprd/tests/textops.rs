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
    if (search("^user-agent")) { $var(r) = $var(r) + "C"; } # case-insensitive, as Kamailio
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
        // (`subst('/(a)/\2/')` is accepted: Kamailio 5.6 loads and runs it,
        // the missing group expanding to nothing.)
        r#"search("a(");"#,
        // Kamailio takes a bare variable as the header name, not a quoted one
        r#"is_present_hf("$var(h)");"#,
        r#"remove_hf_idx("X-A", "abc");"#,
        r#"is_privacy("foo");"#,
        r#"subst_hf("$var(h)", "/a/b/", "a");"#,
        r#"replace_body_all("a(", "b");"#,
    ] {
        let (code, out) = check_config(&cfg(bad));
        assert_ne!(code, 0, "{bad} should be refused: {out}");
    }
}

// ---------------------------------------------------------------------------
// Body and header rewrites (Kamailio 5.6 behaviour observed with the probe).

/// One config, the case chosen by the Call-ID; every case forwards.
fn rewrite_server(hp: u16) -> Siprd {
    Siprd::start(&cfg(&format!(
        r#"
    $var(x) = "o";
    if ($ci == "sb") {{ set_body("new body $rU", "text/x-new"); }}
    else if ($ci == "rb") {{ replace_body("O", "0"); }}
    else if ($ci == "rbe") {{ replace_body("x*", ">"); }}
    else if ($ci == "rba") {{ replace_body_all("o", "00"); }}
    else if ($ci == "rbl") {{ replace_body_all("^t", "T"); }}
    else if ($ci == "rbat") {{ replace_body_atonce("e.*w", "X"); }}
    else if ($ci == "rbs") {{ replace_body_str("$var(x)", "<$var(x)>", "a"); }}
    else if ($ci == "rbsf") {{ replace_body_str("o", "OO", "f"); }}
    else if ($ci == "sab") {{ search_append_body("HEL+", "-$var(x)-"); }}
    else if ($ci == "rhs") {{ replace_hdrs_str("one", "1", "a"); replace_hdrs_str("world", "x", "a"); }}
    else if ($ci == "rs") {{ replace_str("world", "WORLD!", "a"); }}
    else if ($ci == "rh") {{ replace_hdrs("ALICE", "carol"); }}
    forward("127.0.0.1", {hp});
"#
    )))
}

#[test]
fn body_rewrites_fix_content_length() {
    let (h, hp) = hop();
    let s = rewrite_server(hp);
    let c = UdpClient::new();
    let send = |cid: &str, body: &str| {
        c.send(
            s.udp_addr(),
            &body_request("MESSAGE", "sip:bob@example.com", c.port(), cid, "", body),
        );
        recv(&h)
    };
    let body_of = |f: &str| f.split_once("\r\n\r\n").map(|x| x.1.to_string());

    // set_body: old Content-Type gone, the new one after the last header
    let f = send("sb", "hello world");
    let hs = headers_of(&f);
    assert_eq!(
        &hs[hs.len() - 2..],
        &["Content-Length: 12", "Content-Type: text/x-new"],
        "{f}"
    );
    assert!(!f.contains("text/plain"), "{f}");
    assert_eq!(body_of(&f).as_deref(), Some("new body bob"), "{f}");

    // set_body on a request without body
    let f = send("sb", "");
    assert_eq!(header(&f, "Content-Length"), Some("12"), "{f}");
    assert_eq!(body_of(&f).as_deref(), Some("new body bob"), "{f}");

    for (cid, body, want) in [
        ("rb", "hello world", "hell0 world"),
        ("rbe", "hello world", ">hello world"),
        ("rba", "hello world", "hell00 w00rld"),
        ("rbl", "one\r\ntwo\r\n", "one\r\nTwo\r\n"),
        ("rbat", "one\r\ntwo\r\n", "onXo\r\n"),
        ("rbs", "hello world", "hell<o> w<o>rld"),
        ("rbsf", "hello world", "hellOO world"),
        ("sab", "hello world", "hell-$var(x)-o world"),
        ("rhs", "hello world", "hello world"),
        ("rs", "hello world", "hello WORLD!"),
    ] {
        let f = send(cid, body);
        assert_eq!(body_of(&f).as_deref(), Some(want), "{cid}: {f}");
        assert_eq!(
            header(&f, "Content-Length"),
            Some(want.len().to_string().as_str()),
            "{cid}: {f}"
        );
    }
    // replace_hdrs_str stays in the headers
    let f = send("rhs", "hello world");
    assert!(f.contains("\r\nX-Multi: 1\r\nX-Multi: two\r\n"), "{f}");
    // replace_hdrs: first match, case-insensitive, literal text
    let f = send("rh", "hello world");
    assert_eq!(
        header(&f, "From"),
        Some("<sip:carol@127.0.0.1>;tag=from-rh"),
        "{f}"
    );
}

#[test]
fn header_rewrites_by_name_index_and_value() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    if ($ci == "shf") {{
        subst_hf("X-Multi", "/o/0/g", "a");
        subst_hf("X-V", "/^/>/", "a");
        subst_hf("X-L", "/v/V/", "l");
        subst_hf("X-F", "/v/V/", "f");
    }} else if ($ci == "idx") {{
        remove_hf_idx("X-L", "-1");
        remove_hf_idx("x-f", 0);
        $var(i) = 1;
        remove_hf_idx("X-Multi", "$var(i)");
    }} else if ($ci == "match") {{
        remove_hf_match("X-Multi", "eq", "one");
        remove_hf_match("X-L", "in", "2");
        remove_hf_match("X-F", "re", "^V1");
        remove_hf_match("X-V", "ne", "v");
    }} else if ($ci == "pv") {{
        $var(h) = "X-Multi";
        $var(r) = "";
        if (is_present_hf_pv("$var(h)")) $var(r) = $var(r) + "a";
        if (is_present_hf_re_pv("^$var(h)")) $var(r) = $var(r) + "b";
        if (remove_hf_pv("$var(h)")) $var(r) = $var(r) + "c";
        if (remove_hf_re_pv("^x-l")) $var(r) = $var(r) + "d";
        if (remove_hf_exp_pv("^X-", "^X-F")) $var(r) = $var(r) + "e";
        if (!is_present_hf_pv("X-None")) $var(r) = $var(r) + "f";
        append_hf("Y-R: $var(r)\r\n");
    }} else if ($ci == "uri") {{
        append_urihf("X-U: <", ">\r\n");
        append_time_to_request();
        $ru = "sip:changed@example.net";
    }}
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    let extra = "X-L: v1\r\nX-L: v2\r\nX-F: v1\r\nX-F: v2\r\nX-V: v\r\n";
    let send = |cid: &str| {
        c.send(
            s.udp_addr(),
            &body_request(
                "MESSAGE",
                "sip:bob@example.com",
                c.port(),
                cid,
                extra,
                "hello",
            ),
        );
        recv(&h)
    };
    let f = send("shf");
    assert!(
        f.contains("X-Multi: 0ne\r\nX-Multi: tw0\r\nX-L: v1\r\nX-L: V2\r\nX-F: V1\r\nX-F: v2\r\nX-V: v\r\n"),
        "{f}"
    );
    let f = send("idx");
    assert!(
        f.contains("X-Multi: one\r\nX-L: v1\r\nX-F: v2\r\nX-V: v\r\n"),
        "{f}"
    );
    let f = send("match");
    assert!(
        f.contains("X-Multi: two\r\nX-L: v1\r\nX-F: v2\r\nX-V: v\r\n"),
        "{f}"
    );
    let f = send("pv");
    assert_eq!(header(&f, "Y-R"), Some("abcdef"), "{f}");
    assert!(
        !f.contains("X-Multi") && !f.contains("X-L") && !f.contains("X-V"),
        "{f}"
    );
    assert!(f.contains("X-F: v1\r\nX-F: v2\r\n"), "{f}");
    let f = send("uri");
    assert_eq!(
        first_line(&f),
        "MESSAGE sip:changed@example.net SIP/2.0",
        "{f}"
    );
    // the Request-URI as received, after the last header
    let hs = headers_of(&f);
    assert_eq!(hs[hs.len() - 1], "X-U: <sip:bob@example.com>", "{f}");
    let date = header(&f, "Date").expect("Date header");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
}

#[test]
fn textops_checks_and_return_codes() {
    let s = Siprd::start(&cfg(r#"
    $var(r) = "";
    if (!replace_body("zzz", "0")) { $var(r) = $var(r) + "a"; }
    if (!replace_body_all("^", ">")) { $var(r) = $var(r) + "b"; }
    if (!replace_body_atonce("^t", "T")) { $var(r) = $var(r) + "c"; }
    if (replace_body_str("zzz", "x", "a")) { $var(r) = $var(r) + "d"; }
    if (replace_body_str("", "x", "a")) { $var(r) = $var(r) + "e"; }
    if (!set_body("", "a/b")) { $var(r) = $var(r) + "f"; }
    if (!search_append_body("zzz", "x")) { $var(r) = $var(r) + "g"; }
    if (!subst_hf("X-Nope", "/o/0/", "a")) { $var(r) = $var(r) + "h"; }
    if (!subst_hf("X-Multi", "/zz/0/", "a")) { $var(r) = $var(r) + "i"; }
    if (remove_hf_idx("X-Nope", "0")) { $var(r) = $var(r) + "j"; }
    if (!remove_hf_match("X-Multi", "eq", "ONE")) { $var(r) = $var(r) + "k"; }
    if (remove_hf_match("X-Multi", "re", "ONE")) { $var(r) = $var(r) + "l"; }
    if (!remove_hf_match("X-Multi", "xx", "one")) { $var(r) = $var(r) + "m"; }
    if (is_privacy("id") && is_privacy("HEADER") && !is_privacy("user")) { $var(r) = $var(r) + "n"; }
    if (!subst_user('/zzz/x/')) { $var(r) = $var(r) + "o"; }
    if (!is_audio_on_hold()) { $var(r) = $var(r) + "p"; }
    if (append_time()) { $var(r) = $var(r) + "q"; }
    subst_user('/^(b)(.*)$/\2\1x/');
    sl_send_reply("200", "r=$var(r) u=$ru");
"#));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &body_request(
            "OPTIONS",
            "sip:bob:pw@example.com;x=1",
            c.port(),
            "rc1",
            "Privacy: id; header\r\n",
            "hello world",
        ),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 r=abcdefghijklmnopq u=sip:obbx:pw@example.com;x=1",
        "{r}"
    );
    let date = header(&r, "Date").expect("append_time adds Date to the reply");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");

    // subst_user: an emptied user takes the `@` with it; no user: -1
    let s = Siprd::start(&cfg(r#"
    if (subst_user('/.*//')) { $var(a) = $ru; }
    if (!subst_user('/^$/new/')) { $var(b) = "none"; }
    sl_send_reply("200", "u=$var(a) $var(b)");
"#));
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:bob@example.com;x=1", c.port(), "su1", ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 u=sip:example.com;x=1 none",
        "{r}"
    );
}

#[test]
fn audio_on_hold_from_sdp() {
    let s = Siprd::start(&cfg(r#"
    if (is_audio_on_hold()) { sl_send_reply("200", "hold $rc"); }
    else { sl_send_reply("200", "no $rc"); }
"#));
    let c = UdpClient::new();
    let sdp = |c_line: &str, attrs: &str| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 {c_line}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n{attrs}"
        )
    };
    for (i, (body, ct, want)) in [
        (sdp("1.2.3.4", ""), "application/sdp", "no -1"),
        (sdp("0.0.0.0", ""), "application/sdp", "hold 1"),
        (
            sdp("1.2.3.4", "a=sendonly\r\n"),
            "application/sdp",
            "hold 2",
        ),
        (
            sdp("0.0.0.0", "a=inactive\r\n"),
            "application/sdp",
            "hold 2",
        ),
        (sdp("1.2.3.4", "a=recvonly\r\n"), "application/sdp", "no -1"),
        (
            sdp("0.0.0.0", "c=IN IP4 1.2.3.4\r\n"),
            "application/sdp",
            "no -1",
        ),
        (
            sdp("1.2.3.4", "m=video 4002 RTP/AVP 31\r\na=sendonly\r\n"),
            "application/sdp",
            "no -1",
        ),
        (sdp("1.2.3.4", "a=sendonly\r\n"), "text/plain", "no -1"),
    ]
    .into_iter()
    .enumerate()
    {
        let req = body_request(
            "INVITE",
            "sip:bob@example.com",
            c.port(),
            &format!("hold{i}"),
            "",
            &body,
        )
        .replacen(
            "Content-Type: text/plain",
            &format!("Content-Type: {ct}"),
            1,
        );
        let r = c.request(s.udp_addr(), &req);
        assert_eq!(
            first_line(&r),
            format!("SIP/2.0 200 {want}"),
            "case {i}: {r}"
        );
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

const MULTIPART: &str = "--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b1\r\nContent-Type: application/sdp\r\nContent-Disposition: session\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n--b1--\r\n";

#[test]
fn multipart_parts() {
    let (h, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    if ($ci == "get") {{
        $var(r) = "";
        if (get_body_part("text/plain", "$var(a)")) {{ $var(r) = $var(r) + "a"; }}
        if (get_body_part_raw("text/plain", "$var(b)")) {{ $var(r) = $var(r) + "b"; }}
        if (get_body_part("application/sdp", "$var(c)")) {{ $var(r) = $var(r) + "c"; }}
        if (!get_body_part("image/png", "$var(d)")) {{ $var(r) = $var(r) + "d"; }}
        if (!filter_body("image/png")) {{ $var(r) = $var(r) + "e"; }}
        if (!remove_body_part("image/png")) {{ $var(r) = $var(r) + "f"; }}
        append_hf("X-R: $var(r)\r\n");
        append_hf("X-A: $(var(a){{s.encode.hexa}})\r\n");
        append_hf("X-B: $(var(b){{s.encode.hexa}})\r\n");
        append_hf("X-C: $(var(c){{s.encode.hexa}})\r\n");
    }}
    else if ($ci == "fsdp") {{ filter_body("application/sdp"); }}
    else if ($ci == "ftxt") {{ filter_body("text/plain"); }}
    else if ($ci == "rm") {{ remove_body_part("text/plain"); }}
    else if ($ci == "add") {{ append_body_part("$rU", "text/x-extra", "render"); }}
    else if ($ci == "single") {{
        if (!filter_body("text/plain") && !remove_body_part("text/plain")
                && !append_body_part("x", "text/x") && get_body_part("image/png", "$var(s)")) {{
            append_hf("X-S: $var(s)\r\n");
        }}
    }}
    forward("127.0.0.1", {hp});
"#
    )));
    let c = UdpClient::new();
    let send = |cid: &str, ct: &str, body: &str| {
        let req = body_request("MESSAGE", "sip:bob@example.com", c.port(), cid, "", body).replacen(
            "Content-Type: text/plain",
            &format!("Content-Type: {ct}"),
            1,
        );
        c.send(s.udp_addr(), &req);
        recv(&h)
    };
    let mp = "multipart/mixed;boundary=b1";
    let body_of = |f: &str| f.split_once("\r\n\r\n").map(|x| x.1.to_string());

    let f = send("get", mp, MULTIPART);
    assert_eq!(header(&f, "X-R"), Some("abcdef"), "{f}");
    // the content starts right after the part's Content-Type line
    assert_eq!(
        header(&f, "X-A"),
        Some(hex("\r\nfirst part\r\n").as_str()),
        "{f}"
    );
    assert_eq!(
        header(&f, "X-B"),
        Some(hex("Content-Type: text/plain\r\n\r\nfirst part\r\n--b1\r\n").as_str()),
        "{f}"
    );
    assert_eq!(
        header(&f, "X-C"),
        Some(hex("Content-Disposition: session\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n").as_str()),
        "{f}"
    );

    for (cid, want) in [
        (
            "fsdp",
            "Content-Disposition: session\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0",
        ),
        ("ftxt", "first part"),
        (
            "rm",
            "--b1\r\nContent-Type: application/sdp\r\nContent-Disposition: session\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n--b1--\r\n",
        ),
        (
            "add",
            "--b1\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b1\r\nContent-Type: application/sdp\r\nContent-Disposition: session\r\n\r\nv=0\r\nm=audio 1 RTP/AVP 0\r\n--b1\r\nContent-Type: text/x-extra\r\nContent-Disposition: render\r\n\r\nbob\r\n--b1--\r\n",
        ),
    ] {
        let f = send(cid, mp, MULTIPART);
        assert_eq!(body_of(&f).as_deref(), Some(want), "{cid}: {f}");
        assert_eq!(
            header(&f, "Content-Length"),
            Some(want.len().to_string().as_str()),
            "{cid}: {f}"
        );
        assert_eq!(header(&f, "Content-Type"), Some(mp), "{cid}: {f}");
    }

    // not multipart: the part functions fail, get_body_part answers the body
    let f = send("single", "text/plain", "hello");
    assert_eq!(header(&f, "X-S"), Some("hello"), "{f}");
}

#[test]
fn set_reply_body_in_stateless_and_stateful_replies() {
    // Observed on Kamailio 5.6.3: the Content-Type goes with the
    // append_to_reply lines in call order, Content-Length counts the body, a
    // second call adds its Content-Type but the first body stays; t_reply
    // carries the body too.
    let s = Siprd::start(
        &cfg(r#"
    if ($rU == "tm") {
        t_newtran();
        set_reply_body("tm body", "text/plain");
        t_reply("486", "Busy");
        exit;
    }
    append_to_reply("X-Foo: 1\r\n");
    set_reply_body("user $rU", "text/x-r");
    if ($rU == "twice") { set_reply_body("two", "c/d"); }
    sl_send_reply("200", "ok");
"#)
        .replace(
            "loadmodule \"maxfwd.so\"",
            "loadmodule \"maxfwd.so\"\nloadmodule \"tm.so\"",
        ),
    );
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:alice@127.0.0.1", c.port(), "srb-1", ""),
    );
    assert!(
        r.contains("\r\nX-Foo: 1\r\nContent-Type: text/x-r\r\n"),
        "{r}"
    );
    assert!(
        r.ends_with("\r\nContent-Length: 10\r\n\r\nuser alice"),
        "{r}"
    );
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:twice@127.0.0.1", c.port(), "srb-2", ""),
    );
    assert!(
        r.contains("\r\nContent-Type: text/x-r\r\nContent-Type: c/d\r\n"),
        "{r}"
    );
    assert!(
        r.ends_with("\r\nContent-Length: 10\r\n\r\nuser twice"),
        "{r}"
    );
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:tm@127.0.0.1", c.port(), "srb-3", ""),
    );
    assert!(r.starts_with("SIP/2.0 486 Busy"), "{r}");
    assert!(r.contains("\r\nContent-Type: text/plain\r\n"), "{r}");
    assert!(r.ends_with("\r\nContent-Length: 7\r\n\r\ntm body"), "{r}");
}

#[test]
fn search_family_is_case_insensitive_and_replacements_are_literal() {
    // Observed on Kamailio 5.6.3: search, search_body, search_append and
    // search_hf match case-insensitively; the replacement text of replace,
    // replace_all and search_append is not expanded; search_hf's flags pick
    // the first (`f`), the last (`l`) or any (`a`) header.
    let (hop_sock, hp) = hop();
    let s = Siprd::start(&cfg(&format!(
        r#"
    $var(r) = "";
    if (search("x-multi: ONE")) {{ $var(r) = $var(r) + "S"; }}
    if (search_body("HELLO")) {{ $var(r) = $var(r) + "B"; }}
    if (search_hf("X-Multi", "TWO", "a")) {{ $var(r) = $var(r) + "A"; }}
    if (!search_hf("X-Multi", "one", "l")) {{ $var(r) = $var(r) + "L"; }}
    if (search_hf("X-Multi", "ONE", "f")) {{ $var(r) = $var(r) + "F"; }}
    replace("X-Multi: one", "X-Multi: $rU");
    search_append("x-multi: TWO", ";$rU");
    append_to_reply("X-R: $var(r)\r\n");
    forward("127.0.0.1", {hp});
    sl_send_reply("200", "ok");
"#
    )));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &body_request(
            "OPTIONS",
            "sip:bob@example.com",
            c.port(),
            "srch1",
            "",
            "hello",
        ),
    );
    assert_eq!(header(&r, "X-R"), Some("SBALF"), "{r}");
    let fwd = recv(&hop_sock);
    assert!(
        fwd.contains("\r\nX-Multi: $rU\r\nX-Multi: two;$rU\r\n"),
        "{fwd}"
    );
}
