//! RPC commands checked against Kamailio 5.6.3 with the same modules loaded:
//! jsonrpc.echo, system.methodSignature, sl.stats, the core.* listings and
//! tm.reply / tm.reply_callid / tm.cancel on suspended and relayed
//! transactions (the replies checked on the wire); dns.*, pkg.*, shm.report,
//! mod.stats, corex.*, the JSON-RPC envelope and its parameter conversions,
//! the tcp:/dns: statistics.

mod common;

use common::*;
use serde_json::{json, Value};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

/// One JSON-RPC call over the datagram socket; the whole reply.
fn call(port: u16, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    rpc_datagram(port, req.to_string().as_bytes(), Duration::from_secs(2))
        .unwrap_or_else(|| panic!("no reply to {method}"))
}

fn result(port: u16, method: &str, params: Value) -> Value {
    let r = call(port, method, params);
    assert!(r.get("error").is_none(), "{method}: {r}");
    r["result"].clone()
}

fn error(port: u16, method: &str, params: Value) -> (i64, String) {
    let r = call(port, method, params);
    (
        r["error"]["code"].as_i64().unwrap_or_else(|| panic!("{r}")),
        r["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

fn cfg(rpc_port: u16, extra: &str, routes: &str) -> String {
    format!(
        r#"
debug=2
children=2
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
auto_aliases=no
alias=udp:other.org:5070
alias="quoted.org:5080"
alias=bare.org
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")
modparam("jsonrpcs", "transport", 4)
{extra}
{routes}
"#
    )
}

const PLAIN: &str = r#"
request_route {
    if ($rU =~ "^[0-9]+$") {
        $var(c) = $(rU{s.int});
        sl_send_reply("$var(c)", "X");
        exit;
    }
    sl_send_reply("200", "OK");
}
"#;

#[test]
fn echo_signature_and_sl_stats() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, "", PLAIN));
    // As Kamailio: a string (or a number's integer part), then an integer.
    assert_eq!(
        result(port, "jsonrpc.echo", json!(["a", 1, {"x": 1}, "b"])),
        json!(["a", 1])
    );
    assert_eq!(
        result(port, "jsonrpc.echo", json!([2.5, "7"])),
        json!(["2", 0])
    );
    assert_eq!(result(port, "jsonrpc.echo", json!([true])), json!([]));
    assert_eq!(
        error(port, "system.methodSignature", json!(["core.echo"])),
        (500, "Not Implemented Yet".into())
    );
    let names = result(port, "system.listMethods", json!([]));
    for m in [
        "jsonrpc.echo",
        "system.methodSignature",
        "sl.stats",
        "tm.reply",
        "core.tcp_list",
    ] {
        assert!(names.as_array().unwrap().contains(&json!(m)), "{m}");
    }

    let c = UdpClient::new();
    for code in [100, 180, 200, 201, 404, 486, 603, 699] {
        let req = request(
            "OPTIONS",
            &format!("sip:{code}@127.0.0.1"),
            c.port(),
            &format!("sl{code}"),
            "",
        );
        c.send(s.udp_addr(), &req);
        let r = c.recv(WAIT).expect("reply");
        assert!(r.starts_with(&format!("SIP/2.0 {code} ")), "{r}");
    }
    let st = result(port, "sl.stats", json!([]));
    let keys: Vec<&str> = st.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "200", "202", "2xx", "300", "301", "302", "3xx", "400", "401", "403", "404", "407",
            "408", "483", "4xx", "500", "5xx", "6xx", "xxx"
        ]
    );
    assert_eq!(st["200"], 1);
    assert_eq!(st["2xx"], 1);
    assert_eq!(st["404"], 1);
    assert_eq!(st["4xx"], 1);
    assert_eq!(st["6xx"], 2);
    assert_eq!(st["xxx"], 2, "provisional replies count as xxx");
}

