//! Bad input never crashes: mutated SIP messages against a config that reads
//! and writes many parts of the message. The server must keep answering, and
//! no handler may panic (the transport would catch it and log "panicked").

mod common;

use common::*;

const CFG: &str = r#"
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
request_route {
    $var(a) = $ru + $rU + $rd + $rp + $fu + $fU + $fd + $fn + $ft + $tu + $tU + $tt + $ci + $cs + $rm;
    $var(b) = $(ru{uri.user}) + $(fu{uri.host}) + $(hdr(Via)[0]) + $(hdr(Via)[-1]) + $hdrc(Via) + $ua + $ct + $cl + $bs;
    $var(c) = $(ct{nameaddr.uri}{uri.port}) + $(hdr(To){tobody.tag}) + $(var(b){s.select,1,;}) + $(rb{s.len});
    if ($rU != "") { $rU = "changed"; $rd = "example.com"; $rp = 5070; }
    mf_process_maxfwd_header("10");
    append_hf("X-Seen: yes\r\n");
    remove_hf("User-Agent");
    if (is_method("ACK")) { exit; }
    if (has_totag() && search("^X-")) { sl_send_reply("403", "Forbidden"); exit; }
    sl_send_reply("200", "OK $rU");
}
"#;

fn base(port: u16, i: usize) -> Vec<u8> {
    format!(
        "INVITE sip:bob@example.com:5062;transport=udp SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{i};rport\r\n\
         Via: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bKold\r\n\
         Max-Forwards: 70\r\n\
         From: \"Alice, A.\" <sip:alice@example.com>;tag=ft{i}\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: robust-{i}@host\r\n\
         CSeq: {i} INVITE\r\n\
         Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires=60\r\n\
         User-Agent: robust/1\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 10\r\n\r\n0123456789"
    )
    .into_bytes()
}

#[test]
fn mutated_messages_never_panic_and_the_server_keeps_serving() {
    let mut s = Siprd::start(CFG);
    let c = UdpClient::new();
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for i in 0..600 {
        let mut m = base(c.port(), i);
        match rng.usize(0..5) {
            0 => {
                // flip a few bytes to arbitrary values
                for _ in 0..rng.usize(1..8) {
                    let at = rng.usize(0..m.len());
                    m[at] = rng.u8(..);
                }
            }
            1 => {
                // truncate anywhere
                let cut = rng.usize(0..m.len());
                m.truncate(cut.max(1));
            }
            2 => {
                // replace structural characters
                for b in m.iter_mut() {
                    if matches!(*b, b':' | b';' | b'<' | b'>' | b'@' | b'"') && rng.u8(..) < 24 {
                        *b = [b':', b';', b'<', b'>', b'@', b'"', b',', b' '][rng.usize(0..8)];
                    }
                }
            }
            3 => {
                // insert junk in the middle of a line
                let at = rng.usize(0..m.len());
                let junk: Vec<u8> = (0..rng.usize(1..40)).map(|_| rng.u8(..)).collect();
                m.splice(at..at, junk);
            }
            _ => {
                // duplicate a random slice
                let a = rng.usize(0..m.len());
                let b = (a + rng.usize(0..60)).min(m.len());
                let dup = m[a..b].to_vec();
                m.splice(a..a, dup);
            }
        }
        c.send_bytes(s.udp_addr(), &m);
        c.drain();
    }
    // Late replies to the mutated messages may still arrive: take ours by Call-ID.
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:alive@127.0.0.1", c.port(), "alive", ""),
    );
    let deadline = std::time::Instant::now() + WAIT;
    let r = loop {
        let r = c.recv(WAIT).expect("a reply to the final OPTIONS");
        if header(&r, "Call-ID") == Some("alive") {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no reply to the final OPTIONS"
        );
    };
    assert_eq!(first_line(&r), "SIP/2.0 200 OK changed");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(s.is_running());
    let log = s.log();
    assert!(!log.contains("panicked"), "a handler panicked:\n{log}");
}

