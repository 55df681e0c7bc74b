//! onsend_route, `$snd`/`$sndto`/`$sndfrom`, `onsend_route_reply` and KEMI's
//! `ksr_onsend_route`, end to end. Every behaviour here was first observed on
//! Kamailio 5.6 with the same kind of config (see docs/kamailio-observed.md).

mod common;
use common::*;

use std::time::{Duration, Instant};

fn cfg(params: &str, routes: &str) -> String {
    tm_cfg(1, &format!("modparam(\"tm\", \"fr_timer\", 1500)\nmodparam(\"tm\", \"fr_inv_timer\", 1500)\n{params}"), routes)
}

fn log_lines<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

// ------------------------------------------------------------------ forward()

fn forward_cfg(hop: u16) -> String {
    cfg(
        "",
        &format!(
            r#"
request_route {{
    xlog("L_INFO", "RR snd=$snd(ip) from=$sndfrom(port) len=$snd(len)\n");
    $ru = "sip:changed@127.0.0.1:{hop}";
    if (forward()) {{ xlog("L_INFO", "FWD true $ci\n"); }} else {{ xlog("L_INFO", "FWD false $ci\n"); }}
    exit;
}}
onsend_route {{
    xlog("L_INFO", "OS rm=$rm ru=$ru to=$snd(ip):$snd(port) sndto=$sndto(ip):$sndto(port) proto=$snd(proto) sproto=$snd(sproto) af=$snd(af) from=$sndfrom(ip):$sndfrom(port) fproto=$sndfrom(sproto) len=$snd(len) flen=$sndfrom(len) $ci\n");
    xlog("L_INFO", "OSBUF [$(snd(buf){{s.select,0, }})] $ci\n");
    if ($hdr(X-Case) == "drop") {{ drop; }}
    if ($hdr(X-Case) == "ret0") {{ return 0; }}
    if ($hdr(X-Case) == "retneg") {{ return -1; }}
    if ($hdr(X-Case) == "exit") {{ exit; }}
}}
"#
        ),
    )
}

#[test]
fn forward_runs_onsend_route_with_the_outgoing_buffer() {
    let hop = NextHop::new();
    let s = Siprd::start(&forward_cfg(hop.port()));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:bob@127.0.0.1", c.port(), "os-1", ""),
    );
    let (fwd, _) = hop.recv_start("OPTIONS", WAIT).expect("forwarded");
    assert!(s.wait_log("FWD true os-1", WAIT), "{}", s.log());
    let log = s.log();
    let os = log_lines(&log, "OS rm=");
    assert_eq!(os.len(), 1, "{log}");
    // $ru is the request's as the route left it; $snd(...) the datagram.
    let want = format!(
        "OS rm=OPTIONS ru=sip:changed@127.0.0.1:{p} to=127.0.0.1:{p} sndto=127.0.0.1:{p} proto=1 sproto=udp af=2 from={l}:{lp} fproto=udp len={n} flen={n} os-1",
        p = hop.port(),
        l = s.udp_addr().ip(),
        lp = s.udp_addr().port(),
        n = fwd.len()
    );
    assert!(os[0].ends_with(&want), "{}\nwant {want}", os[0]);
    assert!(log.contains("OSBUF [OPTIONS]"), "{log}");
    // Outside onsend_route the class is null.
    assert!(
        log.contains("RR snd=<null> from=<null> len=<null>"),
        "{log}"
    );
}

#[test]
fn drop_in_onsend_route_stops_forward_other_endings_do_not() {
    let hop = NextHop::new();
    let s = Siprd::start(&forward_cfg(hop.port()));
    let c = UdpClient::new();
    for case in ["drop", "ret0", "retneg", "exit"] {
        let ci = format!("os-{case}");
        send_case(&c, &s, "OPTIONS", &ci, case);
        let got = hop.recv_start("OPTIONS", Duration::from_millis(400));
        if case == "drop" {
            assert!(got.is_none(), "dropped by onsend_route: {got:?}");
            assert!(s.wait_log(&format!("FWD false {ci}"), WAIT), "{}", s.log());
        } else {
            assert!(got.is_some(), "{case}: still sent");
            assert!(s.wait_log(&format!("FWD true {ci}"), WAIT), "{}", s.log());
        }
    }
}

