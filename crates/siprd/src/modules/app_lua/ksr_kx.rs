//! `KSR.kx.*` (module kemix): message attributes for KEMI scripts, read
//! through the PVs a native config uses. What each returns for an absent
//! value was recorded from Kamailio 5.6.3: `get_*` nil, `gete_*` "",
//! `getw_*` "<null>"; the int getters a number (-1 or 0 when absent).

use super::ksr::{get_table, pv_read, pv_value, to_lua, NullAs};
use crate::runtime::Runtime;
use mlua::{Lua, Table, Value as LuaValue};
use siprd_script::Value;
use std::sync::Arc;

/// (KSR.kx name, PV, what an absent value is).
const GETTERS: &[(&str, &str, NullAs)] = &[
    ("get_ruri", "$ru", NullAs::Nil),
    ("get_ruser", "$rU", NullAs::Nil),
    ("getw_ruser", "$rU", NullAs::Null),
    ("gete_ruser", "$rU", NullAs::Empty),
    ("get_rhost", "$rd", NullAs::Nil),
    ("getw_rhost", "$rd", NullAs::Null),
    ("gete_rhost", "$rd", NullAs::Empty),
    ("get_ouri", "$ou", NullAs::Nil),
    ("get_furi", "$fu", NullAs::Nil),
    ("get_fuser", "$fU", NullAs::Nil),
    ("getw_fuser", "$fU", NullAs::Null),
    ("gete_fuser", "$fU", NullAs::Empty),
    ("get_fhost", "$fd", NullAs::Nil),
    ("getw_fhost", "$fd", NullAs::Null),
    ("gete_fhost", "$fd", NullAs::Empty),
    ("get_turi", "$tu", NullAs::Nil),
    ("get_tuser", "$tU", NullAs::Nil),
    ("getw_tuser", "$tU", NullAs::Null),
    ("gete_tuser", "$tU", NullAs::Empty),
    ("get_thost", "$td", NullAs::Nil),
    ("getw_thost", "$td", NullAs::Null),
    ("gete_thost", "$td", NullAs::Empty),
    ("get_duri", "$du", NullAs::Nil),
    ("getw_duri", "$du", NullAs::Null),
    ("gete_duri", "$du", NullAs::Empty),
    ("get_cturi", "$(ct{nameaddr.uri})", NullAs::Nil),
    ("getw_cturi", "$(ct{nameaddr.uri})", NullAs::Null),
    ("gete_cturi", "$(ct{nameaddr.uri})", NullAs::Empty),
    ("get_nhuri", "$nh(u)", NullAs::Nil),
    ("get_srcuri", "$su", NullAs::Nil),
    ("get_ua", "$ua", NullAs::Nil),
    ("getw_ua", "$ua", NullAs::Null),
    ("gete_ua", "$ua", NullAs::Empty),
    ("get_srcip", "$si", NullAs::Nil),
    ("get_srcport", "$sp", NullAs::Nil),
    ("get_send_sock", "$fs", NullAs::Nil),
    ("get_send_sock_name", "$fsn", NullAs::Nil),
    ("get_rcvip", "$Ri", NullAs::Nil),
    ("get_rcv_sock_name", "$Rn", NullAs::Nil),
    ("get_rcvport", "$Rp", NullAs::Nil),
    ("get_rcvadvip", "$RAi", NullAs::Nil),
    ("get_rcvadvport", "$RAp", NullAs::Nil),
    ("get_proto", "$pr", NullAs::Nil),
    ("get_au", "$au", NullAs::Nil),
    ("getw_au", "$au", NullAs::Null),
    ("gete_au", "$au", NullAs::Empty),
    ("get_method", "$rm", NullAs::Nil),
    ("get_callid", "$ci", NullAs::Nil),
    ("get_msgbuf", "$mb", NullAs::Nil),
];

fn text(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(i.to_string()),
        Value::Str(s) => Some(String::from_utf8_lossy(&s).into_owned()),
    }
}

fn int_of(v: Value, absent: i64) -> i64 {
    match v {
        Value::Int(i) => i64::from(i),
        Value::Str(s) => std::str::from_utf8(&s)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(absent),
        Value::Null => absent,
    }
}

/// A numeric text as Kamailio's `str2int`-style reads: the number, else 0.
fn num(s: &str) -> i64 {
    s.trim().parse().unwrap_or(0)
}

