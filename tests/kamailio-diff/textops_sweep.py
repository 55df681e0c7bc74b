#!/usr/bin/env python3
"""Edit the same request with the same random textops / textopsx sequences
in Kamailio and in siprd, forward it, and compare what the next hop gets.

Each case sends an OPTIONS or INVITE (random extra headers, a text, SDP or
empty body) and runs one to five functions on it: searches, replaces and
`subst`s on the whole message, the headers, the body, the R-URI and single
headers; header additions and removals (by name, index, regular expression,
value); textopsx header values; body replacement, parts and filtering;
`msg_apply_changes()` in between. Edits on overlapping places are on
purpose: that is where the change lists of the two servers could part. The
request is then forwarded to the sink and answered with the return codes.

    python3 tests/kamailio-diff/textops_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
"""
import os, random, sys, tempfile
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from sweeplib import loadable, probe_cases

EXTRA = [
    "Subject: hello there",
    "X-Multi: four",
    "x-multi: lower, case",
    "P-Asserted-Identity: <sip:p@h.example>",
    "Supported: timer, 100rel",
    "X-Empty:",
    "Accept: application/sdp",
    "X-Tag: a;b=1;c",
]
BODIES = [
    None,  # the default "hello world", text/plain
    "",
    "v=0\\r\\no=- 1 1 IN IP4 10.0.0.1\\r\\ns=-\\r\\nc=IN IP4 10.0.0.1\\r\\nt=0 0\\r\\nm=audio 4000 RTP/AVP 0 8\\r\\na=sendrecv\\r\\n",
    "one two three two one",
]
# regular expressions both servers compile, chosen to hit headers, body,
# line ends, nothing at all and the empty string
REGEX = [
    "hello", "o", "l+", "(one|two)", "two|three", "(t|th)r", "[0-9]+", "x-multi",
    "X-Multi: [a-z]+", "^X-Multi:.*", "world$", "Content-Type: [a-z/]+", "sip:[a-z]+@",
    "127\\.0\\.0\\.1", "nomatch", "a=[a-z]+", "IN IP4", "e", "^", "$", "alice|ali",
    "[[:digit:]]{2,}", "(a)(l)", "User-Agent",
]
TEXT = ["X", "", "yy", "new text", "A\\r\\nX-Ins: 1", "$rU", "$hdr(Subject)", "Z Z"]
SUBST_REPL = ["X", "", "<\\\\1>", "\\\\0\\\\0", "[\\\\2]", "$rU", "q\\\\1q", "(\\\\u)"]
HEADERS = ["X-Multi", "Contact", "Subject", "User-Agent", "To", "From", "X-Empty", "Supported",
           "CSeq", "x-multi", "Accept", "X-None", "X-Tag", "Content-Type"]
HF_RE = ["^X-", "^x-m", "Sub.*", "^C", "[Aa]ccept", "nomatch", "^X-Multi$", "T"]
CRLF = "\\r\\n"  # as written in the config
SUBJECTS = ["alice hello one two", "three two one", "sip:alice@example.com", "a"]
VALUES = ["one", "two", "three", "four", "timer", "100rel", "nope", "a"]


def q(s):
    return '"' + s + '"'


def subst_expr(rng):
    re = rng.choice(REGEX)
    return f"/{re}/{rng.choice(SUBST_REPL)}/{rng.choice(['', 'g', 'i', 'ig', 's', 'gs'])}"


