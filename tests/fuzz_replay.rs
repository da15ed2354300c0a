//! The fuzz targets' seeds (`fuzz/corpus/TARGET/`) and every input that once crashed, hung or
//! exploded (`fuzz/regressions/TARGET/`), replayed through the same harnesses (`fuzz/src/`)
//! without libFuzzer, so a fixed bug stays fixed in the ordinary test run. Each harness checks
//! more than "no panic" (well-formed replies and IMAP structures, SPF query bounds, RETR data read
//! back unchanged, nothing collected twice…).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

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

/// `name version` of every package in a Cargo.lock but postern's own.
fn locked(path: &Path) -> std::collections::BTreeSet<String> {
    let text = std::fs::read_to_string(path).expect("read lock file");
    let field = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|v| v.strip_prefix(" = \""))
            .and_then(|v| v.strip_suffix('"'))
            .map(str::to_string)
    };
    let names = text.lines().filter_map(|l| field(l, "name"));
    let versions = text.lines().filter_map(|l| field(l, "version"));
    names
        .zip(versions)
        .filter(|(n, _)| !n.starts_with("postern"))
        .map(|(n, v)| format!("{n} {v}"))
        .collect()
}

/// The fuzz targets build against the versions the rest is tested with: fuzz/Cargo.lock is
/// Cargo.lock plus libFuzzer's crates.
#[test]
fn fuzz_lock_has_the_same_versions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let main = locked(&root.join("Cargo.lock"));
    let fuzz = locked(&root.join("fuzz/Cargo.lock"));
    let missing: Vec<&String> = main.difference(&fuzz).collect();
    assert!(
        missing.is_empty(),
        "fuzz/Cargo.lock lacks {missing:?}: run bin/fuzz --build-only (it refreshes the file) \
         and commit fuzz/Cargo.lock"
    );
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
    spool_deliver config mime spf collect_client sieve ntlm managesieve
}
