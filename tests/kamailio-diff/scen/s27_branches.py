# Parallel branches: onreply_route edits and drop on relayed replies,
# branch_route drop and per-branch headers, best reply across branches.
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
modparam("tm", "fr_timer", 1500)

request_route {
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
    if (t_check_trans()) { exit; }
    t_on_failure("F");
    t_on_reply("R");
    t_on_branch("B");
    $ru = "sip:" + $rU + "@127.0.0.1:@HOP@";
    $var(b2) = "sip:" + $rU + "2@127.0.0.1:@HOP2@";
    append_branch("$var(b2)");
    $var(r) = t_relay();
    xlog("L_INFO", "@@relay $ci r=$var(r)\n");
}
branch_route[B] {
    xlog("L_INFO", "@@B $ci idx=$T_branch_idx ru=$ru\n");
    append_hf("X-Branch: $T_branch_idx\r\n");
    if ($rU == "dropb2") { drop; }
}
onreply_route[R] {
    xlog("L_INFO", "@@R $ci $rs idx=$T_branch_idx\n");
    append_hf("X-Onreply: $rs\r\n");
    remove_hf("X-Remove");
    if ($rs == 183 && $(ci{s.substr,0,4}) == "drop") { xlog("L_INFO", "@@R drop 183\n"); drop; }
    if ($rs == 486 && $ci == "drop486") { xlog("L_INFO", "@@R drop 486\n"); drop; }
    if ($rs == 200 && $ci == "drop200") { xlog("L_INFO", "@@R drop 200\n"); drop; }
}
failure_route[F] {
    xlog("L_INFO", "@@F $ci tc=$T_reply_code rr=$T_reply_reason bidx=$T_branch_idx rpl=$T_rpl($hdr(X-Hop))\n");
    if ($ci == "replyF") { t_reply("404", "From Failure"); }
}
'''
import socket as _s

def short(r):
    h = {}
    for l in r.split("\r\n")[1:]:
        k = l.split(":", 1)[0].lower()
        if k in ("call-id", "cseq", "x-onreply", "x-hop", "x-remove", "x-branch", "contact", "www-authenticate"):
            h.setdefault(k, []).append(l.split(":", 1)[1].strip())
    return f"{r.split(chr(13))[0]} {sorted(h.items())}"

def rep(req, status, extra):
    r = reply_to(req, status)
    return r.replace("Content-Length: 0", extra + "Content-Length: 0")

def drive(env):
    h2 = _s.socket(_s.AF_INET, _s.SOCK_DGRAM)
    h2.bind(("127.0.0.1", env.P["HOP2"]))
    def replies(w):
        for r in env.recv_all(env.udp, w):
            env.note("reply " + short(r))
    def call(cid, user, a1, a2, method="INVITE", wait=0.6):
        env.send(request(method, f"sip:{user}@127.0.0.1", cid))
        r1 = [r for r in env.hop_recv(0.3, note=False) if r.startswith(method)]
        r2 = [r for r in env.recv_all(h2, 0.2) if r.startswith(method)]
        env.note(f"{cid} hop1 {[short(r) for r in r1[:1]]}")
        env.note(f"{cid} hop2 {[short(r) for r in r2[:1]]}")
        for st, ex in a1:
            if r1: env.hop.sendto(rep(r1[0], st, ex).encode(), ("127.0.0.1", env.P["SIP"]))
            time.sleep(0.1)
        for st, ex in a2:
            if r2: h2.sendto(rep(r2[0], st, ex).encode(), ("127.0.0.1", env.P["SIP"]))
            time.sleep(0.1)
        replies(wait)
        for r in env.hop_recv(0.1, note=False) + env.recv_all(h2, 0.1):
            if not r.startswith(method):
                env.note(f"{cid} hops got {r.splitlines()[0]}")
    X = "X-Hop: h1\r\nX-Remove: yes\r\n"
    Y = "X-Hop: h2\r\n"
    call("c1", "u", [("180 Ringing", X), ("486 Busy Here", X)], [("183 Session Progress", Y), ("404 Not Found", Y)])
    call("drop183", "u", [("183 Session Progress", X)], [("183 Session Progress", Y), ("480 Unavailable", Y)], wait=0.3)
    # drop183 still has hop1 pending: answer later
    call("drop486", "u", [("486 Busy Here", X)], [("486 Busy Here", Y)])
    call("drop200", "u", [("200 OK", X)], [("487 Request Terminated", Y)])
    call("auth", "u", [("401 Unauthorized", X + "WWW-Authenticate: Digest realm=\"a\"\r\n")], [("407 Proxy Authentication Required", Y + "Proxy-Authenticate: Digest realm=\"b\"\r\n")])
    call("six", "u", [("180 Ringing", X), ("603 Decline", X)], [("180 Ringing", Y)], wait=0.8)
    call("redir", "u", [("302 Moved", X + "Contact: <sip:a@x>\r\n")], [("301 Gone", Y + "Contact: <sip:b@y>\r\n")])
    call("replyF", "u", [("500 Err", X)], [("503 Unav", Y)])
    call("dropb", "dropb2", [("486 Busy Here", X)], [])
    call("msg", "u", [("200 OK", X)], [("202 Accepted", Y)], method="MESSAGE")
    call("tout", "u", [("180 Ringing", X)], [], wait=2.0)
    h2.close()
