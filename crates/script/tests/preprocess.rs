//! The preprocessor: defines, conditionals, substitutions and includes.
mod common;
use common::*;
use siprd_script::{parse_file, parse_str, route_type, Defines};
use std::path::PathBuf;

fn run_with(cfg: &str, defs: &Defines) -> Vec<String> {
    let parsed = parse_str("pp.cfg", cfg, defs).unwrap_or_else(|d| panic!("{}", d.render()));
    let reg = registry();
    let (p, _) = siprd_script::compile(&parsed, &reg, &(), &Default::default())
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let mut t = T::default();
    p.run_route(&mut t, p.request_route().unwrap(), route_type::REQUEST);
    t.log
}

#[test]
fn defines_ifdef_else_nested() {
    let cfg = r#"#!KAMAILIO
#!define WITH_A
#!define GREETING "hello"
#!define NUM 40 + \
   2
#!trydef NUM 1
#!ifdef WITH_A
  #!ifndef WITH_B
#!define MODE "a-not-b"
  #!else
#!define MODE "a-and-b"
  #!endif
#!else
#!define MODE "not-a"
#!endif
request_route {
    t_log(GREETING);
    t_log("GREETING stays in strings");
    $var(n) = NUM; t_log("$var(n)");
    t_log(MODE);
#!ifdef WITH_C
    t_log("c");
#!endif
}
"#;
    assert_eq!(
        run_with(cfg, &Defines::new()),
        ["hello", "GREETING stays in strings", "42", "a-not-b"]
    );
    let mut d = Defines::new();
    d.add_arg("WITH_B").add_arg("WITH_C=1");
    assert_eq!(
        run_with(cfg, &d),
        ["hello", "GREETING stays in strings", "42", "a-and-b", "c"]
    );
}

#[test]
fn redefine_and_undef() {
    let cfg = "#!define X 1\n#!redefine X 2\n#!define Y 3\n#!undef Y\n#!ifdef Y\nbroken\n#!endif\nrequest_route { $var(x) = X; t_log(\"$var(x)\"); }\n";
    assert_eq!(run_with(cfg, &Defines::new()), ["2"]);
    // redefining with #!define is an error
    let e = check("#!define X 1\n#!define X 2\nrequest_route { exit; }\n");
    assert!(e.contains("`X` is already defined"), "{e}");
}

#[test]
fn command_line_define_with_value() {
    let mut d = Defines::new();
    d.add_arg("PORT=5070");
    assert_eq!(
        run_with(
            "request_route { $var(p) = PORT + 1; t_log(\"$var(p)\"); }",
            &d
        ),
        ["5071"]
    );
}

#[test]
fn subst_and_substdef() {
    let cfg = r#"#!subst "/MYHOST/example\.com/g"
#!substdef "/MYPORT/5080/"
#!substdefs "/MYNAME/alice/"
request_route {
    t_log("host MYHOST and MYHOST");
    $var(p) = MYPORT; t_log("$var(p)");
    t_log(MYNAME);
    t_log("port MYPORT");
}
"#;
    assert_eq!(
        run_with(cfg, &Defines::new()),
        [
            "host example.com and example.com",
            "5080",
            "alice",
            "port 5080"
        ]
    );
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("siprd-script-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(d.join("sub")).unwrap();
    d
}

#[test]
fn includes_are_relative_and_keep_spans() {
    let d = tmpdir("inc");
    std::fs::write(
        d.join("main.cfg"),
        "#!define FROM_MAIN \"m\"\ninclude_file \"sub/routes.cfg\"\nimport_file \"missing.cfg\"\n#!include_file \"sub/more.cfg\"\nrequest_route { route(INC); t_log(FROM_INC); }\n",
    )
    .unwrap();
    std::fs::write(
        d.join("sub/routes.cfg"),
        "#!define FROM_INC \"i\"\nroute[INC] { t_log(FROM_MAIN); }\ninclude_file \"leaf.cfg\"\n",
    )
    .unwrap();
    std::fs::write(d.join("sub/leaf.cfg"), "route[LEAF] { t_log(\"leaf\"); }\n").unwrap();
    std::fs::write(d.join("sub/more.cfg"), "route[MORE] { unknown_fn(); }\n").unwrap();
    let parsed = parse_file(&d.join("main.cfg"), &Defines::new()).unwrap();
    let reg = registry();
    let err = siprd_script::compile(&parsed, &reg, &(), &Default::default())
        .err()
        .unwrap();
    let short = err.render_short();
    assert!(
        short.contains("sub/more.cfg:1:15: error: unknown function `unknown_fn`"),
        "{short}"
    );
    std::fs::write(d.join("sub/more.cfg"), "route[MORE] { exit; }\n").unwrap();
    let parsed = parse_file(&d.join("main.cfg"), &Defines::new()).unwrap();
    let (p, _) = siprd_script::compile(&parsed, &reg, &(), &Default::default()).unwrap();
    let mut t = T::default();
    p.run_route(&mut t, p.request_route().unwrap(), route_type::REQUEST);
    assert_eq!(t.log, ["m", "i"]);
}

#[test]
fn include_cycles_and_missing_files_are_refused() {
    let d = tmpdir("cyc");
    std::fs::write(
        d.join("a.cfg"),
        "include_file \"b.cfg\"\nrequest_route { exit; }\n",
    )
    .unwrap();
    std::fs::write(d.join("b.cfg"), "include_file \"a.cfg\"\n").unwrap();
    let e = parse_file(&d.join("a.cfg"), &Defines::new())
        .err()
        .unwrap()
        .render_short();
    assert!(
        e.contains("b.cfg:1:1: error: include cycle: `a.cfg` is already being included"),
        "{e}"
    );
    std::fs::write(d.join("c.cfg"), "include_file \"nope.cfg\"\n").unwrap();
    let e = parse_file(&d.join("c.cfg"), &Defines::new())
        .err()
        .unwrap()
        .render_short();
    assert!(
        e.contains("cannot find the included file `nope.cfg`"),
        "{e}"
    );
}

#[test]
fn unbalanced_conditionals() {
    let e = check("#!ifdef X\nrequest_route { exit; }\n");
    assert!(e.contains("without a matching `#!endif`"), "{e}");
    let e = check("#!endif\nrequest_route { exit; }\n");
    assert!(e.contains("`#!endif` without `#!ifdef`"), "{e}");
}

#[test]
fn predefined_and_module_defines() {
    let cfg = "loadmodule \"xlog.so\"\n#!ifdef MOD_xlog\n#!define A \"xlog\"\n#!else\n#!define A \"none\"\n#!endif\n#!ifdef MOD_tm\n#!define B \"tm\"\n#!else\n#!define B \"no tm\"\n#!endif\nrequest_route {\n#!ifdef KAMAILIO_5_6\n t_log(\"5.6\");\n#!endif\n t_log(A); t_log(B);\n}\n";
    assert_eq!(run_with(cfg, &Defines::new()), ["5.6", "xlog", "no tm"]);
}
