CFG = '''
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "htable.so"
loadmodule "app_lua.so"
modparam("htable", "htable", "t=>size=4;")
'''
LUA = '''
local function s(v) return type(v) .. ":" .. tostring(v) end
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "a1" then
    local r = KSR.seturi()
    local r2 = KSR.hdr.append()
    local r3 = KSR.pv.sets("$var(x)")
    KSR.sl.send_reply(200, "r " .. s(r) .. " " .. s(r2) .. " " .. s(r3))
  elseif u == "a2" then
    local r = KSR.pv.get()
    KSR.sl.send_reply(200, "r " .. s(r))
  elseif u == "a3" then
    local r = KSR.htable.sht_get("t")
    KSR.sl.send_reply(200, "r " .. s(r))
  elseif u == "a4" then
    local r = KSR.sl.send_reply(200)
    KSR.sl.send_reply(200, "r " .. s(r))
  elseif u == "a5" then
    local r = KSR.hdr.is_present(nil)
    local r2 = KSR.hdr.is_present(5)
    local r3 = KSR.pv.seti("$var(i)", "notnum")
    local r4 = KSR.pv.get("$var(i)")
    KSR.sl.send_reply(200, "r " .. s(r) .. " " .. s(r2) .. " " .. s(r3) .. " " .. s(r4))
  elseif u == "a6" then
    local r = KSR.htable.sht_seti("t", "k", "12")
    local r2 = KSR.htable.sht_sets("t", "k2", 5)
    local r3 = KSR.htable.sht_inc("t", "k")
    KSR.sl.send_reply(200, "r " .. s(r) .. " " .. s(r2) .. " " .. s(r3) .. " " .. s(KSR.htable.sht_get("t", "k")) .. " " .. s(KSR.htable.sht_get("t", "k2")))
  elseif u == "a7" then
    local r = KSR.xlog.xinfo()
    local r2 = KSR.is_method()
    KSR.sl.send_reply(200, "r " .. s(r) .. " " .. s(r2))
  elseif u == "a8" then
    local r = KSR.pv.sets("$var(y)", nil)
    KSR.sl.send_reply(200, "r " .. s(r) .. " " .. s(KSR.pv.get("$var(y)")))
  end
end
'''

def drive(c):
    for u in ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"]:
        c.req("OPTIONS", u); c.replies(0.3)
