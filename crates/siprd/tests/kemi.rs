//! KEMI with Lua (app_lua): Lua-routed configs against the real binary over
//! UDP and TCP. Behaviours marked "as Kamailio" were observed on Kamailio 5.6
//! with app_lua.

mod common;

use common::*;
use std::time::Duration;

/// A KEMI config: `MODS` and `PARAMS` are replaced; the script is `kemi.lua`.
fn cfg(mods: &str, params: &str) -> String {
    format!(
        r#"
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
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

fn rpc(port: u16, req: &str) -> Option<serde_json::Value> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.send_to(req.as_bytes(), ("127.0.0.1", port)).ok()?;
    let mut buf = vec![0u8; 65536];
    let n = s.recv(&mut buf).ok()?;
    serde_json::from_slice(&buf[..n]).ok()
}

const OPTIONS_LUA: &str = r#"
function ksr_request_route()
    if KSR.is_OPTIONS() then
        KSR.sl.sl_send_reply(200, "OK")
        return
    end
    if KSR.is_method("INFO|MESSAGE") then
        KSR.hdr.append_to_reply("X-Ru: " .. KSR.pv.get("$rU") .. "\r\n")
        KSR.sl.send_reply(202, "Info " .. KSR.pv.gete("$hdr(X-Nope)") .. "x")
        return
    end
    if KSR.pv.get("$rU") == "boom" then
        local t = nil
        t.field = 1
    end
    if KSR.pv.get("$rU") == "exit" then
        KSR.x.exit()
        KSR.sl.send_reply(500, "after exit")
    end
    KSR.sl.sl_send_reply(501, "Not Implemented")
end
"#;

#[test]
fn options_routed_in_lua_over_udp_and_tcp() {
    let s = start("", "", OPTIONS_LUA);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "k-1", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
    let r = c.request(
        s.udp_addr(),
        &request("INVITE", "sip:a@127.0.0.1", c.port(), "k-2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 501 Not Implemented", "{r}");
    let r = c.request(
        s.udp_addr(),
        &request("INFO", "sip:bob@127.0.0.1", c.port(), "k-3", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 202 Info x", "{r}");
    assert_eq!(header(&r, "X-Ru"), Some("bob"), "{r}");

    let mut t = TcpClient::connect(s.tcp_addr());
    let port = t.port();
    t.send(request("OPTIONS", "sip:a@127.0.0.1", port, "k-tcp", "").as_bytes());
    let r = t.recv(WAIT).expect("reply over TCP");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
}

/// `kemi.request_route_callback` names the request function (a siprd
/// extension: Kamailio 5.6 fixes the name and refuses the parameter).
#[test]
fn request_route_callback_names_the_request_function() {
    let s = start(
        "",
        "kemi.request_route_callback=\"my_requests\"",
        r#"
function ksr_request_route() KSR.sl.sl_send_reply(500, "default name") end
function my_requests() KSR.sl.sl_send_reply(200, "named") end
"#,
    );
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "k-named", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 named", "{r}");
}

#[test]
fn lua_runtime_error_ends_the_execution_and_the_server_keeps_serving() {
    let s = start("", "", OPTIONS_LUA);
    let c = UdpClient::new();
    // as Kamailio: the request gets no reply
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:boom@127.0.0.1", c.port(), "k-boom", ""),
    );
    c.expect_silence(Duration::from_millis(300));
    assert!(
        s.wait_log("kemi.lua:14:", WAIT),
        "the Lua error with file:line: {}",
        s.log()
    );
    // KSR.x.exit ends the function without an error
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:exit@127.0.0.1", c.port(), "k-exit", ""),
    );
    c.expect_silence(Duration::from_millis(300));
    assert!(!s.log().contains("~~ksr~exit~~"), "{}", s.log());
    for i in 0..3 {
        let r = c.request(
            s.udp_addr(),
            &request(
                "OPTIONS",
                "sip:a@127.0.0.1",
                c.port(),
                &format!("k-ok{i}"),
                "",
            ),
        );
        assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
    }
}

#[test]
fn a_script_that_does_not_load_is_a_config_error() {
    let dir = std::env::temp_dir().join(format!("siprd-kemi-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(
        dir.join("kemi.lua"),
        "function ksr_request_route()\n  if then\nend\n",
    )
    .expect("write");
    let path = dir.join("siprd.cfg");
    std::fs::write(&path, cfg("", "")).expect("write cfg");
    let (code, out) = check_file(&path);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("kemi.lua:2:"),
        "the Lua message with its line: {out}"
    );

    std::fs::write(dir.join("kemi.lua"), "error('refused at load')\n").expect("write");
    let (code, out) = check_file(&path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("refused at load"), "{out}");
}

#[test]
fn htable_from_lua_and_the_mod_init_callback() {
    let lua = r#"
function ksr_htable_event(evname)
    KSR.info("HT-EVENT " .. evname)
    KSR.htable.sht_sets("t", "init", "from-" .. evname)
    KSR.htable.sht_seti("t", "count", 0)
end
function ksr_request_route()
    local n = KSR.htable.sht_inc("t", "count")
    KSR.htable.sht_seti("t", "last", n)
    local missing = KSR.htable.sht_get("t", "nope")
    KSR.sl.send_reply(200, KSR.htable.sht_get("t", "init") .. " " .. n .. " "
        .. tostring(missing) .. " " .. KSR.htable.sht_gete("t", "nope") .. "|")
end
"#;
    let s = start(
        "loadmodule \"htable.so\"",
        "modparam(\"htable\", \"htable\", \"t=>size=4\")\nmodparam(\"htable\", \"event_callback\", \"ksr_htable_event\")",
        lua,
    );
    assert!(s.wait_log("HT-EVENT htable:mod-init", WAIT), "{}", s.log());
    let c = UdpClient::new();
    for (i, want) in ["1", "2"].iter().enumerate() {
        let r = c.request(
            s.udp_addr(),
            &request(
                "OPTIONS",
                "sip:a@127.0.0.1",
                c.port(),
                &format!("ht-{i}"),
                "",
            ),
        );
        assert_eq!(
            first_line(&r),
            format!("SIP/2.0 200 from-htable:mod-init {want} nil |"),
            "{r}"
        );
    }
}

#[test]
fn evapi_messages_reach_the_lua_callback() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let lua = r#"
function ksr_evapi_event(evname)
    KSR.info("EVAPI " .. evname .. " msg=" .. KSR.pv.gete("$evapi(msg)"))
    if evname == "evapi:message-received" then
        KSR.evapi.relay("echo:" .. KSR.pv.gete("$evapi(msg)"))
        if KSR.pv.get("$evapi(msg)") == "bye" then
            -- Kamailio 5.6: 0 (the native evapi_close() is 1)
            KSR.info("CLOSE " .. tostring(KSR.evapi.close()))
        end
    end
end
function ksr_request_route()
    KSR.sl.send_reply(200, "OK")
end
"#;
    let s = start(
        "loadmodule \"evapi.so\"",
        &format!(
            "modparam(\"evapi\", \"bind_addr\", \"127.0.0.1:{port}\")\nmodparam(\"evapi\", \"event_callback\", \"ksr_evapi_event\")"
        ),
        lua,
    );
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect evapi");
    t.set_read_timeout(Some(WAIT)).expect("timeout");
    assert!(
        s.wait_log("EVAPI evapi:connection-new", WAIT),
        "{}",
        s.log()
    );
    t.write_all(b"5:hello,").expect("send");
    assert!(
        s.wait_log("EVAPI evapi:message-received msg=hello", WAIT),
        "{}",
        s.log()
    );
    let mut buf = [0u8; 256];
    let n = t.read(&mut buf).unwrap_or(0);
    let got = String::from_utf8_lossy(&buf[..n]);
    assert!(got.contains("echo:hello"), "{got}");
    t.write_all(b"3:bye,").expect("send");
    assert!(s.wait_log("CLOSE 0", WAIT), "{}", s.log());
}

#[test]
fn evrexec_runs_lua_functions() {
    let lua = r#"
function ksr_exec_start(idx)
    KSR.info("EVR-START idx=" .. tostring(idx))
end
function ksr_request_route()
    KSR.sl.send_reply(200, "OK")
end
"#;
    let s = start(
        "loadmodule \"evrexec.so\"",
        "modparam(\"evrexec\", \"exec\", \"name=ksr_exec_start;wait=10000;workers=2\")",
        lua,
    );
    assert!(s.wait_log("EVR-START idx=0", WAIT), "{}", s.log());
    assert!(s.wait_log("EVR-START idx=1", WAIT), "{}", s.log());
}

#[test]
fn tm_failure_route_in_lua() {
    let uas = UdpClient::new();
    let lua = format!(
        r#"
function ksr_request_route()
    if KSR.is_INVITE() then
        KSR.tm.t_on_failure("ksr_failure")
        KSR.pv.sets("$du", "sip:127.0.0.1:{port}")
        KSR.tm.t_relay()
        return
    end
    KSR.sl.send_reply(200, "OK")
end
function ksr_failure()
    KSR.info("FAILURE code=" .. KSR.pv.get("$T_reply_code"))
    KSR.tm.t_reply(480, "Lua failure route")
end
"#,
        port = uas.port()
    );
    let s = start(
        "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"",
        "modparam(\"tm\", \"fr_timer\", 1000)",
        &lua,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:bob@127.0.0.1", c.port(), "k-fail", ""),
    );
    let (inv, from) = uas.recv_from(WAIT).expect("relayed INVITE");
    assert!(inv.starts_with("INVITE "), "{inv}");
    // answer 486 to the relayed INVITE
    let mut reply = String::from("SIP/2.0 486 Busy Here\r\n");
    for h in ["Via", "From", "To", "Call-ID", "CSeq"] {
        for line in inv.lines().filter(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", h.to_ascii_lowercase()))
        }) {
            reply.push_str(line);
            reply.push_str("\r\n");
        }
    }
    reply.push_str("Content-Length: 0\r\n\r\n");
    uas.send(from, &reply);
    let mut last = String::new();
    for _ in 0..4 {
        match c.recv(WAIT) {
            Some(m) if first_line(&m).starts_with("SIP/2.0 1") => continue,
            Some(m) => {
                last = m;
                break;
            }
            None => break,
        }
    }
    assert_eq!(
        first_line(&last),
        "SIP/2.0 480 Lua failure route",
        "{}",
        s.log()
    );
    assert!(s.wait_log("FAILURE code=486", WAIT), "{}", s.log());
}

