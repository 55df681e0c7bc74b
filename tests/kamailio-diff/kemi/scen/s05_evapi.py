STARTUP = 2.0
CFG = '''
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "jansson.so"
loadmodule "htable.so"
loadmodule "evapi.so"
loadmodule "app_lua.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("evapi", "event_callback", "ksr_evapi_event")
modparam("htable", "htable", "calls=>size=8;")
modparam("htable", "event_callback", "ksr_htable_event")
'''
LUA = '''
function ksr_htable_event(evname)
  KSR.info("@@ htable event " .. evname .. "\\n")
  KSR.htable.sht_seti("calls", "total", 100)
  KSR.htable.sht_sets("calls", "name", "init")
  return 1
end
function ksr_evapi_event(evname)
  local msg = KSR.pv.get("$evapi(msg)")
  KSR.info("@@ evapi " .. evname .. " msg=" .. tostring(msg) .. " idx=" .. tostring(KSR.pv.get("$evapi(conidx)")) .. "\\n")
  if evname == "evapi:connection-new" then
    KSR.evapi.set_tag("client" .. tostring(KSR.pv.get("$evapi(conidx)")))
    KSR.evapi.relay("{\\"event\\":\\"hello\\"}")
  elseif evname == "evapi:message-received" then
    if msg == "close" then
      KSR.info("@@ close ret=" .. tostring(KSR.evapi.close()) .. "\\n")
      return
    end
    if msg and string.sub(msg, 1, 1) == "{" then
      KSR.jansson.get("tindex", msg, "$var(ti)")
      KSR.jansson.get("tlabel", msg, "$var(tl)")
      local ti = KSR.pv.get("$var(ti)")
      local tl = KSR.pv.get("$var(tl)")
      KSR.info("@@ resume " .. tostring(ti) .. " " .. tostring(tl) .. "\\n")
      if ti then
        KSR.tmx.t_continue(tonumber(ti), tonumber(tl), "ksr_resume")
      end
      return
    end
    KSR.evapi.unicast("client0", "echo:" .. msg)
    KSR.evapi.multicast("client", "mc:" .. msg)
  end
end
function ksr_resume()
  KSR.info("@@ resumed " .. KSR.pv.get("$ru") .. "\\n")
  KSR.tm.t_reply(200, "Resumed")
end
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  KSR.htable.sht_inc("calls", "total")
  if u == "count" then
    KSR.sl.send_reply(200, "total " .. tostring(KSR.htable.sht_get("calls", "total")) .. " " .. tostring(KSR.htable.sht_get("calls", "name")) .. " " .. tostring(KSR.htable.sht_get("calls", "none")))
    return
  end
  if u == "notify" then
    KSR.evapi.relay("{\\"method\\":\\"" .. KSR.pv.get("$rm") .. "\\",\\"ruri\\":\\"" .. KSR.pv.get("$ru") .. "\\"}")
    KSR.sl.send_reply(200, "Notified")
    return
  end
  if u == "async" then
    KSR.tm.t_newtran()
    local r = KSR.tmx.t_suspend()
    local ti = KSR.pv.get("$T(id_index)")
    local tl = KSR.pv.get("$T(id_label)")
    KSR.info("@@ suspended " .. tostring(r) .. "\\n")
    KSR.evapi.async_relay("{\\"tindex\\":" .. ti .. ",\\"tlabel\\":" .. tl .. "}")
    return
  end
  if u == "async2" then
    KSR.evapi.async_relay("{\\"tindex\\":$T(id_index),\\"tlabel\\":$T(id_label),\\"x\\":\\"$rU\\"}")
    return
  end
  KSR.sl.send_reply(404, "Not here")
end
'''

import json, re, time
def drive(c):
    c.req("OPTIONS", "count"); c.replies(0.3)
    e0 = c.ev_connect(); time.sleep(0.3)
    e1 = c.ev_connect(); time.sleep(0.3)
    c.ev_recv(0.4)
    c.ev_send(e1, "ping")
    c.ev_recv(0.4)
    c.req("MESSAGE", "notify"); c.replies(0.3); c.ev_recv(0.3)
    c.req("INVITE", "async")
    bufs = c.ev_recv(0.5)
    m = re.search(rb'\{"tindex":(\d+),"tlabel":(\d+)\}', bufs[0])
    if m:
        c.ev_send(e0, m.group(0).decode())
    c.replies(0.6)
    c.req("INVITE", "async2")
    bufs = c.ev_recv(0.5)
    m = re.search(rb'\{"tindex":(\d+),"tlabel":(\d+)[^}]*\}', bufs[0])
    if m:
        c.ev_send(e0, m.group(0).decode())
    c.replies(0.6)
    c.ev_send(e1, "close"); c.ev_recv(0.4)
    c.ev_send(e0, "bad netstring", netstring=False); c.ev_recv(0.4)
    c.req("OPTIONS", "count"); c.replies(0.3)
