//! Kamailio's core selects: `@from.tag`, `@via[2].host`, `$sel(cseq.method)`
//! ... resolved at load into a reader of the message. Values are text, as
//! Kamailio's; a missing part reads null.

use crate::context::Ctx;
use siprd_script::registry::{FixupCtx, PvImpl, PvIndex, SelectParse, SelectStep};
use siprd_script::{Registry, Value};
use siprd_sip::uri::Uri;
use siprd_sip::HeaderKind;
use std::sync::Arc;

type Get = Arc<dyn Fn(&Ctx) -> Value + Send + Sync>;
type UriGet = Arc<dyn Fn(&Uri) -> Value + Send + Sync>;

struct Sel(Get);

impl PvImpl<Ctx> for Sel {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        (self.0)(ctx)
    }
}

fn text(b: &[u8]) -> Value {
    Value::from_vec(b.to_vec())
}

fn opt_text(b: Option<&[u8]>) -> Value {
    b.map_or(Value::Null, text)
}

fn names(steps: &[SelectStep]) -> Vec<&str> {
    steps.iter().map(|s| s.name.as_str()).collect()
}

fn no_index(steps: &[SelectStep]) -> Result<(), String> {
    match steps.iter().find(|s| s.index.is_some()) {
        Some(s) => Err(format!("`{}` takes no [index]", s.name)),
        None => Ok(()),
    }
}

/// The parts of a URI: `uri`, `uri.user`, `uri.params.NAME` ...
fn uri_part(rest: &[&str]) -> Result<UriGet, String> {
    let f: UriGet = match rest {
        [] => Arc::new(|u: &Uri| text(u.as_bytes())),
        ["user"] | ["rn_user"] => Arc::new(|u: &Uri| opt_text(u.user())),
        ["host"] => Arc::new(|u: &Uri| text(u.host())),
        ["port"] => Arc::new(|u: &Uri| opt_text(u.port_bytes())),
        ["params"] => Arc::new(|u: &Uri| {
            let p = u.params_bytes();
            let p = p.strip_prefix(b";").unwrap_or(p);
            if p.is_empty() {
                Value::Null
            } else {
                text(p)
            }
        }),
        ["params", name] => {
            let name = name.as_bytes().to_vec();
            Arc::new(move |u: &Uri| match u.param(&name) {
                Some(v) => text(v.unwrap_or_default()),
                None => Value::Null,
            })
        }
        ["type"] => Arc::new(|u: &Uri| Value::from_vec(u.scheme_lower())),
        // no `transport` param reads `udp`, as Kamailio
        ["transport"] => Arc::new(|u: &Uri| match u.transport() {
            Some(t) => text(t),
            None => Value::from_static("udp"),
        }),
        other => return Err(format!("unknown URI part `{}`", other.join("."))),
    };
    Ok(f)
}

fn ruri_sel(rest: &[&str]) -> Result<Get, String> {
    let part = uri_part(rest)?;
    Ok(Arc::new(move |ctx: &Ctx| {
        if !ctx.msg.is_request() {
            return Value::Null;
        }
        match Uri::parse(ctx.ruri()) {
            Ok(u) => part(&u),
            Err(_) => Value::Null,
        }
    }))
}