#[test]
fn core_listings() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, "", PLAIN));
    assert_eq!(
        result(
            port,
            "core.printi",
            json!([1, {"a": 1}, 3, "x", -5, 1.5, true])
        ),
        json!([1, 0, 3, 0, -5, 1, 1])
    );
    assert_eq!(
        result(port, "core.prints", json!(["a", "b", 1, "c"])),
        json!(["a", "b"])
    );
    let args = result(port, "core.arg", json!([]));
    assert!(args.as_array().unwrap().contains(&json!("-f")), "{args}");
    let pwd = result(port, "core.pwd", json!([]));
    assert!(pwd[0].as_str().is_some_and(|d| d.starts_with('/')), "{pwd}");
    let ri = result(port, "core.runinfo", json!([]));
    let keys: Vec<&str> = ri.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "name",
            "version",
            "sourceid",
            "compiler",
            "compiled",
            "time_now",
            "time_started",
            "uptime_secs",
            "utime_days"
        ]
    );
    assert!(ri["utime_days"].as_str().unwrap().ends_with('s'));
    assert_eq!(
        result(port, "core.modules", json!([])),
        json!(["jsonrpcs", "xlog", "tmx", "tm", "sl", "pv"])
    );
    assert!(result(port, "core.flags", json!([])).is_string());

    let socks = result(port, "core.sockets_list", json!([]));
    let socks = socks.as_array().unwrap();
    assert_eq!(socks.len(), 2);
    assert_eq!(socks[0]["socket"]["proto"], "udp");
    assert_eq!(
        socks[0]["socket"]["port"],
        json!(s.udp_addr().port().to_string())
    );
    assert_eq!(socks[1]["socket"]["proto"], "tcp");
    assert_eq!(socks[1]["socket"]["mhomed"], "no");

    let al = result(port, "core.aliases_list", json!([]));
    assert_eq!(al["myself_callbacks"], "no");
    assert_eq!(
        al["aliases"],
        // Newest first; a quoted alias is one host name, colon and all.
        json!([
            {"alias": {"proto": "*", "address": "bare.org", "port": "*"}},
            {"alias": {"proto": "*", "address": "quoted.org:5080", "port": "*"}},
            {"alias": {"proto": "udp", "address": "other.org", "port": 5070}},
        ])
    );

    let psa = result(port, "core.psa", json!([]));
    let first = &psa[0];
    assert_eq!(first["index"], 0);
    assert_eq!(first["rank"], 0);
    assert_eq!(first["pid"], s.pid());
    assert_eq!(first["description"], "main process - attendant");
    assert!(psa
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["description"] == "JSONRPCS DATAGRAM" && p["rank"] == -2));

    // A TCP connection shows in tcp_list and tcp_info.
    assert_eq!(result(port, "core.tcp_list", json!([])), json!([]));
    let mut tcp = TcpStream::connect(s.tcp_addr()).unwrap();
    let peer = tcp.local_addr().unwrap();
    {
        use std::io::Write;
        let req = request("OPTIONS", "sip:x@127.0.0.1", peer.port(), "tcp1", "")
            .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        tcp.write_all(req.as_bytes()).unwrap();
    }
    let deadline = Instant::now() + WAIT;
    let list = loop {
        let l = result(port, "core.tcp_list", json!([]));
        if l.as_array().is_some_and(|a| !a.is_empty()) || Instant::now() > deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let conn = &list[0];
    assert_eq!(conn["type"], "TCP");
    assert_eq!(conn["state"], "CONN_OK");
    assert_eq!(conn["src_port"], peer.port());
    assert_eq!(conn["dst_port"], s.tcp_addr().port());
    assert_eq!(conn["lifetime"], 120);
    assert!(conn["timeout"].as_u64().is_some_and(|t| t <= 120));
    let info = result(port, "core.tcp_info", json!([]));
    assert_eq!(info["opened_connections"], 1);
    assert_eq!(info["max_connections"], 2048);
    let opts = result(port, "core.tcp_options", json!([]));
    assert_eq!(opts["connection_lifetime"], 120);
    assert_eq!(opts["crlf_ping"], 1);
}

const SUSPEND: &str = r#"
request_route {
    if ($rU == "relay") {
        t_on_failure("FAIL");
        t_relay();
        exit;
    }
    if ($rm == "INVITE") {
        t_on_failure("FAIL");
        if (t_suspend()) {
            xlog("L_ERR", "SUSPENDED [$T(id_index):$T(id_label)] $ci\n");
            exit;
        }
    }
    sl_send_reply("200", "OK");
}
failure_route[FAIL] {
    xlog("L_ERR", "FAILURE_ROUTE $T_reply_code $ci\n");
}
"#;

/// Send an INVITE that the script suspends; its `hash:label`.
fn suspended_invite(s: &Siprd, c: &UdpClient, call_id: &str) -> String {
    let req = request("INVITE", "sip:bob@127.0.0.1", c.port(), call_id, "");
    c.send(s.udp_addr(), &req);
    let trying = c.recv(WAIT).expect("100");
    assert!(trying.starts_with("SIP/2.0 100 "), "{trying}");
    let needle = format!("] {call_id}\n");
    assert!(s.wait_log(&needle, WAIT), "suspended");
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("SUSPENDED [") && l.ends_with(&format!("] {call_id}")))
        .expect("log line");
    let start = line.find('[').unwrap() + 1;
    let end = line[start..].find(']').unwrap() + start;
    line[start..end].to_string()
}

