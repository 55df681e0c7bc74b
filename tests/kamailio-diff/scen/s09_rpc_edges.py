# jsonrpcs datagram / HTTP edge documents: batches, empty arrays, scalars.
CFG = r'''
debug=2
log_stderror=yes
children=1
tcp_accept_no_cl=yes
listen=udp:127.0.0.1:@SIP@
listen=tcp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 7)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:@RPC@")
modparam("jsonrpcs", "fifo_name", "@FIFO@")
event_route[xhttp:request] {
    jsonrpc_dispatch();
}
request_route {
    $var(r) = jsonrpc_exec("$rb");
    xlog("L_INFO", "@@exec r=$var(r) code=$jsonrpl(code) text=$jsonrpl(text) body=[$(jsonrpl(body){s.escape.common})]\n");
    sl_send_reply("200", "ok");
}
'''
DOCS = [
    '[{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":1}]',
    '[{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":1},{"jsonrpc":"2.0","method":"core.echo","params":["b"],"id":2}]',
    '[]',
    '5',
    '"str"',
    'null',
    '{}',
    '[1,2]',
]
def drive(env):
    for d in DOCS:
        env.rpc("raw " + d, raw=d)
    for d in DOCS:
        env.http("/RPC", d)
    for i, d in enumerate(DOCS):
        env.sip(request("MESSAGE", "sip:x@127.0.0.1", f"e{i}", extra="Content-Type: application/json", body=d), wait=0.3)
