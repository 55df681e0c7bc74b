//! The transaction table and tm's timer thread.
//!
//! Transactions live in `2^SLOT_BITS` slots, each a small map behind its own
//! mutex, keyed by the RFC 3261 §17.2.3 server key (RFC 2543 fallback
//! included). A transaction's Kamailio id is `(index, label)`: the slot and a
//! per-slot counter. Timers: one thread and one binary heap of deadlines; a
//! transaction has at most one live heap entry (`scheduled`), stale entries are
//! skipped when they come up.

use super::TmConfig;
use crate::context::RcvInfo;
use crate::modules::pv::vars::AvpStore;
use crate::runtime::RouteRef;
use crate::transport::Dest;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex};
use siprd_sip::transaction::{ClientTx, ServerTx};
use siprd_sip::txkey::ServerTxKey;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SLOT_BITS: u32 = 12;

/// Timer resolution of tm: deadlines fire at most this late (Kamailio's
/// timer ticks every 62.5 ms). Under load every window has deadlines, so the
/// window sets the timer thread's wake-ups per second.
const TICK: Duration = Duration::from_millis(20);

/// What a suspended transaction keeps for `t_continue`.
pub struct Saved {
    pub flags: u64,
    /// corex's extended flags (`t_flush_xflags`).
    pub xflags: u64,
    pub new_uri: Option<Bytes>,
    pub dst_uri: Option<Bytes>,
    pub avps: SavedAvps,
    pub force_rport: bool,
}

/// AVPs and XAVPs kept by a transaction: most requests have none, so an
/// empty store costs 8 bytes instead of the store's 120.
#[derive(Clone, Default)]
pub struct SavedAvps(Option<Box<AvpStore>>);

