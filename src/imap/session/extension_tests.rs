//! Transcript tests of the extensions: CREATE-SPECIAL-USE (RFC 6154), CONDSTORE and QRESYNC
//! (RFC 7162).

use super::tests::T;

#[test]
fn create_special_use_is_stored_listed_and_checked() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    let r = t.send("b CREATE Outbox (USE (\\Sent))\r\n");
    assert_eq!(r, "b OK CREATE completed\r\n");
    let r = t.send("c CREATE Bin (USE (\\trash \\Junk))\r\n");
    assert_eq!(r, "c OK CREATE completed\r\n");
    let r = t.send("d LIST \"\" Outbox\r\ne LIST \"\" Bin\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren \\Sent) \"/\" Outbox\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* LIST (\\HasNoChildren \\Trash \\Junk) \"/\" Bin\r\n"),
        "{r}"
    );
    // Unknown and virtual-only attributes: NO [USEATTR], and no mailbox.
    for (tag, attr) in [("f", "\\Important"), ("g", "\\All"), ("h", "\\Flagged")] {
        let r = t.send(&format!("{tag} CREATE Odd (USE ({attr}))\r\n"));
        assert!(r.starts_with(&format!("{tag} NO [USEATTR] ")), "{r}");
    }
    let r = t.send("i LIST \"\" Odd\r\n");
    assert_eq!(r, "i OK LIST completed\r\n");
    // The attribute follows the mailbox through RENAME; the first-login folders keep theirs.
    let r = t.send("j RENAME Outbox Gone\r\nk LIST (SPECIAL-USE) \"\" *\r\n");
    assert!(r.contains("(\\HasNoChildren \\Sent) \"/\" Gone\r\n"), "{r}");
    assert!(r.contains("(\\HasNoChildren \\Sent) \"/\" Sent\r\n"), "{r}");
    assert!(
        r.contains("(\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"),
        "{r}"
    );
    assert!(!r.contains("INBOX"), "{r}");
    // A plain CREATE has no special use, even with a special name below the top level.
    let r = t.send("l CREATE Lists/Sent\r\nm LIST \"\" Lists/Sent\r\n");
    assert!(
        r.contains("* LIST (\\HasNoChildren) \"/\" Lists/Sent\r\n"),
        "{r}"
    );
}

/// The number after `key` in `text` (`MODSEQ (`, `HIGHESTMODSEQ `…).
fn number_after(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        + key.len();
    text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key} in {text}"))
}

/// A second session on the same mail root, logged in.
fn other(t: &T) -> T {
    let mut u = T {
        s: super::Session::new(super::SessionConfig {
            tls_active: true,
            ..super::SessionConfig::new("mx.test", t.dir.path())
        }),
        dir: tempfile::tempdir().unwrap(),
    };
    u.send("a LOGIN alice secret\r\n");
    u
}

