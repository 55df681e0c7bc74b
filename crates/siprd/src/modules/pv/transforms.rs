//! SIP transformation classes: `{uri.*}`, `{nameaddr.*}`, `{tobody.*}`,
//! `{urialias.*}`.
//!
//! Observed on Kamailio 5.6: a value that does not parse makes the
//! transformation fail (nothing printed); missing parts are empty strings;
//! `{uri.params}` has no leading `;` (empty for `tel:`); `{uri.param,x}` and
//! `{uri.lr}` are empty for a parameter without value; IPv6 hosts keep their
//! brackets. `{nameaddr.name}` is the raw text before `<` (quotes and the
//! trailing space kept), `{nameaddr.uri}` of a bare URI is the whole value
//! (its `;params` included), `{nameaddr.len}` counts up to the `>`.
//! `{tobody.display}` keeps quotes but not the trailing space, `{tobody.uri}`
//! stops at the header parameters, `{tobody.params}` has no leading `;`.

use crate::context::Ctx;
use bytes::Bytes;
use siprd_script::pv::PvSpec;
use siprd_script::registry::{FixupCtx, Registry, TrParam, TransformClassDef, TransformImpl};
use siprd_script::Value;
use siprd_sip::uri::{Scheme, Uri};
use siprd_sip::NameAddr;
use std::sync::Arc;

struct FnTr<F>(F);

impl<F> TransformImpl<Ctx> for FnTr<F>
where
    F: Fn(&mut Ctx, Value) -> Option<Value> + Send + Sync,
{
    fn apply(&self, ctx: &mut Ctx, v: Value) -> Option<Value> {
        (self.0)(ctx, v)
    }
}

fn boxed<F>(f: F) -> Box<dyn TransformImpl<Ctx>>
where
    F: Fn(&mut Ctx, Value) -> Option<Value> + Send + Sync + 'static,
{
    Box::new(FnTr(f))
}

fn input(v: &Value) -> Option<Bytes> {
    match v {
        Value::Null => None,
        Value::Int(i) => Some(Bytes::from(i.to_string())),
        Value::Str(s) => Some(s.clone()),
    }
}

fn s(b: &[u8]) -> Value {
    Value::Str(Bytes::copy_from_slice(b))
}

enum StrP {
    Const(Bytes),
    Pv(Box<PvSpec<Ctx>>),
}

impl StrP {
    fn eval(&self, ctx: &mut Ctx) -> Option<Bytes> {
        match self {
            StrP::Const(b) => Some(b.clone()),
            StrP::Pv(p) => input(&p.try_get(ctx)?),
        }
    }
}

fn no_params(method: &str, params: &[TrParam<Ctx>]) -> Result<(), String> {
    if params.is_empty() {
        Ok(())
    } else {
        Err(format!("`{method}` takes no parameter"))
    }
}

fn unknown(class: &str, method: &str, all: &[&str]) -> String {
    let mut msg = format!("unknown transformation `{class}.{method}`");
    if let Some(sug) = siprd_script::pv::did_you_mean(method, all.iter().copied()) {
        msg.push_str(&format!("; did you mean `{class}.{sug}`?"));
    }
    msg
}

// ---------------------------------------------------------------------------
// uri

const URI_METHODS: &[&str] = &[
    "user",
    "host",
    "domain",
    "port",
    "params",
    "param",
    "transport",
    "scheme",
    "passwd",
    "headers",
    "ttl",
    "maddr",
    "method",
    "lr",
    "r2",
    "tosocket",
    "uparam",
    "duri",
    "saor",
    "suri",
];

fn param_value(u: &Uri, name: &[u8]) -> Value {
    if u.scheme() == Scheme::Tel {
        return s(b"");
    }
    match u.param_last(name) {
        Some(Some(v)) => s(v),
        _ => s(b""),
    }
}

