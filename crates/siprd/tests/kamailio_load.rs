//! Load-time differential test: each small config of
//! `tests/kamailio-diff/load-cases.cfg` is accepted or refused by `siprd -c`
//! exactly as Kamailio 5.6 accepted or refused it (`expected-load.txt`, made
//! by `gen_load.py`). Refusals must also say where the problem is.

mod common;

use common::*;
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/kamailio-diff")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
}

#[test]
fn siprd_accepts_and_refuses_like_kamailio() {
    let mut cases: Vec<(String, String)> = Vec::new();
    for line in read("load-cases.cfg").lines() {
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push((name.trim().to_string(), String::new()));
        } else if let Some((_, body)) = cases.last_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    let expected: Vec<(String, String)> = read("expected-load.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            l.split_once('\t')
                .map(|(a, b)| (a.to_string(), b.to_string()))
        })
        .collect();
    assert_eq!(
        expected.len(),
        cases.len(),
        "expected-load.txt is stale: run gen_load.py"
    );
    let head = read("header.cfg").replace("@LISTEN@", "udp:127.0.0.1:0");
    let mut failures = Vec::new();
    for ((name, body), (ename, verdict)) in cases.iter().zip(&expected) {
        assert_eq!(name, ename);
        let cfg = format!("{head}route[SUB] {{ return 1; }}\n\nrequest_route {{\n{body}}}\n");
        let (code, out) = check_config(&cfg);
        let got = if code == 0 { "ok" } else { "refused" };
        if got != verdict {
            failures.push(format!("{name}: kamailio {verdict}, siprd {got}\n{out}"));
        } else if code != 0 && !out.contains(".cfg:") {
            failures.push(format!(
                "{name}: refused without a file:line:col location\n{out}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n---\n")
    );
}
