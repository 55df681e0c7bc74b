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
    assert!(
        s.wait_log("EVR after sleep rc=-1", WAIT),
        "{}",
        s.log()
    );
    assert!(
        s.log().contains("async_sleep: invalid usage for faked message"),
        "{}",
        s.log()
    );
    // a failing function just before: $rc would be -1 without the reset
    for (user, want) in [("sub", "SIP/2.0 200 sub"), ("ms", "SIP/2.0 201 ms")] {
        c.send(
            s.udp_addr(),
            &request("MESSAGE", &format!("sip:{user}@127.0.0.1"), c.port(), user, ""),
        );
        let mut got = None;
        while let Some(m) = c.recv(Duration::from_secs(3)) {
            if !first_line(&m).starts_with("SIP/2.0 100") {
                got = Some(first_line(&m).to_string());
                break;
            }
        }
        assert_eq!(got.as_deref(), Some(want), "{}", s.log());
    }
    let log = s.log();
    assert!(log.contains("SUB resumed rc=0"), "{log}");
    assert!(log.contains("MS resumed rc=0"), "{log}");
    assert_eq!(s.count_log("NEVER"), 0, "{log}");
}
