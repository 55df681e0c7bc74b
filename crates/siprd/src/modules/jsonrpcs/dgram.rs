//! The datagram transport: one JSON-RPC document per datagram, the reply
//! sent back to the sender (UDP, or a unix datagram socket whose client has
//! bound its own path). Malformed JSON gets no answer, as in Kamailio.

use crate::runtime::Runtime;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the datagram transport listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Udp(SocketAddr),
    Unix(PathBuf),
}

impl Endpoint {
    /// `udp:IP:PORT`, `udp:PORT` (loopback), `unix:/path` or `/path`.
    pub fn parse(spec: &str) -> Result<Endpoint, String> {
        let spec = spec.trim();
        if let Some(rest) = spec
            .strip_prefix("udp:")
            .or_else(|| spec.strip_prefix("udp4:"))
        {
            if let Ok(port) = rest.parse::<u16>() {
                return Ok(Endpoint::Udp(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port,
                )));
            }
            if let Ok(a) = rest.parse::<SocketAddr>() {
                return Ok(Endpoint::Udp(a));
            }
            if let Some((host, port)) = rest.rsplit_once(':') {
                let port: u16 = port.parse().map_err(|_| format!("bad port in `{spec}`"))?;
                let ip = match host.trim_matches(['[', ']']) {
                    "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    h => h.parse().map_err(|_| {
                        format!("bad address `{host}` in `{spec}` (an IP address is needed)")
                    })?,
                };
                return Ok(Endpoint::Udp(SocketAddr::new(ip, port)));
            }
            return Err(format!(
                "bad datagram socket `{spec}`: expected udp:IP:PORT"
            ));
        }
        let path = spec.strip_prefix("unix:").unwrap_or(spec);
        if path.is_empty() {
            return Err("empty datagram socket path".into());
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }
}

/// Largest request we read; bigger datagrams are truncated and then fail to parse.
const MAX_DGRAM: usize = 65536;

/// Bind and serve on a dedicated thread. `replace`: remove a stale unix
/// socket file first (an explicitly configured path, as Kamailio does).
pub fn start(rt: &Arc<Runtime>, ep: &Endpoint, replace: bool) -> Result<(), String> {
    let rt = rt.clone();
    match ep {
        Endpoint::Udp(addr) => {
            let sock = UdpSocket::bind(addr)
                .map_err(|e| format!("jsonrpcs: cannot bind udp:{addr}: {e}"))?;
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            tracing::info!("jsonrpcs: datagram control socket on udp:{addr}");
            std::thread::Builder::new()
                .name("jsonrpcs-dgram".into())
                .spawn(move || serve_udp(&rt, &sock))
                .map_err(|e| e.to_string())?;
        }
        Endpoint::Unix(path) => {
            if path.exists() {
                // A default path is only taken over from a dead server.
                let live = UnixDatagram::unbound()
                    .and_then(|u| u.connect(path))
                    .is_ok();
                if !replace && live {
                    return Err(format!("{} exists and is in use", path.display()));
                }
                let _ = std::fs::remove_file(path);
            }
            let sock = UnixDatagram::bind(path)
                .map_err(|e| format!("jsonrpcs: cannot bind {}: {e}", path.display()))?;
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
            sock.set_read_timeout(Some(Duration::from_millis(100)))
                .map_err(|e| e.to_string())?;
            // a unix client that stops reading fills its queue: sending blocks
            sock.set_write_timeout(Some(Duration::from_secs(1)))
                .map_err(|e| e.to_string())?;
            let path = path.clone();
            std::thread::Builder::new()
                .name("jsonrpcs-dgram".into())
                .spawn(move || {
                    serve_unix(&rt, &sock);
                    let _ = std::fs::remove_file(&path);
                })
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    )
}

fn serve_udp(rt: &Runtime, sock: &UdpSocket) {
    let mut buf = vec![0u8; MAX_DGRAM];
    while !rt.is_stopping() {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                if let Some(reply) = rt.rpc.dispatch(&buf[..n]) {
                    if let Err(e) = sock.send_to(&reply, src) {
                        tracing::error!("jsonrpcs: cannot send the reply to {src}: {e}");
                    }
                }
            }
            Err(e) if transient(&e) => {}
            Err(e) => {
                // e.g. ICMP port unreachable from an earlier reply
                tracing::debug!("jsonrpcs: receive error: {e}");
            }
        }
    }
}

fn serve_unix(rt: &Runtime, sock: &UnixDatagram) {
    let mut buf = vec![0u8; MAX_DGRAM];
    while !rt.is_stopping() {
        match sock.recv_from(&mut buf) {
            Ok((n, src)) => {
                let Some(reply) = rt.rpc.dispatch(&buf[..n]) else {
                    continue;
                };
                match src.as_pathname() {
                    Some(p) => {
                        if let Err(e) = sock.send_to(&reply, p) {
                            tracing::error!(
                                "jsonrpcs: cannot send the reply to {}: {e}",
                                p.display()
                            );
                        }
                    }
                    None => tracing::warn!(
                        "jsonrpcs: datagram from an unbound unix socket: no reply possible"
                    ),
                }
            }
            Err(e) if transient(&e) => {}
            Err(e) => {
                tracing::error!("jsonrpcs: receive error: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("udp:127.0.0.1:8033").unwrap(),
            Endpoint::Udp("127.0.0.1:8033".parse().unwrap())
        );
        assert_eq!(
            Endpoint::parse("udp:8033").unwrap(),
            Endpoint::Udp("127.0.0.1:8033".parse().unwrap())
        );
        assert_eq!(
            Endpoint::parse("udp:localhost:9").unwrap(),
            Endpoint::Udp("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(
            Endpoint::parse("/tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("unix:/tmp/x.sock").unwrap(),
            Endpoint::Unix("/tmp/x.sock".into())
        );
        assert!(Endpoint::parse("udp:host.example:9").is_err());
    }
}