/// Apply one `uri.<method>` (without parameter) to a parsed URI.
pub(crate) fn uri_part(u: &Uri, method: &str) -> Value {
    match method {
        "user" => s(u.user().unwrap_or_default()),
        // `domain` is another name for the host
        "host" | "domain" => s(u.host()),
        "port" => s(u.port_bytes().unwrap_or_default()),
        "params" => {
            if u.scheme() == Scheme::Tel {
                s(b"")
            } else {
                s(u.params_bytes()
                    .strip_prefix(b";")
                    .unwrap_or(u.params_bytes()))
            }
        }
        "scheme" => s(u.scheme_bytes()),
        "passwd" => s(u.password().unwrap_or_default()),
        "headers" => s(u.headers().unwrap_or_default()),
        "transport" | "ttl" | "maddr" | "method" | "lr" | "r2" => param_value(u, method.as_bytes()),
        // The value of the `user=` parameter.
        "uparam" => param_value(u, b"user"),
        "tosocket" => match u.transport() {
            // `proto:host:port` (port defaulted); empty without a transport.
            None => s(b""),
            Some(t) => {
                let mut out = t.to_ascii_lowercase();
                out.push(b':');
                out.extend_from_slice(u.host());
                out.push(b':');
                match u.port_bytes() {
                    Some(p) => out.extend_from_slice(p),
                    None if u.scheme() == Scheme::Sips || out.starts_with(b"tls") => {
                        out.extend_from_slice(b"5061")
                    }
                    None => out.extend_from_slice(b"5060"),
                }
                Value::from_vec(out)
            }
        },
        // Kamailio 5.6.3 puts a stray byte after the scheme in these three
        // (a bug); siprd gives the intended URIs.
        "duri" | "saor" | "suri" => {
            let mut out = u.scheme_bytes().to_vec();
            out.push(b':');
            if method != "duri" {
                if let Some(user) = u.user() {
                    out.extend_from_slice(user);
                    out.push(b'@');
                }
            }
            out.extend_from_slice(u.host());
            if method != "saor" {
                if let Some(p) = u.port_bytes() {
                    out.push(b':');
                    out.extend_from_slice(p);
                }
                if let Some(t) = u.transport() {
                    out.extend_from_slice(b";transport=");
                    out.extend_from_slice(t);
                }
            }
            Value::from_vec(out)
        }
        _ => s(b""),
    }
}

fn parse_uri_tr(
    method: &str,
    mut params: Vec<TrParam<Ctx>>,
) -> Result<Box<dyn TransformImpl<Ctx>>, String> {
    if !URI_METHODS.contains(&method) {
        return Err(unknown("uri", method, URI_METHODS));
    }
    if method == "param" {
        if params.len() != 1 {
            return Err("`uri.param` takes one parameter: the parameter name".into());
        }
        let p = match params.pop() {
            Some(TrParam::Str(b)) => StrP::Const(b),
            Some(TrParam::Int(i)) => StrP::Const(Bytes::from(i.to_string())),
            Some(TrParam::Pv(p)) => StrP::Pv(p),
            None => return Err("`uri.param` needs a parameter name".into()),
        };
        return Ok(boxed(move |ctx, v| {
            let b = input(&v)?;
            let u = Uri::parse_bytes(b).ok().filter(Uri::is_known_scheme)?;
            let name = p.eval(ctx)?;
            Some(param_value(&u, &name))
        }));
    }
    no_params(method, &params)?;
    let method: &'static str = URI_METHODS
        .iter()
        .copied()
        .find(|m| *m == method)
        .unwrap_or("user");
    Ok(boxed(move |_ctx, v| {
        let b = input(&v)?;
        let u = Uri::parse_bytes(b).ok().filter(Uri::is_known_scheme)?;
        Some(uri_part(&u, method))
    }))
}

// ---------------------------------------------------------------------------
// nameaddr

/// Kamailio's name-addr split: (name, uri, len). The name is the raw text
/// before `<` (quoted parts skipped when looking for it); without `<` the whole
/// value, blanks included, is the URI.
pub(crate) fn split_nameaddr(b: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    // blanks around are kept (`" <a@b>"{nameaddr.name}` is " "); "" fails
    if b.is_empty() {
        return None;
    }
    let mut i = 0;
    let mut in_q = false;
    while i < b.len() {
        match b[i] {
            b'\\' if in_q => i += 1,
            b'"' => in_q = !in_q,
            b'<' if !in_q => {
                let close = memchr::memchr(b'>', &b[i..])? + i;
                return Some((&b[..i], &b[i + 1..close], close + 1));
            }
            _ => {}
        }
        i += 1;
    }
    if in_q {
        return None;
    }
    // no `<`: the value as it is, blanks kept (`"  x  "{nameaddr.len}` is 5)
    Some((&b[..0], b, b.len()))
}

const NAMEADDR_METHODS: &[&str] = &["name", "uri", "len"];

fn parse_nameaddr_tr(
    method: &str,
    params: Vec<TrParam<Ctx>>,
) -> Result<Box<dyn TransformImpl<Ctx>>, String> {
    no_params(method, &params)?;
    let m = match method {
        "name" => 0,
        "uri" => 1,
        "len" => 2,
        _ => return Err(unknown("nameaddr", method, NAMEADDR_METHODS)),
    };
    Ok(boxed(move |_ctx, v| {
        let b = input(&v)?;
        let (name, uri, len) = split_nameaddr(&b)?;
        Some(match m {
            0 => s(name),
            1 => s(uri),
            _ => Value::Int(i32::try_from(len).unwrap_or(i32::MAX)),
        })
    }))
}

