//! Arbitrary input never panics the preprocessor, lexer, parser or compiler.
mod common;
use common::*;
use proptest::prelude::*;
use siprd_script::compile::CompileOptions;
use siprd_script::{route_type, Defines};

const PIECES: &[&str] = &[
    "request_route",
    "route",
    "route[",
    "failure_route[F]",
    "event_route[htable:mod-init]",
    "onreply_route",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ";",
    ",",
    "=",
    "==",
    "!=",
    "=~",
    "!~",
    "+",
    "-",
    "*",
    "/",
    "%",
    "mod",
    "<<",
    ">>",
    "&&",
    "||",
    "!",
    "~",
    "&",
    "|",
    "^",
    "<",
    ">",
    "<=",
    ">=",
    "eq",
    "ieq",
    "if",
    "else",
    "while",
    "switch",
    "case",
    "default",
    ":",
    "break",
    "return",
    "exit",
    "drop",
    "t_log(\"x $var(a)\")",
    "t_ret(1)",
    "t_ret(0)",
    "route(R)",
    "route(NOPE)",
    "$var(a)",
    "$var(b)",
    "$avp(x)",
    "$null",
    "$(var(a){s.len})",
    "$rc",
    "$",
    "\"str\"",
    "\"unterminated",
    "'q'",
    "1",
    "0",
    "-1",
    "2147483647",
    "0x1f",
    "(int)",
    "(str)",
    "defined",
    "strlen(",
    "strempty(",
    "\n",
    " ",
    "#!define X 1\n",
    "#!ifdef X\n",
    "#!else\n",
    "#!endif\n",
    "#!subst \"/a/b/\"\n",
    "include_file \"nope.cfg\"\n",
    "import_file \"x\"\n",
    "/*",
    "*/",
    "//",
    "#",
    "loadmodule \"tm.so\"\n",
    "modparam(\"tm\",\"fr_timer\",1)\n",
    "listen=udp:1.2.3.4:5060\n",
    "debug=",
    "X",
    "route[R]{ return -1; }\n",
    "t_suspend()",
    "t_set(\"$var(o)\", \"v\")",
    "t_match(\"[\", \"x\")",
    "\\",
    "é",
];

