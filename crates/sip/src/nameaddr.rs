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
/// checking the URI: what `$fu`/`$tu`/`$ft`/`$tt`/`$fn`/`$tn` read (`From:
/// <a@b>;tag=1` gives `a@b` and `1`), and the shape a To header must have
/// for the message to be taken at all. Observed on Kamailio 5.6.3:
/// - display: a quoted string (backslash escapes) or words with no `"` or
///   `;`, then `<uri>`; spaces inside `<` `>` around the URI are dropped, in
///   it none, nor `"`, `<` or a backslash, and it is not empty;
/// - a bare URI ends at a blank or `;` and holds no `"`, `<`, `>` or backslash;
/// - parameters: `;name[=value]` with blanks around the parts; the value a
///   quoted string (ending at the next `"`, no escapes: the quotes are not
///   part of it) or text without blanks, `;`, `"`, a backslash or `=`; an empty
///   name, a trailing `;` or anything after the last value refuses the whole
///   value; the last `tag` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LooseNameAddr<'a> {
    pub display: Option<&'a [u8]>,
    pub uri: &'a [u8],
    pub tag: Option<&'a [u8]>,
}

/// Blanks between the parts of a From/To value (a folded line too).
fn skip_blanks(v: &[u8], i: usize) -> usize {
    params::skip_lws(v, i, v.len())
}

