//! KEMI (app_lua) behaviours found by running the same Lua-routed configs on
//! Kamailio 5.6.3 and on siprd (`tests/kamailio-diff/kemi/sweep.py` with the
//! scenarios of `tests/kamailio-diff/kemi/scen/`). Each test pins what
//! Kamailio did.

mod common;

use common::*;
use std::time::Duration;

fn cfg(mods: &str, params: &str) -> String {
    format!(
        r#"
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "app_lua.so"
{mods}
modparam("app_lua", "load", "kemi.lua")
{params}
cfgengine "lua"
"#
    )
}

fn start(mods: &str, params: &str, lua: &str) -> Siprd {
    Siprd::start_with(&cfg(mods, params), &[("kemi.lua", lua)], &[])
}

/// The first lines of what reaches `c` within `span`.
fn lines_for(c: &UdpClient, span: Duration) -> Vec<String> {
    let end = std::time::Instant::now() + span;
    let mut got = vec![];
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match c.recv(left) {
            Some(m) => got.push(first_line(&m).to_string()),
            None => break,
        }
    }
    got
}

/// The reason phrase of the reply to an OPTIONS for `sip:<user>@...`.
fn ask(s: &Siprd, c: &UdpClient, user: &str) -> String {
    let r = c.request(
        s.udp_addr(),
        &request(
            "OPTIONS",
            &format!("sip:{user}@127.0.0.1"),
            c.port(),
            &format!("kd-{user}"),
            "",
        ),
    );
    first_line(&r)
        .splitn(3, ' ')
        .nth(2)
        .unwrap_or_default()
        .to_string()
}

/// Kamailio 5.6 on Debian runs app_lua on Lua 5.1: numbers print without
/// ".0", `unpack`/`loadstring`/`table.getn` exist, runtime errors read
/// "attempt to index local 't' (a nil value)".
#[test]
fn lua_is_5_1_as_kamailio() {
    let s = start(
        "",
        "",
        r#"
function ksr_request_route()
  if KSR.pv.get("$rU") == "boom" then
    local t = nil
    t.x = 1
  end
  KSR.pv.seti("$var(n)", 7)
  local n = KSR.pv.get("$var(n)")
  KSR.sl.send_reply(200, tostring(10 / 2) .. " " .. tostring(n / 2) .. " " .. type(unpack)
    .. " " .. type(loadstring) .. " " .. type(table.getn) .. " " .. tostring(2^53))
end
"#,
    );
    let c = UdpClient::new();
    assert_eq!(
        ask(&s, &c, "num"),
        "5 3.5 function function function 9.007199254741e+15"
    );
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:boom@127.0.0.1", c.port(), "kd-boom", ""),
    );
    c.expect_silence(Duration::from_millis(300));
    assert!(
        s.wait_log("kemi.lua:5: attempt to index local 't' (a nil value)", WAIT),
        "{}",
        s.log()
    );
}

