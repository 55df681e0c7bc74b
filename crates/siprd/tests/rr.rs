//! rr end to end: Record-Route written by record_route* as Kamailio 5.6.3
//! writes it (same bytes, same place), and loose_route on in-dialog requests,
//! with the expectations recorded from Kamailio on the wire.

mod common;
use common::*;
use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn cfg(params: &str, routes: &str) -> String {
    tm_cfg(1, &format!("loadmodule \"rr.so\"\n{params}"), routes)
}

/// The header lines of a message (start line excluded).
fn lines(msg: &str) -> Vec<&str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

fn rr_lines(msg: &str) -> Vec<&str> {
    lines(msg)
        .into_iter()
        .filter(|l| l.starts_with("Record-Route:"))
        .collect()
}

/// The UAS's 200 to `req`: Record-Route copied, To tagged.
fn uas_ok(req: &str, contact_port: u16) -> String {
    let mut out = vec!["SIP/2.0 200 OK".to_string()];
    for l in lines(req) {
        let n = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        match n.as_str() {
            "via" | "from" | "call-id" | "cseq" | "record-route" => out.push(l.to_string()),
            "to" => out.push(format!("{l};tag=uastag")),
            _ => {}
        }
    }
    out.push(format!("Contact: <sip:bob@127.0.0.1:{contact_port}>"));
    out.push("Content-Length: 0".into());
    out.join("\r\n") + "\r\n\r\n"
}

const PROXY: &str = r#"
request_route {
    if (has_totag()) {
        $var(r) = loose_route();
        xlog("L_INFO", "LR $rm rc=$var(r) ru=$ru du=$du\n");
        if ($var(r) > 0) { t_relay(); exit; }
        sl_send_reply("404", "Not here");
        exit;
    }
    record_route();
    t_relay();
}
"#;

#[test]
fn dialog_is_record_routed_and_loose_routed_back() {
    let s = Siprd::start(&cfg("loadmodule \"siputils.so\"", PROXY));
    let port = s.udp_addr().port();
    let uac = UdpClient::new();
    let uas = NextHop::new();
    let invite = request(
        "INVITE",
        &format!("sip:bob@127.0.0.1:{}", uas.port()),
        uac.port(),
        "rr-dlg",
        "",
    );
    uac.send(s.udp_addr(), &invite);
    let (got, from) = uas.recv_start("INVITE", WAIT).expect("INVITE relayed");
    // Kamailio: one Record-Route (same socket in and out) as the first
    // header, above our Via.
    let rr = format!("Record-Route: <sip:127.0.0.1:{port};lr;ftag=from-rr-dlg>");
    let l = lines(&got);
    assert_eq!(l[0], rr, "{got}");
    assert!(
        l[1].starts_with(&format!("Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK")),
        "{got}"
    );
    assert_eq!(
        l[2],
        format!(
            "Via: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-rr-dlg",
            uac.port()
        )
    );
    assert_eq!(rr_lines(&got).len(), 1);
    uas.sock
        .send_to(uas_ok(&got, uas.port()).as_bytes(), from)
        .unwrap();
    let ok = (0..10)
        .filter_map(|_| uac.recv(Duration::from_millis(500)))
        .find(|m| m.starts_with("SIP/2.0 200"))
        .expect("200 relayed back");
    assert_eq!(rr_lines(&ok), vec![rr.as_str()], "{ok}");

    // The BYE comes back with the route set: our entry goes, the R-URI stays.
    let route = rr.replacen("Record-Route", "Route", 1);
    let bye = format!(
        "BYE sip:bob@127.0.0.1:{hop} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{c};branch=z9hG4bK-rr-bye\r\n\
         {route}\r\n\
         From: <sip:alice@127.0.0.1>;tag=from-rr-dlg\r\n\
         To: <sip:bob@127.0.0.1>;tag=uastag\r\n\
         Call-ID: rr-dlg\r\n\
         CSeq: 2 BYE\r\n\
         Content-Length: 0\r\n\r\n",
        hop = uas.port(),
        c = uac.port()
    );
    uac.send(s.udp_addr(), &bye);
    let (got, _) = uas.recv_start("BYE", WAIT).expect("BYE relayed");
    let mut want: Vec<&str> = bye.split("\r\n").collect();
    want.retain(|l| !l.starts_with("Route:"));
    let got_l: Vec<&str> = got.split("\r\n").collect();
    assert_eq!(got_l[0], want[0]);
    assert!(got_l[1].starts_with(&format!("Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK")));
    assert_eq!(&got_l[2..], &want[1..], "{got}");
    assert!(s.wait_log(
        &format!("LR BYE rc=1 ru=sip:bob@127.0.0.1:{} du=<null>", uas.port()),
        WAIT
    ));
}