// ---------------------------------------------------------------------------
// tobody

const TOBODY_METHODS: &[&str] = &["uri", "display", "tag", "user", "host", "params"];

pub(crate) fn tobody_part(na: &NameAddr, method: &str) -> Value {
    match method {
        "uri" => s(na.uri_bytes()),
        "display" => s(na.display_name().unwrap_or_default()),
        "tag" => s(na.tag().unwrap_or_default()),
        "user" => s(na.uri().user().unwrap_or_default()),
        "host" => s(na.uri().host()),
        "params" => {
            let p = siprd_sip::scan::trim(na.params_bytes());
            s(siprd_sip::scan::trim(p.strip_prefix(b";").unwrap_or(p)))
        }
        _ => s(b""),
    }
}

fn parse_tobody_tr(
    method: &str,
    params: Vec<TrParam<Ctx>>,
) -> Result<Box<dyn TransformImpl<Ctx>>, String> {
    no_params(method, &params)?;
    let Some(method) = TOBODY_METHODS.iter().copied().find(|m| *m == method) else {
        return Err(unknown("tobody", method, TOBODY_METHODS));
    };
    Ok(boxed(move |_ctx, v| {
        let b = input(&v)?;
        let na = NameAddr::parse_bytes(b).ok()?;
        Some(tobody_part(&na, method))
    }))
}

// ---------------------------------------------------------------------------
// urialias

/// The transport of a `;transport=` value as urialias numbers it (an
/// unknown one counts as UDP, as Kamailio 5.6 does).
fn alias_proto(t: Option<&[u8]>) -> u8 {
    match t.map(<[u8]>::to_ascii_lowercase).as_deref() {
        Some(b"tcp") => 2,
        Some(b"tls") => 3,
        Some(b"sctp") => 4,
        Some(b"ws") => 5,
        _ => 1,
    }
}

/// `{urialias.encode}`: `sip:[user@]host[:port][;transport=t]` →
/// `host~port~proto` (port 5060 when absent, proto 1 udp .. 5 ws). A value
/// that is not a SIP URI gives an empty string (observed on Kamailio 5.6.3).
fn urialias_encode(b: &[u8]) -> Value {
    let Some(u) = Uri::parse_bytes(Bytes::copy_from_slice(b))
        .ok()
        .filter(Uri::is_known_scheme)
    else {
        return s(b"");
    };
    let port = u.port_bytes().unwrap_or(b"5060");
    if std::str::from_utf8(port)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
        .is_none()
    {
        return s(b"");
    }
    let mut out = u.host().to_vec();
    out.push(b'~');
    out.extend_from_slice(port);
    out.push(b'~');
    out.push(b'0' + alias_proto(u.transport()));
    Value::from_vec(out)
}

/// `{urialias.decode}`: `host~port~proto` → `sip:host:port[;transport=t]`.
/// Kamailio 5.6.3 reads the first character of the protocol: `0`/`1` (or
/// another digit past 9's range such as `12`) add no transport, `2`..`6` add
/// tcp, tls, sctp, ws, ws; anything else gives an empty string. Fewer than
/// two `~` fails the transformation.
fn urialias_decode(b: &[u8]) -> Option<Value> {
    if b.is_empty() {
        return Some(s(b""));
    }
    let mut parts = b.splitn(3, |c| *c == b'~');
    let (host, port, proto) = (parts.next()?, parts.next()?, parts.next()?);
    let transport: &[u8] = match proto.first() {
        Some(b'0' | b'1') => b"",
        Some(b'2') => b";transport=tcp",
        Some(b'3') => b";transport=tls",
        Some(b'4') => b";transport=sctp",
        Some(b'5' | b'6') => b";transport=ws",
        _ => return Some(s(b"")),
    };
    let mut out = b"sip:".to_vec();
    out.extend_from_slice(host);
    out.push(b':');
    out.extend_from_slice(port);
    out.extend_from_slice(transport);
    Some(Value::from_vec(out))
}

fn parse_urialias_tr(
    method: &str,
    params: Vec<TrParam<Ctx>>,
) -> Result<Box<dyn TransformImpl<Ctx>>, String> {
    no_params(method, &params)?;
    match method {
        "encode" => Ok(boxed(|_ctx, v| match v {
            Value::Str(b) => Some(urialias_encode(&b)),
            _ => None,
        })),
        "decode" => Ok(boxed(|_ctx, v| match v {
            Value::Str(b) => urialias_decode(&b),
            _ => None,
        })),
        _ => Err(unknown("urialias", method, &["encode", "decode"])),
    }
}

