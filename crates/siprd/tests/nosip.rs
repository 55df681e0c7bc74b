//! nosip end to end: non-SIP packets on the SIP listener run
//! event_route[nosip:msg] (behaviour observed on Kamailio 5.6).

mod common;

use common::*;
use std::time::Duration;

const CFG: &str = r#"
children=2
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "nosip.so"
request_route {
    sl_send_reply("200", "n=$(nosip{s.len}) m=$ml");
}
event_route[nosip:msg] {
    xlog("L_ERR", "NOSIP [$mb] from $si:$sp proto=$pr nosip=[$nosip]\n");
}
event_route[core:receive-parse-error] {
    xlog("L_ERR", "PARSE-ERROR [$mb]\n");
}
"#;

#[test]
fn junk_runs_the_route_with_the_packet_and_sip_is_still_served() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    let junk = "this is junk data that is longer than 32 bytes";
    c.send(s.udp_addr(), junk);
    let want = format!(
        "NOSIP [{junk}] from 127.0.0.1:{} proto=udp nosip=[{junk}]",
        c.port()
    );
    assert!(s.wait_log(&want, WAIT), "{}", s.log());
    c.expect_silence(Duration::from_millis(100));
    // handled by nosip: no parse-error event
    assert_eq!(s.count_log("PARSE-ERROR"), 0, "{}", s.log());
    // a SIP first line without headers goes to nosip too (as Kamailio)
    let bare = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n\r\n0123456789";
    c.send(s.udp_addr(), bare);
    assert!(
        s.wait_log("NOSIP [OPTIONS sip:a@127.0.0.1 SIP/2.0", WAIT),
        "{}",
        s.log()
    );
    // binary junk
    c.send_bytes(s.udp_addr(), &[0xffu8; 40]);
    assert!(
        s.wait_log(
            &format!("from 127.0.0.1:{} proto=udp nosip=[\u{fffd}", c.port()),
            WAIT
        ) || s.count_log("NOSIP [") >= 3,
        "{}",
        s.log()
    );
    // SIP is still served
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "nosip-1", ""),
    );
    assert!(r.starts_with("SIP/2.0 200 n="), "{r}");
}

#[test]
fn short_packets_and_http_lines_are_ignored() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    c.send(s.udp_addr(), "short junk under 32 bytes");
    c.send(s.udp_addr(), "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    c.send(
        s.udp_addr(),
        "HTTP/1.1 200 OK\r\nServer: example.com\r\n\r\n",
    );
    c.send(s.udp_addr(), "marker junk packet that is long enough");
    assert!(s.wait_log("NOSIP [marker junk", WAIT), "{}", s.log());
    // a bare HTTP request line (no headers) fails the parser: nosip (as Kamailio)
    c.send(
        s.udp_addr(),
        "GET / HTTP/1.1\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    );
    assert!(s.wait_log("NOSIP [GET / HTTP/1.1", WAIT), "{}", s.log());
    assert_eq!(s.count_log("NOSIP ["), 2, "{}", s.log());
    assert_eq!(s.count_log("Host: example.com"), 0, "{}", s.log());
}

