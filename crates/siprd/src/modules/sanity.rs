//! sanity: RFC 3261 sanity checks on requests (`sanity_check`,
//! `sanity_reply`), with the replies Kamailio 5.6 sends.
//!
//! Observed on Kamailio 5.6.3 (and encoded here):
//! - checks run in bit order and stop at the first failure; each failure has
//!   its own reply (`400 CSeq number is illegal`, `420 Bad Proxy Require
//!   Extension` with an `Unsupported:` line naming the first unknown
//!   extension, ...), sent statelessly through sl;
//! - a failure returns 0 (the script ends) with `autodrop` (default), -1
//!   without; with `noreply` nothing is sent and `sanity_reply()` sends the
//!   recorded reply later (or `500 Server Sanity Failure` when none);
//! - a credential that is not `Digest` fails check 2048 without a reply and
//!   passes check 8192; `Authorization` and `Proxy-Authorization` are both
//!   checked;
//! - numbers (CSeq, Expires) are 1 to 10 digits, compared digit by digit
//!   with 4294967296, which therefore passes (Kamailio's bound);
//! - only the first Expires header is read; Proxy-Require tokens compare
//!   case-sensitively with the `proxy_require` list.

use crate::context::Ctx;
use crate::locks::ExecId;
use crate::module::Module;
use crate::modules::args::{int_arg, int_or_bare_pv};
use siprd_script::registry::{func, Arg, FuncDef, ModParamDecl, ModParamType};
use siprd_script::{route_type, Registry, Value};
use siprd_sip::header::HeaderKind;
use siprd_sip::uri::{Scheme, Uri};
use siprd_sip::{Message, NameAddr};
use std::cell::RefCell;
use std::sync::Arc;

const RURI_SIP_VERSION: u32 = 1;
const RURI_SCHEME: u32 = 2;
const REQUIRED_HEADERS: u32 = 4;
const CSEQ_METHOD: u32 = 32;
const CSEQ_VALUE: u32 = 64;
const CONTENT_LENGTH: u32 = 128;
const EXPIRES_VALUE: u32 = 256;
const PROXY_REQUIRE: u32 = 512;
const PARSE_URIS: u32 = 1024;
const DIGEST_CREDENTIALS: u32 = 2048;
const DUPLICATE_TAGS: u32 = 4096;
const AUTHORIZATION: u32 = 8192;
const VIA1: u32 = 16384;

const URI_RURI: u32 = 1;
const URI_FROM: u32 = 2;
const URI_TO: u32 = 4;
const URI_CONTACT: u32 = 8;

/// Why a request failed: the reply to send (code 0: fail without a reply)
/// and an extra header line for it.
#[derive(Debug, Clone, PartialEq)]
struct Failure {
    code: u16,
    reason: &'static str,
    header: Option<Vec<u8>>,
}

fn fail(code: u16, reason: &'static str) -> Failure {
    Failure {
        code,
        reason,
        header: None,
    }
}

/// A failure that Kamailio reports without a reply.
fn fail_silently() -> Failure {
    fail(0, "")
}

struct Config {
    default_checks: u32,
    uri_checks: u32,
    proxy_require: Vec<Vec<u8>>,
    autodrop: bool,
    noreply: bool,
}

pub struct Sanity {
    default_checks: i32,
    uri_checks: i32,
    proxy_require: Vec<Vec<u8>>,
    autodrop: bool,
    noreply: bool,
}

impl Default for Sanity {
    fn default() -> Self {
        Sanity {
            default_checks: 3047,
            uri_checks: 7,
            proxy_require: Vec::new(),
            autodrop: true,
            noreply: false,
        }
    }
}

thread_local! {
    /// The failure recorded with `noreply`, for `sanity_reply()` in the same
    /// execution (Kamailio keeps one per process, keyed by message).
    static RECORDED: RefCell<Option<(ExecId, Failure)>> = const { RefCell::new(None) };
}

