//! pv: the pseudo-variables of the message and its context (`msg.rs`) and
//! the script's own variables: `$shv`, `$avp`, `$xavp` (`vars.rs`).

pub mod msg;
pub mod transforms;
pub mod vars;

pub use msg::RawPacket;

use crate::context::Ctx;
use crate::module::Module;
use siprd_script::Registry;

/// The pv module.
#[derive(Default)]
pub struct Pv;

impl Module for Pv {
    fn name(&self) -> &'static str {
        "pv"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        msg::register(reg);
        transforms::register(reg);
    }
}
