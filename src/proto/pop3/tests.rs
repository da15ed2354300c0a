//! Transcript tests of the POP3 session with an in-memory maildrop, and an end-to-end test
//! on a real maildir.

use std::io::Read;
use std::sync::{Arc, Mutex};

use super::maildrop::{Backend, OpenError};
use super::memory::{MemoryBackend, Store};
use super::session::{Action, Event, Pop3Config, Session};
use crate::access::pop3::MaildirMaildrop;
use crate::proto::sasl::{AuthFailures, Availability};
use std::time::Duration;

const MSG1: &[u8] = b"Subject: one\n\nHello\n.dot line\n";
const MSG2: &[u8] = b"Subject: two\r\nX: y\r\n\r\nl1\r\nl2\r\nl3\r\n";

fn store() -> Store {
    Arc::new(Mutex::new(vec![
        Some((MSG1.to_vec(), "uid-1".into())),
        Some((MSG2.to_vec(), "uid-2".into())),
    ]))
}

fn config() -> Pop3Config {
    let mut c = Pop3Config::new("mail.example.test");
    c.methods.user_pass = Availability::Allow;
    c.failures = no_delay(3);
    c
}

fn no_delay(limit: u32) -> AuthFailures {
    AuthFailures::with_delays(limit, Duration::ZERO, Duration::ZERO)
}

fn session(config: Pop3Config, store: &Store) -> Session<MemoryBackend> {
    let backend = MemoryBackend {
        users: vec![
            ("alice".into(), "secret".into()),
            ("mrose".into(), "tanstaaf".into()),
        ],
        store: store.clone(),
        in_use: false,
    };
    Session::new(config, "<1896.697170952@dbc.mtview.ca.us>".into(), backend).0
}

/// Renders actions as the client would see them; Close as `<CLOSE>`, StartTls as `<TLS>`,
/// Pause as `<PAUSE n ms>`. Events are dropped.
fn render(actions: Vec<Action>) -> String {
    let mut out = Vec::new();
    for a in actions {
        match a {
            Action::Reply(b) => out.extend(b),
            Action::Stream(mut s) => {
                s.read_to_end(&mut out).unwrap();
            }
            Action::StartTls => out.extend(b"<TLS>"),
            Action::Pause(d) => out.extend(format!("<PAUSE {} ms>", d.as_millis()).into_bytes()),
            Action::Event(_) => {}
            Action::Close => out.extend(b"<CLOSE>"),
        }
    }
    String::from_utf8(out).unwrap()
}

/// Feeds client lines and compares each reply (CRLF written as `\n` in expectations).
fn transcript<B: Backend>(s: &mut Session<B>, script: &[(&str, &str)]) {
    for (i, (client, want)) in script.iter().enumerate() {
        let got = render(s.line(client.as_bytes())).replace("\r\n", "\n");
        assert_eq!(got, *want, "step {i}: {client:?}");
    }
}

#[test]
fn greeting_carries_apop_banner() {
    let (_, g) = Session::new(
        config(),
        "<1.2@h>".into(),
        MemoryBackend {
            users: vec![],
            store: store(),
            in_use: false,
        },
    );
    assert_eq!(g, b"+OK mail.example.test POP3 server ready <1.2@h>\r\n");
    let mut c = config();
    c.methods.apop = Availability::Deny;
    let (_, g) = Session::new(
        c,
        "<1.2@h>".into(),
        MemoryBackend {
            users: vec![],
            store: store(),
            in_use: false,
        },
    );
    assert_eq!(g, b"+OK mail.example.test POP3 server ready\r\n");
}

