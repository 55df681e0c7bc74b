//! Differences found by running the same configs on Kamailio 5.6.3 and siprd
//! (async, evrexec, nosip and evapi, the modules of the mission seeds). Each
//! test pins what Kamailio 5.6.3 was seen doing.

mod common;

use common::*;
use std::time::Duration;

const ASYNC_RC: &str = r#"
async_workers=1
loadmodule "async.so"
loadmodule "evrexec.so"
modparam("async", "ms_timer", 10)
modparam("evrexec", "exec", "name=evrexec:start")
request_route {
    if ($rU == "sub") {
        route(SUB);
        xlog("L_INFO", "NEVER after sub\n");
    }
    if ($rU == "ms") {
        $var(x) = 5;
        if ($var(x) == 5) {
            t_on_failure("NOPE");
            is_method("XYZ");
            async_ms_sleep("20");
            xlog("L_INFO", "MS resumed rc=$rc\n");
            t_reply("201", "ms");
        }
    }
}
route[SUB] {
    is_method("XYZ");
    async_sleep("1");
    xlog("L_INFO", "SUB resumed rc=$rc\n");
    t_reply("200", "sub");
}
failure_route[NOPE] {
    xlog("L_INFO", "NOPE\n");
}
event_route[evrexec:start] {
    async_sleep("1");
    xlog("L_INFO", "EVR after sleep rc=$rc\n");
}
"#;

