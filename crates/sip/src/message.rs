//! The parsed SIP message: one `Bytes` buffer plus an index built in a single pass.
//!
//! Parsing only splits the start line and header lines; typed values (Via, From/To,
//! CSeq, Contact, R-URI) are parsed on first access and cached.

use crate::error::ParseError;
use crate::header::{HeaderKind, HeaderRef};
use crate::method::Method;
use crate::nameaddr::NameAddr;
use crate::params::Span;
use crate::scan::{is_header_name_char, is_token, phys_line, trim_range, CommaSplit, Lines};
use crate::uri::Uri;
use crate::via::Via;
use bytes::Bytes;
use smallvec::SmallVec;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
struct Hdr {
    kind: HeaderKind,
    name: Span,
    value: Span,
    line: Span,
}

#[derive(Debug, Clone)]
enum FirstLine {
    Request {
        method: Method,
        method_s: Span,
        uri: Span,
        version: Span,
    },
    Response {
        version: Span,
        status: u16,
        reason: Span,
    },
    /// A start line that did not parse ([`Message::unparsed`]). `version`
    /// is what Kamailio's `$rv` shows then: the first word when the line has
    /// a blank, else nothing.
    Unknown { version: Span },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClState {
    Absent,
    Valid(u32),
    Invalid,
}

/// CSeq value: sequence number and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub num: u32,
    pub method: Method,
}

/// A parsed SIP request or response.
#[derive(Debug, Clone)]
pub struct Message {
    buf: Bytes,
    start: u32,
    first: FirstLine,
    first_line: Span,
    headers_start: u32,
    headers: SmallVec<[Hdr; 16]>,
    headers_end: u32,
    body: Span,
    clen: ClState,
    bad_line: Option<u32>,
    terminated: bool,
    ruri: OnceLock<Result<Uri, ParseError>>,
    via1: OnceLock<Result<Via, ParseError>>,
    from: OnceLock<Result<NameAddr, ParseError>>,
    to: OnceLock<Result<NameAddr, ParseError>>,
    cseq: OnceLock<Result<CSeq, ParseError>>,
    contacts: OnceLock<Result<Vec<NameAddr>, ParseError>>,
    full_parse_ok: OnceLock<bool>,
}

fn is_sip_version(v: &[u8]) -> bool {
    let Some(rest) = v
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case(b"SIP/"))
        .and(v.get(4..))
    else {
        return false;
    };
    let mut parts = rest.splitn(2, |&c| c == b'.');
    let major = parts.next().unwrap_or_default();
    let minor = parts.next().unwrap_or_default();
    !major.is_empty()
        && !minor.is_empty()
        && major.iter().all(u8::is_ascii_digit)
        && minor.iter().all(u8::is_ascii_digit)
}

/// `HTTP/` followed by a version (`HTTP/1.1`, `HTTP/1.0`; Kamailio takes any).
fn is_http_version(v: &[u8]) -> bool {
    v.len() > 5 && v.starts_with(b"HTTP/")
}

fn parse_first_line(buf: &Bytes, s: usize, e: usize) -> Result<FirstLine, ParseError> {
    let line = buf.get(s..e).unwrap_or_default();
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine("no space in start line"))?;
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        // Kamailio takes only SIP/2.0 (any case) in a status line
        if !line[..sp1].eq_ignore_ascii_case(b"SIP/2.0") {
            return Err(ParseError::StartLine("status line version is not SIP/2.0"));
        }
        let code = line
            .get(sp1 + 1..sp1 + 4)
            .ok_or(ParseError::StartLine("status code must be 3 digits"))?;
        if !code.iter().all(u8::is_ascii_digit) {
            return Err(ParseError::StartLine("status code must be 3 digits"));
        }
        // any three digits (Kamailio relays `000`..`999`), then a space: a
        // status line without one (no reason phrase) is refused, as Kamailio
        let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
        let reason = match line.get(sp1 + 4) {
            None => {
                return Err(ParseError::StartLine(
                    "no reason phrase after the status code",
                ))
            }
            Some(b' ') => Span::new(s + sp1 + 5, e),
            Some(_) => return Err(ParseError::StartLine("status code must be 3 digits")),
        };
        return Ok(FirstLine::Response {
            version: Span::new(s, s + sp1),
            status,
            reason,
        });
    }
    // Blanks after the version are taken (RFC 4475 `trws`, as Kamailio).
    let line = line.trim_ascii_end();
    let e = s + line.len();
    // As Kamailio reads it: the method is whatever comes before the first
    // space, the URI what follows up to the next blank (it may be empty), then
    // blanks and the version (`INVITE  SIP/2.0` has an empty URI; `INVITE
    // sip:a  SIP/2.0` is taken; `INVITE  sip:a SIP/2.0` is not).
    let sp1 = memchr::memchr(b' ', line).ok_or(ParseError::StartLine("no space in start line"))?;
    let method = &line[..sp1];
    if method.is_empty() || method.iter().any(|&c| matches!(c, b'\t' | b'\r' | b'\n')) {
        return Err(ParseError::StartLine("no method before the first space"));
    }
    let sp2 = memchr::memchr2(b' ', b'\t', &line[sp1 + 1..]).map_or(sp1, |p| sp1 + 1 + p);
    if sp2 == sp1 {
        return Err(ParseError::StartLine(
            "request line needs method, URI and version",
        ));
    }
    let vs = sp2
        + line[sp2..]
            .iter()
            .take_while(|&&c| c == b' ' || c == b'\t')
            .count();
    let version = &line[vs..];
    let http = is_http_version(version);
    if !http && !is_sip_version(version) {
        return Err(ParseError::StartLine("bad SIP version in request line"));
    }
    if http {
        // An HTTP request (`GET /path HTTP/1.1`): the target need not be a URI
        // with a scheme. Callers tell it apart with `Message::is_http`.
        return Ok(FirstLine::Request {
            method: Method::from_slice(buf, s, s + sp1),
            method_s: Span::new(s, s + sp1),
            uri: Span::new(s + sp1 + 1, s + sp2),
            version: Span::new(s + vs, e),
        });
    }
    // Any token is taken as the Request-URI here, as Kamailio does (`<sip:..>`,
    // `*`, `bob@host`): the request reaches the script, where the R-URI reads as
    // null because it does not parse (`Message::ruri` fails).
    Ok(FirstLine::Request {
        method: Method::from_slice(buf, s, s + sp1),
        method_s: Span::new(s, s + sp1),
        uri: Span::new(s + sp1 + 1, s + sp2),
        version: Span::new(s + vs, e),
    })
}

