//! Golden tests: the rendered diagnostics of broken configs, pinned.
//! Run with `UPDATE_GOLDEN=1` to rewrite the expected files after a deliberate change.
mod common;
use common::*;
use siprd_script::compile::CompileOptions;
use siprd_script::{parse_file, Defines};
use std::path::Path;

const CASES: &[(&str, &str)] = &[
    ("unknown_function", "request_route {\n    sl_send_replyy(\"404\", \"Not here\");\n}\n"),
    ("unloaded_module_function", "loadmodule \"tm.so\"\nrequest_route {\n    t_continue(\"1\", \"2\", \"RESUME\");\n}\n"),
    ("wrong_arity", "request_route {\n    t_relay(\"udp:1.2.3.4:5060\");\n}\n"),
    ("unknown_route", "route[AUTH] { return 1; }\nrequest_route {\n    route(AUHT);\n}\n"),
    ("bad_modparam", "loadmodule \"tm.so\"\nloadmodule \"htable.so\"\nmodparam(\"tm\", \"fr_timerr\", 30000)\nmodparam(\"htable\", \"enable_dmq\", \"yes\")\nmodparam(\"tmx\", \"x\", 1)\nrequest_route { exit; }\n"),
    ("unterminated_string", "request_route {\n    t_log(\"hello);\n}\n"),
    ("missing_brace", "request_route {\n    if ($var(x) == 1) {\n        t_log(\"one\");\n}\n\nroute[NEXT] {\n    exit;\n}\n"),
    ("type_error_int_plus_str", "request_route {\n    $var(x) = 2 + \"1\";\n    if ($var(x) < \"5\") { exit; }\n}\n"),
    ("not_match_operator", "request_route {\n    if ($var(x) !~ \"^sip:\") { exit; }\n}\n"),
    ("unknown_module", "loadmodule \"tmm.so\"\nloadmodule \"dialplan.so\"\nrequest_route { exit; }\n"),
    ("route_type_not_allowed", "onsend_route {\n    t_relay();\n    route(SEND);\n}\nroute[SEND] {\n    sl_send_reply(\"200\", \"OK\");\n}\nfailure_route[F] {\n    route(SEND);\n    sl_send_reply(\"500\", \"x\");\n}\nrequest_route { route(SEND); }\n"),
    ("bad_regex", "request_route {\n    if ($var(x) =~ \"^(abc\") { exit; }\n    t_match(\"[z-a]\", \"$var(x)\");\n}\n"),
    ("unknown_global", "debug=2\nchildern=4\nrequest_route { exit; }\n"),
    ("missing_semicolon", "request_route {\n    t_log(\"a\")\n    t_log(\"b\");\n}\n"),
    ("event_route_warning_and_lock_hint", "loadmodule \"cfgutils.so\"\nevent_route[htable:mod-initt] {\n    lock(\"x\");\n}\nrequest_route { exit; }\n"),
    ("assignment_syntax", "request_route {\n    $var(x) += 1;\n    $var(y) = 1 % 2;\n    $var(z) := 1;\n}\n"),
    ("assignment_targets", "request_route {\n    $rc = 1;\n    $nope(x) = 1;\n    $vra(x) = 1;\n}\n"),
    ("arg_not_constant", "request_route {\n    t_log($var(x));\n    t_ret(\"abc\");\n    t_custom(\"bad\");\n}\n"),
    ("switch_errors", "request_route {\n    switch ($var(x)) {\n        case 1: exit;\n        case \"a\": exit;\n        case $var(y): exit;\n    }\n}\n"),
];

fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_GOLDEN=1", path.display()));
    assert_eq!(actual, expected, "golden mismatch for {name}");
}

#[test]
fn golden_diagnostics() {
    for (name, cfg) in CASES {
        let full = render(cfg);
        let short = check(cfg);
        golden(name, &format!("{full}\n--- short ---\n{short}"));
    }
}

#[test]
fn golden_include_cycle() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::set_current_dir(dir).unwrap();
    let d = parse_file(Path::new("tests/golden/cycle/a.cfg"), &Defines::new())
        .expect_err("cycle refused");
    golden(
        "include_cycle",
        &format!("{}\n--- short ---\n{}", d.render(), d.render_short()),
    );
}

#[test]
fn valid_config_has_no_diagnostics() {
    let cfg = "loadmodule \"tm.so\"\nmodparam(\"tm\", \"fr_timer\", 5000)\nrequest_route { t_relay(); }\n";
    let parsed = siprd_script::parse_str("ok.cfg", cfg, &Defines::new()).unwrap();
    let reg = registry();
    let mods = modules();
    let opts = CompileOptions {
        modules: &mods,
        globals: GLOBALS,
        foreign_modules: &[],
        max_while_loops: None,
    };
    let (_, w) = siprd_script::compile(&parsed, &reg, &(), &opts).unwrap();
    assert!(w.is_empty(), "{}", w.render());
}

#[test]
fn check_config_reports_parse_and_compile_problems_together() {
    let cfg = "request_route {\n    t_log(\"a\")\n    t_lgo(\"b\");\n    $var(x) = 1 % 2;\n}\nroute[X] { sl_send_replyy(\"1\", \"x\"); }\n";
    let reg = registry();
    let mods = modules();
    let opts = CompileOptions {
        modules: &mods,
        globals: GLOBALS,
        foreign_modules: &[],
        max_while_loops: None,
    };
    let d = siprd_script::check_config(
        siprd_script::parse_str_lenient("test.cfg", cfg, &Defines::new()),
        &reg,
        &(),
        &opts,
    )
    .err()
    .unwrap();
    golden(
        "check_config_all_at_once",
        &format!("{}\n--- short ---\n{}", d.render(), d.render_short()),
    );
}
