//! UDP listeners: socket groups and the worker receive loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::receivers::Receivers;
use super::{
    guarded, Error, Handler, ListenerId, Proto, Received, Steering, TransportConfig, WorkerIo,
};
use crate::log::RateLimit;

/// Receive buffer per datagram: the largest UDP payload (65535 - 8 - 20 for IPv4,
/// 65527 for IPv6) fits whole; a bigger one is reported truncated and dropped.
pub(crate) const RECV_BUF: usize = 65536;

/// How long a blocked receive waits before re-checking the stop flag (a
/// backstop: shutdown wakes blocked receivers at once).
const RECV_TIMEOUT: Duration = Duration::from_millis(500);

pub(crate) struct UdpGroup {
    pub addr: SocketAddr,
    pub sock: Arc<Socket>,
    pub receivers: Arc<Receivers>,
    pub steering: Steering,
}

fn bind_err(addr: SocketAddr, e: io::Error) -> Error {
    Error::Bind {
        proto: Proto::Udp,
        addr,
        source: e,
    }
}

fn new_socket(addr: SocketAddr, cfg: &TransportConfig) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if let Some(n) = cfg.udp_rcvbuf {
        grow_rcvbuf(&s, n);
    }
    s.set_read_timeout(Some(RECV_TIMEOUT))?;
    s.bind(&SockAddr::from(addr))?;
    Ok(s)
}

/// Asks for a receive buffer of `size` bytes so bursts are absorbed while
/// routes run. SO_RCVBUFFORCE passes `net.core.rmem_max` when the process may
/// (CAP_NET_ADMIN); otherwise SO_RCVBUF is capped by the kernel.
pub(crate) fn grow_rcvbuf(sock: &Socket, size: usize) {
    let n = size.min(i32::MAX as usize) as libc::c_int;
    // SAFETY: a valid fd and a pointer to a c_int of the length given.
    let forced = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&n as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    } == 0;
    if !forced {
        let _ = sock.set_recv_buffer_size(size);
    }
}

/// Binds the socket of one UDP listener, shared by its `n` workers (see
/// [`super::receivers`] for how they take turns).
pub(crate) fn bind_group(
    addr: SocketAddr,
    n: usize,
    cfg: &TransportConfig,
) -> Result<UdpGroup, Error> {
    let s = new_socket(addr, cfg).map_err(|e| bind_err(addr, e))?;
    let bound = local_addr(&s).map_err(|e| bind_err(addr, e))?;
    let receivers = Arc::new(Receivers::new(s.as_raw_fd(), n));
    Ok(UdpGroup {
        addr: bound,
        sock: Arc::new(s),
        receivers,
        steering: if n <= 1 {
            Steering::Single
        } else {
            Steering::Shared
        },
    })
}

fn local_addr(s: &Socket) -> io::Result<SocketAddr> {
    s.local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("not an inet socket"))
}

/// Converts a kernel-filled sockaddr_storage.
pub(crate) fn sockaddr_to_std(
    ss: &libc::sockaddr_storage,
    len: libc::socklen_t,
) -> Option<SocketAddr> {
    match ss.ss_family as i32 {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: family and length checked.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr))),
                u16::from_be(sin.sin_port),
            ))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: family and length checked.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Zeroed memory straight from the kernel, so that only the pages a datagram
