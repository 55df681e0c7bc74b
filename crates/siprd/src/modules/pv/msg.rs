//! Pseudo-variables that read (and for some, write) the SIP message and its
//! context: `$ru $rU $rd $fu $tt $ci $si $hdr(Name) $mb $time(...)` ...

use crate::context::Ctx;
use bytes::Bytes;
use siprd_script::registry::{FixupCtx, PvClassDef, PvError, PvImpl, PvIndex};
use siprd_script::{Registry, Value};
use siprd_sip::uri::Uri;
use siprd_sip::HeaderKind;
use std::sync::Arc;

/// Raw data of a packet that did not parse (for `$mb` in
/// `core:receive-parse-error` and `nosip:msg`).
pub struct RawPacket(pub Bytes);

/// What `event_route[core:msg-received]` reads through `$rcv(...)`: the
/// received data and where it came from. The route itself runs on the faked
/// request (its `$si`, `$mb` are the faked ones), as Kamailio.
pub struct RcvEvent {
    pub data: Bytes,
    pub rcv: crate::context::RcvInfo,
}

/// Which part of the message a simple PV reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Ru,
    RUser,
    RDomain,
    RPort,
    RProto,
    RScheme,
    /// The R-URI as received (`$ou $oU $od $op $oP`), whatever the script set.
    OUri,
    OUser,
    ODomain,
    OPort,
    OProto,
    Du,
    DDomain,
    DPort,
    DProto,
    Fu,
    FUser,
    FDomain,
    FName,
    FTag,
    Tu,
    TUser,
    TDomain,
    TName,
    TTag,
    CallId,
    CSeq,
    Method,
    Status,
    Reason,
    Version,
    SrcIp,
    SrcPort,
    RcvIp,
    RcvPort,
    /// `$Rn`: the name (`listen=... name "x"`) of the receiving socket.
    RcvName,
    /// `$RAi`/`$RAp`: the receiving socket's `advertise` address, else its own.
    AdvIp,
    AdvPort,
    Proto,
    MsgBuf,
    /// `$mbu`: the message with the script's changes applied (new R-URI,
    /// header and body edits), without a Via of ours.
    MsgBufUpdated,
    MsgLen,
    /// `$msg(hdrs)`: the header lines without the last line end and the
    /// empty line; `$msg(hdrs_len)` its length; `$msg(fline)` the start line;
    /// `$msg(hdrc)` the number of header lines.
    MsgHdrs,
    MsgHdrsLen,
    MsgFline,
    MsgHdrCount,
    BodySize,
    Body,
    UserAgent,
    Contact,
    ContentType,
    ContentLength,
    AssertedId,
    Diversion,
    ForcedSocket,
    TimestampNow,
    TimestampMsg,
    TimeFormatted,
    Pid,
    /// `$mt`: 1 request, 2 reply; `$mts`: `rq` / `rp`.
    MsgType,
    MsgTypeStr,
    /// `$sas` `proto:ip:port`, `$su` `sip:ip:port` (`;transport=` past UDP),
    /// `$sut` with the transport always; `$siz` the IP, IPv6 in brackets.
    SrcAddrStr,
    SrcUri,
    SrcUriT,
    SrcIpZ,
    /// `$Ru`/`$RAu` and `$Rut`/`$RAut`: the receiving socket as a URI.
    RcvUri,
    RcvUriT,
    /// `$rUl $fUl $tUl $oUl`: the length of the user part.
    RUserLen,
    FUserLen,
    TUserLen,
    OUserLen,
    /// `$mf`/`$mF` message flags (decimal / 8 lowercase hex digits); `$sf $sF`
    /// script flags and `$bf $bF` the flags of branch 0 (kex), likewise.
    MsgFlags,
    MsgFlagsHex,
    SFlags,
    SFlagsHex,
    BFlags,
    BFlagsHex,
    /// `$Au`/`$AU`: the accounting user: From's `user@domain` / user (siprd
    /// does no digest authentication, so credentials never take precedence).
    AcctUser,
    AcctUserU,
    /// P-Preferred-Identity: `$pu $pU $pd $pn`.
    PpiUri,
    PpiUser,
    PpiDomain,
    PpiName,
    /// `$re` Remote-Party-ID and `$rt` Refer-To: the URI.
    RpidUri,
    ReferTo,
    /// `$sid`: the server id (`server_id`, 0 by default).
    ServerId,
    /// Digest credentials (`Proxy-Authorization`, else `Authorization`,
    /// whatever the method: observed): `$adu` uri, `$ar` realm, `$aU` username,
    /// `$au` its user part, `$ad` its domain part (empty without `@`).
    AuthUri,
    AuthRealm,
    AuthUsername,
    AuthUser,
    AuthDomain,
    /// `$aa`: the `algorithm` of those credentials (empty without one).
    AuthAlgo,
    /// `$adn $adc $adr $ado`: their `nonce`, `cnonce`, `response` and
    /// `opaque` (empty without one, as `$aa`).
    AuthNonce,
    AuthCnonce,
    AuthResponse,
    AuthOpaque,
    /// `$dir $dip $dic`: the first Diversion's `reason`, `privacy` and
    /// `counter` parameters, unquoted.
    DivReason,
    DivPrivacy,
    DivCounter,
    /// `$rsi`: the reply status as an int, 0 for a request.
    StatusInt,
    /// `$Ras`: the receiving socket as `proto:ip:port`.
    RcvSockStr,
    /// `$prid`: Kamailio's number of the transport (udp 1, tcp 2).
    ProtoId,
    /// `$rmid`: Kamailio's method bit (INVITE 1, CANCEL 2, ACK 4 ...).
    MethodId,
    /// `$fsp`: the port of the forced send socket, 0 without one.
    ForcedSockPort,
    /// `$csb`: the CSeq header value (`42 OPTIONS`).
    CSeqBody,
    /// `$mi`: the number of the message among those the worker received.
    MsgId,
    ConId,
}

struct Simple(Field);

fn bytes_of(ctx: &Ctx, s: &[u8]) -> Value {
    // Zero-copy when the slice lies inside the message buffer.
    let buf = ctx.msg.buf();
    let start = s.as_ptr() as usize;
    let base = buf.as_ptr() as usize;
    if start >= base && start + s.len() <= base + buf.len() {
        Value::Str(buf.slice_ref(s))
    } else {
        Value::Str(Bytes::copy_from_slice(s))
    }
}

fn opt(ctx: &Ctx, s: Option<&[u8]>) -> Value {
    match s {
        Some(s) => bytes_of(ctx, s),
        None => Value::Null,
    }
}

fn uri_value(ctx: &Ctx, uri: &[u8], f: impl Fn(&Uri) -> Value) -> Value {
    let _ = ctx;
    match parse_known(uri) {
        Some(u) => f(&u),
        None => Value::Null,
    }
}

/// The message's bytes after the empty line that ends the headers.
fn received_body(msg: &siprd_sip::Message) -> &[u8] {
    msg.buf().get(msg.body_range().start..).unwrap_or_default()
}

/// A URI as Kamailio's parser takes it: `im:`, `http:` ... do not parse.
pub(crate) fn parse_known(uri: &[u8]) -> Option<Uri> {
    Uri::parse(uri).ok().filter(Uri::is_known_scheme)
}

/// A URI without a host (`tel:`) has a null domain.
fn host_value(u: &Uri) -> Value {
    match u.host() {
        [] => Value::Null,
        h => Value::from_vec(h.to_vec()),
    }
}

