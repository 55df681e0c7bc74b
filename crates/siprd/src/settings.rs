//! Core settings: the global parameters of the config that siprd honours,
//! with Kamailio's defaults.

use crate::core_params::{self, Support};
use siprd_script::Value;

/// One `alias=`: `[proto:]host[:port]`; no protocol or port matches any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alias {
    pub proto: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Alias {
    /// An unquoted `alias=udp:example.com:5060` (or `-A`): its parts.
    pub fn parse(text: &str) -> Alias {
        let (proto, rest) = match text.split_once(':') {
            Some((p, r)) if matches!(p, "udp" | "tcp" | "tls" | "sctp" | "ws" | "wss") => {
                (Some(p.to_string()), r)
            }
            _ => (None, text),
        };
        // `[v6]:port`, `host:port`, `host`
        let (host, port) = match rest.strip_prefix('[').and_then(|r| r.find(']')) {
            Some(end) => {
                let (h, p) = rest.split_at(end + 2);
                (h, p.strip_prefix(':'))
            }
            None => match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p)),
                _ => (rest, None),
            },
        };
        Alias {
            proto,
            host: host.to_string(),
            port: port.and_then(|p| p.parse().ok()),
        }
    }

    /// A quoted `alias="..."`: Kamailio takes the whole string as the host
    /// name (`"example.com:5060"` is a host with a colon, matching nothing).
    pub fn whole(text: &str) -> Alias {
        Alias {
            proto: None,
            host: text.to_string(),
            port: None,
        }
    }
}

/// What the core reads from global parameters.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    /// Raw `listen=` values in config order (parsed by the transport).
    pub listen: Vec<String>,
    /// `alias=` values: extra names that count as "myself".
    pub aliases: Vec<Alias>,
    pub port: u16,
    pub children: usize,
    pub tcp_children: usize,
    pub disable_tcp: bool,
    pub tcp_max_connections: usize,
    pub tcp_connection_lifetime: u32,
    /// `tcp_accept_no_cl`: a TCP message without Content-Length is taken
    /// (empty body) instead of closing the connection.
    pub tcp_accept_no_cl: bool,
    /// Full header line added to local replies (`Server: siprd`), unless disabled.
    pub server_header: String,
    pub server_signature: bool,
    pub user_agent_header: String,
    pub sip_warning: bool,
    pub debug: i32,
    pub log_stderror: bool,
    pub log_facility: String,
    pub log_prefix: String,
    pub log_name: String,
    pub max_while_loops: i32,
    /// `server_id` (`$sid`, `via_add_srvid`).
    pub server_id: i32,
    pub max_branches: usize,
    pub received_route_mode: i32,
    pub async_workers: usize,
    pub async_workers_group: Vec<String>,
    pub workdir: Option<String>,
    /// The directory of the config file (relative paths of modules, e.g.
    /// app_lua's script, resolve against it). Not a config parameter.
    pub config_dir: Option<std::path::PathBuf>,
    /// Preprocessor defines in definition order (`core.ppdefines`).
    pub ppdefines: Vec<(String, String)>,
    pub force_rport: bool,
    /// `auto_aliases` (default on): listener addresses' reverse names are aliases.
    pub auto_aliases: bool,
    /// `onsend_route_reply`: run onsend_route also for relayed replies.
    pub onsend_route_reply: bool,
    pub advertised_address: Option<String>,
    pub advertised_port: Option<u16>,
    /// `cfgengine`: "native" (routes in the config) or "lua" (KEMI).
    pub cfgengine: String,
    /// `kemi.*_callback` function names.
    pub kemi_callbacks: Vec<(String, String)>,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            listen: Vec::new(),
            aliases: Vec::new(),
            port: 5060,
            children: 8,
            tcp_children: 8,
            disable_tcp: false,
            tcp_max_connections: 2048,
            tcp_accept_no_cl: false,
            tcp_connection_lifetime: 120,
            server_header: format!("Server: siprd ({})", env!("CARGO_PKG_VERSION")),
            server_signature: true,
            user_agent_header: format!("User-Agent: siprd ({})", env!("CARGO_PKG_VERSION")),
            sip_warning: false,
            debug: 0,
            log_stderror: true,
            log_facility: "LOG_DAEMON".into(),
            log_prefix: String::new(),
            log_name: "siprd".into(),
            max_while_loops: 100,
            server_id: 0,
            max_branches: 12,
            received_route_mode: 0,
            async_workers: 0,
            async_workers_group: Vec::new(),
            workdir: None,
            config_dir: None,
            ppdefines: Vec::new(),
            force_rport: false,
            auto_aliases: true,
            onsend_route_reply: false,
            advertised_address: None,
            advertised_port: None,
            cfgengine: "native".into(),
            kemi_callbacks: Vec::new(),
        }
    }
}

