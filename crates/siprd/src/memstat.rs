//! Live heap bytes, kept by the binary's allocator when `SIPRD_COUNT_ALLOCS`
//! is set (tests measure the memory a suspended transaction holds through
//! `core.shmmem`'s `used`).

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

/// Bytes currently allocated (meaningful only when [`COUNTING`] is true).
pub static LIVE: AtomicI64 = AtomicI64::new(0);
/// Set by the allocator when counting is on.
pub static COUNTING: AtomicBool = AtomicBool::new(false);

/// Live heap bytes, when counted.
pub fn live_bytes() -> Option<u64> {
    COUNTING
        .load(Ordering::Relaxed)
        .then(|| LIVE.load(Ordering::Relaxed).max(0) as u64)
}
