//! `siprd ctl METHOD [PARAMS...]`: the JSON-RPC command-line client. It talks
//! to jsonrpcs' datagram transport (`udp:HOST:PORT` or a unix socket path).
//!
//! Parameters are typed as kamcmd does: a number is an integer unless written
//! `s:123`; `s:` forces a string, `i:` an integer.

use crate::cli::CtlOpts;
use serde_json::{json, Value as Json};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where `siprd ctl` connects without `-s` (jsonrpcs' default datagram socket,
/// overridable with `SIPRD_CTL`).
pub const DEFAULT_ENDPOINT: &str = "/run/kamailio/kamailio_rpc.sock";

const TIMEOUT: Duration = Duration::from_secs(5);

/// Exit codes.
const EXIT_RPC_ERROR: i32 = 1;
const EXIT_FAILURE: i32 = 2;

/// Type one command-line parameter.
pub fn typed_param(p: &str) -> Json {
    if let Some(s) = p.strip_prefix("s:") {
        return Json::String(s.to_string());
    }
    if let Some(i) = p.strip_prefix("i:") {
        if let Ok(n) = i.trim().parse::<i64>() {
            return json!(n);
        }
    }
    match p.parse::<i64>() {
        Ok(n) => json!(n),
        Err(_) => Json::String(p.to_string()),
    }
}

/// The request document for a method and its raw parameters.
pub fn request(method: &str, params: &[String]) -> Json {
    let params: Vec<Json> = params.iter().map(|p| typed_param(p)).collect();
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": std::process::id()})
}

enum Target {
    Udp(SocketAddr),
    Unix(String),
}

fn target(spec: &str) -> Result<Target, String> {
    if let Some(rest) = spec.strip_prefix("udp:") {
        let rest = if rest.parse::<u16>().is_ok() {
            format!("127.0.0.1:{rest}")
        } else {
            rest.to_string()
        };
        let addr = rest
            .to_socket_addrs()
            .map_err(|e| format!("bad address `{spec}`: {e}"))?
            .next()
            .ok_or_else(|| format!("no address for `{spec}`"))?;
        return Ok(Target::Udp(addr));
    }
    Ok(Target::Unix(
        spec.strip_prefix("unix:").unwrap_or(spec).to_string(),
    ))
}

fn exchange(t: &Target, req: &[u8]) -> Result<Vec<u8>, String> {
    let mut buf = vec![0u8; 1 << 16];
    match t {
        Target::Udp(addr) => {
            let bind = if addr.is_ipv4() {
                "127.0.0.1:0"
            } else {
                "[::1]:0"
            };
            let bind = if addr.ip().is_loopback() {
                bind
            } else if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let s = UdpSocket::bind(bind).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
            s.set_read_timeout(Some(TIMEOUT))
                .map_err(|e| e.to_string())?;
            s.send_to(req, addr)
                .map_err(|e| format!("cannot send to {addr}: {e}"))?;
            let n = s
                .recv(&mut buf)
                .map_err(|e| format!("no reply from udp:{addr}: {e}"))?;
            buf.truncate(n);
        }
        Target::Unix(path) => {
            let me = std::env::temp_dir().join(format!("siprd-ctl-{}.sock", std::process::id()));
            let _ = std::fs::remove_file(&me);
            let s = UnixDatagram::bind(&me)
                .map_err(|e| format!("cannot bind {}: {e}", me.display()))?;
            let r = (|| {
                s.set_read_timeout(Some(TIMEOUT))
                    .map_err(|e| e.to_string())?;
                s.send_to(req, path)
                    .map_err(|e| format!("cannot send to {path}: {e}"))?;
                s.recv(&mut buf)
                    .map_err(|e| format!("no reply from {path}: {e}"))
            })();
            let _ = std::fs::remove_file(&me);
            buf.truncate(r?);
        }
    }
    Ok(buf)
}

/// Run one RPC command against a running server; returns the exit code.
pub fn run(opts: &CtlOpts) -> i32 {
    let spec = opts
        .socket
        .clone()
        .or_else(|| std::env::var("SIPRD_CTL").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let t = match target(&spec) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("siprd ctl: {e}");
            return EXIT_FAILURE;
        }
    };
    let req = request(&opts.method, &opts.params);
    let reply = match exchange(&t, req.to_string().as_bytes()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "siprd ctl: {e} (is jsonrpcs loaded with dgram_socket \"{spec}\"? use -s ADDR)"
            );
            return EXIT_FAILURE;
        }
    };
    let doc: Json = match serde_json::from_slice(&reply) {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "siprd ctl: bad reply ({e}): {}",
                String::from_utf8_lossy(&reply)
            );
            return EXIT_FAILURE;
        }
    };
    if let Some(err) = doc.get("error") {
        let code = err.get("code").map_or_else(String::new, Json::to_string);
        let msg = err.get("message").and_then(Json::as_str).unwrap_or("");
        eprintln!("error: {code} - {msg}");
        return EXIT_RPC_ERROR;
    }
    let result = doc.get("result").cloned().unwrap_or(Json::Null);
    match serde_json::to_string_pretty(&result) {
        Ok(s) => {
            use std::io::Write;
            // a closed pipe (`| head`) is not an error worth a panic
            let _ = writeln!(std::io::stdout().lock(), "{s}");
        }
        Err(e) => {
            eprintln!("siprd ctl: {e}");
            return EXIT_FAILURE;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_like_kamcmd() {
        assert_eq!(typed_param("12"), json!(12));
        assert_eq!(typed_param("-5"), json!(-5));
        assert_eq!(typed_param("s:12"), json!("12"));
        assert_eq!(typed_param("i:7"), json!(7));
        assert_eq!(typed_param("abc"), json!("abc"));
        let r = request("core.echo", &["a".into(), "1".into()]);
        assert_eq!(r["params"], json!(["a", 1]));
    }
}
