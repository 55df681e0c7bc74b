//! Feature interactions around suspended transactions, compared with
//! Kamailio 5.6.3 (tests/kamailio-diff/scen/s40..): each test pins what
//! Kamailio was seen doing.

mod common;

use common::*;
use std::time::Duration;

/// The first reply whose first line does not start with `SIP/2.0 1`.
fn final_of(c: &UdpClient) -> Option<String> {
    while let Some(m) = c.recv(Duration::from_secs(3)) {
        if !first_line(&m).starts_with("SIP/2.0 1") {
            return Some(first_line(&m).to_string());
        }
    }
    None
}

/// Park every INVITE; the ids go to $shv so that a nosip datagram
/// (`RESUME <route>` + padding) resumes it into the named route.
fn resume_cfg(params: &str, hop: u16, routes: &str) -> String {
    let body = format!(
        r#"
loadmodule "nosip.so"
{params}
request_route {{
    if (is_method("ACK")) {{ $var(r) = t_check_trans(); xlog("L_INFO", "ACK $ci check=$var(r)\n"); exit; }}
    if (is_method("OPTIONS")) {{ xlog("L_INFO", "MARK $ci\n"); sl_send_reply("200", "ok"); exit; }}
    if (t_check_trans()) {{ exit; }}
    if ($rU == "early") {{ t_on_reply("REP"); t_on_branch("BR"); }}
    if (!t_suspend()) {{ exit; }}
    $shv(i) = $T(id_index);
    $shv(l) = $T(id_label);
}}
event_route[nosip:msg] {{
    $var(rt) = $(mb{{s.select,1, }});
    $var(r) = t_continue("$shv(i)", "$shv(l)", "$var(rt)");
    xlog("L_INFO", "cont $var(rt) -> $var(r)\n");
}}
route[RELAY] {{
    $du = "sip:127.0.0.1:{hop}";
    t_relay();
    if ($rU == "then") {{ t_reply("404", "after relay"); }}
}}
onreply_route[REP] {{ xlog("L_INFO", "REP $rs\n"); }}
branch_route[BR] {{ xlog("L_INFO", "BR $ru\n"); }}
{routes}
"#
    );
    tm_cfg(1, "", &body)
}

fn resume(s: &Siprd, c: &UdpClient, route: &str) {
    c.send(s.udp_addr(), &format!("RESUME {route}{}", " ".repeat(40)));
}

/// Kamailio 5.6.3: when the final reply to an INVITE is not ACKed, it stops
/// retransmitting it after fr_timer but keeps the transaction until wt_timer
/// after the reply, so a late ACK is still absorbed (t_check_trans ends the
/// script). Seen for a suspended INVITE ended by fr_inv_timer (408).
#[test]
fn late_ack_after_the_ack_wait_is_still_absorbed() {
    let cfg = resume_cfg(
        "modparam(\"tm\", \"fr_timer\", 500)\nmodparam(\"tm\", \"fr_inv_timer\", 500)",
        9,
        "",
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:late@127.0.0.1", c.port(), "late-1", ""),
    );
    assert_eq!(
        final_of(&c).as_deref(),
        Some("SIP/2.0 408 Request Timeout"),
        "{}",
        s.log()
    );
    // past the 500 ms of retransmissions, within wt_timer (5 s)
    std::thread::sleep(Duration::from_millis(1500));
    c.send(
        s.udp_addr(),
        &request("ACK", "sip:late@127.0.0.1", c.port(), "late-1", ""),
    );
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:mark@127.0.0.1", c.port(), "mark-1", ""),
    );
    assert!(s.wait_log("MARK mark-1", WAIT), "{}", s.log());
    assert!(!s.log().contains("ACK late-1"), "{}", s.log());
}

