# Retransmissions: INVITE retransmitted while ringing / after the final,
# non-INVITE retransmitted, ACK of a local or relayed negative reply, ACK of a
# 2xx routed by loose_route, t_newtran + t_reply on retransmissions, To-tag
# stability of local replies.
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
loadmodule "rr.so"
loadmodule "siputils.so"
modparam("tm", "fr_timer", 2000)

request_route {
    xlog("L_INFO", "@@REQ $rm $ci\n");
    if (has_totag()) {
        if (loose_route()) {
            xlog("L_INFO", "@@LR $rm $ci du=$du\n");
            $var(r) = t_relay();
            xlog("L_INFO", "@@LR relay $rm $ci r=$var(r)\n");
            exit;
        }
        if (is_method("ACK")) {
            if (t_check_trans()) { xlog("L_INFO", "@@ACK passed $ci\n"); t_relay(); }
            else { xlog("L_INFO", "@@ACK stray $ci\n"); }
            exit;
        }
        sl_send_reply("404", "No dialog");
        exit;
    }
    if (t_check_trans()) { xlog("L_INFO", "@@retr $rm $ci\n"); exit; }
    if ($rU == "local") {
        $var(n) = t_newtran();
        xlog("L_INFO", "@@newtran $ci $var(n)\n");
        $var(r) = t_reply("486", "Busy Local");
        xlog("L_INFO", "@@treply $ci $var(r)\n");
        exit;
    }
    if ($rU == "local180") {
        t_newtran();
        t_reply("180", "Ringing Local");
        exit;
    }
    record_route();
    $ru = "sip:" + $rU + "@127.0.0.1:@HOP@";
    t_on_reply("R");
    t_relay();
}
onreply_route[R] {
    xlog("L_INFO", "@@R $rs $ci\n");
}
'''

def short(r):
    h = {}
    for l in r.split("\r\n")[1:]:
        k = l.split(":", 1)[0].lower()
        if k in ("call-id", "cseq", "to"):
            h[k] = l.split(":", 1)[1].strip()
    return f"{r.split(chr(13))[0]} {sorted(h.items())}"

def drive(env):
    def replies(w):
        out = env.recv_all(env.udp, w)
        for r in out:
            env.note("reply " + short(r))
        return out
    def hop(w):
        out = env.hop_recv(w, note=False)
        for r in out:
            env.note("hop " + r.split("\r\n")[0])
        return out
    # local 486: retransmit INVITE, then ACK
    inv = request("INVITE", "sip:local@127.0.0.1", "r1")
    env.send(inv); got = replies(0.3)
    env.send(inv); replies(0.3)
    tag = [l for l in got[0].split("\r\n") if l.startswith("To:")][0]
    env.send(request("ACK", "sip:local@127.0.0.1", "r1").replace("To: <sip:bob@127.0.0.1>", tag)); replies(1.0)
    env.send(inv); replies(0.3)
    # local 180 then retransmission
    inv = request("INVITE", "sip:local180@127.0.0.1", "r2")
    env.send(inv); replies(0.3)
    env.send(inv); replies(0.3)
    # relayed: INVITE retransmitted before any reply, after 180, after 486
    inv = request("INVITE", "sip:bob@127.0.0.1", "r3")
    env.send(inv); replies(0.2)
    hi = [r for r in hop(0.2) if r.startswith("INVITE")][0]
    env.send(inv); replies(0.2); hop(0.1)
    env.hop_answer(hi, "180 Ringing"); replies(0.2)
    env.send(inv); replies(0.2)
    env.hop_answer(hi, "486 Busy Here"); replies(0.2); hop(0.2)
    env.send(inv); replies(0.2)
    env.send(request("ACK", "sip:bob@127.0.0.1", "r3").replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hoptag")); replies(0.8); hop(0.2)
    # non-INVITE retransmission after final
    msg = request("MESSAGE", "sip:bob@127.0.0.1", "r4")
    env.send(msg); replies(0.2)
    hm = [r for r in hop(0.2) if r.startswith("MESSAGE")][0]
    env.hop_answer(hm, "202 Accepted"); replies(0.2)
    env.send(msg); replies(0.3); hop(0.1)
    # relayed 200 with Record-Route, then ACK via loose_route, retransmitted 200
    inv = request("INVITE", "sip:bob@127.0.0.1", "r5")
    env.send(inv); replies(0.2)
    hi = [r for r in hop(0.2) if r.startswith("INVITE")][0]
    rr = [l for l in hi.split("\r\n") if l.lower().startswith("record-route")]
    ok = reply_to(hi, "200 OK").replace("Content-Length: 0", "\r\n".join(rr + ["Contact: <sip:bob@127.0.0.1:%d>" % env.P["HOP"], "Content-Length: 0"]))
    env.hop.sendto(ok.encode(), ("127.0.0.1", env.P["SIP"])); replies(0.2)
    env.hop.sendto(ok.encode(), ("127.0.0.1", env.P["SIP"])); replies(0.2)
    route = rr[0].split(":", 1)[1].strip() if rr else ""
    ack = request("ACK", "sip:bob@127.0.0.1:%d" % env.P["HOP"], "r5", extra=f"Route: {route}", via=f"Via: SIP/2.0/UDP 127.0.0.1:{env.P['CLI']};branch=z9hG4bK-r5ack").replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hoptag")
    env.send(ack); replies(0.2); hop(0.3)
    env.send(inv); replies(0.3); hop(0.2)
