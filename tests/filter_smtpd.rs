//! The content filter (`[filter]`) end to end: `postern serve --demo` with a real shell script as
//! the filter, driven by swaks (smtpd) and by `postern sendmail`. The script decides on the first
//! 4000 bytes only (it never reads the rest of stdin): a Subject with VIRUS-TEST rejects (exit 1,
//! as clamdscan does for a virus), BROKEN-TEST fails (exit 2, tempfail), HANG-TEST sleeps past the
//! timeout; anything else is accepted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::time::Duration;

use common::{have, run, text, wait_for_mail, Demo};

const SCRIPT: &str = r#"#!/bin/sh
head=$(head -c 4000)
case "$head" in
  *VIRUS-TEST*) echo "stdin: Eicar-Test-Signature FOUND"; exit 1;;
  *BROKEN-TEST*) echo "cannot reach clamd" >&2; exit 2;;
  *HANG-TEST*) sleep 30; exit 0;;
esac
exit 0
"#;

fn demo_with_filter() -> Demo {
    let mut d = Demo::start();
    let script = d.dir.path().join("filter.sh");
    std::fs::write(&script, SCRIPT).expect("script");
    let mut config = std::fs::read_to_string(d.config()).expect("config");
    config.push_str(&format!(
        "\n[filter]\ncommand = [\"/bin/sh\", \"{}\"]\ntimeout = \"2s\"\nreject_codes = [1]\n\
         reject_reply = \"554 5.7.1 Virus found, message refused\"\n",
        script.display()
    ));
    std::fs::write(d.config(), config).expect("write config");
    d.restart();
    d
}

fn swaks(d: &Demo, subject: &str, body: &str) -> String {
    let server = format!("127.0.0.1:{}", d.port(2525));
    let header = format!("Subject: {subject}");
    text(&run(
        "swaks",
        &[
            "--server",
            &server,
            "--timeout",
            "30",
            "--helo",
            "mta.test",
            "--from",
            "sender@outside.test",
            "--to",
            "demo@example.test",
            "--header",
            &header,
            "--body",
            body,
        ],
    ))
}

fn final_reply(out: &str, reply: &str) -> bool {
    out.lines()
        .any(|l| (l.starts_with("<**") || l.starts_with("<-")) && l.contains(reply))
}

#[test]
fn filter_verdicts_through_smtpd_and_sendmail() {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/install-test-deps)"
    );
    let d = demo_with_filter();
    let inbox = d.maildir("demo");

    let out = swaks(&d, "clean", "hello");
    assert!(final_reply(&out, "250 2.0.0 Ok: queued"), "{out}");
    wait_for_mail(&inbox, 1, Duration::from_secs(20));

    let out = swaks(&d, "VIRUS-TEST", "X5O!P%@AP");
    assert!(
        final_reply(&out, "554 5.7.1 Virus found, message refused"),
        "{out}"
    );
    let out = swaks(&d, "BROKEN-TEST", "x");
    assert!(
        final_reply(&out, "451 4.7.1 Content filter failed"),
        "{out}"
    );
    let out = swaks(&d, "HANG-TEST", "x");
    assert!(
        final_reply(&out, "451 4.7.1 Content filter timed out"),
        "{out}"
    );

    // A filter that reads only the start of a message larger than a pipe's buffer still accepts.
    let big = "0123456789abcdef\n".repeat(6000);
    let out = swaks(&d, "big one", &big);
    assert!(final_reply(&out, "250 2.0.0 Ok: queued"), "{out}");

    // Refusals leave nothing behind: the next message goes through.
    let out = swaks(&d, "clean again", "hello");
    assert!(final_reply(&out, "250 2.0.0 Ok: queued"), "{out}");
    let got = wait_for_mail(&inbox, 3, Duration::from_secs(20));
    assert_eq!(
        got.len(),
        3,
        "only accepted mail is delivered:\n{}",
        d.log()
    );

    // sendmail goes through the same filter: refused → non-zero exit, nothing queued.
    let virus = "To: demo@example.test\nSubject: VIRUS-TEST\n\nbad\n";
    assert!(!d.postern_stdin_ok(&["sendmail", "demo@example.test"], virus));
    let clean = "To: demo@example.test\nSubject: from sendmail\n\nfine\n";
    assert!(d.postern_stdin_ok(&["sendmail", "demo@example.test"], clean));
    let got = wait_for_mail(&inbox, 4, Duration::from_secs(20));
    assert_eq!(got.len(), 4, "{}", d.log());

    // Each verdict is an event in the log.
    let log = d.log();
    for (verdict, exit) in [
        ("accept", "0"),
        ("reject", "1"),
        ("tempfail", "2"),
        ("tempfail", "timeout"),
    ] {
        let needle = format!("event=filter verdict={verdict} exit={exit}");
        assert!(log.contains(&needle), "no {needle:?} in\n{log}");
    }
    assert!(log.contains("Eicar-Test-Signature FOUND"), "{log}");
}

