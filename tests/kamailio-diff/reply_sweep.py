#!/usr/bin/env python3
"""Send the same mutated replies through Kamailio and through siprd and list
where what comes back to the caller differs.

A caller (port 5997) sends OPTIONS to the server (5998), which relays it
statelessly (`forward`, user `sl`) or through tm (`t_relay`, user `tm`; an
INVITE for user `inv`) to a callee (5996). The callee answers with a reply
built from the request it got (its Vias, From, To, Call-ID, CSeq), then
changed once at random (a header
removed or repeated, a byte changed, odd status lines, Vias, CSeq, To tags,
Content-Length, folding, compact names, a cut datagram). The caller records
the status line and the X-R header the server's onreply_route adds (the parts
of the reply it read), or that nothing came back.

    python3 tests/kamailio-diff/reply_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
"""
import random, socket, time

from sweeplib import CFG_HEAD, start, stop, sweep_main

CFG = CFG_HEAD + """loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "textops.so"
request_route {
  if ($rU == "sl") { forward("127.0.0.1", 5996); exit; }
  if (is_method("ACK")) { exit; }
  $du = "sip:127.0.0.1:5996";
  t_relay();
}
onreply_route {
  append_hf("X-R: s=$rs r=$rr ci=$ci cs=$cs tt=$tt fu=$fU\\r\\n");
}
"""
COMPACT = {"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Content-Length": "l"}


