//! htable pseudo-variables: `$sht $shtex $shtcn $shtcv $shtinc $shtdec
//! $shtitkey $shtitval $shtrecord`.

use super::table::{cached_regex, MatchOn, MatchOp, Table};
use super::HtState;
use crate::context::Ctx;
use bytes::Bytes;
use siprd_script::pv::{parse_format, Format};
use siprd_script::registry::{FixupCtx, PvClassDef, PvError, PvImpl, PvIndex};
use siprd_script::value::parse_int;
use siprd_script::{Registry, Value};
use std::sync::Arc;

/// Event data of `event_route[htable:expired:<table>]` (read by `$shtrecord`).
#[derive(Clone, Debug)]
pub struct ExpiredRecord {
    pub key: Bytes,
    pub value: Value,
}

/// The key part of `table=>key`: static (hash computed at load) or a format.
pub enum Key {
    Static { key: Bytes, hash: u64 },
    Dynamic(Format<Ctx>),
}

/// A `table=>key` reference resolved at load.
pub struct HtRef {
    pub name: Arc<str>,
    pub table: Option<Arc<Table>>,
    pub key: Key,
}

impl HtRef {
    /// Run `f` with the table, the evaluated key and its hash; None when the
    /// table does not exist.
    #[inline]
    pub fn with<R>(
        &self,
        ctx: &mut Ctx,
        f: impl FnOnce(&mut Ctx, &Table, &[u8], u64) -> R,
    ) -> Option<R> {
        let t = self.table.as_ref()?;
        match &self.key {
            Key::Static { key, hash } => Some(f(ctx, t, key, *hash)),
            Key::Dynamic(fmt) => {
                let k = fmt.eval(ctx);
                let h = t.hash(&k);
                Some(f(ctx, t, &k, h))
            }
        }
    }

    /// The key text (evaluated), for log lines.
    pub fn key_text(&self, ctx: &mut Ctx) -> Bytes {
        match &self.key {
            Key::Static { key, .. } => key.clone(),
            Key::Dynamic(fmt) => fmt.eval(ctx),
        }
    }
}

/// Parse `table=>key` (the inner text of `$sht(...)` and the argument of
/// `sht_lock()` and friends).
pub fn parse_ht_ref(
    fx: &mut FixupCtx<'_, Ctx>,
    st: &HtState,
    inner: Option<&str>,
) -> Result<HtRef, String> {
    let inner = inner.ok_or_else(|| "expected `(table=>key)`".to_string())?;
    let s = inner.trim_start_matches([' ', '\t', '\r', '\n']);
    let end = s
        .find(|c: char| c == '=' || c.is_ascii_whitespace())
        .ok_or_else(|| format!("expected `table=>key`, got `{inner}` (missing `=>`)"))?;
    let name = &s[..end];
    if name.is_empty() {
        return Err(format!(
            "expected `table=>key`, got `{inner}` (empty table name)"
        ));
    }
    let rest = s[end..].trim_start_matches([' ', '\t', '\r', '\n']);
    let keytext = rest
        .strip_prefix("=>")
        .ok_or_else(|| format!("expected `=>` after the table name in `{inner}`"))?;
    // An empty key (`$sht(t=>)`) is a key like any other, as in Kamailio.
    let fmt = parse_format(fx, keytext)?;
    let table = st.table(name.as_bytes()).cloned();
    if table.is_none() {
        fx.warnings.push(format!(
            "htable `{name}` is not defined (modparam(\"htable\", \"htable\", \"{name}=>size=...\")): \
             reads give null and writes fail"
        ));
    }
    let key = match fmt.as_static() {
        Some(k) => Key::Static {
            key: k.clone(),
            hash: table.as_ref().map(|t| t.hash(k)).unwrap_or(0),
        },
        None => Key::Dynamic(fmt),
    };
    Ok(HtRef {
        name: name.into(),
        table,
        key,
    })
}

struct Sht(HtRef);

