//! tm/tmx functions checked against Kamailio 5.6: t_drop_replies and
//! failure_reply_mode, t_save_lumps, t_drop, t_reply_callid,
//! t_cancel_branches, tm.list / tm.stats. Real binary on loopback, short timers.

mod common;
use common::*;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A next hop answering every new request (by Via branch) with `status`,
/// keeping what it received.
struct Hop {
    port: u16,
    got: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Hop {
    fn new(status: &'static str) -> Hop {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let got = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (g, st) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seen = std::collections::HashSet::new();
            let mut buf = vec![0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                g.lock().unwrap().push(m.clone());
                let method = m.split(' ').next().unwrap_or("").to_string();
                if method == "ACK" || method.starts_with("SIP/") {
                    continue;
                }
                let st = if method == "CANCEL" { "200 OK" } else { status };
                if method != "CANCEL" && !seen.insert(header(&m, "Via").unwrap_or("").to_string()) {
                    continue;
                }
                answer(&sock, &m, from, st);
            }
        });
        Hop { port, got, stop }
    }
    fn requests(&self, method: &str) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|m| m.starts_with(&format!("{method} ")))
            .cloned()
            .collect()
    }
}

impl Drop for Hop {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn answer(sock: &UdpSocket, req: &str, from: SocketAddr, status: &str) {
    let _ = sock.send_to(hop_reply(req, status).as_bytes(), from);
}

fn cfg(params: &str, routes: &str) -> String {
    tm_cfg(
        2,
        &format!(
            "modparam(\"tm\", \"fr_timer\", 1500)\nmodparam(\"tm\", \"wt_timer\", 500)\n{params}"
        ),
        routes,
    )
}

/// The final replies the client gets within `wait` (provisional ones skipped).
fn finals(c: &UdpClient, wait: Duration) -> Vec<String> {
    let end = Instant::now() + wait;
    let mut out = Vec::new();
    while Instant::now() < end {
        if let Some(m) = c.recv(Duration::from_millis(50)) {
            if !first_line(&m).starts_with("SIP/2.0 1") {
                out.push(first_line(&m).to_string());
            }
        }
    }
    out
}

fn serial_cfg(a: u16, b: u16, params: &str) -> String {
    cfg(
        params,
        &format!(
            r#"
request_route {{
    if (is_method("ACK")) {{ t_relay(); exit; }}
    t_on_failure("F");
    $du = "sip:127.0.0.1:{a}";
    if ($rU == "lumps") {{
        t_newtran();
        append_hf("X-H1: 1\r\n");
        t_save_lumps();
        append_hf("X-H2: 1\r\n");
    }} else {{
        append_hf("X-Before: 1\r\n");
    }}
    t_relay();
}}
failure_route[F] {{
    xlog("L_INFO", "F $T_reply_code $rU\n");
    append_hf("X-H3: 1\r\n");
    xlog("L_INFO", "TP $T_rpl($rs) $T_rpl($hdr(To)) $rm $rU [$T_req($hdr(X-Before))]\n");
    if ($rU == "dropall") {{ t_drop_replies(); }}
    if ($rU == "dropnone") {{ t_drop_replies("n"); }}
    if ($rU == "droplast") {{ t_drop_replies("l"); }}
    if ($rU == "nothing") {{ t_drop_replies(); exit; }}
    if ($rU == "fdrop") {{ t_drop(); xlog("L_INFO", "NEVER after t_drop\n"); }}
    $du = "sip:127.0.0.1:{b}";
    t_relay();
}}
"#
        ),
    )
}

fn serial_call(s: &Siprd, user: &str) -> Vec<String> {
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request(
            "INVITE",
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            &format!("tmx-{user}"),
            "",
        ),
    );
    finals(&c, Duration::from_millis(700))
}

