//! Receiving rules and ban lists end to end: `postern serve --demo` with extra config, driven by
//! swaks (and Python's smtplib where the SIZE= parameter matters). Each rule is triggered, with
//! its exact reply, and not triggered by an ordinary sender; the trusted class (a trusted
//! listener, a trusted network, an authenticated client) has rules of its own.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod policy_support;

use common::{python, Demo};
use policy_support::{
    attachment, body_of, demo_edited, demo_with, errors, mail_of, queued, refused_with, replied,
    swaks, swaks_at, swaks_auth, SMTP, SUBMISSION,
};

const UNTRUSTED_RULES: &str = r#"
[receiving.untrusted]
max_size = "20K"
block_extensions = ["exe"]
block_content_types = ["application/x-msdownload"]
block_numeric_sender_domains = true
block_empty_return_path = true
"#;

/// A message of `size` bytes through smtplib, which declares SIZE= at MAIL when the server
/// offers SIZE; prints where it was refused (`mail 552 5.3.4 …`, `rcpt …`, `data …`) or
/// `queued`.
const SMTPLIB: &str = r#"
import smtplib, sys
port, size, source, rcpt = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
msg = "Subject: sized\r\n\r\n" + ("x" * 70 + "\r\n") * (size // 72)
s = smtplib.SMTP("127.0.0.1", port, local_hostname="mta.test", source_address=(source, 0), timeout=20)
try:
    s.sendmail("a@b.test", [rcpt], msg)
    print("queued")
except smtplib.SMTPSenderRefused as e:
    print("mail", e.smtp_code, e.smtp_error.decode())
except smtplib.SMTPRecipientsRefused as e:
    for code, text in e.recipients.values():
        print("rcpt", code, text.decode())
except smtplib.SMTPDataError as e:
    print("data", e.smtp_code, e.smtp_error.decode())
s.quit()
"#;

fn smtplib(d: &Demo, base: u16, size: usize, source: &str, rcpt: &str) -> String {
    let port = d.port(base).to_string();
    let size = size.to_string();
    python(SMTPLIB, &[&port, &size, source, rcpt])
        .trim()
        .to_string()
}

fn to_demo<'a>(from: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--from", from, "--to", "demo@example.test"];
    args.extend_from_slice(extra);
    args
}

