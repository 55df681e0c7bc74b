//! End to end: the real binary on loopback, stateless SIP over UDP and TCP.

mod common;

use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

const BASIC: &str = r#"
debug=2
children=2
tcp_children=1
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
server_header="Server: siprd-test"

loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"

request_route {
    if ($rU == "pv") {
        sl_send_reply("404", "$rU is not here");
        exit;
    }
    if ($rU == "fmt") {
        sl_send_reply("404", "User $rU is not here");
        exit;
    }
    if ($rU == "extra") {
        append_to_reply("X-Extra: yes\r\n");
        sl_send_reply("200", "OK");
        exit;
    }
    if ($rU == "log") {
        xlog("L_ERR", "got $rm from $si:$sp call-id $ci\n");
        sl_send_reply("200", "Logged");
        exit;
    }
    if ($rU == "silent") {
        exit;
    }
    if ($rm == "ACK") {
        xlog("L_ERR", "ACK routed\n");
        exit;
    }
    sl_send_reply("200", "OK");
}
"#;

fn start() -> Siprd {
    Siprd::start(BASIC)
}

#[test]
fn options_gets_200_with_headers_copied_and_to_tag() {
    let s = start();
    let c = UdpClient::new();
    let req = request("OPTIONS", "sip:x@127.0.0.1", c.port(), "opt1", "");
    let reply = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&reply), "SIP/2.0 200 OK");
    // No rport and the Via host is the source: the Via is copied as is.
    assert_eq!(
        header(&reply, "Via").unwrap(),
        format!("SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-opt1", c.port())
    );
    assert_eq!(
        header(&reply, "From").unwrap(),
        "<sip:alice@127.0.0.1>;tag=from-opt1"
    );
    let to = header(&reply, "To").unwrap();
    assert!(
        to.starts_with("<sip:bob@127.0.0.1>;tag="),
        "To without tag: {to}"
    );
    // Kamailio's sl tag shape: 32 hex digits, a dot, 8 hex digits.
    let tag = to.rsplit("tag=").next().unwrap();
    assert_eq!(tag.len(), 41, "{tag}");
    assert_eq!(&tag[32..33], ".");
    assert_eq!(header(&reply, "Call-ID").unwrap(), "opt1");
    assert_eq!(header(&reply, "CSeq").unwrap(), "1 OPTIONS");
    assert_eq!(header(&reply, "Server").unwrap(), "siprd-test");
    assert_eq!(header(&reply, "Content-Length").unwrap(), "0");
    assert!(reply.ends_with("\r\n\r\n"));
    // Header order as Kamailio: the copied ones, then Server, then Content-Length.
    let names: Vec<&str> = reply
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .filter(|n| !n.is_empty())
        .collect();
    assert_eq!(
        names,
        vec![
            "Via",
            "From",
            "To",
            "Call-ID",
            "CSeq",
            "Server",
            "Content-Length"
        ]
    );

    // A retransmission gets the same To-tag.
    let again = c.request(s.udp_addr(), &req);
    assert_eq!(header(&again, "To"), header(&reply, "To"));
}

#[test]
fn reason_starting_with_a_pv_is_that_pv_only() {
    let s = start();
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("INVITE", "sip:pv@127.0.0.1", c.port(), "pv1", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 404 pv");
    let r = c.request(
        s.udp_addr(),
        &request("INVITE", "sip:fmt@127.0.0.1", c.port(), "pv2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 404 User fmt is not here");
}

#[test]
fn append_to_reply_adds_header() {
    let s = start();
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:extra@127.0.0.1", c.port(), "ex1", ""),
    );
    assert_eq!(header(&r, "X-Extra"), Some("yes"));
    // append_to_reply headers come before Server (as Kamailio).
    assert!(
        r.find("X-Extra").unwrap() < r.find("Server:").unwrap(),
        "{r}"
    );
}

#[test]
fn rport_and_received_are_filled() {
    let s = start();
    let c = UdpClient::new();
    let req = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.9.9.9:5999;rport;branch=z9hG4bK-rp\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: rp1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let r = c.request(s.udp_addr(), req);
    let via = header(&r, "Via").unwrap();
    assert_eq!(
        via,
        format!(
            "SIP/2.0/UDP 10.9.9.9:5999;rport={};branch=z9hG4bK-rp;received=127.0.0.1",
            c.port()
        )
    );
}

#[test]
fn without_rport_the_reply_goes_to_the_via_port() {
    let s = start();
    let c = UdpClient::new();
    let target = UdpClient::new();
    let req = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-vp\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: vp1\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        target.port()
    );
    c.send(s.udp_addr(), &req);
    let r = target.recv(WAIT).expect("reply at the Via port");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    c.expect_silence(Duration::from_millis(200));
}

