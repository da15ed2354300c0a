//! The RFC 3501 / 5258 MUSTs issue 13 found broken, as transcripts: UIDVALIDITY never reused,
//! `\Recent` held by exactly one session (and POP3), LSUB and LIST-EXTENDED on subscriptions,
//! FLAGS before a new keyword, FETCH of a message expunged meanwhile, CREATE of superiors, a
//! liberal ID.

use super::*;
use crate::proto::pop3::maildrop::Maildrop as _;

fn uidvalidity(r: &str) -> u64 {
    let at = r.find("[UIDVALIDITY ").expect(r) + "[UIDVALIDITY ".len();
    r[at..].split(']').next().unwrap().parse().unwrap()
}

#[test]
fn uidvalidity_is_new_for_every_recreation_within_one_second() {
    let dir = tempfile::tempdir().unwrap();
    let store = MaildirStore::new(dir.path());
    let mut t = T {
        s: session(store.clone(), true),
        store,
    };
    t.send("a LOGIN alice secret\r\n");
    let mut seen = Vec::new();
    for round in 0..4 {
        let r = t.send("b CREATE x\r\nc APPEND x {11+}\r\nSubject: x\n\r\nd EXAMINE x\r\n");
        assert!(r.contains("c OK [APPENDUID "), "{r}");
        let v = uidvalidity(&r);
        assert!(
            !seen.contains(&v),
            "round {round}: UIDVALIDITY {v} again: {seen:?}"
        );
        seen.push(v);
        let gone = if round % 2 == 0 {
            "e CLOSE\r\nf DELETE x\r\n".to_string()
        } else {
            format!("e CLOSE\r\nf RENAME x y{round}\r\n")
        };
        let r = t.send(&gone);
        assert!(r.contains("f OK"), "{r}");
    }
}

#[test]
fn recent_belongs_to_one_session_select_claims_examine_and_status_only_look() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("one");
    t.deliver("two");
    let mut u = t.other();
    let r = u.send("s STATUS INBOX (MESSAGES RECENT)\r\n");
    assert!(r.contains("(MESSAGES 2 RECENT 2)"), "{r}");
    let r = u.send("e EXAMINE INBOX\r\n");
    assert!(r.contains("* 2 RECENT\r\n"), "{r}");
    u.send("c CLOSE\r\n");
    let r = t.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 2 EXISTS\r\n* 2 RECENT\r\n"), "{r}");
    let r = t.send("c FETCH 1:* FLAGS\r\nd SEARCH RECENT\r\ne SEARCH NEW\r\nf SEARCH OLD\r\n");
    assert!(r.contains("* 1 FETCH (FLAGS (\\Recent))"), "{r}");
    assert!(r.contains("* SEARCH 1 2\r\nd OK"), "{r}");
    assert!(r.contains("* SEARCH 1 2\r\ne OK"), "{r}");
    assert!(r.contains("* SEARCH\r\nf OK"), "{r}");
    // The other session sees them, but not as recent: they were claimed.
    let r = u.send("g SELECT INBOX\r\nh SEARCH RECENT\r\ni STATUS INBOX (RECENT)\r\n");
    assert!(r.contains("* 2 EXISTS\r\n* 0 RECENT\r\n"), "{r}");
    assert!(r.contains("* SEARCH\r\nh OK"), "{r}");
    assert!(r.contains("(RECENT 0)"), "{r}");
    // A new delivery is recent in whichever session hears of it first, only there.
    t.deliver("three");
    let r = u.send("j NOOP\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
    let r = t.send("k NOOP\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 2 RECENT\r\n"), "{r}");
    let r = t.send("l FETCH 3 FLAGS\r\n");
    assert!(r.contains("* 3 FETCH (FLAGS ())"), "{r}");
}

