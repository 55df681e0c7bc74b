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
    assert!(
        status.is_some_and(|s| !s.success()),
        "siprd kept running: {err}"
    );
    assert!(
        err.contains("cannot change to workdir /nonexistent/siprd-wdir"),
        "{err}"
    );
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

const PV_CFG: &str = r#"
listen=udp:127.0.0.1:0
children=1
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "kex.so"
request_route {
    append_to_reply("X-Exp: [$expires(min)] [$expires(max)]\r\n");
    $vn(a) = 5; $vz(b) = "zz"; $vn(c) = $null; $var(q) = 3; $vz(r) = 7; $vn(t) = 9;
    append_to_reply("X-V: [$vn(a)] [$vz(b)] [$vn(c)] [$vz(none)] [$vn(none)] [$vn(q)] [$vz(q)] [$var(r)] [$var(t)]\r\n");
    $vn(cnt) = $vn(cnt) + 1;
    append_to_reply("X-Cnt: [$vn(cnt)]\r\n");
    append_to_reply("X-Stat: [$stat(rcv_requests)] [$stat(nope)]\r\n");
    append_to_reply("X-Via0: [$via0(host)] [$via0(port)] [$via0(branch)] [$via0(rport)] [$via0(proto)] [$via0(protoid)]\r\n");
    append_to_reply("X-Via1: [$via1(host)] [$via1(port)] [$via1(rport)] [$via1(proto)] [$via1(protoid)] [$via1(received)] [$via1(i)]\r\n");
    append_to_reply("X-ViaZ: [$viaZ(host)]\r\n");
    append_to_reply("X-Msg: [$msg(len)] [$msg(hdrs_len)] [$msg(body_len)] [$msg(fline)] [$msg(hdrc)] [$msg(body)] [$msgbuf(0)] [$msgbuf(2)] [$msgbuf(100000)]\r\n");
    $var(hl) = $(msg(hdrs){s.len});
    append_to_reply("X-Hdrs: [$var(hl)]\r\n");
    append_to_reply("X-T: [$TF] [$Tb] [$fsn]\r\n");
    sl_send_reply("200", "ok");
}
"#;

#[test]
fn more_pvs_read_as_kamailio() {
    let s = Siprd::start(PV_CFG);
    let c = UdpClient::new();
    let req = format!(
        "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-1\r\n\
         Via: SIP/2.0/TCP 10.0.0.3;branch=z9hG4bK-3;rport=1234;received=10.9.9.9;i=abc\r\n\
         Via: SIP/2.0/UDP 10.0.0.4:5070;branch=z9hG4bK-4\r\n\
         From: <sip:alice@a.example.com>;tag=ft1\r\n\
         To: <sip:bob@b.example.com>\r\n\
         Call-ID: pv-1\r\n\
         CSeq: 7 OPTIONS\r\n\
         Expires: 300\r\n\
         Contact: <sip:a@1.2.3.4>, <sip:b@1.2.3.4>;expires=20\r\n\
         Contact: <sip:c@1.2.3.4>;expires=3600\r\n\
         Content-Length: 0\r\n\r\n",
        p = c.port()
    );
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&r), "SIP/2.0 200 ok", "{r}");
    // the Expires header stands in for a Contact without `expires`
    assert_eq!(header(&r, "X-Exp"), Some("[20] [3600]"), "{r}");
    assert_eq!(
        header(&r, "X-V"),
        Some("[5] [zz] [<null>] [0] [<null>] [<null>] [3] [7] [0]"),
        "{r}"
    );
    assert_eq!(header(&r, "X-Cnt"), Some("[1]"), "{r}");
    assert_eq!(header(&r, "X-Stat"), Some("[1] [<null>]"), "{r}");
    assert_eq!(
        header(&r, "X-Via0"),
        Some(&*format!(
            "[127.0.0.1] [{}] [z9hG4bK-1] [<null>] [UDP] [1]",
            c.port()
        )),
        "{r}"
    );
    assert_eq!(
        header(&r, "X-Via1"),
        Some("[10.0.0.3] [5060] [1234] [TCP] [2] [10.9.9.9] [abc]"),
        "{r}"
    );
    assert_eq!(header(&r, "X-ViaZ"), Some("[10.0.0.4]"), "{r}");
    let hdrs_len = req.len() - "OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n".len() - 4;
    assert_eq!(
        header(&r, "X-Msg"),
        Some(&*format!(
            "[{}] [{hdrs_len}] [0] [OPTIONS sip:x@127.0.0.1 SIP/2.0] [11] [] [O] [T] [<null>]",
            req.len()
        )),
        "{r}"
    );
    assert_eq!(header(&r, "X-Hdrs"), Some(&*format!("[{hdrs_len}]")), "{r}");
    let t = header(&r, "X-T").unwrap_or_default();
    // ctime-like text, the start time in seconds, no forced socket
    assert!(t.ends_with("] [<null>]"), "{t}");
    let tb: i64 = t
        .split("] [")
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    assert!(tb > now - 120 && tb <= now, "{t}");
    // a second request: $vn keeps its value between messages
    let r = c.request(s.udp_addr(), &req.replace("pv-1", "pv-2"));
    assert_eq!(header(&r, "X-Cnt"), Some("[11]"), "{r}");
}

