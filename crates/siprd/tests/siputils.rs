//! End-to-end tests of siputils (options_reply, URI setters, is_supported,
//! cmp_hdr_name, tel2sip, is_gruu, hdr_date_check), maxfwd's is_maxfwd_lt and
//! xlog's xlogm: every expected value below was observed on Kamailio 5.6.3
//! with the same script (probe cases in /tmp/h_siputils/*.cases).

mod common;

use common::*;
use std::time::Duration;

/// A config whose request_route runs `route[CASE]`, CASE being the request's
/// X-Case header (so the R-URI stays free for the case to choose).
fn cfg(globals: &str, modparams: &str, routes: &[(&str, &str)]) -> String {
    let mut out = format!(
        r#"
children=1
listen=udp:127.0.0.1:0
{globals}
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "maxfwd.so"
loadmodule "xlog.so"
{modparams}
request_route {{
    switch ($hdr(X-Case)) {{
"#
    );
    for (name, _) in routes {
        out.push_str(&format!("        case \"{name}\": route({name}); exit;\n"));
    }
    out.push_str("    }\n    sl_send_reply(\"500\", \"no case\");\n}\n");
    for (name, body) in routes {
        out.push_str(&format!("route[{name}] {{\n{body}\n}}\n"));
    }
    out
}

/// Send one request for `case` and return the whole reply.
fn run(s: &Siprd, c: &UdpClient, case: &str, method: &str, ruri: &str, extra: &str) -> String {
    let req = request(
        method,
        ruri,
        c.port(),
        &format!("{case}-{method}"),
        &format!("X-Case: {case}\r\n{extra}"),
    );
    c.request(s.udp_addr(), &req)
}

/// The reply's status line for `case`, sent as OPTIONS to `sip:u@127.0.0.1`.
fn status(s: &Siprd, c: &UdpClient, case: &str, extra: &str) -> String {
    first_line(&run(s, c, case, "OPTIONS", "sip:u@127.0.0.1", extra)).to_string()
}

const OPTIONS_ROUTE: &str = r#"
    if (options_reply()) { exit; }
    sl_send_reply("500", "after $rc");"#;

#[test]
fn options_reply_answers_options_to_the_server() {
    let s = Siprd::start(&cfg(
        "",
        "",
        &[
            ("o", OPTIONS_ROUTE),
            (
                "lumps",
                r#"
    append_to_reply("X-R: 1\r\n");
    if (options_reply()) { exit; }
    sl_send_reply("500", "after $rc");"#,
            ),
            (
                "setru",
                r#"
    $ru = "sip:127.0.0.1";
    if (options_reply()) { exit; }
    sl_send_reply("500", "after $rc");"#,
            ),
        ],
    ));
    let c = UdpClient::new();
    // No user in the R-URI: 200 with the default capability headers, in
    // this order and empty values kept.
    let r = run(&s, &c, "o", "OPTIONS", "sip:127.0.0.1", "");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
    assert!(
        r.contains("Accept: */*\r\nAccept-Encoding: \r\nAccept-Language: en\r\nSupported: \r\n"),
        "{r}"
    );
    assert!(r.contains("\r\nContent-Length: 0\r\n"), "{r}");
    // A user part, another method, or a tel: URI: false, nothing sent.
    for (method, ruri) in [
        ("OPTIONS", "sip:bob@127.0.0.1"),
        ("INVITE", "sip:127.0.0.1"),
        ("OPTIONS", "tel:+123"),
    ] {
        let r = run(&s, &c, "o", method, ruri, "");
        assert_eq!(
            first_line(&r),
            "SIP/2.0 500 after -1",
            "{method} {ruri}: {r}"
        );
        assert!(!r.contains("Accept:"), "{r}");
    }
    // Reply headers added before come first.
    let r = run(&s, &c, "lumps", "OPTIONS", "sip:127.0.0.1", "");
    assert!(r.contains("X-R: 1\r\nAccept: */*\r\n"), "{r}");
    // The R-URI as the script has set it is what counts.
    let r = run(&s, &c, "setru", "OPTIONS", "sip:bob@127.0.0.1", "");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
}

#[test]
fn options_reply_headers_come_from_the_modparams() {
    let s = Siprd::start(&cfg(
        "",
        r#"
modparam("siputils", "options_accept", "application/sdp")
modparam("siputils", "options_accept_encoding", "gzip")
modparam("siputils", "options_accept_language", "")
modparam("siputils", "options_support", "100rel, path")
"#,
        &[("o", OPTIONS_ROUTE)],
    ));
    let c = UdpClient::new();
    let r = run(&s, &c, "o", "OPTIONS", "sip:127.0.0.1:5060", "");
    assert_eq!(first_line(&r), "SIP/2.0 200 OK", "{r}");
    assert!(
        r.contains(
            "Accept: application/sdp\r\nAccept-Encoding: gzip\r\nAccept-Language: \r\nSupported: 100rel, path\r\n"
        ),
        "{r}"
    );
}

#[test]
fn set_uri_user_and_host() {
    let s = Siprd::start(&cfg(
        "",
        "",
        &[
            (
                "user",
                r#"
    $var(u) = "sip:bob:pw@example.com:5070;x=1?h=1";
    $var(n) = "alice";
    set_uri_user("$var(u)", "$var(n)");
    $var(a) = $var(u);
    $var(u) = "sip:example.com;x=1";
    set_uri_user("$var(u)", "$var(n)");
    $var(b) = $var(u);
    $var(u) = "sip:bob:pw@example.com:5070;x=1?h=1";
    $var(n) = "";
    set_uri_user("$var(u)", "$var(n)");
    sl_send_reply("200", "r=$var(a)|$var(b)|$var(u)");"#,
            ),
            (
                "ruri",
                r#"
    $var(n) = "zed";
    set_uri_user("$ru", "$var(n)");
    sl_send_reply("200", "r=$ru $rc");"#,
            ),
            (
                "bad",
                r#"
    $var(u) = "garbage";
    $var(n) = "x";
    set_uri_user("$var(u)", "$var(n)");
    sl_send_reply("200", "r=$var(u) $rc");"#,
            ),
            (
                "host",
                r#"
    $var(u) = "sip:bob:pw@example.com:5070;x=1?a=b";
    $var(n) = "h2.org";
    set_uri_host("$var(u)", "$var(n)");
    $var(a) = $var(u);
    $var(n) = "";
    set_uri_host("$var(u)", "$var(n)");
    sl_send_reply("200", "r=$var(a) $rc $var(u)");"#,
            ),
        ],
    ));
    let c = UdpClient::new();
    assert_eq!(
        status(&s, &c, "user", ""),
        "SIP/2.0 200 r=sip:alice@example.com:5070;x=1?h=1|sip:alice@example.com;x=1|sip:example.com:5070;x=1?h=1"
    );
    assert_eq!(
        status(&s, &c, "ruri", ""),
        "SIP/2.0 200 r=sip:zed@127.0.0.1 1"
    );
    assert_eq!(status(&s, &c, "bad", ""), "SIP/2.0 200 r=garbage -1");
    assert_eq!(
        status(&s, &c, "host", ""),
        "SIP/2.0 200 r=sip:bob:pw@h2.org:5070;x=1?a=b -1 sip:bob:pw@h2.org:5070;x=1?a=b"
    );
    // Kamailio takes pseudo-variables only: a constant is refused at load.
    let (code, out) = check_config(&cfg(
        "",
        "",
        &[("k", r#"$var(u) = "sip:a@b"; set_uri_user("$var(u)", "x");"#)],
    ));
    assert_ne!(code, 0, "{out}");
}

#[test]
fn supported_header_names_and_gruu() {
    let s = Siprd::start(&cfg(
        "",
        "",
        &[
            (
                "sup",
                r#"
    $var(r) = "";
    if (is_supported("path")) { $var(r) = $var(r) + "p"; }
    if (is_supported("timer")) { $var(r) = $var(r) + "t"; }
    if (is_supported("100rel")) { $var(r) = $var(r) + "1"; }
    if (is_supported("gruu")) { $var(r) = $var(r) + "g"; }
    if (is_supported("outbound")) { $var(r) = $var(r) + "o"; }
    if (is_supported("eventlist")) { $var(r) = $var(r) + "e"; }
    sl_send_reply("200", "r=$var(r)");"#,
            ),
            (
                "hdr",
                r#"
    $var(r) = "";
    cmp_hdr_name("From", "from"); $var(r) = $var(r) + $rc;
    cmp_hdr_name("f", "From"); $var(r) = $var(r) + $rc;
    cmp_hdr_name("X-Foo\t", "x-foo"); $var(r) = $var(r) + $rc;
    cmp_hdr_name("X-Foo", "X-Fo"); $var(r) = $var(r) + $rc;
    cmp_hdr_name("X-Foo:", "X-Foo"); $var(r) = $var(r) + $rc;
    cmp_hdr_name(" From", "From"); $var(r) = $var(r) + $rc;
    cmp_hdr_name("", ""); $var(r) = $var(r) + $rc;
    $var(h) = "Call-ID";
    cmp_hdr_name("$var(h)", "i"); $var(r) = $var(r) + $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
            (
                "gruu",
                r#"
    $var(r) = "";
    is_gruu(); $var(r) = $var(r) + $rc;
    is_gruu("sip:a@b;gr"); $var(r) = $var(r) + $rc;
    is_gruu("sip:a@b;gr=urn:uuid:1"); $var(r) = $var(r) + $rc;
    is_gruu("sip:a@b;gr="); $var(r) = $var(r) + $rc;
    is_gruu("sip:a@b;x=1"); $var(r) = $var(r) + $rc;
    is_gruu("<sip:a@b;gr=x>"); $var(r) = $var(r) + $rc;
    is_gruu("sip:a@b;GR"); $var(r) = $var(r) + $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
        ],
    ));
    let c = UdpClient::new();
    let sup = |extra: &str| status(&s, &c, "sup", extra);
    assert_eq!(
        sup("Supported: path, timer\r\nSupported: 100rel\r\n"),
        "SIP/2.0 200 r=pt1"
    );
    assert_eq!(sup("k: gruu,outbound, eventlist\r\n"), "SIP/2.0 200 r=goe");
    assert_eq!(sup("Supported: PATH, Timer, foo\r\n"), "SIP/2.0 200 r=pt");
    assert_eq!(sup("Supported: pathx, timer;x=1\r\n"), "SIP/2.0 200 r=");
    assert_eq!(sup(""), "SIP/2.0 200 r=");
    assert_eq!(status(&s, &c, "hdr", ""), "SIP/2.0 200 r=111-2-1-2-21");
    assert_eq!(status(&s, &c, "gruu", ""), "SIP/2.0 200 r=-1212-1-12");
    let r = run(&s, &c, "gruu", "OPTIONS", "sip:u@h;gr=abc", "");
    assert!(first_line(&r).starts_with("SIP/2.0 200 r=1"), "{r}");
}

#[test]
fn tel2sip_converts_tel_uris() {
    let s = Siprd::start(&cfg(
        "",
        "",
        &[(
            "tel",
            r#"
    $var(o) = "unset";
    tel2sip("$hdr(X-U)", "$hdr(X-H)", "$var(o)"); $var(r) = $rc;
    sl_send_reply("200", "r=$var(r) [$var(o)]");"#,
        )],
    ));
    let c = UdpClient::new();
    for (uri, host, want) in [
        (
            "tel:+(34)-999-888-777",
            "foo.com",
            "r=1 [sip:+34999888777@foo.com;user=phone]",
        ),
        (
            "tel:+12-(34)-56-78;Ext=200;ISUB=+123-456",
            "foo.com",
            "r=1 [sip:+12345678;ext=200;isub=+123-456@foo.com;user=phone]",
        ),
        ("sip:a@b", "foo.com", "r=2 [unset]"),
        (
            "TEL:555.1234",
            "h.org:5070",
            "r=1 [sip:5551234@h.org:5070;user=phone]",
        ),
        ("tel:", "foo.com", "r=1 [sip:@foo.com;user=phone]"),
        ("tels:123", "foo.com", "r=2 [unset]"),
    ] {
        let got = status(&s, &c, "tel", &format!("X-U: {uri}\r\nX-H: {host}\r\n"));
        assert_eq!(got, format!("SIP/2.0 200 {want}"), "{uri}");
    }
}

#[test]
fn hdr_date_check_compares_with_now() {
    let s = Siprd::start(&cfg(
        "",
        "",
        &[
            (
                "d",
                r#"
    hdr_date_check("10"); $var(r) = $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
            (
                "dv",
                r#"
    $var(t) = 999999999;
    hdr_date_check("$var(t)"); $var(r) = $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
        ],
    ));
    let c = UdpClient::new();
    let d = |case: &str, date: &str| status(&s, &c, case, &format!("Date: {date}\r\n"));
    assert_eq!(d("d", "Sat, 13 Nov 2010 23:29:00 GMT"), "SIP/2.0 200 r=-4");
    assert_eq!(d("d", "Fri, 13 Nov 2099 23:29:00 GMT"), "SIP/2.0 200 r=1");
    assert_eq!(d("d", "garbage"), "SIP/2.0 200 r=-1");
    assert_eq!(d("d", "Sat, 13 Nov 2010 23:29:00 UTC"), "SIP/2.0 200 r=-1");
    assert_eq!(d("d", "Sat, 13 nov 2010 23:29:00 GMT"), "SIP/2.0 200 r=-1");
    // The week day is not checked against the date.
    assert_eq!(d("d", "Mon, 13 Nov 2099 23:29:00 GMT"), "SIP/2.0 200 r=1");
    assert_eq!(d("dv", "Sat, 13 Nov 2010 23:29:00 GMT"), "SIP/2.0 200 r=1");
    assert_eq!(status(&s, &c, "d", ""), "SIP/2.0 200 r=-1");
}

#[test]
fn is_maxfwd_lt_reads_the_decremented_value() {
    let s = Siprd::start(&cfg(
        "",
        "",
        &[
            (
                "lt",
                r#"
    $var(r) = "";
    is_maxfwd_lt("6"); $var(r) = $var(r) + $rc;
    is_maxfwd_lt("5"); $var(r) = $var(r) + $rc;
    $var(l) = 6;
    is_maxfwd_lt($var(l)); $var(r) = $var(r) + $rc;
    maxfwd_at_least("256"); $var(r) = $var(r) + $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
            (
                "dec",
                r#"
    $var(r) = "";
    mf_process_maxfwd_header("10"); $var(r) = $var(r) + $rc;
    is_maxfwd_lt("5"); $var(r) = $var(r) + $rc;
    is_maxfwd_lt("4"); $var(r) = $var(r) + $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
            (
                "added",
                r#"
    $var(r) = "";
    maxfwd_process("10"); $var(r) = $var(r) + $rc;
    is_maxfwd_lt("11"); $var(r) = $var(r) + $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
            (
                "bad",
                r#"
    $var(r) = "";
    is_maxfwd_lt("6"); $var(r) = $var(r) + $rc;
    $var(x) = "6";
    is_maxfwd_lt("$var(x)"); $var(r) = $var(r) + $rc;
    sl_send_reply("200", "r=$var(r)");"#,
            ),
        ],
    ));
    let c = UdpClient::new();
    let mf = |case: &str, v: Option<&str>| {
        let req = request(
            "OPTIONS",
            "sip:u@127.0.0.1",
            c.port(),
            &format!("mf-{case}-{}", v.unwrap_or("none")),
            &format!("X-Case: {case}\r\n"),
        );
        let req = match v {
            Some(v) => req.replace("Max-Forwards: 70", &format!("Max-Forwards: {v}")),
            None => req.replace("Max-Forwards: 70\r\n", ""),
        };
        first_line(&c.request(s.udp_addr(), &req)).to_string()
    };
    assert_eq!(mf("lt", Some("5")), "SIP/2.0 200 r=1-11-1");
    assert_eq!(mf("lt", None), "SIP/2.0 200 r=-2-2-2-1");
    assert_eq!(mf("dec", Some("5")), "SIP/2.0 200 r=11-1");
    assert_eq!(mf("added", None), "SIP/2.0 200 r=2-2");
    assert_eq!(mf("bad", Some("abc")), "SIP/2.0 200 r=-3-1");
}

#[test]
fn xlogm_skips_the_filtered_methods() {
    let s = Siprd::start(&cfg(
        "debug=3",
        r#"modparam("xlog", "methods_filter", 512)"#,
        &[(
            "x",
            r#"
    xlogm("L_ERR", "XLOGM-$rm\n");
    xdbgl("XDBGL-$rm\n");
    sl_send_reply("200", "ok");"#,
        )],
    ));
    let c = UdpClient::new();
    // OPTIONS (512) is filtered, INVITE and an unknown method are not.
    for m in ["OPTIONS", "INVITE", "FOO"] {
        let r = run(&s, &c, "x", m, "sip:u@127.0.0.1", "");
        assert_eq!(first_line(&r), "SIP/2.0 200 ok", "{r}");
    }
    assert!(
        s.wait_log("XLOGM-FOO", Duration::from_secs(3)),
        "{}",
        s.log()
    );
    assert!(s.log().contains("XLOGM-INVITE"), "{}", s.log());
    assert!(!s.log().contains("XLOGM-OPTIONS"), "{}", s.log());
    assert!(s.log().contains("XDBGL-OPTIONS"), "{}", s.log());

    // By default every method is filtered: xlogm prints nothing.
    let s = Siprd::start(&cfg(
        "",
        "",
        &[(
            "x",
            r#"
    xlogm("L_ERR", "XLOGM-$rm\n");
    xlog("L_ERR", "XLOG-$rm\n");
    sl_send_reply("200", "ok");"#,
        )],
    ));
    let r = run(&s, &c, "x", "INVITE", "sip:u@127.0.0.1", "");
    assert_eq!(first_line(&r), "SIP/2.0 200 ok", "{r}");
    assert!(
        s.wait_log("XLOG-INVITE", Duration::from_secs(3)),
        "{}",
        s.log()
    );
    assert!(!s.log().contains("XLOGM-"), "{}", s.log());
}

/// Start a server whose cases forward the edited request to `hop`.
fn contact_server(hop: u16, modparams: &str) -> Siprd {
    let fwd = |body: &str| {
        format!(
            "{body} $var(r) = $rc;\n    append_hf(\"X-R: $var(r)\\r\\n\");\n    forward(\"127.0.0.1\", {hop});"
        )
    };
    Siprd::start(&cfg(
        "",
        modparams,
        &[
            (
                "cpe",
                &fwd(r#"contact_param_encode("ksu", "sip:1.2.3.4");"#),
            ),
            ("cpd", &fwd(r#"contact_param_decode("ksu");"#)),
            ("cpm", &fwd(r#"contact_param_rm("ksu");"#)),
            (
                "cpr",
                r#"contact_param_decode_ruri("ksu"); $var(r) = $rc;
    sl_send_reply("200", "r=$var(r) $ru");"#,
            ),
            ("enc", &fwd(r#"encode_contact("enc", "1.2.3.4:5080");"#)),
            ("dech", &fwd(r#"decode_contact_header();"#)),
            (
                "dec",
                r#"decode_contact(); $var(r) = $rc;
    sl_send_reply("200", "r=$var(r) $ru");"#,
            ),
        ],
    ))
}

#[test]
fn contact_uris_encoded_in_a_parameter() {
    let hop = NextHop::new();
    let s = contact_server(hop.port(), "");
    let c = UdpClient::new();
    // Sends `case` with the given Contact headers, returns what was forwarded.
    let fwd = |case: &str, contacts: &str| -> String {
        let req = request(
            "REGISTER",
            "sip:127.0.0.1",
            c.port(),
            &format!("{case}-{}", contacts.len()),
            &format!("X-Case: {case}\r\n{contacts}"),
        );
        c.send(s.udp_addr(), &req);
        let (f, _) = hop
            .recv_start("REGISTER", Duration::from_secs(3))
            .expect("forwarded");
        f
    };
    let f = fwd(
        "cpe",
        "Contact: \"Bob\" <sip:bob:pw@10.0.0.1:5062;transport=tls;lr>;q=0.5, sip:carol@10.0.0.2;expires=10\r\nContact: <sip:dave@10.0.0.3>\r\n",
    );
    assert!(
        f.contains("Contact: \"Bob\" <sip:1.2.3.4;ksu=c2lwOmJvYjpwd0AxMC4wLjAuMTo1MDYyO3RyYW5zcG9ydD10bHM7bHI>;q=0.5, <sip:1.2.3.4;ksu=c2lwOmNhcm9sQDEwLjAuMC4y>;expires=10\r\nContact: <sip:dave@10.0.0.3>\r\n"),
        "{f}"
    );
    assert_eq!(header(&f, "X-R"), Some("1"), "{f}");
    let f = fwd(
        "cpd",
        "Contact: <sip:1.2.3.4:5060;transport=tcp;ksu=c2lwOmFsaWNlQDE5Mi4wLjIuMTo1MDgwO3RyYW5zcG9ydD10Y3A>;expires=60, <sip:h;x=1>\r\n",
    );
    assert!(
        f.contains("Contact: <sip:alice@192.0.2.1:5080;transport=tcp>;expires=60, <sip:h;x=1>\r\n"),
        "{f}"
    );
    let f = fwd("cpd", "Contact: <sip:1.2.3.4;ksu=!!!>\r\n");
    assert_eq!(header(&f, "X-R"), Some("-1"), "{f}");
    assert!(f.contains("Contact: <sip:1.2.3.4;ksu=!!!>\r\n"), "{f}");
    let f = fwd(
        "cpm",
        "Contact: <sip:1.2.3.4:5060;transport=tcp;ksu=abc;x=1>;expires=60, <sip:h;ksu>;ksu=1\r\n",
    );
    assert!(
        f.contains("Contact: <sip:1.2.3.4:5060;transport=tcp;x=1>;expires=60, <sip:h>;ksu=1\r\n"),
        "{f}"
    );
    let f = fwd("cpe", "Contact: *\r\n");
    assert!(f.contains("Contact: *\r\n"), "{f}");
    assert_eq!(header(&f, "X-R"), Some("1"), "{f}");

    let r = run(
        &s,
        &c,
        "cpr",
        "INVITE",
        "sip:1.2.3.4;ksu=c2lwOmFsaWNlQDE5Mi4wLjIuMQ==",
        "",
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 r=1 sip:alice@192.0.2.1", "{r}");
    let r = run(
        &s,
        &c,
        "cpr",
        "INVITE",
        "sip:1.2.3.4:5060;transport=tcp",
        "",
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 r=1 sip:1.2.3.4:5060;transport=tcp",
        "{r}"
    );
}

#[test]
fn contact_uris_encoded_in_the_user_part() {
    let hop = NextHop::new();
    let s = contact_server(hop.port(), "");
    let c = UdpClient::new();
    let fwd = |case: &str, contacts: &str| -> String {
        let req = request(
            "REGISTER",
            "sip:127.0.0.1",
            c.port(),
            &format!("{case}-{}", contacts.len()),
            &format!("X-Case: {case}\r\n{contacts}"),
        );
        c.send(s.udp_addr(), &req);
        let (f, _) = hop
            .recv_start("REGISTER", Duration::from_secs(3))
            .expect("forwarded");
        f
    };
    let f = fwd(
        "enc",
        "Contact: \"Bob\" <sip:bob:pw@10.0.0.1:5062;transport=tls;lr>;q=0.5, sip:carol@10.0.0.2;expires=10\r\nContact: <sip:dave@10.0.0.3>\r\n",
    );
    assert!(
        f.contains("Contact: \"Bob\" <sip:enc*bob*pw*10.0.0.1*5062*tls@1.2.3.4:5080>;q=0.5, sip:enc*carol**10.0.0.2**@1.2.3.4:5080;expires=10\r\nContact: <sip:dave@10.0.0.3>\r\n"),
        "{f}"
    );
    // sips is refused and nothing changes.
    let f = fwd("enc", "Contact: <sips:a@h;transport=TCP>\r\n");
    assert_eq!(header(&f, "X-R"), Some("-509"), "{f}");
    let f = fwd(
        "dech",
        "Contact: <sip:enc*bob*pw*10.0.0.1*5062*tls@1.2.3.4>;q=1, \"X\" <sip:enc*carol**10.0.0.2**@1.2.3.4;lr>\r\n",
    );
    assert!(
        f.contains("Contact: <sip:bob:pw@10.0.0.1:5062;transport=tls>;q=1, \"X\" <sip:carol@10.0.0.2;lr>\r\n"),
        "{f}"
    );
    // One URI that does not decode: nothing changes.
    let f = fwd(
        "dech",
        "Contact: <sip:enc*bob*pw*10.0.0.1*5062*tls@1.2.3.4>, <sip:plain@h>\r\n",
    );
    assert_eq!(header(&f, "X-R"), Some("-26"), "{f}");
    assert!(
        f.contains("<sip:enc*bob*pw*10.0.0.1*5062*tls@1.2.3.4>, <sip:plain@h>"),
        "{f}"
    );

    for (ruri, want) in [
        (
            "sip:enc*bob*pw*10.0.0.1*5062*tls@1.2.3.4",
            "r=1 sip:bob:pw@10.0.0.1:5062;transport=tls",
        ),
        (
            "sips:x*a**h*5061*tcp@1.2.3.4:5070;lr?h=1",
            "r=1 sips:a@h:5061;transport=tcp;lr?h=1",
        ),
        ("sip:enc*u**h**@1.2.3.4:5070?x=1", "r=1 sip:u@h"),
        ("sip:plain@1.2.3.4", "r=-26 sip:plain@1.2.3.4"),
        (
            "sip:enc*u*p*h*5*udp*x@1.2.3.4",
            "r=-24 sip:enc*u*p*h*5*udp*x@1.2.3.4",
        ),
        ("sip:1.2.3.4", "r=-23 sip:1.2.3.4"),
        (
            "sip:enc*bob*pw**5062*tls@1.2.3.4",
            "r=-2 sip:enc*bob*pw**5062*tls@1.2.3.4",
        ),
    ] {
        let r = run(&s, &c, "dec", "INVITE", ruri, "");
        assert_eq!(first_line(&r), format!("SIP/2.0 200 {want}"), "{ruri}");
    }

    // Another separator.
    let hop = NextHop::new();
    let s = contact_server(
        hop.port(),
        r#"modparam("siputils", "contact_flds_separator", "-x")"#,
    );
    let r = run(
        &s,
        &c,
        "dec",
        "INVITE",
        "sip:enc-bob-pw-10.0.0.1-5062-tls@1.2.3.4",
        "",
    );
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 r=1 sip:bob:pw@10.0.0.1:5062;transport=tls",
        "{r}"
    );
}

#[test]
fn arguments_refused_at_load_as_kamailio() {
    // Each refused by Kamailio 5.6.3 when it starts (module fix-ups).
    for f in [
        r#"set_uri_user("$var(a)", "alice")"#,
        r#"set_uri_user("x", "$var(b)")"#,
        r#"set_uri_host("$si", "$var(b)")"#,
        r#"tel2sip("$ru", "h", "x")"#,
        r#"tel2sip("$ru", "h", "$si")"#,
        r#"tel2sip($ru, "h", "$var(x)")"#,
        r#"is_supported("foo")"#,
        r#"is_supported("$var(x)")"#,
        r#"hdr_date_check("abc")"#,
        r#"is_maxfwd_lt("abc")"#,
        r#"mf_process_maxfwd_header("abc")"#,
    ] {
        let (code, out) = check_config(&cfg("", "", &[("k", &format!("{f};"))]));
        assert_ne!(code, 0, "{f} should be refused:\n{out}");
    }
    // And accepted by both.
    for f in [
        r#"set_uri_host($var(a), $var(b))"#,
        r#"is_supported("PATH")"#,
        r#"hdr_date_check($var(t))"#,
        r#"cmp_hdr_name($var(a), "b")"#,
        r#"is_gruu($var(u))"#,
        r#"is_maxfwd_lt($var(l))"#,
        r#"xlogm("$var(l)", "x")"#,
    ] {
        let (code, out) = check_config(&cfg("", "", &[("k", &format!("{f};"))]));
        assert_eq!(code, 0, "{f} should load:\n{out}");
    }
}
