//! Shell-style wildcard matching, as the C library's `fnmatch()` with no
//! flags (or case folding): `*` any run of bytes (`/` and a leading `.`
//! included), `?` one byte, `[...]` a set (`!` or `^` negates, ranges,
//! `[:class:]`), `\` quotes the next byte. An unterminated `[` is a literal
//! `[`; a pattern ending in a lone `\` matches nothing.

/// Whether `text` matches the wildcard `pattern`.
pub fn fnmatch(pattern: &[u8], text: &[u8], icase: bool) -> bool {
    let fold = |c: u8| if icase { c.to_ascii_lowercase() } else { c };
    let (mut p, mut t) = (0usize, 0usize);
    // where to resume after the last `*`: (pattern after it, text position)
    let mut star: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    while pattern.get(p) == Some(&b'*') {
                        p += 1;
                    }
                    if p == pattern.len() {
                        return true;
                    }
                    star = Some((p, t));
                    continue;
                }
                b'?' if t < text.len() => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' if t < text.len() => match bracket(pattern, p, fold(text[t]), icase) {
                    Some((true, next)) => {
                        p = next;
                        t += 1;
                        continue;
                    }
                    Some((false, _)) => {}
                    None => {
                        // no closing bracket: a literal `[`
                        if text[t] == b'[' {
                            p += 1;
                            t += 1;
                            continue;
                        }
                    }
                },
                b'\\' => {
                    if let (Some(&q), Some(&c)) = (pattern.get(p + 1), text.get(t)) {
                        if fold(q) == fold(c) {
                            p += 2;
                            t += 1;
                            continue;
                        }
                    }
                    if p + 1 >= pattern.len() {
                        // a trailing backslash is an error: no match
                        return false;
                    }
                }
                c if t < text.len() && fold(c) == fold(text[t]) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        } else if t == text.len() {
            return true;
        }
        // mismatch: let the last `*` take one more byte
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

/// Match byte `c` (already folded) against the set starting at `pattern[at]`
/// (`[`). Answers whether it matched and the position after the set, or
/// None when the set has no closing `]`.
fn bracket(pattern: &[u8], at: usize, c: u8, icase: bool) -> Option<(bool, usize)> {
    let fold = |x: u8| if icase { x.to_ascii_lowercase() } else { x };
    let mut i = at + 1;
    let negate = matches!(pattern.get(i), Some(b'!' | b'^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let &b = pattern.get(i)?;
        if b == b']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        if b == b'[' && pattern.get(i + 1) == Some(&b':') {
            let rest = pattern.get(i + 2..)?;
            if let Some(end) = rest.windows(2).position(|w| w == b":]") {
                let class = &rest[..end];
                if class_has(class, c) || (icase && class_has(class, c.to_ascii_uppercase())) {
                    hit = true;
                }
                i += 2 + end + 2;
                continue;
            }
        }
        let (lo, next) = if b == b'\\' {
            (*pattern.get(i + 1)?, i + 2)
        } else {
            (b, i + 1)
        };
        i = next;
        // a range `lo-hi` (a `-` before `]` is literal)
        if pattern.get(i) == Some(&b'-') && pattern.get(i + 1).is_some_and(|&x| x != b']') {
            let (hi, after) = if pattern.get(i + 1) == Some(&b'\\') {
                (*pattern.get(i + 2)?, i + 3)
            } else {
                (*pattern.get(i + 1)?, i + 2)
            };
            i = after;
            let (l, h) = (fold(lo), fold(hi));
            if (l <= c && c <= h) || (lo <= c && c <= hi) {
                hit = true;
            }
        } else if fold(lo) == c {
            hit = true;
        }
    }
}

fn class_has(class: &[u8], c: u8) -> bool {
    match class {
        b"alpha" => c.is_ascii_alphabetic(),
        b"digit" => c.is_ascii_digit(),
        b"alnum" => c.is_ascii_alphanumeric(),
        b"upper" => c.is_ascii_uppercase(),
        b"lower" => c.is_ascii_lowercase(),
        b"space" => c.is_ascii_whitespace() || c == 0x0b,
        b"blank" => c == b' ' || c == b'\t',
        b"punct" => c.is_ascii_punctuation(),
        b"xdigit" => c.is_ascii_hexdigit(),
        b"cntrl" => c.is_ascii_control(),
        b"print" => (0x20..0x7f).contains(&c),
        b"graph" => (0x21..0x7f).contains(&c),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    fn m(p: &str, t: &str) -> bool {
        fnmatch(p.as_bytes(), t.as_bytes(), false)
    }

    #[test]
    fn as_kamailio_5_6() {
        // the fn1 case recorded on Kamailio 5.6.3
        assert!(m("abc*", "abc123"));
        assert!(!m("abc*", "ABC123"));
        assert!(fnmatch(b"abc*", b"ABC123", true));
        assert!(m("a*b", "a/b"));
        assert!(m("a?b", "a.b"));
        assert!(m("[a-c]b", "ab"));
        assert!(m("[!a-c]b", "db"));
        assert!(m("\\*b", "*b"));
        assert!(m("", ""));
        assert!(m("*", ""));
        assert!(m("*x", ".x"));
        assert!(!m("[^a]b", "ab"));
        assert!(m("[]]b", "]b"));
        assert!(!m("[a", "ab"));
        assert!(m("[a", "[a"));
        assert!(m("[[:alpha:]]b", "ab"));
        assert!(!m("a\\", "a\\"));
    }

    #[test]
    fn stars_backtrack() {
        assert!(m("*a*b*c", "xxaybzzc"));
        assert!(!m("*a*b*c", "xxaybzz"));
        assert!(m("a**", "a"));
        assert!(!m("?", ""));
        assert!(m("1??4*", "12345"));
        assert!(!m("abc", "abcd"));
        assert!(m("[0-9][0-9]", "42"));
        assert!(fnmatch(b"[A-C]x", b"bX", true));
        assert!(!m("[!0-9]", "5"));
        assert!(m("[a\\]]", "]"));
        assert!(m("x[-a]", "x-"));
    }
}
