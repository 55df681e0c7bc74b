//! Stateless replies built from a request (RFC 3261 8.2.6, 18.2.2; RFC 3581).

use crate::error::ParseError;
use crate::header::HeaderKind;
use crate::message::Message;

/// What the caller knows beyond the request itself.
#[derive(Debug, Clone, Default)]
pub struct ReplyOpts<'a> {
    /// Tag added to To when it has none and the code is 180 or more (as Kamailio's
    /// sl and tm; see [`to_tag`]).
    pub to_tag: Option<&'a [u8]>,
    /// Source IP of the request as text (IPv6 with or without brackets).
    pub src_ip: Option<&'a [u8]>,
    /// Source port of the request.
    pub src_port: Option<u16>,
    /// Fill/add `rport=` even without an `rport` param in the top Via (Kamailio `force_rport()`).
    pub force_rport: bool,
    /// Extra header lines inserted after the copied ones (`Server: x\r\n...`); a missing final CRLF is added.
    pub extra_headers: &'a [u8],
    /// Header lines written after Content-Length (where Kamailio puts its
    /// `sip_warning` Warning header).
    pub trailing_headers: &'a [u8],
    /// Content-Type for a non-empty body.
    pub content_type: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The code as the script gave it when it is outside 0..=999 (Kamailio
    /// sends its last three digits, but decides the To tag and Record-Route
    /// copy on the given value: `1180` goes out as `180` without Record-Route).
    pub script_code: Option<i32>,
}

