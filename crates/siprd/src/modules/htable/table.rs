//! The hash table of the htable module.
//!
//! A table has 2^size slots. Each slot is an [`OwnedLock`] (so `sht_lock()` can
//! hold it across statements, recursively for one script execution) guarding a
//! small `hashbrown` table of items. The key hash is computed once (at load for
//! static keys) and used both to pick the slot and to probe inside it.
//!
//! The layout is Kamailio's, because it is observable (iterators, dumps,
//! `htable.stats`, the order of expiry events): the slot is
//! `core_case_hash(key) & (slots - 1)`, and a slot lists its items by that
//! hash, then by insertion.
//!
//! Expiry follows Kamailio: only tables with `autoexpire` track time; an item
//! whose expiry time is in the past reads as missing until the timer removes it.

use crate::locks::{ExecId, OwnedLock};
use bytes::Bytes;
use hashbrown::HashTable;
use parking_lot::Mutex;
use siprd_script::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch (what Kamailio's `time(NULL)` gives), from the
/// coarse real-time clock (a few ns; second resolution is all we need).
pub fn now_secs() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME_COARSE, &mut ts) } == 0 && ts.tv_sec > 0 {
        return ts.tv_sec as u64;
    }
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The definition of a table, from `modparam("htable", "htable", "...")`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSpec {
    pub name: String,
    /// Number of slots (a power of two).
    pub slots: usize,
    /// The `size` attribute as written (for listTables).
    pub size_exp: u32,
    pub autoexpire: u32,
    pub initval: Option<i32>,
    pub updateexpire: bool,
    pub dmqreplicate: u32,
    pub dbtable: String,
    pub dbmode: u32,
}

impl TableSpec {
    pub fn new(name: &str) -> TableSpec {
        TableSpec {
            name: name.to_string(),
            slots: 16,
            size_exp: 4,
            autoexpire: 0,
            initval: None,
            updateexpire: true,
            dmqreplicate: 0,
            dbtable: String::new(),
            dbmode: 0,
        }
    }
}

/// One stored item.
#[derive(Clone, Debug)]
pub struct Entry {
    pub hash: u64,
    /// Insertion order (ties between equal hashes keep it, as Kamailio's lists).
    pub seq: u64,
    pub key: Bytes,
    /// Never `Value::Null`.
    pub value: Value,
    /// Expiry time in seconds since the epoch; 0 = never.
    pub expire: u64,
}

/// One slot: the lock a script may hold, and the items behind it.
pub struct Slot {
    pub lock: Arc<OwnedLock>,
    pub items: Mutex<HashTable<Entry>>,
}

/// How `$shtcn` / `$shtcv` / `sht_match_*` compare.
#[derive(Clone, Debug)]
pub enum MatchOp {
    Regex(regex::bytes::Regex),
    /// Ends with (`~%`).
    EndsWith(Bytes),
    /// Starts with (`%~`, `sw`).
    StartsWith(Bytes),
    /// String equality (`==`, `eq`).
    Eq(Bytes),
    /// String inequality (`ne`).
    Ne(Bytes),
    /// Integer value equality (`eq` prefix of `$shtcv`).
    IntEq(i32),
    /// Everything (`**`).
    All,
}

impl MatchOp {
    fn matches(&self, s: &[u8]) -> bool {
        match self {
            MatchOp::Regex(re) => re.is_match(s),
            MatchOp::EndsWith(p) => s.ends_with(p),
            MatchOp::StartsWith(p) => s.starts_with(p),
            MatchOp::Eq(p) => s == &p[..],
            MatchOp::Ne(p) => s != &p[..],
            MatchOp::IntEq(_) | MatchOp::All => true,
        }
    }
}

/// Compile a pattern the way htable does (POSIX ERE, case-insensitive,
/// newline-sensitive).
pub fn compile_regex(pat: &[u8]) -> Result<regex::bytes::Regex, String> {
    let text =
        std::str::from_utf8(pat).map_err(|_| "regular expression is not UTF-8".to_string())?;
    regex::bytes::RegexBuilder::new(text)
        .case_insensitive(true)
        .multi_line(true)
        .build()
        .map_err(|e| format!("bad regular expression `{text}`: {e}"))
}