#[test]
fn t_suspend_and_t_continue_into_a_lua_function() {
    let lua = r#"
function ksr_request_route()
    local u = KSR.pv.get("$rU")
    if u == "suspend" then
        KSR.tm.t_suspend()
        KSR.pv.seti("$shv(i)", KSR.pv.get("$T(id_index)"))
        KSR.pv.seti("$shv(l)", KSR.pv.get("$T(id_label)"))
        KSR.info("SUSPENDED")
        return
    end
    if u == "resume" then
        local r = KSR.tmx.t_continue(KSR.pv.get("$shv(i)"), KSR.pv.get("$shv(l)"), "ksr_resume")
        KSR.sl.send_reply(200, "resumed " .. r)
        return
    end
    KSR.sl.send_reply(404, "x")
end
function ksr_resume()
    KSR.info("RESUMED " .. KSR.pv.get("$ci"))
    KSR.tm.t_reply(486, "Busy from Lua")
end
"#;
    let s = start(
        "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"",
        "modparam(\"tm\", \"fr_timer\", 2000)",
        lua,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:suspend@127.0.0.1", c.port(), "k-susp", ""),
    );
    let trying = c.recv(WAIT).expect("100");
    assert!(first_line(&trying).starts_with("SIP/2.0 100"), "{trying}");
    assert!(s.wait_log("SUSPENDED", WAIT), "{}", s.log());
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:resume@127.0.0.1", c.port(), "k-res", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 486 Busy from Lua", "{}", s.log());
    assert_eq!(header(&r, "Call-ID"), Some("k-susp"));
    let r2 = c.recv(WAIT).expect("200 resumed");
    assert_eq!(first_line(&r2), "SIP/2.0 200 resumed 1", "{r2}");
    assert!(s.wait_log("RESUMED k-susp", WAIT), "{}", s.log());
}