/// 1 to 10 digits, compared with 4294967296 digit by digit when 10 long.
fn valid_uint(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if s.len() < 10 {
        return true;
    }
    for (d, m) in s.iter().zip(b"4294967296") {
        if d < m {
            return true;
        }
        if d > m {
            return false;
        }
    }
    true
}

fn trim(s: &[u8]) -> &[u8] {
    s.trim_ascii()
}

/// The number and method of a CSeq value, as written.
fn split_cseq(v: &[u8]) -> (&[u8], &[u8]) {
    let v = trim(v);
    match v.iter().position(|c| c.is_ascii_whitespace()) {
        Some(i) => (&v[..i], trim(&v[i..])),
        None => (v, &[]),
    }
}

/// The parameters of a credentials header after its scheme, quotes removed.
/// None when it has no parameter at all.
/// A credentials header: its scheme and its `name=value` parameters.
type Credentials<'a> = (&'a [u8], Vec<(&'a [u8], &'a [u8])>);

fn credential_params(v: &[u8]) -> Option<Credentials<'_>> {
    let v = trim(v);
    let end = v
        .iter()
        .position(|c| c.is_ascii_whitespace())
        .unwrap_or(v.len());
    let (scheme, rest) = v.split_at(end);
    let mut params = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, &c) in rest.iter().enumerate() {
        match c {
            b'"' => quoted = !quoted,
            b'\\' if quoted => {}
            b',' if !quoted => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    for p in parts {
        let p = trim(p);
        if p.is_empty() {
            continue;
        }
        let (name, value) = match p.iter().position(|&c| c == b'=') {
            Some(i) => (trim(&p[..i]), trim(&p[i + 1..])),
            None => (p, &p[p.len()..]),
        };
        let value = value
            .strip_prefix(b"\"")
            .and_then(|x| x.strip_suffix(b"\""))
            .unwrap_or(value);
        params.push((name, value));
    }
    if params.is_empty() {
        return None;
    }
    Some((scheme, params))
}

/// One credentials header: `Ok(())`, or the failure. `require_digest`:
/// another scheme fails (silently) instead of passing.
fn check_credentials(v: &[u8], require_digest: bool) -> Result<(), Failure> {
    let Some((scheme, params)) = credential_params(v) else {
        return Err(fail_silently());
    };
    if !scheme.eq_ignore_ascii_case(b"Digest") {
        return if require_digest {
            Err(fail_silently())
        } else {
            Ok(())
        };
    }
    let get = |n: &[u8]| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| *v)
    };
    let bad = || fail(400, "Bad Auth Credentials");
    let mut required = vec![&b"username"[..], b"realm", b"nonce", b"uri", b"response"];
    // Only a qop Kamailio knows asks for nc and cnonce.
    if get(b"qop")
        .is_some_and(|q| q.eq_ignore_ascii_case(b"auth") || q.eq_ignore_ascii_case(b"auth-int"))
    {
        required.extend([&b"nc"[..], b"cnonce"]);
    }
    if required.iter().any(|n| get(n).is_none()) {
        return Err(bad());
    }
    for (name, reason) in [
        (&b"username"[..], "Auth Empty User"),
        (b"nonce", "Auth Empty Nonce"),
        (b"response", "Auth Empty Response"),
    ] {
        if get(name).is_some_and(<[u8]>::is_empty) {
            return Err(fail(400, reason));
        }
    }
    Ok(())
}

fn count_tags(na: &NameAddr) -> usize {
    na.params()
        .filter(|(k, _)| k.eq_ignore_ascii_case(b"tag"))
        .count()
}