/// Kamailio 5.6 with a `received` already in the top Via: a local reply
/// appends another at the end (the old one kept) and goes to the source IP
/// at the Via port; a forwarded request gets the value of its last
/// `received` replaced in place.
#[test]
fn an_existing_received_param_as_kamailio() {
    let s = start();
    let c = UdpClient::new();
    let p = c.port();
    let req = |user: &str, via: &str| {
        format!(
            "OPTIONS sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP {via}\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: rcv-{user}\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let r = c.request(
        s.udp_addr(),
        &req(
            "x",
            &format!("127.0.0.1:{p};received=1.2.3.4;rport;branch=z9hG4bK-r1"),
        ),
    );
    assert_eq!(
        header(&r, "Via").unwrap(),
        format!("SIP/2.0/UDP 127.0.0.1:{p};received=1.2.3.4;rport={p};branch=z9hG4bK-r1;received=127.0.0.1")
    );
    let r = c.request(
        s.udp_addr(),
        &req(
            "x",
            &format!("127.0.0.1:{p};received=1.2.3.4;branch=z9hG4bK-r2"),
        ),
    );
    assert_eq!(
        header(&r, "Via").unwrap(),
        format!("SIP/2.0/UDP 127.0.0.1:{p};received=1.2.3.4;branch=z9hG4bK-r2;received=127.0.0.1")
    );
}

#[test]
fn compact_headers_stay_compact() {
    let s = start();
    let c = UdpClient::new();
    let req = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-cf\r\n\
         f: <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\ni: cf1\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n",
        c.port()
    );
    let r = c.request(s.udp_addr(), &req);
    assert!(
        r.contains(&format!(
            "\r\nv: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-cf\r\n",
            c.port()
        )),
        "{r}"
    );
    assert!(r.contains("\r\nf: <sip:a@b>;tag=1\r\n"), "{r}");
    assert!(r.contains("\r\ni: cf1\r\n"), "{r}");
    assert!(r.contains("\r\nt: <sip:c@d>;tag="), "{r}");
    // rport on a compact Via: edited in place, still compact (observed on Kamailio 5.6).
    let req = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:{p};rport;branch=z9hG4bK-cf2, SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-y\r\n\
         Via: SIP/2.0/TCP 10.2.2.2\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>;tag=abc\r\ni: cf2\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n",
        p = c.port()
    );
    let r = c.request(s.udp_addr(), &req);
    let p = c.port();
    assert!(
        // `received` goes at the end of the line, after its second value
        // (Kamailio 5.6.3, compact or not)
        r.contains(&format!("\r\nv: SIP/2.0/UDP 127.0.0.1:{p};rport={p};branch=z9hG4bK-cf2, SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-y;received=127.0.0.1\r\nVia: SIP/2.0/TCP 10.2.2.2\r\n")),
        "{r}"
    );
    assert!(
        r.contains("\r\nt: <sip:c@d>;tag=abc\r\n"),
        "an existing To-tag is kept: {r}"
    );
}

#[test]
fn messages_missing_mandatory_headers_are_dropped() {
    let s = start();
    let c = UdpClient::new();
    let no_callid = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-m\r\n\
         From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        c.port()
    );
    c.send(s.udp_addr(), &no_callid);
    c.expect_silence(Duration::from_millis(300));
    // still serving
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "after", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
}

/// Kamailio parses the To header as it reads the headers (a value its To
/// parser refuses drops the message) and From only when asked (then every
/// From variable reads null). Cases observed on Kamailio 5.6.3.
#[test]
fn to_and_from_values_are_taken_as_kamailio_takes_them() {
    let s = Siprd::start(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    sl_send_reply("200", "fu=$fu fn=$fn ft=$ft tu=$tu tt=$tt");
}
"#,
    );
    let c = UdpClient::new();
    let send = |from: &str, to: &str, id: &str| {
        c.send(
            s.udp_addr(),
            &format!(
                "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-{id}\r\n\
                 From: {from}\r\nTo: {to}\r\nCall-ID: {id}\r\nCSeq: 7 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                c.port()
            ),
        );
        c.recv(Duration::from_millis(400))
            .map(|r| first_line(&r).to_string())
    };
    let from = "<sip:b@x>;tag=1";
    for (i, to) in [
        "<>",
        "sip:a@x, sip:b@y",
        "<sip:a b@x>",
        "<sip:a@x>;tag=5\"",
        "<sip:a@x>;tag=1;",
        "<sip:a@x> junk",
        "A;B <sip:a@x>",
    ]
    .iter()
    .enumerate()
    {
        assert_eq!(send(from, to, &format!("bad-to-{i}")), None, "To: {to}");
    }
    assert_eq!(
        send("<sip:b@x>;tag=5\"", "<sip:a@x>", "bad-from").as_deref(),
        Some("SIP/2.0 200 fu=<null> fn=<null> ft=<null> tu=sip:a@x tt=<null>")
    );
    // quotes around a tag are not part of it; the last tag counts; blanks
    // inside <> around the URI are dropped; the URI itself is not checked
    assert_eq!(
        send(
            "\"A\\\"B\" < a@x >;tag=\"q\"",
            "<sip:a@x>;tag=1;tag=2",
            "odd"
        )
        .as_deref(),
        Some("SIP/2.0 200 fu=a@x fn=\"A\\\"B\" ft=q tu=sip:a@x tt=2")
    );
}

