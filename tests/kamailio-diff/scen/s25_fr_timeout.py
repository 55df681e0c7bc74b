# fr_timer / fr_inv_timer expiry: what failure_route sees, serial forking
# from failure_route after a timeout, t_reply there, and what the caller gets.
CFG = r'''
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "corex.so"
modparam("tm", "fr_timer", 1000)
modparam("tm", "fr_inv_timer", 2000)

request_route {
    if (is_method("ACK")) {
        xlog("L_INFO", "@@ACK $ci tc=$T_reply_code\n");
        if (t_check_trans()) { xlog("L_INFO", "@@ACK $ci matched\n"); }
        exit;
    }
    if (is_method("CANCEL")) { t_relay(); exit; }
    $var(nb) = 0;
    if ($rU =~ "^fr") { t_set_fr(3000, 500); }
    t_on_failure("F");
    t_on_reply("R");
    t_on_branch_failure("BF");
    $ru = "sip:" + $rU + "@127.0.0.1:@HOP@";
    $var(r) = t_relay();
    xlog("L_INFO", "@@relay $ci r=$var(r)\n");
}
onreply_route[R] {
    xlog("L_INFO", "@@R $ci $rs $rr tc=$T_reply_code bi=$T_branch_idx\n");
}
event_route[tm:branch-failure:BF] {
    xlog("L_INFO", "@@BF $ci tc=$T_reply_code rs=$rs rr=$T_reply_reason bto=$T(reply_type) t_bt=[$var(x)]\n");
    if (t_branch_timeout()) { xlog("L_INFO", "@@BF $ci branch_timeout\n"); }
    if (t_branch_replied()) { xlog("L_INFO", "@@BF $ci branch_replied\n"); }
    if (t_check_status("408")) { xlog("L_INFO", "@@BF $ci status408\n"); }
}
failure_route[F] {
    xlog("L_INFO", "@@F $ci tc=$T_reply_code rs=$rs rr=$rr trr=$T_reply_reason rtype=$T(reply_type) rpl=$T_rpl($rs) bidx=$T_branch_idx canc=[$var(c)]\n");
    if (t_branch_timeout()) { xlog("L_INFO", "@@F $ci branch_timeout\n"); }
    if (t_any_timeout()) { xlog("L_INFO", "@@F $ci any_timeout\n"); }
    if (t_branch_replied()) { xlog("L_INFO", "@@F $ci branch_replied\n"); }
    if (t_any_replied()) { xlog("L_INFO", "@@F $ci any_replied\n"); }
    if (t_check_status("408")) { xlog("L_INFO", "@@F $ci status408\n"); }
    if (t_is_canceled()) { xlog("L_INFO", "@@F $ci canceled\n"); }
    if (t_is_expired()) { xlog("L_INFO", "@@F $ci expired\n"); }
    if (t_grep_status("180")) { xlog("L_INFO", "@@F $ci grep180\n"); }
    if (t_grep_status("408")) { xlog("L_INFO", "@@F $ci grep408\n"); }
    if (t_grep_status("487")) { xlog("L_INFO", "@@F $ci grep487\n"); }
    if ($rU == "serial" && $T_branch_idx < 2) {
        $du = "sip:127.0.0.1:@HOP2@";
        append_hf("X-Serial: 1\r\n");
        $var(r) = t_relay();
        xlog("L_INFO", "@@F $ci serial r=$var(r)\n");
        exit;
    }
    if ($rU == "reply") {
        $var(r) = t_reply("480", "Gone Away");
        xlog("L_INFO", "@@F $ci reply r=$var(r)\n");
        exit;
    }
    if ($rU == "appb") {
        append_branch("sip:appb2@127.0.0.1:@HOP2@");
        $var(r) = t_relay();
        xlog("L_INFO", "@@F $ci appb r=$var(r)\n");
    }
}
'''
import socket as _s

