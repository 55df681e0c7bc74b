# Start-up order (htable:mod-init, evrexec start-up task, core:worker-one-init)
# and values they share; t_continue from an htable:expired route and from
# an RPC-run evrexec route; a second t_continue from the same source.
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
loadmodule "htable.so"
loadmodule "evrexec.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("htable", "htable", "boot=>size=4;")
modparam("htable", "htable", "ids=>size=4;")
modparam("htable", "htable", "tmo=>size=4;autoexpire=1;")
modparam("htable", "timer_interval", 1)
modparam("evrexec", "exec", "name=evrexec:boot;wait=100000;workers=1;")
modparam("tm", "fr_timer", 4000)

event_route[htable:mod-init] {
    $sht(boot=>init) = "modinit";
    $shv(seq) = $shv(seq) + 1;
    xlog("L_INFO", "@@mod-init seq=$shv(seq) w=$sht(boot=>worker)\n");
}
event_route[core:worker-one-init] {
    $shv(seq) = $shv(seq) + 1;
    $sht(boot=>worker) = "worker";
    xlog("L_INFO", "@@worker-one-init seq=$shv(seq) init=$sht(boot=>init)\n");
}
event_route[evrexec:boot] {
    $shv(seq) = $shv(seq) + 1;
    xlog("L_INFO", "@@evrexec boot seq=$shv(seq) init=$sht(boot=>init) rm=$rm\n");
}
event_route[evrexec:resume] {
    $var(u) = $evr(data);
    $var(idx) = $(sht(ids=>$var(u)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(ids=>$var(u)){s.select,1,:}{s.int});
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "DONE");
    xlog("L_INFO", "@@rpc resume $var(u) r=$var(r)\n");
}
event_route[htable:expired:tmo] {
    $var(u) = $shtrecord(key);
    $var(idx) = $(shtrecord(value){s.select,0,:}{s.int});
    $var(lbl) = $(shtrecord(value){s.select,1,:}{s.int});
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "DONE");
    xlog("L_INFO", "@@expired resume $var(u) r=$var(r)\n");
}

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    $avp(who) = $rU;
    if (!t_suspend()) { sl_send_reply("500", "no"); exit; }
    if ($rU =~ "^exp") {
        $sht(tmo=>$rU) = $_s($T(id_index):$T(id_label));
        $shtex(tmo=>$rU) = 1;
    } else {
        $sht(ids=>$rU) = $_s($T(id_index):$T(id_label));
    }
    xlog("L_INFO", "@@suspended $rU\n");
}
route[DONE] {
    xlog("L_INFO", "@@DONE $avp(who) rm=$rm init=$sht(boot=>init)\n");
    t_reply("200", "done $avp(who)");
}
'''

def drive(env):
    env.sip(request("MESSAGE", "sip:rpc@127.0.0.1", "r1"), wait=0.3)
    env.rpc("evrexec.run", "evrexec:resume", "rpc")
    env.replies(0.3)
    env.rpc("evrexec.run", "evrexec:resume", "rpc")
    env.replies(0.3)
    env.rpc("evrexec.run", "evrexec:resume", "nosuch")
    env.sip(request("MESSAGE", "sip:exp@127.0.0.1", "e1"), wait=3.5)
