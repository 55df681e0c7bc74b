//! Loading a config: preprocess and parse → core settings from the globals →
//! modules (loadmodule, modparam, init) → the registry of everything the
//! modules export → compile the routes. Every problem is collected and
//! reported at once, with spans.

use crate::context::Ctx;
use crate::module::{Module, ModuleInfo};
use crate::modules;
use crate::rpc::RpcRegistry;
use crate::runtime::{Hooks, Runtime, RuntimeParts};
use crate::settings::CoreSettings;
use siprd_script::ast::{GlobalValue, ModParamValue};
use siprd_script::registry::ModuleDecl;
use siprd_script::{
    compile, CompileOptions, Defines, Diagnostic, Diagnostics, ParsedConfig, Program, Registry,
    Value,
};
use std::path::Path;

/// The bundled default config (`etc/siprd.cfg`).
pub const DEFAULT_CONFIG: &str = include_str!("../../../etc/siprd.cfg");
pub const DEFAULT_CONFIG_NAME: &str = "etc/siprd.cfg (built in)";

/// Where the config comes from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    File(&'a Path),
    Text { name: &'a str, text: &'a str },
}

/// A config ready to run.
pub struct Loaded {
    pub settings: CoreSettings,
    pub modules: Vec<Box<dyn Module>>,
    pub program: Program<Ctx>,
    /// The registry the program was compiled against (KEMI resolves names in it).
    pub registry: Registry<Ctx>,
    /// (module or event name, function) of the `event_callback*` modparams.
    pub event_callbacks: Vec<(String, String)>,
    /// Warnings (errors make `load` fail).
    pub warnings: Diagnostics,
}

impl Loaded {
    /// Build the runtime: hooks and RPC commands from the modules.
    pub fn into_runtime(self) -> (Runtime, Vec<Box<dyn Module>>) {
        let mut hooks = Hooks::default();
        let mut rpc = RpcRegistry::default();
        let mut kemi = None;
        for m in &self.modules {
            m.hooks(&mut hooks);
            m.rpc(&mut rpc);
            if let Some(engine) = m.kemi_engine() {
                if engine.name() == self.settings.cfgengine {
                    kemi = Some(engine);
                }
            }
        }
        // `core.modules`: the loaded modules, the last loaded first (as Kamailio).
        let names: Vec<serde_json::Value> = self
            .modules
            .iter()
            .rev()
            .map(|m| m.name())
            .filter(|n| *n != "core")
            .map(serde_json::Value::from)
            .collect();
        if rpc.get("core.modules").is_none() {
            rpc.add("core.modules", "List loaded modules", move |_| {
                Ok(serde_json::Value::Array(names.clone()))
            });
        }
        let load_order: Vec<&'static str> = self.modules.iter().map(|m| m.name()).collect();
        let rt = Runtime::build(RuntimeParts {
            settings: self.settings,
            program: self.program,
            hooks,
            rpc,
            registry: std::sync::Arc::new(self.registry),
            kemi,
            event_callbacks: self.event_callbacks,
            load_order,
        });
        (rt, self.modules)
    }
}

/// What function fix-ups may ask about the server at load (`FixupCtx::host`).
pub struct LoadHost {
    /// The `listen` values of the config.
    pub listen: Vec<crate::transport::ListenSpec>,
    /// The global `port`.
    pub port: u16,
}

impl LoadHost {
    /// Whether a socket `[proto:]ip[:port]` is one the config listens on
    /// (a listen on port 0, or on a name, could be anything: yes).
    pub fn listens_on(&self, want: &crate::transport::ListenSpec) -> bool {
        use crate::transport::ListenHost;
        if self.listen.is_empty() {
            return true;
        }
        let ListenHost::Ip(ip) = want.host else {
            return true;
        };
        self.listen.iter().any(|l| {
            let ListenHost::Ip(lip) = l.host else {
                return true;
            };
            let proto_ok = match (l.proto, want.proto) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            let lport = l.port.unwrap_or(self.port);
            let port_ok = lport == 0 || want.port.unwrap_or(5060) == lport;
            (lip == ip || lip.is_unspecified()) && proto_ok && port_ok
        })
    }
}

