//! UDP listeners: socket groups and the worker receive loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{
    bpf, guarded, Error, Handler, ListenerId, Proto, Received, Steering, TransportConfig, WorkerIo,
};
use crate::log::RateLimit;

/// Receive buffer per datagram: the largest UDP payload (65535 - 8 - 20 for IPv4,
/// 65527 for IPv6) fits whole; a bigger one is reported truncated and dropped.
pub(crate) const RECV_BUF: usize = 65536;

/// How long a blocked receive waits before re-checking the stop flag.
const RECV_TIMEOUT: Duration = Duration::from_millis(100);

pub(crate) struct UdpGroup {
    pub addr: SocketAddr,
    pub socks: Vec<Arc<Socket>>,
    pub steering: Steering,
}

fn bind_err(addr: SocketAddr, e: io::Error) -> Error {
    Error::Bind {
        proto: Proto::Udp,
        addr,
        source: e,
    }
}

fn new_socket(addr: SocketAddr, reuseport: bool, cfg: &TransportConfig) -> io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    if reuseport {
        s.set_reuse_port(true)?;
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

static RL_BPF: RateLimit = RateLimit::new();

/// Binds the sockets of one UDP listener for `n` workers.
pub(crate) fn bind_group(
    addr: SocketAddr,
    n: usize,
    cfg: &TransportConfig,
) -> Result<UdpGroup, Error> {
    if n <= 1 || !cfg.udp_reuseport_bpf {
        let s = new_socket(addr, false, cfg).map_err(|e| bind_err(addr, e))?;
        let bound = local_addr(&s).map_err(|e| bind_err(addr, e))?;
        return Ok(UdpGroup {
            addr: bound,
            socks: vec![Arc::new(s)],
            steering: if n <= 1 {
                Steering::Single
            } else {
                Steering::Shared
            },
        });
    }
    // Probe without SO_REUSEPORT: reports "Address already in use" when another
    // process (e.g. a second siprd or Kamailio) holds the port, which a reuseport
    // group would otherwise silently share, and resolves port 0.
    let bound = {
        let probe = new_socket(addr, false, cfg).map_err(|e| bind_err(addr, e))?;
        local_addr(&probe).map_err(|e| bind_err(addr, e))?
    };
    let mut socks = Vec::with_capacity(n);
    for _ in 0..n {
        match new_socket(bound, true, cfg) {
            Ok(s) => socks.push(Arc::new(s)),
            Err(e) => return Err(bind_err(bound, e)),
        }
    }
    match bpf::attach_random_steering(socks[0].as_raw_fd(), n as u32) {
        Ok(()) => Ok(UdpGroup {
            addr: bound,
            socks,
            steering: Steering::ReuseportBpf,
        }),
        Err(e) => {
            if RL_BPF.allow() {
                tracing::warn!(target: "transport",
                    "udp:{bound}: cannot attach the reuseport steering BPF ({e}); workers share one socket");
            }
            socks.truncate(1);
            Ok(UdpGroup {
                addr: bound,
                socks,
                steering: Steering::Shared,
            })
        }
    }
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

/// Buffers for one recvmmsg batch. Heap blocks never move, so the pointers set
/// up once stay valid.
struct RecvBatch {
    bufs: Box<[u8]>,
    addrs: Box<[libc::sockaddr_storage]>,
    iovs: Box<[libc::iovec]>,
    hdrs: Box<[libc::mmsghdr]>,
}

impl RecvBatch {
    fn new(n: usize) -> RecvBatch {
        // vec![0; ..] uses calloc: pages are only touched when a datagram lands.
        let mut bufs = vec![0u8; n * RECV_BUF].into_boxed_slice();
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

    fn recv(&mut self, fd: i32) -> io::Result<usize> {
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
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }

    fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>, bool) {
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(RECV_BUF);
        let _ = &self.iovs;
        let data = &self.bufs[i * RECV_BUF..i * RECV_BUF + len];
        let src = sockaddr_to_std(&self.addrs[i], h.msg_hdr.msg_namelen);
        (data, src, h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0)
    }
}

static RL_RECV: RateLimit = RateLimit::new();
static RL_TRUNC: RateLimit = RateLimit::new();

/// The receive loop of one UDP worker.
pub(crate) fn worker_loop(
    sock: &Socket,
    io: &mut WorkerIo,
    h: &dyn Handler,
    local: SocketAddr,
    listener: ListenerId,
    batch: usize,
    stop: &AtomicBool,
) {
    let fd = sock.as_raw_fd();
    let mut rb = RecvBatch::new(batch);
    while !stop.load(Ordering::Relaxed) {
        let n = match rb.recv(fd) {
            Ok(n) => n,
            Err(e) => {
                match e.kind() {
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
                listener,
                conn: None,
                framing_error: false,
            };
            guarded("on_message", || h.on_message(io, pkt));
        }
        io.batching = false;
        io.flush();
    }
}
