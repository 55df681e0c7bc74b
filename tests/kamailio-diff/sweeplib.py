"""What the on-the-wire sweeps share: the config head both servers read,
starting / stopping a server on it, and running script cases through probe.py."""
import json, os, signal, subprocess, sys, tempfile, time

import generate as g

HERE = os.path.dirname(os.path.abspath(__file__))
SIPRD = os.path.join(HERE, "..", "..", "target", "release", "siprd")
# the server listens on 5998; Kamailio needs its module path
CFG_HEAD = """debug=0
log_stderror=yes
listen=udp:127.0.0.1:5998
children=2
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
"""


def start(binary, cfg):
    """Start `binary` (kamailio or siprd) on the config file `cfg`."""
    args = [binary, "-f", cfg, "-E"] + (["-DD", "-w", "/tmp"] if "kamailio" in binary else [])
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return p


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()


def report(sent, kam, ours):
    """Print what was sent where the two answers differ; the exit status."""
    diff = [(m, a, b) for m, a, b in zip(sent, kam, ours) if a != b]
    for m, a, b in diff:
        print(json.dumps(m.decode("latin-1")))
        print("  kamailio:", a)
        print("  siprd:   ", b)
    print(f"{len(diff)} of {len(sent)} differ")
    return 1 if diff else 0


def accepted(cmd, name, body, tmp):
    """Whether `cmd -c` (kamailio or siprd) loads the case config of one
    route body; the first error lines."""
    import generate as g
    path = os.path.join(tmp, "one.cfg")
    with open(path, "w") as f:
        f.write(g.build_config([(name, body)], "udp:127.0.0.1:5978"))
    r = subprocess.run(cmd + ["-c", "-f", path], capture_output=True, text=True)
    why = [l for l in (r.stdout + r.stderr).splitlines() if "rror" in l or "type mismatch" in l]
    return r.returncode == 0, "\n".join(why[:3])


def loadable(cases, tmp, script=lambda body: body):
    """The (name, body) cases both servers load, printing those only one
    loads (`script(body)` is what goes into the route); and how many those were."""
    good, diffs = [], 0
    for name, body in cases:
        k, kwhy = accepted(["kamailio"], name, script(body), tmp)
        s, swhy = accepted([SIPRD], name, script(body), tmp)
        if k != s:
            diffs += 1
            print(f"LOAD {name}: kamailio {'accepts' if k else 'refuses'}, "
                  f"siprd {'accepts' if s else 'refuses'}\n{body}{kwhy or swhy}\n")
        elif k:
            good.append((name, body))
    return good, diffs


def probe_cases(cases, tmp):
    """Run (name, route body) cases on both servers through probe.py and print
    its verdict, each difference followed by the case's body."""
    casefile = os.path.join(tmp, "cases.txt")
    with open(casefile, "w") as f:
        for name, body in cases:
            f.write(f"=== {name}\n{body}")
    r = subprocess.run([sys.executable, os.path.join(HERE, "probe.py"), casefile],
                       env=dict(os.environ, PROBE_DIR=tmp, PROBE_WAIT="0.5"),
                       capture_output=True, text=True)
    klog = os.path.join(tmp, "probe.cfg.kamailio.log")
    if os.path.exists(klog) and "exited by a signal" in open(klog, errors="replace").read():
        print("WARNING: Kamailio crashed; the cases after the crash compare nothing")
    bodies = dict(cases)
    for line in r.stdout.splitlines():
        print(line)
        if line.startswith("DIFF "):
            print(bodies.get(line[5:].strip(), ""))
    print(r.stderr[-2000:], end="")


def sweep_main(cfg_text, run, count, seed):
    """A sweep's command line, `[COUNT] [SEED]` (defaults `count`, `seed`):
    `run(binary, seed, count, cfg)` on Kamailio, then on siprd, with the
    config `cfg_text`; exits with `report`'s status."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else count
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else seed
    with tempfile.TemporaryDirectory() as tmp:
        cfg = os.path.join(tmp, "sweep.cfg")
        with open(cfg, "w") as f:
            f.write(cfg_text)
        kam, sent = run("kamailio", seed, count, cfg)
        ours, _ = run(SIPRD, seed, count, cfg)
    sys.exit(report(sent, kam, ours))