impl PvImpl<Ctx> for Sht {
    #[inline]
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        self.0
            .with(ctx, |ctx, t, k, h| t.get_or_init(ctx.exec_id, h, k))
            .unwrap_or(Value::Null)
    }
    #[inline]
    fn set(&self, ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        match self
            .0
            .with(ctx, |ctx, t, k, h| t.set(ctx.exec_id, h, k, v, 0))
        {
            Some(()) => Ok(()),
            None => Err(PvError::BadValue(format!("no htable `{}`", self.0.name))),
        }
    }
    fn writable(&self) -> bool {
        true
    }
}

/// A u32 as Kamailio prints it: an integer when it fits, else its decimal text.
pub fn u32_value(n: u32) -> Value {
    match i32::try_from(n) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::from_string(n.to_string()),
    }
}

struct ShtEx(HtRef);

impl PvImpl<Ctx> for ShtEx {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        self.0
            .with(ctx, |ctx, t, k, h| {
                u32_value(t.get_expire(ctx.exec_id, h, k))
            })
            .unwrap_or(Value::Null)
    }
    fn set(&self, ctx: &mut Ctx, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        // Only integer values count; anything else means "never".
        let secs = match v {
            Value::Int(n) => i64::from(n),
            _ => 0,
        };
        match self
            .0
            .with(ctx, |ctx, t, k, h| t.set_expire(ctx.exec_id, h, k, secs))
        {
            Some(()) => Ok(()),
            None => Err(PvError::BadValue(format!("no htable `{}`", self.0.name))),
        }
    }
    fn writable(&self) -> bool {
        true
    }
}

/// Parse the match expression of `$shtcn` / `$shtcv`: `~~re`, `~%suffix`,
/// `%~prefix`, `==str`, `eqINT` (values only), `**` (all), else a regex.
/// None means "count 0" (empty operand or a bad regex).
pub fn parse_count_expr(s: &[u8]) -> Option<MatchOp> {
    if s.is_empty() {
        return None;
    }
    if s.len() >= 2 {
        let rest = || Bytes::copy_from_slice(&s[2..]);
        let op = match (s[0], s[1]) {
            (b'*', b'*') => return Some(MatchOp::All),
            (b'~', b'~') => Some(0),
            (b'~', b'%') => Some(1),
            (b'%', b'~') => Some(2),
            (b'=', b'=') => Some(3),
            (b'e', b'q') => Some(4),
            _ => None,
        };
        if let Some(op) = op {
            if s.len() <= 2 {
                return None;
            }
            return match op {
                0 => cached_regex(&s[2..])
                    .map_err(|e| tracing::error!("htable: {e}"))
                    .ok()
                    .map(MatchOp::Regex),
                1 => Some(MatchOp::EndsWith(rest())),
                2 => Some(MatchOp::StartsWith(rest())),
                3 => Some(MatchOp::Eq(rest())),
                _ => Some(MatchOp::IntEq(parse_int(&s[2..]).unwrap_or(0))),
            };
        }
    }
    cached_regex(s)
        .map_err(|e| tracing::error!("htable: {e}"))
        .ok()
        .map(MatchOp::Regex)
}

struct ShtCount {
    r: HtRef,
    on: MatchOn,
    /// Precompiled when the expression is static.
    fixed: Option<Option<MatchOp>>,
}

impl PvImpl<Ctx> for ShtCount {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let on = self.on;
        let fixed = &self.fixed;
        self.r
            .with(ctx, |ctx, t, k, _| {
                let op = match fixed {
                    Some(op) => op.clone(),
                    None => parse_count_expr(k),
                };
                Value::Int(op.map(|op| t.count(ctx.exec_id, on, &op)).unwrap_or(0))
            })
            .unwrap_or(Value::Null)
    }
}

struct ShtAdd(HtRef, i32);

impl PvImpl<Ctx> for ShtAdd {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let d = self.1;
        self.0
            .with(ctx, |ctx, t, k, h| {
                t.add(ctx.exec_id, h, k, d)
                    .map(Value::Int)
                    .unwrap_or(Value::Null)
            })
            .unwrap_or(Value::Null)
    }
}

struct ShtIt {
    name: Bytes,
    value: bool,
}

impl PvImpl<Ctx> for ShtIt {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        match super::funcs::iterator_current(ctx.exec_id, &self.name) {
            Some((k, v)) => {
                if self.value {
                    v
                } else {
                    Value::Str(k)
                }
            }
            None => Value::Null,
        }
    }
}

