//! Config forms Kamailio 5.6 starts with, checked on the wire: repeated main
//! routes, core actions without `()`, named flags, cfg variables,
//! `modparamx`/`loadmodulex`, a var fixup reading `$name` as an AVP, and
//! `async_route` to a route that does not exist.

mod common;

use common::*;

const CFG: &str = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
flags FLAG_A: 3, FLAG_B;
avpflags af;
loadmodule "pv.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "tmx.so"
loadmodulex "xlog.so"
loadmodule "textops.so"
loadmodule "async.so"
modparamx("tm", "auto_inv_100_reason", "T $env(SIPRD_FORMS_REASON)")
grp.num = 0x10 desc "a number"
grp.text = "str" DESC "a string"

request_route {
    force_rport;
    setflag(FLAG_A);
    setflag(FLAG_B);
    $avp(xyz) = "from-avp";
    if ($rU == "avp") {
        sl_send_reply("200", "$xyz");
        exit;
    }
    $var(r) = async_route("NOPE", "1");
    append_to_reply("F: $mF $mf\r\nR: $var(r)\r\nS: $sel(cfg_get.grp.num) $sel(cfg_get.grp.text) $sel(cfg_get.core.debug)\r\n");
}
request_route {
    append_to_reply("Second: yes\r\n");
    if (is_method("INVITE")) {
        t_suspend();
        exit;
    }
    sl_send_reply("200", "second");
}
"#;

#[test]
fn kamailio_config_forms_run() {
    let s = Siprd::start_env(CFG, &[], &[], &[("SIPRD_FORMS_REASON", "Here")]);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "forms1", ""),
    );
    // both request_route blocks ran, as one
    assert_eq!(first_line(&r), "SIP/2.0 200 second", "{r}");
    assert_eq!(header(&r, "Second"), Some("yes"), "{r}");
    // FLAG_B took the lowest free flag (0)
    assert_eq!(header(&r, "F"), Some("00000009 9"), "{r}");
    assert_eq!(header(&r, "R"), Some("-1"), "{r}");
    assert_eq!(header(&r, "S"), Some("16 str 2"), "{r}");
    // force_rport: rport filled, no received (the Via host is the source)
    let via = header(&r, "Via").unwrap_or_default();
    assert!(via.ends_with(&format!(";rport={}", c.port())), "{via}");
    assert!(s.wait_log(
        "route block not found: NOPE",
        std::time::Duration::from_secs(2)
    ));

    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:avp@127.0.0.1", c.port(), "forms2", ""),
    );
    assert_eq!(first_line(&r), "SIP/2.0 200 from-avp", "{r}");

    // modparamx evaluated $env: tm's 100 carries the reason
    c.send(
        s.udp_addr(),
        &request("INVITE", "sip:x@127.0.0.1", c.port(), "forms3", ""),
    );
    let r = c
        .recv(std::time::Duration::from_secs(2))
        .expect("a 100 Trying");
    assert_eq!(first_line(&r), "SIP/2.0 100 T Here", "{r}");
}

#[test]
fn kamailio_refusals_are_kept() {
    for (cfg, needle) in [
        (
            "request_route { $xyz(a) = 1; }",
            "unknown pseudo-variable class",
        ),
        (
            "route[X] { exit; }\nroute[X] { drop; }\nrequest_route { route(X); }",
            "defined more than once",
        ),
        (
            "grp.v = 1\ngrp.v = 2\nrequest_route { exit; }",
            "declared twice",
        ),
    ] {
        let (code, out) = check_config(&format!(
            "loadmodule \"pv.so\"\nloadmodule \"sl.so\"\n{cfg}\n"
        ));
        assert_ne!(code, 0, "{cfg}: {out}");
        assert!(out.contains(needle), "{cfg}: {out}");
    }
}

#[test]
fn kamailio_module_parameters_siprd_does_not_use_still_load() {
    // parameters Kamailio 5.6's modules have (kamailio_params.rs), set to
    // values Kamailio takes: the config loads, each gets a warning
    let (code, out) = check_config(
        r#"loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "corex.so"
loadmodule "jsonrpcs.so"
modparam("tm", "relay_100", 1)
modparam("tm", "reply_relay_mode", 1)
modparam("tmx", "precheck_trans", 0)
modparam("corex", "alias_subdomains", "udp:example.com:5060")
modparam("jsonrpcs", "fifo_user", 1000)
modparam("jsonrpcs", "fifo_group", "kamailio")
request_route { exit; }
"#,
    );
    assert_eq!(code, 0, "{out}");
    for p in [
        "relay_100",
        "reply_relay_mode",
        "precheck_trans",
        "alias_subdomains",
    ] {
        assert!(
            out.contains(&format!("parameter `{p}` of module"))
                && out.contains("is ignored by siprd"),
            "{p}: {out}"
        );
    }
    // a name neither has is still an error, with the usual hint
    let (code, out) = check_config(
        "loadmodule \"tm.so\"\nmodparam(\"tm\", \"relay_10\", 1)\nrequest_route { exit; }\n",
    );
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("module `tm` has no parameter `relay_10`"),
        "{out}"
    );
    // and so is a value of a type Kamailio would not take
    let (code, out) = check_config(
        "loadmodule \"tm.so\"\nmodparam(\"tm\", \"relay_100\", \"yes\")\nrequest_route { exit; }\n",
    );
    assert_ne!(code, 0, "{out}");
}
