# evapi with netstring_format=0: bare writes both ways, two messages in one
# write, a relay with a newline inside, no client at all, max_clients.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "evapi.so"
loadmodule "jansson.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("evapi", "netstring_format", 0)
modparam("evapi", "max_clients", 2)
modparam("evapi", "workers", 0)

event_route[evapi:connection-new] {
    xlog("L_INFO", "@@new $evapi(conidx)\n");
    evapi_relay("hello $evapi(conidx)\n");
}
event_route[evapi:connection-closed] {
    xlog("L_INFO", "@@closed $evapi(conidx)\n");
}
event_route[evapi:message-received] {
    $var(m) = $evapi(msg);
    xlog("L_INFO", "@@msg len=$(var(m){s.len}) [$(var(m){s.escape.common})]\n");
    if ($var(m) =~ "^quit") {
        evapi_close();
        exit;
    }
    if (jansson_get("x", $var(m), "$var(x)")) {
        $var(y) = $var(x) * 2;
        jansson_set("int", "y", "$var(y)", "$var(out)");
        evapi_relay("$var(out)");
    } else {
        evapi_relay("echo:$var(m)");
    }
}
request_route {
    if (is_method("ACK")) { exit; }
    $var(r) = evapi_relay("line1\nline2 $rU");
    xlog("L_INFO", "@@sip r=$var(r)\n");
    if ($rU == "empty") {
        $var(e) = "";
        $var(r) = evapi_relay("$var(e)");
        xlog("L_INFO", "@@empty r=$var(r)\n");
    }
    sl_send_reply("200", "ok");
}
'''

def drive(env):
    env.sip(request("MESSAGE", "sip:noclient@127.0.0.1", "n0"), wait=0.3)
    a = env.evapi("A"); a.note(0.3)
    b = env.evapi("B"); b.note(0.3); a.note(0.2)
    c = env.evapi("C"); c.note(0.5)
    env.sip(request("MESSAGE", "sip:two@127.0.0.1", "t1"), wait=0.3)
    a.note(0.3); b.note(0.2)
    a.send('{"x":21}'); a.note(); b.note(0.2)
    a.send('plain text\r\n'); a.note(); b.note(0.2)
    a.send('12:{"x":1},'); a.note(); b.note(0.2)
    env.sip(request("MESSAGE", "sip:empty@127.0.0.1", "e1"), wait=0.3)
    a.note(0.3)
    b.send('quit'); b.note(); a.note(0.2)
    d = env.evapi("D"); d.note(0.4); a.note(0.2)
