//! Random steering of a SO_REUSEPORT group with a classic BPF program.
//!
//! Plain SO_REUSEPORT hashes the 4-tuple, so every packet of one peer (a trunk)
//! lands on one worker. This 3-instruction program returns `random % n`, the index
//! of the socket in the group (sockets are indexed in bind order), so packets are
//! spread evenly over the workers whatever their source.

use std::io;
use std::os::fd::RawFd;

const SKF_AD_OFF: i32 = -0x1000;
const SKF_AD_RANDOM: i32 = 56;
/// `SO_ATTACH_REUSEPORT_CBPF` (asm-generic value; same on x86_64 and aarch64).
pub const SO_ATTACH_REUSEPORT_CBPF: libc::c_int = 51;

/// The program for a group of `n` sockets.
pub fn random_steering_program(n: u32) -> [libc::sock_filter; 3] {
    [
        // A = random u32
        libc::sock_filter {
            code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
            jt: 0,
            jf: 0,
            k: (SKF_AD_OFF + SKF_AD_RANDOM) as u32,
        },
        // A %= n
        libc::sock_filter {
            code: (libc::BPF_ALU | libc::BPF_MOD | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: n.max(1),
        },
        // return A (the socket index)
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_A) as u16,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ]
}

/// Attaches the random-steering program to the reuseport group of `fd` (a bound
/// socket with SO_REUSEPORT) of `n` sockets.
pub fn attach_random_steering(fd: RawFd, n: u32) -> io::Result<()> {
    let mut prog = random_steering_program(n);
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: fprog points to a valid program for the duration of the call.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            SO_ATTACH_REUSEPORT_CBPF,
            &fprog as *const libc::sock_fprog as *const libc::c_void,
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
