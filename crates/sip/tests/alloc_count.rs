//! Heap allocations of the per-message steps, counted with a wrapping allocator.

use bytes::Bytes;
use siprd_sip::reply::{build_reply_into, ReplyOpts};
use siprd_sip::Message;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the allocations of the calling thread only: the test harness's own
/// threads allocate at any time and must not be counted.
struct Counting;
thread_local! {
    static N: Cell<u64> = const { Cell::new(0) };
}
fn bump() {
    let _ = N.try_with(|n| n.set(n.get() + 1));
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, s: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(p, l, s) }
    }
}
#[global_allocator]
static A: Counting = Counting;

fn count<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = N.with(Cell::get);
    let r = f();
    (r, N.with(Cell::get) - before)
}

const OPTIONS: &[u8] = b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5150;branch=z9hG4bK-1;rport\r\n\
Max-Forwards: 70\r\n\
From: sipp <sip:sipp@127.0.0.1:5150>;tag=1\r\n\
To: <sip:x@127.0.0.1>\r\n\
Call-ID: 1-1@127.0.0.1\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn per_message_steps_do_not_allocate() {
    let buf = Bytes::from_static(OPTIONS);
    let (msg, parse) = count(|| Message::parse(buf.clone()).unwrap());
    let (_, gate) = count(|| msg.validate_required().unwrap());
    let (_, via) = count(|| msg.via1().map(|v| v.port()).ok());
    let (_, from) = count(|| msg.from().map(|f| f.tag().is_some()).ok());
    let (_, to) = count(|| msg.to().map(|f| f.tag().is_some()).ok());
    let (_, tag) = count(|| siprd_sip::reply::to_tag(&msg));
    let mut out = Vec::with_capacity(4096);
    let opts = ReplyOpts {
        to_tag: Some(b"0123456789abcdef0123456789abcdef.01234567"),
        src_ip: Some(b"127.0.0.1"),
        src_port: Some(5150),
        extra_headers: b"Server: siprd\r\n",
        ..Default::default()
    };
    let (_, reply) = count(|| build_reply_into(&msg, 200, b"OK", &opts, &mut out));
    let (_, drop) = count(|| drop(msg));
    eprintln!("parse {parse} gate {gate} via {via} from {from} to {to} tag {tag} reply {reply} drop {drop}");
    assert_eq!(parse + gate + via + from + to + tag + reply, 0);
}
