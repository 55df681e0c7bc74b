//! Differences found by running whole, realistic configs on Kamailio 5.6.3
//! and siprd side by side (tests/kamailio-diff/scen/run.py). Each test pins
//! what Kamailio 5.6.3 was seen doing.

mod common;

use common::*;
use std::time::Duration;

/// The final reply the client gets (1xx skipped), within a bounded wait.
fn final_of(c: &UdpClient) -> Option<String> {
    while let Some(m) = c.recv(Duration::from_secs(3)) {
        if !first_line(&m).starts_with("SIP/2.0 1") {
            return Some(first_line(&m).to_string());
        }
    }
    None
}

const SUSPEND_STATE: &str = r#"
loadmodule "htable.so"
loadmodule "nosip.so"
modparam("htable", "htable", "susp=>size=4;")
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    $avp(a) = "before";
    setflag(1);
    if (!t_suspend()) { sl_send_reply("500", "no"); exit; }
    $sht(susp=>$rU) = $_s($T(id_index):$T(id_label));
    $avp(a) = "after";
    $avp(b) = "new";
    setflag(2);
    resetflag(1);
    $ru = "sip:changed@127.0.0.1";
}
event_route[nosip:msg] {
    $var(u) = $(mb{s.select,0, });
    $var(idx) = $(sht(susp=>$var(u)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(susp=>$var(u)){s.select,1,:}{s.int});
    t_continue("$var(idx)", "$var(lbl)", "SHOW");
}
route[SHOW] {
    xlog("L_INFO", "SHOW a=$avp(a) b=$avp(b) mf=$mf rU=$rU\n");
    t_reply("200", "shown");
}
"#;

/// Kamailio 5.6.3: AVPs the request route sets after `t_suspend()` belong to
/// the transaction, so the route `t_continue` runs sees them; the message
/// flags and the R-URI are those of the moment of the suspension.
#[test]
fn avps_set_after_t_suspend_reach_the_resumed_route() {
    let s = Siprd::start(&tm_cfg(1, "", SUSPEND_STATE));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:show@127.0.0.1", c.port(), "sus-1", ""),
    );
    std::thread::sleep(Duration::from_millis(300));
    c.send(s.udp_addr(), &format!("show RESUME{}", " ".repeat(40)));
    assert_eq!(
        final_of(&c).as_deref(),
        Some("SIP/2.0 200 shown"),
        "{}",
        s.log()
    );
    assert!(
        s.wait_log("SHOW a=after b=new mf=2 rU=show", WAIT),
        "{}",
        s.log()
    );
}

const RPC_HTTP: &str = r#"
children=1
tcp_children=1
tcp_accept_no_cl=yes
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 1)
event_route[xhttp:request] {
    jsonrpc_dispatch();
}
request_route {
    $var(r) = jsonrpc_exec("$rb");
    xlog("L_ERR", "EXEC r=$var(r) code=$jsonrpl(code) len=$(jsonrpl(body){s.len})\n");
    sl_send_reply("200", "ok");
}
"#;

/// Kamailio 5.6.3 has no JSON-RPC batches: an array (one request, several,
/// or none) is answered over HTTP, datagram and `jsonrpc_exec` as a request
/// without `jsonrpc`, `{"jsonrpc": "2.0", "result": {}}`, and runs nothing.
#[test]
fn jsonrpc_arrays_are_no_batches() {
    let s = Siprd::start(RPC_HTTP);
    let mut t = TcpClient::connect(s.tcp_addr());
    let empty = "{\n\t\"jsonrpc\":\t\"2.0\",\n\t\"result\":\t{\n\t}\n}";
    for doc in [
        r#"[{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":1}]"#,
        "[]",
        "[1,2]",
    ] {
        t.send(
            format!(
                "POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{doc}",
                doc.len()
            )
            .as_bytes(),
        );
        let r = t.recv(WAIT).expect("an HTTP reply");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{doc}: {r}");
        assert!(r.ends_with(&format!("\r\n\r\n{empty}")), "{doc}: {r}");
    }
    let c = UdpClient::new();
    let doc = r#"[{"jsonrpc":"2.0","method":"core.echo","params":["b"],"id":2}]"#;
    let req = request("MESSAGE", "sip:x@127.0.0.1", c.port(), "rpc-exec", "").replace(
        "Content-Length: 0\r\n\r\n",
        &format!("Content-Length: {}\r\n\r\n{doc}", doc.len()),
    );
    c.send(s.udp_addr(), &req);
    assert_eq!(
        final_of(&c).as_deref(),
        Some("SIP/2.0 200 ok"),
        "{}",
        s.log()
    );
    assert!(s.wait_log("EXEC r=1 code=200 len=38", WAIT), "{}", s.log());
}