#[test]
fn reload_good_and_broken_scripts_over_rpc() {
    let rpc_port = free_udp_port();
    let v1 = "function ksr_request_route() KSR.sl.send_reply(200, 'v1') end\n";
    let s = start(
        "loadmodule \"jsonrpcs.so\"",
        &format!("modparam(\"jsonrpcs\", \"dgram_socket\", \"udp:127.0.0.1:{rpc_port}\")"),
        v1,
    );
    let c = UdpClient::new();
    let ask = |id: &str| {
        first_line(&c.request(
            s.udp_addr(),
            &request("OPTIONS", "sip:a@127.0.0.1", c.port(), id, ""),
        ))
        .to_string()
    };
    assert_eq!(ask("r-1"), "SIP/2.0 200 v1");
    // a broken script is refused with the Lua error and its line; v1 goes on
    std::fs::write(
        s.dir.join("kemi.lua"),
        "function ksr_request_route()\n  KSR.sl.send_reply(200, 'v2'\nend\n",
    )
    .expect("write");
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"app_lua.reload","id":1}"#,
    )
    .expect("rpc answer");
    let err = r["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(err.contains("kemi.lua:3:"), "{r}");
    assert_eq!(ask("r-2"), "SIP/2.0 200 v1");
    // a good one replaces it in every worker
    std::fs::write(
        s.dir.join("kemi.lua"),
        "function ksr_request_route() KSR.sl.send_reply(200, 'v2') end\n",
    )
    .expect("write");
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"app_lua.reload","id":2}"#,
    )
    .expect("rpc answer");
    assert_eq!(r["result"], serde_json::json!({}), "{r}");
    for i in 0..4 {
        assert_eq!(ask(&format!("r-3{i}")), "SIP/2.0 200 v2");
    }
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"app_lua.list","id":3}"#,
    )
    .expect("rpc answer");
    // Kamailio's answer: "INDEX: [FILE]"
    let list = r["result"].as_str().unwrap_or_default();
    assert!(
        list.starts_with("0: [") && list.ends_with("kemi.lua]"),
        "{r}"
    );
}

#[test]
fn native_routes_call_lua() {
    let native = r#"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "app_lua.so"
modparam("app_lua", "load", "kemi.lua")
request_route {
    lua_run("tag_reply", "$rU", "x");
    lua_runstring("KSR.info('RUNSTRING ' .. KSR.pv.get(string.char(36) .. 'rm'))");
    if (lua_run("no_such_function")) { sl_send_reply("500", "unexpected"); exit; }
    sl_send_reply("200", "$var(tag)");
}
"#;
    let lua = r#"
function tag_reply(u, x)
    KSR.pv.sets("$var(tag)", "lua-" .. u .. "-" .. x)
end
"#;
    let s = Siprd::start_with(native, &[("kemi.lua", lua)], &[]);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:carol@127.0.0.1", c.port(), "n-1", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 lua-carol-x", "{}", s.log());
    assert!(s.wait_log("RUNSTRING OPTIONS", WAIT), "{}", s.log());
}

#[test]
fn the_kemi_example_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/examples/kemi.cfg");
    let (code, out) = check_file(&path);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn async_ms_route_resumes_into_a_lua_function() {
    let lua = r#"
function ksr_request_route()
    if KSR.is_INVITE() then
        local r = KSR.async.ms_route("ksr_later", 100)
        KSR.info("ASYNC returned " .. r)
        return
    end
    KSR.info("ZERO " .. KSR.async.route("ksr_later", 0))
    KSR.sl.send_reply(200, "OK")
end
function ksr_later()
    KSR.tm.t_reply(486, "Busy later " .. KSR.pv.get("$ci"))
end
"#;
    let s = start(
        "async_workers=1\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nloadmodule \"async.so\"",
        "modparam(\"async\", \"ms_timer\", 10)",
        lua,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "k-async", ""),
    );
    let mut last = String::new();
    for _ in 0..4 {
        match c.recv(WAIT) {
            Some(m) if first_line(&m).starts_with("SIP/2.0 1") => continue,
            Some(m) => {
                last = m;
                break;
            }
            None => break,
        }
    }
    assert_eq!(
        first_line(&last),
        "SIP/2.0 486 Busy later k-async",
        "{}",
        s.log()
    );
    assert!(s.wait_log("ASYNC returned 0", WAIT), "{}", s.log());
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "k-async2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    assert!(s.wait_log("ZERO -1", WAIT), "{}", s.log());
}

