//! The kernel floor of a stateless UDP SIP responder: the least work any
//! server must do to answer OPTIONS with 200 (receive, copy Via/From/To/
//! Call-ID/CSeq, send), with no script, no module and no full parse. Run it
//! in place of a server under the same SIPp load to see how much of a
//! server's CPU per request is the kernel's share that no server can avoid.
//!
//!   cargo build --release -p siprd --example udp_floor
//!   target/release/examples/udp_floor 127.0.0.1:5101 [threads]
//!
//! Each thread blocks in `recvmmsg` on one shared socket and answers the batch
//! with one `sendmmsg`, as siprd's UDP workers do.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

const BATCH: usize = 32;
const BUF: usize = 65536;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = match args.next().and_then(|a| a.parse().ok()) {
        Some(a) => a,
        None => {
            eprintln!("usage: udp_floor IP:PORT [threads]");
            std::process::exit(2);
        }
    };
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let sock = match UdpSocket::bind(addr) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bind {addr}: {e}");
            std::process::exit(1);
        }
    };
    let fd = sock.as_raw_fd();
    let handles: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || serve(fd)))
        .collect();
    for h in handles {
        let _ = h.join();
    }
    drop(sock);
}

/// Copies the headers a reply must echo (RFC 3261 §8.2.6.2) behind a 200 line.
fn build_reply(req: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(b"SIP/2.0 200 OK\r\n");
    for line in req.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name = &line[..name_end];
        let echo = [
            &b"via"[..],
            b"v",
            b"from",
            b"f",
            b"to",
            b"t",
            b"call-id",
            b"i",
            b"cseq",
        ]
        .iter()
        .any(|h| name.trim_ascii().eq_ignore_ascii_case(h));
        if echo {
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
}

fn serve(fd: i32) {
    let mut bufs = vec![0u8; BATCH * BUF];
    // SAFETY: all-zero is a valid sockaddr_storage / mmsghdr / iovec.
    let mut addrs: Vec<libc::sockaddr_storage> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut iovs: Vec<libc::iovec> = (0..BATCH)
        .map(|i| libc::iovec {
            iov_base: bufs[i * BUF..].as_mut_ptr().cast(),
            iov_len: BUF,
        })
        .collect();
    let mut hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut replies: Vec<Vec<u8>> = (0..BATCH).map(|_| Vec::with_capacity(1024)).collect();
    let mut out_iovs: Vec<libc::iovec> = vec![unsafe { std::mem::zeroed() }; BATCH];
    let mut out_hdrs: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; BATCH];
    loop {
        for i in 0..BATCH {
            hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            hdrs[i].msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            hdrs[i].msg_hdr.msg_iov = &mut iovs[i];
            hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: every header points at live buffers of this frame.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            let len = hdrs[i].msg_len as usize;
            build_reply(&bufs[i * BUF..i * BUF + len], &mut replies[i]);
            out_iovs[i] = libc::iovec {
                iov_base: replies[i].as_mut_ptr().cast(),
                iov_len: replies[i].len(),
            };
            out_hdrs[i].msg_hdr.msg_name = (&mut addrs[i] as *mut libc::sockaddr_storage).cast();
            out_hdrs[i].msg_hdr.msg_namelen = hdrs[i].msg_hdr.msg_namelen;
            out_hdrs[i].msg_hdr.msg_iov = &mut out_iovs[i];
            out_hdrs[i].msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: as above, for the reply buffers.
        unsafe { libc::sendmmsg(fd, out_hdrs.as_mut_ptr(), n as u32, 0) };
    }
}
