# jsonrpcs over HTTP through xhttp, the datagram socket, jsonrpc_exec from the
# script; htable managed over RPC and read by SIP.
CFG = r'''
debug=2
log_stderror=yes
children=2
tcp_accept_no_cl=yes
listen=udp:127.0.0.1:@SIP@
listen=tcp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "htable.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "jansson.so"
loadmodule "cfgutils.so"
modparam("htable", "htable", "acl=>size=4;autoexpire=0;")
modparam("htable", "htable", "cnt=>size=4;initval=0")
modparam("jsonrpcs", "transport", 7)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("jsonrpcs", "fifo_name", "@FIFO@")
modparam("xhttp", "url_match", "^/(RPC|api)")

event_route[xhttp:request] {
    xlog("L_INFO", "@@http $rm $hu len=$(rb{s.len})\n");
    if ($hu =~ "^/RPC") {
        jsonrpc_dispatch();
        exit;
    }
    if ($hu =~ "^/api/count") {
        $var(n) = $shtinc(cnt=>api);
        xhttp_reply("200", "OK", "application/json", "{\"count\":$var(n)}");
        exit;
    }
    xhttp_reply("404", "Not Found", "text/plain", "no such api: $hu\n");
}

request_route {
    if (is_method("ACK")) { exit; }
    if ($sht(acl=>$fU) == "deny") {
        sl_send_reply("403", "Forbidden by acl");
        exit;
    }
    if ($rU == "rpc") {
        jsonrpc_exec('{"jsonrpc": "2.0", "method": "htable.get", "params": ["acl", "$fU"], "id": 9}');
        xlog("L_INFO", "@@exec code=$jsonrpl(code) text=$jsonrpl(text)\n");
        jansson_get("result.item.value", $jsonrpl(body), "$var(v)");
        append_to_reply("X-Acl: $var(v)\r\n");
        sl_send_reply("200", "rpc $jsonrpl(code)");
        exit;
    }
    sl_send_reply("200", "welcome $fU");
}
'''

def drive(env):
    env.sip(request("MESSAGE", "sip:x@127.0.0.1", "a1"), wait=0.3)
    env.http("/RPC", '{"jsonrpc":"2.0","method":"htable.sets","params":["acl","alice","deny"],"id":1}')
    env.sip(request("MESSAGE", "sip:x@127.0.0.1", "a2"), wait=0.3)
    env.sip(request("MESSAGE", "sip:rpc@127.0.0.1", "a3"), wait=0.3, full=True)
    env.rpc("htable.get", "acl", "alice")
    env.rpc("htable.delete", "acl", "alice")
    env.http("/RPC", '{"jsonrpc":"2.0","method":"htable.get","params":["acl","alice"],"id":"x"}')
    env.sip(request("MESSAGE", "sip:rpc@127.0.0.1", "a4"), wait=0.3, full=True)
    env.http("/api/count", "")
    env.http("/api/count", "")
    env.http("/other", "")
    env.http("/RPC", '{"jsonrpc":"2.0","method":"nope","id":3}')
    env.http("/RPC", 'garbage')
    env.http("/RPC", '[{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":1}]')
    env.rpc("htable.seti", "cnt", "api", 40)
    env.http("/api/count", "", method="GET")
    env.rpc("htable.stats")
    env.rpc("core.echo", "x", 1, raw='{"jsonrpc":"2.0","method":"core.echo","params":["x",1]}')
