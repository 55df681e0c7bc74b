//! cfgutils: config locks (`lock`/`trylock`/`unlock`), random decisions,
//! global flags, `sleep`/`usleep`, `core_hash`, route checks and `$RANDOM`.

use crate::context::Ctx;
use crate::locks::{ExecId, HeldLocks, LockLabel, OwnedLock};
use crate::module::{CoreSettings, Module};
use crate::modules::args;
use crate::rpc::{RpcError, RpcRegistry};
use bytes::Bytes;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use siprd_script::pv::parse_format;
use siprd_script::registry::{
    func, Arg, FuncDef, ModParamDecl, ModParamType, ParamKind, PvClassDef, PvImpl, PvIndex,
};
use siprd_script::route_type::ANY;
use siprd_script::{Registry, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use siprd_script::transform::core_hash;

/// Shared state of the module.
pub struct CfgState {
    pub initial_prob: u32,
    pub probability: AtomicU32,
    pub gflags: AtomicU32,
    /// Empty without `lock_set_size`.
    pub locks: Vec<Arc<OwnedLock>>,
    pub hash_file: Option<String>,
    pub config_hash: Mutex<Option<String>>,
}

impl Default for CfgState {
    fn default() -> Self {
        CfgState {
            initial_prob: 10,
            probability: AtomicU32::new(10),
            gflags: AtomicU32::new(0),
            locks: Vec::new(),
            hash_file: None,
            config_hash: Mutex::new(None),
        }
    }
}

/// The cfgutils module.
pub struct Cfgutils {
    initial_prob: i32,
    initial_gflags: i32,
    lock_set_size: i32,
    hash_file: Option<String>,
    pub state: Arc<CfgState>,
}

impl Default for Cfgutils {
    fn default() -> Self {
        Cfgutils {
            initial_prob: 10,
            initial_gflags: 0,
            lock_set_size: 0,
            hash_file: None,
            state: Arc::new(CfgState::default()),
        }
    }
}

fn md5_file(path: &str) -> Result<String, String> {
    use md5::{Digest, Md5};
    let data = std::fs::read(path)
        .map_err(|e| format!("cfgutils: cannot read hash_file `{path}`: {e}"))?;
    let d = Md5::digest(&data);
    Ok(d.iter().map(|b| format!("{b:02x}")).collect())
}

fn int_param(name: &str, v: &Value) -> Result<i32, String> {
    v.try_int()
        .ok_or_else(|| format!("modparam(\"cfgutils\", \"{name}\") needs an integer, got `{v}`"))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LockOp {
    Lock,
    Unlock,
    Try,
}

/// A `lock()` key known at load, with its lock-set slot: the key of most
/// configs (`lock("calls")`), hashed once instead of per call.
struct ConstKey {
    key: Bytes,
    slot: usize,
}

/// The key argument of `lock`/`trylock`/`unlock`: a format as for any text
/// argument, a constant one resolved to its slot.
fn lock_key_fixup(st: &Arc<CfgState>) -> ParamKind<Ctx> {
    let st = st.clone();
    ParamKind::Custom(Arc::new(move |fx, src| {
        if !src.quoted && src.int.is_none() {
            // a bare pseudo-variable is read at run time (as Kamailio)
            return siprd_script::pv::parse_pv(fx, &src.text)
                .map(|(p, _)| Arg::Pv(Box::new(p)))
                .map_err(|_| format!("expected a quoted key, e.g. \"{}\"", src.text));
        }
        let fmt = parse_format(fx, &src.text)?;
        Ok(match fmt.as_static() {
            Some(key) if !st.locks.is_empty() => Arg::Custom(Box::new(ConstKey {
                key: key.clone(),
                slot: lock_slot(&st, key),
            })),
            _ => Arg::Fmt(fmt),
        })
    }))
}

fn lock_slot(st: &CfgState, key: &[u8]) -> usize {
    core_hash(key, None, st.locks.len() as u32, true) as usize
}

fn lock_op(
    st: &CfgState,
    me: ExecId,
    held: &mut HeldLocks,
    key: Bytes,
    slot: Option<usize>,
    op: LockOp,
) -> i32 {
    if st.locks.is_empty() {
        tracing::error!(
            "cfgutils: lock set not initialized (attempt to {} `{}`) - see modparam(\"cfgutils\", \"lock_set_size\", N)",
            match op {
                LockOp::Lock => "lock",
                LockOp::Unlock => "unlock",
                LockOp::Try => "trylock",
            },
            String::from_utf8_lossy(&key)
        );
        return -1;
    }
    let lock = &st.locks[slot.unwrap_or_else(|| lock_slot(st, &key))];
    match op {
        LockOp::Lock => {
            lock.lock(me);
            held.push(lock.clone(), LockLabel::Cfg(key));
            1
        }
        LockOp::Try => {
            if lock.try_lock(me) {
                held.push(lock.clone(), LockLabel::Cfg(key));
                1
            } else {
                -1
            }
        }
        LockOp::Unlock => {
            if lock.unlock(me) {
                held.pop(lock);
            } else {
                tracing::warn!(
                    "cfgutils: unlock(\"{}\"): not locked by this execution",
                    String::from_utf8_lossy(&key)
                );
            }
            1
        }
    }
}

struct Random;

impl PvImpl<Ctx> for Random {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        Value::Int(fastrand::i32(0..i32::MAX))
    }
}

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    f: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "cfgutils",
        params,
        routes: ANY,
        call: f,
    }
}

