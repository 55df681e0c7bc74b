//! More language forms observed on Kamailio 5.6.3: keyword operators,
//! number forms, `exit`/`drop` with a value.
mod common;
use common::*;

fn one(expr: &str) -> String {
    let mut v = body(&format!("$var(r) = {expr};\n t_log(\"$var(r)\");"));
    v.pop();
    v.join("|")
}

#[test]
fn and_or_not_are_keyword_operators() {
    assert_eq!(one("1 and 0"), "0");
    assert_eq!(one("1 and 2"), "1");
    assert_eq!(one("0 or 3"), "1");
    assert_eq!(one("not 0"), "1");
    assert_eq!(one("not 5"), "0");
    // same precedence as || and &&: `and` binds tighter than `or`
    assert_eq!(one("1 or 0 and 0"), "1");
    assert_eq!(one("0 and 1 or 1"), "1");
    assert_eq!(one("1 or not 0"), "1");
    assert_eq!(one("not not 7"), "1");
    let v = body(
        r#"$var(a) = 1; $var(b) = 0;
        if ($var(a) == 1 and not $var(b)) { t_log("yes"); } else { t_log("no"); }"#,
    );
    assert_eq!(v[0], "yes");
}

#[test]
fn binary_numbers_and_hex_case() {
    assert_eq!(one("101b"), "5");
    assert_eq!(one("0101b + 1"), "6");
    assert_eq!(one("1b"), "1");
    assert_eq!(one("0x1F"), "31");
    // Kamailio refuses `0b101`, `2b` and an upper-case `0X`
    for bad in ["0b101", "2b", "0XFF"] {
        let d = check(&format!("request_route {{ $var(r) = {bad}; }}"));
        assert!(d.contains("error"), "{bad}: {d}");
        assert!(d.contains("test.cfg:1:"), "{bad}: {d}");
    }
}

#[test]
fn exit_and_drop_take_parentheses_or_a_value() {
    let v = body("exit(); t_log(\"after\");");
    assert_eq!(v, vec!["=> rc=0 exited=true dropped=false"]);
    let v = body("exit(1); t_log(\"after\");");
    assert_eq!(v, vec!["=> rc=0 exited=true dropped=false"]);
    let v = body("$var(x) = 2; exit $var(x); t_log(\"after\");");
    assert_eq!(v, vec!["=> rc=0 exited=true dropped=false"]);
    let v = body("drop(); t_log(\"after\");");
    assert!(v[0].contains("dropped=true"), "{v:?}");
    let v = body("drop 2; t_log(\"after\");");
    assert!(v[0].contains("dropped=true"), "{v:?}");
    // return(n) and return(): the route's code
    let v = run("route[R] { return(-3); }\nrequest_route { route(R); t_log(\"$rc\"); route(E); t_log(\"$rc\"); }\nroute[E] { return(); }\n");
    assert_eq!(&v[..2], ["-3", "1"]);
}

#[test]
fn vz_is_var_and_vn_keeps_null() {
    let v = body(
        r#"$var(q) = 3; $vz(r) = 7; $vz(w) = $null; $vn(e) = "s"; $vn(e) = $null; $vn(t) = 9;
        t_log("[$vz(q)] [$var(r)] [$vz(w)] [$vn(e)] [$vn(q)] [$var(t)] [$vn(none)]");
        if ($vn(none) == $null) { t_log("vn null"); }
        if ($vz(none) == $null) { t_log("vz null"); }"#,
    );
    assert_eq!(v[0], "[3] [7] [0] [<null>] [<null>] [0] [<null>]");
    assert_eq!(v[1], "vn null");
    assert!(!v[2].contains("vz null"), "{v:?}");
}

#[test]
fn listen_lists_split_and_bad_ones_end() {
    let cfg = siprd_script::parse_str(
        "test.cfg",
        "listen=udp:(127.0.0.1, 127.0.0.2):5060 tcp:127.0.0.3:5061 advertise 1.2.3.4:5080 name \"n\"\nrequest_route { drop; }\n",
        &siprd_script::Defines::new(),
    )
    .expect("parses");
    let l: Vec<String> = cfg
        .globals_named("listen")
        .map(|g| g.value.as_str().to_string())
        .collect();
    assert_eq!(
        l,
        [
            "udp:127.0.0.1:5060 advertise 1.2.3.4:5080 name \"n\"",
            "udp:127.0.0.2:5060 advertise 1.2.3.4:5080 name \"n\"",
            "tcp:127.0.0.3:5061 advertise 1.2.3.4:5080 name \"n\""
        ]
    );
    // an address list cut by a `{` ends (an error, no hang)
    let d = check("listen=udp:(127.0.0.1 {\nrequest_route { drop; }\n");
    assert!(d.contains("error"), "{d}");
}

#[test]
fn nonconstant_arguments_are_fixed_up_at_each_call() {
    let v = body(
        r#"$var(i) = 3;
        t_show("a", "n=" + ($var(i) + 1));
        t_int($var(i) * 2);
        t_custom("x" + $var(i));
        $avp(re) = "^b+$";
        if (t_match($avp(re), "bbb")) { t_log("a", "match"); }
        $avp(re) = "^c";
        if (!t_match($avp(re), "bbb")) { t_log("a", "no match"); }
        $avp(name) = "$avp(out)";
        t_set($avp(name), "written");
        t_log("a", "out=$avp(out)");"#,
    );
    assert_eq!(
        v,
        [
            "a:n=4",
            "int:6",
            "X3",
            "a:match",
            "a:no match",
            "a:out=written",
            "=> rc=1 exited=false dropped=false"
        ]
    );
}

#[test]
fn nonconstant_text_is_read_as_a_constant_would_be() {
    // as Kamailio: the value goes through the fix-up, so a PV in it is read
    let v = body(
        r#"$avp(x) = "inner";
        $avp(f) = "$avp(x)!";
        t_show("a", $avp(f));
        t_show("a", "" + $avp(nope) + "|");
        $avp(bad) = "12ab";
        $var(rc) = t_int("" + $avp(bad));
        t_log("a", "rc=$var(rc)");
        $avp(ad) = "ad";
        $var(rc) = t_custom("b" + $avp(ad));
        t_log("a", "custom rc=$var(rc)");"#,
    );
    assert_eq!(
        v,
        [
            "a:inner!",
            "a:|",
            "a:rc=-5",
            "a:custom rc=-5",
            "=> rc=1 exited=false dropped=false"
        ]
    );
}

#[test]
fn nonconstant_arguments_only_where_allowed() {
    let cfg = "request_route {\n  t_log(\"a\" + $avp(x));\n  t_log($avp(x), \"b\");\n  t_ret($avp(x) + 1);\n}\n";
    let d = check(cfg);
    assert!(
        d.contains("argument 1 of `t_log` must be a constant"),
        "{d}"
    );
    assert!(
        d.contains("argument 1 of `t_ret` must be a constant"),
        "{d}"
    );
    assert_eq!(d.matches("must be a constant").count(), 3, "{d}");
    // a constant expression is folded and fixed up once, at load
    assert!(check("request_route { t_log(\"a\" + \"b\"); t_ret(1 + 2); }\n").is_empty());
}
