//! sl: stateless replies (`sl_send_reply`, `send_reply`, `sl_reply_error`,
//! `sl_forward_reply`) and the filter that absorbs ACKs to them.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{int_arg, str_arg};
use crate::runtime::{EventHandle, HookAction, Hooks, Runtime};
use crate::stats::{Counter, Stat};
use bytes::Bytes;
use siprd_script::registry::{func, Arg, FuncDef, ModParamDecl, ModParamType, ParamKind};
use siprd_script::{route_type, Registry};
use siprd_sip::Method;
use std::sync::{Arc, OnceLock};

/// State shared by sl's functions and hooks.
pub struct SlState {
    /// The To-tag prefix of every stateless reply: ACKs carrying it are ours.
    tag_prefix: String,
    /// Resolved at start: `event_route[sl:local-response]`, `[sl:filtered-ack]`.
    local_response: OnceLock<Option<EventHandle>>,
    filtered_ack: OnceLock<Option<EventHandle>>,
    stats: SlStats,
}

/// Kamailio's `sl:` statistics (never reset, as Kamailio's).
#[derive(Default)]
struct SlStats {
    /// One counter per name of [`SL_CODES`].
    by_code: [Counter; SL_CODES.len()],
    sent: Counter,
    sent_err: Counter,
    failures: Counter,
    acks: Counter,
}

/// Reply names with a counter: a code counts under its own name when listed,
/// else under its class (`2xx_replies` are the 2xx other than 200 and 202).
const SL_CODES: [&str; 20] = [
    "1xx", "200", "202", "2xx", "300", "301", "302", "3xx", "400", "401", "403", "404", "407",
    "408", "483", "4xx", "500", "5xx", "6xx", "xxx",
];

impl SlStats {
    fn sent(&self, code: u16) {
        // indexes into SL_CODES, without formatting on the reply path
        let i = match code {
            200 => 1,
            202 => 2,
            300 => 4,
            301 => 5,
            302 => 6,
            400 => 8,
            401 => 9,
            403 => 10,
            404 => 11,
            407 => 12,
            408 => 13,
            483 => 14,
            500 => 16,
            _ => match code / 100 {
                1 => 0,
                2 => 3,
                3 => 7,
                4 => 15,
                5 => 17,
                6 => 18,
                _ => 19,
            },
        };
        if let Some(c) = self.by_code.get(i) {
            c.inc();
        }
        self.sent.inc();
    }

    /// `sl.stats`: Kamailio's per-code table. It has no `1xx` entry:
    /// provisional replies count under `xxx`.
    fn rpc_stats(&self) -> serde_json::Value {
        let mut map = serde_json::Map::new();
        let one_xx = self.by_code[0].get();
        for (name, c) in SL_CODES.iter().zip(&self.by_code).skip(1) {
            let mut n = c.get();
            if *name == "xxx" {
                n += one_xx;
            }
            map.insert((*name).to_string(), serde_json::Value::from(n));
        }
        serde_json::Value::Object(map)
    }

    fn register(&self, stats: &crate::stats::Stats) {
        for (name, c) in SL_CODES.iter().zip(&self.by_code) {
            stats.add("sl", &format!("{name}_replies"), Stat::NoReset(c.clone()));
        }
        for (name, c) in [
            ("sent_replies", &self.sent),
            ("sent_err_replies", &self.sent_err),
            ("failures", &self.failures),
            ("received_ACKs", &self.acks),
        ] {
            stats.add("sl", name, Stat::NoReset(c.clone()));
        }
    }
}

pub struct Sl {
    state: Arc<SlState>,
}

impl Default for Sl {
    fn default() -> Self {
        // A per-instance random prefix, 32 hex digits like Kamailio's.
        let tag_prefix = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        Sl {
            state: Arc::new(SlState {
                tag_prefix,
                local_response: OnceLock::new(),
                filtered_ack: OnceLock::new(),
                stats: SlStats::default(),
            }),
        }
    }
}

/// The stateless To-tag for a request: our 32-digit prefix, a dot and a hash
/// of what identifies the request, so retransmissions get the same tag.
/// Built on the stack: no allocation per reply.
fn to_tag(prefix: &str, ctx: &Ctx) -> [u8; 41] {
    siprd_sip::reply::local_tag(prefix.as_bytes(), b'.', false, &ctx.msg)
}