#[test]
fn full_session_with_user_pass() {
    let st = store();
    let mut s = session(config(), &st);
    let size1 = 34; // MSG1 with CRLF
    let size2 = MSG2.len();
    transcript(
        &mut s,
        &[
            ("USER alice", "+OK send PASS\n"),
            (
                "PASS secret",
                &format!("+OK alice has 2 messages ({} octets)\n", size1 + size2),
            ),
            ("STAT", &format!("+OK 2 {}\n", size1 + size2)),
            (
                "LIST",
                &format!(
                    "+OK 2 messages ({} octets)\n1 {size1}\n2 {size2}\n.\n",
                    size1 + size2
                ),
            ),
            ("list 2", &format!("+OK 2 {size2}\n")),
            (
                "UIDL",
                "+OK unique-id listing follows\n1 uid-1\n2 uid-2\n.\n",
            ),
            ("UIDL 1", "+OK 1 uid-1\n"),
            (
                "RETR 1",
                &format!("+OK {size1} octets\nSubject: one\n\nHello\n..dot line\n.\n"),
            ),
            (
                "TOP 2 0",
                "+OK top of message follows\nSubject: two\nX: y\n\n.\n",
            ),
            (
                "TOP 2 2",
                "+OK top of message follows\nSubject: two\nX: y\n\nl1\nl2\n.\n",
            ),
            ("DELE 1", "+OK message 1 deleted\n"),
            ("DELE 1", "-ERR message 1 already deleted\n"),
            ("RETR 1", "-ERR message 1 already deleted\n"),
            ("LIST 1", "-ERR message 1 already deleted\n"),
            ("STAT", &format!("+OK 1 {size2}\n")),
            (
                "LIST",
                &format!("+OK 1 messages ({size2} octets)\n2 {size2}\n.\n"),
            ),
            (
                "RSET",
                &format!("+OK maildrop has 2 messages ({} octets)\n", size1 + size2),
            ),
            ("DELE 2", "+OK message 2 deleted\n"),
            ("NOOP", "+OK\n"),
            (
                "QUIT",
                "+OK mail.example.test POP3 server signing off (1 messages deleted)\n<CLOSE>",
            ),
        ],
    );
    assert!(s.is_closed());
    let left = st.lock().unwrap();
    assert!(
        left[0].is_some() && left[1].is_none(),
        "only message 2 deleted"
    );
}

#[test]
fn sizes_are_the_sizes_as_sent() {
    let st = store();
    let mut s = session(config(), &st);
    s.line(b"USER alice");
    s.line(b"PASS secret");
    for (n, raw) in [(1, MSG1), (2, MSG2)] {
        let out = render(s.line(format!("RETR {n}").as_bytes()));
        let body = out.split_once("\r\n").unwrap().1;
        let unstuffed = body
            .strip_suffix(".\r\n")
            .unwrap()
            .replace("\r\n..", "\r\n.");
        let listed = render(s.line(format!("LIST {n}").as_bytes()));
        assert_eq!(
            listed,
            format!("+OK {n} {}\r\n", unstuffed.len()),
            "{raw:?}"
        );
    }
}

#[test]
fn dropped_connection_deletes_nothing() {
    let st = store();
    let mut s = session(config(), &st);
    transcript(
        &mut s,
        &[
            ("USER alice", "+OK send PASS\n"),
            ("PASS secret", "+OK alice has 2 messages (68 octets)\n"),
            ("DELE 1", "+OK message 1 deleted\n"),
            (
                "RETR 2",
                &format!(
                    "+OK 34 octets\n{}.\n",
                    String::from_utf8_lossy(MSG2).replace("\r\n", "\n")
                ),
            ),
        ],
    );
    let ev = s.disconnected();
    assert!(matches!(
        ev.as_slice(),
        [Action::Event(Event::End {
            retrieved: 1,
            retrieved_bytes: 34,
            deleted: 0,
            quit: false
        })]
    ));
    assert!(st.lock().unwrap().iter().all(Option::is_some));
}

#[test]
fn apop_rfc1939_example() {
    let st = store();
    let mut s = session(config(), &st);
    transcript(
        &mut s,
        &[
            (
                "APOP mrose c4c9334bac560ecc979e58001b3e22fc",
                "-ERR [AUTH] authentication failed\n",
            ),
            (
                "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
                "+OK mrose has 2 messages (68 octets)\n",
            ),
        ],
    );
}

