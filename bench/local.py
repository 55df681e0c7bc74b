#!/usr/bin/env python3
"""siprd's own bench scenarios (bench/scenarios/NAME/) run by the shared
harness: its run.py is loaded as a library and pointed at this folder, so
options, measurement and result files are the harness's own.

  bench/local.py --server 'siprd -f {cfg}' --scenario proxy_call --quick
  bench/local.py report RUN_DIR [RUN_DIR ...]     # the figures these scenarios add

HARNESS=/path/to/shared/bench selects the harness (default: ../shared/bench
next to the repository, then /work/shared/bench).
"""
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCEN_DIR = os.path.join(HERE, "scenarios")


def harness_dir():
    env = os.environ.get("HARNESS")
    cands = [env] if env else [os.path.join(HERE, "..", "..", "shared", "bench"),
                               os.path.join(HERE, "..", "..", "..", "shared", "bench")]
    for c in cands:
        if c and os.path.exists(os.path.join(c, "run.py")):
            return os.path.abspath(c)
    raise SystemExit("bench harness not found (set HARNESS=/path/to/shared/bench)")


def names():
    return sorted(n for n in os.listdir(SCEN_DIR)
                  if os.path.exists(os.path.join(SCEN_DIR, n, "scenario.py")))


def run_harness():
    path = os.path.join(harness_dir(), "run.py")
    spec = importlib.util.spec_from_file_location("harness_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # run.py resolves scenarios through these two globals at call time
    mod.SCEN_DIR = SCEN_DIR
    mod.ORDER = names()
    return mod.main()


def rows(run_dir):
    with open(os.path.join(run_dir, "all.json")) as f:
        res = json.load(f)
    for name, r in res["results"].items():
        label = r.get("label")
        if r.get("error"):
            yield name, "-", label, {"error": r["error"]}
        errs = (r.get("server_log") or {}).get("error_lines")
        for ph in r.get("phases", []):
            s = ph.get("sipp") or {}
            u = ph.get("uas") or {}
            drops = ph.get("udp_drops") or {}
            f = {"ok": s.get("calls_ok"), "failed": s.get("calls_failed"),
                 "retrans": s.get("retransmissions"),
                 "uas failed": u.get("calls_failed"), "uas retrans": u.get("retransmissions"),
                 "180 in order": ph.get("ringing_in_order"),
                 "180 after 200": ph.get("ringing_late"),
                 "achieved/s": s.get("achieved_cps"),
                 "cpu s/100k": ph.get("server_cpu_s_per_100k"),
                 "box busy": ph.get("box_busy_frac"),
                 "udp drops": sum(v for v in drops.values() if v) if drops else None,
                 "in flight": s.get("max_concurrent_calls"),
                 "peak PSS MiB": round(ph["mem_peak"]["pss_kib"] / 1024, 1) if ph.get("mem_peak") else None,
                 "B/suspended": ph.get("pss_bytes_per_suspended"),
                 "events": ph.get("events"), "events lost": ph.get("events_lost"),
                 "events/s": ph.get("events_per_s"),
                 "log errors": errs}
            yield name, ph["phase"], label, f


def report(dirs):
    cols = ["ok", "failed", "retrans", "uas failed", "uas retrans", "180 in order", "180 after 200",
            "achieved/s", "cpu s/100k",
            "box busy", "udp drops", "in flight", "peak PSS MiB", "B/suspended",
            "events", "events lost", "events/s", "log errors"]
    print("| scenario | step | server | " + " | ".join(cols) + " |")
    print("|" + "---|" * (len(cols) + 3))
    out = []
    for d in dirs:
        out.extend(rows(d))
    out.sort(key=lambda x: (x[0], x[1], x[2] or ""))
    for name, step, label, f in out:
        if "error" in f:
            print("| %s | %s | %s | ERROR: %s |" % (name, step, label, f["error"]))
            continue
        vals = ["" if f.get(c) is None else str(f.get(c)) for c in cols]
        print("| %s | %s | %s | %s |" % (name, step, label, " | ".join(vals)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "report":
        report(sys.argv[2:])
        sys.exit(0)
    sys.exit(run_harness())
