//! `KSR.textopsx` functions with no native twin, as Kamailio 5.6.3 exports
//! them: the iterator values (`hf_iterator_hname/hbody`,
//! `bl_iterator_value`: the string, nil off an item or for an unknown
//! iterator), `keep_hf()` without a regex (-1, as Kamailio answers), and
//! `fnmatch` / `fnmatch_ex`, which answer 0 on a match (-1 otherwise) where
//! the config function answers 1.

use super::engine::with_ctx;
use super::ksr::{get_table, no_ctx, to_lua};
use crate::modules::textopsx::{self, ItField};
use mlua::{Lua, Table};

pub(super) fn install(lua: &Lua, ksr: &Table) -> mlua::Result<()> {
    let t = get_table(lua, ksr, "textopsx")?;
    for (name, field) in [
        ("hf_iterator_hname", ItField::HfName),
        ("hf_iterator_hbody", ItField::HfBody),
        ("bl_iterator_value", ItField::BlVal),
    ] {
        t.raw_set(
            name,
            lua.create_function(move |lua, n: mlua::String| {
                let v = with_ctx(|ctx| textopsx::iterator_value(ctx, &n.as_bytes(), field))
                    .ok_or_else(|| no_ctx(name))?;
                to_lua(lua, v)
            })?,
        )?;
    }
    for name in ["fnmatch", "fnmatch_ex"] {
        t.raw_set(
            name,
            lua.create_function(
                |_, (v, p, _flags): (mlua::String, mlua::String, Option<mlua::String>)| {
                    // the flags change nothing: see textopsx's fnmatch
                    Ok(if textopsx::fnmatch(&p.as_bytes(), &v.as_bytes(), false) {
                        0
                    } else {
                        -1
                    })
                },
            )?,
        )?;
    }
    t.raw_set(
        "keep_hf",
        lua.create_function(|_, ()| {
            with_ctx(textopsx::keep_all).ok_or_else(|| no_ctx("textopsx.keep_hf"))
        })?,
    )?;
    Ok(())
}
