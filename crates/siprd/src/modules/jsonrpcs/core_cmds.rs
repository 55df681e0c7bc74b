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

/// Echo: scalars come back as strings (Kamailio reads them with `*.s`).
fn echo(params: &[Json]) -> Json {
    Json::Array(
        params
            .iter()
            .map(|p| match p {
                Json::String(_) => p.clone(),
                Json::Number(n) => Json::String(n.to_string()),
                Json::Bool(b) => Json::String(i32::from(*b).to_string()),
                other => Json::String(other.to_string()),
            })
            .collect(),
    )
}

/// Thread descriptions in Kamailio's process-table style. siprd is one
/// process: every entry carries the same pid.
fn processes(rt: &Runtime, serving: &[&str]) -> Vec<String> {
    // Kamailio's order: UDP receivers per socket, timers, module processes,
    // then the TCP workers (shared by every TCP socket) and the TCP main.
    let mut out = vec!["main process - attendant".to_string()];
    let mut tcp = false;
    for l in rt.listeners() {
        if l.proto.as_str() == "udp" {
            for i in 0..rt.settings.children {
                out.push(format!("udp receiver child={i} sock={}", l.addr));
            }
        } else {
            tcp = true;
        }
    }
    out.extend(serving.iter().map(|s| s.to_string()));
    if tcp {
        for i in 0..rt.settings.tcp_children {
            out.push(format!("tcp receiver (generic) child={i}"));
        }
        out.push("tcp main process".into());
    }
    out
}

type Handler = Box<dyn Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync>;

/// The statistics names of a stats.* call: every parameter must be a
/// string (Kamailio reads them as strings; a number is refused).
fn string_params(p: &[Json]) -> Option<Vec<&str>> {
    if p.is_empty() {
        return None;
    }
    p.iter().map(Json::as_str).collect()
}

/// `stats.get_statistics` and `stats.reset_statistics` (kex's in Kamailio;
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

/// Reads one value from tm's counters.
type TmField = Box<dyn Fn(&Weak<Runtime>) -> u64 + Send + Sync>;

/// Kamailio's `tmx:` group, computed from tm's counters (`tm.stats`) when tm
/// is loaded. Names tm does not count stay 0.
pub fn register_tmx(rt: &Arc<Runtime>) {
    if rt.rpc.get("tm.stats").is_none() {
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
        "core.info",
        "Verbose info, including version number, compile flags, compiler,repository hash etc.",
        Box::new(|_| {
            Ok(json!({
                "version": format!("siprd {}", env!("CARGO_PKG_VERSION")),
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
    add(
        "core.shmmem",
        "Returns shared memory info (siprd has no shared memory pool: the process' resident memory).",
        Box::new(|p| {
            // optional unit, as Kamailio: b (default), k, m, g
            let shift = match p.first().and_then(Json::as_str) {
                Some("k" | "K" | "kb" | "KB") => 10,
                Some("m" | "M" | "mb" | "MB") => 20,
                Some("g" | "G" | "gb" | "GB") => 30,
                _ => 0,
            };
            let (rss, hwm) = crate::stats::proc_memory();
            let (rss, hwm) = (rss >> shift, hwm >> shift);
            // With SIPRD_COUNT_ALLOCS: the live heap bytes, exact.
            let used = crate::memstat::live_bytes().map_or(rss, |b| b >> shift);
            Ok(json!({
                "total": rss,
                "free": 0,
                "used": used,
                "real_used": rss,
                "max_used": hwm,
                "fragments": 0,
            }))
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
    register_stats(rpc, rt);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_stringifies() {
        assert_eq!(echo(&[json!("a"), json!(1)]), json!(["a", "1"]));
        assert!(ctime(0).contains("1970"));
    }
}
