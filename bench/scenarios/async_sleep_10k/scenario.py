"""async_sleep_10k: INVITE -> async_sleep("5") -> t_reply 404 at 2,000
calls/s, so about 10,000 transactions are suspended at once.  Main figure:
(peak PSS - PSS at the start of the step) / peak sipp calls in flight, the
server memory per suspended transaction.  The step is one sleep long
(10,000 calls), so every transaction is alive at the peak."""

SIP_PORT = 5111
XML = "uac_invite_404.xml"
RATE = 2000
# One sleep's worth of calls: rate x 5 s transactions, all alive at the peak
# (suspended, or answered and in their wt_timer), none freed yet.
SLEEP_S = 5.0


def run(ctx):
    rate = (ctx.args.rates or [RATE])[0]
    secs = SLEEP_S
    phase = "rate_%d" % rate
    with ctx.measure(phase, udp_ports=[SIP_PORT]) as m:
        # -l: sipp caps open calls at 3 x rate by default (6,000 here)
        s = ctx.sipp(XML, SIP_PORT, phase, calls=int(rate * secs), rate=rate,
                     limit=int(rate * secs), timeout_s=secs + 8, grace_s=8,
                     recv_timeout_ms=10000)
    m.data["sipp"] = s
    m.data["target_rate"] = rate
    m.per_100k(s.get("calls_ok", 0))
    inflight = s.get("max_concurrent_calls") or 0
    grow = m.data["mem_peak"]["pss_kib"] - m.data["mem_start"]["pss_kib"]
    per_tx = round(grow * 1024 / inflight) if inflight else None
    m.data["pss_bytes_per_suspended"] = per_tx
    return {phase: {"target": rate, "achieved_cps": s.get("achieved_cps"),
                    "ok": s.get("calls_ok"), "failed": s.get("calls_failed"),
                    "retransmissions": s.get("retransmissions"),
                    "sipp_max_concurrent": inflight,
                    "pss_start_kib": m.data["mem_start"]["pss_kib"],
                    "pss_peak_kib": m.data["mem_peak"]["pss_kib"],
                    "pss_bytes_per_suspended": per_tx,
                    "rtt_ms": s.get("rtt_ms"), "rt_repartition_ms": s.get("rt1_repartition_ms"),
                    "server_cpu_s_per_100k": m.data.get("server_cpu_s_per_100k"),
                    "box_busy": m.data.get("box_busy_frac"),
                    "udp_drops": m.data["udp_drops"].get(str(SIP_PORT))}}
