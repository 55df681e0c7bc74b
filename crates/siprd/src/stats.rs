//! Statistics (`stats.get_statistics`, `stats.fetch`, `stats.reset_statistics` ...): named
//! values in groups (`core:rcv_requests`, `sl:200_replies` ...), registered at
//! start-up by the core and the modules. A counter is an atomic the owner
//! bumps on the message path (relaxed, no lock); the registry (read only by
//! RPC) maps names to those atomics or to values computed when read.

use parking_lot::RwLock;
use siprd_sip::Method;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

pub type Counter = Arc<ShardedCounter>;

/// Shards of one counter. Each thread bumps its own cache line, so workers on
/// different cores never contend on a statistic; readers (RPC) sum them.
const SHARDS: usize = 8;

#[repr(align(64))]
#[derive(Default)]
struct Shard(AtomicU64);

/// A counter bumped on the message path by many threads at once.
#[derive(Default)]
pub struct ShardedCounter {
    shards: [Shard; SHARDS],
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard, handed out round-robin.
    static SHARD: usize = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
}

impl ShardedCounter {
    pub fn add(&self, n: u64) {
        let i = SHARD.with(|i| *i);
        self.shards[i].0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn get(&self) -> u64 {
        self.shards
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.0.load(Ordering::Relaxed)))
    }

    /// Back to zero (an increment racing with the reset may survive it).
    pub fn reset(&self) {
        for s in &self.shards {
            s.0.store(0, Ordering::Relaxed);
        }
    }
}

/// One statistic.
#[derive(Clone)]
pub enum Stat {
    /// A counter `reset_statistics` clears.
    Counter(Counter),
    /// A counter that is never reset (Kamailio's sl counters).
    NoReset(Counter),
    /// A value computed when read (memory, table sizes); not resettable.
    Computed(Arc<dyn Fn() -> u64 + Send + Sync>),
}

impl Stat {
    pub fn value(&self) -> u64 {
        match self {
            Stat::Counter(c) | Stat::NoReset(c) => c.get(),
            Stat::Computed(f) => f(),
        }
    }
    fn reset(&self) {
        if let Stat::Counter(c) = self {
            c.reset();
        }
    }
}

/// Every statistic by group and name (byte order, as Kamailio lists them).
#[derive(Clone, Default)]
pub struct Stats {
    groups: Arc<RwLock<BTreeMap<String, BTreeMap<String, Stat>>>>,
}

impl Stats {
    /// Register (or replace) `group:name`.
    pub fn add(&self, group: &str, name: &str, stat: Stat) {
        self.groups
            .write()
            .entry(group.to_string())
            .or_default()
            .insert(name.to_string(), stat);
    }

    /// A fresh resettable counter registered as `group:name`.
    pub fn counter(&self, group: &str, name: &str) -> Counter {
        let c = Counter::default();
        self.add(group, name, Stat::Counter(c.clone()));
        c
    }

    /// The group names, in byte order.
    pub fn group_names(&self) -> Vec<String> {
        self.groups.read().keys().cloned().collect()
    }

    /// The statistics of `group` by name (empty for an unknown group).
    pub fn group(&self, group: &str) -> Vec<(String, Stat)> {
        self.groups.read().get(group).map_or_else(Vec::new, |s| {
            s.iter().map(|(n, st)| (n.clone(), st.clone())).collect()
        })
    }

    /// One statistic by `name` (looked up in every group) or `group:name`.
    pub fn find(&self, what: &str) -> Option<Stat> {
        let groups = self.groups.read();
        if let Some((g, n)) = what.split_once(':') {
            return groups.get(g).and_then(|s| s.get(n)).cloned();
        }
        groups.values().find_map(|s| s.get(what)).cloned()
    }

    /// `stats.get_statistics` for one argument: `all`, `group:` or a name
    /// (looked up in every group). Lines are `group:name = value`.
    pub fn get(&self, what: &str, out: &mut Vec<String>) {
        let groups = self.groups.read();
        let line = |g: &str, n: &str, s: &Stat| format!("{g}:{n} = {}", s.value());
        if what == "all" {
            for (g, stats) in groups.iter() {
                out.extend(stats.iter().map(|(n, s)| line(g, n, s)));
            }
        } else if let Some(g) = what.strip_suffix(':') {
            if let Some(stats) = groups.get(g) {
                out.extend(stats.iter().map(|(n, s)| line(g, n, s)));
            }
        } else {
            for (g, stats) in groups.iter() {
                if let Some(s) = stats.get(what) {
                    out.push(line(g, what, s));
                }
            }
        }
    }

