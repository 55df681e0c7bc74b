#!/usr/bin/env python3
"""run.py SCENARIO.py [...] [-v] [--only kam|siprd]

End-to-end differential runner for whole configs. A scenario file defines
  CFG    the config text; @SIP@ @EVAPI@ @RPC@ @EVR@ @HOP@ @HOP2@ @FIFO@ are
         replaced by fixed ports (5600..) / paths before it is written;
  drive(env)  the traffic: uses env.sip(), env.evapi(), env.rpc(), ... and
         env.note(text) to record what a client saw.
The same config runs on Kamailio 5.6.3 and on siprd; everything noted, plus
each log line the script printed with a `@@` marker, is normalised and the
two transcripts are diffed. Log lines are compared sorted (processes
interleave), notes in order. Timing shows through now and then (a UDP
retransmission caught or not, htable expiry at second granularity): rerun a
scenario before believing a one-off difference.
"""
import os, re, socket, subprocess, sys, time, json, difflib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../.."))
SIPRD = os.environ.get("SIPRD_BIN", os.path.join(ROOT, "target/release/siprd"))
BASE = int(os.environ.get("SCEN_BASE", "5600"))
PORTS = {"SIP": BASE, "EVAPI": BASE + 1, "RPC": BASE + 2, "EVR": BASE + 3,
         "HOP": BASE + 4, "HOP2": BASE + 5, "CLI": BASE + 6, "CLI2": BASE + 7}
TMP = os.environ.get("SCEN_TMP", "/tmp")
FIFO = os.path.join(TMP, "scen_fifo")


def request(method, ruri, cid, extra="", body="", via=None, cport=None, cseq=1, lf=False):
    cport = cport or PORTS["CLI"]
    via = via or f"Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-{cid}-{cseq}"
    lines = [f"{method} {ruri} SIP/2.0", via, "Max-Forwards: 70",
             f"From: <sip:alice@127.0.0.1>;tag=f-{cid}", "To: <sip:bob@127.0.0.1>",
             f"Call-ID: {cid}", f"CSeq: {cseq} {method}"]
    if extra:
        lines += [l for l in extra.split("\n") if l]
    lines.append(f"Content-Length: {len(body.encode())}")
    nl = "\n" if lf else "\r\n"
    return nl.join(lines) + nl + nl + body


def reply_to(req, status, totag="hoptag"):
    out = [f"SIP/2.0 {status}"]
    for l in req.split("\r\n")[1:]:
        if not l:
            break
        n = l.split(":", 1)[0].strip().lower()
        if n in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            out.append(l)
        elif n in ("to", "t"):
            out.append(l if status.startswith("100") or ";tag=" in l else l + f";tag={totag}")
    out.append("Content-Length: 0")
    return "\r\n".join(out) + "\r\n\r\n"


class Evapi:
    def __init__(self, env, name):
        self.env, self.name = env, name
        self.s = socket.create_connection(("127.0.0.1", PORTS["EVAPI"]), timeout=2)
        self.buf = b""
        env.ports[self.s.getsockname()[1]] = f"{{{name}}}"

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def ns(self, text):
        b = text.encode()
        self.send(str(len(b)).encode() + b":" + b + b",")

    def read(self, wait=0.6):
        """Everything that arrives within `wait` (raw)."""
        end = time.time() + wait
        while time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                d = self.s.recv(65536)
                if not d:
                    self.buf += b"<EOF>"
                    break
                self.buf += d
            except socket.timeout:
                break
            except OSError as e:
                self.buf += f"<{e.__class__.__name__}>".encode()
                break
        out, self.buf = self.buf, b""
        return out.decode(errors="replace")

    def note(self, wait=0.6):
        self.env.note(f"{self.name} got {self.read(wait)!r}")

    def close(self):
        self.s.close()


