//! The per-execution context of the script: what every route, function and
//! pseudo-variable works on. One `Ctx` is kept per thread and reset between
//! messages, so the hot path allocates nothing for it.

use crate::locks::{ExecId, HeldLocks};
use crate::runtime::Runtime;
use crate::transport::{ConnId, Dest, ListenerId, Proto, WorkerIo};
use bytes::Bytes;
use siprd_script::{ExecState, Host};
use siprd_sip::edit::Edits;
use siprd_sip::Message;
use std::any::Any;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ptr::NonNull;
use std::sync::Arc;

/// Where the message came from.
#[derive(Clone, Copy, Debug)]
pub struct RcvInfo {
    pub src: SocketAddr,
    pub local: SocketAddr,
    pub proto: Proto,
    pub listener: Option<ListenerId>,
    pub conn: Option<ConnId>,
}

/// The receive info of Kamailio's faked request (events without a message):
/// no receiving socket (`$Ri`, `$Rp` are null) and a source that Kamailio
/// fills with 127.0.0.1 in host byte order, so that it reads `1.0.0.127:5060`.
impl Default for RcvInfo {
    fn default() -> Self {
        RcvInfo {
            src: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(1, 0, 0, 127)), 5060),
            local: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            proto: Proto::Udp,
            listener: None,
            conn: None,
        }
    }
}

impl RcvInfo {
    /// Where a received packet came from and arrived.
    pub fn of(pkt: &crate::transport::Received) -> RcvInfo {
        RcvInfo {
            src: pkt.src,
            local: pkt.local,
            proto: pkt.proto,
            listener: Some(pkt.listener),
            conn: pkt.conn,
        }
    }
    /// The destination that answers this message (same transport/connection).
    pub fn reply_dest(&self, addr: SocketAddr) -> Dest {
        Dest {
            proto: self.proto,
            addr,
            listener: self.listener,
            conn: self.conn,
        }
    }
}

/// An extra branch added by `append_branch()`.
#[derive(Clone, Debug)]
pub struct Branch {
    pub uri: Bytes,
    pub dst_uri: Option<Bytes>,
    /// Branch flags (kex `setbflag`, `$bf` of this branch).
    pub flags: u32,
    /// The q value in thousandths (`append_branch(uri, "0.5")`: 500); None: unspecified.
    pub q: Option<i32>,
    /// Its `+sip.instance` (tm's `t_next_contacts`); None for most branches.
    pub instance: Option<Bytes>,
    /// Its Path vector (`$branch(path)`): Route header value(s) tm puts
    /// right after its Via when relaying this branch.
    pub path: Option<Bytes>,
    /// The socket it is sent from (`$branch(send_socket)`; `append_branch`
    /// copies `$fs`), as written in the script.
    pub socket: Option<Bytes>,
}

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

    /// The SIP message (for events: a synthetic OPTIONS request).
    pub msg: Message,
    /// True when `msg` is synthetic (event routes): suspending functions refuse it.
    pub faked: bool,
    pub rcv: RcvInfo,
    /// `$ru` after a change (`None`: the request's own R-URI).
    pub new_uri: Option<Bytes>,
    /// `$du`: the next hop, when set.
    pub dst_uri: Option<Bytes>,
    /// Counts assignments to `$ru`/`$du` (and their parts): Kamailio makes
    /// the R-URI "new" again on any assignment, even of the same value, so
    /// that a later `t_relay` sends it once more (tm compares it).
    pub uri_marks: u32,
    /// Message flags (`setflag`): bits 0..=63.
    pub flags: u64,
    /// Script flags (kex `setsflag`, `$sf`), reset for each message.
    pub sflags: u32,
    /// Extended message flags (corex `setxflag`): bits 0..=63.
    pub xflags: u64,
    /// Internal message flags by name (corex `msg_iflag_set`): bit 0
    /// `USE_UAC_FROM`, 1 `USE_UAC_TO`, 2 `UAC_AUTH`.
    pub iflags: u8,
    /// `set_advertised_address()` / `set_advertised_port()` for this message:
    /// put in our Via and Record-Route instead of the socket's.
    pub adv_address: Option<String>,
    pub adv_port: Option<u16>,
    /// `$mi`: the number of this message among those the worker received
    /// (from 1, as Kamailio's per-process counter).
    pub msg_no: u32,
    /// TCP send flags of this message ([`TcpFlags`]): `set_reply_close()` & co.
    pub tcp_flags: u8,
    /// Flags of branch 0, the R-URI (kex `setbflag`, `$bf`); appended
    /// branches carry theirs in [`Branch::flags`].
    pub ruri_bflags: u32,
    /// Changes to the message (`append_hf`, `remove_hf`, `subst` ...), applied
    /// once when it is sent.
    pub edits: Edits,
    /// Header lines added to the next local reply (`append_to_reply`).
    pub reply_headers: Vec<u8>,
    /// Body of the next local reply (`set_reply_body`; its Content-Type
    /// line goes to `reply_headers`, where Kamailio puts it).
    pub reply_body: Option<Bytes>,
    /// `force_rport()`: reply to the source port even without `;rport`.
    pub force_rport: bool,
    /// `add_local_rport()`: add `;rport` to our Via when forwarding.
    pub local_rport: bool,
    /// `via_add_srvid(1)`: add `;srvid=<server_id>` to our Via when forwarding.
    pub via_srvid: bool,
    /// Branches added by `append_branch()`.
    pub branches: Vec<Branch>,
    /// A local reply was sent for this message (stateless or stateful).
    pub replied: bool,
    /// `$fs`: the socket to send from (`proto:ip:port`), as the script set it.
    pub forced_socket: Option<Bytes>,
    /// Reused buffer for building outgoing messages.
    pub scratch: Vec<u8>,
    /// The worker's batched sender while a worker runs this context.
    io: Option<NonNull<WorkerIo>>,
    /// `$avp` / `$xavp` of the message (must travel with a transaction).
    pub avps: crate::modules::pv::vars::AvpStore,
    /// tm: the transaction of the message and the routes armed for it.
    pub tm: crate::modules::tm::TmCtx,
    /// The message being sent while onsend_route runs (`$snd(...)`).
    pub snd: Option<crate::onsend::SndInfo>,
    /// rr: `add_rr_param` text waiting for `record_route`, what `loose_route` routed on.
    pub rr: crate::modules::rr::RrCtx,
}

