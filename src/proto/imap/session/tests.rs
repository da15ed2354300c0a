//! Transcript tests: lines in, responses out — on the in-memory store ([`MemoryStore`]), and in
//! [`disk`] on real maildirs in a temporary directory, where what is tested is the maildir
//! store itself (files, the state shared with POP3, the cache file, shared message lists).

mod compliance;
mod disk;
mod extensions;
mod rev2;

use super::*;
use crate::access::imap::store::MaildirStore;
use crate::proto::imap::store::memory::MemoryStore;
use crate::proto::sasl::ScramSecret;
use crate::store::maildir::deliver::{Delivered, Delivery};

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

/// A store the tests can deliver into, as local delivery does.
pub(super) trait TestStore: MailStore + Clone {
    /// Delivers a small message with this subject into alice's INBOX.
    fn deliver(&self, subject: &str);
}

fn message(subject: &str) -> String {
    format!("Subject: {subject}\n\nbody\n")
}

impl TestStore for MemoryStore {
    fn deliver(&self, subject: &str) {
        MemoryStore::deliver(self, "alice", message(subject).as_bytes());
    }
}

impl TestStore for MaildirStore {
    fn deliver(&self, subject: &str) {
        let key: String = subject
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let inbox = self.volume().inbox_path("alice").unwrap();
        let msg = message(subject);
        let d = Delivery {
            maildir: &inbox,
            key: &key,
            time: 1_700_000_000,
            hostname: "mx.test",
            prefix: b"",
            message: msg.as_bytes(),
            recovering: false,
            flags: "",
        };
        assert!(matches!(d.write(), Ok(Delivered::New(_))));
    }
}

/// A session on a store, and the store (shared with other sessions the test opens).
pub(super) struct T<S: MailStore = MemoryStore> {
    pub(super) store: S,
    pub(super) s: Session<S>,
}

fn session<S: MailStore>(store: S, tls: bool) -> Session<S> {
    let mut cfg = SessionConfig::with_store("mx.test", store);
    cfg.tls_active = tls;
    cfg.starttls = !tls;
    Session::new(cfg)
}

impl T<MemoryStore> {
    /// A session on a new in-memory store.
    pub(super) fn new(tls: bool) -> T<MemoryStore> {
        let store = MemoryStore::new();
        T {
            s: session(store.clone(), tls),
            store,
        }
    }
}

impl<S: TestStore> T<S> {
    pub(super) fn send(&mut self, bytes: &str) -> String {
        self.send_as(&Creds, bytes)
    }

    pub(super) fn send_as(&mut self, creds: &dyn Credentials, bytes: &str) -> String {
        self.s.receive(bytes.as_bytes());
        let mut all = Vec::new();
        loop {
            let step = self.s.step(creds);
            all.extend_from_slice(&step.output);
            if step.action != Action::Continue {
                return String::from_utf8_lossy(&all).into_owned();
            }
            // As the connection loop does: the written output comes back for the next step.
            self.s.recycle(step.output);
        }
    }

    pub(super) fn deliver(&self, subject: &str) {
        self.store.deliver(subject);
    }

    /// A second session on the same store, logged in.
    pub(super) fn other(&self) -> T<S> {
        let mut u = T {
            s: session(self.store.clone(), true),
            store: self.store.clone(),
        };
        u.send("a LOGIN alice secret\r\n");
        u
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
    let r = t.send("h LIST \"\" %\r\n");
    for folder in ["Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(r.contains(&format!("\"/\" {folder}\r\n")), "{folder}: {r}");
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

#[test]
fn updates_go_before_the_completion_and_never_expunge_during_fetch_store_search() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("m{i}"));
    }
    let r = t.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 3 RECENT\r\n"), "{r}");
    // Another process removes message 2 and a new one arrives.
    t.store.remove("alice", 2);
    t.deliver("m3");
    let r = t.send("c FETCH 1:3 (UID)\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 2)\r\n* 3 FETCH (UID 3)\r\n\
         * 4 EXISTS\r\n* 4 RECENT\r\nc OK FETCH completed\r\n",
    );
    let r = t.send("d STORE 1 +FLAGS (\\Seen)\r\ne SEARCH ALL\r\n");
    assert!(!r.contains("EXPUNGE"), "{r}");
    assert!(
        r.contains("* SEARCH 1 2 3 4\r\ne OK SEARCH completed\r\n"),
        "{r}"
    );
    // Any other command carries the EXPUNGE, right before its completion.
    let r = t.send("f NOOP\r\n");
    assert_eq!(r, "* 2 EXPUNGE\r\nf OK NOOP completed\r\n");
    let r = t.send("g UID SEARCH ALL\r\n");
    assert_eq!(r, "* SEARCH 1 3 4\r\ng OK SEARCH completed\r\n");
    // A UID STORE may carry them too: from a third session's removal.
    t.store.remove("alice", 3);
    let r = t.send("h UID STORE 4 +FLAGS.SILENT (\\Flagged)\r\n");
    assert_eq!(r, "* 2 EXPUNGE\r\nh OK STORE completed\r\n");
}

/// `[limits] line_length` above the 64 KiB floor admits a longer command line (a long UID
/// set); below the floor the floor holds.
#[test]
fn command_line_limit_follows_the_configured_line_length() {
    let long = format!("a LOGIN alice \"{}\"\r\n", "x".repeat(100 * 1024));
    for (max_line, accepted) in [(1000, false), (200 * 1024, true)] {
        let mut cfg = SessionConfig::with_store("mx.test", MemoryStore::new());
        cfg.tls_active = true;
        cfg.max_line = max_line;
        let mut t = T {
            store: MemoryStore::new(),
            s: Session::new(cfg),
        };
        let reply = t.send(&long);
        assert_eq!(
            reply.starts_with("a NO"),
            accepted,
            "max_line {max_line}: {reply}"
        );
    }
}

#[test]
fn a_long_fetch_starts_with_a_small_step_and_grows_to_full_chunks() {
    use crate::proto::imap::session::commands::fetch::{CHUNK, FIRST_CHUNK};
    let mut t = T::new(true);
    let body = format!("{}\n", "z".repeat(1000)).repeat(2);
    for i in 0..600 {
        t.store
            .deliver("alice", format!("Subject: m{i}\n\n{body}").as_bytes());
    }
    t.send("a LOGIN alice secret\r\nb EXAMINE INBOX\r\n");
    t.s.receive(b"c UID FETCH 1:* (FLAGS RFC822.SIZE BODY.PEEK[])\r\n");
    let mut sizes = Vec::new();
    let mut all = Vec::new();
    loop {
        let step = t.s.step(&Creds);
        sizes.push(step.output.len());
        all.extend_from_slice(&step.output);
        if step.action != Action::Continue {
            break;
        }
        t.s.recycle(step.output);
    }
    // One message renders to ~2.1 KB: each step ends within one message past its limit.
    let one = 2200;
    let first = *sizes.first().unwrap();
    assert!(
        (FIRST_CHUNK..FIRST_CHUNK + one).contains(&first),
        "{sizes:?}"
    );
    assert!(
        (4 * FIRST_CHUNK..4 * FIRST_CHUNK + one).contains(&sizes[1]),
        "{sizes:?}"
    );
    assert!((CHUNK..CHUNK + one).contains(&sizes[3]), "{sizes:?}");
    let text = String::from_utf8_lossy(&all);
    assert_eq!(text.matches(" FETCH (UID ").count(), 600);
    assert!(text.ends_with("c OK FETCH completed\r\n"));
}
