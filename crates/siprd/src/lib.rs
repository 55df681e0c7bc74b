//! siprd: the server. CLI, runtime (listeners, workers, event dispatch, RPC)
//! and the modules, one file or folder each under `modules/`.

pub mod context;
pub mod core_params;
pub mod locks;
pub mod module;
pub mod modules;
pub mod rpc;
pub mod runtime;
pub mod settings;
pub mod cli;
pub mod log;
pub mod signals;
pub mod transport;
