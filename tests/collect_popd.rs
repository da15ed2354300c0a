//! `postern collect` against postern's own popd: a second `postern serve --demo` plays the ISP
//! (its POP3 on the demo ports 2110 with STLS and 2995 with implicit TLS), the collecting side
//! is the harness of `tests/common/collect.rs` without Dovecot. Catch-all spreading of 500
//! messages, leave-on-server, deletion policies, APOP and the TLS variants.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
#[path = "common/collect.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{maildir_files, text, Demo};
use harness::Setup;

fn ok(out: &std::process::Output) -> String {
    let t = text(out);
    assert!(out.status.success(), "collect failed: {t}");
    t
}

/// Write a message straight into an ISP maildir, as its delivery agent would (LF, in `new/`).
fn put(maildir: &Path, name: &str, message: &[u8]) {
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).expect("maildir");
    }
    let tmp = maildir.join("tmp").join(name);
    std::fs::write(&tmp, message).expect("write");
    std::fs::rename(&tmp, maildir.join("new").join(name)).expect("rename");
}

fn message(to: &str, subject: &str) -> Vec<u8> {
    format!(
        "Return-Path: <sender@far.test>\nFrom: sender@far.test\nTo: {to}\nSubject: {subject}\n\
         Message-ID: <{subject}@far.test>\n\n.leading dot in {subject}\nbody of {subject}\n"
    )
    .into_bytes()
}

/// A `[[collect]]` section for the ISP's POP3.
fn account(name: &str, user: &str, password: &str, extra: &str) -> String {
    format!(
        "[[collect]]\nname = \"{name}\"\nserver = \"localhost\"\nport = {{POP3}}\ntls = \"none\"\n\
         user = \"{user}\"\npassword = \"{password}\"\n{extra}\n"
    )
}

/// Subjects of a local user's messages.
fn subjects(s: &Setup, user: &str) -> Vec<String> {
    let mut v: Vec<String> = s
        .mails(user)
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(|x| x.trim().to_string()))
        })
        .collect();
    v.sort();
    v
}

/// Logins the ISP logged for `user`: their mechanisms, in order.
fn isp_logins(isp: &Demo, user: &str) -> Vec<String> {
    let suffix = format!("user={user}");
    isp.log()
        .lines()
        .filter(|l| l.contains("event=login") && l.contains("protocol=pop3"))
        .filter(|l| l.split(' ').any(|w| w == suffix))
        .filter_map(|l| {
            l.split(' ')
                .find_map(|w| w.strip_prefix("mechanism=").map(str::to_string))
        })
        .collect()
}

/// The ISP's popd re-reads its users file at most once a second: let it see users just added.
fn users_seen() {
    std::thread::sleep(Duration::from_millis(1100));
}

#[test]
fn catch_all_mailbox_of_500_spread_then_fetched_once() {
    let isp = Demo::start();
    let drop = isp.maildir("demo");
    // The ISP's catch-all mailbox: mail for three local users, some for two of them at once.
    let mut want: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for i in 0..500 {
        let subject = format!("m{i:03}");
        let to = match i % 5 {
            0 | 1 => vec!["bob"],
            2 | 3 => vec!["jim"],
            _ if i % 10 == 4 => vec!["admin"],
            _ => vec!["bob", "admin"],
        };
        let header: Vec<String> = to.iter().map(|u| format!("{u}@example.test")).collect();
        put(
            &drop,
            &format!("1700000000.M{i}P1.isp"),
            &message(&header.join(", "), &subject),
        );
        for u in to {
            want.entry(u).or_default().push(subject.clone());
        }
    }
    let toml = account(
        "isp",
        "demo",
        &isp.password(),
        "delete = \"leave\"\nmax_messages = 1000",
    );
    let s = Setup::local(isp.port(2110), isp.port(2995), &toml);
    let log = ok(&s.collect(&[]));
    assert!(
        log.contains("event=collect_done account=isp listed=500 fetched=500"),
        "{log}\nISP: {}",
        isp.log()
    );
    for (user, subjects_wanted) in &want {
        assert_eq!(&subjects(&s, user), subjects_wanted, "{user}");
    }
    let bob = s.mails("bob").join("\n");
    assert!(
        bob.contains("with POP3 id") && bob.contains("(collected for account isp)"),
        "{bob}"
    );
    assert!(
        bob.contains("\n.leading dot in m000\n") || bob.contains("\r\n.leading dot in m000\r\n")
    );
    assert_eq!(maildir_files(&drop).len(), 500, "left on the server");
    // No password crossed in the clear: the best method against popd is CRAM-MD5.
    assert_eq!(isp_logins(&isp, "demo"), ["CRAM-MD5"]);

    // Leave on server: a second run fetches nothing.
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("listed=500 fetched=0 bytes=0"), "{log}");
    let total = |s: &Setup| ["bob", "jim", "admin"].map(|u| s.mails(u).len());
    assert_eq!(
        total(&s),
        [want["bob"].len(), want["jim"].len(), want["admin"].len()]
    );

    // New mail reaches the ISP through its smtpd, is fetched once, and only once.
    let script = r#"
