//! `siprd ctl METHOD [PARAMS...]`: the JSON-RPC command-line client.

use crate::cli::CtlOpts;

/// Run one RPC command against a running server; returns the exit code.
pub fn run(opts: &CtlOpts) -> i32 {
    eprintln!("siprd ctl {}: the JSON-RPC control transport (jsonrpcs) is not available in this build yet", opts.method);
    2
}
