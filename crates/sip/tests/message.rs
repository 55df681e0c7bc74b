//! Accessor, reply, edit and transaction-key tests with checked values.

use bytes::Bytes;
use siprd_sip::edit::{top_via_line, Edits};
use siprd_sip::reply::{build_reply, reply_port, to_tag, ReplyOpts};
use siprd_sip::txkey::{cancel_target_key, client_tx_key, server_tx_key, ServerTxKey};
use siprd_sip::{HeaderKind, Message, Method, ParseError};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.com;transport=udp SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/TCP proxy1.example.org;branch=z9hG4bKp1, SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKp2;received=10.0.0.9\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
From: \"Alice, the first\" <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.com>;expires=30, \"X, Y\" <sip:x@[::1]:5070;lr>\r\n\
Record-Route: <sip:p1.example.org;lr>\r\n\
X-Folded: first\r\n  second\r\n\tthird\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\r\ntrailing junk";

fn msg(b: &[u8]) -> Message {
    Message::parse(Bytes::copy_from_slice(b)).unwrap()
}

#[test]
fn first_line_and_headers() {
    let m = msg(INVITE);
    assert!(m.is_request());
    assert_eq!(m.method(), Method::Invite);
    assert_eq!(m.method_bytes(), b"INVITE");
    assert_eq!(m.ruri_bytes(), b"sip:bob@biloxi.com;transport=udp");
    let u = m.ruri().unwrap();
    assert_eq!(u.user(), Some(&b"bob"[..]));
    assert_eq!(u.host(), b"biloxi.com");
    assert_eq!(u.transport(), Some(&b"udp"[..]));
    assert_eq!(m.version(), b"SIP/2.0");
    assert_eq!(m.status(), None);
    assert_eq!(m.reason(), b"");
    assert_eq!(m.header_lines(), 12);
    assert_eq!(m.header(HeaderKind::MaxForwards), Some(&b"70"[..]));
    assert_eq!(m.max_forwards(), Ok(Some(70)));
    assert_eq!(
        m.header_by_name(b"call-ID"),
        Some(&b"a84b4c76e66710@pc33.atlanta.com"[..])
    );
    assert_eq!(m.header_by_name(b"i"), m.call_id());
    assert_eq!(m.header_count(b"v"), 2);
    assert_eq!(m.header_count(b"VIA"), 2);
    assert_eq!(
        m.header_by_name(b"x-folded"),
        Some(&b"first\r\n  second\r\n\tthird"[..])
    );
    assert_eq!(m.header_by_name(b"X-Missing"), None);
    assert_eq!(m.content_length(), Ok(Some(4)));
    assert_eq!(m.body(), b"v=0\r");
    let h: Vec<_> = m.headers().map(|h| h.name).collect();
    assert_eq!(h[0], b"Via");
    assert_eq!(h[11], b"Content-Length");
    let cl = m.header_ref(HeaderKind::ContentLength).unwrap();
    assert_eq!(&INVITE[cl.line.clone()], b"Content-Length: 4\r\n");
    assert_eq!(m.slice(cl.value_range.clone()), Bytes::from_static(b"4"));
    assert!(m.validate_required().is_ok());
    assert!(m.validate_rfc().is_ok());
    assert!(!m.is_lf_only());
}