#[test]
fn tm_reply_answers_a_suspended_invite() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, "", SUSPEND));
    // Parameter errors, in Kamailio's order and words.
    assert_eq!(
        error(port, "tm.reply", json!([])),
        (400, "Reply code expected".into())
    );
    assert_eq!(
        error(port, "tm.reply", json!([200, 5])),
        (400, "Reason phrase expected".into())
    );
    assert_eq!(
        error(port, "tm.reply", json!([200, "OK", 12])),
        (400, "Transaction ID expected".into())
    );
    assert_eq!(
        error(port, "tm.reply", json!([200, "OK", "1:2"])),
        (400, "To tag expected".into())
    );
    assert_eq!(
        error(port, "tm.reply", json!([200, "OK", "12:", "t", "", ""])),
        (400, "Invalid transaction ID".into())
    );
    assert_eq!(
        error(port, "tm.reply", json!([200, "OK", "1:2", "t", "", ""])),
        (481, "No such transaction".into())
    );

    let c = UdpClient::new();
    let id = suspended_invite(&s, &c, "rep1");
    // new_headers and body are required, as Kamailio.
    assert_eq!(
        error(port, "tm.reply", json!([200, "OK", id, "t"])),
        (500, "Reply failed".into())
    );
    // A provisional reply keeps the transaction suspended.
    result(port, "tm.reply", json!([180, "Ringing", id, "tt", "", ""]));
    let r = c.recv(WAIT).expect("180");
    assert!(r.starts_with("SIP/2.0 180 Ringing\r\n"), "{r}");
    assert_eq!(header(&r, "To"), Some("<sip:bob@127.0.0.1>;tag=tt"));
    result(
        port,
        "tm.reply",
        json!([
            200,
            "OK",
            id,
            "mytag",
            "X-A: 1\r\nContent-Type: text/plain\r\n",
            "hello body"
        ]),
    );
    let r = c.recv(WAIT).expect("200");
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert_eq!(header(&r, "To"), Some("<sip:bob@127.0.0.1>;tag=mytag"));
    assert_eq!(header(&r, "X-A"), Some("1"));
    assert_eq!(header(&r, "Content-Type"), Some("text/plain"));
    assert_eq!(header(&r, "Content-Length"), Some("10"));
    assert!(r.ends_with("\r\n\r\nhello body"), "{r}");
    // The extra headers come before the Server header, as Kamailio's.
    assert!(r.find("X-A: 1").unwrap() < r.find("Server:").unwrap_or(usize::MAX));
    // Retransmitted until ACKed (as Kamailio does).
    let again = c.recv(Duration::from_millis(1500)).expect("retransmission");
    assert_eq!(again, r);
    // Answered: a second reply fails, no failure route ran.
    assert_eq!(
        error(port, "tm.reply", json!([486, "Busy", id, "t", "", ""])),
        (500, "Reply failed".into())
    );
    assert_eq!(s.count_log("FAILURE_ROUTE"), 0);

    // Empty To-tag: tm's own; header without CRLF gets one; "." is nothing;
    // a status outside 100..699 is refused.
    let id = suspended_invite(&s, &c, "rep2");
    assert_eq!(
        error(port, "tm.reply", json!([700, "X", id, "t", "", ""])),
        (500, "Reply failed".into())
    );
    result(
        port,
        "tm.reply",
        json!([486, "Busy Here", id, "", "X-B: 2", "."]),
    );
    let r = c.recv(WAIT).expect("486");
    assert!(r.starts_with("SIP/2.0 486 Busy Here\r\n"), "{r}");
    assert!(
        header(&r, "To").is_some_and(|t| t.contains(";tag=") && !t.ends_with(";tag=")),
        "{r}"
    );
    assert!(r.contains("\r\nX-B: 2\r\n"), "{r}");
    assert_eq!(header(&r, "Content-Length"), Some("0"));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.count_log("FAILURE_ROUTE"), 0);
}

#[test]
fn tm_reply_callid_and_cancel() {
    let port = free_udp_port();
    let hop = NextHop::new();
    let routes = SUSPEND.replace(
        "t_relay();",
        &format!("$du = \"sip:127.0.0.1:{}\"; t_relay();", hop.port()),
    );
    let s = Siprd::start(&cfg(port, "", &routes));
    assert_eq!(
        error(port, "tm.reply_callid", json!([200, "OK"])),
        (400, "Call-ID expected".into())
    );
    assert_eq!(
        error(port, "tm.reply_callid", json!([200, "OK", "x", 1])),
        (400, "CSeq expected".into())
    );
    assert_eq!(
        error(port, "tm.reply_callid", json!([200, "OK", "x", "1"])),
        (400, "To tag expected".into())
    );
    assert_eq!(
        error(port, "tm.reply_callid", json!([200, "OK", "x", "1", "t"])),
        (404, "Transaction not found".into())
    );
    let c = UdpClient::new();
    suspended_invite(&s, &c, "cid1");
    // The CSeq is the number only.
    assert_eq!(
        error(
            port,
            "tm.reply_callid",
            json!([200, "OK", "cid1", "1 INVITE", "t"])
        ),
        (404, "Transaction not found".into())
    );
    result(
        port,
        "tm.reply_callid",
        json!([200, "OK", "cid1", "1", "tg", "X-B: 2\r\n", "b"]),
    );
    let r = c.recv(WAIT).expect("200");
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert_eq!(header(&r, "To"), Some("<sip:bob@127.0.0.1>;tag=tg"));
    assert_eq!(header(&r, "X-B"), Some("2"));
    assert!(r.ends_with("\r\n\r\nb"), "{r}");

    // tm.cancel on a relayed INVITE that got a 180: CANCEL downstream.
    assert_eq!(
        error(port, "tm.cancel", json!(["x"])),
        (400, "Callid and CSeq expected as parameters".into())
    );
    assert_eq!(
        error(port, "tm.cancel", json!(["x", "1"])),
        (400, "Transaction not found".into())
    );
    c.drain();
    let req = request("INVITE", "sip:relay@127.0.0.1", c.port(), "can1", "");
    c.send(s.udp_addr(), &req);
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&inv, from, "180 Ringing");
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match c.recv(Duration::from_millis(200)) {
            Some(r) if r.starts_with("SIP/2.0 180") => break,
            _ => {}
        }
    }
    assert_eq!(
        result(port, "tm.cancel", json!(["can1", "1"])),
        json!("branches remaining (waiting for timeout)")
    );
    let (cancel, from) = hop.recv_start("CANCEL", WAIT).expect("CANCEL downstream");
    assert_eq!(header(&cancel, "Call-ID"), Some("can1"));
    hop.answer(&cancel, from, "200 OK");
    hop.answer(&inv, from, "487 Request Terminated");
    let deadline = Instant::now() + WAIT;
    let mut got = None;
    while Instant::now() < deadline && got.is_none() {
        got = c
            .recv(Duration::from_millis(200))
            .filter(|r| r.starts_with("SIP/2.0 487"));
    }
    assert!(got.is_some(), "487 relayed upstream");
    assert!(s.wait_log("FAILURE_ROUTE 487 can1", WAIT));

    let hs = result(port, "tm.hash_stats", json!([]));
    assert!(hs["hash_size"].as_u64().is_some_and(|n| n > 0), "{hs}");
    assert!(
        hs["total_transactions"].as_u64().is_some_and(|n| n >= 2),
        "{hs}"
    );
    assert_eq!(result(port, "tm.clean", json!([])), json!({}));
}

