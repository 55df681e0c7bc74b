#!/usr/bin/env python3
"""Mutation fuzzer for the config loader: `siprd -c -f FILE` on mutated configs.

Seeds: etc/siprd.cfg, etc/examples/*.cfg, the configs embedded in the Rust
tests (raw strings that look like configs) and the kamailio-diff load cases.
Each run must either load ("config file ok") or fail with an error that names
file:line:col. A panic (exit 101, "panicked"), a signal or a timeout is a bug.

    nice -n 19 python3 tests/fuzz/cfg_fuzz.py --bin /work/tgt/fuzz/debug/siprd \
        --cases 3000 --seed 1 [--keep DIR]

Deterministic for a given seed. Prints a summary and the offending inputs.
"""

import argparse
import glob
import os
import random
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TOKEN = re.compile(
    rb'"(?:[^"\\\n]|\\.)*"|/\*.*?\*/|#[^\n]*|//[^\n]*|\$\([^)\n]*\)|\$[A-Za-z_]+(?:\([^)\n]*\))?'
    rb"|[A-Za-z_][A-Za-z0-9_.]*|0x[0-9a-fA-F]+|\d+|==|!=|=~|!~|&&|\|\||<=|>=|\S",
    re.S,
)

JUNK = [
    b"\x00", b"\xff\xfe", b"\xc3\x28", b"\xe2\x82", b"{", b"}", b"(", b")", b"[", b"]",
    b'"', b"'", b"/*", b"*/", b"#!", b"#!ifdef", b"#!endif", b"#!define", b"$", b"$(",
    b"{s.", b"}", b";", b",", b"=", b"\\", b"\r", b"\t", b"\n", b"99999999999999999999",
    b"-2147483649", b"2147483648", b"0x", b"0xffffffffffffffffff", b"$var(", b"$avp(",
    b"$hdr(", b"$(hdr(Via)[", b"[-99999999999]", b"{s.substr,-1,99999999999}", b"route(",
    b"include_file", b"import_file \"/dev/null\"", b"#!subst \"/", b"#!trydef", b"\xf0\x9f\x98",
    b"\x7f", b"\x1b[0m", b"modparam(", b"loadmodule \"", b"event_route[", b"$sht(",
    b"$shv(", b"$xavp(a=>b[", b"$T_branch_idx", b"$evapi(", b"$evr(", b"$jsonrpl(",
    b"$sel(", b"@from.", b"$(ru{uri.param,", b"{re.subst,/a/b/g}", b"{s.select,99999999999,;}",
    b"$rc", b"$$", b"\\x", b"\\u", b"\"\\", b"case ", b"switch(", b"while(", b"else",
]

NUMBERS = [
    b"0", b"-1", b"2147483647", b"2147483648", b"-2147483648", b"-2147483649",
    b"4294967296", b"18446744073709551616", b"99999999999999999999999999", b"0x7fffffff",
    b"0xffffffffffff", b"65535", b"65536", b"-65536", b"1e9", b"00000000000000000000001",
]

MODPARAM_VALUES = [
    b'""', b'"x"', b"0", b"-1", b"2147483648", b'"=>"', b'"a=>"', b'"=>size=4;"',
    b'"t=>size=99999999999;"', b'"t=>size=-1;"', b'"t=>size=4;autoexpire=-1;"',
    b'"name=x;wait=-5;workers=99999999;"', b'"name=;sockaddr=udp:999.1.1.1:99999;"',
    b'"name=evrexec:x;sockaddr=udp:;"', b'"udp:127.0.0.1:99999"', b'"tcp:[::1:5060"',
    b'"\xff\xfe"', b'"a\\"b"', b'"' + b"A" * 5000 + b'"', b'"t=>size=4;dbtable=x;"',
    b'"t=>initval=abc;"', b'"t=>size=4;updateexpire=9;"', b'"fifo:/nonexistent/dir/fifo"',
    b'"18446744073709551616"', b'"0x"', b'"sockaddr=udp:127.0.0.1:0;"',
]

