CFG = '''
loadmodule "app_lua.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "htable.so"
modparam("htable", "htable", "calls=>size=8;")
modparam("htable", "event_callback", "ksr_htable_event")
'''
LUA = '''
function ksr_htable_event(evname)
  KSR.info("@@ htable event " .. evname .. "\\n")
  KSR.htable.sht_seti("calls", "total", 100)
  return 1
end
function ksr_request_route()
  local r = KSR.htable.sht_inc("calls", "total")
  local r2 = KSR.htable.sht_inc("calls", "fresh")
  local r3 = KSR.htable.sht_dec("calls", "fresh2")
  KSR.sl.send_reply(200, "total " .. tostring(r) .. " " .. tostring(r2) .. " " .. tostring(r3) .. " " .. tostring(KSR.htable.sht_get("calls", "total")) .. " " .. tostring(KSR.htable.sht_get("calls", "fresh")) .. " " .. tostring(KSR.htable.sht_get("calls", "fresh2")))
end
'''
def drive(c):
    c.req("OPTIONS", "count"); c.replies(0.3)
    c.req("OPTIONS", "count"); c.replies(0.3)
