# evapi netstrings: several in one write, one split over writes, a bad one
# in the middle, empty payload, large payload; replies echo the order.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "evapi.so"
modparam("evapi", "bind_addr", "127.0.0.1:@EVAPI@")
modparam("evapi", "workers", 1)
event_route[evapi:connection-new] {
    if ($evapi(srcaddr) != "127.0.0.1") { evapi_close(); exit; }
    xlog("L_INFO", "@@new from $evapi(srcaddr)\n");
}
event_route[evapi:message-received] {
    xlog("L_INFO", "@@msg len=$(evapi(msg){s.len}) head=$(evapi(msg){s.substr,0,10})\n");
    evapi_relay("ack:$(evapi(msg){s.len})");
}
event_route[evapi:connection-closed] {
    xlog("L_INFO", "@@closed\n");
}
request_route { sl_send_reply("200", "ok"); }
'''
def drive(env):
    a = env.evapi("A"); env.sleep(0.2)
    a.send(b"3:abc,4:defg,2:hi,"); a.note(0.4)
    a.send(b"10:01234"); env.sleep(0.2); a.send(b"56789,"); a.note(0.4)
    a.send(b"0:,"); a.note(0.3)
    big = "x" * 5000
    a.send(f"{len(big)}:{big},".encode()); a.note(0.4)
    a.send(b"5:abcde,5:ab,"); a.note(0.4)
    b = env.evapi("B"); env.sleep(0.2)
    b.send(b"3:abc"); b.note(0.3)
    b.send(b";"); b.note(0.4)
