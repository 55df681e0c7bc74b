//! POSIX extended regular expressions as Kamailio's glibc `regcomp` /
//! `regexec` read them, on top of the `regex` crate: the syntax translated
//! (`posix_to_rust`), `REG_NEWLINE` and `REG_ICASE` as builder flags, and the
//! leftmost-longest match extent (`PosixRegex`), which the `regex` crate's
//! leftmost-first search does not give.

use regex::bytes::{Regex, RegexBuilder};
use regex_automata::util::captures::Captures;
use regex_automata::util::syntax;
use regex_automata::{meta, Anchored, Input, MatchKind};
use std::ops::Range;

/// `re` in the `regex` crate's syntax with glibc's flags applied.
fn pattern(re: &str, icase: bool, newline: bool) -> String {
    let rust = posix_to_rust(re, icase);
    if newline {
        newline_safe_classes(&rust)
    } else {
        rust
    }
}

fn bad(re: &str, e: impl std::fmt::Display) -> String {
    format!(
        "bad regular expression `{re}`: {}",
        e.to_string().lines().last().unwrap_or("")
    )
}

/// Compile a POSIX ERE as glibc's `regcomp(REG_EXTENDED | flags)` reads it:
/// with `newline` (`REG_NEWLINE`, Kamailio's default for textops and
/// `subst`) `^`/`$` also match at line ends and neither `.` nor a negated
/// bracket matches `\n`; without it (`subst`'s `s` flag) `.` matches `\n`.
pub fn compile_posix(re: &str, icase: bool, newline: bool) -> Result<Regex, String> {
    RegexBuilder::new(&pattern(re, icase, newline))
        .multi_line(newline)
        .dot_matches_new_line(!newline)
        .case_insensitive(icase)
        .build()
        .map_err(|e| bad(re, e))
}

/// A POSIX ERE for edits, where the extent of a match matters: POSIX takes
/// the longest of the matches that start leftmost (`ali|alice` on `alice`
/// is the whole word, `(0|00)` on `0012` is `00`), where the `regex` crate
/// stops at the first alternative that matches. `first` finds where the
/// leftmost match starts; `longest` (the same expression, keeping every
/// match) runs anchored there and reports the longest end with its groups.
#[derive(Clone, Debug)]
pub struct PosixRegex {
    first: Regex,
    longest: meta::Regex,
}

impl PosixRegex {
    pub fn new(re: &str, icase: bool, newline: bool) -> Result<PosixRegex, String> {
        let first = compile_posix(re, icase, newline)?;
        let longest = meta::Regex::builder()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .utf8_empty(false),
            )
            .syntax(
                syntax::Config::new()
                    .utf8(false)
                    .multi_line(newline)
                    .dot_matches_new_line(!newline)
                    .case_insensitive(icase),
            )
            .build(&pattern(re, icase, newline))
            .map_err(|e| bad(re, e))?;
        Ok(PosixRegex { first, longest })
    }

    /// The leftmost-first form, for tests that only ask whether it matches.
    pub fn regex(&self) -> &Regex {
        &self.first
    }

    pub fn create_captures(&self) -> Captures {
        self.longest.create_captures()
    }

    /// The leftmost-longest match starting at `at` or later, its groups in
    /// `caps` (group 0 is the match).
    pub fn captures_at(&self, hay: &[u8], at: usize, caps: &mut Captures) -> Option<Range<usize>> {
        let start = self.first.find_at(hay, at)?.start();
        let input = Input::new(hay).range(start..).anchored(Anchored::Yes);
        self.longest.search_captures(&input, caps);
        caps.get_match().map(|m| m.range())
    }

    /// The leftmost-longest match starting at `at` or later.
    pub fn find_at(&self, hay: &[u8], at: usize) -> Option<Range<usize>> {
        let start = self.first.find_at(hay, at)?.start();
        let input = Input::new(hay).range(start..).anchored(Anchored::Yes);
        self.longest.search(&input).map(|m| m.range())
    }
}

