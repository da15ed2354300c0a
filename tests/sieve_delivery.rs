//! Sieve at local delivery on `serve --demo`: mail sent with swaks and Python's smtplib to
//! smtpd, and with `postern sendmail`, is filed as the user's script says; imaplib sees it in
//! the folders with the flags (and keywords) the script set; discard, reject (a bounce to the
//! sender; a 550 during a single-recipient SMTP transaction), redirect
//! (to a second local user, and to a remote aiosmtpd peer on loopback) behave; vacation answers
//! exactly once per sender within its period across a restart of the daemon, and never to `<>`,
//! a list or Auto-Submitted mail; a broken script and an impossible fileinto keep the mail in
//! the INBOX with an event logged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod remote_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use remote_support::Proc;

const SCRIPT: &str = r#"require ["fileinto", "imap4flags", "reject", "mailbox", "vacation", "copy", "envelope"];
if envelope :is "auth" "carol" { fileinto :create "FromColleagues"; stop; }
# Sorting by subject, as a user's client would generate it.
if header :contains "subject" "[lists]" { fileinto :create "Lists/rust"; stop; }
if header :contains "subject" "flagme" {
  fileinto :create :flags ["\\Seen", "\\Flagged"] "Flagged";
  stop;
}
if header :contains "subject" "dropme" { discard; stop; }
if header :contains "subject" "bounceme" { reject "not wanted here"; stop; }
if header :contains "subject" "tobob" { redirect "bob@example.test"; stop; }
if header :contains "subject" "toremote" { redirect :copy "someone@remote.test"; stop; }
if header :contains "subject" "nowhere" { fileinto "Does/Not/Exist"; stop; }
if header :contains "subject" "away" {
  vacation :days 1 :subject "Out of office" "I am away until Monday.";
}
"#;

/// swaks to the demo's SMTP port; panics unless the message was accepted.
fn swaks(demo: &Demo, from: &str, to: &str, subject: &str, headers: &[&str]) {
    let port = demo.port(2525).to_string();
    let server = format!("127.0.0.1:{port}");
    let subject = format!("Subject: {subject}");
    let mut args = vec![
        "--server",
        &server,
        "--from",
        from,
        "--to",
        to,
        "--header",
        &subject,
        "--body",
        "Hello there.",
        "--hide-all",
    ];
    for h in headers {
        args.extend(["--header", h]);
    }
    let out = Command::new("swaks").args(&args).output().expect("swaks");
    assert!(out.status.success(), "swaks {subject}: {}", text(&out));
}

/// smtplib with the null sender `<>`.
fn smtplib_null_sender(demo: &Demo, to: &str, subject: &str) {
    python(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)\n\
         msg = 'From: mailer@remote.test\\r\\nTo: ' + sys.argv[2] + '\\r\\nSubject: ' + sys.argv[3] + '\\r\\n\\r\\nbounce\\r\\n'\n\
         s.sendmail('', [sys.argv[2]], msg)\n\
         s.quit()\n",
        &[&demo.port(2525).to_string(), to, subject],
    );
}

/// Message files in a maildir folder (`None`: the INBOX) of `user`.
fn files(demo: &Demo, user: &str, folder: Option<&str>) -> Vec<PathBuf> {
    let md = demo.maildir(user);
    maildir_files(&folder.map_or(md.clone(), |f| md.join(format!(".{f}"))))
}

