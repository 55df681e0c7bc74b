//! Header names: known kinds (with RFC 3261 compact forms) and case-insensitive lookup.

use std::ops::Range;

/// Headers siprd knows by name. Compact forms map to the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderKind {
    Via,
    From,
    To,
    CallId,
    CSeq,
    Contact,
    MaxForwards,
    ContentLength,
    ContentType,
    ContentEncoding,
    Subject,
    Supported,
    ReferTo,
    Event,
    AllowEvents,
    SessionExpires,
    ReferredBy,
    Route,
    RecordRoute,
    Expires,
    Authorization,
    ProxyAuthorization,
    WwwAuthenticate,
    ProxyAuthenticate,
    UserAgent,
    Server,
    Allow,
    Require,
    ProxyRequire,
    Unsupported,
    Accept,
    Date,
    MinExpires,
    Path,
    Diversion,
    PAssertedIdentity,
    PPreferredIdentity,
    Privacy,
    Reason,
    RSeq,
    RAck,
    Identity,
    AcceptContact,
    RejectContact,
    RequestDisposition,
    /// Any header not listed above; compare by name.
    Other,
}

/// `(full lowercase name, compact letter or 0, kind)`: the reference that the
/// tests hold [`HeaderKind::from_name`]'s hand-unrolled lookup to.
#[cfg(test)]
const NAMES: &[(&[u8], u8, HeaderKind)] = &[
    (b"via", b'v', HeaderKind::Via),
    (b"from", b'f', HeaderKind::From),
    (b"to", b't', HeaderKind::To),
    (b"call-id", b'i', HeaderKind::CallId),
    (b"cseq", 0, HeaderKind::CSeq),
    (b"contact", b'm', HeaderKind::Contact),
    (b"max-forwards", 0, HeaderKind::MaxForwards),
    (b"content-length", b'l', HeaderKind::ContentLength),
    (b"content-type", b'c', HeaderKind::ContentType),
    (b"content-encoding", b'e', HeaderKind::ContentEncoding),
    (b"subject", b's', HeaderKind::Subject),
    (b"supported", b'k', HeaderKind::Supported),
    (b"refer-to", b'r', HeaderKind::ReferTo),
    (b"event", b'o', HeaderKind::Event),
    (b"allow-events", b'u', HeaderKind::AllowEvents),
    (b"session-expires", b'x', HeaderKind::SessionExpires),
    (b"referred-by", b'b', HeaderKind::ReferredBy),
    (b"route", 0, HeaderKind::Route),
    (b"record-route", 0, HeaderKind::RecordRoute),
    (b"expires", 0, HeaderKind::Expires),
    (b"authorization", 0, HeaderKind::Authorization),
    (b"proxy-authorization", 0, HeaderKind::ProxyAuthorization),
    (b"www-authenticate", 0, HeaderKind::WwwAuthenticate),
    (b"proxy-authenticate", 0, HeaderKind::ProxyAuthenticate),
    (b"user-agent", 0, HeaderKind::UserAgent),
    (b"server", 0, HeaderKind::Server),
    (b"allow", 0, HeaderKind::Allow),
    (b"require", 0, HeaderKind::Require),
    (b"proxy-require", 0, HeaderKind::ProxyRequire),
    (b"unsupported", 0, HeaderKind::Unsupported),
    (b"accept", 0, HeaderKind::Accept),
    (b"date", 0, HeaderKind::Date),
    (b"min-expires", 0, HeaderKind::MinExpires),
    (b"path", 0, HeaderKind::Path),
    (b"diversion", 0, HeaderKind::Diversion),
    (b"p-asserted-identity", 0, HeaderKind::PAssertedIdentity),
    (b"p-preferred-identity", 0, HeaderKind::PPreferredIdentity),
    (b"privacy", 0, HeaderKind::Privacy),
    (b"reason", 0, HeaderKind::Reason),
    (b"rseq", 0, HeaderKind::RSeq),
    (b"rack", 0, HeaderKind::RAck),
    (b"identity", b'y', HeaderKind::Identity),
    (b"accept-contact", b'a', HeaderKind::AcceptContact),
    (b"reject-contact", b'j', HeaderKind::RejectContact),
    (b"request-disposition", b'd', HeaderKind::RequestDisposition),
];

