//! app_lua: KEMI with Lua. With `cfgengine "lua"` the routing entry points
//! (`ksr_request_route`, `ksr_reply_route`, the `kemi.*_callback` names) and
//! every event callback are Lua functions of the script loaded with
//! `modparam("app_lua", "load", FILE)`; native routes can call Lua with
//! `lua_run`, `lua_runstring`, `lua_dofile`. `KSR.*` is generated from the
//! module registry (ksr.rs). The seam is `runtime::{RouteRef, KemiEngine}`.

pub mod engine;
pub mod kemi_names;
pub mod ksr;
mod ksr_core;
mod ksr_kx;
mod ksr_pvx;
mod ksr_textopsx;

use crate::context::Ctx;
use crate::module::{CoreSettings, Module};
use crate::modules::args::text;
use crate::rpc::{RpcError, RpcRegistry};
use crate::runtime::KemiEngine;
use engine::{LuaEngine, Script};
use serde_json::{json, Value as Json};
use siprd_script::registry::{func, FuncDef, ModParamDecl, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

#[derive(Default)]
pub struct AppLua {
    load: Option<String>,
    engine: OnceLock<Arc<LuaEngine>>,
    /// Set at start: `app_lua.api_list` reads the registry.
    rt: Arc<OnceLock<std::sync::Weak<crate::runtime::Runtime>>>,
}

/// Kamailio's name for a parameter type.
fn param_type(p: &ParamKind<Ctx>) -> &'static str {
    match p {
        ParamKind::Int | ParamKind::IntOrPv | ParamKind::IntFormat => "int",
        _ => "str",
    }
}

/// `app_lua.api_list`: the `KSR.*` functions backed by a native function,
/// in Kamailio's shape (`{msize, methods: [{func: {ret, module, name,
/// params}}]}`); a function with several arities shows its longest form.
/// The ones written in app_lua itself (`KSR.pv.*`, `KSR.hdr.*`, the log
/// functions ...) carry no type information and are not listed.
fn api_list(rt: &crate::runtime::Runtime) -> Json {
    let aliases: std::collections::HashMap<(&str, &str), &str> = ksr::ALIASES
        .iter()
        .map(|(m, k, n)| ((*m, *k), *n))
        .collect();
    let bools: std::collections::HashMap<&str, &str> = ksr::BOOL_ALIASES.iter().copied().collect();
    let mut items = Vec::new();
    for (module, name, _) in ksr::exports(&rt.registry) {
        let (native, ret) = if module == "core" {
            match bools.get(name.as_str()) {
                Some(n) => (*n, "bool"),
                None => (name.as_str(), "int"),
            }
        } else {
            let n = aliases
                .get(&(module.as_str(), name.as_str()))
                .copied()
                .unwrap_or(name.as_str());
            (n, "int")
        };
        let longest = rt
            .registry
            .functions
            .get(native)
            .and_then(|defs| defs.iter().max_by_key(|d| d.params.len()));
        let params = match longest {
            Some(d) if !d.params.is_empty() => d
                .params
                .iter()
                .map(param_type)
                .collect::<Vec<_>>()
                .join(", "),
            _ => "none".to_string(),
        };
        items.push(json!({
            "ret": ret,
            "module": if module == "core" { "" } else { module.as_str() },
            "name": name,
            "params": params,
        }));
    }
    json!({
        "msize": items.len(),
        "methods": crate::rpc::keyed_list("func", items),
    })
}

/// Where a relative script path is found: next to the config file, else in
/// `workdir`, else in the current directory (Kamailio's `workdir="."`).
fn resolve(path: &str, core: &CoreSettings) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        return p.to_path_buf();
    }
    let candidates = [
        core.config_dir.as_ref().map(|d| d.join(p)),
        core.workdir.as_ref().map(|w| Path::new(w).join(p)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| c.exists())
        .unwrap_or_else(|| p.to_path_buf())
}