#[test]
fn serial_forking_drops_earlier_replies_as_kamailio() {
    let a = Hop::new("404 Not Here");
    let b = Hop::new("486 Busy B");
    let s = Siprd::start(&serial_cfg(a.port, b.port, ""));
    // failure_reply_mode 3 (default): the new leg's reply wins, not the lower 404
    assert_eq!(serial_call(&s, "serial")[0], "SIP/2.0 486 Busy B");
    assert_eq!(serial_call(&s, "dropall")[0], "SIP/2.0 486 Busy B");
    assert_eq!(serial_call(&s, "droplast")[0], "SIP/2.0 486 Busy B");
    // mode n keeps the 404 in the choice
    assert_eq!(serial_call(&s, "dropnone")[0], "SIP/2.0 404 Not Here");
    // everything dropped and nothing new: tm's 500
    assert_eq!(
        serial_call(&s, "nothing")[0],
        "SIP/2.0 500 I'm terribly sorry, server error occurred (1/TM)"
    );
    // the new leg carries the edits made before the first t_relay
    let inv = b.requests("INVITE");
    assert!(
        inv.iter()
            .any(|m| m.contains("X-Before: 1") && m.contains("X-H3: 1")),
        "{inv:?}"
    );
}

#[test]
fn failure_reply_mode_0_keeps_every_reply() {
    let a = Hop::new("404 Not Here");
    let b = Hop::new("486 Busy B");
    let s = Siprd::start(&serial_cfg(
        a.port,
        b.port,
        r#"modparam("tm", "failure_reply_mode", 0)"#,
    ));
    assert_eq!(serial_call(&s, "serial")[0], "SIP/2.0 404 Not Here");
    let (code, out) = check_config(&serial_cfg(
        1,
        2,
        r#"modparam("tm", "failure_reply_mode", 7)"#,
    ));
    assert_ne!(code, 0, "{out}");
}

#[test]
fn t_save_lumps_fixes_what_failure_route_branches_carry() {
    let a = Hop::new("404 Not Here");
    let b = Hop::new("486 Busy B");
    let s = Siprd::start(&serial_cfg(a.port, b.port, ""));
    assert_eq!(serial_call(&s, "lumps")[0], "SIP/2.0 486 Busy B");
    let first = a.requests("INVITE");
    assert!(
        first[0].contains("X-H1: 1") && first[0].contains("X-H2: 1"),
        "{first:?}"
    );
    let second = b.requests("INVITE");
    assert!(
        second[0].contains("X-H1: 1")
            && second[0].contains("X-H3: 1")
            && !second[0].contains("X-H2"),
        "{second:?}"
    );
}

#[test]
fn t_drop_in_failure_route_sends_nothing_and_ends_the_script() {
    let a = Hop::new("404 Not Here");
    let b = Hop::new("486 Busy B");
    let s = Siprd::start(&serial_cfg(a.port, b.port, ""));
    assert!(serial_call(&s, "fdrop").is_empty());
    assert!(s.wait_log("F 404 fdrop", WAIT));
    assert_eq!(s.count_log("NEVER after t_drop"), 0);
    assert!(b.requests("INVITE").is_empty());
}

const LOCAL: &str = r#"
request_route {
    if ($rU == "park") {
        t_suspend();
        xlog("L_INFO", "PARKED $ci\n");
        exit;
    }
    if ($rU == "rcid") {
        t_reply_callid("$hdr(X-CID)", "$hdr(X-CSEQ)", "486", "Replied Remotely");
        xlog("L_INFO", "RCID rc=$rc\n");
        sl_send_reply("200", "done");
        exit;
    }
    if ($rU == "treply") {
        t_newtran();
        t_reply("404", "Not Here");
    }
    if ($rU == "tdrop") {
        t_newtran();
        t_drop();
        xlog("L_INFO", "NEVER after t_drop\n");
    }
    if ($rU == "tdrop404") {
        t_newtran();
        t_drop(404);
        xlog("L_INFO", "NEVER after t_drop\n");
    }
    xlog("L_INFO", "END $rU\n");
}
event_route[tm:local-response] {
    xlog("L_INFO", "LR rm=$rm rs=$rs ci=$ci\n");
}
"#;