#[test]
fn snd_pvs_are_checked_at_load_and_read_only() {
    let base = "listen=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n";
    for ok in ["ip", "af", "port", "proto", "sproto", "buf", "len"] {
        for class in ["snd", "sndto", "sndfrom"] {
            let (code, out) = check_config(&format!(
                "{base}request_route {{ $var(x) = ${class}({ok}); }}\n"
            ));
            assert_eq!(code, 0, "${class}({ok}): {out}");
        }
    }
    for bad in ["IP", "foo", "rplcode"] {
        let (code, out) = check_config(&format!(
            "{base}request_route {{ $var(x) = $snd({bad}); }}\n"
        ));
        assert_ne!(code, 0, "$snd({bad}) must be refused: {out}");
    }
    let (code, out) = check_config(&format!(
        "{base}onsend_route {{ $snd(ip) = \"1.2.3.4\"; }}\nrequest_route {{ drop; }}\n"
    ));
    assert_ne!(code, 0, "read-only: {out}");
    // Functions are checked against the route type.
    let (code, out) = check_config(&format!(
        "{base}loadmodule \"sl.so\"\nonsend_route {{ sl_send_reply(\"200\", \"OK\"); }}\nrequest_route {{ drop; }}\n"
    ));
    assert_ne!(code, 0, "sl_send_reply in onsend_route: {out}");
}

// ------------------------------------------------------------------ t_relay()

/// Sends a request for `case`, the `X-Case` header the routes switch on.
fn send_case(c: &UdpClient, s: &Siprd, method: &str, call_id: &str, case: &str) {
    c.send(
        s.udp_addr(),
        &request(
            method,
            "sip:bob@127.0.0.1",
            c.port(),
            call_id,
            &format!("X-Case: {case}\r\n"),
        ),
    );
}

fn relay_cfg(params: &str, hop1: u16, hop2: u16) -> String {
    cfg(
        params,
        &format!(
            r#"
request_route {{
    if (is_method("CANCEL|ACK")) {{ t_relay(); exit; }}
    if ($hdr(X-Case) == "fork" || $hdr(X-Case) == "forkdrop") {{ append_branch("sip:b2@127.0.0.1:{hop2}"); }}
    $ru = "sip:changed@127.0.0.1:{hop1}";
    t_on_failure("F");
    t_on_branch("B");
    $var(r) = t_relay();
    xlog("L_INFO", "t_relay returned $var(r) $ci\n");
    exit;
}}
branch_route[B] {{
    xlog("L_INFO", "BR ru=$ru $ci\n");
}}
failure_route[F] {{
    xlog("L_INFO", "FR $T_reply_code $ci\n");
    if ($hdr(X-Case) =~ "^serial" && $T_reply_code == 486 && !isflagset(1)) {{
        setflag(1);
        $ru = "sip:serial@127.0.0.1:{hop2}";
        $var(f) = t_relay();
        xlog("L_INFO", "FR t_relay=$var(f) $ci\n");
    }}
}}
onsend_route {{
    xlog("L_INFO", "OS $(snd(buf){{s.select,0, }}) rm=$rm ru=$ru rs=$rs to=$snd(port) $ci\n");
    xlog("L_INFO", "OSBI $T_branch_idx $ci\n");
    if ($hdr(X-Case) == "dropall") {{ drop; }}
    if ($hdr(X-Case) =~ "^(forkdrop|serialdrop)$" && $snd(port) == {hop2}) {{ drop; }}
    if ($ci =~ "rdrop" && $snd(buf) =~ "^SIP/2.0 ") {{ drop; }}
}}
"#
        ),
    )
}