/// Fixup for a static integer within `0..=max` (rand_set_prob, gflags).
fn bounded_int(max: u32, what: &'static str) -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(move |_fx, src| {
        let n: u32 = src
            .int
            .and_then(|i| u32::try_from(i).ok())
            .or_else(|| src.text.trim().parse().ok())
            .ok_or_else(|| format!("{what}: `{}` is not a non-negative integer", src.text))?;
        if n > max {
            return Err(format!("{what}: {n} is out of range [0..{max}]"));
        }
        Ok(Arg::Int(n as i32))
    }))
}

/// `rand_set_prob`'s percentage as Kamailio 5.6's fix-up reads it: the
/// leading digits (`"12abc"` is 12; `"abc"`, `" 7"`, `"-5"` and a PV are 0),
/// refused above 100.
fn prob_arg() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(move |_fx, src| {
        let n: u64 = match src.int {
            Some(i) => u64::try_from(i).unwrap_or(0),
            None => src
                .text
                .bytes()
                .take_while(u8::is_ascii_digit)
                .fold(0u64, |n, d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                }),
        };
        if n > 100 {
            return Err(format!("rand_set_prob: {n} is out of range [0..100]"));
        }
        Ok(Arg::Int(n as i32))
    }))
}

/// Run a `route[NAME]` inside the current execution (cfgutils `route_if_exists`).
fn run_sub_route(ctx: &mut Ctx, name: &str) -> Option<i32> {
    let rt = ctx.rt.clone();
    let saved = ctx.exec.clone();
    let out = rt.program.run_route_by_name(ctx, name, saved.route_type)?;
    ctx.exec.route = saved.route;
    ctx.exec.route_type = saved.route_type;
    ctx.exec.cursor = saved.cursor;
    ctx.exec.resumable = saved.resumable;
    Some(if out.exited { 0 } else { out.retcode })
}