/// Make negated bracket expressions of a (Rust-syntax) regex exclude `\n`, as
/// POSIX `REG_NEWLINE` does.
fn newline_safe_classes(re: &str) -> String {
    let b: Vec<char> = re.chars().collect();
    let mut out = String::with_capacity(re.len() + 4);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '\\' {
            out.push(c);
            if let Some(&n) = b.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if c == '[' {
            out.push('[');
            i += 1;
            if b.get(i) == Some(&'^') {
                out.push_str("^\\n");
                i += 1;
            }
            // copy to the closing bracket (escapes and [:class:] kept)
            if b.get(i) == Some(&']') {
                out.push(']');
                i += 1;
            }
            while i < b.len() && b[i] != ']' {
                if b[i] == '\\' {
                    out.push('\\');
                    if let Some(&n) = b.get(i + 1) {
                        out.push(n);
                    }
                    i += 2;
                    continue;
                }
                if b[i] == '[' && matches!(b.get(i + 1), Some(':' | '.' | '=')) {
                    let d = b[i + 1];
                    while i < b.len() && !(b[i] == d && b.get(i + 1) == Some(&']')) {
                        out.push(b[i]);
                        i += 1;
                    }
                    if i < b.len() {
                        out.push(b[i]);
                        out.push(']');
                        i += 2;
                    }
                    continue;
                }
                out.push(b[i]);
                i += 1;
            }
            if i < b.len() {
                out.push(']');
                i += 1;
            }
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// POSIX ERE to the `regex` crate's syntax. The crate already understands
/// `[[:digit:]]`-style classes; what differs is that POSIX has no escapes
/// inside brackets and treats `{` literally when it cannot start a bound.
pub fn posix_to_rust(re: &str, icase: bool) -> String {
    let mut out = String::with_capacity(re.len() + 8);
    let b: Vec<char> = re.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == '[' {
            // copy a bracket expression, escaping `\` and `[` that are literal in POSIX
            out.push('[');
            i += 1;
            if i < b.len() && b[i] == '^' {
                out.push('^');
                i += 1;
            }
            if i < b.len() && b[i] == ']' {
                out.push_str("\\]");
                i += 1;
            }
            while i < b.len() && b[i] != ']' {
                if b[i] == '[' && i + 1 < b.len() && matches!(b[i + 1], ':' | '.' | '=') {
                    let delim = b[i + 1];
                    let start = i;
                    i += 2;
                    while i + 1 < b.len() && !(b[i] == delim && b[i + 1] == ']') {
                        i += 1;
                    }
                    i = (i + 2).min(b.len());
                    out.extend(&b[start..i]);
                    continue;
                }
                match b[i] {
                    '\\' => out.push_str("\\\\"),
                    '[' => out.push_str("\\["),
                    '&' | '~' | '-' if i + 1 < b.len() && b[i + 1] == b[i] => {
                        out.push('\\');
                        out.push(b[i]);
                    }
                    c => out.push(c),
                }
                i += 1;
            }
            if i < b.len() {
                out.push(']');
                i += 1;
            }
            continue;
        }
        if c == '{' {
            // literal unless it is a valid bound `{n}`, `{n,}`, `{n,m}`
            let rest: String = b[i + 1..].iter().collect();
            let close = rest.find('}');
            let valid = close.is_some_and(|e| {
                let inner = &rest[..e];
                !inner.is_empty()
                    && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
                    && inner.chars().next().is_some_and(|c| c.is_ascii_digit())
                    && inner.matches(',').count() <= 1
            });
            if !valid || out.is_empty() {
                out.push_str("\\{");
                i += 1;
                continue;
            }
        }
        if c == '\\' && i + 1 < b.len() {
            push_escape(&mut out, b[i + 1], icase);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// A backslash escape outside brackets as glibc's `regcomp` reads it in an
/// ERE: the GNU operators `\w \W \s \S \b \B \< \>` and the buffer anchors
/// `` \` `` / `\'`; a back-reference `\1`-`\9` (left for the regex engine to
/// refuse); any other letter is that letter (`\d` is `d`, `\t` is `t`), except
/// with REG_ICASE, where glibc makes it match nothing; anything else is the
/// character itself (`\.`, `\+`).
fn push_escape(out: &mut String, e: char, icase: bool) {
    match e {
        'w' | 'W' | 's' | 'S' | 'b' | 'B' | '<' | '>' => {
            out.push('\\');
            out.push(e);
        }
        '`' => out.push_str("\\A"),
        '\'' => out.push_str("\\z"),
        '1'..='9' => {
            out.push('\\');
            out.push(e);
        }
        c if c.is_ascii_alphabetic() => {
            if icase {
                out.push_str("[^\\x00-\\x{10FFFF}]");
            } else {
                out.push(c);
            }
        }
        c if c.is_ascii_punctuation() => {
            out.push('\\');
            out.push(c);
        }
        c => out.push(c),
    }
}

#[cfg(test)]
mod posix_escape_tests {
    use super::posix_to_rust;

    fn m(re: &str, icase: bool, s: &str) -> bool {
        regex::bytes::RegexBuilder::new(&posix_to_rust(re, icase))
            .case_insensitive(icase)
            .build()
            .expect("compiles")
            .is_match(s.as_bytes())
    }

    /// glibc's regcomp (what Kamailio uses), checked with a small C program:
    /// an escaped letter is the letter, or matches nothing with REG_ICASE;
    /// the GNU operators keep their meaning; punctuation is literal.
    #[test]
    fn escapes_as_glibc() {
        assert!(m(r"^\d$", false, "d"));
        assert!(!m(r"^\d$", false, "5"));
        assert!(!m(r"^\d$", true, "d"));
        assert!(!m(r"^\d$", true, "5"));
        assert!(m(r"^\t\n\r$", false, "tnr"));
        assert!(m(r"^\w\s\W$", true, "a !"));
        assert!(m(r"\bb", true, "a b"));
        assert!(m(r"^a\.\+\@\,\%$", true, "a.+@,%"));
        assert!(!m(r"^a\.$", false, "ab"));
        assert!(m(r"\`ab\'", false, "ab"));
        assert!(m(r"[\d]", false, "\\"));
        assert!(!m(r"\q", true, "q"));
    }
}

#[cfg(test)]
mod tests {
    use super::{compile_posix, newline_safe_classes, PosixRegex};

    #[test]
    fn posix_newline_flag() {
        assert_eq!(newline_safe_classes("[^]a]"), "[^\\n]a]");
        assert_eq!(newline_safe_classes("\\[^a]"), "\\[^a]");
        assert_eq!(newline_safe_classes("[^[:alpha:]]x"), "[^\\n[:alpha:]]x");
        let nl = compile_posix("a.b|^c", false, true).unwrap();
        assert!(!nl.is_match(b"a\nb") && nl.is_match(b"x\nc"));
        let flat = compile_posix("a.b|^c", false, false).unwrap();
        assert!(flat.is_match(b"a\nb") && !flat.is_match(b"x\nc"));
    }

    /// The extents glibc's regexec reports (checked against Kamailio's
    /// `{re.subst}`): the longest match among those that start leftmost.
    #[test]
    fn leftmost_longest() {
        let find = |re: &str, hay: &str| {
            PosixRegex::new(re, false, true)
                .unwrap()
                .find_at(hay.as_bytes(), 0)
        };
        assert_eq!(find("ali|alice", "alice"), Some(0..5));
        assert_eq!(find("(0|00)", "0012"), Some(0..2));
        assert_eq!(find("(a*)(ab)?b", "aabb"), Some(0..4));
        assert_eq!(find("b|$", "ab"), Some(1..2));
        assert_eq!(find("x*", "abc"), Some(0..0));
        assert_eq!(find("z", "abc"), None);
        let re = PosixRegex::new("(a|al)(ice|lice)", false, true).unwrap();
        let mut caps = re.create_captures();
        assert_eq!(re.captures_at(b"alice", 0, &mut caps), Some(0..5));
        assert_eq!(caps.get_group(1).map(|s| s.range()), Some(0..1));
    }
}
