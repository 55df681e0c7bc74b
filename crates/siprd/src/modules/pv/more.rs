//! More of pv's and kex's classes, as Kamailio 5.6.3 reads them:
//! `$expires(min|max)`, `$stat(name)`, `$version(...)`, `$TF`, `$Tb`, `$fsn`,
//! `$via0/$via1/$viaZ(key)`, `$msgbuf(i)`.

use super::msg::strftime;
use crate::context::Ctx;
use siprd_script::registry::{FixupCtx, PvClassDef, PvImpl, PvIndex};
use siprd_script::{Registry, Value};
use siprd_sip::via::Via;
use siprd_sip::HeaderKind;
use std::sync::{Arc, OnceLock};

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// When the config was loaded: `$Tb`.
fn boot_time() -> i64 {
    static BOOT: OnceLock<i64> = OnceLock::new();
    *BOOT.get_or_init(now_secs)
}

fn no_inner(name: &str, inner: Option<&str>) -> Result<(), String> {
    match inner {
        None => Ok(()),
        Some(_) => Err(format!("`${name}` takes no name in parentheses")),
    }
}

/// `$expires(min)` / `$expires(max)`: over the Contacts' `expires` params,
/// the Expires header standing in for a Contact without one; the Expires
/// header alone without Contacts; null with neither.
struct Expires {
    max: bool,
}

impl PvImpl<Ctx> for Expires {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let msg = &ctx.msg;
        let header: Option<i64> = msg
            .header(HeaderKind::Expires)
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse().ok());
        let contacts = msg.contacts().unwrap_or(&[]);
        let mut best: Option<i64> = None;
        let mut seen = false;
        for c in contacts {
            seen = true;
            let e = match c.param(b"expires") {
                Some(Some(v)) => std::str::from_utf8(v)
                    .ok()
                    .and_then(|s| s.trim().parse().ok()),
                _ => header,
            };
            if let Some(e) = e {
                best = Some(match best {
                    None => e,
                    Some(b) if self.max => b.max(e),
                    Some(b) => b.min(e),
                });
            }
        }
        if !seen {
            best = header;
        }
        best.map_or(Value::Null, |n| Value::Int(n as i32))
    }
}

/// `$stat(name)` (or `group:name`): the statistic's value, null when there is
/// none. Resolved on first read (modules register theirs at start-up).
struct StatPv {
    name: String,
    stat: OnceLock<Option<crate::stats::Stat>>,
}

impl PvImpl<Ctx> for StatPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let stat = self.stat.get_or_init(|| ctx.rt.rpc.stats.find(&self.name));
        match stat {
            Some(s) => Value::Int(s.value() as i32),
            None => Value::Null,
        }
    }
}

struct Const(Value);

impl PvImpl<Ctx> for Const {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        self.0.clone()
    }
}

/// `$TF`: the current time, as `ctime` writes it without the newline.
struct TimeNowText;

impl PvImpl<Ctx> for TimeNowText {
    fn get(&self, _ctx: &mut Ctx, _idx: PvIndex) -> Value {
        Value::from_string(strftime("%a %b %e %H:%M:%S %Y", now_secs()))
    }
}

/// `$fsn`: the name of the socket `force_send_socket`/`$fs` chose.
struct ForcedSocketName;

impl PvImpl<Ctx> for ForcedSocketName {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let Some(fs) = ctx.forced_socket.as_ref() else {
            return Value::Null;
        };
        ctx.rt
            .listeners()
            .iter()
            .find(|l| {
                let text = format!(
                    "{}:{}:{}",
                    l.proto.as_str().to_ascii_lowercase(),
                    l.addr.ip(),
                    l.addr.port()
                );
                text.as_bytes().eq_ignore_ascii_case(fs)
            })
            .and_then(|l| l.name.clone())
            .map_or(Value::Null, Value::from_string)
    }
}

#[derive(Clone, Copy)]
enum ViaKey {
    Host,
    Port,
    Proto,
    ProtoId,
    Branch,
    Rport,
    Received,
    I,
}

#[derive(Clone, Copy)]
enum WhichVia {
    First,
    Second,
    Last,
}

/// `$via0(key)`, `$via1(key)`, `$viaZ(key)`: the first, second and last Via.
struct ViaPv {
    which: WhichVia,
    key: ViaKey,
}

pub(super) fn proto_id(t: &[u8]) -> i32 {
    match t.to_ascii_uppercase().as_slice() {
        b"UDP" => 1,
        b"TCP" => 2,
        b"TLS" => 3,
        b"SCTP" => 4,
        b"WS" => 5,
        b"WSS" => 6,
        _ => 0,
    }
}