#[test]
fn typed_values() {
    let m = msg(INVITE);
    let v = m.via1().unwrap();
    assert_eq!(v.transport(), b"UDP");
    assert_eq!(v.host(), b"pc33.atlanta.com");
    assert_eq!(v.port(), Some(5066));
    assert_eq!(v.branch(), Some(&b"z9hG4bK776asdhds"[..]));
    assert_eq!(v.rport(), Some(None));
    assert_eq!(v.received(), None);
    let vias: Vec<_> = m.vias().map(|v| v.unwrap()).collect();
    assert_eq!(vias.len(), 3);
    assert_eq!(m.via_count(), 3);
    assert_eq!(vias[1].transport(), b"TCP");
    assert_eq!(vias[1].host(), b"proxy1.example.org");
    assert_eq!(vias[1].port(), None);
    assert_eq!(vias[2].host(), b"[2001:db8::1]");
    assert_eq!(vias[2].port(), Some(5062));
    assert_eq!(vias[2].received(), Some(&b"10.0.0.9"[..]));
    assert_eq!(&INVITE[vias[2].range()], vias[2].as_bytes());

    let f = m.from().unwrap();
    assert_eq!(f.display_name(), Some(&b"\"Alice, the first\""[..]));
    assert_eq!(f.display_name_unquoted(), Some(&b"Alice, the first"[..]));
    assert_eq!(f.uri().user(), Some(&b"alice"[..]));
    assert_eq!(f.tag(), Some(&b"1928301774"[..]));
    let t = m.to().unwrap();
    assert_eq!(t.display_name(), Some(&b"Bob"[..]));
    assert_eq!(t.tag(), None);
    assert_eq!(t.uri_bytes(), b"sip:bob@biloxi.com");
    assert_eq!(m.cseq(), Ok((314159, Method::Invite)));
    assert_eq!(m.call_id(), Some(&b"a84b4c76e66710@pc33.atlanta.com"[..]));
    let c = m.contacts().unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].param(b"expires"), Some(Some(&b"30"[..])));
    assert_eq!(c[1].display_name_unquoted(), Some(&b"X, Y"[..]));
    assert_eq!(c[1].uri().host(), b"[::1]");
    assert_eq!(c[1].uri().port(), Some(5070));
    assert_eq!(c[1].uri().param(b"lr"), Some(None));
    assert!(!m.contact_star());
    // Cached: the same reference on the second call.
    assert!(std::ptr::eq(m.from().unwrap(), m.from().unwrap()));
    let vals: Vec<_> = m.header_values(HeaderKind::Via).collect();
    assert_eq!(vals.len(), 3);
}

const COMPACT_LF: &[u8] = b"\n\nOPTIONS sip:carol@chicago.com SIP/2.0\n\
v: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc1\n\
f: sip:alice@atlanta.com;tag=88\n\
t: sip:carol@chicago.com\n\
i: cid-1\n\
CSeq: 7 OPTIONS\n\
m: *\n\
k: timer\n\
x: 90\n\
l: 0\n\n";

#[test]
fn compact_forms_and_lf_only() {
    let m = msg(COMPACT_LF);
    assert_eq!(m.start_offset(), 2);
    assert!(m.is_lf_only());
    assert_eq!(m.method(), Method::Options);
    assert_eq!(
        m.header(HeaderKind::Via),
        Some(&b"SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKc1"[..])
    );
    assert_eq!(m.header_by_name(b"Supported"), Some(&b"timer"[..]));
    assert_eq!(m.header_by_name(b"session-expires"), Some(&b"90"[..]));
    assert_eq!(m.header(HeaderKind::SessionExpires), Some(&b"90"[..]));
    let f = m.from().unwrap();
    assert_eq!(f.uri_bytes(), b"sip:alice@atlanta.com");
    assert_eq!(f.tag(), Some(&b"88"[..]));
    assert!(m.contact_star());
    assert_eq!(m.contacts().unwrap().len(), 0);
    assert_eq!(m.content_length(), Ok(Some(0)));
    assert_eq!(m.body(), b"");
    assert!(m.validate_required().is_ok());
}

#[test]
fn responses() {
    let m = msg(
        b"SIP/2.0 180 Ringing Now\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nCSeq: 5 INVITE\r\n\r\n",
    );
    assert!(m.is_response());
    assert_eq!(m.status(), Some(180));
    assert_eq!(m.reason(), b"Ringing Now");
    assert_eq!(m.method(), Method::Invite);
    assert_eq!(m.method_bytes(), b"INVITE");
    assert!(m.ruri().is_err());
    let k = client_tx_key(&m).unwrap();
    assert_eq!(&k.branch[..], b"z9hG4bKx");
    assert_eq!(k.method, Method::Invite);
    let m = msg(b"SIP/2.0 100 \r\nVia: SIP/2.0/UDP h\r\n\r\n");
    assert_eq!(m.reason(), b"");
    // any three digits (Kamailio relays 000..999)
    let m = msg(b"SIP/2.0 099 Low\r\n\r\n");
    assert_eq!(m.status(), Some(99));
    let m = msg(b"SIP/2.0 999 High\r\n\r\n");
    assert_eq!(m.status(), Some(999));
}

