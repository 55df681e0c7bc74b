//! The Lua engine: the loaded script, its generation, one Lua state per
//! thread that runs scripts (built lazily, rebuilt after a reload), and the
//! scoped pointer through which `KSR.*` functions reach the running `Ctx`.

use super::ksr;
use crate::context::Ctx;
use crate::runtime::{EventOutcome, KemiEngine, KemiFn};
use arc_swap::ArcSwap;
use mlua::{Lua, Value as LuaValue};
use parking_lot::RwLock;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

/// The Lua error value `KSR.x.exit()` raises (as Kamailio): ends the
/// execution without an error log; a script's `pcall` may catch it.
pub const EXIT_MARK: &str = "~~ksr~exit~~";

/// Interned function names are bounded: names come from the script, but a
/// script could build them at run time.
const MAX_NAMES: usize = 4096;

/// One version of the script.
pub struct Script {
    /// Bumped by every successful reload; threads rebuild their state on change.
    pub generation: u64,
    pub path: PathBuf,
    pub text: String,
    /// Global functions the script defines (for event resolution and warnings).
    pub functions: HashSet<String>,
}

/// Interned callback names: by index, and the index of each name.
type Names = (Vec<Arc<str>>, HashMap<Arc<str>, u32>);

pub struct LuaEngine {
    script: ArcSwap<Script>,
    names: RwLock<Names>,
}

thread_local! {
    /// This thread's Lua state and the script generation it was built from.
    static STATE: RefCell<Option<(u64, Lua)>> = const { RefCell::new(None) };
    /// The context of the execution running on this thread, lent to one
    /// `KSR.*` call at a time (see [`with_ctx`]).
    static CURRENT: Cell<*mut Ctx> = const { Cell::new(std::ptr::null_mut()) };
}

/// Sets `CURRENT` for the duration of a Lua call and restores the previous
/// value (a nested call from a native route run by `KSR.route`) on drop.
struct CtxGuard<'a> {
    prev: *mut Ctx,
    _borrow: PhantomData<&'a mut Ctx>,
}

impl<'a> CtxGuard<'a> {
    fn set(ctx: &'a mut Ctx) -> CtxGuard<'a> {
        let prev = CURRENT.with(|c| c.replace(ctx as *mut Ctx));
        CtxGuard {
            prev,
            _borrow: PhantomData,
        }
    }
}

impl Drop for CtxGuard<'_> {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Run `f` on the context of the running execution. The pointer is taken out
/// of `CURRENT` while `f` runs, so no second `&mut Ctx` to it can exist: a
/// nested engine call inside `f` installs its own (derived from the `&mut`
/// it is given) and restores ours when it returns. None outside an
/// execution (a script's top level at load).
pub fn with_ctx<R>(f: impl FnOnce(&mut Ctx) -> R) -> Option<R> {
    struct Restore(*mut Ctx);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let p = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    if p.is_null() {
        return None;
    }
    let _restore = Restore(p);
    // SAFETY: `p` was set by a `CtxGuard` from a `&mut Ctx` that outlives the
    // Lua call we are inside (the guard borrows it), on this thread; the
    // owner does not touch the context while Lua runs, and the pointer is
    // lent to this closure alone (CURRENT is null meanwhile).
    Some(f(unsafe { &mut *p }))
}

impl LuaEngine {
    pub fn new(script: Script) -> LuaEngine {
        LuaEngine {
            script: ArcSwap::from_pointee(script),
            names: RwLock::new((Vec::new(), HashMap::new())),
        }
    }

    pub fn script(&self) -> Arc<Script> {
        self.script.load_full()
    }

    /// Validate `path` in a fresh state, then make it the running script.
    /// Threads pick it up at their next call. On error the old one stays.
    pub fn reload(&self) -> Result<u64, String> {
        let old = self.script.load();
        let text = std::fs::read_to_string(&old.path)
            .map_err(|e| format!("cannot read {}: {e}", old.path.display()))?;
        let functions = validate(&old.path, &text)?;
        let generation = old.generation + 1;
        self.script.store(Arc::new(Script {
            generation,
            path: old.path.clone(),
            text,
            functions,
        }));
        Ok(generation)
    }