/// An IP address as text, on the stack.
pub fn ip_text(ip: std::net::IpAddr, buf: &mut [u8; 48]) -> &[u8] {
    use std::io::Write;
    if let std::net::IpAddr::V4(v4) = ip {
        // Every reply formats the source address: skip the fmt machinery.
        let mut n = 0;
        for (i, octet) in v4.octets().into_iter().enumerate() {
            if i > 0 {
                buf[n] = b'.';
                n += 1;
            }
            if octet >= 100 {
                buf[n] = b'0' + octet / 100;
                n += 1;
            }
            if octet >= 10 {
                buf[n] = b'0' + octet / 10 % 10;
                n += 1;
            }
            buf[n] = b'0' + octet % 10;
            n += 1;
        }
        return &buf[..n];
    }
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cur, "{ip}");
    let n = cur.position() as usize;
    &buf[..n]
}

/// Send a stateless reply to the request in `ctx`. Returns Kamailio's code:
/// 1 on success, -1 on failure.
pub fn send_stateless(state: &SlState, ctx: &mut Ctx, code: u16, reason: &[u8]) -> i32 {
    send_stateless_code(state, ctx, i32::from(code), reason)
}

/// [`send_stateless`] with the code as the script gave it: any integer, sent
/// as the last three digits of its unsigned 32-bit form (`99` → `099`,
/// `1000` → `000`, `-1` → `295`), the To tag added from 180 on the given value.
pub fn send_stateless_code(state: &SlState, ctx: &mut Ctx, given: i32, reason: &[u8]) -> i32 {
    let code = ((given as u32) % 1000) as u16;
    let script_code = (i32::from(code) != given).then_some(given);
    if !ctx.msg.is_request() || ctx.faked {
        tracing::error!("cannot send a reply: not a received request");
        return -1;
    }
    if ctx.msg.method() == Method::Ack {
        // An ACK gets no reply.
        return 1;
    }
    // Kamailio parses every header to build a reply: a bad or repeated
    // Content-Length, a second To/From/Call-ID/CSeq/Max-Forwards, a Via that
    // does not parse or a cut last header makes that fail: nothing is sent
    if !ctx.msg.headers_parse_ok() {
        tracing::error!("cannot build the reply: a header of the request does not parse");
        return -1;
    }
    let tag = to_tag(&state.tag_prefix, ctx);
    let rt = ctx.rt.clone();
    let Some(dest) = crate::forward::reply_dest(ctx) else {
        tracing::error!("cannot find where to send the reply");
        return -1;
    };
    let mut extra = std::mem::take(&mut ctx.reply_headers);
    if rt.settings.server_signature && !rt.settings.server_header.is_empty() {
        extra.extend_from_slice(rt.settings.server_header.as_bytes());
        extra.extend_from_slice(b"\r\n");
    }
    let warning = if rt.settings.sip_warning {
        warning_header(ctx)
    } else {
        Vec::new()
    };
    let mut ip_buf = [0u8; 48];
    let src_ip = ip_text(ctx.rcv.src.ip(), &mut ip_buf);
    let opts = siprd_sip::reply::ReplyOpts {
        to_tag: Some(&tag),
        src_ip: Some(src_ip),
        src_port: Some(ctx.rcv.src.port()),
        force_rport: ctx.force_rport,
        extra_headers: &extra,
        trailing_headers: &warning,
        body: ctx.reply_body.as_deref().unwrap_or_default(),
        content_type: None,
        script_code,
    };
    let mut out = std::mem::take(&mut ctx.scratch);
    out.clear();
    siprd_sip::reply::build_reply_into(&ctx.msg, code, reason, &opts, &mut out);
    let ok = ctx.send(&dest, &out);
    // sl:local-response runs on the reply that was sent (a copy only when
    // the route exists: not on the plain reply path).
    let sent = match state.local_response.get() {
        Some(Some(_)) if ok => Some(Bytes::copy_from_slice(&out)),
        _ => None,
    };
    ctx.scratch = out;
    extra.clear();
    ctx.reply_headers = extra;
    if !ok {
        state.stats.failures.inc();
        return -1;
    }
    state.stats.sent(code);
    ctx.replied = true;
    if let (Some(Some(ev)), Some(sent)) = (state.local_response.get(), sent) {
        let ev = ev.clone();
        let snd = crate::onsend::SndInfo {
            to: dest.addr,
            from: ctx.rcv.local,
            proto: dest.proto,
            buf: crate::onsend::OutBuf::Shared(sent.clone()),
        };
        ctx.flush();
        // As Kamailio: the route sees the reply as its message (`$rs`, `$rr`,
        // `$rm` from its CSeq, the request's headers copied into it) and
        // `$snd(...)` where it went; there is no receive information.
        rt.raise_with(&ev, route_type::EVENT, |c| {
            if let Ok(m) = siprd_sip::Message::parse(sent) {
                c.msg = m;
                let id = c.msg_no;
                c.reset_keeping_msg(true, crate::context::RcvInfo::default());
                c.msg_no = id;
            }
            c.snd = Some(snd);
        });
    }
    1
}

