//! jansson and json functions against the running binary: every expected
//! line below is what Kamailio 5.6 printed for the same statements.

mod common;

use common::*;

const CFG: &str = r##"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "jansson.so"
loadmodule "json.so"
request_route {
  $var(j) = "{\"a\":{\"b\":[1,2,{\"c\":\"x\"}]},\"i\":5,\"s\":\"str\",\"r\":1.5,\"t\":true,\"f\":false,\"n\":null,\"o\":{\"k\":1, \"z\":[1, 2]}}";
  if (jansson_get("i", "$var(j)", "$var(i)")) { xlog("L_ERR", "R1 i=[$var(i)] plus=[$var(i)+1]\n"); $var(p) = $var(i) + 1; xlog("L_ERR","R1b p=[$var(p)]\n"); }
  if (jansson_get("s", "$var(j)", "$var(s)")) { xlog("L_ERR", "R2 s=[$var(s)]\n"); }
  if (jansson_get("a.b[2].c", "$var(j)", "$var(c)")) { xlog("L_ERR", "R3 c=[$var(c)]\n"); }
  if (jansson_get("r", "$var(j)", "$var(r)")) { xlog("L_ERR", "R4 r=[$var(r)]\n"); }
  if (jansson_get("t", "$var(j)", "$var(t)")) { $var(tp) = $var(t) + 1; xlog("L_ERR", "R5 t=[$var(t)] tp=[$var(tp)]\n"); }
  if (jansson_get("f", "$var(j)", "$var(f)")) { xlog("L_ERR", "R6 f=[$var(f)]\n"); }
  $var(nn) = "before";
  $var(rc) = jansson_get("n", "$var(j)", "$var(nn)"); xlog("L_ERR", "R7 rc=$var(rc) n=[$var(nn)]\n");
  if (jansson_get("o", "$var(j)", "$var(o)")) { xlog("L_ERR", "R8 o=[$var(o)]\n"); }
  $var(m) = "keep";
  $var(rc) = jansson_get("missing", "$var(j)", "$var(m)"); xlog("L_ERR", "R9 rc=$var(rc) m=[$var(m)]\n");
  $var(rc) = jansson_get("i", "{bad json", "$var(m)"); xlog("L_ERR", "R10 rc=$var(rc) m=[$var(m)]\n");
  $var(rc) = jansson_get("a.b[7]", "$var(j)", "$var(m)"); xlog("L_ERR", "R11 rc=$var(rc) m=[$var(m)]\n");
  if (jansson_array_size("a.b", "$var(j)", "$var(sz)")) { $var(sp) = $var(sz) + 1; xlog("L_ERR", "R12 sz=[$var(sz)] sp=$var(sp)\n"); }
  $var(rc) = jansson_array_size("i", "$var(j)", "$var(sz2)"); xlog("L_ERR", "R13 rc=$var(rc) sz2=[$var(sz2)]\n");
  if (jansson_get_field("$var(j)", "s", "$var(gf)")) { xlog("L_ERR", "R14 gf=[$var(gf)]\n"); }
  if (jansson_get_field("$var(j)", "a.b[0]", "$var(gf2)")) { xlog("L_ERR", "R15 gf2=[$var(gf2)]\n"); }
  $var(out) = $null;
  jansson_set("string", "x", "hello", "$var(out)"); xlog("L_ERR", "R16 out=[$var(out)]\n");
  jansson_set("int", "y.z", "42", "$var(out)"); xlog("L_ERR", "R17 out=[$var(out)]\n");
  jansson_set("real", "r", "2.5", "$var(out)"); xlog("L_ERR", "R18 out=[$var(out)]\n");
  jansson_set("true", "t", "", "$var(out)"); jansson_set("false", "f", "", "$var(out)"); jansson_set("null", "n", "", "$var(out)"); xlog("L_ERR", "R19 out=[$var(out)]\n");
  jansson_set("obj", "o", "{\"q\":1}", "$var(out)"); jansson_set("array", "arr", "[1,2]", "$var(out)"); xlog("L_ERR", "R20 out=[$var(out)]\n");
  jansson_append("int", "arr", "3", "$var(out)"); jansson_append("string", "arr", "s", "$var(out)"); xlog("L_ERR", "R21 out=[$var(out)]\n");
  jansson_set("int", "arr[0]", "9", "$var(out)"); xlog("L_ERR", "R22 out=[$var(out)]\n");
  $var(rc) = jansson_set("int", "x", "abc", "$var(out)"); xlog("L_ERR", "R23 rc=$var(rc) out=[$var(out)]\n");
  $var(bad) = "[1,2";
  $var(rc) = jansson_set("int", "x", "1", "$var(bad)"); xlog("L_ERR", "R24 rc=$var(rc) bad=[$var(bad)]\n");
  $var(rc) = jansson_append("int", "newarr", "1", "$var(out)"); xlog("L_ERR", "R25 rc=$var(rc) out=[$var(out)]\n");
  $var(rc) = jansson_set("str", "s2", "v", "$var(out)"); xlog("L_ERR", "R26 rc=$var(rc) out=[$var(out)]\n");
  json_get_field("$var(j)", "s", "$var(jf)"); xlog("L_ERR", "R27 jf=[$var(jf)]\n");
  json_get_field("$var(j)", "i", "$var(jf)"); $var(jp) = $var(jf) + 1; xlog("L_ERR", "R28 jf=[$var(jf)] jp=[$var(jp)]\n");
  json_get_field("$var(j)", "o", "$var(jf)"); xlog("L_ERR", "R29 jf=[$var(jf)]\n");
  $var(jf) = "keep"; $var(rc) = json_get_field("$var(j)", "nope", "$var(jf)"); xlog("L_ERR", "R30 rc=$var(rc) jf=[$var(jf)]\n");
  $var(jf) = "keep"; $var(rc) = json_get_field("{bad", "nope", "$var(jf)"); xlog("L_ERR", "R31 rc=$var(rc) jf=[$var(jf)]\n");
  json_get_field("$var(j)", "t", "$var(jf)"); xlog("L_ERR", "R32 jf=[$var(jf)]\n");
  json_get_field("$var(j)", "n", "$var(jf)"); xlog("L_ERR", "R33 jf=[$var(jf)]\n");
  if (jansson_get("i", "{\"i\":-7, \"big\": 3000000000}", "$var(ni)")) { xlog("L_ERR", "R34 ni=[$var(ni)]\n"); }
  if (jansson_get("big", "{\"i\":-7, \"big\": 3000000000}", "$var(ni)")) { xlog("L_ERR", "R35 big=[$var(ni)]\n"); }
  if (jansson_get("", "$var(j)", "$var(all)")) { xlog("L_ERR", "R36 all=[$var(all)]\n"); }
  if (jansson_get("r2", "{\"r2\": 3.0, \"r3\": 0.1}", "$var(r2)")) { xlog("L_ERR", "R37 r2=[$var(r2)]\n"); }
  if (jansson_get("r3", "{\"r2\": 3.0, \"r3\": 0.1}", "$var(r2)")) { xlog("L_ERR", "R38 r3=[$var(r2)]\n"); }
  if (jansson_get("u", "{\"u\": \"caf\\u00e9 \\\"q\\\"\"}", "$var(u)")) { xlog("L_ERR", "R39 u=[$var(u)]\n"); }
  $var(j) = "{\"s\":\"a/b\",\"i\":5,\"o\":{\"k\":[1,\"x\"]},\"t\":false,\"r\":2.5,\"n\":null}";
  json_get_string("$var(j)", "s", "$var(a)"); xlog("L_ERR", "S1 [$var(a)]\n");
  json_get_string("$var(j)", "i", "$var(a)"); $var(b) = $var(a) + 1; xlog("L_ERR", "S2 [$var(a)] [$var(b)]\n");
  json_get_string("$var(j)", "o", "$var(a)"); xlog("L_ERR", "S3 [$var(a)]\n");
  json_get_string("$var(j)", "t", "$var(a)"); xlog("L_ERR", "S4 [$var(a)]\n");
  json_get_string("$var(j)", "r", "$var(a)"); xlog("L_ERR", "S5 [$var(a)]\n");
  $var(a) = "keep"; $var(rc) = json_get_string("$var(j)", "n", "$var(a)"); xlog("L_ERR", "S6 rc=$var(rc) [$var(a)]\n");
  $var(a) = "keep"; $var(rc) = json_get_string("$var(j)", "zz", "$var(a)"); xlog("L_ERR", "S7 rc=$var(rc) [$var(a)]\n");
  json_get_field("$var(j)", "r", "$var(a)"); xlog("L_ERR", "S8 [$var(a)]\n");
  json_get_field("$var(j)", "s", "$var(a)"); xlog("L_ERR", "S9 [$var(a)]\n");
  $var(a) = "keep"; $var(rc) = json_get_field("[1,2]", "s", "$var(a)"); xlog("L_ERR", "S10 rc=$var(rc) [$var(a)]\n");
  sl_send_reply("200", "ok");
}
"##;

