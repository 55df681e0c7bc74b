//! Kamailio's `auto_aliases`: each listener bound to an IP address gets the
//! host name that address resolves back to (127.0.0.1 → `localhost` from
//! /etc/hosts) as an alias, so `myself` matches `sip:x@localhost:5060`.

use super::{ListenerInfo, Proto};
use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A name `myself` matches on one listener's protocol and port.
#[derive(Debug, Clone)]
pub struct AutoAlias {
    pub proto: Proto,
    pub name: String,
    pub port: u16,
}

/// A reverse lookup may go to DNS: start-up waits this long at most for all
/// of them together (names found later are not used).
const LOOKUP_BUDGET: Duration = Duration::from_secs(2);

/// The aliases of `listeners` in listener order (listeners given by a host
/// name and wildcard addresses have none).
pub fn auto_aliases(listeners: &[ListenerInfo]) -> Vec<AutoAlias> {
    let (tx, rx) = mpsc::channel();
    let mut pending = 0;
    for (i, l) in listeners.iter().enumerate() {
        if l.host_name.is_some() || l.addr.ip().is_unspecified() {
            continue;
        }
        let (tx, ip) = (tx.clone(), l.addr.ip());
        let spawned = std::thread::Builder::new()
            .name("auto-alias".into())
            .spawn(move || {
                let _ = tx.send((i, name_of(ip)));
            });
        if spawned.is_ok() {
            pending += 1;
        }
    }
    let mut names = vec![None; listeners.len()];
    let deadline = Instant::now() + LOOKUP_BUDGET;
    while pending > 0 {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            break;
        };
        match rx.recv_timeout(left) {
            Ok((i, name)) => {
                pending -= 1;
                if let Some(slot) = names.get_mut(i) {
                    *slot = name;
                }
            }
            Err(_) => break,
        }
    }
    listeners
        .iter()
        .zip(names)
        .filter_map(|(l, name)| {
            let name = name.filter(|n| *n != l.addr.ip().to_string())?;
            Some(AutoAlias {
                proto: l.proto,
                name,
                port: l.addr.port(),
            })
        })
        .collect()
}

/// The host name `ip` resolves back to (`getnameinfo` with a name required).
fn name_of(ip: IpAddr) -> Option<String> {
    let sock = socket2::SockAddr::from(SocketAddr::new(ip, 0));
    let mut host = [0 as libc::c_char; 1025];
    // SAFETY: `sock` is a valid socket address of the given length and
    // `host` a writable buffer of the given size; no service is asked for.
    let rc = unsafe {
        libc::getnameinfo(
            sock.as_ptr().cast(),
            sock.len(),
            host.as_mut_ptr(),
            host.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string in `host`.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    name.to_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_from_the_hosts_file() {
        // Every Linux /etc/hosts names 127.0.0.1; which name comes first varies.
        assert!(name_of("127.0.0.1".parse().unwrap()).is_some_and(|n| !n.is_empty()));
    }
}