/// Kamailio's `sip_warning` header (debugging aid; placed after Content-Length as Kamailio does).
fn warning_header(ctx: &Ctx) -> Vec<u8> {
    let local = ctx.rcv.local;
    let ruri = String::from_utf8_lossy(ctx.msg.ruri_bytes());
    let out_uri = String::from_utf8_lossy(ctx.ruri());
    format!(
        "Warning: 392 {}:{} \"Noisy feedback tells:  pid={} req_src_ip={} req_src_port={} in_uri={ruri} out_uri={out_uri} via_cnt=={}\"\r\n",
        local.ip(),
        local.port(),
        std::process::id(),
        ctx.rcv.src.ip(),
        ctx.rcv.src.port(),
        ctx.msg.via_count(),
    )
    .into_bytes()
}

/// The status code of `sl_send_reply`/`send_reply` as Kamailio sends it: a
/// value that is no integer (`"abc"`, `"200x"`) is 500; any integer goes out
/// as the last three digits of its unsigned 32-bit form (`99` → `099`,
/// `1000` → `000`, `-1` → `295`).
fn reply_code(ctx: &mut Ctx, a: &Arg<Ctx>) -> i32 {
    match int_arg(ctx, a) {
        Some(c) => c,
        None => {
            tracing::error!("reply code is not an integer: 500 sent");
            500
        }
    }
}

fn reply_fn(state: &Arc<SlState>) -> siprd_script::registry::FuncImpl<Ctx> {
    let state = state.clone();
    func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
        let code = reply_code(ctx, &a[0]);
        let reason = str_arg(ctx, &a[1]).unwrap_or_default();
        send_stateless_code(&state, ctx, code, &reason)
    })
}

/// `send_reply` (and `send_reply_mode`, with TCP flags): stateful inside a
/// transaction (tm), stateless otherwise.
fn send_reply_fn(state: &Arc<SlState>) -> siprd_script::registry::FuncImpl<Ctx> {
    let state = state.clone();
    func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
        let code = reply_code(ctx, &a[0]);
        let reason = str_arg(ctx, &a[1]).unwrap_or_default();
        // send_reply_mode: 1 = do not open a connection for the reply,
        // 2 = close the connection after it (set_reply_no_connect/close)
        if let Some(m) = a.get(2) {
            let mode = int_arg(ctx, m).unwrap_or(0);
            if mode & 1 != 0 {
                ctx.tcp_flags |= crate::context::TcpFlags::REPLY_NO_CONNECT;
            }
            if mode & 2 != 0 {
                ctx.tcp_flags |= crate::context::TcpFlags::REPLY_CLOSE;
            }
        }
        if let Some(r) = crate::modules::tm::stateful_reply(ctx, code, &reason) {
            return r;
        }
        send_stateless_code(&state, ctx, code, &reason)
    })
}

