//! Language semantics, checked against values observed on Kamailio 5.6.
mod common;
use common::*;
use siprd_script::ast::GlobalValue;
use siprd_script::{route_type, Defines};

fn logs(stmts: &str) -> Vec<String> {
    let mut v = body(stmts);
    v.pop();
    v
}

fn one(expr: &str) -> String {
    let v = logs(&format!("$var(r) = {expr};\n t_log(\"$var(r)\");"));
    v.join("|")
}

#[test]
fn arithmetic_wraps_at_32_bits() {
    assert_eq!(one("2147483647 + 1"), "-2147483648");
    assert_eq!(one("2147483647 * 2"), "-2");
    assert_eq!(one("-2147483647 - 2"), "2147483647");
    assert_eq!(one("3000000000"), "-1294967296");
    assert_eq!(one("1 + 2 * 3 - 4 / 2"), "5");
    assert_eq!(one("5 - 3 - 1"), "1");
    assert_eq!(one("-7 / 2"), "-3");
    assert_eq!(one("-7 mod 3"), "-1");
    assert_eq!(one("0x10 + 1"), "17");
    // a leading 0 is octal, as Kamailio reads `010` (8) and `0600`
    assert_eq!(one("010 + 0"), "8");
    assert_eq!(one("0"), "0");
    assert_eq!(one("~0"), "-1");
    assert_eq!(one("-5 >> 1"), "-3");
    assert_eq!(one("1 << 33"), "2");
}

#[test]
fn bit_operator_precedence_is_kamailios() {
    assert_eq!(one("7 & 3 | 8 ^ 1"), "11");
    assert_eq!(one("6 & 3 ^ 1"), "2"); // ^ binds tighter than &
    assert_eq!(one("1 << 3 == 3"), "2"); // == binds tighter than <<
    assert_eq!(one("16 >> 1 << 2"), "32");
    assert_eq!(one("1 << 2 + 1"), "8");
    assert_eq!(one("1 | 2 == 2"), "1");
    assert_eq!(one("1 || 0 && 0"), "1");
}

#[test]
fn plus_follows_the_left_operand() {
    assert_eq!(one("\"x\" + 5 * 2"), "x10");
    assert_eq!(one("\"a\" + 1 + 2"), "a12");
    assert_eq!(one("(str)12 + 1"), "121");
    assert_eq!(one("(int)\"12\" + 1"), "13");
    let v = logs(
        r#"$var(o) = "12"; $var(s) = "abc";
        $var(p) = $var(o) + 1; t_log("$var(p)");
        $var(p) = $var(o) - 1; t_log("$var(p)");
        $var(p) = 2 + $var(o); t_log("$var(p)");
        $var(p) = 1 + $var(s); t_log("$var(p)");
        $var(p) = $var(s) + 1; t_log("$var(p)");
        $var(p) = $var(s) * 2; t_log("$var(p)");
        $var(p) = 1 + $null; t_log("$var(p)");
        $var(p) = $null + 1; t_log("$var(p)");
        $var(p) = $null + "a"; t_log("$var(p)");
        $var(p) = "x" + $null; t_log("$var(p)");
        $var(p) = $avp(nope) + "x"; t_log("$var(p)");
        $avp(q) = 5; $var(p) = $avp(q) + "x"; t_log("$var(p)");"#,
    );
    assert_eq!(
        v,
        ["121", "11", "14", "1", "abc1", "0", "1", "1", "a", "x", "x", "5"]
    );
}

#[test]
fn equality_follows_kamailio() {
    let v = logs(
        r#"$var(s) = "abc"; $var(e) = ""; $var(z) = 0; $var(t) = "5"; $var(u) = 5; $var(t5) = "05";
        if ($var(s) == 0) t_log("1t"); else t_log("1f");
        if (0 == $var(s)) t_log("2t"); else t_log("2f");
        if ($var(z) == "") t_log("3t"); else t_log("3f");
        if (0 == $var(e)) t_log("4t"); else t_log("4f");
        if ($var(e) == 0) t_log("5t"); else t_log("5f");
        if ($var(s) != 0) t_log("6t"); else t_log("6f");
        if ("0" == $var(z)) t_log("7t"); else t_log("7f");
        if ($var(t) == $var(u)) t_log("8t"); else t_log("8f");
        if ($var(t5) == $var(u)) t_log("9t"); else t_log("9f");
        if ($var(u) == $var(t5)) t_log("10t"); else t_log("10f");
        if ($avp(n) == $var(u)) t_log("11t"); else t_log("11f");
        if ($avp(n) == $var(z)) t_log("12t"); else t_log("12f");
        if ($avp(n) == "") t_log("13t"); else t_log("13f");
        if ($avp(n) == $null) t_log("14t"); else t_log("14f");
        if ($var(s) == $avp(n)) t_log("15t"); else t_log("15f");
        if ($var(e) == $avp(n)) t_log("16t"); else t_log("16f");
        if ($avp(n) == 0) t_log("17t"); else t_log("17f");
        if ("abc" == "ABC") t_log("18t"); else t_log("18f");
        $var(S) = "aBc";
        if ($var(S) ieq 0) t_log("19t"); else t_log("19f");
        if ($var(S) eq "aBc") t_log("20t"); else t_log("20f");
        if ($var(S) ne "abc") t_log("21t"); else t_log("21f");
        if ($var(t) ine 5) t_log("22t"); else t_log("22f");"#,
    );
    assert_eq!(
        v,
        [
            "1f", "2t", "3f", "4t", "5f", "6t", "7t", "8t", "9f", "10t", "11f", "12t", "13t",
            "14t", "15f", "16t", "17t", "18f", "19t", "20t", "21t", "22f"
        ]
    );
}