/// `CSeq: <token> <token>` with blanks around, nothing more. Between the two
/// only spaces and tabs: Kamailio finds no method after a folded line
/// (`CSeq: 9\r\n INVITE`, RFC 4475 `wsinv`) and drops the message.
fn cseq_has_two_tokens(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    let Some(num_end) = v.iter().position(u8::is_ascii_whitespace) else {
        return false;
    };
    let Some(method) = v.get(num_end..).and_then(|r| {
        r.iter()
            .position(|c| !matches!(c, b' ' | b'\t'))
            .map(|m| &r[m..])
    }) else {
        return false;
    };
    num_end > 0
        && !matches!(method.first(), Some(b'\r' | b'\n'))
        && !method.iter().any(u8::is_ascii_whitespace)
}

impl Message {
    /// Parses one message (a whole datagram, or one frame cut by [`crate::framing::message_len`]).
    ///
    /// Fails only when the start line is unusable; header-level problems are found by
    /// [`Message::validate_required`] or by the typed accessors. Leading CR/LF and blanks are skipped.
    /// A header section that is not terminated by an empty line ends at the end of the buffer.
    pub fn parse(buf: Bytes) -> Result<Message, ParseError> {
        if buf.len() >= u32::MAX as usize {
            return Err(ParseError::TooLarge);
        }
        let b: &[u8] = &buf;
        // Kamailio skips blanks too, not only CR/LF, before the first line
        let start = b
            .iter()
            .take_while(|&&c| matches!(c, b'\r' | b'\n' | b' ' | b'\t'))
            .count();
        if start >= b.len() {
            return Err(ParseError::Empty);
        }
        let (fl_end, hstart) = phys_line(b, start);
        let first = parse_first_line(&buf, start, fl_end)?;
        let mut headers: SmallVec<[Hdr; 16]> = SmallVec::new();
        let mut clen = ClState::Absent;
        let mut bad_line = None;
        let mut headers_end = b.len();
        let mut body_start = b.len();
        let mut terminated = false;
        for line in Lines::new(b, hstart) {
            // (a lone CR ending the datagram ends the headers too, as Kamailio reads it)
            if line.start == line.end || (line.next == b.len() && line.bytes(b) == b"\r") {
                headers_end = line.start;
                body_start = line.next;
                terminated = true;
                break;
            }
            // Kamailio's parser stops at the first unusable line: the headers
            // after it do not exist for the script or for a reply.
            if bad_line.is_some() {
                continue;
            }
            // One forward scan: name characters, optional LWS, then the colon.
            // Anything else (no colon, another byte in the name, leading
            // whitespace) makes the line unusable.
            let (ns, line_end) = (line.start, line.end);
            let mut i = ns;
            while i < line_end && b.get(i).is_some_and(|&c| is_header_name_char(c)) {
                i += 1;
            }
            let ne = i;
            while i < line_end && b.get(i).is_some_and(|&c| crate::scan::is_lws(c)) {
                i += 1;
            }
            if ne == ns || i >= line_end || b.get(i) != Some(&b':') {
                bad_line.get_or_insert(line.start as u32);
                continue;
            }
            let name = b.get(ns..ne).unwrap_or_default();
            let (vs, ve) = trim_range(b, i + 1, line_end);
            let kind = HeaderKind::from_name(name);
            if kind == HeaderKind::ContentLength && clen == ClState::Absent {
                clen = match b
                    .get(vs..ve)
                    .and_then(crate::framing::parse_len)
                    .and_then(|n| u32::try_from(n).ok())
                {
                    Some(n) => ClState::Valid(n),
                    None => ClState::Invalid,
                };
            }
            headers.push(Hdr {
                kind,
                name: Span::new(ns, ne),
                value: Span::new(vs, ve),
                line: Span::new(line.start, line.next),
            });
        }
        let body_end = match clen {
            ClState::Valid(n) => (body_start + n as usize).min(b.len()),
            _ => b.len(),
        };
        Ok(Message {
            start: start as u32,
            first,
            first_line: Span::new(start, fl_end),
            headers_start: hstart as u32,
            headers,
            headers_end: headers_end as u32,
            body: Span::new(body_start, body_end),
            clen,
            bad_line,
            terminated,
            ruri: OnceLock::new(),
            via1: OnceLock::new(),
            from: OnceLock::new(),
            to: OnceLock::new(),
            cseq: OnceLock::new(),
            contacts: OnceLock::new(),
            full_parse_ok: OnceLock::new(),
            buf,
        })
    }

