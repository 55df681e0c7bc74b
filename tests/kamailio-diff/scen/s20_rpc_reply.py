# A suspended INVITE answered by an external app over jsonrpcs: tm.reply with
# the ids, tm.reply_callid, a second reply, headers and body.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("tm", "fr_inv_timer", 3000)
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    t_suspend();
    xlog("L_INFO", "IDS $T(id_index) $T(id_label)\n");
}
event_route[tm:local-response] {
    xlog("L_INFO", "@@local-response $rs $rr\n");
}
'''
import re as _re
def ids(env):
    m = _re.findall(r"IDS (\d+) (\d+)", open(env.logpath).read())
    return (int(m[-1][0]), int(m[-1][1])) if m else (0, 0)
def drive(env):
    env.sip(request("INVITE", "sip:a@127.0.0.1", "r1"), wait=0.3)
    i, l = ids(env)
    env.rpc("tm.reply", 486, "Busy App", f"{i}:{l}", "", "X-App: 1\r\n", "")
    env.replies(0.3, full=True)
    env.rpc("tm.reply", 480, "again", f"{i}:{l}", "", "", "")
    env.sip(request("MESSAGE", "sip:b@127.0.0.1", "r2"), wait=0.3)
    env.rpc("tm.reply_callid", 202, "Accepted", "r2", "1 MESSAGE", "", "Content-Type: text/plain\r\n", "hello")
    env.replies(0.3, full=True)
    env.rpc("tm.reply_callid", 202, "Accepted", "nope", "1 MESSAGE", "", "", "")
    env.sip(request("INVITE", "sip:c@127.0.0.1", "r3"), wait=0.3)
    i, l = ids(env)
    env.rpc("tm.reply", 200, "OK", f"{i}:{l}", "totag-123", "Contact: <sip:app@127.0.0.1>\r\n", "")
    env.replies(0.3, full=True)
    env.rpc("tm.reply", "abc", "x", f"{i}:{l}", "", "", "")
    env.rpc("tm.reply", 404, "x", "junk", "", "", "")
