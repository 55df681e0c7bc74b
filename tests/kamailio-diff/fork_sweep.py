#!/usr/bin/env python3
"""Random forking calls through Kamailio and through siprd: list where what
the caller and the callees see differs.

A caller (port 5997) sends an INVITE (or, for one case in six, a MESSAGE)
to the server (5998). Its X-B0..X-B2
headers name the parallel branches, X-F what failure_route does, X-S the
user of a serial branch, so that one config serves every case. The callees
(all on 5996, told apart by their R-URI user) answer on a random script:
provisional replies, a final reply (2xx, 3xx, 4xx with challenges, 5xx,
6xx) or none, at distinct instants so the order is the same on both runs;
they answer a CANCEL with 200 and 487 (or ignore it). The caller may CANCEL,
and ACKs every non-2xx final reply. Recorded per case: the replies the caller
got in order (status, reason, To tag, challenges, headers the routes add),
and per callee the requests it got (INVITE, CANCEL with its Reason, ACK).
A serial branch's replies are two steps apart: when a timer started the
failure route, Kamailio may take longer than one step to pass on a reply of
the branch it relayed there.

    python3 tests/kamailio-diff/fork_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
"""
import random, select, socket, time

from sweeplib import CFG_HEAD, start, stop, sweep_main

CFG = CFG_HEAD + r"""loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "corex.so"
modparam("tm", "fr_timer", 1000)
modparam("tm", "fr_inv_timer", 1600)
request_route {
  if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  if (t_check_trans()) { exit; }
  $ru = "sip:" + $hdr(X-B0) + "@127.0.0.1:5996";
  if (is_present_hf("X-B1")) { $var(u) = "sip:" + $hdr(X-B1) + "@127.0.0.1:5996"; append_branch("$var(u)"); }
  if (is_present_hf("X-B2")) { $var(u) = "sip:" + $hdr(X-B2) + "@127.0.0.1:5996"; append_branch("$var(u)"); }
  t_on_failure("F");
  t_on_reply("R");
  t_on_branch("B");
  if ($hdr(X-F) == "bf") { $avp(bf) = "x"; t_on_branch_failure("BF"); }
  if (!t_relay()) { sl_reply_error(); }
}
branch_route[B] {
  append_hf("X-Br: $T_branch_idx\r\n");
}
onreply_route[R] {
  if (is_present_hf("X-Drop")) { drop; }
  append_hf("X-Seen: $rs\r\n");
}
failure_route[F] {
  $var(f) = $hdr(X-F);
  if ($var(f) == "serial") {
    $ru = "sip:" + $hdr(X-S) + "@127.0.0.1:5996";
    t_relay();
    exit;
  }
  if ($var(f) == "reply") { t_reply("599", "F $T_reply_code"); exit; }
  if ($var(f) == "check") { if (t_check_status("4[0-9][0-9]")) { t_reply("600", "Four"); } exit; }
  if ($var(f) == "timeout") { if (t_branch_timeout()) { t_reply("598", "Timeout"); } exit; }
  if ($var(f) == "replied") { if (!t_any_replied()) { t_reply("597", "Nothing"); } exit; }
  if ($var(f) == "canceled") { if (t_is_canceled()) { t_reply("596", "Canceled"); } exit; }
  if ($var(f) == "drop") { drop; }
  if ($var(f) == "serial2") {
    $ru = "sip:" + $hdr(X-S) + "@127.0.0.1:5996";
    append_branch("sip:$hdr(X-S)2@127.0.0.1:5996");
    t_on_branch("B");
    t_relay();
    exit;
  }
  if ($var(f) == "rearm") {
    if ($avp(again) == $null) {
      $avp(again) = 1;
      t_on_failure("F");
      $ru = "sip:" + $hdr(X-S) + "@127.0.0.1:5996";
      t_relay();
    } else {
      append_to_reply("X-TC: $T_reply_code\r\n");
      t_reply("599", "Again");
    }
    exit;
  }
  if ($var(f) == "dropreplies") { t_drop_replies(); exit; }
  if ($var(f) == "bf") { append_to_reply("X-BF: $avp(bf)\r\n"); t_reply("599", "BF"); exit; }
}
event_route[tm:branch-failure:BF] {
  $avp(bf) = $avp(bf) + "/" + $T_reply_code;
}
"""

STEP = 0.07  # seconds between two scripted events
SERVER = ("127.0.0.1", 5998)
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 302: "Moved", 401: "Unauthorized",
           404: "Not Found", 407: "Proxy Auth", 408: "Timeout", 480: "Unavailable", 486: "Busy Here",
           500: "Server Error", 503: "Unavailable", 603: "Decline"}
FINALS = [200, 302, 401, 404, 407, 480, 486, 500, 503, 603, None]