/// Run the checks of `checks` (bit order, first failure wins) on a request.
fn run_checks(
    msg: &Message,
    ruri: &[u8],
    checks: u32,
    uri_checks: u32,
    cfg: &Config,
) -> Result<(), Failure> {
    // On a reply (sanity_check in a reply route) Kamailio reads the R-URI,
    // its version and the method from the status line: those checks fail.
    let request = msg.is_request();
    if checks & RURI_SIP_VERSION != 0
        && (!request || !msg.version().eq_ignore_ascii_case(b"SIP/2.0"))
    {
        return Err(fail(505, "Version Not Supported"));
    }
    if checks & RURI_SCHEME != 0 {
        let ok = request
            && Uri::parse(ruri).is_ok_and(|u| match u.scheme() {
                Scheme::Sip | Scheme::Sips | Scheme::Tel => true,
                Scheme::Other => u.scheme_bytes().eq_ignore_ascii_case(b"urn"),
            });
        if !ok {
            return Err(fail(400, "Bad Request URI"));
        }
    }
    if checks & REQUIRED_HEADERS != 0 && msg.validate_required().is_err() {
        return Err(fail(400, "Missing Required Header in Request"));
    }
    if checks & (CSEQ_METHOD | CSEQ_VALUE) != 0 {
        let Some(cseq) = msg.header(HeaderKind::CSeq) else {
            return Err(fail_silently());
        };
        let (num, method) = split_cseq(cseq);
        if method.is_empty() {
            // Kamailio's parser refuses the header: no reply.
            return Err(fail_silently());
        }
        if checks & CSEQ_METHOD != 0 && (!request || method != msg.method_bytes()) {
            return Err(fail(400, "CSeq method does not match request method"));
        }
        if checks & CSEQ_VALUE != 0 && !valid_uint(num) {
            return Err(fail(400, "CSeq number is illegal"));
        }
    }
    if checks & CONTENT_LENGTH != 0 {
        // not a number or repeated: Kamailio's header parser fails (and the
        // 400 cannot be built either, so nothing is sent)
        if !msg.content_length_ok() {
            return Err(fail(400, "Content-Length mis-match"));
        }
        if let Some(h) = msg.header(HeaderKind::ContentLength) {
            let actual = msg.buf().len().saturating_sub(msg.body_range().start);
            let declared = std::str::from_utf8(trim(h))
                .ok()
                .and_then(|s| s.parse::<usize>().ok());
            if declared != Some(actual) {
                return Err(fail(400, "Content-Length mis-match"));
            }
        }
    }
    if checks & EXPIRES_VALUE != 0 {
        if let Some(v) = msg.header(HeaderKind::Expires) {
            let v = trim(v);
            if v.is_empty() {
                return Err(fail(400, "Bad Expires Header"));
            }
            if !valid_uint(v) {
                return Err(fail(400, "Expires value is illegal"));
            }
        }
    }
    if checks & PROXY_REQUIRE != 0 && request {
        for h in msg.headers_of(HeaderKind::ProxyRequire) {
            let v = h.value;
            if trim(v).is_empty() {
                return Err(fail(400, "Bad Proxy Require Header"));
            }
            let unknown = v
                .split(|&c| c == b',')
                .map(trim)
                .filter(|t| !t.is_empty())
                .find(|t| !cfg.proxy_require.iter().any(|k| k.as_slice() == *t));
            if let Some(t) = unknown {
                let mut header = b"Unsupported: ".to_vec();
                header.extend_from_slice(t);
                header.extend_from_slice(b"\r\n");
                return Err(Failure {
                    code: 420,
                    reason: "Bad Proxy Require Extension",
                    header: Some(header),
                });
            }
        }
    }
    if checks & PARSE_URIS != 0 {
        if uri_checks & URI_RURI != 0 && (!request || Uri::parse(ruri).is_err()) {
            return Err(fail(400, "Bad Request URI"));
        }
        if uri_checks & URI_FROM != 0 && msg.from().is_err() {
            return Err(fail(400, "Invalid From Header"));
        }
        // Kamailio's reason phrase, misspelt as it is on the wire.
        if uri_checks & URI_TO != 0 && msg.to().is_err() {
            return Err(fail(400, "Ivalid To Header"));
        }
        if uri_checks & URI_CONTACT != 0
            && msg.header(HeaderKind::Contact).is_some()
            && !msg.contact_star()
            && msg.contacts().is_err()
        {
            return Err(fail(400, "Bad Contact URI"));
        }
    }
    for (bit, require_digest) in [(DIGEST_CREDENTIALS, true), (AUTHORIZATION, false)] {
        if checks & bit == 0 {
            continue;
        }
        for kind in [HeaderKind::Authorization, HeaderKind::ProxyAuthorization] {
            for h in msg.headers_of(kind) {
                check_credentials(h.value, require_digest)?;
            }
        }
    }
    if checks & DUPLICATE_TAGS != 0 {
        if msg.from().is_ok_and(|f| count_tags(f) > 1) {
            return Err(fail(400, "Many From Tag Params"));
        }
        if msg.to().is_ok_and(|t| count_tags(t) > 1) {
            return Err(fail(400, "Many To Tag Params"));
        }
    }
    if checks & VIA1 != 0 && msg.via1().is_err() {
        return Err(fail(400, "Bad Via Header"));
    }
    Ok(())
}