/// `siprd -c` on a config file given as bytes: (exit code, output).
fn check_bytes(name: &str, cfg: &[u8]) -> (i32, String, std::path::PathBuf) {
    let path = unique_dir().join(name);
    std::fs::write(&path, cfg).expect("write cfg");
    let (code, out) = check_file(&path);
    (code, out, path)
}

#[test]
fn a_config_that_is_not_utf8_is_an_error_at_the_bad_byte() {
    // Latin-1 in comments is ignored, as Kamailio ignores it (old configs
    // have accented comments), whatever the comment style ...
    let (code, out, _) = check_bytes(
        "comments.cfg",
        b"loadmodule \"xlog.so\"\n# R\xe9sum\xe9\nrequest_route { /* caf\xe9 \"x */ xlog(\"# \"); // \xe0 bient\xf4t\n  xlog('\\'); # \xe0 \n  exit;\n}\n",
    );
    assert_eq!(code, 0, "{out}");
    // ... but not elsewhere: a string is sent as written, so its encoding
    // must be known.
    let (code, out, path) = check_bytes(
        "latin1.cfg",
        b"request_route {\n  xlog(\"caf\xe9\\n\"); # caf\xe9\n  exit;\n}\n",
    );
    assert_eq!(code, 1, "{out}");
    let at = format!(
        "{}:2:12: error: the file is not valid UTF-8",
        path.display()
    );
    assert!(out.contains(&at), "{out}");
    assert!(out.contains("iconv"), "{out}");
    // the same through include_file
    let dir = path.parent().unwrap();
    std::fs::write(dir.join("main.cfg"), "include_file \"latin1.cfg\"\n").unwrap();
    let (code, out) = check_file(&dir.join("main.cfg"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("latin1.cfg:2:12: error: the file is not valid UTF-8"),
        "{out}"
    );
}

#[test]
fn an_endless_config_file_is_refused_not_read_forever() {
    let (code, out) = check_file(std::path::Path::new("/dev/zero"));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("cannot read `/dev/zero`: larger than 64 MiB"),
        "{out}"
    );
}

/// Config errors found by tests/fuzz/cfg_fuzz.py that were unclear: each
/// must name its place and say what is wrong in words.
#[test]
fn unclear_config_errors_are_clear() {
    let head = "loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"textops.so\"\n";
    for (body, want) in [
        (
            "request_route { $var(a) = $K(FOO); }",
            "test.cfg:4:27: error: in `$K(FOO)`: unknown $K key `FOO` (IPv4,",
        ),
        (
            "request_route { $var(a) = $msg(nope); }",
            "error: in `$msg(nope)`: unknown $msg key `nope` (buf,",
        ),
        (
            "request_route { is_method(\"\"); }",
            "test.cfg:4:27: error: no method name in ``: expected e.g. \"INVITE\" or \"INVITE|BYE\"",
        ),
        (
            "sl_send_reply(\"200\", \"OK\");\nrequest_route { exit; }",
            "test.cfg:4:14: error: expected `=` after `sl_send_reply`, found `(` -- a function call must be inside a route block",
        ),
        (
            "route(R);\nrequest_route { exit; }",
            "-- a function call must be inside a route block, e.g. `request_route { route(...); }`",
        ),
        (
            "loadmodule \"tmx.so\"\nrequest_route { t_reply_callid(\"a\", \"1\", \"404\", \"x\"); }",
            "test.cfg:5:32: error: tm is not loaded: add loadmodule \"tm.so\"",
        ),
    ] {
        let (code, out) = check_config(&format!("{head}{body}\n"));
        assert_eq!(code, 1, "{body}: {out}");
        assert!(out.contains(want), "{body}: want {want}\n{out}");
    }
}