#[test]
fn t_reply_callid_answers_a_parked_transaction_once() {
    let s = Siprd::start(&cfg("", LOCAL));
    let parked = UdpClient::new();
    let inv = request(
        "INVITE",
        "sip:park@127.0.0.1",
        parked.port(),
        "tmx-park",
        "",
    )
    .replace("CSeq: 1 INVITE", "CSeq: 7 INVITE");
    parked.send(s.udp_addr(), &inv);
    let trying = parked.recv(WAIT).expect("100");
    assert!(first_line(&trying).starts_with("SIP/2.0 100"));
    let m = UdpClient::new();
    for (i, (cseq, rc)) in [("8", "-1"), ("7", "1"), ("7", "-1")]
        .into_iter()
        .enumerate()
    {
        let extra = format!("X-CID: tmx-park\r\nX-CSEQ: {cseq}\r\n");
        let r = m.request(
            s.udp_addr(),
            &request(
                "MESSAGE",
                "sip:rcid@127.0.0.1",
                m.port(),
                &format!("rc{cseq}{rc}"),
                &extra,
            ),
        );
        assert_eq!(first_line(&r), "SIP/2.0 200 done");
        // The log line may land after the reply: wait for this request's own.
        let seen = if rc == "1" { 1 } else { 1 + i / 2 };
        assert!(
            s.wait_log_count(&format!("RCID rc={rc}"), seen, WAIT),
            "{}",
            s.log()
        );
        if rc == "1" {
            let got = parked.recv(WAIT).expect("486");
            assert_eq!(first_line(&got), "SIP/2.0 486 Replied Remotely");
            assert_eq!(header(&got, "CSeq"), Some("7 INVITE"));
        }
    }
    assert_eq!(s.count_log("RCID rc=-1"), 2);
    // tm:local-response runs on each local stateful reply (Kamailio 5.6.3: only
    // on the first of each worker process)
    assert!(
        s.wait_log("LR rm=INVITE rs=486 ci=tmx-park", WAIT),
        "{}",
        s.log()
    );
    assert!(s.log().contains("LR rm=INVITE rs=100 ci=tmx-park"));
}

#[test]
fn t_drop_answers_nothing_and_absorbs_retransmissions() {
    let s = Siprd::start(&cfg("", LOCAL));
    let c = UdpClient::new();
    for user in ["tdrop", "tdrop404"] {
        let r = request(
            "INVITE",
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            user,
            "",
        );
        c.send(s.udp_addr(), &r);
        c.expect_silence(Duration::from_millis(300));
        c.send(s.udp_addr(), &r);
        c.expect_silence(Duration::from_millis(300));
    }
    assert_eq!(s.count_log("NEVER after t_drop"), 0);
    assert_eq!(s.count_log("END"), 0);
}

#[test]
fn t_cancel_branches_takes_only_its_names() {
    for bad in ["\"$hdr(X)\"", "\"some\""] {
        let (code, out) = check_config(&cfg(
            "",
            &format!(
                "request_route {{ t_relay(); }}\nonreply_route[R] {{ t_cancel_branches({bad}); }}"
            ),
        ));
        assert_ne!(code, 0, "{out}");
    }
    let (code, out) = check_config(&cfg(
        "",
        "request_route { t_relay(); }\nonreply_route[R] { t_cancel_branches(\"others\"); }",
    ));
    assert_eq!(code, 0, "{out}");
}

fn rpc(port: u16, method: &str) -> serde_json::Value {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let req = format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":1}}"#);
    s.send_to(req.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).expect("rpc reply");
    serde_json::from_slice(&buf[..n]).expect("json")
}

