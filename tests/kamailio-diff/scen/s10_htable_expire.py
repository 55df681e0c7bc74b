# htable autoexpire with event_route[htable:expired:reg] telling an evapi app
# which registrations expired; sht_setex, $shtex, updateexpire.
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
loadmodule "siputils.so"
loadmodule "htable.so"
loadmodule "evapi.so"
modparam("htable", "htable", "reg=>size=4;autoexpire=2;")
modparam("htable", "htable", "keep=>size=4;autoexpire=2;updateexpire=0;")
modparam("htable", "timer_interval", 1)
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")

event_route[htable:mod-init] {
    $sht(reg=>boot) = "from-init";
    $sht(keep=>k1) = 1;
}

event_route[htable:expired:reg] {
    xlog("L_INFO", "@@expired reg key=$shtrecord(key) value=$shtrecord(value) cn=$shtcn(reg=>**)\n");
    evapi_relay("{\"expired\":\"$shtrecord(key)\",\"value\":\"$shtrecord(value)\"}");
}
event_route[htable:expired:keep] {
    xlog("L_INFO", "@@expired keep key=$shtrecord(key) value=$shtrecord(value)\n");
}

request_route {
    if (is_method("REGISTER")) {
        $var(exp) = $hdr(Expires);
        if ($var(exp) == $null) { $var(exp) = 1; }
        $sht(reg=>$fU) = $ct;
        $shtex(reg=>$fU) = $var(exp);
        xlog("L_INFO", "@@register $fU exp_small=$(shtex(reg=>$fU){s.len}) cn=$shtcn(reg=>**)\n");
        append_to_reply("Contact: $ct;expires=$var(exp)\r\n");
        sl_send_reply("200", "OK");
        exit;
    }
    if ($rU == "touch") {
        $sht(keep=>k1) = $sht(keep=>k1) + 1;
        $sht(keep=>k2) = "v2";
        $shtex(keep=>k2) = 1;
        xlog("L_INFO", "@@touch k1=$sht(keep=>k1) ex=$shtex(keep=>k1) k2=$sht(keep=>k2) ex2=$shtex(keep=>k2)\n");
        sl_send_reply("200", "touched");
        exit;
    }
    if ($sht(reg=>$rU) != $null) {
        sl_send_reply("302", "at $sht(reg=>$rU)");
    } else {
        sl_send_reply("404", "not registered");
    }
}
'''

def drive(env):
    a = env.evapi("A")
    env.sip(request("REGISTER", "sip:127.0.0.1", "r1", extra="Contact: <sip:alice@10.0.0.1>\nExpires: 1"), wait=0.3, full=True)
    env.sip(request("MESSAGE", "sip:alice@127.0.0.1", "m1"), wait=0.3)
    env.sip(request("MESSAGE", "sip:touch@127.0.0.1", "t1"), wait=0.3)
    env.sleep(3.2)
    a.note(0.3)
    env.sip(request("MESSAGE", "sip:alice@127.0.0.1", "m2"), wait=0.3)
    env.sip(request("MESSAGE", "sip:touch@127.0.0.1", "t2"), wait=0.3)
    env.sleep(2.5)
    a.note(0.3)