/// Like [`compile_regex`], through a small per-thread cache: scripts call the
/// match/rm functions with the same few patterns on every message, and a
/// regex compiles in microseconds while a lookup costs nanoseconds. Bounded:
/// the cache is emptied when it fills (patterns built per message cannot grow it).
pub fn cached_regex(pat: &[u8]) -> Result<regex::bytes::Regex, String> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const MAX: usize = 64;
    thread_local! {
        static CACHE: RefCell<HashMap<Box<[u8]>, regex::bytes::Regex>> = RefCell::new(HashMap::new());
    }
    if let Some(re) = CACHE.with(|c| c.borrow().get(pat).cloned()) {
        return Ok(re);
    }
    let re = compile_regex(pat)?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= MAX {
            c.clear();
        }
        c.insert(pat.into(), re.clone());
    });
    Ok(re)
}

/// Which part of an item a match looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchOn {
    Name,
    /// String values only (integer items never match).
    Value,
}

pub struct Table {
    pub spec: TableSpec,
    slots: Box<[Slot]>,
    mask: u32,
    next_seq: AtomicU64,
}

/// Odd multiplier spreading Kamailio's 32-bit key hash over 64 bits for the
/// in-slot `hashbrown` probe, and its inverse (mod 2^64) to get it back.
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;
const UNSPREAD: u64 = {
    // Newton's iteration doubles the correct low bits each step: 6 steps > 64.
    let mut x = SPREAD;
    let mut i = 0;
    while i < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(SPREAD.wrapping_mul(x)));
        i += 1;
    }
    x
};

/// Kamailio's key hash (`core_case_hash`) inside a probe hash.
#[inline]
fn key_hash_of(hash: u64) -> u32 {
    hash.rotate_right(32).wrapping_mul(UNSPREAD) as u32
}

/// Read view of an item for callers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemView {
    pub key: Bytes,
    pub value: Value,
    pub expire: u64,
}