#[test]
fn changedsince_returns_only_changed_messages_and_enables_condstore() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..4 {
        t.deliver(&format!("m{i}"));
    }
    let r = t.send("b SELECT INBOX\r\n");
    assert!(!r.contains("HIGHESTMODSEQ"), "not enabled yet: {r}");
    let r = t.send("c STATUS INBOX (HIGHESTMODSEQ)\r\n");
    // STATUS (HIGHESTMODSEQ) is an enabling command: the selected mailbox's value comes first.
    let before = number_after(&r, "* OK [HIGHESTMODSEQ ");
    assert!(
        r.contains(&format!("* STATUS INBOX (HIGHESTMODSEQ {before})")),
        "{r}"
    );
    let r = t.send("d STORE 2,4 +FLAGS (\\Flagged)\r\n");
    let after = number_after(&r, "* 4 FETCH (UID 4 FLAGS (\\Flagged \\Recent) MODSEQ (");
    assert!(after > before, "{r}");

    let r = t.send(&format!("e FETCH 1:* (FLAGS) (CHANGEDSINCE {before})\r\n"));
    let lines: Vec<&str> = r.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(
        lines[0].starts_with("* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r}"
    );
    assert!(
        lines[1].starts_with("* 4 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r}"
    );
    assert_eq!(lines[2], "e OK FETCH completed");
    let r = t.send(&format!(
        "f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {after})\r\n"
    ));
    assert_eq!(r, "f OK FETCH completed\r\n");

    // Another session's change reaches this one with its MODSEQ, and SELECT (CONDSTORE) in a
    // third agrees with STATUS.
    let mut u = other(&t);
    u.send("b SELECT INBOX\r\nc STORE 1 +FLAGS.SILENT (\\Seen)\r\n");
    let r = t.send("g NOOP\r\n");
    let one = number_after(&r, "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent) MODSEQ (");
    assert!(one > after, "{r}");
    let mut v = other(&t);
    let r = v.send("b EXAMINE INBOX (CONDSTORE)\r\n");
    assert_eq!(number_after(&r, "* OK [HIGHESTMODSEQ "), one, "{r}");
    let r = v.send("c STATUS INBOX (HIGHESTMODSEQ MESSAGES)\r\n");
    assert!(
        r.contains(&format!("* STATUS INBOX (HIGHESTMODSEQ {one} MESSAGES 4)")),
        "{r}"
    );
}

#[test]
fn search_modseq_and_unchangedsince_enable_condstore() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    t.deliver("x");
    t.deliver("y");
    t.send("b SELECT INBOX\r\n");
    let r = t.send("c SEARCH MODSEQ 1\r\n");
    assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
    assert!(r.contains("* SEARCH 1 2 (MODSEQ "), "{r}");
    // Enabled now: a plain STORE reports MODSEQ, and there is no second HIGHESTMODSEQ.
    let r = t.send("d STORE 1 +FLAGS (\\Answered)\r\n");
    assert!(r.contains("MODSEQ ("), "{r}");
    assert!(!r.contains("HIGHESTMODSEQ"), "{r}");

    let mut u = other(&t);
    u.send("b SELECT INBOX\r\n");
    let r = u.send("c STORE 2 (UNCHANGEDSINCE 1) +FLAGS.SILENT (\\Flagged)\r\n");
    assert!(r.starts_with("* OK [HIGHESTMODSEQ "), "{r}");
    assert!(r.contains("c OK [MODIFIED 2]"), "{r}");
    // With CONDSTORE on, every FETCH a flag change causes carries UID and MODSEQ (§3.1): a
    // STORE, and a FETCH that sets \Seen. A FETCH that asks for neither does not.
    let r = u.send("d STORE 1 +FLAGS (\\Deleted)\r\n");
    assert!(
        r.starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered \\Deleted) MODSEQ ("),
        "{r}"
    );
    let r = u.send("e FETCH 2 (BODY[TEXT])\r\n");
    assert!(
        r.starts_with("* 2 FETCH (BODY[TEXT] {6}\r\nbody\r\n FLAGS (\\Seen) UID 2 MODSEQ ("),
        "{r}"
    );
    let r = u.send("f FETCH 2 (FLAGS)\r\n");
    assert_eq!(r, "* 2 FETCH (FLAGS (\\Seen))\r\nf OK FETCH completed\r\n");
}