/// `$rp`, `$op`, `$dp`: a string in Kamailio 5.6 (`$rp + 1` appends), the
/// port as written; without one, 5061 for `transport=tls` and 5060 otherwise
/// (also for `sips:`, as Kamailio).
fn port_value(u: &Uri) -> Value {
    match u.port_bytes() {
        Some(p) => Value::from_vec(p.to_vec()),
        None if u
            .transport()
            .is_some_and(|t| t.eq_ignore_ascii_case(b"tls")) =>
        {
            Value::from_static("5061")
        }
        None => Value::from_static("5060"),
    }
}

/// `$rP`, `$oP`, `$dP`: the `transport` parameter as written, `UDP` without one.
fn proto_of(u: &Uri) -> Value {
    match u.transport() {
        Some(t) => Value::from_vec(t.to_vec()),
        None => Value::from_static("UDP"),
    }
}

fn now_secs() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or(0)
}

/// `strftime` in local time.
pub fn strftime(fmt: &str, t: i64) -> String {
    let out = siprd_script::transform::strftime(fmt.as_bytes(), t).unwrap_or_default();
    String::from_utf8_lossy(&out).into_owned()
}

impl Simple {
    fn read(&self, ctx: &mut Ctx) -> Value {
        use Field::*;
        let msg = &ctx.msg;
        match self.0 {
            Ru => {
                // an HTTP target is no R-URI: Kamailio gives null (xhttp's `$hu` has it)
                if !msg.is_request() || (msg.is_http() && ctx.new_uri.is_none()) {
                    return Value::Null;
                }
                // an R-URI that does not parse reads as null (`seturi("x")`,
                // `INVITE <sip:a@b> SIP/2.0`, `im:a@b`)
                let ru = ctx.ruri();
                if parse_known(ru).is_none() {
                    return Value::Null;
                }
                bytes_of(ctx, ru)
            }
            RUser | RDomain | RPort | RProto | RScheme => {
                if !msg.is_request() {
                    return Value::Null;
                }
                let ru = ctx.ruri().to_vec();
                uri_value(ctx, &ru, |u| match self.0 {
                    RUser => u
                        .user()
                        .map_or(Value::Null, |s| Value::from_vec(s.to_vec())),
                    RDomain => host_value(u),
                    RPort => port_value(u),
                    RProto => proto_of(u),
                    _ => Value::from_vec(u.scheme_lower()),
                })
            }
            OUri => {
                if !msg.is_request() || parse_known(msg.ruri_bytes()).is_none() {
                    return Value::Null;
                }
                bytes_of(ctx, msg.ruri_bytes())
            }
            OUser | ODomain | OPort | OProto => {
                if !msg.is_request() {
                    return Value::Null;
                }
                let ou = msg.ruri_bytes().to_vec();
                uri_value(ctx, &ou, |u| match self.0 {
                    OUser => u
                        .user()
                        .map_or(Value::Null, |s| Value::from_vec(s.to_vec())),
                    ODomain => host_value(u),
                    OPort => port_value(u),
                    _ => proto_of(u),
                })
            }
            Du => ctx.dst_uri.clone().map_or(Value::Null, Value::Str),
            DDomain | DPort | DProto => match ctx.dst_uri.clone() {
                None => Value::Null,
                Some(d) => uri_value(ctx, &d, |u| match self.0 {
                    DDomain => host_value(u),
                    DPort => port_value(u),
                    _ => proto_of(u),
                }),
            },
            Fu | FUser | FDomain | FName | FTag | Tu | TUser | TDomain | TName | TTag => {
                let from = matches!(self.0, Fu | FUser | FDomain | FName | FTag);
                let kind = if from {
                    HeaderKind::From
                } else {
                    HeaderKind::To
                };
                // Kamailio's To parser splits the value without checking the
                // URI (`<a@b>;tag=1` reads `a@b` and `1`); a value it refuses
                // reads null in every part
                let Some(l) = msg
                    .header(kind)
                    .and_then(siprd_sip::nameaddr::LooseNameAddr::split)
                else {
                    return Value::Null;
                };
                match self.0 {
                    Fu | Tu => bytes_of(ctx, l.uri),
                    FName | TName => opt(ctx, l.display),
                    FTag | TTag => opt(ctx, l.tag),
                    _ => {
                        let user = matches!(self.0, FUser | TUser);
                        // the cached full parse when it read the same URI
                        let na = if from { msg.from() } else { msg.to() };
                        if let Some(na) = na.ok().filter(|n| n.uri_bytes() == l.uri) {
                            return if user {
                                opt(ctx, na.uri().user())
                            } else {
                                bytes_of(ctx, na.uri().host())
                            };
                        }
                        match siprd_sip::uri::Uri::parse(l.uri) {
                            Ok(u) if user => opt(ctx, u.user()),
                            Ok(u) => bytes_of(ctx, u.host()),
                            Err(_) => Value::Null,
                        }
                    }
                }
            }
            // as written after the colon, trailing blanks kept (Kamailio)
            CallId => opt(
                ctx,
                msg.header_ref(HeaderKind::CallId)
                    .map(|h| msg.value_untrimmed(&h)),
            ),
            // the number as written, a string (Kamailio: `$cs + 1` appends),
            // also when it is no valid number (`abc`, `-1`, `4294967296`)
            CSeq => match msg.header(HeaderKind::CSeq) {
                Some(v) if !v.is_empty() => {
                    let n = v
                        .iter()
                        .position(|&c| c == b' ' || c == b'\t')
                        .unwrap_or(v.len());
                    bytes_of(ctx, &v[..n])
                }
                _ => Value::Null,
            },
            Method => {
                if msg.is_request() {
                    bytes_of(ctx, msg.method_bytes())
                } else {
                    match msg.cseq() {
                        Ok((_, m)) => Value::from_vec(m.as_bytes().to_vec()),
                        Err(_) => Value::Null,
                    }
                }
            }
            Status => msg
                .status()
                .map_or(Value::Null, |s| Value::Int(i32::from(s))),
            Reason => {
                if !msg.is_response() {
                    Value::Null
                } else {
                    bytes_of(ctx, msg.reason())
                }
            }
            Version => bytes_of(ctx, msg.version()),
            SrcIp => Value::from_string(ctx.rcv.src.ip().to_string()),
            SrcPort => Value::Int(i32::from(ctx.rcv.src.port())),
            // No receiving socket (an event's faked request): null, as Kamailio.
            RcvIp | RcvPort | RcvUri | RcvUriT if ctx.rcv.listener.is_none() => Value::Null,
            RcvIp => Value::from_string(ctx.rcv.local.ip().to_string()),
            RcvPort => Value::Int(i32::from(ctx.rcv.local.port())),
            AdvIp | AdvPort => {
                let adv = ctx
                    .rcv
                    .listener
                    .and_then(|id| ctx.rt.listeners().iter().find(|l| l.id == id).cloned())
                    .and_then(|l| l.advertise);
                match (self.0, adv) {
                    (AdvIp, Some(a)) => Value::from_string(a.host),
                    (AdvIp, None) => Value::from_string(ctx.rcv.local.ip().to_string()),
                    (_, Some(crate::transport::Advertise { port: Some(p), .. })) => {
                        Value::Int(i32::from(p))
                    }
                    _ => Value::Int(i32::from(ctx.rcv.local.port())),
                }
            }
            RcvName => ctx
                .rcv
                .listener
                .and_then(|id| ctx.rt.listeners().iter().find(|l| l.id == id).cloned())
                .and_then(|l| l.name)
                .map_or(Value::Null, Value::from_string),
            Proto => Value::from_static(ctx.rcv.proto.as_str()),
            MsgBuf => match ctx.event_data::<RawPacket>() {
                Some(raw) => Value::Str(raw.0.clone()),
                None => Value::Str(msg.buf().clone()),
            },
            MsgBufUpdated => {
                let mut edits = ctx.edits.clone();
                if let Some(uri) = &ctx.new_uri {
                    // a reply has no R-URI to replace
                    let _ = edits.set_ruri(msg, uri);
                }
                Value::from_vec(edits.apply_message(msg))
            }
            MsgHdrs | MsgHdrsLen => {
                let (a, mut b) = (msg.headers_start(), msg.headers_end());
                let buf = msg.buf();
                if b >= 2 && buf.get(b - 2..b) == Some(b"\r\n") {
                    b -= 2;
                } else if b >= 1 && buf.get(b - 1) == Some(&b'\n') {
                    b -= 1;
                }
                let b = b.max(a);
                if self.0 == MsgHdrsLen {
                    Value::Int((b - a) as i32)
                } else {
                    Value::Str(msg.slice(a..b))
                }
            }
            MsgFline => bytes_of(ctx, msg.first_line()),
            MsgHdrCount => Value::Int(msg.headers().count() as i32),
            MsgLen => match ctx.event_data::<RawPacket>() {
                Some(raw) => Value::Int(raw.0.len() as i32),
                None => Value::Int(msg.buf().len() as i32),
            },
            // all that follows the headers (a datagram's bytes past a short
            // Content-Length included, as Kamailio)
            BodySize if msg.header_lines() == 0 => Value::Int(0),
            BodySize => Value::Int(received_body(msg).len() as i32),
            // Data without any header line (nosip) has no body at all: null,
            // as Kamailio (a SIP message with an empty body reads "").
            // (the body is found past the last header: an unusable line hides it)
            Body if msg.header_lines() == 0 || msg.has_bad_header_line() => Value::Null,
            Body => bytes_of(ctx, received_body(msg)),
            UserAgent => opt(ctx, msg.header_by_name(b"User-Agent")),
            Contact => opt(ctx, msg.header_by_name(b"Contact")),
            ContentType => opt(ctx, msg.header_by_name(b"Content-Type")),
            ContentLength => match msg.header_by_name(b"Content-Length") {
                Some(v) => siprd_script::value::parse_int(trim(v)).map_or(Value::Null, Value::Int),
                None => Value::Null,
            },
            AssertedId | Diversion => {
                let name: &[u8] = if self.0 == AssertedId {
                    b"P-Asserted-Identity"
                } else {
                    b"Diversion"
                };
                match msg
                    .header_by_name(name)
                    .and_then(|v| siprd_sip::NameAddr::parse(v).ok())
                {
                    Some(na) => Value::from_vec(na.uri_bytes().to_vec()),
                    None => Value::Null,
                }
            }
            ForcedSocket => ctx.forced_socket.clone().map_or(Value::Null, Value::Str),
            ForcedSockPort => Value::Int(
                ctx.forced_socket
                    .as_deref()
                    .and_then(|s| s.rsplit(|&c| c == b':').next())
                    .and_then(|p| std::str::from_utf8(p).ok()?.parse::<u16>().ok())
                    .map_or(0, i32::from),
            ),
            DivReason | DivPrivacy | DivCounter => {
                let Some(na) = msg
                    .header_by_name(b"Diversion")
                    .and_then(|v| siprd_sip::NameAddr::parse(v).ok())
                else {
                    return Value::Null;
                };
                let name: &[u8] = match self.0 {
                    DivReason => b"reason",
                    DivPrivacy => b"privacy",
                    _ => b"counter",
                };
                match na.param(name).flatten() {
                    Some(v) => {
                        let v = match v {
                            [b'"', inner @ .., b'"'] => inner,
                            v => v,
                        };
                        Value::from_vec(v.to_vec())
                    }
                    None => Value::Null,
                }
            }
            StatusInt => Value::Int(msg.status().map_or(0, i32::from)),
            RcvSockStr if ctx.rcv.listener.is_none() => Value::Null,
            RcvSockStr => {
                let r = ctx.rcv;
                Value::from_string(format!(
                    "{}:{}:{}",
                    r.proto.as_str(),
                    ip_z(r.local.ip()),
                    r.local.port()
                ))
            }
            ProtoId => Value::Int(match ctx.rcv.proto {
                crate::transport::Proto::Udp => 1,
                crate::transport::Proto::Tcp => 2,
            }),
            MethodId => {
                use siprd_sip::Method;
                let method = if msg.is_request() {
                    Method::from_bytes(msg.method_bytes())
                } else {
                    match msg.cseq() {
                        Ok((_, m)) => m,
                        Err(_) => return Value::Null,
                    }
                };
                Value::Int(method_id(&method))
            }
            TimestampNow | TimestampMsg => Value::Int(now_secs()),
            TimeFormatted => {
                Value::from_string(strftime("%a %b %e %H:%M:%S %Y", i64::from(now_secs())))
            }
            Pid => Value::Int(std::process::id() as i32),
            // 0 for data whose start line did not parse (nosip), as Kamailio
            MsgType => Value::Int(if msg.is_request() {
                1
            } else if msg.is_response() {
                2
            } else {
                0
            }),
            MsgTypeStr => Value::from_static(if msg.is_request() { "rq" } else { "rp" }),
            SrcAddrStr => {
                let r = ctx.rcv;
                Value::from_string(format!(
                    "{}:{}:{}",
                    r.proto.as_str(),
                    ip_z(r.src.ip()),
                    r.src.port()
                ))
            }
            SrcUri | SrcUriT => {
                let r = ctx.rcv;
                Value::from_string(sock_uri(r.src, r.proto, self.0 == SrcUriT))
            }
            SrcIpZ => Value::from_string(ip_z(ctx.rcv.src.ip())),
            RcvUri | RcvUriT => {
                let r = ctx.rcv;
                Value::from_string(sock_uri(r.local, r.proto, self.0 == RcvUriT))
            }
            RUserLen | OUserLen => {
                if !msg.is_request() {
                    return Value::Null;
                }
                let u = if self.0 == RUserLen {
                    ctx.ruri()
                } else {
                    msg.ruri_bytes()
                };
                match parse_known(u) {
                    Some(u) => Value::Int(u.user().map_or(0, |x| x.len() as i32)),
                    None => Value::Null,
                }
            }
            FUserLen | TUserLen => {
                let na = if self.0 == FUserLen {
                    msg.from()
                } else {
                    msg.to()
                };
                match na {
                    Ok(na) => Value::Int(na.uri().user().map_or(0, |x| x.len() as i32)),
                    Err(_) => Value::Null,
                }
            }
            // unsigned, as Kamailio prints it (flag 31 does not make it negative)
            MsgFlags => flags_value(ctx.flags as u32),
            MsgFlagsHex => Value::from_string(format!("{:08x}", ctx.flags as u32)),
            SFlags => flags_value(ctx.sflags),
            SFlagsHex => Value::from_string(format!("{:08x}", ctx.sflags)),
            BFlags => flags_value(ctx.ruri_bflags),
            BFlagsHex => Value::from_string(format!("{:08x}", ctx.ruri_bflags)),
            AcctUser | AcctUserU => {
                let Ok(na) = msg.from() else {
                    return Value::Null;
                };
                let u = na.uri();
                let user = u.user().unwrap_or_default();
                if self.0 == AcctUserU {
                    return Value::from_vec(user.to_vec());
                }
                let mut out = user.to_vec();
                out.push(b'@');
                out.extend_from_slice(u.host());
                Value::from_vec(out)
            }
            PpiUri | PpiUser | PpiDomain | PpiName | RpidUri | ReferTo => {
                let name: &[u8] = match self.0 {
                    RpidUri => b"Remote-Party-ID",
                    ReferTo => b"Refer-To",
                    _ => b"P-Preferred-Identity",
                };
                let Some(na) = msg
                    .header_by_name(name)
                    .and_then(|v| siprd_sip::NameAddr::parse(v).ok())
                else {
                    return Value::Null;
                };
                match self.0 {
                    PpiUser => na
                        .uri()
                        .user()
                        .map_or(Value::Null, |x| Value::from_vec(x.to_vec())),
                    PpiDomain => Value::from_vec(na.uri().host().to_vec()),
                    PpiName => na
                        .display_name()
                        .map_or(Value::Null, |x| Value::from_vec(x.to_vec())),
                    _ => Value::from_vec(na.uri_bytes().to_vec()),
                }
            }
            ServerId => Value::Int(ctx.rt.settings.server_id),
            CSeqBody => opt(ctx, msg.header(HeaderKind::CSeq)),
            MsgId => Value::Int(ctx.msg_no as i32),
            // the TCP connection's id (counted from 1, as Kamailio); null
            // over UDP (where Kamailio 5.6.3 crashes)
            ConId => match ctx.rcv.conn {
                Some(c) if !ctx.faked => Value::Int(c.0 as i32),
                _ => Value::Null,
            },
            AuthUri | AuthRealm | AuthUsername | AuthUser | AuthDomain | AuthAlgo | AuthNonce
            | AuthCnonce | AuthResponse | AuthOpaque => {
                let Some(h) = msg
                    .header_by_name(b"Proxy-Authorization")
                    .or_else(|| msg.header_by_name(b"Authorization"))
                else {
                    return Value::Null;
                };
                let want: &[u8] = match self.0 {
                    AuthUri => b"uri",
                    AuthRealm => b"realm",
                    AuthAlgo => b"algorithm",
                    AuthNonce => b"nonce",
                    AuthCnonce => b"cnonce",
                    AuthResponse => b"response",
                    AuthOpaque => b"opaque",
                    _ => b"username",
                };
                let Some(v) = digest_param(h, want) else {
                    // Kamailio: empty when the credentials lack an optional
                    // parameter (observed)
                    return if matches!(
                        self.0,
                        AuthAlgo | AuthNonce | AuthCnonce | AuthResponse | AuthOpaque
                    ) {
                        Value::from_static("")
                    } else {
                        Value::Null
                    };
                };
                let at = memchr::memchr(b'@', v);
                let out = match (self.0, at) {
                    (AuthUser, Some(i)) => &v[..i],
                    (AuthDomain, Some(i)) => &v[i + 1..],
                    (AuthDomain, None) => &[][..],
                    _ => v,
                };
                Value::from_vec(out.to_vec())
            }
        }
    }
}

