//! What a `KSR.*` call costs on top of the native function: a Lua loop of
//! 1000 `KSR.textops.is_present_hf("Via")` calls against the same loop calling
//! a Lua function, and the native function called directly. Per KSR call:
//! (ksr_loop - lua_loop) / 1000 - native.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use siprd::config::{self, Source};
use siprd::context::Ctx;
use siprd::runtime::KemiEngine;
use siprd_script::registry::Arg;
use std::sync::Arc;

const SCRIPT: &str = r#"
function ksr_loop()
    for i = 1, 1000 do KSR.textops.is_present_hf("Via") end
end
local function f(x) return 1 end
function lua_loop()
    for i = 1, 1000 do f("Via") end
end
"#;

fn bench(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("siprd-kemi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let script = dir.join("bench.lua");
    std::fs::write(&script, SCRIPT).expect("write script");
    let cfg = format!(
        "loadmodule \"textops.so\"\nloadmodule \"app_lua.so\"\n\
         modparam(\"app_lua\", \"load\", \"{}\")\ncfgengine \"lua\"\n",
        script.display()
    );
    let loaded = match config::load(
        Source::Text {
            name: "bench.cfg",
            text: &cfg,
        },
        &Default::default(),
    ) {
        Ok(l) => l,
        Err(d) => panic!("{}", d.render()),
    };
    let (rt, _modules) = loaded.into_runtime();
    let rt = Arc::new(rt);
    let engine: Arc<dyn KemiEngine> = rt.kemi.clone().expect("lua engine");
    let mut ctx = Ctx::new(rt.clone());
    let ksr_loop = engine.intern("ksr_loop").expect("intern");
    let lua_loop = engine.intern("lua_loop").expect("intern");
    c.bench_function("lua_loop_1000_lua_calls", |b| {
        b.iter(|| black_box(engine.call(&mut ctx, lua_loop, None)))
    });
    c.bench_function("lua_loop_1000_ksr_calls", |b| {
        b.iter(|| black_box(engine.call(&mut ctx, ksr_loop, None)))
    });
    let native = rt.registry.functions["is_present_hf"][0].call.clone();
    let args = [Arg::Str(bytes::Bytes::from_static(b"Via"))];
    c.bench_function("native_is_present_hf", |b| {
        b.iter(|| black_box(native(&mut ctx, black_box(&args))))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
