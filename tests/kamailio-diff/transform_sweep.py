#!/usr/bin/env python3
"""Apply the same random chains of transformations in Kamailio and in siprd.
Each case reads `$(var(in){tr1}{tr2}...)` for a random input and a chain of
one to three transformations (string, uri, param, nameaddr, tobody, line
classes, with random parameters), and answers with what the read printed,
what an assignment stored and whether it was null. Both servers run the
cases through probe.py.
    python3 tests/kamailio-diff/transform_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
Left out: `{s.before,c}` and its kin, which crash Kamailio 5.6 when c is
absent (signal 11; siprd gives the whole string). Expected differences:
`{s.decode.7bit}` of text that is not hexadecimal, `{s.decode.base64}` of
text outside the alphabet, stray bytes in Kamailio's `{uri.duri}`/`saor`/
`suri`, `{s.int}` of "" (see expr_sweep.py); docs/kamailio-observed.md.
"""
import os, random, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sweeplib import probe_cases

INPUTS = [
    "sip:alice@example.com:5070;transport=tcp;lr?X=1",
    "sips:bob:pw@[2001:db8::1];maddr=1.2.3.4;ttl=5",
    "sip:h.example.org",
    "tel:+4912345;phone-context=x",
    "<sip:bob@h>;tag=abc",
    '\\"Eve X\\" <sip:e@h;p=1>;tag=t;x',
    "a=1;b=2;c",
    "a=1, b = 2 ,c=",
    "hello world",
    "  spaced  ",
    "ABC%20def%3b",
    "a,b,,c",
    "12345",
    "-42",
    "",
    "x y;z",
    "\\\\quoted\\\\",
    "<sip:x@y>",
    "%41+b",
    "alice",
]
CHARS = [",", ";", "=", ":", "@", " ", "a", "1", "x", "-"]
NUM = ["0", "1", "2", "3", "-1", "-2", "10"]


def s_tr(rng):
    k = rng.choice([
        "len", "int", "md5", "tolower", "toupper", "numeric", "trim", "ltrim", "rtrim",
        "escape.common", "unescape.common", "escape.user", "unescape.user", "escape.param",
        "unescape.param", "encode.hexa", "decode.hexa", "encode.base64", "decode.base64",
        "prefixes", "prefixes.quoted", "unquote", "unbracket", "rmws", "corehash", "sha256",
        "urlencode.param", "urldecode.param", "escape.csv", "encode.7bit", "decode.7bit",
        "substr", "select", "strip", "striptail", "stripto", "replace", "rm", "count",
        "prefixes", "fmtlines", "fmtlinet", "ftime",
    ])
    if k == "substr": return f"s.substr,{rng.choice(NUM)},{rng.choice(['0', '1', '2', '10'])}"
    if k == "select": return f"s.select,{rng.choice(NUM)},{rng.choice(CHARS[:4] + ['a'])}"
    if k in ("strip", "striptail"): return f"s.{k},{rng.choice(NUM)}"
    if k == "stripto": return f"s.stripto,{rng.choice(CHARS[1:])}"
    if k == "replace": return f"s.replace,{rng.choice(CHARS[1:])},{rng.choice(['', 'Z', 'yy'])}"
    if k == "rm": return f"s.rm,{rng.choice(CHARS[1:])}"
    if k == "count": return f"s.count,{rng.choice(CHARS)}"
    if k == "prefixes" and rng.random() < 0.5: return f"s.prefixes,{rng.choice(['1', '2', '4'])}"
    if k in ("fmtlines", "fmtlinet"): return f"s.{k},{rng.choice(['2', '4'])},{rng.choice(['1', '0'])}"
    if k == "ftime": return "s.ftime,%Y"
    return f"s.{k}"


def uri_tr(rng):
    k = rng.choice(["user", "host", "passwd", "port", "params", "headers", "transport", "ttl",
                    "uparam", "maddr", "method", "lr", "r2", "scheme", "duri", "saor", "suri",
                    "tosocket", "param"])
    if k == "param": return f"uri.param,{rng.choice(['transport', 'lr', 'maddr', 'p', 'x'])}"
    return f"uri.{k}"


def param_tr(rng):
    k = rng.choice(["value", "valueat", "name", "count", "in"])
    sep = rng.choice(["", "", "|", " "])
    sep = f",{sep}" if sep else ""
    if k == "value": return f"param.value,{rng.choice(['a', 'b', 'c', 'z', 'tag'])}{sep}"
    if k == "valueat": return f"param.valueat,{rng.choice(NUM)}{sep}"
    if k == "name": return f"param.name,{rng.choice(NUM)}{sep}"
    if k == "in": return f"param.in,{rng.choice(['a', 'c', 'tag', 'x'])}{sep}"
    return f"param.count{sep}"


def other_tr(rng):
    return rng.choice([
        "nameaddr.name", "nameaddr.uri", "nameaddr.len", "tobody.uri", "tobody.display",
        "tobody.tag", "tobody.user", "tobody.host", "tobody.params", "line.count",
        f"line.at,{rng.choice(NUM)}", "line.sw,a",
    ])


def chain(rng):
    out = []
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        k = rng.random()
        out.append(s_tr(rng) if k < 0.5 else uri_tr(rng) if k < 0.7
                   else param_tr(rng) if k < 0.85 else other_tr(rng))
    return "".join("{" + t + "}" for t in out)


def case(rng):
    inp = rng.choice(INPUTS)
    tr = chain(rng)
    return (f'    $var(in) = "{inp}";\n'
            f'    $var(r) = "unset"; $var(r) = $(var(in){tr});\n'
            f'    if ($(var(in){tr}) == $null) {{ $var(n) = "null"; }} else {{ $var(n) = "set"; }}\n'
            f'    sl_send_reply("200", "p=[$(var(in){tr})] r=[$var(r)] $var(n)");\n')


def main():
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="transform_sweep.")
    cases = [(f"t{n}", case(rng)) for n in range(count)]
    probe_cases(cases, tmp)

if __name__ == "__main__":
    main()