/// A broken Via line read before the required headers drops the message;
/// a broken one after them, or a datagram cut inside its last header, lets
/// the route run but no reply can be built (Kamailio 5.6.3).
#[test]
fn later_vias_and_cut_datagrams_as_kamailio() {
    let s = Siprd::start(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
request_route {
    xlog("L_ERR", "ROUTE RAN $ci\n");
    if (!sl_send_reply("200", "OK")) { xlog("L_ERR", "REPLY FAILED $ci\n"); }
}
"#,
    );
    let c = UdpClient::new();
    let via = format!("Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-v", c.port());
    let head = "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n";
    let rest = "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 7 OPTIONS\r\n";
    // a second Via that does not parse, before From/To/Call-ID/CSeq: dropped
    c.send(
        s.udp_addr(),
        &format!("{head}{via}1\r\nVia: SIP/2.0/UDP\r\n{rest}Call-ID: early\r\n\r\n"),
    );
    c.expect_silence(Duration::from_millis(300));
    // the route runs (it logs), the reply cannot be built
    let reply_fails = |msg: String, id: &str| {
        c.send(s.udp_addr(), &msg);
        c.expect_silence(Duration::from_millis(300));
        let failed = format!("REPLY FAILED {id}");
        assert!(s.wait_log(&failed, Duration::from_secs(2)), "{}", s.log());
    };
    // a broken Via after the required headers
    reply_fails(
        format!("{head}{via}2\r\n{rest}Call-ID: late\r\nVia: garbage\r\n\r\n"),
        "late",
    );
    // cut inside its last header (no line end)
    reply_fails(
        format!("{head}{via}3\r\n{rest}Call-ID: cut\r\nContact: <sip:a@1"),
        "cut",
    );
    assert_eq!(s.count_log("ROUTE RAN early"), 0, "{}", s.log());
    // ending in a line end without the empty line is fine
    let r = c.request(
        s.udp_addr(),
        &format!("{head}{via}4\r\n{rest}Call-ID: open\r\nContent-Length: 0\r\n"),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    // so is a lone CR after it, and a cut To (its parser copes)
    let from = "From: <sip:a@b>;tag=1\r\n";
    for (n, tail) in [
        "Call-ID: cr\r\nCSeq: 7 OPTIONS\r\nTo: <sip:c@d>\r\n\r",
        "Call-ID: to\r\nCSeq: 7 OPTIONS\r\nTo: <sip:c@d>",
    ]
    .iter()
    .enumerate()
    {
        let r = c.request(s.udp_addr(), &format!("{head}{via}5{n}\r\n{from}{tail}"));
        assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{tail:?}");
    }
    // a required header the datagram ends in drops it (before any route),
    // as does a last Via with nothing after its line end
    let to = "To: <sip:c@d>\r\n";
    for msg in [
        format!("{head}{via}6\r\n{from}{to}Call-ID: cutcseq\r\nCSeq: 7 OPTIONS"),
        format!("{head}{via}6\r\n{from}{to}Call-ID: crcseq\r\nCSeq: 7 OPTIONS\r"),
        format!("{head}{via}6\r\n{from}{to}CSeq: 7 OPTIONS\r\nCall-ID: cutcid"),
        format!("{head}{from}{to}CSeq: 7 OPTIONS\r\nCall-ID: lastvia\r\n{via}6\r\n"),
    ] {
        c.send(s.udp_addr(), &msg);
        c.expect_silence(Duration::from_millis(200));
    }
    for id in ["cutcseq", "crcseq", "cutcid", "lastvia"] {
        assert_eq!(s.count_log(&format!("ROUTE RAN {id}")), 0, "{}", s.log());
    }
}

/// A header line Kamailio cannot read (a name byte outside letters, digits
/// and `-._+~`, or no colon) before the required headers drops the message;
/// after them the route runs without the headers from that line on, `$hdr`
/// and `$rb` read null, and neither a reply nor a transaction can be made
/// (Kamailio 5.6.3).
#[test]
fn unusable_header_lines_as_kamailio() {
    let s = Siprd::start(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
request_route {
    xlog("L_ERR", "ROUTE RAN $ci ua=$ua cl=$cl xa=$hdr(X-A) n=$hdrc(X-A) rb=$rb\n");
    if (!append_hf("X-Z: 1\r\n") && !is_present_hf("User-Agent")) {
        xlog("L_ERR", "HEADER FUNCTIONS FAILED $ci\n");
    }
    if ($rU == "tm") {
        if (!t_newtran()) { xlog("L_ERR", "NO TRANSACTION $ci\n"); }
        exit;
    }
    if (!sl_send_reply("200", "OK")) { xlog("L_ERR", "REPLY FAILED $ci\n"); }
}
"#,
    );
    let c = UdpClient::new();
    let msg = |user: &str, id: &str, before: &str, after: &str| {
        format!(
            "OPTIONS sip:{user}@127.0.0.1 SIP/2.0\r\n{before}\
             Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-{id}\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: {id}\r\nCSeq: 7 OPTIONS\r\n\
             User-Agent: ua1\r\nX-A: a1\r\n{after}Max-Forwards: 70\r\nContent-Length: 3\r\n\r\nabc",
            c.port()
        )
    };
    // RFC 3261 allows `!` and a backquote in a token; Kamailio does not
    for (n, bad) in ["X!o: 1\r\n", "Max-Fo`wards: 70\r\n", "No colon\r\n"]
        .iter()
        .enumerate()
    {
        c.send(s.udp_addr(), &msg("x", &format!("early{n}"), bad, ""));
        c.expect_silence(Duration::from_millis(200));
        let id = format!("late{n}");
        c.send(s.udp_addr(), &msg("x", &id, "", bad));
        c.expect_silence(Duration::from_millis(200));
        assert!(
            s.wait_log(&format!("REPLY FAILED {id}"), Duration::from_secs(2)),
            "{}",
            s.log()
        );
        assert_eq!(
            s.count_log(&format!("ROUTE RAN early{n}")),
            0,
            "{}",
            s.log()
        );
    }
    // header functions read every header first: they fail
    assert!(
        s.wait_log("HEADER FUNCTIONS FAILED late0", Duration::from_secs(1)),
        "{}",
        s.log()
    );
    assert_eq!(s.count_log("HEADER FUNCTIONS FAILED fine"), 0);
    // headers before the line are read by name, not through $hdr
    assert!(
        s.wait_log(
            "ROUTE RAN late0 ua=ua1 cl=<null> xa=<null> n=0 rb=<null>",
            Duration::from_secs(1)
        ),
        "{}",
        s.log()
    );
    c.send(s.udp_addr(), &msg("tm", "tm1", "", "X!o: 1\r\n"));
    assert!(
        s.wait_log("NO TRANSACTION tm1", Duration::from_secs(2)),
        "{}",
        s.log()
    );
    // the name bytes Kamailio takes
    let r = c.request(s.udp_addr(), &msg("x", "fine", "", "X.a_b+c~d-9: 1\r\n"));
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    assert!(s.wait_log(
        "ROUTE RAN fine ua=ua1 cl=3 xa=a1 n=1 rb=abc",
        Duration::from_secs(1)
    ));
}

#[test]
fn ack_runs_the_route_but_gets_no_reply() {
    let s = start();
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("ACK", "sip:x@127.0.0.1", c.port(), "ack1", ""),
    );
    assert!(s.wait_log("ACK routed", WAIT));
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn xlog_writes_formatted_lines() {
    let s = start();
    let c = UdpClient::new();
    c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:log@127.0.0.1", c.port(), "xl-1", ""),
    );
    assert!(
        s.wait_log(
            &format!("got OPTIONS from 127.0.0.1:{} call-id xl-1", c.port()),
            WAIT
        ),
        "{}",
        s.log()
    );
    assert!(
        s.log().contains("ERROR: <script>: got OPTIONS"),
        "{}",
        s.log()
    );
}

