//! The committed man pages and completions are what `bin/gen-docs` makes from the CLI definition
//! today; the README documents every config key; the cron line shipped in examples/ works.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::site::Site;
use common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

#[test]
fn man_pages_and_completions_are_current() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_gen-docs"))
        .arg(tmp.path())
        .output()
        .expect("run gen-docs");
    assert!(out.status.success(), "{}", text(&out));
    for sub in ["man", "completions"] {
        let fresh = files(&tmp.path().join(sub));
        let committed = files(&root().join(sub));
        assert!(!fresh.is_empty());
        let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            names(&committed),
            names(&fresh),
            "{sub}/ is stale: run bin/gen-docs and commit"
        );
        for (name, bytes) in &fresh {
            assert!(
                committed[name] == *bytes,
                "{sub}/{name} is stale: run bin/gen-docs and commit"
            );
        }
    }
    let man = String::from_utf8_lossy(&files(&root().join("man"))["postern.1"]).into_owned();
    for section in [
        "smtpd",
        "deliver",
        "Exit status",
        "/etc/postern/postern.toml",
    ] {
        assert!(man.contains(section), "postern.1 lacks {section:?}");
    }
}

#[test]
fn completions_parse_in_their_shells() {
    let bash = run(
        "bash",
        &[
            "-n",
            root()
                .join("completions/postern.bash")
                .to_str()
                .expect("utf8"),
        ],
    );
    assert!(bash.status.success(), "{}", text(&bash));
    for (shell, file) in [("zsh", "_postern"), ("fish", "postern.fish")] {
        assert!(
            have(shell),
            "{shell} is not installed (bin/install-test-deps)"
        );
        let out = run(
            shell,
            &[
                "-n",
                root()
                    .join("completions")
                    .join(file)
                    .to_str()
                    .expect("utf8"),
            ],
        );
        assert!(out.status.success(), "{shell}: {}", text(&out));
    }
    // Bash offers the subcommands.
    let script = format!(
        "source {}; COMP_WORDS=(postern de); COMP_CWORD=1; COMP_LINE='postern de'; COMP_POINT=10; _postern postern de postern; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        root().join("completions/postern.bash").display()
    );
    let out = run("bash", &["-c", &script]);
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "deliver"),
        "{}",
        text(&out)
    );
}

/// Every key of the configuration (as `section.key`), from a config that sets every optional key
/// (unvalidated: only the shape matters here).
fn config_keys() -> Vec<String> {
    let text = r#"
[server]
hostname = "mx.example.test"
postmaster = "p@example.test"
[delivery]
gateway = "127.0.0.1:25"
[remote]
delay_warning = "4h"
[[remote.server]]
name = "hq"
host = "127.0.0.1"
verify = true
ca = "ca.pem"
user = "u"
password = "p"
[[domain]]
name = "example.test"
server = "hq"
redirect = "demo"
[[domain.handler]]
local = "sales"
mailbox = "demo"
forward = "x@remote.test"
server = "hq"
max_size = "1M"
copy_to = "boss@example.test"
[[listener]]
name = "s"
protocol = "smtp"
address = "127.0.0.1:25"
cert = "c"
key = "k"
[receiving.trusted]
relay = true
max_size = "1M"
[receiving.untrusted]
relay = false
max_size = "1M"
[[receiving.assume]]
network = "10.0.0.7/32"
user = "bob"
[[receiving.ban]]
field = "header"
header = "Subject"
op = "contains"
value = "spam"
reply = "550 5.7.1 no"
[users]
source = "both"
[users.system]
group = "mail"
ntlm_auth = "/usr/bin/ntlm_auth"
[addresses]
origin = "example.test"
aliases = "aliases"
[[collect]]
name = "isp"
server = "127.0.0.1"
port = 110
trust_anchor = "ca.pem"
user = "u"
password = "p"
password_file = "pw"
catch_all = "demo@example.test"
max_message_size = "1M"
"#;
    let config: postern::config::Config = toml::from_str(text).expect("parses");
    let value = toml::Value::try_from(&config).expect("serialize");
    let mut keys = Vec::new();
    for (section, v) in value.as_table().expect("table") {
        collect_keys(section, v, &mut keys);
    }
    keys.sort();
    keys.dedup();
    keys
}