    /// `stats.fetch` / `stats.fetchn` for one argument: `all`, `group:`,
    /// `group:name` or a name (looked up in every group). Pairs are
    /// (`group.name`, value).
    pub fn fetch(&self, what: &str, out: &mut Vec<(String, u64)>) {
        let groups = self.groups.read();
        let item = |g: &str, n: &str, s: &Stat| (format!("{g}.{n}"), s.value());
        if what == "all" {
            for (g, stats) in groups.iter() {
                out.extend(stats.iter().map(|(n, s)| item(g, n, s)));
            }
        } else if let Some((g, n)) = what.split_once(':') {
            let Some(stats) = groups.get(g) else { return };
            if n.is_empty() {
                out.extend(stats.iter().map(|(n, s)| item(g, n, s)));
            } else if let Some(s) = stats.get(n) {
                out.push(item(g, n, s));
            }
        } else {
            for (g, stats) in groups.iter() {
                if let Some(s) = stats.get(what) {
                    out.push(item(g, what, s));
                }
            }
        }
    }

    /// `stats.clear_statistics` for one argument: `all`, `group:` or a name
    /// (a `group:name` matches nothing, as in Kamailio). Resets what can be
    /// reset and returns a line per statistic: `group:name = new (old)`, the
    /// `(old)` part only when the value changed.
    pub fn clear(&self, what: &str) -> Vec<String> {
        let groups = self.groups.read();
        let clear = |g: &str, n: &str, s: &Stat| {
            let old = s.value();
            s.reset();
            match s.value() {
                new if new == old => format!("{g}:{n} = {new}"),
                new => format!("{g}:{n} = {new} ({old})"),
            }
        };
        if what == "all" {
            groups
                .iter()
                .flat_map(|(g, stats)| stats.iter().map(move |(n, s)| clear(g, n, s)))
                .collect()
        } else if let Some(g) = what.strip_suffix(':') {
            groups.get(g).map_or_else(Vec::new, |stats| {
                stats.iter().map(|(n, s)| clear(g, n, s)).collect()
            })
        } else if what.contains(':') {
            Vec::new()
        } else {
            groups
                .iter()
                .filter_map(|(g, stats)| stats.get(what).map(|s| clear(g, what, s)))
                .collect()
        }
    }

    /// `stats.reset_statistics` for one argument (same forms as [`get`](Self::get)).
    pub fn reset(&self, what: &str) {
        let groups = self.groups.read();
        if what == "all" {
            groups
                .values()
                .flat_map(|s| s.values())
                .for_each(Stat::reset);
        } else if let Some(g) = what.strip_suffix(':') {
            if let Some(stats) = groups.get(g) {
                stats.values().for_each(Stat::reset);
            }
        } else {
            groups
                .values()
                .filter_map(|s| s.get(what))
                .for_each(Stat::reset);
        }
    }
}

/// Methods with their own `core:rcv_requests_*` counter, in counter order.
const REQ_METHODS: [&str; 14] = [
    "ack",
    "bye",
    "cancel",
    "info",
    "invite",
    "message",
    "notify",
    "options",
    "prack",
    "publish",
    "refer",
    "register",
    "subscribe",
    "update",
];

/// Methods with per-class `core:rcv_replies_Nxx_*` counters.
const RPL_METHODS: [&str; 8] = [
    "bye", "cancel", "invite", "message", "prack", "refer", "reg", "update",
];

/// Reply codes with their own `core:rcv_replies_*` counter.
const RPL_CODES: [u16; 5] = [401, 404, 407, 480, 486];

/// The core's counters, bumped by the dispatcher.
pub struct CoreStats {
    rcv_requests: Counter,
    by_method: [Counter; 14],
    rcv_replies: Counter,
    by_class: [Counter; 6],
    by_class_method: [[Counter; 8]; 6],
    r18x: Counter,
    by_code: [Counter; 5],
    pub bad_msg_hdr: Counter,
    pub fwd_replies: Counter,
    pub drop_requests: Counter,
    pub drop_replies: Counter,
}

impl CoreStats {
    /// Register Kamailio's `core:` group (plus the memory group `shmem:`).
    pub fn register(stats: &Stats) -> CoreStats {
        let c = |n: &str| stats.counter("core", n);
        let by_class_method = std::array::from_fn(|class| {
            std::array::from_fn(|m| c(&format!("rcv_replies_{}xx_{}", class + 1, RPL_METHODS[m])))
        });
        for name in [
            "bad_URIs_rcvd",
            "err_replies",
            "err_requests",
            "fwd_requests",
            "unsupported_methods",
        ] {
            // Kamailio's names, not counted by siprd (always 0).
            c(name);
        }
        let core = CoreStats {
            rcv_requests: c("rcv_requests"),
            by_method: std::array::from_fn(|i| c(&format!("rcv_requests_{}", REQ_METHODS[i]))),
            rcv_replies: c("rcv_replies"),
            by_class: std::array::from_fn(|i| c(&format!("rcv_replies_{}xx", i + 1))),
            by_class_method,
            r18x: c("rcv_replies_18x"),
            by_code: std::array::from_fn(|i| c(&format!("rcv_replies_{}", RPL_CODES[i]))),
            bad_msg_hdr: c("bad_msg_hdr"),
            fwd_replies: c("fwd_replies"),
            drop_requests: c("drop_requests"),
            drop_replies: c("drop_replies"),
        };
        register_memory(stats);
        core
    }

