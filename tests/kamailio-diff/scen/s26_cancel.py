# CANCEL in various states, default-config style: t_check_trans then
# t_relay; what the callee gets, what the caller gets, failure_route's view.
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
modparam("tm", "fr_timer", 2000)
modparam("tm", "fr_inv_timer", 3000)

request_route {
    xlog("L_INFO", "@@REQ $rm $ci cs=$cs\n");
    if (is_method("CANCEL")) {
        if ($rU == "nocheck") {
            $var(r) = t_relay();
            xlog("L_INFO", "@@CANCEL nocheck $ci r=$var(r)\n");
            exit;
        }
        if (t_check_trans()) {
            xlog("L_INFO", "@@CANCEL found $ci\n");
            $var(r) = t_relay();
            xlog("L_INFO", "@@CANCEL relay $ci r=$var(r)\n");
        } else {
            xlog("L_INFO", "@@CANCEL nothing $ci\n");
        }
        exit;
    }
    if (is_method("ACK")) {
        if (t_check_trans()) {
            xlog("L_INFO", "@@ACK relay $ci\n");
            t_relay();
        }
        exit;
    }
    if (t_check_trans()) { xlog("L_INFO", "@@retr $rm $ci\n"); exit; }
    if ($rU == "susp") { t_on_failure("F"); t_suspend(); xlog("L_INFO", "@@suspended $ci\n"); exit; }
    if ($rU == "local") { t_newtran(); t_reply("202", "Local"); exit; }
    t_on_failure("F");
    t_on_reply("R");
    t_on_branch("B");
    $ru = "sip:" + $rU + "@127.0.0.1:@HOP@";
    t_relay();
}
branch_route[B] {
    xlog("L_INFO", "@@B $rm $ci $T_branch_idx\n");
}
onreply_route[R] {
    xlog("L_INFO", "@@R $ci $rs canc=$var(x)\n");
    if (t_is_canceled()) { xlog("L_INFO", "@@R $ci is_canceled\n"); }
}
failure_route[F] {
    xlog("L_INFO", "@@F $ci tc=$T_reply_code trr=$T_reply_reason rtype=$T(reply_type)\n");
    if (t_is_canceled()) { xlog("L_INFO", "@@F $ci canceled\n"); exit; }
    xlog("L_INFO", "@@F $ci not-canceled\n");
}
'''

def show(r):
    return "|".join(l for l in r.split("\r\n") if l and not l.lower().startswith(("user-agent", "server")))

def short(r):
    h = {}
    for l in r.split("\r\n")[1:]:
        k = l.split(":", 1)[0].lower()
        if k in ("call-id", "cseq"):
            h[k] = l.split(":", 1)[1].strip()
    return f"{r.split(chr(13))[0]} [{h.get('call-id')} {h.get('cseq')}]"

def drive(env):
    P = env.P
    def sip(data, wait=0.8, full=False):
        env.send(data)
        got = env.recv_all(env.udp, wait)
        for r in got:
            env.note("reply " + short(r))
        if not got:
            env.note("reply NONE")
    def replies(wait, full=False):
        for r in env.recv_all(env.udp, wait):
            env.note("reply " + short(r))
    env.sip = sip
    env.replies = replies
    def hop_all(wait):
        return env.hop_recv(wait, note=False)
    def firsts(lst):
        seen = []
        for r in lst:
            l = r.split("\r\n")[0]
            if l not in seen:
                seen.append(l)
        return seen
    def cancel(cid, ruri="sip:bob@127.0.0.1", extra=""):
        return request("CANCEL", ruri, cid, extra=extra)
    # 1. CANCEL after 180, with Reason and an X- header
    inv = request("INVITE", "sip:bob@127.0.0.1", "k1", extra="X-Inv: 1")
    env.send(inv)
    got = hop_all(0.3)
    hi = [r for r in got if r.startswith("INVITE")][0]
    env.hop_answer(hi, "180 Ringing")
    env.replies(0.3)
    env.sip(cancel("k1", extra="Reason: Q.850;cause=16;text=\"Normal\"\nX-Can: 1"), wait=0.3, full=True)
    got = hop_all(0.4)
    for r in got:
        env.note("k1 hop " + show(r))
        if r.startswith("CANCEL"):
            env.hop_answer(r, "200 OK")
            env.hop_answer(hi, "487 Request Terminated")
    env.replies(0.25, full=True)
    got = hop_all(0.1)
    env.note(f"k1 hop after {firsts(got)}")
    # ACK the 487
    ack = request("ACK", "sip:bob@127.0.0.1", "k1").replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hoptag")
    env.sip(ack, wait=1.2)
    env.note(f"k1 hop ack {firsts(hop_all(0.3))}")
    # retransmitted CANCEL
    env.sip(cancel("k1"), wait=0.3)
    env.note(f"k1 hop retr-cancel {firsts(hop_all(0.3))}")
    # 2. CANCEL before any reply from the hop
    env.send(request("INVITE", "sip:bob@127.0.0.1", "k2"))
    got = hop_all(0.2)
    hi = [r for r in got if r.startswith("INVITE")][0]
    env.replies(0.2)
    env.sip(cancel("k2"), wait=0.3)
    got = hop_all(0.7)
    env.note(f"k2 hop {firsts(got)}")
    env.hop_answer(hi, "180 Ringing")
    got = hop_all(0.4)
    env.note(f"k2 hop after 180 {firsts(got)}")
    for r in got:
        if r.startswith("CANCEL"):
            env.hop_answer(r, "200 OK")
            env.hop_answer(hi, "487 Request Terminated")
            break
    env.replies(0.25)
    env.note(f"k2 hop end {firsts(hop_all(0.3))}")
    env.replies(4.5)
    # 3. CANCEL to an unknown transaction, with t_check_trans and without
    env.sip(cancel("k3"), wait=0.4)
    env.sip(cancel("k3b", ruri="sip:nocheck@127.0.0.1"), wait=0.4)
    got = hop_all(0.4)
    for r in got:
        env.note("k3 hop " + show(r))
    env.replies(2.0)
    # 4. CANCEL after 180, callee answers 200 to INVITE anyway (race)
    env.send(request("INVITE", "sip:bob@127.0.0.1", "k4"))
    got = hop_all(0.3)
    hi = [r for r in got if r.startswith("INVITE")][0]
    env.hop_answer(hi, "183 Session Progress")
    env.replies(0.3)
    env.sip(cancel("k4"), wait=0.3)
    got = hop_all(0.3)
    for r in got:
        if r.startswith("CANCEL"):
            env.hop_answer(r, "481 Call/Transaction Does Not Exist")
    env.hop_answer(hi, "200 OK")
    env.replies(0.5)
    env.note(f"k4 hop end {firsts(hop_all(0.3))}")
    # 5. CANCEL of a non-INVITE (MESSAGE) being relayed
    env.send(request("MESSAGE", "sip:bob@127.0.0.1", "k5"))
    got = hop_all(0.3)
    hm = [r for r in got if r.startswith("MESSAGE")][0]
    env.sip(request("CANCEL", "sip:bob@127.0.0.1", "k5").replace("CSeq: 1 CANCEL", "CSeq: 1 CANCEL"), wait=0.4)
    env.note(f"k5 hop {firsts(hop_all(0.3))}")
    env.hop_answer(hm, "200 OK")
    env.replies(0.4)
    # 6. CANCEL after 180 where the hop never answers the CANCEL nor the INVITE
    env.send(request("INVITE", "sip:bob@127.0.0.1", "k6"))
    got = hop_all(0.3)
    hi = [r for r in got if r.startswith("INVITE")][0]
    env.hop_answer(hi, "180 Ringing")
    env.replies(0.3)
    env.sip(cancel("k6"), wait=0.3)
    got = hop_all(3.5)
    env.note(f"k6 hop {firsts(got)} cancels>1 {sum(1 for r in got if r.startswith('CANCEL')) > 1}")
    env.replies(1.5)
    # 7. MESSAGE answered 100, then CANCEL
    env.send(request("MESSAGE", "sip:bob@127.0.0.1", "k7"))
    got = hop_all(0.3)
    hm = [r for r in got if r.startswith("MESSAGE")][0]
    env.hop_answer(hm, "100 Trying")
    env.hop_recv(0.2, note=False)
    env.sip(request("CANCEL", "sip:bob@127.0.0.1", "k7"), wait=0.4)
    env.note(f"k7 hop {firsts(hop_all(0.4))}")
    env.hop_answer(hm, "202 Accepted")
    env.replies(0.4)
    # 8. MESSAGE, CANCEL, never answered: what the caller gets at fr_timer
    env.send(request("MESSAGE", "sip:bob@127.0.0.1", "k8"))
    hop_all(0.2)
    env.sip(request("CANCEL", "sip:bob@127.0.0.1", "k8"), wait=0.3)
    env.replies(2.3)
    # 9. INVITE no reply, CANCEL, never answered: what the caller gets
    env.send(request("INVITE", "sip:bob@127.0.0.1", "k9"))
    hop_all(0.2)
    env.replies(0.1)
    env.sip(request("CANCEL", "sip:bob@127.0.0.1", "k9"), wait=0.3)
    env.replies(4.5)
    env.note(f"k9 hop {firsts(hop_all(0.1))}")
    # 10. MESSAGE already answered 200, then CANCEL
    env.send(request("MESSAGE", "sip:bob@127.0.0.1", "k10"))
    got = hop_all(0.3)
    env.hop_answer(got[0], "200 OK")
    env.replies(0.3)
    env.sip(request("CANCEL", "sip:bob@127.0.0.1", "k10"), wait=0.4)
    env.note(f"k10 hop {firsts(hop_all(0.2))}")
    # 11. suspended MESSAGE, then CANCEL
    env.send(request("MESSAGE", "sip:susp@127.0.0.1", "k11"))
    env.replies(0.3)
    env.sip(request("CANCEL", "sip:susp@127.0.0.1", "k11"), wait=0.5)
    # 12. MESSAGE, CANCEL, then the hop sends 100 and 200
    env.send(request("MESSAGE", "sip:bob@127.0.0.1", "k12"))
    got = hop_all(0.3)
    hm = got[0]
    env.sip(request("CANCEL", "sip:bob@127.0.0.1", "k12"), wait=0.3)
    env.hop_answer(hm, "100 Trying")
    env.hop_answer(hm, "180 Ringing")
    env.note(f"k12 hop {firsts(hop_all(0.4))}")
    env.hop_answer(hm, "200 OK")
    env.replies(0.4)
    # 13. MESSAGE answered locally (t_reply 202), then CANCEL
    env.send(request("MESSAGE", "sip:local@127.0.0.1", "k13"))
    env.replies(0.3)
    env.sip(request("CANCEL", "sip:local@127.0.0.1", "k13"), wait=0.4)
    # 14. INVITE answered locally by t_reply 202?  (t_newtran + t_reply 180 only)