    /// Data whose start line does not parse, as a message with no first
    /// line and no headers (what Kamailio's non-SIP handlers see: `$rm`,
    /// `$ru`, `$rs` null, no header). The whole data is its buffer.
    pub fn unparsed(buf: Bytes) -> Message {
        let len = buf.len().min(u32::MAX as usize - 1);
        let b: &[u8] = &buf;
        let start = crate::framing::skip_keepalive(b).min(len);
        let (fl_end, _) = phys_line(b, start);
        let fl_end = fl_end.min(len);
        let line = b.get(start..fl_end).unwrap_or_default();
        let version = match memchr::memchr(b' ', line) {
            Some(sp) => Span::new(start, start + sp),
            None => Span::new(start, start),
        };
        Message {
            start: start as u32,
            first: FirstLine::Unknown { version },
            first_line: Span::new(start, fl_end),
            headers_start: len as u32,
            headers: SmallVec::new(),
            headers_end: len as u32,
            body: Span::new(len, len),
            clen: ClState::Absent,
            bad_line: None,
            terminated: false,
            ruri: OnceLock::new(),
            via1: OnceLock::new(),
            from: OnceLock::new(),
            to: OnceLock::new(),
            cseq: OnceLock::new(),
            contacts: OnceLock::new(),
            full_parse_ok: OnceLock::new(),
            buf,
        }
    }

    // ---- first line -------------------------------------------------------------

    pub fn is_request(&self) -> bool {
        matches!(self.first, FirstLine::Request { .. })
    }
    pub fn is_response(&self) -> bool {
        matches!(self.first, FirstLine::Response { .. })
    }
    /// A message whose start line did not parse ([`Message::unparsed`]).
    pub fn is_unknown(&self) -> bool {
        matches!(self.first, FirstLine::Unknown { .. })
    }
    /// Request method; for a response the CSeq method (as Kamailio's `$rm`), or an empty `Other`.
    pub fn method(&self) -> Method {
        match &self.first {
            FirstLine::Request { method, .. } => method.clone(),
            FirstLine::Response { .. } | FirstLine::Unknown { .. } => self
                .cseq()
                .map(|c| c.1)
                .unwrap_or(Method::Other(Bytes::new())),
        }
    }
    /// Request method bytes; for a response the CSeq method bytes (empty if unparsable).
    pub fn method_bytes(&self) -> &[u8] {
        match &self.first {
            FirstLine::Request { method_s, .. } => method_s.get(&self.buf),
            FirstLine::Response { .. } | FirstLine::Unknown { .. } => match self.cseq_ref() {
                Ok(c) => c.method.as_bytes(),
                Err(_) => b"",
            },
        }
    }
    /// Request-URI text; empty for a response.
    pub fn ruri_bytes(&self) -> &[u8] {
        match &self.first {
            FirstLine::Request { uri, .. } => uri.get(&self.buf),
            FirstLine::Response { .. } | FirstLine::Unknown { .. } => b"",
        }
    }
    /// Range of the Request-URI in the buffer (for edits).
    pub fn ruri_range(&self) -> Option<std::ops::Range<usize>> {
        match &self.first {
            FirstLine::Request { uri, .. } => Some(uri.range()),
            FirstLine::Response { .. } | FirstLine::Unknown { .. } => None,
        }
    }
    /// Parsed Request-URI (cached).
    pub fn ruri(&self) -> Result<&Uri, ParseError> {
        let Some(r) = self.ruri_range() else {
            return Err(ParseError::WrongKind("a response has no Request-URI"));
        };
        self.ruri
            .get_or_init(|| Uri::parse_bytes(self.buf.slice(r)))
            .as_ref()
            .map_err(|e| *e)
    }
    pub fn status(&self) -> Option<u16> {
        match &self.first {
            FirstLine::Response { status, .. } => Some(*status),
            FirstLine::Request { .. } | FirstLine::Unknown { .. } => None,
        }
    }
    /// Reason phrase; empty for a request.
    pub fn reason(&self) -> &[u8] {
        match &self.first {
            FirstLine::Response { reason, .. } => reason.get(&self.buf),
            FirstLine::Request { .. } | FirstLine::Unknown { .. } => b"",
        }
    }
    /// Byte range of the three status digits of a response.
    pub fn status_range(&self) -> Option<std::ops::Range<usize>> {
        match &self.first {
            FirstLine::Response { version, .. } => {
                let e = version.range().end;
                Some(e + 1..e + 4)
            }
            FirstLine::Request { .. } | FirstLine::Unknown { .. } => None,
        }
    }
    /// Byte range of the reason phrase of a response.
    pub fn reason_range(&self) -> Option<std::ops::Range<usize>> {
        match &self.first {
            FirstLine::Response { reason, .. } => Some(reason.range()),
            FirstLine::Request { .. } | FirstLine::Unknown { .. } => None,
        }
    }
    /// Protocol version text (`SIP/2.0`).
    pub fn version(&self) -> &[u8] {
        match &self.first {
            FirstLine::Request { version, .. }
            | FirstLine::Response { version, .. }
            | FirstLine::Unknown { version } => version.get(&self.buf),
        }
    }
    /// An HTTP request (`GET /path HTTP/1.1`) rather than SIP: it went through
    /// the same parser (headers, Content-Length body) but is not routable SIP.
    pub fn is_http(&self) -> bool {
        match &self.first {
            FirstLine::Request { version, .. } => is_http_version(version.get(&self.buf)),
            FirstLine::Response { .. } | FirstLine::Unknown { .. } => false,
        }
    }
    /// A header line without a colon or with a bad name was skipped.
    pub fn has_bad_header_line(&self) -> bool {
        self.bad_line.is_some()
    }
    /// The start line without its terminator.
    pub fn first_line(&self) -> &[u8] {
        self.first_line.get(&self.buf)
    }

