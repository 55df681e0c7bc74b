//! ctl: the BINRPC control interface `kamcmd` talks to. Listens on unix
//! stream/datagram sockets, TCP and UDP (`binrpc` parameter, repeatable) and
//! serves the one RPC registry every transport shares (`core.*`, `stats.*`,
//! `htable.*`, `tm.*`, `evrexec.run`, `system.*`, ...).

pub mod binrpc;
mod server;

use crate::context::Ctx;
use crate::module::{CoreSettings, Module};
use crate::rpc::RpcRegistry;
use crate::runtime::Runtime;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use siprd_script::registry::ModParamDecl;
use siprd_script::{Registry, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

/// Kamailio's (Debian build) default: `unixs:/var/run/kamailio//kamailio_ctl`.
pub const DEFAULT_SOCKET: &str = "/run/kamailio/kamailio_ctl";
/// Port used when a `tcp:`/`udp:` spec has none (as Kamailio's ctl).
const DEFAULT_PORT: u16 = 2049;

/// Where ctl listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    UnixStream(PathBuf),
    UnixDgram(PathBuf),
    Tcp(SocketAddr),
    Udp(SocketAddr),
}

impl Endpoint {
    /// `unix:/path`, `unixs:/path`, `unixd:/path`, `/path` (unix stream),
    /// `tcp:host[:port]`, `udp:host[:port]`, `tcp:port`. A missing host is
    /// loopback (never every interface by default).
    pub fn parse(spec: &str) -> Result<Endpoint, String> {
        let spec = spec.trim();
        let (proto, rest) = match spec.split_once(':') {
            Some((p, r)) if ["unix", "unixs", "unixd", "tcp", "udp"].contains(&p) => (p, r),
            _ if spec.starts_with('/') || spec.starts_with('.') => ("unix", spec),
            _ => {
                return Err(format!(
                "bad binrpc socket `{spec}`: expected unix:/path, tcp:host:port or udp:host:port"
            ))
            }
        };
        match proto {
            "unix" | "unixs" | "unixd" => {
                if rest.is_empty() {
                    return Err(format!("bad binrpc socket `{spec}`: empty path"));
                }
                let p = PathBuf::from(rest);
                Ok(if proto == "unixd" {
                    Endpoint::UnixDgram(p)
                } else {
                    Endpoint::UnixStream(p)
                })
            }
            _ => {
                let addr =
                    parse_inet(rest).map_err(|e| format!("bad binrpc socket `{spec}`: {e}"))?;
                Ok(if proto == "tcp" {
                    Endpoint::Tcp(addr)
                } else {
                    Endpoint::Udp(addr)
                })
            }
        }
    }

    /// Protocol name and address parts as `ctl.listen` prints them.
    fn describe(&self) -> (&'static str, String, Option<u16>) {
        match self {
            Endpoint::UnixStream(p) => ("unix_stream", p.display().to_string(), None),
            Endpoint::UnixDgram(p) => ("unix_dgram", p.display().to_string(), None),
            Endpoint::Tcp(a) => ("tcp", a.ip().to_string(), Some(a.port())),
            Endpoint::Udp(a) => ("udp", a.ip().to_string(), Some(a.port())),
        }
    }
}

/// `host`, `host:port`, `port`, `[v6]:port`, `*:port`.
fn parse_inet(s: &str) -> Result<SocketAddr, String> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    if s.is_empty() {
        return Ok(SocketAddr::new(loopback, DEFAULT_PORT));
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(loopback, port));
    }
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    let port_of = |p: &str| p.parse::<u16>().map_err(|_| format!("bad port `{p}`"));
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed `[`")?;
        match after.strip_prefix(':') {
            Some(p) => (h, port_of(p)?),
            None if after.is_empty() => (h, DEFAULT_PORT),
            None => return Err(format!("bad address `{s}`")),
        }
    } else if s.matches(':').count() > 1 {
        (s, DEFAULT_PORT) // a bare IPv6 address
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, port_of(p)?),
            None => (s, DEFAULT_PORT),
        }
    };
    match host {
        "*" => return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)),
        "localhost" => return Ok(SocketAddr::new(loopback, port)),
        _ => {}
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // a host name, resolved once at start-up
    (host, port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("cannot resolve `{host}`"))
}

