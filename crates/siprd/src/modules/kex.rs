//! kex: the part of Kamailio's kex module siprd has: the statistics RPC
//! commands (`stats.get_statistics`, `stats.reset_statistics`), `is_myself(uri)`,
//! `pv_printf`/`avp_printf`, `setdsturi`/`isdsturiset`/`resetdsturi`, script flags
//! (`setsflag issflagset resetsflag`), branch flags (`setbflag isbflagset
//! resetbflag`, kept in `Ctx::ruri_bflags` and `Branch::flags`) and `setdebug`/`resetdebug`. kex's other functions
//! are unknown functions (a config error naming them).
//!
//! Observed on Kamailio 5.6: flags are 0..=31; a flag or branch index given in
//! a variable must hold an integer (a numeric string fails); a missing branch
//! fails; script and branch flags start at 0 for each message.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{int_arg, str_arg};
use crate::rpc::RpcRegistry;
use crate::runtime::Runtime;
use siprd_script::registry::FuncImpl;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::sync::{Arc, OnceLock, Weak};

/// `$sruid`: a server-unique id, `srid-<start time>-<pid>-<counter>` in hex
/// as Kamailio writes it (the counter's digits least significant first).
/// One counter for every thread, since they share the pid.
struct Sruid {
    prefix: String,
    counter: std::sync::atomic::AtomicU64,
}

impl Sruid {
    fn next(&self) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let mut out = self.prefix.clone();
        out.extend(format!("{n:x}").chars().rev());
        out
    }
}

/// Every `$sruid` of the config reads the one counter.
struct SharedSruid(Arc<Sruid>);

impl siprd_script::registry::PvImpl<Ctx> for SharedSruid {
    fn get(&self, _ctx: &mut Ctx, _idx: siprd_script::registry::PvIndex) -> Value {
        Value::from_string(self.0.next())
    }
}

fn sruid_prefix() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("srid-{secs:x}-{:x}-", std::process::id())
}

#[derive(Default)]
pub struct Kex {
    rt: Arc<OnceLock<Weak<Runtime>>>,
}

