#!/usr/bin/env python3
"""probe.py CASEFILE [-H HEADERFILE] [-v] [--full] [--only kam|siprd]

Runs each `=== name` case (a request_route body) on real Kamailio and on siprd
and prints the differences. Env: PROBE_PORT (server port, default 5978),
PROBE_SINK (UDP sink port, default PROBE_PORT+1), PROBE_WAIT (seconds to wait
for a case's reply, default 1; replies are matched by Call-ID), PROBE_DIR (work dir, default
dir of CASEFILE),
SIPRD_BIN (default: target/release/siprd of this checkout).

In a case body:
  %hdr: Name: value     extra header line in the request sent for this case
  %body: text           request body (\\n and \\r\\n escapes allowed)
  %method: INVITE       request method (default OPTIONS)
  @SINK@                replaced by the sink port: forward("127.0.0.1", @SINK@)
                        sends the (edited) request to the sink, which is captured
Compared: the whole reply (--full) or its first line, plus whatever reached the
sink. To-tags, Via branches of the server and ports are normalised.
"""
import os, re, sys, socket, subprocess, time
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import generate as g

args = sys.argv[1:]
verbose = "-v" in args
full = "--full" in args
only = None
if "--only" in args:
    only = args[args.index("--only") + 1]
hdrfile = args[args.index("-H") + 1] if "-H" in args else None
casefile = args[0]
SPORT = int(os.environ.get("PROBE_PORT", "5978"))
SINK = int(os.environ.get("PROBE_SINK", str(SPORT + 1)))
WAIT = float(os.environ.get("PROBE_WAIT", "1.0"))
WORK = os.environ.get("PROBE_DIR", os.path.dirname(os.path.abspath(casefile)))

def load(path):
    cases, name, body = [], None, []
    for line in open(path):
        if line.startswith("=== "):
            if name: cases.append((name, "".join(body)))
            name, body = line[4:].strip(), []
        elif name: body.append(line)
    if name: cases.append((name, "".join(body)))
    return cases

def split_case(text):
    extra, body, method, script = [], None, "OPTIONS", []
    for line in text.splitlines(keepends=True):
        s = line.strip()
        if s.startswith("%hdr:"): extra.append(line.rstrip("\r\n").lstrip()[5:].lstrip())  # trailing blanks kept
        elif s.startswith("%body:"): body = s[6:].strip().replace("\\r\\n", "\r\n").replace("\\n", "\n")
        elif s.startswith("%method:"): method = s[8:].strip()
        else: script.append(line.replace("@SINK@", str(SINK)))
    return extra, body, method, "".join(script)

def request(name, cport, extra, body, method):
    r = g.request(name, cport, SPORT)
    head, _, oldbody = r.partition("\r\n\r\n")
    lines = head.split("\r\n")
    lines[0] = lines[0].replace("OPTIONS", method, 1)
    lines = [l.replace("CSeq: 42 OPTIONS", f"CSeq: 42 {method}") for l in lines]
    if body is None: body = oldbody
    lines = [l for l in lines if not l.startswith("Content-Length")]
    lines += extra
    lines.append(f"Content-Length: {len(body.encode())}")
    return "\r\n".join(lines) + "\r\n\r\n" + body

def norm(text, cport):
    # branches and tags first: they may contain a port's digits
    text = re.sub(r"tag=[0-9a-f]{32}\.[0-9a-f]+", "tag=TAG", text)
    text = re.sub(r"tag=[0-9a-f]{32}-[0-9a-f]+", "tag=TAG", text)
    text = re.sub(r"branch=z9hG4bK[0-9a-zA-Z.\-_]*", "branch=BR", text)
    text = text.replace(str(cport), "{cport}").replace(str(SPORT), "{sport}").replace(str(SINK), "{sink}")
    text = re.sub(r"Server: .*\r\n", "", text)
    text = re.sub(r"User-Agent: kamailio.*\r\n|User-Agent: siprd.*\r\n", "", text)
    return text

def run(cmd, cases, cfgpath):
    log = open(cfgpath + "." + os.path.basename(cmd[0]) + ".log", "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=log)
    time.sleep(2)
    if p.poll() is not None:
        print(open(log.name).read()[-3000:]); return None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); s.settimeout(1.0)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sink.bind(("127.0.0.1", SINK)); sink.settimeout(0.3)
    cport = s.getsockname()[1]; out = {}
    for name, text in cases:
        extra, body, method, _ = split_case(text)
        s.sendto(request(name, cport, extra, body, method).encode(), ("127.0.0.1", SPORT))
        rep = "NO REPLY"
        deadline = time.time() + WAIT
        # Replies to earlier cases (late async ones) are skipped: the reply
        # of this case carries its Call-ID.
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try: r = s.recv(65535).decode(errors="replace")
            except socket.timeout: break
            if f"Call-ID: cid-{name}@host\r\n" in r:
                rep = r if full else r.split("\r\n")[0]
                break
        got = []
        try:
            while True: got.append(sink.recv(65535).decode(errors="replace"))
        except socket.timeout: pass
        res = norm(rep, cport)
        if got: res += "\n--- sink ---\n" + "\n--- sink ---\n".join(norm(x, cport) for x in got)
        out[name] = res
    p.terminate(); p.wait(5); sink.close()
    return out

cases = load(casefile)
cfg = g.build_config([(n, split_case(t)[3]) for n, t in cases], f"udp:127.0.0.1:{SPORT}")
if hdrfile:
    cfg = cfg.replace('loadmodule "xlog.so"\n', 'loadmodule "xlog.so"\n' + open(hdrfile).read())
path = os.path.join(WORK, "probe.cfg"); open(path, "w").write(cfg)
k = s = None
if only != "siprd": k = run(["kamailio", "-f", path, "-DD", "-E", "-x", "tlsf", "-M", "64"], cases, path)
if only != "kam": s = run([os.environ.get("SIPRD_BIN", os.path.join(HERE, "../../target/release/siprd")), "-f", path], cases, path)
if only:
    r = k if only == "kam" else s
    if r is None: sys.exit(1)
    for n, _ in cases: print(f"=== {n}\n{r[n]}")
    sys.exit(0)
if k is None or s is None: sys.exit(1)
nd = 0
for name, _ in cases:
    if k[name] != s[name]:
        nd += 1; print(f"DIFF {name}\n  kam:   {k[name]!r}\n  siprd: {s[name]!r}")
    elif verbose: print(f"same {name}: {k[name]!r}")
print(f"{len(cases)} cases, {nd} differ")
