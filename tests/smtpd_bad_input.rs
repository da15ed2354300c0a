//! smtpd against hostile or broken clients: each gets the right reply (or timeout), nothing bad
//! is delivered, and the daemon serves the next client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::time::Duration;

use common::raw::py;
use common::site::{Daemon, Site};
use common::*;

/// A well-behaved client after the bad one: smtplib delivers a message, which arrives.
fn next_client_is_served(site: &Site, daemon: &Daemon, already: usize) {
    python(
        r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=10)
s.sendmail("next@client.test", ["demo@example.test"], "Subject: next client\r\n\r\nstill serving\r\n")
s.quit()
"#,
        &[&site.port.to_string()],
    );
    let files = wait_for_mail(&site.maildir("demo"), already + 1, Duration::from_secs(10));
    assert_eq!(files.len(), already + 1, "log:\n{}", daemon.log());
    assert!(files.iter().any(|f| std::fs::read_to_string(f)
        .unwrap_or_default()
        .contains("still serving")));
}

#[test]
fn over_long_lines_and_nul_bytes_get_5xx_and_the_session_goes_on() {
    let site = Site::new("");
    let d = site.smtpd("smtpd");
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
print(say(s, f, b"EHLO client.test\r\n").splitlines()[-1])
print(say(s, f, b"NOOP " + b"a" * 5000 + b"\r\n"))
print(say(s, f, b"NOOP\r\n"))
print(say(s, f, b"HELO cli\x00ent.test\r\n"))
print(say(s, f, b"MAIL FROM:<a@client.test>\r\n"))
print(say(s, f, b"RCPT TO:<demo@example.test>\r\n"))
print(say(s, f, b"DATA\r\n"))
print(say(s, f, b"Subject: long\r\n\r\n" + b"x" * 1200 + b"\r\n.\r\n"))
print(say(s, f, b"MAIL FROM:<a@client.test>\r\n"))
print(say(s, f, b"RCPT TO:<demo@example.test>\r\n"))
print(say(s, f, b"DATA\r\n"))
print(say(s, f, b"Subject: nul\r\n\r\nbefore\x00after\r\n.\r\n"))
print(say(s, f, b"QUIT\r\n"))
"#,
        &[&site.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    let want = [
        "250 HELP",
        "500 5.5.2 Line too long",
        "250 2.0.0",
        "500 5.5.2",
        "250 2.1.0",
        "250 2.1.5",
        "354 ",
        "554 5.6.0 Message has a line longer than 1000 bytes",
        "250 2.1.0",
        "250 2.1.5",
        "354 ",
        "554 5.6.0 Message contains NUL bytes",
        "221 2.0.0",
    ];
    assert_eq!(lines.len(), want.len(), "{out}");
    for (l, w) in lines.iter().zip(want) {
        assert!(l.starts_with(w), "{l:?} should start with {w:?}:\n{out}");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        maildir_files(&site.maildir("demo")).is_empty(),
        "a rejected message was delivered"
    );
    next_client_is_served(&site, &d, 0);
}

#[test]
fn bare_lf_and_bare_cr_cannot_smuggle_a_second_message() {
    let site = Site::new("");
    let d = site.smtpd("smtpd");
    // The 2023 smuggling family: a bare `\n.\n` or `\r.\r` followed by a second transaction. Only
    // CRLF.CRLF ends DATA, and a message with bare CR or LF is refused as a whole.
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
for end in [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n"]:
    print(say(s, f, b"MAIL FROM:<a@client.test>\r\n"))
    print(say(s, f, b"RCPT TO:<demo@example.test>\r\n"))
    print(say(s, f, b"DATA\r\n"))
    smuggled = (b"Subject: outer\r\n\r\nouter" + end +
                b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
                b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    print(say(s, f, smuggled))
print(say(s, f, b"NOOP\r\n"))
"#,
        &[&site.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines.len(),
        17,
        "exactly one reply per command, none for smuggled ones:\n{out}"
    );
    for round in lines[..16].chunks(4) {
        assert!(
            round[0].starts_with("250 2.1.0") && round[1].starts_with("250 2.1.5"),
            "{out}"
        );
        assert!(round[2].starts_with("354"), "{out}");
        assert!(round[3].starts_with("554 5.6.0"), "{out}");
    }
    assert!(lines[16].starts_with("250 2.0.0"), "{out}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        maildir_files(&site.maildir("demo")).is_empty(),
        "something was delivered"
    );
    assert!(!d.log().contains("evil@client.test"), "{}", d.log());
    next_client_is_served(&site, &d, 0);
}

#[test]
fn bdat_cannot_smuggle_either() {
    let site = Site::new("");
    let d = site.smtpd("smtpd");
    // BDAT has no end marker of its own, but what it stores goes out inside DATA: it is held to
    // DATA's rules. A bare line end anywhere, in the LAST chunk or an earlier one, refuses the
    // message (554 5.6.0); chunks already pipelined behind a refused one are read and dropped
    // (554 5.5.0) until LAST, and the session goes on.
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
tx = b"MAIL FROM:<a@client.test>\r\nRCPT TO:<demo@example.test>\r\n"
smuggled = (b"Subject: outer\r\n\r\nouter\r\n\n.\n"
            b"MAIL FROM:<evil@client.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
# One LAST chunk.
s.sendall(tx + b"BDAT %d LAST\r\n" % len(smuggled) + smuggled)
for _ in range(3):
    print(reply(f))
# A bad first chunk (bare CR), two more chunks pipelined behind it, then a clean message.
c1, c2, c3 = b"Subject: x\r\n\r\na\r.\rb\r\n", b"more\r\n", b"end\r\n"
clean = b"Subject: clean\r\n\r\nclean\r\n"
s.sendall(tx + b"BDAT %d\r\n" % len(c1) + c1 + b"BDAT %d\r\n" % len(c2) + c2 +
          b"BDAT %d LAST\r\n" % len(c3) + c3 + tx + b"BDAT %d LAST\r\n" % len(clean) + clean)
for _ in range(8):
    print(reply(f))
print(say(s, f, b"QUIT\r\n"))
"#,
        &[&site.port.to_string()],
    );
    let codes: Vec<&str> = out.lines().map(|l| l.get(..9).unwrap_or(l)).collect();
    assert_eq!(
        codes,
        [
            "250 2.1.0",
            "250 2.1.5",
            "554 5.6.0", // the LAST chunk
            "250 2.1.0",
            "250 2.1.5",
            "554 5.6.0",
            "554 5.5.0",
            "554 5.5.0", // first chunk
            "250 2.1.0",
            "250 2.1.5",
            "250 2.0.0", // the clean one
            "221 2.0.0",
        ],
        "{out}"
    );
    assert_eq!(
        wait_for_mail(&site.maildir("demo"), 1, Duration::from_secs(10)).len(),
        1
    );
    // Nothing more arrives: the smuggled message never existed.
    std::thread::sleep(Duration::from_millis(500));
    let files = maildir_files(&site.maildir("demo"));
    assert_eq!(files.len(), 1, "only the clean message: {files:?}");
    let msg = String::from_utf8_lossy(&std::fs::read(&files[0]).expect("read")).into_owned();
    assert!(msg.contains("Subject: clean"), "{msg}");
    assert!(!d.log().contains("evil@client.test"), "{}", d.log());
}

#[test]
fn ten_thousand_recipients_get_452_and_the_session_ends_cleanly() {
    let site = Site::new("");
    let d = site.smtpd("smtpd");
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
say(s, f, b"EHLO client.test\r\n")
burst = b"MAIL FROM:<a@client.test>\r\n" + b"RCPT TO:<demo@example.test>\r\n" * 10000 + b"DATA\r\n"
import threading
t = threading.Thread(target=lambda: s.sendall(burst))
t.daemon = True
t.start()
counts = {}
for _ in range(10002):
    r = reply(f)
    key = r[:9]
    counts[key] = counts.get(key, 0) + 1
    if r == "<EOF>" or r.startswith("421") or r.startswith("354"):
        break
for k in sorted(counts):
    print(k, counts[k])
"#,
        &[&site.port.to_string()],
    );
    // The first 100 (limits.recipients) are taken; the rest get 452 4.5.3 (RFC 5321 §4.5.3.1.10)
    // until the server, like Postfix past its overshoot limit, gives up with 421.
    assert!(out.contains("250 2.1.0 1\n"), "{out}");
    assert!(out.contains("250 2.1.5 100\n"), "{out}");
    assert!(out.contains("452 4.5.3 "), "{out}");
    assert!(!out.contains("\n5"), "no permanent errors: {out}");
    assert!(
        out.contains("421 4.7.0 1") || out.contains("354 End d 1"),
        "{out}"
    );
    next_client_is_served(&site, &d, 0);
}

#[test]
fn too_many_errors_end_the_session_with_421() {
    let site = Site::new("[limits]\nerrors = 3\n");
    let d = site.smtpd("smtpd");
    // Unknown commands, a syntax error and a bad sequence all count; good commands between them
    // do not reset the count. The third error is answered, then 421 and the close.
    let out = py(
        r#"
s, f = conn(sys.argv[1])
reply(f)
print(say(s, f, b"EHLO client.test\r\n").splitlines()[-1])
print(say(s, f, b"FROB\r\n"))
print(say(s, f, b"NOOP\r\n"))
print(say(s, f, b"MAIL FROM:a@client.test\r\n"))
print(say(s, f, b"RCPT TO:<demo@example.test>\r\n"))
print(reply(f))
print(reply(f))
"#,
        &[&site.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    let want = [
        "250 HELP",
        "500 5.5.2",
        "250 2.0.0",
        "501 5.5.4",
        "503 5.5.1",
        "421 4.7.0",
        "<EOF>",
    ];
    assert_eq!(lines.len(), want.len(), "{out}");
    for (l, w) in lines.iter().zip(want) {
        assert!(l.starts_with(w), "{l:?} should start with {w:?}:\n{out}");
    }
    next_client_is_served(&site, &d, 0);
}

#[test]
fn a_silent_client_is_timed_out_with_421() {
    let site = Site::new("[limits]\nidle_timeout = \"1s\"\n");
    let d = site.smtpd("smtpd");
    let out = py(
        r#"
s, f = conn(sys.argv[1])
print(reply(f))
print(reply(f))
s2, f2 = conn(sys.argv[1])
reply(f2)
print(say(s2, f2, b"EHLO client.test\r\n").splitlines()[0])
print(say(s2, f2, b"MAIL FROM:<a@client.test>\r\n"))
print(reply(f2))
print(reply(f2))
"#,
        &[&site.port.to_string()],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("220 "), "{out}");
    assert!(lines[1].starts_with("421 4.4.2"), "{out}");
    assert!(lines[2].starts_with("250-"), "{out}");
    assert!(lines[3].starts_with("250 2.1.0"), "{out}");
    // Idle mid-transaction: the same 421, then the connection is closed.
    assert!(lines[4].starts_with("421 4.4.2"), "{out}");
    assert_eq!(lines[5], "<EOF>", "{out}");
    assert!(d.log().contains("reason=\"idle timeout\""), "{}", d.log());
    next_client_is_served(&site, &d, 0);
}

#[test]
fn a_client_that_vanishes_mid_data_leaves_nothing_behind() {
    let site = Site::new("");
    let d = site.smtpd("smtpd");
    py(
        r#"
for i in range(3):
    s, f = conn(sys.argv[1])
    reply(f)
    say(s, f, b"EHLO client.test\r\n")
    say(s, f, b"MAIL FROM:<a@client.test>\r\n")
    say(s, f, b"RCPT TO:<demo@example.test>\r\n")
    assert say(s, f, b"DATA\r\n").startswith("354")
    s.sendall(b"Subject: cut\r\n\r\n" + b"half a message\r\n" * 1000)
    if i == 1:
        s.sendall(b".")
    if i == 2:
        s.sendall(b"\r\n.")
    s.close()
"#,
        &[&site.port.to_string()],
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        maildir_files(&site.maildir("demo")).is_empty(),
        "a partial message was delivered"
    );
    let queue = site.postern(&["queue", "ls", "--json"]);
    assert!(queue.status.success(), "{}", text(&queue));
    assert!(
        !text(&queue).contains("a@client.test"),
        "a partial message was queued: {}",
        text(&queue)
    );
    assert!(!d.log().contains("event=message_received"), "{}", d.log());
    next_client_is_served(&site, &d, 0);
}
