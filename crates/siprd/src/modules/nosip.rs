//! nosip: data received on a SIP listener that is not SIP (junk, a bare SIP
//! first line without headers, binary probes) runs `event_route[nosip:msg]`
//! in the receiving worker, with the packet in `$mb` / `$nosip` and its
//! source in `$si` / `$sp`.
//!
//! The dispatcher calls our non-SIP hook; when the route runs we stop the
//! packet there (no `core:receive-parse-error`), as Kamailio does.

use crate::context::{Ctx, RcvInfo};
use crate::module::{CoreSettings, Module};
use crate::modules::pv::RawPacket;
use crate::runtime::{EventHandle, HookAction, Hooks, Runtime};
use crate::transport::{Proto, Received};
use regex::bytes::Regex;
use siprd_script::registry::{ModParamDecl, ModParamType, PvClassDef, PvImpl, PvIndex};
use siprd_script::{route_type, Registry, Value};
use siprd_sip::Message;
use std::sync::{Arc, OnceLock};

/// The event route the module runs.
pub const EVENT: &str = "nosip:msg";

/// Default size under which packets are ignored (NAT keep-alives).
pub const DEFAULT_MIN_LEN: usize = 32;

/// Shared state captured by the hook.
pub struct NosipState {
    msg_match: Option<Regex>,
    msg_skip: Option<Regex>,
    /// `min_length` when set; else 32 bytes for UDP only.
    min_len: Option<usize>,
    route: OnceLock<EventHandle>,
}

/// The nosip module.
pub struct Nosip {
    msg_match: String,
    msg_skip: String,
    min_len: Option<i32>,
    state: Arc<NosipState>,
}

impl Default for Nosip {
    fn default() -> Self {
        Nosip {
            msg_match: String::new(),
            msg_skip: String::new(),
            min_len: None,
            state: Arc::new(NosipState {
                msg_match: None,
                msg_skip: None,
                min_len: None,
                route: OnceLock::new(),
            }),
        }
    }
}

impl NosipState {
    /// Should the route run for this packet?
    fn wants(&self, data: &[u8], proto: Proto) -> bool {
        // Kamailio has no threshold of its own: only its UDP receiver drops
        // datagrams under 32 bytes. `min_length`, when set, applies to all.
        let min = match (self.min_len, proto) {
            (Some(n), _) => n,
            (None, Proto::Udp) => DEFAULT_MIN_LEN,
            (None, _) => 0,
        };
        if data.len() < min {
            return false;
        }
        // Kamailio runs both regexes as C strings: the text ends at a NUL.
        if let Some(re) = &self.msg_skip {
            if re.is_match(c_string(data)) {
                return false;
            }
        }
        match &self.msg_match {
            // Kamailio 5.6 applies msg_match to the text from the
            // request-URI of the first line on (to the end of the packet),
            // not to the whole packet: `x PING ...` matches `^PING`, `PING`
            // does not.
            Some(re) => match uri_start(data) {
                Some(at) => re.is_match(c_string(&data[at..])),
                None => {
                    // Kamailio 5.6 crashes here (a null URI pointer); siprd
                    // takes the packet as not matching.
                    tracing::debug!("nosip: msg_match on a packet without a request-URI");
                    false
                }
            },
            None => true,
        }
    }

    fn on_packet(&self, ctx: &mut Ctx, pkt: &Received) -> HookAction {
        let Some(ev) = self.route.get() else {
            return HookAction::Continue;
        };
        if other_protocol_with_headers(&pkt.data) || !self.wants(&pkt.data, pkt.proto) {
            return HookAction::Continue;
        }
        let rt = ctx.rt.clone();
        let rcv = RcvInfo::of(pkt);
        // As Kamailio: the route runs on the received data itself, not on a
        // faked request. A start line that parsed (a SIP or HTTP request line
        // without headers) gives `$rm`, `$ru`, ...; otherwise they are null.
        // There are no headers either way.
        ctx.msg = match Message::parse(pkt.data.clone()) {
            Ok(m) if m.header_lines() == 0 => m,
            _ => Message::unparsed(pkt.data.clone()),
        };
        ctx.reset_keeping_msg(false, rcv);
        ctx.event = Some(Box::new(RawPacket(pkt.data.clone())));
        rt.run_event(ctx, ev, route_type::EVENT);
        ctx.event = None;
        HookAction::Stop
    }
}

