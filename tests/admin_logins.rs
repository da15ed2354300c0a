//! Logging in as an ordinary user (issue 14, items 0 and 6): with no shared secret stored,
//! CRAM-MD5 and APOP are not offered, so clients that prefer them (Python smtplib, curl) log in
//! on their first try; once a user has one, they are offered and a login failing for a user
//! without one says so in the log. The full address works as a login name everywhere, and two
//! domains' `bob`s can be different mailboxes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::site::{Daemon, Site};
use common::*;

const AUTH: &str = "[auth.smtp]\nplain = \"allow\"\nlogin = \"allow\"\n\
    [auth.pop3]\nplain = \"allow\"\nlogin = \"allow\"\nuser_pass = \"allow\"\n\
    [auth.imap]\nplain = \"allow\"\nlogin = \"allow\"\nlogin_command = \"allow\"\n\
    [[domain]]\nname = \"beta.test\"\n\
    [[domain.handler]]\nlocal = \"demo\"\nmailbox = \"demo2\"\n";

fn daemon(site: &Site, which: &str, port: u16) -> Daemon {
    let log = site.root().join(format!("{which}.log"));
    let child = site
        .command()
        .args([which, "--listen", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("spawn");
    let d = Daemon { child, log };
    assert!(
        wait_for_port(([127, 0, 0, 1], port).into(), Duration::from_secs(20)),
        "{which} did not start:\n{}",
        d.log()
    );
    d
}

/// smtplib's login(): the first mechanism of CRAM-MD5, PLAIN, LOGIN the server offers.
const SMTPLIB: &str = r#"
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20)
s.ehlo("client.test")
print("AUTH:", s.esmtp_features.get("auth", ""))
try:
    s.login(sys.argv[2], sys.argv[3])
    print("LOGIN OK")
except smtplib.SMTPAuthenticationError as e:
    print("LOGIN FAILED", e.smtp_code)
s.quit()
"#;

fn smtplib(port: u16, user: &str, pw: &str) -> String {
    python(SMTPLIB, &[&port.to_string(), user, pw])
}

fn curl(url: &str, user: &str, pw: &str) -> std::process::Output {
    run(
        "curl",
        &[
            "-sS",
            "-v",
            "--max-time",
            "20",
            "-u",
            &format!("{user}:{pw}"),
            url,
        ],
    )
}

#[test]
fn no_shared_secret_no_cram_md5_and_every_client_logs_in_first_time() {
    assert!(have("curl"), "curl is needed");
    let site = Site::new(AUTH);
    site.add_user("demo2", "beta-pw");
    let smtp = site.smtpd("smtpd");
    let (pop, imap) = (site.port + 1, site.port + 2);
    let popd = daemon(&site, "popd", pop);
    let imapd = daemon(&site, "imapd", imap);

    let out = smtplib(site.port, "demo", "secret");
    assert!(out.contains("LOGIN OK"), "{out}");
    assert!(!out.contains("CRAM-MD5"), "{out}");
    let out = curl(&format!("imap://127.0.0.1:{imap}/INBOX"), "demo", "secret");
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("CRAM-MD5"), "{}", text(&out));
    let out = curl(&format!("pop3://127.0.0.1:{pop}/"), "demo", "secret");
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(!said.contains("CRAM-MD5"), "{said}");
    // No APOP timestamp in the greeting either.
    let greeting = said
        .lines()
        .find(|l| l.starts_with("< +OK"))
        .unwrap_or_default()
        .to_string();
    assert!(!greeting[2..].contains('<'), "{greeting}");

    // Item 6: the full address logs in, on every protocol; beta.test's demo is demo2.
    let out = smtplib(site.port, "demo@example.test", "secret");
    assert!(out.contains("LOGIN OK"), "{out}");
    let out = curl(
        &format!("imap://127.0.0.1:{imap}/INBOX"),
        "demo@beta.test",
        "beta-pw",
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = curl(
        &format!("pop3://127.0.0.1:{pop}/"),
        "demo@example.test",
        "secret",
    );
    assert!(out.status.success(), "{}", text(&out));
    // The wrong domain's password does not open the other mailbox.
    let out = curl(
        &format!("imap://127.0.0.1:{imap}/INBOX"),
        "demo@beta.test",
        "secret",
    );
    assert!(!out.status.success(), "{}", text(&out));

    for (name, d) in [("smtpd", &smtp), ("popd", &popd)] {
        assert!(!d.log().contains("login_failed"), "{name}:\n{}", d.log());
    }
    let log = imapd.log();
    assert_eq!(log.matches("event=login_failed").count(), 1, "{log}");
    assert!(log.contains("user=demo2"), "{log}");
    assert!(
        log.contains("protocol=imap") && log.contains("user=demo@beta.test reason=credentials"),
        "{log}"
    );
}

#[test]
fn with_shared_secrets_cram_md5_is_offered_and_a_user_without_one_is_named() {
    assert!(have("curl"), "curl is needed");
    let site = Site::new(AUTH);
    let mut child = site
        .command()
        .args(["user", "add", "old", "--password-stdin", "--shared-secret"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("user add");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"old-secret\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let smtp = site.smtpd("smtpd");
    let pop = site.port + 1;
    let popd = daemon(&site, "popd", pop);
    // The user with a secret uses CRAM-MD5 and APOP.
    let out = smtplib(site.port, "old", "old-secret");
    assert!(
        out.contains("CRAM-MD5") && out.contains("LOGIN OK"),
        "{out}"
    );
    // smtplib picks CRAM-MD5 for demo too, which has no secret: refused (smtplib then falls
    // back to PLAIN), and the log says why.
    let out = smtplib(site.port, "demo", "secret");
    assert!(out.contains("LOGIN OK"), "{out}");
    let log = smtp.log();
    assert!(
        log.contains("event=login_failed protocol=smtp")
            && log.contains("mechanism=CRAM-MD5 user=demo reason=")
            && log.contains("has no shared secret"),
        "{log}"
    );
    // POP3 APOP as demo (Python's poplib computes the digest): the same reason.
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import poplib, sys\n\
             p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=20)\n\
             try:\n    p.apop('demo', 'secret'); print('OK')\n\
             except poplib.error_proto as e: print('FAILED', e)\n",
        )
        .arg(pop.to_string())
        .output()
        .expect("python");
    assert!(text(&out).contains("FAILED"), "{}", text(&out));
    let log = popd.log();
    assert!(
        log.contains("protocol=pop3") && log.contains("mechanism=APOP user=demo reason="),
        "{log}"
    );
    assert!(log.contains("has no shared secret"), "{log}");
}
