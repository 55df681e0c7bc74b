//! Test harness: start the real `siprd` binary on a config and talk to it over
//! loopback as a real client would. Every wait is bounded.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(5);

/// A running siprd process with its collected log.
pub struct Siprd {
    child: Child,
    log: Arc<Mutex<LogPipes>>,
    pub dir: PathBuf,
    pub udp: Vec<SocketAddr>,
    pub tcp: Vec<SocketAddr>,
}

pub fn unique_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("siprd-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Run `siprd -c -f cfg` and return (exit code, stderr+stdout).
/// A config for transaction tests: `children` UDP workers on a free port with
/// pv, sl, tm, tmx, xlog and textops loaded, then `params` and `routes`.
pub fn tm_cfg(children: usize, params: &str, routes: &str) -> String {
    format!(
        r#"
debug=2
children={children}
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
{params}
{routes}
"#
    )
}

/// The reply a next hop sends to `req`: its Via, From, Call-ID and CSeq, its
/// To with `;tag=hoptag` (none on a 100), no body.
pub fn hop_reply(req: &str, status: &str) -> String {
    let mut lines = vec![format!("SIP/2.0 {status}")];
    for l in req.split("\r\n").skip(1).take_while(|l| !l.is_empty()) {
        let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        match name.as_str() {
            "via" | "from" | "call-id" | "cseq" => lines.push(l.to_string()),
            "to" if status.starts_with("100") => lines.push(l.to_string()),
            "to" => lines.push(format!("{l};tag=hoptag")),
            _ => {}
        }
    }
    lines.push("Content-Length: 0".into());
    lines.join("\r\n") + "\r\n\r\n"
}

/// A next hop for proxy tests: a UDP socket the test reads and answers.
pub struct NextHop {
    pub sock: UdpSocket,
}

impl NextHop {
    pub fn new() -> NextHop {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        NextHop { sock }
    }
    pub fn port(&self) -> u16 {
        self.sock.local_addr().map(|a| a.port()).unwrap_or(0)
    }
    /// Every datagram within `wait`.
    pub fn collect(&self, wait: Duration) -> Vec<(String, SocketAddr)> {
        let end = Instant::now() + wait;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                out.push((String::from_utf8_lossy(&buf[..n]).into_owned(), from));
            }
        }
        out
    }
    /// The next datagram within `wait` whose first line starts with `start`.
    pub fn recv_start(&self, start: &str, wait: Duration) -> Option<(String, SocketAddr)> {
        let end = Instant::now() + wait;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < end {
            if let Ok((n, from)) = self.sock.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                if m.starts_with(start) {
                    return Some((m, from));
                }
            }
        }
        None
    }
    /// Answers a received request with `status` ([`hop_reply`]).
    pub fn answer(&self, req: &str, to: SocketAddr, status: &str) {
        self.sock
            .send_to(hop_reply(req, status).as_bytes(), to)
            .expect("send");
    }
}

pub fn check_config(cfg: &str) -> (i32, String) {
    let dir = unique_dir();
    let path = dir.join("test.cfg");
    std::fs::write(&path, cfg).expect("write cfg");
    check_file(&path)
}

pub fn check_file(path: &std::path::Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_siprd"))
        .arg("-c")
        .arg("-f")
        .arg(path)
        .output()
        .expect("run siprd -c");
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stdout));
    (out.status.code().unwrap_or(-1), text)
}

/// A child's output pipe, read without blocking.
trait Pipe: Read + AsRawFd + Send {}
impl<T: Read + AsRawFd + Send> Pipe for T {}

/// siprd's stderr and stdout, read by whoever needs the text next: a
/// background thread (so siprd never blocks on a full pipe) or `Siprd::log`.
struct LogPipes {
    text: String,
    pipes: Vec<PipeState>,
}

/// A pipe (None once closed) with the start of a line not yet ended.
type PipeState = (Option<Box<dyn Pipe>>, Vec<u8>);