/// Kamailio 5.6.3 refuses `$utime`, `$via0(params)`, `$msg(fline_len)`.
#[test]
fn pvs_kamailio_refuses() {
    for pv in [
        "$utime",
        "$utimef",
        "$via0(params)",
        "$msg(fline_len)",
        "$expires(avg)",
    ] {
        let cfg = format!(
            "listen=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nrequest_route {{\n xlog(\"L_INFO\", \"{pv}\\n\");\n}}\n"
        );
        let (rc, out) = check_config(&cfg);
        assert_ne!(rc, 0, "{pv}: {out}");
        assert!(out.contains("test.cfg:5:"), "{pv}: {out}");
    }
}

const SEL_CFG: &str = r#"
listen=udp:127.0.0.1:0
children=1
loadmodule "sl.so"
loadmodule "textops.so"
grp.num = 5 desc "a number"
request_route {
    $var(a) = @from.uri; $var(b) = @to.tag; $var(c) = @ruri.user; $var(d) = @via[2].host;
    $var(e) = @cseq.method; $var(f) = @call_id;
    append_to_reply("X-S1: [$var(a)] [$var(b)] [$var(c)] [$var(d)] [$var(e)] [$var(f)]\r\n");
    append_to_reply("X-S2: [$sel(from.name)] [$sel(to.name)] [$sel(ruri.port)] [$sel(ruri.params.x)] [$sel(ruri.transport)] [$sel(via[-1].port)] [$sel(via.params.branch)] [$sel(cseq.num)] [$sel(contact.expires)] [$sel(msg.header.Max-Forwards)] [$sel(msg.header.Max_Forwards)] [$sel(msg.header.cseq)]\r\n");
    append_to_reply("X-S3: [$sel(from)] [$sel(via[2])] [$sel(via[2].rport)] [$sel(via[2].received)] [$sel(via[3].host)]\r\n");
    if (@from.tag == "ft1" && @via[1].host == "127.0.0.1") { append_to_reply("X-If: yes\r\n"); }
    if ($sel(cfg_get.grp.num) == 5) { append_to_reply("X-Cfg: int\r\n"); }
    sl_send_reply("200", "ok");
}
"#;

