//! A tiny test host for the language tests.
#![allow(dead_code)]

use siprd_script::compile::CompileOptions;
use siprd_script::registry::{
    func, ArgSrc, FixupCtx, FuncDef, ModParamDecl, ModParamType, ModuleDecl, PvClassDef, PvError,
    PvImpl,
};
use siprd_script::{
    route_type, Arg, Cursor, Defines, ExecState, Host, ParamKind, PvIndex, Registry, Value,
};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct T {
    pub st: ExecState,
    pub log: Vec<String>,
    pub avps: HashMap<String, Value>,
    pub suspended: Option<Cursor>,
}

impl Host for T {
    fn exec_state(&mut self) -> &mut ExecState {
        &mut self.st
    }
    fn with_fixup_ctx<R>(&mut self, f: impl FnOnce(&mut FixupCtx<'_, T>) -> R) -> Option<R> {
        let reg = registry();
        let routes = siprd_script::registry::RouteNames::default();
        let mut fx = FixupCtx {
            registry: &reg,
            routes: &routes,
            host: &(),
            warnings: Vec::new(),
            at: None,
        };
        Some(f(&mut fx))
    }
}

struct Avp(String);
impl PvImpl<T> for Avp {
    fn get(&self, ctx: &mut T, _idx: PvIndex) -> Value {
        ctx.avps.get(&self.0).cloned().unwrap_or(Value::Null)
    }
    fn set(&self, ctx: &mut T, _idx: PvIndex, v: Value) -> Result<(), PvError> {
        if v.is_null() {
            ctx.avps.remove(&self.0);
        } else {
            ctx.avps.insert(self.0.clone(), v);
        }
        Ok(())
    }
    fn writable(&self) -> bool {
        true
    }
}

fn arg_str(ctx: &mut T, a: &Arg<T>) -> String {
    match a {
        Arg::Str(s) => String::from_utf8_lossy(s).into_owned(),
        Arg::Int(i) => i.to_string(),
        Arg::Pv(p) => p.get(ctx).to_string(),
        Arg::Fmt(f) | Arg::IntFmt(f) => String::from_utf8_lossy(&f.eval(ctx)).into_owned(),
        Arg::Regex(r) => r.as_str().to_string(),
        Arg::Custom(c) => c.downcast_ref::<String>().cloned().unwrap_or_default(),
    }
}

fn def(
    name: &'static str,
    module: &'static str,
    params: Vec<ParamKind<T>>,
    routes: u32,
    f: fn(&mut T, &[Arg<T>]) -> i32,
) -> FuncDef<T> {
    FuncDef {
        name,
        module,
        params,
        routes,
        call: func(f),
    }
}

pub fn registry() -> Registry<T> {
    let mut r = Registry::default();
    siprd_script::builtin::register_builtins(&mut r);
    r.add_pv(PvClassDef {
        name: "avp",
        module: "core",
        parse: Arc::new(|_fx, inner| Ok(Box::new(Avp(inner.unwrap_or("").to_string())))),
    });
    let any = route_type::ANY;
    r.add_function(def(
        "t_log",
        "test",
        vec![ParamKind::Format],
        any,
        |c, a| {
            let s = arg_str(c, &a[0]);
            c.log.push(s);
            1
        },
    ));
    // t_show is t_log/2 where the second argument may be an expression
    for name in ["t_log", "t_show"] {
        r.add_function(def(
            name,
            "test",
            vec![ParamKind::Str, ParamKind::Format],
            any,
            |c, a| {
                let s = format!("{}:{}", arg_str(c, &a[0]), arg_str(c, &a[1]));
                c.log.push(s);
                1
            },
        ));
    }
    r.add_function(def("t_ret", "test", vec![ParamKind::Int], any, |c, a| {
        let Arg::Int(i) = a[0] else { return -1 };
        c.log.push(format!("ret{i}"));
        i
    }));
    r.add_function(def(
        "t_str",
        "test",
        vec![ParamKind::StrOrPv],
        any,
        |c, a| {
            let kind = if matches!(a[0], Arg::Pv(_)) {
                "pv"
            } else {
                "str"
            };
            let s = format!("{kind}:{}", arg_str(c, &a[0]));
            c.log.push(s);
            1
        },
    ));
    r.add_function(def(
        "t_int",
        "test",
        vec![ParamKind::IntOrPv],
        any,
        |c, a| {
            let s = match &a[0] {
                Arg::Int(i) => format!("int:{i}"),
                Arg::Pv(p) => format!("pv:{}", p.get(c)),
                _ => "?".into(),
            };
            c.log.push(s);
            1
        },
    ));
    r.add_function(def(
        "t_match",
        "test",
        vec![ParamKind::Regex, ParamKind::Format],
        any,
        |c, a| {
            let Arg::Regex(re) = &a[0] else { return -1 };
            let s = arg_str(c, &a[1]);
            if re.is_match(s.as_bytes()) {
                1
            } else {
                -1
            }
        },
    ));
    r.add_function(def(
        "t_set",
        "test",
        vec![ParamKind::WritablePv, ParamKind::Format],
        any,
        |c, a| {
            let Arg::Pv(p) = &a[0] else { return -1 };
            let v = Value::from_string(arg_str(c, &a[1]));
            let _ = p.set(c, v);
            1
        },
    ));
    r.add_function(def(
        "t_custom",
        "test",
        vec![ParamKind::Custom(Arc::new(
            |_fx: &mut FixupCtx<'_, T>, src: &ArgSrc| {
                if src.text == "bad" {
                    Err("custom fixup refuses `bad`".into())
                } else {
                    Ok(Arg::Custom(Box::new(src.text.to_uppercase())))
                }
            },
        ))],
        any,
        |c, a| {
            let s = arg_str(c, &a[0]);
            c.log.push(s);
            1
        },
    ));
    r.add_function(def(
        "t_suspend",
        "test",
        vec![],
        route_type::REQUEST,
        |c, _a| {
            c.suspended = Some(c.st.cursor);
            c.log.push("suspend".into());
            0
        },
    ));
    r.add_function(def("t_drop", "test", vec![], any, |c, _a| {
        c.st.dropped = true;
        c.st.exited = true;
        0
    }));
    r.add_function(def(
        "sl_send_reply",
        "sl",
        vec![ParamKind::IntFormat, ParamKind::Format],
        route_type::REQUEST,
        |c, a| {
            let s = format!("reply {} {}", arg_str(c, &a[0]), arg_str(c, &a[1]));
            c.log.push(s);
            1
        },
    ));
    r.add_function(def(
        "t_relay",
        "tm",
        vec![],
        route_type::REQUEST | route_type::FAILURE,
        |c, _a| {
            c.log.push("relay".into());
            1
        },
    ));
    r.add_function(def(
        "t_relay",
        "tm",
        vec![ParamKind::Str, ParamKind::Int],
        route_type::REQUEST | route_type::FAILURE,
        |_c, _a| 1,
    ));
    r.add_function(def(
        "lock",
        "cfgutils",
        vec![ParamKind::Str],
        any,
        |_c, _a| -1,
    ));
    r.hints.insert(
        "lock",
        "`lock()` needs modparam(\"cfgutils\", \"lock_set_size\", N)".into(),
    );
    // core keywords read AVPs here, so tests can set them; `to_uri` is left
    // out to test the "not supported" error
    for (k, pv) in [
        ("uri", "$avp(kw_uri)"),
        ("from_uri", "$avp(kw_fu)"),
        ("src_ip", "$avp(kw_si)"),
        ("dst_ip", "$avp(kw_di)"),
        ("proto", "$avp(kw_pr)"),
        ("af", "$avp(kw_af)"),
        ("method", "$avp(kw_rm)"),
        ("msg:len", "$avp(kw_ml)"),
    ] {
        r.keywords.insert(k, pv);
    }
    r.myself = Some(Arc::new(|_c: &mut T, v: &Value| {
        let s = v.to_string();
        s.contains("127.0.0.1") || s.contains("me.example")
    }));
    // parameters that take a non-constant (`t_log/1`'s does not)
    r.allow_nonconst("t_show", 2, 2);
    r.allow_nonconst("t_int", 1, 1);
    r.allow_nonconst("t_match", 2, 1);
    r.allow_nonconst("t_custom", 1, 1);
    r.allow_nonconst("t_set", 2, 1);
    r.unloaded_functions.insert("t_continue", "tmx");
    r.events = vec!["htable:mod-init", "evapi:", "core:worker-one-init"];
    r
}