const NOSIP_MATCH: &str = r#"
loadmodule "nosip.so"
modparam("nosip", "msg_match", "^(RESUME|PING) ")
modparam("nosip", "msg_skip", "^JUNK")
event_route[nosip:msg] {
    xlog("L_INFO", "NOSIP [$mb]\n");
    if ($(mb{s.select,1, }) == "RESUME") {
        $var(r) = t_continue("$(mb{s.select,2, }{s.int})", "$(mb{s.select,3, }{s.int})", "RESUME");
        xlog("L_INFO", "CONTINUE $var(r)\n");
    }
}
event_route[core:receive-parse-error] {
    xlog("L_INFO", "PERR [$mb]\n");
}
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    t_suspend();
    xlog("L_INFO", "IDS $T(id_index) $T(id_label)\n");
}
route[RESUME] {
    t_reply("200", "resumed");
}
"#;

/// Kamailio 5.6.3's nosip matches `msg_match` against the first line from its
/// second token (the would-be request-URI) to the end, `msg_skip` against the
/// whole packet: `ctl RESUME i l` matches `^(RESUME|PING) `, `PING ...` alone
/// does not (and goes to core:receive-parse-error).
#[test]
fn nosip_msg_match_reads_from_the_second_token() {
    let s = Siprd::start(&tm_cfg(1, "", NOSIP_MATCH));
    let c = UdpClient::new();
    let pad = " ".repeat(30);
    c.send(s.udp_addr(), &format!("PING at the start{pad}"));
    c.send(s.udp_addr(), &format!("ctl PING second{pad}"));
    c.send(s.udp_addr(), &format!("JUNK PING skipped{pad}"));
    assert!(s.wait_log("NOSIP [ctl PING second", WAIT), "{}", s.log());
    assert!(s.wait_log("PERR [PING at the start", WAIT), "{}", s.log());
    assert!(s.wait_log("PERR [JUNK PING skipped", WAIT), "{}", s.log());
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:x@127.0.0.1", c.port(), "ns-1", ""),
    );
    assert!(s.wait_log("IDS ", WAIT), "{}", s.log());
    let log = s.log();
    let ids = log
        .lines()
        .find_map(|l| l.split("IDS ").nth(1))
        .unwrap_or("")
        .to_string();
    c.send(s.udp_addr(), &format!("ctl RESUME {ids} {pad}"));
    assert_eq!(
        final_of(&c).as_deref(),
        Some("SIP/2.0 200 resumed"),
        "{}",
        s.log()
    );
    assert!(s.wait_log("CONTINUE 1", WAIT), "{}", s.log());
    assert_eq!(s.count_log("NOSIP ["), 2, "{}", s.log());
}