impl HeaderKind {
    /// Classifies a header name (case-insensitive; compact forms included).
    pub fn from_name(name: &[u8]) -> HeaderKind {
        match name.len() {
            0 => HeaderKind::Other,
            1 => match name.first().map_or(0, |b| b.to_ascii_lowercase()) {
                b'v' => HeaderKind::Via,
                b'f' => HeaderKind::From,
                b't' => HeaderKind::To,
                b'i' => HeaderKind::CallId,
                b'm' => HeaderKind::Contact,
                b'l' => HeaderKind::ContentLength,
                b'c' => HeaderKind::ContentType,
                b'e' => HeaderKind::ContentEncoding,
                b's' => HeaderKind::Subject,
                b'k' => HeaderKind::Supported,
                b'r' => HeaderKind::ReferTo,
                b'o' => HeaderKind::Event,
                b'u' => HeaderKind::AllowEvents,
                b'x' => HeaderKind::SessionExpires,
                b'b' => HeaderKind::ReferredBy,
                b'y' => HeaderKind::Identity,
                b'a' => HeaderKind::AcceptContact,
                b'j' => HeaderKind::RejectContact,
                b'd' => HeaderKind::RequestDisposition,
                _ => HeaderKind::Other,
            },
            n => {
                // Candidates of the same length only: a few comparisons per header.
                let cands: &[(&[u8], HeaderKind)] = match n {
                    2 => &[(b"to", HeaderKind::To)],
                    3 => &[(b"via", HeaderKind::Via)],
                    4 => &[
                        (b"from", HeaderKind::From),
                        (b"cseq", HeaderKind::CSeq),
                        (b"date", HeaderKind::Date),
                        (b"path", HeaderKind::Path),
                        (b"rseq", HeaderKind::RSeq),
                        (b"rack", HeaderKind::RAck),
                    ],
                    5 => &[
                        (b"event", HeaderKind::Event),
                        (b"route", HeaderKind::Route),
                        (b"allow", HeaderKind::Allow),
                    ],
                    6 => &[
                        (b"server", HeaderKind::Server),
                        (b"accept", HeaderKind::Accept),
                        (b"reason", HeaderKind::Reason),
                    ],
                    7 => &[
                        (b"call-id", HeaderKind::CallId),
                        (b"contact", HeaderKind::Contact),
                        (b"subject", HeaderKind::Subject),
                        (b"expires", HeaderKind::Expires),
                        (b"require", HeaderKind::Require),
                        (b"privacy", HeaderKind::Privacy),
                    ],
                    8 => &[
                        (b"refer-to", HeaderKind::ReferTo),
                        (b"identity", HeaderKind::Identity),
                    ],
                    9 => &[
                        (b"supported", HeaderKind::Supported),
                        (b"diversion", HeaderKind::Diversion),
                    ],
                    10 => &[(b"user-agent", HeaderKind::UserAgent)],
                    11 => &[
                        (b"referred-by", HeaderKind::ReferredBy),
                        (b"unsupported", HeaderKind::Unsupported),
                        (b"min-expires", HeaderKind::MinExpires),
                    ],
                    12 => &[
                        (b"max-forwards", HeaderKind::MaxForwards),
                        (b"content-type", HeaderKind::ContentType),
                        (b"allow-events", HeaderKind::AllowEvents),
                        (b"record-route", HeaderKind::RecordRoute),
                    ],
                    13 => &[
                        (b"authorization", HeaderKind::Authorization),
                        (b"proxy-require", HeaderKind::ProxyRequire),
                    ],
                    14 => &[
                        (b"content-length", HeaderKind::ContentLength),
                        (b"accept-contact", HeaderKind::AcceptContact),
                        (b"reject-contact", HeaderKind::RejectContact),
                    ],
                    15 => &[(b"session-expires", HeaderKind::SessionExpires)],
                    16 => &[
                        (b"content-encoding", HeaderKind::ContentEncoding),
                        (b"www-authenticate", HeaderKind::WwwAuthenticate),
                    ],
                    18 => &[(b"proxy-authenticate", HeaderKind::ProxyAuthenticate)],
                    19 => &[
                        (b"proxy-authorization", HeaderKind::ProxyAuthorization),
                        (b"p-asserted-identity", HeaderKind::PAssertedIdentity),
                        (b"request-disposition", HeaderKind::RequestDisposition),
                    ],
                    20 => &[(b"p-preferred-identity", HeaderKind::PPreferredIdentity)],
                    _ => &[],
                };
                // The first letter rules out most candidates before a full compare.
                let first = name.first().map_or(0, |b| b.to_ascii_lowercase());
                cands
                    .iter()
                    .find(|(full, _)| {
                        full.first() == Some(&first) && crate::scan::eq_lowercase(name, full)
                    })
                    .map_or(HeaderKind::Other, |e| e.1)
            }
        }
    }

