//! corex: `is_faked_msg`, `file_read`, `file_write`.
//!
//! In Kamailio 5.6 `append_branch` also lives in corex; siprd has it in the
//! core, so it works with or without `loadmodule "corex.so"`.
//! Observed on Kamailio 5.6.3: `file_read` stores the whole file (an empty
//! file gives an empty string) and returns 1, -1 when it cannot be opened
//! (the variable keeps its value); `file_write` replaces the file's content.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::str_arg;
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::io::Read;

/// Larger files are refused: a config reads small data files, and a worker
/// must not be made to hold gigabytes.
const MAX_READ: u64 = 16 << 20;

#[derive(Default)]
pub struct Corex;

fn def(
    name: &'static str,
    params: Vec<ParamKind<Ctx>>,
    call: siprd_script::registry::FuncImpl<Ctx>,
) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "corex",
        params,
        routes: route_type::ANY,
        call,
    }
}

fn read_file(path: &str) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let mut out = Vec::new();
    f.take(MAX_READ + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_READ {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_READ >> 20
        )));
    }
    Ok(out)
}

impl Module for Corex {
    fn name(&self) -> &'static str {
        "corex"
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_function(def(
            "is_faked_msg",
            vec![],
            func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| if ctx.faked { 1 } else { -1 }),
        ));
        reg.add_function(def(
            "file_read",
            vec![ParamKind::Format, ParamKind::WritablePv],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(path) = str_arg(ctx, &a[0]) else {
                    return -1;
                };
                let path = String::from_utf8_lossy(&path).into_owned();
                let data = match read_file(&path) {
                    Ok(d) => d,
                    Err(e) => {
                        tracing::error!("file_read: cannot read `{path}`: {e}");
                        return -1;
                    }
                };
                let Arg::Pv(out) = &a[1] else { return -1 };
                match out.set(ctx, Value::from_vec(data)) {
                    Ok(()) => 1,
                    Err(e) => {
                        tracing::error!("file_read: cannot set the variable: {e:?}");
                        -1
                    }
                }
            }),
        ));
        reg.add_function(def(
            "file_write",
            vec![ParamKind::Format, ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(path), Some(data)) = (str_arg(ctx, &a[0]), str_arg(ctx, &a[1])) else {
                    return -1;
                };
                let path = String::from_utf8_lossy(&path).into_owned();
                match std::fs::write(&path, &data) {
                    Ok(()) => 1,
                    Err(e) => {
                        tracing::error!("file_write: cannot write `{path}`: {e}");
                        -1
                    }
                }
            }),
        ));
    }
}
