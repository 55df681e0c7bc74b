# What a t_continue'd route sees of changes the request route made after
# t_suspend: AVPs, flags, $ru, $du, header edits; and what the hop gets.
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

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    $avp(a) = "before";
    setflag(1);
    append_hf("X-Before: 1\r\n");
    if (!t_suspend()) { sl_send_reply("500", "no"); exit; }
    $sht(susp=>$rU) = $_s($T(id_index):$T(id_label));
    $avp(a) = "after";
    $avp(b) = "new";
    setflag(2);
    resetflag(1);
    append_hf("X-After: 1\r\n");
    $ru = "sip:changed@127.0.0.1:@HOP@";
    if ($rU == "du") { $du = "sip:127.0.0.1:@HOP@"; }
    xlog("L_INFO", "@@req end $rU mf=$mf\n");
}

event_route[nosip:msg] {
    $var(u) = $(mb{s.select,0, });
    $var(rt) = $(mb{s.select,1, });
    $var(idx) = $(sht(susp=>$var(u)){s.select,0,:}{s.int});
    $var(lbl) = $(sht(susp=>$var(u)){s.select,1,:}{s.int});
    $var(r) = t_continue("$var(idx)", "$var(lbl)", "$var(rt)");
    xlog("L_INFO", "@@nosip $var(u) $var(rt) -> $var(r)\n");
}

route[SHOW] {
    xlog("L_INFO", "@@SHOW a=$avp(a) b=$avp(b) mf=$mf ru=$ru du=$du rU=$rU hb=$hdr(X-Before) ha=$hdr(X-After)\n");
    t_reply("200", "shown");
}
route[RELAY] {
    xlog("L_INFO", "@@RELAY a=$avp(a) mf=$mf ru=$ru du=$du\n");
    $ru = "sip:relayed@127.0.0.1:@HOP@";
    t_relay();
}
'''

def drive(env):
    pad = " " * 40
    for u in ("show", "du"):
        env.sip(request("MESSAGE", f"sip:{u}@127.0.0.1", "c" + u), wait=0.3)
        env.send(f"{u} SHOW{pad}")
        env.replies(0.4)
    env.sip(request("MESSAGE", "sip:relay@127.0.0.1", "crelay"), wait=0.3)
    env.send(f"relay RELAY{pad}")
    env.replies(0.2)
    for r in env.hop_recv(0.5, full=True):
        env.hop_answer(r, "200 OK")
    env.replies(0.4)