#[test]
fn relational_operators_are_integer_only() {
    let v = logs(
        r#"$var(o) = "12"; $var(s) = "abc";
        if ($var(o) > 5) t_log("a");
        if ($var(s) < 1) t_log("b");
        $var(r) = 1 < 2 == 1; t_log("$var(r)");"#,
    );
    assert_eq!(v, ["a", "b", "1"]);
}

#[test]
fn truthiness_not_and_or() {
    let v = logs(
        r#"$var(m) = 0 - 1; $var(s) = "abc"; $var(o) = "12";
        if ($var(m)) t_log("m true"); else t_log("m false");
        if ($var(s)) t_log("s true"); else t_log("s false");
        if ($var(o)) t_log("o true"); else t_log("o false");
        if (!$var(s)) t_log("!s true");
        $var(r) = !$var(m); t_log("!m=$var(r)");
        $var(r) = !5; t_log("!5=$var(r)");
        $var(r) = (0 - 1) && 1; t_log("and=$var(r)");
        $var(r) = 2 && 0; t_log("and2=$var(r)");
        $var(r) = 5 || 0; t_log("or=$var(r)");
        $var(r) = (1 == 1) + 5; t_log("cmp=$var(r)");
        if $var(o) == "12" t_log("no parens");"#,
    );
    assert_eq!(
        v,
        [
            "m false",
            "s false",
            "o true",
            "!s true",
            "!m=0",
            "!5=0",
            "and=1",
            "and2=0",
            "or=1",
            "cmp=6",
            "no parens"
        ]
    );
}

#[test]
fn defined_strlen_strempty_casts() {
    let v = logs(
        r#"$var(s) = "abc";
        if (defined $var(zz)) t_log("var defined");
        if (defined $avp(zz)) t_log("avp defined"); else t_log("avp undefined");
        if (defined($var(s))) t_log("parens ok");
        $var(r) = strlen("hello") + 1; t_log("$var(r)");
        $var(r) = strlen($avp(nope)); t_log("$var(r)");
        $var(r) = strlen($var(s)); t_log("$var(r)");
        if (strempty("")) t_log("empty");
        if (strempty($avp(nope))) t_log("null empty");
        $var(z) = 0; $var(r) = strempty($var(z)); t_log("$var(r)");
        $var(r) = (int)$var(s); t_log("$var(r)");
        $var(r) = (int)$avp(n); t_log("$var(r)");
        $var(r) = (str)$avp(n); t_log("[$var(r)]");
        $var(u) = 5; $var(r) = (str)$var(u) + 1; t_log("$var(r)");"#,
    );
    assert_eq!(
        v,
        [
            "var defined",
            "avp undefined",
            "parens ok",
            "6",
            "0",
            "3",
            "empty",
            "null empty",
            "0",
            "0",
            "0",
            "[]",
            "51"
        ]
    );
}

#[test]
fn regex_match_is_case_insensitive_posix() {
    let v = logs(
        r#"$var(d) = "call 123";
        if ("abc" =~ "B") t_log("ci");
        if ($null =~ ".*") t_log("null");
        if ($var(d) =~ "[[:digit:]]+$") t_log("posix class");
        if ($var(d) =~ "^CALL [0-9]{3}$") t_log("bound");
        if (!($var(d) =~ "x")) t_log("negated");
        $var(re) = "^c.*3$";
        if ($var(d) =~ $var(re)) t_log("dynamic");
        $var(r) = "ab" =~ "^A"; t_log("$var(r)");"#,
    );
    assert_eq!(
        v,
        [
            "ci",
            "null",
            "posix class",
            "bound",
            "negated",
            "dynamic",
            "1"
        ]
    );
}

#[test]
fn division_by_zero_keeps_the_old_value() {
    let v = logs(
        r#"$var(a) = 5; $var(z) = 0;
        $var(a) = $var(a) / $var(z); t_log("$var(a)");
        $var(a) = 7 mod $var(z); t_log("$var(a)");
        if ($var(a) / $var(z)) t_log("true"); else t_log("false");
        t_log("continues");"#,
    );
    assert_eq!(v, ["5", "5", "false", "continues"]);
}

#[test]
fn while_guard_and_break() {
    let v = logs(
        r#"$var(i) = 0;
        while ($var(i) < 1000) { $var(i) = $var(i) + 1; }
        t_log("i=$var(i)");
        $var(i) = 0;
        while (1) { $var(i) = $var(i) + 1; if ($var(i) > 5) break; }
        t_log("i=$var(i)");"#,
    );
    assert_eq!(v, ["i=100", "i=6"]);
    let v = run("max_while_loops = 7\nrequest_route { $var(i) = 0; while ($var(i) < 1000) { $var(i) = $var(i) + 1; } t_log(\"i=$var(i)\"); }");
    assert_eq!(v[0], "i=7");
    // 0 disables the guard; `while` tests for non-zero, so a negative value loops
    let v = run("max_while_loops = 0\nrequest_route { $var(i) = 0; while ($var(i) < 500) { $var(i) = $var(i) + 1; } t_log(\"i=$var(i)\"); $var(i) = 0 - 3; while ($var(i)) { $var(i) = $var(i) + 1; } t_log(\"neg=$var(i)\"); }");
    assert_eq!(v[..2], ["i=500", "neg=0"]);
    let v = run("route[NEG] { return -1; }\nrequest_route { $var(n) = 0; while (route(NEG)) { $var(n) = $var(n) + 1; if ($var(n) > 3) break; } t_log(\"$var(n)\"); while (!route(NEG)) { $var(n) = $var(n) + 1; if ($var(n) > 3) break; } t_log(\"$var(n)\"); }");
    assert_eq!(v[..2], ["0", "4"]);
}