FUNCS = [
    b"sl_send_reply", b"t_relay", b"xlog", b"append_hf", b"remove_hf", b"search",
    b"subst", b"subst_uri", b"sht_lock", b"lock", b"evapi_relay", b"jansson_get",
    b"t_on_failure", b"t_set_fr", b"async_route", b"async_task_route", b"sleep",
    b"is_method", b"has_totag", b"evapi_async_relay", b"t_suspend", b"t_continue",
    b"xhttp_reply", b"jsonrpc_dispatch", b"jsonrpc_exec", b"sanity_check",
    b"record_route", b"loose_route", b"t_reply", b"route", b"forward", b"set_reply_body",
    b"sht_inc", b"sht_setxi", b"json_get_field", b"evapi_set_tag", b"pv_printf",
    b"mf_process_maxfwd_header", b"is_myself", b"setflag", b"isbflagset", b"async_sleep",
]

ARGS = [
    b'"x"', b"1", b"-1", b'"$var(x)"', b'"$foo(x)"', b'"$(var(x){s.nope})"', b'"["',
    b'"/(/"', b"$var(x)", b"$ru", b'""', b'"999999999999999999"', b'"a", "b", "c", "d", "e", "f", "g"',
    b'"$"', b'"$("', b'"${"', b'"\\"', b"(1)", b"$avp(x)", b'"$sht(nope=>k)"', b'"FAIL"',
    b'"r=>"', b'"0", "0"', b'"2147483648"', b'"-2147483649"', b'"FOO"',
]

PVS = [
    b"$var(", b"$var()", b"$foo", b"$(var(x){", b"$(var(x){s.substr,1})", b"$(var(x){s.substr,a,b})",
    b"$(var(x){s.select,,})", b"$(var(x)[0])", b"$(hdr(Via)[99999999999])", b"$(hdr(Via)[-0])",
    b"$(var(x){uri.nope})", b"$(var(x){re.subst,/(/x/})", b"$(var(x){s.int}{s.int}{s.int}{s.int})",
    b"$sht(x)", b"$sht(=>)", b"$shv()", b"$avp(i:99999999999)", b"$avp(s:)", b"$xavp(=>)",
    b"$xavp(a[99999999999]=>b)", b"$T(x)", b"$T_nope", b"$hdr()", b"$hdr(\xff)", b"$(ru{nameaddr.x})",
    b"$sel(@)", b"$sel(@from.nope.x)", b"$evapi(nope)", b"$evr(nope)", b"$nosip(x)", b"$jsonrpl(x)",
    b"$async(x)", b"$stat(x)", b"$snd(nope)", b"$rcv(nope)", b"$hu(x)", b"$(var(x){s.fmtlines,1,1})",
    b"$(var(x){s.ftime,%})", b"$(var(x){json.parse,a})", b"$(var(x){param.value,a,,})",
    b"$(var(x){line.at,99999999999})", b"$(var(x){tobody.nope})", b"$(var(x){s.replace,a})",
]


MODULES = b"".join(
    b'loadmodule "%s.so"\n' % m
    for m in b"pv sl tm tmx xlog textops siputils maxfwd htable cfgutils jansson evapi async rr sanity kex corex".split()
)


