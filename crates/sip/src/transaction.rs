//! RFC 3261 §17 transaction state machines, sans-IO.
//!
//! The machines hold no messages and read no clock: the caller passes `now`
//! with every event, stores the messages itself, and asks the machine what to
//! do (`poll`) at the deadline it reports (`next_deadline`). Timer values follow
//! Kamailio's tm parameters: `t1`/`t2` (`retr_timer1`/`retr_timer2`), `fr`
//! (`fr_timer`: no final reply / Timer B, F and the wait for an ACK), `fr_inv`
//! (`fr_inv_timer`: after a provisional reply), `wait` (`wt_timer`: Timers D, I,
//! J, K — how long a completed transaction absorbs retransmissions).

use std::time::{Duration, Instant};

/// Timer values of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub fr: Duration,
    pub fr_inv: Duration,
    pub wait: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            fr: Duration::from_secs(30),
            fr_inv: Duration::from_secs(120),
            wait: Duration::from_secs(5),
        }
    }
}

/// What the owner of a transaction must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Server: send the stored last reply again.
    ResendReply,
    /// Client: send the stored request again.
    ResendRequest,
    /// Server: no final reply in time (`fr` expired): generate one (408).
    NoFinalReply,
    /// Server INVITE: the ACK for a final reply never came (Timer H).
    AckTimeout,
    /// Client: no (final) reply in time (Timer B/F, `fr`/`fr_inv`).
    Timeout,
    /// The transaction is over: free it.
    Terminated,
}

/// States shared by both kinds (RFC 3261 names; `Trying` only for non-INVITE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Confirmed,
    Terminated,
}

/// A retransmission timer: when it fires next and the current interval.
#[derive(Debug, Clone, Copy)]
struct Retr {
    at: Instant,
    /// Milliseconds (timer values are whole milliseconds: a smaller machine).
    interval_ms: u32,
}