/// The raw text of a JSON-RPC reply (to see repeated member names).
fn call_raw(port: u16, method: &str, params: Value) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    s.send_to(req.to_string().as_bytes(), ("127.0.0.1", port))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).expect("reply");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

const MYSELF: &str = r#"
request_route {
    if ($rU == "set") { $shv(late) = 3; }
    if (uri == myself) { sl_send_reply("200", "self"); } else { sl_send_reply("404", "other"); }
}
"#;

/// The status line siprd answers for a request to `ruri`.
fn myself_answer(s: &Siprd, ruri: &str) -> String {
    let c = UdpClient::new();
    let req = request("OPTIONS", ruri, c.port(), &format!("my-{ruri}"), "");
    c.send(s.udp_addr(), &req);
    first_line(&c.recv(WAIT).expect("reply")).to_string()
}

#[test]
fn pv_shv_commands_as_kamailio() {
    let port = free_udp_port();
    let extra = r#"modparam("pv", "shvset", "one=i:1")
modparam("pv", "shvset", "two=s:hello")"#;
    let s = Siprd::start(&cfg(port, extra, MYSELF));
    assert!(myself_answer(&s, "sip:set@127.0.0.1").contains(" 404 "));
    // Every variable under a repeated `shv` member, newest first.
    let all = call_raw(port, "pv.shvGet", json!([]));
    let names: Vec<&str> = all
        .match_indices("\"name\":\t\"")
        .map(|(i, m)| all[i + m.len()..].split('"').next().unwrap())
        .collect();
    assert_eq!(names, ["late", "two", "one"], "{all}");
    assert_eq!(all.matches("\"shv\":").count(), 3, "{all}");
    assert_eq!(
        result(port, "pv.shvGet", json!(["two"])),
        json!({"name": "two", "type": "string", "value": "hello"})
    );
    assert_eq!(
        error(port, "pv.shvGet", json!(["nope"])),
        (404, "Variable not found".into())
    );
    // Only existing variables are set; the type is checked first.
    assert_eq!(
        error(port, "pv.shvSet", json!(["nope", "int", 5])),
        (404, "Variable not found".into())
    );
    assert_eq!(
        error(port, "pv.shvSet", json!(["nope", "i", 5])),
        (500, "Unknown parameter type (Types: int or str)".into())
    );
    assert_eq!(
        error(port, "pv.shvSet", json!(["one", "str", 12])),
        (
            500,
            "Missing parameter value (Parameters: varname type value)".into()
        )
    );
    assert_eq!(
        error(port, "pv.shvSet", json!(["one", "int"])),
        (
            500,
            "Missing integer parameter value (Parameters: varname type value)".into()
        )
    );
    let ok = json!("Ok. Variable set to new value.");
    for (ty, v, want) in [
        (
            "INT",
            json!(2147483648i64),
            json!({"name": "one", "type": "int", "value": -2147483648i64}),
        ),
        (
            "int",
            json!("77"),
            json!({"name": "one", "type": "int", "value": 0}),
        ),
        (
            "int",
            json!(7.9),
            json!({"name": "one", "type": "int", "value": 7}),
        ),
        (
            "str",
            json!(""),
            json!({"name": "one", "type": "string", "value": ""}),
        ),
    ] {
        assert_eq!(result(port, "pv.shvSet", json!(["one", ty, v])), ok);
        assert_eq!(result(port, "pv.shvGet", json!(["one"])), want, "{ty} {v}");
    }
}

