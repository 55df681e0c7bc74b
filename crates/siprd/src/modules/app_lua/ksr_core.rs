//! Top-level KEMI functions of Kamailio's core (`KSR.is_UDP()`,
//! `KSR.is_myself_ruri()`, `KSR.seturi()` ...) that have no native function
//! of the same name. Kamailio types them `bool`: they return Lua booleans.

use super::engine::with_ctx;
use super::ksr::KInt;
use super::ksr::{no_ctx, pv_value, pv_write};
use crate::config::PortlessUri;
use crate::context::Ctx;
use crate::transport::Proto;
use bytes::Bytes;
use mlua::{Lua, Table};
use siprd_script::Value;

/// `KSR.is_method_in(letters)`: one letter per method (either case), as
/// Kamailio's KEMI maps them.
const METHOD_LETTERS: &[(u8, &str)] = &[
    (b'I', "INVITE"),
    (b'A', "ACK"),
    (b'B', "BYE"),
    (b'C', "CANCEL"),
    (b'R', "REGISTER"),
    (b'M', "MESSAGE"),
    (b'S', "SUBSCRIBE"),
    (b'N', "NOTIFY"),
    (b'P', "PUBLISH"),
    (b'F', "REFER"),
    (b'E', "PRACK"),
    (b'U', "UPDATE"),
    (b'O', "OPTIONS"),
    (b'K', "KDMQ"),
    (b'G', "GET"),
    (b'T', "POST"),
    (b'V', "PUT"),
    (b'D', "DELETE"),
];

/// Methods with a `KSR.is_<METHOD>()` function.
pub(super) const METHODS: &[&str] = &[
    "INVITE",
    "ACK",
    "BYE",
    "CANCEL",
    "REGISTER",
    "OPTIONS",
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "INFO",
    "UPDATE",
    "PRACK",
    "PUBLISH",
    "REFER",
    "KDMQ",
    "GET",
    "POST",
    "PUT",
    "DELETE",
];

fn method_in(method: &[u8], letters: &[u8]) -> bool {
    letters.iter().any(|l| {
        METHOD_LETTERS
            .iter()
            .any(|(c, m)| c.eq_ignore_ascii_case(l) && m.as_bytes() == method)
    })
}