// SAFETY: `io` is only set while the owning worker thread runs the context
// (see `with_io`), and a `Ctx` never leaves the thread that set it while set.
unsafe impl Send for Ctx {}

impl Host for Ctx {
    fn exec_state(&mut self) -> &mut ExecState {
        &mut self.exec
    }
    fn with_fixup_ctx<R>(
        &mut self,
        f: impl FnOnce(&mut siprd_script::registry::FixupCtx<'_, Ctx>) -> R,
    ) -> Option<R> {
        let rt = self.rt.clone();
        let mut fx = rt.fixup_ctx();
        Some(f(&mut fx))
    }
}

impl Ctx {
    pub fn new(rt: Arc<Runtime>) -> Ctx {
        let msg = rt.faked_message();
        Ctx {
            exec: ExecState::default(),
            rt,
            exec_id: crate::locks::new_exec_id(),
            locks: HeldLocks::default(),
            event: None,
            msg,
            faked: true,
            rcv: RcvInfo::default(),
            new_uri: None,
            dst_uri: None,
            uri_marks: 0,
            flags: 0,
            sflags: 0,
            xflags: 0,
            iflags: 0,
            adv_address: None,
            adv_port: None,
            msg_no: 0,
            tcp_flags: 0,
            ruri_bflags: 0,
            edits: Edits::default(),
            reply_headers: Vec::new(),
            reply_body: None,
            force_rport: false,
            local_rport: false,
            via_srvid: false,
            branches: Vec::new(),
            replied: false,
            forced_socket: None,
            scratch: Vec::with_capacity(2048),
            io: None,
            avps: crate::modules::pv::vars::AvpStore::default(),
            tm: Default::default(),
            snd: None,
            rr: Default::default(),
        }
    }

    /// Prepare for a new execution on `msg` (keeps allocated buffers).
    pub fn reset(&mut self, msg: Message, faked: bool, rcv: RcvInfo) {
        self.msg = msg;
        self.reset_keeping_msg(faked, rcv);
    }

    /// [`Ctx::reset`] for the faked request of an event. The message is
    /// immutable (edits live in the context), so when the previous event left
    /// the faked request in place it is kept, parse caches and all: cloning
    /// it costs a few percent of a small event route.
    pub fn reset_faked(&mut self, rcv: RcvInfo) {
        if !self.rt.is_faked_message(&self.msg) {
            self.msg = self.rt.faked_message();
        }
        self.reset_keeping_msg(true, rcv);
    }

    /// Parses `data` straight into this context's message slot: a message is
    /// about 2 KB, and parsing in place saves copying it from frame to frame.
    /// On error the slot keeps the previous message; call
    /// [`Ctx::reset_keeping_msg`] after a success.
    pub fn parse_msg(&mut self, data: bytes::Bytes) -> Result<(), siprd_sip::ParseError> {
        self.msg = Message::parse(data)?;
        Ok(())
    }

    /// [`Ctx::reset`] for a message already in place ([`Ctx::parse_msg`]).
    pub fn reset_keeping_msg(&mut self, faked: bool, rcv: RcvInfo) {
        self.exec = ExecState::default();
        self.exec_id = crate::locks::new_exec_id();
        self.event = None;
        self.faked = faked;
        self.rcv = rcv;
        self.new_uri = None;
        self.dst_uri = None;
        self.flags = 0;
        self.sflags = 0;
        self.xflags = 0;
        self.iflags = 0;
        self.adv_address = None;
        self.adv_port = None;
        if !faked {
            thread_local! {
                static RECEIVED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
            }
            self.msg_no = RECEIVED.with(|n| {
                let v = n.get().wrapping_add(1);
                n.set(v);
                v
            });
        } else {
            self.msg_no = next_faked_id();
        }
        self.tcp_flags = 0;
        self.ruri_bflags = 0;
        self.edits.clear();
        self.reply_headers.clear();
        self.reply_body = None;
        self.force_rport = self.rt.settings.force_rport;
        self.local_rport = false;
        self.via_srvid = false;
        self.branches.clear();
        self.replied = false;
        self.forced_socket = None;
        self.avps.reset();
        self.tm = Default::default();
        self.snd = None;
        self.rr.reset();
    }

