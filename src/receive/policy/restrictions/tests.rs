//! Handler restrictions and copy-to, table-driven: which recipients refuse which message, and
//! the spool envelope that results.

use std::path::Path;

use super::*;

fn config() -> Config {
    let text = "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n\
         [[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"small\"\nmailbox = \"bob\"\nmax_size = \"1K\"\n\
         [[domain.handler]]\nlocal = \"plain\"\nmailbox = \"bob\"\nblock_attachments = true\n\
         [[domain.handler]]\nlocal = \"boss\"\nmailbox = \"bob\"\ncopy_to = \"deputy@example.test\"\n\
         [[domain.handler]]\nlocal = \"deputy\"\nmailbox = \"bob\"\ncopy_to = \"plain@example.test\"\n\
         [[domain.handler]]\nlocal = \"loud\"\nmailbox = \"bob\"\ncopy_to = \"small@example.test\"\n";
    crate::config::parse(text, Path::new("/")).expect("config")
}

fn users() -> Users {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("u.toml");
    std::fs::write(&path, "[[user]]\nname = \"bob\"\npassword = \"x\"\n").expect("write");
    Users::load(&path).expect("users")
}

const SHORT: &str = "Subject: hi\r\n\r\nhello\r\n";
const ATTACHED: &str = "Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
    Content-Type: text/plain\r\n\r\nx\r\n--b\r\nContent-Type: text/plain\r\n\
    Content-Disposition: attachment; filename=notes.txt\r\n\r\nnotes\r\n--b--\r\n";

fn codes(r: &[(usize, Reply)]) -> Vec<(usize, u16, &'static str)> {
    r.iter()
        .map(|(i, r)| {
            (
                *i,
                r.code,
                r.enhanced
                    .map_or("", |s| &*Box::leak(s.to_string().into_boxed_str())),
            )
        })
        .collect()
}

#[test]
fn each_recipient_refuses_by_its_own_handler() {
    let (c, u) = (config(), users());
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(2000));
    let all = [
        "bob@example.test",
        "small@example.test",
        "plain@example.test",
    ];
    for (message, want) in [
        (SHORT, vec![]),
        (big.as_str(), vec![(1, 552, "5.2.3")]),
        (ATTACHED, vec![(2, 550, "5.7.1")]),
    ] {
        assert_eq!(
            codes(&refusals(&c, &u, &all, message.as_bytes())),
            want,
            "{message:.20}"
        );
    }
    let r = refusals(&c, &u, &["small@example.test"], big.as_bytes());
    assert_eq!(
        reply_text(&r[0].1),
        "552 5.2.3 <small@example.test>: Message size exceeds this recipient's limit of 1024 bytes"
    );
}

#[test]
fn the_envelope_marks_refusals_and_adds_copies_of_the_rest() {
    let (c, u) = (config(), users());
    let rcpt = |a: &str| Recipient::new(a.to_string());
    let show = |rs: &[Recipient]| -> Vec<(String, RecipientStatus)> {
        rs.iter().map(|r| (r.address.clone(), r.status)).collect()
    };
    let pending = |a: &str| (a.to_string(), RecipientStatus::Pending);
    let failed = |a: &str| (a.to_string(), RecipientStatus::Failed);
    // Copies follow copies (boss → deputy → plain), each address once.
    let s = screen(&c, &u, vec![rcpt("boss@example.test")], SHORT.as_bytes());
    assert_eq!(
        show(&s.recipients),
        [
            pending("boss@example.test"),
            pending("deputy@example.test"),
            pending("plain@example.test")
        ]
    );
    assert!(s.refused.is_empty() && !s.all_refused);
    // plain refuses an attachment: its copy is dropped quietly, the others still get theirs.
    let s = screen(&c, &u, vec![rcpt("boss@example.test")], ATTACHED.as_bytes());
    assert_eq!(
        show(&s.recipients),
        [pending("boss@example.test"), pending("deputy@example.test")]
    );
    // A refusing recipient is marked failed with its reply (bounced), and makes no copy.
    let s = screen(
        &c,
        &u,
        vec![rcpt("plain@example.test"), rcpt("loud@example.test")],
        ATTACHED.as_bytes(),
    );
    assert_eq!(
        show(&s.recipients),
        [
            failed("plain@example.test"),
            pending("loud@example.test"),
            pending("small@example.test")
        ]
    );
    assert_eq!(
        s.recipients[0]
            .outcome
            .as_ref()
            .and_then(|o| o.reply.as_ref())
            .map(|r| r.to_string())
            .as_deref(),
        Some("550 5.7.1 <plain@example.test> does not accept attachments")
    );
    assert_eq!(s.refused.len(), 1);
    assert!(!s.all_refused);
    let s = screen(
        &c,
        &u,
        vec![rcpt("plain@example.test")],
        ATTACHED.as_bytes(),
    );
    assert!(s.all_refused);
    assert_eq!(show(&s.recipients), [failed("plain@example.test")]);
}

#[test]
fn copies_stop_at_the_recipient_limit() {
    let text = "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n\
         [limits]\nrecipients = 1\n[[domain]]\nname = \"example.test\"\n\
         [[domain.handler]]\nlocal = \"a\"\nmailbox = \"bob\"\ncopy_to = \"b@example.test\"\n\
         [[domain.handler]]\nlocal = \"b\"\nmailbox = \"bob\"\ncopy_to = \"c@example.test\"\n";
    let c = crate::config::parse(text, Path::new("/")).expect("config");
    let all = envelope(
        &c,
        &users(),
        vec![Recipient::new("a@example.test")],
        &[],
        SHORT.as_bytes(),
    );
    assert_eq!(
        crate::queue::routing::addresses(&all),
        "a@example.test,b@example.test"
    );
}

#[test]
fn a_repeated_address_is_one_recipient() {
    let text = "[server]\nhostname = \"mail.example.test\"\npostmaster = \"pm@example.test\"\n\
         [[domain]]\nname = \"example.test\"\n";
    let c = crate::config::parse(text, Path::new("/")).expect("config");
    let mut first = Recipient::new("bob@example.test");
    first.notify = Some("NEVER".into());
    let all = envelope(
        &c,
        &users(),
        vec![
            first,
            Recipient::new("BOB@example.test"),
            Recipient::new("neil@example.test"),
        ],
        &[],
        SHORT.as_bytes(),
    );
    assert_eq!(
        crate::queue::routing::addresses(&all),
        "bob@example.test,neil@example.test"
    );
    assert_eq!(all[0].notify.as_deref(), Some("NEVER"));
}
