//! evrexec end to end: start-up tasks, UDP tasks and `evrexec.run` over
//! JSON-RPC (shapes observed on Kamailio 5.6).

mod common;

use common::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

fn rpc(port: u16, req: &str) -> Option<serde_json::Value> {
    rpc_datagram(port, req.as_bytes(), Duration::from_secs(3))
}

fn cfg(evr_port: u16, rpc_port: u16) -> String {
    format!(
        r#"
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "htable.so"
loadmodule "cfgutils.so"
loadmodule "jsonrpcs.so"
loadmodule "evrexec.so"
modparam("htable", "htable", "c=>size=4;initval=0;")
modparam("cfgutils", "lock_set_size", 4)
modparam("jsonrpcs", "dgram_socket", "udp:127.0.0.1:{rpc_port}")
modparam("jsonrpcs", "transport", 4)
modparam("evrexec", "exec", "NAME=evrexec:start;Wait=1000;workers=3;")
modparam("evrexec", "exec", "name=evrexec:loop;wait=0;workers=1;")
modparam("evrexec", "exec", "name=evrexec:udp;sockaddr=udp:127.0.0.1:{evr_port};workers=1")
request_route {{
    if ($rm == "OPTIONS") {{
        sl_send_reply("200", "count=$sht(c=>n)");
        exit;
    }}
    sl_send_reply("501", "Not Implemented");
}}
event_route[evrexec:start] {{
    xlog("L_ERR", "START data=[$evr(data)] ip=[$evr(srcip)] rm=$rm\n");
}}
event_route[evrexec:loop] {{
    while(1) {{
        usleep(200000);
    }}
}}
event_route[evrexec:udp] {{
    lock("n");
    $sht(c=>n) = $sht(c=>n) + 1;
    unlock("n");
    if ($evr(data) =~ "^show") {{
        xlog("L_ERR", "UDP data=[$evr(data)] ip=[$evr(srcip)] port=[$evr(srcport)] portno=[$evr(srcportno)]\n");
    }}
}}
event_route[evrexec:test] {{
    xlog("L_ERR", "TEST data=[$evr(data)] len=$(evr(data){{s.len}}) ip=[$evr(srcip)] port=[$evr(srcport)] portno=[$evr(srcportno)]\n");
}}
"#
    )
}

fn count(s: &Siprd, c: &UdpClient) -> i64 {
    let r = c.request(
        s.udp_addr(),
        &request(
            "OPTIONS",
            "sip:ctl@127.0.0.1",
            c.port(),
            &format!("cnt-{}", fastrand_id()),
            "",
        ),
    );
    let line = first_line(&r);
    line.rsplit("count=")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(-1)
}

fn fastrand_id() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

