# nosip msg_match/msg_skip on a space-separated control protocol resuming
# suspended transactions (the config of scenarios_diff.rs
# nosip_msg_match_reads_from_the_second_token).
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
loadmodule "nosip.so"
modparam("nosip", "msg_match", "^(RESUME|PING) ")
modparam("nosip", "msg_skip", "^JUNK")
event_route[nosip:msg] {
    xlog("L_INFO", "@@NOSIP [$(mb{s.substr,0,10})]\n");
    if ($(mb{s.select,1, }) == "RESUME") {
        $var(r) = t_continue("$(mb{s.select,2, }{s.int})", "$(mb{s.select,3, }{s.int})", "RESUME");
        xlog("L_INFO", "@@CONTINUE $var(r)\n");
    }
}
event_route[core:receive-parse-error] {
    xlog("L_INFO", "@@PERR [$mb]\n");
}
request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    t_suspend();
    xlog("L_INFO", "IDS $T(id_index) $T(id_label)\n");
}
route[RESUME] {
    t_reply("200", "resumed");
}
'''
import re as _re
def drive(env):
    pad = " " * 30
    env.send(f"PING at the start{pad}")
    env.send(f"ctl PING second{pad}")
    env.send(f"JUNK PING skipped{pad}")
    env.send(f"x  PING two blanks{pad}")
    env.send(f"x PING\tthen a tab{pad}")
    env.sleep(0.3)
    env.sip(request("MESSAGE", "sip:x@127.0.0.1", "ns-1"), wait=0.3)
    env.sleep(0.2)
    log = open(env.logpath).read()
    m = _re.findall(r"IDS (\d+) (\d+)", log)
    ids = " ".join(m[-1]) if m else "0 0"
    env.send(f"ctl RESUME {ids} {pad}")
    env.replies(0.5)
