# nosip with msg_match / msg_skip: a UDP control protocol on the SIP port that
# resumes transactions, answers keep-alives, and ignores what it should.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
listen=tcp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "nosip.so"
modparam("nosip", "msg_match", "^(:KREQ|PING|JUNK)")
modparam("nosip", "msg_skip", "^JUNK-SKIP")
modparam("tm", "fr_timer", 1500)

event_route[nosip:msg] {
    xlog("L_INFO", "@@nosip [$(mb{s.trim})] from $si proto=$pr len=$ml rm=[$rm]\n");
    if ($si != "127.0.0.1") { exit; }
    if ($mb =~ "^:KREQUEST-RESUME-TRANSACTION:[0-9]+:[0-9]+:[a-zA-Z0-9]+:") {
        $var(tindex) = $(mb{s.select,2,:});
        $var(tlabel) = $(mb{s.select,3,:});
        $var(rname) = $(mb{s.select,4,:});
        $var(r) = t_continue("$var(tindex)", "$var(tlabel)", "$var(rname)");
        xlog("L_INFO", "@@t_continue -> $var(r)\n");
    }
    exit;
}

event_route[core:receive-parse-error] {
    xlog("L_INFO", "@@parse-error [$(mb{s.trim})] len=$ml\n");
}

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    if (!t_suspend()) { sl_send_reply("500", "x"); exit; }
    xlog("L_INFO", "@@suspended\n");
    $var(msg) = ":KREQUEST-RESUME-TRANSACTION:" + $T(id_index) + ":" + $T(id_label) + ":RESUME:";
    append_to_reply("X-Resume: $var(msg)\r\n");
}
route[RESUME] {
    xlog("L_INFO", "@@RESUME $rU\n");
    t_reply("200", "resumed by nosip");
}
'''
import re as _re
def drive(env):
    pad = " " * 40
    env.send("PING" + pad); env.replies(0.3)
    env.send("JUNK-SKIP this one" + pad); env.replies(0.3)
    env.send("JUNK but taken" + pad); env.replies(0.3)
    env.send("OTHER not matched at all" + pad); env.replies(0.3)
    env.send("short"); env.replies(0.2)
    env.sip(request("MESSAGE", "sip:one@127.0.0.1", "n1"), wait=0.3)
    # the ids are taken from the log of neither server: use tm.list-free way:
    # resume with brute force over the first indexes is not allowed, so send
    # bad ones and a well-formed but unknown one
    env.send(":KREQUEST-RESUME-TRANSACTION:999999:1:RESUME:" + pad); env.replies(0.3)
    env.send(":KREQUEST-RESUME-TRANSACTION:abc:1:RESUME:" + pad); env.replies(0.3)
    env.replies(1.8)
