//! htable: shared hash tables for the config (`$sht(table=>key)`), with
//! per-slot locks a script can hold (`sht_lock`), auto-expiry with an
//! `event_route[htable:expired:<table>]`, iterators and RPC commands.

pub mod funcs;
pub mod pv;
pub mod rpc;
pub mod table;

use crate::context::Ctx;
use crate::module::{CoreSettings, Module};
use crate::rpc::RpcRegistry;
use crate::runtime::Runtime;
use parking_lot::Mutex;
use siprd_script::registry::ModParamDecl;
use siprd_script::{Registry, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use table::{Table, TableSpec, Tables};

pub use funcs::end_execution;
pub use pv::ExpiredRecord;

/// Shared state of the module, captured by every function, PV and RPC.
#[derive(Default)]
pub struct HtState {
    pub tables: Tables,
    pub timer_interval: u64,
    pub event_callback: Option<String>,
    pub event_callback_mode: i32,
    stop: AtomicBool,
    timer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl HtState {
    pub fn table(&self, name: &[u8]) -> Option<&Arc<Table>> {
        self.tables.get(name)
    }
}

/// The htable module.
pub struct Htable {
    specs: Vec<TableSpec>,
    timer_interval: i32,
    event_callback: Option<String>,
    event_callback_mode: i32,
    pub state: Arc<HtState>,
}

impl Default for Htable {
    fn default() -> Self {
        Htable {
            specs: Vec::new(),
            timer_interval: 20,
            event_callback: None,
            event_callback_mode: 0,
            state: Arc::new(HtState::default()),
        }
    }
}

/// Largest slot count we allocate (2^20); Kamailio allows up to 2^31.
const MAX_SLOTS_EXP: u32 = 20;

/// An empty value is 0, as Kamailio 5.6 reads one (`size=;`).
fn parse_uint(attr: &str, v: &str, def: &str) -> Result<u32, String> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(0);
    }
    v.parse::<u32>().map_err(|_| {
        format!("htable `{def}`: attribute `{attr}` needs a non-negative integer, got `{v}`")
    })
}

/// Parse one `htable` definition: `name=>attr=value;attr=value;...`.
pub fn parse_spec(def: &str) -> Result<TableSpec, String> {
    let s = def.trim_start_matches([' ', '\t', '\r', '\n']);
    let name_end = s
        .find(|c: char| c == '=' || c.is_ascii_whitespace())
        .ok_or_else(|| {
            format!("htable definition `{def}`: expected `name=>attributes` (missing `=>`)")
        })?;
    // an empty name is a table too (Kamailio 5.6 accepts `=>size=4;`)
    let name = &s[..name_end];
    let rest = s[name_end..].trim_start_matches([' ', '\t', '\r', '\n']);
    let attrs = rest.strip_prefix("=>").ok_or_else(|| {
        format!("htable definition `{def}`: expected `=>` after the table name `{name}`")
    })?;
    // `a=>` and `a=>;` are tables with the defaults (Kamailio 5.6)
    let attrs = attrs.trim();
    let attrs = attrs.strip_suffix(';').unwrap_or(attrs);
    let mut spec = TableSpec::new(name);
    let mut size: u32 = 4;
    for part in attrs.split(';').filter(|_| !attrs.is_empty()) {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("htable `{name}`: empty attribute in `{def}`"));
        }
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (part, ""),
        };
        match k {
            "size" => size = parse_uint(k, v, name)?,
            "autoexpire" => spec.autoexpire = parse_uint(k, v, name)?,
            // empty or a lone sign is 0, as Kamailio 5.6 reads it
            "initval" if matches!(v, "" | "-" | "+") => spec.initval = Some(0),
            "initval" => {
                spec.initval = Some(v.parse::<i32>().map_err(|_| {
                    format!("htable `{name}`: attribute `initval` needs an integer, got `{v}`")
                })?)
            }
            "updateexpire" => spec.updateexpire = parse_uint(k, v, name)? != 0,
            "dmqreplicate" => {
                spec.dmqreplicate = parse_uint(k, v, name)?;
                if spec.dmqreplicate > 0 {
                    tracing::warn!("htable `{name}`: dmqreplicate is accepted but not replicated (no DMQ in siprd)");
                }
            }
            "dbmode" => {
                spec.dbmode = parse_uint(k, v, name)?;
                tracing::warn!("htable `{name}`: dbmode is accepted but ignored (no database in siprd)");
            }
            "reloadat" => {
                parse_uint(k, v, name)?;
                tracing::warn!("htable `{name}`: reloadat is accepted but ignored (no database in siprd)");
            }
            "dbtable" => {
                spec.dbtable = v.to_string();
                tracing::warn!("htable `{name}`: dbtable `{v}` is accepted but not loaded (no database in siprd)");
            }
            "cols" => tracing::warn!("htable `{name}`: cols is accepted but ignored (no database in siprd)"),
            "coldelim" | "colnull" => {
                if v.len() > 1 {
                    return Err(format!("htable `{name}`: attribute `{k}` must be one character, got `{v}`"));
                }
            }
            _ => {
                return Err(format!(
                    "htable `{name}`: unknown attribute `{k}` (known: size, autoexpire, initval, updateexpire, \
                     dmqreplicate, dbtable, dbmode, cols, coldelim, colnull, reloadat)"
                ))
            }
        }
    }
    // Kamailio: size <= 1 gives 8 slots, above 31 gives 2^14, else 2^size.
    let exp = if size <= 1 {
        3
    } else if size > 31 {
        14
    } else {
        size
    };
    let exp = if exp > MAX_SLOTS_EXP {
        tracing::warn!(
            "htable `{name}`: size={size} is capped to {MAX_SLOTS_EXP} (2^{MAX_SLOTS_EXP} slots)"
        );
        MAX_SLOTS_EXP
    } else {
        exp
    };
    spec.size_exp = size;
    spec.slots = 1usize << exp;
    Ok(spec)
}