/// Read one message from an accepted TCP connection within `wait`.
fn tcp_read(stream: &mut std::net::TcpStream, wait: Duration) -> Option<String> {
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .ok()?;
    let end = Instant::now() + wait;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < end {
        if buf.windows(4).any(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&buf).into_owned());
        }
        if let Ok(n) = stream.read(&mut chunk) {
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    None
}

#[test]
fn double_record_route_when_the_transport_changes() {
    let c = tm_cfg(
        1,
        "listen=tcp:127.0.0.1:0\nloadmodule \"rr.so\"",
        "request_route { record_route(); t_relay(); }",
    );
    let s = Siprd::start(&c);
    let (udp, tcp) = (s.udp_addr().port(), s.tcp_addr().port());
    let sink = TcpListener::bind("127.0.0.1:0").unwrap();
    sink.set_nonblocking(true).unwrap();
    let hop = sink.local_addr().unwrap().port();
    let uac = UdpClient::new();
    uac.send(
        s.udp_addr(),
        &request(
            "INVITE",
            &format!("sip:bob@127.0.0.1:{hop};transport=tcp"),
            uac.port(),
            "rr-tcp",
            "",
        ),
    );
    let end = Instant::now() + WAIT;
    let mut stream = loop {
        if let Ok((st, _)) = sink.accept() {
            break st;
        }
        assert!(Instant::now() < end, "no TCP connection from siprd");
        std::thread::sleep(Duration::from_millis(10));
    };
    stream.set_nonblocking(false).unwrap();
    let got = tcp_read(&mut stream, WAIT).expect("INVITE over TCP");
    // Kamailio: the sending socket on top, both with r2=on.
    let l = lines(&got);
    assert_eq!(
        l[0],
        format!("Record-Route: <sip:127.0.0.1:{tcp};transport=tcp;r2=on;lr;ftag=from-rr-tcp>")
    );
    assert_eq!(
        l[1],
        format!("Record-Route: <sip:127.0.0.1:{udp};r2=on;lr;ftag=from-rr-tcp>")
    );
    assert!(l[2].starts_with(&format!("Via: SIP/2.0/TCP 127.0.0.1:{tcp};branch=")));
}

/// One message through `record_route` variants: the Record-Route lines the
/// next hop sees (`$rU` picks the variant).
fn rr_of(params: &str, user: &str) -> Vec<String> {
    let routes = r#"
request_route {
    $avp(u) = "cu";
    if ($rU == "params") { record_route(";foo=bar;x=1"); }
    else if ($rU == "preset") { record_route_preset("10.0.0.1:5080;p=1"); }
    else if ($rU == "preset2") { record_route_preset("10.0.0.1:5080", "10.0.0.2:5090"); }
    else if ($rU == "presetp") { add_rr_param(";zz=1"); record_route_preset("10.0.0.1:5080"); }
    else if ($rU == "adv") { record_route_advertised_address("1.2.3.4:5555"); }
    else if ($rU == "advp") { record_route_advertised_address("1.2.3.4"); add_rr_param(";zz=1"); }
    else if ($rU == "addp") { add_rr_param(";zz=1"); record_route(); }
    else if ($rU == "addp2") { record_route(); add_rr_param(";zz=1"); }
    else if ($rU == "both") { add_rr_param(";zz=1"); record_route(";a=1"); }
    else if ($rU == "removed") { record_route(); add_rr_param(";zz=1"); remove_record_route(); }
    else { record_route(); }
    forward();
}
"#;
    let s = Siprd::start(&cfg(params, routes));
    let uac = UdpClient::new();
    let hop = NextHop::new();
    uac.send(
        s.udp_addr(),
        &request(
            "INVITE",
            &format!("sip:{user}@127.0.0.1:{}", hop.port()),
            uac.port(),
            "rr-var",
            "",
        ),
    );
    let (got, _) = hop.recv_start("INVITE", WAIT).expect("forwarded");
    let port = s.udp_addr().port().to_string();
    let out: Vec<String> = rr_lines(&got)
        .iter()
        .map(|l| l.replace(&port, "PORT"))
        .collect();
    if !out.is_empty() {
        assert!(
            lines(&got)[0].starts_with("Record-Route:"),
            "Record-Route goes first: {got}"
        );
    }
    out
}