    // ---- raw access -------------------------------------------------------------

    pub fn buf(&self) -> &Bytes {
        &self.buf
    }
    /// Cheap sub-slice of the message buffer (shares the allocation). Out-of-range gives empty.
    pub fn slice(&self, r: std::ops::Range<usize>) -> Bytes {
        if r.start <= r.end && r.end <= self.buf.len() {
            self.buf.slice(r)
        } else {
            Bytes::new()
        }
    }
    /// Where the message starts (after leading CR/LF keep-alives).
    pub fn start_offset(&self) -> usize {
        self.start as usize
    }
    /// Offset of the first header line (just after the start line).
    pub fn headers_start(&self) -> usize {
        self.headers_start as usize
    }
    /// Offset of the empty line ending the headers (insertion point for appended headers).
    pub fn headers_end(&self) -> usize {
        self.headers_end as usize
    }
    /// Whether the header section ended with an empty line (else it ran to the end of the buffer).
    pub fn headers_terminated(&self) -> bool {
        self.terminated
    }
    /// Whether the start line ends with a bare LF (then rebuilt messages still use CRLF).
    pub fn is_lf_only(&self) -> bool {
        let e = self.first_line.e as usize;
        self.buf.get(e) == Some(&b'\n')
    }
    /// Body: bytes after the headers, cut at Content-Length when that is valid and shorter.
    pub fn body(&self) -> &[u8] {
        self.body.get(&self.buf)
    }
    pub fn body_range(&self) -> std::ops::Range<usize> {
        self.body.range()
    }
    /// Content-Length value: `Ok(None)` absent, `Err` not a number.
    pub fn content_length(&self) -> Result<Option<u32>, ParseError> {
        match self.clen {
            ClState::Absent => Ok(None),
            ClState::Valid(n) => Ok(Some(n)),
            ClState::Invalid => Err(ParseError::BadHeader("Content-Length", "not a number")),
        }
    }
    /// False when Kamailio's full header parse would fail on Content-Length:
    /// a value that is not a number, or in a request more than one
    /// Content-Length header (even with the same value; a reply may repeat
    /// it). Kamailio then cannot build a reply.
    pub fn content_length_ok(&self) -> bool {
        match self.clen {
            ClState::Absent => true,
            ClState::Invalid => false,
            ClState::Valid(_) => {
                let mut values = self
                    .headers
                    .iter()
                    .filter(|h| h.kind == HeaderKind::ContentLength)
                    .map(|h| h.value.get(&self.buf));
                if self.is_request() {
                    values.count() == 1
                } else {
                    values.all(|v| crate::framing::parse_len(v).is_some())
                }
            }
        }
    }

    /// Whether Kamailio's full header parse (what building a reply or a
    /// transaction runs) succeeds: no header line is unusable, the Content-Length is valid and given
    /// once, in a request To, From, Call-ID, CSeq and Max-Forwards each appear at most
    /// once (compact forms count), every Via, To and CSeq parses, and the
    /// last header has its line end (a cut datagram fails). Observed on
    /// 5.6.3: the route runs, `sl_send_reply` fails.
    pub fn headers_parse_ok(&self) -> bool {
        *self.full_parse_ok.get_or_init(|| self.check_all_headers())
    }

    fn check_all_headers(&self) -> bool {
        if self.bad_line.is_some() || !self.content_length_ok() {
            return false;
        }
        if self.headers.last().is_some_and(|h| self.cut_at(h)) {
            return false;
        }
        let b: &[u8] = &self.buf;
        // a reply may repeat them (Kamailio 5.6.3 relays it)
        let single_once = self.is_request();
        let mut seen = 0u8;
        for h in &self.headers {
            // (the first Via and To lines were checked on receipt:
            // `validate_required`)
            let parses = match h.kind {
                HeaderKind::Via if seen & 32 == 0 => {
                    seen |= 32;
                    true
                }
                HeaderKind::Via => self.vias_in(self.href(h)).all(|v| v.is_ok()),
                HeaderKind::To if seen & 1 == 0 => true,
                HeaderKind::To => {
                    !single_once && crate::nameaddr::LooseNameAddr::split(h.value.get(b)).is_some()
                }
                HeaderKind::CSeq => cseq_has_two_tokens(h.value.get(b)),
                _ => true,
            };
            if !parses {
                return false;
            }
            let bit = match h.kind {
                HeaderKind::To => 1,
                HeaderKind::From => 2,
                HeaderKind::CallId => 4,
                HeaderKind::CSeq => 8,
                HeaderKind::MaxForwards => 16,
                _ => continue,
            };
            if seen & bit != 0 && single_once {
                return false;
            }
            seen |= bit;
        }
        true
    }