fn int_param(name: &str, v: &Value) -> Result<i32, String> {
    v.try_int()
        .ok_or_else(|| format!("modparam(\"htable\", \"{name}\") needs an integer, got `{v}`"))
}

impl Module for Htable {
    fn name(&self) -> &'static str {
        "htable"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        let (s, i) = (ModParamDecl::str, ModParamDecl::any);
        vec![
            s("htable"),
            s("db_url"),
            s("key_name_column"),
            s("key_type_column"),
            s("value_type_column"),
            s("key_value_column"),
            s("expires_column"),
            s("array_size_suffix"),
            s("event_callback"),
            i("fetch_rows"),
            i("timer_interval"),
            i("db_expires"),
            i("enable_dmq"),
            i("dmq_init_sync"),
            i("timer_procs"),
            i("event_callback_mode"),
        ]
    }

    fn events(&self) -> Vec<&'static str> {
        vec!["htable:mod-init", "htable:expired:"]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "htable" => {
                let def = value.to_string();
                let spec = parse_spec(&def)?;
                if self.specs.iter().any(|s| s.name == spec.name) {
                    return Err(format!("htable `{}` is defined more than once", spec.name));
                }
                self.specs.push(spec);
            }
            "timer_interval" => self.timer_interval = int_param(name, value)?,
            "event_callback" => {
                let s = value.to_string();
                self.event_callback = if s.is_empty() { None } else { Some(s) };
            }
            "event_callback_mode" => self.event_callback_mode = int_param(name, value)?,
            "db_url" => {
                tracing::warn!(
                    "htable: db_url is accepted but no table is loaded from a database in siprd"
                )
            }
            "key_name_column" | "key_type_column" | "value_type_column" | "key_value_column"
            | "expires_column" | "array_size_suffix" => {}
            "fetch_rows" | "db_expires" | "timer_procs" => {
                int_param(name, value)?;
            }
            "enable_dmq" | "dmq_init_sync" => {
                if int_param(name, value)? != 0 {
                    tracing::warn!("htable: {name} is accepted but siprd has no DMQ replication");
                }
            }
            _ => return Err(format!("module `htable` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        let interval = if self.timer_interval <= 0 {
            20
        } else {
            self.timer_interval as u64
        };
        let tables = Tables {
            list: self
                .specs
                .iter()
                .cloned()
                .map(|s| Arc::new(Table::new(s)))
                .collect(),
        };
        self.state = Arc::new(HtState {
            tables,
            timer_interval: interval,
            event_callback: self.event_callback.clone(),
            event_callback_mode: self.event_callback_mode,
            stop: AtomicBool::new(false),
            timer: Mutex::new(None),
        });
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        pv::register(reg, &self.state);
        funcs::register(reg, &self.state);
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        rpc::register(rpc, &self.state);
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        if let Some(ev) = rt.event("htable:mod-init") {
            match (&rt.kemi, ev.route) {
                // Kamailio 5.6 runs this callback in its main process before
                // app_lua, loaded after htable, has a Lua state there: the
                // call fails with this line and the function does not run.
                (Some(k), crate::runtime::RouteRef::Kemi(f))
                    if rt.loaded_before("htable", "app_lua") =>
                {
                    crate::log::emit_head(
                        crate::log::L_ERR,
                        "app_lua [app_lua_api.c:720]: app_lua_run_ex()",
                        &format!("lua loading state not initialized (call: {})", k.fn_name(f)),
                    );
                }
                _ => {
                    let out = rt.raise(&ev, None);
                    if out.dropped {
                        return Err("exit due to `drop` in event_route[htable:mod-init]".into());
                    }
                }
            }
        }
        if self.state.tables.list.iter().any(|t| t.spec.autoexpire > 0) {
            let st = self.state.clone();
            let rt = rt.clone();
            let h = std::thread::Builder::new()
                .name("htable-timer".into())
                .spawn(move || expiry_loop(&st, &rt))
                .map_err(|e| format!("htable: cannot start the expiry timer thread: {e}"))?;
            *self.state.timer.lock() = Some(h);
        }
        Ok(())
    }

    fn stop(&self) {
        self.state.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.state.timer.lock().take() {
            let _ = h.join();
        }
    }
}

