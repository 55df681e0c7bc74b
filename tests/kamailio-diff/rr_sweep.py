#!/usr/bin/env python3
"""Random Route sets through Kamailio and through siprd: list where the
request the next hop gets differs.

A caller (port 5997) sends requests to the server (5998) with a random
R-URI, To tag, Route set (our address and other hops in many forms, with and
without `lr`, `r2`, `ftag`, `transport`, names, several entries per line,
malformed ones) and sometimes asks for record_route(). The script runs
loose_route() (or loose_route_preloaded()), writes what it saw in an X-R
header (return code, $du, $ru, $route_uri, rr_next_hop_route(),
is_direction(), check_route_param()) and forwards statelessly, to $du or to
the hop on 5996. Recorded per case: which hop socket (5995 or 5996) got the
request, its request line, its Route and Record-Route lines and X-R, or that
nothing came.

    python3 tests/kamailio-diff/rr_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
"""
import random, select, socket

from sweeplib import CFG_HEAD, start, stop, sweep_main

CFG = CFG_HEAD + r"""alias=proxy.example.com:5998
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "textops.so"
loadmodule "siputils.so"
request_route {
  if (is_present_hf("X-RR")) {
    if ($hdr(X-RR) == "plain") { record_route(); }
    else if ($hdr(X-RR) == "params") { record_route(";a=1"); }
    else if ($hdr(X-RR) == "preset") { record_route_preset("10.0.0.1:5060"); }
    else { add_rr_param(";p=2"); record_route(); }
  }
  if ($hdr(X-LR) == "preloaded") { $var(rc) = loose_route_preloaded(); }
  else if ($hdr(X-LR) == "mode") { $var(rc) = loose_route_mode("1"); }
  else { $var(rc) = loose_route(); }
  $var(nh) = rr_next_hop_route();
  $var(dir) = "up";
  if (is_direction("downstream")) { $var(dir) = "down"; }
  $var(rp) = check_route_param("x=1");
  append_hf("X-R: rc=$var(rc) du=$du ru=$ru route_uri=$route_uri nh=$var(nh) dir=$var(dir) rp=$var(rp)\r\n");
  if ($du == $null) { $du = "sip:127.0.0.1:5996"; }
  forward();
}
"""

OURS = ["127.0.0.1:5998", "proxy.example.com:5998"]
OTHERS = ["127.0.0.1:5995", "127.0.0.1:5996"]


def entry(rnd, ftag):
    """One Route entry."""
    k = rnd.random()
    if k < 0.5:
        host = rnd.choice(OURS) if rnd.random() < 0.6 else rnd.choice(OURS + ["127.0.0.1", "127.0.0.1:5060"])
    else:
        host = rnd.choice(OTHERS)
    user = rnd.choice(["", "", "", "x@"])
    params = []
    if rnd.random() < 0.8:
        params.append(rnd.choice(["lr", "lr", "lr=on"]))
    for p in ["r2=on", f"ftag={ftag}", "ftag=other", "transport=udp", "transport=tcp", "x=1"]:
        if rnd.random() < 0.15:
            params.append(p)
    rnd.shuffle(params)
    uri = f"sip:{user}{host}" + "".join(";" + p for p in params)
    form = rnd.random()
    if form < 0.85:
        return f"<{uri}>"
    if form < 0.92:
        return f'"hop" <{uri}>'
    if form < 0.96:
        return uri  # no brackets: not a valid Route entry
    return f"<{uri}>;x=2"


def make_request(rnd, i):
    ftag = f"ft{i}"
    ruri = rnd.choice(["sip:bob@127.0.0.1:5996", "sip:127.0.0.1:5998;lr", "sip:127.0.0.1:5998",
                       "sip:bob@127.0.0.1:5998", "sip:proxy.example.com:5998;lr", "sip:127.0.0.1;lr",
                       "sip:bob@127.0.0.1:5995;transport=udp"])
    totag = rnd.random() < 0.7
    entries = [entry(rnd, ftag) for _ in range(rnd.choice([0, 1, 1, 2, 2, 3]))]
    lines = []
    while entries:
        n = rnd.choice([1, 1, 2])
        lines.append("Route: " + ", ".join(entries[:n]))
        entries = entries[n:]
    extra = []
    if not totag and rnd.random() < 0.4:
        extra.append("X-RR: " + rnd.choice(["plain", "params", "preset", "param"]))
    extra.append("X-LR: " + rnd.choice(["plain", "plain", "plain", "preloaded", "mode"]))
    method = rnd.choice(["BYE", "INFO", "INVITE", "ACK"]) if totag else rnd.choice(["INVITE", "MESSAGE"])
    from_tag = ftag if rnd.random() < 0.8 else "swapped"
    msg = [f"{method} {ruri} SIP/2.0",
           f"Via: SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK-rr{i};rport",
           f"From: <sip:a@example.com>;tag={from_tag}",
           f"To: <sip:b@example.com>" + (f";tag=tt{i}" if totag else ""),
           f"Call-ID: rr-{i}", f"CSeq: 2 {method}", "Max-Forwards: 70"] + lines + extra
    return ("\r\n".join(msg + ["Content-Length: 0", "", ""])).encode()


def summary(port, data):
    text = data.decode("latin-1")
    lines = text.split("\r\n\r\n", 1)[0].split("\r\n")
    keep = [l for l in lines[1:] if l.split(":", 1)[0].lower() in ("route", "record-route", "x-r")]
    return f"@{port} {lines[0]} | " + " | ".join(keep)


def run(binary, seed, count, cfg):
    p = start(binary, cfg)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 5997))
    hops = {}
    for port in (5995, 5996):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", port))
        hops[s] = port
    rnd = random.Random(seed)
    out, sent = [], []
    for i in range(count):
        req = make_request(rnd, i)
        sent.append(req)
        caller.sendto(req, ("127.0.0.1", 5998))
        got = []
        key = f"Call-ID: rr-{i}\r\n".encode()
        while True:
            r, _, _ = select.select(list(hops) + [caller], [], [], 0.25 if not got else 0.05)
            if not r:
                break
            for s in r:
                data = s.recv(65535)
                if s is caller:
                    got.append("reply " + data.decode("latin-1").split("\r\n")[0])
                elif key in data:
                    got.append(summary(hops[s], data))
        out.append(" || ".join(got) or "(nothing)")
    caller.close()
    for s in hops:
        s.close()
    stop(p)
    return out, sent


def main():
    sweep_main(CFG, run, 300, 1)


if __name__ == "__main__":
    main()