impl SavedAvps {
    pub fn of(avps: &AvpStore) -> SavedAvps {
        SavedAvps((!avps.is_empty()).then(|| Box::new(avps.clone())))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// A copy to run a route with.
    pub fn restore(&self) -> AvpStore {
        self.0.as_deref().cloned().unwrap_or_default()
    }
}

/// One outgoing branch of a relayed request (a client transaction).
pub struct Uac {
    pub tx: ClientTx,
    /// The request as sent (retransmitted by the timer, base of CANCEL/ACK).
    pub request: Bytes,
    pub dest: Dest,
    /// Our Via branch parameter for this branch.
    pub branch: String,
    /// Its Kamailio branch number (the Via suffix, `$T_branch_idx`): its
    /// place among the outgoings, blind branches of `t_suspend` included.
    pub no: u32,
    /// Final (or last) reply code received, 0 when none; 408 on timeout.
    pub code: u16,
    /// The best reply of this branch (final replies only).
    pub reply: Option<Bytes>,
    /// A provisional reply was received (CANCEL may be sent).
    pub provisional: bool,
    pub cancel_sent: bool,
    /// The CANCEL sent to this branch: its own non-INVITE client transaction,
    /// retransmitted over UDP until answered.
    pub cancel: Option<Box<CancelTx>>,
    /// A reply was received and processed on this branch (Kamailio's
    /// "replied" branch flag, set after its onreply_route and after the
    /// failure route its final reply starts; a timeout does not set it):
    /// `t_branch_replied`, `t_any_replied`, `t_grep_status`.
    pub replied: bool,
    /// The highest reply code received on this branch (0: none), set before
    /// onreply_route runs.
    pub last: u16,
    /// The serial forking step (leg) that created this branch.
    pub leg: u16,
    /// Its reply no longer counts for the best-reply choice (t_drop_replies,
    /// failure_reply_mode).
    pub dropped: bool,
    /// Its branch flags as branch_route left them (`$T_branch(flags)`, the
    /// `$bf` of its onreply_route and of the failure routes it ends).
    pub flags: u32,
    /// Its Request-URI (`$T_branch(uri)`).
    pub uri: Bytes,
    /// Its `+sip.instance` (from `t_next_contacts`), for `t_next_contact_flow`.
    pub instance: Option<Bytes>,
}

/// A CANCEL we sent to a branch.
pub struct CancelTx {
    pub tx: ClientTx,
    pub request: Bytes,
}

/// The mutable part of a transaction.
pub struct TxInner {
    pub uas: ServerTx,
    /// The request that created the transaction.
    pub req: Bytes,
    pub rcv: RcvInfo,
    /// Where replies go.
    pub dest: Dest,
    /// The last reply sent (resent on request retransmissions and by the timer).
    pub last_reply: Bytes,
    pub suspended: Option<Box<Saved>>,
    /// Blind branches: Kamailio adds one per `t_suspend` and numbers the
    /// branches after them.
    pub blind: u16,
    /// Was suspended and resumed (or timed out) once already.
    pub resumed: bool,
    pub on_failure: Option<RouteRef>,
    pub on_reply: Option<RouteRef>,
    pub on_branch: Option<RouteRef>,
    pub on_branch_failure: Option<RouteRef>,
    pub uacs: Vec<Uac>,
    /// A CANCEL was received for it (`t_is_canceled`, tm.list's T_CANCELED).
    pub canceled: bool,
    /// Its branches are being cancelled (a CANCEL, a 2xx/6xx, a local final
    /// reply, `t_cancel_branches`): a branch answering provisionally later
    /// gets a CANCEL at once.
    pub cancelling: bool,
    /// The script sent a reply in it (`t_reply`, stateful `send_reply`):
    /// a bit of tm.list's `tflags`.
    pub script_replied: bool,
    /// The deadline this transaction is in the timer heap with.
    pub scheduled: Option<Instant>,
    pub freed: bool,
    /// State of the request (flags, URIs, AVPs) for failure routes.
    pub saved: Option<Box<Saved>>,
    /// The branch whose reply was chosen (failure route).
    pub best: Option<usize>,
    /// Key in the local-2xx ACK map (boxed, like the other rare fields: every
    /// suspended or waiting transaction pays for the inline size).
    pub ack_key: Option<Box<(Bytes, Bytes)>>,
    /// The request's changes (headers, body, R-URI) saved by the first
    /// `t_relay`, `t_suspend` or `t_save_lumps`: failure and resumed routes
    /// start from them.
    pub lumps: Lumps,
    /// Serial forking: the current leg, how many failure routes ran, and the
    /// `t_drop_replies` mode chosen in the running one.
    pub leg: u16,
    pub failure_runs: u16,
    pub drop_mode: Option<u8>,
    /// A `t_relay` in the running failure route sent nothing because
    /// onsend_route dropped every branch: the transaction then answers 477.
    pub send_failed: bool,
    /// A `t_relay` in a resumed route found no branch to send (Kamailio's
    /// error 6): the 500 answering the resumed transaction names it.
    pub relay_no_branch: bool,
    /// The last reply was the auto `100` (built again on a retransmission
    /// instead of being kept: ~350 bytes per suspended INVITE).
    pub last_is_auto_100: bool,
    /// Switches the script set for this transaction (`t_set_auto_inv_100`, ...).
    pub flags: TxFlags,
    /// When the lifetime bound of the first relay ends (`t_is_expired`).
    pub end_of_life: Option<Instant>,
    /// `Reason` header lines the CANCELs sent from now on carry (RFC 3326):
    /// copied from a received CANCEL, or tm's own after a 2xx / 6xx.
    pub cancel_reason: Option<Box<Bytes>>,
    /// `cancel_reason` holds the received CANCEL's own `Reason` lines.
    pub cancel_reason_e2e: bool,
}

/// The request changes a transaction saved ([`TxInner::lumps`]): none saved
/// yet, saved but empty (no allocation), or saved.
#[derive(Default)]
pub enum Lumps {
    #[default]
    Unsaved,
    Empty,
    Saved(Box<siprd_sip::edit::Edits>),
}

impl Lumps {
    pub fn is_saved(&self) -> bool {
        !matches!(self, Lumps::Unsaved)
    }