pub fn install(lua: &Lua, ksr: &Table, rt: &Arc<Runtime>) -> mlua::Result<()> {
    let kx = get_table(lua, ksr, "kx")?;
    for (name, pv, null) in GETTERS {
        let null = *null;
        kx.raw_set(
            *name,
            lua.create_function(move |lua, ()| pv_read(lua, pv.as_bytes(), null))?,
        )?;
    }
    // "proto:ip:port" of the source and of the receiving socket
    for (name, ip, port) in [
        ("get_srcaddr_sock", "$si", "$sp"),
        ("get_rcvaddr_sock", "$Ri", "$Rp"),
    ] {
        kx.raw_set(
            name,
            lua.create_function(move |lua, ()| {
                let parts = (
                    text(pv_value(b"$pr")?),
                    text(pv_value(ip.as_bytes())?),
                    text(pv_value(port.as_bytes())?),
                );
                match parts {
                    (Some(pr), Some(ip), Some(port)) => {
                        let ip = if ip.contains(':') && !ip.starts_with('[') {
                            format!("[{ip}]")
                        } else {
                            ip
                        };
                        Ok(LuaValue::String(
                            lua.create_string(format!("{pr}:{ip}:{port}"))?,
                        ))
                    }
                    _ => Ok(LuaValue::Nil),
                }
            })?,
        )?;
    }
    kx.raw_set(
        "get_protoid",
        lua.create_function(|_, ()| {
            let id = match text(pv_value(b"$pr")?).as_deref() {
                Some("udp") => 1,
                Some("tcp") => 2,
                Some("tls") => 3,
                Some("sctp") => 4,
                Some("ws") => 5,
                Some("wss") => 6,
                _ => 0,
            };
            Ok(id)
        })?,
    )?;
    for (name, pv, absent) in [
        ("get_send_sock_port", "$fsp", 0),
        ("get_status", "$rs", -1),
        ("get_conid", "$conid", -1),
        ("get_msglen", "$ml", 0),
        ("get_timestamp", "$Ts", 0),
    ] {
        kx.raw_set(
            name,
            lua.create_function(move |_, ()| Ok(int_of(pv_value(pv.as_bytes())?, absent)))?,
        )?;
    }
    kx.raw_set(
        "gets_status",
        lua.create_function(|lua, ()| match pv_value(b"$rs")? {
            Value::Null => Ok(LuaValue::Nil),
            v => to_lua(
                lua,
                Value::Str(text(v).unwrap_or_default().into_bytes().into()),
            ),
        })?,
    )?;
    // no body (an empty one) is absent
    for (name, null) in [
        ("get_body", NullAs::Nil),
        ("getw_body", NullAs::Null),
        ("gete_body", NullAs::Empty),
    ] {
        kx.raw_set(
            name,
            lua.create_function(move |lua, ()| match pv_value(b"$rb")? {
                Value::Str(s) if !s.is_empty() => to_lua(lua, Value::Str(s)),
                _ => Ok(match null {
                    NullAs::Nil => LuaValue::Nil,
                    NullAs::Null => LuaValue::String(lua.create_string("<null>")?),
                    NullAs::Empty => LuaValue::String(lua.create_string("")?),
                }),
            })?,
        )?;
    }
    kx.raw_set(
        "get_bodylen",
        lua.create_function(|_, ()| {
            Ok(match pv_value(b"$rb")? {
                Value::Str(s) => s.len() as i64,
                _ => 0,
            })
        })?,
    )?;
    kx.raw_set(
        "get_msgtype",
        lua.create_function(|_, ()| {
            // 1 a request, 2 a reply
            Ok(match pv_value(b"$rs")? {
                Value::Null => 1,
                _ => 2,
            })
        })?,
    )?;
    // preprocessor defines: the value as written ("" when not defined)
    let defines: Arc<Vec<(String, String)>> = Arc::new(rt.settings.ppdefines.clone());
    let d = defines.clone();
    kx.raw_set(
        "get_def",
        lua.create_function(move |_, n: mlua::String| {
            let n = n.to_string_lossy();
            Ok(d.iter()
                .rev()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default())
        })?,
    )?;
    let d = defines.clone();
    kx.raw_set(
        "get_defn",
        lua.create_function(move |_, n: mlua::String| {
            let n = n.to_string_lossy();
            Ok(d.iter()
                .rev()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| num(v))
                .unwrap_or(0))
        })?,
    )?;
    for (name, want) in [("ifdef", true), ("ifndef", false)] {
        let d = defines.clone();
        kx.raw_set(
            name,
            lua.create_function(move |_, n: mlua::String| {
                let n = n.to_string_lossy();
                Ok(d.iter().any(|(k, _)| *k == n) == want)
            })?,
        )?;
    }
    kx.raw_set(
        "get_env",
        lua.create_function(|_, n: mlua::String| {
            Ok(std::env::var(&*n.to_string_lossy()).unwrap_or_default())
        })?,
    )?;
    kx.raw_set(
        "get_envn",
        lua.create_function(|_, n: mlua::String| {
            Ok(std::env::var(&*n.to_string_lossy())
                .map(|v| num(&v))
                .unwrap_or(0))
        })?,
    )?;
    Ok(())
}