def seeds():
    out = []
    for p in [os.path.join(ROOT, "etc/siprd.cfg")] + sorted(glob.glob(os.path.join(ROOT, "etc/examples/*.cfg"))):
        with open(p, "rb") as f:
            out.append((os.path.relpath(p, ROOT), f.read()))
    raw = re.compile(rb'r#"(.*?)"#', re.S)
    for p in sorted(glob.glob(os.path.join(ROOT, "crates/siprd/tests/*.rs"))):
        with open(p, "rb") as f:
            text = f.read()
        for i, m in enumerate(raw.finditer(text)):
            s = m.group(1)
            if (b"request_route" in s or b"loadmodule" in s or b"event_route" in s) and len(s) > 40:
                # format! placeholders: a port or a path
                s = re.sub(rb"\{\{", b"{", re.sub(rb"\}\}", b"}", s)) if b"{{" in s else s
                s = re.sub(rb"\{([a-z_]*)\}", lambda m: b"5799" if b"port" in m.group(1) else b"", s)
                s = re.sub(rb"@[A-Z]+@|\bPORT\b", b"5799", s).replace(b"PARAMS", b"").replace(b"ROUTES", b"")
                if b"KSR." in s and b"function" in s:
                    continue  # a Lua script
                if b"loadmodule" not in s:
                    s = MODULES + s
                out.append((f"{os.path.relpath(p, ROOT)}#{i}", s))
    head = open(os.path.join(ROOT, "tests/kamailio-diff/header.cfg"), "rb").read()
    head = head.replace(b"@LISTEN@", b"udp:127.0.0.1:5799")
    cases = open(os.path.join(ROOT, "tests/kamailio-diff/load-cases.cfg"), "rb").read()
    for i, body in enumerate(re.split(rb"^=== .*\n", cases, flags=re.M)[1:]):
        out.append((f"load-cases#{i}", head + b"request_route {\n" + body + b"}\n"))
    return out


def tokens(b):
    return [(m.start(), m.end()) for m in TOKEN.finditer(b)]


def mutate(rng, text, all_seeds):
    """One to three mutations."""
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        text = mutate_once(rng, text, all_seeds)
    return text


