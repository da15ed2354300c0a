//! Milters end to end: a milter written with pymilter (Debian `python3-milter`, Sendmail's own
//! libmilter underneath) on a loopback port, the demo as the MTA, swaks and `postern sendmail`
//! as the clients. The milter rejects at MAIL, RCPT and end of message (a GTUBE body), discards,
//! and at the end of the message adds and changes headers, replaces the body, adds a recipient
//! and changes the sender. A milter that is down or hangs takes its default action.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;
mod remote_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{wait_for_child_port, Demo};
use policy_support::{demo_with, mail_of, queued, refused_with, swaks};
use remote_support::free_port;

const MILTER: &str = r#"
import sys, Milter

class Test(Milter.Base):
    def envfrom(self, f, *params):
        self.from_ = f
        if f.startswith("<reject@"):
            return Milter.REJECT
        if f.startswith("<temp@"):
            return Milter.TEMPFAIL
        return Milter.CONTINUE
    def envrcpt(self, to, *params):
        if to.startswith("<postmaster@"):
            self.setreply("550", "5.1.1", "no such user here, says the milter")
            return Milter.REJECT
        return Milter.CONTINUE
    def header(self, name, value):
        if name.lower() == "subject":
            self.subject = value
        return Milter.CONTINUE
    def eom(self):
        self.fp = getattr(self, "fp", None)
        return Milter.CONTINUE
    def body(self, chunk):
        self.text = getattr(self, "text", b"") + chunk
        return Milter.CONTINUE
    def eom(self):
        text = getattr(self, "text", b"")
        if b"GTUBE" in text:
            self.setreply("554", "5.7.1", "Gtube pattern")
            return Milter.REJECT
        if b"DISCARD-ME" in text:
            return Milter.DISCARD
        if b"QUARANTINE-ME" in text:
            self.quarantine("held for review")
            return Milter.ACCEPT
        self.addheader("X-Milter", "scanned by test")
        self.chgheader("Subject", 1, "[tagged] " + getattr(self, "subject", ""))
        if b"REPLACE-BODY" in text:
            self.replacebody(b"replaced body\r\n")
        if b"ADD-RCPT" in text:
            self.addrcpt("<postmaster@example.test>")
        if b"CHGFROM" in text:
            self.chgfrom("<bounces@example.test>")
        return Milter.ACCEPT

Milter.factory = Test
Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.CHGBODY | Milter.ADDRCPT
                 | Milter.DELRCPT | Milter.CHGFROM | Milter.QUARANTINE)
Milter.runmilter("test", "inet:%s@127.0.0.1" % sys.argv[1], 60)
"#;

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_milter(dir: &std::path::Path) -> (Proc, u16) {
    let script = dir.join("test_milter_peer.py");
    std::fs::write(&script, MILTER).unwrap();
    let port = free_port("127.0.0.1");
    let mut child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(port.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3-milter (bin/install-test-deps)");
    assert!(
        wait_for_child_port(&mut child, ([127, 0, 0, 1], port).into()),
        "the milter did not start (is python3-milter installed?)"
    );
    (Proc(child), port)
}

fn with_milter(port: u16, extra: &str) -> Demo {
    demo_with(&format!(
        "\n[[milter]]\nname = \"test\"\nsocket = \"inet:127.0.0.1:{port}\"\n{extra}\n"
    ))
}

fn send(d: &Demo, from: &str, to: &str, body: &str) -> String {
    swaks(
        d,
        &[
            "--from",
            from,
            "--to",
            to,
            "--header",
            "Subject: hello",
            "--body",
            body,
        ],
    )
}

#[test]
fn a_libmilter_milter_refuses_discards_and_changes_mail() {
    let tmp = tempfile::tempdir().unwrap();
    let (_milter, port) = start_milter(tmp.path());
    let d = with_milter(port, "timeout = \"10s\"");

    let out = send(&d, "reject@sender.test", "demo@example.test", "x");
    assert!(refused_with(&out, "554 5.7.1"), "{out}");
    let out = send(&d, "temp@sender.test", "demo@example.test", "x");
    assert!(refused_with(&out, "451 4.7.1"), "{out}");
    let out = send(
        &d,
        "a@sender.test",
        "demo@example.test",
        "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X",
    );
    assert!(refused_with(&out, "554 5.7.1 Gtube pattern"), "{out}");
    // Discarded: acknowledged, never delivered.
    let out = send(&d, "a@sender.test", "demo@example.test", "DISCARD-ME");
    assert!(queued(&out), "{out}");

    // Changed: header added, Subject changed, body replaced, a recipient added, sender changed.
    let out = send(
        &d,
        "a@sender.test",
        "demo@example.test",
        "REPLACE-BODY ADD-RCPT CHGFROM",
    );
    assert!(queued(&out), "{out}");
    // The plain case, through sendmail (the same intake).
    let msg = "To: demo@example.test\nSubject: from cron\n\nall fine\n";
    assert!(d.postern_stdin_ok(&["sendmail", "demo@example.test"], msg));

    // demo gets two: the changed one (also for the added recipient, postmaster, whose handler
    // is the demo user: one file for the mailbox) and sendmail's.
    let got = mail_of(&d, "demo", 2);
    assert_eq!(got.len(), 2, "{}", d.log());
    let changed: Vec<&String> = got.iter().filter(|m| m.contains("replaced body")).collect();
    assert_eq!(changed.len(), 1, "{got:?}");
    for m in &changed {
        assert!(m.contains("X-Milter: scanned by test"), "{m}");
        assert!(m.contains("Subject: [tagged] hello"), "{m}");
        assert!(!m.contains("REPLACE-BODY"), "{m}");
        assert!(m.starts_with("Return-Path: <bounces@example.test>"), "{m}");
    }
    let cron = got
        .iter()
        .find(|m| m.contains("all fine"))
        .expect("sendmail's");
    assert!(cron.contains("Subject: [tagged] from cron"), "{cron}");
    assert!(!got.iter().any(|m| m.contains("DISCARD-ME")));
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("event=message_received")
            && l.contains("from=bounces@example.test")
            && l.contains("to=demo@example.test,postmaster@example.test")),
        "the sender changed and a recipient added:\n{log}"
    );
    for action in ["reject", "tempfail", "discard", "continue"] {
        assert!(
            log.contains(&format!("event=milter milter=test action={action}")),
            "no {action}:\n{log}"
        );
    }
}

