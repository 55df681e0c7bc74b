#!/usr/bin/env python3
"""sweep.py SCENARIO.py [...] [--only kam|siprd] [-v]

End-to-end differential runs of Lua-routed configs: each scenario file
defines CFG (a config text), LUA (the app_lua script) and `drive(c)` (the
traffic). The same scenario runs on Kamailio 5.6 and on siprd; everything
observable is recorded per channel and the channels are diffed:
  client  datagrams that reached the SIP client (replies)
  hop     datagrams that reached the next hop (forwarded requests, CANCELs)
  evapi   bytes received by each evapi client
  rpc     JSON-RPC replies (datagram transport)
  log     log lines containing "@@" (the scripts' marks) or "app_lua"/"Lua"
Placeholders in CFG/LUA: @PORT@ (SIP), @HOP@, @EVAPI@, @RPC@, @EVR@, @DIR@.
Env: SWEEP_BASE (first port, default 5700), SIPRD_BIN.
"""
import json, os, re, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../.."))
BASE = int(os.environ.get("SWEEP_BASE", "5700"))
PORT, HOP, EVAPI, RPC, EVR, CLIENT, CLIENT2 = (BASE + i for i in range(7))

HEAD = f"""debug=2
log_stderror=yes
children=2
async_workers=1
disable_tcp=no
listen=udp:127.0.0.1:{PORT}
listen=tcp:127.0.0.1:{PORT}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
"""


def norm(text):
    for p, n in ((PORT, "{port}"), (HOP, "{hop}"), (CLIENT, "{client}"), (CLIENT2, "{client2}"), (EVAPI, "{evapi}")):
        text = text.replace(str(p), n)
    text = re.sub(r"tag=[0-9a-f]{32}[-.][0-9a-f]+", "tag=TAG", text)
    text = re.sub(r"branch=z9hG4bK[0-9a-zA-Z.\-_]*", "branch=BR", text)
    text = re.sub(r"(Server|User-Agent): (kamailio|siprd)[^\r\n]*\r\n", "", text)
    return text


