//! xhttp: HTTP requests on the SIP listeners run event_route[xhttp:request];
//! jsonrpcs' jsonrpc_dispatch() / jsonrpc_exec() there. Reply shapes observed
//! on Kamailio 5.6 (`Sia:` header, request's HTTP version, no answer to
//! malformed JSON, connection kept open).

mod common;

use common::*;
use std::time::Duration;

const CFG: &str = r#"
children=1
tcp_children=1
tcp_accept_no_cl=yes
listen=udp:127.0.0.1:0
listen=tcp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
modparam("xhttp", "url_skip", "^/skip")
modparam("jsonrpcs", "transport", 1)
request_route {
    sl_send_reply("200", "SIP OK");
}
event_route[xhttp:request] {
    xlog("L_ERR", "HTTP rm=[$rm] hu=[$hu] ru=[$ru] host=[$hdr(Host)] rb=[$rb] proto=[$proto]\n");
    xlog("L_ERR", "HTTP-VIA via=[$hdr(Via)] ml=[$ml]\n");
    if ($hu =~ "^/RPC") {
        jsonrpc_dispatch();
        exit;
    }
    if ($hu =~ "^/exec") {
        jsonrpc_exec('{"jsonrpc":"2.0","method":"core.echo","params":["$hdr(X-Arg)"],"id":7}');
        xlog("L_ERR", "EXEC code=$jsonrpl(code) text=$jsonrpl(text)\n");
        xhttp_reply("200", "OK", "application/json", "$jsonrpl(body)");
        exit;
    }
    if ($hu =~ "^/x2") {
        $var(a) = jsonrpc_exec('{"jsonrpc":"2.0","method":"nope","id":1}');
        $var(b) = jsonrpc_exec('{bad');
        xlog("L_ERR", "X2 a=$var(a) b=$var(b) code=$jsonrpl(code) text=$jsonrpl(text)\n");
        $var(c) = xhttp_reply("200", "OK", "text/plain", "a");
        $var(d) = xhttp_reply("200", "OK", "text/plain", "b");
        xlog("L_ERR", "X2 replies c=$var(c) d=$var(d)\n");
        exit;
    }
    if ($hu =~ "^/none") {
        exit;
    }
    if ($hu =~ "^/twice") {
        xhttp_reply("200", "OK", "text/plain", "first");
        xhttp_reply("201", "Again", "text/plain", "second");
        exit;
    }
    if ($hu =~ "^/empty") {
        append_to_reply("X-Extra: 1\r\n");
        xhttp_reply("404", "Not Here", "", "");
        exit;
    }
    xhttp_reply("200", "OK", "text/html", "<p>$hu</p>");
}
"#;

fn http(c: &mut TcpClient, req: &str) -> Option<String> {
    c.send(req.as_bytes());
    c.recv(Duration::from_secs(3))
}