#[test]
fn t_relay_runs_onsend_once_per_branch_not_for_retransmissions_ack_or_cancel() {
    let (hop1, hop2) = (NextHop::new(), NextHop::new());
    let s = Siprd::start(&relay_cfg(
        r#"modparam("tm", "retr_timer1", 200)"#,
        hop1.port(),
        hop2.port(),
    ));
    let c = UdpClient::new();
    send_case(&c, &s, "INVITE", "os-serial", "serial");
    // Unanswered for a while: the INVITE is retransmitted, onsend ran once.
    let got = hop1.collect(Duration::from_millis(500));
    let invites: Vec<_> = got
        .iter()
        .filter(|(m, _)| m.starts_with("INVITE"))
        .collect();
    assert!(invites.len() >= 2, "retransmitted: {got:?}");
    let (inv, from) = invites[0].clone();
    hop1.answer(&inv, from, "486 Busy Here");
    assert!(hop1.recv_start("ACK", WAIT).is_some(), "hop-by-hop ACK");
    let (inv2, from2) = hop2.recv_start("INVITE", WAIT).expect("serial branch");
    assert!(inv2.starts_with(&format!("INVITE sip:serial@127.0.0.1:{}", hop2.port())));
    // The caller gives up: CANCEL, which tm relays as a CANCEL of its own.
    hop2.answer(&inv2, from2, "180 Ringing");
    assert!(c.recv(WAIT).is_some());
    let cancel = request("CANCEL", "sip:bob@127.0.0.1", c.port(), "os-serial", "");
    c.send(s.udp_addr(), &cancel);
    let (cc, from_c) = hop2.recv_start("CANCEL", WAIT).expect("CANCEL to hop2");
    hop2.answer(&cc, from_c, "200 OK");
    hop2.answer(&inv2, from2, "487 Request Terminated");
    assert!(hop2.recv_start("ACK", WAIT).is_some(), "ACK of the 487");
    let mut last = String::new();
    let end = Instant::now() + WAIT;
    while Instant::now() < end && !last.starts_with("SIP/2.0 487") {
        if let Some(m) = c.recv(Duration::from_millis(100)) {
            last = first_line(&m).to_string();
        }
    }
    assert_eq!(last, "SIP/2.0 487 Request Terminated", "{}", s.log());
    let log = s.log();
    let os = log_lines(&log, "OS ");
    assert_eq!(os.len(), 2, "one per branch, nothing else: {os:#?}");
    assert!(
        os[0].ends_with(&format!(
            "OS INVITE rm=INVITE ru=sip:changed@127.0.0.1:{} rs=<null> to={} os-serial",
            hop1.port(),
            hop1.port()
        )),
        "{}",
        os[0]
    );
    assert!(
        os[1].ends_with(&format!(
            "OS INVITE rm=INVITE ru=sip:serial@127.0.0.1:{} rs=<null> to={} os-serial",
            hop2.port(),
            hop2.port()
        )),
        "{}",
        os[1]
    );
}

#[test]
fn parallel_branches_are_all_built_before_onsend_runs() {
    let (hop1, hop2) = (NextHop::new(), NextHop::new());
    let s = Siprd::start(&relay_cfg("", hop1.port(), hop2.port()));
    let c = UdpClient::new();
    send_case(&c, &s, "INVITE", "os-fork", "fork");
    let (inv, from) = hop1.recv_start("INVITE", WAIT).expect("branch 1");
    let (inv2, from2) = hop2.recv_start("INVITE", WAIT).expect("branch 2");
    assert!(inv2.starts_with(&format!("INVITE sip:b2@127.0.0.1:{}", hop2.port())));
    hop1.answer(&inv, from, "486 Busy Here");
    hop2.answer(&inv2, from2, "486 Busy Here");
    assert!(s.wait_log("FR 486 os-fork", WAIT));
    let log = s.log();
    let order: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("os-fork") && (l.contains(" BR ") || l.contains(" OS ")))
        .map(|l| if l.contains(" BR ") { "BR" } else { "OS" })
        .collect();
    assert_eq!(order, ["BR", "BR", "OS", "OS"], "{log}");
    assert_eq!(log_lines(&log, "OSBI -1 os-fork").len(), 2, "{log}");
    // The second branch's $ru in onsend_route is still the request's.
    let os = log_lines(&log, " OS ");
    assert!(
        os[1].contains(&format!("ru=sip:changed@127.0.0.1:{} ", hop1.port()))
            && os[1].ends_with(&format!("to={} os-fork", hop2.port())),
        "{}",
        os[1]
    );
    // An ACK that matches no transaction is forwarded statelessly: onsend too.
    let ruri = format!("sip:bob@127.0.0.1:{}", hop1.port());
    c.send(s.udp_addr(), &request("ACK", &ruri, c.port(), "os-ack", ""));
    assert!(hop1.recv_start("ACK", WAIT).is_some());
    assert!(
        s.wait_log(
            &format!(
                "OS ACK rm=ACK ru={ruri} rs=<null> to={} os-ack",
                hop1.port()
            ),
            WAIT
        ),
        "{}",
        s.log()
    );
}

