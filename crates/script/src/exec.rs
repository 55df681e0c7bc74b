//! Execution state shared between the interpreter and the host.

/// A bit set of route types, with Kamailio's values so module tables read alike.
pub type RouteMask = u32;

pub mod route_type {
    use super::RouteMask;
    pub const REQUEST: RouteMask = 1;
    pub const FAILURE: RouteMask = 2;
    pub const TM_ONREPLY: RouteMask = 4;
    pub const BRANCH: RouteMask = 8;
    pub const ONSEND: RouteMask = 16;
    pub const ERROR: RouteMask = 32;
    pub const LOCAL: RouteMask = 64;
    pub const CORE_ONREPLY: RouteMask = 128;
    pub const BRANCH_FAILURE: RouteMask = 256;
    pub const ONREPLY: RouteMask = TM_ONREPLY | CORE_ONREPLY;
    /// Kamailio runs event routes as request routes unless the module says otherwise.
    pub const EVENT: RouteMask = REQUEST;
    pub const ANY: RouteMask = u32::MAX;
}

/// Index of a compiled route block in the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u32);

/// Index of a compiled statement block (every `{ ... }` body has one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockId(pub u32);

/// A position in the program: the statement *after* the one executing now.
/// Suspending functions (async_sleep) capture it to resume "the rest of the block".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub block: BlockId,
    pub next: u32,
}

/// Per-execution state the interpreter keeps in the host context, so functions
/// can read the route type, `$rc`, and ask to drop or exit.
#[derive(Debug, Clone)]
pub struct ExecState {
    /// The type of the route running now (one `route_type` bit).
    pub route_type: RouteMask,
    /// `$rc` / `$retcode`: the last return code.
    pub retcode: i32,
    /// Set by `drop` (or a function meaning it): the host discards the message.
    pub dropped: bool,
    /// Set when the script ended by `exit`, `drop` or a 0 return.
    pub exited: bool,
    /// The execution's value when it ended early: 1 after `exit`, else 0
    /// (`drop`, `return 0` in a sub-route, a function that ended it).
    pub exit_value: i32,
    /// Where execution would continue after the current function call.
    pub cursor: Cursor,
    /// The current function call is a statement with another statement after
    /// it in its block, so "the rest of the block" can run later (async_sleep
    /// needs it: Kamailio refuses it inside an expression or as the last
    /// action of a block).
    pub resumable: bool,
    /// The outermost route running (for log lines such as leaked locks).
    pub route: Option<RouteId>,
}

impl Default for ExecState {
    fn default() -> Self {
        ExecState {
            route_type: route_type::REQUEST,
            retcode: 1,
            dropped: false,
            exited: false,
            exit_value: 0,
            cursor: Cursor {
                block: BlockId(0),
                next: 0,
            },
            resumable: false,
            route: None,
        }
    }
}

/// The host's per-execution context must give the interpreter its state.
pub trait Host: Sized + 'static {
    fn exec_state(&mut self) -> &mut ExecState;
    /// Run `f` with the fix-up context of the loaded config, for a call
    /// whose arguments are known only at run time. None when the host has
    /// none to give (such calls then fail).
    fn with_fixup_ctx<R>(
        &mut self,
        f: impl FnOnce(&mut crate::registry::FixupCtx<'_, Self>) -> R,
    ) -> Option<R> {
        let _ = f;
        None
    }
}
