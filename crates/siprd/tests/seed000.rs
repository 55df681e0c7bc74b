//! Seed 000 end to end: `event_route[htable:mod-init]` initialises the limits,
//! `request_route` counts calls to 10.10.10.10 under a cfgutils lock. The
//! example file runs as shipped (only the listen port is swapped for port 0).

mod common;

use common::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

fn example() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../etc/examples/seed000-htable-mod-init.cfg");
    std::fs::read_to_string(path)
        .expect("read the example")
        .replace("listen=udp:127.0.0.1:5060", "listen=udp:127.0.0.1:0")
}

fn invite(port: u16, id: &str) -> String {
    request("INVITE", "sip:someone@10.10.10.10", port, id, "")
}

#[test]
fn the_101st_call_is_refused() {
    let s = Siprd::start(&example());
    let c = UdpClient::new();
    for i in 0..100 {
        let r = c.request(s.udp_addr(), &invite(c.port(), &format!("call-{i}")));
        assert_eq!(
            first_line(&r),
            "SIP/2.0 480 Accepted, but nobody is here",
            "call {i}"
        );
    }
    let r = c.request(s.udp_addr(), &invite(c.port(), "call-100"));
    assert_eq!(first_line(&r), "SIP/2.0 500 To many calls to .10");
    // Other destinations are not limited.
    let r = c.request(
        s.udp_addr(),
        &request("INVITE", "sip:someone@10.0.0.1", c.port(), "other", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 404 Not Found");
}

#[test]
fn the_counter_is_exact_under_concurrent_load() {
    let s = Arc::new(Siprd::start(&example()));
    let accepted = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (s, accepted, refused) = (s.clone(), accepted.clone(), refused.clone());
            std::thread::spawn(move || {
                let c = UdpClient::new();
                for i in 0..60 {
                    let r = c.request(s.udp_addr(), &invite(c.port(), &format!("t{t}-{i}")));
                    match first_line(&r) {
                        "SIP/2.0 480 Accepted, but nobody is here" => {
                            accepted.fetch_add(1, Ordering::Relaxed)
                        }
                        "SIP/2.0 500 To many calls to .10" => {
                            refused.fetch_add(1, Ordering::Relaxed)
                        }
                        other => panic!("unexpected reply {other}"),
                    };
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    assert_eq!(accepted.load(Ordering::Relaxed), 100);
    assert_eq!(refused.load(Ordering::Relaxed), 20);
}

#[test]
fn every_example_config_is_valid() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../etc/examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("cfg") {
            continue;
        }
        let (code, out) = check_file(&path);
        assert_eq!(code, 0, "{}:\n{out}", path.display());
        checked += 1;
    }
    assert!(checked >= 1);
}

/// Seed 002's examples (etc/examples/seed002-async.cfg), with the 4 s waits
/// shortened to 1 s: an immediate 100, then the final reply after the sleep.
#[test]
fn seed002_async_examples_reply_after_the_sleep() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../etc/examples/seed002-async.cfg");
    let cfg = std::fs::read_to_string(path)
        .expect("read the example")
        .replace("listen=udp:127.0.0.1:5060", "listen=udp:127.0.0.1:0")
        .replace("\"4\"", "\"1\"");
    let s = Siprd::start(&cfg);
    for user in ["route", "sleep"] {
        // One client per call: the unacknowledged 404 is retransmitted (UDP).
        let c = UdpClient::new();
        let started = std::time::Instant::now();
        c.send(
            s.udp_addr(),
            &request(
                "INVITE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &format!("s2-{user}"),
                "",
            ),
        );
        let trying = c.recv(WAIT).expect("100 trying");
        assert_eq!(
            first_line(&trying),
            "SIP/2.0 100 trying -- your call is important to us"
        );
        let fin = c
            .recv(std::time::Duration::from_secs(4))
            .expect("final reply");
        assert_eq!(first_line(&fin), "SIP/2.0 404 Not found", "{user}");
        let waited = started.elapsed();
        assert!(
            waited >= std::time::Duration::from_millis(950),
            "{user}: resumed early after {waited:?}"
        );
        assert!(
            waited < std::time::Duration::from_millis(1800),
            "{user}: resumed late after {waited:?}"
        );
    }
}