    /// This thread's Lua state, (re)built from the current script when needed.
    fn thread_lua(&self, ctx: &Ctx) -> Option<Lua> {
        let script = self.script.load();
        STATE.with(|st| {
            if let Some((g, lua)) = st.borrow().as_ref() {
                if *g == script.generation {
                    return Some(lua.clone());
                }
            }
            let lua = new_state();
            let built = ksr::install(&lua, &ctx.rt).and_then(|()| {
                lua.load(script.text.as_str())
                    .set_name(chunk_name(&script.path))
                    .exec()
            });
            if let Err(e) = built {
                tracing::error!(
                    "app_lua: cannot load {} in this thread: {}",
                    script.path.display(),
                    error_text(&e)
                );
                return None;
            }
            *st.borrow_mut() = Some((script.generation, lua.clone()));
            Some(lua)
        })
    }

    /// Run a global function by name with string arguments (`lua_run`).
    /// -1 when it does not exist or fails, 1 otherwise.
    pub fn run_named(&self, ctx: &mut Ctx, name: &str, args: &[&[u8]]) -> i32 {
        let Some(lua) = self.thread_lua(ctx) else {
            return -1;
        };
        let Ok(LuaValue::Function(f)) = lua.globals().raw_get::<LuaValue>(name) else {
            tracing::error!("app_lua: no function `{name}` in the script");
            return -1;
        };
        let mut values = mlua::MultiValue::new();
        for a in args {
            match lua.create_string(a) {
                Ok(s) => values.push_back(LuaValue::String(s)),
                Err(_) => return -1,
            }
        }
        let _g = CtxGuard::set(ctx);
        match f.call::<()>(values) {
            Ok(()) => 1,
            Err(e) => report(name, &e),
        }
    }

    /// Run a chunk of Lua source (`lua_runstring`, `lua_dofile`).
    pub fn run_source(&self, ctx: &mut Ctx, name: &str, source: &[u8]) -> i32 {
        let Some(lua) = self.thread_lua(ctx) else {
            return -1;
        };
        let chunk = lua.load(source).set_name(name);
        let _g = CtxGuard::set(ctx);
        match chunk.exec() {
            Ok(()) => 1,
            Err(e) => report(name, &e),
        }
    }
}

impl KemiEngine for LuaEngine {
    fn name(&self) -> &'static str {
        "lua"
    }

    fn intern(&self, name: &str) -> Option<KemiFn> {
        if let Some(i) = self.names.read().1.get(name) {
            return Some(KemiFn(*i));
        }
        let mut names = self.names.write();
        if let Some(i) = names.1.get(name) {
            return Some(KemiFn(*i));
        }
        if names.0.len() >= MAX_NAMES {
            tracing::error!("app_lua: too many distinct callback names, `{name}` refused");
            return None;
        }
        let i = names.0.len() as u32;
        let name: Arc<str> = Arc::from(name);
        names.0.push(name.clone());
        names.1.insert(name, i);
        Some(KemiFn(i))
    }

    fn fn_name(&self, f: KemiFn) -> Arc<str> {
        self.names
            .read()
            .0
            .get(f.0 as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(""))
    }

    fn defines(&self, name: &str) -> bool {
        self.script.load().functions.contains(name)
    }

    fn call(&self, ctx: &mut Ctx, f: KemiFn, arg: Option<&str>) -> EventOutcome {
        let name = self.fn_name(f);
        if let Some(lua) = self.thread_lua(ctx) {
            match lua.globals().raw_get::<LuaValue>(&*name) {
                Ok(LuaValue::Function(func)) => {
                    let _g = CtxGuard::set(ctx);
                    let r = match arg {
                        Some(a) => func.call::<()>(a),
                        None => func.call::<()>(()),
                    };
                    if let Err(e) = r {
                        report(&name, &e);
                    }
                }
                // Kamailio skips a missing callback silently
                _ => tracing::debug!("app_lua: no function `{name}`: skipped"),
            }
        }
        EventOutcome {
            dropped: ctx.exec.dropped,
            retcode: ctx.exec.retcode,
            value: None,
        }
    }
}

