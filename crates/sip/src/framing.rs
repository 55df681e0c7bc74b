//! Stream framing for connection-oriented transports (TCP/TLS).
//!
//! A SIP message on a stream ends after its header section plus `Content-Length`
//! body bytes (RFC 3261 18.3). Content-Length is mandatory on a stream: a
//! message without one cannot be framed unless the caller accepts it as 0
//! (Kamailio's `tcp_accept_no_cl`); two Content-Length headers never frame.

use crate::scan::{eq_ignore_case, trim};

/// Why a byte stream cannot be framed into SIP messages; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// No end of headers within `max_header` bytes.
    HeadersTooLong,
    /// A Content-Length header whose value is not a decimal number.
    BadContentLength,
    /// Two Content-Length headers.
    ConflictingContentLength,
    /// No Content-Length header (and the caller does not take it as 0).
    MissingContentLength,
}

/// What a message without Content-Length means on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissingLength {
    /// An empty body.
    Zero,
    /// A framing error.
    Refuse,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FrameError::HeadersTooLong => "header section too long",
            FrameError::BadContentLength => "invalid Content-Length",
            FrameError::ConflictingContentLength => "two Content-Length headers",
            FrameError::MissingContentLength => "no Content-Length header",
        })
    }
}

impl std::error::Error for FrameError {}

/// Number of leading CR/LF bytes (keep-alives, RFC 5626 §3.5.1 / RFC 3261 7.5) to drop.
///
/// A double CRLF (`"\r\n\r\n"`) is a ping to which the caller may answer `"\r\n"`.
pub fn skip_keepalive(buf: &[u8]) -> usize {
    buf.iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count()
}

/// Offset just past the empty line ending the header section, scanning from `from`.
///
/// Accepts CRLF and bare LF line ends. Returns `None` if not yet complete.
pub(crate) fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut pos = from;
    while let Some(i) = memchr::memchr(b'\n', buf.get(pos..)?) {
        let lf = pos + i;
        match buf.get(lf + 1) {
            Some(b'\n') => return Some(lf + 2),
            Some(b'\r') => match buf.get(lf + 2) {
                Some(b'\n') => return Some(lf + 3),
                Some(_) => {}
                None => return None,
            },
            Some(_) => {}
            None => return None,
        }
        pos = lf + 1;
    }
    None
}

/// Length of the first complete message in `buf`, or `Ok(None)` when more bytes are needed.
///
/// Leading CR/LF bytes (keep-alives) are counted into the length, so a caller may parse
/// `buf[..n]` directly; better call [`skip_keepalive`] first. A buffer holding only
/// keep-alives yields `Ok(None)`.
pub fn message_len(
    buf: &[u8],
    max_header: usize,
    missing: MissingLength,
) -> Result<Option<usize>, FrameError> {
    let start = skip_keepalive(buf);
    if start == buf.len() {
        return Ok(None);
    }
    let Some(hend) = header_end(buf, start) else {
        if buf.len() - start > max_header {
            return Err(FrameError::HeadersTooLong);
        }
        return Ok(None);
    };
    if hend - start > max_header {
        return Err(FrameError::HeadersTooLong);
    }
    let clen = match content_length_in(buf.get(start..hend).unwrap_or_default())? {
        Some(n) => n,
        None if missing == MissingLength::Zero => 0,
        None => return Err(FrameError::MissingContentLength),
    };
    let total = hend.checked_add(clen).ok_or(FrameError::BadContentLength)?;
    Ok((buf.len() >= total).then_some(total))
}

/// Finds and validates Content-Length (or `l`) in a header section (first line included).
fn content_length_in(head: &[u8]) -> Result<Option<usize>, FrameError> {
    let mut found: Option<usize> = None;
    let mut lines = crate::scan::Lines::new(head, 0);
    lines.next(); // first line
    for line in lines {
        let l = line.bytes(head);
        let Some(colon) = memchr::memchr(b':', l) else {
            continue;
        };
        let name = trim(&l[..colon]);
        if !(eq_ignore_case(name, b"content-length") || eq_ignore_case(name, b"l")) {
            continue;
        }
        // As Kamailio's stream reader: the first Content-Length frames the
        // message, later ones are not looked at (the message parser then
        // refuses them, see `Message::content_length_ok`).
        let v = parse_len(&l[colon + 1..]).ok_or(FrameError::BadContentLength)?;
        found = Some(v);
        break;
    }
    Ok(found)
}

/// Decimal value allowing surrounding whitespace (and folding); `None` if not a number.
pub(crate) fn parse_len(v: &[u8]) -> Option<usize> {
    let v = trim(v);
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    let mut n: usize = 0;
    for &b in v {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFUSE: MissingLength = MissingLength::Refuse;

    const INV: &[u8] =
        b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nContent-Length: 4\r\n\r\nabcdNEXT";

    #[test]
    fn frames_with_body() {
        assert_eq!(message_len(INV, 4096, REFUSE), Ok(Some(INV.len() - 4)));
        assert_eq!(message_len(&INV[..INV.len() - 6], 4096, REFUSE), Ok(None));
        assert_eq!(message_len(&INV[..30], 4096, REFUSE), Ok(None));
    }

    #[test]
    fn missing_content_length_refused_or_zero() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\nINVITE";
        assert_eq!(
            message_len(m, 4096, REFUSE),
            Err(FrameError::MissingContentLength)
        );
        assert_eq!(
            message_len(m, 4096, MissingLength::Zero),
            Ok(Some(m.len() - 6))
        );
    }

    #[test]
    fn the_first_content_length_frames() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\nl: 0\r\n\r\n";
        assert_eq!(message_len(m, 4096, MissingLength::Zero), Ok(Some(m.len())));
        let m = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 2\r\nl: x\r\n\r\nab";
        assert_eq!(message_len(m, 4096, MissingLength::Zero), Ok(Some(m.len())));
    }

    #[test]
    fn compact_lf_only_and_keepalive() {
        let m = b"\r\n\r\nOPTIONS sip:a SIP/2.0\nl :  2\n\nxy";
        assert_eq!(skip_keepalive(m), 4);
        assert_eq!(message_len(m, 4096, REFUSE), Ok(Some(m.len())));
        assert_eq!(message_len(&m[4..], 4096, REFUSE), Ok(Some(m.len() - 4)));
        assert_eq!(message_len(b"\r\n\r\n", 4096, REFUSE), Ok(None));
    }

    #[test]
    fn errors() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: x1\r\n\r\n";
        assert_eq!(
            message_len(m, 4096, REFUSE),
            Err(FrameError::BadContentLength)
        );
        let m = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\nab";
        assert_eq!(message_len(m, 4096, REFUSE), Ok(Some(m.len() - 1)));
        assert_eq!(
            message_len(&[b'a'; 100], 50, REFUSE),
            Err(FrameError::HeadersTooLong)
        );
        assert_eq!(
            message_len(INV, 20, REFUSE),
            Err(FrameError::HeadersTooLong)
        );
        let m = b"OPTIONS sip:a SIP/2.0\r\nl: 99999999999999999999\r\n\r\n";
        assert_eq!(
            message_len(m, 4096, REFUSE),
            Err(FrameError::BadContentLength)
        );
    }

    #[test]
    fn split_terminator() {
        let m = b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r";
        assert_eq!(message_len(m, 4096, REFUSE), Ok(None));
        let m = b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n";
        assert_eq!(message_len(m, 4096, REFUSE), Ok(None));
    }
}
