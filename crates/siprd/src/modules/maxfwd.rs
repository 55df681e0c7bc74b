//! maxfwd: Max-Forwards processing.
//!
//! Observed on Kamailio 5.6 (`mf_process_maxfwd_header(N)`): no header → adds
//! `Max-Forwards: N` as the first header and returns 2; value 0 → -1 (header
//! untouched); otherwise the value is decremented (and capped at `max_limit`,
//! default 70) and rewritten in place with the same width, left-padded with
//! spaces (`10` → ` 9`), returning 1; an unparsable value → -2; N outside
//! 0..255 (or a variable not holding an integer) → -1. `maxfwd_process` and
//! `process_maxfwd` are the same function.
//! `is_maxfwd_lt(N)` (= `maxfwd_at_least`, `mf_lowlimit`): 1 when the value
//! is below N, -1 when not or when N > 255, -2 without the header, -3 when it
//! does not parse. It reads the value after this request's decrement (Kamailio
//! rewrites the number in place), but not a header added by the module.

use crate::context::Ctx;
use crate::module::Module;
use crate::modules::args::{int_arg, int_or_bare_pv};
use siprd_script::registry::{func, Arg, FuncDef, ModParamDecl, ModParamType};
use siprd_script::{route_type, Registry, Value};
use siprd_sip::header::HeaderKind;
use std::sync::Arc;

pub struct Maxfwd {
    max_limit: u32,
}

impl Default for Maxfwd {
    fn default() -> Self {
        Maxfwd { max_limit: 70 }
    }
}

/// Parse a Max-Forwards value: digits only, at most 3 of them... as Kamailio
/// reads it (a number that fits).
fn parse_mf(v: &[u8]) -> Option<u32> {
    if v.is_empty() || v.len() > 9 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')))
}

/// The new text for a value field of `width` bytes holding `n`: right-aligned,
/// left-padded with spaces (as Kamailio rewrites it in place).
pub(crate) fn padded(n: u32, width: usize) -> Vec<u8> {
    let s = n.to_string().into_bytes();
    if s.len() >= width {
        return s;
    }
    let mut out = vec![b' '; width - s.len()];
    out.extend_from_slice(&s);
    out
}

/// Outcome of processing: the return code and the edit to make, if any.
pub(crate) fn process(value: Option<&[u8]>, max: u32, limit: u32) -> (i32, Option<Vec<u8>>) {
    match value {
        None => (2, Some(format!("Max-Forwards: {max}\r\n").into_bytes())),
        Some(v) => match parse_mf(v) {
            None => (-2, None),
            Some(0) => (-1, None),
            Some(n) => (1, Some(padded((n - 1).min(limit), v.len()))),
        },
    }
}

impl Module for Maxfwd {
    fn name(&self) -> &'static str {
        "maxfwd"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        vec![ModParamDecl {
            name: "max_limit",
            ty: ModParamType::Int,
        }]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        match name {
            "max_limit" => match value {
                Value::Int(i) if (1..=256).contains(i) => {
                    self.max_limit = *i as u32;
                    Ok(())
                }
                _ => Err("max_limit must be 1..256".into()),
            },
            _ => Err(format!("module `maxfwd` has no parameter `{name}`")),
        }
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        let limit = Arc::new(self.max_limit);
        for name in [
            "mf_process_maxfwd_header",
            "maxfwd_process",
            "process_maxfwd",
        ] {
            let limit = limit.clone();
            reg.add_function(FuncDef {
                name,
                module: "maxfwd",
                params: vec![int_or_bare_pv()],
                routes: route_type::REQUEST,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let max = match a.first().and_then(|x| int_arg(ctx, x)) {
                        Some(m) if (0..=255).contains(&m) => m as u32,
                        _ => {
                            tracing::error!("{name}: invalid max value");
                            return -1;
                        }
                    };
                    let href = ctx.msg.header_ref(HeaderKind::MaxForwards);
                    let (value, range) = match &href {
                        Some(h) => (Some(h.value), Some(h.value_range.clone())),
                        None => (None, None),
                    };
                    let (rc, edit) = process(value, max, *limit);
                    if rc == -2 {
                        tracing::error!("unable to parse the Max-Forwards number");
                    }
                    match (edit, range) {
                        (Some(t), Some(r)) => ctx.edits.replace(r, t),
                        (Some(t), None) => ctx.edits.insert_header_first(&ctx.msg, &t),
                        _ => {}
                    }
                    rc
                }),
            });
        }
        for name in ["is_maxfwd_lt", "maxfwd_at_least", "mf_lowlimit"] {
            reg.add_function(FuncDef {
                name,
                module: "maxfwd",
                params: vec![int_or_bare_pv()],
                // Kamailio allows the checks in failure and branch routes too.
                routes: route_type::REQUEST | route_type::FAILURE | route_type::BRANCH,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let lim = match a.first().and_then(|x| int_arg(ctx, x)) {
                        Some(l) if l <= 255 => l,
                        _ => {
                            tracing::error!("{name}: invalid limit");
                            return -1;
                        }
                    };
                    let Some(value) = current_value(ctx) else {
                        return -2;
                    };
                    lowlimit(&value, lim)
                }),
            });
        }
    }
}

/// The Max-Forwards value the request now carries: Kamailio rewrites the
/// number in place, so a decrement made by `mf_process_maxfwd_header` is
/// what a later check reads (a header this module added is not seen).
/// `None` without the header.
fn current_value(ctx: &Ctx) -> Option<Vec<u8>> {
    let h = ctx.msg.header_ref(HeaderKind::MaxForwards)?;
    if ctx.edits.touches(h.value_range.clone()) {
        let edited = bytes::Bytes::from(ctx.edits.apply_message(&ctx.msg));
        if let Ok(m) = siprd_sip::Message::parse(edited) {
            if let Some(v) = m.header(HeaderKind::MaxForwards) {
                return Some(v.to_vec());
            }
        }
    }
    Some(h.value.to_vec())
}

/// `is_maxfwd_lt`: 1 when the value is below `lim`, -1 when not, -3 when it
/// does not parse.
pub(crate) fn lowlimit(value: &[u8], lim: i32) -> i32 {
    match parse_mf(value) {
        None => -3,
        Some(n) if i64::from(n) < i64::from(lim) => 1,
        Some(_) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn processing() {
        assert_eq!(
            process(None, 10, 70),
            (2, Some(b"Max-Forwards: 10\r\n".to_vec()))
        );
        assert_eq!(process(Some(b"0"), 10, 70), (-1, None));
        assert_eq!(process(Some(b"1"), 10, 70), (1, Some(b"0".to_vec())));
        assert_eq!(process(Some(b"10"), 10, 70), (1, Some(b" 9".to_vec())));
        assert_eq!(process(Some(b"70"), 10, 30), (1, Some(b"30".to_vec())));
        assert_eq!(process(Some(b"300"), 10, 70), (1, Some(b" 70".to_vec())));
        assert_eq!(process(Some(b"abc"), 10, 70), (-2, None));
        assert_eq!(lowlimit(b"5", 6), 1);
        assert_eq!(lowlimit(b"5", 5), -1);
        assert_eq!(lowlimit(b"5", -1), -1);
        assert_eq!(lowlimit(b"x5", 6), -3);
    }
}
