//! Memory a suspended transaction holds: INVITEs (SIPp-sized, with SDP) parked
//! by `async_sleep(5)`, measured as live heap bytes (the allocator counts them
//! when SIPRD_COUNT_ALLOCS is set; `core.shmmem` reports them as `used`).
//! Deterministic: bytes are counted, not timed.

mod common;

use common::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

const SDP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn rpc(port: u16, method: &str) -> serde_json::Value {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let req = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":1}}"#);
    s.send_to(req.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).expect("rpc reply");
    serde_json::from_slice(&buf[..n]).expect("json")
}

fn invite(port: u16, i: usize) -> String {
    format!(
        "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-mem-{i}\r\n\
         From: sipp <sip:sipp@127.0.0.1:{port}>;tag={i}SIPpTag00{i}\r\n\
         To: service <sip:service@127.0.0.1:5060>\r\n\
         Call-ID: {i}-12345@127.0.0.1\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: sip:sipp@127.0.0.1:{port}\r\n\
         Max-Forwards: 70\r\n\
         Subject: Performance Test\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{SDP}",
        SDP.len()
    )
}

/// Live heap bytes per suspended transaction with `n` of them parked.
pub fn bytes_per_suspended(n: usize) -> f64 {
    let rpc_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cfg = format!(
        r#"
children=2
listen=udp:127.0.0.1:0
async_workers=1
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "async.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")
request_route {{
    if ($rU == "warm") {{ t_newtran(); t_reply("404", "Warm"); exit; }}
    async_sleep(5);
    t_reply("404", "Slept");
}}
"#
    );
    let s = Siprd::start_env(&cfg, &[], &[], &[("SIPRD_COUNT_ALLOCS", "1")]);
    let c = UdpClient::new();
    // Warm the workers' contexts and buffers.
    for i in 0..50 {
        let r = request(
            "MESSAGE",
            "sip:warm@127.0.0.1",
            c.port(),
            &format!("w{i}"),
            "",
        );
        c.request(s.udp_addr(), &r);
    }
    let used = |s: &Siprd| {
        let _ = s;
        rpc(rpc_port, "core.shmmem")["result"]["used"]
            .as_u64()
            .expect("used")
    };
    let before = used(&s);
    let mut sent = 0;
    while sent < n {
        for i in sent..(sent + 100).min(n) {
            c.send(s.udp_addr(), &invite(c.port(), i));
        }
        sent = (sent + 100).min(n);
        std::thread::sleep(Duration::from_millis(5));
        c.drain();
    }
    // Every INVITE suspended (tm.stats counts the warm-up ones until wt_timer).
    let end = Instant::now() + WAIT;
    loop {
        let cur = rpc(rpc_port, "tm.stats")["result"]["created"]
            .as_u64()
            .unwrap_or(0);
        if cur >= (n + 50) as u64 || Instant::now() > end {
            assert!(cur >= (n + 50) as u64, "only {cur} transactions created");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    c.drain();
    let after = used(&s);
    (after as f64 - before as f64) / n as f64
}

/// The issue's target is 2 KiB of process growth per suspended transaction;
/// allocator overhead adds about 30 % to live bytes (bench/README.md), so
/// live bytes must stay under 1.5 KiB.
#[test]
fn a_suspended_transaction_holds_under_1_5_kib_live() {
    let per = bytes_per_suspended(2000);
    eprintln!("{per:.0} bytes per suspended transaction");
    assert!(
        per > 0.0 && per <= 1536.0,
        "{per:.0} bytes per suspended transaction"
    );
}

#[test]
#[ignore = "measurement at the issue's scale: cargo test --test tm_memory -- --ignored --nocapture"]
fn ten_thousand_suspended() {
    let per = bytes_per_suspended(10_000);
    eprintln!("{per:.0} bytes per suspended transaction (10,000)");
}