#[test]
fn startup_tasks_run_once_per_worker_and_udp_tasks_get_data() {
    let (evr_port, rpc_port) = (free_udp_port(), free_udp_port());
    let mut s = Siprd::start(&cfg(evr_port, rpc_port));
    assert!(
        s.wait_log("START data=[<null>] ip=[<null>] rm=OPTIONS", WAIT),
        "{}",
        s.log()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(s.count_log("START data="), 3, "{}", s.log());

    let c = UdpClient::new();
    c.send(([127, 0, 0, 1], evr_port).into(), "show hi");
    let want = format!(
        "UDP data=[show hi] ip=[127.0.0.1] port=[{0}] portno=[{0}]",
        c.port()
    );
    assert!(s.wait_log(&want, WAIT), "{}", s.log());
    // nothing is sent back
    c.expect_silence(Duration::from_millis(100));

    // a forever-looping task does not block shutdown
    let took = s.terminate();
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[test]
fn udp_task_burst_loses_nothing() {
    let (evr_port, rpc_port) = (free_udp_port(), free_udp_port());
    let s = Siprd::start(&cfg(evr_port, rpc_port));
    let c = UdpClient::new();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    const N: i64 = 5000;
    for i in 0..N {
        sender
            .send_to(
                format!("burst {i:06} padding-padding-padding").as_bytes(),
                ("127.0.0.1", evr_port),
            )
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0;
    while Instant::now() < deadline {
        n = count(&s, &c);
        if n >= N {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(n, N, "{}", s.log());
}

#[test]
fn evrexec_run_over_jsonrpc() {
    let (evr_port, rpc_port) = (free_udp_port(), free_udp_port());
    let s = Siprd::start(&cfg(evr_port, rpc_port));
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","params":["evrexec:test","mydata"],"id":4}"#,
    )
    .unwrap();
    assert_eq!(r, serde_json::json!({"jsonrpc":"2.0","result":{},"id":4}));
    // synchronous: the route ran before the answer
    // Kamailio 5.6: no source, but $evr(srcportno) is 0 (null in start-up tasks)
    assert!(
        s.wait_log(
            "TEST data=[mydata] len=6 ip=[<null>] port=[<null>] portno=[0]",
            WAIT
        ),
        "{}",
        s.log()
    );
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","params":["evrexec:test"],"id":3}"#,
    )
    .unwrap();
    assert_eq!(r["result"], serde_json::json!({}));
    assert!(s.wait_log("TEST data=[] len=0", WAIT), "{}", s.log());
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","params":["evrexec:nonexist"],"id":5}"#,
    )
    .unwrap();
    assert_eq!(
        r["error"],
        serde_json::json!({"code":500,"message":"Event route not found"})
    );
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","id":6}"#,
    )
    .unwrap();
    assert_eq!(
        r["error"],
        serde_json::json!({"code":500,"message":"Invalid parameters"})
    );
}

#[test]
fn seed_example_checks_and_runs() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../etc/examples/seed001-evrexec.cfg"
    );
    let (code, out) = check_file(std::path::Path::new(path));
    assert_eq!(code, 0, "{out}");
    let (evr_port, rpc_port) = (free_udp_port(), free_udp_port());
    let cfg = std::fs::read_to_string(path)
        .unwrap()
        .replace(
            "listen=udp:127.0.0.1:5060",
            "listen=udp:127.0.0.1:0\ndebug=2",
        )
        .replace("udp:127.0.0.1:4444", &format!("udp:127.0.0.1:{evr_port}"))
        .replace("udp:127.0.0.1:8033", &format!("udp:127.0.0.1:{rpc_port}"))
        .replace(
            "loadmodule \"evrexec.so\"",
            "loadmodule \"evrexec.so\"\nmodparam(\"jsonrpcs\", \"transport\", 4)",
        );
    let s = Siprd::start(&cfg);
    assert!(s.wait_log("$var(x) is 0", WAIT), "{}", s.log());
    let c = UdpClient::new();
    c.send(([127, 0, 0, 1], evr_port).into(), "hello");
    assert!(
        s.wait_log("udp socket data: [hello] from [127.0.0.1]", WAIT),
        "{}",
        s.log()
    );
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","params":["evrexec:test","mydata"],"id":1}"#,
    )
    .unwrap();
    assert_eq!(r["result"], serde_json::json!({}));
    assert!(s.wait_log("rpc command data: mydata", WAIT), "{}", s.log());
}