#[test]
fn qresync_resyncs_a_returning_client_and_reports_vanished() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..6 {
        t.deliver(&format!("q{i}"));
    }
    let r = t.send("b SELECT INBOX (CONDSTORE)\r\n");
    let validity = number_after(&r, "[UIDVALIDITY ");
    let known = number_after(&r, "[HIGHESTMODSEQ ");
    // Not enabled: the SELECT parameter and the FETCH modifier are refused.
    let r = t.send(&format!(
        "c SELECT INBOX (QRESYNC ({validity} {known}))\r\n"
    ));
    assert!(
        r.starts_with("c BAD QRESYNC parameter without ENABLE QRESYNC"),
        "{r}"
    );
    let r = t.send("d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n");
    assert!(r.starts_with("d BAD VANISHED needs"), "{r}");

    // While the client is away: a flag change, two expunges.
    let mut u = other(&t);
    u.send("b SELECT INBOX\r\nc STORE 2 +FLAGS (\\Flagged)\r\n");
    u.send("d STORE 4:5 +FLAGS (\\Deleted)\r\ne EXPUNGE\r\n");

    let mut q = other(&t);
    let r = q.send("b ENABLE QRESYNC\r\n");
    assert_eq!(r, "* ENABLED QRESYNC\r\nb OK ENABLE completed\r\n");
    let r = q.send(&format!(
        "c SELECT INBOX (QRESYNC ({validity} {known}))\r\n"
    ));
    assert!(r.contains("* 4 EXISTS\r\n"), "{r}");
    assert!(r.contains("* OK [HIGHESTMODSEQ "), "{r}");
    let fetches: Vec<&str> = r.lines().filter(|l| l.contains(" FETCH ")).collect();
    assert_eq!(fetches.len(), 1, "{r}");
    assert!(
        fetches[0].starts_with("* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r}"
    );
    assert!(r.contains("* VANISHED (EARLIER) 4:5\r\n"), "{r}");
    assert!(r.ends_with("c OK [READ-WRITE] SELECT completed\r\n"), "{r}");
    // Known UIDs narrow the answer; another UIDVALIDITY gets none of it.
    let r = q.send(&format!(
        "d EXAMINE INBOX (QRESYNC ({validity} {known} 1,3:4))\r\n"
    ));
    assert!(r.contains("* OK [CLOSED]"), "{r}");
    assert!(!r.contains(" FETCH "), "{r}");
    assert!(r.contains("* VANISHED (EARLIER) 4\r\n"), "{r}");
    let r = q.send(&format!(
        "e SELECT INBOX (QRESYNC ({} 1))\r\n",
        validity + 1
    ));
    assert!(!r.contains(" FETCH ") && !r.contains("VANISHED"), "{r}");

    // UID FETCH with VANISHED: the gone UIDs of the set first, then the changes.
    let r = q.send(&format!(
        "f UID FETCH 1:* (FLAGS) (CHANGEDSINCE {known} VANISHED)\r\n"
    ));
    assert!(
        r.starts_with("* VANISHED (EARLIER) 4:5\r\n* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ ("),
        "{r}"
    );
    // Expunges are VANISHED from now on, another session's and its own.
    u.send("f STORE 3 +FLAGS (\\Deleted)\r\ng EXPUNGE\r\n");
    let r = q.send("g NOOP\r\n");
    assert!(r.starts_with("* VANISHED 3\r\n"), "{r}");
    assert!(!r.contains("EXPUNGE"), "{r}");
    let r = q.send("h UID STORE 1,6 +FLAGS.SILENT (\\Deleted)\r\ni EXPUNGE\r\n");
    assert!(
        r.contains("* VANISHED 1,6\r\ni OK EXPUNGE completed\r\n"),
        "{r}"
    );
}

/// Sets the modification time of `path` (a directory or file) 10 s back.
fn backdate(path: &std::path::Path) {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(10);
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(when))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn sessions_on_a_settled_mailbox_share_one_message_list() {
    use std::sync::Arc;
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("s{i}"));
    }
    t.send("b SELECT INBOX\r\n");
    let settle = |t: &T| {
        for p in ["new", "cur", "postern-state"] {
            backdate(&t.inbox().join(p));
        }
    };
    settle(&t);
    t.send("c NOOP\r\n");
    let list = |t: &T| t.s.selected.as_ref().unwrap().messages.clone();

    // A second session on the unchanged mailbox takes the first one's list, no scan.
    let mut u = other(&t);
    let r = u.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 3 EXISTS\r\n* 0 RECENT\r\n"), "{r}");
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));

    // A change gives the changing session its own list; the other learns of it as usual.
    let r = u.send("c STORE 2 +FLAGS (\\Flagged)\r\n");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Flagged))"), "{r}");
    assert!(!Arc::ptr_eq(&list(&t), &list(&u)));
    let r = t.send("d NOOP\r\n");
    assert!(r.contains("* 2 FETCH (FLAGS (\\Flagged \\Recent))"), "{r}");
    // Settled again, the lists are one again after a refresh, and a new session agrees.
    settle(&t);
    t.send("e NOOP\r\n");
    u.send("d NOOP\r\n");
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));
    let mut v = other(&t);
    let r = v.send("b FETCH 1:* (UID FLAGS)\r\nc SELECT INBOX\r\nd FETCH 1:* (UID FLAGS)\r\n");
    assert!(r.contains("* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n"), "{r}");
    assert!(Arc::ptr_eq(&list(&t), &list(&v)));
    // A delivery is never hidden by a shared list: the stamp moved, SELECT scans.
    t.deliver("s3");
    let mut w = other(&t);
    let r = w.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 4 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
}