/// lands on become resident: a batch reserves 64 KiB per slot (the largest
/// datagram) but SIP datagrams touch one or two pages of it. (The allocator
/// may zero a large calloc by hand, which made 4 MiB per worker resident.)
struct LazyPages {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: plain memory owned by this value; access goes through &/&mut self.
unsafe impl Send for LazyPages {}

impl LazyPages {
    fn new(len: usize) -> LazyPages {
        // SAFETY: an anonymous private mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            // Out of address space at start-up: nothing sensible to do.
            std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(len, 4096)
                    .unwrap_or(std::alloc::Layout::new::<u8>()),
            );
        }
        LazyPages { ptr: p.cast(), len }
    }

    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: a live mapping of `len` bytes (zero-filled by the kernel).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for LazyPages {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Buffers for one recvmmsg batch. Heap blocks never move, so the pointers set
/// up once stay valid.
pub(crate) struct RecvBatch {
    bufs: LazyPages,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

impl RecvBatch {
    pub(crate) fn new(n: usize) -> RecvBatch {
        let mut bufs = LazyPages::new(n * RECV_BUF);
        // SAFETY: all-zero is valid for these C structs.
        let mut addrs: Box<[libc::sockaddr_storage]> =
            (0..n).map(|_| unsafe { std::mem::zeroed() }).collect();
        let mut iovs: Box<[libc::iovec]> = (0..n)
            .map(|i| libc::iovec {
                // SAFETY: in bounds.
                iov_base: unsafe { bufs.as_mut_ptr().add(i * RECV_BUF) } as *mut libc::c_void,
                iov_len: RECV_BUF,
            })
            .collect();
        let hdrs: Box<[libc::mmsghdr]> = (0..n)
            .map(|i| {
                // SAFETY: zeroed mmsghdr is valid.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = &mut addrs[i] as *mut _ as *mut libc::c_void;
                h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
                h.msg_hdr.msg_iov = &mut iovs[i] as *mut libc::iovec;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        RecvBatch {
            bufs,
            addrs,
            iovs,
            hdrs,
        }
    }

    /// `nonblocking`: return `WouldBlock` at once when nothing is queued.
    pub(crate) fn recv(&mut self, fd: i32, nonblocking: bool) -> io::Result<usize> {
        for h in self.hdrs.iter_mut() {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: hdrs point to live buffers owned by self.
        let rc = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                if nonblocking {
                    libc::MSG_WAITFORONE | libc::MSG_DONTWAIT
                } else {
                    libc::MSG_WAITFORONE
                },
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    /// Datagram `i` of the last batch: data, source, and whether it was
    /// truncated (larger than [`RECV_BUF`]).
    pub(crate) fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>, bool) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(RECV_BUF);
        let _ = &self.iovs;
        let data = &self.bufs.as_slice()[i * RECV_BUF..i * RECV_BUF + len];
        let src = sockaddr_to_std(&self.addrs[i], h.msg_hdr.msg_namelen);
        (data, src, h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0)
    }
}

static RL_RECV: RateLimit = RateLimit::new();
static RL_TRUNC: RateLimit = RateLimit::new();

/// Where a UDP worker receives from and how it takes turns.
pub(crate) struct WorkerRecv {
    pub sock: Arc<Socket>,
    pub receivers: Arc<Receivers>,
    /// The listener's first worker starts as its receiver; the others park.
    pub first: bool,
    pub local: SocketAddr,
    pub listener: ListenerId,
    pub batch: usize,
}

/// The receive loop of one UDP worker.
pub(crate) fn worker_loop(w: &WorkerRecv, io: &mut WorkerIo, h: &dyn Handler, stop: &AtomicBool) {
    let (local, turns) = (w.local, &*w.receivers);
    let fd = w.sock.as_raw_fd();
    let mut rb = RecvBatch::new(w.batch);
    let mut has_turn = w.first;
    while !stop.load(Ordering::Relaxed) {
        if !has_turn {
            if !turns.wait_turn(stop) {
                break;
            }
            has_turn = true;
        }
        let shared = turns.others_free();
        let n = match rb.recv(fd, shared) {
            Ok(n) => n,
            Err(e) => {
                match e.kind() {
                    io::ErrorKind::WouldBlock if shared => {
                        // Nothing queued: the other receivers suffice.
                        if turns.give_back() {
                            has_turn = false;
                        }
                    }
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => {}
                    _ => {
                        if let Some(s) = RL_RECV.check() {
                            tracing::error!(target: "transport", suppressed = s, "udp:{local}: receive failed: {e}");
                        }
                        // Do not spin on a persistent error.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                continue;
            }
        };
        if stop.load(Ordering::Relaxed) {
            break;
        }
        turns.batch_started();
        io.batching = true;
        for i in 0..n {
            let (data, src, truncated) = rb.datagram(i);
            let Some(src) = src else { continue };
            if truncated {
                if let Some(s) = RL_TRUNC.check() {
                    tracing::warn!(target: "transport", suppressed = s,
                        "udp:{local}: datagram from {src} larger than {RECV_BUF} bytes dropped");
                }
                continue;
            }
            let pkt = Received {
                data: Bytes::copy_from_slice(data),
                src,
                local,
                proto: Proto::Udp,
                listener: w.listener,
                conn: None,
                framing_error: false,
            };
            guarded("on_message", || h.on_message(io, pkt));
        }
        io.batching = false;
        io.flush();
        turns.batch_done(n == w.batch);
    }
}