fn as_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Int(i) => Ok(*i != 0),
        Value::Str(s) => match s.to_ascii_lowercase().as_slice() {
            b"yes" | b"on" | b"true" | b"1" => Ok(true),
            b"no" | b"off" | b"false" | b"0" => Ok(false),
            _ => Err("expected yes/no, on/off or a number".into()),
        },
        Value::Null => Err("expected a value".into()),
    }
}

fn as_int(v: &Value) -> Result<i32, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => other
            .try_int()
            .ok_or_else(|| "expected an integer".to_string()),
    }
}

/// Most threads one setting may ask for: a typo such as `children=2000000000`
/// is a config error, not a start-up that spawns threads until memory runs out.
pub const MAX_THREADS: usize = 1024;

/// A number of threads: 0..=MAX_THREADS.
pub fn as_threads(v: &Value) -> Result<usize, String> {
    let n = as_count(v)?;
    if n > MAX_THREADS {
        return Err(format!("{n} threads is too many (at most {MAX_THREADS})"));
    }
    Ok(n)
}

fn as_count(v: &Value) -> Result<usize, String> {
    let i = as_int(v)?;
    usize::try_from(i).map_err(|_| "expected a non-negative integer".to_string())
}

fn as_string(v: &Value) -> String {
    v.to_string()
}

/// The log levels Kamailio accepts by name for `debug=` and `corelog=`.
fn log_level(v: &Value) -> Result<i32, String> {
    if let Value::Str(s) = v {
        let level = match s.as_ref() {
            b"L_ALERT" => -5,
            b"L_BUG" => -4,
            b"L_CRIT2" => -3,
            b"L_CRIT" => -2,
            b"L_ERR" => -1,
            b"L_WARN" => 0,
            b"L_NOTICE" => 1,
            b"L_INFO" => 2,
            b"L_DBG" => 3,
            _ => return as_int(v),
        };
        return Ok(level);
    }
    as_int(v)
}

