"""evapi_burst: OPTIONS -> 100 x evapi_relay(small JSON) -> sl 200.
The harness's evapi_relay sends one event per SIP request, so both servers
deliver exactly what SIPp offers; here each request fans out into 100 events
and the evapi path sets the pace. One evapi client is connected during each
step: examples/evapi_count (Rust, same options and output as the harness's
evapi_client.py count mode, which tops out near 250k events/s here; set
EVAPI_COUNT to its path, bench/run.sh builds it) or, when it is missing, the
Python client. Events lost =
relays counted by the server (htable, read back with OPTIONS sip:ctl@) minus
events received. CPU is reported per 100k events."""
import os

import benchlib as bl

SIP_PORT = 5112
EVAPI_PORT = 8512
TCP_PORTS = [EVAPI_PORT]
CLIENT_BIND = "127.0.0.1:8562"
XML = "uac_options.xml"
EVENTS_PER_REQUEST = 100
LADDER = [500, 1000, 2000]
MAX_INFLIGHT = 200


def counting_client(ctx, phase, argv, limit_s):
    here = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(here, "..", "..", "..", "target")
    exe = os.environ.get("EVAPI_COUNT") or os.path.join(target, "release", "examples", "evapi_count")
    if not os.access(exe, os.X_OK):
        return ctx.helper("evapi_client.py", argv, phase, "evapi_client", limit_s=limit_s)
    os.makedirs(os.path.join(ctx.outdir, phase), exist_ok=True)
    return bl.Background([exe] + argv, stdout_path=os.path.join(ctx.outdir, phase, "evapi_count.out"),
                         limit_s=limit_s)


def step(ctx, phase, rate, calls, limit=None, timeout_s=None, grace_s=8):
    secs = ctx.step_s
    c0 = bl.query_counter(SIP_PORT)
    with ctx.measure(phase, udp_ports=[SIP_PORT]) as m:
        cl = counting_client(ctx, phase, ["--connect", "127.0.0.1:%d" % EVAPI_PORT,
                                          "--bind", CLIENT_BIND, "--mode", "count",
                                          "--idle", "2", "--start-timeout", str(secs + 15),
                                          "--max-seconds", str(secs + 30)], limit_s=secs + 35)
        if not cl.wait_for_line("READY", timeout=5):
            raise RuntimeError("evapi client could not connect")
        s = ctx.sipp(XML, SIP_PORT, phase, calls=calls, rate=rate, limit=limit,
                     timeout_s=timeout_s or secs + 4, grace_s=grace_s, recv_timeout_ms=3000)
        cr = cl.wait()
    c1 = bl.query_counter(SIP_PORT)
    relayed = (c1 - c0) if (c0 is not None and c1 is not None) else None
    c = cl.last_json() or {}
    ok = s.get("calls_ok", 0)
    got = c.get("events", 0)
    m.data.update({"sipp": s, "client": c, "client_proc": cr, "server_relays": relayed,
                   "target_rate": rate if limit is None else "max(-l %d)" % limit})
    m.per_100k(ok * EVENTS_PER_REQUEST)
    m.data["events"] = got
    m.data["events_lost"] = (relayed - got) if relayed is not None else None
    m.data["events_per_s"] = c.get("events_per_s")
    return {"target": m.data["target_rate"], "achieved_cps": s.get("achieved_cps"),
            "ok": ok, "failed": s.get("calls_failed"),
            "server_relays": relayed, "events": got,
            "bad_frames": c.get("bad_frames"),
            "events_lost": m.data["events_lost"],
            "events_per_s": c.get("events_per_s"),
            "server_cpu_s_per_100k_events": m.data.get("server_cpu_s_per_100k"),
            "server_cpu_util": m.data.get("server_cpu_util"),
            "evapi_client_cpu_s": cr.get("cpu_s"),
            "box_busy": m.data.get("box_busy_frac"),
            "udp_drops": m.data["udp_drops"].get(str(SIP_PORT))}


def run(ctx):
    ladder = ctx.args.rates or (LADDER[:1] if ctx.quick else LADDER)
    out = {}
    for r in ladder:
        out["rate_%d" % r] = step(ctx, "rate_%d" % r, r, calls=int(r * ctx.step_s))
    out["max"] = step(ctx, "max", 1000000, calls=int(20000 * ctx.step_s), limit=MAX_INFLIGHT,
                      timeout_s=int(ctx.step_s), grace_s=5)
    return out