#[test]
fn each_untrusted_rule_triggered_and_not_triggered() {
    let d = demo_with(UNTRUSTED_RULES);
    let delivered = std::cell::Cell::new(0);
    let ok = |out: &str| {
        assert!(queued(out), "an ordinary message was refused:\n{out}");
        delivered.set(delivered.get() + 1);
    };
    // Numeric sender domain: refused at MAIL; an ordinary domain passes.
    let out = swaks(&d, &to_demo("a@[192.0.2.1]", &["--quit-after", "MAIL"]));
    assert!(
        refused_with(
            &out,
            "553 5.1.8 <a@[192.0.2.1]>: Sender address rejected: numeric domains"
        ),
        "{out}"
    );
    ok(&swaks(&d, &to_demo("a@b.test", &[])));
    // Empty return-path: refused at MAIL; a real return path passes (above).
    let out = swaks(&d, &to_demo("<>", &["--quit-after", "MAIL"]));
    assert!(
        refused_with(&out, "550 5.7.1 Empty return-path <> is not accepted"),
        "{out}"
    );
    // Size: over the class's 20K after DATA; 10K passes.
    let out = swaks(&d, &to_demo("a@b.test", &["--body", &body_of(30_000)]));
    assert!(
        refused_with(
            &out,
            "552 5.3.4 Message size exceeds the limit of 20480 bytes"
        ),
        "{out}"
    );
    ok(&swaks(
        &d,
        &to_demo("a@b.test", &["--body", &body_of(10_000)]),
    ));
    // … and declared with SIZE= it is refused at MAIL already (RFC 1870 §6.1).
    assert_eq!(
        smtplib(&d, SMTP, 30_000, "127.0.0.1", "demo@example.test"),
        "mail 552 5.3.4 Message size exceeds the limit of 20480 bytes"
    );
    assert_eq!(
        smtplib(&d, SMTP, 10_000, "127.0.0.1", "demo@example.test"),
        "queued"
    );
    delivered.set(delivered.get() + 1);
    // Attachments by extension, at the top level and inside an attached message; a .txt passes.
    let exe = attachment(&d, "setup.exe", 100);
    let out = swaks(&d, &to_demo("a@b.test", &["--attach", &exe]));
    assert!(
        refused_with(
            &out,
            "550 5.7.1 Message refused: attachments of type .exe are not accepted"
        ),
        "{out}"
    );
    let inner = swaks(
        &d,
        &to_demo(
            "a@b.test",
            &["--attach", &exe, "--quit-after", "EHLO", "--dump-mail"],
        ),
    );
    let start = inner.find("Date:").expect("dumped message");
    let eml = d.dir.path().join("forwarded.eml");
    std::fs::write(&eml, &inner[start..]).expect("write eml");
    let out = swaks(
        &d,
        &to_demo(
            "a@b.test",
            &[
                "--attach-type",
                "message/rfc822",
                "--attach",
                &format!("@{}", eml.display()),
            ],
        ),
    );
    assert!(
        refused_with(
            &out,
            "550 5.7.1 Message refused: attachments of type .exe are not accepted"
        ),
        "{out}"
    );
    ok(&swaks(
        &d,
        &to_demo("a@b.test", &["--attach", &attachment(&d, "notes.txt", 100)]),
    ));
    // Attachments by content type; another type passes.
    let bin = attachment(&d, "tool.bin", 100);
    let out = swaks(
        &d,
        &to_demo(
            "a@b.test",
            &[
                "--attach-type",
                "application/x-msdownload",
                "--attach",
                &bin,
            ],
        ),
    );
    assert!(
        refused_with(
            &out,
            "550 5.7.1 Message refused: content of type application/x-msdownload is not accepted"
        ),
        "{out}"
    );
    ok(&swaks(
        &d,
        &to_demo(
            "a@b.test",
            &["--attach-type", "application/pdf", "--attach", &bin],
        ),
    ));
    // Everything that passed arrived, nothing refused did.
    let n = delivered.get();
    assert_eq!(mail_of(&d, "demo", n).len(), n, "{}", d.log());
}

