# log_prefix with variables, xlog levels and shortcuts, xlogl, log().
CFG = r'''
debug=2
log_stderror=yes
children=1
log_prefix="@@{$mt $hdr(CSeq) $ci $var(x)} "
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "htable.so"
modparam("htable", "htable", "a=>size=4;")
event_route[htable:mod-init] {
    xlog("L_INFO", "init mt=$mt\n");
}
request_route {
    $var(x) = $var(x) + 1;
    xlog("L_INFO", "info $rm\n");
    xinfo("xinfo $rm\n");
    xnotice("xnotice\n");
    xwarn("xwarn\n");
    xerr("xerr\n");
    xdbg("xdbg hidden\n");
    xlog("L_DBG", "dbg hidden\n");
    xlog("L_ALERT", "alert\n");
    xlog("L_CRIT", "crit\n");
    xlog("L_BUG", "bug\n");
    xlog("L_NOTICE", "notice\n");
    xlog("no level\n");
    log(1, "core log one\n");
    sl_send_reply("200", "ok");
}
'''
def drive(env):
    env.sip(request("OPTIONS", "sip:x@127.0.0.1", "lp1"), wait=0.3)
    env.sip(request("MESSAGE", "sip:x@127.0.0.1", "lp2", cseq=7), wait=0.3)