#[test]
fn stats_fetch_and_clear_as_kamailio() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, "", PLAIN));
    let c = UdpClient::new();
    for i in 0..3 {
        let req = request(
            "OPTIONS",
            "sip:x@127.0.0.1",
            c.port(),
            &format!("st{i}"),
            "",
        );
        c.send(s.udp_addr(), &req);
        c.recv(WAIT).expect("reply");
    }
    assert_eq!(
        result(
            port,
            "stats.fetch",
            json!(["sl:200_replies", "rcv_requests_options"])
        ),
        json!({"sl.200_replies": "3", "core.rcv_requests_options": "3"})
    );
    assert_eq!(
        result(port, "stats.fetchn", json!(["200_replies"])),
        json!({"sl.200_replies": 3})
    );
    assert_eq!(result(port, "stats.fetch", json!(["nosuch"])), json!({}));
    let sl = result(port, "stats.fetchn", json!(["sl:"]));
    assert_eq!(sl.as_object().unwrap().len(), 24, "{sl}");
    assert_eq!(
        error(port, "stats.fetch", json!([5])),
        (400, "Please provide which stats to retrieve".into())
    );
    // `group:name` clears nothing; a name prints `new (old)`; the reply is
    // the last line printed.
    assert_eq!(
        result(port, "stats.clear_statistics", json!(["core:rcv_requests"])),
        json!({})
    );
    assert_eq!(
        result(port, "stats.fetchn", json!(["rcv_requests"])),
        json!({"core.rcv_requests": 3})
    );
    assert_eq!(
        result(port, "stats.clear_statistics", json!(["rcv_requests"])),
        json!("core:rcv_requests = 0 (3)")
    );
    assert_eq!(
        result(
            port,
            "stats.clear_statistics",
            json!(["rcv_requests_options", "fwd_requests"])
        ),
        json!("core:fwd_requests = 0")
    );
    assert_eq!(
        result(port, "stats.fetchn", json!(["rcv_requests_options"])),
        json!({"core.rcv_requests_options": 0})
    );
    // sl's counters are not cleared
    assert_eq!(
        result(port, "stats.clear_statistics", json!(["sl:"])),
        json!("sl:xxx_replies = 0")
    );
    assert_eq!(
        result(port, "stats.fetchn", json!(["200_replies"])),
        json!({"sl.200_replies": 3})
    );
}

#[test]
fn aliases_sockets_and_myself_as_kamailio() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, r#"loadmodule "corex.so""#, MYSELF));
    let udp = s.udp_addr().port();
    assert_eq!(
        result(port, "corex.list_aliases", json!([])),
        json!([
            {"PROTO": "*", "ADDR": "bare.org", "PORT": 0},
            {"PROTO": "*", "ADDR": "quoted.org:5080", "PORT": 0},
            {"PROTO": "udp", "ADDR": "other.org", "PORT": 5070},
        ])
    );
    let socks = result(port, "corex.list_sockets", json!([]));
    assert_eq!(socks[0]["PROTO"], "udp");
    assert_eq!(socks[0]["NAME"], "127.0.0.1");
    assert_eq!(socks[0]["ADDRLIST"], json!({"ADDR": "127.0.0.1"}));
    assert_eq!(socks[0]["PORT"], json!(udp.to_string()));
    assert_eq!(socks[0]["SOCKNAME"], "-");
    assert_eq!(socks[0]["ADVERTISE"], "-");
    assert_eq!(socks[1]["PROTO"], "tcp");
    let shm = result(port, "shm.stats", json!([]));
    let keys: Vec<&str> = shm
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "total",
            "free",
            "used",
            "real_used",
            "max_used",
            "fragments"
        ]
    );
    assert!(shm["total"].as_u64().unwrap() > 0, "{shm}");
    assert_eq!(
        result(port, "core.udp4_raw_info", json!([])),
        json!({"udp4_raw": 0, "udp4_raw_mtu": 1500, "udp4_raw_ttl": 64})
    );
    // `uri == myself`: a URI without a port means 5060; aliases without a
    // port match any; a quoted alias is a host name with a colon in it.
    for (ruri, want) in [
        (format!("sip:x@127.0.0.1:{udp}"), " 200 "),
        ("sip:x@127.0.0.1".to_string(), " 404 "),
        ("sip:x@bare.org:1234".to_string(), " 200 "),
        ("sip:x@other.org:5070".to_string(), " 200 "),
        ("sip:x@other.org".to_string(), " 404 "),
        ("sip:x@quoted.org:5080".to_string(), " 404 "),
    ] {
        let got = myself_answer(&s, &ruri);
        assert!(got.contains(want), "{ruri}: {got}");
    }
}

#[test]
fn auto_aliases_name_the_listen_address() {
    let port = free_udp_port();
    let cfg = cfg(port, r#"loadmodule "corex.so""#, MYSELF).replace("auto_aliases=no\n", "");
    let s = Siprd::start(&cfg);
    let udp = s.udp_addr().port();
    // 127.0.0.1 resolves back to the hosts file's name (`localhost` on most
    // machines): that name on our UDP port is "myself"; on another port not.
    let aliases = result(port, "corex.list_aliases", json!([]));
    let auto = aliases
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["PROTO"] == "udp" && a["PORT"] == json!(udp))
        .unwrap_or_else(|| panic!("no automatic alias: {aliases}"));
    let name = auto["ADDR"].as_str().unwrap();
    assert!(myself_answer(&s, &format!("sip:x@{name}:{udp}")).contains(" 200 "));
    assert!(myself_answer(&s, &format!("sip:x@{name}:1")).contains(" 404 "));
}

