//! Who receives from a UDP listener's socket.
//!
//! All workers of a listener share one socket, but they do not all wait on it:
//! each wake-up of a sleeping thread costs more CPU than handling a small SIP
//! request, so while traffic is light one worker (the receiver) takes every
//! datagram and the others are parked. More workers get a turn when they are
//! needed:
//! - a batch came back full: datagrams are queueing, a second receiver joins;
//! - every receiver has been inside a route since the watchdog's previous tick
//!   while datagrams wait (a route blocks in `sleep()`, a lock, a slow call, or
//!   the load is CPU-bound): the watchdog gives one more worker a turn, so a
//!   blocked route stalls the listener for at most two ticks.
//!
//! An extra receiver that finds the socket empty gives its turn back; the last
//! one blocks in `recvmmsg`. Measured with SIPp OPTIONS→200 on 2 cores: about a
//! third less CPU per request than one socket per worker with random steering,
//! which woke every worker for every burst (see bench/README.md).

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// The watchdog's period while receivers are inside routes: a listener whose
/// receivers are all stuck there gets another receiver within two periods.
/// Each tick is a thread wake-up, so this is not shorter.
pub(crate) const WATCHDOG_TICK: Duration = Duration::from_millis(20);

/// The longest period while datagrams arrive but every receiver is found
/// waiting in the socket (light load: nothing can be stuck). The period
/// doubles from [`WATCHDOG_TICK`] while receivers are found idle and drops
/// back when one is found inside a route.
const WATCHDOG_LIGHT_TICK: Duration = Duration::from_millis(80);

/// The longest period when the listeners are idle.
const WATCHDOG_IDLE_TICK: Duration = Duration::from_millis(320);

/// What a watchdog tick saw on the listeners since the previous one.
#[derive(PartialEq, Debug)]
enum Activity {
    /// A receiver is inside a route now.
    Busy,
    /// Datagrams arrived, every receiver is waiting in the socket.
    Light,
    Idle,
}

/// How long a parked worker sleeps before re-checking the stop flag (a
/// backstop: shutdown wakes parked workers at once).
const PARK_TIMEOUT: Duration = Duration::from_secs(1);

struct Turns {
    /// Workers allowed to receive (1..=workers).
    active: usize,
    /// Parked workers.
    parked: usize,
    /// Turns granted to parked workers and not yet taken.
    granted: usize,
}

/// The receive turns of one listener's workers.
pub(crate) struct Receivers {
    fd: RawFd,
    workers: usize,
    turns: Mutex<Turns>,
    wake: Condvar,
    /// Mirror of `turns.active`, read once per receive without the lock.
    active: AtomicUsize,
    /// Receivers inside a batch (routes running).
    busy: AtomicUsize,
    /// Batches finished: tells the watchdog whether there was traffic since
    /// its previous tick (it slows down while there is none).
    batches: AtomicU64,
}

impl Receivers {
    pub(crate) fn new(fd: RawFd, workers: usize) -> Receivers {
        Receivers {
            fd,
            workers: workers.max(1),
            turns: Mutex::new(Turns {
                active: 1,
                parked: 0,
                granted: 0,
            }),
            wake: Condvar::new(),
            active: AtomicUsize::new(1),
            busy: AtomicUsize::new(0),
            batches: AtomicU64::new(0),
        }
    }

    /// Whether another receiver is free to take the next datagram (then this
    /// one must not block: an empty socket means its turn should be given back).
    /// Called outside a batch, so `busy` counts the others only.
    pub(crate) fn others_free(&self) -> bool {
        self.active.load(Ordering::Relaxed) > self.busy.load(Ordering::Relaxed) + 1
    }

    /// Parks until this worker is given a turn. False when `stop` was set.
    pub(crate) fn wait_turn(&self, stop: &AtomicBool) -> bool {
        let mut t = self.turns.lock();
        t.parked += 1;
        loop {
            if stop.load(Ordering::Relaxed) {
                t.parked -= 1;
                return false;
            }
            if t.granted > 0 {
                t.granted -= 1;
                t.parked -= 1;
                return true;
            }
            self.wake.wait_for(&mut t, PARK_TIMEOUT);
        }
    }