pub fn modules() -> Vec<ModuleDecl> {
    vec![
        ModuleDecl {
            name: "tm",
            params: vec![
                ModParamDecl {
                    name: "fr_timer",
                    ty: ModParamType::Int,
                },
                ModParamDecl {
                    name: "fr_inv_timer",
                    ty: ModParamType::Int,
                },
            ],
            events: vec![],
        },
        ModuleDecl {
            name: "sl",
            params: vec![],
            events: vec![],
        },
        ModuleDecl {
            name: "tmx",
            params: vec![],
            events: vec![],
        },
        ModuleDecl {
            name: "htable",
            params: vec![
                ModParamDecl {
                    name: "htable",
                    ty: ModParamType::Str,
                },
                ModParamDecl {
                    name: "enable_dmq",
                    ty: ModParamType::Int,
                },
            ],
            events: vec!["htable:mod-init"],
        },
        ModuleDecl {
            name: "cfgutils",
            params: vec![ModParamDecl {
                name: "lock_set_size",
                ty: ModParamType::Int,
            }],
            events: vec![],
        },
        ModuleDecl {
            name: "xlog",
            params: vec![],
            events: vec![],
        },
        ModuleDecl {
            name: "pv",
            params: vec![],
            events: vec![],
        },
    ]
}

pub const GLOBALS: &[&str] = &[
    "debug",
    "children",
    "listen",
    "port",
    "log_stderror",
    "fork",
    "alias",
    "max_while_loops",
    "tcp_connection_lifetime",
    "kemi.request_route_callback",
    "workdir",
    "disable_tcp",
    "auto_aliases",
];