/// Register the `uri`, `nameaddr`, `tobody` and `urialias` transformation classes.
pub fn register(reg: &mut Registry<Ctx>) {
    reg.add_transform(TransformClassDef {
        class: "uri",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, method: &str, params| {
            parse_uri_tr(method, params)
        }),
    });
    reg.add_transform(TransformClassDef {
        class: "nameaddr",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, method: &str, params| {
            parse_nameaddr_tr(method, params)
        }),
    });
    reg.add_transform(TransformClassDef {
        class: "urialias",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, method: &str, params| {
            parse_urialias_tr(method, params)
        }),
    });
    reg.add_transform(TransformClassDef {
        class: "tobody",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, method: &str, params| {
            parse_tobody_tr(method, params)
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(u: &str, m: &str) -> String {
        let u = Uri::parse(u.as_bytes()).unwrap();
        String::from_utf8(uri_part(&u, m).to_bytes().to_vec()).unwrap()
    }

    #[test]
    fn uri_parts() {
        let u = "sip:dave@10.1.2.3:5062;transport=tcp;lr";
        assert_eq!(part(u, "user"), "dave");
        assert_eq!(part(u, "host"), "10.1.2.3");
        assert_eq!(part(u, "port"), "5062");
        assert_eq!(part(u, "params"), "transport=tcp;lr");
        assert_eq!(part(u, "transport"), "tcp");
        assert_eq!(part(u, "lr"), "");
        assert_eq!(part(u, "scheme"), "sip");
        assert_eq!(part("sips:host.com", "port"), "");
        assert_eq!(part("sip:u:pw@h.com;maddr=1.2.3.4?X=1&Y=2", "passwd"), "pw");
        assert_eq!(
            part("sip:u:pw@h.com;maddr=1.2.3.4?X=1&Y=2", "headers"),
            "X=1&Y=2"
        );
        assert_eq!(
            part("sip:u:pw@h.com;maddr=1.2.3.4?X=1&Y=2", "maddr"),
            "1.2.3.4"
        );
        assert_eq!(part("tel:+1234;phone-context=x", "user"), "+1234");
        assert_eq!(part("tel:+1234;phone-context=x", "params"), "");
        assert_eq!(part("sip:[::1]:5060", "host"), "[::1]");
    }

    #[test]
    fn nameaddr_split() {
        let (n, u, l) = split_nameaddr(b"\"Eve X\" <sip:eve@x.org>;tag=t1").unwrap();
        assert_eq!((n, u, l), (&b"\"Eve X\" "[..], &b"sip:eve@x.org"[..], 23));
        let (n, u, l) = split_nameaddr(b"<sip:eve@x.org;lr>;tag=t1;foo=bar").unwrap();
        assert_eq!((n, u, l), (&b""[..], &b"sip:eve@x.org;lr"[..], 18));
        let (n, u, l) = split_nameaddr(b"sip:bare@z.org;tag=9").unwrap();
        assert_eq!((n, u, l), (&b""[..], &b"sip:bare@z.org;tag=9"[..], 20));
        assert_eq!(split_nameaddr(b"Bob <sip:bob@y.org>").unwrap().0, b"Bob ");
        assert!(split_nameaddr(b"<sip:x").is_none());
        // K: blanks are kept, before `<` and without one; "" fails
        let (n, u, l) = split_nameaddr(b" <sip:a@b> ").unwrap();
        assert_eq!((n, u, l), (&b" "[..], &b"sip:a@b"[..], 10));
        assert_eq!(split_nameaddr(b"  x  ").unwrap().1, b"  x  ");
        assert!(split_nameaddr(b"").is_none());
    }

    #[test]
    fn tobody_parts() {
        let na = NameAddr::parse(b"\"Eve X\" <sip:eve@x.org>;tag=t1").unwrap();
        let g = |m| tobody_part(&na, m).to_bytes();
        assert_eq!(&g("display")[..], b"\"Eve X\"");
        assert_eq!(&g("uri")[..], b"sip:eve@x.org");
        assert_eq!(&g("tag")[..], b"t1");
        assert_eq!(&g("user")[..], b"eve");
        assert_eq!(&g("host")[..], b"x.org");
        assert_eq!(&g("params")[..], b"tag=t1");
        let na = NameAddr::parse(b"sip:bare@z.org;tag=9").unwrap();
        assert_eq!(&tobody_part(&na, "uri").to_bytes()[..], b"sip:bare@z.org");
        assert_eq!(&tobody_part(&na, "tag").to_bytes()[..], b"9");
    }
}