#[test]
fn switch_falls_through_and_matches_across_types() {
    let v = logs(
        r#"$var(x) = "b";
        switch ($var(x)) {
            case "a": t_log("a");
            case "b": t_log("b");
            case "c": t_log("c"); break;
            case "d": t_log("d");
            default: t_log("default");
        }
        $var(x) = "z";
        switch ($var(x)) { case "c": t_log("z c"); break; default: t_log("z default"); case "a": t_log("z a"); break; }
        $var(x) = "B";
        switch ($var(x)) { case "b": t_log("case insensitive?"); break; }
        $var(x) = 3;
        switch ($var(x)) { case 3: t_log("3"); while (1) { break; } t_log("after while"); break; case 4: t_log("4"); }
        $var(x) = "3";
        switch ($var(x)) { case 3: t_log("str 3 matches int case"); break; }
        $var(x) = 3;
        switch ($var(x)) { case "3": t_log("int 3 matches str case"); break; }
        switch ($var(x)) { case -1: t_log("neg"); break; case 1: t_log("one"); }
        t_log("end");"#,
    );
    assert_eq!(
        v,
        [
            "b",
            "c",
            "z default",
            "z a",
            "3",
            "after while",
            "str 3 matches int case",
            "int 3 matches str case",
            "end"
        ]
    );
}