/// A tagging filter with `modify = true`, as spamc or a disclaimer script is used: it adds an
/// `X-Spam-Flag` header (YES for a Subject with SPAM-TEST), appends a disclaimer line, and for
/// a Subject with GARBAGE-TEST prints something that is not a message.
const TAGGER: &str = r#"#!/bin/sh
msg=$(cat)
case "$msg" in
  *GARBAGE-TEST*) echo "this is not a message"; exit 0;;
  *SPAM-TEST*) flag=YES;;
  *) flag=NO;;
esac
printf 'X-Spam-Flag: %s\n' "$flag"
printf '%s\n' "$msg"
printf -- '-- \nSent through the example.test gateway\n'
echo "tagged $flag" >&2
"#;

#[test]
fn a_modifying_filter_tags_mail_from_smtpd_and_sendmail() {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/install-test-deps)"
    );
    let mut d = Demo::start();
    let script = d.dir.path().join("tagger.sh");
    std::fs::write(&script, TAGGER).expect("script");
    let mut config = std::fs::read_to_string(d.config()).expect("config");
    config.push_str(&format!(
        "\n[filter]\ncommand = [\"/bin/sh\", \"{}\"]\ntimeout = \"5s\"\nmodify = true\n",
        script.display()
    ));
    std::fs::write(d.config(), config).expect("write config");
    d.restart();
    let inbox = d.maildir("demo");

    let out = swaks(&d, "SPAM-TEST offer", "buy now");
    assert!(final_reply(&out, "250 2.0.0 Ok: queued"), "{out}");
    let out = swaks(&d, "GARBAGE-TEST", "x");
    assert!(
        final_reply(&out, "451 4.7.1 Content filter gave back no usable message"),
        "{out}"
    );
    let ham = "To: demo@example.test\nSubject: from cron\n\nall fine\n";
    assert!(d.postern_stdin_ok(&["sendmail", "demo@example.test"], ham));
    let got = wait_for_mail(&inbox, 2, Duration::from_secs(20));
    assert_eq!(got.len(), 2, "{}", d.log());
    let mut texts: Vec<String> = got
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("read"))
        .collect();
    texts.sort_by_key(|t| !t.contains("SPAM-TEST"));
    let (spam, ham) = (&texts[0], &texts[1]);
    for (t, flag) in [(spam, "YES"), (ham, "NO")] {
        // (maildir files have LF line ends)
        assert!(t.contains(&format!("\nX-Spam-Flag: {flag}\n")), "{t}");
        assert!(
            t.contains("\nSent through the example.test gateway\n"),
            "{t}"
        );
        assert!(!t.contains('\r'), "a CR kept:\n{t:?}");
        // Our trace header stays on top: the filter's version goes under it.
        assert!(t.find("Received:") < t.find("X-Spam-Flag:"), "{t}");
    }
    let log = d.log();
    assert!(log.contains("event=filter verdict=modify exit=0"), "{log}");
    assert!(log.contains("output=\"tagged YES\""), "{log}");
    assert!(
        log.contains("problem=\"the filter's message does not start with header fields\""),
        "{log}"
    );
}

