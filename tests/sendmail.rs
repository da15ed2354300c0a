//! `postern sendmail`, also run as `sendmail` (argv[0]): the way cron and scripts send mail.
//! Recipients from the command line or `-t`, Bcc kept out of the message, a repeated address
//! delivered once, the `-i` rule for a lone dot, sysexits codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use common::site::Site;
use common::*;

const HANDLERS: &str = "[[domain.handler]]\nlocal = \"niel\"\nmailbox = \"demo\"\n";

/// Run the binary through a `sendmail` symlink with `args`, `input` on stdin.
fn sendmail(site: &Site, args: &[&str], input: &str) -> Output {
    let link = site.root().join("sendmail");
    if !link.exists() {
        std::os::unix::fs::symlink(bin(), &link).expect("symlink");
    }
    let mut cmd = Command::new(&link);
    cmd.args(args).env("POSTERN_CONFIG", site.config());
    output_with_stdin(&mut cmd, input.as_bytes())
}

fn mails(site: &Site, n: usize) -> Vec<String> {
    wait_for_mail(&site.maildir("demo"), n, Duration::from_secs(10))
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect()
}

#[test]
fn dash_t_takes_to_cc_bcc_once_each_and_drops_bcc() {
    let site = Site::new(HANDLERS);
    let out = sendmail(
        &site,
        &["-t", "-f", "cron@example.test"],
        "To: demo@example.test\nCc: Demo Again <DEMO@example.test>\n\
         Bcc: niel@example.test, demo@example.test\nSubject: nightly\n\nall is well\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    // demo, DEMO and the alias niel all end in demo's mailbox: one copy.
    std::thread::sleep(Duration::from_millis(500));
    let got = mails(&site, 1);
    assert_eq!(got.len(), 1, "{got:#?}");
    let m = &got[0];
    assert!(m.starts_with("Return-Path: <cron@example.test>\n"), "{m}");
    assert!(
        !m.contains("Bcc:") && !m.contains("niel@"),
        "Bcc leaked:\n{m}"
    );
    assert!(
        m.contains("Subject: nightly") && m.contains("all is well"),
        "{m}"
    );
    // sendmail adds what a script leaves out.
    assert!(
        m.contains("\nDate: ") && m.contains("\nMessage-ID: <"),
        "{m}"
    );
}

#[test]
fn a_lone_dot_ends_the_message_unless_dash_i() {
    let site = Site::new("");
    let text_with_dot = "Subject: dots\n\nbefore\n.\nafter\n";
    let out = sendmail(&site, &["demo@example.test"], text_with_dot);
    assert!(out.status.success(), "{}", text(&out));
    let out = sendmail(&site, &["-oi", "demo@example.test"], text_with_dot);
    assert!(out.status.success(), "{}", text(&out));
    let got = mails(&site, 2);
    assert_eq!(got.len(), 2);
    let cut = got.iter().filter(|m| m.ends_with("before\n")).count();
    let whole = got
        .iter()
        .filter(|m| m.ends_with("before\n.\nafter\n"))
        .count();
    assert_eq!((cut, whole), (1, 1), "{got:#?}");
}

#[test]
fn the_default_sender_is_the_invoking_user_at_the_origin() {
    let site = Site::new("");
    let out = sendmail(&site, &["demo@example.test"], "Subject: who\n\nme\n");
    assert!(out.status.success(), "{}", text(&out));
    let got = mails(&site, 1);
    let user = String::from_utf8_lossy(&Command::new("id").arg("-un").output().expect("id").stdout)
        .trim()
        .to_string();
    assert!(
        got[0].starts_with(&format!("Return-Path: <{user}@example.test>\n")),
        "{}",
        got[0]
    );
}

#[test]
fn refusals_have_sysexits_codes_and_queue_nothing() {
    let site = Site::new("");
    for (args, input, code) in [
        (&[][..], "Subject: x\n\nno one to send to\n", 64),
        (&["-t"][..], "Subject: x\n\nno recipient headers\n", 64),
        (&["not an address"][..], "Subject: x\n\nbad\n", 65),
    ] {
        let out = sendmail(&site, args, input);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", text(&out));
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
    assert_eq!(site.queued(), 0, "a refused message was queued");
}

/// A site whose aliases file (outside the site, written first) sends `root` to `demo`.
fn site_with_aliases(aliases: &str) -> (Site, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("aliases");
    std::fs::write(&file, aliases).expect("aliases");
    let site = Site::new(&format!("[addresses]\naliases = \"{}\"\n", file.display()));
    (site, dir)
}

fn run_as(site: &Site, name: &str, args: &[&str], input: &str) -> Output {
    let link = site.root().join(name);
    if !link.exists() {
        std::os::unix::fs::symlink(bin(), &link).expect("symlink");
    }
    let mut cmd = Command::new(&link);
    cmd.args(args).env("POSTERN_CONFIG", site.config());
    output_with_stdin(&mut cmd, input.as_bytes())
}

#[test]
fn debian_cron_and_cronie_command_lines_reach_root_through_the_aliases() {
    let (site, _aliases) = site_with_aliases("# cron mail\nroot: demo\n");
    // Debian cron (cron 3.0pl1, do_command.c): `sendmail -i -FCronDaemon -B8BITMIME -oem root`.
    let out = sendmail(
        &site,
        &["-i", "-FCronDaemon", "-B8BITMIME", "-oem", "root"],
        "Content-Type: text/plain; charset=UTF-8\nSubject: Cron <root@host> /usr/local/bin/job\n\
         \njob output\n.\nmore output\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "sendmail printed something, which cron would mail back: {}",
        text(&out)
    );
    // cronie (do_command.c, MAILARGS): `sendmail -FCronDaemon -i -odi -oem -oi -t -f root`.
    let out = sendmail(
        &site,
        &[
            "-FCronDaemon",
            "-i",
            "-odi",
            "-oem",
            "-oi",
            "-t",
            "-f",
            "root",
        ],
        "To: root\nSubject: Cron <root@host> date\n\nFri Dec  4\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    let got = mails(&site, 2);
    assert_eq!(got.len(), 2, "{got:#?}");
    for m in &got {
        assert!(
            m.contains("\nFrom: CronDaemon <root@example.test>\n"),
            "{m}"
        );
        assert!(
            m.contains("\nDate: ") && m.contains("\nMessage-ID: <"),
            "{m}"
        );
        assert!(m.contains("Delivered-To: demo@example.test"), "{m}");
    }
    let debian = got.iter().find(|m| m.contains("job output")).expect("cron");
    assert!(debian.contains("job output\n.\nmore output\n"), "{debian}");
    let cronie = got.iter().find(|m| m.contains("Fri Dec")).expect("cronie");
    assert!(
        cronie.starts_with("Return-Path: <root@example.test>\n"),
        "{cronie}"
    );
}

#[test]
fn a_bad_sender_is_refused_like_a_bad_recipient() {
    let site = Site::new("");
    for bad in ["a b@example.test", "x@@example.test", "x@"] {
        let out = sendmail(
            &site,
            &["-f", bad, "demo@example.test"],
            "Subject: x\n\nx\n",
        );
        assert_eq!(out.status.code(), Some(65), "{bad}: {}", text(&out));
        assert!(text(&out).contains("bad sender"), "{}", text(&out));
    }
    let out = sendmail(&site, &["-bd"], "");
    assert_eq!(out.status.code(), Some(64), "{}", text(&out));
    assert_eq!(site.queued(), 0);
}

#[test]
fn nobody_submits_through_the_maildrop_as_itself() {
    assert!(have("setpriv"), "setpriv (util-linux) is needed");
    let (site, aliases) = site_with_aliases("root: demo\n");
    // The site as an installation has it: the users file 0600, the spool the server's.
    for dir in [site.root(), aliases.path()] {
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
    }
    let users = std::fs::metadata(site.root().join("users.toml")).expect("users");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&users.permissions()) & 0o777,
        0o600
    );
    // The server makes the maildrop (deliver once, as cron would run it, as root).
    let out = site.postern(&["deliver"]);
    assert!(out.status.success(), "{}", text(&out));
    let link = site.root().join("sendmail");
    std::os::unix::fs::symlink(bin(), &link).expect("symlink");
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(&link)
        .args(["-t", "-i"])
        .env("POSTERN_CONFIG", site.config());
    let out = output_with_stdin(
        &mut cmd,
        b"To: root, demo@example.test\nSubject: from nobody\n\nhello\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "{}",
        text(&out)
    );
    // nobody cannot read the users file, list the maildrop or read the spool.
    let mut cat = Command::new("setpriv");
    cat.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
        .arg(site.root().join("users.toml"));
    assert!(!cat.output().expect("cat").status.success());
    let mut ls = Command::new("setpriv");
    ls.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "ls"])
        .arg(site.spool().join("maildrop"));
    assert!(!ls.output().expect("ls").status.success());
    // The next pickup takes it in as nobody's.
    let out = site.postern(&["deliver"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = text(&out);
    assert!(log.contains("origin=sendmail user=nobody"), "{log}");
    let got = mails(&site, 1);
    assert_eq!(got.len(), 1, "root (→ demo) and demo: one copy: {got:#?}");
    let m = &got[0];
    assert!(m.starts_with("Return-Path: <nobody@example.test>\n"), "{m}");
    assert!(m.contains("(postern sendmail, uid 65534)"), "{m}");
    assert!(m.contains("\nFrom: nobody@example.test\n"), "{m}");
    let left: Vec<_> = std::fs::read_dir(site.spool().join("maildrop"))
        .expect("maildrop")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn dash_bs_speaks_smtp_on_standard_input_and_output() {
    let site = Site::new("");
    let out = sendmail(
        &site,
        &["-bs"],
        "EHLO localhost\r\nMAIL FROM:<root@example.test>\r\nRCPT TO:<demo>\r\n\
         RCPT TO:<demo@example.test>\r\nDATA\r\nSubject: bs\r\n\r\nover a pipe\r\n.\r\nQUIT\r\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("220 "), "{}", text(&out));
    assert!(
        stdout.contains("\r\n250 ") && stdout.contains("\r\n221 "),
        "{stdout}"
    );
    assert!(stdout.contains("\r\n354 "), "{stdout}");
    let got = mails(&site, 1);
    assert!(got[0].contains("over a pipe"), "{got:#?}");
}

#[test]
fn mailq_and_newaliases_by_name_and_dash_bv() {
    let (site, aliases) = site_with_aliases("root: demo\nstaff: root, far@elsewhere.test\n");
    let out = run_as(&site, "mailq", &[], "");
    assert!(out.status.success(), "{}", text(&out));
    let out = run_as(&site, "newaliases", &[], "");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).is_empty(), "{}", text(&out));
    let out = sendmail(&site, &["-bv", "staff", "nosuch"], "");
    let said = text(&out);
    assert_eq!(out.status.code(), Some(67), "{said}");
    assert!(
        said.contains("staff@example.test -> demo@example.test: deliverable: mailbox demo"),
        "{said}"
    );
    assert!(
        said.contains("-> far@elsewhere.test: deliverable"),
        "{said}"
    );
    assert!(
        said.contains("nosuch@example.test: undeliverable"),
        "{said}"
    );
    // A broken aliases file: newaliases names the file and line.
    let file = aliases.path().join("aliases");
    std::fs::write(&file, "root: demo\nbroken line\n").expect("write");
    let out = run_as(&site, "newaliases", &[], "");
    assert_eq!(out.status.code(), Some(78), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{}:2: ", file.display())),
        "{}",
        text(&out)
    );
}

#[test]
fn a_forged_return_path_is_replaced_not_stacked() {
    let site = Site::new("");
    let out = sendmail(
        &site,
        &["-f", "real@example.test", "demo@example.test"],
        "Return-Path: <forged@evil.test>\nSubject: rp\n\nbody\n",
    );
    assert!(out.status.success(), "{}", text(&out));
    let got = mails(&site, 1);
    assert!(
        got[0].starts_with("Return-Path: <real@example.test>\n"),
        "{}",
        got[0]
    );
    assert_eq!(got[0].matches("Return-Path:").count(), 1, "{}", got[0]);
}
