//! The core's memory and resolver commands: `pkg.*`, `shm.report`,
//! `mod.stats` / `mod.mem_stats` / `mod.mem_statsx`, `dns.*` and
//! `dst_blocklist.*`.
//!
//! siprd is one process with one heap: the figures are the process' own
//! (resident memory, its high-water mark and, with `SIPRD_COUNT_ALLOCS`, the
//! live heap bytes). It keeps no fragment lists and does not attribute
//! memory to modules, so those fields read 0 / empty. It has no DNS cache and
//! no destination blocklist: those commands answer as Kamailio does with
//! `use_dns_cache=no` and `use_dst_blocklist=no`.

use super::core_cmds::{processes_ranked, Handler};
use crate::rpc::{RpcError, RpcRegistry, Scan};
use crate::runtime::Runtime;
use serde_json::{json, Value as Json};
use std::sync::{Arc, OnceLock, Weak};

/// The process' memory: (total, used, real_used, max_used) in bytes.
fn figures() -> (u64, u64, u64, u64) {
    let (rss, hwm) = crate::stats::proc_memory();
    let used = crate::memstat::live_bytes().unwrap_or(rss);
    (rss, used, rss, hwm.max(rss))
}

const DNS_DISABLED: &str = "dns cache support disabled (see use_dns_cache)";
const DST_DISABLED: &str = "dst blocklist support disabled";

fn runtime(r: &Arc<OnceLock<Weak<Runtime>>>) -> Result<Arc<Runtime>, RpcError> {
    r.get()
        .and_then(Weak::upgrade)
        .ok_or_else(|| RpcError::new(500, "Server not ready"))
}

/// One `pkg.stats` entry.
fn pkg_entry(
    (total, used, real_used, _): (u64, u64, u64, u64),
    index: usize,
    pid: u32,
    rank: i64,
    desc: &str,
) -> Json {
    json!({
        "entry": index,
        "pid": pid,
        "rank": rank,
        "used": used,
        "free": total.saturating_sub(real_used),
        "real_used": real_used,
        "total_size": total,
        "total_frags": 0,
        "desc": desc,
    })
}

/// `pkg.stats [pid|rank|index N]`: the filter, as Kamailio checks it.
enum PkgFilter {
    All,
    Pid(i64),
    Rank(i64),
    Index(i64),
}

fn pkg_filter(p: &[Json]) -> Result<PkgFilter, RpcError> {
    let mut scan = Scan::new(p);
    // a first parameter that is not a string: no filter
    let Ok(Some(kind)) = scan.opt_str() else {
        return Ok(PkgFilter::All);
    };
    let value = scan
        .int()
        .map_err(|_| RpcError::new(500, "One more parameter expected"))?;
    match kind.as_str() {
        "pid" => Ok(PkgFilter::Pid(value)),
        "rank" => Ok(PkgFilter::Rank(value)),
        "index" => Ok(PkgFilter::Index(value)),
        _ => Err(RpcError::new(500, "Invalid filter type")),
    }
}

/// `mod.stats MODULE|all pkg|shm|all`: one "Module: X" line, then a
/// structure per memory kind (siprd attributes no memory to modules: each
/// holds only `Total: 0`), then an empty line.
fn mod_stats(rt: &Runtime, p: &[Json]) -> Result<Json, RpcError> {
    let module = match p.first() {
        Some(Json::String(s)) => s.clone(),
        _ => return Err(RpcError::new(500, "Module name or \"all\" needed")),
    };
    let kinds = match p.get(1).and_then(Json::as_str) {
        Some("pkg") | Some("shm") => 1,
        Some("all") => 2,
        _ => return Err(RpcError::new(500, "\"pkg\" or \"shm\" or \"all\" needed")),
    };
    let modules: Vec<String> = if module == "all" {
        let mut names: Vec<String> = rt
            .rpc
            .call("core.modules", &[])
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        names.push("core".into());
        names
    } else {
        vec![module]
    };
    let mut out = Vec::new();
    for m in modules {
        out.push(Json::String(format!("Module: {m}")));
        for _ in 0..kinds {
            out.push(json!({"Total": 0}));
        }
        out.push(Json::String(String::new()));
    }
    Ok(Json::Array(out))
}

