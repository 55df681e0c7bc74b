# Resuming into routes that relay to a real next hop: t_on_failure armed
# before or after the suspension, t_on_reply, 180/200/486 relayed, t_reply
# after t_relay in the resumed route, t_continue twice, unknown ids.
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
modparam("tm", "fr_timer", 1500)
modparam("tm", "fr_inv_timer", 1500)

request_route {
    if (is_method("ACK")) { $var(r) = t_check_trans(); xlog("L_INFO", "@@ACK $rU check=$var(r)\n"); if ($var(r) == 1) { t_relay(); } exit; }
    if (t_check_trans()) { exit; }
    $avp(who) = $rU;
    if ($rU =~ "^fb") { t_on_failure("FAILB"); t_on_reply("REPB"); }
    if ($rU =~ "^fd") { t_on_branch("BR"); t_on_branch_failure("BF"); }
    if (!t_suspend()) { sl_send_reply("500", "no"); exit; }
    $sht(susp=>$rU) = $_s($T(id_index):$T(id_label));
    if ($rU =~ "^fa") { t_on_failure("FAILA"); }
    xlog("L_INFO", "@@suspended $rU\n");
}

event_route[nosip:msg] {
    $var(u) = $(mb{s.select,0, });
    $var(rt) = $(mb{s.select,1, });
    $var(d) = $(mb{s.select,2, });
    $var(idx) = $(sht(susp=>$var(u)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(susp=>$var(u)){s.select,1,:}{s.int});
    if ($var(d) == "stale") { $var(lbl) = $var(lbl) + 7; }
    if ($var(d) == "bigidx") { $var(idx) = 99999; }
    if ($var(d) == "neg") { $var(idx) = -1; }
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "$var(rt)");
    xlog("L_INFO", "@@cont $var(u) $var(rt) $var(d) -> $var(r)\n");
}

route[RELAY] {
    xlog("L_INFO", "@@RELAY $avp(who) T=$T_reply_code branch=$T_branch_idx\n");
    $ru = "sip:hop@127.0.0.1:@HOP@";
    if ($avp(who) =~ "^fc") { t_on_failure("FAILC"); t_on_reply("REPC"); t_on_branch("BR"); }
    $var(r) = t_relay();
    xlog("L_INFO", "@@RELAY relay=$var(r)\n");
    if ($avp(who) =~ "then") {
        $var(r) = t_reply("404", "after relay");
        xlog("L_INFO", "@@RELAY t_reply after relay=$var(r)\n");
    }
}
route[NOTHING] {
    xlog("L_INFO", "@@NOTHING $avp(who)\n");
}
route[DROPIT] {
    xlog("L_INFO", "@@DROPIT $avp(who)\n");
    drop;
}
route[EXITIT] {
    xlog("L_INFO", "@@EXITIT $avp(who)\n");
    exit;
}
route[RET0] {
    xlog("L_INFO", "@@RET0 $avp(who)\n");
    return 0;
}
branch_route[BR] {
    xlog("L_INFO", "@@BR $avp(who) ru=$ru\n");
}
event_route[tm:branch-failure:BF] { xlog("L_INFO", "@@BF $avp(who) T=$T_reply_code\n"); }
onreply_route[REPB] { xlog("L_INFO", "@@REPB $avp(who) $rs\n"); }
onreply_route[REPC] { xlog("L_INFO", "@@REPC $avp(who) $rs\n"); }
failure_route[FAILA] {
    xlog("L_INFO", "@@FAILA $avp(who) T=$T_reply_code\n");
    t_reply("480", "from FAILA");
}
failure_route[FAILB] {
    xlog("L_INFO", "@@FAILB $avp(who) T=$T_reply_code\n");
    t_reply("481", "from FAILB");
}
failure_route[FAILC] {
    xlog("L_INFO", "@@FAILC $avp(who) T=$T_reply_code\n");
    t_reply("482", "from FAILC");
}
'''

def drive(env):
    pad = " " * 40
    def call(u, route, answers, method="INVITE", extra="x"):
        env.note(f"--- {u} {route}")
        env.sip(request(method, f"sip:{u}@127.0.0.1", "c-" + u), wait=0.25)
        env.send(f"{u} {route} {extra}{pad}")
        env.replies(0.3)
        for r in env.hop_recv(0.3):
            for a in answers:
                env.hop_answer(r, a)
        env.replies(0.4)
        env.hop_recv(0.2)
    call("faone", "RELAY", ["180 Ringing", "486 Busy Here"])
    call("fbone", "RELAY", ["180 Ringing", "486 Busy Here"])
    call("fcone", "RELAY", ["183 Progress", "503 Unavailable"])
    call("fbok", "RELAY", ["180 Ringing", "200 OK"])
    call("fdone", "RELAY", ["486 Busy Here"])
    call("fathen", "RELAY", ["486 Busy Here"])
    call("plainthen", "RELAY", ["486 Busy Here"])
    call("fbmsg", "RELAY", ["404 Not Here"], method="MESSAGE")
    # resumed routes that neither reply nor relay
    call("fanone", "NOTHING", [])
    call("fbdrop", "DROPIT", [])
    call("exit", "EXITIT", [])
    call("ret0", "RET0", [])
    # ids that do not match
    env.note("--- stale")
    env.sip(request("INVITE", "sip:stale@127.0.0.1", "c-stale"), wait=0.25)
    env.send(f"stale RELAY stale{pad}"); env.replies(0.2)
    env.send(f"stale RELAY x{pad}"); env.replies(0.2)
    for r in env.hop_recv(0.2):
        env.hop_answer(r, "486 Busy Here")
    env.replies(0.3)
    env.send(f"stale RELAY x{pad}"); env.replies(0.3)
    env.sleep(1.5); env.replies(0.1)
    call("big", "RELAY", [], extra="bigidx")
    call("neg", "RELAY", [], extra="neg")
    env.send(f"big NOSUCHROUTE x{pad}"); env.replies(0.3)
    env.sleep(1.5); env.replies(0.1)
