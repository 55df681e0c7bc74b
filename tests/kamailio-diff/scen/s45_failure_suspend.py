# t_suspend inside failure_route (after a 486 from the next hop), resumed by
# a nosip datagram into a route that relays a new branch or replies; a CANCEL
# while suspended in failure_route; the fr_timer firing while suspended there.
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
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (is_method("CANCEL")) { $var(r) = t_relay(); xlog("L_INFO", "@@CANCEL r=$var(r)\n"); exit; }
    if (t_check_trans()) { exit; }
    $avp(who) = $rU;
    $ru = "sip:first@127.0.0.1:@HOP@";
    t_on_failure("F");
    t_relay();
}
failure_route[F] {
    xlog("L_INFO", "@@F $avp(who) T=$T_reply_code branch=$T_branch_idx\n");
    $var(r) = t_suspend();
    $sht(susp=>$avp(who)) = $_s($T(id_index):$T(id_label));
    xlog("L_INFO", "@@F suspend r=$var(r)\n");
}
event_route[nosip:msg] {
    $var(u) = $(mb{s.select,0, });
    $var(rt) = $(mb{s.select,1, });
    $var(idx) = $(sht(susp=>$var(u)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(susp=>$var(u)){s.select,1,:}{s.int});
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "$var(rt)");
    xlog("L_INFO", "@@cont $var(u) $var(rt) -> $var(r)\n");
}
route[AGAIN] {
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@AGAIN $avp(who) T=$T_reply_code canceled=$var(c) ru=$ru\n");
    $ru = "sip:second@127.0.0.1:@HOP@";
    t_on_failure("F2");
    $var(r) = t_relay();
    xlog("L_INFO", "@@AGAIN relay=$var(r)\n");
}
route[ANSWER] {
    xlog("L_INFO", "@@ANSWER $avp(who) T=$T_reply_code\n");
    t_reply("480", "answered after failure");
}
route[QUIET] {
    xlog("L_INFO", "@@QUIET $avp(who)\n");
}
failure_route[F2] {
    xlog("L_INFO", "@@F2 $avp(who) T=$T_reply_code branch=$T_branch_idx\n");
}
'''

def drive(env):
    pad = " " * 40
    def call(u, route, first, second=None, cancel=False, method="INVITE", gap=0.1):
        env.note(f"--- {u} {route}")
        env.sip(request(method, f"sip:{u}@127.0.0.1", "c-" + u), wait=0.15)
        for r in env.hop_recv(0.2):
            if r.startswith(method):
                env.hop_answer(r, first)
        env.replies(0.3)
        if cancel:
            env.sip(request("CANCEL", f"sip:{u}@127.0.0.1", "c-" + u), wait=0.3)
        env.send(f"{u} {route}{pad}")
        env.replies(gap)
        for r in env.hop_recv(0.15):
            if r.startswith(method) and second:
                env.hop_answer(r, second)
        env.replies(0.4)
        env.send(request("ACK", f"sip:{u}@127.0.0.1", "c-" + u))
        env.hop_recv(0.2)
    call("again", "AGAIN", "486 Busy Here", "404 Not Found")
    call("againok", "AGAIN", "486 Busy Here", "200 OK")
    call("answer", "ANSWER", "486 Busy Here")
    call("quiet", "QUIET", "486 Busy Here")
    call("canc", "AGAIN", "486 Busy Here", "404 Not Found", cancel=True)
    call("msg", "AGAIN", "503 Unavailable", "404 Not Found", method="MESSAGE")
    call("late", "AGAIN", "486 Busy Here", "404 Not Found", gap=1.8)