struct ShtRecord {
    value: bool,
}

impl PvImpl<Ctx> for ShtRecord {
    fn get(&self, ctx: &mut Ctx, idx: PvIndex) -> Value {
        self.try_get(ctx, idx).unwrap_or(Value::Null)
    }
    // Outside htable:expired the read fails (Kamailio): nothing in a format
    // string, null to comparisons (`== $null` and `== ""` are true,
    // `defined` false) and to assignments.
    fn try_get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Option<Value> {
        let r = ctx.event_data::<ExpiredRecord>()?;
        Some(if self.value {
            r.value.clone()
        } else {
            Value::Str(r.key.clone())
        })
    }
}

pub fn register(reg: &mut Registry<Ctx>, st: &Arc<HtState>) {
    type Mk = fn(HtRef) -> Box<dyn PvImpl<Ctx>>;
    let simple: [(&'static str, Mk); 4] = [
        ("sht", |r| Box::new(Sht(r))),
        ("shtex", |r| Box::new(ShtEx(r))),
        ("shtinc", |r| Box::new(ShtAdd(r, 1))),
        ("shtdec", |r| Box::new(ShtAdd(r, -1))),
    ];
    for (name, mk) in simple {
        let st = st.clone();
        reg.add_pv(PvClassDef {
            name,
            module: "htable",
            parse: Arc::new(move |fx, inner| Ok(mk(parse_ht_ref(fx, &st, inner)?))),
        });
    }
    for (name, on) in [("shtcn", MatchOn::Name), ("shtcv", MatchOn::Value)] {
        let st = st.clone();
        reg.add_pv(PvClassDef {
            name,
            module: "htable",
            parse: Arc::new(move |fx, inner| {
                let r = parse_ht_ref(fx, &st, inner)?;
                let fixed = match &r.key {
                    Key::Static { key, .. } => Some(parse_count_expr(key)),
                    Key::Dynamic(_) => None,
                };
                Ok(Box::new(ShtCount { r, on, fixed }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    for (name, value) in [("shtitkey", false), ("shtitval", true)] {
        reg.add_pv(PvClassDef {
            name,
            module: "htable",
            parse: Arc::new(move |_fx, inner| {
                let n = inner.unwrap_or("");
                if n.is_empty() {
                    return Err("expected an iterator name, as in `(i1)`".into());
                }
                Ok(Box::new(ShtIt {
                    name: Bytes::copy_from_slice(n.as_bytes()),
                    value,
                }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "shtrecord",
        module: "htable",
        parse: Arc::new(|_fx, inner| match inner {
            Some("key") => Ok(Box::new(ShtRecord { value: false }) as Box<dyn PvImpl<Ctx>>),
            Some("value") => Ok(Box::new(ShtRecord { value: true })),
            other => Err(format!(
                "unknown `$shtrecord({})`: expected `key` or `value`",
                other.unwrap_or("")
            )),
        }),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_expressions() {
        assert!(matches!(parse_count_expr(b"**"), Some(MatchOp::All)));
        assert!(matches!(parse_count_expr(b"~~k"), Some(MatchOp::Regex(_))));
        assert!(matches!(
            parse_count_expr(b"~%k"),
            Some(MatchOp::EndsWith(_))
        ));
        assert!(matches!(
            parse_count_expr(b"%~k"),
            Some(MatchOp::StartsWith(_))
        ));
        assert!(matches!(parse_count_expr(b"==k1"), Some(MatchOp::Eq(_))));
        assert!(matches!(parse_count_expr(b"eq2"), Some(MatchOp::IntEq(2))));
        assert!(matches!(parse_count_expr(b"k"), Some(MatchOp::Regex(_))));
        assert!(parse_count_expr(b"~~").is_none());
        assert!(parse_count_expr(b"").is_none());
        assert!(parse_count_expr(b"(").is_none());
    }

    #[test]
    fn u32_values() {
        assert_eq!(u32_value(5), Value::Int(5));
        assert_eq!(u32_value(2499507579), Value::from_static("2499507579"));
    }
}
