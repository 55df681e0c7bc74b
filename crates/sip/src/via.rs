//! Via header values (RFC 3261 20.42, RFC 3581 rport).

use crate::error::ParseError;
use crate::params::{self, RawParams, Span};
use crate::scan::is_token;
use bytes::Bytes;

/// One Via value (`SIP/2.0/UDP host:port;params`). A Via header line may hold several.
#[derive(Debug, Clone)]
pub struct Via {
    buf: Bytes,
    /// Offset of `buf` in the message it came from (0 when parsed standalone).
    base: usize,
    protocol: Span,
    version: Span,
    transport: Span,
    host: Span,
    port: Option<u16>,
    sent_by: Span,
    params: RawParams,
    branch: Option<Span>,
    received: Option<Span>,
    rport: Option<Option<u16>>,
    /// The whole `rport` parameter as Kamailio rewrites it: from just after
    /// its `;` to the end of its value, or of the blanks after a bare name.
    rport_param: Span,
    /// The same for the last `received` parameter.
    received_param: Span,
}

fn bad(w: &'static str) -> ParseError {
    ParseError::BadHeader("Via", w)
}

/// A parameter as Kamailio's Via parser delimits it: from just after its `;`
/// (blanks included) to the end of its value, or past the blanks after a
/// name without value.
fn whole_param(b: &[u8], p: &params::RawParam, end: usize) -> Span {
    let start = b
        .get(..p.name.s as usize)
        .and_then(|before| memchr::memrchr(b';', before))
        .map_or(p.name.s as usize, |i| i + 1);
    let stop = match p.value {
        Some(v) => v.e as usize,
        None => params::skip_lws(b, p.name.e as usize, end),
    };
    Span::new(start, stop)
}

/// Where a trailing comment starts: `(text)` (nested parentheses allowed)
/// ending the value at `end`, after blanks that follow position `from`.
fn comment_start(b: &[u8], from: usize, end: usize) -> Option<usize> {
    if end == 0 || b.get(end - 1) != Some(&b')') {
        return None;
    }
    let mut depth = 0usize;
    let mut k = end;
    while k > from {
        k -= 1;
        match b[k] {
            b')' => depth += 1,
            b'(' => {
                depth -= 1;
                if depth == 0 {
                    // the comment must follow a blank or a closing quote
                    let mut s = k;
                    while s > from && crate::scan::is_lws(b[s - 1]) {
                        s -= 1;
                    }
                    let after_quote = k > from && b[k - 1] == b'"';
                    return (s < k || after_quote).then_some(s);
                }
            }
            _ => {}
        }
    }
    None
}

fn token_end(b: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && b.get(i).is_some_and(|&c| is_token(c)) {
        i += 1;
    }
    i
}

impl Via {
    /// Parses one Via value from any byte string (copies once).
    pub fn parse(s: &[u8]) -> Result<Via, ParseError> {
        Via::parse_at(Bytes::copy_from_slice(s), 0)
    }

