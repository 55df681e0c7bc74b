//! Utility modules over jsonrpcs, as Kamailio 5.6.3 answered the same
//! requests (the sweep recorded in docs/kamailio-observed.md, "Utility-module
//! sweep"): htable and cfgutils RPC faults, and how a JSON number is read
//! where a string is expected.

mod common;

use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn rpc(port: u16, method: &str, params: Value) -> Value {
    let req = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
    let mut r = rpc_datagram(port, req.to_string().as_bytes(), Duration::from_millis(700))
        .unwrap_or_else(|| panic!("no reply to {req}"));
    // the id is not what these cases compare
    r.as_object_mut().map(|o| o.remove("id"));
    r
}

fn start() -> (Siprd, u16) {
    let port = free_udp_port();
    let cfg = format!(
        r#"
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "htable.so"
loadmodule "cfgutils.so"
loadmodule "jsonrpcs.so"
modparam("htable", "htable", "t=>size=4;")
modparam("htable", "htable", "i=>size=4;initval=5;")
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{port}")
modparam("jsonrpcs", "transport", 4)
request_route {{ sl_send_reply("200", "OK"); }}
"#
    );
    (Siprd::start(&cfg), port)
}

fn ok(v: Value) -> Value {
    json!({"jsonrpc": "2.0", "result": v})
}

fn err(code: i64, msg: &str) -> Value {
    json!({"jsonrpc": "2.0", "error": {"code": code, "message": msg}})
}

#[test]
fn real_numbers_read_as_strings_give_their_integer_part() {
    let (_s, port) = start();
    // Kamailio 5.6.3: ["2"], ["1"], ["10000000000"]; a value that is neither
    // a string nor a number ends the list
    assert_eq!(rpc(port, "core.echo", json!([2.7])), ok(json!(["2"])));
    assert_eq!(
        rpc(port, "core.echo", json!(["s", 1.5, "t", true, "u"])),
        ok(json!(["s", "1", "t"]))
    );
    assert_eq!(
        rpc(port, "core.echo", json!([1e10])),
        ok(json!(["10000000000"]))
    );
    // htable.sets stores "2" for 2.5; htable.seti truncates 2.9 to 2
    assert_eq!(
        rpc(port, "htable.sets", json!(["t", "r", 2.5])),
        ok(json!("Ok. Key set to new value."))
    );
    assert_eq!(
        rpc(port, "htable.get", json!(["t", "r"]))["result"]["item"]["value"],
        json!("2")
    );
    rpc(port, "htable.seti", json!(["t", "n", 2.9]));
    assert_eq!(
        rpc(port, "htable.get", json!(["t", "n"]))["result"]["item"]["value"],
        json!(2)
    );
}

#[test]
fn htable_and_cfgutils_faults() {
    let (_s, port) = start();
    let missing = err(500, "Key name doesn't exist in htable.");
    assert_eq!(rpc(port, "htable.get", json!(["t", "missing"])), missing);
    // initval does not make a missing key readable over RPC
    assert_eq!(rpc(port, "htable.get", json!(["i", "missing"])), missing);
    let no_table = err(500, "No such htable");
    for (m, p) in [
        ("htable.get", json!(["nope", "k"])),
        ("htable.sets", json!(["nope", "k", "v"])),
        ("htable.setex", json!(["nope", "k", 10])),
        ("htable.delete", json!(["nope", "k"])),
        ("htable.dump", json!(["nope"])),
        ("htable.flush", json!(["nope"])),
    ] {
        assert_eq!(rpc(port, m, p), no_table, "{m}");
    }
    assert_eq!(
        rpc(port, "htable.dump", json!([])),
        err(500, "No htable name given")
    );
    assert_eq!(
        rpc(port, "htable.reload", json!(["t"])),
        err(500, "No htable db_url")
    );
    // setex of a missing key is still "Ok"
    assert_eq!(
        rpc(port, "htable.setex", json!(["t", "missing", 100])),
        ok(json!("Ok"))
    );
    assert_eq!(
        rpc(port, "htable.sets", json!(["t", "a"])),
        err(
            500,
            "Not enough parameters (htable name, key name and value)"
        )
    );
    assert_eq!(
        rpc(port, "cfgutils.check_config_hash", json!([])),
        err(500, "No hash file")
    );
    assert_eq!(
        rpc(port, "cfgutils.rand_set_prob", json!([101])),
        err(500, "Invalid Percent")
    );
    assert_eq!(
        rpc(port, "cfgutils.rand_set_prob", json!([40])),
        ok(json!({}))
    );
    assert_eq!(
        rpc(port, "cfgutils.rand_get_prob", json!([])),
        ok(json!("actual probability: 40 percent"))
    );
    assert_eq!(rpc(port, "cfgutils.set_gflag", json!([4])), ok(json!({})));
    assert_eq!(
        rpc(port, "cfgutils.get_gflags", json!([])),
        ok(json!("0x4 (4)"))
    );
    assert_eq!(
        rpc(port, "system.methodSignature", json!(["htable.get"])),
        err(500, "Not Implemented Yet")
    );
}

/// `htable` definitions Kamailio 5.6.3 accepts (`kamailio -c` and a start)
/// or refuses: an empty name or value is accepted (the value reads 0).
#[test]
fn htable_definitions_accepted_as_kamailio() {
    let accepted = [
        "=>size=4;",
        " =>size=4;",
        "a=>",
        "a=>;",
        "a=>size=;",
        "a=>autoexpire=;",
        "a=>updateexpire=;",
        "a=>size=4;initval=;",
        "a=>initval=-;",
        "a=>initval=+5;",
        "a=>size=0;",
        "a=>size=40;",
        "a=>size = 4;",
        "a.b=>size=4;",
    ];
    let refused = [
        "a",
        "a=>size=abc;",
        "a=>size=-;",
        "a=>foo=1;",
        "a=>size=4;;",
        "a=>initval=abc;",
        "a=>initval=5x;",
        "a=>autoexpire=-1;",
        "a=>size=4;initval=-2147483649;",
    ];
    let cfg = |def: &str| {
        format!(
            "loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"htable.so\"\n\
             modparam(\"htable\", \"htable\", \"{def}\")\n\
             request_route {{ sl_send_reply(\"200\", \"OK\"); }}\n"
        )
    };
    for def in accepted {
        let (code, out) = check_config(&cfg(def));
        assert_eq!(code, 0, "`{def}` refused: {out}");
    }
    for def in refused {
        let (code, _) = check_config(&cfg(def));
        assert_ne!(code, 0, "`{def}` accepted");
    }
}

/// Over datagram only the first JSON value of a packet is read (Kamailio
/// 5.6.3 answers the first request and ignores what follows it).
#[test]
fn datagram_reads_the_first_document() {
    let (_s, port) = start();
    let req = br#"{"jsonrpc":"2.0","method":"core.echo","params":["a"],"id":7}{"jsonrpc":"2.0","method":"core.echo","params":["b"],"id":8}"#;
    let r = rpc_datagram(port, req, Duration::from_millis(700)).expect("an answer");
    assert_eq!(r, json!({"jsonrpc": "2.0", "result": ["a"], "id": 7}));
    let req = br#"{"jsonrpc":"2.0","method":"core.echo","params":["x"],"id":6} xyz"#;
    let r = rpc_datagram(port, req, Duration::from_millis(700)).expect("an answer");
    assert_eq!(r, json!({"jsonrpc": "2.0", "result": ["x"], "id": 6}));
}
