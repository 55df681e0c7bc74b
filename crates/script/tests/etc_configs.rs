//! Every config shipped in the repository's `etc/` parses (syntax and preprocessor).
use siprd_script::{parse_file, Defines};
use std::path::Path;

fn cfgs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            cfgs(&p, out);
        } else if p.extension().is_some_and(|x| x == "cfg") {
            out.push(p);
        }
    }
}

#[test]
fn shipped_configs_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc");
    let mut files = Vec::new();
    cfgs(&root, &mut files);
    let mut bad = Vec::new();
    for f in &files {
        if let Err(d) = parse_file(f, &Defines::new()) {
            bad.push(d.render_short());
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