/// Kamailio's method bits (`$rmid`), by name: the HTTP ones and KDMQ that
/// siprd does not name come from the method's text.
fn method_id(m: &siprd_sip::Method) -> i32 {
    use siprd_sip::Method::*;
    match m {
        Invite => 1,
        Cancel => 2,
        Ack => 4,
        Bye => 8,
        Info => 16,
        Register => 32,
        Subscribe => 64,
        Notify => 128,
        Message => 256,
        Options => 512,
        Prack => 1024,
        Update => 2048,
        Refer => 4096,
        Publish => 8192,
        Other(b) => match &b[..] {
            b"KDMQ" => 16384,
            b"GET" => 32768,
            b"POST" => 65536,
            b"PUT" => 131072,
            b"DELETE" => 262144,
            _ => 524288,
        },
    }
}

/// One parameter of a `Digest a="x", b=y` credentials value, unquoted.
fn digest_param<'a>(h: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let h = h.trim_ascii();
    let sp = h.iter().position(|b| b.is_ascii_whitespace())?;
    if !h[..sp].eq_ignore_ascii_case(b"Digest") {
        return None;
    }
    let mut rest = &h[sp..];
    loop {
        rest = rest.trim_ascii_start();
        let eq = memchr::memchr(b'=', rest)?;
        let n = rest[..eq].trim_ascii();
        rest = rest[eq + 1..].trim_ascii_start();
        let (v, after) = if rest.first() == Some(&b'"') {
            let close = memchr::memchr(b'"', &rest[1..])? + 1;
            (&rest[1..close], &rest[close + 1..])
        } else {
            let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
            (rest[..end].trim_ascii(), &rest[end..])
        };
        if n.eq_ignore_ascii_case(name) {
            return Some(v);
        }
        let comma = memchr::memchr(b',', after)?;
        rest = &after[comma + 1..];
    }
}

