#!/usr/bin/env python3
"""Record how Kamailio 5.6 (app_lua) answers each KEMI case of cases.lua.

    python3 tests/kamailio-diff/kemi/generate.py          # writes expected.txt
    python3 tests/kamailio-diff/kemi/generate.py --diff   # runs siprd too, prints differences

Each `T.<name>` of cases.lua is run by harness.lua for a request whose R-URI
user is <name>; the reply's reason phrase is the case's answer. expected.txt
holds `name<TAB>answer` lines; crates/siprd/tests/kemi.rs checks siprd against
them. Env: KEMI_PORT (default 26070), SIPRD_BIN (default target/debug/siprd).
"""
import os, re, sys, socket, subprocess, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "../../.."))
PORT = int(os.environ.get("KEMI_PORT", "26070"))


def case_names():
    return re.findall(r"^T\.([A-Za-z0-9_]+)\s*=", open(os.path.join(HERE, "cases.lua")).read(), re.M)


def request(name, port, cport):
    method = name.split("_")[1] if name.startswith("m_") else "OPTIONS"
    return (
        f"{method} sip:{name}@127.0.0.1:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-{name}\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.org>\r\n"
        f"Call-ID: {name}@x\r\nCSeq: 1 {method}\r\n"
        "X-A: one\r\nX-A: two\r\nX-B: three\r\nContent-Length: 0\r\n\r\n"
    )


def run(cmd, work, tag, names):
    log = open(os.path.join(work, tag + ".log"), "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=log)
    time.sleep(1.5)
    if p.poll() is not None:
        sys.exit(open(log.name).read()[-3000:])
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(1.5)
    out = {}
    for n in names:
        s.sendto(request(n, PORT, s.getsockname()[1]).encode(), ("127.0.0.1", PORT))
        # this case's final reply (a late reply of another case is skipped)
        out[n] = "NO REPLY"
        deadline = time.time() + 1.5
        while time.time() < deadline:
            s.settimeout(max(0.01, deadline - time.time()))
            try:
                r = s.recv(65535).decode(errors="replace")
            except socket.timeout:
                break
            if f"Call-ID: {n}@x\r\n" in r and not r.startswith("SIP/2.0 1"):
                out[n] = r.split("\r\n")[0].split(" ", 2)[-1]
                break
    p.terminate()
    p.wait(5)
    return out


def main():
    names = case_names()
    work = tempfile.mkdtemp(prefix="kemi-diff-")
    for f in ["harness.lua", "cases.lua"]:
        open(os.path.join(work, f), "w").write(open(os.path.join(HERE, f)).read())
    cfg = open(os.path.join(HERE, "cfg.tmpl")).read().replace("@PORT@", str(PORT))
    cfg = cfg.replace('modparam("app_lua", "load", "harness.lua")',
                      f'modparam("app_lua", "load", "{work}/harness.lua")')
    path = os.path.join(work, "k.cfg")
    open(path, "w").write(cfg)
    kam = run(["kamailio", "-f", path, "-DD", "-E", "-x", "tlsf"], work, "kamailio", names)
    if "--diff" not in sys.argv:
        with open(os.path.join(HERE, "expected.txt"), "w") as f:
            for n in names:
                f.write(f"{n}\t{kam[n]}\n")
        print(f"expected.txt: {len(names)} cases")
        return
    bin_ = os.environ.get("SIPRD_BIN", os.path.join(ROOT, "target/debug/siprd"))
    ours = run([bin_, "-f", path], work, "siprd", names)
    nd = 0
    for n in names:
        if kam[n] != ours[n]:
            nd += 1
            print(f"DIFF {n}\n  kamailio: {kam[n]}\n  siprd:    {ours[n]}")
    print(f"{len(names)} cases, {nd} differ")


main()