/// Stable To tag from Call-ID, From tag and top Via branch, so retransmissions get the same tag.
pub fn to_tag(req: &Message) -> [u8; 16] {
    // Eight bytes per multiply (the parts are tens of bytes, hashed per reply);
    // each part's length is mixed in so that part boundaries count.
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |w: u64| h = (h ^ w).wrapping_mul(K).rotate_left(29);
    let mut feed = |s: &[u8]| {
        let mut words = s.chunks_exact(8);
        for w in &mut words {
            let mut b = [0u8; 8];
            b.copy_from_slice(w);
            mix(u64::from_le_bytes(b));
        }
        let rest = words.remainder();
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        mix(u64::from_le_bytes(b) ^ ((s.len() as u64) << 56));
    };
    feed(req.call_id().unwrap_or_default());
    feed(req.from_tag_fast().unwrap_or_default());
    feed(req.via1().ok().and_then(|v| v.branch()).unwrap_or_default());
    // Final avalanche, so every output digit depends on every input byte.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    let mut out = [0u8; 16];
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, o) in out.iter_mut().enumerate() {
        *o = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

/// A To-tag as Kamailio builds its local ones: the server's 32-character
/// prefix, a separator (`.` for sl, `-` for tm) and 8 hex digits of a hash of
/// what identifies the request (the first or second half of [`to_tag`]), so a
/// retransmission gets the same tag. On the stack: no allocation per reply.
pub fn local_tag(prefix: &[u8], sep: u8, second_half: bool, req: &Message) -> [u8; 41] {
    let mut tag = [b'0'; 41];
    let n = prefix.len().min(32);
    tag[..n].copy_from_slice(&prefix[..n]);
    tag[32] = sep;
    let h = to_tag(req);
    tag[33..].copy_from_slice(if second_half { &h[8..] } else { &h[..8] });
    tag
}

fn strip_brackets(h: &[u8]) -> &[u8] {
    h.strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(h)
}

/// Builds a reply into a fresh buffer. See [`build_reply_into`].
pub fn build_reply(req: &Message, code: u16, reason: &[u8], opts: &ReplyOpts<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(req.headers_end() + 128 + opts.body.len());
    build_reply_into(req, code, reason, opts, &mut out);
    out
}

/// A short text inserted at (or replacing) a range of the request, kept on
/// the stack. Texts longer than its capacity are cut (an IP address and a
/// port always fit).
struct Piece {
    start: usize,
    end: usize,
    len: usize,
    buf: [u8; 80],
}

impl Piece {
    fn new(start: usize, end: usize) -> Piece {
        Piece {
            start,
            end,
            len: 0,
            buf: [0; 80],
        }
    }
    fn is_set(&self) -> bool {
        self.len > 0
    }
    fn push(&mut self, s: &[u8]) {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
    }
    fn push_num(&mut self, mut u: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (u % 10) as u8;
            u /= 10;
            if u == 0 {
                break;
            }
        }
        self.push(&tmp[i..]);
    }
    fn text(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Appends `u` in decimal.
pub(crate) fn push_num(out: &mut Vec<u8>, mut u: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    out.extend_from_slice(tmp.get(i..).unwrap_or_default());
}

/// Copies `buf[range]` into `out`, applying sorted, non-overlapping `(start, end, text)` replacements.
fn copy_with(
    out: &mut Vec<u8>,
    buf: &[u8],
    range: std::ops::Range<usize>,
    mods: &[(usize, usize, &[u8])],
) {
    let mut pos = range.start;
    for &(s, e, text) in mods {
        if s < pos || s > range.end {
            continue;
        }
        out.extend_from_slice(buf.get(pos..s).unwrap_or_default());
        out.extend_from_slice(text);
        pos = e.max(s);
    }
    out.extend_from_slice(buf.get(pos..range.end).unwrap_or_default());
}

/// Builds a reply: status line, copies of every Via, From, To, Call-ID and CSeq line
/// (verbatim, in request order, so compact names and bare LF stay as they were),
/// Record-Route for 180–299, `received`/`rport` on the top Via, a To tag, the caller's
/// extra headers, Content-Type/Content-Length and body. Rebuilt lines end in CRLF.
pub fn build_reply_into(
    req: &Message,
    code: u16,
    reason: &[u8],
    opts: &ReplyOpts<'_>,
    out: &mut Vec<u8>,
) {
    let buf: &[u8] = req.buf();
    // the request's version text as received (`sip/2.0` stays lower case,
    // as Kamailio copies it)
    let version = req.version();
    if req.is_http() || version.is_empty() {
        out.extend_from_slice(b"SIP/2.0");
    } else {
        out.extend_from_slice(version);
    }
    out.push(b' ');
    let rule_code = opts.script_code.unwrap_or(i32::from(code));
    // always three digits (`099`), as Kamailio prints any code it is given
    let c = code.min(999);
    out.extend_from_slice(&[
        b'0' + (c / 100) as u8,
        b'0' + (c / 10 % 10) as u8,
        b'0' + (c % 10) as u8,
    ]);
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");

    // Top Via modifications (absolute offsets); rport before received at the same
    // spot. The texts are short and bounded, so they live on the stack: building
    // a reply allocates nothing beyond `out`.
    let mut rport_ins = Piece::new(0, 0);
    let mut received_ins = Piece::new(0, 0);
    if let (Ok(v), Some(ip)) = (req.via1(), opts.src_ip) {
        let end = v.value_end();
        if let Some(port) = opts.src_port {
            // The whole parameter is rewritten (name, any value the client
            // put there, blanks around), as Kamailio does.
            match v.rport_param_range() {
                Some(r) => {
                    rport_ins = Piece::new(r.start, r.end);
                    rport_ins.push(b"rport=");
                    rport_ins.push_num(u64::from(port));
                }
                None if opts.force_rport => {
                    rport_ins = Piece::new(end, end);
                    rport_ins.push(b";rport=");
                    rport_ins.push_num(u64::from(port));
                }
                _ => {}
            }
        }
        // RFC 3581 (and Kamailio): with the client's rport, `received` is
        // always added (`force_rport()` alone does not add it); without it,
        // when the Via has one already or its sent-by host is not the source
        // IP. Kamailio appends it at the end of the Via, keeping any earlier
        // `received`.
        if v.rport().is_some()
            || v.received_range().is_some()
            || !v
                .host_unbracketed()
                .eq_ignore_ascii_case(strip_brackets(ip))
        {
            // At the end of the first Via header line, after every value it
            // holds (as Kamailio).
            let line_end = req
                .header_ref(HeaderKind::Via)
                .map_or(end, |h| h.value_range.end);
            received_ins = Piece::new(line_end, line_end);
            received_ins.push(b";received=");
            received_ins.push(ip);
        }
    }
    let mut mods: [(usize, usize, &[u8]); 2] = [(0, 0, &[]), (0, 0, &[])];
    let mut n_mods = 0;
    for p in [&rport_ins, &received_ins] {
        if p.is_set() {
            mods[n_mods] = (p.start, p.end, p.text());
            n_mods += 1;
        }
    }
    if n_mods == 2 && (mods[1].0, mods[1].1) < (mods[0].0, mods[0].1) {
        mods.swap(0, 1);
    }
    let mods = &mods[..n_mods];

    let mut first_via = true;
    for h in req.headers() {
        match h.kind {
            // Kamailio rebuilds the Via lines: they end in CRLF even when the
            // request's lines end in bare LF.
            HeaderKind::Via => {
                let content = h.line.start..line_content_end(buf, h.line.clone());
                if first_via {
                    first_via = false;
                    copy_with(out, buf, content, mods);
                } else {
                    out.extend_from_slice(buf.get(content).unwrap_or_default());
                }
                out.extend_from_slice(b"\r\n");
            }
            HeaderKind::From | HeaderKind::CallId | HeaderKind::CSeq => {
                out.extend_from_slice(buf.get(h.line.clone()).unwrap_or_default());
            }
            HeaderKind::RecordRoute if (180..300).contains(&rule_code) => {
                out.extend_from_slice(buf.get(h.line.clone()).unwrap_or_default());
            }
            HeaderKind::To => {
                let has_tag = req.to_tag_fast().is_some();
                match opts.to_tag {
                    Some(tag) if !has_tag && rule_code >= 180 => {
                        let at = h.value_range.end;
                        copy_with(
                            out,
                            buf,
                            h.line.clone(),
                            &[(at, at, b";tag="), (at, at, tag)],
                        );
                    }
                    _ => out.extend_from_slice(buf.get(h.line.clone()).unwrap_or_default()),
                }
            }
            _ => {}
        }
    }
    if !opts.extra_headers.is_empty() {
        out.extend_from_slice(opts.extra_headers);
        if !opts.extra_headers.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    if !opts.body.is_empty() {
        if let Some(ct) = opts.content_type {
            out.extend_from_slice(b"Content-Type: ");
            out.extend_from_slice(ct);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: ");
    push_num(out, opts.body.len() as u64);
    out.extend_from_slice(b"\r\n");
    if !opts.trailing_headers.is_empty() {
        out.extend_from_slice(opts.trailing_headers);
        if !opts.trailing_headers.ends_with(b"\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(opts.body);
}

/// Where a header line's content ends: before its CRLF or bare LF.
fn line_content_end(buf: &[u8], line: std::ops::Range<usize>) -> usize {
    let text = buf.get(line.clone()).unwrap_or_default();
    let n = if text.ends_with(b"\r\n") {
        2
    } else {
        usize::from(text.ends_with(b"\n"))
    };
    line.end - n
}

/// The port a reply over UDP goes to, at the request's source IP (as
/// Kamailio; a `received` in the Via does not count): with `rport` in the top
/// Via (or `force_rport`) the source port (RFC 3581), else the Via port
/// (missing or 0: 5060, 5061 for TLS). Over TCP/TLS the connection is reused.
pub fn reply_port(req: &Message, src_port: u16, force_rport: bool) -> Result<u16, ParseError> {
    let v = req.via1()?;
    if v.rport().is_some() || force_rport {
        return Ok(src_port);
    }
    let default = if v.transport().eq_ignore_ascii_case(b"TLS") {
        5061
    } else {
        5060
    };
    Ok(v.port().filter(|p| *p != 0).unwrap_or(default))
}
