# A suspended transaction that is CANCELed, or whose fr_timer/fr_inv_timer
# fires, before t_continue: what the caller gets, what t_continue returns and
# whether/what the resumed route runs (t_is_canceled, $T_reply_code, replies).
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
loadmodule "nosip.so"
modparam("htable", "htable", "susp=>size=4;")
modparam("tm", "fr_timer", 800)
modparam("tm", "fr_inv_timer", 800)

request_route {
    if (is_method("ACK")) { $var(r) = t_check_trans(); xlog("L_INFO", "@@ACK $rU check=$var(r)\n"); exit; }
    if (is_method("CANCEL")) {
        if ($rU == "viacheck") {
            $var(r) = t_check_trans();
            xlog("L_INFO", "@@CANCEL check=$var(r)\n");
            exit;
        }
        $var(r) = t_relay();
        xlog("L_INFO", "@@CANCEL relay=$var(r)\n");
        exit;
    }
    if (t_check_trans()) { exit; }
    $avp(who) = $rU;
    if ($rU =~ "^fail") { t_on_failure("FAIL"); }
    if (!t_suspend()) { sl_send_reply("500", "no"); exit; }
    $sht(susp=>$rU) = $_s($T(id_index):$T(id_label));
    xlog("L_INFO", "@@suspended $rU\n");
}

event_route[nosip:msg] {
    $var(u) = $(mb{s.select,0, });
    $var(rt) = $(mb{s.select,1, });
    $var(idx) = $(sht(susp=>$var(u)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(susp=>$var(u)){s.select,1,:}{s.int});
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "$var(rt)");
    xlog("L_INFO", "@@cont $var(u) $var(rt) -> $var(r)\n");
}

route[RES] {
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@RES $avp(who) canceled=$var(c) T=$T_reply_code rm=$rm\n");
    $var(r) = t_reply("200", "late ok");
    xlog("L_INFO", "@@RES reply=$var(r)\n");
}
route[RELAY] {
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@RELAY $avp(who) canceled=$var(c) T=$T_reply_code\n");
    $ru = "sip:hop@127.0.0.1:@HOP@";
    $var(r) = t_relay();
    xlog("L_INFO", "@@RELAY relay=$var(r)\n");
}
failure_route[FAIL] {
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@FAIL $avp(who) T=$T_reply_code canceled=$var(c)\n");
}
'''

def drive(env):
    pad = " " * 40
    # CANCEL while suspended, relayed with t_relay
    inv = request("INVITE", "sip:cres@127.0.0.1", "c1")
    env.sip(inv, wait=0.3)
    env.sip(request("CANCEL", "sip:cres@127.0.0.1", "c1"), wait=0.4)
    env.send(f"cres RES{pad}")
    env.replies(0.4)
    env.send(request("ACK", "sip:cres@127.0.0.1", "c1"))
    env.replies(0.2)
    # CANCEL handled by t_check_trans, then resumed into a relay
    env.sip(request("INVITE", "sip:viacheck@127.0.0.1", "c2"), wait=0.3)
    env.sip(request("CANCEL", "sip:viacheck@127.0.0.1", "c2"), wait=0.4)
    env.send(f"viacheck RELAY{pad}")
    env.replies(0.4)
    env.hop_recv(0.3)
    # CANCEL with failure route armed, resumed into RES
    env.sip(request("INVITE", "sip:failc@127.0.0.1", "c3"), wait=0.3)
    env.sip(request("CANCEL", "sip:failc@127.0.0.1", "c3"), wait=0.4)
    env.send(f"failc RES{pad}")
    env.replies(0.4)
    # fr_inv_timer fires while suspended
    env.sip(request("INVITE", "sip:tinv@127.0.0.1", "t1"), wait=1.4)
    env.send(f"tinv RES{pad}")
    env.replies(0.4)
    env.send(request("ACK", "sip:tinv@127.0.0.1", "t1"))
    env.replies(0.2)
    # fr_timer for a MESSAGE, failure route armed, then resumed into a relay
    env.sip(request("MESSAGE", "sip:failm@127.0.0.1", "t2"), wait=1.4)
    env.send(f"failm RELAY{pad}")
    env.replies(0.4)
    env.hop_recv(0.3)
    # INVITE timed out, resumed into relay
    env.sip(request("INVITE", "sip:tinv2@127.0.0.1", "t3"), wait=1.4)
    env.send(f"tinv2 RELAY{pad}")
    env.replies(0.4)
    env.hop_recv(0.3)