fn global_value(v: &GlobalValue) -> Value {
    match v {
        GlobalValue::Int(i) => Value::Int(*i),
        GlobalValue::Bool(b) => Value::Int(i32::from(*b)),
        GlobalValue::Str(s) | GlobalValue::Word(s) => Value::from_string(s.clone()),
    }
}

fn modparam_value(v: &ModParamValue) -> Value {
    match v {
        ModParamValue::Int(i) => Value::Int(*i),
        ModParamValue::Str(s) => Value::from_string(s.clone()),
    }
}

/// Every module declaration (loaded or not), for the compiler's checks.
/// A module's declaration also lists the parameters Kamailio's module has
/// and siprd's does not implement, so a config setting one loads
/// (`apply_modparams` warns about it).
fn all_decls() -> Vec<ModuleDecl> {
    let mut decls: Vec<ModuleDecl> = modules::ALL
        .iter()
        .map(|info| (info.new)().decl())
        .collect();
    decls.push(modules::core::Core.decl());
    for d in &mut decls {
        for (module, name, ty) in crate::kamailio_params::KAMAILIO_PARAMS {
            if *module == d.name && !d.params.iter().any(|p| p.name == *name) {
                d.params
                    .push(siprd_script::registry::ModParamDecl { name, ty: *ty });
            }
        }
    }
    decls
}

/// Parse and compile a config. Every problem is reported at once: syntax
/// errors, bad global values, module parameters and compile errors, in
/// source order.
pub fn load(source: Source<'_>, defines: &Defines) -> Result<Loaded, Diagnostics> {
    let (parsed, mut diags) = match source {
        Source::File(path) => siprd_script::parse_file_lenient(path, defines),
        Source::Text { name, text } => siprd_script::parse_str_lenient(name, text, defines),
    };
    let parse_failed = diags.iter().any(Diagnostic::is_error);

    let mut settings = apply_globals(&parsed, &mut diags);
    if let Source::File(path) = source {
        settings.config_dir = path.parent().map(Path::to_path_buf);
    }
    let mut loaded = instantiate_modules(&parsed, &mut diags);
    apply_modparams(&parsed, &mut loaded, &mut diags);
    for (m, span) in loaded.iter_mut() {
        if let Err(e) = m.init(&settings) {
            let d = match span {
                Some(s) => Diagnostic::error(
                    *s,
                    format!("module `{}` failed to initialise: {e}", m.name()),
                ),
                None => Diagnostic::error_nospan(format!(
                    "module `{}` failed to initialise: {e}",
                    m.name()
                )),
            };
            diags.push(d);
        }
    }
    if settings.cfgengine != "native"
        && !loaded
            .iter()
            .any(|(m, _)| m.name() == format!("app_{}", settings.cfgengine))
    {
        let msg = format!(
            "cfgengine \"{0}\" needs loadmodule \"app_{0}.so\"",
            settings.cfgengine
        );
        diags.push(match &parsed.cfgengine {
            Some((_, span)) => Diagnostic::error(*span, msg),
            None => Diagnostic::error_nospan(msg),
        });
    }
    let event_callbacks = parsed
        .modparams
        .iter()
        .filter_map(|mp| {
            let ModParamValue::Str(f) = &mp.value else {
                return None;
            };
            let module = crate::module::module_name_of(&mp.module);
            // Kamailio 5.6: tm's `event_callback` is for tm:local-request only;
            // sl and tm name their other events' callbacks apart.
            let key = match (module, mp.param.as_str()) {
                ("tm", "event_callback") => "tm:local-request".to_string(),
                (m, "event_callback") => m.to_string(),
                ("sl", "event_callback_fl_ack") => "sl:filtered-ack".to_string(),
                ("sl" | "tm", "event_callback_lres_sent") => format!("{module}:local-response"),
                _ => return None,
            };
            Some((key, f.clone()))
        })
        .collect();
    let modules: Vec<Box<dyn Module>> = loaded.into_iter().map(|(m, _)| m).collect();
    let registry = build_registry(&modules);

    let decls = all_decls();
    let globals: Vec<&str> = crate::core_params::names().collect();
    let opts = CompileOptions {
        modules: &decls,
        globals: &globals,
        foreign_modules: crate::kamailio_modules::KAMAILIO_MODULES,
        max_while_loops: None,
    };
    let load_host = LoadHost {
        listen: settings
            .listen
            .iter()
            .filter_map(|l| crate::transport::ListenSpec::parse(l).ok())
            .collect(),
        port: settings.port,
    };
    let host: &(dyn std::any::Any + Send + Sync) = &load_host;
    let (program, more) = match compile(&parsed, &registry, host, &opts) {
        Ok((program, warnings)) => (Some(program), warnings.items),
        Err(errors) => (None, errors.items),
    };
    for d in more {
        // A route that failed to parse is not also "unknown".
        if parse_failed && d.message.starts_with("unknown route") {
            continue;
        }
        // The parser's own warnings come back through the compiler: keep one copy.
        if !d.is_error()
            && diags
                .iter()
                .any(|e| e.message == d.message && e.span == d.span)
        {
            continue;
        }
        diags.push(d);
    }
    diags.sort_by_key(|d| d.span.map(|s| (s.file, s.lo)).unwrap_or((0, 0)));
    let report = Diagnostics::new(parsed.sources.clone(), diags);
    match program {
        Some(program) if !report.has_errors() => Ok(Loaded {
            settings,
            modules,
            program,
            registry,
            event_callbacks,
            warnings: report,
        }),
        _ => Err(report),
    }
}

