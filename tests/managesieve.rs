//! ManageSieve (RFC 5804) on `serve --demo`'s port 4190: the `sieve-connect` client (Debian)
//! uploads, lists, activates, downloads and deletes scripts with STARTTLS and PLAIN, and is told
//! the line of an error; a raw Python client checks what sieve-connect does not send (PLAIN
//! before TLS, an oversized literal, bad names, the script quota, response codes); the
//! `postern sieve` commands see the same scripts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::process::{Command, Stdio};

use common::*;

/// `sieve-connect` against the demo with STARTTLS and PLAIN as `demo`; its output and success.
fn sieve_connect(demo: &Demo, args: &[&str]) -> (String, bool) {
    use std::io::Write;
    let mut child = Command::new("timeout")
        .args(["60", "sieve-connect", "--nosrv", "--server", "127.0.0.1"])
        .args(["--port", &demo.port(4190).to_string()])
        .args(["--user", "demo", "--authmech", "PLAIN", "--notlsverify"])
        .args(["--passwordfd", "0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sieve-connect (bin/install-test-deps installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{}\n", demo.password()).as_bytes())
        .expect("password");
    let out = child.wait_with_output().expect("wait");
    (text(&out), out.status.success())
}

#[test]
fn sieve_connect_manages_scripts_over_starttls_with_plain() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("rules.sieve");
    std::fs::write(
        &good,
        "require [\"fileinto\", \"imap4flags\"];\n\
         if header :contains \"subject\" \"lists\" { fileinto :flags \"\\\\Seen\" \"Lists\"; }\n",
    )
    .unwrap();
    let bad = dir.path().join("bad.sieve");
    std::fs::write(&bad, "require \"fileinto\";\nkeep;\n\nfileinto;\n").unwrap();

    let (out, ok) = sieve_connect(&demo, &["--list"]);
    assert!(ok && out.trim().is_empty(), "{out}");
    let good_s = good.to_str().unwrap();
    let (out, ok) = sieve_connect(
        &demo,
        &["--localsieve", good_s, "--remotesieve", "rules", "--upload"],
    );
    assert!(ok, "{out}");
    let (out, ok) = sieve_connect(
        &demo,
        &[
            "--localsieve",
            bad.to_str().unwrap(),
            "--remotesieve",
            "bad",
            "--upload",
        ],
    );
    assert!(
        !ok && out.contains("line 4"),
        "the error names the line: {out}"
    );
    let (out, ok) = sieve_connect(&demo, &["--remotesieve", "rules", "--activate"]);
    assert!(ok, "{out}");
    let (out, ok) = sieve_connect(&demo, &["--list"]);
    assert!(ok && out.contains("\"rules\" ACTIVE"), "{out}");
    assert!(!out.contains("bad"), "{out}");
    let got = dir.path().join("got.sieve");
    let (out, ok) = sieve_connect(
        &demo,
        &[
            "--remotesieve",
            "rules",
            "--localsieve",
            got.to_str().unwrap(),
            "--download",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(std::fs::read(&got).unwrap(), std::fs::read(&good).unwrap());
    // On disk where the README says, and the admin's command sees it.
    let stored = demo.maildir("demo").join("sieve");
    assert_eq!(
        std::fs::read(stored.join("rules.sieve")).unwrap(),
        std::fs::read(&good).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(stored.join("active")).unwrap(),
        "rules\n"
    );
    let ls = demo.postern(&["sieve", "ls", "demo"]);
    assert_eq!(
        String::from_utf8_lossy(&ls.stdout),
        "* rules\n",
        "{}",
        text(&ls)
    );
    // The active script cannot be deleted; deactivated, it can.
    let (out, ok) = sieve_connect(&demo, &["--remotesieve", "rules", "--delete"]);
    assert!(!ok && out.contains("ACTIVE"), "{out}");
    let (out, ok) = sieve_connect(&demo, &["--deactivate"]);
    assert!(ok, "{out}");
    let (out, ok) = sieve_connect(&demo, &["--remotesieve", "rules", "--delete"]);
    assert!(ok, "{out}");
    let (out, ok) = sieve_connect(&demo, &["--list"]);
    assert!(ok && out.trim().is_empty(), "{out}");
    let log = demo.log();
    assert!(log.contains("event=login protocol=managesieve"), "{log}");
    assert!(log.contains("mechanism=PLAIN user=demo"), "{log}");
    assert!(log.contains("event=sieve_script_changed"), "{log}");
}

#[test]
fn raw_client_gets_the_error_codes_and_stays_in_step() {
    let mut demo = Demo::start();
    let mut config = std::fs::read_to_string(demo.config()).unwrap();
    config.push_str("\n[sieve]\nmax_scripts = 2\n");
    std::fs::write(demo.config(), config).unwrap();
    demo.restart();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/sieve_support/managesieve_errors.py"
    );
    let out = run(
        "/usr/bin/python3",
        &[script, &demo.port(4190).to_string(), &demo.password()],
    );
    let out = text(&out);
    let line = |name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in:\n{out}"))
            .to_string()
    };
    let caps = line("caps");
    assert!(
        caps.contains("\"STARTTLS\"") && caps.contains("\"SIEVE\" \"fileinto"),
        "{caps}"
    );
    assert!(!caps.contains("PLAIN"), "PLAIN only after STARTTLS: {caps}");
    assert!(
        line("plain_before_tls").starts_with("NO (ENCRYPT-NEEDED)"),
        "{out}"
    );
    assert!(line("starttls").starts_with("OK"), "{out}");
    let caps = line("caps_tls");
    assert!(
        caps.contains("PLAIN") && !caps.contains("STARTTLS"),
        "{caps}"
    );
    assert_eq!(
        line("scram"),
        "verified",
        "SCRAM's server-final in OK (SASL …): {out}"
    );
    assert!(line("unauthenticate").starts_with("OK"), "{out}");
    assert!(line("wrong_password").starts_with("NO"), "{out}");
    assert!(line("login").starts_with("OK"), "{out}");
    assert!(line("oversized").starts_with("NO (QUOTA/MAXSIZE)"), "{out}");
    assert_eq!(
        line("after_oversized"),
        "OK (TAG \"still-in-step\") \"done\""
    );
    let bad = line("bad_script");
    assert!(
        bad.starts_with("NO \"line 3:") && bad.contains("frobnicate"),
        "{bad}"
    );
    assert!(line("check_bad").starts_with("NO \"line 3:"), "{out}");
    assert!(line("bad_name").contains("invalid script name"), "{out}");
    assert!(
        line("control_name").contains("invalid script name"),
        "{out}"
    );
    assert!(line("put_one").starts_with("OK"), "{out}");
    assert!(line("put_two").starts_with("OK"), "{out}");
    assert!(
        line("put_three").starts_with("NO (QUOTA/MAXSCRIPTS)"),
        "{out}"
    );
    assert!(
        line("havespace_new").starts_with("NO (QUOTA/MAXSCRIPTS)"),
        "{out}"
    );
    assert!(
        line("havespace_big").starts_with("NO (QUOTA/MAXSIZE)"),
        "{out}"
    );
    assert!(
        line("replace_one").starts_with("OK"),
        "a replacement fits: {out}"
    );
    assert!(line("activate").starts_with("OK"), "{out}");
    assert!(line("delete_active").starts_with("NO (ACTIVE)"), "{out}");
    assert!(line("get_missing").starts_with("NO (NONEXISTENT)"), "{out}");
    assert_eq!(line("get_one_body"), "{5} | stop;", "{out}");
    assert!(
        line("rename_taken").starts_with("NO (ALREADYEXISTS)"),
        "{out}"
    );
    assert!(line("rename").starts_with("OK"), "{out}");
    assert_eq!(line("list_body"), "\"two\" | \"uno\" ACTIVE", "{out}");
    assert!(line("literal_too_long_line").starts_with("NO"), "{out}");
    assert!(line("logout").starts_with("OK"), "{out}");
    let log = demo.log();
    assert!(
        log.contains("event=auth_refused protocol=managesieve"),
        "{log}"
    );
    assert!(
        log.contains("event=login_failed protocol=managesieve"),
        "{log}"
    );
    assert!(log.contains("mechanism=SCRAM-SHA-256 user=demo"), "{log}");
    // Nothing but the two scripts and the marker reached the disk.
    let mut names: Vec<String> = std::fs::read_dir(demo.maildir("demo").join("sieve"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["active", "two.sieve", "uno.sieve"]);
    assert!(!demo.root().join("mail").join("evil.sieve").exists());
}