impl Retr {
    fn first(now: Instant, t1: Duration) -> Retr {
        Retr {
            at: now + t1,
            interval_ms: millis(t1),
        }
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

/// The timer values a transaction keeps: [`TimerConfig`] in whole
/// milliseconds, 20 bytes instead of 80 (every live transaction holds one).
#[derive(Debug, Clone, Copy)]
struct Timers {
    t1: u32,
    t2: u32,
    fr: u32,
    fr_inv: u32,
    wait: u32,
}

impl From<TimerConfig> for Timers {
    fn from(c: TimerConfig) -> Timers {
        Timers {
            t1: millis(c.t1),
            t2: millis(c.t2),
            fr: millis(c.fr),
            fr_inv: millis(c.fr_inv),
            wait: millis(c.wait),
        }
    }
}

impl Timers {
    fn t1(&self) -> Duration {
        Duration::from_millis(self.t1.into())
    }
    fn t2(&self) -> Duration {
        Duration::from_millis(self.t2.into())
    }
    fn fr(&self) -> Duration {
        Duration::from_millis(self.fr.into())
    }
    fn fr_inv(&self) -> Duration {
        Duration::from_millis(self.fr_inv.into())
    }
    fn wait(&self) -> Duration {
        Duration::from_millis(self.wait.into())
    }
}

impl Retr {
    /// True when the timer in `slot` is due at `now`; it is then re-armed with
    /// the interval doubled, capped at `t2` (RFC 3261 Timers A, E and G).
    fn fire(slot: &mut Option<Retr>, now: Instant, t2: Duration) -> bool {
        match *slot {
            Some(r) if r.at <= now => {
                let interval = (Duration::from_millis(r.interval_ms.into()) * 2).min(t2);
                *slot = Some(Retr {
                    at: now + interval,
                    interval_ms: millis(interval),
                });
                true
            }
            _ => false,
        }
    }
}

fn min_opt(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

fn due(t: Option<Instant>, now: Instant) -> bool {
    t.is_some_and(|t| t <= now)
}

/// A server transaction (RFC 3261 §17.2): absorbs request retransmissions,
/// retransmits final INVITE replies over unreliable transports until the ACK.
#[derive(Debug, Clone)]
pub struct ServerTx {
    invite: bool,
    reliable: bool,
    cfg: Timers,
    state: State,
    last_code: u16,
    retr: Option<Retr>,
    /// Timer H (waiting for the ACK) or the "no final reply" timer.
    fr: Option<Instant>,
    /// Timers I/J: the end of the transaction.
    wait: Option<Instant>,
    /// What `fr` means now.
    fr_is_ack_wait: bool,
    /// The final reply was a relayed 2xx: its ACK is end to end, not ours.
    relayed_2xx: bool,
    /// Released (`t_release`): a later final reply is not retransmitted.
    released: bool,
}

impl ServerTx {
    pub fn new(invite: bool, reliable: bool, cfg: TimerConfig) -> ServerTx {
        ServerTx {
            invite,
            reliable,
            cfg: cfg.into(),
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            last_code: 0,
            retr: None,
            fr: None,
            wait: None,
            fr_is_ack_wait: false,
            relayed_2xx: false,
            released: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_invite(&self) -> bool {
        self.invite
    }

    /// The code of the last reply sent (0: none).
    pub fn last_code(&self) -> u16 {
        self.last_code
    }

    /// True once a final reply was sent.
    pub fn is_final(&self) -> bool {
        self.last_code >= 200
    }

    /// Arm the "no final reply" timer (a suspended or relayed transaction):
    /// `poll` reports [`Action::NoFinalReply`] at `now + d` unless a final reply
    /// went out first.
    pub fn arm_fr(&mut self, now: Instant, d: Duration) {
        if !self.is_final() {
            self.fr = Some(now + d);
            self.fr_is_ack_wait = false;
        }
    }

    /// Stop the "no final reply" timer.
    pub fn disarm_fr(&mut self) {
        if !self.fr_is_ack_wait {
            self.fr = None;
        }
    }

    /// A retransmission of the request arrived: true when the stored last reply
    /// must be sent again (there is one and the transaction is not over).
    pub fn on_retransmission(&mut self) -> bool {
        // Confirmed too: Kamailio answers an INVITE retransmitted after the
        // ACK with the final reply again.
        self.last_code > 0
            && matches!(
                self.state,
                State::Proceeding | State::Completed | State::Confirmed
            )
    }

    /// A reply is about to be sent. Returns false when it must not be (a final
    /// reply was already sent: a transaction has one final reply).
    pub fn on_reply(&mut self, code: u16, now: Instant) -> bool {
        if self.is_final() || self.state == State::Terminated {
            return false;
        }
        self.last_code = code;
        if code < 200 {
            self.state = State::Proceeding;
            return true;
        }
        self.state = State::Completed;
        self.wait = Some(now + self.cfg.wait());
        if self.invite && !self.released {
            self.fr = Some(now + self.cfg.fr());
            self.fr_is_ack_wait = true;
            if !self.reliable {
                self.retr = Some(Retr::first(now, self.cfg.t1()));
            }
        } else {
            self.fr = None;
        }
        true
    }

    /// A relayed 2xx to an INVITE went out: the ACK is end to end, so nothing
    /// is retransmitted; the transaction only lingers for `wait`.
    pub fn on_relayed_2xx(&mut self, code: u16, now: Instant) -> bool {
        if !self.on_reply(code, now) {
            return false;
        }
        self.retr = None;
        self.fr = None;
        self.relayed_2xx = true;
        true
    }

    /// The transaction's `fr_timer` changed (`t_set_fr`): it bounds the
    /// retransmissions of a final reply sent from now on.
    pub fn set_fr_timeout(&mut self, d: Duration) {
        self.cfg.fr = millis(d);
    }

    /// An ACK matched this transaction: true when it was the ACK for our final
    /// reply (it stops the retransmissions; absorb it).
    pub fn on_ack(&mut self, now: Instant) -> bool {
        if self.relayed_2xx {
            return false;
        }
        if !self.invite || self.state != State::Completed {
            return self.state == State::Confirmed;
        }
        self.state = State::Confirmed;
        self.retr = None;
        let ack_wait_over = self.fr.is_none() && self.fr_is_ack_wait;
        self.fr = None;
        if ack_wait_over {
            // already lingering to its end: a late ACK does not extend it
            return true;
        }
        let end = now
            + if self.reliable {
                Duration::ZERO
            } else {
                self.cfg.wait()
            };
        self.wait = Some(end);
        true
    }

    /// The earliest time `poll` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state == State::Terminated {
            return None;
        }
        min_opt(min_opt(self.retr.map(|r| r.at), self.fr), self.wait)
    }

    /// Run the timers due at `now`, appending what to do to `out`.
    pub fn poll(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::Terminated {
            return;
        }
        if due(self.wait, now) {
            self.terminate(out);
            return;
        }
        if due(self.fr, now) {
            self.fr = None;
            if self.fr_is_ack_wait {
                // Kamailio stops retransmitting but keeps the transaction
                // (absorbing a late ACK or retransmission) until `wait` after
                // the final reply.
                self.retr = None;
                out.push(Action::AckTimeout);
                if self.wait.is_none() {
                    self.terminate(out);
                }
                return;
            }
            out.push(Action::NoFinalReply);
        }
        if Retr::fire(&mut self.retr, now, self.cfg.t2()) {
            out.push(Action::ResendReply);
        }
    }

    /// Release the transaction (Kamailio's `t_release`): the reply is no longer
    /// retransmitted and no final reply or ACK is waited for; it lingers
    /// `wait` from now (absorbing retransmissions, taking a late reply), then
    /// ends.
    pub fn release(&mut self, now: Instant) {
        if self.state == State::Terminated {
            return;
        }
        self.released = true;
        self.retr = None;
        self.fr = None;
        self.fr_is_ack_wait = false;
        self.wait = Some(now + self.cfg.wait());
    }

    /// End the transaction now (shutdown).
    pub fn terminate(&mut self, out: &mut Vec<Action>) {
        self.state = State::Terminated;
        self.retr = None;
        self.fr = None;
        self.wait = None;
        out.push(Action::Terminated);
    }
}

/// What a reply means to a client transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientReply {
    /// Pass the reply up (to reply processing / the server transaction).
    pub pass_up: bool,
    /// Send an ACK for it (non-2xx final reply to an INVITE, hop by hop).
    pub send_ack: bool,
}

/// A client transaction (RFC 3261 §17.1): retransmits the request over
/// unreliable transports, times out without a reply.
#[derive(Debug, Clone)]
pub struct ClientTx {
    invite: bool,
    reliable: bool,
    cfg: Timers,
    state: State,
    last_code: u16,
    retr: Option<Retr>,
    fr: Option<Instant>,
    wait: Option<Instant>,
    /// Released (`t_release`): no timer is armed again.
    released: bool,
}

impl ClientTx {
    /// The request has just been sent at `now`.
    pub fn start(invite: bool, reliable: bool, cfg: TimerConfig, now: Instant) -> ClientTx {
        ClientTx {
            invite,
            reliable,
            cfg: cfg.into(),
            state: if invite {
                State::Calling
            } else {
                State::Trying
            },
            last_code: 0,
            retr: (!reliable).then_some(Retr::first(now, cfg.t1)),
            fr: Some(now + cfg.fr),
            wait: None,
            released: false,
        }
    }

    /// Stop retransmitting and waiting for a reply (`t_release`): replies
    /// are still taken, the request is never sent again and never times out.
    pub fn release(&mut self) {
        self.released = true;
        self.retr = None;
        self.fr = None;
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn last_code(&self) -> u16 {
        self.last_code
    }

    /// Restart the reply timer with `d` (`t_set_fr`, `restart_fr_on_each_reply`).
    pub fn set_fr(&mut self, now: Instant, d: Duration) {
        if !self.released
            && matches!(
                self.state,
                State::Calling | State::Trying | State::Proceeding
            )
        {
            self.fr = Some(now + d);
        }
    }

    /// New `fr`/`fr_inv` for this branch (`t_set_fr` once it runs, Kamailio's
    /// `change_fr`): a running reply timer restarts from `now` with the one
    /// that applies (`fr_inv` after a provisional reply to an INVITE); None
    /// keeps a value.
    pub fn retime(&mut self, now: Instant, fr: Option<Duration>, fr_inv: Option<Duration>) {
        if let Some(d) = fr {
            self.cfg.fr = millis(d);
        }
        if let Some(d) = fr_inv {
            self.cfg.fr_inv = millis(d);
        }
        if self.fr.is_none() || self.released {
            return;
        }
        let after_provisional = self.invite && self.state == State::Proceeding;
        match (after_provisional, fr_inv, fr) {
            (true, Some(d), _) => self.fr = Some(now + d),
            (true, None, _) => {}
            (false, _, Some(d)) => self.fr = Some(now + d),
            (false, _, None) => {}
        }
    }

    /// When the reply timer fires (None: not armed).
    pub fn fr_at(&self) -> Option<Instant> {
        self.fr
    }

    /// Put the reply timer back to `at` (a provisional reply the script
    /// dropped does not move the branch to `fr_inv`, as Kamailio).
    pub fn restore_fr(&mut self, at: Option<Instant>) {
        if !self.released && matches!(self.state, State::Calling | State::Proceeding) {
            self.fr = at;
        }
    }

    /// Restart the reply timer with this branch's `fr_inv` (a provisional
    /// reply to an INVITE, `restart_fr_on_each_reply`).
    pub fn restart_fr_inv(&mut self, now: Instant) {
        let d = self.cfg.fr_inv();
        self.set_fr(now, d);
    }

    /// A reply matched this transaction.
    pub fn on_reply(&mut self, code: u16, now: Instant) -> ClientReply {
        let none = ClientReply {
            pass_up: false,
            send_ack: false,
        };
        match self.state {
            State::Terminated | State::Confirmed => none,
            State::Completed => {
                // A retransmitted final reply: ACK it again, do not pass it up.
                ClientReply {
                    pass_up: false,
                    send_ack: self.invite && code >= 300 && self.last_code == code,
                }
            }
            _ => {
                if code < 200 {
                    self.last_code = self.last_code.max(code);
                    if self.invite {
                        // Provisional: stop retransmitting, wait up to fr_inv for the final reply.
                        self.retr = None;
                        if self.state == State::Calling && !self.released {
                            self.fr = Some(now + self.cfg.fr_inv());
                        }
                    } else if let Some(r) = &mut self.retr {
                        // Proceeding (§17.1.2.2): retransmit every T2 from now
                        // on (as Kamailio, which restarts the timer at T2).
                        r.interval_ms = self.cfg.t2;
                        r.at = now + self.cfg.t2();
                    }
                    self.state = State::Proceeding;
                    return ClientReply {
                        pass_up: true,
                        send_ack: false,
                    };
                }
                self.last_code = code;
                self.retr = None;
                self.fr = None;
                if self.invite && code < 300 {
                    // 2xx: the transaction ends; the ACK is end to end.
                    self.state = State::Terminated;
                    return ClientReply {
                        pass_up: true,
                        send_ack: false,
                    };
                }
                self.state = State::Completed;
                self.wait = Some(
                    now + if self.reliable {
                        Duration::ZERO
                    } else {
                        self.cfg.wait()
                    },
                );
                ClientReply {
                    pass_up: true,
                    send_ack: self.invite,
                }
            }
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        if self.state == State::Terminated {
            return None;
        }
        min_opt(min_opt(self.retr.map(|r| r.at), self.fr), self.wait)
    }

    pub fn poll(&mut self, now: Instant, out: &mut Vec<Action>) {
        if self.state == State::Terminated {
            return;
        }
        if due(self.wait, now) {
            self.terminate(out);
            return;
        }
        if due(self.fr, now) {
            out.push(Action::Timeout);
            self.terminate(out);
            return;
        }
        if Retr::fire(&mut self.retr, now, self.cfg.t2()) {
            out.push(Action::ResendRequest);
        }
    }

    pub fn terminate(&mut self, out: &mut Vec<Action>) {
        self.state = State::Terminated;
        self.retr = None;
        self.fr = None;
        self.wait = None;
        out.push(Action::Terminated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drive a machine through time, collecting (elapsed ms, action).
    fn run_server(tx: &mut ServerTx, t0: Instant, until: u64) -> Vec<(u64, Action)> {
        let mut log = Vec::new();
        let mut out = Vec::new();
        while let Some(d) = tx.next_deadline() {
            if d > t0 + ms(until) {
                break;
            }
            tx.poll(d, &mut out);
            let at = (d - t0).as_millis() as u64;
            log.extend(out.drain(..).map(|a| (at, a)));
        }
        log
    }

    #[test]
    fn invite_final_reply_retransmitted_doubling_to_t2_then_ack_timeout() {
        let cfg = TimerConfig {
            fr: Duration::from_secs(32),
            wait: Duration::from_secs(40),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, false, cfg);
        assert!(tx.on_reply(404, t0));
        let log = run_server(&mut tx, t0, 60_000);
        let resends: Vec<u64> = log
            .iter()
            .filter(|(_, a)| *a == Action::ResendReply)
            .map(|(t, _)| *t)
            .collect();
        assert_eq!(&resends[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert!(resends.iter().all(|&t| t < 32_000));
        assert_eq!(log[log.len() - 2], (32_000, Action::AckTimeout));
        assert_eq!(log[log.len() - 1], (40_000, Action::Terminated));
    }

    #[test]
    fn kamailio_stops_retransmitting_at_the_earlier_of_fr_and_wait() {
        let cfg = TimerConfig {
            fr: ms(2000),
            wait: ms(8000),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, false, cfg);
        tx.on_reply(404, t0);
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(
            log,
            vec![
                (500, Action::ResendReply),
                (1500, Action::ResendReply),
                (2000, Action::AckTimeout),
                (8000, Action::Terminated)
            ]
        );
        let cfg = TimerConfig {
            fr: ms(20_000),
            wait: ms(2000),
            ..Default::default()
        };
        let mut tx = ServerTx::new(true, false, cfg);
        tx.on_reply(404, t0);
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(
            log,
            vec![
                (500, Action::ResendReply),
                (1500, Action::ResendReply),
                (2000, Action::Terminated)
            ]
        );
    }

    #[test]
    fn ack_stops_retransmissions() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, false, TimerConfig::default());
        assert!(tx.on_reply(100, t0));
        assert!(tx.on_retransmission());
        assert!(tx.on_reply(486, t0));
        assert!(!tx.on_reply(200, t0), "one final reply only");
        let mut out = Vec::new();
        tx.poll(t0 + ms(500), &mut out);
        assert_eq!(out, vec![Action::ResendReply]);
        assert!(tx.on_ack(t0 + ms(600)));
        assert_eq!(tx.state(), State::Confirmed);
        assert!(tx.on_retransmission(), "the final reply again (Kamailio)");
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(log, vec![(5600, Action::Terminated)]);
    }

    #[test]
    fn reliable_transport_no_retransmission() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, true, TimerConfig::default());
        tx.on_reply(500, t0);
        let log = run_server(&mut tx, t0, 60_000);
        assert!(
            log.iter().all(|(_, a)| *a != Action::ResendReply),
            "{log:?}"
        );
    }

    #[test]
    fn non_invite_absorbs_then_ends_after_wait() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(
            false,
            false,
            TimerConfig {
                wait: ms(1000),
                ..Default::default()
            },
        );
        assert!(!tx.on_retransmission(), "no reply yet: nothing to resend");
        tx.on_reply(200, t0);
        assert!(tx.on_retransmission());
        assert!(!tx.on_ack(t0));
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(log, vec![(1000, Action::Terminated)]);
    }

    #[test]
    fn fr_timer_fires_without_final_reply() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, false, TimerConfig::default());
        tx.on_reply(100, t0);
        tx.arm_fr(t0, ms(3000));
        let mut out = Vec::new();
        tx.poll(t0 + ms(2999), &mut out);
        assert!(out.is_empty());
        assert_eq!(tx.next_deadline(), Some(t0 + ms(3000)));
        tx.poll(t0 + ms(3000), &mut out);
        assert_eq!(out, vec![Action::NoFinalReply]);
        // the owner answers 408: normal completion follows
        assert!(tx.on_reply(408, t0 + ms(3000)));
        assert!(tx.next_deadline().is_some());
        let mut tx = ServerTx::new(false, false, TimerConfig::default());
        tx.arm_fr(t0, ms(100));
        tx.on_reply(200, t0);
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(
            log,
            vec![(5000, Action::Terminated)],
            "a final reply disarms fr"
        );
    }

    #[test]
    fn client_invite_retransmits_until_provisional_then_times_out_on_fr_inv() {
        let cfg = TimerConfig {
            fr: ms(2000),
            fr_inv: ms(5000),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut tx = ClientTx::start(true, false, cfg, t0);
        let mut out = Vec::new();
        tx.poll(t0 + ms(500), &mut out);
        tx.poll(t0 + ms(1500), &mut out);
        assert_eq!(out, vec![Action::ResendRequest, Action::ResendRequest]);
        out.clear();
        let r = tx.on_reply(180, t0 + ms(1600));
        assert!(r.pass_up && !r.send_ack);
        assert_eq!(tx.next_deadline(), Some(t0 + ms(6600)));
        tx.poll(t0 + ms(6600), &mut out);
        assert_eq!(out, vec![Action::Timeout, Action::Terminated]);
    }

    #[test]
    fn client_invite_negative_final_is_acked_and_absorbed_after() {
        let t0 = Instant::now();
        let mut tx = ClientTx::start(true, false, TimerConfig::default(), t0);
        let r = tx.on_reply(486, t0);
        assert!(r.pass_up && r.send_ack);
        let r = tx.on_reply(486, t0);
        assert!(!r.pass_up && r.send_ack, "retransmission re-ACKed");
        let mut out = Vec::new();
        tx.poll(t0 + ms(5000), &mut out);
        assert_eq!(out, vec![Action::Terminated]);
        let mut st = ServerTx::new(true, false, TimerConfig::default());
        assert!(st.on_relayed_2xx(200, t0));
        assert!(!st.on_ack(t0), "the ACK of a relayed 2xx is end to end");
        let mut tx = ClientTx::start(true, false, TimerConfig::default(), t0);
        let r = tx.on_reply(200, t0);
        assert!(r.pass_up && !r.send_ack);
        assert_eq!(tx.state(), State::Terminated);
    }

    #[test]
    fn client_non_invite_times_out_on_fr() {
        let cfg = TimerConfig {
            fr: ms(3000),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut tx = ClientTx::start(false, false, cfg, t0);
        let mut out = Vec::new();
        let mut now = t0;
        while let Some(d) = tx.next_deadline() {
            now = d;
            tx.poll(d, &mut out);
        }
        assert_eq!(now, t0 + ms(3000));
        let n = out.iter().filter(|a| **a == Action::ResendRequest).count();
        assert_eq!(n, 2, "{out:?}"); // 500, 1500; the next (3500) is after fr
    }

    #[test]
    fn released_server_tx_stops_retransmitting_and_ends_after_wait() {
        let cfg = TimerConfig {
            wait: ms(5000),
            ..Default::default()
        };
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, false, cfg);
        assert!(tx.on_reply(486, t0));
        tx.release(t0 + ms(100));
        // still absorbs retransmissions with the last reply
        assert!(tx.on_retransmission());
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(log, vec![(5100, Action::Terminated)]);
    }

    #[test]
    fn released_server_tx_without_reply_takes_a_late_final_reply() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(false, false, TimerConfig::default());
        tx.arm_fr(t0, ms(30_000));
        tx.release(t0);
        assert!(!tx.on_retransmission());
        assert!(tx.on_reply(404, t0 + ms(200)));
        assert!(tx.on_retransmission());
        let log = run_server(&mut tx, t0, 60_000);
        assert!(
            !log.iter().any(|(_, a)| *a == Action::NoFinalReply),
            "{log:?}"
        );
    }

    #[test]
    fn released_invite_server_tx_does_not_retransmit_a_later_final_reply() {
        let t0 = Instant::now();
        let mut tx = ServerTx::new(true, false, TimerConfig::default());
        tx.release(t0);
        assert!(tx.on_reply(486, t0 + ms(100)));
        let log = run_server(&mut tx, t0, 60_000);
        assert_eq!(log, vec![(5100, Action::Terminated)]);
    }

    #[test]
    fn released_client_tx_never_resends_nor_times_out_but_takes_replies() {
        let t0 = Instant::now();
        let mut tx = ClientTx::start(true, false, TimerConfig::default(), t0);
        tx.release();
        assert_eq!(tx.next_deadline(), None);
        let r = tx.on_reply(180, t0 + ms(100));
        assert!(r.pass_up);
        assert_eq!(tx.next_deadline(), None, "no fr_inv armed after release");
        tx.set_fr(t0 + ms(200), ms(1000));
        assert_eq!(tx.next_deadline(), None);
        let r = tx.on_reply(486, t0 + ms(300));
        assert!(r.pass_up && r.send_ack);
    }
}
