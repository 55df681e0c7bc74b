STARTUP = 2.0
CFG = '''
loadmodule "app_lua.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "htable.so"
loadmodule "evapi.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("jsonrpcs", "fifo_name", "")
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("evapi", "event_callback", "ksr_evapi_event")
modparam("htable", "htable", "exp=>size=4;autoexpire=1;")
modparam("htable", "event_callback", "ksr_htable_event")
modparam("htable", "timer_interval", 1)
'''
LUA = '''
function ksr_htable_event(evname)
  KSR.info("@@ ht " .. evname .. " key=" .. tostring(KSR.pv.get("$shtrecord(key)")) .. " val=" .. tostring(KSR.pv.get("$shtrecord(value)")) .. "\\n")
end
function ksr_evapi_event(evname)
  local msg = KSR.pv.get("$evapi(msg)")
  KSR.info("@@ ev " .. evname .. " " .. tostring(msg) .. "\\n")
  if evname == "evapi:message-received" then
    if string.sub(msg, 1, 4) == "tag:" then
      local r = KSR.evapi.set_tag(string.sub(msg, 5))
      KSR.info("@@ set_tag " .. tostring(r) .. "\\n")
    elseif msg == "uni" then
      KSR.info("@@ uni " .. tostring(KSR.evapi.unicast("to-b", "only b")) .. " " .. tostring(KSR.evapi.unicast("nosuch", "x")) .. "\\n")
    elseif msg == "multi" then
      KSR.info("@@ multi " .. tostring(KSR.evapi.multicast("to-", "prefix")) .. " " .. tostring(KSR.evapi.multicast("to-b", "exact")) .. "\\n")
    elseif msg == "rpc" then
      local r = KSR.jsonrpcs.exec('{"jsonrpc": "2.0", "method": "core.psx", "id": 3}')
      KSR.info("@@ jsonrpc exec " .. tostring(r) .. " code=" .. tostring(KSR.pv.get("$jsonrpl(code)")) .. "\\n")
    end
  end
end
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "set" then
    KSR.htable.sht_sets("exp", "k1", "v1")
    KSR.htable.sht_seti("exp", "k2", 7)
    KSR.sl.send_reply(200, "set")
    return
  end
  KSR.sl.send_reply(200, "relay " .. tostring(KSR.evapi.relay("from sip")))
end
'''
import time
def drive(c):
    c.req("OPTIONS", "norelay"); c.replies(0.3)
    a = c.ev_connect(); b = c.ev_connect(); time.sleep(0.3)
    c.ev_send(a, "tag:to-a"); c.ev_send(b, "tag:to-b"); time.sleep(0.3)
    c.ev_send(a, "uni"); c.ev_recv(0.4)
    c.ev_send(a, "multi"); c.ev_recv(0.4)
    c.req("OPTIONS", "relay"); c.replies(0.3); c.ev_recv(0.3)
    c.req("OPTIONS", "set"); c.replies(0.3)
    time.sleep(2.5)
    c.ev_close(a); time.sleep(0.3)