#[test]
fn core_kill_signals_the_server() {
    // Kamailio 5.6: core.kill [signal] answers {} and signals the server
    // (SIGTERM without a parameter); signal 0 changes nothing.
    let rpc_port = free_udp_port();
    let mut s = Siprd::start(&cfg(rpc_port, "", "request_route { drop; }"));
    assert_eq!(result(rpc_port, "core.kill", json!([0])), json!({}));
    assert!(s.is_running());
    let req = json!({"jsonrpc": "2.0", "method": "core.kill", "id": 2});
    let _ = rpc_datagram(rpc_port, req.to_string().as_bytes(), Duration::from_secs(2));
    let end = Instant::now() + Duration::from_secs(5);
    while s.is_running() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !s.is_running(),
        "still running after core.kill: {}",
        s.log()
    );
}

/// JSON-RPC reads parameters loosely where BINRPC is strict (checked on
/// Kamailio 5.6.3 over jsonrpcs): a missing parameter ends the command with
/// an empty result (no fault), a string read as an integer is 0 (so
/// `corex.debug "x"` sets level 0), a number is no string.
#[test]
fn htable_cfgutils_integers_over_jsonrpc_as_kamailio() {
    // a string where an integer is wanted reads 0, a double its integer
    // part (Kamailio 5.6.3, jsonrpcs)
    let port = free_udp_port();
    let _s = Siprd::start(&cfg(
        port,
        "loadmodule \"htable.so\"\nloadmodule \"cfgutils.so\"\nloadmodule \"app_lua.so\"\nmodparam(\"htable\", \"htable\", \"a=>size=4;\")",
        PLAIN,
    ));
    let set = json!("Ok. Key set to new value.");
    assert_eq!(result(port, "htable.seti", json!(["a", "k", "7"])), set);
    assert_eq!(
        result(port, "htable.get", json!(["a", "k"]))["item"]["value"],
        json!(0)
    );
    assert_eq!(result(port, "htable.seti", json!(["a", "k", 2.9])), set);
    assert_eq!(
        result(port, "htable.get", json!(["a", "k"]))["item"]["value"],
        json!(2)
    );
    assert_eq!(
        result(port, "htable.setex", json!(["a", "k", "x"])),
        json!("Ok")
    );
    assert_eq!(
        result(port, "htable.setxi", json!(["a", "k", "x", "y"])),
        set
    );
    assert_eq!(result(port, "cfgutils.set_gflag", json!(["3"])), json!({}));
    // flag 0: every bit of it is set
    assert_eq!(
        result(port, "cfgutils.is_gflag", json!(["0x1"])),
        json!("TRUE")
    );
    assert_eq!(result(port, "cfgutils.set_gflag", json!([2])), json!({}));
    assert_eq!(
        result(port, "cfgutils.is_gflag", json!([1.5])),
        json!("FALSE")
    );
    assert_eq!(
        result(port, "cfgutils.is_gflag", json!([2.5])),
        json!("TRUE")
    );
    assert_eq!(
        error(port, "cfgutils.rand_set_prob", json!([-5])),
        (500, "Invalid Percent".into())
    );
    assert_eq!(
        result(port, "cfgutils.rand_set_prob", json!([1.7])),
        json!({})
    );
    assert_eq!(
        result(port, "cfgutils.rand_get_prob", json!([])),
        json!("actual probability: 1 percent")
    );
    assert_eq!(
        result(port, "cfgutils.get_config_hash", json!([])),
        json!("")
    );
    assert_eq!(
        error(port, "app_lua.reload", json!([])),
        (500, "Reload Failed".into())
    );
    assert_eq!(
        result(port, "app_lua.list", json!([])),
        json!("No scripts loaded")
    );
    // {msize, methods: [{func: {ret, module, name, params}}]}, entries as
    // Kamailio 5.6 lists them for these functions
    let api = result(port, "app_lua.api_list", json!([]));
    let methods = api["methods"].as_array().expect("methods");
    assert_eq!(api["msize"].as_u64(), Some(methods.len() as u64));
    for want in [
        json!({"ret": "int", "module": "sl", "name": "sl_send_reply", "params": "int, str"}),
        json!({"ret": "int", "module": "cfgutils", "name": "rand_event", "params": "none"}),
        json!({"ret": "int", "module": "htable", "name": "sht_rm", "params": "str, str"}),
    ] {
        assert!(methods.contains(&json!({ "func": want })), "{want}");
    }
}