/// The log lines of `KSR.info` & co, `KSR.log` and of a Lua error carry
/// Kamailio's prefixes; `KSR.log` knows dbg/info/notice/warn/err/crit (any
/// case), anything else is an error line. An error value that is not a
/// string or a number is "unknown".
#[test]
fn ksr_log_lines_and_lua_errors_as_kamailio() {
    let s = start(
        "",
        "",
        r#"
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "logs" then
    KSR.info("kd info\n")
    KSR.warn("kd warn\n")
    KSR.err("kd err\n")
    KSR.log("INFO", "kd log info\n")
    KSR.log("crit", "kd log crit\n")
    KSR.log("alert", "kd log alert\n")
    KSR.sl.send_reply(200, tostring(KSR.alert))
  elseif u == "err" then
    error("kd custom")
  elseif u == "errt" then
    error({})
  end
end
"#,
    );
    let c = UdpClient::new();
    assert_eq!(ask(&s, &c, "logs"), "nil");
    for line in [
        "INFO: <core> [core/kemi.c:106]: sr_kemi_core_info(): kd info",
        "WARNING: <core> [core/kemi.c:116]: sr_kemi_core_warn(): kd warn",
        "ERROR: <core> [core/kemi.c:96]: sr_kemi_core_err(): kd err",
        "INFO: <core> [core/kemi.c:152]: sr_kemi_core_log(): kd log info",
        "CRITICAL: <core> [core/kemi.c:160]: sr_kemi_core_log(): kd log crit",
        "ERROR: <core> [core/kemi.c:162]: sr_kemi_core_log(): kd log alert",
    ] {
        assert!(s.wait_log(line, WAIT), "{line}: {}", s.log());
    }
    for (user, line) in [
        (
            "err",
            "ERROR: app_lua [app_lua_api.c:786]: app_lua_run_ex(): error from Lua: ",
        ),
        (
            "errt",
            "ERROR: app_lua [app_lua_api.c:793]: app_lua_run_ex(): error from Lua: unknown",
        ),
    ] {
        c.send(
            s.udp_addr(),
            &request(
                "OPTIONS",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &format!("kd-{user}"),
                "",
            ),
        );
        assert!(s.wait_log(line, WAIT), "{line}: {}", s.log());
    }
    assert!(s.wait_log("kemi.lua:13: kd custom", WAIT), "{}", s.log());
    assert!(
        s.wait_log_count(
            "ERROR: app_lua [app_lua_api.c:801]: app_lua_run_ex(): error executing: ksr_request_route (err: 2)",
            2,
            WAIT
        ),
        "{}",
        s.log()
    );
}

/// Too few arguments: Kamailio's app_lua logs and the call returns false,
/// the route goes on. A nil argument is the empty string (an int reads 0);
/// a non-numeric string for an int is 0. `KSR.x.exit()` raises the plain
/// string "~~ksr~exit~~" (a script's pcall sees it).
#[test]
fn ksr_arguments_as_kamailio() {
    let s = start(
        r#"loadmodule "htable.so""#,
        r#"modparam("htable", "htable", "t=>size=4;")"#,
        r#"
local function s(v) return type(v) .. ":" .. tostring(v) end
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "few" then
    local r = KSR.seturi()
    local r2 = KSR.hdr.append()
    local r3 = KSR.pv.sets("$var(x)")
    local r4 = KSR.htable.sht_get("t")
    KSR.sl.send_reply(200, s(r) .. " " .. s(r2) .. " " .. s(r3) .. " " .. s(r4))
  elseif u == "nil" then
    local r = KSR.pv.sets("$var(y)", KSR.pv.get("$hdr(X-None)"))
    local r2 = KSR.pv.seti("$var(i)", "notnum")
    local r3 = KSR.htable.sht_seti("t", "k", nil)
    local r4 = KSR.pv.seti("$var(f)", 3.7)
    KSR.sl.send_reply(200, s(r) .. " " .. s(KSR.pv.get("$var(y)")) .. " " .. s(r2) .. " "
      .. s(KSR.pv.get("$var(i)")) .. " " .. s(r3) .. " " .. s(KSR.htable.sht_get("t", "k"))
      .. " " .. s(KSR.pv.get("$var(f)")))
  elseif u == "fix" then
    KSR.sl.send_reply(200, s(KSR.hdr.is_present(nil)) .. " " .. s(KSR.hdr.is_present(5)))
  elseif u == "exit" then
    local ok, e = pcall(function() KSR.x.exit() end)
    KSR.sl.send_reply(200, tostring(ok) .. " " .. tostring(e))
  end
end
"#,
    );
    let c = UdpClient::new();
    assert_eq!(
        ask(&s, &c, "few"),
        "boolean:false boolean:false boolean:false boolean:false"
    );
    for line in [
        "ERROR: app_lua [app_lua_api.c:1027]: sr_kemi_lua_exec_func_ex(): invalid number of parameters for: .seturi",
        "ERROR: app_lua [app_lua_api.c:1027]: sr_kemi_lua_exec_func_ex(): invalid number of parameters for: hdr.append",
        "ERROR: app_lua [app_lua_api.c:1044]: sr_kemi_lua_exec_func_ex(): not enough parameters for: pv.sets",
        "ERROR: app_lua [app_lua_api.c:1044]: sr_kemi_lua_exec_func_ex(): not enough parameters for: htable.sht_get",
    ] {
        assert!(s.wait_log(line, WAIT), "{line}: {}", s.log());
    }
    assert_eq!(
        ask(&s, &c, "nil"),
        "boolean:true string: boolean:true number:0 number:1 number:0 number:3"
    );
    // an argument its fix-up refuses: the function's -1 (Kamailio)
    assert_eq!(ask(&s, &c, "fix"), "number:-1 number:-1");
    assert_eq!(ask(&s, &c, "exit"), "false ~~ksr~exit~~");
}

