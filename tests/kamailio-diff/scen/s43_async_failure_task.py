# async functions from failure_route (async_route, async_ms_route,
# async_sleep, async_task_route), what the task / resumed routes see of
# $var/$avp/$xavp/flags, nested async calls, exit/drop in resumed routes.
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
modparam("async", "workers", 1)
modparam("async", "ms_timer", 10)
modparam("tm", "fr_timer", 3000)
modparam("tm", "fr_inv_timer", 3000)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    $var(v) = "reqvar";
    $avp(a) = "reqavp";
    $xavp(x=>k) = "reqxavp";
    setflag(4);
    if ($rU =~ "^task") {
        $var(r) = async_task_route("TASK");
        xlog("L_INFO", "@@NEVER task r=$var(r)\n");
        exit;
    }
    if ($rU =~ "^nest") {
        async_ms_route("NEST1", "50");
        exit;
    }
    $ru = "sip:" + $rU + "@127.0.0.1:@HOP@";
    t_on_failure("F");
    t_relay();
}

failure_route[F] {
    xlog("L_INFO", "@@F $rU T=$T_reply_code var=$var(v) avp=$avp(a) xavp=$xavp(x=>k)\n");
    $avp(f) = "failavp";
    if ($rU == "froute") { $var(r) = async_route("R", "1"); xlog("L_INFO", "@@F after async_route r=$var(r)\n"); }
    if ($rU == "fms") { $var(r) = async_ms_route("R", "100"); xlog("L_INFO", "@@F after async_ms_route r=$var(r)\n"); }
    if ($rU == "fsleep") { async_ms_sleep("100"); xlog("L_INFO", "@@F after ms_sleep T=$T_reply_code avp=$avp(f)\n"); t_reply("481", "slept in failure"); }
    if ($rU == "ftask") { $var(r) = async_task_route("R"); xlog("L_INFO", "@@F after task r=$var(r)\n"); }
}

route[R] {
    xlog("L_INFO", "@@R $rU T=$T_reply_code var=$var(v) avp=$avp(a) f=$avp(f) xavp=$xavp(x=>k) mf=$mf\n");
    t_reply("480", "from R");
}
route[TASK] {
    xlog("L_INFO", "@@TASK var=$var(v) avp=$avp(a) xavp=$xavp(x=>k) mf=$mf T=$T_reply_code\n");
    if ($rU == "taskexit") { exit; }
    if ($rU == "taskdrop") { drop; }
    t_reply("200", "task");
}
route[NEST1] {
    xlog("L_INFO", "@@NEST1 avp=$avp(a)\n");
    $avp(n) = "n1";
    $var(r) = async_ms_route("NEST2", "50");
    xlog("L_INFO", "@@NEST1 after r=$var(r)\n");
}
route[NEST2] {
    xlog("L_INFO", "@@NEST2 avp=$avp(a) n=$avp(n)\n");
    if ($rU == "nestsleep") {
        async_ms_sleep("50");
        xlog("L_INFO", "@@NEST2 after sleep\n");
    }
    t_reply("202", "nested");
}
'''

def drive(env):
    def call(u, answer=None, wait=0.3):
        env.note(f"--- {u}")
        env.sip(request("INVITE", f"sip:{u}@127.0.0.1", "c-" + u), wait=0.2)
        if answer:
            for r in env.hop_recv(0.3):
                env.hop_answer(r, answer)
        env.replies(wait)
        env.send(request("ACK", f"sip:{u}@127.0.0.1", "c-" + u))
        env.hop_recv(0.1)
    call("froute", "486 Busy Here", 4.0)
    call("fms", "486 Busy Here", 0.6)
    call("fsleep", "486 Busy Here", 0.6)
    call("ftask", "486 Busy Here", 0.6)
    call("task")
    call("taskexit", wait=0.6)
    call("taskdrop", wait=0.6)
    call("nest", wait=0.6)
    call("nestsleep", wait=0.6)