import smtplib, sys
port = int(sys.argv[1])
for subject in ("late-1", "late-2"):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as c:
        c.sendmail("sender@far.test", ["demo@example.test"],
            "From: sender@far.test\r\nTo: jim@example.test\r\nSubject: %s\r\n\r\nlate\r\n" % subject)
"#;
    common::python(script, &[&isp.port(2525).to_string()]);
    let files = common::wait_for_mail(&drop, 502, Duration::from_secs(30));
    assert_eq!(files.len(), 502, "ISP log: {}", isp.log());
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("listed=502 fetched=2"), "{log}");
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(log.contains("listed=502 fetched=0"), "{log}");
    let jim = subjects(&s, "jim");
    assert_eq!(jim.len(), want["jim"].len() + 2);
    assert!(jim.contains(&"late-1".to_string()) && jim.contains(&"late-2".to_string()));
    // The ISP's own Delivered-To (demo@example.test, no user here) did not send it elsewhere.
    assert_eq!(s.mails("admin").len(), want["admin"].len());
}

#[test]
fn deletion_policies() {
    let isp = Demo::start();
    let pw = isp.password();
    for user in ["always", "delivered"] {
        assert!(isp.postern_stdin_ok(
            &["user", "add", user, "--password-stdin", "--shared-secret"],
            &format!("{pw}\n"),
        ));
    }
    users_seen();
    // ext@far.test is routed off the collecting server: remote delivery defers, it stays queued.
    let extra = "mode = \"catch-all\"\ncatch_all = \"ext@far.test\"\n";
    let toml = format!(
        "{}{}",
        account(
            "always",
            "always",
            &pw,
            &format!("{extra}delete = \"always\"")
        ),
        account(
            "delivered",
            "delivered",
            &pw,
            &format!("{extra}delete = \"delivered\"")
        ),
    );
    let s = Setup::local(isp.port(2110), isp.port(2995), &toml);
    for user in ["always", "delivered"] {
        let md = isp.maildir(user);
        put(
            &md,
            "1.a",
            &message("bob@example.test", &format!("{user}-local")),
        );
        put(
            &md,
            "2.b",
            &message("stranger@far.test", &format!("{user}-away")),
        );
    }

    // Delete regardless: both go as soon as they are queued.
    let log = ok(&s.collect(&["--account", "always"]));
    assert!(
        log.contains("fetched=2") && log.contains("deleted=2"),
        "{log}"
    );
    assert_eq!(maildir_files(&isp.maildir("always")).len(), 0);

    // Delete once delivered: only the one delivered here; the queued one stays on the server.
    let log = ok(&s.collect(&["--account", "delivered"]));
    assert!(
        log.contains("fetched=2") && log.contains("deleted=1"),
        "{log}"
    );
    let left = maildir_files(&isp.maildir("delivered"));
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        String::from_utf8_lossy(&std::fs::read(&left[0]).expect("read")).contains("delivered-away")
    );
    let log = ok(&s.collect(&["--account", "delivered"]));
    assert!(
        log.contains("listed=1 fetched=0 bytes=0 deleted=0"),
        "{log}"
    );
    // Once it leaves the queue (aborted here), the next pass deletes it on the server.
    let q = s.postern(&["queue", "ls", "--json"]);
    let listing = String::from_utf8_lossy(&q.stdout).into_owned();
    let ids: Vec<String> = listing
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ids.len(), 2, "one queued per account: {listing}");
    for id in &ids {
        assert!(s.postern(&["queue", "abort", id]).status.success());
    }
    let log = ok(&s.collect(&["--account", "delivered"]));
    assert!(
        log.contains("listed=1 fetched=0 bytes=0 deleted=1"),
        "{log}"
    );
    assert_eq!(maildir_files(&isp.maildir("delivered")).len(), 0);
    assert_eq!(subjects(&s, "bob"), ["always-local", "delivered-local"]);
}

