//! Parse a typical INVITE, read what a proxy reads, and build a 200 reply.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use siprd_sip::reply::{build_reply_into, to_tag, ReplyOpts};
use siprd_sip::{HeaderKind, Message};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP client.atlanta.example.com:5060;branch=z9hG4bK74bf9;rport\r\n\
Max-Forwards: 70\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@client.atlanta.example.com;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
Supported: replaces, timer\r\n\
User-Agent: SIPp/3.7\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 151\r\n\
\r\n\
v=0\r\no=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\ns=-\r\nc=IN IP4 192.0.2.101\r\nt=0 0\r\nm=audio 49172 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn bench(c: &mut Criterion) {
    let buf = Bytes::from_static(INVITE);
    c.bench_function("parse_invite_index", |b| {
        b.iter(|| Message::parse(black_box(buf.clone())).map(|m| m.header_lines()))
    });
    c.bench_function("parse_invite_typed", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(buf.clone())).ok()?;
            m.validate_required().ok()?;
            let v = m.via1().ok()?.branch().map(<[u8]>::len);
            let t = m.to().ok()?.tag().is_some();
            let f = m.from().ok()?.tag().map(<[u8]>::len);
            let c = m.cseq().ok()?.0;
            let u = m.ruri().ok()?.user().map(<[u8]>::len);
            Some((
                v,
                t,
                f,
                c,
                u,
                m.header(HeaderKind::MaxForwards).map(<[u8]>::len),
            ))
        })
    });
    let m = Message::parse(buf.clone()).expect("bench message parses");
    let tag = to_tag(&m);
    let opts = ReplyOpts {
        to_tag: Some(&tag),
        src_ip: Some(b"192.0.2.101"),
        src_port: Some(5060),
        extra_headers: b"Server: siprd\r\n",
        ..Default::default()
    };
    let mut out = Vec::with_capacity(1024);
    c.bench_function("build_200_reply", |b| {
        b.iter(|| {
            out.clear();
            build_reply_into(black_box(&m), 200, b"OK", &opts, &mut out);
            out.len()
        })
    });
    c.bench_function("parse_and_reply", |b| {
        b.iter(|| {
            let m = Message::parse(black_box(buf.clone())).ok()?;
            m.validate_required().ok()?;
            let tag = to_tag(&m);
            out.clear();
            let opts = ReplyOpts {
                to_tag: Some(&tag),
                src_ip: Some(b"192.0.2.101"),
                src_port: Some(5060),
                ..Default::default()
            };
            build_reply_into(&m, 200, b"OK", &opts, &mut out);
            Some(out.len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