#[test]
fn tm_list_and_stats() {
    let rpc_port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let params = format!(
        r#"loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")"#
    );
    let s = Siprd::start(&cfg(&params, LOCAL));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:park@127.0.0.1", c.port(), "tmx-list", ""),
    );
    assert!(s.wait_log("PARKED tmx-list", WAIT));
    let list = rpc(rpc_port, "tm.list");
    let cells = list["result"].as_array().expect("array");
    assert_eq!(cells.len(), 1, "{list}");
    let t = &cells[0];
    assert_eq!(t["method"], "INVITE", "{t}");
    assert_eq!(t["callid"], "Call-ID: tmx-list\r\n", "{t}");
    assert_eq!(t["cseq"], "CSeq: 1", "{t}");
    assert!(t["tindex"].is_u64() && t["tlabel"].is_u64(), "{t}");
    // Kamailio 5.6 for a suspended INVITE: INVITE (1), blind branch (4),
    // auto_inv_100 (64), suspended (32768); the blind branch is an outgoing.
    assert_eq!(t["tflags"], 32837, "{t}");
    assert_eq!(t["outgoings"], 1, "{t}");
    let st = rpc(rpc_port, "tm.stats");
    let r = &st["result"];
    assert_eq!(r["current"], 1, "{st}");
    assert_eq!(r["waiting"], 0, "{st}");
    assert_eq!(r["created"], 1, "{st}");
    assert_eq!(r["rpl_generated"], 1, "the 100: {st}");
    assert_eq!(r["4xx"], 0, "{st}");
    // A suspended MESSAGE (Kamailio: 32772), and one the script answered
    // with t_reply (16384, kept while it waits for wt_timer).
    for (user, id) in [("park", "tmx-list-m"), ("treply", "tmx-list-r")] {
        c.send(
            s.udp_addr(),
            &request(
                "MESSAGE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                id,
                "",
            ),
        );
    }
    assert!(s.wait_log("PARKED tmx-list-m", WAIT));
    assert!(s.wait_log("END treply", WAIT));
    let list = rpc(rpc_port, "tm.list");
    let flags = |cid: &str| {
        list["result"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|t| t["callid"] == format!("Call-ID: {cid}\r\n"))
            })
            .map(|t| (t["tflags"].clone(), t["outgoings"].clone()))
    };
    assert_eq!(
        flags("tmx-list-m"),
        Some((32772.into(), 1.into())),
        "{list}"
    );
    assert_eq!(
        flags("tmx-list-r"),
        Some((16384.into(), 0.into())),
        "{list}"
    );
}

/// A next hop that answers an INVITE with 183, waits for our CANCEL (and
/// answers it), then sends 180 and the final reply anyway.
fn late_answering_hop(final_: &'static str) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        let mut invite: Option<(String, SocketAddr)> = None;
        let mut end = Instant::now() + Duration::from_secs(4);
        while Instant::now() < end {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            got.push(first_line(&m).to_string());
            if m.starts_with("INVITE ") && invite.is_none() {
                answer(&sock, &m, from, "183 Session Progress");
                invite = Some((m, from));
            } else if m.starts_with("CANCEL ") {
                answer(&sock, &m, from, "200 OK");
                if let Some((inv, from)) = &invite {
                    std::thread::sleep(Duration::from_millis(50));
                    answer(&sock, inv, *from, "180 Ringing");
                    std::thread::sleep(Duration::from_millis(50));
                    answer(&sock, inv, *from, final_);
                    // Whatever follows (our ACK of a 486) comes at once.
                    end = Instant::now() + Duration::from_millis(300);
                }
            } else if m.starts_with("ACK ") {
                break;
            }
        }
        got
    });
    (port, h)
}

