//! SMTP AUTH with real clients: swaks, curl, Python smtplib; relay only after AUTH; availability
//! (`tls`, `deny`) hides and refuses methods; failed logins are refused, logged and end the
//! connection after a few.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;

use common::*;
use std::process::Command;

/// Queue entries as `postern queue ls --json` prints them (one JSON object per line).
fn queued_recipients(demo: &Demo) -> String {
    let out = demo.postern(&["queue", "ls", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn cert(demo: &Demo) -> String {
    demo.root().join("cert.pem").display().to_string()
}

#[test]
fn swaks_plain_login_cram_md5_over_starttls_may_relay() {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/test installs it)"
    );
    let demo = Demo::start();
    let port = demo.port(2587).to_string();
    let pw = demo.password();
    let cert = cert(&demo);
    for (i, mech) in ["PLAIN", "LOGIN", "CRAM-MD5"].into_iter().enumerate() {
        let rcpt = format!("friend{i}@elsewhere.test");
        let out = run(
            "swaks",
            &[
                "--server",
                "127.0.0.1",
                "--port",
                &port,
                "--tls",
                "--tls-verify",
                "--tls-ca-path",
                &cert,
                "--auth",
                mech,
                "--auth-user",
                "demo",
                "--auth-password",
                &pw,
                "--from",
                "demo@example.test",
                "--to",
                &rcpt,
            ],
        );
        let log = text(&out);
        assert!(out.status.success(), "{mech}: {log}");
        assert!(log.contains("235 2.7.0"), "{mech}: {log}");
        assert!(log.contains("Ok: queued as"), "{mech}: {log}");
        assert!(queued_recipients(&demo).contains(&rcpt), "{mech}");
    }
    let log = demo.log();
    assert!(log.contains("event=login "), "{log}");
    assert!(log.contains("mechanism=CRAM-MD5 user=demo"), "{log}");
}

#[test]
fn relay_refused_without_auth_and_accepted_after_auth() {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/test installs it)"
    );
    let demo = Demo::start();
    let port = demo.port(2525).to_string();
    let pw = demo.password();
    let base = [
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--from",
        "demo@example.test",
    ];
    let mut args = base.to_vec();
    args.extend(["--to", "stranger@elsewhere.test"]);
    let out = run("swaks", &args);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("554 5.7.1"), "{log}");
    // The plain SMTP port offers the challenge-response methods without TLS.
    let mut args = base.to_vec();
    args.extend([
        "--to",
        "friend@elsewhere.test",
        "--auth",
        "CRAM-MD5",
        "--auth-user",
        "demo",
        "--auth-password",
        &pw,
    ]);
    let out = run("swaks", &args);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("250-AUTH SCRAM-SHA-256 CRAM-MD5\r")
            || log.contains("250-AUTH SCRAM-SHA-256 CRAM-MD5\n"),
        "{log}"
    );
    let queue = queued_recipients(&demo);
    assert!(queue.contains("friend@elsewhere.test"), "{queue}");
    assert!(!queue.contains("stranger@elsewhere.test"), "{queue}");
}

