//! `bin/install` into a throwaway root: the binary, man pages, completions, the `postern` user
//! and its directories with the right owners, a configuration never overwritten, and systemd
//! units for every daemon that `systemd-analyze verify` accepts without a word and
//! `systemd-analyze security` rates at most 3.0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn install(root: &Path) {
    let out = Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("bin/install"))
        .arg("--destdir")
        .arg(root)
        .arg("--binary")
        .arg(bin())
        .output()
        .expect("bin/install");
    assert!(out.status.success(), "{}", text(&out));
}

/// The uid and gid of `name` in the root's own passwd file.
fn ids(root: &Path, name: &str) -> (u32, u32) {
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {passwd}"));
    let f: Vec<&str> = line.split(':').collect();
    (f[2].parse().unwrap(), f[3].parse().unwrap())
}

fn owner(p: &Path) -> (u32, u32, u32) {
    let m = std::fs::metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (m.uid(), m.gid(), m.mode() & 0o7777)
}

#[test]
fn install_into_a_fresh_root() {
    assert!(
        have("systemd-analyze"),
        "systemd is not installed (bin/install-test-deps)"
    );
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    install(root);
    let usr = root.join("usr/local");

    let version = run(usr.join("bin/postern").to_str().unwrap(), &["--version"]);
    assert!(version.status.success(), "{}", text(&version));
    for f in [
        "share/man/man1/postern.1",
        "share/man/man1/postern-smtpd.1",
        "share/man/man5/postern.toml.5",
        "share/bash-completion/completions/postern",
        "share/zsh/vendor-completions/_postern",
        "share/fish/vendor_completions.d/postern.fish",
    ] {
        assert!(usr.join(f).is_file(), "{f} not installed");
    }

    // The system user, its directories and the configuration, owned as the daemons need.
    let (uid, gid) = ids(root, "postern");
    assert!(uid > 0 && uid < 1000, "not a system user: {uid}");
    for dir in ["var/spool/postern", "var/mail/postern"] {
        assert_eq!(owner(&root.join(dir)), (uid, gid, 0o750), "{dir}");
    }
    assert_eq!(owner(&root.join("etc/postern")), (0, gid, 0o750));
    for f in ["etc/postern/postern.toml", "etc/postern/users.toml"] {
        assert_eq!(owner(&root.join(f)), (0, gid, 0o640), "{f}");
    }
    // The PAM service of system users ([users] source = "system").
    let pam = std::fs::read_to_string(root.join("etc/pam.d/postern")).expect("etc/pam.d/postern");
    assert!(
        pam.contains("common-auth") && pam.contains("common-account"),
        "{pam}"
    );
    // The starting configuration checks once the administrator has added the postmaster's
    // mailbox (until then `config check` says what is missing).
    let config = root.join("etc/postern/postern.toml");
    let check = || {
        Command::new(bin())
            .arg("--config")
            .arg(&config)
            .args(["config", "check"])
            .output()
            .unwrap()
    };
    let before = check();
    assert!(
        !before.status.success() && text(&before).contains("reaches no mailbox"),
        "{}",
        text(&before)
    );
    let mut add = Command::new(bin())
        .arg("--config")
        .arg(&config)
        .args(["user", "add", "postmaster", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        add.stdin.take().unwrap().write_all(b"pm-secret\n").unwrap();
    }
    assert!(add.wait().unwrap().success());
    let after = check();
    assert!(after.status.success(), "{}", text(&after));

    // Installing again keeps the administrator's configuration.
    let edited = root.join("etc/postern/postern.toml");
    std::fs::write(
        &edited,
        std::fs::read_to_string(&edited).unwrap() + "# mine\n",
    )
    .unwrap();
    install(root);
    assert!(std::fs::read_to_string(&edited)
        .unwrap()
        .ends_with("# mine\n"));
    assert_eq!(ids(root, "postern"), (uid, gid));

    // A root with systemd's own units and kill(1) in it, as a Debian system has, so that
    // `verify` can build each unit's start job.
    let sys = root.join("usr/lib/systemd");
    std::fs::create_dir_all(&sys).unwrap();
    let cp = run("cp", &["-a", "/lib/systemd/system", sys.to_str().unwrap()]);
    assert!(cp.status.success(), "{}", text(&cp));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/usr/bin/kill", root.join("bin/kill")).unwrap();

    let units = usr.join("lib/systemd/system");
    let mut names: Vec<String> = std::fs::read_dir(&units)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for want in [
        "postern.service",
        "postern-smtpd.socket",
        "postern-smtpd.service",
        "postern-submission.socket",
        "postern-submission.service",
        "postern-popd.socket",
        "postern-popd.service",
        "postern-imapd.socket",
        "postern-imapd.service",
        "postern-managesieve.socket",
        "postern-managesieve.service",
        "postern-deliver.service",
        "postern-collect.service",
        "postern-collect.timer",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    let root_arg = format!("--root={}", root.display());
    for name in &names {
        let unit = units.join(name);
        let text_of = std::fs::read_to_string(&unit).unwrap();
        assert!(!text_of.contains("@BINDIR@"), "{name}");
        // verify prints what it ignores but still exits 0: it must say nothing at all.
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no", &root_arg])
            .arg(&unit)
            .output()
            .unwrap();
        assert!(
            out.status.success() && text(&out).trim().is_empty(),
            "verify {name}: {}",
            text(&out)
        );
        if !name.ends_with(".service") {
            continue;
        }
        let out = Command::new("systemd-analyze")
            .args(["security", "--offline=true", "--threshold=30", &root_arg])
            .arg(&unit)
            .output()
            .unwrap();
        let report = text(&out);
        let level: f64 = report
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|rest| rest.split(": ").nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level for {name}: {report}"));
        assert!(
            out.status.success() && level <= 3.0,
            "{name}: exposure {level}:\n{report}"
        );
    }

    // The installed man page reads.
    if have("man") {
        let out = Command::new("man")
            .arg("-l")
            .arg(usr.join("share/man/man5/postern.toml.5"))
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("syslog_socket"),
            "{}",
            text(&out)
        );
    }
}
