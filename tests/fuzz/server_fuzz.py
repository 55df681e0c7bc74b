#!/usr/bin/env python3
"""Hostile input against a running siprd (tests/fuzz/server.cfg).

Batches: mutated SIP over UDP and TCP, mutated replies from a next hop to
relayed requests, evapi netstrings, JSON-RPC over UDP/HTTP/FIFO, HTTP junk to
xhttp, datagrams to evrexec and nosip, BINRPC junk to ctl, peers that vanish
mid-frame. After each batch a valid OPTIONS must get its 200 and stderr must
not say "panicked".

    nice -n 19 python3 tests/fuzz/server_fuzz.py --bin /work/tgt/fuzz/debug/siprd \
        --cases 300 --seed 1 --base-port 5760
"""

import argparse
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Server:
    def __init__(self, args, tmp):
        b = args.base_port
        self.ports = dict(SIP_PORT=b, EVAPI_PORT=b + 1, RPC_PORT=b + 2, HTTP_PORT=b + 3, EVR_PORT=b + 4, CTL_PORT=b + 5, DEAD_PORT=b + 9)
        cfg = open(os.path.join(HERE, "server.cfg")).read()
        self.fifo = os.path.join(tmp, "rpc.fifo")
        cfg = cfg.replace("FIFO_PATH", self.fifo).replace("FIFO_DIR", tmp)
        for k, v in self.ports.items():
            cfg = cfg.replace(k, str(v))
        path = os.path.join(tmp, "server.cfg")
        open(path, "w").write(cfg)
        self.log_path = os.path.join(tmp, "stderr.log")
        self.log = open(self.log_path, "wb")
        self.p = subprocess.Popen(["nice", "-n", "19", args.bin, "-f", path], stdout=self.log, stderr=self.log)
        self.tmp = tmp

    def text(self):
        return open(self.log_path, "rb").read().decode("utf-8", "replace")

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def sip(method, ruri, port, cid, cseq=1, extra="", body="", proto="UDP", ct=True):
    h = (
        f"{method} {ruri} SIP/2.0\r\n"
        f"Via: SIP/2.0/{proto} 127.0.0.1:{port};branch=z9hG4bK{cid};rport\r\n"
        f"Via: SIP/2.0/UDP [2001:db8::1]:5060;branch=z9hG4bKold\r\n"
        "Max-Forwards: 70\r\n"
        f"From: \"Alice, A.\" <sip:alice@example.com>;tag=ft{cid}\r\n"
        "To: <sip:bob@example.com>\r\n"
        f"Call-ID: {cid}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires=60\r\n"
        "User-Agent: fuzz/1\r\n"
        "Subject: hello\r\n"
        "Expires: 3600\r\n"
        f"{extra}"
    )
    if ct:
        h += "Content-Type: application/json\r\n" if body.startswith("{") else "Content-Type: application/sdp\r\n"
    h += f"Content-Length: {len(body.encode())}\r\n\r\n{body}"
    return h.encode()


BODIES = ["", "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n",
          '{"a": {"b": "fuzz"}}', '{"a": [1, 2, {"b": null}]}', "fuzz", '{"a":' * 50]

