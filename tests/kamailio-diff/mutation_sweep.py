#!/usr/bin/env python3
"""Send the same mutated requests to Kamailio and to siprd and list where the
first lines of their answers differ (or one answers and the other drops).

Each request is a valid OPTIONS with one random mutation (a header removed or
repeated, a byte changed, odd blanks, folding, compact names, bad CSeq /
Content-Length / Via / From / To / URI / method / version, leading blanks).
The route answers with the parts of the message it read, so a difference in
parsing shows in the status line.

    python3 tests/kamailio-diff/mutation_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
"""
import os, random, socket, sys, tempfile

from sweeplib import CFG_HEAD, SIPRD, report, start, stop

CFG = CFG_HEAD + """loadmodule "pv.so"
loadmodule "sl.so"
request_route {
  sl_send_reply("200", "ok m=$rm u=$rU d=$rd p=$rp cs=$cs fu=$fU tu=$tU ft=$ft ci=$ci mf=$hdr(Max-Forwards) cl=$cl");
}
"""
BASE = [
    "OPTIONS sip:alice@127.0.0.1:5998 SIP/2.0",
    "Via: SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK-{i};rport",
    'From: "Bob" <sip:bob@example.com>;tag=ft{i}',
    "To: <sip:alice@example.com>",
    "Call-ID: cid-{i}@host",
    "CSeq: 10 OPTIONS",
    "Max-Forwards: 70",
    "Contact: <sip:bob@127.0.0.1:5997>",
    "Content-Length: 0",
]
COMPACT = {"Via": "v", "From": "f", "To": "t", "Call-ID": "i", "Contact": "m", "Content-Length": "l"}


def mutate(rnd, i):
    lines = [l.format(i=i) for l in BASE]
    body, sep = "", "\r\n"
    k = rnd.randrange(23)
    pick = lambda: rnd.randrange(1, len(lines))
    if k == 0:
        del lines[pick()]
    elif k == 1:
        j = pick()
        lines.insert(j, lines[j])
    elif k in (2, 3):
        j = 0 if k == 2 else pick()
        l = list(lines[j])
        l[rnd.randrange(len(l))] = chr(rnd.choice(b' \t:;<>@",0aZ/=\\'))
        lines[j] = "".join(l)
    elif k == 4:
        j = pick()
        lines[j] = lines[j].replace(":", rnd.choice([" :", " : ", "\t:", ":\t"]), 1)
    elif k == 5:
        lines[5] = "CSeq: " + rnd.choice(["", "abc OPTIONS", "10", "10 INVITE", "-1 OPTIONS", "99999999999 OPTIONS", " 10 OPTIONS", "1.5 OPTIONS"])
    elif k == 6:
        body = rnd.choice(["hello", "x" * 10, ""])
        lines[-1] = "Content-Length: " + rnd.choice(["0", "3", "5", "100", "-1", "abc", "", " 5"])
    elif k == 7:
        j = pick()
        h, v = lines[j].split(":", 1)
        lines[j] = h + ":" + v[: len(v) // 2] + "\r\n " + v[len(v) // 2 :]
    elif k == 8:
        lines = [COMPACT[l.split(":")[0]] + ":" + l.split(":", 1)[1] if l.split(":")[0] in COMPACT and rnd.random() < 0.5 else l for l in lines]
    elif k == 9:
        lines[0] = "OPTIONS " + rnd.choice(["sip:127.0.0.1", "sip:@127.0.0.1", "sips:alice@127.0.0.1", "tel:+1234", "sip:alice@[::1]", "<sip:alice@127.0.0.1>", "*", "sip:alice@127.0.0.1:99999"]) + " SIP/2.0"
    elif k == 10:
        lines[rnd.choice([2, 3])] = rnd.choice(["From: sip:bob@example.com;tag=1", "To: alice <sip:alice@example.com>", "From: <sip:bob@example.com", "To: <>", 'From: "unterminated <sip:b@x>;tag=2', "To: sip:alice@example.com, sip:x@y", "To: <sip:a@x>;tag=a;tag=b"])
    elif k == 11:
        lines[1] = "Via: " + rnd.choice(["SIP/2.0/UDP 127.0.0.1:5997", "SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK%d;received=" % i, "SIP/2.0/XYZ 127.0.0.1:5997;branch=z9hG4bK%d" % i, "SIP/2.0/UDP [::1]:5997;branch=z9hG4bK%d" % i, "SIP/1.0/UDP 127.0.0.1:5997;branch=z9hG4bK%d" % i, "SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK%d (c)" % i])
    elif k == 12:
        sep = rnd.choice(["\n", "\r\n"])
    elif k == 13:
        lines[0] = rnd.choice(["INVITE", "FOO", "options", "OPT IONS", "ACK", "X-Y"]) + " sip:alice@127.0.0.1:5998 SIP/2.0"
    elif k == 14:
        lines[0] = "OPTIONS sip:alice@127.0.0.1:5998 " + rnd.choice(["SIP/2.1", "sip/2.0", "SIP/2.0 ", "SIP/3.0", "SIP/2"])
    elif k == 15:
        lines.insert(pick(), rnd.choice(["X-Empty:", "garbage line", "X-Long: " + "a" * 3000, ":novalue", "X Y: z"]))
    elif k == 16:
        lines[6] = "Max-Forwards: " + rnd.choice(["0", "abc", "-1", "256", "70 70", ""])
    elif k == 17:
        lines[0] = rnd.choice(["\r\n", "  ", "\t"]) + lines[0]
    elif k == 18:
        lines[4] = "Call-ID: " + rnd.choice(["", "a b", "x@y@z"])
    elif k == 19:  # a second Via line, maybe broken
        lines.insert(2, "Via: " + rnd.choice(["SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx", "SIP/2.0/UDP", "garbage", "SIP/1.0/UDP 10.0.0.1", "SIP/2.0/UDP 10.0.0.1;received="]))
    elif k == 20:  # any byte of the header section changed
        j = pick()
        l = list(lines[j])
        l[rnd.randrange(len(l))] = chr(rnd.randrange(1, 256))
        lines[j] = "".join(l)
    elif k == 21:  # Contact / Route / Record-Route values
        lines.insert(pick(), rnd.choice(["Contact: *", "Contact: <sip:a@b>;expires=abc", "Contact: <sip:a@b>, <sip:c@d>", "Contact: <>", "Route: <sip:10.0.0.1;lr>", "Route: garbage", "Record-Route: <sip:a@b;lr>, <sip:c@d>", "Contact: \"x\" <sip:a@b"]))
    out = (sep.join(lines) + sep + sep + body).encode("latin-1")
    if k == 22:  # cut anywhere after the first line
        out = out[: rnd.randrange(len(lines[0]) + 2, len(out))]
    return out


def run(binary, msgs, cfg):
    p = start(binary, cfg)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 5997))
    s.settimeout(0.25)
    out = []
    for m in msgs:
        s.sendto(m, ("127.0.0.1", 5998))
        try:
            out.append(s.recvfrom(65535)[0].decode("latin-1").split("\n")[0].rstrip("\r"))
        except socket.timeout:
            out.append("(no answer)")
    s.close()
    stop(p)
    return out


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    rnd = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 12345)
    msgs = [mutate(rnd, i) for i in range(count)]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "m.cfg")
        open(cfg, "w").write(CFG)
        kam = run("kamailio", msgs, cfg)
        ours = run(SIPRD, msgs, cfg)
    sys.exit(report(msgs, kam, ours))


if __name__ == "__main__":
    main()