def make_case(rnd, i):
    """Branch scripts: user -> (events, answers CANCEL); events are
    (slot, code, extra header lines); slot counts STEPs from the case start
    (from the INVITE's arrival for the serial branch)."""
    slot = 1
    branches = {}
    for b in range(rnd.choice([1, 1, 2, 2, 3])):
        events = []
        for code in sorted(rnd.sample([100, 180, 183], rnd.choice([0, 0, 1, 1, 2]))):
            slot += rnd.choice([1, 2])
            events.append([slot, code, []])
        final = rnd.choice(FINALS)
        if final is not None:
            slot += rnd.choice([1, 2])
            events.append([slot, final, []])
        for ev in events:
            if ev[1] == 401:
                ev[2].append(f'WWW-Authenticate: Digest realm="r{b}", nonce="n{b}"')
            if ev[1] == 407:
                ev[2].append(f'Proxy-Authenticate: Digest realm="p{b}", nonce="n{b}"')
            if ev[1] in (200, 302):
                ev[2].append(f"Contact: <sip:c{b}@127.0.0.1:5996>")
            if ev[1] >= 600 and rnd.random() < 0.5:
                ev[2].append(f'Reason: SIP;cause={ev[1]};text="b{b}"')
            if rnd.random() < 0.08:
                ev[2].append("X-Drop: 1")
        branches[f"c{i}b{b}"] = (events, rnd.random() < 0.9)
    # branches start in the order of their first event (distinct slots)
    action = rnd.choice(["none", "serial", "serial", "reply", "check", "timeout", "replied", "canceled", "drop",
                         "serial2", "rearm", "dropreplies", "bf"])
    serial = None
    if action in ("serial", "serial2", "rearm"):
        events, s = [], 0
        for code in rnd.sample([180, 183], rnd.choice([0, 1])):
            s += 2
            events.append([s, code, []])
        s += 2
        events.append([s, rnd.choice([200, 404, 486, 603, 503]), []])
        serial = f"c{i}s"
        branches[serial] = (events, True)
        if action == "serial2":
            branches[serial + "2"] = ([[s + 1, rnd.choice([180, 486, 404, 200]), []]], True)
    # half a step off any reply, so that the CANCEL's place is sure
    cancel = max(1, slot + rnd.choice([-3, -1, 0, 1])) + 0.5 if rnd.random() < 0.2 else None
    method = "MESSAGE" if rnd.random() < 1 / 6 else "INVITE"
    return {"branches": branches, "action": action, "serial": serial, "cancel": cancel, "last": slot,
            "method": method}


def describe(i, case):
    parts = [f"case {i}: {case['method']} action={case['action']} cancel@{case['cancel']}"]
    for user, (events, answers) in case["branches"].items():
        evs = " ".join(f"{s}:{c}{'(drop)' if 'X-Drop: 1' in x else ''}" for s, c, x in events)
        parts.append(f"{user}[{evs or 'silent'}{'' if answers else ' ignores CANCEL'}]")
    return " ".join(parts).encode()


def header_lines(msg):
    return msg.split("\r\n\r\n", 1)[0].split("\r\n")


def hdrs(msg, name):
    return [l.split(":", 1)[1].strip() for l in header_lines(msg)[1:] if l.split(":", 1)[0].strip().lower() == name]


def invite(i, case):
    m = case["method"]
    lines = [f"{m} sip:c{i}@127.0.0.1:5998 SIP/2.0",
             f"Via: SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK-f{i};rport",
             f"From: <sip:a@example.com>;tag=ft{i}", f"To: <sip:c{i}@example.com>",
             f"Call-ID: fk-{i}", f"CSeq: 1 {m}", "Max-Forwards: 70",
             "Contact: <sip:a@127.0.0.1:5997>"]
    users = [u for u in case["branches"] if not (case["serial"] and u.startswith(case["serial"]))]
    lines += [f"X-B{n}: {u}" for n, u in enumerate(users)]
    lines.append(f"X-F: {case['action']}")
    if case["serial"]:
        lines.append(f"X-S: {case['serial']}")
    return ("\r\n".join(lines + ["Content-Length: 0", "", ""])).encode()


def in_dialog(i, method, to):
    return ("\r\n".join([f"{method} sip:c{i}@127.0.0.1:5998 SIP/2.0",
                         f"Via: SIP/2.0/UDP 127.0.0.1:5997;branch=z9hG4bK-f{i};rport",
                         f"From: <sip:a@example.com>;tag=ft{i}", f"To: {to}",
                         f"Call-ID: fk-{i}", f"CSeq: 1 {method}", "Max-Forwards: 70",
                         "Content-Length: 0", "", ""])).encode()


def reply(req, code, extra, tag):
    lines = header_lines(req)
    out = [f"SIP/2.0 {code} {REASONS.get(code, 'X')}"]
    for l in lines[1:]:
        name = l.split(":", 1)[0].strip().lower()
        if name in ("via", "from", "call-id", "cseq"):
            out.append(l)
        elif name == "to":
            out.append(l if code == 100 or ";tag=" in l else l + f";tag={tag}")
    return ("\r\n".join(out + extra + ["Content-Length: 0", "", ""])).encode()