fn apply_globals(parsed: &ParsedConfig, diags: &mut Vec<Diagnostic>) -> CoreSettings {
    let mut settings = CoreSettings {
        ppdefines: parsed.ppdefines.clone(),
        ..CoreSettings::default()
    };
    for g in &parsed.globals {
        if crate::core_params::lookup(&g.name).is_none() {
            continue; // reported by the compiler with a did-you-mean
        }
        if let (GlobalValue::Str(text), "alias") = (&g.value, g.name.as_str()) {
            settings.aliases.push(crate::settings::Alias::whole(text));
            continue;
        }
        match settings.apply(&g.name, &global_value(&g.value)) {
            Ok(crate::core_params::Support::Ignored) => diags.push(
                Diagnostic::warning(
                    g.name_span,
                    format!("global parameter `{}` is ignored by siprd", g.name),
                )
                .help("Kamailio knows it; it has no effect here"),
            ),
            Ok(crate::core_params::Support::Used) => {}
            Err(e) => diags.push(Diagnostic::error(
                g.value_span,
                format!("bad value for `{}`: {e}", g.name),
            )),
        }
    }
    if let Some((engine, span)) = &parsed.cfgengine {
        match engine.as_str() {
            "native" | "lua" => settings.cfgengine = engine.clone(),
            other => diags.push(
                Diagnostic::error(*span, format!("unknown cfgengine `{other}`"))
                    .help("siprd supports \"native\" and \"lua\""),
            ),
        }
    }
    for l in &settings.listen {
        if let Err(e) = crate::transport::ListenSpec::parse(l) {
            let span = parsed
                .globals
                .iter()
                .find(|g| g.name == "listen" && g.value.as_str() == *l)
                .map(|g| g.value_span);
            let msg = format!("bad listen value `{l}`: {e}");
            diags.push(match span {
                Some(s) => Diagnostic::error(s, msg),
                None => Diagnostic::error_nospan(msg),
            });
        }
    }
    settings
}

type LoadedModule = (Box<dyn Module>, Option<siprd_script::Span>);

