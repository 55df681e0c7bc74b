//! Byte-level helpers shared by the parsers.

/// SIP linear whitespace, including the CR/LF of folded lines.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Strips leading and trailing LWS.
pub fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_lws(b)).unwrap_or(s.len());
    let end = s.iter().rposition(|&b| !is_lws(b)).map_or(start, |e| e + 1);
    s.get(start..end).unwrap_or_default()
}

/// Offsets `(start, end)` of `s[from..to]` with LWS stripped.
pub(crate) fn trim_range(s: &[u8], mut from: usize, mut to: usize) -> (usize, usize) {
    while from < to && s.get(from).is_some_and(|&b| is_lws(b)) {
        from += 1;
    }
    while to > from && s.get(to - 1).is_some_and(|&b| is_lws(b)) {
        to -= 1;
    }
    (from, to)
}

/// ASCII case-insensitive equality.
#[inline]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// ASCII-lowercases 8 bytes at once (only `A`..=`Z` change).
#[inline]
fn lower8(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let heptets = w & (0x7f * ONES);
    let above_a = heptets + (0x80 - b'A' as u64) * ONES;
    let above_z = heptets + (0x80 - b'Z' as u64 - 1) * ONES;
    // High bit set where 'A' <= byte <= 'Z' (and the byte is ASCII).
    let upper = (above_a ^ above_z) & !w & (0x80 * ONES);
    w | (upper >> 2)
}

/// Whether `s` equals `lower` (an all-lowercase ASCII name) ignoring ASCII
/// case; eight bytes at a time, for header-name lookups.
#[inline]
pub(crate) fn eq_lowercase(s: &[u8], lower: &[u8]) -> bool {
    if s.len() != lower.len() {
        return false;
    }
    let (mut a, mut b) = (s, lower);
    while a.len() >= 8 {
        let (x, rest_a) = a.split_at(8);
        let (y, rest_b) = b.split_at(8);
        let xw = u64::from_le_bytes(x.try_into().unwrap_or_default());
        let yw = u64::from_le_bytes(y.try_into().unwrap_or_default());
        if lower8(xw) != yw {
            return false;
        }
        (a, b) = (rest_a, rest_b);
    }
    // The tail, assembled in registers (a memcpy here costs more than the compare).
    let (mut xw, mut yw) = (0u64, 0u64);
    for (i, (&x, &y)) in a.iter().zip(b).enumerate() {
        xw |= (x as u64) << (8 * i);
        yw |= (y as u64) << (8 * i);
    }
    lower8(xw) == yw
}

/// RFC 3261 `token` characters, as a table.
const TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        c += 1;
    }
    t
};

/// Header name bytes Kamailio 5.6 reads (probed byte by byte): letters,
/// digits and `-._+~`. A line whose name has another byte (RFC 3261 tokens
/// such as `!` or `` ` `` included) is unusable to it.
const HEADER_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'+' | b'~');
        c += 1;
    }
    t
};

/// A byte Kamailio accepts in a header name.
#[inline]
pub(crate) fn is_header_name_char(b: u8) -> bool {
    HEADER_NAME[b as usize]
}

/// RFC 3261 `token` character.
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// One logical line: `start..end` is the content without its terminator (folded
/// continuation lines included), `next` is where the following line starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Line {
    pub start: usize,
    pub end: usize,
    pub next: usize,
}

impl Line {
    pub fn bytes<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.start..self.end).unwrap_or_default()
    }
}

/// Iterates logical lines (folding continuation lines that start with SP/HT into
/// the previous one); stops after the empty line or at the end of the buffer.
pub(crate) struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

impl<'a> Lines<'a> {
    pub fn new(buf: &'a [u8], pos: usize) -> Self {
        Lines {
            buf,
            pos,
            done: false,
        }
    }
}

/// End of the physical line starting at `pos`: (content end, next line start).
#[inline]
pub(crate) fn phys_line(buf: &[u8], pos: usize) -> (usize, usize) {
    match buf.get(pos..).and_then(|r| memchr::memchr(b'\n', r)) {
        Some(i) => {
            let lf = pos + i;
            let end = if lf > pos && buf.get(lf - 1) == Some(&b'\r') {
                lf - 1
            } else {
                lf
            };
            (end, lf + 1)
        }
        None => (buf.len(), buf.len()),
    }
}

impl Iterator for Lines<'_> {
    type Item = Line;
    fn next(&mut self) -> Option<Line> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let start = self.pos;
        let (mut end, mut next) = phys_line(self.buf, start);
        if end == start {
            self.done = true;
        } else {
            while matches!(self.buf.get(next), Some(b' ' | b'\t')) {
                (end, next) = phys_line(self.buf, next);
            }
        }
        self.pos = next;
        Some(Line { start, end, next })
    }
}

/// Parses a decimal `u32` (no sign, no whitespace); `None` on overflow or junk.
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 10 {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(b - b'0');
    }
    u32::try_from(n).ok()
}