#[test]
fn a_dropped_branch_is_not_pending_and_dropping_all_answers_477() {
    let (hop1, hop2) = (NextHop::new(), NextHop::new());
    let s = Siprd::start(&relay_cfg("", hop1.port(), hop2.port()));
    let c = UdpClient::new();
    // One of two branches dropped: the other's 486 is final at once.
    send_case(&c, &s, "INVITE", "os-fd", "forkdrop");
    let (inv, from) = hop1.recv_start("INVITE", WAIT).expect("branch 1");
    assert!(inv.contains(".0\r\n"), "{inv}");
    hop1.answer(&inv, from, "486 Busy Here");
    let t0 = Instant::now();
    let mut finals = Vec::new();
    while t0.elapsed() < Duration::from_secs(1) && finals.is_empty() {
        if let Some(m) = c.recv(Duration::from_millis(100)) {
            if !m.starts_with("SIP/2.0 1") {
                finals.push(first_line(&m).to_string());
            }
        }
    }
    assert_eq!(finals, ["SIP/2.0 486 Busy Here"]);
    assert!(hop2
        .recv_start("INVITE", Duration::from_millis(300))
        .is_none());
    assert!(s.wait_log("t_relay returned 1 os-fd", WAIT));

    // Every branch dropped: t_relay fails and tm answers 477.
    let c = UdpClient::new();
    send_case(&c, &s, "INVITE", "os-da", "dropall");
    let mut lines = Vec::new();
    while let Some(m) = c.recv(Duration::from_millis(300)) {
        lines.push(first_line(&m).to_string());
        if !m.starts_with("SIP/2.0 1") {
            break;
        }
    }
    assert_eq!(
        lines.last().map(String::as_str),
        Some("SIP/2.0 477 Unfortunately error on sending to next hop occurred (477/TM)"),
        "{lines:?}"
    );
    assert!(s.wait_log("t_relay returned -1 os-da", WAIT), "{}", s.log());
    assert!(hop1
        .recv_start("INVITE", Duration::from_millis(300))
        .is_none());
}

#[test]
fn dropping_the_failure_route_branch_answers_477() {
    let (hop1, hop2) = (NextHop::new(), NextHop::new());
    let s = Siprd::start(&relay_cfg("", hop1.port(), hop2.port()));
    let c = UdpClient::new();
    send_case(&c, &s, "INVITE", "os-sd", "serialdrop");
    let (inv, from) = hop1.recv_start("INVITE", WAIT).expect("branch 1");
    hop1.answer(&inv, from, "486 Busy Here");
    assert!(s.wait_log("FR t_relay=-1 os-sd", WAIT), "{}", s.log());
    let mut last = String::new();
    while let Some(m) = c.recv(Duration::from_millis(400)) {
        last = first_line(&m).to_string();
        if !m.starts_with("SIP/2.0 1") {
            break;
        }
    }
    assert_eq!(
        last,
        "SIP/2.0 477 Unfortunately error on sending to next hop occurred (477/TM)"
    );
}

// ------------------------------------------------------------------ replies

