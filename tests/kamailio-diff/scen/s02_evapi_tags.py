# evapi: two clients tagged from connection-new by a hello message, multicast /
# unicast / relay from SIP, connection-closed, a client that goes away.
CFG = r'''
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "htable.so"
loadmodule "evapi.so"
loadmodule "jansson.so"
modparam("htable", "htable", "cl=>size=4;")
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("evapi", "workers", 2)

event_route[evapi:connection-new] {
    xlog("L_INFO", "@@new idx=$evapi(conidx) msg=[$evapi(msg)]\n");
    $sht(cl=>n) = $shtinc(cl=>total);
}

event_route[evapi:connection-closed] {
    xlog("L_INFO", "@@closed idx=$evapi(conidx) msg=[$evapi(msg)]\n");
    $var(r) = evapi_relay("{\"event\":\"left\",\"idx\":$evapi(conidx)}");
    xlog("L_INFO", "@@closed relay=$var(r)\n");
}

event_route[evapi:message-received] {
    xlog("L_INFO", "@@msg idx=$evapi(conidx) [$evapi(msg)]\n");
    if (!jansson_get("cmd", $evapi(msg), "$var(cmd)")) {
        xlog("L_INFO", "@@bad json rc=$rc\n");
        evapi_relay("{\"error\":\"bad json\"}");
        exit;
    }
    switch ($var(cmd)) {
        case "hello":
            jansson_get("tag", $evapi(msg), "$var(tag)");
            $var(r) = evapi_set_tag("$var(tag)");
            xlog("L_INFO", "@@tag $var(tag) r=$var(r)\n");
            $var(r) = evapi_unicast("{\"welcome\":\"$var(tag)\"}", "$var(tag)");
            xlog("L_INFO", "@@welcome r=$var(r)\n");
            break;
        case "bye":
            $var(r) = evapi_close();
            xlog("L_INFO", "@@close r=$var(r) idx=[$evapi(conidx)]\n");
            break;
        default:
            $var(r) = evapi_multicast("{\"echo\":\"$var(cmd)\"}", "ops");
            xlog("L_INFO", "@@echo r=$var(r)\n");
    }
}

request_route {
    if (is_method("ACK")) { exit; }
    if ($rU == "relay") {
        $var(r) = evapi_relay("{\"event\":\"call\",\"from\":\"$fU\",\"cid\":\"$ci\"}");
    } else if ($rU == "multi") {
        $var(r) = evapi_multicast("{\"event\":\"multi\",\"cid\":\"$ci\"}", "ops");
    } else if ($rU == "uni") {
        $var(r) = evapi_unicast("{\"event\":\"uni\",\"cid\":\"$ci\"}", "ops");
    } else if ($rU == "none") {
        $var(r) = evapi_multicast("{\"event\":\"none\"}", "nobody");
    } else {
        $var(r) = -5;
    }
    xlog("L_INFO", "@@sip $rU r=$var(r)\n");
    sl_send_reply("200", "r=$var(r)");
}
'''

def drive(env):
    env.sip(request("MESSAGE", "sip:relay@127.0.0.1", "r0"), wait=0.3)
    a = env.evapi("A"); env.sleep(0.3)
    b = env.evapi("B"); env.sleep(0.3)
    a.ns('{"cmd":"hello","tag":"ops"}'); a.note()
    b.ns('{"cmd":"hello","tag":"billing"}'); b.note()
    env.sip(request("MESSAGE", "sip:relay@127.0.0.1", "r1"), wait=0.3)
    a.note(); b.note()
    env.sip(request("MESSAGE", "sip:multi@127.0.0.1", "m1"), wait=0.3)
    a.note(); b.note()
    env.sip(request("MESSAGE", "sip:uni@127.0.0.1", "u1"), wait=0.3)
    a.note(); b.note()
    env.sip(request("MESSAGE", "sip:none@127.0.0.1", "n1"), wait=0.3)
    b.ns('{"cmd":"status"}'); a.note(); b.note()
    b.ns('not json'); a.note(); b.note()
    b.ns('{"cmd":"bye"}'); a.note(); b.note()
    a.close(); env.sleep(0.5)
    env.sip(request("MESSAGE", "sip:relay@127.0.0.1", "r2"), wait=0.3)