#[test]
fn curl_ssl_reqd_submission_and_smtps() {
    assert!(have("curl"), "curl is not installed (bin/test installs it)");
    let demo = Demo::start();
    let pw = demo.password();
    let cert = cert(&demo);
    let user = format!("demo:{pw}");
    let body = demo.dir.path().join("mail.txt");
    std::fs::write(
        &body,
        "From: demo@example.test\r\nSubject: via curl\r\n\r\nhello\r\n",
    )
    .expect("write body");
    let body = body.display().to_string();
    for (i, url) in [
        format!("smtp://127.0.0.1:{}", demo.port(2587)),
        format!("smtps://127.0.0.1:{}", demo.port(2465)),
    ]
    .iter()
    .enumerate()
    {
        let rcpt = format!("curl{i}@elsewhere.test");
        let out = run(
            "curl",
            &[
                "-sS",
                "--ssl-reqd",
                "--cacert",
                &cert,
                "--user",
                &user,
                "--login-options",
                "AUTH=PLAIN",
                "--mail-from",
                "demo@example.test",
                "--mail-rcpt",
                &rcpt,
                "--upload-file",
                &body,
                url,
            ],
        );
        assert!(
            out.status.success(),
            "{url}: {}\n{}",
            text(&out),
            demo.log()
        );
        assert!(queued_recipients(&demo).contains(&rcpt), "{url}");
    }
    // A wrong password: curl reports the failure (67 = login denied).
    let out = run(
        "curl",
        &[
            "-sS",
            "--ssl-reqd",
            "--cacert",
            &cert,
            "--user",
            "demo:wrong",
            "--login-options",
            "AUTH=LOGIN",
            "--mail-from",
            "demo@example.test",
            "--mail-rcpt",
            "x@elsewhere.test",
            "--upload-file",
            &body,
            &format!("smtps://127.0.0.1:{}", demo.port(2465)),
        ],
    );
    assert_eq!(out.status.code(), Some(67), "{}", text(&out));
}

const SMTPLIB: &str = r#"
import smtplib, ssl, sys
port_sub, port_smtps, port_plain, cafile, pw = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)

# Submission: AUTH is not offered with PLAIN before TLS, and MAIL needs AUTH.
s = smtplib.SMTP("127.0.0.1", int(port_sub), timeout=20)
s.ehlo()
print("before-tls", s.esmtp_features.get("auth", "").strip())
print("mail-before-auth", s.mail("demo@example.test")[0])
s.rset()
s.starttls(context=ctx)
s.ehlo()
print("after-tls", s.esmtp_features.get("auth", "").strip())
print("starttls-offered-after-tls", "starttls" in s.esmtp_features)
print("login", s.login("demo", pw)[0])
print("refused", s.sendmail("demo@example.test", ["py1@elsewhere.test"], b"Subject: py\r\n\r\nbody\r\n"))
s.quit()

s = smtplib.SMTP_SSL("127.0.0.1", int(port_smtps), context=ctx, timeout=20)
s.ehlo()
print("smtps", s.esmtp_features.get("auth", "").strip())
print("login", s.login("demo", pw)[0])
print("refused", s.sendmail("demo@example.test", ["py2@elsewhere.test"], b"Subject: py\r\n\r\nbody\r\n"))
s.quit()

# Plain port: PLAIN tried anyway is refused with 538; unknown mechanisms with 504.
s = smtplib.SMTP("127.0.0.1", int(port_plain), timeout=20)
s.ehlo()
print("plain-port", s.esmtp_features.get("auth", "").strip())
print("plain-anyway", *s.docmd("AUTH", "PLAIN AGRlbW8AeA=="))
print("unknown", *s.docmd("AUTH", "NTLM"))
print("noop", s.noop()[0])
s.quit()
"#;

