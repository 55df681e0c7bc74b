# async: rate-limit style delays, async_route to a dynamic name, ms sleeps,
# task routes, async_task_data into a group, relaying after resume.
CFG = r'''
debug=2
log_stderror=yes
children=2
async_workers=2
async_workers_group="name=lazy;workers=1"
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "htable.so"
loadmodule "async.so"
modparam("async", "workers", 2)
modparam("async", "ms_timer", 10)
modparam("htable", "htable", "h=>size=4;initval=0")
modparam("tm", "fr_timer", 2000)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    $avp(start) = $rU;
    switch ($rU) {
        case "sleep":
            $var(d) = 1;
            async_sleep("$var(d)");
            xlog("L_INFO", "@@after sleep rc=$rc avp=$avp(start) T=$T(reply_code)\n");
            append_to_reply("X-Slept: 1\r\n");
            t_reply("200", "slept");
            exit;
        case "msroute":
            $var(rn) = "R" + "MS";
            async_ms_route("$var(rn)", "120");
            xlog("L_INFO", "@@NEVER msroute\n");
            break;
        case "task":
            async_task_route("TASK");
            break;
        case "data":
            $var(r) = async_task_data("DATA", "payload-$ci");
            xlog("L_INFO", "@@data r=$var(r)\n");
            $var(r) = async_task_group_data("lazy", "DATA", "grp-$ci");
            xlog("L_INFO", "@@gdata r=$var(r)\n");
            sl_send_reply("202", "queued");
            exit;
        case "relay":
            async_ms_sleep("50");
            $ru = "sip:hop@127.0.0.1:@HOP@";
            t_on_failure("FAIL");
            t_relay();
            xlog("L_INFO", "@@relay rc=$rc\n");
            exit;
        case "bad":
            $var(s) = "abc";
            $var(r) = async_route("RMS", "$var(s)");
            xlog("L_INFO", "@@bad async_route r=$var(r)\n");
            $var(ms) = 40000;
            $var(r) = async_ms_sleep("$var(ms)");
            xlog("L_INFO", "@@bad ms r=$var(r)\n");
            sl_send_reply("400", "bad");
            exit;
    }
    xlog("L_INFO", "@@end of request route $rU rc=$rc\n");
}

route[RMS] {
    $sht(h=>ms) = $sht(h=>ms) + 1;
    xlog("L_INFO", "@@RMS avp=$avp(start) n=$sht(h=>ms) idx=$T(reply_code)\n");
    t_reply("486", "busy from RMS");
}
route[TASK] {
    xlog("L_INFO", "@@TASK $avp(start) rc=$rc\n");
    $ru = "sip:hop@127.0.0.1:@HOP@";
    t_on_failure("FAIL");
    if (!t_relay()) { t_reply("500", "task relay failed"); }
}
route[DATA] {
    xlog("L_INFO", "@@DATA [$async(data)] g=[$async(gname)] rm=$rm\n");
}
failure_route[FAIL] {
    xlog("L_INFO", "@@FAIL $T_reply_code $avp(start)\n");
    if (t_check_status("486")) {
        append_to_reply("X-Fail: $T_reply_code\r\n");
        t_reply("480", "unavailable");
    }
}
'''

def drive(env):
    env.sip(request("MESSAGE", "sip:sleep@127.0.0.1", "s1"), wait=1.5, full=True)
    env.sip(request("INVITE", "sip:msroute@127.0.0.1", "m1"), wait=0.5)
    env.sip(request("MESSAGE", "sip:task@127.0.0.1", "t1"), wait=0.2)
    for r in env.hop_recv(0.4):
        env.hop_answer(r, "486 Busy Here")
    env.replies(0.4, full=True)
    env.sip(request("MESSAGE", "sip:data@127.0.0.1", "d1"), wait=0.4)
    env.sip(request("INVITE", "sip:relay@127.0.0.1", "r1"), wait=0.3)
    for r in env.hop_recv(0.4):
        env.hop_answer(r, "180 Ringing")
        env.hop_answer(r, "486 Busy Here")
    env.replies(0.5)
    env.sip(request("MESSAGE", "sip:bad@127.0.0.1", "b1"), wait=0.3)