#[test]
fn bad_input_gets_err_and_session_continues() {
    let st = store();
    let mut c = config();
    c.max_errors = 20;
    let mut s = session(c, &st);
    let long = format!("NOOP {}", "x".repeat(10 * 1024));
    transcript(
        &mut s,
        &[
            ("STAT", "-ERR not logged in\n"),
            ("PASS secret", "-ERR send USER first\n"),
            ("XYZZY", "-ERR unknown command\n"),
            (&long, "-ERR line too long\n"),
            ("USER alice", "+OK send PASS\n"),
            ("PASS secret", "+OK alice has 2 messages (68 octets)\n"),
            (
                "RETR 0",
                "-ERR no such message, only 2 messages in maildrop\n",
            ),
            (
                "RETR 3",
                "-ERR no such message, only 2 messages in maildrop\n",
            ),
            ("RETR x", "-ERR invalid message number \"x\"\n"),
            ("LIST -1", "-ERR invalid message number \"-1\"\n"),
            ("TOP 1 -1", "-ERR invalid line count\n"),
            ("RETR", "-ERR wrong number of arguments\n"),
            ("USER bob", "-ERR already logged in\n"),
            ("STLS", "-ERR STLS only in AUTHORIZATION state\n"),
            ("NOOP", "+OK\n"),
        ],
    );
    assert!(!s.is_closed());
}

#[test]
fn too_many_errors_close_the_connection() {
    let st = store();
    let mut c = config();
    c.max_errors = 3;
    let mut s = session(c, &st);
    transcript(
        &mut s,
        &[
            ("BAD", "-ERR unknown command\n"),
            ("BAD", "-ERR unknown command\n"),
            (
                "BAD",
                "-ERR unknown command\n-ERR too many errors, closing connection\n<CLOSE>",
            ),
            ("NOOP", ""),
        ],
    );
    assert!(s.is_closed());
}

#[test]
fn repeated_login_failures_close_the_connection() {
    let st = store();
    let mut s = session(config(), &st);
    transcript(
        &mut s,
        &[
            ("USER alice", "+OK send PASS\n"),
            ("PASS wrong", "-ERR [AUTH] authentication failed\n"),
            ("PASS secret", "-ERR send USER first\n"),
            ("USER alice", "+OK send PASS\n"),
            ("PASS wrong", "-ERR [AUTH] authentication failed\n"),
            ("USER alice", "+OK send PASS\n"),
            (
                "PASS wrong",
                "-ERR [AUTH] authentication failed, closing connection\n<CLOSE>",
            ),
        ],
    );
}

#[test]
fn login_events() {
    let st = store();
    let mut s = session(config(), &st);
    s.line(b"USER alice");
    let bad = s.line(b"PASS nope");
    assert!(bad.iter().any(|a| matches!(a, Action::Event(Event::LoginFailed { user, mechanism, .. }) if user == "alice" && mechanism == "USER")));
    s.line(b"USER alice");
    let ok = s.line(b"PASS secret");
    assert!(ok.iter().any(|a| matches!(a, Action::Event(Event::LoginOk { user, mechanism }) if user == "alice" && mechanism == "USER")));
    s.line(b"DELE 1");
    let quit = s.line(b"QUIT");
    assert!(quit.iter().any(|a| matches!(
        a,
        Action::Event(Event::End {
            deleted: 1,
            quit: true,
            ..
        })
    )));
}

#[test]
fn mailbox_in_use() {
    let st = store();
    let backend = MemoryBackend {
        users: vec![("alice".into(), "secret".into())],
        store: st,
        in_use: true,
    };
    let (mut s, _) = Session::new(config(), "<1.2@h>".into(), backend);
    transcript(
        &mut s,
        &[
            ("USER alice", "+OK send PASS\n"),
            (
                "PASS secret",
                "-ERR [IN-USE] mailbox is locked by another POP3 session\n",
            ),
        ],
    );
    assert!(!s.is_authenticated());
}

#[test]
fn capa_and_stls() {
    let st = store();
    let mut c = Pop3Config::new("h");
    c.stls = true;
    let mut s = session(c, &st);
    let base = "+OK capability list follows\nTOP\nUIDL\nRESP-CODES\nAUTH-RESP-CODE\nPIPELINING\n";
    transcript(
        &mut s,
        &[
            (
                "CAPA",
                &format!("{base}SASL SCRAM-SHA-256 CRAM-MD5\nSTLS\nIMPLEMENTATION postern\n.\n"),
            ),
            (
                "USER alice",
                "-ERR USER/PASS needs an encrypted connection (use STLS first)\n",
            ),
            (
                "AUTH PLAIN",
                "-ERR PLAIN needs an encrypted connection (use STLS first)\n",
            ),
            ("AUTH NTLM", "-ERR NTLM not available here\n"),
            ("AUTH GSSAPI", "-ERR unsupported authentication mechanism\n"),
            ("STLS", "+OK begin TLS negotiation\n<TLS>"),
        ],
    );
    s.tls_started();
    transcript(
        &mut s,
        &[
            (
                "CAPA",
                &format!("{base}USER\nSASL SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN\nIMPLEMENTATION postern\n.\n"),
            ),
            ("STLS", "-ERR already using TLS\n"),
            (
                "AUTH",
                "+OK supported mechanisms follow\nSCRAM-SHA-256\nCRAM-MD5\nPLAIN\nLOGIN\n.\n",
            ),
            ("USER alice", "+OK send PASS\n"),
            ("PASS secret", "+OK alice has 2 messages (68 octets)\n"),
            ("CAPA", &format!("{base}IMPLEMENTATION postern\n.\n")),
        ],
    );
}

