//! The `re` transformation class: `{re.subst,/re/repl/flags}`.
//!
//! Observed on Kamailio 5.6: the whole text up to the closing `}` is the
//! expression (commas included); the replacement takes `\0`..`\9`, `\u`
//! (the R-URI) and pseudo-variables; flags `i` (ignore case), `g` (all
//! matches) and `s` (`.` matches a newline, `^`/`$` only at the ends);
//! without a match the value is returned unchanged, and an expression that
//! matches the empty string fails (the transformation is null). The regex is
//! compiled at load.

use super::{boxed, did_you_mean_method, input_bytes};
use crate::posix::PosixRegex;
use crate::pv::{parse_pv, scan_pv_len, PvSpec};
use crate::registry::{FixupCtx, TrParam, TransformImpl};
use crate::value::Value;
use regex_automata::util::captures::Captures;

enum Part<C> {
    Text(Vec<u8>),
    Group(usize),
    Pv(Box<PvSpec<C>>),
}

/// A parsed `/re/repl/flags` substitution (Kamailio's one syntax, shared by
/// `{re.subst}` and textops' `subst*` functions).
pub struct Subst<C> {
    re: PosixRegex,
    repl: Vec<Part<C>>,
    global: bool,
}

pub(super) fn parse<C: 'static>(
    fx: &mut FixupCtx<'_, C>,
    method: &str,
    params: Vec<TrParam<C>>,
) -> Result<Box<dyn TransformImpl<C>>, String> {
    if method != "subst" {
        return Err(did_you_mean_method("re", method, &["subst"]));
    }
    let text = match params.as_slice() {
        [TrParam::Str(t)] => String::from_utf8_lossy(t).into_owned(),
        _ => return Err("`re.subst` takes one expression: {re.subst,/re/repl/flags}".into()),
    };
    let sub = parse_subst(fx, &text)?;
    Ok(boxed(move |ctx: &mut C, v: Value| {
        let s = input_bytes(&v)?;
        sub.apply(ctx, &s).map(Value::from_vec)
    }))
}

/// Split `/re/repl/flags` at unescaped delimiters; `\<delim>` is the delimiter
/// itself, other escapes stay for the regex or the replacement.
fn split(text: &str) -> Result<(String, String, String), String> {
    let mut chars = text.chars();
    let delim = chars
        .next()
        .ok_or("empty substitution expression: expected /re/repl/flags")?;
    if delim == '\\' || delim.is_alphanumeric() || delim.is_whitespace() {
        return Err(format!("bad delimiter `{delim}` in `{text}`"));
    }
    let mut parts: Vec<String> = vec![String::new()];
    let mut esc = false;
    for c in chars {
        let n = parts.len();
        let cur = parts.last_mut().ok_or("internal")?;
        if esc {
            if c != delim {
                cur.push('\\');
            }
            cur.push(c);
            esc = false;
        } else if c == '\\' {
            esc = true;
        } else if c == delim && n < 3 {
            parts.push(String::new());
        } else {
            cur.push(c);
        }
    }
    if esc {
        if let Some(cur) = parts.last_mut() {
            cur.push('\\');
        }
    }
    match <[String; 3]>::try_from(parts) {
        Ok([re, repl, flags]) if !re.is_empty() => Ok((re, repl, flags)),
        Ok(_) => Err(format!("empty regular expression in `{text}`")),
        Err(_) => Err(format!(
            "bad substitution expression `{text}`: expected {delim}re{delim}repl{delim}flags"
        )),
    }
}

fn parse_subst<C>(fx: &mut FixupCtx<'_, C>, text: &str) -> Result<Subst<C>, String> {
    Subst::parse(fx, text)
}