/// Resolve a user or group name (or a number) for the unix sockets.
fn resolve_id(name: &str, group: bool) -> Result<u32, String> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let c = std::ffi::CString::new(name).map_err(|_| format!("bad name `{name}`"))?;
    // SAFETY: called at start-up from one thread; the returned record is
    // read before any other call can overwrite it.
    unsafe {
        if group {
            let g = libc::getgrnam(c.as_ptr());
            if g.is_null() {
                return Err(format!("unknown group `{name}`"));
            }
            Ok((*g).gr_gid)
        } else {
            let p = libc::getpwnam(c.as_ptr());
            if p.is_null() {
                return Err(format!("unknown user `{name}`"));
            }
            Ok((*p).pw_uid)
        }
    }
}

/// Settings the serving threads share.
pub(crate) struct Shared {
    /// Largest reply body, bytes (`binrpc_max_body_size` KB).
    pub max_body: usize,
    /// Largest struct in a reply, bytes (`binrpc_struct_max_body_size` KB).
    pub max_struct: usize,
    /// Open stream connections: (id, protocol, peer, local) for `ctl.who`.
    pub conns: Mutex<Vec<(u64, &'static str, String, String)>>,
    pub listening: Mutex<Vec<Endpoint>>,
}

pub struct Ctl {
    specs: Vec<String>,
    endpoints: Vec<Endpoint>,
    mode: u32,
    user: Option<String>,
    group: Option<String>,
    /// Accepted and warned about: siprd's ctl has no FIFO.
    fifo: Option<String>,
    owner: (Option<u32>, Option<u32>),
    max_body_kb: usize,
    max_struct_kb: usize,
    shared: Arc<Shared>,
    /// jsonrpcs-style holder for the core commands' runtime handle.
    core_rt: Arc<OnceLock<Weak<Runtime>>>,
    serving: Arc<Mutex<Vec<&'static str>>>,
    /// Unix socket files created (removed at stop).
    created: Mutex<Vec<PathBuf>>,
}

impl Default for Ctl {
    fn default() -> Self {
        Ctl {
            specs: Vec::new(),
            endpoints: Vec::new(),
            mode: 0o600,
            user: None,
            group: None,
            fifo: None,
            owner: (None, None),
            max_body_kb: 4,
            max_struct_kb: 1,
            shared: Arc::new(Shared {
                max_body: 4096,
                max_struct: 1024,
                conns: Mutex::new(Vec::new()),
                listening: Mutex::new(Vec::new()),
            }),
            core_rt: Arc::new(OnceLock::new()),
            serving: Arc::default(),
            created: Mutex::new(Vec::new()),
        }
    }
}

impl Module for Ctl {
    fn name(&self) -> &'static str {
        "ctl"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        let (s, a) = (ModParamDecl::str, ModParamDecl::any);
        vec![
            s("binrpc"),
            a("mode"),
            a("user"),
            a("group"),
            s("fifo"),
            a("autoconversion"),
            a("binrpc_max_body_size"),
            a("binrpc_struct_max_body_size"),
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let int = |v: &Value| {
            v.try_int()
                .ok_or_else(|| format!("`{name}` needs an integer, got `{v}`"))
        };
        let kb = |v: &Value| -> Result<usize, String> {
            let n = int(v)?;
            usize::try_from(n)
                .ok()
                .filter(|n| (1..=1024).contains(n))
                .ok_or_else(|| format!("`{name}` must be 1..1024 (KB), got {n}"))
        };
        match name {
            "binrpc" => {
                let spec = value.to_string();
                Endpoint::parse(&spec)?;
                self.specs.push(spec);
            }
            "mode" => {
                // `0600` in the config is octal (as Kamailio reads it); a
                // string "0600" too.
                let m = match value {
                    Value::Str(s) => {
                        let s = String::from_utf8_lossy(s);
                        u32::from_str_radix(s.trim().trim_start_matches("0o"), 8)
                            .map_err(|_| format!("`mode` must be an octal number, got `{s}`"))?
                    }
                    v => {
                        u32::try_from(int(v)?).map_err(|_| "`mode` must be positive".to_string())?
                    }
                };
                if m > 0o7777 {
                    return Err(format!("`mode` {m:o} is not a file mode"));
                }
                self.mode = m;
            }
            "user" => self.user = Some(value.to_string()),
            "group" => self.group = Some(value.to_string()),
            "fifo" => self.fifo = Some(value.to_string()),
            "autoconversion" => {
                int(value)?;
            }
            "binrpc_max_body_size" => self.max_body_kb = kb(value)?,
            "binrpc_struct_max_body_size" => self.max_struct_kb = kb(value)?,
            _ => return Err(format!("module `ctl` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        self.endpoints = self
            .specs
            .iter()
            .map(|s| Endpoint::parse(s))
            .collect::<Result<_, _>>()?;
        let uid = self
            .user
            .as_deref()
            .map(|u| resolve_id(u, false))
            .transpose()?;
        let gid = self
            .group
            .as_deref()
            .map(|g| resolve_id(g, true))
            .transpose()?;
        self.owner = (uid, gid);
        self.shared = Arc::new(Shared {
            max_body: self.max_body_kb * 1024,
            max_struct: self.max_struct_kb * 1024,
            conns: Mutex::new(Vec::new()),
            listening: Mutex::new(Vec::new()),
        });
        Ok(())
    }

    fn register(&self, _reg: &mut Registry<Ctx>) {}

    fn rpc(&self, rpc: &mut RpcRegistry) {
        // The core's commands, when jsonrpcs did not register them already.
        crate::modules::jsonrpcs::core_cmds::register(rpc, &self.core_rt, &self.serving);
        let sh = self.shared.clone();
        rpc.add(
            "ctl.listen",
            "List all the sockets on which ctl listens.",
            move |_| {
                let mut out = Vec::new();
                for ep in sh.listening.lock().iter() {
                    let (proto, addr, port) = ep.describe();
                    out.push(json!("binrpc"));
                    out.push(json!(proto));
                    out.push(json!(addr));
                    out.push(json!(port.map(|p| p.to_string()).unwrap_or_default()));
                }
                Ok(Json::Array(out))
            },
        );
        let sh = self.shared.clone();
        rpc.add(
            "ctl.connections",
            "Returns the number of open binrpc connections.",
            move |_| Ok(json!(sh.conns.lock().len())),
        );
        let sh = self.shared.clone();
        rpc.add("ctl.who", "List the open binrpc connections.", move |_| {
            let mut out = Vec::new();
            for (_, proto, peer, local) in sh.conns.lock().iter() {
                let (pa, pp) = split_addr(peer);
                let (la, lp) = split_addr(local);
                out.extend([
                    json!("binrpc"),
                    json!(proto),
                    json!(pa),
                    json!(pp),
                    json!(la),
                    json!(lp),
                ]);
            }
            Ok(Json::Array(out))
        });
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        if let Some(f) = &self.fifo {
            tracing::warn!(
                "ctl: `fifo` ({f}) is accepted but siprd's ctl has no FIFO; use jsonrpcs' fifo_name"
            );
        }
        let _ = self.core_rt.set(Arc::downgrade(rt));
        crate::modules::jsonrpcs::core_cmds::register_tmx(rt);
        let opts = server::UnixOpts {
            mode: self.mode,
            uid: self.owner.0,
            gid: self.owner.1,
        };
        if self.endpoints.is_empty() {
            // Kamailio's default socket, only where its directory exists and
            // no live server owns it.
            let path = PathBuf::from(DEFAULT_SOCKET);
            if path.parent().is_some_and(|p| p.is_dir()) {
                let ep = Endpoint::UnixStream(path.clone());
                match server::start(rt, &self.shared, &ep, &opts, false) {
                    Ok(()) => {
                        self.created.lock().push(path);
                        self.shared.listening.lock().push(ep);
                    }
                    Err(e) => tracing::warn!("ctl: default socket not started: {e}"),
                }
            }
        }
        for ep in &self.endpoints {
            server::start(rt, &self.shared, ep, &opts, true)?;
            if let Endpoint::UnixStream(p) | Endpoint::UnixDgram(p) = ep {
                self.created.lock().push(p.clone());
            }
            if let Endpoint::Tcp(a) | Endpoint::Udp(a) = ep {
                if !a.ip().is_loopback() {
                    tracing::warn!(
                        "ctl: binrpc listens on {a}, not loopback: anyone who reaches it controls the server"
                    );
                }
            }
            self.shared.listening.lock().push(ep.clone());
        }
        if !self.shared.listening.lock().is_empty() {
            self.serving.lock().push("ctl handler");
        }
        Ok(())
    }

    fn stop(&self) {
        for p in self.created.lock().drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `1.2.3.4:5` → ("1.2.3.4", "5"); a unix path → (path, "").
fn split_addr(a: &str) -> (String, String) {
    match a.parse::<SocketAddr>() {
        Ok(sa) => (sa.ip().to_string(), sa.port().to_string()),
        Err(_) => (a.to_string(), String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let ok = |s: &str| Endpoint::parse(s).unwrap();
        assert_eq!(ok("unix:/tmp/x"), Endpoint::UnixStream("/tmp/x".into()));
        assert_eq!(ok("unixs:/tmp/x"), Endpoint::UnixStream("/tmp/x".into()));
        assert_eq!(ok("/tmp/x"), Endpoint::UnixStream("/tmp/x".into()));
        assert_eq!(ok("unixd:/tmp/x"), Endpoint::UnixDgram("/tmp/x".into()));
        assert_eq!(
            ok("tcp:127.0.0.1:2046"),
            Endpoint::Tcp("127.0.0.1:2046".parse().unwrap())
        );
        assert_eq!(
            ok("udp:2046"),
            Endpoint::Udp("127.0.0.1:2046".parse().unwrap())
        );
        assert_eq!(
            ok("tcp:localhost"),
            Endpoint::Tcp("127.0.0.1:2049".parse().unwrap())
        );
        assert_eq!(ok("udp:*:9"), Endpoint::Udp("0.0.0.0:9".parse().unwrap()));
        assert_eq!(ok("tcp:[::1]:9"), Endpoint::Tcp("[::1]:9".parse().unwrap()));
        for bad in ["", "unix:", "tcp:1.2.3.4:x", "sctp:1.2.3.4:5", "foo"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn params() {
        let mut c = Ctl::default();
        c.set_param("mode", &Value::Int(0o640)).unwrap();
        assert_eq!(c.mode, 0o640);
        c.set_param("mode", &Value::from_string("0660".into()))
            .unwrap();
        assert_eq!(c.mode, 0o660);
        assert!(c
            .set_param("mode", &Value::from_string("0999".into()))
            .is_err());
        assert!(c.set_param("binrpc_max_body_size", &Value::Int(0)).is_err());
        assert!(c
            .set_param("binrpc", &Value::from_string("bogus".into()))
            .is_err());
        assert!(c.set_param("nope", &Value::Int(1)).is_err());
        assert_eq!(resolve_id("0", false), Ok(0));
        assert_eq!(resolve_id("root", false), Ok(0));
        assert!(resolve_id("no-such-user-siprd", true).is_err());
    }
}