/// Kamailio 5.6.3: the rest of a block resumed after async_sleep /
/// async_ms_sleep starts with `$rc` 0, whatever the code before the suspension
/// was; async_sleep on the faked message of an event route logs "invalid usage
/// for faked message" and returns -1.
#[test]
fn rc_is_zero_where_a_suspended_block_resumes() {
    let s = Siprd::start(&tm_cfg(1, "", ASYNC_RC));
    let c = UdpClient::new();
    assert!(s.wait_log("EVR after sleep rc=-1", WAIT), "{}", s.log());
    assert!(
        s.log()
            .contains("async_sleep: invalid usage for faked message"),
        "{}",
        s.log()
    );
    // a failing function just before: $rc would be -1 without the reset
    for (user, want) in [("sub", "SIP/2.0 200 sub"), ("ms", "SIP/2.0 201 ms")] {
        c.send(
            s.udp_addr(),
            &request(
                "MESSAGE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                user,
                "",
            ),
        );
        let mut got = None;
        while let Some(m) = c.recv(Duration::from_secs(3)) {
            if !first_line(&m).starts_with("SIP/2.0 100") {
                got = Some(first_line(&m).to_string());
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(want), "user {user}: {}", s.log());
    }
    // The log is read from the server's stderr by another thread: wait for
    // the lines rather than expect them with the replies.
    for line in ["SUB resumed rc=0", "MS resumed rc=0"] {
        assert!(s.wait_log(line, WAIT), "{line}: {}", s.log());
    }
    assert_eq!(s.count_log("NEVER"), 0, "{}", s.log());
}

fn failure_cfg(hop: u16) -> String {
    tm_cfg(
        1,
        "async_workers=1\nloadmodule \"async.so\"\nmodparam(\"async\", \"ms_timer\", 10)\n",
        &r#"
request_route {
    if (is_method("ACK")) { exit; }
    $avp(u) = $rU;
    if ($rU == "bf") { t_on_branch_failure("bf"); }
    t_on_failure("F");
    t_relay_to_udp("127.0.0.1", "HOP");
}
event_route[tm:branch-failure:bf] {
    async_ms_route("R", "50");
}
failure_route[F] {
    xlog("L_INFO", "FAILURE $T_reply_code u=$avp(u) n=$avp(n)\n");
    if ($avp(n) == 1) { exit; }
    $avp(n) = 1;
    if ($avp(u) == "sleep") {
        async_ms_sleep("50");
        xlog("L_INFO", "SLEEP resumed\n");
        t_reply("502", "after sleep");
        exit;
    }
    if ($avp(u) == "task") { async_task_route("R"); }
    if ($avp(u) == "msr") { async_ms_route("R", "50"); }
    if ($avp(u) == "none") { async_ms_route("NONE", "50"); }
    if ($avp(u) == "relay") { async_ms_route("RELAY", "50"); }
    if ($avp(u) == "newuri") { async_ms_route("NEWURI", "50"); }
}
route[R] {
    xlog("L_INFO", "R rm=$rm\n");
    t_reply("504", "from R");
}
route[NONE] {
    xlog("L_INFO", "NONE\n");
}
route[RELAY] {
    t_on_failure("F");
    t_relay_to_udp("127.0.0.1", "HOP");
    xlog("L_INFO", "RELAY rc=$rc\n");
}
route[NEWURI] {
    $ru = "sip:again@127.0.0.1:HOP";
    t_on_failure("F");
    t_relay();
    xlog("L_INFO", "NEWURI rc=$rc\n");
}
"#
        .replace("HOP", &hop.to_string()),
    )
}

/// The final reply the client gets (100s skipped), within a bounded wait.
fn final_of(c: &UdpClient) -> Option<String> {
    while let Some(m) = c.recv(Duration::from_secs(3)) {
        if !first_line(&m).starts_with("SIP/2.0 1") {
            return Some(first_line(&m).to_string());
        }
    }
    None
}

/// Kamailio 5.6.3: an async function in a failure route (or a
/// tm:branch-failure route, which then skips the failure route) suspends the
/// transaction there: the negative reply is not relayed, the resumed route
/// (or the rest of the block) answers; a resumed route that answers nothing
/// gets tm's 500, and a `t_relay` there with the R-URI already used finds no
/// branch (`500 ... (6/TM)`), while a new `$ru` makes a new branch.
#[test]
fn async_in_failure_route_suspends_the_transaction() {
    let hop = NextHop::new();
    let s = Siprd::start(&failure_cfg(hop.port()));
    let c = UdpClient::new();
    let cases = [
        ("sleep", "SIP/2.0 502 after sleep", 1),
        ("task", "SIP/2.0 504 from R", 1),
        ("msr", "SIP/2.0 504 from R", 1),
        (
            "none",
            "SIP/2.0 500 I'm terribly sorry, server error occurred (1/TM)",
            1,
        ),
        (
            "relay",
            "SIP/2.0 500 I'm terribly sorry, server error occurred (6/TM)",
            1,
        ),
        ("newuri", "SIP/2.0 486 Busy Here", 2),
        ("bf", "SIP/2.0 504 from R", 1),
    ];
    for (user, want, invites) in cases {
        let inv = request(
            "INVITE",
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            user,
            "",
        );
        c.send(s.udp_addr(), &inv);
        for _ in 0..invites {
            let (req, from) = hop
                .recv_start("INVITE ", WAIT)
                .unwrap_or_else(|| panic!("{user}: no INVITE at the hop\n{}", s.log()));
            hop.answer(&req, from, "486 Busy Here");
        }
        assert_eq!(final_of(&c).as_deref(), Some(want), "{user}\n{}", s.log());
        c.send(
            s.udp_addr(),
            &request("ACK", &format!("sip:{user}@127.0.0.1"), c.port(), user, ""),
        );
        c.drain();
    }
    let log = s.log();
    assert!(log.contains("SLEEP resumed"), "{log}");
    assert!(log.contains("R rm=INVITE"), "{log}");
    assert!(log.contains("RELAY rc=-1"), "{log}");
    assert!(log.contains("NEWURI rc=1"), "{log}");
    assert!(log.contains("FAILURE 486 u=newuri n=1"), "{log}");
    // suspended in the branch-failure route: the failure route does not run
    assert_eq!(s.count_log("u=bf"), 0, "{log}");
}

/// Kamailio 5.6.3: the name of an `exec` task is a known event route even
/// without a block: `evrexec.run` of it succeeds (`{}`), logs "empty event
/// route block" and runs nothing (its faked request still counts in `$mi`);
/// a name that is neither a block nor a task is "Event route not found".
#[test]
fn evrexec_run_of_a_task_without_a_block() {
    let rpc_port = free_udp_port();
    let cfg = format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "jsonrpcs.so"
loadmodule "evrexec.so"
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")
modparam("evrexec", "exec", "name=evrexec:undefined;workers=1")
request_route {{
    drop;
}}
event_route[evrexec:other] {{
    xlog("L_ERR", "OTHER mi=$mi data=$evr(data)\n");
}}
"#
    );
    let s = Siprd::start(&cfg);
    let run = |name: &str, id: u32| {
        let req = format!(
            r#"{{"jsonrpc":"2.0","method":"evrexec.run","params":["{name}","d{id}"],"id":{id}}}"#
        );
        rpc_datagram(rpc_port, req.as_bytes(), Duration::from_secs(3))
    };
    let r = run("evrexec:other", 1).expect("answer");
    assert_eq!(r["result"], serde_json::json!({}), "{r}");
    let r = run("evrexec:undefined", 2).expect("answer");
    assert_eq!(r["result"], serde_json::json!({}), "{r}");
    assert!(r.get("error").is_none(), "{r}");
    let r = run("evrexec:nope", 3).expect("answer");
    assert_eq!(r["error"]["message"], "Event route not found", "{r}");
    let r = run("evrexec:other", 4).expect("answer");
    assert_eq!(r["result"], serde_json::json!({}), "{r}");
    assert!(
        s.wait_log("OTHER mi=3 data=d4", WAIT),
        "the empty run counts in $mi\n{}",
        s.log()
    );
    assert!(s.log().contains("OTHER mi=1 data=d1"), "{}", s.log());
    assert!(
        s.log()
            .contains("empty event route block [evrexec:undefined]"),
        "{}",
        s.log()
    );
}

