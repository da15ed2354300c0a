//! `postern collect` against a real Dovecot POP3 server on loopback: deletion policies,
//! TLS and login methods, delivery modes (seed 000 scenario 3), size limits, odd messages.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;

use common::text;
use harness::{account, message, Setup, SECRET};

fn ok(out: &std::process::Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "collect failed: {t}");
    t
}

#[test]
fn leave_on_server_fetches_each_message_once() {
    let s = Setup::start(&["isp"], &account("isp", "delete = \"leave\""));
    s.put("isp", &message("bob@example.test", "one"));
    s.put("isp", &message("jim@example.test", "two"));
    s.put(
        "isp",
        &message("Bob <bob@example.test>, jim@example.test", "three"),
    );
    let log = ok(&s.collect(&[]));
    assert!(
        log.contains("event=collect_done account=isp listed=3 fetched=3"),
        "{log}"
    );
    assert_eq!(s.mails("bob").len(), 2);
    assert_eq!(s.mails("jim").len(), 2);
    assert_eq!(s.remote_count("isp"), 3, "left on the server");
    let bob = s.mails("bob").join("\n");
    assert!(
        bob.contains("with POP3 id") && bob.contains("(collected for account isp)"),
        "{bob}"
    );

    // Second run (named, so the interval does not hold it back): nothing new.
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("listed=3 fetched=0"), "{log}");
    assert_eq!(s.mails("bob").len() + s.mails("jim").len(), 4);

    // Without --account the interval (5 minutes by default) holds it back.
    let log = ok(&s.collect(&[]));
    assert!(!log.contains("collect_done"), "{log}");

    // A new message later is fetched once.
    s.put("isp", &message("jim@example.test", "four"));
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("listed=4 fetched=1"), "{log}");
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("listed=4 fetched=0"), "{log}");
    assert_eq!(s.mails("jim").len(), 3);

    // UIDLs the server no longer has are forgotten.
    for sub in ["new", "cur"] {
        let dir = s.root().join("dovecot/mail/isp").join(sub);
        for e in std::fs::read_dir(dir).expect("dir").flatten() {
            std::fs::remove_file(e.path()).expect("rm");
        }
    }
    ok(&s.collect(&["--account", "isp"]));
    let state =
        std::fs::read_to_string(s.root().join("postern/spool/collect/isp.json")).expect("state");
    let json: serde_json::Value = serde_json::from_str(&state).expect("json");
    assert_eq!(
        json["seen"].as_object().map(|o| o.len()),
        Some(0),
        "{state}"
    );
}

#[test]
fn delete_once_delivered_waits_for_the_queue() {
    // ext@far.test is routed off this server: remote delivery defers it, so it stays queued.
    let s = Setup::start(
        &["isp"],
        &account(
            "isp",
            "delete = \"delivered\"\nmode = \"catch-all\"\ncatch_all = \"ext@far.test\"",
        ),
    );
    s.put("isp", &message("bob@example.test", "local"));
    s.put("isp", &message("stranger@far.test", "stays-queued"));
    ok(&s.collect(&[]));
    assert_eq!(s.mails("bob").len(), 1);
    assert_eq!(
        s.remote_count("isp"),
        1,
        "only the delivered one is deleted"
    );
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(
        log.contains("listed=1 fetched=0 bytes=0 deleted=0"),
        "{log}"
    );
    // Once it leaves the queue (aborted here), the next pass deletes it on the server.
    let q = s.postern(&["queue", "ls", "--json"]);
    let listing = String::from_utf8_lossy(&q.stdout).into_owned();
    let id = listing
        .split('"')
        .find(|w| w.len() == 18 && w.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| panic!("no queue id in {listing}"))
        .to_string();
    assert!(s.postern(&["queue", "abort", &id]).status.success());
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("deleted=1"), "{log}");
    assert_eq!(s.remote_count("isp"), 0);
}