    /// Save `edits` (replacing what was saved).
    pub fn save(&mut self, edits: &siprd_sip::edit::Edits) {
        *self = if edits.is_empty() {
            Lumps::Empty
        } else {
            Lumps::Saved(Box::new(edits.clone()))
        };
    }

    /// Save `edits` unless changes were saved already (the first save wins).
    pub fn save_first(&mut self, edits: &siprd_sip::edit::Edits) {
        if !self.is_saved() {
            self.save(edits);
        }
    }

    /// The saved changes (none when nothing was saved).
    pub fn edits(&self) -> siprd_sip::edit::Edits {
        match self {
            Lumps::Saved(e) => (**e).clone(),
            Lumps::Unsaved | Lumps::Empty => Default::default(),
        }
    }
}

/// Per-transaction switches (`t_set_auto_inv_100`, `t_set_disable_6xx`,
/// `t_set_disable_failover`, `t_set_disable_internal_reply`,
/// `t_set_no_e2e_cancel_reason`). `None`: the module parameter decides.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxFlags {
    pub auto_inv_100: Option<bool>,
    pub disable_6xx: bool,
    /// siprd does no DNS failover, so this switch only records the choice.
    pub disable_failover: bool,
    pub disable_internal_reply: bool,
    pub no_e2e_cancel_reason: Option<bool>,
    /// `t_replicate`: the branches' replies stay here (Kamailio's local
    /// transaction): never relayed upstream, nor answered by tm itself.
    pub replicate: bool,
    /// A local request (`t_uac_send`, `tm.t_uac_*`): tm ACKs a 2xx to it.
    pub local: bool,
    /// `t_set_fr(fr_inv, fr)` in milliseconds, 0: the parameter. The
    /// transaction's own timers (Kamailio's `t->fr_timeout`,
    /// `t->fr_inv_timeout`): every branch it creates, its restarts, the
    /// retransmission of its final reply.
    pub fr_ms: u32,
    pub fr_inv_ms: u32,
}

impl TxFlags {
    /// `fr_timer` of this transaction.
    pub fn fr(&self, cfg: &TmConfig) -> Duration {
        match self.fr_ms {
            0 => cfg.fr,
            ms => Duration::from_millis(ms.into()),
        }
    }

    /// `fr_inv_timer` of this transaction.
    pub fn fr_inv(&self, cfg: &TmConfig) -> Duration {
        match self.fr_inv_ms {
            0 => cfg.fr_inv,
            ms => Duration::from_millis(ms.into()),
        }
    }
}

impl TxInner {
    /// The failure, reply and branch-failure routes the script armed
    /// (`t_on_*`) become the transaction's; one not armed keeps its value.
    pub fn adopt_armed_routes(&mut self, tm: &super::TmCtx) {
        if tm.on_failure.is_some() {
            self.on_failure = tm.on_failure;
        }
        if tm.on_reply.is_some() {
            self.on_reply = tm.on_reply;
        }
        if tm.on_branch_failure.is_some() {
            self.on_branch_failure = tm.on_branch_failure;
        }
    }

    /// A new transaction's state: the server transaction, the request that
    /// created it, where it came from and where replies go; no reply, branch
    /// or route yet.
    pub fn new(uas: ServerTx, req: Bytes, rcv: RcvInfo, dest: Dest, flags: TxFlags) -> Self {
        TxInner {
            uas,
            req,
            rcv,
            dest,
            last_reply: Bytes::new(),
            suspended: None,
            blind: 0,
            resumed: false,
            on_failure: None,
            on_reply: None,
            on_branch: None,
            on_branch_failure: None,
            uacs: Vec::new(),
            canceled: false,
            cancelling: false,
            script_replied: false,
            scheduled: None,
            freed: false,
            saved: None,
            best: None,
            ack_key: None,
            lumps: Lumps::Unsaved,
            leg: 0,
            failure_runs: 0,
            drop_mode: None,
            send_failed: false,
            relay_no_branch: false,
            last_is_auto_100: false,
            flags,
            cancel_reason: None,
            cancel_reason_e2e: false,
            end_of_life: None,
        }
    }