/// Kamailio 5.6.3: only datagrams under 32 bytes are ignored; 32 bytes or
/// more of blanks, CRLFs or NULs are junk like any other: they run
/// event_route[nosip:msg] with the packet as `$mb`.
#[test]
fn long_whitespace_datagrams_reach_nosip() {
    let s = Siprd::start(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "nosip.so"
request_route {
    drop;
}
event_route[nosip:msg] {
    xlog("L_ERR", "NOSIP ml=$ml first=$(mb{s.substr,0,1}{s.encode.hexa})\n");
}
"#,
    );
    let c = UdpClient::new();
    c.send(s.udp_addr(), &" ".repeat(31));
    c.send(s.udp_addr(), &"\r\n".repeat(15));
    c.send(s.udp_addr(), &" ".repeat(32));
    c.send(s.udp_addr(), &"\r\n".repeat(17));
    c.send_bytes(s.udp_addr(), &[0u8; 40]);
    c.send(s.udp_addr(), &"x".repeat(33));
    assert!(s.wait_log("NOSIP ml=33 first=78", WAIT), "{}", s.log());
    let log = s.log();
    assert!(log.contains("NOSIP ml=32 first=20"), "{log}");
    assert!(log.contains("NOSIP ml=34 first=0d"), "{log}");
    assert!(log.contains("NOSIP ml=40 first=00"), "{log}");
    assert_eq!(s.count_log("NOSIP"), 4, "{log}");
}

/// Read from `s` until `want` is among the bytes read or `wait` passes.
fn read_until(s: &mut std::net::TcpStream, want: &[u8], wait: Duration) -> Vec<u8> {
    use std::io::Read;
    let end = std::time::Instant::now() + wait;
    let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while std::time::Instant::now() < end && !got.windows(want.len()).any(|w| w == want) {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
    }
    got
}

