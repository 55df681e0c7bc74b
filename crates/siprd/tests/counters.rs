//! counters end to end: script counters bumped by SIP requests, read and
//! reset over JSON-RPC (datagram). Answers observed on Kamailio 5.6.3.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn rpc(port: u16, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    rpc_datagram(port, req.to_string().as_bytes(), Duration::from_millis(700))
        .unwrap_or_else(|| panic!("no reply to {req}"))
}

fn result(port: u16, method: &str, params: Value) -> Value {
    let r = rpc(port, method, params);
    assert!(r.get("error").is_none(), "{method}: {r}");
    r["result"].clone()
}

fn cfg(rpc_port: u16) -> String {
    format!(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "jsonrpcs.so"
loadmodule "counters.so"
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")
modparam("jsonrpcs", "transport", 4)
modparam("counters", "script_counter", "calls")
modparam("counters", "script_counter", "minutes: billed minutes")
modparam("counters", "script_cnt_grp_name", "app")
modparam("counters", "script_counter", "errors:")
request_route {{
    if ($rU == "inc") {{ $var(r) = cnt_inc("script.calls"); }}
    if ($rU == "add") {{ $var(n) = 7; $var(r) = cnt_add("script.minutes", "$var(n)"); }}
    if ($rU == "sub") {{ $var(r) = cnt_add("script.minutes", -10); }}
    if ($rU == "bad") {{ $var(n) = "x"; $var(r) = cnt_add("errors", "$var(n)"); }}
    if ($rU == "err") {{ $var(r) = cnt_inc("errors"); }}
    if ($rU == "reset") {{ $var(r) = cnt_reset("script.calls"); }}
    if ($rU == "sl") {{ $var(r) = cnt_inc("sl.sent_replies"); }}
    if ($rU == "nosuch") {{ $var(r) = cnt_inc("other.thing"); }}
    sl_send_reply("200", "r=$var(r)");
}}
"#
    )
}

#[test]
fn script_counters_over_sip_and_rpc() {
    let port = free_udp_port();
    let s = Siprd::start(&cfg(port));
    let c = UdpClient::new();
    let send = |user: &str| {
        let r = c.request_reply(
            s.udp_addr(),
            "OPTIONS",
            &format!("sip:{user}@127.0.0.1"),
            &format!("cnt-{user}-{}", fastrand::u32(..)),
        );
        first_line(&r).to_string()
    };
    for _ in 0..3 {
        assert_eq!(send("inc"), "SIP/2.0 200 r=1");
    }
    assert_eq!(send("add"), "SIP/2.0 200 r=1");
    assert_eq!(send("sub"), "SIP/2.0 200 r=1");
    assert_eq!(send("err"), "SIP/2.0 200 r=1");
    // a value that is not an integer: -1, the counter unchanged
    assert_eq!(send("bad"), "SIP/2.0 200 r=-1");
    // another module's statistic: found at run time; an unknown one is -1
    assert_eq!(send("nosuch"), "SIP/2.0 200 r=-1");

    assert_eq!(result(port, "cnt.get", json!(["script", "calls"])), 3);
    // counters are signed
    assert_eq!(
        result(port, "cnt.get_raw", json!(["script", "minutes"])),
        -3
    );
    assert_eq!(
        result(port, "cnt.get", json!(["script"])),
        json!({"calls": 3, "minutes": -3})
    );
    // declared after script_cnt_grp_name: in that group
    assert_eq!(
        result(port, "cnt.grp_get_all", json!(["app"])),
        json!({"errors": 1})
    );
    assert_eq!(
        rpc(port, "cnt.get", json!(["script", "nope"]))["error"],
        json!({"code": 400, "message": "non-existent counter script.nope\n"})
    );
    assert_eq!(result(port, "cnt.get", json!(["nogroup"])), json!({}));
    let groups = result(port, "cnt.list_groups", json!([]));
    for g in ["app", "script", "sl"] {
        assert!(groups.as_array().unwrap().contains(&json!(g)), "{groups}");
    }
    assert_eq!(
        result(port, "cnt.var_list", json!(["script"])),
        json!(["calls", "minutes"])
    );
    assert_eq!(
        result(port, "cnt.help", json!(["script", "minutes"])),
        "billed minutes"
    );
    assert_eq!(
        result(port, "cnt.help", json!(["app", "errors"])),
        "custom script counter."
    );
    assert_eq!(
        result(port, "cnt.help", json!(["sl", "sent_replies"])),
        "kamailio statistic (no description)"
    );

    // the same values are statistics
    let st = result(port, "stats.get_statistics", json!(["script:"]));
    assert!(
        st.as_array().unwrap().contains(&json!("script:calls = 3")),
        "{st}"
    );

    // reset from the script and over RPC
    assert_eq!(send("reset"), "SIP/2.0 200 r=1");
    assert_eq!(result(port, "cnt.get", json!(["script", "calls"])), 0);
    assert_eq!(
        result(port, "cnt.reset", json!(["script", "minutes"])),
        json!({})
    );
    assert_eq!(result(port, "cnt.get", json!(["script", "minutes"])), 0);

    // sl's statistics are its own: bumping or resetting them changes nothing
    let before = result(port, "cnt.get", json!(["sl", "sent_replies"]))
        .as_i64()
        .unwrap();
    assert_eq!(send("sl"), "SIP/2.0 200 r=1");
    assert_eq!(
        result(port, "cnt.get", json!(["sl", "sent_replies"])),
        before + 1
    );
}

#[test]
fn an_undeclared_script_counter_is_a_config_error() {
    let (code, out) = check_config(
        r#"loadmodule "counters.so"
modparam("counters", "script_counter", "calls")
request_route { cnt_inc("cals"); }
"#,
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("no counter `script.cals`") && out.contains("script_counter"),
        "{out}"
    );
    // a duplicate declaration is logged, the first one kept (as Kamailio)
    let (code, out) = check_config(
        r#"loadmodule "counters.so"
modparam("counters", "script_counter", "calls")
modparam("counters", "script_counter", "calls")
request_route { cnt_inc("calls"); }
"#,
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("counter script.calls already registered"),
        "{out}"
    );
}

#[test]
fn lua_bumps_counters_under_kamailio_kemi_names() {
    let port = free_udp_port();
    let cfg = format!(
        r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "jsonrpcs.so"
loadmodule "counters.so"
loadmodule "app_lua.so"
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{port}")
modparam("jsonrpcs", "transport", 4)
modparam("counters", "script_counter", "calls")
modparam("app_lua", "load", "kemi.lua")
cfgengine "lua"
"#
    );
    let lua = r#"
function ksr_request_route()
    local a = KSR.counters.inc("calls")
    local b = KSR.counters.add("calls", 5)
    local c = KSR.counters.inc("nope")
    KSR.sl.sl_send_reply(200, "r=" .. a .. " " .. b .. " " .. c)
end
"#;
    let s = Siprd::start_with(&cfg, &[("kemi.lua", lua)], &[]);
    let c = UdpClient::new();
    let r = c.request_reply(s.udp_addr(), "OPTIONS", "sip:x@127.0.0.1", "cnt-lua");
    // an unknown counter is false at run time in KEMI (no fix-up to refuse it)
    assert_eq!(first_line(&r), "SIP/2.0 200 r=1 1 -1");
    assert_eq!(result(port, "cnt.get", json!(["script", "calls"])), 6);
}