const EXPECTED: &[&str] = &[
    r##"R1 i=[5] plus=[5+1]"##,
    r##"R1b p=[6]"##,
    r##"R2 s=[str]"##,
    r##"R3 c=[x]"##,
    r##"R4 r=[1.5]"##,
    r##"R5 t=[1] tp=[2]"##,
    r##"R6 f=[0]"##,
    r##"R7 rc=1 n=[0]"##,
    r##"R8 o=[{"k":1,"z":[1,2]}]"##,
    r##"R9 rc=-1 m=[keep]"##,
    r##"R10 rc=-1 m=[keep]"##,
    r##"R11 rc=-1 m=[keep]"##,
    r##"R12 sz=[3] sp=4"##,
    r##"R13 rc=-1 sz2=[0]"##,
    r##"R14 gf=[str]"##,
    r##"R15 gf2=[1]"##,
    r##"R16 out=[{"x":"hello"}]"##,
    r##"R17 out=[{"x":"hello","y":{"z":42}}]"##,
    r##"R18 out=[{"x":"hello","y":{"z":42},"r":2.5}]"##,
    r##"R19 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null}]"##,
    r##"R20 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null,"o":{"q":1},"arr":[1,2]}]"##,
    r##"R21 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null,"o":{"q":1},"arr":[1,2,3,"s"]}]"##,
    r##"R22 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null,"o":{"q":1},"arr":[9,2,3,"s"]}]"##,
    r##"R23 rc=-1 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null,"o":{"q":1},"arr":[9,2,3,"s"]}]"##,
    r##"R24 rc=-1 bad=[[1,2]"##,
    r##"R25 rc=-1 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null,"o":{"q":1},"arr":[9,2,3,"s"]}]"##,
    r##"R26 rc=1 out=[{"x":"hello","y":{"z":42},"r":2.5,"t":true,"f":false,"n":null,"o":{"q":1},"arr":[9,2,3,"s"],"s2":"v"}]"##,
    r##"R27 jf=["str"]"##,
    r##"R28 jf=[5] jp=[51]"##,
    r##"R29 jf=[{ "k": 1, "z": [ 1, 2 ] }]"##,
    r##"R30 rc=-1 jf=[keep]"##,
    r##"R31 rc=-1 jf=[keep]"##,
    r##"R32 jf=[true]"##,
    r##"R33 jf=[true]"##,
    r##"R34 ni=[-7]"##,
    r##"R35 big=[3000000000]"##,
    r##"R36 all=[{"a":{"b":[1,2,{"c":"x"}]},"i":5,"s":"str","r":1.5,"t":true,"f":false,"n":null,"o":{"k":1,"z":[1,2]}}]"##,
    r##"R37 r2=[3]"##,
    r##"R38 r3=[0.1]"##,
    r##"R39 u=[café "q"]"##,
    r##"S1 [a/b]"##,
    r##"S2 [5] [51]"##,
    r##"S3 [{ "k": [ 1, "x" ] }]"##,
    r##"S4 [false]"##,
    r##"S5 [2.5]"##,
    r##"S6 rc=-1 [keep]"##,
    r##"S7 rc=-1 [keep]"##,
    r##"S8 [2.5]"##,
    r##"S9 ["a\/b"]"##,
    r##"S10 rc=-1 [keep]"##,
];

