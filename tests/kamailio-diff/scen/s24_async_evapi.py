# async task workers talking to an evapi app: async_task_data carries JSON,
# the task relays it; async_task_route then evapi_async_relay from the task.
CFG = r'''
debug=2
log_stderror=yes
children=1
async_workers=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "async.so"
loadmodule "evapi.so"
loadmodule "jansson.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("tm", "fr_timer", 1500)
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    if ($rU == "data") {
        async_task_data("TASKDATA", "{\"cid\":\"$ci\",\"from\":\"$fU\"}");
        sl_send_reply("202", "queued");
        exit;
    }
    $avp(who) = $fU;
    async_task_route("TASKR");
}
route[TASKDATA] {
    jansson_get("cid", "$async(data)", "$var(cid)");
    $var(r) = evapi_relay("task:$var(cid)");
    xlog("L_INFO", "@@TASKDATA cid=$var(cid) relay=$var(r) rm=$rm\n");
}
route[TASKR] {
    xlog("L_INFO", "@@TASKR $ci who=$avp(who)\n");
    $var(r) = evapi_async_relay("{\"i\":$T(id_index),\"l\":$T(id_label)}");
    xlog("L_INFO", "@@TASKR async relay r=$var(r)\n");
}
event_route[evapi:message-received] {
    jansson_get("i", $evapi(msg), "$var(i)");
    jansson_get("l", $evapi(msg), "$var(l)");
    $var(r) = t_continue("$var(i)", "$var(l)", "DONE");
    xlog("L_INFO", "@@cont r=$var(r)\n");
}
route[DONE] {
    xlog("L_INFO", "@@DONE $ci who=$avp(who)\n");
    t_reply("200", "done by app");
}
'''
import re as _re
def drive(env):
    a = env.evapi("A"); env.sleep(0.2)
    env.sip(request("MESSAGE", "sip:data@127.0.0.1", "t1"), wait=0.3)
    a.note(0.3)
    env.sip(request("MESSAGE", "sip:route@127.0.0.1", "t2"), wait=0.3)
    g = a.read(0.3)
    env.note("app " + _re.sub(r"\d+", "N", g))
    m = _re.search(r'"i":(\d+),"l":(\d+)', g)
    if m:
        a.ns(json.dumps({"i": int(m.group(1)), "l": int(m.group(2))}))
    env.replies(0.5)
    a.close()
    env.sip(request("MESSAGE", "sip:route@127.0.0.1", "t3"), wait=2.0)
