//! The fuzz targets' seeds (`fuzz/corpus/TARGET/`) and every input that once crashed, hung or
//! exploded (`fuzz/regressions/TARGET/`), replayed through the same harnesses (`fuzz/src/`)
//! without libFuzzer, so a fixed bug stays fixed in the ordinary test run. Each harness checks
//! more than "no panic" (well-formed replies and IMAP structures, SPF query bounds, RETR data read
//! back unchanged, nothing collected twice…).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod harness;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

fn replay(target: &str) {
    let (_, run) = harness::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no target {target}"));
    let files = inputs(target);
    assert!(files.len() >= 3, "{target}: {} seeds", files.len());
    let failed: Vec<String> = files
        .iter()
        .filter(|f| {
            let data = std::fs::read(f).expect("read input");
            catch_unwind(AssertUnwindSafe(|| run(&data))).is_err()
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} fails on {failed:#?}");
}

#[test]
fn every_target_has_a_binary_and_seeds() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, _) in harness::TARGETS {
        let bin = root.join("fuzz_targets").join(format!("{name}.rs"));
        assert!(bin.is_file(), "{}", bin.display());
        assert!(
            root.join("corpus").join(name).is_dir(),
            "{name} has no seeds"
        );
    }
    let names: Vec<&str> = harness::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, REPLAYED, "each target has its replay test");
}

macro_rules! targets {
    ($($name:ident)*) => {
        /// The targets with a replay test below.
        const REPLAYED: &[&str] = &[$(stringify!($name)),*];
        $(
            #[test]
            fn $name() {
                replay(stringify!($name));
            }
        )*
    };
}

targets! {
    smtp_command smtp_session imap_assembler imap_parser imap_session pop3_session sasl
    spool_deliver config mime spf collect_client
}
