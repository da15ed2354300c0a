use super::*;
use crate::proto::sasl::{Availability, Credentials, MethodPolicy, ScramSecret};

struct TestPolicy;

/// One user, `demo` with password `secret`.
struct TestUsers;

impl Credentials for TestUsers {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        user == "demo" && password == "secret"
    }
    fn shared_secret(&self, _user: &str) -> Option<String> {
        None
    }
    fn scram_sha256(&self, _user: &str) -> Option<ScramSecret> {
        None
    }
    fn quota(&self, _user: &str) -> Option<u64> {
        None
    }
}

impl Policy for TestPolicy {
    fn check_sender(
        &self,
        _c: &Client,
        sender: &str,
        _p: &MailParams,
        _f: &Found,
    ) -> Result<(), Reply> {
        if sender.ends_with("@banned.test") {
            return Err(Reply::new(550, "5.7.1", "Sender rejected"));
        }
        Ok(())
    }
    fn check_recipient(
        &self,
        c: &Client,
        _t: &Transaction,
        rcpt: &str,
        _f: &Found,
    ) -> Result<(), Reply> {
        match rcpt.rsplit_once('@') {
            Some(("nobody", "example.test")) => Err(Reply::new(550, "5.1.1", "No such user")),
            Some((_, "example.test")) => Ok(()),
            _ if c.trusted => Ok(()),
            _ => Err(Reply::new(554, "5.7.1", "Relay access denied")),
        }
    }
    /// picky@example.test refuses messages that mention ATTACHMENT.
    fn check_message(&self, _c: &Client, txn: &Transaction) -> Result<Refusals, Reply> {
        let mentions = txn.data.windows(10).any(|w| w == b"ATTACHMENT");
        Ok(txn
            .recipients
            .iter()
            .enumerate()
            .filter(|(_, (r, _))| mentions && r == "picky@example.test")
            .map(|(i, _)| (i, Reply::new(550, "5.7.1", "No attachments")))
            .collect())
    }
    fn credentials(&self) -> Option<&dyn Credentials> {
        Some(&TestUsers)
    }
}

fn config() -> SessionConfig {
    SessionConfig {
        hostname: "mail.example.test".into(),
        max_size: 1000,
        max_recipients: 3,
        line_limit: 1000,
        max_errors: 5,
        starttls: true,
        submission: false,
        auth: MethodPolicy::NONE,
        failures: crate::proto::sasl::AuthFailures::with_delays(
            2,
            Duration::from_secs(1),
            Duration::from_secs(4),
        ),
    }
}

fn plain_allowed() -> MethodPolicy {
    MethodPolicy {
        plain: Availability::Allow,
        ..MethodPolicy::NONE
    }
}

/// Run a session over `input`, storing every message; returns all output and stored messages.
fn run_with(cfg: SessionConfig, client: Client, input: &[u8]) -> (String, Vec<Transaction>) {
    let mut s = Session::new(cfg, client);
    let mut out = s.greeting();
    let mut stored = Vec::new();
    s.receive(input);
    for _ in 0..10_000 {
        let step = s.step(&TestPolicy);
        out.extend(step.output);
        match step.action {
            Action::NeedInput | Action::Close => break,
            Action::Store(t) => {
                stored.push(t);
                let n = stored.len();
                out.extend(s.stored(Ok(format!("ID{n}"))));
            }
            Action::StartTls => {
                out.extend(b"<TLS>");
                s.tls_started();
            }
            Action::Pause(_) => out.extend(b"<PAUSE>"),
            Action::Lookup(_) => s.found(Found::default()),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), stored)
}

fn run(input: &[u8]) -> (String, Vec<Transaction>) {
    run_with(config(), Client::default(), input)
}

fn codes(out: &str) -> Vec<String> {
    out.split("\r\n")
        .filter(|l| l.len() >= 4 && &l[3..4] == " ")
        .map(|l| l[..3].to_string())
        .collect()
}

