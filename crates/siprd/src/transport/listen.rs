//! Parsing of Kamailio `listen=` values (and `-l` command-line values).
//!
//! Accepted forms (as Kamailio 5.6):
//! ```text
//! [proto:]host[:port] [advertise|as host[:port]] [name "x"] [virtual]
//! [proto:]host[:port][/advhost[:port]]            (the `-l` form)
//! ```
//! `proto` is `udp` or `tcp` (`tls`, `sctp`, `ws`, `wss` are refused with a clear
//! error); `host` is an IPv4 address, `[IPv6]`, a bare IPv6 address when no port
//! follows, a host name (resolved, first address, like Kamailio) or an interface
//! name (all its addresses). Kamailio refuses `*` (syntax error); so do we, with a
//! hint to use `0.0.0.0`. Without a protocol, the listener is both UDP and TCP
//! (unless `disable_tcp`), and without a port the global `port` (default 5060).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use super::Proto;

/// A parsed `listen` value, before name resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// `None`: both UDP and TCP.
    pub proto: Option<Proto>,
    pub host: ListenHost,
    pub port: Option<u16>,
    pub advertise: Option<Advertise>,
    pub name: Option<String>,
    /// Kamailio's `virtual` flag (accepted, recorded, no effect here).
    pub virtual_: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenHost {
    Ip(IpAddr),
    /// A host name or an interface name; resolved by [`ListenSpec::expand`].
    Name(String),
}

/// The advertised address (used by the server in Via / Record-Route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertise {
    pub host: String,
    /// `None` when not given (Kamailio prints `:0` and uses the listen port).
    pub port: Option<u16>,
}

/// One concrete socket to bind: the result of [`ListenSpec::expand`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub proto: Proto,
    pub addr: SocketAddr,
    pub advertise: Option<Advertise>,
    pub name: Option<String>,
    /// The host as written (e.g. `localhost`, `lo`) when it was a name.
    pub host_name: Option<String>,
}

/// A parse or resolution error. `at` is a byte offset into the listen value
/// (the lead maps it to a config span).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenError {
    pub message: String,
    pub at: usize,
}

impl fmt::Display for ListenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ListenError {}

fn err<T>(at: usize, message: impl Into<String>) -> Result<T, ListenError> {
    Err(ListenError {
        message: message.into(),
        at,
    })
}

/// Options for [`ListenSpec::expand`].
#[derive(Debug, Clone, Copy)]
pub struct ExpandOptions {
    /// The global `port` (Kamailio default 5060).
    pub default_port: u16,
    /// The global `disable_tcp` (or `-T`).
    pub disable_tcp: bool,
}

impl Default for ExpandOptions {
    fn default() -> Self {
        ExpandOptions {
            default_port: 5060,
            disable_tcp: false,
        }
    }
}

impl std::str::FromStr for ListenSpec {
    type Err = ListenError;
    fn from_str(s: &str) -> Result<Self, ListenError> {
        ListenSpec::parse(s)
    }
}

impl fmt::Display for ListenSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.proto {
            write!(f, "{}:", p.as_str())?;
        }
        match &self.host {
            ListenHost::Ip(IpAddr::V6(a)) => write!(f, "[{a}]")?,
            ListenHost::Ip(a) => write!(f, "{a}")?,
            ListenHost::Name(n) => f.write_str(n)?,
        }
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        if let Some(a) = &self.advertise {
            write!(f, " advertise {}", a.host)?;
            if let Some(p) = a.port {
                write!(f, ":{p}")?;
            }
        }
        if let Some(n) = &self.name {
            write!(f, " name \"{n}\"")?;
        }
        if self.virtual_ {
            f.write_str(" virtual")?;
        }
        Ok(())
    }
}