    /// The Kamailio number of the next branch: every outgoing so far, the
    /// blind branches of `t_suspend` included.
    pub fn next_branch_no(&self) -> u32 {
        self.uacs.len() as u32 + u32::from(self.blind)
    }

    /// The next deadline of the server transaction and every branch.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut d = self.uas.next_deadline();
        let cancels = self
            .uacs
            .iter()
            .filter_map(|u| u.cancel.as_ref().and_then(|c| c.tx.next_deadline()));
        for t in self
            .uacs
            .iter()
            .filter_map(|u| u.tx.next_deadline())
            .chain(cancels)
        {
            d = Some(d.map_or(t, |d| d.min(t)));
        }
        d
    }
}

/// A transaction.
pub struct TxEntry {
    pub index: u32,
    pub label: u32,
    pub key: ServerTxKey,
    pub invite: bool,
    /// Serialises reply processing (final reply selection, failure routes).
    pub reply_lock: Mutex<()>,
    pub inner: Mutex<TxInner>,
}

/// A slot holds a handful of transactions: a vector scanned by key costs 8
/// bytes per transaction where a map costs a bucket of key + pointer.
#[derive(Default)]
struct Slot {
    next_label: u32,
    entries: Vec<Arc<TxEntry>>,
}

impl Slot {
    fn get(&self, key: &ServerTxKey) -> Option<&Arc<TxEntry>> {
        self.entries.iter().find(|e| e.key == *key)
    }
}

struct TimerItem {
    at: Instant,
    seq: u64,
    tx: Arc<TxEntry>,
}

impl PartialEq for TimerItem {
    fn eq(&self, o: &Self) -> bool {
        self.at == o.at && self.seq == o.seq
    }
}
impl Eq for TimerItem {}
impl PartialOrd for TimerItem {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TimerItem {
    // Reversed: BinaryHeap is a max-heap, we want the earliest first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.at.cmp(&self.at).then(o.seq.cmp(&self.seq))
    }
}

/// Statistics counters (`tm.stats`).
#[derive(Default)]
pub struct Stats {
    pub created: AtomicU64,
    pub freed: AtomicU64,
    pub local_replies: AtomicU64,
    pub relayed_replies: AtomicU64,
    pub retransmissions: AtomicU64,
    /// Replies received from the branches.
    pub received_replies: AtomicU64,
    /// Local requests sent (`t_uac_send`): `total_local`.
    pub local_requests: AtomicU64,
    /// Transactions completed with a final reply, by class (2xx .. 6xx).
    pub finals: [AtomicU64; 5],
}

impl Stats {
    /// A transaction got its final reply `code` (sent, relayed or dropped).
    pub fn final_reply(&self, code: u16) {
        if let Some(c) = self.finals.get(usize::from(code / 100).wrapping_sub(2)) {
            c.fetch_add(1, AtomicOrdering::Relaxed);
        }
    }
}

/// The table, the timer heap and the configuration.
pub struct Table {
    slots: Box<[Mutex<Slot>]>,
    hasher: std::collections::hash_map::RandomState,
    heap: Mutex<BinaryHeap<TimerItem>>,
    /// INVITE transactions answered locally with a 2xx, by (Call-ID, To-tag):
    /// their ACK has its own branch and is matched here.
    local_2xx: Mutex<HashMap<(Bytes, Bytes), Arc<TxEntry>>>,
    cv: Condvar,
    seq: AtomicU64,
    pub stats: Stats,
    pub cfg: parking_lot::RwLock<TmConfig>,
}