fn instantiate_modules(parsed: &ParsedConfig, diags: &mut Vec<Diagnostic>) -> Vec<LoadedModule> {
    let mut loaded: Vec<LoadedModule> = vec![(Box::new(modules::core::Core), None)];
    let mut names: Vec<&str> = Vec::new();
    for lm in &parsed.loadmodules {
        let name = crate::module::module_name_of(&lm.path);
        if names.contains(&name) {
            continue;
        }
        let Some(info) = modules::find(name) else {
            // The compiler reports modules it does not know.
            continue;
        };
        names.push(name);
        loaded.push(((info.new)(), Some(lm.span)));
    }
    // Modules that need another one loaded first.
    for lm in &parsed.loadmodules {
        let name = crate::module::module_name_of(&lm.path);
        if let Some(ModuleInfo { requires, .. }) = modules::find(name) {
            for req in *requires {
                if !names.contains(req) {
                    diags.push(
                        Diagnostic::error(lm.span, format!("module `{name}` needs module `{req}`"))
                            .help(format!("add loadmodule \"{req}.so\"")),
                    );
                }
            }
        }
    }
    loaded
}

fn apply_modparams(
    parsed: &ParsedConfig,
    loaded: &mut [LoadedModule],
    diags: &mut Vec<Diagnostic>,
) {
    for mp in &parsed.modparams {
        let name = crate::module::module_name_of(&mp.module);
        let Some((m, _)) = loaded.iter_mut().find(|(m, _)| m.name() == name) else {
            continue; // not loaded: reported by the compiler
        };
        if !m.params().iter().any(|p| p.name == mp.param) {
            // Kamailio's module has it, siprd's does not use it; anything
            // else is reported by the compiler
            if crate::kamailio_params::lookup(name, &mp.param).is_some() {
                diags.push(
                    Diagnostic::warning(
                        mp.param_span,
                        format!(
                            "parameter `{}` of module `{name}` is ignored by siprd",
                            mp.param
                        ),
                    )
                    .help("Kamailio's module has it; siprd does not implement it"),
                );
            }
            continue;
        }
        if let Err(e) = m.set_param(&mp.param, &modparam_value(&mp.value)) {
            diags.push(Diagnostic::error(
                mp.value_span,
                format!("bad value for {name}.{}: {e}", mp.param),
            ));
        }
    }
}

/// Builtins, every loaded module's exports, and hints about unloaded ones.
/// `siprd --functions`: every config function of every module, one
/// `module name arity` line each, sorted.
pub fn function_list() -> String {
    let modules: Vec<Box<dyn Module>> = modules::ALL
        .iter()
        .map(|i| (i.new)())
        .chain(std::iter::once(
            Box::new(modules::core::Core) as Box<dyn Module>
        ))
        .collect();
    let reg = build_registry(&modules);
    let mut lines: Vec<String> = reg
        .functions
        .values()
        .flatten()
        .map(|d| format!("{} {} {}\n", d.module, d.name, d.params.len()))
        .collect();
    lines.sort();
    lines.concat()
}

pub fn build_registry(modules: &[Box<dyn Module>]) -> Registry<Ctx> {
    let mut reg: Registry<Ctx> = Registry::default();
    siprd_script::builtin::register_builtins(&mut reg);
    for m in modules {
        m.register(&mut reg);
        reg.events.extend(m.events());
    }
    let loaded: Vec<&str> = modules.iter().map(|m| m.name()).collect();
    for info in modules::ALL.iter().filter(|i| !loaded.contains(&i.name)) {
        let mut scratch: Registry<Ctx> = Registry::default();
        (info.new)().register(&mut scratch);
        for f in scratch.functions.keys() {
            if !reg.functions.contains_key(f) {
                reg.unloaded_functions.insert(f, info.name);
            }
        }
    }
    // KEMI: `KSR.hdr.*` is Kamailio's core, there with textops loaded or not;
    // its natives are kept under hidden names for app_lua when it is not.
    if !loaded.contains(&"textops") {
        let mut scratch: Registry<Ctx> = Registry::default();
        crate::module::Module::register(&modules::textops::Textops, &mut scratch);
        for (hidden, name) in modules::app_lua::ksr::HDR_HIDDEN {
            if let Some(defs) = scratch.functions.remove(name) {
                reg.functions.insert(hidden, defs);
            }
        }
    }
    core_keywords(&mut reg);
    for (name, arity, pos) in crate::kamailio_nonconst::NONCONST_ARGS {
        reg.allow_nonconst(name, *arity, *pos);
    }
    reg
}