/// Parses `host[:port]` (host may be `[v6]`), starting at byte `base` of the
/// whole value (for error offsets). Returns (host, port).
fn parse_hostport(
    s: &str,
    base: usize,
    what: &str,
) -> Result<(ListenHost, Option<u16>), ListenError> {
    if s.is_empty() {
        return err(base, format!("{what}: address expected"));
    }
    if s == "*" || s.starts_with("*:") {
        return err(
            base,
            "`*` is not a valid listen address (as in Kamailio); use 0.0.0.0 or [::] to listen on all addresses",
        );
    }
    if let Some(rest) = s.strip_prefix('[') {
        let Some(close) = rest.find(']') else {
            return err(base, format!("{what}: missing `]` after IPv6 address"));
        };
        let ip: Ipv6Addr = rest[..close].parse().map_err(|_| ListenError {
            message: format!("{what}: invalid IPv6 address `{}`", &rest[..close]),
            at: base + 1,
        })?;
        let after = &rest[close + 1..];
        let port = if after.is_empty() {
            None
        } else if let Some(p) = after.strip_prefix(':') {
            Some(parse_port(p, base + close + 3)?)
        } else {
            return err(
                base + close + 2,
                format!("{what}: unexpected `{after}` after address"),
            );
        };
        return Ok((ListenHost::Ip(IpAddr::V6(ip)), port));
    }
    // Bare IPv6 without brackets: only without a port.
    if s.matches(':').count() >= 2 {
        return match s.parse::<Ipv6Addr>() {
            Ok(ip) => Ok((ListenHost::Ip(IpAddr::V6(ip)), None)),
            Err(_) => err(
                base,
                format!("{what}: invalid address `{s}` (write IPv6 addresses with a port as `[addr]:port`)"),
            ),
        };
    }
    let (h, port) = match s.rfind(':') {
        Some(i) => (&s[..i], Some(parse_port(&s[i + 1..], base + i + 1)?)),
        None => (s, None),
    };
    if h.is_empty() {
        return err(base, format!("{what}: address expected before the port"));
    }
    if let Ok(ip) = h.parse::<Ipv4Addr>() {
        return Ok((ListenHost::Ip(IpAddr::V4(ip)), port));
    }
    if h.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return err(base, format!("{what}: invalid IPv4 address `{h}`"));
    }
    if !h
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
    {
        return err(
            base,
            format!("{what}: `{h}` is not an IP address, host name or interface name"),
        );
    }
    Ok((ListenHost::Name(h.to_string()), port))
}

fn parse_port(p: &str, at: usize) -> Result<u16, ListenError> {
    match p.parse::<u32>() {
        Ok(n) if n <= 65535 => Ok(n as u16),
        Ok(n) => err(at, format!("port {n} is out of range (0-65535)")),
        Err(_) => err(at, format!("invalid port `{p}`")),
    }
}