#[test]
fn a_recipient_the_milter_refuses_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let (_milter, port) = start_milter(tmp.path());
    let d = with_milter(port, "");
    // (The milter sees recipients after DATA, at the intake: its refusal is the message's.)
    let out = send(&d, "a@sender.test", "postmaster@example.test", "x");
    assert!(
        refused_with(&out, "550 5.1.1 no such user here, says the milter"),
        "{out}"
    );
    let out = send(
        &d,
        "a@sender.test",
        "demo@example.test,postmaster@example.test",
        "x",
    );
    assert!(queued(&out), "{out}");
    assert_eq!(mail_of(&d, "demo", 1).len(), 1);
    let log = d.log();
    assert!(
        log.lines().any(|l| l.contains("event=message_received")
            && l.contains("to=demo@example.test ")
            && !l.contains("postmaster")),
        "postmaster dropped:\n{log}"
    );
}

#[test]
fn a_milter_down_or_hanging_takes_its_default_action_within_its_timeout() {
    // Down: nothing listens on the port.
    let dead = free_port("127.0.0.1");
    let d = with_milter(dead, "timeout = \"2s\"");
    let out = send(&d, "a@sender.test", "demo@example.test", "x");
    assert!(
        refused_with(&out, "451 4.7.1"),
        "tempfail by default:\n{out}"
    );
    drop(d);
    let d = with_milter(dead, "timeout = \"2s\"\ndefault_action = \"accept\"");
    assert!(queued(&send(&d, "a@sender.test", "demo@example.test", "x")));
    drop(d);
    // Hanging: accepts the connection and never answers.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hang.local_addr().unwrap().port();
    let d = with_milter(port, "timeout = \"2s\"\ndefault_action = \"reject\"");
    let started = Instant::now();
    let out = send(&d, "a@sender.test", "demo@example.test", "x");
    assert!(refused_with(&out, "554 5.7.1"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let log = d.log();
    assert!(
        log.contains("action=unavailable") && log.contains("default=reject"),
        "{log}"
    );
    drop(hang);
}

/// A milter's quarantine parks the message in the hold queue, as Postfix does: acknowledged,
/// not delivered (not even to a local mailbox), listed with its reason; `queue release` lets it
/// go on to its mailbox.
#[test]
fn a_quarantined_message_waits_in_the_hold_queue_until_released() {
    let tmp = tempfile::tempdir().unwrap();
    let (_milter, port) = start_milter(tmp.path());
    let d = with_milter(port, "timeout = \"10s\"");
    let out = send(&d, "a@sender.test", "demo@example.test", "QUARANTINE-ME");
    assert!(queued(&out), "{out}");
    let held: Vec<serde_json::Value> = policy_support::queue(&d)
        .into_iter()
        .filter(|m| m["held"] == true)
        .collect();
    assert_eq!(held.len(), 1, "{}", d.log());
    assert_eq!(held[0]["quarantine"], "held for review");
    let id = held[0]["id"].as_str().unwrap().to_string();
    let ls = d.postern(&["queue", "ls"]);
    let human = String::from_utf8_lossy(&ls.stdout);
    assert!(human.contains("quarantined: held for review"), "{human}");
    assert!(
        d.log().lines().any(|l| l.contains("event=message_received")
            && l.contains("held=\"held for review\"")),
        "{}",
        d.log()
    );
    // Nothing reached the mailbox, even after a queue run.
    let flush = d.postern(&["queue", "flush"]);
    assert!(flush.status.success());
    std::thread::sleep(Duration::from_secs(2));
    let inbox = d.maildir("demo").join("new");
    let count = std::fs::read_dir(&inbox).map(|r| r.count()).unwrap_or(0);
    assert_eq!(count, 0, "a quarantined message was delivered");
    // Released, it is delivered.
    let out = d.postern(&["queue", "release", &id]);
    assert!(out.status.success(), "{out:?}");
    let flush = d.postern(&["queue", "flush"]);
    assert!(flush.status.success());
    let got = mail_of(&d, "demo", 1);
    assert_eq!(got.len(), 1, "{}", d.log());
    assert!(got[0].contains("QUARANTINE-ME"), "{}", got[0]);
}
