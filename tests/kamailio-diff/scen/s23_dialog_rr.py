# A whole dialog through the proxy: record_route, loose_route for ACK/BYE,
# htable call counter kept per dialog, evapi notifications.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
loadmodule "htable.so"
modparam("htable", "htable", "calls=>size=4;initval=0")
request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    if (has_totag()) {
        if (loose_route()) {
            xlog("L_INFO", "@@in-dialog $rm lr du=$du ru=$ru rr=$rr\n");
            if (is_method("BYE")) { $sht(calls=>active) = $sht(calls=>active) - 1; }
            t_relay();
            exit;
        }
        if (is_method("ACK")) {
            if (t_check_trans()) { t_relay(); exit; }
            exit;
        }
        sl_send_reply("404", "Not here");
        exit;
    }
    if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
    t_check_trans();
    if (is_method("INVITE")) {
        record_route();
        $sht(calls=>active) = $sht(calls=>active) + 1;
        xlog("L_INFO", "@@invite active=$sht(calls=>active)\n");
    }
    $du = "sip:127.0.0.1:@HOP@";
    t_on_reply("R");
    t_relay();
}
onreply_route[R] {
    xlog("L_INFO", "@@reply $rs rr=[$hdr(Record-Route)] ct=$ct\n");
}
'''
def drive(env):
    P = env.P
    inv = request("INVITE", "sip:bob@example.com", "d1", extra=f"Contact: <sip:alice@127.0.0.1:{P['CLI']}>")
    env.sip(inv, wait=0.2)
    got = env.hop_recv(0.3, full=True)
    inv_at_hop = [g for g in got if g.startswith("INVITE")][0]
    # 200 with Contact and the Record-Route copied
    rr = [l for l in inv_at_hop.split("\r\n") if l.lower().startswith("record-route")]
    ok = reply_to(inv_at_hop, "200 OK").replace("Content-Length: 0", "\r\n".join(rr + [f"Contact: <sip:bob@127.0.0.1:{P['HOP']}>", "Content-Length: 0"]))
    env.hop.sendto(ok.encode(), ("127.0.0.1", P["SIP"]))
    replies = env.replies(0.4, full=True)
    final = [r for r in replies if r.startswith("SIP/2.0 200")]
    route = ""
    for l in (final[0].split("\r\n") if final else []):
        if l.lower().startswith("record-route:"):
            route = "Route: " + l.split(":", 1)[1].strip()
    ack = request("ACK", f"sip:bob@127.0.0.1:{P['HOP']}", "d1", extra=route).replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hoptag")
    env.send(ack)
    env.hop_recv(0.3, full=True)
    bye = request("BYE", f"sip:bob@127.0.0.1:{P['HOP']}", "d1", extra=route, cseq=2).replace("To: <sip:bob@127.0.0.1>", "To: <sip:bob@127.0.0.1>;tag=hoptag")
    env.send(bye)
    for r in env.hop_recv(0.3, full=True):
        if r.startswith("BYE"):
            env.hop_answer(r, "200 OK")
    env.replies(0.4, full=True)
