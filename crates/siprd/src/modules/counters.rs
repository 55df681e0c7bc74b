//! counters: named counters the script bumps (`cnt_inc`, `cnt_add`,
//! `cnt_reset`) and the `cnt.*` RPC commands that read and reset them.
//!
//! As in Kamailio, counters and statistics are one registry: a script counter
//! (`script_counter` parameter) is a statistic of the `script` group (see
//! `script_cnt_grp_name`), listed by `stats.get_statistics`, and `cnt.*` reads
//! every group (`sl`, `core`, `tm` ...). Values are signed (`cnt_add` takes a
//! negative number). Observed on Kamailio 5.6.3:
//! - `cnt_inc("name")` or `cnt_inc("group.name")`; a counter of the script
//!   group that is not declared is a config error. The statistics modules
//!   keep themselves (sl's replies ...) are computed: bumping or resetting
//!   them has no effect.
//! - `cnt.get group name` answers the value, `cnt.get group` every counter of
//!   the group (an unknown group: `{}`); an unknown counter is error 400
//!   `non-existent counter group.name`.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{int_arg, int_or_bare_pv};
use crate::rpc::{RpcError, RpcRegistry, Scan};
use crate::stats::{Counter, Stat, Stats};
use serde_json::{json, Value as Json};
use siprd_script::registry::{func, Arg, FuncDef, ModParamDecl, ModParamType, ParamKind};
use siprd_script::route_type::{CORE_ONREPLY, FAILURE, ONSEND, REQUEST, TM_ONREPLY};
use siprd_script::{Registry, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Where Kamailio allows the `cnt_*` functions (not in branch routes).
const ROUTES: u32 = REQUEST | FAILURE | TM_ONREPLY | ONSEND | CORE_ONREPLY;

/// `cnt.help` of a script counter declared without a description.
const DEFAULT_HELP: &str = "custom script counter.";
/// `cnt.help` of the statistics the core and the modules register.
const STAT_HELP: &str = "kamailio statistic (no description)";

/// One declared script counter.
struct ScriptCounter {
    counter: Counter,
    help: String,
}

#[derive(Default)]
pub struct Counters {
    group: Option<String>,
    /// `script_counter` values in config order: (group, name, description);
    /// the group is `script_cnt_grp_name` as set above the declaration.
    declared: Vec<(String, String, Option<String>)>,
    /// The declared counters by (group, name).
    script: Arc<BTreeMap<(String, String), ScriptCounter>>,
}

impl Counters {
    fn group(&self) -> &str {
        self.group.as_deref().unwrap_or("script")
    }
}

/// What a `cnt_*` call acts on, resolved once.
enum Target {
    /// A counter of the script group, resolved at load.
    Script(Counter),
    /// A statistic of another group: looked up on first use, since the
    /// modules register theirs after the config is compiled.
    Stat {
        key: String,
        found: OnceLock<Option<Stat>>,
    },
}

impl Target {
    fn counter(&self, ctx: &Ctx) -> Option<Option<&Counter>> {
        match self {
            Target::Script(c) => Some(Some(c)),
            Target::Stat { key, found } => match found.get_or_init(|| ctx.rt.rpc.stats.find(key)) {
                Some(Stat::Counter(c)) => Some(Some(c)),
                // computed by their module: nothing to bump (as Kamailio)
                Some(_) => Some(None),
                None => None,
            },
        }
    }
}

/// The counter-name argument: `name` (script group) or `group.name`.
fn name_fixup(
    script_group: String,
    script: Arc<BTreeMap<(String, String), ScriptCounter>>,
) -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(move |_fx, src| {
        let (group, name) = match src.text.split_once('.') {
            Some((g, n)) => (g, n),
            None => (script_group.as_str(), src.text.as_str()),
        };
        if name.is_empty() {
            return Err(format!("`{}` names no counter", src.text));
        }
        if let Some(c) = script.get(&(group.to_string(), name.to_string())) {
            return Ok(Arg::Custom(Box::new(Target::Script(c.counter.clone()))));
        }
        if group == script_group {
            return Err(format!(
                "no counter `{group}.{name}` -- declare it with modparam(\"counters\", \"script_counter\", \"{name}\")"
            ));
        }
        Ok(Arg::Custom(Box::new(Target::Stat {
            key: format!("{group}:{name}"),
            found: OnceLock::new(),
        })))
    }))
}

fn target(a: &Arg<Ctx>) -> Option<&Target> {
    match a {
        Arg::Custom(t) => t.downcast_ref::<Target>(),
        _ => None,
    }
}

/// Run `op` on the counter of argument 0: -1 (logged) when it does not exist.
fn with_counter(ctx: &Ctx, a: &[Arg<Ctx>], what: &str, op: impl FnOnce(&Counter)) -> i32 {
    let Some(t) = a.first().and_then(target) else {
        return -1;
    };
    match t.counter(ctx) {
        Some(Some(c)) => {
            op(c);
            1
        }
        Some(None) => 1,
        None => {
            if let Target::Stat { key, .. } = t {
                tracing::error!("{what}: no counter `{}`", key.replacen(':', ".", 1));
            }
            -1
        }
    }
}