/// Kamailio 5.6.3's stream reader skips blanks and tabs as well as CR/LF
/// before a message: `"  \t\r\n\r\n"` is a keep-alive ping (answered `"\r\n"`)
/// and a request after a leading blank is served; siprd closed the
/// connection ("cannot be framed").
#[test]
fn tcp_blanks_before_a_message_are_skipped() {
    use std::io::Write;
    let s = Siprd::start(
        r#"
children=1
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
request_route {
    sl_send_reply("200", "ok");
}
"#,
    );
    let mut t = std::net::TcpStream::connect(s.tcp_addr()).expect("connect");
    t.write_all(b"  \t\r\n\r\n").expect("write");
    assert_eq!(read_until(&mut t, b"\r\n", WAIT), b"\r\n", "{}", s.log());
    let req = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5000;branch=z9hG4bKb1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: blank1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    t.write_all(format!(" \t{req}").as_bytes()).expect("write");
    let got = read_until(&mut t, b"SIP/2.0 200 ok", WAIT);
    assert!(
        String::from_utf8_lossy(&got).contains("SIP/2.0 200 ok"),
        "{:?}\n{}",
        String::from_utf8_lossy(&got),
        s.log()
    );
}

/// Kamailio 5.6.3 starts a config using `evapi_async_relay` without tm; the
/// call is false at run time ("evapi async relay is disabled - tm module not
/// loaded") and the script goes on. siprd refused the config.
#[test]
fn evapi_async_relay_without_tm_is_false_at_run_time() {
    let port = free_tcp_port();
    let s = Siprd::start(&format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "evapi.so"
modparam("evapi", "bind_addr", "127.0.0.1:{port}")
request_route {{
    evapi_async_relay("x");
    $var(a) = $rc;
    evapi_async_unicast("x", "t");
    sl_send_reply("200", "a=$var(a) u=$rc");
}}
"#
    ));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "notm", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 a=-1 u=-1", "{}", s.log());
    assert!(
        s.wait_log("evapi async relay is disabled - tm module not loaded", WAIT),
        "{}",
        s.log()
    );
}

/// Kamailio 5.6.3's evapi `bind_addr`: without `:PORT` the default port
/// (8448) is used; port 0 is refused at start ("invalid port: 0").
#[test]
fn evapi_bind_addr_default_port_and_port_zero() {
    let cfg = |bind: &str| {
        format!(
            r#"
listen=udp:127.0.0.1:0
loadmodule "evapi.so"
modparam("evapi", "bind_addr", "{bind}")
request_route {{
    drop;
}}
"#
        )
    };
    let (code, out) = check_config(&cfg("127.0.0.1"));
    assert_eq!(code, 0, "{out}");
    let (code, out) = check_config(&cfg("127.0.0.1:0"));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("invalid port: 0"), "{out}");
}

/// Kamailio 5.6.3 reads the evrexec `exec` value as a `;` list: one `;` at
/// the very end is fine, any other empty item refuses the config; an empty
/// `wait=`, `workers=` or `sockaddr=` is accepted (0, one worker, no socket).
#[test]
fn evrexec_exec_empty_items_and_values() {
    let cfg = |exec: &str| {
        format!(
            r#"
listen=udp:127.0.0.1:0
loadmodule "xlog.so"
loadmodule "evrexec.so"
modparam("evrexec", "exec", "{exec}")
request_route {{
    drop;
}}
event_route[evrexec:x] {{
    xlog("L_ERR", "ran\n");
}}
"#
        )
    };
    for ok in [
        "name=evrexec:x;",
        "name=evrexec:x;wait=",
        "name=evrexec:x;workers=",
        "name=evrexec:x;sockaddr=",
    ] {
        let (code, out) = check_config(&cfg(ok));
        assert_eq!(code, 0, "{ok}: {out}");
    }
    for bad in [
        ";name=evrexec:x",
        "name=evrexec:x;;",
        "name=evrexec:x;;workers=1",
        "name=evrexec:x; ;workers=1",
        "name=evrexec:x; ",
    ] {
        let (code, out) = check_config(&cfg(bad));
        assert_ne!(code, 0, "{bad}: {out}");
    }
    // an empty sockaddr is a start-up task
    let s = Siprd::start(&cfg("name=evrexec:x;sockaddr=;wait="));
    assert!(s.wait_log("ran", WAIT), "{}", s.log());
}