/// The expiry timer: every `timer_interval` seconds, scan each auto-expiring
/// table one slot at a time. With an `event_route[htable:expired:<table>]`
/// the route runs for each expired item (with the slot unlocked), and the item
/// is removed only if it is still expired afterwards.
fn expiry_loop(st: &Arc<HtState>, rt: &Arc<Runtime>) {
    let me = crate::locks::new_exec_id();
    let events: Vec<_> = st
        .tables
        .list
        .iter()
        .map(|t| rt.event(&format!("htable:expired:{}", t.name())))
        .collect();
    let step = Duration::from_millis(100);
    loop {
        let mut waited = Duration::ZERO;
        let period = Duration::from_secs(st.timer_interval);
        while waited < period {
            if st.stop.load(Ordering::Relaxed) || rt.is_stopping() {
                return;
            }
            std::thread::sleep(step);
            waited += step;
        }
        expire_once(st, rt, me, &events);
    }
}

/// One scan of every auto-expiring table (also used by tests).
fn expire_once(
    st: &Arc<HtState>,
    rt: &Arc<Runtime>,
    me: crate::locks::ExecId,
    events: &[Option<crate::runtime::EventHandle>],
) {
    for (t, ev) in st.tables.list.iter().zip(events) {
        if t.spec.autoexpire == 0 {
            continue;
        }
        for idx in 0..t.slot_count() {
            if st.stop.load(Ordering::Relaxed) || rt.is_stopping() {
                return;
            }
            let now = table::now_secs();
            match ev {
                None => {
                    t.purge_slot(me, idx, now);
                }
                Some(ev) => {
                    for item in t.expired_in_slot(me, idx, now) {
                        let rec = ExpiredRecord {
                            key: item.key.clone(),
                            value: item.value.clone(),
                        };
                        rt.raise(ev, Some(Box::new(rec)));
                        // The route may have refreshed the item: check again.
                        t.remove_if_expired(me, &item.key, table::now_secs());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let s = parse_spec("a=>size=8;").unwrap();
        assert_eq!(
            (s.name.as_str(), s.slots, s.autoexpire, s.initval),
            ("a", 256, 0, None)
        );
        let s = parse_spec(" c => size=4;autoexpire=7200;initval=1;dmqreplicate=1;updateexpire=0")
            .unwrap();
        assert_eq!(
            (s.slots, s.autoexpire, s.initval, s.updateexpire),
            (16, 7200, Some(1), false)
        );
        assert_eq!(parse_spec("b=>size=1").unwrap().slots, 8);
        assert_eq!(parse_spec("b=>size=40").unwrap().slots, 1 << 14);
        assert_eq!(parse_spec("b=>initval=-3").unwrap().initval, Some(-3));
        let e = parse_spec("a=>size=8;bogus=1").unwrap_err();
        assert!(e.contains("unknown attribute `bogus`"), "{e}");
        assert!(parse_spec("a").unwrap_err().contains("=>"));
        assert!(parse_spec("a=size=8").unwrap_err().contains("`=>`"));
        // as Kamailio 5.6: an empty name is a table, an empty value 0
        assert_eq!(parse_spec("=>size=8").unwrap().name, "");
        let s = parse_spec("a=>size=;autoexpire=;initval=").unwrap();
        assert_eq!((s.slots, s.autoexpire, s.initval), (8, 0, Some(0)));
        assert_eq!(parse_spec("a=>initval=-").unwrap().initval, Some(0));
        assert!(parse_spec("a=>size=x").unwrap_err().contains("`size`"));
        assert!(parse_spec("a=>autoexpire=-1")
            .unwrap_err()
            .contains("`autoexpire`"));
        assert!(parse_spec("a=>initval=abc")
            .unwrap_err()
            .contains("`initval`"));
        assert_eq!(parse_spec("a=>").unwrap().slots, 16);
        assert_eq!(parse_spec("a=>;").unwrap().slots, 16);
        assert!(parse_spec("a=>size=4;;autoexpire=3")
            .unwrap_err()
            .contains("empty attribute"));
        assert!(parse_spec("a=>coldelim=ab")
            .unwrap_err()
            .contains("one character"));
        assert!(parse_spec("a=>dbtable=t;cols='k,v'").is_ok());
    }

    #[test]
    fn params_and_duplicates() {
        let mut m = Htable::default();
        m.set_param("htable", &Value::from_static("a=>size=4"))
            .unwrap();
        let e = m
            .set_param("htable", &Value::from_static("a=>size=5"))
            .unwrap_err();
        assert!(e.contains("more than once"));
        m.set_param("timer_interval", &Value::Int(5)).unwrap();
        m.set_param("timer_interval", &Value::from_static("7"))
            .unwrap();
        assert!(m
            .set_param("timer_interval", &Value::from_static("x"))
            .is_err());
        assert!(m.set_param("nope", &Value::Int(1)).is_err());
        m.init(&CoreSettings::default()).unwrap();
        assert_eq!(m.state.timer_interval, 7);
        assert!(m.state.table(b"a").is_some());
    }
}
