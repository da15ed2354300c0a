//! Transcript tests: lines in, responses out, on a real maildir in a temp directory.

use super::*;
use crate::maildir::deliver::{Delivered, Delivery};
use crate::pop3::maildrop::Maildrop as _;
use crate::sasl::ScramSecret;

pub(super) struct Creds;

impl Credentials for Creds {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        user == "alice" && password == "secret"
    }
    fn shared_secret(&self, _: &str) -> Option<String> {
        None
    }
    fn scram_sha256(&self, _: &str) -> Option<ScramSecret> {
        None
    }

    fn quota(&self, _user: &str) -> Option<u64> {
        None
    }
}

pub(super) struct T {
    pub(super) dir: tempfile::TempDir,
    pub(super) s: Session,
}

impl T {
    pub(super) fn new(tls: bool) -> T {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = SessionConfig::new("mx.test", dir.path());
        cfg.tls_active = tls;
        cfg.starttls = !tls;
        T {
            s: Session::new(cfg),
            dir,
        }
    }

    pub(super) fn send(&mut self, bytes: &str) -> String {
        self.send_as(&Creds, bytes)
    }

    pub(super) fn send_as(&mut self, creds: &dyn Credentials, bytes: &str) -> String {
        self.s.receive(bytes.as_bytes());
        let mut all = Vec::new();
        loop {
            let step = self.s.step(creds);
            all.extend(step.output);
            if step.action != Action::Continue {
                return String::from_utf8_lossy(&all).into_owned();
            }
        }
    }

    pub(super) fn inbox(&self) -> std::path::PathBuf {
        self.dir.path().join("alice")
    }

    pub(super) fn deliver(&self, subject: &str) {
        let msg = format!("Subject: {subject}\n\nbody\n");
        let key: String = subject
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let d = Delivery {
            maildir: &self.inbox(),
            key: &key,
            time: 1_700_000_000,
            hostname: "mx.test",
            prefix: b"",
            message: msg.as_bytes(),
            recovering: false,
        };
        assert!(matches!(d.write(), Ok(Delivered::New(_))));
    }
}

#[test]
fn login_needs_tls_and_states_are_checked() {
    let mut t = T::new(false);
    let greeting = String::from_utf8(t.s.greeting()).unwrap();
    assert!(greeting.contains("STARTTLS") && greeting.contains("LOGINDISABLED"));
    let r = t.send("a SELECT INBOX\r\n");
    assert!(
        r.starts_with("a BAD SELECT not allowed now: Log in first"),
        "{r}"
    );
    let r = t.send("b LOGIN alice secret\r\n");
    assert!(r.starts_with("b NO [PRIVACYREQUIRED]"), "{r}");
    let r = t.send("c STARTTLS\r\nd NOOP\r\n");
    assert_eq!(r, "c OK Begin TLS negotiation now\r\n");
    t.s.tls_started();
    // The NOOP sent before the handshake was dropped (no command injection).
    let r = t.send("e LOGIN alice wrong\r\n");
    assert!(r.starts_with("e NO [AUTHENTICATIONFAILED]"), "{r}");
    let r = t.send("f LOGIN alice secret\r\n");
    assert!(r.starts_with("f OK [CAPABILITY IMAP4rev1"), "{r}");
    assert!(!r.contains("STARTTLS") && !r.contains("AUTH="), "{r}");
    let r = t.send("g FETCH 1 FLAGS\r\n");
    assert!(
        r.starts_with("g BAD FETCH not allowed now: No mailbox selected"),
        "{r}"
    );
    for folder in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            t.inbox().join(format!(".{folder}/cur")).is_dir(),
            "{folder}"
        );
    }
}

#[test]
fn authenticate_plain_with_continuation() {
    let mut t = T::new(true);
    let r = t.send("a AUTHENTICATE PLAIN\r\n");
    assert_eq!(r, "+ \r\n");
    // base64("\0alice\0secret")
    let r = t.send("AGFsaWNlAHNlY3JldA==\r\n");
    assert!(r.starts_with("a OK [CAPABILITY"), "{r}");
    assert_eq!(t.s.user(), Some("alice"));
}

#[test]
fn literals_limits_and_bad_input_keep_the_session_usable() {
    let mut t = T::new(true);
    let r = t.send("a LOGIN {5}\r\n");
    assert_eq!(r, "+ Ready for literal data\r\n");
    let r = t.send("alice secret\r\n");
    assert!(r.starts_with("a OK"), "{r}");
    let r = t.send("b APPEND INBOX {99999999999}\r\n");
    assert!(
        r.starts_with("b NO [LIMIT] literal of 99999999999 octets is larger than the limit of"),
        "{r}"
    );
    let r = t.send("c CREATE ../../etc\r\nd SELECT \"a/../b\"\r\ne FETCH (\r\nf NOOP\r\n");
    assert!(r.contains("c NO [CANNOT] Invalid mailbox name"), "{r}");
    assert!(r.contains("d NO [CANNOT] Invalid mailbox name"), "{r}");
    assert!(r.contains("e BAD"), "{r}");
    assert!(r.contains("f OK NOOP completed"), "{r}");
    assert!(!t.dir.path().join("etc").exists());
    let r = t.send("g APPEND INBOX (\\Seen) {11+}\r\nSubject: x\n\r\n");
    assert!(r.starts_with("g OK [APPENDUID "), "{r}");
}

