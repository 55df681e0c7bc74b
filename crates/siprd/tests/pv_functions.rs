//! End-to-end tests of the pv and kex functions that change the message or its
//! branches (`pv_printf`, `sbranch_*`, branch and script flags), plus the xavp
//! helpers seen through the reply's status line. Results checked on Kamailio
//! 5.6 with the differential probe (the same cases, status line compared).

mod common;

use common::*;
use std::time::Duration;

fn cfg(route: &str) -> String {
    format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "kex.so"
request_route {{
{route}
}}
"#
    )
}

fn status(s: &Siprd, c: &UdpClient, cid: &str) -> String {
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:bob@127.0.0.1", c.port(), cid, ""),
    );
    first_line(&r).to_string()
}

#[test]
fn pv_printf_sets_the_request_uri_on_the_wire() {
    let hop = NextHop::new();
    let s = Siprd::start(&cfg(&format!(
        r#"
    $var(u) = "carol";
    pv_printf("$ru", "sip:$var(u)@127.0.0.1:{}");
    avp_printf("$avp(x)", "<$rU>");
    forward();
    "#,
        hop.port()
    )));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:bob@127.0.0.1", c.port(), "pvp-1", ""),
    );
    let (m, _) = hop
        .recv_start("OPTIONS", WAIT)
        .expect("the request reaches the new R-URI");
    assert!(
        first_line(&m).starts_with(&format!("OPTIONS sip:carol@127.0.0.1:{} ", hop.port())),
        "{m}"
    );
}

