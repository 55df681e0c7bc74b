CFG = '''
loadmodule "app_lua.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "cfgutils.so"
loadmodule "maxfwd.so"
'''
LUA = '''
local function s(v) return type(v) .. ":" .. tostring(v) end
function sub_route()
  KSR.info("@@ in sub_route\\n")
  return 5
end
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "rt" then
    local r = KSR.route("sub_route")
    local r2 = KSR.route("nosuch")
    KSR.sl.send_reply(200, "rt " .. s(r) .. " " .. s(r2))
  elseif u == "treply" then
    local r = KSR.tm.t_reply(403, "Forbidden")
    KSR.info("@@ t_reply " .. s(r) .. "\\n")
  elseif u == "newtran" then
    local r = KSR.tm.t_newtran()
    local r2 = KSR.tm.t_newtran()
    local r3 = KSR.tm.t_reply(486, "Busy")
    KSR.info("@@ newtran " .. s(r) .. " " .. s(r2) .. " " .. s(r3) .. "\\n")
  elseif u == "branches" then
    KSR.corex.append_branch_uri("sip:b1@127.0.0.1:@HOP@")
    KSR.pv.sets("$ru", "sip:b0@127.0.0.1:@HOP@")
    KSR.tm.t_on_branch("ksr_branch")
    KSR.tm.t_on_failure("ksr_fail")
    KSR.tm.t_relay()
  elseif u == "replyerr" then
    KSR.pv.sets("$du", "sip:127.0.0.1:@HOP@")
    KSR.pv.sets("$var(mark)", "replyerr")
    KSR.tm.t_on_reply("ksr_rpl_err")
    KSR.tm.t_relay()
  elseif u == "txt" then
    local a = KSR.textops.search("^OPTIONS")
    local b = KSR.textops.is_present_hf("Contact")
    local c = KSR.siputils.is_request()
    local d = KSR.textops.has_body()
    local e = KSR.textops.cmp_str("abc", "abd")
    local f = KSR.textops.starts_with("hello", "he")
    local g = KSR.siputils.is_numeric("1234")
    local h = KSR.textops.subst('/^(Contact: ).*$/\\\\1<sip:x@y>/')
    local i = KSR.cfgutils.rand_event()
    local j = KSR.maxfwd.process_maxfwd(10)
    KSR.hdr.append_to_reply("X-Txt: " .. table.concat({s(a), s(b), s(c), s(d), s(e), s(f), s(g), s(h), s(j)}, ",") .. "\\r\\n")
    KSR.sl.send_reply(200, "txt")
  elseif u == "ret" then
    return -1
  elseif u == "flags" then
    KSR.setflag(3)
    local a = KSR.isflagset(3)
    KSR.resetflag(3)
    local b = KSR.isflagset(3)
    local c = KSR.setflag(40)
    KSR.sl.send_reply(200, "flags " .. s(a) .. " " .. s(b) .. " " .. s(c) .. " " .. s(KSR.is_myself_ruri()) .. " " .. s(KSR.is_method_in("OI")) .. " " .. s(KSR.is_UDP()) .. " " .. s(KSR.get_debug()))
  end
end
function ksr_branch()
  KSR.info("@@ branch " .. KSR.pv.get("$ru") .. " idx=" .. tostring(KSR.tm.t_get_branch_index()) .. "\\n")
  if KSR.pv.get("$rU") == "b1" then
    KSR.hdr.append("X-B1: yes\\r\\n")
  end
end
function ksr_fail()
  KSR.info("@@ failure " .. tostring(KSR.pv.get("$T_reply_code")) .. " " .. KSR.pv.get("$ru") .. "\\n")
end
function ksr_rpl_err()
  KSR.info("@@ onreply with error " .. tostring(KSR.pv.get("$rs")) .. "\\n")
  error("@@ boom in onreply")
end
'''

import time
def drive(c):
    for u in ["rt", "treply", "newtran", "txt", "ret", "flags"]:
        c.req("OPTIONS" if u != "newtran" else "INVITE", u); c.replies(0.3)
    c.req("INVITE", "branches")
    got = c.hops(0.4)
    seen = set()
    for t, a in got:
        first = t.split("\\r\\n")[0]
        if t.startswith("INVITE") and first not in seen:
            seen.add(first)
            c.answer(t, a, "404 Not Found" if "b0@" in first else "480 Unavailable")
    c.replies(0.5); c.hops(0.2)
    c.req("MESSAGE", "replyerr")
    for t, a in c.hops(0.3):
        if t.startswith("MESSAGE"):
            c.answer(t, a, "200 OK")
            break
    c.replies(0.4)
