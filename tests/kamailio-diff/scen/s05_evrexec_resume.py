# t_suspend stores the transaction ids in htable; an evrexec UDP task resumes
# it on command; a start-up evrexec loop counts; evrexec.run and tm.reply over
# jsonrpcs' datagram socket.
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
loadmodule "htable.so"
loadmodule "cfgutils.so"
loadmodule "jsonrpcs.so"
loadmodule "evrexec.so"
modparam("htable", "htable", "susp=>size=4;")
modparam("htable", "htable", "st=>size=2;initval=0")
modparam("jsonrpcs", "transport", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("evrexec", "exec", "name=evrexec:loop;wait=200000;workers=2")
modparam("evrexec", "exec", "name=evrexec:udp;sockaddr=udp:127.0.0.1:@EVR@")
modparam("evrexec", "exec", "name=evrexec:rpc")
modparam("tm", "fr_inv_timer", 3000)

event_route[evrexec:loop] {
    $var(i) = 0;
    while ($var(i) < 3) {
        $var(n) = $shtinc(st=>ticks);
        $var(i) = $var(i) + 1;
        usleep("50000");
    }
    xlog("L_INFO", "@@loop done data=[$evr(data)] srcip=[$evr(srcip)]\n");
}

event_route[evrexec:udp] {
    xlog("L_INFO", "@@udp [$evr(data)] from $evr(srcip):$evr(srcport) n=$(evr(srcportno){s.len})\n");
    $var(cid) = $(evr(data){s.select,1,:});
    $var(rt) = $(evr(data){s.select,2,:});
    if ($sht(susp=>$var(cid)) == $null) {
        xlog("L_INFO", "@@udp unknown $var(cid)\n");
        exit;
    }
    $var(idx) = $(sht(susp=>$var(cid)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(susp=>$var(cid)){s.select,1,:}{s.int});
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "$var(rt)");
    xlog("L_INFO", "@@udp t_continue $var(cid) -> $var(r)\n");
}

event_route[evrexec:rpc] {
    xlog("L_INFO", "@@rpc data=[$evr(data)] ticks=$sht(st=>ticks) rm=$rm mi=$mi\n");
    if ($evr(data) == "clear") {
        sht_rm_name_re("susp=>.*");
    }
}

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    if (is_method("OPTIONS")) {
        append_to_reply("X-Ticks: $sht(st=>ticks)\r\n");
        sl_send_reply("200", "ticks");
        exit;
    }
    t_newtran();
    $avp(s) = "before";
    if (!t_suspend()) {
        sl_send_reply("500", "no suspend");
        exit;
    }
    $sht(susp=>$ci) = $_s($T(id_index):$T(id_label));
    $avp(s) = "after";
    xlog("L_INFO", "@@suspended $ci rc=$rc\n");
}

route[OK] {
    xlog("L_INFO", "@@OK $ci avp=$avp(s)\n");
    t_reply("200", "resumed");
}
route[FWD] {
    $ru = "sip:hop@127.0.0.1:@HOP@";
    t_on_failure("FAIL");
    t_relay();
    xlog("L_INFO", "@@FWD relayed rc=$rc\n");
}
failure_route[FAIL] {
    xlog("L_INFO", "@@FAIL $T_reply_code\n");
    t_reply("503", "hop said $T_reply_code");
}
'''

def drive(env):
    env.sleep(1.0)
    env.sip(request("OPTIONS", "sip:x@127.0.0.1", "o1"), wait=0.3, full=True)
    env.sip(request("INVITE", "sip:a@127.0.0.1", "ca"), wait=0.3)
    env.sip(request("MESSAGE", "sip:b@127.0.0.1", "cb"), wait=0.3)
    env.sip(request("INVITE", "sip:c@127.0.0.1", "cc"), wait=0.3)
    env.evr_udp("resume:ca:OK")
    env.replies(0.4)
    env.evr_udp("resume:cb:OK")
    env.replies(0.4)
    env.evr_udp("resume:ca:OK")
    env.replies(0.4)
    env.evr_udp("resume:zz:OK")
    env.evr_udp("resume:cc:FWD")
    env.replies(0.3)
    for r in env.hop_recv(0.5):
        env.hop_answer(r, "486 Busy Here")
    env.replies(0.6)
    env.rpc("evrexec.run", "evrexec:rpc", "hello")
    env.rpc("evrexec.run", "evrexec:rpc")
    env.rpc("evrexec.run", "evrexec:nope", "x")
    import re
    env.note(re.sub(r'"value": "[0-9:]+"', 'V', env.rpc("htable.dump", "susp", quiet=True)))
    env.rpc("evrexec.run", "evrexec:rpc", "clear")
    env.rpc("htable.dump", "susp")
    env.sip(request("MESSAGE", "sip:d@127.0.0.1", "cd"), wait=0.3)
    env.rpc("tm.reply", 404, "idx", "lbl", "", "")
    env.replies(0.3)
