//! SIP/SIPS/TEL URIs (RFC 3261 19.1, RFC 3966); other schemes are kept opaque.
//!
//! A [`Uri`] owns a cheap `Bytes` handle of its text and `u32` ranges into it, so it can
//! be parsed from a message buffer without copying or from any byte string.

use crate::error::ParseError;
use crate::params::{self, RawParams, Span};
use bytes::Bytes;

/// URI scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Unknown scheme: everything after `scheme:` is opaque.
    Other,
}

/// A parsed URI. Accessors return raw (still %-escaped) bytes.
#[derive(Debug, Clone)]
pub struct Uri {
    buf: Bytes,
    scheme_kind: Scheme,
    scheme: Span,
    user: Option<Span>,
    password: Option<Span>,
    host: Span,
    port_span: Option<Span>,
    port: Option<u16>,
    params_span: Span,
    params: RawParams,
    headers: Option<Span>,
}

fn bad(w: &'static str) -> ParseError {
    ParseError::BadUri(w)
}

#[inline]
fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')
}

impl Uri {
    /// Parses a URI from any byte string (copies it once into a `Bytes`).
    pub fn parse(s: &[u8]) -> Result<Uri, ParseError> {
        Uri::parse_bytes(Bytes::copy_from_slice(s))
    }

