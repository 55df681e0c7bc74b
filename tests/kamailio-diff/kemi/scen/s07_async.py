STARTUP = 2.0
CFG = '''
async_workers=2
loadmodule "app_lua.so"
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "cfgutils.so"
loadmodule "async.so"
loadmodule "jsonrpcs.so"
loadmodule "evrexec.so"
loadmodule "nosip.so"
modparam("async", "workers", 2)
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("jsonrpcs", "fifo_name", "")
modparam("evrexec", "exec", "name=ksr_evr_start;wait=100;workers=1;")
modparam("evrexec", "exec", "name=ksr_evr_udp;sockaddr=udp:127.0.0.1:@EVR@;workers=1;")
@ENGINE@
event_route[nosip:msg] {
  xlog("L_INFO", "@@ native nosip [$mb]\n");
}
'''
LUA = '''
function ksr_evr_start(idx)
  KSR.info("@@ evr start idx=" .. tostring(idx) .. "\\n")
end
function ksr_evr_udp(a)
  KSR.info("@@ evr udp data=" .. tostring(KSR.pv.get("$evr(data)")) .. " arg=" .. tostring(a) .. "\\n")
end
function ksr_nosip(ev)
  KSR.info("@@ nosip " .. tostring(ev) .. " [" .. tostring(KSR.pv.get("$mb")) .. "]\\n")
end
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "sleep" then
    KSR.pv.sets("$var(v)", "before")
    KSR.pv.seti("$avp(a)", 5)
    KSR.info("@@ before async\\n")
    local r = KSR.async.route("ksr_after", 1)
    KSR.info("@@ after call r=" .. tostring(r) .. "\\n")
    return
  end
  if u == "ms" then
    KSR.async.ms_route("ksr_after", 200)
    return
  end
  if u == "task" then
    KSR.pv.sets("$var(v)", "task")
    local r = KSR.async.task_route("ksr_task")
    KSR.info("@@ task r=" .. tostring(r) .. "\\n")
    return
  end
  if u == "hdrs" then
    local h = KSR.hdr.get("X-Test")
    local h2 = KSR.hdr.get("X-None")
    local p = KSR.hdr.is_present("X-Test")
    KSR.hdr.remove("X-Test")
    KSR.hdr.append_to_reply("X-Reply: " .. tostring(h) .. "\\r\\n")
    KSR.sl.send_reply(200, "h " .. tostring(h) .. " " .. tostring(h2) .. " " .. tostring(p) .. " " .. tostring(KSR.hdr.is_present("X-Test")))
    return
  end
  if u == "x" then
    local r = KSR.textops.is_present_hf("X-Test")
    local r2 = KSR.siputils.has_totag()
    local r3 = KSR.siputils.is_uri_user_e164("sip:+4912345@x")
    local r4 = KSR.textops.search("X-Test: val")
    local r5 = KSR.textops.search_str("abc$", "c$")
    KSR.sl.send_reply(200, "x " .. tostring(r) .. " " .. tostring(r2) .. " " .. tostring(r3) .. " " .. tostring(r4) .. " " .. tostring(r5))
    return
  end
  KSR.sl.send_reply(404, "nf")
end
function ksr_after()
  KSR.info("@@ resumed var=" .. tostring(KSR.pv.get("$var(v)")) .. " avp=" .. tostring(KSR.pv.get("$avp(a)")) .. " ru=" .. KSR.pv.get("$ru") .. "\\n")
  KSR.sl.send_reply(200, "After")
end
function ksr_task()
  KSR.info("@@ in task var=" .. tostring(KSR.pv.get("$var(v)")) .. "\\n")
  KSR.tm.t_reply(200, "Task")
end
'''

import time
def drive(c):
    time.sleep(0.3)
    c.req("INVITE", "sleep"); c.replies(1.6)
    c.req("INVITE", "ms"); c.replies(0.6)
    c.req("MESSAGE", "task"); c.replies(0.6)
    c.req("OPTIONS", "hdrs", extra="X-Test: val\r\n"); c.replies(0.4)
    c.req("OPTIONS", "x", extra="X-Test: val\\r\\n", body="hello body"); c.replies(0.4)
    c.udp_to(5704, "evr-data")
    time.sleep(0.4)
    c.raw("this is not a sip message but long enough for nosip\\r\\n")
    time.sleep(0.4)
    c.rpc("evrexec.run", "ksr_evr_start", "rpcdata")
    c.rpc("core.version")
    c.rpc("app_lua.list")
    c.rpc("nosuch.method")