#[test]
fn return_codes_and_rc() {
    let v = run(r#"
route[NEG] { return -1; }
route[POS] { return 2; }
route[NONE] { t_log("in none"); }
route[BRK] { t_log("brk1"); break; t_log("brk2"); }
request_route {
    $var(c) = route(NEG); t_log("neg $var(c) rc=$rc");
    $var(c) = route(POS); t_log("pos $var(c) rc=$retcode");
    $var(c) = route(NONE); t_log("none $var(c)");
    if (!route(NEG)) t_log("!neg");
    $var(c) = !route(NEG); t_log("!neg=$var(c)");
    if (route(POS) && route(NEG)) t_log("x"); else t_log("pos&&neg false");
    $var(c) = route(POS) + 1; t_log("pos+1=$var(c)");
    route(BRK); t_log("after brk rc=$rc");
    if (route(NEG)) t_log("x"); t_log("rc after if: $rc");
    $var(c) = 2; t_log("rc after assign: $rc");
    t_ret(-5); t_log("rc=$rc");
    if (t_ret(3)) t_log("t_ret(3) true");
    if (t_ret(-3)) t_log("x"); else t_log("t_ret(-3) false");
    return 7;
}"#);
    assert_eq!(
        v,
        [
            "neg -1 rc=-1",
            "pos 2 rc=2",
            "in none",
            "none 1",
            "!neg",
            "!neg=1",
            "pos&&neg false",
            "pos+1=2",
            "brk1",
            "after brk rc=0",
            "rc after if: -1",
            "rc after assign: 1",
            "ret-5",
            "rc=-5",
            "ret3",
            "t_ret(3) true",
            "ret-3",
            "t_ret(-3) false",
            "=> rc=7 exited=false dropped=false"
        ]
    );
}

#[test]
fn zero_ends_the_whole_script() {
    let v = run("route[Z] { return 0; }\nrequest_route { t_log(\"a\"); if (route(Z)) { t_log(\"x\"); } t_log(\"never\"); }");
    assert_eq!(v, ["a", "=> rc=0 exited=true dropped=false"]);
    let v = run("request_route { t_log(\"a\"); t_ret(0); t_log(\"never\"); }");
    assert_eq!(v, ["a", "ret0", "=> rc=0 exited=true dropped=false"]);
    let v = run("request_route { if (t_ret(0)) { t_log(\"x\"); } t_log(\"never\"); }");
    assert_eq!(v, ["ret0", "=> rc=0 exited=true dropped=false"]);
    let v = run("route[E] { exit; }\nrequest_route { route(E); t_log(\"never\"); }");
    assert_eq!(v, ["=> rc=0 exited=true dropped=false"]);
    let v = run("route[D] { drop; }\nrequest_route { route(D); t_log(\"never\"); }");
    assert_eq!(v, ["=> rc=0 exited=true dropped=true"]);
    let v = run("request_route { t_drop(); t_log(\"never\"); }");
    assert_eq!(v, ["=> rc=0 exited=true dropped=true"]);
    let v = run("request_route { t_log(\"a\"); }");
    assert_eq!(v, ["a", "=> rc=1 exited=false dropped=false"]);
    let v = run("request_route { return -2; }");
    assert_eq!(v, ["=> rc=-2 exited=false dropped=false"]);
}

#[test]
fn dynamic_and_quoted_route_names() {
    let v = run(r#"
route[A] { t_log("in A"); return 3; }
route["B-2"] { t_log("in B"); }
request_route {
    route("A");
    $var(r) = "A"; route($var(r)); t_log("rc=$rc");
    route("B-2");
    $var(r) = "NOPE"; route($var(r)); t_log("missing rc=$rc");
}"#);
    assert_eq!(
        v,
        [
            "in A",
            "in A",
            "rc=3",
            "in B",
            "missing rc=-1",
            "=> rc=1 exited=false dropped=false"
        ]
    );
}

#[test]
fn function_arguments_follow_their_kind() {
    let v = logs(
        r#"$var(u) = "alice"; $var(n) = 42;
        t_str("$var(u) is here");
        t_str("user $var(u)");
        t_log("fmt $var(u) $$ ok");
        t_log("L_INFO", "two args");
        t_int("$var(n)");
        t_int("17");
        t_int(18);
        t_set("$var(out)", "x-$var(u)"); t_log("$var(out)");
        if (t_match("^a.*e$", "$var(u)")) t_log("re ok");
        if (!t_match("^A", "$var(u)")) t_log("re case-sensitive");
        t_custom("abc");
        t_log("con" + "cat");
        t_log("multi" "part");"#,
    );
    assert_eq!(
        v,
        [
            "pv:alice",
            "str:user alice",
            "fmt alice $ ok",
            "L_INFO:two args",
            "pv:42",
            "int:17",
            "int:18",
            "x-alice",
            "re ok",
            "re case-sensitive",
            "ABC",
            "concat",
            "multipart"
        ]
    );
}

#[test]
fn assignments_and_null() {
    let v = logs(
        r#"$avp(a) = "v"; t_log("$avp(a)");
        $avp(a) = $null; t_log("$avp(a)");
        $var(x) = 5; $var(x) = $null; t_log("$var(x)");
        $var(s) = "lit $var(x)"; t_log("$var(s)");"#,
    );
    assert_eq!(v, ["v", "<null>", "0", "lit $var(x)"]);
}

#[test]
fn var_persists_between_runs_on_a_thread() {
    siprd_script::builtin::var_reset_thread();
    let p = compile_str("request_route { $var(n) = $var(n) + 1; t_log(\"$var(n)\"); }").unwrap();
    let mut out = Vec::new();
    for _ in 0..3 {
        let mut t = T::default();
        p.run_route(&mut t, p.request_route().unwrap(), route_type::REQUEST);
        out.extend(t.log);
    }
    assert_eq!(out, ["1", "2", "3"]);
}

#[test]
fn resume_runs_the_rest_of_the_block() {
    let p = compile_str(
        r#"request_route {
    t_log("before");
    if (1 == 1) {
        t_log("in block");
        t_suspend();
        t_log("resumed 1");
        t_log("resumed 2");
    }
    t_log("not after resume");
}"#,
    )
    .unwrap();
    let mut t = T::default();
    let out = p.run_route(&mut t, p.request_route().unwrap(), route_type::REQUEST);
    assert!(out.exited);
    assert_eq!(t.log, ["before", "in block", "suspend"]);
    let cur = t.suspended.unwrap();
    let mut t2 = T::default();
    let out = p.resume(&mut t2, cur);
    assert!(out.exited);
    assert_eq!(t2.log, ["resumed 1", "resumed 2"]);
}

#[test]
fn lookups_and_event_routes() {
    let p = compile_str(
        r#"
request_route { t_log("req"); }
reply_route { t_log("reply"); }
onsend_route { t_log("send"); }
failure_route[FAIL] { t_relay(); }
onreply_route[R1] { t_log("r1"); }
branch_route[B1] { t_log("b1"); }
event_route[htable:mod-init] { t_log("init"); }
event_route[evapi:message-received] { t_log("evapi"); }
route[SUB] { t_log("sub"); return 4; }
"#,
    )
    .unwrap();
    assert!(p.request_route().is_some() && p.reply_route().is_some() && p.onsend_route().is_some());
    assert!(p.event_route("htable:mod-init").is_some());
    assert!(p.event_route("evapi:message-received").is_some());
    assert!(p.event_route("nope").is_none());
    use siprd_script::ast::RouteKind;
    assert!(p.route(RouteKind::Failure, "FAIL").is_some());
    assert!(p.route(RouteKind::OnReply, "R1").is_some());
    assert!(p.route(RouteKind::Branch, "B1").is_some());
    let mut t = T::default();
    let o = p
        .run_route_by_name(&mut t, "SUB", route_type::REQUEST)
        .unwrap();
    assert_eq!(
        (o.retcode, t.log.as_slice()),
        (4, ["sub".to_string()].as_slice())
    );
    assert!(p
        .run_route_by_name(&mut t, "NOPE", route_type::REQUEST)
        .is_none());
}

#[test]
fn top_level_items() {
    let cfg = r#"#!KAMAILIO
debug=-1
children = 4
fork=yes
log_stderror=no
listen=udp:127.0.0.1:5060
listen=tcp:[::1]:5060
listen=127.0.0.1
listen = udp:10.0.0.1:5060 advertise 1.2.3.4:5080
port=5060
alias="example.com"
tcp_connection_lifetime=3605
kemi.request_route_callback = "ksr_route"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "/usr/lib/kamailio/modules/htable.so"
loadmodule "sl"
modparam("tm", "fr_timer", 30000)
modparam("htable", "htable", "a=>size=4;autoexpire=7200")
modparam("tm", "fr_inv_timer", -1);
cfgengine "native"
request_route { exit; }
"#;
    let p = siprd_script::parse_str("t.cfg", cfg, &Defines::new())
        .unwrap_or_else(|d| panic!("{}", d.render()));
    let g = |n: &str| p.global(n).unwrap().value.clone();
    assert_eq!(g("debug"), GlobalValue::Int(-1));
    assert_eq!(g("children"), GlobalValue::Int(4));
    assert_eq!(g("fork"), GlobalValue::Bool(true));
    assert_eq!(g("log_stderror"), GlobalValue::Bool(false));
    let listens: Vec<String> = p
        .globals_named("listen")
        .map(|g| g.value.as_str())
        .collect();
    assert_eq!(
        listens,
        [
            "udp:127.0.0.1:5060",
            "tcp:[::1]:5060",
            "127.0.0.1",
            "udp:10.0.0.1:5060 advertise 1.2.3.4:5080"
        ]
    );
    assert_eq!(g("alias"), GlobalValue::Str("example.com".into()));
    assert_eq!(
        g("kemi.request_route_callback"),
        GlobalValue::Str("ksr_route".into())
    );
    assert_eq!(g("tcp_connection_lifetime"), GlobalValue::Int(3605));
    let mods: Vec<&str> = p.loadmodules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(mods, ["tm", "htable", "sl"]);
    assert_eq!(p.modparams.len(), 3);
    assert_eq!(
        p.modparams[2].value,
        siprd_script::ast::ModParamValue::Int(-1)
    );
    assert_eq!(p.cfgengine.as_ref().unwrap().0, "native");
    assert_eq!(p.loadpaths.len(), 1);
    // and it compiles against the test registry (module and global checks pass)
    compile_str(cfg).unwrap();
}

#[test]
fn comments_everywhere() {
    let v = run("# hash comment\n// line comment\n/* block\n /* nested */ comment */\nrequest_route { t_log(\"a\"); # trailing\n t_log(\"b\"); // trailing\n /* mid */ t_log(\"c\"); ;; }");
    assert_eq!(v[..3], ["a", "b", "c"]);
}

/// Each expression as Kamailio 5.6 `-c` judged it (true = accepted).
#[test]
fn load_time_type_errors_match_kamailio() {
    let table: &[(&str, bool)] = &[
        ("\"a\" + 1", true),
        ("\"a\" + 1 + 2", true),
        ("$var(s) + 1 + 2", true),
        ("\"a\" + (1 + 2)", true),
        ("\"a\" + \"b\" + 1", true),
        ("1 + 2 + \"a\"", false),
        ("\"a\" + 1 + \"b\"", true),
        ("\"a\" + $var(x) + 1", true),
        ("1 + \"a\"", false),
        ("$var(x) + \"a\" + 1", true),
        ("\"a\" - 1", false),
        ("1 - \"a\"", false),
        ("\"a\" < $var(x)", false),
        ("$var(x) < \"a\"", false),
        ("\"a\" == 1", true),
        ("1 == \"a\"", false),
        ("\"a\" * $var(x)", false),
        ("$var(x) * \"2\"", false),
        ("$var(x) + 1 + \"a\"", true),
        ("-\"a\"", false),
        ("!\"a\"", false),
        ("~\"a\"", false),
        ("(int)\"a\" + 1", true),
        ("strlen(1)", false),
        ("strlen(\"a\") + \"b\"", false),
        ("\"1\" mod 2", false),
        ("(str)1 - 1", false),
        ("(str)1 + 1", true),
        ("\"5\" * 2", false),
        ("3 - \"1\"", false),
        ("route(R) + 1", true),
        ("-5", true),
    ];
    let mut wrong = Vec::new();
    for (e, ok) in table {
        let cfg = format!("route[R] {{ return 1; }}\nrequest_route {{ $var(c) = {e}; }}\n");
        let accepted = compile_str(&cfg).is_ok();
        if accepted != *ok {
            wrong.push(format!("{e}: accepted={accepted}, Kamailio={ok}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn syntax_kamailio_refuses() {
    for bad in [
        "$var(c) := 1;",
        "$var(c) += 1;",
        "t_log(L_INFO, \"x\");",
        "t_log(\"L_INFO\", $var(c));",
        "t_log(\"a\")",
        "{ t_log(\"a\"); }",
        "if ($var(c) !~ \"a\") exit;",
        "$var(c) = 1 % 2;",
        "switch($var(c)) { case 1: break; case \"a\": break; }",
        "switch($var(c)) { case $var(x): break; }",
        "$rc = 1;",
        "t_log(\"1\", \"2\", \"3\");",
    ] {
        let cfg = format!("request_route {{ {bad} }}\n");
        assert!(compile_str(&cfg).is_err(), "accepted: {bad}");
    }
    for good in [
        "t_ret(5);",
        "$var(c) = -5;",
        "if (1) { ; } else ;",
        "return;",
        "return(1);",
        "return -1 + 2;",
        "if $var(c) == 1 t_log(\"a\");",
        "while(1) { break; }",
        "switch($var(c)) { case -1: break; }",
        "$var(c) = $null;",
        "if ($var(c) =~ \"[[:digit:]]+\") exit;",
        "if (t_log(\"a\")) exit;",
        "$var(c) = t_ret(3);",
        "t_log(\"L_INFO\", \"a\" + \"b\");",
        "break;",
        "if (1) t_log(\"a\"); else if (2) t_log(\"b\"); else t_log(\"c\");",
    ] {
        let cfg = format!("request_route {{ {good} }}\n");
        assert!(
            compile_str(&cfg).is_ok(),
            "refused: {good}: {}",
            compile_str(&cfg).err().unwrap_or_default()
        );
    }
}

#[test]
fn runaway_recursion_is_stopped() {
    let v = run("route[LOOP] { $var(d) = $var(d) + 1; route(LOOP); }\nrequest_route { $var(d) = 0; route(LOOP); t_log(\"depth=$var(d) rc=$rc\"); }");
    // the innermost call fails with -1, and each route returns the value of
    // its last statement (that call), as Kamailio 5.6
    assert_eq!(v[0], "depth=254 rc=-1");
}

#[test]
fn break_inside_if_leaves_the_switch() {
    let v = logs(
        r#"$var(x) = 1;
        switch ($var(x)) {
            case 1:
                if ($var(x) == 1) { t_log("in if"); break; }
                t_log("not here");
            case 2:
                t_log("nor here");
        }
        t_log("after");
        $var(i) = 0;
        while ($var(i) < 5) {
            $var(i) = $var(i) + 1;
            switch ($var(i)) { case 2: break; default: t_log("i=$var(i)"); }
            if ($var(i) == 3) { break; }
        }
        t_log("done $var(i)");"#,
    );
    assert_eq!(v, ["in if", "after", "i=1", "i=3", "done 3"]);
}

#[test]
fn neutral_operands_are_dropped_like_kamailios_optimizer() {
    let v = logs(
        r#"$var(m) = 0 - 1; $var(z) = 0; $var(o) = 1;
        if ($var(m) || 0) t_log("t1"); else t_log("f1");
        if (0 || $var(m)) t_log("t2"); else t_log("f2");
        if ($var(m) && 1) t_log("t3"); else t_log("f3");
        if (1 && $var(m)) t_log("t4"); else t_log("f4");
        if ($var(m) || $var(z)) t_log("t5"); else t_log("f5");
        if ($var(m) && $var(o)) t_log("t6"); else t_log("f6");
        $var(r) = $var(m) || $var(z); t_log("$var(r)");
        $var(r) = $var(m) || 0; t_log("$var(r)");
        $var(r) = $var(m) && 1; t_log("$var(r)");
        $var(s) = "abc";
        $var(r) = $var(s) + 0; t_log("$var(r)");
        $var(r) = $var(s) * 1; t_log("$var(r)");
        $var(r) = 0 + $var(s); t_log("$var(r)");
        if (!!$var(m)) t_log("t7");"#,
    );
    assert_eq!(
        v,
        ["f1", "f2", "f3", "f4", "t5", "t6", "1", "-1", "-1", "abc0", "0", "0", "t7"]
    );
}

#[test]
fn ieq_ine_are_integer_comparisons() {
    // Kamailio 5.6: strings convert to integers (a non-numeric string is 0)
    let v = logs(
        r#"$var(x) = "5"; $var(a) = "abc"; $var(b) = "xyz"; $var(c) = "5x";
        if ($var(x) ieq 5) t_log("a");
        if ($var(a) ieq $var(b)) t_log("b");
        if ($var(x) ine 6) t_log("c");
        if ($var(c) ieq 5) t_log("d");
        $var(t) = $var(x) ieq 5; t_log("t=$var(t)");"#,
    );
    assert_eq!(v, ["a", "b", "c", "t=1"]);
    let e = check(r#"request_route { if ($var(x) ieq "a") { exit; } }"#);
    assert!(e.contains("needs integers"), "{e}");
    let e = check(r#"request_route { if ("a" ine $var(x)) { exit; } }"#);
    assert!(e.contains("needs integers"), "{e}");
}

#[test]
fn switch_refusals_follow_kamailio() {
    let e = check(r#"request_route { switch($var(x)) { default: exit; case "A": exit; } }"#);
    assert!(e.contains("cannot follow `default:`"), "{e}");
    let e = check(r#"request_route { switch($var(x)) { default: exit; } }"#);
    assert!(e.contains("only a `default:`"), "{e}");
    // int cases after a leading default, string cases before default: fine
    assert_eq!(
        check(r#"request_route { switch($var(x)) { default: exit; case 1: exit; } }"#),
        ""
    );
    assert_eq!(
        check(
            r#"request_route { switch($var(x)) { case "A": exit; default: exit; case "B": exit; } }"#
        ),
        ""
    );
}

#[test]
fn empty_blocks_are_refused() {
    for cfg in [
        "request_route { if ($var(a) == 1) { } }",
        "request_route { if ($var(a) == 1) { exit; } else { } }",
        "request_route { while ($var(a) == 1) { } }",
        "route[X] { }\nrequest_route { exit; }",
    ] {
        let e = check(cfg);
        assert!(e.contains("empty block"), "{cfg}: {e}");
    }
    assert_eq!(check("request_route { if ($var(a) == 1) { ; } }"), "");
    assert_eq!(check("request_route { switch ($var(a)) { } }"), "");
}

#[test]
fn unknown_plain_pv_is_an_avp_in_expressions() {
    // Kamailio 5.6.3 logs "error searching pvar" and loads: a bare `$nope` on
    // either side of an assignment or in a condition is `$avp(nope)`...
    let v = run(r#"request_route {
        $nope = 5; $var(c) = $nope + 1;
        if ($nope == 5) { t_log("b=$avp(nope) c=$var(c)"); }
    }"#);
    assert_eq!(v[0], "b=5 c=6");
    let w = check("request_route { $var(a) = $nope; }");
    assert!(
        w.contains("warning") && w.contains("read as `$avp(nope)`"),
        "{w}"
    );
    // ...but `$nope(x)` is a parse error ("Can't get from cache: $nope(x)")
    let e = check("request_route { $var(a) = $nope(x); }");
    assert!(e.contains("unknown pseudo-variable class"), "{e}");
}

#[test]
fn repeated_main_routes_are_appended() {
    // Kamailio appends a second request_route (or `route`) to the first
    let v = run(r#"request_route { t_log("one"); }
        route[X] { t_log("x"); }
        route { t_log("two"); route(X); }
        request_route { t_log("three"); }"#);
    assert_eq!(
        v,
        [
            "one",
            "two",
            "x",
            "three",
            "=> rc=1 exited=false dropped=false"
        ]
    );
    let e = check("route[X] { exit; }\nroute[X] { drop; }\nrequest_route { route(X); }");
    assert!(e.contains("defined more than once"), "{e}");
}

#[test]
fn named_flags_and_cfg_vars() {
    let v = run(r#"flags FA: 3, FB, "FC": 7;
        avpflags af1, af2;
        grp.n = 0x10 desc "a number"
        grp.s = "text" DESC "a string"
        grp.neg = -2
        request_route {
            $var(a) = FA; $var(b) = FB; $var(c) = FC;
            t_log("$var(a) $var(b) $var(c)");
            t_log("$sel(cfg_get.grp.n) $sel(cfg_get.grp.s) $sel(cfg_get.grp.neg)");
            if ($sel(cfg_get.grp.n) == 16) { t_log("int"); }
        }"#);
    assert_eq!(v[..3], ["3 0 7", "16 text -2", "int"]);
    let e = check("grp.v = 1\ngrp.v = 2\nrequest_route { exit; }");
    assert!(e.contains("declared twice"), "{e}");
    let e = check("request_route { $var(a) = $sel(cfg_get.grp.nope); }");
    assert!(e.contains("unknown cfg variable"), "{e}");
    let e = check("flags FA: 40;\nrequest_route { exit; }");
    assert!(e.contains("0 to 31"), "{e}");
}

#[test]
fn core_keywords_and_myself() {
    let v = logs(
        r#"$avp(kw_uri) = "sip:bob@127.0.0.1:5060"; $avp(kw_fu) = "sip:alice@example.com";
        $avp(kw_si) = "10.1.2.3"; $avp(kw_di) = "::1"; $avp(kw_pr) = "udp"; $avp(kw_af) = "ipv4";
        $avp(kw_rm) = "INVITE"; $avp(kw_ml) = 300;
        if (uri==myself) t_log("a");
        if (from_uri!=myself && uri!=myself) t_log("no"); else t_log("b");
        if (myself == uri) t_log("c");
        if (myself != from_uri) t_log("d");
        if (src_ip == 10.1.2.3) t_log("e");
        if (src_ip != 10.1.2.4) t_log("f");
        if (src_ip == 10.0.0.0/8) t_log("g");
        if (src_ip == 192.168.0.0/16) t_log("no");
        if (src_ip == "10.1.2.3") t_log("h");
        if (dst_ip == ::1) t_log("i");
        if (dst_ip == [0:0::1]) t_log("j");
        if (proto == UDP) t_log("k");
        if (proto == udp) t_log("l");
        if (proto != TCP) t_log("m");
        if (proto == 1) t_log("n");
        if (af == INET) t_log("o");
        if (af == INET6) t_log("no");
        if (af == 2) t_log("p");
        if (method == INVITE) t_log("q");
        if (method == "invite") t_log("r");
        if (method != "ACK") t_log("s");
        if (msg:len > 100) t_log("t");
        if (uri =~ "^SIP:bob") t_log("u");
        if (!(uri == myself)) t_log("no"); else t_log("v");
        if (uri == myself) return;
        t_log("not reached");"#,
    );
    assert_eq!(
        v,
        [
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q",
            "r", "s", "t", "u", "v"
        ]
    );
}

#[test]
fn core_keyword_errors() {
    for (cfg, want) in [
        ("$var(x) = uri;", "must be compared"),
        ("if (uri) { exit; }", "must be compared"),
        ("if ($ru == myself) { exit; }", "core keyword"),
        ("if (uri =~ myself) { exit; }", "only `==` and `!=`"),
        (
            "if (to_uri == myself) { exit; }",
            "not supported by this server",
        ),
        ("if (proto == FOO) { exit; }", "unknown constant `FOO`"),
        ("if ($var(x) == UDP) { exit; }", "unexpected word `UDP`"),
        ("if ($var(x) == 127.0.0.1) { exit; }", "expected `)`"),
        ("if (myself) { exit; }", "core keyword"),
    ] {
        let e = check(&format!("request_route {{ {cfg} }}"));
        assert!(e.contains(want), "{cfg}: {e}");
    }
    let w = check(r#"request_route { if (proto == "udp") { exit; } }"#);
    assert!(w.contains("compared as a number"), "{w}");
    // a keyword name followed by `(` is still a function call
    let e = check("request_route { uri(); }");
    assert!(e.contains("uri"), "{e}");
}

#[test]
fn switch_regex_case_labels() {
    // checked on Kamailio 5.6: labels are tried in order, regexes are
    // case-sensitive, fall-through as usual
    let v = logs(
        r#"$var(x) = "abc";
        switch ($var(x)) { case "abc": t_log("s"); case /"^AB": t_log("R"); break; case /"^a": t_log("r"); }
        switch ($var(x)) { case /"b+c$": t_log("e"); break; case "abc": t_log("no"); }
        switch ($var(x)) { case /"^A.C$": t_log("no"); break; default: t_log("nd"); }"#,
    );
    assert_eq!(v, ["s", "R", "e", "nd"]);
    let e = check(r#"request_route { switch($var(x)) { case 1: exit; case /"a": exit; } }"#);
    assert!(e.contains("cannot mix"), "{e}");
    let e = check(r#"request_route { switch($var(x)) { default: exit; case /"a": exit; } }"#);
    assert!(e.contains("cannot follow `default:`"), "{e}");
    let e = check(r#"request_route { switch($var(x)) { case /"a(": exit; } }"#);
    assert!(e.contains("bad regular expression"), "{e}");
}

#[test]
fn string_escapes_follow_kamailio() {
    // double quotes: \n \r \t \a \\ \" \xH[H] \OO[O]; anything else stays as written
    assert_eq!(one(r#""a\x41\101\60|\q\'\1|\x""#), r"aAA0|\q\'\1|\x");
    assert_eq!(one(r#""t\tn""#), "t\tn");
    // single quotes are raw: JSON escapes reach the JSON parser untouched
    assert_eq!(one(r#"'{"a":"q\"\u00e9\n"}'"#), r#"{"a":"q\"\u00e9\n"}"#);
    assert_eq!(one(r"'x\'"), r"x\");
}

/// The execution's value as Kamailio's core reads it (its core reply_route
/// drops the reply when it is 0 or less; observed on 5.6.3).
#[test]
fn execution_value() {
    let value = |stmts: &str| {
        siprd_script::builtin::var_reset_thread();
        let cfg = format!(
            "route[Z] {{ return 0; }}\nroute[N] {{ return -4; }}\nroute[X] {{ t_ret(-1); exit; }}\nrequest_route {{ {stmts} }}"
        );
        let p = compile_str(&cfg).unwrap_or_else(|e| panic!("{e}"));
        let mut t = T::default();
        let id = p.request_route().expect("request_route");
        p.run_route(&mut t, id, route_type::REQUEST).value
    };
    assert_eq!(value("t_ret(-3);"), -3);
    assert_eq!(value("t_ret(-3); exit;"), 1);
    assert_eq!(value("route(X);"), 1);
    assert_eq!(value("t_ret(-3); return;"), 1);
    assert_eq!(value("$var(x) = -1;"), 1);
    assert_eq!(value("if (t_ret(-1)) { t_ret(5); }"), 1);
    assert_eq!(value("if (t_ret(1)) { t_ret(-5); }"), -5);
    assert_eq!(value("return -2;"), -2);
    assert_eq!(value("route(Z);"), 0);
    assert_eq!(value("route(N);"), -4);
    assert_eq!(value("route(N); $var(y) = 1;"), 1);
    assert_eq!(value("t_log(\"a\"); drop;"), 0);
}

#[test]
fn integer_context_adds() {
    // Kamailio evaluates conditions, `return` and the operands of integer
    // operators as integers: `+` adds there even when an operand holds text
    let v = logs(
        r#"$var(n) = "7"; $var(x) = "abc"; $var(h) = "0x10";
        $var(p) = ($var(n) + 1) * 2; t_log("$var(p)");
        $var(p) = 1 + ($var(x) + 1); t_log("$var(p)");
        $var(p) = ($var(x) + 1) + 1; t_log("$var(p)");
        $var(p) = -($var(x) + 1); t_log("$var(p)");
        $var(p) = ($var(n) + 1) && 1; t_log("$var(p)");
        $var(p) = $var(x) || 0; t_log("$var(p)");
        $var(p) = $var(h) - 0; t_log("$var(p)");
        if ($var(x) + 1) t_log("if-add"); else t_log("if-noadd");
        if ("1" + "0") t_log("concat-true"); else t_log("concat-false");
        if ($var(n) + 1 > 70) t_log("pv-concat"); else t_log("pv-add");
        route(R); t_log("$rc");
        }
        route[R] { $var(n) = "7"; return $var(n) + 1;"#,
    );
    let mut v = v;
    v.retain(|l| !l.starts_with("=>"));
    assert_eq!(
        v,
        [
            "16",
            "2",
            "abc11",
            "-1",
            "8",
            "0",
            "16",
            "if-add",
            "concat-true",
            "pv-add",
            "8"
        ]
    );
}

#[test]
fn left_operand_types_as_kamailio() {
    for (expr, ok) in [
        ("1 && \"a\"", false),
        ("\"a\" || 0", false),
        ("(str)$var(i) && 1", false),
        ("$var(s) && 1", true),
        ("10 =~ \"^1\"", false),
        ("strlen($var(s)) =~ \"x\"", false),
        ("$var(s) =~ \"a\"", true),
        ("\"a\" =~ $var(i)", true),
        ("1 eq \"a\"", false),
        ("(int)$var(i) ne \"a\"", false),
        ("$var(i) eq 1", true),
        ("1 == $null", false),
        ("(1 + 1) != $null", false),
        ("$var(i) == $null", true),
        ("\"a\" == $null", true),
        ("1 + $null", true),
    ] {
        let out = check(&format!("request_route {{ $var(r) = {expr}; }}\n"));
        assert_eq!(!out.contains("type mismatch"), ok, "{expr}: {out}");
    }
    // a number as the pattern is refused at start-up by Kamailio
    let out = check("request_route { $var(r) = \"a\" =~ 1; }\n");
    assert!(out.contains("must be a string"), "{out}");
}
