//! Sans-IO SIP for siprd: lazy zero-copy parsing, URIs, header access, stream framing,
//! reply building and offset-based edits. No sockets, threads or clocks in here.

pub mod framing;
pub mod scan;

pub use scan::{split_commas, CommaSplit};