#[test]
fn smtplib_starttls_login_smtp_ssl_and_plaintext_refused_without_tls() {
    let demo = Demo::start();
    let cert = cert(&demo);
    let out = python(
        SMTPLIB,
        &[
            &demo.port(2587).to_string(),
            &demo.port(2465).to_string(),
            &demo.port(2525).to_string(),
            &cert,
            &demo.password(),
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    let want_prefix = [
        "before-tls SCRAM-SHA-256 CRAM-MD5",
        "mail-before-auth 530",
        "after-tls SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN",
        "starttls-offered-after-tls False",
        "login 235",
        "refused {}",
        "smtps SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN",
        "login 235",
        "refused {}",
        "plain-port SCRAM-SHA-256 CRAM-MD5",
    ];
    assert_eq!(&lines[..want_prefix.len()], want_prefix, "{out}");
    assert!(lines[10].starts_with("plain-anyway 538 b'5.7.11"), "{out}");
    assert!(lines[11].starts_with("unknown 504 b'5.5.4"), "{out}");
    assert_eq!(lines[12], "noop 250", "{out}");
    let queue = queued_recipients(&demo);
    assert!(queue.contains("py1@elsewhere.test") && queue.contains("py2@elsewhere.test"));
}

const FAILURES: &str = r#"
import base64, smtplib, sys, time
port = int(sys.argv[1])
wrong = base64.b64encode(b"demo " + b"0" * 32).decode()
s = smtplib.SMTP("127.0.0.1", port, timeout=60)
s.ehlo()
for i in range(3):
    try:
        code, text = s.docmd("AUTH", "CRAM-MD5")
        start = time.monotonic()
        code, text = s.docmd(wrong)
        print("attempt", code, text.decode(), file=sys.stdout)
        print("delay %.2f" % (time.monotonic() - start), file=sys.stderr)
    except smtplib.SMTPServerDisconnected:
        print("disconnected")
        break
try:
    print("after", *s.noop())
except smtplib.SMTPServerDisconnected:
    print("closed")
"#;

#[test]
fn failed_logins_are_refused_logged_and_end_the_connection() {
    let demo = Demo::start();
    let out = Command::new("python3")
        .args(["-c", FAILURES, &demo.port(2525).to_string()])
        .output()
        .expect("python3");
    let delays: Vec<f64> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("delay ")?.parse().ok())
        .collect();
    let out = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.len() >= 3, "{out}");
    // Each failure is answered later than the one before (the demo's defaults: 1 s, doubling).
    assert!(delays.len() >= 2, "{delays:?}");
    assert!(delays[0] >= 0.9, "first failure answered after {delays:?}");
    assert!(
        delays[1] >= 1.8 && delays[1] > delays[0],
        "no growing delay: {delays:?}"
    );
    for line in &lines[..2] {
        assert!(line.starts_with("attempt 535 5.7.8"), "{out}");
    }
    // The third failure is answered with 535 and the 421 close (smtplib sees one of them).
    assert!(
        lines[2].starts_with("attempt 535") || lines[2].starts_with("attempt 421"),
        "{out}"
    );
    let last = lines.last().copied().unwrap_or_default();
    assert!(last == "closed" || last.starts_with("after 421"), "{out}");
    let log = demo.log();
    let failed = log
        .lines()
        .filter(|l| l.contains("event=login_failed"))
        .count();
    assert_eq!(failed, 3, "{log}");
    assert!(log.contains("peer=127.0.0.1:"), "{log}");
    assert!(log.contains("reason=\"too many failed logins\""), "{log}");
}

#[test]
fn denied_methods_are_not_offered_and_refused() {
    assert!(
        have("swaks"),
        "swaks is not installed (bin/test installs it)"
    );
    let mut demo = Demo::start();
    let mut config = std::fs::read_to_string(demo.config()).expect("config");
    config.push_str("\n[auth.smtp]\ncram_md5 = \"deny\"\nplain = \"allow\"\n");
    std::fs::write(demo.config(), config).expect("write config");
    let check = demo.postern(&["config", "check"]);
    assert!(check.status.success(), "{}", text(&check));
    demo.restart();
    let port = demo.port(2525).to_string();
    let pw = demo.password();
    let base = [
        "--server",
        "127.0.0.1",
        "--port",
        &port,
        "--from",
        "demo@example.test",
        "--to",
        "friend@elsewhere.test",
        "--auth-user",
        "demo",
        "--auth-password",
        &pw,
    ];
    // CRAM-MD5 is denied: not advertised, so swaks refuses to try it.
    let mut args = base.to_vec();
    args.extend(["--auth", "CRAM-MD5"]);
    let out = run("swaks", &args);
    let log = text(&out);
    assert!(!out.status.success(), "{log}");
    assert!(log.contains("250-AUTH SCRAM-SHA-256 PLAIN"), "{log}");
    // PLAIN set to "allow" works without TLS.
    let mut args = base.to_vec();
    args.extend(["--auth", "PLAIN"]);
    let out = run("swaks", &args);
    assert!(out.status.success(), "{}", text(&out));
    // Tried anyway, the denied method gets 504.
    let out = python(
        "import smtplib,sys\ns=smtplib.SMTP('127.0.0.1',int(sys.argv[1]),timeout=20)\ns.ehlo()\nprint(*s.docmd('AUTH','CRAM-MD5'))",
        &[&port],
    );
    assert!(out.starts_with("504 b'5.5.4"), "{out}");
}