HEADER_JUNK = [
    b"Content-Length: -1", b"Content-Length: 99999999999999999999", b"Content-Length: 4294967296",
    b"Content-Length: 1000000", b"Content-Length: 0x10", b"Content-Length: ", b"Content-Length: 5, 6",
    b"CSeq: 99999999999999999999 INVITE", b"CSeq: -1 INVITE", b"CSeq: 4294967296 OPTIONS", b"CSeq: 1",
    b"CSeq: ", b"CSeq: 1 ", b"Max-Forwards: 99999999999", b"Max-Forwards: -5", b"Max-Forwards: 256",
    b"Max-Forwards: 0", b"Expires: 99999999999999999999", b"Expires: -1", b"Expires: 4294967296",
    b"Via: SIP/2.0/UDP 127.0.0.1:99999999;branch=z9hG4bKx;rport=99999999", b"Via: SIP/2.0/UDP 127.0.0.1:-1",
    b"Via: SIP/2.0/UDP [::1:5060;branch=x", b"Via: SIP/2.0/UDP", b"Via: ", b"Via: ,,,,", b"Via: SIP/2.0/UDP h;received=;rport=;branch=",
    b"Via: SIP/2.0/TCP 1.2.3.4:5060;maddr=999.999.999.999;ttl=99999", b"Via: SIP/3.0/FOO a b c",
    b"From: <sip:>", b"From: <", b"From: \"unterminated <sip:a@b>", b"From: sip:a@b;tag=", b"To: <sip:a@[::1>",
    b"To: <sip:a@b>;tag=x;tag=y", b"Contact: *", b"Contact: <sip:a@b:99999>", b"Contact: <sip:a@b;expires=-1>;expires=99999999999",
    b"Contact: ,,,", b"Route: <sip:127.0.0.1;lr>", b"Route: <sip:", b"Record-Route: <sip:1.2.3.4;lr>, <>",
    b"Call-ID: ", b"Call-ID: \x00\x00", b"X-Relay: 1", b"X-Async: 1", b"X-Evapi: 1", b"X-Json: \"\\u0000\"",
    b"Content-Type: ", b"Content-Type: multipart/mixed;boundary=", b"Subject: \xff\xfe\xc3\x28",
    b"Authorization: Digest username=\"a\", realm=\"", b"Proxy-Require: ,", b"Require: 100rel",
    b"Content-Encoding: gzip", b": empty name", b"NoColon", b" leading space", b"\tFolded: x\r\n continued",
    b"Max-Forwards: 1", b"Event: ", b"Allow: ,,,",
]

URIS = [b"sip:", b"sip:@", b"sip:a@", b"sip:[::1", b"sip:a@b:99999", b"sip:a@b:-1", b"sip:a@b:0",
        b"sips:a@b;transport=", b"sip:a@b;;;;", b"sip:a@b?x=y&&", b"tel:+1-555", b"sip:%zz@b",
        b"sip:a@1.2.3.4.5.6", b"sip:a@b;maddr=;ttl=999999999", b"*", b"", b"sip:" + b"a" * 5000 + b"@b",
        b"sip:12345678901234567890@b", b"x:y", b"sip:a:pass:more@b", b"sip:a@[2001:db8::1]:5060;lr"]