#[test]
fn nosip_data_reaches_its_lua_callback() {
    let lua = r#"
function ksr_nosip(evname)
    KSR.info("NOSIP " .. evname .. " " .. KSR.pv.gete("$mb"))
end
function ksr_request_route()
    KSR.sl.send_reply(200, "OK")
end
"#;
    let s = start(
        "loadmodule \"nosip.so\"",
        "modparam(\"nosip\", \"event_callback\", \"ksr_nosip\")",
        lua,
    );
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        "HELLO this is not SIP at all, but long enough",
    );
    assert!(
        s.wait_log("NOSIP nosip:msg HELLO this is not SIP", WAIT),
        "{}",
        s.log()
    );
}

/// Return values and null handling of KSR calls, recorded from Kamailio 5.6
/// with app_lua running the same script (the X-R line of each reply).
const RETURNS_LUA: &str = r#"
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "opt" then
    KSR.sl.sl_send_reply(200, "OK")
    return
  end
  if u == "pv" then
    KSR.pv.sets("$var(a)", "x")
    KSR.pv.seti("$var(b)", 5)
    local n = KSR.pv.get("$var(nope)")
    local h = KSR.pv.get("$hdr(X-None)")
    local he = KSR.pv.gete("$hdr(X-None)")
    local m = KSR.is_method("OPTIONS")
    local mi = KSR.is_INVITE()
    KSR.hdr.append_to_reply("X-R: a=" .. KSR.pv.get("$var(a)") .. " b=" .. tostring(KSR.pv.get("$var(b)")) .. " n=" .. tostring(n) .. " h=" .. tostring(h) .. " he=[" .. tostring(he) .. "] m=" .. tostring(m) .. " mi=" .. tostring(mi) .. "\r\n")
    KSR.sl.send_reply(201, "pv")
    return
  end
  if u == "err" then
    local x = nil
    x.y = 1
    KSR.sl.sl_send_reply(200, "after error")
    return
  end
  if u == "exit" then
    KSR.x.exit()
    KSR.sl.sl_send_reply(200, "after exit")
    return
  end
  if u == "ret" then
    local r1 = KSR.textops.is_present_hf("Via")
    local r2 = KSR.textops.is_present_hf("X-No")
    local r3 = KSR.hdr.is_present("Via")
    local r4 = KSR.siputils.has_totag()
    KSR.hdr.append_to_reply("X-R: " .. tostring(r1) .. " " .. tostring(r2) .. " " .. tostring(r3) .. " " .. tostring(r4) .. "\r\n")
    KSR.sl.sl_send_reply(202, "ret")
    return
  end
  if u == "ht" then
    KSR.htable.sht_sets("t", "k", "v1")
    KSR.htable.sht_seti("t", "i", 7)
    local a = KSR.htable.sht_get("t", "k")
    local b = KSR.htable.sht_get("t", "i")
    local c = KSR.htable.sht_get("t", "none")
    local d = KSR.htable.sht_inc("t", "i")
    KSR.hdr.append_to_reply("X-R: " .. tostring(a) .. " " .. tostring(b) .. " " .. tostring(c) .. " " .. tostring(d) .. " " .. type(b) .. "\r\n")
    KSR.sl.sl_send_reply(203, "ht")
    return
  end
  if u == "route" then
    KSR.hdr.append_to_reply("X-R: " .. tostring(KSR.pv.get("$rm")) .. " " .. tostring(KSR.pv.get("$sp") ~= nil) .. " " .. type(KSR.pv.get("$sp")) .. " " .. tostring(KSR.pv.get("$ci")) .. "\r\n")
    KSR.sl.sl_send_reply(204, "route")
    return
  end
  KSR.sl.sl_send_reply(404, "Not here")
end
"#;

#[test]
fn ksr_return_values_match_kamailio() {
    let s = start(
        "loadmodule \"siputils.so\"\nloadmodule \"htable.so\"",
        "modparam(\"htable\", \"htable\", \"t=>size=4;\")",
        RETURNS_LUA,
    );
    let c = UdpClient::new();
    for (user, want_line, want_xr) in [
        (
            "pv",
            "SIP/2.0 201 pv",
            Some("a=x b=5 n=0 h=nil he=[] m=true mi=false"),
        ),
        ("ret", "SIP/2.0 202 ret", Some("1 -1 1 -1")),
        ("ht", "SIP/2.0 203 ht", Some("v1 7 nil 8 number")),
        (
            "route",
            "SIP/2.0 204 route",
            Some("OPTIONS true number kr-route"),
        ),
        ("zz", "SIP/2.0 404 Not here", None),
    ] {
        let r = c.request(
            s.udp_addr(),
            &request(
                "OPTIONS",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &format!("kr-{user}"),
                "",
            ),
        );
        assert_eq!(first_line(&r), want_line, "{r}");
        assert_eq!(header(&r, "X-R"), want_xr, "{user}: {r}");
    }
    // a Lua error and KSR.x.exit() end the execution: no reply, as Kamailio
    for user in ["err", "exit"] {
        c.send(
            s.udp_addr(),
            &request(
                "OPTIONS",
                &format!("sip:{user}@127.0.0.1"),
                c.port(),
                &format!("kr-{user}"),
                "",
            ),
        );
        assert_eq!(c.recv(Duration::from_millis(300)), None, "{user}");
    }
}

#[test]
fn docs_list_every_kemi_export() {
    // docs/kemi.md carries the table `siprd --kemi-list` prints; a new
    // function must show up there too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_siprd"))
        .arg("--kemi-list")
        .output()
        .expect("run siprd --kemi-list");
    let list = String::from_utf8_lossy(&out.stdout);
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/kemi.md"))
        .expect("read docs/kemi.md");
    assert!(list.lines().count() > 50, "short list: {list}");
    let missing: Vec<&str> = list.lines().filter(|l| !docs.contains(l)).collect();
    assert!(
        missing.is_empty(),
        "docs/kemi.md lacks (regenerate the table with `siprd --kemi-list`):\n{}",
        missing.join("\n")
    );
}

