# Unusual but valid SIP: compact headers, several Vias, LF-only, folded-free
# header manipulation with textops/siputils, stateless and tm replies, relay.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"

request_route {
    if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
    xlog("L_INFO", "@@$ci vias=$hdrc(Via) v0=$(hdr(Via)[0]) vlast=$(hdr(Via)[-1]) f=$fu t=$tu ct=$ct cl=$cl ctype=$cT rm=$rm fn=[$fn] ua=[$ua]\n");
    if (is_present_hf("Subject")) { xlog("L_INFO", "@@$ci subject=$hdr(Subject) s=$hdr(s)\n"); }
    if (has_body("text/plain")) { xlog("L_INFO", "@@$ci body=[$rb] len=$bs\n"); }
    if ($rU == "fwd") {
        remove_hf("Subject");
        append_hf("X-Via-Count: $hdrc(Via)\r\n", "Call-ID");
        insert_hf("X-First: 1\r\n");
        subst_hf("From", "/alice/carol/", "a");
        $ru = "sip:hop@127.0.0.1:@HOP@";
        t_relay();
        exit;
    }
    if ($rU == "tm") {
        t_newtran();
        append_to_reply("X-Tm: $rm\r\n");
        t_reply("488", "Not Acceptable Here");
        exit;
    }
    append_to_reply("X-Echo: $(hdr(X-Data){s.escape.common})\r\n");
    if (is_uri_user_e164("$fu")) { append_to_reply("X-E164: yes\r\n"); }
    sl_send_reply("200", "odd ok");
}
'''

def drive(env):
    P = env.P
    compact = (f"MESSAGE sip:x@127.0.0.1 SIP/2.0\r\n"
               f"v: SIP/2.0/UDP 127.0.0.1:{P['CLI']};branch=z9hG4bK-c1;rport\r\n"
               f"v: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-up1, SIP/2.0/TCP 10.0.0.8;branch=z9hG4bK-up2\r\n"
               "f: \"Alice\" <sip:+4930123@127.0.0.1>;tag=aa\r\n"
               "t: <sip:bob@127.0.0.1>\r\n"
               "i: c1\r\n"
               "CSeq: 7 MESSAGE\r\n"
               "m: <sip:alice@10.0.0.1>\r\n"
               "s: hello there\r\n"
               "c: text/plain\r\n"
               "X-Data: a\"b\\c\r\n"
               "Max-Forwards: 5\r\n"
               "l: 5\r\n\r\nhello")
    env.sip(compact, full=True)
    lf = request("MESSAGE", "sip:x@127.0.0.1", "c2", extra="Subject: lf only\nContent-Type: text/plain", body="hi\n", lf=True)
    env.sip(lf, full=True)
    env.sip(lf.replace("c2", "c3").replace("sip:x@", "sip:tm@").replace("MESSAGE", "INVITE"), full=True)
    env.sip(compact.replace("i: c1", "i: c4").replace("sip:x@", "sip:fwd@"), wait=0.3, full=True)
    for r in env.hop_recv(0.4, full=True):
        env.hop_answer(r, "202 Accepted")
    env.replies(0.4, full=True)
    env.sip(request("MESSAGE", "sip:x@127.0.0.1", "c5").replace("Max-Forwards: 70", "Max-Forwards: 0"), full=True)
    env.sip(request("MESSAGE", "sip:x@127.0.0.1", "c5b").replace("Max-Forwards: 70", "Max-Forwards: 11"), full=True)
    multi = request("OPTIONS", "sip:x@127.0.0.1", "c6", via=f"Via: SIP/2.0/UDP 127.0.0.1:{P['CLI']};branch=z9hG4bK-c6\r\nVia: SIP/2.0/UDP 192.0.2.1:5070;received=192.0.2.2;branch=z9hG4bKx\r\nVia: SIP/2.0/TCP [2001:db8::1]:5080;branch=z9hG4bKy")
    env.sip(multi, full=True)