/// Send a failure's reply through sl (the module must be loaded, as in
/// Kamailio). Rare path: the function is looked up per failure.
fn send_failure(ctx: &mut Ctx, f: &Failure) -> i32 {
    if f.code == 0 || !ctx.msg.is_request() {
        return -1;
    }
    let headers = f.header.as_deref().unwrap_or_default();
    crate::modules::sl::reply_with_headers(ctx, f.code, f.reason.as_bytes(), headers)
}

fn sanity_check(ctx: &mut Ctx, a: &[Arg<Ctx>], cfg: &Config) -> i32 {
    let checks = match a.first() {
        None => cfg.default_checks,
        Some(x) => match int_arg(ctx, x) {
            Some(c) if (1..32768).contains(&c) => c as u32,
            c => {
                tracing::error!(
                    "sanity_check: checks ({}) outside of the valid range 1..32767",
                    c.unwrap_or(0)
                );
                return -1;
            }
        },
    };
    let uri_checks = match a.get(1) {
        None => cfg.uri_checks,
        Some(x) => match int_arg(ctx, x) {
            Some(c) if (1..16).contains(&c) => c as u32,
            c => {
                tracing::error!(
                    "sanity_check: uri checks ({}) outside of the valid range 1..15",
                    c.unwrap_or(0)
                );
                return -1;
            }
        },
    };
    let Err(f) = run_checks(&ctx.msg, ctx.ruri(), checks, uri_checks, cfg) else {
        return 1;
    };
    tracing::warn!(
        "sanity_check: the request failed the checks ({} {})",
        f.code,
        f.reason
    );
    if cfg.noreply {
        let id = ctx.exec_id;
        RECORDED.with(|r| *r.borrow_mut() = Some((id, f)));
    } else {
        send_failure(ctx, &f);
    }
    if cfg.autodrop {
        0
    } else {
        -1
    }
}

fn sanity_reply(ctx: &mut Ctx, cfg: &Config) -> i32 {
    if !cfg.noreply {
        return 1;
    }
    let id = ctx.exec_id;
    let recorded = RECORDED.with(|r| match r.borrow_mut().take() {
        Some((rid, f)) if rid == id => Some(f),
        _ => None,
    });
    let f = recorded.unwrap_or_else(|| {
        tracing::info!("sanity_reply: no sanity failure recorded, sending 500");
        fail(500, "Server Sanity Failure")
    });
    if f.code == 0 {
        return -1;
    }
    send_failure(ctx, &f)
}

