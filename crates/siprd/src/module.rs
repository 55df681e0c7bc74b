//! The module interface. Each module declares, in one place, its parameters,
//! script functions, pseudo-variables, transformations, the event routes it
//! raises, its RPC commands and its lifecycle hooks. Adding a module means
//! writing one file under `modules/` and adding one line to `modules::ALL`.

use crate::context::Ctx;
use crate::rpc::RpcRegistry;
use crate::runtime::{Hooks, Runtime};
use siprd_script::registry::{ModParamDecl, ModuleDecl, Registry};
use siprd_script::Value;
use std::sync::Arc;

/// Settings of the core that modules may read while they initialise.
pub use crate::settings::CoreSettings;

/// A module instance for one loaded configuration.
///
/// Lifecycle: `set_param` for every `modparam` (in config order) → `init` →
/// `register` (functions, PVs, transformations) → the routes are compiled →
/// `rpc` → `start` (threads, startup events) → traffic → `stop`.
pub trait Module: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Declared `modparam` names and types (checked by the compiler).
    fn params(&self) -> Vec<ModParamDecl> {
        Vec::new()
    }

    /// Event route names this module raises (a name ending in `:` is a family).
    fn events(&self) -> Vec<&'static str> {
        Vec::new()
    }

    /// Apply one `modparam`. The value's type was checked against `params()`.
    fn set_param(&mut self, name: &str, _value: &Value) -> Result<(), String> {
        Err(format!(
            "module `{}` has no parameter `{name}`",
            self.name()
        ))
    }

    /// Called once after all parameters: validate them and build shared state.
    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        Ok(())
    }

    /// Register script functions, PV classes and transformations. Implementations
    /// capture `Arc`s of the module's shared state in the closures they register.
    fn register(&self, reg: &mut Registry<Ctx>);

    /// Register RPC commands.
    fn rpc(&self, _rpc: &mut RpcRegistry) {}

    /// Install callbacks on the message path (before the routes).
    fn hooks(&self, _hooks: &mut Hooks) {}

    /// Called once the program is compiled and the transport is up, before
    /// traffic: start threads, raise startup events.
    fn start(&self, _rt: &Arc<Runtime>) -> Result<(), String> {
        Ok(())
    }

    /// An embedded-language engine (app_lua), used when `cfgengine` names it.
    fn kemi_engine(&self) -> Option<Arc<dyn crate::runtime::KemiEngine>> {
        None
    }

    /// Called at shutdown; threads started by the module must end promptly.
    fn stop(&self) {}

    /// The declaration the compiler checks `modparam` and events against.
    fn decl(&self) -> ModuleDecl {
        ModuleDecl {
            name: self.name(),
            params: self.params(),
            events: self.events(),
        }
    }
}

/// A module the server knows: its name (as in `loadmodule "name.so"`) and a
/// constructor for a fresh, unconfigured instance.
pub struct ModuleInfo {
    pub name: &'static str,
    pub new: fn() -> Box<dyn Module>,
    /// Names of other modules that must be loaded for this one to work.
    pub requires: &'static [&'static str],
}

/// The module name a `loadmodule` argument refers to: the file name without
/// directories and without `.so` (`"/usr/lib/kamailio/modules/tm.so"` → `tm`).
pub fn module_name_of(path: &str) -> &str {
    let base = path.rsplit('/').next().unwrap_or(path);
    base.strip_suffix(".so").unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadmodule_names() {
        assert_eq!(module_name_of("tm.so"), "tm");
        assert_eq!(module_name_of("tm"), "tm");
        assert_eq!(
            module_name_of("/usr/lib/kamailio/modules/htable.so"),
            "htable"
        );
    }
}
