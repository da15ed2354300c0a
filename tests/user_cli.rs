//! `postern user add/passwd/del/ls` through the real binary: the users file stays 0600 and
//! holds only hashes, a changed password is the one smtpd accepts, refusals have clear errors and
//! sysexits codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Output;

use common::site::Site;
use common::*;

fn with_stdin(site: &Site, args: &[&str], input: &str) -> Output {
    output_with_stdin(site.command().args(args), input.as_bytes())
}

/// AUTH PLAIN as `user` with `password` against smtpd on `port`: the reply code.
fn auth_plain(port: u16, user: &str, password: &str) -> String {
    python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
try:
    code, _ = s.login(sys.argv[2], sys.argv[3])
except smtplib.SMTPAuthenticationError as e:
    code = e.smtp_code
print(code)
s.quit()
"#,
        &[&port.to_string(), user, password],
    )
    .trim()
    .to_string()
}

#[test]
fn add_passwd_ls_del_through_the_cli() {
    let site = Site::new("[auth.smtp]\nplain = \"allow\"\n");
    let users = site.root().join("users.toml");
    let out = with_stdin(
        &site,
        &["user", "add", "bob", "--password-stdin"],
        "first-pw\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let mode = std::fs::metadata(&users)
        .expect("users file")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "users file mode");
    let file = std::fs::read_to_string(&users).expect("read");
    assert!(
        !file.contains("first-pw") && file.contains("$argon2"),
        "{file}"
    );

    // ls: human and JSON (one object per user).
    let ls = site.postern(&["user", "ls"]);
    assert!(ls.status.success(), "{}", text(&ls));
    let mut names: Vec<String> = String::from_utf8_lossy(&ls.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, ["bob", "demo"], "{}", text(&ls));
    let json = site.postern(&["user", "ls", "--json"]);
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&json.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    let bob = rows
        .iter()
        .find(|r| r["name"] == "bob")
        .expect("bob listed");
    assert_eq!(bob["shared_secret"], false);
    assert_eq!(bob["mail"], true);

    let d = site.smtpd("smtpd");
    assert_eq!(auth_plain(site.port, "bob", "first-pw"), "235");
    let out = with_stdin(
        &site,
        &["user", "passwd", "bob", "--password-stdin"],
        "second-pw\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::metadata(&users)
            .expect("meta")
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // The running smtpd sees the change at once.
    assert_eq!(auth_plain(site.port, "bob", "first-pw"), "535");
    assert_eq!(auth_plain(site.port, "bob", "second-pw"), "235");

    // Refusals: each one sentence on stderr and a sysexits code; the file is left alone.
    let before = std::fs::read(&users).expect("read");
    for (args, input, code, says) in [
        (
            &["user", "add", "bob", "--password-stdin"][..],
            "x\n",
            65,
            "already exists",
        ),
        (
            &["user", "add", "../evil", "--password-stdin"][..],
            "x\n",
            65,
            "not valid",
        ),
        (
            &["user", "add", "carol", "--password-stdin"][..],
            "",
            65,
            "password is empty",
        ),
        (
            &["user", "passwd", "nobody", "--password-stdin"][..],
            "x\n",
            67,
            "no such user",
        ),
        (&["user", "del", "nobody"][..], "", 67, "no such user"),
    ] {
        let out = with_stdin(&site, args, input);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out)
        );
    }
    assert_eq!(
        std::fs::read(&users).expect("read"),
        before,
        "a refusal changed the file"
    );

    let out = site.postern(&["user", "del", "bob"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(auth_plain(site.port, "bob", "second-pw"), "535");
    drop(d);
}

/// `user add NAME` on a terminal (a pty from Python), typing `first` and then `second`.
const ON_A_TERMINAL: &str = r#"
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], "--config", sys.argv[2], "user", "add", sys.argv[3]])
def until(s):
    buf = b""
    while s not in buf:
        buf += os.read(fd, 1024)