#[test]
fn a_plain_transaction() {
    let (out, stored) = run(b"EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nSubject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n");
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "250", "221"]
    );
    assert!(out.contains("250-PIPELINING\r\n250-SIZE 1000\r\n"));
    assert!(out.contains("250-STARTTLS"));
    assert!(out.contains("250 2.0.0 Ok: queued as ID1"));
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].sender, "a@x.test");
    assert_eq!(stored[0].recipients[0].0, "b@example.test");
    assert_eq!(stored[0].data, b"Subject: hi\r\n\r\n.dot\r\n");
}

#[test]
fn sequence_errors_and_policy_replies() {
    for (input, want) in [
        (&b"MAIL FROM:<a@x.test>\r\n"[..], vec!["220", "503"]),
        (
            b"EHLO c\r\nRCPT TO:<b@example.test>\r\n",
            vec!["220", "250", "503"],
        ),
        (b"EHLO c\r\nDATA\r\n", vec!["220", "250", "503"]),
        (
            b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nDATA\r\n",
            vec!["220", "250", "250", "554"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nMAIL FROM:<a@x.test>\r\n",
            vec!["220", "250", "250", "503"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<a@banned.test>\r\n",
            vec!["220", "250", "550"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<nobody@example.test>\r\n",
            vec!["220", "250", "250", "550"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@elsewhere.test>\r\n",
            vec!["220", "250", "250", "554"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<a@x.test> SIZE=5000\r\n",
            vec!["220", "250", "552"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<a@x.test> FOO=BAR\r\n",
            vec!["220", "250", "555"],
        ),
        (
            b"EHLO c\r\nMAIL FROM:<bad address>\r\n",
            vec!["220", "250", "501"],
        ),
        (
            b"EHLO c\r\nVRFY bob\r\nNOOP\r\nRSET\r\nHELP\r\n",
            vec!["220", "250", "252", "250", "250", "214"],
        ),
        (b"BOGUS\r\n", vec!["220", "500"]),
        (b"EHLO c\r\nEXPN list\r\n", vec!["220", "250", "502"]),
        (
            b"HELO c\r\nMAIL FROM:<a@x.test> BODY=8BITMIME\r\n",
            vec!["220", "250", "555"],
        ),
    ] {
        let (out, stored) = run(input);
        assert_eq!(codes(&out), want, "{}", String::from_utf8_lossy(input));
        assert!(stored.is_empty());
    }
}

#[test]
fn every_reply_after_the_greeting_has_an_enhanced_code() {
    let (out, _) = run(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\nx\r\n.\r\nBOGUS\r\nQUIT\r\n");
    for line in out.split("\r\n").skip(1).filter(|l| l.len() > 4) {
        if line.starts_with("250-") || line.starts_with("250 HELP") || line.starts_with("354 ") {
            continue;
        }
        let enhanced = line[4..].split(' ').next().unwrap_or("");
        let parts: Vec<_> = enhanced.split('.').collect();
        assert!(
            parts.len() == 3 && parts.iter().all(|p| p.parse::<u16>().is_ok()),
            "{line}"
        );
        assert_eq!(&enhanced[..1], &line[..1], "{line}");
    }
}

#[test]
fn trusted_clients_may_relay() {
    let client = Client {
        trusted: true,
        ..Client::default()
    };
    let (out, stored) = run_with(
        config(),
        client,
        b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@elsewhere.test>\r\nDATA\r\nx\r\n.\r\n",
    );
    assert_eq!(codes(&out), ["220", "250", "250", "250", "354", "250"]);
    assert_eq!(stored.len(), 1);
}

#[test]
fn recipient_limit_gives_452_and_keeps_the_first() {
    let (out, stored) = run(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<a@example.test>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nRCPT TO:<d@example.test>\r\nDATA\r\nx\r\n.\r\n");
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "250", "250", "452", "354", "250"]
    );
    assert_eq!(stored[0].recipients.len(), 3);
}

#[test]
fn ten_thousand_recipients_end_the_session() {
    let mut input = b"EHLO c\r\nMAIL FROM:<a@x.test>\r\n".to_vec();
    for i in 0..10_000 {
        input.extend(format!("RCPT TO:<u{i}@example.test>\r\n").as_bytes());
    }
    let (out, _) = run(&input);
    let c = codes(&out);
    assert_eq!(
        c.iter().filter(|x| *x == "452").count(),
        RECIPIENT_OVERSHOOT + 1
    );
    assert_eq!(c.last().map(String::as_str), Some("421"));
}

#[test]
fn too_many_errors_close_the_session() {
    let (out, _) = run(b"A\r\nB\r\nC\r\nD\r\nE\r\nF\r\nG\r\n");
    assert_eq!(
        codes(&out),
        ["220", "500", "500", "500", "500", "500", "421"]
    );
}

#[test]
fn long_lines_nul_and_bad_utf8_in_commands() {
    let mut input = vec![b'A'; 5000];
    input.extend(b"\r\nNOOP\r\n");
    let (out, _) = run(&input);
    assert_eq!(codes(&out), ["220", "500", "250"]);
    let (out, _) = run(b"NO\0OP\r\nNOOP \xff\r\nNOOP\r\n");
    assert_eq!(codes(&out), ["220", "500", "500", "250"]);
}

#[test]
fn smuggling_is_refused_and_the_session_stays_in_sync() {
    let (out, stored) = run(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nx\n.\nMAIL FROM:<evil@x.test>\r\nRCPT TO:<b@example.test>\r\n.\r\nNOOP\r\n");
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "554", "250"]
    );
    assert!(stored.is_empty());
}

#[test]
fn oversized_data_is_refused_after_the_end_marker() {
    let mut input =
        b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\n".to_vec();
    for _ in 0..30 {
        input.extend([b'x'; 98]);
        input.extend(b"\r\n");
    }
    input.extend(b".\r\nNOOP\r\n");
    let (out, stored) = run(&input);
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "552", "250"]
    );
    assert!(stored.is_empty());
}

#[test]
fn bdat_chunks() {
    let (out, stored) = run(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nBDAT 6\r\nHello\rBDAT 10 LAST\r\n\n, world\r\nNOOP\r\n");
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "250", "250", "250"]
    );
    // A CRLF split between two chunks is one line end.
    assert_eq!(stored[0].data, b"Hello\r\n, world\r\n");
    // BDAT without a transaction: refused, and the chunk is skipped, not read as commands.
    let (out, stored) = run(b"EHLO c\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n");
    assert_eq!(codes(&out), ["220", "250", "503", "250"]);
    assert!(stored.is_empty());
    let (out, _) =
        run(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nBDAT 2\r\nabDATA\r\n");
    assert_eq!(codes(&out), ["220", "250", "250", "250", "250", "503"]);
}

/// BDAT is held to the DATA rules: a bare LF or CR is refused like DATA refuses it (554 5.6.0),
/// so no `\n.\n` can reach the spool and from there the next hop.
#[test]
fn bdat_refuses_bare_line_ends_like_data() {
    let head = "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\n";
    let smuggle = "Subject: hi\r\n\r\nhello\r\n\n.\nMAIL FROM:<ceo@example.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nforged\r\n.\r\n";
    // In one LAST chunk, and as DATA.
    let input = format!("{head}BDAT {} LAST\r\n{smuggle}NOOP\r\n", smuggle.len());
    let (out, stored) = run(input.as_bytes());
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "554", "250"],
        "{out}"
    );
    assert!(
        out.contains("554 5.6.0 Message contains bare CR or LF"),
        "{out}"
    );
    assert!(stored.is_empty());
    let input = format!("{head}DATA\r\n{smuggle}NOOP\r\n");
    let (out, stored) = run(input.as_bytes());
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "554", "250"]
    );
    assert!(stored.is_empty());
    // In a first chunk: refused there; the chunks already pipelined are read and dropped
    // (not counted as errors) up to LAST, and a new transaction works.
    let (c1, c2, c3) = ("a\r.\rb\r\n", "more\r\n", "end\r\n");
    let input = format!(
        "{head}BDAT {}\r\n{c1}BDAT {}\r\n{c2}BDAT {} LAST\r\n{c3}BDAT 2\r\nxx{head2}BDAT 4 LAST\r\nok\r\n",
        c1.len(),
        c2.len(),
        c3.len(),
        head2 = "MAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\n",
    );
    let (out, stored) = run(input.as_bytes());
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "554", "554", "554", "503", "250", "250", "250"],
        "{out}"
    );
    assert!(out.contains("554 5.6.0"), "{out}");
    assert!(out.contains("554 5.5.0 Discarded 6 octets"), "{out}");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].data, b"ok\r\n");
    // NUL and over-long lines too; a final lone CR is bare.
    for body in ["a\0b\r\n", "ends in CR\r"] {
        let input = format!("{head}BDAT {} LAST\r\n{body}", body.len());
        let (out, stored) = run(input.as_bytes());
        assert_eq!(codes(&out), ["220", "250", "250", "250", "554"], "{body:?}");
        assert!(stored.is_empty());
    }
}

