"""proxy_call: INVITE / 180 / 200 / ACK / BYE relayed by t_relay() between
two sipp instances (UAC on 5150, UAS on 5170); calls last 100 ms.  Open-loop UAC at fixed rates;
reports CPU per 100k calls, failed calls and retransmissions on both sides,
and UDP drops on the server's socket."""
import csv
import os
import re
import signal
import time

import benchlib as bl

SIP_PORT = 5109
UAS_PORT = 5170
LADDER = [1000, 2000]


def uas(ctx, phase, secs):
    d = os.path.join(ctx.outdir, phase, "uas")
    os.makedirs(d, exist_ok=True)
    cmd = ["sipp", "-sf", ctx.path("uas.xml"), "-i", "127.0.0.1", "-p", str(UAS_PORT),
           "-cp", "5171", "-mp", "5172", "-nostdin", "-trace_stat", "-stf",
           os.path.join(d, "sipp_stat.csv"), "-fd", "1", "-buff_size", "4194304",
           "-max_recv_loops", "5000", "-max_sched_loops", "5000"]
    return bl.Background(cmd, cwd=d, stdout_path=os.path.join(d, "sipp_screen.txt"),
                         limit_s=secs + 30), d


def uas_stats(d):
    try:
        with open(os.path.join(d, "sipp_stat.csv")) as f:
            rows = list(csv.reader(f, delimiter=";"))
        st = dict(zip(rows[0], rows[-1]))
        return {"calls_ok": int(st["SuccessfulCall(C)"]), "calls_failed": int(st["FailedCall(C)"]),
                "retransmissions": int(st.get("Retransmissions(C)", 0) or 0),
                "calls_created": int(st["TotalCallCreated"])}
    except (OSError, IndexError, KeyError, ValueError) as e:
        return {"parse_error": repr(e)}


def ringing(ctx, phase):
    """(180s the UAC took before their 200, 180s that came after it), from
    sipp's screen: the scenario has one recv 180 before the 200, one after."""
    try:
        with open(os.path.join(ctx.outdir, phase, "sipp_screen.txt")) as f:
            lines = f.read().splitlines()
        # the last screen dump holds the final counters
        start = max(i for i, l in enumerate(lines) if "Messages  Retrans" in l)
        counts = [int(l.split()[2]) for l in lines[start:] if re.match(r"\s+180 <-+", l)]
        return (counts[0], counts[1]) if len(counts) == 2 else (None, None)
    except (OSError, ValueError, IndexError):
        return None, None


def step(ctx, phase, rate):
    secs = ctx.step_s
    srv, d = uas(ctx, phase, secs)
    # the UAS must be listening before the first INVITE
    time.sleep(0.5)
    with ctx.measure(phase, udp_ports=[SIP_PORT]) as m:
        s = ctx.sipp("uac.xml", SIP_PORT, phase, calls=int(rate * secs), rate=rate,
                     timeout_s=secs + 6, grace_s=6, recv_timeout_ms=5000)
    # the UAS keeps each call 2 s after its BYE; then its counters are final
    time.sleep(2.5)
    try:
        os.kill(srv.p.pid, signal.SIGUSR1)  # sipp: stop, as the 'q' key
    except OSError:
        pass
    srv.wait(timeout=3.0)
    u = uas_stats(d)
    m.data["sipp"] = s
    m.data["uas"] = u
    m.data["target_rate"] = rate
    m.data["ringing_in_order"], m.data["ringing_late"] = ringing(ctx, phase)
    m.per_100k(s.get("calls_ok", 0))
    return {"target": rate, "achieved_cps": s.get("achieved_cps"),
            "ok": s.get("calls_ok"), "failed": s.get("calls_failed"),
            "retransmissions": s.get("retransmissions"),
            "uas_ok": u.get("calls_ok"), "uas_failed": u.get("calls_failed"),
            "uas_retransmissions": u.get("retransmissions"),
            "uac_180_in_order": m.data["ringing_in_order"],
            "uac_180_after_200": m.data["ringing_late"],
            "rtt_ms": s.get("rtt_ms"),
            "server_cpu_s_per_100k": m.data.get("server_cpu_s_per_100k"),
            "server_cpu_util": m.data.get("server_cpu_util"),
            "mem_peak": m.data["mem_peak"],
            "sipp_cpu_s": s.get("client_cpu_s"), "box_busy": m.data.get("box_busy_frac"),
            "udp_drops": m.data["udp_drops"].get(str(SIP_PORT))}


def run(ctx):
    ladder = ctx.args.rates or ([2000] if ctx.quick else LADDER)
    return {"rate_%d" % r: step(ctx, "rate_%d" % r, r) for r in ladder}