    /// Parses a URI held in `buf` without copying.
    pub fn parse_bytes(buf: Bytes) -> Result<Uri, ParseError> {
        if buf.len() > u32::MAX as usize {
            return Err(ParseError::TooLarge);
        }
        let b: &[u8] = &buf;
        let end = b.len();
        let colon = memchr::memchr(b':', b).ok_or(bad("no scheme"))?;
        let scheme = &b[..colon];
        if !scheme.first().is_some_and(|c| c.is_ascii_alphabetic())
            || !scheme
                .iter()
                .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(bad("invalid scheme"));
        }
        let kind = if scheme.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        // Blanks and control bytes are taken where Kamailio takes them (in the
        // user, password, parameters, headers and a host without user:
        // `sip:a b@h;p=1 2` parses) and refused in a host after `@` or a port.
        let mut uri = Uri {
            scheme_kind: kind,
            scheme: Span::new(0, colon),
            user: None,
            password: None,
            host: Span::new(colon + 1, end),
            port_span: None,
            port: None,
            params_span: Span::new(end, end),
            params: RawParams::new(),
            headers: None,
            buf: Bytes::new(),
        };
        let rest = colon + 1;
        match kind {
            Scheme::Other => {
                if rest == end {
                    return Err(bad("empty URI after scheme"));
                }
                if scheme.eq_ignore_ascii_case(b"urn") {
                    Uri::parse_urn(b, rest, &mut uri)?;
                }
            }
            Scheme::Tel => {
                // tel:number;params — the number is exposed as `user` (like Kamailio's $rU).
                let semi = memchr::memchr(b';', &b[rest..]).map_or(end, |i| rest + i);
                if semi == rest {
                    return Err(bad("empty telephone number"));
                }
                // `tel:+1@x`: Kamailio takes what follows the `@` as the number
                let num = memchr::memchr(b'@', &b[rest..semi]).map_or(rest, |i| rest + i + 1);
                if b[num..semi].iter().any(|&c| matches!(c, b'[' | b']')) {
                    return Err(bad("'[' or ']' in a telephone number"));
                }
                uri.user = Some(Span::new(num, semi));
                uri.host = Span::new(semi, semi);
                let (ps, _) =
                    params::parse_raw(b, semi, end, &[], params::Check::Uri).map_err(bad)?;
                uri.params = ps;
                uri.params_span = Span::new(semi, end);
            }
            Scheme::Sip | Scheme::Sips => Uri::parse_sip(b, rest, &mut uri)?,
        }
        uri.buf = buf;
        Ok(uri)
    }

    /// `urn:` the way Kamailio reads it: with an `@`, like a SIP URI
    /// (`urn:service:sos@host` has user `service`); without, `a:b` is user `a`
    /// and host `b` unless `b` is a port number, and `;`/`?` are refused.
    fn parse_urn(b: &[u8], rest: usize, uri: &mut Uri) -> Result<(), ParseError> {
        let end = b.len();
        if memchr::memchr(b'@', &b[rest..]).is_some() {
            // Kamailio does not expose a urn:'s parameters (`{uri.params}` is empty)
            Uri::parse_sip(b, rest, uri)?;
            uri.params = RawParams::new();
            uri.params_span = Span::new(end, end);
            return Ok(());
        }
        let body = &b[rest..];
        if body.iter().any(|&c| c == b';' || c == b'?') {
            return Err(bad("parameters in a urn: without '@'"));
        }
        let (user, host, port) = match memchr::memchr(b':', body) {
            None => (None, Span::new(rest, end), None),
            Some(c) => {
                let (l, r) = (Span::new(rest, rest + c), Span::new(rest + c + 1, end));
                let rb = r.get(b);
                if rb.contains(&b':') {
                    return Err(bad("too many ':' in urn:"));
                }
                if !rb.is_empty() && rb.iter().all(u8::is_ascii_digit) {
                    (None, l, Some(r))
                } else {
                    (Some(l), r, None)
                }
            }
        };
        let hb = host.get(b);
        if hb.is_empty() || !hb.iter().all(|&c| is_host_char(c)) {
            return Err(bad("invalid host in urn:"));
        }
        if let Some(p) = port {
            uri.port = Some(
                crate::scan::parse_u32(p.get(b))
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(bad("invalid port"))?,
            );
            uri.port_span = Some(p);
        }
        uri.user = user;
        uri.host = host;
        uri.params_span = Span::new(end, end);
        Ok(())
    }

    fn parse_sip(b: &[u8], rest: usize, uri: &mut Uri) -> Result<(), ParseError> {
        let end = b.len();
        // '@' cannot appear unescaped in host, params or headers, but '?' can in the user.
        let mut hp = rest;
        if let Some(at) = memchr::memchr(b'@', &b[rest..]) {
            let at = rest + at;
            let ui = &b[rest..at];
            // Kamailio's parser: brackets open an IPv6 host, never a user;
            // a password ends at `:`, `;` or `?`
            if ui.iter().any(|&c| matches!(c, b'[' | b']')) {
                return Err(bad("'[' or ']' in the user part"));
            }
            match memchr::memchr(b':', ui) {
                Some(c) => {
                    let password = &ui[c + 1..];
                    if password.iter().any(|&c| matches!(c, b':' | b';' | b'?')) {
                        return Err(bad("':', ';' or '?' in the password"));
                    }
                    uri.user = Some(Span::new(rest, rest + c));
                    uri.password = Some(Span::new(rest + c + 1, at));
                }
                None => uri.user = Some(Span::new(rest, at)),
            }
            if at == rest {
                return Err(bad("empty user part before '@'"));
            }
            hp = at + 1;
        }
        let qmark = memchr::memchr(b'?', &b[hp..]).map_or(end, |i| hp + i);
        let mut i = hp;
        if b.get(i) == Some(&b'[') {
            let close =
                memchr::memchr(b']', &b[i..qmark]).ok_or(bad("unterminated IPv6 reference"))?;
            let inner = &b[i + 1..i + close];
            if inner.is_empty()
                || !inner
                    .iter()
                    .all(|&c| c.is_ascii_hexdigit() || c == b':' || c == b'.')
            {
                return Err(bad("invalid IPv6 reference"));
            }
            i += close + 1;
        } else if hp == rest {
            // no user: Kamailio reads the host to a delimiter and does not
            // check its bytes (`sip:h"x` has host `h"x`), brackets aside
            while i < qmark && !matches!(b[i], b':' | b';' | b'[' | b']') {
                i += 1;
            }
        } else {
            while i < qmark && is_host_char(b[i]) {
                i += 1;
            }
        }
        if i == hp {
            return Err(bad("empty host"));
        }
        uri.host = Span::new(hp, i);
        if b.get(i) == Some(&b':') && i < qmark {
            let ps = i + 1;
            let mut j = ps;
            while j < qmark && b[j].is_ascii_digit() {
                j += 1;
            }
            // `host:` with no digits is accepted (Kamailio: an empty `$rp`)
            if j > ps {
                let port = crate::scan::parse_u32(&b[ps..j])
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or(bad("invalid port"))?;
                uri.port = Some(port);
            }
            uri.port_span = Some(Span::new(ps, j));
            i = j;
        }
        if i < qmark && b[i] != b';' {
            return Err(bad("unexpected character after host"));
        }
        let (ps, stop) = params::parse_raw(b, i, qmark, &[], params::Check::Uri).map_err(bad)?;
        uri.params = ps;
        uri.params_span = Span::new(i, stop);
        if qmark < end {
            uri.headers = Some(Span::new(qmark + 1, end));
        }
        Ok(())
    }

    /// The whole URI text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// The owned buffer the URI was parsed from.
    pub fn bytes(&self) -> &Bytes {
        &self.buf
    }
    pub fn scheme(&self) -> Scheme {
        self.scheme_kind
    }
    /// A scheme Kamailio's URI parser knows (`sip`, `sips`, `tel`, `urn`); the
    /// others (`im:`, `http:` ...) do not parse there, so script variables read
    /// null for them.
    pub fn is_known_scheme(&self) -> bool {
        self.scheme_kind != Scheme::Other || self.scheme_bytes().eq_ignore_ascii_case(b"urn")
    }
    /// The scheme in lower case, as Kamailio prints `$rz` (`SIP:` reads `sip`).
    pub fn scheme_lower(&self) -> Vec<u8> {
        self.scheme_bytes().to_ascii_lowercase()
    }
    /// Scheme text as written (e.g. `sip`, `SIPS`).
    pub fn scheme_bytes(&self) -> &[u8] {
        self.scheme.get(&self.buf)
    }
    /// User part (the number for `tel:`), raw; `None` when absent.
    pub fn user(&self) -> Option<&[u8]> {
        self.user.map(|s| s.get(&self.buf))
    }
    pub fn password(&self) -> Option<&[u8]> {
        self.password.map(|s| s.get(&self.buf))
    }
    /// Host as written; IPv6 references keep their brackets. For opaque URIs, everything after the scheme.
    pub fn host(&self) -> &[u8] {
        self.host.get(&self.buf)
    }
    /// Host without IPv6 brackets.
    pub fn host_unbracketed(&self) -> &[u8] {
        let h = self.host();
        h.strip_prefix(b"[")
            .and_then(|h| h.strip_suffix(b"]"))
            .unwrap_or(h)
    }
    pub fn port(&self) -> Option<u16> {
        self.port
    }
    /// Port text as written, if any.
    pub fn port_bytes(&self) -> Option<&[u8]> {
        self.port_span.map(|s| s.get(&self.buf))
    }
    /// `host[:port]` as written.
    pub fn hostport(&self) -> &[u8] {
        let e = self.port_span.map_or(self.host.e, |p| p.e);
        Span { s: self.host.s, e }.get(&self.buf)
    }
    /// The `;...` parameter section including its leading `;` (empty when none).
    pub fn params_bytes(&self) -> &[u8] {
        self.params_span.get(&self.buf)
    }
    /// `(name, value)` of each URI parameter.
    pub fn params(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.params
            .iter()
            .map(|p| (p.name.get(&self.buf), p.value.map(|v| v.get(&self.buf))))
    }
    /// Parameter lookup (case-insensitive): `Some(None)` when present without value.
    pub fn param(&self, name: &[u8]) -> Option<Option<&[u8]>> {
        params::find(&self.buf, &self.params, name)
    }
    /// A parameter as Kamailio's parameter lists read it (built in reverse,
    /// so a repeated parameter is its last occurrence); name case-insensitive.
    pub fn param_last(&self, name: &[u8]) -> Option<Option<&[u8]>> {
        self.params()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .last()
            .map(|(_, v)| v)
    }
    /// Value of the `transport` parameter; when repeated, the last one counts
    /// (as Kamailio's URI parser, which keeps overwriting it).
    pub fn transport(&self) -> Option<&[u8]> {
        self.param_last(b"transport").flatten()
    }
    /// Header part after `?`, raw.
    pub fn headers(&self) -> Option<&[u8]> {
        self.headers.map(|s| s.get(&self.buf))
    }
    /// Byte range of the user part within [`Uri::as_bytes`], for edits.
    pub fn user_range(&self) -> Option<std::ops::Range<usize>> {
        self.user.map(|s| s.range())
    }
    /// Byte range of the host within [`Uri::as_bytes`].
    pub fn host_range(&self) -> std::ops::Range<usize> {
        self.host.range()
    }
}