    /// Canonical (long-form) header name, e.g. `Call-ID`; `None` for [`HeaderKind::Other`].
    pub fn canonical_name(self) -> Option<&'static str> {
        Some(match self {
            HeaderKind::Via => "Via",
            HeaderKind::From => "From",
            HeaderKind::To => "To",
            HeaderKind::CallId => "Call-ID",
            HeaderKind::CSeq => "CSeq",
            HeaderKind::Contact => "Contact",
            HeaderKind::MaxForwards => "Max-Forwards",
            HeaderKind::ContentLength => "Content-Length",
            HeaderKind::ContentType => "Content-Type",
            HeaderKind::ContentEncoding => "Content-Encoding",
            HeaderKind::Subject => "Subject",
            HeaderKind::Supported => "Supported",
            HeaderKind::ReferTo => "Refer-To",
            HeaderKind::Event => "Event",
            HeaderKind::AllowEvents => "Allow-Events",
            HeaderKind::SessionExpires => "Session-Expires",
            HeaderKind::ReferredBy => "Referred-By",
            HeaderKind::Route => "Route",
            HeaderKind::RecordRoute => "Record-Route",
            HeaderKind::Expires => "Expires",
            HeaderKind::Authorization => "Authorization",
            HeaderKind::ProxyAuthorization => "Proxy-Authorization",
            HeaderKind::WwwAuthenticate => "WWW-Authenticate",
            HeaderKind::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderKind::UserAgent => "User-Agent",
            HeaderKind::Server => "Server",
            HeaderKind::Allow => "Allow",
            HeaderKind::Require => "Require",
            HeaderKind::ProxyRequire => "Proxy-Require",
            HeaderKind::Unsupported => "Unsupported",
            HeaderKind::Accept => "Accept",
            HeaderKind::Date => "Date",
            HeaderKind::MinExpires => "Min-Expires",
            HeaderKind::Path => "Path",
            HeaderKind::Diversion => "Diversion",
            HeaderKind::PAssertedIdentity => "P-Asserted-Identity",
            HeaderKind::PPreferredIdentity => "P-Preferred-Identity",
            HeaderKind::Privacy => "Privacy",
            HeaderKind::Reason => "Reason",
            HeaderKind::RSeq => "RSeq",
            HeaderKind::RAck => "RAck",
            HeaderKind::Identity => "Identity",
            HeaderKind::AcceptContact => "Accept-Contact",
            HeaderKind::RejectContact => "Reject-Contact",
            HeaderKind::RequestDisposition => "Request-Disposition",
            HeaderKind::Other => return None,
        })
    }
}

/// Whether two header names denote the same header (case-insensitive, compact = long form).
pub fn names_match(a: &[u8], b: &[u8]) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let ka = HeaderKind::from_name(a);
    ka != HeaderKind::Other && ka == HeaderKind::from_name(b)
}

/// One header line of a parsed message, borrowed from its buffer.
#[derive(Debug, Clone)]
pub struct HeaderRef<'a> {
    pub kind: HeaderKind,
    /// Name as written (maybe compact).
    pub name: &'a [u8],
    /// Value with surrounding LWS trimmed; folded lines keep their inner CRLF+SP.
    pub value: &'a [u8],
    /// Byte range of the whole line in the message buffer, terminator included.
    pub line: Range<usize>,
    /// Byte range of the value in the message buffer.
    pub value_range: Range<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(HeaderKind::from_name(b"VIA"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"v"), HeaderKind::Via);
        assert_eq!(HeaderKind::from_name(b"I"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"call-id"), HeaderKind::CallId);
        assert_eq!(HeaderKind::from_name(b"x"), HeaderKind::SessionExpires);
        assert_eq!(HeaderKind::from_name(b"b"), HeaderKind::ReferredBy);
        assert_eq!(HeaderKind::from_name(b"X-Foo"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b"q"), HeaderKind::Other);
        assert_eq!(HeaderKind::from_name(b""), HeaderKind::Other);
        assert!(names_match(b"l", b"Content-LENGTH"));
        assert!(names_match(b"x-a", b"X-A"));
        assert!(!names_match(b"x-a", b"X-B"));
        for (full, c, k) in NAMES {
            assert_eq!(HeaderKind::from_name(full), *k);
            assert_eq!(HeaderKind::from_name(&full.to_ascii_uppercase()), *k);
            if *c != 0 {
                assert_eq!(HeaderKind::from_name(&[*c]), *k);
                assert_eq!(HeaderKind::from_name(&[c.to_ascii_uppercase()]), *k);
            }
            assert!(k
                .canonical_name()
                .is_some_and(|n| n.as_bytes().eq_ignore_ascii_case(full)));
        }
    }
}
