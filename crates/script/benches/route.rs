//! Executes a compiled ~30-statement route: ints, strings, PV reads, a
//! transformation and a switch. `cargo bench -p siprd-script --bench route`.
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

#[path = "../tests/common.rs"]
mod common;
use common::*;

const CFG: &str = r#"
route[CHECK] {
    if ($var(n) > 3) { return 1; }
    return -1;
}
request_route {
    $var(n) = 0;
    $var(total) = 10;
    $var(user) = "alice";
    $avp(dom) = "example.com";
    $var(n) = $var(n) + 1;
    $var(total) = $var(total) * 3 - 7;
    $var(flags) = $var(total) & 0xff | 4;
    if ($var(user) == "alice") {
        $var(n) = $var(n) + 1;
    } else {
        $var(n) = $var(n) - 1;
    }
    $var(len) = $(var(user){s.len});
    $var(up) = $(var(user){s.toupper});
    if ($var(len) >= 5 && $avp(dom) =~ "example\.(com|net)$") {
        $var(n) = $var(n) + 1;
    }
    switch ($var(user)) {
        case "bob":
            $var(n) = 100;
            break;
        case "alice":
            $var(n) = $var(n) + 10;
            break;
        default:
            $var(n) = 0;
    }
    switch ($var(n)) {
        case 1: $var(r) = "one"; break;
        case 13: $var(r) = "thirteen"; break;
        default: $var(r) = "other";
    }
    if (route(CHECK)) {
        $var(ok) = 1;
    }
    $var(i) = 0;
    while ($var(i) < 3) {
        $var(i) = $var(i) + 1;
    }
    if (!defined $avp(missing) && strlen($var(user)) == 5) {
        $var(ok) = $var(ok) + 1;
    }
    $var(k) = $var(total) mod 7;
    if ($var(k) != 2) { $var(ok) = 0; }
    t_ret(1);
    return $var(n);
}
"#;

fn bench(c: &mut Criterion) {
    let p = compile_str(CFG).expect("bench config compiles");
    let id = p.request_route().unwrap();
    let mut t = T::default();
    let out = p.run_route(&mut t, id, siprd_script::route_type::REQUEST);
    assert_eq!(out.retcode, 13, "{:?}", t.log);
    // `ROUTE_ITERS=N` runs N executions and exits, for instruction counting
    // with `perf stat -e instructions:u` (wall clock is noisy on a shared machine).
    if let Some(n) = std::env::var("ROUTE_ITERS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        for _ in 0..n {
            black_box(p.run_route(black_box(&mut t), id, siprd_script::route_type::REQUEST));
            t.log.clear();
        }
        std::process::exit(0);
    }
    c.bench_function("route_30_statements", |b| {
        b.iter(|| {
            let out = p.run_route(black_box(&mut t), id, siprd_script::route_type::REQUEST);
            t.log.clear();
            black_box(out)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
