//! pv: the pseudo-variables of the message and its context (`msg.rs`),
//! the script's own variables: `$shv`, `$avp`, `$xavp` (`vars.rs`), and the
//! static branch `$sbranch` (`sbranch.rs`), the destination set `$branch`
//! (`branch.rs`); RPC `pv.shvGet`/`pv.shvSet` (`rpc.rs`).

pub mod branch;
pub mod more;
pub mod msg;
mod rpc;
pub mod sbranch;
pub mod transforms;
pub mod vars;

pub use msg::{RawPacket, RcvEvent};

use crate::context::Ctx;
use crate::module::Module;
use crate::rpc::RpcRegistry;
use siprd_script::registry::{ModParamDecl, ModParamType, PvClassDef, PvImpl, PvIndex};
use siprd_script::{Registry, Value};
use std::sync::Arc;

/// The pv module: message PVs, transformations, `$shv`/`$avp`/`$xavp`.
#[derive(Default)]
pub struct Pv {
    vars: Arc<vars::VarsState>,
}

impl Module for Pv {
    fn name(&self) -> &'static str {
        "pv"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl {
                name: "shvset",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "varset",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "avp_aliases",
                ty: ModParamType::Str,
            },
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let text = value.to_string();
        match name {
            "shvset" => self.vars.shvset(&text),
            "avp_aliases" => self.vars.avp_aliases(&text),
            "varset" => {
                let (var, v) = vars::parse_var_init(&text)?;
                siprd_script::builtin::var_set_initial(&var, v);
                Ok(())
            }
            _ => Err(format!("module `pv` has no parameter `{name}`")),
        }
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        msg::register(reg);
        more::register(reg);
        transforms::register(reg);
        vars::register(reg, &self.vars);
        sbranch::register(reg);
        branch::register(reg);
        reg.add_pv(PvClassDef {
            name: "_s",
            module: "pv",
            parse: Arc::new(|fx, inner| {
                let text = inner
                    .filter(|t| !t.is_empty())
                    .ok_or("`$_s` needs a format: `$_s(text $var(x))`")?;
                let fmt = siprd_script::pv::parse_format(fx, text)?;
                Ok(Box::new(FormatPv(fmt)) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        rpc::register(rpc, &self.vars);
    }
}

/// `$_s(format)`: the format evaluated when read (parsed at load), always a
/// string (`$_s($var(n)) + 1` concatenates, as on Kamailio 5.6).
struct FormatPv(siprd_script::pv::Format<Ctx>);

impl PvImpl<Ctx> for FormatPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        Value::Str(self.0.eval(ctx))
    }
}