#[test]
fn selects_read_as_kamailio() {
    let s = Siprd::start(SEL_CFG);
    let c = UdpClient::new();
    let req = format!(
        "OPTIONS sip:x@127.0.0.1:5080;x=1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-1\r\n\
         Via: SIP/2.0/TCP 10.0.0.3;branch=z9hG4bK-3;rport=1234;received=10.9.9.9\r\n\
         From: \"Al\" <sip:alice@a.example.com>;tag=ft1\r\n\
         To: <sip:bob@b.example.com>;tag=tt2\r\n\
         Call-ID: sel-1\r\n\
         CSeq: 7 OPTIONS\r\n\
         Max-Forwards: 69\r\n\
         Contact: <sip:c@1.2.3.4>;expires=60\r\n\
         Content-Length: 0\r\n\r\n",
        p = c.port()
    );
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(first_line(&r), "SIP/2.0 200 ok", "{r}");
    assert_eq!(
        header(&r, "X-S1"),
        Some("[sip:alice@a.example.com] [tt2] [x] [10.0.0.3] [OPTIONS] [sel-1]"),
        "{r}"
    );
    assert_eq!(
        header(&r, "X-S2"),
        Some("[\"Al\"] [<null>] [5080] [1] [udp] [<null>] [z9hG4bK-1] [7] [60] [<null>] [69] [7 OPTIONS]"),
        "{r}"
    );
    assert_eq!(
        header(&r, "X-S3"),
        Some("[\"Al\" <sip:alice@a.example.com>;tag=ft1] [SIP/2.0/TCP 10.0.0.3;branch=z9hG4bK-3;rport=1234;received=10.9.9.9] [1234] [10.9.9.9] [<null>]"),
        "{r}"
    );
    assert_eq!(header(&r, "X-If"), Some("yes"), "{r}");
    assert_eq!(header(&r, "X-Cfg"), Some("int"), "{r}");
}

#[test]
fn unknown_selects_are_refused_with_the_position() {
    for (expr, what) in [
        ("$var(x) = @nope.x;", "unknown select `nope.x`"),
        ("$var(x) = $sel(from.bogus);", "select `from.bogus`"),
        ("$var(x) = @from[2].uri;", "takes no [index]"),
    ] {
        let cfg = format!("listen=udp:127.0.0.1:0\nrequest_route {{\n  {expr}\n}}\n");
        let (rc, out) = check_config(&cfg);
        assert_ne!(rc, 0, "{expr}: {out}");
        assert!(out.contains(what), "{expr}: {out}");
        assert!(out.contains("test.cfg:3:"), "{expr}: {out}");
    }
}

/// `modparam("p.|x", ...)`: the module name is a case-insensitive regex over
/// the whole names of the loaded modules, applied to every match.
#[test]
fn modparam_module_regex() {
    let cfg = r#"
listen=udp:127.0.0.1:0
children=1
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
modparam("P[v]", "varset", "mx=s:from-regex")
request_route {
    append_to_reply("X-Mx: $var(mx)\r\n");
    sl_send_reply("200", "ok");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "mre-1", ""),
    );
    assert_eq!(header(&r, "X-Mx"), Some("from-regex"), "{r}");

    let base = "listen=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"tm.so\"\nloadmodule \"tmx.so\"\n";
    // every match must have the parameter (tmx has no fr_timer)
    let (rc, out) = check_config(&format!(
        "{base}modparam(\"tm.*\", \"fr_timer\", 3000)\nrequest_route {{ drop; }}\n"
    ));
    assert_ne!(rc, 0, "{out}");
    assert!(
        out.contains("module `tmx` has no parameter `fr_timer`"),
        "{out}"
    );
    // the whole name must match: `m` matches neither tm nor tmx
    let (rc, out) = check_config(&format!(
        "{base}modparam(\"m|x\", \"fr_timer\", 3000)\nrequest_route {{ drop; }}\n"
    ));
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("no loaded module matches `m|x`"), "{out}");
    assert!(out.contains("test.cfg:6:"), "{out}");
    // anchors and case do not matter
    for m in ["^T[M]$", "TM"] {
        let (rc, out) = check_config(&format!(
            "{base}modparam(\"{m}\", \"fr_timer\", 3000)\nrequest_route {{ drop; }}\n"
        ));
        assert_eq!(rc, 0, "{m}: {out}");
    }
    // `.` is a regex character too: `tm.so` names no module
    let (rc, out) = check_config(&format!(
        "{base}modparam(\"tm.so\", \"fr_timer\", 3000)\nrequest_route {{ drop; }}\n"
    ));
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("no loaded module matches `tm.so`"), "{out}");
}

