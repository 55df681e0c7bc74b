//! Parse errors. Every refusal names what was wrong so callers can log it.

use std::fmt;

/// Why a message, header value or URI could not be parsed or was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// The buffer is empty or holds only CR/LF.
    Empty,
    /// The buffer is larger than 4 GiB (offsets are `u32`).
    TooLarge,
    /// The request or status line is malformed; the text says how.
    StartLine(&'static str),
    /// A header line has no colon or a bad name, and a required header is
    /// not before it (Kamailio drops such messages).
    BadHeaderLine { offset: u32 },
    /// A required header is missing (its canonical name).
    MissingHeader(&'static str),
    /// The named header is not present (typed accessor on an absent header).
    NoHeader(&'static str),
    /// The named header's value does not match its grammar; the second field says how.
    BadHeader(&'static str, &'static str),
    /// A URI does not match its grammar.
    BadUri(&'static str),
    /// The message is not a request / not a response where one was needed.
    WrongKind(&'static str),
    /// RFC-level validation failed (see `Message::validate_rfc`).
    Invalid(&'static str),
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Empty => f.write_str("empty message"),
            ParseError::TooLarge => f.write_str("message larger than 4 GiB"),
            ParseError::StartLine(w) => write!(f, "bad start line: {w}"),
            ParseError::BadHeaderLine { offset } => {
                write!(
                    f,
                    "unusable header line (no colon or a bad name) at offset {offset}"
                )
            }
            ParseError::MissingHeader(h) => write!(f, "missing required header {h}"),
            ParseError::NoHeader(h) => write!(f, "no {h} header"),
            ParseError::BadHeader(h, w) => write!(f, "bad {h} header: {w}"),
            ParseError::BadUri(w) => write!(f, "bad URI: {w}"),
            ParseError::WrongKind(w) => f.write_str(w),
            ParseError::Invalid(w) => write!(f, "invalid message: {w}"),
        }
    }
}

impl std::error::Error for ParseError {}
