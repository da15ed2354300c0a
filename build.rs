//! Keeps the protocol cores free of I/O: the build fails when a file under `src/proto` names an
//! I/O crate or API, or reaches into the rest of the server. Test code (files named `tests.rs`
//! or `memory.rs`, anything under a `tests/` directory, and everything after a file's first
//! `#[cfg(test)]`) is not checked.

use std::path::{Path, PathBuf};

/// Names no protocol core may use: sockets, files, processes, timers, DNS, TLS, the runtime.
const FORBIDDEN: &[&str] = &[
    "tokio",
    "hickory",
    "rustls",
    "lettre",
    "std::fs",
    "std::net::Tcp",
    "std::net::Udp",
    "std::os::unix::net",
    "std::process::Command",
    "std::thread::sleep",
    "libc::",
];

/// The only places of the crate outside `proto` a core may name (path prefix → where allowed).
/// The IMAP core's mailbox vocabulary (messages, flags, snapshots, their cache) is the maildir
/// layer's, reached through the IMAP store trait.
const ALLOWED_OUTSIDE: &[(&str, &str)] = &[("crate::store::maildir", "src/proto/imap/")];

fn main() {
    println!("cargo:rerun-if-changed=src/proto");
    println!("cargo:rerun-if-changed=build.rs");
    let mut files = Vec::new();
    collect(Path::new("src/proto"), &mut files);
    let mut problems = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let shown = file.display().to_string();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("#[cfg(test)]") {
                break;
            }
            let code = line.split("//").next().unwrap_or_default();
            for bad in FORBIDDEN {
                if code.contains(bad) {
                    problems.push(format!("{shown}:{}: a protocol core names `{bad}`", n + 1));
                }
            }
            for (at, _) in code.match_indices("crate::") {
                let path = code.get(at..).unwrap_or_default();
                let ok = path.starts_with("crate::proto")
                    || ALLOWED_OUTSIDE
                        .iter()
                        .any(|(p, dir)| path.starts_with(p) && shown.starts_with(dir));
                if !ok {
                    let name: String = path
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    problems.push(format!(
                        "{shown}:{}: a protocol core reaches outside src/proto: `{name}`",
                        n + 1
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        for p in &problems {
            println!("cargo:warning={p}");
        }
        panic!(
            "the protocol cores under src/proto must not do I/O (see build.rs):\n{}",
            problems.join("\n")
        );
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                collect(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" && name != "memory.rs" {
            out.push(path);
        }
    }
}
