# t_relay to a closed UDP port and a refused TCP connection: return codes,
# failure_route's view, what the caller gets.
CFG = r'''
debug=2
log_stderror=yes
children=2
tcp_children=1
listen=udp:127.0.0.1:@SIP@
listen=tcp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
modparam("tm", "fr_timer", 1000)

request_route {
    if (is_method("ACK")) { t_check_trans(); exit; }
    if (t_check_trans()) { exit; }
    t_on_failure("F");
    t_on_branch_failure("BF");
    if ($rU == "tcp") {
        $du = "sip:127.0.0.1:5699;transport=tcp";
    } else {
        $du = "sip:127.0.0.1:5699";
    }
    $var(r) = t_relay();
    xlog("L_INFO", "@@relay $ci r=$var(r)\n");
}
event_route[tm:branch-failure:BF] {
    xlog("L_INFO", "@@BF $ci tc=$T_reply_code\n");
}
failure_route[F] {
    xlog("L_INFO", "@@F $ci tc=$T_reply_code rr=$T_reply_reason rtype=$T(reply_type)\n");
    if (t_branch_timeout()) { xlog("L_INFO", "@@F $ci timeout\n"); }
}
'''

def drive(env):
    for cid, user in (("u1", "udp"), ("t1", "tcp")):
        for m in ("INVITE", "MESSAGE"):
            env.send(request(m, f"sip:{user}@127.0.0.1", cid + m))
            for r in env.recv_all(env.udp, 1.8):
                env.note("reply " + r.split("\r\n")[0] + " " + [l for l in r.split("\r\n") if l.startswith("Call-ID")][0])
