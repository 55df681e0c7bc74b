# Start-up ordering: htable:mod-init, core:worker-one-init, evrexec tasks with
# wait and several workers feeding an evapi client; $shtinc from many.
CFG = r'''
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "htable.so"
loadmodule "evrexec.so"
loadmodule "evapi.so"
loadmodule "cfgutils.so"
modparam("htable", "htable", "s=>size=4;initval=0")
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("evrexec", "exec", "name=evrexec:tick;wait=1500000;workers=2")
modparam("evrexec", "exec", "name=evrexec:once;wait=100000")
event_route[htable:mod-init] {
    $sht(s=>boot) = 1;
    xlog("L_INFO", "@@mod-init mi=$mi rm=$rm ru=$ru si=$si\n");
}
event_route[core:worker-one-init] {
    $var(n) = $shtinc(s=>workers);
    xlog("L_INFO", "@@worker-one-init n=$var(n) boot=$sht(s=>boot)\n");
}
event_route[evrexec:once] {
    xlog("L_INFO", "@@once boot=$sht(s=>boot) w=$sht(s=>workers)\n");
}
event_route[evrexec:tick] {
    $var(k) = $shtinc(s=>ticks);
    $var(r) = evapi_relay("tick");
    xlog("L_INFO", "@@tick relay=$var(r)\n");
}
request_route {
    sl_send_reply("200", "ticks=$sht(s=>ticks) workers=$sht(s=>workers)");
}
'''
def drive(env):
    a = env.evapi("A")
    env.sip(request("OPTIONS", "sip:x@127.0.0.1", "o1"), wait=0.3)
    env.sleep(0.6)
    a.note(0.3)
    env.sip(request("OPTIONS", "sip:x@127.0.0.1", "o2"), wait=0.3)