#[test]
fn refusals() {
    let e = |b: &[u8]| Message::parse(Bytes::copy_from_slice(b)).unwrap_err();
    assert_eq!(e(b""), ParseError::Empty);
    assert_eq!(e(b"\r\n\r\n"), ParseError::Empty);
    assert!(matches!(
        e(b"INVITE sip:a@b\r\n\r\n"),
        ParseError::StartLine(_)
    ));
    assert!(matches!(
        e(b"INVITE  sip:a@b SIP/2.0\r\n\r\n"),
        ParseError::StartLine(_)
    ));
    // any token is a Request-URI at the start line (Kamailio runs the route);
    // reading it as a URI fails
    for ru in [&b"<sip:a@b>"[..], b"*", b"a@b", b"1sip:x", b"im:a@b"] {
        let mut raw = b"OPTIONS ".to_vec();
        raw.extend_from_slice(ru);
        raw.extend_from_slice(b" SIP/2.0\r\n\r\n");
        let m = Message::parse(Bytes::from(raw)).unwrap();
        assert_eq!(m.ruri_bytes(), ru);
        assert!(m.ruri().map_or(true, |u| !u.is_known_scheme()));
    }
    // blanks after the version are taken, as Kamailio (RFC 4475 `trws`)
    let m = Message::parse(Bytes::from_static(b"INVITE sip:a@b SIP/2.0 \t\r\n\r\n")).unwrap();
    assert_eq!(m.version(), b"SIP/2.0");
    assert!(matches!(
        e(b"SIP/2.0 2000 OK\r\n\r\n"),
        ParseError::StartLine(_)
    ));
    // no reason phrase (no space after the code): Kamailio refuses it
    assert!(matches!(
        e(b"SIP/2.0 404\r\n\r\n"),
        ParseError::StartLine(_)
    ));
    assert!(matches!(
        e(b"GET / HTTP/\r\n\r\n"),
        ParseError::StartLine(_)
    ));
    assert!(matches!(
        e(b"HTTP/1.1 200 OK\r\n\r\n"),
        ParseError::StartLine(_)
    ));
    // Header-level problems surface in validate_required.
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nNoColonHere\r\n\r\n");
    assert_eq!(
        m.validate_required(),
        Err(ParseError::BadHeaderLine { offset: 45 })
    );
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n\r\n");
    assert_eq!(
        m.validate_required(),
        Err(ParseError::MissingHeader("Call-ID"))
    );
    // Not errors at this gate: bad CSeq, wrong Content-Length, unknown method.
    let m = msg(b"FOO sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h\r\nf: <sip:a@b>;tag=1\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: x FOO\r\nl: 99\r\n\r\nabc");
    assert!(m.validate_required().is_ok());
    assert_eq!(m.method(), Method::Other(Bytes::from_static(b"FOO")));
    assert_eq!(m.method().as_bytes(), b"FOO");
    assert!(m.cseq().is_err());
    assert_eq!(m.body(), b"abc");
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\nabc");
    assert!(m.content_length().is_err());
    assert_eq!(m.body(), b"abc");
}

