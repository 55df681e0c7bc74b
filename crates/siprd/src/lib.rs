//! siprd: the server. CLI, runtime (listeners, workers, event dispatch, RPC)
//! and the modules, one file or folder each under `modules/`.

pub mod cli;
pub mod config;
pub mod context;
pub mod core_params;
pub mod ctl;
pub mod dispatch;
pub mod forward;
pub mod kamailio_modules;
pub mod kamailio_nonconst;
pub mod kamailio_params;
pub mod locks;
pub mod log;
pub mod memstat;
pub mod module;
pub mod modules;
pub mod onsend;
pub mod rpc;
pub mod runtime;
pub mod server;
pub mod settings;
pub mod signals;
pub mod stats;
pub mod transport;
