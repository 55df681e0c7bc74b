//! xhttp: HTTP requests received on the SIP listeners (TCP, and UDP as
//! Kamailio does) run `event_route[xhttp:request]` with the request as the
//! message (`$hu`, `$rm`, `$hdr(...)`, `$rb`), and `xhttp_reply()` answers.
//!
//! The SIP parser recognises `METHOD /target HTTP/x` first lines
//! ([`siprd_sip::Message::is_http`]); the dispatcher hands such messages to the
//! non-SIP hooks instead of the SIP routes, and ours runs the event route.
//! TCP framing is SIP's (header section plus Content-Length body), so
//! pipelined requests and keep-alive connections work as for SIP.
//!
//! Observed on Kamailio 5.6 (and kept): the reply carries `Sia:` (the fake
//! Via Kamailio adds to HTTP requests, renamed), the Server header, and the
//! request's HTTP version; only the first `xhttp_reply()` is sent; the
//! connection stays open whatever `Connection:` says; junk and a bad
//! Content-Length close the TCP connection without an answer (no 400).

use crate::context::{Ctx, RcvInfo};
use crate::module::{CoreSettings, Module};
use crate::modules::args::optional_regex;
use crate::modules::args::{int_arg, str_arg};
use crate::runtime::{EventHandle, HookAction, Hooks, Runtime};
use crate::transport::Received;
use regex::bytes::Regex;
use siprd_script::registry::{
    func, Arg, FuncDef, ModParamDecl, ModParamType, PvClassDef, PvImpl, PvIndex,
};
use siprd_script::{route_type, Registry, Value};
use siprd_sip::Message;
use std::sync::{Arc, OnceLock};

/// The event route the module runs.
pub const EVENT: &str = "xhttp:request";

/// What the hook needs, shared with its closure.
#[derive(Default)]
struct XhttpState {
    url_match: Option<Regex>,
    url_skip: Option<Regex>,
    route: OnceLock<Option<EventHandle>>,
}

/// The xhttp module.
#[derive(Default)]
pub struct Xhttp {
    url_match: String,
    url_skip: String,
    state: Arc<XhttpState>,
}

impl XhttpState {
    /// Is this URL for us (`url_skip` first, then `url_match`)?
    fn wants(&self, url: &[u8]) -> bool {
        if self.url_skip.as_ref().is_some_and(|re| re.is_match(url)) {
            return false;
        }
        self.url_match.as_ref().is_none_or(|re| re.is_match(url))
    }

    fn on_packet(&self, ctx: &mut Ctx, pkt: &Received) -> HookAction {
        let Some(Some(ev)) = self.route.get() else {
            return HookAction::Continue;
        };
        // An unframeable stream (bad Content-Length) is closed unanswered.
        if pkt.framing_error {
            return HookAction::Continue;
        }
        // HTTP is not the hot path: the dispatcher's parse is not passed down,
        // we parse again.
        let Ok(msg) = Message::parse(pkt.data.clone()) else {
            return HookAction::Continue;
        };
        // A bare request line or a broken header fails Kamailio's parser:
        // not an HTTP request for xhttp (nosip may take the former).
        if !msg.is_http() || msg.header_lines() == 0 || msg.has_bad_header_line() {
            return HookAction::Continue;
        }
        if !self.wants(msg.ruri_bytes()) {
            tracing::debug!("xhttp: URL not handled (url_skip / url_match)");
            return HookAction::Continue;
        }
        let rt = ctx.rt.clone();
        let rcv = RcvInfo::of(pkt);
        let msg = with_fake_via(&pkt.data, &rcv).unwrap_or(msg);
        ctx.reset(msg, false, rcv);
        rt.run_route(ctx, ev.route, route_type::EVENT, &ev.name);
        HookAction::Stop
    }
}

/// Kamailio's xhttp puts a Via naming the sender after the request line
/// (`Via: SIP/2.0/TCP ip:port`): the route's `$mb`, `$ml`, `$hdr(Via)` see it,
/// and the reply echoes it as `Sia:`. None when the data is no HTTP request.
fn with_fake_via(data: &[u8], rcv: &RcvInfo) -> Option<Message> {
    let start = siprd_sip::framing::skip_keepalive(data);
    let eol = start + memchr::memchr(b'\n', data.get(start..)?)? + 1;
    let mut buf = Vec::with_capacity(data.len() + 48);
    buf.extend_from_slice(data.get(..eol)?);
    buf.extend_from_slice(b"Via: SIP/2.0/");
    buf.extend_from_slice(rcv.proto.as_str().to_ascii_uppercase().as_bytes());
    buf.extend_from_slice(format!(" {}\r\n", rcv.src).as_bytes());
    buf.extend_from_slice(data.get(eol..)?);
    Message::parse(bytes::Bytes::from(buf))
        .ok()
        .filter(Message::is_http)
}