/// The data up to its first NUL byte (what a C regex matcher sees).
fn c_string(data: &[u8]) -> &[u8] {
    memchr::memchr(0, data).map_or(data, |n| &data[..n])
}

/// Where Kamailio's first-line parser puts the request-URI of a packet that
/// is not SIP: the second token, when the first one is followed by a space
/// and the second by a space or a tab (more may follow). Tokens end at a
/// blank, a tab, CR or LF. `None` when the parser stops before it.
fn uri_start(data: &[u8]) -> Option<usize> {
    let token_end = |from: usize| {
        data[from..]
            .iter()
            .position(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
            .map_or(data.len(), |n| from + n)
    };
    let first = token_end(0);
    if first == 0 || first >= data.len() || data[first] != b' ' {
        return None;
    }
    let second = first + 1;
    let end = token_end(second);
    if end >= data.len() || !matches!(data[end], b' ' | b'\t') {
        return None;
    }
    Some(second)
}

/// A nosip regex: POSIX extended, case-sensitive, without REG_NEWLINE (`.`
/// matches a newline, `^`/`$` only at the ends), as Kamailio compiles them.
fn nosip_regex(name: &str, re: &str) -> Result<Option<Regex>, String> {
    if re.is_empty() {
        return Ok(None);
    }
    let rust = format!("(?s){}", siprd_script::posix::posix_to_rust(re, false));
    Regex::new(&rust)
        .map(Some)
        .map_err(|e| format!("bad regular expression in `{name}`: {e}"))
}

/// Kamailio parses an HTTP message (or another SIP version) that has header
/// lines and drops it silently; only a bare first line fails its parser and
/// reaches nosip.
fn other_protocol_with_headers(data: &[u8]) -> bool {
    let Some(end) = memchr::memchr(b'\n', data) else {
        return false;
    };
    let line = &data[..end];
    let other = memchr::memmem::find(line, b"HTTP/").is_some()
        || (line.starts_with(b"SIP/") && !line.starts_with(b"SIP/2.0"));
    let rest = &data[end + 1..];
    other && !(rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n"))
}

/// `$nosip`: the same as `$mb` everywhere, as Kamailio (in
/// `event_route[nosip:msg]` the packet, elsewhere the current message).
struct NosipPv;

impl PvImpl<Ctx> for NosipPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        match ctx.event_data::<RawPacket>() {
            Some(raw) => Value::Str(raw.0.clone()),
            None => Value::Str(ctx.msg.buf().clone()),
        }
    }
}