/// A FIFO client that opens its reply FIFO and never reads it: the reply
/// write gives up (it used to block the FIFO transport for good).
#[test]
fn a_fifo_client_that_stops_reading_does_not_stall_the_fifo() {
    use std::io::{Read, Write};
    let dir = unique_dir();
    let fifo = dir.join("rpc.fifo");
    let cfg = format!(
        "children=1\nlisten=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"jsonrpcs.so\"\n\
         modparam(\"jsonrpcs\", \"transport\", 2)\nmodparam(\"jsonrpcs\", \"fifo_name\", \"{}\")\n\
         modparam(\"jsonrpcs\", \"fifo_reply_dir\", \"{}/\")\nrequest_route {{ drop; }}\n",
        fifo.display(),
        dir.display()
    );
    let mut s = Siprd::start(&cfg);
    let mkfifo = |name: &str| {
        let p = dir.join(name);
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        p
    };
    // the stuck client: its FIFO is open for reading, nobody reads, and the
    // reply (an echo of 200 KB) is larger than a pipe holds
    let stuck = mkfifo("stuck");
    let _held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&stuck)
        .unwrap();
    let big = "x".repeat(200_000);
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    writeln!(
        w,
        "{{\"jsonrpc\": \"2.0\", \"method\": \"core.echo\", \"params\": [\"{big}\"], \"reply_name\": \"stuck\", \"id\": 1}}"
    )
    .unwrap();
    // a good client after it is still answered
    let good = mkfifo("good");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        std::fs::File::open(&good)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out
    });
    writeln!(
        w,
        "{{\"jsonrpc\": \"2.0\", \"method\": \"core.echo\", \"params\": [\"ok\"], \"reply_name\": \"good\", \"id\": 2}}"
    )
    .unwrap();
    drop(w);
    let t = std::time::Instant::now();
    let out = reader.join().unwrap();
    assert!(out.contains("\"ok\""), "{out}");
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(s.wait_log("cannot write the reply", WAIT), "{}", s.log());
    assert!(s.is_running());
}

