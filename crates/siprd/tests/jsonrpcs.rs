//! JSON-RPC control end to end: datagram (UDP and unix), FIFO (as `kamctl
//! rpc` uses it) and `siprd ctl`. Reply shapes observed on Kamailio 5.6.

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn rpc(port: u16, req: &str) -> Value {
    rpc_datagram(port, req.as_bytes(), Duration::from_millis(700))
        .unwrap_or_else(|| panic!("no reply to {req}"))
}

fn cfg(rpc_port: u16, extra: &str) -> String {
    format!(
        r#"
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "htable.so"
loadmodule "jsonrpcs.so"
loadmodule "evrexec.so"
modparam("htable", "htable", "t=>size=4;")
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")
modparam("jsonrpcs", "transport", 4)
{extra}
request_route {{
    sl_send_reply("200", "OK");
}}
event_route[evrexec:test] {{
    xlog("L_ERR", "TEST data=[$evr(data)]\n");
}}
"#
    )
}

#[test]
fn datagram_methods_errors_and_batches() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, ""));
    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"system.listMethods","id":1}"#,
    );
    let names: Vec<&str> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for m in [
        "core.version",
        "core.uptime",
        "core.ps",
        "core.psx",
        "core.info",
        "core.echo",
        "evrexec.run",
        "htable.get",
        "system.listMethods",
        "system.methodHelp",
        "stats.get_statistics",
        "stats.reset_statistics",
        "core.shmmem",
    ] {
        assert!(names.contains(&m), "{m} missing from {names:?}");
    }
    assert_eq!(r["id"], 1);

    let r = rpc(port, r#"{"jsonrpc":"2.0","method":"nope.x","id":2}"#);
    assert_eq!(
        r,
        json!({"jsonrpc":"2.0","error":{"code":500,"message":"Method Not Found"},"id":2})
    );

    // malformed JSON: no answer (as Kamailio)
    assert!(rpc_datagram(port, b"{bad json", Duration::from_millis(700)).is_none());

    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"core.echo","params":["a",1],"id":"s"}"#,
    );
    assert_eq!(r, json!({"jsonrpc":"2.0","result":["a","1"],"id":"s"}));

    let r = rpc(
        port,
        r#"[{"jsonrpc":"2.0","method":"core.echo","params":["x"],"id":1},{"jsonrpc":"2.0","method":"nope","id":2}]"#,
    );
    // Kamailio 5.6.3 has no batches: an array is a request without
    // `jsonrpc`, answered with an empty result (nothing runs)
    assert_eq!(r, json!({"jsonrpc":"2.0","result":{}}));
    let r = rpc(port, "[]");
    assert_eq!(r, json!({"jsonrpc":"2.0","result":{}}));

    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"system.methodHelp","params":["core.echo"],"id":7}"#,
    );
    assert_eq!(r["result"], "Returns back its parameters.");
    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"system.methodHelp","params":["nope"],"id":7}"#,
    );
    assert_eq!(
        r["error"],
        json!({"code":400,"message":"command not found"})
    );

    let r = rpc(port, r#"{"jsonrpc":"2.0","method":"core.uptime","id":8}"#);
    assert!(r["result"]["uptime"].is_u64(), "{r}");
    let r = rpc(port, r#"{"jsonrpc":"2.0","method":"core.psx","id":8}"#);
    assert!(r["result"][0]["PID"].is_u64(), "{r}");
    let r = rpc(port, r#"{"jsonrpc":"2.0","method":"core.version","id":8}"#);
    assert!(r["result"].as_str().unwrap().starts_with("siprd "), "{r}");

    // htable commands registered by htable
    rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"htable.sets","params":["t","k","v"],"id":9}"#,
    );
    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"htable.get","params":["t","k"],"id":9}"#,
    );
    assert!(r.to_string().contains("\"v\""), "{r}");

    // an RPC flood does not stop SIP
    let flood = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..2000 {
        let _ = flood.send_to(
            br#"{"jsonrpc":"2.0","method":"core.echo","params":["f"],"id":1}"#,
            ("127.0.0.1", port),
        );
        let _ = flood.send_to(b"\x00\xffjunk", ("127.0.0.1", port));
    }
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "rpc-flood", ""),
    );
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
}