#[test]
fn auth_through_the_shared_sasl_exchange() {
    let st = store();
    let mut c = config();
    c.sasl.plain = Availability::Allow;
    c.sasl.login = Availability::Allow;
    c.sasl.cram_md5 = Availability::Deny;
    c.max_errors = 20;
    let mut s = session(c.clone(), &st);
    // "alice\0alice\0secret", "\0alice\0wrong"
    transcript(
        &mut s,
        &[
            ("AUTH CRAM-MD5", "-ERR CRAM-MD5 not available here\n"),
            ("AUTH PLAIN", "+ \n"),
            ("*", "-ERR authentication cancelled by the client\n"),
            ("AUTH PLAIN", "+ \n"),
            ("not base64!", "-ERR malformed base64 in authentication data\n"),
            ("AUTH PLAIN AGFsaWNlAHdyb25n", "-ERR [AUTH] authentication failed\n"),
            ("AUTH plain =", "-ERR malformed authentication data: PLAIN needs exactly three NUL-separated fields\n"),
            ("AUTH PLAIN", "+ \n"),
            ("YWxpY2UAYWxpY2UAc2VjcmV0", "+OK alice has 2 messages (68 octets)\n"),
            ("AUTH PLAIN", "-ERR already logged in\n"),
        ],
    );
    assert!(s.is_authenticated());
    // LOGIN: user name and password prompts
    let mut s = session(c, &st);
    transcript(
        &mut s,
        &[
            ("AUTH LOGIN", "+ VXNlcm5hbWU6\n"),
            ("YWxpY2U=", "+ UGFzc3dvcmQ6\n"),
            ("c2VjcmV0", "+OK alice has 2 messages (68 octets)\n"),
        ],
    );
}

#[test]
fn failed_logins_pause_before_the_reply() {
    let st = store();
    let mut c = config();
    c.failures = AuthFailures::with_delays(2, Duration::from_millis(5), Duration::from_millis(8));
    let mut s = session(c, &st);
    transcript(
        &mut s,
        &[
            ("USER alice", "+OK send PASS\n"),
            ("PASS x", "<PAUSE 5 ms>-ERR [AUTH] authentication failed\n"),
            (
                "APOP alice 00000000000000000000000000000000",
                "<PAUSE 8 ms>-ERR [AUTH] authentication failed, closing connection\n<CLOSE>",
            ),
        ],
    );
}

#[test]
fn message_deleted_by_another_process_during_session() {
    let st = store();
    let mut s = session(config(), &st);
    s.line(b"USER alice");
    s.line(b"PASS secret");
    st.lock().unwrap()[0] = None;
    transcript(
        &mut s,
        &[
            ("LIST 1", "+OK 1 34\n"),
            ("RETR 1", "-ERR message 1 was deleted by another session\n"),
            ("DELE 1", "+OK message 1 deleted\n"),
            (
                "QUIT",
                "+OK mail.example.test POP3 server signing off (1 messages deleted)\n<CLOSE>",
            ),
        ],
    );
}

#[test]
fn quit_in_authorization() {
    let st = store();
    let mut s = session(config(), &st);
    transcript(
        &mut s,
        &[(
            "QUIT",
            "+OK mail.example.test POP3 server signing off\n<CLOSE>",
        )],
    );
}

/// A backend on a real mail volume: every user's INBOX is `<root>/<user>`, password "pw".
struct TestVolume(std::path::PathBuf);

