//! tm details where siprd differed from Kamailio 5.6.3: each test encodes what
//! Kamailio did in the same setup (a UAC and a downstream UAS played by the
//! test on loopback, the real binary in between).

mod common;
use common::*;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(400);

/// A tm config with kex and corex too.
fn cfg(routes: &str) -> String {
    tm_cfg(
        2,
        "loadmodule \"kex.so\"\nloadmodule \"corex.so\"\n",
        routes,
    )
}

/// An INVITE to `sip:<port>@127.0.0.1`: the routes relay it to that port.
fn invite_to(hop: &NextHop, client: &UdpClient, call_id: &str) -> String {
    request(
        "INVITE",
        &format!("sip:{}@127.0.0.1", hop.port()),
        client.port(),
        call_id,
        "",
    )
}

/// Every log line of `s` containing `needle`, in order, trimmed of the log prefix.
fn lines_with(s: &Siprd, needle: &str) -> Vec<String> {
    s.log()
        .lines()
        .filter_map(|l| l.find(needle).map(|i| l[i..].to_string()))
        .collect()
}

const STATE: &str = r#"
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    setflag(3);
    $avp(a) = "req";
    $xavp(x=>f) = "xv";
    setbflag(2);
    $du = "sip:127.0.0.1:" + $rU;
    t_on_reply("R"); t_on_failure("F"); t_on_branch("B"); t_on_branch_failure("bf");
    t_relay();
    $avp(a) = "after";
    setflag(5);
}
branch_route[B] {
    xlog("L_INFO", "S B avp=$avp(a) xavp=$xavp(x=>f) mf=$mf bf=$bf\n");
    $avp(b) = "branch";
    setflag(6);
}
onreply_route[R] {
    xlog("L_INFO", "S R $rs avp=$avp(a) b=$avp(b) xavp=$xavp(x=>f) mf=$mf bf=$bf\n");
    $avp(r) = "reply" + $rs;
    setflag(7);
}
event_route[tm:branch-failure:bf] {
    xlog("L_INFO", "S BF $T_reply_code avp=$avp(a) r=$avp(r) mf=$mf\n");
    $avp(bfv) = "bf";
    setflag(8);
}
failure_route[F] {
    xlog("L_INFO", "S F $T_reply_code avp=$avp(a) b=$avp(b) r=$avp(r) bfv=$avp(bfv) xavp=$xavp(x=>f) mf=$mf bf=$bf\n");
}
"#;

#[test]
fn onreply_and_failure_routes_run_on_the_transactions_avps_and_flags() {
    // Kamailio 5.6.3: the transaction owns the AVP list from t_relay on (an AVP
    // the request route sets after t_relay is seen later), message flags are
    // the request's as relayed (flag 5 set after t_relay is not) plus what
    // branch_route set; what onreply_route and the branch-failure route change
    // is kept for the routes after them.
    let s = Siprd::start(&cfg(STATE));
    let c = UdpClient::new();
    let hop = NextHop::new();
    c.send(s.udp_addr(), &invite_to(&hop, &c, "state-1"));
    let (inv, from) = hop.recv_start("INVITE", WAIT).expect("relayed INVITE");
    hop.answer(&inv, from, "180 Ringing");
    assert!(s.wait_log("S R 180", WAIT));
    hop.answer(&inv, from, "486 Busy Here");
    assert!(s.wait_log("S F 486", WAIT));
    assert_eq!(
        lines_with(&s, "S "),
        vec![
            "S B avp=req xavp=xv mf=8 bf=4",
            "S R 180 avp=after b=branch xavp=xv mf=72 bf=4",
            "S R 486 avp=after b=branch xavp=xv mf=200 bf=4",
            "S BF 486 avp=after r=reply486 mf=200",
            "S F 486 avp=after b=branch r=reply486 bfv=bf xavp=xv mf=456 bf=4",
        ]
    );
    let got = c.first_lines(SHORT);
    assert!(got.contains(&"SIP/2.0 486 Busy Here".to_string()), "{got:?}");
}
