//! The value-returning KEMI functions of Kamailio's `KSR.pvx`, and the ones of
//! `KSR.pv`, `KSR.hdr`, `KSR.htable` and `KSR.corex` that have no native
//! counterpart: they read and write the same PVs and stores native configs use.
//! Return conventions as observed on Kamailio 5.6 (docs/modules/app_lua.md).

use super::engine::with_ctx;
use super::ksr::KInt;
use super::ksr::{get_table, no_ctx, pv_read, pv_value, pv_write, to_lua, NullAs};
use crate::context::Ctx;
use crate::modules::pv::vars::{XItem, XKind};
use bytes::Bytes;
use mlua::{Lua, Table, Value as LuaValue};
use siprd_script::registry::Arg;
use siprd_script::Value;

/// `$xavp(r)`, `$xavu(r)` or `$xavi(r)`, optionally `=>child`.
fn xname(kind: XKind, root: &[u8], child: Option<&[u8]>) -> Vec<u8> {
    let mut n = match kind {
        XKind::P => b"$xavp(".to_vec(),
        XKind::U => b"$xavu(".to_vec(),
        XKind::I => b"$xavi(".to_vec(),
    };
    n.extend_from_slice(root);
    if let Some(c) = child {
        n.extend_from_slice(b"=>");
        n.extend_from_slice(c);
    }
    n.push(b')');
    n
}

/// A PV name `$<class>(<name>)`.
fn pvname(class: &str, name: &[u8]) -> Vec<u8> {
    let mut n = Vec::with_capacity(class.len() + name.len() + 3);
    n.push(b'$');
    n.extend_from_slice(class.as_bytes());
    n.push(b'(');
    n.extend_from_slice(name);
    n.push(b')');
    n
}

/// 1 when the write succeeded, -1 otherwise (Kamailio's int convention).
fn rc(ok: bool) -> i64 {
    if ok {
        1
    } else {
        -1
    }
}

/// Kamailio's partial string-to-int (`"12abc"` is 12, `"a"` is 0).
fn leading_int(v: &Value) -> i64 {
    match v {
        Value::Null => 0,
        Value::Int(i) => i64::from(*i),
        Value::Str(s) => {
            let (neg, digits) = match s.first() {
                Some(b'-') => (true, &s[1..]),
                Some(b'+') => (false, &s[1..]),
                _ => (false, &s[..]),
            };
            let mut n: i64 = 0;
            for d in digits.iter().take_while(|b| b.is_ascii_digit()) {
                n = (n * 10 + i64::from(d - b'0')) % (1 << 32);
            }
            let n = n as u32 as i32;
            i64::from(if neg { n.wrapping_neg() } else { n })
        }
    }
}

/// Lua table of one root item: field name → list of its values, newest first.
fn item_table(lua: &Lua, item: &XItem) -> mlua::Result<LuaValue> {
    let t = lua.create_table()?;
    if let XItem::List(fields) = item {
        for (name, v) in fields.iter().rev() {
            let key = lua.create_string(name)?;
            let list: Table = match t.raw_get::<LuaValue>(key.clone())? {
                LuaValue::Table(l) => l,
                _ => {
                    let l = lua.create_table()?;
                    t.raw_set(key, l.clone())?;
                    l
                }
            };
            list.raw_set(list.raw_len() + 1, to_lua(lua, v.clone())?)?;
        }
    }
    Ok(LuaValue::Table(t))
}

/// Distinct field names of one root item, in the order of their newest value.
fn item_keys(lua: &Lua, item: &XItem) -> mlua::Result<LuaValue> {
    let t = lua.create_table()?;
    if let XItem::List(fields) = item {
        let mut seen: Vec<&Bytes> = Vec::new();
        for (name, _) in fields.iter().rev() {
            if !seen.contains(&name) {
                seen.push(name);
                t.raw_set(seen.len(), lua.create_string(name)?)?;
            }
        }
    }
    Ok(LuaValue::Table(t))
}