#[test]
fn quiet_sessions_settle_into_the_shared_list_without_hiding_changes() {
    use std::sync::Arc;
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    for i in 0..3 {
        t.deliver(&format!("q{i}"));
    }
    t.send("b SELECT INBOX\r\n");
    let mut u = other(&t);
    u.send("b SELECT INBOX\r\n");
    let list = |t: &T| t.s.selected.as_ref().unwrap().messages.clone();
    assert!(
        !Arc::ptr_eq(&list(&t), &list(&u)),
        "both synced a fresh mailbox"
    );
    let settle = |t: &T| {
        for p in ["new", "cur", "postern-state"] {
            backdate(&t.inbox().join(p));
        }
    };
    settle(&t);
    // Quiet for a second: both check the disk without syncing and end up on one list.
    let sel = |t: &mut T| t.s.selected.as_mut().unwrap().settle_quietly();
    assert!(!sel(&mut t), "the first one publishes its own list");
    assert!(sel(&mut u), "the second one takes it");
    assert!(Arc::ptr_eq(&list(&t), &list(&u)));

    // A session that selected right after a delivery, and another delivery before it is
    // quiet: settling leaves that one (and its \Recent) for the next command.
    t.deliver("q3");
    let mut v = other(&t);
    let r = v.send("b SELECT INBOX\r\n");
    assert!(r.contains("* 4 EXISTS\r\n* 1 RECENT\r\n"), "{r}");
    assert!(!v.s.idle_settled());
    t.deliver("q4");
    settle(&t);
    assert!(!sel(&mut v));
    assert!(!v.s.idle_settled());
    let r = v.send("c NOOP\r\n");
    assert!(r.starts_with("* 5 EXISTS\r\n* 2 RECENT\r\n"), "{r}");
    // Quiet again with nothing new: now it settles.
    settle(&t);
    sel(&mut v);
    assert!(v.s.idle_settled());
}

#[test]
fn a_whole_message_fetch_records_the_sizes_it_computed() {
    let mut t = T::new(true);
    t.send("a LOGIN alice secret\r\n");
    // Written straight into new/ by something that knows no sizes (not postern's delivery).
    for (i, subject) in ["size one", "size two"].iter().enumerate() {
        let name = format!("17000000{i}.other{i}.host");
        std::fs::write(
            t.inbox().join("new").join(name),
            format!("Subject: {subject}\n\nbody\n"),
        )
        .unwrap();
    }
    t.send("b SELECT INBOX\r\n");
    let file = t.inbox().join(crate::maildir::STATE_FILE);
    let state = || std::fs::read_to_string(&file).unwrap();
    let sizes = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("m "))
            .map(|l| l.split(' ').nth(4).unwrap_or("?").to_string())
            .collect()
    };
    assert_eq!(sizes(&state()), ["-", "-"], "no sizes before");
    let r = t.send("c UID FETCH 1:* (RFC822.SIZE BODY.PEEK[])\r\n");
    // "Subject: size one\n\nbody\n" is 24 bytes with 3 LFs: 27 with CRLF line ends.
    assert!(
        r.contains("* 1 FETCH (UID 1 RFC822.SIZE 27 BODY[] {27}\r\n"),
        "{r}"
    );
    assert!(
        r.contains("* 2 FETCH (UID 2 RFC822.SIZE 27 BODY[] {27}\r\n"),
        "{r}"
    );
    assert_eq!(
        sizes(&state()),
        ["27", "27"],
        "computed once, while sending"
    );
    let r = t.send("d FETCH 1:* (RFC822.SIZE)\r\n");
    assert_eq!(
        r,
        "* 1 FETCH (RFC822.SIZE 27)\r\n* 2 FETCH (RFC822.SIZE 27)\r\nd OK FETCH completed\r\n"
    );
}
