//! kex: the part of Kamailio's kex module siprd has: the statistics RPC
//! commands (`stats.get_statistics`, `stats.reset_statistics`) and
//! `is_myself(uri)`. Loading it lets configs that load kex for these run;
//! kex's other functions are unknown functions (a config error naming them).

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::str_arg;
use crate::rpc::RpcRegistry;
use crate::runtime::Runtime;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::sync::{Arc, OnceLock, Weak};

#[derive(Default)]
pub struct Kex {
    rt: Arc<OnceLock<Weak<Runtime>>>,
}

impl Module for Kex {
    fn name(&self) -> &'static str {
        "kex"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_function(FuncDef {
            name: "is_myself",
            module: "kex",
            params: vec![ParamKind::Format],
            routes: route_type::ANY,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let uri = str_arg(ctx, &a[0]).unwrap_or_default();
                if crate::config::is_myself(ctx, &Value::Str(uri)) {
                    1
                } else {
                    -1
                }
            }),
        });
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        crate::modules::jsonrpcs::core_cmds::register_stats(rpc, &self.rt);
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.rt.set(Arc::downgrade(rt));
        Ok(())
    }
}