/// Run GNU SASL's SMTP client (`gsasl --smtp`) against `port`; returns (success, transcript).
fn gsasl(port: u16, extra: &[&str], mech: &str, password: &str) -> (bool, String) {
    let target = format!("127.0.0.1:{port}");
    let mut args = vec!["--client", "--smtp", "--connect", &target, "-m", mech];
    args.extend(["-a", "demo", "-p", password]);
    args.extend(extra);
    let out = std::process::Command::new("gsasl")
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("gsasl");
    (out.status.success(), text(&out))
}

#[test]
fn gsasl_scram_sha256_plain_and_cram_md5() {
    assert!(
        have("gsasl"),
        "gsasl is not installed (bin/test installs it)"
    );
    let demo = Demo::start();
    let pw = demo.password();
    let plain_port = ["--no-starttls"];
    // SCRAM-SHA-256 without TLS: gsasl also checks the server's signature ("server trusted").
    let (ok, log) = gsasl(demo.port(2525), &plain_port, "SCRAM-SHA-256", &pw);
    assert!(ok, "{log}");
    assert!(
        log.contains("235 2.7.0") && log.contains("server trusted"),
        "{log}"
    );
    let (ok, log) = gsasl(demo.port(2525), &plain_port, "SCRAM-SHA-256", "wrong");
    assert!(!ok, "{log}");
    assert!(log.contains("535 5.7.8"), "{log}");
    let (ok, log) = gsasl(demo.port(2525), &plain_port, "CRAM-MD5", &pw);
    assert!(ok && log.contains("235 2.7.0"), "{log}");
    // PLAIN over STARTTLS, certificate checked against the demo certificate.
    let cert = cert(&demo);
    let tls = ["--x509-ca-file", &cert];
    let (ok, log) = gsasl(demo.port(2587), &tls, "PLAIN", &pw);
    assert!(ok, "{log}");
    assert!(
        log.contains("certificate is trusted") && log.contains("235 2.7.0"),
        "{log}"
    );
}

const EDGES: &str = r#"
import base64, smtplib, ssl, sys
port, cafile, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = smtplib.SMTP("127.0.0.1", port, timeout=20)
print("before-ehlo", s.docmd("AUTH", "SCRAM-SHA-256")[0])
s.ehlo()
s.starttls(context=ssl.create_default_context(cafile=cafile))
s.ehlo()
print("bad-base64", *s.docmd("AUTH", "PLAIN !!!notbase64")[:1])
print("cancel", s.docmd("AUTH", "LOGIN")[0], s.docmd("*")[0])
print("empty-initial", s.docmd("AUTH", "PLAIN =")[0])
code, _ = s.docmd("AUTH", "PLAIN")
print("long", code, s.docmd("A" * 20000)[0])
print("noop", s.noop()[0])
ok = base64.b64encode(b"\0demo\0" + pw.encode()).decode()
print("login", s.docmd("AUTH", "PLAIN " + ok)[0])
print("twice", s.docmd("AUTH", "PLAIN " + ok)[0])
print("send", s.sendmail("demo@example.test", ["edge@elsewhere.test"], b"Subject: e\r\n\r\nx\r\n"))
s.quit()
"#;

#[test]
fn sasl_protocol_errors_keep_the_session_going() {
    let demo = Demo::start();
    let out = python(
        EDGES,
        &[&demo.port(2587).to_string(), &cert(&demo), &demo.password()],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "before-ehlo 503",
            "bad-base64 501",
            "cancel 334 501",
            "empty-initial 501",
            "long 334 500",
            "noop 250",
            "login 235",
            "twice 503",
            "send {}",
        ],
        "{out}\n{}",
        demo.log()
    );
    // None of these counted as a failed login.
    assert!(!demo.log().contains("event=login_failed"), "{}", demo.log());
}