fn body(reply: &str) -> &str {
    reply.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn xhttp_requests_on_the_sip_tcp_port() {
    let s = Siprd::start(CFG);
    let mut c = TcpClient::connect(s.tcp_addr());
    let r = http(
        &mut c,
        "GET /page?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    )
    .expect("a reply");
    let sia = format!("Sia: SIP/2.0/TCP 127.0.0.1:{}\r\n", c.port());
    assert!(
        r.starts_with(&format!(
            "HTTP/1.1 200 OK\r\n{sia}Content-Type: text/html\r\n"
        )),
        "{r}"
    );
    assert!(r.contains("\r\nServer: siprd"), "{r}");
    assert_eq!(header(&r, "Content-Length"), Some("16"));
    assert_eq!(body(&r), "<p>/page?x=1</p>");
    // Kamailio 5.6: xhttp puts `Via: SIP/2.0/TCP ip:port` (the sender) after
    // the request line; $hdr(Via), $ml and $mb see it
    let req_len = "GET /page?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n".len();
    let via = format!("SIP/2.0/TCP 127.0.0.1:{}", c.port());
    let want = format!("HTTP-VIA via=[{via}] ml=[{}]", req_len + via.len() + 7);
    assert!(s.wait_log(&want, WAIT), "{want}\n{}", s.log());
    assert!(
        s.wait_log(
            "HTTP rm=[GET] hu=[/page?x=1] ru=[<null>] host=[example.com] rb=[] proto=[tcp]",
            WAIT
        ),
        "{}",
        s.log()
    );

    // keep-alive, a body, and two pipelined requests in one write
    let rpc = r#"{"jsonrpc":"2.0","method":"core.echo","params":["a",1],"id":1}"#;
    let req = format!(
        "POST /RPC HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{rpc}GET /second HTTP/1.0\r\nHost: x\r\n\r\n",
        rpc.len()
    );
    let r = http(&mut c, &req).expect("rpc reply");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert_eq!(header(&r, "Content-Type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(body(&r)).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"jsonrpc":"2.0","result":["a","1"],"id":1})
    );
    let r = c.recv(Duration::from_secs(3)).expect("second reply");
    assert!(r.starts_with("HTTP/1.0 200 OK\r\n"), "{r}");
    assert_eq!(body(&r), "<p>/second</p>");

    // an RPC error: the status line mirrors it
    let rpc = r#"{"jsonrpc":"2.0","method":"no.such","id":2}"#;
    let r = http(
        &mut c,
        &format!(
            "POST /RPC HTTP/1.1\r\nContent-Length: {}\r\n\r\n{rpc}",
            rpc.len()
        ),
    )
    .unwrap();
    assert!(r.starts_with("HTTP/1.1 500 Method Not Found\r\n"), "{r}");

    // malformed JSON: no answer (as Kamailio); the connection still serves
    c.send(b"POST /RPC HTTP/1.1\r\nContent-Length: 9\r\n\r\n{bad json");
    assert_eq!(c.recv(Duration::from_millis(400)), None);
    // url_skip and a route that does not reply: nothing
    c.send(b"GET /skip/me HTTP/1.1\r\nHost: x\r\n\r\n");
    c.send(b"GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.recv(Duration::from_millis(400)), None);

    // only the first xhttp_reply is sent
    let r = http(&mut c, "GET /twice HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert_eq!(body(&r), "first");
    // no content type: no header; append_to_reply headers come first
    let r = http(&mut c, "GET /empty HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(
        r.starts_with(&format!("HTTP/1.1 404 Not Here\r\n{sia}X-Extra: 1\r\n")),
        "{r}"
    );
    assert_eq!(header(&r, "Content-Type"), None);
    assert_eq!(header(&r, "Content-Length"), Some("0"));

    // jsonrpc_exec + $jsonrpl
    let r = http(&mut c, "GET /exec HTTP/1.1\r\nX-Arg: hello\r\n\r\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(body(&r)).unwrap();
    assert_eq!(v["result"], serde_json::json!(["hello"]));
    assert_eq!(v["id"], 7);
    assert!(s.wait_log("EXEC code=200 text=OK", WAIT));

    // an RPC error in jsonrpc_exec; malformed JSON keeps the last result;
    // a second xhttp_reply returns -1 (all as Kamailio)
    let r = http(&mut c, "GET /x2 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(body(&r), "a");
    assert!(
        s.wait_log("X2 a=1 b=-1 code=500 text=Method Not Found", WAIT),
        "{}",
        s.log()
    );
    assert!(s.wait_log("X2 replies c=1 d=-1", WAIT), "{}", s.log());

    // SIP on the same connection is unchanged
    let sip = request("OPTIONS", "sip:a@127.0.0.1", c.port(), "xh-1", "")
        .replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    let r = http(&mut c, &sip).expect("SIP reply");
    assert!(r.starts_with("SIP/2.0 200 SIP OK\r\n"), "{r}");
}

#[test]
fn xhttp_over_udp_and_junk() {
    let s = Siprd::start(CFG);
    let u = UdpClient::new();
    u.send(
        s.udp_addr(),
        "GET /udp HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    let r = u.recv(Duration::from_secs(3)).expect("udp reply");
    assert!(
        r.starts_with(&format!(
            "HTTP/1.1 200 OK\r\nSia: SIP/2.0/UDP 127.0.0.1:{}\r\n",
            u.port()
        )),
        "{r}"
    );
    assert!(
        s.wait_log(
            &format!("HTTP-VIA via=[SIP/2.0/UDP 127.0.0.1:{}]", u.port()),
            WAIT
        ),
        "{}",
        s.log()
    );
    // A bad Content-Length closes the connection unanswered (as Kamailio).
    let mut c = TcpClient::connect(s.tcp_addr());
    c.send(b"GET /a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
    assert!(c.closed_within(Duration::from_secs(3)));
    // Binary junk does not disturb the server (its connection is closed).
    let mut c = TcpClient::connect(s.tcp_addr());
    c.send(&[0xffu8; 300]);
    c.send(b"\r\n\r\n");
    let mut c = TcpClient::connect(s.tcp_addr());
    let r = http(&mut c, "GET /still HTTP/1.1\r\nHost: x\r\n\r\n").expect("still serving");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
}

#[test]
fn jsonrpc_dispatch_needs_http_transport_bit() {
    // Kamailio 5.6: with `transport` 0 jsonrpc_dispatch() logs an error and
    // answers nothing.
    let cfg = CFG.replace("modparam(\"jsonrpcs\", \"transport\", 1)\n", "");
    let s = Siprd::start(&cfg);
    let mut c = TcpClient::connect(s.tcp_addr());
    let rpc = r#"{"jsonrpc":"2.0","method":"core.version","id":1}"#;
    c.send(
        format!(
            "POST /RPC HTTP/1.1\r\nContent-Length: {}\r\n\r\n{rpc}",
            rpc.len()
        )
        .as_bytes(),
    );
    assert_eq!(c.recv(Duration::from_millis(500)), None);
    assert!(s.wait_log("check transport param", WAIT), "{}", s.log());
}

#[test]
fn bad_xhttp_config() {
    let (code, out) = check_config(
        "loadmodule \"xhttp.so\"\nmodparam(\"xhttp\", \"url_match\", \"(\")\nrequest_route { drop; }\n",
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("url_match"), "{out}");
    // Kamailio 5.6's jsonrpcs has no TCP transport
    let (code, out) = check_config(
        "loadmodule \"jsonrpcs.so\"\nmodparam(\"jsonrpcs\", \"tcp_socket\", \"tcp:127.0.0.1:5042\")\nrequest_route { drop; }\n",
    );
    assert_ne!(code, 0, "{out}");
}

#[test]
fn without_tcp_accept_no_cl_a_request_without_content_length_closes() {
    // Kamailio 5.6 (tcp_accept_no_cl=no, the default): an HTTP or SIP
    // request without Content-Length on TCP closes the connection unanswered.
    let s = Siprd::start(&CFG.replace("tcp_accept_no_cl=yes\n", ""));
    let mut c = TcpClient::connect(s.tcp_addr());
    c.send(b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(c.closed_within(Duration::from_secs(3)));
    let mut c = TcpClient::connect(s.tcp_addr());
    let r = http(
        &mut c,
        "GET /y HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    )
    .expect("served with a Content-Length");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
}