fn exercise(text: &str) {
    let parsed = match siprd_script::parse_str("fuzz.cfg", text, &Defines::new()) {
        Ok(p) => p,
        Err(d) => {
            let _ = d.render();
            let _ = d.render_short();
            return;
        }
    };
    let reg = registry();
    let mods = modules();
    let opts = CompileOptions {
        modules: &mods,
        globals: GLOBALS,
        foreign_modules: &[],
        max_while_loops: Some(5),
    };
    match siprd_script::compile(&parsed, &reg, &(), &opts) {
        Ok((p, w)) => {
            let _ = w.render();
            // run what compiled: it must not panic either
            for id in 0..p.routes().len() {
                let mut t = T::default();
                let _ = p.run_route(
                    &mut t,
                    siprd_script::RouteId(id as u32),
                    route_type::REQUEST,
                );
            }
        }
        Err(d) => {
            let _ = d.render();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn token_soup_never_panics(idx in proptest::collection::vec(0..PIECES.len(), 0..60)) {
        let mut s = String::new();
        for i in idx {
            s.push_str(PIECES[i]);
            s.push(' ');
        }
        exercise(&s);
    }

    #[test]
    fn wrapped_soup_never_panics(idx in proptest::collection::vec(0..PIECES.len(), 0..30)) {
        let mut s = String::from("route[R] { return 1; }\nrequest_route {\n");
        for i in idx {
            s.push_str(PIECES[i]);
            s.push(' ');
        }
        s.push_str("\n}\n");
        exercise(&s);
    }

    #[test]
    fn random_text_never_panics(s in "\\PC{0,200}") {
        exercise(&s);
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep_if = format!(
        "request_route {{ {} exit; {} }}",
        "if (1) {".repeat(5000),
        "}".repeat(5000)
    );
    let deep_parens = format!(
        "request_route {{ $var(x) = {}1{}; }}",
        "(".repeat(5000),
        ")".repeat(5000)
    );
    let deep_not = format!("request_route {{ $var(x) = {}1; }}", "!".repeat(5000));
    let long_chain = format!("request_route {{ $var(x) = 1{}; }}", " + 1".repeat(5000));
    let deep_bare_if = format!("request_route {{ {} exit; }}", "if (1) ".repeat(5000));
    let deep_else_if = format!(
        "request_route {{ if (1) exit; {} }}",
        "else if (1) exit; ".repeat(5000)
    );
    let deep_define = "#!define A B\n#!define B A\nrequest_route { $var(x) = A; }\n".to_string();
    for cfg in [
        deep_if,
        deep_parens,
        deep_not,
        long_chain,
        deep_bare_if,
        deep_else_if,
        deep_define,
    ] {
        let d = siprd_script::parse_str("deep.cfg", &cfg, &Defines::new()).expect_err("refused");
        assert!(d.has_errors());
    }
    // 100 nested blocks are fine
    let ok = format!(
        "request_route {{ {} t_log(\"deep\"); {} }}",
        "if (1) {".repeat(100),
        "}".repeat(100)
    );
    assert_eq!(run(&ok)[0], "deep");
}

#[test]
fn exponential_define_expansion_is_refused_quickly() {
    // D30 would be 2^30 tokens: it used to expand until memory ran out
    let mut cfg = String::from("#!define D0 1\n");
    for i in 1..=30 {
        cfg.push_str(&format!("#!define D{i} D{} + D{}\n", i - 1, i - 1));
    }
    cfg.push_str("request_route { $var(x) = D30; }\n");
    let t = std::time::Instant::now();
    let d = siprd_script::parse_str("exp.cfg", &cfg, &Defines::new()).expect_err("refused");
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let out = d.render_short();
    assert!(
        out.starts_with("exp.cfg:32:27: error: `D30` expands to more than 100000 tokens -- a `#!define` that uses another define twice doubles the text at each level\n"),
        "{out}"
    );
    // a large but reasonable expansion is fine
    let ok = format!(
        "{}request_route {{ $var(x) = D8; }}\n",
        &cfg[..cfg.find("#!define D9").unwrap()]
    );
    assert!(siprd_script::parse_str("ok.cfg", &ok, &Defines::new()).is_ok());
}

#[test]
fn chained_substs_that_multiply_a_string_are_refused() {
    // 5 substs, each turning `a` into 100 of them: 4 * 100^5 bytes
    let mut cfg = String::new();
    for _ in 0..5 {
        cfg.push_str(&format!("#!subst \"/a/{}/g\"\n", "a".repeat(100)));
    }
    cfg.push_str("request_route { $var(x) = \"aaaa\"; }\n");
    let d = siprd_script::parse_str("sub.cfg", &cfg, &Defines::new()).expect_err("refused");
    let out = d.render_short();
    assert!(
        out.starts_with("sub.cfg:6:27: error: `#!subst` makes this string longer than 1024 KiB"),
        "{out}"
    );
    // two of them are fine (40 KB)
    let two: String = cfg.lines().skip(3).map(|l| format!("{l}\n")).collect();
    assert!(siprd_script::parse_str("ok.cfg", &two, &Defines::new()).is_ok());
}

#[test]
fn includes_that_double_at_each_level_are_refused() {
    // i0 includes i1 twice, i1 includes i2 twice ...: 2^26 reads
    let dir = std::env::temp_dir().join(format!("siprd-incl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..26 {
        let n = i + 1;
        std::fs::write(
            dir.join(format!("i{i}.cfg")),
            format!("include_file \"i{n}.cfg\"\ninclude_file \"i{n}.cfg\"\n"),
        )
        .unwrap();
    }
    std::fs::write(dir.join("i26.cfg"), "# leaf\n").unwrap();
    std::fs::write(
        dir.join("main.cfg"),
        "include_file \"i0.cfg\"\nrequest_route { exit; }\n",
    )
    .unwrap();
    let t = std::time::Instant::now();
    let d = siprd_script::parse_file(&dir.join("main.cfg"), &Defines::new()).expect_err("refused");
    assert!(t.elapsed() < std::time::Duration::from_secs(20));
    let out = d.render_short();
    assert_eq!(out.matches("error").count(), 1, "{out}");
    assert!(
        out.contains(": error: more than 10000 files included"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