/// An IP as Kamailio writes it in addresses: IPv6 in brackets.
fn ip_z(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(a) => a.to_string(),
        std::net::IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// `sip:ip:port`, with `;transport=` when asked or past UDP.
fn sock_uri(a: std::net::SocketAddr, proto: crate::transport::Proto, always: bool) -> String {
    let mut u = format!("sip:{}:{}", ip_z(a.ip()), a.port());
    if always || proto != crate::transport::Proto::Udp {
        u.push_str(";transport=");
        u.push_str(proto.as_str());
    }
    u
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// 32 flag bits as Kamailio prints them: unsigned (bit 31 does not make a
/// negative number; past `i32::MAX` the value is the decimal text).
fn flags_value(f: u32) -> Value {
    match i32::try_from(f) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::from_string(f.to_string()),
    }
}

/// Replace one part of a URI, keeping the rest as written. Offsets come
/// from the parser's ranges; every slice is checked.
fn set_uri_part(uri: &[u8], field: Field, value: &[u8]) -> Option<Vec<u8>> {
    let u = Uri::parse(uri).ok()?;
    let host = u.host_range();
    let (prefix, suffix): (&[u8], &[u8]) = match field {
        Field::RUser => match u.user_range() {
            // An empty user takes its `@` with it (`$rU = $null`, as Kamailio).
            Some(r) if value.is_empty() && uri.get(r.end) == Some(&b'@') => {
                (uri.get(..r.start)?, uri.get(r.end + 1..)?)
            }
            Some(r) => (uri.get(..r.start)?, uri.get(r.end..)?),
            None => {
                // No user yet: insert `value@` before the host.
                let mut out = uri.get(..host.start)?.to_vec();
                if !value.is_empty() {
                    out.extend_from_slice(value);
                    out.push(b'@');
                }
                out.extend_from_slice(uri.get(host.start..)?);
                return Some(out);
            }
        },
        Field::RDomain => (uri.get(..host.start)?, uri.get(host.end..)?),
        Field::RPort => {
            let mut rest = uri.get(host.end..)?;
            if rest.first() == Some(&b':') {
                let digits = rest
                    .iter()
                    .skip(1)
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                rest = rest.get(1 + digits..)?;
            }
            let mut out = uri.get(..host.end)?.to_vec();
            if !value.is_empty() {
                out.push(b':');
                out.extend_from_slice(value);
            }
            out.extend_from_slice(rest);
            return Some(out);
        }
        _ => return None,
    };
    let mut out = Vec::with_capacity(uri.len() + value.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(value);
    out.extend_from_slice(suffix);
    Some(out)
}

impl PvImpl<Ctx> for Simple {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        self.read(ctx)
    }

    /// Kamailio's PVs that carry a number beside their text.
    fn get_int(&self, ctx: &mut Ctx, _idx: PvIndex) -> i32 {
        match self.0 {
            Field::Method => Simple(Field::MethodId).read(ctx).to_int(),
            Field::Proto => Simple(Field::ProtoId).read(ctx).to_int(),
            Field::RProto | Field::OProto | Field::DProto => {
                super::more::proto_id(&self.read(ctx).to_bytes())
            }
            Field::RScheme => {
                let scheme = self.read(ctx).to_bytes();
                let known: [&[u8]; 5] = [b"sip", b"sips", b"tel", b"tels", b"urn"];
                known
                    .iter()
                    .position(|k| scheme.eq_ignore_ascii_case(k))
                    .map_or(0, |i| i as i32 + 1)
            }
            _ => self.read(ctx).to_int(),
        }
    }

    fn set(&self, ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        if matches!(
            self.0,
            Field::Ru | Field::Du | Field::RUser | Field::RDomain | Field::RPort
        ) {
            ctx.uri_marks = ctx.uri_marks.wrapping_add(1);
        }
        match self.0 {
            Field::Ru => {
                ctx.new_uri = match v {
                    Value::Null => None,
                    v => Some(v.to_bytes()),
                };
                Ok(())
            }
            Field::Du => {
                ctx.dst_uri = match v {
                    Value::Null => None,
                    v => Some(v.to_bytes()),
                };
                Ok(())
            }
            Field::ForcedSocket => {
                // Kamailio keeps the socket (printed `udp:ip:port`); no
                // listener matching leaves none.
                ctx.forced_socket = match v {
                    Value::Null => None,
                    v => crate::forward::socket_name(ctx, &v.to_bytes()),
                };
                Ok(())
            }
            Field::RUser | Field::RDomain | Field::RPort => {
                let value = match v {
                    Value::Null => Bytes::new(),
                    v => v.to_bytes(),
                };
                let current = ctx.ruri().to_vec();
                match set_uri_part(&current, self.0, &value) {
                    Some(new) => {
                        ctx.new_uri = Some(Bytes::from(new));
                        Ok(())
                    }
                    None => Err(PvError::BadValue("the R-URI cannot be parsed".into())),
                }
            }
            Field::SFlags | Field::SFlagsHex | Field::BFlags | Field::BFlagsHex => {
                // Kamailio takes only an integer here (a string is an error).
                let Value::Int(i) = v else {
                    return Err(PvError::BadValue("flags need an integer value".into()));
                };
                if matches!(self.0, Field::SFlags | Field::SFlagsHex) {
                    ctx.sflags = i as u32;
                } else {
                    ctx.ruri_bflags = i as u32;
                }
                Ok(())
            }
            _ => Err(PvError::ReadOnly),
        }
    }

    fn writable(&self) -> bool {
        matches!(
            self.0,
            Field::SFlags
                | Field::SFlagsHex
                | Field::BFlags
                | Field::BFlagsHex
                | Field::Ru
                | Field::Du
                | Field::RUser
                | Field::RDomain
                | Field::RPort
                | Field::ForcedSocket
        )
    }
}

/// `$hdr(Name)` and `$hdrc(Name)`.
struct Header {
    name: Box<[u8]>,
    count: bool,
}

/// A header name given to `$hdr`/`$hdrc`/`$hfl`/`$hflc`: the name, or a PV
/// whose value is the name (`$hdr($var(h))`, as Kamailio).
enum HdrName {
    Static(Box<[u8]>),
    Dynamic(siprd_script::pv::PvSpec<Ctx>),
}

impl HdrName {
    fn parse(fx: &mut FixupCtx<'_, Ctx>, class: &str, inner: Option<&str>) -> Result<Self, String> {
        let header = inner
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| format!("`${class}` needs a header name: ${class}(Name)"))?;
        if header.starts_with('$') {
            let (spec, n) = siprd_script::pv::parse_pv(fx, header)?;
            if n != header.len() {
                return Err(format!(
                    "`${class}({header})`: a header name PV must stand alone"
                ));
            }
            return Ok(HdrName::Dynamic(spec));
        }
        Ok(HdrName::Static(header.as_bytes().into()))
    }

    /// The name to look up; None when a PV name is null or empty.
    fn resolve(&self, ctx: &mut Ctx) -> Option<Box<[u8]>> {
        match self {
            HdrName::Static(n) => Some(n.clone()),
            HdrName::Dynamic(pv) => match pv.try_get(ctx) {
                Some(Value::Str(s)) if !s.is_empty() => Some(s.as_ref().into()),
                Some(Value::Int(i)) => Some(i.to_string().into_bytes().into()),
                _ => None,
            },
        }
    }
}