/// `section.key` for every key under `section`; nested tables (and arrays of them) are sections
/// of their own (`auth.smtp.plain`, `domain.handler.local`).
fn collect_keys(section: &str, v: &toml::Value, keys: &mut Vec<String>) {
    let tables: Vec<&toml::Table> = match v {
        toml::Value::Table(t) => vec![t],
        toml::Value::Array(a) => a.iter().filter_map(|x| x.as_table()).collect(),
        _ => return,
    };
    for t in tables {
        for (k, v) in t {
            let nested = v.is_table()
                || v.as_array()
                    .is_some_and(|a| a.first().is_some_and(toml::Value::is_table));
            if nested {
                collect_keys(&format!("{section}.{k}"), v, keys);
            } else {
                keys.push(format!("{section}.{k}"));
            }
        }
    }
}

#[test]
fn the_readme_documents_every_config_key() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let reference = readme
        .split("## Configuration reference")
        .nth(1)
        .expect("README has a '## Configuration reference' section");
    let keys = config_keys();
    assert!(keys.len() > 20, "{keys:?}");
    let mut missing = Vec::new();
    for key in keys {
        let (section, name) = key.rsplit_once('.').expect("dotted");
        let shown = format!("`{name}`");
        let documented = reference
            .split("\n### ")
            .find(|s| {
                let heading = s.lines().next().unwrap_or("");
                heading.contains(&format!("`[{section}]`"))
                    || heading.contains(&format!("`[[{section}]]`"))
            })
            .is_some_and(|part| part.contains(&shown));
        if !documented {
            missing.push(key);
        }
    }
    assert!(
        missing.is_empty(),
        "README config reference lacks {missing:?}"
    );
    // postern.toml(5) is made from the same section: every key is in it too, and man reads it.
    let page = std::fs::read_to_string(root().join("man/postern.toml.5")).expect("postern.toml.5");
    let absent: Vec<String> = config_keys()
        .into_iter()
        .filter(|key| {
            let name = key.rsplit_once('.').expect("dotted").1;
            !page.contains(&format!("\\fB{}\\fR", name.replace('-', "\\-")))
        })
        .collect();
    assert!(absent.is_empty(), "postern.toml.5 lacks {absent:?}");
    if have("man") {
        let out = Command::new("man")
            .arg("-l")
            .arg(root().join("man/postern.toml.5"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man");
        let shown = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && shown.contains("spool_reserve"),
            "{}",
            text(&out)
        );
        let errors = String::from_utf8_lossy(&out.stderr);
        assert!(!errors.contains("warning"), "{errors}");
    }
    // The first two commands stay at the top.
    let first_block = readme.split("```sh\n").nth(1).expect("a sh block");
    assert!(first_block.starts_with("cargo run --release -- serve --demo /tmp/postern-demo"));
    assert!(first_block
        .lines()
        .nth(1)
        .is_some_and(|l| l.starts_with("bin/test")));
}

#[test]
fn the_cron_line_runs_the_queue() {
    let cron = std::fs::read_to_string(root().join("examples/cron")).expect("examples/cron");
    let site = Site::new("[delivery]\nimmediate = false\n");
    // Queue one message (immediate delivery off), then run each cron command as cron would.
    let mut sm = site
        .command()
        .args(["sendmail", "demo@example.test"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("sendmail");
    use std::io::Write;
    sm.stdin
        .take()
        .expect("stdin")
        .write_all(b"Subject: via cron\n\nqueued\n")
        .expect("write");
    assert!(sm.wait().expect("wait").success());
    assert!(maildir_files(&site.maildir("demo")).is_empty());
    let mut ran = 0;
    for line in cron.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.contains('=') && !line.contains(' ') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert!(
            fields.len() >= 7,
            "system crontab line: 5 time fields, user, command: {line}"
        );
        assert_eq!(fields[6], "/usr/local/bin/postern", "{line}");
        let command = fields[6..]
            .join(" ")
            .replace("/usr/local/bin/postern", bin().to_str().expect("utf8"));
        let out = Command::new("sh")
            .arg("-c")
            .arg(&command)
            .env("POSTERN_CONFIG", site.config())
            .output()
            .expect("sh");
        assert!(out.status.success(), "{command}: {}", text(&out));
        ran += 1;
    }
    assert!(ran >= 1, "no cron line in examples/cron");
    assert!(cron.contains("POSTERN_CONFIG=/etc/postern/postern.toml"));
    let files = maildir_files(&site.maildir("demo"));
    assert_eq!(files.len(), 1, "the cron run delivered the queued message");
}