/// Checked against Kamailio 5.6: after `t_cancel_branches("all")` in
/// onreply_route, a later provisional reply of the cancelled branch is
/// neither seen by onreply_route nor relayed; its 200 and its 486 are
/// (the 486 through failure_route, where `t_is_canceled()` is false: no
/// CANCEL was received).
#[test]
fn t_cancel_branches_then_late_replies_of_the_branch() {
    for (final_, want) in [
        ("200 OK", "SIP/2.0 200 OK"),
        ("486 Busy Here", "SIP/2.0 486 Busy Here"),
    ] {
        let (port, hop) = late_answering_hop(final_);
        let routes = format!(
            r#"
request_route {{
    t_on_reply("R");
    t_on_failure("F");
    t_relay_to_udp("127.0.0.1", "{port}");
}}
onreply_route[R] {{
    xlog("L_INFO", "ONREPLY $rs\n");
    if ($rs == 183) {{ t_cancel_branches("all"); }}
}}
failure_route[F] {{
    if (t_is_canceled()) {{ xlog("L_INFO", "FAILURE $T_reply_code canceled\n"); }}
    else {{ xlog("L_INFO", "FAILURE $T_reply_code not canceled\n"); }}
}}
"#
        );
        let s = Siprd::start(&cfg("", &routes));
        let c = UdpClient::new();
        c.send(
            s.udp_addr(),
            &request("INVITE", "sip:late@127.0.0.1", c.port(), "tmx-cb", ""),
        );
        let mut lines = Vec::new();
        let end = Instant::now() + Duration::from_secs(2);
        while Instant::now() < end && !lines.iter().any(|l: &String| l == want) {
            if let Some(m) = c.recv(Duration::from_millis(50)) {
                lines.push(first_line(&m).to_string());
            }
        }
        assert_eq!(
            lines,
            [
                "SIP/2.0 100 trying -- your call is important to us",
                "SIP/2.0 183 Session Progress",
                want
            ],
            "{}",
            s.log()
        );
        if final_.starts_with("486") {
            c.send(
                s.udp_addr(),
                &request("ACK", "sip:late@127.0.0.1", c.port(), "tmx-cb", ""),
            );
            assert!(s.wait_log("FAILURE 486 not canceled", WAIT), "{}", s.log());
        }
        let got = hop.join().unwrap();
        assert!(got.iter().any(|l| l.starts_with("CANCEL ")), "{got:?}");
        assert_eq!(s.count_log("ONREPLY 183"), 1, "{}", s.log());
        assert_eq!(s.count_log("ONREPLY 180"), 0, "{}", s.log());
        assert_eq!(
            s.count_log(&format!("ONREPLY {}", &final_[..3])),
            1,
            "{}",
            s.log()
        );
    }
}

const GROUPS: &str = r#"
async_workers=1
async_workers_group="name=g1;workers=1;nonblock=0;usleep=0"
async_workers_group="name=g2;workers=2"
loadmodule "async.so"
modparam("async", "ms_timer", 10)
request_route {
    if ($rU == "g1") { async_task_group_route("TR", "g1"); xlog("L_INFO", "NEVER\n"); }
    if ($rU == "gd") {
        async_task_group_data("TD", "g2", "d-$ci");
        sl_send_reply("200", "queued");
        exit;
    }
    if ($rU == "def") { async_task_data("TD", "def-$ci"); async_task_route("TR"); }
    if ($rU == "dyn") { $var(r) = "TR"; async_task_route("$var(r)"); }
    if ($rU == "dynr") { $var(r) = "R"; async_ms_route("T$var(r)", 50); }
    if ($rU == "nog") { async_task_group_route("TR", "nosuch"); xlog("L_INFO", "NEVER\n"); }
    if ($rU == "gdn") {
        $var(r) = async_task_group_data("TD", "nosuch", "x");
        sl_send_reply("200", "r=$var(r)");
        exit;
    }
}
route[TR] {
    xlog("L_INFO", "TR $ci gname=[$async(gname)] data=[$async(data)] failure=$T(id_index)\n");
    t_reply("404", "TR");
}
route[TD] {
    xlog("L_INFO", "TD gname=[$async(gname)] data=[$async(data)] rm=$rm\n");
}
"#;