/// `$hdr`/`$hdrc` with a PV as the header name.
struct DynHeader {
    name: HdrName,
    count: bool,
}

impl PvImpl<Ctx> for DynHeader {
    fn accepts_index(&self) -> bool {
        !self.count
    }
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        match self.name.resolve(ctx) {
            Some(name) => Header {
                name,
                count: self.count,
            }
            .get(ctx, idx),
            None if self.count => Value::Int(0),
            None => Value::Null,
        }
    }
}

impl PvImpl<Ctx> for Header {
    /// `$(hdr(X)[n])`, not `$(hdrc(X)[n])` (as Kamailio)
    fn accepts_index(&self) -> bool {
        !self.count
    }
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        let msg = &ctx.msg;
        // Kamailio reads every header first: an unusable header line
        // anywhere leaves $hdr null and $hdrc 0
        if msg.has_bad_header_line() {
            return if self.count {
                Value::Int(0)
            } else {
                Value::Null
            };
        }
        if self.count {
            return Value::Int(msg.header_count(&self.name) as i32);
        }
        match idx {
            // trailing blanks are part of the value, as Kamailio
            PvIndex::None => opt(ctx, msg.header_by_name_untrimmed(&self.name)),
            PvIndex::At(i) => {
                let values: smallvec::SmallVec<[&[u8]; 8]> = msg
                    .headers_named(&self.name)
                    .map(|h| msg.value_untrimmed(&h))
                    .collect();
                let n = values.len() as i32;
                let pos = if i < 0 { n + i } else { i };
                if pos < 0 || pos >= n {
                    return Value::Null;
                }
                bytes_of(ctx, values[pos as usize])
            }
            PvIndex::All => {
                let mut out = Vec::new();
                for (i, v) in msg
                    .headers_named(&self.name)
                    .map(|h| msg.value_untrimmed(&h))
                    .enumerate()
                {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(v);
                }
                if out.is_empty() {
                    Value::Null
                } else {
                    Value::from_vec(out)
                }
            }
        }
    }
}

/// `$nh(u|U|d|p|P)`: the next hop, `$du` when set, else the R-URI: the URI,
/// its user (null when none), host, port (5060 by default) and transport as
/// written (`UDP` by default), as Kamailio.
struct NextHop(u8);

impl PvImpl<Ctx> for NextHop {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        use Field::*;
        let du = ctx.dst_uri.is_some();
        let field = match (self.0, du) {
            (b'u', true) => Du,
            (b'u', false) => Ru,
            (b'd', true) => DDomain,
            (b'd', false) => RDomain,
            (b'p', true) => DPort,
            (b'p', false) => RPort,
            (b'P', true) => DProto,
            (b'P', false) => RProto,
            (_, false) => RUser,
            (_, true) => {
                let d = ctx.dst_uri.clone().unwrap_or_default();
                return uri_value(ctx, &d, |u| {
                    u.user()
                        .map_or(Value::Null, |s| Value::from_vec(s.to_vec()))
                });
            }
        };
        Simple(field).get(ctx, idx)
    }
}