/// Waits until `check` holds (at most 20 s); whether it did.
fn eventually(mut check: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

fn contents(paths: &[PathBuf]) -> Vec<String> {
    paths
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .collect()
}

fn with_subject(demo: &Demo, user: &str, folder: Option<&str>, subject: &str) -> usize {
    contents(&files(demo, user, folder))
        .iter()
        .filter(|m| m.contains(&format!("Subject: {subject}")))
        .count()
}

/// Replies the vacation sent to `user`'s INBOX (not the bounce of the rejected message).
fn vacation_replies(demo: &Demo, user: &str) -> Vec<String> {
    contents(&files(demo, user, None))
        .into_iter()
        .filter(|m| m.contains("Auto-Submitted: auto-replied (vacation)"))
        .collect()
}

fn sink(dir: &Path, port: u16) -> Proc {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sieve_support/sink.py");
    let child = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(port.to_string())
        .arg(dir.join("sink.mbox"))
        .spawn()
        .expect("aiosmtpd sink");
    let proc = Proc(child);
    assert!(wait_for_port(
        ([127, 0, 0, 1], port).into(),
        Duration::from_secs(20)
    ));
    proc
}

#[test]
fn scripts_file_flag_discard_reject_redirect_and_answer() {
    let mut demo = Demo::start();
    for user in ["bob", "carol", "erin"] {
        demo.add_user(user, "pw-of-the-test");
    }
    let dir = tempfile::tempdir().unwrap();
    let _sink = sink(dir.path(), demo.port(2526));
    let script = dir.path().join("main.sieve");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = demo.postern(&[
        "sieve",
        "put",
        "demo",
        "main",
        script.to_str().unwrap(),
        "--activate",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // erin's script does not compile (written behind the CLI's back, which would refuse it).
    let erin = demo.maildir("erin").join("sieve");
    std::fs::create_dir_all(&erin).unwrap();
    std::fs::write(
        erin.join("broken.sieve"),
        "require \"fileinto\";\nfrobnicate;\n",
    )
    .unwrap();
    std::fs::write(erin.join("active"), "broken\n").unwrap();

    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "[lists] rust 1.99",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "please flagme",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "dropme now",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "plain hello",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "nowhere to go",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "erin@example.test",
        "for erin",
        &[],
    );
    // Two recipients: demo's reject cannot refuse in protocol (bob takes it), so it bounces.
    swaks(
        &demo,
        "carol@example.test",
        "demo@example.test,bob@example.test",
        "bounceme please",
        &[],
    );
    swaks(
        &demo,
        "carol@example.test",
        "demo@example.test",
        "tobob forward",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "toremote copy",
        &[],
    );
    assert!(demo.postern_stdin_ok(
        &["sendmail", "-f", "ann@remote.test", "demo@example.test"],
        "From: ann@remote.test\nSubject: [lists] via sendmail\n\nhi\n",
    ));

    // Submitted with AUTH: the script sees the authenticated user.
    let sub = format!("127.0.0.1:{}", demo.port(2587));
    let out = Command::new("swaks")
        .args([
            "--server",
            &sub,
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "carol",
        ])
        .args([
            "--auth-password",
            "pw-of-the-test",
            "--from",
            "carol@example.test",
        ])
        .args([
            "--to",
            "demo@example.test",
            "--header",
            "Subject: authenticated hello",
        ])
        .args(["--hide-all"])
        .output()
        .expect("swaks");
    assert!(out.status.success(), "{}", text(&out));

    let lists = Some("Lists.rust");
    assert!(
        eventually(|| files(&demo, "demo", lists).len() == 2),
        "{}",
        demo.log()
    );
    assert_eq!(with_subject(&demo, "demo", lists, "[lists] rust 1.99"), 1);
    assert_eq!(
        with_subject(&demo, "demo", lists, "[lists] via sendmail"),
        1
    );
    assert_eq!(
        with_subject(&demo, "demo", Some("Flagged"), "please flagme"),
        1
    );
    let flagged = files(&demo, "demo", Some("Flagged"));
    assert!(
        flagged[0].to_string_lossy().ends_with(":2,FS"),
        "{flagged:?}"
    );
    // Kept: the plain one, the impossible fileinto, the redirect :copy.
    assert!(eventually(|| with_subject(
        &demo,
        "demo",
        None,
        "toremote copy"
    ) == 1));
    assert_eq!(with_subject(&demo, "demo", None, "plain hello"), 1);
    assert_eq!(with_subject(&demo, "demo", None, "nowhere to go"), 1);
    assert_eq!(with_subject(&demo, "demo", None, "dropme now"), 0);
    assert_eq!(with_subject(&demo, "demo", None, "bounceme please"), 0);
    assert_eq!(with_subject(&demo, "demo", None, "tobob forward"), 0);
    assert_eq!(with_subject(&demo, "erin", None, "for erin"), 1);
    assert_eq!(
        with_subject(&demo, "demo", Some("FromColleagues"), "authenticated hello"),
        1,
        "{}",
        demo.log()
    );
    // Redirected to bob, marked, from the original sender.
    assert!(
        eventually(|| with_subject(&demo, "bob", None, "tobob forward") == 1),
        "{}",
        demo.log()
    );
    let to_bob = contents(&files(&demo, "bob", None)).join("");
    assert!(
        to_bob.contains("X-Postern-Sieve-Redirect: demo@example.test"),
        "{to_bob}"
    );
    assert!(
        to_bob.contains("Return-Path: <carol@example.test>"),
        "{to_bob}"
    );
    // Redirected to the remote peer.
    let mbox = dir.path().join("sink.mbox");
    assert!(
        eventually(|| std::fs::read_to_string(&mbox).is_ok_and(|m| m.contains("toremote copy"))),
        "{}",
        demo.log()
    );
    let remote = std::fs::read_to_string(&mbox).unwrap();
    assert!(
        remote.contains("MAIL FROM:<ann@remote.test> RCPT TO:<someone@remote.test>"),
        "{remote}"
    );
    // The rejected message came back to carol with the script's reason; bob has it.
    assert_eq!(with_subject(&demo, "bob", None, "bounceme please"), 1);
    assert!(
        eventually(|| contents(&files(&demo, "carol", None))
            .iter()
            .any(|m| m.contains("not wanted here"))),
        "{}",
        demo.log()
    );
    let log = demo.log();
    assert!(log.contains("event=sieve_discarded"), "{log}");
    assert!(
        log.contains("fileinto \\\"Does/Not/Exist\\\": no such folder"),
        "{log}"
    );
    assert!(
        log.contains("event=sieve_error") && log.contains("user=erin"),
        "{log}"
    );
    assert!(log.contains("frobnicate"), "{log}");

    // imaplib sees the folders and the flags.
    let out = python(
        "import imaplib, ssl, sys\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
         m = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)\n\
         m.login('demo', sys.argv[2])\n\
         print('LIST', m.list()[1])\n\
         print('LISTS', m.select('Lists/rust')[1])\n\
         m.select('Flagged')\n\
         print('FLAGS', m.fetch('1', '(FLAGS)')[1])\n\
         m.logout()\n",
        &[&demo.port(2993).to_string(), &demo.password()],
    );
    assert!(out.contains("Lists/rust"), "{out}");
    assert!(out.contains("LISTS [b'2']"), "{out}");
    let flags = out.lines().find(|l| l.starts_with("FLAGS")).unwrap();
    assert!(
        flags.contains("\\\\Seen") && flags.contains("\\\\Flagged"),
        "{out}"
    );

    // Vacation: once per sender within the period, across a restart.
    swaks(
        &demo,
        "carol@example.test",
        "demo@example.test",
        "away 1",
        &[],
    );
    assert!(
        eventually(|| vacation_replies(&demo, "carol").len() == 1),
        "{}",
        demo.log()
    );
    swaks(
        &demo,
        "carol@example.test",
        "demo@example.test",
        "away 2",
        &[],
    );
    demo.restart();
    swaks(
        &demo,
        "carol@example.test",
        "demo@example.test",
        "away 3",
        &[],
    );
    assert!(eventually(
        || with_subject(&demo, "demo", None, "away 3") == 1
    ));
    let replies = vacation_replies(&demo, "carol");
    assert_eq!(replies.len(), 1, "{}", demo.log());
    let r = &replies[0];
    assert!(r.contains("Subject: Out of office"), "{r}");
    assert!(r.contains("I am away until Monday."), "{r}");
    assert!(r.contains("Return-Path: <>"), "{r}");
    assert!(
        r.contains("In-Reply-To: <") && r.contains("References: <"),
        "{r}"
    );
    // Never to <>, a list, Auto-Submitted mail (the remote peer would get those replies).
    smtplib_null_sender(&demo, "demo@example.test", "away from nobody");
    swaks(
        &demo,
        "list@remote.test",
        "demo@example.test",
        "away on a list",
        &["List-Id: <rust.lists.remote.test>"],
    );
    swaks(
        &demo,
        "robot@remote.test",
        "demo@example.test",
        "away robot",
        &["Auto-Submitted: auto-generated"],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "away ann",
        &[],
    );
    assert!(
        eventually(|| std::fs::read_to_string(&mbox)
            .is_ok_and(|m| m.contains("RCPT TO:<ann@remote.test>"))),
        "{}",
        demo.log()
    );
    for subject in [
        "away from nobody",
        "away on a list",
        "away robot",
        "away ann",
    ] {
        assert!(
            eventually(|| with_subject(&demo, "demo", None, subject) == 1),
            "{subject}"
        );
    }
    let remote = std::fs::read_to_string(&mbox).unwrap();
    assert!(!remote.contains("RCPT TO:<list@remote.test>"), "{remote}");
    assert!(!remote.contains("RCPT TO:<robot@remote.test>"), "{remote}");
    let log = demo.log();
    assert!(
        log.contains("reason=\"the envelope sender is <>\""),
        "{log}"
    );
    assert!(
        log.contains("reason=\"the message came from a mailing list\""),
        "{log}"
    );
    assert!(
        log.contains("reason=\"the message is Auto-Submitted\""),
        "{log}"
    );
    assert!(
        log.contains("reason=\"already answered within the period\""),
        "{log}"
    );
}

#[test]
fn global_before_script_global_include_duplicate_and_editheader() {
    let mut demo = Demo::start();
    let global = demo.root().join("sieve-global");
    std::fs::create_dir_all(&global).unwrap();
    std::fs::write(
        demo.root().join("before.sieve"),
        "require [\"fileinto\", \"mailbox\"];\n\
         if header :contains \"subject\" \"global-spam\" { fileinto :create \"Quarantine\"; stop; }\n",
    )
    .unwrap();
    std::fs::write(
        global.join("common.sieve"),
        "require [\"fileinto\", \"mailbox\"];\n\
         if header :contains \"subject\" \"from-common\" { fileinto :create \"Common\"; }\n",
    )
    .unwrap();
    let mut config = std::fs::read_to_string(demo.config()).unwrap();
    config.push_str("\n[sieve]\nbefore = \"before.sieve\"\nglobal_dir = \"sieve-global\"\n");
    std::fs::write(demo.config(), config).unwrap();
    demo.restart();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("user.sieve");
    std::fs::write(
        &script,
        "require [\"include\", \"duplicate\", \"fileinto\", \"mailbox\", \"editheader\"];\n\
         include :global \"common\";\n\
         if duplicate { fileinto :create \"Dups\"; stop; }\n\
         addheader \"X-Filtered\" \"by postern\";\n",
    )
    .unwrap();
    let out = demo.postern(&[
        "sieve",
        "put",
        "demo",
        "user",
        script.to_str().unwrap(),
        "--activate",
    ]);
    assert!(out.status.success(), "{}", text(&out));

    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "global-spam offer",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "from-common news",
        &[],
    );
    for _ in 0..2 {
        swaks(
            &demo,
            "ann@remote.test",
            "demo@example.test",
            "same message",
            &["Message-Id: <dup-1@remote.test>"],
        );
    }
    assert!(
        eventually(|| with_subject(&demo, "demo", Some("Dups"), "same message") == 1),
        "{}",
        demo.log()
    );
    assert_eq!(with_subject(&demo, "demo", None, "same message"), 1);
    assert_eq!(
        with_subject(&demo, "demo", Some("Quarantine"), "global-spam offer"),
        1
    );
    assert_eq!(
        with_subject(&demo, "demo", None, "global-spam offer"),
        0,
        "the before script cancelled the keep"
    );
    assert_eq!(
        with_subject(&demo, "demo", Some("Common"), "from-common news"),
        1
    );
    assert_eq!(with_subject(&demo, "demo", None, "from-common news"), 0);
    let common = contents(&files(&demo, "demo", Some("Common"))).join("");
    assert!(
        common.contains("X-Filtered: by postern"),
        "editheader applies to the filed copy: {common}"
    );
    let inbox = contents(&files(&demo, "demo", None)).join("");
    assert!(inbox.contains("X-Filtered: by postern"), "{inbox}");

    // Two users redirecting to each other: the message ends in a mailbox, not in a circle.
    for (user, other) in [("loop1", "loop2"), ("loop2", "loop1")] {
        demo.add_user(user, "pw-of-the-test");
        let s = dir.path().join(format!("{user}.sieve"));
        std::fs::write(&s, format!("redirect \"{other}@example.test\";\n")).unwrap();
        let out = demo.postern(&["sieve", "put", user, "r", s.to_str().unwrap(), "--activate"]);
        assert!(out.status.success(), "{}", text(&out));
    }
    swaks(
        &demo,
        "ann@remote.test",
        "loop1@example.test",
        "round and round",
        &[],
    );
    assert!(
        eventually(|| with_subject(&demo, "loop1", None, "round and round") == 1),
        "{}",
        demo.log()
    );
    let kept = contents(&files(&demo, "loop1", None)).join("");
    assert!(
        kept.contains("X-Postern-Sieve-Redirect: loop2@example.test"),
        "{kept}"
    );
    assert_eq!(with_subject(&demo, "loop2", None, "round and round"), 0);
    assert!(
        demo.log()
            .contains("redirected this message before (a loop)"),
        "{}",
        demo.log()
    );
}

