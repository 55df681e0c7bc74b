//! corex: `is_faked_msg`, `file_read`, `file_write`; RPC `corex.list_sockets`,
//! `corex.list_aliases`.
//!
//! In Kamailio 5.6 `append_branch` also lives in corex; siprd has it in the
//! core, so it works with or without `loadmodule "corex.so"`.
//! Observed on Kamailio 5.6.3: `file_read` stores the whole file (an empty
//! file gives an empty string) and returns 1, -1 when it cannot be opened
//! (the variable keeps its value); `file_write` replaces the file's content.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{int_arg, str_arg};
use crate::rpc::{RpcError, RpcRegistry};
use crate::runtime::Runtime;
use serde_json::{json, Value as Json};
use siprd_script::registry::{func, Arg, FuncDef, ParamKind};
use siprd_script::{route_type, Registry, Value};
use std::io::Read;
use std::sync::{Arc, OnceLock, Weak};

/// Larger files are refused: a config reads small data files, and a worker
/// must not be made to hold gigabytes.
const MAX_READ: u64 = 16 << 20;

#[derive(Default)]
pub struct Corex {
    rt: Arc<OnceLock<Weak<Runtime>>>,
}

/// The bit of a `msg_iflag_*` flag name.
fn iflag_bit(name: &[u8]) -> Option<u8> {
    [&b"USE_UAC_FROM"[..], b"USE_UAC_TO", b"UAC_AUTH"]
        .iter()
        .position(|n| n.eq_ignore_ascii_case(name))
        .map(|i| i as u8)
}

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