#[test]
fn garbage_never_stops_the_server() {
    let mut s = start();
    let c = UdpClient::new();
    let junk: Vec<Vec<u8>> = vec![
        vec![],
        b"\r\n\r\n".to_vec(),
        vec![0xff; 1500],
        b"INVITE sip:x SIP/2.0\r\nVia".to_vec(),
        b"SIP/2.0 200\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        (0..65000u32).map(|i| (i % 251) as u8).collect(),
        b"OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: x\r\nContent-Length: 99999\r\n\r\n".to_vec(),
    ];
    for j in &junk {
        c.send_bytes(s.udp_addr(), j);
    }
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "alive", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    assert!(s.is_running());
}

#[test]
fn tcp_replies_on_the_same_connection_pipelined_and_split() {
    let s = start();
    let mut t = TcpClient::connect(s.tcp_addr());
    let port = t.port();
    let one = request("OPTIONS", "sip:x@127.0.0.1", port, "tcp1", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let two = request("OPTIONS", "sip:x@127.0.0.1", port, "tcp2", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    t.send(format!("{one}{two}").as_bytes());
    let r1 = t.recv(WAIT).expect("first reply");
    let r2 = t.recv(WAIT).expect("second reply");
    let mut ids = vec![
        header(&r1, "Call-ID").unwrap().to_string(),
        header(&r2, "Call-ID").unwrap().to_string(),
    ];
    ids.sort();
    assert_eq!(ids, vec!["tcp1", "tcp2"]);
    // split in three writes
    let three = request("OPTIONS", "sip:x@127.0.0.1", port, "tcp3", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let (a, rest) = three.split_at(10);
    let (b, c) = rest.split_at(40);
    for part in [a, b, c] {
        t.send(part.as_bytes());
        std::thread::sleep(Duration::from_millis(50));
    }
    let r3 = t.recv(WAIT).expect("reply to split message");
    assert_eq!(header(&r3, "Call-ID"), Some("tcp3"));
}

/// What Kamailio 5.6 does with a TCP message it cannot take: `Some(reply
/// first line)` when it answers and keeps the connection, `None` when it
/// closes the connection unanswered.
fn tcp_outcome(s: &Siprd, msg: &str) -> Option<String> {
    let mut t = TcpClient::connect(s.tcp_addr());
    t.send(msg.as_bytes());
    match t.recv(Duration::from_millis(700)) {
        Some(r) => Some(first_line(&r).to_string()),
        None => {
            assert!(t.closed_within(WAIT), "neither answered nor closed: {msg}");
            None
        }
    }
}

#[test]
fn tcp_messages_kamailio_refuses_close_the_connection() {
    let s = start();
    let ok = request("OPTIONS", "sip:x@127.0.0.1", 5060, "tcpok", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    assert_eq!(tcp_outcome(&s, &ok).as_deref(), Some("SIP/2.0 200 OK"));
    // No Content-Length (tcp_accept_no_cl=no, the default), two of them
    // (even equal), a bad one.
    let no_cl = ok.replace("Content-Length: 0\r\n", "");
    assert_eq!(tcp_outcome(&s, &no_cl), None);
    let two = ok.replace("Content-Length: 0\r\n", "Content-Length: 0\r\nl: 0\r\n");
    assert_eq!(tcp_outcome(&s, &two), None);
    let bad = ok.replace("Content-Length: 0\r\n", "Content-Length: -1\r\n");
    assert_eq!(tcp_outcome(&s, &bad), None);
    // Framed but unparsable, or without From: closed after the message.
    assert_eq!(
        tcp_outcome(&s, &format!("hello junk\r\nContent-Length: 0\r\n\r\n{ok}")),
        None
    );
    let no_from: String = ok
        .split("\r\n")
        .filter(|l| !l.starts_with("From:"))
        .collect::<Vec<_>>()
        .join("\r\n");
    assert_eq!(tcp_outcome(&s, &format!("{no_from}{ok}")), None);
    // With tcp_accept_no_cl=yes a message without Content-Length has no body.
    let s = Siprd::start(&BASIC.replacen('\n', "\ntcp_accept_no_cl=yes\n", 1));
    assert_eq!(tcp_outcome(&s, &no_cl).as_deref(), Some("SIP/2.0 200 OK"));
    assert_eq!(tcp_outcome(&s, &two), None);
}

#[test]
fn tcp_oversized_header_closes_the_connection() {
    let s = start();
    let mut t = TcpClient::connect(s.tcp_addr());
    let mut big = String::from("OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n");
    while big.len() < 100_000 {
        big.push_str(
            "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    let _ = std::io::Write::write_all(&mut t.stream, big.as_bytes());
    assert!(t.closed_within(WAIT));
    // the server keeps serving
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "after-big", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
}

#[test]
fn forward_relays_request_and_reply_statelessly() {
    let next_hop = UdpSocket::bind("127.0.0.1:0").unwrap();
    next_hop.set_read_timeout(Some(WAIT)).unwrap();
    let hop = next_hop.local_addr().unwrap();
    let cfg = format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {{
    $du = "sip:127.0.0.1:{}";
    forward();
}}
"#,
        hop.port()
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bob@example.com", c.port(), "fw1", ""),
    );
    let mut buf = vec![0u8; 65536];
    let (n, from) = next_hop.recv_from(&mut buf).expect("forwarded request");
    let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert_eq!(first_line(&fwd), "MESSAGE sip:bob@example.com SIP/2.0");
    let vias: Vec<&str> = fwd
        .split("\r\n")
        .filter(|l| l.starts_with("Via:"))
        .collect();
    assert_eq!(vias.len(), 2, "{fwd}");
    assert!(
        vias[0].starts_with(&format!("Via: SIP/2.0/UDP {};branch=z9hG4bK", s.udp_addr())),
        "{fwd}"
    );
    // answer it: the reply goes back to the client with our Via removed
    let reply = fwd
        .replacen(
            "MESSAGE sip:bob@example.com SIP/2.0",
            "SIP/2.0 202 Accepted",
            1,
        )
        .replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hop");
    next_hop.send_to(reply.as_bytes(), from).unwrap();
    let back = c.recv(WAIT).expect("reply relayed back");
    assert_eq!(first_line(&back), "SIP/2.0 202 Accepted");
    assert_eq!(back.matches("Via:").count(), 1, "{back}");
    let _ = SocketAddr::from(([127, 0, 0, 1], 0));
}

#[test]
fn var_is_per_worker_and_kept_between_messages() {
    let cfg = r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    $var(n) = $var(n) + 1;
    sl_send_reply("200", "n=$var(n)");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    for i in 1..=3 {
        let r = c.request(
            s.udp_addr(),
            &request("OPTIONS", "sip:x@127.0.0.1", c.port(), &format!("v{i}"), ""),
        );
        assert_eq!(first_line(&r), format!("SIP/2.0 200 n={i}"));
    }
}

#[test]
fn sigterm_stops_within_a_second() {
    let mut s = start();
    let took = s.terminate();
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

#[test]
fn config_check_reports_errors_with_location() {
    let (code, out) = check_config(
        "loadmodule \"sl.so\"\nrequest_route {\n    sl_send_reploy(\"200\", \"OK\");\n}\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sl_send_reploy"), "{out}");
    assert!(out.contains(":3:5"), "{out}");
    assert!(out.contains("sl_send_reply"), "no did-you-mean: {out}");
}

#[test]
fn the_default_config_is_valid() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/siprd.cfg");
    let (code, out) = check_file(&path);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn unknown_module_is_a_load_error_naming_it() {
    let (code, out) = check_config("loadmodule \"nosuchmod.so\"\nrequest_route { exit; }\n");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("nosuchmod"), "{out}");
}

fn relay_setup(reply_block: &str) -> (Siprd, UdpSocket) {
    let next_hop = UdpSocket::bind("127.0.0.1:0").unwrap();
    next_hop.set_read_timeout(Some(WAIT)).unwrap();
    let cfg = format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
request_route {{
    $du = "sip:127.0.0.1:{}";
    forward();
}}
route[RET0] {{ return 0; }}
{reply_block}
"#,
        next_hop.local_addr().unwrap().port()
    );
    (Siprd::start(&cfg), next_hop)
}

/// Answer the request the next hop received with `status`.
fn answer(next_hop: &UdpSocket, status: &str) {
    answer_with(next_hop, status, |r| r);
}

/// Answer with `status`, the reply text changed by `edit` first.
fn answer_with(next_hop: &UdpSocket, status: &str, edit: impl Fn(String) -> String) {
    let mut buf = vec![0u8; 65536];
    let (n, from) = next_hop.recv_from(&mut buf).expect("forwarded request");
    let fwd = String::from_utf8_lossy(&buf[..n]).into_owned();
    let first = fwd.split("\r\n").next().unwrap().to_string();
    let reply = fwd
        .replacen(&first, &format!("SIP/2.0 {status}"), 1)
        .replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hop");
    next_hop.send_to(edit(reply).as_bytes(), from).unwrap();
}

/// Kamailio's core drops a reply when its reply_route's value is 0 or
/// negative: `return 0` (also from a sub-route), `return -1`, or a last
/// statement that failed; `exit` relays it (5.6.3).
#[test]
fn reply_route_value_decides_like_kamailio() {
    let (s, hop) = relay_setup(
        r#"reply_route {
    if ($ci == "v1") { remove_hf("X-None"); }
    else if ($ci == "v2") { return -1; }
    else if ($ci == "v3") { route(RET0); }
    else if ($ci == "v4") { remove_hf("X-None"); exit; }
    else if ($ci == "v5") { if (remove_hf("X-None")) { xlog("L_ERR", "never\n"); } }
    else if ($ci == "v6") { $var(x) = -1; }
    else if ($ci == "v7") { remove_hf("X-None"); return; }
}"#,
    );
    let c = UdpClient::new();
    for (id, relayed) in [
        ("v1", false),
        ("v2", false),
        ("v3", false),
        ("v4", true),
        ("v5", true),
        ("v6", true),
        ("v7", true),
    ] {
        c.send(
            s.udp_addr(),
            &request("MESSAGE", "sip:bob@example.com", c.port(), id, ""),
        );
        answer(&hop, "200 OK");
        match c.recv(Duration::from_millis(400)) {
            Some(r) => assert!(relayed, "{id} relayed: {r}"),
            None => assert!(!relayed, "{id} not relayed\n{}", s.log()),
        }
    }
    assert!(s.wait_log("reply dropped", WAIT), "{}", s.log());
}

/// Replies as Kamailio's parser takes them: repeated To/CSeq/Content-Length
/// are fine, a lone CR after the last header ends the headers, a status
/// line other than SIP/2.0 or a datagram cut inside CSeq is dropped, and a
/// header line it cannot read makes append_hf fail (so the route, ending
/// in it, drops the reply).
#[test]
fn replies_read_as_kamailio_reads_them() {
    let (s, hop) = relay_setup(r#"reply_route { append_hf("X-R: $rs\r\n"); }"#);
    let c = UdpClient::new();
    type Edit = fn(String) -> String;
    let cases: [(&str, Edit, bool); 7] = [
        ("ok", |r| r, true),
        (
            "dups",
            |r| {
                r.replace(
                    "CSeq: 1 MESSAGE\r\n",
                    "CSeq: 1 MESSAGE\r\nCSeq: 1 MESSAGE\r\nTo: <sip:x@y>\r\n",
                )
                .replace(
                    "Content-Length: 0\r\n",
                    "Content-Length: 0\r\nContent-Length: 0\r\n",
                )
            },
            true,
        ),
        ("lone-cr", |r| r[..r.len() - 1].to_string(), true),
        (
            "version",
            |r| r.replacen("SIP/2.0 200", "SIP/2.1 200", 1),
            false,
        ),
        (
            "cut-cseq",
            |r| {
                let at = r.find("CSeq: 1 MESS").unwrap();
                let rest = r[at..].replace("CSeq: 1 MESSAGE\r\n", "");
                format!("{}{}\r\nCSeq: 1 MESS", &r[..at], rest.trim_end())
            },
            false,
        ),
        (
            "bad-name",
            |r| r.replace("Content-Length: 0\r\n", "X!y: 1\r\nContent-Length: 0\r\n"),
            false,
        ),
        (
            "lower",
            |r| r.replacen("SIP/2.0 200", "sip/2.0 200", 1),
            true,
        ),
    ];
    for (id, edit, relayed) in cases {
        c.send(
            s.udp_addr(),
            &request("MESSAGE", "sip:bob@example.com", c.port(), id, ""),
        );
        answer_with(&hop, "200 OK", edit);
        match c.recv(Duration::from_millis(400)) {
            Some(r) => {
                assert!(relayed, "{id} relayed: {r}");
                assert_eq!(header(&r, "X-R"), Some("200"), "{id}: {r}");
            }
            None => assert!(!relayed, "{id} not relayed\n{}", s.log()),
        }
    }
}

#[test]
fn reply_route_sees_replies_and_drop_stops_forwarding() {
    let (s, hop) = relay_setup(
        r#"reply_route {
    xlog("L_ERR", "REPLY $rs $rr for $ci\n");
    if ($rs == 486) { drop; }
}"#,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bob@example.com", c.port(), "rr1", ""),
    );
    answer(&hop, "486 Busy Here");
    assert!(
        s.wait_log("REPLY 486 Busy Here for rr1", WAIT),
        "{}",
        s.log()
    );
    c.expect_silence(Duration::from_millis(300));
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bob@example.com", c.port(), "rr2", ""),
    );
    answer(&hop, "200 OK");
    let back = c.recv(WAIT).expect("200 relayed");
    assert_eq!(first_line(&back), "SIP/2.0 200 OK");
}