impl ListenSpec {
    /// Parses a Kamailio listen value. Whitespace around tokens is ignored.
    pub fn parse(value: &str) -> Result<ListenSpec, ListenError> {
        // Tokenize on whitespace, keeping offsets; a double-quoted string is one token.
        let mut toks: Vec<(usize, &str)> = Vec::new();
        let bytes = value.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i].is_ascii_whitespace() {
                i += 1;
                continue;
            }
            let start = i;
            if bytes[i] == b'"' {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += 1;
                }
                if i >= bytes.len() {
                    return err(start, "unterminated string");
                }
                i += 1;
            } else {
                while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
            toks.push((start, &value[start..i]));
        }
        let Some(&(base, first)) = toks.first() else {
            return err(0, "empty listen value");
        };
        let mut main = first;
        let mut main_base = base;
        // Proto prefix.
        let mut proto = None;
        if let Some(colon) = main.find(':') {
            let p = &main[..colon];
            let known = match p.to_ascii_lowercase().as_str() {
                "udp" => Some(Some(Proto::Udp)),
                "tcp" => Some(Some(Proto::Tcp)),
                "tls" | "sctp" | "ws" | "wss" => {
                    return err(
                        base,
                        format!("protocol `{p}` is not supported by siprd (udp and tcp are)"),
                    )
                }
                _ => None,
            };
            if let Some(k) = known {
                proto = k;
                main = &main[colon + 1..];
                main_base += colon + 1;
            }
        }
        if main.starts_with('(') {
            return err(
                main_base,
                "address lists `(a, b)` (SCTP multihoming) are not supported",
            );
        }
        // `-l` form: host[:port]/advhost[:port]
        let mut advertise = None;
        if let Some(slash) = main.find('/') {
            let adv = &main[slash + 1..];
            let (h, p) = parse_hostport(adv, main_base + slash + 1, "advertised address")?;
            advertise = Some(Advertise {
                host: host_string(&h),
                port: p,
            });
            main = &main[..slash];
        }
        let (host, port) = parse_hostport(main, main_base, "listen address")?;
        let mut spec = ListenSpec {
            proto,
            host,
            port,
            advertise,
            name: None,
            virtual_: false,
        };
        let mut k = 1;
        while k < toks.len() {
            let (at, t) = toks[k];
            match t.to_ascii_lowercase().as_str() {
                "advertise" | "as" => {
                    let Some(&(vat, v)) = toks.get(k + 1) else {
                        return err(at, "`advertise` needs an address, e.g. `advertise 1.2.3.4:5060`");
                    };
                    if spec.advertise.is_some() {
                        return err(at, "advertised address given twice");
                    }
                    let (h, p) = parse_hostport(v, vat, "advertised address")?;
                    spec.advertise = Some(Advertise {
                        host: host_string(&h),
                        port: p,
                    });
                    k += 2;
                }
                "name" => {
                    let Some(&(vat, v)) = toks.get(k + 1) else {
                        return err(at, "`name` needs a quoted string, e.g. `name \"pub\"`");
                    };
                    let n = v
                        .strip_prefix('"')
                        .and_then(|v| v.strip_suffix('"'))
                        .unwrap_or(v);
                    if n.is_empty() {
                        return err(vat, "empty socket name");
                    }
                    spec.name = Some(n.to_string());
                    k += 2;
                }
                "virtual" => {
                    spec.virtual_ = true;
                    k += 1;
                }
                _ => {
                    return err(
                        at,
                        format!("unexpected `{t}` in listen value (expected `advertise`, `name` or `virtual`)"),
                    )
                }
            }
        }
        Ok(spec)
    }

    /// Resolves names and expands to the concrete sockets to bind.
    pub fn expand(&self, opts: &ExpandOptions) -> Result<Vec<Endpoint>, ListenError> {
        let port = self.port.unwrap_or(opts.default_port);
        let protos: &[Proto] = match self.proto {
            Some(Proto::Udp) => &[Proto::Udp],
            Some(Proto::Tcp) if opts.disable_tcp => {
                return err(
                    0,
                    "tcp listener configured but TCP is disabled (disable_tcp=yes)",
                )
            }
            Some(Proto::Tcp) => &[Proto::Tcp],
            None if opts.disable_tcp => &[Proto::Udp],
            None => &[Proto::Udp, Proto::Tcp],
        };
        let (ips, host_name) = match &self.host {
            ListenHost::Ip(ip) => (vec![*ip], None),
            ListenHost::Name(n) => (resolve_name(n)?, Some(n.clone())),
        };
        let mut out = Vec::new();
        for ip in ips {
            for &proto in protos {
                out.push(Endpoint {
                    proto,
                    addr: SocketAddr::new(ip, port),
                    advertise: self.advertise.clone(),
                    name: self.name.clone(),
                    host_name: host_name.clone(),
                });
            }
        }
        Ok(out)
    }
}

fn host_string(h: &ListenHost) -> String {
    match h {
        ListenHost::Ip(ip) => ip.to_string(),
        ListenHost::Name(n) => n.clone(),
    }
}

/// Interface name first (all its addresses, like Kamailio), then DNS (first address).
fn resolve_name(name: &str) -> Result<Vec<IpAddr>, ListenError> {
    let ifaddrs = interface_addrs(name);
    if !ifaddrs.is_empty() {
        return Ok(ifaddrs);
    }
    match (name, 0u16).to_socket_addrs() {
        Ok(mut it) => match it.next() {
            Some(a) => Ok(vec![a.ip()]),
            None => err(0, format!("could not resolve `{name}`: no address")),
        },
        Err(e) => err(
            0,
            format!("could not resolve `{name}` (neither an interface nor a host name): {e}"),
        ),
    }
}

