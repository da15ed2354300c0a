//! Webmail (issue 14 item 0, issue 13's extensions): Debian's Roundcube 1.6, served by `php -S`
//! on loopback, driven in headless Chromium by Python Selenium (`webmail/roundcube.py`) against
//! `serve --demo`: IMAP over STARTTLS, submission over STARTTLS with AUTH, the certificate
//! checked. A plain user made with `postern user add` (no shared secret) logs in on the first
//! try, sees a delivered message in the list, opens it, sees the quota set with `mbox quota`, is
//! offered the thread view (THREAD), and sends a message that arrives in the demo user's maildir.
//! The same session against a private Dovecot imapd shows the same (issue 13: webmail against
//! both in the same run).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::dovecot::Dovecot;
use common::*;

const SCRIPT: &str = include_str!("webmail/roundcube.py");
const ROUNDCUBE: &str = "/var/lib/roundcube/public_html";
const DEFAULTS: &str = "/etc/roundcube/defaults.inc.php";

/// A process group (php -S, or python with chromedriver and Chromium under it) killed whole when
/// dropped.
struct Group(Child);

impl Group {
    fn spawn(cmd: &mut Command) -> Group {
        Group(cmd.process_group(0).spawn().expect("spawn"))
    }

    /// Wait at most `limit` for the leader to exit; whether it did.
    fn wait(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group this test made (its leader's pid); no memory involved.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Roundcube's own configuration: IMAP at `imap_host` with `imap_options` (a PHP array), the
/// demo's submission port with STARTTLS and the demo certificate as the only trust anchor, a
/// SQLite database, logs and temp files in `dir`.
fn roundcube_config(dir: &Path, demo: &Demo, imap_host: &str, imap_options: &str) -> PathBuf {
    let config = dir.join("config");
    for sub in ["config", "logs", "temp", "chromium"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::os::unix::fs::symlink(DEFAULTS, config.join("defaults.inc.php")).unwrap();
    let php = format!(
        r#"<?php
$config = [];
$config['db_dsnw'] = 'sqlite:///{db}?mode=0600';
$config['imap_host'] = '{imap_host}';
$config['imap_conn_options'] = {imap_options};
$config['imap_debug'] = true;
$config['smtp_host'] = 'tls://127.0.0.1:{submission}';
$config['smtp_conn_options'] = {tls};
$config['smtp_user'] = '%u';
$config['smtp_pass'] = '%p';
$config['smtp_debug'] = true;
$config['mail_domain'] = 'example.test';
$config['create_default_folders'] = true;
$config['message_sort_col'] = 'date';
$config['message_sort_order'] = 'DESC';
$config['des_key'] = 'postern-test-des-key-24c';
$config['plugins'] = [];
$config['skin'] = 'elastic';
$config['log_driver'] = 'file';
$config['log_dir'] = '{logs}';
$config['temp_dir'] = '{temp}';
$config['enable_spellcheck'] = false;
$config['support_url'] = '';
$config['product_name'] = 'Roundcube Webmail';
"#,
        db = dir.join("roundcube.db").display(),
        submission = demo.port(2587),
        tls = demo_tls(demo),
        logs = dir.join("logs").display(),
        temp = dir.join("temp").display(),
    );
    std::fs::write(config.join("config.inc.php"), php).unwrap();
    config
}

/// PHP stream options that verify the demo's certificate (and trust nothing else).
fn demo_tls(demo: &Demo) -> String {
    format!(
        "['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, \
         'peer_name' => 'localhost', 'cafile' => '{}']]",
        demo.root().join("cert.pem").display()
    )
}

/// What one browser session printed, and what Roundcube logged meanwhile.
struct Run {
    out: String,
    elapsed: Duration,
    commands: Vec<(String, usize)>,
    context: String,
}

/// Serve Roundcube (config in `dir/config`) with `php -S` on port `web` and run the browser
/// script as alice; bounded at 240 s.
fn browse(dir: &Path, config: &Path, web: u16, server_log: &dyn Fn() -> String) -> Run {
    let mut php = Group::spawn(
        Command::new("php")
            .args(["-S", &format!("127.0.0.1:{web}"), "-t", ROUNDCUBE])
            .env("ROUNDCUBE_CONFIG_DIR", config)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("php.log")).unwrap())
            .stderr(std::fs::File::create(dir.join("php.err")).unwrap()),
    );
    assert!(
        // Its own port: php exits at once when something else holds it.
        wait_for_child_port(&mut php.0, ([127, 0, 0, 1], web).into()),
        "php -S did not start: {}",
        read(&dir.join("php.err"))
    );
    let started = Instant::now();
    let out_path = dir.join("selenium.out");
    let mut browser = Group::spawn(
        Command::new("/usr/bin/python3")
            .arg("-c")
            .arg(SCRIPT)
            .args([
                &format!("http://127.0.0.1:{web}"),
                "alice",
                "alice-webmail-pw",
                "Lunch on Thursday",
                "marker-7781",
                "demo@example.test",
                "Re: Lunch",
                "Twelve is fine, see you there. (marker-4410)",
            ])
            .arg(dir.join("chromium"))
            .arg("Re: Lunch plans")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(dir.join("selenium.err")).unwrap()),
    );
    let finished = browser.wait(Duration::from_secs(240));
    let elapsed = started.elapsed();
    let out = read(&out_path);
    let context = format!(
        "browser said:\n{out}\n--- stderr:\n{}\n--- roundcube errors:\n{}\n--- imap:\n{}\n\
         --- smtp:\n{}\n--- server log:\n{}",
        read(&dir.join("selenium.err")),
        read(&dir.join("logs/errors.log")),
        read(&dir.join("logs/imap.log")),
        read(&dir.join("logs/smtp.log")),
        server_log()
    );
    assert!(finished, "the browser run took over 240 s\n{context}");
    let commands = imap_commands(&read(&dir.join("logs/imap.log")));
    eprintln!("roundcube run: {elapsed:?}\n{out}\nIMAP commands: {commands:?}");
    Run {
        out,
        elapsed,
        commands,
        context,
    }
}

/// What both servers must show the same: logged in, the message listed and opened, the 10 MB
/// quota, the thread view (offered; the reply collapsed under its parent until expanded), SORT
/// and THREAD done by the server, the message sent.
fn assert_same_views(run: &Run) {
    let (out, context) = (&run.out, &run.context);
    assert!(said(out, "LOGGED_IN").is_some(), "{context}");
    assert!(
        said(out, "LISTED").is_some_and(|l| l.contains("Lunch on Thursday")),
        "{context}"
    );
    assert!(
        said(out, "OPENED").is_some_and(|b| b.contains("noodle bar at twelve")),
        "{context}"
    );
    assert!(
        said(out, "QUOTA").is_some_and(|q| q.contains("10 MB")),
        "{context}"
    );
    assert_eq!(said(out, "THREADS_OFFERED"), Some("yes"), "{context}");
    assert!(
        said(out, "THREADED").is_some_and(|t| t.contains("collapsed reply_hidden=yes")),
        "{context}"
    );
    assert!(
        said(out, "THREAD_EXPANDED").is_some_and(|t| t.contains("Re: Lunch plans")),
        "{context}"
    );
    // The sorted list and the thread view came from the server (SORT, THREAD), not from
    // fetching every message's headers; the copy in Sent by APPEND.
    for wanted in ["UID SORT", "UID THREAD", "GETQUOTAROOT", "APPEND"] {
        assert!(
            run.commands.iter().any(|(c, _)| c == wanted),
            "no {wanted}: {:?}\n{context}",
            run.commands
        );
    }
    assert!(said(out, "SENT").is_some(), "{context}");
}

/// The demo with alice (a plain `user add`, 10 MB quota) and the demo user's shared secret
/// dropped.
fn demo_with_alice() -> Demo {
    for program in ["php", "chromium", "chromedriver", "python3"] {
        assert!(have(program), "{program} is needed (bin/install-test-deps)");
    }
    assert!(
        Path::new(ROUNDCUBE).join("index.php").exists() && Path::new(DEFAULTS).exists(),
        "Debian's roundcube-core is needed (bin/install-test-deps)"
    );
    let demo = Demo::start();
    // The demo user is made with a shared secret, so the demo offers CRAM-MD5 — and Roundcube
    // takes CRAM-MD5 whenever it is offered, which fails for every user without one. A new
    // password without `--shared-secret` drops it: the site then has users made the ordinary
    // way only, and CRAM-MD5 is not offered any more (to the running server too).
    let demo_pw = demo.password();
    assert!(demo.postern_stdin_ok(
        &["user", "passwd", "demo", "--password-stdin"],
        &format!("{demo_pw}\n")
    ));
    demo.add_user("alice", "alice-webmail-pw");
    let quota = demo.postern(&["mbox", "quota", "alice", "--set", "10M"]);
    assert!(quota.status.success(), "{}", text(&quota));
    demo
}

/// The message Roundcube sent, in the demo user's maildir.
fn assert_arrived(demo: &Demo, context: &str) {
    let arrived = wait_for_mail(&demo.maildir("demo"), 1, Duration::from_secs(20));
    let mail = arrived
        .iter()
        .map(|p| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned())
        .find(|m| m.contains("marker-4410"))
        .unwrap_or_else(|| panic!("not in demo's maildir: {arrived:?}\n{context}"));
    assert!(mail.contains("Subject: Re: Lunch"), "{mail}");
    assert!(mail.contains("alice@example.test"), "{mail}");
}

const FIRST: &[u8] = b"From: Bob <bob@elsewhere.test>\r\nTo: alice@example.test\r\n\
    Date: Tue, 1 Dec 2026 09:00:00 +0000\r\nSubject: Lunch on Thursday\r\n\
    Message-ID: <lunch-1@elsewhere.test>\r\n\r\n\
    Shall we try the noodle bar at twelve? (marker-7781)\r\n";
const REPLY: &[u8] = b"From: Carol <carol@elsewhere.test>\r\nTo: alice@example.test\r\n\
    Date: Tue, 1 Dec 2026 10:00:00 +0000\r\nSubject: Re: Lunch plans\r\n\
    Message-ID: <lunch-2@elsewhere.test>\r\nIn-Reply-To: <lunch-1@elsewhere.test>\r\n\
    References: <lunch-1@elsewhere.test>\r\n\r\nCount me in. (marker-2290)\r\n";

/// The IMAP commands Roundcube sent (from its `imap_debug` log), with how often, e.g.
/// `("UID SORT", 3)`.
fn imap_commands(log: &str) -> Vec<(String, usize)> {
    let mut seen: Vec<(String, usize)> = Vec::new();
    for line in log.lines() {
        let Some((_, command)) = line.split_once("] C: ") else {
            continue;
        };
        let mut words = command.split_whitespace();
        // Tagged commands only (`A0007 UID SORT …`), not the lines of an APPEND's literal.
        if !words.next().is_some_and(|t| {
            t.starts_with('A') && t.len() > 1 && t[1..].bytes().all(|b| b.is_ascii_digit())
        }) {
            continue;
        }
        let mut name = words.next().unwrap_or_default().to_string();
        if name == "UID" {
            name = format!("UID {}", words.next().unwrap_or_default());
        }
        match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => *count += 1,
            None => seen.push((name, 1)),
        }
    }
    seen
}