#[test]
fn round_trip_is_fast() {
    let port = free_udp_port();
    let _s = Siprd::start(&cfg(port, ""));
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut times = Vec::new();
    let mut buf = vec![0u8; 4096];
    for _ in 0..200 {
        let t = Instant::now();
        sock.send_to(
            br#"{"jsonrpc":"2.0","method":"core.echo","params":["x"],"id":1}"#,
            ("127.0.0.1", port),
        )
        .unwrap();
        sock.recv(&mut buf).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    eprintln!("RPC round trip p50 {:?} p99 {:?}", times[100], times[198]);
    assert!(times[100] < Duration::from_millis(5), "{:?}", times[100]);
}

#[test]
fn unix_datagram_socket() {
    let dir = std::env::temp_dir().join(format!("siprd-jrpc-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("rpc.sock");
    let cfg = cfg(free_udp_port(), "").replace(
        "modparam(\"jsonrpcs\", \"dgram_socket\"",
        &format!(
            "modparam(\"jsonrpcs\", \"dgram_socket\", \"{}\")\n#",
            path.display()
        ),
    );
    let _s = Siprd::start(&cfg);
    let me = dir.join("client.sock");
    let c = std::os::unix::net::UnixDatagram::bind(&me).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    c.send_to(
        br#"{"jsonrpc":"2.0","method":"core.echo","params":["u"],"id":1}"#,
        &path,
    )
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = c.recv(&mut buf).unwrap();
    let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(v["result"], json!(["u"]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fifo_like_kamctl() {
    use std::io::{Read, Write};
    let dir = std::env::temp_dir().join(format!("siprd-jrpc-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("rpc.fifo");
    let extra = format!(
        "modparam(\"jsonrpcs\", \"transport\", 2)\nmodparam(\"jsonrpcs\", \"fifo_name\", \"{}\")\nmodparam(\"jsonrpcs\", \"fifo_reply_dir\", \"{}/\")",
        fifo.display(),
        dir.display()
    );
    let s = Siprd::start(&cfg(free_udp_port(), &extra));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&fifo).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // kamctl: create the reply FIFO, start reading, write the request
    let reply = dir.join("kamailio_receiver_1");
    let c = std::ffi::CString::new(reply.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let reader = {
        let reply = reply.clone();
        std::thread::spawn(move || {
            let mut f = std::fs::File::open(&reply).unwrap();
            let mut out = String::new();
            f.read_to_string(&mut out).unwrap();
            out
        })
    };
    let mut w = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    w.write_all(b"{\"jsonrpc\": \"2.0\", \"method\": \"evrexec.run\", \"params\": [\"evrexec:test\", \"fifo\"], \"reply_name\": \"kamailio_receiver_1\", \"id\": 42}\n").unwrap();
    drop(w);
    let out = reader.join().unwrap();
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!({"jsonrpc":"2.0","result":{},"id":42}));
    assert!(s.wait_log("TEST data=[fifo]", WAIT), "{}", s.log());
    let _ = std::fs::remove_dir_all(&dir);
}

fn ctl(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siprd"))
        .arg("ctl")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn siprd_ctl_end_to_end() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, ""));
    let addr = format!("udp:127.0.0.1:{port}");
    let (code, out, err) = ctl(&["-s", &addr, "core.echo", "abc", "12", "s:13"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v, json!(["abc", "12", "13"]));
    assert!(out.contains("\n  "), "pretty output: {out}");
    let (code, _, _) = ctl(&["-s", &addr, "evrexec.run", "evrexec:test", "from-ctl"]);
    assert_eq!(code, 0);
    assert!(s.wait_log("TEST data=[from-ctl]", WAIT), "{}", s.log());
    let (code, _, err) = ctl(&["-s", &addr, "no.such"]);
    assert_eq!(code, 1);
    assert!(err.contains("Method Not Found"), "{err}");
    // nobody listening
    let (code, _, err) = ctl(&[
        "-s",
        &format!("udp:127.0.0.1:{}", free_udp_port()),
        "core.version",
    ]);
    assert_eq!(code, 2, "{err}");
}

fn http_post(port: u16, body: &str, keep: Option<&mut std::net::TcpStream>) -> (String, Value) {
    use std::io::{Read, Write};
    let mut own;
    let s = match keep {
        Some(s) => s,
        None => {
            own = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            &mut own
        }
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let req = format!(
        "POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(p) = text.find("\r\n\r\n") {
            let clen: usize = text[..p]
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
            if buf.len() >= p + 4 + clen {
                let status = text.lines().next().unwrap().to_string();
                let v = serde_json::from_slice(&buf[p + 4..p + 4 + clen]).unwrap_or(Value::Null);
                return (status, v);
            }
        }
    }
}

#[test]
fn http_transport() {
    let port = free_tcp_port();
    let extra = format!("modparam(\"jsonrpcs\", \"transport\", 1)\nmodparam(\"jsonrpcs\", \"http_listen\", \"tcp:127.0.0.1:{port}\")");
    let _s = Siprd::start(&cfg(free_udp_port(), &extra));
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (status, v) = http_post(
        port,
        r#"{"jsonrpc":"2.0","method":"core.echo","params":["h"],"id":1}"#,
        Some(&mut conn),
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(v, json!({"jsonrpc":"2.0","result":["h"],"id":1}));
    // keep-alive: same connection; the status mirrors the error (as Kamailio)
    let (status, v) = http_post(
        port,
        r#"{"jsonrpc":"2.0","method":"nope","id":2}"#,
        Some(&mut conn),
    );
    assert_eq!(status, "HTTP/1.1 500 Method Not Found");
    assert_eq!(v["error"]["message"], "Method Not Found");
    // malformed JSON: an error over HTTP
    let (status, v) = http_post(port, "{bad json", None);
    assert_eq!(status, "HTTP/1.1 400 Bad Request");
    assert_eq!(v["error"]["code"], -32700);
}

fn stats(port: u16, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc":"2.0","method":method,"params":params,"id":1});
    rpc(port, &req.to_string())
}

#[test]
fn statistics_follow_the_traffic() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, ""));
    let c = UdpClient::new();
    for i in 0..3 {
        let r = c.request(
            s.udp_addr(),
            &request(
                "OPTIONS",
                "sip:a@127.0.0.1",
                c.port(),
                &format!("st-{i}"),
                "",
            ),
        );
        assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    }
    // a request without Call-ID is dropped and counted as a bad header
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "st-x", "")
            .replace("Call-ID: st-x\r\n", ""),
    );
    c.expect_silence(Duration::from_millis(300));
    let r = stats(
        port,
        "stats.get_statistics",
        json!([
            "rcv_requests",
            "rcv_requests_options",
            "bad_msg_hdr",
            "sent_replies"
        ]),
    );
    assert_eq!(
        r["result"],
        json!([
            "core:rcv_requests = 3",
            "core:rcv_requests_options = 3",
            "core:bad_msg_hdr = 1",
            "sl:sent_replies = 3"
        ]),
        "{r}"
    );
    let r = stats(port, "stats.get_statistics", json!(["sl:"]));
    let sl = r["result"].as_array().unwrap();
    assert_eq!(sl.len(), 24, "{r}");
    assert!(sl.contains(&json!("sl:200_replies = 3")), "{r}");
    let r = stats(port, "stats.get_statistics", json!(["all"]));
    let all = r["result"].as_array().unwrap();
    assert!(
        all.contains(&json!("core:rcv_replies_4xx_invite = 0")),
        "{r}"
    );
    assert!(all
        .iter()
        .any(|l| l.as_str().unwrap().starts_with("shmem:real_used_size = ")));
    // Kamailio's answers: a qualified name or unknown group gives [], a number an error
    let r = stats(
        port,
        "stats.get_statistics",
        json!(["core:rcv_requests", "nope:"]),
    );
    assert_eq!(r["result"], json!([]));
    let r = stats(port, "stats.get_statistics", json!([5]));
    assert_eq!(
        r["error"]["message"],
        "Please provide which stats to retrieve"
    );
    let r = stats(port, "stats.reset_statistics", json!([]));
    assert_eq!(r["error"]["message"], "Please provide stats name");
    // reset: core counters clear, sl ones are kept (as Kamailio)
    let r = stats(port, "stats.reset_statistics", json!(["all"]));
    assert_eq!(r["result"], json!({}));
    let r = stats(
        port,
        "stats.get_statistics",
        json!(["rcv_requests", "200_replies"]),
    );
    assert_eq!(
        r["result"],
        json!(["core:rcv_requests = 0", "sl:200_replies = 3"]),
        "{r}"
    );
    let r = stats(port, "core.shmmem", json!(["k"]));
    assert!(r["result"]["real_used"].as_u64().unwrap() < 10 << 20, "{r}");
    let r = stats(port, "core.ps", json!([]));
    let ps = r["result"].to_string();
    assert!(
        ps.contains("JSONRPCS DATAGRAM") && !ps.contains("JSONRPCS FIFO"),
        "{ps}"
    );
    assert!(ps.contains("udp receiver child=1 sock=127.0.0.1:"), "{ps}");
    let r = stats(port, "core.info", json!([]));
    assert!(
        r["result"]["version"].is_string() && r["result"]["id"] == "unknown ",
        "{r}"
    );
}

#[test]
fn siprd_ctl_finds_the_endpoint_in_the_config() {
    // datagram socket from the config
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, ""));
    let path = s.dir.join("siprd.cfg");
    let path = path.to_str().unwrap();
    let (code, out, err) = ctl(&["-f", path, "core.echo", "viacfg"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("viacfg"), "{out}");
    let (code, _, err) = ctl(&["-f", path, "no.such"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("500 - Method Not Found"), "{err}");

    // FIFO only (transport 2): ctl speaks the FIFO protocol of `kamctl rpc`
    let dir = std::env::temp_dir().join(format!("siprd-ctl-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("rpc.fifo");
    let extra = format!(
        "modparam(\"jsonrpcs\", \"fifo_name\", \"{}\")\nmodparam(\"jsonrpcs\", \"fifo_reply_dir\", \"{}/\")",
        fifo.display(),
        dir.display()
    );
    let c = cfg(free_udp_port(), &extra).replace(
        "modparam(\"jsonrpcs\", \"transport\", 4)",
        "modparam(\"jsonrpcs\", \"transport\", 2)",
    );
    let s2 = Siprd::start(&c);
    let path2 = s2.dir.join("siprd.cfg");
    let (code, out, err) = ctl(&["-f", path2.to_str().unwrap(), "core.echo", "byfifo"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("byfifo"), "{out}");
    // a config without jsonrpcs
    let plain = s.dir.join("plain.cfg");
    std::fs::write(&plain, "request_route { drop; }\n").unwrap();
    let (code, _, err) = ctl(&["-f", plain.to_str().unwrap(), "core.version"]);
    assert_eq!(code, 2);
    assert!(err.contains("does not load jsonrpcs"), "{err}");
    drop(s2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kex_registers_the_statistics_commands() {
    let port = free_udp_port();
    let extra = "loadmodule \"kex.so\"\nroute[MY] { if (is_myself(\"sip:127.0.0.1\")) { xlog(\"L_ERR\", \"MYSELF\\n\"); } }";
    let s = Siprd::start(&cfg(port, extra).replace(
        "sl_send_reply(\"200\", \"OK\");",
        "route(MY); sl_send_reply(\"200\", \"OK\");",
    ));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "kex-1", ""),
    );
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert!(s.wait_log("MYSELF", WAIT), "{}", s.log());
    let r = stats(port, "stats.get_statistics", json!(["rcv_requests"]));
    assert_eq!(r["result"], json!(["core:rcv_requests = 1"]), "{r}");
}

#[test]
fn ppdefines_list_every_define_in_order() {
    // As Kamailio 5.6.3: predefined names, then -A, then the file's defines
    // and MOD_<module> in the order they appear; `#!undef` keeps the entry,
    // `#!redefine` updates it in place; an empty value shows as "none".
    let port = free_udp_port();
    let extra = "#!define FOO \"bar\"\n#!define BAR\n#!define GONE 1\n#!undef GONE\n\
                 #!redefine FOO baz\n#!trydef FOO other\n#!define MULTI abc \\\n   def\n";
    let body = cfg(port, "");
    let (head, tail) = body.split_at(body.find("loadmodule \"sl.so\"").unwrap());
    let _s = Siprd::start_with(&format!("{head}{extra}{tail}"), &[], &["-A", "CLI=7"]);
    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"core.ppdefines","id":1}"#,
    );
    let names: Vec<&str> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "KAMAILIO_5",
            "KAMAILIO_5_6",
            "KAMAILIO_5_6_3",
            "SIPRD",
            "CLI",
            "MOD_pv",
            "FOO",
            "BAR",
            "GONE",
            "MULTI",
            "MOD_sl",
            "MOD_xlog",
            "MOD_htable",
            "MOD_jsonrpcs",
            "MOD_evrexec"
        ]
    );
    let r = rpc(
        port,
        r#"{"jsonrpc":"2.0","method":"core.ppdefines_full","id":2}"#,
    );
    let full: Vec<(String, String)> = r["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().into(),
                d["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    let value = |n: &str| full.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(value("CLI"), Some("7"));
    assert_eq!(value("FOO"), Some("baz"));
    assert_eq!(value("BAR"), Some("none"));
    assert_eq!(value("GONE"), Some("1"));
    assert_eq!(value("MULTI"), Some("abc    def"));
    assert_eq!(r["result"][0]["type"], 0);
}