/// `KSR.pvx.<family>_*` for one XAVP family (`xavp`, `xavu`, `xavi`).
fn xavp_family(lua: &Lua, pvx: &Table, prefix: &'static str, kind: XKind) -> mlua::Result<()> {
    for (suffix, null) in [
        ("get", NullAs::Nil),
        ("gete", NullAs::Empty),
        ("getw", NullAs::Null),
    ] {
        pvx.raw_set(
            format!("{prefix}_{suffix}"),
            lua.create_function(move |lua, r: mlua::String| {
                pv_read(lua, &xname(kind, &r.as_bytes(), None), null)
            })?,
        )?;
        pvx.raw_set(
            format!("{prefix}_child_{suffix}"),
            lua.create_function(move |lua, (r, c): (mlua::String, mlua::String)| {
                pv_read(lua, &xname(kind, &r.as_bytes(), Some(&c.as_bytes())), null)
            })?,
        )?;
    }
    pvx.raw_set(
        format!("{prefix}_is_null"),
        lua.create_function(move |_, r: mlua::String| {
            let v = pv_value(&xname(kind, &r.as_bytes(), None))?;
            Ok(if v.is_null() { 1 } else { -1 })
        })?,
    )?;
    pvx.raw_set(
        format!("{prefix}_child_is_null"),
        lua.create_function(move |_, (r, c): (mlua::String, mlua::String)| {
            let v = pv_value(&xname(kind, &r.as_bytes(), Some(&c.as_bytes())))?;
            Ok(if v.is_null() { 1 } else { -1 })
        })?,
    )?;
    // a new root item holding the value (xavu: replacing the old one)
    pvx.raw_set(
        format!("{prefix}_sets"),
        lua.create_function(move |_, (r, v): (mlua::String, mlua::String)| {
            let v = Value::Str(Bytes::copy_from_slice(&v.as_bytes()));
            Ok(rc(pv_write(&xname(kind, &r.as_bytes(), None), v)?))
        })?,
    )?;
    pvx.raw_set(
        format!("{prefix}_seti"),
        lua.create_function(move |_, (r, v): (mlua::String, KInt)| {
            let v = v.0;
            Ok(rc(pv_write(
                &xname(kind, &r.as_bytes(), None),
                Value::Int(v as i32),
            )?))
        })?,
    )?;
    // the field of the newest root item (created when missing)
    let child_set = move |r: &[u8], c: &[u8], v: Value| {
        with_ctx(|ctx| {
            ctx.avps.xs_mut(kind).child_set(r, c, v);
            1i64
        })
        .ok_or_else(|| no_ctx("pvx.xavp_child_sets"))
    };
    pvx.raw_set(
        format!("{prefix}_child_sets"),
        lua.create_function(
            move |_, (r, c, v): (mlua::String, mlua::String, mlua::String)| {
                child_set(
                    &r.as_bytes(),
                    &c.as_bytes(),
                    Value::Str(Bytes::copy_from_slice(&v.as_bytes())),
                )
            },
        )?,
    )?;
    pvx.raw_set(
        format!("{prefix}_child_seti"),
        lua.create_function(move |_, (r, c, v): (mlua::String, mlua::String, KInt)| {
            let v = v.0;
            child_set(&r.as_bytes(), &c.as_bytes(), Value::Int(v as i32))
        })?,
    )?;
    pvx.raw_set(
        format!("{prefix}_rm"),
        lua.create_function(move |_, r: mlua::String| {
            with_ctx(|ctx| {
                ctx.avps.xs_mut(kind).rm(&r.as_bytes());
                1i64
            })
            .ok_or_else(|| no_ctx("pvx.xavp_rm"))
        })?,
    )?;
    pvx.raw_set(
        format!("{prefix}_child_rm"),
        lua.create_function(move |_, (r, c): (mlua::String, mlua::String)| {
            with_ctx(|ctx| {
                ctx.avps.xs_mut(kind).child_rm(&r.as_bytes(), &c.as_bytes());
                1i64
            })
            .ok_or_else(|| no_ctx("pvx.xavp_child_rm"))
        })?,
    )?;
    if kind == XKind::U {
        return Ok(());
    }
    // structured reads: every root item (newest first), one item, its keys
    pvx.raw_set(
        format!("{prefix}_getd"),
        lua.create_function(move |lua, r: mlua::String| {
            let items: Option<Vec<XItem>> = with_ctx(|ctx| {
                let st = ctx.avps.xs(kind);
                let mut out = Vec::new();
                while let Some(it) = st.item(&r.as_bytes(), out.len() as i32) {
                    out.push(it.clone());
                }
                out
            })
            .map(|v| (!v.is_empty()).then_some(v))
            .ok_or_else(|| no_ctx("pvx.xavp_getd"))?;
            let Some(items) = items else {
                return Ok(LuaValue::Nil);
            };
            let t = lua.create_table()?;
            for (i, it) in items.iter().enumerate() {
                t.raw_set(i + 1, item_table(lua, it)?)?;
            }
            Ok(LuaValue::Table(t))
        })?,
    )?;
    for (suffix, keys) in [("getd_p1", false), ("get_keys", true)] {
        pvx.raw_set(
            format!("{prefix}_{suffix}"),
            lua.create_function(move |lua, (r, idx): (mlua::String, KInt)| {
                let idx = idx.0;
                let item = with_ctx(|ctx| {
                    i32::try_from(idx)
                        .ok()
                        .and_then(|i| ctx.avps.xs(kind).item(&r.as_bytes(), i).cloned())
                })
                .ok_or_else(|| no_ctx("pvx.xavp_getd_p1"))?;
                match item {
                    None => Ok(LuaValue::Nil),
                    Some(it) if keys => item_keys(lua, &it),
                    Some(it) => item_table(lua, &it),
                }
            })?,
        )?;
    }
    Ok(())
}