    /// Parses one Via value held in `buf`, recording that `buf` starts at `base` in its message.
    pub(crate) fn parse_at(buf: Bytes, base: usize) -> Result<Via, ParseError> {
        if buf.len() > u32::MAX as usize {
            return Err(ParseError::TooLarge);
        }
        let b: &[u8] = &buf;
        let (mut i, end) = crate::scan::trim_range(b, 0, b.len());
        let ps = i;
        i = token_end(b, i, end);
        let protocol = Span::new(ps, i);
        i = params::skip_lws(b, i, end);
        // Kamailio's Via parser knows SIP/2.0 only (any case)
        if !protocol.get(b).eq_ignore_ascii_case(b"SIP") || b.get(i) != Some(&b'/') {
            return Err(bad("expected `SIP/`"));
        }
        i = params::skip_lws(b, i + 1, end);
        let vs = i;
        i = token_end(b, i, end);
        let version = Span::new(vs, i);
        i = params::skip_lws(b, i, end);
        if version.get(b) != b"2.0" || b.get(i) != Some(&b'/') {
            return Err(bad("expected version 2.0 and '/'"));
        }
        i = params::skip_lws(b, i + 1, end);
        let ts = i;
        // any transport name up to a blank (Kamailio: an unknown one is taken)
        while i < end
            && b.get(i)
                .is_some_and(|&c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b';' | b','))
        {
            i += 1;
        }
        let transport = Span::new(ts, i);
        if transport.is_empty() {
            return Err(bad("missing transport"));
        }
        let hs0 = i;
        i = params::skip_lws(b, i, end);
        if i == hs0 {
            return Err(bad("expected whitespace before sent-by"));
        }
        let hs = i;
        if b.get(i) == Some(&b'[') {
            let close = b
                .get(i..end)
                .and_then(|r| memchr::memchr(b']', r))
                .ok_or(bad("unterminated IPv6 reference"))?;
            i += close + 1;
        } else {
            // any byte up to a delimiter, as Kamailio's Via parser reads
            // the host (`a_b`, `x@y`, `12>.0.0.1` pass; `a(b` does not)
            while i < end
                && b.get(i).is_some_and(|&c| {
                    !matches!(
                        c,
                        b' ' | b'\t' | b'\r' | b'\n' | b':' | b';' | b',' | b'(' | b')' | b'['
                    )
                })
            {
                i += 1;
            }
        }
        let host = Span::new(hs, i);
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        let mut sent_by_end = i;
        let mut port = None;
        let j = params::skip_lws(b, i, end);
        if b.get(j) == Some(&b':') && j < end {
            let p0 = params::skip_lws(b, j + 1, end);
            let mut p1 = p0;
            while p1 < end && b.get(p1).is_some_and(|c| c.is_ascii_digit()) {
                p1 += 1;
            }
            let n = b
                .get(p0..p1)
                .and_then(crate::scan::parse_u32)
                .and_then(|p| u16::try_from(p).ok())
                .ok_or(bad("invalid port"))?;
            port = Some(n);
            i = p1;
            sent_by_end = p1;
        }
        // Empty values (`x=`, `rport=`) are taken, as Kamailio takes them;
        // only an empty branch is refused.
        // Kamailio takes a comment after the parameters: `;branch=x (text)`
        let end = comment_start(b, i, end).unwrap_or(end);
        let (ps, stop) = params::parse_raw(b, i, end, &[], params::Check::Via).map_err(bad)?;
        if stop != end {
            return Err(bad("junk after parameters"));
        }
        // What else Kamailio's Via parser refuses: a name starting with one
        // of `():[]`, an unquoted value holding `=` or `"`, a comma inside
        // quotes. (An unclosed quote runs to the end of the value.)
        for p in &ps {
            if matches!(
                p.name.get(b).first(),
                Some(b'(' | b')' | b':' | b'[' | b']')
            ) {
                return Err(bad("parameter name starts with one of `():[]`"));
            }
            if let Some(v) = p.value.map(|v| v.get(b)) {
                if v.starts_with(b"\"") {
                    if v.contains(&b',') {
                        return Err(bad("comma inside a quoted parameter value"));
                    }
                } else if v.iter().any(|&c| c == b'=' || c == b'"') {
                    return Err(bad("`=` or `\"` in a parameter value"));
                }
            }
        }
        // Kamailio refuses these without a value, and with an empty one as
        // the last parameter (`;received=` at the end; `alias=` anywhere)
        if let Some(last) = ps.len().checked_sub(1) {
            for (n, p) in ps.iter().enumerate() {
                let name = p.name.get(b);
                let valued = [&b"received"[..], b"ttl", b"maddr", b"i"]
                    .iter()
                    .any(|k| name.eq_ignore_ascii_case(k));
                let value = p.value.map(|v| v.get(b));
                let empty = value.is_some_and(|v| v.is_empty());
                let unclosed = value
                    .is_some_and(|v| v.starts_with(b"\"") && (v.len() < 2 || !v.ends_with(b"\"")));
                let alias = name.eq_ignore_ascii_case(b"alias");
                let branch = name.eq_ignore_ascii_case(b"branch");
                if (valued && p.value.is_none())
                    || (empty && alias)
                    || (empty && valued && n == last)
                {
                    return Err(bad("parameter needs a value"));
                }
                if unclosed && (valued || alias || branch) {
                    return Err(bad("unclosed quote"));
                }
            }
        }
        let mut via = Via {
            protocol,
            version,
            transport,
            host,
            port,
            sent_by: Span::new(hs, sent_by_end),
            branch: None,
            received: None,
            rport: None,
            rport_param: Span::new(end, end),
            received_param: Span::new(end, end),
            params: RawParams::new(),
            base,
            buf: Bytes::new(),
        };
        for p in &ps {
            let name = p.name.get(b);
            if name.eq_ignore_ascii_case(b"branch") {
                via.branch = Some(
                    p.value
                        .filter(|v| !v.is_empty())
                        .ok_or(bad("branch without value"))?,
                );
            } else if name.eq_ignore_ascii_case(b"received") {
                via.received = Some(p.value.ok_or(bad("received without value"))?);
                via.received_param = whole_param(b, p, end);
            } else if name.eq_ignore_ascii_case(b"rport") {
                via.rport_param = whole_param(b, p, end);
                // A value that is no port (`rport=`, `rport=abc`) counts as
                // none: Kamailio takes the message and fills the port in.
                via.rport = Some(p.value.and_then(|v| {
                    crate::scan::parse_u32(v.get(b)).and_then(|p| u16::try_from(p).ok())
                }));
            }
        }
        via.params = ps;
        via.buf = buf;
        Ok(via)
    }

    /// Protocol name, normally `SIP`.
    pub fn protocol(&self) -> &[u8] {
        self.protocol.get(&self.buf)
    }
    /// Protocol version, normally `2.0`.
    pub fn version(&self) -> &[u8] {
        self.version.get(&self.buf)
    }
    /// Transport as written (`UDP`, `tcp`, ...).
    pub fn transport(&self) -> &[u8] {
        self.transport.get(&self.buf)
    }
    /// Host as written (IPv6 keeps brackets).
    pub fn host(&self) -> &[u8] {
        self.host.get(&self.buf)
    }
    /// Host without IPv6 brackets, for comparing with a source address.
    pub fn host_unbracketed(&self) -> &[u8] {
        let h = self.host();
        h.strip_prefix(b"[")
            .and_then(|h| h.strip_suffix(b"]"))
            .unwrap_or(h)
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// `host[:port]` as written.
    pub fn sent_by(&self) -> &[u8] {
        self.sent_by.get(&self.buf)
    }
    pub fn branch(&self) -> Option<&[u8]> {
        self.branch.map(|s| s.get(&self.buf))
    }
    pub fn received(&self) -> Option<&[u8]> {
        self.received.map(|s| s.get(&self.buf))
    }
    /// `None`: no rport; `Some(None)`: `;rport` without value; `Some(Some(p))`: `;rport=p`.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.rport
    }
    pub fn params(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.params
            .iter()
            .map(|p| (p.name.get(&self.buf), p.value.map(|v| v.get(&self.buf))))
    }
    pub fn param(&self, name: &[u8]) -> Option<Option<&[u8]>> {
        params::find(&self.buf, &self.params, name)
    }
    /// The whole value text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Range of this value in the message buffer (leading/trailing LWS included as split).
    pub fn range(&self) -> std::ops::Range<usize> {
        self.base..self.base + self.buf.len()
    }
    /// Message offset just after the last non-LWS byte of this value (where params are appended).
    pub(crate) fn value_end(&self) -> usize {
        let t = crate::scan::trim_range(&self.buf, 0, self.buf.len());
        self.base + t.1
    }
    /// Message range of the whole `rport` parameter after its `;` (what
    /// Kamailio replaces with `rport=<port>`), when present.
    pub(crate) fn rport_param_range(&self) -> Option<std::ops::Range<usize>> {
        self.rport.map(|_| {
            self.base + self.rport_param.s as usize..self.base + self.rport_param.e as usize
        })
    }
    /// Message range of the whole last `received` parameter after its `;`.
    pub(crate) fn received_param_range(&self) -> Option<std::ops::Range<usize>> {
        self.received.map(|_| {
            self.base + self.received_param.s as usize..self.base + self.received_param.e as usize
        })
    }
    /// Message range of the `received` value, when present.
    pub(crate) fn received_range(&self) -> Option<std::ops::Range<usize>> {
        self.received
            .map(|s| self.base + s.s as usize..self.base + s.e as usize)
    }
    /// Message offset where a proxy inserts parameters in front of the
    /// existing ones: the first `;` after the sent-by (LWS before it kept),
    /// else the end of the value.
    pub(crate) fn params_start(&self) -> usize {
        let from = self.sent_by.e as usize;
        match self.buf.get(from..).and_then(|r| memchr::memchr(b';', r)) {
            Some(i) => self.base + from + i,
            None => self.value_end(),
        }
    }
    /// Whether the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(b"z9hG4bK"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic() {
        let v = Via::parse(
            b"SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport;received=1.2.3.4",
        )
        .unwrap();
        assert_eq!(v.protocol(), b"SIP");
        assert_eq!(v.version(), b"2.0");
        assert_eq!(v.transport(), b"UDP");
        assert_eq!(v.host(), b"pc33.atlanta.com");
        assert_eq!(v.port(), Some(5066));
        assert_eq!(v.sent_by(), b"pc33.atlanta.com:5066");
        assert_eq!(v.branch(), Some(&b"z9hG4bK776asdhds"[..]));
        assert!(v.is_rfc3261_branch());
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), Some(&b"1.2.3.4"[..]));
        assert_eq!(v.params().count(), 3);
    }

    #[test]
    fn lws_and_ipv6() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.transport(), b"UDP");
        assert_eq!(v.host(), b"192.0.2.2");
        assert_eq!(v.port(), None);
        assert!(!v.is_rfc3261_branch());
        let v = Via::parse(
            b"SIP/2.0/TCP [2001:db8::9:1]:5070 ; rport = 1234 ; received=[2001:db8::9:255]",
        )
        .unwrap();
        assert_eq!(v.host(), b"[2001:db8::9:1]");
        assert_eq!(v.host_unbracketed(), b"2001:db8::9:1");
        assert_eq!(v.port(), Some(5070));
        assert_eq!(v.rport(), Some(Some(1234)));
        assert_eq!(v.received(), Some(&b"[2001:db8::9:255]"[..]));
        let v = Via::parse(b"SIP/2.0/UDP 2001:db8::9:1;received=2001:db8::9:255");
        assert!(v.is_err(), "unbracketed IPv6 sent-by is refused");
    }

    /// Kamailio 5.6 takes empty values and an `rport` that is no port.
    #[test]
    fn lenient_values() {
        for b in [
            &b"SIP/2.0/UDP h;rport=x"[..],
            b"SIP/2.0/UDP h;rport=",
            b"SIP/2.0/UDP h;rport=99999",
            b"SIP/2.0/UDP h;x=;received=;branch=z9hG4bK1",
        ] {
            let v =
                Via::parse(b).unwrap_or_else(|e| panic!("{e:?}: {}", String::from_utf8_lossy(b)));
            if b.starts_with(b"SIP/2.0/UDP h;rport") {
                assert_eq!(v.rport(), Some(None));
            }
        }
    }

    #[test]
    fn invalid() {
        for b in [
            &b""[..],
            b"SIP/2.0/UDP",
            b"SIP/2.0 host",
            b"SIP/2.0/UDP 192.0.2.15;;",
            b"SIP/2.0/UDP h:70000",
            b"SIP/2.0/UDP h;branch",
            b"SIP/2.0/UDP h;branch=",
            b"SIP/2.0/UDP h junk",
        ] {
            assert!(Via::parse(b).is_err(), "{}", String::from_utf8_lossy(b));
        }
    }
}

