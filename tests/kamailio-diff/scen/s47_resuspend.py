# A route resumed by t_continue suspends the transaction again (t_suspend,
# async_ms_route): same ids?, what the second t_continue runs, AVPs across.
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
loadmodule "async.so"
modparam("async", "workers", 1)
modparam("async", "ms_timer", 10)
modparam("htable", "htable", "susp=>size=4;")
modparam("tm", "fr_timer", 3000)
modparam("tm", "fr_inv_timer", 3000)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    $avp(n) = 0;
    if (!t_suspend()) { sl_send_reply("500", "no"); exit; }
    $sht(susp=>$rU) = $_s($T(id_index):$T(id_label));
    $var(first) = $sht(susp=>$rU);
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
    $avp(n) = $avp(n) + 1;
    $var(old) = $sht(susp=>$rU);
    $var(r) = t_suspend();
    $var(now) = $_s($T(id_index):$T(id_label));
    xlog("L_INFO", "@@AGAIN n=$avp(n) suspend=$var(r)\n");
    if ($var(old) == $var(now)) { xlog("L_INFO", "@@AGAIN same ids\n"); }
    $avp(after) = "set-after-resuspend";
}
route[MS] {
    $avp(n) = $avp(n) + 10;
    $var(r) = async_ms_route("DONE", "100");
    xlog("L_INFO", "@@MS r=$var(r)\n");
}
route[DONE] {
    xlog("L_INFO", "@@DONE n=$avp(n) after=$avp(after)\n");
    t_reply("200", "done");
}
'''

def drive(env):
    pad = " " * 40
    env.sip(request("MESSAGE", "sip:a@127.0.0.1", "a1"), wait=0.2)
    env.send(f"a AGAIN{pad}"); env.replies(0.3)
    env.send(f"a AGAIN{pad}"); env.replies(0.3)
    env.send(f"a DONE{pad}"); env.replies(0.4)
    env.sip(request("MESSAGE", "sip:b@127.0.0.1", "b1"), wait=0.2)
    env.send(f"b MS{pad}"); env.replies(0.5)
    env.send(f"b DONE{pad}"); env.replies(0.4)
    env.sip(request("MESSAGE", "sip:c@127.0.0.1", "c1"), wait=0.2)
    env.send(f"c AGAIN{pad}"); env.replies(0.3)
    env.send(f"c MS{pad}"); env.replies(0.5)
