//! Offset-based edits of an original message buffer, applied once on send.
//!
//! Script functions (`append_hf`, `remove_hf`, `subst`, `$ru = ...`, `forward()`) record
//! operations against offsets of the *original* buffer, so indexes and cached typed values
//! stay valid until the message is serialised.

use crate::error::ParseError;
use crate::header::HeaderKind;
use crate::message::Message;
use crate::scan::CommaSplit;
use std::ops::Range;

#[derive(Debug, Clone)]
struct Op {
    start: usize,
    end: usize,
    text: Vec<u8>,
    seq: u32,
    /// Set for text that names the socket the message leaves from: `text`
    /// is then re-rendered from it once that socket is known.
    sock: Option<Box<SockText>>,
}

/// One piece of a [`SockText`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SockPart {
    /// Always emitted as written.
    Lit(Vec<u8>),
    /// Emitted only when the message leaves from another socket than the one
    /// it arrived on.
    IfDiff(Vec<u8>),
    /// The address of the sending socket (`host:port[;transport=x]`).
    Snd,
    /// The address of the receiving socket.
    Rcv,
}

/// An inserted text that depends on the sockets a message arrived on and
/// leaves from (Record-Route), resolved when the message is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SockText {
    /// Who owns the text (lets its module find, extend or drop it later).
    pub tag: u8,
    /// The whole text is left out when both sockets are the same.
    pub only_if_diff: bool,
    pub parts: Vec<SockPart>,
}

impl SockText {
    /// The text for a message sent from `snd` after arriving on `rcv`.
    pub fn render(&self, snd: &[u8], rcv: &[u8], differ: bool, out: &mut Vec<u8>) {
        if self.only_if_diff && !differ {
            return;
        }
        for p in &self.parts {
            match p {
                SockPart::Lit(t) => out.extend_from_slice(t),
                SockPart::IfDiff(t) if differ => out.extend_from_slice(t),
                SockPart::IfDiff(_) => {}
                SockPart::Snd => out.extend_from_slice(snd),
                SockPart::Rcv => out.extend_from_slice(rcv),
            }
        }
    }
}

/// A list of insert/delete/replace operations on one buffer.
///
/// Semantics of [`Edits::apply`]: operations are sorted by start offset, ties by the order
/// they were added. An operation lying inside the range another one replaces is dropped
/// (a change to text that was removed or replaced as a whole, as Kamailio drops such
/// lumps); of two replacements of the same range the first one wins. Other overlapping
/// deletes are unioned, and an inserted text whose offset was already deleted comes right
/// after the text emitted before it.
///
/// Content-Length is computed when the message is serialised once a body change asked
/// for it ([`Edits::fix_content_length`]), so any number of body edits leave it right.
#[derive(Debug, Clone, Default)]
pub struct Edits {
    ops: Vec<Op>,
    seq: u32,
    clen: Option<ClenFix>,
}

/// Where the serialised body length goes: the value of the Content-Length
/// header, or a new header line inserted at the end of the headers.
#[derive(Debug, Clone)]
struct ClenFix {
    /// The header's value range, or the insertion point (empty range).
    at: Range<usize>,
    add_header: bool,
    /// The body in the original buffer (to the end of the buffer, as
    /// [`Edits::replace_body`] replaces it).
    body: Range<usize>,
}

impl Edits {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
    pub fn clear(&mut self) {
        self.ops.clear();
        self.seq = 0;
        self.clen = None;
    }
    /// Replaces `range` of the original buffer with `text`.
    pub fn replace(&mut self, range: Range<usize>, text: impl Into<Vec<u8>>) {
        let (start, end) = (range.start, range.end.max(range.start));
        self.ops.push(Op {
            start,
            end,
            text: text.into(),
            seq: self.seq,
            sock: None,
        });
        self.seq = self.seq.wrapping_add(1);
    }