#[test]
fn record_route_variants_as_kamailio_writes_them() {
    let t = "ftag=from-rr-var";
    let cases: &[(&str, &str, &[&str])] = &[
        ("", "bob", &["<sip:127.0.0.1:PORT;lr;ftag=from-rr-var>"]),
        (
            "",
            "params",
            &["<sip:127.0.0.1:PORT;lr;ftag=from-rr-var;foo=bar;x=1>"],
        ),
        (
            "",
            "preset",
            &["<sip:10.0.0.1:5080;p=1;ftag=from-rr-var;lr>"],
        ),
        (
            "",
            "preset2",
            &[
                "<sip:10.0.0.1:5080;ftag=from-rr-var;lr>",
                "<sip:10.0.0.2:5090;ftag=from-rr-var;lr>",
            ],
        ),
        (
            "",
            "presetp",
            &["<sip:10.0.0.1:5080;ftag=from-rr-var;zz=1;lr>"],
        ),
        ("", "adv", &["<sip:1.2.3.4:5555;ftag=from-rr-var;lr>"]),
        ("", "advp", &["<sip:1.2.3.4;ftag=from-rr-var;lr;zz=1>"]),
        (
            "",
            "addp",
            &["<sip:127.0.0.1:PORT;lr;ftag=from-rr-var;zz=1>"],
        ),
        (
            "",
            "addp2",
            &["<sip:127.0.0.1:PORT;lr;ftag=from-rr-var;zz=1>"],
        ),
        (
            "",
            "both",
            &["<sip:127.0.0.1:PORT;lr;ftag=from-rr-var;a=1;zz=1>"],
        ),
        ("", "removed", &[]),
        (
            "modparam(\"rr\", \"enable_full_lr\", 1)",
            "params",
            &["<sip:127.0.0.1:PORT;lr=on;ftag=from-rr-var;foo=bar;x=1>"],
        ),
        (
            "modparam(\"rr\", \"enable_full_lr\", 1)",
            "preset",
            &["<sip:10.0.0.1:5080;p=1;ftag=from-rr-var;lr=on>"],
        ),
        (
            "modparam(\"rr\", \"add_username\", 1)",
            "params",
            &["<sip:params@127.0.0.1:PORT;lr;ftag=from-rr-var;foo=bar;x=1>"],
        ),
        (
            "modparam(\"rr\", \"add_username\", 1)",
            "adv",
            &["<sip:adv@1.2.3.4:5555;ftag=from-rr-var;lr>"],
        ),
        (
            "modparam(\"rr\", \"append_fromtag\", 0)",
            "addp",
            &["<sip:127.0.0.1:PORT;lr;zz=1>"],
        ),
        (
            "modparam(\"rr\", \"enable_double_rr\", 2)",
            "bob",
            &[
                "<sip:127.0.0.1:PORT;r2=on;lr;ftag=from-rr-var>",
                "<sip:127.0.0.1:PORT;r2=on;lr;ftag=from-rr-var>",
            ],
        ),
    ];
    // One server per parameter set.
    let mut by_params: Vec<&str> = cases.iter().map(|c| c.0).collect();
    by_params.dedup();
    for p in by_params {
        for (params, user, want) in cases.iter().filter(|c| c.0 == p) {
            let got = rr_of(params, user);
            let want: Vec<String> = want.iter().map(|w| format!("Record-Route: {w}")).collect();
            assert_eq!(got, want, "{params} {user} ({t})");
        }
    }
}

