# async_route / async_ms_sleep / async_task_route on a transaction that is
# CANCELed or whose fr_inv_timer fires before the resumption.
CFG = r'''
debug=2
log_stderror=yes
children=1
async_workers=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "async.so"
loadmodule "cfgutils.so"
modparam("async", "workers", 1)
modparam("async", "ms_timer", 10)
modparam("tm", "fr_timer", 700)
modparam("tm", "fr_inv_timer", 700)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (is_method("CANCEL")) { $var(r) = t_relay(); xlog("L_INFO", "@@CANCEL $rU r=$var(r)\n"); exit; }
    if (t_check_trans()) { exit; }
    $avp(who) = $rU;
    if ($rU =~ "^f") { t_on_failure("F"); }
    if ($rU =~ "route") { async_ms_route("R", "1200"); }
    if ($rU =~ "sleep") {
        async_ms_sleep("1200");
        $var(c) = t_is_canceled();
        xlog("L_INFO", "@@after sleep $avp(who) canceled=$var(c) T=$T_reply_code\n");
        $var(r) = t_reply("200", "slept");
        xlog("L_INFO", "@@after sleep reply=$var(r)\n");
        exit;
    }
    if ($rU =~ "task") { async_task_route("SLOW"); }
}
route[R] {
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@R $avp(who) canceled=$var(c) T=$T_reply_code\n");
    $var(r) = t_reply("200", "late");
    xlog("L_INFO", "@@R reply=$var(r)\n");
}
route[SLOW] {
    xlog("L_INFO", "@@SLOW start $avp(who)\n");
    usleep("1200000");
    $var(c) = t_is_canceled();
    xlog("L_INFO", "@@SLOW $avp(who) canceled=$var(c)\n");
    $var(r) = t_reply("200", "task late");
    xlog("L_INFO", "@@SLOW reply=$var(r)\n");
}
failure_route[F] {
    xlog("L_INFO", "@@F $avp(who) T=$T_reply_code\n");
}
'''

def drive(env):
    for u in ("route", "froute", "sleep", "fsleep", "task", "ftask"):
        for cancel in (True, False):
            env.note(f"--- {u} cancel={cancel}")
            cid = f"c-{u}-{cancel}"
            env.sip(request("INVITE", f"sip:{u}@127.0.0.1", cid), wait=0.2)
            if cancel:
                env.sip(request("CANCEL", f"sip:{u}@127.0.0.1", cid), wait=0.3)
            env.replies(1.8)
            env.send(request("ACK", f"sip:{u}@127.0.0.1", cid))
            env.replies(0.1)
