//! Sans-IO SIP for siprd: lazy zero-copy parsing, URIs, header access, stream framing,
//! reply building and offset-based edits. No sockets, threads or clocks in here.

pub mod framing;
pub mod scan;

pub use scan::{split_commas, CommaSplit};
pub mod error;
pub mod header;
pub mod message;
pub mod method;
pub mod nameaddr;
pub mod params;
pub mod uri;
pub mod via;

pub use error::ParseError;
pub use header::{HeaderKind, HeaderRef};
pub use message::{CSeq, Message};
pub use method::Method;
pub use nameaddr::NameAddr;
pub use uri::Uri;
pub use via::Via;

/// Alias used by parts of siprd that say `SipMsg`.
pub type SipMsg = Message;
pub mod edit;
pub mod reply;
pub mod transaction;
pub mod txkey;

pub use edit::{top_via_line, Edits};
pub use reply::{build_reply, build_reply_into, reply_port, ReplyOpts};