#[test]
fn unnamed_onreply_route_is_the_core_reply_route() {
    let (s, hop) = relay_setup(
        r#"onreply_route {
    xlog("L_ERR", "ONREPLY $rs\n");
}"#,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bob@example.com", c.port(), "or1", ""),
    );
    answer(&hop, "202 Accepted");
    assert!(s.wait_log("ONREPLY 202", WAIT), "{}", s.log());
    assert_eq!(
        first_line(&c.recv(WAIT).expect("relayed")),
        "SIP/2.0 202 Accepted"
    );
}

#[test]
fn a_reply_whose_top_via_is_not_ours_is_dropped() {
    let s = start();
    let c = UdpClient::new();
    let foreign = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bKforeign\r\n\
                   Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n\
                   Call-ID: foreign\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";
    c.send(s.udp_addr(), foreign);
    c.expect_silence(Duration::from_millis(300));
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "still", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
}

#[test]
fn digest_credential_pvs_read_the_right_header() {
    // Values observed on Kamailio 5.6 with the same requests.
    let s = Siprd::start(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    sl_send_reply("200", "adu=[$adu] ar=[$ar] au=[$au] aU=[$aU] ad=[$ad]");
}
"#,
    );
    let c = UdpClient::new();
    let both = "Proxy-Authorization: Digest username=\"bob@dom.org\", realm=\"rlm\", nonce=\"n\", uri=\"sip:u@h\", response=\"r\"\r\n\
                Authorization: Digest username=\"carol\", realm=\"other\", uri=\"sip:z\"\r\n";
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "dig1", both),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adu=[sip:u@h] ar=[rlm] au=[bob] aU=[bob@dom.org] ad=[dom.org]"
    );
    // Proxy-Authorization wins whatever the method; without it Authorization
    // is read; a username without `@` has an empty domain.
    let r = c.request(
        s.udp_addr(),
        &request("REGISTER", "sip:127.0.0.1", c.port(), "dig2", both),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adu=[sip:u@h] ar=[rlm] au=[bob] aU=[bob@dom.org] ad=[dom.org]"
    );
    let only = "Authorization: Digest username=\"carol\", realm=\"other\", uri=\"sip:z\"\r\n";
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "dig4", only),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adu=[sip:z] ar=[other] au=[carol] aU=[carol] ad=[]"
    );
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "dig3", ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adu=[<null>] ar=[<null>] au=[<null>] aU=[<null>] ad=[<null>]"
    );
}

