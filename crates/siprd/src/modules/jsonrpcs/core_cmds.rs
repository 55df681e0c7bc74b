//! The core's RPC commands (`core.*`, `stats.*`). Registered by jsonrpcs
//! when no other module registered them first.

use crate::rpc::{RpcError, RpcRegistry};
use crate::runtime::Runtime;
use crate::stats::Stat;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn version_text() -> String {
    format!(
        "siprd {} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// `Mon Nov 23 19:28:09 2026` (local time, as ctime).
fn ctime(secs: i64) -> String {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r and strftime write into our stack buffers.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return secs.to_string();
        }
        let mut buf = [0u8; 64];
        let n = libc::strftime(
            buf.as_mut_ptr().cast(),
            buf.len(),
            c"%a %b %e %H:%M:%S %Y".as_ptr(),
            &tm,
        );
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Echo: strings and numbers come back as strings (Kamailio reads them
/// with `*.s`: a real gives its integer part), up to the first parameter
/// that is neither.
fn echo(params: &[Json]) -> Json {
    Json::Array(
        params
            .iter()
            .map_while(|p| match p {
                Json::Number(n) if crate::rpc::is_binrpc() => Some(Json::String(n.to_string())),
                _ => str_or_num_param(p).map(Json::String),
            })
            .collect(),
    )
}

/// A parameter read as an integer, the way Kamailio's RPC layer reads one:
/// numbers are truncated, `true` is 1, anything else (strings included) 0.
/// Out-of-range numbers saturate (Kamailio 5.6 wraps them to INT_MIN).
pub fn int_param(v: &Json) -> i64 {
    match v {
        Json::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .unwrap_or(0)
            .clamp(i64::from(i32::MIN), i64::from(i32::MAX)),
        Json::Bool(b) => i64::from(*b),
        _ => 0,
    }
}

/// A parameter read as a string where Kamailio also takes a number (its
/// integer part); None for anything else. (Kamailio 5.6 prints a negative
/// number as its unsigned 64-bit wrap; siprd keeps the sign.)
pub fn str_or_num_param(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(
            n.as_i64()
                .or_else(|| n.as_f64().map(|f| f as i64))
                .map_or_else(|| n.to_string(), |i| i.to_string()),
        ),
        _ => None,
    }
}

/// `jsonrpc.echo`: the first parameter as a string (a number gives its
/// integer part), then the second as an integer (0 when absent or not a
/// number); nothing when the first is neither a string nor a number.
pub fn jsonrpc_echo(p: &[Json]) -> Json {
    let Some(first) = p.first().and_then(str_or_num_param) else {
        return Json::Array(Vec::new());
    };
    let second = p.get(1).map_or(0, int_param);
    json!([first, second])
}

/// `0d 0h 0m 10s`.
fn uptime_text(secs: u64) -> String {
    format!(
        "{}d {}h {}m {}s",
        secs / 86400,
        secs % 86400 / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `core.shmmem` / `shm.stats` figures, in units of 2^shift bytes.
fn memory_figures(shift: u32) -> Json {
    let (rss, hwm) = crate::stats::proc_memory();
    let (rss, hwm) = (rss >> shift, hwm >> shift);
    // With SIPRD_COUNT_ALLOCS: the live heap bytes, exact.
    let used = crate::memstat::live_bytes().map_or(rss, |b| b >> shift);
    json!({
        "total": rss,
        "free": 0,
        "used": used,
        "real_used": rss,
        "max_used": hwm,
        "fragments": 0,
    })
}

/// Thread descriptions in Kamailio's process-table style. siprd is one
/// process: every entry carries the same pid.
fn processes(rt: &Runtime, serving: &[&str]) -> Vec<String> {
    processes_ranked(rt, serving)
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// Process descriptions with Kamailio's ranks: 0 for main, 1.. for SIP
/// receivers (UDP, then TCP), -2 for module processes, -4 for TCP main.
pub(super) fn processes_ranked(rt: &Runtime, serving: &[&str]) -> Vec<(String, i64)> {
    // Kamailio's order: UDP receivers per socket, timers, module processes,
    // then the TCP workers (shared by every TCP socket) and the TCP main.
    let mut out = vec![("main process - attendant".to_string(), 0)];
    let mut rank = 0;
    let mut tcp = false;
    for l in rt.listeners() {
        if l.proto.as_str() == "udp" {
            for i in 0..rt.settings.children {
                rank += 1;
                out.push((format!("udp receiver child={i} sock={}", l.addr), rank));
            }
        } else {
            tcp = true;
        }
    }
    out.extend(serving.iter().map(|s| (s.to_string(), -2)));
    if tcp {
        for i in 0..rt.settings.tcp_children {
            rank += 1;
            out.push((format!("tcp receiver (generic) child={i}"), rank));
        }
        out.push(("tcp main process".into(), -4));
    }
    out
}

pub(super) type Handler = Box<dyn Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync>;

/// The statistics names of a stats.* call: every parameter must be a
/// string (Kamailio reads them as strings; a number is refused).
fn string_params(p: &[Json]) -> Option<Vec<&str>> {
    if p.is_empty() {
        return None;
    }
    p.iter().map(Json::as_str).collect()
}

/// `stats.get_statistics`, `fetch`, `fetchn`, `clear_statistics` and
/// `reset_statistics` (kex's in Kamailio;
/// registered by kex, or by jsonrpcs when kex is not loaded).
pub fn register_stats(rpc: &mut RpcRegistry, rt: &Arc<OnceLock<Weak<Runtime>>>) {
    let mut add = |name: &'static str, help: &'static str, f: Handler| {
        if rpc.get(name).is_none() {
            rpc.add(name, help, move |p| f(p));
        }
    };
    let r = rt.clone();
    add(
        "stats.get_statistics",
        "Print the values of the statistics: `all`, a group (`sl:`) or names.",
        Box::new(move |p| {
            let rt = r
                .get()
                .and_then(Weak::upgrade)
                .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
            let names = string_params(p)
                .ok_or_else(|| RpcError::new(400, "Please provide which stats to retrieve"))?;
            let mut out = Vec::new();
            for n in names {
                rt.rpc.stats.get(n, &mut out);
            }
            Ok(Json::Array(out.into_iter().map(Json::String).collect()))
        }),
    );
    for (name, numbers) in [("stats.fetch", false), ("stats.fetchn", true)] {
        let r = rt.clone();
        add(
            name,
            if numbers {
                "Return the values of statistics as numbers: `all`, a group (`sl:`) or names."
            } else {
                "Return the values of statistics as strings: `all`, a group (`sl:`) or names."
            },
            Box::new(move |p| {
                let rt = r
                    .get()
                    .and_then(Weak::upgrade)
                    .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
                let names = string_params(p)
                    .ok_or_else(|| RpcError::new(400, "Please provide which stats to retrieve"))?;
                let mut found = Vec::new();
                for n in names {
                    rt.rpc.stats.fetch(n, &mut found);
                }
                let out: serde_json::Map<String, Json> = found
                    .into_iter()
                    .map(|(k, v)| {
                        let v = if numbers {
                            json!(v)
                        } else {
                            json!(v.to_string())
                        };
                        (k, v)
                    })
                    .collect();
                Ok(Json::Object(out))
            }),
        );
    }
    let r = rt.clone();
    add(
        "stats.clear_statistics",
        "Reset statistics and print their values: `all`, a group (`sl:`) or names.",
        Box::new(move |p| {
            let rt = r
                .get()
                .and_then(Weak::upgrade)
                .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
            let names =
                string_params(p).ok_or_else(|| RpcError::new(400, "Please provide stats name"))?;
            // Kamailio answers with the last line printed (each print replaces
            // the previous one), or an empty structure when nothing matched.
            let last = names.into_iter().flat_map(|n| rt.rpc.stats.clear(n)).last();
            Ok(last.map_or_else(|| Json::Object(Default::default()), Json::String))
        }),
    );
    let r = rt.clone();
    add(
        "stats.reset_statistics",
        "Reset the values of statistics: `all`, a group (`sl:`) or names.",
        Box::new(move |p| {
            let rt = r
                .get()
                .and_then(Weak::upgrade)
                .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
            let names =
                string_params(p).ok_or_else(|| RpcError::new(400, "Please provide stats name"))?;
            for n in names {
                rt.rpc.stats.reset(n);
            }
            Ok(Json::Object(Default::default()))
        }),
    );
}

/// Kamailio's `dns:` group (siprd asks the system resolver; it has no slow
/// query threshold: `slow_dns_request` stays 0) and, with TCP, the `tcp:`
/// group from the transport's counters and its connection table
/// (`send_timeout` is 0: siprd's writes are queued, a full queue counts in
/// `sendq_full`).
fn register_net(rt: &Arc<Runtime>) {
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
    let stats = &rt.rpc.stats;
    let load = |c: &'static AtomicU64| Stat::Computed(Arc::new(move || c.load(Relaxed)));
    stats.add(
        "dns",
        "failed_dns_request",
        load(&crate::forward::FAILED_DNS),
    );
    stats.add("dns", "slow_dns_request", Stat::Computed(Arc::new(|| 0)));
    // As Kamailio: the `tcp:` group exists unless `disable_tcp=yes`, also
    // without a TCP listener (its counters stay 0 then).
    if rt.settings.disable_tcp {
        return;
    }
    let counters = rt.tcp_snapshot().map(|t| t.counters).unwrap_or_default();
    type Field = fn(&crate::transport::TcpCounters) -> &AtomicU64;
    let fields: [(&str, Field); 8] = [
        ("established", |c| &c.established),
        ("passive_open", |c| &c.passive_open),
        ("connect_success", |c| &c.connect_success),
        ("connect_failed", |c| &c.connect_failed),
        ("local_reject", |c| &c.local_reject),
        ("sendq_full", |c| &c.sendq_full),
        ("con_timeout", |c| &c.con_timeout),
        ("con_reset", |c| &c.con_reset),
    ];
    for (name, field) in fields {
        let c = counters.clone();
        let read = move || field(&c).load(Relaxed);
        stats.add("tcp", name, Stat::Computed(Arc::new(read)));
    }
    stats.add("tcp", "send_timeout", Stat::Computed(Arc::new(|| 0)));
    let w = Arc::downgrade(rt);
    stats.add(
        "tcp",
        "current_opened_connections",
        Stat::Computed(Arc::new(move || {
            w.upgrade()
                .and_then(|rt| rt.tcp_snapshot())
                .map_or(0, |t| t.conns.len() as u64)
        })),
    );
    let w = Arc::downgrade(rt);
    stats.add(
        "tcp",
        "current_write_queue_size",
        Stat::Computed(Arc::new(move || {
            w.upgrade()
                .and_then(|rt| rt.tcp_snapshot())
                .map_or(0, |t| t.conns.iter().map(|c| c.queued as u64).sum())
        })),
    );
}

/// Reads one value from tm's counters.
type TmField = Box<dyn Fn(&Weak<Runtime>) -> u64 + Send + Sync>;

/// Kamailio's `tmx:` group, computed from tm's counters (`tm.stats`) when tm
/// is loaded. Names tm does not count stay 0.
pub fn register_tmx(rt: &Arc<Runtime>) {
    register_net(rt);
    // Kamailio's tmx module owns the group: none when only tm is loaded.
    let tmx_loaded = rt
        .rpc
        .call("core.modules", &[])
        .ok()
        .and_then(|v| v.as_array().map(|a| a.iter().any(|m| m == "tmx")))
        .unwrap_or(false);
    if rt.rpc.get("tm.stats").is_none() || !tmx_loaded {
        return;
    }
    let field = |rt: &Weak<Runtime>, f: &'static str| -> u64 {
        rt.upgrade()
            .and_then(|rt| rt.rpc.call("tm.stats", &[]).ok())
            .and_then(|v| v.get(f).and_then(Json::as_u64))
            .unwrap_or(0)
    };
    let computed = |f: TmField| {
        let w = Arc::downgrade(rt);
        Stat::Computed(Arc::new(move || f(&w)))
    };
    let stats = &rt.rpc.stats;
    for (name, f) in [
        ("active_transactions", "current"),
        ("inuse_transactions", "current"),
        ("UAS_transactions", "total"),
        ("rpl_generated", "rpl_generated"),
        ("rpl_sent", "rpl_sent"),
    ] {
        stats.add("tmx", name, computed(Box::new(move |w| field(w, f))));
    }
    stats.add(
        "tmx",
        "rpl_relayed",
        computed(Box::new(move |w| {
            field(w, "rpl_sent").saturating_sub(field(w, "rpl_generated"))
        })),
    );
    for name in [
        "2xx_transactions",
        "3xx_transactions",
        "4xx_transactions",
        "5xx_transactions",
        "6xx_transactions",
        "UAC_transactions",
        "rpl_absorbed",
        "rpl_received",
    ] {
        stats.add("tmx", name, Stat::Computed(Arc::new(|| 0)));
    }
}

pub fn register(
    rpc: &mut RpcRegistry,
    rt: &Arc<OnceLock<Weak<Runtime>>>,
    serving: &Arc<Mutex<Vec<&'static str>>>,
) {
    let started = (Instant::now(), now_secs());
    let mut add = |name: &'static str, help: &'static str, f: Handler| {
        if rpc.get(name).is_none() {
            rpc.add(name, help, move |p| f(p));
        }
    };
    add(
        "core.version",
        "Returns the version string of the server.",
        Box::new(|_| Ok(Json::String(version_text()))),
    );
    add(
        "core.echo",
        "Returns back its parameters.",
        Box::new(|p| Ok(echo(p))),
    );
    add(
        "core.uptime",
        "Returns uptime of SIP server.",
        Box::new(move |_| {
            Ok(json!({
                "now": ctime(now_secs()),
                "up_since": ctime(started.1),
                "uptime": started.0.elapsed().as_secs(),
            }))
        }),
    );
    add(
        "core.kill",
        "Kill the application.",
        Box::new(|p| {
            // as Kamailio: the signal is the parameter read as an integer
            // (SIGTERM without one: a clean stop); only this process gets it
            // (over BINRPC a parameter that is no integer is ignored: SIGTERM)
            let sig = crate::rpc::Scan::new(p)
                .int()
                .unwrap_or(i64::from(libc::SIGTERM));
            let sig = libc::c_int::try_from(sig).unwrap_or(0);
            tracing::info!("core.kill: sending signal {sig} to the server");
            // SAFETY: kill(2) on our own pid with a number the kernel validates.
            unsafe {
                libc::kill(libc::getpid(), sig);
            }
            Ok(json!({}))
        }),
    );
    add(
        "core.info",
        "Verbose info, including version number, compile flags, compiler,repository hash etc.",
        Box::new(|_| {
            Ok(json!({
                "version": format!("siprd {}", env!("CARGO_PKG_VERSION")),
                // Kamailio's repository id; its packages say "unknown "
                "id": "unknown ",
                "compiler": "rustc",
                "compiled": "",
                "flags": "",
            }))
        }),
    );
    let (r, sv) = (rt.clone(), serving.clone());
    add(
        "core.ps",
        "Returns the description of running processes.",
        Box::new(move |_| {
            let rt = r
                .get()
                .and_then(Weak::upgrade)
                .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
            let pid = std::process::id();
            Ok(Json::Array(
                processes(&rt, &sv.lock())
                    .into_iter()
                    .flat_map(|d| [json!(pid), Json::String(d)])
                    .collect(),
            ))
        }),
    );
    let (r, sv) = (rt.clone(), serving.clone());
    add(
        "core.psx",
        "Returns the detailed description of running processes.",
        Box::new(move |_| {
            let rt = r
                .get()
                .and_then(Weak::upgrade)
                .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
            let pid = std::process::id();
            Ok(Json::Array(
                processes(&rt, &sv.lock())
                    .into_iter()
                    .enumerate()
                    .map(|(i, d)| json!({"IDX": i, "PID": pid, "DSC": d}))
                    .collect(),
            ))
        }),
    );
    // siprd has no shared memory pool: the process' resident memory.
    for name in ["core.shmmem", "shm.stats"] {
        add(
            name,
            "Returns shared memory info (siprd has no shared memory pool: the process' resident memory).",
            Box::new(|p| {
                // optional unit, as Kamailio: b (default), k, m, g
                let shift = match p.first().and_then(Json::as_str) {
                    Some("k" | "K" | "kb" | "KB") => 10,
                    Some("m" | "M" | "mb" | "MB") => 20,
                    Some("g" | "G" | "gb" | "GB") => 30,
                    _ => 0,
                };
                Ok(memory_figures(shift))
            }),
        );
    }
    add(
        "shm.info",
        "Returns the memory manager's name and size (siprd: the system allocator).",
        Box::new(|_| {
            let (rss, _) = crate::stats::proc_memory();
            Ok(json!({"name": "system", "size": rss}))
        }),
    );
    for (name, full) in [("core.ppdefines", false), ("core.ppdefines_full", true)] {
        let r = rt.clone();
        add(
            name,
            if full {
                "List preprocessor defines with their values."
            } else {
                "List preprocessor defines."
            },
            Box::new(move |_| {
                let rt = r
                    .get()
                    .and_then(Weak::upgrade)
                    .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
                Ok(Json::Array(
                    rt.settings
                        .ppdefines
                        .iter()
                        .map(|(n, v)| {
                            if full {
                                // an empty value prints "none", as Kamailio
                                let v = if v.is_empty() { "none" } else { v };
                                json!({"name": n, "type": 0, "value": v})
                            } else {
                                Json::String(n.clone())
                            }
                        })
                        .collect(),
                ))
            }),
        );
    }
    register_more(rpc, rt, serving, started);
    super::core_mem::register(rpc, rt, serving);
    register_stats(rpc, rt);
}

fn runtime(r: &Arc<OnceLock<Weak<Runtime>>>) -> Result<Arc<Runtime>, RpcError> {
    r.get()
        .and_then(Weak::upgrade)
        .ok_or_else(|| RpcError::new(500, "Server not ready"))
}

/// `core.printi` ... `core.tcp_options`.
fn register_more(
    rpc: &mut RpcRegistry,
    rt: &Arc<OnceLock<Weak<Runtime>>>,
    serving: &Arc<Mutex<Vec<&'static str>>>,
    started: (Instant, i64),
) {
    let mut add = |name: &'static str, help: &'static str, f: Handler| {
        if rpc.get(name).is_none() {
            rpc.add(name, help, move |p| f(p));
        }
    };
    add(
        "core.printi",
        "Returns back its integer parameters.",
        Box::new(|p| {
            // BINRPC refuses a parameter that is no integer; JSON-RPC reads
            // anything as one (a string or an object is 0)
            if !crate::rpc::is_binrpc() {
                return Ok(Json::Array(p.iter().map(|v| json!(int_param(v))).collect()));
            }
            // the values up to the first that is not an integer; that one's
            // error only when nothing was printed (as kamcmd shows it)
            let mut s = crate::rpc::Scan::new(p);
            let mut out = Vec::with_capacity(p.len());
            for _ in p {
                match s.int() {
                    Ok(v) => out.push(Json::from(v)),
                    Err(e) if out.is_empty() => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(Json::Array(out))
        }),
    );
    add(
        "core.prints",
        "Returns back its string parameters (up to the first one that is not a string).",
        Box::new(|p| {
            let out: Vec<Json> = p.iter().map_while(|v| v.as_str().map(Json::from)).collect();
            // over BINRPC a first parameter that is no string is an error
            if out.is_empty() && !p.is_empty() && crate::rpc::is_binrpc() {
                return Err(crate::rpc::Scan::new(p)
                    .str()
                    .err()
                    .unwrap_or_else(|| RpcError::new(400, "bad parameter")));
            }
            Ok(Json::Array(out))
        }),
    );
    add(
        "core.arg",
        "Print command line arguments.",
        Box::new(|_| Ok(Json::Array(std::env::args().map(Json::String).collect()))),
    );
    add(
        "core.pwd",
        "Returns the working directory of the server.",
        Box::new(|_| {
            let d = std::env::current_dir().map_err(|_| RpcError::new(500, "getcwd failed"))?;
            Ok(json!([d.to_string_lossy()]))
        }),
    );
    add(
        "core.runinfo",
        "Returns runtime info (name, version, start time, uptime).",
        Box::new(move |_| {
            let up = started.0.elapsed().as_secs();
            Ok(json!({
                "name": "siprd",
                "version": env!("CARGO_PKG_VERSION"),
                "sourceid": "unknown",
                "compiler": "rustc",
                "compiled": "",
                "time_now": ctime(now_secs()),
                "time_started": ctime(started.1),
                "uptime_secs": up,
                "utime_days": uptime_text(up),
            }))
        }),
    );
    add(
        "core.udp4_raw_info",
        "Returns the UDP IPv4 raw socket settings (siprd sends no raw packets).",
        Box::new(|_| Ok(json!({"udp4_raw": 0, "udp4_raw_mtu": 1500, "udp4_raw_ttl": 64}))),
    );
    add(
        "core.flags",
        "Returns the compile flags (siprd: the features it was built with).",
        Box::new(|_| Ok(Json::String("USE_TCP, DISABLE_NAGLE".into()))),
    );
    let r = rt.clone();
    add(
        "core.sockets_list",
        "Returns the list of listening sockets.",
        Box::new(move |_| {
            let rt = runtime(&r)?;
            let mut out = Vec::new();
            // Kamailio lists UDP sockets first, then TCP.
            for proto in ["udp", "tcp"] {
                for l in rt.listeners().iter().filter(|l| l.proto.as_str() == proto) {
                    let ip = l.addr.ip().to_string();
                    // A socket given by name shows the name, then its address.
                    let mut sock = serde_json::Map::new();
                    sock.insert("proto".into(), json!(proto));
                    match &l.host_name {
                        Some(name) => {
                            sock.insert("address".into(), json!(name));
                            sock.insert("ipaddress".into(), json!(ip));
                        }
                        None => {
                            sock.insert("address".into(), json!(ip));
                        }
                    }
                    sock.insert("port".into(), json!(l.addr.port().to_string()));
                    for k in ["mcast", "mhomed", "virtual"] {
                        sock.insert(k.into(), json!("no"));
                    }
                    out.push(Json::Object(sock));
                }
            }
            Ok(crate::rpc::keyed_list("socket", out))
        }),
    );
    let r = rt.clone();
    add(
        "core.aliases_list",
        "Returns the list of local SIP aliases.",
        Box::new(move |_| {
            let rt = runtime(&r)?;
            let aliases: Vec<Json> = rt
                .alias_list()
                .into_iter()
                .map(|(proto, host, port)| {
                    let port = port.map_or_else(|| json!("*"), |p| json!(p));
                    json!({"proto": proto, "address": host, "port": port})
                })
                .collect();
            Ok(json!({
                "myself_callbacks": "no",
                "aliases": crate::rpc::keyed_list("alias", aliases),
            }))
        }),
    );
    let (r, sv) = (rt.clone(), serving.clone());
    add(
        "core.psa",
        "Returns the attributes of running processes.",
        Box::new(move |_| {
            let rt = runtime(&r)?;
            let pid = std::process::id();
            Ok(Json::Array(
                processes_ranked(&rt, &sv.lock())
                    .into_iter()
                    .enumerate()
                    .map(|(i, (d, rank))| {
                        json!({"index": i, "pid": pid, "status": 1, "rank": rank, "description": d})
                    })
                    .collect(),
            ))
        }),
    );
    let r = rt.clone();
    add(
        "core.tcp_info",
        "Returns TCP related info.",
        Box::new(move |_| {
            let rt = runtime(&r)?;
            let Some(t) = tcp_state(&rt) else {
                return Err(RpcError::new(500, "tcp support disabled"));
            };
            Ok(json!({
                "readers": t.workers,
                "max_connections": t.max_connections,
                "max_tls_connections": 0,
                "opened_connections": t.conns.len(),
                "opened_tls_connections": 0,
                "write_queued_bytes": t.conns.iter().map(|c| c.queued).sum::<usize>(),
            }))
        }),
    );
    let r = rt.clone();
    add(
        "core.tcp_list",
        "Returns TCP connections details.",
        Box::new(move |_| {
            let rt = runtime(&r)?;
            let Some(t) = tcp_state(&rt) else {
                return Err(RpcError::new(500, "tcp support disabled"));
            };
            Ok(Json::Array(
                t.conns
                    .iter()
                    .map(|c| {
                        json!({
                            "id": c.id,
                            "type": "TCP",
                            "state": if c.connected { "CONN_OK" } else { "CONN_CONNECT" },
                            "timeout": c.idle_left.as_secs(),
                            "lifetime": t.lifetime.as_secs(),
                            "ref_count": 1,
                            "src_ip": c.peer.ip().to_string(),
                            "src_port": c.peer.port(),
                            "dst_ip": c.local.ip().to_string(),
                            "dst_port": c.local.port(),
                        })
                    })
                    .collect(),
            ))
        }),
    );
    let r = rt.clone();
    add(
        "core.tcp_options",
        "Returns active TCP options.",
        Box::new(move |_| {
            let rt = runtime(&r)?;
            let Some(t) = tcp_state(&rt) else {
                return Err(RpcError::new(500, "tcp support disabled"));
            };
            // What siprd does, in Kamailio's names: writes are asynchronous
            // (queued per connection), CRLF keep-alives are answered, there
            // is no TLS, no kernel keepalive and no connection aliasing.
            Ok(json!({
                "connect_timeout": t.connect_timeout.as_secs(),
                "send_timeout": t.connect_timeout.as_secs(),
                "connection_lifetime": t.lifetime.as_secs(),
                "max_connections(soft)": t.max_connections,
                "max_tls_connections(soft)": 0,
                "no_connect": 0,
                "fd_cache": 0,
                "async": 1,
                "connect_wait": 1,
                "conn_wq_max": t.max_queued,
                "wq_max": t.max_queued,
                "defer_accept": 0,
                "delayed_ack": 1,
                "syncnt": 0,
                "linger2": 0,
                "keepalive": 0,
                "keepidle": 0,
                "keepintvl": 0,
                "keepcnt": 0,
                "crlf_ping": 1,
                "accept_aliases": 0,
                "alias_flags": 0,
                "new_conn_alias_flags": 0,
            }))
        }),
    );
}

/// The TCP state the `core.tcp_*` commands show. As Kamailio: TCP is on
/// unless `disable_tcp=yes`, also without a TCP listener (no readers, no
/// connection, the configured limits).
fn tcp_state(rt: &crate::runtime::Runtime) -> Option<crate::transport::TcpSnapshot> {
    if rt.settings.disable_tcp {
        return None;
    }
    rt.tcp_snapshot().or_else(|| {
        let d = crate::transport::TransportConfig::default();
        Some(crate::transport::TcpSnapshot {
            workers: 0,
            max_connections: rt.settings.tcp_max_connections,
            lifetime: std::time::Duration::from_secs(u64::from(
                rt.settings.tcp_connection_lifetime,
            )),
            connect_timeout: d.tcp_connect_timeout,
            max_queued: d.tcp_max_queued.max(65536),
            conns: Vec::new(),
            counters: Default::default(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_readers() {
        assert_eq!(
            jsonrpc_echo(&[json!("a"), json!(1), json!({"x": 1})]),
            json!(["a", 1])
        );
        assert_eq!(jsonrpc_echo(&[json!("a"), json!("7")]), json!(["a", 0]));
        assert_eq!(jsonrpc_echo(&[json!(2.5), json!(3)]), json!(["2", 3]));
        assert_eq!(jsonrpc_echo(&[json!("a"), json!(true)]), json!(["a", 1]));
        assert_eq!(jsonrpc_echo(&[json!(true)]), json!([]));
        assert_eq!(jsonrpc_echo(&[]), json!([]));
        assert_eq!(int_param(&json!(9_999_999_999u64)), i64::from(i32::MAX));
        assert_eq!(int_param(&json!(-1.7)), -1);
        assert_eq!(int_param(&Json::Null), 0);
        assert_eq!(uptime_text(90061), "1d 1h 1m 1s");
    }

    #[test]
    fn echo_stringifies() {
        assert_eq!(echo(&[json!("a"), json!(1)]), json!(["a", "1"]));
        // a real gives its integer part, as Kamailio 5.6's jsonrpcs
        assert_eq!(
            echo(&[json!(2.7), json!(1e10), json!(true), json!("x")]),
            json!(["2", "10000000000"])
        );
        assert!(ctime(0).contains("1970"));
    }
}