/// A reply on a branch that already has its final reply (here a non-INVITE
/// 202 the next hop sends again) runs the `t_on_reply` function again and
/// goes no further, as Kamailio 5.6.
#[test]
fn onreply_sees_a_final_reply_again() {
    let hop = NextHop::new();
    let lua = format!(
        r#"
function ksr_request_route()
  KSR.pv.sets("$du", "sip:127.0.0.1:{}")
  KSR.tm.t_on_reply("on_rpl")
  KSR.tm.t_relay()
end
function on_rpl()
  KSR.info("kd onreply " .. KSR.pv.get("$rs") .. "\n")
end
"#,
        hop.port()
    );
    let s = start(
        r#"loadmodule "tm.so"
loadmodule "tmx.so""#,
        "",
        &lua,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:bob@127.0.0.1", c.port(), "kd-rpl", ""),
    );
    let (req, from) = hop
        .recv_start("MESSAGE", WAIT)
        .expect("the MESSAGE is relayed");
    hop.answer(&req, from, "202 Accepted");
    let r = c.recv(WAIT).expect("the 202 is relayed");
    assert_eq!(first_line(&r), "SIP/2.0 202 Accepted", "{r}");
    hop.answer(&req, from, "202 Accepted");
    assert!(
        s.wait_log_count("sr_kemi_core_info(): kd onreply 202", 2, WAIT),
        "{}",
        s.log()
    );
    // not relayed a second time
    c.expect_silence(Duration::from_millis(300));
}

/// htable's `htable:mod-init` callback: Kamailio 5.6 runs it in its main
/// process, where app_lua has a Lua state only when it was loaded before
/// htable; loaded after, the call fails with app_lua's error line and the
/// function does not run.
#[test]
fn htable_mod_init_callback_needs_app_lua_loaded_first() {
    let lua = r#"
function ksr_htable_event(evname)
  KSR.htable.sht_seti("calls", "total", 100)
end
function ksr_request_route()
  KSR.htable.sht_inc("calls", "total")
  KSR.sl.send_reply(200, "total " .. tostring(KSR.htable.sht_get("calls", "total")))
end
"#;
    for (first, want) in [(true, "total 101"), (false, "total nil")] {
        let (before, after) = if first {
            ("loadmodule \"app_lua.so\"\nloadmodule \"htable.so\"", "")
        } else {
            ("loadmodule \"htable.so\"", "loadmodule \"app_lua.so\"")
        };
        let cfg = format!(
            r#"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
{before}
{after}
modparam("app_lua", "load", "kemi.lua")
modparam("htable", "htable", "calls=>size=8;")
modparam("htable", "event_callback", "ksr_htable_event")
cfgengine "lua"
"#
        );
        let s = Siprd::start_with(&cfg, &[("kemi.lua", lua)], &[]);
        let c = UdpClient::new();
        assert_eq!(ask(&s, &c, "count"), want, "app_lua first: {first}");
        let line = "ERROR: app_lua [app_lua_api.c:720]: app_lua_run_ex(): lua loading state not initialized (call: ksr_htable_event)";
        assert_eq!(s.log().contains(line), !first, "{}", s.log());
    }
}

/// The data of `KSR.evapi.async_relay` is literal text (Kamailio's KEMI
/// function does not expand `$pv`), the transaction is suspended all the same.
#[test]
fn evapi_async_relay_data_is_literal() {
    let port = free_tcp_port();
    let lua = r#"
function ksr_request_route()
  KSR.evapi.async_relay("{\"x\":\"$rU\",\"i\":$T(id_index)}")
end
"#;
    let s = start(
        "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nloadmodule \"evapi.so\"",
        &format!("modparam(\"evapi\", \"bind_addr\", \"127.0.0.1:{port}\")"),
        lua,
    );
    use std::io::Read;
    let mut t = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect evapi");
    t.set_read_timeout(Some(WAIT)).expect("timeout");
    std::thread::sleep(Duration::from_millis(200));
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:bob@127.0.0.1", c.port(), "kd-ev", ""),
    );
    let mut buf = [0u8; 512];
    let n = t.read(&mut buf).unwrap_or(0);
    let got = String::from_utf8_lossy(&buf[..n]);
    assert_eq!(got, "28:{\"x\":\"$rU\",\"i\":$T(id_index)},");
}