def mutate_sip(rng, m):
    k = rng.randrange(18)
    lines = m.split(b"\r\n")
    try:
        end = lines.index(b"")
    except ValueError:
        end = len(lines)
    hdr = list(range(1, end))
    if k == 0:
        return m[: rng.randrange(1, len(m) + 1)]
    if k == 1 and hdr:  # duplicate header
        i = rng.choice(hdr)
        lines.insert(i, lines[i])
    elif k == 2 and hdr:  # delete header
        del lines[rng.choice(hdr)]
    elif k == 3:  # huge header
        n = rng.choice([1000, 20000, 70000])
        lines.insert(rng.choice(hdr or [1]), b"X-Huge: " + b"x" * n)
    elif k == 4 or k == 5:  # replace/insert odd headers
        j = rng.choice(HEADER_JUNK)
        if k == 4 and hdr:
            name = j.split(b":")[0].lower()
            same = [i for i in hdr if lines[i].lower().startswith(name + b":")]
            if same:
                lines[rng.choice(same)] = j
                return b"\r\n".join(lines)
        lines.insert(rng.choice(hdr or [1]), j)
    elif k == 6:  # NULs and non-UTF-8
        b = bytearray(m)
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] = rng.choice([0, 0xFF, 0xC3, 0x80, 0x0A, 0x0D, 0x3A])
        return bytes(b)
    elif k == 7:  # bogus request URI
        parts = lines[0].split(b" ")
        if len(parts) >= 2:
            parts[1] = rng.choice(URIS)
        lines[0] = b" ".join(parts)
    elif k == 8:  # deep/long Via lists
        n = rng.choice([50, 500, 3000])
        if rng.random() < 0.5:
            lines.insert(1, b"Via: " + b", ".join(b"SIP/2.0/UDP 10.0.0.%d:5060;branch=z9hG4bK%d" % (i % 250, i) for i in range(n)))
        else:
            for i in range(n):
                lines.insert(2, b"Via: SIP/2.0/UDP 10.0.0.%d;branch=z9hG4bK%d" % (i % 250, i))
    elif k == 9:  # body/Content-Length mismatch
        j = rng.choice([b"0", b"1", b"-1", b"99999999999999999999", b"65536", b"3000000", b"18446744073709551615", b"2147483648", b" 7 "])
        lines = [(b"Content-Length: " + j) if l.lower().startswith(b"content-length") else l for l in lines]
    elif k == 10:  # random byte flips
        b = bytearray(m)
        for _ in range(rng.randrange(1, 10)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    elif k == 11:  # splice junk
        at = rng.randrange(len(m))
        return m[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 50))) + m[at:]
    elif k == 12:  # odd start line
        lines[0] = rng.choice([b"INVITE sip:a@b SIP/2.0 extra", b"INVITE", b"INVITE  SIP/2.0", b" SIP/2.0", b"SIP/2.0 999999999 X",
                               b"SIP/2.0 -1 X", b"SIP/2.0 20 OK", b"SIP/2.0", b"SIP/2.0 200", b"INVITE sip:a@b SIP/9.9", b"\xff\xfe sip:a SIP/2.0",
                               b"GET / HTTP/1.1", b"POST /RPC HTTP/1.0", b"A" * 10000 + b" sip:a SIP/2.0"])
    elif k == 13:  # numeric overflow in a known header
        target = rng.choice([b"CSeq", b"Max-Forwards", b"Expires", b"Content-Length"])
        val = rng.choice([b"99999999999999999999", b"-1", b"4294967296", b"2147483648", b"-2147483649", b"1e10", b"0x1", b""])
        lines = [target + b": " + val + (b" INVITE" if target == b"CSeq" else b"") if l.lower().startswith(target.lower() + b":") else l for l in lines]
    elif k == 15 or k == 16:  # values the config uses as numbers and URIs
        vals = [b"0", b"-1", b"1", b"2147483647", b"-2147483648", b"2147483648", b"99999999999999999999", b"abc", b"", b"65536", b"3"]
        dyn = rng.choice([b"a,b;c=d\nline2", b"x" * rng.choice([1, 300, 5000]), b"sip:a@b;p=1", bytes(rng.randrange(1, 256) for _ in range(40)).replace(b"\r", b"").replace(b"\n", b"")])
        extra = [b"X-Dyn: " + dyn, b"X-A: " + rng.choice(vals), b"X-B: " + rng.choice(vals)]
        opt = rng.choice([b"X-Ru: " + rng.choice(URIS), b"X-Du: " + rng.choice(URIS), b"X-Port: " + rng.choice(vals),
                          b"X-Code: " + rng.choice(vals + [b"99", b"700", b"100", b"200"]), b"X-Fwd: 1"])
        extra.append(opt)
        if rng.random() < 0.3:
            extra.append(b"X-Fwd: 1")
        for e in extra:
            lines.insert(1, e)
    elif k == 14:  # many headers
        for i in range(rng.choice([100, 1000, 5000])):
            lines.insert(1, b"X-H%d: %d" % (i, i))
    elif k == 17:  # drop CRs / use bare LF
        return m.replace(b"\r\n", b"\n") if rng.random() < 0.5 else m.replace(b"\r\n", b"\r")
    return b"\r\n".join(lines)


