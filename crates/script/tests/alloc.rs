//! The per-message path allocates only when a new string value is produced.
mod common;
use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts the calling thread's allocations only (the test harness's threads
/// allocate at any time).
struct Counting;
thread_local! {
    static N: Cell<usize> = const { Cell::new(0) };
}
fn bump() {
    let _ = N.try_with(|n| n.set(n.get() + 1));
}
fn allocs() -> usize {
    N.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static A: Counting = Counting;

const CFG: &str = r#"
route[CHECK] { if ($var(n) > 3) { return 1; } return -1; }
request_route {
    $var(n) = 0;
    $var(user) = "alice";
    $var(n) = $var(n) + 1 * 7 - 2;
    $var(f) = $var(n) & 0xff | 4 << 2;
    if ($var(user) == "alice" && $var(user) != "bob") { $var(n) = $var(n) + 1; }
    if ($var(user) eq "alice" || $var(n) == 12) { $var(n) = $var(n) + 1; }
    if ($var(user) =~ "^AL") { $var(n) = $var(n) + 1; }
    if ($var(n) == $var(f)) { $var(x) = 1; }
    switch ($var(user)) { case "bob": $var(n) = 1; break; case "alice": $var(n) = $var(n) + 10; break; default: $var(n) = 0; }
    switch ($var(n)) { case 18: $var(r) = "hit"; break; default: $var(r) = "miss"; }
    $var(i) = 0;
    while ($var(i) < 3) { $var(i) = $var(i) + 1; }
    if (route(CHECK) && !defined $avp(none) && strlen($var(user)) == 5 && !strempty($var(user))) { $var(ok) = 1; }
    $var(k) = (int)$var(n) mod 7;
    t_ret(1);
    return $var(n);
}
"#;

#[test]
fn no_allocation_without_new_strings() {
    let p = compile_str(CFG).unwrap();
    let id = p.request_route().unwrap();
    let mut t = T::default();
    t.log.reserve(64);
    // warm up (thread-local $var storage grows once)
    for _ in 0..3 {
        t.log.clear();
        p.run_route(&mut t, id, siprd_script::route_type::REQUEST);
    }
    t.log.clear();
    let before = allocs();
    let out = p.run_route(&mut t, id, siprd_script::route_type::REQUEST);
    let after = allocs();
    assert_eq!(out.retcode, 18, "{:?}", t.log);
    // the only allocation is the test host's own t_ret log line
    assert_eq!(after - before, 1, "allocations in one run");

    // a concatenation is a new string: it allocates once
    let p = compile_str("request_route { $var(u) = \"a\"; $var(v) = $var(u) + \"b\"; }").unwrap();
    let id = p.request_route().unwrap();
    p.run_route(&mut t, id, siprd_script::route_type::REQUEST);
    let before = allocs();
    p.run_route(&mut t, id, siprd_script::route_type::REQUEST);
    assert_eq!(allocs() - before, 1);
}