/// `KSR.is_method("A|B")`: `|`-separated names, compared case-insensitively.
fn method_listed(method: &[u8], list: &[u8]) -> bool {
    list.split(|b| *b == b'|')
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// The letter of a transport in `KSR.is_proto()` (`u` UDP, `t` TCP).
fn proto_letter(p: Proto) -> u8 {
    match p {
        Proto::Udp => b'u',
        Proto::Tcp => b't',
    }
}

/// Whether a URI is ours, as `is_myself` (a URI without port matches any).
fn myself(ctx: &mut Ctx, uri: Option<Value>) -> bool {
    match uri {
        Some(v) if !v.is_null() => crate::config::is_myself(ctx, &v, PortlessUri::AnyPort),
        _ => false,
    }
}

fn bool_fn(
    lua: &Lua,
    t: &Table,
    name: &'static str,
    f: impl Fn(&mut Ctx) -> bool + 'static,
) -> mlua::Result<()> {
    t.raw_set(
        name,
        lua.create_function(move |_, ()| with_ctx(&f).ok_or_else(|| no_ctx(name)))?,
    )
}

pub(super) fn install(lua: &Lua, ksr: &Table) -> mlua::Result<()> {
    ksr.raw_set(
        "is_method",
        lua.create_function(|_, m: mlua::String| {
            let m = m.as_bytes();
            with_ctx(|ctx| ctx.msg.is_request() && method_listed(ctx.msg.method_bytes(), &m))
                .ok_or_else(|| no_ctx("is_method"))
        })?,
    )?;
    ksr.raw_set(
        "is_method_in",
        lua.create_function(|_, m: mlua::String| {
            let m = m.as_bytes();
            with_ctx(|ctx| ctx.msg.is_request() && method_in(ctx.msg.method_bytes(), &m))
                .ok_or_else(|| no_ctx("is_method_in"))
        })?,
    )?;
    for m in METHODS {
        ksr.raw_set(
            format!("is_{m}"),
            lua.create_function(move |_, ()| {
                with_ctx(|ctx| ctx.msg.is_request() && ctx.msg.method_bytes() == m.as_bytes())
                    .ok_or_else(|| no_ctx("is_METHOD"))
            })?,
        )?;
    }

    // transport of the received message, and of the one being sent (onsend)
    for (name, p) in [("UDP", Some(Proto::Udp)), ("TCP", Some(Proto::Tcp))] {
        ksr.raw_set(
            format!("is_{name}"),
            lua.create_function(move |_, ()| {
                with_ctx(|ctx| Some(ctx.rcv.proto) == p).ok_or_else(|| no_ctx("is_PROTO"))
            })?,
        )?;
        ksr.raw_set(
            format!("to_{name}"),
            lua.create_function(move |_, ()| {
                with_ctx(|ctx| ctx.snd.as_ref().map(|s| s.proto) == p)
                    .ok_or_else(|| no_ctx("to_PROTO"))
            })?,
        )?;
    }
    // transports siprd does not listen on: never true
    for name in ["TLS", "WS", "WSS", "WSX", "SCTP"] {
        let f = lua.create_function(|_, ()| Ok(false))?;
        ksr.raw_set(format!("is_{name}"), f.clone())?;
        ksr.raw_set(format!("to_{name}"), f)?;
    }
    ksr.raw_set(
        "is_proto",
        lua.create_function(|_, letters: mlua::String| {
            let letters = letters.as_bytes();
            with_ctx(|ctx| letters.contains(&proto_letter(ctx.rcv.proto)))
                .ok_or_else(|| no_ctx("is_proto"))
        })?,
    )?;
    for (name, v6) in [("IPv4", false), ("IPv6", true)] {
        ksr.raw_set(
            format!("is_{name}"),
            lua.create_function(move |_, ()| {
                with_ctx(|ctx| ctx.rcv.src.is_ipv6() == v6).ok_or_else(|| no_ctx("is_IPvX"))
            })?,
        )?;
        // before a send the family is the receiving socket's
        ksr.raw_set(
            format!("to_{name}"),
            lua.create_function(move |_, ()| {
                with_ctx(|ctx| {
                    let to = ctx.snd.as_ref().map_or(ctx.rcv.local, |s| s.to);
                    to.is_ipv6() == v6
                })
                .ok_or_else(|| no_ctx("to_IPvX"))
            })?,
        )?;
    }
    for (name, dst) in [("is_src_port", false), ("is_dst_port", true)] {
        ksr.raw_set(
            name,
            lua.create_function(move |_, port: KInt| {
                let port = port.0;
                with_ctx(|ctx| {
                    let a = if dst { ctx.rcv.local } else { ctx.rcv.src };
                    i64::from(a.port()) == port
                })
                .ok_or_else(|| no_ctx(name))
            })?,
        )?;
    }

    // is_myself on the message's URIs and source
    ksr.raw_set(
        "is_myself",
        lua.create_function(|_, uri: mlua::String| {
            let v = Value::Str(Bytes::copy_from_slice(&uri.as_bytes()));
            with_ctx(|ctx| myself(ctx, Some(v))).ok_or_else(|| no_ctx("is_myself"))
        })?,
    )?;
    for (name, pv) in [
        ("is_myself_ruri", "$ru"),
        ("is_myself_duri", "$du"),
        ("is_myself_furi", "$fu"),
        ("is_myself_turi", "$tu"),
    ] {
        ksr.raw_set(
            name,
            lua.create_function(move |_, ()| {
                let v = pv_value(pv.as_bytes())?;
                with_ctx(|ctx| myself(ctx, Some(v))).ok_or_else(|| no_ctx(name))
            })?,
        )?;
    }
    ksr.raw_set(
        "is_myself_nhuri",
        lua.create_function(|_, ()| {
            let du = pv_value(b"$du")?;
            let v = if du.is_null() { pv_value(b"$ru")? } else { du };
            with_ctx(|ctx| myself(ctx, Some(v))).ok_or_else(|| no_ctx("is_myself_nhuri"))
        })?,
    )?;
    bool_fn(lua, ksr, "is_myself_suri", |ctx| {
        let v = Value::from_string(format!("sip:{}", ctx.rcv.src));
        myself(ctx, Some(v))
    })?;
    bool_fn(lua, ksr, "is_myself_srcip", |ctx| {
        let v = Value::from_string(match ctx.rcv.src.ip() {
            std::net::IpAddr::V4(ip) => format!("sip:{ip}"),
            std::net::IpAddr::V6(ip) => format!("sip:[{ip}]"),
        });
        myself(ctx, Some(v))
    })?;

    // R-URI and destination setters
    for (name, pv) in [
        ("seturi", "$ru"),
        ("setuser", "$rU"),
        ("sethost", "$rd"),
        ("setdsturi", "$du"),
    ] {
        ksr.raw_set(
            name,
            lua.create_function(move |_, v: mlua::String| {
                pv_write(
                    pv.as_bytes(),
                    Value::Str(Bytes::copy_from_slice(&v.as_bytes())),
                )
            })?,
        )?;
    }
    // the drop flag without ending the execution (a reply is then not relayed)
    ksr.raw_set(
        "set_drop",
        lua.create_function(|_, ()| {
            with_ctx(|ctx| ctx.exec.dropped = true).ok_or_else(|| no_ctx("set_drop"))?;
            Ok(false)
        })?,
    )?;
    // stateless forward to the address of a URI, $du untouched
    ksr.raw_set(
        "forward_uri",
        lua.create_function(|_, uri: mlua::String| {
            let uri = Bytes::copy_from_slice(&uri.as_bytes());
            with_ctx(|ctx| {
                let saved = ctx.dst_uri.replace(uri);
                let ok = crate::forward::forward_request(ctx, None, None);
                ctx.dst_uri = saved;
                if ok {
                    1
                } else {
                    -1
                }
            })
            .ok_or_else(|| no_ctx("forward_uri"))
        })?,
    )?;
    ksr.raw_set(
        "get_debug",
        lua.create_function(|_, ()| Ok(crate::log::level()))?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_letters_and_lists() {
        assert!(method_in(b"OPTIONS", b"o"));
        assert!(method_in(b"REFER", b"F"));
        assert!(!method_in(b"INFO", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"));
        assert!(!method_in(b"OPTIONS", b""));
        assert!(method_listed(b"OPTIONS", b"options"));
        assert!(method_listed(b"OPTIONS", b"INVITE|OPTIONS"));
        assert!(!method_listed(b"OPTIONS", b"INVITE,OPTIONS"));
        assert!(!method_listed(b"OPTIONS", b"OPT"));
    }
}