fn rc(ok: bool) -> i32 {
    if ok {
        1
    } else {
        -1
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

fn runtime(rt: &OnceLock<Weak<Runtime>>) -> Result<Arc<Runtime>, RpcError> {
    rt.get()
        .and_then(Weak::upgrade)
        .ok_or_else(|| RpcError::new(500, "Server not ready"))
}

/// `corex.list_sockets`: Kamailio's upper-case listing, UDP sockets first.
fn list_sockets(rt: &Runtime) -> Json {
    let mut out = Vec::new();
    for proto in ["udp", "tcp"] {
        for l in rt.listeners().iter().filter(|l| l.proto.as_str() == proto) {
            let ip = l.addr.ip().to_string();
            out.push(json!({
                "PROTO": proto,
                "NAME": l.host_name.clone().unwrap_or_else(|| ip.clone()),
                "ADDRLIST": {"ADDR": ip},
                "PORT": l.addr.port().to_string(),
                "MCAST": "no",
                "MHOMED": "no",
                "VIRTUAL": "no",
                "SOCKNAME": l.name.as_deref().unwrap_or("-"),
                "ADVERTISE": l.advertise.as_ref().map_or("-", |a| a.host.as_str()),
            }));
        }
    }
    Json::Array(out)
}

/// `corex.list_aliases`: a port not given prints as 0.
fn list_aliases(rt: &Runtime) -> Json {
    rt.alias_list()
        .into_iter()
        .map(|(proto, host, port)| json!({"PROTO": proto, "ADDR": host, "PORT": port.unwrap_or(0)}))
        .collect()
}

/// What `corex.pkg_summary` / `corex.shm_status` print: siprd's one heap.
fn log_memory(kind: &str) {
    let (rss, hwm) = crate::stats::proc_memory();
    match crate::memstat::live_bytes() {
        Some(live) => tracing::info!(
            "{kind} memory summary: resident {rss} bytes, max resident {hwm} bytes, live heap {live} bytes"
        ),
        None => tracing::info!(
            "{kind} memory summary: resident {rss} bytes, max resident {hwm} bytes"
        ),
    }
}

impl Module for Corex {
    fn name(&self) -> &'static str {
        "corex"
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        let rt = self.rt.clone();
        rpc.add(
            "corex.list_sockets",
            "List the listening sockets.",
            move |_| Ok(list_sockets(&*runtime(&rt)?)),
        );
        let rt = self.rt.clone();
        rpc.add(
            "corex.list_aliases",
            "List the local SIP aliases.",
            move |_| Ok(list_aliases(&*runtime(&rt)?)),
        );
        rpc.add(
            "corex.debug",
            "Control debug log level: prints it, or sets it and prints the old and new values.",
            |p| {
                // BINRPC: an integer only (anything else prints the level);
                // JSON-RPC reads any scalar as an integer (a string is 0).
                let old = crate::log::level();
                match crate::rpc::Scan::new(p).int() {
                    Ok(l) => {
                        crate::log::set_level(i32::try_from(l).unwrap_or(old));
                        Ok(json!({"old": old, "new": crate::log::level()}))
                    }
                    Err(_) => Ok(json!({"debug": old})),
                }
            },
        );
        rpc.add(
            "corex.pkg_summary",
            "Print to the log the summary of private memory of a process (selector `pid`, value); siprd logs its memory figures.",
            |p| {
                let mut s = crate::rpc::Scan::new(p);
                let (Ok(sel), Ok(pid)) = (s.str(), s.int()) else {
                    return Err(RpcError::new(400, "Selector and value not provided"));
                };
                if sel.len() != 3 {
                    return Err(RpcError::new(500, "Unsupported selector"));
                }
                if !sel.eq_ignore_ascii_case("pid") {
                    return Err(RpcError::new(500, "Unsupported selector type"));
                }
                if pid == i64::from(std::process::id()) {
                    log_memory("pkg");
                }
                Ok(Json::Object(Default::default()))
            },
        );
        for (name, help) in [
            (
                "corex.shm_status",
                "Print to the log the details of shared memory (siprd: its memory figures).",
            ),
            (
                "corex.shm_summary",
                "Print to the log the summary of shared memory (siprd: its memory figures).",
            ),
        ] {
            rpc.add(name, help, |_| {
                log_memory("shm");
                Ok(Json::Object(Default::default()))
            });
        }
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.rt.set(Arc::downgrade(rt));
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_pv(siprd_script::registry::PvClassDef {
            name: "cfg",
            module: "corex",
            parse: Arc::new(|fx, inner| cfg_pv(fx.at.as_ref(), inner)),
        });
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
            "send_data",
            vec![ParamKind::Format, ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(uri), Some(data)) = (str_arg(ctx, &a[0]), str_arg(ctx, &a[1])) else {
                    return -1;
                };
                if crate::forward::send_data(ctx, &uri, None, &data) {
                    1
                } else {
                    -1
                }
            }),
        ));
        for (name, proto) in [
            ("send_udp", crate::transport::Proto::Udp),
            ("send_tcp", crate::transport::Proto::Tcp),
        ] {
            for params in [vec![], vec![ParamKind::Format]] {
                reg.add_function(FuncDef {
                    name,
                    module: "corex",
                    params,
                    routes: route_type::REQUEST | route_type::FAILURE,
                    call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                        let target = a.first().and_then(|t| str_arg(ctx, t));
                        rc(crate::forward::send_received(ctx, proto, target.as_deref()))
                    }),
                });
            }
        }
        // forwards now; the core forwards again after reply_route unless
        // it drops (observed)
        reg.add_function(FuncDef {
            name: "forward_reply",
            module: "corex",
            params: vec![],
            routes: route_type::CORE_ONREPLY,
            call: func(|ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                rc(crate::forward::forward_reply_with(ctx, None, None))
            }),
        });
        reg.add_function(def(
            "sendx",
            vec![ParamKind::Format, ParamKind::Format, ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let (Some(uri), Some(sock), Some(data)) = (
                    str_arg(ctx, &a[0]),
                    str_arg(ctx, &a[1]),
                    str_arg(ctx, &a[2]),
                ) else {
                    return -1;
                };
                if crate::forward::send_data(ctx, &uri, Some(&sock), &data) {
                    1
                } else {
                    -1
                }
            }),
        ));
        // extended message flags 0..=63
        for (name, op) in [("setxflag", 0u8), ("resetxflag", 1), ("isxflagset", 2)] {
            reg.add_function(def(
                name,
                vec![ParamKind::IntOrPv],
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(bit) = int_arg(ctx, &a[0]).filter(|b| (0..64).contains(b)) else {
                        tracing::error!("{name}: the flag must be 0..63");
                        return -1;
                    };
                    let mask = 1u64 << bit;
                    match op {
                        0 => ctx.xflags |= mask,
                        1 => ctx.xflags &= !mask,
                        _ => return if ctx.xflags & mask != 0 { 1 } else { -1 },
                    }
                    1
                }),
            ));
        }
        // named internal message flags; the name is matched case-insensitively
        for (name, op) in [
            ("msg_iflag_set", 0u8),
            ("msg_iflag_reset", 1),
            ("msg_iflag_is_set", 2),
        ] {
            reg.add_function(def(
                name,
                vec![ParamKind::Format],
                func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let flag = str_arg(ctx, &a[0]).unwrap_or_default();
                    let Some(bit) = iflag_bit(&flag) else {
                        tracing::error!(
                            "{name}: unsupported flag name [{}]",
                            String::from_utf8_lossy(&flag)
                        );
                        // Kamailio's set reports success for an unknown name
                        return if op == 0 { 1 } else { -1 };
                    };
                    let mask = 1u8 << bit;
                    match op {
                        0 => ctx.iflags |= mask,
                        1 => ctx.iflags &= !mask,
                        _ => return if ctx.iflags & mask != 0 { 1 } else { -1 },
                    }
                    1
                }),
            ));
        }
        reg.add_function(def(
            "is_socket_name",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let name = str_arg(ctx, &a[0]).unwrap_or_default();
                if socket_named(ctx, &name).is_some() {
                    1
                } else {
                    -1
                }
            }),
        ));
        reg.add_function(def(
            "set_send_socket_name",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let name = str_arg(ctx, &a[0]).unwrap_or_default();
                match socket_named(ctx, &name) {
                    Some(spec) => {
                        ctx.forced_socket = Some(spec);
                        1
                    }
                    // as Kamailio: true, $fs left as it was
                    None => {
                        tracing::warn!(
                            "set_send_socket_name: no listener named `{}`",
                            String::from_utf8_lossy(&name)
                        );
                        1
                    }
                }
            }),
        ));
        // $fs from a listener; an unknown socket leaves $fs unset (as Kamailio)
        reg.add_function(def(
            "set_send_socket",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let want = str_arg(ctx, &a[0]).unwrap_or_default();
                let want = String::from_utf8_lossy(&want);
                ctx.forced_socket = ctx
                    .rt
                    .listeners()
                    .iter()
                    .map(|l| format!("{}:{}", l.proto, l.addr))
                    .find(|spec| want.eq_ignore_ascii_case(spec))
                    .map(bytes::Bytes::from);
                if ctx.forced_socket.is_none() {
                    tracing::warn!("set_send_socket: no listener `{want}`");
                }
                1
            }),
        ));
        // the receive socket of the message (`$Ri`, `$Rp`, where replies
        // leave from); an unknown socket changes nothing and is still true,
        // as Kamailio 5.6
        reg.add_function(def(
            "set_recv_socket",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let want = str_arg(ctx, &a[0]).unwrap_or_default();
                let want = String::from_utf8_lossy(&want).into_owned();
                let found = ctx
                    .rt
                    .listeners()
                    .iter()
                    .find(|l| want.eq_ignore_ascii_case(&format!("{}:{}", l.proto, l.addr)))
                    .map(|l| (l.id, l.proto, l.addr));
                set_recv(ctx, found, &want);
                1
            }),
        ));
        reg.add_function(def(
            "set_recv_socket_name",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let want = str_arg(ctx, &a[0]).unwrap_or_default();
                let want = String::from_utf8_lossy(&want).into_owned();
                let found = ctx
                    .rt
                    .listeners()
                    .iter()
                    .find(|l| l.name.as_deref() == Some(want.as_str()))
                    .map(|l| (l.id, l.proto, l.addr));
                set_recv(ctx, found, &want);
                1
            }),
        ));
        // the source address of the message (`$si`, `$sp`, where replies
        // go): `ip:port` only (a `proto:` prefix or no port is -1)
        reg.add_function(def(
            "set_source_address",
            vec![ParamKind::Format],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let text = str_arg(ctx, &a[0]).unwrap_or_default();
                let parsed = std::str::from_utf8(&text)
                    .ok()
                    .and_then(|t| t.trim().parse::<std::net::SocketAddr>().ok());
                match parsed {
                    Some(addr) => {
                        ctx.rcv.src = addr;
                        1
                    }
                    None => {
                        tracing::error!(
                            "set_source_address: invalid address `{}`",
                            String::from_utf8_lossy(&text)
                        );
                        -1
                    }
                }
            }),
        ));
        // `;srvid=<server_id>` on the Via of forwarded requests (1 on, 0 off)
        reg.add_function(def(
            "via_add_srvid",
            vec![ParamKind::IntOrPv],
            func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                ctx.via_srvid = int_arg(ctx, &a[0]).unwrap_or(0) != 0;
                1
            }),
        ));
        // Kamailio takes these from the XAVPs named by the core parameters
        // `xavp_via_params`/`xavp_via_fields`, which siprd does not have:
        // accepted, nothing is added.
        for name in ["via_add_xavp_params", "via_use_xavp_fields"] {
            reg.add_function(def(
                name,
                vec![ParamKind::IntOrPv],
                func(|_ctx: &mut Ctx, _a: &[Arg<Ctx>]| 1),
            ));
        }
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

