//! `siprd ctl METHOD [PARAMS...]`: the JSON-RPC command-line client. It talks
//! to jsonrpcs' datagram transport (`udp:HOST:PORT` or a unix socket path) or
//! its FIFO (`fifo:PATH`, as `kamctl rpc`); `-f cfg` reads the endpoint from
//! the config's jsonrpcs parameters.
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
    Fifo { path: String, reply_dir: String },
}

/// The endpoint a config gives jsonrpcs, as a `-s` spec: the datagram socket
/// when that transport is on and set, else the FIFO. The config is only
/// parsed (nothing is started, routes are not compiled).
pub fn endpoint_from_config(path: &std::path::Path) -> Result<String, String> {
    let (parsed, diags) = siprd_script::parse_file_lenient(path, &siprd_script::Defines::new());
    if let Some(e) = diags.iter().find(|d| d.is_error()) {
        return Err(format!("{}: {}", path.display(), e.message));
    }
    if !parsed.module_loaded("jsonrpcs") {
        return Err(format!("{} does not load jsonrpcs", path.display()));
    }
    let param = |name: &str| {
        parsed
            .modparams
            .iter()
            .rev()
            .find(|m| m.module == "jsonrpcs" && m.param == name)
            .map(|m| match &m.value {
                siprd_script::ast::ModParamValue::Int(i) => i.to_string(),
                siprd_script::ast::ModParamValue::Str(s) => s.clone(),
            })
    };
    let transport: i32 = param("transport")
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0);
    let on = |bit: i32| transport == 0 || transport & bit != 0;
    if on(4) {
        if let Some(d) = param("dgram_socket") {
            return Ok(d);
        }
    }
    if on(2) {
        let fifo = param("fifo_name")
            .unwrap_or_else(|| crate::modules::jsonrpcs::DEFAULT_FIFO.to_string());
        let dir = param("fifo_reply_dir").unwrap_or_else(|| "/tmp/".into());
        return Ok(format!("fifo:{fifo}@{dir}"));
    }
    if on(4) {
        return Ok(DEFAULT_ENDPOINT.to_string());
    }
    Err(format!(
        "{}: jsonrpcs has neither the datagram nor the FIFO transport on",
        path.display()
    ))
}

fn target(spec: &str) -> Result<Target, String> {
    if let Some(rest) = spec.strip_prefix("fifo:") {
        // `fifo:PATH[@REPLY_DIR]`
        let (path, dir) = rest.split_once('@').unwrap_or((rest, "/tmp/"));
        return Ok(Target::Fifo {
            path: path.to_string(),
            reply_dir: dir.to_string(),
        });
    }
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
        Target::Fifo { path, reply_dir } => return fifo_exchange(path, reply_dir, req),
    }
    Ok(buf)
}

/// One request through the server's FIFO: the reply comes back on a FIFO we
/// create in the reply directory (named in `reply_name`).
fn fifo_exchange(path: &str, reply_dir: &str, req: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let name = format!("siprd_ctl_reply_{}", std::process::id());
    let reply_path = std::path::Path::new(reply_dir).join(&name);
    let _ = std::fs::remove_file(&reply_path);
    let c_path = std::ffi::CString::new(reply_path.as_os_str().as_encoded_bytes())
        .map_err(|_| "bad reply directory".to_string())?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "cannot create {}: {}",
            reply_path.display(),
            std::io::Error::last_os_error()
        ));
    }
    let r = (|| {
        let mut doc: Json = serde_json::from_slice(req).map_err(|e| e.to_string())?;
        if let Some(o) = doc.as_object_mut() {
            o.insert("reply_name".into(), Json::String(name.clone()));
        }
        // Open our end first (non-blocking) so the server's open succeeds.
        let mut reply = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&reply_path)
            .map_err(|e| format!("cannot open {}: {e}", reply_path.display()))?;
        let mut fifo = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| format!("cannot open the FIFO {path}: {e}"))?;
        fifo.write_all(format!("{doc}\n").as_bytes())
            .map_err(|e| format!("cannot write to {path}: {e}"))?;
        drop(fifo);
        let deadline = std::time::Instant::now() + TIMEOUT;
        let mut out = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(format!("no reply from fifo:{path}"));
            }
            let mut pfd = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&reply),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(1000) as i32) };
            if n <= 0 {
                continue;
            }
            match reply.read(&mut chunk) {
                Ok(0) if !out.is_empty() => return Ok(out),
                // no writer yet: POLLHUP before the server opened its end
                Ok(0) => std::thread::sleep(Duration::from_millis(5)),
                Ok(k) => {
                    out.extend_from_slice(&chunk[..k]);
                    if serde_json::from_slice::<Json>(&out).is_ok() {
                        return Ok(out);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    })();
    let _ = std::fs::remove_file(&reply_path);
    r
}

/// Run one RPC command against a running server; returns the exit code.
pub fn run(opts: &CtlOpts) -> i32 {
    let from_config = match (&opts.socket, &opts.config) {
        (None, Some(cfg)) => match endpoint_from_config(cfg) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("siprd ctl: {e}");
                return EXIT_FAILURE;
            }
        },
        _ => None,
    };
    let spec = opts
        .socket
        .clone()
        .or(from_config)
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