def mutate_once(rng, b, all_seeds):
    toks = tokens(b)
    lines = b.split(b"\n")
    k = rng.randrange(22)
    if not toks:
        return b + rng.choice(JUNK)
    t0, t1 = toks[rng.randrange(len(toks))]
    if k == 0:  # delete a token
        return b[:t0] + b[t1:]
    if k == 1:  # duplicate a token
        return b[:t1] + b" " + b[t0:t1] + b[t1:]
    if k == 2:  # swap two tokens
        u0, u1 = toks[rng.randrange(len(toks))]
        if u0 < t0:
            t0, t1, u0, u1 = u0, u1, t0, t1
        if u0 >= t1:
            return b[:t0] + b[u0:u1] + b[t1:u0] + b[t0:t1] + b[u1:]
        return b
    if k == 3:  # delete a line
        i = rng.randrange(len(lines))
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if k == 4:  # duplicate a line
        i = rng.randrange(len(lines))
        return b"\n".join(lines[: i + 1] + lines[i:])
    if k == 5:  # swap lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
        return b"\n".join(lines)
    if k == 6:  # truncate
        return b[: rng.randrange(len(b) + 1)]
    if k == 7:  # junk bytes
        at = rng.randrange(len(b) + 1)
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 8)))
        return b[:at] + junk + b[at:]
    if k == 8:  # junk piece at a token boundary
        return b[:t0] + rng.choice(JUNK) + b[t0:]
    if k == 9:  # replace a token with a junk piece
        return b[:t0] + rng.choice(JUNK) + b[t1:]
    if k == 10:  # huge/odd number
        nums = [(s, e) for s, e in toks if b[s:e].isdigit() or b[s:e].startswith(b"0x")]
        if nums:
            t0, t1 = rng.choice(nums)
        return b[:t0] + rng.choice(NUMBERS) + b[t1:]
    if k == 11:  # deep nesting
        n = rng.choice([50, 200, 1000, 20000])
        opener, closer = rng.choice([(b"{", b"}"), (b"(", b")"), (b"if(1){", b"}"), (b"[", b"]"), (b"$(", b")"), (b"!", b""), (b"#!ifdef X\n", b"#!endif\n")])
        close = closer * n if rng.random() < 0.5 else b""
        return b[:t0] + opener * n + b[t0:t1] + close + b[t1:]
    if k == 12:  # unterminated string/comment/bracket
        return b[:t0] + rng.choice([b'"', b"/*", b"(", b"{", b"[", b"$(", b"'", b"#!ifdef X\n"]) + b[t0:]
    if k == 13:  # function call with wrong args
        args = b", ".join(rng.choice(ARGS) for _ in range(rng.randrange(0, 5)))
        call = rng.choice(FUNCS) + b"(" + args + b");\n"
        return insert_in_route(rng, b, call)
    if k == 14:  # change args of an existing call
        calls = [m for m in re.finditer(rb"\b([a-z_]+)\(([^()\n]*)\)", b)]
        if calls:
            m = rng.choice(calls)
            args = b", ".join(rng.choice(ARGS) for _ in range(rng.randrange(0, 4)))
            return b[: m.start(2)] + args + b[m.end(2) :]
        return b
    if k == 15:  # bad modparam
        mps = [m for m in re.finditer(rb'modparam\("([^"]*)",\s*"([^"]*)",\s*([^)\n]*)\)', b)]
        if mps and rng.random() < 0.7:
            m = rng.choice(mps)
            which = rng.randrange(3)
            if which == 2:
                return b[: m.start(3)] + rng.choice(MODPARAM_VALUES) + b[m.end(3) :]
            return b[: m.start(which + 1)] + rng.choice([b"", b"nope", b"tm", b"htable", b"\xff", b"fr_timer", b"exec"]) + b[m.end(which + 1) :]
        mod = rng.choice([b"tm", b"htable", b"evrexec", b"jsonrpcs", b"evapi", b"xhttp", b"nosip", b"async", b"sl", b"ctl", b"app_lua", b"sanity", b"rr", b"cfgutils", b"jansson"])
        par = rng.choice([b"htable", b"exec", b"fifo_name", b"dgram_socket", b"bind_addr", b"workers", b"fr_timer", b"url_match", b"transport", b"binrpc", b"lock_set_size", b"load", b"default_checks", b"netstring_format", b"max_clients", b"nope"])
        return b"modparam(\"" + mod + b"\", \"" + par + b"\", " + rng.choice(MODPARAM_VALUES) + b")\n" + b
    if k == 16:  # bad PV/transformation
        return insert_in_route(rng, b, b"$var(fz) = " + rng.choice(PVS) + b";\n")
    if k == 17:  # replace a PV by a bad one
        pvs = [(s, e) for s, e in toks if b[s:s + 1] == b"$"]
        if pvs:
            t0, t1 = rng.choice(pvs)
            return b[:t0] + rng.choice(PVS) + b[t1:]
        return b
    if k == 18:  # unknown/odd routes
        return b + rng.choice([
            b"\nroute[] { exit; }\n", b"\nroute(NOPE);\n", b"\nevent_route[nope:nope] { exit; }\n",
            b"\nevent_route[] {}\n", b"\nrequest_route { route(NOPE); }\n", b"\nfailure_route[1] { }\n",
            b"\nroute[\xff] { }\n", b"\nonreply_route[X] { t_relay(); }\n", b"\nbranch_route { }\n",
            b"\nevent_route[xhttp:request] { xhttp_reply(\"200\"); }\n", b"\nreply_route { drop; }\nreply_route { drop; }\n",
            b"\nroute[R] { route(R); }\nrequest_route { route(R); }\n",
        ])
    if k == 19:  # splice a piece of another seed
        other = rng.choice(all_seeds)[1]
        if other:
            a = rng.randrange(len(other))
            piece = other[a : a + rng.randrange(1, 400)]
            at = rng.randrange(len(b) + 1)
            return b[:at] + piece + b[at:]
        return b
    if k == 20:  # non-UTF-8 inside a string or name
        strs = [(s, e) for s, e in toks if b[s:s + 1] in (b'"', b"$") or b[s:s + 1].isalpha()]
        if strs:
            t0, t1 = rng.choice(strs)
            mid = rng.randrange(t0, t1)
            return b[:mid] + rng.choice([b"\xff", b"\xc3", b"\x80", b"\xed\xa0\x80", b"\x00"]) + b[mid:]
        return b
    # preprocessor directives in odd places
    return insert_line(rng, b, rng.choice([
        b"#!define", b"#!define X", b"#!define X(", b"#!define X(a) a a", b"#!ifdef", b"#!ifndef X", b"#!else", b"#!endif",
        b"#!subst \"/", b"#!subst \"/a/b/xyz\"", b"#!substdef \"//\"", b"#!trydef X 1", b"#!redefine X", b"#!include_file",
        b"include_file \"/nonexistent\"", b"include_file \"/dev/zero\"", b"import_file \"\"", b"#!KAMAILIO", b"!!", b"#!defexp X 1+",
        b"#!defenv X=NOPE", b"#!defenvs X", b"#!ifexp 1 +", b"#!define X 1\n#!define X 2",
    ]))


