//! Routing end to end through smtpd with swaks: a redirect-all domain (with a handler that
//! overrides it), a handler forwarding through a named `[[remote.server]]` (Postfix's smtp-sink
//! on loopback), and a handler's `max_size` — refused at RCPT when SIZE= says so, after DATA only
//! for that recipient (the others get the message, the sender a bounce), for the whole message
//! only when every recipient refuses it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;
mod remote_support;

use common::{have, python, Demo};
use policy_support::{body_of, demo_edited, errors, mail_of, queued, refused_with, swaks};
use remote_support::{free_port, Dsn, Sink};

fn demo(sink_port: u16) -> Demo {
    demo_edited(
        |_, c| c,
        &format!(
            r#"
[[domain.handler]]
local = "jim"
forward = "jim@hq.test"
server = "hq"

[[domain.handler]]
local = "small"
mailbox = "demo"
max_size = "2K"

[[domain.handler]]
local = "niel"
mailbox = "demo"
copy_to = "boss@example.test"

[[remote.server]]
name = "hq"
host = "127.0.0.1"
port = {sink_port}

[[domain]]
name = "redirect.test"
redirect = "boss"

[[domain.handler]]
local = "keep"
mailbox = "demo"
"#
        ),
    )
}

#[test]
fn redirect_all_with_a_handler_override_and_forwarding_through_a_named_server() {
    assert!(
        have("smtp-sink"),
        "Postfix's smtp-sink is not installed (bin/install-test-deps)"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let sink = Sink::start(
        "127.0.0.1",
        free_port("127.0.0.1"),
        &tmp.path().join("hq"),
        &[],
    );
    let d = demo(sink.port);
    d.add_user("boss", "boss-password-1");
    let send = |to: &str| swaks(&d, &["--from", "a@b.test", "--to", to]);
    // Every address of redirect.test lands in boss's mailbox, whatever its case …
    for to in ["anyone@redirect.test", "Someone.Else@REDIRECT.TEST"] {
        assert!(queued(&send(to)), "{to}");
    }
    let got = mail_of(&d, "boss", 2);
    assert_eq!(got.len(), 2, "{}", d.log());
    for to in ["anyone@redirect.test", "Someone.Else@REDIRECT.TEST"] {
        assert!(
            got.iter()
                .any(|m| m.contains(&format!("Delivered-To: {to}\n"))),
            "{to} not in {got:?}"
        );
    }
    // … except the one with a handler of its own.
    assert!(queued(&send("keep@redirect.test")));
    let demo_mail = mail_of(&d, "demo", 1);
    assert_eq!(demo_mail.len(), 1);
    assert!(demo_mail[0].contains("Delivered-To: keep@redirect.test\n"));
    assert_eq!(mail_of(&d, "boss", 2).len(), 2);
    // jim's handler forwards to jim@hq.test through the server "hq" (not the demo's gateway).
    assert!(queued(&send("jim@example.test")));
    let at_hq = sink.wait_for(1);
    assert_eq!(at_hq.len(), 1, "{}", d.log());
    assert!(
        at_hq[0].contains("X-Rcpt-Args: <jim@hq.test>"),
        "{}",
        at_hq[0]
    );
    assert!(
        policy_support::queue(&d).is_empty(),
        "{:?}",
        policy_support::queue(&d)
    );
}

/// smtplib sends SIZE= at MAIL: prints the refused recipients (or `none`).
const SIZED: &str = r#"
import smtplib, sys
port, size = int(sys.argv[1]), int(sys.argv[2])
msg = "Subject: sized\r\n\r\n" + ("x" * 70 + "\r\n") * (size // 72)
s = smtplib.SMTP("127.0.0.1", port, local_hostname="mta.test", timeout=20)
try:
    refused = s.sendmail("boss@example.test", sys.argv[3:], msg)
    print(" ".join(f"{a}={c} {t.decode()}" for a, (c, t) in refused.items()) or "none")
except smtplib.SMTPRecipientsRefused as e:
    print("all refused:", " ".join(f"{a}={c}" for a, (c, t) in e.recipients.items()))
s.quit()
"#;

#[test]
fn a_handlers_max_size_refuses_only_its_recipient() {
    let d = demo(free_port("127.0.0.1"));
    d.add_user("boss", "boss-password-1");
    let port = d.port(2525).to_string();
    // SIZE= over small's 2K: refused at RCPT, demo still gets it.
    let out = python(
        SIZED,
        &[&port, "5000", "demo@example.test", "small@example.test"],
    );
    assert_eq!(
        out.trim(),
        "small@example.test=552 5.2.3 <small@example.test>: Message size exceeds this \
         recipient's limit of 2048 bytes"
    );
    let out = python(SIZED, &[&port, "5000", "small@example.test"]);
    assert_eq!(out.trim(), "all refused: small@example.test=552");
    assert_eq!(mail_of(&d, "demo", 1).len(), 1);
    // Without SIZE= (swaks sends none) the limit is found after DATA: the message is taken for
    // demo, and boss (the sender) gets a bounce for small.
    let big = body_of(5000);
    let out = swaks(
        &d,
        &[
            "--from",
            "boss@example.test",
            "--to",
            "demo@example.test,small@example.test",
            "--body",
            &big,
        ],
    );
    assert!(queued(&out), "{out}");
    assert_eq!(mail_of(&d, "demo", 2).len(), 2);
    let bounces = mail_of(&d, "boss", 1);
    assert_eq!(bounces.len(), 1, "no bounce; log:\n{}", d.log());
    let dsn = Dsn::parse(&bounces[0]);
    let small = dsn.recipient("small@example.test");
    assert_eq!(small["action"], "failed");
    assert_eq!(small["status"], "5.2.3");
    assert!(
        small["diagnostic-code"].starts_with("smtp; 552 5.2.3 <small@example.test>"),
        "{small:?}"
    );
    assert_eq!(
        dsn.recipients.len(),
        1,
        "only small bounced: {:?}",
        dsn.recipients
    );
    // Refused by its only recipient, the message itself is refused after DATA.
    let out = swaks(
        &d,
        &[
            "--from",
            "boss@example.test",
            "--to",
            "small@example.test",
            "--body",
            &big,
        ],
    );
    assert_eq!(
        errors(&out),
        ["552 5.2.3 <small@example.test>: Message size exceeds this recipient's limit of 2048 bytes"],
        "{out}"
    );
    assert!(refused_with(&out, "552 5.2.3"));
    // Under the limit it is delivered.
    let out = swaks(
        &d,
        &["--from", "boss@example.test", "--to", "small@example.test"],
    );
    assert!(queued(&out), "{out}");
    assert_eq!(mail_of(&d, "demo", 3).len(), 3);
    assert_eq!(mail_of(&d, "boss", 1).len(), 1, "one bounce only");
}

#[test]
fn an_alias_with_copy_to_reaches_its_mailbox_and_the_copy() {
    let d = demo(free_port("127.0.0.1"));
    d.add_user("boss", "boss-password-1");
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "niel@example.test",
            "--header",
            "Subject: alias",
        ],
    );
    assert!(queued(&out), "{out}");
    let got = mail_of(&d, "demo", 1);
    assert_eq!(got.len(), 1, "{}", d.log());
    assert!(got[0].contains("Delivered-To: niel@example.test\n"));
    let copy = mail_of(&d, "boss", 1);
    assert_eq!(copy.len(), 1, "copy-to not delivered; log:\n{}", d.log());
    assert!(
        copy[0].contains("Delivered-To: boss@example.test\n") && copy[0].contains("Subject: alias")
    );
    // The sender named one recipient: the copy is not in the message's headers.
    assert!(!copy[0].contains("boss@example.test>") && !copy[0].to_lowercase().contains("bcc"));
}
