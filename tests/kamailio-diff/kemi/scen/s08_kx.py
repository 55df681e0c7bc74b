CFG = '''
#!define MYDEF "defval"
#!define MYNUM 42
loadmodule "app_lua.so"
loadmodule "kemix.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
'''
NAMES = """get_ruri get_ruser getw_ruser gete_ruser get_rhost getw_rhost gete_rhost get_ouri get_furi get_fuser getw_fuser gete_fuser get_fhost getw_fhost gete_fhost get_turi get_tuser gete_tuser getw_tuser get_thost gete_thost getw_thost get_duri gete_duri getw_duri get_cturi gete_cturi getw_cturi get_nhuri get_srcuri get_srcaddr_sock get_ua gete_ua getw_ua get_srcip get_srcport get_send_sock get_send_sock_name get_send_sock_port get_rcvip get_rcv_sock_name get_rcvport get_rcvadvip get_rcvadvport get_rcvaddr_sock get_proto get_protoid get_au getw_au gete_au get_method get_status gets_status get_body getw_body gete_body get_bodylen get_callid get_conid get_msglen get_msgtype""".split()
LUA = '''
local names = {%s}
function ksr_request_route()
  for _, n in ipairs(names) do
    local ok, v = pcall(KSR.kx[n])
    KSR.info("@@ " .. n .. "=" .. type(v) .. ":" .. tostring(v) .. "\\n")
  end
  for _, d in ipairs({"MYDEF", "MYNUM", "NOPE"}) do
    KSR.info("@@ def " .. d .. " " .. tostring(KSR.kx.get_def(d)) .. " " .. tostring(KSR.kx.get_defn(d)) .. " " .. tostring(KSR.kx.ifdef(d)) .. " " .. tostring(KSR.kx.ifndef(d)) .. "\\n")
  end
  KSR.info("@@ env " .. tostring(KSR.kx.get_env("SWEEP_ENV")) .. " " .. tostring(KSR.kx.get_envn("SWEEP_ENVN")) .. " " .. tostring(KSR.kx.get_env("NOPE_ENV")) .. " " .. tostring(KSR.kx.get_envn("NOPE_ENV")) .. "\\n")
  KSR.sl.send_reply(200, "ok")
end
'''.replace('%s', ", ".join('"' + n + '"' for n in NAMES))

def drive(c):
    c.req("OPTIONS", "full", extra="User-Agent: tester/1\\r\\n", body="hello")
    c.replies(0.4)
    c.req("OPTIONS", "", ruri="sip:127.0.0.1:5700")
    c.replies(0.4)