class C:
    def __init__(self, tag):
        self.tag = tag
        self.out = {"client": [], "hop": [], "evapi": [], "rpc": [], "note": []}
        self.cli = self._udp(CLIENT)
        self.hop = self._udp(HOP)
        self.evs = []
        self.n = 0

    def _udp(self, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.settimeout(0.05)
        return s

    def close(self):
        self.cli.close(); self.hop.close()
        for e in self.evs:
            e.close()

    def note(self, x):
        self.out["note"].append(str(x))

    # --- SIP ---
    def req(self, method, user, extra="", body="", cid=None, cseq=1, totag=False, via_branch=None, ruri=None):
        self.n += 1
        cid = cid or f"c{self.n}-{user}"
        ruri = ruri or f"sip:{user}@127.0.0.1:{PORT}"
        br = via_branch or f"z9hG4bKc{self.n}x{user}"
        to = "<sip:b@example.org>" + (";tag=tt1" if totag else "")
        cm = "ACK" if method == "ACK" else method
        m = (f"{method} {ruri} SIP/2.0\r\n"
             f"Via: SIP/2.0/UDP 127.0.0.1:{CLIENT};branch={br};rport\r\n"
             f"Max-Forwards: 70\r\n"
             f"From: <sip:alice@example.com>;tag=ft{self.n}\r\nTo: {to}\r\n"
             f"Call-ID: {cid}\r\nCSeq: {cseq} {cm}\r\n"
             f"Contact: <sip:alice@127.0.0.1:{CLIENT}>\r\n{extra}"
             f"Content-Length: {len(body.encode())}\r\n\r\n{body}")
        self.cli.sendto(m.encode(), ("127.0.0.1", PORT))
        return m

    def raw(self, data):
        self.cli.sendto(data.encode() if isinstance(data, str) else data, ("127.0.0.1", PORT))

    def _collect(self, sock, wait, chan):
        end = time.time() + wait
        got = []
        while time.time() < end:
            try:
                d, a = sock.recvfrom(65535)
            except (socket.timeout, BlockingIOError):
                continue
            t = d.decode(errors="replace")
            got.append((t, a))
            self.out[chan].append(norm(t))
        return got

    def replies(self, wait=0.6):
        return [t for t, _ in self._collect(self.cli, wait, "client")]

    def hops(self, wait=0.6):
        return self._collect(self.hop, wait, "hop")

    def answer(self, req, addr, status, body=""):
        lines = [f"SIP/2.0 {status}"]
        for l in req.split("\r\n")[1:]:
            if not l:
                break
            name = l.split(":")[0].lower()
            if name in ("via", "from", "call-id", "cseq", "record-route"):
                lines.append(l)
            elif name == "to":
                lines.append(l if status.startswith("100") or "tag=" in l else l + ";tag=hoptag")
        lines.append(f"Contact: <sip:hop@127.0.0.1:{HOP}>")
        lines.append(f"Content-Length: {len(body)}")
        self.hop.sendto(("\r\n".join(lines) + "\r\n\r\n" + body).encode(), addr)

    # --- evapi ---
    def ev_connect(self):
        s = socket.create_connection(("127.0.0.1", EVAPI), 2)
        s.settimeout(0.05)
        self.evs.append(s)
        return len(self.evs) - 1

    def ev_send(self, i, data, netstring=True):
        b = data.encode()
        if netstring:
            b = str(len(b)).encode() + b":" + b + b","
        self.evs[i].sendall(b)

    def ev_recv(self, wait=0.6):
        end = time.time() + wait
        bufs = [b"" for _ in self.evs]
        while time.time() < end:
            for i, s in enumerate(self.evs):
                try:
                    d = s.recv(65535)
                    bufs[i] += d if d else b"<EOF>"
                    if not d:
                        time.sleep(0.05)
                except (socket.timeout, BlockingIOError, OSError):
                    pass
        for i, b in enumerate(bufs):
            if b:
                self.out["evapi"].append(f"{i}: {norm(b.decode(errors='replace'))}")
        return bufs

    def ev_close(self, i):
        self.evs[i].close()

    # --- JSON-RPC ---
    def rpc(self, method, *params, wait=1.5):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.settimeout(wait)
        s.sendto(json.dumps({"jsonrpc": "2.0", "method": method, "params": list(params), "id": 1}).encode(), ("127.0.0.1", RPC))
        try:
            r = s.recv(65535).decode(errors="replace")
            try:
                r = json.dumps(json.loads(r), sort_keys=True)
            except ValueError:
                pass
        except socket.timeout:
            r = "NO RPC REPLY"
        s.close()
        self.out["rpc"].append(f"{method}: {norm(r)}")
        return r

    def udp_to(self, port, data):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(data.encode(), ("127.0.0.1", port))
        s.close()


def logfilter(text):
    out = []
    for l in text.splitlines():
        if "@@" in l or "app_lua" in l.lower() or "lua" in l:
            l = re.sub(r"^\s*\d+\(\d+\)\s+", "", l)
            l = re.sub(r"^\S+ \[\d+\]: ", "", l)
            out.append(norm(l))
    return out


def run(tag, cmd, scen, work):
    logp = os.path.join(work, tag + ".log")
    log = open(logp, "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=work)
    time.sleep(getattr(scen, "STARTUP", 1.5))
    c = C(tag)
    if p.poll() is not None:
        c.close()
        return {"startup": ["EXITED " + str(p.returncode)], "log": logfilter(open(logp).read())[-20:]}
    try:
        scen.drive(c)
    except Exception as e:  # noqa
        c.note("drive error: " + repr(e))
    time.sleep(getattr(scen, "SETTLE", 0.5))
    c.close()
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
    out = dict(c.out)
    out["log"] = logfilter(open(logp).read())
    return out


def subst(t, work):
    return (t.replace("@PORT@", str(PORT)).replace("@HOP@", str(HOP)).replace("@EVAPI@", str(EVAPI))
            .replace("@RPC@", str(RPC)).replace("@EVR@", str(EVR)).replace("@DIR@", work))


def main():
    args = sys.argv[1:]
    only = args[args.index("--only") + 1] if "--only" in args else None
    verbose = "-v" in args
    files = [a for a in args if a.endswith(".py")]
    import importlib.util
    for f in files:
        spec = importlib.util.spec_from_file_location("scen", f)
        scen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(scen)
        work = tempfile.mkdtemp(prefix="sweep-")
        cfg = HEAD + subst(scen.CFG, work)
        if "app_lua" not in cfg:
            cfg += 'loadmodule "app_lua.so"\n'
        eng = f'modparam("app_lua", "load", "{work}/s.lua")\ncfgengine "lua"\n'
        cfg = cfg.replace("@ENGINE@", eng) if "@ENGINE@" in cfg else cfg + eng
        open(os.path.join(work, "k.cfg"), "w").write(cfg)
        open(os.path.join(work, "s.lua"), "w").write(subst(scen.LUA, work))
        res = {}
        if only != "siprd":
            res["kam"] = run("kam", ["kamailio", "-f", os.path.join(work, "k.cfg"), "-DD", "-E", "-x", "tlsf"], scen, work)
            time.sleep(0.5)
        if only != "kam":
            b = os.environ.get("SIPRD_BIN", os.path.join(ROOT, "target/release/siprd"))
            res["siprd"] = run("siprd", [b, "-f", os.path.join(work, "k.cfg")], scen, work)
        print(f"##### {os.path.basename(f)} ({work})")
        if only:
            for ch, v in res[only if only in res else "kam"].items():
                for x in v:
                    print(f"[{ch}] {x!r}")
            continue
        k, s = res["kam"], res["siprd"]
        nd = 0
        for ch in sorted(set(k) | set(s)):
            a, b = k.get(ch, []), s.get(ch, [])
            if ch == "log" and not verbose:
                a = [x for x in a if "@@" in x]
                b = [x for x in b if "@@" in x]
            if a != b:
                nd += 1
                print(f"--- {ch} differs")
                for x in a:
                    print(f"  K {x!r}")
                for x in b:
                    print(f"  S {x!r}")
            elif verbose:
                for x in a:
                    print(f"  = [{ch}] {x!r}")
        if verbose:
            print("  kam log:"); [print("   ", x) for x in k.get("log", [])]
            print("  siprd log:"); [print("   ", x) for x in s.get("log", [])]
        print(f"  {'SAME' if nd == 0 else f'{nd} channel(s) differ'}")


main()
