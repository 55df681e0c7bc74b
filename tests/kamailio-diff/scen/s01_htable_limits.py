# htable:mod-init fills limits; request_route counts calls per domain under a
# lock, replies with append_to_reply, iterates the table.
CFG = r'''
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "htable.so"
loadmodule "cfgutils.so"
modparam("htable", "htable", "a=>size=4;")
modparam("htable", "htable", "lim=>size=8;initval=0")
modparam("cfgutils", "lock_set_size", 4)

event_route[htable:mod-init] {
    $sht(a=>calls-to::10.10.10.10) = 0;
    $sht(a=>max-calls-to::10.10.10.10) = 2;
    $sht(a=>name) = "alpha";
    $sht(lim=>gw1) = 3;
    $sht(lim=>gw2) = 5;
    $sht(lim=>label) = "gw-one";
    xlog("L_INFO", "@@init cn=$shtcn(a=>**) cv=$shtcv(lim=>==3) inc=$shtinc(lim=>ctr) rc=$rc\n");
}

request_route {
    if (is_method("ACK")) { exit; }
    if (is_method("INVITE") && !has_totag()) {
        switch($rd) {
            case "10.10.10.10":
                lock("calls-to::10.10.10.10");
                $sht(a=>calls-to::10.10.10.10) = $sht(a=>calls-to::10.10.10.10) + 1;
                unlock("calls-to::10.10.10.10");
                xlog("L_INFO", "@@count $sht(a=>calls-to::10.10.10.10) of $sht(a=>max-calls-to::10.10.10.10)\n");
                if ($sht(a=>calls-to::10.10.10.10) > $sht(a=>max-calls-to::10.10.10.10)) {
                    append_to_reply("X-Count: $sht(a=>calls-to::10.10.10.10)\r\n");
                    sl_send_reply("500", "To many calls to .10");
                    exit;
                }
                sl_send_reply("200", "ok $sht(a=>calls-to::10.10.10.10)");
                exit;
            case "iter":
                sht_iterator_start("i", "lim");
                $var(n) = 0;
                while (sht_iterator_next("i")) {
                    $var(n) = $var(n) + 1;
                    xlog("L_INFO", "@@iter $shtitkey(i)=$shtitval(i)\n");
                }
                sht_iterator_end("i");
                append_to_reply("X-N: $var(n)\r\n");
                sl_send_reply("200", "iter");
                exit;
            default:
                $var(k) = "dom::" + $rd;
                $var(c) = $shtinc(lim=>$var(k));
                if ($var(c) > 2) {
                    sl_send_reply("486", "busy $var(c)");
                    exit;
                }
                sht_rm("lim", "nothere");
                xlog("L_INFO", "@@dom $var(k) c=$var(c) rc=$rc gw=$sht(lim=>gw1) cv=$shtcv(lim=>%~gw)\n");
                send_reply("404", "Not found $rd");
                exit;
        }
    }
    if (is_method("OPTIONS")) {
        $var(r) = sht_match_name("lim", "sw", "dom::");
        xlog("L_INFO", "@@opt match=$var(r) cn=$shtcn(lim=>%~dom) mv=$shtcn(a=>~%to::10.10.10.10)\n");
        if (sht_has_name("lim", "eq", "gw1")) {
            sl_send_reply("200", "has gw1");
        } else {
            sl_send_reply("404", "no gw1");
        }
        exit;
    }
    sl_send_reply("405", "no");
}
'''

def drive(env):
    for i in range(4):
        env.sip(request("INVITE", "sip:bob@10.10.10.10", f"c{i}"), wait=0.3)
    for i in range(4):
        env.sip(request("INVITE", "sip:bob@example.com", f"d{i}"), wait=0.3)
    env.sip(request("INVITE", "sip:x@other.net", "e1"), wait=0.3)
    env.sip(request("INVITE", "sip:x@iter", "it"), wait=0.3, full=True)
    env.sip(request("OPTIONS", "sip:x@iter", "o1"), wait=0.3)
    env.sip(request("MESSAGE", "sip:x@iter", "m1"), wait=0.3)