/// Kamailio 5.6.3: t_on_reply / t_on_branch armed before t_suspend still
/// apply to the branches the resumed route relays.
#[test]
fn reply_and_branch_routes_armed_before_suspending_survive_t_continue() {
    let hop = NextHop::new();
    let s = Siprd::start(&resume_cfg("", hop.port(), ""));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:early@127.0.0.1", c.port(), "early-1", ""),
    );
    assert!(c.recv(WAIT).is_some_and(|m| m.starts_with("SIP/2.0 100")));
    resume(&s, &c, "RELAY");
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&inv, from, "180 Ringing");
    hop.answer(&inv, from, "486 Busy Here");
    assert_eq!(
        final_of(&c).as_deref(),
        Some("SIP/2.0 486 Busy Here"),
        "{}",
        s.log()
    );
    assert!(s.wait_log("REP 486", WAIT), "{}", s.log());
    assert!(s.log().contains("REP 180"), "{}", s.log());
    assert!(s.log().contains("BR sip:early@127.0.0.1"), "{}", s.log());
}

/// Kamailio 5.6.3: a local final reply (t_reply after t_relay) stops the
/// retransmissions of branches that have no reply yet; no CANCEL goes out
/// (nothing to cancel before a 1xx), a late final reply is still ACKed.
#[test]
fn local_final_reply_stops_unanswered_branch_retransmissions() {
    let hop = NextHop::new();
    let s = Siprd::start(&resume_cfg("", hop.port(), ""));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:then@127.0.0.1", c.port(), "then-1", ""),
    );
    assert!(c.recv(WAIT).is_some_and(|m| m.starts_with("SIP/2.0 100")));
    resume(&s, &c, "RELAY");
    assert_eq!(
        final_of(&c).as_deref(),
        Some("SIP/2.0 404 after relay"),
        "{}",
        s.log()
    );
    // T1 is 500 ms: a retransmission would show within 1.2 s
    let got = hop.collect(Duration::from_millis(1200));
    let invites: Vec<_> = got
        .iter()
        .filter(|(m, _)| m.starts_with("INVITE"))
        .collect();
    assert_eq!(invites.len(), 1, "{got:?}");
    let (inv, from) = invites[0].clone();
    hop.answer(&inv, from, "486 Busy Here");
    let acks = hop.collect(Duration::from_millis(800));
    assert_eq!(
        acks.iter().filter(|(m, _)| m.starts_with("ACK")).count(),
        1,
        "{acks:?}"
    );
    assert!(
        !acks.iter().any(|(m, _)| m.starts_with("CANCEL")),
        "{acks:?}"
    );
}

/// Kamailio 5.6.3: a CANCEL arriving while a resumed route runs on the
/// INVITE (here an async task) marks it canceled at once (`t_is_canceled`
/// is 1 in that route) but waits for the route to end: the route's final
/// reply goes out, the INVITE gets no 487, the CANCEL gets `200 ok -- no
/// more pending branches`.
#[test]
fn cancel_waits_for_a_running_resumed_route() {
    let params = "async_workers=1\nloadmodule \"async.so\"\nloadmodule \"cfgutils.so\"";
    let routes = r#"
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (is_method("CANCEL")) { t_relay(); exit; }
    if (t_check_trans()) { exit; }
    async_task_route("SLOW");
}
route[SLOW] {
    xlog("L_INFO", "SLOW start\n");
    usleep("800000");
    $var(c) = t_is_canceled();
    $var(r) = t_reply("200", "task late");
    xlog("L_INFO", "SLOW canceled=$var(c) reply=$var(r)\n");
}
"#;
    let s = Siprd::start(&tm_cfg(1, params, routes));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:slow@127.0.0.1", c.port(), "slow-1", ""),
    );
    assert!(s.wait_log("SLOW start", WAIT), "{}", s.log());
    c.send(
        s.udp_addr(),
        &request("CANCEL", "sip:slow@127.0.0.1", c.port(), "slow-1", ""),
    );
    let mut finals = Vec::new();
    while let Some(m) = c.recv(Duration::from_millis(1500)) {
        let line = first_line(&m).to_string();
        if !line.starts_with("SIP/2.0 1") && !finals.contains(&line) {
            finals.push(line);
        }
    }
    assert_eq!(
        finals,
        vec![
            "SIP/2.0 200 task late".to_string(),
            "SIP/2.0 200 ok -- no more pending branches".to_string()
        ],
        "{}",
        s.log()
    );
    assert!(s.wait_log("SLOW canceled=1 reply=1", WAIT), "{}", s.log());
}