pub fn register(
    rpc: &mut RpcRegistry,
    rt: &Arc<OnceLock<Weak<Runtime>>>,
    serving: &Arc<parking_lot::Mutex<Vec<&'static str>>>,
) {
    let mut add = |name: &'static str, help: &'static str, f: Handler| {
        if rpc.get(name).is_none() {
            rpc.add(name, help, move |p| f(p));
        }
    };
    add(
        "pkg.info",
        "Returns the private memory manager's name and size (siprd: the system allocator, the process' resident memory).",
        Box::new(|_| Ok(json!({"name": "system", "size": figures().0}))),
    );
    let (r, sv) = (rt.clone(), serving.clone());
    add(
        "pkg.stats",
        "Returns private memory statistics per process (siprd: one process; each entry shows its figures). Filters: pid N, rank N, index N.",
        Box::new(move |p| {
            let rt = runtime(&r)?;
            let filter = pkg_filter(p)?;
            let pid = std::process::id();
            let procs = processes_ranked(&rt, &sv.lock());
            let mem = figures();
            if let PkgFilter::Pid(want) = filter {
                if want != i64::from(pid) {
                    return Err(RpcError::new(500, "No such pid"));
                }
            }
            Ok(Json::Array(
                procs
                    .iter()
                    .enumerate()
                    .filter(|(i, (_, rank))| match filter {
                        // every entry carries the process' one pid: its first
                        PkgFilter::Pid(_) => *i == 0,
                        PkgFilter::Rank(want) => *rank == want,
                        PkgFilter::Index(want) => *i as i64 == want,
                        PkgFilter::All => true,
                    })
                    .take(match filter {
                        PkgFilter::All => usize::MAX,
                        _ => 1,
                    })
                    .map(|(i, (desc, rank))| pkg_entry(mem, i, pid, *rank, desc))
                    .collect(),
            ))
        }),
    );
    add(
        "shm.report",
        "Returns shared memory report (siprd: the process' memory; no fragment list).",
        Box::new(|_| {
            let (total, used, real_used, max_used) = figures();
            let mut m = serde_json::Map::new();
            m.insert("total_size".into(), json!(total));
            m.insert("free_size_s".into(), json!(total.saturating_sub(real_used)));
            m.insert("used_size_s".into(), json!(used));
            m.insert("real_used_s".into(), json!(real_used));
            m.insert("max_used_s".into(), json!(max_used));
            for k in ["free_frags", "used_frags", "total_frags"] {
                m.insert(k.into(), json!(0));
            }
            for frag in [
                "max_free_frag",
                "max_used_frag",
                "min_free_frag",
                "min_used_frag",
            ] {
                m.insert(format!("{frag}_size"), json!(0));
                for f in ["file", "func", "mname"] {
                    m.insert(format!("{frag}_{f}"), json!(""));
                }
                m.insert(format!("{frag}_line"), json!(0));
            }
            Ok(Json::Object(m))
        }),
    );
    for (name, help) in [
        (
            "mod.stats",
            "Print private and shared memory used by modules (siprd attributes none: Total 0).",
        ),
        (
            "mod.mem_stats",
            "Print private and shared memory used by modules (siprd attributes none: Total 0).",
        ),
        (
            "mod.mem_statsx",
            "Print private and shared memory used by modules (siprd attributes none: Total 0).",
        ),
    ] {
        let r = rt.clone();
        add(name, help, Box::new(move |p| mod_stats(&*runtime(&r)?, p)));
    }
    register_dns(&mut add);
}

/// `dns.*` and `dst_blocklist.*`: siprd resolves through the system resolver
/// on each send and keeps no cache or blocklist, so every command answers as
/// Kamailio does with the feature disabled. The `add_*` commands read their
/// parameters first, as Kamailio does.
fn register_dns(add: &mut impl FnMut(&'static str, &'static str, Handler)) {
    for name in [
        "dns.mem_info",
        "dns.debug",
        "dns.debug_all",
        "dns.view",
        "dns.lookup",
        "dns.delete_all",
        "dns.delete_all_force",
        "dns.delete_a",
        "dns.delete_aaaa",
        "dns.delete_srv",
        "dns.delete_naptr",
        "dns.delete_cname",
        "dns.delete_txt",
        "dns.delete_ebl",
        "dns.delete_ptr",
    ] {
        add(
            name,
            "DNS cache command (siprd has no DNS cache: disabled).",
            Box::new(|_| Err(RpcError::new(500, DNS_DISABLED))),
        );
    }
    // name, ttl, address, flags
    for name in ["dns.add_a", "dns.add_aaaa"] {
        add(
            name,
            "Adds an A/AAAA record to the DNS cache (siprd has no DNS cache).",
            Box::new(|p| {
                let mut s = Scan::new(p);
                s.str()?;
                s.int()?;
                s.str()?;
                s.int()?;
                Err(RpcError::new(400, "Failed to add the entry to the cache"))
            }),
        );
    }
    // name, ttl, priority, weight, port, target, flags
    add(
        "dns.add_srv",
        "Adds an SRV record to the DNS cache (siprd has no DNS cache).",
        Box::new(|p| {
            let mut s = Scan::new(p);
            s.str()?;
            for _ in 0..4 {
                s.int()?;
            }
            s.str()?;
            s.int()?;
            Err(RpcError::new(400, "Failed to add the entry to the cache"))
        }),
    );
    for name in [
        "dst_blocklist.mem_info",
        "dst_blocklist.debug",
        "dst_blocklist.view",
        "dst_blocklist.delete_all",
        "dst_blocklist.add",
    ] {
        add(
            name,
            "Destination blocklist command (siprd has no blocklist: disabled).",
            Box::new(|_| Err(RpcError::new(500, DST_DISABLED))),
        );
    }
}
