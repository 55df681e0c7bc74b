//! `$sht` read/write cost: the table operations a `$sht(t=>k)` access performs
//! (static key: hash precomputed at load; dynamic key: hashed per access).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use siprd::modules::htable::table::{Table, TableSpec};
use siprd_script::Value;

fn table(initval: Option<i32>, autoexpire: u32) -> Table {
    let mut s = TableSpec::new("a");
    s.slots = 1 << 8;
    s.initval = initval;
    s.autoexpire = autoexpire;
    let t = Table::new(s);
    for i in 0..1000 {
        let k = format!("key-{i}");
        t.set(1, t.hash(k.as_bytes()), k.as_bytes(), Value::Int(i), 0);
    }
    t
}

fn bench(c: &mut Criterion) {
    let t = table(Some(0), 0);
    let key = b"10.10.10.10";
    let h = t.hash(key);
    t.set(1, h, key, Value::Int(5), 0);
    c.bench_function("sht_read_static_key", |b| {
        b.iter(|| black_box(t.get_or_init(1, h, black_box(key))))
    });
    let mut n = 0;
    c.bench_function("sht_write_static_key", |b| {
        b.iter(|| {
            n += 1;
            t.set(1, h, black_box(key), Value::Int(n), 0)
        })
    });
    c.bench_function("sht_read_dynamic_key", |b| {
        b.iter(|| {
            let k = black_box(&key[..]);
            black_box(t.get_or_init(1, t.hash(k), k))
        })
    });
    let s = Value::from_static("some-string-value");
    c.bench_function("sht_write_dynamic_key_str", |b| {
        b.iter(|| {
            let k = black_box(&key[..]);
            t.set(1, t.hash(k), k, s.clone(), 0)
        })
    });
    c.bench_function("sht_read_missing_initval", |b| {
        let k = b"missing";
        let hk = t.hash(k);
        b.iter(|| black_box(t.get_or_init(1, hk, black_box(k))))
    });
    let te = table(None, 3600);
    let he = te.hash(key);
    te.set(1, he, key, Value::Int(1), 0);
    c.bench_function("sht_read_autoexpire_table", |b| {
        b.iter(|| black_box(te.get_or_init(1, he, black_box(key))))
    });
    c.bench_function("sht_write_autoexpire_table", |b| {
        b.iter(|| te.set(1, he, black_box(key), Value::Int(2), 0))
    });
    c.bench_function("shtinc_static_key", |b| {
        b.iter(|| black_box(t.add(1, h, black_box(key), 1)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
