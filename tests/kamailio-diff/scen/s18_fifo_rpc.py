# jsonrpcs FIFO transport as kamctl uses it: htable and evrexec commands.
CFG = r'''
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:@SIP@
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "htable.so"
loadmodule "jsonrpcs.so"
loadmodule "evrexec.so"
modparam("htable", "htable", "t=>size=4;")
modparam("jsonrpcs", "transport", 2)
modparam("jsonrpcs", "fifo_name", "@FIFO@")
modparam("evrexec", "exec", "name=evrexec:cmd")
event_route[evrexec:cmd] {
    if ($evr(data) != $null) {
        $sht(t=>last) = $evr(data);
        xlog("L_INFO", "@@cmd $evr(data)\n");
    }
}
request_route {
    sl_send_reply("200", "last=$sht(t=>last)");
}
'''
import os, time as _t
def fifo(env, body, name):
    rf = f"/tmp/scen_reply_{name}"
    if os.path.exists(rf): os.unlink(rf)
    os.mkfifo(rf, 0o666)
    try:
        fd = os.open("/tmp/scen_fifo", os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        env.note(f"fifo {name} open error {e.errno}")
        os.unlink(rf); return
    os.write(fd, (":" + os.path.basename(rf) + ":\n" + body + "\n").encode() if False else body.replace("@R@", os.path.basename(rf)).encode())
    os.close(fd)
    r = os.open(rf, os.O_RDONLY | os.O_NONBLOCK)
    out = b""; end = _t.time() + 1.5
    while _t.time() < end:
        try:
            d = os.read(r, 65536)
            if d: out += d
            elif out: break
        except BlockingIOError:
            pass
        _t.sleep(0.05)
    os.close(r); os.unlink(rf)
    try:
        env.note(f"fifo {name} -> " + json.dumps(json.loads(out), sort_keys=True))
    except ValueError:
        env.note(f"fifo {name} -> {out!r}")

def drive(env):
    fifo(env, '{"jsonrpc":"2.0","method":"htable.sets","params":["t","last","x"],"reply_name":"@R@","id":1}\n', "a")
    env.sip(request("OPTIONS", "sip:x@127.0.0.1", "f1"), wait=0.3)
    fifo(env, '{"jsonrpc":"2.0","method":"evrexec.run","params":["evrexec:cmd","from-fifo"],"reply_name":"@R@","id":2}\n', "b")
    env.sip(request("OPTIONS", "sip:x@127.0.0.1", "f2"), wait=0.3)
    fifo(env, '{"jsonrpc":"2.0","method":"htable.get","params":["t","last"],"reply_name":"@R@","id":3}\n', "c")
    fifo(env, '{"jsonrpc":"2.0","method":"nope","reply_name":"@R@","id":4}\n', "d")
    fifo(env, '[{"jsonrpc":"2.0","method":"core.echo","reply_name":"@R@","id":5}]\n', "e")