    /// Whether Kamailio's parser fails on `h` because the datagram ends in it:
    /// the last header without its line end (To's parser copes with that),
    /// or a last Via with nothing after its line end (it looks for a folded
    /// next line).
    fn cut_at(&self, h: &Hdr) -> bool {
        if self.terminated || !self.headers.last().is_some_and(|l| std::ptr::eq(l, h)) {
            return false;
        }
        // (a header's line span runs through its line end)
        let e = h.line.e as usize;
        let open = e == 0 || self.buf.get(e - 1) != Some(&b'\n');
        match h.kind {
            HeaderKind::To => false,
            HeaderKind::Via => true,
            _ => open,
        }
    }

    // ---- headers ----------------------------------------------------------------

    fn href(&self, h: &Hdr) -> HeaderRef<'_> {
        HeaderRef {
            kind: h.kind,
            name: h.name.get(&self.buf),
            value: h.value.get(&self.buf),
            line: h.line.range(),
            value_range: h.value.range(),
        }
    }
    /// All header lines in order.
    pub fn headers(&self) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.headers.iter().map(|h| self.href(h))
    }
    /// Number of header lines.
    pub fn header_lines(&self) -> usize {
        self.headers.len()
    }
    /// First value of a known header.
    pub fn header(&self, kind: HeaderKind) -> Option<&[u8]> {
        self.header_ref(kind).map(|h| h.value)
    }
    /// First line of a known header.
    pub fn header_ref(&self, kind: HeaderKind) -> Option<HeaderRef<'_>> {
        self.headers
            .iter()
            .find(|h| h.kind == kind)
            .map(|h| self.href(h))
    }
    /// All lines of a known header.
    pub fn headers_of(&self, kind: HeaderKind) -> impl Iterator<Item = HeaderRef<'_>> + '_ {
        self.headers
            .iter()
            .filter(move |h| h.kind == kind)
            .map(|h| self.href(h))
    }
    fn name_is(&self, h: &Hdr, kind: HeaderKind, name: &[u8]) -> bool {
        if kind == HeaderKind::Other {
            h.kind == HeaderKind::Other && h.name.get(&self.buf).eq_ignore_ascii_case(name)
        } else {
            h.kind == kind
        }
    }
    /// All lines whose name matches `name` (case-insensitive; compact forms equivalent).
    pub fn headers_named<'a>(&'a self, name: &'a [u8]) -> impl Iterator<Item = HeaderRef<'a>> + 'a {
        let kind = HeaderKind::from_name(name);
        self.headers
            .iter()
            .filter(move |h| self.name_is(h, kind, name))
            .map(|h| self.href(h))
    }
    /// First value of the header named `name`.
    pub fn header_by_name(&self, name: &[u8]) -> Option<&[u8]> {
        let kind = HeaderKind::from_name(name);
        self.headers
            .iter()
            .find(|h| self.name_is(h, kind, name))
            .map(|h| h.value.get(&self.buf))
    }
    /// The value of `h` as Kamailio's `$hdr(name)` reads it: leading blanks
    /// skipped, trailing blanks kept up to the line's end.
    pub fn value_untrimmed(&self, h: &HeaderRef<'_>) -> &[u8] {
        let line = self.buf.get(h.line.clone()).unwrap_or_default();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let end = h.line.start + line.len();
        self.buf
            .get(h.value_range.start..end.max(h.value_range.end))
            .unwrap_or_default()
    }
    /// First value of the header named `name` as [`Message::value_untrimmed`] gives it.
    pub fn header_by_name_untrimmed(&self, name: &[u8]) -> Option<&[u8]> {
        let kind = HeaderKind::from_name(name);
        let h = self.headers.iter().find(|h| self.name_is(h, kind, name))?;
        Some(self.value_untrimmed(&self.href(h)))
    }
    /// Number of lines of the header named `name`.
    pub fn header_count(&self, name: &[u8]) -> usize {
        let kind = HeaderKind::from_name(name);
        self.headers
            .iter()
            .filter(|h| self.name_is(h, kind, name))
            .count()
    }
    /// Whether the message has a header named `name`.
    pub fn has_header(&self, name: &[u8]) -> bool {
        self.header_by_name(name).is_some()
    }
    /// Comma-separated values over all lines of `kind`, in order (e.g. Route, Allow).
    pub fn header_values(&self, kind: HeaderKind) -> impl Iterator<Item = &[u8]> + '_ {
        self.headers_of(kind).flat_map(|h| CommaSplit::new(h.value))
    }

    // ---- typed values -----------------------------------------------------------

    /// First Via value (cached).
    pub fn via1(&self) -> Result<&Via, ParseError> {
        self.via1
            .get_or_init(|| {
                self.vias()
                    .next()
                    .unwrap_or(Err(ParseError::NoHeader("Via")))
            })
            .as_ref()
            .map_err(|e| *e)
    }
    /// Every Via value of every Via line, in order (parsed on each call).
    pub fn vias(&self) -> impl Iterator<Item = Result<Via, ParseError>> + '_ {
        self.headers_of(HeaderKind::Via)
            .flat_map(move |h| self.vias_in(h))
    }
    /// Whether the values after the first of a Via header line parse (the
    /// first is not parsed again).
    fn later_vias_ok(&self, h: HeaderRef<'_>) -> bool {
        let base = h.value_range.start;
        let mut split = CommaSplit::new(h.value);
        let _ = split.next_range();
        while let Some((a, b)) = split.next_range() {
            if a >= b || Via::parse_at(self.slice(base + a..base + b), base + a).is_err() {
                return false;
            }
        }
        true
    }
    /// The Via values of one Via header line.
    fn vias_in<'a>(
        &'a self,
        h: HeaderRef<'a>,
    ) -> impl Iterator<Item = Result<Via, ParseError>> + 'a {
        let base = h.value_range.start;
        let mut split = CommaSplit::new(h.value);
        std::iter::from_fn(move || {
            let (a, b) = split.next_range()?;
            if a >= b {
                return Some(Err(ParseError::BadHeader(
                    "Via",
                    "empty value between commas",
                )));
            }
            Some(Via::parse_at(self.slice(base + a..base + b), base + a))
        })
    }
    /// Number of Via values (each Via line may hold several).
    pub fn via_count(&self) -> usize {
        self.vias().count()
    }
    fn nameaddr(&self, kind: HeaderKind, name: &'static str) -> Result<NameAddr, ParseError> {
        let h = self.header_ref(kind).ok_or(ParseError::NoHeader(name))?;
        NameAddr::parse_bytes(self.slice(h.value_range)).map_err(|e| match e {
            ParseError::BadHeader(_, w) => ParseError::BadHeader(name, w),
            e => e,
        })
    }
    /// From header (cached).
    pub fn from(&self) -> Result<&NameAddr, ParseError> {
        self.from
            .get_or_init(|| self.nameaddr(HeaderKind::From, "From"))
            .as_ref()
            .map_err(|e| *e)
    }
    /// The From tag: taken from the parsed From when it is cached, otherwise
    /// found by a scan of the header's parameters that skips the URI parse (a
    /// quoted display name falls back to the full parse). Not a validation: a
    /// malformed From may still yield a tag here.
    pub fn from_tag_fast(&self) -> Option<&[u8]> {
        self.tag_fast(&self.from, HeaderKind::From)
    }
    /// The To tag, as [`Message::from_tag_fast`].
    pub fn to_tag_fast(&self) -> Option<&[u8]> {
        self.tag_fast(&self.to, HeaderKind::To)
    }
    fn tag_fast<'a>(
        &'a self,
        cached: &'a OnceLock<Result<NameAddr, ParseError>>,
        kind: HeaderKind,
    ) -> Option<&'a [u8]> {
        if let Some(parsed) = cached.get() {
            return parsed.as_ref().ok().and_then(|f| f.tag());
        }
        let v = self.header(kind)?;
        if memchr::memchr(b'"', v).is_some() {
            let name = if kind == HeaderKind::From {
                "From"
            } else {
                "To"
            };
            let parsed = cached.get_or_init(|| self.nameaddr(kind, name));
            return parsed.as_ref().ok().and_then(|f| f.tag());
        }
        let params = match memchr::memchr(b'<', v) {
            Some(l) => {
                let r = l + memchr::memchr(b'>', &v[l..])?;
                &v[r + 1..]
            }
            None => &v[memchr::memchr(b';', v)?..],
        };
        params.split(|&c| c == b';').skip(1).find_map(|p| {
            let (name, value) = match memchr::memchr(b'=', p) {
                Some(e) => (&p[..e], Some(&p[e + 1..])),
                None => (p, None),
            };
            if name.trim_ascii().eq_ignore_ascii_case(b"tag") {
                Some(value.map(|v| v.trim_ascii()).filter(|v| !v.is_empty()))
            } else {
                None
            }
        })?
    }
    /// To header (cached).
    pub fn to(&self) -> Result<&NameAddr, ParseError> {
        self.to
            .get_or_init(|| self.nameaddr(HeaderKind::To, "To"))
            .as_ref()
            .map_err(|e| *e)
    }
    /// The parsed CSeq (cached), borrowed.
    pub fn cseq_ref(&self) -> Result<&CSeq, ParseError> {
        self.cseq
            .get_or_init(|| {
                let h = self
                    .header_ref(HeaderKind::CSeq)
                    .ok_or(ParseError::NoHeader("CSeq"))?;
                let v = h.value;
                let sp = v
                    .iter()
                    .position(|&c| crate::scan::is_lws(c))
                    .ok_or(ParseError::BadHeader("CSeq", "expected number and method"))?;
                let num = crate::scan::parse_u32(&v[..sp])
                    .filter(|&n| n < 1 << 31)
                    .ok_or(ParseError::BadHeader("CSeq", "number is not below 2^31"))?;
                let (ms, me) = trim_range(v, sp, v.len());
                let m = &v[ms..me];
                if m.is_empty() || !m.iter().all(|&c| is_token(c)) {
                    return Err(ParseError::BadHeader("CSeq", "method is not a token"));
                }
                let base = h.value_range.start;
                Ok(CSeq {
                    num,
                    method: Method::from_slice(&self.buf, base + ms, base + me),
                })
            })
            .as_ref()
            .map_err(|e| *e)
    }
    /// CSeq number and method (cached).
    pub fn cseq(&self) -> Result<(u32, Method), ParseError> {
        self.cseq_ref().map(|c| (c.num, c.method.clone()))
    }
    /// CSeq number only.
    pub fn cseq_num(&self) -> Result<u32, ParseError> {
        self.cseq_ref().map(|c| c.num)
    }
    /// Call-ID value.
    pub fn call_id(&self) -> Option<&[u8]> {
        self.header(HeaderKind::CallId)
    }
    /// All Contact values over all Contact lines (cached); empty for `Contact: *`.
    pub fn contacts(&self) -> Result<&[NameAddr], ParseError> {
        self.contacts
            .get_or_init(|| {
                let mut out = Vec::new();
                for h in self.headers_of(HeaderKind::Contact) {
                    let base = h.value_range.start;
                    let mut split = CommaSplit::new(h.value);
                    while let Some((a, b)) = split.next_range() {
                        let v = h.value.get(a..b).unwrap_or_default();
                        if v == b"*" {
                            continue;
                        }
                        if a >= b {
                            return Err(ParseError::BadHeader("Contact", "empty value"));
                        }
                        let na =
                            NameAddr::parse_bytes(self.slice(base + a..base + b)).map_err(|e| {
                                match e {
                                    ParseError::BadHeader(_, w) => {
                                        ParseError::BadHeader("Contact", w)
                                    }
                                    e => e,
                                }
                            })?;
                        out.push(na);
                    }
                }
                Ok(out)
            })
            .as_ref()
            .map(Vec::as_slice)
            .map_err(|e| *e)
    }
    /// First Contact value.
    pub fn contact(&self) -> Result<Option<&NameAddr>, ParseError> {
        self.contacts().map(|c| c.first())
    }
    /// Whether a Contact header is `*` (REGISTER remove-all).
    pub fn contact_star(&self) -> bool {
        self.header_values(HeaderKind::Contact).any(|v| v == b"*")
    }
    /// Max-Forwards value: `Ok(None)` absent.
    pub fn max_forwards(&self) -> Result<Option<u32>, ParseError> {
        match self.header(HeaderKind::MaxForwards) {
            None => Ok(None),
            Some(v) => crate::scan::parse_u32(v)
                .map(Some)
                .ok_or(ParseError::BadHeader("Max-Forwards", "not a number")),
        }
    }
    /// Range of the Max-Forwards value (for decrementing in place).
    pub fn max_forwards_range(&self) -> Option<std::ops::Range<usize>> {
        self.header_ref(HeaderKind::MaxForwards)
            .map(|h| h.value_range)
    }

    // ---- validation -------------------------------------------------------------

    /// Kamailio's gate before any route runs: Via, From, To, Call-ID and CSeq
    /// are present before any unusable header line (one without a colon or
    /// with a bad name: the headers after it are not read). A bad CSeq value,
    /// a wrong Content-Length or an unknown method are *not* errors here; an
    /// unusable line after the required headers fails replies later
    /// ([`Message::headers_parse_ok`]).
    pub fn validate_required(&self) -> Result<(), ParseError> {
        for (k, n) in [
            (HeaderKind::Via, "Via"),
            (HeaderKind::From, "From"),
            (HeaderKind::To, "To"),
            (HeaderKind::CallId, "Call-ID"),
            (HeaderKind::CSeq, "CSeq"),
        ] {
            if !self.headers.iter().any(|h| h.kind == k) {
                return Err(match self.bad_line {
                    Some(offset) => ParseError::BadHeaderLine { offset },
                    None => ParseError::MissingHeader(n),
                });
            }
        }
        // Kamailio parses CSeq when it reads the headers: two tokens (the
        // number is not checked: `abc INVITE` passes), or the message is dropped
        if let Some(v) = self.header(HeaderKind::CSeq) {
            if !cseq_has_two_tokens(v) {
                return Err(ParseError::BadHeader("CSeq", "not `number method`"));
            }
        }
        self.receive_scan()
    }

    /// Kamailio reads the headers in order until it has seen the first Via,
    /// From, To, Call-ID and CSeq, checking each header it reads: a second
    /// To, From, Call-ID, CSeq or Max-Forwards (in a request), a To body that
    /// is no name-addr, or a Content-Length that is no number drops the
    /// message; so does a reply whose second Via does not parse.
    /// Headers after the last of those are not read at this point (their
    /// problems show later, when a reply is built).
    fn receive_scan(&self) -> Result<(), ParseError> {
        // A reply is relayed by its second Via: Kamailio drops it when that
        // does not parse.
        if !self.is_request() && self.vias().nth(1).is_some_and(|v| v.is_err()) {
            return Err(ParseError::BadHeader("Via", "second Via does not parse"));
        }
        const VIA: u8 = 32;
        const ALL: u8 = 1 | 2 | 4 | 8 | VIA;
        let mut seen = 0u8;
        for h in &self.headers {
            if seen & ALL == ALL {
                break;
            }
            if self.cut_at(h) {
                return Err(ParseError::BadHeader(
                    "header",
                    "the datagram ends inside it",
                ));
            }
            let bit = match h.kind {
                HeaderKind::To => 1,
                HeaderKind::From => 2,
                HeaderKind::CallId => 4,
                HeaderKind::CSeq => 8,
                HeaderKind::MaxForwards => 16,
                // a later Via header read before the required ones are all
                // seen is parsed too (every value)
                HeaderKind::Via if seen & VIA != 0 => {
                    if !self.vias_in(self.href(h)).all(|v| v.is_ok()) {
                        return Err(ParseError::BadHeader("Via", "a Via does not parse"));
                    }
                    continue;
                }
                HeaderKind::Via => {
                    // The first Via header is parsed whole, every value of it.
                    // (the first value through the cached `via1`: it is
                    // read again for every message anyway)
                    if seen & VIA == 0
                        && (self.via1().is_err()
                            || self
                                .headers_of(HeaderKind::Via)
                                .next()
                                .is_some_and(|first| !self.later_vias_ok(first)))
                    {
                        return Err(ParseError::BadHeader("Via", "first Via does not parse"));
                    }
                    seen |= VIA;
                    continue;
                }
                HeaderKind::ContentLength => {
                    let v = h.value.get(&self.buf).trim_ascii();
                    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
                        return Err(ParseError::BadHeader("Content-Length", "not a number"));
                    }
                    continue;
                }
                _ => continue,
            };
            // (a reply with repeated headers is taken: Kamailio 5.6.3)
            if seen & bit != 0 && self.is_request() {
                return Err(ParseError::Invalid("single-value header repeated"));
            }
            if bit == 1 && crate::nameaddr::LooseNameAddr::split(h.value.get(&self.buf)).is_none() {
                return Err(ParseError::BadHeader("To", "not a name-addr"));
            }
            seen |= bit;
        }
        Ok(())
    }

    /// Stricter RFC 3261 checks a UAS would apply (not Kamailio's proxy gate): version 2.0,
    /// CSeq method equal to the request method, single-valued headers not repeated, no
    /// headers in the Request-URI, and the typed values of Via/From/To/CSeq parse.
    pub fn validate_rfc(&self) -> Result<(), ParseError> {
        self.validate_required()?;
        if !self.version().eq_ignore_ascii_case(b"SIP/2.0") {
            return Err(ParseError::Invalid("unsupported SIP version"));
        }
        for k in [
            HeaderKind::From,
            HeaderKind::To,
            HeaderKind::CallId,
            HeaderKind::CSeq,
            HeaderKind::MaxForwards,
            HeaderKind::ContentLength,
        ] {
            let n = self
                .headers_of(k)
                .map(|h| CommaSplit::new(h.value).count().max(1))
                .sum::<usize>();
            if n > 1 {
                return Err(ParseError::Invalid("single-value header repeated"));
            }
        }
        for v in self.vias() {
            v?;
        }
        self.from()?;
        self.to()?;
        let cseq = self.cseq_ref()?;
        if self.is_request() {
            if self.method_bytes() != cseq.method.as_bytes() {
                return Err(ParseError::Invalid(
                    "CSeq method differs from request method",
                ));
            }
            if self.ruri()?.headers().is_some() {
                return Err(ParseError::Invalid("Request-URI carries headers"));
            }
        }
        Ok(())
    }
}