def request(mode, i):
    method = "INVITE" if mode == "inv" else "OPTIONS"
    return (
        f"{method} sip:{mode}@127.0.0.1:5998 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK-r{i};rport\r\n"
        f'From: "Bob" <sip:bob@example.com>;tag=ft{i}\r\n'
        f"To: <sip:{mode}@example.com>\r\n"
        f"Call-ID: rcid-{i}\r\n"
        f"CSeq: 10 {method}\r\n"
        "Max-Forwards: 70\r\n"
        "Contact: <sip:bob@127.0.0.1:5997>\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def reply_lines(req):
    """A 200 for the relayed request: its Vias, From, To (tagged), Call-ID, CSeq."""
    lines = req.decode("latin-1").split("\r\n")
    keep = [l for l in lines[1:] if l.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")]
    keep = [l + ";tag=tt1" if l.lower().startswith("to:") else l for l in keep]
    return ["SIP/2.0 200 OK"] + keep + ["Content-Length: 0"]


def mutate(rnd, lines):
    """One change, chosen from `rnd` only (not from the request's bytes), so
    both servers get the same change. Line 1 is the server's own Via."""
    body, sep = "", "\r\n"
    k = rnd.randrange(20)
    idx = lambda name: next((n for n, l in enumerate(lines) if l.lower().startswith(name)), None)
    pick = lambda: rnd.randrange(2, len(lines))  # not the status line, not the server's Via
    if k == 0:
        del lines[pick()]
    elif k == 1:
        j = pick()
        lines.insert(j, lines[j])
    elif k == 2:
        lines[0] = rnd.choice(["SIP/2.0 180 Ringing", "SIP/2.0 404 Not Found", "SIP/2.0 100 Trying", "SIP/2.0 699 X",
                               "SIP/2.0 700 X", "SIP/2.0 99 X", "SIP/2.0 2000 OK", "SIP/2.0 200", "SIP/2.0 200 ",
                               "sip/2.0 200 OK", "SIP/2.1 200 OK", "SIP/2.0  200 OK", "SIP/2.0 2O0 OK", "SIP/2.0 486 Busy Here Now"])
    elif k == 3:  # a byte of a header other than the server's Via
        j = pick()
        l = list(lines[j])
        l[int(rnd.random() * len(l))] = chr(rnd.choice(b' \t:;<>@",0aZ/=\\'))
        lines[j] = "".join(l)
    elif k == 4:
        j = pick()
        lines[j] = lines[j].replace(":", rnd.choice([" :", "\t:", ":\t"]), 1)
    elif k == 5:
        lines[idx("cseq")] = "CSeq: " + rnd.choice(["", "10 INVITE", "11 OPTIONS", "abc OPTIONS", "10", "10 OPTIONS x"])
    elif k == 6:
        body = rnd.choice(["hello", ""])
        lines[-1] = "Content-Length: " + rnd.choice(["0", "3", "5", "100", "abc", "", " 5"])
    elif k == 7:
        j = pick()
        h, v = lines[j].split(":", 1)
        lines[j] = h + ":" + v[: len(v) // 2] + "\r\n " + v[len(v) // 2:]
    elif k == 8:
        lines[:] = [COMPACT[l.split(":")[0]] + ":" + l.split(":", 1)[1]
                    if l.split(":")[0] in COMPACT and rnd.random() < 0.5 else l for l in lines]
    elif k == 9:  # the caller's Via (the one a relayed reply goes to)
        lines[2] = "Via: " + rnd.choice(["SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK-x;rport=5997",
                                         "SIP/2.0/UDP 127.0.0.1;rport=5997", "SIP/2.0/UDP 127.0.0.1:5997",
                                         "garbage", "SIP/2.0/TCP 127.0.0.1:5997;rport=5997",
                                         "SIP/2.0/UDP 127.0.0.1:5997;received=127.0.0.1;rport=5997",
                                         "SIP/2.0/UDP 127.0.0.1:5997;rport=abc"])
    elif k == 10:  # the server's own Via
        lines[1] = rnd.choice([lines[1] + "x", lines[1].split(";branch=")[0], "Via: garbage",
                               lines[1] + ", SIP/2.0/UDP 10.0.0.9", lines[1].replace("SIP/2.0/UDP", "SIP/2.0/TCP")])
    elif k == 11:
        del lines[rnd.choice([1, 2])]
    elif k == 12:
        lines[idx("to")] = rnd.choice(["To: <sip:x@example.com>", "To: <sip:x@example.com>;tag=a;tag=b", "To: <>",
                                       "To: sip:x@example.com, sip:y@y", "To: <sip:x@example.com"])
    elif k == 13:
        sep = rnd.choice(["\n", "\r\n"])
    elif k == 14:
        lines.insert(pick(), rnd.choice(["X-Empty:", "garbage line", "X!y: 1", ":novalue", "X Y: z", "X-Long: " + "a" * 2000]))
    elif k == 15:  # any byte changed (not in the server's Via)
        j = pick()
        l = list(lines[j])
        l[int(rnd.random() * len(l))] = chr(rnd.randrange(1, 256))
        lines[j] = "".join(l)
    elif k == 16:
        lines.insert(pick(), rnd.choice(["Contact: <sip:a@b>", "Record-Route: <sip:a@b;lr>", "Contact: *", "Contact: <sip:a@b"]))
    elif k == 17:
        lines[idx("call-id")] = "Call-ID: " + rnd.choice(["", "other", "a b"])
    elif k == 18:
        lines.insert(2, "Via: " + rnd.choice(["SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "garbage", "SIP/2.0/UDP"]))
    out = (sep.join(lines) + sep + sep + body).encode("latin-1")
    if k == 19:  # cut after the status line
        # (a fraction: the servers' branches differ in length)
        cut = len(lines[0]) + 2
        out = out[: cut + int(rnd.random() * (len(out) - cut))]
    return out


def recv_match(sock, key, timeout):
    """The next datagram holding `key` within `timeout` (others are stale,
    and so is tm's own 100 to an INVITE)."""
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0:
            return None, None
        sock.settimeout(left)
        try:
            data, addr = sock.recvfrom(65535)
        except socket.timeout:
            return None, None
        if key in data and not data.startswith(b"SIP/2.0 100 trying"):
            return data, addr


def summary(data):
    if data is None:
        return "(nothing)"
    text = data.decode("latin-1")
    head = text.split("\n")[0].rstrip("\r")
    xr = [l.rstrip("\r") for l in text.split("\n") if l.lower().startswith("x-r:")]
    vias = sum(1 for l in text.split("\n") if l.lower().startswith(("via:", "v:")))
    return f"{head} | vias={vias} | {xr[0] if xr else '(no X-R)'}"


def run(binary, seed, count, cfg):
    p = start(binary, cfg)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 5997))
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    callee.bind(("127.0.0.1", 5996))
    rnd = random.Random(seed)
    out, sent = [], []
    for i in range(count):
        mode = rnd.choice(["sl", "tm", "inv"])
        key = f"rcid-{i}".encode()
        caller.sendto(request(mode, i), ("127.0.0.1", 5998))
        req, addr = recv_match(callee, key + b"\r\n", 1.0)
        if req is None:
            out.append("(request not relayed)")
            sent.append(b"")
            rnd.random()
            continue
        reply = mutate(rnd, reply_lines(req))
        sent.append(reply)
        callee.sendto(reply, addr)
        got, _ = recv_match(caller, key, 0.3)
        out.append(mode + ": " + summary(got))
    caller.close()
    callee.close()
    stop(p)
    return out, sent


def main():
    sweep_main(CFG, run, 300, 12345)


if __name__ == "__main__":
    main()
