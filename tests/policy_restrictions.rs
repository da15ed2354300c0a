//! Handler restrictions (max_size, block_attachments) and copy-to on every way in besides SMTP
//! (tests/policy_routing.rs has smtpd): `postern sendmail` on a demo, and mail collected from a
//! real Dovecot POP3 server. All three go through `policy::restrictions`: a recipient whose
//! handler refuses the message is bounced while the others get it; refused by every recipient,
//! sendmail exits 65 and collect leaves the message on the server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;
mod policy_support;
mod remote_support;

use std::process::{Command, Stdio};

use common::{text, Demo};
use harness::{account, Setup};
use policy_support::{demo_with, mail_of};
use remote_support::Dsn;

const HANDLERS: &str = r#"
[[domain.handler]]
local = "small"
mailbox = "demo"
max_size = "2K"

[[domain.handler]]
local = "plain"
mailbox = "demo"
block_attachments = true

[[domain.handler]]
local = "niel"
mailbox = "demo"
copy_to = "boss@example.test"
"#;

/// A message with a text attachment (multipart/mixed).
fn with_attachment(to: &str) -> String {
    format!(
        "From: boss@example.test\nTo: {to}\nSubject: notes\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nsee \
         attached\n--b\nContent-Type: text/plain\nContent-Disposition: attachment; \
         filename=\"notes.txt\"\n\nthe notes\n--b--\n"
    )
}

fn big(to: &str) -> String {
    format!(
        "From: boss@example.test\nTo: {to}\nSubject: big\n\n{}",
        format!("{}\n", "x".repeat(70)).repeat(70)
    )
}

/// `postern sendmail -f boss@example.test RCPT…` with `message` on stdin: (exit code, stderr).
fn sendmail(d: &Demo, rcpts: &[&str], message: &str) -> (Option<i32>, String) {
    use std::io::Write;
    let mut child = Command::new(common::bin())
        .arg("--config")
        .arg(d.config())
        .args(["sendmail", "-f", "boss@example.test"])
        .args(rcpts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sendmail");
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(message.as_bytes()).expect("write");
    }
    let out = child.wait_with_output().expect("wait");
    (out.status.code(), text(&out))
}

