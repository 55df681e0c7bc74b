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
