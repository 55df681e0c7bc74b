//! Differential test against recorded Kamailio 5.6 behaviour.
//!
//! `tests/kamailio-diff/cases.cfg` holds route blocks that compute values and
//! answer with `sl_send_reply()`; `generate.py` ran them on real Kamailio and
//! recorded each reply's status line in `expected.txt`. Here siprd runs the
//! same config and must answer every case with the same status line.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/kamailio-diff")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

fn cases() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in read("cases.cfg").lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            out.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = out.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// The same config generate.py builds.
fn config(cases: &[(String, String)]) -> String {
    let mut cfg = read("header.cfg").replace("@LISTEN@", "udp:127.0.0.1:0");
    cfg.push_str("request_route {\n    switch($rU) {\n");
    for (name, _) in cases {
        cfg.push_str(&format!("        case \"{name}\": route({name}); break;\n"));
    }
    cfg.push_str("        default: sl_send_reply(\"500\", \"no such case\");\n    }\n}\n\n");
    for (name, body) in cases {
        cfg.push_str(&format!("route[{name}] {{\n{body}}}\n\n"));
    }
    cfg
}

/// The same request generate.py sends.
fn case_request(name: &str, cport: u16, sport: u16) -> String {
    let body = "hello world";
    format!(
        "OPTIONS sip:{name}@127.0.0.1:{sport};transport=udp SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-{name};rport\r\n\
         From: \"Alice Smith\" <sip:alice@example.com;x=1>;tag=ftag123\r\n\
         To: <sip:bob@example.org:5070>\r\n\
         Call-ID: cid-{name}@host\r\n\
         CSeq: 42 OPTIONS\r\n\
         Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires=60\r\n\
         User-Agent: diff-test/1.0\r\n\
         X-Multi: one\r\n\
         X-Multi: two, three\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn every_case_answers_like_kamailio() {
    let cases = cases();
    let expected: Vec<(String, String)> = read("expected.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    assert_eq!(
        expected.len(),
        cases.len(),
        "expected.txt is stale: run generate.py"
    );
    let s = Siprd::start(&config(&cases));
    let c = UdpClient::new();
    let sport = s.udp_addr().port();
    let mut failures = Vec::new();
    for (name, want) in &expected {
        c.send(s.udp_addr(), &case_request(name, c.port(), sport));
        let got = match c.recv(Duration::from_secs(2)) {
            Some(r) => first_line(&r)
                .replace(&c.port().to_string(), "{cport}")
                .replace(&sport.to_string(), "{sport}"),
            None => "NO REPLY".to_string(),
        };
        if &got != want {
            failures.push(format!("{name}:\n   kamailio: {want}\n   siprd:    {got}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}\n--- log ---\n{}",
        failures.len(),
        expected.len(),
        failures.join("\n"),
        s.log()
    );
}
