//! xlog: formatted log lines from the script (`xlog`, `xinfo`, `xerr` ...).

use crate::context::Ctx;
use crate::log::{self, L_ALERT, L_BUG, L_CRIT, L_DBG, L_ERR, L_INFO, L_NOTICE, L_WARN};
use crate::module::Module;
use siprd_script::registry::{
    func, Arg, ArgSrc, FixupCtx, FuncDef, ModParamDecl, ModParamType, ParamKind,
};
use siprd_script::{pv, route_type, Registry};
use siprd_sip::Method;
use std::sync::Arc;

/// The module; `methods_filter` is the one parameter that changes behaviour.
pub struct Xlog {
    /// Kamailio method-id bits whose messages `xlogm` skips (-1: all).
    methods_filter: i32,
}

impl Default for Xlog {
    fn default() -> Self {
        Xlog { methods_filter: -1 }
    }
}

/// Kamailio's internal method id (a bit of `enum request_method`), the unit
/// of `methods_filter`.
pub(crate) fn method_bit(m: &Method) -> i32 {
    match m {
        Method::Invite => 1,
        Method::Cancel => 1 << 1,
        Method::Ack => 1 << 2,
        Method::Bye => 1 << 3,
        Method::Info => 1 << 4,
        Method::Register => 1 << 5,
        Method::Subscribe => 1 << 6,
        Method::Notify => 1 << 7,
        Method::Message => 1 << 8,
        Method::Options => 1 << 9,
        Method::Prack => 1 << 10,
        Method::Update => 1 << 11,
        Method::Refer => 1 << 12,
        Method::Publish => 1 << 13,
        Method::Other(b) => match &b[..] {
            b"KDMQ" => 1 << 14,
            b"GET" => 1 << 15,
            b"POST" => 1 << 16,
            b"PUT" => 1 << 17,
            b"DELETE" => 1 << 18,
            _ => 1 << 19,
        },
    }
}

/// The method of the message in `ctx`: the request's, or a reply's CSeq method.
fn msg_method(ctx: &Ctx) -> Option<Method> {
    if ctx.msg.is_request() {
        Some(ctx.msg.method())
    } else {
        ctx.msg.cseq().ok().map(|(_, m)| m)
    }
}

/// A log level argument: a constant (`L_INFO`) or a PV holding a number.
enum Level {
    Fixed(i32),
    Dynamic(Box<pv::PvSpec<Ctx>>),
}

/// A constant level as Kamailio 5.6's xlog reads it: only the third
/// character counts (`L_ERR`, `L_ERR|LOG_LOCAL0` and `XXE` are all errors,
/// `L_NPRI` is a notice), case-sensitively; anything else is refused.
fn xlog_level(text: &str) -> Option<i32> {
    Some(match text.as_bytes().get(2)? {
        b'A' => L_ALERT,
        b'B' => L_BUG,
        b'C' => L_CRIT,
        b'E' => L_ERR,
        b'W' => L_WARN,
        b'N' => L_NOTICE,
        b'I' => L_INFO,
        b'D' => L_DBG,
        _ => return None,
    })
}

fn level_fixup(fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc) -> Result<Arg<Ctx>, String> {
    let text = src.text.trim();
    if let Some(l) = xlog_level(text) {
        return Ok(Arg::Custom(Box::new(Level::Fixed(l))));
    }
    if text.starts_with('$') {
        let (spec, _) = pv::parse_pv(fx, text)?;
        return Ok(Arg::Custom(Box::new(Level::Dynamic(Box::new(spec)))));
    }
    Err(format!(
        "unknown log level `{text}` (expected L_ALERT, L_BUG, L_CRIT, L_ERR, L_WARN, L_NOTICE, L_INFO, L_DBG or a pseudo-variable)"
    ))
}

