//! `name-addr` / `addr-spec` header values: From, To, Contact, Route, Refer-To, ...

use crate::error::ParseError;
use crate::params::{self, RawParams, Span};
use crate::scan::{is_lws, is_token};
use crate::uri::Uri;
use bytes::Bytes;

/// `"Display" <uri>;params` or bare `uri;params` (header params, RFC 3261 20.10).
#[derive(Debug, Clone)]
pub struct NameAddr {
    buf: Bytes,
    display: Option<Span>,
    uri_span: Span,
    uri: Uri,
    angle: bool,
    params_span: Span,
    params: RawParams,
}

fn bad(w: &'static str) -> ParseError {
    ParseError::BadHeader("name-addr", w)
}

impl NameAddr {
    /// Parses from any byte string (copies once).
    pub fn parse(s: &[u8]) -> Result<NameAddr, ParseError> {
        NameAddr::parse_bytes(Bytes::copy_from_slice(s))
    }

    /// Parses a value held in `buf` without copying (surrounding LWS allowed).
    pub fn parse_bytes(buf: Bytes) -> Result<NameAddr, ParseError> {
        if buf.len() > u32::MAX as usize {
            return Err(ParseError::TooLarge);
        }
        let b: &[u8] = &buf;
        let (start, end) = crate::scan::trim_range(b, 0, b.len());
        if start >= end {
            return Err(bad("empty value"));
        }
        let mut i = start;
        let mut display = None;
        let angle;
        let uri_span;
        let laq = if b.get(i) == Some(&b'"') {
            let q = params::quoted_end(b, i, end).ok_or(bad("unterminated quoted display name"))?;
            display = Some(Span::new(i, q));
            i = params::skip_lws(b, q, end);
            if b.get(i) != Some(&b'<') || i >= end {
                return Err(bad("expected '<' after quoted display name"));
            }
            Some(i)
        } else {
            // A '<' outside quotes means name-addr; everything before it is a token display name.
            match memchr::memchr(b'<', &b[start..end]) {
                Some(p) => {
                    let p = start + p;
                    let (ds, de) = crate::scan::trim_range(b, start, p);
                    if de > ds {
                        if !b[ds..de].iter().all(|&c| is_token(c) || is_lws(c)) {
                            return Err(bad("display name must be a token list or quoted"));
                        }
                        display = Some(Span::new(ds, de));
                    }
                    Some(p)
                }
                None => None,
            }
        };
        let pstart;
        match laq {
            Some(l) => {
                let r = memchr::memchr(b'>', &b[l..end]).ok_or(bad("missing '>'"))? + l;
                uri_span = Span::new(l + 1, r);
                angle = true;
                pstart = r + 1;
            }
            None => {
                // addr-spec: URI params cannot be told from header params, so the URI ends at ';'.
                let semi = memchr::memchr(b';', &b[start..end]).map_or(end, |p| start + p);
                let (us, ue) = crate::scan::trim_range(b, start, semi);
                let u = &b[us..ue];
                if u.iter().any(|&c| matches!(c, b',' | b'?') || is_lws(c)) {
                    return Err(bad("addr-spec with ',', '?' or spaces must be in <>"));
                }
                uri_span = Span::new(us, ue);
                angle = false;
                pstart = semi;
            }
        }
        let uri = Uri::parse_bytes(buf.slice(uri_span.range()))?;
        let (ps, stop) =
            // `;tag=` (empty) is taken, as Kamailio takes it: the tag is then none.
            params::parse_raw(b, pstart, end, &[], params::Check::Names).map_err(bad)?;
        if stop != end {
            return Err(bad("junk after parameters"));
        }
        Ok(NameAddr {
            display,
            uri_span,
            uri,
            angle,
            params_span: Span::new(pstart, end),
            params: ps,
            buf,
        })
    }