#[test]
fn popd_takes_the_recent_messages_it_lists() {
    let dir = tempfile::tempdir().unwrap();
    let store = MaildirStore::new(dir.path());
    let mut t = T {
        s: session(store.clone(), true),
        store,
    };
    t.send("a LOGIN alice secret\r\n");
    t.deliver("one");
    let maildrop = crate::access::pop3::maildir_drop::MaildirMaildrop::open(
        crate::store::maildir::Maildir::open(dir.path().join("alice")).unwrap(),
    )
    .unwrap();
    assert_eq!(maildrop.messages().len(), 1);
    drop(maildrop);
    t.deliver("two");
    let r = t.send("b SELECT INBOX\r\nc SEARCH RECENT\r\n");
    assert!(r.contains("* 2 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
    assert!(r.contains("* SEARCH 2\r\n"), "{r}");
}

#[test]
fn a_new_keyword_announces_flags_first_to_every_session() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("one");
    t.send("b SELECT INBOX\r\n");
    let mut u = t.other();
    u.send("c SELECT INBOX\r\n");
    let r = t.send("d STORE 1 +FLAGS ($Important)\r\n");
    let flags = r.find("* FLAGS (").expect(&r);
    let perm = r.find("[PERMANENTFLAGS (").expect(&r);
    let fetch = r.find("* 1 FETCH (FLAGS ($Important").expect(&r);
    assert!(flags < fetch && perm < fetch, "{r}");
    assert!(r[flags..perm].contains("$Important"), "{r}");
    let r = u.send("e NOOP\r\n");
    let flags = r.find("* FLAGS (").expect(&r);
    let fetch = r.find("* 1 FETCH (FLAGS ($Important").expect(&r);
    assert!(flags < fetch, "{r}");
    // Known keywords: no FLAGS again.
    let r = t.send("f STORE 1 -FLAGS ($Important)\r\n");
    assert!(!r.contains("* FLAGS"), "{r}");
}

#[test]
fn fetch_of_a_message_expunged_meanwhile_completes_ok() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("one");
    t.deliver("two");
    t.send("b SELECT INBOX\r\n");
    let mut u = t.other();
    let r = u.send("c SELECT INBOX\r\nd STORE 1 +FLAGS.SILENT (\\Deleted)\r\ne EXPUNGE\r\n");
    assert!(r.contains("* 1 EXPUNGE\r\n"), "{r}");
    let r = t.send("f FETCH 1:* (UID FLAGS BODY.PEEK[] ENVELOPE)\r\n");
    assert!(
        r.contains("* 1 FETCH (UID 1 FLAGS (\\Recent) BODY[] NIL ENVELOPE (NIL"),
        "{r}"
    );
    assert!(
        r.contains("* 2 FETCH (UID 2 FLAGS (\\Recent) BODY[] {"),
        "{r}"
    );
    assert!(r.contains("f OK FETCH completed"), "{r}");
    // The EXPUNGE comes with the next command that may carry it.
    let r = t.send("g NOOP\r\n");
    assert!(r.starts_with("* 1 EXPUNGE\r\ng OK"), "{r}");
}

#[test]
fn create_makes_the_superiors_so_delete_finds_them() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    let r = t.send("b CREATE a/b/c\r\nc LIST \"\" a*\r\n");
    assert!(r.contains("* LIST (\\HasChildren) \"/\" a\r\n"), "{r}");
    assert!(r.contains("* LIST (\\HasChildren) \"/\" a/b\r\n"), "{r}");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" a/b/c\r\n"),
        "{r}"
    );
    let r = t.send("d DELETE a/b/c\r\ne DELETE a/b\r\nf DELETE a\r\n");
    assert!(
        r.contains("d OK") && r.contains("e OK") && r.contains("f OK"),
        "{r}"
    );
}