#[test]
fn starttls_discards_pipelined_commands_and_resets() {
    let (out, _) = run(b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<injected@x.test>\r\n");
    assert_eq!(codes(&out), ["220", "250", "220"]);
    assert!(out.ends_with("<TLS>"));
    let client = Client {
        tls: true,
        ..Client::default()
    };
    let (out, _) = run_with(config(), client, b"EHLO c\r\nSTARTTLS\r\n");
    assert!(!out.contains("STARTTLS\r\n250 HELP") || !out.contains("250-STARTTLS"));
    assert_eq!(codes(&out), ["220", "250", "503"]);
}

#[test]
fn submission_requires_auth() {
    let cfg = SessionConfig {
        submission: true,
        auth: plain_allowed(),
        ..config()
    };
    let (out, _) = run_with(
        cfg,
        Client::default(),
        b"EHLO c\r\nMAIL FROM:<a@x.test>\r\n",
    );
    assert_eq!(codes(&out), ["220", "250", "530"]);
    assert!(out.contains("250-AUTH PLAIN"));
}

#[test]
fn byte_at_a_time_input_gives_the_same_result() {
    let input = b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nDATA\r\nline\r\n..\r\n.\r\nQUIT\r\n";
    let mut s = Session::new(config(), Client::default());
    let mut stored = Vec::new();
    for b in input.iter() {
        s.receive(&[*b]);
        loop {
            let step = s.step(&TestPolicy);
            match step.action {
                Action::Store(t) => {
                    stored.push(t);
                    let _ = s.stored(Ok("X".into()));
                }
                _ => break,
            }
        }
    }
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].data, b"line\r\n.\r\n");
}