impl Module for Counters {
    fn name(&self) -> &'static str {
        "counters"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl {
                name: "script_cnt_grp_name",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "script_counter",
                ty: ModParamType::Str,
            },
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let text = String::from_utf8_lossy(&value.to_bytes()).into_owned();
        match name {
            "script_cnt_grp_name" => {
                let g = text.trim();
                if g.is_empty() || g.contains(['.', ':']) {
                    return Err(format!("invalid counter group name `{text}`"));
                }
                self.group = Some(g.to_string());
            }
            "script_counter" => {
                // "name" or "name: description"
                let (n, help) = match text.split_once(':') {
                    Some((n, d)) => (n, Some(d.trim_start().to_string())),
                    None => (text.as_str(), None),
                };
                let n = n.trim();
                if n.is_empty() || n.contains(['.', ':']) {
                    return Err(format!("invalid counter name `{n}`"));
                }
                let group = self.group().to_string();
                self.declared.push((group, n.to_string(), help));
            }
            _ => return Err(format!("module `counters` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &crate::module::CoreSettings) -> Result<(), String> {
        let mut script = BTreeMap::new();
        for (group, name, help) in &self.declared {
            let key = (group.clone(), name.clone());
            if script.contains_key(&key) {
                // Kamailio logs it and keeps the first
                tracing::error!("counter {group}.{name} already registered");
                continue;
            }
            let help = help
                .clone()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| DEFAULT_HELP.to_string());
            script.insert(
                key,
                ScriptCounter {
                    counter: Counter::default(),
                    help,
                },
            );
        }
        self.script = Arc::new(script);
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let name = || name_fixup(self.group().to_string(), self.script.clone());
        reg.add_function(FuncDef {
            name: "cnt_inc",
            module: "counters",
            params: vec![name()],
            routes: ROUTES,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                with_counter(ctx, a, "cnt_inc", |c| c.inc())
            }),
        });
        reg.add_function(FuncDef {
            name: "cnt_add",
            module: "counters",
            params: vec![name(), int_or_bare_pv()],
            routes: ROUTES,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(n) = a.get(1).and_then(|x| int_arg(ctx, x)) else {
                    tracing::error!("cnt_add: non integer parameter");
                    return -1;
                };
                // two's complement: a negative amount wraps the sum back
                with_counter(ctx, a, "cnt_add", |c| c.add(i64::from(n) as u64))
            }),
        });
        reg.add_function(FuncDef {
            name: "cnt_reset",
            module: "counters",
            params: vec![name()],
            routes: ROUTES,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                with_counter(ctx, a, "cnt_reset", |c| c.reset())
            }),
        });
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        for ((group, name), c) in self.script.iter() {
            rpc.stats.add(group, name, Stat::Counter(c.counter.clone()));
        }
        let help: Arc<BTreeMap<String, String>> = Arc::new(
            self.script
                .iter()
                .map(|((g, n), c)| (format!("{g}:{n}"), c.help.clone()))
                .collect(),
        );
        register_rpc(rpc, help);
    }
}

/// A counter's value as Kamailio prints it (signed).
fn value(s: &Stat) -> Json {
    json!(s.value() as i64)
}

fn not_found(group: &str, name: &str) -> RpcError {
    RpcError::new(400, format!("non-existent counter {group}.{name}\n"))
}

/// A group's counters as `{name: value}` (`{}` for an unknown group).
fn group_values(stats: &Stats, group: &str) -> Json {
    Json::Object(
        stats
            .group(group)
            .into_iter()
            .map(|(n, s)| (n, value(&s)))
            .collect(),
    )
}

/// The `cnt.*` commands, over every group of the statistics registry.
fn register_rpc(rpc: &mut RpcRegistry, help: Arc<BTreeMap<String, String>>) {
    for name in ["cnt.get", "cnt.get_raw"] {
        let stats = rpc.stats.clone();
        rpc.add(
            name,
            "Value of the counter named by group and name, or of every counter of a group.",
            move |p| {
                let mut s = Scan::new(p);
                let group = s.str()?;
                // a second parameter that is not a string counts as absent
                match s.opt_str().ok().flatten() {
                    Some(n) => stats
                        .find(&format!("{group}:{n}"))
                        .map(|st| value(&st))
                        .ok_or_else(|| not_found(&group, &n)),
                    None => Ok(group_values(&stats, &group)),
                }
            },
        );
    }
    let stats = rpc.stats.clone();
    rpc.add(
        "cnt.reset",
        "Reset the counter named by group and name to 0.",
        move |p| {
            let mut s = Scan::new(p);
            let group = s.str()?;
            let name = s.str()?;
            let st = stats
                .find(&format!("{group}:{name}"))
                .ok_or_else(|| not_found(&group, &name))?;
            if let Stat::Counter(c) = st {
                c.reset();
            }
            Ok(json!({}))
        },
    );
    for name in ["cnt.grps_list", "cnt.list_groups"] {
        let stats = rpc.stats.clone();
        rpc.add(name, "The names of the counter groups.", move |_p| {
            Ok(json!(stats.group_names()))
        });
    }
    for name in ["cnt.var_list", "cnt.list_vars"] {
        let stats = rpc.stats.clone();
        rpc.add(name, "The names of the counters of a group.", move |p| {
            let group = Scan::new(p).str().unwrap_or_default();
            let names: Vec<String> = stats.group(&group).into_iter().map(|(n, _)| n).collect();
            Ok(json!(names))
        });
    }
    for name in ["cnt.grp_get_all", "cnt.get_vars"] {
        let stats = rpc.stats.clone();
        rpc.add(name, "Every counter of a group with its value.", move |p| {
            let group = Scan::new(p).str().unwrap_or_default();
            Ok(group_values(&stats, &group))
        });
    }
    let stats = rpc.stats.clone();
    rpc.add(
        "cnt.help",
        "The description of the counter named by group and name.",
        move |p| {
            let mut s = Scan::new(p);
            let group = s.str()?;
            let name = s.str()?;
            let key = format!("{group}:{name}");
            if stats.find(&key).is_none() {
                return Err(not_found(&group, &name));
            }
            Ok(json!(help.get(&key).map_or(STAT_HELP, String::as_str)))
        },
    );
}