#[test]
fn async_task_groups_from_the_core_parameters() {
    let s = Siprd::start(&cfg("", GROUPS));
    let c = UdpClient::new();
    for user in ["g1", "def", "dyn", "dynr"] {
        c.send(
            s.udp_addr(),
            &request(
                "INVITE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                user,
                "",
            ),
        );
        assert_eq!(
            finals(&c, Duration::from_millis(500)),
            vec!["SIP/2.0 404 TR"],
            "{user}"
        );
    }
    let r = c.request(
        s.udp_addr(),
        &request("MESSAGE", "sip:gd@127.0.0.1", c.port(), "gd", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 queued");
    // Kamailio 5.6: an unknown group is logged ("not found - ignoring") and
    // async_task_group_data() is still 1; nothing runs
    let r = c.request(
        s.udp_addr(),
        &request("MESSAGE", "sip:gdn@127.0.0.1", c.port(), "gdn", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 r=1");
    assert!(
        s.wait_log("TD gname=[g2] data=[d-gd] rm=OPTIONS", WAIT),
        "{}",
        s.log()
    );
    let log = s.log();
    assert!(log.contains("TR g1 gname=[g1] data=[<null>]"), "{log}");
    assert!(log.contains("TR def gname=[default]"), "{log}");
    assert!(log.contains("TD gname=[default] data=[def-def]"), "{log}");
    assert!(log.contains("TR dyn gname=[default]"), "{log}");
    // an unknown group: suspended, never resumed, ended by fr_timer
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:nog@127.0.0.1", c.port(), "nog", ""),
    );
    assert!(s.wait_log("group [nosuch] not found", WAIT));
    let got = finals(&c, Duration::from_millis(2500));
    assert_eq!(
        got.first().map(String::as_str),
        Some("SIP/2.0 408 Request Timeout"),
        "{got:?}"
    );
    assert_eq!(s.count_log("NEVER"), 0);
}

#[test]
fn async_task_functions_need_the_core_workers() {
    let routes = GROUPS
        .lines()
        .filter(|l| !l.starts_with("async_workers"))
        .collect::<Vec<_>>()
        .join("\n");
    let (code, out) = check_config(&cfg("", &routes));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("async_workers"), "{out}");
    // Kamailio 5.6.3: a group with 0 workers is logged ("invalid workers
    // value") and left out; with other groups the config starts
    // (`seedmods_diff.rs`)
    let (code, out) = check_config(&cfg(
        "",
        &GROUPS.replace("name=g2;workers=2", "name=g2;workers=0"),
    ));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn async_return_param_lets_the_script_go_on() {
    let routes = r#"
async_workers=1
loadmodule "async.so"
modparam("async", "return", 1)
modparam("async", "ms_timer", 10)
request_route {
    if ($rU == "sl") {
        async_ms_sleep(300);
        xlog("L_INFO", "AFTER SLEEP rc=$rc\n");
        t_reply("404", "Slept");
        exit;
    }
    async_task_route("TR");
    xlog("L_INFO", "AFTER TASK rc=$rc\n");
}
route[TR] { t_reply("486", "TR"); }
"#;
    let s = Siprd::start(&cfg("", routes));
    let c = UdpClient::new();
    // Kamailio 5.6: the function returns 1, the script replies at once and the
    // later resumption finds the transaction answered.
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:sl@127.0.0.1", c.port(), "ret-sl", ""),
    );
    assert_eq!(
        finals(&c, Duration::from_millis(200)),
        vec!["SIP/2.0 404 Slept"]
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(s.count_log("AFTER SLEEP rc=1"), 1, "{}", s.log());
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:tr@127.0.0.1", c.port(), "ret-tr", ""),
    );
    let got = finals(&c, Duration::from_millis(300));
    assert_eq!(
        got.first().map(String::as_str),
        Some("SIP/2.0 486 TR"),
        "{got:?}"
    );
    assert!(s.wait_log("AFTER TASK rc=1", WAIT));
}

#[test]
fn a_retransmitted_suspended_invite_gets_the_same_100() {
    let s = Siprd::start(&cfg("", LOCAL));
    let c = UdpClient::new();
    let inv = request("INVITE", "sip:park@127.0.0.1", c.port(), "tmx-re100", "");
    c.send(s.udp_addr(), &inv);
    let first = c.recv(WAIT).expect("100");
    assert!(first_line(&first).starts_with("SIP/2.0 100"), "{first}");
    c.send(s.udp_addr(), &inv);
    let again = c.recv(WAIT).expect("100 again");
    assert_eq!(again, first, "the 100 is sent again byte for byte");
}

/// A next hop answering an INVITE with 183 and, when `answer_cancel`, a
/// CANCEL with 200; returns the methods it got within `secs`.
fn cancel_hop(answer_cancel: bool, secs: u64) -> (u16, std::thread::JoinHandle<Vec<String>>) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let method = m.split(' ').next().unwrap_or("").to_string();
            match method.as_str() {
                "INVITE" => answer(&sock, &m, from, "183 Session Progress"),
                "CANCEL" if answer_cancel => answer(&sock, &m, from, "200 OK"),
                _ => {}
            }
            got.push(method);
        }
        got
    });
    (port, h)
}