impl Module for Sl {
    fn name(&self) -> &'static str {
        "sl"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl {
                name: "default_code",
                ty: ModParamType::Int,
            },
            ModParamDecl {
                name: "default_reason",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "bind_tm",
                ty: ModParamType::Int,
            },
            ModParamDecl {
                name: "rich_redirect",
                ty: ModParamType::Int,
            },
            ModParamDecl {
                name: "event_callback_fl_ack",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "event_callback_lres_sent",
                ty: ModParamType::Str,
            },
        ]
    }

    fn set_param(&mut self, _name: &str, _value: &siprd_script::Value) -> Result<(), String> {
        Ok(())
    }

    fn events(&self) -> Vec<&'static str> {
        vec!["sl:local-response", "sl:filtered-ack"]
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        // Kamailio 5.6: sl_send_reply and sl_reply_error in request_route
        // only; send_reply[_mode] also in failure and both reply routes
        let routes = route_type::REQUEST | route_type::FAILURE | route_type::ONREPLY;
        // `sl_reply` is Kamailio's other name of `sl_send_reply`
        for name in ["sl_send_reply", "sl_reply"] {
            reg.add_function(FuncDef {
                name,
                module: "sl",
                params: vec![ParamKind::IntOrPv, ParamKind::StrOrPv],
                routes: route_type::REQUEST,
                call: reply_fn(&self.state),
            });
        }
        reg.add_function(FuncDef {
            name: "send_reply",
            module: "sl",
            params: vec![ParamKind::IntOrPv, ParamKind::StrOrPv],
            routes,
            call: send_reply_fn(&self.state),
        });
        reg.add_function(FuncDef {
            name: "send_reply_mode",
            module: "sl",
            params: vec![ParamKind::IntOrPv, ParamKind::StrOrPv, ParamKind::IntOrPv],
            routes,
            call: send_reply_fn(&self.state),
        });
        let state = self.state.clone();
        reg.add_function(FuncDef {
            name: "sl_reply_error",
            module: "sl",
            params: vec![],
            routes: route_type::REQUEST,
            call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| {
                state.stats.sent_err.inc();
                send_stateless(
                    &state,
                    ctx,
                    500,
                    b"I'm terribly sorry, server error occurred (1/SL)",
                )
            }),
        });
        for params in [
            vec![],
            vec![ParamKind::IntOrPv],
            vec![ParamKind::IntOrPv, ParamKind::StrOrPv],
        ] {
            reg.add_function(FuncDef {
                name: "sl_forward_reply",
                module: "sl",
                params,
                routes: route_type::ONREPLY,
                call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let code = a.first().and_then(|c| int_arg(ctx, c));
                    let reason = a.get(1).and_then(|r| str_arg(ctx, r));
                    if crate::forward::forward_reply_with(ctx, code, reason.as_deref()) {
                        1
                    } else {
                        -1
                    }
                }),
            });
        }
    }

    fn hooks(&self, hooks: &mut Hooks) {
        let state = self.state.clone();
        hooks.request.push(Arc::new(move |ctx: &mut Ctx| {
            if ctx.msg.method() != Method::Ack {
                return HookAction::Continue;
            }
            let ours = ctx
                .msg
                .to_tag_fast()
                .is_some_and(|tag| tag.starts_with(state.tag_prefix.as_bytes()));
            if !ours {
                return HookAction::Continue;
            }
            state.stats.acks.inc();
            if let Some(Some(ev)) = state.filtered_ack.get() {
                let rt = ctx.rt.clone();
                rt.run_event(ctx, ev, route_type::EVENT);
            }
            HookAction::Stop
        }));
    }

    fn rpc(&self, rpc: &mut crate::rpc::RpcRegistry) {
        self.state.stats.register(&rpc.stats);
        let state = self.state.clone();
        rpc.add("sl.stats", "Print reply statistics.", move |_| {
            Ok(state.stats.rpc_stats())
        });
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.state.local_response.set(rt.event("sl:local-response"));
        let _ = self.state.filtered_ack.set(rt.event("sl:filtered-ack"));
        Ok(())
    }
}

/// Send a stateless reply through the script's `sl_send_reply` (for modules
/// that answer on sl's behalf: siputils' options_reply, sanity), with
/// `headers` added to it; -1 when sl is not loaded. The headers do not leak
/// into a later reply when sending fails.
pub fn reply_with_headers(ctx: &mut Ctx, code: u16, reason: &'static [u8], headers: &[u8]) -> i32 {
    let rt = ctx.rt.clone();
    let Some(send) = rt
        .registry
        .functions
        .get("sl_send_reply")
        .and_then(|defs| defs.iter().find(|d| d.params.len() == 2))
        .map(|d| d.call.clone())
    else {
        tracing::error!("module sl is not loaded: no reply sent");
        return -1;
    };
    let before = ctx.reply_headers.len();
    ctx.reply_headers.extend_from_slice(headers);
    let r = send(
        ctx,
        &[
            Arg::Int(i32::from(code)),
            Arg::Str(bytes::Bytes::from_static(reason)),
        ],
    );
    if r < 0 {
        ctx.reply_headers.truncate(before);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_matches_display() {
        let mut buf = [0u8; 48];
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "9.99.199.200",
            "::1",
            "2001:db8::5",
        ] {
            let ip: std::net::IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip, &mut buf), ip.to_string().as_bytes());
        }
    }

    #[test]
    fn reply_counters_by_name() {
        let st = SlStats::default();
        let reg = crate::stats::Stats::default();
        st.register(&reg);
        for code in [200, 200, 201, 404, 486, 100, 603, 302] {
            st.sent(code);
        }
        let mut out = Vec::new();
        reg.get("sl:", &mut out);
        for line in [
            "sl:200_replies = 2",
            "sl:2xx_replies = 1",
            "sl:404_replies = 1",
            "sl:4xx_replies = 1",
            "sl:1xx_replies = 1",
            "sl:6xx_replies = 1",
            "sl:302_replies = 1",
            "sl:sent_replies = 8",
            "sl:xxx_replies = 0",
        ] {
            assert!(out.iter().any(|l| l == line), "{line} in {out:?}");
        }
        assert_eq!(out.len(), 24);
        let v = st.rpc_stats();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, &SL_CODES[1..]);
        assert_eq!(v["xxx"], 1, "the 100 counts as xxx");
        assert_eq!(v["200"], 2);
        assert_eq!(v["2xx"], 1);
        assert_eq!(v["6xx"], 1);
    }
}