impl CoreSettings {
    /// Apply one global parameter. Unknown names are refused (with a hint from
    /// the caller); known ones without meaning for siprd are accepted.
    pub fn apply(&mut self, name: &str, value: &Value) -> Result<Support, String> {
        let Some(support) = core_params::lookup(name) else {
            return Err(format!("unknown global parameter `{name}`"));
        };
        if name.starts_with("kemi.") {
            self.kemi_callbacks
                .push((name.to_string(), as_string(value)));
            return Ok(support);
        }
        match name {
            "listen" => self.listen.push(as_string(value)),
            "alias" => self.aliases.push(Alias::parse(&as_string(value))),
            "port" => {
                self.port =
                    u16::try_from(as_int(value)?).map_err(|_| "port out of range".to_string())?
            }
            "children" => self.children = as_threads(value)?.max(1),
            "tcp_children" => self.tcp_children = as_threads(value)?.max(1),
            "disable_tcp" => self.disable_tcp = as_bool(value)?,
            "tcp_accept_no_cl" => self.tcp_accept_no_cl = as_bool(value)?,
            "tcp_max_connections" => self.tcp_max_connections = as_count(value)?,
            "tcp_connection_lifetime" => {
                self.tcp_connection_lifetime = as_int(value)?.max(1) as u32
            }
            "server_header" => self.server_header = as_string(value),
            "server_signature" => self.server_signature = as_bool(value)?,
            "user_agent_header" => self.user_agent_header = as_string(value),
            "sip_warning" => self.sip_warning = as_bool(value)?,
            "debug" => self.debug = log_level(value)?,
            "log_stderror" => self.log_stderror = as_bool(value)?,
            "log_facility" => self.log_facility = as_string(value),
            "log_prefix" => self.log_prefix = as_string(value),
            "log_name" => self.log_name = as_string(value),
            "max_while_loops" => self.max_while_loops = as_int(value)?,
            "server_id" => self.server_id = as_int(value)?,
            "max_branches" => self.max_branches = as_count(value)?.clamp(1, 31),
            "received_route_mode" => self.received_route_mode = as_int(value)?,
            "async_workers" => self.async_workers = as_threads(value)?,
            "async_workers_group" => self.async_workers_group.push(as_string(value)),
            "workdir" | "wdir" => self.workdir = Some(as_string(value)),
            "force_rport" => self.force_rport = as_bool(value)?,
            "auto_aliases" => self.auto_aliases = as_bool(value)?,
            "onsend_route_reply" => self.onsend_route_reply = as_bool(value)?,
            "advertised_address" => self.advertised_address = Some(as_string(value)),
            "advertised_port" => {
                self.advertised_port = Some(
                    u16::try_from(as_int(value)?).map_err(|_| "port out of range".to_string())?,
                )
            }
            "cfgengine" => self.cfgengine = as_string(value),
            "corelog" | "core_log" => {
                log_level(value)?;
            }
            _ => {}
        }
        Ok(support)
    }
}

#[cfg(test)]
mod tests {
    use super::Alias;

    #[test]
    fn alias_forms() {
        let a = |p: Option<&str>, h: &str, port: Option<u16>| Alias {
            proto: p.map(str::to_string),
            host: h.to_string(),
            port,
        };
        assert_eq!(
            Alias::parse("udp:other.org:5070"),
            a(Some("udp"), "other.org", Some(5070))
        );
        assert_eq!(Alias::parse("bare.org"), a(None, "bare.org", None));
        assert_eq!(
            Alias::parse("example.com:5060"),
            a(None, "example.com", Some(5060))
        );
        assert_eq!(
            Alias::parse("tcp:[::1]:5062"),
            a(Some("tcp"), "[::1]", Some(5062))
        );
        assert_eq!(
            Alias::whole("example.com:5060"),
            a(None, "example.com:5060", None)
        );
    }

    use super::*;

    #[test]
    fn applies_known_params() {
        let mut s = CoreSettings::default();
        s.apply("children", &Value::Int(2)).unwrap();
        s.apply("disable_tcp", &Value::from_static("yes")).unwrap();
        s.apply("debug", &Value::from_static("L_INFO")).unwrap();
        s.apply("listen", &Value::from_static("udp:127.0.0.1:5060"))
            .unwrap();
        assert_eq!(s.children, 2);
        assert!(s.disable_tcp);
        assert_eq!(s.debug, 2);
        assert_eq!(s.listen, vec!["udp:127.0.0.1:5060".to_string()]);
        assert_eq!(
            s.apply("shm_mem_size", &Value::Int(64)),
            Ok(Support::Ignored)
        );
    }

    #[test]
    fn refuses_unknown_and_bad_values() {
        let mut s = CoreSettings::default();
        assert!(s.apply("chilren", &Value::Int(2)).is_err());
        assert!(s.apply("port", &Value::Int(70000)).is_err());
        assert!(s
            .apply("disable_tcp", &Value::from_static("maybe"))
            .is_err());
    }
}
