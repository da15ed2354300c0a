//! imapd with real clients: Python imaplib (every command, corpus ENVELOPE/BODYSTRUCTURE
//! compared literally), curl, openssl s_client (STARTTLS and implicit TLS), IDLE seeing a
//! delivery from smtpd, two sessions on one mailbox staying consistent, the cache against
//! changes behind its back; the hosting modes (`imap/hosting.rs`) and security over the
//! network (`imap/security.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "imap/hosting.rs"]
mod hosting;
#[path = "imap/security.rs"]
mod security;

use common::{have, python, run, text, Demo};

const COMMANDS: &str = include_str!("imap/commands.py");
const IDLE: &str = include_str!("imap/idle.py");
const CONCURRENT: &str = include_str!("imap/concurrent.py");

fn corpus() -> String {
    format!("{}/tests/data/imap", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn imaplib_whole_command_set() {
    let demo = Demo::start();
    let out = python(
        COMMANDS,
        &[&demo.port(2993).to_string(), &demo.password(), &corpus()],
    );
    assert!(out.contains("all commands ok"), "{out}\n{}", demo.log());
    // Nothing was created outside the user's maildir.
    let mail = demo.root().join("mail");
    let entries: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, vec!["demo".to_string()], "{entries:?}");
}

/// IDLE hears deliveries, flag changes and expunges within a second: the maildir is watched
/// (inotify), not polled; a failure to watch would be logged as `idle_watch_failed`.
#[test]
fn idle_sees_a_delivery_from_smtpd() {
    let demo = Demo::start();
    let out = python(
        IDLE,
        &[
            &demo.port(2993).to_string(),
            &demo.port(2525).to_string(),
            &demo.password(),
        ],
    );
    eprintln!("{out}");
    let slowest: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("slowest "))
        .and_then(|s| s.trim_end_matches('s').parse().ok())
        .unwrap_or_else(|| panic!("no delay reported: {out}"));
    assert!(slowest < 1.0, "an IDLE update took {slowest} s: {out}");
    assert!(!demo.log().contains("idle_watch_failed"), "{}", demo.log());
}

/// Messages written into and deleted from the maildir directly (not through imapd) while a
/// session has it selected and between sessions, and a damaged cache file: SELECT and
/// `FETCH 1:* (UID RFC822.SIZE ENVELOPE BODYSTRUCTURE)` always match the files.
#[test]
fn cache_stays_correct_when_the_maildir_changes_behind_its_back() {
    let demo = Demo::start();
    // The first login makes the maildir.
    let maildir = demo.maildir("demo");
    python(
        "import imaplib, ssl, sys\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\n\
         M = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)\n\
         M.login('demo', sys.argv[2]); M.logout()\n",
        &[&demo.port(2993).to_string(), &demo.password()],
    );
    let out = python(
        include_str!("imap/cache.py"),
        &[
            &demo.port(2993).to_string(),
            &demo.password(),
            maildir.to_str().expect("utf-8 path"),
        ],
    );
    assert!(out.contains("cache consistent"), "{out}\n{}", demo.log());
}

#[test]
fn two_sessions_on_one_mailbox_stay_consistent() {
    let demo = Demo::start();
    let out = python(
        CONCURRENT,
        &[&demo.port(2993).to_string(), &demo.password()],
    );
    assert!(out.contains("consistent"), "{out}");
}

#[test]
fn curl_lists_fetches_and_appends() {
    assert!(
        have("curl"),
        "curl is not installed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    let user = format!("demo:{}", demo.password());
    let base = format!("imaps://127.0.0.1:{}", demo.port(2993));
    let msg = demo.dir.path().join("upload.eml");
    std::fs::write(
        &msg,
        "From: curl@example.org\r\nSubject: uploaded by curl\r\n\r\nhello from curl\r\n",
    )
    .unwrap();
    let up = run(
        "curl",
        &[
            "-sSk",
            "--user",
            &user,
            "-T",
            msg.to_str().unwrap(),
            &format!("{base}/INBOX"),
        ],
    );
    assert!(up.status.success(), "upload: {}", text(&up));

    let list = run("curl", &["-sSk", "--user", &user, &format!("{base}/")]);
    let listing = text(&list);
    assert!(list.status.success(), "{listing}");
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(listing.contains(name), "{name} missing from {listing}");
    }

    let fetch = run(
        "curl",
        &["-sSk", "--user", &user, &format!("{base}/INBOX;UID=1")],
    );
    assert!(text(&fetch).contains("hello from curl"), "{}", text(&fetch));

    let examine = run(
        "curl",
        &[
            "-sSk",
            "--user",
            &user,
            "-X",
            "EXAMINE INBOX",
            &format!("{base}/"),
        ],
    );
    let t = text(&examine);
    assert!(t.contains("1 EXISTS") && t.contains("UIDVALIDITY"), "{t}");

    let search = run(
        "curl",
        &[
            "-sSk",
            "--user",
            &user,
            "-X",
            "UID SEARCH SUBJECT curl",
            &format!("{base}/INBOX"),
        ],
    );
    assert!(text(&search).contains("SEARCH 1"), "{}", text(&search));
}

#[test]
fn mbsync_syncs_5000_messages_both_ways() {
    assert!(
        have("mbsync"),
        "mbsync is not installed (isync, bin/install-test-deps)"
    );
    let demo = Demo::start();
    let work = demo.dir.path().join("mbsync");
    std::fs::create_dir_all(&work).unwrap();
    let cert = demo.root().join("cert.pem");
    let out = python(
        include_str!("imap/mbsync.py"),
        &[
            &demo.port(2993).to_string(),
            &demo.password(),
            cert.to_str().unwrap(),
            demo.maildir("demo").to_str().unwrap(),
            work.to_str().unwrap(),
        ],
    );
    eprintln!("{out}");
    assert!(
        out.contains("in sync: 4892 messages"),
        "{out}\n{}",
        demo.log()
    );
}

