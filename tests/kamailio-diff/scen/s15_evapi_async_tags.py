# evapi_async_multicast / evapi_async_unicast to tagged apps; an app that
# disconnects while holding a suspended call; relays from connection-closed.
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
modparam("tm", "fr_timer", 1200)
modparam("tm", "fr_inv_timer", 1200)

event_route[evapi:connection-new] {
    xlog("L_INFO", "@@new $evapi(conidx)\n");
}
event_route[evapi:connection-closed] {
    xlog("L_INFO", "@@closed $evapi(conidx)\n");
    $var(r) = evapi_multicast("{\"peer_gone\":$evapi(conidx)}", "router");
    xlog("L_INFO", "@@closed multicast r=$var(r)\n");
}
event_route[evapi:message-received] {
    jansson_get("tag", $evapi(msg), "$var(tag)");
    if ($var(tag) != "" && $var(tag) != 0) {
        evapi_set_tag("$var(tag)");
        xlog("L_INFO", "@@tagged $evapi(conidx) as $var(tag)\n");
        exit;
    }
    $var(i) = 0; $var(l) = 0;
    jansson_get("i", $evapi(msg), "$var(i)");
    jansson_get("l", $evapi(msg), "$var(l)");
    jansson_get("code", $evapi(msg), "$var(code)");
    $var(r) = t_continue("$var(i)", "$var(l)", "ANSWER");
    xlog("L_INFO", "@@continue r=$var(r) by $evapi(conidx)\n");
}
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    if ($rU == "multi") {
        $var(r) = evapi_async_multicast("{\"i\":$T(id_index),\"l\":$T(id_label),\"u\":\"$rU\"}", "router");
    } else if ($rU == "uni") {
        $var(r) = evapi_async_unicast("{\"i\":$T(id_index),\"l\":$T(id_label),\"u\":\"$rU\"}", "router");
    } else if ($rU == "notag") {
        $var(r) = evapi_async_unicast("{\"i\":$T(id_index),\"l\":$T(id_label),\"u\":\"$rU\"}", "nobody");
    } else {
        $var(r) = evapi_async_relay("{\"i\":$T(id_index),\"l\":$T(id_label),\"u\":\"$rU\"}");
    }
    xlog("L_INFO", "@@$rU async r=$var(r)\n");
}
route[ANSWER] {
    xlog("L_INFO", "@@ANSWER $rU code=$var(code)\n");
    t_reply("$var(code)", "answered");
}
'''
import re as _re
def strip(s):
    return _re.sub(r'"i":\d+,"l":\d+', 'IDS', _re.sub(r'\d+:\{', '{', s))
def drive(env):
    a = env.evapi("A"); b = env.evapi("B"); env.sleep(0.3)
    a.ns('{"tag":"router"}'); b.ns('{"tag":"router"}'); env.sleep(0.3)
    env.sip(request("INVITE", "sip:multi@127.0.0.1", "m1"), wait=0.3)
    ga = a.read(0.3); gb = b.read(0.3)
    env.note("A " + strip(ga)); env.note("B " + strip(gb))
    m = _re.search(r'"i":(\d+),"l":(\d+)', ga or gb)
    if m:
        b.ns(json.dumps({"i": int(m.group(1)), "l": int(m.group(2)), "code": 404}))
        a.ns(json.dumps({"i": int(m.group(1)), "l": int(m.group(2)), "code": 486}))
    env.replies(0.5)
    env.sip(request("INVITE", "sip:uni@127.0.0.1", "u1"), wait=0.3)
    ga = a.read(0.3); gb = b.read(0.3)
    env.note("A " + strip(ga)); env.note("B " + strip(gb))
    # the app holding it goes away: tm's timer answers
    (a if ga else b).close()
    env.replies(1.8)
    other = b if ga else a
    other.note(0.3)
    env.sip(request("INVITE", "sip:notag@127.0.0.1", "n1"), wait=1.8)
    env.sip(request("MESSAGE", "sip:plain@127.0.0.1", "p1"), wait=0.3)
    g = other.read(0.3); env.note("other " + strip(g))
    m = _re.search(r'"i":(\d+),"l":(\d+)', g)
    if m:
        other.ns(json.dumps({"i": int(m.group(1)), "l": int(m.group(2)), "code": "202"}))
    env.replies(0.5)