/// Checked against Kamailio 5.6: the CANCEL tm sends to a branch is
/// retransmitted over UDP (T1 doubling to T2) until it is answered.
#[test]
fn cancel_to_a_branch_is_retransmitted_until_answered() {
    for answered in [false, true] {
        let (port, hop) = cancel_hop(answered, 2);
        let routes = format!(
            r#"
modparam("tm", "retr_timer1", 100)
modparam("tm", "retr_timer2", 400)
request_route {{
    t_relay_to_udp("127.0.0.1", "{port}");
}}
"#
        );
        let s = Siprd::start(&cfg("", &routes));
        let c = UdpClient::new();
        let id = format!("tmx-cancel-{answered}");
        c.send(
            s.udp_addr(),
            &request("INVITE", "sip:b@127.0.0.1", c.port(), &id, ""),
        );
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            match c.recv(Duration::from_millis(50)) {
                Some(m) if first_line(&m).starts_with("SIP/2.0 183") => break,
                _ => {}
            }
        }
        let r = c.request(
            s.udp_addr(),
            &request("CANCEL", "sip:b@127.0.0.1", c.port(), &id, ""),
        );
        assert_eq!(first_line(&r), "SIP/2.0 200 canceling");
        let got = hop.join().unwrap();
        let cancels = got.iter().filter(|m| *m == "CANCEL").count();
        if answered {
            assert_eq!(cancels, 1, "{got:?}");
        } else {
            // sent at 0, 0.1, 0.3, 0.7, 1.1 s ... while the hop listens
            assert!(cancels >= 3, "{got:?}");
        }
    }
}

/// Checked against Kamailio 5.6: a CANCEL finding nothing left to cancel is
/// answered `200 ok -- no more pending branches`; when the INVITE's branches
/// were all cancelled already (t_cancel_branches) and it has no final reply
/// yet, the INVITE first gets a local `487 Request canceled`.
#[test]
fn cancel_with_no_pending_branch() {
    for (status, user) in [("486 Busy Here", "final"), ("183 Session Progress", "tcb")] {
        let hop = Hop::new(status);
        let routes = format!(
            r#"
request_route {{
    if ($rm == "CANCEL") {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    t_on_reply("R");
    t_relay_to_udp("127.0.0.1", "{}");
}}
onreply_route[R] {{
    if ($rs == 183) {{ t_cancel_branches("all"); }}
}}
"#,
            hop.port
        );
        let s = Siprd::start(&cfg("", &routes));
        let c = UdpClient::new();
        let id = format!("tmx-nopend-{user}");
        c.send(
            s.udp_addr(),
            &request(
                "INVITE",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &id,
                "",
            ),
        );
        let want = format!("SIP/2.0 {status}");
        let end = Instant::now() + WAIT;
        while Instant::now() < end {
            match c.recv(Duration::from_millis(50)) {
                Some(m) if first_line(&m) == want => break,
                _ => {}
            }
        }
        c.send(
            s.udp_addr(),
            &request(
                "CANCEL",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &id,
                "",
            ),
        );
        let mut got = Vec::new();
        let end = Instant::now() + Duration::from_millis(500);
        while Instant::now() < end {
            if let Some(m) = c.recv(Duration::from_millis(50)) {
                let line = format!("{} / {}", first_line(&m), header(&m, "CSeq").unwrap_or(""));
                if !got.contains(&line) {
                    got.push(line);
                }
            }
        }
        let mut want = vec!["SIP/2.0 200 ok -- no more pending branches / 1 CANCEL".to_string()];
        if user == "tcb" {
            want.insert(0, "SIP/2.0 487 Request canceled / 1 INVITE".into());
        } else {
            // the 486 again (not ACKed here)
            got.retain(|l| !l.starts_with("SIP/2.0 486"));
        }
        assert_eq!(got, want, "{}", s.log());
    }
}
