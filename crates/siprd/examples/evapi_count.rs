//! A counting evapi client fast enough not to be the bottleneck: the bench
//! harness's Python client (`evapi_client.py --mode count`) tops out near
//! 250k events/s on the 2-core VM, below what the `evapi_burst` scenario
//! offers. Same options and output as the Python client's count mode:
//!
//!   cargo build --release -p siprd --example evapi_count
//!   target/release/examples/evapi_count --connect 127.0.0.1:8512 --bind 127.0.0.1:8562
//!
//! Reads netstrings (`LEN:DATA,`), checks each payload is JSON, counts events
//! and distinct `"ci"` values. Prints `READY` once connected, then one JSON
//! line of figures when done: no event for `--idle` seconds (after the first
//! one, or after `--start-timeout` with none), or `--max-seconds` reached.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

struct Opts {
    connect: SocketAddr,
    bind: SocketAddr,
    idle: f64,
    start_timeout: f64,
    max_seconds: f64,
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        connect: "127.0.0.1:8448".parse().map_err(|e| format!("{e}"))?,
        bind: "127.0.0.1:0".parse().map_err(|e| format!("{e}"))?,
        idle: 2.0,
        start_timeout: 30.0,
        max_seconds: 60.0,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let v = args.next().ok_or(format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {v}: {e}");
        match flag.as_str() {
            "--connect" => o.connect = v.parse().map_err(|e| bad(&e))?,
            "--bind" => o.bind = v.parse().map_err(|e| bad(&e))?,
            "--idle" => o.idle = v.parse().map_err(|e| bad(&e))?,
            "--start-timeout" => o.start_timeout = v.parse().map_err(|e| bad(&e))?,
            "--max-seconds" => o.max_seconds = v.parse().map_err(|e| bad(&e))?,
            "--mode" if v == "count" => {}
            _ => return Err(format!("unknown option {flag} {v}")),
        }
    }
    if !o.connect.ip().is_loopback() {
        return Err("loopback targets only".into());
    }
    Ok(o)
}

fn connect(o: &Opts) -> std::io::Result<TcpStream> {
    let s = Socket::new(
        Domain::for_address(o.connect),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    s.set_reuse_address(true)?;
    s.set_recv_buffer_size(4 << 20)?;
    s.bind(&SockAddr::from(o.bind))?;
    s.connect_timeout(&SockAddr::from(o.connect), Duration::from_secs(5))?;
    s.set_tcp_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))?;
    Ok(s.into())
}

/// Counts of what was read.
#[derive(Default)]
struct Tally {
    events: u64,
    bad: u64,
    cis: HashSet<u64>,
}

impl Tally {
    /// Consumes the complete netstrings at the start of `buf`; returns how
    /// many bytes were used (a partial frame stays for the next read).
    fn frames(&mut self, buf: &[u8], hasher: &RandomState) -> usize {
        let mut pos = 0;
        while let Some(colon) = buf[pos..].iter().position(|&b| b == b':') {
            let colon = pos + colon;
            let Some(n) = std::str::from_utf8(&buf[pos..colon])
                .ok()
                .and_then(|t| t.parse::<usize>().ok())
            else {
                // Resynchronise after the next comma.
                self.bad += 1;
                match buf[colon..].iter().position(|&b| b == b',') {
                    Some(c) => pos = colon + c + 1,
                    None => return buf.len(),
                }
                continue;
            };
            let end = colon + 1 + n;
            if end >= buf.len() {
                break;
            }
            let payload = &buf[colon + 1..end];
            if buf[end] != b',' {
                self.bad += 1;
            }
            pos = end + 1;
            self.events += 1;
            if serde_json::from_slice::<serde_json::Value>(payload).is_err() {
                self.bad += 1;
                continue;
            }
            if let Some(ci) = ci_of(payload) {
                self.cis.insert(hasher.hash_one(ci));
            }
        }
        pos
    }
}

/// The `"ci"` string of a flat JSON event, without a full parse.
fn ci_of(payload: &[u8]) -> Option<&[u8]> {
    let key = b"\"ci\":\"";
    let at = payload.windows(key.len()).position(|w| w == key)? + key.len();
    let len = payload[at..].iter().position(|&b| b == b'"')?;
    Some(&payload[at..at + len])
}

fn main() {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("evapi_count: {e}");
            std::process::exit(2);
        }
    };
    let mut s = match connect(&o) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("evapi_count: connect {}: {e}", o.connect);
            std::process::exit(1);
        }
    };
    println!("READY");
    let hasher = RandomState::new();
    let mut tally = Tally::default();
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 21);
    let mut chunk = vec![0u8; 1 << 20];
    let (mut bytes, mut closed) = (0u64, false);
    let (mut first, mut last): (Option<Instant>, Option<Instant>) = (None, None);
    let t0 = Instant::now();
    loop {
        let now = Instant::now();
        let since = |t: Instant| now.duration_since(t).as_secs_f64();
        if since(t0) > o.max_seconds
            || (last.is_none() && since(t0) > o.start_timeout)
            || last.is_some_and(|l| since(l) > o.idle)
        {
            break;
        }
        let n = match s.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("evapi_count: read: {e}");
                closed = true;
                break;
            }
        };
        bytes += n as u64;
        buf.extend_from_slice(&chunk[..n]);
        let before = tally.events;
        let used = tally.frames(&buf, &hasher);
        buf.drain(..used);
        if tally.events > before {
            let now = Instant::now();
            first.get_or_insert(now);
            last = Some(now);
        }
    }
    let span = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if span > 0.0 {
        serde_json::json!((tally.events as f64 / span * 10.0).round() / 10.0)
    } else {
        serde_json::Value::Null
    };
    println!(
        "{}",
        serde_json::json!({
            "events": tally.events, "bad_frames": tally.bad, "distinct_ci": tally.cis.len(),
            "replies": 0, "bytes": bytes, "closed_by_server": closed,
            "event_span_s": (span * 1000.0).round() / 1000.0,
            "events_per_s": rate, "leftover_bytes": buf.len(),
        })
    );
}
