//! Incremental netstring framing (`LEN:DATA,`) for the evapi socket.
//!
//! The parser works on the bytes buffered for one connection and reports one
//! step at a time, so a caller can hand frames out as they complete and keep
//! the unparsed tail for the next read. A frame may be split anywhere,
//! including just before its trailing `,`.

/// Most length digits accepted before the prefix is taken as oversized.
const MAX_DIGITS: usize = 12;

/// One parsing step over the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// A complete frame: its payload is `buf[start..end]`; drop `consumed` bytes.
    Frame {
        start: usize,
        end: usize,
        consumed: usize,
    },
    /// An empty netstring (`0:,`) or whitespace between frames: drop `consumed` bytes.
    Skip { consumed: usize },
    /// Bytes that are not a netstring: drop `consumed` bytes (up to and
    /// including the next `,`, or everything buffered when there is none).
    Junk { consumed: usize },
    /// The frame is not complete yet.
    NeedMore,
    /// The frame (length prefix, data and comma) would be longer than the
    /// allowed maximum.
    TooBig { len: u64 },
}

/// Parse the first step of `buf`, with whole frames (`LEN:DATA,`) limited to
/// `max` bytes.
pub fn step(buf: &[u8], max: usize) -> Step {
    if buf.is_empty() {
        return Step::NeedMore;
    }
    // Whitespace between frames (a client writing lines) is tolerated.
    let ws = buf
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    if ws > 0 {
        return Step::Skip { consumed: ws };
    }
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return junk(buf);
    }
    let mut len: u64 = 0;
    for &d in &buf[..digits.min(MAX_DIGITS + 1)] {
        len = len.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    if digits > MAX_DIGITS || len.saturating_add(digits as u64 + 2) > max as u64 {
        return Step::TooBig { len };
    }
    if digits == buf.len() {
        return Step::NeedMore;
    }
    if buf[digits] != b':' {
        return junk(buf);
    }
    let start = digits + 1;
    let end = start + len as usize;
    if buf.len() <= end {
        return Step::NeedMore;
    }
    if buf[end] != b',' {
        return junk(buf);
    }
    if len == 0 {
        Step::Skip { consumed: end + 1 }
    } else {
        Step::Frame {
            start,
            end,
            consumed: end + 1,
        }
    }
}

fn junk(buf: &[u8]) -> Step {
    let consumed = match memchr::memchr(b',', buf) {
        Some(i) => i + 1,
        None => buf.len(),
    };
    Step::Junk { consumed }
}

/// Append `data` as a netstring to `out`.
pub fn encode_into(data: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(data);
    out.push(b',');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in pieces split at `cuts` and collect (frames, junk count, too big).
    fn run(input: &[u8], cuts: &[usize], max: usize) -> (Vec<Vec<u8>>, usize, bool) {
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        let mut junk = 0;
        let mut pieces = Vec::new();
        let mut last = 0;
        for &c in cuts {
            pieces.push(&input[last..c]);
            last = c;
        }
        pieces.push(&input[last..]);
        for p in pieces {
            buf.extend_from_slice(p);
            loop {
                match step(&buf, max) {
                    Step::Frame {
                        start,
                        end,
                        consumed,
                    } => {
                        frames.push(buf[start..end].to_vec());
                        buf.drain(..consumed);
                    }
                    Step::Skip { consumed } => {
                        buf.drain(..consumed);
                    }
                    Step::Junk { consumed } => {
                        junk += 1;
                        buf.drain(..consumed);
                    }
                    Step::NeedMore => break,
                    Step::TooBig { .. } => return (frames, junk, true),
                }
            }
        }
        (frames, junk, false)
    }

    #[test]
    fn whole_and_multiple_frames() {
        let (f, j, big) = run(b"5:hello,3:abc,", &[], 100);
        assert_eq!(f, vec![b"hello".to_vec(), b"abc".to_vec()]);
        assert_eq!((j, big), (0, false));
    }

    #[test]
    fn split_everywhere() {
        let input = b"11:hello world,2:ab,";
        for cut in 1..input.len() {
            let (f, j, _) = run(input, &[cut], 100);
            assert_eq!(
                f,
                vec![b"hello world".to_vec(), b"ab".to_vec()],
                "cut at {cut}"
            );
            assert_eq!(j, 0);
        }
        // byte by byte
        let cuts: Vec<usize> = (1..input.len()).collect();
        assert_eq!(run(input, &cuts, 100).0.len(), 2);
        // just before the comma
        assert_eq!(step(b"5:hello", 100), Step::NeedMore);
    }

    #[test]
    fn empty_and_whitespace() {
        let (f, j, _) = run(b"0:,\r\n5:hello,\n", &[], 100);
        assert_eq!(f, vec![b"hello".to_vec()]);
        assert_eq!(j, 0);
    }

    #[test]
    fn junk_resyncs() {
        let (f, j, _) = run(b"garbage,5:hello,", &[], 100);
        assert_eq!((f, j), (vec![b"hello".to_vec()], 1));
        let (f, j, _) = run(b"5xhello,3:abc,", &[], 100);
        assert_eq!((f, j), (vec![b"abc".to_vec()], 1));
        // wrong terminator
        let (f, j, _) = run(b"3:abcd,2:ok,", &[], 100);
        assert_eq!((f, j), (vec![b"ok".to_vec()], 1));
        // no comma anywhere: everything dropped
        assert_eq!(step(b"\x00\x01\x02", 100), Step::Junk { consumed: 3 });
    }

    #[test]
    fn too_big() {
        // 96 bytes of data: 2 digits, `:`, data and `,` make 100
        assert_eq!(step(b"97:", 100), Step::TooBig { len: 97 });
        assert!(matches!(
            step(b"99999999999999999999999:", 100),
            Step::TooBig { .. }
        ));
        assert_eq!(step(b"96:", 100), Step::NeedMore);
        assert_eq!(step(b"12", 100), Step::NeedMore);
    }

    #[test]
    fn encode() {
        let mut v = Vec::new();
        encode_into(b"hi", &mut v);
        encode_into(b"", &mut v);
        assert_eq!(v, b"2:hi,0:,");
    }
}
