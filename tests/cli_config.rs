//! `postern config check` and daemons refusing a broken config, with the same messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::process::Command;

use common::site::Site;
use common::*;

const BROKEN: &str = r#"[server]
hostname = "localhost"
postmaster = "nobody"

[limits]
line_length = 100

[[domain]]
name = "exa mple.test"

[[listener]]
name = "smtp"
protocol = "smtp"
address = "127.0.0.1:1"
tls = "implicit"
"#;

/// Every problem of `BROKEN`, as `file:line: text` fragments.
fn expected(path: &str) -> Vec<String> {
    [
        (2, "server.hostname \"localhost\""),
        (3, "server.postmaster \"nobody\""),
        (6, "limits.line_length"),
        (9, "domain name \"exa mple.test\""),
        (15, "listener \"smtp\" uses TLS but has no cert"),
    ]
    .iter()
    .map(|(line, what)| format!("{path}:{line}: {what}"))
    .collect()
}

#[test]
fn config_check_reports_every_problem_with_its_line_and_exits_78() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("postern.toml");
    std::fs::write(&path, BROKEN).expect("write");
    let p = path.to_str().expect("utf8");
    let out = run(
        bin().to_str().expect("utf8"),
        &["--config", p, "config", "check"],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(out.stdout.is_empty(), "problems go to stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    for want in expected(p) {
        assert!(err.contains(&want), "{want:?} missing in:\n{err}");
    }

    // The daemons refuse to start on it, with the same messages; nothing listens.
    for args in [
        vec!["smtpd", "--listen", "127.0.0.1:1"],
        vec!["smtpd", "--inetd"],
        vec!["serve"],
        vec!["deliver", "--once"],
    ] {
        let out = Command::new(bin())
            .arg("--config")
            .arg(&path)
            .args(&args)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(78), "{args:?}: {}", text(&out));
        let err2 = String::from_utf8_lossy(&out.stderr);
        for want in expected(p) {
            assert!(
                err2.contains(&want),
                "{args:?}: {want:?} missing in:\n{err2}"
            );
        }
    }

    // POSTERN_CONFIG names the file when --config does not.
    let out = Command::new(bin())
        .env("POSTERN_CONFIG", &path)
        .args(["config", "check"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
}

#[test]
fn syntax_errors_and_unknown_keys_have_lines_too() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("p.toml");
    std::fs::write(&path, "[server]\nhostname = \"a.example\"\npostmaster = \"p@a.example\"\n\n[limits]\nrecipents = 5\n").expect("write");
    let p = path.to_str().expect("utf8");
    let out = run(
        bin().to_str().expect("utf8"),
        &["--config", p, "config", "check"],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{p}:6: unknown field `recipents`")),
        "{}",
        text(&out)
    );

    std::fs::write(
        &path,
        "[server]\nhostname = \"a.example\"\npostmaster = \"p@a.example\n",
    )
    .expect("write");
    let out = run(
        bin().to_str().expect("utf8"),
        &["--config", p, "config", "check"],
    );
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains(&format!("{p}:3: ")), "{}", text(&out));

    let missing = dir.path().join("missing.toml");
    let out = run(
        bin().to_str().expect("utf8"),
        &[
            "--config",
            missing.to_str().expect("utf8"),
            "config",
            "check",
        ],
    );
    assert_eq!(out.status.code(), Some(66), "EX_NOINPUT: {}", text(&out));
}

#[test]
fn a_good_config_checks_quietly() {
    let site = Site::new("[limits]\nidle_timeout = \"1m\"\n\n[log]\nformat = \"json\"\n");
    // server.postmaster must reach a mailbox: without the site's postmaster handler it does not.
    let text_of = std::fs::read_to_string(site.config()).expect("config");
    let handler = "[[domain.handler]]\nlocal = \"postmaster\"\nmailbox = \"demo\"\n";
    assert!(text_of.contains(handler), "{text_of}");
    std::fs::write(site.config(), text_of.replace(handler, "")).expect("write config");
    let out = site.postern(&["config", "check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(text(&out).contains("reaches no mailbox"), "{}", text(&out));
    site.add_user("postmaster", "pm-secret");
    let out = site.postern(&["config", "check"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(out.stderr.is_empty(), "{}", text(&out));
}

#[test]
fn without_flag_or_variable_the_config_is_etc_postern() {
    let out = std::process::Command::new(common::bin())
        .args(["config", "check"])
        .env_remove("POSTERN_CONFIG")
        .output()
        .expect("run postern");
    let err = String::from_utf8_lossy(&out.stderr);
    if std::path::Path::new("/etc/postern/postern.toml").exists() {
        assert!(
            err.contains("/etc/postern/postern.toml") || out.status.success(),
            "{err}"
        );
        return;
    }
    assert_eq!(out.status.code(), Some(66), "{err}");
    assert_eq!(
        err.trim(),
        "postern: cannot read config /etc/postern/postern.toml: No such file or directory (os error 2)"
    );
}

/// `POSTERN_HOST_CONFIG`: a host's override merged over the file (tables key by key, arrays
/// replaced), its problems reported, a broken or missing one refused with its name.
#[test]
fn a_host_override_is_merged_checked_and_refused_when_broken() {
    let dir = tempfile::tempdir().expect("tmp");
    let main = dir.path().join("postern.toml");
    std::fs::write(
        &main,
        "[server]\nhostname = \"mx.example.test\"\npostmaster = \"pm@example.test\"\n\
         [paths]\nspool = \"spool\"\nmail = \"mail\"\nusers = \"users.toml\"\n\
         [delivery]\nscan_interval = \"10s\"\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("users.toml"), "").expect("users");
    let host = dir.path().join("host.toml");
    let show = |host_text: &str| {
        std::fs::write(&host, host_text).expect("write host");
        let mut cmd = Command::new(bin());
        cmd.arg("--config")
            .arg(&main)
            .args(["config", "show"])
            .env("POSTERN_HOST_CONFIG", &host);
        cmd.output().expect("run")
    };
    let out = show("[server]\nhostname = \"mx2.example.test\"\n[cluster]\nnode = 2\n");
    assert!(out.status.success(), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("mx2.example.test"), "{shown}");
    assert!(
        shown.contains("pm@example.test"),
        "the rest of [server] stays: {shown}"
    );
    assert!(shown.contains("node = 2"), "{shown}");
    assert!(shown.contains("scan_interval = 10\n"), "{shown}");

    // A value the checks refuse, named with the key.
    let out = show("[cluster]\nnode = 9\n");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("cluster.node must be 0-7"),
        "{}",
        text(&out)
    );
    // Not TOML: refused with the override's name.
    let out = show("[cluster\n");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains(host.to_str().expect("utf8")) && text(&out).contains("host override"),
        "{}",
        text(&out)
    );
    // Named but missing: refused, not ignored.
    std::fs::remove_file(&host).expect("rm");
    let mut cmd = Command::new(bin());
    cmd.arg("--config")
        .arg(&main)
        .args(["config", "show"])
        .env("POSTERN_HOST_CONFIG", &host);
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(66), "{}", text(&out));
    assert!(text(&out).contains("host.toml"), "{}", text(&out));
}