    /// Inserts a socket-dependent text at `at`. Until [`Edits::resolve_sockets`]
    /// runs it reads as if the message left from the socket it arrived on
    /// (`rcv`).
    pub fn insert_sock(&mut self, at: usize, st: SockText, rcv: &[u8]) {
        let mut text = Vec::new();
        st.render(rcv, rcv, false, &mut text);
        self.ops.push(Op {
            start: at,
            end: at,
            text,
            seq: self.seq,
            sock: Some(Box::new(st)),
        });
        self.seq = self.seq.wrapping_add(1);
    }
    /// Whether any socket-dependent text waits for its sockets.
    pub fn has_sock(&self) -> bool {
        self.ops.iter().any(|o| o.sock.is_some())
    }
    /// Renders every socket-dependent text for a message sent from `snd`.
    pub fn resolve_sockets(&mut self, snd: &[u8], rcv: &[u8], differ: bool) {
        for o in &mut self.ops {
            if let Some(st) = &o.sock {
                o.text.clear();
                st.render(snd, rcv, differ, &mut o.text);
            }
        }
    }
    /// Changes the socket-dependent texts tagged `tag` (re-rendered for
    /// `rcv` as [`Edits::insert_sock`] does); returns how many there were.
    pub fn update_sock(&mut self, tag: u8, rcv: &[u8], mut f: impl FnMut(&mut SockText)) -> usize {
        let mut n = 0;
        for o in &mut self.ops {
            if let Some(st) = o.sock.as_deref_mut().filter(|st| st.tag == tag) {
                f(st);
                o.text.clear();
                st.render(rcv, rcv, false, &mut o.text);
                n += 1;
            }
        }
        n
    }
    /// Drops the socket-dependent texts tagged `tag`; returns how many.
    pub fn remove_sock(&mut self, tag: u8) -> usize {
        let before = self.ops.len();
        self.ops
            .retain(|o| o.sock.as_ref().is_none_or(|st| st.tag != tag));
        before - self.ops.len()
    }
    /// Inserts `text` at offset `at`.
    pub fn insert(&mut self, at: usize, text: impl Into<Vec<u8>>) {
        self.replace(at..at, text);
    }
    /// Deletes `range`.
    pub fn delete(&mut self, range: Range<usize>) {
        self.replace(range, Vec::new());
    }
    /// Whether any recorded delete/replace covers part of `range` (e.g. a header already removed).
    pub fn touches(&self, range: Range<usize>) -> bool {
        self.ops
            .iter()
            .any(|o| o.end > o.start && o.start < range.end && range.start < o.end)
    }