/// An HTTP JSON-RPC client that sends requests and never reads the replies:
/// the server gives up writing to it (it used to hold the connection's
/// thread forever; 32 such clients stopped the HTTP transport).
#[test]
fn an_http_rpc_client_that_stops_reading_is_dropped() {
    use std::io::{Read, Write};
    let port = free_tcp_port();
    let s = Siprd::start(&format!(
        "children=1\nlisten=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"jsonrpcs.so\"\n\
         modparam(\"jsonrpcs\", \"transport\", 1)\nmodparam(\"jsonrpcs\", \"http_listen\", \"tcp:127.0.0.1:{port}\")\n\
         request_route {{ drop; }}\n"
    ));
    let body = format!(
        "{{\"jsonrpc\": \"2.0\", \"method\": \"core.echo\", \"params\": [\"{}\"], \"id\": 1}}",
        "x".repeat(900_000)
    );
    let req = format!(
        "POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    // a small receive buffer (no autotuning) so the replies pile up at the server
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(8192).unwrap();
    let to: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    sock.connect(&to.into()).unwrap();
    let mut c: std::net::TcpStream = sock.into();
    c.set_read_timeout(Some(std::time::Duration::from_secs(3)))
        .unwrap();
    let mut w = c.try_clone().unwrap();
    let n = 10;
    let writer = std::thread::spawn(move || {
        for _ in 0..n {
            if w.write_all(req.as_bytes()).is_err() {
                break;
            }
        }
    });
    // longer than the server's 5 s write timeout
    std::thread::sleep(std::time::Duration::from_secs(7));
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let closed = loop {
        match c.read(&mut chunk) {
            Ok(0) => break true,
            Ok(k) => got.extend_from_slice(&chunk[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    drop(c);
    let _ = writer.join();
    let replies = memchr::memmem::find_iter(&got, b"HTTP/1.1 200").count();
    assert!(
        closed,
        "the connection stayed open ({replies} replies read)"
    );
    assert!(replies < n, "all {replies} replies were written");
    // the transport still answers
    let v = http_rpc(
        port,
        "{\"jsonrpc\": \"2.0\", \"method\": \"core.echo\", \"params\": [\"ok\"], \"id\": 2}",
    );
    assert!(v.contains("\"ok\""), "{v}");
    let log = s.log();
    assert!(!log.contains("panicked"), "{log}");
}

fn http_rpc(port: u16, body: &str) -> String {
    use std::io::{Read, Write};
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        c,
        "POST /RPC HTTP/1.0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    let _ = c.read_to_string(&mut out);
    out
}

/// A huge thread count is a config error: it used to start spawning threads
/// until memory ran out (async workers, evrexec workers, async_workers).
#[test]
fn huge_thread_counts_are_config_errors() {
    let head = "loadmodule \"pv.so\"\nloadmodule \"tm.so\"\nloadmodule \"async.so\"\nloadmodule \"evrexec.so\"\n";
    for (line, want) in [
        (
            "children=2000000000",
            "test.cfg:5:10: error: bad value for `children`: 2000000000 threads is too many (at most 1024)",
        ),
        ("tcp_children=1025", "1025 threads is too many (at most 1024)"),
        ("async_workers=2000000000", "2000000000 threads is too many"),
        (
            "modparam(\"async\", \"workers\", 2000000000)",
            "test.cfg:5:30: error: bad value for async.workers: 2000000000 workers is too many (at most 1024)",
        ),
        (
            "modparam(\"evrexec\", \"exec\", \"name=evrexec:x;workers=4000000000;\")",
            "4000000000 workers is too many (at most 1024)",
        ),
    ] {
        let (code, out) =
            check_config(&format!("{head}{line}\nrequest_route {{ exit; }}\nevent_route[evrexec:x] {{ exit; }}\n"));
        assert_eq!(code, 1, "{line}: {out}");
        assert!(out.contains(want), "{line}: want {want}\n{out}");
    }
    let (code, out) = check_config(&format!("{head}children=1024\nrequest_route {{ exit; }}\n"));
    assert_eq!(code, 0, "{out}");
}

/// An HTTP JSON-RPC client that trickles its request a byte at a time is
/// dropped after 10 s (it held one of the 32 connection threads for good).
#[test]
fn an_http_rpc_client_that_trickles_is_dropped() {
    use std::io::{Read, Write};
    let port = free_tcp_port();
    let _s = Siprd::start(&format!(
        "children=1\nlisten=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"jsonrpcs.so\"\n\
         modparam(\"jsonrpcs\", \"transport\", 1)\nmodparam(\"jsonrpcs\", \"http_listen\", \"tcp:127.0.0.1:{port}\")\n\
         request_route {{ drop; }}\n"
    ));
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let t = std::time::Instant::now();
    let head = b"POST /RPC HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain(std::iter::repeat(&b'a'));
    let mut closed = false;
    for &b in head {
        // a byte every 300 ms: well inside the 5 s idle timeout
        if c.write_all(&[b]).is_err() {
            closed = true;
            break;
        }
        let mut one = [0u8; 1];
        match c.read(&mut one) {
            Ok(0) => {
                closed = true;
                break;
            }
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                closed = true;
                break;
            }
            _ => {}
        }
        if t.elapsed() > std::time::Duration::from_secs(20) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(closed, "still open after {:?}", t.elapsed());
    assert!(
        t.elapsed() < std::time::Duration::from_secs(15),
        "{:?}",
        t.elapsed()
    );
}

/// A forward to port 0 fails at the socket: the log names the address
/// plainly (it printed `Some(127.0.0.1:0)`) and the server carries on.
#[test]
fn a_failed_udp_send_names_the_address() {
    let s = Siprd::start(
        "children=1\nlisten=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"sl.so\"\n\
         request_route { if ($rU == \"zero\") { $du = \"sip:127.0.0.1:0\"; forward(); exit; } sl_send_reply(\"200\", \"OK\"); }\n",
    );
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "OPTIONS", "sip:zero@127.0.0.1", "port-zero");
    assert!(s.wait_log("udp send to 127.0.0.1:0 (", WAIT), "{}", s.log());
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:alive@127.0.0.1", "after");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
}
