//! rtimer: run `route[NAME]` blocks periodically, each timer on its own
//! thread, with the synthetic request events get (method OPTIONS).
//!
//! `modparam("rtimer", "timer", "name=t1;interval=10;mode=1")` declares a
//! timer (interval in seconds, or in microseconds with a `u` suffix:
//! `300000u`; without one, or 0, `default_interval`, 120 s);
//! `modparam("rtimer", "exec", "timer=t1;route=CLEANUP")` runs a route on
//! each tick (several per timer run in the order written). Observed on
//! Kamailio 5.6.3: the first run comes one interval after start-up; every
//! timer has a process of its own whatever its `mode`, so `$var` keeps its
//! value from tick to tick; `mode=N` with N above 1 gives the timer N
//! threads, each running its routes on every tick with `$rtimer_worker` its
//! index (0 elsewhere); keys are case-insensitive and unknown ones
//! ignored; a duplicate timer name, an exec naming an unknown timer or a bad
//! interval refuse the config. An exec naming a route that does not exist
//! runs nothing in Kamailio; siprd says so at start-up. With
//! `cfgengine "lua"` the route is a Lua function of that name.

use crate::module::{CoreSettings, Module};
use crate::runtime::{EventHandle, Runtime};
use siprd_script::registry::{ModParamDecl, PvClassDef, PvImpl, PvIndex, Registry};
use siprd_script::{route_type, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Kamailio's `default_interval` (seconds).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(120);

#[derive(Clone, Debug, PartialEq, Eq)]
struct Timer {
    name: String,
    /// None: `default_interval`.
    interval: Option<Duration>,
    /// Routes run on each tick, in order.
    routes: Vec<String>,
    /// Threads running every tick (`mode` above 1), else one.
    workers: u32,
}

thread_local! {
    /// `$rtimer_worker`: the index of the rtimer thread running the script
    /// (0 on every other thread, as Kamailio's processes).
    static WORKER: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

#[derive(Default)]
pub struct Rtimer {
    timers: Vec<Timer>,
    default_interval: Option<Duration>,
}

/// `key=value;...` with case-insensitive keys; empty items skipped.
fn pairs(def: &str) -> Result<Vec<(String, String)>, String> {
    def.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .ok_or_else(|| format!("`{def}`: expected `key=value`, got `{p}`"))
        })
        .collect()
}

/// `10` seconds or `300000u` microseconds; 0 means the default.
fn parse_interval(v: &str) -> Result<Option<Duration>, String> {
    let (digits, micros) = match v.strip_suffix(['u', 'U']) {
        Some(d) => (d, true),
        None => (v, false),
    };
    let n: u64 = digits.parse().map_err(|_| {
        format!("invalid interval `{v}` (seconds, or microseconds with a `u`: 500000u)")
    })?;
    Ok(match (n, micros) {
        (0, _) => None,
        (n, true) => Some(Duration::from_micros(n)),
        (n, false) => Some(Duration::from_secs(n)),
    })
}

impl Rtimer {
    fn add_timer(&mut self, def: &str) -> Result<(), String> {
        let mut t = Timer {
            name: String::new(),
            interval: None,
            routes: Vec::new(),
            workers: 1,
        };
        for (k, v) in pairs(def)? {
            match k.as_str() {
                "name" => t.name = v,
                "interval" => t.interval = parse_interval(&v)?,
                // 0 and 1 both give one thread (Kamailio's 0 runs on its
                // shared timer process)
                "mode" => {
                    let n: u32 = v.parse().map_err(|_| {
                        format!("invalid mode: `{v}` (the number of threads running the timer, 0 or 1 for one)")
                    })?;
                    t.workers = n.max(1);
                }
                _ => {}
            }
        }
        if t.name.is_empty() {
            return Err(format!("timer `{def}`: `name=` is missing"));
        }
        if self.timers.iter().any(|x| x.name == t.name) {
            return Err(format!("duplicate timer with the same name: {}", t.name));
        }
        self.timers.push(t);
        Ok(())
    }

    fn add_exec(&mut self, def: &str) -> Result<(), String> {
        let (mut timer, mut route) = (String::new(), String::new());
        for (k, v) in pairs(def)? {
            match k.as_str() {
                "timer" => timer = v,
                "route" => route = v,
                _ => {}
            }
        }
        if route.is_empty() {
            return Err(format!("exec `{def}`: `route=` is missing"));
        }
        let Some(t) = self.timers.iter_mut().find(|t| t.name == timer) else {
            return Err(format!(
                "exec `{def}`: timer not found: `{timer}` (declare it first with modparam(\"rtimer\", \"timer\", \"name={timer};interval=...\"))"
            ));
        };
        t.routes.push(route);
        Ok(())
    }
}

