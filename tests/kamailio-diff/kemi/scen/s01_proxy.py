CFG = '''
loadmodule "kex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "app_lua.so"
modparam("tm", "fr_timer", 1500)
modparam("tm", "fr_inv_timer", 2000)
'''
LUA = '''
function ksr_request_route()
  if not KSR.maxfwd.process_maxfwd(10) then
    KSR.sl.sl_send_reply(483, "Too Many Hops")
    return
  end
  KSR.info("@@ req " .. KSR.pv.get("$rm") .. " " .. KSR.pv.get("$ru") .. "\\n")
  if KSR.is_CANCEL() then
    if KSR.tm.t_check_trans() > 0 then
      KSR.tm.t_relay()
    end
    return
  end
  if KSR.is_ACK() then
    if KSR.tm.t_check_trans() > 0 then KSR.tm.t_relay() end
    return
  end
  local u = KSR.pv.get("$rU")
  if u == "local" then
    KSR.sl.send_reply(200, "Local OK")
    return
  end
  if u == "hdr" then
    KSR.hdr.append("X-Added: yes\\r\\n")
    KSR.hdr.remove("Contact")
  end
  KSR.pv.sets("$du", "sip:127.0.0.1:@HOP@")
  KSR.tm.t_on_failure("ksr_failure_manage")
  KSR.tm.t_on_reply("ksr_onreply_manage")
  KSR.tm.t_on_branch("ksr_branch_manage")
  if KSR.tm.t_relay() < 0 then
    KSR.sl.sl_reply_error()
  end
  KSR.x.exit()
end
function ksr_branch_manage()
  KSR.info("@@ branch " .. KSR.pv.get("$ru") .. " idx=" .. tostring(KSR.pv.get("$T_branch_idx")) .. "\\n")
  KSR.hdr.append("X-Branch: 1\\r\\n")
end
function ksr_onreply_manage()
  KSR.info("@@ onreply " .. tostring(KSR.pv.get("$rs")) .. " " .. tostring(KSR.pv.get("$rr")) .. "\\n")
end
function ksr_failure_manage()
  KSR.info("@@ failure " .. tostring(KSR.pv.get("$T_reply_code")) .. " canceled=" .. tostring(KSR.tm.t_is_canceled()) .. "\\n")
  if KSR.tm.t_is_canceled() > 0 then return end
  if KSR.pv.get("$rU") == "retry" and KSR.tm.t_check_status("486") > 0 then
    KSR.pv.sets("$ru", "sip:second@127.0.0.1:@HOP@")
    KSR.tm.t_relay()
  end
end
function ksr_reply_route()
  KSR.info("@@ reply_route " .. tostring(KSR.pv.get("$rs")) .. "\\n")
end
'''

def drive(c):
    c.req("OPTIONS", "local"); c.replies()
    # plain INVITE relayed, 180 then 200
    inv = c.req("INVITE", "bob", body="v=0\\r\\n")
    got = c.hops()
    for t, a in got:
        if t.startswith("INVITE"):
            c.answer(t, a, "180 Ringing"); c.answer(t, a, "200 OK")
    c.replies()
    # failure + retry on 486
    c.req("INVITE", "retry")
    for t, a in c.hops():
        if t.startswith("INVITE"):
            c.answer(t, a, "486 Busy Here")
    for t, a in c.hops():
        if t.startswith("INVITE"):
            c.answer(t, a, "603 Decline")
        elif t.startswith("ACK"):
            pass
    c.replies()
    # header edits
    c.req("MESSAGE", "hdr", body="hi")
    for t, a in c.hops():
        if t.startswith("MESSAGE"):
            c.answer(t, a, "202 Accepted")
    c.replies()
    # max-forwards
    c.req("OPTIONS", "mf", extra="")
    c.replies()
    # no answer -> fr timer 408
    c.req("MESSAGE", "silent")
    c.hops(0.3)
    c.replies(2.5)