#[test]
fn lsub_and_list_extended_on_subscriptions() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.send("b CREATE parent/child\r\nc SUBSCRIBE parent/child\r\nd UNSUBSCRIBE parent\r\n");
    t.send("e CREATE gone\r\nf SUBSCRIBE gone\r\ng DELETE gone\r\n");
    let r = t.send("h LSUB \"\" %\r\n");
    assert!(r.contains("* LSUB (\\Noselect) \"/\" parent\r\n"), "{r}");
    assert!(!r.contains("parent/child"), "{r}");
    let r = t.send("i LSUB \"\" parent/%\r\n");
    assert!(r.contains("* LSUB () \"/\" parent/child\r\n"), "{r}");
    let r = t.send("j LSUB \"\" *\r\n");
    assert!(!r.contains("\"/\" parent\r\n"), "{r}");
    let r = t.send("k LIST (SUBSCRIBED) \"\" *\r\n");
    assert!(
        r.contains("* LIST (\\NonExistent \\HasNoChildren \\Subscribed) \"/\" gone\r\n"),
        "{r}"
    );
    assert!(r.contains("\\Subscribed) \"/\" parent/child\r\n"), "{r}");
    assert!(!r.contains("\"/\" parent\r\n"), "{r}");
    let r = t.send("l LIST (RECURSIVEMATCH) \"\" *\r\n");
    assert!(r.starts_with("l BAD"), "{r}");
    let r = t.send("m LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
    assert!(
        r.contains("* LIST (\\HasChildren) \"/\" parent (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"),
        "{r}"
    );
    let r = t.send("n LIST (SUBSCRIBED RECURSIVEMATCH) \"\" *\r\n");
    assert!(!r.contains("\"/\" parent (\"CHILDINFO\""), "redundant: {r}");
}

#[test]
fn id_with_spaces_inside_its_list_is_answered() {
    let mut t = T::new(true);
    let r = t.send("a ID ( \"name\" \"x\" )\r\n");
    assert!(r.contains("* ID (\"name\" \"postern\""), "{r}");
    assert!(r.contains("a OK ID completed"), "{r}");
}

/// alice with a quota of 10 KiB.
struct TenKiB;

impl Credentials for TenKiB {
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
        (user == "alice").then_some(10 * 1024)
    }
}

#[test]
fn quota_root_usage_and_limit_come_from_the_users_quota() {
    let mut t = T::new(true);
    let q = TenKiB;
    let caps = t.send_as(&q, "a CAPABILITY\r\n");
    assert!(caps.contains(" QUOTA QUOTA=RES-STORAGE"), "{caps}");
    assert!(!caps.contains("QUOTASET"), "{caps}");
    t.send_as(&q, "b LOGIN alice secret\r\n");
    let body = "y".repeat(1500);
    let r = t.send_as(&q, &format!("c APPEND INBOX {{1500+}}\r\n{body}\r\n"));
    assert!(r.starts_with("c OK"), "{r}");
    let r = t.send_as(&q, "d GETQUOTAROOT INBOX\r\n");
    assert_eq!(
        r,
        "* QUOTAROOT INBOX \"\"\r\n* QUOTA \"\" (STORAGE 2 10)\r\nd OK GETQUOTAROOT completed\r\n"
    );
    let r = t.send_as(&q, "e GETQUOTA \"\"\r\n");
    assert_eq!(
        r,
        "* QUOTA \"\" (STORAGE 2 10)\r\ne OK GETQUOTA completed\r\n"
    );
    let r = t.send_as(&q, "f GETQUOTA other\r\ng GETQUOTAROOT Nope\r\n");
    assert!(r.contains("f NO [NONEXISTENT]"), "{r}");
    assert!(r.contains("g NO [NONEXISTENT]"), "{r}");
    let r = t.send_as(&q, "h SETQUOTA \"\" (STORAGE 512)\r\n");
    assert!(r.starts_with("h NO [NOPERM]"), "{r}");
    // Without a quota: no quota root.
    let r = t.send("i GETQUOTAROOT INBOX\r\nj GETQUOTA \"\"\r\n");
    assert!(r.starts_with("* QUOTAROOT INBOX\r\ni OK"), "{r}");
    assert!(r.contains("j NO [NONEXISTENT]"), "{r}");
}