/// `$TV(s|u|sn|un|Sn)`: the time of day, seconds or its microseconds, and
/// `Sn` the two as `sec.usec` text (`Sn` with six digits).
struct TimeVal(u8);

impl PvImpl<Ctx> for TimeVal {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs() as i32;
        let usec = now.subsec_micros() as i32;
        match self.0 {
            b's' => Value::Int(secs),
            b'u' => Value::Int(usec),
            _ => Value::from_string(format!("{secs}.{usec:06}")),
        }
    }
}

/// The headers whose comma-separated bodies `$hfl`/`$hflc` count one by one.
#[derive(Clone, Copy, PartialEq)]
enum HflKind {
    Via,
    Route,
    Contact,
    /// Any other header: as `$hdr`/`$hdrc`.
    Other,
}

/// `$hfl(name)` and `$hflc(name)` (Kamailio 5.6, observed): for Via,
/// Record-Route, Route and Contact each comma-separated body is one item,
/// in message order except that the bodies of one Contact header come last
/// first; a Via body keeps the blanks and the comma that separate it from
/// the next one in the same header; `Contact: *` has none. A negative index
/// counts from one past the end (`-1` is null, `-2` the last body); `[*]`
/// joins the header values as `$hdr` does. Other headers read as `$hdr`.
struct HeaderList {
    name: HdrName,
    count: bool,
}

impl HflKind {
    fn of(name: &[u8]) -> HflKind {
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        if is(b"via") || is(b"v") {
            HflKind::Via
        } else if is(b"record-route") || is(b"route") {
            HflKind::Route
        } else if is(b"contact") || is(b"m") {
            HflKind::Contact
        } else {
            HflKind::Other
        }
    }
}

fn hfl_bodies<'m>(
    msg: &'m siprd_sip::Message,
    name: &[u8],
    kind: HflKind,
) -> smallvec::SmallVec<[&'m [u8]; 8]> {
    let mut out: smallvec::SmallVec<[&'m [u8]; 8]> = smallvec::SmallVec::new();
    {
        for h in msg.headers_named(name) {
            let v = msg.value_untrimmed(&h);
            let first = out.len();
            let mut split = siprd_sip::scan::CommaSplit::new(v);
            while let Some((a, b)) = split.next_range() {
                if b <= a {
                    continue;
                }
                let item = match (kind, split.last_separator()) {
                    (HflKind::Via, Some(sep)) => v.get(a..=sep),
                    _ => v.get(a..b),
                };
                let Some(item) = item else { continue };
                if kind == HflKind::Contact && item == b"*" {
                    continue;
                }
                out.push(item);
            }
            if kind == HflKind::Contact {
                out[first..].reverse();
            }
        }
    }
    out
}

impl PvImpl<Ctx> for HeaderList {
    fn accepts_index(&self) -> bool {
        !self.count
    }
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        let Some(name) = self.name.resolve(ctx) else {
            return if self.count {
                Value::Int(0)
            } else {
                Value::Null
            };
        };
        let kind = HflKind::of(&name);
        if kind == HflKind::Other
            || (idx == PvIndex::All && !self.count)
            || ctx.msg.has_bad_header_line()
        {
            let h = Header {
                name,
                count: self.count,
            };
            return h.get(ctx, idx);
        }
        let bodies = hfl_bodies(&ctx.msg, &name, kind);
        let n = bodies.len() as i32;
        if self.count {
            return Value::Int(n);
        }
        let pos = match idx {
            PvIndex::At(i) if i < 0 => n + i + 1,
            PvIndex::At(i) => i,
            _ => 0,
        };
        if pos < 0 || pos >= n {
            return Value::Null;
        }
        bytes_of(ctx, bodies[pos as usize])
    }
}

/// `$time(sec|min|hour|mday|mon|year|wday|yday|isdst)` and `$timef(format)`,
/// and their UTC forms `$utime` and `$utimef`.
struct Time {
    part: Option<u8>,
    format: String,
    utc: bool,
}

impl PvImpl<Ctx> for Time {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let now = i64::from(now_secs());
        match self.part {
            None => {
                let out =
                    siprd_script::transform::strftime_in(self.format.as_bytes(), now, self.utc)
                        .unwrap_or_default();
                Value::from_vec(out)
            }
            Some(p) => {
                let Some(tm) = siprd_script::transform::broken_down(now, self.utc) else {
                    return Value::Null;
                };
                Value::Int(match p {
                    0 => tm.tm_sec,
                    1 => tm.tm_min,
                    2 => tm.tm_hour,
                    3 => tm.tm_mday,
                    4 => tm.tm_mon + 1,
                    5 => tm.tm_year + 1900,
                    6 => tm.tm_wday + 1,
                    7 => tm.tm_yday + 1,
                    _ => tm.tm_isdst,
                })
            }
        }
    }
}

/// `$rcv(name)`: the raw received packet in `event_route[core:msg-received]`.
#[derive(Clone, Copy)]
enum Rcv {
    Buf,
    Len,
    SrcIp,
    SrcPort,
    LocalIp,
    LocalPort,
    Proto,
    SProto,
    Af,
}

impl PvImpl<Ctx> for Rcv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        // Only core:msg-received has it (null elsewhere, as Kamailio).
        let Some(ev) = ctx.event_data::<RcvEvent>() else {
            return Value::Null;
        };
        let r = ev.rcv;
        match self {
            Rcv::Buf => Value::Str(ev.data.clone()),
            Rcv::Len => Value::Int(ev.data.len() as i32),
            Rcv::SrcIp => Value::from_string(r.src.ip().to_string()),
            Rcv::SrcPort => Value::Int(i32::from(r.src.port())),
            Rcv::LocalIp => Value::from_string(r.local.ip().to_string()),
            Rcv::LocalPort => Value::Int(i32::from(r.local.port())),
            // Kamailio's numbers: proto 1 UDP, 2 TCP; af 2 IPv4, 10 IPv6
            Rcv::Proto => Value::Int(match r.proto {
                crate::transport::Proto::Udp => 1,
                crate::transport::Proto::Tcp => 2,
            }),
            Rcv::SProto => Value::from_static(r.proto.as_str()),
            Rcv::Af => Value::Int(if r.src.is_ipv4() { 2 } else { 10 }),
        }
    }
}

/// The `af` core keyword and `$af(id)`: the received message's address
/// family (2 or 10); `$af(name)`: `IPv4` or `IPv6`.
struct RcvAf {
    name: bool,
}

impl PvImpl<Ctx> for RcvAf {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let v4 = ctx.rcv.src.is_ipv4();
        match (self.name, v4) {
            (false, true) => Value::Int(2),
            (false, false) => Value::Int(10),
            (true, true) => Value::Str(bytes::Bytes::from_static(b"IPv4")),
            (true, false) => Value::Str(bytes::Bytes::from_static(b"IPv6")),
        }
    }
}

/// `$snd(name)` / `$sndto(name)` (the destination) and `$sndfrom(name)` (the
/// local socket) of the message being sent: set only while onsend_route runs.
#[derive(Clone, Copy)]
struct Snd {
    from: bool,
    field: SndField,
}

#[derive(Clone, Copy)]
enum SndField {
    Ip,
    Af,
    Port,
    Proto,
    SProto,
    Buf,
    Len,
}