#[test]
fn sendmail_applies_handler_restrictions_and_copies() {
    let d = demo_with(HANDLERS);
    d.add_user("boss", "boss-password-1");
    // Refused by its only recipient: exit 65 (EX_DATAERR) with the reason, nothing queued.
    let (code, err) = sendmail(&d, &["small@example.test"], &big("small@example.test"));
    assert_eq!(code, Some(65), "{err}");
    assert!(
        err.contains(
            "552 5.2.3 <small@example.test>: Message size exceeds this recipient's limit of 2048"
        ),
        "{err}"
    );
    let (code, err) = sendmail(
        &d,
        &["plain@example.test"],
        &with_attachment("plain@example.test"),
    );
    assert_eq!(code, Some(65), "{err}");
    assert!(
        err.contains("550 5.7.1 <plain@example.test> does not accept attachments"),
        "{err}"
    );
    assert!(policy_support::queue(&d).is_empty());
    // Refused by one of two: delivered to the other, and the sender gets a bounce.
    let (code, err) = sendmail(
        &d,
        &["demo@example.test", "small@example.test"],
        &big("demo@example.test, small@example.test"),
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("small@example.test: 552 5.2.3"), "{err}");
    assert_eq!(mail_of(&d, "demo", 1).len(), 1);
    let bounces = mail_of(&d, "boss", 1);
    assert_eq!(bounces.len(), 1, "log:\n{}", d.log());
    let dsn = Dsn::parse(&bounces[0]);
    assert_eq!(dsn.recipients.len(), 1);
    assert_eq!(dsn.recipient("small@example.test")["status"], "5.2.3");
    // copy_to: niel's mail reaches demo and a copy reaches boss; with an attachment plain
    // refuses, niel and the copy still get it.
    let (code, err) = sendmail(
        &d,
        &["niel@example.test", "plain@example.test"],
        &with_attachment("niel@example.test, plain@example.test"),
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(mail_of(&d, "demo", 2).len(), 2);
    let boss = mail_of(&d, "boss", 3);
    assert_eq!(boss.len(), 3, "copy and bounce for boss; log:\n{}", d.log());
    assert!(
        boss.iter()
            .any(|m| m.contains("Delivered-To: boss@example.test\n") && m.contains("see attached")),
        "no copy: {boss:?}"
    );
    let bounce = boss
        .iter()
        .filter(|m| m.contains("multipart/report"))
        .find(|m| m.contains("plain@example.test"))
        .expect("bounce for plain");
    assert_eq!(
        Dsn::parse(bounce).recipient("plain@example.test")["status"],
        "5.7.1"
    );
}

#[test]
fn collected_mail_gets_the_same_restrictions() {
    // Handlers of the remote domain branch.test (seed scenario 3: mail for it is collected).
    let toml = format!(
        "{}\n[[domain.handler]]\nlocal = \"small\"\nmailbox = \"bob\"\nmax_size = \"1K\"\n\
         [[domain.handler]]\nlocal = \"plain\"\nmailbox = \"jim\"\nblock_attachments = true\n\
         [[domain.handler]]\nlocal = \"copy\"\nmailbox = \"admin\"\ncopy_to = \"bob@example.test\"\n",
        account("isp", "delete = \"delivered\"")
    );
    let s = Setup::start(&["isp"], &toml);
    let sender = "Return-Path: <admin@example.test>\n";
    let big = format!("{}\n", "x".repeat(70)).repeat(30);
    let msg = |to: &str, subject: &str, body: &str| {
        format!("{sender}From: admin@example.test\nTo: {to}\nSubject: {subject}\n\n{body}\n")
    };
    // 1: too big for its only recipient; 2: too big for one of two; 3: an attachment for plain;
    // 4: a copy.
    s.put("isp", msg("small@branch.test", "one", &big).as_bytes());
    s.put(
        "isp",
        msg("small@branch.test, jim@example.test", "two", &big).as_bytes(),
    );
    s.put(
        "isp",
        with_attachment("plain@branch.test")
            .replace("Subject: notes", "Subject: three")
            .as_bytes(),
    );
    s.put("isp", msg("copy@branch.test", "four", "short").as_bytes());
    let out = s.collect(&["--account", "isp"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("refused=2"), "{log}");
    assert_eq!(
        log.matches("event=collect_refused").count(),
        2,
        "refusals are logged:\n{log}"
    );
    assert!(log.contains("event=recipient_refused"), "{log}");
    // The refused ones stay on the server; the others were delivered and deleted.
    assert_eq!(s.remote_count("isp"), 2, "{log}");
    let jim = s.mails("jim");
    assert_eq!(jim.len(), 1, "{log}");
    assert!(jim[0].contains("Subject: two"));
    let bob = s.mails("bob");
    assert_eq!(bob.len(), 1, "only the copy of four: {bob:?}");
    assert!(bob[0].contains("Subject: four") && bob[0].contains("Delivered-To: bob@example.test"));
    let admin = s.mails("admin");
    assert_eq!(
        admin.len(),
        2,
        "four and a bounce for two: {admin:?}\n{log}"
    );
    let bounce = admin
        .iter()
        .find(|m| m.contains("multipart/report"))
        .expect("bounce");
    assert_eq!(
        Dsn::parse(bounce).recipient("small@branch.test")["status"],
        "5.2.3"
    );
    // A second pass fetches nothing again: the refusals are remembered.
    let log = text(&s.collect(&["--account", "isp"]));
    assert!(log.contains("fetched=0"), "{log}");
    assert_eq!(s.mails("jim").len() + s.mails("bob").len(), 2);
}