/// Kamailio 5.6.3: a bad `async_workers_group` (no name, no or 0 workers) is
/// logged and left out, the server starts; unknown keys in a group are
/// ignored. siprd refused these configs.
#[test]
fn bad_async_workers_groups_are_logged_and_left_out() {
    let s = Siprd::start(&tm_cfg(
        1,
        "async_workers_group=\"name=bad\"\nasync_workers_group=\"workers=2\"\n\
         async_workers_group=\"name=g;workers=1;future=1\"\nloadmodule \"async.so\"\n",
        r#"
request_route {
    async_task_group_data("R", "g", "d");
    $var(g) = $rc;
    async_task_group_data("R", "bad", "d");
    sl_send_reply("200", "g=$var(g) bad=$rc");
}
route[R] {
    xlog("L_INFO", "R gname=$async(gname)\n");
}
"#,
    ));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "grp", ""),
    );
    // an unknown group: logged, still 1, nothing runs (as Kamailio)
    assert_eq!(first_line(&r), "SIP/2.0 200 g=1 bad=1", "{}", s.log());
    assert!(s.wait_log("R gname=g", WAIT), "{}", s.log());
    let log = s.log();
    assert!(log.contains("`name=bad` needs a name"), "{log}");
    assert!(log.contains("`workers=2` needs a name"), "{log}");
    assert_eq!(s.count_log("R gname="), 1, "{log}");
}

/// Kamailio 5.6.3 starts with `modparam("async", "workers", 0)` (or < 0);
/// then async_sleep / async_route and the ms functions are -1 ("no async mod
/// timer workers (modparam missing?)") and the script goes on; the task
/// functions (core workers) still work. siprd refused the config.
#[test]
fn async_module_without_timer_workers() {
    let s = Siprd::start(&tm_cfg(
        1,
        "async_workers=1\nloadmodule \"async.so\"\nmodparam(\"async\", \"workers\", 0)\n\
         modparam(\"async\", \"ms_timer\", 10)\n",
        r#"
request_route {
    if ($rU == "task") { async_task_route("T"); exit; }
    async_sleep("1");
    $var(s) = $rc;
    async_ms_route("T", "50");
    sl_send_reply("200", "s=$var(s) m=$rc");
}
route[T] {
    t_reply("202", "task");
}
"#,
    ));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("MESSAGE", "sip:a@127.0.0.1", c.port(), "nowk", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 s=-1 m=-1", "{}", s.log());
    assert!(
        s.wait_log("no async mod timer workers (modparam missing?)", WAIT),
        "{}",
        s.log()
    );
    let r = c.request(
        s.udp_addr(),
        &request("MESSAGE", "sip:task@127.0.0.1", c.port(), "nowk2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 202 task", "{}", s.log());
}

/// Kamailio 5.6.3 starts with evapi `max_clients` 0 and closes every client
/// at once (no connection-new event). siprd refused the config.
#[test]
fn evapi_max_clients_zero_closes_every_client() {
    let port = free_tcp_port();
    let s = Siprd::start(&format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "evapi.so"
modparam("evapi", "bind_addr", "127.0.0.1:{port}")
modparam("evapi", "max_clients", 0)
request_route {{
    drop;
}}
event_route[evapi:connection-new] {{
    xlog("L_ERR", "NEW $evapi(conidx)\n");
}}
"#
    ));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let mut c = TcpClient::connect(addr);
    assert!(c.closed_within(WAIT), "{}", s.log());
    assert_eq!(s.count_log("NEW "), 0, "{}", s.log());
}