def insert_in_route(rng, b, stmt):
    spots = [m.end() for m in re.finditer(rb"(request_route|route\[[^\]]*\]|event_route\[[^\]]*\])\s*\{", b)]
    if spots:
        at = rng.choice(spots)
        return b[:at] + b"\n" + stmt + b[at:]
    return b + b"\nrequest_route {\n" + stmt + b"}\n"


def insert_line(rng, b, line):
    lines = b.split(b"\n")
    i = rng.randrange(len(lines) + 1)
    return b"\n".join(lines[:i] + [line] + lines[i:])


POS = re.compile(rb"^[^\s:][^:\n]*:\d+:\d+: (error|warning)", re.M)


def run_one(args, idx, text, tmpdir):
    path = os.path.join(tmpdir, f"case{idx}.cfg")
    with open(path, "wb") as f:
        f.write(text)
    try:
        p = subprocess.run([args.bin, "-c", "-f", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=args.timeout, cwd=tmpdir)
    except subprocess.TimeoutExpired:
        return ("hang", idx, b"", text)
    out = p.stdout + p.stderr
    if p.returncode < 0 or p.returncode == 101 or b"panicked" in out:
        return ("crash", idx, out, text)
    if p.returncode == 0:
        return ("ok", idx, out, text)
    if not POS.search(out):
        return ("nopos", idx, out, text)
    return ("error", idx, out, text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="/work/tgt/fuzz/debug/siprd")
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--keep", help="write offending inputs here")
    ap.add_argument("--messages", action="store_true", help="print every distinct error message")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    all_seeds = seeds()
    cases = []
    for i in range(args.cases):
        name, text = all_seeds[rng.randrange(len(all_seeds))]
        cases.append((i, name, mutate(rng, text, all_seeds)))
    counts = {}
    bad = []
    messages = {}
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as ex:
        for (kind, idx, out, text) in ex.map(lambda c: run_one(args, c[0], c[2], tmp), cases):
            counts[kind] = counts.get(kind, 0) + 1
            if kind in ("crash", "hang", "nopos"):
                bad.append((kind, idx, cases[idx][1], out, text))
            for m in re.finditer(rb"^\S+:\d+:\d+: error: (.*)$", out, re.M):
                msg = re.sub(rb"`[^`]*`|\"[^\"]*\"|'[^']*'|\d+", b"_", m.group(1))
                messages.setdefault(msg, (idx, m.group(1)))
    print(f"{args.cases} cases from {len(all_seeds)} seeds: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    seen = set()
    for kind, idx, name, out, text in bad:
        key = (kind, re.sub(rb"case\d+|\d+", b"_", out)[:300])
        if key in seen:
            continue
        seen.add(key)
        print(f"--- {kind}: case {idx} (from {name})")
        print(out.decode("utf-8", "replace")[-1500:])
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            with open(os.path.join(args.keep, f"{kind}-{idx}.cfg"), "wb") as f:
                f.write(text)
    if args.messages:
        for msg, (idx, full) in sorted(messages.items()):
            print(f"[{idx}] {full.decode('utf-8', 'replace')[:200]}")
    sys.exit(1 if any(k in ("crash", "hang") for k, *_ in bad) else 0)


if __name__ == "__main__":
    main()