/// `from`, `to`: the header, `uri[.part]`, `tag`, `name`, `params.NAME`.
fn nameaddr_sel(to: bool, rest: &[&str]) -> Result<Get, String> {
    let kind = if to { HeaderKind::To } else { HeaderKind::From };
    let na = move |ctx: &Ctx| {
        if to {
            ctx.msg.to().ok()
        } else {
            ctx.msg.from().ok()
        }
        .cloned()
    };
    Ok(match rest {
        [] => Arc::new(move |ctx: &Ctx| opt_text(ctx.msg.header(kind))),
        ["uri", more @ ..] => {
            let part = uri_part(more)?;
            Arc::new(move |ctx: &Ctx| na(ctx).map_or(Value::Null, |n| part(n.uri())))
        }
        ["tag"] | ["params", "tag"] => {
            Arc::new(move |ctx: &Ctx| na(ctx).map_or(Value::Null, |n| opt_text(n.tag())))
        }
        ["name"] => {
            Arc::new(move |ctx: &Ctx| na(ctx).map_or(Value::Null, |n| opt_text(n.display_name())))
        }
        ["params", name] => {
            let name = name.as_bytes().to_vec();
            Arc::new(move |ctx: &Ctx| {
                na(ctx).map_or(Value::Null, |n| match n.param(&name) {
                    Some(v) => text(v.unwrap_or_default()),
                    None => Value::Null,
                })
            })
        }
        other => return Err(format!("unknown part `{}`", other.join("."))),
    })
}

/// `via[n]` (1 the first, -1 the last): the value, `host`, `port`, ...
fn via_sel(index: i32, rest: &[&str]) -> Result<Get, String> {
    type ViaGet = Arc<dyn Fn(&siprd_sip::Via) -> Value + Send + Sync>;
    let f: ViaGet = match rest {
        [] => Arc::new(|v| text(v.as_bytes())),
        ["name"] => Arc::new(|v| text(v.protocol())),
        ["version"] => Arc::new(|v| text(v.version())),
        ["transport"] => Arc::new(|v| text(v.transport())),
        ["host"] => Arc::new(|v| text(v.host())),
        ["port"] => Arc::new(|v| {
            v.port()
                .map_or(Value::Null, |p| Value::from_string(p.to_string()))
        }),
        ["branch"] => Arc::new(|v| opt_text(v.branch())),
        ["received"] => Arc::new(|v| opt_text(v.received())),
        ["rport"] => Arc::new(|v| match v.rport() {
            Some(Some(p)) => Value::from_string(p.to_string()),
            _ => Value::Null,
        }),
        ["i"] => Arc::new(|v| match v.param(b"i") {
            Some(Some(i)) => text(i),
            _ => Value::Null,
        }),
        ["params", name] => {
            let name = name.as_bytes().to_vec();
            Arc::new(move |v| match v.param(&name) {
                Some(p) => text(p.unwrap_or_default()),
                None => Value::Null,
            })
        }
        other => return Err(format!("unknown Via part `{}`", other.join("."))),
    };
    Ok(Arc::new(move |ctx: &Ctx| {
        let via = if index < 0 {
            let n = ctx.msg.via_count();
            let back = index.unsigned_abs() as usize;
            if back > n {
                None
            } else {
                ctx.msg.vias().nth(n - back)
            }
        } else {
            ctx.msg.vias().nth((index.max(1) - 1) as usize)
        };
        match via {
            Some(Ok(v)) => f(&v),
            _ => Value::Null,
        }
    }))
}

fn header_sel(kind: HeaderKind) -> Get {
    Arc::new(move |ctx: &Ctx| opt_text(ctx.msg.header(kind)))
}

