//! The stateless path allocates nothing per message beyond its receive buffer:
//! the datagram copy and the shared reference count `bytes` adds to it when the
//! message first references it (2 allocations). Parsing, routing and building
//! the reply allocate nothing (see also crates/sip/tests/alloc_count.rs).
//! siprd counts heap allocations when SIPRD_COUNT_ALLOCS is set and prints the
//! total at exit; two runs with different message counts give the cost per
//! message without the start-up allocations.

mod common;

use common::*;

const CFG: &str = r#"
children=2
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
request_route {
    if ($rm == "OPTIONS") {
        sl_send_reply("200", "OK");
        exit;
    }
    sl_send_reply("501", "Not Implemented");
}
"#;

fn allocations_for(messages: usize) -> u64 {
    let mut s = Siprd::start_env(CFG, &[], &[], &[("SIPRD_COUNT_ALLOCS", "1")]);
    let c = UdpClient::new();
    for i in 0..messages {
        let r = c.request(
            s.udp_addr(),
            &request("OPTIONS", "sip:x@127.0.0.1", c.port(), &format!("a{i}"), ""),
        );
        assert_eq!(first_line(&r), "SIP/2.0 200 OK");
    }
    s.terminate();
    assert!(s.wait_log("heap allocations", WAIT));
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("heap allocations"))
        .expect("count line");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

#[test]
fn stateless_reply_allocates_only_the_receive_buffer() {
    let few = allocations_for(200);
    let many = allocations_for(2000);
    let per_message = (many.saturating_sub(few)) as f64 / 1800.0;
    eprintln!("allocations: {few} for 200 messages, {many} for 2000: {per_message:.2} per message");
    assert!(
        per_message <= 2.05,
        "{per_message:.2} allocations per message"
    );
}