fn listening_on(log: &str, prefix: &str) -> Option<std::net::SocketAddr> {
    log.lines()
        .filter_map(|l| l.split("listening on udp:").nth(1))
        .find(|a| a.starts_with(prefix))
        .and_then(|a| a.trim().parse().ok())
}

/// `listen=` with several sockets on one line and `proto:(a, b):port`: one
/// socket each, the trailing `name`/`advertise` applying to all of them.
#[test]
fn listen_lists_and_address_groups() {
    let cfg = r#"
children=1
listen=udp:(127.0.0.1, 127.0.0.2):0 advertise 192.0.2.9:5080 name "grp"
listen=udp:127.0.0.3:0 udp:127.0.0.4:0 name "pair"
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
request_route {
    append_to_reply("X-R: $Ri $Rn $RAi\r\n");
    sl_send_reply("200", "ok");
}
"#;
    let s = Siprd::start(cfg);
    assert!(s.wait_log(
        "listening on udp:127.0.0.4:",
        std::time::Duration::from_secs(5)
    ));
    let log = s.log();
    let c = UdpClient::new();
    for (ip, want) in [
        ("127.0.0.1", "127.0.0.1 grp 192.0.2.9"),
        ("127.0.0.2", "127.0.0.2 grp 192.0.2.9"),
        ("127.0.0.3", "127.0.0.3 pair 127.0.0.3"),
        ("127.0.0.4", "127.0.0.4 pair 127.0.0.4"),
    ] {
        let addr = listening_on(&log, ip).unwrap_or_else(|| panic!("no {ip} socket: {log}"));
        let r = c.request(
            addr,
            &request(
                "OPTIONS",
                "sip:x@127.0.0.1",
                c.port(),
                &format!("ls-{ip}"),
                "",
            ),
        );
        assert_eq!(header(&r, "X-R"), Some(want), "{ip}: {r}");
    }
}

/// Kamailio 5.6 takes `advertise` only before `name` ("syntax error" at
/// `advertise`).
#[test]
fn listen_advertise_after_name_is_refused() {
    let cfg =
        "listen=udp:127.0.0.1:0 name \"x\" advertise 192.0.2.9:5080\nrequest_route { drop; }\n";
    let (rc, out) = check_config(cfg);
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("`advertise` after `name`"), "{out}");
    assert!(out.contains("test.cfg:1:33"), "{out}");
}

const CORE_FN_CFG: &str = r#"
listen=udp:127.0.0.1:0
children=1
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "corex.so"
request_route {
    userphone();
    append_to_reply("X-U: $ru\r\n");
    userphone();
    append_to_reply("X-U2: $ru\r\n");
    append_branch("sip:b1@h"); append_branch("sip:b2@h"); append_branch("sip:b3@h");
    remove_branch(1);
    append_to_reply("X-B: $(branch(uri)[0]) $(branch(uri)[1]) $(branch(uri)[2])\r\n");
    remove_branch(5);
    clear_branches();
    append_to_reply("X-C: [$(branch(uri)[0])]\r\n");
    sl_send_reply("200", "ok");
}
"#;

#[test]
fn core_branch_and_uri_actions() {
    let s = Siprd::start(CORE_FN_CFG);
    let c = UdpClient::new();
    for (ruri, u, u2) in [
        (
            "sip:x@127.0.0.1",
            "sip:x@127.0.0.1;user=phone",
            "sip:x@127.0.0.1;user=phone",
        ),
        (
            "sip:x@127.0.0.1;user=ip",
            "sip:x@127.0.0.1;user=ip;user=phone",
            "sip:x@127.0.0.1;user=ip;user=phone",
        ),
    ] {
        let r = c.request(
            s.udp_addr(),
            &request("OPTIONS", ruri, c.port(), "cf-1", ""),
        );
        assert_eq!(header(&r, "X-U"), Some(u), "{r}");
        assert_eq!(header(&r, "X-U2"), Some(u2), "{r}");
        assert_eq!(header(&r, "X-B"), Some("sip:b1@h sip:b3@h <null>"), "{r}");
        assert_eq!(header(&r, "X-C"), Some("[<null>]"), "{r}");
    }
}