impl ViaPv {
    fn read(&self, v: &Via) -> Value {
        let text = |b: &[u8]| Value::from_vec(b.to_vec());
        match self.key {
            ViaKey::Host => text(v.host()),
            ViaKey::Port => Value::Int(i32::from(v.port().unwrap_or(5060))),
            ViaKey::Proto => text(v.transport()),
            ViaKey::ProtoId => Value::Int(proto_id(v.transport())),
            ViaKey::Branch => v.branch().map_or(Value::Null, text),
            ViaKey::Rport => match v.rport() {
                Some(Some(p)) => Value::Int(i32::from(p)),
                _ => Value::Null,
            },
            ViaKey::Received => v.received().map_or(Value::Null, text),
            ViaKey::I => match v.param(b"i") {
                Some(Some(i)) => text(i),
                _ => Value::Null,
            },
        }
    }
}

impl PvImpl<Ctx> for ViaPv {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        let msg = &ctx.msg;
        let via = match self.which {
            WhichVia::First => msg.vias().next(),
            WhichVia::Second => msg.vias().nth(1),
            WhichVia::Last => msg.vias().last(),
        };
        match via {
            Some(Ok(v)) => self.read(&v),
            _ => Value::Null,
        }
    }
}

/// `$msgbuf(i)`: the byte at offset `i` of the received message; null past
/// its end.
struct MsgByte(usize);

impl PvImpl<Ctx> for MsgByte {
    fn get(&self, ctx: &mut Ctx, _idx: PvIndex) -> Value {
        match ctx.msg.buf().get(self.0) {
            Some(b) => Value::from_vec(vec![*b]),
            None => Value::Null,
        }
    }
}

pub fn register(reg: &mut Registry<Ctx>) {
    reg.add_pv(PvClassDef {
        name: "expires",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let max = match inner.map(str::trim) {
                Some("min") => false,
                Some("max") => true,
                other => {
                    return Err(format!(
                        "unknown $expires key `{}` (min, max)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(Expires { max }) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "stat",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let name = inner.map(str::trim).unwrap_or("");
            if name.is_empty() {
                return Err("`$stat` needs a statistic name: $stat(name)".into());
            }
            Ok(Box::new(StatPv {
                name: name.to_string(),
                stat: OnceLock::new(),
            }) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "version",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            // siprd's own version (Kamailio gives its own: `5.6.3`, ...).
            let v = match inner.map(str::trim) {
                Some("num") => env!("CARGO_PKG_VERSION").to_string(),
                Some("full") => format!("siprd {} ", env!("CARGO_PKG_VERSION")),
                Some("hash") => "unknown ".to_string(),
                other => {
                    return Err(format!(
                        "unknown $version key `{}` (num, full, hash)",
                        other.unwrap_or_default()
                    ))
                }
            };
            Ok(Box::new(Const(Value::from_string(v))) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "TF",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            no_inner("TF", inner)?;
            Ok(Box::new(TimeNowText) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "Tb",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            no_inner("Tb", inner)?;
            Ok(Box::new(Const(Value::Int(boot_time() as i32))) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    reg.add_pv(PvClassDef {
        name: "fsn",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            no_inner("fsn", inner)?;
            Ok(Box::new(ForcedSocketName) as Box<dyn PvImpl<Ctx>>)
        }),
    });
    for (name, which) in [
        ("via0", WhichVia::First),
        ("via1", WhichVia::Second),
        ("viaZ", WhichVia::Last),
    ] {
        reg.add_pv(PvClassDef {
            name,
            module: "pv",
            parse: Arc::new(move |_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let key = match inner.map(str::trim) {
                    Some("host") => ViaKey::Host,
                    Some("port") => ViaKey::Port,
                    Some("proto") => ViaKey::Proto,
                    Some("protoid") => ViaKey::ProtoId,
                    Some("branch") => ViaKey::Branch,
                    Some("rport") => ViaKey::Rport,
                    Some("received") => ViaKey::Received,
                    Some("i") => ViaKey::I,
                    other => {
                        return Err(format!("unknown ${name} key `{}` (host, port, proto, protoid, branch, rport, received, i)", other.unwrap_or_default()))
                    }
                };
                Ok(Box::new(ViaPv { which, key }) as Box<dyn PvImpl<Ctx>>)
            }),
        });
    }
    reg.add_pv(PvClassDef {
        name: "msgbuf",
        module: "pv",
        parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
            let i = inner
                .map(str::trim)
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or("`$msgbuf` needs an offset: $msgbuf(0)")?;
            Ok(Box::new(MsgByte(i)) as Box<dyn PvImpl<Ctx>>)
        }),
    });
}