impl Module for Rtimer {
    fn name(&self) -> &'static str {
        "rtimer"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl::int("default_interval"),
            ModParamDecl::str("timer"),
            ModParamDecl::str("exec"),
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "timer" => self.add_timer(&value.to_string()),
            "exec" => self.add_exec(&value.to_string()),
            "default_interval" => match value.try_int() {
                Some(n) if n > 0 => {
                    self.default_interval = Some(Duration::from_secs(n as u64));
                    Ok(())
                }
                _ => Err("default_interval must be a number of seconds above 0".into()),
            },
            _ => Err(format!("module `rtimer` has no parameter `{name}`")),
        }
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        Ok(())
    }

    fn register(&self, reg: &mut Registry<crate::context::Ctx>) {
        reg.add_pv(PvClassDef {
            name: "rtimer_worker",
            module: "rtimer",
            parse: Arc::new(|_fx, inner| match inner {
                None => Ok(Box::new(WorkerPv) as Box<dyn PvImpl<crate::context::Ctx>>),
                Some(_) => Err("`$rtimer_worker` takes no name in parentheses".to_string()),
            }),
        });
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        for t in &self.timers {
            let mut handles = Vec::new();
            for route in &t.routes {
                let target = if rt.kemi.is_some() {
                    rt.kemi_route(route)
                } else {
                    rt.program
                        .route_names()
                        .route
                        .get(route)
                        .copied()
                        .map(crate::runtime::RouteRef::Native)
                };
                match target {
                    Some(route_ref) => handles.push(EventHandle {
                        name: Arc::from(route.as_str()),
                        route: route_ref,
                    }),
                    None => tracing::warn!(
                        "rtimer: timer `{}`: route `{route}` does not exist: nothing to run",
                        t.name
                    ),
                }
            }
            if handles.is_empty() {
                continue;
            }
            let every = t
                .interval
                .or(self.default_interval)
                .unwrap_or(DEFAULT_INTERVAL);
            let handles = Arc::new(handles);
            for worker in 0..t.workers {
                let (rt, handles) = (rt.clone(), handles.clone());
                std::thread::Builder::new()
                    .name(format!("rtimer-{}-{worker}", t.name))
                    .spawn(move || {
                        WORKER.with(|w| w.set(worker as i32));
                        tick_loop(&rt, every, &handles)
                    })
                    .map_err(|e| format!("rtimer: cannot start a thread: {e}"))?;
            }
        }
        Ok(())
    }
}

struct WorkerPv;

impl PvImpl<crate::context::Ctx> for WorkerPv {
    fn get(&self, _ctx: &mut crate::context::Ctx, _idx: PvIndex) -> Value {
        Value::Int(WORKER.with(|w| w.get()))
    }
}

/// Run the routes every `every`, the first time one interval after start-up;
/// ticks keep to a fixed schedule (a slow route delays, never shifts, the
/// next ones). Ends when the server stops.
fn tick_loop(rt: &Arc<Runtime>, every: Duration, routes: &[EventHandle]) {
    let step = Duration::from_millis(50);
    let mut next = Instant::now() + every;
    loop {
        loop {
            if rt.is_stopping() {
                return;
            }
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(step));
        }
        for ev in routes {
            rt.raise_with_arg(ev, route_type::REQUEST, None, |_| {});
        }
        next += every;
        // after a long stall, start again from now instead of catching up
        let now = Instant::now();
        if next < now {
            next = now + every;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_and_execs() {
        let mut m = Rtimer::default();
        m.add_timer("NAME=t1;Interval=2;mode=1;").unwrap();
        m.add_timer("name=t2;interval=300000u;bogus=1").unwrap();
        m.add_timer("name=t3").unwrap();
        m.add_exec("timer=t1;route=A").unwrap();
        m.add_exec("timer=t1;route=B").unwrap();
        assert_eq!(m.timers[0].interval, Some(Duration::from_secs(2)));
        assert_eq!(m.timers[0].routes, ["A", "B"]);
        assert_eq!(m.timers[1].interval, Some(Duration::from_micros(300_000)));
        assert_eq!(m.timers[2].interval, None);
        assert!(m
            .add_timer("name=t1;interval=3")
            .unwrap_err()
            .contains("duplicate"));
        assert!(m
            .add_exec("timer=tz;route=A")
            .unwrap_err()
            .contains("timer not found"));
        assert!(m
            .add_timer("name=t4;interval=abc")
            .unwrap_err()
            .contains("invalid interval"));
        assert!(m.add_timer("interval=1").unwrap_err().contains("name"));
        assert_eq!(parse_interval("0").unwrap(), None);
    }
}
