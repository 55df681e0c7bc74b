//! Locks that a script holds across statements (`lock()`/`unlock()`,
//! `sht_lock()`/`sht_unlock()`).
//!
//! Such a lock is owned by a script *execution*, not by a thread: a route may
//! take it, and it is recursive for that execution. Every lock an execution
//! takes is recorded in its context ([`HeldLocks`]) so that one left held when
//! the execution ends (exit, drop, an error, or a forgotten unlock) is released
//! with a warning instead of blocking the server for ever.

use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Identifies one script execution (a message being routed, an event run).
pub type ExecId = u64;

/// Bits of an id counted by its thread; the bits above name the thread.
const LOCAL_BITS: u32 = 40;

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This thread's id prefix and its next local number. Ids are made per
    /// thread so that workers never share a cache line to route a message.
    static NEXT_LOCAL: Cell<(u64, u64)> = Cell::new((NEXT_THREAD.fetch_add(1, Ordering::Relaxed) << LOCAL_BITS, 0));
}

/// A fresh, never-zero execution id, unique across threads.
pub fn new_exec_id() -> ExecId {
    NEXT_LOCAL.with(|next| {
        let (prefix, n) = next.get();
        let n = (n + 1) & ((1 << LOCAL_BITS) - 1);
        next.set((prefix, n));
        prefix | n
    })
}

#[derive(Default)]
struct OwnerState {
    owner: ExecId,
    depth: u32,
}

/// A recursive lock owned by an execution id.
#[derive(Default)]
pub struct OwnedLock {
    state: Mutex<OwnerState>,
    freed: Condvar,
}

impl OwnedLock {
    /// Block until `me` owns the lock (re-entrant).
    pub fn lock(&self, me: ExecId) {
        let mut s = self.state.lock();
        while s.owner != 0 && s.owner != me {
            self.freed.wait(&mut s);
        }
        s.owner = me;
        s.depth += 1;
    }

    /// Take the lock if it is free or already ours.
    pub fn try_lock(&self, me: ExecId) -> bool {
        let mut s = self.state.lock();
        if s.owner != 0 && s.owner != me {
            return false;
        }
        s.owner = me;
        s.depth += 1;
        true
    }

    /// Release one level; false when `me` does not hold it.
    pub fn unlock(&self, me: ExecId) -> bool {
        let mut s = self.state.lock();
        if s.owner != me || s.depth == 0 {
            return false;
        }
        s.depth -= 1;
        if s.depth == 0 {
            s.owner = 0;
            drop(s);
            self.freed.notify_all();
        }
        true
    }

    /// Release every level held by `me` (used when an execution ends).
    pub fn unlock_all(&self, me: ExecId) -> u32 {
        let mut s = self.state.lock();
        if s.owner != me {
            return 0;
        }
        let n = s.depth;
        s.owner = 0;
        s.depth = 0;
        drop(s);
        self.freed.notify_all();
        n
    }

    /// Wait until nobody but `me` holds the lock, then run `f` while the
    /// internal mutex is held. Used for short data accesses that must respect a
    /// lock a script holds (htable items under `sht_lock`).
    pub fn with_unowned<R>(&self, me: ExecId, f: impl FnOnce() -> R) -> R {
        let mut s = self.state.lock();
        while s.owner != 0 && s.owner != me {
            self.freed.wait(&mut s);
        }
        let r = f();
        drop(s);
        r
    }
}

/// Which script function took a lock, for the leak warning. The key is a
/// shared handle, so recording a lock copies nothing: taking a lock is on
/// the per-message path, the warning almost never is.
pub enum LockLabel {
    /// cfgutils `lock("key")`.
    Cfg(Bytes),
    /// htable `sht_lock(table=>key)`.
    Sht { table: Arc<str>, key: Bytes },
}

impl std::fmt::Display for LockLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockLabel::Cfg(key) => write!(f, "lock(\"{}\")", String::from_utf8_lossy(key)),
            LockLabel::Sht { table, key } => {
                write!(f, "sht_lock({table}=>{})", String::from_utf8_lossy(key))
            }
        }
    }
}

/// One lock held by an execution.
pub struct Held {
    pub lock: Arc<OwnedLock>,
    pub label: LockLabel,
}

/// The locks an execution has taken and not released yet.
#[derive(Default)]
pub struct HeldLocks {
    held: Vec<Held>,
}

impl HeldLocks {
    /// Record `lock`, taken by the function `label` names.
    pub fn push(&mut self, lock: Arc<OwnedLock>, label: LockLabel) {
        self.held.push(Held { lock, label });
    }

    /// Forget one record of `lock` (after a successful unlock).
    pub fn pop(&mut self, lock: &Arc<OwnedLock>) {
        if let Some(i) = self.held.iter().rposition(|h| Arc::ptr_eq(&h.lock, lock)) {
            self.held.remove(i);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Release everything still held by `me`; returns the labels released.
    pub fn release_all(&mut self, me: ExecId) -> Vec<String> {
        let mut labels = Vec::new();
        for h in self.held.drain(..).rev() {
            if h.lock.unlock_all(me) > 0 {
                labels.push(h.label.to_string());
            }
        }
        labels
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn exec_ids_are_unique_across_threads() {
        let ids: Vec<ExecId> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|_| s.spawn(|| (0..100).map(|_| new_exec_id()).collect::<Vec<_>>()))
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert!(ids.iter().all(|id| *id != 0));
    }

    #[test]
    fn recursive_for_one_execution() {
        let l = OwnedLock::default();
        l.lock(1);
        l.lock(1);
        assert!(!l.try_lock(2));
        assert!(l.unlock(1));
        assert!(!l.try_lock(2));
        assert!(l.unlock(1));
        assert!(l.try_lock(2));
        assert!(!l.unlock(1));
    }

    #[test]
    fn other_execution_waits_until_released() {
        let l = Arc::new(OwnedLock::default());
        l.lock(7);
        let l2 = l.clone();
        let t = std::thread::spawn(move || {
            l2.lock(8);
            l2.unlock(8)
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!t.is_finished());
        assert!(l.unlock(7));
        assert!(t.join().unwrap());
    }

    #[test]
    fn leaked_locks_are_released() {
        let l = Arc::new(OwnedLock::default());
        let mut held = HeldLocks::default();
        l.lock(3);
        held.push(l.clone(), LockLabel::Cfg(Bytes::from_static(b"k")));
        l.lock(3);
        let label = LockLabel::Sht {
            table: "t".into(),
            key: Bytes::from_static(b"k"),
        };
        held.push(l.clone(), label);
        assert_eq!(held.release_all(3), vec!["sht_lock(t=>k)".to_string()]);
        assert!(l.try_lock(4));
    }
}