/// Puts `source` as `user`'s active script.
fn activate(demo: &Demo, user: &str, source: &str) {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("s.sieve");
    std::fs::write(&script, source).unwrap();
    let out = demo.postern(&[
        "sieve",
        "put",
        user,
        "s",
        script.to_str().unwrap(),
        "--activate",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn imap4flags_keywords_reach_imap_even_in_a_selected_mailbox() {
    let demo = Demo::start();
    let many: Vec<String> = (1..=30).map(|i| format!("\"k{i}\"")).collect();
    activate(
        &demo,
        "demo",
        &format!(
            "require [\"imap4flags\", \"fileinto\", \"mailbox\"];\n\
             if header :contains \"subject\" \"label\" {{ addflag \"$Label1\"; addflag [\"Work\", \"\\\\Seen\"]; }}\n\
             if header :contains \"subject\" \"project\" {{ fileinto :create :flags [\"Project\", \"\\\\Flagged\"] \"Proj\"; stop; }}\n\
             if header :contains \"subject\" \"many\" {{ fileinto :create :flags [{}] \"Many\"; stop; }}\n",
            many.join(", ")
        ),
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "project news",
        &[],
    );
    swaks(
        &demo,
        "ann@remote.test",
        "demo@example.test",
        "many words",
        &[],
    );
    // An IMAP session has the INBOX selected when the labelled message arrives (sent with
    // smtplib from the same script): it is told the new keywords (FLAGS) before the message.
    let out = python(
        "import imaplib, smtplib, ssl, sys, time\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE\n\
         m = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)\n\
         m.login('demo', sys.argv[2])\n\
         print('SELECT', m.select('INBOX')[1])\n\
         print('BEFORE', m.response('FLAGS')[1])\n\
         s = smtplib.SMTP('127.0.0.1', int(sys.argv[3]), timeout=30)\n\
         s.sendmail('ann@remote.test', ['demo@example.test'], 'From: ann@remote.test\\r\\nSubject: label me\\r\\n\\r\\nhi\\r\\n')\n\
         s.quit()\n\
         for _ in range(80):\n\
         \x20   m.noop()\n\
         \x20   if m.untagged_responses.get('EXISTS', [b'0'])[-1] != b'0':\n\
         \x20       break\n\
         \x20   time.sleep(0.25)\n\
         print('UPDATE', m.response('FLAGS')[1])\n\
         print('FETCH', m.fetch('1', '(FLAGS)')[1])\n\
         m.select('Proj')\n\
         print('PROJ', m.fetch('1', '(FLAGS)')[1])\n\
         m.select('Many')\n\
         print('MANY', m.response('FLAGS')[1], m.fetch('1', '(FLAGS)')[1])\n\
         m.logout()\n",
        &[
            &demo.port(2993).to_string(),
            &demo.password(),
            &demo.port(2525).to_string(),
        ],
    );
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_string()
    };
    assert!(line("SELECT").contains("[b'0']"), "{out}");
    assert!(!line("BEFORE").contains("$Label1"), "{out}");
    let update = line("UPDATE");
    assert!(
        update.contains("$Label1") && update.contains("Work"),
        "the selected session sees the new keywords: {out}\n{}",
        demo.log()
    );
    let fetch = line("FETCH");
    for flag in ["$Label1", "Work", "\\\\Seen"] {
        assert!(fetch.contains(flag), "{flag}: {out}");
    }
    let proj = line("PROJ");
    assert!(
        proj.contains("Project") && proj.contains("\\\\Flagged"),
        "{out}"
    );
    // The file name carries the letters, Dovecot's way.
    let proj_files = files(&demo, "demo", Some("Proj"));
    assert!(
        proj_files[0].to_string_lossy().ends_with(":2,Fa"),
        "{proj_files:?}"
    );
    // 30 keywords: 26 kept, the rest dropped with a log line.
    let many_line = line("MANY");
    assert!(
        many_line.contains("k26") && !many_line.contains("k27"),
        "{out}"
    );
    let log = demo.log();
    assert!(
        log.contains("beyond the mailbox's 26 keywords): k27 k28 k29 k30"),
        "{log}"
    );
}

#[test]
fn ereject_refuses_a_single_recipient_transaction_with_550() {
    let demo = Demo::start();
    demo.add_user("bob", "pw-of-the-test");
    demo.add_user("carol", "pw-of-the-test");
    activate(
        &demo,
        "demo",
        "require [\"ereject\", \"reject\"];\n\
         if header :contains \"subject\" \"ereject\" { ereject text:\nNo thanks:\nnot from you.\n.\n; }\n\
         if header :contains \"subject\" \"plain reject\" { reject \"Go away\"; }\n",
    );
    // swaks: refused at the end of DATA with the script's reason.
    let server = format!("127.0.0.1:{}", demo.port(2525));
    let out = Command::new("swaks")
        .args(["--server", &server, "--from", "carol@example.test"])
        .args([
            "--to",
            "demo@example.test",
            "--header",
            "Subject: ereject me",
        ])
        .output()
        .expect("swaks");
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("<** 550-5.7.1 No thanks:"), "{said}");
    assert!(said.contains("<** 550 5.7.1 not from you."), "{said}");
    // smtplib: the same for plain reject (RFC 5429 allows it in protocol too).
    let out = python(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)\n\
         try:\n\
         \x20   s.sendmail('carol@example.test', ['demo@example.test'], 'Subject: plain reject\\r\\n\\r\\nhi\\r\\n')\n\
         \x20   print('ACCEPTED')\n\
         except smtplib.SMTPDataError as e:\n\
         \x20   print('REFUSED', e.smtp_code, e.smtp_error.decode())\n\
         # Several recipients: demo's script cannot refuse for bob, so demo's reject bounces.\n\
         print('MULTI', s.sendmail('carol@example.test', ['demo@example.test', 'bob@example.test'], 'Subject: ereject two\\r\\n\\r\\nhi\\r\\n'))\n\
         s.quit()\n",
        &[&demo.port(2525).to_string()],
    );
    assert!(out.contains("REFUSED 550 5.7.1 Go away"), "{out}");
    assert!(out.contains("MULTI {}"), "{out}");
    // After acknowledgment (sendmail has no client to answer): a bounce.
    assert!(demo.postern_stdin_ok(
        &["sendmail", "-f", "carol@example.test", "demo@example.test"],
        "From: carol@example.test\nSubject: ereject by sendmail\n\nhi\n",
    ));
    assert!(
        eventually(|| with_subject(&demo, "bob", None, "ereject two") == 1),
        "{}",
        demo.log()
    );
    let bounced = |subject: &str| {
        contents(&files(&demo, "carol", None))
            .iter()
            .filter(|m| m.contains(&format!("Subject: {subject}")) && m.contains("No thanks:"))
            .count()
    };
    assert!(
        eventually(|| bounced("ereject two") == 1 && bounced("ereject by sendmail") == 1),
        "{}",
        demo.log()
    );
    // Refused in protocol: nothing stored, nothing queued, no bounce.
    assert_eq!(bounced("ereject me"), 0);
    assert!(!contents(&files(&demo, "carol", None))
        .iter()
        .any(|m| m.contains("Subject: plain reject")));
    for subject in [
        "ereject me",
        "plain reject",
        "ereject two",
        "ereject by sendmail",
    ] {
        assert_eq!(with_subject(&demo, "demo", None, subject), 0, "{subject}");
    }
    let queue = demo.postern(&["queue", "ls", "--json"]);
    assert!(queue.status.success(), "{}", text(&queue));
    assert!(
        !String::from_utf8_lossy(&queue.stdout).contains("demo@example.test"),
        "{}",
        text(&queue)
    );
    let log = demo.log();
    assert!(
        log.contains("event=sieve_refused") && log.contains("reason=\"Go away\""),
        "{log}"
    );
}