impl Module for AppLua {
    fn name(&self) -> &'static str {
        "app_lua"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl::str("load"),
            ModParamDecl::any("log_mode"),
            ModParamDecl::any("reload"),
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "load" => {
                if self.load.is_some() {
                    return Err("siprd loads one Lua script (a second `load` is refused)".into());
                }
                self.load = Some(value.to_string());
            }
            // accepted for compatibility, no effect
            "log_mode" | "reload" => {}
            _ => return Err(format!("app_lua has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, core: &CoreSettings) -> Result<(), String> {
        let Some(load) = &self.load else {
            if core.cfgengine == "lua" {
                return Err("cfgengine \"lua\" needs modparam(\"app_lua\", \"load\", FILE)".into());
            }
            return Ok(());
        };
        let path = resolve(load, core);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read Lua script {}: {e}", path.display()))?;
        let functions = engine::validate(&path, &text)?;
        let _ = self.engine.set(Arc::new(LuaEngine::new(Script {
            generation: 1,
            path,
            text,
            functions,
        })));
        Ok(())
    }

    fn start(&self, rt: &Arc<crate::runtime::Runtime>) -> Result<(), String> {
        let _ = self.rt.set(Arc::downgrade(rt));
        Ok(())
    }

    fn kemi_engine(&self) -> Option<Arc<dyn KemiEngine>> {
        self.engine.get().map(|e| e.clone() as Arc<dyn KemiEngine>)
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let engine = self.engine.get().cloned();
        for n in 1..=4usize {
            let e = engine.clone();
            reg.add_function(FuncDef {
                name: "lua_run",
                module: "app_lua",
                params: vec![ParamKind::Format; n],
                routes: route_type::ANY,
                call: func(move |ctx: &mut Ctx, a| {
                    let Some(e) = &e else { return no_script() };
                    let name = text(ctx, a.first());
                    let args: Vec<_> = a.iter().skip(1).map(|x| text(ctx, Some(x))).collect();
                    let argv: Vec<&[u8]> = args.iter().map(|b| b.as_ref()).collect();
                    e.run_named(ctx, &String::from_utf8_lossy(&name), &argv)
                }),
            });
        }
        // `lua_dostring` is the older name of `lua_runstring`
        for name in ["lua_runstring", "lua_dostring"] {
            let e = engine.clone();
            reg.add_function(FuncDef {
                name,
                module: "app_lua",
                params: vec![ParamKind::Format],
                routes: route_type::ANY,
                call: func(move |ctx: &mut Ctx, a| {
                    let Some(e) = &e else { return no_script() };
                    let src = text(ctx, a.first());
                    e.run_source(ctx, "=lua_runstring", &src)
                }),
            });
        }
        let e = engine;
        reg.add_function(FuncDef {
            name: "lua_dofile",
            module: "app_lua",
            params: vec![ParamKind::Format],
            routes: route_type::ANY,
            call: func(move |ctx: &mut Ctx, a| {
                let Some(e) = &e else { return no_script() };
                let path = String::from_utf8_lossy(&text(ctx, a.first())).to_string();
                match std::fs::read(&path) {
                    Ok(src) => e.run_source(ctx, &format!("@{path}"), &src),
                    Err(err) => {
                        tracing::error!("lua_dofile: cannot read {path}: {err}");
                        -1
                    }
                }
            }),
        });
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        let e = self.engine.get().cloned();
        rpc.add(
            "app_lua.reload",
            "Reload the Lua script (validated first; a broken one is refused)",
            move |_params: &[Json]| {
                let Some(e) = &e else {
                    // Kamailio 5.6's answer without a script
                    return Err(RpcError::new(500, "Reload Failed"));
                };
                match e.reload() {
                    Ok(generation) => {
                        tracing::info!("app_lua: script reloaded (version {generation})");
                        // as Kamailio 5.6: an empty answer
                        Ok(json!({}))
                    }
                    Err(msg) => {
                        tracing::error!("app_lua: reload refused: {msg}");
                        Err(RpcError::new(500, format!("reload failed: {msg}")))
                    }
                }
            },
        );
        let rt = self.rt.clone();
        rpc.add(
            "app_lua.api_list",
            "List the KEMI functions exported to Lua (those backed by a native function).",
            move |_params: &[Json]| {
                let rt = rt
                    .get()
                    .and_then(std::sync::Weak::upgrade)
                    .ok_or_else(|| RpcError::new(500, "Server not ready"))?;
                Ok(api_list(&rt))
            },
        );
        let e = self.engine.get().cloned();
        rpc.add(
            "app_lua.list",
            "The loaded Lua script and its version",
            move |_params: &[Json]| {
                let Some(e) = &e else {
                    // Kamailio 5.6's text when no script is loaded
                    return Ok(json!("No scripts loaded"));
                };
                // Kamailio 5.6's line: the script's index and file
                Ok(json!(format!("0: [{}]", e.script().path.display())))
            },
        );
    }
}

/// The `KSR.*` export list of every module siprd has (`siprd --kemi-list`),
/// as Markdown: generated from the registry, so it is always complete.
pub fn kemi_list() -> String {
    let modules: Vec<Box<dyn Module>> = crate::modules::ALL
        .iter()
        .map(|i| (i.new)())
        .chain(std::iter::once(
            Box::new(crate::modules::core::Core) as Box<dyn Module>
        ))
        .collect();
    let reg = crate::config::build_registry(&modules);
    let mut out =
        String::from("| KSR function | arguments (arities) | native function |\n|---|---|---|\n");
    let aliases: std::collections::HashMap<(&str, &str), &str> = ksr::ALIASES
        .iter()
        .map(|(m, k, n)| ((*m, *k), *n))
        .collect();
    for (module, name, arities) in ksr::exports(&reg) {
        let ar: Vec<String> = arities.iter().map(usize::to_string).collect();
        let native = aliases
            .get(&(module.as_str(), name.as_str()))
            .copied()
            .unwrap_or(name.as_str());
        let path = if module == "core" {
            format!("KSR.{name}")
        } else {
            format!("KSR.{module}.{name}")
        };
        out.push_str(&format!("| `{path}` | {} | `{native}` |\n", ar.join(", ")));
    }
    out.push_str("\nWritten in app_lua (no native counterpart):\n\n");
    for (name, args) in ksr::SPECIALS {
        out.push_str(&format!("- `{name}({args})`\n"));
    }
    out
}

fn no_script() -> i32 {
    tracing::error!("app_lua: no script loaded (modparam(\"app_lua\", \"load\", FILE))");
    -1
}