/// `\0demo\0secret` and `\0demo\0wrong`, base64.
const GOOD: &str = "AGRlbW8Ac2VjcmV0";
const BAD: &str = "AGRlbW8Ad3Jvbmc=";

#[test]
fn auth_ordering_rules_and_continuation_lines() {
    let cfg = SessionConfig {
        auth: MethodPolicy {
            scram_sha256: Availability::Allow,
            plain: Availability::Tls,
            ..MethodPolicy::NONE
        },
        ..config()
    };
    // Before EHLO: refused, the session goes on.
    let (out, _) = run_with(
        cfg.clone(),
        Client::default(),
        format!("AUTH PLAIN {GOOD}\r\nNOOP\r\n").as_bytes(),
    );
    assert_eq!(codes(&out), ["220", "503", "250"]);
    // PLAIN needs TLS here (538), an unknown mechanism is not available (504).
    let (out, _) = run_with(
        cfg.clone(),
        Client::default(),
        b"EHLO c\r\nAUTH PLAIN\r\nAUTH X-UNKNOWN\r\nNOOP\r\n",
    );
    assert_eq!(codes(&out), ["220", "250", "538", "504", "250"]);
    // With TLS: an empty challenge, the response on its own line, then pipelined commands.
    let tls = Client {
        tls: true,
        ..Client::default()
    };
    let mut s = Session::new(cfg, tls);
    s.receive(format!("EHLO c\r\nAUTH plain\r\n{GOOD}\r\nNOOP\r\n").as_bytes());
    assert!(s.may_check_credentials());
    let out = String::from_utf8_lossy(&s.step(&TestPolicy).output).into_owned();
    assert_eq!(codes(&out), ["250", "334", "235", "250"], "{out}");
    assert!(s.client().trusted);
    assert_eq!(
        s.take_notes(),
        [LoginNote::Ok {
            user: "demo".into(),
            mechanism: "PLAIN".into()
        }]
    );
    s.receive(b"AUTH SCRAM-SHA-256\r\nEHLO again\r\nMAIL FROM:<a@x.test>\r\nAUTH PLAIN\r\n");
    let out = String::from_utf8_lossy(&s.step(&TestPolicy).output).into_owned();
    assert_eq!(codes(&out), ["503", "250", "250", "503"]);
    assert!(out.contains("Already authenticated"));
    assert!(
        !out.contains("AUTH SCRAM"),
        "no AUTH after authenticating: {out}"
    );
}