impl Module for Cfgutils {
    fn name(&self) -> &'static str {
        "cfgutils"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl {
                name: "initial_probability",
                ty: ModParamType::Any,
            },
            ModParamDecl {
                name: "initial_gflags",
                ty: ModParamType::Any,
            },
            ModParamDecl {
                name: "hash_file",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "lock_set_size",
                ty: ModParamType::Any,
            },
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "initial_probability" => self.initial_prob = int_param(name, value)?,
            "initial_gflags" => self.initial_gflags = int_param(name, value)?,
            "lock_set_size" => self.lock_set_size = int_param(name, value)?,
            "hash_file" => self.hash_file = Some(value.to_string()),
            _ => return Err(format!("module `cfgutils` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        if !(0..=100).contains(&self.initial_prob) {
            return Err(format!(
                "modparam(\"cfgutils\", \"initial_probability\", {}): must be within 0..100",
                self.initial_prob
            ));
        }
        let mut size = self.lock_set_size;
        if size > 14 {
            tracing::warn!("cfgutils: lock set size too large ({size}), making it 14");
            size = 14;
        }
        let locks = if size > 0 {
            (0..1usize << size)
                .map(|_| Arc::new(OwnedLock::default()))
                .collect()
        } else {
            Vec::new()
        };
        let hash = match &self.hash_file {
            Some(f) => Some(md5_file(f)?),
            None => None,
        };
        self.state = Arc::new(CfgState {
            initial_prob: self.initial_prob as u32,
            probability: AtomicU32::new(self.initial_prob as u32),
            gflags: AtomicU32::new(self.initial_gflags as u32),
            locks,
            hash_file: self.hash_file.clone(),
            config_hash: Mutex::new(hash),
        });
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        use ParamKind::Format as F;
        let st = &self.state;
        if st.locks.is_empty() {
            let hint = "`lock()` needs modparam(\"cfgutils\", \"lock_set_size\", N): without it, it locks nothing and returns false".to_string();
            reg.hints.insert("lock", hint.clone());
            reg.hints.insert("trylock", hint.clone());
            reg.hints.insert("unlock", hint);
        }
        for (name, op) in [
            ("lock", LockOp::Lock),
            ("trylock", LockOp::Try),
            ("unlock", LockOp::Unlock),
        ] {
            let s = st.clone();
            reg.add_function(def(
                name,
                vec![lock_key_fixup(st)],
                func(move |ctx, a| {
                    let (key, slot) = match a.first() {
                        Some(Arg::Custom(c)) => match c.downcast_ref::<ConstKey>() {
                            Some(k) => (k.key.clone(), Some(k.slot)),
                            None => return -1,
                        },
                        other => (args::text(ctx, other), None),
                    };
                    lock_op(&s, ctx.exec_id, &mut ctx.locks, key, slot, op)
                }),
            ));
        }

        let s = st.clone();
        reg.add_function(def(
            "rand_event",
            vec![],
            func(move |_ctx, _a| {
                let p = s.probability.load(Ordering::Relaxed);
                if p == 0 {
                    return -1;
                }
                if p >= 100 {
                    return 1;
                }
                if fastrand::f64() < f64::from(p) / 100.0 {
                    1
                } else {
                    -1
                }
            }),
        ));
        let s = st.clone();
        reg.add_function(def(
            "rand_set_prob",
            vec![prob_arg()],
            func(move |_ctx, a| {
                if let Some(Arg::Int(p)) = a.first() {
                    s.probability.store(*p as u32, Ordering::Relaxed);
                }
                1
            }),
        ));
        let s = st.clone();
        reg.add_function(def(
            "rand_reset_prob",
            vec![],
            func(move |_ctx, _a| {
                s.probability.store(s.initial_prob, Ordering::Relaxed);
                1
            }),
        ));
        // Returns the probability itself (so 0 ends the script, as in Kamailio).
        let s = st.clone();
        reg.add_function(def(
            "rand_get_prob",
            vec![],
            func(move |_ctx, _a| s.probability.load(Ordering::Relaxed) as i32),
        ));

        for (name, micro) in [("sleep", false), ("usleep", true)] {
            reg.add_function(def(
                name,
                vec![args::int_or_bare_pv()],
                func(move |ctx, a| {
                    let Some(n) = a.first().and_then(|a| args::int_arg(ctx, a)) else {
                        tracing::error!("cfgutils: {name}: cannot get the time interval value (an integer is needed)");
                        return -1;
                    };
                    ctx.flush();
                    let n = u64::from(n as u32);
                    std::thread::sleep(if micro { Duration::from_micros(n) } else { Duration::from_secs(n) });
                    1
                }),
            ));
        }

        reg.add_function(def(
            "abort",
            vec![],
            func(|_ctx, _a| {
                tracing::error!("cfgutils: abort called");
                std::process::abort()
            }),
        ));
        for name in ["pkg_status", "pkg_summary", "shm_status", "shm_summary"] {
            reg.add_function(def(name, vec![], func(|_ctx, _a| 1)));
        }

        for (name, set) in [
            ("set_gflag", Some(true)),
            ("reset_gflag", Some(false)),
            ("is_gflag", None),
        ] {
            let s = st.clone();
            reg.add_function(def(
                name,
                vec![bounded_int(31, name)],
                func(move |_ctx, a| {
                    let Some(Arg::Int(bit)) = a.first() else {
                        return -1;
                    };
                    let mask = 1u32 << (*bit as u32 & 31);
                    match set {
                        Some(true) => {
                            s.gflags.fetch_or(mask, Ordering::Relaxed);
                            1
                        }
                        Some(false) => {
                            s.gflags.fetch_and(!mask, Ordering::Relaxed);
                            1
                        }
                        None => {
                            if s.gflags.load(Ordering::Relaxed) & mask != 0 {
                                1
                            } else {
                                -1
                            }
                        }
                    }
                }),
            ));
        }

        reg.add_function(def(
            "core_hash",
            vec![F, F, ParamKind::IntOrPv],
            func(|ctx, a| {
                let s1 = args::text(ctx, a.first());
                let s2 = args::text(ctx, a.get(1));
                let Some(size) = a.get(2).and_then(|a| args::int_arg(ctx, a)) else {
                    tracing::error!("cfgutils: core_hash: invalid size parameter");
                    return -1;
                };
                let size = if size <= 0 {
                    2
                } else {
                    1u32.checked_shl(size as u32).unwrap_or(0)
                };
                let s2 = if s2.is_empty() { None } else { Some(&s2[..]) };
                core_hash(&s1, s2, size, false) as i32 + 1
            }),
        ));

        // check_route_exists: resolved against the route names at load, so a
        // dynamic name costs one set lookup.
        let route_fixup = ParamKind::Custom(Arc::new(|fx, src| {
            let fmt = parse_format(fx, &src.text)?;
            let names: Arc<std::collections::HashSet<String>> =
                Arc::new(fx.routes.route.keys().cloned().collect());
            Ok(Arg::Custom(Box::new((fmt, names))))
        }));
        type RouteArg = (
            siprd_script::pv::Format<Ctx>,
            Arc<std::collections::HashSet<String>>,
        );
        reg.add_function(def(
            "check_route_exists",
            vec![route_fixup.clone()],
            func(|ctx, a| {
                let Some(Arg::Custom(c)) = a.first() else {
                    return -1;
                };
                let Some((fmt, names)) = c.downcast_ref::<RouteArg>() else {
                    return -1;
                };
                let name = fmt.eval(ctx);
                if names.contains(String::from_utf8_lossy(&name).as_ref()) {
                    1
                } else {
                    -1
                }
            }),
        ));
        reg.add_function(def(
            "route_if_exists",
            vec![route_fixup],
            func(|ctx, a| {
                let Some(Arg::Custom(c)) = a.first() else {
                    return -1;
                };
                let Some((fmt, names)) = c.downcast_ref::<RouteArg>() else {
                    return -1;
                };
                let name = String::from_utf8_lossy(&fmt.eval(ctx)).into_owned();
                if !names.contains(&name) {
                    return -1;
                }
                run_sub_route(ctx, &name).unwrap_or(-1)
            }),
        ));

        reg.add_pv(PvClassDef {
            name: "RANDOM",
            module: "cfgutils",
            parse: Arc::new(|_fx, _inner| Ok(Box::new(Random) as Box<dyn PvImpl<Ctx>>)),
        });
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        // an integer as Kamailio's RPC layer reads one (see `rpc::Scan`):
        // over BINRPC a string or a double is refused, over JSON-RPC a
        // string reads 0 and a double its integer part
        let flag_arg = |p: &[Json]| -> Result<u32, RpcError> {
            crate::rpc::Scan::new(p)
                .int()
                .map(|v| v as u32)
                .map_err(|_| RpcError::new(500, "Invalid Parameters"))
        };
        let s = self.state.clone();
        rpc.add(
            "cfgutils.set_gflag",
            "Sets the bits specified by the argument.",
            move |p| {
                s.gflags.fetch_or(flag_arg(p)?, Ordering::Relaxed);
                Ok(json!({}))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.reset_gflag",
            "Resets the bits specified by the argument.",
            move |p| {
                s.gflags.fetch_and(!flag_arg(p)?, Ordering::Relaxed);
                Ok(json!({}))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.is_gflag",
            "Checks if the bits specified by the argument are all set.",
            move |p| {
                let f = flag_arg(p)?;
                Ok(json!(if s.gflags.load(Ordering::Relaxed) & f == f {
                    "TRUE"
                } else {
                    "FALSE"
                }))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.get_gflags",
            "Return the value for global flags.",
            move |_p| {
                let f = s.gflags.load(Ordering::Relaxed);
                Ok(json!(format!("0x{f:X} ({f})")))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.rand_set_prob",
            "Set the random probability.",
            move |p| {
                let v = crate::rpc::Scan::new(p)
                    .int()
                    .map_err(|_| RpcError::new(500, "Invalid Parameters"))?;
                if !(0..=100).contains(&v) {
                    return Err(RpcError::new(500, "Invalid Percent"));
                }
                s.probability.store(v as u32, Ordering::Relaxed);
                Ok(json!({}))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.rand_reset_prob",
            "Reset the random probability.",
            move |_p| {
                s.probability.store(s.initial_prob, Ordering::Relaxed);
                Ok(json!({}))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.rand_get_prob",
            "Get the random probability.",
            move |_p| {
                Ok(json!(format!(
                    "actual probability: {} percent",
                    s.probability.load(Ordering::Relaxed)
                )))
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.get_config_hash",
            "Get config hash value.",
            move |_p| match &*s.config_hash.lock() {
                Some(h) => Ok(json!(h)),
                // as Kamailio 5.6: without `hash_file` the hash is empty
                None => Ok(json!("")),
            },
        );
        let s = self.state.clone();
        rpc.add(
            "cfgutils.check_config_hash",
            "Check config hash value.",
            move |_p| {
                let Some(f) = &s.hash_file else {
                    return Err(RpcError::new(500, "No hash file"));
                };
                let now = md5_file(f).map_err(|_| RpcError::new(500, "Failed to hash the file"))?;
                let same = s.config_hash.lock().as_deref() == Some(now.as_str());
                Ok(json!(if same {
                    "Identical hash"
                } else {
                    "Different hash"
                }))
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_hash_matches_kamailio() {
        // Values observed with Kamailio 5.6 `core_hash(s1, s2, size)` (+1).
        let kh = |s1: &str, s2: &str, size: i32| {
            let size = if size <= 0 { 2 } else { 1u32 << size };
            core_hash(
                s1.as_bytes(),
                if s2.is_empty() {
                    None
                } else {
                    Some(s2.as_bytes())
                },
                size,
                false,
            ) + 1
        };
        assert_eq!(kh("abc", "", 4), 3);
        assert_eq!(kh("Hello-World", "xyz", 10), 743);
        assert_eq!(kh("café", "", 16), kh("café", "", 16));
        assert_eq!(kh("cafézz", "", 16), 1998);
        assert_eq!(kh("abc", "", 0), 1);
        // case-insensitive variant used for lock keys
        assert_eq!(
            core_hash(b"ABC", None, 0, true),
            core_hash(b"abc", None, 0, false)
        );
    }

    fn module(lock_set_size: Option<i32>) -> Cfgutils {
        let mut m = Cfgutils::default();
        if let Some(n) = lock_set_size {
            m.set_param("lock_set_size", &Value::Int(n)).unwrap();
        }
        m.init(&CoreSettings::default()).unwrap();
        m
    }

    #[test]
    fn params_validated() {
        let mut m = Cfgutils::default();
        m.set_param("initial_probability", &Value::Int(150))
            .unwrap();
        assert!(m
            .init(&CoreSettings::default())
            .unwrap_err()
            .contains("0..100"));
        assert!(Cfgutils::default()
            .set_param("lock_set_size", &Value::from_static("x"))
            .is_err());
        assert!(Cfgutils::default()
            .set_param("nope", &Value::Int(1))
            .is_err());
        assert_eq!(module(Some(20)).state.locks.len(), 1 << 14);
        assert_eq!(module(Some(4)).state.locks.len(), 16);
        assert!(module(None).state.locks.is_empty());
    }

    #[test]
    fn lock_functions() {
        // A key computed at run time (no slot resolved at load).
        fn op(
            st: &CfgState,
            me: ExecId,
            held: &mut HeldLocks,
            key: &'static [u8],
            op: LockOp,
        ) -> i32 {
            lock_op(st, me, held, Bytes::from_static(key), None, op)
        }
        let none = module(None);
        let mut held = HeldLocks::default();
        assert_eq!(op(&none.state, 1, &mut held, b"k", LockOp::Lock), -1);
        assert_eq!(op(&none.state, 1, &mut held, b"k", LockOp::Try), -1);
        assert_eq!(op(&none.state, 1, &mut held, b"k", LockOp::Unlock), -1);
        assert!(held.is_empty());

        let m = module(Some(2));
        let st = m.state.clone();
        assert_eq!(op(&st, 1, &mut held, b"k", LockOp::Lock), 1);
        assert_eq!(op(&st, 1, &mut held, b"K", LockOp::Try), 1); // same slot, recursive
        let mut other = HeldLocks::default();
        assert_eq!(op(&st, 2, &mut other, b"k", LockOp::Try), -1);
        assert_eq!(op(&st, 1, &mut held, b"k", LockOp::Unlock), 1);
        assert_eq!(op(&st, 2, &mut other, b"k", LockOp::Try), -1);
        // an execution ending with the lock held releases it
        assert_eq!(held.release_all(1).len(), 1);
        assert_eq!(op(&st, 2, &mut other, b"k", LockOp::Try), 1);
        // another thread blocks in lock() until released
        let st2 = st.clone();
        let t = std::thread::spawn(move || {
            let mut h = HeldLocks::default();
            lock_op(
                &st2,
                3,
                &mut h,
                Bytes::from_static(b"k"),
                None,
                LockOp::Lock,
            );
            lock_op(
                &st2,
                3,
                &mut h,
                Bytes::from_static(b"k"),
                None,
                LockOp::Unlock,
            )
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished());
        assert_eq!(op(&st, 2, &mut other, b"k", LockOp::Unlock), 1);
        assert_eq!(t.join().unwrap(), 1);
    }

    #[test]
    fn a_key_resolved_at_load_takes_the_same_lock_as_at_run_time() {
        let st = module(Some(4)).state.clone();
        let (mut a, mut b) = (HeldLocks::default(), HeldLocks::default());
        let key = Bytes::from_static(b"calls-to::10.10.10.10");
        let slot = Some(lock_slot(&st, &key));
        assert_eq!(lock_op(&st, 1, &mut a, key.clone(), slot, LockOp::Lock), 1);
        assert_eq!(lock_op(&st, 2, &mut b, key.clone(), None, LockOp::Try), -1);
        assert_eq!(
            lock_op(&st, 1, &mut a, key.clone(), None, LockOp::Unlock),
            1
        );
        assert_eq!(lock_op(&st, 2, &mut b, key, slot, LockOp::Try), 1);
    }

    #[test]
    fn lock_set_keys_share_locks_across_threads() {
        let m = module(Some(4));
        let st = m.state.clone();
        let pos = core_hash(b"10.10.10.10", None, 16, true) as usize;
        let l = st.locks[pos].clone();
        l.lock(1);
        let l2 = l.clone();
        let t = std::thread::spawn(move || l2.try_lock(2));
        assert!(!t.join().unwrap());
        assert!(l.unlock(1));
        assert!(l.try_lock(2));
    }
}
