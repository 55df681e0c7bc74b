//! The core's RPC commands (`core.*`, `stats.*`). Registered by jsonrpcs
//! when no other module registered them first.

use crate::rpc::{RpcError, RpcRegistry};
use crate::runtime::Runtime;
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
fn processes(rt: &Runtime) -> Vec<String> {
    let mut out = vec!["main process - attendant".to_string()];
    for l in rt.listeners() {
        let proto = l.proto.as_str();
        let n = if proto == "udp" {
            rt.settings.children
        } else {
            rt.settings.tcp_children
        };
        for i in 0..n {
            out.push(format!("{proto} receiver child={i} sock={}", l.addr));
        }
    }
    out.push("JSONRPCS DATAGRAM".into());
    out
}

type Handler = Box<dyn Fn(&[Json]) -> Result<Json, RpcError> + Send + Sync>;

/// Resident and peak resident memory of the process, in bytes.
fn proc_memory() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub fn register(rpc: &mut RpcRegistry, rt: &Arc<OnceLock<Weak<Runtime>>>) {
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
                "id": "unknown",
                "compiler": "rustc",
                "compiled": "",
                "flags": "",
            }))
        }),
    );
    let r = rt.clone();
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
                processes(&rt)
                    .into_iter()
                    .flat_map(|d| [json!(pid), Json::String(d)])
                    .collect(),
            ))
        }),
    );
    let r = rt.clone();
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
                processes(&rt)
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
        Box::new(|_| {
            let (rss, hwm) = proc_memory();
            // With SIPRD_COUNT_ALLOCS: the live heap bytes, exact.
            let used = crate::memstat::live_bytes().unwrap_or(rss);
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
    add(
        "stats.get_statistics",
        "Print the values of the statistics (siprd keeps none yet: the list is empty).",
        Box::new(|p| {
            if p.is_empty() {
                return Err(RpcError::new(400, "Too few parameters"));
            }
            Ok(Json::Array(Vec::new()))
        }),
    );
    add(
        "stats.reset_statistics",
        "Reset the values of statistics (siprd keeps none yet).",
        Box::new(|p| {
            if p.is_empty() {
                return Err(RpcError::new(400, "Too few parameters"));
            }
            Ok(Json::Object(Default::default()))
        }),
    );
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
