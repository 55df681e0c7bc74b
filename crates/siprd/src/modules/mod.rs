//! Every module siprd has. `loadmodule "NAME.so"` picks one from [`ALL`].

use crate::module::ModuleInfo;

/// The module list: the only place a new module is added.
pub const ALL: &[ModuleInfo] = &[];

/// Find a module by the name used in `loadmodule`.
pub fn find(name: &str) -> Option<&'static ModuleInfo> {
    ALL.iter().find(|m| m.name == name)
}