/// `KSR.pvx.<class>_get/_sets/_seti` for `$var`, `$avp`; `$shv` only sets
/// variables that exist (declared by `shvset` or used by the config).
fn simple_vars(lua: &Lua, pvx: &Table) -> mlua::Result<()> {
    // $var and $shv read 0 when unset, as Kamailio's KEMI does
    for class in ["var", "shv"] {
        pvx.raw_set(
            format!("{class}_get"),
            lua.create_function(move |lua, n: mlua::String| {
                if class == "shv" && !shv_exists(&n.as_bytes())? {
                    return Ok(LuaValue::Integer(0));
                }
                match pv_value(&pvname(class, &n.as_bytes()))? {
                    Value::Null => Ok(LuaValue::Integer(0)),
                    v => to_lua(lua, v),
                }
            })?,
        )?;
    }
    for class in ["var", "shv", "avp"] {
        let set = move |n: &[u8], v: Value| -> mlua::Result<i64> {
            if class == "shv" && !shv_exists(n)? {
                return Ok(-1);
            }
            Ok(rc(pv_write(&pvname(class, n), v)?))
        };
        pvx.raw_set(
            format!("{class}_sets"),
            lua.create_function(move |_, (n, v): (mlua::String, mlua::String)| {
                set(
                    &n.as_bytes(),
                    Value::Str(Bytes::copy_from_slice(&v.as_bytes())),
                )
            })?,
        )?;
        pvx.raw_set(
            format!("{class}_seti"),
            lua.create_function(move |_, (n, v): (mlua::String, KInt)| {
                let v = v.0;
                set(&n.as_bytes(), Value::Int(v as i32))
            })?,
        )?;
    }
    for (suffix, null) in [
        ("get", NullAs::Nil),
        ("gete", NullAs::Empty),
        ("getw", NullAs::Null),
    ] {
        pvx.raw_set(
            format!("avp_{suffix}"),
            lua.create_function(move |lua, n: mlua::String| {
                pv_read(lua, &pvname("avp", &n.as_bytes()), null)
            })?,
        )?;
    }
    pvx.raw_set(
        "avp_is_null",
        lua.create_function(|_, n: mlua::String| {
            Ok(if pv_value(&pvname("avp", &n.as_bytes()))?.is_null() {
                1
            } else {
                -1
            })
        })?,
    )?;
    pvx.raw_set(
        "avp_rm",
        lua.create_function(|_, n: mlua::String| {
            let mut name = b"$(avp(".to_vec();
            name.extend_from_slice(&n.as_bytes());
            name.extend_from_slice(b")[*])");
            pv_write(&name, Value::Null)?;
            Ok(1)
        })?,
    )?;
    Ok(())
}