/// What Kamailio 5.6.3's Via parser takes and refuses beyond the grammar.
#[cfg(test)]
mod kamailio_gate {
    use super::Via;

    #[test]
    fn versions_comments_and_empty_values() {
        for ok in [
            &b"sip/2.0/udp h:5060;branch=z9hG4bK1"[..],
            b"Sip / 2.0 / Udp h;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1 (a comment)",
            b"SIP/2.0/UDP h;branch=z9hG4bK1 (a (nested) one)",
            b"SIP/2.0/UDP h;received=;ttl=;maddr=;i=;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;rport=",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=",
            b"SIP/2.0/UDP h;alias;branch=z9hG4bK1",
            b"SIP/2.0/UDP a@b_c:5060;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a=b\"",
        ] {
            assert!(Via::parse(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"SIP/1.0/UDP h;branch=z9hG4bK1"[..],
            b"SIP/2.00/UDP h;branch=z9hG4bK1",
            b"XIP/2.0/UDP h;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;received=",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;ttl",
            b"SIP/2.0/UDP h;received;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;alias=;branch=z9hG4bK1",
            b"SIP/2.0/UDP h (c);branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1 (c) junk",
            b"SIP/2.0/UDP h;branch=z9hG4bK1 (open",
            b"SIP/2.0/UDP a(b;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1=x",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=a\"b",
        ] {
            assert!(Via::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn quoted_values_and_odd_names() {
        // no backslash escape; an unclosed quote runs to the end and hides
        // what follows (here `rport`)
        let v = Via::parse(b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a\\\" ;rport").unwrap();
        assert_eq!(v.param(b"x"), Some(Some(&b"\"a\\\""[..])));
        assert_eq!(v.rport(), Some(None));
        let v = Via::parse(b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a;rport").unwrap();
        assert_eq!(v.param(b"x"), Some(Some(&b"\"a;rport"[..])));
        assert_eq!(v.rport(), None);
        for ok in [
            &b"SIP/2.0/UDP h;branch=z9hG4bK1;comp=\"a"[..],
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a\"(c)",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x(y=1;<z>;@",
        ] {
            assert!(Via::parse(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"SIP/2.0/UDP h;branch=\"z9hG4bK1"[..],
            b"SIP/2.0/UDP h;branch=z9hG4bK1;received=\"1.2.3.4",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;alias=\"a",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a,b\"",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a,b",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;x=\"a\"b",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;(c)",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;:y=1",
            b"SIP/2.0/UDP h;[y;branch=z9hG4bK1",
            b"SIP/2.0/UDP h;branch=z9hG4bK1; ]y",
            b"SIP/2.0/UDP h;branch=z9hG4bK1;)",
        ] {
            assert!(Via::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