/// `KSR.sl.send_reply` in a function resumed by `KSR.async.route` (or after
/// `KSR.tm.t_newtran()`) replies
/// within the suspended transaction (Kamailio's KEMI `send_reply` is sl's
/// transaction-aware one): the 200 is retransmitted and no 500 follows.
#[test]
fn sl_send_reply_is_stateful_in_a_transaction() {
    let s = start(
        "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nloadmodule \"async.so\"",
        "",
        r#"
function ksr_request_route()
  if KSR.pv.get("$rU") == "new" then
    KSR.tm.t_newtran()
    KSR.sl.send_reply(404, "Stateful")
    return
  end
  KSR.async.route("after", 1)
end
function after()
  KSR.sl.send_reply(200, "After")
end
"#,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:bob@127.0.0.1", c.port(), "kd-async", ""),
    );
    // 100 Trying, 200 After, then its retransmissions (no ACK is sent)
    let lines = lines_for(&c, Duration::from_millis(2000));
    assert!(lines.len() >= 3, "{lines:?}");
    assert!(
        lines.iter().skip(1).all(|l| l == "SIP/2.0 200 After"),
        "{lines:?}"
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:new@127.0.0.1", c.port(), "kd-new", ""),
    );
    let lines = lines_for(&c, Duration::from_millis(800));
    assert!(lines.len() >= 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .filter(|l| !l.starts_with("SIP/2.0 100"))
            .all(|l| l == "SIP/2.0 404 Stateful"),
        "{lines:?}"
    );
}

/// `KSR.kx.*` (kemix) as Kamailio 5.6.3 answered for the same request.
#[test]
fn kx_getters_as_kamailio() {
    let cfg = r#"
#!define MYDEF "defval"
#!define MYNUM 42
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "app_lua.so"
loadmodule "kemix.so"
loadmodule "pv.so"
loadmodule "sl.so"
modparam("app_lua", "load", "kemi.lua")
cfgengine "lua"
"#;
    let lua = r#"
local function s(v) return type(v) .. ":" .. tostring(v) end
function ksr_request_route()
  local kx = KSR.kx
  KSR.sl.send_reply(200, table.concat({s(kx.get_ruser()), s(kx.gete_ruser()), s(kx.getw_ruser()),
    s(kx.get_rhost()), s(kx.get_fuser()), s(kx.get_duri()), s(kx.getw_duri()), s(kx.get_ua()),
    s(kx.gete_ua()), s(kx.get_body()), s(kx.getw_body()), s(kx.get_bodylen()), s(kx.get_method()),
    s(kx.get_status()), s(kx.gets_status()), s(kx.get_msgtype()), s(kx.get_protoid()),
    s(kx.get_proto()), s(kx.get_au()), s(kx.get_conid()), s(kx.get_send_sock_port()),
    s(kx.get_def("MYDEF")), s(kx.get_defn("MYNUM")), s(kx.get_def("NOPE")),
    s(kx.ifdef("MYNUM")), s(kx.ifndef("MYNUM")), s(kx.get_envn("KD_NOPE_ENV"))}, " "))
end
"#;
    let s = Siprd::start_with(cfg, &[("kemi.lua", lua)], &[]);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:127.0.0.1", c.port(), "kd-kx", ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 nil:nil string: string:<null> string:127.0.0.1 string:alice nil:nil \
         string:<null> nil:nil string: nil:nil string:<null> number:0 string:OPTIONS \
         number:-1 nil:nil number:1 number:1 string:udp nil:nil number:-1 number:0 \
         string:\"defval\" number:42 string: boolean:true boolean:false number:0",
        "{r}"
    );
}