#[test]
fn ksr_cases_as_kamailio() {
    // tests/kamailio-diff/kemi: each case is a Lua function whose answer
    // (serialised into the reply's reason phrase) was recorded on Kamailio
    // 5.6 by generate.py; siprd must answer the same.
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/kamailio-diff/kemi"
    );
    let read =
        |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).expect("read kemi case file");
    let cfg = read("cfg.tmpl").replace("@PORT@", "0");
    let s = Siprd::start_with(
        &cfg,
        &[
            ("harness.lua", &read("harness.lua")),
            ("cases.lua", &read("cases.lua")),
        ],
        &[],
    );
    let c = UdpClient::new();
    let expected = read("expected.txt");
    let mut diffs = Vec::new();
    for line in expected.lines() {
        let Some((name, want)) = line.split_once('\t') else {
            continue;
        };
        let method = match name.strip_prefix("m_") {
            Some(rest) => rest.split('_').next().unwrap_or("OPTIONS"),
            None => "OPTIONS",
        };
        let req = format!(
            "{method} sip:{name}@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{name}\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.org>\r\n\
             Call-ID: {name}@x\r\nCSeq: 1 {method}\r\n\
             X-A: one\r\nX-A: two\r\nX-B: three\r\nContent-Length: 0\r\n\r\n",
            port = c.port()
        );
        // this case's final reply (a late reply of another case is skipped)
        c.send(s.udp_addr(), &req);
        let cid = format!("Call-ID: {name}@x\r\n");
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        let mut r = String::new();
        while std::time::Instant::now() < deadline {
            match c.recv(Duration::from_millis(200)) {
                Some(m) if m.contains(&cid) && !m.starts_with("SIP/2.0 1") => {
                    r = m;
                    break;
                }
                _ => {}
            }
        }
        let got = first_line(&r)
            .splitn(3, ' ')
            .nth(2)
            .unwrap_or("")
            .to_string();
        if got != want {
            diffs.push(format!("{name}\n  kamailio: {want}\n  siprd:    {got}"));
        }
    }
    assert!(expected.lines().count() > 40);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn forward_uri_and_set_drop() {
    // KSR.forward_uri sends statelessly to the URI's address ($du untouched);
    // KSR.set_drop in the reply route keeps that reply from being relayed.
    let hop = NextHop::new();
    let lua = format!(
        r#"
function ksr_request_route()
  local rc = KSR.forward_uri("sip:127.0.0.1:{port}")
  KSR.info("forward_uri=" .. rc .. " du=" .. tostring(KSR.pv.get("$du")) .. "\n")
end
function ksr_reply_route()
  if KSR.pv.get("$rs") == 200 then
    KSR.set_drop()
  end
end
"#,
        port = hop.port()
    );
    let s = start("", "", &lua);
    let c = UdpClient::new();
    for (n, status, relayed) in [(1, "200 OK", false), (2, "202 Accepted", true)] {
        c.send(
            s.udp_addr(),
            &request(
                "MESSAGE",
                "sip:b@example.org",
                c.port(),
                &format!("fu-{n}"),
                "",
            ),
        );
        let (req, from) = hop
            .recv_start("MESSAGE sip:b@example.org", Duration::from_secs(3))
            .expect("forwarded to the URI's address");
        hop.answer(&req, from, status);
        match c.recv(Duration::from_millis(500)) {
            Some(r) => assert!(
                relayed && r.starts_with(&format!("SIP/2.0 {status}")),
                "{r}"
            ),
            None => assert!(!relayed, "{status} not relayed"),
        }
    }
    assert!(
        s.wait_log("forward_uri=1 du=nil", Duration::from_secs(2)),
        "{}",
        s.log()
    );
}

#[test]
fn t_relay_to_proto_addr_relays_statefully() {
    let hop = NextHop::new();
    let lua = format!(
        r#"
function ksr_request_route()
  if KSR.tm.t_relay_to_proto_addr("udp", "127.0.0.1", {port}) < 0 then
    KSR.sl.send_reply(500, "relay failed")
  end
end
"#,
        port = hop.port()
    );
    let s = start("loadmodule \"tm.so\"", "", &lua);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("MESSAGE", "sip:b@example.org", c.port(), "tra-1", ""),
    );
    let (req, from) = hop
        .recv_start("MESSAGE sip:b@example.org", Duration::from_secs(3))
        .expect("relayed to the address");
    assert!(req.matches("Via:").count() >= 2, "{req}");
    hop.answer(&req, from, "200 OK");
    let r = c.recv(Duration::from_secs(3)).expect("reply relayed");
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
}

