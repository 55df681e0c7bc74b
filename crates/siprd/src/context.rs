//! The per-execution context of the script: what every route, function and
//! pseudo-variable works on. One `Ctx` is reused per thread (reset between
//! messages), so the hot path allocates nothing for it.

use crate::locks::{ExecId, HeldLocks};
use crate::runtime::Runtime;
use siprd_script::{ExecState, Host};
use std::any::Any;
use std::sync::Arc;

/// The context a script execution runs in.
pub struct Ctx {
    /// Interpreter state: route type, `$rc`, drop/exit flags, cursor.
    pub exec: ExecState,
    /// The running server: settings, compiled program, transport, modules.
    pub rt: Arc<Runtime>,
    /// Owner id of locks taken by this execution.
    pub exec_id: ExecId,
    /// Locks taken and not yet released (released with a warning at the end).
    pub locks: HeldLocks,
    /// Data of the event being run (read by the raising module's PVs:
    /// `$evr(...)`, `$evapi(...)`, `$shtrecord(...)` ...). None for SIP messages.
    pub event: Option<Box<dyn Any + Send>>,
}

impl Host for Ctx {
    fn exec_state(&mut self) -> &mut ExecState {
        &mut self.exec
    }
}

impl Ctx {
    pub fn new(rt: Arc<Runtime>) -> Ctx {
        Ctx {
            exec: ExecState::default(),
            rt,
            exec_id: crate::locks::new_exec_id(),
            locks: HeldLocks::default(),
            event: None,
        }
    }

    /// The event data of type `T`, when the running event carries one.
    pub fn event_data<T: 'static>(&self) -> Option<&T> {
        self.event.as_ref()?.downcast_ref::<T>()
    }

    /// Called when an execution ends: release leaked locks with a warning.
    pub fn finish_execution(&mut self, route: &str) {
        if !self.locks.is_empty() {
            for label in self.locks.release_all(self.exec_id) {
                tracing::warn!("lock `{label}` still held at the end of {route}: released");
            }
        }
    }
}