#[test]
fn apop_and_tls_variants() {
    let isp = Demo::start();
    // "shop" has a shared secret (APOP, CRAM-MD5); "plain" has only a password hash.
    assert!(isp.postern_stdin_ok(
        &["user", "add", "shop", "--password-stdin", "--shared-secret"],
        "shop-pw\n",
    ));
    isp.add_user("plain", "plain-pw");
    users_seen();
    let anchor = isp.root().join("cert.pem");
    let acct = |name: &str, user: &str, tls: &str, port: &str, auth: &str, anchor_line: bool| {
        let pw = if user == "shop" {
            "shop-pw"
        } else {
            "plain-pw"
        };
        let trust = if anchor_line {
            format!("trust_anchor = \"{}\"\n", anchor.display())
        } else {
            String::new()
        };
        format!(
            "[[collect]]\nname = \"{name}\"\nserver = \"localhost\"\nport = {port}\ntls = \"{tls}\"\n\
             {trust}user = \"{user}\"\npassword = \"{pw}\"\nauth = \"{auth}\"\ndelete = \"always\"\n"
        )
    };
    // name, user, tls, port, auth, the mechanism popd logs, whether the session was encrypted.
    let variants = [
        (
            "apop_clear",
            "shop",
            "none",
            "{POP3}",
            "apop",
            "APOP",
            false,
        ),
        (
            "apop_stls",
            "shop",
            "starttls",
            "{POP3}",
            "apop",
            "APOP",
            true,
        ),
        (
            "best_clear",
            "shop",
            "none",
            "{POP3}",
            "best",
            "CRAM-MD5",
            false,
        ),
        (
            "user_stls",
            "plain",
            "starttls",
            "{POP3}",
            "user",
            "USER",
            true,
        ),
        // best for a user without a shared secret: CRAM-MD5 and APOP are offered (shop has
        // one) and refused for plain; the next method offered, PLAIN, logs in.
        (
            "best_fallback",
            "plain",
            "starttls",
            "{POP3}",
            "best",
            "PLAIN",
            true,
        ),
        (
            "plain_implicit",
            "plain",
            "implicit",
            "{POP3S}",
            "plain",
            "PLAIN",
            true,
        ),
        (
            "opportunistic",
            "plain",
            "opportunistic",
            "{POP3}",
            "user",
            "USER",
            true,
        ),
    ];
    let toml: String = variants
        .iter()
        .map(|(n, u, t, p, a, _, _)| acct(n, u, t, p, a, true))
        .collect();
    let s = Setup::local(isp.port(2110), isp.port(2995), &toml);
    for (name, user, _, _, _, mechanism, tls) in variants {
        put(&isp.maildir(user), name, &message("bob@example.test", name));
        let out = s.collect(&["--account", name]);
        let log = text(&out);
        assert!(out.status.success(), "{name}: {log}\nISP: {}", isp.log());
        assert!(
            log.contains("fetched=1") && log.contains("deleted=1"),
            "{name}: {log}\nISP: {}",
            isp.log()
        );
        let logins = isp_logins(&isp, user);
        assert_eq!(
            logins.last().map(String::as_str),
            Some(mechanism),
            "{name}: {logins:?}"
        );
        let mail = s
            .mails("bob")
            .into_iter()
            .find(|m| {
                m.contains(&format!("Subject: {name}\n"))
                    || m.contains(&format!("Subject: {name}\r\n"))
            })
            .unwrap_or_else(|| panic!("{name} not delivered"));
        let with = if tls { "with POP3S id" } else { "with POP3 id" };
        assert!(mail.contains(with), "{name}: {mail}");
        assert_eq!(maildir_files(&isp.maildir(user)).len(), 0, "{name}");
    }

    // Failures: logged per account, exit 75 (EX_TEMPFAIL), nothing taken from the server.
    let failing = [
        // The ISP's self-signed certificate without the trust anchor.
        (
            acct("untrusted", "plain", "starttls", "{POP3}", "user", false),
            "TLS",
        ),
        // APOP for a user without a shared secret.
        (
            acct("no_secret", "plain", "none", "{POP3}", "apop", true),
            "login with APOP",
        ),
        // USER/PASS in the clear: popd allows it only over TLS.
        (
            acct("clear_user", "plain", "none", "{POP3}", "user", true),
            "login with USER",
        ),
        // A wrong password.
        (
            acct("wrong", "shop", "none", "{POP3}", "apop", true).replace("shop-pw", "nope"),
            "login with APOP",
        ),
    ];
    put(
        &isp.maildir("plain"),
        "left",
        &message("bob@example.test", "left"),
    );
    put(
        &isp.maildir("shop"),
        "left",
        &message("bob@example.test", "left"),
    );
    for (toml, why) in failing {
        s.write_postern_config(&toml);
        let out = s.collect(&[]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(75), "{toml}: {t}");
        assert!(
            t.contains("event=collect_failed") && t.contains(why),
            "{toml}: {t}"
        );
    }
    assert_eq!(maildir_files(&isp.maildir("plain")).len(), 1);
    assert_eq!(maildir_files(&isp.maildir("shop")).len(), 1);
    assert_eq!(s.mails("bob").len(), variants.len());
}