/// Kamailio 5.6.3's `{param.*}`: `b=` ending the list is an empty value, one
/// final separator is dropped, a separator followed by nothing fails.
#[test]
fn param_transformations_take_an_empty_final_value() {
    let cfg = tm_cfg(
        1,
        "",
        r#"
request_route {
    $var(p) = $hdr(X-Params);
    append_to_reply("X-R: [$(var(p){param.count})][$(var(p){param.in,b})][$(var(p){param.name,1})]\r\n");
    sl_send_reply("200", "ok");
}
"#,
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    for (i, (params, want)) in [
        (";b=", "[2][1][b]"),
        ("a=1;b= ", "[2][1][b]"),
        (";b=;", "[2][1][b]"),
        ("a;;", "[][][]"),
        ("b=;c=1", "[][][]"),
    ]
    .into_iter()
    .enumerate()
    {
        let r = c.request(
            s.udp_addr(),
            &request(
                "OPTIONS",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("pp-{i}"),
                &format!("X-Params: {params}\r\n"),
            ),
        );
        assert_eq!(header(&r, "X-R"), Some(want), "{params}: {r}");
    }
}

/// Kamailio 5.6.3 evaluates `log_prefix` (a format) once per received
/// message, before any route, and prints it after the level on every line
/// logged while the message is handled; lines logged outside a message
/// (htable:mod-init) have no prefix.
#[test]
fn log_prefix_is_a_per_message_format() {
    let cfg = tm_cfg(
        1,
        "log_prefix=\"{$rm $ci $var(n)} \"\nloadmodule \"htable.so\"",
        r#"
event_route[htable:mod-init] {
    xlog("L_INFO", "init done\n");
}
request_route {
    $var(n) = $var(n) + 1;
    xlog("L_INFO", "seen $var(n)\n");
    sl_send_reply("200", "ok");
}
"#,
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    for id in ["lp-1", "lp-2"] {
        c.request(
            s.udp_addr(),
            &request("OPTIONS", "sip:x@127.0.0.1", c.port(), id, ""),
        );
    }
    assert!(
        s.wait_log("INFO: {OPTIONS lp-2 1} <script>: seen 2", WAIT),
        "{}",
        s.log()
    );
    let log = s.log();
    assert!(
        log.contains("INFO: {OPTIONS lp-1 0} <script>: seen 1"),
        "{log}"
    );
    assert!(log.contains("INFO: <script>: init done"), "{log}");
}

/// A 180 from the next hop after it answered `final_reply`: onreply_route
/// sees both, the caller gets the final reply and not the 180.
fn provisional_after_final(final_reply: &str, call_id: &str) {
    let hop = NextHop::new();
    let cfg = tm_cfg(
        1,
        "",
        &r#"
request_route {
    if (is_method("ACK")) { exit; }
    t_on_reply("R");
    t_relay_to_udp("127.0.0.1", "HOP");
}
onreply_route[R] {
    xlog("L_INFO", "ONREPLY $rs\n");
}
"#
        .replace("HOP", &hop.port().to_string()),
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:b@127.0.0.1", c.port(), call_id, ""),
    );
    let (req, from) = hop.recv_start("INVITE ", WAIT).expect("INVITE at the hop");
    hop.answer(&req, from, final_reply);
    let code = &final_reply[..3];
    assert!(s.wait_log(&format!("ONREPLY {code}"), WAIT), "{}", s.log());
    hop.answer(&req, from, "180 Ringing");
    assert!(s.wait_log("ONREPLY 180", WAIT), "{}", s.log());
    let got = c.first_lines(Duration::from_millis(500));
    assert!(
        got.iter().all(|l| !l.starts_with("SIP/2.0 180")),
        "{got:?}\n{}",
        s.log()
    );
    let relayed = format!("SIP/2.0 {code}");
    assert!(got.iter().any(|l| l.starts_with(&relayed)), "{got:?}");
}

/// Kamailio 5.6.3: a provisional reply arriving after the branch's final
/// reply (a next hop answering a retransmitted INVITE late) runs
/// onreply_route and is not relayed.
#[test]
fn late_provisional_after_final_runs_onreply_route() {
    provisional_after_final("486 Busy Here", "late-180");
}

/// Kamailio 5.6.3: the same after the branch's 2xx, although the 2xx cancels
/// the other branches.
#[test]
fn provisional_after_a_2xx_runs_onreply_route() {
    provisional_after_final("200 OK", "late-180-2xx");
}