// ---- core keywords and `myself` (language engineer's block; the lead may move it)
/// Kamailio's core keywords in expressions (`uri == myself`, `src_ip == 10.0.0.1`,
/// `proto == UDP` ...): each reads a pseudo-variable of the pv module.
fn core_keywords(reg: &mut Registry<Ctx>) {
    for (k, pv) in [
        ("method", "$rm"),
        ("uri", "$ru"),
        ("from_uri", "$fu"),
        ("to_uri", "$tu"),
        ("src_ip", "$si"),
        ("src_port", "$sp"),
        ("dst_ip", "$Ri"),
        ("dst_port", "$Rp"),
        ("proto", "$pr"),
        ("af", "$_af"),
        ("msg:len", "$ml"),
        ("status", "$rs"),
        // onsend_route: the sending socket (snd_*) and the destination (to_*)
        ("snd_ip", "$sndfrom(ip)"),
        ("snd_port", "$sndfrom(port)"),
        ("snd_af", "$snd(af)"),
        ("snd_proto", "$snd(proto)"),
        ("to_ip", "$snd(ip)"),
        ("to_port", "$snd(port)"),
        ("to_af", "$snd(af)"),
        ("to_proto", "$snd(proto)"),
    ] {
        if reg
            .pv_classes
            .contains_key(pv.trim_start_matches('$').split('(').next().unwrap_or(""))
        {
            reg.keywords.insert(k, pv);
        }
    }
    reg.myself = Some(std::sync::Arc::new(|ctx: &mut Ctx, v: &Value| {
        is_myself(ctx, v, PortlessUri::DefaultPort)
    }));
}

/// What a URI without a port matches (Kamailio differs by caller).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PortlessUri {
    /// `uri == myself`, `from_uri == myself`: the scheme's port (5060, 5061 for sips).
    DefaultPort,
    /// kex's `is_myself("sip:host")`: any of our ports.
    AnyPort,
}

/// `X == myself`: a SIP URI (host, port; without a port see [`PortlessUri`]),
/// a `host[:port]` or a bare IP (any of our ports).
pub(crate) fn is_myself(ctx: &mut Ctx, v: &Value, portless: PortlessUri) -> bool {
    let text = v.to_string();
    let text = text.trim();
    if text.is_empty() {
        return false;
    }
    let (host, port): (Vec<u8>, Option<u16>) =
        if text.contains("sip:") || text.contains("sips:") || text.starts_with("tel:") {
            // `uri`, `from_uri`, `to_uri` may hold a name-addr: take the URI inside `<...>`
            let inner = match (text.find('<'), text.rfind('>')) {
                (Some(a), Some(b)) if a < b => &text[a + 1..b],
                _ => text,
            };
            match siprd_sip::Uri::parse(inner.as_bytes()) {
                Ok(u) => {
                    let default = match u.scheme() {
                        siprd_sip::uri::Scheme::Sips => 5061,
                        _ => 5060,
                    };
                    let port = match portless {
                        PortlessUri::DefaultPort => Some(u.port().unwrap_or(default)),
                        PortlessUri::AnyPort => u.port(),
                    };
                    (u.host().to_vec(), port)
                }
                Err(_) => return false,
            }
        } else if let Ok(ip) = text
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
        {
            (ip.to_string().into_bytes(), None)
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(':') && p.parse::<u16>().is_ok() => {
                    (h.as_bytes().to_vec(), p.parse().ok())
                }
                _ => (text.as_bytes().to_vec(), None),
            }
        };
    let rt = ctx.rt.clone();
    match port {
        Some(p) => rt.is_local(&host, Some(p)),
        // no port: any of our ports
        None => {
            rt.listeners()
                .iter()
                .any(|l| rt.is_local(&host, Some(l.addr.port())))
                || rt.is_local(&host, None)
        }
    }
}
// ---- end of the core keywords block