    /// Applies all operations to `buf`, returning the new bytes.
    pub fn apply(&self, buf: &[u8]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(buf.len() + self.ops.iter().map(|o| o.text.len()).sum::<usize>());
        self.apply_range_into(buf, 0..buf.len(), &mut out);
        out
    }
    /// Applies all operations, appending the result to `out` (for buffer reuse).
    pub fn apply_into(&self, buf: &[u8], out: &mut Vec<u8>) {
        self.apply_range_into(buf, 0..buf.len(), out);
    }
    /// Serialises the message with the edits: leading keep-alive CR/LF and bytes after the
    /// body (trailing datagram junk) are left out.
    pub fn apply_message(&self, msg: &Message) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            msg.buf().len() + self.ops.iter().map(|o| o.text.len()).sum::<usize>(),
        );
        self.apply_range_into(
            msg.buf(),
            msg.start_offset()..msg.body_range().end,
            &mut out,
        );
        out
    }

    /// Applies the operations that fall in `window` (others are clamped into it).
    pub fn apply_range_into(&self, buf: &[u8], window: Range<usize>, out: &mut Vec<u8>) {
        let mut order: Vec<&Op> = self.ops.iter().filter(|o| !self.shadowed(o)).collect();
        order.sort_by_key(|o| (o.start, o.seq));
        let clen_op;
        if let Some(c) = &self.clen {
            let in_body: Vec<&Op> = order
                .iter()
                .copied()
                .filter(|o| o.start >= c.body.start)
                .collect();
            let mut n = 0usize;
            render(buf, c.body.clone(), &in_body, &mut |b| n += b.len());
            let mut text = Vec::with_capacity(24);
            if c.add_header {
                text.extend_from_slice(b"Content-Length: ");
            }
            crate::reply::push_num(&mut text, n as u64);
            if c.add_header {
                text.extend_from_slice(b"\r\n");
            }
            // The computed value replaces whatever else edited the old one.
            order.retain(|o| c.add_header || o.start < c.at.start || o.end > c.at.end);
            clen_op = Op {
                start: c.at.start,
                end: c.at.end,
                text,
                seq: u32::MAX,
                sock: None,
            };
            let i = order.partition_point(|o| (o.start, o.seq) < (clen_op.start, clen_op.seq));
            order.insert(i, &clen_op);
        }
        render(buf, window, &order, &mut |b| out.extend_from_slice(b));
    }

    /// Whether `op` lies inside the range another operation replaces (see the
    /// type's documentation).
    fn shadowed(&self, op: &Op) -> bool {
        self.ops.iter().any(|o| {
            if o.end <= o.start || std::ptr::eq(o, op) {
                return false;
            }
            if op.start == op.end {
                // an insertion strictly inside a replaced range
                return op.start > o.start && op.start < o.end;
            }
            op.start >= o.start
                && op.end <= o.end
                && ((op.start, op.end) != (o.start, o.end) || o.seq < op.seq)
        })
    }

    /// After a body change: write the length of the body as serialised into
    /// Content-Length when the message is sent. Returns false (nothing to
    /// fix) when the message has no Content-Length header.
    pub fn fix_content_length(&mut self, msg: &Message) -> bool {
        let Some(h) = msg.header_ref(HeaderKind::ContentLength) else {
            return false;
        };
        self.clen = Some(ClenFix {
            at: h.value_range,
            add_header: false,
            body: msg.body_range().start..msg.buf().len().max(msg.body_range().end),
        });
        true
    }

    /// A message for a stream transport must say its body length: add a
    /// Content-Length header (last of the headers, holding the body length as
    /// sent) when the message has none.
    pub fn ensure_content_length(&mut self, msg: &Message) {
        if self.clen.is_some() || msg.header_ref(HeaderKind::ContentLength).is_some() {
            return;
        }
        let br = msg.body_range();
        let at = msg.headers_end();
        self.clen = Some(ClenFix {
            at: at..at,
            add_header: true,
            body: br.start..msg.buf().len().max(br.end),
        });
    }

    // ---- proxy helpers --------------------------------------------------------------

    /// What a proxy does to the top Via of a request it forwards (RFC 3261
    /// §18.2.2, RFC 3581), placed as Kamailio places it: when the sent-by host
    /// is not the source IP, the Via has a `received` already, or rport is
    /// asked for (by the Via or `force_rport`): the value of the (last) old
    /// `received` replaced in place, else `;received=IP` in front of the
    /// existing parameters; `rport` given the source port (added in front
    /// when only forced).
    pub fn mark_received(
        &mut self,
        msg: &Message,
        src_ip: &[u8],
        src_port: u16,
        force_rport: bool,
    ) {
        let Ok(v) = msg.via1() else { return };
        let ip = src_ip
            .strip_prefix(b"[")
            .and_then(|h| h.strip_suffix(b"]"))
            .unwrap_or(src_ip);
        let rport = v.rport().is_some();
        let old = v.received_param_range();
        if !(rport
            || force_rport
            || old.is_some()
            || !v.host_unbracketed().eq_ignore_ascii_case(ip))
        {
            return;
        }
        let mut port = Vec::with_capacity(5);
        crate::reply::push_num(&mut port, u64::from(src_port));
        let mut front = Vec::with_capacity(40);
        if force_rport && !rport {
            front.extend_from_slice(b";rport=");
            front.extend_from_slice(&port);
        }
        match old {
            Some(param) => self.replace(param, [&b"received="[..], src_ip].concat()),
            None => {
                front.extend_from_slice(b";received=");
                front.extend_from_slice(src_ip);
            }
        }
        if !front.is_empty() {
            self.insert(v.params_start(), front);
        }
        if let Some(r) = v.rport_param_range() {
            let mut text = b"rport=".to_vec();
            text.extend_from_slice(&port);
            self.replace(r, text);
        }
    }

    /// Replaces the Request-URI (`$ru = ...`).
    pub fn set_ruri(&mut self, msg: &Message, uri: &[u8]) -> Result<(), ParseError> {
        let r = msg
            .ruri_range()
            .ok_or(ParseError::WrongKind("a response has no Request-URI"))?;
        self.replace(r, uri);
        Ok(())
    }
    /// Inserts a header line (must end in CRLF) as the first header.
    pub fn insert_header_first(&mut self, msg: &Message, line: &[u8]) {
        self.insert(msg.headers_start(), line);
    }
    /// Appends a header line (must end in CRLF) after the last header.
    pub fn append_header(&mut self, msg: &Message, line: &[u8]) {
        self.insert(msg.headers_end(), line);
    }
    /// Removes a header line given its whole-line range ([`crate::HeaderRef::line`]).
    pub fn remove_line(&mut self, line: Range<usize>) {
        self.delete(line);
    }
    /// Removes every line of the header named `name` (compact forms equivalent); returns how many.
    pub fn remove_header(&mut self, msg: &Message, name: &[u8]) -> usize {
        let mut n = 0;
        for h in msg.headers_named(name) {
            self.delete(h.line);
            n += 1;
        }
        n
    }
    /// Replaces the body and fixes Content-Length (adding the header when absent).
    /// Earlier changes inside the old body are dropped: the new body replaces them.
    pub fn replace_body(&mut self, msg: &Message, body: &[u8]) {
        let br = msg.body_range();
        let end = msg.buf().len().max(br.end);
        self.ops
            .retain(|o| !(o.start >= br.start && o.end <= end && o.sock.is_none()));
        self.replace(br.start..end, body);
        if !self.fix_content_length(msg) {
            let at = msg.headers_end();
            self.clen = Some(ClenFix {
                at: at..at,
                add_header: true,
                body: br.start..end,
            });
        }
        if !msg.headers_terminated() {
            // The header section ran to the end: add the missing empty line before the body.
            self.insert(msg.headers_end(), b"\r\n".to_vec());
        }
    }
    /// Adds a Via line (from [`top_via_line`]) right above the first Via, as
    /// Kamailio anchors it (a header inserted above that Via stays above).
    pub fn add_top_via(&mut self, msg: &Message, line: &[u8]) {
        let at = msg
            .header_ref(HeaderKind::Via)
            .map_or(msg.headers_start(), |h| h.line.start);
        self.insert(at, line);
    }
    /// Removes the first Via value only (a reply being sent back upstream): the whole line
    /// when it holds one value, else that value and its comma.
    pub fn remove_top_via(&mut self, msg: &Message) -> Result<(), ParseError> {
        let h = msg
            .header_ref(HeaderKind::Via)
            .ok_or(ParseError::NoHeader("Via"))?;
        let mut split = CommaSplit::new(h.value);
        let first = split.next_range();
        match split.next_range() {
            Some((a2, _)) if first.is_some() => {
                let base = h.value_range.start;
                self.delete(base..base + a2);
            }
            _ => self.delete(h.line),
        }
        Ok(())
    }
}