#[test]
fn replies_run_onsend_route_only_with_onsend_route_reply() {
    let hop = NextHop::new();
    for reply_too in [false, true] {
        let params = if reply_too {
            "onsend_route_reply=yes"
        } else {
            ""
        };
        let s = Siprd::start(&relay_cfg(params, hop.port(), hop.port()));
        let c = UdpClient::new();
        let ci = format!("os-rpl-{reply_too}");
        c.send(
            s.udp_addr(),
            &request("INVITE", "sip:bob@127.0.0.1", c.port(), &ci, ""),
        );
        let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed");
        hop.answer(&inv, from, "180 Ringing");
        hop.answer(&inv, from, "486 Busy Here");
        let mut got = Vec::new();
        while let Some(m) = c.recv(Duration::from_millis(300)) {
            got.push(first_line(&m).to_string());
            if m.starts_with("SIP/2.0 4") {
                break;
            }
        }
        assert_eq!(
            got.last().map(String::as_str),
            Some("SIP/2.0 486 Busy Here")
        );
        assert!(s.wait_log(&format!("FR 486 {ci}"), WAIT));
        std::thread::sleep(Duration::from_millis(100));
        let log = s.log();
        let os: Vec<&str> = log_lines(&log, " OS ");
        if reply_too {
            // Relayed replies (tm's 180 and the best final 486), not the local 100.
            assert_eq!(os.len(), 3, "{os:#?}");
            assert!(
                os[1].contains(&format!(
                    "OS SIP/2.0 rm=INVITE ru=<null> rs=180 to={} {ci}",
                    c.port()
                )),
                "{}",
                os[1]
            );
            assert!(
                os[2].contains(&format!(
                    "OS SIP/2.0 rm=INVITE ru=<null> rs=486 to={} {ci}",
                    c.port()
                )),
                "{}",
                os[2]
            );
        } else {
            assert_eq!(os.len(), 1, "{os:#?}");
        }
    }
}

#[test]
fn onsend_route_drops_relayed_replies_stateful_and_stateless() {
    let hop = NextHop::new();
    let routes = format!(
        r#"
request_route {{
    if ($hdr(X-Case) == "sl") {{ sl_send_reply("404", "Nope"); exit; }}
    if ($hdr(X-Case) == "fwd") {{ forward("127.0.0.1", {p}); exit; }}
    t_relay("127.0.0.1", {p});
}}
onsend_route {{
    xlog("L_INFO", "OS $(snd(buf){{s.select,0, }}) $ci\n");
    if ($ci =~ "rdrop" && $snd(buf) =~ "^SIP/2.0 ") {{ drop; }}
}}
"#,
        p = hop.port()
    );
    let s = Siprd::start(&cfg("onsend_route_reply=yes", &routes));
    let c = UdpClient::new();
    // A local stateless reply never runs onsend_route.
    let r = c.request(
        s.udp_addr(),
        &request(
            "OPTIONS",
            "sip:bob@127.0.0.1",
            c.port(),
            "os-sl",
            "X-Case: sl\r\n",
        ),
    );
    assert_eq!(first_line(&r), "SIP/2.0 404 Nope");
    for (case, ci) in [("fwd", "os-fwd-rdrop"), ("tm", "os-tm-rdrop")] {
        send_case(&c, &s, "OPTIONS", ci, case);
        let (req, from) = hop.recv_start("OPTIONS", WAIT).expect("forwarded");
        hop.answer(&req, from, "200 OK");
        let want = if case == "fwd" { 1 } else { 2 };
        let end = Instant::now() + WAIT;
        while s.count_log("dropped (onsend_route)") < want && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(s.count_log("dropped (onsend_route)"), want, "{}", s.log());
        let got = c.recv(Duration::from_millis(400));
        assert!(got.is_none(), "{case}: reply dropped, got {got:?}");
    }
    let log = s.log();
    assert_eq!(log_lines(&log, "OS SIP/2.0 os-sl").len(), 0, "{log}");
    assert_eq!(log_lines(&log, "OS SIP/2.0 os-fwd-rdrop").len(), 1, "{log}");
    assert_eq!(log_lines(&log, "OS SIP/2.0 os-tm-rdrop").len(), 1, "{log}");
    assert_eq!(log_lines(&log, "dropped (onsend_route)").len(), 2, "{log}");
}

// ------------------------------------------------------------------ KEMI

fn kemi_cfg(params: &str) -> String {
    format!(
        r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "app_lua.so"
modparam("app_lua", "load", "kemi.lua")
{params}
cfgengine "lua"
onsend_route {{
    xlog("L_INFO", "NATIVE OS $ci\n");
}}
"#
    )
}

