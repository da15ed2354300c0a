//! SASL NTLM with real clients: curl (`--login-options AUTH=NTLM`, its own NTLMv2 code) and
//! Python's ntlm-auth (Debian python3-ntlm-auth, NTLMv2) over SMTP AUTH, POP3 AUTH and IMAP
//! AUTHENTICATE, against a file user whose NT hash was stored with `postern user passwd --ntlm`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // tests may panic

mod common;
mod ntlm_support;

use common::*;
use ntlm_support::*;

const NTLM_CONFIG: &str =
    "\n[auth.smtp]\nntlm = \"tls\"\n[auth.pop3]\nntlm = \"tls\"\n[auth.imap]\nntlm = \"tls\"\n";

#[test]
fn curl_and_python_ntlm_against_a_stored_nt_hash() {
    assert!(have("curl"));
    assert!(
        std::process::Command::new("/usr/bin/python3")
            .args(["-c", "import ntlm_auth"])
            .status()
            .is_ok_and(|s| s.success()),
        "python3-ntlm-auth is not installed (bin/install-test-deps)"
    );
    let mut demo = Demo::start();
    let pw = demo.password();
    // Not offered by default.
    let ehlo = run(
        "swaks",
        &[
            "--server",
            "127.0.0.1",
            "--port",
            &demo.port(2587).to_string(),
            "--tls",
            "--quit-after",
            "EHLO",
        ],
    );
    assert!(!text(&ehlo).contains("NTLM"), "{}", text(&ehlo));
    let mut config = std::fs::read_to_string(demo.config()).unwrap();
    config.push_str(NTLM_CONFIG);
    std::fs::write(demo.config(), config).unwrap();
    // The NT hash, with the warning that it is password-equivalent.
    let out = output_with_stdin(
        std::process::Command::new(bin())
            .arg("--config")
            .arg(demo.config())
            .args([
                "user",
                "passwd",
                "demo",
                "--password-stdin",
                "--shared-secret",
                "--ntlm",
            ]),
        format!("{pw}\n").as_bytes(),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("password-equivalent"), "{}", text(&out));
    let users = std::fs::read_to_string(demo.root().join("users.toml")).unwrap();
    assert!(users.contains("nt_hash"), "{users}");
    demo.restart();

    // curl: SMTP (submission, STARTTLS), POP3 and IMAP.
    let mail = demo.root().join("msg.eml");
    std::fs::write(&mail, "Subject: over NTLM\r\n\r\nhello\r\n").unwrap();
    let smtp = format!("smtp://127.0.0.1:{}", demo.port(2587));
    let out = curl_ntlm(
        &demo,
        &smtp,
        "demo",
        &pw,
        &[
            "--mail-from",
            "demo@example.test",
            "--mail-rcpt",
            "demo@example.test",
            "-T",
            &mail.display().to_string(),
        ],
    );
    let t = text(&out);
    assert!(t.contains("AUTH NTLM") && t.contains("235 "), "smtp: {t}");
    let out = curl_ntlm(
        &demo,
        &format!("pop3://127.0.0.1:{}/", demo.port(2110)),
        "demo",
        &pw,
        &[],
    );
    assert!(
        out.status.success() && text(&out).contains("AUTH NTLM"),
        "pop3: {}",
        text(&out)
    );
    let out = curl_ntlm(
        &demo,
        &format!("imap://127.0.0.1:{}/", demo.port(2143)),
        "demo",
        &pw,
        &[],
    );
    assert!(
        out.status.success()
            && text(&out).contains("AUTHENTICATE NTLM")
            && text(&out).contains("INBOX"),
        "imap: {}",
        text(&out)
    );
    // A wrong password fails.
    let out = curl_ntlm(
        &demo,
        &format!("imap://127.0.0.1:{}/", demo.port(2143)),
        "demo",
        "wrong",
        &[],
    );
    assert!(!out.status.success(), "imap wrong password: {}", text(&out));
    let out = curl_ntlm(
        &demo,
        &smtp,
        "demo",
        "wrong",
        &[
            "--mail-rcpt",
            "demo@example.test",
            "-T",
            &mail.display().to_string(),
        ],
    );
    assert!(
        text(&out).contains("535 "),
        "smtp wrong password: {}",
        text(&out)
    );

    // Python ntlm-auth over IMAP and POP3.
    let py = |user: &str, pw: &str| python_ntlm(&demo, user, pw);
    let out = py("demo", &pw);
    assert!(
        out.contains("imap ok True") && out.contains("pop3 ok +OK"),
        "{out}"
    );
    let out = py("demo", "wrong");
    assert!(
        out.contains("imap fail") && out.contains("pop3 fail"),
        "{out}"
    );
    let out = py("nobody", "x");
    assert!(
        out.contains("imap fail") && out.contains("pop3 fail"),
        "{out}"
    );
    // The message sent over NTLM-authenticated SMTP arrived.
    let files = wait_for_mail(&demo.maildir("demo"), 1, std::time::Duration::from_secs(10));
    assert!(!files.is_empty(), "{}", demo.log());
}