impl Module for Sanity {
    fn name(&self) -> &'static str {
        "sanity"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        [
            ("default_checks", ModParamType::Int),
            ("uri_checks", ModParamType::Int),
            ("proxy_require", ModParamType::Str),
            ("autodrop", ModParamType::Int),
            ("noreply", ModParamType::Int),
        ]
        .into_iter()
        .map(|(name, ty)| ModParamDecl { name, ty })
        .collect()
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let int = || value.try_int().ok_or(format!("{name} must be an integer"));
        match name {
            "default_checks" => self.default_checks = int()?,
            "uri_checks" => self.uri_checks = int()?,
            "autodrop" => self.autodrop = int()? != 0,
            "noreply" => self.noreply = int()? != 0,
            "proxy_require" => {
                self.proxy_require = value
                    .to_bytes()
                    .split(|&c| c == b',')
                    .map(|t| trim(t).to_vec())
                    .filter(|t| !t.is_empty())
                    .collect();
            }
            _ => return Err(format!("module `sanity` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let cfg = Arc::new(Config {
            default_checks: u32::try_from(self.default_checks).unwrap_or(0),
            uri_checks: u32::try_from(self.uri_checks).unwrap_or(0),
            proxy_require: self.proxy_require.clone(),
            autodrop: self.autodrop,
            noreply: self.noreply,
        });
        // Kamailio 5.6: request_route and both reply routes, for both functions
        let routes = route_type::REQUEST | route_type::ONREPLY;
        for nargs in 0..=2 {
            let cfg = cfg.clone();
            reg.add_function(FuncDef {
                name: "sanity_check",
                module: "sanity",
                params: (0..nargs).map(|_| int_or_bare_pv()).collect(),
                routes,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| sanity_check(ctx, a, &cfg)),
            });
        }
        reg.add_function(FuncDef {
            name: "sanity_reply",
            module: "sanity",
            params: vec![],
            routes,
            call: func(move |ctx: &mut Ctx, _a: &[Arg<Ctx>]| sanity_reply(ctx, &cfg)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_bound_is_kamailios() {
        assert!(valid_uint(b"0"));
        assert!(valid_uint(b"007"));
        assert!(valid_uint(b"4294967295"));
        assert!(valid_uint(b"4294967296"));
        assert!(!valid_uint(b"4294967297"));
        assert!(!valid_uint(b"4294967300"));
        assert!(!valid_uint(b"9999999999"));
        assert!(!valid_uint(b"99999999999"));
        assert!(!valid_uint(b"-1"));
        assert!(!valid_uint(b"+1"));
        assert!(!valid_uint(b""));
        assert!(!valid_uint(b"12abc"));
    }

    #[test]
    fn credentials() {
        let ok = br#"Digest username="a", realm="r", nonce="n", uri="sip:x", response="0a""#;
        assert_eq!(check_credentials(ok, true), Ok(()));
        assert_eq!(check_credentials(b"Basic abc", true), Err(fail_silently()));
        assert_eq!(check_credentials(b"Basic abc", false), Ok(()));
        assert_eq!(check_credentials(b"Digest", true), Err(fail_silently()));
        let no_realm = br#"Digest username="a", nonce="n", uri="sip:x", response="0a""#;
        assert_eq!(
            check_credentials(no_realm, true).unwrap_err().reason,
            "Bad Auth Credentials"
        );
        let empty_realm =
            br#"Digest username="a", realm="", nonce="n", uri="sip:x", response="0a""#;
        assert_eq!(check_credentials(empty_realm, true), Ok(()));
        let empty_user = br#"DIGEST username="", realm="r", nonce="n", uri="u", response="0a""#;
        assert_eq!(
            check_credentials(empty_user, true).unwrap_err().reason,
            "Auth Empty User"
        );
        let qop =
            br#"Digest username="a", realm="r", nonce="n", uri="u", response="0a", qop=auth, nc=1"#;
        assert_eq!(
            check_credentials(qop, true).unwrap_err().reason,
            "Bad Auth Credentials"
        );
        let comma = br#"Digest username="a,b", realm="r", nonce="n", uri="u", response="x""#;
        assert_eq!(check_credentials(comma, true), Ok(()));
    }

    #[test]
    fn cseq_split() {
        assert_eq!(split_cseq(b" 12  INVITE "), (&b"12"[..], &b"INVITE"[..]));
        assert_eq!(split_cseq(b"12"), (&b"12"[..], &b""[..]));
    }
}