#[test]
fn trusted_class_rules_for_a_trusted_listener_network_and_authenticated_client() {
    // Trusted: the network 127.0.0.2/32, and a listener "lan" of its own on this demo's range.
    let d = demo_edited(
        |d, c| {
            let lan = format!(
                "\n[[listener]]\nname = \"lan\"\nprotocol = \"smtp\"\n\
                 address = \"127.0.0.1:{}\"\ntrusted = true\n",
                d.port(2530)
            );
            c.replace("networks = []", r#"networks = ["127.0.0.2/32"]"#) + &lan
        },
        r#"
[receiving.trusted]
max_size = "5K"
block_extensions = ["bat"]
[receiving.untrusted]
max_size = "50K"
"#,
    );
    assert!(
        common::wait_for_port(d.addr(2530), std::time::Duration::from_secs(20)),
        "{}",
        d.log()
    );
    let big = body_of(8_000);
    let bat = attachment(&d, "run.bat", 100);
    let mut delivered = 0;
    // The three ways to be trusted: the same rules for each.
    type Send<'a> = Box<dyn Fn(&[&str]) -> String + 'a>;
    let ways: Vec<(&str, Send<'_>)> = vec![
        ("lan listener", Box::new(|a: &[&str]| swaks_at(&d, 2530, a))),
        (
            "trusted network",
            Box::new(|a: &[&str]| {
                let mut all = vec!["--local-interface", "127.0.0.2"];
                all.extend_from_slice(a);
                swaks(&d, &all)
            }),
        ),
        ("authenticated", Box::new(|a: &[&str]| swaks_auth(&d, a))),
    ];
    for (how, send) in &ways {
        // Relay is allowed (the message waits for the demo's gateway).
        let out = send(&["--from", "a@b.test", "--to", "fred@hotmail.test"]);
        assert!(queued(&out), "{how}: relay refused\n{out}");
        // max_size of the trusted class: 8K is over 5K (the untrusted class would take 50K).
        let out = send(&to_demo("a@b.test", &["--body", &big]));
        assert!(
            refused_with(
                &out,
                "552 5.3.4 Message size exceeds the limit of 5120 bytes"
            ),
            "{how}:\n{out}"
        );
        let out = send(&to_demo("a@b.test", &["--attach", &bat]));
        assert!(
            refused_with(
                &out,
                "550 5.7.1 Message refused: attachments of type .bat are not accepted"
            ),
            "{how}:\n{out}"
        );
        // Not triggered: a small message without attachments, and an .exe (an untrusted rule
        // elsewhere, not one of this class).
        let exe = attachment(&d, "setup.exe", 100);
        let out = send(&to_demo("a@b.test", &["--attach", &exe]));
        assert!(queued(&out), "{how}:\n{out}");
        delivered += 1;
    }
    // SIZE= at MAIL against the trusted class's limit, from the trusted network; the same size
    // from an untrusted client is under its 50K.
    assert_eq!(
        smtplib(&d, SMTP, 8_000, "127.0.0.2", "demo@example.test"),
        "mail 552 5.3.4 Message size exceeds the limit of 5120 bytes"
    );
    assert_eq!(
        smtplib(&d, 2530, 8_000, "127.0.0.1", "demo@example.test"),
        "mail 552 5.3.4 Message size exceeds the limit of 5120 bytes"
    );
    assert_eq!(
        smtplib(&d, SMTP, 8_000, "127.0.0.1", "demo@example.test"),
        "queued"
    );
    delivered += 1;
    // An untrusted client (127.0.0.1 on the plain port) still may not relay.
    let out = swaks(
        &d,
        &[
            "--from",
            "a@b.test",
            "--to",
            "fred@hotmail.test",
            "--quit-after",
            "RCPT",
        ],
    );
    assert!(
        refused_with(&out, "554 5.7.1 <fred@hotmail.test>: Relay access denied"),
        "{out}"
    );
    drop(ways);
    assert_eq!(mail_of(&d, "demo", delivered).len(), delivered);
}

#[test]
fn scenario_4_lan_only_domain_refuses_other_recipients_even_when_trusted() {
    let d = demo_with(
        r#"
[[receiving.ban]]
field = "recipient"
op = "ends-with"
value = "@example.test"
negate = true
reply = "550 5.7.1 Only example.test recipients are accepted here"
"#,
    );
    let refusal = "550 5.7.1 Only example.test recipients are accepted here";
    fn rcpt(to: &str) -> [&str; 6] {
        [
            "--from",
            "demo@example.test",
            "--to",
            to,
            "--quit-after",
            "RCPT",
        ]
    }
    let out = swaks(&d, &rcpt("fred@hotmail.test"));
    assert!(refused_with(&out, refusal), "{out}");
    let out = swaks_auth(&d, &rcpt("fred@hotmail.test"));
    assert!(refused_with(&out, refusal), "{out}");
    let out = swaks_auth(&d, &rcpt("demo@example.test"));
    assert!(replied(&out, "250 2.1.5"), "{out}");
}

#[test]
fn bans_per_listener_and_on_headers_helo_and_client_ip() {
    let d = demo_with(
        r#"
[[receiving.ban]]
field = "sender"
op = "ends-with"
value = "@spam.test"
listeners = ["smtp"]

[[receiving.ban]]
field = "recipient"
op = "equals"
value = "sales@example.test"
listeners = ["submission"]
reply = "550 5.7.1 Sales takes no mail from the submission port"

[[receiving.ban]]
field = "header"
header = "Subject"
op = "matches"
value = "v[i1]agra"
reply = "554 5.7.1 Spam subject refused"

[[receiving.ban]]
field = "helo"
op = "starts-with"
value = "bad."

[[receiving.ban]]
field = "client-ip"
op = "equals"
value = "127.0.0.3"

[[domain.handler]]
local = "sales"
mailbox = "demo"
"#,
    );
    // The sender ban holds on the smtp listener, not on submission.
    let spam = to_demo("x@spam.test", &[]);
    let out = swaks(&d, &spam);
    assert!(
        refused_with(
            &out,
            "550 5.7.1 <x@spam.test>: Sender address rejected by policy"
        ),
        "{out}"
    );
    assert!(
        queued(&swaks_auth(&d, &spam)),
        "submission applies smtp's ban"
    );
    // The recipient ban holds on submission only.
    let sales = ["--from", "demo@example.test", "--to", "sales@example.test"];
    let out = swaks_auth(&d, &sales);
    assert!(
        refused_with(
            &out,
            "550 5.7.1 Sales takes no mail from the submission port"
        ),
        "{out}"
    );
    assert!(queued(&swaks(&d, &sales)));
    // The header ban holds everywhere, after DATA; another subject passes.
    let ways: [fn(&Demo, &[&str]) -> String; 2] = [swaks, swaks_auth];
    for send in ways {
        let out = send(
            &d,
            &to_demo("a@b.test", &["--header", "Subject: cheap V1AGRA"]),
        );
        assert_eq!(errors(&out), ["554 5.7.1 Spam subject refused"], "{out}");
        assert!(queued(&send(
            &d,
            &to_demo("a@b.test", &["--header", "Subject: minutes"])
        )));
    }
    // HELO and client address.
    let out = swaks(&d, &to_demo("a@b.test", &["--helo", "bad.example"]));
    assert!(
        refused_with(&out, "550 5.7.1 HELO name rejected by policy"),
        "{out}"
    );
    let out = swaks(
        &d,
        &to_demo("a@b.test", &["--local-interface", "127.0.0.3"]),
    );
    assert!(
        refused_with(&out, "550 5.7.1 Client host rejected by policy"),
        "{out}"
    );
    assert_eq!(mail_of(&d, "demo", 4).len(), 4);
}

#[test]
fn an_assumed_ip_is_trusted_as_its_user() {
    let d = demo_with(
        r#"
[[receiving.assume]]
network = "127.0.0.3/32"
user = "demo"
"#,
    );
    let from_assumed = |base: u16, to: &str| {
        swaks_at(
            &d,
            base,
            &[
                "--local-interface",
                "127.0.0.3",
                "--from",
                "demo@example.test",
                "--to",
                to,
            ],
        )
    };
    // It may relay (the message waits for the gateway) …
    let out = from_assumed(SMTP, "fred@hotmail.test");
    assert!(queued(&out), "{out}\n{}", d.log());
    // … and use the submission port without AUTH: it is that user already.
    let out = from_assumed(SUBMISSION, "demo@example.test");
    assert!(queued(&out), "{out}");
    let got = mail_of(&d, "demo", 1);
    assert_eq!(got.len(), 1);
    assert!(
        got[0].contains("with ESMTPA"),
        "not marked authenticated:\n{}",
        got[0]
    );
    // The queued relay message is recorded as sent by demo.
    let q = policy_support::queue(&d);
    assert_eq!(q.len(), 1, "{q:?}");
    let id = q[0]["id"].as_str().expect("id");
    let show = d.postern(&["queue", "show", id, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&show.stdout).expect("json");
    assert_eq!(v["envelope"]["auth_user"], "demo", "{v}");
    assert_eq!(v["envelope"]["trusted"], true, "{v}");
    // Anyone else on loopback is an ordinary untrusted client.
    let out = swaks(
        &d,
        &[
            "--from",
            "demo@example.test",
            "--to",
            "fred@hotmail.test",
            "--quit-after",
            "RCPT",
        ],
    );
    assert!(refused_with(&out, "554 5.7.1"), "{out}");
    let out = swaks_at(
        &d,
        SUBMISSION,
        &to_demo("demo@example.test", &["--quit-after", "MAIL"]),
    );
    assert!(
        refused_with(&out, "530 5.7.0 Authentication required"),
        "{out}"
    );
}