impl LogPipes {
    fn new(pipes: Vec<Box<dyn Pipe>>) -> LogPipes {
        for p in &pipes {
            let fd = p.as_raw_fd();
            // SAFETY: fcntl on a pipe fd we own.
            unsafe {
                let flags = libc::fcntl(fd, libc::F_GETFL);
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        LogPipes {
            text: String::new(),
            pipes: pipes.into_iter().map(|p| (Some(p), Vec::new())).collect(),
        }
    }

    fn open_fds(&self) -> Vec<i32> {
        self.pipes
            .iter()
            .filter_map(|(p, _)| p.as_ref().map(|p| p.as_raw_fd()))
            .collect()
    }

    /// Read what the pipes hold now; whole lines go to `text`.
    fn drain(&mut self) {
        let mut buf = [0u8; 65536];
        for (slot, partial) in &mut self.pipes {
            let Some(p) = slot else { continue };
            loop {
                match p.read(&mut buf) {
                    Ok(0) => {
                        *slot = None;
                        break;
                    }
                    Ok(n) => partial.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        *slot = None;
                        break;
                    }
                }
            }
            // a closed pipe's last line counts even without its newline
            let end = match partial.iter().rposition(|&b| b == b'\n') {
                Some(end) => end + 1,
                None if slot.is_none() => partial.len(),
                None => 0,
            };
            if end == 0 {
                continue;
            }
            let lines: Vec<u8> = partial.drain(..end).collect();
            let lines = String::from_utf8_lossy(&lines);
            for line in lines.lines() {
                if std::env::var_os("SIPRD_TEST_ECHO").is_some() {
                    eprintln!("[siprd] {line}");
                }
                self.text.push_str(line);
                self.text.push('\n');
            }
        }
    }
}

impl Siprd {
    /// Start siprd on `cfg` (which should listen on port 0) and wait until it is
    /// listening. Extra files can be written next to the config first.
    pub fn start(cfg: &str) -> Siprd {
        Self::start_with(cfg, &[], &[])
    }

    pub fn start_with(cfg: &str, files: &[(&str, &str)], args: &[&str]) -> Siprd {
        Self::start_env(cfg, files, args, &[])
    }

