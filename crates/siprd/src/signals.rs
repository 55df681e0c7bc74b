//! Signals: SIGTERM / SIGINT stop the server; SIGPIPE is ignored.
//!
//! Call [`block_stop_signals`] first thing in `main`, before any thread starts:
//! it blocks SIGTERM and SIGINT in the calling thread, so every thread created
//! afterwards inherits the mask and the signals stay pending until
//! [`StopSignals::wait`] (or [`StopSignals::spawn_waiter`]) takes them with
//! `sigwait`. No handler runs in signal context, no extra dependency.
//!
//! ```no_run
//! let sigs = siprd::signals::block_stop_signals().unwrap();
//! // ... start the transport, timers, ...
//! let sig = sigs.wait();
//! sigs.arm_forced_exit(std::time::Duration::from_secs(1)); // 2nd signal or 1 s: exit
//! // ... transport.shutdown() ...
//! # let _ = sig;
//! ```

use std::io;
use std::time::{Duration, Instant};

/// A stop signal that arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Term,
    Int,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "SIGTERM",
            Signal::Int => "SIGINT",
        }
    }
    fn from_raw(s: libc::c_int) -> Option<Signal> {
        match s {
            libc::SIGTERM => Some(Signal::Term),
            libc::SIGINT => Some(Signal::Int),
            _ => None,
        }
    }
}

/// The blocked stop-signal set.
#[derive(Clone, Copy)]
pub struct StopSignals {
    set: libc::sigset_t,
}

impl std::fmt::Debug for StopSignals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StopSignals(SIGTERM, SIGINT)")
    }
}

/// Ignores SIGPIPE (writes to closed sockets return EPIPE instead of killing us).
pub fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_IGN.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

/// Ignores SIGPIPE and blocks SIGTERM and SIGINT in this thread (and so in the
/// threads it starts later).
pub fn block_stop_signals() -> io::Result<StopSignals> {
    ignore_sigpipe();
    // SAFETY: plain sigset manipulation on a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        Ok(StopSignals { set })
    }
}

impl StopSignals {
    /// Blocks until SIGTERM or SIGINT arrives.
    pub fn wait(&self) -> Signal {
        loop {
            let mut sig: libc::c_int = 0;
            // SAFETY: valid set and out pointer.
            let rc = unsafe { libc::sigwait(&self.set, &mut sig) };
            if rc == 0 {
                if let Some(s) = Signal::from_raw(sig) {
                    return s;
                }
            }
        }
    }

    /// Waits up to `d` for a stop signal.
    pub fn wait_timeout(&self, d: Duration) -> Option<Signal> {
        let deadline = Instant::now() + d;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ts = libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            };
            // SAFETY: valid set, null siginfo, valid timeout.
            let rc = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &ts) };
            if rc > 0 {
                if let Some(s) = Signal::from_raw(rc) {
                    return Some(s);
                }
            }
            if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
                return None;
            }
            if left.is_zero() {
                return None;
            }
        }
    }

    /// Runs `f` on a thread named `signals` when the first stop signal arrives.
    pub fn spawn_waiter(
        self,
        f: impl FnOnce(Signal) + Send + 'static,
    ) -> io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || f(self.wait()))
    }

    /// After the first stop signal: a thread that exits the process (status 1)
    /// on a second stop signal or when `limit` passes, whichever comes first.
    /// Guarantees the "stops within one second" promise even if some worker is
    /// blocked in a script (e.g. `sleep()`). Call `std::process::exit(0)` yourself
    /// when the clean shutdown finishes first.
    pub fn arm_forced_exit(self, limit: Duration) {
        let _ = std::thread::Builder::new()
            .name("stop-guard".into())
            .spawn(move || {
                if let Some(s) = self.wait_timeout(limit) {
                    crate::log::emit(
                        crate::log::L_WARN,
                        "core",
                        format_args!("{} again: exiting now", s.name()),
                    );
                } else {
                    crate::log::emit(
                        crate::log::L_WARN,
                        "core",
                        format_args!(
                            "shutdown took longer than {} ms: exiting now",
                            limit.as_millis()
                        ),
                    );
                }
                std::process::exit(1);
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigterm_is_taken_by_sigwait() {
        // Blocks SIGTERM in this test thread only; raise it at this thread.
        let s = block_stop_signals().unwrap();
        // SAFETY: sending a blocked signal to ourselves.
        unsafe {
            libc::pthread_kill(libc::pthread_self(), libc::SIGTERM);
        }
        assert_eq!(s.wait_timeout(Duration::from_secs(2)), Some(Signal::Term));
        assert_eq!(s.wait_timeout(Duration::from_millis(50)), None);
    }
}