until(b"Password: "); os.write(fd, sys.argv[4].encode() + b"\n")
until(b"again: "); os.write(fd, sys.argv[5].encode() + b"\n")
out = b""
while True:
    try:
        d = os.read(fd, 1024)
    except OSError:
        break
    if not d:
        break
    out += d
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
print(out.decode(errors="replace"))
"#;

#[test]
fn user_add_on_a_terminal_asks_twice_and_mbox_quota_is_for_people() {
    let site = common::site::Site::new("");
    let bin = bin().display().to_string();
    let config = site.config().display().to_string();
    let out = python(ON_A_TERMINAL, &[&bin, &config, "ann", "one", "two"]);
    assert!(
        out.starts_with("65\n") && out.contains("do not match"),
        "{out}"
    );
    let ls = site.postern(&["user", "ls"]);
    assert!(!text(&ls).contains("ann"), "{}", text(&ls));
    let out = python(ON_A_TERMINAL, &[&bin, &config, "ann", "same", "same"]);
    assert!(out.starts_with("0\n"), "{out}");
    assert!(text(&site.postern(&["user", "ls"])).contains("ann"));

    assert!(site
        .postern(&["mbox", "quota", "demo", "--set", "1M"])
        .status
        .success());
    let out = site.postern(&["mbox", "quota", "demo"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "demo\t0B\t0 messages\t1.0M\t0%\n",
        "{}",
        text(&out)
    );
    // collect with nothing configured says so.
    let out = site.postern(&["collect"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("event=collect_not_due"),
        "{}",
        text(&out)
    );
}

/// A system user's entry holds only extras: `user add --system` asks for no password, `passwd
/// --system` stores the shared secret and NT hash (with the password-equivalence warning) and
/// leaves the login password to PAM, `passwd --pop3 --shared-secret` makes the override password
/// the second-chance secret too; `ls` shows the flags.
#[test]
fn system_user_entries_hold_only_extras() {
    let site = Site::new("");
    let users = site.root().join("users.toml");
    let out = site.postern(&["user", "add", "--system", "carol"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = site.postern(&["user", "add", "--system", "--password-stdin", "dan"]);
    assert!(
        !out.status.success(),
        "--system takes no password: {}",
        text(&out)
    );
    let file = std::fs::read_to_string(&users).unwrap();
    let carol = file
        .split("[[user]]")
        .find(|u| u.contains("\"carol\""))
        .unwrap();
    assert!(
        !carol.contains("password") && !carol.contains("scram"),
        "{carol}"
    );
    let out = with_stdin(
        &site,
        &[
            "user",
            "passwd",
            "carol",
            "--password-stdin",
            "--system",
            "--ntlm",
            "--shared-secret",
        ],
        "extra-pw\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("password-equivalent"), "{}", text(&out));
    let file = std::fs::read_to_string(&users).unwrap();
    let carol = file
        .split("[[user]]")
        .find(|u| u.contains("\"carol\""))
        .unwrap();
    assert!(
        carol.contains("nt_hash") && carol.contains("shared_secret"),
        "{carol}"
    );
    assert!(!carol.contains("$argon2"), "no login password: {carol}");
    let out = with_stdin(
        &site,
        &[
            "user",
            "passwd",
            "carol",
            "--password-stdin",
            "--pop3",
            "--shared-secret",
        ],
        "pop-pw\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let file = std::fs::read_to_string(&users).unwrap();
    let carol = file
        .split("[[user]]")
        .find(|u| u.contains("\"carol\""))
        .unwrap();
    assert!(
        carol.contains("pop3_password") && carol.contains("\"pop-pw\""),
        "{carol}"
    );
    let ls = site.postern(&["user", "ls"]);
    let line = String::from_utf8_lossy(&ls.stdout)
        .lines()
        .find(|l| l.starts_with("carol"))
        .map(str::to_string)
        .unwrap_or_default();
    for flag in ["system", "ntlm", "shared-secret", "pop3-password"] {
        assert!(line.contains(flag), "{flag}: {line}");
    }
}