/// Kamailio stops reading at the first header line it cannot use: the
/// headers after it do not exist; before the required ones that drops the
/// message, after them only the full parse (replies, transactions) fails.
#[test]
fn unusable_header_lines() {
    let base = |extra: &str| {
        msg(format!(
            "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nf: <sip:a@b>;tag=1\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 1 OPTIONS\r\n{extra}X-After: 1\r\n\r\n"
        )
        .as_bytes())
    };
    for bad in [
        "X!y: 1\r\n",
        "X`y: 1\r\n",
        "X y: 1\r\n",
        "Xy\r\n",
        "X\u{e9}y: 1\r\n",
    ] {
        let m = base(bad);
        assert!(m.validate_required().is_ok(), "{bad:?}");
        assert!(m.has_bad_header_line(), "{bad:?}");
        assert!(!m.headers_parse_ok(), "{bad:?}");
        assert_eq!(m.header_by_name(b"X-After"), None, "{bad:?}");
    }
    let m = base("X.a_b+c~d-9 : 1\r\n");
    assert!(!m.has_bad_header_line());
    assert!(m.headers_parse_ok());
    assert_eq!(m.header_by_name(b"x.a_b+c~d-9"), Some(&b"1"[..]));
    assert_eq!(m.header_by_name(b"X-After"), Some(&b"1"[..]));
    // before a required header: that header is not there
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nX!y: 1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:a@b>\r\ni: x\r\nCSeq: 1 OPTIONS\r\n\r\n");
    assert_eq!(
        m.validate_required(),
        Err(ParseError::BadHeaderLine { offset: 45 })
    );
}

#[test]
fn replies() {
    let m = msg(INVITE);
    let tag = to_tag(&m);
    assert_eq!(tag, to_tag(&msg(INVITE)), "stable across retransmissions");
    let opts = ReplyOpts {
        to_tag: Some(&tag),
        src_ip: Some(b"192.0.2.4"),
        src_port: Some(5099),
        extra_headers: b"Server: siprd\r\nX-A: 1",
        ..Default::default()
    };
    let r = build_reply(&m, 180, b"Ringing", &opts);
    let expect = format!(
        "SIP/2.0 180 Ringing\r\n\
Via: SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport=5099;received=192.0.2.4\r\n\
Via: SIP/2.0/TCP proxy1.example.org;branch=z9hG4bKp1, SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKp2;received=10.0.0.9\r\n\
To: Bob <sip:bob@biloxi.com>;tag={}\r\n\
From: \"Alice, the first\" <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Record-Route: <sip:p1.example.org;lr>\r\n\
Server: siprd\r\nX-A: 1\r\n\
Content-Length: 0\r\n\r\n",
        String::from_utf8_lossy(&tag)
    );
    assert_eq!(String::from_utf8_lossy(&r), expect);
    // 100 gets no tag, no Record-Route; the reply parses back.
    let r = build_reply(
        &m,
        100,
        b"Trying",
        &ReplyOpts {
            to_tag: Some(b"t"),
            ..Default::default()
        },
    );
    let rm = msg(&r);
    assert_eq!(rm.status(), Some(100));
    assert_eq!(rm.to().unwrap().tag(), None);
    assert_eq!(rm.header_count(b"Record-Route"), 0);
    assert_eq!(rm.via_count(), 3);
    // Body and content type.
    let r = build_reply(
        &m,
        200,
        b"OK",
        &ReplyOpts {
            body: b"hello",
            content_type: Some(b"text/plain"),
            ..Default::default()
        },
    );
    let rm = msg(&r);
    assert_eq!(rm.body(), b"hello");
    assert_eq!(rm.header(HeaderKind::ContentType), Some(&b"text/plain"[..]));
    assert_eq!(rm.content_length(), Ok(Some(5)));
}

/// Kamailio 5.6.3: `received` at the end of the Via line (after every value),
/// and Via lines rebuilt with CRLF while the other copied lines keep bare LF.
#[test]
fn reply_to_compact_lf_only_multi_via() {
    let req = b"OPTIONS sip:a@b SIP/2.0\nv: SIP/2.0/UDP 1.2.3.4:5070;rport;branch=z9hG4bK1, SIP/2.0/UDP 5.6.7.8\nf: <sip:x@y>;tag=1\nt: <sip:a@b>\ni: abc\nCSeq: 1 OPTIONS\n\n";
    let m = msg(req);
    let r = build_reply(
        &m,
        404,
        b"Not Found",
        &ReplyOpts {
            to_tag: Some(b"T"),
            src_ip: Some(b"127.0.0.1"),
            src_port: Some(5000),
            ..Default::default()
        },
    );
    assert_eq!(
        String::from_utf8_lossy(&r),
        "SIP/2.0 404 Not Found\r\n\
v: SIP/2.0/UDP 1.2.3.4:5070;rport=5000;branch=z9hG4bK1, SIP/2.0/UDP 5.6.7.8;received=127.0.0.1\r\n\
f: <sip:x@y>;tag=1\n\
t: <sip:a@b>;tag=T\n\
i: abc\n\
CSeq: 1 OPTIONS\n\
Content-Length: 0\r\n\r\n"
    );
    // Same source IP as the Via host, with rport: rport filled and received still added
    // (RFC 3581, as Kamailio does).
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP [::1]:5070;rport\r\nt: <sip:a@b>;tag=x\r\n\r\n");
    let r = build_reply(
        &m,
        200,
        b"OK",
        &ReplyOpts {
            to_tag: Some(b"T"),
            src_ip: Some(b"::1"),
            src_port: Some(7),
            ..Default::default()
        },
    );
    assert!(r.starts_with(
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP [::1]:5070;rport=7;received=::1\r\nt: <sip:a@b>;tag=x\r\n"
    ));
}