#[test]
fn envelope_to_is_the_address_given_orig_to_the_orcpt_and_vacation_knows_both() {
    let mut demo = Demo::start();
    for user in ["bob", "carol"] {
        demo.add_user(user, "pw-of-the-test");
    }
    let aliases = demo.root().join("aliases");
    std::fs::write(&aliases, "sales: demo\n").unwrap();
    let mut config = std::fs::read_to_string(demo.config()).unwrap();
    config.push_str(&format!(
        "\n[addresses]\naliases = \"{}\"\n",
        aliases.display()
    ));
    std::fs::write(demo.config(), config).unwrap();
    demo.restart();
    activate(
        &demo,
        "demo",
        "require [\"envelope\", \"fileinto\", \"mailbox\", \"vacation\"];\n\
         if envelope :is \"orig_to\" \"old@elsewhere.test\" { fileinto :create \"Forwarded\"; stop; }\n\
         if envelope :is \"to\" \"sales@example.test\" { fileinto :create \"Sales\"; }\n\
         if header :contains \"subject\" \"away\" { vacation :days 1 \"Back on Monday.\"; }\n",
    );
    swaks(
        &demo,
        "ann@remote.test",
        "sales@example.test",
        "for sales",
        &[],
    );
    swaks(&demo, "ann@remote.test", "demo@example.test", "direct", &[]);
    // ORCPT (RFC 3461) from a client that forwards mail first sent to old@elsewhere.test.
    let out = python(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30)\n\
         s.ehlo('forwarder.test')\n\
         print('DSN', s.has_extn('dsn'))\n\
         s.sendmail('ann@remote.test', ['demo@example.test'], 'Subject: forwarded\\r\\n\\r\\nhi\\r\\n', rcpt_options=['ORCPT=rfc822;old@elsewhere.test'])\n\
         s.quit()\n",
        &[&demo.port(2525).to_string()],
    );
    assert!(out.contains("DSN True"), "{out}");
    // Vacation: mail To: the alias is mail to the user (RFC 5230 §4.5)...
    swaks(
        &demo,
        "carol@example.test",
        "sales@example.test",
        "away at sales",
        &[],
    );
    // ...mail addressed to someone else is not.
    swaks(
        &demo,
        "bob@example.test",
        "sales@example.test",
        "away unaddressed",
        &["To: nobody@elsewhere.test"],
    );
    assert!(
        eventually(|| with_subject(&demo, "demo", Some("Sales"), "away unaddressed") == 1),
        "{}",
        demo.log()
    );
    assert_eq!(with_subject(&demo, "demo", Some("Sales"), "for sales"), 1);
    assert_eq!(
        with_subject(&demo, "demo", Some("Sales"), "away at sales"),
        1
    );
    assert_eq!(with_subject(&demo, "demo", None, "direct"), 1);
    assert_eq!(
        with_subject(&demo, "demo", Some("Forwarded"), "forwarded"),
        1,
        "{}",
        demo.log()
    );
    assert!(
        eventually(|| vacation_replies(&demo, "carol").len() == 1),
        "{}",
        demo.log()
    );
    assert!(vacation_replies(&demo, "carol")[0].contains("Back on Monday."));
    assert!(
        eventually(|| demo
            .log()
            .contains("reason=\"none of the user's addresses is in To, Cc or Bcc\"")),
        "{}",
        demo.log()
    );
    assert!(vacation_replies(&demo, "bob").is_empty(), "{}", demo.log());
}
