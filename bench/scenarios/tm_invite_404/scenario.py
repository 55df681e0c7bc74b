"""tm_invite_404: INVITE -> t_newtran -> t_reply 404, ACK matched by
t_check_trans.  The stateful twin of the harness's stateless_invite_404."""

SIP_PORT = 5110
XML = "uac_invite_404.xml"
LADDER = [1000, 2000, 5000]


def step(ctx, phase, rate):
    secs = ctx.step_s
    with ctx.measure(phase, udp_ports=[SIP_PORT]) as m:
        s = ctx.sipp(XML, SIP_PORT, phase, calls=int(rate * secs), rate=rate,
                     timeout_s=secs + 4, grace_s=6, recv_timeout_ms=3000)
    m.data["sipp"] = s
    m.data["target_rate"] = rate
    m.per_100k(s.get("calls_ok", 0))
    return {"target": rate, "achieved_cps": s.get("achieved_cps"),
            "ok": s.get("calls_ok"), "failed": s.get("calls_failed"),
            "retransmissions": s.get("retransmissions"),
            "rtt_ms": s.get("rtt_ms"),
            "server_cpu_s_per_100k": m.data.get("server_cpu_s_per_100k"),
            "server_cpu_util": m.data.get("server_cpu_util"),
            "sipp_cpu_s": s.get("client_cpu_s"), "box_busy": m.data.get("box_busy_frac"),
            "udp_drops": m.data["udp_drops"].get(str(SIP_PORT))}


def run(ctx):
    ladder = ctx.args.rates or ([2000] if ctx.quick else LADDER)
    return {"rate_%d" % r: step(ctx, "rate_%d" % r, r) for r in ladder}
