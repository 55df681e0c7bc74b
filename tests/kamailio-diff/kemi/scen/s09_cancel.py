CFG = '''
loadmodule "app_lua.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "rr.so"
loadmodule "jansson.so"
'''
LUA = '''
function ksr_request_route()
  if KSR.is_CANCEL() then
    local r = KSR.tm.t_check_trans()
    KSR.info("@@ cancel check=" .. tostring(r) .. "\\n")
    if r > 0 then KSR.tm.t_relay() end
    return
  end
  if KSR.siputils.has_totag() > 0 then
    local lr = KSR.rr.loose_route()
    KSR.info("@@ in-dialog " .. KSR.pv.get("$rm") .. " lr=" .. tostring(lr) .. "\\n")
    if KSR.is_ACK() then
      if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
      KSR.x.exit()
    end
    KSR.sl.send_reply(404, "Not here")
    return
  end
  local u = KSR.pv.get("$rU")
  if u == "json" then
    local j = '{"a":{"b":[1,2,{"c":"deep"}]},"n":5,"s":"str","t":true}'
    KSR.jansson.get("a.b[2].c", j, "$var(c)")
    KSR.jansson.get("n", j, "$var(n)")
    KSR.jansson.get("t", j, "$var(t)")
    local r = KSR.jansson.get("zz", j, "$var(z)")
    KSR.sl.send_reply(200, tostring(KSR.pv.get("$var(c)")) .. " " .. tostring(KSR.pv.get("$var(n)")) .. " " .. type(KSR.pv.get("$var(n)")) .. " " .. tostring(KSR.pv.get("$var(t)")) .. " " .. tostring(r) .. " " .. tostring(KSR.pv.get("$var(z)")) .. " " .. tostring(KSR.pv.get("$var(js)")))
    return
  end
  KSR.rr.record_route()
  KSR.pv.sets("$du", "sip:127.0.0.1:@HOP@")
  KSR.tm.t_on_reply("ksr_onreply")
  KSR.tm.t_on_failure("ksr_failure")
  KSR.tm.t_relay()
end
function ksr_onreply()
  KSR.info("@@ onreply " .. KSR.pv.get("$rs") .. "\\n")
  if KSR.pv.get("$rs") == 183 then
    KSR.info("@@ drop 183\\n")
    KSR.x.drop()
  end
end
function ksr_failure()
  KSR.info("@@ failure " .. tostring(KSR.pv.get("$T_reply_code")) .. " canceled=" .. tostring(KSR.tm.t_is_canceled()) .. "\\n")
end
function ksr_reply_route()
  if KSR.pv.get("$rs") == 181 then
    KSR.info("@@ reply_route drops 181\\n")
    return -1
  end
  if KSR.pv.get("$rs") == 182 then
    KSR.x.drop()
  end
end
function ksr_onsend_route()
  local b = KSR.pv.get("$snd(buf)") or ""
  KSR.info("@@ onsend " .. tostring(KSR.pv.get("$snd(ip)")) .. " " .. tostring(KSR.pv.get("$rm")) .. " [" .. string.match(b, "^[^\\r\\n]*") .. "]\\n")
end
'''

import time
def drive(c):
    c.req("OPTIONS", "json"); c.replies(0.3)
    inv = c.req("INVITE", "bob", cid="call-1", via_branch="z9hG4bKinv1")
    got = c.hops(0.3)
    for t, a in got:
        if t.startswith("INVITE"):
            c.answer(t, a, "180 Ringing"); time.sleep(0.05)
            c.answer(t, a, "181 Forwarded"); time.sleep(0.05)
            c.answer(t, a, "182 Queued"); time.sleep(0.05)
            c.answer(t, a, "183 Progress")
            break
    c.replies(0.3)
    # CANCEL it
    cancel = inv.replace("INVITE sip:", "CANCEL sip:", 1).replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
    cancel = cancel.split("\\r\\n\\r\\n")[0]
    cancel = "\\r\\n".join(l for l in cancel.split("\\r\\n") if not l.startswith("Contact") and not l.startswith("Content-Length")) + "\\r\\nContent-Length: 0\\r\\n\\r\\n"
    c.raw(cancel)
    for t, a in c.hops(0.4):
        if t.startswith("CANCEL"):
            c.answer(t, a, "200 OK")
            for t2, a2 in got:
                if t2.startswith("INVITE"):
                    c.answer(t2, a2, "487 Request Terminated")
    c.replies(0.5)
    c.hops(0.3)
    c.req("CANCEL", "nobody", cid="call-none")
    c.replies(0.3)
    c.req("BYE", "bob", totag=True, extra="Route: <sip:127.0.0.1:5700;lr>\r\n")
    c.replies(0.3)