/// Kamailio 5.6: the event name and the data must be JSON strings: a number,
/// null, a boolean or a structure is 500 "Invalid parameters" (nothing runs);
/// parameters past the second are ignored. A `params` member that is neither
/// an array nor an object runs the command without parameters and its fault
/// is lost: an empty result.
#[test]
fn evrexec_run_parameter_types() {
    let (evr_port, rpc_port) = (free_udp_port(), free_udp_port());
    let s = Siprd::start(&cfg(evr_port, rpc_port));
    let invalid = serde_json::json!({"code":500,"message":"Invalid parameters"});
    for params in [
        r#"["evrexec:test", 5]"#,
        r#"["evrexec:test", null]"#,
        r#"["evrexec:test", true]"#,
        r#"["evrexec:test", {}]"#,
        r#"["evrexec:test", 1.5]"#,
        r#"[5]"#,
        r#"[null]"#,
        r#"[]"#,
        r#"{}"#,
    ] {
        let req = format!(r#"{{"jsonrpc":"2.0","method":"evrexec.run","params":{params},"id":1}}"#);
        let r = rpc(rpc_port, &req).unwrap();
        assert_eq!(r["error"], invalid, "{params}: {r}");
    }
    for params in [r#""evrexec:test""#, "null", "5"] {
        let req = format!(r#"{{"jsonrpc":"2.0","method":"evrexec.run","params":{params},"id":1}}"#);
        let r = rpc(rpc_port, &req).unwrap();
        assert_eq!(
            r,
            serde_json::json!({"jsonrpc":"2.0","result":{},"id":1}),
            "{params}"
        );
    }
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","params":["evrexec:test","a","b"],"id":2}"#,
    )
    .unwrap();
    assert_eq!(r["result"], serde_json::json!({}));
    assert!(s.wait_log("TEST data=[a] len=1", WAIT), "{}", s.log());
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"evrexec.run","params":{"x":"evrexec:test"},"id":2}"#,
    )
    .unwrap();
    assert_eq!(r["result"], serde_json::json!({}));
    assert!(s.wait_log_count("TEST data=", 2, WAIT), "{}", s.log());
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(s.count_log("TEST data="), 2, "{}", s.log());
    // the same loss of the fault for another command
    let r = rpc(
        rpc_port,
        r#"{"jsonrpc":"2.0","method":"system.methodHelp","params":"x","id":3}"#,
    )
    .unwrap();
    assert_eq!(r, serde_json::json!({"jsonrpc":"2.0","result":{},"id":3}));
}

/// Kamailio 5.6 reads `sockaddr` with a lower-case `udp:`, an IPv4 address or a
/// host name and a port other than 0; `UDP:`, port 0 and IPv6 forms do not
/// start (some at config parse, some when the task process starts).
#[test]
fn udp_task_sockaddr_forms() {
    let cfg = |sa: &str| {
        format!(
            r#"
listen=udp:127.0.0.1:0
loadmodule "xlog.so"
loadmodule "evrexec.so"
modparam("evrexec", "exec", "name=evrexec:u;sockaddr={sa}")
event_route[evrexec:u] {{ xlog("L_ERR", "U [$evr(data)] from $evr(srcip)\n"); }}
request_route {{ drop; }}
"#
        )
    };
    for bad in [
        "UDP:127.0.0.1:5999",
        "udp:127.0.0.1:0",
        "udp:[::1]:5999",
        "udp:::1:5999",
        "udp:127.0.0.1:x",
    ] {
        let (code, out) = check_config(&cfg(bad));
        assert_ne!(code, 0, "{bad} accepted: {out}");
    }
    // a host name is resolved
    let port = free_udp_port();
    let s = Siprd::start(&cfg(&format!("udp:localhost:{port}")));
    let c = UdpSocket::bind("127.0.0.1:0").unwrap();
    c.send_to(b"hi", ("127.0.0.1", port)).unwrap();
    assert!(s.wait_log("U [hi] from 127.0.0.1", WAIT), "{}", s.log());
}

/// Kamailio 5.6: with `name` given twice in one `exec`, the first one runs.
#[test]
fn repeated_name_keeps_the_first() {
    let s = Siprd::start(
        r#"
listen=udp:127.0.0.1:0
loadmodule "xlog.so"
loadmodule "evrexec.so"
modparam("evrexec", "exec", "name=evrexec:a;name=evrexec:b;wait=1000")
event_route[evrexec:a] { xlog("L_ERR", "RAN a\n"); }
event_route[evrexec:b] { xlog("L_ERR", "RAN b\n"); }
request_route { drop; }
"#,
    );
    assert!(s.wait_log("RAN a", WAIT), "{}", s.log());
    std::thread::sleep(Duration::from_millis(100));
    assert!(!s.log().contains("RAN b"), "{}", s.log());
}
