//! The FIFO transport (`kamctl rpc`): JSON-RPC documents are written to the
//! server's FIFO; each carries `reply_name`, the name of a FIFO in
//! `fifo_reply_dir` that the client created and reads the reply from.

use crate::runtime::Runtime;
use serde_json::Value as Json;
use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct FifoConfig {
    pub path: String,
    pub reply_dir: String,
    pub mode: u32,
}

/// Largest pending request text; more without a complete document is dropped.
const MAX_PENDING: usize = 1 << 20;

/// Create the FIFO and serve it on a dedicated thread. `replace`: remove an
/// existing file first (configured explicitly, as Kamailio does).
pub fn start(rt: &Arc<Runtime>, cfg: FifoConfig, replace: bool) -> Result<(), String> {
    let path = Path::new(&cfg.path);
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        // A default path is only taken over from a dead server: a FIFO with
        // no reader (opening it for writing fails with ENXIO).
        let stale = meta.file_type().is_fifo() && !fifo_has_reader(path);
        if !replace && !stale {
            return Err(format!("{} exists and is in use", path.display()));
        }
        std::fs::remove_file(path).map_err(|e| {
            format!(
                "jsonrpcs: cannot remove the old FIFO {}: {e}",
                path.display()
            )
        })?;
    }
    let c = CString::new(cfg.path.as_bytes()).map_err(|_| "FIFO path contains NUL".to_string())?;
    // SAFETY: valid C string.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(format!(
            "jsonrpcs: cannot create the FIFO {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(cfg.mode & 0o777));
    // Read-write so the FIFO never reports end-of-file between writers.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("jsonrpcs: cannot open the FIFO {}: {e}", path.display()))?;
    let fd: OwnedFd = file.into();
    let rt = rt.clone();
    let reply_dir = PathBuf::from(&cfg.reply_dir);
    let fifo_path = PathBuf::from(&cfg.path);
    std::thread::Builder::new()
        .name("jsonrpcs-fifo".into())
        .spawn(move || {
            serve(&rt, &fd, &reply_dir);
            let _ = std::fs::remove_file(&fifo_path);
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Is a server reading this FIFO?
fn fifo_has_reader(path: &Path) -> bool {
    match std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(_) => true,
        Err(e) => e.raw_os_error() != Some(libc::ENXIO),
    }
}

fn serve(rt: &Runtime, fd: &OwnedFd, reply_dir: &Path) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 65536];
    while !rt.is_stopping() {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r <= 0 {
            continue;
        }
        // SAFETY: reading into our buffer from our fd.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            continue;
        }
        pending.extend_from_slice(&buf[..n as usize]);
        drain_documents(rt, &mut pending, reply_dir);
        if pending.len() > MAX_PENDING {
            tracing::error!("jsonrpcs: FIFO request too large, dropped");
            pending.clear();
        }
    }
}

/// Handle every complete JSON document at the front of `pending`.
fn drain_documents(rt: &Runtime, pending: &mut Vec<u8>, reply_dir: &Path) {
    loop {
        let start = pending
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(pending.len());
        pending.drain(..start);
        if pending.is_empty() {
            return;
        }
        let mut it = serde_json::Deserializer::from_slice(pending).into_iter::<Json>();
        match it.next() {
            Some(Ok(doc)) => {
                let used = it.byte_offset();
                pending.drain(..used);
                handle(rt, doc, reply_dir);
            }
            Some(Err(e)) if e.is_eof() => return, // wait for the rest
            Some(Err(e)) => {
                tracing::error!("jsonrpcs: invalid json document on the FIFO: {e}");
                // skip to the next line
                let skip = pending
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(pending.len(), |p| p + 1);
                pending.drain(..skip);
            }
            None => return,
        }
    }
}

fn handle(rt: &Runtime, mut doc: Json, reply_dir: &Path) {
    let reply_name = match doc.as_object_mut().and_then(|o| o.remove("reply_name")) {
        Some(Json::String(s)) => Some(s),
        _ => None,
    };
    let Some(reply) = rt.rpc.dispatch_value(&doc) else {
        return;
    };
    let Some(name) = reply_name else {
        tracing::warn!("jsonrpcs: FIFO request without reply_name: reply dropped");
        return;
    };
    if name.is_empty() || name.contains('/') || name == ".." || name == "." {
        tracing::error!("jsonrpcs: bad reply_name `{name}`");
        return;
    }
    let mut out = Vec::with_capacity(256);
    crate::rpc::write_pretty(&mut out, &reply);
    out.push(b'\n');
    let path = reply_dir.join(&name);
    if let Err(e) = write_reply(&path, &out) {
        tracing::error!(
            "jsonrpcs: cannot write the reply to {}: {e}",
            path.display()
        );
    }
}

/// Write to the client's reply FIFO (only a FIFO: never a regular file).
fn write_reply(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_fifo() {
        return Err(std::io::Error::other("not a FIFO"));
    }
    // The reader may not have opened it yet: retry a non-blocking open briefly.
    let deadline = Instant::now() + Duration::from_secs(2);
    let file = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e),
        }
    };
    // Non-blocking writes, waiting for room: a client that opened its FIFO
    // and stopped reading must not stall the FIFO transport for good.
    write_within(&file, data, REPLY_STALL)
}

/// Longest a reply write may make no progress before it is abandoned.
const REPLY_STALL: Duration = Duration::from_secs(2);

/// Write all of `data` to a non-blocking fd, giving up after `stall` without progress.
fn write_within(file: &std::fs::File, mut data: &[u8], stall: Duration) -> std::io::Result<()> {
    let mut f = file;
    while !data.is_empty() {
        match f.write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let mut pfd = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let ms = stall.as_millis().min(i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, ms) } == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the client does not read its reply FIFO",
                    ));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