impl<'a> LooseNameAddr<'a> {
    /// None when the value does not have that shape.
    pub fn split(v: &'a [u8]) -> Option<LooseNameAddr<'a>> {
        let mut end = v.len();
        while end > 0 && is_lws(v[end - 1]) {
            end -= 1;
        }
        let v = &v[..end];
        let start = skip_blanks(v, 0);
        if start >= end {
            return None;
        }
        let (display, uri, after) = if v[start] == b'"' {
            let close = params::quoted_end(v, start, v.len())?;
            let l = skip_blanks(v, close);
            let (uri, after) = angle_uri(v, l)?;
            (Some(&v[start..close]), uri, after)
        } else if let Some(l) = memchr::memchr(b'<', &v[start..]).map(|l| start + l) {
            let words = v[start..l].trim_ascii();
            if words.iter().any(|&c| c == b'"' || c == b';') {
                return None;
            }
            let (uri, after) = angle_uri(v, l)?;
            ((!words.is_empty()).then_some(words), uri, after)
        } else {
            let stop = v[start..]
                .iter()
                .position(|&c| is_lws(c) || c == b';')
                .map_or(end, |p| start + p);
            let uri = &v[start..stop];
            if uri.iter().any(|&c| matches!(c, b'"' | b'<' | b'>' | b'\\')) {
                return None;
            }
            (None, uri, stop)
        };
        // Kamailio's To parser stops at a NUL byte before the parameters
        // (one escaped in a quoted display name is taken: RFC 4475 intmeth)
        if uri.contains(&0) || display.is_some_and(has_unescaped_nul) {
            return None;
        }
        let tag = tag_param(v, after)?;
        Some(LooseNameAddr { display, uri, tag })
    }
}

fn has_unescaped_nul(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        match c {
            0 => return true,
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    false
}

/// `<uri>` at `l`: the URI (blanks around it dropped) and the index after `>`.
fn angle_uri(v: &[u8], l: usize) -> Option<(&[u8], usize)> {
    if v.get(l) != Some(&b'<') {
        return None;
    }
    let us = skip_blanks(v, l + 1);
    let mut ue = us;
    while let Some(&c) = v.get(ue) {
        if is_lws(c) || c == b'>' {
            break;
        }
        if matches!(c, b'"' | b'<' | b'\\') {
            return None;
        }
        ue += 1;
    }
    let r = skip_blanks(v, ue);
    (ue > us && v.get(r) == Some(&b'>')).then_some((&v[us..ue], r + 1))
}

/// The parameters from `i` to the end: Some(last tag) when they all parse
/// (an empty tag is none).
fn tag_param(v: &[u8], mut i: usize) -> Option<Option<&[u8]>> {
    let mut tag = None;
    loop {
        i = skip_blanks(v, i);
        if i >= v.len() {
            return Some(tag.filter(|t: &&[u8]| !t.is_empty()));
        }
        if v[i] != b';' {
            return None;
        }
        i = skip_blanks(v, i + 1);
        let ns = i;
        // a name is any bytes up to a blank, `=` or `;` (`"` or `,` refuses it)
        while let Some(&c) = v.get(i) {
            if is_lws(c) || c == b'=' || c == b';' {
                break;
            }
            if c == b'"' || c == b',' {
                return None;
            }
            i += 1;
        }
        if i == ns {
            return None;
        }
        let name = &v[ns..i];
        let is_tag = name.eq_ignore_ascii_case(b"tag");
        i = skip_blanks(v, i);
        let mut value: &[u8] = b"";
        if v.get(i) == Some(&b'=') {
            i = skip_blanks(v, i + 1);
            if v.get(i) == Some(&b'"') {
                let close = i + 1 + memchr::memchr(b'"', &v[i + 1..])?;
                value = &v[i + 1..close];
                i = close + 1;
            } else {
                let vs = i;
                while let Some(&c) = v.get(i) {
                    if is_lws(c) || c == b';' {
                        break;
                    }
                    // (a comma starts another value, except in a tag:
                    // `;tag=a,b` reads `a,b`)
                    if matches!(c, b'"' | b'\\' | b'=') || (c == b',' && !is_tag) {
                        return None;
                    }
                    i += 1;
                }
                value = &v[vs..i];
            }
        }
        if is_tag {
            tag = Some(value);
        }
    }
}

#[cfg(test)]
mod loose_tests {
    use super::LooseNameAddr;

    fn parts(v: &str) -> Option<(String, Option<String>, Option<String>)> {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        LooseNameAddr::split(v.as_bytes()).map(|l| (s(l.uri), l.display.map(s), l.tag.map(s)))
    }

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
        // a NUL before the parameters ends Kamailio's parse, unless escaped
        // in a quoted display name
        assert!(LooseNameAddr::split(b"<sip:a\0b@h>").is_none());
        assert!(LooseNameAddr::split(b"\"a\0b\" <sip:a@h>").is_none());
        assert!(LooseNameAddr::split(b"\"a\\\0b\" <sip:a@h>").is_some());
        assert!(LooseNameAddr::split(b"<sip:a@h>;x=\0").is_some());
        // commas: in a tag value kept, in another value or a name refused
        let l = LooseNameAddr::split(b"<sip:a@h>;tag=a,b").unwrap();
        assert_eq!(l.tag, Some(&b"a,b"[..]));
        assert!(LooseNameAddr::split(b"<sip:a@h>;tag=1;x=\"a,b\"").is_some());
        for bad in [
            &b"<sip:a@h>;,ag=1"[..],
            b"<sip:a@h>;a,b=1",
            b"<sip:a@h>;x=b,c",
            b"<sip:a@h>;,",
        ] {
            assert!(
                LooseNameAddr::split(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    /// Values and what Kamailio 5.6.3 reads from them (its To parser).
    #[test]
    fn as_kamailio_splits() {
        let ok = |v: &str, uri: &str, display: Option<&str>, tag: Option<&str>| {
            assert_eq!(
                parts(v),
                Some((
                    uri.to_string(),
                    display.map(str::to_string),
                    tag.map(str::to_string)
                )),
                "{v:?}"
            );
        };
        ok("< sip:a@x >", "sip:a@x", None, None);
        ok("<sip:a@x>;tag=1;tag=2", "sip:a@x", None, Some("2"));
        ok("<sip:a@x>;tag=\"q\"", "sip:a@x", None, Some("q"));
        ok("<sip:a@x>;tag=\"a b\"", "sip:a@x", None, Some("a b"));
        ok("<sip:a@x>;tag=1;tag", "sip:a@x", None, None);
        ok("<sip:a@x>;x = \"y\" ;tag = z", "sip:a@x", None, Some("z"));
        ok(
            "<sip:a@x>;tag=1,<sip:b@y>",
            "sip:a@x",
            None,
            Some("1,<sip:b@y>"),
        );
        ok("<sip:a@x>;x=\"a;b\";tag=2", "sip:a@x", None, Some("2"));
        ok("\"A\\\"B\" <sip:a@x>", "sip:a@x", Some("\"A\\\"B\""), None);
        ok("A  B<sip:a@x>", "sip:a@x", Some("A  B"), None);
        ok("A,B <sip:a@x>", "sip:a@x", Some("A,B"), None);
        ok("\"A\"\r\n <sip:a@x>", "sip:a@x", Some("\"A\""), None);
        ok("sip:a@x\r\n ;tag=1", "sip:a@x", None, Some("1"));
        ok("sip:a@x?h=v;tag=1", "sip:a@x?h=v", None, Some("1"));
        ok("<sip:a,b@x>", "sip:a,b@x", None, None);
        ok("<:>", ":", None, None);
        ok("<sip:a@x>;p=;tag=9", "sip:a@x", None, Some("9"));
        ok("*", "*", None, None);
        for bad in [
            "<>",
            "sip:a@x, sip:b@y",
            "<sip:a@exa<mple>",
            "<sip:a@\r\n example.com>",
            "<sip:a b@x>",
            "<sip:a@x>;tag=5\"",
            "<sip:a@x>;tag=a b",
            "<sip:a@x>;;tag=1",
            "<sip:a@x>;tag=1;",
            "<sip:a@x>; ;tag=1",
            "<sip:a@x>;=1",
            "<sip:a@x>;\"q\"=1",
            "<sip:a@x>;tag=a=b",
            "<sip:a@x>;tag=a\\b",
            "<sip:b@ex\\mple.com>;tag=1",
            "<sip:a@x>;tag=a;b=\"c\\\"d\"",
            "<sip:a@x>;x=\"unterminated",
            "<sip:a@x> junk",
            "<sip:a@x>x",
            "sip:a@x junk",
            "<sip:a@x>>",
            "<<sip:a@x>",
            "A\"B\" <sip:a@x>",
            "A;B <sip:a@x>",
            "\"A\" \"B\" <sip:a@x>",
            "\"A\"B <sip:a@x>",
            "sip:a@x>",
            "sip:a@x<",
            "sip:a\"b@x",
            "<sip:a\"b@x>",
            "\"A\" <sip:a@x>;tag=1 , \"B\" <sip:b@y>",
        ] {
            assert_eq!(parts(bad), None, "{bad:?}");
        }
    }
}