fn kemi_lua(hop: u16) -> String {
    format!(
        r#"
function ksr_request_route()
    KSR.pv.sets("$ru", "sip:changed@127.0.0.1:{hop}")
    local r = KSR.forward()
    KSR.info("FWD " .. tostring(r) .. " " .. KSR.pv.get("$ci") .. "\n")
end
function ksr_onsend_route(arg)
    KSR.info("KOS arg=" .. tostring(arg) .. " ip=" .. tostring(KSR.pv.get("$snd(ip)")) .. " port=" .. tostring(KSR.pv.get("$snd(port)")) .. " rm=" .. KSR.pv.get("$rm") .. " " .. KSR.pv.get("$ci") .. "\n")
    if KSR.hdr.get("X-Case") == "drop" then KSR.x.drop() end
end
function my_onsend()
    KSR.info("MYOS " .. KSR.pv.get("$ci") .. "\n")
    if KSR.hdr.get("X-Case") == "drop" then KSR.x.drop() end
end
"#
    )
}

#[test]
fn kemi_onsend_callback_runs_and_cannot_stop_the_send() {
    let hop = NextHop::new();
    for (params, marker) in [
        ("", "KOS"),
        ("kemi.onsend_route_callback=\"my_onsend\"", "MYOS"),
        ("kemi.onsend_route_callback=\"none\"", ""),
    ] {
        let s = Siprd::start_with(
            &kemi_cfg(params),
            &[("kemi.lua", &kemi_lua(hop.port()))],
            &[],
        );
        let c = UdpClient::new();
        for case in ["plain", "drop"] {
            let ci = format!("k-{case}-{marker}");
            send_case(&c, &s, "OPTIONS", &ci, case);
            // As Kamailio 5.6: KSR.x.drop() in the onsend callback is ignored.
            assert!(hop.recv_start("OPTIONS", WAIT).is_some(), "{params} {case}");
            assert!(s.wait_log(&format!("FWD 1 {ci}"), WAIT), "{}", s.log());
        }
        let log = s.log();
        match marker {
            "KOS" => {
                let want = format!(
                    "KOS arg=nil ip=127.0.0.1 port={} rm=OPTIONS k-plain-KOS",
                    hop.port()
                );
                assert!(log.contains(&want), "{log}");
                assert_eq!(log_lines(&log, "KOS ").len(), 2, "{log}");
            }
            "MYOS" => {
                assert_eq!(log_lines(&log, "MYOS ").len(), 2, "{log}");
                assert_eq!(log_lines(&log, "KOS ").len(), 0, "{log}");
            }
            _ => {
                assert_eq!(log_lines(&log, "KOS ").len(), 0, "{log}");
                assert_eq!(log_lines(&log, "MYOS ").len(), 0, "{log}");
            }
        }
        // With the callback off, a native onsend_route block of the config runs.
        let native = if marker.is_empty() { 2 } else { 0 };
        assert_eq!(log_lines(&log, "NATIVE OS").len(), native, "{log}");
    }
}

#[test]
fn a_dropped_best_reply_is_neither_sent_nor_retransmitted() {
    let hop = NextHop::new();
    let s = Siprd::start(&relay_cfg(
        r#"onsend_route_reply=yes
modparam("tm", "retr_timer1", 100)"#,
        hop.port(),
        hop.port(),
    ));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:bob@127.0.0.1", c.port(), "os-busy-rdrop", ""),
    );
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed");
    hop.answer(&inv, from, "486 Busy Here");
    assert!(s.wait_log("FR 486 os-busy-rdrop", WAIT));
    assert!(s.wait_log("dropped (onsend_route)", WAIT), "{}", s.log());
    let mut got = Vec::new();
    while let Some(m) = c.recv(Duration::from_millis(600)) {
        got.push(first_line(&m).to_string());
    }
    assert_eq!(
        got,
        ["SIP/2.0 100 trying -- your call is important to us"],
        "only the local 100"
    );
    assert_eq!(s.count_log("dropped (onsend_route)"), 1, "{}", s.log());
}
