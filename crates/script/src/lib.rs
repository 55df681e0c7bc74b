//! siprd-script: the Kamailio-compatible configuration language.
//!
//! Knows nothing of SIP or sockets: the host describes its functions,
//! pseudo-variables and transformations through [`registry::Registry`].
//!
//! Two phases: [`parse_file`]/[`parse_str`] give a [`ParsedConfig`] (globals,
//! loadmodules, modparams, route syntax) so the host can configure its modules;
//! then [`compile`] resolves every name against the host's [`Registry`] and
//! returns an immutable [`Program`] that the interpreter runs.

pub mod ast;
pub mod builtin;
pub mod compile;
pub mod diag;
pub mod exec;
mod interp;
pub mod lexer;
pub mod parser;
pub mod posix;
pub mod preprocess;
pub mod pv;
pub mod registry;
pub mod source;
pub mod transform;
pub mod value;

pub use compile::{check_config, compile, CompileOptions, Outcome, Program};
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use exec::{route_type, Cursor, ExecState, Host, RouteId, RouteMask};
pub use parser::{parse_file, parse_file_lenient, parse_str, parse_str_lenient, ParsedConfig};
pub use preprocess::Defines;
pub use registry::{Arg, FuncDef, ParamKind, PvIndex, Registry};
pub use source::{SourceMap, Span};
pub use value::Value;