/// Under `cfgengine "lua"` a module event with no callback parameter runs
/// the config's native `event_route` block (Kamailio's nosip has no
/// `event_callback` in 5.6: this is how a KEMI config handles non-SIP data).
#[test]
fn native_event_route_runs_without_a_callback() {
    let cfg = r#"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "app_lua.so"
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "nosip.so"
modparam("app_lua", "load", "kemi.lua")
cfgengine "lua"
event_route[nosip:msg] {
  xlog("L_INFO", "kd native nosip [$mb]\n");
}
"#;
    let lua = "function ksr_request_route() KSR.sl.send_reply(200, \"OK\") end\n";
    let s = Siprd::start_with(cfg, &[("kemi.lua", lua)], &[]);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        "this is not a sip message but long enough for nosip",
    );
    assert!(
        s.wait_log(
            "INFO: <script>: kd native nosip [this is not a sip message but long enough for nosip]",
            WAIT
        ),
        "{}",
        s.log()
    );
}

/// Under KEMI, `ksr_onsend_route` also runs for the replies tm relays
/// (Kamailio 5.6 does so without `onsend_route_reply`); not for sl's replies.
#[test]
fn ksr_onsend_route_sees_relayed_replies() {
    let hop = NextHop::new();
    let lua = format!(
        r#"
function ksr_request_route()
  if KSR.pv.get("$rU") == "local" then
    KSR.sl.send_reply(200, "Local")
    return
  end
  KSR.pv.sets("$du", "sip:127.0.0.1:{}")
  KSR.tm.t_relay()
end
function ksr_onsend_route()
  local b = KSR.pv.get("$snd(buf)") or ""
  KSR.info("kd onsend [" .. string.match(b, "^[^\r\n]*") .. "]\n")
end
"#,
        hop.port()
    );
    let s = start("loadmodule \"tm.so\"\nloadmodule \"tmx.so\"", "", &lua);
    let c = UdpClient::new();
    assert_eq!(ask(&s, &c, "local"), "Local");
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:bob@127.0.0.1", c.port(), "kd-onsend", ""),
    );
    let (req, from) = hop.recv_start("INVITE", WAIT).expect("relayed");
    hop.answer(&req, from, "180 Ringing");
    hop.answer(&req, from, "486 Busy Here");
    for line in [
        "kd onsend [INVITE sip:bob@127.0.0.1 SIP/2.0]",
        "kd onsend [SIP/2.0 180 Ringing]",
        "kd onsend [SIP/2.0 486 Busy Here]",
    ] {
        assert!(s.wait_log(line, WAIT), "{line}: {}", s.log());
    }
    assert!(!s.log().contains("kd onsend [SIP/2.0 200 Local]"));
    assert!(!s.log().contains("kd onsend [SIP/2.0 100"));
}

/// Two branches relayed through a branch function: the failure function
/// sees the R-URI the request was relayed with, not the last branch's
/// (Kamailio 5.6).
#[test]
fn failure_sees_the_relayed_ruri_after_branch_routes() {
    let hop = NextHop::new();
    let lua = format!(
        r#"
function ksr_request_route()
  KSR.corex.append_branch_uri("sip:b1@127.0.0.1:{p}")
  KSR.pv.sets("$ru", "sip:b0@127.0.0.1:{p}")
  KSR.tm.t_on_branch("on_branch")
  KSR.tm.t_on_failure("on_failure")
  KSR.tm.t_relay()
end
function on_branch()
  KSR.info("kd branch " .. KSR.pv.get("$ru") .. "\n")
end
function on_failure()
  KSR.info("kd failure " .. KSR.pv.get("$ru") .. "\n")
end
"#,
        p = hop.port()
    );
    let s = start(
        "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nloadmodule \"corex.so\"",
        "",
        &lua,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "kd-br", ""),
    );
    for _ in 0..2 {
        let (req, from) = hop.recv_start("INVITE", WAIT).expect("a branch");
        hop.answer(&req, from, "404 Not Found");
    }
    let want = format!("kd failure sip:b0@127.0.0.1:{}", hop.port());
    assert!(s.wait_log(&want, WAIT), "{}", s.log());
}