def op(rng):
    k = rng.choice([
        "search", "search_body", "search_hf", "search_append", "search_append_body",
        "replace", "replace_all", "replace_body", "replace_body_all", "replace_body_atonce",
        "replace_hdrs", "subst", "subst_uri", "subst_user", "subst_body", "subst_hf",
        "append_hf", "append_hf2", "insert_hf", "insert_hf2", "append_urihf",
        "remove_hf", "remove_hf_re", "remove_hf_exp", "remove_hf_idx", "is_present_hf",
        "is_present_hf_re", "append_hf_value", "insert_hf_value", "remove_hf_value",
        "remove_hf_value2", "assign_hf_value", "assign_hf_value2", "include_hf_value",
        "exclude_hf_value", "hf_value_exists", "keep_hf", "msg_apply_changes", "set_body",
        "remove_body", "append_body_part", "remove_body_part", "filter_body", "has_body",
        "add_uri_param", "remove_hf_match", "replace_str", "set_ru", "regex_substring",
        "re_subst",
    ])
    re, txt, hf = rng.choice(REGEX), rng.choice(TEXT), rng.choice(HEADERS)
    if k in ("search", "search_body", "remove_hf_re", "is_present_hf_re"):
        return f"{k}({q(re if k != 'remove_hf_re' and k != 'is_present_hf_re' else rng.choice(HF_RE))})"
    if k == "search_hf":
        return f"search_hf({q(hf)}, {q(re)}, {q(rng.choice(['a', 'f', 'l']))})"
    if k in ("search_append", "search_append_body", "replace", "replace_all", "replace_body",
             "replace_body_all", "replace_body_atonce", "replace_hdrs"):
        return f"{k}({q(re)}, {q(txt)})"
    if k in ("subst", "subst_uri", "subst_user", "subst_body"):
        if k in ("subst_uri", "subst_user"):
            re2 = rng.choice(["^sip:([a-z]+)@", "(.*)", "udp", "^([^@]+)$", "^(.)", "x"])
            return f"{k}('/{re2}/{rng.choice(SUBST_REPL)}/{rng.choice(['', 'g', 'i'])}')"
        return f"{k}('{subst_expr(rng)}')"
    if k == "subst_hf":
        return f"subst_hf({q(hf)}, '{subst_expr(rng)}', {q(rng.choice(['a', 'f', 'l']))})"
    if k in ("append_hf", "insert_hf"):
        return f"{k}({q(rng.choice(['X-New: 1', 'X-Multi: five', 'Subject: s2']) + CRLF)})"
    if k in ("append_hf2", "insert_hf2"):
        return f"{k[:-1]}({q('X-New: 2' + CRLF)}, {q(hf)})"
    if k == "append_urihf":
        return f"append_urihf({q('X-Uri: <')}, {q('>' + CRLF)})"
    if k == "remove_hf":
        return f"remove_hf({q(hf)})"
    if k == "remove_hf_exp":
        return f"remove_hf_exp({q(rng.choice(HF_RE))}, {q(rng.choice(HF_RE))})"
    if k == "remove_hf_idx":
        return f"remove_hf_idx({q(hf)}, {q(rng.choice(['0', '1', '-1', '2']))})"
    if k == "remove_hf_match":
        return f"remove_hf_match({q(hf)}, {q(rng.choice(['eq', 'ne', 'sw', 'in', 're', 'fm']))}, {q(rng.choice(VALUES + ['two, three', 't*']))})"
    if k == "is_present_hf":
        return f"is_present_hf({q(hf)})"
    if k in ("append_hf_value", "insert_hf_value", "assign_hf_value", "assign_hf_value2"):
        h = rng.choice(["X-Multi", "Supported", "X-Tag", "Subject", "X-None"])
        idx = rng.choice(["", "", "[1]", "[-1]", "[2]", "[*]"]) if "assign" in k else rng.choice(["", "", "[1]", "[-1]"])
        return f"{k}({q(h + idx)}, {q(rng.choice(VALUES))})"
    if k in ("remove_hf_value", "remove_hf_value2"):
        h = rng.choice(["X-Multi", "Supported", "X-Tag", "Subject", "X-None"])
        return f"{k}({q(h + rng.choice(['', '[1]', '[-1]', '[2]', '[*]']))})"
    if k in ("include_hf_value", "exclude_hf_value", "hf_value_exists"):
        h = rng.choice(["X-Multi", "Supported", "X-Tag", "X-None"])
        return f"{k}({q(h)}, {q(rng.choice(VALUES))})"
    if k == "keep_hf":
        return f"keep_hf({q(rng.choice(HF_RE))})"
    if k in ("msg_apply_changes", "remove_body", "has_body"):
        return f"{k}()"
    if k == "set_body":
        return f"set_body({q(rng.choice(['new body', '']))}, {q(rng.choice(['text/plain', 'application/x-t']))})"
    if k == "append_body_part":
        return f"append_body_part({q('part ' + rng.choice(['a', 'b']))}, {q('text/x-p')})"
    if k == "remove_body_part":
        return f"remove_body_part({q(rng.choice(['text/x-p', 'application/sdp', 'text/plain']))})"
    if k == "filter_body":
        return f"filter_body({q(rng.choice(['application/sdp', 'text/plain', 'text/x-p']))})"
    if k == "add_uri_param":
        return f"add_uri_param({q(rng.choice(['p=1', 'lr', 'transport=tcp']))})"
    if k == "regex_substring":
        return (f'regex_substring("{rng.choice(SUBJECTS)}", "{re}", {rng.choice([0, 1, 2])}, 3, '
                f'"$var(rs)")')
    if k == "re_subst":
        return (f'$var(rs) = $(var(rs){{re.subst,{subst_expr(rng)}}}) + "|" + '
                f'$(hdr(X-Multi){{re.subst,{subst_expr(rng)}}}); $var(z) = 1')
    if k == "replace_str":
        return f'$var(s) = "one two"; replace_str("$var(s)", "o", "0")'
    return f"$ru = {q(rng.choice(['sip:carol@127.0.0.1:5999', 'sip:x@h;transport=tcp', 'sip:127.0.0.1']))}; $var(z) = 1"


def case(rng, n, op=op):
    lines = [f"%method: {rng.choice(['OPTIONS', 'OPTIONS', 'INVITE'])}\n"]
    for h in rng.sample(EXTRA, rng.choice([0, 1, 2, 3])):
        lines.append(f"%hdr: {h}\n")
    body = rng.choice(BODIES)
    if body is not None:
        lines.append(f"%body: {body}\n")
    ops = [op(rng) for _ in range(rng.choice([1, 2, 2, 3, 4, 5]))]
    lines.append('    $var(rs) = "alice three";\n')
    rcs = []
    for i, o in enumerate(ops):
        pre, _, o = o.rpartition(";; ")  # statements to run before the call
        if pre:
            lines.append(f"    {pre};\n")
        if o.startswith("$"):
            lines.append(f"    {o};\n")
            continue
        lines.append(f"    $var(r{i}) = {o};\n")
        rcs.append(f"$var(r{i})")
    lines.append("    forward(\"127.0.0.1\", @SINK@);\n")
    lines.append(f"    sl_send_reply(\"200\", \"rc {' '.join(rcs)} rs=[$var(rs)]\");\n")
    return (f"x{n}", "".join(lines))


def main(op=op):
    """The sweep's command line; `op(rng)` draws one call (other sweeps pass theirs)."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 150
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="textops_sweep.")
    cases = [case(rng, n, op) for n in range(count)]
    good, _ = loadable(cases, tmp, lambda body: "".join(
        l for l in body.splitlines(keepends=True) if not l.startswith("%")).replace("@SINK@", "5979"))
    print(f"{len(cases) - len(good)} refused by one or both")
    probe_cases(good, tmp)


if __name__ == "__main__":
    main()
