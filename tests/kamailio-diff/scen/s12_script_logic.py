# Script logic: route return codes, $rc/$retcode, flags, AVP stacks, $vn/$vz,
# cfgutils locks / route_if_exists / check_route_exists / rand, transformations.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "cfgutils.so"
loadmodule "kex.so"
modparam("cfgutils", "lock_set_size", 2)
flags FLT_ACC:1, FLT_NAT:2;

route[CLASSIFY] {
    if ($rU =~ "^\+?[0-9]+$") { return 2; }
    if ($rU == "") { return -3; }
    if ($rU == "zero") { return 0; }
    if ($rU == "none") { xlog("L_INFO", "@@none path\n"); }
    if ($rU == "neg") { return -1; }
    return 1;
}
route[ACC] {
    setflag(FLT_ACC);
    $avp(acc) = "first";
    $avp(acc) = "second";
    $avp(i) = 5;
    $avp(i) = $avp(i) + 3;
}

request_route {
    if (is_method("ACK")) { exit; }
    route(CLASSIFY);
    $var(c) = $rc;
    xlog("L_INFO", "@@$ci classify rc=$var(c) retcode=$retcode\n");
    if ($var(c) == 2) {
        route(ACC);
        xlog("L_INFO", "@@$ci acc=$avp(acc) all=$(avp(acc)[*]) n=$cnt($avp(acc)) i=$avp(i) flag=$mf isflag=$var(f)\n");
        if (isflagset(FLT_ACC)) { append_to_reply("X-Acc: on\r\n"); }
    }
    $vn(seen) = $vn(seen) + 1;
    $vz(z) = $vz(z) + 1;
    $var(u) = $(rU{s.tolower}{s.substr,0,3});
    $var(h) = $(fu{uri.host}{s.toupper});
    $var(p) = $(hdr(X-Params){param.value,b});
    $var(n) = $(hdr(X-Params){param.count});
    $var(sel) = $(hdr(X-List){s.select,-1,,}{s.trim});
    $var(md5) = $(ci{s.md5}{s.substr,0,8});
    $var(b64) = $(ci{s.encode.base64});
    xlog("L_INFO", "@@$ci u=$var(u) h=$var(h) p=$var(p) n=$var(n) sel=[$var(sel)] md5=$var(md5) b64=$var(b64) vn=$vn(seen) vz=$vz(z)\n");
    if (route_if_exists("R_$rU")) { xlog("L_INFO", "@@$ci dyn route true rc=$rc\n"); }
    else { xlog("L_INFO", "@@$ci dyn route false rc=$rc\n"); }
    if (check_route_exists("R_$rU")) { xlog("L_INFO", "@@$ci exists\n"); }
    if (lock("k")) {
        $var(l) = $rc;
        unlock("k");
    }
    $var(t) = trylock("k");
    unlock("k");
    $var(pr) = rand_event();
    xlog("L_INFO", "@@$ci lock=$var(l) try=$var(t) prob=$var(pr)\n");
    switch ($var(c)) {
        case -3: sl_send_reply("484", "empty"); exit;
        case 0: sl_send_reply("500", "zero not reached"); exit;
        case -1: sl_send_reply("403", "neg"); exit;
        case 2: sl_send_reply("200", "number"); exit;
        default: sl_send_reply("202", "other $var(c)");
    }
}
route[R_alpha] { xlog("L_INFO", "@@in R_alpha\n"); return -2; }
route[R_beta] { xlog("L_INFO", "@@in R_beta\n"); }
'''

def drive(env):
    for i, (u, extra) in enumerate([
        ("+4930123", "X-Params: a=1;b=two;c\nX-List: x, y ,  z "),
        ("alpha", "X-Params: ;b=\nX-List: one"),
        ("beta", ""),
        ("zero", ""),
        ("neg", ""),
        ("none", "X-List: ,,"),
    ]):
        env.sip(request("MESSAGE", f"sip:{u}@127.0.0.1", f"x{i}", extra=extra), wait=0.3, full=(i == 0))
    env.sip(request("MESSAGE", "sip:127.0.0.1", "x9"), wait=0.3)
