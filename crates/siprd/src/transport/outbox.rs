//! Queue of UDP datagrams flushed with `sendmmsg`.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use socket2::SockAddr;

use crate::log::RateLimit;

/// Flush early beyond this many datagrams or bytes.
const MAX_ITEMS: usize = 64;
const MAX_BYTES: usize = 1 << 20;

struct Item {
    fd: RawFd,
    off: usize,
    len: usize,
    dst: SockAddr,
}

pub(crate) struct Outbox {
    data: Vec<u8>,
    items: Vec<Item>,
    iov: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iov`/`hdrs` are only meaningful during `flush`
// (rebuilt each time, pointing into `data`/`items` owned by self).
unsafe impl Send for Outbox {}

static RL_SENDMMSG: RateLimit = RateLimit::new();

impl Outbox {
    pub(crate) fn new() -> Outbox {
        Outbox {
            data: Vec::new(),
            items: Vec::new(),
            iov: Vec::new(),
            hdrs: Vec::new(),
        }
    }

    /// Queues a datagram; returns true when the caller should flush now.
    pub(crate) fn push(&mut self, fd: RawFd, dst: &SocketAddr, data: &[u8]) -> bool {
        let off = self.data.len();
        self.data.extend_from_slice(data);
        self.items.push(Item {
            fd,
            off,
            len: data.len(),
            dst: SockAddr::from(*dst),
        });
        self.items.len() >= MAX_ITEMS || self.data.len() >= MAX_BYTES
    }

    /// Sends everything queued (errors are logged, rate-limited).
    pub(crate) fn flush(&mut self) {
        if self.items.is_empty() {
            return;
        }
        self.iov.clear();
        self.hdrs.clear();
        let base = self.data.as_mut_ptr();
        for it in &self.items {
            self.iov.push(libc::iovec {
                // SAFETY: off..off+len is inside data.
                iov_base: unsafe { base.add(it.off) } as *mut libc::c_void,
                iov_len: it.len,
            });
        }
        for (i, it) in self.items.iter().enumerate() {
            // SAFETY: zeroed msghdr is valid; we fill the fields we use.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_name = it.dst.as_ptr() as *mut libc::c_void;
            h.msg_hdr.msg_namelen = it.dst.len();
            h.msg_hdr.msg_iov = &mut self.iov[i] as *mut libc::iovec;
            h.msg_hdr.msg_iovlen = 1;
            self.hdrs.push(h);
        }
        let n = self.items.len();
        let mut start = 0;
        while start < n {
            let fd = self.items[start].fd;
            let mut end = start + 1;
            while end < n && self.items[end].fd == fd {
                end += 1;
            }
            let mut i = start;
            while i < end {
                let cnt = (end - i).min(1024) as libc::c_uint;
                // SAFETY: hdrs[i..i+cnt] are valid mmsghdrs pointing into live buffers.
                let rc = unsafe { libc::sendmmsg(fd, self.hdrs.as_mut_ptr().add(i), cnt, 0) };
                if rc > 0 {
                    i += rc as usize;
                    continue;
                }
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if let Some(s) = RL_SENDMMSG.check() {
                    let it = &self.items[i];
                    let dst = it
                        .dst
                        .as_socket()
                        .map_or_else(|| "?".to_string(), |a| a.to_string());
                    tracing::warn!(target: "transport", suppressed = s,
                        "udp send to {dst} ({} bytes) failed: {e}", it.len);
                }
                // Skip the datagram that failed and carry on with the rest.
                i += 1;
            }
            start = end;
        }
        self.items.clear();
        self.data.clear();
        if self.data.capacity() > 4 * MAX_BYTES {
            self.data.shrink_to(MAX_BYTES);
        }
    }
}