/// The facility of `xlog(facility, level, format)`: a syslog facility name
/// with its `LOG_` prefix (case-insensitive), checked at load as Kamailio
/// does (`LOG_LOCAL9` is refused). siprd accepts it and does not use it.
fn facility_fixup() -> ParamKind<Ctx> {
    ParamKind::Custom(Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, src: &ArgSrc| {
        let t = src.text.trim();
        let known = t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("LOG_"))
            && log::parse_facility(t).is_some();
        if known {
            Ok(Arg::Str(bytes::Bytes::copy_from_slice(t.as_bytes())))
        } else {
            Err(format!("unknown log facility `{t}`"))
        }
    }))
}

/// The level of this call. A pseudo-variable must hold an integer: text
/// (even `"2"` or `"L_ERR"`) or null logs an error and the call is false,
/// nothing written (Kamailio 5.6.3).
fn level_of(ctx: &mut Ctx, arg: &Arg<Ctx>) -> Option<i32> {
    match arg {
        Arg::Custom(c) => match c.downcast_ref::<Level>() {
            Some(Level::Fixed(l)) => Some(*l),
            Some(Level::Dynamic(p)) => match p.get(ctx) {
                siprd_script::Value::Int(l) => Some(l),
                v => {
                    tracing::error!(
                        "xlog: the log level variable holds {} instead of an integer",
                        if v.is_null() { "null" } else { "text" }
                    );
                    None
                }
            },
            None => Some(L_ERR),
        },
        Arg::Int(i) => Some(*i),
        _ => Some(L_ERR),
    }
}

fn write(ctx: &mut Ctx, level: i32, fmt: &Arg<Ctx>) -> i32 {
    write_at(ctx, level, fmt, None)
}

/// `xlogl`/`xdbgl`: the message after the config line of the call
/// (`41:text`), as Kamailio; the line is the extra argument the compiler
/// adds (none from KEMI).
fn write_at(ctx: &mut Ctx, level: i32, fmt: &Arg<Ctx>, line: Option<&Arg<Ctx>>) -> i32 {
    if !log::enabled(level) {
        return 1;
    }
    if let Arg::Fmt(f) = fmt {
        let text = f.eval(ctx);
        let text = String::from_utf8_lossy(&text);
        match line {
            Some(Arg::Int(l)) => log::emit_str(level, "script", &format!("{l}:{text}")),
            _ => log::emit_str(level, "script", &text),
        }
    }
    1
}

fn fixed(name: &'static str, level: i32) -> FuncDef<Ctx> {
    FuncDef {
        name,
        module: "xlog",
        params: vec![ParamKind::Format],
        routes: route_type::ANY,
        call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| write(ctx, level, &a[0])),
    }
}