/// Builds `Via: SIP/2.0/<TRANSPORT> host[:port];branch=<branch><extra>\r\n`.
///
/// `extra` is appended verbatim (e.g. `;rport` or `;i=abc`); IPv6 hosts must carry brackets.
pub fn top_via_line(
    transport: &[u8],
    host: &[u8],
    port: Option<u16>,
    branch: &[u8],
    extra: &[u8],
) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + host.len() + branch.len() + extra.len());
    v.extend_from_slice(b"Via: SIP/2.0/");
    v.extend(transport.iter().map(u8::to_ascii_uppercase));
    v.push(b' ');
    v.extend_from_slice(host);
    if let Some(p) = port {
        v.push(b':');
        crate::reply::push_num(&mut v, u64::from(p));
    }
    v.extend_from_slice(b";branch=");
    v.extend_from_slice(branch);
    v.extend_from_slice(extra);
    v.extend_from_slice(b"\r\n");
    v
}

/// Writes `window` of `buf` with the sorted operations `order` applied.
fn render(buf: &[u8], window: Range<usize>, order: &[&Op], sink: &mut dyn FnMut(&[u8])) {
    let wend = window.end.min(buf.len());
    let mut pos = window.start.min(wend);
    for op in order {
        let s = op.start.clamp(window.start, wend);
        let e = op.end.clamp(window.start, wend);
        if s > pos {
            sink(buf.get(pos..s).unwrap_or_default());
            pos = s;
        }
        sink(&op.text);
        pos = pos.max(e);
    }
    sink(buf.get(pos..wend).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn top_via_after_mark(via: &str, force: bool) -> String {
        let raw = format!(
            "INVITE sip:b@h SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\n\
             Call-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        let msg = Message::parse(bytes::Bytes::from(raw)).unwrap();
        let mut e = Edits::new();
        e.mark_received(&msg, b"192.0.2.7", 5099, force);
        let out = String::from_utf8(e.apply_message(&msg)).unwrap();
        out.lines()
            .nth(1)
            .unwrap()
            .trim_start_matches("Via: ")
            .to_string()
    }

    #[test]
    fn mark_received_as_kamailio_places_it() {
        // same host, no rport: untouched
        assert_eq!(
            top_via_after_mark("SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1", false),
            "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK1"
        );
        assert_eq!(
            top_via_after_mark("SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", false),
            "SIP/2.0/UDP 10.0.0.1:5060;received=192.0.2.7;branch=z9hG4bK1"
        );
        assert_eq!(
            top_via_after_mark("SIP/2.0/UDP 192.0.2.7;branch=z9hG4bK1;rport", false),
            "SIP/2.0/UDP 192.0.2.7;received=192.0.2.7;branch=z9hG4bK1;rport=5099"
        );
        assert_eq!(
            top_via_after_mark(
                "SIP/2.0/UDP h:1;received=1.1.1.1;rport=7;branch=z9hG4bK1",
                false
            ),
            "SIP/2.0/UDP h:1;received=192.0.2.7;rport=5099;branch=z9hG4bK1"
        );
        assert_eq!(
            top_via_after_mark("SIP/2.0/UDP h:1;branch=z9hG4bK1", true),
            "SIP/2.0/UDP h:1;rport=5099;received=192.0.2.7;branch=z9hG4bK1"
        );
        assert_eq!(
            top_via_after_mark("SIP/2.0/UDP [::1]:5090 ;branch=z9hG4bK1", false),
            "SIP/2.0/UDP [::1]:5090 ;received=192.0.2.7;branch=z9hG4bK1"
        );
        assert_eq!(
            top_via_after_mark("SIP/2.0/UDP h", false),
            "SIP/2.0/UDP h;received=192.0.2.7"
        );
    }

    #[test]
    fn raw_ops() {
        let b = b"0123456789";
        let mut e = Edits::new();
        e.insert(0, b"<".to_vec());
        e.replace(2..4, b"X".to_vec());
        e.delete(3..6); // overlaps the replace: only 4..6 more is removed
        e.insert(10, b">".to_vec());
        e.insert(10, b"!".to_vec());
        e.insert(5, b"i".to_vec()); // inside a deleted range: dropped
        assert_eq!(e.apply(b), b"<01X6789>!");
        assert!(e.touches(5..7));
        assert!(!e.touches(7..9));
        let mut out = b"pre:".to_vec();
        e.apply_into(b, &mut out);
        assert_eq!(out, b"pre:<01X6789>!");
        assert_eq!(Edits::new().apply(b), b);
        // Out-of-range offsets are clamped, never panic.
        let mut e = Edits::new();
        e.delete(8..100);
        e.insert(50, b"z".to_vec());
        e.insert(200, b"y".to_vec());
        assert_eq!(e.apply(b), b"01234567y");
    }

    #[test]
    fn changes_inside_a_replaced_range_are_dropped() {
        let b = b"0123456789";
        let mut e = Edits::new();
        e.replace(2..4, b"ab".to_vec());
        e.replace(1..6, b"W".to_vec()); // covers the first: it alone counts
        e.replace(7..8, b"x".to_vec());
        e.replace(7..8, b"y".to_vec()); // same range: the first wins
        e.insert(1, b"<".to_vec()); // at the start of a replaced range: kept
        assert_eq!(e.apply(b), b"0W<6x89");
    }

    fn body_msg(body: &str, clen: Option<usize>) -> Message {
        let cl = clen.map_or(String::new(), |n| format!("Content-Length: {n}\r\n"));
        Message::parse(bytes::Bytes::from(format!(
            "MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
             From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\
             {cl}\r\n{body}"
        )))
        .unwrap()
    }

    #[test]
    fn content_length_follows_every_body_change() {
        let m = body_msg("hello world", Some(11));
        let at = m.body_range().start;
        let mut e = Edits::new();
        e.replace(at..at + 5, b"hi".to_vec());
        e.fix_content_length(&m);
        e.replace(at + 6..at + 11, b"everyone out there".to_vec());
        e.fix_content_length(&m);
        let out = String::from_utf8(e.apply_message(&m)).unwrap();
        assert!(
            out.ends_with("Content-Length: 21\r\n\r\nhi everyone out there"),
            "{out}"
        );

        // A new body replaces earlier body changes; later ones inside it are dropped.
        let mut e = Edits::new();
        e.replace(at..at + 5, b"hi".to_vec());
        e.fix_content_length(&m);
        e.replace_body(&m, b"xyz");
        e.replace(at..at + 5, b"later".to_vec());
        e.fix_content_length(&m);
        let out = String::from_utf8(e.apply_message(&m)).unwrap();
        assert!(out.ends_with("Content-Length: 3\r\n\r\nxyz"), "{out}");

        // For a stream: added when missing, as the last header.
        let m = body_msg("hello", None);
        let mut e = Edits::new();
        e.ensure_content_length(&m);
        let out = String::from_utf8(e.apply_message(&m)).unwrap();
        assert!(
            out.ends_with("CSeq: 1 MESSAGE\r\nContent-Length: 5\r\n\r\nhello"),
            "{out}"
        );
        let m = body_msg("hello", Some(5));
        let mut e = Edits::new();
        e.ensure_content_length(&m);
        assert_eq!(e.apply_message(&m), m.buf().to_vec());

        // Without the header, replace_body adds it.
        let m = body_msg("hello", None);
        let mut e = Edits::new();
        e.replace_body(&m, b"four");
        let out = String::from_utf8(e.apply_message(&m)).unwrap();
        assert!(out.ends_with("Content-Length: 4\r\n\r\nfour"), "{out}");
    }

    #[test]
    fn socket_texts() {
        let b = b"AB";
        let mut e = Edits::new();
        let st = |only_if_diff| SockText {
            tag: 7,
            only_if_diff,
            parts: vec![
                SockPart::Lit(b"<".to_vec()),
                SockPart::Snd,
                SockPart::IfDiff(b";r2".to_vec()),
                SockPart::Lit(b"|".to_vec()),
                SockPart::Rcv,
                SockPart::Lit(b">".to_vec()),
            ],
        };
        e.insert_sock(1, st(true), b"r");
        e.insert_sock(1, st(false), b"r");
        assert!(e.has_sock());
        assert_eq!(e.apply(b), b"A<r|r>B");
        let mut same = e.clone();
        same.resolve_sockets(b"s", b"r", false);
        assert_eq!(same.apply(b), b"A<s|r>B");
        e.resolve_sockets(b"s", b"r", true);
        assert_eq!(e.apply(b), b"A<s;r2|r><s;r2|r>B");
        assert_eq!(
            e.update_sock(7, b"r", |st| st
                .parts
                .insert(1, SockPart::Lit(b"u@".to_vec()))),
            2
        );
        assert_eq!(e.apply(b), b"A<u@r|r>B");
        assert_eq!(e.update_sock(8, b"r", |_| {}), 0);
        assert_eq!(e.remove_sock(7), 2);
        assert!(!e.has_sock());
        assert_eq!(e.apply(b), b"AB");
    }

    #[test]
    fn via_line() {
        assert_eq!(
            top_via_line(b"udp", b"10.0.0.1", Some(5060), b"z9hG4bKabc", b";rport"),
            b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
        );
        assert_eq!(
            top_via_line(b"tcp", b"[::1]", None, b"z9hG4bK1", b""),
            b"Via: SIP/2.0/TCP [::1];branch=z9hG4bK1\r\n"
        );
    }
}