impl Table {
    pub fn new(spec: TableSpec) -> Table {
        let n = spec.slots.max(1).next_power_of_two();
        let slots = (0..n)
            .map(|_| Slot {
                lock: Arc::new(OwnedLock::default()),
                items: Mutex::new(HashTable::new()),
            })
            .collect::<Vec<_>>()
            .into_boxed_slice();
        Table {
            spec,
            slots,
            mask: (n - 1) as u32,
            next_seq: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// The probe hash of a key: Kamailio's 32-bit key hash, multiplied and
    /// rotated so that `hashbrown` (which probes with the low bits and filters
    /// with the top 7) sees mixed bits even inside one slot.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let h = siprd_script::transform::core_hash(key, None, 0, true);
        u64::from(h).wrapping_mul(SPREAD).rotate_left(32)
    }

    #[inline]
    pub fn slot_index(&self, hash: u64) -> usize {
        (key_hash_of(hash) & self.mask) as usize
    }

    fn new_entry(&self, hash: u64, key: &[u8], value: Value, expire: u64) -> Entry {
        Entry {
            hash,
            seq: self.next_seq.fetch_add(1, Ordering::Relaxed),
            key: Bytes::copy_from_slice(key),
            value,
            expire,
        }
    }

    pub fn slot(&self, idx: usize) -> Option<&Slot> {
        self.slots.get(idx)
    }

    /// The lock of the slot holding `key` (for `sht_lock`).
    pub fn slot_lock(&self, hash: u64) -> &Arc<OwnedLock> {
        &self.slots[self.slot_index(hash)].lock
    }

    #[inline]
    fn now(&self) -> u64 {
        if self.spec.autoexpire > 0 {
            now_secs()
        } else {
            0
        }
    }

    #[inline]
    fn expired(&self, e: &Entry, now: u64) -> bool {
        self.spec.autoexpire > 0 && e.expire != 0 && e.expire < now
    }

    /// Run `f` on the items of the slot of `hash`, respecting a lock another
    /// execution holds on it.
    #[inline]
    fn with_slot<R>(&self, me: ExecId, hash: u64, f: impl FnOnce(&mut HashTable<Entry>) -> R) -> R {
        let slot = &self.slots[self.slot_index(hash)];
        slot.lock.with_unowned(me, || f(&mut slot.items.lock()))
    }

    /// Read an item: None when missing or expired.
    #[inline]
    pub fn get(&self, me: ExecId, hash: u64, key: &[u8]) -> Option<Value> {
        let now = self.now();
        self.with_slot(me, hash, |m| {
            let e = m.find(hash, |e| e.key[..] == *key)?;
            if self.expired(e, now) {
                return None;
            }
            Some(e.value.clone())
        })
    }

    /// `$sht(t=>k)` read: the value, or `initval` (as an integer), or null.
    #[inline]
    pub fn get_or_init(&self, me: ExecId, hash: u64, key: &[u8]) -> Value {
        match self.get(me, hash, key) {
            Some(v) => v,
            None => match self.spec.initval {
                Some(i) => Value::Int(i),
                None => Value::Null,
            },
        }
    }

    /// True when the item exists and has not expired.
    pub fn exists(&self, me: ExecId, hash: u64, key: &[u8]) -> bool {
        self.get(me, hash, key).is_some()
    }

    /// Set an item (null deletes it). `exv > 0` sets the expiry to now + exv;
    /// otherwise a new item gets the table's autoexpire and an updated one is
    /// refreshed when `updateexpire` is on.
    #[inline]
    pub fn set(&self, me: ExecId, hash: u64, key: &[u8], value: Value, exv: i64) {
        if value.is_null() {
            self.delete(me, hash, key);
            return;
        }
        let now = self.now();
        let auto = u64::from(self.spec.autoexpire);
        let fresh = if auto > 0 { now + auto } else { 0 };
        let explicit = if auto > 0 && exv > 0 {
            Some(now + exv as u64)
        } else {
            None
        };
        let update = self.spec.updateexpire;
        self.with_slot(me, hash, |m| {
            if let Some(e) = m.find_mut(hash, |e| e.key[..] == *key) {
                e.value = value;
                if let Some(x) = explicit {
                    e.expire = x;
                } else if update {
                    e.expire = fresh;
                }
                return;
            }
            let expire = explicit.unwrap_or(fresh);
            m.insert_unique(hash, self.new_entry(hash, key, value, expire), |e| e.hash);
        })
    }

    /// Delete an item; true when it existed.
    pub fn delete(&self, me: ExecId, hash: u64, key: &[u8]) -> bool {
        self.with_slot(me, hash, |m| {
            match m.find_entry(hash, |e| e.key[..] == *key) {
                Ok(occ) => {
                    occ.remove();
                    true
                }
                Err(_) => false,
            }
        })
    }

    /// `$shtinc` / `$shtdec`: add `delta` to an integer item. A missing item is
    /// created from `initval` when the table has one; string items and tables
    /// without `initval` give None. An expired item restarts from `initval`.
    pub fn add(&self, me: ExecId, hash: u64, key: &[u8], delta: i32) -> Option<i32> {
        let now = self.now();
        let auto = u64::from(self.spec.autoexpire);
        let fresh = if auto > 0 { now + auto } else { 0 };
        let init = self.spec.initval;
        let update = self.spec.updateexpire;
        self.with_slot(me, hash, |m| {
            if let Some(e) = m.find_mut(hash, |e| e.key[..] == *key) {
                if auto > 0 && e.expire != 0 && e.expire < now {
                    e.expire = fresh;
                    e.value = Value::Int(init?);
                }
                let n = match e.value {
                    Value::Int(n) => n.wrapping_add(delta),
                    _ => return None,
                };
                e.value = Value::Int(n);
                if update {
                    e.expire = fresh;
                }
                return Some(n);
            }
            let n = init?.wrapping_add(delta);
            m.insert_unique(hash, self.new_entry(hash, key, Value::Int(n), fresh), |e| {
                e.hash
            });
            Some(n)
        })
    }

    /// `$shtex(t=>k) = secs`: set the expiry of an existing item (tables with
    /// autoexpire only); 0 or less means never.
    pub fn set_expire(&self, me: ExecId, hash: u64, key: &[u8], secs: i64) {
        if self.spec.autoexpire == 0 {
            return;
        }
        let at = if secs > 0 {
            now_secs() + secs as u64
        } else {
            0
        };
        self.with_slot(me, hash, |m| {
            if let Some(e) = m.find_mut(hash, |e| e.key[..] == *key) {
                e.expire = at;
            }
        })
    }

    /// `$shtex(t=>k)` read: seconds until expiry, computed as Kamailio does
    /// (an unsigned 32-bit difference; 0 when missing or the table has no
    /// autoexpire).
    pub fn get_expire(&self, me: ExecId, hash: u64, key: &[u8]) -> u32 {
        if self.spec.autoexpire == 0 {
            return 0;
        }
        let now = now_secs();
        self.with_slot(me, hash, |m| {
            m.find(hash, |e| e.key[..] == *key)
                .map(|e| (e.expire as u32).wrapping_sub(now as u32))
                .unwrap_or(0)
        })
    }

    /// Visit every slot in order, one slot lock at a time.
    fn for_each_slot(&self, me: ExecId, mut f: impl FnMut(usize, &mut HashTable<Entry>)) {
        for (i, slot) in self.slots.iter().enumerate() {
            slot.lock.with_unowned(me, || f(i, &mut slot.items.lock()));
        }
    }

    /// Count the items matching (`$shtcn`, `$shtcv`). As Kamailio, items
    /// that expired but are not purged yet still count (in
    /// `htable:expired` routes too: the item being expired is there).
    pub fn count(&self, me: ExecId, on: MatchOn, op: &MatchOp) -> i32 {
        if let MatchOp::All = op {
            let mut n = 0usize;
            self.for_each_slot(me, |_, m| n += m.len());
            return n as i32;
        }
        if let (MatchOp::IntEq(_), MatchOn::Name) = (op, on) {
            return 0;
        }
        let mut n = 0i32;
        self.for_each_slot(me, |_, m| {
            for e in m.iter() {
                let hit = match (op, on) {
                    (MatchOp::IntEq(i), _) => matches!(e.value, Value::Int(v) if v == *i),
                    (_, MatchOn::Name) => op.matches(&e.key),
                    (_, MatchOn::Value) => match &e.value {
                        Value::Str(s) => op.matches(s),
                        _ => false,
                    },
                };
                if hit {
                    n += 1;
                }
            }
        });
        n
    }

    /// True when some item matches (`sht_match_name`, `sht_match_str_value`).
    /// Like Kamailio, expired items not yet removed are considered.
    pub fn any_match(&self, me: ExecId, on: MatchOn, op: &MatchOp) -> bool {
        let mut found = false;
        for slot in self.slots.iter() {
            found = slot.lock.with_unowned(me, || {
                slot.items.lock().iter().any(|e| match on {
                    MatchOn::Name => op.matches(&e.key),
                    MatchOn::Value => match &e.value {
                        Value::Str(s) => op.matches(s),
                        _ => false,
                    },
                })
            });
            if found {
                break;
            }
        }
        found
    }

    /// Remove every item matching; returns how many were removed.
    pub fn remove_matching(&self, me: ExecId, on: MatchOn, op: &MatchOp) -> usize {
        let mut n = 0;
        self.for_each_slot(me, |_, m| {
            let before = m.len();
            m.retain(|e| {
                !(match on {
                    MatchOn::Name => op.matches(&e.key),
                    MatchOn::Value => match &e.value {
                        Value::Str(s) => op.matches(s),
                        _ => false,
                    },
                })
            });
            n += before - m.len();
        });
        n
    }

    /// Remove everything (`sht_reset`, `htable.flush`).
    pub fn reset(&self, me: ExecId) {
        self.for_each_slot(me, |_, m| m.clear());
    }

    /// The items of one slot matching `keep`, in Kamailio's list order (by
    /// key hash, then insertion).
    fn slot_view(&self, me: ExecId, idx: usize, keep: impl Fn(&Entry) -> bool) -> Vec<ItemView> {
        let Some(slot) = self.slots.get(idx) else {
            return Vec::new();
        };
        let mut items: Vec<(u32, u64, ItemView)> = slot.lock.with_unowned(me, || {
            slot.items
                .lock()
                .iter()
                .filter(|e| keep(e))
                .map(|e| {
                    let view = ItemView {
                        key: e.key.clone(),
                        value: e.value.clone(),
                        expire: e.expire,
                    };
                    (key_hash_of(e.hash), e.seq, view)
                })
                .collect()
        });
        items.sort_unstable_by_key(|(h, seq, _)| (*h, *seq));
        items.into_iter().map(|(_, _, v)| v).collect()
    }

    /// The items of one slot (iterators, dump), in Kamailio's order.
    pub fn slot_items(&self, me: ExecId, idx: usize) -> Vec<ItemView> {
        self.slot_view(me, idx, |_| true)
    }

    /// Number of items per slot (stats).
    pub fn slot_sizes(&self, me: ExecId) -> Vec<usize> {
        let mut v = Vec::with_capacity(self.slots.len());
        self.for_each_slot(me, |_, m| v.push(m.len()));
        v
    }

    /// The raw item, expired or not (`htable.get`, iterators).
    pub fn get_raw(&self, me: ExecId, hash: u64, key: &[u8]) -> Option<ItemView> {
        self.with_slot(me, hash, |m| {
            m.find(hash, |e| e.key[..] == *key).map(|e| ItemView {
                key: e.key.clone(),
                value: e.value.clone(),
                expire: e.expire,
            })
        })
    }

    /// Update the value of an existing item only (iterator `sets`/`seti`).
    pub fn update_existing(&self, me: ExecId, hash: u64, key: &[u8], value: Value) -> bool {
        let now = self.now();
        let auto = u64::from(self.spec.autoexpire);
        let update = self.spec.updateexpire;
        self.with_slot(me, hash, |m| {
            match m.find_mut(hash, |e| e.key[..] == *key) {
                Some(e) => {
                    e.value = value;
                    if update && auto > 0 {
                        e.expire = now + auto;
                    }
                    true
                }
                None => false,
            }
        })
    }

    /// Expired items of one slot, without removing them, in Kamailio's order.
    pub fn expired_in_slot(&self, me: ExecId, idx: usize, now: u64) -> Vec<ItemView> {
        self.slot_view(me, idx, |e| e.expire != 0 && e.expire < now)
    }

    /// Remove expired items of one slot; returns how many.
    pub fn purge_slot(&self, me: ExecId, idx: usize, now: u64) -> usize {
        match self.slots.get(idx) {
            Some(slot) => slot.lock.with_unowned(me, || {
                let mut m = slot.items.lock();
                let before = m.len();
                m.retain(|e| !(e.expire != 0 && e.expire < now));
                before - m.len()
            }),
            None => 0,
        }
    }

    /// Remove one item if it is (still) expired at `now`.
    pub fn remove_if_expired(&self, me: ExecId, key: &[u8], now: u64) -> bool {
        let hash = self.hash(key);
        self.with_slot(me, hash, |m| {
            match m.find_entry(hash, |e| e.key[..] == *key) {
                Ok(occ) if occ.get().expire != 0 && occ.get().expire < now => {
                    occ.remove();
                    true
                }
                _ => false,
            }
        })
    }
}

/// All tables of a configuration, by name.
#[derive(Default)]
pub struct Tables {
    pub list: Vec<Arc<Table>>,
}

impl Tables {
    pub fn get(&self, name: &[u8]) -> Option<&Arc<Table>> {
        self.list.iter().find(|t| t.spec.name.as_bytes() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn table(f: impl FnOnce(&mut TableSpec)) -> Table {
        let mut s = TableSpec::new("t");
        f(&mut s);
        Table::new(s)
    }

    fn set(t: &Table, k: &str, v: Value) {
        t.set(1, t.hash(k.as_bytes()), k.as_bytes(), v, 0)
    }
    fn get(t: &Table, k: &str) -> Value {
        t.get_or_init(1, t.hash(k.as_bytes()), k.as_bytes())
    }

    #[test]
    fn set_get_delete() {
        let t = table(|_| {});
        assert_eq!(get(&t, "a"), Value::Null);
        set(&t, "a", Value::Int(5));
        set(&t, "b", Value::from_static("x"));
        assert_eq!(get(&t, "a"), Value::Int(5));
        assert_eq!(get(&t, "b"), Value::from_static("x"));
        set(&t, "a", Value::Null);
        assert_eq!(get(&t, "a"), Value::Null);
        assert!(t.delete(1, t.hash(b"b"), b"b"));
        assert!(!t.delete(1, t.hash(b"b"), b"b"));
        assert_eq!(t.count(1, MatchOn::Name, &MatchOp::All), 0);
    }

    #[test]
    fn initval_and_inc() {
        let t = table(|s| s.initval = Some(0));
        assert_eq!(get(&t, "x"), Value::Int(0));
        let h = t.hash(b"y");
        assert_eq!(t.add(1, h, b"y", 1), Some(1));
        assert_eq!(t.add(1, h, b"y", -1), Some(0));
        assert_eq!(t.add(1, h, b"y", -1), Some(-1));
        set(&t, "s", Value::from_static("str"));
        assert_eq!(t.add(1, t.hash(b"s"), b"s", 1), None);
        let plain = table(|_| {});
        assert_eq!(plain.add(1, plain.hash(b"x"), b"x", 1), None);
        assert_eq!(get(&plain, "x"), Value::Null);
    }

    #[test]
    fn expiry_and_updateexpire() {
        let t = table(|s| s.autoexpire = 100);
        let h = t.hash(b"k");
        set(&t, "k", Value::Int(1));
        let ex = t.get_expire(1, h, b"k");
        assert!((99..=100).contains(&ex), "{ex}");
        t.set_expire(1, h, b"k", 10);
        assert!((9..=10).contains(&t.get_expire(1, h, b"k")));
        set(&t, "k", Value::Int(2));
        assert!((99..=100).contains(&t.get_expire(1, h, b"k")));
        // updateexpire=0 keeps the expiry.
        let t2 = table(|s| {
            s.autoexpire = 100;
            s.updateexpire = false
        });
        let h2 = t2.hash(b"k");
        set(&t2, "k", Value::Int(1));
        t2.set_expire(1, h2, b"k", 10);
        set(&t2, "k", Value::Int(2));
        assert!((9..=10).contains(&t2.get_expire(1, h2, b"k")));
        // An item whose time passed reads as missing, and is purged.
        t2.set(1, t2.hash(b"old"), b"old", Value::Int(1), 0);
        t2.with_slot(1, t2.hash(b"old"), |m| {
            if let Some(e) = m.find_mut(t2.hash(b"old"), |e| &e.key[..] == b"old") {
                e.expire = 1;
            }
        });
        assert_eq!(get(&t2, "old"), Value::Null);
        let idx = t2.slot_index(t2.hash(b"old"));
        assert_eq!(t2.expired_in_slot(1, idx, now_secs()).len(), 1);
        assert_eq!(t2.purge_slot(1, idx, now_secs()), 1);
        // missing → 0, no autoexpire → 0
        assert_eq!(t.get_expire(1, t.hash(b"none"), b"none"), 0);
        let plain = table(|_| {});
        plain.set(1, plain.hash(b"a"), b"a", Value::Int(1), 50);
        assert_eq!(plain.get_expire(1, plain.hash(b"a"), b"a"), 0);
        assert_eq!(get(&plain, "a"), Value::Int(1));
    }

    #[test]
    fn explicit_expire_on_set() {
        let t = table(|s| s.autoexpire = 100);
        let h = t.hash(b"k");
        t.set(1, h, b"k", Value::from_static("abc"), 50);
        assert!((49..=50).contains(&t.get_expire(1, h, b"k")));
    }

    #[test]
    fn matching_ops() {
        let t = table(|_| {});
        set(&t, "k1", Value::from_static("v1"));
        set(&t, "k2", Value::Int(2));
        set(&t, "k3", Value::from_static("v3x"));
        set(&t, "pre_k", Value::from_static("zz"));
        let re = |p: &str| MatchOp::Regex(compile_regex(p.as_bytes()).unwrap());
        assert_eq!(t.count(1, MatchOn::Name, &re("k")), 4);
        assert_eq!(
            t.count(
                1,
                MatchOn::Name,
                &MatchOp::EndsWith(Bytes::from_static(b"k"))
            ),
            1
        );
        assert_eq!(
            t.count(
                1,
                MatchOn::Name,
                &MatchOp::StartsWith(Bytes::from_static(b"k"))
            ),
            3
        );
        assert_eq!(
            t.count(1, MatchOn::Name, &MatchOp::Eq(Bytes::from_static(b"k1"))),
            1
        );
        assert_eq!(t.count(1, MatchOn::Name, &MatchOp::All), 4);
        assert_eq!(t.count(1, MatchOn::Name, &MatchOp::IntEq(2)), 0);
        assert_eq!(t.count(1, MatchOn::Value, &re("V")), 2); // case-insensitive
        assert_eq!(t.count(1, MatchOn::Value, &MatchOp::IntEq(2)), 1);
        assert!(t.any_match(
            1,
            MatchOn::Name,
            &MatchOp::StartsWith(Bytes::from_static(b"pre"))
        ));
        assert!(!t.any_match(1, MatchOn::Value, &MatchOp::Eq(Bytes::from_static(b"2"))));
        assert_eq!(t.remove_matching(1, MatchOn::Value, &re("^v")), 2);
        assert_eq!(t.count(1, MatchOn::Name, &MatchOp::All), 2);
        t.reset(1);
        assert_eq!(t.count(1, MatchOn::Name, &MatchOp::All), 0);
    }

    #[test]
    fn slot_lock_blocks_other_executions_only() {
        let t = Arc::new(table(|_| {}));
        let h = t.hash(b"k");
        let lock = t.slot_lock(h).clone();
        lock.lock(7);
        lock.lock(7); // recursive
        t.set(7, h, b"k", Value::Int(1), 0); // the owner may use the slot
        let t2 = t.clone();
        let th = std::thread::spawn(move || {
            t2.set(8, h, b"k", Value::Int(2), 0);
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!th.is_finished());
        assert_eq!(t.get(7, h, b"k"), Some(Value::Int(1)));
        lock.unlock(7);
        std::thread::sleep(Duration::from_millis(20));
        assert!(!th.is_finished());
        lock.unlock(7);
        th.join().unwrap();
        assert_eq!(t.get(7, h, b"k"), Some(Value::Int(2)));
    }

    #[test]
    fn concurrent_increments_are_exact() {
        let t = Arc::new(table(|s| s.initval = Some(0)));
        let mut ths = Vec::new();
        for id in 0..4u64 {
            let t = t.clone();
            ths.push(std::thread::spawn(move || {
                let me = 100 + id;
                let h = t.hash(b"c");
                for _ in 0..1000 {
                    // read-modify-write under sht_lock, as a script would do it
                    let l = t.slot_lock(h).clone();
                    l.lock(me);
                    let v = t.get_or_init(me, h, b"c").to_int();
                    t.set(me, h, b"c", Value::Int(v + 1), 0);
                    l.unlock(me);
                }
            }));
        }
        for th in ths {
            th.join().unwrap();
        }
        assert_eq!(t.get(1, t.hash(b"c"), b"c"), Some(Value::Int(4000)));
    }
}