/// Make a listener the message's receiving socket.
fn set_recv(
    ctx: &mut Ctx,
    found: Option<(
        crate::transport::ListenerId,
        crate::transport::Proto,
        std::net::SocketAddr,
    )>,
    want: &str,
) {
    match found {
        Some((id, proto, addr)) => {
            ctx.rcv.listener = Some(id);
            ctx.rcv.proto = proto;
            ctx.rcv.local = addr;
        }
        None => tracing::warn!("set_recv_socket: no listener `{want}`"),
    }
}

/// `proto:ip:port` of the listener named `name` (`listen=... name "x"`).
fn socket_named(ctx: &Ctx, name: &[u8]) -> Option<bytes::Bytes> {
    ctx.rt
        .listeners()
        .iter()
        .find(|l| l.name.as_deref().map(str::as_bytes) == Some(name))
        .map(|l| bytes::Bytes::from(format!("{}:{}", l.proto, l.addr)))
}

/// `$cfg(line|name|file|route)`: where the statement is written, known at
/// load (Kamailio 5.6.3: the statement's line; `name` and `file` both the
/// statement's file, made absolute by prefixing the working directory; the
/// route block's name, `DEFAULT_ROUTE` for request_route).
fn cfg_pv(
    at: Option<&siprd_script::registry::CfgAt>,
    inner: Option<&str>,
) -> Result<Box<dyn siprd_script::registry::PvImpl<Ctx>>, String> {
    struct Const(Value);
    impl siprd_script::registry::PvImpl<Ctx> for Const {
        fn get(&self, _ctx: &mut Ctx, _idx: siprd_script::registry::PvIndex) -> Value {
            self.0.clone()
        }
    }
    // as Kamailio: the working directory, a `/` and the path as given
    // (`/run/dir/../cfg/x.cfg`, not normalised)
    let absolute = |f: &str| match std::path::Path::new(f) {
        p if p.is_absolute() => f.to_string(),
        _ => std::env::current_dir()
            .map(|d| format!("{}/{f}", d.to_string_lossy()))
            .unwrap_or_else(|_| f.to_string()),
    };
    let at = at.cloned().unwrap_or_default();
    let v = match inner.map(str::trim) {
        Some("line") => Value::Int(i32::try_from(at.line).unwrap_or(i32::MAX)),
        Some("name" | "file") => Value::from_string(absolute(&at.file)),
        Some("route") => Value::from_string(at.route),
        other => {
            return Err(format!(
                "unknown $cfg field `{}` (line, name, file, route)",
                other.unwrap_or_default()
            ))
        }
    };
    Ok(Box::new(Const(v)))
}