/// Request lines as Kamailio 5.6.3 reads them.
#[cfg(test)]
mod kamailio_first_line {
    use super::Message;
    use bytes::Bytes;

    fn msg(first: &str) -> Result<Message, crate::ParseError> {
        let m = format!(
            "{first}\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n\
             To: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        Message::parse(Bytes::from(m))
    }

    #[test]
    fn blanks_methods_and_uris() {
        let m = msg("  \t\r\nOPTIONS sip:a@x SIP/2.0").unwrap();
        assert_eq!(m.method_bytes(), b"OPTIONS");
        assert_eq!(
            msg("O>T;\"IONS sip:a@x SIP/2.0").unwrap().method_bytes(),
            b"O>T;\"IONS"
        );
        assert!(msg("OPTIONS sip:a@x\tSIP/2.0").is_ok());
        let m = msg("OPTIONS sip:a@x   SIP/2.0").unwrap();
        assert_eq!(m.ruri_bytes(), b"sip:a@x");
        assert_eq!(m.version(), b"SIP/2.0");
        assert_eq!(msg("OPTIONS  SIP/2.0").unwrap().ruri_bytes(), b"");
        for bad in [
            "OPTIONS  sip:a@x SIP/2.0",
            "OPTIONS sip:a b@x SIP/2.0",
            "OPTIONS\tsip:a@x\tSIP/2.0",
            "OPTIONS sip:a@x SIP/2.0 x",
            "OPTIONS sip:a@x",
        ] {
            assert!(msg(bad).is_err(), "{bad}");
        }
    }
}
