//! siprd-script: the Kamailio-compatible configuration language.
//!
//! Knows nothing of SIP or sockets: the host describes its functions,
//! pseudo-variables and transformations through [`registry::Registry`].

pub mod builtin;
pub mod exec;
pub mod pv;
pub mod registry;
pub mod transform;
pub mod value;

pub use exec::{route_type, Cursor, ExecState, Host, RouteId, RouteMask};
pub use registry::{Arg, FuncDef, ParamKind, PvIndex, Registry};
pub use value::Value;
