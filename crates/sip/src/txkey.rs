//! Transaction matching keys (RFC 3261 17.1.3, 17.2.3, with the RFC 2543 fallback).
//!
//! Pure functions returning hashable keys; the transaction table lives in the server.

use crate::error::ParseError;
use crate::message::Message;
use crate::method::Method;
use bytes::Bytes;

/// Key identifying a server transaction for an incoming request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ServerTxKey {
    /// Branch with the `z9hG4bK` cookie: branch + sent-by + method (ACK folded into INVITE),
    /// within the Call-ID and CSeq number (`bucket`: [`bucket_of`]). Kamailio files
    /// transactions under a hash of the Call-ID and CSeq number and compares branches only
    /// inside that bucket: a request reusing a branch under another Call-ID or CSeq number is
    /// a new request (so is an ACK or CANCEL that does not carry its INVITE's Call-ID and
    /// CSeq number). A 64-bit hash rather than the values keeps the key small.
    Rfc3261 {
        branch: Bytes,
        sent_by: Bytes,
        method: KeyMethod,
        bucket: u64,
    },
    /// RFC 2543 peers (boxed: rare, and it would triple the size of every key).
    Rfc2543(Box<Rfc2543Key>),
}

/// The method in an RFC 3261 key: a known method by its variant, an
/// extension boxed. 16 bytes where a [`Method`] takes 40, in every live
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyMethod {
    Known(std::mem::Discriminant<Method>),
    Other(Box<Bytes>),
}

impl From<Method> for KeyMethod {
    fn from(m: Method) -> KeyMethod {
        match m {
            Method::Other(name) => KeyMethod::Other(Box::new(name)),
            known => KeyMethod::Known(std::mem::discriminant(&known)),
        }
    }
}

impl PartialEq<Method> for KeyMethod {
    fn eq(&self, m: &Method) -> bool {
        match (self, m) {
            (KeyMethod::Other(a), Method::Other(b)) => **a == *b,
            (KeyMethod::Known(d), m) => *d == std::mem::discriminant(m),
            _ => false,
        }
    }
}

impl ServerTxKey {
    /// Equal but for the method: a CANCEL's own key against the request it
    /// cancels (Kamailio matches a CANCEL to any transaction but a CANCEL).
    pub fn eq_but_method(&self, o: &ServerTxKey) -> bool {
        match (self, o) {
            (
                ServerTxKey::Rfc3261 {
                    branch,
                    sent_by,
                    bucket,
                    ..
                },
                ServerTxKey::Rfc3261 {
                    branch: b2,
                    sent_by: s2,
                    bucket: k2,
                    ..
                },
            ) => branch == b2 && sent_by == s2 && bucket == k2,
            (ServerTxKey::Rfc2543(a), ServerTxKey::Rfc2543(b)) => {
                a.ruri == b.ruri
                    && a.to_tag == b.to_tag
                    && a.from_tag == b.from_tag
                    && a.call_id == b.call_id
                    && a.cseq == b.cseq
                    && a.via == b.via
            }
            _ => false,
        }
    }

    /// The key's method is `m`.
    pub fn is_method(&self, m: &Method) -> bool {
        match self {
            ServerTxKey::Rfc3261 { method, .. } => method == m,
            ServerTxKey::Rfc2543(k) => k.method == *m,
        }
    }
}

/// RFC 2543 matching: R-URI, From tag, Call-ID, CSeq number, top Via, method (ACK folded
/// into INVITE), and the To tag except for INVITE/ACK (the ACK carries the tag of our reply).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rfc2543Key {
    pub ruri: Bytes,
    pub to_tag: Option<Bytes>,
    pub from_tag: Option<Bytes>,
    pub call_id: Bytes,
    pub cseq: u32,
    pub via: Bytes,
    pub method: Method,
}

fn tx_method(m: Method) -> Method {
    if m == Method::Ack {
        Method::Invite
    } else {
        m
    }
}

fn owned(msg: &Message, s: &[u8]) -> Bytes {
    // Slices of the message buffer stay zero-copy.
    let base = msg.buf().as_ptr() as usize;
    let p = s.as_ptr() as usize;
    if p >= base && p + s.len() <= base + msg.buf().len() {
        msg.slice(p - base..p - base + s.len())
    } else {
        Bytes::copy_from_slice(s)
    }
}

/// The Call-ID + CSeq number bucket of an RFC 3261 key (FNV-1a, 64 bits: the
/// same in every process and run).
pub fn bucket_of(call_id: &[u8], cseq: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id.iter().chain(b" ").chain(cseq.to_be_bytes().iter()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Server transaction key of a request. A CANCEL gets its own key (method CANCEL); to find
/// the INVITE it cancels, use [`cancel_target_key`].
pub fn server_tx_key(req: &Message) -> Result<ServerTxKey, ParseError> {
    key_with_method(req, tx_method(req.method()))
}

/// Key of the INVITE transaction a CANCEL refers to (same branch and sent-by, method INVITE).
pub fn cancel_target_key(cancel: &Message) -> Result<ServerTxKey, ParseError> {
    key_with_method(cancel, Method::Invite)
}

fn key_with_method(req: &Message, method: Method) -> Result<ServerTxKey, ParseError> {
    if !req.is_request() {
        return Err(ParseError::WrongKind("transaction key needs a request"));
    }
    let via = req.via1()?;
    if via.is_rfc3261_branch() {
        let branch = via.branch().unwrap_or_default();
        return Ok(ServerTxKey::Rfc3261 {
            branch: owned(req, branch),
            sent_by: owned(req, via.sent_by()),
            method: method.into(),
            bucket: bucket_of(
                req.call_id().ok_or(ParseError::NoHeader("Call-ID"))?,
                req.cseq_num()?,
            ),
        });
    }
    let to_tag = if method == Method::Invite {
        None
    } else {
        req.to()?.tag().map(|t| owned(req, t))
    };
    Ok(ServerTxKey::Rfc2543(Box::new(Rfc2543Key {
        ruri: owned(req, req.ruri_bytes()),
        to_tag,
        from_tag: req.from()?.tag().map(|t| owned(req, t)),
        call_id: owned(req, req.call_id().ok_or(ParseError::NoHeader("Call-ID"))?),
        cseq: req.cseq_num()?,
        via: owned(req, via.as_bytes()),
        method,
    })))
}

/// Client transaction key of a response (RFC 3261 17.1.3): top Via branch + CSeq method.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientTxKey {
    pub branch: Bytes,
    pub method: Method,
}

/// Key matching a response to the client transaction that sent the request.
pub fn client_tx_key(resp: &Message) -> Result<ClientTxKey, ParseError> {
    let via = resp.via1()?;
    let branch = via
        .branch()
        .ok_or(ParseError::BadHeader("Via", "no branch"))?;
    let (_, m) = resp.cseq()?;
    Ok(ClientTxKey {
        branch: owned(resp, branch),
        method: m,
    })
}