class Env:
    def __init__(self, tag):
        self.tag = tag
        self.notes = []
        self.ports = {}
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.udp.bind(("127.0.0.1", PORTS["CLI"]))
        self.hop = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.hop.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.hop.bind(("127.0.0.1", PORTS["HOP"]))
        self.evrsock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.evrsock.bind(("127.0.0.1", PORTS["CLI2"]))
        self.P = PORTS

    def note(self, text):
        self.notes.append(text)

    def send(self, data, port=None):
        self.udp.sendto(data if isinstance(data, bytes) else data.encode(), ("127.0.0.1", port or PORTS["SIP"]))

    def recv_all(self, sock, wait):
        out = []
        end = time.time() + wait
        while time.time() < end:
            sock.settimeout(max(0.01, end - time.time()))
            try:
                d, a = sock.recvfrom(65536)
                out.append(d.decode(errors="replace"))
            except socket.timeout:
                break
        return out

    def sip(self, data, wait=0.8, full=False, port=None):
        """Send a request, note every reply within `wait` (first line, or all)."""
        self.send(data, port)
        got = self.recv_all(self.udp, wait)
        for r in got:
            self.note("reply " + (r if full else r.split("\r\n")[0]))
        if not got:
            self.note("reply NONE")
        return got

    def replies(self, wait=0.8, full=False):
        got = self.recv_all(self.udp, wait)
        for r in got:
            self.note("reply " + (r if full else r.split("\r\n")[0]))
        return got

    def hop_recv(self, wait=0.8, note=True, full=False):
        got = self.recv_all(self.hop, wait)
        if note:
            for r in got:
                self.note("hop " + (r if full else r.split("\r\n")[0]))
        return got

    def hop_answer(self, req, status):
        self.hop.sendto(reply_to(req, status).encode(), ("127.0.0.1", PORTS["SIP"]))

    def evapi(self, name="c1"):
        return Evapi(self, name)

    def rpc(self, method, *params, raw=None, wait=1.0, quiet=False):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        body = raw if raw is not None else json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1})
        s.sendto(body.encode(), ("127.0.0.1", PORTS["RPC"]))
        s.settimeout(wait)
        try:
            r = s.recv(65536).decode(errors="replace")
            try:
                r = json.dumps(json.loads(r), sort_keys=True)
            except ValueError:
                pass
        except socket.timeout:
            r = "NONE"
        s.close()
        if not quiet:
            self.note(f"rpc {method} -> {r}")
        return r

    def http(self, path, body, wait=1.0, method="POST"):
        s = socket.create_connection(("127.0.0.1", PORTS["SIP"]), timeout=2)
        req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        s.sendall(req.encode())
        out = b""
        end = time.time() + wait
        while time.time() < end:
            s.settimeout(max(0.01, end - time.time()))
            try:
                d = s.recv(65536)
                if not d:
                    break
                out += d
            except socket.timeout:
                break
        s.close()
        t = out.decode(errors="replace")
        t = re.sub(r"Server: [^\r\n]*\r\n", "", t)
        self.note(f"http {path} -> {t!r}")
        return t

    def evr_udp(self, data):
        self.evrsock.sendto(data.encode(), ("127.0.0.1", PORTS["EVR"]))

    def sleep(self, s):
        time.sleep(s)

    def close(self):
        for s in (self.udp, self.hop, self.evrsock):
            s.close()


def norm(text, env):
    for p, n in env.ports.items():
        text = text.replace(str(p), n)
    text = re.sub(r"tag=[0-9a-f]{32}[.-][0-9a-f]+", "tag=TAG", text)
    text = re.sub(r"branch=z9hG4bK[0-9a-zA-Z.\-_]*", "branch=BR", text)
    text = re.sub(r"(Server|User-Agent): [^\r\n]*\r\n", "", text)
    text = re.sub(r"(Sia: SIP/2.0/TCP 127.0.0.1:)\d+", r"\1PORT", text)
    return text


def logs(path):
    out = []
    for line in open(path, errors="replace"):
        if "@@" in line:
            out.append(line.split("@@", 1)[1].rstrip("\n"))
    return out


def run_one(scen, kind, cfgtext):
    d = os.path.join(TMP, f"scen_{kind}")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, os.path.basename(scen["__file__"]).replace(".py", ".cfg"))
    open(path, "w").write(cfgtext)
    if os.path.exists(FIFO):
        os.unlink(FIFO)
    logp = path + ".log"
    log = open(logp, "w")
    if kind == "kam":
        cmd = ["nice", "-n", "19", "kamailio", "-f", path, "-DD", "-E", "-x", "tlsf", "-w", d]
    else:
        cmd = ["nice", "-n", "19", SIPRD, "-f", path]
    p = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=d)
    time.sleep(scen.get("START", 2.0))
    env = Env(kind)
    env.logpath = logp
    if p.poll() is not None:
        env.note(f"EXITED rc={p.returncode}")
    else:
        try:
            scen["drive"](env)
        except Exception as e:  # a client error is an observation too
            env.note(f"driver error {e.__class__.__name__}: {e}")
        time.sleep(scen.get("TAIL", 0.3))
    alive = p.poll() is None
    if alive:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    env.note("alive-at-end" if alive else "dead-at-end")
    env.close()
    log.close()
    notes = [norm(n, env) for n in env.notes]
    lg = sorted(norm(l, env) for l in logs(logp))
    return notes, lg, logp


def main():
    args = sys.argv[1:]
    verbose = "-v" in args
    only = args[args.index("--only") + 1] if "--only" in args else None
    files = [a for a in args if a.endswith(".py")]
    total_diff = 0
    for f in files:
        scen = {"__file__": f, "request": request, "reply_to": reply_to, "time": time, "json": json, "PORTS": PORTS}
        exec(compile(open(f).read(), f, "exec"), scen)
        cfg = scen["CFG"]
        for k, v in PORTS.items():
            cfg = cfg.replace(f"@{k}@", str(v))
        cfg = cfg.replace("@FIFO@", FIFO)
        res = {}
        for kind in ("kam", "siprd"):
            if only and kind != only:
                continue
            res[kind] = run_one(scen, kind, cfg)
        name = os.path.basename(f)
        if only:
            n, l, p = res[only]
            print(f"##### {name} ({only}, log {p})")
            print("\n".join(n + ["-- log --"] + l))
            continue
        kt = res["kam"][0] + ["-- log --"] + res["kam"][1]
        st = res["siprd"][0] + ["-- log --"] + res["siprd"][1]
        if kt == st:
            print(f"SAME {name} ({len(kt)} lines)")
            if verbose:
                print("\n".join(kt))
        else:
            total_diff += 1
            print(f"DIFF {name} (logs {res['kam'][2]} {res['siprd'][2]})")
            for l in difflib.unified_diff(kt, st, "kam", "siprd", lineterm="", n=2):
                print("   " + l)
    sys.exit(1 if total_diff else 0)


if __name__ == "__main__":
    main()