impl Module for Kex {
    fn name(&self) -> &'static str {
        "kex"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let sruid = Arc::new(Sruid {
            prefix: sruid_prefix(),
            counter: Default::default(),
        });
        reg.add_pv(siprd_script::registry::PvClassDef {
            name: "sruid",
            module: "kex",
            parse: Arc::new(move |_fx, inner| match inner {
                None => Ok(Box::new(SharedSruid(sruid.clone()))
                    as Box<dyn siprd_script::registry::PvImpl<Ctx>>),
                Some(_) => Err("`$sruid` takes no name in parentheses".to_string()),
            }),
        });
        reg.add_function(FuncDef {
            name: "is_myself",
            module: "kex",
            params: vec![ParamKind::Format],
            routes: route_type::ANY,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let uri = str_arg(ctx, &a[0]).unwrap_or_default();
                if crate::config::is_myself(
                    ctx,
                    &Value::Str(uri),
                    crate::config::PortlessUri::AnyPort,
                ) {
                    1
                } else {
                    -1
                }
            }),
        });
        for name in ["pv_printf", "avp_printf"] {
            reg.add_function(def(
                name,
                vec![ParamKind::WritablePv, ParamKind::Format],
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let (Some(Arg::Pv(dst)), Some(Arg::Fmt(fmt))) = (a.first(), a.get(1)) else {
                        return -1;
                    };
                    let v = fmt.eval(ctx);
                    match dst.set(ctx, Value::Str(v)) {
                        Ok(()) => 1,
                        Err(e) => {
                            tracing::error!("{name}: cannot set {}: {e:?}", dst.text);
                            -1
                        }
                    }
                }),
            ));
        }
        reg.add_function(def(
            "isdsturiset",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| match &ctx.dst_uri {
                Some(d) if !d.is_empty() => 1,
                _ => -1,
            }),
        ));
        reg.add_function(def(
            "resetdsturi",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                ctx.dst_uri = None;
                1
            }),
        ));
        // Observed on Kamailio 5.6: any string is taken as the destination
        // URI (1), and an empty one unsets it (still 1).
        reg.add_function(def(
            "setdsturi",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(uri) = a.first().and_then(|x| str_arg(ctx, x)) else {
                    return -1;
                };
                ctx.dst_uri = if uri.is_empty() { None } else { Some(uri) };
                1
            }),
        ));
        // siprd has no per-process log level to change: setting or resetting
        // it succeeds and changes nothing (Kamailio returns 1 for any level).
        reg.add_function(def(
            "resetdebug",
            vec![],
            func(|_ctx: &mut Ctx, _a: &[Arg<Ctx>]| 1),
        ));
        reg.add_function(def(
            "setdebug",
            vec![ParamKind::IntOrPv],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| match a.first() {
                Some(x) => match int_arg(ctx, x) {
                    Some(_) => 1,
                    None => -1,
                },
                None => -1,
            }),
        ));

        reg.add_function(def(
            "setsflag",
            vec![ParamKind::IntOrPv],
            func(
                |ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_bit(ctx, "setsflag", a.first()) {
                    Some(b) => {
                        ctx.sflags |= b;
                        1
                    }
                    None => -1,
                },
            ),
        ));
        reg.add_function(def(
            "resetsflag",
            vec![ParamKind::IntOrPv],
            func(
                |ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_bit(ctx, "resetsflag", a.first()) {
                    Some(b) => {
                        ctx.sflags &= !b;
                        1
                    }
                    None => -1,
                },
            ),
        ));
        reg.add_function(def(
            "issflagset",
            vec![ParamKind::IntOrPv],
            func(
                |ctx: &mut Ctx, a: &[Arg<Ctx>]| match flag_bit(ctx, "issflagset", a.first()) {
                    Some(b) if ctx.sflags & b != 0 => 1,
                    _ => -1,
                },
            ),
        ));
        for params in [
            vec![ParamKind::IntOrPv],
            vec![ParamKind::IntOrPv, ParamKind::IntOrPv],
        ] {
            reg.add_function(def(
                "setbflag",
                params.clone(),
                bflag_op("setbflag", |f, b| {
                    *f |= b;
                    true
                }),
            ));
            reg.add_function(def(
                "resetbflag",
                params.clone(),
                bflag_op("resetbflag", |f, b| {
                    *f &= !b;
                    true
                }),
            ));
            reg.add_function(def(
                "isbflagset",
                params,
                bflag_op("isbflagset", |f, b| *f & b != 0),
            ));
        }
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        crate::modules::jsonrpcs::core_cmds::register_stats(rpc, &self.rt);
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.rt.set(Arc::downgrade(rt));
        Ok(())
    }
}

fn def(name: &'static str, params: Vec<ParamKind<Ctx>>, call: FuncImpl<Ctx>) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "kex",
        params,
        routes: route_type::ANY,
        call,
    }
}

/// The bit of a flag argument (0..=31); None (with an error log) otherwise.
fn flag_bit(ctx: &mut Ctx, fname: &str, a: Option<&Arg<Ctx>>) -> Option<u32> {
    let f = a.and_then(|a| int_arg(ctx, a));
    match f {
        Some(f @ 0..=31) => Some(1u32 << f),
        _ => {
            tracing::error!("{fname}: invalid flag {f:?} (flags are 0..=31)");
            None
        }
    }
}

/// `setbflag`/`resetbflag`/`isbflagset` with `(flag[, branch])`: `op` gets the
/// flags of the branch and the flag's bit, and answers true or false.
fn bflag_op(fname: &'static str, op: fn(&mut u32, u32) -> bool) -> FuncImpl<Ctx> {
    func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
        let Some(bit) = flag_bit(ctx, fname, a.first()) else {
            return -1;
        };
        let branch = match a.get(1) {
            None => 0,
            Some(b) => match int_arg(ctx, b).and_then(|b| usize::try_from(b).ok()) {
                Some(b) => b,
                None => {
                    tracing::error!("{fname}: invalid branch index");
                    return -1;
                }
            },
        };
        let Some(flags) = ctx.branch_flags_mut(branch) else {
            tracing::error!("{fname}: no branch {branch}");
            return -1;
        };
        if op(flags, bit) {
            1
        } else {
            -1
        }
    })
}