    /// Gives this worker's turn back unless no other receiver is free.
    pub(crate) fn give_back(&self) -> bool {
        let mut t = self.turns.lock();
        if t.active > self.busy.load(Ordering::Relaxed) + 1 {
            t.active -= 1;
            self.active.store(t.active, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    /// Lets one more parked worker receive. False when none is parked.
    fn add_receiver(&self) -> bool {
        let mut t = self.turns.lock();
        if t.active >= self.workers || t.parked <= t.granted {
            return false;
        }
        t.active += 1;
        t.granted += 1;
        self.active.store(t.active, Ordering::Relaxed);
        self.wake.notify_one();
        true
    }

    pub(crate) fn batch_started(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
    }

    /// `full`: the batch used every slot, so more datagrams are likely queued.
    pub(crate) fn batch_done(&self, full: bool) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.busy.fetch_sub(1, Ordering::Relaxed);
        if full && self.workers > 1 {
            self.add_receiver();
        }
    }

    /// Wakes every parked worker (shutdown).
    pub(crate) fn wake_all(&self) {
        let _t = self.turns.lock();
        self.wake.notify_all();
    }

    /// True when a datagram waits in the socket.
    fn pending(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, zero timeout.
        unsafe { libc::poll(&mut p, 1, 0) > 0 && p.revents & libc::POLLIN != 0 }
    }
}

/// What the watchdog saw at its previous tick, per listener.
#[derive(Default)]
struct Seen {
    all_busy: bool,
    batches: u64,
}

/// One watchdog tick over every listener.
fn check(groups: &[Arc<Receivers>], seen: &mut [Seen]) -> Activity {
    let mut activity = Activity::Idle;
    for (r, s) in groups.iter().zip(seen.iter_mut()) {
        let busy = r.busy.load(Ordering::Relaxed);
        let batches = r.batches.load(Ordering::Relaxed);
        if busy > 0 {
            activity = Activity::Busy;
        } else if batches != s.batches && activity == Activity::Idle {
            activity = Activity::Light;
        }
        s.batches = batches;
        let all_busy = busy >= r.active.load(Ordering::Relaxed);
        if all_busy && s.all_busy && r.pending() && r.add_receiver() {
            tracing::trace!(target: "transport", "udp: receivers busy with datagrams waiting; one more worker receives");
            s.all_busy = false;
        } else {
            s.all_busy = all_busy;
        }
    }
    activity
}

/// The watchdog loop: runs until `stop`. Only listeners with several workers
/// need one.
pub(crate) fn watchdog(groups: Vec<Arc<Receivers>>, stop: &AtomicBool) {
    let mut seen: Vec<Seen> = groups.iter().map(|_| Seen::default()).collect();
    let mut tick = WATCHDOG_TICK;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        tick = match check(&groups, &mut seen) {
            Activity::Busy => WATCHDOG_TICK,
            Activity::Light => (tick * 2).min(WATCHDOG_LIGHT_TICK),
            Activity::Idle => (tick * 2).min(WATCHDOG_IDLE_TICK),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    #[test]
    fn turns_grow_on_full_batches_and_shrink_when_empty() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = Receivers::new(sock.as_raw_fd(), 3);
        assert!(!r.others_free());
        // Nobody parked yet: a full batch cannot add a receiver.
        r.batch_started();
        r.batch_done(true);
        assert!(!r.others_free());
        r.turns.lock().parked = 2;
        r.batch_started();
        r.batch_done(true);
        assert!(r.others_free());
        assert_eq!(r.turns.lock().granted, 1);
        // The other receiver is inside a route: this one keeps its turn.
        r.batch_started();
        assert!(!r.others_free());
        assert!(!r.give_back());
        r.batch_done(false);
        assert!(r.give_back());
        assert!(!r.give_back(), "the last receiver keeps its turn");
    }

    #[test]
    fn watchdog_adds_a_receiver_only_when_all_are_stuck_with_datagrams_waiting() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = Arc::new(Receivers::new(sock.as_raw_fd(), 2));
        r.turns.lock().parked = 1;
        let groups = vec![r.clone()];
        let mut seen = vec![Seen::default()];
        r.batch_started();
        check(&groups, &mut seen);
        check(&groups, &mut seen);
        assert_eq!(
            r.active.load(Ordering::Relaxed),
            1,
            "busy but nothing waits"
        );
        let c = UdpSocket::bind("127.0.0.1:0").unwrap();
        c.send_to(b"x", sock.local_addr().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        check(&groups, &mut seen);
        assert_eq!(
            r.active.load(Ordering::Relaxed),
            2,
            "stuck at two ticks with a datagram waiting"
        );
    }

    #[test]
    fn parked_worker_takes_a_granted_turn_or_stops() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = Arc::new(Receivers::new(sock.as_raw_fd(), 2));
        let stop = Arc::new(AtomicBool::new(false));
        let t = {
            let (r, stop) = (r.clone(), stop.clone());
            std::thread::spawn(move || r.wait_turn(&stop))
        };
        for _ in 0..200 {
            if r.add_receiver() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(t.join().unwrap());
        let t = {
            let (r, stop) = (r.clone(), stop.clone());
            std::thread::spawn(move || r.wait_turn(&stop))
        };
        stop.store(true, Ordering::Relaxed);
        r.wake_all();
        assert!(!t.join().unwrap());
    }
}