#[test]
fn refused_too_big_and_unroutable_are_logged_once() {
    let isp = Demo::start();
    let drop = isp.maildir("demo");
    put(&drop, "1.ok", &message("bob@example.test", "fine"));
    put(&drop, "2.virus", &message("bob@example.test", "VIRUS-TEST"));
    put(&drop, "3.nobody", &message("somebody@far.test", "nowhere"));
    let mut big = message("bob@example.test", "big");
    big.extend(std::iter::repeat_n(b"0123456789012345678901234567890123456789\n", 100).flatten());
    put(&drop, "4.big", &big);
    // A content filter that counts its runs and rejects (exit 1) what carries VIRUS-TEST.
    let filter = "[filter]\ncommand = [\"/bin/sh\", \"{DIR}/filter.sh\"]\nreject_codes = [1]\n";
    let toml = format!(
        "{filter}{}",
        account("isp", "demo", &isp.password(), "max_message_size = \"2K\"")
    );
    let s = Setup::local(isp.port(2110), isp.port(2995), &toml);
    let calls = s.root().join("filter-calls");
    std::fs::write(
        s.root().join("filter.sh"),
        format!(
            "body=$(cat)\necho run >> '{}'\ncase \"$body\" in *VIRUS-TEST*) exit 1;; esac\nexit 0\n",
            calls.display()
        ),
    )
    .expect("filter script");
    let events = |log: &str, name: &str| log.matches(&format!("event={name} ")).count();

    let log = ok(&s.collect(&[]));
    assert!(
        log.contains("listed=4 fetched=1")
            && log.contains("too_big=1")
            && log.contains("unroutable=1")
            && log.contains("refused=1"),
        "{log}"
    );
    for name in ["collect_too_big", "collect_unroutable", "collect_filtered"] {
        assert_eq!(events(&log, name), 1, "{name}: {log}");
    }
    assert!(log.contains("verdict=reject"), "{log}");
    assert_eq!(subjects(&s, "bob"), ["fine"]);
    let runs = || {
        std::fs::read_to_string(&calls)
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(runs(), 2, "the filter saw the fine one and the virus");

    // Next passes: the same counts, no new log lines, the refused one not fetched again.
    for _ in 0..2 {
        let log = ok(&s.collect(&["--account", "isp"]));
        assert!(
            log.contains("listed=4 fetched=0")
                && log.contains("too_big=1")
                && log.contains("unroutable=1")
                && log.contains("refused=1"),
            "{log}"
        );
        for name in ["collect_too_big", "collect_unroutable", "collect_filtered"] {
            assert_eq!(events(&log, name), 0, "{name} logged again: {log}");
        }
    }
    assert_eq!(
        runs(),
        2,
        "the refused message was not run through the filter again"
    );
    assert_eq!(maildir_files(&drop).len(), 4, "all left on the server");

    // The unroutable one becomes routable when its address gets a user: the next pass takes it.
    let state = s.root().join("postern/spool/collect/isp.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("json");
    assert_eq!(
        json["skipped"].as_object().map(|o| o.len()),
        Some(3),
        "{json}"
    );
    let toml = toml.replace(
        "max_message_size = \"2K\"",
        "mode = \"catch-all\"\ncatch_all = \"admin@example.test\"\nmax_message_size = \"2K\"",
    );
    s.write_postern_config(&toml);
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(
        log.contains("listed=4 fetched=1") && log.contains("unroutable=0"),
        "{log}"
    );
    assert_eq!(subjects(&s, "admin"), ["nowhere"]);
    assert_eq!(runs(), 3);
    // Once the server drops the refused message, it is forgotten.
    std::fs::remove_file(
        maildir_files(&drop)
            .into_iter()
            .find(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .contains("VIRUS-TEST")
            })
            .expect("virus on the server"),
    )
    .expect("rm");
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(
        log.contains("listed=3 fetched=0") && log.contains("refused=0"),
        "{log}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("state")).expect("json");
    assert_eq!(
        json["skipped"].as_object().map(|o| o.len()),
        Some(1),
        "{json}"
    );
}

#[test]
fn opportunistic_falls_back_to_plaintext_and_starttls_requires_stls() {
    let isp = Demo::start();
    // The ISP's popd on a listener without TLS: no STLS in its CAPA.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log_path = isp.dir.path().join("plain-popd.log");
    let child = std::process::Command::new(common::bin())
        .arg("--config")
        .arg(isp.config())
        .args(["popd", "--listen", &format!("127.0.0.1:{port}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log"))
        .spawn()
        .expect("popd");
    let popd = common::site::Daemon {
        child,
        log: log_path,
    };
    assert!(
        common::wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(20)),
        "popd did not start: {}",
        popd.log()
    );
    let drop = isp.maildir("demo");
    put(&drop, "1.a", &message("bob@example.test", "opportunistic"));
    let acct = |name: &str, tls: &str| {
        account(name, "demo", &isp.password(), "delete = \"always\"")
            .replace("tls = \"none\"", &format!("tls = \"{tls}\""))
    };
    let toml = format!(
        "{}{}",
        acct("required", "starttls"),
        acct("opportunistic", "opportunistic")
    );
    let s = Setup::local(port, port, &toml);

    // STLS required but not offered: the account fails before any login, nothing is taken.
    let out = s.collect(&["--account", "required"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(75), "{log}");
    assert!(
        log.contains("event=collect_failed account=required")
            && log.contains("the server does not offer STLS and the account requires it"),
        "{log}"
    );
    assert_eq!(maildir_files(&drop).len(), 1);
    assert!(s.mails("bob").is_empty());
    assert!(!popd.log().contains("event=login"), "{}", popd.log());

    // Opportunistic: no STLS, so plaintext, with the best method the server offers there.
    let log = ok(&s.collect(&["--account", "opportunistic"]));
    assert!(
        log.contains("fetched=1") && log.contains("deleted=1"),
        "{log}"
    );
    let mail = s.mails("bob").join("\n");
    assert!(
        mail.contains("Subject: opportunistic") && mail.contains("with POP3 id"),
        "{mail}"
    );
    let plog = popd.log();
    assert!(
        plog.contains("tls=false") && plog.contains("mechanism=CRAM-MD5 user=demo"),
        "{plog}"
    );
    assert_eq!(maildir_files(&drop).len(), 0);
}

#[test]
fn a_message_delivered_here_before_is_not_delivered_again() {
    let isp = Demo::start();
    let drop = isp.maildir("demo");
    // Collected from this server's own popd: our local delivery's Delivered-To is in it.
    let mut again = b"Delivered-To: bob@example.test\nReceived: from client.test ([127.0.0.1])\n\tby mail.example.test (postern) with ESMTP id 1K1T709GAR100GR000;\n\tFri, 4 Dec 2026 16:56:07 +0000\n".to_vec();
    again.extend_from_slice(&message("bob@example.test", "seen-before"));
    put(&drop, "1700000000.M1P1.isp", &again);
    put(
        &drop,
        "1700000000.M2P1.isp",
        &message("bob@example.test", "new-one"),
    );
    let toml = account("isp", "demo", &isp.password(), "delete = \"leave\"");
    let s = Setup::local(isp.port(2110), isp.port(2995), &toml);
    let log = ok(&s.collect(&[]));
    assert!(
        log.contains("event=collect_duplicate account=isp") && log.contains("to=bob@example.test"),
        "{log}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(subjects(&s, "bob"), ["new-one"], "{log}");
    // And not every pass again: the next one fetches nothing.
    let log = ok(&s.collect(&["--account", "isp"]));
    assert!(!log.contains("collect_duplicate"), "{log}");
    assert_eq!(subjects(&s, "bob"), ["new-one"]);
}