def drive(env):
    hop2 = _s.socket(_s.AF_INET, _s.SOCK_DGRAM)
    hop2.bind(("127.0.0.1", env.P["HOP2"]))
    def h2(wait):
        got = env.recv_all(hop2, wait)
        return got
    def firsts(lst):
        seen = []
        for r in lst:
            l = r.split("\r\n")[0]
            if l not in seen:
                seen.append(l)
        return seen
    # 1. INVITE, no answer at all: fr_timer (1 s)
    env.send(request("INVITE", "sip:silent@127.0.0.1", "c1"))
    got = env.hop_recv(1.6, note=False)
    env.note(f"c1 hop distinct {firsts(got)} n>1 {len(got) > 1}")
    for r in env.replies(0.8, full=True):
        pass
    # ACK the 408
    env.send(request("ACK", "sip:silent@127.0.0.1", "c1", extra="", cseq=1).replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=x"))
    env.replies(0.3)
    # 2. INVITE, 180, then nothing: fr_inv_timer (2 s)
    env.send(request("INVITE", "sip:ring@127.0.0.1", "c2"))
    got = env.hop_recv(0.3, note=False)
    inv = [r for r in got if r.startswith("INVITE")][0]
    env.hop_answer(inv, "180 Ringing")
    env.replies(0.3)
    got = env.hop_recv(2.5, note=False)
    env.note(f"c2 hop distinct {firsts(got)}")
    for r in got:
        if r.startswith("CANCEL"):
            env.note("c2 cancel " + "|".join(l for l in r.split("\r\n") if l and not l.lower().startswith(("via", "user-agent"))))
            env.hop_answer(r, "200 OK")
            env.hop_answer(inv, "487 Request Terminated")
            break
    env.replies(1.0, full=True)
    got = env.hop_recv(0.3, note=False)
    env.note(f"c2 hop after {firsts(got)}")
    # 3. MESSAGE no answer: fr_timer
    env.send(request("MESSAGE", "sip:msg@127.0.0.1", "c3"))
    env.hop_recv(1.5, note=False)
    env.replies(0.5)
    # 4. serial: timeout on HOP, then HOP2 answers 200
    env.send(request("INVITE", "sip:serial@127.0.0.1", "c4"))
    env.hop_recv(1.3, note=False)
    got = h2(0.5)
    env.note(f"c4 hop2 {firsts(got)}")
    if got:
        r = got[0]
        env.note("c4 hop2 hdrs " + "|".join(l.split(":")[0] for l in r.split("\r\n") if l))
        env.note("c4 hop2 ruri " + r.split("\r\n")[0])
        hop2.sendto(reply_to(r, "200 OK").encode(), ("127.0.0.1", env.P["SIP"]))
    env.replies(0.8)
    # 5. t_reply from failure_route after timeout
    env.send(request("INVITE", "sip:reply@127.0.0.1", "c5"))
    env.hop_recv(1.3, note=False)
    env.replies(0.6, full=True)
    # 6. t_set_fr(3000, 500): fr_timer 500 ms for this one
    env.send(request("INVITE", "sip:frshort@127.0.0.1", "c6"))
    t0 = time.time()
    got = []
    end = t0 + 2.5
    while time.time() < end:
        env.udp.settimeout(max(0.01, end - time.time()))
        try:
            d, a = env.udp.recvfrom(65536)
            got.append((time.time() - t0, d.decode().split("\r\n")[0]))
        except _s.timeout:
            break
    for t, l in got:
        env.note("c6 reply " + l)
    env.hop_recv(0.2, note=False)
    # 7. failure route appends a branch
    env.send(request("INVITE", "sip:appb@127.0.0.1", "c7"))
    env.hop_recv(1.3, note=False)
    got = h2(0.5)
    env.note(f"c7 hop2 {firsts(got)}")
    for r in got[:1]:
        hop2.sendto(reply_to(r, "486 Busy Here").encode(), ("127.0.0.1", env.P["SIP"]))
    env.replies(0.8)
    h2(0.3)
    hop2.close()
