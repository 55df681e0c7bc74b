CFG = '''
debug=2
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "app_lua.so"
'''
LUA = '''
function ksr_request_route()
  local u = KSR.pv.get("$rU")
  if u == "logs" then
    KSR.dbg("@@ dbg\\n"); KSR.info("@@ info\\n"); KSR.notice("@@ notice\\n"); KSR.warn("@@ warn\\n")
    KSR.err("@@ err\\n"); KSR.crit("@@ crit\\n")
    KSR.log("info", "@@ log info\\n"); KSR.log("err", "@@ log err\\n"); KSR.log("dbg", "@@ log dbg\\n")
    KSR.log("warn", "@@ log warn\\n"); KSR.log("bogus", "@@ log bogus\\n")
    KSR.xlog.xinfo("@@ xinfo $rm $ci\\n"); KSR.xlog.xerr("@@ xerr\\n"); KSR.xlog.xdbg("@@ xdbg\\n")
    KSR.xlog.xwarn("@@ xwarn\\n"); KSR.xlog.xnotice("@@ xnotice\\n")
    KSR.xlog.xlog("L_INFO", "@@ xlog L_INFO\\n"); KSR.xlog.xlog("L_ERR", "@@ xlog L_ERR $rU\\n")
    KSR.xlog.xlogl("L_INFO", "@@ xlogl\\n")
    KSR.xlog.xalert("@@ xalert\\n"); KSR.xlog.xcrit("@@ xcrit\\n")
    KSR.info("@@ no newline")
    KSR.info("@@ two\\nlines\\n")
    KSR.sl.send_reply(200, "logged")
  elseif u == "err1" then
    local t = nil
    t.x = 1
  elseif u == "err2" then
    error("@@ custom error")
  elseif u == "err3" then
    KSR.sl.send_reply(200, "before error")
    error({code=1})
  elseif u == "err4" then
    KSR.nosuch.func()
  elseif u == "err5" then
    KSR.sl.send_reply("abc", "bad code")
  elseif u == "err6" then
    KSR.sl.send_reply()
    KSR.sl.send_reply(200, "after missing")
  elseif u == "alert" then
    KSR.alert("@@ alert\\n")
  elseif u == "num" then
    local a = 10 / 2
    local b = KSR.pv.get("$var(none)")
    KSR.pv.seti("$var(n)", 7)
    local n = KSR.pv.get("$var(n)")
    KSR.info("@@ num " .. tostring(a) .. " " .. tostring(b) .. " " .. tostring(n) .. " " .. tostring(n / 2) .. " " .. type(unpack) .. " " .. type(loadstring) .. " " .. type(table.getn) .. " " .. tostring(2^53) .. " " .. tostring(1e15) .. " " .. string.format("%d", 7) .. "\\n")
    KSR.sl.send_reply(200, "n " .. a .. " " .. n)
  elseif u == "ptypes" then
    KSR.pv.sets("$var(s)", 12)
    KSR.pv.seti("$var(i)", "34")
    KSR.pv.seti("$var(f)", 3.7)
    KSR.pv.sets("$var(f2)", 3.5)
    KSR.info("@@ ptypes " .. tostring(KSR.pv.get("$var(s)")) .. " " .. type(KSR.pv.get("$var(s)")) .. " " .. tostring(KSR.pv.get("$var(i)")) .. " " .. type(KSR.pv.get("$var(i)")) .. " " .. tostring(KSR.pv.get("$var(f)")) .. " " .. tostring(KSR.pv.get("$var(f2)")) .. "\\n")
    KSR.sl.send_reply("404", 12)
  elseif u == "hdrs" then
    KSR.sl.send_reply(200.9, "float code")
  else
    KSR.sl.send_reply(404, "nf")
  end
end
'''

def drive(c):
    for u in ["logs", "err1", "err2", "err3", "err4", "err5", "err6", "alert", "num", "ptypes", "hdrs", "other"]:
        c.req("OPTIONS", u); c.replies(0.4)
