CFG = '''
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "tm.so"
loadmodule "textops.so"
loadmodule "app_lua.so"
'''
LUA = '''
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "lv" then
    for _, l in ipairs({"dbg", "info", "notice", "warn", "err", "crit", "alert", "bug", "l_info", "INFO", ""}) do
      KSR.log(l, "@@ log " .. l .. "\\n")
    end
    KSR.sl.send_reply(200, "ok")
  elseif u == "e42" then error(42)
  elseif u == "enil" then error()
  elseif u == "estr0" then error("@@ lvl0", 0)
  elseif u == "ebool" then error(true)
  elseif u == "seturi" then
    local r = KSR.seturi()
    local r2 = KSR.hdr.append()
    local r3 = KSR.pv.sets("$var(x)")
    local r4 = KSR.textops.append_hf()
    KSR.sl.send_reply(200, "r " .. tostring(r) .. " " .. tostring(r2) .. " " .. tostring(r3) .. " " .. tostring(r4))
  elseif u == "fail" then
    KSR.tm.t_on_failure("fr_boom")
    KSR.pv.sets("$du", "sip:127.0.0.1:@HOP@")
    KSR.tm.t_relay()
  elseif u == "exitpc" then
    local ok, e = pcall(function() KSR.x.exit() end)
    KSR.sl.send_reply(200, "pcall " .. tostring(ok) .. " " .. tostring(e))
  elseif u == "drop" then
    KSR.x.drop()
    KSR.sl.send_reply(200, "after drop")
  elseif u == "ret" then
    return 0
  end
end
function fr_boom()
  KSR.info("@@ in failure\\n")
  local x = nil
  return x.y
end
'''

def drive(c):
    for u in ["lv", "e42", "enil", "estr0", "ebool", "seturi", "exitpc", "drop", "ret"]:
        c.req("OPTIONS", u); c.replies(0.3)
    c.req("MESSAGE", "fail")
    for t, a in c.hops(0.3):
        if t.startswith("MESSAGE"):
            c.answer(t, a, "500 Bad")
    c.replies(0.5)