#[test]
fn failed_logins_pause_before_535_and_close_at_the_limit() {
    let cfg = SessionConfig {
        auth: plain_allowed(),
        ..config()
    };
    let mut s = Session::new(cfg, Client::default());
    s.receive(format!("EHLO c\r\nAUTH PLAIN {BAD}\r\nAUTH PLAIN {BAD}\r\nNOOP\r\n").as_bytes());
    let first = s.step(&TestPolicy);
    assert_eq!(codes(&String::from_utf8_lossy(&first.output)), ["250"]);
    assert!(matches!(first.action, Action::Pause(d) if d == Duration::from_secs(1)));
    // The 535 comes after the pause; the second failure reaches the limit of 2.
    let second = s.step(&TestPolicy);
    assert_eq!(codes(&String::from_utf8_lossy(&second.output)), ["535"]);
    assert!(matches!(second.action, Action::Pause(d) if d == Duration::from_secs(2)));
    let last = s.step(&TestPolicy);
    let text = String::from_utf8_lossy(&last.output).into_owned();
    assert_eq!(codes(&text), ["535", "421"], "{text}");
    assert!(matches!(last.action, Action::Close));
    assert_eq!(s.close_reason(), Some("too many failed logins"));
    assert!(matches!(
        &s.take_notes()[..],
        [LoginNote::Failed { .. }, LoginNote::Failed { .. }]
    ));
}

#[test]
fn an_over_long_auth_line_is_skipped_and_fails_the_exchange() {
    let cfg = SessionConfig {
        auth: plain_allowed(),
        ..config()
    };
    let long = "A".repeat(crate::proto::sasl::MAX_CLIENT_LINE + 10);
    let (out, _) = run_with(
        cfg,
        Client::default(),
        format!("EHLO c\r\nAUTH PLAIN\r\n{long}\r\nNOOP\r\n").as_bytes(),
    );
    assert_eq!(codes(&out), ["220", "250", "334", "500", "250"]);
    assert!(out.contains("500 5.5.6"), "{out}");
}