/// `force_send_socket(udp:ip:port)` unquoted picks the listener: `$fs`. A
/// socket siprd does not listen on, or a quoted one, refuses the config
/// (Kamailio: "kamailio doesn't listen on it", "could not resolve").
#[test]
fn force_send_socket_unquoted() {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"textops.so\"\n\
         request_route {{\n  force_send_socket(udp:127.0.0.1:{port});\n  append_to_reply(\"X-F: [$fs] [$fsn]\\r\\n\");\n  sl_send_reply(\"200\", \"ok\");\n}}\n"
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "fs-1", ""),
    );
    assert_eq!(
        header(&r, "X-F"),
        Some(&*format!("[udp:127.0.0.1:{port}] [<null>]")),
        "{r}"
    );
    for (arg, what) in [
        (
            "udp:127.0.0.1:1",
            "siprd does not listen on `udp:127.0.0.1:1`",
        ),
        ("\"udp:127.0.0.1:5060\"", "the socket is written unquoted"),
    ] {
        let cfg = format!(
            "listen=udp:127.0.0.1:5060\nrequest_route {{\n  force_send_socket({arg});\n}}\n"
        );
        let (rc, out) = check_config(&cfg);
        assert_ne!(rc, 0, "{arg}: {out}");
        assert!(out.contains(what), "{arg}: {out}");
        assert!(out.contains("test.cfg:3:21"), "{arg}: {out}");
    }
}

/// In onsend_route, `snd_ip`/`snd_port` are the sending socket, `to_ip`/
/// `to_port` the destination; `snd_af`/`to_af`, `snd_proto`/`to_proto` alike.
#[test]
fn onsend_keywords() {
    let hop = NextHop::new();
    let cfg = format!(
        r#"
listen=udp:127.0.0.1:0
children=1
loadmodule "pv.so"
loadmodule "xlog.so"
request_route {{
    forward("127.0.0.1", {hp});
}}
onsend_route {{
    if (snd_ip == 127.0.0.1 && to_ip == "127.0.0.1" && to_port == {hp} && snd_port != {hp}
        && snd_af == INET && to_af == INET && snd_proto == UDP && to_proto == UDP && snd_ip == myself) {{
        xlog("L_ERR", "ONSEND-KW ok $sndfrom(port)\n");
    }}
}}
"#,
        hp = hop.port()
    );
    let s = Siprd::start(&cfg);
    let c = UdpClient::new();
    c.send(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "ok-1", ""),
    );
    let got = hop.recv_start("OPTIONS", std::time::Duration::from_secs(3));
    assert!(got.is_some(), "not forwarded");
    let want = format!("ONSEND-KW ok {}", s.udp_addr().port());
    assert!(
        s.wait_log(&want, std::time::Duration::from_secs(3)),
        "{}",
        s.log()
    );
}

/// `$shtrecord(...)` outside `htable:expired` is a failed read (Kamailio 5.6):
/// nothing in a format, null to comparisons and assignments.
#[test]
fn shtrecord_outside_expired_is_a_failed_read() {
    let cfg = r#"
listen=udp:127.0.0.1:0
children=1
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "textops.so"
loadmodule "htable.so"
modparam("htable", "htable", "a=>size=4;")
request_route {
    $var(f) = "";
    if ($shtrecord(key) == $null) { $var(f) = $var(f) + "N"; }
    if ($shtrecord(key) == "") { $var(f) = $var(f) + "E"; }
    if (defined $shtrecord(key)) { $var(f) = $var(f) + "D"; }
    $var(l) = 7;
    $var(l) = $(shtrecord(key){s.len});
    $avp(q) = $shtrecord(value);
    append_to_reply("X-R: [$shtrecord(key)] [$shtrecord(value)] $var(f) $var(l) $avp(q)\r\n");
    sl_send_reply("200", "ok");
}
"#;
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "shr-1", ""),
    );
    assert_eq!(header(&r, "X-R"), Some("[] [] NE 0 <null>"), "{r}");
}