#[test]
fn dns_memory_and_corex_over_jsonrpc_as_kamailio() {
    let port = free_udp_port();
    let _s = Siprd::start(&cfg(port, "loadmodule \"corex.so\"\ndebug=2", PLAIN));
    let empty = json!({});
    assert_eq!(result(port, "dns.add_a", json!([])), empty);
    assert_eq!(result(port, "dns.add_a", json!(["a.b", "x"])), empty);
    assert_eq!(result(port, "dns.add_srv", json!(["a", 1, 2])), empty);
    assert_eq!(
        error(port, "dns.add_a", json!(["a.b", 100, "1.2.3.4", 0])),
        (400, "Failed to add the entry to the cache".into())
    );
    for m in ["dns.lookup", "dns.view", "dns.delete_all", "dns.mem_info"] {
        assert_eq!(
            error(port, m, json!(["A", "x"])),
            (500, "dns cache support disabled (see use_dns_cache)".into()),
            "{m}"
        );
    }
    assert_eq!(
        error(port, "dst_blocklist.view", json!([])),
        (500, "dst blocklist support disabled".into())
    );
    assert_eq!(result(port, "corex.debug", json!([])), json!({"debug": 2}));
    assert_eq!(
        result(port, "corex.debug", json!(["x"])),
        json!({"old": 2, "new": 0})
    );
    assert_eq!(
        result(port, "corex.debug", json!([3])),
        json!({"old": 0, "new": 3})
    );
    assert_eq!(
        error(port, "corex.pkg_summary", json!(["a"])),
        (400, "Selector and value not provided".into())
    );
    assert_eq!(
        error(port, "corex.pkg_summary", json!(["a", "b"])),
        (500, "Unsupported selector".into())
    );
    assert_eq!(result(port, "corex.shm_status", json!([])), empty);
    assert_eq!(
        error(port, "mod.stats", json!([1, "pkg"])),
        (500, "Module name or \"all\" needed".into())
    );
    assert_eq!(
        error(port, "mod.stats", json!(["tm", 5])),
        (500, "\"pkg\" or \"shm\" or \"all\" needed".into())
    );
    assert_eq!(
        result(port, "mod.stats", json!(["nope", "all"])),
        json!(["Module: nope", {"Total": 0}, {"Total": 0}, ""])
    );
    // a string where an integer is wanted reads 0: rank 0, the main process
    let r = result(port, "pkg.stats", json!(["rank", "1"]));
    assert_eq!(r.as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r[0]["rank"], json!(0));
    assert_eq!(r[0]["desc"], json!("main process - attendant"));
    let r = result(port, "pkg.stats", json!(["rank", 1]));
    assert_eq!(r[0]["entry"], json!(1));
    assert_eq!(
        error(port, "pkg.stats", json!(["pid", "x"])),
        (500, "No such pid".into())
    );
    assert_eq!(
        error(port, "pkg.stats", json!(["rank"])),
        (500, "One more parameter expected".into())
    );
    // a first parameter that is no string: every process
    let all = result(port, "pkg.stats", json!([3]));
    assert!(all.as_array().is_some_and(|a| a.len() > 1), "{all}");
    // lenient JSON-RPC integers in commands that read them
    assert_eq!(
        result(port, "core.printi", json!(["x", {"a": 1}, 3, 2.7])),
        json!([0, 0, 3, 2])
    );
    // echo stops at the first parameter that is no scalar
    assert_eq!(
        result(port, "core.echo", json!([1, {"a": 1}, "b"])),
        json!(["1"])
    );
    let rep = result(port, "shm.report", json!([]));
    assert!(rep["total_size"].as_u64().is_some_and(|v| v > 0), "{rep}");
    assert_eq!(rep.as_object().map(|o| o.len()), Some(28));
}