#[test]
fn socket_uri_pvs_name_tcp() {
    // Observed on Kamailio 5.6 over TCP: `$su`/`$Ru` carry `;transport=tcp`.
    let s = Siprd::start(
        r#"
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    sl_send_reply("200", "su=[$su] sut=[$sut] sas=[$sas] Ru=[$Ru] Rut=[$Rut] mts=[$mts]");
}
"#,
    );
    let mut t = TcpClient::connect(s.tcp_addr());
    let (cp, sp) = (t.port(), s.tcp_addr().port());
    let req =
        request("OPTIONS", "sip:x@127.0.0.1", cp, "su1", "").replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    t.send(req.as_bytes());
    let r = t.recv(WAIT).expect("reply");
    assert_eq!(
        first_line(&r),
        format!(
            "SIP/2.0 200 su=[sip:127.0.0.1:{cp};transport=tcp] sut=[sip:127.0.0.1:{cp};transport=tcp] \
             sas=[tcp:127.0.0.1:{cp}] Ru=[sip:127.0.0.1:{sp};transport=tcp] \
             Rut=[sip:127.0.0.1:{sp};transport=tcp] mts=[rq]"
        )
    );
}

/// Kamailio 5.6 reads the headers in order until it has the first Via, From,
/// To, Call-ID and CSeq: a second From/To/Call-ID/CSeq/Max-Forwards, a To that
/// is no name-addr or a Content-Length that is no number among those drops
/// the request before any route; after them, the route runs (and no reply can
/// be built). The To URI itself is not checked; `;tag=` (empty) is no tag.
#[test]
fn headers_read_before_routing_as_kamailio() {
    let s = Siprd::start(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
request_route {
    xlog("L_INFO", "ROUTED $ci tt=[$tt] fu=[$fu] ft=[$ft] fU=[$fU] tu=[$tu]\n");
    sl_send_reply("200", "ok");
}
"#,
    );
    let c = UdpClient::new();
    let send = |id: &str, headers: &str| {
        let m = format!(
            "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-{id}\r\n{headers}\r\n",
            c.port()
        );
        c.send(s.udp_addr(), &m);
    };
    let std = |id: &str| {
        format!("From: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: {id}\r\nCSeq: 1 OPTIONS\r\n")
    };
    // dropped: a duplicate or a bad To / Content-Length before the set is complete
    send("early-dup", "From: <sip:a@b>;tag=1\r\nFrom: <sip:z@b>;tag=2\r\nTo: <sip:b@c>\r\nCall-ID: early-dup\r\nCSeq: 1 OPTIONS\r\n");
    send(
        "bad-to",
        "From: <sip:a@b>;tag=1\r\nTo: <sip:b@c\r\nCall-ID: bad-to\r\nCSeq: 1 OPTIONS\r\n",
    );
    send(
        "empty-to",
        "From: <sip:a@b>;tag=1\r\nTo: \r\nCall-ID: empty-to\r\nCSeq: 1 OPTIONS\r\n",
    );
    send("bad-cl", "From: <sip:a@b>;tag=1\r\nContent-Length: abc\r\nTo: <sip:b@c>\r\nCall-ID: bad-cl\r\nCSeq: 1 OPTIONS\r\n");
    send("early-mf", "Max-Forwards: 70\r\nMax-Forwards: 69\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: early-mf\r\nCSeq: 1 OPTIONS\r\n");
    // routed, but no reply can be built
    send(
        "late-dup",
        &format!("{}From: <sip:z@b>;tag=2\r\n", std("late-dup")),
    );
    assert!(
        s.wait_log("ROUTED late-dup tt=[<null>]", WAIT),
        "{}",
        s.log()
    );
    c.expect_silence(Duration::from_millis(200));
    // routed and answered: a To that is no SIP URI, an empty To tag
    // (the URIs are not checked: `$fu` and `$tu` read them as written)
    send(
        "odd-to",
        "From: <a@b>;tag=1\r\nTo: b@c;tag=\r\nCall-ID: odd-to\r\nCSeq: 1 OPTIONS\r\n",
    );
    let r = c.recv(WAIT).expect("reply");
    assert!(r.starts_with("SIP/2.0 200 ok\r\n"), "{r}");
    assert!(
        s.wait_log(
            "ROUTED odd-to tt=[<null>] fu=[a@b] ft=[1] fU=[<null>] tu=[b@c]",
            WAIT
        ),
        "{}",
        s.log()
    );
    let log = s.log();
    for id in ["early-dup", "bad-to", "empty-to", "bad-cl", "early-mf"] {
        assert!(
            !log.contains(&format!("ROUTED {id} ")),
            "{id} was routed: {log}"
        );
    }
}