#[test]
fn flags_and_dst_uri_functions() {
    let s = Siprd::start(&cfg(r#"
    $var(r) = "";
    if (!issflagset("3")) { $var(r) = $var(r) + "a"; }
    setsflag("3");
    if (issflagset("3")) { $var(r) = $var(r) + "b"; }
    setbflag("31");
    setbflag("2", "0");
    if (!setbflag("1", "1")) { $var(r) = $var(r) + "c"; }
    $var(f) = "4";
    if (!setsflag("$var(f)")) { $var(r) = $var(r) + "d"; }
    if (!isdsturiset()) { $var(r) = $var(r) + "e"; }
    $du = "sip:127.0.0.1:9";
    if (isdsturiset()) { $var(r) = $var(r) + "f"; }
    resetdsturi();
    if (!isdsturiset()) { $var(r) = $var(r) + "g"; }
    resetdebug();
    sl_send_reply("200", "r=$var(r) sf=$sf bf=$bf bF=$bF");
    "#));
    let c = UdpClient::new();
    assert_eq!(
        status(&s, &c, "flags-1"),
        "SIP/2.0 200 r=abcdefg sf=8 bf=2147483652 bF=80000004"
    );
    // script and branch flags start at 0 for the next message
    let s2 = Siprd::start(&cfg(r#"
    if ($rU == "bob" && $ci == "flags-3") { setsflag("1"); setbflag("1"); }
    sl_send_reply("200", "sf=$sf bf=$bf");
    "#));
    let c2 = UdpClient::new();
    assert_eq!(status(&s2, &c2, "flags-3"), "SIP/2.0 200 sf=2 bf=2");
    assert_eq!(status(&s2, &c2, "flags-4"), "SIP/2.0 200 sf=0 bf=0");
}

#[test]
fn sbranch_append_adds_a_branch_with_its_flags() {
    let hop = NextHop::new();
    let tm = tm_cfg(
        1,
        r#"loadmodule "kex.so""#,
        &format!(
            r#"
request_route {{
    sbranch_reset();
    $sbranch(uri) = "sip:second@127.0.0.1:{p}";
    $sbranch(flags) = 5;
    sbranch_append();
    if (!isbflagset("2", "1") || isbflagset("1", "1") || !isbflagset("0", "1")) {{
        sl_send_reply("500", "bad flags");
        exit;
    }}
    $du = "sip:127.0.0.1:{p}";
    t_relay();
}}
"#,
            p = hop.port()
        ),
    );
    let s = Siprd::start(&tm);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:first@127.0.0.1", c.port(), "sb-1", ""),
    );
    let got: Vec<String> = hop
        .collect(Duration::from_millis(1500))
        .into_iter()
        .map(|(m, _)| first_line(&m).to_string())
        .filter(|l| l.starts_with("OPTIONS"))
        .collect();
    assert!(
        got.iter()
            .any(|l| l.starts_with("OPTIONS sip:first@127.0.0.1 ")),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|l| l.starts_with(&format!("OPTIONS sip:second@127.0.0.1:{} ", hop.port()))),
        "{got:?}"
    );
    if let Some(r) = c.recv(Duration::from_millis(200)) {
        assert!(!r.contains("bad flags"), "{r}");
    }
}

#[test]
fn xavp_helpers_through_the_status_line() {
    let s = Siprd::start(&cfg(r#"
    $xavp(x=>e) = "f";
    $xavp(x[0]=>c) = 5;
    $xavp(x[0]=>a) = "b";
    xavp_params_implode("x", "$var(imp)");
    xavp_child_sets("x", "a", "n");
    xavp_child_rm("x", "c");
    xavp_copy("x", "0", "y");
    xavp_slist_explode("p, q,,r", ",", "t", "s");
    xavi_child_seti("WhatEver", "FoO", "10");
    $var(tpl) = "<$var(imp)>-$xavi(whatever=>foo)";
    pv_evalx("$var(ev)", "$var(tpl)");
    sl_send_reply("200", "i=$var(imp) a=$xavp(y=>a) c=$xavp(y=>c) s=$xavp(s=>v[2]) ev=$var(ev)");
    "#));
    let c = UdpClient::new();
    assert_eq!(
        status(&s, &c, "xavp-1"),
        "SIP/2.0 200 i=a=b;c=5;e=f; a=n c=<null> s=r ev=<a=b;c=5;e=f;>-10"
    );
}

#[test]
fn sbranch_functions_are_accepted_in_onreply_route() {
    // Kamailio 5.6 accepts them there too (its docs name request, branch and
    // failure routes only).
    let (code, out) = check_config(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "tm.so"
request_route { t_on_reply("R"); t_relay(); }
onreply_route[R] { sbranch_reset(); sbranch_append(); sbranch_set_ruri(); }
"#,
    );
    assert_eq!(code, 0, "{out}");
}

/// `$adn $adc $adr $ado` and `$dir $dip $dic` read the credentials and the
/// Diversion header (values as Kamailio 5.6.3 printed them for the same
/// headers: a missing digest parameter reads empty, a missing Diversion
/// parameter null, a quoted one unquoted).
#[test]
fn digest_and_diversion_parameters() {
    let s = Siprd::start(&cfg(r#"
    sl_send_reply("200", "adn=$adn adc=$adc adr=$adr ado=$ado aa=$aa dir=$dir dip=$dip dic=$dic");
    "#));
    let c = UdpClient::new();
    let full = "Authorization: Digest username=\"alice\", realm=\"ex.com\", nonce=\"n0nce\", \
                uri=\"sip:bob@127.0.0.1\", response=\"resp1\", algorithm=MD5, cnonce=\"cn1\", \
                opaque=\"op1\", qop=auth, nc=00000001\r\n\
                Diversion: <sip:div@ex.com>;reason=unconditional;privacy=full;counter=2\r\n";
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:bob@127.0.0.1", c.port(), "pv-adn-1", full),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adn=n0nce adc=cn1 adr=resp1 ado=op1 aa=MD5 dir=unconditional dip=full dic=2"
    );
    let short = "Proxy-Authorization: Digest username=\"alice\", realm=\"ex.com\", nonce=\"n1\", \
                 uri=\"sip:bob@127.0.0.1\", response=\"r1\"\r\n\
                 Diversion: <sip:div@ex.com>;reason=\"user-busy\"\r\n";
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:bob@127.0.0.1", c.port(), "pv-adn-2", short),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adn=n1 adc= adr=r1 ado= aa= dir=user-busy dip=<null> dic=<null>"
    );
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:bob@127.0.0.1", "pv-adn-3");
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 adn=<null> adc=<null> adr=<null> ado=<null> aa=<null> dir=<null> dip=<null> dic=<null>"
    );
}

/// `$sruid`: `srid-<start time>-<pid>-<counter>` in hex, the counter's digits
/// least significant first, one counter for the whole server.
#[test]
fn sruid_is_unique_and_shaped_as_kamailio() {
    let s = Siprd::start(&cfg(r#"
    $var(i) = 0;
    while ($var(i) < 17) { $var(a) = $sruid; $var(i) = $var(i) + 1; }
    sl_send_reply("200", "ids $var(a) $sruid");
    "#));
    let c = UdpClient::new();
    let pid = format!("{:x}", s.pid());
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:bob@127.0.0.1", "pv-sruid-1");
    let line = first_line(&r)
        .strip_prefix("SIP/2.0 200 ids ")
        .unwrap_or_default()
        .to_string();
    let ids: Vec<&str> = line.split(' ').collect();
    assert_eq!(ids.len(), 2, "{line}");
    for (id, counter) in ids.iter().zip(["11", "21"]) {
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(parts.len(), 4, "{id}");
        assert_eq!(parts[0], "srid");
        let secs = u64::from_str_radix(parts[1], 16).expect("start time in hex");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(secs <= now && now - secs < 600, "{id}");
        assert_eq!(parts[2], pid);
        // 17 = 0x11, then 18 = 0x12 written "21"
        assert_eq!(parts[3], counter, "{id}");
    }
    // 17 more: 35 = 0x23 written "32", then 36 = 0x24 written "42" (as Kamailio)
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:bob@127.0.0.1", "pv-sruid-2");
    let prefix = format!(
        "srid-{}-{pid}-",
        ids[0].split('-').nth(1).unwrap_or_default()
    );
    assert_eq!(
        first_line(&r),
        format!("SIP/2.0 200 ids {prefix}32 {prefix}42")
    );
}

/// `$T_reply_last` is the code of the reply in an onreply route and reads
/// nothing in a failure route; `$T_reply_ruid` is empty in both (no usrloc);
/// `$fti`/`$tti` give the dialog's initial tags (observed on Kamailio 5.6.3
/// with the same routes).
#[test]
fn reply_last_ruid_and_initial_tags() {
    let hop = NextHop::new();
    let s = Siprd::start(&tm_cfg(
        1,
        r#"loadmodule "rr.so""#,
        &format!(
            r#"
request_route {{
    xlog("L_INFO", "REQ fti=$fti tti=$tti\n");
    t_on_reply("R");
    t_on_failure("F");
    $du = "sip:127.0.0.1:{}";
    t_relay();
}}
onreply_route[R] {{
    xlog("L_INFO", "ONREPLY last=$T_reply_last ruid=[$T_reply_ruid] fti=$fti tti=$tti\n");
}}
failure_route[F] {{
    xlog("L_INFO", "FAILURE last=[$T_reply_last] ruid=[$T_reply_ruid] fti=$fti tti=$tti\n");
    t_reply("500", "after failure");
}}
"#,
            hop.port()
        ),
    ));
    let c = UdpClient::new();
    c.send_request(s.udp_addr(), "INVITE", "sip:bob@127.0.0.1", "pv-trl-1");
    let (req, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&req, from, "180 Ringing");
    hop.answer(&req, from, "486 Busy Here");
    let deadline = std::time::Instant::now() + WAIT;
    let mut last = String::new();
    while std::time::Instant::now() < deadline {
        match c.recv(Duration::from_millis(200)) {
            Some(r) if first_line(&r).starts_with("SIP/2.0 500") => {
                last = r;
                break;
            }
            _ => {}
        }
    }
    assert!(!last.is_empty(), "no 500 from the failure route");
    assert!(s.wait_log("FAILURE last=[]", WAIT), "{}", s.log());
    let log = s.log();
    assert!(log.contains("REQ fti=from-pv-trl-1 tti=<null>"), "{log}");
    assert!(
        log.contains("ONREPLY last=180 ruid=[] fti=from-pv-trl-1 tti=hoptag"),
        "{log}"
    );
    assert!(
        log.contains("ONREPLY last=486 ruid=[] fti=from-pv-trl-1 tti=hoptag"),
        "{log}"
    );
    assert!(
        log.contains("FAILURE last=[] ruid=[] fti=from-pv-trl-1 tti=<null>"),
        "{log}"
    );
}