#[test]
fn recipients_refusing_after_data_are_bounced_unless_all_refuse() {
    let head = "EHLO c\r\nMAIL FROM:<a@x.test>\r\n";
    let (out, stored) = run(format!(
        "{head}RCPT TO:<b@example.test>\r\nRCPT TO:<picky@example.test>\r\n\
         DATA\r\nATTACHMENT\r\n.\r\n"
    )
    .as_bytes());
    assert!(out.contains("250 2.0.0 Ok: queued as ID1"), "{out}");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].refused.len(), 1);
    assert_eq!(stored[0].refused[0].0, 1);
    // Taken by everyone when nothing is refused.
    let (_, stored) = run(format!(
        "{head}RCPT TO:<b@example.test>\r\nRCPT TO:<picky@example.test>\r\nDATA\r\nplain\r\n.\r\n"
    )
    .as_bytes());
    assert!(stored[0].refused.is_empty());
    // Refused by every recipient: the message is refused with that reply, and the session goes on.
    let (out, stored) = run(format!(
        "{head}RCPT TO:<picky@example.test>\r\nDATA\r\nATTACHMENT\r\n.\r\nMAIL FROM:<a@x.test>\r\n"
    )
    .as_bytes());
    assert!(stored.is_empty());
    assert_eq!(
        codes(&out),
        ["220", "250", "250", "250", "354", "550", "250"]
    );
    assert!(out.contains("550 5.7.1 No attachments\r\n"), "{out}");
}

/// Without random bytes from the system there is no challenge to send: CRAM-MD5 and SCRAM-SHA-256
/// answer `454 4.7.0` (try again later) instead of a guessable one, and the session goes on.
#[test]
fn auth_without_random_bytes_is_a_temporary_failure() {
    let cfg = SessionConfig {
        auth: MethodPolicy {
            cram_md5: Availability::Allow,
            scram_sha256: Availability::Allow,
            ..MethodPolicy::NONE
        },
        ..config()
    };
    let input = b"EHLO c\r\nAUTH CRAM-MD5\r\nAUTH SCRAM-SHA-256\r\nNOOP\r\n";
    let (out, _) = crate::proto::sasl::random::failing::during(|| {
        run_with(cfg.clone(), Client::default(), input)
    });
    assert_eq!(codes(&out), ["220", "250", "454", "454", "250"], "{out}");
    assert!(
        out.contains("454 4.7.0 Temporary authentication failure"),
        "{out}"
    );
    // With the source back, the same command gets its challenge.
    let (out, _) = run_with(cfg, Client::default(), b"EHLO c\r\nAUTH CRAM-MD5\r\n");
    assert_eq!(codes(&out), ["220", "250", "334"], "{out}");
}

#[test]
fn refused_at_connect_greets_with_554_and_then_waits_for_quit() {
    let mut s = Session::new(config(), Client::default());
    s.refuse_at_connect(Reply::new(
        554,
        "5.7.1",
        "Service unavailable; client [192.0.2.1] blocked using bl.test",
    ));
    let mut out = s.greeting();
    s.receive(
        b"EHLO c.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@example.test>\r\nNOOP\r\nQUIT\r\n",
    );
    let mut closed = false;
    for _ in 0..100 {
        let step = s.step(&TestPolicy);
        out.extend(step.output);
        match step.action {
            Action::Close => {
                closed = true;
                break;
            }
            Action::NeedInput => break,
            _ => {}
        }
    }
    let out = String::from_utf8_lossy(&out).into_owned();
    assert!(
        out.starts_with(
            "554 5.7.1 Service unavailable; client [192.0.2.1] blocked using bl.test\r\n"
        ),
        "{out}"
    );
    assert_eq!(
        codes(&out),
        ["554", "503", "503", "503", "503", "221"],
        "{out}"
    );
    assert!(closed, "{out}");
}

#[test]
fn refused_at_connect_closes_after_too_many_commands() {
    let mut s = Session::new(config(), Client::default());
    s.refuse_at_connect(Reply::new(554, "5.7.1", "go away"));
    s.receive(&b"NOOP\r\n".repeat(20));
    let mut out = Vec::new();
    for _ in 0..100 {
        let step = s.step(&TestPolicy);
        out.extend(step.output);
        if matches!(step.action, Action::Close | Action::NeedInput) {
            break;
        }
    }
    let out = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(
        codes(&out).iter().filter(|c| *c == "503").count(),
        5,
        "{out}"
    );
    assert!(codes(&out).last().is_some_and(|c| c == "421"), "{out}");
}