/// Decodes `%XX` escapes; invalid escapes are kept literally.
pub fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|&x| (x as char).to_digit(16)),
                s.get(i + 2).and_then(|&x| (x as char).to_digit(16)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urn_tel_and_empty_port_as_kamailio() {
        let u = Uri::parse(b"urn:service:sos").unwrap();
        assert!(u.is_known_scheme());
        assert_eq!(
            (u.user(), u.host(), u.port()),
            (Some(&b"service"[..]), &b"sos"[..], None)
        );
        let u = Uri::parse(b"urn:service:5070").unwrap();
        assert_eq!(
            (u.user(), u.host(), u.port()),
            (None, &b"service"[..], Some(5070))
        );
        let u = Uri::parse(b"urn:a:b@c:5070;x=y").unwrap();
        assert_eq!(
            (u.user(), u.password(), u.host()),
            (Some(&b"a"[..]), Some(&b"b"[..]), &b"c"[..])
        );
        assert_eq!(u.params_bytes(), b"");
        for bad in [&b"urn:a:b:c"[..], b"urn:a:b;x=1", b"urn:a?x", b"urn:a:"] {
            assert!(Uri::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(!Uri::parse(b"im:a@b").unwrap().is_known_scheme());
        assert_eq!(Uri::parse(b"tel:+1@x").unwrap().user(), Some(&b"x"[..]));
        let u = Uri::parse(b"sip:b@h:;lr").unwrap();
        assert_eq!((u.port(), u.port_bytes()), (None, Some(&b""[..])));
        assert_eq!(Uri::parse(b"SIPS:b@h").unwrap().scheme_lower(), b"sips");
    }

    #[test]
    fn full_sip() {
        let u = Uri::parse(
            b"sip:alice:secret@Example.COM:5070;transport=tcp;lr;maddr=1.2.3.4?subject=x&a=b",
        )
        .unwrap();
        assert_eq!(u.scheme(), Scheme::Sip);
        assert_eq!(u.user(), Some(&b"alice"[..]));
        assert_eq!(u.password(), Some(&b"secret"[..]));
        assert_eq!(u.host(), b"Example.COM");
        assert_eq!(u.port(), Some(5070));
        assert_eq!(u.port_bytes(), Some(&b"5070"[..]));
        assert_eq!(u.hostport(), b"Example.COM:5070");
        assert_eq!(u.transport(), Some(&b"tcp"[..]));
        assert_eq!(u.param(b"LR"), Some(None));
        assert_eq!(u.param(b"maddr"), Some(Some(&b"1.2.3.4"[..])));
        assert_eq!(u.params_bytes(), b";transport=tcp;lr;maddr=1.2.3.4");
        assert_eq!(u.headers(), Some(&b"subject=x&a=b"[..]));
    }

    #[test]
    fn minimal_and_ipv6() {
        let u = Uri::parse(b"sips:[2001:db8::10]:5061").unwrap();
        assert_eq!(u.scheme(), Scheme::Sips);
        assert_eq!(u.user(), None);
        assert_eq!(u.host(), b"[2001:db8::10]");
        assert_eq!(u.host_unbracketed(), b"2001:db8::10");
        assert_eq!(u.port(), Some(5061));
        let u = Uri::parse(b"sip:u@[::1];lr").unwrap();
        assert_eq!(u.host(), b"[::1]");
        assert_eq!(u.port(), None);
        assert_eq!(u.param(b"lr"), Some(None));
        let u = Uri::parse(b"sip:example.com").unwrap();
        assert_eq!(u.host(), b"example.com");
    }

    #[test]
    fn semicolon_user_and_escapes() {
        let u = Uri::parse(b"sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user(), Some(&b"user;par=u%40example.net"[..]));
        assert_eq!(u.host(), b"example.com");
        assert_eq!(unescape(b"sip%3Aa%40b%zz"), b"sip:a@b%zz");
    }

    #[test]
    fn tel_and_opaque() {
        let u = Uri::parse(b"tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(u.scheme(), Scheme::Tel);
        assert_eq!(u.user(), Some(&b"+1-201-555-0123"[..]));
        assert_eq!(u.param(b"phone-context"), Some(Some(&b"example.com"[..])));
        let u = Uri::parse(b"nobodyknowsthisscheme:totallyopaquecontent").unwrap();
        assert_eq!(u.scheme(), Scheme::Other);
        assert_eq!(u.scheme_bytes(), b"nobodyknowsthisscheme");
        assert_eq!(u.host(), b"totallyopaquecontent");
        assert_eq!(u.user(), None);
    }

    #[test]
    fn invalid() {
        for b in [
            &b""[..],
            b"sip",
            b"<sip:a@b>",
            b"sip:",
            b"sip:@host",
            b"sip:a@",
            b"sip:a@host:99999",
            b"sip:a@host:x",
            b"sip:a@[::1",
            b"sip:a@b c",
            b"1sip:a",
            b"tel:",
        ] {
            assert!(Uri::parse(b).is_err(), "{}", String::from_utf8_lossy(b));
        }
    }

    /// Bytes Kamailio 5.6.3's URI parser takes and refuses (probed byte by
    /// byte in the R-URI and From).
    #[test]
    fn odd_bytes_as_kamailio() {
        let u = Uri::parse(b"sip:a\x01b:p\x7fq@h;x\x00y=1?h=\x1f").unwrap();
        assert_eq!(u.user(), Some(&b"a\x01b"[..]));
        assert_eq!(u.host(), b"h");
        // no user: the host bytes are not checked
        let u = Uri::parse(b"sip:h\"x!\x00:5060").unwrap();
        assert_eq!(u.host(), b"h\"x!\x00");
        assert_eq!(u.port(), Some(5060));
        assert_eq!(
            Uri::parse(b"tel:12\x073").unwrap().user(),
            Some(&b"12\x073"[..])
        );
        // blanks too (`$ru = "sip:a b@h"`, `{uri.user}`); a request line or
        // a From/To value refuses them before the URI parser sees them
        let u = Uri::parse(b"sip:a b:p\tw@h;p=1 2?h=x y").unwrap();
        assert_eq!(u.user(), Some(&b"a b"[..]));
        assert_eq!(u.host(), b"h");
        for b in [
            &b"sip:a[@h"[..],
            b"sip:a]b@h",
            b"sip:a:p[@h",
            b"sip:a:p:q@h",
            b"sip:a:p;q@h",
            b"sip:a:p?q@h",
            b"sip:a@h\x01x",
            b"sip:a@h\"x",
            b"sip:h]x",
            b"tel:12[3",
            b"sip:a@h x",
            b"sip:a@h:50 60",
        ] {
            assert!(Uri::parse(b).is_err(), "{}", String::from_utf8_lossy(b));
        }
    }
}
