# SIP over TCP: stateless replies, t_relay to a UDP hop and back, evapi relay
# of the call, $pr/$proto, $conid-free checks.
CFG = r'''
debug=2
log_stderror=yes
children=1
tcp_children=1
listen=udp:127.0.0.1:@SIP@
listen=tcp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "rr.so"
loadmodule "evapi.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
request_route {
    xlog("L_INFO", "@@$rm $ci pr=$pr proto=$proto rp=$rp si=$si\n");
    if (is_method("ACK")) { t_relay(); exit; }
    if ($rU == "local") {
        append_to_reply("X-Proto: $pr\r\n");
        sl_send_reply("200", "tcp local");
        exit;
    }
    evapi_relay("{\"call\":\"$ci\",\"proto\":\"$pr\"}");
    record_route();
    $ru = "sip:hop@127.0.0.1:@HOP@";
    t_on_reply("R");
    t_relay_to_udp("127.0.0.1", "@HOP@");
}
onreply_route[R] {
    xlog("L_INFO", "@@reply $rs $ci pr=$pr\n");
}
'''
import socket as _s
def drive(env):
    a = env.evapi("A")
    t = _s.create_connection(("127.0.0.1", env.P["SIP"]), timeout=2)
    env.ports[t.getsockname()[1]] = "{tcpc}"
    port = t.getsockname()[1]
    def tcp_req(method, ruri, cid):
        r = request(method, ruri, cid, via=f"Via: SIP/2.0/TCP 127.0.0.1:{port};branch=z9hG4bK-{cid}", cport=port)
        t.sendall(r.encode())
    def tcp_read(wait):
        out = b""; end = time.time() + wait
        while time.time() < end:
            t.settimeout(max(0.01, end - time.time()))
            try:
                d = t.recv(65536)
                if not d: break
                out += d
            except _s.timeout:
                break
        for m in out.decode(errors="replace").split("SIP/2.0 ")[1:]:
            env.note("tcp reply SIP/2.0 " + m.split("\r\n")[0])
        return out
    tcp_req("OPTIONS", "sip:local@127.0.0.1", "t1"); tcp_read(0.4)
    tcp_req("INVITE", "sip:bob@127.0.0.1", "t2"); tcp_read(0.3)
    a.note(0.2)
    for r in env.hop_recv(0.5, full=True):
        if r.startswith("INVITE"):
            env.hop_answer(r, "180 Ringing")
            env.hop_answer(r, "486 Busy Here")
    tcp_read(0.6)
    t.close()