/// Send the HTTP reply to the HTTP request in `ctx` (the first reply only).
/// Returns Kamailio's code: 1 sent, -1 not.
pub fn send_reply(ctx: &mut Ctx, code: i32, reason: &[u8], ctype: &[u8], body: &[u8]) -> i32 {
    if !ctx.msg.is_http() || ctx.faked {
        tracing::error!("xhttp_reply: not an HTTP request");
        return -1;
    }
    if ctx.replied {
        tracing::error!("xhttp_reply: the request was already answered");
        return -1;
    }
    if !(100..=999).contains(&code) {
        tracing::error!("xhttp_reply: invalid code {code}");
        return -1;
    }
    let rt = ctx.rt.clone();
    let mut out = std::mem::take(&mut ctx.scratch);
    out.clear();
    out.extend_from_slice(ctx.msg.version());
    out.extend_from_slice(format!(" {code} ").as_bytes());
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\nSia: SIP/2.0/");
    out.extend_from_slice(ctx.rcv.proto.as_str().to_ascii_uppercase().as_bytes());
    out.extend_from_slice(format!(" {}\r\n", ctx.rcv.src).as_bytes());
    // headers added with append_to_reply() come before ours, as in Kamailio
    out.extend_from_slice(&ctx.reply_headers);
    if !ctype.is_empty() {
        out.extend_from_slice(b"Content-Type: ");
        out.extend_from_slice(ctype);
        out.extend_from_slice(b"\r\n");
    }
    if rt.settings.server_signature && !rt.settings.server_header.is_empty() {
        out.extend_from_slice(rt.settings.server_header.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    let dest = ctx.rcv.reply_dest(ctx.rcv.src);
    let ok = ctx.send(&dest, &out);
    ctx.scratch = out;
    if !ok {
        return -1;
    }
    ctx.replied = true;
    1
}

/// `$hu`: the URL of the HTTP request (null for SIP).
struct HuPv;

impl PvImpl<Ctx> for HuPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        // the request line's URI, of an HTTP or a SIP request (Kamailio 5.6)
        if ctx.msg.is_request() && !ctx.faked {
            Value::Str(bytes::Bytes::copy_from_slice(ctx.msg.ruri_bytes()))
        } else {
            Value::Null
        }
    }
}

impl Module for Xhttp {
    fn name(&self) -> &'static str {
        "xhttp"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        ["url_match", "url_skip", "event_callback"]
            .into_iter()
            .map(|name| ModParamDecl {
                name,
                ty: ModParamType::Str,
            })
            .collect()
    }

    fn events(&self) -> Vec<&'static str> {
        vec![EVENT]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "url_match" => self.url_match = value.to_string(),
            "url_skip" => self.url_skip = value.to_string(),
            // KEMI: read from the config by `Runtime::event` (xhttp:request)
            "event_callback" => {}
            _ => return Err(format!("module `xhttp` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        self.state = Arc::new(XhttpState {
            url_match: optional_regex("url_match", &self.url_match)?,
            url_skip: optional_regex("url_skip", &self.url_skip)?,
            route: OnceLock::new(),
        });
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_pv(PvClassDef {
            name: "hu",
            module: "xhttp",
            parse: Arc::new(|_fx, inner| match inner {
                None => Ok(Box::new(HuPv) as Box<dyn PvImpl<Ctx>>),
                Some(_) => Err("`$hu` takes no name in parentheses".into()),
            }),
        });
        reg.add_function(FuncDef {
            name: "xhttp_reply",
            module: "xhttp",
            params: vec![
                siprd_script::registry::ParamKind::IntFormat,
                siprd_script::registry::ParamKind::Format,
                siprd_script::registry::ParamKind::Format,
                siprd_script::registry::ParamKind::Format,
            ],
            routes: route_type::REQUEST,
            call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let Some(code) = int_arg(ctx, &a[0]) else {
                    tracing::error!("xhttp_reply: invalid code");
                    return -1;
                };
                let reason = str_arg(ctx, &a[1]).unwrap_or_default();
                let ctype = str_arg(ctx, &a[2]).unwrap_or_default();
                let body = str_arg(ctx, &a[3]).unwrap_or_default();
                send_reply(ctx, code, &reason, &ctype, &body)
            }),
        });
    }

    fn hooks(&self, hooks: &mut Hooks) {
        let st = self.state.clone();
        hooks
            .non_sip
            .push(Arc::new(move |ctx, pkt| st.on_packet(ctx, pkt)));
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let ev = rt.event(EVENT);
        if ev.is_none() {
            tracing::warn!("xhttp: no event_route[{EVENT}]: HTTP requests are dropped");
        }
        let _ = self.state.route.set(ev);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_filters() {
        let st = XhttpState {
            url_match: optional_regex("url_match", "^/(RPC|api)").unwrap(),
            url_skip: optional_regex("url_skip", "^/api/private").unwrap(),
            route: OnceLock::new(),
        };
        assert!(st.wants(b"/RPC"));
        assert!(st.wants(b"/api/x"));
        assert!(!st.wants(b"/api/private/x"));
        assert!(!st.wants(b"/other"));
        assert!(XhttpState::default().wants(b"/anything"));
        assert!(optional_regex("x", "(").is_err());
    }
}
