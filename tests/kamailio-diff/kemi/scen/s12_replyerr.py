CFG = '''
loadmodule "app_lua.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
'''
LUA = '''
function ksr_request_route()
  if KSR.pv.get("$rU") == "sl" then
    KSR.forward_uri("sip:127.0.0.1:@HOP@")
    return
  end
  KSR.pv.sets("$du", "sip:127.0.0.1:@HOP@")
  KSR.tm.t_on_failure("ksr_fail")
  KSR.tm.t_relay()
end
function ksr_reply_route()
  KSR.info("@@ reply_route " .. tostring(KSR.pv.get("$rs")) .. "\\n")
  if KSR.pv.get("$rs") == 180 then
    error("@@ reply boom")
  end
  if KSR.pv.get("$rs") == 183 then
    return 0
  end
  if KSR.pv.get("$rs") == 202 then
    KSR.hdr.append("X-Reply: edited\\r\\n")
  end
end
function ksr_fail()
  KSR.info("@@ failure " .. tostring(KSR.pv.get("$T_reply_code")) .. "\\n")
  error("@@ failure boom")
end
'''
import time
def drive(c):
    c.req("INVITE", "bob")
    for t, a in c.hops(0.3):
        if t.startswith("INVITE"):
            c.answer(t, a, "180 Ringing"); time.sleep(0.05)
            c.answer(t, a, "183 Progress"); time.sleep(0.05)
            c.answer(t, a, "500 Server Error")
            break
    c.replies(0.5); c.hops(0.2)
    c.req("MESSAGE", "sl")
    for t, a in c.hops(0.3):
        if t.startswith("MESSAGE"):
            c.answer(t, a, "202 Accepted")
            break
    c.replies(0.4)