impl<C> Subst<C> {
    /// Parse `/re/repl/flags` (flags `i`, `g`, `s`) and compile the regex
    /// with Kamailio's `REG_EXTENDED|REG_NEWLINE` (`s` drops the latter).
    pub fn parse(fx: &mut FixupCtx<'_, C>, text: &str) -> Result<Subst<C>, String> {
        let (re, repl, flags) = split(text)?;
        let (mut icase, mut global, mut newline) = (false, false, true);
        for f in flags.chars() {
            match f {
                'i' => icase = true,
                'g' => global = true,
                's' => newline = false,
                _ => return Err(format!("unknown flag `{f}` in `{text}`")),
            }
        }
        let re = PosixRegex::new(&re, icase, newline)?;
        let b = repl.as_bytes();
        let mut parts = Vec::new();
        let mut lit = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'\\' if i + 1 < b.len() => {
                    match b[i + 1] {
                        d @ b'0'..=b'9' => {
                            // A group the regex does not have is accepted and
                            // expands to nothing (observed on Kamailio 5.6).
                            let g = usize::from(d - b'0');
                            if !lit.is_empty() {
                                parts.push(Part::Text(std::mem::take(&mut lit)));
                            }
                            parts.push(Part::Group(g));
                        }
                        // `\u` is the request URI as it stands
                        b'u' => match parse_pv(fx, "$ru") {
                            Ok((pv, _)) => {
                                if !lit.is_empty() {
                                    parts.push(Part::Text(std::mem::take(&mut lit)));
                                }
                                parts.push(Part::Pv(Box::new(pv)));
                            }
                            Err(_) => lit.push(b'u'),
                        },
                        b'n' => lit.push(b'\n'),
                        b'r' => lit.push(b'\r'),
                        b't' => lit.push(b'\t'),
                        c => lit.push(c),
                    }
                    i += 2;
                }
                b'$' if b.get(i + 1) == Some(&b'$') => {
                    lit.push(b'$');
                    i += 2;
                }
                b'$' if scan_pv_len(&repl[i..]).is_some() => {
                    let (pv, n) = parse_pv(fx, &repl[i..])?;
                    if !lit.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Pv(Box::new(pv)));
                    i += n;
                }
                c => {
                    lit.push(c);
                    i += 1;
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Text(lit));
        }
        Ok(Subst {
            re,
            repl: parts,
            global,
        })
    }

    fn expand(&self, ctx: &mut C, hay: &[u8], caps: &Captures, out: &mut Vec<u8>) {
        for p in &self.repl {
            match p {
                Part::Text(t) => out.extend_from_slice(t),
                Part::Group(g) => {
                    if let Some(span) = caps.get_group(*g) {
                        out.extend_from_slice(hay.get(span.range()).unwrap_or_default());
                    }
                }
                Part::Pv(pv) => {
                    if let Some(v) = pv.try_get(ctx) {
                        v.write_to(out);
                    }
                }
            }
        }
    }

    /// The replacements for `hay`, `(range in hay, new text)`, found as
    /// Kamailio's `subst_run` does: each search starts where the previous
    /// match ended (the first match only without `g`). A match of the empty
    /// string is an error there: None, nothing is replaced.
    pub fn run(&self, ctx: &mut C, hay: &[u8]) -> Option<Vec<(std::ops::Range<usize>, Vec<u8>)>> {
        let mut out = Vec::new();
        let mut caps = self.re.create_captures();
        let mut at = 0;
        while at <= hay.len() {
            let Some(m) = self.re.captures_at(hay, at, &mut caps) else {
                break;
            };
            if m.is_empty() {
                return None;
            }
            let mut text = Vec::new();
            self.expand(ctx, hay, &caps, &mut text);
            at = m.end;
            out.push((m, text));
            if !self.global {
                break;
            }
        }
        Some(out)
    }

    /// `s` with the substitution applied (unchanged without a match); None
    /// on an empty match.
    fn apply(&self, ctx: &mut C, s: &[u8]) -> Option<Vec<u8>> {
        Some(Self::splice(s, &self.run(ctx, s)?))
    }

    /// `s` with the replacements of [`Subst::run`] made.
    pub fn splice(s: &[u8], reps: &[(std::ops::Range<usize>, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::with_capacity(s.len() + 16);
        let mut last = 0;
        for (r, text) in reps {
            out.extend_from_slice(s.get(last..r.start).unwrap_or_default());
            out.extend_from_slice(text);
            last = r.end;
        }
        out.extend_from_slice(s.get(last..).unwrap_or_default());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn split_expressions() {
        let t = |x: &str| split(x).map(|(a, b, c)| format!("{a}|{b}|{c}"));
        assert_eq!(t("/o/0/g").unwrap(), "o|0|g");
        assert_eq!(t("/a\\/b/c/").unwrap(), "a/b|c|");
        assert_eq!(
            t("/(\\w+) (\\w+)/\\2 \\1/").unwrap(),
            "(\\w+) (\\w+)|\\2 \\1|"
        );
        assert_eq!(t("#,#;#").unwrap(), ",|;|");
        assert_eq!(t("#x#\\1#").unwrap(), "x|\\1|");
        assert_eq!(t("/a\\/b/c/gi").unwrap(), "a/b|c|gi");
        assert!(t("/a/b").is_err());
        assert!(t("//b/").is_err());
        assert!(t("").is_err());
        assert!(t("abc").is_err());
    }
}