#[test]
fn delete_regardless_deletes_once_queued() {
    let s = Setup::start(
        &["isp"],
        &account(
            "isp",
            "delete = \"always\"\nmode = \"catch-all\"\ncatch_all = \"ext@far.test\"",
        ),
    );
    s.put("isp", &message("jim@example.test", "a"));
    s.put("isp", &message("stranger@far.test", "b"));
    let log = ok(&s.collect(&[]));
    assert!(log.contains("fetched=2 bytes="), "{log}");
    assert!(log.contains("deleted=2"), "{log}");
    assert_eq!(s.remote_count("isp"), 0);
    assert_eq!(s.mails("jim").len(), 1);
}

#[test]
fn tls_and_login_methods() {
    let acct = |name: &str, tls: &str, port: &str, auth: &str| {
        format!(
            "[[collect]]\nname = \"{name}\"\nserver = \"localhost\"\nport = {port}\ntls = \"{tls}\"\n\
             trust_anchor = \"{{DIR}}/cert.pem\"\nuser = \"isp\"\npassword = \"{SECRET}\"\nauth = \"{auth}\"\ndelete = \"always\"\n"
        )
    };
    let accounts = [
        (
            "implicit_user",
            "implicit",
            "{POP3S}",
            "user",
            "method=PLAIN",
        ),
        ("stls_apop", "starttls", "{POP3}", "apop", "method=APOP"),
        (
            "stls_cram",
            "starttls",
            "{POP3}",
            "cram-md5",
            "method=CRAM-MD5",
        ),
        ("stls_plain", "starttls", "{POP3}", "plain", "method=PLAIN"),
        ("plain_login", "none", "{POP3}", "login", "method=LOGIN"),
        (
            "opportunistic_best",
            "opportunistic",
            "{POP3}",
            "best",
            "method=CRAM-MD5",
        ),
    ];
    let toml: String = accounts
        .iter()
        .map(|(n, t, p, a, _)| acct(n, t, p, a))
        .collect();
    let s = Setup::start(&["isp"], &toml);
    for (name, tls, _, _, method) in accounts {
        s.put("isp", &message("bob@example.test", name));
        let log = ok(&s.collect(&["--account", name]));
        assert!(log.contains("fetched=1"), "{name}: {log}");
        let dlog = s.dovecot_log();
        let line = dlog.lines().last().unwrap_or_default().to_string();
        let logins: Vec<&str> = dlog
            .lines()
            .filter(|l| l.contains("Login: user=<isp>"))
            .collect();
        let last = logins.last().copied().unwrap_or_default();
        assert!(last.contains(method), "{name}: {last} / {line}");
        if tls != "none" {
            assert!(last.contains("TLS"), "{name} not over TLS: {last}");
        }
    }
    assert_eq!(s.mails("bob").len(), accounts.len());

    // Without the trust anchor the self-signed certificate is refused: nothing fetched, exit 75.
    s.write_postern_config(
        &acct("untrusted", "starttls", "{POP3}", "best")
            .replace("trust_anchor = \"{DIR}/cert.pem\"\n", ""),
    );
    s.put("isp", &message("bob@example.test", "untrusted"));
    let out = s.collect(&[]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    assert!(
        text(&out).contains("event=collect_failed account=untrusted"),
        "{}",
        text(&out)
    );
    // A wrong password: logged, exit 75, nothing lost on the server.
    s.write_postern_config(&account("isp", "").replace(SECRET, "wrong"));
    let out = s.collect(&[]);
    assert_eq!(out.status.code(), Some(75));
    assert!(text(&out).contains("login with"), "{}", text(&out));
    assert_eq!(s.remote_count("isp"), 1);
}

#[test]
fn delivery_modes_of_scenario_3() {
    let toml = format!(
        "{}{}{}",
        account("recognised", "mode = \"recognised\""),
        account(
            "catchall",
            "mode = \"catch-all\"\ncatch_all = \"admin@example.test\""
        ),
        account("localonly", "mode = \"local\""),
    );
    let s = Setup::start(&["recognised", "catchall", "localonly"], &toml);
    let msgs: [(&str, &[u8]); 5] = [
        (
            "to-bob",
            b"To: bob@example.test\nCc: friend@far.test\nSubject: to-bob\n\nx\n",
        ),
        (
            "bcc-jim",
            b"Delivered-To: jim@example.test\nTo: list@far.test\nSubject: bcc-jim\n\nx\n",
        ),
        ("nobody", b"To: nobody@example.test\nSubject: nobody\n\nx\n"),
        ("foreign", b"To: friend@far.test\nSubject: foreign\n\nx\n"),
        ("loop", b"To: someone@branch.test\nSubject: loop\n\nx\n"),
    ];
    for acct in ["recognised", "catchall", "localonly"] {
        for (_, m) in &msgs {
            s.put(acct, m);
        }
    }
    let log = ok(&s.collect(&["--account", "recognised"]));
    assert!(
        log.contains("fetched=2") && log.contains("unroutable=3 loops=1"),
        "{log}"
    );
    assert!(
        log.contains("event=collect_loop account=recognised"),
        "{log}"
    );
    assert!(log.contains("event=collect_unroutable"), "{log}");
    assert_eq!((s.mails("bob").len(), s.mails("jim").len()), (1, 1));
    assert_eq!(s.mails("admin").len(), 0);
    assert_eq!(
        s.remote_count("recognised"),
        5,
        "unroutable mail is left on the server"
    );

    let log = ok(&s.collect(&["--account", "catchall"]));
    assert!(
        log.contains("fetched=5") && log.contains("unroutable=0 loops=1"),
        "{log}"
    );
    let admin = s.mails("admin").join("\n");
    for subject in ["Subject: nobody", "Subject: foreign", "Subject: loop"] {
        assert!(
            admin.contains(subject),
            "{subject} not in the catch-all: {admin}"
        );
    }
    assert_eq!((s.mails("bob").len(), s.mails("jim").len()), (2, 2));

    let log = ok(&s.collect(&["--account", "localonly"]));
    assert!(log.contains("fetched=2"), "{log}");
    // Nothing was ever queued for the remote domain: no forwarding loop.
    let q = s.postern(&["queue", "ls", "--json"]);
    assert!(!String::from_utf8_lossy(&q.stdout).contains("branch.test"));
}

#[test]
fn too_big_and_odd_messages() {
    let s = Setup::start(
        &["isp"],
        &account(
            "isp",
            "mode = \"catch-all\"\ncatch_all = \"admin@example.test\"\nmax_message_size = \"4K\"",
        ),
    );
    let mut big = b"To: bob@example.test\nSubject: big\n\n".to_vec();
    big.extend(std::iter::repeat_n(b"0123456789012345678901234567890123456789\n", 200).flatten());
    s.put("isp", &big);
    // No header section at all, a bare LF body, 8-bit garbage, a leading dot.
    let odd: &[u8] = b"just a line without any header\n.dot first\n\xff\xfe 8-bit \x80garbage\n";
    s.put("isp", odd);
    let log = ok(&s.collect(&[]));
    assert!(log.contains("event=collect_too_big account=isp"), "{log}");
    assert!(
        log.contains("fetched=1") && log.contains("too_big=1"),
        "{log}"
    );
    let admin = super_read(&s, "admin");
    assert_eq!(admin.len(), 1);
    let body = admin[0].replace(b"\r\n".as_slice(), b"\n".as_slice());
    assert!(
        body.ends_with(odd),
        "odd message not intact: {:?}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(s.mails("bob").len(), 0);
    assert_eq!(s.remote_count("isp"), 2, "leave on server by default");
}

/// Raw bytes of a local user's messages.
fn super_read(s: &Setup, user: &str) -> Vec<Vec<u8>> {
    common::maildir_files(&s.root().join("postern/mail").join(user))
        .iter()
        .map(|p| std::fs::read(p).expect("read"))
        .collect()
}

trait ReplaceBytes {
    fn replace(&self, from: &[u8], to: &[u8]) -> Vec<u8>;
}

impl ReplaceBytes for Vec<u8> {
    fn replace(&self, from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        let mut i = 0;
        while i < self.len() {
            if self[i..].starts_with(from) {
                out.extend_from_slice(to);
                i += from.len();
            } else {
                out.push(self[i]);
                i += 1;
            }
        }
        out
    }
}

#[test]
fn serve_collects_on_its_schedule() {
    let smtp = common::port_offset() + 4525;
    let toml = format!(
        "[[listener]]\nname = \"mx\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:{smtp}\"\n{}",
        account("isp", "interval = \"1s\"\ndelete = \"always\"")
    );
    let s = Setup::start(&["isp"], &toml);
    s.put("isp", &message("bob@example.test", "first"));
    let log = s.root().join("serve.log");
    let mut serve = std::process::Command::new(common::bin())
        .arg("--config")
        .arg(s.config())
        .arg("serve")
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("serve");
    let bob = s.root().join("postern/mail/bob");
    let first = common::wait_for_mail(&bob, 1, std::time::Duration::from_secs(30));
    s.put("isp", &message("bob@example.test", "second"));
    let second = common::wait_for_mail(&bob, 2, std::time::Duration::from_secs(30));
    // Deleted on the server at the QUIT of the pass that queued it (or of the next one).
    let start = std::time::Instant::now();
    while s.remote_count("isp") > 0 && start.elapsed() < std::time::Duration::from_secs(30) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(first.len(), 1, "{log}");
    assert_eq!(second.len(), 2, "{log}");
    assert!(log.contains("event=collect_done account=isp"), "{log}");
    assert_eq!(s.remote_count("isp"), 0);
}

#[test]
fn envelope_to_and_x_envelope_to_name_the_recipients() {
    let s = Setup::start(&["isp"], &account("isp", "mode = \"recognised\""));
    // Exim's Envelope-To (a list) and the X-Envelope-To of other providers: the envelope
    // recipients of a catch-all box, while To names only the list.
    s.put(
        "isp",
        b"Envelope-To: jim@example.test, someone@far.test\nTo: list@far.test\nSubject: envelope-to\n\nx\n",
    );
    s.put(
        "isp",
        b"X-Envelope-To: <bob@example.test>\nTo: list@far.test\nSubject: x-envelope-to\n\nx\n",
    );
    s.put("isp", b"To: list@far.test\nSubject: neither\n\nx\n");
    let log = ok(&s.collect(&[]));
    assert!(
        log.contains("listed=3 fetched=2") && log.contains("unroutable=1"),
        "{log}"
    );
    let subject = |user: &str| -> Vec<String> {
        s.mails(user)
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(|x| x.trim().to_string()))
            })
            .collect()
    };
    assert_eq!(subject("jim"), ["envelope-to"]);
    assert_eq!(subject("bob"), ["x-envelope-to"]);
}