impl Module for Xlog {
    fn name(&self) -> &'static str {
        "xlog"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        [
            "buf_size",
            "force_color",
            "long_format",
            "log_facility",
            "log_colors",
            "methods_filter",
            "prefix",
            "prefix_mode",
            "noisy_ctx",
        ]
        .into_iter()
        .map(|name| ModParamDecl {
            name,
            ty: ModParamType::Any,
        })
        .collect()
    }

    fn set_param(&mut self, name: &str, value: &siprd_script::Value) -> Result<(), String> {
        if name == "methods_filter" {
            self.methods_filter = value
                .try_int()
                .ok_or_else(|| "methods_filter must be an integer".to_string())?;
        }
        // The others are accepted for compatibility: siprd's log line format is fixed.
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        reg.add_pv(siprd_script::registry::PvClassDef {
            name: "C",
            module: "xlog",
            parse: Arc::new(|_fx: &mut FixupCtx<'_, Ctx>, inner: Option<&str>| {
                let code = inner.and_then(color_code).ok_or_else(|| {
                    format!(
                        "`$C({})`: invalid color name (two letters: foreground x s r g y b p c w, upper case for bold; background x s r g y b p c w)",
                        inner.unwrap_or_default()
                    )
                })?;
                Ok(Box::new(Color(siprd_script::Value::from_string(code)))
                    as Box<dyn siprd_script::registry::PvImpl<Ctx>>)
            }),
        });
        reg.add_function(fixed("xlog", L_ERR));
        for (name, level) in [
            ("xdbg", L_DBG),
            ("xinfo", L_INFO),
            ("xnotice", L_NOTICE),
            ("xwarn", L_WARN),
            ("xerr", L_ERR),
            ("xbug", L_BUG),
            ("xcrit", L_CRIT),
            ("xalert", L_ALERT),
        ] {
            reg.add_function(fixed(name, level));
        }
        // xdbgl/xlogl: the config line of the call before the message
        reg.pass_line("xdbgl");
        reg.pass_line("xlogl");
        for (name, level) in [("xdbgl", L_DBG), ("xlogl", L_ERR)] {
            reg.add_function(FuncDef {
                name,
                module: "xlog",
                params: vec![ParamKind::Format],
                routes: route_type::ANY,
                call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    write_at(ctx, level, &a[0], a.get(1))
                }),
            });
        }
        let level: ParamKind<Ctx> = ParamKind::Custom(Arc::new(level_fixup));
        let filter = self.methods_filter;
        reg.add_function(FuncDef {
            name: "xlogm",
            module: "xlog",
            params: vec![level.clone(), ParamKind::Format],
            routes: route_type::ANY,
            call: func(move |ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                let skip = msg_method(ctx).is_some_and(|m| method_bit(&m) & filter != 0);
                if skip {
                    return 1;
                }
                let Some(l) = level_of(ctx, &a[0]) else {
                    return -1;
                };
                write(ctx, l, &a[1])
            }),
        });
        for name in ["xlog", "xlogl"] {
            reg.add_function(FuncDef {
                name,
                module: "xlog",
                params: vec![level.clone(), ParamKind::Format],
                routes: route_type::ANY,
                call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(l) = level_of(ctx, &a[0]) else {
                        return -1;
                    };
                    write_at(ctx, l, &a[1], a.get(2))
                }),
            });
            // xlog("facility", "level", "format"): the facility is accepted, not used.
            reg.add_function(FuncDef {
                name,
                module: "xlog",
                params: vec![facility_fixup(), level.clone(), ParamKind::Format],
                routes: route_type::ANY,
                call: func(|ctx: &mut Ctx, a: &[Arg<Ctx>]| {
                    let Some(l) = level_of(ctx, &a[1]) else {
                        return -1;
                    };
                    write_at(ctx, l, &a[2], a.get(3))
                }),
            });
        }
    }
}

/// `$C(fb)`: the ANSI escape setting foreground `f` and background `b`
/// (`x` default, `s` black, `r` red, `g` green, `y` yellow, `b` blue, `p`
/// purple, `c` cyan, `w` white; an upper-case foreground is bold), as
/// Kamailio's xlog writes it: `ESC[<0|1>;<30-39>;<40-49>m`.
fn color_code(name: &str) -> Option<String> {
    let digit = |c: u8| match c {
        b's' => Some(0),
        b'r' => Some(1),
        b'g' => Some(2),
        b'y' => Some(3),
        b'b' => Some(4),
        b'p' => Some(5),
        b'c' => Some(6),
        b'w' => Some(7),
        b'x' => Some(9),
        _ => None,
    };
    let [f, b] = name.as_bytes() else {
        return None;
    };
    if *f == b'X' {
        return None;
    }
    let bold = f.is_ascii_uppercase();
    let fg = digit(f.to_ascii_lowercase())?;
    let bg = digit(*b)?;
    Some(format!("\x1b[{};3{fg};4{bg}m", u8::from(bold)))
}

/// The value of `$C(..)`, fixed at load.
struct Color(siprd_script::Value);

impl siprd_script::registry::PvImpl<Ctx> for Color {
    fn get(&self, _ctx: &mut Ctx, _idx: siprd_script::registry::PvIndex) -> siprd_script::Value {
        self.0.clone()
    }
}
