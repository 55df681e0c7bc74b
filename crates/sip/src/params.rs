//! `;name=value` parameter lists (URI, Via, name-addr and generic header params).
//!
//! The free functions work on arbitrary byte strings so the script layer can use them
//! for `{param.value,name}` and friends.

use crate::scan::is_lws;
use smallvec::SmallVec;

/// A `u32` byte range into an owned buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Span {
    pub s: u32,
    pub e: u32,
}

impl Span {
    #[inline]
    pub fn new(s: usize, e: usize) -> Span {
        // Callers guarantee buffers below 4 GiB (checked at parse entry points).
        Span {
            s: s as u32,
            e: e as u32,
        }
    }
    #[inline]
    pub fn get<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.s as usize..self.e as usize)
            .unwrap_or_default()
    }
    #[inline]
    pub fn range(&self) -> std::ops::Range<usize> {
        self.s as usize..self.e as usize
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.e <= self.s
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RawParam {
    pub name: Span,
    pub value: Option<Span>,
}

pub(crate) type RawParams = SmallVec<[RawParam; 4]>;

/// Looks a parameter up case-insensitively in a parsed list.
pub(crate) fn find<'a>(buf: &'a [u8], ps: &[RawParam], name: &[u8]) -> Option<Option<&'a [u8]>> {
    ps.iter()
        .find(|p| p.name.get(buf).eq_ignore_ascii_case(name))
        .map(|p| p.value.map(|v| v.get(buf)))
}

pub(crate) fn skip_lws(buf: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && buf.get(i).is_some_and(|&b| is_lws(b)) {
        i += 1;
    }
    i
}

/// End of a quoted string starting at `i` (on the opening quote); index after the closing quote.
pub(crate) fn quoted_end(buf: &[u8], mut i: usize, end: usize) -> Option<usize> {
    i += 1;
    while i < end {
        match buf.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// What [`parse_raw`] refuses.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing: empty parameters are skipped (generic lists).
    Loose,
    /// As [`Check::Loose`], with blanks as ordinary bytes (URI parameters:
    /// Kamailio's URI parser reads `;p=1 2` as `p` = `1 2`).
    Uri,
    /// Empty names (`;;`), as Kamailio's Via parser; `name=` is taken.
    Names,
    /// Empty names and `name=` without value (name-addr).
    NamesAndValues,
    /// As [`Check::Names`], with quoted values read as Kamailio's Via parser
    /// reads them: the next quote closes (no backslash escape), and an
    /// unclosed quote runs to the end, ending the list.
    Via,
}

/// Parses `;a=b;c` starting at `i` (which must be `;` or `end`/a stop byte).
///
/// Stops at `end` or at any byte in `stops` outside quotes; returns the list and where it
/// stopped; `check` says what is refused. LWS around `;` and `=` is allowed (RFC 3261
/// SEMI / EQUAL).
pub(crate) fn parse_raw(
    buf: &[u8],
    mut i: usize,
    end: usize,
    stops: &[u8],
    check: Check,
) -> Result<(RawParams, usize), &'static str> {
    let mut out = RawParams::new();
    let lws = |b: u8| check != Check::Uri && is_lws(b);
    let skip = |i: usize| {
        if check == Check::Uri {
            i
        } else {
            skip_lws(buf, i, end)
        }
    };
    loop {
        i = skip(i);
        match buf.get(i) {
            Some(b';') if i < end => i += 1,
            Some(b) if i < end && stops.contains(b) => return Ok((out, i)),
            _ if i >= end => return Ok((out, end)),
            _ => return Err("expected ';' before parameter"),
        }
        i = skip(i);
        let ns = i;
        while i < end
            && buf
                .get(i)
                .is_some_and(|&b| !matches!(b, b';' | b'=') && !lws(b) && !stops.contains(&b))
        {
            i += 1;
        }
        let name = Span::new(ns, i);
        if name.is_empty() {
            if !matches!(check, Check::Loose | Check::Uri) {
                return Err("empty parameter");
            }
            continue;
        }
        let j = skip(i);
        let mut value = None;
        if j < end && buf.get(j) == Some(&b'=') {
            let vs = skip(j + 1);
            let mut k = vs;
            if buf.get(k) == Some(&b'"') && k < end && check == Check::Via {
                match buf.get(k + 1..end).and_then(|r| memchr::memchr(b'"', r)) {
                    Some(q) => k += q + 2,
                    None => {
                        out.push(RawParam {
                            name,
                            value: Some(Span::new(vs, end)),
                        });
                        return Ok((out, end));
                    }
                }
            } else if buf.get(k) == Some(&b'"') && k < end {
                k = quoted_end(buf, k, end).ok_or("unterminated quoted parameter value")?;
            } else {
                while k < end
                    && buf
                        .get(k)
                        .is_some_and(|&b| !matches!(b, b';') && !lws(b) && !stops.contains(&b))
                {
                    k += 1;
                }
            }
            if k == vs && check == Check::NamesAndValues {
                return Err("parameter without value after '='");
            }
            value = Some(Span::new(vs, k));
            i = k;
        } else {
            i = j;
        }
        out.push(RawParam { name, value });
    }
}