impl Table {
    pub fn new() -> Table {
        let n = 1usize << SLOT_BITS;
        let slots: Vec<Mutex<Slot>> = (0..n)
            .map(|_| {
                Mutex::new(Slot {
                    next_label: fastrand::u32(..) >> 1,
                    entries: Vec::new(),
                })
            })
            .collect();
        Table {
            slots: slots.into_boxed_slice(),
            hasher: Default::default(),
            heap: Mutex::new(BinaryHeap::new()),
            local_2xx: Mutex::new(HashMap::new()),
            cv: Condvar::new(),
            seq: AtomicU64::new(0),
            stats: Stats::default(),
            cfg: parking_lot::RwLock::new(TmConfig::default()),
        }
    }

    /// The slot: a hash of the key without its method (and RFC 2543 To
    /// tag), so that a CANCEL finds the request it cancels in the same slot.
    fn slot_of(&self, key: &ServerTxKey) -> u32 {
        let h = match key {
            ServerTxKey::Rfc3261 {
                branch,
                sent_by,
                bucket,
                ..
            } => self.hasher.hash_one((branch, sent_by, bucket)),
            ServerTxKey::Rfc2543(k) => self.hasher.hash_one((&k.call_id, k.cseq, &k.via)),
        };
        (h as u32) & ((1 << SLOT_BITS) - 1)
    }

    /// The transaction a CANCEL refers to: its INVITE, else (as Kamailio)
    /// any other transaction but a CANCEL with the same key.
    pub fn lookup_cancel_target(&self, cancel: &siprd_sip::Message) -> Option<Arc<TxEntry>> {
        let invite = siprd_sip::txkey::cancel_target_key(cancel).ok()?;
        let own = siprd_sip::txkey::server_tx_key(cancel).ok()?;
        let slot = self.slots[self.slot_of(&invite) as usize].lock();
        if let Some(e) = slot.get(&invite) {
            return Some(e.clone());
        }
        slot.entries
            .iter()
            .find(|e| e.key.eq_but_method(&own) && !e.key.is_method(&siprd_sip::Method::Cancel))
            .cloned()
    }

    pub fn lookup(&self, key: &ServerTxKey) -> Option<Arc<TxEntry>> {
        let i = self.slot_of(key);
        self.slots[i as usize].lock().get(key).cloned()
    }

    /// Insert a new transaction, or return the existing one (`Err`) for the key.
    pub fn insert(
        &self,
        key: ServerTxKey,
        invite: bool,
        inner: impl FnOnce() -> TxInner,
    ) -> Result<Arc<TxEntry>, Arc<TxEntry>> {
        let index = self.slot_of(&key);
        let mut slot = self.slots[index as usize].lock();
        if let Some(e) = slot.get(&key) {
            return Err(e.clone());
        }
        slot.next_label = slot.next_label.wrapping_add(1) & 0x7fff_ffff;
        let label = slot.next_label;
        let e = Arc::new(TxEntry {
            index,
            label,
            key,
            invite,
            reply_lock: Mutex::new(()),
            inner: Mutex::new(inner()),
        });
        slot.entries.push(e.clone());
        self.stats.created.fetch_add(1, AtomicOrdering::Relaxed);
        Ok(e)
    }

    /// Find a transaction by its `(index, label)` id.
    pub fn find_id(&self, index: u32, label: u32) -> Option<Arc<TxEntry>> {
        let slot = self.slots.get(index as usize)?.lock();
        slot.entries.iter().find(|e| e.label == label).cloned()
    }

    /// Remove a transaction from the table (its memory goes with the last reference).
    pub fn remove(&self, e: &TxEntry) {
        if let Some(k) = e.inner.lock().ack_key.take() {
            self.local_2xx.lock().remove(&*k);
        }
        let mut slot = self.slots[e.index as usize].lock();
        if let Some(i) = slot
            .entries
            .iter()
            .position(|x| x.label == e.label && x.key == e.key)
        {
            slot.entries.swap_remove(i);
            self.stats.freed.fetch_add(1, AtomicOrdering::Relaxed);
        }
    }