class Fuzz:
    def __init__(self, args, srv):
        self.args = args
        self.srv = srv
        self.rng = random.Random(args.seed)
        self.sip = ("127.0.0.1", srv.ports["SIP_PORT"])
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.uport = self.udp.getsockname()[1]
        self.hop = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hop.bind(("127.0.0.1", srv.ports["DEAD_PORT"]))
        self.n = 0
        self.failures = []
        self.errors = {}

    def cid(self):
        self.n += 1
        return f"fz{self.n}-{self.rng.randrange(10**9)}"

    def base(self, proto="UDP", port=None):
        rng = self.rng
        port = port or self.uport
        kind = rng.randrange(6)
        body = rng.choice(BODIES)
        cid = self.cid()
        if kind == 0:
            return sip("INVITE", "sip:123@example.com;transport=udp", port, cid, body=body, proto=proto)
        if kind == 1:
            return sip("REGISTER", "sip:example.com", port, cid, cseq=rng.randrange(1, 99), proto=proto)
        if kind == 2:
            return sip("OPTIONS", "sip:bob@127.0.0.1", port, cid, body=body, proto=proto, extra="X-Evapi: 1\r\n" if rng.random() < 0.3 else "")
        if kind == 3:
            return sip("INVITE", "sip:bob@example.com", port, cid, extra="X-Relay: 1\r\n", body=body, proto=proto)
        if kind == 4:
            return sip("MESSAGE", "sip:bob@example.com", port, cid, extra="X-Async: 1\r\n" if rng.random() < 0.5 else "", body=body, proto=proto)
        # a reply (to nothing): forwarded statelessly to the next Via
        r = sip("INVITE", "sip:x", port, cid, body=body, proto=proto)
        r = r.replace(b"INVITE sip:x SIP/2.0", b"SIP/2.0 " + rng.choice([b"100 Trying", b"180 Ringing", b"200 OK", b"487 Terminated"]), 1)
        r = r.replace(b"SIP/2.0/UDP [2001:db8::1]:5060", b"SIP/2.0/UDP 127.0.0.1:%d" % self.srv.ports["DEAD_PORT"])
        return r

    def drain(self, sock, wait=0.0):
        sock.setblocking(False)
        end = time.time() + wait
        n = 0
        while True:
            r, _, _ = select.select([sock], [], [], max(0.0, end - time.time()))
            if not r:
                return n
            try:
                if not sock.recv(70000):
                    return n  # closed by the server
                n += 1
            except OSError:
                return n

    # --- batches -------------------------------------------------------
    def sip_udp(self, count):
        for _ in range(count):
            m = mutate_sip(self.rng, self.base())
            if self.rng.random() < 0.3:
                m = mutate_sip(self.rng, m)
            try:
                self.udp.sendto(m[:65000], self.sip)
            except OSError:
                pass
            self.drain(self.udp, 0.002)
            self.answer_hop()

    def answer_hop(self):
        """Answer relayed requests with mutated replies (tm reply matching)."""
        self.hop.setblocking(False)
        while True:
            try:
                req, addr = self.hop.recvfrom(70000)
            except OSError:
                return
            if not req.startswith(b"INVITE") and not req.startswith(b"CANCEL") and not req.startswith(b"ACK"):
                continue
            if req.startswith(b"ACK"):
                continue
            head = req.split(b"\r\n\r\n")[0].split(b"\r\n")
            keep = [l for l in head[1:] if l.lower().split(b":")[0] in (b"via", b"from", b"to", b"call-id", b"cseq", b"record-route")]
            for code in self.rng.sample([b"100 Trying", b"180 Ringing", b"183 Progress", b"200 OK", b"486 Busy", b"603 No"], 2):
                rep = b"SIP/2.0 " + code + b"\r\n" + b"\r\n".join(keep) + b"\r\nTo-Tag-Fix: 1\r\nContent-Length: 0\r\n\r\n"
                rep = rep.replace(b"\r\nTo: <sip:bob@example.com>", b"\r\nTo: <sip:bob@example.com>;tag=hop")
                if self.rng.random() < 0.7:
                    rep = mutate_sip(self.rng, rep)
                try:
                    self.hop.sendto(rep[:65000], addr)
                except OSError:
                    pass

    def sip_tcp(self, count):
        rng = self.rng
        conns = []
        for _ in range(count):
            try:
                if not conns or rng.random() < 0.3:
                    s = socket.create_connection(self.sip, timeout=2)
                    conns.append(s)
                s = rng.choice(conns)
                m = self.base("TCP", s.getsockname()[1])
                m = mutate_sip(rng, m)
                if rng.random() < 0.2:  # two messages in one write
                    m += self.base("TCP", s.getsockname()[1])
                if rng.random() < 0.2:  # keepalives
                    m = b"\r\n\r\n" + m
                if rng.random() < 0.15:  # vanish mid-frame
                    s.sendall(m[: rng.randrange(1, len(m) + 1)])
                    if rng.random() < 0.5:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                    conns.remove(s)
                    continue
                s.sendall(m)
                self.drain(s)
            except OSError as e:
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                if s in conns:
                    conns.remove(s)
                    s.close()
            if len(conns) > 20:
                conns.pop(0).close()
            self.answer_hop()
        for s in conns:
            s.close()

    def evapi(self, count):
        rng = self.rng
        port = self.srv.ports["EVAPI_PORT"]
        frames = [
            lambda: b"5:hello,", lambda: b'17:{"cmd": "ping\\"x"},', lambda: b"99999999999999999999:", lambda: b"-1:x,",
            lambda: b"abc:", lambda: b"5:hello", lambda: b"5:helloX", lambda: b":,", lambda: b"0:,", lambda: b"00000000000000000000000005:hello,",
            lambda: b"3000:" + b"a" * 3000 + b",", lambda: b"1999:" + b"a" * 1999 + b",", lambda: b"%d:" % 10**6 + b"b" * 5000,
            lambda: bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), lambda: b"4:\xff\xfe\x00\x01,",
            lambda: b"10:" + json.dumps({"cmd": "x" * 3}).encode()[:10] + b",", lambda: b"200:" + b'{"cmd":"' + b"\\u00" * 40,
            lambda: b"1" * 5000, lambda: b"5:he", lambda: b'30:{"cmd": {"a": [1,2,3]}, "x": 1},',
        ]
        socks = []
        for _ in range(count):
            try:
                if not socks or rng.random() < 0.3:
                    socks.append(socket.create_connection(("127.0.0.1", port), timeout=2))
                s = rng.choice(socks)
                data = b"".join(rng.choice(frames)() for _ in range(rng.randrange(1, 4)))
                if rng.random() < 0.2:
                    s.sendall(data[: rng.randrange(1, len(data) + 1)])
                    s.close()
                    socks.remove(s)
                    continue
                s.sendall(data)
                self.drain(s)
            except OSError as e:
                self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                if s in socks:
                    socks.remove(s)
                    s.close()
            if len(socks) > 6:
                socks.pop(0).close()
        for s in socks:
            s.close()

    def rpc_payloads(self):
        rng = self.rng
        good = {"jsonrpc": "2.0", "method": rng.choice(["core.echo", "core.version", "htable.dump", "htable.get", "stats.get_statistics", "tm.stats",
                                                        "evrexec.run", "core.printi", "htable.sets", "htable.delete", "core.psx", "htable.listTables", "nope"]),
                "params": rng.choice([[], ["h"], ["h", "cnt"], ["h", "k", "v"], ["all"], [1, 2], {"a": 1}, [None], [[1]], ["evrexec:udp", "x"], "x", 5, [10**30]]),
                "id": rng.choice([1, "x", None, [], 10**30, -1])}
        s = json.dumps(good).encode()
        return rng.choice([
            s, s[: rng.randrange(len(s))], b"", b"{", b"[" * 5000, b"{\"a\":" * 5000, b"null", b"[]", b"[1,2]", b'"x"',
            b'{"jsonrpc": "2.0", "method": "core.echo", "params": ["\\ud800"], "id": 1}', b"\xff\xfe", b'{"jsonrpc":"2.0","method":' + b"1" * 400 + b"}",
            b'{"jsonrpc": "2.0", "method": "core.echo", "params": [' + b"1," * 3000 + b"1], \"id\": 1}",
            bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))), s + b"junk", s.replace(b'"', b"'"),
        ])

    def rpc(self, count):
        rng = self.rng
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        for _ in range(count):
            k = rng.randrange(4)
            p = self.rpc_payloads()
            try:
                if k == 0:
                    u.sendto(p, ("127.0.0.1", self.srv.ports["RPC_PORT"]))
                    self.drain(u, 0.01)
                elif k == 1:
                    self.http(self.srv.ports["HTTP_PORT"], p)
                elif k == 2:
                    self.http(self.srv.ports["SIP_PORT"], p, path=b"/RPC")
                else:
                    # FIFO: text request with a reply_name, or junk
                    if rng.random() < 0.5 and p[:1] == b"{":
                        try:
                            d = json.loads(p)
                            if isinstance(d, dict):
                                d["reply_name"] = rng.choice(["nope", "../../etc/x", "", "a/b", "x" * 300])
                                p = json.dumps(d).encode()
                        except (ValueError, RecursionError):
                            pass
                    fd = os.open(self.srv.fifo, os.O_WRONLY | os.O_NONBLOCK)
                    try:
                        os.write(fd, p + (b"\n" if rng.random() < 0.7 else b""))
                    finally:
                        os.close(fd)
            except OSError:
                pass
        u.close()

    def http(self, port, body, path=b"/RPC"):
        rng = self.rng
        method = rng.choice([b"POST", b"GET", b"PUT", b"POST", b"BREW", b"\xff", b""])
        cl = rng.choice([str(len(body)).encode(), str(len(body)).encode(), b"-1", b"99999999999999999999", b"0", str(len(body) + 50).encode(), b"abc"])
        hdrs = [b"Host: x", b"Content-Length: " + cl]
        if rng.random() < 0.2:
            hdrs.append(b"Transfer-Encoding: chunked")
        if rng.random() < 0.1:
            hdrs.append(b"X-Long: " + b"y" * 100000)
        if rng.random() < 0.1:
            hdrs += [b"X-%d: v" % i for i in range(3000)]
        req = method + b" " + rng.choice([path, b"/", b"/RPC?x=%zz", b"/" + b"a" * 9000, b"", b"*"]) + b" " + rng.choice([b"HTTP/1.1", b"HTTP/1.0", b"HTTP/9", b""]) + b"\r\n" + b"\r\n".join(hdrs) + b"\r\n\r\n" + body
        if rng.random() < 0.2:
            req = mutate_sip(rng, req)
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        try:
            if rng.random() < 0.2:
                s.sendall(req[: rng.randrange(1, len(req) + 1)])
            else:
                s.sendall(req)
                self.drain(s, 0.02)
        finally:
            s.close()

    def datagrams(self, count):
        rng = self.rng
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        for _ in range(count):
            port = rng.choice([self.srv.ports["EVR_PORT"], self.srv.ports["SIP_PORT"], self.srv.ports["CTL_PORT"]])
            n = rng.choice([0, 1, 31, 32, 33, 100, 1500, 9000, 65000])
            d = rng.choice([
                bytes(rng.randrange(256) for _ in range(min(n, 2000))) * (max(1, n // 2000)),
                b"KREQ " + b"x" * n, b'{"x": ' * (n // 6 + 1), b"\x00" * n, b"RESUME 1 2 " + b"\xff" * n,
                b"GET / HTTP/1.1\r\n\r\n" + b"z" * n, b"SIP/2.0 200 OK\r\n" + b"q" * n,
                # BINRPC-ish: magic, version, flags, bogus lengths
                bytes([0xA1, rng.randrange(256), rng.randrange(256), rng.randrange(256)]) + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60))),
            ])
            try:
                u.sendto(d[:65000], ("127.0.0.1", port))
            except OSError:
                pass
            self.drain(u)
        u.close()

    def binrpc_tcp(self, count):
        rng = self.rng
        for _ in range(count):
            try:
                s = socket.create_connection(("127.0.0.1", self.srv.ports["CTL_PORT"]), timeout=2)
                d = bytes([0xA1, rng.choice([0, 0x10, 0x33, 0xFF]), rng.randrange(256), rng.randrange(256)]) + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
                if rng.random() < 0.3:
                    d = valid_binrpc(rng)
                    if rng.random() < 0.8:
                        b = bytearray(d)
                        for _ in range(rng.randrange(1, 4)):
                            b[rng.randrange(len(b))] = rng.randrange(256)
                        d = bytes(b)
                s.sendall(d)
                self.drain(s, 0.01)
                s.close()
            except OSError:
                pass

    # --- checks --------------------------------------------------------
    def check(self, what):
        cid = f"alive-{self.n}"
        self.n += 1
        msg = sip("OPTIONS", "sip:alive@127.0.0.1", self.uport, cid)
        ok = False
        deadline = time.time() + 10
        self.udp.sendto(msg, self.sip)
        self.udp.setblocking(True)
        while time.time() < deadline:
            self.udp.settimeout(max(0.01, deadline - time.time()))
            try:
                r = self.udp.recv(70000)
            except OSError:
                break
            if (b"Call-ID: " + cid.encode()) in r:
                ok = r.startswith(b"SIP/2.0 200")
                break
        self.answer_hop()
        log = self.srv.text()
        panics = log.count("panicked")
        status = "ok"
        if not self.srv.alive():
            status = "DEAD"
        elif not ok:
            status = "NO REPLY"
        if panics:
            status += f" ({panics} panics)"
        print(f"{what}: {status} {self.errors or ''}", flush=True)
        self.errors = {}
        if status != "ok":
            self.failures.append(what)
        return self.srv.alive()