/// A Lua state with the standard libraries Kamailio's app_lua opens: all of
/// them, `debug` included (scripts call `debug.traceback` in error handlers).
fn new_state() -> Lua {
    // SAFETY: the debug library can break Lua's invariants only when a script
    // sets out to; the script is part of the trusted configuration, as in
    // Kamailio, which opens the same libraries.
    unsafe {
        Lua::unsafe_new_with(
            mlua::StdLib::ALL_SAFE | mlua::StdLib::DEBUG,
            mlua::LuaOptions::default(),
        )
    }
}

/// `@path`: Lua then prefixes error messages with `path:line:`.
fn chunk_name(path: &std::path::Path) -> String {
    format!("@{}", path.display())
}

/// Load and run `text` in a fresh state with a stub `KSR` (no message exists
/// at load); returns the global functions it defines, or the Lua error.
pub fn validate(path: &std::path::Path, text: &str) -> Result<HashSet<String>, String> {
    let lua = new_state();
    ksr::install_stub(&lua).map_err(|e| error_text(&e))?;
    lua.load(text)
        .set_name(chunk_name(path))
        .exec()
        .map_err(|e| error_text(&e))?;
    let mut functions = HashSet::new();
    for pair in lua.globals().pairs::<LuaValue, LuaValue>() {
        if let Ok((LuaValue::String(k), LuaValue::Function(_))) = pair {
            if let Ok(k) = k.to_str() {
                functions.insert(k.to_string());
            }
        }
    }
    Ok(functions)
}

/// The message of a Lua error, without mlua's wrapping and traceback.
pub fn error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => error_text(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => {
            m.lines().next().unwrap_or_default().to_string()
        }
        mlua::Error::WithContext { cause, .. } => error_text(cause),
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// Log a failed call unless it is `KSR.x.exit()`; -1 for `lua_run`.
fn report(name: &str, e: &mlua::Error) -> i32 {
    let msg = error_text(e);
    if msg.contains(EXIT_MARK) {
        return 1;
    }
    // as Kamailio 5.6's app_lua: the error value (when it is not a string
    // or a number: "unknown"), then the function that failed
    let unknown = msg == "nil"
        || msg == "true"
        || msg == "false"
        || ["table: ", "function: ", "userdata: ", "thread: "]
            .iter()
            .any(|p| msg.starts_with(p));
    if unknown {
        crate::log::emit_head(
            crate::log::L_ERR,
            "app_lua [app_lua_api.c:793]: app_lua_run_ex()",
            "error from Lua: unknown",
        );
    } else {
        crate::log::emit_head(
            crate::log::L_ERR,
            "app_lua [app_lua_api.c:786]: app_lua_run_ex()",
            &format!("error from Lua: {msg}"),
        );
    }
    crate::log::emit_head(
        crate::log::L_ERR,
        "app_lua [app_lua_api.c:801]: app_lua_run_ex()",
        &format!("error executing: {name} (err: 2)"),
    );
    -1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_lists_global_functions_and_reports_lines() {
        let p = std::path::Path::new("/x/k.lua");
        let f = validate(
            p,
            "function a() end\nlocal function b() end\nKSR.info('x')\n",
        )
        .expect("loads with the stub KSR");
        assert!(f.contains("a") && !f.contains("b"), "{f:?}");
        let e = validate(p, "function a()\n  if then\nend\n").expect_err("syntax error");
        assert!(e.starts_with("/x/k.lua:2:"), "{e}");
        let e = validate(p, "\n\nerror('boom')\n").expect_err("runtime error");
        assert!(e.contains("/x/k.lua:3: boom"), "{e}");
    }

    #[test]
    fn ksr_calls_outside_an_execution_have_no_context() {
        assert!(with_ctx(|_| ()).is_none());
    }
}