/// Kamailio 5.6 over TCP: junk that frames (it has a Content-Length) runs
/// nosip whatever its size (no 32-byte threshold on streams) and the
/// connection stays open for what follows; junk that cannot be framed (no
/// Content-Length with tcp_accept_no_cl=no, a bad one) closes the
/// connection with no event at all. Two Content-Length headers: the first
/// frames the data.
#[test]
fn tcp_junk_reaches_nosip() {
    let s = Siprd::start(CFG);
    let mut t = TcpClient::connect(s.tcp_addr());
    t.send(b"ab\r\nl: 0\r\n\r\n");
    assert!(s.wait_log("NOSIP [ab", WAIT), "{}", s.log());
    t.send(b"more tcp junk\r\nContent-Length: 3\r\nContent-Length: 0\r\n\r\nxyz");
    assert!(s.wait_log("xyz] from 127.0.0.1", WAIT), "{}", s.log());
    let ok = request("OPTIONS", "sip:x@127.0.0.1", 5060, "tcpn", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    t.send(ok.as_bytes());
    let r = t.recv(WAIT).expect("the connection stays open after nosip");
    // Kamailio 5.6: $nosip is $mb outside the nosip route too
    let n = ok.len();
    assert_eq!(first_line(&r), format!("SIP/2.0 200 n={n} m={n}"));
    for unframed in [
        &b"this is tcp junk that is not SIP at all\r\n\r\n"[..],
        b"this is tcp junk with a bad length\r\nContent-Length: x\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\n\r\n",
    ] {
        let mut t = TcpClient::connect(s.tcp_addr());
        t.send(unframed);
        assert!(t.closed_within(WAIT));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(s.count_log("NOSIP ["), 2, "{}", s.log());
    assert_eq!(s.count_log("PARSE-ERROR"), 0, "{}", s.log());
}

/// Kamailio 5.6 runs nosip on the received data, not on a faked request:
/// `$rm`, `$ru`, `$rs`, `$rb` and every header are null and `$mt` is 0 for
/// junk; a SIP request line without headers gives its method and R-URI.
#[test]
fn the_route_sees_the_packet_as_the_message() {
    let cfg = CFG.replace(
        r#"xlog("L_ERR", "NOSIP [$mb] from $si:$sp proto=$pr nosip=[$nosip]\n");"#,
        r#"xlog("L_ERR", "NOSIP rm=[$rm] ru=[$ru] rU=[$rU] rv=[$rv] rs=[$rs] rr=[$rr] ci=[$ci] via=[$hdr(Via)] hdrc=[$hdrc(Via)] mt=[$mt] rb=[$rb] bs=[$bs] ml=[$ml]\n");"#,
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        "hello this is a non sip packet of some length",
    );
    assert!(
        s.wait_log(
            "NOSIP rm=[<null>] ru=[<null>] rU=[<null>] rv=[hello] rs=[<null>] rr=[<null>] ci=[<null>] via=[<null>] hdrc=[0] mt=[0] rb=[<null>] bs=[0] ml=[45]",
            WAIT
        ),
        "{}",
        s.log()
    );
    c.send(
        s.udp_addr(),
        "garbage\r\nVia: SIP/2.0/UDP 1.2.3.4\r\nCall-ID: abc\r\n\r\n",
    );
    assert!(
        s.wait_log("NOSIP rm=[<null>] ru=[<null>] rU=[<null>] rv=[] rs=[<null>] rr=[<null>] ci=[<null>] via=[<null>] hdrc=[0] mt=[0]", WAIT),
        "{}",
        s.log()
    );
    // data after the empty line of a bare start line is no body: $bs 0
    c.send(
        s.udp_addr(),
        "OPTIONS sip:a@b SIP/3.0\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxx",
    );
    assert!(
        s.wait_log("NOSIP rm=[OPTIONS] ru=[sip:a@b] rU=[a] rv=[SIP/3.0] rs=[<null>] rr=[<null>] ci=[<null>] via=[<null>] hdrc=[0] mt=[1] rb=[<null>] bs=[0]", WAIT),
        "{}",
        s.log()
    );
    c.send(s.udp_addr(), "INVITE sip:alice@example.com SIP/2.0\r\n\r\n");
    assert!(
        s.wait_log("NOSIP rm=[INVITE] ru=[sip:alice@example.com] rU=[alice] rv=[SIP/2.0] rs=[<null>] rr=[<null>] ci=[<null>] via=[<null>] hdrc=[0] mt=[1] rb=[<null>] bs=[0] ml=[40]", WAIT),
        "{}",
        s.log()
    );
}

#[test]
fn msg_match_and_msg_skip_filter() {
    let cfg = CFG.replace(
        "loadmodule \"nosip.so\"",
        "loadmodule \"nosip.so\"\nmodparam(\"nosip\", \"msg_match\", \"^KREQ\")\nmodparam(\"nosip\", \"msg_skip\", \"SKIP\")",
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    // Kamailio 5.6.3 matches msg_match from the first line's second token
    // (its request-URI) on, msg_skip against the whole packet
    c.send(s.udp_addr(), "other data that does not match the regex");
    c.send(s.udp_addr(), "x KREQ but SKIP me because of the skip regex");
    c.send(s.udp_addr(), "x KREQ but skip (lower case) is not skipped");
    c.send(s.udp_addr(), "KREQ at the start is not the request-URI");
    assert!(
        s.wait_log("NOSIP [x KREQ but skip (lower case)", WAIT),
        "{}",
        s.log()
    );
    // not handled by nosip: the core's parse-error event sees them
    assert!(s.wait_log("PARSE-ERROR [other data", WAIT), "{}", s.log());
    assert!(
        s.wait_log("PARSE-ERROR [x KREQ but SKIP", WAIT),
        "{}",
        s.log()
    );
    assert!(
        s.wait_log("PARSE-ERROR [KREQ at the start", WAIT),
        "{}",
        s.log()
    );
    assert_eq!(s.count_log("NOSIP ["), 1, "{}", s.log());
}

#[test]
fn min_length_is_configurable() {
    let cfg = CFG.replace(
        "loadmodule \"nosip.so\"",
        "loadmodule \"nosip.so\"\nmodparam(\"nosip\", \"min_length\", 64)",
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(s.udp_addr(), "junk of more than 32 but under 64 bytes....");
    c.send(s.udp_addr(), &format!("LONG {}", "x".repeat(70)));
    assert!(s.wait_log("NOSIP [LONG", WAIT), "{}", s.log());
    assert_eq!(s.count_log("NOSIP ["), 1, "{}", s.log());
}

#[test]
fn missing_route_is_an_error() {
    let cfg = r#"
listen=udp:127.0.0.1:0
loadmodule "nosip.so"
request_route { exit; }
"#;
    let dir = std::env::temp_dir().join(format!("siprd-nosip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.cfg");
    std::fs::write(&path, cfg).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siprd"))
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("event_route[nosip:msg]"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seed_example_checks_and_resumes_a_transaction() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../etc/examples/seed004-nosip.cfg"
    );
    let (code, out) = check_file(std::path::Path::new(path));
    assert_eq!(code, 0, "{out}");
    // run it on a free port: suspend a request, resume it with a non-SIP packet
    let text = std::fs::read_to_string(path).unwrap();
    let cfg = text.replace("listen=udp:127.0.0.1:5060", "listen=udp:127.0.0.1:0");
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bob@127.0.0.1", c.port(), "seed4", ""),
    );
    assert!(s.wait_log("suspended MESSAGE seed4", WAIT), "{}", s.log());
    c.expect_silence(Duration::from_millis(100));
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("suspended MESSAGE seed4"))
        .unwrap();
    let cmd = line
        .split("resume with ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    assert!(cmd.starts_with(":KREQUEST-RESUME-TRANSACTION:"), "{cmd}");
    let ctl = UdpClient::new();
    ctl.send(s.udp_addr(), &cmd);
    let reply = c
        .recv(WAIT)
        .unwrap_or_else(|| panic!("no reply; log:\n{}", s.log()));
    assert_eq!(first_line(&reply), "SIP/2.0 200 Resumed");
    assert!(s.wait_log("resumed MESSAGE seed4", WAIT), "{}", s.log());
}

/// Kamailio 5.6 refuses blanks inside these PV names and any name given to
/// `$nosip` (the config does not start).
#[test]
fn seed_pv_names_are_exact() {
    let cfg = |pv: &str| {
        format!(
            r#"
async_workers=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "tm.so"
loadmodule "evrexec.so"
loadmodule "evapi.so"
loadmodule "async.so"
loadmodule "nosip.so"
event_route[nosip:msg] {{ exit; }}
request_route {{ xlog("L_INFO", "X {pv}\n"); }}
"#
        )
    };
    for bad in [
        "$async( data )",
        "$rcv( len )",
        "$nosip()",
        "$nosip(x)",
        "$evapi( msg )",
        "$evr( data )",
    ] {
        let (code, out) = check_config(&cfg(bad));
        assert_ne!(code, 0, "{bad} accepted: {out}");
    }
    for good in [
        "$async(data)",
        "$rcv(len)",
        "$nosip",
        "$evapi(msg)",
        "$evr(data)",
    ] {
        let (code, out) = check_config(&cfg(good));
        assert_eq!(code, 0, "{good} refused: {out}");
    }
}