/// popd deleting while imapd has the INBOX selected: Python poplib over POP3S deletes
/// message 1 (DELE, QUIT) between the IMAP session's SELECT and its next commands.
#[test]
fn popd_deleting_while_imapd_has_the_mailbox_selected() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};

    let demo = Demo::start();
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(include_str!("imap/popd.py"))
        .args([&demo.port(2993).to_string(), &demo.password()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "selected", "{line}");

    let pop = python(
        "import poplib, ssl, sys\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\n\
         p = poplib.POP3_SSL('127.0.0.1', int(sys.argv[1]), context=ctx)\n\
         p.user('demo'); p.pass_(sys.argv[2])\n\
         assert p.stat()[0] == 3, p.stat()\n\
         print(p.dele(1)); print(p.quit())\n",
        &[&demo.port(2995).to_string(), &demo.password()],
    );
    assert!(pop.contains("+OK"), "{pop}\n{}", demo.log());
    writeln!(stdin, "deleted").unwrap();

    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    eprintln!("{rest}");
    assert!(
        status.success() && rest.contains("consistent after pop3 delete"),
        "{rest}\n{err}\n{}",
        demo.log()
    );
}

/// `UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])` of a mailbox far larger than one step of
/// output (256 KiB), so that the server prepares each part while the last is being written and
/// reuses its buffers: with imaplib over TLS, twice (sizes unknown, then known), every body is
/// the file in CRLF form and RFC822.SIZE its length. Messages of every shape follow each other:
/// LF and CRLF line ends, empty, one large one, so that no bytes of one can show in the next.
#[test]
fn a_long_fetch_of_the_whole_mailbox_returns_every_file_exactly() {
    let demo = Demo::start();
    let maildir = demo.maildir("demo");
    python(
        "import imaplib, ssl, sys\n\
         ctx = ssl.create_default_context(); ctx.check_hostname = False\n\
         ctx.verify_mode = ssl.CERT_NONE\n\
         M = imaplib.IMAP4_SSL('127.0.0.1', int(sys.argv[1]), ssl_context=ctx)\n\
         M.login('demo', sys.argv[2]); M.logout()\n",
        &[&demo.port(2993).to_string(), &demo.password()],
    );
    let script = r#"
import imaplib, os, ssl, sys
port, password, maildir = int(sys.argv[1]), sys.argv[2], sys.argv[3]
new = os.path.join(maildir, "new")
sent = []
for i in range(600):
    if i % 97 == 5:
        body = b""
    elif i % 97 == 6:
        body = b"Subject: big\n\n" + b"0123456789abcdef" * 20000 + b"\n"
    elif i % 2:
        body = b"Subject: crlf %d\r\n\r\n" % i + b"line of a crlf message\r\n" * (i % 300)
    else:
        body = b"Subject: lf %d\n\n" % i + b"line of an lf message\n" * (i % 300)
    with open(os.path.join(new, "1700%06d.M%dP1.test" % (i, i)), "wb") as f:
        f.write(body)
    sent.append(body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
ctx = ssl.create_default_context(); ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
M = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
M.login("demo", password)
typ, data = M.select("INBOX")
assert typ == "OK" and int(data[0]) == len(sent), data
for attempt in (1, 2):
    typ, data = M.uid("FETCH", "1:*", "(FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK", (typ, data[-1:])
    got = [d for d in data if isinstance(d, tuple)]
    assert len(got) == len(sent), (attempt, len(got))
    for k, (head, body) in enumerate(got):
        assert body == sent[k], (attempt, k, head, len(body), len(sent[k]))
        assert b"RFC822.SIZE %d " % len(sent[k]) in head, (attempt, k, head)
print("all %d bodies exact, twice" % len(sent))
"#;
    let out = python(
        script,
        &[
            &demo.port(2993).to_string(),
            &demo.password(),
            maildir.to_str().expect("utf-8 path"),
        ],
    );
    assert!(
        out.contains("all 600 bodies exact, twice"),
        "{out}\n{}",
        demo.log()
    );
}

/// A password accepted lately passes again without a new argon2 check (`[auth]
/// remember_logins`), but only while it is the user's password: after `user passwd` the old
/// one fails at once and the new one works; a wrong password never passes.
#[test]
fn a_remembered_login_ends_with_a_password_change() {
    let demo = Demo::start();
    let login = r#"
import imaplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
port = int(sys.argv[1])
for password in sys.argv[2:]:
    M = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
    try:
        M.login("demo", password)
        print("accepted", password)
        M.logout()
    except imaplib.IMAP4.error:
        print("refused", password)
"#;
    let port = demo.port(2993).to_string();
    let old = demo.password();
    let out = python(login, &[&port, &old, &old, "not-the-password"]);
    assert_eq!(
        out.matches(&format!("accepted {old}")).count(),
        2,
        "{out}\n{}",
        demo.log()
    );
    assert!(out.contains("refused not-the-password"), "{out}");
    assert!(demo.postern_stdin_ok(
        &["user", "passwd", "demo", "--password-stdin"],
        "a-new-password-42\n"
    ));
    let out = python(
        login,
        &[&port, &old, "a-new-password-42", "a-new-password-42"],
    );
    assert!(
        out.contains(&format!("refused {old}")),
        "{out}\n{}",
        demo.log()
    );
    assert_eq!(
        out.matches("accepted a-new-password-42").count(),
        2,
        "{out}\n{}",
        demo.log()
    );
}