/// The demo with the tagging filter (`modify = true`) and `spam_headers = ["X-Spam-Flag:
/// YES"]`, after `edit` changed its config.
fn tagging_demo(edit: impl FnOnce(String) -> String) -> Demo {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/install-test-deps)"
    );
    let mut d = Demo::start();
    let script = d.dir.path().join("tagger.sh");
    std::fs::write(&script, TAGGER).expect("script");
    let config = std::fs::read_to_string(d.config()).expect("config");
    assert!(config.contains("[delivery]\n"), "{config}");
    let mut config = edit(config.replace(
        "[delivery]\n",
        "[delivery]\nspam_headers = [\"X-Spam-Flag: YES\"]\n",
    ));
    config.push_str(&format!(
        "\n[filter]\ncommand = [\"/bin/sh\", \"{}\"]\ntimeout = \"5s\"\nmodify = true\n",
        script.display()
    ));
    std::fs::write(d.config(), config).expect("write config");
    d.restart();
    d
}

/// With `delivery.spam_headers`, the tagging filter's verdict files spam into the recipient's
/// `Junk` folder (made with the `\Junk` special-use attribute); other mail stays in the INBOX.
#[test]
fn spam_a_filter_marks_goes_to_the_junk_folder() {
    let d = tagging_demo(|c| c);
    let inbox = d.maildir("demo");
    let junk = inbox.join(".Junk");

    assert!(final_reply(
        &swaks(&d, "SPAM-TEST offer", "buy now"),
        "250 2.0.0 Ok: queued"
    ));
    assert!(final_reply(
        &swaks(&d, "lunch", "at noon"),
        "250 2.0.0 Ok: queued"
    ));
    let spam = wait_for_mail(&junk, 1, Duration::from_secs(20));
    assert_eq!(spam.len(), 1, "{}", d.log());
    let text = std::fs::read_to_string(&spam[0]).expect("read");
    assert!(
        text.contains("X-Spam-Flag: YES") && text.contains("SPAM-TEST"),
        "{text}"
    );
    let ham = wait_for_mail(&inbox, 1, Duration::from_secs(20));
    assert_eq!(ham.len(), 1, "{}", d.log());
    let text = std::fs::read_to_string(&ham[0]).expect("read");
    assert!(
        text.contains("X-Spam-Flag: NO") && text.contains("lunch"),
        "{text}"
    );
    let special = std::fs::read_to_string(junk.join("postern-special-use")).expect("special-use");
    assert!(special.contains("\\Junk"), "{special}");
}

/// Where spam goes is configurable per domain and per user: with the domain's `junk = false`
/// a tagged message stays in the INBOX; the user's own `junk = true` (in the users file, read
/// again without a restart) files it into Junk again.
#[test]
fn junk_filing_follows_the_domain_and_the_user_setting() {
    let domain = "[[domain]]\nname = \"example.test\"\n";
    let d = tagging_demo(|c| {
        assert!(c.contains(domain), "{c}");
        c.replace(domain, &format!("{domain}junk = false\n"))
    });
    let inbox = d.maildir("demo");
    let junk = inbox.join(".Junk");

    assert!(final_reply(
        &swaks(&d, "SPAM-TEST one", "buy now"),
        "250 2.0.0 Ok: queued"
    ));
    let got = wait_for_mail(&inbox, 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1, "{}", d.log());
    let text = std::fs::read_to_string(&got[0]).expect("read");
    assert!(text.contains("X-Spam-Flag: YES"), "{text}");
    assert!(
        !junk.join("new").exists() || std::fs::read_dir(junk.join("new")).unwrap().count() == 0
    );

    // The user opts in: the users file is read again on its next use.
    let users = d.root().join("users.toml");
    let text = std::fs::read_to_string(&users).expect("users file");
    let entry = "name = \"demo\"\n";
    assert!(text.contains(entry), "{text}");
    std::fs::write(
        &users,
        text.replace(entry, &format!("{entry}junk = true\n")),
    )
    .expect("write");
    assert!(final_reply(
        &swaks(&d, "SPAM-TEST two", "buy more"),
        "250 2.0.0 Ok: queued"
    ));
    let spam = wait_for_mail(&junk, 1, Duration::from_secs(20));
    assert_eq!(spam.len(), 1, "{}", d.log());
    let text = std::fs::read_to_string(&spam[0]).expect("read");
    assert!(text.contains("SPAM-TEST two"), "{text}");
}