/// Splits a header value at top-level commas (not inside quotes or `<...>`),
/// yielding trimmed, non-empty elements as offsets relative to `s`.
#[derive(Clone)]
pub struct CommaSplit<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> CommaSplit<'a> {
    /// Iterates the comma-separated elements of a header value.
    pub fn new(s: &'a [u8]) -> Self {
        CommaSplit { s, pos: 0 }
    }

    /// Next element as a `(start, end)` offset pair, trimmed; empty elements are yielded too.
    pub fn next_range(&mut self) -> Option<(usize, usize)> {
        if self.pos > self.s.len() {
            return None;
        }
        let start = self.pos;
        // Jump from one byte that matters to the next (memchr): outside
        // quotes and `<...>` a comma ends the element; `<` opens an address
        // (commas inside do not count); a quote opens a string anywhere.
        let (mut i, mut in_q, mut in_a) = (start, false, false);
        while let Some(rest) = self.s.get(i..) {
            let found = if in_q {
                memchr::memchr2(b'\\', b'"', rest)
            } else if in_a {
                memchr::memchr2(b'>', b'"', rest)
            } else {
                memchr::memchr3(b',', b'"', b'<', rest)
            };
            let Some(k) = found else {
                i = self.s.len();
                break;
            };
            i += k;
            match (in_q, self.s[i]) {
                (true, b'\\') => i += 1,
                (true, _) => in_q = false,
                (false, b'"') => in_q = true,
                (false, b'<') => in_a = true,
                (false, b'>') => in_a = false,
                _ => break, // a comma outside quotes and brackets
            }
            i += 1;
        }
        let end = i.min(self.s.len());
        self.pos = end + 1;
        Some(trim_range(self.s, start, end))
    }

    /// Where the element last returned by [`next_range`](Self::next_range)
    /// ended: the offset of its separating comma, or None when it was the last.
    pub fn last_separator(&self) -> Option<usize> {
        let at = self.pos.checked_sub(1)?;
        (at < self.s.len()).then_some(at)
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a [u8];
    /// Skips empty elements (`a,,b` yields `a`, `b`).
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let (a, b) = self.next_range()?;
            if b > a {
                return self.s.get(a..b);
            }
        }
    }
}

/// Splits a header value at top-level commas; see [`CommaSplit`].
pub fn split_commas(s: &[u8]) -> CommaSplit<'_> {
    CommaSplit::new(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-at-a-time definition the memchr jumps must agree with.
    fn split_bytewise(s: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos <= s.len() {
            let (start, mut i, mut in_q, mut in_a) = (pos, pos, false, false);
            while let Some(&b) = s.get(i) {
                match (in_q, b) {
                    (true, b'\\') => i += 1,
                    (true, b'"') => in_q = false,
                    (false, b'"') => in_q = true,
                    (false, b'<') => in_a = true,
                    (false, b'>') => in_a = false,
                    (false, b',') if !in_a => break,
                    _ => {}
                }
                i += 1;
            }
            let end = i.min(s.len());
            pos = end + 1;
            out.push(trim_range(s, start, end));
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn comma_split_matches_the_bytewise_scan(v in proptest::collection::vec(
            proptest::sample::select(b" ,<>\"\\ab;=".to_vec()), 0..40)) {
            let mut split = CommaSplit::new(&v);
            let got: Vec<_> = std::iter::from_fn(|| split.next_range()).collect();
            proptest::prop_assert_eq!(got, split_bytewise(&v));
        }
    }

    #[test]
    fn commas() {
        let v: Vec<&[u8]> =
            split_commas(b" \"A, B\" <sip:a@b;x=\"1,2\">;q=1 , <sip:c,d>, sip:e ,,").collect();
        assert_eq!(
            v,
            vec![
                &b"\"A, B\" <sip:a@b;x=\"1,2\">;q=1"[..],
                &b"<sip:c,d>"[..],
                &b"sip:e"[..]
            ]
        );
        let v: Vec<&[u8]> = split_commas(b"\"a\\\",b\", c").collect();
        assert_eq!(v, vec![&b"\"a\\\",b\""[..], &b"c"[..]]);
    }

    #[test]
    fn lines_fold() {
        let b = b"A\r\nB: 1\r\n 2\r\n\t3\nC\r\n\r\nbody";
        let l: Vec<&[u8]> = Lines::new(b, 0).map(|l| l.bytes(b)).collect();
        assert_eq!(l, vec![&b"A"[..], b"B: 1\r\n 2\r\n\t3", b"C", b""]);
    }

    #[test]
    fn trims() {
        assert_eq!(trim(b" \t a b\r\n "), b"a b");
        assert_eq!(trim(b"   "), b"");
        assert_eq!(parse_u32(b"4294967295"), Some(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), None);
    }
}

#[cfg(test)]
mod eq_tests {
    use super::eq_lowercase;

    #[test]
    fn eq_lowercase_matches_eq_ignore_ascii_case() {
        let names: &[&[u8]] = &[
            b"",
            b"to",
            b"via",
            b"content-length",
            b"p-preferred-identity",
        ];
        for &lower in names {
            assert!(eq_lowercase(lower, lower));
            assert!(eq_lowercase(&lower.to_ascii_uppercase(), lower));
        }
        // Every byte value against every position of a 9-byte name (crosses a word).
        let lower = b"max-forwa";
        for pos in 0..lower.len() {
            for b in 0..=255u8 {
                let mut s = *lower;
                s[pos] = b;
                assert_eq!(
                    eq_lowercase(&s, lower),
                    s.eq_ignore_ascii_case(lower),
                    "byte {b:#x} at {pos}"
                );
            }
        }
        assert!(!eq_lowercase(b"vi", b"via"));
    }
}
