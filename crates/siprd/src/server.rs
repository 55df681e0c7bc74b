//! Start-up and shutdown: load the config, bind the listeners, start the
//! modules (start-up events run before any worker takes traffic), serve until
//! SIGTERM/SIGINT, then stop within a second.

use crate::cli::RunOpts;
use crate::config::{self, Source};
use crate::dispatch::Dispatcher;
use crate::log::{self, LogOptions};
use crate::runtime::Runtime;
use crate::transport::{self, ExpandOptions, ListenSpec, Transport, TransportConfig};
use siprd_script::Defines;
use std::sync::Arc;
use std::time::Duration;

/// Exit codes.
pub const EXIT_OK: i32 = 0;
pub const EXIT_CONFIG: i32 = 1;
pub const EXIT_RUNTIME: i32 = 2;

fn defines_of(opts: &RunOpts) -> Defines {
    let mut d = Defines::new();
    for (name, value) in &opts.defines {
        d.define(name, value.as_deref());
    }
    d
}

/// Load the config named by the options (or the bundled default).
pub fn load(opts: &RunOpts) -> Result<config::Loaded, siprd_script::Diagnostics> {
    let defines = defines_of(opts);
    match &opts.config {
        Some(path) => config::load(Source::File(path), &defines),
        None => config::load(
            Source::Text {
                name: config::DEFAULT_CONFIG_NAME,
                text: config::DEFAULT_CONFIG,
            },
            &defines,
        ),
    }
}

/// `siprd -c`: report every problem; exit 0 when the config is valid.
pub fn check(opts: &RunOpts) -> i32 {
    log::hold_until_init();
    let loaded = load(opts);
    // what the modules logged while loading goes to stderr, as with -E
    let _ = log::init(&LogOptions {
        level: Some(match &loaded {
            Ok(l) => opts.debug_level().unwrap_or(l.settings.debug),
            Err(_) => opts.debug_level().unwrap_or(log::DEFAULT_LEVEL),
        }),
        stderr: true,
        color: false,
        facility: None,
        name: None,
    });
    match loaded {
        Ok(loaded) => {
            if !loaded.warnings.is_empty() {
                eprint!("{}", loaded.warnings.render());
            }
            eprintln!("config file ok, exiting...");
            EXIT_OK
        }
        Err(diags) => {
            eprint!("{}", diags.render());
            eprint!("{}", diags.render_short());
            EXIT_CONFIG
        }
    }
}

fn transport_config(rt: &Runtime) -> TransportConfig {
    let s = &rt.settings;
    TransportConfig {
        children: s.children,
        tcp_children: Some(s.tcp_children),
        tcp_max_connections: s.tcp_max_connections,
        tcp_accept_no_cl: s.tcp_accept_no_cl,
        tcp_connection_lifetime: Duration::from_secs(u64::from(s.tcp_connection_lifetime)),
        ..TransportConfig::default()
    }
}

fn endpoints(rt: &Runtime) -> Result<Vec<transport::Endpoint>, String> {
    let s = &rt.settings;
    let expand = ExpandOptions {
        default_port: s.port,
        disable_tcp: s.disable_tcp,
    };
    let specs: Vec<String> = if s.listen.is_empty() {
        vec!["0.0.0.0".to_string()]
    } else {
        s.listen.clone()
    };
    let mut out = Vec::new();
    for spec in &specs {
        let parsed =
            ListenSpec::parse(spec).map_err(|e| format!("bad listen value `{spec}`: {e}"))?;
        out.extend(
            parsed
                .expand(&expand)
                .map_err(|e| format!("listen `{spec}`: {e}"))?,
        );
    }
    Ok(out)
}

/// Run the server until a stop signal. Returns the process exit code.
pub fn run(mut opts: RunOpts) -> i32 {
    let signals = match crate::signals::block_stop_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("siprd: cannot set up signal handling: {e}");
            return EXIT_RUNTIME;
        }
    };
    log::hold_until_init();
    let mut loaded = match load(&opts) {
        Ok(l) => l,
        Err(diags) => {
            let _ = log::init(&LogOptions {
                level: opts.debug_level(),
                stderr: true,
                color: false,
                facility: None,
                name: None,
            });
            eprint!("{}", diags.render());
            return EXIT_CONFIG;
        }
    };
    // Command-line options override the config, as in Kamailio.
    let s = &mut loaded.settings;
    if let Some(n) = opts.children {
        s.children = n.max(1);
    }
    if let Some(n) = opts.tcp_children {
        s.tcp_children = n.max(1);
    }
    if opts.disable_tcp {
        s.disable_tcp = true;
    }
    if !opts.listen.is_empty() {
        s.listen = std::mem::take(&mut opts.listen);
    }
    s.aliases.extend(
        opts.aliases
            .iter()
            .map(|a| crate::settings::Alias::parse(a)),
    );
    if let Some(d) = opts.debug_level() {
        s.debug = d;
    }
    let log_opts = LogOptions {
        level: Some(s.debug),
        stderr: s.log_stderror || opts.log_stderr,
        color: opts.log_color,
        facility: Some(s.log_facility.clone()),
        name: Some(s.log_name.clone()),
    };
    if let Err(e) = log::init(&log_opts) {
        eprintln!("siprd: {e}");
    }
    if !loaded.warnings.is_empty() {
        eprint!("{}", loaded.warnings.render());
    }
    if let Some(dir) = opts
        .workdir
        .clone()
        .or_else(|| loaded.settings.workdir.clone().map(Into::into))
    {
        if let Err(e) = std::env::set_current_dir(&dir) {
            eprintln!("siprd: cannot change to workdir {}: {e}", dir.display());
            return EXIT_RUNTIME;
        }
    }

    let (rt, modules) = loaded.into_runtime();
    let rt = Arc::new(rt);
    let endpoints = match endpoints(&rt) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("siprd: {e}");
            return EXIT_CONFIG;
        }
    };
    let dispatcher = Arc::new(Dispatcher::new(rt.clone()));
    let mut transport =
        match Transport::start(&endpoints, transport_config(&rt), dispatcher.clone()) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("siprd: {e}");
                return EXIT_RUNTIME;
            }
        };
    rt.set_sender(transport.sender());
    for l in transport.listeners() {
        eprintln!("siprd: listening on {}:{}", l.proto, l.addr);
    }
    for m in &modules {
        if let Err(e) = m.start(&rt) {
            eprintln!("siprd: module `{}` failed to start: {e}", m.name());
            rt.begin_stop();
            transport.shutdown_within(Duration::from_millis(500));
            return EXIT_RUNTIME;
        }
    }
    dispatcher.open();
    eprintln!(
        "siprd started (pid {}, config {})",
        std::process::id(),
        opts.config
            .as_ref()
            .map_or(config::DEFAULT_CONFIG_NAME.to_string(), |p| p
                .display()
                .to_string())
    );

    let sig = signals.wait();
    eprintln!("siprd: {} received, stopping", sig.name());
    signals.arm_forced_exit(Duration::from_millis(1500));
    rt.begin_stop();
    for m in modules.iter().rev() {
        m.stop();
    }
    transport.shutdown_within(Duration::from_millis(800));
    EXIT_OK
}
