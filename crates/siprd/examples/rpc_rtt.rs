//! JSON-RPC round trip over UDP: sends requests one at a time to jsonrpcs'
//! datagram socket and prints the latency percentiles.
//!
//! `cargo run --release -p siprd --example rpc_rtt -- 127.0.0.1:8033 [COUNT] [METHOD]`

use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(addr) = args.get(1) else {
        eprintln!("usage: rpc_rtt HOST:PORT [COUNT] [METHOD]");
        std::process::exit(2);
    };
    let count: usize = args.get(2).and_then(|c| c.parse().ok()).unwrap_or(10_000);
    let method = args.get(3).map_or("core.version", String::as_str);
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.connect(addr).expect("connect");
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut buf = vec![0u8; 65536];
    let mut rtts = Vec::with_capacity(count);
    let mut lost = 0;
    for i in 0..count + 100 {
        let req = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":{i}}}"#);
        let t = Instant::now();
        sock.send(req.as_bytes()).expect("send");
        match sock.recv(&mut buf) {
            Ok(_) if i >= 100 => rtts.push(t.elapsed()),
            Ok(_) => {} // warm-up
            Err(_) => lost += 1,
        }
    }
    rtts.sort();
    let pct = |p: usize| rtts.get(rtts.len() * p / 100).copied().unwrap_or_default();
    println!(
        "{method}: {} round trips, lost {lost}: p50 {:?} p90 {:?} p99 {:?}",
        rtts.len(),
        pct(50),
        pct(90),
        pct(99)
    );
}