const MODES_LUA: &str = r#"
local function S(...)
  local t = {}
  for i = 1, select('#', ...) do t[#t + 1] = tostring((select(i, ...))) end
  return table.concat(t, "|")
end
local function nows(s) return (string.gsub(tostring(s), "%s", "")) end
local T = {}
T.resp0 = function()
  local r = KSR.jsonrpcs.response()
  return S(type(r), r, KSR.pv.get("$jsonrpl(body)"), KSR.pv.get("$jsonrpl(code)"), KSR.pv.get("$jsonrpl(text)"))
end
T.execx = function()
  local a = KSR.jsonrpcs.execx('{"jsonrpc":"2.0","method":"core.echo","params":["x"],"id":1}')
  local r = KSR.jsonrpcs.response()
  local b = KSR.jsonrpcs.execx('{bad')
  local r2 = KSR.jsonrpcs.response()
  local c = KSR.jsonrpcs.execx('{"jsonrpc":"2.0","method":"no.such","id":1}')
  return S(a, nows(r), b, nows(r2) == nows(r), c, nows(KSR.jsonrpcs.response()), KSR.pv.get("$jsonrpl(code)"))
end
local function route(a)
  return S(a, KSR.pv.get("$ru"), KSR.pv.get("$du"), KSR.rr.next_hop_route())
end
T.lr = function() return route(KSR.rr.loose_route()) end
T.lr0 = function() return route(KSR.rr.loose_route_mode(0)) end
T.lr1 = function() return route(KSR.rr.loose_route_mode(1)) end
T.lr2 = function() return route(KSR.rr.loose_route_mode(2)) end
T.rr2 = function()
  return S(KSR.rr.record_route(), KSR.rr.record_route(), KSR.rr.record_route_advertised_address("1.2.3.4"))
end
function ksr_request_route()
  local c = KSR.hdr.get("X-Case")
  if c == "fwd" then
    KSR.pv.sets("$du", "sip:127.0.0.1:" .. KSR.hdr.get("X-Port"))
    KSR.forward()
    return
  end
  if c == "srm" then
    KSR.sl.send_reply_mode(202, "moded", 2)
    return
  end
  local ok, res = pcall(T[c])
  KSR.sl.sl_send_reply(200, ok and res or ("ERR " .. tostring(res)))
end
function ksr_reply_route()
  KSR.err("FH=" .. S(KSR.siputils.is_first_hop(), KSR.siputils.is_first_hop_mode(0), KSR.siputils.is_first_hop_mode(1)) .. "\n")
end
"#;

/// `KSR.rr.loose_route_mode`, `next_hop_route`, one Record-Route per message,
/// `KSR.jsonrpcs.execx/response`, `KSR.sl.send_reply_mode` and
/// `KSR.siputils.is_first_hop_mode` on replies; every expected answer was
/// recorded on Kamailio 5.6.3 with the same script (the port aside).
#[test]
fn rr_modes_jsonrpcs_response_and_first_hop_as_kamailio() {
    let s = start(
        "loadmodule \"rr.so\"\nloadmodule \"siputils.so\"\nloadmodule \"jsonrpcs.so\"",
        "modparam(\"jsonrpcs\", \"transport\", 1)",
        MODES_LUA,
    );
    let port = s.udp_addr().port();
    let me = format!("127.0.0.1:{port}");
    let c = UdpClient::new();
    let mut n = 0;
    let mut ask = |case: &str, ruri: &str, totag: &str, extra: &str| -> String {
        n += 1;
        let tag = if totag.is_empty() {
            String::new()
        } else {
            format!(";tag={totag}")
        };
        let req = format!(
            "OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{cp};branch=z9hG4bK-m{n}\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.org>{tag}\r\nX-Case: {case}\r\n\
             {extra}Call-ID: modes-{n}@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            cp = c.port()
        );
        let r = c.request(s.udp_addr(), &req);
        first_line(&r)
            .splitn(3, ' ')
            .nth(2)
            .unwrap_or("")
            .to_string()
    };
    // before any exec: "" from response(), code 0, no body or text
    assert_eq!(ask("resp0", "sip:u@x", "", ""), "string||nil|0|nil");
    assert_eq!(
        ask("execx", "sip:u@x", "", ""),
        "1|{\"jsonrpc\":\"2.0\",\"result\":[\"x\"],\"id\":1}|-1|true|1|\
         {\"jsonrpc\":\"2.0\",\"error\":{\"code\":500,\"message\":\"MethodNotFound\"},\"id\":1}|500"
    );
    let ruri_me = format!("sip:u@{me}");
    let cases: Vec<(&str, String, &str, String)> = vec![
        // an in-dialog R-URI naming us: strict routing (mode 0) or not
        (
            "lr",
            ruri_me.clone(),
            "t1",
            "Route: <sip:10.0.0.1;lr>\r\n".into(),
        ),
        (
            "lr",
            ruri_me.clone(),
            "t1",
            "Route: <sip:10.0.0.1>\r\n".into(),
        ),
        (
            "lr",
            format!("{ruri_me};lr"),
            "t1",
            "Route: <sip:10.0.0.1;lr>\r\nRoute: <sip:10.0.0.2>\r\n".into(),
        ),
        (
            "lr",
            "sip:u@10.0.0.9".into(),
            "t1",
            format!("Route: <sip:{me};lr>\r\nRoute: <sip:10.0.0.1;lr>\r\n"),
        ),
        (
            "lr",
            "sip:u@10.0.0.9".into(),
            "t1",
            format!("Route: <sip:{me};lr>\r\n"),
        ),
        (
            "lr",
            "sip:u@10.0.0.9".into(),
            "",
            format!("Route: <sip:{me};lr>\r\n"),
        ),
        (
            "lr",
            "sip:u@10.0.0.9".into(),
            "t1",
            format!("Route: <sip:{me};lr>\r\nRoute: <sip:10.0.0.1>\r\n"),
        ),
        (
            "lr",
            "sip:u@10.0.0.9".into(),
            "",
            format!("Route: <sip:{me};lr>,<sip:{me};lr>\r\n"),
        ),
    ];
    let want_lr = [
        "1|sip:10.0.0.1;lr|sip:10.0.0.1;lr|-1".to_string(),
        "1|sip:10.0.0.1|nil|-1".into(),
        "1|sip:10.0.0.2|sip:10.0.0.1;lr|-1".into(),
        "1|sip:u@10.0.0.9|sip:10.0.0.1;lr|1".into(),
        "1|sip:u@10.0.0.9|nil|-1".into(),
        "-3|sip:u@10.0.0.9|nil|-1".into(),
        "1|sip:10.0.0.1|nil|1".into(),
        format!("1|sip:u@10.0.0.9|sip:{me};lr|1"),
    ];
    let mut want_mode = want_lr.clone();
    want_mode[0] = format!("1|{ruri_me}|sip:10.0.0.1;lr|-1");
    want_mode[2] = format!("1|{ruri_me};lr|sip:10.0.0.1;lr|-1");
    for (i, (_, ruri, totag, extra)) in cases.iter().enumerate() {
        for (case, want) in [
            ("lr", &want_lr[i]),
            ("lr0", &want_lr[i]),
            ("lr1", &want_mode[i]),
            ("lr2", &want_mode[i]),
        ] {
            assert_eq!(&ask(case, ruri, totag, extra), want, "{case} #{i}");
        }
    }
    assert_eq!(ask("rr2", "sip:u@x", "", ""), "1|-1|-1");

    // is_first_hop on replies (core reply route, stateless forward): the
    // reply's Record-Route is what the UAS puts in
    let uas = std::net::UdpSocket::bind("127.0.0.1:0").expect("uas");
    uas.set_read_timeout(Some(WAIT)).expect("timeout");
    let uas_port = uas.local_addr().expect("addr").port();
    let rrs = [
        String::new(),
        format!("Record-Route: <sip:{me};lr>\r\n"),
        format!("Record-Route: <sip:localhost:{port};lr>\r\n"),
        "Record-Route: <sip:10.9.9.9;lr>\r\n".to_string(),
        format!("Record-Route: <sip:{me};lr>, <sip:10.9.9.9;lr>\r\n"),
        "Record-Route: <sip:127.0.0.1:5060;lr>\r\n".to_string(),
    ];
    let want_fh = ["1|1|1", "1|1|1", "-1|-1|1", "-1|-1|-1", "1|1|1", "-1|-1|-1"];
    let mut buf = vec![0u8; 65536];
    for (i, rr) in rrs.iter().enumerate() {
        let req = format!(
            "OPTIONS sip:u@{me} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{cp};branch=z9hG4bK-fh{i}\r\n\
             From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.org>\r\nX-Case: fwd\r\n\
             X-Port: {uas_port}\r\nCall-ID: fh-{i}@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
            cp = c.port()
        );
        c.send(s.udp_addr(), &req);
        let (len, from) = uas.recv_from(&mut buf).expect("forwarded request");
        let fwd = String::from_utf8_lossy(&buf[..len]).into_owned();
        let keep: String = fwd
            .split("\r\n")
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                ["via:", "from:", "to:", "call-id:", "cseq:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .map(|l| format!("{l}\r\n"))
            .collect();
        let reply = format!("SIP/2.0 200 OK\r\n{keep}{rr}Content-Length: 0\r\n\r\n");
        uas.send_to(reply.as_bytes(), from).expect("reply");
        assert!(c.recv(WAIT).is_some(), "reply relayed #{i}");
        assert!(s.wait_log_count("FH=", i + 1, WAIT), "{}", s.log());
        let last = s
            .log()
            .lines()
            .filter_map(|l| l.split_once("FH=").map(|(_, v)| v.trim().to_string()))
            .next_back()
            .unwrap_or_default();
        assert_eq!(last, want_fh[i], "is_first_hop on reply #{i} ({rr})");
    }

    // send_reply_mode(…, 2) closes the TCP connection after the reply
    let mut t = TcpClient::connect(s.tcp_addr());
    let req = format!(
        "OPTIONS sip:u@{me};transport=tcp SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{tp};branch=z9hG4bK-srm\r\n\
         From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.org>\r\nX-Case: srm\r\n\
         Call-ID: srm@x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        tp = t.port()
    );
    t.send(req.as_bytes());
    let r = t.recv(WAIT).expect("reply over TCP");
    assert!(r.starts_with("SIP/2.0 202 moded"), "{r}");
    assert!(t.closed_within(WAIT), "connection closed after the reply");
}

/// `KSR.xhttp.get_hu()` and `$hu`: the request line's URI of an HTTP
/// request, and of a SIP request too (observed on Kamailio 5.6.3).
#[test]
fn xhttp_get_hu_as_kamailio() {
    let lua = r#"
function ksr_request_route()
  local v = KSR.xhttp.get_hu()
  KSR.sl.sl_send_reply(200, "hu=" .. type(v) .. ":" .. tostring(v) .. " pv=" .. tostring(KSR.pv.get("$hu")))
end
function ksr_xhttp_event(evname)
  local v = KSR.xhttp.get_hu()
  KSR.xhttp.xhttp_reply(200, "OK", "text/plain", "hu=" .. type(v) .. ":" .. tostring(v))
end
"#;
    let s = start(
        "loadmodule \"xhttp.so\"",
        "modparam(\"xhttp\", \"event_callback\", \"ksr_xhttp_event\")\ntcp_accept_no_cl=yes",
        lua,
    );
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:u1@127.0.0.1", c.port(), "hu-1", ""),
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 hu=string:sip:u1@127.0.0.1 pv=sip:u1@127.0.0.1",
        "{}",
        s.log()
    );
    let mut t = TcpClient::connect(s.tcp_addr());
    t.send(b"GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = t.recv(WAIT).expect("HTTP reply");
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert!(r.ends_with("hu=string:/a/b?x=1&y=2"), "{r}");
}

#[test]
fn sl_and_tm_event_callback_params_and_the_evrexec_udp_argument() {
    // Kamailio 5.6: sl has no `event_callback`; its events' callbacks are
    // `event_callback_lres_sent` (sl:local-response) and `event_callback_fl_ack`
    // (sl:filtered-ack), each getting the event name; tm's `event_callback` is
    // tm:local-request only (`event_callback_lres_sent`: tm:local-response).
    // An evrexec UDP task's function gets the rest of the definition from the
    // `sockaddr` value on.
    let evr = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let evr_port = evr.local_addr().expect("addr").port();
    drop(evr);
    let lua = r#"
function ksr_sl_lres(ev)
    KSR.info("SL-LRES " .. tostring(ev) .. " " .. KSR.pv.get("$rm"))
end
function ksr_evr_udp(arg)
    KSR.info("EVR-UDP arg=" .. tostring(arg) .. " data=" .. KSR.pv.get("$evr(data)"))
end
function ksr_request_route()
    KSR.sl.sl_send_reply(200, "OK")
end
"#;
    let s = start(
        "loadmodule \"tm.so\"\nloadmodule \"evrexec.so\"",
        &format!(
            "modparam(\"sl\", \"event_callback_lres_sent\", \"ksr_sl_lres\")\n\
             modparam(\"sl\", \"event_callback_fl_ack\", \"ksr_sl_ack\")\n\
             modparam(\"tm\", \"event_callback\", \"ksr_sl_lres\")\n\
             modparam(\"tm\", \"event_callback_lres_sent\", \"ksr_tm_lres\")\n\
             modparam(\"evrexec\", \"exec\", \"name=ksr_evr_udp;sockaddr=udp:127.0.0.1:{evr_port};workers=1\")"
        ),
        lua,
    );
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &format!(
            "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-lres\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: lres@x\r\nCSeq: 1 OPTIONS\r\n\
             Content-Length: 0\r\n\r\n",
            c.port()
        ),
    );
    assert!(r.starts_with("SIP/2.0 200 OK"), "{r}");
    assert!(
        s.wait_log("SL-LRES sl:local-response OPTIONS", WAIT),
        "{}",
        s.log()
    );
    c.send(
        format!("127.0.0.1:{evr_port}").parse().expect("addr"),
        "hello",
    );
    assert!(
        s.wait_log(
            &format!("EVR-UDP arg=udp:127.0.0.1:{evr_port};workers=1 data=hello"),
            WAIT
        ),
        "{}",
        s.log()
    );
    // tm's event_callback is not called for the sl reply
    assert_eq!(s.count_log("SL-LRES"), 1, "{}", s.log());

    // Kamailio 5.6: modparam("sl", "event_callback", ...) is a config error.
    let dir = std::env::temp_dir().join(format!("siprd-kemi-slcb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("kemi.lua"), lua).expect("write");
    let path = dir.join("siprd.cfg");
    std::fs::write(
        &path,
        cfg("", "modparam(\"sl\", \"event_callback\", \"ksr_sl_lres\")"),
    )
    .expect("write cfg");
    let (code, out) = check_file(&path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("event_callback"), "{out}");
}

#[test]
fn ksr_hdr_without_textops_and_the_tm_local_response_callback() {
    // Kamailio 5.6: KSR.hdr.* is the core's, there without textops loaded;
    // KSR.hdr.remove of an absent header is 1. tm's `event_callback_lres_sent`
    // gets "tm:local-response-sent" (the event route is tm:local-response).
    let cfg = r#"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "app_lua.so"
modparam("app_lua", "load", "kemi.lua")
modparam("tm", "event_callback_lres_sent", "ksr_tm_lres")
cfgengine "lua"
"#;
    let lua = r#"
function ksr_tm_lres(ev)
    KSR.info("TM-LRES " .. tostring(ev) .. " " .. KSR.pv.get("$rs"))
end
function ksr_request_route()
    if KSR.is_ACK() then return end
    if KSR.pv.get("$rU") == "tm" then
        KSR.tm.t_newtran()
        KSR.tm.t_reply(404, "Nope")
        return
    end
    local r = table.concat({KSR.hdr.is_present("X-A"), KSR.hdr.is_present("X-Z"),
        KSR.hdr.remove("X-Z"), KSR.hdr.remove("X-A"), KSR.hdr.remove(""),
        KSR.hdr.append("X-N: 1\r\n"), KSR.hdr.append_to_reply("X-R: 1\r\n")}, ",")
    KSR.sl.sl_send_reply(200, "hdr " .. r)
end
"#;
    let s = Siprd::start_with(cfg, &[("kemi.lua", lua)], &[]);
    let c = UdpClient::new();
    let req = |user: &str, method: &str| {
        format!(
            "{method} sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};branch=z9hG4bK-{user}\r\n\
             From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: {user}@x\r\nCSeq: 1 {method}\r\n\
             X-A: one\r\nContent-Length: 0\r\n\r\n",
            c.port()
        )
    };
    let r = c.request(s.udp_addr(), &req("hdr", "OPTIONS"));
    assert!(r.starts_with("SIP/2.0 200 hdr 1,-1,1,1,-1,1,1\r\n"), "{r}");
    assert!(r.contains("\r\nX-R: 1\r\n"), "{r}");
    let r = c.request(s.udp_addr(), &req("tm", "INVITE"));
    assert!(r.starts_with("SIP/2.0 404 Nope"), "{r}");
    assert!(
        s.wait_log("TM-LRES tm:local-response-sent 404", WAIT),
        "{}",
        s.log()
    );
}

/// `KSR.x.probe()` answers nil, as Kamailio 5.6's.
#[test]
fn ksr_x_probe_returns_nil() {
    let s = start(
        "",
        "",
        r#"
function ksr_request_route()
    local r = KSR.x.probe()
    KSR.sl.sl_send_reply(200, "probe " .. tostring(r))
end
"#,
    );
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:a@127.0.0.1", c.port(), "k-probe", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 probe nil", "{r}");
}