/// Addresses of a network interface (via getifaddrs); empty if no such interface.
/// IPv6 link-local addresses are skipped (they need a scope id to bind).
pub fn interface_addrs(name: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs/freeifaddrs pair; we only read the list while it is alive.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let ifa = &*cur;
            cur = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
                continue;
            }
            if std::ffi::CStr::from_ptr(ifa.ifa_name).to_bytes() != name.as_bytes() {
                continue;
            }
            match (*ifa.ifa_addr).sa_family as i32 {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    out.push(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        sin.sin_addr.s_addr,
                    ))));
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    if (ip.segments()[0] & 0xffc0) != 0xfe80 {
                        out.push(IpAddr::V6(ip));
                    }
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ListenSpec {
        ListenSpec::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn forms() {
        let s = p("udp:127.0.0.1:5060");
        assert_eq!(s.proto, Some(Proto::Udp));
        assert_eq!(s.host, ListenHost::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(s.port, Some(5060));
        let s = p("tcp:127.0.0.1:5070");
        assert_eq!(s.proto, Some(Proto::Tcp));
        let s = p("127.0.0.1");
        assert_eq!((s.proto, s.port), (None, None));
        let s = p("udp:[::1]:5060");
        assert_eq!(s.host, ListenHost::Ip("::1".parse().unwrap()));
        assert_eq!(s.port, Some(5060));
        let s = p("udp:::1");
        assert_eq!(s.host, ListenHost::Ip("::1".parse().unwrap()));
        let s = p("udp:127.0.0.1:5060 advertise 1.2.3.4:5080");
        assert_eq!(
            s.advertise,
            Some(Advertise {
                host: "1.2.3.4".into(),
                port: Some(5080)
            })
        );
        let s = p("127.0.0.1:5073  ADVERTISE sip.example.com name \"pub x\" virtual");
        assert_eq!(s.advertise.as_ref().unwrap().host, "sip.example.com");
        assert_eq!(s.advertise.as_ref().unwrap().port, None);
        assert_eq!(s.name.as_deref(), Some("pub x"));
        assert!(s.virtual_);
        let s = p("udp:127.0.0.1:5080/1.2.3.4:5060");
        assert_eq!(s.advertise.as_ref().unwrap().port, Some(5060));
        let s = p("udp:eth0:5060");
        assert_eq!(s.host, ListenHost::Name("eth0".into()));
        assert_eq!(
            p("udp:127.0.0.1:5060 name \"a\"").to_string(),
            "udp:127.0.0.1:5060 name \"a\""
        );
    }

    #[test]
    fn errors() {
        for (s, needle) in [
            ("udp:*:5060", "`*`"),
            ("", "empty"),
            ("tls:127.0.0.1:5061", "tls"),
            ("udp:127.0.0.1:99999", "out of range"),
            ("udp:127.0.0.1:abc", "invalid port"),
            ("udp:127.0.0.1:5060 advertise", "needs an address"),
            ("udp:127.0.0.1:5060 bogus", "unexpected `bogus`"),
            ("udp:[::1:5060", "missing `]`"),
            ("udp:1.2.3.400:5060", "invalid IPv4"),
            ("udp:(eth0, eth1):5060", "not supported"),
            ("udp:127.0.0.1:5060 name \"x", "unterminated"),
        ] {
            let e = ListenSpec::parse(s).expect_err(s);
            assert!(e.message.contains(needle), "{s}: {}", e.message);
        }
        let e = ListenSpec::parse("udp:127.0.0.1:5060 bogus").unwrap_err();
        assert_eq!(e.at, 19);
    }

    #[test]
    fn expand() {
        let o = ExpandOptions::default();
        let v = p("127.0.0.1").expand(&o).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].proto, Proto::Udp);
        assert_eq!(v[1].proto, Proto::Tcp);
        assert_eq!(v[0].addr, "127.0.0.1:5060".parse().unwrap());
        let v = p("127.0.0.1")
            .expand(&ExpandOptions {
                default_port: 5090,
                disable_tcp: true,
            })
            .unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].addr.port(), 5090);
        let v = p("udp:lo:5071").expand(&o).unwrap();
        assert!(v
            .iter()
            .any(|e| e.addr == "127.0.0.1:5071".parse().unwrap()));
        let v = p("udp:localhost:5070").expand(&o).unwrap();
        assert_eq!(v.len(), 1);
        assert!(v[0].addr.ip().is_loopback());
        let e = p("udp:nonexist0:5075").expand(&o).unwrap_err();
        assert!(
            e.message.contains("could not resolve `nonexist0`"),
            "{}",
            e.message
        );
    }
}