/// Kamailio 5.6 takes a reply with repeated From/To/Call-ID/CSeq (its
/// reply_route runs) but drops one whose second Via does not parse.
#[test]
fn replies_read_before_routing_as_kamailio() {
    let s = Siprd::start(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
request_route { exit; }
reply_route { xlog("L_INFO", "REPLY $ci\n"); drop; }
"#,
    );
    let c = UdpClient::new();
    let send = |id: &str, vias: &str, extra: &str| {
        let m = format!(
            "SIP/2.0 180 Ringing\r\n{vias}From: <sip:a@b>;tag=1\r\n{extra}To: <sip:b@c>;tag=2\r\nCall-ID: {id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        c.send(s.udp_addr(), &m);
    };
    let v1 = "Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKr\r\n";
    send(
        "bad-via2",
        &format!("{v1}Via: SIP/2.0/UDP 127.0.0.1:5555;;\r\n"),
        "",
    );
    send("dup-from", v1, "From: <sip:a@b>;tag=1\r\n");
    assert!(s.wait_log("REPLY dup-from", WAIT), "{}", s.log());
    assert!(!s.log().contains("REPLY bad-via2"), "{}", s.log());
}

/// A reply whose next Via is over TLS, SCTP or WS is not forwarded (siprd has
/// no such sockets; Kamailio 5.6.3 without them: "cannot forward reply"),
/// never sent over UDP instead; a UDP one is.
#[test]
fn replies_for_transports_without_sockets_are_not_forwarded() {
    let s = start();
    let up = NextHop::new();
    let c = UdpClient::new();
    let me = s.udp_addr();
    for (transport, copies) in [("TLS", 0), ("SCTP", 0), ("WS", 0), ("UDP", 1)] {
        let reply = format!(
            "SIP/2.0 200 OK\r\n\
             Via: SIP/2.0/UDP {me};branch=z9hG4bK-rt1\r\n\
             Via: SIP/2.0/{transport} 127.0.0.1:{};branch=z9hG4bK-up1\r\n\
             From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\n\
             Call-ID: rt-{transport}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
            up.port()
        );
        c.send(me, &reply);
        let got = up.collect(Duration::from_millis(300));
        assert_eq!(got.len(), copies, "{transport}: {got:?}");
    }
}