/// `include_file "x.cfg"` (relative): the working directory first, then the
/// directory of the including file (not the main config's), as Kamailio 5.6.
#[test]
fn include_file_search_order() {
    let root = std::env::temp_dir().join(format!("siprd-inc-{}", std::process::id()));
    let (main_dir, cwd) = (root.join("cfg"), root.join("cwd"));
    for d in [main_dir.join("d1"), cwd.clone()] {
        std::fs::create_dir_all(&d).expect("mkdir");
    }
    let w = |p: std::path::PathBuf, t: &str| std::fs::write(p, t).expect("write");
    w(
        main_dir.join("main.cfg"),
        "listen=udp:127.0.0.1:0\ninclude_file \"sub.cfg\"\ninclude_file \"d1/nest.cfg\"\nrequest_route { route(SUB); route(LEAF); }\n",
    );
    w(
        main_dir.join("sub.cfg"),
        "route[SUB] { from_main_dir(); }\n",
    );
    w(cwd.join("sub.cfg"), "route[SUB] { from_cwd(); }\n");
    w(main_dir.join("d1/nest.cfg"), "include_file \"leaf.cfg\"\n");
    w(
        main_dir.join("d1/leaf.cfg"),
        "route[LEAF] { leaf_from_d1(); }\n",
    );
    w(
        main_dir.join("leaf.cfg"),
        "route[LEAF] { leaf_from_main_dir(); }\n",
    );
    let check = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_siprd"))
            .current_dir(&cwd)
            .arg("-c")
            .arg("-f")
            .arg(main_dir.join("main.cfg"))
            .output()
            .expect("run siprd");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let out = check();
    assert!(out.contains("unknown function `from_cwd`"), "{out}");
    assert!(!out.contains("from_main_dir"), "{out}");
    // leaf.cfg comes from d1 (the including file's directory), not the main dir
    assert!(out.contains("unknown function `leaf_from_d1`"), "{out}");
    assert!(!out.contains("leaf_from_main_dir"), "{out}");
    std::fs::remove_file(cwd.join("sub.cfg")).expect("rm");
    let out = check();
    assert!(out.contains("unknown function `from_main_dir`"), "{out}");
    w(cwd.join("leaf.cfg"), "route[LEAF] { leaf_from_cwd(); }\n");
    let out = check();
    assert!(out.contains("unknown function `leaf_from_cwd`"), "{out}");
    let _ = std::fs::remove_dir_all(&root);
}

/// Kamailio 5.6: "to_ip allowed only in onsend_routes" (a load error).
#[test]
fn onsend_keywords_elsewhere_are_refused() {
    let cfg = "listen=udp:127.0.0.1:0\nloadmodule \"pv.so\"\nrequest_route {\n  if (to_ip == 1.2.3.4) { drop; }\n}\n";
    let (rc, out) = check_config(cfg);
    assert_ne!(rc, 0, "{out}");
    assert!(
        out.contains("`to_ip` is allowed only in onsend_route"),
        "{out}"
    );
    assert!(out.contains("test.cfg:4:7"), "{out}");
}

/// A modparam sees only the modules loaded above it (Kamailio 5.6: "No
/// module matching <pv> found").
#[test]
fn modparam_before_loadmodule_is_refused() {
    for m in ["pv", "p."] {
        let cfg = format!(
            "listen=udp:127.0.0.1:0\nmodparam(\"{m}\", \"varset\", \"a=i:1\")\nloadmodule \"pv.so\"\nrequest_route {{ drop; }}\n"
        );
        let (rc, out) = check_config(&cfg);
        assert_ne!(rc, 0, "{m}: {out}");
        assert!(out.contains("test.cfg:2:10"), "{m}: {out}");
    }
}