/// The request envelope as Kamailio 5.6's jsonrpcs reads it (observed over
/// its datagram transport): only `"jsonrpc": "2.0"` runs the method (another
/// version: an empty result); `params` that is neither an array nor an
/// object gives no parameters; the `id` comes back as a string or integer,
/// a boolean as 1/0, a whole double as an integer, anything else as 0.
#[test]
fn jsonrpc_envelope_as_kamailio() {
    let port = free_udp_port();
    let _s = Siprd::start(&cfg(port, "", PLAIN));
    let send = |doc: &str| -> Value {
        rpc_datagram(port, doc.as_bytes(), Duration::from_secs(2))
            .unwrap_or_else(|| panic!("no reply to {doc}"))
    };
    let cases = [
        (
            r#"{"jsonrpc":"2","method":"core.echo","params":["a"],"id":1}"#,
            json!({"jsonrpc":"2.0","result":{},"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0 ","method":"core.echo","params":["a"],"id":1}"#,
            json!({"jsonrpc":"2.0","result":{},"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":5,"id":1}"#,
            json!({"jsonrpc":"2.0","result":[],"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":"x","id":1}"#,
            json!({"jsonrpc":"2.0","result":[],"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":false}"#,
            json!({"jsonrpc":"2.0","result":["a"],"id":0}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":true}"#,
            json!({"jsonrpc":"2.0","result":["a"],"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":2.0}"#,
            json!({"jsonrpc":"2.0","result":["a"],"id":2}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","id":null}"#,
            json!({"jsonrpc":"2.0","result":[],"id":0}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":[],"id":{"x":1}}"#,
            json!({"jsonrpc":"2.0","result":[],"id":0}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":""}"#,
            json!({"jsonrpc":"2.0","result":["a"],"id":""}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":12345678901}"#,
            json!({"jsonrpc":"2.0","result":["a"],"id":12345678901u64}),
        ),
        // echo: strings and numbers, up to the first that is neither
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":[true,"a"],"id":1}"#,
            json!({"jsonrpc":"2.0","result":[],"id":1}),
        ),
        (
            r#"{"jsonrpc":"2.0","method":"core.echo","params":{"a":"x","b":2},"id":1}"#,
            json!({"jsonrpc":"2.0","result":["x","2"],"id":1}),
        ),
    ];
    for (doc, want) in cases {
        assert_eq!(send(doc), want, "{doc}");
    }
}

/// Kamailio's `tcp:` and `dns:` statistics groups, with siprd's counters
/// (after one accepted connection, as Kamailio 5.6.3 shows: passive_open,
/// established and current_opened_connections 1).
#[test]
fn tcp_and_dns_statistics_as_kamailio() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port, "", PLAIN));
    let names = result(port, "stats.get_statistics", json!(["tcp:", "dns:"]));
    let want: Vec<String> = [
        "tcp:con_reset",
        "tcp:con_timeout",
        "tcp:connect_failed",
        "tcp:connect_success",
        "tcp:current_opened_connections",
        "tcp:current_write_queue_size",
        "tcp:established",
        "tcp:local_reject",
        "tcp:passive_open",
        "tcp:send_timeout",
        "tcp:sendq_full",
        "dns:failed_dns_request",
        "dns:slow_dns_request",
    ]
    .iter()
    .map(|n| format!("{n} = 0"))
    .collect();
    assert_eq!(names, json!(want));
    let conn = TcpStream::connect(s.tcp_addr()).expect("connect");
    let t0 = Instant::now();
    let mut v = json!({});
    while t0.elapsed() < WAIT {
        v = result(port, "stats.fetchn", json!(["tcp:"]));
        if v["tcp.current_opened_connections"] == json!(1) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(v["tcp.current_opened_connections"], json!(1), "{v}");
    assert_eq!(v["tcp.passive_open"], json!(1), "{v}");
    assert_eq!(v["tcp.established"], json!(1), "{v}");
    drop(conn);
}

/// Kamailio 5.6: TCP is on unless `disable_tcp=yes`, so without a TCP
/// listener `core.tcp_info` still answers (no readers, no connection) and
/// `core.tcp_list` is empty; with `disable_tcp=yes` the three `core.tcp_*`
/// are 500 "tcp support disabled". `core.info` has an `id`; `tm.stats` has
/// exactly Kamailio's fields.
#[test]
fn tcp_info_without_tcp_listener_and_info_fields_as_kamailio() {
    let port = free_udp_port();
    let udp_only = cfg(port, "", "request_route { exit; }").replace("listen=tcp:127.0.0.1:0\n", "");
    let s = Siprd::start(&udp_only);
    let info = result(port, "core.tcp_info", json!([]));
    assert_eq!(info["readers"], json!(0), "{info}");
    assert_eq!(info["max_connections"], json!(2048), "{info}");
    assert_eq!(info["opened_connections"], json!(0), "{info}");
    assert_eq!(result(port, "core.tcp_list", json!([])), json!([]));
    assert!(result(port, "core.tcp_options", json!([])).is_object());
    let ci = result(port, "core.info", json!([]));
    let mut keys: Vec<&str> = ci.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["compiled", "compiler", "flags", "id", "version"]);
    // the tcp: group exists without a TCP listener; tmx: needs tmx loaded
    let all = result(port, "stats.get_statistics", json!(["all"])).to_string();
    assert!(all.contains("tcp:established = 0"), "{all}");
    assert!(all.contains("tmx:UAS_transactions"), "{all}");
    let st = result(port, "tm.stats", json!([]));
    let mut keys: Vec<&str> = st.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "2xx",
            "3xx",
            "4xx",
            "5xx",
            "6xx",
            "created",
            "current",
            "delayed_free",
            "freed",
            "rpl_generated",
            "rpl_received",
            "rpl_sent",
            "total",
            "total_local",
            "waiting"
        ]
    );
    drop(s);
    let port = free_udp_port();
    let disabled = cfg(port, "", "request_route { exit; }")
        .replace("listen=tcp:127.0.0.1:0\n", "disable_tcp=yes\n");
    let _s = Siprd::start(&disabled);
    for m in ["core.tcp_info", "core.tcp_list", "core.tcp_options"] {
        assert_eq!(
            error(port, m, json!([])),
            (500, "tcp support disabled".into()),
            "{m}"
        );
    }
    let all = result(port, "stats.get_statistics", json!(["all"])).to_string();
    assert!(!all.contains("tcp:"), "{all}");
    drop(_s);
    let port = free_udp_port();
    let no_tmx = cfg(port, "", "request_route { exit; }").replace("loadmodule \"tmx.so\"\n", "");
    let _s = Siprd::start(&no_tmx);
    let all = result(port, "stats.get_statistics", json!(["all"])).to_string();
    assert!(!all.contains("tmx:"), "{all}");
}