#[test]
fn sieve_cli_puts_checks_activates_and_gets() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.sieve");
    std::fs::write(&good, "require \"fileinto\";\nfileinto \"Archive\";\n").unwrap();
    let bad = dir.path().join("bad.sieve");
    std::fs::write(&bad, "if true {\n  keep;\n").unwrap();
    let out = demo.postern(&["sieve", "check", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = demo.postern(&["sieve", "check", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    assert!(text(&out).contains("line "), "{}", text(&out));
    let out = demo.postern(&["sieve", "put", "demo", "main", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    let out = demo.postern(&["sieve", "put", "nobody", "main", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(67), "{}", text(&out));
    let out = demo.postern(&["sieve", "put", "demo", "../x", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(65), "{}", text(&out));
    let out = demo.postern(&["sieve", "put", "demo", "main", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = demo.postern(&["sieve", "ls", "demo"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "  main\n");
    let out = demo.postern(&["sieve", "activate", "demo", "main"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = demo.postern(&["sieve", "ls", "demo"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "* main\n");
    let out = demo.postern(&["sieve", "get", "demo", "main"]);
    assert_eq!(out.stdout, std::fs::read(&good).unwrap());
    let out = demo.postern(&["sieve", "get", "demo", "nope"]);
    assert!(!out.status.success());
    let out = demo.postern(&["sieve", "rm", "demo", "main"]);
    assert!(!out.status.success(), "the active script stays");
    let out = demo.postern(&["sieve", "activate", "demo", "--none"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = demo.postern(&["sieve", "rm", "demo", "main"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = demo.postern(&["sieve", "ls", "demo"]);
    assert!(out.stdout.is_empty());
    // The benchmark's 50-rule script compiles.
    let bench = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/sieve/bench-50-rules.sieve"
    );
    let out = demo.postern(&["sieve", "check", bench]);
    assert!(out.status.success(), "{}", text(&out));
    // `config check` compiles the admin's before/after scripts.
    std::fs::write(demo.root().join("before.sieve"), "keep;\nfrob;\n").unwrap();
    let mut config = std::fs::read_to_string(demo.config()).unwrap();
    config.push_str("\n[sieve]\nbefore = \"before.sieve\"\n");
    std::fs::write(demo.config(), config).unwrap();
    let out = demo.postern(&["config", "check"]);
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains("sieve.before") && text(&out).contains("line 2"),
        "{}",
        text(&out)
    );
    std::fs::write(demo.root().join("before.sieve"), "keep;\n").unwrap();
    let out = demo.postern(&["config", "check"]);
    assert!(out.status.success(), "{}", text(&out));
}