impl Module for Nosip {
    fn name(&self) -> &'static str {
        "nosip"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![
            ModParamDecl {
                name: "msg_match",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "msg_skip",
                ty: ModParamType::Str,
            },
            ModParamDecl {
                name: "min_length",
                ty: ModParamType::Int,
            },
            // siprd extension (Kamailio's nosip has no KEMI hook): the KEMI
            // function for `nosip:msg`, read by `Runtime::event`
            ModParamDecl {
                name: "event_callback",
                ty: ModParamType::Str,
            },
        ]
    }

    fn events(&self) -> Vec<&'static str> {
        vec![EVENT]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "msg_match" => self.msg_match = value.to_string(),
            "msg_skip" => self.msg_skip = value.to_string(),
            "min_length" => {
                self.min_len = Some(value.try_int().filter(|n| *n >= 0).ok_or_else(|| {
                    format!("min_length needs a non-negative integer, got `{value}`")
                })?)
            }
            "event_callback" => {}
            _ => return Err(format!("module `nosip` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        self.state = Arc::new(NosipState {
            msg_match: nosip_regex("msg_match", &self.msg_match)?,
            msg_skip: nosip_regex("msg_skip", &self.msg_skip)?,
            min_len: self.min_len.and_then(|n| usize::try_from(n).ok()),
            route: OnceLock::new(),
        });
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_pv(PvClassDef {
            name: "nosip",
            module: "nosip",
            // `$nosip` has no name: `$nosip(x)` and `$nosip()` are refused (Kamailio)
            parse: Arc::new(|_fx, inner| match inner {
                None => Ok(Box::new(NosipPv) as Box<dyn PvImpl<Ctx>>),
                Some(n) => Err(format!("`$nosip` takes no name, got `$nosip({n})`")),
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
        // Kamailio refuses to start without the route (its mod_init); the
        // routes are only known once compiled, so we check here.
        let Some(ev) = rt.event(EVENT) else {
            return Err(format!(
                "event_route[{EVENT}] is missing: the module has nothing to run (add `event_route[{EVENT}] {{ ... }}` or remove loadmodule \"nosip.so\")"
            ));
        };
        let _ = self.state.route.set(ev);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(m: &str, s: &str, min: Option<usize>) -> NosipState {
        NosipState {
            msg_match: nosip_regex("msg_match", m).unwrap(),
            msg_skip: nosip_regex("msg_skip", s).unwrap(),
            min_len: min,
            route: OnceLock::new(),
        }
    }

    #[test]
    fn filters() {
        let st = state("", "", None);
        assert!(!st.wants(b"short", Proto::Udp));
        assert!(st.wants(&[b'x'; 32], Proto::Udp));
        // no threshold on streams, as Kamailio
        assert!(st.wants(b"short", Proto::Tcp));
        let st = state("", "", Some(8));
        assert!(!st.wants(b"short", Proto::Tcp));
        // msg_match reads from the second token on; msg_skip the whole packet
        let st = state("^KREQ", "SKIP", Some(4));
        assert!(st.wants(b"x KREQ one", Proto::Udp));
        assert!(!st.wants(b"KREQ one two", Proto::Udp));
        assert!(!st.wants(b"other data", Proto::Udp));
        assert!(!st.wants(b"x KREQ SKIP", Proto::Udp));
        // case-sensitive, as Kamailio's
        assert!(st.wants(b"x KREQ skip", Proto::Udp));
        assert!(nosip_regex("x", "(").is_err());
        // POSIX ERE without REG_NEWLINE, C strings
        let st = state("^B.*Z$", "", None);
        assert!(st.wants(b"A B x\nZ", Proto::Tcp));
        assert!(st.wants(b"A B\tx Z", Proto::Tcp));
        assert!(st.wants(b"SIP/2.0 B x Z", Proto::Tcp));
        assert!(!st.wants(b"A B x\0Z", Proto::Tcp));
        assert!(!st.wants(b"A  B x Z", Proto::Tcp));
        // no request-URI (Kamailio crashes): not matched
        assert!(!st.wants(b"A BxZ", Proto::Tcp));
        assert!(!st.wants(b"A BxZ\r\n", Proto::Tcp));
        assert!(!st.wants(b"A\tB x Z", Proto::Tcp));
        assert!(!st.wants(b"nospace", Proto::Tcp));
        let st = state("", "^J.*K$", None);
        assert!(!st.wants(b"J\nK", Proto::Tcp));
        assert!(st.wants(b"J\0K", Proto::Tcp));
        assert!(other_protocol_with_headers(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
        ));
        assert!(!other_protocol_with_headers(b"GET / HTTP/1.1\r\n\r\nxxxx"));
        assert!(!other_protocol_with_headers(b"junk\r\nHost: x\r\n\r\n"));
    }
}