    /// Display name as written (quotes kept); `None` when absent.
    pub fn display_name(&self) -> Option<&[u8]> {
        self.display.map(|s| s.get(&self.buf))
    }
    /// Display name without surrounding quotes (escapes left as they are).
    pub fn display_name_unquoted(&self) -> Option<&[u8]> {
        self.display_name().map(|d| {
            d.strip_prefix(b"\"")
                .and_then(|d| d.strip_suffix(b"\""))
                .unwrap_or(d)
        })
    }
    pub fn uri(&self) -> &Uri {
        &self.uri
    }
    /// URI text (without `<>`).
    pub fn uri_bytes(&self) -> &[u8] {
        self.uri_span.get(&self.buf)
    }
    /// Whether the URI was enclosed in `<>`.
    pub fn has_angle_brackets(&self) -> bool {
        self.angle
    }
    /// Header parameters (after the URI / after `>`).
    pub fn params(&self) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
        self.params
            .iter()
            .map(|p| (p.name.get(&self.buf), p.value.map(|v| v.get(&self.buf))))
    }
    /// Header parameter lookup (case-insensitive).
    pub fn param(&self, name: &[u8]) -> Option<Option<&[u8]>> {
        params::find(&self.buf, &self.params, name)
    }
    /// The header params section including its leading `;`.
    pub fn params_bytes(&self) -> &[u8] {
        self.params_span.get(&self.buf)
    }
    /// `tag` parameter value.
    pub fn tag(&self) -> Option<&[u8]> {
        self.param(b"tag").flatten().filter(|t| !t.is_empty())
    }
    /// Whole value as parsed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Range of the URI within [`NameAddr::as_bytes`].
    pub fn uri_range(&self) -> std::ops::Range<usize> {
        self.uri_span.range()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted() {
        let n = NameAddr::parse(
            b" \"Bell, Alexander\" <sip:a.g.bell@bell-tel.com;transport=tcp> ; tag = 43 ;x",
        )
        .unwrap();
        assert_eq!(n.display_name(), Some(&b"\"Bell, Alexander\""[..]));
        assert_eq!(n.display_name_unquoted(), Some(&b"Bell, Alexander"[..]));
        assert_eq!(n.uri_bytes(), b"sip:a.g.bell@bell-tel.com;transport=tcp");
        assert_eq!(n.uri().transport(), Some(&b"tcp"[..]));
        assert_eq!(n.tag(), Some(&b"43"[..]));
        assert_eq!(n.param(b"x"), Some(None));
        assert!(n.has_angle_brackets());
    }

    #[test]
    fn token_and_bare() {
        let n = NameAddr::parse(b"Alice Smith<sip:alice@atlanta.com>").unwrap();
        assert_eq!(n.display_name(), Some(&b"Alice Smith"[..]));
        assert_eq!(n.tag(), None);
        let n = NameAddr::parse(b"sip:bob@biloxi.com;tag=xyz;lr").unwrap();
        assert_eq!(n.display_name(), None);
        assert_eq!(n.uri_bytes(), b"sip:bob@biloxi.com");
        assert_eq!(n.uri().param(b"lr"), None);
        assert_eq!(n.tag(), Some(&b"xyz"[..]));
        assert_eq!(n.param(b"lr"), Some(None));
        assert!(!n.has_angle_brackets());
        let n = NameAddr::parse(b"<tel:+123>;tag=1").unwrap();
        assert_eq!(n.uri().user(), Some(&b"+123"[..]));
        let n = NameAddr::parse(b"\"a \\\"q\\\" b\"<sip:x@y>").unwrap();
        assert_eq!(n.display_name_unquoted(), Some(&b"a \\\"q\\\" b"[..]));
    }

    #[test]
    fn invalid() {
        for b in [
            &b""[..],
            b"\"unterminated <sip:a@b>",
            b"Bell, Alexander <sip:a@b>",
            b"<sip:a@b",
            b"< sip:a@b >",
            b"sip:a@b?Route=x",
            b"<sip:a@b>;;",
            b"<sip:a@b> junk",
            b"\"x\" sip:a@b",
        ] {
            assert!(
                NameAddr::parse(b).is_err(),
                "{}",
                String::from_utf8_lossy(b)
            );
        }
    }
}

/// A From/To value split the way Kamailio's To parser splits it, without
/// checking the URI: what `$fu`/`$tu`/`$ft`/`$tt`/`$fn`/`$tn` read when the
/// value is no valid name-addr (`From: <a@b>;tag=1` gives `a@b` and `1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseNameAddr<'a> {
    pub display: Option<&'a [u8]>,
    pub uri: &'a [u8],
    pub tag: Option<&'a [u8]>,
}

impl<'a> LooseNameAddr<'a> {
    /// None when even the shape is wrong (empty, unclosed quote or `<`).
    pub fn split(v: &'a [u8]) -> Option<LooseNameAddr<'a>> {
        let v = v.trim_ascii();
        if v.is_empty() {
            return None;
        }
        let (display, rest) = if v.starts_with(b"\"") {
            let close = params::quoted_end(v, 0, v.len())?;
            (Some(v.get(..close)?), v.get(close..)?)
        } else {
            (None, v)
        };
        let (display, uri, params) = match memchr::memchr(b'<', rest) {
            Some(l) => {
                let r = l + memchr::memchr(b'>', rest.get(l..)?)?;
                let display = display.or_else(|| {
                    let d = rest.get(..l)?.trim_ascii();
                    (!d.is_empty()).then_some(d)
                });
                (display, rest.get(l + 1..r)?, rest.get(r + 1..)?)
            }
            None if display.is_some() => return None,
            None => {
                let semi = memchr::memchr(b';', rest).unwrap_or(rest.len());
                (None, rest.get(..semi)?.trim_ascii(), rest.get(semi..)?)
            }
        };
        let tag = params.split(|&c| c == b';').skip(1).find_map(|p| {
            let (name, value) = match memchr::memchr(b'=', p) {
                Some(e) => (&p[..e], &p[e + 1..]),
                None => (p, &b""[..]),
            };
            name.trim_ascii()
                .eq_ignore_ascii_case(b"tag")
                .then(|| value.trim_ascii())
        });
        Some(LooseNameAddr {
            display,
            uri,
            tag: tag.filter(|t| !t.is_empty()),
        })
    }
}

#[cfg(test)]
mod loose_tests {
    use super::LooseNameAddr;

    #[test]
    fn loose_split() {
        let l = LooseNameAddr::split(b" <a@b>;tag=1").unwrap();
        assert_eq!(
            (l.uri, l.tag, l.display),
            (&b"a@b"[..], Some(&b"1"[..]), None)
        );
        let l = LooseNameAddr::split(b"\"X Y\" <a@b>").unwrap();
        assert_eq!(l.display, Some(&b"\"X Y\""[..]));
        let l = LooseNameAddr::split(b"@@@;tag=").unwrap();
        assert_eq!((l.uri, l.tag), (&b"@@@"[..], None));
        assert!(LooseNameAddr::split(b"<a@b").is_none());
        assert!(LooseNameAddr::split(b"\"open <a@b>").is_none());
        assert!(LooseNameAddr::split(b"  ").is_none());
    }
}