    /// The event data of type `T`, when the running event carries one.
    pub fn event_data<T: 'static>(&self) -> Option<&T> {
        self.event.as_ref()?.downcast_ref::<T>()
    }

    /// The current Request-URI (`$ru`): the new one if the script changed it.
    pub fn ruri(&self) -> &[u8] {
        match &self.new_uri {
            Some(u) => u,
            None => self.msg.ruri_bytes(),
        }
    }

    /// The flags of branch `i` (0: the R-URI, `i`: `branches[i - 1]`); None
    /// when there is no such branch.
    pub fn branch_flags(&self, i: usize) -> Option<u32> {
        match i {
            0 => Some(self.ruri_bflags),
            i => self.branches.get(i - 1).map(|b| b.flags),
        }
    }

    /// The flags of branch `i` to change; None when there is no such branch.
    pub fn branch_flags_mut(&mut self, i: usize) -> Option<&mut u32> {
        match i {
            0 => Some(&mut self.ruri_bflags),
            i => self.branches.get_mut(i - 1).map(|b| &mut b.flags),
        }
    }

    /// Run `f` with this context bound to a worker's batched sender.
    pub fn with_io<R>(&mut self, io: &mut WorkerIo, f: impl FnOnce(&mut Ctx) -> R) -> R {
        self.io = Some(NonNull::from(io));
        let r = f(self);
        self.io = None;
        r
    }

    /// Send bytes: batched through the worker when running on one, else
    /// directly through the transport. Over TCP the script's
    /// `set_{reply,forward}_{close,no_connect}` flags apply (replies: the
    /// ones starting `SIP/`).
    pub fn send(&mut self, dest: &Dest, data: &[u8]) -> bool {
        if dest.proto != crate::transport::Proto::Tcp || self.tcp_flags == 0 {
            return self.send_now(dest, data);
        }
        let reply = data.starts_with(b"SIP/");
        let (close, no_connect) = if reply {
            (TcpFlags::REPLY_CLOSE, TcpFlags::REPLY_NO_CONNECT)
        } else {
            (TcpFlags::FORWARD_CLOSE, TcpFlags::FORWARD_NO_CONNECT)
        };
        if self.tcp_flags & no_connect != 0 && !self.rt.tcp_has_conn(dest) {
            tracing::error!("no open tcp connection to {} (no_connect set)", dest.addr);
            return false;
        }
        let ok = self.send_now(dest, data);
        if ok && self.tcp_flags & close != 0 {
            self.rt.tcp_close_after(dest);
        }
        ok
    }

    fn send_now(&mut self, dest: &Dest, data: &[u8]) -> bool {
        if let Some(mut io) = self.io {
            // SAFETY: set by `with_io` for the duration of the borrow of the
            // worker's `WorkerIo`, on this thread.
            let io = unsafe { io.as_mut() };
            return match io.send(dest, data) {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!("send to {}:{} failed: {e}", dest.proto, dest.addr);
                    false
                }
            };
        }
        self.rt.send(dest, data)
    }

    /// Flush batched sends (before anything that may block the thread).
    pub fn flush(&mut self) {
        if let Some(mut io) = self.io {
            // SAFETY: as in `send`.
            unsafe { io.as_mut() }.flush();
        }
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

/// Bits of [`Ctx::tcp_flags`].
pub struct TcpFlags;

impl TcpFlags {
    pub const FORWARD_CLOSE: u8 = 1;
    pub const REPLY_CLOSE: u8 = 2;
    pub const FORWARD_NO_CONNECT: u8 = 4;
    pub const REPLY_NO_CONNECT: u8 = 8;
}

/// `$mi` of a faked request, as Kamailio numbers them: each process counts
/// the faked requests it builds, starting from what the main process had
/// built before forking (`htable:mod-init`). Here: a count per thread,
/// starting from the main thread's count at the thread's first event.
pub(crate) fn next_faked_id() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static MAIN: AtomicU32 = AtomicU32::new(0);
    thread_local! {
        /// This thread's last id, and whether it is the main thread (asked
        /// once: the thread's name is behind a reference count).
        static FAKED: std::cell::Cell<Option<(u32, bool)>> = const { std::cell::Cell::new(None) };
    }
    FAKED.with(|f| {
        let (last, main) = f.get().unwrap_or_else(|| {
            let main = std::thread::current().name() == Some("main");
            (MAIN.load(Ordering::Relaxed), main)
        });
        let v = last.wrapping_add(1);
        f.set(Some((v, main)));
        if main {
            MAIN.store(v, Ordering::Relaxed);
        }
        v
    })
}