/// Whether `$shv(name)` exists, through pv's hidden `__shv_exists`.
fn shv_exists(name: &[u8]) -> mlua::Result<bool> {
    with_ctx(|ctx| {
        let rt = ctx.rt.clone();
        let Some(def) = rt
            .registry
            .functions
            .get(crate::modules::pv::vars::SHV_EXISTS)
            .and_then(|d| d.first())
        else {
            return false;
        };
        let arg = [Arg::Str(Bytes::copy_from_slice(name))];
        (def.call)(ctx, &arg) > 0
    })
    .ok_or_else(|| no_ctx("pvx.shv_get"))
}

/// The values of every `name` header, in message order.
fn header_values(ctx: &Ctx, name: &[u8]) -> Vec<Bytes> {
    ctx.msg
        .headers_named(name)
        .map(|h| Bytes::copy_from_slice(h.value))
        .collect()
}

/// `KSR.hdr.match_content(name, op, value, which)`: op `eq`, `ne`, `in`
/// (contains), `sw` (starts with); which `f` (first), `l` (last) or `a` (all
/// must match). False when there is no such header or the op is unknown.
fn match_content(values: &[Bytes], op: &[u8], want: &[u8], which: &[u8]) -> bool {
    let test = |v: &[u8]| -> Option<bool> {
        Some(match op {
            b"eq" => v == want,
            b"ne" => v != want,
            b"in" => memchr::memmem::find(v, want).is_some(),
            b"sw" => v.starts_with(want),
            _ => return None,
        })
    };
    let pick = match which {
        b"f" => values.first().map(|v| test(v)),
        b"l" => values.last().map(|v| test(v)),
        b"a" if !values.is_empty() => {
            let mut all = Some(true);
            for v in values {
                match test(v) {
                    Some(true) => {}
                    other => {
                        all = other;
                        break;
                    }
                }
            }
            Some(all)
        }
        _ => None,
    };
    pick.flatten() == Some(true)
}