impl crate::proto::sasl::Credentials for TestVolume {
    fn verify_password(&self, _user: &str, password: &str) -> bool {
        password == "pw"
    }
    fn shared_secret(&self, _: &str) -> Option<String> {
        None
    }
    fn scram_sha256(&self, _: &str) -> Option<crate::proto::sasl::ScramSecret> {
        None
    }

    fn quota(&self, _user: &str) -> Option<u64> {
        None
    }
}

impl Backend for TestVolume {
    type Drop = MaildirMaildrop;
    fn credentials(&self) -> &dyn crate::proto::sasl::Credentials {
        self
    }
    fn open_maildrop(&mut self, user: &str) -> Result<MaildirMaildrop, OpenError> {
        let md = crate::store::maildir::Maildir::open(self.0.join(user))
            .map_err(|e| OpenError::Temporary(e.to_string()))?;
        MaildirMaildrop::open(md)
    }
}

#[test]
fn end_to_end_on_a_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let md = crate::store::maildir::Maildir::create(dir.path().join("bob")).unwrap();
    for (i, body) in [&b"Subject: a\n\nfirst\n"[..], b"Subject: b\n\nsecond\n"]
        .iter()
        .enumerate()
    {
        std::fs::write(
            md.new_dir()
                .join(format!("{}.x{i}.host,S={}", 100 + i, body.len())),
            body,
        )
        .unwrap();
    }
    let login =
        |s: &mut Session<TestVolume>| render(s.line(b"USER bob")) + &render(s.line(b"PASS pw"));
    let (mut s, _) = Session::new(config(), "<1.1@h>".into(), TestVolume(dir.path().into()));
    assert_eq!(
        login(&mut s),
        "+OK send PASS\r\n+OK bob has 2 messages (43 octets)\r\n"
    );
    let uidl = render(s.line(b"UIDL"));

    // a second session for the same mailbox is refused
    let (mut other, _) = Session::new(config(), "<1.2@h>".into(), TestVolume(dir.path().into()));
    assert!(login(&mut other).contains("-ERR [IN-USE]"));

    // a delivery during the session is not seen by it
    std::fs::write(md.new_dir().join("300.late.host,S=3"), b"x\n\n").unwrap();
    assert_eq!(render(s.line(b"STAT")), "+OK 2 43\r\n");
    assert_eq!(
        render(s.line(b"RETR 2")),
        "+OK 22 octets\r\nSubject: b\r\n\r\nsecond\r\n.\r\n"
    );
    s.line(b"DELE 1");
    assert!(render(s.line(b"QUIT")).contains("(1 messages deleted)"));
    drop(s);

    let (mut again, _) = Session::new(config(), "<1.3@h>".into(), TestVolume(dir.path().into()));
    assert_eq!(
        login(&mut again),
        "+OK send PASS\r\n+OK bob has 2 messages (27 octets)\r\n"
    );
    let uidl2 = render(again.line(b"UIDL"));
    let second_uid = uidl
        .lines()
        .nth(2)
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        uidl2.lines().nth(1).unwrap(),
        format!("1 {second_uid}"),
        "UIDL stable"
    );
    assert!(
        !uidl2.contains(uidl.lines().nth(1).unwrap().split(' ').nth(1).unwrap()),
        "deleted UID not reused"
    );
    // dropping the connection after DELE deletes nothing
    again.line(b"DELE 1");
    again.disconnected();
    drop(again);
    let (mut third, _) = Session::new(config(), "<1.4@h>".into(), TestVolume(dir.path().into()));
    assert!(login(&mut third).ends_with("+OK bob has 2 messages (27 octets)\r\n"));
}

#[test]
fn slow_steps_are_logins_and_quit() {
    let st = store();
    let mut s = session(config(), &st);
    for line in ["USER alice", "PASS secret", "STAT", "QUIT"] {
        assert!(s.is_slow(line.as_bytes()), "before login: {line}");
    }
    s.line(b"USER alice");
    s.line(b"PASS secret");
    let cases = [
        ("STAT", false),
        ("RETR 1", false),
        ("DELE 1", false),
        ("BOGUS", false),
        ("quit", true),
        ("QUIT", true),
    ];
    for (line, slow) in cases {
        assert_eq!(s.is_slow(line.as_bytes()), slow, "{line}");
    }
}
