//! jsonrpcs: JSON-RPC 2.0 control of the server over a datagram socket (UDP
//! or a unix path), a FIFO (what `kamctl rpc` uses) and HTTP (xhttp's
//! `event_route[xhttp:request]` with `jsonrpc_dispatch()`, or siprd's own
//! `http_listen`). Every transport
//! hands the request to [`crate::rpc::RpcRegistry::dispatch`]; commands are
//! registered by their modules (`htable.*`, `evrexec.run` ...). The core's
//! own commands (`core.*`, `stats.*`) are registered here when no other
//! module did.

pub mod core_cmds;
mod core_mem;
pub mod dgram;
pub mod fifo;
pub mod http;
pub mod script;

use crate::context::Ctx;
use crate::module::{CoreSettings, Module};
use crate::rpc::RpcRegistry;
use crate::runtime::Runtime;
use parking_lot::Mutex;
use siprd_script::registry::ModParamDecl;
use siprd_script::{Registry, Value};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, Weak};

/// Kamailio's defaults (used only when the path's directory exists and no
/// file is in the way).
pub const DEFAULT_DGRAM: &str = "/run/kamailio/kamailio_rpc.sock";
pub const DEFAULT_FIFO: &str = "/run/kamailio/kamailio_rpc.fifo";

/// Transport bits of the `transport` parameter (0: all).
const T_HTTP: i32 = 1;
const T_FIFO: i32 = 2;
const T_DGRAM: i32 = 4;

/// The jsonrpcs module.
pub struct Jsonrpcs {
    dgram_socket: Option<String>,
    fifo_name: Option<String>,
    fifo_reply_dir: String,
    fifo_mode: u32,
    transport: i32,
    http_listen: Option<String>,
    /// Files created for the transports (removed at stop).
    created: Mutex<Vec<PathBuf>>,
    /// Process names of the transports serving (for `core.ps`).
    serving: Arc<Mutex<Vec<&'static str>>>,
    rt: Arc<OnceLock<Weak<Runtime>>>,
}

impl Default for Jsonrpcs {
    fn default() -> Self {
        Jsonrpcs {
            dgram_socket: None,
            fifo_name: None,
            fifo_reply_dir: "/tmp/".into(),
            fifo_mode: 0o600,
            transport: 0,
            http_listen: None,
            created: Mutex::new(Vec::new()),
            serving: Arc::default(),
            rt: Arc::new(OnceLock::new()),
        }
    }
}

impl Jsonrpcs {
    fn enabled(&self, bit: i32) -> bool {
        self.transport == 0 || self.transport & bit != 0
    }
}