impl PvImpl<Ctx> for Snd {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let Some(snd) = &ctx.snd else {
            return Value::Null;
        };
        let addr = if self.from { snd.from } else { snd.to };
        match self.field {
            SndField::Ip => Value::from_string(addr.ip().to_string()),
            SndField::Af => Value::Int(if addr.is_ipv4() { 2 } else { 10 }),
            SndField::Port => Value::Int(i32::from(addr.port())),
            SndField::Proto => Value::Int(match snd.proto {
                crate::transport::Proto::Udp => 1,
                crate::transport::Proto::Tcp => 2,
            }),
            SndField::SProto => Value::from_static(snd.proto.as_str()),
            SndField::Buf => Value::Str(match &snd.buf {
                crate::onsend::OutBuf::Shared(b) => b.clone(),
                crate::onsend::OutBuf::Owned(v) => Bytes::copy_from_slice(v),
            }),
            SndField::Len => Value::Int(snd.buf.as_slice().len() as i32),
        }
    }
}

fn snd_class(reg: &mut Registry<Ctx>, name: &'static str, from: bool) {
    reg.add_pv(PvClassDef {
        name,
        module: "pv",
        parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            // Kamailio's names are exact (case-sensitive, no spaces).
            let field = match inner {
                Some("ip") => SndField::Ip,
                Some("af") => SndField::Af,
                Some("port") => SndField::Port,
                Some("proto") => SndField::Proto,
                Some("sproto") => SndField::SProto,
                Some("buf") => SndField::Buf,
                Some("len") => SndField::Len,
                other => {
                    return Err(format!(
                        "unknown ${name} field `{}` (ip, af, port, proto, sproto, buf, len)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(Snd { from, field }) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}

/// `$Mf(n)`, `$Sf(n)`, `$Bf(n)`: one message, script or branch-0 flag, 1 or
/// 0; an int assignment sets (non-zero) or resets it, `$null` resets, text
/// is refused (as Kamailio).
struct OneFlag {
    kind: u8,
    bit: u32,
}

impl PvImpl<Ctx> for OneFlag {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let set = match self.kind {
            b'M' => ctx.flags & (1u64 << self.bit) != 0,
            b'S' => ctx.sflags & (1u32 << self.bit) != 0,
            _ => ctx.ruri_bflags & (1u32 << self.bit) != 0,
        };
        Value::Int(i32::from(set))
    }

    fn set(&self, ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        let on = match v {
            Value::Null => false,
            Value::Int(n) => n != 0,
            _ => {
                return Err(PvError::BadValue(format!(
                    "`${}f` takes an int (1 sets the flag, 0 resets it)",
                    self.kind as char
                )))
            }
        };
        match self.kind {
            b'M' if on => ctx.flags |= 1u64 << self.bit,
            b'M' => ctx.flags &= !(1u64 << self.bit),
            b'S' if on => ctx.sflags |= 1u32 << self.bit,
            b'S' => ctx.sflags &= !(1u32 << self.bit),
            _ if on => ctx.ruri_bflags |= 1u32 << self.bit,
            _ => ctx.ruri_bflags &= !(1u32 << self.bit),
        }
        Ok(())
    }

    fn writable(&self) -> bool {
        true
    }
}

/// A value fixed at load: `$env(NAME)` (read once, like Kamailio), `$K(..)`.
struct Const(Value);

impl PvImpl<Ctx> for Const {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        self.0.clone()
    }
}

fn no_inner(name: &str, inner: Option<&str>) -> Result<(), String> {
    match inner {
        None => Ok(()),
        Some(_) => Err(format!("`${name}` takes no name in parentheses")),
    }
}

/// Register the message PVs.
pub fn register(reg: &mut Registry<Ctx>) {
    use Field::*;
    let simple: &[(&'static str, Field)] = &[
        ("ru", Ru),
        ("ruri", Ru),
        ("rU", RUser),
        ("ruri.user", RUser),
        ("rd", RDomain),
        ("ruri.domain", RDomain),
        ("rp", RPort),
        ("rP", RProto),
        ("rz", RScheme),
        ("ou", OUri),
        ("ouri", OUri),
        ("oU", OUser),
        ("od", ODomain),
        ("op", OPort),
        ("oP", OProto),
        ("du", Du),
        ("duri", Du),
        ("dd", DDomain),
        ("dp", DPort),
        ("dP", DProto),
        ("fu", Fu),
        ("from", Fu),
        ("fU", FUser),
        ("fd", FDomain),
        ("fn", FName),
        ("ft", FTag),
        ("tu", Tu),
        ("to", Tu),
        ("tU", TUser),
        ("td", TDomain),
        ("tn", TName),
        ("tt", TTag),
        ("ci", CallId),
        ("cs", CSeq),
        ("rm", Method),
        ("rs", Status),
        ("rr", Reason),
        ("rv", Version),
        ("si", SrcIp),
        ("src_ip", SrcIp),
        ("sp", SrcPort),
        ("Ri", RcvIp),
        ("Rp", RcvPort),
        ("Rn", RcvName),
        ("pr", Proto),
        ("proto", Proto),
        ("mb", MsgBuf),
        ("mbu", MsgBufUpdated),
        ("ml", MsgLen),
        ("bs", BodySize),
        ("rb", Body),
        ("ua", UserAgent),
        ("ct", Contact),
        ("cT", ContentType),
        ("cl", ContentLength),
        ("ai", AssertedId),
        ("di", Diversion),
        ("fs", ForcedSocket),
        ("Ts", TimestampMsg),
        ("TS", TimestampNow),
        ("Tf", TimeFormatted),
        ("pp", Pid),
        ("mt", MsgType),
        ("mts", MsgTypeStr),
        ("sas", SrcAddrStr),
        ("su", SrcUri),
        ("sut", SrcUriT),
        ("siz", SrcIpZ),
        ("RAi", AdvIp),
        ("RAp", AdvPort),
        ("Ru", RcvUri),
        ("RAu", RcvUri),
        ("Rut", RcvUriT),
        ("RAut", RcvUriT),
        ("rUl", RUserLen),
        ("fUl", FUserLen),
        ("tUl", TUserLen),
        ("oUl", OUserLen),
        ("mf", MsgFlags),
        ("mF", MsgFlagsHex),
        ("sf", SFlags),
        ("sF", SFlagsHex),
        ("bf", BFlags),
        ("bF", BFlagsHex),
        ("Au", AcctUser),
        ("AU", AcctUserU),
        ("pu", PpiUri),
        ("pU", PpiUser),
        ("pd", PpiDomain),
        ("pn", PpiName),
        ("re", RpidUri),
        ("rt", ReferTo),
        ("sid", ServerId),
        ("adu", AuthUri),
        ("ar", AuthRealm),
        ("aU", AuthUsername),
        ("au", AuthUser),
        ("ad", AuthDomain),
        ("aa", AuthAlgo),
        ("adn", AuthNonce),
        ("adc", AuthCnonce),
        ("adr", AuthResponse),
        ("ado", AuthOpaque),
        ("dir", DivReason),
        ("dip", DivPrivacy),
        ("dic", DivCounter),
        ("rsi", StatusInt),
        ("Ras", RcvSockStr),
        ("prid", ProtoId),
        ("rmid", MethodId),
        ("fsp", ForcedSockPort),
        ("from.user", FUser),
        ("from.domain", FDomain),
        ("to.user", TUser),
        ("to.domain", TDomain),
        ("csb", CSeqBody),
        ("mi", MsgId),
        ("conid", ConId),
    ];
    for (name, field) in simple {
        let field = *field;
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                no_inner(name, inner)?;
                Ok(Box::new(Simple(field)) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    for (name, count) in [("hdr", false), ("hdrc", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                Ok(match HdrName::parse(fx, name, inner)? {
                    HdrName::Static(name) => {
                        Box::new(Header { name, count }) as Box<dyn PvImpl<Ctx>>
                    }
                    name @ HdrName::Dynamic(_) => Box::new(DynHeader { name, count }),
                })
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "nh",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let k = match inner.map(str::trim) {
                Some("u") => b'u',
                Some("U") => b'U',
                Some("d") => b'd',
                Some("p") => b'p',
                Some("P") => b'P',
                other => {
                    return Err(format!(
                        "unknown $nh key `{}` (u, U, d, p, P)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(NextHop(k)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "TV",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let k = match inner.map(str::trim) {
                Some("s") | Some("sn") => b's',
                Some("u") | Some("un") => b'u',
                Some("Sn") => b'S',
                other => {
                    return Err(format!(
                        "unknown $TV key `{}` (s, u, sn, un, Sn)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(TimeVal(k)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    for (name, count) in [("hfl", false), ("hflc", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let name = HdrName::parse(fx, name, inner)?;
                Ok(Box::new(HeaderList { name, count }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    for (name, utc) in [("time", false), ("utime", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let part = match inner.map(str::trim) {
                    Some("sec") => 0,
                    Some("min") => 1,
                    Some("hour") => 2,
                    Some("mday") => 3,
                    Some("mon") => 4,
                    Some("year") => 5,
                    Some("wday") => 6,
                    Some("yday") => 7,
                    Some("isdst") => 8,
                    other => {
                        return Err(format!(
                        "unknown ${name} field `{}` (sec, min, hour, mday, mon, year, wday, yday, isdst)",
                        other.unwrap_or_default()
                    ))
                    }
                };
                Ok(Box::new(Time {
                    part: Some(part),
                    format: String::new(),
                    utc,
                }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    for (name, utc) in [("timef", false), ("utimef", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let format = inner
                    .ok_or_else(|| format!("`${name}` needs a strftime format: ${name}(%Y-%m-%d)"))?
                    .to_string();
                Ok(Box::new(Time {
                    part: None,
                    format,
                    utc,
                }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "rcv",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            // names are exact: no blanks, as Kamailio
            let which = match inner {
                Some("buf") => Rcv::Buf,
                Some("len") => Rcv::Len,
                Some("srcip") => Rcv::SrcIp,
                Some("srcport") => Rcv::SrcPort,
                Some("rcvip") => Rcv::LocalIp,
                Some("rcvport") => Rcv::LocalPort,
                Some("proto") => Rcv::Proto,
                Some("sproto") => Rcv::SProto,
                Some("af") => Rcv::Af,
                other => return Err(format!("unknown $rcv field `{}` (buf, len, srcip, srcport, rcvip, rcvport, proto, sproto, af)", other.unwrap_or_default())),
            };
            Ok(Box::new(which) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    // The address family of the received message, read by the core keyword
    // `af` (`af == INET`): 2 or 10, as Kamailio's numbers.
    reg.add_pv(PvClassDef {
        name: "_af",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, _inner: Option<&str>| {
            Ok(Box::new(RcvAf { name: false }) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "af",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let name = match inner {
                Some("id") => false,
                Some("name") => true,
                _ => return Err("`$af` needs `id` or `name`: $af(id), $af(name)".into()),
            };
            Ok(Box::new(RcvAf { name }) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    // `$true`: always 1 (Kamailio 5.6 has no `$false`)
    reg.add_pv(PvClassDef {
        name: "true",
        module: "pv",
        parse: Arc::new(
            |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| match inner {
                None => Ok(Box::new(Const(Value::Int(1))) as Box<dyn PvImpl<Ctx>>),
                Some(_) => Err("`$true` takes no name".into()),
            },
        ),
    });
    snd_class(reg, "snd", false);
    snd_class(reg, "sndto", false);
    snd_class(reg, "sndfrom", true);
    reg.add_pv(PvClassDef {
        name: "K",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            // Kamailio's address-family and protocol numbers.
            let v = match inner.map(str::trim) {
                Some("IPv4") => 2,
                Some("IPv6") => 10,
                Some("UDP") => 1,
                Some("TCP") => 2,
                Some("TLS") => 3,
                Some("SCTP") => 4,
                Some("WS") => 5,
                Some("WSS") => 6,
                other => {
                    return Err(format!(
                        "unknown $K key `{}` (IPv4, IPv6, UDP, TCP, TLS, SCTP, WS, WSS)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(Const(Value::Int(v))) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "msg",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let f = match inner.map(str::trim) {
                Some("buf") => MsgBuf,
                Some("len") => MsgLen,
                Some("body") => Body,
                Some("body_len") => BodySize,
                Some("hdrs") => MsgHdrs,
                Some("hdrs_len") => MsgHdrsLen,
                Some("fline") => MsgFline,
                Some("hdrc") => MsgHdrCount,
                other => {
                    return Err(format!(
                    "unknown $msg key `{}` (buf, len, body, body_len, hdrs, hdrs_len, fline, hdrc)",
                    other.unwrap_or_default()
                ))
                }
            };
            Ok(Box::new(Simple(f)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    for (name, kind) in [("Mf", b'M'), ("Sf", b'S'), ("Bf", b'B')] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let bit = inner
                    .map(str::trim)
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n < 32)
                    .ok_or_else(|| {
                        format!(
                            "`${name}` needs a flag number from 0 to 31: ${name}(3), not `{}`",
                            inner.unwrap_or_default()
                        )
                    })?;
                Ok(Box::new(OneFlag { kind, bit }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "env",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let name = inner.ok_or("`$env` needs a variable name: $env(NAME)")?;
            let v = std::env::var_os(name)
                .map_or(Value::Null, |v| Value::from_vec(v.into_encoded_bytes()));
            Ok(Box::new(Const(v)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_parts_are_replaced_in_place() {
        assert_eq!(
            set_uri_part(b"sip:alice@a.com;x=1", Field::RUser, b"bob").unwrap(),
            b"sip:bob@a.com;x=1"
        );
        assert_eq!(
            set_uri_part(b"sip:alice@a.com;x=1", Field::RUser, b"").unwrap(),
            b"sip:a.com;x=1"
        );
        assert_eq!(
            set_uri_part(b"sip:a.com", Field::RUser, b"bob").unwrap(),
            b"sip:bob@a.com"
        );
        assert_eq!(
            set_uri_part(b"sip:alice@a.com:5080", Field::RDomain, b"b.org").unwrap(),
            b"sip:alice@b.org:5080"
        );
        assert_eq!(
            set_uri_part(b"sip:alice@a.com:5080;t", Field::RPort, b"6000").unwrap(),
            b"sip:alice@a.com:6000;t"
        );
        assert_eq!(
            set_uri_part(b"sip:alice@a.com", Field::RPort, b"7").unwrap(),
            b"sip:alice@a.com:7"
        );
    }

    #[test]
    fn digest_params() {
        let h = br#"Digest username="alice@example.com", realm="example.com", nonce="a,b", uri="sip:x@y", response=abc"#;
        assert_eq!(digest_param(h, b"username").unwrap(), b"alice@example.com");
        assert_eq!(digest_param(h, b"REALM").unwrap(), b"example.com");
        assert_eq!(digest_param(h, b"uri").unwrap(), b"sip:x@y");
        assert_eq!(digest_param(h, b"response").unwrap(), b"abc");
        assert_eq!(digest_param(h, b"nope"), None);
        assert_eq!(digest_param(b"Basic abc", b"username"), None);
        assert_eq!(digest_param(b"Digest username=\"x", b"username"), None);
    }

    #[test]
    fn strftime_formats() {
        assert_eq!(strftime("%Y", 0).len(), 4);
    }
}
