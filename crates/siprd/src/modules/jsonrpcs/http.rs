//! The HTTP transport: a small HTTP/1.1 server (one thread per connection,
//! bounded) that answers `POST` requests carrying a JSON-RPC document. The
//! status line mirrors an error reply (`500 Method Not Found`), as Kamailio's
//! xhttp + `jsonrpc_dispatch()` does; malformed JSON gets `400` with a
//! JSON-RPC parse error.

use crate::runtime::Runtime;
use serde_json::{json, Value as Json};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_HEAD: usize = 16 * 1024;
const MAX_BODY: usize = 1 << 20;
const MAX_CONNS: usize = 32;
const IDLE: Duration = Duration::from_secs(5);
/// Longest time to receive one request: a client trickling bytes must not
/// hold one of the MAX_CONNS threads forever.
const REQUEST_TIME: Duration = Duration::from_secs(10);

/// `tcp:IP:PORT`, `IP:PORT` or `PORT` (loopback).
pub fn parse_listen(spec: &str) -> Result<SocketAddr, String> {
    let s = spec.trim();
    let s = s
        .strip_prefix("tcp:")
        .or_else(|| s.strip_prefix("http:"))
        .unwrap_or(s);
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    s.parse::<SocketAddr>()
        .map_err(|_| format!("bad HTTP listen address `{spec}`: expected tcp:IP:PORT"))
}

pub fn start(rt: &Arc<Runtime>, addr: SocketAddr) -> Result<(), String> {
    let listener = TcpListener::bind(addr)
        .map_err(|e| format!("jsonrpcs: cannot listen on http {addr}: {e}"))?;
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let rt = rt.clone();
    std::thread::Builder::new()
        .name("jsonrpcs-http".into())
        .spawn(move || accept_loop(&rt, &listener))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn accept_loop(rt: &Arc<Runtime>, listener: &TcpListener) {
    let active = Arc::new(AtomicUsize::new(0));
    while !rt.is_stopping() {
        let mut pfd = libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, 100) } <= 0 {
            continue;
        }
        let Ok((stream, _)) = listener.accept() else {
            continue;
        };
        if active.load(Ordering::Relaxed) >= MAX_CONNS {
            let mut s = stream;
            let _ = s.write_all(&response(503, "Service Unavailable", b"", true));
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (rt, active) = (rt.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("jsonrpcs-http-conn".into())
            .spawn(move || {
                let _ = serve_conn(&rt, stream);
                active.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            tracing::error!("jsonrpcs: cannot start an HTTP connection thread");
        }
    }
}

fn response(code: u16, reason: &str, body: &[u8], close: bool) -> Vec<u8> {
    let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nServer: siprd ({})\r\nContent-Length: {}\r\n",
        env!("CARGO_PKG_VERSION"),
        body.len()
    )
    .into_bytes();
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The HTTP answer to one request body.
pub fn answer(rt: &Runtime, body: &[u8]) -> (u16, String, Vec<u8>) {
    let doc: Json = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("jsonrpcs: invalid json document over HTTP: {e}");
            let err = json!({"jsonrpc": "2.0", "error": {"code": -32700, "message": "Parse Error"}, "id": null});
            let mut out = Vec::new();
            crate::rpc::write_pretty(&mut out, &err);
            return (400, "Bad Request".into(), out);
        }
    };
    let Some(reply) = crate::rpc::as_http(|| rt.rpc.dispatch_value(&doc)) else {
        return (204, "No Content".into(), Vec::new());
    };
    let mut out = Vec::with_capacity(256);
    crate::rpc::write_pretty(&mut out, &reply);
    let (code, reason) = match reply.get("error") {
        Some(e) => {
            let code = e.get("code").and_then(Json::as_i64).unwrap_or(500);
            let code = u16::try_from(code)
                .ok()
                .filter(|c| (100..600).contains(c))
                .unwrap_or(500);
            (
                code,
                e.get("message")
                    .and_then(Json::as_str)
                    .unwrap_or("Error")
                    .to_string(),
            )
        }
        None => (200, "OK".into()),
    };
    (code, reason, out)
}

/// Write all of `data` before `deadline`: a client that stops reading its
/// replies must not hold the connection's thread forever. (A plain write
/// timeout is not enough: the kernel's growing send buffer counts as progress.)
fn write_by(s: &mut TcpStream, mut data: &[u8], deadline: Instant) -> std::io::Result<()> {
    while !data.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        s.set_write_timeout(Some(left))?;
        match s.write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn serve_conn(rt: &Runtime, mut s: TcpStream) -> std::io::Result<()> {
    s.set_read_timeout(Some(IDLE))?;
    s.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        let deadline = Instant::now() + REQUEST_TIME;
        let late = || {
            let late = Instant::now() > deadline;
            if late {
                tracing::debug!("jsonrpcs: HTTP request not received within {REQUEST_TIME:?}");
            }
            late
        };
        // read the head
        let head_end = loop {
            if let Some(p) = memchr::memmem::find(&buf, b"\r\n\r\n") {
                break p + 4;
            }
            if buf.len() > MAX_HEAD {
                s.write_all(&response(431, "Request Header Fields Too Large", b"", true))?;
                return Ok(());
            }
            if rt.is_stopping() {
                return Ok(());
            }
            let n = s.read(&mut chunk)?;
            if n == 0 || late() {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap_or("");
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let version = parts.nth(1).unwrap_or("HTTP/1.0").to_string();
        let mut clen: Option<usize> = None;
        let mut close = version != "HTTP/1.1";
        let mut chunked = false;
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "content-length" => clen = v.parse().ok(),
                "connection" => {
                    close = v.eq_ignore_ascii_case("close")
                        || (close && !v.eq_ignore_ascii_case("keep-alive"))
                }
                "transfer-encoding" => chunked = !v.eq_ignore_ascii_case("identity"),
                _ => {}
            }
        }
        if chunked {
            s.write_all(&response(411, "Length Required", b"", true))?;
            return Ok(());
        }
        let len = clen.unwrap_or(0);
        if len > MAX_BODY {
            s.write_all(&response(413, "Payload Too Large", b"", true))?;
            return Ok(());
        }
        while buf.len() < head_end + len {
            let n = s.read(&mut chunk)?;
            if n == 0 || late() {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + len].to_vec();
        buf.drain(..head_end + len);
        let out = if method != "POST" {
            let mut r = response(405, "Method Not Allowed", b"", close);
            // add Allow before the blank line
            let at = r.len() - 2;
            r.splice(at..at, b"Allow: POST\r\n".iter().copied());
            r
        } else {
            let (code, reason, body) = answer(rt, &body);
            response(code, &reason, &body, close)
        };
        write_by(&mut s, &out, Instant::now() + IDLE)?;
        if close {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_specs() {
        assert_eq!(
            parse_listen("8080").unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert_eq!(
            parse_listen("tcp:127.0.0.1:9").unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
        assert!(parse_listen("tcp:nope").is_err());
        let r = response(500, "Method\r\nNot Found", b"{}", true);
        assert!(String::from_utf8(r)
            .unwrap()
            .starts_with("HTTP/1.1 500 MethodNot Found\r\n"));
    }
}
