#!/usr/bin/env python3
"""Run the same random siputils calls in Kamailio and in siprd (the harness of
textops_sweep.py: random request, one to five calls, forward, compare).

Calls: URI and number checks on random values (is_uri, is_e164, is_tel_number,
is_numeric, is_alphanum(ex), is_user, cmp_uri, cmp_aor), R-URI edits
(add_uri_param, uri_param_rm, set_uri_user/host, tel2sip, $ru and $rU
assignments), parameter reads (uri_param, uri_param_any, get_uri_param),
message checks (has_totag, is_first_hop, is_gruu, is_supported, is_request,
is_reply, is_uri_host_local). The reply carries every return code and
`$var(rs)` (what get_uri_param read); the forwarded request shows the R-URI.

    python3 tests/kamailio-diff/siputils_sweep.py [COUNT] [SEED]
    (needs kamailio installed and target/release/siprd built)
"""
import os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import textops_sweep

URIS = [
    "sip:alice@example.com", "sip:alice@example.com;transport=tcp", "sips:bob@h:5061",
    "sip:+4912345@h;user=phone", "tel:+4912345;phone-context=x", "sip:h", "sip:a@[::1]:5060",
    "sip:ALICE@EXAMPLE.COM", "sip:alice@example.com:5060", "alice@example.com", "sip:",
    "sip:a%40b@h;lr;x=1?X=2", "<sip:a@h>", "", "sip:127.0.0.1:5978",
]
NUMS = ["+4912345", "4912345", "+1", "+123456789012345", "+1234567890123456", "12a", "", "007",
        "+49 123", "abc_-", "a.b"]
PARAMS = ["transport", "lr", "x", "user", "p", "TRANSPORT", "maddr"]


def q(s):
    return '"' + s + '"'


def op(rng):
    """One call; its value arguments go through variables, since several
    siputils functions take only a pseudo-variable there."""
    u, u2, n = rng.choice(URIS), rng.choice(URIS), rng.choice(NUMS)
    k = rng.choice([
        "is_uri", "is_e164", "is_tel_number", "is_numeric", "is_alphanum", "is_alphanumex",
        "is_user", "cmp_uri", "cmp_aor", "add_uri_param", "uri_param_rm", "set_uri_user",
        "set_uri_host", "tel2sip", "set_ru", "set_ru_user", "uri_param", "uri_param2",
        "uri_param_any", "get_uri_param", "has_totag", "is_first_hop", "is_gruu",
        "is_supported", "is_request", "is_reply", "is_uri_user_e164",
    ])
    if k in ("is_uri", "is_uri_user_e164"):
        return f'$var(a) = {q(u)};; {k}("$var(a)")'
    if k in ("is_e164", "is_tel_number", "is_numeric", "is_alphanum"):
        return f'$var(a) = {q(n)};; {k}("$var(a)")'
    if k == "is_alphanumex":
        return f'$var(a) = {q(n)};; is_alphanumex("$var(a)", {q(rng.choice(["_-", ".", "+ "]))})'
    if k == "is_user":
        return f"is_user({q(rng.choice(['alice', 'x1', 'ALICE']))})"
    if k in ("cmp_uri", "cmp_aor"):
        return f'$var(a) = {q(u)}; $var(b) = {q(rng.choice([u, u2]))};; {k}("$var(a)", "$var(b)")'
    if k in ("add_uri_param", "uri_param_rm"):
        return f"{k}({q(rng.choice(['p=1', 'lr', 'transport=tcp', 'x', 'user=phone']))})"
    if k in ("set_uri_user", "set_uri_host"):
        return (f'$var(u) = {q(u)}; $var(v) = {q(rng.choice(["bob", "", "h2", "+1"]))};; '
                f'{k}("$var(u)", "$var(v)")')
    if k == "tel2sip":
        return (f'$var(a) = {q(u)}; $var(h) = {q(rng.choice(["h.example", "h:5060"]))};; '
                f'tel2sip("$var(a)", "$var(h)", "$var(rs)")')
    if k == "set_ru":
        return f'$ru = {q(rng.choice([x for x in URIS if x.startswith("sip") and len(x) > 4]))}; $var(z) = 1'
    if k == "set_ru_user":
        return f'$rU = {q(rng.choice(["bob", "+4912345", "a b"]))}; $var(z) = 1'
    if k == "uri_param":
        return f"uri_param({q(rng.choice(PARAMS))})"
    if k == "uri_param2":
        return f"uri_param({q(rng.choice(PARAMS))}, {q(rng.choice(['udp', 'tcp', '1', '']))})"
    if k == "uri_param_any":
        return f"uri_param_any({q(rng.choice(PARAMS))})"
    if k == "get_uri_param":
        return f'get_uri_param({q(rng.choice(PARAMS))}, "$var(rs)")'
    if k == "is_supported":
        return f"is_supported({q(rng.choice(['timer', '100rel', 'path', 'outbound', 'gruu']))})"
    return f"{k}()"


if __name__ == "__main__":
    textops_sweep.main(op)
