//! kemix: `KSR.kx.*`, getters of message attributes for KEMI scripts
//! (app_lua installs them, `modules/app_lua/ksr_kx.rs`, when this module is
//! loaded). No parameters, no config functions.

use crate::context::Ctx;
use crate::module::Module;
use siprd_script::Registry;

#[derive(Default)]
pub struct Kemix;

impl Module for Kemix {
    fn name(&self) -> &'static str {
        "kemix"
    }

    fn register(&self, _reg: &mut Registry<Ctx>) {}
}
