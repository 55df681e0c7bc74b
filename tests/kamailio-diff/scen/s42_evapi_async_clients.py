# evapi_async_relay with two clients, with none, an app closed by evapi_close
# while a call waits on it, connection events while SIP traffic flows, a
# CANCEL of a call waiting for the app, t_continue after the app went away.
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
loadmodule "evapi.so"
loadmodule "jansson.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("tm", "fr_timer", 2000)
modparam("tm", "fr_inv_timer", 2000)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (is_method("CANCEL")) { $var(r) = t_relay(); xlog("L_INFO", "@@CANCEL $rU r=$var(r)\n"); exit; }
    if (t_check_trans()) { exit; }
    $avp(who) = $rU;
    $var(r) = evapi_async_relay("{\"u\":\"$rU\",\"i\":$T(id_index),\"l\":$T(id_label)}");
    xlog("L_INFO", "@@async $rU r=$var(r)\n");
}

event_route[evapi:connection-new] {
    xlog("L_INFO", "@@new $evapi(srcaddr) port-int=$(evapi(srcport){s.int}) idx=$evapi(conidx)\n");
}
event_route[evapi:connection-closed] {
    xlog("L_INFO", "@@closed $evapi(srcaddr) idx=$evapi(conidx) msg=$evapi(msg)\n");
}
event_route[evapi:message-received] {
    $var(cmd) = "";
    jansson_get("cmd", $evapi(msg), "$var(cmd)");
    if ($var(cmd) == "close") {
        $var(r) = evapi_close();
        xlog("L_INFO", "@@close r=$var(r) idx=$evapi(conidx)\n");
        $var(r) = evapi_relay("after close");
        xlog("L_INFO", "@@relay after close r=$var(r)\n");
        return;
    }
    jansson_get("i", $evapi(msg), "$var(i)");
    jansson_get("l", $evapi(msg), "$var(l)");
    jansson_get("rt", $evapi(msg), "$var(rt)");
    $var(r) = t_continue("$var(i)", "$var(l)", "$var(rt)");
    xlog("L_INFO", "@@cont $var(rt) r=$var(r) idx=$evapi(conidx)\n");
}

route[OK] {
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@OK $avp(who) canceled=$var(c) conidx=$evapi(conidx) msg=$evapi(msg)\n");
    $var(r) = evapi_relay("from OK $avp(who)");
    xlog("L_INFO", "@@OK relay r=$var(r)\n");
    t_reply("200", "app ok");
}
'''
import re as _re
def ids(s):
    m = _re.search(r'"u":"(\w+)","i":(\d+),"l":(\d+)', s)
    return (int(m.group(2)), int(m.group(3))) if m else (0, 0)

def drive(env):
    # no client
    env.sip(request("MESSAGE", "sip:none@127.0.0.1", "n1"), wait=2.4)
    a = env.evapi("A"); env.sleep(0.2)
    b = env.evapi("B"); env.sleep(0.2)
    env.sip(request("MESSAGE", "sip:two@127.0.0.1", "t1"), wait=0.3)
    ga = a.read(0.3); gb = b.read(0.3)
    env.note(f"A saw {len(ga)>0} B saw {len(gb)>0} same={ga==gb}")
    i, l = ids(ga)
    # both answer: the second t_continue finds it answered
    a.ns(json.dumps({"i": i, "l": l, "rt": "OK"}))
    env.replies(0.3)
    b.ns(json.dumps({"i": i, "l": l, "rt": "OK"}))
    env.replies(0.3)
    a.note(0.3); b.note(0.3)
    # A closes itself (evapi_close) while a call waits; B answers later
    env.sip(request("MESSAGE", "sip:wait@127.0.0.1", "w1"), wait=0.3)
    ga = a.read(0.3); b.read(0.3)
    i, l = ids(ga)
    a.ns(json.dumps({"cmd": "close"}))
    a.note(0.4)
    b.note(0.3)
    b.ns(json.dumps({"i": i, "l": l, "rt": "OK"}))
    env.replies(0.4)
    b.note(0.3)
    # CANCEL while B holds the call, then B answers
    env.sip(request("INVITE", "sip:canc@127.0.0.1", "c1"), wait=0.3)
    gb = b.read(0.3); i, l = ids(gb)
    env.sip(request("CANCEL", "sip:canc@127.0.0.1", "c1"), wait=0.4)
    b.ns(json.dumps({"i": i, "l": l, "rt": "OK"}))
    env.replies(0.3)
    env.send(request("ACK", "sip:canc@127.0.0.1", "c1"))
    b.note(0.3)
    # B goes away holding a call; a new client C arrives and answers it
    env.sip(request("MESSAGE", "sip:gone@127.0.0.1", "g1"), wait=0.3)
    gb = b.read(0.3); i, l = ids(gb)
    b.close(); env.sleep(0.3)
    c = env.evapi("C"); env.sleep(0.2)
    c.ns(json.dumps({"i": i, "l": l, "rt": "OK"}))
    env.replies(0.4)
    c.note(0.3)
    c.close(); env.sleep(0.3)
