//! Addresses over SMTP (issue 14, items 4, 5 and 7), sent with swaks to a real smtpd: an
//! aliases file with a distribution list, `:include:`, a loop and the default aliases; plus
//! addressing with the full address in `Delivered-To`; postmaster@ a redirected domain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::time::Duration;

use common::site::Site;
use common::*;

fn swaks(site: &Site, to: &str, subject: &str) -> std::process::Output {
    run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &site.port.to_string(),
            "--from",
            "someone@elsewhere.test",
            "--to",
            to,
            "--header",
            &format!("Subject: {subject}"),
            "--body",
            "hello",
        ],
    )
}

fn mails(site: &Site, user: &str, n: usize) -> Vec<String> {
    wait_for_mail(&site.maildir(user), n, Duration::from_secs(10))
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("read"))
        .collect()
}

#[test]
fn aliases_plus_addressing_and_postmaster_over_smtp() {
    assert!(have("swaks"), "swaks is needed");
    let lists = tempfile::tempdir().expect("tempdir");
    let team = lists.path().join("team");
    std::fs::write(&team, "# the team\ndemo2\ndemo\n").expect("team");
    let aliases = lists.path().join("aliases");
    std::fs::write(
        &aliases,
        format!(
            "# aliases(5)\npostmaster: demo\nstaff: demo,\n  :include:{}\nloop1: loop2\nloop2: loop1\n",
            team.display()
        ),
    )
    .expect("aliases");
    let site = Site::new(&format!(
        "[addresses]\naliases = \"{}\"\n\n[[domain]]\nname = \"catch.test\"\nredirect = \"demo2\"\n",
        aliases.display()
    ));
    site.add_user("demo2", "pw2");
    let smtpd = site.smtpd("smtpd");

    // A distribution list: each mailbox once, though demo is named twice.
    let out = swaks(&site, "staff@example.test", "to staff");
    assert!(out.status.success(), "{}", text(&out));
    // Plus addressing: demo's mailbox, the full address in Delivered-To.
    let out = swaks(&site, "demo+lists@example.test", "tagged");
    assert!(out.status.success(), "{}", text(&out));
    // The default alias root → server.postmaster (postmaster@example.test) → alias → demo.
    let out = swaks(&site, "root@example.test", "for root");
    assert!(out.status.success(), "{}", text(&out));
    // postmaster@ a domain whose redirect takes everything else goes to the postmaster.
    let out = swaks(&site, "postmaster@catch.test", "for the postmaster");
    assert!(out.status.success(), "{}", text(&out));
    let out = swaks(&site, "anyone@catch.test", "redirected");
    assert!(out.status.success(), "{}", text(&out));
    // A loop is accepted at RCPT (it is an alias) and ends, undeliverable, without hanging.
    let out = swaks(&site, "nosuchuser@example.test", "nobody");
    assert!(text(&out).contains("550 5.1.1"), "{}", text(&out));

    let demo = mails(&site, "demo", 4);
    let demo2 = mails(&site, "demo2", 2);
    std::thread::sleep(Duration::from_millis(300));
    let demo = if demo.len() < 4 {
        mails(&site, "demo", 4)
    } else {
        demo
    };
    let subjects = |ms: &[String]| {
        let mut s: Vec<String> = ms
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find(|l| l.starts_with("Subject: "))
                    .map(str::to_string)
            })
            .collect();
        s.sort();
        s
    };
    assert_eq!(
        subjects(&demo),
        [
            "Subject: for root",
            "Subject: for the postmaster",
            "Subject: tagged",
            "Subject: to staff"
        ],
        "{demo:#?}\n{}",
        smtpd.log()
    );
    assert_eq!(
        subjects(&demo2),
        ["Subject: redirected", "Subject: to staff"],
        "{demo2:#?}"
    );
    let tagged = demo.iter().find(|m| m.contains("Subject: tagged")).unwrap();
    assert!(
        tagged.contains("Delivered-To: demo+lists@example.test\n"),
        "{tagged}"
    );
    let log = smtpd.log();
    assert!(
        log.contains("to=demo@example.test,demo2@example.test"),
        "the list expanded once each: {log}"
    );
}

#[test]
fn config_check_finds_users_aliases_and_addresses() {
    let site = Site::new(
        "[[domain.handler]]\nlocal = \"sales\"\nmailbox = \"ghost\"\n\
         [[domain]]\nname = \"other.test\"\nredirect = \"phantom\"\n\
         [[listener]]\nname = \"tls\"\nprotocol = \"smtp\"\naddress = \"127.0.0.1:2465\"\n\
         tls = \"implicit\"\ncert = \"missing-cert.pem\"\nkey = \"missing-key.pem\"\n",
    );
    let out = site.postern(&["config", "check"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(78), "{said}");
    let config = site.config().display().to_string();
    assert!(
        said.contains("ghost") && said.contains("no such user"),
        "{said}"
    );
    assert!(said.contains("phantom"), "{said}");
    // The certificate with its line, together with the others.
    assert!(
        said.lines()
            .any(|l| l.contains(&format!("{config}:")) && l.contains("missing-cert.pem")),
        "{said}"
    );
    // A bad socket address names the value.
    std::fs::write(
        site.config(),
        std::fs::read_to_string(site.config())
            .unwrap()
            .replace("127.0.0.1:2465", "127.0.0.1:70000"),
    )
    .unwrap();
    let said = text(&site.postern(&["config", "check"]));
    assert!(said.contains("127.0.0.1:70000"), "{said}");
    assert!(said.contains("port"), "{said}");
}