#[test]
fn a_line_over_the_limit_is_malformed_logged_once_and_not_fetched_again() {
    let s = Setup::start(&["isp"], &account("isp", "delete = \"always\""));
    let mut long = b"To: bob@example.test\nSubject: long line\n\n".to_vec();
    long.extend(std::iter::repeat_n(b'x', 1024 * 1024 + 100));
    long.extend(b"\nend\n");
    s.put("isp", &long);
    s.put("isp", &message("bob@example.test", "fine"));
    let log = ok(&s.collect(&[]));
    assert_eq!(log.matches("event=collect_malformed ").count(), 1, "{log}");
    assert!(
        log.contains("event=collect_malformed account=isp uidl=")
            && log.contains("line_limit=1048576"),
        "{log}"
    );
    assert!(
        log.contains("listed=2 fetched=1")
            && log.contains("deleted=1")
            && log.contains("malformed=1"),
        "{log}"
    );
    assert_eq!(s.mails("bob").len(), 1);
    assert_eq!(
        s.remote_count("isp"),
        1,
        "the malformed one stays on the server"
    );
    let state = s.root().join("postern/spool/collect/isp.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("json");
    let skipped = json["skipped"].as_object().expect("skipped");
    assert_eq!(skipped.len(), 1, "{json}");
    assert!(
        skipped.values().all(|v| v["reason"] == "malformed"),
        "{json}"
    );
    // Next passes: counted, not logged, not fetched again (Dovecot logs no RETR at logout).
    let last_logout = || {
        s.dovecot_log()
            .lines()
            .rfind(|l| l.contains("Logged out"))
            .unwrap_or_default()
            .to_string()
    };
    assert!(last_logout().contains("retr=2/"), "{}", s.dovecot_log());
    for _ in 0..2 {
        let log = ok(&s.collect(&["--account", "isp"]));
        assert!(
            log.contains("listed=1 fetched=0 bytes=0 deleted=0") && log.contains("malformed=1"),
            "{log}"
        );
        assert!(!log.contains("event=collect_malformed"), "{log}");
        assert!(last_logout().contains("retr=0/0"), "{}", s.dovecot_log());
    }
    assert_eq!(s.remote_count("isp"), 1);
}

/// A message that would take its local mailbox over quota is left on the server (issue 11,
/// point 8), as smtpd answers 452 at RCPT: not queued, not deleted even with `delete = "always"`,
/// logged `collect_over_quota` and fetched again on each pass; collected once there is room.
/// The check counts what the message adds, not only a mailbox already full.
#[test]
fn over_quota_mail_stays_on_the_server_until_there_is_room() {
    let s = Setup::start(&["isp"], &account("isp", "delete = \"always\""));
    s.put("isp", &message("bob@example.test", "first"));
    let log = ok(&s.collect(&[]));
    assert!(
        log.contains("fetched=1") && log.contains("deleted=1"),
        "{log}"
    );
    assert_eq!(s.remote_count("isp"), 0);
    // Room for 100 bytes more than bob holds: the next message (larger) does not fit.
    let out = s.postern(&["mbox", "quota", "bob", "--json"]);
    let row: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let used = row["bytes"].as_u64().expect("bytes");
    let quota = (used + 100).to_string();
    let out = s.postern(&["mbox", "quota", "bob", "--set", &quota]);
    assert!(out.status.success(), "{}", text(&out));
    let mut big = message("bob@example.test", "over-quota");
    big.extend(b"more text than the room left\r\n".repeat(20));
    s.put("isp", &big);
    for _ in 0..2 {
        let log = ok(&s.collect(&["--account", "isp"]));
        assert!(
            log.contains("event=collect_over_quota")
                && log.contains("to=bob@example.test")
                && log.contains("action=\"left on the server, tried again next pass\""),
            "{log}"
        );
        assert!(
            log.contains("listed=1 fetched=0 bytes=0 deleted=0") && log.contains("over_quota=1"),
            "{log}"
        );
        assert_eq!(s.remote_count("isp"), 1, "left on the server");
        assert_eq!(s.mails("bob").len(), 1);
        let ls = text(&s.postern(&["queue", "ls"]));
        assert!(!ls.contains("bob@example.test"), "queued anyway: {ls}");
    }
    // Dovecot saw it fetched on each pass (tried again, not remembered as skipped).
    assert!(
        s.dovecot_log().matches("retr=1/").count() >= 2,
        "{}",
        s.dovecot_log()
    );
    // Room made: the next pass collects, delivers and deletes it.
    let out = s.postern(&["mbox", "quota", "bob", "--set", "10M"]);
    assert!(out.status.success(), "{}", text(&out));
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(
        log.contains("listed=1 fetched=1")
            && log.contains("deleted=1")
            && log.contains("over_quota=0"),
        "{log}"
    );
    assert_eq!(s.remote_count("isp"), 0);
    let bob = s.mails("bob");
    assert_eq!(bob.len(), 2);
    assert!(bob.iter().any(|m| m.contains("Subject: over-quota")));
}
