//! Config-language forms checked against Kamailio 5.6.3: core global names
//! (aliases, ignored ones, names Kamailio refuses), keyword operators, PVs,
//! selects, modparam regexes, listen forms and core functions.

mod common;

use common::*;

/// Every name Kamailio 5.6.3 takes as a global parameter loads; the ones
/// siprd has no use for come with an "ignored" warning at the name.
#[test]
fn kamailio_core_global_names_load() {
    let cfg = r#"
listen=udp:127.0.0.1:0
wdir="/tmp"
core_log=1
shm=64
shm_mem=64
tls_log=1
rt_prio=1
dns_srv_loadbalancing=yes
tcp_accept_unique=1
ipfreebind=no
msg_time=1
latency_limit_cfg=10
http_reply_hack=no
request_route { drop; }
"#;
    let (rc, out) = check_config(cfg);
    assert_eq!(rc, 0, "{out}");
    assert!(
        out.contains("global parameter `shm` is ignored by siprd"),
        "{out}"
    );
    assert!(out.contains("test.cfg:5:1"), "{out}");
    // wdir and core_log are aliases siprd honours: no warning
    assert!(!out.contains("`wdir` is ignored"), "{out}");
    assert!(!out.contains("`core_log` is ignored"), "{out}");
}

/// `wdir` is `workdir`: siprd changes into it at start-up (and stops when
/// it cannot).
#[test]
fn wdir_is_workdir() {
    let dir = std::env::temp_dir().join(format!("siprd-wdir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let cfg_path = dir.join("w.cfg");
    std::fs::write(
        &cfg_path,
        "listen=udp:127.0.0.1:0\nwdir=\"/nonexistent/siprd-wdir\"\nrequest_route { exit; }\n",
    )
    .expect("write cfg");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_siprd"))
        .arg("-f")
        .arg(&cfg_path)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn siprd");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break Some(st);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.is_some_and(|s| !s.success()), "siprd kept running: {err}");
    assert!(err.contains("cannot change to workdir /nonexistent/siprd-wdir"), "{err}");
}

/// Names Kamailio 5.6.3 refuses ("syntax error" at the `=`) are refused here
/// too, with the position.
#[test]
fn names_kamailio_refuses_are_refused() {
    for (name, value) in [
        ("work_dir", "\"/tmp\""),
        ("statistics", "1"),
        ("dst_blacklist_init", "1"),
        ("stun_allow_stun", "1"),
        ("sctp_socket_rcvbuf", "1"),
        ("tls_threads_mode", "1"),
        ("log_cee", "1"),
        ("description", "\"x\""),
        ("kemi.request_route_callback", "\"ksr_request_route\""),
    ] {
        let cfg = format!("listen=udp:127.0.0.1:0\n{name}={value}\nrequest_route {{ drop; }}\n");
        let (rc, out) = check_config(&cfg);
        assert_ne!(rc, 0, "{name}: {out}");
        assert!(
            out.contains(&format!("unknown global parameter `{name}`")),
            "{name}: {out}"
        );
        assert!(out.contains("test.cfg:2:1"), "{name}: {out}");
    }
}
