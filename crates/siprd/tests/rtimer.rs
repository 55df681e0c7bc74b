//! rtimer: routes run periodically on their own threads, as observed on
//! Kamailio 5.6.3 (first run one interval after start-up, `$var` kept from
//! tick to tick, the synthetic OPTIONS request).

mod common;

use common::*;
use std::time::Duration;

#[test]
fn routes_run_on_each_tick_and_share_state_with_sip() {
    let cfg = r#"
debug=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "corex.so"
loadmodule "rtimer.so"
modparam("rtimer", "timer", "NAME=fast;Interval=200000u;mode=1;")
modparam("rtimer", "exec", "timer=fast;route=TICK")
modparam("rtimer", "exec", "timer=fast;route=TOCK")
modparam("rtimer", "timer", "name=slow;interval=3600")
modparam("rtimer", "exec", "timer=slow;route=NEVER")
route[TICK] {
    $var(n) = $var(n) + 1;
    $shv(ticks) = $var(n);
    xlog("L_INFO", "TICK n=$var(n) rm=$rm route=$cfg(route)\n");
}
route[TOCK] {
    xlog("L_INFO", "TOCK after $var(n)\n");
}
route[NEVER] {
    xlog("L_INFO", "NEVER\n");
}
request_route {
    append_to_reply("X-Ticks: $shv(ticks)\r\n");
    sl_send_reply("200", "ok");
}
"#;
    let s = Siprd::start(cfg);
    assert!(
        s.wait_log("TICK n=3 rm=OPTIONS route=TICK", WAIT),
        "{}",
        s.log()
    );
    // the routes of one timer run in order, on the same thread ($var)
    assert!(s.log().contains("TOCK after 1\n"), "{}", s.log());
    assert!(s.log().contains("TOCK after 2\n"), "{}", s.log());
    assert!(!s.log().contains("NEVER"), "{}", s.log());
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "rt-1", ""),
    );
    let ticks: i32 = header(&r, "X-Ticks")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(ticks >= 3, "{r}");
}

#[test]
fn timer_definitions_are_checked_at_load() {
    for (params, needle) in [
        (
            "modparam(\"rtimer\", \"timer\", \"name=a;interval=1\")\nmodparam(\"rtimer\", \"timer\", \"name=a;interval=2\")",
            "duplicate timer",
        ),
        (
            "modparam(\"rtimer\", \"timer\", \"name=a;interval=1\")\nmodparam(\"rtimer\", \"exec\", \"timer=b;route=R\")",
            "timer not found",
        ),
        (
            "modparam(\"rtimer\", \"timer\", \"name=a;interval=abc\")",
            "invalid interval",
        ),
    ] {
        let (code, out) = check_config(&format!(
            "loadmodule \"rtimer.so\"\n{params}\nroute[R] {{ exit; }}\nrequest_route {{ exit; }}\n"
        ));
        assert_ne!(code, 0, "{params}: {out}");
        assert!(out.contains(needle), "{params}: {out}");
    }
    // a route that does not exist runs nothing (Kamailio), with a warning here
    let s = Siprd::start(
        "listen=udp:127.0.0.1:0\nloadmodule \"rtimer.so\"\nmodparam(\"rtimer\", \"timer\", \"name=a;interval=100000u\")\nmodparam(\"rtimer\", \"exec\", \"timer=a;route=NOPE\")\nrequest_route { exit; }\n",
    );
    assert!(
        s.wait_log("route `NOPE` does not exist", Duration::from_secs(2)),
        "{}",
        s.log()
    );
}

/// `mode=N` (N above 1) runs the timer's routes on N threads at every tick,
/// `$rtimer_worker` naming each (0 elsewhere), as Kamailio's N processes.
#[test]
fn mode_gives_workers_each_running_every_tick() {
    let cfg = r#"
debug=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "rtimer.so"
modparam("rtimer", "timer", "name=multi;interval=200000u;mode=3;")
modparam("rtimer", "exec", "timer=multi;route=TICK")
route[TICK] {
    $var(n) = $var(n) + 1;
    xlog("L_INFO", "TICK w=$rtimer_worker n=$var(n)\n");
}
request_route {
    sl_send_reply("200", "w=$rtimer_worker");
}
"#;
    let s = Siprd::start(cfg);
    for w in 0..3 {
        assert!(
            s.wait_log(&format!("TICK w={w} n=2\n"), WAIT),
            "{}",
            s.log()
        );
    }
    assert!(!s.log().contains("TICK w=3"), "{}", s.log());
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:x@127.0.0.1", "rt-w-1");
    assert_eq!(first_line(&r), "SIP/2.0 200 w=0");
    let (code, out) = check_config(&cfg.replace("mode=3;", "mode=x;"));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("invalid mode: `x`"), "{out}");
}