/// `KEY value` lines the script printed for `key`.
fn said<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find_map(|l| match l.split_once(' ') {
        Some((k, rest)) if k == key => Some(rest),
        None if l == key => Some(""),
        _ => None,
    })
}

#[test]
fn roundcube_logs_in_reads_and_sends_as_a_plain_user() {
    let demo = demo_with_alice();
    // A message for alice and a reply to it (a thread of two), delivered beforehand over SMTP.
    python(
        "import smtplib, sys\n\
         s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)\n\
         for m in sys.argv[2:]:\n    s.sendmail('bob@elsewhere.test', ['alice@example.test'], m.encode())\n\
         s.quit()\n",
        &[
            &demo.port(2525).to_string(),
            std::str::from_utf8(FIRST).unwrap(),
            std::str::from_utf8(REPLY).unwrap(),
        ],
    );
    assert_eq!(
        wait_for_mail(&demo.maildir("alice"), 2, Duration::from_secs(20)).len(),
        2
    );

    let dir = demo.dir.path().join("roundcube");
    let config = roundcube_config(
        &dir,
        &demo,
        &format!("tls://127.0.0.1:{}", demo.port(2143)),
        &demo_tls(&demo),
    );
    let run = browse(&dir, &config, demo.port(2080), &|| demo.log());
    let context = &run.context;

    // Logged in on the first try, without CRAM-MD5.
    let imap_log = read(&dir.join("logs/imap.log"));
    assert!(imap_log.contains("AUTHENTICATE PLAIN"), "{context}");
    assert!(!imap_log.contains("CRAM-MD5"), "{context}");
    assert_same_views(&run);
    assert_arrived(&demo, context);
    // Roundcube made Sent and kept a copy there.
    let sent = demo.maildir("alice").join(".Sent");
    assert!(
        !maildir_files(&sent).is_empty(),
        "no copy in {}\n{context}",
        sent.display()
    );
    let smtp_log = read(&dir.join("logs/smtp.log"));
    assert!(!smtp_log.contains("CRAM-MD5"), "{context}");
    // Nobody failed to log in anywhere.
    assert!(!demo.log().contains("login_failed"), "{context}");
    eprintln!("postern: {:?}", run.elapsed);
}

/// The same browser session against a private Dovecot 2.3 imapd (quota plugin, the same two
/// messages, a 10 MB quota) with postern's submission for sending: Roundcube shows the same.
#[test]
fn dovecot_gives_roundcube_the_same_views() {
    let demo = demo_with_alice();
    // Dovecot's quota plugin, a 10 MB quota like alice's here, and the same two messages.
    let quota = "mail_plugins = $mail_plugins quota\n\
                 protocol imap {\n mail_plugins = $mail_plugins imap_quota\n}\n\
                 plugin {\n quota = maildir:User quota\n quota_rule = *:storage=10M\n}\n";
    let dovecot = Dovecot::start(
        "alice",
        "alice-webmail-pw",
        demo.port(2060),
        &[FIRST, REPLY],
        quota,
    );
    let dir = demo.dir.path().join("roundcube");
    let config = roundcube_config(&dir, &demo, &format!("127.0.0.1:{}", dovecot.port), "[]");
    let run = browse(&dir, &config, demo.port(2080), &|| dovecot.log());
    assert_same_views(&run);
    assert_arrived(&demo, &run.context);
    eprintln!("dovecot: {:?}", run.elapsed);
}