const LR: &str = r#"
request_route {
    $var(r) = loose_route();
    $var(d) = is_direction("downstream");
    $var(u) = is_direction("upstream");
    $var(c) = check_route_param("x=1");
    xlog("L_INFO", "LR $ci rc=$var(r) ru=$ru du=$du route_uri=$route_uri down=$var(d) up=$var(u) crp=$var(c)\n");
    if ($ci == "ours_next") {
        $var(a) = check_route_param("^lr");
        $var(b) = check_route_param("^;lr");
        $var(e) = check_route_param("x=1$");
        xlog("L_INFO", "CRP $var(a) $var(b) $var(e)\n");
    }
    $du = "sip:127.0.0.1:HOP";
    forward();
}
"#;

/// (name, R-URI, Route values, in dialog, From tag, expected log, Route
/// lines and request line the next hop sees) — all recorded from Kamailio
/// 5.6.3 listening on 127.0.0.1:PORT with alias example.com.
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    bool,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const CASES: &[Case] = &[
    ("noroute", "sip:bob@127.0.0.1:5099", &[], true, "ftag1",
     "rc=-1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri= down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0"]),
    ("ours_only", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr;ftag=ftag1>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=sip:127.0.0.1:PORT;lr;ftag=ftag1 down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0"]),
    ("ours_next", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr;ftag=ftag1;x=1>", "<sip:10.1.1.1:5070;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:127.0.0.1:PORT;lr;ftag=ftag1;x=1 down=1 up=-1 crp=1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("ours_comma", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr;ftag=other>, <sip:10.1.1.1:5070;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:127.0.0.1:PORT;lr;ftag=other down=-1 up=1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("foreign", "sip:bob@127.0.0.1:5099", &["<sip:10.1.1.1:5070;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:10.1.1.1:5070;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("alias", "sip:bob@127.0.0.1:5099", &["<sip:example.com;lr>", "<sip:10.1.1.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1;lr route_uri=sip:example.com;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1;lr>"]),
    ("noport", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:127.0.0.1;lr route_uri=sip:127.0.0.1;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:127.0.0.1;lr>"]),
    ("r2", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;r2=on;lr;ftag=ftag1>", "<sip:127.0.0.1:PORT;transport=tcp;r2=on;lr;ftag=ftag1>", "<sip:10.1.1.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1;lr route_uri=sip:127.0.0.1:PORT;r2=on;lr;ftag=ftag1 down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1;lr>"]),
    ("r2_one", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;r2=on;lr;ftag=ftag1>", "<sip:10.1.1.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=sip:127.0.0.1:PORT;r2=on;lr;ftag=ftag1 down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0"]),
    ("strict_ruri_ours", "sip:127.0.0.1:PORT;ftag=ftag1", &["<sip:10.1.1.1:5070>", "<sip:bob@127.0.0.1:5099>"], true, "ftag1",
     "rc=1 ru=sip:10.1.1.1:5070 du=<null> route_uri=sip:10.1.1.1:5070 down=1 up=-1 crp=-1",
     &["BYE sip:10.1.1.1:5070 SIP/2.0", "Route: <sip:bob@127.0.0.1:5099>"]),
    ("strict_ruri_ours_lr", "sip:127.0.0.1:PORT;lr;ftag=ftag1", &["<sip:10.1.1.1:5070;lr>", "<sip:bob@127.0.0.1:5099>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:10.1.1.1:5070;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("strict_ruri_ours_noroute", "sip:127.0.0.1:PORT", &[], true, "ftag1",
     "rc=-1 ru=sip:127.0.0.1:PORT du=<null> route_uri= down=1 up=-1 crp=-1",
     &["BYE sip:127.0.0.1:PORT SIP/2.0"]),
    ("next_strict", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr>", "<sip:10.1.1.1:5070>", "<sip:10.2.2.2>"], true, "ftag1",
     "rc=1 ru=sip:10.1.1.1:5070 du=<null> route_uri=sip:127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:10.1.1.1:5070 SIP/2.0", "Route: <sip:10.2.2.2>", "Route: <sip:bob@127.0.0.1:5099>"]),
    ("ours_nolr", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT>", "<sip:10.1.1.1:5070;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:127.0.0.1:PORT down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("preloaded_to_us", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr>"], false, "ftag1",
     "rc=-3 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=sip:127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0"]),
    ("preloaded", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr>", "<sip:10.1.1.1:5070;lr>"], false, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("initial_ruri_ours", "sip:127.0.0.1:PORT;lr", &["<sip:10.1.1.1;lr>", "<sip:bob@127.0.0.1:5099>"], false, "ftag1",
     "rc=1 ru=sip:127.0.0.1:PORT;lr du=sip:10.1.1.1;lr route_uri=sip:10.1.1.1;lr down=1 up=-1 crp=-1",
     &["BYE sip:127.0.0.1:PORT;lr SIP/2.0", "Route: <sip:10.1.1.1;lr>", "Route: <sip:bob@127.0.0.1:5099>"]),
    ("upstream", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr;ftag=ftag1>"], true, "bobtag",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=sip:127.0.0.1:PORT;lr;ftag=ftag1 down=-1 up=1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0"]),
    ("user_ours", "sip:bob@127.0.0.1:5099", &["<sip:someone@127.0.0.1:PORT;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=sip:someone@127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0"]),
    ("bad", "sip:bob@127.0.0.1:5099", &["<junk>"], true, "ftag1",
     "rc=-1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=junk down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <junk>"]),
    ("bad2", "sip:bob@127.0.0.1:5099", &["sip:127.0.0.1:PORT;lr"], true, "ftag1",
     "rc=-1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri= down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: sip:127.0.0.1:PORT;lr"]),
    ("bad3", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr"], true, "ftag1",
     "rc=-1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri= down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:127.0.0.1:PORT;lr"]),
    ("name", "sip:bob@127.0.0.1:5099", &["\"P\" <sip:127.0.0.1:PORT;lr>;hp=1", "<sip:10.1.1.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1;lr route_uri=sip:127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1;lr>"]),
    ("ruri_lr_only", "sip:127.0.0.1:PORT;lr", &["<sip:10.1.1.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:10.1.1.1;lr du=sip:10.1.1.1;lr route_uri=sip:10.1.1.1;lr down=1 up=-1 crp=-1",
     &["BYE sip:10.1.1.1;lr SIP/2.0"]),
    // found by tests/kamailio-diff/rr_sweep.py: after a strict router the
    // first Route's `lr` decides (not the R-URI's); a bad Route line only
    // counts once routing reaches it, and what was done before stays
    ("strict_ruri_nolr_loose_next", "sip:127.0.0.1:PORT", &["<sip:10.1.1.1:5070;lr>", "<sip:bob@127.0.0.1:5099>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1:5070;lr route_uri=sip:10.1.1.1:5070;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1:5070;lr>"]),
    ("bad_line_unread", "sip:bob@127.0.0.1:5099", &["<sip:10.1.1.1;lr>", "sip:bad"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1;lr route_uri=sip:10.1.1.1;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1;lr>", "Route: sip:bad"]),
    ("bad_line_after_ours", "sip:bob@127.0.0.1:5099", &["<sip:127.0.0.1:PORT;lr>", "sip:bad"], true, "ftag1",
     "rc=-1 ru=sip:bob@127.0.0.1:5099 du=<null> route_uri=sip:127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: sip:bad"]),
    ("sips", "sip:bob@127.0.0.1:5099", &["<sips:127.0.0.1:PORT;lr>", "<sip:10.1.1.1;lr>"], true, "ftag1",
     "rc=1 ru=sip:bob@127.0.0.1:5099 du=sip:10.1.1.1;lr route_uri=sips:127.0.0.1:PORT;lr down=1 up=-1 crp=-1",
     &["BYE sip:bob@127.0.0.1:5099 SIP/2.0", "Route: <sip:10.1.1.1;lr>"]),
];

#[test]
fn loose_route_as_observed_on_kamailio() {
    let hop = NextHop::new();
    let routes = LR.replace("HOP", &hop.port().to_string());
    let s = Siprd::start(&cfg(
        "alias=\"example.com\"\nloadmodule \"siputils.so\"",
        &routes,
    ));
    let port = s.udp_addr().port().to_string();
    let uac = UdpClient::new();
    for (name, ruri, routes, in_dialog, ftag, log, want) in CASES {
        let p = |t: &str| t.replace("PORT", &port);
        let to_tag = if *in_dialog { ";tag=tt" } else { "" };
        let route: String = routes
            .iter()
            .map(|r| format!("Route: {}\r\n", p(r)))
            .collect();
        let bye = format!(
            "BYE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{c};branch=z9hG4bK{name}\r\n{route}\
             From: <sip:alice@127.0.0.1>;tag={ftag}\r\nTo: <sip:bob@127.0.0.1>{to_tag}\r\n\
             Call-ID: {name}\r\nCSeq: 2 BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            ruri = p(ruri),
            c = uac.port()
        );
        uac.send(s.udp_addr(), &bye);
        let (got, _) = hop
            .recv_start("BYE", WAIT)
            .unwrap_or_else(|| panic!("{name}: nothing forwarded"));
        let seen: Vec<&str> = got
            .split("\r\n")
            .filter(|l| l.starts_with("BYE") || l.starts_with("Route"))
            .collect();
        let want: Vec<String> = want.iter().map(|w| p(w)).collect();
        assert_eq!(seen, want, "{name}:\n{got}");
        let line = format!("LR {name} {}", p(log));
        assert!(
            s.wait_log(&line, WAIT),
            "{name}: want `{line}` in\n{}",
            s.log()
        );
    }
    // The regex sees the parameters from their first `;`.
    assert!(s.wait_log("CRP -1 1 1", WAIT), "{}", s.log());
}

#[test]
fn loose_route_preloaded_is_true_only_for_a_route_set_of_us_alone() {
    let hop = NextHop::new();
    let routes = r#"
request_route {
    $var(p) = loose_route_preloaded();
    xlog("L_INFO", "PRE $ci $var(p) du=$du\n");
    $du = "sip:127.0.0.1:HOP";
    forward();
}
"#
    .replace("HOP", &hop.port().to_string());
    let s = Siprd::start(&cfg("", &routes));
    let port = s.udp_addr().port();
    let uac = UdpClient::new();
    let ours = format!("Route: <sip:127.0.0.1:{port};lr>\r\n");
    let cases = [
        ("p1", ours.clone(), "1 du=<null>"),
        (
            "p2",
            "Route: <sip:10.1.1.1;lr>\r\n".to_string(),
            "-1 du=sip:10.1.1.1;lr",
        ),
        (
            "p3",
            format!("{ours}Route: <sip:10.1.1.1;lr>\r\n"),
            "-1 du=sip:10.1.1.1;lr",
        ),
        ("p5", String::new(), "-1 du=<null>"),
    ];
    for (id, route, want) in cases {
        uac.send(
            s.udp_addr(),
            &request("INVITE", "sip:bob@127.0.0.1:5099", uac.port(), id, &route),
        );
        let (got, _) = hop.recv_start("INVITE", WAIT).expect("forwarded");
        assert!(
            !got.contains(&format!(":{port};lr>")),
            "our Route removed: {got}"
        );
        assert!(
            s.wait_log(&format!("PRE {id} {want}"), WAIT),
            "{id}\n{}",
            s.log()
        );
    }
}

#[test]
fn is_direction_takes_only_the_two_words() {
    let (code, out) = check_config(&cfg(
        "",
        "request_route { if (is_direction(\"sideways\")) { drop; } }",
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("downstream"), "{out}");
    let (code, out) = check_config(&cfg(
        "",
        "request_route { if (check_route_param(\"(\")) { drop; } }",
    ));
    assert_ne!(code, 0, "{out}");
}