fn parse(steps: &[SelectStep]) -> Result<Get, String> {
    let n = names(steps);
    let (root, rest) = match n.split_first() {
        Some((r, rest)) => (*r, rest),
        None => return Err("empty select".into()),
    };
    if root == "via" {
        if let Some(s) = steps.iter().skip(1).find(|s| s.index.is_some()) {
            return Err(format!("`{}` takes no [index]", s.name));
        }
        return via_sel(steps[0].index.unwrap_or(1), rest);
    }
    no_index(steps)?;
    Ok(match (root, rest) {
        ("ruri", rest) => ruri_sel(rest)?,
        ("from", rest) => nameaddr_sel(false, rest)?,
        ("to", rest) => nameaddr_sel(true, rest)?,
        ("cseq", []) => header_sel(HeaderKind::CSeq),
        ("cseq", ["num"]) => Arc::new(|ctx: &Ctx| {
            ctx.msg
                .cseq_num()
                .map_or(Value::Null, |n| Value::from_string(n.to_string()))
        }),
        ("cseq", ["method"]) => Arc::new(|ctx: &Ctx| {
            ctx.msg
                .cseq_ref()
                .map_or(Value::Null, |c| text(c.method.as_bytes()))
        }),
        ("call_id", []) => header_sel(HeaderKind::CallId),
        ("user_agent", []) => header_sel(HeaderKind::UserAgent),
        ("max_forwards", []) => header_sel(HeaderKind::MaxForwards),
        ("expires", []) => header_sel(HeaderKind::Expires),
        ("method", []) => Arc::new(|ctx: &Ctx| {
            if ctx.msg.is_request() {
                text(ctx.msg.method_bytes())
            } else {
                Value::Null
            }
        }),
        ("contact", rest) => {
            let part: Arc<dyn Fn(&siprd_sip::NameAddr) -> Value + Send + Sync> = match rest {
                [] => Arc::new(|c| text(c.as_bytes())),
                ["uri", more @ ..] => {
                    let p = uri_part(more)?;
                    Arc::new(move |c| p(c.uri()))
                }
                ["expires"] => Arc::new(|c| match c.param(b"expires") {
                    Some(v) => text(v.unwrap_or_default()),
                    None => Value::Null,
                }),
                other => return Err(format!("unknown Contact part `{}`", other.join("."))),
            };
            Arc::new(move |ctx: &Ctx| match ctx.msg.contacts() {
                Ok(cs) => cs.first().map_or(Value::Null, |c| part(c)),
                Err(_) => Value::Null,
            })
        }
        ("src", ["ip"]) => Arc::new(|ctx: &Ctx| Value::from_string(ctx.rcv.src.ip().to_string())),
        ("src", ["port"]) => {
            Arc::new(|ctx: &Ctx| Value::from_string(ctx.rcv.src.port().to_string()))
        }
        ("dst", ["ip"]) => Arc::new(|ctx: &Ctx| Value::from_string(ctx.rcv.local.ip().to_string())),
        ("dst", ["port"]) => {
            Arc::new(|ctx: &Ctx| Value::from_string(ctx.rcv.local.port().to_string()))
        }
        ("msg", ["len"]) => {
            Arc::new(|ctx: &Ctx| Value::from_string(ctx.msg.buf().len().to_string()))
        }
        ("msg", ["body"]) => Arc::new(|ctx: &Ctx| text(ctx.msg.body())),
        // `_` stands for `-` (`Max_Forwards`); Kamailio finds no header for
        // a name written with `-` (`Max-Forwards`, `Call-ID` read null).
        ("msg", ["header", name]) if name.contains('-') => Arc::new(|_ctx: &Ctx| Value::Null),
        ("msg", ["header", name]) => {
            let name = name.replace('_', "-").into_bytes();
            Arc::new(move |ctx: &Ctx| opt_text(ctx.msg.header_by_name(&name)))
        }
        ("next_hop", []) => Arc::new(|ctx: &Ctx| match &ctx.dst_uri {
            Some(d) => Value::Str(d.clone()),
            None if ctx.msg.is_request() => text(ctx.ruri()),
            None => Value::Null,
        }),
        _ => return Err("not supported".into()),
    })
}

/// The select families, registered by the core.
pub fn register(reg: &mut Registry<Ctx>) {
    let p: SelectParse<Ctx> = Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, steps: &[SelectStep]| {
        parse(steps).map(|g| Box::new(Sel(g)) as Box<dyn PvImpl<Ctx>>)
    });
    for root in [
        "ruri",
        "from",
        "to",
        "via",
        "cseq",
        "call_id",
        "user_agent",
        "max_forwards",
        "expires",
        "method",
        "contact",
        "src",
        "dst",
        "msg",
        "next_hop",
    ] {
        reg.add_select(root, p.clone());
    }
}