pub fn compile_str(cfg: &str) -> Result<siprd_script::Program<T>, String> {
    let parsed =
        siprd_script::parse_str("test.cfg", cfg, &Defines::new()).map_err(|d| d.render_short())?;
    let reg = registry();
    let mods = modules();
    let opts = CompileOptions {
        modules: &mods,
        globals: GLOBALS,
        foreign_modules: &[],
        max_while_loops: None,
    };
    siprd_script::compile(&parsed, &reg, &(), &opts)
        .map(|(p, _)| p)
        .map_err(|d| d.render_short())
}

/// Compile and run `request_route`; the t_log lines.
pub fn run(cfg: &str) -> Vec<String> {
    run_ctx(cfg).log
}

pub fn run_ctx(cfg: &str) -> T {
    siprd_script::builtin::var_reset_thread();
    let p = compile_str(cfg).unwrap_or_else(|e| panic!("config does not compile:\n{e}"));
    let mut t = T::default();
    let id = p.request_route().expect("request_route");
    let out = p.run_route(&mut t, id, route_type::REQUEST);
    t.log.push(format!(
        "=> rc={} exited={} dropped={}",
        out.retcode, out.exited, out.dropped
    ));
    t
}

/// Run a body inside `request_route { ... }`.
pub fn body(stmts: &str) -> Vec<String> {
    run(&format!("request_route {{\n{stmts}\n}}\n"))
}

/// All diagnostics, one line each.
pub fn check(cfg: &str) -> String {
    let parsed = match siprd_script::parse_str("test.cfg", cfg, &Defines::new()) {
        Ok(p) => p,
        Err(d) => return d.render_short(),
    };
    let reg = registry();
    let mods = modules();
    let opts = CompileOptions {
        modules: &mods,
        globals: GLOBALS,
        foreign_modules: &[],
        max_while_loops: None,
    };
    match siprd_script::compile(&parsed, &reg, &(), &opts) {
        Ok((_, w)) => w.render_short(),
        Err(d) => d.render_short(),
    }
}

/// The full rustc-style rendering.
pub fn render(cfg: &str) -> String {
    let parsed = match siprd_script::parse_str("test.cfg", cfg, &Defines::new()) {
        Ok(p) => p,
        Err(d) => return d.render(),
    };
    let reg = registry();
    let mods = modules();
    let opts = CompileOptions {
        modules: &mods,
        globals: GLOBALS,
        foreign_modules: &[],
        max_while_loops: None,
    };
    match siprd_script::compile(&parsed, &reg, &(), &opts) {
        Ok((_, w)) => w.render(),
        Err(d) => d.render(),
    }
}