def valid_binrpc(rng):
    # A BINRPC request: magic/version 0xA1, flags 0, length and cookie sizes.
    def s(v):
        v = v.encode() + b"\x00"
        return bytes([(len(v) << 4) | 1]) if len(v) < 8 else bytes([0x81 | (1 << 4), len(v)]) + v[:0]
    method = rng.choice(["core.echo", "core.version", "htable.dump", "nope"]).encode() + b"\x00"
    body = bytes([(len(method) << 4) | 1]) + method if len(method) < 8 else bytes([0x80 | (1 << 4) | 1, len(method)]) + method
    cookie = b"\x00\x00\x00\x01"
    return bytes([0xA1, 0x00 | (0 << 2) | 3, 0, 0, len(body)]) + cookie + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="/work/tgt/fuzz/debug/siprd")
    ap.add_argument("--cases", type=int, default=200, help="cases per batch")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-port", type=int, default=5760)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(args, tmp)
        try:
            f = Fuzz(args, srv)
            time.sleep(1.5)
            if not f.check("start"):
                print(srv.text())
                return 1
            batches = [("sip-udp", f.sip_udp), ("sip-tcp", f.sip_tcp), ("evapi", f.evapi), ("rpc", f.rpc),
                       ("datagrams", f.datagrams), ("binrpc-tcp", f.binrpc_tcp)]
            for r in range(args.rounds):
                for name, fn in batches:
                    if args.only and name not in args.only.split(","):
                        continue
                    t = time.time()
                    fn(args.cases)
                    if not f.check(f"round {r} {name} ({args.cases} cases, {time.time() - t:.1f}s)"):
                        break
            log = srv.text()
            if os.environ.get("FUZZ_LOG"):
                open(os.environ["FUZZ_LOG"], "w").write(log)
            lines = log.splitlines()
            for i, line in enumerate(lines):
                if "panicked" in line:
                    print("\n".join(lines[i : i + 4]))
            if f.failures:
                print("FAILURES:", f.failures)
                print(log[-3000:])
                return 1
            return 0
        finally:
            srv.stop()


if __name__ == "__main__":
    sys.exit(main())