pub(super) fn install(lua: &Lua, ksr: &Table) -> mlua::Result<()> {
    let pvx = get_table(lua, ksr, "pvx")?;
    xavp_family(lua, &pvx, "xavp", XKind::P)?;
    xavp_family(lua, &pvx, "xavu", XKind::U)?;
    xavp_family(lua, &pvx, "xavi", XKind::I)?;
    simple_vars(lua, &pvx)?;

    // KSR.pv: integer reads and reads with a default for null
    let pv = get_table(lua, ksr, "pv")?;
    pv.raw_set(
        "geti",
        lua.create_function(|_, n: mlua::String| Ok(leading_int(&pv_value(&n.as_bytes())?)))?,
    )?;
    pv.raw_set(
        "getvn",
        lua.create_function(
            |lua, (n, d): (mlua::String, i64)| match pv_value(&n.as_bytes())? {
                Value::Null => Ok(LuaValue::Integer(d)),
                v => to_lua(lua, v),
            },
        )?,
    )?;
    pv.raw_set(
        "getvs",
        lua.create_function(|lua, (n, d): (mlua::String, mlua::String)| {
            match pv_value(&n.as_bytes())? {
                Value::Null => Ok(LuaValue::String(d)),
                v => to_lua(lua, v),
            }
        })?,
    )?;

    // KSR.hdr: the third null rendering, indexed reads, content match
    let hdr = get_table(lua, ksr, "hdr")?;
    hdr.raw_set(
        "getw",
        lua.create_function(|lua, n: mlua::String| {
            pv_read(lua, &pvname("hdr", &n.as_bytes()), NullAs::Null)
        })?,
    )?;
    for (name, null) in [
        ("get_idx", NullAs::Nil),
        ("gete_idx", NullAs::Empty),
        ("getw_idx", NullAs::Null),
    ] {
        hdr.raw_set(
            name,
            lua.create_function(move |lua, (n, idx): (mlua::String, KInt)| {
                let idx = idx.0;
                let vals = with_ctx(|ctx| header_values(ctx, &n.as_bytes()))
                    .ok_or_else(|| no_ctx("hdr.get_idx"))?;
                let pos = if idx >= 0 {
                    usize::try_from(idx).ok()
                } else {
                    usize::try_from(-idx)
                        .ok()
                        .and_then(|back| vals.len().checked_sub(back))
                };
                match pos.and_then(|p| vals.get(p)) {
                    Some(v) => Ok(LuaValue::String(lua.create_string(v)?)),
                    None => match null {
                        NullAs::Nil => Ok(LuaValue::Nil),
                        NullAs::Empty => Ok(LuaValue::String(lua.create_string("")?)),
                        NullAs::Null => Ok(LuaValue::String(lua.create_string("<null>")?)),
                    },
                }
            })?,
        )?;
    }
    hdr.raw_set(
        "match_content",
        lua.create_function(
            |_, (n, op, want, which): (mlua::String, mlua::String, mlua::String, mlua::String)| {
                let vals = with_ctx(|ctx| header_values(ctx, &n.as_bytes()))
                    .ok_or_else(|| no_ctx("hdr.match_content"))?;
                Ok(match_content(
                    &vals,
                    &op.as_bytes(),
                    &want.as_bytes(),
                    &which.as_bytes(),
                ))
            },
        )?,
    )?;

    // KSR.hdr.rmappend/rminsert: remove the headers, then add the line
    for (name, add) in [("rmappend", "append"), ("rminsert", "insert")] {
        let (Ok(LuaValue::Function(remove)), Ok(LuaValue::Function(add))) = (
            hdr.raw_get::<LuaValue>("remove"),
            hdr.raw_get::<LuaValue>(add),
        ) else {
            continue; // textops is not loaded
        };
        hdr.raw_set(
            name,
            lua.create_function(move |_, (n, line): (mlua::String, mlua::String)| {
                remove.call::<LuaValue>(n)?;
                add.call::<LuaValue>(line)
            })?,
        )?;
    }

    // KSR.pvx.evalx(dst, template): the template's PVs expanded into dst
    pvx.raw_set(
        "evalx",
        lua.create_function(|_, (dst, tpl): (mlua::String, mlua::String)| {
            let text = tpl.to_str()?.to_string();
            let v = with_ctx(|ctx| {
                let rt = ctx.rt.clone();
                let mut fx = rt.fixup_ctx();
                match siprd_script::pv::parse_format(&mut fx, &text) {
                    Ok(f) => Some(f.eval(ctx)),
                    Err(e) => {
                        tracing::error!("KSR.pvx.evalx: cannot parse `{text}`: {e}");
                        None
                    }
                }
            })
            .ok_or_else(|| no_ctx("pvx.evalx"))?;
            match v {
                Some(v) => Ok(rc(pv_write(&dst.as_bytes(), Value::Str(v))?)),
                None => Ok(-1),
            }
        })?,
    )?;

    // KSR.tm.t_relay_to_proto_addr(proto, host, port): t_relay_to("proto:host:port")
    let tm = get_table(lua, ksr, "tm")?;
    if let Ok(LuaValue::Function(relay_to)) = tm.raw_get::<LuaValue>("t_relay_to") {
        tm.raw_set(
            "t_relay_to_proto_addr",
            lua.create_function(move |_, (p, h, port): (String, String, KInt)| {
                let port = port.0;
                relay_to.call::<LuaValue>(format!("{p}:{h}:{port}"))
            })?,
        )?;
    }
    // KSR.tm.t_relay_to_proto(proto): t_relay() to $du/$ru over `proto`
    // (udp, tcp; anything else: -1)
    let udp = tm.raw_get::<LuaValue>("t_relay_to_udp");
    let tcp = tm.raw_get::<LuaValue>("t_relay_to_tcp");
    if let (Ok(LuaValue::Function(udp)), Ok(LuaValue::Function(tcp))) = (udp, tcp) {
        tm.raw_set(
            "t_relay_to_proto",
            lua.create_function(move |_, p: String| {
                if p.eq_ignore_ascii_case("udp") {
                    udp.call::<LuaValue>(())
                } else if p.eq_ignore_ascii_case("tcp") {
                    tcp.call::<LuaValue>(())
                } else {
                    tracing::error!("KSR.tm.t_relay_to_proto: unsupported protocol `{p}`");
                    Ok(LuaValue::Integer(-1))
                }
            })?,
        )?;
    }
    // KSR.tm.t_get_branch_index: $T_branch_idx
    tm.raw_set(
        "t_get_branch_index",
        lua.create_function(|_, ()| Ok(leading_int(&pv_value(b"$T_branch_idx")?)))?,
    )?;

    // KSR.jsonrpcs.response(): the last exec's reply body ("" before any)
    let js = get_table(lua, ksr, "jsonrpcs")?;
    if let Ok(LuaValue::Function(_)) = js.raw_get::<LuaValue>("exec") {
        js.raw_set(
            "response",
            lua.create_function(|lua, ()| match pv_value(b"$jsonrpl(body)")? {
                Value::Null => lua.create_string(""),
                v => lua.create_string(v.to_bytes()),
            })?,
        )?;
    }

    // KSR.xhttp.get_hu(): `$hu`, the request line's URI
    let xhttp = get_table(lua, ksr, "xhttp")?;
    if let Ok(LuaValue::Function(_)) = xhttp.raw_get::<LuaValue>("xhttp_reply") {
        xhttp.raw_set(
            "get_hu",
            lua.create_function(|lua, ()| to_lua(lua, pv_value(b"$hu")?))?,
        )?;
    }

    // KSR.htable: `<null>` for a missing item; the item's expiry
    let ht = get_table(lua, ksr, "htable")?;
    ht.raw_set(
        "sht_getw",
        lua.create_function(|lua, (t, k): (mlua::String, mlua::String)| {
            pv_read(
                lua,
                &sht_name("sht", &t.as_bytes(), &k.as_bytes()),
                NullAs::Null,
            )
        })?,
    )?;
    ht.raw_set(
        "sht_setex",
        lua.create_function(|_, (t, k, v): (mlua::String, mlua::String, KInt)| {
            let v = v.0;
            let name = sht_name("shtex", &t.as_bytes(), &k.as_bytes());
            Ok(rc(pv_write(&name, Value::Int(v as i32))?))
        })?,
    )?;

    // KSR.corex: the KEMI form of file_read returns the content ("" when unreadable)
    let corex = get_table(lua, ksr, "corex")?;
    corex.raw_set(
        "file_read",
        lua.create_function(|lua, path: String| {
            let data = std::fs::read(&path).unwrap_or_else(|e| {
                tracing::error!("KSR.corex.file_read: cannot read {path}: {e}");
                Vec::new()
            });
            lua.create_string(&data)
        })?,
    )?;
    corex.raw_set(
        "has_ruri_user",
        lua.create_function(|_, ()| {
            let v = pv_value(b"$rU")?;
            Ok(rc(!v.is_null() && !v.to_bytes().is_empty()))
        })?,
    )?;
    corex.raw_set(
        "has_user_agent",
        lua.create_function(|_, ()| {
            with_ctx(|ctx| rc(ctx.msg.headers_named(b"User-Agent").next().is_some()))
                .ok_or_else(|| no_ctx("corex.has_user_agent"))
        })?,
    )?;
    Ok(())
}