    /// Like `start_with`, with extra environment variables.
    pub fn start_env(
        cfg: &str,
        files: &[(&str, &str)],
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Siprd {
        let dir = unique_dir();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).expect("write file");
        }
        let path = dir.join("siprd.cfg");
        std::fs::write(&path, cfg).expect("write cfg");
        let mut child = Command::new(env!("CARGO_BIN_EXE_siprd"))
            .arg("-f")
            .arg(&path)
            .args(args)
            .envs(env.iter().copied())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn siprd");
        let pipes: Vec<Box<dyn Pipe>> = vec![
            Box::new(child.stderr.take().expect("stderr")),
            Box::new(child.stdout.take().expect("stdout")),
        ];
        let log = Arc::new(Mutex::new(LogPipes::new(pipes)));
        let reader = log.clone();
        std::thread::spawn(move || loop {
            let fds = {
                let mut l = reader.lock().unwrap();
                l.drain();
                l.open_fds()
            };
            if fds.is_empty() {
                break;
            }
            let mut polls: Vec<libc::pollfd> = fds
                .iter()
                .map(|&fd| libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            // SAFETY: `polls` is a valid array of pollfd for the call.
            unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, 50) };
        });
        let mut s = Siprd {
            child,
            log,
            dir,
            udp: Vec::new(),
            tcp: Vec::new(),
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let log = self.log();
            if log.contains("siprd started") {
                for line in log.lines() {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let spec = rest.split_whitespace().next().unwrap_or("");
                        let (proto, addr) = spec.split_once(':').unwrap_or(("", ""));
                        if let Ok(a) = addr.parse::<SocketAddr>() {
                            match proto {
                                "udp" => self.udp.push(a),
                                "tcp" => self.tcp.push(a),
                                _ => {}
                            }
                        }
                    }
                }
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("siprd exited early with {status}:\n{log}");
            }
            if Instant::now() > deadline {
                panic!("siprd did not start in time:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything siprd logged so far. The pipes are read first, so a line
    /// siprd wrote before it sent a reply is here once the test has the reply.
    pub fn log(&self) -> String {
        let mut l = self.log.lock().unwrap();
        l.drain();
        l.text.clone()
    }

    /// Wait until the log contains `needle` (bounded), returning whether it did.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Number of occurrences of `needle` in the log.
    pub fn count_log(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }

    /// Waits until `needle` occurs at least `n` times in the log.
    pub fn wait_log_count(&self, needle: &str, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.count_log(needle) >= n {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    pub fn udp_addr(&self) -> SocketAddr {
        *self.udp.first().expect("no udp listener")
    }

    pub fn tcp_addr(&self) -> SocketAddr {
        *self.tcp.first().expect("no tcp listener")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Send SIGTERM and wait for the exit (bounded); returns the time it took.
    pub fn terminate(&mut self) -> Duration {
        let t = Instant::now();
        unsafe { libc_kill(self.child.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return t.elapsed();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("siprd did not stop on SIGTERM");
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for Siprd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A UDP SIP client bound to an ephemeral loopback port.
pub struct UdpClient {
    pub sock: UdpSocket,
}

impl UdpClient {
    pub fn new() -> UdpClient {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client");
        // Bursts of replies (hundreds at once) must not overflow the default
        // buffer while the test thread checks each one.
        let _ = socket2::SockRef::from(&sock).set_recv_buffer_size(4 << 20);
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        UdpClient { sock }
    }

    pub fn port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    pub fn send(&self, to: SocketAddr, data: &str) {
        self.sock.send_to(data.as_bytes(), to).expect("send");
    }

    pub fn send_bytes(&self, to: SocketAddr, data: &[u8]) {
        self.sock.send_to(data, to).expect("send");
    }

    /// Receive one datagram within `timeout`.
    pub fn recv(&self, timeout: Duration) -> Option<String> {
        self.recv_from(timeout).map(|(s, _)| s)
    }

    pub fn recv_from(&self, timeout: Duration) -> Option<(String, SocketAddr)> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        while Instant::now() < deadline {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => {
                    return Some((String::from_utf8_lossy(&buf[..n]).into_owned(), from))
                }
                Err(_) => continue,
            }
        }
        None
    }

    /// Discard every datagram already received, without waiting.
    pub fn drain(&self) -> usize {
        let _ = self.sock.set_nonblocking(true);
        let mut buf = vec![0u8; 65536];
        let mut n = 0;
        while self.sock.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        let _ = self.sock.set_nonblocking(false);
        n
    }

    /// Send and wait for a reply whose first line is not a 1xx unless `provisional`.
    pub fn request(&self, to: SocketAddr, data: &str) -> String {
        self.send(to, data);
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Some(r) = self.recv(Duration::from_millis(200)) {
                if !r.starts_with("SIP/2.0 1") {
                    return r;
                }
            }
        }
        panic!("no final reply to:\n{data}");
    }

    /// Send `request(method, ruri, <this client's port>, call_id, "")`.
    pub fn send_request(&self, to: SocketAddr, method: &str, ruri: &str, call_id: &str) {
        self.send(to, &request(method, ruri, self.port(), call_id, ""));
    }

    /// `request` with `request(method, ruri, <this client's port>, call_id, "")`:
    /// the final reply.
    pub fn request_reply(&self, to: SocketAddr, method: &str, ruri: &str, call_id: &str) -> String {
        self.request(to, &request(method, ruri, self.port(), call_id, ""))
    }

    /// The first lines of the datagrams received until none comes for `gap`.
    pub fn first_lines(&self, gap: Duration) -> Vec<String> {
        let mut got = vec![];
        while let Some(m) = self.recv(gap) {
            got.push(first_line(&m).to_string());
        }
        got
    }

    /// Assert nothing arrives within `wait`.
    pub fn expect_silence(&self, wait: Duration) {
        if let Some(r) = self.recv(wait) {
            panic!("expected no datagram, got:\n{r}");
        }
    }
}

/// Build a request with the usual headers; `extra` is inserted before Content-Length.
pub fn request(method: &str, ruri: &str, client_port: u16, call_id: &str, extra: &str) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{client_port};branch=z9hG4bK-{call_id}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@127.0.0.1>;tag=from-{call_id}\r\n\
         To: <sip:bob@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// The value of the first header `name` in a SIP message (case-insensitive).
pub fn header<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
}

pub fn first_line(msg: &str) -> &str {
    msg.split("\r\n").next().unwrap_or("")
}

/// A TCP SIP client.
pub struct TcpClient {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl TcpClient {
    pub fn connect(addr: SocketAddr) -> TcpClient {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("tcp connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        TcpClient {
            stream,
            buf: Vec::new(),
        }
    }

    /// A connection accepted by the test (siprd connected to it).
    pub fn from_stream(stream: TcpStream) -> TcpClient {
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        TcpClient {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn port(&self) -> u16 {
        self.stream.local_addr().unwrap().port()
    }

    pub fn send(&mut self, data: &[u8]) {
        self.stream.write_all(data).expect("tcp write");
    }

    /// Read one SIP message (headers + Content-Length body) within `timeout`.
    pub fn recv(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned() + "\r\n";
                let cl = header(&head, "Content-Length")
                    .or_else(|| header(&head, "l"))
                    .and_then(|v| v.parse::<usize>().ok())
                    .unwrap_or(0);
                let total = end + 4 + cl;
                if self.buf.len() >= total {
                    let msg: Vec<u8> = self.buf.drain(..total).collect();
                    return Some(String::from_utf8_lossy(&msg).into_owned());
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => continue,
            }
        }
    }

    /// True when the server closed the connection within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut chunk = [0u8; 8192];
        while Instant::now() < deadline {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => continue,
            }
        }
        false
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A port that was free a moment ago (UDP).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

/// A port that was free a moment ago (TCP).
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free TCP port")
        .port()
}

/// One JSON-RPC request over jsonrpcs' datagram socket; the parsed reply,
/// None when none came within `timeout`.
pub fn rpc_datagram(port: u16, req: &[u8], timeout: Duration) -> Option<serde_json::Value> {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.set_read_timeout(Some(timeout)).expect("timeout");
    s.send_to(req, ("127.0.0.1", port)).expect("send");
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).ok()?;
    Some(serde_json::from_slice(&buf[..n]).expect("reply is JSON"))
}
