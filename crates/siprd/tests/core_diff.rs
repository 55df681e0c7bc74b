//! Core behaviour checked against Kamailio 5.6 that the kamailio-diff cases
//! cannot express (they send one fixed request): header values as received,
//! replies and Content-Length handling.

mod common;

use common::*;

const CFG: &str = r#"
debug=2
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"

request_route {
    if ($rU == "hdr") {
        sl_send_reply("200", "h=[$hdr(X-T)] a=[$(hdr(X-T)[*])] l=[$(hdr(X-T)[-1])]");
        exit;
    }
    sl_send_reply("200", "OK");
}
"#;

/// Kamailio 5.6: `$hdr` skips the blanks after the colon but keeps those at
/// the end of the line.
#[test]
fn hdr_keeps_trailing_blanks() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    let req = request(
        "OPTIONS",
        "sip:hdr@127.0.0.1",
        c.port(),
        "hdr1",
        "X-T:   a  \r\nX-T: b\t \r\n",
    );
    let r = c.request(s.udp_addr(), &req);
    assert_eq!(
        first_line(&r),
        "SIP/2.0 200 h=[a  ] a=[a  ,b\t ] l=[b\t ]",
        "{r}"
    );
}
