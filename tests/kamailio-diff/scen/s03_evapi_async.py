# evapi_async_relay suspends INVITEs; the app resumes them with t_continue,
# twice for one (already replied), with a wrong label, with garbage.
CFG = r'''
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "evapi.so"
loadmodule "jansson.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("tm", "fr_timer", 1500)
modparam("tm", "fr_inv_timer", 1500)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (is_method("CANCEL")) { t_relay(); exit; }
    if (t_check_trans()) { exit; }
    $avp(caller) = $fU;
    setflag(3);
    if (!evapi_async_relay("{\"event\":\"invite\",\"tindex\":$T(id_index),\"tlabel\":$T(id_label),\"ruser\":\"$rU\"}")) {
        xlog("L_INFO", "@@async relay failed\n");
        sl_send_reply("503", "no app");
    }
    xlog("L_INFO", "@@NEVER after async relay\n");
}

event_route[evapi:message-received] {
    $var(idx) = 0; $var(lbl) = 0; $var(code) = 0;
    jansson_get("tindex", $evapi(msg), "$var(idx)");
    jansson_get("tlabel", $evapi(msg), "$var(lbl)");
    if (!jansson_get("code", $evapi(msg), "$var(code)")) { $var(code) = 0; }
    jansson_get("route", $evapi(msg), "$var(route)");
    xlog("L_INFO", "@@resume code=$var(code) route=$var(route)\n");
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "$var(route)");
    xlog("L_INFO", "@@t_continue r=$var(r)\n");
    evapi_relay("{\"cont\":$var(r)}");
}

route[RESUME] {
    xlog("L_INFO", "@@RESUME rU=$rU caller=$avp(caller) flag3=$mf code=$var(code) T=$T_reply_code\n");
    if ($var(code) > 0) {
        append_to_reply("X-From-App: yes\r\n");
        t_reply("$var(code)", "app says $var(code)");
    } else {
        t_reply("404", "default");
    }
}

route[NOREPLY] {
    xlog("L_INFO", "@@NOREPLY $rU\n");
}

failure_route[NEVER] { xlog("L_INFO", "@@failure\n"); }
'''

import re as _re
def ids(s):
    m = _re.search(r'"tindex":(\d+),"tlabel":(\d+)', s)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

def drive(env):
    # no client: the transaction is suspended; tm's timer ends it
    env.sip(request("INVITE", "sip:nobody@127.0.0.1", "n1"), wait=2.5)
    a = env.evapi("A"); env.sleep(0.3)
    env.sip(request("INVITE", "sip:one@127.0.0.1", "i1"), wait=0.3)
    got = a.read(); idx, lbl = ids(got)
    env.note("app saw invite " + _re.sub(r"^\d+:", "", _re.sub(r"\"tindex\":\d+,\"tlabel\":\d+", "IDS", got)))
    a.ns(json.dumps({"tindex": idx, "tlabel": lbl, "code": 486, "route": "RESUME"}))
    env.replies(0.4, full=True)
    a.note()
    # again: already replied
    a.ns(json.dumps({"tindex": idx, "tlabel": lbl, "code": 487, "route": "RESUME"}))
    env.replies(0.4)
    a.note()
    # wrong label, string index, route that does not reply
    env.sip(request("INVITE", "sip:two@127.0.0.1", "i2"), wait=0.3)
    got = a.read(); idx, lbl = ids(got)
    a.ns(json.dumps({"tindex": idx, "tlabel": lbl + 1, "code": 200, "route": "RESUME"}))
    env.replies(0.3); a.note()
    a.ns(json.dumps({"tindex": str(idx), "tlabel": str(lbl), "code": 480, "route": "RESUME"}))
    env.replies(0.4); a.note()
    env.sip(request("INVITE", "sip:three@127.0.0.1", "i3"), wait=0.3)
    got = a.read(); idx, lbl = ids(got)
    a.ns(json.dumps({"tindex": idx, "tlabel": lbl, "route": "NOREPLY"}))
    env.replies(0.4); a.note()
    env.sip(request("INVITE", "sip:four@127.0.0.1", "i4"), wait=0.3)
    got = a.read(); idx, lbl = ids(got)
    a.ns(json.dumps({"tindex": idx, "tlabel": lbl, "route": "NOSUCH"}))
    env.replies(2.0); a.note()
