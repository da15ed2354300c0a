//! smtpd with real clients: swaks, curl, Python smtplib.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::time::Duration;

use common::*;

#[test]
fn swaks_delivers_to_the_demo_maildir() {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/test installs it)"
    );
    let demo = Demo::start();
    let port = demo.port(2525).to_string();
    let out = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &port,
            "--from",
            "alice@client.test",
            "--to",
            "demo@example.test",
            "--h-Subject",
            "swaks test",
            "--body",
            "Hello from swaks",
        ],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("250 2.0.0 Ok: queued as"), "{log}");
    let files = wait_for_mail(&demo.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1, "server log:\n{}", demo.log());
    let msg = std::fs::read_to_string(&files[0]).expect("read");
    assert!(
        msg.starts_with(
            "Return-Path: <alice@client.test>\nDelivered-To: demo@example.test\nReceived: from "
        ),
        "{msg}"
    );
    assert!(msg.contains("Subject: swaks test"));
    assert!(msg.contains("Hello from swaks"));
}

#[test]
fn smtplib_unknown_user_and_relay_are_refused() {
    let demo = Demo::start();
    let out = python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.ehlo("client.test")
for rcpt in ["nobody@example.test", "someone@elsewhere.test"]:
    s.mail("a@client.test")
    code, msg = s.rcpt(rcpt)
    print(code, msg.decode())
    s.rset()
print(s.noop()[0])
s.quit()
"#,
        &[&demo.port(2525).to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("550 5.1.1"), "{out}");
    assert!(lines[1].starts_with("554 5.7.1"), "{out}");
    assert_eq!(lines[2], "250");
}

#[test]
fn curl_sends_a_message() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().expect("tmp");
    let mail = dir.path().join("mail.txt");
    std::fs::write(
        &mail,
        "From: a@client.test\r\nTo: demo@example.test\r\nSubject: curl\r\n\r\nbody via curl\r\n",
    )
    .expect("write");
    let url = format!("smtp://127.0.0.1:{}/client.test", demo.port(2525));
    let out = run(
        "curl",
        &[
            "-sS",
            "--url",
            &url,
            "--mail-from",
            "a@client.test",
            "--mail-rcpt",
            "demo@example.test",
            "--upload-file",
            mail.to_str().expect("utf8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let files = wait_for_mail(&demo.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1);
    assert!(std::fs::read_to_string(&files[0])
        .expect("read")
        .contains("body via curl"));
}

#[test]
fn lines_starting_with_a_dot_arrive_unstuffed() {
    // smtplib dot-stuffs on the way out (RFC 5321 §4.5.2); smtpd must take one dot off again,
    // and a lone "." inside the body must not end the message.
    let demo = Demo::start();
    let body = ".hidden\r\n..two dots\r\n.\r\n. space\r\nend\r\n";
    python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
msg = "Subject: dots\r\n\r\n" + sys.argv[2]
s.sendmail("a@client.test", ["demo@example.test"], msg)
s.quit()
"#,
        &[&demo.port(2525).to_string(), body],
    );
    let files = wait_for_mail(&demo.maildir("demo"), 1, Duration::from_secs(10));
    assert_eq!(files.len(), 1, "server log:\n{}", demo.log());
    let msg = std::fs::read_to_string(&files[0]).expect("read");
    let (_, got) = msg.split_once("Subject: dots\n\n").expect("body");
    assert_eq!(got, body.replace("\r\n", "\n"), "{msg}");
}

#[test]
fn a_recipient_given_twice_gets_one_copy() {
    let demo = Demo::start();
    python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("a@client.test", ["demo@example.test", "Demo@Example.Test"], "Subject: twice\r\n\r\nonce\r\n")
s.quit()
"#,
        &[&demo.port(2525).to_string()],
    );
    let files = wait_for_mail(&demo.maildir("demo"), 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(500));
    let files = wait_for_mail(
        &demo.maildir("demo"),
        files.len().max(1),
        Duration::from_secs(1),
    );
    assert_eq!(files.len(), 1, "server log:\n{}", demo.log());
}