#[test]
fn jansson_and_json_print_what_kamailio_prints() {
    let s = Siprd::start(CFG);
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "j1", ""),
    );
    assert!(first_line(&r).starts_with("SIP/2.0 200"));
    // The log is read asynchronously: wait for its last expected line.
    let last = EXPECTED.last().copied().unwrap_or_default();
    assert!(s.wait_log(last, WAIT), "{}", s.log());
    let log = s.log();
    let got: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("<script>: ").nth(1))
        .filter(|l| l.starts_with('R') || l.starts_with('S'))
        .collect();
    assert_eq!(got, EXPECTED);
}

/// Edges found by running the same statements on Kamailio 5.6.3: trailing
/// `.` in paths, documents whose top is not an object or array, numbers
/// jansson refuses, reals written with 17 digits, `strtoll`/`strtod` rules for
/// the `int` and `real` values, type names, appending at an index, what the
/// destination variable may hold. `CTL` stands for two control characters.
const EDGES: &str = r##"
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:0
loadmodule "pv.so"
loadmodule "sl.so"
loadmodule "xlog.so"
loadmodule "jansson.so"
request_route {
  $var(o) = "keep"; jansson_get("a.", "{\"a\":{\"b\":1}}", "$var(o)"); xlog("L_ERR", "K1 rc=$rc o=[$var(o)]\n");
  $var(o) = "keep"; jansson_get("", "5", "$var(o)"); xlog("L_ERR", "K2 rc=$rc o=[$var(o)]\n");
  $var(o) = "keep"; jansson_get("", "\"s\"", "$var(o)"); xlog("L_ERR", "K3 rc=$rc o=[$var(o)]\n");
  $var(o) = "keep"; jansson_get("a", "{\"a\":12345678901234567890}", "$var(o)"); xlog("L_ERR", "K4 rc=$rc o=[$var(o)]\n");
  $var(o) = "keep"; jansson_get("", "{\"x\":0.1,\"y\":1e17,\"z\":2.0,\"w\":1e-5,\"v\":5e-324}", "$var(o)"); xlog("L_ERR", "K5 rc=$rc o=[$var(o)]\n");
  $var(o) = "keep"; jansson_array_size("", "5", "$var(o)"); xlog("L_ERR", "K6 rc=$rc o=[$var(o)]\n");
  $var(d) = "{}"; jansson_set("int", "a", "", "$var(d)"); xlog("L_ERR", "K7 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("int", "a", "99999999999999999999", "$var(d)"); xlog("L_ERR", "K8 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("int", "a", "-99999999999999999999", "$var(d)"); xlog("L_ERR", "K9 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("int", "a", "12 ", "$var(d)"); xlog("L_ERR", "K10 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("int", "a", " +12", "$var(d)"); xlog("L_ERR", "K11 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("real", "a", "", "$var(d)"); xlog("L_ERR", "K12 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("real", "a", "0.3", "$var(d)"); xlog("L_ERR", "K13 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("real", "a", "1e17", "$var(d)"); xlog("L_ERR", "K14 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("real", "a", "inf", "$var(d)"); xlog("L_ERR", "K15 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("real", "a", "1e400", "$var(d)"); xlog("L_ERR", "K16 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("float", "a", "1", "$var(d)"); xlog("L_ERR", "K17 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("arr", "a", "[1]", "$var(d)"); xlog("L_ERR", "K18 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("INT", "a", "1", "$var(d)"); xlog("L_ERR", "K19 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("int", "", "1", "$var(d)"); xlog("L_ERR", "K20 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("int", "a.", "1", "$var(d)"); xlog("L_ERR", "K21 rc=$rc d=[$var(d)]\n");
  $var(d) = "{\"a\":[1,2]}"; jansson_append("int", "a.", "7", "$var(d)"); xlog("L_ERR", "K22 rc=$rc d=[$var(d)]\n");
  $var(d) = "{\"a\":[1,2]}"; jansson_append("int", "a[0]", "7", "$var(d)"); xlog("L_ERR", "K23 rc=$rc d=[$var(d)]\n");
  $var(d) = "[1,2]"; jansson_append("int", "", "7", "$var(d)"); xlog("L_ERR", "K24 rc=$rc d=[$var(d)]\n");
  $var(d) = "{\"a\":[1,2]}"; jansson_append("int", "", "7", "$var(d)"); xlog("L_ERR", "K25 rc=$rc d=[$var(d)]\n");
  $var(d) = ""; jansson_set("int", "a", "1", "$var(d)"); xlog("L_ERR", "K26 rc=$rc d=[$var(d)]\n");
  $var(d) = 5; jansson_set("int", "a", "1", "$var(d)"); xlog("L_ERR", "K27 rc=$rc d=[$var(d)]\n");
  $var(d) = "5"; jansson_set("int", "a", "1", "$var(d)"); xlog("L_ERR", "K28 rc=$rc d=[$var(d)]\n");
  $var(d) = $null; jansson_set("int", "a", "1", "$var(d)"); xlog("L_ERR", "K29 rc=$rc d=[$var(d)]\n");
  $var(d) = "{}"; jansson_set("str", "a", "CTL", "$var(d)"); xlog("L_ERR", "K30 rc=$rc d=[$var(d)]\n");
  sl_send_reply("200", "ok");
}
"##;

const EDGES_EXPECTED: &[&str] = &[
    r##"K1 rc=1 o=[{"b":1}]"##,
    r##"K2 rc=-1 o=[keep]"##,
    r##"K3 rc=-1 o=[keep]"##,
    r##"K4 rc=-1 o=[keep]"##,
    r##"K5 rc=1 o=[{"x":0.10000000000000001,"y":1e17,"z":2.0,"w":1.0000000000000001e-5,"v":4.9406564584124654e-324}]"##,
    r##"K6 rc=-1 o=[keep]"##,
    r##"K7 rc=1 d=[{"a":0}]"##,
    r##"K8 rc=1 d=[{"a":9223372036854775807}]"##,
    r##"K9 rc=1 d=[{"a":-9223372036854775808}]"##,
    r##"K10 rc=-1 d=[{}]"##,
    r##"K11 rc=1 d=[{"a":12}]"##,
    r##"K12 rc=1 d=[{"a":0.0}]"##,
    r##"K13 rc=1 d=[{"a":0.29999999999999999}]"##,
    r##"K14 rc=1 d=[{"a":1e17}]"##,
    r##"K15 rc=-1 d=[{}]"##,
    r##"K16 rc=-1 d=[{}]"##,
    r##"K17 rc=-1 d=[{}]"##,
    r##"K18 rc=-1 d=[{}]"##,
    r##"K19 rc=-1 d=[{}]"##,
    r##"K20 rc=-1 d=[{}]"##,
    r##"K21 rc=-1 d=[{}]"##,
    r##"K22 rc=1 d=[{"a":[1,2,7]}]"##,
    r##"K23 rc=1 d=[{"a":[7,2]}]"##,
    r##"K24 rc=1 d=[[1,2,7]]"##,
    r##"K25 rc=-1 d=[{"a":[1,2]}]"##,
    r##"K26 rc=-1 d=[]"##,
    r##"K27 rc=1 d=[{"a":1}]"##,
    r##"K28 rc=-1 d=[5]"##,
    r##"K29 rc=1 d=[{"a":1}]"##,
    r##"K30 rc=1 d=[{"a":"\u0001\u001F"}]"##,
];

#[test]
fn jansson_edges_as_kamailio() {
    let s = Siprd::start(&EDGES.replace("CTL", "\u{1}\u{1f}"));
    let c = UdpClient::new();
    let r = c.request(
        s.udp_addr(),
        &request("OPTIONS", "sip:x@127.0.0.1", c.port(), "j2", ""),
    );
    assert!(first_line(&r).starts_with("SIP/2.0 200"));
    let last = EDGES_EXPECTED.last().copied().unwrap_or_default();
    assert!(s.wait_log(last, WAIT), "{}", s.log());
    let log = s.log();
    let got: Vec<&str> = log
        .lines()
        .filter_map(|l| l.split("<script>: ").nth(1))
        .filter(|l| l.starts_with('K'))
        .collect();
    assert_eq!(got, EDGES_EXPECTED);
}