/// Kamailio 5.6: a reply goes to the source IP, at the source port with
/// rport, else at the Via port (0 or none: the default).
#[test]
fn destinations() {
    let m =
        msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:5070;received=5.6.7.8\r\n\r\n");
    assert_eq!(reply_port(&m, 1111, false).unwrap(), 5070);
    assert_eq!(reply_port(&m, 1111, true).unwrap(), 1111);
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP host;rport\r\n\r\n");
    assert_eq!(reply_port(&m, 1111, false).unwrap(), 1111);
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TLS host\r\n\r\n");
    assert_eq!(reply_port(&m, 1111, false).unwrap(), 5061);
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4:0\r\n\r\n");
    assert_eq!(reply_port(&m, 1111, false).unwrap(), 5060);
}

#[test]
fn edits_on_message() {
    let m = msg(INVITE);
    let mut e = Edits::new();
    e.set_ruri(&m, b"sip:bob@10.0.0.2:5060").unwrap();
    e.add_top_via(
        &m,
        &top_via_line(b"udp", b"10.0.0.1", Some(5060), b"z9hG4bKnew", b""),
    );
    e.remove_header(&m, b"record-route");
    e.remove_header(&m, b"X-Folded");
    e.append_header(&m, b"X-Added: 1\r\n");
    e.replace(m.max_forwards_range().unwrap(), b"69".to_vec());
    let out = e.apply_message(&m);
    let n = msg(&out);
    assert_eq!(n.ruri_bytes(), b"sip:bob@10.0.0.2:5060");
    assert_eq!(n.via1().unwrap().branch(), Some(&b"z9hG4bKnew"[..]));
    assert_eq!(n.via_count(), 4);
    assert_eq!(n.header_count(b"Record-Route"), 0);
    assert_eq!(n.header_count(b"X-Folded"), 0);
    assert_eq!(n.header_by_name(b"x-added"), Some(&b"1"[..]));
    assert_eq!(n.max_forwards(), Ok(Some(69)));
    assert_eq!(n.body(), b"v=0\r");
    assert!(
        out.ends_with(b"X-Added: 1\r\n\r\nv=0\r"),
        "trailing junk dropped"
    );

    // Body replacement fixes Content-Length.
    let mut e = Edits::new();
    e.replace_body(&m, b"new body");
    let n = msg(&e.apply_message(&m));
    assert_eq!(n.body(), b"new body");
    assert_eq!(n.content_length(), Ok(Some(8)));
    let m2 = msg(b"MESSAGE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n");
    let mut e = Edits::new();
    e.replace_body(&m2, b"hi");
    let n = msg(&e.apply_message(&m2));
    assert_eq!(n.body(), b"hi");
    assert_eq!(n.content_length(), Ok(Some(2)));

    // Removing the top Via value when several share a line.
    let mut e = Edits::new();
    let r = msg(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP me;branch=z9hG4bK1 , SIP/2.0/UDP you;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP x\r\n\r\n");
    e.remove_top_via(&r).unwrap();
    let n = msg(&e.apply_message(&r));
    assert_eq!(
        n.header(HeaderKind::Via),
        Some(&b"SIP/2.0/UDP you;branch=z9hG4bK2"[..])
    );
    assert_eq!(n.via_count(), 2);
    let mut e = Edits::new();
    e.remove_top_via(&n).unwrap();
    let n2 = msg(&e.apply_message(&n));
    assert_eq!(n2.via_count(), 1);
    assert_eq!(n2.via1().unwrap().host(), b"x");
}

#[test]
fn transaction_keys() {
    let inv = msg(INVITE);
    let ack = msg(&INVITE
        .to_vec()
        .replacen_bytes(b"INVITE sip", b"ACK sip")
        .replacen_bytes(b"314159 INVITE", b"314159 ACK"));
    let k1 = server_tx_key(&inv).unwrap();
    assert_eq!(k1, server_tx_key(&ack).unwrap(), "ACK matches INVITE");
    match &k1 {
        ServerTxKey::Rfc3261 {
            branch,
            sent_by,
            method,
            bucket,
        } => {
            assert_eq!(&branch[..], b"z9hG4bK776asdhds");
            assert_eq!(
                *bucket,
                siprd_sip::txkey::bucket_of(b"a84b4c76e66710@pc33.atlanta.com", 314159)
            );
            assert_eq!(&sent_by[..], b"pc33.atlanta.com:5066");
            assert!(*method == Method::Invite);
        }
        k => panic!("unexpected {k:?}"),
    }
    let cancel = msg(&INVITE
        .to_vec()
        .replacen_bytes(b"INVITE sip", b"CANCEL sip")
        .replacen_bytes(b"314159 INVITE", b"314159 CANCEL"));
    assert_ne!(server_tx_key(&cancel).unwrap(), k1);
    assert_eq!(cancel_target_key(&cancel).unwrap(), k1);
    // The same branch under another Call-ID or CSeq number is another transaction (Kamailio
    // looks branches up within a Call-ID + CSeq bucket); so is an ACK/CANCEL that differs.
    let other_call = msg(&INVITE
        .to_vec()
        .replacen_bytes(b"a84b4c76e66710@", b"zz4b4c76e66710@"));
    assert_ne!(server_tx_key(&other_call).unwrap(), k1);
    let other_cseq = msg(&INVITE
        .to_vec()
        .replacen_bytes(b"314159 INVITE", b"314160 INVITE"));
    assert_ne!(server_tx_key(&other_cseq).unwrap(), k1);
    let cancel_other = msg(&INVITE
        .to_vec()
        .replacen_bytes(b"INVITE sip", b"CANCEL sip")
        .replacen_bytes(b"314159 INVITE", b"314160 CANCEL"));
    assert_ne!(cancel_target_key(&cancel_other).unwrap(), k1);
    // RFC 2543 fallback.
    let old = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=abc\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\n\r\n";
    let ack = b"ACK sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=abc\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>;tag=ours\r\nCall-ID: c\r\nCSeq: 2 ACK\r\n\r\n";
    let k = server_tx_key(&msg(old)).unwrap();
    assert!(matches!(&k, ServerTxKey::Rfc2543(b) if b.cseq == 2));
    assert_eq!(k, server_tx_key(&msg(ack)).unwrap());
    let bye = b"BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=abc\r\nFrom: <sip:a@h>;tag=f\r\nTo: <sip:b@h>;tag=ours\r\nCall-ID: c\r\nCSeq: 3 BYE\r\n\r\n";
    assert_ne!(server_tx_key(&msg(bye)).unwrap(), k);
}

trait ReplaceBytes {
    fn replacen_bytes(self, from: &[u8], to: &[u8]) -> Vec<u8>;
}
impl ReplaceBytes for Vec<u8> {
    fn replacen_bytes(self, from: &[u8], to: &[u8]) -> Vec<u8> {
        match self.windows(from.len()).position(|w| w == from) {
            Some(p) => [&self[..p], to, &self[p + from.len()..]].concat(),
            None => self,
        }
    }
}

#[test]
fn no_rport_same_ip_no_received() {
    let m = msg(
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070\r\nt: <sip:a@b>;tag=x\r\n\r\n",
    );
    let opts = ReplyOpts {
        src_ip: Some(b"10.0.0.1"),
        src_port: Some(7),
        ..Default::default()
    };
    let r = build_reply(&m, 200, b"OK", &opts);
    assert!(r.starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5070\r\n"));
}

/// Kamailio 5.6: `force_rport()` adds `rport=` but not `received` when the
/// sent-by host is the source IP (a client's own `rport` adds both).
#[test]
fn force_rport_alone_adds_no_received() {
    let m = msg(
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1\r\nt: <sip:a@b>;tag=x\r\n\r\n",
    );
    let opts = |ip: &'static [u8]| ReplyOpts {
        src_ip: Some(ip),
        src_port: Some(7),
        force_rport: true,
        ..Default::default()
    };
    let r = build_reply(&m, 200, b"OK", &opts(b"10.0.0.1"));
    assert!(
        r.starts_with(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport=7\r\n"
        ),
        "{}",
        String::from_utf8_lossy(&r)
    );
    let r = build_reply(&m, 200, b"OK", &opts(b"10.0.0.2"));
    assert!(
        r.starts_with(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK1;rport=7;received=10.0.0.2\r\n"
        ),
        "{}",
        String::from_utf8_lossy(&r)
    );
}

/// Kamailio 5.6 replaces an `rport` value the client put in its Via.
#[test]
fn rport_with_a_value_is_replaced() {
    let m = msg(
        b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP host.invalid;rport=1;branch=z9hG4bKx\r\nt: <sip:a@b>;tag=x\r\n\r\n",
    );
    let opts = ReplyOpts {
        src_ip: Some(b"10.0.0.1"),
        src_port: Some(5077),
        ..Default::default()
    };
    let r = build_reply(&m, 200, b"OK", &opts);
    assert!(
        r.starts_with(
            b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP host.invalid;rport=5077;branch=z9hG4bKx;received=10.0.0.1\r\n"
        ),
        "{}",
        String::from_utf8_lossy(&r)
    );
}

#[test]
fn http_requests_parse_as_http() {
    let m = msg(b"POST /RPC?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}junk");
    assert!(m.is_http());
    assert!(m.is_request());
    assert_eq!(m.method_bytes(), b"POST");
    assert_eq!(m.ruri_bytes(), b"/RPC?x=1");
    assert_eq!(m.version(), b"HTTP/1.1");
    assert_eq!(m.body(), b"{}");
    assert_eq!(m.header_by_name(b"host"), Some(&b"a"[..]));
    let m = msg(b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n\r\n");
    assert!(!m.is_http());
    let m = msg(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h\r\n\r\n");
    assert!(!m.is_http());
}

#[test]
fn from_tag_fast_agrees_with_the_full_parse() {
    let froms = [
        "<sip:a@b>;tag=abc",
        "sip:a@b;tag=abc",
        "sip:a@b",
        "<sip:a@b;tag=uri-param>",
        "<sip:a@b;tag=uri-param>;x=1;TAG = spaced ",
        "Alice <sip:a@b>;foo;tag=t1;bar=2",
        "\"Bob <x>\" <sip:a@b>;tag=q1",
        "\"Bob;tag=no\" <sip:a@b>",
        "<sip:a@b>;tag",
        "<sip:a@b>;tag=",
    ];
    for f in froms {
        let raw = format!(
            "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: {f}\r\nTo: <sip:x@y>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let fast = Message::parse(Bytes::from(raw.clone())).unwrap();
        let full = Message::parse(Bytes::from(raw)).unwrap();
        let expected = full.from().ok().and_then(|n| n.tag());
        assert_eq!(fast.from_tag_fast(), expected, "From: {f}");
        // Once parsed, the cached value is used.
        assert_eq!(full.from_tag_fast(), expected, "From: {f}");
        // The same scan serves To.
        let raw_to = format!(
            "OPTIONS sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: {f}\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        );
        let fast = Message::parse(Bytes::from(raw_to.clone())).unwrap();
        let full = Message::parse(Bytes::from(raw_to)).unwrap();
        assert_eq!(
            fast.to_tag_fast(),
            full.to().ok().and_then(|n| n.tag()),
            "To: {f}"
        );
    }
}