fn sht_name(class: &str, table: &[u8], key: &[u8]) -> Vec<u8> {
    let mut inner = table.to_vec();
    inner.extend_from_slice(b"=>");
    inner.extend_from_slice(key);
    pvname(class, &inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_int_as_kamailio() {
        let s = |t: &str| Value::Str(Bytes::copy_from_slice(t.as_bytes()));
        assert_eq!(leading_int(&s("12abc")), 12);
        assert_eq!(leading_int(&s("-7x")), -7);
        assert_eq!(leading_int(&s("a")), 0);
        assert_eq!(leading_int(&Value::Null), 0);
        assert_eq!(leading_int(&Value::Int(-3)), -3);
    }

    #[test]
    fn match_content_ops() {
        let v = vec![Bytes::from_static(b"one"), Bytes::from_static(b"two")];
        assert!(match_content(&v, b"eq", b"one", b"f"));
        assert!(!match_content(&v, b"eq", b"two", b"a"));
        assert!(match_content(&v, b"ne", b"on", b"a"));
        assert!(match_content(&v, b"in", b"o", b"l"));
        assert!(match_content(&v, b"sw", b"on", b"f"));
        assert!(!match_content(&v, b"re", b"^o", b"a"));
        assert!(!match_content(&v, b"eq", b"two", b"1"));
        assert!(!match_content(&[], b"eq", b"x", b"a"));
    }
}