    /// Remember a local 2xx to an INVITE so its ACK can be matched.
    pub fn add_local_2xx(
        &self,
        e: &Arc<TxEntry>,
        inner: &mut TxInner,
        call_id: Bytes,
        to_tag: Bytes,
    ) {
        let k = (call_id, to_tag);
        inner.ack_key = Some(Box::new(k.clone()));
        self.local_2xx.lock().insert(k, e.clone());
    }

    /// The INVITE transaction a 2xx ACK answers, by Call-ID and To-tag.
    pub fn lookup_local_2xx(&self, call_id: &[u8], to_tag: &[u8]) -> Option<Arc<TxEntry>> {
        let k = (
            Bytes::copy_from_slice(call_id),
            Bytes::copy_from_slice(to_tag),
        );
        self.local_2xx.lock().get(&k).cloned()
    }

    /// Visit every live transaction (RPC listings, lookups by Call-ID);
    /// stops when `f` returns false. Locks one slot at a time.
    pub fn for_each(&self, mut f: impl FnMut(&Arc<TxEntry>) -> bool) {
        for slot in self.slots.iter() {
            let entries: Vec<Arc<TxEntry>> = slot.lock().entries.clone();
            for e in &entries {
                if !f(e) {
                    return;
                }
            }
        }
    }

    /// How many transactions each slot holds (`tm.hash_stats`).
    pub fn slot_sizes(&self) -> Vec<usize> {
        self.slots.iter().map(|s| s.lock().entries.len()).collect()
    }

    /// `tm.clean`: drop what the timer will never free — transactions
    /// marked freed but still listed. Returns how many went.
    pub fn clean(&self) -> usize {
        let mut gone = Vec::new();
        self.for_each(|e| {
            if e.inner.lock().freed {
                gone.push(e.clone());
            }
            true
        });
        for e in &gone {
            self.remove(e);
        }
        gone.len()
    }

    /// True when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(|s| s.lock().entries.is_empty())
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.slots.iter().map(|s| s.lock().entries.len()).sum()
    }

    /// Make sure the timer thread wakes for this transaction's next deadline.
    /// Call with the transaction's `inner` locked, after any change.
    pub fn schedule(&self, e: &Arc<TxEntry>, inner: &mut TxInner) {
        let Some(next) = inner.next_deadline() else {
            return;
        };
        if inner.scheduled.is_some_and(|s| s <= next) {
            return;
        }
        inner.scheduled = Some(next);
        let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
        let mut heap = self.heap.lock();
        let earliest = heap.peek().is_none_or(|top| next + TICK < top.at);
        heap.push(TimerItem {
            at: next,
            seq,
            tx: e.clone(),
        });
        drop(heap);
        if earliest {
            self.cv.notify_one();
        }
    }

    /// Wait for the next due transaction, or until woken. Returns the
    /// transaction and the deadline it was scheduled for. `stopping` is read
    /// under the heap lock, which `wake` takes too: no lost wake-up, so an
    /// idle timer sleeps without ticking.
    pub fn next_due(&self, stopping: impl Fn() -> bool) -> Option<(Arc<TxEntry>, Instant)> {
        let mut heap = self.heap.lock();
        if stopping() {
            return None;
        }
        let now = Instant::now();
        match heap.peek() {
            Some(top) if top.at <= now => {
                let item = heap.pop()?;
                Some((item.tx, item.at))
            }
            Some(top) => {
                // Timers are batched in TICK windows: one wake-up serves every
                // deadline of the window instead of one wake-up per transaction.
                let until = top.at + TICK;
                self.cv.wait_until(&mut heap, until);
                None
            }
            None => {
                self.cv.wait(&mut heap);
                None
            }
        }
    }

    /// Wake the timer thread (shutdown).
    pub fn wake(&self) {
        let _heap = self.heap.lock();
        self.cv.notify_all();
    }
}

impl Default for Table {
    fn default() -> Self {
        Table::new()
    }
}