    pub fn request(&self, m: &Method) {
        self.rcv_requests.inc();
        let i = match m {
            Method::Ack => 0,
            Method::Bye => 1,
            Method::Cancel => 2,
            Method::Info => 3,
            Method::Invite => 4,
            Method::Message => 5,
            Method::Notify => 6,
            Method::Options => 7,
            Method::Prack => 8,
            Method::Publish => 9,
            Method::Refer => 10,
            Method::Register => 11,
            Method::Subscribe => 12,
            Method::Update => 13,
            Method::Other(_) => return,
        };
        self.by_method[i].inc();
    }

    /// A received reply with its status and CSeq method.
    pub fn reply(&self, status: u16, m: Option<&Method>) {
        self.rcv_replies.inc();
        let class = usize::from(status / 100);
        let Some(ci) = class.checked_sub(1).filter(|c| *c < 6) else {
            return;
        };
        self.by_class[ci].inc();
        if (180..190).contains(&status) {
            self.r18x.inc();
        }
        if let Some(i) = RPL_CODES.iter().position(|c| *c == status) {
            self.by_code[i].inc();
        }
        let mi = match m {
            Some(Method::Bye) => 0,
            Some(Method::Cancel) => 1,
            Some(Method::Invite) => 2,
            Some(Method::Message) => 3,
            Some(Method::Prack) => 4,
            Some(Method::Refer) => 5,
            Some(Method::Register) => 6,
            Some(Method::Update) => 7,
            _ => return,
        };
        self.by_class_method[ci][mi].inc();
    }
}

/// Resident and peak resident memory of the process, in bytes (siprd has no
/// shared-memory pool: this stands for Kamailio's shm figures).
pub fn proc_memory() -> (u64, u64) {
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

fn register_memory(stats: &Stats) {
    let comp = |f: fn() -> u64| Stat::Computed(Arc::new(f));
    stats.add("shmem", "total_size", comp(|| proc_memory().0));
    stats.add("shmem", "used_size", comp(|| proc_memory().0));
    stats.add("shmem", "real_used_size", comp(|| proc_memory().0));
    stats.add("shmem", "max_used_size", comp(|| proc_memory().1));
    stats.add("shmem", "free_size", comp(|| 0));
    stats.add("shmem", "fragments", comp(|| 0));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(s: &Stats, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        s.get(what, &mut out);
        out
    }

    #[test]
    fn sharded_counter_sums_every_thread() {
        let c = Counter::default();
        std::thread::scope(|s| {
            for _ in 0..SHARDS + 3 {
                s.spawn(|| (0..1000).for_each(|_| c.inc()));
            }
        });
        assert_eq!(c.get(), (SHARDS as u64 + 3) * 1000);
        c.reset();
        assert_eq!(c.get(), 0);
    }

    #[test]
    fn lookups_and_reset() {
        let s = Stats::default();
        let core = CoreStats::register(&s);
        let keep = Counter::default();
        s.add("sl", "200_replies", Stat::NoReset(keep.clone()));
        core.request(&Method::Options);
        core.reply(486, Some(&Method::Invite));
        keep.add(2);
        assert_eq!(get(&s, "rcv_requests"), ["core:rcv_requests = 1"]);
        assert_eq!(
            get(&s, "rcv_requests_options"),
            ["core:rcv_requests_options = 1"]
        );
        assert_eq!(
            get(&s, "rcv_replies_4xx_invite"),
            ["core:rcv_replies_4xx_invite = 1"]
        );
        assert_eq!(get(&s, "rcv_replies_486"), ["core:rcv_replies_486 = 1"]);
        // a group-qualified name is not a name (as Kamailio)
        assert!(get(&s, "core:rcv_requests").is_empty());
        assert!(get(&s, "nope:").is_empty());
        assert_eq!(get(&s, "sl:"), ["sl:200_replies = 2"]);
        let all = get(&s, "all");
        assert!(all.first().unwrap().starts_with("core:bad_URIs_rcvd"));
        assert!(all.iter().any(|l| l.starts_with("shmem:total_size = ")));
        s.reset("rcv_requests");
        assert_eq!(get(&s, "rcv_requests"), ["core:rcv_requests = 0"]);
        assert_eq!(
            get(&s, "rcv_requests_options"),
            ["core:rcv_requests_options = 1"]
        );
        s.reset("all");
        assert_eq!(
            get(&s, "rcv_requests_options"),
            ["core:rcv_requests_options = 0"]
        );
        assert_eq!(get(&s, "sl:"), ["sl:200_replies = 2"]);
    }
}
