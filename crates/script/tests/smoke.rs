mod common;
use common::*;

#[test]
fn smoke() {
    let out = body(r#"
  $var(a) = 5;
  $var(b) = $var(a) * 2 + 1;
  t_log("b=$var(b)");
  if ($var(b) > 10) { t_log("big"); } else { t_log("small"); }
  $var(s) = "x" + 5 * 2;
  t_log("s=$var(s)");
  switch ($var(a)) { case 5: t_log("five"); case 6: t_log("six"); break; default: t_log("def"); }
  $var(i) = 0;
  while ($var(i) < 1000) { $var(i) = $var(i) + 1; }
  t_log("i=$var(i)");
"#);
    println!("{out:#?}");
    println!("{}", render("request_route {\n  sl_send_replyy(\"404\", \"x\");\n  t_continue(1,2,\"x\");\n  $var(x) = 2 + \"1\";\n  route(NOPE);\n}\n"));
}