def run_case(caller, callee, i, case):
    """Play one case; what the caller and each callee saw."""
    t0 = time.time()
    caller.sendto(invite(i, case), SERVER)
    seen_caller, seen_callee = [], {u: [] for u in case["branches"]}
    pending = []  # (time, user, code, extra)
    invites, finals_sent = {}, set()
    cancel_at = t0 + case["cancel"] * STEP if case["cancel"] is not None else None
    silent = any(not ev or ev[-1][1] < 200 for ev, _ in case["branches"].values())
    ignores = any(not ans for _, ans in case["branches"].values())
    end = t0 + (case["last"] + 2) * STEP + (1.9 if silent or ignores else 0.5) + (0.8 if case["serial"] else 0)
    got = set()
    while True:
        now = time.time()
        if now >= end:
            break
        if cancel_at is not None and now >= cancel_at:
            cancel = in_dialog(i, "CANCEL", f"<sip:c{i}@example.com>")
            if i % 2:
                cancel = cancel.replace(b"Content-Length", b'Reason: SIP;cause=480;text="gone"\r\nContent-Length')
            caller.sendto(cancel, SERVER)
            seen_caller.append("sent CANCEL")
            cancel_at = None
        pending.sort(key=lambda p: p[0])
        while pending and pending[0][0] <= now:
            _, user, code, extra = pending.pop(0)
            if user in finals_sent:
                continue
            if code >= 200:
                finals_sent.add(user)
            callee.sendto(reply(invites[user], code, extra, "t" + user), SERVER)
        wake = min([end] + [p[0] for p in pending] + ([cancel_at] if cancel_at else []))
        r, _, _ = select.select([caller, callee], [], [], max(0, wake - time.time()))
        for sock in r:
            data, addr = sock.recvfrom(65535)
            if data in got:  # a retransmission
                continue
            got.add(data)
            msg = data.decode("latin-1")
            first = header_lines(msg)[0]
            if sock is caller:
                if not first.startswith("SIP/2.0 "):
                    seen_caller.append("request " + first)
                    continue
                code = int(first.split()[1]) if first.split()[1].isdigit() else 0
                cseq = (hdrs(msg, "cseq") or ["?"])[0]
                to = (hdrs(msg, "to") or [""])[0]
                tag = to.split(";tag=")[1] if ";tag=" in to else "-"
                note = f"{first[8:]} ({cseq}) tag={tag if tag.startswith('t') or tag == '-' else 'local'}"
                for h in ("www-authenticate", "proxy-authenticate", "x-seen", "x-br", "contact", "x-tc", "x-bf"):
                    if hdrs(msg, h):
                        note += f" {h}={hdrs(msg, h)}"
                seen_caller.append(note)
                if code >= 300 and "INVITE" in cseq:
                    caller.sendto(in_dialog(i, "ACK", to), SERVER)
                continue
            user = first.split("sip:", 1)[1].split("@", 1)[0] if "sip:" in first else "?"
            method = first.split(" ", 1)[0]
            if user not in case["branches"]:
                seen_caller.append(f"callee got {first}")
                continue
            rec = method
            if method == case["method"]:
                if user in invites:  # retransmitted with other bytes
                    continue
                invites[user] = msg
                rec += f" br={hdrs(msg, 'x-br')}"
                events, _ = case["branches"][user]
                base = now if case["serial"] and user.startswith(case["serial"]) else t0
                for slot, code, extra in events:
                    pending.append((max(base + slot * STEP, now + 0.005 * slot), user, code, extra))
            elif method == "CANCEL":
                rec += f" reason={hdrs(msg, 'reason')}"
                callee.sendto(reply(msg, 200, [], "t" + user), addr)
                if case["branches"][user][1] and user not in finals_sent and user in invites:
                    finals_sent.add(user)
                    callee.sendto(reply(invites[user], 487, [], "t" + user), SERVER)
            elif method == "ACK":
                rec += f" tag={(hdrs(msg, 'to') or [''])[0].split(';tag=')[-1]}"
            seen_callee[user].append(rec)
    return " | ".join(seen_caller) + " || " + " ; ".join(f"{u}: {', '.join(v) or '-'}" for u, v in seen_callee.items())


def run(binary, seed, count, cfg):
    p = start(binary, cfg)
    caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    caller.bind(("127.0.0.1", 5997))
    callee = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    callee.bind(("127.0.0.1", 5996))
    rnd = random.Random(seed)
    out, sent = [], []
    for i in range(count):
        case = make_case(rnd, i)
        sent.append(describe(i, case))
        out.append(run_case(caller, callee, i, case))
    caller.close()
    callee.close()
    stop(p)
    return out, sent


def main():
    sweep_main(CFG, run, 40, 1)


if __name__ == "__main__":
    main()