impl Module for Jsonrpcs {
    fn name(&self) -> &'static str {
        "jsonrpcs"
    }

    fn params(&self) -> Vec<ModParamDecl> {
        let (s, i) = (ModParamDecl::str, ModParamDecl::any);
        vec![
            s("dgram_socket"),
            s("fifo_name"),
            s("fifo_reply_dir"),
            s("http_listen"),
            i("fifo_mode"),
            i("transport"),
            i("dgram_mode"),
            // a name or a numeric id, as Kamailio takes them
            i("dgram_user"),
            i("dgram_group"),
            i("fifo_user"),
            i("fifo_group"),
            i("dgram_workers"),
            i("dgram_timeout"),
            i("pretty_format"),
        ]
    }

    fn set_param(&mut self, name: &str, value: &Value) -> Result<(), String> {
        let int = |v: &Value| {
            v.try_int()
                .ok_or_else(|| format!("`{name}` needs an integer, got `{v}`"))
        };
        match name {
            "dgram_socket" => self.dgram_socket = Some(value.to_string()),
            "fifo_name" => self.fifo_name = Some(value.to_string()),
            "fifo_reply_dir" => self.fifo_reply_dir = value.to_string(),
            "http_listen" => {
                http::parse_listen(&value.to_string())?;
                self.http_listen = Some(value.to_string());
            }
            "fifo_mode" => {
                self.fifo_mode = u32::try_from(int(value)?)
                    .map_err(|_| "`fifo_mode` must be positive".to_string())?
            }
            "transport" => {
                let t = int(value)?;
                if !(0..=7).contains(&t) {
                    return Err(format!(
                        "`transport` must be 0..7 (bits: 1 HTTP, 2 FIFO, 4 datagram), got {t}"
                    ));
                }
                self.transport = t;
            }
            "dgram_workers" | "dgram_timeout" | "pretty_format" | "dgram_mode" => {
                int(value)?;
            }
            "dgram_user" | "dgram_group" | "fifo_user" | "fifo_group" => {
                tracing::warn!("jsonrpcs: `{name}` is accepted but not applied by siprd");
            }
            _ => return Err(format!("module `jsonrpcs` has no parameter `{name}`")),
        }
        Ok(())
    }

    fn init(&mut self, _core: &CoreSettings) -> Result<(), String> {
        if let Some(d) = &self.dgram_socket {
            dgram::Endpoint::parse(d)?;
        }
        Ok(())
    }

    fn register(&self, reg: &mut Registry<Ctx>) {
        // As Kamailio 5.6, `jsonrpc_dispatch()` needs bit 1 set explicitly
        // (`transport` 0 does not enable it).
        script::register(reg, self.transport & T_HTTP != 0);
    }

    fn rpc(&self, rpc: &mut RpcRegistry) {
        rpc.add("jsonrpc.echo", "Sample echo command", |p| {
            Ok(core_cmds::jsonrpc_echo(p))
        });
        core_cmds::register(rpc, &self.rt, &self.serving);
    }

    fn start(&self, rt: &Arc<Runtime>) -> Result<(), String> {
        let _ = self.rt.set(Arc::downgrade(rt));
        core_cmds::register_tmx(rt);
        if self.enabled(T_DGRAM) {
            match &self.dgram_socket {
                Some(spec) => {
                    let ep = dgram::Endpoint::parse(spec)?;
                    dgram::start(rt, &ep, true)?;
                    self.serving.lock().push("JSONRPCS DATAGRAM");
                    if let dgram::Endpoint::Unix(p) = ep {
                        self.created.lock().push(p);
                    }
                }
                None if std::path::Path::new(DEFAULT_DGRAM)
                    .parent()
                    .is_some_and(|p| p.is_dir()) =>
                {
                    match dgram::start(rt, &dgram::Endpoint::Unix(DEFAULT_DGRAM.into()), false) {
                        Ok(()) => {
                            self.created.lock().push(DEFAULT_DGRAM.into());
                            self.serving.lock().push("JSONRPCS DATAGRAM");
                        }
                        Err(e) => {
                            tracing::warn!("jsonrpcs: default datagram socket not started: {e}")
                        }
                    }
                }
                None => {}
            }
        }
        if self.enabled(T_HTTP) {
            if let Some(spec) = &self.http_listen {
                http::start(rt, http::parse_listen(spec)?)?;
            }
        }
        if self.enabled(T_FIFO) {
            let explicit = self.fifo_name.is_some();
            let path = self
                .fifo_name
                .clone()
                .unwrap_or_else(|| DEFAULT_FIFO.to_string());
            let usable = explicit
                || std::path::Path::new(&path)
                    .parent()
                    .is_some_and(|p| p.is_dir());
            if usable {
                let cfg = fifo::FifoConfig {
                    path: path.clone(),
                    reply_dir: self.fifo_reply_dir.clone(),
                    mode: self.fifo_mode,
                };
                match fifo::start(rt, cfg, explicit) {
                    Ok(()) => {
                        self.created.lock().push(path.into());
                        // Kamailio lists the FIFO process first
                        self.serving.lock().insert(0, "JSONRPCS FIFO");
                    }
                    Err(e) if explicit => return Err(e),
                    Err(e) => tracing::warn!("jsonrpcs: default FIFO not started: {e}"),
                }
            }
        }
        Ok(())
    }

    fn stop(&self) {
        // The serving threads notice the stop within 100 ms; the process may
        // be gone by then, so remove the files now.
        for p in self.created.lock().drain(..) {
            let _ = std::fs::remove_file(p);
        }
    }
}
