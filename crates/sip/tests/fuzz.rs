//! Arbitrary input never panics any entry point.

use bytes::Bytes;
use proptest::prelude::*;
use siprd_sip::framing::{message_len, skip_keepalive, MissingLength};
use siprd_sip::reply::{build_reply, ReplyOpts};
use siprd_sip::{Edits, Message, NameAddr, Uri, Via};

fn exercise(b: &[u8]) {
    let _ = message_len(b, 1024, MissingLength::Zero);
    let _ = skip_keepalive(b);
    let _ = Uri::parse(b);
    let _ = NameAddr::parse(b);
    let _ = Via::parse(b);
    let _ = siprd_sip::params::iter(b).count();
    let _ = siprd_sip::split_commas(b).count();
    if let Ok(m) = Message::parse(Bytes::copy_from_slice(b)) {
        let _ = m.validate_required();
        let _ = m.validate_rfc();
        let _ = (
            m.method(),
            m.ruri(),
            m.via1(),
            m.from(),
            m.to(),
            m.cseq(),
            m.contacts(),
            m.max_forwards(),
        );
        let _ = m.vias().count();
        let _ = m.headers().count();
        let _ = m.body();
        let _ = siprd_sip::txkey::server_tx_key(&m);
        let _ = siprd_sip::txkey::client_tx_key(&m);
        let opts = ReplyOpts {
            to_tag: Some(b"t"),
            src_ip: Some(b"1.2.3.4"),
            src_port: Some(9),
            force_rport: true,
            ..Default::default()
        };
        let r = build_reply(&m, 200, b"OK", &opts);
        let _ = Message::parse(Bytes::from(r));
        let _ = siprd_sip::reply::reply_port(&m, 5, false);
        let mut e = Edits::new();
        let _ = e.remove_top_via(&m);
        let _ = e.set_ruri(&m, b"sip:x");
        e.replace_body(&m, b"b");
        e.append_header(&m, b"X: y\r\n");
        let _ = e.apply_message(&m);
    }
}

/// Bytes biased towards SIP syntax, so the parsers get past the first line.
fn sipish() -> impl Strategy<Value = Vec<u8>> {
    let atoms = prop::sample::select(vec![
        &b"INVITE sip:a@b SIP/2.0\r\n"[..],
        b"SIP/2.0 200 OK\r\n",
        b"Via: SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport",
        b"v: SIP/2.0/TCP [::1]",
        b",",
        b";",
        b"=",
        b"\"",
        b"<",
        b">",
        b"sip:",
        b"@",
        b":",
        b"\r\n",
        b"\n",
        b" ",
        b"\t",
        b"From: ",
        b"t: ",
        b"CSeq: 1 INVITE",
        b"i: x",
        b"l: 3",
        b"Content-Length: 99999999999",
        b"m: *",
        b"tag=",
        b"[",
        b"]",
        b"%",
        b"?",
        b"\r\n\r\n",
        b"abc",
    ]);
    prop::collection::vec(atoms, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]
    #[test]
    fn arbitrary_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        exercise(&b);
    }

    #[test]
    fn sip_like_bytes(b in sipish()) {
        exercise(&b);
    }
}