/// Iterates `(name, value)` pairs of a `;k=v;k2` list; a leading `;` is optional.
///
/// Lenient: empty elements are skipped, values may be quoted (quotes kept).
pub fn iter(s: &[u8]) -> impl Iterator<Item = (&[u8], Option<&[u8]>)> {
    let mut buf_start = 0;
    while buf_start < s.len() && s.get(buf_start).is_some_and(|&b| is_lws(b)) {
        buf_start += 1;
    }
    // Parse as if a ';' preceded the first element.
    let list = if s.get(buf_start) == Some(&b';') {
        parse_raw(s, buf_start, s.len(), &[], Check::Loose)
    } else {
        parse_lenient_first(s, buf_start)
    };
    let list = list.map(|(l, _)| l).unwrap_or_default();
    list.into_iter()
        .map(move |p| (p.name.get(s), p.value.map(|v| v.get(s))))
}

fn parse_lenient_first(s: &[u8], start: usize) -> Result<(RawParams, usize), &'static str> {
    // Find the end of the first element, then parse it and the rest.
    let mut first = RawParams::new();
    let mut i = start;
    while i < s.len() && s.get(i).is_some_and(|&b| b != b';' && b != b'=') {
        i += 1;
    }
    let (ns, ne) = crate::scan::trim_range(s, start, i);
    if ne > ns {
        let mut value = None;
        if s.get(i) == Some(&b'=') {
            let vs = skip_lws(s, i + 1, s.len());
            let mut k = vs;
            if s.get(k) == Some(&b'"') {
                k = quoted_end(s, k, s.len()).unwrap_or(s.len());
            } else {
                while k < s.len() && s.get(k).is_some_and(|&b| b != b';') {
                    k += 1;
                }
            }
            let (a, b) = crate::scan::trim_range(s, vs, k);
            value = Some(Span::new(a, b));
            i = k;
        }
        first.push(RawParam {
            name: Span::new(ns, ne),
            value,
        });
    } else if s.get(i) == Some(&b'=') {
        while i < s.len() && s.get(i).is_some_and(|&b| b != b';') {
            i += 1;
        }
    }
    let (rest, end) = parse_raw(s, i, s.len(), &[], Check::Loose).unwrap_or_default();
    first.extend(rest);
    Ok((first, end))
}

/// Value of parameter `name` (case-insensitive): `None` absent, `Some(None)` present without value.
pub fn get<'a>(s: &'a [u8], name: &[u8]) -> Option<Option<&'a [u8]>> {
    iter(s)
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

/// Value of parameter `name`, empty when present without value; `None` when absent.
pub fn value<'a>(s: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    get(s, name).map(|v| v.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic() {
        let v: Vec<_> = iter(b";a=1; b ;c = \"x;y\";;d=").collect();
        assert_eq!(
            v,
            vec![
                (&b"a"[..], Some(&b"1"[..])),
                (&b"b"[..], None),
                (&b"c"[..], Some(&b"\"x;y\""[..])),
                (&b"d"[..], Some(&b""[..])),
            ]
        );
        let v: Vec<_> = iter(b"tag=abc;lr").collect();
        assert_eq!(
            v,
            vec![(&b"tag"[..], Some(&b"abc"[..])), (&b"lr"[..], None)]
        );
        assert_eq!(get(b"x=1;Tag=7", b"tag"), Some(Some(&b"7"[..])));
        assert_eq!(get(b"x=1;lr", b"lr"), Some(None));
        assert_eq!(value(b"x=1;lr", b"lr"), Some(&b""[..]));
        assert_eq!(get(b"x=1", b"y"), None);
        assert_eq!(iter(b"").count(), 0);
        assert_eq!(iter(b"=;=").count(), 0);
    }

    #[test]
    fn strict() {
        assert!(parse_raw(b";;", 0, 2, &[], Check::NamesAndValues).is_err());
        assert!(parse_raw(b";a=", 0, 3, &[], Check::NamesAndValues).is_err());
        let (l, end) = parse_raw(b" ; a = 1 ;b,x", 0, 13, b",", Check::NamesAndValues).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(end, 11);
    }
}