/// Functions whose Kamailio fix-up reads any value take a bare
/// pseudo-variable, read at run time (checked on 5.6.3: `append_branch($ru)`,
/// `uri_param($var(p))`, `add_uri_param($var(p))` (quoted text is literal),
/// `sleep($var(s))`, `lock($var(k))`,
/// `evapi_set_tag($var(t))` load; `sl_send_reply($var(c), ..)`, `xlog($var(m))`,
/// `append_hf($var(h))` do not).
#[test]
fn bare_pseudo_variables_as_arguments() {
    let cfg = r#"
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "corex.so"
loadmodule "siputils.so"
loadmodule "cfgutils.so"
modparam("cfgutils", "lock_set_size", 4)
request_route {
    $var(s) = 0;
    $var(k) = "calls";
    $var(p) = "transport";
    $var(v) = "tcp";
    $var(u) = "sip:other@example.org";
    $var(q) = "0.5";
    sleep($var(s));
    usleep($var(s));
    lock($var(k));
    unlock($var(k));
    # one argument: the parameter without a value
    if (uri_param($var(p))) { $var(r) = "p"; } else { $var(r) = "-"; }
    if (uri_param($var(p), $var(v))) { $var(r) = $var(r) + "v"; }
    append_branch($var(u), $var(q));
    append_branch($ru);
    $var(ap) = "b=2";
    add_uri_param("a=$rU");
    add_uri_param($var(ap));
    sl_send_reply("200", "r=$var(r) n=$(branch(uri)[0]) q=$(branch(q)[0]) m=$(branch(uri)[1]) ru=$ru");
}
"#;
    let (rc, out) = check_config(cfg);
    assert_eq!(rc, 0, "{out}");
    for bad in ["xlog($var(m));", "append_hf($var(h));"] {
        let c = format!(
            "loadmodule \"sl.so\"\nloadmodule \"xlog.so\"\nloadmodule \"textops.so\"\nrequest_route {{ {bad} }}\n"
        );
        assert_eq!(check_config(&c).0, 1, "{bad} loads");
    }
    let s = Siprd::start(cfg);
    let c = UdpClient::new();
    let r = c.request_reply(
        s.udp_addr(),
        "OPTIONS",
        "sip:a@127.0.0.1;transport=tcp",
        "bare-pv-args",
    );
    assert!(
        r.starts_with(
            "SIP/2.0 200 r=-v n=sip:other@example.org q=500 m=sip:a@127.0.0.1;transport=tcp \
             ru=sip:a@127.0.0.1;transport=tcp;a=$rU;b=2\r\n"
        ),
        "{r}"
    );
}

/// `$cfg(...)` (corex), as Kamailio 5.6.3 gives it: the statement's line,
/// its file (both `name` and `file`; a relative path gets the working
/// directory in front), the route block's name.
#[test]
fn cfg_pv_names_the_place_of_the_statement() {
    let cfg = "listen=udp:127.0.0.1:0\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"textops.so\"\nloadmodule \"corex.so\"\ninclude_file \"sub.cfg\"\nrequest_route {\n  append_to_reply(\"X-M: $cfg(route) $cfg(line) $cfg(file)\\r\\n\");\n  route(SUB);\n}\n";
    let sub = "route[SUB] {\n  append_to_reply(\"X-S: $cfg(route) $cfg(line) $cfg(name)\\r\\n\");\n  sl_send_reply(\"200\", \"ok\");\n}\n";
    let s = Siprd::start_with(cfg, &[("sub.cfg", sub)], &[]);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "cfgpv-1", ""),
    );
    let dir = s.dir.display().to_string();
    assert_eq!(
        header(&r, "X-M"),
        Some(format!("DEFAULT_ROUTE 8 {dir}/siprd.cfg").as_str()),
        "{r}"
    );
    assert_eq!(
        header(&r, "X-S"),
        Some(format!("SUB 2 {dir}/sub.cfg").as_str()),
        "{r}"
    );
}