#[test]
fn updates_arrive_at_the_right_moments_with_a_pop3_deletion() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("m{i}"));
    }
    let r = t.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 3 RECENT\r\n"), "{r}");
    assert!(r.contains("b OK [READ-WRITE] SELECT completed"), "{r}");

    // popd deletes message 2 while imapd has the mailbox selected.
    let mut maildrop = crate::pop3::maildir_drop::MaildirMaildrop::open(
        crate::maildir::Maildir::open(t.inbox()).unwrap(),
    )
    .unwrap();
    assert_eq!(maildrop.delete(&[1]).unwrap(), 1);
    drop(maildrop);
    t.deliver("m3");
    std::thread::sleep(std::time::Duration::from_millis(20));

    // FETCH and SEARCH never carry EXPUNGE (RFC 3501 §7.4.1); EXISTS may come.
    let r = t.send("c FETCH 1:3 (UID)\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(r.contains("* 4 EXISTS"), "{r}");
    let r = t.send("d SEARCH ALL\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    // NOOP delivers it; UIDs stay what they were.
    let r = t.send("e NOOP\r\n");
    assert!(r.starts_with("* 2 EXPUNGE\r\n"), "{r}");
    let r = t.send("f UID SEARCH ALL\r\n");
    assert!(r.starts_with("* SEARCH 1 3 4\r\n"), "{r}");
    let r = t.send("g FETCH 3 (UID FLAGS)\r\n");
    assert!(r.starts_with("* 3 FETCH (UID 4 FLAGS (\\Recent))"), "{r}");
}

#[test]
fn idle_reports_new_mail_and_ends_with_done() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    let r = t.send("c IDLE\r\n");
    assert_eq!(r, "+ idling\r\n");
    assert!(t.s.idle_check().is_empty());
    t.deliver("new");
    let mut seen = String::new();
    for _ in 0..100 {
        seen = String::from_utf8(t.s.idle_check()).unwrap();
        if !seen.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(seen, "* 1 EXISTS\r\n* 1 RECENT\r\n");
    let r = t.send("DONE\r\n");
    assert_eq!(r, "c OK IDLE terminated\r\n");
}

#[test]
fn cache_serves_envelopes_and_follows_changes() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("cached one");
    t.send("b SELECT INBOX\r\n");
    let first = t.send("c FETCH 1 (ENVELOPE)\r\n");
    assert!(first.contains("\"cached one\""), "{first}");
    let cache = t.inbox().join(crate::imap::cache::CACHE_FILE);
    assert!(cache.exists());
    // Same answer from the cache, in a new session.
    let mut u = T {
        s: Session::new(SessionConfig {
            tls_active: true,
            ..SessionConfig::new("mx.test", t.dir.path())
        }),
        dir: tempfile::tempdir().unwrap(),
    };
    u.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n");
    assert_eq!(u.send("c FETCH 1 (ENVELOPE)\r\n"), first);
}

/// alice with a quota of 100 bytes.
struct Quota100;

impl Credentials for Quota100 {
    fn verify_password(&self, user: &str, password: &str) -> bool {
        Creds.verify_password(user, password)
    }
    fn shared_secret(&self, _: &str) -> Option<String> {
        None
    }
    fn scram_sha256(&self, _: &str) -> Option<ScramSecret> {
        None
    }
    fn quota(&self, user: &str) -> Option<u64> {
        (user == "alice").then_some(100)
    }
}

#[test]
fn append_and_copy_over_quota_are_refused_whole_move_is_not() {
    let mut t = T::new(true);
    let q = Quota100;
    assert!(t
        .send_as(&q, "a LOGIN alice secret\r\n")
        .starts_with("a OK"));
    let msg = "Subject: x\r\n\r\n".to_string() + &"y".repeat(26); // 40 bytes
    let r = t.send_as(&q, &format!("b APPEND INBOX {{40+}}\r\n{msg}\r\n"));
    assert!(r.starts_with("b OK [APPENDUID "), "{r}");
    // 40 + 40 + 40 > 100: refused before the literal is sent (no continuation) …
    let r = t.send_as(&q, "c APPEND INBOX {80}\r\n");
    assert!(
        r.starts_with(
            "c NO [OVERQUOTA] Quota exceeded: 40 bytes used of a quota of 100; this would add 80"
        ),
        "{r}"
    );
    // … and with LITERAL+ the data is skipped and the session goes on.
    let r = t.send_as(
        &q,
        &format!("d APPEND INBOX {{80+}}\r\n{msg}{msg}\r\ne NOOP\r\n"),
    );
    assert!(
        r.starts_with("d NO [OVERQUOTA]") && r.contains("e OK NOOP"),
        "{r}"
    );
    let r = t.send_as(&q, &format!("f APPEND INBOX {{40+}}\r\n{msg}\r\n"));
    assert!(r.starts_with("f OK [APPENDUID "), "{r}");
    // 80 used: copying both (80 more) is refused whole, nothing copied.
    let r = t.send_as(&q, "g SELECT INBOX\r\nh COPY 1:2 Trash\r\n");
    assert!(r.contains("h NO [OVERQUOTA]"), "{r}");
    let r = t.send_as(&q, "i STATUS Trash (MESSAGES)\r\n");
    assert!(r.contains("(MESSAGES 0)"), "{r}");
    // A MOVE adds nothing: allowed even when full.
    let r = t.send_as(&q, "j MOVE 1:2 Trash\r\n");
    assert!(
        r.contains("* OK [COPYUID ") && r.contains("j OK MOVE completed"),
        "{r}"
    );
    let r = t.send_as(
        &q,
        "k STATUS Trash (MESSAGES)\r\nl STATUS INBOX (MESSAGES)\r\n",
    );
    assert!(
        r.contains("Trash (MESSAGES 2)") && r.contains("INBOX (MESSAGES 0)"),
        "{r}"
    );
}
